//! Unit tests of the transform: each step and each cast family.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::*;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::util::pretty::pretty_format_batches;
use ferry_core::dirty::DirtyCollector;
use ferry_core::job::TransformerSpec;
use ferry_core::plugin::{meta, ColumnSlot, ConstantValue};
use serde_json::{json, Value};

use super::*;

/// A transform whose layout is the source fields in order.
fn spec(source: Vec<Field>, target: Vec<Field>) -> TransformSpec {
    let layout = (0..source.len()).map(ColumnSlot::Source).collect();
    TransformSpec {
        source_schema: Arc::new(Schema::new(source)),
        layout,
        filter: None,
        transformers: vec![],
        target_schema: Arc::new(Schema::new(target)),
        empty_as_null: false,
        path: "job.content[0].reader.parameter".into(),
    }
}

fn batch(schema: &SchemaRef, cols: Vec<ArrayRef>) -> RecordBatch {
    RecordBatch::try_new(Arc::clone(schema), cols).unwrap()
}

/// Apply once with a dirty file; returns the output and the dirty records.
fn run(t: &Transform, b: RecordBatch) -> (TransformOutput, Vec<Value>) {
    run_at(t, b, 0)
}

fn run_at(t: &Transform, b: RecordBatch, first_row: u64) -> (TransformOutput, Vec<Value>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dirty.jsonl");
    let dc = DirtyCollector::new(Some(&path), None);
    let out = t
        .apply(
            b,
            BatchOrigin {
                split: "id >= 1 AND id < 100",
                first_row,
            },
            &dc,
        )
        .unwrap();
    dc.flush().unwrap();
    let recs = std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect::<Vec<Value>>();
    assert_eq!(out.dirty, recs.len() as u64);
    (out, recs)
}

fn pretty(b: &RecordBatch) -> Vec<String> {
    pretty_format_batches(std::slice::from_ref(b))
        .unwrap()
        .to_string()
        .lines()
        .map(str::to_string)
        .collect()
}

/// One-column cast: source values of `from_arr` into `to`.
fn cast_one(from_arr: ArrayRef, to: Field) -> (TransformOutput, Vec<Value>) {
    let s = spec(
        vec![Field::new("v", from_arr.data_type().clone(), true)],
        vec![to],
    );
    let schema = Arc::clone(&s.source_schema);
    let t = Transform::compile(s).unwrap();
    run(&t, batch(&schema, vec![from_arr]))
}

fn column<T: Clone + 'static>(out: &TransformOutput, i: usize) -> T {
    out.batch
        .as_ref()
        .unwrap()
        .column(i)
        .as_any()
        .downcast_ref::<T>()
        .unwrap()
        .clone()
}

fn reasons(recs: &[Value]) -> Vec<String> {
    recs.iter()
        .map(|r| r["reason"].as_str().unwrap().to_string())
        .collect()
}

fn dirty_rows(recs: &[Value]) -> Vec<u64> {
    recs.iter().map(|r| r["row"].as_u64().unwrap()).collect()
}

#[test]
fn integers_at_their_boundaries() {
    let src: ArrayRef = Arc::new(Int64Array::from(vec![
        Some(i32::MAX as i64),
        Some(i32::MIN as i64),
        Some(i32::MAX as i64 + 1),
        None,
        Some(i32::MIN as i64 - 1),
        Some(0),
    ]));
    let (out, recs) = cast_one(src, Field::new("v", DataType::Int32, true));
    let got = column::<Int32Array>(&out, 0);
    assert_eq!(
        got.iter().collect::<Vec<_>>(),
        vec![Some(i32::MAX), Some(i32::MIN), None, Some(0)]
    );
    assert_eq!(dirty_rows(&recs), vec![2, 4]);
    assert_eq!(recs[0]["reason"], "cannot cast \"2147483648\" to Int32");
    assert_eq!(recs[0]["column"], "v");
    assert_eq!(recs[0]["value"], "2147483648");
    assert_eq!(recs[0]["stage"], "transform");
    assert_eq!(recs[0]["split"], "id >= 1 AND id < 100");
    assert_eq!(recs[0]["record"], json!({"v": 2147483648i64}));

    let src: ArrayRef = Arc::new(Int32Array::from(vec![255, 256, -1]));
    let (out, recs) = cast_one(src, Field::new("v", DataType::UInt8, true));
    assert_eq!(column::<UInt8Array>(&out, 0).values().to_vec(), vec![255]);
    assert_eq!(dirty_rows(&recs), vec![1, 2]);
}

#[test]
fn int64_into_decimal_with_scale() {
    let src: ArrayRef = Arc::new(Int64Array::from(vec![
        Some(123),
        Some(-9_999_999_999),
        Some(10_000_000_000),
        None,
    ]));
    let (out, recs) = cast_one(src, Field::new("v", DataType::Decimal128(12, 2), true));
    let d = column::<Decimal128Array>(&out, 0);
    assert_eq!(
        d.iter().collect::<Vec<_>>(),
        vec![Some(12300), Some(-999_999_999_900), None]
    );
    assert_eq!(dirty_rows(&recs), vec![2]);
    assert_eq!(
        reasons(&recs),
        vec!["cannot cast \"10000000000\" to Decimal128(12, 2)"]
    );
}

