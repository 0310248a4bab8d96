//! Record codec and Arrow framing: the spec §3.4 vectors, property round trips over
//! random schemas of every type, and decoders fed random chunkings.

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use arrow::array::*;
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::*;
use ferry_odps::wire::arrow_frame::{decode_arrow_body, encode_arrow_body, ArrowTunnelDecoder};
use ferry_odps::wire::record::{
    decode_all, encode_all, DecoderOptions, RecordDecoder, RecordEncoder,
};
use ferry_odps::wire::{arrow_type, OdpsType};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn cols(spec: &[(&str, &str)]) -> Vec<(String, OdpsType)> {
    spec.iter()
        .map(|(n, t)| (n.to_string(), OdpsType::parse(t).unwrap()))
        .collect()
}

fn schema_of(c: &[(String, OdpsType)]) -> SchemaRef {
    Arc::new(Schema::new(
        c.iter()
            .map(|(n, t)| Field::new(n, arrow_type(t), true))
            .collect::<Vec<_>>(),
    ))
}

const WORKED: &str = "08 02 12 01 61 80 c0 ff 7f ea 91 d2 b2 05
                      08 04 12 01 62 80 c0 ff 7f b1 e7 c8 a3 01
                      08 06 80 c0 ff 7f 84 cc d7 8a 0c
                      f0 ff ff 7f 06 f8 ff ff 7f 87 e9 a0 f5 0a";

fn worked_batch() -> (Vec<(String, OdpsType)>, RecordBatch) {
    let c = cols(&[("id", "bigint"), ("name", "string")]);
    let b = RecordBatch::try_new(
        schema_of(&c),
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3])),
            Arc::new(StringArray::from(vec![Some("a"), Some("b"), None])),
        ],
    )
    .unwrap();
    (c, b)
}

#[test]
fn worked_example_encodes_exactly() {
    let (c, b) = worked_batch();
    assert_eq!(encode_all(&c, &[b]).unwrap(), hex(WORKED));
}

#[test]
fn worked_example_decodes_including_10_byte_crc() {
    let (c, want) = worked_batch();
    let got = decode_all(&c, &hex(WORKED), DecoderOptions::default()).unwrap();
    assert_eq!(got, vec![want.clone()]);
    // pyodps's C writer sign-extends record 3's CRC and the stream CRC
    let pyodps = WORKED
        .replace("84 cc d7 8a 0c", "84 cc d7 8a fc ff ff ff ff 01")
        .replace("87 e9 a0 f5 0a", "87 e9 a0 f5 fa ff ff ff ff 01");
    let got = decode_all(&c, &hex(&pyodps), DecoderOptions::default()).unwrap();
    assert_eq!(got, vec![want.clone()]);
    // the same stream, one byte at a time
    let mut d = RecordDecoder::new(&c, DecoderOptions::default());
    for byte in hex(&pyodps) {
        d.push(&[byte]).unwrap();
    }
    assert!(d.footer_seen());
    assert_eq!(d.finish().unwrap(), vec![want]);
}

#[test]
fn checksum_mismatch_names_the_record() {
    let (c, _) = worked_batch();
    let bad = WORKED.replace("12 01 62", "12 01 63");
    let e = decode_all(&c, &hex(&bad), DecoderOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("record 2: checksum mismatch"), "{e}");
    let bad = WORKED.replace("f0 ff ff 7f 06", "f0 ff ff 7f 08");
    let e = decode_all(&c, &hex(&bad), DecoderOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("footer says 4 records"), "{e}");
}

