//! The type zoo: every mapped PostgreSQL type read value by value, NULLs everywhere,
//! extremes (NaN, ±Infinity, ±infinity dates, year 1 and 294276), arrays, domains, enums.

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod reader_support;

use std::sync::Arc;

use arrow::array::*;
use arrow::datatypes::{DataType, IntervalMonthDayNano, TimeUnit};
use ferry_core::plugin::{meta, ReadOptions};
use reader_support::*;
use serde_json::json;

const SETUP: &str = r#"
DROP TABLE IF EXISTS rz_zoo; DROP TYPE IF EXISTS rz_mood; DROP DOMAIN IF EXISTS rz_posint;
CREATE TYPE rz_mood AS ENUM ('sad', 'happy');
CREATE DOMAIN rz_posint AS numeric(6,2) CHECK (VALUE > 0);
CREATE TABLE rz_zoo (
  k int, i2 int2, i4 int4, i8 int8, o oid, f4 float4, f8 float8, n numeric(12,3), nu numeric,
  m money, b bool, t text, vc varchar(5), bp char(3), nm name, ch "char", by bytea, d date,
  tm time, ttz timetz, ts timestamp, tstz timestamptz, iv interval, u uuid, j json, jb jsonb,
  ip inet, cd cidr, mac macaddr, bt bit(4), vb varbit, e rz_mood, dom rz_posint, ai int4[],
  at text[], xm xml, "Mixed Case" text);
INSERT INTO rz_zoo VALUES
 (1, 1, 2, 3, 4, 1.5, 2.25, 123456789.123, 3.14159265358979323846264338327950288419716939937510,
  12.34, true, 'héllo ✓', 'abc', 'ab', 'nm', 'x', '\x00ff', '2024-02-29', '12:34:56.789',
  '12:34:56+05:30', '2024-02-29 12:34:56.123456', '2024-02-29 12:34:56.123456+02',
  '1 year 2 mons 3 days 04:05:06.7', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '{"a": [1, 2]}',
  '{"b": 1, "a": null}', '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', B'1010', B'101',
  'happy', 7.5, '{1,NULL,3}', '{"a b",NULL,""}', '<a>x</a>', 'MC'),
 (2, -32768, -2147483648, -9223372036854775808, 4294967295, 'NaN', '-Infinity', -999999999.999,
  'NaN', -92233720368547758.08, false, '', '', '', '', 'Z', '\x', '-infinity', '00:00:00',
  '23:59:59.999999-12', '-infinity', 'infinity', '-178000000 years', '00000000-0000-0000-0000-000000000000',
  '[]', '[]', '::ffff:1.2.3.4', '2001:db8::/32', 'ff:ff:ff:ff:ff:ff', B'0000', B'', 'sad', 0.01, '{}', '{}', '', ''),
 (3, 32767, 2147483647, 9223372036854775807, 0, 'Infinity', 'NaN', 0, '-0.000001', 0, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, '0001-01-01', '24:00:00', NULL, '0001-01-01 00:00:00', '294246-12-31 23:59:59.999999+00',
  '-1 days -00:00:00.000001', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  '294276-12-31', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
"#;

fn col<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> &'a T {
    b.column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_any()
        .downcast_ref::<T>()
        .unwrap_or_else(|| {
            panic!(
                "column {name} has type {}",
                b.column_by_name(name).unwrap().data_type()
            )
        })
}