#[test]
fn decimal_with_too_many_digits_is_dirty() {
    let src = Decimal128Array::from(vec![12_345_678_951_i128, 123_456_789_012_345_678, 5])
        .with_precision_and_scale(20, 4)
        .unwrap();
    let (out, recs) = cast_one(
        Arc::new(src),
        Field::new("v", DataType::Decimal128(12, 2), true),
    );
    let d = column::<Decimal128Array>(&out, 0);
    // 1234567.8951 -> 1234567.90 (rounded to the scale)
    assert_eq!(d.value(0), 123_456_790);
    assert_eq!(d.len(), 2);
    assert_eq!(dirty_rows(&recs), vec![1]);
    assert_eq!(
        reasons(&recs)[0],
        "cannot cast \"12345678901234.5678\" to Decimal128(12, 2)"
    );
}

#[test]
fn floats_with_nan_inf_and_fractions_into_integers() {
    let src: ArrayRef = Arc::new(Float64Array::from(vec![
        Some(2.0),
        Some(f64::NAN),
        Some(f64::INFINITY),
        Some(1.5),
        Some(-3.0),
        None,
        Some(1e12),
    ]));
    let (out, recs) = cast_one(src, Field::new("v", DataType::Int32, true));
    assert_eq!(
        column::<Int32Array>(&out, 0).iter().collect::<Vec<_>>(),
        vec![Some(2), Some(-3), None]
    );
    assert_eq!(dirty_rows(&recs), vec![1, 2, 3, 6]);
    let r = reasons(&recs);
    assert_eq!(r[0], "cannot cast \"NaN\" to Int32");
    assert_eq!(r[1], "cannot cast \"inf\" to Int32");
    assert!(r[2].contains("fraction"), "{}", r[2]);

    let src: ArrayRef = Arc::new(Float32Array::from(vec![7.0f32, 7.25]));
    let (out, recs) = cast_one(src, Field::new("v", DataType::Int64, true));
    assert_eq!(column::<Int64Array>(&out, 0).values().to_vec(), vec![7]);
    assert_eq!(dirty_rows(&recs), vec![1]);
}

#[test]
fn decimal_with_fraction_into_integer_is_dirty() {
    let src = Decimal128Array::from(vec![500i128, 512])
        .with_precision_and_scale(10, 2)
        .unwrap();
    let (out, recs) = cast_one(Arc::new(src), Field::new("v", DataType::Int32, true));
    assert_eq!(column::<Int32Array>(&out, 0).values().to_vec(), vec![5]);
    assert_eq!(dirty_rows(&recs), vec![1]);
    assert!(reasons(&recs)[0].contains("fraction"));
}

#[test]
fn floats_into_decimal() {
    let src: ArrayRef = Arc::new(Float64Array::from(vec![
        1.234,
        f64::NAN,
        f64::NEG_INFINITY,
        -0.5,
        1e11,
    ]));
    let (out, recs) = cast_one(src, Field::new("v", DataType::Decimal128(12, 2), true));
    let d = column::<Decimal128Array>(&out, 0);
    assert_eq!(d.values().to_vec(), vec![123, -50]);
    assert_eq!(dirty_rows(&recs), vec![1, 2, 4]);
}

#[test]
fn text_into_dates() {
    let src: ArrayRef = Arc::new(StringArray::from(vec![
        Some("2026-11-22"),
        Some("2026-13-01"),
        Some("abc"),
        None,
        Some("1970-01-02"),
    ]));
    let (out, recs) = cast_one(src, Field::new("v", DataType::Date32, true));
    let d = column::<Date32Array>(&out, 0);
    assert_eq!(
        d.iter().collect::<Vec<_>>(),
        vec![Some(20779), None, Some(1)]
    );
    assert_eq!(dirty_rows(&recs), vec![1, 2]);
    assert_eq!(reasons(&recs)[1], "cannot cast \"abc\" to Date32");
}

