//! The `odps` reader: one tunnel download session per selected partition (created in
//! `plan`), cut into row ranges, decoded straight into Arrow by the wire decoders.
//!
//! [`Reader::schema`] is the downloaded normal columns (in table order) followed by the
//! partition columns the job names; [`Reader::layout`] maps the job's `column` list
//! (names, partition columns, `'constants'`) onto it.

use std::sync::{Arc, Mutex};

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{Field, Schema, SchemaRef};
use async_trait::async_trait;
use ferry_core::plugin::{
    parse_constant, BatchStream, BuildContext, ColumnSlot, ReadOptions, Reader, ReaderFactory,
    Split,
};
use ferry_core::{Error, Result};

use crate::client::meta::Column;
use crate::client::tunnel::{read_range, DownloadSession, RangeRead};
use crate::client::{OdpsClient, TableMeta};
use crate::config::{compression, max_retry, ReaderParams, SplitMode};
use crate::split::{plan_ranges, select_partitions, PartitionSpec};
use crate::wire::compress::Compression;
use crate::wire::types::{arrow_type, OdpsType};

/// Builds the `odps` reader.
#[derive(Debug, Default, Clone, Copy)]
pub struct OdpsReaderFactory;

#[async_trait]
impl ReaderFactory for OdpsReaderFactory {
    fn name(&self) -> &'static str {
        "odps"
    }

    fn check(
        &self,
        params: &serde_json::Value,
        path: &str,
        warnings: &mut Vec<String>,
    ) -> Result<()> {
        ReaderParams::parse(params, path, warnings).map(|_| ())
    }

    async fn build(
        &self,
        params: &serde_json::Value,
        path: &str,
        ctx: &BuildContext,
    ) -> Result<Arc<dyn Reader>> {
        let mut warnings = Vec::new();
        let p = ReaderParams::parse(params, path, &mut warnings)?;
        for w in &warnings {
            // `check` reports these to the user; here only for FERRY_LOG=debug.
            tracing::debug!("{w}");
        }
        let conn = p.conn().resolve(path, ctx)?;
        let client = Arc::new(OdpsClient::new(conn, max_retry(path, p.max_retry_time)?)?);
        let meta = client.get_table(p.table.trim()).await?;
        Ok(Arc::new(OdpsReader::new(p, path, client, meta).await?))
    }
}

/// A configured `odps` reader.
pub struct OdpsReader {
    client: Arc<OdpsClient>,
    table: String,
    /// Selected partitions (`[None]` for an unpartitioned table).
    partitions: Vec<Option<PartitionSpec>>,
    /// Downloaded normal columns, table order.
    download: Vec<Column>,
    /// Partition columns in the schema (index into the table's keys).
    part_cols: Vec<usize>,
    part_types: Vec<OdpsType>,
    schema: SchemaRef,
    layout: Vec<ColumnSlot>,
    project: bool,
    arrow: bool,
    compression: Option<Compression>,
    split_mode: SplitMode,
    partitioned: bool,
    sessions: Mutex<Vec<Arc<DownloadSession>>>,
}

impl std::fmt::Debug for OdpsReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OdpsReader")
            .field("table", &self.table)
            .field("partitions", &self.partitions.len())
            .finish_non_exhaustive()
    }
}

/// The payload of an `odps` split: a row range of one download session (the reader
/// keeps the sessions; `session_id` names the one the range belongs to).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct OdpsSplit {
    /// Index of the session among the reader's (one per partition read).
    pub part: usize,
    /// The session's `DownloadID`.
    pub session_id: String,
    /// First row.
    pub start: u64,
    /// Rows.
    pub count: u64,
}

