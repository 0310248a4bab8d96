//! The binary `COPY ... TO STDOUT (FORMAT binary)` stream, decoded straight into Arrow
//! builders.
//!
//! Format: an 11-byte signature `PGCOPY\n\xff\r\n\0`, `i32` flags, `i32` header extension
//! length (+ that many bytes); then per tuple an `i16` field count followed by fields, each an
//! `i32` length (`-1` = NULL) and that many bytes in the type's binary send format; the
//! trailer is a field count of `-1`. Input arrives in arbitrary chunks (PostgreSQL sends
//! one CopyData message per row, but nothing guarantees it), so tuples may straddle chunks.

use std::sync::Arc;

use arrow::array::NullBufferBuilder;
use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder,
    Float64Builder, Int16Builder, Int32Builder, Int64Builder, IntervalMonthDayNanoBuilder,
    ListArray, StringArray, StringBuilder, Time64MicrosecondBuilder, TimestampMicrosecondBuilder,
    UInt32Builder,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, IntervalMonthDayNano, SchemaRef};
use arrow::record_batch::RecordBatch;
use ferry_core::{Error, Result};

use crate::types::{scalar_data_type, PgColumn, PgScalar};

/// The binary COPY signature.
pub const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// Days from 1970-01-01 to PostgreSQL's epoch 2000-01-01.
pub const PG_EPOCH_DAYS: i32 = 10_957;
/// Microseconds from 1970-01-01 to 2000-01-01.
pub const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Text-like kinds that decode into a `StringBuilder`.
#[derive(Debug, Clone, Copy)]
enum StrKind {
    Char,
    NumericText,
    TimeTz,
    Uuid,
    Inet,
    MacAddr,
    Bit,
}

/// One column's builder.
enum Col {
    Bool(BooleanBuilder),
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    U32(UInt32Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Decimal(Decimal128Builder, i8, u8),
    Money(Decimal128Builder),
    Str(StringBuilder, StrKind),
    /// `text`-like values and `jsonb` (with its version byte, `true`), kept as bytes and
    /// checked to be UTF-8 once per batch (one pass over the batch's values, not one call
    /// per value); a bad value is then looked up to name its row.
    Utf8(BinaryBuilder, bool),
    Bytes(BinaryBuilder),
    Date(Date32Builder),
    Time(Time64MicrosecondBuilder),
    Ts(TimestampMicrosecondBuilder),
    Interval(IntervalMonthDayNanoBuilder),
    List {
        offsets: Vec<i32>,
        nulls: NullBufferBuilder,
        inner: Box<Col>,
        field: Arc<Field>,
    },
}

impl Col {
    fn new(scalar: PgScalar, is_array: bool, cap: usize) -> Col {
        if is_array {
            let inner = Col::new(scalar, false, cap * 4);
            let mut offsets = Vec::with_capacity(cap + 1);
            offsets.push(0);
            return Col::List {
                offsets,
                nulls: NullBufferBuilder::new(cap),
                inner: Box::new(inner),
                field: Arc::new(Field::new("item", scalar_data_type(scalar), true)),
            };
        }
        match scalar {
            PgScalar::Bool => Col::Bool(BooleanBuilder::with_capacity(cap)),
            PgScalar::Int2 => Col::I16(Int16Builder::with_capacity(cap)),
            PgScalar::Int4 => Col::I32(Int32Builder::with_capacity(cap)),
            PgScalar::Int8 => Col::I64(Int64Builder::with_capacity(cap)),
            PgScalar::Oid => Col::U32(UInt32Builder::with_capacity(cap)),
            PgScalar::Float4 => Col::F32(Float32Builder::with_capacity(cap)),
            PgScalar::Float8 => Col::F64(Float64Builder::with_capacity(cap)),
            PgScalar::Numeric { precision, scale } => Col::Decimal(
                Decimal128Builder::with_capacity(cap)
                    .with_data_type(DataType::Decimal128(precision, scale)),
                scale,
                precision,
            ),
            PgScalar::Money => Col::Money(
                Decimal128Builder::with_capacity(cap).with_data_type(DataType::Decimal128(19, 2)),
            ),
            PgScalar::Bytea => Col::Bytes(BinaryBuilder::with_capacity(cap, cap * 16)),
            PgScalar::Date => Col::Date(Date32Builder::with_capacity(cap)),
            PgScalar::Time => Col::Time(Time64MicrosecondBuilder::with_capacity(cap)),
            PgScalar::Timestamp => Col::Ts(TimestampMicrosecondBuilder::with_capacity(cap)),
            PgScalar::TimestampTz => {
                Col::Ts(TimestampMicrosecondBuilder::with_capacity(cap).with_timezone("UTC"))
            }
            PgScalar::Interval => Col::Interval(IntervalMonthDayNanoBuilder::with_capacity(cap)),
            PgScalar::Text => Col::Utf8(BinaryBuilder::with_capacity(cap, cap * 16), false),
            PgScalar::Char => Col::Str(StringBuilder::with_capacity(cap, cap), StrKind::Char),
            PgScalar::Jsonb => Col::Utf8(BinaryBuilder::with_capacity(cap, cap * 32), true),
            PgScalar::NumericText => Col::Str(
                StringBuilder::with_capacity(cap, cap * 8),
                StrKind::NumericText,
            ),
            PgScalar::TimeTz => {
                Col::Str(StringBuilder::with_capacity(cap, cap * 16), StrKind::TimeTz)
            }
            PgScalar::Uuid => Col::Str(StringBuilder::with_capacity(cap, cap * 36), StrKind::Uuid),
            PgScalar::Inet => Col::Str(StringBuilder::with_capacity(cap, cap * 16), StrKind::Inet),
            PgScalar::MacAddr => Col::Str(
                StringBuilder::with_capacity(cap, cap * 17),
                StrKind::MacAddr,
            ),
            PgScalar::Bit => Col::Str(StringBuilder::with_capacity(cap, cap * 8), StrKind::Bit),
        }
    }

