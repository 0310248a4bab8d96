//! Record codec and Arrow framing throughput on a 1M-row person-shaped batch
//! (`id, name, year, birthdate, ismarried, interest, salary`).

// Benchmark code: a failed unwrap / expect / panic is a failed benchmark (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use arrow::array::*;
use arrow::datatypes::{Field, Schema};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferry_odps::wire::arrow_frame::{decode_arrow_body, encode_arrow_body};
use ferry_odps::wire::record::{decode_all, encode_all, DecoderOptions};
use ferry_odps::wire::{arrow_type, OdpsType};

const ROWS: usize = 1_000_000;

fn person() -> (Vec<(String, OdpsType)>, RecordBatch) {
    let cols: Vec<(String, OdpsType)> = [
        ("id", "bigint"),
        ("name", "string"),
        ("year", "bigint"),
        ("birthdate", "datetime"),
        ("ismarried", "boolean"),
        ("interest", "string"),
        ("salary", "double"),
    ]
    .iter()
    .map(|(n, t)| (n.to_string(), OdpsType::parse(t).unwrap()))
    .collect();
    let schema = Arc::new(Schema::new(
        cols.iter()
            .map(|(n, t)| Field::new(n, arrow_type(t), true))
            .collect::<Vec<_>>(),
    ));
    let interests = ["chess", "hiking", "reading", "football", ""];
    let b = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(0..ROWS as i64)),
            Arc::new(StringArray::from_iter_values(
                (0..ROWS).map(|i| format!("person-{i}")),
            )),
            Arc::new(Int64Array::from_iter_values(
                (0..ROWS).map(|i| 1950 + (i % 60) as i64),
            )),
            Arc::new(TimestampMillisecondArray::from_iter_values((0..ROWS).map(
                |i| 631_152_000_000 + i as i64 * 86_400_000 % 1_000_000_000_000,
            ))),
            Arc::new(BooleanArray::from_iter((0..ROWS).map(|i| Some(i % 3 == 0)))),
            Arc::new(StringArray::from_iter((0..ROWS).map(|i| {
                if i % 10 == 0 {
                    None
                } else {
                    Some(interests[i % 5])
                }
            }))),
            Arc::new(Float64Array::from_iter_values(
                (0..ROWS).map(|i| 1000.0 + i as f64 * 0.25),
            )),
        ],
    )
    .unwrap();
    (cols, b)
}

fn bench(c: &mut Criterion) {
    let (cols, batch) = person();
    let body = encode_all(&cols, std::slice::from_ref(&batch)).unwrap();
    let mut g = c.benchmark_group("record_codec_1m_person");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("encode", |b| {
        b.iter(|| encode_all(&cols, std::slice::from_ref(&batch)).unwrap())
    });
    g.bench_function("decode", |b| {
        b.iter(|| decode_all(&cols, &body, DecoderOptions::default()).unwrap())
    });
    g.finish();

    let schema = batch.schema();
    let batches: Vec<RecordBatch> = (0..ROWS)
        .step_by(65536)
        .map(|o| batch.slice(o, 65536.min(ROWS - o)))
        .collect();
    let framed = encode_arrow_body(&schema, &batches, 65536).unwrap();
    let mut g = c.benchmark_group("arrow_frame_1m_person");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(framed.len() as u64));
    g.bench_function("encode", |b| {
        b.iter(|| encode_arrow_body(&schema, &batches, 65536).unwrap())
    });
    g.bench_function("decode", |b| {
        b.iter(|| decode_arrow_body(schema.clone(), &framed).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
