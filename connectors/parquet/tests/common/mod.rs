//! Helpers shared by the Parquet connector tests: drive the factories through the
//! ferry-core traits exactly as the runtime does.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use ferry_core::catalog::Catalog;
use ferry_core::dirty::DirtyCollector;
use ferry_core::plugin::{
    BuildContext, CommitReport, ReadOptions, Reader, ReaderFactory, Split, Writer, WriterFactory,
};
use ferry_core::Result;
use ferry_parquet::{ParquetReaderFactory, ParquetWriterFactory};
use futures::StreamExt;
use serde_json::Value;

pub fn ctx(schema: Option<SchemaRef>) -> BuildContext {
    BuildContext {
        catalog: Arc::new(Catalog::empty(None)),
        channels: 2,
        job_name: "test".into(),
        source_schema: schema,
        run_id: ferry_core::plugin::new_run_id(),
    }
}

pub async fn build_writer(params: Value, schema: SchemaRef) -> Result<Arc<dyn Writer>> {
    ParquetWriterFactory
        .build(&params, "writer.parameter", &ctx(Some(schema)))
        .await
}

/// Write each inner list through its own channel, then commit.
pub async fn write_channels(
    writer: &Arc<dyn Writer>,
    channels: Vec<Vec<RecordBatch>>,
) -> Result<CommitReport> {
    let splits = (0..channels.len())
        .map(|i| Split::new(i, format!("split {i}"), &()))
        .collect::<Result<Vec<_>>>()?;
    writer.prepare(&splits).await?;
    let mut receipts = Vec::new();
    for (ch, batches) in channels.into_iter().enumerate() {
        let mut sink = writer.open(ch, DirtyCollector::in_memory()).await?;
        sink.begin(&splits[ch]).await?;
        for b in batches {
            sink.write(b).await?;
        }
        receipts.push(sink.end().await?);
        sink.close().await?;
    }
    writer.commit(receipts).await
}

pub async fn write(
    params: Value,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<CommitReport> {
    let w = build_writer(params, schema).await?;
    write_channels(&w, vec![batches]).await
}

pub async fn build_reader(params: Value) -> Result<Arc<dyn Reader>> {
    ParquetReaderFactory
        .build(&params, "reader.parameter", &ctx(None))
        .await
}

/// Plan with `channels` and read every split, in split order, as one batch.
pub async fn read_all(reader: &Arc<dyn Reader>, channels: usize) -> Result<RecordBatch> {
    let splits = reader.plan(channels).await?;
    let mut batches = Vec::new();
    for s in &splits {
        let mut stream = reader.read(s, ReadOptions::default()).await?;
        while let Some(b) = stream.next().await {
            let b = b?;
            assert!(b.num_rows() > 0, "batches are never empty");
            batches.push(b);
        }
    }
    Ok(concat_batches(&reader.schema(), &batches)?)
}

pub async fn read(params: Value) -> Result<RecordBatch> {
    let r = build_reader(params).await?;
    read_all(&r, 1).await
}

/// A fresh empty folder for one test.
pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// Every file below `dir` (hidden ones included), relative, sorted.
pub fn all_files(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(base, &p, out);
                } else {
                    out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

pub fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

pub fn sub(p: &Path, s: &str) -> PathBuf {
    p.join(s)
}

/// The python with pyarrow (`FERRY_TEST_PYTHON`), or a clear panic.
pub fn python() -> String {
    std::env::var("FERRY_TEST_PYTHON")
        .unwrap_or_else(|_| panic!("set FERRY_TEST_PYTHON to a python with pyarrow (scripts/pyenv.sh prints one); run scripts/test"))
}

/// Run `code` with `args` under the test python; returns stdout, panics with stderr.
pub fn run_python(code: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(python())
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The error of `r`, or a panic saying it succeeded.
pub fn err_of<T>(r: Result<T>) -> ferry_core::Error {
    match r {
        Ok(_) => panic!("expected an error, got success"),
        Err(e) => e,
    }
}
