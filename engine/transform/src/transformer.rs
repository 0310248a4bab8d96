//! DataX transformers (`dx_substr`, `dx_pad`, `dx_replace`, `dx_filter`) and ferry's
//! `dx_sql`, each compiled once into a DataFusion physical expression.
//!
//! `columnIndex` is the 0-based position in the reader's column list. Semantics follow
//! DataX: `dx_substr` / `dx_replace` leave NULL as NULL and make the record dirty when
//! the start is past the end of the text; `dx_pad` pads NULL as an empty text and cuts
//! a longer text to the length; `dx_filter` drops the rows that *match* (counted as
//! filtered); `like` / `not like` take a regular expression matched against the whole
//! value, as DataX's Java `String.matches` does.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray};
use arrow::compute::{concat, not};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::common::{Column, ScalarValue};
use datafusion::functions::expr_fn::{
    character_length, coalesce, left, lpad, regexp_like, rpad, substr, substring,
};
use datafusion::logical_expr::{binary_expr, cast, is_not_null, is_null, lit, Expr, Operator};
use ferry_core::job::TransformerSpec;
use ferry_core::{Error, Result};
use serde_json::Value;

use crate::expr::{Compiled, Planner};

/// Transformer names ferry runs.
pub const SUPPORTED: &[&str] = &["dx_substr", "dx_pad", "dx_replace", "dx_filter", "dx_sql"];

/// What a compiled transformer does to a batch.
#[derive(Debug)]
pub(crate) enum Action {
    /// Replace column `column` with `value`; rows where `fail` holds are dirty.
    Map {
        column: usize,
        value: Compiled,
        fail: Option<(Compiled, String)>,
    },
    /// Drop the rows where `drop` holds (counted as filtered).
    Filter { drop: Compiled },
}

/// One compiled transformer.
#[derive(Debug)]
pub(crate) struct Step {
    /// `dx_substr` etc. with its JSON path, for messages.
    pub label: String,
    /// The schema of the batches it sees.
    pub schema: SchemaRef,
    /// What it does.
    pub action: Action,
}

/// What a [`Step`] gave for one batch.
pub(crate) enum Outcome {
    /// The new column, and the rows that failed with their reason.
    Mapped {
        column: usize,
        array: ArrayRef,
        failed: Vec<(usize, String)>,
    },
    /// A keep-mask (`true` = keep).
    Filtered(BooleanArray),
}

impl Step {
    /// Apply to `batch` (which has [`Step::schema`]).
    pub fn apply(&self, batch: &RecordBatch) -> Result<Outcome> {
        match &self.action {
            Action::Map {
                column,
                value,
                fail,
            } => {
                let mut failed = Vec::new();
                if let Some((cond, reason)) = fail {
                    let mask = cond.evaluate_mask(batch, &self.label)?;
                    failed.extend(mask.values().set_indices().map(|i| (i, reason.clone())));
                }
                let array = match value.evaluate(batch, &self.label) {
                    Ok(a) => a,
                    // A vectorised error fails the whole batch: find the rows at fault
                    // one by one (error path only) and make just those dirty.
                    Err(_) => self.row_by_row(value, batch, &mut failed)?,
                };
                Ok(Outcome::Mapped {
                    column: *column,
                    array,
                    failed,
                })
            }
            Action::Filter { drop } => {
                let mask = drop.evaluate_mask(batch, &self.label)?;
                Ok(Outcome::Filtered(not(&mask)?))
            }
        }
    }

    fn row_by_row(
        &self,
        value: &Compiled,
        batch: &RecordBatch,
        failed: &mut Vec<(usize, String)>,
    ) -> Result<ArrayRef> {
        let mut parts = Vec::with_capacity(batch.num_rows());
        for i in 0..batch.num_rows() {
            match value.evaluate(&batch.slice(i, 1), &self.label) {
                Ok(a) => parts.push(a),
                Err(e) => {
                    if !failed.iter().any(|(r, _)| *r == i) {
                        failed.push((i, e.to_string()));
                    }
                    parts.push(arrow::array::new_null_array(&value.data_type, 1));
                }
            }
        }
        failed.sort_by_key(|(r, _)| *r);
        let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
        Ok(concat(&refs)?)
    }
}

/// Compile `specs` in order over a layout `schema`; returns the steps and the schema
/// after the last one.
pub(crate) fn compile_all(
    specs: &[TransformerSpec],
    schema: SchemaRef,
) -> Result<(Vec<Step>, SchemaRef)> {
    let mut steps = Vec::with_capacity(specs.len());
    let mut schema = schema;
    for spec in specs {
        let step = compile(spec, Arc::clone(&schema))?;
        if let Action::Map { column, value, .. } = &step.action {
            let mut fields: Vec<Field> =
                schema.fields().iter().map(|f| f.as_ref().clone()).collect();
            fields[*column] = Field::new(fields[*column].name(), value.data_type.clone(), true);
            schema = Arc::new(Schema::new(fields));
        }
        steps.push(step);
    }
    Ok((steps, schema))
}

