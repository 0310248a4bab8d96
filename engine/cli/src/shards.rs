//! One job over many machines: `ferry plan`, `ferry run --shard`, `ferry commit`,
//! `ferry abort` and `ferry coordinate` (plan, wait, commit). The protocol and its files
//! are `ferry_runtime::sharded`'s; the scheduler (a Kubernetes Indexed Job, a Slurm or
//! AWS Batch array, a shell loop) only starts, retries and counts the shard processes.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use ferry_core::job::{load_job_with, Job};
use ferry_core::plugin::{BuildContext, Shard};
use ferry_core::{Error, Result};
use ferry_runtime::sharded::{self, WaitOptions};
use ferry_runtime::state::{self, RunStatus, ShardState};
use ferry_runtime::store::{self as run_store, RunStore};
use ferry_runtime::{run_job, RunOptions, Sharding, Summary};

use crate::commands::{check_job, load_catalog, var_contexts, JobArgs};

/// `ferry plan`.
#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    #[command(flatten)]
    job: JobArgs,
    /// Shards to deal the splits to (split i goes to shard i mod N).
    #[arg(long, value_name = "N")]
    shards: usize,
    /// The run's own state store, shared by every shard: a directory (a shared volume)
    /// or S3-compatible object storage (s3://bucket/prefix, configured from the AWS_*
    /// environment). The plan, a receipt per split and a state file per shard go there.
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    state: String,
}

/// `ferry commit` / `ferry abort`.
#[derive(Debug, Args)]
pub(crate) struct EndArgs {
    /// The run's state store (as given to `ferry plan --state`).
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    state: String,
    /// Seconds to wait for every split to be staged before the run is aborted
    /// (`ferry commit` only).
    #[arg(long, value_name = "SECS", default_value_t = 86_400)]
    timeout: u64,
}

/// `ferry coordinate`: `ferry plan`'s arguments and `ferry commit`'s time-out.
#[derive(Debug, Args)]
pub(crate) struct CoordinateArgs {
    #[command(flatten)]
    plan: PlanArgs,
    /// Seconds to wait for every split to be staged before the run is aborted.
    #[arg(long, value_name = "SECS", default_value_t = 86_400)]
    timeout: u64,
}

/// What `ferry run` takes for a shard.
#[derive(Debug, Clone)]
pub(crate) struct ShardRun {
    /// This shard (`--shard`, else `$JOB_COMPLETION_INDEX`).
    pub index: usize,
    /// Attempts this shard may make before it gives up (and the run is aborted).
    pub attempts: u32,
    /// Seconds to wait for the plan to appear.
    pub plan_wait: u64,
}

/// The shard index `ferry run` was given: `--shard`, else `$JOB_COMPLETION_INDEX` (set by
/// Kubernetes in an Indexed Job); `None`: not a shard.
pub(crate) fn shard_index(flag: Option<usize>) -> Result<Option<usize>> {
    if flag.is_some() {
        return Ok(flag);
    }
    match std::env::var("JOB_COMPLETION_INDEX") {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().map(Some).map_err(|_| {
            Error::config(format!(
                "JOB_COMPLETION_INDEX={v}: expected a shard number (0, 1, ...)"
            ))
        }),
        _ => Ok(None),
    }
}

fn one_job(a: &JobArgs) -> Result<(Job, Arc<ferry_core::catalog::Catalog>, String)> {
    let catalog = load_catalog(a.catalog.as_deref())?;
    let mut contexts = var_contexts(a)?;
    if contexts.len() != 1 {
        return Err(Error::config(
            "a sharded run is one business date: give --bizdate YYYYMMDD, not a range",
        ));
    }
    let vars = contexts.remove(0);
    let job = load_job_with(&a.job, &vars, Some(&*catalog))?;
    let mut warnings = job.warnings.clone();
    check_job(&job, &catalog, &mut warnings)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    Ok((job, catalog, vars.bizdate.format("%Y%m%d").to_string()))
}

