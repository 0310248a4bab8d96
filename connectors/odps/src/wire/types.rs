//! ODPS type strings and the one ODPS ↔ Arrow type table (spec §1.5).
//!
//! | ODPS | Arrow |
//! |---|---|
//! | bigint / int / smallint / tinyint | Int64 / Int32 / Int16 / Int8 |
//! | double / float | Float64 / Float32 |
//! | boolean | Boolean |
//! | string, varchar(n), char(n), json | Utf8 |
//! | binary | Binary |
//! | decimal(p,s) | Decimal128(p,s); a bare `decimal` is the ODPS 2.0 `decimal(38,18)` |
//! | date | Date32 |
//! | datetime | Timestamp(ms, none) — an instant, UTC |
//! | timestamp, timestamp_ntz | Timestamp(ns, none) |
//! | interval_day_time | Struct<sec: Int64, nano: Int32> |
//! | interval_year_month | Interval(YearMonth) |
//! | array<T> | List<item: T> |
//! | map<K,V> | Map<entries: Struct<key: K, value: V>> |
//! | struct<a:T,..> | Struct<a: T, ..> |
//!
//! Bare `decimal`: pyodps treats it as the ODPS 1.0 `decimal(54,18)`; ferry follows the
//! ODPS 2.0 rule `decimal(38,18)` and always prints the explicit form, so every peer that
//! reads a schema from ferry sees `decimal(38,18)` and maps it to the same Arrow type.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, IntervalUnit, TimeUnit};
use ferry_core::{Error, Result};

/// An ODPS column type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OdpsType {
    /// 64-bit integer.
    Bigint,
    /// 32-bit integer.
    Int,
    /// 16-bit integer.
    Smallint,
    /// 8-bit integer.
    Tinyint,
    /// 64-bit float.
    Double,
    /// 32-bit float.
    Float,
    /// Fixed-point decimal.
    Decimal {
        /// Total digits (1..=38).
        precision: u8,
        /// Digits after the point (0..=precision).
        scale: i8,
    },
    /// Boolean.
    Boolean,
    /// UTF-8 text.
    String,
    /// UTF-8 text of at most n characters.
    Varchar(u32),
    /// UTF-8 text of n characters.
    Char(u32),
    /// Bytes.
    Binary,
    /// Days since 1970-01-01.
    Date,
    /// Milliseconds since the epoch (an instant).
    Datetime,
    /// Nanosecond instant.
    Timestamp,
    /// Nanosecond wall time without zone.
    TimestampNtz,
    /// JSON text.
    Json,
    /// Seconds plus nanoseconds.
    IntervalDayTime,
    /// Months.
    IntervalYearMonth,
    /// Array of T.
    Array(Box<OdpsType>),
    /// Map K → V.
    Map(Box<OdpsType>, Box<OdpsType>),
    /// Struct with named fields, in declared order.
    Struct(Vec<(String, OdpsType)>),
}

impl OdpsType {
    /// Parse an ODPS type string (`bigint`, `DECIMAL(10, 2)`, `map<string,array<int>>`,
    /// `struct<a:bigint, b:string>`); case-insensitive, spaces tolerated.
    pub fn parse(s: &str) -> Result<OdpsType> {
        let mut p = Parser {
            src: s,
            chars: s.as_bytes(),
            pos: 0,
        };
        let t = p.ty()?;
        p.ws();
        if p.pos != p.chars.len() {
            return Err(p.err("unexpected text after the type"));
        }
        Ok(t)
    }

    /// Whether this type's values sit behind wire type 2 without a length prefix.
    pub fn is_complex(&self) -> bool {
        matches!(
            self,
            OdpsType::Array(_) | OdpsType::Map(..) | OdpsType::Struct(_)
        )
    }
}

