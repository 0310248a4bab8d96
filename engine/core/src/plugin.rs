//! The traits every connector implements, and how the runtime drives them.
//!
//! ```text
//! ReaderFactory::build ─► Reader::plan ─► [Split] ─► Reader::read(split) ─► BatchStream
//!                                                                             │ transform
//! WriterFactory::build ─► Writer::prepare(splits) ─► Writer::open(channel) ─► BatchSink
//!      per split: BatchSink::begin(split) ─► write ... ─► end ─► Receipt   (or discard, and retry)
//!                                            Writer::commit(receipts)  (or Writer::abort)
//! ```
//!
//! Write is not commit: nothing a sink writes may become visible before
//! [`Writer::commit`] (or the connector documents precisely what is visible when).
//!
//! Splits, receipts and what [`Writer::prepare`] returns are plain JSON values, so the
//! runtime can keep them in a run directory: a later process (`ferry run --resume`,
//! `ferry runs abort`) rebuilds the writer, [`Writer::attach`]es it to the prepared state
//! and commits or aborts with the receipts of splits finished by earlier processes.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use futures::Stream;

use crate::catalog::Catalog;
use crate::dirty::DirtyCollector;
use crate::error::{Error, Result};

/// A stream of record batches from one split. Batches are never empty and always have
/// the reader's declared [`Reader::schema`].
pub type BatchStream = Pin<Box<dyn Stream<Item = Result<RecordBatch>> + Send>>;

/// Arrow field metadata keys connectors use to describe the source / target type
/// beyond what Arrow says (shown by `ferry schema`, used by casts).
pub mod meta {
    /// The system's own type name (`numeric(12,2)`, `varchar(20)`, `datetime`).
    pub const SOURCE_TYPE: &str = "ferry.type";
    /// Maximum length in characters of a text value (`varchar(n)`, `char(n)`).
    pub const MAX_CHARS: &str = "ferry.max_chars";
}

/// One unit of reading work: a key range, a ctid range, a row range, a file.
/// Serialisable: a run directory keeps the plan, and a resumed run reads it back.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Split {
    /// Position in the plan (0-based).
    pub index: usize,
    /// Human description printed by `ferry validate` and in dirty records
    /// (e.g. `id >= 1 AND id < 26`, `pt=20261122 rows [0, 5000)`).
    pub description: String,
    /// Estimated rows, when the connector knows (for progress).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_rows: Option<u64>,
    /// Connector-specific payload (a serialised struct of the connector's own); the
    /// connector decodes it in [`Reader::read`] with [`Split::decode`].
    #[serde(default)]
    pub payload: serde_json::Value,
}

impl Split {
    /// A split with a description and a payload of the connector's own type.
    pub fn new<T: serde::Serialize>(
        index: usize,
        description: impl Into<String>,
        payload: &T,
    ) -> Result<Self> {
        Ok(Split {
            index,
            description: description.into(),
            estimated_rows: None,
            payload: serde_json::to_value(payload)
                .map_err(|e| Error::internal(format!("split payload: {e}")))?,
        })
    }

    /// The payload as the connector's type. A payload that does not decode is an
    /// internal error naming the split (or a run directory from another ferry version).
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(self.payload.clone()).map_err(|e| {
            Error::internal(format!(
                "split {} ({}): payload does not decode: {e}",
                self.index, self.description
            ))
        })
    }
}

/// A column of the reader's logical output, in the job's `column` order.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnSlot {
    /// Field `i` of [`Reader::schema`].
    Source(usize),
    /// A constant from the job's `column` list: `'abc'` (quotes stripped), `123`, `true`,
    /// `null`. The transform types it after the writer's column.
    Constant(ConstantValue),
}

/// A constant column value, as written in the job.
#[derive(Debug, Clone, PartialEq)]
pub enum ConstantValue {
    /// A quoted string (`'abc'`, `'123'`, `'${bdp.system.bizdate}'` after resolution).
    Text(String),
    /// An unquoted number (`123`, `2.5`), kept as written.
    Number(String),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
}

