//! `ferry bench`: measure a transfer at several channel counts (each repeated, min and
//! median), optionally against the database's own COPY, and generate reproducible test tables.
//!
//! Sources: a PostgreSQL or ODPS datasource (`--from DS --table T`) or Parquet files
//! (`--from parquet:PATH`). Targets: `null`, `parquet:PATH`, or a PostgreSQL or ODPS
//! datasource, where a scratch table with the source's columns is created and dropped.
//!
//! ```text
//! ferry bench --from l_PostGreSql --table public.person --to null --channels 1,2,4 --baseline
//! ferry bench --from l_PostGreSql --table public.person --to l_PostGreSql --repeat 3 --baseline
//! ferry bench --from parquet:staged/person --table public.person --to l_PostGreSql --baseline
//! ferry bench --from odps_first --table person --to l_PostGreSql
//! ferry bench --generate person --rows 5000000 --into l_PostGreSql
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::SchemaRef;
use clap::Args;
use ferry_core::catalog::Catalog;
use ferry_core::job::{Job, JobShape, PluginSpec, Settings};
use ferry_core::plugin::BuildContext;
use ferry_core::{Error, Result};
use ferry_runtime::{run_job, RunOptions};
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Source: a PostgreSQL or ODPS datasource (with --table), or `parquet:PATH` (a file, folder or glob).
    #[arg(long)]
    from: Option<String>,
    /// Source table (with --from DATASOURCE); with --from parquet: a PostgreSQL table the
    /// scratch target copies its column types from (optional); with --generate: the table to create.
    #[arg(long)]
    table: Option<String>,
    /// Target: `null` (discard), `parquet:PATH`, or a PostgreSQL or ODPS datasource (a scratch table is created and dropped).
    #[arg(long, default_value = "null")]
    to: String,
    /// Channel counts to try, comma-separated.
    #[arg(long, default_value = "1,2")]
    channels: String,
    /// Runs of each measurement; the table shows the fastest and the median.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Split key for a PostgreSQL reader (default: ctid ranges).
    #[arg(long)]
    split_pk: Option<String>,
    /// Partition to read from a partitioned ODPS source (`pt=20261122`).
    #[arg(long)]
    partition: Option<String>,
    /// Extra reader parameter, `KEY=VALUE` (VALUE is JSON, else a string); repeatable.
    #[arg(long = "reader-param", value_name = "KEY=VALUE")]
    reader_params: Vec<String>,
    /// Extra writer parameter, `KEY=VALUE` (VALUE is JSON, else a string); repeatable.
    #[arg(long = "writer-param", value_name = "KEY=VALUE")]
    writer_params: Vec<String>,
    /// Leave the scratch table in place afterwards (it still is replaced at the start).
    #[arg(long)]
    keep: bool,
    /// A PostgreSQL target is a logged table with this primary key, as users load into
    /// (default: an UNLOGGED table without keys).
    #[arg(long, value_name = "COL")]
    target_pk: Option<String>,
    /// Also measure PostgreSQL's own binary COPY of the same data (out, in, and the out|in pipe).
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
    pub catalog: Option<PathBuf>,
}

