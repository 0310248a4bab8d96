//! Cross-checks with pyarrow: files ferry writes are read by `pyarrow.dataset` with
//! the expected values, and files pyarrow writes are read by ferry.
//! Needs `FERRY_TEST_PYTHON` (a python with pyarrow; `scripts/pyenv.sh` prints one).

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use arrow::array::*;
use arrow::datatypes::*;
use arrow::record_batch::RecordBatch;
use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn pyarrow_reads_what_ferry_writes() {
    let dir = tmp();
    let batch = RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from(vec![3, 1, 2])) as ArrayRef),
        (
            "name",
            Arc::new(StringArray::from(vec![Some("c"), Some("ä 世界"), None])) as ArrayRef,
        ),
        (
            "amount",
            Arc::new(
                Decimal128Array::from(vec![Some(-5), Some(123456), None])
                    .with_precision_and_scale(12, 2)
                    .unwrap(),
            ) as ArrayRef,
        ),
        (
            "ts",
            Arc::new(
                TimestampMicrosecondArray::from(vec![Some(0), Some(1_795_000_000_123_456), None])
                    .with_timezone("UTC"),
            ) as ArrayRef,
        ),
        (
            "day",
            Arc::new(Date32Array::from(vec![Some(20779), Some(0), None])) as ArrayRef,
        ),
        (
            "f",
            Arc::new(Float64Array::from(vec![Some(-0.25), Some(1e10), None])) as ArrayRef,
        ),
        (
            "ok",
            Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])) as ArrayRef,
        ),
        (
            "pt",
            Arc::new(StringArray::from(vec!["20261122", "20261121", "20261122"])) as ArrayRef,
        ),
    ])
    .unwrap();
    write(
        json!({"path": path_str(dir.path()), "partitionBy": ["pt"], "compression": "snappy"}),
        batch.schema(),
        vec![batch],
    )
    .await
    .unwrap();
    let out = run_python(
        r#"
import sys, json, pyarrow as pa, pyarrow.dataset as ds
part = ds.partitioning(pa.schema([("pt", pa.string())]), flavor="hive")
t = ds.dataset(sys.argv[1], format="parquet", partitioning=part).to_table().sort_by("id")
print(json.dumps({"schema": {f.name: str(f.type) for f in t.schema}, "rows": t.to_pylist()}, default=str))
"#,
        &[&path_str(dir.path())],
    );
    let got: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        got["schema"],
        json!({"id": "int64", "name": "string", "amount": "decimal128(12, 2)", "ts": "timestamp[us, tz=UTC]",
               "day": "date32[day]", "f": "double", "ok": "bool", "pt": "string"})
    );
    assert_eq!(
        got["rows"],
        json!([
            {"id": 1, "name": "ä 世界", "amount": "1234.56", "ts": "2026-11-18 11:06:40.123456+00:00", "day": "1970-01-01", "f": 1e10, "ok": null, "pt": "20261121"},
            {"id": 2, "name": null, "amount": null, "ts": null, "day": null, "f": null, "ok": false, "pt": "20261122"},
            {"id": 3, "name": "c", "amount": "-0.05", "ts": "1970-01-01 00:00:00+00:00", "day": "2026-11-22", "f": -0.25, "ok": true, "pt": "20261122"}
        ])
    );
}

#[tokio::test]
async fn ferry_reads_what_pyarrow_writes() {
    let dir = tmp();
    run_python(
        r#"
import sys, pyarrow as pa, pyarrow.dataset as ds, pyarrow.parquet as pq
from decimal import Decimal
t = pa.table({
    "id": pa.array([1, 2, 3, 4], pa.int64()),
    "s": pa.array(["a", None, "ü", ""], pa.string()),
    "d": pa.array([Decimal("1.50"), None, Decimal("-2.25"), Decimal("0.00")], pa.decimal128(10, 2)),
    "ts": pa.array([0, 1_000_000_001, None, -1], pa.timestamp("ns", tz="Asia/Shanghai")),
    "l": pa.array([[1, None], None, [], [7]], pa.list_(pa.int32())),
    "pt": ["x", "y", "x", "y"],
})
part = ds.partitioning(pa.schema([("pt", pa.string())]), flavor="hive")
ds.write_dataset(t, sys.argv[1], format="parquet", partitioning=part)
"#,
        &[&path_str(dir.path())],
    );
    let r =
        build_reader(json!({"path": path_str(dir.path()), "column": ["*"], "where": "pt = 'x'"}))
            .await
            .unwrap();
    let schema = r.schema();
    assert_eq!(
        schema.field_with_name("d").unwrap().data_type(),
        &DataType::Decimal128(10, 2)
    );
    assert_eq!(
        schema.field_with_name("ts").unwrap().data_type(),
        &DataType::Timestamp(TimeUnit::Nanosecond, Some("Asia/Shanghai".into()))
    );
    assert_eq!(
        schema.field_with_name("pt").unwrap().data_type(),
        &DataType::Utf8
    );
    let b = read_all(&r, 2).await.unwrap();
    // pt = 'x' pruned the y folder.
    assert_eq!(b.num_rows(), 2);
    let idx = arrow::compute::sort_to_indices(b.column_by_name("id").unwrap(), None, None).unwrap();
    let b = arrow::compute::take_record_batch(&b, &idx).unwrap();
    assert_eq!(
        b.column_by_name("id")
            .unwrap()
            .as_primitive::<Int64Type>()
            .values(),
        &[1, 3]
    );
    let s = b.column_by_name("s").unwrap().as_string::<i32>();
    assert_eq!((s.value(0), s.value(1)), ("a", "ü"));
    let d = b
        .column_by_name("d")
        .unwrap()
        .as_primitive::<Decimal128Type>();
    assert_eq!((d.value(0), d.value(1)), (150, -225));
    let ts = b
        .column_by_name("ts")
        .unwrap()
        .as_primitive::<TimestampNanosecondType>();
    assert_eq!((ts.value(0), ts.is_null(1)), (0, true));
    let l = b.column_by_name("l").unwrap().as_list::<i32>();
    assert_eq!(l.value(0).len(), 2);
    assert_eq!(l.value(1).len(), 0);
    assert!(b
        .column_by_name("pt")
        .unwrap()
        .as_string::<i32>()
        .iter()
        .all(|p| p == Some("x")));
}
