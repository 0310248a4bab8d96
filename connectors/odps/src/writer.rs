//! The `odps` writer: Arrow batches encoded straight into tunnel blocks of one upload
//! session per job (per partition), committed all at once.
//!
//! * `prepare`: `preSql`, create the partition when missing, open the upload session
//!   (`overwrite=true` when `truncate` is set).
//! * sinks write blocks with ids from one counter of the writer (as DataX does), cut
//!   at `blockSizeInMB`, streamed as they are encoded. A split's blocks go in its
//!   receipt. A failed split's blocks are replaced by empty blocks (a re-PUT of a block
//!   id replaces it), because the commit must name every block the server holds.
//! * a split's receipt is durable once its blocks are on the server: a resumed run
//!   (`ferry run --resume`) takes the session over by its id (sessions live 24 hours),
//!   empties the blocks of splits the crash cut short, and writes the rest under new ids.
//! * `commit`: compare the server's block list with every sink's receipt, then commit
//!   once. Nothing is visible before; with `truncate`, the old rows disappear at that
//!   same commit. `abort` commits nothing: the table is left as it was and the session
//!   expires on the server.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{new_null_array, Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use arrow::datatypes::{DataType, Decimal128Type, DecimalType, Schema, SchemaRef};
use async_trait::async_trait;
use ferry_core::dirty::{DirtyCollector, DirtyRecord, Stage};
use ferry_core::plugin::{
    BatchSink, BuildContext, CommitReport, Durability, Receipt, Resume, Split, Writer,
    WriterFactory,
};
use ferry_core::{Error, Result};

use crate::client::tunnel::{BlockUpload, UploadSession, MAX_BLOCK_ID};
use crate::client::{OdpsClient, TableMeta};
use crate::config::{compression, max_retry, OverLengthRule, WriterParams};
use crate::split::PartitionSpec;
use crate::wire::arrow_frame::{ArrowTunnelEncoder, DEFAULT_CHUNK_SIZE};
use crate::wire::compress::Compression;
use crate::wire::record::RecordEncoder;
use crate::wire::types::{arrow_type, OdpsType};

/// Builds the `odps` writer.
#[derive(Debug, Default, Clone, Copy)]
pub struct OdpsWriterFactory;

#[async_trait]
impl WriterFactory for OdpsWriterFactory {
    fn name(&self) -> &'static str {
        "odps"
    }

    fn check(
        &self,
        params: &serde_json::Value,
        path: &str,
        warnings: &mut Vec<String>,
    ) -> Result<()> {
        WriterParams::parse(params, path, warnings).map(|_| ())
    }

    async fn build(
        &self,
        params: &serde_json::Value,
        path: &str,
        ctx: &BuildContext,
    ) -> Result<Arc<dyn Writer>> {
        let mut warnings = Vec::new();
        let p = WriterParams::parse(params, path, &mut warnings)?;
        for w in &warnings {
            // `check` reports these to the user; here only for FERRY_LOG=debug.
            tracing::debug!("{w}");
        }
        let conn = p.conn().resolve(path, ctx)?;
        let client = Arc::new(OdpsClient::new(conn, max_retry(path, p.max_retry_time)?)?);
        let meta = client.get_table(&p.table).await?;
        Ok(Arc::new(OdpsWriter::new(p, path, client, meta)?))
    }
}

/// A configured `odps` writer.
pub struct OdpsWriter {
    client: Arc<OdpsClient>,
    meta: TableMeta,
    table: String,
    partition: Option<PartitionSpec>,
    /// For each job column: its index among the table's normal columns.
    targets: Vec<usize>,
    schema: SchemaRef,
    truncate: bool,
    empty_as_null: bool,
    over_length: OverLengthRule,
    max_field_length: usize,
    block_size: usize,
    arrow: bool,
    compression: Option<Compression>,
    pre_sql: Vec<String>,
    post_sql: Vec<String>,
    session: Mutex<Option<Arc<UploadSession>>>,
    /// The next block id (shared by every sink).
    next_block: Arc<AtomicU64>,
    /// Block ids this process may use are below this: the tunnel's limit, or the end of
    /// a shard's range of ids.
    block_limit: Arc<AtomicU64>,
    /// Blocks of failed split attempts, now empty: the commit names them too.
    emptied: Arc<Mutex<BTreeSet<u64>>>,
    /// A resumed run found its session already committed by the process that died
    /// while committing.
    committed_earlier: std::sync::atomic::AtomicBool,
}

