//! `streamwriter`: prints rows (`print: true`) or discards them; commits nothing.

use ferry_core::connector::{param, Param, Set};
use std::io::Write;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use async_trait::async_trait;
use ferry_core::dirty::DirtyCollector;
use ferry_core::params::{self, lenient_opt_bool};
use ferry_core::plugin::{
    BatchSink, BuildContext, CommitReport, Durability, Receipt, Split, Writer, WriterFactory,
};
use ferry_core::{Error, Result};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Config {
    #[serde(default, deserialize_with = "lenient_opt_bool")]
    print: Option<bool>,
    #[serde(default)]
    field_delimiter: Option<String>,
}

/// Keys DataX's streamwriter reads (or, for `column`, jobs carry over from a reader) that
/// ferry ignores with a warning: the writer prints whatever columns the reader gives.
pub const IGNORED: &[&str] = &["encoding", "recordNumBeforeSleep", "sleepTime", "column"];

/// Builds [`StreamWriter`]s.
#[derive(Debug, Default)]
pub struct StreamWriterFactory;

#[async_trait]
impl WriterFactory for StreamWriterFactory {
    fn name(&self) -> &'static str {
        "stream"
    }
    fn check(&self, params: &Value, path: &str, warnings: &mut Vec<String>) -> Result<()> {
        params::parse::<Config>(params, path, IGNORED, warnings).map(|_| ())
    }
    async fn build(
        &self,
        params: &Value,
        path: &str,
        ctx: &BuildContext,
    ) -> Result<Arc<dyn Writer>> {
        let mut w = Vec::new();
        let cfg: Config = params::parse(params, path, IGNORED, &mut w)?;
        for m in w {
            tracing::warn!("{m}");
        }
        let schema = ctx
            .source_schema
            .clone()
            .ok_or_else(|| Error::internal("stream writer needs the source schema"))?;
        Ok(Arc::new(StreamWriter {
            schema,
            print: cfg.print.unwrap_or(false),
            delimiter: cfg.field_delimiter.unwrap_or_else(|| "\t".into()),
        }))
    }
}

/// The printing / discarding writer.
#[derive(Debug)]
pub struct StreamWriter {
    schema: SchemaRef,
    print: bool,
    delimiter: String,
}

#[async_trait]
impl Writer for StreamWriter {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
    async fn open(&self, channel: usize, _dirty: DirtyCollector) -> Result<Box<dyn BatchSink>> {
        let _ = channel;
        Ok(Box::new(StreamSink {
            print: self.print,
            delimiter: self.delimiter.clone(),
            split: None,
            rows: 0,
            bytes: 0,
        }))
    }
    async fn commit(&self, receipts: Vec<Receipt>) -> Result<CommitReport> {
        Ok(CommitReport {
            rows: receipts.iter().map(|r| r.rows).sum(),
            notes: vec![],
        })
    }
    async fn abort(&self, _receipts: Vec<Receipt>) -> Result<()> {
        Ok(())
    }
}

struct StreamSink {
    print: bool,
    /// The split being written.
    split: Option<usize>,
    delimiter: String,
    rows: u64,
    bytes: u64,
}

#[async_trait]
impl BatchSink for StreamSink {
    async fn begin(&mut self, split: &Split) -> Result<()> {
        self.split = Some(split.index);
        self.rows = 0;
        self.bytes = 0;
        Ok(())
    }

    async fn write(&mut self, batch: RecordBatch) -> Result<u64> {
        let n = batch.num_rows() as u64;
        self.rows += n;
        self.bytes += batch.get_array_memory_size() as u64;
        if self.print {
            let opts = FormatOptions::default().with_null("");
            let fmts = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let mut out = String::new();
            for row in 0..batch.num_rows() {
                for (i, f) in fmts.iter().enumerate() {
                    if i > 0 {
                        out.push_str(&self.delimiter);
                    }
                    out.push_str(&f.value(row).to_string());
                }
                out.push('\n');
            }
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            lock.write_all(out.as_bytes())
                .map_err(|e| Error::io("writing to stdout", e))?;
        }
        Ok(n)
    }
    async fn end(&mut self) -> Result<Receipt> {
        let split = self
            .split
            .take()
            .ok_or_else(|| Error::internal("stream writer: end without begin"))?;
        Ok(Receipt::new(
            split,
            self.rows,
            self.bytes,
            Durability::Process,
        ))
    }

    async fn discard(&mut self) -> Result<()> {
        self.split = None;
        if self.print && self.rows > 0 {
            return Err(Error::data(format!(
                "stream writer: {} row(s) of the failed split were already printed and cannot be taken back",
                self.rows
            )));
        }
        Ok(())
    }

    async fn close(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// The parameters, as `ferry job template` prints them (key, example value, when set,
/// type, default and meaning).
#[rustfmt::skip]
pub const PARAMS: &[Param] = &[
    param(
        "print",
        "true",
        Set::Always,
        "bool, default false: print rows to stdout (false discards them)",
    ),
    param(
        "fieldDelimiter",
        "\"\\t\"",
        Set::Never,
        "string, default tab: separator between printed values",
    ),
];
