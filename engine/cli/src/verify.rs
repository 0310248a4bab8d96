//! `ferry verify JOB` and `ferry run --verify`: what the source gives against what the
//! target holds (see `ferry_runtime::verify`).

use std::sync::Arc;

use ferry_core::catalog::Catalog;
use ferry_core::job::Job;
use ferry_core::plugin::BuildContext;
use ferry_core::{Error, Result};
use ferry_runtime::verify::{locate, source_digests, target_digest, Digest, Located};
use ferry_runtime::JobPlan;
use serde_json::{json, Map, Value};

/// The outcome of a verification.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct VerifyReport {
    pub source: Digest,
    pub target: Digest,
    pub splits: usize,
    pub filtered: u64,
    pub dirty: u64,
    /// Whether the job owns every row of the target (truncate / overwrite), so that the
    /// contents are compared; otherwise only `target rows >= source rows`.
    pub owned: bool,
    pub ok: bool,
    /// On a mismatch, the splits whose rows the target lacks (when the differing rows
    /// were few enough to read again).
    pub located: Option<Located>,
}

/// Rows under the differing buckets (both sides) up to which a mismatch is located: a
/// second read keeps 16 bytes per such row.
const LOCATE_ROWS: u64 = 4_000_000;

impl std::fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "Source                : {} ({} splits; {} filtered, {} dirty in the transform)",
            self.source, self.splits, self.filtered, self.dirty
        )?;
        writeln!(f, "Target                : {}", self.target)?;
        let verdict = match (self.ok, self.owned) {
            (true, true) => "ok: the target holds exactly the rows the source gives".to_string(),
            (true, false) => format!(
                "ok (counts only): the job does not own the target (no truncate / overwrite), \
                 and it holds at least the {} rows the source gives",
                self.source.rows
            ),
            (false, true) if self.source.rows != self.target.rows => format!(
                "MISMATCH: the source gives {} rows, the target holds {}",
                self.source.rows, self.target.rows
            ),
            (false, true) => format!(
                "MISMATCH: {} rows on both sides, but their contents differ",
                self.source.rows
            ),
            (false, false) => format!(
                "MISMATCH: the source gives {} rows, the target holds only {}",
                self.source.rows, self.target.rows
            ),
        };
        writeln!(f, "Verify                : {verdict}")?;
        if let Some(located) = &self.located {
            for m in &located.missing {
                writeln!(
                    f,
                    "  split {} ({}): {} of its {} rows are not in the target",
                    m.index, m.description, m.missing, m.rows
                )?;
            }
            if self.owned && located.extra > 0 {
                writeln!(
                    f,
                    "  the target holds {} rows the source does not give{}",
                    located.extra,
                    if located.missing.is_empty() {
                        ""
                    } else {
                        " (a changed row counts on both lines)"
                    }
                )?;
            }
        }
        Ok(())
    }
}

/// Read the source as `job` would and the target it wrote, and compare.
pub(crate) async fn verify_job(job: &Job, catalog: &Arc<Catalog>) -> Result<VerifyReport> {
    let ctx = BuildContext::for_job(Arc::clone(catalog), job);
    let plugins = ferry_runtime::Plugins::named(job.reader.plugin, job.writer.plugin)?;
    let plan = JobPlan::build(job, &plugins, &ctx).await?;
    let schema = plan.writer.schema();
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let (plugin, params, owned) = target_reader(job, &names)?;
    let outcome = compare(&plan, plugin, &params, owned, &ctx).await;
    let _ = plan.reader.close().await;
    outcome
}

