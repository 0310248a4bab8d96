//! Job parameters of the Parquet reader and writer, parsed strictly.
//!
//! The doc comments here are the user documentation; `docs/parquet.md` mirrors them.

use ferry_core::connector::{param, Param, Set};
use serde::de::{Deserializer, Error as _};
use serde::Deserialize;

use ferry_core::params::{lenient_opt_u64, one_or_many};
use ferry_core::{Error, Result};

use crate::partition::{parse_spec, PartitionSpec};

/// Default file name prefix of the writer.
pub const DEFAULT_FILE_PREFIX: &str = "part";
/// Default rows per row group of the writer.
pub const DEFAULT_ROW_GROUP_ROWS: usize = 128 * 1024;

/// `writer.parameter` of a `parquet` writer.
///
/// ```json
/// {"path": "staged/person", "fileName": "person", "writeMode": "truncate",
///  "compression": "zstd", "partitionBy": "pt=20261122", "maxFileSizeMB": 256}
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WriterParams {
    /// The folder files are written into (created when missing).
    pub path: String,
    /// File name prefix (default `part`): files are `<fileName>-<job>-<channel>-<n>.parquet`.
    #[serde(default)]
    pub file_name: Option<String>,
    /// `truncate` | `append` (default) | `nonConflict`.
    #[serde(default)]
    pub write_mode: WriteMode,
    /// `zstd` (default) | `snappy` | `gzip` | `lz4` | `none`.
    #[serde(default)]
    pub compression: CompressionName,
    /// A list of column names (Hive folders from each row's values) or a fixed spec
    /// string (`pt=20261122`, `pt=x/region=y`, `pt=x,region=y`).
    #[serde(default)]
    pub partition_by: Option<PartitionByParam>,
    /// Roll to a new file once a file reaches this many MiB (approximate).
    #[serde(
        default,
        deserialize_with = "lenient_opt_u64",
        rename = "maxFileSizeMB"
    )]
    pub max_file_size_mb: Option<u64>,
    /// Roll to a new file once a file holds this many rows (exact).
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub max_rows_per_file: Option<u64>,
    /// Rows per row group (default 131072).
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub row_group_size: Option<u64>,
    /// Threads encoding the columns of each channel's files (default: the cores, at
    /// most one per column); 1 still encodes beside the read.
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub encode_threads: Option<u64>,
    /// Output column names, in the reader's column order (default: the reader's names).
    /// Entries may be strings or DataX-style `{"name": ..., "type": ...}` objects (the
    /// type is ignored: Arrow types are written as they come).
    #[serde(default)]
    pub column: Vec<WriterColumn>,
}

/// One writer `column` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum WriterColumn {
    /// `"name"`.
    Name(String),
    /// `{"name": "id", "type": "bigint"}` (hdfswriter style).
    Object(WriterColumnObject),
}

/// DataX hdfswriter column object.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriterColumnObject {
    /// Column name.
    pub name: String,
    /// Accepted and ignored.
    #[serde(default, rename = "type")]
    pub type_name: Option<String>,
}

impl WriterColumn {
    /// The column name.
    pub fn name(&self) -> &str {
        match self {
            WriterColumn::Name(n) => n,
            WriterColumn::Object(o) => &o.name,
        }
    }
}

/// `partitionBy`: a spec string or a list.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PartitionByParam {
    /// `"pt=20261122"`.
    Spec(String),
    /// `["pt", "region"]` (or `["pt=1", "region=hz"]`, read as one spec).
    List(Vec<String>),
}

/// How the writer partitions, resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum Partitioning {
    /// Everything into `path`.
    None,
    /// Everything into `path/k1=v1/k2=v2`.
    Fixed(PartitionSpec),
    /// Hive folders from these columns' values (by output column name).
    Columns(Vec<String>),
}

