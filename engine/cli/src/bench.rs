//! `ferry bench`: measure a transfer at several channel counts, optionally against the
//! database's own COPY, and generate reproducible test tables.
//!
//! ```text
//! ferry bench --from l_PostGreSql --table public.person --to null --channels 1,2,4 --baseline
//! ferry bench --generate person --rows 5000000 --into l_PostGreSql
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use ferry_core::catalog::{Catalog, Datasource};
use ferry_core::job::{Job, JobShape, PluginSpec, Settings};
use ferry_core::plugin::BuildContext;
use ferry_core::{Error, Result};
use ferry_runtime::{run_job, RunOptions};
use futures::StreamExt;
use serde::Serialize;
use serde_json::json;

use crate::registry;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Source PostgreSQL datasource.
    #[arg(long)]
    from: Option<String>,
    /// Source table (with --from), or the table to create (with --generate).
    #[arg(long)]
    table: Option<String>,
    /// Target: `null` (discard), `parquet:PATH`, or a PostgreSQL datasource (a scratch table is created and dropped).
    #[arg(long, default_value = "null")]
    to: String,
    /// Channel counts to try, comma-separated.
    #[arg(long, default_value = "1,2")]
    channels: String,
    /// Split key for the reader (default: ctid ranges).
    #[arg(long)]
    split_pk: Option<String>,
    /// Also measure PostgreSQL's own binary COPY out / in of the same data.
    #[arg(long)]
    baseline: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Generate a test table: `person` (the seed's shape) or `wide` (16 mixed columns).
    #[arg(long)]
    generate: Option<String>,
    /// Rows to generate.
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// Datasource to generate into.
    #[arg(long)]
    into: Option<String>,
    /// Datasource catalog.
    #[arg(long, env = "FERRY_CATALOG")]
    catalog: Option<PathBuf>,
}

/// `ferry bench ...`
pub async fn cmd(a: BenchArgs) -> Result<i32> {
    let catalog = crate::commands::load_catalog(a.catalog.as_deref())?;
    if let Some(kind) = &a.generate {
        let into = a
            .into
            .as_deref()
            .ok_or_else(|| Error::config("--generate needs --into DATASOURCE"))?;
        let msg = generate(catalog, kind, a.rows, into, a.table.as_deref()).await?;
        println!("{msg}");
        return Ok(0);
    }
    let from = a
        .from
        .ok_or_else(|| Error::config("give --from DATASOURCE --table T, or --generate"))?;
    let table = a
        .table
        .ok_or_else(|| Error::config("--table is required with --from"))?;
    let channels = a
        .channels
        .split(',')
        .map(|c| {
            c.trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    Error::config(format!(
                        "--channels {}: expected numbers like 1,2,4",
                        a.channels
                    ))
                })
        })
        .collect::<Result<Vec<_>>>()?;
    let rows = transfer(
        catalog,
        &TransferBench {
            from,
            table,
            to: a.to,
            channels,
            split_pk: a.split_pk,
            baseline: a.baseline,
        },
    )
    .await?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).map_err(|e| Error::internal(e.to_string()))?
        );
    } else {
        print!("{}", render(&rows));
    }
    Ok(0)
}

/// One measured run.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    /// What ran (`ferry` or `psql-copy-out` ...).
    pub leg: String,
    /// Channels.
    pub channels: usize,
    /// Rows moved.
    pub rows: u64,
    /// Megabytes (MiB) moved, as the reader counts them (or COPY bytes for baselines).
    pub mb: f64,
    /// Wall-clock seconds.
    pub secs: f64,
    /// Rows per second.
    pub rows_per_sec: f64,
    /// MiB per second.
    pub mb_per_sec: f64,
    /// Peak resident memory of this process during the run, MiB (Linux).
    pub peak_rss_mb: Option<f64>,
    /// Share of channel time spent reading.
    pub read_share: Option<f64>,
    /// Share of channel time spent transforming.
    pub transform_share: Option<f64>,
    /// Share of channel time spent writing.
    pub write_share: Option<f64>,
    /// ferry's rows/s over the baseline's, when measured.
    pub vs_baseline: Option<f64>,
}

