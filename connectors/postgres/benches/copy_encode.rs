//! Encoding a 1M-row person-shaped batch (id, name, year, birthdate, ismarried,
//! interest, salary) into binary COPY.

// Benchmark code: a failed unwrap / expect / panic is a failed benchmark (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Int32Array, Int64Array, StringArray,
};
use arrow::record_batch::RecordBatch;
use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferry_postgres::writer::copy_encode::{CopyEncoder, PgWire};

fn person(n: usize) -> RecordBatch {
    let names: Vec<String> = (0..n).map(|i| format!("person-{i:08}")).collect();
    let interests: Vec<Option<String>> = (0..n)
        .map(|i| (i % 5 != 0).then(|| format!("reading, hiking #{}", i % 97)))
        .collect();
    RecordBatch::try_from_iter(vec![
        (
            "id",
            Arc::new(Int64Array::from_iter_values(0..n as i64)) as ArrayRef,
        ),
        ("name", Arc::new(StringArray::from(names)) as ArrayRef),
        (
            "year",
            Arc::new(Int32Array::from_iter_values(
                (0..n).map(|i| 1950 + (i % 70) as i32),
            )) as ArrayRef,
        ),
        (
            "birthdate",
            Arc::new(Date32Array::from_iter_values(
                (0..n).map(|i| (i % 20000) as i32),
            )) as ArrayRef,
        ),
        (
            "ismarried",
            Arc::new(BooleanArray::from_iter((0..n).map(|i| Some(i % 2 == 0)))) as ArrayRef,
        ),
        (
            "interest",
            Arc::new(StringArray::from(interests)) as ArrayRef,
        ),
        (
            "salary",
            Arc::new(
                Decimal128Array::from_iter_values((0..n).map(|i| (i as i128 * 7919) % 100_000_000))
                    .with_precision_and_scale(12, 2)
                    .unwrap(),
            ) as ArrayRef,
        ),
    ])
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let batch = person(1_000_000);
    let enc = CopyEncoder::new(
        batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect(),
        vec![
            PgWire::Int8,
            PgWire::Text,
            PgWire::Int4,
            PgWire::Date,
            PgWire::Bool,
            PgWire::Text,
            PgWire::Numeric,
        ],
    );
    let mut out = BytesMut::new();
    enc.encode(&batch, &mut out, None).unwrap();
    let mut g = c.benchmark_group("copy_encode");
    g.throughput(Throughput::Bytes(out.len() as u64));
    g.sample_size(10);
    g.bench_function("person_1m_rows", |b| {
        b.iter(|| {
            out.clear();
            enc.encode(&batch, &mut out, None).unwrap();
            out.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
