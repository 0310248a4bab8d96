//! Runtime end to end on stream jobs: counts add up, errorLimit both ways, the throttle
//! holds its rate, a failing writer aborts.

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, Int64Array};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use ferry_core::catalog::Catalog;
use ferry_core::dirty::{DirtyCollector, DirtyRecord, Stage};
use ferry_core::job::{ErrorLimit, Job, JobShape, PluginSpec, RetryPolicy, Settings};
use ferry_core::plugin::{
    BatchSink, BuildContext, CommitReport, Durability, Receipt, Split, Writer, WriterFactory,
};
use ferry_core::{Error, Result};
use ferry_runtime::{run_job, Plugins, RunOptions};
use ferry_stream::{StreamReaderFactory, StreamWriterFactory};
use serde_json::{json, Value};

fn job(rows: u64, channels: usize, settings: Settings) -> Job {
    Job {
        name: "test".into(),
        shape: JobShape::DataX,
        reader: PluginSpec {
            plugin: "stream",
            written_as: "streamreader".into(),
            params: json!({
                "column": [
                    {"type": "long", "random": "0,999", "name": "id"},
                    {"type": "string", "value": "abc", "name": "name"}
                ],
                "sliceRecordCount": rows,
                "batchRows": 1000
            }),
            path: "job.content[0].reader.parameter".into(),
        },
        writer: PluginSpec {
            plugin: "stream",
            written_as: "streamwriter".into(),
            params: json!({"print": false}),
            path: "job.content[0].writer.parameter".into(),
        },
        transformers: vec![],
        settings: Settings {
            channels,
            ..settings
        },
        warnings: vec![],
    }
}

fn ctx(channels: usize) -> BuildContext {
    BuildContext {
        catalog: Arc::new(Catalog::empty(None)),
        channels,
        job_name: "test".into(),
        source_schema: None,
        run_id: ferry_core::plugin::new_run_id(),
    }
}

fn quiet() -> RunOptions {
    RunOptions {
        progress_every: None,
        ..Default::default()
    }
}

#[tokio::test]
async fn stream_to_stream_counts_add_up() {
    let plugins = Plugins {
        reader: Arc::new(StreamReaderFactory),
        writer: Arc::new(StreamWriterFactory),
    };
    let (s, err) = run_job(
        &job(25_000, 3, Settings::default()),
        &plugins,
        &ctx(3),
        &quiet(),
    )
    .await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(s.status, "success");
    assert_eq!(s.records_read, 75_000);
    assert_eq!(s.records_written, 75_000);
    assert_eq!(s.records_dirty, 0);
    assert!(s.balanced());
    assert_eq!(s.splits, 3);
}

/// A writer that rejects rows whose id is a multiple of 100 (dirty), and can fail on
/// demand: for good after `fail_after_rows` rows, or `flaky` (a transient error once a
/// split attempt has written some rows, for the first `flaky` attempts that get there).
struct PickyWriterFactory {
    fail_after_rows: Option<u64>,
    flaky: Arc<AtomicU32>,
    committed: Arc<AtomicBool>,
    aborted: Arc<AtomicBool>,
}

struct PickyWriter {
    schema: SchemaRef,
    fail_after_rows: Option<u64>,
    flaky: Arc<AtomicU32>,
    committed: Arc<AtomicBool>,
    aborted: Arc<AtomicBool>,
}

struct PickySink {
    dirty: DirtyCollector,
    rows: u64,
    split: Option<usize>,
    split_rows: u64,
    fail_after_rows: Option<u64>,
    flaky: Arc<AtomicU32>,
}

#[async_trait]
impl WriterFactory for PickyWriterFactory {
    fn name(&self) -> &'static str {
        "picky"
    }
    fn check(&self, _: &Value, _: &str, _: &mut Vec<String>) -> Result<()> {
        Ok(())
    }
    async fn build(&self, _: &Value, _: &str, ctx: &BuildContext) -> Result<Arc<dyn Writer>> {
        Ok(Arc::new(PickyWriter {
            schema: ctx.source_schema.clone().expect("source schema"),
            fail_after_rows: self.fail_after_rows,
            flaky: self.flaky.clone(),
            committed: self.committed.clone(),
            aborted: self.aborted.clone(),
        }))
    }
}

