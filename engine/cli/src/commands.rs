//! The command line: `ferry run`, `ferry validate`, `ferry datasource ...`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime};
use clap::{Args, Parser, Subcommand};
use ferry_core::catalog::{Catalog, Datasource};
use ferry_core::job::{load_job_with, Job, NOTE};
use ferry_core::plugin::BuildContext;
use ferry_core::vars::{self, VarContext};
use ferry_core::{Error, Result};
use ferry_runtime::{run_job, JobPlan, RunOptions, Summary};

use crate::logging::LogFormat;

/// ferry: a fast, Arrow-native data sync engine that runs DataX / DataWorks job JSON.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines on stderr: `text` (coloured only on a terminal, never with NO_COLOR set) or
    /// `json` (one object per line, for schedulers).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a job file.
    ///
    /// Example: ferry run job.json --bizdate 20261122 -p table=person
    Run(RunArgs),
    /// Parse a job, resolve variables, look up datasources, connect and print the plan; moves no data.
    ///
    /// Example: ferry validate testdata/jobs/seed-export-postgresql-to-odps.json
    Validate(JobArgs),
    /// Compare what the source gives (after where, constants and transforms) with what the
    /// target holds: row counts and an order-independent content digest; exit 1 on a mismatch.
    ///
    /// Example: ferry verify jobs/pg-to-pg.json
    Verify(JobArgs),
    /// Manage named datasources (the catalog).
    ///
    /// Example: ferry datasource add l_PostGreSql --type postgresql --jdbc-url jdbc:postgresql://127.0.0.1:5432/postgres --username postgres --password-env PGPASSWORD
    #[command(subcommand)]
    Datasource(DatasourceCmd),
    /// Show the first rows of a Parquet path or a datasource table ("Data Preview").
    ///
    /// Example: ferry preview l_PostGreSql --table public.person --limit 5
    Preview(PreviewArgs),
    /// Ad-hoc SQL (DataFusion) over staged Parquet files; quote paths or globs as tables.
    ///
    /// Example: ferry sql "SELECT pt, count(*) FROM 'staged/person/**/*.parquet' GROUP BY pt"
    Sql(SqlArgs),
    /// Columns and types of a Parquet path or a datasource table, and how they map.
    ///
    /// Example: ferry schema odps_first --table hpg
    Schema(SchemaArgs),
    /// The local MaxCompute-compatible endpoint and ODPS SQL.
    #[command(subcommand)]
    Odps(OdpsCmd),
    /// The one-command demo: throwaway PostgreSQL + local MaxCompute, the two seed jobs unchanged,
    /// previews, staging to Parquet and SQL over it.
    ///
    /// Example: ferry demo --rows 1000
    Demo(DemoArgs),
    /// Measure transfer throughput at several channel counts, or generate test tables.
    ///
    /// Example: ferry bench --from l_PostGreSql --table public.person --to null --channels 1,2 --baseline
    Bench(ferry_bench::BenchArgs),
    /// Write job files: the interactive wizard and commented templates.
    ///
    /// Example: ferry job template --reader postgresql --writer odps
    #[command(subcommand)]
    Job(crate::job_cmd::JobCmd),
    /// The web console: datasources, the job wizard, Script Mode, runs with a live monitor,
    /// staged Parquet and SQL, served on loopback with an access token.
    ///
    /// Example: ferry ui --jobs ./jobs --listen 127.0.0.1:8630
    Ui(crate::ui::UiArgs),
    /// Runs in progress, runs that died, and undoing what a dead run staged.
    ///
    /// Example: ferry runs abort r20261205_081502_3fa9c1
    Runs(crate::runs::RunsArgs),
    /// Plan a run whose splits N processes (shards) write, on one machine or many: the
    /// splits and the writer's prepared target go to the run's directory.
    ///
    /// Example: ferry plan jobs/person.json --shards 4 --state /shared/person-run
    Plan(crate::shards::PlanArgs),
    /// Wait until every split of a sharded run is staged, then commit once (or abort).
    ///
    /// Example: ferry commit --state /shared/person-run
    Commit(crate::shards::EndArgs),
    /// Abort a sharded run: undo what every shard staged; the target stays as it was.
    ///
    /// Example: ferry abort --state /shared/person-run
    Abort(crate::shards::EndArgs),
    /// Plan, wait for the shards, commit: the one process to run next to the shards
    /// (a Kubernetes Job beside the Indexed Job); exits non-zero when the run aborted.
    ///
    /// Example: ferry coordinate jobs/person.json --shards 4 --state /shared/person-run
    Coordinate(crate::shards::CoordinateArgs),
    /// The Kubernetes manifests of a sharded run (deploy/kubernetes/ with the run's name,
    /// shard count, image and job file filled in).
    ///
    /// Example: ferry k8s --name person --shards 8 --image registry.example.com/ferry:0.1.0 --job jobs/person.json --out k8s/
    K8s(crate::k8s::K8sArgs),
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Business date of the import (YYYYMMDD); the export writes the next day. Default: yesterday.
    #[arg(long)]
    bizdate: Option<String>,
    /// Rows in the sample hpg partition.
    #[arg(long, default_value_t = 1000)]
    rows: usize,
    /// Leave the servers running for exploration (Ctrl-C to stop).
    #[arg(long)]
    keep: bool,
    /// Working directory (default: a temp dir, removed afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct PreviewArgs {
    /// A Parquet file, folder or glob, or a datasource name.
    target: String,
    /// Table (for a datasource).
    #[arg(long)]
    table: Option<String>,
    /// ODPS partition (`pt=20261122`).
    #[arg(long)]
    partition: Option<String>,
    /// Rows to show.
    #[arg(long, default_value_t = 10)]
    limit: usize,
    /// A filter (PostgreSQL: SQL; Parquet: DataFusion SQL).
    #[arg(long = "where")]
    where_: Option<String>,
    /// Datasource catalog.
    #[arg(long, env = "FERRY_CATALOG")]
    catalog: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct SqlArgs {
    /// The query.
    query: String,
    /// Output: table, csv or json.
    #[arg(long, default_value = "table")]
    format: String,
}

