//! Ad-hoc SQL over staged files (`ferry sql`).
//!
//! A table may be written as a quoted path, folder or glob of Parquet files:
//!
//! ```sql
//! SELECT pt, count(*) FROM 'staged/person/**/*.parquet' WHERE pt >= '20261101' GROUP BY pt
//! ```
//!
//! Each quoted string right after `FROM`, `JOIN` (or a comma in a `FROM` list) is
//! registered as a DataFusion listing table (Hive partition folders `k=v/` become Utf8
//! columns) and replaced by its name; the rest is plain DataFusion SQL. Folders are
//! read recursively. [`format_batches`] renders results as a table, CSV or JSON.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::{SessionConfig, SessionContext};
use ferry_core::{Error, Result};

/// How [`format_batches`] renders rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// A boxed text table; the header names each column with its Arrow type: `id (Int64)`.
    Table,
    /// CSV with a header line.
    Csv,
    /// A JSON array of objects (NULLs written as `null`).
    Json,
}

fn df_err(what: &str, e: datafusion::error::DataFusionError) -> Error {
    match e {
        datafusion::error::DataFusionError::IoError(io) => Error::io(format!("sql: {what}"), io),
        datafusion::error::DataFusionError::SQL(..)
        | datafusion::error::DataFusionError::Plan(_) => Error::config(format!("sql: {what}: {e}")),
        datafusion::error::DataFusionError::SchemaError(..) => {
            Error::schema(format!("sql: {what}: {e}"))
        }
        other => Error::data(format!("sql: {what}: {other}")),
    }
}

/// Run `sql`, where tables may be quoted Parquet paths or globs; returns the result's
/// schema and batches.
pub async fn query(sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let (rewritten, tables) = rewrite_paths(sql)?;
    let config = SessionConfig::new()
        .set_bool(
            "datafusion.execution.listing_table_ignore_subdirectory",
            false,
        )
        // Show the files' own types (Utf8, Binary), not DataFusion's view types.
        .set_bool(
            "datafusion.execution.parquet.schema_force_view_types",
            false,
        );
    let ctx = SessionContext::new_with_config(config);
    for (name, path) in &tables {
        register(&ctx, name, path).await?;
    }
    let df = ctx
        .sql(&rewritten)
        .await
        .map_err(|e| df_err("planning the query", e))?;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let batches = df
        .collect()
        .await
        .map_err(|e| df_err("running the query", e))?;
    Ok((schema, batches))
}

/// Register `path` (file, folder or glob of Parquet files) as table `name`.
async fn register(ctx: &SessionContext, name: &str, path: &str) -> Result<()> {
    let has_glob = path.contains(['*', '?', '[']);
    let abs: PathBuf = std::path::absolute(Path::new(path))
        .map_err(|e| Error::io(format!("sql: resolving path '{path}'"), e))?;
    let abs_text = abs.to_string_lossy().into_owned();
    // Hidden files (`.ferry-tmp-*` of running writers, `_SUCCESS`) are not data: the
    // listing is made a glob whose last part cannot match a leading `.` or `_`.
    let url_text = if has_glob {
        visible_only(&abs_text)
    } else if abs.is_dir() {
        format!("{}/**/[!._]*", abs_text.trim_end_matches('/'))
    } else if abs.is_file() {
        abs_text
    } else {
        return Err(Error::config(format!(
            "sql: table '{path}': no such file or folder"
        )));
    };
    let url =
        ListingTableUrl::parse(&url_text).map_err(|e| df_err(&format!("table '{path}'"), e))?;
    let state = ctx.state();
    let mut options = ListingOptions::new(Arc::new(
        ParquetFormat::default().with_force_view_types(false),
    ))
    .with_file_extension("");
    let parts = options
        .infer_partitions(&state, &url)
        .await
        .map_err(|e| df_err(&format!("table '{path}': partition folders"), e))?;
    options =
        options.with_table_partition_cols(parts.into_iter().map(|p| (p, DataType::Utf8)).collect());
    let schema = options
        .infer_schema(&state, &url)
        .await
        .map_err(|e| df_err(&format!("table '{path}': reading the Parquet schema"), e))?;
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema);
    let table = ListingTable::try_new(config).map_err(|e| df_err(&format!("table '{path}'"), e))?;
    ctx.register_table(name, Arc::new(table))
        .map_err(|e| df_err(&format!("table '{path}'"), e))?;
    Ok(())
}

