//! Constant columns (`'abc'`, `123`, `true`, `null` in a reader's `column` list),
//! typed after the writer's column they land in.
//!
//! The value is converted once at compile time (so `'2026-11-22'` into a `Date32`
//! column is parsed once, and `'abc'` into an integer column fails before data moves);
//! per batch the transform only repeats it, reusing the largest array built so far.

use std::sync::{Arc, Mutex};

use arrow::array::{new_null_array, Array, ArrayRef, BooleanArray, StringArray};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::Field;
use datafusion::common::ScalarValue;
use ferry_core::plugin::ConstantValue;
use ferry_core::{Error, Result};

use crate::cast::{is_string, max_chars};

/// A constant column, compiled.
#[derive(Debug)]
pub(crate) struct Constant {
    value: ScalarValue,
    /// The largest array made so far; shorter ones are slices of it.
    cache: Mutex<Option<ArrayRef>>,
}

/// How a constant is written in the job, for messages.
pub(crate) fn display(c: &ConstantValue) -> String {
    match c {
        ConstantValue::Text(t) => format!("'{}'", t.replace('\'', "''")),
        ConstantValue::Number(n) => n.clone(),
        ConstantValue::Bool(b) => b.to_string(),
        ConstantValue::Null => "null".to_string(),
    }
}

impl Constant {
    /// Type `c` after `target`; fails when the value does not convert.
    pub fn compile(c: &ConstantValue, target: &Field, path: &str) -> Result<Self> {
        let to = target.data_type();
        let fail = |why: String| {
            Error::config(format!(
                "{path}: constant {} cannot be written to column {} ({to}): {why}",
                display(c),
                target.name()
            ))
        };
        let one: ArrayRef = match c {
            ConstantValue::Null => {
                if !target.is_nullable() {
                    return Err(fail("the column is not nullable".into()));
                }
                new_null_array(to, 1)
            }
            ConstantValue::Text(t) | ConstantValue::Number(t) => {
                Arc::new(StringArray::from(vec![t.as_str()]))
            }
            ConstantValue::Bool(b) => Arc::new(BooleanArray::from(vec![*b])),
        };
        let opts = CastOptions {
            safe: false,
            ..Default::default()
        };
        let typed = cast_with_options(&one, to, &opts).map_err(|e| fail(e.to_string()))?;
        if typed.null_count() > 0 && !matches!(c, ConstantValue::Null) {
            return Err(fail("the value does not convert".into()));
        }
        if is_string(to) {
            if let (Some(max), ConstantValue::Text(t) | ConstantValue::Number(t)) =
                (max_chars(target, path)?, c)
            {
                let n = t.chars().count();
                if n > max {
                    return Err(fail(format!(
                        "it has {n} characters and the column takes {max}"
                    )));
                }
            }
        }
        let value = ScalarValue::try_from_array(&typed, 0).map_err(|e| fail(e.to_string()))?;
        Ok(Constant {
            value,
            cache: Mutex::new(None),
        })
    }

    /// The constant repeated `n` times.
    pub fn array(&self, n: usize) -> Result<ArrayRef> {
        let mut cache = self
            .cache
            .lock()
            .map_err(|_| Error::internal("constant cache lock poisoned"))?;
        if let Some(a) = cache.as_ref() {
            if a.len() >= n {
                return Ok(a.slice(0, n));
            }
        }
        let a = self
            .value
            .to_array_of_size(n)
            .map_err(|e| Error::internal(format!("constant column: {e}")))?;
        *cache = Some(Arc::clone(&a));
        Ok(a)
    }
}