#[async_trait]
impl Writer for PickyWriter {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    async fn open(&self, _channel: usize, dirty: DirtyCollector) -> Result<Box<dyn BatchSink>> {
        Ok(Box::new(PickySink {
            dirty,
            rows: 0,
            split: None,
            split_rows: 0,
            fail_after_rows: self.fail_after_rows,
            flaky: self.flaky.clone(),
        }))
    }
    async fn commit(&self, receipts: Vec<Receipt>) -> Result<CommitReport> {
        self.committed.store(true, Ordering::SeqCst);
        Ok(CommitReport {
            rows: receipts.iter().map(|r| r.rows).sum(),
            notes: vec![],
        })
    }
    async fn abort(&self, _receipts: Vec<Receipt>) -> Result<()> {
        self.aborted.store(true, Ordering::SeqCst);
        Ok(())
    }
}

#[async_trait]
impl BatchSink for PickySink {
    async fn begin(&mut self, split: &Split) -> Result<()> {
        self.split = Some(split.index);
        self.split_rows = 0;
        Ok(())
    }

    async fn write(&mut self, batch: RecordBatch) -> Result<u64> {
        if let Some(limit) = self.fail_after_rows {
            if self.rows >= limit {
                return Err(Error::remote("target went away"));
            }
        }
        if self.split_rows >= 2_000
            && self
                .flaky
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            return Err(Error::transient("connection reset by the target"));
        }
        let ids = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("id column");
        let mut bad = Vec::new();
        for i in 0..ids.len() {
            if ids.value(i) % 100 == 0 {
                bad.push(
                    DirtyRecord::new(Stage::Writer, "id is a multiple of 100")
                        .column("id")
                        .value(ids.value(i).to_string()),
                );
            }
        }
        let n = batch.num_rows() as u64 - bad.len() as u64;
        self.dirty.push_all(bad)?;
        self.rows += n;
        self.split_rows += n;
        Ok(n)
    }

    async fn end(&mut self) -> Result<Receipt> {
        let split = self.split.take().expect("begin before end");
        Ok(Receipt::new(split, self.split_rows, 0, Durability::Process))
    }

    async fn discard(&mut self) -> Result<()> {
        self.rows -= self.split_rows;
        self.split_rows = 0;
        self.split = None;
        Ok(())
    }

    async fn close(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

fn picky(fail_after_rows: Option<u64>) -> (Plugins, Arc<AtomicBool>, Arc<AtomicBool>) {
    flaky_picky(fail_after_rows, 0)
}

fn flaky_picky(
    fail_after_rows: Option<u64>,
    flaky: u32,
) -> (Plugins, Arc<AtomicBool>, Arc<AtomicBool>) {
    let committed = Arc::new(AtomicBool::new(false));
    let aborted = Arc::new(AtomicBool::new(false));
    (
        Plugins {
            reader: Arc::new(StreamReaderFactory),
            writer: Arc::new(PickyWriterFactory {
                fail_after_rows,
                flaky: Arc::new(AtomicU32::new(flaky)),
                committed: committed.clone(),
                aborted: aborted.clone(),
            }),
        },
        committed,
        aborted,
    )
}

#[tokio::test]
async fn dirty_rows_within_the_limit_commit_and_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let dirty_file = dir.path().join("dirty.jsonl");
    let (plugins, committed, _) = picky(None);
    let settings = Settings {
        error_limit: ErrorLimit {
            record: Some(1_000_000),
            percentage: None,
        },
        ..Default::default()
    };
    let opts = RunOptions {
        dirty_file: Some(dirty_file.clone()),
        ..quiet()
    };
    let (s, err) = run_job(&job(20_000, 2, settings), &plugins, &ctx(2), &opts).await;
    assert!(err.is_none(), "{err:?}");
    assert!(committed.load(Ordering::SeqCst));
    assert!(
        s.records_dirty > 0,
        "random ids should hit multiples of 100"
    );
    assert!(s.balanced(), "{s:?}");
    let lines = std::fs::read_to_string(&dirty_file)
        .unwrap()
        .lines()
        .count() as u64;
    assert_eq!(lines, s.records_dirty);
}