#[test]
fn text_into_timestamps_with_and_without_zone() {
    let texts = vec![
        "2026-11-22",
        "2026-11-22 10:00:00",
        "2026-11-22T10:00:00Z",
        "2026-11-22T10:00:00+08:00",
        "not a time",
    ];
    let src: ArrayRef = Arc::new(StringArray::from(texts.clone()));
    let midnight = 1_795_305_600_000_000i64; // 2026-11-22T00:00:00Z in µs
    let hour = 3_600_000_000i64;
    let (out, recs) = cast_one(
        Arc::clone(&src),
        Field::new("v", DataType::Timestamp(TimeUnit::Microsecond, None), true),
    );
    let ts = column::<TimestampMicrosecondArray>(&out, 0);
    assert_eq!(ts.value(0), midnight);
    assert_eq!(ts.value(1), midnight + 10 * hour);
    assert_eq!(ts.value(2), midnight + 10 * hour);
    assert_eq!(ts.value(3), midnight + 2 * hour);
    assert_eq!(dirty_rows(&recs), vec![4]);

    let (out, recs) = cast_one(
        src,
        Field::new(
            "v",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
    );
    let ts = column::<TimestampMicrosecondArray>(&out, 0);
    assert_eq!(ts.timezone(), Some("UTC"));
    assert_eq!(ts.value(3), midnight + 2 * hour);
    assert_eq!(ts.value(2), midnight + 10 * hour);
    assert_eq!(dirty_rows(&recs), vec![4]);
}

#[test]
fn timestamps_between_units_and_zones() {
    let src: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![1_000i64, 2_000]));
    let (out, recs) = cast_one(
        src,
        Field::new(
            "v",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
    );
    let ts = column::<TimestampMicrosecondArray>(&out, 0);
    assert_eq!(ts.values().to_vec(), vec![1_000_000, 2_000_000]);
    assert!(recs.is_empty());
    // a date far beyond what Date32 nanoseconds can hold: out of range, dirty
    let src: ArrayRef = Arc::new(Date32Array::from(vec![0, 1_000_000_000]));
    let (out, recs) = cast_one(
        src,
        Field::new("v", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
    );
    assert_eq!(out.batch.unwrap().num_rows(), 1);
    assert_eq!(dirty_rows(&recs), vec![1]);
}

#[test]
fn text_longer_than_max_chars_is_dirty() {
    let src: ArrayRef = Arc::new(StringArray::from(vec![
        Some("héllo"),
        Some("abcdef"),
        None,
        Some(""),
    ]));
    let target = Field::new("name", DataType::Utf8, true).with_metadata(HashMap::from([(
        meta::MAX_CHARS.to_string(),
        "5".to_string(),
    )]));
    let (out, recs) = cast_one(src, target);
    let s = column::<StringArray>(&out, 0);
    assert_eq!(
        s.iter().collect::<Vec<_>>(),
        vec![Some("héllo"), None, Some("")]
    );
    assert_eq!(dirty_rows(&recs), vec![1]);
    assert_eq!(recs[0]["column"], "name");
    assert!(
        reasons(&recs)[0].contains("6 characters"),
        "{}",
        reasons(&recs)[0]
    );
    // numbers rendered as text obey the limit too
    let src: ArrayRef = Arc::new(Int64Array::from(vec![12345, 123456]));
    let target = Field::new("code", DataType::Utf8, true).with_metadata(HashMap::from([(
        meta::MAX_CHARS.to_string(),
        "5".to_string(),
    )]));
    let (out, recs) = cast_one(src, target);
    assert_eq!(column::<StringArray>(&out, 0).value(0), "12345");
    assert_eq!(dirty_rows(&recs), vec![1]);
}

#[test]
fn binary_values() {
    let src: ArrayRef = Arc::new(BinaryArray::from(vec![b"abc".as_ref(), &[0xff, 0xfe][..]]));
    let (out, recs) = cast_one(Arc::clone(&src), Field::new("v", DataType::Binary, true));
    assert_eq!(column::<BinaryArray>(&out, 0).value(1), &[0xff, 0xfe]);
    assert!(recs.is_empty());
    let (out, recs) = cast_one(src, Field::new("v", DataType::Utf8, true));
    assert_eq!(column::<StringArray>(&out, 0).value(0), "abc");
    assert_eq!(dirty_rows(&recs), vec![1]);
    let src: ArrayRef = Arc::new(StringArray::from(vec!["xyz"]));
    let (out, _) = cast_one(src, Field::new("v", DataType::LargeBinary, true));
    assert_eq!(column::<LargeBinaryArray>(&out, 0).value(0), b"xyz");
}

#[test]
fn booleans_from_text() {
    let src: ArrayRef = Arc::new(StringArray::from(vec!["true", "false", "1", "0", "maybe"]));
    let (out, recs) = cast_one(src, Field::new("v", DataType::Boolean, true));
    assert_eq!(
        column::<BooleanArray>(&out, 0).iter().collect::<Vec<_>>(),
        vec![Some(true), Some(false), Some(true), Some(false)]
    );
    assert_eq!(dirty_rows(&recs), vec![4]);
    assert_eq!(reasons(&recs)[0], "cannot cast \"maybe\" to Boolean");
}

#[test]
fn json_text_passes_as_text() {
    let doc = r#"{"a": [1, 2], "b": "é"}"#;
    let src: ArrayRef = Arc::new(StringArray::from(vec![doc]));
    let (out, recs) = cast_one(src, Field::new("v", DataType::Utf8, true));
    assert_eq!(column::<StringArray>(&out, 0).value(0), doc);
    assert!(recs.is_empty());
}

#[test]
fn empty_as_null_turns_empty_text_into_null_for_non_text_columns() {
    let source = vec![
        Field::new("n", DataType::Utf8, true),
        Field::new("s", DataType::Utf8, true),
    ];
    let target = vec![
        Field::new("n", DataType::Int32, true),
        Field::new("s", DataType::Utf8, true),
    ];
    let mut s = spec(source, target);
    let schema = Arc::clone(&s.source_schema);
    let b = batch(
        &schema,
        vec![
            Arc::new(StringArray::from(vec!["", "7"])),
            Arc::new(StringArray::from(vec!["", "x"])),
        ],
    );
    s.empty_as_null = true;
    let t = Transform::compile(s.clone()).unwrap();
    let (out, recs) = run(&t, b.clone());
    assert!(recs.is_empty());
    assert_eq!(
        column::<Int32Array>(&out, 0).iter().collect::<Vec<_>>(),
        vec![None, Some(7)]
    );
    // text columns keep their empty strings
    assert_eq!(column::<StringArray>(&out, 1).value(0), "");

    s.empty_as_null = false;
    let t = Transform::compile(s).unwrap();
    let (out, recs) = run(&t, b);
    assert_eq!(out.batch.unwrap().num_rows(), 1);
    assert_eq!(reasons(&recs), vec!["cannot cast \"\" to Int32"]);
}

#[test]
fn null_into_non_nullable_column_is_dirty() {
    let src: ArrayRef = Arc::new(Int32Array::from(vec![Some(1), None]));
    let (out, recs) = cast_one(src, Field::new("id", DataType::Int64, false));
    let b = out.batch.unwrap();
    assert_eq!(b.num_rows(), 1);
    assert!(!b.schema().field(0).is_nullable());
    assert_eq!(reasons(&recs), vec!["NULL in non-nullable column id"]);
    assert_eq!(recs[0]["value"], "NULL");
}

#[test]
fn one_dirty_record_per_row_even_with_several_bad_columns() {
    let s = spec(
        vec![
            Field::new("a", DataType::Utf8, true),
            Field::new("b", DataType::Utf8, true),
        ],
        vec![
            Field::new("a", DataType::Int32, true),
            Field::new("b", DataType::Int32, true),
        ],
    );
    let schema = Arc::clone(&s.source_schema);
    let t = Transform::compile(s).unwrap();
    let (out, recs) = run(
        &t,
        batch(
            &schema,
            vec![
                Arc::new(StringArray::from(vec!["x", "1", "2"])),
                Arc::new(StringArray::from(vec!["y", "z", "3"])),
            ],
        ),
    );
    assert_eq!(out.dirty, 2);
    assert_eq!(dirty_rows(&recs), vec![0, 1]);
    assert_eq!(recs[0]["column"], "a");
    assert_eq!(recs[1]["column"], "b");
    assert_eq!(pretty(&out.batch.unwrap())[3], "| 2 | 3 |");
}

fn constant_target(c: ConstantValue, to: Field) -> Result<TransformOutput> {
    let source = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    let s = TransformSpec {
        source_schema: Arc::clone(&source),
        layout: vec![ColumnSlot::Source(0), ColumnSlot::Constant(c)],
        filter: None,
        transformers: vec![],
        target_schema: Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            to,
        ])),
        empty_as_null: false,
        path: "job.content[0].reader.parameter".into(),
    };
    let t = Transform::compile(s)?;
    let out = t.apply(
        batch(&source, vec![Arc::new(Int64Array::from(vec![1, 2, 3]))]),
        BatchOrigin {
            split: "s",
            first_row: 0,
        },
        &DirtyCollector::in_memory(),
    )?;
    Ok(out)
}

