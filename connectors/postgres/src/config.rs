//! The reader's parameters, in both job flavours: DataWorks (`datasource` + `table`) and
//! DataX (`username` / `password` + `connection: [{jdbcUrl, table | querySql}]`).
//!
//! ```json
//! {"datasource": "l_PostGreSql", "table": "public.person", "column": ["id", "name"],
//!  "where": "id > 10", "splitPk": "id", "splitFactor": 5}
//! ```

use ferry_core::catalog::{hide_url_password, Catalog, Datasource};
use ferry_core::connector::{field, param, DatasourceKind, FieldKind, Param, Set};
use ferry_core::params::{self, join_path, lenient_opt_u64, one_or_many};
use ferry_core::{Error, Result};
use serde::Deserialize;

use crate::conn::PgEndpoint;

/// A catalog datasource of type `postgresql` (also spelled `postgres`, `hybriddb`, `adbpg`,
/// `greenplum`).
pub static DATASOURCE: DatasourceKind = DatasourceKind {
    aliases: &["postgres", "hybriddb", "adbpg", "greenplum"],
    fields: &[
        field(
            "jdbcUrl",
            "JDBC URL",
            FieldKind::Url,
            false,
            "jdbc:postgresql://host:port/db (or give url)",
        ),
        field(
            "url",
            "URL",
            FieldKind::Url,
            false,
            "postgres://user@host:port/db",
        ),
        field("username", "Username", FieldKind::Text, false, "user name"),
        field(
            "password",
            "Password",
            FieldKind::Secret,
            false,
            "password, stored in the 0600 catalog; prefer passwordEnv",
        ),
        field(
            "passwordEnv",
            "Password environment variable",
            FieldKind::SecretEnv,
            false,
            "environment variable holding the password",
        ),
    ],
    check: check_datasource,
    locate: |ds| {
        ds.get("jdbcUrl")
            .or(ds.get("url"))
            .map(hide_url_password)
            .unwrap_or_default()
    },
};

fn check_datasource(ds: &Datasource) -> Result<()> {
    let url = ds
        .get("jdbcUrl")
        .or(ds.get("url"))
        .ok_or_else(|| Error::config("give jdbcUrl or url"))?;
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("jdbc:postgresql://")
        || lower.starts_with("postgres://")
        || lower.starts_with("postgresql://"))
    {
        let scheme = lower.split("//").next().unwrap_or("");
        return Err(Error::config(format!(
            "URL scheme \"{scheme}//\" does not match a PostgreSQL datasource; expected jdbc:postgresql://host:port/database or postgres://"
        )));
    }
    Ok(())
}

/// Keys DataX accepts that ferry ignores (with a warning).
pub const IGNORED: &[&str] = &["mandatoryEncoding", "session", "encoding"];

/// The reader's `parameter` object as written in the job.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReaderParams {
    /// DataWorks: a named datasource from the catalog.
    #[serde(default)]
    pub datasource: Option<String>,
    /// DataWorks: the table (`schema.table`); a list is accepted too.
    #[serde(default, deserialize_with = "one_or_many")]
    pub table: Vec<String>,
    /// DataWorks: SQL statements instead of a table.
    #[serde(default, deserialize_with = "one_or_many")]
    pub query_sql: Vec<String>,
    /// DataX: user name.
    #[serde(default)]
    pub username: Option<String>,
    /// DataX: password.
    #[serde(default)]
    pub password: Option<String>,
    /// DataX: databases, each with URLs tried in order and tables or queries.
    #[serde(default)]
    pub connection: Vec<ConnectionParams>,
    /// SQL expressions spliced into the SELECT (`["*"]` for all columns).
    #[serde(default, deserialize_with = "one_or_many")]
    pub column: Vec<String>,
    /// Filter appended as `WHERE (<where>)`.
    #[serde(default, rename = "where")]
    pub where_: Option<String>,
    /// Column to split the table by.
    #[serde(default)]
    pub split_pk: Option<String>,
    /// Ranges per channel for a single table (default 5).
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub split_factor: Option<u64>,
    /// Rows per fetch (accepted; used as a batch size hint).
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub fetch_size: Option<u64>,
}

/// One entry of DataX's `connection` list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConnectionParams {
    /// URLs tried in order; the first that connects is used.
    #[serde(default, deserialize_with = "one_or_many")]
    pub jdbc_url: Vec<String>,
    /// Tables (range syntax `t_[00-09]` allowed).
    #[serde(default, deserialize_with = "one_or_many")]
    pub table: Vec<String>,
    /// SQL statements, read as they are.
    #[serde(default, deserialize_with = "one_or_many")]
    pub query_sql: Vec<String>,
}