/// Reset the kernel's peak-RSS mark for this process (Linux ≥ 4.0); best effort.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak RSS in MiB since the last reset (Linux).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Options of a transfer bench.
#[derive(Debug, Clone)]
pub struct TransferBench {
    /// Source datasource (PostgreSQL).
    pub from: String,
    /// Source table.
    pub table: String,
    /// `null`, `parquet:PATH`, or a PostgreSQL datasource (a scratch table is created and dropped).
    pub to: String,
    /// Channel counts to try.
    pub channels: Vec<usize>,
    /// Split key (default: none → ctid ranges).
    pub split_pk: Option<String>,
    /// Also measure PostgreSQL's own COPY out / in of the same data.
    pub baseline: bool,
}

fn pg_endpoint(catalog: &Catalog, name: &str) -> Result<ferry_postgres::PgEndpoint> {
    match catalog.get(name)? {
        Datasource::Postgresql(p) => ferry_postgres::PgEndpoint::from_datasource(name, p),
        other => Err(Error::config(format!(
            "{name} is a {} datasource; ferry bench reads PostgreSQL sources",
            other.kind()
        ))),
    }
}

fn scratch_name(table: &str) -> String {
    let base = table.rsplit('.').next().unwrap_or(table).trim_matches('"');
    format!("public.{base}_ferry_bench")
}

/// Run the transfer bench; returns one row per measurement.
pub async fn transfer(catalog: Arc<Catalog>, b: &TransferBench) -> Result<Vec<BenchRow>> {
    let src = pg_endpoint(&catalog, &b.from)?;
    let mut rows = Vec::new();
    let mut baseline_out = None;
    let mut baseline_in = None;
    let to_pg = !(b.to == "null" || b.to.starts_with("parquet:"));
    let scratch = scratch_name(&b.table);
    if to_pg {
        let dst = pg_endpoint(&catalog, &b.to)?;
        let c = dst.connect().await?;
        c.batch_execute(&format!(
            "DROP TABLE IF EXISTS {scratch}; CREATE UNLOGGED TABLE {scratch} (LIKE {} INCLUDING DEFAULTS)",
            b.table
        ))
        .await
        .map_err(|e| ferry_postgres::pg_error("creating the scratch table", &e))?;
    }
    if b.baseline {
        let (out, inn) = copy_baseline(&src, &b.table, to_pg.then_some(scratch.as_str())).await?;
        baseline_out = Some(out.rows_per_sec);
        baseline_in = inn.as_ref().map(|r| r.rows_per_sec);
        rows.push(out);
        rows.extend(inn);
    }
    for &ch in &b.channels {
        let writer = if b.to == "null" {
            PluginSpec {
                plugin: "stream",
                written_as: "streamwriter".into(),
                params: json!({"print": false}),
                path: "bench.writer".into(),
            }
        } else if let Some(path) = b.to.strip_prefix("parquet:") {
            PluginSpec {
                plugin: "parquet",
                written_as: "parquetwriter".into(),
                params: json!({"path": path, "fileName": "bench", "writeMode": "truncate"}),
                path: "bench.writer".into(),
            }
        } else {
            PluginSpec {
                plugin: "postgresql",
                written_as: "postgresqlwriter".into(),
                params: json!({"datasource": b.to, "table": scratch, "column": ["*"], "truncate": true}),
                path: "bench.writer".into(),
            }
        };
        let mut reader_params = json!({"datasource": b.from, "table": b.table, "column": ["*"]});
        if let Some(pk) = &b.split_pk {
            reader_params["splitPk"] = json!(pk);
        }
        let job = Job {
            name: format!("bench {} -> {}", b.table, b.to),
            shape: JobShape::DataX,
            reader: PluginSpec {
                plugin: "postgresql",
                written_as: "postgresqlreader".into(),
                params: reader_params,
                path: "bench.reader".into(),
            },
            writer,
            transformers: vec![],
            settings: Settings {
                channels: ch,
                ..Default::default()
            },
            warnings: vec![],
        };
        let plugins = registry::plugins(job.reader.plugin, job.writer.plugin)?;
        let ctx = BuildContext {
            catalog: Arc::clone(&catalog),
            channels: ch,
            job_name: job.name.clone(),
            source_schema: None,
        };
        let opts = RunOptions {
            progress_every: None,
            ..Default::default()
        };
        reset_peak_rss();
        let (s, err) = run_job(&job, &plugins, &ctx, &opts).await;
        if let Some(e) = err {
            return Err(e.context(format!("bench with {ch} channel(s)")));
        }
        let busy = (s.read_secs + s.transform_secs + s.write_secs).max(1e-9);
        let rps = s.records_read as f64 / s.elapsed_secs.max(1e-9);
        let base = if b.to == "null" {
            baseline_out
        } else {
            baseline_in.or(baseline_out)
        };
        rows.push(BenchRow {
            leg: format!("ferry {} -> {}", b.from, b.to),
            channels: ch,
            rows: s.records_read,
            mb: s.bytes_read as f64 / 1048576.0,
            secs: s.elapsed_secs,
            rows_per_sec: rps,
            mb_per_sec: s.bytes_read as f64 / 1048576.0 / s.elapsed_secs.max(1e-9),
            peak_rss_mb: peak_rss_mb(),
            read_share: Some(s.read_secs / busy),
            transform_share: Some(s.transform_secs / busy),
            write_share: Some(s.write_secs / busy),
            vs_baseline: base.map(|b| rps / b.max(1e-9)),
        });
    }
    if to_pg {
        let dst = pg_endpoint(&catalog, &b.to)?;
        let c = dst.connect().await?;
        c.batch_execute(&format!("DROP TABLE IF EXISTS {scratch}"))
            .await
            .map_err(|e| ferry_postgres::pg_error("dropping the scratch table", &e))?;
    }
    Ok(rows)
}