async fn compare(
    plan: &JobPlan,
    plugin: &'static str,
    params: &Value,
    owned: bool,
    ctx: &BuildContext,
) -> Result<VerifyReport> {
    let source = source_digests(plan).await?;
    let target_reader = || async {
        ferry_core::connector::reader(plugin)?
            .build(params, "verify: the target", ctx)
            .await
            .map_err(|e| e.context("verify: reading the target"))
    };
    let reader = target_reader().await?;
    let scanned = target_digest(reader.as_ref(), plan.writer.schema(), plan.channels).await;
    let _ = reader.close().await;
    let (target, buckets) = scanned?;
    let ok = if owned {
        source.total == target
    } else {
        target.rows >= source.total.rows
    };
    let mut located = None;
    // Name the splits: where the job owns the target (contents compared), or where the
    // target holds fewer rows than the source gives.
    if !ok {
        let (differing, rows) = source.buckets.differing(&buckets);
        if rows <= LOCATE_ROWS {
            let reader = target_reader().await?;
            let found = locate(plan, &source, reader.as_ref(), &differing).await;
            let _ = reader.close().await;
            located = Some(found?);
        }
    }
    Ok(VerifyReport {
        source: source.total,
        target,
        splits: source.splits.len(),
        filtered: source.filtered,
        dirty: source.dirty,
        owned,
        ok,
        located,
    })
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn copy(from: &Value, to: &mut Map<String, Value>, keys: &[&str]) {
    for k in keys {
        if let Some(v) = from.get(*k) {
            to.insert((*k).to_string(), v.clone());
        }
    }
}

/// A reader over what the job's writer wrote: (reader plugin, its parameters, whether
/// the job owns every row there).
fn target_reader(job: &Job, columns: &[String]) -> Result<(&'static str, Value, bool)> {
    let p = &job.writer.params;
    let first = |v: Option<&Value>| -> Option<Value> {
        match v {
            Some(Value::Array(a)) => a.first().cloned(),
            Some(v @ Value::String(_)) => Some(v.clone()),
            _ => None,
        }
    };
    match job.writer.plugin {
        "postgresql" => {
            let quoted: Vec<Value> = columns
                .iter()
                .map(|c| Value::String(format!("\"{}\"", c.replace('"', "\"\""))))
                .collect();
            let conn = p.get("connection").and_then(|c| c.get(0));
            let table = first(p.get("table"))
                .or_else(|| first(conn.and_then(|c| c.get("table"))))
                .ok_or_else(|| Error::config("verify: the writer names no table"))?;
            let mut r = Map::new();
            if let Some(ds) = p.get("datasource") {
                r.insert("datasource".into(), ds.clone());
                r.insert("table".into(), table);
            } else {
                let url = first(conn.and_then(|c| c.get("jdbcUrl")))
                    .ok_or_else(|| Error::config("verify: the writer names no jdbcUrl"))?;
                r.insert(
                    "connection".into(),
                    json!([{"jdbcUrl": [url], "table": [table]}]),
                );
                copy(p, &mut r, &["username", "password"]);
            }
            r.insert("column".into(), Value::Array(quoted));
            Ok(("postgresql", Value::Object(r), truthy(p.get("truncate"))))
        }
        "parquet" => {
            let mut r = Map::new();
            copy(p, &mut r, &["path"]);
            r.insert("column".into(), json!(columns));
            let mode = p.get("writeMode").and_then(Value::as_str).unwrap_or("");
            // nonConflict: the folder was empty before the job.
            let owned =
                mode.eq_ignore_ascii_case("truncate") || mode.eq_ignore_ascii_case("nonConflict");
            Ok(("parquet", Value::Object(r), owned))
        }
        "odps" => {
            let mut r = Map::new();
            copy(
                p,
                &mut r,
                &[
                    "datasource",
                    "table",
                    "accessId",
                    "accessKey",
                    "securityToken",
                    "project",
                    "odpsServer",
                    "tunnelServer",
                ],
            );
            if let Some(part) = p.get("partition").and_then(Value::as_str) {
                r.insert("partition".into(), json!([part.replace(',', "/")]));
            }
            r.insert("column".into(), json!(columns));
            Ok(("odps", Value::Object(r), truthy(p.get("truncate"))))
        }
        other => Err(Error::config(format!(
            "verify: the {other} writer keeps nothing ferry can read back; verify needs a \
             postgresql, odps or parquet writer"
        ))),
    }
}
