//! The job runner.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use backon::BackoffBuilder;
use ferry_core::dirty::DirtyCollector;
use ferry_core::job::{Job, RetryPolicy};
use ferry_core::plugin::{
    logical_schema, BatchSink, BuildContext, ReadOptions, Reader, ReaderFactory, Receipt, Split,
    Writer, WriterFactory,
};
use ferry_core::{Error, Result};
use ferry_transform::{batch_bytes, BatchOrigin, Rechunker, Transform, TransformSpec};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::state::{RunDir, RunStatus};
use crate::summary::Summary;
use crate::throttle::Throttle;

/// The reader and writer factories for a job's plugins.
#[derive(Clone)]
pub struct Plugins {
    /// Builds the reader.
    pub reader: Arc<dyn ReaderFactory>,
    /// Builds the writer.
    pub writer: Arc<dyn WriterFactory>,
}

impl Plugins {
    /// The installed connectors' factories for a job's canonical plugin names
    /// (`ferry_core::connector`).
    pub fn named(reader: &str, writer: &str) -> Result<Plugins> {
        Ok(Plugins {
            reader: ferry_core::connector::reader(reader)?,
            writer: ferry_core::connector::writer(writer)?,
        })
    }
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Where dirty records go (JSONL). `None`: counted only.
    pub dirty_file: Option<PathBuf>,
    /// Print a progress line every `progress_every` (None = quiet).
    pub progress_every: Option<Duration>,
    /// Batch sizes asked of readers.
    pub read: ReadOptions,
    /// Rows per batch handed to writers.
    pub write_batch_rows: usize,
    /// Bytes per batch handed to writers (about): wide rows make batches of fewer rows,
    /// so memory follows bytes, not row width.
    pub write_batch_bytes: usize,
    /// Batches buffered between a channel's reader and writer.
    pub queue_depth: usize,
    /// Business date (for the summary).
    pub bizdate: Option<String>,
    /// Set to `true` to cancel the job (Ctrl-C): channels stop, the writer aborts (its
    /// transactions roll back, its staging is dropped), and the job fails with
    /// [`Error::Cancelled`]. A cancel that arrives during the commit waits for it.
    pub cancel: Option<tokio::sync::watch::Receiver<bool>>,
    /// Keep the run's state in a run directory (see [`crate::state`]) while it runs.
    /// `None`: nothing on disk (demo, bench, tests).
    pub state: Option<crate::state::StateOptions>,
    /// Resume the run `BuildContext::run_id` names, from its directory under `state`:
    /// the writer takes over what it staged, splits with a durable receipt are not read
    /// again, the rest run, then one commit covers all.
    pub resume: bool,
    /// How this process takes part in the run: all of it (the default), planning a
    /// sharded run, or one shard of one.
    pub sharding: Sharding,
    /// A shard's state store (`ferry run --shard`, [`Sharding::Shard`]): the run's plan,
    /// and where the shard's receipts go. `state` is not used by a shard.
    pub store: Option<Arc<dyn crate::store::RunStore>>,
}

/// How a process takes part in a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sharding {
    /// The whole run: plan, read and write every split, commit.
    #[default]
    Whole,
    /// One shard of a planned run (`ferry run --shard`): write its splits that have no
    /// receipt yet, each with a durable receipt, and leave the commit to `ferry commit`.
    /// A failure leaves everything for the shard's next attempt; nothing is rolled back.
    Shard(ferry_core::plugin::Shard),
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            dirty_file: None,
            progress_every: Some(Duration::from_secs(10)),
            read: ReadOptions::default(),
            write_batch_rows: 8192,
            write_batch_bytes: 8 << 20,
            queue_depth: 4,
            bizdate: None,
            cancel: None,
            state: None,
            resume: false,
            sharding: Sharding::Whole,
            store: None,
        }
    }
}

/// A job with its reader, writer and transform built, and its splits planned:
/// what `ferry validate` prints and what [`run_job`] executes.
pub struct JobPlan {
    /// The reader.
    pub reader: Arc<dyn Reader>,
    /// The writer.
    pub writer: Arc<dyn Writer>,
    /// The compiled transform.
    pub transform: Arc<Transform>,
    /// The splits.
    pub splits: Vec<Split>,
    /// Channels to run.
    pub channels: usize,
    /// What the writer was built for: the reader's logical output.
    pub writer_input: SchemaRef,
}