#[tokio::test]
async fn error_limit_record_fails_and_aborts() {
    let (plugins, committed, aborted) = picky(None);
    let settings = Settings {
        error_limit: ErrorLimit {
            record: Some(5),
            percentage: Some(1.0),
        },
        ..Default::default()
    };
    let (s, err) = run_job(&job(20_000, 2, settings), &plugins, &ctx(2), &quiet()).await;
    let err = err.expect("errorLimit.record = 5 must fail the job");
    assert!(matches!(err.root(), Error::ErrorLimit(_)), "{err}");
    assert_eq!(err.exit_code(), 1);
    assert_eq!(s.status, "failed");
    assert!(!committed.load(Ordering::SeqCst));
    assert!(aborted.load(Ordering::SeqCst));
}

#[tokio::test]
async fn error_limit_percentage_is_checked_at_the_end() {
    // About 1% of ids are multiples of 100: 0.5% fails, 5% passes.
    let (plugins, committed, aborted) = picky(None);
    let tight = Settings {
        error_limit: ErrorLimit {
            record: None,
            percentage: Some(0.005),
        },
        ..Default::default()
    };
    let (_, err) = run_job(&job(50_000, 1, tight), &plugins, &ctx(1), &quiet()).await;
    assert!(
        matches!(err.as_ref().map(Error::root), Some(Error::ErrorLimit(_))),
        "{err:?}"
    );
    assert!(
        !committed.load(Ordering::SeqCst),
        "over the limit: nothing committed"
    );
    assert!(aborted.load(Ordering::SeqCst));
    let (plugins, committed, _) = picky(None);
    let loose = Settings {
        error_limit: ErrorLimit {
            record: None,
            percentage: Some(0.05),
        },
        ..Default::default()
    };
    let (s, err) = run_job(&job(50_000, 1, loose), &plugins, &ctx(1), &quiet()).await;
    assert!(err.is_none(), "{err:?}");
    assert!(committed.load(Ordering::SeqCst));
    assert!(s.balanced());
}

#[tokio::test]
async fn a_failing_writer_aborts_the_job() {
    let (plugins, committed, aborted) = picky(Some(3_000));
    let (s, err) = run_job(
        &job(20_000, 2, Settings::default()),
        &plugins,
        &ctx(2),
        &quiet(),
    )
    .await;
    let err = err.expect("writer failure fails the job");
    assert!(err.to_string().contains("target went away"), "{err}");
    // where: the writer, and the split it was writing
    let at = s.error_at.clone().expect("the summary says where");
    assert_eq!(at.connector.as_deref(), Some("stream writer"), "{at:?}");
    assert!(
        at.split.is_some() && at.split_description.is_some(),
        "{at:?}"
    );
    assert_eq!(at, err.location());
    assert!(
        std::error::Error::source(&err).is_some_and(|s| s.to_string().contains("target went away")),
        "the error itself is the source of the located one"
    );
    assert_eq!(s.retries, 0, "not transient: never retried");
    assert_eq!(s.status, "failed");
    assert!(!committed.load(Ordering::SeqCst));
    assert!(aborted.load(Ordering::SeqCst));
}

#[tokio::test]
async fn record_throttle_holds_the_rate() {
    let plugins = Plugins {
        reader: Arc::new(StreamReaderFactory),
        writer: Arc::new(StreamWriterFactory),
    };
    let settings = Settings {
        records_per_sec: Some(100_000),
        ..Default::default()
    };
    let start = Instant::now();
    let (s, err) = run_job(&job(100_000, 2, settings), &plugins, &ctx(2), &quiet()).await;
    assert!(err.is_none(), "{err:?}");
    let secs = start.elapsed().as_secs_f64();
    // 200k records at 100k/s = 2 s, less the 0.1 s burst; within 10% below, generous above.
    assert!(
        (1.7..2.6).contains(&secs),
        "took {secs:.2}s for {} records",
        s.records_read
    );
}

