//! Table tunnel sessions (spec §1.2, §1.3): upload sessions with streamed, retried block
//! PUTs, and download sessions read by row range with resume-from-cursor.
//!
//! Upload: a block's encoded bytes go to the server while they are produced, through a
//! bounded channel feeding a chunked PUT body; the same reference-counted chunks are kept
//! (once) so a PUT that breaks can be re-sent — a re-put replaces the block.
//!
//! Download: the body of `GET ?data&rowrange=(start,count)` streams into a blocking
//! worker that decompresses and decodes it straight into Arrow builders (the wire
//! decoders). When the connection breaks, the read restarts at the first row not yet
//! handed out.

use std::collections::BTreeSet;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::{Field, Schema, SchemaRef};
use bytes::Bytes;
use ferry_core::{Error, Result};
use futures::StreamExt;
use reqwest::Method;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::compress_stream::StreamCompressor;
use super::meta::{parse_schema_json, Column};
use super::{backoff, OdpsClient, Service};
use crate::split::PartitionSpec;
use crate::wire::arrow_frame::ArrowTunnelDecoder;
use crate::wire::compress::Compression;
use crate::wire::record::{DecoderOptions, RecordDecoder, MAX_FIELD_SIZE};
use crate::wire::sign::percent_encode;
use crate::wire::types::{arrow_type, OdpsType};

/// Largest block id the tunnel accepts (exclusive).
pub const MAX_BLOCK_ID: u64 = 20_000;