/// Make the last part of a glob skip names starting with `.` or `_`
/// (`**/*.parquet` → `**/[!._]*.parquet`).
fn visible_only(pattern: &str) -> String {
    let (dir, last) = match pattern.rfind('/') {
        Some(i) => pattern.split_at(i + 1),
        None => ("", pattern),
    };
    if let Some(rest) = last.strip_prefix('?') {
        format!("{dir}[!._]{rest}")
    } else if last.starts_with('*') {
        format!("{dir}[!._]{last}")
    } else {
        pattern.to_string()
    }
}

/// Replace every quoted table path in `sql` by a table name; returns the new SQL and
/// the (name, path) pairs. Strings elsewhere (`WHERE pt = '1'`) are left alone.
pub fn rewrite_paths(sql: &str) -> Result<(String, Vec<(String, String)>)> {
    let cs: Vec<char> = sql.chars().collect();
    let mut out = String::with_capacity(sql.len());
    let mut tables: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    // True right after FROM / JOIN / a comma in a FROM list, until something else.
    let mut expect_table = false;
    let mut in_from_list = false;
    while i < cs.len() {
        let c = cs[i];
        if c == '-' && cs.get(i + 1) == Some(&'-') {
            while i < cs.len() && cs[i] != '\n' {
                out.push(cs[i]);
                i += 1;
            }
            continue;
        }
        if c == '/' && cs.get(i + 1) == Some(&'*') {
            while i < cs.len() && !(cs[i] == '*' && cs.get(i + 1) == Some(&'/')) {
                out.push(cs[i]);
                i += 1;
            }
            out.push_str("*/");
            i = (i + 2).min(cs.len());
            continue;
        }
        if c.is_whitespace() {
            out.push(c);
            i += 1;
            continue;
        }
        if c == '\'' {
            let start = i;
            let mut lit = String::new();
            i += 1;
            loop {
                match cs.get(i) {
                    None => return Err(Error::config("sql: unterminated string literal")),
                    Some('\'') if cs.get(i + 1) == Some(&'\'') => {
                        lit.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        lit.push(*ch);
                        i += 1;
                    }
                }
            }
            if expect_table {
                let name = match tables.iter().find(|(_, p)| *p == lit) {
                    Some((n, _)) => n.clone(),
                    None => {
                        let n = format!("ferry_t{}", tables.len());
                        tables.push((n.clone(), lit));
                        n
                    }
                };
                out.push_str(&name);
                in_from_list = true;
            } else {
                out.extend(&cs[start..i]);
                in_from_list = false;
            }
            expect_table = false;
            continue;
        }
        if c == '"' {
            // A quoted identifier: copy as is.
            out.push(c);
            i += 1;
            while i < cs.len() && cs[i] != '"' {
                out.push(cs[i]);
                i += 1;
            }
            if i < cs.len() {
                out.push('"');
                i += 1;
            }
            expect_table = false;
            continue;
        }
        if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < cs.len() && (cs[i].is_alphanumeric() || cs[i] == '_') {
                i += 1;
            }
            let word: String = cs[start..i].iter().collect();
            let upper = word.to_ascii_uppercase();
            expect_table = upper == "FROM" || upper == "JOIN";
            // An alias keeps a FROM list going (`FROM 'a' x, 'b' y`); keywords end it.
            if !expect_table && !matches!(upper.as_str(), "AS") && is_clause_keyword(&upper) {
                in_from_list = false;
            }
            out.push_str(&word);
            continue;
        }
        if c == ',' && in_from_list {
            expect_table = true;
        } else {
            expect_table = false;
            if c != ',' {
                in_from_list = in_from_list && c == ')';
            }
        }
        out.push(c);
        i += 1;
    }
    Ok((out, tables))
}

