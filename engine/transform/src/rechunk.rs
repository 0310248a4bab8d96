//! Re-filling batches that the filter and dirty rows have thinned, so writers get
//! full batches, and cutting batches of wide rows, so memory follows bytes.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use ferry_core::Result;

/// Collects batches and hands them back cut to `target_rows` rows or about `max_bytes`
/// bytes, whichever comes first (the last one may be smaller). Never returns an empty
/// batch. Cutting by bytes too keeps memory bounded by bytes, not by row width: 8192
/// rows of 200 KB text would be 1.6 GB in one batch.
#[derive(Debug)]
pub struct Rechunker {
    schema: SchemaRef,
    target_rows: usize,
    max_bytes: usize,
    pending: Vec<RecordBatch>,
    rows: usize,
    bytes: usize,
}

/// Approximate in-memory bytes of a batch's data (slices count only their part).
pub fn batch_bytes(batch: &RecordBatch) -> usize {
    batch
        .columns()
        .iter()
        .map(|c| c.to_data().get_slice_memory_size().unwrap_or(0))
        .sum()
}

impl Rechunker {
    /// A rechunker for batches of `schema`, giving batches of `target_rows` rows (and at
    /// most 64 MiB: see [`Rechunker::with_max_bytes`]).
    pub fn new(schema: SchemaRef, target_rows: usize) -> Self {
        Rechunker {
            schema,
            target_rows: target_rows.max(1),
            max_bytes: 64 << 20,
            pending: Vec::new(),
            rows: 0,
            bytes: 0,
        }
    }

    /// Cut batches at about `max_bytes` too (a batch holds at least one row).
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes.max(1);
        self
    }

    /// Add a batch; returns the batches that are now full.
    pub fn push(&mut self, batch: RecordBatch) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::new();
        let n = batch.num_rows();
        if n == 0 {
            return Ok(out);
        }
        let per_row = (batch_bytes(&batch) / n).max(1);
        let mut off = 0;
        while off < n {
            let room_rows = self.target_rows - self.rows;
            let room_bytes = (self.max_bytes.saturating_sub(self.bytes) / per_row).max(1);
            let len = (n - off).min(room_rows).min(room_bytes);
            self.pending.push(batch.slice(off, len));
            off += len;
            self.rows += len;
            self.bytes += len * per_row;
            if self.rows >= self.target_rows || self.bytes >= self.max_bytes {
                out.extend(self.flush()?);
            }
        }
        Ok(out)
    }

    /// Rows waiting for a full batch.
    pub fn buffered_rows(&self) -> usize {
        self.rows
    }

    /// The rows left over, as one last batch (`None` when nothing is left).
    pub fn finish(&mut self) -> Result<Option<RecordBatch>> {
        self.flush()
    }

    fn flush(&mut self) -> Result<Option<RecordBatch>> {
        self.rows = 0;
        self.bytes = 0;
        let out = match self.pending.len() {
            0 => None,
            1 => self.pending.pop(),
            _ => Some(arrow::compute::concat_batches(&self.schema, &self.pending)?),
        };
        self.pending.clear();
        Ok(out)
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

    #[test]
    fn cuts_wide_rows_by_bytes() {
        use arrow::array::StringArray;
        let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, false)]));
        let wide = "x".repeat(10_000);
        let b = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(StringArray::from(vec![wide.as_str(); 1000]))],
        )
        .unwrap();
        let mut r = Rechunker::new(Arc::clone(&schema), 8192).with_max_bytes(100_000);
        let mut out = r.push(b).unwrap();
        out.extend(r.finish().unwrap());
        assert_eq!(out.iter().map(|b| b.num_rows()).sum::<usize>(), 1000);
        for b in &out {
            assert!(b.num_rows() <= 10, "{} rows", b.num_rows());
            assert!(batch_bytes(b) <= 110_000, "{} bytes", batch_bytes(b));
        }
    }
}
