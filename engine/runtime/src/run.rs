//! The job runner.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use ferry_core::dirty::DirtyCollector;
use ferry_core::job::Job;
use ferry_core::plugin::{
    logical_schema, BuildContext, ReadOptions, Reader, ReaderFactory, Receipt, Split, Writer,
    WriterFactory,
};
use ferry_core::{Error, Result};
use ferry_transform::{BatchOrigin, Rechunker, Transform, TransformSpec};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

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
    /// Batches buffered between a channel's reader and writer.
    pub queue_depth: usize,
    /// Business date (for the summary).
    pub bizdate: Option<String>,
    /// Set to `true` to cancel the job (Ctrl-C): channels stop, the writer aborts (its
    /// transactions roll back, its staging is dropped), and the job fails with
    /// [`Error::Cancelled`]. A cancel that arrives during the commit waits for it.
    pub cancel: Option<tokio::sync::watch::Receiver<bool>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            dirty_file: None,
            progress_every: Some(Duration::from_secs(10)),
            read: ReadOptions::default(),
            write_batch_rows: 8192,
            queue_depth: 4,
            bizdate: None,
            cancel: None,
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
        let mut wctx = ctx.clone();
        wctx.source_schema = Some(logical_schema(&source_schema, &layout));
        let writer = plugins
            .writer
            .build(&job.writer.params, &job.writer.path, &wctx)
            .await
            .map_err(|e| e.context(format!("writer {}", job.writer.plugin)))?;
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
        })
    }
}

#[derive(Default)]
struct Counters {
    read: AtomicU64,
    bytes_read: AtomicU64,
    written: AtomicU64,
    filtered: AtomicU64,
    transform_dirty: AtomicU64,
    splits_done: AtomicUsize,
    read_nanos: AtomicU64,
    transform_nanos: AtomicU64,
    write_nanos: AtomicU64,
}

fn now_local() -> String {
    chrono::Local::now().format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Approximate in-memory bytes of a batch's data (what the byte throttle counts).
pub(crate) fn batch_bytes(batch: &RecordBatch) -> u64 {
    batch
        .columns()
        .iter()
        .map(|c| c.to_data().get_slice_memory_size().unwrap_or(0) as u64)
        .sum()
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
        bizdate: opts.bizdate.clone(),
        start_time: now_local(),
        channels: ctx.channels,
        ..Default::default()
    };
    let dirty = DirtyCollector::new(opts.dirty_file.as_deref(), job.settings.error_limit.record);
    let counters = Arc::new(Counters::default());
    let result = run_inner(job, plugins, ctx, opts, &dirty, &counters, &mut summary).await;
    let _ = dirty.flush();
    summary.end_time = now_local();
    summary.elapsed_secs = started.elapsed().as_secs_f64();
    summary.records_read = counters.read.load(Ordering::Relaxed);
    summary.bytes_read = counters.bytes_read.load(Ordering::Relaxed);
    summary.records_written = counters.written.load(Ordering::Relaxed);
    summary.records_filtered = counters.filtered.load(Ordering::Relaxed);
    summary.records_dirty = dirty.count();
    summary.read_secs = counters.read_nanos.load(Ordering::Relaxed) as f64 / 1e9;
    summary.transform_secs = counters.transform_nanos.load(Ordering::Relaxed) as f64 / 1e9;
    summary.write_secs = counters.write_nanos.load(Ordering::Relaxed) as f64 / 1e9;
    if dirty.count() > 0 {
        summary.dirty_file = dirty.path().map(|p| p.display().to_string());
    }
    match result {
        Ok(()) => {
            summary.status = "success".into();
            (summary, None)
        }
        Err(e) => {
            summary.error = Some(e.to_string());
            (summary, Some(e))
        }
    }
}

