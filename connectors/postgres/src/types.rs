//! THE one mapping table PostgreSQL ⇄ Arrow, used by the reader and the writer alike and
//! mirrored in `docs/postgresql.md` (a test keeps the two in step).
//!
//! | PostgreSQL | Arrow |
//! | --- | --- |
//! | `smallint` (int2) | Int16 |
//! | `integer` (int4) | Int32 |
//! | `bigint` (int8) | Int64 |
//! | `oid` | UInt32 |
//! | `real` (float4) / `double precision` (float8) | Float32 / Float64 (NaN, ±Infinity kept) |
//! | `numeric(p,s)`, p ≤ 38, 0 ≤ s ≤ p | Decimal128(p, s) |
//! | `numeric` (unconstrained, or p > 38) | Utf8, the exact text (`NaN`, `Infinity` included) |
//! | `money` | Decimal128(19, 2) (assumes 2 fractional digits, as in most `lc_monetary`) |
//! | `boolean` | Boolean |
//! | `text`, `varchar(n)`, `char(n)`, `name`, `citext`, `"char"`, `xml`, enums | Utf8 (`ferry.max_chars` = n) |
//! | `json`, `jsonb` | Utf8 (the JSON text) |
//! | `bytea` | Binary |
//! | `date` | Date32 (±infinity → i32::MAX / i32::MIN) |
//! | `time` | Time64(µs) |
//! | `timetz` | Utf8 (`12:34:56.5+02`) |
//! | `timestamp` | Timestamp(µs, none) (±infinity → i64::MAX / i64::MIN) |
//! | `timestamptz` | Timestamp(µs, "UTC") (±infinity as above) |
//! | `interval` | Interval(MonthDayNano) |
//! | `uuid` | Utf8 (canonical lowercase, hyphenated) |
//! | `inet`, `cidr`, `macaddr`, `macaddr8` | Utf8 (PostgreSQL's text form) |
//! | `bit(n)`, `varbit` | Utf8 (`0101`) |
//! | domains | their base type |
//! | 1-D arrays of any of the above | List(element) |
//!
//! Anything else (geometry and other extension types, ranges, composite types) is
//! rejected before data moves, naming the column and the fix (`geom::text`).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, IntervalUnit, TimeUnit};
use ferry_core::plugin::meta;
use ferry_core::{Error, Result};

use crate::conn::pg_error;

/// Well-known PostgreSQL type oids (stable since forever; `pg_type.dat`).
#[allow(missing_docs)]
pub mod oid {
    pub const BOOL: u32 = 16;
    pub const BYTEA: u32 = 17;
    pub const CHAR: u32 = 18;
    pub const NAME: u32 = 19;
    pub const INT8: u32 = 20;
    pub const INT2: u32 = 21;
    pub const INT4: u32 = 23;
    pub const TEXT: u32 = 25;
    pub const OID: u32 = 26;
    pub const JSON: u32 = 114;
    pub const XML: u32 = 142;
    pub const CIDR: u32 = 650;
    pub const FLOAT4: u32 = 700;
    pub const FLOAT8: u32 = 701;
    pub const MACADDR8: u32 = 774;
    pub const MONEY: u32 = 790;
    pub const MACADDR: u32 = 829;
    pub const INET: u32 = 869;
    pub const BPCHAR: u32 = 1042;
    pub const VARCHAR: u32 = 1043;
    pub const DATE: u32 = 1082;
    pub const TIME: u32 = 1083;
    pub const TIMESTAMP: u32 = 1114;
    pub const TIMESTAMPTZ: u32 = 1184;
    pub const INTERVAL: u32 = 1186;
    pub const TIMETZ: u32 = 1266;
    pub const BIT: u32 = 1560;
    pub const VARBIT: u32 = 1562;
    pub const NUMERIC: u32 = 1700;
    pub const UUID: u32 = 2950;
    pub const JSONB: u32 = 3802;
    pub const UNKNOWN: u32 = 705;
}

/// A column as PostgreSQL describes it, with domains and array elements resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct PgColumn {
    /// Column name (as PostgreSQL reports it: unquoted, case kept).
    pub name: String,
    /// The declared type oid (may be a domain or an array type).
    pub type_oid: u32,
    /// The effective type modifier (a domain's own modifier when the column has none).
    pub typmod: i32,
    /// `format_type(type_oid, typmod)`: `numeric(12,2)`, `character varying(20)`, `text[]`.
    pub type_name: String,
    /// The scalar type after resolving domains and, for arrays, the element type.
    pub base_oid: u32,
    /// `pg_type.typname` of `base_oid` (`int4`, `citext`, `geometry`, an enum's name).
    pub base_name: String,
    /// A (1-D) array of `base_oid`.
    pub is_array: bool,
    /// `base_oid` is an enum type.
    pub is_enum: bool,
    /// Declared `NOT NULL` (only known for table columns).
    pub not_null: bool,
}

