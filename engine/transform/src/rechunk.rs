//! Re-filling batches that the filter and dirty rows have thinned, so writers get
//! full batches (a thin wrapper over Arrow's `BatchCoalescer`).

use arrow::compute::BatchCoalescer;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use ferry_core::Result;

/// Collects batches and hands them back cut to `target_rows` rows (the last one may be
/// shorter). Never returns an empty batch.
#[derive(Debug)]
pub struct Rechunker {
    inner: BatchCoalescer,
}

impl Rechunker {
    /// A rechunker for batches of `schema`, giving batches of `target_rows` rows.
    pub fn new(schema: SchemaRef, target_rows: usize) -> Self {
        Rechunker {
            inner: BatchCoalescer::new(schema, target_rows.max(1)),
        }
    }

    /// Add a batch; returns the batches that are now full.
    pub fn push(&mut self, batch: RecordBatch) -> Result<Vec<RecordBatch>> {
        if batch.num_rows() > 0 {
            self.inner.push_batch(batch)?;
        }
        Ok(self.drain())
    }

    /// Rows waiting for a full batch.
    pub fn buffered_rows(&self) -> usize {
        self.inner.get_buffered_rows()
    }

    /// The rows left over, as one last batch (`None` when nothing is left).
    pub fn finish(&mut self) -> Result<Option<RecordBatch>> {
        self.inner.finish_buffered_batch()?;
        let mut out = self.drain();
        Ok(match out.len() {
            0 => None,
            1 => out.pop(),
            // finish_buffered_batch makes at most one batch beyond the completed ones,
            // which push already drained; concatenate defensively all the same.
            _ => Some(arrow::compute::concat_batches(&self.inner.schema(), &out)?),
        })
    }

    fn drain(&mut self) -> Vec<RecordBatch> {
        let mut out = Vec::new();
        while let Some(b) = self.inner.next_completed_batch() {
            if b.num_rows() > 0 {
                out.push(b);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(schema: &SchemaRef, from: i64, n: i64) -> RecordBatch {
        RecordBatch::try_new(
            Arc::clone(schema),
            vec![Arc::new(Int64Array::from_iter_values(from..from + n))],
        )
        .unwrap()
    }

    #[test]
    fn refills_thin_batches_and_keeps_order() {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let mut r = Rechunker::new(Arc::clone(&schema), 100);
        let mut out = Vec::new();
        let mut next = 0;
        for n in [30, 30, 30, 30, 0, 250, 7] {
            out.extend(r.push(batch(&schema, next, n)).unwrap());
            next += n;
        }
        assert_eq!(r.buffered_rows(), 77);
        out.extend(r.finish().unwrap());
        assert!(r.finish().unwrap().is_none());
        let sizes: Vec<usize> = out.iter().map(|b| b.num_rows()).collect();
        assert_eq!(sizes, vec![100, 100, 100, 77]);
        let ids: Vec<i64> = out
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(ids, (0..377).collect::<Vec<_>>());
    }
}
