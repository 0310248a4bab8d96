//! `streamreader`: constant or random columns, `sliceRecordCount` rows per channel; DataX's
//! column keys `type`, `value`, `random` and `dateFormat` (see [`crate::date_format`]).

use ferry_core::connector::{param, Param, Set};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Float64Builder, Int64Array,
    StringBuilder, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use chrono::NaiveDate;
use ferry_core::params::{self, lenient_opt_u64, lenient_u64};
use ferry_core::plugin::{BatchStream, BuildContext, ReadOptions, Reader, ReaderFactory, Split};
use ferry_core::{Error, Result};
use rand::Rng;
use serde::Deserialize;
use serde_json::Value;

use crate::date_format::DatePattern;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Config {
    column: Vec<ColumnConfig>,
    #[serde(default = "one", deserialize_with = "lenient_u64")]
    slice_record_count: u64,
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    batch_rows: Option<u64>,
}

fn one() -> u64 {
    1
}

/// One `column` entry: DataX's keys (`type`, `value`, `random`, `dateFormat`) and
/// ferry's `name`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ColumnConfig {
    /// Blank or absent = `string`, as in DataX.
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    random: Option<String>,
    #[serde(default)]
    date_format: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

/// How a column's values are made.
#[derive(Debug, Clone)]
enum Gen {
    /// A constant string or bytes (`None` = NULL).
    Text(Option<String>),
    /// A constant long, date (days since 1970) or timestamp (ms since 1970).
    Int(Option<i64>),
    /// A constant double.
    Float(Option<f64>),
    /// A constant bool.
    Bool(Option<bool>),
    /// Uniform in `lo..=hi` (long, date days, timestamp ms).
    RandInt(i64, i64),
    /// Uniform in `lo..hi`.
    RandFloat(f64, f64),
    /// a-z text or random bytes of a length in `lo..=hi`.
    RandLen(usize, usize),
    /// `true` with this probability.
    RandBool(f64),
}

#[derive(Debug, Clone)]
struct Col {
    kind: Kind,
    gen: Gen,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Long,
    Double,
    Str,
    /// Date32: a date without a time of day.
    Date,
    /// Timestamp(ms): a date with a time of day; `utc` when the pattern had a zone.
    Timestamp {
        utc: bool,
    },
    Bool,
    Bytes,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Long => "Long",
            Kind::Double => "Double",
            Kind::Str => "String",
            Kind::Date | Kind::Timestamp { .. } => "Date",
            Kind::Bool => "Bool",
            Kind::Bytes => "Bytes",
        }
    }
}

pub const IGNORED: &[&str] = &["encoding"];

/// The date formats a `date` column without `dateFormat` takes: DataX's default, then
/// the two date-only forms ferry has always read.
const DEFAULT_DATE_FORMATS: &[&str] = &["yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd", "yyyyMMdd"];

fn parse(
    params: &Value,
    path: &str,
    warnings: &mut Vec<String>,
) -> Result<(Vec<Col>, SchemaRef, Config)> {
    let cfg: Config = params::parse(params, path, IGNORED, warnings)?;
    if cfg.column.is_empty() {
        return Err(Error::config(format!(
            "{path}.column: give at least one column"
        )));
    }
    let mut cols = Vec::new();
    let mut fields = Vec::new();
    for (i, c) in cfg.column.iter().enumerate() {
        let at = format!("{path}.column[{i}]");
        let col = column(c, &at, warnings)?;
        let dt = match col.kind {
            Kind::Long => DataType::Int64,
            Kind::Double => DataType::Float64,
            Kind::Str => DataType::Utf8,
            Kind::Date => DataType::Date32,
            Kind::Timestamp { utc } => {
                DataType::Timestamp(TimeUnit::Millisecond, utc.then(|| "UTC".into()))
            }
            Kind::Bool => DataType::Boolean,
            Kind::Bytes => DataType::Binary,
        };
        let name = c.name.clone().unwrap_or_else(|| format!("col{}", i + 1));
        fields.push(Field::new(name, dt, true));
        cols.push(col);
    }
    Ok((cols, Arc::new(Schema::new(fields)), cfg))
}

