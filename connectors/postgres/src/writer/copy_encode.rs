//! Arrow arrays → PostgreSQL binary COPY (`COPY ... FROM STDIN (FORMAT binary)`).
//!
//! The stream is a header, one tuple per row (`int16` field count, then per field an
//! `int32` length, `-1` for NULL, and the type's binary `send` form) and a trailer.
//! [`CopyEncoder`] walks a [`RecordBatch`] row by row over typed column accessors
//! (one `match` per value, no row structs) into a caller-owned `BytesMut`, which the
//! sink flushes to the server in ~1 MiB pieces.
//!
//! What each Arrow type becomes is decided by [`PgWire`], the target column's wire
//! format, resolved once from the catalog (`types.rs` decides the Arrow side):
//!
//! | target | Arrow | binary form |
//! |---|---|---|
//! | bool | Boolean | 1 byte |
//! | int2 / int4 / int8 / oid | Int16 / Int32 / Int64 / UInt32 | big-endian |
//! | float4 / float8 | Float32 / Float64 | IEEE big-endian |
//! | numeric | Decimal128(p,s) or Utf8 (`"12.50"`, `"NaN"`, `"Infinity"`) | base-10000 digits |
//! | text, varchar, bpchar, name, citext, enums, json, xml | Utf8 | UTF-8 bytes |
//! | jsonb | Utf8 | version byte 1 + text |
//! | bytea | Binary | bytes |
//! | date | Date32 | days since 2000-01-01; `i32::MIN` / `i32::MAX` = `-infinity` / `infinity` |
//! | time | Time64(µs) | µs since midnight |
//! | timetz | Utf8 (`"10:11:12.5+02"`) | µs + zone offset |
//! | timestamp / timestamptz | Timestamp(any unit, any tz) | µs since 2000-01-01 UTC; `i64::MIN` / `i64::MAX` = `∓infinity` |
//! | interval | Interval(MonthDayNano) | µs, days, months (sub-µs nanoseconds are truncated) |
//! | uuid | Utf8 (canonical text) or FixedSizeBinary(16) | 16 bytes |
//! | inet / cidr | Utf8 (`"10.0.0.1/8"`) | family, bits, is_cidr, address |
//! | macaddr / macaddr8 | Utf8 | 6 / 8 bytes |
//! | bit / varbit | Utf8 (`"0101"`) | bit count + packed bits |
//! | money | Utf8 (`"12.34"`, `"-$1,234.56"`) or Decimal128 | int64 cents |
//! | 1-D arrays | List of the element's Arrow type | array header + elements |

