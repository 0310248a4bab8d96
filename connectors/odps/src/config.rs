//! Parameters of the `odps` reader and writer (DataX `odpsreader` / `odpswriter`, DataWorks
//! `odps`), parsed strictly, and the connection they resolve to (a catalog datasource or
//! DataX's inline `odpsServer` / `accessId` / `accessKey`).
//!
//! The doc comments of the fields are the user documentation; `docs/odps.md` mirrors them.

use ferry_core::connector::{param, Param, Set};
use std::fmt;

use ferry_core::catalog::{hide_url_password, resolve_secret, Datasource};
use ferry_core::connector::{field, DatasourceKind, FieldKind};
use ferry_core::params::{lenient_opt_bool, lenient_opt_u64, one_or_many, parse};
use ferry_core::plugin::BuildContext;
use ferry_core::{Error, Result};
use serde::Deserialize;

use crate::wire::compress::Compression;

/// Keys DataX accepts that ferry ignores on purpose (removed with a warning).
pub const WRITER_IGNORED: &[&str] = &["accountType", "accountProvider", "writeTimeoutInMs"];
/// Keys the reader accepts and ignores with a warning.
pub const READER_IGNORED: &[&str] = &[
    "accountType",
    "accountProvider",
    "packageAuthorizedProject",
    "preSql",
    "postSql",
    "calendarTimeZone",
    "useDateWithCalendar",
];

/// Default `maxRetryTime`.
pub const DEFAULT_MAX_RETRY: u32 = 10;
/// Default `blockSizeInMB`.
pub const DEFAULT_BLOCK_MB: u64 = 64;

/// `odps` writer parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WriterParams {
    /// DataWorks: the catalog datasource name (`odps_first`).
    #[serde(default)]
    pub datasource: Option<String>,
    /// Target table.
    pub table: String,
    /// Target partition, every level (`pt=20261122`, `pt=1,ds=hz`, `pt=1/ds=hz`).
    #[serde(default)]
    pub partition: Option<String>,
    /// Target columns; `["*"]` or absent = every column in table order.
    #[serde(default, deserialize_with = "one_or_many")]
    pub column: Vec<String>,
    /// Replace the partition (or table) atomically at commit.
    #[serde(default, deserialize_with = "lenient_opt_bool")]
    pub truncate: Option<bool>,
    /// DataX: AccessKey id.
    #[serde(default)]
    pub access_id: Option<String>,
    /// DataX: AccessKey secret.
    #[serde(default)]
    pub access_key: Option<String>,
    /// DataX: STS token (sent as `authorization-sts-token`).
    #[serde(default)]
    pub security_token: Option<String>,
    /// Project (overrides the datasource's).
    #[serde(default)]
    pub project: Option<String>,
    /// DataX: REST endpoint (`http://service.cn-hangzhou.maxcompute.aliyun.com/api`).
    #[serde(default)]
    pub odps_server: Option<String>,
    /// DataX: tunnel endpoint; discovered when absent.
    #[serde(default)]
    pub tunnel_server: Option<String>,
    /// Block size in MiB (1..512, default 64).
    #[serde(
        default,
        rename = "blockSizeInMB",
        deserialize_with = "lenient_opt_u64"
    )]
    pub block_size_in_mb: Option<u64>,
    /// Compress uploads with deflate.
    #[serde(default, deserialize_with = "lenient_opt_bool")]
    pub is_compress: Option<bool>,
    /// ferry: compression algorithm (`deflate`, `zstd`, `lz4`, `snappy`).
    #[serde(default)]
    pub compress: Option<String>,
    /// ferry: upload Arrow blocks instead of the record format.
    #[serde(default, deserialize_with = "lenient_opt_bool")]
    pub arrow: Option<bool>,
    /// Empty strings become NULL before casting into non-string columns.
    #[serde(default, deserialize_with = "lenient_opt_bool")]
    pub empty_as_null: Option<bool>,
    /// What to do with a string/binary value over the field limit: keepOn (dirty), truncate, setNull.
    #[serde(default)]
    pub over_length_rule: Option<String>,
    /// Bytes kept by `overLengthRule: truncate` (default and maximum 8 MiB).
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub max_field_length: Option<u64>,
    /// Accepted; ferry always commits all-or-nothing.
    #[serde(default, deserialize_with = "lenient_opt_bool")]
    pub consistency_commit: Option<bool>,
    /// ODPS SQL run before any data.
    #[serde(default, deserialize_with = "one_or_many")]
    pub pre_sql: Vec<String>,
    /// ODPS SQL run after the commit.
    #[serde(default, deserialize_with = "one_or_many")]
    pub post_sql: Vec<String>,
    /// Retries of one tunnel operation (1..10, default 10).
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub max_retry_time: Option<u64>,
}