/// One column entry at JSON path `at`.
fn column(c: &ColumnConfig, at: &str, warnings: &mut Vec<String>) -> Result<Col> {
    let type_name = c.kind.as_deref().map(str::trim).unwrap_or("");
    let mut kind = match type_name.to_ascii_lowercase().as_str() {
        "long" | "int" | "bigint" => Kind::Long,
        "double" | "float" => Kind::Double,
        "string" | "" => Kind::Str,
        "date" => Kind::Date,
        "bool" | "boolean" => Kind::Bool,
        "bytes" => Kind::Bytes,
        other => {
            return Err(Error::config(format!(
                "{at}.type: unknown type \"{other}\"; use long, double, string, date, bool or bytes"
            )))
        }
    };
    let pattern = match (&c.date_format, kind) {
        (Some(f), Kind::Date) => {
            Some(DatePattern::new(f).map_err(|m| Error::config(format!("{at}.dateFormat: {m}")))?)
        }
        (Some(_), _) => {
            warnings.push(format!(
                "{at}.dateFormat: ignored, the column's type is {type_name:?}, not \"date\""
            ));
            None
        }
        (None, _) => None,
    };
    if let Some(p) = &pattern {
        if p.has_time || p.has_zone {
            kind = Kind::Timestamp { utc: p.has_zone };
        }
    }
    let value = match &c.value {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    };
    let random = c.random.as_deref().filter(|r| !r.trim().is_empty());
    if let (Some(v), Some(r)) = (&value, random) {
        warnings.push(format!(
            "{at}: both value ({v:?}) and random ({r:?}) are given; the value is used, as in DataX"
        ));
    }
    let gen = match (value, random) {
        (Some(t), _) => constant(&mut kind, pattern.as_ref(), &t)
            .map_err(|m| Error::config(format!("{at}.value: {m}")))?,
        (None, Some(r)) => random_gen(&mut kind, pattern.as_ref(), r)
            .map_err(|m| Error::config(format!("{at}.random: {m}")))?,
        (None, None) => match kind {
            Kind::Str | Kind::Bytes => Gen::Text(None),
            Kind::Double => Gen::Float(None),
            Kind::Bool => Gen::Bool(None),
            _ => Gen::Int(None),
        },
    };
    Ok(Col { kind, gen })
}

/// Days since 1970-01-01 of a date.
fn epoch_days(d: NaiveDate) -> Option<i64> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    Some((d - epoch).num_days())
}

/// A date value: with a pattern, parsed by it; without, by the default formats (a time of
/// day turns the column into a timestamp). Returns days (date) or ms (timestamp).
fn date_value(
    kind: &mut Kind,
    pattern: Option<&DatePattern>,
    t: &str,
) -> std::result::Result<i64, String> {
    let (at, with_time) = match pattern {
        Some(p) => (p.parse(t)?, p.has_time || p.has_zone),
        None => {
            let found = DEFAULT_DATE_FORMATS.iter().find_map(|f| {
                let p = DatePattern::new(f).ok()?;
                p.parse(t).ok().map(|at| (at, p.has_time))
            });
            found.ok_or_else(|| {
                format!(
                    "\"{t}\" is not a valid Date (expected yyyy-MM-dd HH:mm:ss, yyyy-MM-dd or \
                     yyyyMMdd; give \"dateFormat\" for other forms)"
                )
            })?
        }
    };
    if with_time && *kind == Kind::Date {
        *kind = Kind::Timestamp { utc: false };
    }
    let out = match kind {
        Kind::Date => epoch_days(at.date()),
        _ => Some(at.and_utc().timestamp_millis()),
    };
    out.ok_or_else(|| format!("\"{t}\" is out of range"))
}

fn constant(
    kind: &mut Kind,
    pattern: Option<&DatePattern>,
    t: &str,
) -> std::result::Result<Gen, String> {
    let invalid = |k: Kind| format!("\"{t}\" is not a valid {}", k.name());
    Ok(match *kind {
        Kind::Long => Gen::Int(Some(t.trim().parse().map_err(|_| invalid(*kind))?)),
        Kind::Double => Gen::Float(Some(t.trim().parse().map_err(|_| invalid(*kind))?)),
        Kind::Bool => match t.trim().to_ascii_lowercase().as_str() {
            "true" => Gen::Bool(Some(true)),
            "false" => Gen::Bool(Some(false)),
            _ => return Err(invalid(*kind)),
        },
        Kind::Str | Kind::Bytes => Gen::Text(Some(t.to_string())),
        Kind::Date | Kind::Timestamp { .. } => Gen::Int(Some(date_value(kind, pattern, t)?)),
    })
}

