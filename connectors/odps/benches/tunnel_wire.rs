//! The tunnel's byte-level hot loops on a realistic body (the record-format encoding of
//! 500k person-shaped rows): the Arrow stream's CRC chunk framing alone (FrameWriter /
//! FrameReader, fed in 1 MiB network-sized pieces) and whole-body compression both ways
//! for every coding the tunnel speaks. Throughput is in uncompressed payload bytes.

// Benchmark code: a failed unwrap / expect / panic is a failed benchmark (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use arrow::array::*;
use arrow::datatypes::{Field, Schema};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ferry_odps::wire::arrow_frame::{FrameReader, FrameWriter, DEFAULT_CHUNK_SIZE};
use ferry_odps::wire::compress::Compression;
use ferry_odps::wire::record::encode_all;
use ferry_odps::wire::{arrow_type, OdpsType};

const ROWS: usize = 500_000;
const PIECE: usize = 1 << 20;

fn body() -> Vec<u8> {
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
    let b = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(0..ROWS as i64)),
            Arc::new(StringArray::from_iter_values(
                (0..ROWS).map(|i| format!("name-{i}")),
            )),
            Arc::new(Int64Array::from_iter_values(
                (0..ROWS).map(|i| 1950 + (i % 60) as i64),
            )),
            Arc::new(TimestampMillisecondArray::from_iter_values(
                (0..ROWS).map(|i| -631_152_000_000 + i as i64 * 2_220_000),
            )),
            Arc::new(BooleanArray::from_iter(
                (0..ROWS).map(|i| (i % 20 != 0).then_some(i % 3 == 0)),
            )),
            Arc::new(StringArray::from_iter(
                (0..ROWS).map(|i| (i % 20 != 1).then(|| format!("interest-{}", i % 97))),
            )),
            Arc::new(Float64Array::from_iter((0..ROWS).map(|i| {
                (i % 20 != 2).then(|| 1000.0 + (i % 100_000) as f64 / 7.0)
            }))),
        ],
    )
    .unwrap();
    encode_all(&cols, std::slice::from_ref(&b)).unwrap()
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload.len() / 16000 + 16);
    let mut w = FrameWriter::new(DEFAULT_CHUNK_SIZE);
    for piece in payload.chunks(PIECE) {
        w.write(piece, &mut out);
    }
    w.finish(&mut out);
    out
}

fn unframe(framed: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(framed.len());
    let mut r = FrameReader::new();
    for piece in framed.chunks(PIECE) {
        r.push(piece, &mut out).unwrap();
    }
    r.finish(&mut out).unwrap();
    out
}

fn bench(c: &mut Criterion) {
    let payload = body();
    let framed = frame(&payload);
    assert_eq!(unframe(&framed), payload);

    let mut g = c.benchmark_group("arrow_chunk_framing");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(payload.len() as u64));
    g.bench_function("frame", |b| b.iter(|| frame(&payload)));
    g.bench_function("unframe", |b| b.iter(|| unframe(&framed)));
    g.finish();

    let mut g = c.benchmark_group("tunnel_compress");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(payload.len() as u64));
    for codec in Compression::ALL {
        let packed = codec.compress(&payload).unwrap();
        assert_eq!(codec.decompress(&packed).unwrap(), payload);
        let name = codec.header_value();
        g.bench_with_input(BenchmarkId::new("compress", name), &payload, |b, p| {
            b.iter(|| codec.compress(p).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("decompress", name), &packed, |b, p| {
            b.iter(|| codec.decompress(p).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