#[derive(Debug, Args)]
struct SchemaArgs {
    /// A Parquet file, folder or glob, or a datasource name.
    target: String,
    /// Table (for a datasource).
    #[arg(long)]
    table: Option<String>,
    /// Datasource catalog.
    #[arg(long, env = "FERRY_CATALOG")]
    catalog: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum OdpsCmd {
    /// Serve a local MaxCompute-compatible endpoint (REST under /api, tunnel at /).
    ///
    /// Example: ferry odps serve --root /tmp/odps --listen 127.0.0.1:9300 --auth none
    Serve(ServeArgs),
    /// Run one ODPS SQL statement (DDL) through the instance API.
    ///
    /// Example: ferry odps sql --datasource odps_first "CREATE TABLE hpg (id BIGINT) PARTITIONED BY (pt STRING)"
    Sql {
        /// The statement.
        sql: String,
        /// The ODPS datasource.
        #[arg(long)]
        datasource: String,
        /// Datasource catalog.
        #[arg(long, env = "FERRY_CATALOG")]
        catalog: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Storage root (one folder per project and table, Parquet inside).
    #[arg(long)]
    root: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9300")]
    listen: std::net::SocketAddr,
    /// AccessKey id clients must sign with.
    #[arg(long)]
    access_id: Option<String>,
    /// AccessKey secret clients must sign with (or $FERRY_ODPS_ACCESS_KEY).
    #[arg(long, env = "FERRY_ODPS_ACCESS_KEY", hide_env_values = true)]
    access_key: Option<String>,
    /// `none` accepts unsigned requests.
    #[arg(long)]
    auth: Option<String>,
    /// Fault injection, for retry tests: drop the connection of a block upload after this
    /// many body bytes.
    #[arg(long, value_name = "BYTES")]
    drop_block_put_after: Option<u64>,
    /// How many block uploads to drop that way (with --drop-block-put-after).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1,
        requires = "drop_block_put_after"
    )]
    drop_block_puts: u32,
}