#[test]
fn missing_footer_tag0_and_metrics_block() {
    let (c, want) = worked_batch();
    let body = hex(WORKED);
    let no_footer = &body[..body.len() - 14];
    let got = decode_all(&c, no_footer, DecoderOptions::default()).unwrap();
    assert_eq!(got, vec![want.clone()]);
    let strict = DecoderOptions {
        require_footer: true,
        ..Default::default()
    };
    assert!(decode_all(&c, no_footer, strict).is_err());
    // truncated in the middle of a record
    assert!(decode_all(&c, &body[..7], DecoderOptions::default()).is_err());
    // a tag 0 before the first record is skipped
    let mut with0 = vec![0u8];
    with0.extend_from_slice(&body);
    assert_eq!(
        decode_all(&c, &with0, DecoderOptions::default()).unwrap(),
        vec![want.clone()]
    );
    // metrics block between META_COUNT and META_CHECKSUM
    let json = br#"{"x":1}"#;
    let mut crc_bytes = 1i32.to_le_bytes().to_vec();
    crc_bytes.extend_from_slice(json);
    let mcrc = crc32c::crc32c(&crc_bytes);
    let mut m = body[..body.len() - 9].to_vec(); // up to and including the count
    m.push(0x0a); // field 1, wire type 2
    m.push(json.len() as u8);
    m.extend_from_slice(json);
    // TAG(METRICS_END, 0)
    let mut v = (33_554_176u64) << 3;
    while v >= 0x80 {
        m.push((v as u8) | 0x80);
        v >>= 7;
    }
    m.push(v as u8);
    let mut v = mcrc as u64;
    while v >= 0x80 {
        m.push((v as u8) | 0x80);
        v >>= 7;
    }
    m.push(v as u8);
    m.extend_from_slice(&body[body.len() - 9..]);
    assert_eq!(
        decode_all(&c, &m, DecoderOptions::default()).unwrap(),
        vec![want.clone()]
    );
    // the local server's encoder (tunnel version 6) writes exactly this block
    let mut enc = RecordEncoder::new(c.clone());
    let mut out = Vec::new();
    enc.encode_batch(&want, &mut out).unwrap();
    enc.finish_with_metrics(&mut out, r#"{"x":1}"#);
    assert_eq!(out, m);
}

fn all18() -> Vec<(String, OdpsType)> {
    cols(&[
        ("c_bigint", "bigint"),
        ("c_double", "double"),
        ("c_boolean", "boolean"),
        ("c_datetime", "datetime"),
        ("c_string", "string"),
        ("c_decimal", "decimal(10,2)"),
        ("c_int", "int"),
        ("c_tinyint", "tinyint"),
        ("c_smallint", "smallint"),
        ("c_float", "float"),
        ("c_varchar", "varchar(10)"),
        ("c_char", "char(3)"),
        ("c_date", "date"),
        ("c_timestamp", "timestamp"),
        ("c_binary", "binary"),
        ("c_array", "array<bigint>"),
        ("c_map", "map<string,bigint>"),
        ("c_struct", "struct<a:bigint,b:string>"),
    ])
}

/// One row where only column `only` is set (from `arr`), all others NULL.
fn single(only: usize, arr: ArrayRef) -> RecordBatch {
    let c = all18();
    let schema = schema_of(&c);
    let columns = c
        .iter()
        .enumerate()
        .map(|(i, (_, t))| {
            if i == only {
                arr.clone()
            } else {
                new_null_array(&arrow_type(t), 1)
            }
        })
        .collect();
    RecordBatch::try_new(schema, columns).unwrap()
}

fn first_record_fields(b: &RecordBatch) -> Vec<u8> {
    let out = encode_all(&all18(), std::slice::from_ref(b)).unwrap();
    let end = out
        .windows(4)
        .position(|w| w == [0x80, 0xc0, 0xff, 0x7f])
        .unwrap();
    out[..end].to_vec()
}

#[test]
fn complex_timestamp_and_date_vectors() {
    let list: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(vec![
        Some(vec![Some(1), None, Some(3)]),
    ]));
    let list = arrow::compute::cast(
        &list,
        &arrow_type(&OdpsType::parse("array<bigint>").unwrap()),
    )
    .unwrap();
    let cases: Vec<(usize, ArrayRef, &str)> = vec![
        (15, list, "82 01 03 00 02 01 00 06"),
        (
            16,
            {
                let t = OdpsType::parse("map<string,bigint>").unwrap();
                let DataType::Map(f, _) = arrow_type(&t) else {
                    unreachable!()
                };
                let DataType::Struct(kv) = f.data_type().clone() else {
                    unreachable!()
                };
                let entries = StructArray::new(
                    kv,
                    vec![
                        Arc::new(StringArray::from(vec!["k", "n"])),
                        Arc::new(Int64Array::from(vec![Some(1), None])),
                    ],
                    None,
                );
                Arc::new(MapArray::new(
                    f,
                    OffsetBuffer::from_lengths([2]),
                    entries,
                    None,
                    false,
                ))
            },
            "8a 01 02 00 01 6b 00 01 6e 02 00 02 01",
        ),
        (
            17,
            {
                let t = OdpsType::parse("struct<a:bigint,b:string>").unwrap();
                let DataType::Struct(fs) = arrow_type(&t) else {
                    unreachable!()
                };
                Arc::new(StructArray::new(
                    fs,
                    vec![
                        Arc::new(Int64Array::from(vec![7])),
                        Arc::new(StringArray::from(vec!["s"])),
                    ],
                    None,
                ))
            },
            "92 01 00 0e 00 01 73",
        ),
        (
            13,
            Arc::new(TimestampNanosecondArray::from(vec![
                1_704_164_645_123_456_789i64,
            ])),
            "72 ca f4 9b d9 0c aa b4 de 75",
        ),
        (12, Arc::new(Date32Array::from(vec![19_782])), "68 8c b5 02"),
    ];
    for (i, arr, want) in cases {
        let b = single(i, arr);
        assert_eq!(first_record_fields(&b), hex(want), "column {i}");
        let enc = encode_all(&all18(), std::slice::from_ref(&b)).unwrap();
        let got = decode_all(&all18(), &enc, DecoderOptions::default()).unwrap();
        assert_eq!(got, vec![b], "column {i}");
    }
}

