//! Throughput of the binary COPY decoder on a `person`-shaped stream (id int8, name text,
//! year int8, birthdate timestamp, ismarried bool, interest text, salary float8).

// Benchmark code: a failed unwrap / expect / panic is a failed benchmark (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use arrow::datatypes::Schema;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferry_postgres::copy_binary::{CopyDecoder, SIGNATURE};
use ferry_postgres::types::{arrow_field, oid};
use ferry_postgres::PgColumn;

fn column(name: &str, type_oid: u32) -> PgColumn {
    PgColumn {
        name: name.into(),
        type_oid,
        typmod: -1,
        type_name: name.into(),
        base_oid: type_oid,
        base_name: name.into(),
        is_array: false,
        is_enum: false,
        not_null: false,
    }
}

fn person_stream(rows: usize) -> (Vec<Vec<u8>>, usize) {
    let mut chunks = Vec::with_capacity(rows + 2);
    let mut head = SIGNATURE.to_vec();
    head.extend_from_slice(&0i32.to_be_bytes());
    head.extend_from_slice(&0i32.to_be_bytes());
    chunks.push(head);
    let interests = ["reading", "hiking", "chess and go", "cooking"];
    for i in 0..rows {
        let mut r = Vec::with_capacity(96);
        r.extend_from_slice(&7i16.to_be_bytes());
        let mut field = |b: &[u8]| {
            r.extend_from_slice(&(b.len() as i32).to_be_bytes());
            r.extend_from_slice(b);
        };
        field(&(i as i64).to_be_bytes());
        field(format!("person number {i}").as_bytes());
        field(&(1950 + (i % 60) as i64).to_be_bytes());
        field(&(i as i64 * 86_400_000_000 % 1_500_000_000_000_000).to_be_bytes());
        field(&[(i % 2) as u8]);
        field(interests[i % 4].as_bytes());
        field(&(1000.0 + i as f64 * 0.25).to_be_bytes());
        chunks.push(r); // PostgreSQL sends one CopyData message per row
    }
    chunks.push((-1i16).to_be_bytes().to_vec());
    let bytes = chunks.iter().map(Vec::len).sum();
    (chunks, bytes)
}

fn bench(c: &mut Criterion) {
    let cols = vec![
        column("id", oid::INT8),
        column("name", oid::TEXT),
        column("year", oid::INT8),
        column("birthdate", oid::TIMESTAMP),
        column("ismarried", oid::BOOL),
        column("interest", oid::TEXT),
        column("salary", oid::FLOAT8),
    ];
    let schema = Arc::new(Schema::new(
        cols.iter()
            .map(|c| arrow_field(c).unwrap())
            .collect::<Vec<_>>(),
    ));
    let (chunks, bytes) = person_stream(200_000);
    let mut g = c.benchmark_group("copy_decode");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.sample_size(10);
    g.bench_function("person_200k_rows", |b| {
        b.iter(|| {
            let mut d = CopyDecoder::new(schema.clone(), &cols, 8192, 8 << 20, "bench").unwrap();
            let mut out = Vec::new();
            for ch in &chunks {
                d.push(ch, &mut out).unwrap();
            }
            out.extend(d.finish().unwrap());
            assert_eq!(out.iter().map(|b| b.num_rows()).sum::<usize>(), 200_000);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
