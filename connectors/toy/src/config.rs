//! The toy's datasource kind and parameters.

use ferry_core::catalog::{Catalog, Datasource};
use ferry_core::connector::{field, param, DatasourceKind, FieldKind, Param, Set};
use ferry_core::params::{self, lenient_opt_bool, lenient_opt_u64};
use ferry_core::{Error, Result};
use serde::Deserialize;

/// Datasources of type `toy`.
pub static DATASOURCE: DatasourceKind = DatasourceKind {
    aliases: &["toys"],
    fields: &[
        field(
            "seed",
            "Seed",
            FieldKind::Text,
            true,
            "an integer the words start from",
        ),
        field(
            "token",
            "Token",
            FieldKind::Secret,
            false,
            "a secret the toy never shows",
        ),
        field(
            "tokenEnv",
            "Token environment variable",
            FieldKind::SecretEnv,
            false,
            "environment variable holding the token",
        ),
    ],
    check: |ds| seed("", ds).map(|_| ()),
    locate: |ds| format!("seed {}", ds.get("seed").unwrap_or_default()),
};

/// The seed of a toy datasource.
pub fn seed(name: &str, ds: &Datasource) -> Result<i64> {
    ds.check_kind(name, crate::CONNECTOR.name)?;
    let text = ds.get("seed").unwrap_or_default();
    text.trim()
        .parse()
        .map_err(|_| Error::config(format!("seed \"{text}\" is not an integer")))
}

/// The reader's parameters.
pub const READER_PARAMS: &[Param] = &[
    param(
        "datasource",
        "\"toy_first\"",
        Set::Always,
        "string, required: a toy datasource",
    ),
    param(
        "table",
        "\"numbers\"",
        Set::Always,
        "string, required: the table (numbers)",
    ),
    param(
        "rows",
        "10",
        Set::Never,
        "integer, default 10: rows to make",
    ),
    param(
        "column",
        "[\"id\", \"word\"]",
        Set::Always,
        "list, required: columns",
    ),
];

/// The writer's parameters.
pub const WRITER_PARAMS: &[Param] = &[
    param(
        "datasource",
        "\"toy_first\"",
        Set::Always,
        "string, required: a toy datasource",
    ),
    param(
        "table",
        "\"numbers\"",
        Set::Always,
        "string, required: the table (numbers)",
    ),
    param(
        "column",
        "[\"id\", \"word\"]",
        Set::Always,
        "list, required: columns",
    ),
    param(
        "truncate",
        "false",
        Set::Never,
        "boolean, default false: nothing to empty",
    ),
];

/// A reader's or writer's parameters, parsed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Params {
    /// The toy datasource.
    pub datasource: String,
    /// The table.
    pub table: String,
    /// Rows to make (reader).
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub rows: Option<u64>,
    /// Columns.
    pub column: Vec<String>,
    /// Ignored (writer).
    #[serde(default, deserialize_with = "lenient_opt_bool")]
    pub truncate: Option<bool>,
}

impl Params {
    /// Parse and check the parameters at `path`.
    pub fn parse(
        value: &serde_json::Value,
        path: &str,
        warnings: &mut Vec<String>,
    ) -> Result<Params> {
        let p: Params = params::parse(value, path, &[], warnings)?;
        crate::check_table(&p.table).map_err(|e| e.context(format!("{path}.table")))?;
        for c in &p.column {
            if c != "id" && c != "word" {
                return Err(Error::config(format!(
                    "{path}.column: the toy has no column \"{c}\" (id, word)"
                )));
            }
        }
        Ok(p)
    }

    /// The columns picked (indices into the table's) and their schema.
    pub fn projection(&self, path: &str) -> Result<(Vec<usize>, arrow::datatypes::SchemaRef)> {
        let all = crate::schema();
        let picked: Vec<usize> = self
            .column
            .iter()
            .map(|c| {
                all.index_of(c)
                    .map_err(|e| Error::schema(format!("{path}.column: {e}")))
            })
            .collect::<Result<_>>()?;
        let schema = all
            .project(&picked)
            .map_err(|e| Error::schema(format!("{path}.column: {e}")))?;
        Ok((picked, std::sync::Arc::new(schema)))
    }

    /// The seed of the datasource.
    pub fn seed(&self, catalog: &Catalog) -> Result<i64> {
        seed(&self.datasource, catalog.get(&self.datasource)?)
    }
}
