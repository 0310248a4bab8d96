//! The PostgreSQL writer's parameters (DataWorks `postgresql` writer and DataX
//! `postgresqlwriter`), parsed strictly.
//!
//! ```json
//! {"datasource": "l_PostGreSql", "table": "public.person",
//!  "column": ["id", "name"], "preSql": ["delete from @table where pt = 1"],
//!  "writeMode": "on conflict do update", "truncate": false, "atomic": true}
//! ```
//!
//! DataX spells the connection out instead of naming a datasource:
//! `"username": "u", "password": "p", "connection": [{"jdbcUrl": "jdbc:postgresql://h:5432/db", "table": ["t"]}]`.

use ferry_core::connector::{param, Param, Set};
use serde::Deserialize;

use ferry_core::params::{self, lenient_opt_bool, lenient_opt_u64, one_or_many};
use ferry_core::{Error, Result};

/// Keys DataX / DataWorks accept that ferry ignores on purpose.
pub const IGNORED: &[&str] = &["encoding"];

/// What happens to a row whose key already exists in the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictMode {
    /// `insert` / `copy` / "Insert Into": the row is dirty data.
    Insert,
    /// `ignore` / "On Conflict Do Nothing": the target row is kept.
    Ignore,
    /// `update` / `replace` / "On Conflict Do Update": the target row is overwritten.
    Update,
}

impl ConflictMode {
    /// Parse any of the accepted spellings, case-insensitively.
    pub fn parse(s: &str) -> Option<ConflictMode> {
        let norm: String = s
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase();
        Some(match norm.as_str() {
            "insert" | "copy" | "insert into" | "report" | "" => ConflictMode::Insert,
            "ignore" | "on conflict do nothing" | "do nothing" => ConflictMode::Ignore,
            "update" | "replace" | "upsert" | "on conflict do update" | "do update" => {
                ConflictMode::Update
            }
            _ => return None,
        })
    }
}

/// One entry of DataX's `connection` list.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConnectionEntry {
    /// `jdbc:postgresql://host:port/db?...` (a single string for writers).
    pub jdbc_url: String,
    /// Target tables (ferry writes exactly one).
    #[serde(default, deserialize_with = "one_or_many")]
    pub table: Vec<String>,
}

/// The writer's parameters as written in the job.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WriterParams {
    /// DataWorks: a named datasource from the catalog.
    #[serde(default)]
    pub datasource: Option<String>,
    /// DataWorks: the target table (`public.person`, `"MixedCase"`).
    #[serde(default, deserialize_with = "one_or_many")]
    pub table: Vec<String>,
    /// Target columns in the order the reader's columns arrive; `["*"]` = all.
    #[serde(default, deserialize_with = "one_or_many")]
    pub column: Vec<String>,
    /// SQL run before the load; `@table` is replaced by the table name.
    #[serde(default, deserialize_with = "one_or_many")]
    pub pre_sql: Vec<String>,
    /// SQL run after the load; `@table` is replaced by the table name.
    #[serde(default, deserialize_with = "one_or_many")]
    pub post_sql: Vec<String>,
    /// `insert` (default) / `copy` / `ignore` / `update` / `replace` or the wizard's
    /// "Insert Into" / "On Conflict Do Nothing" / "On Conflict Do Update".
    #[serde(default)]
    pub write_mode: Option<String>,
    /// Same values as `writeMode` (AnalyticDB-PG spelling); wins when both are set.
    #[serde(default)]
    pub conflict_mode: Option<String>,
    /// Empty the table before loading (inside the job's transaction when atomic).
    #[serde(default, deserialize_with = "lenient_opt_bool")]
    pub truncate: Option<bool>,
    /// DataX: user name (wins over the URL's and the datasource's).
    #[serde(default)]
    pub username: Option<String>,
    /// DataX: password.
    #[serde(default)]
    pub password: Option<String>,
    /// DataX: `[{jdbcUrl, table}]`.
    #[serde(default)]
    pub connection: Option<Vec<ConnectionEntry>>,
    /// Rows per COPY chunk (the unit of dirty-row isolation). Default: the incoming batch.
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub batch_size: Option<u64>,
    /// Accepted for DataX compatibility; COPY data is sent in ~1 MiB pieces regardless.
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub batch_byte_size: Option<u64>,
    /// Empty strings become NULL before casting into non-string columns (default true).
    #[serde(default, deserialize_with = "lenient_opt_bool")]
    pub empty_as_null: Option<bool>,
    /// All-or-nothing commit across channels (default true); `false` commits each
    /// channel when it finishes (`ferry run --no-atomic`).
    #[serde(default, deserialize_with = "lenient_opt_bool")]
    pub atomic: Option<bool>,
    /// How long a channel waits for a lock before its split fails and is retried
    /// (PostgreSQL `lock_timeout` of the channel's connections), in milliseconds.
    /// Default 10000.
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub lock_timeout_ms: Option<u64>,
    /// Whether an atomic load may keep each split in a prepared transaction when the
    /// server allows them (default true); `false` stages through tables instead (for
    /// servers that list prepared transactions but refuse them to users).
    #[serde(default, deserialize_with = "lenient_opt_bool")]
    pub prepared_transactions: Option<bool>,
    /// An atomic load with several channels on a server without prepared transactions:
    /// `true` stages through tables (finished splits survive a crash of ferry, every row
    /// is written twice); default `false`: one transaction the channels take turns on.
    #[serde(default, deserialize_with = "lenient_opt_bool")]
    pub resumable: Option<bool>,
}