impl fmt::Display for OdpsType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OdpsType::Bigint => f.write_str("bigint"),
            OdpsType::Int => f.write_str("int"),
            OdpsType::Smallint => f.write_str("smallint"),
            OdpsType::Tinyint => f.write_str("tinyint"),
            OdpsType::Double => f.write_str("double"),
            OdpsType::Float => f.write_str("float"),
            OdpsType::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            OdpsType::Boolean => f.write_str("boolean"),
            OdpsType::String => f.write_str("string"),
            OdpsType::Varchar(n) => write!(f, "varchar({n})"),
            OdpsType::Char(n) => write!(f, "char({n})"),
            OdpsType::Binary => f.write_str("binary"),
            OdpsType::Date => f.write_str("date"),
            OdpsType::Datetime => f.write_str("datetime"),
            OdpsType::Timestamp => f.write_str("timestamp"),
            OdpsType::TimestampNtz => f.write_str("timestamp_ntz"),
            OdpsType::Json => f.write_str("json"),
            OdpsType::IntervalDayTime => f.write_str("interval_day_time"),
            OdpsType::IntervalYearMonth => f.write_str("interval_year_month"),
            OdpsType::Array(t) => write!(f, "array<{t}>"),
            OdpsType::Map(k, v) => write!(f, "map<{k},{v}>"),
            OdpsType::Struct(fields) => {
                f.write_str("struct<")?;
                for (i, (n, t)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    if n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                        write!(f, "{n}:{t}")?;
                    } else {
                        write!(f, "`{n}`:{t}")?;
                    }
                }
                f.write_str(">")
            }
        }
    }
}

struct Parser<'a> {
    src: &'a str,
    chars: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> Error {
        Error::schema(format!(
            "ODPS type `{}`: {what} at position {}",
            self.src, self.pos
        ))
    }
    fn ws(&mut self) {
        while self.pos < self.chars.len() && self.chars[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }
    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.chars.get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: u8) -> Result<()> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.err(&format!("expected `{}`", c as char)))
        }
    }
    fn ident(&mut self) -> Result<String> {
        self.ws();
        if self.chars.get(self.pos) == Some(&b'`') {
            let start = self.pos + 1;
            let end = self.chars[start..]
                .iter()
                .position(|&c| c == b'`')
                .map(|e| start + e)
                .ok_or_else(|| self.err("unclosed backquote"))?;
            self.pos = end + 1;
            return Ok(self.src[start..end].to_string());
        }
        let start = self.pos;
        while self.pos < self.chars.len()
            && (self.chars[self.pos].is_ascii_alphanumeric() || self.chars[self.pos] == b'_')
        {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(self.err("expected a name"));
        }
        Ok(self.src[start..self.pos].to_string())
    }
    fn number(&mut self) -> Result<u32> {
        self.ws();
        let start = self.pos;
        while self.pos < self.chars.len() && self.chars[self.pos].is_ascii_digit() {
            self.pos += 1;
        }
        self.src[start..self.pos]
            .parse()
            .map_err(|_| self.err("expected a number"))
    }
    fn ty(&mut self) -> Result<OdpsType> {
        let name = self.ident()?.to_ascii_lowercase();
        Ok(match name.as_str() {
            "bigint" => OdpsType::Bigint,
            "int" => OdpsType::Int,
            "smallint" => OdpsType::Smallint,
            "tinyint" => OdpsType::Tinyint,
            "double" => OdpsType::Double,
            "float" => OdpsType::Float,
            "boolean" => OdpsType::Boolean,
            "string" => OdpsType::String,
            "binary" => OdpsType::Binary,
            "date" => OdpsType::Date,
            "datetime" => OdpsType::Datetime,
            "timestamp" => OdpsType::Timestamp,
            "timestamp_ntz" => OdpsType::TimestampNtz,
            "json" => OdpsType::Json,
            "interval_day_time" => OdpsType::IntervalDayTime,
            "interval_year_month" => OdpsType::IntervalYearMonth,
            "decimal" => {
                if self.eat(b'(') {
                    let p = self.number()?;
                    let s = if self.eat(b',') { self.number()? } else { 0 };
                    self.expect(b')')?;
                    if !(1..=38).contains(&p) || s > p {
                        return Err(self.err(&format!(
                            "decimal({p},{s}) is out of range (precision 1..=38, scale <= precision)"
                        )));
                    }
                    OdpsType::Decimal {
                        precision: p as u8,
                        scale: s as i8,
                    }
                } else {
                    OdpsType::Decimal {
                        precision: 38,
                        scale: 18,
                    }
                }
            }
            "varchar" | "char" => {
                self.expect(b'(')?;
                let n = self.number()?;
                self.expect(b')')?;
                if name == "varchar" {
                    OdpsType::Varchar(n)
                } else {
                    OdpsType::Char(n)
                }
            }
            "array" => {
                self.expect(b'<')?;
                let t = self.ty()?;
                self.expect(b'>')?;
                OdpsType::Array(Box::new(t))
            }
            "map" => {
                self.expect(b'<')?;
                let k = self.ty()?;
                self.expect(b',')?;
                let v = self.ty()?;
                self.expect(b'>')?;
                OdpsType::Map(Box::new(k), Box::new(v))
            }
            "struct" => {
                self.expect(b'<')?;
                let mut fields = Vec::new();
                loop {
                    let n = self.ident()?;
                    self.expect(b':')?;
                    let t = self.ty()?;
                    fields.push((n, t));
                    // ODPS allows `COMMENT 'x'` after a struct field; skip it.
                    self.ws();
                    if self.src[self.pos..]
                        .to_ascii_lowercase()
                        .starts_with("comment")
                    {
                        self.pos += "comment".len();
                        self.ws();
                        if self.eat(b'\'') {
                            while self.pos < self.chars.len() && self.chars[self.pos] != b'\'' {
                                self.pos += 1;
                            }
                            self.expect(b'\'')?;
                        }
                    }
                    if self.eat(b'>') {
                        break;
                    }
                    self.expect(b',')?;
                }
                OdpsType::Struct(fields)
            }
            other => return Err(self.err(&format!("unknown type `{other}`"))),
        })
    }
}