impl JobPlan {
    /// Build the reader and writer, compile the transform and plan splits. Moves no data.
    pub async fn build(job: &Job, plugins: &Plugins, ctx: &BuildContext) -> Result<JobPlan> {
        let reader = plugins
            .reader
            .build(&job.reader.params, &job.reader.path, ctx)
            .await
            .map_err(|e| e.context(format!("reader {}", job.reader.plugin)))?;
        let layout = reader.layout();
        let source_schema = reader.schema();
        let writer_input = logical_schema(&source_schema, &layout);
        let writer = Self::build_writer(job, plugins, ctx, writer_input.clone()).await?;
        let transform = Transform::compile(TransformSpec {
            source_schema,
            layout,
            filter: reader.residual_filter(),
            transformers: job.transformers.clone(),
            target_schema: writer.schema(),
            empty_as_null: writer.empty_as_null(),
            path: job.reader.path.clone(),
        })?;
        let splits = reader
            .plan(ctx.channels.max(1))
            .await
            .map_err(|e| e.context(format!("reader {}", job.reader.plugin)))?;
        Ok(JobPlan {
            reader,
            writer,
            transform: Arc::new(transform),
            channels: ctx.channels.max(1).min(splits.len().max(1)),
            splits,
            writer_input,
        })
    }

    /// Build the writer alone, for batches of `input` (the reader's logical output, as a
    /// run directory recorded it): `ferry runs abort` needs no source.
    pub async fn build_writer(
        job: &Job,
        plugins: &Plugins,
        ctx: &BuildContext,
        input: SchemaRef,
    ) -> Result<Arc<dyn Writer>> {
        let mut wctx = ctx.clone();
        wctx.source_schema = Some(input);
        plugins
            .writer
            .build(&job.writer.params, &job.writer.path, &wctx)
            .await
            .map_err(|e| e.context(format!("writer {}", job.writer.plugin)))
    }
}

/// Job-wide counters; a split attempt's own share is also kept in its [`Tally`] so a
/// failed attempt can be taken back.
#[derive(Default)]
struct Counters {
    read: AtomicU64,
    bytes_read: AtomicU64,
    written: AtomicU64,
    filtered: AtomicU64,
    splits_done: AtomicUsize,
    retries: AtomicU64,
    read_nanos: AtomicU64,
    transform_nanos: AtomicU64,
    write_nanos: AtomicU64,
}

/// What one split attempt added to the job's [`Counters`].
#[derive(Default)]
struct Tally {
    read: AtomicU64,
    bytes_read: AtomicU64,
    written: AtomicU64,
    filtered: AtomicU64,
}

impl Tally {
    fn add(global: &AtomicU64, mine: &AtomicU64, n: u64) {
        global.fetch_add(n, Ordering::Relaxed);
        mine.fetch_add(n, Ordering::Relaxed);
    }

    /// Take this attempt's share back out of the job's counters.
    fn withdraw(&self, c: &Counters) {
        for (global, mine) in [
            (&c.read, &self.read),
            (&c.bytes_read, &self.bytes_read),
            (&c.written, &self.written),
            (&c.filtered, &self.filtered),
        ] {
            let n = mine.swap(0, Ordering::Relaxed);
            let _ = global.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(n))
            });
        }
    }
}