#[derive(Deserialize)]
struct SessionJson {
    #[serde(rename = "UploadID", default)]
    upload_id: Option<String>,
    #[serde(rename = "DownloadID", default)]
    download_id: Option<String>,
    #[serde(rename = "Status", default)]
    status: Option<String>,
    #[serde(rename = "RecordCount", default)]
    record_count: Option<i64>,
    #[serde(rename = "MaxFieldSize", default)]
    max_field_size: Option<u64>,
    #[serde(rename = "UploadedBlockList", default)]
    blocks: Vec<BlockJson>,
    #[serde(rename = "Schema", default)]
    schema: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct BlockJson {
    #[serde(rename = "BlockID")]
    block_id: u64,
}

/// An open upload session.
#[derive(Debug, Clone)]
pub struct UploadSession {
    /// `UploadID`.
    pub id: String,
    /// Table.
    pub table: String,
    /// Target partition.
    pub partition: Option<PartitionSpec>,
    /// The table's normal columns, as the session reports them.
    pub columns: Vec<Column>,
    /// Per-field byte limit.
    pub max_field_size: usize,
    /// Whether the commit replaces the partition / table.
    pub overwrite: bool,
}

/// An [`UploadSession`] from the server's reply.
fn upload_session(
    s: SessionJson,
    table: &str,
    partition: Option<PartitionSpec>,
    overwrite: bool,
    what: &str,
) -> Result<UploadSession> {
    let id = s
        .upload_id
        .ok_or_else(|| Error::remote(format!("{what}: reply has no UploadID")))?;
    let columns = match &s.schema {
        Some(v) => parse_schema_json(table, v)?.0,
        None => Vec::new(),
    };
    Ok(UploadSession {
        id,
        table: table.to_string(),
        partition,
        columns,
        max_field_size: s
            .max_field_size
            .map(|v| v as usize)
            .filter(|v| *v > 0)
            .unwrap_or(MAX_FIELD_SIZE),
        overwrite,
    })
}

/// An open download session.
#[derive(Debug, Clone)]
pub struct DownloadSession {
    /// `DownloadID`.
    pub id: String,
    /// Table.
    pub table: String,
    /// Partition read.
    pub partition: Option<PartitionSpec>,
    /// Rows in the snapshot.
    pub record_count: u64,
    /// The table's normal columns.
    pub columns: Vec<Column>,
}

fn part_query(p: &Option<PartitionSpec>, q: &mut Vec<(&'static str, String)>) {
    if let Some(p) = p {
        q.push(("partition", p.to_string()));
    }
}

impl OdpsClient {
    fn tunnel_table_path(&self, table: &str) -> String {
        format!(
            "/projects/{}/tables/{}",
            percent_encode(self.project()),
            percent_encode(table)
        )
    }

    async fn session_json(&self, resp: reqwest::Response, what: &str) -> Result<SessionJson> {
        let body = resp.bytes().await.map_err(|e| self.transport(what, e))?;
        serde_json::from_slice(&body).map_err(|e| {
            Error::remote(format!(
                "{what}: unreadable session reply ({e}): {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ))
        })
    }

    /// `POST ?uploads`: open an upload session.
    pub async fn create_upload(
        &self,
        table: &str,
        partition: Option<PartitionSpec>,
        overwrite: bool,
    ) -> Result<UploadSession> {
        let what = format!(
            "upload session for {}.{table}{}",
            self.project(),
            fmt_part(&partition)
        );
        let mut q = vec![("uploads", String::new())];
        part_query(&partition, &mut q);
        if overwrite {
            q.push(("overwrite", "true".into()));
        }
        let resp = self
            .call(
                Service::Tunnel,
                Method::POST,
                &self.tunnel_table_path(table),
                &q,
                None,
                &what,
            )
            .await?;
        let s = self.session_json(resp, &what).await?;
        upload_session(s, table, partition, overwrite, &what)
    }

    /// `GET ?uploadid`: take over an upload session an earlier process opened (resume).
    /// Returns it with its status (`NORMAL`, `CLOSED`, ...) and the blocks it holds.
    pub async fn reload_upload(
        &self,
        table: &str,
        partition: Option<PartitionSpec>,
        id: &str,
        overwrite: bool,
    ) -> Result<(UploadSession, String, BTreeSet<u64>)> {
        let what = format!(
            "upload session {id} for {}.{table}{}",
            self.project(),
            fmt_part(&partition)
        );
        let mut q = vec![("uploadid", id.to_string())];
        part_query(&partition, &mut q);
        let resp = self
            .call(
                Service::Tunnel,
                Method::GET,
                &self.tunnel_table_path(table),
                &q,
                None,
                &what,
            )
            .await?;
        let mut j = self.session_json(resp, &what).await?;
        // The reply may leave the id out; it is the one asked for.
        j.upload_id.get_or_insert_with(|| id.to_string());
        let status = j.status.clone().unwrap_or_default().to_ascii_uppercase();
        let blocks = j.blocks.iter().map(|b| b.block_id).collect();
        let session = upload_session(j, table, partition, overwrite, &what)?;
        Ok((session, status, blocks))
    }

    /// `PUT ?uploadid&blockid`: send one block body (any chunking).
    pub async fn put_block(
        &self,
        s: &UploadSession,
        block_id: u64,
        body: reqwest::Body,
        compression: Option<Compression>,
        arrow: bool,
    ) -> Result<()> {
        let what = format!(
            "block {block_id} of upload to {}.{}{}",
            self.project(),
            s.table,
            fmt_part(&s.partition)
        );
        let mut q = vec![
            ("uploadid", s.id.clone()),
            ("blockid", block_id.to_string()),
        ];
        part_query(&s.partition, &mut q);
        if arrow {
            q.push(("arrow", String::new()));
        }
        let mut h = vec![("Content-Type", "application/octet-stream".to_string())];
        if let Some(c) = compression {
            h.push(("Content-Encoding", c.header_value().to_string()));
        }
        let resp = self
            .send(
                Service::Tunnel,
                Method::PUT,
                &self.tunnel_table_path(&s.table),
                &q,
                &h,
                Some(body),
            )
            .await?;
        if resp.status().is_success() {
            // drain the (normally empty) body so the connection is reusable
            let _ = resp.bytes().await;
            Ok(())
        } else {
            let e = self.api_error(resp).await;
            Err(self.classify(&what, &e))
        }
    }

    /// `GET ?uploadid`: the ids of the blocks the server holds.
    pub async fn uploaded_blocks(&self, s: &UploadSession) -> Result<(String, BTreeSet<u64>)> {
        let what = format!(
            "status of upload {} to {}.{}",
            s.id,
            self.project(),
            s.table
        );
        let mut q = vec![("uploadid", s.id.clone())];
        part_query(&s.partition, &mut q);
        let resp = self
            .call(
                Service::Tunnel,
                Method::GET,
                &self.tunnel_table_path(&s.table),
                &q,
                None,
                &what,
            )
            .await?;
        let j = self.session_json(resp, &what).await?;
        Ok((
            j.status.unwrap_or_default().to_ascii_uppercase(),
            j.blocks.iter().map(|b| b.block_id).collect(),
        ))
    }

    /// Check the server's block list against `expected`, then `POST ?uploadid` (commit).
    pub async fn commit_upload(&self, s: &UploadSession, expected: &BTreeSet<u64>) -> Result<()> {
        let what = format!(
            "commit of upload {} to {}.{}{}",
            s.id,
            self.project(),
            s.table,
            fmt_part(&s.partition)
        );
        let (status, have) = self.uploaded_blocks(s).await?;
        if status == "CLOSED" {
            return Err(Error::remote(format!(
                "{what}: the session is already closed"
            )));
        }
        if &have != expected {
            let missing: Vec<_> = expected.difference(&have).collect();
            let extra: Vec<_> = have.difference(expected).collect();
            return Err(Error::remote(format!(
                "{what}: the server holds {} block(s), ferry wrote {}; missing {missing:?}, unexpected {extra:?} — nothing was committed",
                have.len(),
                expected.len()
            )));
        }
        let mut q = vec![("uploadid", s.id.clone())];
        part_query(&s.partition, &mut q);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let r = self
                .send(
                    Service::Tunnel,
                    Method::POST,
                    &self.tunnel_table_path(&s.table),
                    &q,
                    &[],
                    None,
                )
                .await;
            let err = match r {
                Ok(resp) if resp.status().is_success() => {
                    let _ = resp.bytes().await;
                    return Ok(());
                }
                Ok(resp) => {
                    let e = self.api_error(resp).await;
                    self.classify(&what, &e)
                }
                Err(e) => e,
            };
            // a commit whose reply was lost may have happened: look before retrying
            if let Ok((st, _)) = self.uploaded_blocks(s).await {
                if st == "CLOSED" {
                    return Ok(());
                }
            }
            if !err.retry_hint() || attempt >= self.max_retry() {
                return Err(err);
            }
            backoff(attempt).await;
        }
    }

    /// `POST ?downloads` (and wait while it is `initiating`).
    pub async fn create_download(
        &self,
        table: &str,
        partition: Option<PartitionSpec>,
    ) -> Result<DownloadSession> {
        let what = format!(
            "download session for {}.{table}{}",
            self.project(),
            fmt_part(&partition)
        );
        let mut q = vec![("downloads", String::new())];
        part_query(&partition, &mut q);
        let path = self.tunnel_table_path(table);
        let resp = self
            .call(Service::Tunnel, Method::POST, &path, &q, None, &what)
            .await?;
        let mut s = self.session_json(resp, &what).await?;
        let id = s
            .download_id
            .clone()
            .ok_or_else(|| Error::remote(format!("{what}: reply has no DownloadID")))?;
        let mut delay = Duration::from_millis(100);
        while s
            .status
            .as_deref()
            .is_some_and(|st| st.eq_ignore_ascii_case("initiating"))
        {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
            let mut q = vec![("downloadid", id.clone())];
            part_query(&partition, &mut q);
            let resp = self
                .call(Service::Tunnel, Method::GET, &path, &q, None, &what)
                .await?;
            s = self.session_json(resp, &what).await?;
        }
        let columns = match &s.schema {
            Some(v) => parse_schema_json(table, v)?.0,
            None => Vec::new(),
        };
        Ok(DownloadSession {
            id,
            table: table.to_string(),
            partition,
            record_count: s.record_count.unwrap_or(0).max(0) as u64,
            columns,
        })
    }

    /// `GET ?data&rowrange=(start,count)`: the reply, status checked.
    pub async fn open_rows(
        &self,
        s: &DownloadSession,
        start: u64,
        count: u64,
        columns: &[String],
        arrow: bool,
        compression: Option<Compression>,
    ) -> Result<reqwest::Response> {
        let what = format!(
            "rows [{start}, {}) of {}.{}{}",
            start + count,
            self.project(),
            s.table,
            fmt_part(&s.partition)
        );
        let mut q = vec![
            ("data", String::new()),
            ("downloadid", s.id.clone()),
            ("rowrange", format!("({start},{count})")),
        ];
        if !columns.is_empty() {
            q.push(("columns", columns.join(",")));
        }
        part_query(&s.partition, &mut q);
        if arrow {
            q.push(("arrow", String::new()));
        }
        let mut h = vec![];
        if let Some(c) = compression {
            let v = if arrow && c == Compression::OdpsLz4Frame {
                Compression::Lz4Frame.header_value()
            } else {
                c.header_value()
            };
            h.push(("Accept-Encoding", v.to_string()));
        }
        let resp = self
            .send(
                Service::Tunnel,
                Method::GET,
                &self.tunnel_table_path(&s.table),
                &q,
                &h,
                None,
            )
            .await?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            let e = self.api_error(resp).await;
            Err(self.classify(&what, &e))
        }
    }
}

fn fmt_part(p: &Option<PartitionSpec>) -> String {
    match p {
        Some(p) => format!(" partition {p}"),
        None => String::new(),
    }
}

// ------------------------------------------------------------------------------------------
// Upload blocks

/// The copy of a block's wire bytes kept to re-send the block if its PUT breaks.
///
/// Normally an unnamed temp file (the OS removes it when it is closed, on every path,
/// even a crash): a channel's block is up to `blockSizeInMB`, and held in memory it
/// would be most of the process's memory. When no temp file can be made, the chunks are
/// kept in memory instead (reference-counted, once).
enum ResendCopy {
    File { file: std::fs::File, len: u64 },
    Memory(Vec<Bytes>),
}

impl ResendCopy {
    fn new(block_id: u64) -> ResendCopy {
        match tempfile::tempfile() {
            Ok(file) => ResendCopy::File { file, len: 0 },
            Err(e) => {
                tracing::debug!(
                    "block {block_id}: no temp file for the re-send copy ({e}); keeping it in memory"
                );
                ResendCopy::Memory(Vec::new())
            }
        }
    }

    /// Append a chunk. The write goes to the page cache, which the kernel writes back
    /// (or drops with the file) on its own.
    fn push(&mut self, b: &Bytes) -> std::io::Result<()> {
        use std::io::Write;
        match self {
            ResendCopy::File { file, len } => {
                file.write_all(b)?;
                *len += b.len() as u64;
            }
            ResendCopy::Memory(chunks) => chunks.push(b.clone()),
        }
        Ok(())
    }

    /// A body that sends the block again, read back piece by piece.
    fn body(&self) -> std::io::Result<reqwest::Body> {
        match self {
            ResendCopy::Memory(chunks) => Ok(reqwest::Body::wrap_stream(futures::stream::iter(
                chunks.clone().into_iter().map(Ok::<Bytes, std::io::Error>),
            ))),
            ResendCopy::File { file, len } => Ok(reqwest::Body::wrap_stream(file_stream(
                file.try_clone()?,
                *len,
            ))),
        }
    }
}

/// Piece of a re-sent block read from its temp file at a time.
const RESEND_PIECE: u64 = 1 << 20;

/// The first `len` bytes of `f`, in pieces read on the blocking pool.
fn file_stream(
    f: std::fs::File,
    len: u64,
) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    futures::stream::unfold(Some((f, 0u64)), move |state| async move {
        let (mut f, pos) = state?;
        if pos >= len {
            return None;
        }
        let n = (len - pos).min(RESEND_PIECE) as usize;
        let read = tokio::task::spawn_blocking(move || {
            use std::io::{Read, Seek, SeekFrom};
            let mut buf = vec![0u8; n];
            f.seek(SeekFrom::Start(pos))?;
            f.read_exact(&mut buf)?;
            Ok::<_, std::io::Error>((f, buf))
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        match read {
            Ok((f, buf)) => Some((Ok(Bytes::from(buf)), Some((f, pos + n as u64)))),
            Err(e) => Some((Err(e), None)),
        }
    })
}

/// One block being uploaded: bytes are streamed to a PUT as they are produced and kept
/// (once, in a temp file — see [`ResendCopy`]) so the block can be re-sent if the PUT
/// breaks.
pub struct BlockUpload {
    client: Arc<OdpsClient>,
    session: Arc<UploadSession>,
    block_id: u64,
    arrow: bool,
    compression: Option<Compression>,
    compressor: Option<StreamCompressor>,
    copy: ResendCopy,
    /// Uncompressed bytes written.
    bytes: u64,
    /// Wire (compressed) bytes written.
    wire: u64,
    tx: Option<mpsc::Sender<Bytes>>,
    put: Option<tokio::task::JoinHandle<Result<()>>>,
}

impl std::fmt::Debug for BlockUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockUpload")
            .field("block_id", &self.block_id)
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl Drop for BlockUpload {
    /// A block neither finished nor cancelled (an error on the way) is aborted, not left
    /// to complete with part of its data.
    fn drop(&mut self) {
        if let Some(h) = self.put.take() {
            h.abort();
        }
    }
}

fn body_of(rx: mpsc::Receiver<Bytes>) -> reqwest::Body {
    let s = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<Bytes, std::io::Error>(b), rx))
    });
    reqwest::Body::wrap_stream(s)
}