use std::net::IpAddr;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, Decimal128Array,
    FixedSizeBinaryArray, Float32Array, Float64Array, Int16Array, Int32Array, Int64Array,
    IntervalMonthDayNanoArray, LargeStringArray, ListArray, StringArray, Time64MicrosecondArray,
    UInt32Array,
};
use arrow::datatypes::{
    DataType, IntervalUnit, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use arrow::record_batch::RecordBatch;
use bytes::{BufMut, BytesMut};

use ferry_core::{Error, Result};

use crate::types::{PgColumn, PgScalar};

/// The 11-byte signature, flags and header-extension length that start every binary COPY.
pub const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The trailer: a field count of -1.
pub const COPY_TRAILER: &[u8] = &[0xff, 0xff];

/// Microseconds between 1970-01-01 and 2000-01-01 (PostgreSQL's epoch).
const PG_EPOCH_US: i64 = 946_684_800_000_000;
/// Days between 1970-01-01 and 2000-01-01.
const PG_EPOCH_DAYS: i32 = 10_957;

/// The binary wire format of a target column (after resolving domains).
#[derive(Debug, Clone, PartialEq)]
pub enum PgWire {
    /// bool
    Bool,
    /// int2
    Int2,
    /// int4
    Int4,
    /// int8
    Int8,
    /// oid
    Oid,
    /// float4
    Float4,
    /// float8
    Float8,
    /// numeric
    Numeric,
    /// text and everything whose binary form is its UTF-8 text (varchar, bpchar, name,
    /// citext, enums, json, xml).
    Text,
    /// jsonb (version byte + text)
    Jsonb,
    /// bytea
    Bytea,
    /// date
    Date,
    /// time
    Time,
    /// timetz
    TimeTz,
    /// timestamp
    Timestamp,
    /// timestamptz
    TimestampTz,
    /// interval
    Interval,
    /// uuid
    Uuid,
    /// inet / cidr
    Inet,
    /// macaddr / macaddr8 (6 or 8 bytes, as the text has)
    MacAddr,
    /// `"char"` (one byte)
    Char,
    /// bit / varbit
    Bit,
    /// money (cents, assuming two fractional digits as in the C / en_US monetary locales)
    Money,
    /// A one-dimensional array of `elem`, whose type oid is `elem_oid`.
    Array {
        /// Element wire format.
        elem: Box<PgWire>,
        /// Element type oid (written in the array header).
        elem_oid: u32,
    },
}

impl PgWire {
    /// The wire format of a table column, from the shared type table (`types.rs`).
    pub fn for_column(col: &PgColumn) -> Result<PgWire> {
        let scalar = match col.scalar()? {
            PgScalar::Bool => PgWire::Bool,
            PgScalar::Int2 => PgWire::Int2,
            PgScalar::Int4 => PgWire::Int4,
            PgScalar::Int8 => PgWire::Int8,
            PgScalar::Oid => PgWire::Oid,
            PgScalar::Float4 => PgWire::Float4,
            PgScalar::Float8 => PgWire::Float8,
            PgScalar::Numeric { .. } | PgScalar::NumericText => PgWire::Numeric,
            PgScalar::Money => PgWire::Money,
            PgScalar::Text => PgWire::Text,
            PgScalar::Char => PgWire::Char,
            PgScalar::Jsonb => PgWire::Jsonb,
            PgScalar::Bytea => PgWire::Bytea,
            PgScalar::Date => PgWire::Date,
            PgScalar::Time => PgWire::Time,
            PgScalar::TimeTz => PgWire::TimeTz,
            PgScalar::Timestamp => PgWire::Timestamp,
            PgScalar::TimestampTz => PgWire::TimestampTz,
            PgScalar::Interval => PgWire::Interval,
            PgScalar::Uuid => PgWire::Uuid,
            PgScalar::Inet => PgWire::Inet,
            PgScalar::MacAddr => PgWire::MacAddr,
            PgScalar::Bit => PgWire::Bit,
        };
        Ok(if col.is_array {
            PgWire::Array {
                elem: Box::new(scalar),
                elem_oid: col.base_oid,
            }
        } else {
            scalar
        })
    }
}

/// One column of the batch, typed, paired with its target wire format.
enum Col<'a> {
    Bool(&'a BooleanArray),
    I16(&'a Int16Array),
    I32(&'a Int32Array),
    I64(&'a Int64Array),
    U32(&'a UInt32Array),
    F32(&'a Float32Array),
    F64(&'a Float64Array),
    Dec(&'a Decimal128Array, i8, &'a PgWire),
    Str(&'a StringArray, &'a PgWire),
    LargeStr(&'a LargeStringArray, &'a PgWire),
    Bin(&'a BinaryArray),
    FixedBin(&'a FixedSizeBinaryArray),
    Date(&'a Date32Array),
    Time(&'a Time64MicrosecondArray),
    /// Timestamp values and the factor to microseconds (negative = divide).
    Ts(&'a dyn Array, &'a [i64], TsScale),
    Interval(&'a IntervalMonthDayNanoArray),
    List(&'a ListArray, Box<Col<'a>>, u32),
}

#[derive(Clone, Copy)]
enum TsScale {
    Mul(i64),
    Div(i64),
}

/// Encodes record batches of one fixed schema into binary COPY tuples.
#[derive(Debug, Clone)]
pub struct CopyEncoder {
    wires: Vec<PgWire>,
    names: Vec<String>,
}

impl CopyEncoder {
    /// An encoder for columns `names` with target formats `wires` (same order as the batches).
    pub fn new(names: Vec<String>, wires: Vec<PgWire>) -> Self {
        CopyEncoder { wires, names }
    }

    /// Number of columns per tuple.
    pub fn width(&self) -> usize {
        self.wires.len()
    }

    /// Bind the columns of `batch` to their target formats (checks the Arrow types once).
    pub fn bind<'a>(&'a self, batch: &'a RecordBatch) -> Result<BoundBatch<'a>> {
        if batch.num_columns() != self.wires.len() {
            return Err(Error::internal(format!(
                "COPY encoder expects {} columns, the batch has {}",
                self.wires.len(),
                batch.num_columns()
            )));
        }
        let cols = batch
            .columns()
            .iter()
            .zip(&self.wires)
            .zip(&self.names)
            .map(|((a, w), n)| bind(a, w, n))
            .collect::<Result<_>>()?;
        Ok(BoundBatch {
            cols,
            names: &self.names,
        })
    }

    /// Append every row of `batch` as tuples to `out` (no header or trailer).
    /// With `row_number_from = Some(n)` an extra trailing `int8` field numbers the rows
    /// `n, n+1, ...` (the staging tables' `ferry_rn`).
    pub fn encode(
        &self,
        batch: &RecordBatch,
        out: &mut BytesMut,
        row_number_from: Option<i64>,
    ) -> Result<()> {
        let bound = self.bind(batch)?;
        out.reserve(batch.num_rows() * (2 + self.wires.len() * 12));
        for row in 0..batch.num_rows() {
            bound
                .put_row(row, row_number_from.map(|n| n + row as i64), out)
                .map_err(|e| Error::data(e.to_string()))?;
        }
        Ok(())
    }
}

/// A value the encoder could not write (the row is dirty).
#[derive(Debug, Clone)]
pub struct EncodeError {
    /// Row within the batch.
    pub row: usize,
    /// Column name.
    pub column: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "column \"{}\" row {}: {}",
            self.column, self.row, self.message
        )
    }
}

/// A batch whose columns are bound to their wire formats; writes one tuple at a time.
pub struct BoundBatch<'a> {
    cols: Vec<Col<'a>>,
    names: &'a [String],
}

impl BoundBatch<'_> {
    /// Append row `row` as one tuple; `row_number` adds the trailing `ferry_rn` field.
    /// On error `out` is left with a partial tuple: truncate it to its previous length.
    #[inline]
    pub fn put_row(
        &self,
        row: usize,
        row_number: Option<i64>,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        out.put_i16((self.cols.len() + usize::from(row_number.is_some())) as i16);
        for (c, col) in self.cols.iter().enumerate() {
            put_value(col, row, out).map_err(|message| EncodeError {
                row,
                column: self.names.get(c).cloned().unwrap_or_default(),
                message,
            })?;
        }
        if let Some(n) = row_number {
            out.put_i32(8);
            out.put_i64(n);
        }
        Ok(())
    }
}

fn mismatch(name: &str, dt: &DataType, wire: &PgWire) -> Error {
    Error::schema(format!(
        "column \"{name}\": cannot write Arrow {dt} into a PostgreSQL {wire:?} column"
    ))
}

fn bind<'a>(a: &'a ArrayRef, wire: &'a PgWire, name: &str) -> Result<Col<'a>> {
    let dt = a.data_type();
    Ok(match (dt, wire) {
        (DataType::Boolean, PgWire::Bool) => Col::Bool(a.as_boolean()),
        (DataType::Int16, PgWire::Int2) => Col::I16(a.as_primitive()),
        (DataType::Int32, PgWire::Int4) => Col::I32(a.as_primitive()),
        (DataType::Int64, PgWire::Int8) => Col::I64(a.as_primitive()),
        (DataType::Int64, PgWire::Money) => Col::I64(a.as_primitive()),
        (DataType::UInt32, PgWire::Oid) => Col::U32(a.as_primitive()),
        (DataType::Float32, PgWire::Float4) => Col::F32(a.as_primitive()),
        (DataType::Float64, PgWire::Float8) => Col::F64(a.as_primitive()),
        (DataType::Decimal128(_, s), PgWire::Numeric | PgWire::Money) => {
            Col::Dec(a.as_primitive(), *s, wire)
        }
        (DataType::Utf8, w) if str_wire(w) => Col::Str(a.as_string::<i32>(), wire),
        (DataType::LargeUtf8, w) if str_wire(w) => Col::LargeStr(a.as_string::<i64>(), wire),
        (DataType::Binary, PgWire::Bytea) => Col::Bin(a.as_binary::<i32>()),
        (DataType::FixedSizeBinary(16), PgWire::Uuid) => Col::FixedBin(a.as_fixed_size_binary()),
        (DataType::Date32, PgWire::Date) => Col::Date(a.as_primitive()),
        (DataType::Time64(TimeUnit::Microsecond), PgWire::Time) => Col::Time(a.as_primitive()),
        (DataType::Timestamp(unit, _), PgWire::Timestamp | PgWire::TimestampTz) => {
            let scale = match unit {
                TimeUnit::Second => TsScale::Mul(1_000_000),
                TimeUnit::Millisecond => TsScale::Mul(1_000),
                TimeUnit::Microsecond => TsScale::Mul(1),
                TimeUnit::Nanosecond => TsScale::Div(1_000),
            };
            let values: &[i64] = match unit {
                TimeUnit::Second => a.as_primitive::<TimestampSecondType>().values(),
                TimeUnit::Millisecond => a.as_primitive::<TimestampMillisecondType>().values(),
                TimeUnit::Microsecond => a.as_primitive::<TimestampMicrosecondType>().values(),
                TimeUnit::Nanosecond => a.as_primitive::<TimestampNanosecondType>().values(),
            };
            Col::Ts(a.as_ref(), values, scale)
        }
        (DataType::Interval(IntervalUnit::MonthDayNano), PgWire::Interval) => {
            Col::Interval(a.as_primitive())
        }
        (DataType::List(f), PgWire::Array { elem, elem_oid }) => {
            let list = a.as_list::<i32>();
            let inner =
                bind(list.values(), elem, name).map_err(|_| mismatch(name, f.data_type(), elem))?;
            Col::List(list, Box::new(inner), *elem_oid)
        }
        _ => return Err(mismatch(name, dt, wire)),
    })
}

fn str_wire(w: &PgWire) -> bool {
    matches!(
        w,
        PgWire::Text
            | PgWire::Jsonb
            | PgWire::Numeric
            | PgWire::TimeTz
            | PgWire::Uuid
            | PgWire::Inet
            | PgWire::MacAddr
            | PgWire::Char
            | PgWire::Bit
            | PgWire::Money
    )
}

/// Write a length-prefixed field whose body `f` writes; patches the length afterwards.
#[inline]
fn with_len(
    out: &mut BytesMut,
    f: impl FnOnce(&mut BytesMut) -> Result<(), String>,
) -> Result<(), String> {
    let at = out.len();
    out.put_i32(0);
    f(out)?;
    let len = (out.len() - at - 4) as i32;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

fn put_value(col: &Col<'_>, row: usize, out: &mut BytesMut) -> Result<(), String> {
    macro_rules! fixed {
        ($arr:expr, $n:expr, $put:ident, $conv:expr) => {{
            if $arr.is_null(row) {
                out.put_i32(-1);
            } else {
                out.put_i32($n);
                out.$put($conv($arr.value(row)));
            }
        }};
    }
    match col {
        Col::Bool(a) => fixed!(a, 1, put_u8, u8::from),
        Col::I16(a) => fixed!(a, 2, put_i16, |v| v),
        Col::I32(a) => fixed!(a, 4, put_i32, |v| v),
        Col::I64(a) => fixed!(a, 8, put_i64, |v| v),
        Col::U32(a) => fixed!(a, 4, put_u32, |v| v),
        Col::F32(a) => fixed!(a, 4, put_f32, |v| v),
        Col::F64(a) => fixed!(a, 8, put_f64, |v| v),
        Col::Date(a) => fixed!(a, 4, put_i32, |v: i32| match v {
            i32::MIN | i32::MAX => v,
            _ => v.wrapping_sub(PG_EPOCH_DAYS),
        }),
        Col::Time(a) => fixed!(a, 8, put_i64, |v| v),
        Col::Ts(a, values, scale) => {
            if a.is_null(row) {
                out.put_i32(-1);
            } else {
                let v = values[row];
                let us = match v {
                    i64::MIN | i64::MAX => v,
                    _ => {
                        let us = match scale {
                            TsScale::Mul(m) => v.checked_mul(*m),
                            TsScale::Div(d) => Some(v.div_euclid(*d)),
                        };
                        us.and_then(|u| u.checked_sub(PG_EPOCH_US))
                            .ok_or_else(|| format!("timestamp {v} is out of PostgreSQL's range"))?
                    }
                };
                out.put_i32(8);
                out.put_i64(us);
            }
        }
        Col::Interval(a) => {
            if a.is_null(row) {
                out.put_i32(-1);
            } else {
                let v = a.value(row);
                out.put_i32(16);
                out.put_i64(v.nanoseconds / 1_000);
                out.put_i32(v.days);
                out.put_i32(v.months);
            }
        }
        Col::Bin(a) => {
            if a.is_null(row) {
                out.put_i32(-1);
            } else {
                let v = a.value(row);
                out.put_i32(len_i32(v.len())?);
                out.put_slice(v);
            }
        }
        Col::FixedBin(a) => {
            if a.is_null(row) {
                out.put_i32(-1);
            } else {
                out.put_i32(16);
                out.put_slice(a.value(row));
            }
        }
        Col::Dec(a, scale, wire) => {
            if a.is_null(row) {
                out.put_i32(-1);
            } else {
                let v = a.value(row);
                if matches!(wire, PgWire::Money) {
                    let cents = rescale_i128(v, *scale as i32, 2)
                        .and_then(|c| i64::try_from(c).ok())
                        .ok_or_else(|| {
                            format!("money value {v} (scale {scale}) is out of range")
                        })?;
                    out.put_i32(8);
                    out.put_i64(cents);
                } else {
                    with_len(out, |o| {
                        put_numeric_i128(v, *scale as i32, o);
                        Ok(())
                    })?;
                }
            }
        }
        Col::Str(a, wire) => {
            if a.is_null(row) {
                out.put_i32(-1);
            } else {
                put_text_as(a.value(row), wire, out)?;
            }
        }
        Col::LargeStr(a, wire) => {
            if a.is_null(row) {
                out.put_i32(-1);
            } else {
                put_text_as(a.value(row), wire, out)?;
            }
        }
        Col::List(a, inner, elem_oid) => {
            if a.is_null(row) {
                out.put_i32(-1);
            } else {
                let offsets = a.value_offsets();
                let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
                let values = a.values();
                with_len(out, |o| {
                    if start == end {
                        o.put_i32(0);
                        o.put_i32(0);
                        o.put_u32(*elem_oid);
                        return Ok(());
                    }
                    let has_null = (start..end).any(|i| values.is_null(i));
                    o.put_i32(1);
                    o.put_i32(i32::from(has_null));
                    o.put_u32(*elem_oid);
                    o.put_i32(len_i32(end - start)?);
                    o.put_i32(1);
                    for i in start..end {
                        put_value(inner, i, o)?;
                    }
                    Ok(())
                })?;
            }
        }
    }
    Ok(())
}

fn len_i32(n: usize) -> Result<i32, String> {
    i32::try_from(n)
        .map_err(|_| format!("value of {n} bytes is larger than PostgreSQL's 1 GB limit"))
}

/// Write a text value in the binary form of `wire`, parsing it where needed.
fn put_text_as(s: &str, wire: &PgWire, out: &mut BytesMut) -> Result<(), String> {
    match wire {
        PgWire::Text => {
            out.put_i32(len_i32(s.len())?);
            out.put_slice(s.as_bytes());
        }
        PgWire::Jsonb => {
            out.put_i32(len_i32(s.len() + 1)?);
            out.put_u8(1);
            out.put_slice(s.as_bytes());
        }
        PgWire::Numeric => with_len(out, |o| put_numeric_str(s, o))?,
        PgWire::Money => {
            let cents = parse_money(s).ok_or_else(|| format!("invalid money value \"{s}\""))?;
            out.put_i32(8);
            out.put_i64(cents);
        }
        PgWire::Uuid => {
            let b = parse_uuid(s).ok_or_else(|| format!("invalid uuid \"{s}\""))?;
            out.put_i32(16);
            out.put_slice(&b);
        }
        PgWire::Inet => with_len(out, |o| put_inet(s, o))?,
        PgWire::MacAddr => {
            let b = parse_mac(s).ok_or_else(|| format!("invalid MAC address \"{s}\""))?;
            out.put_i32(b.len() as i32);
            out.put_slice(&b);
        }
        PgWire::Char => {
            if s.len() > 1 {
                return Err(format!("\"{s}\" does not fit a \"char\" column (one byte)"));
            }
            out.put_i32(s.len() as i32);
            out.put_slice(s.as_bytes());
        }
        PgWire::Bit => with_len(out, |o| put_bits(s, o))?,
        PgWire::TimeTz => {
            let (us, zone) =
                parse_timetz(s).ok_or_else(|| format!("invalid time with time zone \"{s}\""))?;
            out.put_i32(12);
            out.put_i64(us);
            out.put_i32(zone);
        }
        other => return Err(format!("text cannot be written as {other:?}")),
    }
    Ok(())
}

/// `v / 10^from * 10^to`, exact or `None`.
fn rescale_i128(v: i128, from: i32, to: i32) -> Option<i128> {
    if to >= from {
        v.checked_mul(10i128.checked_pow((to - from) as u32)?)
    } else {
        let d = 10i128.checked_pow((from - to) as u32)?;
        (v % d == 0).then(|| v / d)
    }
}

/// Numeric binary form from a sign, the decimal digits of the integer part and of the
/// fraction (ASCII digits), and the display scale.
fn put_numeric_digits(
    negative: bool,
    int_digits: &[u8],
    frac_digits: &[u8],
    dscale: u16,
    out: &mut BytesMut,
) {
    // Strip leading zeros of the integer part and trailing zeros of the fraction.
    let int_digits = {
        let nz = int_digits
            .iter()
            .position(|d| *d != b'0')
            .unwrap_or(int_digits.len());
        &int_digits[nz..]
    };
    let frac_trim = frac_digits
        .iter()
        .rposition(|d| *d != b'0')
        .map_or(0, |p| p + 1);
    let frac_digits = &frac_digits[..frac_trim];
    // Base-10000 groups: integer part aligned from the right, fraction from the left.
    let int_groups = int_digits.len().div_ceil(4);
    let frac_groups = frac_digits.len().div_ceil(4);
    let mut groups: Vec<i16> = Vec::with_capacity(int_groups + frac_groups);
    let lead = int_groups * 4 - int_digits.len();
    for g in 0..int_groups {
        let mut v = 0i16;
        for k in 0..4 {
            let idx = (g * 4 + k) as isize - lead as isize;
            let d = if idx < 0 {
                0
            } else {
                (int_digits[idx as usize] - b'0') as i16
            };
            v = v * 10 + d;
        }
        groups.push(v);
    }
    for g in 0..frac_groups {
        let mut v = 0i16;
        for k in 0..4 {
            let idx = g * 4 + k;
            let d = frac_digits.get(idx).map_or(0, |c| (c - b'0') as i16);
            v = v * 10 + d;
        }
        groups.push(v);
    }
    let mut weight = int_groups as i32 - 1;
    // Leading zero groups (only possible in the fraction when the integer part is 0).
    let first = groups.iter().position(|g| *g != 0);
    let Some(first) = first else {
        out.put_i16(0);
        out.put_i16(0);
        out.put_u16(0);
        out.put_u16(dscale);
        return;
    };
    weight -= first as i32;
    let last = groups.iter().rposition(|g| *g != 0).unwrap_or(first);
    let groups = &groups[first..=last];
    out.put_i16(groups.len() as i16);
    out.put_i16(weight as i16);
    out.put_u16(if negative { 0x4000 } else { 0 });
    out.put_u16(dscale);
    for g in groups {
        out.put_i16(*g);
    }
}

fn put_numeric_i128(v: i128, scale: i32, out: &mut BytesMut) {
    let negative = v < 0;
    let digits = v.unsigned_abs().to_string();
    let d = digits.as_bytes();
    if scale <= 0 {
        let mut int = d.to_vec();
        int.extend(std::iter::repeat_n(b'0', (-scale) as usize));
        put_numeric_digits(negative, &int, &[], 0, out);
    } else {
        let s = scale as usize;
        let (int, frac): (Vec<u8>, Vec<u8>) = if d.len() > s {
            (d[..d.len() - s].to_vec(), d[d.len() - s..].to_vec())
        } else {
            let mut f = vec![b'0'; s - d.len()];
            f.extend_from_slice(d);
            (vec![], f)
        };
        put_numeric_digits(negative, &int, &frac, scale as u16, out);
    }
}

fn put_numeric_str(s: &str, out: &mut BytesMut) -> Result<(), String> {
    let t = s.trim();
    let special = |sign: u16, out: &mut BytesMut| {
        out.put_i16(0);
        out.put_i16(0);
        out.put_u16(sign);
        out.put_u16(0);
    };
    match t.to_ascii_lowercase().as_str() {
        "nan" => {
            special(0xC000, out);
            return Ok(());
        }
        "infinity" | "+infinity" | "inf" => {
            special(0xD000, out);
            return Ok(());
        }
        "-infinity" | "-inf" => {
            special(0xF000, out);
            return Ok(());
        }
        _ => {}
    }
    let bad = || format!("invalid numeric \"{s}\"");
    let (negative, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], rest[i + 1..].parse::<i32>().map_err(|_| bad())?),
        None => (rest, 0),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || exp.abs() > 1000
    {
        return Err(bad());
    }
    // Apply the exponent by moving the decimal point.
    let mut all: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
    let mut point = int.len() as i64 + exp as i64;
    if point < 0 {
        let mut z = vec![b'0'; (-point) as usize];
        z.extend_from_slice(&all);
        all = z;
        point = 0;
    }
    while (all.len() as i64) < point {
        all.push(b'0');
    }
    let p = point as usize;
    let dscale = (all.len() - p) as u16;
    put_numeric_digits(negative, &all[..p], &all[p..], dscale, out);
    Ok(())
}

fn parse_money(s: &str) -> Option<i64> {
    let t = s.trim();
    let (neg, t) = if let Some(r) = t.strip_prefix('-') {
        (true, r)
    } else if t.starts_with('(') && t.ends_with(')') {
        (true, &t[1..t.len() - 1])
    } else {
        (false, t)
    };
    let t = t.trim_start_matches('$');
    let t: String = t.chars().filter(|c| *c != ',').collect();
    let (i, f) = t.split_once('.').unwrap_or((&t, ""));
    if i.is_empty() && f.is_empty() || f.len() > 2 {
        return None;
    }
    if !i.bytes().all(|b| b.is_ascii_digit()) || !f.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = if i.is_empty() { 0 } else { i.parse().ok()? };
    let mut frac: i64 = if f.is_empty() { 0 } else { f.parse().ok()? };
    if f.len() == 1 {
        frac *= 10;
    }
    let cents = whole.checked_mul(100)?.checked_add(frac)?;
    Some(if neg { -cents } else { cents })
}

fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let t = s.trim();
    let t = t
        .strip_prefix('{')
        .and_then(|x| x.strip_suffix('}'))
        .unwrap_or(t);
    let hex: Vec<u8> = t.bytes().filter(|b| *b != b'-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

fn parse_mac(s: &str) -> Option<Vec<u8>> {
    let hex: Vec<u8> = s
        .trim()
        .bytes()
        .filter(|b| !matches!(b, b':' | b'-' | b'.'))
        .collect();
    if hex.len() != 12 && hex.len() != 16 {
        return None;
    }
    hex.chunks(2)
        .map(|p| Some(((p[0] as char).to_digit(16)? * 16 + (p[1] as char).to_digit(16)?) as u8))
        .collect()
}

fn put_inet(s: &str, out: &mut BytesMut) -> Result<(), String> {
    let bad = || format!("invalid network address \"{s}\"");
    let t = s.trim();
    let (addr, bits) = match t.split_once('/') {
        Some((a, b)) => (a, Some(b.parse::<u8>().map_err(|_| bad())?)),
        None => (t, None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| bad())?;
    let (family, max, bytes): (u8, u8, Vec<u8>) = match ip {
        IpAddr::V4(v) => (2, 32, v.octets().to_vec()),
        IpAddr::V6(v) => (3, 128, v.octets().to_vec()),
    };
    let bits = bits.unwrap_or(max);
    if bits > max {
        return Err(bad());
    }
    out.put_u8(family);
    out.put_u8(bits);
    out.put_u8(0); // is_cidr: ignored by the server
    out.put_u8(bytes.len() as u8);
    out.put_slice(&bytes);
    Ok(())
}

fn put_bits(s: &str, out: &mut BytesMut) -> Result<(), String> {
    let t = s.trim();
    let n = len_i32(t.len())?;
    out.put_i32(n);
    let mut byte = 0u8;
    for (i, c) in t.bytes().enumerate() {
        let bit = match c {
            b'0' => 0,
            b'1' => 1,
            _ => return Err(format!("invalid bit string \"{s}\"")),
        };
        byte |= bit << (7 - (i % 8));
        if i % 8 == 7 {
            out.put_u8(byte);
            byte = 0;
        }
    }
    if !t.len().is_multiple_of(8) {
        out.put_u8(byte);
    }
    Ok(())
}

/// `HH:MM[:SS[.ffffff]]±HH[:MM[:SS]]` → (µs since midnight, zone offset in seconds
/// west of UTC, as PostgreSQL stores it).
fn parse_timetz(s: &str) -> Option<(i64, i32)> {
    let t = s.trim();
    let split = t.rfind(['+', '-'])?;
    let (time, zone) = t.split_at(split);
    let us = parse_time_us(time)?;
    let sign: i32 = if zone.starts_with('-') { -1 } else { 1 };
    let mut parts = zone[1..].split(':');
    let h: i32 = parts.next()?.parse().ok()?;
    let m: i32 = parts.next().map_or(Some(0), |x| x.parse().ok())?;
    let sec: i32 = parts.next().map_or(Some(0), |x| x.parse().ok())?;
    let east = sign * (h * 3600 + m * 60 + sec);
    Some((us, -east))
}

fn parse_time_us(t: &str) -> Option<i64> {
    let mut parts = t.split(':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let (sec, frac) = match parts.next() {
        Some(sf) => match sf.split_once('.') {
            Some((s, f)) => (s.parse::<i64>().ok()?, f),
            None => (sf.parse::<i64>().ok()?, ""),
        },
        None => (0, ""),
    };
    if frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut f: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..6 {
        f *= 10;
    }
    Some(((h * 60 + m) * 60 + sec) * 1_000_000 + f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(s: &str) -> Vec<u8> {
        let mut b = BytesMut::new();
        put_numeric_str(s, &mut b).unwrap();
        b.to_vec()
    }

    fn be16(v: &[i16]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_be_bytes()).collect()
    }

    #[test]
    fn numeric_matches_postgres_layout() {
        // 12345.678 = groups [1, 2345, 6780], weight 1, dscale 3
        assert_eq!(numeric("12345.678"), be16(&[3, 1, 0, 3, 1, 2345, 6780]));
        assert_eq!(numeric("-0.0001"), be16(&[1, -1, 0x4000, 4, 1]));
        assert_eq!(numeric("0"), be16(&[0, 0, 0, 0]));
        assert_eq!(numeric("0.00"), be16(&[0, 0, 0, 2]));
        assert_eq!(numeric("10000"), be16(&[1, 1, 0, 0, 1]));
        assert_eq!(numeric("1e3"), be16(&[1, 0, 0, 0, 1000]));
        let mut b = BytesMut::new();
        put_numeric_i128(-1234567, 2, &mut b);
        assert_eq!(b.to_vec(), numeric("-12345.67"));
        assert!(put_numeric_str("12a", &mut BytesMut::new()).is_err());
    }

    #[test]
    fn small_parsers() {
        assert_eq!(parse_money("-$1,234.5"), Some(-123450));
        assert_eq!(parse_timetz("10:11:12.5+02"), Some((36_672_500_000, -7200)));
        assert_eq!(
            parse_uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").map(|u| u[0]),
            Some(0xa0)
        );
        assert!(parse_uuid("zz").is_none());
        let mut b = BytesMut::new();
        put_bits("101", &mut b).unwrap();
        assert_eq!(b.to_vec(), vec![0, 0, 0, 3, 0b1010_0000]);
    }
}
