//! The schema-driven record codec of the classic tunnel (spec §3).
//!
//! [`RecordEncoder`] writes Arrow columns straight to the tunnel stream; [`RecordDecoder`]
//! takes bytes in any chunking (push bytes, pull batches) and fills Arrow arrays.
//! Field numbers are 1 + the index in the column list the codec was built with, so a
//! `columns=` projection is simply a codec over the projected columns.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanArray, BooleanBufferBuilder, BooleanBuilder,
    Date32Builder, Decimal128Builder, Float32Builder, Float64Builder, Int16Builder, Int32Builder,
    Int64Builder, Int8Builder, IntervalYearMonthBuilder, ListArray, MapArray, RecordBatch,
    StringBuilder, StructArray, TimestampMillisecondBuilder, TimestampNanosecondBuilder,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Field, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, Int8Type, IntervalYearMonthType, SchemaRef, TimestampMillisecondType,
    TimestampNanosecondType,
};
use ferry_core::{Error, Result};

use super::crc::{RecordCrc, StreamCrc};
use super::types::{arrow_type, interval_day_time_fields, map_entry_fields, OdpsType};

/// Field number that ends a record.
pub const END_RECORD: u32 = 33_553_408;
/// Field number of the record count in the footer.
pub const META_COUNT: u32 = 33_554_430;
/// Field number of the stream checksum in the footer.
pub const META_CHECKSUM: u32 = 33_554_431;
/// Field number that ends the optional server metrics block.
pub const METRICS_END: u32 = 33_554_176;
/// The per-field byte limit the tunnel announces (`MaxFieldSize`).
pub const MAX_FIELD_SIZE: usize = 8 * 1024 * 1024;

const WT_VARINT: u32 = 0;
const WT_FIXED64: u32 = 1;
const WT_LEN: u32 = 2;
const WT_FIXED32: u32 = 5;

/// Append a varint.
#[inline]
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Zigzag-encode a 64-bit value.
#[inline]
pub fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Zigzag-encode a 32-bit value.
#[inline]
pub fn zigzag32(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

#[inline]
fn unzigzag64(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[inline]
fn put_tag(out: &mut Vec<u8>, field: u32, wire_type: u32) {
    put_varint(out, ((field as u64) << 3) | wire_type as u64);
}

fn wire_type(t: &OdpsType) -> u32 {
    match t {
        OdpsType::Bigint
        | OdpsType::Int
        | OdpsType::Smallint
        | OdpsType::Tinyint
        | OdpsType::Boolean
        | OdpsType::Datetime
        | OdpsType::Date
        | OdpsType::IntervalYearMonth => WT_VARINT,
        OdpsType::Double => WT_FIXED64,
        OdpsType::Float => WT_FIXED32,
        _ => WT_LEN,
    }
}

/// Format a decimal's unscaled value as the plain ASCII text the tunnel carries.
pub fn decimal_to_string(v: i128, scale: i8) -> String {
    if scale <= 0 {
        let mut s = v.to_string();
        for _ in 0..(-scale as usize) {
            if v != 0 {
                s.push('0');
            }
        }
        return s;
    }
    let scale = scale as usize;
    let neg = v < 0;
    let digits = v.unsigned_abs().to_string();
    let (int, frac) = if digits.len() > scale {
        let (a, b) = digits.split_at(digits.len() - scale);
        (a.to_string(), b.to_string())
    } else {
        ("0".to_string(), format!("{digits:0>scale$}"))
    };
    format!("{}{int}.{frac}", if neg { "-" } else { "" })
}

/// Parse decimal text (`-12.34`, `1E+2`, `.5`) to an unscaled value at `scale`,
/// rounding half away from zero when the text has more fraction digits.
pub fn parse_decimal(text: &str, precision: u8, scale: i8) -> std::result::Result<i128, String> {
    let bad = || format!("`{text}` is not a decimal");
    let t = text.trim();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mant, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], t[i + 1..].parse::<i32>().map_err(|_| bad())?),
        None => (t, 0),
    };
    let (int, frac) = match mant.find('.') {
        Some(i) => (&mant[..i], &mant[i + 1..]),
        None => (mant, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return Err(bad());
    }
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    // value = digits * 10^(exp - frac.len()); unscaled = value * 10^scale
    let digits = format!("{int}{frac}");
    let digits = digits.trim_start_matches('0').as_bytes();
    let shift = exp as i64 - frac.len() as i64 + scale as i64;
    let overflow = || format!("`{text}` does not fit decimal({precision},{scale})");
    let (keep, round_up) = if shift >= 0 {
        (digits.len(), false)
    } else if (-shift) as usize > digits.len() {
        (0, false)
    } else {
        let keep = digits.len() - (-shift) as usize;
        (keep, keep < digits.len() && digits[keep] >= b'5')
    };
    let mut v: i128 = 0;
    for &b in &digits[..keep] {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add((b - b'0') as i128))
            .ok_or_else(overflow)?;
    }
    if shift > 0 {
        for _ in 0..shift {
            v = v.checked_mul(10).ok_or_else(overflow)?;
        }
    }
    if round_up {
        v += 1;
    }
    if v >= 10i128.pow(precision as u32) {
        return Err(overflow());
    }
    Ok(if neg { -v } else { v })
}

// ------------------------------------------------------------------------------------------
// Encoder

