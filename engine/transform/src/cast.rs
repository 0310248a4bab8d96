//! Casts to the writer's column types, with every value that does not fit caught.
//!
//! Arrow's cast kernel runs with `safe` options (a value that does not convert becomes
//! NULL); the result's validity is then compared with the input's, and every row that
//! was non-NULL before and NULL after is a fault, as is a float or decimal with a
//! fraction cast to an integer (Arrow truncates those silently), a text longer than
//! the column's `ferry.max_chars`, and a NULL in a non-nullable column. The transform
//! turns faults into dirty records; nothing is turned into NULL silently.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayAccessor, ArrayRef, AsArray, BooleanArray, GenericStringArray, OffsetSizeTrait,
    StringViewArray,
};
use arrow::buffer::NullBuffer;
use arrow::compute::kernels::boolean::and;
use arrow::compute::kernels::zip::zip;
use arrow::compute::{
    can_cast_types, cast_with_options, is_not_null, is_null, nullif, CastOptions,
};
use arrow::datatypes::{DataType, Decimal128Type, Field, Float64Type, TimeUnit};
use ferry_core::plugin::meta;
use ferry_core::{Error, Result};

/// Why a value could not go into its column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The cast kernel could not convert it (overflow, unparsable text, NaN...).
    Cast,
    /// A float or decimal with a fraction into an integer column.
    Fraction,
    /// A text with more characters than the column takes.
    TooLong(usize),
    /// NULL into a non-nullable column.
    Null,
}

/// Whether a float/decimal → integer cast must be checked for exactness.
#[derive(Debug, Clone, Copy)]
enum Exactness {
    /// Nothing to check.
    None,
    /// Floats: the value must be whole.
    Float,
    /// Decimal128 with this scale: the value must be a multiple of 10^scale.
    Decimal(i8),
}

/// The cast of one layout column into its target column, compiled once.
#[derive(Debug, Clone)]
pub(crate) struct ColumnCast {
    /// Target column name.
    pub name: String,
    target: DataType,
    nullable: bool,
    max_chars: Option<usize>,
    empty_as_null: bool,
    exactness: Exactness,
    identity: bool,
    /// Text into a date: a timestamp text (`2026-11-22 10:00:00`) gives its date.
    date_from_text: bool,
}

/// Whether a type holds text.
pub(crate) fn is_string(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

fn is_binary(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_)
    )
}

fn is_float(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Float16 | DataType::Float32 | DataType::Float64
    )
}

/// The `ferry.max_chars` limit of a target field, if it has one.
pub(crate) fn max_chars(field: &Field, path: &str) -> Result<Option<usize>> {
    match field.metadata().get(meta::MAX_CHARS) {
        None => Ok(None),
        Some(v) => v.trim().parse::<usize>().map(Some).map_err(|_| {
            Error::schema(format!(
                "{path}: column {} has {} = {v:?}, which is not a number of characters",
                field.name(),
                meta::MAX_CHARS
            ))
        }),
    }
}

impl ColumnCast {
    /// Compile the cast of a column of type `from` (named `from_name`, for messages)
    /// into `target`. Fails when Arrow cannot cast between the two types at all.
    pub fn compile(
        from: &DataType,
        from_name: &str,
        target: &Field,
        empty_as_null: bool,
        path: &str,
    ) -> Result<Self> {
        let to = target.data_type();
        if from != to && *from != DataType::Null && !can_cast_types(from, to) {
            return Err(Error::schema(format!(
                "{path}: column {from_name} ({from}) cannot be written to column {} ({to}); \
                 map it to a column of a compatible type or convert it with a dx_sql transformer",
                target.name()
            )));
        }
        let max_chars = if is_string(to) {
            max_chars(target, path)?
        } else {
            None
        };
        let exactness = if to.is_integer() {
            match from {
                f if is_float(f) => Exactness::Float,
                DataType::Decimal128(_, s) if *s > 0 => Exactness::Decimal(*s),
                _ => Exactness::None,
            }
        } else {
            Exactness::None
        };
        Ok(ColumnCast {
            name: target.name().clone(),
            target: to.clone(),
            nullable: target.is_nullable(),
            max_chars,
            empty_as_null: empty_as_null && is_string(from) && !is_string(to) && !is_binary(to),
            exactness,
            identity: from == to,
            date_from_text: is_string(from) && matches!(to, DataType::Date32 | DataType::Date64),
        })
    }

