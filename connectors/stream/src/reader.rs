//! `streamreader`: constant or random columns, `sliceRecordCount` rows per channel.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder,
    StringBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use ferry_core::params::{self, lenient_opt_u64, lenient_u64};
use ferry_core::plugin::{BatchStream, BuildContext, ReadOptions, Reader, ReaderFactory, Split};
use ferry_core::{Error, Result};
use rand::Rng;
use serde::Deserialize;
use serde_json::Value;

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ColumnConfig {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    random: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Clone)]
enum Gen {
    Const(Option<String>),
    RandInt(i64, i64),
    RandFloat(f64, f64),
    RandLen(usize, usize),
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
    Date,
    Bool,
    Bytes,
}

const IGNORED: &[&str] = &["encoding"];

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
        let kind = match c.kind.to_ascii_lowercase().as_str() {
            "long" | "int" | "bigint" => Kind::Long,
            "double" | "float" => Kind::Double,
            "string" => Kind::Str,
            "date" => Kind::Date,
            "bool" | "boolean" => Kind::Bool,
            "bytes" => Kind::Bytes,
            other => {
                return Err(Error::config(format!(
                    "{at}.type: unknown type \"{other}\"; use long, double, string, date, bool or bytes"
                )))
            }
        };
        let gen = match (&c.value, &c.random) {
            (Some(_), Some(_)) => {
                return Err(Error::config(format!(
                    "{at}: give value or random, not both"
                )))
            }
            (Some(v), None) => {
                let text = match v {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                };
                if let Some(t) = &text {
                    check_const(kind, t).map_err(|m| Error::config(format!("{at}.value: {m}")))?;
                }
                Gen::Const(text)
            }
            (None, Some(r)) => {
                let (a, b) = r.split_once(',').ok_or_else(|| {
                    Error::config(format!("{at}.random: expected \"min,max\", found \"{r}\""))
                })?;
                let bad =
                    || Error::config(format!("{at}.random: expected \"min,max\", found \"{r}\""));
                match kind {
                    Kind::Double => {
                        let (a, b) = (
                            a.trim().parse::<f64>().map_err(|_| bad())?,
                            b.trim().parse::<f64>().map_err(|_| bad())?,
                        );
                        Gen::RandFloat(a.min(b), a.max(b))
                    }
                    Kind::Str | Kind::Bytes => {
                        let (a, b) = (
                            a.trim().parse::<usize>().map_err(|_| bad())?,
                            b.trim().parse::<usize>().map_err(|_| bad())?,
                        );
                        Gen::RandLen(a.min(b), a.max(b))
                    }
                    _ => {
                        let (a, b) = (
                            a.trim().parse::<i64>().map_err(|_| bad())?,
                            b.trim().parse::<i64>().map_err(|_| bad())?,
                        );
                        Gen::RandInt(a.min(b), a.max(b))
                    }
                }
            }
            (None, None) => Gen::Const(None),
        };
        let dt = match kind {
            Kind::Long => DataType::Int64,
            Kind::Double => DataType::Float64,
            Kind::Str => DataType::Utf8,
            Kind::Date => DataType::Date32,
            Kind::Bool => DataType::Boolean,
            Kind::Bytes => DataType::Binary,
        };
        let name = c.name.clone().unwrap_or_else(|| format!("col{}", i + 1));
        fields.push(Field::new(name, dt, true));
        cols.push(Col { kind, gen });
    }
    Ok((cols, Arc::new(Schema::new(fields)), cfg))
}

fn check_const(kind: Kind, t: &str) -> std::result::Result<(), String> {
    let ok = match kind {
        Kind::Long => t.trim().parse::<i64>().is_ok(),
        Kind::Double => t.trim().parse::<f64>().is_ok(),
        Kind::Date => parse_date(t).is_some(),
        Kind::Bool => matches!(t.trim().to_ascii_lowercase().as_str(), "true" | "false"),
        Kind::Str | Kind::Bytes => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("\"{t}\" is not a valid {kind:?}"))
    }
}

fn parse_date(t: &str) -> Option<i32> {
    let t = t.trim();
    let d = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .or_else(|_| chrono::NaiveDate::parse_from_str(t, "%Y%m%d"))
        .or_else(|_| chrono::NaiveDate::parse_from_str(t.get(..10).unwrap_or(""), "%Y-%m-%d"))
        .ok()?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from((d - epoch).num_days()).ok()
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
        Ok((0..channels.max(1))
            .map(|i| {
                let mut s = Split::new(i, format!("slice {i}: {} records", self.rows), self.rows);
                s.estimated_rows = Some(self.rows);
                s
            })
            .collect())
    }

    async fn read(&self, split: &Split, opts: ReadOptions) -> Result<BatchStream> {
        let total = *split
            .payload::<u64>()
            .ok_or_else(|| Error::internal("stream split payload"))?;
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
            Kind::Long => {
                let mut b = Int64Builder::with_capacity(n);
                for _ in 0..n {
                    match &c.gen {
                        Gen::Const(None) => b.append_null(),
                        Gen::Const(Some(t)) => b.append_value(t.trim().parse().unwrap_or_default()),
                        Gen::RandInt(lo, hi) => b.append_value(rng.random_range(*lo..=*hi)),
                        _ => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            Kind::Double => {
                let mut b = Float64Builder::with_capacity(n);
                for _ in 0..n {
                    match &c.gen {
                        Gen::Const(Some(t)) => b.append_value(t.trim().parse().unwrap_or_default()),
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
                        Gen::Const(Some(t)) => b.append_value(t),
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
            Kind::Date => {
                let mut b = Date32Builder::with_capacity(n);
                let constant = match &c.gen {
                    Gen::Const(Some(t)) => parse_date(t),
                    _ => None,
                };
                for _ in 0..n {
                    match &c.gen {
                        Gen::RandInt(lo, hi) => b.append_value(rng.random_range(*lo..=*hi) as i32),
                        _ => b.append_option(constant),
                    }
                }
                Arc::new(b.finish())
            }
            Kind::Bool => {
                let mut b = BooleanBuilder::with_capacity(n);
                for _ in 0..n {
                    match &c.gen {
                        Gen::Const(Some(t)) => {
                            b.append_value(t.trim().eq_ignore_ascii_case("true"))
                        }
                        Gen::Const(None) => b.append_null(),
                        _ => b.append_value(rng.random_bool(0.5)),
                    }
                }
                Arc::new(b.finish())
            }
            Kind::Bytes => {
                let mut b = BinaryBuilder::with_capacity(n, n * 8);
                for _ in 0..n {
                    match &c.gen {
                        Gen::Const(Some(t)) => b.append_value(t.as_bytes()),
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
}