/// `odps` reader parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReaderParams {
    /// DataWorks: the catalog datasource name.
    #[serde(default)]
    pub datasource: Option<String>,
    /// Source table.
    pub table: String,
    /// Partitions to read: specs with `*`/`?` globs, or `/*query*/` conditions.
    #[serde(default, deserialize_with = "one_or_many")]
    pub partition: Vec<String>,
    /// Columns: names, partition columns, `'constants'`; `["*"]` = every normal column.
    #[serde(default, deserialize_with = "one_or_many")]
    pub column: Vec<String>,
    /// DataX: AccessKey id.
    #[serde(default)]
    pub access_id: Option<String>,
    /// DataX: AccessKey secret.
    #[serde(default)]
    pub access_key: Option<String>,
    /// DataX: STS token.
    #[serde(default)]
    pub security_token: Option<String>,
    /// Project (overrides the datasource's).
    #[serde(default)]
    pub project: Option<String>,
    /// DataX: REST endpoint.
    #[serde(default)]
    pub odps_server: Option<String>,
    /// DataX: tunnel endpoint; discovered when absent.
    #[serde(default)]
    pub tunnel_server: Option<String>,
    /// `record` (default): cut partitions into row ranges; `partition`: one split per partition.
    #[serde(default)]
    pub split_mode: Option<String>,
    /// Succeed reading nothing when no partition matches.
    #[serde(default, deserialize_with = "lenient_opt_bool")]
    pub success_on_no_partition: Option<bool>,
    /// Ask for deflate-compressed downloads.
    #[serde(default, deserialize_with = "lenient_opt_bool")]
    pub is_compress: Option<bool>,
    /// ferry: compression algorithm (`deflate`, `zstd`, `lz4`, `snappy`).
    #[serde(default)]
    pub compress: Option<String>,
    /// ferry: download Arrow instead of the record format.
    #[serde(default, deserialize_with = "lenient_opt_bool")]
    pub arrow: Option<bool>,
    /// Retries of one tunnel operation (1..10, default 10).
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub max_retry_time: Option<u64>,
}

/// What to do with a value longer than the tunnel's field limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverLengthRule {
    /// Keep the row out: it becomes a dirty record.
    KeepOn,
    /// Cut the value to `maxFieldLength` bytes (at a character boundary).
    Truncate,
    /// Write NULL.
    SetNull,
}

/// Reader `splitMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitMode {
    /// Row ranges when there are fewer partitions than channels.
    Record,
    /// One split per partition.
    Partition,
}

/// Where and as whom to connect.
#[derive(Clone)]
pub struct Connection {
    /// REST endpoint, with its path prefix (`.../api`).
    pub endpoint: String,
    /// Tunnel endpoint, when configured.
    pub tunnel_endpoint: Option<String>,
    /// Project.
    pub project: String,
    /// AccessKey id.
    pub access_id: String,
    /// AccessKey secret (never printed).
    pub access_key: String,
    /// STS token, if any (never printed).
    pub security_token: Option<String>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("endpoint", &self.endpoint)
            .field("tunnel_endpoint", &self.tunnel_endpoint)
            .field("project", &self.project)
            .field("access_id", &self.access_id)
            .finish_non_exhaustive()
    }
}