    fn append_null(&mut self) {
        match self {
            Col::Bool(b) => b.append_null(),
            Col::I16(b) => b.append_null(),
            Col::I32(b) => b.append_null(),
            Col::I64(b) => b.append_null(),
            Col::U32(b) => b.append_null(),
            Col::F32(b) => b.append_null(),
            Col::F64(b) => b.append_null(),
            Col::Decimal(b, _, _) | Col::Money(b) => b.append_null(),
            Col::Str(b, _) => b.append_null(),
            Col::Utf8(b, _) | Col::Bytes(b) => b.append_null(),
            Col::Date(b) => b.append_null(),
            Col::Time(b) => b.append_null(),
            Col::Ts(b) => b.append_null(),
            Col::Interval(b) => b.append_null(),
            Col::List { offsets, nulls, .. } => {
                let last = offsets.last().copied().unwrap_or(0);
                offsets.push(last);
                nulls.append_null();
            }
        }
    }

    /// Decode one non-NULL value. Errors are plain messages; the caller adds column and row.
    fn append(&mut self, v: &[u8]) -> std::result::Result<(), String> {
        match self {
            Col::Bool(b) => b.append_value(fixed::<1>(v)?[0] != 0),
            Col::I16(b) => b.append_value(i16::from_be_bytes(fixed(v)?)),
            Col::I32(b) => b.append_value(i32::from_be_bytes(fixed(v)?)),
            Col::I64(b) => b.append_value(i64::from_be_bytes(fixed(v)?)),
            Col::U32(b) => b.append_value(u32::from_be_bytes(fixed(v)?)),
            Col::F32(b) => b.append_value(f32::from_be_bytes(fixed(v)?)),
            Col::F64(b) => b.append_value(f64::from_be_bytes(fixed(v)?)),
            Col::Decimal(b, scale, precision) => {
                let n = numeric_to_i128(v, *scale)?;
                let limit = 10i128.pow(u32::from(*precision));
                if n >= limit || n <= -limit {
                    return Err(format!("numeric value does not fit precision {precision}"));
                }
                b.append_value(n)
            }
            Col::Money(b) => b.append_value(i128::from(i64::from_be_bytes(fixed(v)?))),
            Col::Bytes(b) => b.append_value(v),
            Col::Date(b) => b.append_value(date_from_pg(i32::from_be_bytes(fixed(v)?))?),
            Col::Time(b) => b.append_value(i64::from_be_bytes(fixed(v)?)),
            Col::Ts(b) => b.append_value(timestamp_from_pg(i64::from_be_bytes(fixed(v)?))?),
            Col::Interval(b) => b.append_value(interval_from_pg(v)?),
            Col::Utf8(b, false) => b.append_value(v),
            Col::Utf8(b, true) => match v.split_first() {
                Some((1, rest)) => b.append_value(rest),
                _ => return Err("unknown jsonb binary version".into()),
            },
            Col::Str(b, kind) => match kind {
                StrKind::Char => b.append_value(char::from(fixed::<1>(v)?[0]).to_string()),
                StrKind::NumericText => b.append_value(numeric_to_text(v)?),
                StrKind::TimeTz => b.append_value(timetz_to_text(v)?),
                StrKind::Uuid => b.append_value(uuid_to_text(v)?),
                StrKind::Inet => b.append_value(inet_to_text(v)?),
                StrKind::MacAddr => b.append_value(mac_to_text(v)?),
                StrKind::Bit => b.append_value(bit_to_text(v)?),
            },
            Col::List {
                offsets,
                nulls,
                inner,
                ..
            } => {
                let added = decode_array(v, inner)?;
                let last = offsets.last().copied().unwrap_or(0);
                let next = i32::try_from(i64::from(last) + added as i64)
                    .map_err(|_| "array values exceed 2^31 elements in one batch".to_string())?;
                offsets.push(next);
                nulls.append_non_null();
            }
        }
        Ok(())
    }

