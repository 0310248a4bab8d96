//! Turning rows at fault into dirty records, and keeping track of which input row
//! each remaining row was, through every filter, so a dirty record names the row of
//! the split it came from.

use arrow::array::{Array, ArrayRef, BooleanArray, UInt32Array};
use arrow::compute::{filter, take_record_batch, FilterBuilder};
use arrow::json::writer::JsonArray;
use arrow::json::WriterBuilder;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use ferry_core::dirty::{DirtyCollector, DirtyRecord, Stage};
use ferry_core::Result;
use serde_json::{Map, Value};

use crate::{drop_mask, BatchOrigin};

/// A row that cannot be written, by its index in the current (thinned) batch.
#[derive(Debug)]
pub(crate) struct BadRow {
    pub row: usize,
    pub column: String,
    pub value: String,
    pub reason: String,
}

/// The value at `row` of `arr` as text (`NULL` for null).
pub(crate) fn render(arr: &ArrayRef, row: usize) -> String {
    let opts = FormatOptions::default().with_null("NULL");
    match ArrayFormatter::try_new(arr.as_ref(), &opts) {
        Ok(f) => f.value(row).to_string(),
        Err(_) => format!("<{}>", arr.data_type()),
    }
}

/// The mapping from rows of the current batch to rows of the input batch.
pub(crate) struct RowMap<'a> {
    input: &'a RecordBatch,
    origin: BatchOrigin<'a>,
    collector: &'a DirtyCollector,
    /// Keep-masks applied so far, in order; each is as long as the rows before it.
    masks: Vec<BooleanArray>,
    current: usize,
    dirty: u64,
}

impl<'a> RowMap<'a> {
    pub fn new(
        input: &'a RecordBatch,
        origin: BatchOrigin<'a>,
        collector: &'a DirtyCollector,
    ) -> Self {
        RowMap {
            input,
            origin,
            collector,
            masks: Vec::new(),
            current: input.num_rows(),
            dirty: 0,
        }
    }

    /// The current rows were thinned by `keep`.
    pub fn keep(&mut self, keep: BooleanArray) {
        self.current = keep.true_count();
        self.masks.push(keep);
    }

    /// Rows sent to the dirty collector so far.
    pub fn dirty(&self) -> u64 {
        self.dirty
    }

    /// Input row of every current row.
    fn original_indices(&self) -> Result<UInt32Array> {
        let mut idx = UInt32Array::from_iter_values(0..self.input.num_rows() as u32);
        for m in &self.masks {
            let f = filter(&idx, m)?;
            idx = f
                .as_any()
                .downcast_ref::<UInt32Array>()
                .cloned()
                .unwrap_or_else(|| UInt32Array::from(Vec::<u32>::new()));
        }
        Ok(idx)
    }

    /// Send `bad` rows to the collector and drop them from `cols`; returns the rows left.
    pub fn drop_dirty(&mut self, mut bad: Vec<BadRow>, cols: &mut [ArrayRef]) -> Result<usize> {
        bad.sort_by_key(|b| b.row);
        bad.dedup_by_key(|b| b.row);
        let orig = self.original_indices()?;
        let orig_rows: Vec<u32> = bad.iter().map(|b| orig.value(b.row)).collect();
        let records = self.records(&orig_rows);
        let recs: Vec<DirtyRecord> = bad
            .iter()
            .zip(orig_rows.iter())
            .zip(records)
            .map(|((b, o), record)| {
                let mut r = DirtyRecord::new(Stage::Transform, b.reason.clone())
                    .column(b.column.clone())
                    .value(b.value.clone())
                    .split(self.origin.split)
                    .row(self.origin.first_row + u64::from(*o));
                if let Some(rec) = record {
                    r = r.record(rec);
                }
                r
            })
            .collect();
        self.dirty += recs.len() as u64;
        let rows: Vec<usize> = bad.iter().map(|b| b.row).collect();
        let keep = drop_mask(self.current, &rows);
        let p = FilterBuilder::new(&keep).optimize().build();
        for c in cols.iter_mut() {
            *c = p.filter(c)?;
        }
        self.keep(keep);
        self.collector.push_all(recs)?;
        Ok(self.current)
    }

    /// The input rows `rows` as JSON objects (field name → value).
    fn records(&self, rows: &[u32]) -> Vec<Option<Map<String, Value>>> {
        let json = (|| -> Option<Vec<Map<String, Value>>> {
            let idx = UInt32Array::from(rows.to_vec());
            let taken = take_record_batch(self.input, &idx).ok()?;
            let mut w = WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, JsonArray>(Vec::new());
            w.write(&taken).ok()?;
            w.finish().ok()?;
            let buf = w.into_inner();
            serde_json::from_slice::<Vec<Map<String, Value>>>(&buf).ok()
        })();
        if let Some(v) = json.filter(|v| v.len() == rows.len()) {
            return v.into_iter().map(Some).collect();
        }
        // Types the JSON writer does not take: render each value as text.
        rows.iter()
            .map(|r| {
                let mut m = Map::new();
                for (f, c) in self
                    .input
                    .schema()
                    .fields()
                    .iter()
                    .zip(self.input.columns())
                {
                    let v = if c.is_null(*r as usize) {
                        Value::Null
                    } else {
                        Value::String(render(c, *r as usize))
                    };
                    m.insert(f.name().clone(), v);
                }
                Some(m)
            })
            .collect()
    }
}