impl PartitionByParam {
    /// Resolve into a [`Partitioning`]; `path` is the JSON path for messages.
    pub fn resolve(&self, path: &str) -> Result<Partitioning> {
        match self {
            PartitionByParam::Spec(s) if s.trim().is_empty() => Ok(Partitioning::None),
            PartitionByParam::Spec(s) if s.contains('=') => Ok(Partitioning::Fixed(
                parse_spec(s).map_err(|m| Error::config(format!("{path}: {m}")))?,
            )),
            PartitionByParam::Spec(s) => Err(Error::config(format!(
                "{path}: \"{s}\" is neither a partition spec (pt=20261122) nor a list; \
                 to partition by a column's values write [\"{s}\"]"
            ))),
            PartitionByParam::List(v) if v.is_empty() => Ok(Partitioning::None),
            PartitionByParam::List(v) if v.iter().all(|e| e.contains('=')) => {
                let spec =
                    parse_spec(&v.join("/")).map_err(|m| Error::config(format!("{path}: {m}")))?;
                Ok(Partitioning::Fixed(spec))
            }
            PartitionByParam::List(v) => {
                for (i, e) in v.iter().enumerate() {
                    if e.contains('=') || e.trim().is_empty() {
                        return Err(Error::config(format!(
                            "{path}[{i}]: \"{e}\": a list mixes column names and a spec; \
                             give either column names or one spec string"
                        )));
                    }
                }
                Ok(Partitioning::Columns(
                    v.iter().map(|s| s.trim().to_string()).collect(),
                ))
            }
        }
    }
}

/// DataX file writers' `writeMode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WriteMode {
    /// Remove the existing files with the prefix at commit, replaced by the new ones.
    Truncate,
    /// Add files next to what is there.
    #[default]
    Append,
    /// Fail before writing if the folder holds any visible file.
    NonConflict,
}

impl<'de> Deserialize<'de> for WriteMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.trim().to_ascii_lowercase().as_str() {
            "truncate" => Ok(WriteMode::Truncate),
            "append" => Ok(WriteMode::Append),
            "nonconflict" => Ok(WriteMode::NonConflict),
            _ => Err(D::Error::custom(format!(
                "unknown writeMode \"{s}\"; expected truncate, append or nonConflict"
            ))),
        }
    }
}

/// `compression`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CompressionName {
    /// Zstandard level 3 (default).
    #[default]
    Zstd,
    /// Snappy.
    Snappy,
    /// Gzip (default level).
    Gzip,
    /// LZ4 (raw, the current Parquet codec).
    Lz4,
    /// Uncompressed.
    None,
}

impl<'de> Deserialize<'de> for CompressionName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.trim().to_ascii_lowercase().as_str() {
            "zstd" => Ok(CompressionName::Zstd),
            "snappy" => Ok(CompressionName::Snappy),
            "gzip" => Ok(CompressionName::Gzip),
            "lz4" => Ok(CompressionName::Lz4),
            "none" | "uncompressed" | "" => Ok(CompressionName::None),
            _ => Err(D::Error::custom(format!(
                "unknown compression \"{s}\"; expected zstd, snappy, gzip, lz4 or none"
            ))),
        }
    }
}

impl CompressionName {
    /// The parquet codec.
    pub fn codec(self) -> parquet::basic::Compression {
        use parquet::basic::{Compression, GzipLevel, ZstdLevel};
        match self {
            CompressionName::Zstd => Compression::ZSTD(ZstdLevel::default()),
            CompressionName::Snappy => Compression::SNAPPY,
            CompressionName::Gzip => Compression::GZIP(GzipLevel::default()),
            CompressionName::Lz4 => Compression::LZ4_RAW,
            CompressionName::None => Compression::UNCOMPRESSED,
        }
    }
}