enum Col<'a> {
    I64(&'a arrow::array::PrimitiveArray<Int64Type>),
    I32(&'a arrow::array::PrimitiveArray<Int32Type>),
    I16(&'a arrow::array::PrimitiveArray<Int16Type>),
    I8(&'a arrow::array::PrimitiveArray<Int8Type>),
    F64(&'a arrow::array::PrimitiveArray<Float64Type>),
    F32(&'a arrow::array::PrimitiveArray<Float32Type>),
    Bool(&'a BooleanArray),
    Str(&'a arrow::array::StringArray),
    Bin(&'a arrow::array::BinaryArray),
    Dec(&'a arrow::array::PrimitiveArray<Decimal128Type>, i8),
    Date(&'a arrow::array::PrimitiveArray<Date32Type>),
    DateTime(&'a arrow::array::PrimitiveArray<TimestampMillisecondType>),
    Ts(&'a arrow::array::PrimitiveArray<TimestampNanosecondType>),
    Ym(&'a arrow::array::PrimitiveArray<IntervalYearMonthType>),
    Nested(&'a dyn Array, &'a OdpsType),
}

/// Encodes Arrow record batches into one tunnel record stream.
#[derive(Debug)]
pub struct RecordEncoder {
    types: Vec<OdpsType>,
    names: Vec<String>,
    tags: Vec<Vec<u8>>,
    crc: RecordCrc,
    stream: StreamCrc,
    count: u64,
}

impl RecordEncoder {
    /// An encoder for columns `(name, type)`; field numbers are 1 + the index here.
    pub fn new(columns: Vec<(String, OdpsType)>) -> Self {
        let tags = columns
            .iter()
            .enumerate()
            .map(|(i, (_, t))| {
                let mut v = Vec::new();
                put_tag(&mut v, i as u32 + 1, wire_type(t));
                v
            })
            .collect();
        let (names, types) = columns.into_iter().unzip();
        RecordEncoder {
            types,
            names,
            tags,
            crc: RecordCrc::new(),
            stream: StreamCrc::new(),
            count: 0,
        }
    }

    /// Records encoded so far.
    pub fn record_count(&self) -> u64 {
        self.count
    }

    /// Append the records of `batch` (columns in the encoder's order; other Arrow types
    /// are cast to the mapped type first) to `out`.
    pub fn encode_batch(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<()> {
        if batch.num_columns() != self.types.len() {
            return Err(Error::schema(format!(
                "record encoder: batch has {} columns, the table has {}",
                batch.num_columns(),
                self.types.len()
            )));
        }
        let mut casted: Vec<ArrayRef> = Vec::with_capacity(self.types.len());
        for (i, t) in self.types.iter().enumerate() {
            let want = arrow_type(t);
            let col = batch.column(i);
            if col.data_type() == &want {
                casted.push(col.clone());
            } else {
                casted.push(arrow::compute::cast(col, &want).map_err(|e| {
                    Error::schema(format!(
                        "column {}: cannot write Arrow {} as ODPS {t}: {e}",
                        self.names[i],
                        col.data_type()
                    ))
                })?);
            }
        }
        let cols: Vec<Col<'_>> = casted
            .iter()
            .zip(&self.types)
            .map(|(a, t)| match t {
                OdpsType::Bigint => Col::I64(a.as_primitive()),
                OdpsType::Int => Col::I32(a.as_primitive()),
                OdpsType::Smallint => Col::I16(a.as_primitive()),
                OdpsType::Tinyint => Col::I8(a.as_primitive()),
                OdpsType::Double => Col::F64(a.as_primitive()),
                OdpsType::Float => Col::F32(a.as_primitive()),
                OdpsType::Boolean => Col::Bool(a.as_boolean()),
                OdpsType::String | OdpsType::Varchar(_) | OdpsType::Char(_) | OdpsType::Json => {
                    Col::Str(a.as_string())
                }
                OdpsType::Binary => Col::Bin(a.as_binary()),
                OdpsType::Decimal { scale, .. } => Col::Dec(a.as_primitive(), *scale),
                OdpsType::Date => Col::Date(a.as_primitive()),
                OdpsType::Datetime => Col::DateTime(a.as_primitive()),
                OdpsType::Timestamp | OdpsType::TimestampNtz => Col::Ts(a.as_primitive()),
                OdpsType::IntervalYearMonth => Col::Ym(a.as_primitive()),
                _ => Col::Nested(a.as_ref(), t),
            })
            .collect();
        out.reserve(batch.num_rows() * (8 + 4 * cols.len()));
        for row in 0..batch.num_rows() {
            self.crc.reset();
            for (ci, col) in cols.iter().enumerate() {
                let present = match col {
                    Col::I64(a) => a.is_valid(row),
                    Col::I32(a) => a.is_valid(row),
                    Col::I16(a) => a.is_valid(row),
                    Col::I8(a) => a.is_valid(row),
                    Col::F64(a) => a.is_valid(row),
                    Col::F32(a) => a.is_valid(row),
                    Col::Bool(a) => a.is_valid(row),
                    Col::Str(a) => a.is_valid(row),
                    Col::Bin(a) => a.is_valid(row),
                    Col::Dec(a, _) => a.is_valid(row),
                    Col::Date(a) => a.is_valid(row),
                    Col::DateTime(a) => a.is_valid(row),
                    Col::Ts(a) => a.is_valid(row),
                    Col::Ym(a) => a.is_valid(row),
                    Col::Nested(a, _) => a.is_valid(row),
                };
                if !present {
                    continue;
                }
                self.crc.update_col(ci as u32 + 1);
                out.extend_from_slice(&self.tags[ci]);
                let crc = &mut self.crc;
                match col {
                    Col::I64(a) => put_long(out, crc, a.value(row)),
                    Col::I32(a) => put_long(out, crc, a.value(row) as i64),
                    Col::I16(a) => put_long(out, crc, a.value(row) as i64),
                    Col::I8(a) => put_long(out, crc, a.value(row) as i64),
                    Col::Date(a) => put_long(out, crc, a.value(row) as i64),
                    Col::DateTime(a) => put_long(out, crc, a.value(row)),
                    Col::Ym(a) => put_long(out, crc, a.value(row) as i64),
                    Col::F64(a) => {
                        let v = a.value(row);
                        crc.update_f64(v);
                        out.extend_from_slice(&v.to_le_bytes());
                    }
                    Col::F32(a) => {
                        let v = a.value(row);
                        crc.update_f32(v);
                        out.extend_from_slice(&v.to_le_bytes());
                    }
                    Col::Bool(a) => {
                        let v = a.value(row);
                        crc.update_bool(v);
                        out.push(v as u8);
                    }
                    Col::Str(a) => put_bytes(out, crc, a.value(row).as_bytes()),
                    Col::Bin(a) => put_bytes(out, crc, a.value(row)),
                    Col::Dec(a, s) => {
                        put_bytes(out, crc, decimal_to_string(a.value(row), *s).as_bytes())
                    }
                    Col::Ts(a) => put_ts(out, crc, a.value(row)),
                    Col::Nested(a, t) => write_nested(t, *a, row, out, crc)?,
                }
            }
            let c = self.crc.value();
            put_tag(out, END_RECORD, WT_VARINT);
            put_varint(out, c as u64);
            self.stream.update(c);
            self.count += 1;
        }
        Ok(())
    }

    /// Append the footer with a metrics block (tunnel protocol version 6): the record
    /// count, the metrics JSON as field 1, `METRICS_END` with the checksum of (field
    /// number, JSON), then the stream checksum.
    pub fn finish_with_metrics(&mut self, out: &mut Vec<u8>, metrics_json: &str) {
        put_tag(out, META_COUNT, WT_VARINT);
        put_varint(out, zigzag64(self.count as i64));
        let mut crc = RecordCrc::new();
        crc.update_col(1);
        crc.update_bytes(metrics_json.as_bytes());
        put_tag(out, 1, WT_LEN);
        put_varint(out, metrics_json.len() as u64);
        out.extend_from_slice(metrics_json.as_bytes());
        put_tag(out, METRICS_END, WT_VARINT);
        put_varint(out, crc.value() as u64);
        put_tag(out, META_CHECKSUM, WT_VARINT);
        put_varint(out, self.stream.value() as u64);
    }

    /// Append the footer (record count and stream checksum) to `out`.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        put_tag(out, META_COUNT, WT_VARINT);
        put_varint(out, zigzag64(self.count as i64));
        put_tag(out, META_CHECKSUM, WT_VARINT);
        put_varint(out, self.stream.value() as u64);
    }
}

#[inline]
fn put_long(out: &mut Vec<u8>, crc: &mut RecordCrc, v: i64) {
    crc.update_i64(v);
    put_varint(out, zigzag64(v));
}

#[inline]
fn put_bytes(out: &mut Vec<u8>, crc: &mut RecordCrc, v: &[u8]) {
    crc.update_bytes(v);
    put_varint(out, v.len() as u64);
    out.extend_from_slice(v);
}

#[inline]
fn put_sec_nano(out: &mut Vec<u8>, crc: &mut RecordCrc, sec: i64, nano: i32) {
    crc.update_i64(sec);
    crc.update_i32(nano);
    put_varint(out, zigzag64(sec));
    put_varint(out, zigzag32(nano) as u64);
}

#[inline]
fn put_ts(out: &mut Vec<u8>, crc: &mut RecordCrc, ns: i64) {
    put_sec_nano(
        out,
        crc,
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000) as i32,
    );
}

fn write_nested(
    t: &OdpsType,
    a: &dyn Array,
    i: usize,
    out: &mut Vec<u8>,
    crc: &mut RecordCrc,
) -> Result<()> {
    match t {
        OdpsType::Bigint => put_long(out, crc, a.as_primitive::<Int64Type>().value(i)),
        OdpsType::Int => put_long(out, crc, a.as_primitive::<Int32Type>().value(i) as i64),
        OdpsType::Smallint => put_long(out, crc, a.as_primitive::<Int16Type>().value(i) as i64),
        OdpsType::Tinyint => put_long(out, crc, a.as_primitive::<Int8Type>().value(i) as i64),
        OdpsType::Date => put_long(out, crc, a.as_primitive::<Date32Type>().value(i) as i64),
        OdpsType::Datetime => put_long(
            out,
            crc,
            a.as_primitive::<TimestampMillisecondType>().value(i),
        ),
        OdpsType::IntervalYearMonth => put_long(
            out,
            crc,
            a.as_primitive::<IntervalYearMonthType>().value(i) as i64,
        ),
        OdpsType::Double => {
            let v = a.as_primitive::<Float64Type>().value(i);
            crc.update_f64(v);
            out.extend_from_slice(&v.to_le_bytes());
        }
        OdpsType::Float => {
            let v = a.as_primitive::<Float32Type>().value(i);
            crc.update_f32(v);
            out.extend_from_slice(&v.to_le_bytes());
        }
        OdpsType::Boolean => {
            let v = a.as_boolean().value(i);
            crc.update_bool(v);
            out.push(v as u8);
        }
        OdpsType::String | OdpsType::Varchar(_) | OdpsType::Char(_) | OdpsType::Json => {
            put_bytes(out, crc, a.as_string::<i32>().value(i).as_bytes())
        }
        OdpsType::Binary => put_bytes(out, crc, a.as_binary::<i32>().value(i)),
        OdpsType::Decimal { scale, .. } => put_bytes(
            out,
            crc,
            decimal_to_string(a.as_primitive::<Decimal128Type>().value(i), *scale).as_bytes(),
        ),
        OdpsType::Timestamp | OdpsType::TimestampNtz => put_ts(
            out,
            crc,
            a.as_primitive::<TimestampNanosecondType>().value(i),
        ),
        OdpsType::IntervalDayTime => {
            let s = a.as_struct();
            let sec = s.column(0).as_primitive::<Int64Type>().value(i);
            let nano = s.column(1).as_primitive::<Int32Type>().value(i);
            put_sec_nano(out, crc, sec, nano);
        }
        OdpsType::Array(et) => {
            let l = a.as_list::<i32>();
            let vals = l.value(i);
            write_elements(et, vals.as_ref(), out, crc)?;
        }
        OdpsType::Map(kt, vt) => {
            let m = a.as_map();
            let entries = m.value(i);
            write_elements(kt, entries.column(0).as_ref(), out, crc)?;
            write_elements(vt, entries.column(1).as_ref(), out, crc)?;
        }
        OdpsType::Struct(fields) => {
            let s = a.as_struct();
            for (fi, (_, ft)) in fields.iter().enumerate() {
                let c = s.column(fi);
                if c.is_valid(i) {
                    out.push(0);
                    write_nested(ft, c.as_ref(), i, out, crc)?;
                } else {
                    out.push(1);
                }
            }
        }
    }
    Ok(())
}

fn write_elements(
    t: &OdpsType,
    vals: &dyn Array,
    out: &mut Vec<u8>,
    crc: &mut RecordCrc,
) -> Result<()> {
    put_varint(out, vals.len() as u64);
    for j in 0..vals.len() {
        if vals.is_valid(j) {
            out.push(0);
            write_nested(t, vals, j, out, crc)?;
        } else {
            out.push(1);
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Decoder

/// Options of [`RecordDecoder`].
#[derive(Debug, Clone)]
pub struct DecoderOptions {
    /// Rows per produced batch.
    pub batch_rows: usize,
    /// Fail when the stream ends without the footer (pyodps tolerates it by default).
    pub require_footer: bool,
    /// Largest string/binary/decimal value accepted, in bytes.
    pub max_field_size: usize,
}

impl Default for DecoderOptions {
    fn default() -> Self {
        DecoderOptions {
            batch_rows: 8192,
            require_footer: false,
            max_field_size: usize::MAX,
        }
    }
}

/// A decoded nested value (array, map, struct and interval_day_time cells).
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Bool(bool),
    Long(i64),
    F64(f64),
    F32(f32),
    Bytes(Vec<u8>),
    Dec(i128),
    SecNano(i64, i32),
    List(Vec<Value>),
    Map(Vec<Value>, Vec<Value>),
    Struct(Vec<Value>),
}

enum Stop {
    More,
    Bad(String),
}

type P<T> = std::result::Result<T, Stop>;

struct Cur<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Cur<'_> {
    #[inline]
    fn varint(&mut self) -> P<u64> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos + i) else {
                return Err(Stop::More);
            };
            v |= ((b & 0x7f) as u64) << (7 * i);
            if b < 0x80 {
                self.pos += i + 1;
                return Ok(v);
            }
        }
        Err(Stop::Bad("varint longer than 10 bytes".into()))
    }
    #[inline]
    fn take(&mut self, n: usize) -> P<&[u8]> {
        if self.buf.len() - self.pos < n {
            return Err(Stop::More);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
}

#[derive(Debug)]
enum ColBuilder {
    I64(Int64Builder),
    I32(Int32Builder),
    I16(Int16Builder),
    I8(Int8Builder),
    F64(Float64Builder),
    F32(Float32Builder),
    Bool(BooleanBuilder),
    Str(StringBuilder),
    Bin(BinaryBuilder),
    Dec(Decimal128Builder),
    Date(Date32Builder),
    DateTime(TimestampMillisecondBuilder),
    Ts(TimestampNanosecondBuilder),
    Ym(IntervalYearMonthBuilder),
    Nested(Vec<Value>),
}

fn new_builder(t: &OdpsType, cap: usize) -> ColBuilder {
    match t {
        OdpsType::Bigint => ColBuilder::I64(Int64Builder::with_capacity(cap)),
        OdpsType::Int => ColBuilder::I32(Int32Builder::with_capacity(cap)),
        OdpsType::Smallint => ColBuilder::I16(Int16Builder::with_capacity(cap)),
        OdpsType::Tinyint => ColBuilder::I8(Int8Builder::with_capacity(cap)),
        OdpsType::Double => ColBuilder::F64(Float64Builder::with_capacity(cap)),
        OdpsType::Float => ColBuilder::F32(Float32Builder::with_capacity(cap)),
        OdpsType::Boolean => ColBuilder::Bool(BooleanBuilder::with_capacity(cap)),
        OdpsType::String | OdpsType::Varchar(_) | OdpsType::Char(_) | OdpsType::Json => {
            ColBuilder::Str(StringBuilder::with_capacity(cap, cap * 8))
        }
        OdpsType::Binary => ColBuilder::Bin(BinaryBuilder::with_capacity(cap, cap * 8)),
        OdpsType::Decimal { precision, scale } => ColBuilder::Dec(
            Decimal128Builder::with_capacity(cap)
                .with_data_type(DataType::Decimal128(*precision, *scale)),
        ),
        OdpsType::Date => ColBuilder::Date(Date32Builder::with_capacity(cap)),
        OdpsType::Datetime => ColBuilder::DateTime(TimestampMillisecondBuilder::with_capacity(cap)),
        OdpsType::Timestamp | OdpsType::TimestampNtz => {
            ColBuilder::Ts(TimestampNanosecondBuilder::with_capacity(cap))
        }
        OdpsType::IntervalYearMonth => ColBuilder::Ym(IntervalYearMonthBuilder::with_capacity(cap)),
        _ => ColBuilder::Nested(Vec::with_capacity(cap)),
    }
}

#[derive(Debug, Clone)]
struct Span {
    start: usize,
    end: usize,
    a: i64,
    b: i32,
    nested: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Records,
    Done,
}

/// Streaming decoder of a tunnel record stream into Arrow batches.
///
/// Feed bytes with [`push`](Self::push) in any chunking, take full batches with
/// [`next_batch`](Self::next_batch), and call [`finish`](Self::finish) at end of input.
#[derive(Debug)]
pub struct RecordDecoder {
    schema: SchemaRef,
    types: Vec<OdpsType>,
    opts: DecoderOptions,
    buf: Vec<u8>,
    pos: usize,
    builders: Vec<ColBuilder>,
    rows: usize,
    ready: VecDeque<RecordBatch>,
    crc: RecordCrc,
    stream: StreamCrc,
    records: u64,
    spans: Vec<Option<Span>>,
    state: State,
}

impl RecordDecoder {
    /// A decoder for the columns `(name, type)` (field numbers 1 + index).
    pub fn new(columns: &[(String, OdpsType)], opts: DecoderOptions) -> Self {
        let schema = Arc::new(arrow::datatypes::Schema::new(
            columns
                .iter()
                .map(|(n, t)| Field::new(n, arrow_type(t), true))
                .collect::<Vec<_>>(),
        ));
        let types: Vec<OdpsType> = columns.iter().map(|(_, t)| t.clone()).collect();
        let builders = types
            .iter()
            .map(|t| new_builder(t, opts.batch_rows))
            .collect();
        RecordDecoder {
            schema,
            spans: vec![None; types.len()],
            types,
            opts,
            buf: Vec::new(),
            pos: 0,
            builders,
            rows: 0,
            ready: VecDeque::new(),
            crc: RecordCrc::new(),
            stream: StreamCrc::new(),
            records: 0,
            state: State::Records,
        }
    }

    /// The Arrow schema of the produced batches.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Records decoded so far.
    pub fn record_count(&self) -> u64 {
        self.records
    }

    /// Whether the footer has been read.
    pub fn footer_seen(&self) -> bool {
        self.state == State::Done
    }

    /// Feed the next bytes of the stream.
    pub fn push(&mut self, data: &[u8]) -> Result<()> {
        if self.state == State::Done {
            if data.is_empty() {
                return Ok(());
            }
            return Err(Error::data(format!(
                "record stream: {} bytes after the footer",
                data.len()
            )));
        }
        if self.pos > 0 && self.pos * 2 >= self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
        loop {
            if self.state == State::Done {
                if self.pos < self.buf.len() {
                    return Err(Error::data(format!(
                        "record stream: {} bytes after the footer",
                        self.buf.len() - self.pos
                    )));
                }
                break;
            }
            match self.step() {
                Ok(()) => {}
                Err(Stop::More) => break,
                Err(Stop::Bad(m)) => {
                    return Err(Error::data(format!("record {}: {m}", self.records + 1)))
                }
            }
        }
        Ok(())
    }

    /// A full batch, if one is ready.
    pub fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        Ok(self.ready.pop_front())
    }

    /// End of input: check the stream ended cleanly and return what is left, as batches.
    pub fn finish(&mut self) -> Result<Vec<RecordBatch>> {
        if self.state != State::Done {
            if self.pos < self.buf.len() {
                return Err(Error::data(format!(
                    "record {}: stream truncated ({} bytes of an incomplete record)",
                    self.records + 1,
                    self.buf.len() - self.pos
                )));
            }
            if self.opts.require_footer {
                return Err(Error::data(format!(
                    "record stream ended without its footer after {} records",
                    self.records
                )));
            }
        }
        if self.rows > 0 {
            let b = self.flush().map_err(Error::data)?;
            self.ready.push_back(b);
        }
        Ok(self.ready.drain(..).collect())
    }

    fn step(&mut self) -> P<()> {
        let mut cur = Cur {
            buf: &self.buf,
            pos: self.pos,
        };
        self.crc.reset();
        for s in self.spans.iter_mut() {
            *s = None;
        }
        loop {
            let tag = cur.varint()?;
            let field = (tag >> 3) as u32;
            let wt = (tag & 7) as u32;
            if field == 0 {
                continue;
            }
            if field == END_RECORD {
                let got = cur.varint()? as u32;
                let want = self.crc.value();
                if got != want {
                    return Err(Stop::Bad(format!(
                        "checksum mismatch (stream says {got:#010x}, data gives {want:#010x})"
                    )));
                }
                let end = cur.pos;
                self.commit()?;
                self.pos = end;
                self.stream.update(want);
                self.records += 1;
                return Ok(());
            }
            if field == META_COUNT {
                if self.spans.iter().any(Option::is_some) {
                    return Err(Stop::Bad("footer inside a record".into()));
                }
                let count = unzigzag64(cur.varint()?);
                let mut tag = cur.varint()?;
                if (tag >> 3) as u32 != META_CHECKSUM {
                    if tag & 7 != WT_LEN as u64 {
                        return Err(Stop::Bad("invalid footer".into()));
                    }
                    let mut mcrc = RecordCrc::new();
                    mcrc.update_col((tag >> 3) as u32);
                    let len = cur.varint()? as usize;
                    mcrc.update_bytes(cur.take(len)?);
                    let t2 = cur.varint()?;
                    if (t2 >> 3) as u32 != METRICS_END {
                        return Err(Stop::Bad("invalid metrics block in footer".into()));
                    }
                    if cur.varint()? as u32 != mcrc.value() {
                        return Err(Stop::Bad("metrics block checksum mismatch".into()));
                    }
                    tag = cur.varint()?;
                }
                if (tag >> 3) as u32 != META_CHECKSUM {
                    return Err(Stop::Bad("invalid footer".into()));
                }
                let got = cur.varint()? as u32;
                if count != self.records as i64 {
                    return Err(Stop::Bad(format!(
                        "footer says {count} records, the stream had {}",
                        self.records
                    )));
                }
                if got != self.stream.value() {
                    return Err(Stop::Bad(format!(
                        "stream checksum mismatch (stream says {got:#010x}, data gives {:#010x})",
                        self.stream.value()
                    )));
                }
                self.pos = cur.pos;
                self.state = State::Done;
                return Ok(());
            }
            let ci = field as usize - 1;
            let Some(t) = self.types.get(ci) else {
                return Err(Stop::Bad(format!(
                    "field number {field} but only {} columns",
                    self.types.len()
                )));
            };
            if wt != wire_type(t) {
                return Err(Stop::Bad(format!(
                    "column {}: wire type {wt} does not match ODPS type {t}",
                    self.schema.field(ci).name()
                )));
            }
            if self.spans[ci].is_some() {
                return Err(Stop::Bad(format!(
                    "column {} appears twice",
                    self.schema.field(ci).name()
                )));
            }
            self.crc.update_col(field);
            let span = scan_top(t, &mut cur, &mut self.crc, self.opts.max_field_size).map_err(
                |e| match e {
                    Stop::Bad(m) => {
                        Stop::Bad(format!("column {}: {m}", self.schema.field(ci).name()))
                    }
                    more => more,
                },
            )?;
            self.spans[ci] = Some(span);
        }
    }

    fn commit(&mut self) -> P<()> {
        for (ci, b) in self.builders.iter_mut().enumerate() {
            let span = self.spans[ci].take();
            let name = || self.schema.field(ci).name().clone();
            match (b, span) {
                (ColBuilder::I64(b), s) => b.append_option(s.map(|s| s.a)),
                (ColBuilder::I32(b), s) => b.append_option(s.map(|s| s.a as i32)),
                (ColBuilder::I16(b), s) => b.append_option(s.map(|s| s.a as i16)),
                (ColBuilder::I8(b), s) => b.append_option(s.map(|s| s.a as i8)),
                (ColBuilder::F64(b), s) => b.append_option(s.map(|s| f64::from_bits(s.a as u64))),
                (ColBuilder::F32(b), s) => b.append_option(s.map(|s| f32::from_bits(s.a as u32))),
                (ColBuilder::Bool(b), s) => b.append_option(s.map(|s| s.a != 0)),
                (ColBuilder::Date(b), s) => b.append_option(s.map(|s| s.a as i32)),
                (ColBuilder::DateTime(b), s) => b.append_option(s.map(|s| s.a)),
                (ColBuilder::Ym(b), s) => b.append_option(s.map(|s| s.a as i32)),
                (ColBuilder::Ts(b), s) => {
                    b.append_option(s.map(|s| s.a.wrapping_mul(1_000_000_000) + s.b as i64))
                }
                (ColBuilder::Str(b), Some(s)) => {
                    let v = std::str::from_utf8(&self.buf[s.start..s.end])
                        .map_err(|_| Stop::Bad(format!("column {}: invalid UTF-8", name())))?;
                    b.append_value(v)
                }
                (ColBuilder::Str(b), None) => b.append_null(),
                (ColBuilder::Bin(b), Some(s)) => b.append_value(&self.buf[s.start..s.end]),
                (ColBuilder::Bin(b), None) => b.append_null(),
                (ColBuilder::Dec(b), Some(s)) => {
                    let OdpsType::Decimal { precision, scale } = self.types[ci] else {
                        return Err(Stop::Bad("decimal builder on a non-decimal".into()));
                    };
                    let text = String::from_utf8_lossy(&self.buf[s.start..s.end]);
                    let v = parse_decimal(&text, precision, scale)
                        .map_err(|m| Stop::Bad(format!("column {}: {m}", name())))?;
                    b.append_value(v)
                }
                (ColBuilder::Dec(b), None) => b.append_null(),
                (ColBuilder::Nested(v), s) => {
                    v.push(s.and_then(|s| s.nested).unwrap_or(Value::Null))
                }
            }
        }
        self.rows += 1;
        if self.rows >= self.opts.batch_rows {
            let b = self.flush().map_err(Stop::Bad)?;
            self.ready.push_back(b);
        }
        Ok(())
    }

    fn flush(&mut self) -> std::result::Result<RecordBatch, String> {
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(self.builders.len());
        for (ci, b) in self.builders.iter_mut().enumerate() {
            let a: ArrayRef = match b {
                ColBuilder::I64(b) => Arc::new(b.finish()),
                ColBuilder::I32(b) => Arc::new(b.finish()),
                ColBuilder::I16(b) => Arc::new(b.finish()),
                ColBuilder::I8(b) => Arc::new(b.finish()),
                ColBuilder::F64(b) => Arc::new(b.finish()),
                ColBuilder::F32(b) => Arc::new(b.finish()),
                ColBuilder::Bool(b) => Arc::new(b.finish()),
                ColBuilder::Str(b) => Arc::new(b.finish()),
                ColBuilder::Bin(b) => Arc::new(b.finish()),
                ColBuilder::Dec(b) => Arc::new(b.finish()),
                ColBuilder::Date(b) => Arc::new(b.finish()),
                ColBuilder::DateTime(b) => Arc::new(b.finish()),
                ColBuilder::Ts(b) => Arc::new(b.finish()),
                ColBuilder::Ym(b) => Arc::new(b.finish()),
                ColBuilder::Nested(v) => {
                    let vals = std::mem::take(v);
                    build_array(&self.types[ci], &vals)
                        .map_err(|m| format!("column {}: {m}", self.schema.field(ci).name()))?
                }
            };
            cols.push(a);
        }
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), cols).map_err(|e| e.to_string())
    }
}

fn check_len(len: u64, max: usize) -> P<usize> {
    if len > max as u64 {
        return Err(Stop::Bad(format!(
            "value of {len} bytes is over the {max}-byte field limit"
        )));
    }
    Ok(len as usize)
}

fn scan_top(t: &OdpsType, cur: &mut Cur<'_>, crc: &mut RecordCrc, max: usize) -> P<Span> {
    let mut span = Span {
        start: 0,
        end: 0,
        a: 0,
        b: 0,
        nested: None,
    };
    match t {
        OdpsType::Bigint
        | OdpsType::Int
        | OdpsType::Smallint
        | OdpsType::Tinyint
        | OdpsType::Datetime
        | OdpsType::Date
        | OdpsType::IntervalYearMonth => {
            let v = unzigzag64(cur.varint()?);
            crc.update_i64(v);
            span.a = v;
        }
        OdpsType::Boolean => {
            let v = cur.varint()? != 0;
            crc.update_bool(v);
            span.a = v as i64;
        }
        OdpsType::Double => {
            let b = cur.take(8)?;
            crc.update_bytes(b);
            span.a = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as i64;
        }
        OdpsType::Float => {
            let b = cur.take(4)?;
            crc.update_bytes(b);
            span.a = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64;
        }
        OdpsType::String
        | OdpsType::Varchar(_)
        | OdpsType::Char(_)
        | OdpsType::Json
        | OdpsType::Binary
        | OdpsType::Decimal { .. } => {
            let len = check_len(cur.varint()?, max)?;
            let start = cur.pos;
            crc.update_bytes(cur.take(len)?);
            span.start = start;
            span.end = start + len;
        }
        OdpsType::Timestamp | OdpsType::TimestampNtz => {
            let sec = unzigzag64(cur.varint()?);
            let nano = unzigzag64(cur.varint()?) as i32;
            crc.update_i64(sec);
            crc.update_i32(nano);
            span.a = sec;
            span.b = nano;
        }
        _ => span.nested = Some(read_value(t, cur, crc, max)?),
    }
    Ok(span)
}

fn read_value(t: &OdpsType, cur: &mut Cur<'_>, crc: &mut RecordCrc, max: usize) -> P<Value> {
    Ok(match t {
        OdpsType::Bigint
        | OdpsType::Int
        | OdpsType::Smallint
        | OdpsType::Tinyint
        | OdpsType::Datetime
        | OdpsType::Date
        | OdpsType::IntervalYearMonth => {
            let v = unzigzag64(cur.varint()?);
            crc.update_i64(v);
            Value::Long(v)
        }
        OdpsType::Boolean => {
            let v = cur.varint()? != 0;
            crc.update_bool(v);
            Value::Bool(v)
        }
        OdpsType::Double => {
            let b = cur.take(8)?;
            crc.update_bytes(b);
            Value::F64(f64::from_le_bytes([
                b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
            ]))
        }
        OdpsType::Float => {
            let b = cur.take(4)?;
            crc.update_bytes(b);
            Value::F32(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        }
        OdpsType::String
        | OdpsType::Varchar(_)
        | OdpsType::Char(_)
        | OdpsType::Json
        | OdpsType::Binary => {
            let len = check_len(cur.varint()?, max)?;
            let b = cur.take(len)?;
            crc.update_bytes(b);
            Value::Bytes(b.to_vec())
        }
        OdpsType::Decimal { precision, scale } => {
            let len = check_len(cur.varint()?, max)?;
            let b = cur.take(len)?;
            crc.update_bytes(b);
            let text = String::from_utf8_lossy(b);
            Value::Dec(parse_decimal(&text, *precision, *scale).map_err(Stop::Bad)?)
        }
        OdpsType::Timestamp | OdpsType::TimestampNtz | OdpsType::IntervalDayTime => {
            let sec = unzigzag64(cur.varint()?);
            let nano = unzigzag64(cur.varint()?) as i32;
            crc.update_i64(sec);
            crc.update_i32(nano);
            Value::SecNano(sec, nano)
        }
        OdpsType::Array(et) => Value::List(read_elements(et, cur, crc, max)?),
        OdpsType::Map(kt, vt) => {
            let k = read_elements(kt, cur, crc, max)?;
            let v = read_elements(vt, cur, crc, max)?;
            if k.len() != v.len() {
                return Err(Stop::Bad(format!(
                    "map with {} keys and {} values",
                    k.len(),
                    v.len()
                )));
            }
            Value::Map(k, v)
        }
        OdpsType::Struct(fields) => {
            let mut out = Vec::with_capacity(fields.len());
            for (_, ft) in fields {
                if cur.varint()? != 0 {
                    out.push(Value::Null);
                } else {
                    out.push(read_value(ft, cur, crc, max)?);
                }
            }
            Value::Struct(out)
        }
    })
}

fn read_elements(
    t: &OdpsType,
    cur: &mut Cur<'_>,
    crc: &mut RecordCrc,
    max: usize,
) -> P<Vec<Value>> {
    let n = cur.varint()?;
    if n > (cur.buf.len() - cur.pos) as u64 {
        // every element takes at least its null flag byte
        return Err(Stop::More);
    }
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        if cur.varint()? != 0 {
            out.push(Value::Null);
        } else {
            out.push(read_value(t, cur, crc, max)?);
        }
    }
    Ok(out)
}

fn nulls_of(vals: &[Value]) -> Option<NullBuffer> {
    if vals.iter().any(|v| matches!(v, Value::Null)) {
        let mut b = BooleanBufferBuilder::new(vals.len());
        for v in vals {
            b.append(!matches!(v, Value::Null));
        }
        Some(NullBuffer::new(b.finish()))
    } else {
        None
    }
}

fn build_array(t: &OdpsType, vals: &[Value]) -> std::result::Result<ArrayRef, String> {
    macro_rules! prim {
        ($builder:ty, $pat:pat => $e:expr) => {{
            let mut b = <$builder>::with_capacity(vals.len());
            for v in vals {
                match v {
                    $pat => b.append_value($e),
                    _ => b.append_null(),
                }
            }
            Arc::new(b.finish()) as ArrayRef
        }};
    }
    Ok(match t {
        OdpsType::Bigint => prim!(Int64Builder, Value::Long(x) => *x),
        OdpsType::Int => prim!(Int32Builder, Value::Long(x) => *x as i32),
        OdpsType::Smallint => prim!(Int16Builder, Value::Long(x) => *x as i16),
        OdpsType::Tinyint => prim!(Int8Builder, Value::Long(x) => *x as i8),
        OdpsType::Date => prim!(Date32Builder, Value::Long(x) => *x as i32),
        OdpsType::Datetime => prim!(TimestampMillisecondBuilder, Value::Long(x) => *x),
        OdpsType::IntervalYearMonth => prim!(IntervalYearMonthBuilder, Value::Long(x) => *x as i32),
        OdpsType::Double => prim!(Float64Builder, Value::F64(x) => *x),
        OdpsType::Float => prim!(Float32Builder, Value::F32(x) => *x),
        OdpsType::Boolean => prim!(BooleanBuilder, Value::Bool(x) => *x),
        OdpsType::Timestamp | OdpsType::TimestampNtz => prim!(
            TimestampNanosecondBuilder,
            Value::SecNano(s, n) => s.wrapping_mul(1_000_000_000) + *n as i64
        ),
        OdpsType::Decimal { precision, scale } => {
            let mut b = Decimal128Builder::with_capacity(vals.len())
                .with_data_type(DataType::Decimal128(*precision, *scale));
            for v in vals {
                match v {
                    Value::Dec(x) => b.append_value(*x),
                    _ => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
        OdpsType::String | OdpsType::Varchar(_) | OdpsType::Char(_) | OdpsType::Json => {
            let mut b = StringBuilder::new();
            for v in vals {
                match v {
                    Value::Bytes(x) => b.append_value(
                        std::str::from_utf8(x).map_err(|_| "invalid UTF-8".to_string())?,
                    ),
                    _ => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
        OdpsType::Binary => {
            let mut b = BinaryBuilder::new();
            for v in vals {
                match v {
                    Value::Bytes(x) => b.append_value(x),
                    _ => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
        OdpsType::IntervalDayTime => {
            let mut sec = Int64Builder::with_capacity(vals.len());
            let mut nano = Int32Builder::with_capacity(vals.len());
            for v in vals {
                match v {
                    Value::SecNano(s, n) => {
                        sec.append_value(*s);
                        nano.append_value(*n);
                    }
                    _ => {
                        sec.append_null();
                        nano.append_null();
                    }
                }
            }
            Arc::new(
                StructArray::try_new(
                    interval_day_time_fields(),
                    vec![Arc::new(sec.finish()), Arc::new(nano.finish())],
                    nulls_of(vals),
                )
                .map_err(|e| e.to_string())?,
            )
        }
        OdpsType::Array(et) => {
            let mut child = Vec::new();
            let mut lens = Vec::with_capacity(vals.len());
            for v in vals {
                match v {
                    Value::List(items) => {
                        lens.push(items.len());
                        child.extend(items.iter().cloned());
                    }
                    _ => lens.push(0),
                }
            }
            let DataType::List(field) = arrow_type(t) else {
                return Err("array type maps to a list".into());
            };
            Arc::new(
                ListArray::try_new(
                    field,
                    OffsetBuffer::from_lengths(lens),
                    build_array(et, &child)?,
                    nulls_of(vals),
                )
                .map_err(|e| e.to_string())?,
            )
        }
        OdpsType::Map(kt, vt) => {
            let mut keys = Vec::new();
            let mut values = Vec::new();
            let mut lens = Vec::with_capacity(vals.len());
            for v in vals {
                match v {
                    Value::Map(k, vv) => {
                        lens.push(k.len());
                        keys.extend(k.iter().cloned());
                        values.extend(vv.iter().cloned());
                    }
                    _ => lens.push(0),
                }
            }
            if keys.iter().any(|k| matches!(k, Value::Null)) {
                return Err("map with a NULL key".into());
            }
            let DataType::Map(field, _) = arrow_type(t) else {
                return Err("map type maps to a map".into());
            };
            let entries = StructArray::try_new(
                map_entry_fields(kt, vt),
                vec![build_array(kt, &keys)?, build_array(vt, &values)?],
                None,
            )
            .map_err(|e| e.to_string())?;
            Arc::new(
                MapArray::try_new(
                    field,
                    OffsetBuffer::from_lengths(lens),
                    entries,
                    nulls_of(vals),
                    false,
                )
                .map_err(|e| e.to_string())?,
            )
        }
        OdpsType::Struct(fields) => {
            let mut children = Vec::with_capacity(fields.len());
            for (fi, (_, ft)) in fields.iter().enumerate() {
                let col: Vec<Value> = vals
                    .iter()
                    .map(|v| match v {
                        Value::Struct(f) => f.get(fi).cloned().unwrap_or(Value::Null),
                        _ => Value::Null,
                    })
                    .collect();
                children.push(build_array(ft, &col)?);
            }
            let DataType::Struct(afields) = arrow_type(t) else {
                return Err("struct type maps to a struct".into());
            };
            Arc::new(
                StructArray::try_new(afields, children, nulls_of(vals))
                    .map_err(|e| e.to_string())?,
            )
        }
    })
}

/// Decode a whole record stream held in memory (convenience over [`RecordDecoder`]).
pub fn decode_all(
    columns: &[(String, OdpsType)],
    data: &[u8],
    opts: DecoderOptions,
) -> Result<Vec<RecordBatch>> {
    let mut d = RecordDecoder::new(columns, opts);
    d.push(data)?;
    let mut out = Vec::new();
    while let Some(b) = d.next_batch()? {
        out.push(b);
    }
    out.extend(d.finish()?);
    Ok(out)
}

/// Encode batches into one complete record stream (convenience over [`RecordEncoder`]).
pub fn encode_all(columns: &[(String, OdpsType)], batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let mut e = RecordEncoder::new(columns.to_vec());
    let mut out = Vec::new();
    for b in batches {
        e.encode_batch(b, &mut out)?;
    }
    e.finish(&mut out);
    Ok(out)
}