#[test]
fn projection_uses_positions_in_the_requested_list() {
    // decoding `name` alone: field 1 is name
    let c = cols(&[("name", "string")]);
    let b = RecordBatch::try_new(
        schema_of(&c),
        vec![Arc::new(StringArray::from(vec![Some("x"), None]))],
    )
    .unwrap();
    let out = encode_all(&c, std::slice::from_ref(&b)).unwrap();
    assert_eq!(&out[..3], &[0x0a, 0x01, b'x']);
    assert_eq!(
        decode_all(&c, &out, DecoderOptions::default()).unwrap(),
        vec![b]
    );
}

#[test]
fn field_size_limit_is_enforced() {
    let c = cols(&[("s", "string")]);
    let big = "x".repeat(100);
    let b = RecordBatch::try_new(
        schema_of(&c),
        vec![Arc::new(StringArray::from(vec![big.as_str()]))],
    )
    .unwrap();
    let out = encode_all(&c, &[b]).unwrap();
    let opts = DecoderOptions {
        max_field_size: 50,
        ..Default::default()
    };
    let e = decode_all(&c, &out, opts).unwrap_err().to_string();
    assert!(e.contains("field limit"), "{e}");
}

// ---------------------------------------------------------------------------------------
// Random schemas and values

const SCALARS: &[&str] = &[
    "bigint",
    "int",
    "smallint",
    "tinyint",
    "double",
    "float",
    "decimal(10,2)",
    "decimal(38,18)",
    "boolean",
    "string",
    "varchar(20)",
    "char(4)",
    "binary",
    "date",
    "datetime",
    "timestamp",
    "timestamp_ntz",
    "json",
    "interval_day_time",
    "interval_year_month",
];

