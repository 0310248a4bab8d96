//! The toy writer: counts rows and keeps none.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use ferry_core::dirty::DirtyCollector;
use ferry_core::plugin::{
    BatchSink, BuildContext, CommitReport, Durability, Receipt, Split, Writer, WriterFactory,
};
use ferry_core::{Error, Result};
use serde_json::Value;

use crate::config::Params;

/// Builds [`ToyWriter`]s.
pub struct ToyWriterFactory;

#[async_trait]
impl WriterFactory for ToyWriterFactory {
    fn name(&self) -> &'static str {
        crate::CONNECTOR.name
    }
    fn check(&self, params: &Value, path: &str, warnings: &mut Vec<String>) -> Result<()> {
        Params::parse(params, path, warnings).map(|_| ())
    }
    async fn build(
        &self,
        params: &Value,
        path: &str,
        ctx: &BuildContext,
    ) -> Result<Arc<dyn Writer>> {
        let p = Params::parse(params, path, &mut Vec::new())?;
        p.seed(&ctx.catalog)?;
        let (_, schema) = p.projection(path)?;
        Ok(Arc::new(ToyWriter { schema }))
    }
}

/// Counts rows.
pub struct ToyWriter {
    schema: SchemaRef,
}

#[async_trait]
impl Writer for ToyWriter {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
    async fn open(&self, _channel: usize, _dirty: DirtyCollector) -> Result<Box<dyn BatchSink>> {
        Ok(Box::new(ToySink {
            split: None,
            rows: 0,
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

struct ToySink {
    split: Option<usize>,
    rows: u64,
}

#[async_trait]
impl BatchSink for ToySink {
    async fn begin(&mut self, split: &Split) -> Result<()> {
        self.split = Some(split.index);
        self.rows = 0;
        Ok(())
    }
    async fn write(&mut self, batch: RecordBatch) -> Result<u64> {
        self.rows += batch.num_rows() as u64;
        Ok(batch.num_rows() as u64)
    }
    async fn end(&mut self) -> Result<Receipt> {
        let split = self
            .split
            .take()
            .ok_or_else(|| Error::internal("toy writer: end without begin"))?;
        Ok(Receipt::new(split, self.rows, 0, Durability::Process))
    }
    async fn discard(&mut self) -> Result<()> {
        self.split = None;
        Ok(())
    }
    async fn close(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}