/// How values of a column travel: the binary wire form and its Arrow representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgScalar {
    /// `boolean` ⇄ Boolean.
    Bool,
    /// `smallint` ⇄ Int16.
    Int2,
    /// `integer` ⇄ Int32.
    Int4,
    /// `bigint` ⇄ Int64.
    Int8,
    /// `oid` ⇄ UInt32.
    Oid,
    /// `real` ⇄ Float32.
    Float4,
    /// `double precision` ⇄ Float64.
    Float8,
    /// `numeric(p,s)` ⇄ Decimal128(p,s).
    Numeric {
        /// Precision (1..=38).
        precision: u8,
        /// Scale (0..=precision).
        scale: i8,
    },
    /// Unconstrained `numeric` ⇄ Utf8 (exact text).
    NumericText,
    /// `money` ⇄ Decimal128(19,2).
    Money,
    /// Text-like types whose binary form is their UTF-8 text ⇄ Utf8.
    Text,
    /// `"char"` (one byte) ⇄ Utf8.
    Char,
    /// `jsonb` (version byte + text) ⇄ Utf8.
    Jsonb,
    /// `bytea` ⇄ Binary.
    Bytea,
    /// `date` ⇄ Date32.
    Date,
    /// `time` ⇄ Time64(µs).
    Time,
    /// `timetz` ⇄ Utf8.
    TimeTz,
    /// `timestamp` ⇄ Timestamp(µs, none).
    Timestamp,
    /// `timestamptz` ⇄ Timestamp(µs, "UTC").
    TimestampTz,
    /// `interval` ⇄ Interval(MonthDayNano).
    Interval,
    /// `uuid` ⇄ Utf8.
    Uuid,
    /// `inet` / `cidr` ⇄ Utf8.
    Inet,
    /// `macaddr` / `macaddr8` ⇄ Utf8.
    MacAddr,
    /// `bit(n)` / `varbit` ⇄ Utf8.
    Bit,
}

/// Every PostgreSQL type name ferry maps, with its Arrow type as the docs write it.
/// `docs/postgresql.md`'s table is checked against this list.
pub const TYPE_MAPPING: &[(&str, &str)] = &[
    ("smallint", "Int16"),
    ("integer", "Int32"),
    ("bigint", "Int64"),
    ("oid", "UInt32"),
    ("real", "Float32"),
    ("double precision", "Float64"),
    ("numeric(p,s)", "Decimal128(p,s)"),
    ("numeric", "Utf8"),
    ("money", "Decimal128(19,2)"),
    ("boolean", "Boolean"),
    ("text", "Utf8"),
    ("varchar(n)", "Utf8"),
    ("char(n)", "Utf8"),
    ("name", "Utf8"),
    ("citext", "Utf8"),
    ("\"char\"", "Utf8"),
    ("xml", "Utf8"),
    ("enum", "Utf8"),
    ("json", "Utf8"),
    ("jsonb", "Utf8"),
    ("bytea", "Binary"),
    ("date", "Date32"),
    ("time", "Time64(µs)"),
    ("timetz", "Utf8"),
    ("timestamp", "Timestamp(µs)"),
    ("timestamptz", "Timestamp(µs, UTC)"),
    ("interval", "Interval(MonthDayNano)"),
    ("uuid", "Utf8"),
    ("inet", "Utf8"),
    ("cidr", "Utf8"),
    ("macaddr", "Utf8"),
    ("macaddr8", "Utf8"),
    ("bit(n)", "Utf8"),
    ("varbit", "Utf8"),
    ("domain", "base type"),
    ("array", "List"),
];