impl BlockUpload {
    /// Start block `block_id` (the PUT opens at once and is fed as data comes).
    pub fn start(
        client: Arc<OdpsClient>,
        session: Arc<UploadSession>,
        block_id: u64,
        arrow: bool,
        compression: Option<Compression>,
    ) -> Result<BlockUpload> {
        if block_id >= MAX_BLOCK_ID {
            return Err(Error::data(format!(
                "upload to {}: block id {block_id} is beyond the tunnel's limit of {MAX_BLOCK_ID}; raise blockSizeInMB",
                session.table
            )));
        }
        let compressor = compression.map(StreamCompressor::new).transpose()?;
        let (tx, rx) = mpsc::channel::<Bytes>(8);
        let c = client.clone();
        let s = session.clone();
        let put = tokio::spawn(async move {
            c.put_block(&s, block_id, body_of(rx), compression, arrow)
                .await
        });
        Ok(BlockUpload {
            client,
            session,
            block_id,
            arrow,
            compression,
            compressor,
            copy: ResendCopy::new(block_id),
            bytes: 0,
            wire: 0,
            tx: Some(tx),
            put: Some(put),
        })
    }

    fn copy_error(&self, e: std::io::Error) -> Error {
        Error::io(
            format!(
                "block {} of upload to {}{}: its re-send copy (a temp file)",
                self.block_id,
                self.session.table,
                fmt_part(&self.session.partition)
            ),
            e,
        )
    }