#[test]
fn constants_take_the_writer_column_type() {
    let out = constant_target(
        ConstantValue::Text("2026-11-22".into()),
        Field::new("pt", DataType::Date32, false),
    )
    .unwrap();
    assert_eq!(
        column::<Date32Array>(&out, 1).values().to_vec(),
        vec![20779; 3]
    );

    let out = constant_target(
        ConstantValue::Number("12.5".into()),
        Field::new("amount", DataType::Decimal128(12, 2), true),
    )
    .unwrap();
    assert_eq!(
        column::<Decimal128Array>(&out, 1).values().to_vec(),
        vec![1250; 3]
    );

    let out = constant_target(
        ConstantValue::Number("123".into()),
        Field::new("n", DataType::Int32, true),
    )
    .unwrap();
    assert_eq!(
        column::<Int32Array>(&out, 1).values().to_vec(),
        vec![123; 3]
    );

    let out = constant_target(
        ConstantValue::Bool(true),
        Field::new("flag", DataType::Boolean, true),
    )
    .unwrap();
    assert_eq!(column::<BooleanArray>(&out, 1).true_count(), 3);

    let out = constant_target(
        ConstantValue::Null,
        Field::new("x", DataType::Float64, true),
    )
    .unwrap();
    assert_eq!(column::<Float64Array>(&out, 1).null_count(), 3);

    let out = constant_target(
        ConstantValue::Text("2026-11-22 10:00:00".into()),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
    )
    .unwrap();
    assert_eq!(
        column::<TimestampMicrosecondArray>(&out, 1).value(2),
        1_795_305_600_000_000 + 36_000_000_000
    );
}