/// Parse a job `column` entry as a constant, if it is one (`'x'`, `123`, `true`, `null`).
pub fn parse_constant(entry: &str) -> Option<ConstantValue> {
    let t = entry.trim();
    if t.len() >= 2 && t.starts_with('\'') && t.ends_with('\'') {
        return Some(ConstantValue::Text(t[1..t.len() - 1].replace("''", "'")));
    }
    match t.to_ascii_lowercase().as_str() {
        "true" => return Some(ConstantValue::Bool(true)),
        "false" => return Some(ConstantValue::Bool(false)),
        "null" => return Some(ConstantValue::Null),
        _ => {}
    }
    let num = t.strip_prefix('-').unwrap_or(t);
    if !num.is_empty()
        && num.chars().all(|c| c.is_ascii_digit() || c == '.')
        && num.chars().filter(|c| *c == '.').count() <= 1
        && num.chars().next().is_some_and(|c| c.is_ascii_digit())
    {
        return Some(ConstantValue::Number(t.to_string()));
    }
    None
}

/// The reader's logical output schema: its fields in `layout` order, with constants
/// given default types (text → Utf8, integer → Int64, decimal → Float64, bool → Boolean,
/// null → Utf8) and named after the constant as written.
pub fn logical_schema(source: &arrow::datatypes::Schema, layout: &[ColumnSlot]) -> SchemaRef {
    use arrow::datatypes::{DataType, Field};
    let fields: Vec<Field> = layout
        .iter()
        .map(|slot| match slot {
            ColumnSlot::Source(i) => source.field(*i).clone(),
            ColumnSlot::Constant(c) => {
                let (name, dt) = match c {
                    ConstantValue::Text(t) => (format!("'{t}'"), DataType::Utf8),
                    ConstantValue::Number(n) if n.contains('.') => (n.clone(), DataType::Float64),
                    ConstantValue::Number(n) => (n.clone(), DataType::Int64),
                    ConstantValue::Bool(b) => (b.to_string(), DataType::Boolean),
                    ConstantValue::Null => ("null".to_string(), DataType::Utf8),
                };
                Field::new(name, dt, true)
            }
        })
        .collect();
    Arc::new(arrow::datatypes::Schema::new(fields))
}

/// Sizes the runtime asks readers to cut batches at.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    /// Target rows per batch.
    pub batch_rows: usize,
    /// Target bytes per batch (approximate).
    pub batch_bytes: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            batch_rows: 8192,
            batch_bytes: 8 << 20,
        }
    }
}

/// A configured source, connected and described.
#[async_trait]
pub trait Reader: Send + Sync {
    /// The Arrow schema of every batch [`Reader::read`] yields.
    fn schema(&self) -> SchemaRef;

    /// The reader's logical output columns in job order: source fields and constants.
    /// Default: every field of [`Reader::schema`], in order.
    fn layout(&self) -> Vec<ColumnSlot> {
        (0..self.schema().fields().len())
            .map(ColumnSlot::Source)
            .collect()
    }

    /// A `where` clause the reader could not push down; the transform evaluates it
    /// (DataFusion SQL over [`Reader::schema`]'s field names).
    fn residual_filter(&self) -> Option<String> {
        None
    }

    /// Cut the work into splits for `channels` concurrent readers.
    async fn plan(&self, channels: usize) -> Result<Vec<Split>>;

    /// Stream one split's batches.
    async fn read(&self, split: &Split, opts: ReadOptions) -> Result<BatchStream>;

    /// Called once after every split has been read (or the job failed): end snapshot
    /// transactions, close sessions.
    async fn close(&self) -> Result<()> {
        Ok(())
    }
}

/// A configured target, connected and described.
#[async_trait]
pub trait Writer: Send + Sync {
    /// The target's columns in job `column` order, typed as the target declares them.
    /// The transform casts every batch to exactly this schema.
    fn schema(&self) -> SchemaRef;