fn now_local() -> String {
    chrono::Local::now().format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Run a job end to end. Always returns a [`Summary`]: on failure its `status` is
/// `failed` and `error` says why; the `Err` is returned alongside for the exit code.
pub async fn run_job(
    job: &Job,
    plugins: &Plugins,
    ctx: &BuildContext,
    opts: &RunOptions,
) -> (Summary, Option<Error>) {
    let started = Instant::now();
    let mut summary = Summary {
        status: "failed".into(),
        job: job.name.clone(),
        run_id: ctx.run_id.clone(),
        bizdate: opts.bizdate.clone(),
        start_time: now_local(),
        channels: ctx.channels,
        ..Default::default()
    };
    let dirty = DirtyCollector::new(opts.dirty_file.as_deref(), job.settings.error_limit.record);
    let counters = Arc::new(Counters::default());
    let retry_log = Arc::new(Mutex::new(Vec::new()));
    let result = run_inner(
        job,
        plugins,
        ctx,
        opts,
        &dirty,
        &counters,
        &retry_log,
        &mut summary,
    )
    .await;
    let _ = dirty.flush();
    summary.end_time = now_local();
    summary.elapsed_secs = started.elapsed().as_secs_f64();
    summary.records_read = counters.read.load(Ordering::Relaxed);
    summary.bytes_read = counters.bytes_read.load(Ordering::Relaxed);
    summary.records_written = counters.written.load(Ordering::Relaxed);
    summary.records_filtered = counters.filtered.load(Ordering::Relaxed);
    summary.records_dirty = dirty.count();
    summary.retries = counters.retries.load(Ordering::Relaxed);
    summary.retried = retry_log.lock().map(|l| l.clone()).unwrap_or_default();
    summary.read_secs = counters.read_nanos.load(Ordering::Relaxed) as f64 / 1e9;
    summary.transform_secs = counters.transform_nanos.load(Ordering::Relaxed) as f64 / 1e9;
    summary.write_secs = counters.write_nanos.load(Ordering::Relaxed) as f64 / 1e9;
    if dirty.count() > 0 {
        summary.dirty_file = dirty.path().map(|p| p.display().to_string());
    }
    match result {
        Ok(()) => {
            // a plan or a shard said what it did ("planned", "staged")
            if summary.status == "failed" {
                summary.status = "success".into();
            }
            (summary, None)
        }
        Err(e) => {
            summary.error = Some(e.to_string());
            summary.error_at = Some(e.location()).filter(|l| *l != Default::default());
            (summary, Some(e))
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_inner(
    job: &Job,
    plugins: &Plugins,
    ctx: &BuildContext,
    opts: &RunOptions,
    dirty: &DirtyCollector,
    counters: &Arc<Counters>,
    retry_log: &Arc<Mutex<Vec<String>>>,
    summary: &mut Summary,
) -> Result<()> {
    let plan = JobPlan::build(job, plugins, ctx).await?;
    summary.splits = plan.splits.len();
    summary.channels = plan.channels;
    let mut committing = false;
    let state = match (&opts.state, opts.sharding) {
        (_, Sharding::Shard(shard)) => {
            let store = opts.store.as_ref().ok_or_else(|| {
                Error::config(
                    "a sharded run keeps its plan and receipts in its state store (--state)",
                )
            })?;
            let rec = store.record().await?;
            // splits recorded whole are read as recorded: this process's plan is moot
            if rec.planned_splits.is_none() {
                check_same_splits(&rec, &plan)?;
            }
            if rec.shards != shard.count {
                return Err(Error::config(format!(
                    "shard {}: the run in {} was planned for {} shards, not {}",
                    shard.index,
                    store.location(),
                    rec.shards,
                    shard.count
                )));
            }
            // a shard's receipts go to its store (`opts.store`), not to a run directory
            None
        }
        (state, Sharding::Whole) => match state {
            Some(o) if opts.resume => {
                let (dir, was_committing) = resume_dir(o, &ctx.run_id, &plan)?;
                committing = was_committing;
                Some(Arc::new(dir))
            }
            None if opts.resume => {
                return Err(Error::config(
                    "resuming needs the run's directory (--state)",
                ))
            }
            Some(o) => Some(Arc::new(RunDir::create(
                o,
                &ctx.run_id,
                &job.name,
                (job.reader.plugin, job.writer.plugin),
                plan.channels,
                &plan.splits,
            )?)),
            None => None,
        },
    };
    let result = run_planned(
        job, &plan, opts, dirty, counters, retry_log, summary, &state, committing,
    )
    .await;
    if let (Err(e), Some(st), Sharding::Whole) = (&result, &state, opts.sharding) {
        // Aborted (the directory is gone) or the abort failed (it says so).
        if st.path().exists() {
            let _ = st.update(|r| {
                if r.status != RunStatus::Failed {
                    r.status = RunStatus::Failed;
                }
                r.error.get_or_insert_with(|| e.to_string());
            });
        }
    }
    result
}

/// Open the run directory of the run to resume, check that the job still plans the same
/// splits, and take the run over. Also says whether the run died while committing.
fn resume_dir(
    o: &crate::state::StateOptions,
    run_id: &str,
    plan: &JobPlan,
) -> Result<(RunDir, bool)> {
    let dir = RunDir::open(&o.root, run_id)?;
    let rec = dir.record()?;
    if rec.status == RunStatus::Failed {
        return Err(Error::config(format!(
            "cannot resume run {run_id}: it failed{} and what it staged may be partly rolled \
             back; drop the rest with `ferry runs abort {run_id}` and run the job again",
            rec.error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        )));
    }
    check_same_splits(&rec, plan)?;
    let committing = rec.status == RunStatus::Committing;
    dir.take_over()?;
    Ok((dir, committing))
}

/// An error unless the job plans the splits the run recorded (a resumed run, a shard).
pub(crate) fn check_same_splits(rec: &crate::state::RunRecord, plan: &JobPlan) -> Result<()> {
    let run_id = &rec.run_id;
    let now: Vec<(usize, &str)> = plan
        .splits
        .iter()
        .map(|s| (s.index, s.description.as_str()))
        .collect();
    let then: Vec<(usize, &str)> = rec
        .splits
        .iter()
        .map(|s| (s.index, s.description.as_str()))
        .collect();
    if now != then {
        let why = match now.iter().zip(&then).find(|(a, b)| a != b) {
            Some((a, b)) => format!("split {} was \"{}\", now \"{}\"", b.0, b.1, a.1),
            None => format!("{} splits then, {} now", then.len(), now.len()),
        };
        let undo = if rec.shards > 0 {
            "`ferry abort --state DIR` drops what the run staged".to_string()
        } else {
            format!(
                "drop what the run staged with `ferry runs abort {run_id}` and run the job again"
            )
        };
        return Err(Error::config(format!(
            "cannot resume run {run_id}: the job plans other splits than it did ({why}); {undo}"
        )));
    }
    Ok(())
}

/// Undo what the writer staged; the run directory goes with it, or, when the rollback
/// fails, stays (status `failed`) for `ferry runs abort`.
async fn abort_writer(writer: &dyn Writer, receipts: Vec<Receipt>, state: &Option<Arc<RunDir>>) {
    match writer.abort(receipts).await {
        Ok(()) => {
            if let Some(st) = state {
                if let Err(e) = st.remove() {
                    tracing::warn!("{e}");
                }
            }
        }
        Err(ae) => {
            tracing::error!("abort after failure also failed: {ae}");
            eprintln!("error: rolling back also failed: {ae}");
            if let Some(st) = state {
                let _ = st.update(|r| {
                    r.status = RunStatus::Failed;
                    r.error = Some(format!("rolling back failed: {ae}"));
                });
                eprintln!(
                    "what it staged is recorded in {}: drop it with `ferry runs abort {}`",
                    st.path().display(),
                    st.record().map(|r| r.run_id).unwrap_or_default()
                );
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_planned(
    job: &Job,
    plan: &JobPlan,
    opts: &RunOptions,
    dirty: &DirtyCollector,
    counters: &Arc<Counters>,
    retry_log: &Arc<Mutex<Vec<String>>>,
    summary: &mut Summary,
    state: &Option<Arc<RunDir>>,
    committing: bool,
) -> Result<()> {
    // Resume: the splits an earlier process of this run staged durably.
    let mut done: Vec<Receipt> = Vec::new();
    let shard = match opts.sharding {
        Sharding::Shard(s) => Some(s),
        _ => None,
    };
    // A shard reads the splits as the coordinator planned them (their payloads name its
    // snapshot of the source) when the plan recorded them.
    let mut recorded = None;
    let earlier = match (shard, &opts.store, state) {
        (Some(_), Some(store), _) => Some((store.record().await?, store.receipts().await?)),
        (Some(_), None, _) => return Err(Error::internal("a shard without its state store")),
        (None, _, Some(st)) if opts.resume => Some((st.record()?, st.receipts()?)),
        _ => None,
    };
    match earlier {
        Some((rec, receipts)) => {
            if shard.is_some() {
                recorded = rec.planned_splits.clone();
            }
            done = receipts
                .into_iter()
                .filter(|r| r.durability == ferry_core::plugin::Durability::Durable)
                .collect();
            if committing && done.len() < plan.splits.len() {
                // The commit began with rows held by the dead process (a transaction of
                // its own): whether it happened cannot be told from here.
                return Err(Error::config(format!(
                    "cannot resume run {}: it died while committing, and the {} writer held \
                     {} of its {} splits in that process, so whether the commit happened \
                     cannot be told; check the target, then `ferry runs abort {}`",
                    rec.run_id,
                    job.writer.plugin,
                    plan.splits.len() - done.len(),
                    plan.splits.len(),
                    rec.run_id
                )));
            }
            // Refused by a writer whose staged output died with its process: the run
            // directory stays, for `ferry runs abort`.
            let resume = ferry_core::plugin::Resume {
                prepared: &rec.prepared,
                receipts: &done,
                committing,
                shard,
            };
            plan.writer.attach(&resume).await.map_err(|e| {
                e.context(format!(
                    "cannot resume run {} with the {} writer",
                    rec.run_id, job.writer.plugin
                ))
            })?;
            let rows: u64 = done.iter().map(|r| r.rows).sum();
            let again = plan.splits.len() - done.len();
            summary.notes.push(if let Some(s) = shard {
                let mine = plan.splits.iter().filter(|x| s.owns(x.index)).count();
                let before = done.iter().filter(|r| s.owns(r.split)).count();
                format!(
                    "shard {} of {} of run {}: {before} of its {mine} splits were staged by an \
                     earlier attempt and are not read again; {} read now; the run's commit \
                     (`ferry commit`) makes them visible",
                    s.index,
                    s.count,
                    rec.run_id,
                    mine - before
                )
            } else if committing {
                format!(
                    "resumed run {}: it died while committing; finishing the commit of its {} splits ({rows} rows)",
                    rec.run_id,
                    done.len()
                )
            } else {
                format!(
                    "resumed run {}: {} of {} splits ({rows} rows) were staged by an earlier process and not read again; {again} read now{}",
                    rec.run_id,
                    done.len(),
                    plan.splits.len(),
                    if done.is_empty() || again == 0 {
                        String::new()
                    } else {
                        " (at a later snapshot of the source than the earlier ones)".to_string()
                    }
                )
            });
        }
        _ => {
            let prepared = match plan.writer.prepare(&plan.splits).await {
                Ok(p) => p,
                Err(e) => {
                    abort_writer(plan.writer.as_ref(), Vec::new(), state).await;
                    return Err(e.context(format!("writer {}", job.writer.plugin)));
                }
            };
            if let Some(st) = state {
                let input = crate::state::encode_schema(&plan.writer_input)?;
                st.update(|r| {
                    r.prepared = prepared;
                    r.writer_input = Some(input);
                })?;
            }
        }
    }

    let throttle = Arc::new(Throttle::new(
        job.settings.bytes_per_sec,
        job.settings.records_per_sec,
    ));
    let skip: std::collections::HashSet<usize> = done.iter().map(|r| r.split).collect();
    let pending: VecDeque<Split> = recorded
        .as_deref()
        .unwrap_or(&plan.splits)
        .iter()
        .filter(|s| !skip.contains(&s.index) && shard.is_none_or(|sh| sh.owns(s.index)))
        .cloned()
        .collect();
    // The rows the splits left to run hold, when every one of them has an estimate.
    let estimate: Option<u64> = pending
        .iter()
        .map(|s| s.estimated_rows)
        .sum::<Option<u64>>()
        .filter(|n| *n > 0);
    let queue: Arc<Mutex<VecDeque<Split>>> = Arc::new(Mutex::new(pending));
    let total_splits = plan.splits.len();

    let progress = opts.progress_every.map(|every| {
        let counters = Arc::clone(counters);
        let dirty = dirty.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            let mut last = (0u64, 0u64, Instant::now());
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let rows = counters.read.load(Ordering::Relaxed);
                let bytes = counters.bytes_read.load(Ordering::Relaxed);
                let dt = last.2.elapsed().as_secs_f64().max(1e-6);
                let done = counters.splits_done.load(Ordering::Relaxed);
                let retries = counters.retries.load(Ordering::Relaxed);
                let elapsed = start.elapsed().as_secs_f64();
                let eta = match estimate {
                    Some(est) if rows > 0 && est > rows => {
                        let left = (est - rows) as f64 / (rows as f64 / elapsed.max(1e-6));
                        format!(" | Estimated {est} records, {left:.0}s left")
                    }
                    Some(est) => format!(" | Estimated {est} records"),
                    None => String::new(),
                };
                eprintln!(
                    "[{:>6.0}s] Total {rows} records, {} | Speed {}/s, {:.0} records/s | Written {} | Filtered {} | Dirty {} | Splits {done}/{total_splits} ({:.0}%){eta}{}",
                    elapsed,
                    crate::summary::human_bytes(bytes as f64),
                    crate::summary::human_bytes(bytes.saturating_sub(last.1) as f64 / dt),
                    rows.saturating_sub(last.0) as f64 / dt,
                    counters.written.load(Ordering::Relaxed),
                    counters.filtered.load(Ordering::Relaxed),
                    dirty.count(),
                    100.0 * done as f64 / total_splits.max(1) as f64,
                    if retries > 0 { format!(" | Retries {retries}") } else { String::new() },
                );
                last = (rows, bytes, Instant::now());
            }
        })
    });

    // Every producer task holds a clone of `alive`; when all are gone, no reader work
    // is left running (on failure and cancel too), and the reader can be closed.
    let (alive, mut all_gone) = mpsc::channel::<()>(1);
    let receipts: Arc<Mutex<Vec<Receipt>>> = Arc::new(Mutex::new(done));
    let mut workers: JoinSet<Result<()>> = JoinSet::new();
    // The channels' dirty records are held per split attempt: sealed into the file when
    // the split ends, withdrawn when it is retried.
    let scopes: Vec<DirtyCollector> = (0..plan.channels).map(|_| dirty.scoped()).collect();
    for (channel, scope) in scopes.iter().enumerate() {
        let worker = Worker {
            channel,
            reader: Arc::clone(&plan.reader),
            writer: Arc::clone(&plan.writer),
            transform: Arc::clone(&plan.transform),
            queue: Arc::clone(&queue),
            throttle: Arc::clone(&throttle),
            counters: Arc::clone(counters),
            scope: scope.clone(),
            opts: opts.clone(),
            retry: job.settings.retry,
            retry_log: Arc::clone(retry_log),
            receipts: Arc::clone(&receipts),
            state: state.clone(),
            alive: alive.clone(),
            plugins: Arc::new((job.reader.plugin.to_string(), job.writer.plugin.to_string())),
            durable_only: matches!(opts.sharding, Sharding::Shard(_)),
        };
        workers.spawn(worker.run());
    }
    drop(alive);

    let mut failure: Option<Error> = None;
    let mut cancel = opts.cancel.clone();
    loop {
        let joined = tokio::select! {
            j = workers.join_next() => match j {
                Some(j) => j,
                None => break,
            },
            _ = cancelled(&mut cancel), if failure.is_none() => {
                failure = Some(Error::Cancelled);
                workers.abort_all();
                continue;
            }
        };
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                if failure.is_none() {
                    failure = Some(e);
                    workers.abort_all();
                }
            }
            Err(je) if je.is_cancelled() => {}
            Err(je) => {
                if failure.is_none() {
                    failure = Some(Error::internal(format!("a channel panicked: {je}")));
                    workers.abort_all();
                }
            }
        }
    }
    // Wait for every producer to be gone before closing the reader.
    let _ = all_gone.recv().await;
    if let Some(p) = progress {
        p.abort();
    }
    let close = plan.reader.close().await;
    let receipts = std::mem::take(
        &mut *receipts
            .lock()
            .map_err(|_| Error::internal("receipt list lock poisoned"))?,
    );
    if let Some(s) = shard {
        // A shard stages and leaves: its receipts are on disk, the commit (or the abort)
        // is the whole run's. A failed attempt leaves its half-done split to the next.
        if let Some(e) = failure.or(close.err()) {
            return Err(e);
        }
        summary.bytes_written = receipts.iter().map(|r| r.bytes).sum();
        summary.status = "staged".into();
        summary.notes.push(format!(
            "shard {} of {}: {} splits staged",
            s.index,
            s.count,
            receipts.iter().filter(|r| s.owns(r.split)).count()
        ));
        return Ok(());
    }
    if let Some(e) = failure {
        abort_writer(plan.writer.as_ref(), receipts, state).await;
        return Err(e);
    }
    if let Err(e) = close {
        abort_writer(plan.writer.as_ref(), receipts, state).await;
        return Err(e);
    }
    // errorLimit.percentage is checked at the end, and only when record is not set —
    // before the commit, so a job over the limit leaves the target as it was.
    if let (None, Some(pct)) = (
        job.settings.error_limit.record,
        job.settings.error_limit.percentage,
    ) {
        let read = counters.read.load(Ordering::Relaxed);
        let ratio = dirty.count() as f64 / read.max(1) as f64;
        if dirty.count() > 0 && ratio > pct {
            abort_writer(plan.writer.as_ref(), receipts, state).await;
            return Err(Error::ErrorLimit(format!(
                "dirty records are {ratio:.4} of records read, more than errorLimit.percentage = {pct}"
            )));
        }
    }
    summary.bytes_written = receipts.iter().map(|r| r.bytes).sum();
    let dirty_before = dirty.count();
    if let Some(st) = state {
        st.update(|r| r.status = RunStatus::Committing)?;
    }
    let committed = plan.writer.commit(receipts.clone()).await;
    // Rows a writer rejects while committing went to a channel's collector.
    for s in &scopes {
        s.seal()?;
    }
    let report = match committed {
        Ok(r) => r,
        Err(e) => {
            // What did not commit is rolled back, staging dropped (see `Writer::commit`).
            abort_writer(plan.writer.as_ref(), receipts, state).await;
            return Err(e.context(format!("writer {} commit", job.writer.plugin)));
        }
    };
    if let Some(st) = state {
        st.remove()?;
    }
    // Rows a writer rejects while committing (a staged merge) were counted as written.
    let rejected = dirty.count().saturating_sub(dirty_before);
    let _ = counters
        .written
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
            Some(w.saturating_sub(rejected))
        });
    summary.notes.extend(report.notes);
    Ok(())
}

/// Resolves when `cancel` turns `true`; never when no cancel can come (none was asked
/// for, or its sender is gone).
async fn cancelled(cancel: &mut Option<tokio::sync::watch::Receiver<bool>>) {
    let asked = match cancel {
        Some(rx) => rx.wait_for(|c| *c).await.is_ok(),
        None => false,
    };
    if !asked {
        std::future::pending::<()>().await;
    }
}

/// The waits between attempts of one split: exponential from `interval_ms`, doubled
/// each time, capped at `max_wait_ms`, with random jitter; `attempts - 1` of them.
fn backoff(p: &RetryPolicy) -> impl Iterator<Item = Duration> {
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(p.interval_ms))
        .with_max_delay(Duration::from_millis(p.max_wait_ms.max(p.interval_ms)))
        .with_factor(2.0)
        .with_jitter()
        .with_max_times(p.attempts.saturating_sub(1) as usize)
        .build()
}