/// A catalog datasource of type `odps` (also spelled `maxcompute`).
pub static DATASOURCE: DatasourceKind = DatasourceKind {
    aliases: &["maxcompute"],
    fields: &[
        field(
            "endpoint",
            "Endpoint",
            FieldKind::Url,
            true,
            "REST endpoint, e.g. http://service.cn-hangzhou.maxcompute.aliyun.com/api",
        ),
        field(
            "tunnelEndpoint",
            "Tunnel endpoint (optional)",
            FieldKind::Url,
            false,
            "tunnel endpoint (discovered when absent)",
        ),
        field("project", "Project", FieldKind::Text, true, "project"),
        field(
            "accessId",
            "AccessKey ID",
            FieldKind::Text,
            false,
            "AccessKey id",
        ),
        field(
            "accessKey",
            "AccessKey secret",
            FieldKind::Secret,
            false,
            "AccessKey secret, stored in the 0600 catalog; prefer accessKeyEnv",
        ),
        field(
            "accessKeyEnv",
            "AccessKey environment variable",
            FieldKind::SecretEnv,
            false,
            "environment variable holding the AccessKey secret",
        ),
    ],
    check: |ds| {
        let lower = ds.get("endpoint").unwrap_or_default().to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            Ok(())
        } else {
            Err(Error::config(
                "endpoint must start with http:// or https://",
            ))
        }
    },
    locate: |ds| {
        format!(
            "{} project {}",
            hide_url_password(ds.get("endpoint").unwrap_or_default()),
            ds.get("project").unwrap_or_default()
        )
    },
};

/// A MaxCompute (ODPS) datasource, as the catalog holds it.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OdpsSource {
    /// Free text, at most 80 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// REST endpoint, e.g. `http://service.cn-hangzhou.maxcompute.aliyun.com/api`.
    pub endpoint: String,
    /// Tunnel endpoint; discovered from the REST endpoint when absent.
    #[serde(default)]
    pub tunnel_endpoint: Option<String>,
    /// Project name.
    pub project: String,
    /// AccessKey id.
    #[serde(default)]
    pub access_id: Option<String>,
    /// AccessKey secret in clear (the file is 0600); prefer `accessKeyEnv`.
    #[serde(default)]
    pub access_key: Option<String>,
    /// Name of an environment variable holding the AccessKey secret.
    #[serde(default)]
    pub access_key_env: Option<String>,
}

impl OdpsSource {
    /// The catalog datasource `name`; an error when it is not an ODPS datasource.
    pub fn from_datasource(name: &str, ds: &Datasource) -> Result<OdpsSource> {
        ds.typed(name, crate::CONNECTOR.name)
    }

    /// The AccessKey secret: inline, else from `accessKeyEnv`, else none.
    pub fn resolve_access_key(&self) -> Result<Option<String>> {
        resolve_secret(
            self.access_key.as_deref(),
            self.access_key_env.as_deref(),
            "accessKeyEnv",
        )
    }

    /// The same datasource, for a catalog.
    pub fn to_datasource(&self) -> Datasource {
        let mut ds = Datasource::new(crate::CONNECTOR.name);
        ds.set("description", self.description.clone());
        ds.set("endpoint", Some(self.endpoint.clone()));
        ds.set("tunnelEndpoint", self.tunnel_endpoint.clone());
        ds.set("project", Some(self.project.clone()));
        ds.set("accessId", self.access_id.clone());
        ds.set("accessKey", self.access_key.clone());
        ds.set("accessKeyEnv", self.access_key_env.clone());
        ds
    }
}

impl Connection {
    /// The connection a catalog datasource describes.
    pub fn from_source(src: &OdpsSource) -> Result<Connection> {
        let key = src.resolve_access_key()?.ok_or_else(|| {
            Error::config(format!(
                "odps datasource for project {}: no accessKey or accessKeyEnv",
                src.project
            ))
        })?;
        let id = src.access_id.clone().ok_or_else(|| {
            Error::config(format!(
                "odps datasource for project {}: no accessId",
                src.project
            ))
        })?;
        Ok(Connection {
            endpoint: src.endpoint.clone(),
            tunnel_endpoint: src.tunnel_endpoint.clone().filter(|s| !s.trim().is_empty()),
            project: src.project.clone(),
            access_id: id,
            access_key: key,
            security_token: None,
        })
    }