/// `reader.parameter` of a `parquet` reader.
///
/// ```json
/// {"path": "staged/person", "column": ["id", "name", "pt", "'const'"],
///  "where": "pt >= '20261101'"}
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReaderParams {
    /// A file, a folder (read recursively; names starting with `.` or `_` are skipped)
    /// or a glob (`staged/person/pt=*/*.parquet`); a list of these is also accepted.
    #[serde(deserialize_with = "one_or_many")]
    pub path: Vec<String>,
    /// File columns, partition columns and constants (`'abc'`, `123`); `["*"]` (the
    /// default) = every file column then every partition column.
    #[serde(default, deserialize_with = "one_or_many")]
    pub column: Vec<String>,
    /// A filter in SQL (DataFusion) over the column names, evaluated by the transform;
    /// simple comparisons of partition columns also skip whole partition folders.
    #[serde(default, rename = "where")]
    pub where_clause: Option<String>,
}

/// Keys the writer accepts and ignores with a warning (DataX's hdfswriter spellings).
pub const WRITER_IGNORED: &[&str] = &["encoding", "fieldDelimiter", "fileType"];
/// Keys the reader accepts and ignores with a warning.
pub const READER_IGNORED: &[&str] = &["encoding", "fileType", "fieldDelimiter", "nullFormat"];

/// Parse writer parameters.
pub fn parse_writer(
    params: &serde_json::Value,
    path: &str,
    warnings: &mut Vec<String>,
) -> Result<WriterParams> {
    let p: WriterParams = ferry_core::params::parse(params, path, WRITER_IGNORED, warnings)?;
    if p.path.trim().is_empty() {
        return Err(Error::config(format!("{path}.path: must not be empty")));
    }
    if let Some(prefix) = &p.file_name {
        if prefix.is_empty() || prefix.contains(['/', '\\']) || prefix.starts_with(['.', '_']) {
            return Err(Error::config(format!(
                "{path}.fileName: \"{prefix}\" must be a plain, visible file name prefix (no '/', not starting with '.' or '_')"
            )));
        }
    }
    for (key, v) in [
        ("maxFileSizeMB", p.max_file_size_mb),
        ("maxRowsPerFile", p.max_rows_per_file),
        ("rowGroupSize", p.row_group_size),
        ("encodeThreads", p.encode_threads),
    ] {
        if v == Some(0) {
            return Err(Error::config(format!("{path}.{key}: must be at least 1")));
        }
    }
    for (i, c) in p.column.iter().enumerate() {
        if let WriterColumn::Object(WriterColumnObject {
            type_name: Some(t), ..
        }) = c
        {
            warnings.push(format!(
                "{path}.column[{i}].type: \"{t}\" ignored; Parquet columns keep the reader's Arrow types"
            ));
        }
    }
    if let Some(pb) = &p.partition_by {
        pb.resolve(&format!("{path}.partitionBy"))?;
    }
    Ok(p)
}

/// Parse reader parameters.
pub fn parse_reader(
    params: &serde_json::Value,
    path: &str,
    warnings: &mut Vec<String>,
) -> Result<ReaderParams> {
    let p: ReaderParams = ferry_core::params::parse(params, path, READER_IGNORED, warnings)?;
    if p.path.is_empty() || p.path.iter().any(|s| s.trim().is_empty()) {
        return Err(Error::config(format!(
            "{path}.path: must name a file, folder or glob"
        )));
    }
    Ok(p)
}

/// The parameters, as `ferry job template` prints them (key, example value, when set,
/// type, default and meaning).
#[rustfmt::skip]
pub const READER_PARAMS: &[Param] = &[
    param("path", "\"staged/source_table\"", Set::Always, "string or list, required: a file, a folder (read recursively) or a glob (staged/t/pt=*/*.parquet)"),
    param("column", "[\"*\"]", Set::Always, "list of strings, default [\"*\"]: file columns, partition columns, constants ('abc', 123); [\"*\"] = all"),
    param("where", "\"pt >= '20261101'\"", Set::Never, "string, default none: a SQL (DataFusion) filter; comparisons of partition columns skip whole folders"),
];