/// What `prepare` returns: the upload session a resumed run takes over.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Prepared {
    upload_id: String,
}

impl std::fmt::Debug for OdpsWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OdpsWriter")
            .field("table", &self.table)
            .field("partition", &self.partition)
            .finish_non_exhaustive()
    }
}

/// Whether ferry can encode values of this type.
fn writable(t: &OdpsType) -> bool {
    match t {
        OdpsType::IntervalDayTime => false,
        OdpsType::Array(e) => writable(e),
        OdpsType::Map(k, v) => writable(k) && writable(v),
        OdpsType::Struct(fs) => fs.iter().all(|(_, t)| writable(t)),
        _ => true,
    }
}

impl OdpsWriter {
    fn new(
        p: WriterParams,
        path: &str,
        client: Arc<OdpsClient>,
        meta: TableMeta,
    ) -> Result<OdpsWriter> {
        let table = p.table.trim().to_string();
        if meta.table_type.eq_ignore_ascii_case("VIRTUAL_VIEW") {
            return Err(Error::schema(format!(
                "{path}.table: {table} is a view; write to a table"
            )));
        }
        let keys = meta.key_names();
        let partition = match p.partition.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(text) => {
                if !meta.is_partitioned() {
                    return Err(Error::config(format!(
                        "{path}.partition: table {table} is not partitioned; remove \"partition\""
                    )));
                }
                let spec = PartitionSpec::parse(text, &keys)
                    .map_err(|e| e.context(format!("{path}.partition")))?;
                if spec.0.iter().any(|(_, v)| v.contains('*') || v.is_empty()) {
                    return Err(Error::config(format!(
                        "{path}.partition: \"{text}\" must name one partition (no * and no empty value)"
                    )));
                }
                spec.check_keys(&keys, &table)
                    .map_err(|e| e.context(format!("{path}.partition")))?;
                Some(spec)
            }
            None if meta.is_partitioned() => {
                return Err(Error::config(format!(
                    "{path}.partition: table {table} is partitioned by ({}); name the partition to write, e.g. \"{}\"",
                    keys.join(", "),
                    keys.iter().map(|k| format!("{k}=...")).collect::<Vec<_>>().join(",")
                )))
            }
            None => None,
        };
        let all = p.column.is_empty() || (p.column.len() == 1 && p.column[0].trim() == "*");
        let mut targets = Vec::new();
        if all {
            targets = (0..meta.columns.len()).collect();
        } else {
            for (i, name) in p.column.iter().enumerate() {
                let idx = meta.column_index(name).ok_or_else(|| {
                    let hint = if meta.key_index(name).is_some() {
                        " (it is a partition column: set it through \"partition\")".to_string()
                    } else {
                        String::new()
                    };
                    Error::schema(format!(
                        "{path}.column[{i}]: table {table} has no column \"{name}\"{hint}; its columns are: {}",
                        meta.column_list()
                    ))
                })?;
                if targets.contains(&idx) {
                    return Err(Error::config(format!(
                        "{path}.column[{i}]: column \"{name}\" is listed twice"
                    )));
                }
                targets.push(idx);
            }
        }
        for &i in &targets {
            let c = &meta.columns[i];
            if !writable(&c.ty) {
                return Err(Error::schema(format!(
                    "table {table}, column {}: ferry cannot write ODPS type {}",
                    c.name, c.ty
                )));
            }
        }
        let fields: Vec<_> = targets
            .iter()
            .map(|&i| meta.columns[i].arrow_field())
            .collect();
        let over_length = p.over_length_rule(path)?;
        let max_field_length = p
            .max_field_length
            .map(|v| v as usize)
            .unwrap_or(crate::wire::record::MAX_FIELD_SIZE);
        let arrow = p.arrow.unwrap_or(false);
        let mut comp = compression(path, p.compress.as_deref(), p.is_compress)?;
        if arrow && comp == Some(Compression::Lz4Frame) {
            comp = Some(Compression::OdpsLz4Frame);
        }
        Ok(OdpsWriter {
            client,
            table,
            partition,
            targets,
            schema: Arc::new(Schema::new(fields)),
            truncate: p.truncate.unwrap_or(false),
            empty_as_null: p.empty_as_null.unwrap_or(false),
            over_length,
            max_field_length,
            block_size: p.block_size(path)?,
            arrow,
            compression: comp,
            pre_sql: p.pre_sql,
            post_sql: p.post_sql,
            session: Mutex::new(None),
            next_block: Arc::new(AtomicU64::new(0)),
            block_limit: Arc::new(AtomicU64::new(MAX_BLOCK_ID)),
            emptied: Arc::new(Mutex::new(BTreeSet::new())),
            committed_earlier: std::sync::atomic::AtomicBool::new(false),
            meta,
        })
    }

    fn session(&self) -> Result<Arc<UploadSession>> {
        self.session
            .lock()
            .map_err(|_| Error::internal("writer session lock poisoned"))?
            .clone()
            .ok_or_else(|| Error::internal("odps writer: open() before prepare()"))
    }

    fn target(&self) -> String {
        match &self.partition {
            Some(p) => format!("{}.{} partition {p}", self.client.project(), self.table),
            None => format!("{}.{}", self.client.project(), self.table),
        }
    }
}