/// The Arrow type that carries values of an ODPS type (the table above).
pub fn arrow_type(t: &OdpsType) -> DataType {
    match t {
        OdpsType::Bigint => DataType::Int64,
        OdpsType::Int => DataType::Int32,
        OdpsType::Smallint => DataType::Int16,
        OdpsType::Tinyint => DataType::Int8,
        OdpsType::Double => DataType::Float64,
        OdpsType::Float => DataType::Float32,
        OdpsType::Decimal { precision, scale } => DataType::Decimal128(*precision, *scale),
        OdpsType::Boolean => DataType::Boolean,
        OdpsType::String | OdpsType::Varchar(_) | OdpsType::Char(_) | OdpsType::Json => {
            DataType::Utf8
        }
        OdpsType::Binary => DataType::Binary,
        OdpsType::Date => DataType::Date32,
        OdpsType::Datetime => DataType::Timestamp(TimeUnit::Millisecond, None),
        OdpsType::Timestamp | OdpsType::TimestampNtz => {
            DataType::Timestamp(TimeUnit::Nanosecond, None)
        }
        OdpsType::IntervalDayTime => DataType::Struct(interval_day_time_fields()),
        OdpsType::IntervalYearMonth => DataType::Interval(IntervalUnit::YearMonth),
        OdpsType::Array(t) => DataType::List(Arc::new(Field::new("item", arrow_type(t), true))),
        OdpsType::Map(k, v) => DataType::Map(
            Arc::new(Field::new(
                "entries",
                DataType::Struct(map_entry_fields(k, v)),
                false,
            )),
            false,
        ),
        OdpsType::Struct(fields) => DataType::Struct(
            fields
                .iter()
                .map(|(n, t)| Field::new(n, arrow_type(t), true))
                .collect(),
        ),
    }
}

/// The `sec`/`nano` fields of interval_day_time.
pub fn interval_day_time_fields() -> Fields {
    Fields::from(vec![
        Field::new("sec", DataType::Int64, true),
        Field::new("nano", DataType::Int32, true),
    ])
}

/// The `key`/`value` fields of a map's entries.
pub fn map_entry_fields(k: &OdpsType, v: &OdpsType) -> Fields {
    Fields::from(vec![
        Field::new("key", arrow_type(k), false),
        Field::new("value", arrow_type(v), true),
    ])
}