#[derive(Debug, Args, Clone)]
pub(crate) struct JobArgs {
    /// The job file (DataWorks v1/v2 or DataX JSON; comments allowed).
    pub(crate) job: PathBuf,
    /// A variable: `-p name=value` (repeatable), or DataX's `-p "-Dname=value -Dother=v"`.
    #[arg(
        short = 'p',
        long = "param",
        value_name = "NAME=VALUE",
        allow_hyphen_values = true
    )]
    pub(crate) params: Vec<String>,
    /// Business date YYYYMMDD, or a range YYYYMMDD..YYYYMMDD to run once per date (backfill).
    #[arg(long)]
    pub(crate) bizdate: Option<String>,
    /// Scheduled time YYYYMMDDhhmmss.
    #[arg(long)]
    pub(crate) cyctime: Option<String>,
    /// Datasource catalog (default: $FERRY_CATALOG, else ~/.config/ferry/datasources.json).
    #[arg(long, env = "FERRY_CATALOG")]
    pub(crate) catalog: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    job: JobArgs,
    /// Where dirty records go (JSONL). Default: ferry-runs/<job>-<time>.dirty.jsonl, created only when needed.
    #[arg(long)]
    dirty_file: Option<PathBuf>,
    /// Also write the summary as JSON to this file.
    #[arg(long)]
    summary_json: Option<PathBuf>,
    /// Exit with code 3 when any record was dirty (schedulers otherwise show green).
    #[arg(long)]
    fail_on_dirty: bool,
    /// Seconds between progress lines (0 = none).
    #[arg(long, default_value_t = 10)]
    progress_secs: u64,
    /// The runs folder: while a run goes on, `<DIR>/<run id>/` holds its plan and a
    /// receipt per finished split (removed when it commits or rolls back; see `ferry runs`).
    /// A shard (--shard): the run's state store, as given to `ferry plan --state` (a
    /// directory or s3://bucket/prefix).
    #[arg(long, value_name = "DIR", default_value = ferry_runtime::state::DEFAULT_ROOT)]
    state: PathBuf,
    /// After a successful run, compare source and target as `ferry verify` does; exit 1 on
    /// a mismatch.
    #[arg(long)]
    verify: bool,
    /// Finish this job's run that died (killed, OOM, reboot; see `ferry runs`): splits it
    /// staged durably are not read again, the rest run, then one commit.
    #[arg(long)]
    resume: bool,
    /// Run shard I of the sharded run planned in --state (`ferry plan`): its splits that
    /// have no receipt yet, staged for `ferry commit`. Default: $JOB_COMPLETION_INDEX when
    /// set (a Kubernetes Indexed Job).
    #[arg(long, value_name = "I")]
    shard: Option<usize>,
    /// Attempts a shard may make (restarts by the scheduler count) before it gives up,
    /// which aborts the run.
    #[arg(long, value_name = "K", default_value_t = 1)]
    shard_attempts: u32,
    /// Seconds a shard waits for the plan to appear in --state.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    plan_wait: u64,
}

#[derive(Debug, Subcommand)]
enum DatasourceCmd {
    /// Add (or replace) a datasource.
    ///
    /// Example: ferry datasource add odps_first --type odps --endpoint http://127.0.0.1:9300/api --project demo --access-id ak --access-key-env ODPS_KEY
    Add(Box<DatasourceAdd>),
    /// List datasources (secrets hidden).
    List {
        /// Catalog file.
        #[arg(long, env = "FERRY_CATALOG")]
        catalog: Option<PathBuf>,
    },
    /// Remove a datasource.
    Remove {
        /// Name.
        name: String,
        /// Catalog file.
        #[arg(long, env = "FERRY_CATALOG")]
        catalog: Option<PathBuf>,
    },
    /// Test connectivity: connect, report the server version and latency.
    Test {
        /// Name.
        name: String,
        /// Catalog file.
        #[arg(long, env = "FERRY_CATALOG")]
        catalog: Option<PathBuf>,
    },
}