/// What a split hands to the commit (the receipt's payload).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BlockReceipt {
    /// Upload session id.
    pub upload_id: String,
    /// Block ids written.
    pub blocks: Vec<u64>,
}

#[async_trait]
impl Writer for OdpsWriter {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn empty_as_null(&self) -> bool {
        self.empty_as_null
    }

    async fn prepare(&self, _splits: &[Split]) -> Result<serde_json::Value> {
        for sql in &self.pre_sql {
            if !sql.trim().is_empty() {
                self.client
                    .run_sql(sql)
                    .await
                    .map_err(|e| e.context("preSql"))?;
            }
        }
        if let Some(p) = &self.partition {
            if self.client.ensure_partition(&self.table, p).await? {
                tracing::info!("created partition {p} of {}", self.table);
            }
        }
        let s = self
            .client
            .create_upload(&self.table, self.partition.clone(), self.truncate)
            .await?;
        let prepared = Prepared {
            upload_id: s.id.clone(),
        };
        *self
            .session
            .lock()
            .map_err(|_| Error::internal("writer session lock poisoned"))? = Some(Arc::new(s));
        serde_json::to_value(prepared).map_err(|e| Error::internal(format!("writer state: {e}")))
    }

    /// Resume: take the upload session over, empty the blocks the dead process wrote for
    /// splits without a receipt, and go on numbering blocks after every id in use.
    async fn attach(&self, resume: &Resume<'_>) -> Result<()> {
        let p: Prepared = serde_json::from_value(resume.prepared.clone()).map_err(|_| {
            Error::config(format!(
                "odps writer {}: the run recorded no upload session (it died before opening one)",
                self.target()
            ))
        })?;
        let (session, status, held) = self
            .client
            .reload_upload(
                &self.table,
                self.partition.clone(),
                &p.upload_id,
                self.truncate,
            )
            .await
            .map_err(|e| {
                e.context(format!(
                    "taking over upload session {} (sessions expire 24 hours after they open)",
                    p.upload_id
                ))
            })?;
        let mut keep = BTreeSet::new();
        for r in resume.receipts {
            let b: BlockReceipt = r.decode()?;
            if b.upload_id != p.upload_id {
                return Err(Error::internal(format!(
                    "odps writer: split {} wrote to another upload session",
                    r.split
                )));
            }
            keep.extend(b.blocks);
        }
        *self
            .session
            .lock()
            .map_err(|_| Error::internal("writer session lock poisoned"))? =
            Some(Arc::new(session));
        match status.as_str() {
            "NORMAL" => {}
            "CLOSED" if resume.committing => {
                self.committed_earlier
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                return Ok(());
            }
            other => {
                return Err(Error::config(format!(
                    "odps writer {}: upload session {} is {other}, not open: abort the run \
                     (`ferry runs abort`) and run the job again",
                    self.target(),
                    p.upload_id
                )))
            }
        }
        // A shard numbers its blocks in its own share of the ids, and empties only the
        // blocks of its own earlier attempts: the other shards' are being written now.
        let (lo, hi) = match resume.shard {
            Some(s) if s.count > 1 => {
                let share = MAX_BLOCK_ID / s.count as u64;
                (s.index as u64 * share, (s.index as u64 + 1) * share)
            }
            _ => (0, MAX_BLOCK_ID),
        };
        let mine = |id: &u64| (lo..hi).contains(id);
        let next = held
            .iter()
            .chain(&keep)
            .filter(|id| mine(id))
            .max()
            .map_or(lo, |m| m + 1);
        self.next_block.fetch_max(next, Ordering::Relaxed);
        self.block_limit.store(hi, Ordering::Relaxed);
        let orphans: Vec<u64> = held
            .difference(&keep)
            .filter(|id| mine(id))
            .copied()
            .collect();
        if !orphans.is_empty() {
            tracing::info!(
                "odps writer {}: emptying {} block(s) of splits the earlier process did not finish",
                self.target(),
                orphans.len()
            );
            let mut sink = self.sink(DirtyCollector::in_memory())?;
            sink.empty_blocks(orphans).await?;
        }
        Ok(())
    }