/// The parameters, as `ferry job template` prints them (key, example value, when set,
/// type, default and meaning).
#[rustfmt::skip]
pub const WRITER_PARAMS: &[Param] = &[
    param("path", "\"staged/target_table\"", Set::Always, "string, required: the folder files are written into (created when missing)"),
    param("fileName", "\"part\"", Set::Never, "string, default part: file name prefix (<fileName>-<job>-<channel>-<n>.parquet)"),
    param("writeMode", "\"append\"", Set::Always, "string, default append: append, truncate (replace the files with this prefix at commit) or nonConflict (fail if the folder has files)"),
    param("compression", "\"zstd\"", Set::Always, "string, default zstd: zstd, snappy, gzip, lz4 or none"),
    param("partitionBy", "\"pt=${bdp.system.bizdate}\"", Set::Never, "string or list, default none: a fixed spec (pt=20261122) or column names ([\"pt\"]) for Hive folders"),
    param("maxFileSizeMB", "256", Set::Never, "integer, default none: roll to a new file at about this many MiB"),
    param("maxRowsPerFile", "1000000", Set::Never, "integer, default none: roll to a new file at this many rows"),
    param("rowGroupSize", "131072", Set::Never, "integer, default 131072: rows per row group"),
    param("encodeThreads", "2", Set::Never, "integer, default the cores: threads encoding each channel's columns, beside the read"),
    param("column", "[\"id\", \"name\"]", Set::Never, "list, default the reader's names: output column names in the reader's order (strings or {name, type})"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writer_params_parse_and_misspellings_are_caught() {
        let mut w = vec![];
        let p = parse_writer(
            &json!({"path": "/x", "writeMode": "nonConflict", "compression": "SNAPPY",
                    "partitionBy": ["pt"], "maxRowsPerFile": "10",
                    "column": ["a", {"name": "b", "type": "bigint"}]}),
            "w",
            &mut w,
        )
        .unwrap();
        assert_eq!(p.write_mode, WriteMode::NonConflict);
        assert_eq!(p.compression, CompressionName::Snappy);
        assert_eq!(p.max_rows_per_file, Some(10));
        assert_eq!(p.column[1].name(), "b");
        assert_eq!(w.len(), 1);
        let err =
            parse_writer(&json!({"path": "/x", "writemode": "append"}), "w", &mut w).unwrap_err();
        assert_eq!(
            err.to_string(),
            "w.writemode: unknown key, did you mean \"writeMode\"?"
        );
        let err =
            parse_writer(&json!({"path": "/x", "compression": "brotli"}), "w", &mut w).unwrap_err();
        assert!(err.to_string().contains("w.compression"), "{err}");
        let err =
            parse_writer(&json!({"path": "/x", "partitionBy": "pt"}), "w", &mut w).unwrap_err();
        assert!(err.to_string().starts_with("w.partitionBy"), "{err}");
    }

    #[test]
    fn partition_by_forms() {
        let r = PartitionByParam::Spec("pt=1/region=hz".into())
            .resolve("p")
            .unwrap();
        let Partitioning::Fixed(s) = r else {
            panic!("{r:?}")
        };
        assert_eq!(s.dir(), "pt=1/region=hz");
        let r = PartitionByParam::Spec("pt=1,region=hz".into())
            .resolve("p")
            .unwrap();
        assert_eq!(r, Partitioning::Fixed(s));
        let r = PartitionByParam::List(vec!["pt".into()])
            .resolve("p")
            .unwrap();
        assert_eq!(r, Partitioning::Columns(vec!["pt".into()]));
    }

    #[test]
    fn reader_params() {
        let mut w = vec![];
        let p = parse_reader(
            &json!({"path": "/x", "column": ["*"], "where": "pt = '1'"}),
            "r",
            &mut w,
        )
        .unwrap();
        assert_eq!(p.path, vec!["/x"]);
        assert_eq!(p.where_clause.as_deref(), Some("pt = '1'"));
        assert!(parse_reader(&json!({"column": ["*"]}), "r", &mut w).is_err());
    }
}