fn random_type(rng: &mut StdRng, depth: u32) -> OdpsType {
    let n = if depth < 2 { 23 } else { 20 };
    let k = rng.random_range(0..n);
    match k {
        0..=19 => OdpsType::parse(SCALARS[k]).unwrap(),
        20 => OdpsType::Array(Box::new(random_type(rng, depth + 1))),
        21 => OdpsType::Map(
            Box::new(OdpsType::parse(["string", "bigint"][rng.random_range(0..2)]).unwrap()),
            Box::new(random_type(rng, depth + 1)),
        ),
        _ => OdpsType::Struct(
            (0..rng.random_range(1..4))
                .map(|i| (format!("f{i}"), random_type(rng, depth + 1)))
                .collect(),
        ),
    }
}

fn validity(rng: &mut StdRng, n: usize, null_rate: f64, nullable: bool) -> Option<NullBuffer> {
    if !nullable {
        return None;
    }
    let v: Vec<bool> = (0..n).map(|_| !rng.random_bool(null_rate)).collect();
    Some(NullBuffer::from(v))
}

fn random_string(rng: &mut StdRng) -> String {
    let len = rng.random_range(0..12);
    (0..len)
        .map(|_| ['a', 'Z', '0', ' ', 'é', '中', '😀', '\''][rng.random_range(0..8)])
        .collect()
}