    /// Block id.
    pub fn id(&self) -> u64 {
        self.block_id
    }

    /// Uncompressed bytes written so far.
    pub fn raw_bytes(&self) -> u64 {
        self.bytes
    }

    /// Append encoded bytes to the block.
    pub async fn write(&mut self, data: Vec<u8>) -> Result<()> {
        self.bytes += data.len() as u64;
        let out = match &mut self.compressor {
            Some(c) => c.write(&data)?,
            None => data,
        };
        self.push(out).await
    }

    async fn push(&mut self, out: Vec<u8>) -> Result<()> {
        if out.is_empty() {
            return Ok(());
        }
        let b = Bytes::from(out);
        self.copy.push(&b).map_err(|e| self.copy_error(e))?;
        self.wire += b.len() as u64;
        if let Some(tx) = &self.tx {
            if tx.send(b).await.is_err() {
                // the PUT ended early (it failed); the block is re-sent at finish
                self.tx = None;
            }
        }
        Ok(())
    }

    /// Give the block up: the PUT is aborted while its body is still open, so the
    /// server never sees a complete block, and it is gone before this returns (a block
    /// written again under the same id cannot be overtaken by this one).
    pub async fn cancel(mut self) {
        if let Some(h) = self.put.take() {
            h.abort();
            let _ = h.await;
        }
        self.tx = None;
    }