/// The ODPS type to create for an Arrow column (the reverse of [`arrow_type`]).
pub fn odps_type_for_arrow(t: &DataType) -> Result<OdpsType> {
    Ok(match t {
        DataType::Int64 | DataType::UInt32 => OdpsType::Bigint,
        DataType::Int32 | DataType::UInt16 => OdpsType::Int,
        DataType::Int16 | DataType::UInt8 => OdpsType::Smallint,
        DataType::Int8 => OdpsType::Tinyint,
        DataType::Float64 => OdpsType::Double,
        DataType::Float32 | DataType::Float16 => OdpsType::Float,
        DataType::Boolean => OdpsType::Boolean,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => OdpsType::String,
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => OdpsType::Binary,
        DataType::Decimal128(p, s) if *p <= 38 && *s >= 0 => OdpsType::Decimal {
            precision: *p,
            scale: *s,
        },
        DataType::Date32 | DataType::Date64 => OdpsType::Date,
        DataType::Timestamp(TimeUnit::Second | TimeUnit::Millisecond, _) => OdpsType::Datetime,
        DataType::Timestamp(TimeUnit::Microsecond | TimeUnit::Nanosecond, _) => OdpsType::Timestamp,
        DataType::Interval(IntervalUnit::YearMonth) => OdpsType::IntervalYearMonth,
        DataType::List(f) | DataType::LargeList(f) => {
            OdpsType::Array(Box::new(odps_type_for_arrow(f.data_type())?))
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => OdpsType::Map(
                Box::new(odps_type_for_arrow(kv[0].data_type())?),
                Box::new(odps_type_for_arrow(kv[1].data_type())?),
            ),
            other => {
                return Err(Error::schema(format!(
                    "Arrow map entries of type {other} have no ODPS type"
                )))
            }
        },
        DataType::Struct(fields) => OdpsType::Struct(
            fields
                .iter()
                .map(|f| Ok((f.name().clone(), odps_type_for_arrow(f.data_type())?)))
                .collect::<Result<Vec<_>>>()?,
        ),
        other => {
            return Err(Error::schema(format!(
                "Arrow type {other} has no ODPS type; cast it to a supported type first"
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        for (s, want) in [
            ("BIGINT", "bigint"),
            ("decimal(10, 2)", "decimal(10,2)"),
            ("decimal", "decimal(38,18)"),
            ("VARCHAR( 10 )", "varchar(10)"),
            ("char(3)", "char(3)"),
            ("array<bigint>", "array<bigint>"),
            (" MAP < STRING , ARRAY<INT> > ", "map<string,array<int>>"),
            (
                "struct<a:bigint, b:string, `c d`:struct<x:double>>",
                "struct<a:bigint,b:string,`c d`:struct<x:double>>",
            ),
            ("timestamp_ntz", "timestamp_ntz"),
            ("interval_day_time", "interval_day_time"),
            ("json", "json"),
        ] {
            let t = OdpsType::parse(s).unwrap();
            assert_eq!(t.to_string(), want, "{s}");
            assert_eq!(OdpsType::parse(&t.to_string()).unwrap(), t);
        }
    }

    #[test]
    fn parse_errors_name_the_type() {
        let e = OdpsType::parse("array<bigint").unwrap_err().to_string();
        assert!(e.contains("array<bigint"), "{e}");
        assert!(OdpsType::parse("decimal(40,2)").is_err());
        assert!(OdpsType::parse("frobnicate").is_err());
        assert!(OdpsType::parse("bigint x").is_err());
    }

    #[test]
    fn arrow_mapping_round_trips() {
        for s in [
            "bigint",
            "int",
            "smallint",
            "tinyint",
            "double",
            "float",
            "boolean",
            "string",
            "binary",
            "decimal(10,2)",
            "date",
            "datetime",
            "timestamp",
            "interval_year_month",
            "array<bigint>",
            "map<string,bigint>",
            "struct<a:bigint,b:string>",
        ] {
            let t = OdpsType::parse(s).unwrap();
            assert_eq!(odps_type_for_arrow(&arrow_type(&t)).unwrap(), t, "{s}");
        }
        assert_eq!(
            arrow_type(&OdpsType::Datetime),
            DataType::Timestamp(TimeUnit::Millisecond, None)
        );
    }
}