/// Aborts a spawned task when dropped (the worker that owns it was aborted or failed).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Worker {
    channel: usize,
    reader: Arc<dyn Reader>,
    writer: Arc<dyn Writer>,
    transform: Arc<Transform>,
    queue: Arc<Mutex<VecDeque<Split>>>,
    throttle: Arc<Throttle>,
    counters: Arc<Counters>,
    /// The channel's dirty records, held until its split ends.
    scope: DirtyCollector,
    opts: RunOptions,
    retry: RetryPolicy,
    retry_log: Arc<Mutex<Vec<String>>>,
    receipts: Arc<Mutex<Vec<Receipt>>>,
    state: Option<Arc<RunDir>>,
    alive: mpsc::Sender<()>,
    /// The reader's and the writer's plugin names, for where an error happened.
    plugins: Arc<(String, String)>,
    /// A shard: every receipt must be durable (outlive this process).
    durable_only: bool,
}

/// What a producer task needs: shared with the worker, cloned per attempt.
struct Producer {
    reader: Arc<dyn Reader>,
    transform: Arc<Transform>,
    target: arrow::datatypes::SchemaRef,
    throttle: Arc<Throttle>,
    counters: Arc<Counters>,
    tally: Arc<Tally>,
    dirty: DirtyCollector,
    opts: RunOptions,
    _alive: mpsc::Sender<()>,
    /// The reader's plugin name, for where an error happened.
    reader_name: String,
}