/// What one database contributes: tables or queries.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    /// Tables read with `column`, `where`, `splitPk`.
    Tables(Vec<String>),
    /// Statements read as they are.
    Queries(Vec<String>),
}

/// One database to read from.
#[derive(Debug, Clone)]
pub struct SourceDb {
    /// Candidate endpoints, tried in order.
    pub endpoints: Vec<PgEndpoint>,
    /// What to read there.
    pub work: Work,
}

/// The checked reader configuration.
#[derive(Debug, Clone)]
pub struct ReaderConfig {
    /// Databases.
    pub sources: Vec<SourceDb>,
    /// `None` means `*`.
    pub columns: Option<Vec<String>>,
    /// Filter without its trailing `;`.
    pub where_: Option<String>,
    /// Split column.
    pub split_pk: Option<String>,
    /// Ranges per channel for a single table.
    pub split_factor: usize,
    /// Batch size hint.
    pub fetch_size: Option<usize>,
}

impl ReaderConfig {
    /// Parse and check without I/O. The catalog is needed for `datasource`; without it
    /// (`check`) the datasource name is only checked to be present.
    pub fn parse(
        value: &serde_json::Value,
        path: &str,
        catalog: Option<&Catalog>,
        warnings: &mut Vec<String>,
    ) -> Result<ReaderConfig> {
        let p: ReaderParams = params::parse(value, path, IGNORED, warnings)?;
        let mut sources = Vec::new();
        let query_mode;
        if let Some(ds_name) = p.datasource.as_deref().filter(|s| !s.is_empty()) {
            if !p.connection.is_empty() {
                return Err(Error::config(format!(
                    "{}: give either datasource or connection, not both",
                    join_path(path, "connection")
                )));
            }
            let work = match (p.table.is_empty(), p.query_sql.is_empty()) {
                (false, true) => Work::Tables(expand_tables(&p.table, &join_path(path, "table"))?),
                (true, false) => Work::Queries(p.query_sql.clone()),
                (true, true) => {
                    return Err(Error::config(format!(
                        "{}: required key is missing (or give querySql)",
                        join_path(path, "table")
                    )))
                }
                (false, false) => {
                    return Err(Error::config(format!(
                        "{}: give either table or querySql, not both",
                        join_path(path, "querySql")
                    )))
                }
            };
            query_mode = matches!(work, Work::Queries(_));
            let endpoints = match catalog {
                Some(cat) => {
                    let ds = cat
                        .get(ds_name)
                        .map_err(|e| e.context(join_path(path, "datasource")))?;
                    vec![PgEndpoint::from_datasource(ds_name, ds)
                        .map_err(|e| e.context(join_path(path, "datasource")))?]
                }
                None => Vec::new(),
            };
            sources.push(SourceDb { endpoints, work });
        } else {
            if p.connection.is_empty() {
                return Err(Error::config(format!(
                    "{}: give datasource (DataWorks) or connection (DataX)",
                    path
                )));
            }
            if !p.table.is_empty() || !p.query_sql.is_empty() {
                return Err(Error::config(format!(
                    "{}: with connection, put table / querySql inside each connection entry",
                    join_path(path, "table")
                )));
            }
            // As the writer: `username` may instead be the URL's `user=` (or `user@`);
            // with neither, the endpoint's error asks for one.
            let user = p.username.as_deref().filter(|u| !u.is_empty());
            let mut modes = Vec::new();
            for (i, c) in p.connection.iter().enumerate() {
                let cpath = join_path(path, &format!("connection[{i}]"));
                if c.jdbc_url.is_empty() {
                    return Err(Error::config(format!(
                        "{}: required key is missing",
                        join_path(&cpath, "jdbcUrl")
                    )));
                }
                let endpoints = c
                    .jdbc_url
                    .iter()
                    .enumerate()
                    .map(|(j, u)| {
                        PgEndpoint::parse(u, user, p.password.as_deref())
                            .map_err(|e| e.context(join_path(&cpath, &format!("jdbcUrl[{j}]"))))
                    })
                    .collect::<Result<Vec<_>>>()?;
                let work = match (c.table.is_empty(), c.query_sql.is_empty()) {
                    (false, true) => {
                        Work::Tables(expand_tables(&c.table, &join_path(&cpath, "table"))?)
                    }
                    (true, false) => Work::Queries(c.query_sql.clone()),
                    (true, true) => {
                        return Err(Error::config(format!("{cpath}: give table or querySql")))
                    }
                    (false, false) => {
                        return Err(Error::config(format!(
                            "{cpath}: give either table or querySql, not both"
                        )))
                    }
                };
                modes.push(matches!(work, Work::Queries(_)));
                sources.push(SourceDb { endpoints, work });
            }
            if modes.iter().any(|m| *m != modes[0]) {
                return Err(Error::config(format!(
                    "{}: every entry must use the same mode (all table or all querySql)",
                    join_path(path, "connection")
                )));
            }
            query_mode = modes[0];
        }

        let mut columns = None;
        let mut where_ = p
            .where_
            .as_deref()
            .map(str::trim)
            .map(|w| {
                w.strip_suffix(';')
                    .or_else(|| w.strip_suffix('；'))
                    .unwrap_or(w)
                    .trim()
                    .to_string()
            })
            .filter(|w| !w.is_empty());
        let mut split_pk = p
            .split_pk
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        if query_mode {
            for (key, set) in [
                ("column", !p.column.is_empty()),
                ("where", where_.is_some()),
                ("splitPk", split_pk.is_some()),
            ] {
                if set {
                    warnings.push(format!(
                        "{}: ignored with querySql (the statements are read as they are)",
                        join_path(path, key)
                    ));
                }
            }
            where_ = None;
            split_pk = None;
        } else {
            let cols: Vec<String> = p.column.iter().map(|c| c.trim().to_string()).collect();
            if cols.is_empty() {
                return Err(Error::config(format!(
                    "{}: required key is missing (use [\"*\"] for every column)",
                    join_path(path, "column")
                )));
            }
            if let Some(i) = cols.iter().position(|c| c.is_empty()) {
                return Err(Error::config(format!(
                    "{}: empty column entry",
                    join_path(path, &format!("column[{i}]"))
                )));
            }
            if cols.iter().any(|c| c == "*") {
                if cols.len() > 1 {
                    return Err(Error::config(format!(
                        "{}: \"*\" cannot be mixed with other columns",
                        join_path(path, "column")
                    )));
                }
            } else {
                columns = Some(cols);
            }
        }
        let split_factor = p.split_factor.unwrap_or(5);
        if split_factor == 0 {
            return Err(Error::config(format!(
                "{}: must be at least 1",
                join_path(path, "splitFactor")
            )));
        }
        if p.fetch_size == Some(0) {
            return Err(Error::config(format!(
                "{}: must be at least 1",
                join_path(path, "fetchSize")
            )));
        }
        Ok(ReaderConfig {
            sources,
            columns,
            where_,
            split_pk,
            split_factor: split_factor as usize,
            fetch_size: p.fetch_size.map(|f| f as usize),
        })
    }

