//! The end of a sharded run: wait until every split has a receipt, then commit once; or
//! abort, undoing what every shard staged.
//!
//! ```text
//! ferry plan     →  <DIR>/run.json            the splits, the writer's prepared target, shards: N
//! ferry run --shard I (N processes, anywhere)  →  <DIR>/receipts/<split>.json, <DIR>/shards/<I>.json
//! ferry commit   →  waits for a receipt per split → one commit → run.json status "committed"
//! ferry abort    →  run.json status "aborted" → the writer's abort of everything the run staged
//! ```
//!
//! Every process writes only its own files (a receipt per split, a state file per shard);
//! `run.json` is written by the planning and the committing process alone. The files live
//! in a [`RunStore`]: a directory (a shared volume) or S3-compatible object storage, where
//! conditional puts keep any two writers from clobbering each other (see
//! [`crate::store`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_core::job::Job;
use ferry_core::plugin::{BuildContext, Resume, Writer};
use ferry_core::{Error, Result};

use crate::state::{RunRecord, RunStatus};
use crate::store::RunStore;
use crate::{JobPlan, Summary};

/// Record the sharded run of `job`, planned as `plan`, in the state store `store`:
/// the splits, the writer's prepared target and the shard count; then mark the plan
/// complete. With `same_snapshot` the splits are recorded whole, so that every shard
/// reads them as planned — their payloads name the planner's snapshot of the source
/// (PostgreSQL's exported snapshot), which the caller must hold open (keep `plan`'s
/// reader) until the shards are done. Without it each shard plans again and reads the
/// source when it runs.
pub async fn plan(
    job: &Job,
    plan: &JobPlan,
    ctx: &BuildContext,
    store: &dyn RunStore,
    invocation: serde_json::Value,
    shards: usize,
    same_snapshot: bool,
) -> Result<RunRecord> {
    if shards == 0 {
        return Err(Error::config("--shards: give 1 or more"));
    }
    let mut rec = RunRecord::new(
        invocation,
        &ctx.run_id,
        &job.name,
        (job.reader.plugin, job.writer.plugin),
        plan.channels,
        &plan.splits,
    );
    rec.shards = shards;
    rec.planned_splits = same_snapshot.then(|| plan.splits.clone());
    // recorded before the writer stages anything, so that `ferry abort` finds it
    store.create(&rec).await?;
    // The shards' receipts are committed by another process.
    plan.writer.require_durable();
    let prepared = match plan.writer.prepare(&plan.splits).await {
        Ok(p) => p,
        Err(e) => {
            if let Err(ae) = plan.writer.abort(Vec::new()).await {
                tracing::warn!("rolling back the plan: {ae}");
            } else {
                let _ = store.remove().await;
            }
            return Err(e.context(format!("writer {}", job.writer.plugin)));
        }
    };
    let input = crate::state::encode_schema(&plan.writer_input)?;
    let rec = store
        .update(&|r| {
            r.prepared = prepared.clone();
            r.writer_input = Some(input.clone());
            Ok(())
        })
        .await?;
    store.mark_planned().await?;
    Ok(rec)
}

/// How long to wait for the shards, and how often to look.
#[derive(Debug, Clone, Copy)]
pub struct WaitOptions {
    /// Give up (and abort the run) after this long without every split staged.
    pub timeout: Duration,
    /// Look at the run directory this often.
    pub poll: Duration,
    /// Print a line when the count of staged splits changes.
    pub progress: bool,
}

/// What the shards say: how many splits are staged, and whether one gave up.
async fn look(store: &dyn RunStore, rec: &RunRecord) -> Result<(usize, Option<String>)> {
    let staged = store.receipt_count().await?;
    let mut gave_up = None;
    for i in 0..rec.shards {
        if let Some(s) = store.shard_state(i).await? {
            if s.status == "gave-up" {
                gave_up = Some(format!(
                    "shard {i} gave up after {} attempts: {}",
                    s.attempts,
                    s.error.as_deref().unwrap_or("no error recorded")
                ));
            }
        }
    }
    Ok((staged, gave_up))
}

/// Wait until every split of the sharded run in `store` has a receipt. An error (after
/// which the caller aborts the run) when a shard gave up, the run was aborted, or the
/// time-out passed.
pub async fn wait_for_shards(store: &dyn RunStore, opts: WaitOptions) -> Result<RunRecord> {
    let start = Instant::now();
    let mut last = usize::MAX;
    loop {
        let rec = store.record().await?;
        match rec.status {
            RunStatus::Aborted => {
                return Err(Error::config(format!(
                    "run {} was aborted (`ferry abort`)",
                    rec.run_id
                )))
            }
            RunStatus::Committed | RunStatus::Committing => return Ok(rec),
            RunStatus::Failed | RunStatus::Running => {}
        }
        let (staged, gave_up) = look(store, &rec).await?;
        if let Some(why) = gave_up {
            return Err(Error::remote(format!("run {}: {why}", rec.run_id)));
        }
        if staged >= rec.splits.len() {
            return Ok(rec);
        }
        if opts.progress && staged != last {
            eprintln!(
                "run {}: {staged} of {} splits staged by {} shards ({:.0}s)",
                rec.run_id,
                rec.splits.len(),
                rec.shards,
                start.elapsed().as_secs_f64()
            );
            last = staged;
        }
        if start.elapsed() >= opts.timeout {
            return Err(Error::remote(format!(
                "run {}: only {staged} of {} splits were staged after {}s (--timeout); \
                 `ferry runs`-style details are in {}",
                rec.run_id,
                rec.splits.len(),
                opts.timeout.as_secs(),
                store.location()
            )));
        }
        tokio::time::sleep(opts.poll).await;
    }
}