    /// The secrets to redact from any message.
    pub fn secrets(&self) -> Vec<String> {
        let mut v = vec![self.access_key.clone()];
        if let Some(t) = &self.security_token {
            v.push(t.clone());
        }
        v
    }
}

/// The connection-related parameters both plugins share.
pub struct ConnParams<'a> {
    /// `datasource`.
    pub datasource: Option<&'a str>,
    /// `project`.
    pub project: Option<&'a str>,
    /// `odpsServer`.
    pub odps_server: Option<&'a str>,
    /// `tunnelServer`.
    pub tunnel_server: Option<&'a str>,
    /// `accessId`.
    pub access_id: Option<&'a str>,
    /// `accessKey`.
    pub access_key: Option<&'a str>,
    /// `securityToken`.
    pub security_token: Option<&'a str>,
}

fn nonempty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

impl ConnParams<'_> {
    /// Check without I/O that a connection can be formed (catalog lookup excepted).
    pub fn check(&self, path: &str) -> Result<()> {
        if nonempty(self.datasource).is_some() {
            return Ok(());
        }
        for (key, v) in [
            ("odpsServer", self.odps_server),
            ("project", self.project),
            ("accessId", self.access_id),
            ("accessKey", self.access_key),
        ] {
            if nonempty(v).is_none() {
                return Err(Error::config(format!(
                    "{path}.{key}: required key is missing (or set \"datasource\" to a catalog datasource)"
                )));
            }
        }
        Ok(())
    }

    /// Resolve the connection: the catalog datasource, overridden by inline parameters.
    pub fn resolve(&self, path: &str, ctx: &BuildContext) -> Result<Connection> {
        self.check(path)?;
        let mut conn = match nonempty(self.datasource) {
            Some(name) => {
                let ds = ctx
                    .catalog
                    .get(name)
                    .map_err(|e| e.context(format!("{path}.datasource")))?;
                OdpsSource::from_datasource(name, ds)
                    .and_then(|src| Connection::from_source(&src))
                    .map_err(|e| e.context(format!("{path}.datasource {name}")))?
            }
            None => Connection {
                endpoint: String::new(),
                tunnel_endpoint: None,
                project: String::new(),
                access_id: String::new(),
                access_key: String::new(),
                security_token: None,
            },
        };
        if let Some(v) = nonempty(self.odps_server) {
            conn.endpoint = v.to_string();
        }
        if let Some(v) = nonempty(self.tunnel_server) {
            conn.tunnel_endpoint = Some(v.to_string());
        }
        if let Some(v) = nonempty(self.project) {
            conn.project = v.to_string();
        }
        if let Some(v) = nonempty(self.access_id) {
            conn.access_id = v.to_string();
        }
        if let Some(v) = nonempty(self.access_key) {
            conn.access_key = v.to_string();
        }
        if let Some(v) = nonempty(self.security_token) {
            conn.security_token = Some(v.to_string());
        }
        Ok(conn)
    }
}

/// The compression a `compress` / `isCompress` pair selects.
pub fn compression(
    path: &str,
    compress: Option<&str>,
    is_compress: Option<bool>,
) -> Result<Option<Compression>> {
    match nonempty(compress) {
        Some(name) if name.eq_ignore_ascii_case("none") => Ok(None),
        Some(name) => Compression::from_algo(name).map(Some).ok_or_else(|| {
            Error::config(format!(
                "{path}.compress: unknown compression \"{name}\"; use deflate, zstd, lz4 or snappy"
            ))
        }),
        None => Ok(is_compress.unwrap_or(false).then_some(Compression::Deflate)),
    }
}

/// `maxRetryTime`, checked to lie in 1..=10 (0 is raised to 1).
pub fn max_retry(path: &str, v: Option<u64>) -> Result<u32> {
    match v {
        None => Ok(DEFAULT_MAX_RETRY),
        Some(n) if n <= 10 => Ok(n.max(1) as u32),
        Some(n) => Err(Error::config(format!(
            "{path}.maxRetryTime: {n} is out of range 1..10"
        ))),
    }
}