    /// Whether this cast is free: same type, no limits to check.
    pub fn is_noop(&self) -> bool {
        self.identity && self.nullable && self.max_chars.is_none()
    }

    /// Cast `arr`, appending `(row, fault)` for every value that does not fit (one
    /// fault per row at most). Faulty rows are NULL in the result.
    pub fn apply(&self, arr: &ArrayRef, faults: &mut Vec<(usize, Fault)>) -> Result<ArrayRef> {
        if self.is_noop() {
            return Ok(Arc::clone(arr));
        }
        let mut input = Arc::clone(arr);
        if self.empty_as_null {
            if let Some(mask) = empty_strings(&input) {
                input = nullif(&input, &mask)?;
            }
        }
        let first_fault = faults.len();
        match self.exactness {
            Exactness::None => {}
            Exactness::Float => {
                let f = cast_with_options(&input, &DataType::Float64, &CastOptions::default())?;
                let f = f.as_primitive::<Float64Type>();
                let bad = mark(f.len(), |i| {
                    f.is_valid(i) && f.value(i).is_finite() && f.value(i).fract() != 0.0
                });
                input = self.drop_fraction(input, bad, faults)?;
            }
            Exactness::Decimal(scale) => {
                let d = input.as_primitive::<Decimal128Type>();
                let unit = 10i128.pow(u32::from(scale.unsigned_abs()));
                let bad = mark(d.len(), |i| d.is_valid(i) && d.value(i) % unit != 0);
                input = self.drop_fraction(input, bad, faults)?;
            }
        }
        let mut out = if self.identity {
            Arc::clone(&input)
        } else {
            cast_with_options(&input, &self.target, &CastOptions::default())?
        };
        if self.date_from_text && out.logical_null_count() > input.logical_null_count() {
            out = dates_from_timestamps(&input, out)?;
        }
        let in_nulls = input.logical_nulls();
        let out_nulls = out.logical_nulls();
        let in_null_count = in_nulls.as_ref().map_or(0, NullBuffer::null_count);
        let out_null_count = out_nulls.as_ref().map_or(0, NullBuffer::null_count);
        let mut failed: Option<Vec<bool>> = None;
        if out_null_count > in_null_count {
            let mut f = vec![false; out.len()];
            for (i, slot) in f.iter_mut().enumerate() {
                let was = in_nulls.as_ref().is_none_or(|n| n.is_valid(i));
                let now = out_nulls.as_ref().is_none_or(|n| n.is_valid(i));
                if was && !now {
                    faults.push((i, Fault::Cast));
                    *slot = true;
                }
            }
            failed = Some(f);
        }
        if let Some(max) = self.max_chars {
            long_strings(&out, max, faults);
        }
        if !self.nullable && out_null_count > 0 {
            let fraction_rows: Vec<usize> = faults[first_fault..]
                .iter()
                .filter(|(_, f)| *f == Fault::Fraction)
                .map(|(r, _)| *r)
                .collect();
            if let Some(n) = &out_nulls {
                for i in (0..n.len()).filter(|i| n.is_null(*i)) {
                    let cast_failed = failed.as_ref().is_some_and(|f| f[i]);
                    if !cast_failed && fraction_rows.binary_search(&i).is_err() {
                        faults.push((i, Fault::Null));
                    }
                }
            }
        }
        Ok(out)
    }