fn strs(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
    col::<StringArray>(b, name)
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

#[tokio::test]
async fn type_zoo_reads_value_by_value() {
    exec(SETUP).await;
    let r = build(datax_params(json!({
        "table": ["rz_zoo"],
        "column": ["*"],
    })))
    .await
    .unwrap();
    let schema = r.schema();
    let f = |n: &str| schema.field_with_name(n).unwrap().clone();
    assert_eq!(f("n").data_type(), &DataType::Decimal128(12, 3));
    assert_eq!(f("nu").data_type(), &DataType::Utf8);
    assert_eq!(f("m").data_type(), &DataType::Decimal128(19, 2));
    assert_eq!(f("dom").data_type(), &DataType::Decimal128(6, 2));
    assert_eq!(
        f("tstz").data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC")))
    );
    assert_eq!(
        f("vc").metadata().get(meta::MAX_CHARS).map(String::as_str),
        Some("5")
    );
    assert_eq!(
        f("n").metadata().get(meta::SOURCE_TYPE).map(String::as_str),
        Some("numeric(12,3)")
    );
    assert!(matches!(f("ai").data_type(), DataType::List(i) if i.data_type() == &DataType::Int32));

    let q = build(datax_params(
        json!({"querySql": ["SELECT * FROM rz_zoo ORDER BY k"]}),
    ))
    .await
    .unwrap();
    let (_, batches) = read_all(&q, 1, ReadOptions::default()).await.unwrap();
    assert_eq!(batches.len(), 1);
    let b = &batches[0];
    assert_eq!(b.num_rows(), 4);

    assert_eq!(
        col::<Int16Array>(b, "i2").iter().collect::<Vec<_>>(),
        [Some(1), Some(-32768), Some(32767), None]
    );
    assert_eq!(
        col::<Int32Array>(b, "i4").iter().collect::<Vec<_>>(),
        [Some(2), Some(i32::MIN), Some(i32::MAX), None]
    );
    assert_eq!(
        col::<Int64Array>(b, "i8").iter().collect::<Vec<_>>(),
        [Some(3), Some(i64::MIN), Some(i64::MAX), None]
    );
    assert_eq!(
        col::<UInt32Array>(b, "o").iter().collect::<Vec<_>>(),
        [Some(4), Some(u32::MAX), Some(0), None]
    );
    let f4 = col::<Float32Array>(b, "f4");
    assert_eq!(f4.value(0), 1.5);
    assert!(f4.value(1).is_nan());
    assert_eq!(f4.value(2), f32::INFINITY);
    assert!(f4.is_null(3));
    let f8 = col::<Float64Array>(b, "f8");
    assert_eq!(f8.value(1), f64::NEG_INFINITY);
    assert!(f8.value(2).is_nan());
    assert_eq!(
        col::<Decimal128Array>(b, "n").iter().collect::<Vec<_>>(),
        [Some(123456789123), Some(-999999999999), Some(0), None]
    );
    assert_eq!(
        strs(b, "nu"),
        [
            s("3.14159265358979323846264338327950288419716939937510"),
            s("NaN"),
            s("-0.000001"),
            None
        ]
    );
    assert_eq!(
        col::<Decimal128Array>(b, "m").iter().collect::<Vec<_>>(),
        [Some(1234), Some(i64::MIN as i128), Some(0), None]
    );
    assert_eq!(
        col::<BooleanArray>(b, "b").iter().collect::<Vec<_>>(),
        [Some(true), Some(false), None, None]
    );
    assert_eq!(strs(b, "t"), [s("héllo ✓"), s(""), None, None]);
    assert_eq!(strs(b, "vc"), [s("abc"), s(""), None, None]);
    assert_eq!(strs(b, "bp"), [s("ab "), s("   "), None, None]);
    assert_eq!(strs(b, "nm"), [s("nm"), s(""), None, None]);
    assert_eq!(strs(b, "ch"), [s("x"), s("Z"), None, None]);
    assert_eq!(
        col::<BinaryArray>(b, "by").iter().collect::<Vec<_>>(),
        [Some(&[0u8, 255][..]), Some(&[][..]), None, None]
    );
    assert_eq!(
        col::<Date32Array>(b, "d").iter().collect::<Vec<_>>(),
        [
            Some(19782),
            Some(i32::MIN),
            Some(-719162),
            Some(106_762_939)
        ]
    );
    assert_eq!(
        col::<Time64MicrosecondArray>(b, "tm")
            .iter()
            .collect::<Vec<_>>(),
        [Some(45_296_789_000), Some(0), Some(86_400_000_000), None]
    );
    assert_eq!(
        strs(b, "ttz"),
        [s("12:34:56+05:30"), s("23:59:59.999999-12"), None, None]
    );
    assert_eq!(
        col::<TimestampMicrosecondArray>(b, "ts")
            .iter()
            .collect::<Vec<_>>(),
        [
            Some(1_709_210_096_123_456),
            Some(i64::MIN),
            Some(-62_135_596_800_000_000),
            None
        ]
    );
    assert_eq!(
        col::<TimestampMicrosecondArray>(b, "tstz")
            .iter()
            .collect::<Vec<_>>(),
        [
            Some(1_709_202_896_123_456),
            Some(i64::MAX),
            Some(9_223_371_244_799_999_999),
            None
        ]
    );
    assert_eq!(
        col::<IntervalMonthDayNanoArray>(b, "iv")
            .iter()
            .collect::<Vec<_>>(),
        [
            Some(IntervalMonthDayNano::new(14, 3, 14_706_700_000_000)),
            Some(IntervalMonthDayNano::new(-2_136_000_000, 0, 0)),
            Some(IntervalMonthDayNano::new(0, -1, -1000)),
            None
        ]
    );
    assert_eq!(
        strs(b, "u"),
        [
            s("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            s("00000000-0000-0000-0000-000000000000"),
            None,
            None
        ]
    );
    assert_eq!(strs(b, "j"), [s("{\"a\": [1, 2]}"), s("[]"), None, None]);
    assert_eq!(
        strs(b, "jb"),
        [s("{\"a\": null, \"b\": 1}"), s("[]"), None, None]
    );
    assert_eq!(
        strs(b, "ip"),
        [s("192.168.0.1/24"), s("::ffff:1.2.3.4"), None, None]
    );
    assert_eq!(
        strs(b, "cd"),
        [s("10.0.0.0/8"), s("2001:db8::/32"), None, None]
    );
    assert_eq!(
        strs(b, "mac"),
        [s("08:00:2b:01:02:03"), s("ff:ff:ff:ff:ff:ff"), None, None]
    );
    assert_eq!(strs(b, "bt"), [s("1010"), s("0000"), None, None]);
    assert_eq!(strs(b, "vb"), [s("101"), s(""), None, None]);
    assert_eq!(strs(b, "e"), [s("happy"), s("sad"), None, None]);
    assert_eq!(
        col::<Decimal128Array>(b, "dom").iter().collect::<Vec<_>>(),
        [Some(750), Some(1), None, None]
    );
    let ai = col::<ListArray>(b, "ai");
    let a0 = ai.value(0);
    let a0 = a0.as_any().downcast_ref::<Int32Array>().unwrap();
    assert_eq!(a0.iter().collect::<Vec<_>>(), [Some(1), None, Some(3)]);
    assert_eq!(ai.value(1).len(), 0);
    assert!(ai.is_valid(1) && ai.is_null(2));
    let at = col::<ListArray>(b, "at");
    let t0 = at.value(0);
    let t0 = t0.as_any().downcast_ref::<StringArray>().unwrap();
    assert_eq!(t0.iter().collect::<Vec<_>>(), [Some("a b"), None, Some("")]);
    assert_eq!(strs(b, "xm"), [s("<a>x</a>"), s(""), None, None]);
    assert_eq!(strs(b, "Mixed Case"), [s("MC"), s(""), None, None]);
}

#[tokio::test]
async fn timestamps_beyond_arrow_fail_clearly() {
    exec(
        "DROP TABLE IF EXISTS rz_far; CREATE TABLE rz_far (id int, ts timestamp);
         INSERT INTO rz_far VALUES (1, '294276-12-31 23:59:59');",
    )
    .await;
    let r = build(datax_params(
        json!({"table": ["rz_far"], "column": ["id", "ts"]}),
    ))
    .await
    .unwrap();
    let e = read_all(&r, 1, ReadOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("row 1 column \"ts\"") && e.contains("294247"),
        "{e}"
    );
}

#[tokio::test]
async fn unsupported_types_fail_at_build_naming_the_fix() {
    exec("DROP TABLE IF EXISTS rz_pt; CREATE TABLE rz_pt (id int, p point, r int4range);").await;
    let e = match build(datax_params(
        json!({"table": ["rz_pt"], "column": ["id", "p"]}),
    ))
    .await
    {
        Ok(_) => panic!("point must be rejected"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("column \"p\" has type point") && e.contains("p::text"),
        "{e}"
    );
    let ok = build(datax_params(
        json!({"table": ["rz_pt"], "column": ["id", "p::text", "r::text"]}),
    ))
    .await;
    assert!(ok.is_ok());
}

#[tokio::test]
async fn preview_returns_the_first_rows() {
    exec(
        "DROP TABLE IF EXISTS rz_prev; CREATE TABLE rz_prev (id int, name text);
         INSERT INTO rz_prev SELECT g, 'n' || g FROM generate_series(1, 50) g;",
    )
    .await;
    let b = ferry_postgres::preview(&endpoint(), "rz_prev", 5, Some("id > 10"))
        .await
        .unwrap();
    assert_eq!(b.num_rows(), 5);
    assert_eq!(b.schema().field(1).name(), "name");
    let ids = col::<Int32Array>(&b, "id");
    assert!(ids.iter().all(|v| v.unwrap() > 10));
    let e = ferry_postgres::preview(&endpoint(), "rz_nope", 5, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("rz_nope") && e.contains("does not exist"), "{e}");
}