    /// The SELECT list.
    pub fn select_list(&self) -> String {
        match &self.columns {
            Some(c) => c.join(", "),
            None => "*".to_string(),
        }
    }
}

/// Expand DataX's table range syntax: `t_[00-09]` → `t_00` … `t_09` (width kept when the
/// start has a leading zero), `t[0-3]` → `t0` … `t3`.
pub fn expand_tables(tables: &[String], path: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for t in tables {
        let t = t.trim();
        if t.is_empty() {
            return Err(Error::config(format!("{path}: empty table name")));
        }
        match range_part(t) {
            Some((pre, a, b, post)) => {
                let lo: u64 = a.parse().map_err(|_| bad_range(path, t))?;
                let hi: u64 = b.parse().map_err(|_| bad_range(path, t))?;
                if lo > hi {
                    return Err(bad_range(path, t));
                }
                let width = if a.len() > 1 && a.starts_with('0') {
                    a.len()
                } else {
                    0
                };
                for i in lo..=hi {
                    out.push(format!("{pre}{i:0width$}{post}"));
                }
            }
            None => out.push(t.to_string()),
        }
    }
    Ok(out)
}

fn bad_range(path: &str, t: &str) -> Error {
    Error::config(format!(
        "{path}: bad table range in \"{t}\" (expected name[0-9])"
    ))
}

/// `pre[a-b]post` with digits a, b.
fn range_part(t: &str) -> Option<(&str, &str, &str, &str)> {
    let open = t.find('[')?;
    let close = open + t[open..].find(']')?;
    let inner = &t[open + 1..close];
    let (a, b) = inner.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty()
        || b.is_empty()
        || !a.bytes().all(|c| c.is_ascii_digit())
        || !b.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    Some((&t[..open], a, b, &t[close + 1..]))
}