/// Commit the sharded run in `store` once every split is staged, with `writer` built for
/// the run (`RunRecord::writer_input`). A run already committed is left as it is. On a
/// failed commit what the run staged is rolled back and the run is marked aborted.
pub async fn commit(
    store: &dyn RunStore,
    writer: Arc<dyn Writer>,
    rec: &RunRecord,
) -> Result<Summary> {
    let mut summary = Summary {
        status: "success".into(),
        job: rec.job.clone(),
        run_id: rec.run_id.clone(),
        splits: rec.splits.len(),
        channels: rec.channels,
        ..Default::default()
    };
    let receipts = store.receipts().await?;
    summary.records_written = receipts.iter().map(|r| r.rows).sum();
    summary.bytes_written = receipts.iter().map(|r| r.bytes).sum();
    summary.records_read = receipts.iter().map(|r| r.read.unwrap_or(r.rows)).sum();
    summary.records_filtered = receipts.iter().map(|r| r.filtered.unwrap_or(0)).sum();
    summary.records_dirty = summary
        .records_read
        .saturating_sub(summary.records_written + summary.records_filtered);
    if rec.status == RunStatus::Committed {
        summary
            .notes
            .push(format!("run {} was committed before", rec.run_id));
        return Ok(summary);
    }
    let started = Instant::now();
    let resume = Resume {
        prepared: &rec.prepared,
        receipts: &receipts,
        committing: rec.status == RunStatus::Committing,
        shard: None,
    };
    let attached = writer.attach(&resume).await;
    let committed = match attached {
        Ok(()) => {
            // refused when the run was aborted since it was read (`ferry abort`)
            store
                .update(&|r| {
                    if r.status == RunStatus::Aborted {
                        return Err(Error::config(format!(
                            "run {} was aborted meanwhile ({})",
                            r.run_id,
                            r.error.as_deref().unwrap_or("no reason recorded")
                        )));
                    }
                    r.status = RunStatus::Committing;
                    Ok(())
                })
                .await?;
            writer.commit(receipts.clone()).await
        }
        Err(e) => Err(e),
    };
    match committed {
        Ok(report) => {
            store
                .update(&|r| {
                    r.status = RunStatus::Committed;
                    r.error = None;
                    Ok(())
                })
                .await?;
            summary.notes.extend(report.notes);
            summary.notes.push(format!(
                "committed run {}: {} splits staged by {} shards, in one commit",
                rec.run_id,
                rec.splits.len(),
                rec.shards
            ));
            // the run's wall time: from its plan to its commit
            summary.elapsed_secs = chrono::DateTime::parse_from_rfc3339(&rec.started)
                .map(|t| {
                    (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_milliseconds() as f64
                        / 1e3
                })
                .unwrap_or_else(|_| started.elapsed().as_secs_f64());
            Ok(summary)
        }
        Err(e) => {
            let e = e.context(format!("run {}: commit", rec.run_id));
            abort(store, writer, rec, &e.to_string()).await?;
            Err(e)
        }
    }
}

/// Abort the sharded run in `store`: mark it aborted (shards still running stop at their
/// next look), undo what it staged, and once more after the shards had time to stop.
pub async fn abort(
    store: &dyn RunStore,
    writer: Arc<dyn Writer>,
    rec: &RunRecord,
    why: &str,
) -> Result<()> {
    if rec.status == RunStatus::Committed {
        return Err(Error::config(format!(
            "run {} is committed: there is nothing to abort",
            rec.run_id
        )));
    }
    // refused when the run was committed since it was read
    store
        .update(&|r| {
            if r.status == RunStatus::Committed {
                return Err(Error::config(format!(
                    "run {} is committed: there is nothing to abort",
                    r.run_id
                )));
            }
            r.status = RunStatus::Aborted;
            r.error = Some(why.to_string());
            Ok(())
        })
        .await?;
    writer
        .abort(store.receipts().await?)
        .await
        .map_err(|e| e.context(format!("run {}: rolling back", rec.run_id)))?;
    // A shard that was writing when the run was marked may stage one more split before
    // it looks: wait for running shards to stop, then undo again.
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        let mut running = false;
        for i in 0..rec.shards {
            if store
                .shard_state(i)
                .await?
                .is_some_and(|s| s.status == "running")
            {
                running = true;
            }
        }
        if !running {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    writer
        .abort(store.receipts().await?)
        .await
        .map_err(|e| e.context(format!("run {}: rolling back", rec.run_id)))
}