fn compile(spec: &TransformerSpec, schema: SchemaRef) -> Result<Step> {
    let path = &spec.path;
    let label = format!("{} ({path})", spec.name);
    let name = spec.name.trim().to_ascii_lowercase();
    let planner = Planner::new(&schema)?;
    let params_path = format!("{path}.parameter");
    let params = Params::new(&spec.parameter, &params_path)?;
    let action = match name.as_str() {
        "dx_groovy" => {
            return Err(Error::config(format!(
                "{path}.name: dx_groovy is not supported; use dx_sql"
            )))
        }
        "dx_substr" => {
            params.only(&["columnIndex", "paras"])?;
            let column = params.column_index(schema.fields().len())?;
            let paras = params.paras(2)?;
            let start = params.number(&paras, 0, "start")?;
            let length = params.number(&paras, 1, "length")?;
            let s = text(&schema, column);
            let value = substring(s.clone(), lit(start + 1), lit(length));
            let fail = start_past_end(s, start);
            Action::Map {
                column,
                value: planner.compile_expr(value, &spec.name, path, "transformer")?,
                fail: Some((
                    planner.compile_expr(fail, &spec.name, path, "transformer")?,
                    format!("{}: start {start} is past the end of the value", spec.name),
                )),
            }
        }
        "dx_replace" => {
            params.only(&["columnIndex", "paras"])?;
            let column = params.column_index(schema.fields().len())?;
            let paras = params.paras(3)?;
            let start = params.number(&paras, 0, "start")?;
            let length = params.number(&paras, 1, "length")?;
            let replacement = paras[2].clone();
            let s = text(&schema, column);
            let value = binary_expr(
                binary_expr(
                    left(s.clone(), lit(start)),
                    Operator::StringConcat,
                    lit(replacement),
                ),
                Operator::StringConcat,
                substr(s.clone(), lit(start + length + 1)),
            );
            let fail = start_past_end(s, start);
            Action::Map {
                column,
                value: planner.compile_expr(value, &spec.name, path, "transformer")?,
                fail: Some((
                    planner.compile_expr(fail, &spec.name, path, "transformer")?,
                    format!("{}: start {start} is past the end of the value", spec.name),
                )),
            }
        }
        "dx_pad" => {
            params.only(&["columnIndex", "paras"])?;
            let column = params.column_index(schema.fields().len())?;
            let paras = params.paras(3)?;
            let length = params.number(&paras, 1, "length")?;
            let pad = paras[2].clone();
            if pad.is_empty() {
                return Err(Error::config(format!(
                    "{path}.parameter.paras[2]: the pad string must not be empty"
                )));
            }
            let s = coalesce(vec![text(&schema, column), lit("")]);
            let value = match paras[0].to_ascii_lowercase().as_str() {
                "l" => lpad(vec![s, lit(length), lit(pad)]),
                "r" => rpad(vec![s, lit(length), lit(pad)]),
                other => {
                    return Err(Error::config(format!(
                    "{path}.parameter.paras[0]: \"{other}\" is not a pad side; use \"l\" or \"r\""
                )))
                }
            };
            Action::Map {
                column,
                value: planner.compile_expr(value, &spec.name, path, "transformer")?,
                fail: None,
            }
        }
        "dx_filter" => {
            params.only(&["columnIndex", "paras"])?;
            let column = params.column_index(schema.fields().len())?;
            let paras = params.paras(2)?;
            let drop = filter_expr(&schema, column, &paras[0], &paras[1], path)?;
            Action::Filter {
                drop: planner.compile_expr(drop, &spec.name, path, "transformer")?,
            }
        }
        "dx_sql" => {
            params.only(&["columnIndex", "expr"])?;
            let column = params.column_index(schema.fields().len())?;
            let sql = params.string("expr")?;
            let expr_path = format!("{path}.parameter.expr");
            Action::Map {
                column,
                value: planner.compile_sql(&sql, &expr_path, "expression")?,
                fail: None,
            }
        }
        _ => {
            return Err(Error::config(format!(
                "{path}.name: unknown transformer \"{}\"{}; ferry runs {}",
                spec.name,
                crate::expr::nearest(
                    &name,
                    &SUPPORTED.iter().map(|s| s.to_string()).collect::<Vec<_>>()
                )
                .map(|n| format!(", did you mean \"{n}\"?"))
                .unwrap_or_default(),
                SUPPORTED.join(", ")
            )))
        }
    };
    Ok(Step {
        label,
        schema,
        action,
    })
}

/// Column `i` of `schema` as an expression.
fn column(schema: &Schema, i: usize) -> Expr {
    Expr::Column(Column::new_unqualified(schema.field(i).name()))
}

/// Column `i` as text (DataX transformers work on `asString()`).
fn text(schema: &Schema, i: usize) -> Expr {
    let c = column(schema, i);
    if schema.field(i).data_type() == &DataType::Utf8 {
        c
    } else {
        cast(c, DataType::Utf8)
    }
}

/// `character_length(s) < start`: the start is past the end (NULL stays NULL).
fn start_past_end(s: Expr, start: i64) -> Expr {
    binary_expr(character_length(s), Operator::Lt, lit(start))
}