/// `ferry datasource add`. Each field of each connector's datasource kind is a flag too
/// (`jdbcUrl` is `--jdbc-url`), added by [`with_field_flags`] and read into `fields`.
#[derive(Debug, Args)]
struct DatasourceAdd {
    /// Name: letters, digits and _, starting with a letter or _, at most 60 characters.
    name: String,
    /// The datasource's type (the connectors' types are listed in the help).
    #[arg(long = "type")]
    kind: String,
    /// Description, at most 80 characters.
    #[arg(long)]
    description: Option<String>,
    /// Catalog file.
    #[arg(long, env = "FERRY_CATALOG")]
    catalog: Option<PathBuf>,
    /// The connector's fields given as flags: (key, value).
    #[arg(skip)]
    fields: Vec<(&'static str, String)>,
}

/// Every installed connector's datasource fields, by flag: (flag, key, who takes it, help).
type FieldFlags = BTreeMap<String, (&'static str, Vec<&'static str>, &'static str)>;

fn field_flags() -> FieldFlags {
    let mut flags = FieldFlags::new();
    for (c, kind) in ferry_core::connector::datasource_kinds() {
        for f in kind.fields {
            flags
                .entry(f.flag())
                .or_insert((f.key, Vec::new(), f.help))
                .1
                .push(c.name);
        }
    }
    flags
}

/// The command line with `ferry datasource add`'s field flags (`field_flags()`, from the
/// installed connectors' datasource kinds).
fn with_field_flags(cmd: clap::Command, flags: &FieldFlags) -> clap::Command {
    cmd.mut_subcommand("datasource", |d| {
        d.mut_subcommand("add", |mut add| {
            let kinds: Vec<String> = ferry_core::connector::datasource_kinds()
                .map(|(c, k)| match k.aliases {
                    [] => c.name.to_string(),
                    a => format!("{} (also {})", c.name, a.join(", ")),
                })
                .collect();
            add = add.mut_arg("kind", |a| {
                a.help(format!("The datasource's type: {}.", kinds.join("; ")))
            });
            for (flag, (key, who, help)) in flags {
                add = add.arg(
                    clap::Arg::new(*key)
                        .long(&*Box::leak(flag.clone().into_boxed_str()))
                        .value_name("VALUE")
                        .help(format!("{}: {help}", who.join(", "))),
                );
            }
            add
        })
    })
}

/// Parse the command line, field flags included.
pub fn parse() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    let flags = field_flags();
    let matches = with_field_flags(Cli::command(), &flags).get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Command::Datasource(DatasourceCmd::Add(add)) = &mut cli.command {
        if let Some(m) = matches
            .subcommand_matches("datasource")
            .and_then(|d| d.subcommand_matches("add"))
        {
            for (key, _, _) in flags.into_values() {
                if let Ok(Some(v)) = m.try_get_one::<String>(key) {
                    add.fields.push((key, v.clone()));
                }
            }
        }
    }
    cli
}

/// Run the command; returns the process exit code.
pub async fn dispatch(cli: Cli) -> i32 {
    let res = match cli.command {
        Command::Run(a) => cmd_run(a).await,
        Command::Validate(a) => cmd_validate(a).await,
        Command::Verify(a) => cmd_verify(a).await,
        Command::Datasource(d) => cmd_datasource(d).await,
        Command::Preview(a) => cmd_preview(a).await,
        Command::Sql(a) => cmd_sql(a).await,
        Command::Schema(a) => cmd_schema(a).await,
        Command::Odps(o) => cmd_odps(o).await,
        Command::Demo(a) => cmd_demo(a).await,
        Command::Bench(a) => match load_catalog(a.catalog.as_deref()) {
            Ok(catalog) => ferry_bench::cmd(a, catalog).await,
            Err(e) => Err(e),
        },
        Command::Job(c) => crate::job_cmd::cmd(c).await,
        Command::Ui(a) => crate::ui::cmd(a).await,
        Command::Runs(a) => crate::runs::cmd(a).await,
        Command::Plan(a) => crate::shards::cmd_plan(a).await,
        Command::Commit(a) => crate::shards::cmd_commit(a).await,
        Command::Abort(a) => crate::shards::cmd_abort(a).await,
        Command::Coordinate(a) => crate::shards::cmd_coordinate(a).await,
        Command::K8s(a) => crate::k8s::cmd(a),
    };
    match res {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

/// Parse `-p` values: `name=value` or `-Dname=value -Dother=v`.
fn parse_params(raw: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for item in raw {
        let parts: Vec<&str> = if item.trim_start().starts_with("-D") {
            item.split_whitespace().collect()
        } else {
            vec![item.as_str()]
        };
        for p in parts {
            let p = p.strip_prefix("-D").unwrap_or(p);
            let (k, v) = p
                .split_once('=')
                .ok_or_else(|| Error::config(format!("-p {item}: expected name=value")))?;
            if k.is_empty() {
                return Err(Error::config(format!("-p {item}: empty variable name")));
            }
            out.insert(k.to_string(), v.to_string());
        }
    }
    Ok(out)
}

fn parse_cyctime(s: &str) -> Result<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S")
        .map_err(|_| Error::config(format!("--cyctime {s}: expected YYYYMMDDhhmmss")))
}

/// The variable contexts to run with: one per business date (backfill gives several).
pub(crate) fn var_contexts(a: &JobArgs) -> Result<Vec<VarContext>> {
    let params = parse_params(&a.params)?;
    let today = chrono::Local::now().date_naive();
    let cyctime = a.cyctime.as_deref().map(parse_cyctime).transpose()?;
    let dates: Vec<Option<NaiveDate>> = match &a.bizdate {
        Some(b) => vars::parse_bizdate_arg(b)?.into_iter().map(Some).collect(),
        None => vec![None],
    };
    Ok(dates
        .into_iter()
        .map(|d| {
            VarContext::new(
                d,
                if dates_is_range(a) { None } else { cyctime },
                today,
                params.clone(),
            )
        })
        .collect())
}

fn dates_is_range(a: &JobArgs) -> bool {
    a.bizdate.as_deref().is_some_and(|b| b.contains(".."))
}

pub(crate) fn load_catalog(explicit: Option<&Path>) -> Result<Arc<Catalog>> {
    let path = Catalog::default_path(explicit);
    Ok(Arc::new(Catalog::load(&path)?))
}

pub(crate) fn check_job(job: &Job, catalog: &Catalog, warnings: &mut Vec<String>) -> Result<()> {
    for spec in [&job.reader, &job.writer] {
        if let Some(name) = spec.params.get("datasource").and_then(|v| v.as_str()) {
            let ds = catalog
                .get(name)
                .map_err(|e| e.context(format!("{}.datasource", spec.path)))?;
            if ds.kind() != spec.plugin {
                return Err(Error::config(format!(
                    "{}.datasource: \"{name}\" is a {} datasource, but the plugin is {}",
                    spec.path,
                    ds.kind(),
                    spec.plugin
                )));
            }
        }
    }
    ferry_core::connector::reader(job.reader.plugin)?.check(
        &job.reader.params,
        &job.reader.path,
        warnings,
    )?;
    ferry_core::connector::writer(job.writer.plugin)?.check(
        &job.writer.params,
        &job.writer.path,
        warnings,
    )?;
    Ok(())
}

async fn cmd_validate(a: JobArgs) -> Result<i32> {
    let catalog = load_catalog(a.catalog.as_deref())?;
    for vars in var_contexts(&a)? {
        let job = load_job_with(&a.job, &vars, Some(&*catalog))?;
        println!("job        : {}", job.name);
        println!("shape      : {:?}", job.shape);
        println!("bizdate    : {}", vars.bizdate.format("%Y%m%d"));
        println!(
            "reader     : {} ({})",
            job.reader.plugin, job.reader.written_as
        );
        println!(
            "writer     : {} ({})",
            job.writer.plugin, job.writer.written_as
        );
        println!("channels   : {}", job.settings.channels);
        if let Some(b) = job.settings.bytes_per_sec {
            println!("byte limit : {b} bytes/s");
        }
        if let Some(r) = job.settings.records_per_sec {
            println!("row limit  : {r} records/s");
        }
        println!(
            "errorLimit : record={} percentage={}",
            job.settings
                .error_limit
                .record
                .map(|r| r.to_string())
                .unwrap_or_else(|| "unlimited".into()),
            job.settings
                .error_limit
                .percentage
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into())
        );
        let mut warnings = job.warnings.clone();
        check_job(&job, &catalog, &mut warnings)?;
        for w in &warnings {
            match w.strip_prefix(NOTE) {
                Some(n) => println!("note       : {n}"),
                None => println!("warning    : {w}"),
            }
        }
        let plan = plan_job(&job, &catalog).await?;
        println!("source     : {}", plan.source);
        println!("target     : {}", plan.target);
        println!(
            "splits     : {} (running {} at once)",
            plan.splits.len(),
            plan.channels
        );
        for s in &plan.splits {
            println!("  {s}");
        }
        println!("ok");
    }
    Ok(0)
}

/// What `ferry validate` prints after the checks: both schemas and the split plan.
#[derive(Debug, serde::Serialize)]
pub(crate) struct PlanReport {
    /// The reader's columns, `name type, ...`.
    pub source: String,
    /// The writer's columns.
    pub target: String,
    /// `[index] description` of each split.
    pub splits: Vec<String>,
    /// Channels running at once.
    pub channels: usize,
}

/// Connect both sides and plan the splits, as `ferry validate` does (no data moves).
pub(crate) async fn plan_job(job: &Job, catalog: &Arc<Catalog>) -> Result<PlanReport> {
    let ctx = BuildContext::for_job(Arc::clone(catalog), job);
    let plugins = ferry_runtime::Plugins::named(job.reader.plugin, job.writer.plugin)?;
    let plan = JobPlan::build(job, &plugins, &ctx).await?;
    let report = PlanReport {
        source: fields(&plan.reader.schema()),
        target: fields(&plan.writer.schema()),
        splits: plan
            .splits
            .iter()
            .map(|s| format!("[{}] {}", s.index, s.description))
            .collect(),
        channels: plan.channels,
    };
    plan.reader.close().await?;
    Ok(report)
}

fn fields(schema: &arrow::datatypes::Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Turns Ctrl-C / SIGTERM into a cancel for the running job (its writer then rolls back);
/// a second Ctrl-C exits at once.
pub(crate) fn cancel_on_signal() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            r = tokio::signal::ctrl_c() => {
                if r.is_err() {
                    return;
                }
            }
            _ = term => {}
        }
        eprintln!("ferry: cancelling: stopping channels and rolling the target back (Ctrl-C again to quit at once)");
        let _ = tx.send(true);
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("ferry: quit without rollback");
            std::process::exit(130);
        }
    });
    rx
}