    /// The column's array; `Err((i, message))` when value `i` of it is not UTF-8.
    fn finish(&mut self) -> Result<std::result::Result<ArrayRef, (usize, String)>> {
        Ok(Ok(match self {
            Col::Bool(b) => Arc::new(b.finish()),
            Col::I16(b) => Arc::new(b.finish()),
            Col::I32(b) => Arc::new(b.finish()),
            Col::I64(b) => Arc::new(b.finish()),
            Col::U32(b) => Arc::new(b.finish()),
            Col::F32(b) => Arc::new(b.finish()),
            Col::F64(b) => Arc::new(b.finish()),
            Col::Decimal(b, _, _) | Col::Money(b) => Arc::new(b.finish()),
            Col::Str(b, _) => Arc::new(b.finish()),
            Col::Utf8(b, _) => {
                let (offsets, values, nulls) = b.finish().into_parts();
                match StringArray::try_new(offsets.clone(), values.clone(), nulls) {
                    Ok(a) => Arc::new(a),
                    Err(_) => return Ok(Err(first_invalid(&offsets, &values))),
                }
            }
            Col::Bytes(b) => Arc::new(b.finish()),
            Col::Date(b) => Arc::new(b.finish()),
            Col::Time(b) => Arc::new(b.finish()),
            Col::Ts(b) => Arc::new(b.finish()),
            Col::Interval(b) => Arc::new(b.finish()),
            Col::List {
                offsets,
                nulls,
                inner,
                field,
            } => {
                let values = match inner.finish()? {
                    Ok(v) => v,
                    Err((i, m)) => {
                        // Element i belongs to the row whose range holds it.
                        let row = offsets
                            .partition_point(|&o| o as usize <= i)
                            .saturating_sub(1);
                        *offsets = vec![0];
                        return Ok(Err((row, m)));
                    }
                };
                let offs = std::mem::replace(offsets, vec![0]);
                let list = ListArray::try_new(
                    field.clone(),
                    OffsetBuffer::new(offs.into()),
                    values,
                    nulls.finish(),
                )?;
                Arc::new(list)
            }
        }))
    }
}

/// The first value that is not UTF-8, and why.
fn first_invalid(offsets: &OffsetBuffer<i32>, values: &[u8]) -> (usize, String) {
    for (i, w) in offsets.windows(2).enumerate() {
        let v = values.get(w[0] as usize..w[1] as usize).unwrap_or_default();
        if let Err(e) = utf8(v) {
            return (i, e);
        }
    }
    // The values are UTF-8 one by one but a value boundary splits a character: impossible
    // when every value is valid, kept as a plain message rather than a panic.
    (0, "invalid UTF-8".to_string())
}

/// A value that does not decode: `context: row N column "name": message`, at that column.
fn value_error(context: &str, row: u64, column: &str, message: &str) -> Error {
    Error::data(format!(
        "{context}: row {row} column \"{column}\": {message}"
    ))
    .at_column(column)
}

fn fixed<const N: usize>(v: &[u8]) -> std::result::Result<[u8; N], String> {
    v.try_into()
        .map_err(|_| format!("expected {N} bytes, got {}", v.len()))
}

fn utf8(v: &[u8]) -> std::result::Result<&str, String> {
    std::str::from_utf8(v).map_err(|e| format!("invalid UTF-8: {e}"))
}

/// PostgreSQL date (days since 2000-01-01; i32::MIN/MAX = ∓infinity) → Date32.
pub fn date_from_pg(d: i32) -> std::result::Result<i32, String> {
    if d == i32::MAX || d == i32::MIN {
        return Ok(d);
    }
    d.checked_add(PG_EPOCH_DAYS)
        .filter(|x| *x != i32::MAX)
        .ok_or_else(|| "date is beyond Arrow's Date32 range".to_string())
}

/// PostgreSQL timestamp (µs since 2000-01-01; i64::MIN/MAX = ∓infinity) → µs since 1970.
pub fn timestamp_from_pg(t: i64) -> std::result::Result<i64, String> {
    if t == i64::MAX || t == i64::MIN {
        return Ok(t);
    }
    t.checked_add(PG_EPOCH_MICROS)
        .filter(|x| *x != i64::MAX)
        .ok_or_else(|| {
            "timestamp is after 294247-01-10 04:00:54.775806, the largest Arrow Timestamp(µs) value"
                .to_string()
        })
}

fn interval_from_pg(v: &[u8]) -> std::result::Result<IntervalMonthDayNano, String> {
    let v: [u8; 16] = fixed(v)?;
    let micros = i64::from_be_bytes([v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]]);
    let days = i32::from_be_bytes([v[8], v[9], v[10], v[11]]);
    let months = i32::from_be_bytes([v[12], v[13], v[14], v[15]]);
    // PostgreSQL 17 infinite intervals: every field at its extreme.
    if micros == i64::MAX && days == i32::MAX && months == i32::MAX {
        return Ok(IntervalMonthDayNano::new(i32::MAX, i32::MAX, i64::MAX));
    }
    if micros == i64::MIN && days == i32::MIN && months == i32::MIN {
        return Ok(IntervalMonthDayNano::new(i32::MIN, i32::MIN, i64::MIN));
    }
    let nanos = micros
        .checked_mul(1000)
        .ok_or_else(|| "interval's time part exceeds ±106751 days in nanoseconds".to_string())?;
    Ok(IntervalMonthDayNano::new(months, days, nanos))
}