    /// DataX `emptyAsNull`: whether the transform turns empty strings into NULL before
    /// casting into non-string columns. Default: false.
    fn empty_as_null(&self) -> bool {
        false
    }

    /// What [`Writer::prepare`] will do and how the load commits, in one line for the
    /// summary and `ferry validate` (`one prepared transaction per split`). Default: none.
    fn describe_plan(&self) -> Option<String> {
        None
    }

    /// The run needs [`Durability::Durable`] receipts (a sharded run: another process
    /// commits what this one writes). A writer with several commit plans picks one whose
    /// receipts outlive the process. Called before [`Writer::prepare`]. Default: nothing
    /// to choose.
    fn require_durable(&self) {}

    /// Before any data: preSql, truncate, create partitions, open sessions, for these
    /// splits. Returns the state a later process needs to [`Writer::attach`] (session
    /// ids, staging names); the runtime keeps it in the run directory. Default: nothing.
    async fn prepare(&self, splits: &[Split]) -> Result<serde_json::Value> {
        let _ = splits;
        Ok(serde_json::Value::Null)
    }

    /// Resume: take over what earlier processes of the run prepared and staged (instead
    /// of [`Writer::prepare`]), so that [`Writer::commit`] and [`Writer::abort`] also
    /// cover the receipts they wrote. What they staged for splits without a durable
    /// receipt (a split cut short by the crash) is dropped here, before any split is
    /// written again. Default: refused, as for a writer whose staged output dies with
    /// its process.
    async fn attach(&self, resume: &Resume<'_>) -> Result<()> {
        let _ = resume;
        Err(Error::config(
            "this writer cannot resume: what it staged does not outlive its process",
        ))
    }

    /// Open the sink for one channel. Rows the target rejects go to `dirty`.
    async fn open(&self, channel: usize, dirty: DirtyCollector) -> Result<Box<dyn BatchSink>>;

    /// Make everything the receipts describe visible at once, then run postSql. The
    /// receipts may come from earlier processes of the same run (resume). Committing a
    /// second time what is already committed (a crash during commit) must succeed.
    async fn commit(&self, receipts: Vec<Receipt>) -> Result<CommitReport>;

    /// Undo what was written, including what a crashed earlier process of this run
    /// staged for splits without a receipt; the target is left as it was.
    async fn abort(&self, receipts: Vec<Receipt>) -> Result<()>;
}

/// What a resumed run hands [`Writer::attach`]: what the first process's
/// [`Writer::prepare`] returned and the durable receipts of every earlier process.
#[derive(Debug, Clone, Copy)]
pub struct Resume<'a> {
    /// What [`Writer::prepare`] returned (session ids, staging names).
    pub prepared: &'a serde_json::Value,
    /// Durable receipts of the splits earlier processes finished.
    pub receipts: &'a [Receipt],
    /// An earlier process began the commit and died before it ended: part of it may have
    /// happened, and [`Writer::commit`] must finish it (what is already committed counts
    /// as done).
    pub committing: bool,
    /// A sharded run: other processes are writing the run's other splits right now.
    /// Take over the prepared state, but clean up only what earlier attempts of this
    /// shard's own splits left; never another shard's work in progress (what no split
    /// claims is cleaned up by the commit, or the abort, of the whole run). `None`: this
    /// process is the run's only one, and everything without a receipt is left over.
    pub shard: Option<Shard>,
}

/// One shard of a sharded run: the splits whose index is `index` modulo `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    /// This shard, `0..count`.
    pub index: usize,
    /// How many shards the run has.
    pub count: usize,
}

impl Shard {
    /// Whether split `split` is this shard's.
    pub fn owns(&self, split: usize) -> bool {
        self.count > 0 && split % self.count == self.index
    }
}