    async fn open(&self, _channel: usize, dirty: DirtyCollector) -> Result<Box<dyn BatchSink>> {
        Ok(Box::new(self.sink(dirty)?))
    }

    async fn commit(&self, receipts: Vec<Receipt>) -> Result<CommitReport> {
        if self
            .committed_earlier
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            let rows = receipts.iter().map(|r| r.rows).sum();
            return Ok(CommitReport {
                rows,
                notes: vec![format!(
                    "the upload to {} had been committed by the earlier process that died while committing{}",
                    self.target(),
                    if self.post_sql.is_empty() { "" } else { " (postSql not run again)" }
                )],
            });
        }
        self.commit_session(receipts).await
    }
    async fn abort(&self, _receipts: Vec<Receipt>) -> Result<()> {
        if let Ok(s) = self.session() {
            tracing::info!(
                "odps writer: upload session {} to {} not committed; the table is unchanged",
                s.id,
                self.target()
            );
        }
        Ok(())
    }
}

impl OdpsWriter {
    /// A sink for one channel (or for `attach` to empty blocks with).
    fn sink(&self, dirty: DirtyCollector) -> Result<OdpsSink> {
        let session = self.session()?;
        let table_cols = self.meta.codec_columns();
        Ok(OdpsSink {
            client: self.client.clone(),
            session,
            next_block: Arc::clone(&self.next_block),
            block_limit: Arc::clone(&self.block_limit),
            emptied: Arc::clone(&self.emptied),
            split: None,
            split_desc: String::new(),
            targets: self.targets.clone(),
            job_types: self
                .targets
                .iter()
                .map(|&i| self.meta.columns[i].ty.clone())
                .collect(),
            job_names: self
                .targets
                .iter()
                .map(|&i| self.meta.columns[i].name.clone())
                .collect(),
            table_cols,
            table_schema: Arc::new(Schema::new(
                self.meta
                    .columns
                    .iter()
                    .map(|c| c.arrow_field())
                    .collect::<Vec<_>>(),
            )),
            block_size: self.block_size,
            arrow: self.arrow,
            compression: self.compression,
            over_length: self.over_length,
            max_field_length: self.max_field_length,
            dirty,
            current: None,
            blocks: Vec::new(),
            rows: 0,
            accepted: 0,
            bytes: 0,
            target: self.target(),
        })
    }