/// PostgreSQL's own binary COPY out (discarded) and, when `into` is given, COPY in of the
/// same bytes.
async fn copy_baseline(
    src: &ferry_postgres::PgEndpoint,
    table: &str,
    into: Option<&str>,
) -> Result<(BenchRow, Option<BenchRow>)> {
    let client = src.connect().await?;
    let count: i64 = client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .map_err(|e| ferry_postgres::pg_error("counting rows", &e))?
        .get(0);
    let start = Instant::now();
    let stream = client
        .copy_out(&format!("COPY {table} TO STDOUT (FORMAT binary)"))
        .await
        .map_err(|e| ferry_postgres::pg_error("COPY TO", &e))?;
    let mut stream = Box::pin(stream);
    let keep = into.is_some();
    // Kept in 1 MiB pieces so COPY FROM is measured with large messages, as psql sends them.
    let mut chunks: Vec<bytes::Bytes> = Vec::new();
    let mut buf = bytes::BytesMut::new();
    let mut bytes = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ferry_postgres::pg_error("COPY TO", &e))?;
        bytes += chunk.len() as u64;
        if keep {
            buf.extend_from_slice(&chunk);
            if buf.len() >= 1 << 20 {
                chunks.push(buf.split().freeze());
            }
        }
    }
    if !buf.is_empty() {
        chunks.push(buf.freeze());
    }
    let secs = start.elapsed().as_secs_f64();
    let row = |leg: &str, secs: f64| BenchRow {
        leg: leg.into(),
        channels: 1,
        rows: count as u64,
        mb: bytes as f64 / 1048576.0,
        secs,
        rows_per_sec: count as f64 / secs.max(1e-9),
        mb_per_sec: bytes as f64 / 1048576.0 / secs.max(1e-9),
        peak_rss_mb: None,
        read_share: None,
        transform_share: None,
        write_share: None,
        vs_baseline: None,
    };
    let out = row("postgres COPY TO STDOUT (binary), discarded", secs);
    let inn = match into {
        None => None,
        Some(t) => {
            use futures::SinkExt;
            let start = Instant::now();
            let sink = client
                .copy_in::<_, bytes::Bytes>(&format!("COPY {t} FROM STDIN (FORMAT binary)"))
                .await
                .map_err(|e| ferry_postgres::pg_error("COPY FROM", &e))?;
            let mut sink = Box::pin(sink);
            for c in chunks {
                sink.send(c)
                    .await
                    .map_err(|e| ferry_postgres::pg_error("COPY FROM", &e))?;
            }
            sink.as_mut()
                .finish()
                .await
                .map_err(|e| ferry_postgres::pg_error("COPY FROM", &e))?;
            let r = row(
                "postgres COPY FROM STDIN (binary), same bytes",
                start.elapsed().as_secs_f64(),
            );
            client
                .batch_execute(&format!("TRUNCATE {t}"))
                .await
                .map_err(|e| ferry_postgres::pg_error("truncating the scratch table", &e))?;
            Some(r)
        }
    };
    Ok((out, inn))
}