/// `random`: `"min,max"`. Long / double: a range; string / bytes: a length range; bool:
/// DataX's `"f,t"` weights of false and true; date: two dates (parsed like a value), or
/// two integers = days since 1970.
fn random_gen(
    kind: &mut Kind,
    pattern: Option<&DatePattern>,
    r: &str,
) -> std::result::Result<Gen, String> {
    let bad = || format!("expected \"min,max\", found \"{r}\"");
    let (a, b) = r.split_once(',').ok_or_else(bad)?;
    let (a, b) = (a.trim(), b.trim());
    Ok(match *kind {
        Kind::Double => {
            let (a, b) = (
                a.parse::<f64>().map_err(|_| bad())?,
                b.parse::<f64>().map_err(|_| bad())?,
            );
            Gen::RandFloat(a.min(b), a.max(b))
        }
        Kind::Str | Kind::Bytes => {
            let (a, b) = (
                a.parse::<usize>().map_err(|_| bad())?,
                b.parse::<usize>().map_err(|_| bad())?,
            );
            Gen::RandLen(a.min(b), a.max(b))
        }
        Kind::Bool => {
            let (f, t) = (
                a.parse::<u64>().map_err(|_| bad())?,
                b.parse::<u64>().map_err(|_| bad())?,
            );
            // DataX: equal weights (or both 0) = a coin; 0 false = always true.
            let p = if f == t {
                0.5
            } else {
                t as f64 / (f + t) as f64
            };
            Gen::RandBool(p)
        }
        Kind::Long => {
            let (a, b) = (
                a.parse::<i64>().map_err(|_| bad())?,
                b.parse::<i64>().map_err(|_| bad())?,
            );
            Gen::RandInt(a.min(b), a.max(b))
        }
        Kind::Date | Kind::Timestamp { .. } => {
            if pattern.is_none() {
                if let (Ok(x), Ok(y)) = (a.parse::<i64>(), b.parse::<i64>()) {
                    return Ok(Gen::RandInt(x.min(y), x.max(y)));
                }
            }
            let x = date_value(kind, pattern, a)?;
            let before = *kind;
            let y = date_value(kind, pattern, b)?;
            if before != *kind {
                // the first bound was a date, the second a date and time: redo the first
                let x = date_value(kind, pattern, a)?;
                return Ok(Gen::RandInt(x.min(y), x.max(y)));
            }
            Gen::RandInt(x.min(y), x.max(y))
        }
    })
}

/// Builds [`StreamReader`]s.
#[derive(Debug, Default)]
pub struct StreamReaderFactory;

#[async_trait]
impl ReaderFactory for StreamReaderFactory {
    fn name(&self) -> &'static str {
        "stream"
    }
    fn check(&self, params: &Value, path: &str, warnings: &mut Vec<String>) -> Result<()> {
        parse(params, path, warnings).map(|_| ())
    }
    async fn build(
        &self,
        params: &Value,
        path: &str,
        _ctx: &BuildContext,
    ) -> Result<Arc<dyn Reader>> {
        let mut w = Vec::new();
        let (cols, schema, cfg) = parse(params, path, &mut w)?;
        for m in w {
            tracing::warn!("{m}");
        }
        Ok(Arc::new(StreamReader {
            cols: Arc::new(cols),
            schema,
            rows: cfg.slice_record_count,
            batch_rows: cfg.batch_rows.map(|b| b.max(1) as usize),
        }))
    }
}

/// The synthetic reader.
#[derive(Debug)]
pub struct StreamReader {
    cols: Arc<Vec<Col>>,
    schema: SchemaRef,
    rows: u64,
    batch_rows: Option<usize>,
}

#[async_trait]
impl Reader for StreamReader {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    async fn plan(&self, channels: usize) -> Result<Vec<Split>> {
        (0..channels.max(1))
            .map(|i| {
                let mut s = Split::new(i, format!("slice {i}: {} records", self.rows), &self.rows)?;
                s.estimated_rows = Some(self.rows);
                Ok(s)
            })
            .collect()
    }