impl Worker {
    fn next_split(&self) -> Result<Option<Split>> {
        let mut q = self
            .queue
            .lock()
            .map_err(|_| Error::internal("split queue lock poisoned"))?;
        Ok(q.pop_front())
    }

    async fn run(self) -> Result<()> {
        let scope = self.scope.clone();
        let mut sink = self.open(&scope).await?;
        while let Some(split) = self.next_split()? {
            let receipt = self.run_split(sink.as_mut(), &split, &scope).await?;
            if self.durable_only && receipt.durability != ferry_core::plugin::Durability::Durable {
                return Err(Error::config(format!(
                    "the {} writer keeps split {} only in this process (its commit plan \
                     holds it in a connection), so a shard cannot stage it for another \
                     process's commit",
                    self.plugins.1, split.index
                )));
            }
            if let Some(st) = &self.state {
                st.write_receipt(&receipt)?;
            }
            if let (true, Some(store)) = (self.durable_only, &self.opts.store) {
                store.write_receipt(&receipt).await?;
            }
            self.receipts
                .lock()
                .map_err(|_| Error::internal("receipt list lock poisoned"))?
                .push(receipt);
        }
        sink.close().await?;
        Ok(())
    }

    /// Open the channel's sink, retrying transient failures (too many connections).
    async fn open(&self, scope: &DirtyCollector) -> Result<Box<dyn BatchSink>> {
        let mut waits = backoff(&self.retry);
        loop {
            match self.writer.open(self.channel, scope.clone()).await {
                Ok(s) => return Ok(s),
                Err(e) if e.retry_hint() => match waits.next() {
                    Some(d) => {
                        self.log_retry(
                            &format!("channel {} opening the writer", self.channel),
                            &e,
                            d,
                        );
                        tokio::time::sleep(d).await;
                    }
                    None => return Err(e),
                },
                Err(e) => return Err(e),
            }
        }
    }