fn random_array(
    rng: &mut StdRng,
    t: &OdpsType,
    n: usize,
    null_rate: f64,
    nullable: bool,
) -> ArrayRef {
    let nulls = validity(rng, n, null_rate, nullable);
    let dt = arrow_type(t);
    let arr: ArrayRef = match t {
        OdpsType::Bigint => Arc::new(Int64Array::new(
            (0..n).map(|_| rng.random::<i64>()).collect(),
            nulls,
        )),
        OdpsType::Int => Arc::new(Int32Array::new(
            (0..n).map(|_| rng.random()).collect(),
            nulls,
        )),
        OdpsType::Smallint => Arc::new(Int16Array::new(
            (0..n).map(|_| rng.random()).collect(),
            nulls,
        )),
        OdpsType::Tinyint => Arc::new(Int8Array::new(
            (0..n).map(|_| rng.random()).collect(),
            nulls,
        )),
        OdpsType::Double => Arc::new(Float64Array::new(
            (0..n).map(|_| rng.random::<f64>() * 1e12 - 5e11).collect(),
            nulls,
        )),
        OdpsType::Float => Arc::new(Float32Array::new(
            (0..n).map(|_| rng.random::<f32>() * 1e6).collect(),
            nulls,
        )),
        OdpsType::Decimal { precision, scale } => {
            let max = 10i128.pow(*precision as u32);
            Arc::new(
                Decimal128Array::new(
                    (0..n).map(|_| rng.random_range(-max + 1..max)).collect(),
                    nulls,
                )
                .with_precision_and_scale(*precision, *scale)
                .unwrap(),
            )
        }
        OdpsType::Boolean => Arc::new(BooleanArray::new(
            (0..n).map(|_| rng.random::<bool>()).collect(),
            nulls,
        )),
        OdpsType::String | OdpsType::Varchar(_) | OdpsType::Char(_) | OdpsType::Json => {
            let v: Vec<String> = (0..n).map(|_| random_string(rng)).collect();
            let a = StringArray::from(v);
            Arc::new(StringArray::new(
                a.offsets().clone(),
                a.values().clone(),
                nulls,
            ))
        }
        OdpsType::Binary => {
            let v: Vec<Vec<u8>> = (0..n)
                .map(|_| (0..rng.random_range(0..10)).map(|_| rng.random()).collect())
                .collect();
            let a = BinaryArray::from_iter_values(v);
            Arc::new(BinaryArray::new(
                a.offsets().clone(),
                a.values().clone(),
                nulls,
            ))
        }
        OdpsType::Date => Arc::new(Date32Array::new(
            (0..n)
                .map(|_| rng.random_range(-800_000..3_000_000))
                .collect(),
            nulls,
        )),
        OdpsType::Datetime => Arc::new(TimestampMillisecondArray::new(
            (0..n)
                .map(|_| rng.random_range(-62_000_000_000_000..253_000_000_000_000))
                .collect(),
            nulls,
        )),
        OdpsType::Timestamp | OdpsType::TimestampNtz => Arc::new(TimestampNanosecondArray::new(
            (0..n).map(|_| rng.random::<i64>()).collect(),
            nulls,
        )),
        OdpsType::IntervalYearMonth => Arc::new(IntervalYearMonthArray::new(
            (0..n)
                .map(|_| rng.random_range(-100_000..100_000))
                .collect(),
            nulls,
        )),
        OdpsType::IntervalDayTime => {
            let DataType::Struct(fs) = dt.clone() else {
                unreachable!()
            };
            // children must be valid wherever the struct is valid
            Arc::new(StructArray::new(
                fs,
                vec![
                    Arc::new(Int64Array::from_iter_values(
                        (0..n).map(|_| rng.random_range(-1_000_000_000i64..1_000_000_000)),
                    )),
                    Arc::new(Int32Array::from_iter_values(
                        (0..n).map(|_| rng.random_range(0..1_000_000_000)),
                    )),
                ],
                nulls,
            ))
        }
        OdpsType::Array(et) => {
            let lens: Vec<usize> = (0..n)
                .map(|i| {
                    if nulls.as_ref().is_some_and(|b| b.is_null(i)) {
                        0
                    } else {
                        rng.random_range(0..4)
                    }
                })
                .collect();
            let total = lens.iter().sum();
            let child = random_array(rng, et, total, 0.3, true);
            let DataType::List(f) = dt.clone() else {
                unreachable!()
            };
            Arc::new(ListArray::new(
                f,
                OffsetBuffer::from_lengths(lens),
                child,
                nulls,
            ))
        }
        OdpsType::Map(kt, vt) => {
            let lens: Vec<usize> = (0..n)
                .map(|i| {
                    if nulls.as_ref().is_some_and(|b| b.is_null(i)) {
                        0
                    } else {
                        rng.random_range(0..4)
                    }
                })
                .collect();
            let total = lens.iter().sum();
            let keys = random_array(rng, kt, total, 0.0, false);
            let vals = random_array(rng, vt, total, 0.3, true);
            let DataType::Map(f, _) = dt.clone() else {
                unreachable!()
            };
            let DataType::Struct(kv) = f.data_type().clone() else {
                unreachable!()
            };
            let entries = StructArray::new(kv, vec![keys, vals], None);
            Arc::new(MapArray::new(
                f,
                OffsetBuffer::from_lengths(lens),
                entries,
                nulls,
                false,
            ))
        }
        OdpsType::Struct(fields) => {
            let DataType::Struct(fs) = dt.clone() else {
                unreachable!()
            };
            let children = fields
                .iter()
                .map(|(_, ft)| random_array(rng, ft, n, 0.3, true))
                .collect();
            Arc::new(StructArray::new(fs, children, nulls))
        }
    };
    arr
}

fn random_batch(seed: u64) -> (Vec<(String, OdpsType)>, RecordBatch) {
    let mut rng = StdRng::seed_from_u64(seed);
    let ncols = rng.random_range(1..8);
    let c: Vec<(String, OdpsType)> = (0..ncols)
        .map(|i| (format!("c{i}"), random_type(&mut rng, 0)))
        .collect();
    let rows = rng.random_range(0..40);
    let null_rate = [0.0, 0.2, 1.0][rng.random_range(0..3)];
    let arrays = c
        .iter()
        .map(|(_, t)| random_array(&mut rng, t, rows, null_rate, true))
        .collect();
    let b = RecordBatch::try_new(schema_of(&c), arrays).unwrap();
    (c, b)
}