impl PgColumn {
    /// The scalar (element) type, or Error::Schema naming the column and the fix.
    pub fn scalar(&self) -> Result<PgScalar> {
        if self.is_enum {
            return Ok(PgScalar::Text);
        }
        Ok(match self.base_oid {
            oid::BOOL => PgScalar::Bool,
            oid::INT2 => PgScalar::Int2,
            oid::INT4 => PgScalar::Int4,
            oid::INT8 => PgScalar::Int8,
            oid::OID => PgScalar::Oid,
            oid::FLOAT4 => PgScalar::Float4,
            oid::FLOAT8 => PgScalar::Float8,
            oid::NUMERIC => match numeric_typmod(self.typmod) {
                Some((p, s)) if (1..=38).contains(&p) && s >= 0 && s <= p => PgScalar::Numeric {
                    precision: p as u8,
                    scale: s as i8,
                },
                _ => PgScalar::NumericText,
            },
            oid::MONEY => PgScalar::Money,
            oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME | oid::JSON | oid::XML
            | oid::UNKNOWN => PgScalar::Text,
            oid::CHAR => PgScalar::Char,
            oid::JSONB => PgScalar::Jsonb,
            oid::BYTEA => PgScalar::Bytea,
            oid::DATE => PgScalar::Date,
            oid::TIME => PgScalar::Time,
            oid::TIMETZ => PgScalar::TimeTz,
            oid::TIMESTAMP => PgScalar::Timestamp,
            oid::TIMESTAMPTZ => PgScalar::TimestampTz,
            oid::INTERVAL => PgScalar::Interval,
            oid::UUID => PgScalar::Uuid,
            oid::INET | oid::CIDR => PgScalar::Inet,
            oid::MACADDR | oid::MACADDR8 => PgScalar::MacAddr,
            oid::BIT | oid::VARBIT => PgScalar::Bit,
            _ if self.base_name == "citext" => PgScalar::Text,
            _ => {
                return Err(Error::schema(format!(
                    "column \"{}\" has type {}, which ferry cannot read or write; cast it in \"column\": \"{}::text\"",
                    self.name,
                    self.type_name,
                    quote_ident(&self.name)
                )))
            }
        })
    }

    /// Maximum characters for `varchar(n)` / `char(n)`.
    pub fn max_chars(&self) -> Option<i32> {
        matches!(self.base_oid, oid::VARCHAR | oid::BPCHAR)
            .then_some(self.typmod)
            .filter(|m| *m >= 4)
            .map(|m| m - 4)
    }
}

/// `numeric(p,s)` from a type modifier (PG 15 allows negative scales and s > p).
pub fn numeric_typmod(typmod: i32) -> Option<(i32, i32)> {
    if typmod < 4 {
        return None;
    }
    let t = typmod - 4;
    let precision = (t >> 16) & 0xffff;
    let scale = ((t & 0x7ff) ^ 1024) - 1024;
    Some((precision, scale))
}

/// The Arrow type of a scalar.
pub fn scalar_data_type(s: PgScalar) -> DataType {
    match s {
        PgScalar::Bool => DataType::Boolean,
        PgScalar::Int2 => DataType::Int16,
        PgScalar::Int4 => DataType::Int32,
        PgScalar::Int8 => DataType::Int64,
        PgScalar::Oid => DataType::UInt32,
        PgScalar::Float4 => DataType::Float32,
        PgScalar::Float8 => DataType::Float64,
        PgScalar::Numeric { precision, scale } => DataType::Decimal128(precision, scale),
        PgScalar::Money => DataType::Decimal128(19, 2),
        PgScalar::Bytea => DataType::Binary,
        PgScalar::Date => DataType::Date32,
        PgScalar::Time => DataType::Time64(TimeUnit::Microsecond),
        PgScalar::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        PgScalar::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC"))),
        PgScalar::Interval => DataType::Interval(IntervalUnit::MonthDayNano),
        PgScalar::NumericText
        | PgScalar::Text
        | PgScalar::Char
        | PgScalar::Jsonb
        | PgScalar::TimeTz
        | PgScalar::Uuid
        | PgScalar::Inet
        | PgScalar::MacAddr
        | PgScalar::Bit => DataType::Utf8,
    }
}

/// The Arrow type of a column (arrays become `List` of the element type).
pub fn data_type(col: &PgColumn) -> Result<DataType> {
    let dt = scalar_data_type(col.scalar()?);
    Ok(if col.is_array {
        DataType::List(Arc::new(Field::new("item", dt, true)))
    } else {
        dt
    })
}

/// The Arrow field for a PostgreSQL column (sets `meta::SOURCE_TYPE` to the type name and
/// `meta::MAX_CHARS` for varchar(n)/char(n)). Unsupported types → Error::Schema naming the
/// column and the fix (`geom::text`).
pub fn arrow_field(col: &PgColumn) -> Result<Field> {
    let dt = data_type(col)?;
    let mut md = HashMap::new();
    md.insert(meta::SOURCE_TYPE.to_string(), col.type_name.clone());
    if !col.is_array {
        if let Some(n) = col.max_chars() {
            md.insert(meta::MAX_CHARS.to_string(), n.to_string());
        }
    }
    Ok(Field::new(&col.name, dt, !col.not_null).with_metadata(md))
}