#[test]
fn constants_that_do_not_convert_fail_at_compile() {
    let err = constant_target(
        ConstantValue::Text("abc".into()),
        Field::new("n", DataType::Int32, true),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Config(_)), "{msg}");
    assert!(
        msg.contains("job.content[0].reader.parameter.column[1]"),
        "{msg}"
    );
    assert!(msg.contains("'abc'") && msg.contains("column n"), "{msg}");

    let err = constant_target(
        ConstantValue::Number("2.5".into()),
        Field::new("n", DataType::Int32, true),
    )
    .unwrap_err();
    assert!(err.to_string().contains("constant 2.5"), "{err}");

    let err =
        constant_target(ConstantValue::Null, Field::new("n", DataType::Int32, false)).unwrap_err();
    assert!(err.to_string().contains("not nullable"), "{err}");

    let err = constant_target(
        ConstantValue::Text("abcdef".into()),
        Field::new("s", DataType::Utf8, true).with_metadata(HashMap::from([(
            meta::MAX_CHARS.to_string(),
            "3".to_string(),
        )])),
    )
    .unwrap_err();
    assert!(err.to_string().contains("6 characters"), "{err}");
}

fn transformer(i: usize, name: &str, parameter: Value) -> TransformerSpec {
    TransformerSpec {
        name: name.into(),
        parameter,
        path: format!("job.content[0].transformer[{i}]"),
    }
}

/// A (name text, year int8) source, written as (name text, year int8).
fn text_spec(transformers: Vec<TransformerSpec>) -> Result<Transform> {
    let mut s = spec(
        vec![
            Field::new("name", DataType::Utf8, true),
            Field::new("year", DataType::Int64, true),
        ],
        vec![
            Field::new("name", DataType::Utf8, true),
            Field::new("year", DataType::Int64, true),
        ],
    );
    s.transformers = transformers;
    Transform::compile(s)
}

fn text_batch(names: Vec<Option<&str>>, years: Vec<Option<i64>>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, true),
        Field::new("year", DataType::Int64, true),
    ]));
    batch(
        &schema,
        vec![
            Arc::new(StringArray::from(names)),
            Arc::new(Int64Array::from(years)),
        ],
    )
}

fn names(out: &TransformOutput) -> Vec<Option<String>> {
    column::<StringArray>(out, 0)
        .iter()
        .map(|s| s.map(str::to_string))
        .collect()
}

fn some(v: &[&str]) -> Vec<Option<String>> {
    v.iter().map(|s| Some(s.to_string())).collect()
}

#[test]
fn dx_substr_cuts_and_makes_rows_past_the_end_dirty() {
    let t = text_spec(vec![transformer(
        0,
        "dx_substr",
        json!({"columnIndex": 0, "paras": ["1", "3"]}),
    )])
    .unwrap();
    let (out, recs) = run(
        &t,
        text_batch(
            vec![Some("dataxTest"), Some("ab"), Some("a"), Some(""), None],
            vec![Some(1), Some(2), Some(3), Some(4), Some(5)],
        ),
    );
    assert_eq!(
        names(&out),
        vec![Some("ata".into()), Some("b".into()), Some("".into()), None]
    );
    assert_eq!(dirty_rows(&recs), vec![3]);
    assert!(
        reasons(&recs)[0].contains("dx_substr"),
        "{:?}",
        reasons(&recs)
    );
    // an integer column is cut as text; the result is cast back
    let t = text_spec(vec![transformer(
        0,
        "dx_substr",
        json!({"columnIndex": 1, "paras": [0, 2]}),
    )])
    .unwrap();
    let (out, _) = run(&t, text_batch(vec![Some("x")], vec![Some(1987)]));
    assert_eq!(column::<Int64Array>(&out, 1).value(0), 19);
}

#[test]
fn dx_pad_pads_and_cuts() {
    let t = text_spec(vec![transformer(
        0,
        "dx_pad",
        json!({"columnIndex": 0, "paras": ["l", "4", "A"]}),
    )])
    .unwrap();
    let (out, recs) = run(
        &t,
        text_batch(
            vec![Some("xyz"), Some("xyzzzzz"), None],
            vec![Some(1), Some(2), Some(3)],
        ),
    );
    assert!(recs.is_empty(), "{recs:?}");
    assert_eq!(names(&out), some(&["Axyz", "xyzz", "AAAA"]));
    let t = text_spec(vec![transformer(
        0,
        "dx_pad",
        json!({"columnIndex": 0, "paras": ["r", "5", "ab"]}),
    )])
    .unwrap();
    let (out, _) = run(&t, text_batch(vec![Some("x")], vec![Some(1)]));
    assert_eq!(names(&out), some(&["xabab"]));
    let err = text_spec(vec![transformer(
        0,
        "dx_pad",
        json!({"columnIndex": 0, "paras": ["m", "5", "ab"]}),
    )])
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("job.content[0].transformer[0].parameter.paras[0]"),
        "{err}"
    );
}