/// Where to connect: a catalog name, or a URL with optional credentials.
#[derive(Debug, Clone)]
pub enum Target {
    /// `datasource`.
    Datasource(String),
    /// `connection[0].jdbcUrl` with `username` / `password`.
    Url {
        /// The URL (may carry a password: never print it).
        url: String,
        /// Explicit user.
        user: Option<String>,
        /// Explicit password.
        password: Option<String>,
    },
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Where to connect.
    pub target: Target,
    /// The table as the user wrote it.
    pub table: String,
    /// Target columns (`*` not yet expanded).
    pub column: Vec<String>,
    /// preSql with `@table` substituted, blanks removed.
    pub pre_sql: Vec<String>,
    /// postSql with `@table` substituted, blanks removed.
    pub post_sql: Vec<String>,
    /// Conflict handling.
    pub mode: ConflictMode,
    /// Truncate before load.
    pub truncate: bool,
    /// Rows per COPY chunk, if capped.
    pub batch_size: Option<usize>,
    /// `emptyAsNull`.
    pub empty_as_null: bool,
    /// All-or-nothing commit.
    pub atomic: bool,
    /// `lock_timeout` of the channels' connections, in milliseconds (at least 1).
    pub lock_timeout_ms: u64,
    /// `preparedTransactions`: prepared transactions may be used.
    pub prepared_transactions: bool,
    /// `resumable`: finished splits must survive a crash of ferry (the staged plan when
    /// the two-phase plan does not apply).
    pub resumable: bool,
}