/// One channel's writer. The runtime hands it one split at a time:
/// `begin(split)`, `write`..., then `end` (the split's output is staged and a receipt
/// describes it) or `discard` (a failed attempt: its partial output is dropped and the
/// split will be written again, by this sink or another one). `close` when the channel
/// is done.
///
/// Retries: when reading, transforming or writing a split fails with an error whose
/// [`Error::retry_hint`] is true, the runtime calls `discard` and, if it returns `Ok`,
/// later `begin`s the same split again (on this sink or another channel's). When
/// `discard` returns `Err`, the split cannot be retried (what the channel staged before
/// is lost with a connection, say) and the job fails.
#[async_trait]
pub trait BatchSink: Send {
    /// Start writing `split`.
    async fn begin(&mut self, split: &Split) -> Result<()>;

    /// Write a batch with the writer's schema. Returns the number of rows accepted so
    /// far that were not counted before (a sink that streams may confirm rows later, in
    /// a later `write` or in [`BatchSink::end`]); rows rejected were reported to the
    /// dirty collector.
    async fn write(&mut self, batch: RecordBatch) -> Result<u64>;

    /// Stage what the split wrote and describe it. The receipt's `rows` is the split's
    /// total: the runtime counts rows beyond what `write` returned.
    async fn end(&mut self) -> Result<Receipt>;

    /// Drop the current split's partial output (after a failed `begin`, `write`, `end`
    /// or read), so that the split can be written again. `Ok`: the partial output is
    /// gone and the sink can `begin` again (reconnecting if it must). `Err`: it could
    /// not be dropped, or dropping it lost earlier splits' output too: the job fails.
    async fn discard(&mut self) -> Result<()>;

    /// The channel is done (every split it took has ended); flush and release its
    /// connection. A writer that stages per channel (one transaction per channel)
    /// finishes that here (`PREPARE TRANSACTION`).
    async fn close(self: Box<Self>) -> Result<()>;
}

/// Whether a receipt's staged output outlives the process that wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Staged where a later process finds it (a prepared transaction, a staging table,
    /// an uploaded block, a temp file): a resumed run does not write the split again.
    Durable,
    /// Held by this process only (an open transaction, stdout): lost with it.
    Process,
}

/// What one split wrote, handed to [`Writer::commit`]. Serialisable: the runtime keeps
/// the receipts of durable splits in the run directory.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Receipt {
    /// The split's index.
    pub split: usize,
    /// Rows written for this split.
    pub rows: u64,
    /// Bytes written (wire bytes, as the connector counts them).
    pub bytes: u64,
    /// Whether a later process can commit it.
    pub durability: Durability,
    /// Connector-specific state (a prepared transaction's id, files, block ids).
    #[serde(default)]
    pub payload: serde_json::Value,
    /// Rows the split read, when the runtime counted them (a sharded run's commit adds
    /// the shards' counts up from the receipts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<u64>,
    /// Rows the split's `where` filtered out, likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filtered: Option<u64>,
}

impl Receipt {
    /// A receipt for `split`.
    pub fn new(split: usize, rows: u64, bytes: u64, durability: Durability) -> Self {
        Receipt {
            split,
            rows,
            bytes,
            durability,
            payload: serde_json::Value::Null,
            read: None,
            filtered: None,
        }
    }

    /// With a payload of the connector's own type.
    pub fn with_payload<T: serde::Serialize>(mut self, payload: &T) -> Result<Self> {
        self.payload = serde_json::to_value(payload)
            .map_err(|e| Error::internal(format!("receipt payload: {e}")))?;
        Ok(self)
    }

    /// The payload as the connector's type.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(self.payload.clone()).map_err(|e| {
            Error::internal(format!(
                "receipt of split {}: payload does not decode: {e}",
                self.split
            ))
        })
    }
}

/// What a commit did, for the summary.
#[derive(Debug, Clone, Default)]
pub struct CommitReport {
    /// Rows made visible.
    pub rows: u64,
    /// Free-form lines for the summary (`committed 5 blocks to pt=20261122`).
    pub notes: Vec<String>,
}