/// Plan the sharded run. With `hold`, the returned plan's reader holds the source's
/// snapshot that every shard reads: keep it until the shards are done, then close it.
async fn plan(
    a: &JobArgs,
    shards: usize,
    store: &dyn RunStore,
    hold: bool,
) -> Result<(ferry_runtime::JobPlan, Summary)> {
    let (job, catalog, bizdate) = one_job(a)?;
    let invocation = crate::runs::Invocation::new(a, &bizdate).to_value()?;
    let ctx = BuildContext::for_job(Arc::clone(&catalog), &job);
    let plugins = ferry_runtime::Plugins::named(job.reader.plugin, job.writer.plugin)?;
    let p = ferry_runtime::JobPlan::build(&job, &plugins, &ctx).await?;
    let rec = sharded::plan(&job, &p, &ctx, store, invocation, shards, hold).await?;
    if !hold {
        p.reader.close().await?;
    }
    let summary = Summary {
        status: "planned".into(),
        job: job.name.clone(),
        run_id: rec.run_id.clone(),
        bizdate: Some(bizdate),
        splits: rec.splits.len(),
        channels: rec.channels,
        notes: vec![
            format!(
                "planned run {}: {} splits dealt to {shards} shards (split i to shard i mod {shards})",
                rec.run_id,
                rec.splits.len()
            ),
            if hold {
                "every shard reads the splits as planned here, at this process's snapshot of \
                 the source, which it holds until the commit"
                    .to_string()
            } else {
                "each shard reads the source when it runs (not one snapshot: rows changed \
                 meanwhile may be read by one shard and not another); `ferry coordinate` holds \
                 one snapshot for all"
                    .to_string()
            },
        ],
        ..Default::default()
    };
    Ok((p, summary))
}

pub(crate) async fn cmd_plan(a: PlanArgs) -> Result<i32> {
    let store = run_store::open(&a.state)?;
    let (_, s) = plan(&a.job, a.shards, store.as_ref(), false).await?;
    eprint!("{s}");
    println!("{}", s.run_id);
    Ok(0)
}

/// Wait for every split, then commit; abort the run when that fails, or when a signal
/// (Ctrl-C, a scheduler's `SIGTERM`) comes while waiting. A commit under way finishes.
async fn wait_and_commit(store: &dyn RunStore, timeout: u64) -> Result<Summary> {
    // the writer first: a run whose writer cannot be built again can be neither
    // committed nor aborted from here, and the sooner that is said the better
    let rec = store.record().await?;
    let writer = crate::runs::writer_of_run(store.location(), &rec).await.map_err(|e| {
        e.context(format!(
            "run {}: cannot build its writer again to commit or abort it (the shards may go \
             on staging); fix the cause, then `ferry commit --state {}` or `ferry abort --state {1}`",
            rec.run_id,
            store.location()
        ))
    })?;
    let mut signal = crate::commands::cancel_on_signal();
    let waited = tokio::select! {
        w = sharded::wait_for_shards(
            store,
            WaitOptions {
                timeout: Duration::from_secs(timeout),
                poll: Duration::from_millis(500),
                progress: true,
            },
        ) => w,
        _ = signal.wait_for(|c| *c) => Err(Error::Cancelled),
    };
    let rec = store.record().await?;
    match waited {
        Ok(rec) => sharded::commit(store, writer, &rec).await,
        Err(e) => {
            if rec.status != RunStatus::Aborted {
                sharded::abort(store, writer, &rec, &e.to_string()).await?;
            }
            eprintln!(
                "ferry: run {} aborted ({e}): what its shards staged is gone, the target is as it was",
                rec.run_id
            );
            Err(e.context("the run was aborted; the target is as it was"))
        }
    }
}

pub(crate) async fn cmd_commit(a: EndArgs) -> Result<i32> {
    let store = run_store::open(&a.state)?;
    let s = wait_and_commit(store.as_ref(), a.timeout).await?;
    eprint!("{s}");
    Ok(0)
}

pub(crate) async fn cmd_abort(a: EndArgs) -> Result<i32> {
    let store = run_store::open(&a.state)?;
    let rec = store.record().await?;
    let writer = crate::runs::writer_of_run(store.location(), &rec).await?;
    sharded::abort(store.as_ref(), writer, &rec, "`ferry abort`").await?;
    println!(
        "aborted run {}: what its shards staged in the {} writer is gone",
        rec.run_id, rec.writer
    );
    Ok(0)
}

pub(crate) async fn cmd_coordinate(a: CoordinateArgs) -> Result<i32> {
    let p = &a.plan;
    let store = run_store::open(&p.state)?;
    let (held, planned) = plan(&p.job, p.shards, store.as_ref(), true).await?;
    eprint!("{planned}");
    let ended = wait_and_commit(store.as_ref(), a.timeout).await;
    // the shards are done: let the source's snapshot go
    if let Err(e) = held.reader.close().await {
        eprintln!("warning: closing the reader: {e}");
    }
    let s = ended?;
    eprint!("{s}");
    Ok(0)
}