    async fn read(&self, split: &Split, opts: ReadOptions) -> Result<BatchStream> {
        let total: u64 = split.decode()?;
        let batch_rows = self.batch_rows.unwrap_or(opts.batch_rows).max(1);
        let cols = Arc::clone(&self.cols);
        let schema = Arc::clone(&self.schema);
        let stream = futures::stream::unfold(0u64, move |done| {
            let cols = Arc::clone(&cols);
            let schema = Arc::clone(&schema);
            async move {
                if done >= total {
                    return None;
                }
                let n = ((total - done) as usize).min(batch_rows);
                Some((make_batch(&cols, &schema, n), done + n as u64))
            }
        });
        Ok(Box::pin(stream))
    }
}

fn make_batch(cols: &[Col], schema: &SchemaRef, n: usize) -> Result<RecordBatch> {
    let mut rng = rand::rng();
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(cols.len());
    for c in cols {
        let arr: ArrayRef = match c.kind {
            Kind::Long | Kind::Date | Kind::Timestamp { .. } => {
                let mut v: Vec<Option<i64>> = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(match &c.gen {
                        Gen::Int(x) => *x,
                        Gen::RandInt(lo, hi) => Some(rng.random_range(*lo..=*hi)),
                        _ => None,
                    });
                }
                match c.kind {
                    Kind::Date => {
                        let mut b = Date32Builder::with_capacity(n);
                        for x in v {
                            b.append_option(x.and_then(|d| i32::try_from(d).ok()));
                        }
                        Arc::new(b.finish())
                    }
                    Kind::Timestamp { utc } => {
                        let a = TimestampMillisecondArray::from(v);
                        Arc::new(if utc { a.with_timezone("UTC") } else { a })
                    }
                    _ => Arc::new(Int64Array::from(v)),
                }
            }
            Kind::Double => {
                let mut b = Float64Builder::with_capacity(n);
                for _ in 0..n {
                    match &c.gen {
                        Gen::Float(x) => b.append_option(*x),
                        Gen::RandFloat(lo, hi) if hi > lo => {
                            b.append_value(rng.random_range(*lo..*hi))
                        }
                        Gen::RandFloat(lo, _) => b.append_value(*lo),
                        _ => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            Kind::Str => {
                let mut b = StringBuilder::with_capacity(n, n * 8);
                let mut s = String::new();
                for _ in 0..n {
                    match &c.gen {
                        Gen::Text(Some(t)) => b.append_value(t),
                        Gen::RandLen(lo, hi) => {
                            s.clear();
                            let len = rng.random_range(*lo..=*hi);
                            for _ in 0..len {
                                s.push(rng.random_range(b'a'..=b'z') as char);
                            }
                            b.append_value(&s);
                        }
                        _ => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            Kind::Bool => {
                let mut b = BooleanBuilder::with_capacity(n);
                for _ in 0..n {
                    match &c.gen {
                        Gen::Bool(x) => b.append_option(*x),
                        Gen::RandBool(p) => b.append_value(rng.random_bool(*p)),
                        _ => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            Kind::Bytes => {
                let mut b = BinaryBuilder::with_capacity(n, n * 8);
                for _ in 0..n {
                    match &c.gen {
                        Gen::Text(Some(t)) => b.append_value(t.as_bytes()),
                        Gen::RandLen(lo, hi) => {
                            let len = rng.random_range(*lo..=*hi);
                            let v: Vec<u8> = (0..len).map(|_| rng.random()).collect();
                            b.append_value(&v);
                        }
                        _ => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
        };
        arrays.push(arr);
    }
    Ok(RecordBatch::try_new(Arc::clone(schema), arrays)?)
}

/// The parameters, as `ferry job template` prints them (key, example value, when set,
/// type, default and meaning).
#[rustfmt::skip]
pub const PARAMS: &[Param] = &[
    param("column", "[{\"type\": \"long\", \"random\": \"1,1000\", \"name\": \"id\"}, {\"type\": \"string\", \"value\": \"hello\", \"name\": \"name\"}]", Set::Always, "list, required: {type: long|double|string|date|bool|bytes, value: constant | random: \"min,max\", name}"),
    param("sliceRecordCount", "10", Set::Always, "integer, default 1: rows per channel"),
    param("batchRows", "1024", Set::Never, "integer, default ferry's batch size: rows per batch"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::catalog::Catalog;
    use futures::StreamExt;
    use serde_json::json;

    fn ctx() -> BuildContext {
        BuildContext {
            catalog: Arc::new(Catalog::empty(None)),
            channels: 2,
            job_name: "t".into(),
            source_schema: None,
            run_id: "test".into(),
        }
    }

    #[tokio::test]
    async fn each_slice_yields_slice_record_count_rows() {
        let params = json!({"column": [{"type": "long", "value": "7"}, {"type": "string", "random": "3,5"}, {"type":"date","value":"2026-11-22"}], "sliceRecordCount": "1000", "batchRows": 300});
        let r = StreamReaderFactory
            .build(&params, "r", &ctx())
            .await
            .unwrap();
        let splits = r.plan(2).await.unwrap();
        assert_eq!(splits.len(), 2);
        let mut rows = 0;
        let mut s = r.read(&splits[1], ReadOptions::default()).await.unwrap();
        while let Some(b) = s.next().await {
            let b = b.unwrap();
            assert!(b.num_rows() > 0 && b.num_rows() <= 300);
            rows += b.num_rows();
        }
        assert_eq!(rows, 1000);
    }

    #[tokio::test]
    async fn bad_columns_are_config_errors() {
        let mut w = vec![];
        let e = StreamReaderFactory
            .check(
                &json!({"column": [{"type": "long", "value": "x"}]}),
                "r",
                &mut w,
            )
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "r.column[0].value: \"x\" is not a valid Long"
        );
        let e = StreamReaderFactory
            .check(&json!({"column": [{"type": "blob"}]}), "r", &mut w)
            .unwrap_err();
        assert!(e.to_string().starts_with("r.column[0].type: unknown type"));
        let e = StreamReaderFactory
            .check(&json!({"column": [], "sliceRecordcount": 1}), "r", &mut w)
            .unwrap_err();
        assert!(
            e.to_string().contains("did you mean \"sliceRecordCount\""),
            "{e}"
        );
    }

    /// The schema and the first batch of a one-channel reader over `column`.
    async fn first_batch(column: Value, rows: u64) -> (RecordBatch, Vec<String>) {
        let params = json!({"column": column, "sliceRecordCount": rows});
        let mut warnings = vec![];
        StreamReaderFactory
            .check(&params, "r", &mut warnings)
            .unwrap_or_else(|e| panic!("{e}"));
        let r = StreamReaderFactory
            .build(&params, "r", &ctx())
            .await
            .unwrap();
        let splits = r.plan(1).await.unwrap();
        let mut s = r.read(&splits[0], ReadOptions::default()).await.unwrap();
        (s.next().await.unwrap().unwrap(), warnings)
    }

    fn ms(s: &str) -> i64 {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
            .unwrap()
            .and_utc()
            .timestamp_millis()
    }

    #[tokio::test]
    async fn date_format_with_a_time_gives_timestamps() {
        use arrow::array::{Date32Array, TimestampMillisecondArray};
        let (b, w) = first_batch(
            json!([
                {"type": "date", "value": "2026-11-22 10:00:00", "dateFormat": "yyyy-MM-dd HH:mm:ss", "name": "at"},
                {"type": "date", "value": "22/11/2026", "dateFormat": "dd/MM/yyyy", "name": "day"},
                {"type": "date", "value": "2026-11-22 10:00:00+0800", "dateFormat": "yyyy-MM-dd HH:mm:ssZ", "name": "utc"},
                {"type": "date", "value": "2026-11-22 10:00:00", "name": "default_time"},
                {"type": "date", "value": "20261122", "name": "default_day"}
            ]),
            2,
        )
        .await;
        assert!(w.is_empty(), "{w:?}");
        let schema = b.schema();
        let types: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| f.data_type().to_string())
            .collect();
        assert_eq!(
            types,
            [
                "Timestamp(ms)",
                "Date32",
                "Timestamp(ms, \"UTC\")",
                "Timestamp(ms)",
                "Date32"
            ]
        );
        let ts = |i: usize| {
            b.column(i)
                .as_any()
                .downcast_ref::<TimestampMillisecondArray>()
                .unwrap()
                .value(1)
        };
        let day = |i: usize| {
            b.column(i)
                .as_any()
                .downcast_ref::<Date32Array>()
                .unwrap()
                .value(0)
        };
        assert_eq!(ts(0), ms("2026-11-22 10:00:00"));
        assert_eq!(ts(2), ms("2026-11-22 02:00:00"));
        assert_eq!(ts(3), ms("2026-11-22 10:00:00"));
        let d = (chrono::NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
            - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
        .num_days() as i32;
        assert_eq!(day(1), d);
        assert_eq!(day(4), d);
    }

    #[tokio::test]
    async fn random_dates_follow_the_date_format() {
        use arrow::array::{Array, Date32Array, TimestampMillisecondArray};
        let (b, _) = first_batch(
            json!([
                {"type": "date", "random": "2026-01-01 00:00:00,2026-01-01 00:00:09", "dateFormat": "yyyy-MM-dd HH:mm:ss"},
                {"type": "date", "random": "2026-01-01 00:00:00, 2026-01-01 00:00:09"},
                {"type": "date", "random": "0,3"}
            ]),
            200,
        )
        .await;
        let (lo, hi) = (ms("2026-01-01 00:00:00"), ms("2026-01-01 00:00:09"));
        for i in 0..2 {
            let a = b
                .column(i)
                .as_any()
                .downcast_ref::<TimestampMillisecondArray>()
                .unwrap();
            assert_eq!(a.null_count(), 0);
            assert!(a.values().iter().all(|v| (lo..=hi).contains(v)));
        }
        let a = b.column(2).as_any().downcast_ref::<Date32Array>().unwrap();
        assert!(a.values().iter().all(|v| (0..=3).contains(v)));
    }

    #[tokio::test]
    async fn datax_column_leniencies() {
        use arrow::array::{Array, BooleanArray, Int64Array, StringArray};
        let (b, w) = first_batch(
            json!([
                {"value": "no type is a string"},
                {"type": "", "value": "blank type too"},
                {"type": "LONG", "value": "7", "random": "1,2"},
                {"type": "bool", "random": "0,1"},
                {"type": "bool", "random": "1,0"},
                {"type": "string", "value": "x", "dateFormat": "yyyy"}
            ]),
            50,
        )
        .await;
        let s = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(s.value(0), "no type is a string");
        let s = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(s.value(0), "blank type too");
        let l = b.column(2).as_any().downcast_ref::<Int64Array>().unwrap();
        assert!(l.values().iter().all(|v| *v == 7), "the value wins");
        let t = b.column(3).as_any().downcast_ref::<BooleanArray>().unwrap();
        assert_eq!(t.true_count(), 50, "0 parts false, 1 part true");
        let f = b.column(4).as_any().downcast_ref::<BooleanArray>().unwrap();
        assert_eq!(f.true_count(), 0);
        assert_eq!(f.null_count(), 0);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].starts_with("r.column[2]: both value (\"7\") and random (\"1,2\") are given"),
            "{w:?}"
        );
        assert!(
            w[1].starts_with("r.column[5].dateFormat: ignored, the column's type is \"string\""),
            "{w:?}"
        );
    }

    #[tokio::test]
    async fn bad_dates_name_the_path() {
        let check = |column: Value| {
            let mut w = vec![];
            StreamReaderFactory
                .check(&json!({"column": [column]}), "r", &mut w)
                .unwrap_err()
                .to_string()
        };
        let e = check(
            json!({"type": "date", "value": "2026-11-22 10:00", "dateFormat": "yyyy-MM-dd kk:mm"}),
        );
        assert!(
            e.starts_with("r.column[0].dateFormat: pattern letter 'k' (hour 1-24) in \"yyyy-MM-dd kk:mm\" is not supported"),
            "{e}"
        );
        let e = check(json!({"type": "date", "value": "2026/11/22", "dateFormat": "yyyy-MM-dd"}));
        assert!(
            e.starts_with(
                "r.column[0].value: \"2026/11/22\" does not match dateFormat \"yyyy-MM-dd\""
            ),
            "{e}"
        );
        let e = check(json!({"type": "date", "value": "22.11.2026"}));
        assert!(
            e.starts_with("r.column[0].value: \"22.11.2026\" is not a valid Date"),
            "{e}"
        );
        assert!(e.contains("give \"dateFormat\""), "{e}");
        let e =
            check(json!({"type": "date", "random": "2026-01-01,x", "dateFormat": "yyyy-MM-dd"}));
        assert!(
            e.starts_with("r.column[0].random: \"x\" does not match"),
            "{e}"
        );
    }
}