/// What connectors get when they are built.
#[derive(Clone)]
pub struct BuildContext {
    /// The datasource catalog (named datasources).
    pub catalog: Arc<Catalog>,
    /// Channels (`concurrent` / `channel`).
    pub channels: usize,
    /// The job file, for messages.
    pub job_name: String,
    /// For writers: the reader's logical output ([`logical_schema`]). Writers without
    /// declared column types (stream, Parquet) adopt it; others ignore it.
    pub source_schema: Option<SchemaRef>,
    /// The run's id (`[a-z0-9_]`, at most 40 characters): writers name what they stage
    /// after it (`ferry_<run>_<split>`), so that aborting a run finds all of it.
    pub run_id: String,
}

impl BuildContext {
    /// The context a job's connectors are built in: its channels and name, a fresh run id.
    pub fn for_job(catalog: Arc<Catalog>, job: &crate::job::Job) -> BuildContext {
        BuildContext {
            catalog,
            channels: job.settings.channels,
            job_name: job.name.clone(),
            source_schema: None,
            run_id: new_run_id(),
        }
    }
}

impl fmt::Debug for BuildContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuildContext")
            .field("channels", &self.channels)
            .field("job_name", &self.job_name)
            .finish()
    }
}

/// A fresh run id: `r` + UTC time to the second + 6 hex digits unique to this process
/// and instant (`r20261205_081502_3fa9c1`): sortable, and valid in SQL identifiers.
pub fn new_run_id() -> String {
    let now = chrono::Utc::now();
    let nanos = now.timestamp_subsec_nanos() as u64;
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mix = (nanos ^ (u64::from(std::process::id()) << 20) ^ call.wrapping_mul(0x2545_F491))
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!(
        "r{}_{:06x}",
        now.format("%Y%m%d_%H%M%S"),
        (mix >> 40) & 0xff_ffff
    )
}

/// Builds a [`Reader`] from a job's reader parameters.
#[async_trait]
pub trait ReaderFactory: Send + Sync {
    /// Canonical plugin name (`postgresql`).
    fn name(&self) -> &'static str;
    /// Parse and check the parameters without any I/O; errors carry `path`
    /// (e.g. `configuration.reader.parameter`).
    fn check(
        &self,
        params: &serde_json::Value,
        path: &str,
        warnings: &mut Vec<String>,
    ) -> Result<()>;
    /// Connect and describe the source.
    async fn build(
        &self,
        params: &serde_json::Value,
        path: &str,
        ctx: &BuildContext,
    ) -> Result<Arc<dyn Reader>>;
}

/// Builds a [`Writer`] from a job's writer parameters.
#[async_trait]
pub trait WriterFactory: Send + Sync {
    /// Canonical plugin name (`odps`).
    fn name(&self) -> &'static str;
    /// Parse and check the parameters without any I/O.
    fn check(
        &self,
        params: &serde_json::Value,
        path: &str,
        warnings: &mut Vec<String>,
    ) -> Result<()>;
    /// Connect and describe the target.
    async fn build(
        &self,
        params: &serde_json::Value,
        path: &str,
        ctx: &BuildContext,
    ) -> Result<Arc<dyn Writer>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_are_recognised() {
        assert_eq!(
            parse_constant("'abc'"),
            Some(ConstantValue::Text("abc".into()))
        );
        assert_eq!(
            parse_constant("'it''s'"),
            Some(ConstantValue::Text("it's".into()))
        );
        assert_eq!(
            parse_constant("123"),
            Some(ConstantValue::Number("123".into()))
        );
        assert_eq!(
            parse_constant("-2.5"),
            Some(ConstantValue::Number("-2.5".into()))
        );
        assert_eq!(parse_constant("TRUE"), Some(ConstantValue::Bool(true)));
        assert_eq!(parse_constant("null"), Some(ConstantValue::Null));
        assert_eq!(parse_constant("name"), None);
        assert_eq!(parse_constant("1.2.3"), None);
        assert_eq!(parse_constant("'"), None);
    }
}