async fn run_inner(
    job: &Job,
    plugins: &Plugins,
    ctx: &BuildContext,
    opts: &RunOptions,
    dirty: &DirtyCollector,
    counters: &Arc<Counters>,
    summary: &mut Summary,
) -> Result<()> {
    let plan = JobPlan::build(job, plugins, ctx).await?;
    summary.splits = plan.splits.len();
    summary.channels = plan.channels;
    plan.writer
        .prepare()
        .await
        .map_err(|e| e.context(format!("writer {}", job.writer.plugin)))?;

    let throttle = Arc::new(Throttle::new(
        job.settings.bytes_per_sec,
        job.settings.records_per_sec,
    ));
    let queue: Arc<Mutex<VecDeque<Split>>> =
        Arc::new(Mutex::new(plan.splits.iter().cloned().collect()));
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
                eprintln!(
                    "[{:>6.0}s] Total {rows} records, {} | Speed {}/s, {:.0} records/s | Written {} | Filtered {} | Dirty {} | Splits {done}/{total_splits} ({:.0}%)",
                    start.elapsed().as_secs_f64(),
                    crate::summary::human_bytes(bytes as f64),
                    crate::summary::human_bytes((bytes - last.1) as f64 / dt),
                    (rows - last.0) as f64 / dt,
                    counters.written.load(Ordering::Relaxed),
                    counters.filtered.load(Ordering::Relaxed),
                    dirty.count(),
                    100.0 * done as f64 / total_splits.max(1) as f64,
                );
                last = (rows, bytes, Instant::now());
            }
        })
    });

    let mut workers: JoinSet<Result<Receipt>> = JoinSet::new();
    for channel in 0..plan.channels {
        let worker = Worker {
            channel,
            reader: Arc::clone(&plan.reader),
            writer: Arc::clone(&plan.writer),
            transform: Arc::clone(&plan.transform),
            queue: Arc::clone(&queue),
            throttle: Arc::clone(&throttle),
            counters: Arc::clone(counters),
            dirty: dirty.clone(),
            opts: opts.clone(),
        };
        workers.spawn(worker.run());
    }

    let mut receipts = Vec::with_capacity(plan.channels);
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
            Ok(Ok(r)) => receipts.push(r),
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
    if let Some(p) = progress {
        p.abort();
    }
    let close = plan.reader.close().await;
    if let Some(e) = failure {
        if let Err(ae) = plan.writer.abort(receipts).await {
            tracing::error!("abort after failure also failed: {ae}");
        }
        return Err(e);
    }
    if let Err(e) = close {
        plan.writer.abort(receipts).await.ok();
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
            plan.writer.abort(receipts).await.ok();
            return Err(Error::ErrorLimit(format!(
                "dirty records are {ratio:.4} of records read, more than errorLimit.percentage = {pct}"
            )));
        }
    }
    summary.bytes_written = receipts.iter().map(|r| r.bytes).sum();
    let dirty_before = dirty.count();
    let report = plan
        .writer
        .commit(receipts)
        .await
        .map_err(|e| e.context(format!("writer {} commit", job.writer.plugin)))?;
    // Rows a writer rejects while committing (a staged merge) were counted as written.
    let rejected = dirty.count().saturating_sub(dirty_before);
    let _ = counters
        .written
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
            Some(w.saturating_sub(rejected))
        });
    summary.notes = report.notes;
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

struct Worker {
    channel: usize,
    reader: Arc<dyn Reader>,
    writer: Arc<dyn Writer>,
    transform: Arc<Transform>,
    queue: Arc<Mutex<VecDeque<Split>>>,
    throttle: Arc<Throttle>,
    counters: Arc<Counters>,
    dirty: DirtyCollector,
    opts: RunOptions,
}

impl Worker {
    fn next_split(&self) -> Result<Option<Split>> {
        let mut q = self
            .queue
            .lock()
            .map_err(|_| Error::internal("split queue lock poisoned"))?;
        Ok(q.pop_front())
    }

    async fn run(self) -> Result<Receipt> {
        let mut sink = self.writer.open(self.channel, self.dirty.clone()).await?;
        let (tx, mut rx) = mpsc::channel::<RecordBatch>(self.opts.queue_depth.max(1));
        let this = Arc::new(self);
        let producer = {
            let this = Arc::clone(&this);
            tokio::spawn(async move { this.produce(tx).await })
        };
        let mut write_err = None;
        let mut counted = 0u64;
        while let Some(batch) = rx.recv().await {
            let t = Instant::now();
            match sink.write(batch).await {
                Ok(n) => {
                    counted += n;
                    this.counters.written.fetch_add(n, Ordering::Relaxed);
                }
                Err(e) => {
                    write_err = Some(e);
                    break;
                }
            }
            this.counters
                .write_nanos
                .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
        if let Some(e) = write_err {
            producer.abort();
            return Err(e);
        }
        match producer.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(je) => return Err(Error::internal(format!("reader task failed: {je}"))),
        }
        let t = Instant::now();
        let receipt = sink.finish().await?;
        // Rows a streaming sink confirmed only at finish.
        this.counters
            .written
            .fetch_add(receipt.rows.saturating_sub(counted), Ordering::Relaxed);
        this.counters
            .write_nanos
            .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        Ok(receipt)
    }

    async fn produce(&self, tx: mpsc::Sender<RecordBatch>) -> Result<()> {
        let target = self.writer.schema();
        let mut rechunker = Rechunker::new(target, self.opts.write_batch_rows.max(1));
        while let Some(split) = self.next_split()? {
            let mut stream = self
                .reader
                .read(&split, self.opts.read)
                .await
                .map_err(|e| e.context(format!("split {}", split.description)))?;
            let mut row: u64 = 0;
            loop {
                let t = Instant::now();
                let next = stream.next().await;
                self.counters
                    .read_nanos
                    .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
                let batch = match next {
                    None => break,
                    Some(b) => b.map_err(|e| e.context(format!("split {}", split.description)))?,
                };
                let n = batch.num_rows() as u64;
                let bytes = batch_bytes(&batch);
                self.throttle.acquire(bytes, n).await;
                self.counters.read.fetch_add(n, Ordering::Relaxed);
                self.counters.bytes_read.fetch_add(bytes, Ordering::Relaxed);
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
                self.counters
                    .filtered
                    .fetch_add(out.filtered, Ordering::Relaxed);
                self.counters
                    .transform_dirty
                    .fetch_add(out.dirty, Ordering::Relaxed);
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
            self.counters.splits_done.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(last) = rechunker.finish()? {
            // A closed channel means the writer side stopped; it reports why.
            let _ = tx.send(last).await;
        }
        Ok(())
    }
}