/// Create and fill a test table: `person` (the seed's shape) or `wide` (16 columns), ~5% NULLs.
pub async fn generate(
    catalog: Arc<Catalog>,
    kind: &str,
    rows: u64,
    into: &str,
    table: Option<&str>,
) -> Result<String> {
    let ep = pg_endpoint(&catalog, into)?;
    let client = ep.connect().await?;
    let (name, ddl, fill) = match kind {
        "person" => {
            let t = table.unwrap_or("public.person");
            (
                t.to_string(),
                format!("DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (id bigint PRIMARY KEY, name text, year bigint, birthdate timestamp, ismarried boolean, interest text, salary double precision)"),
                format!("INSERT INTO {t} SELECT g, 'name-' || g, 1950 + g % 60, timestamp '1950-01-01' + g * interval '37 minutes', CASE WHEN g % 20 = 0 THEN NULL ELSE g % 3 = 0 END, CASE WHEN g % 20 = 1 THEN NULL ELSE 'interest-' || (g % 97) END, CASE WHEN g % 20 = 2 THEN NULL ELSE 1000 + (g % 100000) / 7.0 END FROM generate_series(1, {rows}) g"),
            )
        }
        "wide" => {
            let t = table.unwrap_or("public.wide");
            (
                t.to_string(),
                format!("DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (id bigint PRIMARY KEY, a int4, b int8, c numeric(15,2), d date, e text, f varchar(40), g timestamp, h boolean, i int4, j numeric(15,2), k text, l date, m varchar(40), n timestamp, o boolean)"),
                format!("INSERT INTO {t} SELECT g, NULLIF(g % 1000, 7), g * 31, CASE WHEN g % 20 = 3 THEN NULL ELSE (g % 1000000) / 100.0 END, date '2000-01-01' + (g % 9000), CASE WHEN g % 20 = 4 THEN NULL ELSE md5(g::text) END, 'v-' || (g % 5000), timestamp '2020-01-01' + g * interval '1 second', g % 2 = 0, g % 77, (g % 99999) / 3.0, CASE WHEN g % 20 = 5 THEN NULL ELSE 'text ' || g END, CASE WHEN g % 20 = 6 THEN NULL ELSE date '1990-01-01' + (g % 12000) END, 'w' || (g % 300), timestamp '2010-06-01' + g * interval '17 seconds', CASE WHEN g % 20 = 7 THEN NULL ELSE g % 3 = 0 END FROM generate_series(1, {rows}) g"),
            )
        }
        other => {
            return Err(Error::config(format!(
                "--generate {other}: use person or wide"
            )))
        }
    };
    let start = Instant::now();
    client
        .batch_execute(&ddl)
        .await
        .map_err(|e| ferry_postgres::pg_error("creating the table", &e))?;
    client
        .batch_execute(&fill)
        .await
        .map_err(|e| ferry_postgres::pg_error("filling the table", &e))?;
    client
        .batch_execute(&format!("ANALYZE {name}"))
        .await
        .map_err(|e| ferry_postgres::pg_error("analyzing the table", &e))?;
    Ok(format!(
        "created {name} with {rows} rows in {:.1}s on {}",
        start.elapsed().as_secs_f64(),
        ep.display()
    ))
}

/// Render rows as a table.
pub fn render(rows: &[BenchRow]) -> String {
    let mut out = format!(
        "{:<52} {:>3} {:>10} {:>9} {:>8} {:>12} {:>9} {:>9} {:>17} {:>9}\n",
        "leg",
        "ch",
        "rows",
        "MB",
        "secs",
        "rows/s",
        "MB/s",
        "peak MB",
        "read/xform/write",
        "vs base"
    );
    for r in rows {
        let shares = match (r.read_share, r.transform_share, r.write_share) {
            (Some(a), Some(b), Some(c)) => {
                format!("{:.0}/{:.0}/{:.0}%", a * 100.0, b * 100.0, c * 100.0)
            }
            _ => "-".into(),
        };
        out.push_str(&format!(
            "{:<52} {:>3} {:>10} {:>9.1} {:>8.2} {:>12.0} {:>9.1} {:>9} {:>17} {:>9}\n",
            r.leg,
            r.channels,
            r.rows,
            r.mb,
            r.secs,
            r.rows_per_sec,
            r.mb_per_sec,
            r.peak_rss_mb
                .map(|m| format!("{m:.0}"))
                .unwrap_or_else(|| "-".into()),
            shares,
            r.vs_baseline
                .map(|v| format!("{v:.2}x"))
                .unwrap_or_else(|| "-".into()),
        ));
    }
    out
}