/// The rows `dx_filter` drops: those for which `column op value` holds.
fn filter_expr(schema: &Schema, i: usize, op: &str, value: &str, path: &str) -> Result<Expr> {
    let c = column(schema, i);
    let field = schema.field(i);
    let op_lc = op.trim().to_ascii_lowercase();
    let is_null_value = value.eq_ignore_ascii_case("null");
    match op_lc.as_str() {
        "like" | "not like" => {
            let pattern = format!("^(?:{value})$");
            regex::Regex::new(&pattern).map_err(|e| {
                Error::config(format!(
                    "{path}.parameter.paras[1]: \"{value}\" is not a valid regular expression: {e}"
                ))
            })?;
            let m = regexp_like(text(schema, i), lit(pattern), None);
            Ok(if op_lc == "like" {
                m
            } else {
                datafusion::logical_expr::not(m)
            })
        }
        "=" if is_null_value => Ok(is_null(c)),
        "!=" if is_null_value => Ok(is_not_null(c)),
        "=" | "!=" | ">" | "<" | ">=" | "<=" => {
            let operator = match op_lc.as_str() {
                "=" => Operator::Eq,
                "!=" => Operator::NotEq,
                ">" => Operator::Gt,
                "<" => Operator::Lt,
                ">=" => Operator::GtEq,
                _ => Operator::LtEq,
            };
            let dt = field.data_type();
            if let Ok(v) = ScalarValue::Utf8(Some(value.to_string())).cast_to(dt) {
                if !v.is_null() {
                    return Ok(binary_expr(c, operator, lit(v)));
                }
            }
            if dt.is_numeric() {
                if let Ok(f) = value.trim().parse::<f64>() {
                    return Ok(binary_expr(cast(c, DataType::Float64), operator, lit(f)));
                }
            }
            Err(Error::config(format!(
                "{path}.parameter.paras[1]: \"{value}\" cannot be compared with column {} ({dt})",
                field.name()
            )))
        }
        other => Err(Error::config(format!(
            "{path}.parameter.paras[0]: \"{other}\" is not a dx_filter operator; use one of =, !=, >, <, >=, <=, like, not like"
        ))),
    }
}

/// A transformer's `parameter` object, read strictly.
struct Params<'a> {
    obj: &'a serde_json::Map<String, Value>,
    path: &'a str,
}

impl<'a> Params<'a> {
    fn new(v: &'a Value, path: &'a str) -> Result<Self> {
        match v {
            Value::Object(obj) => Ok(Params { obj, path }),
            _ => Err(Error::config(format!("{path}: expected an object"))),
        }
    }

    fn only(&self, keys: &[&str]) -> Result<()> {
        for k in self.obj.keys() {
            if !keys.contains(&k.as_str()) {
                let hint = crate::expr::nearest(
                    k,
                    &keys.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                )
                .map(|n| format!(", did you mean \"{n}\"?"))
                .unwrap_or_default();
                return Err(Error::config(format!(
                    "{}.{k}: unknown field{hint} (expected {})",
                    self.path,
                    keys.join(", ")
                )));
            }
        }
        Ok(())
    }

    fn column_index(&self, width: usize) -> Result<usize> {
        let path = format!("{}.columnIndex", self.path);
        let v = self
            .obj
            .get("columnIndex")
            .ok_or_else(|| Error::config(format!("{path}: missing")))?;
        let i = match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        }
        .ok_or_else(|| Error::config(format!("{path}: expected a column position, got {v}")))?;
        let i = usize::try_from(i).unwrap_or(usize::MAX);
        if i >= width {
            return Err(Error::config(format!(
                "{path}: column {i} does not exist; the reader gives {width} columns (0 to {})",
                width.saturating_sub(1)
            )));
        }
        Ok(i)
    }

    fn paras(&self, n: usize) -> Result<Vec<String>> {
        let path = format!("{}.paras", self.path);
        let v = self
            .obj
            .get("paras")
            .ok_or_else(|| Error::config(format!("{path}: missing")))?;
        let arr = v
            .as_array()
            .ok_or_else(|| Error::config(format!("{path}: expected a list")))?;
        if arr.len() != n {
            return Err(Error::config(format!(
                "{path}: expected {n} values, got {}",
                arr.len()
            )));
        }
        arr.iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(Error::config(format!(
                    "{path}[{i}]: expected a string, got {v}"
                ))),
            })
            .collect()
    }

    fn number(&self, paras: &[String], i: usize, what: &str) -> Result<i64> {
        paras[i].trim().parse::<u32>().map(i64::from).map_err(|_| {
            Error::config(format!(
                "{}.paras[{i}]: the {what} must be a whole number ≥ 0, got \"{}\"",
                self.path, paras[i]
            ))
        })
    }

    fn string(&self, key: &str) -> Result<String> {
        let path = format!("{}.{key}", self.path);
        match self.obj.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
            Some(v) => Err(Error::config(format!(
                "{path}: expected an SQL expression, got {v}"
            ))),
            None => Err(Error::config(format!("{path}: missing"))),
        }
    }
}