struct NumericParts<'a> {
    weight: i16,
    sign: u16,
    dscale: u16,
    digits: &'a [u8],
}

const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_PINF: u16 = 0xD000;
const NUMERIC_NINF: u16 = 0xF000;

fn numeric_parts(v: &[u8]) -> std::result::Result<NumericParts<'_>, String> {
    if v.len() < 8 {
        return Err("numeric value too short".into());
    }
    let ndigits = u16::from_be_bytes([v[0], v[1]]) as usize;
    let digits = &v[8..];
    if digits.len() != ndigits * 2 {
        return Err("numeric value has the wrong length".into());
    }
    Ok(NumericParts {
        weight: i16::from_be_bytes([v[2], v[3]]),
        sign: u16::from_be_bytes([v[4], v[5]]),
        dscale: u16::from_be_bytes([v[6], v[7]]),
        digits,
    })
}

/// Binary numeric → unscaled i128 at `scale` (exact, or an error).
pub fn numeric_to_i128(v: &[u8], scale: i8) -> std::result::Result<i128, String> {
    let p = numeric_parts(v)?;
    match p.sign {
        NUMERIC_NAN => return Err("NaN does not fit a decimal column".into()),
        NUMERIC_PINF | NUMERIC_NINF => return Err("Infinity does not fit a decimal column".into()),
        _ => {}
    }
    let overflow = || "numeric value overflows 128 bits".to_string();
    let mut acc: i128 = 0;
    for ch in p.digits.chunks_exact(2) {
        let d = i128::from(u16::from_be_bytes([ch[0], ch[1]]));
        acc = acc
            .checked_mul(10_000)
            .and_then(|a| a.checked_add(d))
            .ok_or_else(overflow)?;
    }
    let ndigits = (p.digits.len() / 2) as i32;
    // acc is in units of 10000^(weight - ndigits + 1); we want units of 10^-scale.
    let exp10 = (i32::from(p.weight) - ndigits + 1) * 4 + i32::from(scale);
    if exp10 >= 0 {
        for _ in 0..exp10 {
            acc = acc.checked_mul(10).ok_or_else(overflow)?;
        }
    } else {
        for _ in 0..(-exp10) {
            if acc % 10 != 0 {
                return Err(format!(
                    "numeric value has more than {scale} fractional digits"
                ));
            }
            acc /= 10;
        }
    }
    Ok(if p.sign == NUMERIC_NEG { -acc } else { acc })
}

/// Binary numeric → PostgreSQL's own text form (`-12.340`, `NaN`, `Infinity`).
pub fn numeric_to_text(v: &[u8]) -> std::result::Result<String, String> {
    let p = numeric_parts(v)?;
    match p.sign {
        NUMERIC_NAN => return Ok("NaN".into()),
        NUMERIC_PINF => return Ok("Infinity".into()),
        NUMERIC_NINF => return Ok("-Infinity".into()),
        _ => {}
    }
    let digit = |i: i32| -> u16 {
        if i < 0 || (i as usize) * 2 + 1 >= p.digits.len() {
            0
        } else {
            u16::from_be_bytes([p.digits[i as usize * 2], p.digits[i as usize * 2 + 1]])
        }
    };
    let mut s = String::with_capacity(16);
    if p.sign == NUMERIC_NEG {
        s.push('-');
    }
    let weight = i32::from(p.weight);
    if weight < 0 {
        s.push('0');
    } else {
        for i in 0..=weight {
            let d = digit(i);
            if i == 0 {
                s.push_str(&d.to_string());
            } else {
                s.push_str(&format!("{d:04}"));
            }
        }
    }
    if p.dscale > 0 {
        s.push('.');
        let mut frac = String::with_capacity(p.dscale as usize + 4);
        let mut i = weight + 1;
        while frac.len() < p.dscale as usize {
            frac.push_str(&format!("{:04}", digit(i)));
            i += 1;
        }
        frac.truncate(p.dscale as usize);
        s.push_str(&frac);
    }
    Ok(s)
}

fn timetz_to_text(v: &[u8]) -> std::result::Result<String, String> {
    let v: [u8; 12] = fixed(v)?;
    let micros = i64::from_be_bytes([v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]]);
    let zone_west = i32::from_be_bytes([v[8], v[9], v[10], v[11]]);
    let mut s = time_text(micros);
    let east = -zone_west;
    let (sign, a) = if east < 0 { ('-', -east) } else { ('+', east) };
    s.push(sign);
    s.push_str(&format!("{:02}", a / 3600));
    if a % 3600 != 0 {
        s.push_str(&format!(":{:02}", (a % 3600) / 60));
        if a % 60 != 0 {
            s.push_str(&format!(":{:02}", a % 60));
        }
    }
    Ok(s)
}