    /// End the block: wait for the PUT, re-sending the whole block on transient
    /// failures. Returns the wire bytes of the block.
    pub async fn finish(mut self) -> Result<u64> {
        if let Some(c) = self.compressor.take() {
            let tail = c.finish()?;
            self.push(tail).await?;
        }
        self.tx = None;
        let first = match self.put.take() {
            Some(h) => h
                .await
                .unwrap_or_else(|e| Err(Error::internal(format!("block upload task: {e}")))),
            None => Err(Error::transient("block upload was not started")),
        };
        let wire = self.wire;
        let mut err = match first {
            Ok(()) => return Ok(wire),
            Err(e) => e,
        };
        let max = self.client.max_retry();
        let mut attempt = 1;
        while err.retry_hint() && attempt < max {
            tracing::warn!(
                "{err}; re-sending block {} ({attempt}/{max})",
                self.block_id
            );
            backoff(attempt).await;
            attempt += 1;
            let body = self.copy.body().map_err(|e| self.copy_error(e))?;
            match self
                .client
                .put_block(
                    &self.session,
                    self.block_id,
                    body,
                    self.compression,
                    self.arrow,
                )
                .await
            {
                Ok(()) => return Ok(wire),
                Err(e) => err = e,
            }
        }
        Err(err)
    }
}