/// The PostgreSQL column type for an Arrow type that ferry's writer fills from it
/// (`ferry bench` scratch tables, `ferry schema`); `None` when there is none.
pub fn pg_type_for_arrow(dt: &DataType) -> Option<String> {
    Some(match dt {
        DataType::Boolean => "boolean".into(),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => "smallint".into(),
        DataType::Int32 | DataType::UInt16 => "integer".into(),
        DataType::Int64 | DataType::UInt32 => "bigint".into(),
        DataType::UInt64 => "numeric(20,0)".into(),
        DataType::Float16 | DataType::Float32 => "real".into(),
        DataType::Float64 => "double precision".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "text".into(),
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => "bytea".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) if *s >= 0 => {
            format!("numeric({p},{s})")
        }
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, None) => "timestamp".into(),
        DataType::Timestamp(_, Some(_)) => "timestamptz".into(),
        DataType::Time32(_) | DataType::Time64(TimeUnit::Microsecond | TimeUnit::Nanosecond) => {
            "time".into()
        }
        DataType::List(f) | DataType::LargeList(f) => {
            format!("{}[]", pg_type_for_arrow(f.data_type())?)
        }
        _ => return None,
    })
}

/// The column type ferry creates for an Arrow type ([`pg_type_for_arrow`]), and a
/// suggestion for the types the writer has no mapping for (`ferry schema`).
pub fn pg_type_suggestion(dt: &DataType) -> String {
    if let Some(t) = pg_type_for_arrow(dt) {
        return t;
    }
    match dt {
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("numeric({p},{s})"),
        DataType::Time64(_) => "time".into(),
        DataType::Interval(_) | DataType::Duration(_) => "interval".into(),
        DataType::List(f) | DataType::LargeList(f) => {
            format!("{}[]", pg_type_suggestion(f.data_type()))
        }
        DataType::Struct(_) | DataType::Map(_, _) => "jsonb".into(),
        other => format!("(no mapping for {other})"),
    }
}