/// Wait for the plan in `store` (the coordinator may start with the shards).
async fn wait_for_plan(store: &dyn RunStore, secs: u64) -> Result<()> {
    let until = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if store.is_planned().await? {
            return Ok(());
        }
        if std::time::Instant::now() >= until {
            return Err(Error::config(format!(
                "no plan in {} after {secs}s: start `ferry plan` or `ferry coordinate` with \
                 --state {0}",
                store.location()
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `ferry run JOB --state DIR --shard I`: this shard's splits that have no receipt yet.
pub(crate) async fn run_shard(
    a: &JobArgs,
    location: &Path,
    shard: ShardRun,
    cancel: tokio::sync::watch::Receiver<bool>,
) -> Result<(Summary, Option<Error>)> {
    let location = location.to_str().ok_or_else(|| {
        Error::config(format!(
            "--state {}: not UTF-8; give another path",
            location.display()
        ))
    })?;
    let store = run_store::open(location)?;
    wait_for_plan(store.as_ref(), shard.plan_wait).await?;
    let rec = store.record().await?;
    match rec.status {
        RunStatus::Committed => {
            let s = Summary {
                status: "success".into(),
                run_id: rec.run_id.clone(),
                notes: vec![format!(
                    "run {} is committed: shard {} has nothing left to do",
                    rec.run_id, shard.index
                )],
                ..Default::default()
            };
            return Ok((s, None));
        }
        RunStatus::Aborted => {
            return Err(Error::config(format!(
                "run {} was aborted ({}); plan it again",
                rec.run_id,
                rec.error.as_deref().unwrap_or("no reason recorded")
            )))
        }
        _ => {}
    }
    if rec.shards == 0 || shard.index >= rec.shards {
        return Err(Error::config(format!(
            "--shard {}: the run in {} has {} shards (0..{})",
            shard.index,
            store.location(),
            rec.shards,
            rec.shards
        )));
    }
    let before = store.shard_state(shard.index).await?;
    if before.as_ref().is_some_and(|s| s.status == "gave-up") {
        return Err(Error::config(format!(
            "shard {} gave up before; the run will be aborted",
            shard.index
        )));
    }
    let attempts = before.map_or(0, |s| s.attempts) + 1;
    let shard_state = |status: &str, error: Option<String>| ShardState {
        attempts,
        status: status.to_string(),
        error,
        host: state::hostname(),
    };
    store
        .begin_shard(shard.index, &shard_state("running", None))
        .await?;
    let (job, catalog, bizdate) = match one_job(a) {
        Ok(j) => j,
        Err(e) => {
            store
                .write_shard_state(
                    shard.index,
                    &shard_state(
                        give_up_or_fail(attempts, shard.attempts),
                        Some(e.to_string()),
                    ),
                )
                .await?;
            return Err(e);
        }
    };
    // A cancel comes from a signal, or from the run being aborted while this shard runs.
    let (tx, rx) = tokio::sync::watch::channel(false);
    let watcher = {
        let store = Arc::clone(&store);
        let mut signal = cancel;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    r = signal.changed() => {
                        if r.is_err() || *signal.borrow() {
                            let _ = tx.send(true);
                            return;
                        }
                    }
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {
                        if store.record().await.is_ok_and(|r| r.status == RunStatus::Aborted) {
                            eprintln!("ferry: the run was aborted: stopping this shard");
                            let _ = tx.send(true);
                            return;
                        }
                    }
                }
            }
        })
    };
    let opts = RunOptions {
        store: Some(Arc::clone(&store)),
        sharding: Sharding::Shard(Shard {
            index: shard.index,
            count: rec.shards,
        }),
        bizdate: Some(bizdate),
        cancel: Some(rx),
        ..Default::default()
    };
    let mut ctx = BuildContext::for_job(Arc::clone(&catalog), &job);
    ctx.run_id = rec.run_id.clone();
    let plugins = ferry_runtime::Plugins::named(job.reader.plugin, job.writer.plugin)?;
    let (summary, err) = run_job(&job, &plugins, &ctx, &opts).await;
    watcher.abort();
    let last = match &err {
        None => shard_state("done", None),
        Some(e) => shard_state(
            give_up_or_fail(attempts, shard.attempts),
            Some(e.to_string()),
        ),
    };
    store.write_shard_state(shard.index, &last).await?;
    Ok((summary, err))
}

fn give_up_or_fail(attempts: u32, allowed: u32) -> &'static str {
    if attempts >= allowed.max(1) {
        "gave-up"
    } else {
        "failed"
    }
}