    fn drop_fraction(
        &self,
        input: ArrayRef,
        bad: Option<BooleanArray>,
        faults: &mut Vec<(usize, Fault)>,
    ) -> Result<ArrayRef> {
        match bad {
            None => Ok(input),
            Some(mask) => {
                faults.extend(mask.values().set_indices().map(|i| (i, Fault::Fraction)));
                Ok(nullif(&input, &mask)?)
            }
        }
    }

    /// The reason of a dirty record for a fault on `value`.
    pub fn reason(&self, fault: Fault, value: &str) -> String {
        match fault {
            Fault::Cast => format!("cannot cast \"{value}\" to {}", self.target),
            Fault::Fraction => format!(
                "cannot cast \"{value}\" to {}: it has a fraction and the column takes whole numbers",
                self.target
            ),
            Fault::TooLong(n) => format!(
                "text of {n} characters is longer than the {} that column {} takes ({})",
                self.max_chars.unwrap_or_default(),
                self.name,
                meta::MAX_CHARS
            ),
            Fault::Null => format!("NULL in non-nullable column {}", self.name),
        }
    }
}

/// Where text did not parse as a date, try it as a timestamp and take its date.
fn dates_from_timestamps(input: &ArrayRef, out: ArrayRef) -> Result<ArrayRef> {
    let ts = cast_with_options(
        input,
        &DataType::Timestamp(TimeUnit::Microsecond, None),
        &CastOptions::default(),
    )?;
    let second = cast_with_options(&ts, out.data_type(), &CastOptions::default())?;
    let take_second = and(&is_null(&out)?, &is_not_null(&second)?)?;
    Ok(zip(&take_second, &second, &out)?)
}

/// A mask of the rows for which `bad` holds, or `None` when there are none.
fn mark(len: usize, bad: impl Fn(usize) -> bool) -> Option<BooleanArray> {
    let mut any = false;
    let mask: BooleanArray = (0..len)
        .map(|i| {
            let b = bad(i);
            any |= b;
            Some(b)
        })
        .collect();
    any.then_some(mask)
}

/// Rows holding an empty string, or `None` when there are none (or `arr` is not text).
fn empty_strings(arr: &ArrayRef) -> Option<BooleanArray> {
    fn scan<'a, A: ArrayAccessor<Item = &'a str>>(a: A) -> Option<BooleanArray> {
        mark(a.len(), |i| a.is_valid(i) && a.value(i).is_empty())
    }
    match arr.data_type() {
        DataType::Utf8 => scan(arr.as_string::<i32>()),
        DataType::LargeUtf8 => scan(arr.as_string::<i64>()),
        DataType::Utf8View => scan(arr.as_string_view()),
        _ => None,
    }
}

/// Append a [`Fault::TooLong`] for every text in `arr` with more than `max` characters.
fn long_strings(arr: &ArrayRef, max: usize, faults: &mut Vec<(usize, Fault)>) {
    fn scan<'a, A: ArrayAccessor<Item = &'a str>>(
        a: A,
        max: usize,
        faults: &mut Vec<(usize, Fault)>,
    ) {
        for i in 0..a.len() {
            if a.is_valid(i) {
                let s = a.value(i);
                // Bytes bound characters from above: only long byte strings need counting.
                if s.len() > max {
                    let n = s.chars().count();
                    if n > max {
                        faults.push((i, Fault::TooLong(n)));
                    }
                }
            }
        }
    }
    fn generic<O: OffsetSizeTrait>(
        a: &GenericStringArray<O>,
        max: usize,
        faults: &mut Vec<(usize, Fault)>,
    ) {
        scan(a, max, faults)
    }
    fn view(a: &StringViewArray, max: usize, faults: &mut Vec<(usize, Fault)>) {
        scan(a, max, faults)
    }
    match arr.data_type() {
        DataType::Utf8 => generic(arr.as_string::<i32>(), max, faults),
        DataType::LargeUtf8 => generic(arr.as_string::<i64>(), max, faults),
        DataType::Utf8View => view(arr.as_string_view(), max, faults),
        _ => {}
    }
}