async fn cmd_verify(a: JobArgs) -> Result<i32> {
    let catalog = load_catalog(a.catalog.as_deref())?;
    let mut exit = 0;
    for vars in var_contexts(&a)? {
        let job = load_job_with(&a.job, &vars, Some(&*catalog))?;
        let mut warnings = job.warnings.clone();
        check_job(&job, &catalog, &mut warnings)?;
        let report = crate::verify::verify_job(&job, &catalog).await?;
        print!("{report}");
        if !report.ok {
            exit = 1;
        }
    }
    Ok(exit)
}

async fn cmd_run(a: RunArgs) -> Result<i32> {
    let cancel = cancel_on_signal();
    if let Some(index) = crate::shards::shard_index(a.shard)? {
        let shard = crate::shards::ShardRun {
            index,
            attempts: a.shard_attempts,
            plan_wait: a.plan_wait,
        };
        let (summary, err) = crate::shards::run_shard(&a.job, &a.state, shard, cancel).await?;
        eprint!("{summary}");
        if let Some(path) = &a.summary_json {
            let text = serde_json::to_string_pretty(&summary)
                .map_err(|e| Error::internal(format!("summary json: {e}")))?;
            std::fs::write(path, text + "\n")
                .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        }
        return match err {
            Some(e) => {
                eprintln!("error: {e}");
                Ok(e.exit_code().max(1))
            }
            None => Ok(0),
        };
    }
    if ferry_runtime::store::is_object_store(&a.state.to_string_lossy()) {
        return Err(Error::config(format!(
            "--state {}: object storage keeps a sharded run's state (`ferry plan`, then \
             `ferry run --shard I`); a run of one process keeps its runs folder on disk",
            a.state.display()
        )));
    }
    let catalog = load_catalog(a.job.catalog.as_deref())?;
    let contexts = var_contexts(&a.job)?;
    let multiple = contexts.len() > 1;
    let mut summaries: Vec<Summary> = Vec::new();
    let mut exit = 0;
    for vars in contexts {
        let job = load_job_with(&a.job.job, &vars, Some(&*catalog))?;
        let mut warnings = job.warnings.clone();
        check_job(&job, &catalog, &mut warnings)?;
        for w in &warnings {
            match w.strip_prefix(NOTE) {
                Some(n) => eprintln!("note: {n}"),
                None => eprintln!("warning: {w}"),
            }
        }
        let bizdate = vars.bizdate.format("%Y%m%d").to_string();
        let dirty_file = a.dirty_file.clone().unwrap_or_else(|| {
            let stem = a
                .job
                .job
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_else(|| "job".into());
            a.state.join(format!(
                "{stem}-{bizdate}-{}.dirty.jsonl",
                chrono::Local::now().format("%Y%m%d%H%M%S")
            ))
        });
        let resumed = if a.resume {
            Some(crate::runs::to_resume(&a.state, &a.job, &bizdate)?)
        } else {
            None
        };
        for p in crate::runs::predecessors(&a.state, &a.job.job)
            .into_iter()
            .filter(|p| Some(&p.record.run_id) != resumed.as_ref())
        {
            eprintln!(
                "warning: an earlier run of this job, {} (started {}, {} of {} splits done), {}; \
                 what it staged is still there: `ferry run --resume` finishes it, \
                 `ferry runs abort {} --state {}` drops it",
                p.record.run_id,
                p.record.started,
                p.done,
                p.record.splits.len(),
                if p.liveness == ferry_runtime::state::Liveness::Failed {
                    "failed to roll back"
                } else {
                    "did not finish (its process is gone)"
                },
                p.record.run_id,
                a.state.display()
            );
        }
        let invocation = crate::runs::Invocation::new(&a.job, &bizdate);
        let opts = RunOptions {
            state: Some(invocation.state(&a.state)?),
            resume: resumed.is_some(),
            dirty_file: Some(dirty_file),
            progress_every: (a.progress_secs > 0)
                .then(|| std::time::Duration::from_secs(a.progress_secs)),
            bizdate: Some(bizdate.clone()),
            cancel: Some(cancel.clone()),
            ..Default::default()
        };
        let mut ctx = BuildContext::for_job(Arc::clone(&catalog), &job);
        if let Some(run) = &resumed {
            ctx.run_id = run.clone();
        }
        let plugins = ferry_runtime::Plugins::named(job.reader.plugin, job.writer.plugin)?;
        if multiple {
            eprintln!("== business date {bizdate} ==");
        }
        let (summary, err) = run_job(&job, &plugins, &ctx, &opts).await;
        eprint!("{summary}");
        summaries.push(summary);
        if let Some(e) = err {
            eprintln!("error: {e}");
            exit = e.exit_code().max(1);
            break;
        }
        if a.verify {
            let report = crate::verify::verify_job(&job, &catalog).await?;
            eprint!("{report}");
            if !report.ok {
                exit = 1;
                break;
            }
        }
        if a.fail_on_dirty && summaries.last().is_some_and(|s| s.records_dirty > 0) {
            exit = 3;
        }
    }
    if let Some(path) = &a.summary_json {
        let value = if multiple {
            serde_json::to_value(&summaries)
        } else {
            serde_json::to_value(summaries.first())
        }
        .map_err(|e| Error::internal(format!("summary json: {e}")))?;
        let text = serde_json::to_string_pretty(&value)
            .map_err(|e| Error::internal(format!("summary json: {e}")))?;
        std::fs::write(path, text + "\n")
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    }
    Ok(exit)
}

