//! The toy reader: `rows` rows, one split per channel.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use ferry_core::plugin::{BatchStream, BuildContext, ReadOptions, Reader, ReaderFactory, Split};
use ferry_core::{Error, Result};
use serde_json::Value;

use crate::config::Params;

/// Builds [`ToyReader`]s.
pub struct ToyReaderFactory;

#[async_trait]
impl ReaderFactory for ToyReaderFactory {
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
    ) -> Result<Arc<dyn Reader>> {
        let p = Params::parse(params, path, &mut Vec::new())?;
        let (picked, schema) = p.projection(path)?;
        Ok(Arc::new(ToyReader {
            seed: p.seed(&ctx.catalog)?,
            rows: p.rows.unwrap_or(10),
            picked,
            schema,
        }))
    }
}

/// Reads the numbers table.
pub struct ToyReader {
    seed: i64,
    rows: u64,
    picked: Vec<usize>,
    schema: SchemaRef,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Range {
    from: u64,
    to: u64,
}

#[async_trait]
impl Reader for ToyReader {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
    async fn plan(&self, channels: usize) -> Result<Vec<Split>> {
        let n = channels.max(1) as u64;
        let step = self.rows.div_ceil(n).max(1);
        let mut out = Vec::new();
        let mut from = 0;
        while from < self.rows {
            let to = (from + step).min(self.rows);
            out.push(Split::new(
                out.len(),
                format!("ids [{from}, {to})"),
                &Range { from, to },
            )?);
            from = to;
        }
        Ok(out)
    }
    async fn read(&self, split: &Split, _opts: ReadOptions) -> Result<BatchStream> {
        let r: Range = split.decode()?;
        let batch = crate::rows(self.seed, r.from, r.to)?
            .project(&self.picked)
            .map_err(|e| Error::internal(format!("toy: {e}")))?;
        Ok(Box::pin(futures::stream::iter([Ok(batch)])))
    }
}