// ------------------------------------------------------------------------------------------
// Download ranges

/// How to read a download session.
#[derive(Debug, Clone)]
pub struct RangeRead {
    /// The session.
    pub session: Arc<DownloadSession>,
    /// Columns downloaded, in table order (all when empty is never used: always explicit).
    pub columns: Vec<(String, OdpsType)>,
    /// Whether `columns=` is sent (a projection).
    pub project: bool,
    /// Arrow tunnel format.
    pub arrow: bool,
    /// Requested compression.
    pub compression: Option<Compression>,
    /// Rows per batch.
    pub batch_rows: usize,
}

impl RangeRead {
    /// The schema of the decoded batches.
    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|(n, t)| Field::new(n, arrow_type(t), true))
                .collect::<Vec<_>>(),
        ))
    }
}

type Mapper = Arc<dyn Fn(RecordBatch) -> Result<RecordBatch> + Send + Sync>;

/// Read rows `[start, start+count)`; batches (passed through `map`) arrive on the returned
/// channel. A broken connection resumes at the first row not yet delivered, up to the
/// client's retry limit.
pub fn read_range(
    client: Arc<OdpsClient>,
    r: Arc<RangeRead>,
    start: u64,
    count: u64,
    map: Mapper,
) -> mpsc::Receiver<Result<RecordBatch>> {
    let (out, rx) = mpsc::channel(2);
    tokio::spawn(async move {
        let delivered = Arc::new(AtomicU64::new(0));
        let mut attempt = 0u32;
        loop {
            let done = delivered.load(Ordering::SeqCst);
            if done >= count {
                return;
            }
            attempt += 1;
            let res = read_once(
                &client,
                &r,
                start + done,
                count - done,
                &delivered,
                &out,
                &map,
            )
            .await;
            let err = match res {
                Ok(()) => {
                    let got = delivered.load(Ordering::SeqCst);
                    if got >= count {
                        return;
                    }
                    Error::transient(format!(
                        "{}{}: the server sent rows up to {} of [{start}, {}) and stopped",
                        r.session.table,
                        fmt_part(&r.session.partition),
                        start + got,
                        start + count
                    ))
                }
                Err(e) => e,
            };
            if out.is_closed() {
                return;
            }
            if !err.retry_hint() || attempt >= client.max_retry() {
                let _ = out.send(Err(err)).await;
                return;
            }
            tracing::warn!(
                "{err}; resuming at row {} ({attempt}/{})",
                start + delivered.load(Ordering::SeqCst),
                client.max_retry()
            );
            backoff(attempt).await;
        }
    });
    rx
}

async fn read_once(
    client: &Arc<OdpsClient>,
    r: &Arc<RangeRead>,
    start: u64,
    count: u64,
    delivered: &Arc<AtomicU64>,
    out: &mpsc::Sender<Result<RecordBatch>>,
    map: &Mapper,
) -> Result<()> {
    let cols: Vec<String> = if r.project {
        r.columns.iter().map(|(n, _)| n.clone()).collect()
    } else {
        Vec::new()
    };
    let resp = client
        .open_rows(&r.session, start, count, &cols, r.arrow, r.compression)
        .await?;
    let enc = resp
        .headers()
        .get(reqwest::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let compression = match enc.as_deref() {
        None | Some("") | Some("identity") => None,
        Some(v) => Some(Compression::from_header(v).ok_or_else(|| {
            Error::remote(format!(
                "download reply has an unknown Content-Encoding {v}"
            ))
        })?),
    };
    let (in_tx, in_rx) = mpsc::channel::<std::result::Result<Bytes, String>>(16);
    let worker = {
        let r = r.clone();
        let out = out.clone();
        let delivered = delivered.clone();
        let map = map.clone();
        let what = format!(
            "{}{} rows from {start}",
            r.session.table,
            fmt_part(&r.session.partition)
        );
        tokio::task::spawn_blocking(move || {
            decode_worker(&r, compression, in_rx, &out, &delivered, &map, &what)
        })
    };
    let mut body = resp.bytes_stream();
    let mut transport_err = None;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(b) => {
                if in_tx.send(Ok(b)).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                let e = client.transport("download", e);
                let _ = in_tx.send(Err(e.to_string())).await;
                transport_err = Some(e);
                break;
            }
        }
    }
    drop(in_tx);
    let res = worker
        .await
        .unwrap_or_else(|e| Err(Error::internal(format!("decode worker: {e}"))));
    match (res, transport_err) {
        (Err(_), Some(t)) => Err(t),
        (r, _) => r,
    }
}