impl OdpsReader {
    async fn new(
        p: ReaderParams,
        path: &str,
        client: Arc<OdpsClient>,
        meta: TableMeta,
    ) -> Result<OdpsReader> {
        let table = p.table.trim().to_string();
        if meta.table_type.eq_ignore_ascii_case("VIRTUAL_VIEW") {
            return Err(Error::schema(format!(
                "{path}.table: {table} is a view; the tunnel reads tables only"
            )));
        }
        let keys = meta.key_names();
        let entries: Vec<String> = p
            .partition
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        let partitions: Vec<Option<PartitionSpec>> = if meta.is_partitioned() {
            if entries.is_empty() {
                return Err(Error::config(format!(
                    "{path}.partition: table {table} is partitioned by ({}); name the partitions to read (globs like \"{}\" are allowed)",
                    keys.join(", "),
                    keys.iter().map(|k| format!("{k}=*")).collect::<Vec<_>>().join(",")
                )));
            }
            let existing = client.list_partitions(&meta).await?;
            let selected = if entries.iter().any(|e| e == "*") {
                existing.clone()
            } else {
                select_partitions(&entries, &keys, &existing, &table)
                    .map_err(|e| e.context(format!("{path}.partition")))?
            };
            if selected.is_empty() && !p.success_on_no_partition.unwrap_or(false) {
                let list: Vec<String> = existing.iter().take(20).map(|s| s.to_string()).collect();
                return Err(Error::config(format!(
                    "{path}.partition: no partition of {table} matches {entries:?}; existing partitions ({}): {}{}; set successOnNoPartition to read nothing instead",
                    existing.len(),
                    if list.is_empty() { "none".to_string() } else { list.join(" ") },
                    if existing.len() > 20 { " ..." } else { "" }
                )));
            }
            selected.into_iter().map(Some).collect()
        } else {
            if !entries.is_empty() {
                return Err(Error::config(format!(
                    "{path}.partition: table {table} is not partitioned; remove \"partition\""
                )));
            }
            vec![None]
        };

        // columns
        let all = p.column.is_empty() || (p.column.len() == 1 && p.column[0].trim() == "*");
        enum Want {
            Col(usize),
            Key(usize),
            Const(ferry_core::plugin::ConstantValue),
        }
        let mut wants = Vec::new();
        if all {
            wants = (0..meta.columns.len()).map(Want::Col).collect();
        } else {
            for (i, entry) in p.column.iter().enumerate() {
                if let Some(c) = meta.column_index(entry) {
                    wants.push(Want::Col(c));
                } else if let Some(k) = meta.key_index(entry) {
                    wants.push(Want::Key(k));
                } else if let Some(c) = parse_constant(entry) {
                    wants.push(Want::Const(c));
                } else {
                    return Err(Error::schema(format!(
                        "{path}.column[{i}]: table {table} has no column \"{entry}\"; its columns are: {}{}",
                        meta.column_list(),
                        if keys.is_empty() {
                            String::new()
                        } else {
                            format!("; partition columns: {}", keys.join(", "))
                        }
                    )));
                }
            }
        }
        let mut cols: Vec<usize> = wants
            .iter()
            .filter_map(|w| match w {
                Want::Col(c) => Some(*c),
                _ => None,
            })
            .collect();
        cols.sort_unstable();
        cols.dedup();
        if cols.is_empty() && !meta.columns.is_empty() {
            // the tunnel needs at least one column to count rows by
            cols.push(0);
        }
        let mut part_cols: Vec<usize> = wants
            .iter()
            .filter_map(|w| match w {
                Want::Key(k) => Some(*k),
                _ => None,
            })
            .collect();
        part_cols.sort_unstable();
        part_cols.dedup();
        let download: Vec<Column> = cols.iter().map(|&c| meta.columns[c].clone()).collect();
        let mut fields: Vec<Field> = download.iter().map(Column::arrow_field).collect();
        let mut part_types = Vec::new();
        for &k in &part_cols {
            let c = &meta.partition_keys[k];
            fields.push(c.arrow_field());
            part_types.push(c.ty.clone());
        }
        let layout = wants
            .into_iter()
            .map(|w| match w {
                Want::Col(c) => ColumnSlot::Source(cols.iter().position(|x| *x == c).unwrap_or(0)),
                Want::Key(k) => ColumnSlot::Source(
                    download.len() + part_cols.iter().position(|x| *x == k).unwrap_or(0),
                ),
                Want::Const(c) => ColumnSlot::Constant(c),
            })
            .collect();
        Ok(OdpsReader {
            project: download.len() != meta.columns.len(),
            client,
            table,
            partitions,
            download,
            part_cols,
            part_types,
            schema: Arc::new(Schema::new(fields)),
            layout,
            arrow: p.arrow.unwrap_or(false),
            compression: compression(path, p.compress.as_deref(), p.is_compress)?,
            split_mode: p.split_mode(path)?,
            partitioned: meta.is_partitioned(),
            sessions: Mutex::new(Vec::new()),
        })
    }

