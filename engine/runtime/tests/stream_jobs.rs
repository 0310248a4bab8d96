//! Runtime end to end on stream jobs: counts add up, errorLimit both ways, the throttle
//! holds its rate, a failing writer aborts.

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, Int64Array};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use ferry_core::catalog::Catalog;
use ferry_core::dirty::{DirtyCollector, DirtyRecord, Stage};
use ferry_core::job::{ErrorLimit, Job, JobShape, PluginSpec, Settings};
use ferry_core::plugin::{BatchSink, BuildContext, CommitReport, Receipt, Writer, WriterFactory};
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
        run_id: "test".into(),
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

/// A writer that rejects rows whose id is a multiple of 100 (dirty), and can fail on demand.
struct PickyWriterFactory {
    fail_after_rows: Option<u64>,
    committed: Arc<AtomicBool>,
    aborted: Arc<AtomicBool>,
}

struct PickyWriter {
    schema: SchemaRef,
    fail_after_rows: Option<u64>,
    committed: Arc<AtomicBool>,
    aborted: Arc<AtomicBool>,
}

struct PickySink {
    dirty: DirtyCollector,
    rows: u64,
    fail_after_rows: Option<u64>,
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
            fail_after_rows: self.fail_after_rows,
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
    async fn write(&mut self, batch: RecordBatch) -> Result<u64> {
        if let Some(limit) = self.fail_after_rows {
            if self.rows >= limit {
                return Err(Error::remote("target went away"));
            }
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
        Ok(n)
    }
    async fn finish(self: Box<Self>) -> Result<Receipt> {
        Ok(Receipt {
            channel: 0,
            rows: self.rows,
            bytes: 0,
            payload: None,
        })
    }
}

fn picky(fail_after_rows: Option<u64>) -> (Plugins, Arc<AtomicBool>, Arc<AtomicBool>) {
    let committed = Arc::new(AtomicBool::new(false));
    let aborted = Arc::new(AtomicBool::new(false));
    (
        Plugins {
            reader: Arc::new(StreamReaderFactory),
            writer: Arc::new(PickyWriterFactory {
                fail_after_rows,
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
    assert!(matches!(err, Error::ErrorLimit(_)), "{err}");
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
    assert!(matches!(err, Some(Error::ErrorLimit(_))), "{err:?}");
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