struct ChanReader {
    rx: mpsc::Receiver<std::result::Result<Bytes, String>>,
    cur: Bytes,
}

impl Read for ChanReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Err(e)) => return Err(std::io::Error::other(e)),
                Some(Ok(b)) => self.cur = b,
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        let _ = self.cur.split_to(n);
        Ok(n)
    }
}

enum Decoder {
    Record(RecordDecoder),
    Arrow(ArrowTunnelDecoder),
}

impl Decoder {
    fn push(&mut self, data: &[u8]) -> Result<()> {
        match self {
            Decoder::Record(d) => d.push(data),
            Decoder::Arrow(d) => d.push(data),
        }
    }
    fn next(&mut self) -> Result<Option<RecordBatch>> {
        match self {
            Decoder::Record(d) => d.next_batch(),
            Decoder::Arrow(d) => Ok(d.next_batch()),
        }
    }
    fn finish(&mut self) -> Result<Vec<RecordBatch>> {
        match self {
            Decoder::Record(d) => d.finish(),
            Decoder::Arrow(d) => d.finish(),
        }
    }
}

fn decode_worker(
    r: &RangeRead,
    compression: Option<Compression>,
    rx: mpsc::Receiver<std::result::Result<Bytes, String>>,
    out: &mpsc::Sender<Result<RecordBatch>>,
    delivered: &AtomicU64,
    map: &Mapper,
    what: &str,
) -> Result<()> {
    let reader = ChanReader {
        rx,
        cur: Bytes::new(),
    };
    let mut src: Box<dyn Read> = match compression {
        Some(c) => c.decoder(reader),
        None => Box::new(reader),
    };
    let mut dec = if r.arrow {
        Decoder::Arrow(ArrowTunnelDecoder::new(r.schema())?)
    } else {
        Decoder::Record(RecordDecoder::new(
            &r.columns,
            DecoderOptions {
                batch_rows: r.batch_rows.max(1),
                ..DecoderOptions::default()
            },
        ))
    };
    let send = |b: RecordBatch| -> Result<()> {
        let n = b.num_rows() as u64;
        let b = map(b)?;
        out.blocking_send(Ok(b)).map_err(|_| Error::Cancelled)?;
        delivered.fetch_add(n, Ordering::SeqCst);
        Ok(())
    };
    let batch_rows = r.batch_rows.max(1);
    let emit = |b: RecordBatch| -> Result<()> {
        if b.num_rows() == 0 {
            return Ok(());
        }
        if b.num_rows() <= batch_rows {
            return send(b);
        }
        // The server chose the Arrow batch size. A slice of a big batch would keep all
        // of it alive until its last slice is written, with a few of them queued per
        // channel; copies of the slices let it go now.
        let mut off = 0;
        while off < b.num_rows() {
            let len = batch_rows.min(b.num_rows() - off);
            send(compact(&b.slice(off, len))?)?;
            off += len;
        }
        Ok(())
    };
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match src.read(&mut buf) {
            Ok(n) => n,
            Err(e) => return Err(Error::transient(format!("{what}: {e}"))),
        };
        if n == 0 {
            break;
        }
        dec.push(&buf[..n]).map_err(|e| e.context(what))?;
        while let Some(b) = dec.next()? {
            emit(b)?;
        }
    }
    for b in dec.finish().map_err(|e| e.context(what))? {
        emit(b)?;
    }
    Ok(())
}