#[test]
fn dx_replace_replaces_a_range() {
    let t = text_spec(vec![transformer(
        0,
        "dx_replace",
        json!({"columnIndex": 0, "paras": ["2", "4", "****"]}),
    )])
    .unwrap();
    let (out, recs) = run(
        &t,
        text_batch(
            vec![Some("dataxTest"), Some("dat"), Some("d"), None],
            vec![Some(1), Some(2), Some(3), Some(4)],
        ),
    );
    assert_eq!(
        names(&out),
        vec![Some("da****est".into()), Some("da****".into()), None]
    );
    assert_eq!(dirty_rows(&recs), vec![2]);
}

#[test]
fn dx_filter_drops_matching_rows() {
    let cases: Vec<(&str, &str, usize, Vec<i64>)> = vec![
        ("=", "1990", 0, vec![1980, 2000, 0]),
        ("!=", "1990", 0, vec![1990, 0]),
        (">", "1990", 0, vec![1980, 1990, 0]),
        ("<", "1990", 0, vec![1990, 2000, 0]),
        (">=", "1990", 0, vec![1980, 0]),
        ("<=", "1990", 0, vec![2000, 0]),
        ("<=", "1990.5", 0, vec![2000, 0]),
        ("=", "null", 0, vec![1980, 1990, 2000]),
        ("!=", "null", 0, vec![0]),
    ];
    for (op, value, _, kept) in cases {
        let t = text_spec(vec![transformer(
            0,
            "dx_filter",
            json!({"columnIndex": 1, "paras": [op, value]}),
        )])
        .unwrap();
        let (out, recs) = run(
            &t,
            text_batch(
                vec![Some("a"), Some("b"), Some("c"), Some("d")],
                vec![Some(1980), Some(1990), Some(2000), None],
            ),
        );
        assert!(recs.is_empty());
        let got: Vec<i64> = column::<Int64Array>(&out, 1)
            .iter()
            .map(|v| v.unwrap_or(0))
            .collect();
        assert_eq!(got, kept, "{op} {value}");
        assert_eq!(out.filtered, 4 - kept.len() as u64, "{op} {value}");
    }
    // like / not like are regular expressions over the whole value, as in DataX
    for (op, pattern, kept) in [
        ("like", "data.*", vec!["xdata", "other"]),
        ("not like", "data.*", vec!["dataxTest", "data"]),
        ("like", "data", vec!["dataxTest", "xdata", "other"]),
    ] {
        let t = text_spec(vec![transformer(
            0,
            "dx_filter",
            json!({"columnIndex": 0, "paras": [op, pattern]}),
        )])
        .unwrap();
        let (out, _) = run(
            &t,
            text_batch(
                vec![
                    Some("dataxTest"),
                    Some("xdata"),
                    Some("data"),
                    Some("other"),
                    None,
                ],
                vec![Some(1); 5],
            ),
        );
        let got: Vec<String> = names(&out).into_iter().flatten().collect();
        assert_eq!(got, kept, "{op} {pattern}");
    }
    let err = text_spec(vec![transformer(
        0,
        "dx_filter",
        json!({"columnIndex": 1, "paras": [">", "abc"]}),
    )])
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot be compared with column year"),
        "{err}"
    );
    let err = text_spec(vec![transformer(
        0,
        "dx_filter",
        json!({"columnIndex": 1, "paras": ["~", "1"]}),
    )])
    .unwrap_err();
    assert!(
        err.to_string().contains("not a dx_filter operator"),
        "{err}"
    );
}

#[test]
fn dx_sql_replaces_a_column_with_an_expression() {
    let t = text_spec(vec![transformer(
        0,
        "dx_sql",
        json!({"columnIndex": 0, "expr": "upper(name) || '-' || year"}),
    )])
    .unwrap();
    let (out, recs) = run(
        &t,
        text_batch(vec![Some("ann"), Some("bo")], vec![Some(1990), Some(2001)]),
    );
    assert!(recs.is_empty());
    assert_eq!(names(&out), some(&["ANN-1990", "BO-2001"]));
    // later transformers see the new value
    let t = text_spec(vec![
        transformer(0, "dx_sql", json!({"columnIndex": 1, "expr": "year * 2"})),
        transformer(
            1,
            "dx_filter",
            json!({"columnIndex": 1, "paras": [">", "4000"]}),
        ),
    ])
    .unwrap();
    let (out, _) = run(
        &t,
        text_batch(vec![Some("a"), Some("b")], vec![Some(1990), Some(2001)]),
    );
    assert_eq!(column::<Int64Array>(&out, 1).values().to_vec(), vec![3980]);
    assert_eq!(out.filtered, 1);
}

