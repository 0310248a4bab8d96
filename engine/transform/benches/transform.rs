//! Throughput of one compiled transform over 1M-row batches of the seed's `person`
//! table: `where year > 1990`, two constants, and casts (id int8 → int4,
//! salary float8 → numeric(12,2)). Reports rows per second.

// Benchmark code: a failed unwrap / expect / panic is a failed benchmark (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferry_core::dirty::DirtyCollector;
use ferry_core::plugin::{ColumnSlot, ConstantValue};
use ferry_transform::{BatchOrigin, Transform, TransformSpec};

const ROWS: usize = 1_000_000;

fn person_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("year", DataType::Int64, true),
        Field::new(
            "birthdate",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
        Field::new("ismarried", DataType::Boolean, true),
        Field::new("interest", DataType::Utf8, true),
        Field::new("salary", DataType::Float64, true),
    ]))
}

fn person_batch(schema: &SchemaRef) -> RecordBatch {
    let interests = ["reading", "hiking", "chess", "cooking", "cycling"];
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(0..ROWS as i64)),
        Arc::new(StringArray::from_iter_values(
            (0..ROWS).map(|i| format!("person{i}")),
        )),
        Arc::new(Int64Array::from_iter_values(
            (0..ROWS).map(|i| 1960 + (i * 7 % 60) as i64),
        )),
        Arc::new(TimestampMicrosecondArray::from_iter_values(
            (0..ROWS).map(|i| (i as i64 % 20_000) * 86_400_000_000),
        )),
        Arc::new(BooleanArray::from_iter((0..ROWS).map(|i| Some(i % 3 == 0)))),
        Arc::new(StringArray::from_iter_values(
            (0..ROWS).map(|i| interests[i % interests.len()]),
        )),
        Arc::new(Float64Array::from_iter_values(
            (0..ROWS).map(|i| 3000.0 + (i % 10_000) as f64 * 1.25),
        )),
    ];
    RecordBatch::try_new(Arc::clone(schema), cols).expect("person batch")
}

fn transform(schema: &SchemaRef) -> Transform {
    let target = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int32, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("year", DataType::Int64, true),
        Field::new(
            "birthdate",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
        Field::new("ismarried", DataType::Boolean, true),
        Field::new("interest", DataType::Utf8, true),
        Field::new("salary", DataType::Decimal128(12, 2), true),
        Field::new("pt", DataType::Date32, true),
        Field::new("source", DataType::Utf8, true),
    ]));
    let mut layout: Vec<ColumnSlot> = (0..7).map(ColumnSlot::Source).collect();
    layout.push(ColumnSlot::Constant(ConstantValue::Text(
        "2026-11-22".into(),
    )));
    layout.push(ColumnSlot::Constant(ConstantValue::Text("seed".into())));
    Transform::compile(TransformSpec {
        source_schema: Arc::clone(schema),
        layout,
        filter: Some("year > 1990".into()),
        transformers: vec![],
        target_schema: target,
        empty_as_null: true,
        path: "job.content[0].reader.parameter".into(),
    })
    .expect("compile")
}

fn bench(c: &mut Criterion) {
    let schema = person_schema();
    let batch = person_batch(&schema);
    let t = transform(&schema);
    let dirty = DirtyCollector::in_memory();
    let mut group = c.benchmark_group("transform");
    // Bytes of Arrow input per iteration, like the other microbenches; each iteration is
    // ROWS rows, so rows/s = ROWS / time.
    group.throughput(Throughput::Bytes(batch.get_array_memory_size() as u64));
    group.sample_size(20);
    group.bench_function("person_1M_where_constants_casts", |b| {
        b.iter(|| {
            let out = t
                .apply(
                    batch.clone(),
                    BatchOrigin {
                        split: "bench",
                        first_row: 0,
                    },
                    &dirty,
                )
                .expect("apply");
            black_box(out)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