impl WriterParams {
    /// Parse (strictly) the writer parameters at `path`.
    pub fn parse(
        value: &serde_json::Value,
        path: &str,
        warnings: &mut Vec<String>,
    ) -> Result<Self> {
        let p: WriterParams = parse(value, path, WRITER_IGNORED, warnings)?;
        p.conn().check(path)?;
        p.over_length_rule(path)?;
        p.block_size(path)?;
        compression(path, p.compress.as_deref(), p.is_compress)?;
        max_retry(path, p.max_retry_time)?;
        if p.table.trim().is_empty() {
            return Err(Error::config(format!("{path}.table: must not be empty")));
        }
        if p.consistency_commit == Some(false) {
            warnings.push(format!(
                "{path}.consistencyCommit: false is accepted, but ferry always commits all blocks at once at the end of the job"
            ));
        }
        Ok(p)
    }

    /// The connection parameters.
    pub fn conn(&self) -> ConnParams<'_> {
        ConnParams {
            datasource: self.datasource.as_deref(),
            project: self.project.as_deref(),
            odps_server: self.odps_server.as_deref(),
            tunnel_server: self.tunnel_server.as_deref(),
            access_id: self.access_id.as_deref(),
            access_key: self.access_key.as_deref(),
            security_token: self.security_token.as_deref(),
        }
    }

    /// `overLengthRule`.
    pub fn over_length_rule(&self, path: &str) -> Result<OverLengthRule> {
        match self
            .over_length_rule
            .as_deref()
            .map(|s| s.trim().to_ascii_lowercase())
        {
            None => Ok(OverLengthRule::KeepOn),
            Some(s) if s.is_empty() || s == "keepon" => Ok(OverLengthRule::KeepOn),
            Some(s) if s == "truncate" => Ok(OverLengthRule::Truncate),
            Some(s) if s == "setnull" => Ok(OverLengthRule::SetNull),
            Some(s) => Err(Error::config(format!(
                "{path}.overLengthRule: \"{s}\" is not one of keepOn, truncate, setNull"
            ))),
        }
    }

    /// `blockSizeInMB` in bytes.
    pub fn block_size(&self, path: &str) -> Result<usize> {
        match self.block_size_in_mb {
            None => Ok((DEFAULT_BLOCK_MB as usize) << 20),
            Some(n) if (1..=512).contains(&n) => Ok((n as usize) << 20),
            Some(n) => Err(Error::config(format!(
                "{path}.blockSizeInMB: {n} is out of range 1..512"
            ))),
        }
    }
}

impl ReaderParams {
    /// Parse (strictly) the reader parameters at `path`.
    pub fn parse(
        value: &serde_json::Value,
        path: &str,
        warnings: &mut Vec<String>,
    ) -> Result<Self> {
        let p: ReaderParams = parse(value, path, READER_IGNORED, warnings)?;
        p.conn().check(path)?;
        p.split_mode(path)?;
        compression(path, p.compress.as_deref(), p.is_compress)?;
        max_retry(path, p.max_retry_time)?;
        if p.table.trim().is_empty() {
            return Err(Error::config(format!("{path}.table: must not be empty")));
        }
        if p.column.is_empty() || (p.column.len() == 1 && p.column[0].trim() == "*") {
            warnings.push(format!(
                "{path}.column: [\"*\"] reads every normal column of {}; list the columns to make the job stable",
                p.table
            ));
        }
        Ok(p)
    }

    /// The connection parameters.
    pub fn conn(&self) -> ConnParams<'_> {
        ConnParams {
            datasource: self.datasource.as_deref(),
            project: self.project.as_deref(),
            odps_server: self.odps_server.as_deref(),
            tunnel_server: self.tunnel_server.as_deref(),
            access_id: self.access_id.as_deref(),
            access_key: self.access_key.as_deref(),
            security_token: self.security_token.as_deref(),
        }
    }

    /// `splitMode`.
    pub fn split_mode(&self, path: &str) -> Result<SplitMode> {
        match self
            .split_mode
            .as_deref()
            .map(|s| s.trim().to_ascii_lowercase())
        {
            None => Ok(SplitMode::Record),
            Some(s) if s.is_empty() || s == "record" => Ok(SplitMode::Record),
            Some(s) if s == "partition" => Ok(SplitMode::Partition),
            Some(s) => Err(Error::config(format!(
                "{path}.splitMode: \"{s}\" is not one of record, partition"
            ))),
        }
    }
}