async fn cmd_datasource(cmd: DatasourceCmd) -> Result<i32> {
    match cmd {
        DatasourceCmd::Add(a) => {
            let a = *a;
            let path = Catalog::default_path(a.catalog.as_deref());
            let mut catalog = Catalog::load(&path)?;
            let mut ds = Datasource::new(&a.kind);
            ds.set(ferry_core::catalog::DESCRIPTION, a.description);
            for (key, value) in a.fields {
                ds.set(key, Some(value));
            }
            catalog.insert(&a.name, ds)?;
            catalog.save()?;
            println!("added {} to {}", a.name, path.display());
            Ok(0)
        }
        DatasourceCmd::List { catalog } => {
            let c = load_catalog(catalog.as_deref())?;
            println!("{:<24} {:<11} where", "name", "type");
            for (name, ds) in c.iter() {
                let at = ferry_core::connector::datasource_kind(ds.kind())
                    .map(|(_, k)| (k.locate)(ds))
                    .unwrap_or_default();
                println!("{name:<24} {:<11} {at}", ds.kind());
            }
            Ok(0)
        }
        DatasourceCmd::Remove { name, catalog } => {
            let path = Catalog::default_path(catalog.as_deref());
            let mut c = Catalog::load(&path)?;
            if !c.remove(&name) {
                return Err(Error::config(format!(
                    "datasource \"{name}\" is not in {}",
                    path.display()
                )));
            }
            c.save()?;
            println!("removed {name}");
            Ok(0)
        }
        DatasourceCmd::Test { name, catalog } => {
            let c = load_catalog(catalog.as_deref())?;
            let ds = c.get(&name)?;
            let report = ferry_core::connector::browser(&name, ds)?.test().await?;
            println!("{name}: ok — {report}");
            Ok(0)
        }
    }
}