/// A copy of `b` in buffers of its own (not sharing those of the batch it was sliced from).
fn compact(b: &RecordBatch) -> Result<RecordBatch> {
    use arrow::array::{make_array, MutableArrayData};
    let cols = b
        .columns()
        .iter()
        .map(|c| {
            let data = c.to_data();
            let mut m = MutableArrayData::new(vec![&data], false, c.len());
            m.try_extend(0, 0, c.len())?;
            Ok(make_array(m.freeze()))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(b.schema(), cols)?)
}

/// The first `limit` rows of a table or partition (every normal column).
pub async fn preview(
    client: &Arc<OdpsClient>,
    table: &str,
    partition: Option<&str>,
    limit: usize,
) -> Result<RecordBatch> {
    let meta = client.get_table(table).await?;
    let keys = meta.key_names();
    let spec = match partition {
        Some(p) if !p.trim().is_empty() => {
            let s = PartitionSpec::parse(p, &keys)?;
            s.check_keys(&keys, table)?;
            Some(s)
        }
        _ => None,
    };
    if meta.is_partitioned() && spec.is_none() {
        return Err(Error::config(format!(
            "table {table} is partitioned by ({}); name a partition to preview",
            keys.join(", ")
        )));
    }
    let session = Arc::new(client.create_download(table, spec).await?);
    let fields: Vec<Field> = meta.columns.iter().map(|c| c.arrow_field()).collect();
    let schema = Arc::new(Schema::new(fields));
    let n = session.record_count.min(limit as u64);
    if n == 0 {
        return Ok(RecordBatch::new_empty(schema));
    }
    let rr = Arc::new(RangeRead {
        session,
        columns: meta.codec_columns(),
        project: false,
        arrow: false,
        compression: None,
        batch_rows: limit.max(1),
    });
    let s2 = schema.clone();
    let map: Mapper =
        Arc::new(move |b: RecordBatch| Ok(RecordBatch::try_new(s2.clone(), b.columns().to_vec())?));
    let mut rx = read_range(client.clone(), rr, 0, n, map);
    let mut batches = Vec::new();
    while let Some(b) = rx.recv().await {
        batches.push(b?);
    }
    Ok(arrow::compute::concat_batches(&schema, &batches)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_back(copy: &ResendCopy) -> Vec<u8> {
        let ResendCopy::File { file, len } = copy else {
            panic!("the copy is not in a temp file");
        };
        let mut s = Box::pin(file_stream(file.try_clone().unwrap(), *len));
        let mut out = Vec::new();
        while let Some(b) = s.next().await {
            let b = b.unwrap();
            assert!(b.len() as u64 <= RESEND_PIECE);
            out.extend_from_slice(&b);
        }
        out
    }

    #[test]
    fn a_compacted_slice_equals_the_slice_and_owns_its_buffers() {
        use arrow::array::{Array, Int64Array, StringArray};
        use arrow::datatypes::DataType;
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let n = 100_000;
        let ids: Int64Array = (0..n).map(|i| (i % 7 != 0).then_some(i)).collect();
        let names: StringArray = (0..n)
            .map(|i| (i % 5 != 0).then(|| format!("name-{i}")))
            .collect();
        let big = RecordBatch::try_new(schema, vec![Arc::new(ids), Arc::new(names)]).unwrap();
        let slice = big.slice(30_000, 8192);
        let c = compact(&slice).unwrap();
        assert_eq!(c, slice);
        assert!(c.get_array_memory_size() * 5 < slice.get_array_memory_size());
        assert_eq!(c.column(0).offset(), 0);
    }

    #[tokio::test]
    async fn the_resend_copy_reads_back_every_byte_in_order_any_number_of_times() {
        let data: Vec<u8> = (0..(2 * RESEND_PIECE + 12345))
            .map(|i| (i % 251) as u8)
            .collect();
        let mut copy = ResendCopy::new(0);
        for piece in data.chunks(70_001) {
            copy.push(&Bytes::copy_from_slice(piece)).unwrap();
        }
        assert_eq!(read_back(&copy).await, data);
        assert_eq!(read_back(&copy).await, data, "a second re-send starts over");
        assert!(read_back(&ResendCopy::new(1)).await.is_empty());
        assert!(copy.body().is_ok());
    }
}