/// The parameters, as `ferry job template` prints them (key, example value, when set,
/// type, default and meaning).
#[rustfmt::skip]
pub const READER_PARAMS: &[Param] = &[
    param("datasource", "\"my_odps\"", Set::V1, "string, required unless odpsServer/project/accessId/accessKey are given: a catalog datasource"),
    param("accessId", "\"YOUR_ACCESS_ID\"", Set::DataX, "string, DataX: AccessKey id"),
    param("accessKey", "\"YOUR_ACCESS_KEY\"", Set::DataX, "string, DataX: AccessKey secret (prefer a catalog datasource)"),
    param("securityToken", "\"\"", Set::Never, "string, DataX: STS token"),
    param("project", "\"my_project\"", Set::DataX, "string, default the datasource's: the project"),
    param("odpsServer", "\"http://service.cn-hangzhou.maxcompute.aliyun.com/api\"", Set::DataX, "string, DataX: REST endpoint"),
    param("tunnelServer", "\"\"", Set::Never, "string, default discovered: tunnel endpoint"),
    param("table", "\"source_table\"", Set::Always, "string, required: the table"),
    param("partition", "[\"pt=${bdp.system.bizdate}\"]", Set::Always, "string or list, required for a partitioned table: specs with * and ? globs (pt=2026*), or /*query*/ conditions"),
    param("column", "[\"*\"]", Set::Always, "list of strings, default [\"*\"]: column names, partition columns, constants 'abc'; [\"*\"] = every normal column"),
    param("splitMode", "\"record\"", Set::Never, "string, default record: record (cut partitions into row ranges) or partition (one split per partition)"),
    param("successOnNoPartition", "false", Set::Never, "bool, default false: succeed reading nothing when no partition matches"),
    param("isCompress", "false", Set::Never, "bool, default false: deflate-compressed downloads"),
    param("compress", "\"zstd\"", Set::Never, "string, default none: ferry's compression: deflate, zstd, lz4 or snappy"),
    param("arrow", "false", Set::Never, "bool, default false: download Arrow instead of the record format"),
    param("maxRetryTime", "10", Set::Never, "integer 1..10, default 10: retries of one tunnel operation"),
];