/// The parameters, as `ferry job template` prints them (key, example value, when set,
/// type, default and meaning).
#[rustfmt::skip]
pub const PARAMS: &[Param] = &[
    param("datasource", "\"my_postgresql\"", Set::V1, "string, required unless connection is given: a catalog datasource (`ferry datasource list`)"),
    param("table", "\"public.source_table\"", Set::V1, "string or list, required unless querySql: schema.table; a list (or t_[00-09]) reads several tables"),
    param("querySql", "[\"SELECT id, name FROM public.source_table\"]", Set::Never, "string or list, instead of table: statements read as they are (no column/where/splitPk)"),
    param("username", "\"postgres\"", Set::DataX, "string, DataX: user name"),
    param("password", "\"\"", Set::DataX, "string, DataX: password (prefer a catalog datasource: job files end up in version control)"),
    param("connection", "[{\"jdbcUrl\": [\"jdbc:postgresql://127.0.0.1:5432/postgres\"], \"table\": [\"public.source_table\"]}]", Set::DataX, "list, DataX: databases, each {jdbcUrl: [URLs tried in order], table: [...] or querySql: [...]}"),
    param("column", "[\"*\"]", Set::Always, "list of strings, default [\"*\"]: column names or SQL expressions (upper(name), constants 'abc' or 1); [\"*\"] = every column"),
    param("where", "\"\"", Set::Always, "string, default none: filter appended as WHERE (...), e.g. gmt_create >= '${bdp.system.bizdate}'"),
    param("splitPk", "\"\"", Set::Always, "string, default none (one range): integer column to cut the table into ranges, one per channel task (the primary key is a good choice)"),
    param("splitFactor", "5", Set::Never, "integer, default 5: ranges per channel when splitPk is set"),
    param("fetchSize", "1024", Set::Never, "integer, default ferry's batch size: rows per fetch (a batch size hint)"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<ReaderConfig> {
        let mut w = vec![];
        ReaderConfig::parse(&v, "r", None, &mut w)
    }

    #[test]
    fn table_ranges_keep_width() {
        let t =
            expand_tables(&["t_[00-02]".into(), "a[8-10]".into(), "plain".into()], "p").unwrap();
        assert_eq!(t, ["t_00", "t_01", "t_02", "a8", "a9", "a10", "plain"]);
    }

    #[test]
    fn datax_form() {
        let c = parse(json!({
            "username": "u", "password": "p",
            "column": ["id", "'hello'::varchar"],
            "where": "id > 1;", "splitPk": "id", "splitFactor": "3",
            "connection": [{"jdbcUrl": ["jdbc:postgresql://h:5432/db"], "table": ["t_[0-1]"]}]
        }))
        .unwrap();
        assert_eq!(c.where_.as_deref(), Some("id > 1"));
        assert_eq!(c.split_factor, 3);
        assert_eq!(c.select_list(), "id, 'hello'::varchar");
        assert_eq!(
            c.sources[0].work,
            Work::Tables(vec!["t_0".into(), "t_1".into()])
        );
        assert_eq!(c.sources[0].endpoints[0].display(), "u@h:5432/db");
    }

    #[test]
    fn mistakes_name_the_path() {
        let e = parse(json!({"username": "u", "column": ["*", "id"],
            "connection": [{"jdbcUrl": "jdbc:postgresql://h/db", "table": "t"}]}))
        .unwrap_err();
        assert!(e.to_string().contains("r.column"), "{e}");
        let e = parse(json!({"datasource": "x", "table": "t", "column": ["id"], "splitpk": "id"}))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "r.splitpk: unknown key, did you mean \"splitPk\"?"
        );
        let e = parse(json!({"datasource": "x", "table": "t"})).unwrap_err();
        assert!(e.to_string().starts_with("r.column"), "{e}");
        let e = parse(json!({"username": "u", "connection": [
            {"jdbcUrl": "jdbc:postgresql://h/db", "table": "t"},
            {"jdbcUrl": "jdbc:postgresql://h/db", "querySql": "select 1"}]}))
        .unwrap_err();
        assert!(e.to_string().contains("same mode"), "{e}");
    }

    #[test]
    fn the_user_may_come_from_the_url_as_for_the_writer() {
        let c = parse(json!({"column": ["*"], "connection": [
            {"jdbcUrl": ["postgres://ann:pw@h:5432/db"], "table": ["t"]}]}))
        .unwrap();
        assert_eq!(c.sources[0].endpoints[0].display(), "ann@h:5432/db");
        let e = parse(json!({"column": ["*"], "connection": [
            {"jdbcUrl": ["jdbc:postgresql://h:5432/db"], "table": ["t"]}]}))
        .unwrap_err()
        .to_string();
        assert!(e.contains("r.connection[0].jdbcUrl[0]"), "{e}");
        assert!(e.contains("give username"), "{e}");
    }

    #[test]
    fn query_mode_warns_about_table_options() {
        let mut w = vec![];
        let c = ReaderConfig::parse(
            &json!({"datasource": "x", "querySql": ["select 1"], "where": "a", "encoding": "UTF-8"}),
            "r",
            None,
            &mut w,
        )
        .unwrap();
        assert!(c.where_.is_none());
        assert_eq!(w.len(), 2, "{w:?}");
    }
}