/// Quote an identifier when it needs it (`Name` → `"Name"`, `order` → `"order"`,
/// `id` → `id`).
pub fn quote_ident(name: &str) -> String {
    /// PostgreSQL's reserved key words (those that cannot be a bare column name).
    const RESERVED: &[&str] = &[
        "all",
        "analyse",
        "analyze",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "both",
        "case",
        "cast",
        "check",
        "collate",
        "column",
        "constraint",
        "create",
        "default",
        "desc",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "false",
        "for",
        "foreign",
        "from",
        "grant",
        "group",
        "having",
        "in",
        "into",
        "is",
        "limit",
        "not",
        "null",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "primary",
        "references",
        "select",
        "some",
        "table",
        "then",
        "to",
        "true",
        "union",
        "unique",
        "user",
        "using",
        "when",
        "where",
        "with",
    ];
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain && !RESERVED.contains(&name) {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// What `pg_type` says about one type.
struct TypeRow {
    typtype: String,
    basetype: u32,
    typtypmod: i32,
    elem: u32,
    category: String,
    typlen: i16,
    name: String,
}

async fn type_row(client: &tokio_postgres::Client, type_oid: u32) -> Result<TypeRow> {
    let row = client
        .query_opt(
            "SELECT typtype::text, typbasetype, typtypmod, typelem, typcategory::text, typlen, typname::text \
             FROM pg_catalog.pg_type WHERE oid = $1",
            &[&type_oid],
        )
        .await
        .map_err(|e| pg_error("looking up a column type", &e))?
        .ok_or_else(|| Error::schema(format!("type oid {type_oid} does not exist")))?;
    Ok(TypeRow {
        typtype: row.get(0),
        basetype: row.get(1),
        typtypmod: row.get(2),
        elem: row.get(3),
        category: row.get(4),
        typlen: row.get(5),
        name: row.get(6),
    })
}

/// Resolve a column's declared type (domains, arrays, enums) through the catalog.
pub async fn resolve_column(
    client: &tokio_postgres::Client,
    name: &str,
    type_oid: u32,
    typmod: i32,
    not_null: bool,
) -> Result<PgColumn> {
    let type_name: String = client
        .query_one(
            "SELECT pg_catalog.format_type($1, $2)",
            &[&type_oid, &typmod],
        )
        .await
        .map_err(|e| pg_error("looking up a column type", &e))?
        .get(0);
    let mut cur = type_oid;
    let mut mods = typmod;
    let mut is_array = false;
    for _ in 0..16 {
        let t = type_row(client, cur).await?;
        if t.typtype == "d" {
            if mods < 0 {
                mods = t.typtypmod;
            }
            cur = t.basetype;
            continue;
        }
        if !is_array && t.category == "A" && t.elem != 0 && t.typlen == -1 {
            is_array = true;
            cur = t.elem;
            continue;
        }
        return Ok(PgColumn {
            name: name.to_string(),
            type_oid,
            typmod: mods,
            type_name,
            base_oid: cur,
            base_name: t.name,
            is_array,
            is_enum: t.typtype == "e",
            not_null,
        });
    }
    Err(Error::schema(format!(
        "column \"{name}\" has type {type_name}, whose definition is too deeply nested"
    )))
}

/// The columns of a prepared statement's result, resolved.
pub async fn statement_columns(
    client: &tokio_postgres::Client,
    stmt: &tokio_postgres::Statement,
) -> Result<Vec<PgColumn>> {
    let mut out = Vec::with_capacity(stmt.columns().len());
    for c in stmt.columns() {
        out.push(
            resolve_column(client, c.name(), c.type_().oid(), c.type_modifier(), false).await?,
        );
    }
    Ok(out)
}

/// Columns of a table in ordinal order (schema-qualified or search_path names; quoted
/// mixed-case names work). A missing table is Error::Schema naming it.
pub async fn table_columns(client: &tokio_postgres::Client, table: &str) -> Result<Vec<PgColumn>> {
    let rows = client
        .query(
            "SELECT a.attname::text, a.atttypid, a.atttypmod, a.attnotnull \
             FROM pg_catalog.pg_attribute a \
             WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            &[&table],
        )
        .await
        .map_err(|e| match e.code() {
            Some(c)
                if *c == tokio_postgres::error::SqlState::UNDEFINED_TABLE
                    || *c == tokio_postgres::error::SqlState::INVALID_SCHEMA_NAME =>
            {
                Error::schema(format!("table {table} does not exist"))
            }
            _ => pg_error(&format!("table {table}"), &e),
        })?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let name: String = r.get(0);
        out.push(resolve_column(client, &name, r.get(1), r.get(2), r.get(3)).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(base_oid: u32, typmod: i32) -> PgColumn {
        PgColumn {
            name: "c".into(),
            type_oid: base_oid,
            typmod,
            type_name: "t".into(),
            base_oid,
            base_name: "t".into(),
            is_array: false,
            is_enum: false,
            not_null: false,
        }
    }

    #[test]
    fn numeric_modifiers() {
        // numeric(12,2): ((12 << 16) | 2) + 4
        let m = ((12 << 16) | 2) + 4;
        assert_eq!(numeric_typmod(m), Some((12, 2)));
        assert_eq!(numeric_typmod(-1), None);
        assert_eq!(
            data_type(&col(oid::NUMERIC, m)).unwrap(),
            DataType::Decimal128(12, 2)
        );
        assert_eq!(data_type(&col(oid::NUMERIC, -1)).unwrap(), DataType::Utf8);
        let big = ((50 << 16) | 2) + 4;
        assert_eq!(data_type(&col(oid::NUMERIC, big)).unwrap(), DataType::Utf8);
    }

    #[test]
    fn varchar_gets_max_chars_and_unknown_types_name_the_fix() {
        let mut c = col(oid::VARCHAR, 24);
        c.name = "Name".into();
        let f = arrow_field(&c).unwrap();
        assert_eq!(
            f.metadata().get(meta::MAX_CHARS).map(String::as_str),
            Some("20")
        );
        let mut g = col(99999, -1);
        g.name = "geom".into();
        g.type_name = "geometry".into();
        let e = arrow_field(&g).unwrap_err().to_string();
        assert!(
            e.contains("\"geom\"") && e.contains("geometry") && e.contains("geom::text"),
            "{e}"
        );
    }

    #[test]
    fn arrays_are_lists() {
        let mut c = col(oid::INT4, -1);
        c.is_array = true;
        assert_eq!(
            data_type(&c).unwrap(),
            DataType::List(Arc::new(Field::new("item", DataType::Int32, true)))
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("id"), "id");
        assert_eq!(quote_ident("order"), "\"order\"");
        assert_eq!(quote_ident("user"), "\"user\"");
        assert_eq!(quote_ident("Name"), "\"Name\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