    /// Check the receipts against the session and commit it once, then postSql.
    async fn commit_session(&self, receipts: Vec<Receipt>) -> Result<CommitReport> {
        let session = self.session()?;
        let mut expected = BTreeSet::new();
        let mut rows = 0;
        for r in &receipts {
            rows += r.rows;
            let b: BlockReceipt = r.decode()?;
            if b.upload_id != session.id {
                return Err(Error::internal(format!(
                    "odps writer: split {} wrote to another upload session",
                    r.split
                )));
            }
            for id in &b.blocks {
                if !expected.insert(*id) {
                    return Err(Error::internal(format!(
                        "odps writer: block {id} written twice"
                    )));
                }
            }
        }
        let emptied = self
            .emptied
            .lock()
            .map_err(|_| Error::internal("writer block lock poisoned"))?
            .clone();
        for id in emptied {
            if !expected.insert(id) {
                return Err(Error::internal(format!(
                    "odps writer: block {id} is both emptied and in a receipt"
                )));
            }
        }
        self.client.commit_upload(&session, &expected).await?;
        let mut notes = vec![format!(
            "committed {} block(s), {rows} row(s) to {}{}",
            expected.len(),
            self.target(),
            if self.truncate {
                " (replacing its previous rows)"
            } else {
                ""
            }
        )];
        for sql in &self.post_sql {
            if !sql.trim().is_empty() {
                self.client
                    .run_sql(sql)
                    .await
                    .map_err(|e| e.context("postSql"))?;
                notes.push("ran postSql".to_string());
            }
        }
        Ok(CommitReport { rows, notes })
    }
}

enum BlockEncoder {
    Record(RecordEncoder),
    Arrow(Box<ArrowTunnelEncoder>),
}

struct OpenBlock {
    upload: BlockUpload,
    encoder: BlockEncoder,
}

/// One channel's sink.
pub struct OdpsSink {
    client: Arc<OdpsClient>,
    session: Arc<UploadSession>,
    next_block: Arc<AtomicU64>,
    block_limit: Arc<AtomicU64>,
    emptied: Arc<Mutex<BTreeSet<u64>>>,
    /// The split being written.
    split: Option<usize>,
    split_desc: String,
    targets: Vec<usize>,
    job_types: Vec<OdpsType>,
    job_names: Vec<String>,
    table_cols: Vec<(String, OdpsType)>,
    table_schema: SchemaRef,
    block_size: usize,
    arrow: bool,
    compression: Option<Compression>,
    over_length: OverLengthRule,
    max_field_length: usize,
    dirty: DirtyCollector,
    current: Option<OpenBlock>,
    blocks: Vec<u64>,
    rows: u64,
    accepted: u64,
    bytes: u64,
    target: String,
}