    fn log_retry(&self, what: &str, e: &Error, wait: Duration) {
        self.counters.retries.fetch_add(1, Ordering::Relaxed);
        let line = format!("{what}: {e} (retried after {:.1}s)", wait.as_secs_f64());
        tracing::warn!("{line}");
        eprintln!("retrying: {line}");
        if let Ok(mut l) = self.retry_log.lock() {
            l.push(line);
        }
    }

    /// Write one split, retrying it from its start after transient failures.
    async fn run_split(
        &self,
        sink: &mut dyn BatchSink,
        split: &Split,
        scope: &DirtyCollector,
    ) -> Result<Receipt> {
        let mut waits = backoff(&self.retry);
        let mut attempt = 1u32;
        loop {
            let tally = Arc::new(Tally::default());
            let err = match self.attempt(sink, split, scope, &tally).await {
                Ok(mut receipt) => {
                    receipt.read = Some(tally.read.load(Ordering::Relaxed));
                    receipt.filtered = Some(tally.filtered.load(Ordering::Relaxed));
                    scope.seal()?;
                    self.counters.splits_done.fetch_add(1, Ordering::Relaxed);
                    return Ok(receipt);
                }
                Err(e) => e,
            };
            let what = format!("split {} ({})", split.index, split.description);
            // Name the split once (readers often name it already).
            let err = err.at_split(split.index, &split.description);
            if !err.retry_hint() {
                let _ = scope.seal();
                return Err(err);
            }
            let Some(wait) = waits.next() else {
                let _ = scope.seal();
                return Err(err.context(format!("attempt {attempt} of {}", self.retry.attempts)));
            };
            // Take the attempt back: its counts, its dirty records, its partial output.
            tally.withdraw(&self.counters);
            scope.withdraw();
            if let Err(de) = sink.discard().await {
                return Err(err.context(format!(
                    "{what}: not retried, because its partial output could not be dropped ({de})"
                )));
            }
            self.log_retry(&format!("attempt {attempt}"), &err, wait);
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// One attempt at a split: a producer task reads and transforms into a bounded
    /// channel while this task writes what arrives into the sink.
    async fn attempt(
        &self,
        sink: &mut dyn BatchSink,
        split: &Split,
        scope: &DirtyCollector,
        tally: &Arc<Tally>,
    ) -> Result<Receipt> {
        let writer_at = |e: Error| e.at_connector(&self.plugins.1, "writer");
        sink.begin(split).await.map_err(writer_at)?;
        let (tx, mut rx) = mpsc::channel::<RecordBatch>(self.opts.queue_depth.max(1));
        let producer = Producer {
            reader: Arc::clone(&self.reader),
            transform: Arc::clone(&self.transform),
            target: self.writer.schema(),
            throttle: Arc::clone(&self.throttle),
            counters: Arc::clone(&self.counters),
            tally: Arc::clone(tally),
            dirty: scope.clone(),
            opts: self.opts.clone(),
            _alive: self.alive.clone(),
            reader_name: self.plugins.0.clone(),
        };
        let task = {
            let split = split.clone();
            AbortOnDrop(tokio::spawn(
                async move { producer.produce(&split, tx).await },
            ))
        };
        let mut counted = 0u64;
        let mut write_err = None;
        while let Some(batch) = rx.recv().await {
            let t = Instant::now();
            match sink.write(batch).await {
                Ok(n) => {
                    counted += n;
                    Tally::add(&self.counters.written, &tally.written, n);
                }
                Err(e) => {
                    write_err = Some(writer_at(e));
                    break;
                }
            }
            self.counters
                .write_nanos
                .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
        if let Some(e) = write_err {
            drop(rx);
            drop(task);
            return Err(e);
        }
        let produced = {
            let mut task = task;
            match (&mut task.0).await {
                Ok(r) => r,
                Err(je) => Err(Error::internal(format!("reader task failed: {je}"))),
            }
        };
        produced?;
        let t = Instant::now();
        let receipt = sink.end().await.map_err(writer_at)?;
        // Rows a streaming sink confirmed only at the end of the split.
        Tally::add(
            &self.counters.written,
            &tally.written,
            receipt.rows.saturating_sub(counted),
        );
        self.counters
            .write_nanos
            .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        Ok(receipt)
    }
}

impl Producer {
    async fn produce(self, split: &Split, tx: mpsc::Sender<RecordBatch>) -> Result<()> {
        let mut rechunker =
            Rechunker::new(Arc::clone(&self.target), self.opts.write_batch_rows.max(1))
                .with_max_bytes(self.opts.write_batch_bytes.max(1));
        let reader_at = |e: Error| e.at_connector(&self.reader_name, "reader");
        let mut stream = self
            .reader
            .read(split, self.opts.read)
            .await
            .map_err(reader_at)?;
        let mut row: u64 = 0;
        loop {
            let t = Instant::now();
            let next = stream.next().await;
            self.counters
                .read_nanos
                .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
            let batch = match next {
                None => break,
                Some(b) => b.map_err(reader_at)?,
            };
            let n = batch.num_rows() as u64;
            let bytes = batch_bytes(&batch) as u64;
            self.throttle.acquire(bytes, n).await;
            Tally::add(&self.counters.read, &self.tally.read, n);
            Tally::add(&self.counters.bytes_read, &self.tally.bytes_read, bytes);
            let t = Instant::now();
            let out = self.transform.apply(
                batch,
                BatchOrigin {
                    split: &split.description,
                    first_row: row,
                },
                &self.dirty,
            )?;
            row += n;
            Tally::add(&self.counters.filtered, &self.tally.filtered, out.filtered);
            let full_batches = match out.batch {
                Some(b) => rechunker.push(b)?,
                None => Vec::new(),
            };
            self.counters
                .transform_nanos
                .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
            for full in full_batches {
                if tx.send(full).await.is_err() {
                    return Ok(()); // the writer side stopped; it reports why
                }
            }
        }
        if let Some(last) = rechunker.finish()? {
            // A closed channel means the writer side stopped; it reports why.
            let _ = tx.send(last).await;
        }
        Ok(())
    }
}
