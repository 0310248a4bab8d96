//! A multi-batch run through one compiled transform and the rechunker, as the runtime
//! drives it: every row read is written, filtered or dirty, and the dirty file names
//! each bad row by its number in the split.

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, Int32Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use ferry_core::dirty::DirtyCollector;
use ferry_core::job::TransformerSpec;
use ferry_core::plugin::{ColumnSlot, ConstantValue};
use ferry_transform::{BatchOrigin, Rechunker, Transform, TransformSpec};
use serde_json::{json, Value};

fn source_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("year", DataType::Int64, true),
        Field::new("salary", DataType::Float64, true),
        Field::new("code", DataType::Utf8, true),
    ]))
}

/// Row `i` of the synthetic source: every 7th has a bad code, every 11th a NaN salary,
/// every 13th the name "skip" that dx_filter drops; years cycle 1980..=1999.
fn source_batch(from: usize, n: usize) -> RecordBatch {
    let ids: Vec<i64> = (from..from + n).map(|i| i as i64).collect();
    let names: Vec<String> = (from..from + n)
        .map(|i| {
            if i.is_multiple_of(13) {
                "skip".into()
            } else {
                format!("p{i}")
            }
        })
        .collect();
    let years: Vec<i64> = (from..from + n).map(|i| 1980 + (i % 20) as i64).collect();
    let salaries: Vec<f64> = (from..from + n)
        .map(|i| {
            if i.is_multiple_of(11) {
                f64::NAN
            } else {
                i as f64 * 1.5
            }
        })
        .collect();
    let codes: Vec<String> = (from..from + n)
        .map(|i| {
            if i.is_multiple_of(7) {
                "x".into()
            } else {
                (i % 100).to_string()
            }
        })
        .collect();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids)),
        Arc::new(StringArray::from(names)),
        Arc::new(Int64Array::from(years)),
        Arc::new(Float64Array::from(salaries)),
        Arc::new(StringArray::from(codes)),
    ];
    RecordBatch::try_new(source_schema(), cols).unwrap()
}

fn compile() -> Transform {
    let target = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int32, false),
        Field::new("label", DataType::Utf8, true),
        Field::new("salary", DataType::Decimal128(12, 2), true),
        Field::new("code", DataType::Int32, true),
        Field::new("pt", DataType::Utf8, false),
    ]));
    Transform::compile(TransformSpec {
        source_schema: source_schema(),
        layout: vec![
            ColumnSlot::Source(0),
            ColumnSlot::Source(1),
            ColumnSlot::Source(3),
            ColumnSlot::Source(4),
            ColumnSlot::Constant(ConstantValue::Text("20261122".into())),
        ],
        filter: Some("year >= 1985".into()),
        transformers: vec![
            TransformerSpec {
                name: "dx_filter".into(),
                parameter: json!({"columnIndex": 1, "paras": ["=", "skip"]}),
                path: "job.content[0].transformer[0]".into(),
            },
            TransformerSpec {
                name: "dx_sql".into(),
                parameter: json!({"columnIndex": 1, "expr": "upper(name) || '-' || const_4"}),
                path: "job.content[0].transformer[1]".into(),
            },
        ],
        target_schema: target,
        empty_as_null: false,
        path: "job.content[0].reader.parameter".into(),
    })
    .unwrap()
}

#[test]
fn read_equals_written_plus_filtered_plus_dirty_over_many_batches() {
    let t = compile();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dirty.jsonl");
    let dirty = DirtyCollector::new(Some(&path), None);
    let mut rechunk = Rechunker::new(t.output_schema(), 1000);
    let (mut read, mut filtered, mut dirty_n) = (0u64, 0u64, 0u64);
    let mut written = Vec::new();
    let sizes = [1, 999, 1024, 3, 4096, 500, 2000];
    let mut at = 0;
    for n in sizes {
        let b = source_batch(at, n);
        let out = t
            .apply(
                b,
                BatchOrigin {
                    split: "rows [0, 8623)",
                    first_row: at as u64,
                },
                &dirty,
            )
            .unwrap();
        read += n as u64;
        filtered += out.filtered;
        dirty_n += out.dirty;
        if let Some(b) = out.batch {
            assert_eq!(b.schema(), t.output_schema());
            written.extend(rechunk.push(b).unwrap());
        }
        at += n;
    }
    written.extend(rechunk.finish().unwrap());
    dirty.flush().unwrap();
    let written_rows: u64 = written.iter().map(|b| b.num_rows() as u64).sum();

    // the expectation, row by row
    let (mut e_written, mut e_filtered, mut e_dirty) = (0u64, 0u64, Vec::new());
    for i in 0..at {
        if 1980 + (i % 20) < 1985 || i.is_multiple_of(13) {
            e_filtered += 1;
        } else if i.is_multiple_of(11) || i.is_multiple_of(7) {
            e_dirty.push(i as u64);
        } else {
            e_written += 1;
        }
    }
    assert_eq!(read, written_rows + filtered + dirty_n);
    assert_eq!(written_rows, e_written);
    assert_eq!(filtered, e_filtered);
    assert_eq!(dirty_n, e_dirty.len() as u64);
    assert_eq!(dirty.count(), dirty_n);

    let recs: Vec<Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rows: Vec<u64> = recs.iter().map(|r| r["row"].as_u64().unwrap()).collect();
    assert_eq!(rows, e_dirty);
    for r in &recs {
        let row = r["row"].as_u64().unwrap() as usize;
        assert_eq!(r["record"]["id"], json!(row));
        if row.is_multiple_of(11) {
            assert_eq!(r["column"], "salary", "{r}");
        } else {
            assert_eq!(r["column"], "code", "{r}");
            assert_eq!(r["reason"], "cannot cast \"x\" to Int32");
        }
    }

    // batches are full but the last, and carry the transformed values
    for b in &written[..written.len() - 1] {
        assert_eq!(b.num_rows(), 1000);
    }
    let first = &written[0];
    let id = first
        .column(0)
        .as_any()
        .downcast_ref::<Int32Array>()
        .unwrap();
    let label = first
        .column(1)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert_eq!(label.value(0), format!("P{}-20261122", id.value(0)));
    assert_eq!(first.column(4).null_count(), 0);
}