fn time_text(micros: i64) -> String {
    let secs = micros / 1_000_000;
    let frac = micros % 1_000_000;
    let mut s = format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
    if frac != 0 {
        let f = format!("{frac:06}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s
}

fn uuid_to_text(v: &[u8]) -> std::result::Result<String, String> {
    let b: [u8; 16] = fixed(v)?;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

fn inet_to_text(v: &[u8]) -> std::result::Result<String, String> {
    if v.len() < 4 {
        return Err("inet value too short".into());
    }
    let (family, bits, is_cidr, n) = (v[0], v[1], v[2], v[3] as usize);
    let addr = &v[4..];
    if addr.len() != n {
        return Err("inet value has the wrong length".into());
    }
    let (text, max) = match (family, n) {
        (2, 4) => (
            std::net::Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]).to_string(),
            32,
        ),
        (3, 16) => {
            let a: [u8; 16] = fixed(addr)?;
            (std::net::Ipv6Addr::from(a).to_string(), 128)
        }
        _ => return Err(format!("unknown inet address family {family}")),
    };
    Ok(if is_cidr != 0 || bits != max {
        format!("{text}/{bits}")
    } else {
        text
    })
}

fn mac_to_text(v: &[u8]) -> std::result::Result<String, String> {
    if v.len() != 6 && v.len() != 8 {
        return Err(format!("macaddr of {} bytes", v.len()));
    }
    Ok(v.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":"))
}

fn bit_to_text(v: &[u8]) -> std::result::Result<String, String> {
    if v.len() < 4 {
        return Err("bit string too short".into());
    }
    let nbits = i32::from_be_bytes([v[0], v[1], v[2], v[3]]);
    let data = &v[4..];
    if nbits < 0 || data.len() != (nbits as usize).div_ceil(8) {
        return Err("bit string has the wrong length".into());
    }
    Ok((0..nbits as usize)
        .map(|i| {
            if data[i / 8] & (0x80 >> (i % 8)) != 0 {
                '1'
            } else {
                '0'
            }
        })
        .collect())
}

/// Decode a binary array into `inner`; returns the number of elements appended.
fn decode_array(v: &[u8], inner: &mut Col) -> std::result::Result<usize, String> {
    let rd = |o: usize| -> std::result::Result<i32, String> {
        v.get(o..o + 4)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| "array value truncated".to_string())
    };
    let ndim = rd(0)?;
    if ndim == 0 {
        return Ok(0);
    }
    if ndim != 1 {
        return Err(format!(
            "{ndim}-dimensional array; ferry reads 1-D arrays only (unnest it or cast it to text)"
        ));
    }
    let n = rd(12)?;
    if n < 0 {
        return Err("array has a negative length".into());
    }
    let mut pos = 20;
    for _ in 0..n {
        let len = rd(pos)?;
        pos += 4;
        if len < 0 {
            inner.append_null();
        } else {
            let end = pos + len as usize;
            let el = v
                .get(pos..end)
                .ok_or_else(|| "array value truncated".to_string())?;
            inner.append(el)?;
            pos = end;
        }
    }
    Ok(n as usize)
}

/// Where the decoder stands in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Tuples,
    Done,
}

/// Streaming decoder of one binary COPY result into record batches.
pub struct CopyDecoder {
    schema: SchemaRef,
    names: Vec<String>,
    cols: Vec<Col>,
    pending: Vec<u8>,
    state: State,
    batch_rows: usize,
    batch_bytes: usize,
    rows_in_batch: usize,
    bytes_in_batch: usize,
    rows_total: u64,
    context: String,
}

impl CopyDecoder {
    /// A decoder for columns `cols` (the schema must be their `arrow_field`s), cutting
    /// batches at `batch_rows` rows or `batch_bytes` wire bytes. `context` prefixes errors
    /// (e.g. the table and split).
    pub fn new(
        schema: SchemaRef,
        cols: &[PgColumn],
        batch_rows: usize,
        batch_bytes: usize,
        context: impl Into<String>,
    ) -> Result<CopyDecoder> {
        let batch_rows = batch_rows.max(1);
        let cap = batch_rows.min(65_536);
        let builders = cols
            .iter()
            .map(|c| Ok(Col::new(c.scalar()?, c.is_array, cap)))
            .collect::<Result<Vec<_>>>()?;
        Ok(CopyDecoder {
            schema,
            names: cols.iter().map(|c| c.name.clone()).collect(),
            cols: builders,
            pending: Vec::new(),
            state: State::Header,
            batch_rows,
            batch_bytes: batch_bytes.max(1),
            rows_in_batch: 0,
            bytes_in_batch: 0,
            rows_total: 0,
            context: context.into(),
        })
    }

    /// Rows decoded so far.
    pub fn rows(&self) -> u64 {
        self.rows_total
    }