#[test]
fn dx_sql_runtime_errors_make_only_the_rows_at_fault_dirty() {
    let t = text_spec(vec![transformer(
        0,
        "dx_sql",
        json!({"columnIndex": 1, "expr": "cast(name as bigint)"}),
    )])
    .unwrap();
    let (out, recs) = run(
        &t,
        text_batch(
            vec![Some("12"), Some("x"), Some("7")],
            vec![Some(1), Some(2), Some(3)],
        ),
    );
    assert_eq!(column::<Int64Array>(&out, 1).values().to_vec(), vec![12, 7]);
    assert_eq!(dirty_rows(&recs), vec![1]);
    assert_eq!(recs[0]["column"], "year");
}

#[test]
fn transformer_errors_name_the_json_path() {
    let err = text_spec(vec![
        transformer(
            0,
            "dx_substr",
            json!({"columnIndex": 0, "paras": ["0", "1"]}),
        ),
        transformer(
            1,
            "dx_sql",
            json!({"columnIndex": 0, "expr": "upper(nmae)"}),
        ),
    ])
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Config(_)));
    assert!(
        msg.starts_with("job.content[0].transformer[1].parameter.expr:"),
        "{msg}"
    );
    assert!(
        msg.contains("\"nmae\"") && msg.contains("did you mean \"name\""),
        "{msg}"
    );

    let err = text_spec(vec![transformer(
        0,
        "dx_groovy",
        json!({"code": "return record;"}),
    )])
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("dx_groovy is not supported; use dx_sql"),
        "{err}"
    );

    let err = text_spec(vec![transformer(0, "dx_subtr", json!({}))]).unwrap_err();
    assert!(
        err.to_string().contains("did you mean \"dx_substr\""),
        "{err}"
    );

    let err = text_spec(vec![transformer(
        0,
        "dx_substr",
        json!({"columnIndex": 5, "paras": ["0", "1"]}),
    )])
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("job.content[0].transformer[0].parameter.columnIndex"),
        "{err}"
    );

    let err = text_spec(vec![transformer(
        0,
        "dx_sql",
        json!({"columnIndex": 0, "expr": "upper(year) +"}),
    )])
    .unwrap_err();
    assert!(err.to_string().contains("parameter.expr"), "{err}");

    let err = text_spec(vec![transformer(
        0,
        "dx_substr",
        json!({"columnIndex": 0, "paras": ["0", "1"], "colIndex": 1}),
    )])
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("parameter.colIndex: unknown field"),
        "{err}"
    );
}

#[test]
fn where_filters_and_dirty_rows_keep_their_input_row_numbers() {
    let mut s = spec(
        vec![
            Field::new("id", DataType::Int64, false),
            Field::new("year", DataType::Int64, true),
            Field::new("code", DataType::Utf8, true),
        ],
        vec![
            Field::new("id", DataType::Int32, false),
            Field::new("code", DataType::Int16, true),
        ],
    );
    s.layout = vec![ColumnSlot::Source(0), ColumnSlot::Source(2)];
    s.filter = Some("year > 1990".into());
    let schema = Arc::clone(&s.source_schema);
    let t = Transform::compile(s).unwrap();
    let b = batch(
        &schema,
        vec![
            Arc::new(Int64Array::from((0..10).collect::<Vec<i64>>())),
            Arc::new(Int64Array::from(vec![
                Some(1980),
                Some(1995),
                None,
                Some(2000),
                Some(1991),
                Some(1970),
                Some(2001),
                Some(2002),
                Some(1990),
                Some(2003),
            ])),
            Arc::new(StringArray::from(vec![
                "1", "2", "3", "bad", "5", "6", "7", "99999", "9", "10",
            ])),
        ],
    );
    let (out, recs) = run_at(&t, b, 1000);
    assert_eq!(out.filtered, 4); // 1980, NULL, 1970, 1990
    assert_eq!(dirty_rows(&recs), vec![1003, 1007]);
    assert_eq!(
        recs[0]["record"],
        json!({"id": 3, "year": 2000, "code": "bad"})
    );
    assert_eq!(recs[1]["reason"], "cannot cast \"99999\" to Int16");
    let ids = column::<Int32Array>(&out, 0).values().to_vec();
    assert_eq!(ids, vec![1, 4, 6, 9]);
}

#[test]
fn dirty_rows_after_dx_filter_map_to_input_rows() {
    let mut s = spec(
        vec![
            Field::new("name", DataType::Utf8, true),
            Field::new("year", DataType::Int64, true),
        ],
        vec![
            Field::new("name", DataType::Int32, true),
            Field::new("year", DataType::Int64, true),
        ],
    );
    s.filter = Some("year <> 0".into());
    s.transformers = vec![transformer(
        0,
        "dx_filter",
        json!({"columnIndex": 1, "paras": ["=", "5"]}),
    )];
    let t = Transform::compile(s).unwrap();
    let b = text_batch(
        vec![Some("1"), Some("x"), Some("2"), Some("y"), Some("z")],
        vec![Some(0), Some(5), Some(1), Some(1), Some(2)],
    );
    let (out, recs) = run_at(&t, b, 10);
    assert_eq!(out.filtered, 2);
    assert_eq!(dirty_rows(&recs), vec![13, 14]);
    assert_eq!(column::<Int32Array>(&out, 0).values().to_vec(), vec![2]);
}