    /// The selected partitions.
    pub fn partitions(&self) -> &[Option<PartitionSpec>] {
        &self.partitions
    }
}

#[async_trait]
impl Reader for OdpsReader {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn layout(&self) -> Vec<ColumnSlot> {
        self.layout.clone()
    }

    async fn plan(&self, channels: usize) -> Result<Vec<Split>> {
        let mut sessions = Vec::with_capacity(self.partitions.len());
        // a few sessions at a time
        for chunk in self.partitions.chunks(8) {
            let futs = chunk
                .iter()
                .map(|p| self.client.create_download(&self.table, p.clone()));
            for s in futures::future::join_all(futs).await {
                sessions.push(Arc::new(s?));
            }
        }
        let counts: Vec<u64> = sessions.iter().map(|s| s.record_count).collect();
        let ranges = plan_ranges(&counts, channels, self.split_mode, self.partitioned);
        let splits = ranges
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let s = sessions[r.part].clone();
                let desc = format!(
                    "{}{} rows [{}, {})",
                    self.table,
                    s.partition
                        .as_ref()
                        .map(|p| format!(" {p}"))
                        .unwrap_or_default(),
                    r.start,
                    r.start + r.count
                );
                let mut split = Split::new(
                    i,
                    desc,
                    &OdpsSplit {
                        part: r.part,
                        session_id: s.id.clone(),
                        start: r.start,
                        count: r.count,
                    },
                )?;
                split.estimated_rows = Some(r.count);
                Ok(split)
            })
            .collect::<Result<Vec<_>>>()?;
        *self
            .sessions
            .lock()
            .map_err(|_| Error::internal("reader session lock poisoned"))? = sessions;
        Ok(splits)
    }

    async fn read(&self, split: &Split, opts: ReadOptions) -> Result<BatchStream> {
        let s: OdpsSplit = split.decode()?;
        if s.count == 0 {
            return Ok(Box::pin(futures::stream::empty()));
        }
        let session = self
            .sessions
            .lock()
            .map_err(|_| Error::internal("reader session lock poisoned"))?
            .get(s.part)
            .filter(|d| d.id == s.session_id)
            .cloned()
            .ok_or_else(|| {
                Error::internal(format!(
                    "{}: download session {} is not one this reader opened",
                    split.description, s.session_id
                ))
            })?;
        // partition values, typed after the partition column
        let mut part_values: Vec<ArrayRef> = Vec::new();
        for i in 0..self.part_cols.len() {
            let t = arrow_type(&self.part_types[i]);
            let key = &self.schema.field(self.download.len() + i).name().clone();
            let v = session
                .partition
                .as_ref()
                .and_then(|p| p.get(key))
                .map(str::to_string);
            let one: ArrayRef = Arc::new(StringArray::from(vec![v.clone()]));
            let typed = arrow::compute::cast(&one, &t).map_err(|e| {
                Error::data(format!(
                    "{}: partition value {:?} of {key} is not a valid {}: {e}",
                    split.description, v, self.part_types[i]
                ))
            })?;
            part_values.push(typed);
        }
        let schema = self.schema.clone();
        let map = Arc::new(move |b: RecordBatch| -> Result<RecordBatch> {
            let n = b.num_rows();
            let mut cols = b.columns().to_vec();
            for v in &part_values {
                let idx = arrow::array::UInt32Array::from(vec![0u32; n]);
                cols.push(arrow::compute::take(v.as_ref(), &idx, None)?);
            }
            Ok(RecordBatch::try_new(schema.clone(), cols)?)
        });
        let rr = Arc::new(RangeRead {
            session: Arc::clone(&session),
            columns: self
                .download
                .iter()
                .map(|c| (c.name.clone(), c.ty.clone()))
                .collect(),
            project: self.project,
            arrow: self.arrow,
            compression: self.compression,
            batch_rows: opts.batch_rows,
        });
        let desc = split.description.clone();
        let rx = read_range(self.client.clone(), rr, s.start, s.count, map);
        let stream = futures::stream::unfold(rx, move |mut rx| {
            let desc = desc.clone();
            async move {
                rx.recv()
                    .await
                    .map(|r| (r.map_err(|e| e.context(format!("reading {desc}"))), rx))
            }
        });
        Ok(Box::pin(stream))
    }
}