    /// Feed one chunk; every complete tuple is decoded, full batches are pushed to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<RecordBatch>) -> Result<()> {
        let mut chunk = chunk;
        // A tuple that straddles the previous chunk: copy only as much of this chunk as it
        // needs (growing geometrically), then decode the rest of the chunk in place.
        while !self.pending.is_empty() {
            if chunk.is_empty() {
                return Ok(());
            }
            let mut buf = std::mem::take(&mut self.pending);
            let old = buf.len();
            let piece = chunk.len().min(old.max(4096));
            buf.extend_from_slice(&chunk[..piece]);
            let used = self.consume(&buf, out)?;
            if used >= old {
                // The straddling tuple is decoded; the rest of the chunk follows in place.
                chunk = &chunk[used - old..];
                buf.clear();
                self.pending = buf;
                break;
            }
            buf.drain(..used);
            chunk = &chunk[piece..];
            self.pending = buf;
        }
        let used = self.consume(chunk, out)?;
        self.pending.extend_from_slice(&chunk[used..]);
        Ok(())
    }

    /// End of input: the trailer must have been seen. Returns the last, partial batch.
    pub fn finish(mut self) -> Result<Option<RecordBatch>> {
        if self.state != State::Done {
            return Err(Error::data(format!(
                "{}: COPY stream ended early (after {} rows, {} bytes left over)",
                self.context,
                self.rows_total,
                self.pending.len()
            )));
        }
        self.flush()
    }

    /// Decode as much of `buf` as is complete; returns bytes consumed.
    fn consume(&mut self, buf: &[u8], out: &mut Vec<RecordBatch>) -> Result<usize> {
        let mut pos = 0;
        if self.state == State::Header {
            if buf.len() < 19 {
                return Ok(0);
            }
            if &buf[..11] != SIGNATURE {
                return Err(Error::data(format!(
                    "{}: not a binary COPY stream (bad signature)",
                    self.context
                )));
            }
            let ext = i32::from_be_bytes([buf[15], buf[16], buf[17], buf[18]]);
            let ext = usize::try_from(ext).map_err(|_| {
                Error::data(format!(
                    "{}: bad COPY header extension length",
                    self.context
                ))
            })?;
            if buf.len() < 19 + ext {
                return Ok(0);
            }
            pos = 19 + ext;
            self.state = State::Tuples;
        }
        let ncols = self.cols.len();
        while self.state == State::Tuples {
            let rest = &buf[pos..];
            if rest.len() < 2 {
                break;
            }
            let nfields = i16::from_be_bytes([rest[0], rest[1]]);
            if nfields == -1 {
                self.state = State::Done;
                pos += 2;
                break;
            }
            if nfields as usize != ncols || nfields < 0 {
                return Err(Error::data(format!(
                    "{}: row {} has {nfields} fields, expected {ncols}",
                    self.context,
                    self.rows_total + 1
                )));
            }
            // Is the whole tuple here?
            let mut p = 2;
            let mut complete = true;
            for _ in 0..ncols {
                if rest.len() < p + 4 {
                    complete = false;
                    break;
                }
                let len = i32::from_be_bytes([rest[p], rest[p + 1], rest[p + 2], rest[p + 3]]);
                p += 4;
                if len > 0 {
                    p += len as usize;
                    if rest.len() < p {
                        complete = false;
                        break;
                    }
                }
            }
            if !complete {
                break;
            }
            let mut q = 2;
            for (i, col) in self.cols.iter_mut().enumerate() {
                let len = i32::from_be_bytes([rest[q], rest[q + 1], rest[q + 2], rest[q + 3]]);
                q += 4;
                if len < 0 {
                    col.append_null();
                } else {
                    let v = &rest[q..q + len as usize];
                    q += len as usize;
                    if let Err(m) = col.append(v) {
                        return Err(value_error(
                            &self.context,
                            self.rows_total + 1,
                            &self.names[i],
                            &m,
                        ));
                    }
                }
            }
            pos += p;
            self.rows_total += 1;
            self.rows_in_batch += 1;
            self.bytes_in_batch += p;
            if self.rows_in_batch >= self.batch_rows || self.bytes_in_batch >= self.batch_bytes {
                if let Some(b) = self.flush()? {
                    out.push(b);
                }
            }
        }
        if self.state == State::Done && pos < buf.len() {
            return Err(Error::data(format!(
                "{}: {} bytes after the COPY trailer",
                self.context,
                buf.len() - pos
            )));
        }
        Ok(pos)
    }

    fn flush(&mut self) -> Result<Option<RecordBatch>> {
        if self.rows_in_batch == 0 {
            return Ok(None);
        }
        let first_row = self.rows_total - self.rows_in_batch as u64;
        let mut arrays = Vec::with_capacity(self.cols.len());
        for (i, col) in self.cols.iter_mut().enumerate() {
            match col.finish()? {
                Ok(a) => arrays.push(a),
                Err((row, m)) => {
                    let row = first_row + row as u64 + 1;
                    return Err(value_error(&self.context, row, &self.names[i], &m));
                }
            }
        }
        self.rows_in_batch = 0;
        self.bytes_in_batch = 0;
        Ok(Some(RecordBatch::try_new(self.schema.clone(), arrays)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;

    fn numeric(weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&(digits.len() as u16).to_be_bytes());
        v.extend_from_slice(&weight.to_be_bytes());
        v.extend_from_slice(&sign.to_be_bytes());
        v.extend_from_slice(&dscale.to_be_bytes());
        for d in digits {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    #[test]
    fn numerics_decode_exactly() {
        // 12345.678 = [1, 2345, 6780], weight 1, dscale 3
        let v = numeric(1, 0, 3, &[1, 2345, 6780]);
        assert_eq!(numeric_to_text(&v).unwrap(), "12345.678");
        assert_eq!(numeric_to_i128(&v, 3).unwrap(), 12_345_678);
        assert_eq!(numeric_to_i128(&v, 5).unwrap(), 1_234_567_800);
        assert!(numeric_to_i128(&v, 2).is_err());
        // -0.0001 = [1], weight -1
        let v = numeric(-1, NUMERIC_NEG, 4, &[1]);
        assert_eq!(numeric_to_text(&v).unwrap(), "-0.0001");
        assert_eq!(numeric_to_i128(&v, 4).unwrap(), -1);
        // 10000 = [1], weight 1, no digits for the zero group
        let v = numeric(1, 0, 0, &[1]);
        assert_eq!(numeric_to_text(&v).unwrap(), "10000");
        assert_eq!(numeric_to_text(&numeric(0, 0, 2, &[])).unwrap(), "0.00");
        assert_eq!(
            numeric_to_text(&numeric(0, NUMERIC_NAN, 0, &[])).unwrap(),
            "NaN"
        );
        assert!(numeric_to_i128(&numeric(0, NUMERIC_NAN, 0, &[]), 2).is_err());
    }

    #[test]
    fn text_forms() {
        assert_eq!(time_text(45_296_500_000), "12:34:56.5");
        let mut tz = 45_296_000_000i64.to_be_bytes().to_vec();
        tz.extend_from_slice(&(-7200i32).to_be_bytes());
        assert_eq!(timetz_to_text(&tz).unwrap(), "12:34:56+02");
        assert_eq!(
            inet_to_text(&[2, 24, 1, 4, 192, 168, 1, 0]).unwrap(),
            "192.168.1.0/24"
        );
        assert_eq!(
            inet_to_text(&[2, 32, 0, 4, 10, 0, 0, 1]).unwrap(),
            "10.0.0.1"
        );
        assert_eq!(bit_to_text(&[0, 0, 0, 5, 0b1010_1000]).unwrap(), "10101");
        assert_eq!(
            mac_to_text(&[8, 0, 0x2b, 1, 2, 3]).unwrap(),
            "08:00:2b:01:02:03"
        );
        assert_eq!(date_from_pg(0).unwrap(), PG_EPOCH_DAYS);
        assert_eq!(date_from_pg(i32::MAX).unwrap(), i32::MAX);
        assert!(timestamp_from_pg(i64::MAX - 1).is_err());
    }

    /// A row of the property test: (int8, text, float8, bool, timestamp, bytea), any NULL.
    type Row = (
        Option<i64>,
        Option<String>,
        Option<f64>,
        Option<bool>,
        Option<i64>,
        Option<Vec<u8>>,
    );

    fn test_columns() -> Vec<PgColumn> {
        let mk = |name: &str, oid: u32| PgColumn {
            name: name.into(),
            type_oid: oid,
            typmod: -1,
            type_name: name.into(),
            base_oid: oid,
            base_name: name.into(),
            is_array: false,
            is_enum: false,
            not_null: false,
        };
        use crate::types::oid;
        vec![
            mk("i", oid::INT8),
            mk("t", oid::TEXT),
            mk("f", oid::FLOAT8),
            mk("b", oid::BOOL),
            mk("ts", oid::TIMESTAMP),
            mk("by", oid::BYTEA),
        ]
    }

    /// Encode rows as PostgreSQL does (the test's independent encoder).
    fn encode(rows: &[Row]) -> Vec<u8> {
        let mut v = SIGNATURE.to_vec();
        v.extend_from_slice(&0i32.to_be_bytes());
        v.extend_from_slice(&0i32.to_be_bytes());
        fn field(v: &mut Vec<u8>, b: Option<&[u8]>) {
            match b {
                None => v.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(b) => {
                    v.extend_from_slice(&(b.len() as i32).to_be_bytes());
                    v.extend_from_slice(b);
                }
            }
        }
        for r in rows {
            v.extend_from_slice(&6i16.to_be_bytes());
            field(
                &mut v,
                r.0.map(|x| x.to_be_bytes()).as_ref().map(|b| &b[..]),
            );
            field(&mut v, r.1.as_deref().map(str::as_bytes));
            field(
                &mut v,
                r.2.map(|x| x.to_be_bytes()).as_ref().map(|b| &b[..]),
            );
            field(&mut v, r.3.map(|x| [x as u8]).as_ref().map(|b| &b[..]));
            field(
                &mut v,
                r.4.map(|x| x.to_be_bytes()).as_ref().map(|b| &b[..]),
            );
            field(&mut v, r.5.as_deref());
        }
        v.extend_from_slice(&(-1i16).to_be_bytes());
        v
    }

    #[test]
    fn invalid_utf8_names_its_row_and_column() {
        let mut rows: Vec<Row> = (0..10)
            .map(|i| (Some(i), Some(format!("v{i}")), None, None, None, None))
            .collect();
        rows[6].1 = Some("QQQQ".into());
        let mut buf = encode(&rows);
        let at = buf.windows(4).position(|w| w == b"QQQQ").unwrap();
        buf[at + 1] = 0xff;
        for batch_rows in [1, 4, 100] {
            let e = decode(&buf, &[], batch_rows).unwrap_err().to_string();
            assert!(
                e.contains("test: row 7 column \"t\": invalid UTF-8"),
                "{batch_rows}: {e}"
            );
        }
    }

    fn decode(buf: &[u8], cuts: &[usize], batch_rows: usize) -> Result<Vec<RecordBatch>> {
        let cols = test_columns();
        let fields = cols
            .iter()
            .map(crate::types::arrow_field)
            .collect::<Result<Vec<_>>>()?;
        let schema = Arc::new(arrow::datatypes::Schema::new(fields));
        let mut d = CopyDecoder::new(schema, &cols, batch_rows, usize::MAX, "test")?;
        let mut out = Vec::new();
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (buf.len() + 1)).collect();
        cuts.push(0);
        cuts.push(buf.len());
        cuts.sort_unstable();
        for w in cuts.windows(2) {
            d.push(&buf[w[0]..w[1]], &mut out)?;
        }
        if let Some(b) = d.finish()? {
            out.push(b);
        }
        Ok(out)
    }

    fn row_strategy() -> impl proptest::strategy::Strategy<Value = Row> {
        use proptest::prelude::*;
        (
            proptest::option::of(any::<i64>()),
            proptest::option::of(".{0,12}"),
            proptest::option::of(any::<f64>()),
            proptest::option::of(any::<bool>()),
            proptest::option::of(-200_000_000_000_000_000i64..200_000_000_000_000_000),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
        )
    }

    proptest::proptest! {
        #[test]
        fn decoder_round_trips_any_rows_in_any_chunks(
            rows in proptest::collection::vec(row_strategy(), 0..60),
            cuts in proptest::collection::vec(proptest::prelude::any::<usize>(), 0..12),
            batch_rows in 1usize..20,
        ) {
            let buf = encode(&rows);
            let batches = decode(&buf, &cuts, batch_rows).unwrap();
            let total: usize = batches.iter().map(|b| b.num_rows()).sum();
            proptest::prop_assert_eq!(total, rows.len());
            let mut i = 0;
            for b in &batches {
                proptest::prop_assert!(b.num_rows() > 0 && b.num_rows() <= batch_rows);
                let ints = b.column(0).as_any().downcast_ref::<arrow::array::Int64Array>().unwrap();
                let texts = b.column(1).as_any().downcast_ref::<arrow::array::StringArray>().unwrap();
                let floats = b.column(2).as_any().downcast_ref::<arrow::array::Float64Array>().unwrap();
                let bools = b.column(3).as_any().downcast_ref::<arrow::array::BooleanArray>().unwrap();
                let ts = b.column(4).as_any().downcast_ref::<arrow::array::TimestampMicrosecondArray>().unwrap();
                let bytes = b.column(5).as_any().downcast_ref::<arrow::array::BinaryArray>().unwrap();
                for r in 0..b.num_rows() {
                    let want = &rows[i];
                    proptest::prop_assert_eq!(ints.is_valid(r).then(|| ints.value(r)), want.0);
                    proptest::prop_assert_eq!(texts.is_valid(r).then(|| texts.value(r).to_string()), want.1.clone());
                    proptest::prop_assert_eq!(
                        floats.is_valid(r).then(|| floats.value(r).to_bits()),
                        want.2.map(f64::to_bits)
                    );
                    proptest::prop_assert_eq!(bools.is_valid(r).then(|| bools.value(r)), want.3);
                    proptest::prop_assert_eq!(
                        ts.is_valid(r).then(|| ts.value(r)),
                        want.4.map(|t| t + PG_EPOCH_MICROS)
                    );
                    proptest::prop_assert_eq!(bytes.is_valid(r).then(|| bytes.value(r).to_vec()), want.5.clone());
                    i += 1;
                }
            }
        }

        #[test]
        fn truncated_streams_are_errors(
            rows in proptest::collection::vec(row_strategy(), 1..10),
            cut in proptest::prelude::any::<usize>(),
        ) {
            let buf = encode(&rows);
            let end = cut % buf.len();
            proptest::prop_assert!(decode(&buf[..end], &[], 5).is_err());
        }
    }
}
