//! What maps to what: Arrow types are written to Parquet as they are, and read back
//! as the file's embedded Arrow schema says.
//!
//! | Arrow | Parquet physical / logical |
//! | --- | --- |
//! | Boolean | BOOLEAN |
//! | Int8/16/32, UInt8/16/32 | INT32 (INT(8/16/32, signed?)) |
//! | Int64, UInt64 | INT64 (INT(64, signed?)) |
//! | Float16 / Float32 / Float64 | FIXED_LEN_BYTE_ARRAY(2) FLOAT16 / FLOAT / DOUBLE (NaN kept) |
//! | Decimal128/256(p, s) | INT32 / INT64 / FIXED_LEN_BYTE_ARRAY DECIMAL(p, s) |
//! | Date32 / Date64 | INT32 DATE |
//! | Time32/64 | INT32/INT64 TIME |
//! | Timestamp(unit, tz) | INT64 TIMESTAMP(unit, adjusted to UTC when tz is set); the tz name kept in the Arrow schema |
//! | Utf8 / LargeUtf8 / Utf8View | BYTE_ARRAY STRING |
//! | Binary / LargeBinary / FixedSizeBinary | BYTE_ARRAY / FIXED_LEN_BYTE_ARRAY |
//! | List / LargeList / Struct / Map | nested groups |
//! | Dictionary(K, V) | V, dictionary encoded |
//!
//! The Arrow schema is stored in the file's metadata (`ARROW:schema`), so ferry and
//! pyarrow read back exactly the types written. Interval, Union and Duration columns
//! the parquet crate cannot write fail before data moves, naming the column.

use arrow::datatypes::{Field, Schema};
use ferry_core::{Error, Result};
use parquet::arrow::ArrowSchemaConverter;

/// Check every field can be written to Parquet; the error names the column and a fix.
pub fn check_writable(schema: &Schema, path: &str) -> Result<()> {
    for f in schema.fields() {
        // The schema converter accepts intervals, but the column writer has none
        // ("NYI ... interval type MonthDayNano"): refuse them before any data moves.
        if has_interval(f.data_type()) {
            return Err(Error::schema(format!(
                "{path}: column \"{}\" of type {} cannot be written to Parquet (interval \
                 columns are not supported by the Parquet writer); cast it to text in the \
                 reader's column list, e.g. \"{}::text\"",
                f.name(),
                f.data_type(),
                f.name()
            )));
        }
        let one = Schema::new(vec![Field::clone(f)]);
        if let Err(e) = ArrowSchemaConverter::new().convert(&one) {
            return Err(Error::schema(format!(
                "{path}: column \"{}\" of type {} cannot be written to Parquet ({e}); \
                 cast it in the reader's column list to a supported type",
                f.name(),
                f.data_type()
            )));
        }
    }
    Ok(())
}

/// Whether `dt` is, or nests, an interval.
fn has_interval(dt: &arrow::datatypes::DataType) -> bool {
    use arrow::datatypes::DataType;
    match dt {
        DataType::Interval(_) => true,
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            has_interval(f.data_type())
        }
        DataType::Struct(fs) => fs.iter().any(|f| has_interval(f.data_type())),
        DataType::Map(f, _) => has_interval(f.data_type()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, IntervalUnit, TimeUnit};
    use std::sync::Arc;

    #[test]
    fn intervals_are_refused_before_data_moves() {
        for dt in [
            DataType::Interval(IntervalUnit::MonthDayNano),
            DataType::Interval(IntervalUnit::YearMonth),
            DataType::List(Arc::new(Field::new(
                "item",
                DataType::Interval(IntervalUnit::MonthDayNano),
                true,
            ))),
        ] {
            let s = Schema::new(vec![
                Field::new("id", DataType::Int64, true),
                Field::new("d", dt, true),
            ]);
            let e = check_writable(&s, "writer").unwrap_err().to_string();
            assert!(e.contains("column \"d\""), "{e}");
            assert!(e.contains("d::text"), "{e}");
        }
        let ok = Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("t", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        ]);
        check_writable(&ok, "writer").unwrap();
    }
}