impl WriterConfig {
    /// Parse and check `value` (at JSON path `path`) without I/O.
    pub fn parse(
        value: &serde_json::Value,
        path: &str,
        warnings: &mut Vec<String>,
    ) -> Result<Self> {
        let p: WriterParams = params::parse(value, path, IGNORED, warnings)?;
        let at = |k: &str| params::join_path(path, k);
        let (target, tables) = match (&p.datasource, &p.connection) {
            (Some(_), Some(_)) => {
                return Err(Error::config(format!(
                    "{}: give either datasource or connection, not both",
                    path
                )))
            }
            (Some(ds), None) => (Target::Datasource(ds.clone()), p.table.clone()),
            (None, Some(conns)) => {
                let [c] = conns.as_slice() else {
                    return Err(Error::config(format!(
                        "{}: exactly one connection entry is supported, found {}",
                        at("connection"),
                        conns.len()
                    )));
                };
                if !p.table.is_empty() && !c.table.is_empty() {
                    return Err(Error::config(format!(
                        "{}: table is given both here and in connection[0].table",
                        at("table")
                    )));
                }
                let tables = if c.table.is_empty() {
                    p.table.clone()
                } else {
                    c.table.clone()
                };
                (
                    Target::Url {
                        url: c.jdbc_url.clone(),
                        user: p.username.clone(),
                        password: p.password.clone(),
                    },
                    tables,
                )
            }
            (None, None) => {
                return Err(Error::config(format!(
                    "{path}: missing datasource (DataWorks) or connection[0].jdbcUrl (DataX)"
                )))
            }
        };
        let table = match tables.as_slice() {
            [t] if !t.trim().is_empty() => t.trim().to_string(),
            [] | [_] => {
                return Err(Error::config(format!(
                    "{}: required key is missing",
                    at("table")
                )))
            }
            many => {
                return Err(Error::config(format!(
                    "{}: ferry writes one table per job, found {} ({})",
                    at("table"),
                    many.len(),
                    many.join(", ")
                )))
            }
        };
        if p.column.is_empty() {
            return Err(Error::config(format!(
                "{}: required key is missing",
                at("column")
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for c in &p.column {
            if c.trim().is_empty() {
                return Err(Error::config(format!(
                    "{}: empty column name",
                    at("column")
                )));
            }
            if c != "*" && !seen.insert(c.trim().to_string()) {
                return Err(Error::config(format!(
                    "{}: column \"{c}\" is listed twice",
                    at("column")
                )));
            }
        }
        if p.column.iter().any(|c| c == "*") && p.column.len() > 1 {
            return Err(Error::config(format!(
                "{}: \"*\" must be the only entry",
                at("column")
            )));
        }
        let mode_text = p.conflict_mode.as_ref().or(p.write_mode.as_ref());
        let mode = match mode_text {
            None => ConflictMode::Insert,
            Some(m) => ConflictMode::parse(m).ok_or_else(|| {
                let key = if p.conflict_mode.is_some() { "conflictMode" } else { "writeMode" };
                Error::config(format!(
                    "{}: unknown mode \"{m}\"; use insert, ignore or update (or \"Insert Into\", \"On Conflict Do Nothing\", \"On Conflict Do Update\")",
                    at(key)
                ))
            })?,
        };
        if p.batch_size == Some(0) {
            return Err(Error::config(format!(
                "{}: must be at least 1",
                at("batchSize")
            )));
        }
        if p.lock_timeout_ms == Some(0) {
            return Err(Error::config(format!(
                "{}: must be at least 1 (a lock wait without a limit could hang the job)",
                at("lockTimeoutMs")
            )));
        }
        let subst = |v: &[String]| -> Vec<String> {
            v.iter()
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.replace("@table", &table))
                .collect()
        };
        Ok(WriterConfig {
            target,
            pre_sql: subst(&p.pre_sql),
            post_sql: subst(&p.post_sql),
            table: table.clone(),
            column: p.column.iter().map(|c| c.trim().to_string()).collect(),
            mode,
            truncate: p.truncate.unwrap_or(false),
            batch_size: p.batch_size.map(|b| b as usize),
            empty_as_null: p.empty_as_null.unwrap_or(true),
            atomic: p.atomic.unwrap_or(true),
            lock_timeout_ms: p.lock_timeout_ms.unwrap_or(10_000),
            prepared_transactions: p.prepared_transactions.unwrap_or(true),
            resumable: p.resumable.unwrap_or(false),
        })
    }
}

/// The parameters, as `ferry job template` prints them (key, example value, when set,
/// type, default and meaning).
#[rustfmt::skip]
pub const PARAMS: &[Param] = &[
    param("datasource", "\"my_postgresql\"", Set::V1, "string, required unless connection is given: a catalog datasource"),
    param("table", "\"public.target_table\"", Set::V1, "string, required: schema.table (\"MixedCase\" quoted)"),
    param("username", "\"postgres\"", Set::DataX, "string, DataX: user name"),
    param("password", "\"\"", Set::DataX, "string, DataX: password (prefer a catalog datasource)"),
    param("connection", "[{\"jdbcUrl\": \"jdbc:postgresql://127.0.0.1:5432/postgres\", \"table\": [\"public.target_table\"]}]", Set::DataX, "list of one, DataX: {jdbcUrl: URL, table: [table]}"),
    param("column", "[\"*\"]", Set::Always, "list of strings, default [\"*\"]: target columns, in the order the reader's columns arrive; [\"*\"] = every column"),
    param("preSql", "[]", Set::Always, "list of strings, default []: SQL run before the load, in its transaction; @table = the table name"),
    param("postSql", "[]", Set::Always, "list of strings, default []: SQL run after the load, before the commit; @table = the table name"),
    param("writeMode", "\"insert\"", Set::Always, "string, default insert: on a key conflict insert (the row is dirty data; \"Insert Into\"), ignore (\"On Conflict Do Nothing\") or update (\"On Conflict Do Update\")"),
    param("conflictMode", "\"insert\"", Set::Never, "string: the same values as writeMode (AnalyticDB spelling); wins when both are set"),
    param("truncate", "false", Set::Always, "bool, default false: empty the table first, inside the job's transaction"),
    param("batchSize", "10000", Set::Never, "integer, default the incoming batch: rows per COPY chunk (the unit of dirty-row isolation)"),
    param("batchByteSize", "1048576", Set::Never, "integer: accepted for DataX compatibility; COPY data goes in ~1 MiB pieces regardless"),
    param("emptyAsNull", "true", Set::Never, "bool, default true: empty strings become NULL before casting into non-string columns"),
    param("atomic", "true", Set::Never, "bool, default true: all-or-nothing commit across channels; false commits each channel when it finishes"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dataworks_example_parses() {
        let mut w = vec![];
        let c = WriterConfig::parse(
            &json!({"datasource": "l_PostGreSql", "table": "public.person", "column": ["id", "name"],
                    "preSql": ["delete from @table", ""], "postSql": [], "writeMode": "On Conflict Do Update",
                    "truncate": "true", "encoding": "UTF-8"}),
            "w",
            &mut w,
        )
        .unwrap();
        assert_eq!(c.table, "public.person");
        assert_eq!(c.pre_sql, vec!["delete from public.person".to_string()]);
        assert_eq!(c.mode, ConflictMode::Update);
        assert!(c.truncate && c.atomic && c.empty_as_null);
        assert_eq!(c.lock_timeout_ms, 10_000);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn datax_example_parses() {
        let mut w = vec![];
        let c = WriterConfig::parse(
            &json!({"username": "u", "password": "p", "column": ["*"], "batchSize": "1024",
                    "connection": [{"jdbcUrl": "jdbc:postgresql://h:5432/db", "table": ["t"]}],
                    "conflictMode": "IGNORE", "atomic": false}),
            "w",
            &mut w,
        )
        .unwrap();
        assert_eq!(c.table, "t");
        assert_eq!(c.mode, ConflictMode::Ignore);
        assert_eq!(c.batch_size, Some(1024));
        assert!(!c.atomic);
        assert!(matches!(c.target, Target::Url { .. }));
    }

    #[test]
    fn mistakes_name_the_path() {
        let mut w = vec![];
        let e = WriterConfig::parse(
            &json!({"datasource": "d", "table": "t", "column": ["a"], "presql": []}),
            "w",
            &mut w,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "w.presql: unknown key, did you mean \"preSql\"?"
        );
        let e = WriterConfig::parse(
            &json!({"datasource": "d", "table": "t", "column": ["a"], "writeMode": "merge"}),
            "w",
            &mut w,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("w.writeMode: unknown mode \"merge\""),
            "{e}"
        );
        let e = WriterConfig::parse(
            &json!({"datasource": "d", "table": ["a", "b"], "column": ["a"]}),
            "w",
            &mut w,
        )
        .unwrap_err();
        assert!(e.to_string().contains("one table per job"), "{e}");
        let e = WriterConfig::parse(
            &json!({"datasource": "d", "table": "t", "column": ["a", "a"]}),
            "w",
            &mut w,
        )
        .unwrap_err();
        assert!(e.to_string().contains("listed twice"), "{e}");
        let e = WriterConfig::parse(
            &json!({"datasource": "d", "table": "t", "column": ["a"], "lockTimeoutMs": 0}),
            "w",
            &mut w,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("w.lockTimeoutMs: must be at least 1"),
            "{e}"
        );
    }
}