/// The parameters, as `ferry job template` prints them (key, example value, when set,
/// type, default and meaning).
#[rustfmt::skip]
pub const WRITER_PARAMS: &[Param] = &[
    param("datasource", "\"my_odps\"", Set::V1, "string, required unless odpsServer/project/accessId/accessKey are given: a catalog datasource"),
    param("accessId", "\"YOUR_ACCESS_ID\"", Set::DataX, "string, DataX: AccessKey id"),
    param("accessKey", "\"YOUR_ACCESS_KEY\"", Set::DataX, "string, DataX: AccessKey secret (prefer a catalog datasource)"),
    param("securityToken", "\"\"", Set::Never, "string, DataX: STS token"),
    param("project", "\"my_project\"", Set::DataX, "string, default the datasource's: the project"),
    param("odpsServer", "\"http://service.cn-hangzhou.maxcompute.aliyun.com/api\"", Set::DataX, "string, DataX: REST endpoint"),
    param("tunnelServer", "\"\"", Set::Never, "string, default discovered: tunnel endpoint"),
    param("table", "\"target_table\"", Set::Always, "string, required: the table"),
    param("partition", "\"pt=${bdp.system.bizdate}\"", Set::Always, "string, required for a partitioned table: every level (pt=1,ds=hz or pt=1/ds=hz); created when missing"),
    param("column", "[\"*\"]", Set::Always, "list of strings, default [\"*\"]: target columns in the reader's order; [\"*\"] = every column"),
    param("truncate", "true", Set::Always, "bool, default false: replace the partition (or table) atomically at commit"),
    param("blockSizeInMB", "64", Set::Never, "integer 1..512, default 64: upload block size in MiB"),
    param("isCompress", "false", Set::Never, "bool, default false: deflate-compressed uploads"),
    param("compress", "\"zstd\"", Set::Never, "string, default none: ferry's compression: deflate, zstd, lz4 or snappy"),
    param("arrow", "false", Set::Never, "bool, default false: upload Arrow blocks instead of the record format"),
    param("emptyAsNull", "false", Set::Never, "bool: empty strings become NULL before casting into non-string columns"),
    param("overLengthRule", "\"keepOn\"", Set::Never, "string, default keepOn: a value over the field limit is dirty (keepOn), cut (truncate) or NULL (setNull)"),
    param("maxFieldLength", "8388608", Set::Never, "integer, default and maximum 8 MiB: bytes kept by overLengthRule truncate"),
    param("consistencyCommit", "true", Set::Never, "bool: accepted; ferry always commits all blocks at once"),
    param("preSql", "[]", Set::Never, "list of strings, default []: ODPS SQL run before any data"),
    param("postSql", "[]", Set::Never, "list of strings, default []: ODPS SQL run after the commit"),
    param("maxRetryTime", "10", Set::Never, "integer 1..10, default 10: retries of one tunnel operation"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn datax_writer_params_parse_with_strings_for_numbers() {
        let mut w = vec![];
        let p = WriterParams::parse(
            &json!({"accessId": "id", "accessKey": "k", "project": "p",
                    "odpsServer": "http://h/api", "table": "t", "partition": "pt=1",
                    "column": ["a", "b"], "truncate": "true", "blockSizeInMB": "32",
                    "isCompress": "true", "accountType": "aliyun", "overLengthRule": "setNull"}),
            "w",
            &mut w,
        )
        .unwrap();
        assert_eq!(p.truncate, Some(true));
        assert_eq!(p.block_size("w").unwrap(), 32 << 20);
        assert_eq!(p.over_length_rule("w").unwrap(), OverLengthRule::SetNull);
        assert_eq!(
            compression("w", p.compress.as_deref(), p.is_compress).unwrap(),
            Some(Compression::Deflate)
        );
        assert!(w.iter().any(|m| m.contains("w.accountType")), "{w:?}");
    }

    #[test]
    fn missing_connection_names_the_key() {
        let mut w = vec![];
        let e =
            WriterParams::parse(&json!({"table": "t", "project": "p"}), "w", &mut w).unwrap_err();
        assert!(e.to_string().starts_with("w.odpsServer: required"), "{e}");
        let e = ReaderParams::parse(
            &json!({"datasource": "d", "table": "t", "splitmode": "record"}),
            "r",
            &mut w,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "r.splitmode: unknown key, did you mean \"splitMode\"?"
        );
    }

    #[test]
    fn bad_values_are_rejected() {
        let mut w = vec![];
        let base = json!({"datasource": "d", "table": "t"});
        let with = |k: &str, v: serde_json::Value| {
            let mut b = base.clone();
            b[k] = v;
            b
        };
        assert!(WriterParams::parse(&with("blockSizeInMB", json!(1024)), "w", &mut w).is_err());
        assert!(WriterParams::parse(&with("overLengthRule", json!("drop")), "w", &mut w).is_err());
        assert!(WriterParams::parse(&with("compress", json!("brotli")), "w", &mut w).is_err());
        assert!(ReaderParams::parse(&with("splitMode", json!("rows")), "r", &mut w).is_err());
        assert!(ReaderParams::parse(&with("maxRetryTime", json!(11)), "r", &mut w).is_err());
        let r = ReaderParams::parse(
            &with("packageAuthorizedProject", json!("other")),
            "r",
            &mut w,
        );
        assert!(r.is_ok());
        assert!(w.iter().any(|m| m.contains("packageAuthorizedProject")));
    }

    #[test]
    fn connection_debug_hides_the_key() {
        let c = Connection {
            endpoint: "http://h/api".into(),
            tunnel_endpoint: None,
            project: "p".into(),
            access_id: "id".into(),
            access_key: "s3cr3t".into(),
            security_token: None,
        };
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }
}
