//! ferry's PostgreSQL connector (`postgresql` / `postgresqlreader` / `postgresqlwriter`),
//! for PostgreSQL, HybridDB / AnalyticDB for PostgreSQL and Greenplum.
//!
//! * [`conn`]: endpoints, TLS, connecting, error mapping (shared by reader and writer).
//! * [`types`]: the one PostgreSQL ⇄ Arrow type mapping table.
//! * [`reader`]: [`PostgresReaderFactory`] / [`PostgresReader`] (binary `COPY TO`), and
//!   [`preview`].
//! * [`copy_binary`]: the binary COPY decoder; [`split`]: split planning; [`config`]: the
//!   reader's parameters.
//! * [`writer`]: the writer (binary `COPY FROM`).

pub mod browse;
pub mod config;
pub mod conn;
pub mod copy_binary;
pub mod reader;
pub mod split;
pub mod tap;
pub mod types;
pub mod writer;

pub use conn::{pg_error, PgEndpoint, SslMode};
pub use reader::{preview, PostgresReader, PostgresReaderFactory};
pub use types::{arrow_field, quote_ident, table_columns, PgColumn, PgScalar};

use std::sync::Arc;

use ferry_core::connector::{Conflict, Connector, Truncate, Wizard};
use ferry_core::plugin::{ReaderFactory, WriterFactory};
use serde_json::{Map, Value};

/// The PostgreSQL connector, as it describes itself to the engine.
pub static CONNECTOR: Connector = Connector {
    name: "postgresql",
    title: "PostgreSQL",
    reader_aliases: &["postgresqlreader"],
    writer_aliases: &["postgresqlwriter"],
    nicknames: &["pg", "postgres", "hybriddb", "adbpg", "greenplum"],
    reader: Some(|| -> Arc<dyn ReaderFactory> { Arc::new(PostgresReaderFactory) }),
    writer: Some(|| -> Arc<dyn WriterFactory> { Arc::new(writer::PostgresWriterFactory) }),
    reader_columns_listed: Some(|p| !uses_query_sql(p)),
    writer_columns_listed: true,
    reader_params: config::PARAMS,
    writer_params: writer::config::PARAMS,
    reader_ignored: config::IGNORED,
    writer_ignored: writer::config::IGNORED,
    browse: Some(browse::open),
    datasource: Some(&config::DATASOURCE),
    browse_paths: None,
    wizard: Some(Wizard {
        paths: false,
        partitions: false,
        filter: Some(true),
        split_key: true,
        expressions: true,
        quote: types::quote_ident,
        sql_hooks: Some(("SQL", true)),
        conflict: Some(Conflict {
            modes: &[
                ("insert", "Insert Into: a conflicting row is dirty data"),
                ("ignore", "On Conflict Do Nothing: keep the existing row"),
                (
                    "update",
                    "On Conflict Do Update: overwrite the existing row",
                ),
            ],
            parse: |s| {
                writer::config::ConflictMode::parse(s).map(|m| match m {
                    writer::config::ConflictMode::Insert => "insert",
                    writer::config::ConflictMode::Ignore => "ignore",
                    writer::config::ConflictMode::Update => "update",
                })
            },
        }),
        truncate: Truncate::Flag { default: false },
    }),
    type_for_arrow: Some(types::pg_type_suggestion),
};

/// Whether a reader reads `querySql` (flat or in a `connection` entry), where `column`
/// is ignored: the query's columns are what it gives.
fn uses_query_sql(params: &Map<String, Value>) -> bool {
    let given = |v: Option<&Value>| match v {
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        _ => false,
    };
    given(params.get("querySql"))
        || params
            .get("connection")
            .and_then(Value::as_array)
            .is_some_and(|c| c.iter().any(|e| given(e.get("querySql"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_sql_reader_s_column_list_is_not_its_columns() {
        let params = |v: Value| v.as_object().cloned().unwrap_or_default();
        let listed = CONNECTOR.reader_columns_listed.unwrap();
        assert!(listed(&params(serde_json::json!({"column": ["a"]}))));
        assert!(!listed(&params(
            serde_json::json!({"querySql": "select 1"})
        )));
        assert!(!listed(&params(serde_json::json!({
            "connection": [{"querySql": ["select 1, 2"]}]
        }))));
        assert!(listed(&params(serde_json::json!({"querySql": " "}))));
    }
}