async fn cmd_demo(a: DemoArgs) -> Result<i32> {
    let bizdate = match &a.bizdate {
        Some(b) => NaiveDate::parse_from_str(b, "%Y%m%d")
            .map_err(|_| Error::config(format!("--bizdate {b}: expected YYYYMMDD")))?,
        None => chrono::Local::now().date_naive() - chrono::Duration::days(1),
    };
    crate::demo::run(crate::demo::DemoOptions {
        bizdate,
        rows: a.rows.max(1),
        keep: a.keep,
        dir: a.dir,
    })
    .await?;
    Ok(0)
}

pub(crate) fn is_path(target: &str) -> bool {
    target.contains('/') || target.contains('*') || target.ends_with(".parquet")
}

fn show(batches: &[arrow::record_batch::RecordBatch]) -> Result<()> {
    let text =
        ferry_transform::sql::format_batches(batches, ferry_transform::sql::OutputFormat::Table)?;
    println!("{text}");
    Ok(())
}

async fn cmd_preview(a: PreviewArgs) -> Result<i32> {
    let catalog = if is_path(&a.target) {
        None
    } else {
        Some(load_catalog(a.catalog.as_deref())?)
    };
    let batches = preview_batches(
        catalog.as_deref(),
        &a.target,
        a.table.as_deref(),
        a.partition.as_deref(),
        a.limit,
        a.where_.as_deref(),
    )
    .await?;
    show(&batches)?;
    Ok(0)
}

/// The first rows of a Parquet path (with an optional DataFusion filter) or of a
/// datasource table (`ferry preview`, the console's Data Preview).
pub(crate) async fn preview_batches(
    catalog: Option<&Catalog>,
    target: &str,
    table: Option<&str>,
    partition: Option<&str>,
    limit: usize,
    where_: Option<&str>,
) -> Result<Vec<arrow::record_batch::RecordBatch>> {
    if is_path(target) {
        return match where_ {
            None => Ok(vec![
                paths_browser()?.preview(target, None, None, limit).await?,
            ]),
            Some(w) => {
                let q = format!(
                    "SELECT * FROM '{}' WHERE {w} LIMIT {limit}",
                    target.replace('\'', "''"),
                );
                Ok(ferry_transform::sql::query(&q).await?.1)
            }
        };
    }
    let table = table.ok_or_else(|| {
        Error::config(format!(
            "--table is required to preview datasource {target}"
        ))
    })?;
    let catalog =
        catalog.ok_or_else(|| Error::internal("preview of a datasource without the catalog"))?;
    let browser = ferry_core::connector::browser(target, catalog.get(target)?)?;
    Ok(vec![
        browser.preview(table, partition, where_, limit).await?,
    ])
}

async fn cmd_sql(a: SqlArgs) -> Result<i32> {
    use ferry_transform::sql::OutputFormat;
    let format = match a.format.to_ascii_lowercase().as_str() {
        "table" => OutputFormat::Table,
        "csv" => OutputFormat::Csv,
        "json" => OutputFormat::Json,
        other => {
            return Err(Error::config(format!(
                "--format {other}: use table, csv or json"
            )))
        }
    };
    let (_, batches) = ferry_transform::sql::query(&a.query).await?;
    print!(
        "{}",
        ferry_transform::sql::format_batches(&batches, format)?
    );
    if matches!(format, OutputFormat::Table) {
        println!();
    }
    Ok(0)
}