/// `ferry bench ...`, with the catalog `a.catalog` names (loaded by the caller).
pub async fn cmd(a: BenchArgs, catalog: Arc<Catalog>) -> Result<i32> {
    if let Some(kind) = &a.generate {
        let into = a
            .into
            .as_deref()
            .ok_or_else(|| Error::config("--generate needs --into DATASOURCE"))?;
        let msg = generate(catalog, kind, a.rows, into, a.table.as_deref()).await?;
        println!("{msg}");
        return Ok(0);
    }
    let from = a.from.ok_or_else(|| {
        Error::config("give --from DATASOURCE --table T, --from parquet:PATH, or --generate")
    })?;
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
    if a.repeat == 0 {
        return Err(Error::config("--repeat must be at least 1"));
    }
    let rows = transfer(
        catalog,
        &TransferBench {
            from,
            table: a.table,
            to: a.to,
            channels,
            repeat: a.repeat,
            split_pk: a.split_pk,
            partition: a.partition,
            reader_params: parse_kv(&a.reader_params, "--reader-param")?,
            writer_params: parse_kv(&a.writer_params, "--writer-param")?,
            keep: a.keep,
            target_pk: a.target_pk,
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

/// `KEY=VALUE` pairs; VALUE is parsed as JSON when it is JSON, else kept as a string.
fn parse_kv(items: &[String], flag: &str) -> Result<serde_json::Map<String, Value>> {
    let mut m = serde_json::Map::new();
    for it in items {
        let (k, v) = it
            .split_once('=')
            .filter(|(k, _)| !k.trim().is_empty())
            .ok_or_else(|| Error::config(format!("{flag} {it}: expected KEY=VALUE")))?;
        let v = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
        m.insert(k.trim().to_string(), v);
    }
    Ok(m)
}

/// One measurement (the fastest of `runs` runs, with the median beside it).
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    /// What ran (`ferry SRC -> DST`, `postgres COPY TO STDOUT (binary), discarded`, ...).
    pub leg: String,
    /// Channels.
    pub channels: usize,
    /// Rows moved.
    pub rows: u64,
    /// Megabytes (MiB) moved, as the reader counts them (or COPY bytes for baselines).
    pub mb: f64,
    /// Wall-clock seconds of the fastest run.
    pub secs: f64,
    /// Median wall-clock seconds over the runs.
    pub secs_median: f64,
    /// Runs measured.
    pub runs: usize,
    /// Rows per second of the fastest run.
    pub rows_per_sec: f64,
    /// MiB per second of the fastest run.
    pub mb_per_sec: f64,
    /// Highest peak resident memory of this process over the runs, MiB (Linux).
    pub peak_rss_mb: Option<f64>,
    /// Share of channel time spent reading (fastest run).
    pub read_share: Option<f64>,
    /// Share of channel time spent transforming (fastest run).
    pub transform_share: Option<f64>,
    /// Share of channel time spent writing (fastest run).
    pub write_share: Option<f64>,
    /// ferry's rows/s over the baseline's, when measured.
    pub vs_baseline: Option<f64>,
    /// Which baseline `vs_baseline` divides by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
}

/// Fastest and median of a set of timings.
fn min_median(secs: &[f64]) -> (f64, f64) {
    let mut v = secs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let n = v.len();
    let med = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    (v[0], med)
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
#[derive(Debug, Clone, Default)]
pub struct TransferBench {
    /// Source: a PostgreSQL or ODPS datasource, or `parquet:PATH`.
    pub from: String,
    /// Source table (datasource sources); for a Parquet source, an optional PostgreSQL table
    /// whose column types the scratch target copies (`LIKE`).
    pub table: Option<String>,
    /// `null`, `parquet:PATH`, or a PostgreSQL or ODPS datasource (a scratch table is created and dropped).
    pub to: String,
    /// Channel counts to try.
    pub channels: Vec<usize>,
    /// Runs of each measurement (min and median are reported); 0 counts as 1.
    pub repeat: usize,
    /// Split key of a PostgreSQL reader (default: none → ctid ranges).
    pub split_pk: Option<String>,
    /// Partition of an ODPS source.
    pub partition: Option<String>,
    /// Extra reader parameters.
    pub reader_params: serde_json::Map<String, Value>,
    /// Extra writer parameters.
    pub writer_params: serde_json::Map<String, Value>,
    /// Keep the scratch table afterwards.
    pub keep: bool,
    /// A PostgreSQL target is a logged table with this primary key (default: UNLOGGED, no keys).
    pub target_pk: Option<String>,
    /// Also measure PostgreSQL's own binary COPY of the same data.
    pub baseline: bool,
}

/// One end of a bench.
enum End {
    Null,
    Parquet(String),
    Pg {
        name: String,
        ep: ferry_postgres::PgEndpoint,
    },
    Odps {
        name: String,
        src: ferry_odps::OdpsSource,
    },
}

fn resolve(catalog: &Catalog, spec: &str, flag: &str) -> Result<End> {
    if spec == "null" {
        return Ok(End::Null);
    }
    if let Some(p) = spec.strip_prefix("parquet:") {
        if p.is_empty() {
            return Err(Error::config(format!("{flag} parquet:PATH needs a path")));
        }
        return Ok(End::Parquet(p.to_string()));
    }
    let ds = catalog
        .get(spec)
        .map_err(|e| e.context(format!("{flag} {spec}")))?;
    if ds.kind() == ferry_odps::CONNECTOR.name {
        Ok(End::Odps {
            name: spec.to_string(),
            src: ferry_odps::OdpsSource::from_datasource(spec, ds)?,
        })
    } else {
        Ok(End::Pg {
            name: spec.to_string(),
            ep: ferry_postgres::PgEndpoint::from_datasource(spec, ds)
                .map_err(|e| e.context(format!("{flag} {spec}")))?,
        })
    }
}

fn pg_endpoint(catalog: &Catalog, name: &str) -> Result<ferry_postgres::PgEndpoint> {
    ferry_postgres::PgEndpoint::from_datasource(name, catalog.get(name)?)
        .map_err(|e| e.context("ferry bench --generate writes PostgreSQL"))
}

/// `<base>_ferry_bench`, where base is the table's (or Parquet folder's) last name part.
fn scratch_base(b: &TransferBench, src: &End) -> String {
    let raw = match (src, &b.table) {
        (_, Some(t)) => t.clone(),
        (End::Parquet(p), None) => Path::new(p)
            .components()
            .rev()
            .filter_map(|c| c.as_os_str().to_str())
            .find(|c| !c.contains('*') && !c.ends_with(".parquet") && !c.contains('='))
            .unwrap_or("parquet")
            .to_string(),
        _ => "bench".to_string(),
    };
    let last = raw.rsplit('.').next().unwrap_or(&raw).trim_matches('"');
    let mut base: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if base.is_empty() || base.starts_with(|c: char| c.is_ascii_digit()) {
        base.insert_str(0, "t_");
    }
    format!("{base}_ferry_bench")
}

fn merge(mut params: Value, extra: &serde_json::Map<String, Value>) -> Value {
    if let Some(m) = params.as_object_mut() {
        for (k, v) in extra {
            m.insert(k.clone(), v.clone());
        }
    }
    params
}

fn reader_spec(src: &End, b: &TransferBench) -> Result<PluginSpec> {
    let need_table = || {
        b.table
            .clone()
            .ok_or_else(|| Error::config("--table is required with --from DATASOURCE"))
    };
    let (plugin, written_as, params) = match src {
        End::Null => return Err(Error::config("--from null: null is only a target")),
        End::Parquet(p) => (
            "parquet",
            "parquetreader",
            json!({"path": p, "column": ["*"]}),
        ),
        End::Pg { name, .. } => {
            let mut p = json!({"datasource": name, "table": need_table()?, "column": ["*"]});
            if let Some(pk) = &b.split_pk {
                p["splitPk"] = json!(pk);
            }
            ("postgresql", "postgresqlreader", p)
        }
        End::Odps { name, .. } => {
            let mut p = json!({"datasource": name, "table": need_table()?, "column": ["*"]});
            if let Some(pt) = &b.partition {
                p["partition"] = json!(pt);
            }
            ("odps", "odpsreader", p)
        }
    };
    Ok(PluginSpec {
        plugin,
        written_as: written_as.into(),
        params: merge(params, &b.reader_params),
        path: "bench.reader".into(),
    })
}

fn writer_spec(dst: &End, scratch: &str, b: &TransferBench) -> PluginSpec {
    let (plugin, written_as, params) = match dst {
        End::Null => ("stream", "streamwriter", json!({"print": false})),
        End::Parquet(path) => (
            "parquet",
            "parquetwriter",
            json!({"path": path, "fileName": "bench", "writeMode": "truncate"}),
        ),
        End::Pg { name, .. } => (
            "postgresql",
            "postgresqlwriter",
            json!({"datasource": name, "table": scratch, "column": ["*"]}),
        ),
        End::Odps { name, .. } => (
            "odps",
            "odpswriter",
            json!({"datasource": name, "table": scratch, "column": ["*"], "truncate": true}),
        ),
    };
    PluginSpec {
        plugin,
        written_as: written_as.into(),
        params: merge(params, &b.writer_params),
        path: "bench.writer".into(),
    }
}

/// The columns the source produces, as the transform sees them.
async fn source_schema(catalog: &Arc<Catalog>, spec: &PluginSpec) -> Result<SchemaRef> {
    let ctx = BuildContext {
        catalog: Arc::clone(catalog),
        channels: 1,
        job_name: "bench-describe".into(),
        source_schema: None,
        run_id: ferry_core::plugin::new_run_id(),
    };
    let reader = ferry_core::connector::reader(spec.plugin)?
        .build(&spec.params, &spec.path, &ctx)
        .await?;
    let schema = ferry_core::plugin::logical_schema(&reader.schema(), &reader.layout());
    reader.close().await?;
    Ok(schema)
}

fn pg_columns(schema: &SchemaRef) -> Result<String> {
    schema
        .fields()
        .iter()
        .map(|f| {
            let t = ferry_postgres::types::pg_type_for_arrow(f.data_type()).ok_or_else(|| {
                Error::schema(format!(
                    "ferry bench: column \"{}\" of type {} has no PostgreSQL type for the scratch table",
                    f.name(),
                    f.data_type()
                ))
            })?;
            Ok(format!("\"{}\" {t}", f.name().replace('"', "\"\"")))
        })
        .collect::<Result<Vec<_>>>()
        .map(|v| v.join(", "))
}

fn odps_columns(schema: &SchemaRef) -> Result<String> {
    schema
        .fields()
        .iter()
        .map(|f| {
            let t = ferry_odps::wire::odps_type_for_arrow(f.data_type())
                .map_err(|e| e.context(format!("ferry bench: scratch column \"{}\"", f.name())))?;
            Ok(format!("`{}` {t}", f.name().replace('`', "")))
        })
        .collect::<Result<Vec<_>>>()
        .map(|v| v.join(", "))
}

async fn pg_exec(ep: &ferry_postgres::PgEndpoint, sql: &str, what: &str) -> Result<()> {
    let c = ep.connect().await?;
    c.batch_execute(sql)
        .await
        .map_err(|e| ferry_postgres::pg_error(what, &e))
}

/// What one ferry run reported.
#[derive(Debug, Clone, Copy)]
struct RunStats {
    secs: f64,
    rows: u64,
    bytes: u64,
    read: f64,
    transform: f64,
    write: f64,
}

/// Run the transfer bench; returns one row per measurement (baselines first).
pub async fn transfer(catalog: Arc<Catalog>, b: &TransferBench) -> Result<Vec<BenchRow>> {
    let src = resolve(&catalog, &b.from, "--from")?;
    let dst = resolve(&catalog, &b.to, "--to")?;
    let reader = reader_spec(&src, b)?;
    let base = scratch_base(b, &src);
    let scratch = match &dst {
        End::Pg { .. } => format!("public.{base}"),
        _ => base,
    };
    match &dst {
        End::Pg { name, ep } => {
            let like = match &src {
                End::Pg { name: s, .. } if s == name => b.table.clone(),
                End::Parquet(_) => b.table.clone(),
                _ => None,
            };
            let cols = match like {
                Some(t) => format!("LIKE {t} INCLUDING DEFAULTS"),
                None => pg_columns(&source_schema(&catalog, &reader).await?)?,
            };
            let sql = match &b.target_pk {
                Some(pk) => format!(
                    "DROP TABLE IF EXISTS {scratch}; CREATE TABLE {scratch} ({cols}); \
                     ALTER TABLE {scratch} ADD PRIMARY KEY ({})",
                    ferry_postgres::quote_ident(pk)
                ),
                None => format!(
                    "DROP TABLE IF EXISTS {scratch}; CREATE UNLOGGED TABLE {scratch} ({cols})"
                ),
            };
            pg_exec(ep, &sql, &format!("creating the scratch table {scratch}")).await?;
        }
        End::Odps { src: o, .. } => {
            let cols = odps_columns(&source_schema(&catalog, &reader).await?)?;
            ferry_odps::run_sql(o, &format!("DROP TABLE IF EXISTS {scratch}")).await?;
            ferry_odps::run_sql(o, &format!("CREATE TABLE {scratch} ({cols})"))
                .await
                .map_err(|e| e.context(format!("creating the ODPS scratch table {scratch}")))?;
        }
        _ => {}
    }
    let res = measure(&catalog, b, &src, &dst, &reader, &scratch).await;
    if !b.keep {
        let dropped = match &dst {
            End::Pg { ep, .. } => {
                pg_exec(
                    ep,
                    &format!("DROP TABLE IF EXISTS {scratch}"),
                    &format!("dropping the scratch table {scratch}"),
                )
                .await
            }
            End::Odps { src: o, .. } => {
                ferry_odps::run_sql(o, &format!("DROP TABLE IF EXISTS {scratch}"))
                    .await
                    .map(|_| ())
            }
            _ => Ok(()),
        };
        if res.is_ok() {
            dropped?;
        }
    }
    res
}

async fn measure(
    catalog: &Arc<Catalog>,
    b: &TransferBench,
    src: &End,
    dst: &End,
    reader: &PluginSpec,
    scratch: &str,
) -> Result<Vec<BenchRow>> {
    let repeat = b.repeat.max(1);
    let mut rows = Vec::new();
    let mut base: Option<BenchRow> = None;
    if b.baseline {
        if let (End::Pg { ep: s, .. }, Some(table)) = (src, &b.table) {
            let out = copy_out_baseline(s, table, repeat).await?;
            if !matches!(dst, End::Pg { .. }) {
                base = Some(out.clone());
            }
            rows.push(out);
            if let End::Pg { ep: d, .. } = dst {
                let spool = Spool::new();
                let (n, bytes) = spool_copy_out(
                    s,
                    &format!("COPY {table} TO STDOUT (FORMAT binary)"),
                    &spool.0,
                )
                .await?;
                rows.push(
                    copy_in_baseline(
                        d,
                        scratch,
                        &spool.0,
                        n,
                        bytes,
                        repeat,
                        "postgres COPY FROM STDIN (binary), same bytes",
                    )
                    .await?,
                );
                let pipe = pipe_baseline(s, table, d, scratch, n, repeat).await?;
                base = Some(pipe.clone());
                rows.push(pipe);
            }
        }
    }
    let writer = writer_spec(dst, scratch, b);
    let mut ferry_rows = Vec::new();
    for &ch in &b.channels {
        let mut runs: Vec<RunStats> = Vec::new();
        let mut peak: Option<f64> = None;
        for _ in 0..repeat {
            if let End::Pg { ep, .. } = dst {
                pg_exec(
                    ep,
                    &format!("TRUNCATE {scratch}"),
                    &format!("truncating the scratch table {scratch}"),
                )
                .await?;
            }
            let job = Job {
                name: format!("bench {} -> {}", b.from, b.to),
                shape: JobShape::DataX,
                reader: reader.clone(),
                writer: writer.clone(),
                transformers: vec![],
                settings: Settings {
                    channels: ch,
                    ..Default::default()
                },
                warnings: vec![],
            };
            let plugins = ferry_runtime::Plugins::named(job.reader.plugin, job.writer.plugin)?;
            let ctx = BuildContext {
                catalog: Arc::clone(catalog),
                channels: ch,
                job_name: job.name.clone(),
                source_schema: None,
                run_id: ferry_core::plugin::new_run_id(),
            };
            let opts = RunOptions {
                progress_every: None,
                ..Default::default()
            };
            reset_peak_rss();
            let (s, err) = run_job(&job, &plugins, &ctx, &opts).await;
            if let Some(e) = err {
                return Err(e.context(format!("bench {} -> {} with {ch} channel(s)", b.from, b.to)));
            }
            peak = match (peak, peak_rss_mb()) {
                (Some(a), Some(c)) => Some(a.max(c)),
                (a, c) => a.or(c),
            };
            runs.push(RunStats {
                secs: s.elapsed_secs,
                rows: s.records_read,
                bytes: s.bytes_read,
                read: s.read_secs,
                transform: s.transform_secs,
                write: s.write_secs,
            });
        }
        let secs: Vec<f64> = runs.iter().map(|r| r.secs).collect();
        let (min, med) = min_median(&secs);
        let best = runs
            .iter()
            .copied()
            .min_by(|a, c| a.secs.total_cmp(&c.secs))
            .ok_or_else(|| Error::internal("bench: no run"))?;
        let busy = (best.read + best.transform + best.write).max(1e-9);
        let mb = best.bytes as f64 / 1048576.0;
        ferry_rows.push(BenchRow {
            leg: format!("ferry {} -> {}", b.from, b.to),
            channels: ch,
            rows: best.rows,
            mb,
            secs: min,
            secs_median: med,
            runs: runs.len(),
            rows_per_sec: best.rows as f64 / min.max(1e-9),
            mb_per_sec: mb / min.max(1e-9),
            peak_rss_mb: peak,
            read_share: Some(best.read / busy),
            transform_share: Some(best.transform / busy),
            write_share: Some(best.write / busy),
            vs_baseline: None,
            baseline: None,
        });
    }
    // Parquet -> PostgreSQL: COPY FROM of the same rows, as PostgreSQL's binary COPY writes
    // them (taken from the scratch table ferry just filled).
    if b.baseline {
        if let (End::Parquet(_), End::Pg { ep: d, .. }) = (src, dst) {
            let spool = Spool::new();
            let (n, bytes) = spool_copy_out(
                d,
                &format!("COPY {scratch} TO STDOUT (FORMAT binary)"),
                &spool.0,
            )
            .await?;
            let inn = copy_in_baseline(
                d,
                scratch,
                &spool.0,
                n,
                bytes,
                repeat,
                "postgres COPY FROM STDIN (binary), same rows",
            )
            .await?;
            base = Some(inn.clone());
            rows.push(inn);
        }
    }
    if let Some(base) = &base {
        for r in &mut ferry_rows {
            r.vs_baseline = Some(r.rows_per_sec / base.rows_per_sec.max(1e-9));
            r.baseline = Some(base.leg.clone());
        }
    }
    rows.extend(ferry_rows);
    Ok(rows)
}

/// A temporary file for COPY bytes, removed on drop.
struct Spool(PathBuf);

impl Spool {
    fn new() -> Spool {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Spool(std::env::temp_dir().join(format!("ferry-bench-{}-{n}.copy", std::process::id())))
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn baseline_row(leg: &str, rows: u64, bytes: u64, secs: &[f64]) -> BenchRow {
    let (min, med) = min_median(secs);
    let mb = bytes as f64 / 1048576.0;
    BenchRow {
        leg: leg.into(),
        channels: 1,
        rows,
        mb,
        secs: min,
        secs_median: med,
        runs: secs.len(),
        rows_per_sec: rows as f64 / min.max(1e-9),
        mb_per_sec: mb / min.max(1e-9),
        peak_rss_mb: None,
        read_share: None,
        transform_share: None,
        write_share: None,
        vs_baseline: None,
        baseline: None,
    }
}

async fn count_rows(ep: &ferry_postgres::PgEndpoint, table: &str) -> Result<u64> {
    let client = ep.connect().await?;
    let n: i64 = client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .map_err(|e| ferry_postgres::pg_error(&format!("counting the rows of {table}"), &e))?
        .get(0);
    Ok(n.max(0) as u64)
}

/// `COPY table TO STDOUT (FORMAT binary)`, bytes discarded, `repeat` times.
async fn copy_out_baseline(
    src: &ferry_postgres::PgEndpoint,
    table: &str,
    repeat: usize,
) -> Result<BenchRow> {
    let client = src.connect().await?;
    let count = count_rows(src, table).await?;
    let sql = format!("COPY {table} TO STDOUT (FORMAT binary)");
    let mut secs = Vec::new();
    let mut bytes = 0u64;
    for _ in 0..repeat {
        let start = Instant::now();
        let stream = client
            .copy_out(&sql)
            .await
            .map_err(|e| ferry_postgres::pg_error(&format!("COPY {table} TO STDOUT"), &e))?;
        let mut stream = Box::pin(stream);
        bytes = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk
                .map_err(|e| ferry_postgres::pg_error(&format!("COPY {table} TO STDOUT"), &e))?;
            bytes += chunk.len() as u64;
        }
        secs.push(start.elapsed().as_secs_f64());
    }
    Ok(baseline_row(
        "postgres COPY TO STDOUT (binary), discarded",
        count,
        bytes,
        &secs,
    ))
}

/// Run a `COPY ... TO STDOUT` and write its bytes to `path` (not timed); returns (rows, bytes).
async fn spool_copy_out(
    ep: &ferry_postgres::PgEndpoint,
    sql: &str,
    path: &Path,
) -> Result<(u64, u64)> {
    let client = ep.connect().await?;
    let file = tokio::fs::File::create(path)
        .await
        .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
    let mut w = tokio::io::BufWriter::with_capacity(1 << 20, file);
    let stream = client
        .copy_out(sql)
        .await
        .map_err(|e| ferry_postgres::pg_error(sql, &e))?;
    let mut stream = Box::pin(stream);
    let mut bytes = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ferry_postgres::pg_error(sql, &e))?;
        bytes += chunk.len() as u64;
        w.write_all(&chunk)
            .await
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    }
    w.flush()
        .await
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    drop(stream);
    let rows = match sql
        .strip_prefix("COPY ")
        .and_then(|s| s.split_once(" TO STDOUT"))
    {
        Some((table, _)) => count_rows(ep, table).await?,
        None => 0,
    };
    Ok((rows, bytes))
}

/// `COPY scratch FROM STDIN (FORMAT binary)` of the bytes in `path`, sent in 1 MiB
/// messages as psql sends a file, `repeat` times (the scratch table truncated before each).
async fn copy_in_baseline(
    dst: &ferry_postgres::PgEndpoint,
    scratch: &str,
    path: &Path,
    rows: u64,
    bytes: u64,
    repeat: usize,
    leg: &str,
) -> Result<BenchRow> {
    let client = dst.connect().await?;
    let sql = format!("COPY {scratch} FROM STDIN (FORMAT binary)");
    let mut secs = Vec::new();
    for _ in 0..repeat {
        client
            .batch_execute(&format!("TRUNCATE {scratch}"))
            .await
            .map_err(|e| ferry_postgres::pg_error(&format!("truncating {scratch}"), &e))?;
        let start = Instant::now();
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let sink = client
            .copy_in::<_, bytes::Bytes>(&sql)
            .await
            .map_err(|e| ferry_postgres::pg_error(&sql, &e))?;
        let mut sink = Box::pin(sink);
        loop {
            let mut buf = bytes::BytesMut::with_capacity(1 << 20);
            while buf.len() < 1 << 20 {
                let n = file
                    .read_buf(&mut buf)
                    .await
                    .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
                if n == 0 {
                    break;
                }
            }
            if buf.is_empty() {
                break;
            }
            sink.send(buf.freeze())
                .await
                .map_err(|e| ferry_postgres::pg_error(&sql, &e))?;
        }
        sink.as_mut()
            .finish()
            .await
            .map_err(|e| ferry_postgres::pg_error(&sql, &e))?;
        secs.push(start.elapsed().as_secs_f64());
    }
    client
        .batch_execute(&format!("TRUNCATE {scratch}"))
        .await
        .map_err(|e| ferry_postgres::pg_error(&format!("truncating {scratch}"), &e))?;
    Ok(baseline_row(leg, rows, bytes, &secs))
}

/// The `psql -c "COPY t TO STDOUT (FORMAT binary)" | psql -c "COPY s FROM STDIN (FORMAT binary)"`
/// pipe without the psql processes: two connections, bytes forwarded as they arrive.
async fn pipe_baseline(
    src: &ferry_postgres::PgEndpoint,
    table: &str,
    dst: &ferry_postgres::PgEndpoint,
    scratch: &str,
    rows: u64,
    repeat: usize,
) -> Result<BenchRow> {
    use futures::TryStreamExt;
    let from = src.connect().await?;
    let to = dst.connect().await?;
    let out_sql = format!("COPY {table} TO STDOUT (FORMAT binary)");
    let in_sql = format!("COPY {scratch} FROM STDIN (FORMAT binary)");
    let mut secs = Vec::new();
    let mut bytes = 0u64;
    for _ in 0..repeat {
        to.batch_execute(&format!("TRUNCATE {scratch}"))
            .await
            .map_err(|e| ferry_postgres::pg_error(&format!("truncating {scratch}"), &e))?;
        let start = Instant::now();
        let sink = to
            .copy_in::<_, bytes::Bytes>(&in_sql)
            .await
            .map_err(|e| ferry_postgres::pg_error(&in_sql, &e))?;
        let mut sink = Box::pin(sink);
        let stream = from
            .copy_out(&out_sql)
            .await
            .map_err(|e| ferry_postgres::pg_error(&out_sql, &e))?;
        let mut n = 0u64;
        let mut stream = Box::pin(stream.inspect_ok(|c| n += c.len() as u64));
        sink.send_all(&mut stream)
            .await
            .map_err(|e| ferry_postgres::pg_error(&format!("{out_sql} | {in_sql}"), &e))?;
        sink.as_mut()
            .finish()
            .await
            .map_err(|e| ferry_postgres::pg_error(&in_sql, &e))?;
        drop(stream);
        bytes = n;
        secs.push(start.elapsed().as_secs_f64());
    }
    to.batch_execute(&format!("TRUNCATE {scratch}"))
        .await
        .map_err(|e| ferry_postgres::pg_error(&format!("truncating {scratch}"), &e))?;
    Ok(baseline_row(
        "pipe: COPY TO STDOUT | COPY FROM STDIN (binary)",
        rows,
        bytes,
        &secs,
    ))
}

/// Create and fill a test table: `person` (the seed's shape) or `wide` (16 columns), ~5% NULLs.
/// Timestamps stay before 2262 at any row count (the range of a nanosecond Arrow timestamp,
/// which ferry reads and writes ODPS `TIMESTAMP` as), so every leg writes every row.
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
                format!("INSERT INTO {t} SELECT g, 'name-' || g, 1950 + g % 60, timestamp '1950-01-01' + (g % 4000000) * interval '37 minutes', CASE WHEN g % 20 = 0 THEN NULL ELSE g % 3 = 0 END, CASE WHEN g % 20 = 1 THEN NULL ELSE 'interest-' || (g % 97) END, CASE WHEN g % 20 = 2 THEN NULL ELSE 1000 + (g % 100000) / 7.0 END FROM generate_series(1, {rows}) g"),
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
        "{:<52} {:>3} {:>10} {:>9} {:>8} {:>8} {:>12} {:>9} {:>9} {:>17} {:>9}\n",
        "leg",
        "ch",
        "rows",
        "MB",
        "secs",
        "median",
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
            "{:<52} {:>3} {:>10} {:>9.1} {:>8.2} {:>8.2} {:>12.0} {:>9.1} {:>9} {:>17} {:>9}\n",
            r.leg,
            r.channels,
            r.rows,
            r.mb,
            r.secs,
            r.secs_median,
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
    if let Some(b) = rows.iter().find_map(|r| r.baseline.as_deref()) {
        out.push_str(&format!("vs base: ferry's rows/s over \"{b}\"\n"));
    }
    if rows.iter().any(|r| r.runs > 1) {
        out.push_str("secs: the fastest run; median: the median run; rates from the fastest\n");
    }
    out
}