#[tokio::test]
async fn byte_throttle_holds_the_rate() {
    let plugins = Plugins {
        reader: Arc::new(StreamReaderFactory),
        writer: Arc::new(StreamWriterFactory),
    };
    let settings = Settings {
        bytes_per_sec: Some(1 << 20),
        ..Default::default()
    };
    let start = Instant::now();
    let (s, err) = run_job(&job(50_000, 2, settings), &plugins, &ctx(2), &quiet()).await;
    assert!(err.is_none(), "{err:?}");
    let secs = start.elapsed().as_secs_f64();
    let expected = s.bytes_read as f64 / (1u64 << 20) as f64;
    assert!(
        expected > 1.0,
        "test needs more than a second of data, has {expected:.2}s"
    );
    assert!(
        secs > expected * 0.85 && secs < expected * 1.3 + 0.3,
        "took {secs:.2}s, expected about {expected:.2}s"
    );
}

fn fast_retries(attempts: u32) -> Settings {
    Settings {
        retry: RetryPolicy {
            attempts,
            interval_ms: 1,
            max_wait_ms: 5,
        },
        error_limit: ErrorLimit {
            record: Some(1_000_000),
            percentage: None,
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn transient_failures_are_retried_and_their_counts_withdrawn() {
    let dir = tempfile::tempdir().unwrap();
    let dirty_file = dir.path().join("dirty.jsonl");
    let (plugins, committed, _) = flaky_picky(None, 3);
    let opts = RunOptions {
        dirty_file: Some(dirty_file.clone()),
        write_batch_rows: 500,
        ..quiet()
    };
    let (s, err) = run_job(&job(20_000, 2, fast_retries(4)), &plugins, &ctx(2), &opts).await;
    assert!(err.is_none(), "{err:?}");
    assert!(committed.load(Ordering::SeqCst));
    assert_eq!(s.retries, 3, "{:?}", s.retried);
    assert_eq!(s.retried.len(), 3);
    assert!(
        s.retried[0].contains("connection reset by the target"),
        "{:?}",
        s.retried
    );
    // Failed attempts read rows too; only the attempts that ended count.
    assert_eq!(s.records_read, 40_000, "{s:?}");
    assert!(s.balanced(), "{s:?}");
    assert!(s.records_dirty > 0);
    let lines = std::fs::read_to_string(&dirty_file)
        .unwrap()
        .lines()
        .count() as u64;
    assert_eq!(
        lines, s.records_dirty,
        "withdrawn attempts leave no dirty records"
    );
    assert!(s.to_string().contains("Retries               : 3"), "{s}");
}

#[tokio::test]
async fn a_split_that_keeps_failing_fails_the_job_after_its_attempts() {
    let (plugins, committed, aborted) = flaky_picky(None, 1_000);
    let (s, err) = run_job(
        &job(20_000, 1, fast_retries(3)),
        &plugins,
        &ctx(1),
        &quiet(),
    )
    .await;
    let err = err.expect("out of attempts");
    let msg = err.to_string();
    assert!(msg.contains("attempt 3 of 3"), "{msg}");
    assert!(msg.contains("connection reset by the target"), "{msg}");
    assert!(msg.contains("split 0 ("), "{msg}");
    assert_eq!(s.retries, 2);
    assert!(!committed.load(Ordering::SeqCst));
    assert!(aborted.load(Ordering::SeqCst));
}

#[tokio::test]
async fn one_attempt_means_no_retry() {
    let (plugins, _, aborted) = flaky_picky(None, 1);
    let (s, err) = run_job(
        &job(20_000, 1, fast_retries(1)),
        &plugins,
        &ctx(1),
        &quiet(),
    )
    .await;
    assert!(err.is_some());
    assert_eq!(s.retries, 0);
    assert!(aborted.load(Ordering::SeqCst));
}