/// The browser on local paths (the Parquet connector's).
fn paths_browser() -> Result<Arc<dyn ferry_core::connector::Browser>> {
    ferry_core::connector::all()
        .iter()
        .find_map(|c| c.browse_paths)
        .map(|open| open())
        .ok_or_else(|| Error::config("no connector reads local files"))
}

async fn cmd_schema(a: SchemaArgs) -> Result<i32> {
    let shape = if is_path(&a.target) {
        paths_browser()?.shape(&a.target).await?
    } else {
        let catalog = load_catalog(a.catalog.as_deref())?;
        let table = a.table.as_deref().ok_or_else(|| {
            Error::config(format!("--table is required for datasource {}", a.target))
        })?;
        ferry_core::connector::browser(&a.target, catalog.get(&a.target)?)?
            .shape(table)
            .await?
    };
    // one column per connector with typed columns: the type its writer creates
    let typed: Vec<_> = ferry_core::connector::all()
        .iter()
        .filter_map(|c| c.type_for_arrow.map(|f| (c.name, f)))
        .collect();
    let mut header = format!("{:<24} {:<28} {:<36}", "column", "source type", "arrow");
    for (name, _) in &typed {
        header.push_str(&format!(" {name:<28}"));
    }
    println!("{}", header.trim_end());
    for (f, n) in shape.schema.fields().iter().zip(shape.native) {
        let mut line = format!(
            "{:<24} {:<28} {:<36}",
            f.name(),
            n,
            f.data_type().to_string()
        );
        for (_, to) in &typed {
            line.push_str(&format!(" {:<28}", to(f.data_type())));
        }
        println!("{}", line.trim_end());
    }
    Ok(0)
}

async fn cmd_odps(cmd: OdpsCmd) -> Result<i32> {
    match cmd {
        OdpsCmd::Serve(a) => {
            use ferry_odps_server::{Auth, ServeOptions};
            let auth = match (a.auth.as_deref(), a.access_id, a.access_key) {
                (Some("none"), _, _) => Auth::None,
                (Some(other), _, _) => {
                    return Err(Error::config(format!("--auth {other}: only `none` is accepted; give --access-id and --access-key to verify signatures")))
                }
                (None, Some(id), Some(key)) => Auth::Keys {
                    access_id: id,
                    access_key: key,
                },
                (None, _, _) => {
                    return Err(Error::config(
                        "give --access-id and --access-key (or $FERRY_ODPS_ACCESS_KEY), or --auth none",
                    ))
                }
            };
            let mut opts = ServeOptions::new(&a.root);
            opts.listen = a.listen;
            opts.auth = auth;
            opts.fault = a
                .drop_block_put_after
                .map(|bytes| ferry_odps_server::FaultInjection {
                    drop_block_put_after_bytes: Some(bytes),
                    times: a.drop_block_puts,
                });
            let server = ferry_odps_server::start(opts).await?;
            eprintln!(
                "ferry odps serve: REST {} tunnel {} root {}",
                server.endpoint(),
                server.tunnel_endpoint(),
                a.root.display()
            );
            tokio::signal::ctrl_c()
                .await
                .map_err(|e| Error::io("waiting for Ctrl-C", e))?;
            server.shutdown().await?;
            Ok(0)
        }
        OdpsCmd::Sql {
            sql,
            datasource,
            catalog,
        } => {
            let c = load_catalog(catalog.as_deref())?;
            let src = ferry_odps::OdpsSource::from_datasource(&datasource, c.get(&datasource)?)?;
            let out = ferry_odps::run_sql(&src, &sql).await?;
            if !out.trim().is_empty() {
                println!("{out}");
            }
            Ok(0)
        }
    }
}

pub use ferry_core::catalog::hide_url_password;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_accept_both_forms() {
        ferry_connectors::install();
        let p = parse_params(&["a=1".into(), "-Db=2 -Dc=x=y".into()]).unwrap();
        assert_eq!(p["a"], "1");
        assert_eq!(p["b"], "2");
        assert_eq!(p["c"], "x=y");
        assert!(parse_params(&["novalue".into()]).is_err());
    }

    #[test]
    fn urls_hide_passwords() {
        ferry_connectors::install();
        assert_eq!(
            hide_url_password("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            hide_url_password("jdbc:postgresql://h/db?user=u&password=secret&sslmode=require"),
            "jdbc:postgresql://h/db?user=u&password=***&sslmode=require"
        );
    }
}
