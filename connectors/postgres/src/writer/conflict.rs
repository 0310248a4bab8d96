//! Moving rows from a staging table into the target: one `INSERT ... SELECT` per range
//! of `ferry_rn`, with the conflict clause of the job's mode, bisected on the server
//! under savepoints when a row is rejected.
//!
//! * insert: `INSERT INTO t (cols) SELECT cols FROM s WHERE ferry_rn range ORDER BY ferry_rn`
//! * ignore: the same with `ON CONFLICT DO NOTHING`
//! * update: `SELECT DISTINCT ON (pk) ... ORDER BY pk, ferry_rn DESC` (the last row of a
//!   key wins) `ON CONFLICT (pk) DO UPDATE SET c = EXCLUDED.c` for every written non-key column.

use ferry_core::dirty::{DirtyCollector, DirtyRecord, Stage};
use ferry_core::{Error, Result};

use super::config::ConflictMode;
use super::row_error_reason;
use crate::conn::pg_error;
use crate::types::quote_ident;

/// The SQL of one merge, with `$1` / `$2` the `ferry_rn` bounds `[lo, hi)`.
pub fn merge_sql(
    mode: ConflictMode,
    target: &str,
    staging: &str,
    columns: &[String],
    pk: &[String],
) -> String {
    let cols = columns
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let range = "ferry_rn >= $1 AND ferry_rn < $2";
    match mode {
        ConflictMode::Insert => format!(
            "INSERT INTO {target} ({cols}) SELECT {cols} FROM {staging} WHERE {range}"
        ),
        ConflictMode::Ignore => format!(
            "INSERT INTO {target} ({cols}) SELECT {cols} FROM {staging} WHERE {range} ORDER BY ferry_rn ON CONFLICT DO NOTHING"
        ),
        ConflictMode::Update => {
            let keys = pk.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ");
            let sets: Vec<String> = columns
                .iter()
                .filter(|c| !pk.contains(c))
                .map(|c| format!("{0} = EXCLUDED.{0}", quote_ident(c)))
                .collect();
            let action = if sets.is_empty() {
                "DO NOTHING".to_string()
            } else {
                format!("DO UPDATE SET {}", sets.join(", "))
            };
            format!(
                "INSERT INTO {target} ({cols}) SELECT DISTINCT ON ({keys}) {cols} FROM {staging} WHERE {range} \
                 ORDER BY {keys}, ferry_rn DESC ON CONFLICT ({keys}) {action}"
            )
        }
    }
}

/// Where a staging row came from: `ferry_rn` → (split description, row within the split).
pub type RowOrigin<'a> = &'a (dyn Fn(i64) -> (String, u64) + Sync);

/// Merge staging rows `[lo, hi)` into the target inside the caller's transaction.
/// Rows the target rejects go to `dirty` (isolated by bisection under savepoints),
/// named after their split and row by `origin`.
/// Returns the number of staging rows that were not dirty.
#[allow(clippy::too_many_arguments)]
pub async fn merge_range(
    client: &tokio_postgres::Client,
    sql: &str,
    staging: &str,
    table: &str,
    lo: i64,
    hi: i64,
    dirty: &DirtyCollector,
    origin: RowOrigin<'_>,
) -> Result<u64> {
    let stmt = client
        .prepare(sql)
        .await
        .map_err(|e| pg_error(&format!("merging into {table}"), &e))?;
    let mut stack = vec![(lo, hi)];
    let mut rejected = 0u64;
    while let Some((a, b)) = stack.pop() {
        if a >= b {
            continue;
        }
        client
            .batch_execute("SAVEPOINT ferry_merge")
            .await
            .map_err(|e| pg_error(&format!("merging into {table}"), &e))?;
        match client.execute(&stmt, &[&a, &b]).await {
            Ok(_) => {
                client
                    .batch_execute("RELEASE SAVEPOINT ferry_merge")
                    .await
                    .map_err(|e| pg_error(&format!("merging into {table}"), &e))?;
            }
            Err(e) => {
                let Some(reason) = row_error_reason(&e) else {
                    return Err(pg_error(&format!("merging into {table}"), &e));
                };
                client
                    .batch_execute(
                        "ROLLBACK TO SAVEPOINT ferry_merge; RELEASE SAVEPOINT ferry_merge",
                    )
                    .await
                    .map_err(|e| pg_error(&format!("merging into {table}"), &e))?;
                if b - a == 1 {
                    rejected += 1;
                    let rec = staged_row(client, staging, a).await?;
                    let (split, row) = origin(a);
                    let mut d = DirtyRecord::new(Stage::Writer, reason)
                        .split(split)
                        .row(row);
                    if let Some(c) = e.as_db_error().and_then(|d| d.column()) {
                        d = d.column(c);
                    }
                    if let Some(r) = rec {
                        d = d.record(r);
                    }
                    dirty
                        .push(d)
                        .map_err(|e| e.context(format!("writing {table}")))?;
                } else {
                    let mid = a + (b - a) / 2;
                    stack.push((mid, b));
                    stack.push((a, mid));
                }
            }
        }
    }
    let rows: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM {staging} WHERE ferry_rn >= $1 AND ferry_rn < $2"),
            &[&lo, &hi],
        )
        .await
        .map_err(|e| pg_error(&format!("merging into {table}"), &e))?
        .get(0);
    Ok((rows as u64).saturating_sub(rejected))
}

async fn staged_row(
    client: &tokio_postgres::Client,
    staging: &str,
    rn: i64,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>> {
    let row = client
        .query_opt(
            &format!(
                "SELECT (to_jsonb(s) - 'ferry_rn')::text FROM {staging} s WHERE ferry_rn = $1"
            ),
            &[&rn],
        )
        .await
        .map_err(|e| pg_error("reading a rejected row", &e))?;
    Ok(row.and_then(|r| {
        let text: String = r.get(0);
        serde_json::from_str(&text).ok()
    }))
}

/// Primary-key columns of `table_oid`, in key order.
pub async fn primary_key(client: &tokio_postgres::Client, table_oid: u32) -> Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT a.attname::text FROM pg_catalog.pg_index i \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
             WHERE i.indrelid = $1 AND i.indisprimary \
             ORDER BY array_position(i.indkey::int2[], a.attnum)",
            &[&table_oid],
        )
        .await
        .map_err(|e| pg_error("reading the primary key", &e))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Check that update mode can work: a key, all of whose columns are written.
pub fn check_update_key(table: &str, pk: &[String], columns: &[String]) -> Result<()> {
    if pk.is_empty() {
        return Err(Error::schema(format!(
            "writeMode update needs a primary key on {table}, which has none; use insert or ignore"
        )));
    }
    if let Some(missing) = pk.iter().find(|k| !columns.contains(k)) {
        return Err(Error::schema(format!(
            "writeMode update: primary-key column \"{missing}\" of {table} is not among the written columns ({})",
            columns.join(", ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_sql_sets_every_non_key_column() {
        let sql = merge_sql(
            ConflictMode::Update,
            "public.t",
            "public.s",
            &["id".into(), "Name".into()],
            &["id".into()],
        );
        assert!(sql.contains("DISTINCT ON (id)"), "{sql}");
        assert!(
            sql.ends_with("ON CONFLICT (id) DO UPDATE SET \"Name\" = EXCLUDED.\"Name\""),
            "{sql}"
        );
        let sql = merge_sql(ConflictMode::Ignore, "t", "s", &["id".into()], &[]);
        assert!(sql.ends_with("ON CONFLICT DO NOTHING"), "{sql}");
    }
}