impl OdpsSink {
    /// Apply the field limit and decimal precision to a batch: returns the batch with
    /// over-long values handled per `overLengthRule`, without the rows that became dirty.
    fn check_values(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let n = batch.num_rows();
        let mut keep: Option<Vec<bool>> = None;
        let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
        let mut dirty = Vec::new();
        let limit = self.session.max_field_size;
        for (ci, col) in batch.columns().iter().enumerate() {
            let name = &self.job_names[ci];
            match col.data_type() {
                DataType::Utf8 | DataType::Binary => {
                    let lens: Vec<Option<usize>> = match col.data_type() {
                        DataType::Utf8 => col
                            .as_string::<i32>()
                            .iter()
                            .map(|v| v.map(str::len))
                            .collect(),
                        _ => col
                            .as_binary::<i32>()
                            .iter()
                            .map(|v| v.map(<[u8]>::len))
                            .collect(),
                    };
                    let over: Vec<usize> = lens
                        .iter()
                        .enumerate()
                        .filter(|(_, l)| l.is_some_and(|l| l > limit))
                        .map(|(i, _)| i)
                        .collect();
                    if over.is_empty() {
                        continue;
                    }
                    match self.over_length {
                        OverLengthRule::KeepOn => {
                            let k = keep.get_or_insert_with(|| vec![true; n]);
                            for &r in &over {
                                k[r] = false;
                                dirty.push(
                                    DirtyRecord::new(
                                        Stage::Writer,
                                        format!(
                                            "value of {} bytes exceeds the tunnel's field limit of {limit} bytes (overLengthRule keepOn)",
                                            lens[r].unwrap_or(0)
                                        ),
                                    )
                                    .column(name.clone())
                                    .row(self.rows + r as u64),
                                );
                            }
                        }
                        OverLengthRule::SetNull => {
                            let mask: BooleanArray =
                                (0..n).map(|i| Some(over.contains(&i))).collect();
                            cols[ci] = arrow::compute::nullif(col, &mask)?;
                        }
                        OverLengthRule::Truncate => {
                            let cut = self.max_field_length.min(limit);
                            cols[ci] = match col.data_type() {
                                DataType::Utf8 => Arc::new(
                                    col.as_string::<i32>()
                                        .iter()
                                        .map(|v| v.map(|s| truncate_str(s, cut)))
                                        .collect::<arrow::array::StringArray>(),
                                ),
                                _ => Arc::new(
                                    col.as_binary::<i32>()
                                        .iter()
                                        .map(|v| v.map(|b| &b[..b.len().min(cut)]))
                                        .collect::<arrow::array::BinaryArray>(),
                                ),
                            };
                        }
                    }
                }
                DataType::Decimal128(p, _) => {
                    let a = col.as_primitive::<Decimal128Type>();
                    for r in 0..n {
                        if a.is_valid(r)
                            && !Decimal128Type::is_valid_decimal_precision(a.value(r), *p)
                        {
                            let k = keep.get_or_insert_with(|| vec![true; n]);
                            if k[r] {
                                k[r] = false;
                                dirty.push(
                                    DirtyRecord::new(
                                        Stage::Writer,
                                        format!(
                                            "decimal value does not fit {}",
                                            self.job_types[ci]
                                        ),
                                    )
                                    .column(name.clone())
                                    .value(a.value_as_string(r))
                                    .row(self.rows + r as u64),
                                );
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        let batch = RecordBatch::try_new(batch.schema(), cols)?;
        if !dirty.is_empty() {
            let split = format!("{} (writing to {})", self.split_desc, self.target);
            self.dirty
                .push_all(dirty.into_iter().map(|d| d.split(split.clone())))?;
        }
        match keep {
            Some(k) => Ok(arrow::compute::filter_record_batch(
                &batch,
                &BooleanArray::from(k),
            )?),
            None => Ok(batch),
        }
    }

    /// Place the job columns into the table's column order, NULL elsewhere.
    fn to_table_batch(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let n = batch.num_rows();
        let mut cols: Vec<ArrayRef> = self
            .table_cols
            .iter()
            .map(|(_, t)| new_null_array(&arrow_type(t), n))
            .collect();
        for (ci, &ti) in self.targets.iter().enumerate() {
            let want = arrow_type(&self.table_cols[ti].1);
            let c = batch.column(ci);
            cols[ti] = if c.data_type() == &want {
                c.clone()
            } else {
                arrow::compute::cast(c, &want).map_err(|e| {
                    Error::schema(format!(
                        "{}: column {}: cannot write Arrow {} as ODPS {}: {e}",
                        self.target,
                        self.table_cols[ti].0,
                        c.data_type(),
                        self.table_cols[ti].1
                    ))
                })?
            };
        }
        Ok(RecordBatch::try_new(self.table_schema.clone(), cols)?)
    }

    fn open_block(&mut self) -> Result<OpenBlock> {
        let id = self.next_block.fetch_add(1, Ordering::Relaxed);
        let limit = self.block_limit.load(Ordering::Relaxed);
        if id >= limit {
            return Err(Error::data(format!(
                "{}: a tunnel upload takes block ids below {MAX_BLOCK_ID}{}; raise blockSizeInMB",
                self.target,
                if limit < MAX_BLOCK_ID {
                    format!(" (this shard's share ends at {limit})")
                } else {
                    String::new()
                }
            )));
        }
        self.open_block_id(id)
    }

    fn open_block_id(&self, id: u64) -> Result<OpenBlock> {
        let upload = BlockUpload::start(
            self.client.clone(),
            self.session.clone(),
            id,
            self.arrow,
            self.compression,
        )?;
        let encoder = if self.arrow {
            BlockEncoder::Arrow(Box::new(ArrowTunnelEncoder::new(
                &self.table_schema,
                DEFAULT_CHUNK_SIZE,
            )?))
        } else {
            BlockEncoder::Record(RecordEncoder::new(self.table_cols.clone()))
        };
        Ok(OpenBlock { upload, encoder })
    }

    async fn close_block(&mut self) -> Result<()> {
        let Some(mut b) = self.current.take() else {
            return Ok(());
        };
        let mut tail = Vec::new();
        match &mut b.encoder {
            BlockEncoder::Record(e) => e.finish(&mut tail),
            BlockEncoder::Arrow(e) => e.finish(&mut tail),
        }
        b.upload.write(tail).await?;
        let id = b.upload.id();
        self.bytes += b.upload.finish().await?;
        self.blocks.push(id);
        Ok(())
    }
}

fn truncate_str(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Rows per piece a batch is cut into before encoding, so one encode buffer stays small.
const PIECE_ROWS: usize = 4096;

#[async_trait]
impl BatchSink for OdpsSink {
    async fn begin(&mut self, split: &Split) -> Result<()> {
        self.split = Some(split.index);
        self.split_desc = split.description.clone();
        self.rows = 0;
        self.accepted = 0;
        self.bytes = 0;
        self.blocks.clear();
        Ok(())
    }

    async fn write(&mut self, batch: RecordBatch) -> Result<u64> {
        let total = batch.num_rows() as u64;
        let batch = self.check_values(batch)?;
        let accepted = batch.num_rows() as u64;
        let mut off = 0;
        while off < batch.num_rows() {
            let len = PIECE_ROWS.min(batch.num_rows() - off);
            let piece = self.to_table_batch(&batch.slice(off, len))?;
            off += len;
            if self.current.is_none() {
                self.current = Some(self.open_block()?);
            }
            let Some(b) = self.current.as_mut() else {
                return Err(Error::internal("odps sink: no open block"));
            };
            let mut buf = Vec::new();
            match &mut b.encoder {
                BlockEncoder::Record(e) => e.encode_batch(&piece, &mut buf),
                BlockEncoder::Arrow(e) => e.encode(&piece, &mut buf),
            }
            .map_err(|e| e.context(&self.target))?;
            b.upload.write(buf).await?;
            if b.upload.raw_bytes() as usize >= self.block_size {
                self.close_block().await?;
            }
        }
        self.rows += total;
        self.accepted += accepted;
        Ok(accepted)
    }

    async fn end(&mut self) -> Result<Receipt> {
        self.close_block().await?;
        let split = self
            .split
            .take()
            .ok_or_else(|| Error::internal("odps sink: end without begin"))?;
        // Every block is on the server: a resumed run commits them from this receipt.
        Receipt::new(split, self.accepted, self.bytes, Durability::Durable).with_payload(
            &BlockReceipt {
                upload_id: self.session.id.clone(),
                blocks: std::mem::take(&mut self.blocks),
            },
        )
    }

    async fn discard(&mut self) -> Result<()> {
        // Replace every block the attempt wrote (or began) with an empty one.
        let mut ids = std::mem::take(&mut self.blocks);
        if let Some(b) = self.current.take() {
            ids.push(b.upload.id());
            // Aborted mid-body, and gone, before the block is written again empty.
            b.upload.cancel().await;
        }
        self.split = None;
        self.rows = 0;
        self.accepted = 0;
        self.bytes = 0;
        self.empty_blocks(ids).await
    }

    async fn close(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

impl OdpsSink {
    /// Write each of `ids` again as an empty block (a re-PUT replaces a block), and have
    /// the commit name them.
    async fn empty_blocks(&mut self, ids: Vec<u64>) -> Result<()> {
        for id in ids {
            let mut b = self.open_block_id(id)?;
            let mut tail = Vec::new();
            match &mut b.encoder {
                BlockEncoder::Record(e) => e.finish(&mut tail),
                BlockEncoder::Arrow(e) => e.finish(&mut tail),
            }
            b.upload.write(tail).await?;
            b.upload.finish().await.map_err(|e| {
                e.context(format!(
                    "{}: emptying block {id} of a failed split",
                    self.target
                ))
            })?;
            self.emptied
                .lock()
                .map_err(|_| Error::internal("writer block lock poisoned"))?
                .insert(id);
        }
        Ok(())
    }
}