fn is_clause_keyword(w: &str) -> bool {
    matches!(
        w,
        "WHERE"
            | "GROUP"
            | "ORDER"
            | "HAVING"
            | "LIMIT"
            | "UNION"
            | "ON"
            | "USING"
            | "SELECT"
            | "WINDOW"
            | "QUALIFY"
            | "OFFSET"
            | "EXCEPT"
            | "INTERSECT"
    )
}

/// Render `batches` in `format`. With no batches there is no schema to print: use
/// [`format_result`] to keep the header of an empty result.
pub fn format_batches(batches: &[RecordBatch], format: OutputFormat) -> Result<String> {
    match batches.first() {
        Some(b) => format_result(&b.schema(), batches, format),
        None => format_result(&Arc::new(Schema::empty()), batches, format),
    }
}

/// Render a query result (schema and batches) in `format`.
pub fn format_result(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    format: OutputFormat,
) -> Result<String> {
    let empty;
    let batches: &[RecordBatch] = if batches.is_empty() {
        empty = [RecordBatch::new_empty(Arc::clone(schema))];
        &empty
    } else {
        batches
    };
    match format {
        OutputFormat::Table => {
            let typed: SchemaRef = Arc::new(Schema::new(
                schema
                    .fields()
                    .iter()
                    .map(|f| {
                        Field::new(
                            format!("{} ({})", f.name(), f.data_type()),
                            f.data_type().clone(),
                            true,
                        )
                    })
                    .collect::<Vec<_>>(),
            ));
            let mut renamed = Vec::with_capacity(batches.len());
            for b in batches {
                renamed.push(RecordBatch::try_new(
                    Arc::clone(&typed),
                    b.columns().to_vec(),
                )?);
            }
            Ok(arrow::util::pretty::pretty_format_batches(&renamed)?.to_string())
        }
        OutputFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(Vec::new());
            for b in batches {
                w.write(b)?;
            }
            String::from_utf8(w.into_inner())
                .map_err(|e| Error::internal(format!("csv output: {e}")))
        }
        OutputFormat::Json => {
            let mut w = arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow::json::writer::JsonArray>(Vec::new());
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
            let mut s = String::from_utf8(w.into_inner())
                .map_err(|e| Error::internal(format!("json output: {e}")))?;
            if s.is_empty() {
                s.push_str("[]");
            }
            Ok(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_paths_in_from_and_join_become_tables() {
        let (sql, t) = rewrite_paths(
            "SELECT * FROM 'a/**/*.parquet' x JOIN 'b' y ON x.id = y.id WHERE x.pt = 'a/**/*.parquet'",
        )
        .unwrap();
        assert_eq!(
            sql,
            "SELECT * FROM ferry_t0 x JOIN ferry_t1 y ON x.id = y.id WHERE x.pt = 'a/**/*.parquet'"
        );
        assert_eq!(
            t,
            vec![
                ("ferry_t0".into(), "a/**/*.parquet".into()),
                ("ferry_t1".into(), "b".into())
            ]
        );
        let (sql, t) =
            rewrite_paths("select count(*) from 'a', 'b' -- from 'c'\n where s = 'it''s'").unwrap();
        assert_eq!(
            sql,
            "select count(*) from ferry_t0, ferry_t1 -- from 'c'\n where s = 'it''s'"
        );
        assert_eq!(t.len(), 2);
        let (sql, _) = rewrite_paths("SELECT 'x', 'y' FROM 'p' WHERE a IN ('1', '2')").unwrap();
        assert_eq!(sql, "SELECT 'x', 'y' FROM ferry_t0 WHERE a IN ('1', '2')");
        assert!(rewrite_paths("SELECT 'x").is_err());
        assert_eq!(visible_only("/a/**/*.parquet"), "/a/**/[!._]*.parquet");
        assert_eq!(visible_only("/a/pt=?/?.parquet"), "/a/pt=?/[!._].parquet");
        assert_eq!(visible_only("/a/p*/x.parquet"), "/a/p*/x.parquet");
    }
}