/// Normalise a batch for comparison: nested NULL slots may hold any child values.
fn canon(b: &RecordBatch) -> Vec<String> {
    let mut out = Vec::new();
    for row in 0..b.num_rows() {
        let mut s = String::new();
        for c in b.columns() {
            let f = arrow::util::display::ArrayFormatter::try_new(
                c.as_ref(),
                &arrow::util::display::FormatOptions::default().with_null("∅"),
            )
            .unwrap();
            s.push_str(&f.value(row).to_string());
            s.push('|');
        }
        out.push(s);
    }
    out
}

fn concat(schema: SchemaRef, bs: &[RecordBatch]) -> RecordBatch {
    arrow::compute::concat_batches(&schema, bs).unwrap()
}

fn chunked(data: &[u8], rng: &mut StdRng) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let n = rng.random_range(0..=(data.len() - i).min(17));
        out.push(data[i..i + n].to_vec());
        i += n;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn record_round_trip_any_chunking(seed in any::<u64>(), batch_rows in 1usize..50) {
        let (c, b) = random_batch(seed);
        let mut enc = RecordEncoder::new(c.clone());
        let mut body = Vec::new();
        // two batches: the first half and the rest
        let half = b.num_rows() / 2;
        enc.encode_batch(&b.slice(0, half), &mut body).unwrap();
        enc.encode_batch(&b.slice(half, b.num_rows() - half), &mut body).unwrap();
        enc.finish(&mut body);
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
        let mut d = RecordDecoder::new(&c, DecoderOptions { batch_rows, ..Default::default() });
        let mut got = Vec::new();
        for piece in chunked(&body, &mut rng) {
            d.push(&piece).unwrap();
            while let Some(x) = d.next_batch().unwrap() {
                prop_assert!(x.num_rows() == batch_rows);
                got.push(x);
            }
        }
        got.extend(d.finish().unwrap());
        prop_assert!(got.iter().all(|x| x.num_rows() > 0));
        let got = concat(b.schema(), &got);
        prop_assert_eq!(canon(&got), canon(&b));
        prop_assert_eq!(d.record_count(), b.num_rows() as u64);
    }

    #[test]
    fn arrow_frame_round_trip_any_chunking(seed in any::<u64>(), chunk in 1u32..300) {
        let (_c, b) = random_batch(seed);
        let body = encode_arrow_body(&b.schema(), &[b.slice(0, b.num_rows() / 3), b.clone()], chunk).unwrap();
        let mut rng = StdRng::seed_from_u64(seed ^ 0xa770);
        let mut d = ArrowTunnelDecoder::new(b.schema()).unwrap();
        let mut got = Vec::new();
        for piece in chunked(&body, &mut rng) {
            d.push(&piece).unwrap();
            while let Some(x) = d.next_batch() { got.push(x); }
        }
        got.extend(d.finish().unwrap());
        prop_assert_eq!(got.len(), 2);
        prop_assert_eq!(&got[1], &b);
    }
}

#[test]
fn arrow_frame_layout_and_crc_errors() {
    let (_, b) = worked_batch();
    let body = encode_arrow_body(&b.schema(), std::slice::from_ref(&b), 65536).unwrap();
    assert_eq!(&body[..8], &[0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    let payload = &body[4..body.len() - 4];
    let crc = crc32c::crc32c(payload);
    assert_eq!(&body[body.len() - 4..], &crc.to_be_bytes());
    assert_eq!(
        decode_arrow_body(b.schema(), &body).unwrap(),
        vec![b.clone()]
    );
    let mut bad = body.clone();
    let n = bad.len();
    bad[n - 10] ^= 1;
    assert!(decode_arrow_body(b.schema(), &bad).is_err());
    // exact multiple of the chunk size: an empty last piece
    let body = encode_arrow_body(&b.schema(), std::slice::from_ref(&b), 8).unwrap();
    assert_eq!(decode_arrow_body(b.schema(), &body).unwrap(), vec![b]);
}