#[test]
fn misspelt_where_column_is_a_config_error_listing_columns() {
    let mut s = spec(
        vec![
            Field::new("id", DataType::Int64, false),
            Field::new("year", DataType::Int64, true),
        ],
        vec![
            Field::new("id", DataType::Int64, false),
            Field::new("year", DataType::Int64, true),
        ],
    );
    s.filter = Some("yaer > 1990".into());
    let err = Transform::compile(s.clone()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Config(_)), "{msg}");
    assert!(
        msg.starts_with("job.content[0].reader.parameter.where:"),
        "{msg}"
    );
    assert!(msg.contains("\"yaer\""), "{msg}");
    assert!(msg.contains("`yaer > 1990`"), "{msg}");
    assert!(msg.contains("did you mean \"year\""), "{msg}");
    assert!(msg.contains("available columns: id, year"), "{msg}");

    s.filter = Some("year + 1".into());
    let err = Transform::compile(s.clone()).unwrap_err();
    assert!(err.to_string().contains("not a condition"), "{err}");

    s.filter = Some("year > 'abc'".into());
    assert!(Transform::compile(s).is_err());

    let schema = Schema::new(vec![Field::new("year", DataType::Int64, true)]);
    assert!(check_filter(&schema, "year between 1990 and 2000").is_ok());
    let err = check_filter(&schema, "yr > 1").unwrap_err();
    assert!(err.to_string().contains("\"yr\""), "{err}");
}

#[test]
fn column_count_mismatch_shows_both_lists() {
    let mut s = spec(
        vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ],
        vec![Field::new("id", DataType::Int64, false)],
    );
    s.layout = vec![
        ColumnSlot::Source(0),
        ColumnSlot::Source(1),
        ColumnSlot::Constant(ConstantValue::Text("x".into())),
    ];
    let msg = Transform::compile(s).unwrap_err().to_string();
    assert!(msg.contains("3 columns [id, name, 'x']"), "{msg}");
    assert!(msg.contains("1 [id]"), "{msg}");
    assert!(
        msg.starts_with("job.content[0].reader.parameter.column:"),
        "{msg}"
    );
}

#[test]
fn impossible_casts_fail_at_compile_naming_both_columns() {
    let s = spec(
        vec![Field::new("payload", DataType::Binary, true)],
        vec![Field::new("birthday", DataType::Date32, true)],
    );
    let err = Transform::compile(s).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Schema(_)), "{msg}");
    assert!(
        msg.contains("payload (Binary)") && msg.contains("birthday (Date32)"),
        "{msg}"
    );
    assert!(msg.contains("column[0]"), "{msg}");

    let list = DataType::List(Arc::new(Field::new("item", DataType::Int32, true)));
    let s = spec(
        vec![Field::new("tags", list, true)],
        vec![Field::new("n", DataType::Int32, true)],
    );
    let msg = Transform::compile(s).unwrap_err().to_string();
    assert!(msg.contains("tags") && msg.contains("column n"), "{msg}");
}

#[test]
fn error_limit_is_returned() {
    let src: ArrayRef = Arc::new(StringArray::from(vec!["x", "y", "1"]));
    let s = spec(
        vec![Field::new("v", DataType::Utf8, true)],
        vec![Field::new("v", DataType::Int32, true)],
    );
    let schema = Arc::clone(&s.source_schema);
    let t = Transform::compile(s).unwrap();
    let dc = DirtyCollector::new(None, Some(1));
    let err = t
        .apply(
            batch(&schema, vec![src]),
            BatchOrigin {
                split: "s",
                first_row: 0,
            },
            &dc,
        )
        .unwrap_err();
    assert!(matches!(err, Error::ErrorLimit(_)), "{err}");
}

#[test]
fn a_transform_can_be_shared_between_channels() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Transform>();
    send_sync::<Rechunker>();
}

#[test]
fn same_source_field_twice_and_identity() {
    let mut s = spec(
        vec![Field::new("id", DataType::Int64, false)],
        vec![
            Field::new("a", DataType::Int64, false),
            Field::new("b", DataType::Utf8, true),
        ],
    );
    s.layout = vec![ColumnSlot::Source(0), ColumnSlot::Source(0)];
    s.transformers = vec![transformer(
        0,
        "dx_sql",
        json!({"columnIndex": 1, "expr": "id_1 + id"}),
    )];
    let schema = Arc::clone(&s.source_schema);
    let t = Transform::compile(s).unwrap();
    assert!(!t.is_identity());
    let (out, _) = run(
        &t,
        batch(&schema, vec![Arc::new(Int64Array::from(vec![4]))]),
    );
    assert_eq!(pretty(&out.batch.unwrap())[3], "| 4 | 8 |");

    let s = spec(
        vec![Field::new("id", DataType::Int64, true)],
        vec![Field::new("id", DataType::Int64, true)],
    );
    assert!(Transform::compile(s).unwrap().is_identity());
}
