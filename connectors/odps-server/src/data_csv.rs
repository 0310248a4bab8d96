//! The `?data` preview as MaxCompute prints it (what pyodps's `CsvRecordReader` reads): a
//! header row of column names, then one row per record; `\N` for NULL, `true`/`false`,
//! datetimes as `yyyy-MM-dd HH:mm:ss[.SSS]` (UTC), complex values as `[a,b]`, `{k:v}`,
//! `{field:v}`. Fields holding a comma, quote or line break are quoted as in RFC 4180.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{TimestampMillisecondType, TimestampNanosecondType};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::error::{bad, internal, ApiResult};
use crate::store::{read_parquet_range, Store, TableMeta};
use ferry_odps::wire::OdpsType;

/// NULL in the CSV.
const NULL: &str = "\\N";

/// Render up to `limit` rows of `specs` (in order), projected to `cols` (data columns and
/// partition keys by name; all data columns then the partition keys when `None`).
pub(crate) fn render(
    store: &Store,
    project: &str,
    m: &TableMeta,
    specs: &[Vec<(String, String)>],
    cols: Option<&[String]>,
    limit: usize,
) -> ApiResult<String> {
    let typed = m.typed_columns().map_err(internal)?;
    // each output column: a data column index, or a partition key index
    enum Out {
        Data(usize),
        Key(usize),
    }
    let outs: Vec<(String, Out)> = match cols {
        None => (0..typed.len())
            .map(|i| (typed[i].0.clone(), Out::Data(i)))
            .chain(
                m.partition_keys
                    .iter()
                    .enumerate()
                    .map(|(i, k)| (k.name.clone(), Out::Key(i))),
            )
            .collect(),
        Some(names) => {
            let mut v = Vec::new();
            for n in names {
                if let Some(i) = typed.iter().position(|(c, _)| c.eq_ignore_ascii_case(n)) {
                    v.push((typed[i].0.clone(), Out::Data(i)));
                } else if let Some(i) = m
                    .partition_keys
                    .iter()
                    .position(|k| k.name.eq_ignore_ascii_case(n))
                {
                    v.push((m.partition_keys[i].name.clone(), Out::Key(i)));
                } else {
                    return Err(bad(format!("column {n} is not in table {}", m.name)));
                }
            }
            v
        }
    };
    let mut data_idx: Vec<usize> = outs
        .iter()
        .filter_map(|(_, o)| match o {
            Out::Data(i) => Some(*i),
            Out::Key(_) => None,
        })
        .collect();
    data_idx.sort_unstable();
    data_idx.dedup();
    let mut text = String::new();
    push_row(&mut text, outs.iter().map(|(n, _)| Some(n.clone())));
    let mut left = limit;
    let opts = FormatOptions::default();
    'specs: for spec in specs {
        let dir = store.partition_dir(project, m, spec).map_err(internal)?;
        for f in store.data_files(&dir).map_err(internal)? {
            if left == 0 {
                break 'specs;
            }
            let take = left.min(f.rows as usize);
            for batch in read_parquet_range(&f.path, &data_idx, 0, take, 4096).map_err(internal)? {
                let batch = batch.map_err(internal)?;
                for row in 0..batch.num_rows() {
                    let fields = outs.iter().map(|(_, o)| match o {
                        Out::Key(i) => spec.get(*i).map(|(_, v)| v.clone()),
                        Out::Data(i) => {
                            let pos = data_idx.iter().position(|x| x == i).unwrap_or(0);
                            value(batch.column(pos), row, &typed[*i].1, &opts)
                        }
                    });
                    push_row(&mut text, fields);
                }
                left -= batch.num_rows().min(left);
            }
        }
    }
    Ok(text)
}

fn push_row(out: &mut String, fields: impl Iterator<Item = Option<String>>) {
    for (i, f) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        match f {
            None => out.push_str(NULL),
            Some(v) if v.contains([',', '"', '\n', '\r']) => {
                out.push('"');
                out.push_str(&v.replace('"', "\"\""));
                out.push('"');
            }
            Some(v) => out.push_str(&v),
        }
    }
    out.push('\n');
}

/// One value as text; `None` for NULL.
fn value(a: &ArrayRef, row: usize, t: &OdpsType, opts: &FormatOptions) -> Option<String> {
    if a.is_null(row) {
        return None;
    }
    Some(match t {
        OdpsType::Datetime => {
            let ms = a.as_primitive::<TimestampMillisecondType>().value(row);
            let dt = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
            if ms.rem_euclid(1000) == 0 {
                dt.format("%Y-%m-%d %H:%M:%S").to_string()
            } else {
                dt.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
            }
        }
        OdpsType::Timestamp | OdpsType::TimestampNtz => {
            let ns = a.as_primitive::<TimestampNanosecondType>().value(row);
            let dt = chrono::DateTime::from_timestamp_nanos(ns);
            if ns.rem_euclid(1_000_000_000) == 0 {
                dt.format("%Y-%m-%d %H:%M:%S").to_string()
            } else {
                dt.format("%Y-%m-%d %H:%M:%S%.9f").to_string()
            }
        }
        OdpsType::Binary => String::from_utf8_lossy(a.as_binary::<i32>().value(row)).into_owned(),
        OdpsType::Array(inner) => {
            let items = a.as_list::<i32>().value(row);
            let parts: Vec<String> = (0..items.len())
                .map(|i| nested(&items, i, inner, opts))
                .collect();
            format!("[{}]", parts.join(","))
        }
        OdpsType::Map(kt, vt) => {
            let entries = a.as_map().value(row);
            let (k, v) = (entries.column(0), entries.column(1));
            let parts: Vec<String> = (0..entries.len())
                .map(|i| format!("{}:{}", nested(k, i, kt, opts), nested(v, i, vt, opts)))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        OdpsType::Struct(fields) => {
            let s = a.as_struct();
            let parts: Vec<String> = fields
                .iter()
                .enumerate()
                .map(|(i, (name, ft))| format!("{name}:{}", nested(s.column(i), row, ft, opts)))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        _ => ArrayFormatter::try_new(a.as_ref(), opts)
            .map(|f| f.value(row).to_string())
            .unwrap_or_default(),
    })
}

/// A value inside a complex one: `\N` for NULL, strings quoted when they hold a separator.
fn nested(a: &ArrayRef, row: usize, t: &OdpsType, opts: &FormatOptions) -> String {
    match value(a, row, t, opts) {
        None => NULL.to_string(),
        Some(v)
            if matches!(
                t,
                OdpsType::String | OdpsType::Varchar(_) | OdpsType::Char(_) | OdpsType::Json
            ) && v.contains([',', ':', '[', ']', '{', '}', '"', '\'', '\\']) =>
        {
            format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
        }
        Some(v) => v,
    }
}
