//! The Table Tunnel (no `/api` prefix, JSON replies): upload sessions and block PUTs,
//! download sessions and ranged data GETs, and the Arrow `/preview`. Block bodies and
//! download ranges stream through a bounded channel to a blocking worker, batch by batch:
//! neither is ever held whole in memory.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::{
    ArrayRef, Int32Array, Int64Array, RecordBatch, RecordBatchOptions, StructArray,
};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::json;
use tokio::sync::mpsc;

use crate::error::{bad, err, internal, ApiResult};
use crate::http::{
    http_date, json_reply, lock, new_id, now_ms, read_body, Block, DownloadSession, Req, Server,
    UploadSession, UploadState, MAX_BLOCK_ID, OWNER,
};
use crate::rest::{columns_json, load_table, preview_specs, table_spec, PREVIEW_MAX_ROWS};
use crate::store::{self, spec_string, ParquetSink, TableMeta};
use ferry_odps::client::compress_stream::StreamCompressor;
use ferry_odps::wire::arrow_frame::{ArrowTunnelDecoder, ArrowTunnelEncoder, DEFAULT_CHUNK_SIZE};
use ferry_odps::wire::record::{DecoderOptions, RecordDecoder, RecordEncoder, MAX_FIELD_SIZE};
use ferry_odps::wire::{arrow_type, Compression, OdpsType};

/// Chunks in flight between the HTTP body and the blocking worker, each way.
const CHANNEL_CHUNKS: usize = 16;
/// Rows per batch the worker decodes or reads.
const BATCH_ROWS: usize = 65536;
/// Rows per Arrow record batch a download sends (a client's decode batch: 8,192 rows).
/// Larger messages made each client channel hold ~10 MB batches of wide rows, which glibc
/// then kept in per-thread arenas (bench/RESULTS.md, the Arrow tunnel's peak RSS).
const ARROW_BATCH_ROWS: usize = 8192;
/// Bytes a download worker gathers before it hands a chunk to the HTTP body.
const OUT_CHUNK: usize = 256 * 1024;

/// The tunnel protocol version from which clients read metrics (header and trailer).
const METRICS_VERSION: u32 = 6;

/// The `odps-tunnel-metrics` JSON (milliseconds), as MaxCompute reports it.
fn metrics_json(total: Duration, io: Duration, storage: Duration) -> String {
    let ms = |d: Duration| d.as_millis() as u64;
    let (total, io, storage) = (ms(total), ms(io), ms(storage));
    json!({"PanguIOCost": storage.min(total), "ServerIOCost": io.min(total),
           "ServerTotalCost": total.max(io + storage), "RateLimitCost": 0})
    .to_string()
}

// ------------------------------------------------------------------------------------------
// Tunnel: uploads

fn tunnel_table(
    s: &Server,
    p: &str,
    t: &str,
    r: &Req,
) -> ApiResult<(TableMeta, Vec<(String, String)>)> {
    let m = load_table(s, p, t)?;
    let raw = r.get("partition").unwrap_or("");
    let spec = table_spec(&m, raw)?;
    if !m.partition_keys.is_empty() && spec.is_empty() {
        return Err(bad(format!(
            "table {p}.{t} is partitioned: pass partition=..."
        )));
    }
    Ok((m, spec))
}

fn schema_json(m: &TableMeta) -> serde_json::Value {
    let cols: Vec<serde_json::Value> = m
        .columns
        .iter()
        .map(|c| {
            json!({"name": c.name, "type": c.ty, "comment": c.comment, "nullable": true,
                   "isNullable": true, "column_id": "", "default_value": ""})
        })
        .collect();
    json!({"IsVirtualView": false, "columns": cols,
           "partitionKeys": columns_json(&m.partition_keys)})
}

fn upload_json(u: &UploadSession) -> serde_json::Value {
    let st = lock(&u.state);
    let blocks: Vec<serde_json::Value> = st
        .blocks
        .iter()
        .map(|(id, b)| {
            json!({"BlockID": id, "CreateTime": b.version / 1000, "Date": "",
                   "FileName": format!("{id}_{}_1", b.version), "RawSize": b.bytes,
                   "RecordCount": b.records, "Version": b.version})
        })
        .collect();
    json!({"UploadID": u.id, "Status": st.status, "Owner": OWNER, "Initiated": u.initiated,
           "IsOverwrite": u.overwrite, "MaxFieldSize": MAX_FIELD_SIZE, "QuotaName": "",
           "UploadedBlockList": blocks, "Schema": schema_json(&u.meta)})
}

pub(crate) fn create_upload(s: &Server, p: &str, t: &str, r: &Req) -> ApiResult<Response> {
    let (meta, spec) = tunnel_table(s, p, t, r)?;
    let create_partition = r.flag("create_partition");
    if !spec.is_empty()
        && !create_partition
        && !s
            .store
            .partition_exists(p, &meta, &spec)
            .map_err(internal)?
    {
        return Err(err(
            StatusCode::NOT_FOUND,
            "NoSuchPartition",
            format!(
                "partition {} of table {p}.{t} does not exist (create it, or pass create_partition=true)",
                spec_string(&spec)
            ),
        ));
    }
    let id = new_id();
    let dir = s.store.upload_dir(p, t, &id).map_err(internal)?;
    std::fs::create_dir_all(&dir).map_err(|e| internal(format!("{}: {e}", dir.display())))?;
    let u = Arc::new(UploadSession {
        id: id.clone(),
        project: p.to_string(),
        meta,
        spec,
        overwrite: r.flag("overwrite"),
        create_partition,
        initiated: http_date(),
        state: Mutex::new(UploadState {
            status: "normal",
            blocks: BTreeMap::new(),
        }),
    });
    let body = upload_json(&u);
    lock(&s.uploads).insert(id, u);
    Ok(json_reply(StatusCode::CREATED, body))
}

fn upload_session(s: &Server, r: &Req) -> ApiResult<Arc<UploadSession>> {
    let id = r.get("uploadid").unwrap_or("");
    lock(&s.uploads).get(id).cloned().ok_or_else(|| {
        err(
            StatusCode::NOT_FOUND,
            "NoSuchUpload",
            format!("upload session {id} does not exist"),
        )
    })
}

pub(crate) fn upload_status(s: &Server, r: &Req) -> ApiResult<Response> {
    let u = upload_session(s, r)?;
    Ok(json_reply(StatusCode::OK, upload_json(&u)))
}

/// The request's `Content-Encoding`, if it is not identity.
fn content_encoding(headers: &HeaderMap) -> ApiResult<Option<Compression>> {
    match headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && !v.eq_ignore_ascii_case("identity"))
    {
        None => Ok(None),
        Some(enc) => Compression::from_header(enc)
            .map(Some)
            .ok_or_else(|| bad(format!("unsupported Content-Encoding `{enc}`"))),
    }
}

/// The blocking side of a body channel.
struct ChanReader {
    rx: mpsc::Receiver<Result<Bytes, String>>,
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

enum BlockDecoder {
    Record(RecordDecoder),
    Arrow(ArrowTunnelDecoder),
}

impl BlockDecoder {
    fn push(&mut self, data: &[u8]) -> ferry_core::Result<()> {
        match self {
            BlockDecoder::Record(d) => d.push(data),
            BlockDecoder::Arrow(d) => d.push(data),
        }
    }
    fn next_batch(&mut self) -> ferry_core::Result<Option<RecordBatch>> {
        match self {
            BlockDecoder::Record(d) => d.next_batch(),
            BlockDecoder::Arrow(d) => Ok(d.next_batch()),
        }
    }
    fn finish(&mut self) -> ferry_core::Result<Vec<RecordBatch>> {
        match self {
            BlockDecoder::Record(d) => d.finish(),
            BlockDecoder::Arrow(d) => d.finish(),
        }
    }
}

/// The blocking worker of a block PUT: decompress, decode, pad `char(n)`, write Parquet
/// batch by batch. Returns the record count and the time spent writing.
fn write_block(
    meta: &TableMeta,
    arrow: bool,
    coding: Option<Compression>,
    rx: mpsc::Receiver<Result<Bytes, String>>,
    path: &std::path::Path,
) -> Result<(store::ClosedFile, Duration), String> {
    let cols = meta.typed_columns()?;
    let schema = meta.arrow_schema()?;
    let mut dec = if arrow {
        BlockDecoder::Arrow(ArrowTunnelDecoder::new(schema.clone()).map_err(|e| e.to_string())?)
    } else {
        BlockDecoder::Record(RecordDecoder::new(
            &cols,
            DecoderOptions {
                batch_rows: BATCH_ROWS,
                require_footer: false,
                max_field_size: MAX_FIELD_SIZE,
            },
        ))
    };
    let raw = ChanReader {
        rx,
        cur: Bytes::new(),
    };
    let mut input: Box<dyn Read> = match coding {
        Some(c) => c.decoder(raw),
        None => Box::new(raw),
    };
    let mut sink = ParquetSink::create(path, schema)?;
    let mut storage = Duration::ZERO;
    let mut write = |sink: &mut ParquetSink, b: RecordBatch| -> Result<(), String> {
        let b = store::pad_chars(&cols, b)?;
        let t = Instant::now();
        sink.write(&b)?;
        storage += t.elapsed();
        Ok(())
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = input.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        dec.push(&buf[..n]).map_err(|e| e.to_string())?;
        while let Some(b) = dec.next_batch().map_err(|e| e.to_string())? {
            write(&mut sink, b)?;
        }
    }
    for b in dec.finish().map_err(|e| e.to_string())? {
        write(&mut sink, b)?;
    }
    let t = Instant::now();
    // Closed, not yet in place: the PUT moves it there once it has read the whole body.
    // A PUT dropped with its connection (the client gave the block up) drops this, and
    // the file, so it cannot land over a later PUT of the same block.
    let closed = sink.close()?;
    storage += t.elapsed();
    Ok((closed, storage))
}

pub(crate) async fn put_block(
    s: &Arc<Server>,
    p: &str,
    t: &str,
    r: &mut Req,
) -> ApiResult<Response> {
    let started = Instant::now();
    let u = upload_session(s, r)?;
    let block: u32 = r
        .get("blockid")
        .unwrap_or("0")
        .parse()
        .map_err(|_| bad("blockid must be a number"))?;
    if block >= MAX_BLOCK_ID {
        return Err(bad(format!(
            "blockid {block} is out of range [0, {MAX_BLOCK_ID})"
        )));
    }
    if lock(&u.state).status != "normal" {
        return Err(bad(format!("upload session {} is already committed", u.id)));
    }
    let coding = content_encoding(&r.headers)?;
    let path = s
        .store
        .upload_dir(p, t, &u.id)
        .map_err(internal)?
        .join(format!("{block}.parquet"));
    let (tx, rx) = mpsc::channel::<Result<Bytes, String>>(CHANNEL_CHUNKS);
    let worker = {
        let meta = u.meta.clone();
        let arrow = r.has("arrow");
        tokio::task::spawn_blocking(move || write_block(&meta, arrow, coding, rx, &path))
    };
    // forward the (chunked) body, with the optional injected connection drop
    let mut stream = r.take_body().into_data_stream();
    let drop_after = s
        .fault_after
        .filter(|_| s.faults_left.load(Ordering::SeqCst) > 0);
    let (mut raw_len, mut io) = (0u64, Duration::ZERO);
    loop {
        let t0 = Instant::now();
        let next = stream.next().await;
        io += t0.elapsed();
        let Some(chunk) = next else { break };
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                let msg = format!("reading block {block}: {e}");
                let _ = tx.send(Err(msg.clone())).await;
                let _ = worker.await;
                return Err(bad(msg));
            }
        };
        raw_len += chunk.len() as u64;
        if let Some(n) = drop_after {
            if raw_len >= n
                && s.faults_left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
                    .is_ok()
            {
                tracing::info!(block, "fault injection: dropping the block PUT connection");
                let _ = tx.send(Err("fault injection".into())).await;
                let _ = worker.await;
                // unwinding the connection task closes the socket without a reply
                std::panic::resume_unwind(Box::new("ferry fault injection"));
            }
        }
        if tx.send(Ok(chunk)).await.is_err() {
            break; // the worker failed; its error is the answer
        }
    }
    drop(tx);
    let (closed, storage) = worker
        .await
        .map_err(|e| internal(format!("block writer: {e}")))?
        .map_err(|e| bad(format!("block {block}: {e}")))?;
    let records = closed.commit().map_err(internal)?;
    let mut st = lock(&u.state);
    if st.status != "normal" {
        return Err(bad(format!(
            "upload session {} was committed during the PUT",
            u.id
        )));
    }
    st.blocks.insert(
        block,
        Block {
            records,
            bytes: raw_len,
            version: now_ms(),
        },
    );
    drop(st);
    let mut resp = StatusCode::OK.into_response();
    if r.tunnel_version() >= METRICS_VERSION {
        if let Ok(v) = HeaderValue::from_str(&metrics_json(started.elapsed(), io, storage)) {
            resp.headers_mut().insert("odps-tunnel-metrics", v);
        }
    }
    Ok(resp)
}

fn requested_blocks(body: &[u8]) -> Vec<u32> {
    let text = String::from_utf8_lossy(body);
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|x| !x.is_empty())
        .filter_map(|x| x.parse().ok())
        .collect()
}

pub(crate) async fn commit_upload(s: &Arc<Server>, r: &mut Req) -> ApiResult<Response> {
    let u = upload_session(s, r)?;
    let body = read_body(r.take_body(), 1 << 20).await?;
    let wanted = requested_blocks(&body);
    let _g = s.commit_lock.lock().await;
    {
        let st = lock(&u.state);
        if st.status == "closed" {
            drop(st);
            return Ok(json_reply(StatusCode::OK, upload_json(&u)));
        }
        let missing: Vec<u32> = wanted
            .iter()
            .copied()
            .filter(|b| !st.blocks.contains_key(b))
            .collect();
        if !missing.is_empty() {
            return Err(err(
                StatusCode::BAD_REQUEST,
                "BlockNotFound",
                format!(
                    "cannot commit upload {}: blocks {:?} were never written (server has {:?})",
                    u.id,
                    missing,
                    st.blocks.keys().collect::<Vec<_>>()
                ),
            ));
        }
    }
    lock(&u.state).status = "committing";
    let result = commit_files(s, &u);
    let mut st = lock(&u.state);
    match result {
        Ok(()) => {
            st.status = "closed";
            drop(st);
            Ok(json_reply(StatusCode::OK, upload_json(&u)))
        }
        Err(e) => {
            st.status = "normal";
            Err(e)
        }
    }
}

fn commit_files(s: &Server, u: &UploadSession) -> ApiResult<()> {
    let p = &u.project;
    let meta = load_table(s, p, &u.meta.name)?;
    let dir = s.store.partition_dir(p, &meta, &u.spec).map_err(internal)?;
    if !u.spec.is_empty() && !dir.is_dir() {
        if !u.create_partition {
            return Err(err(
                StatusCode::NOT_FOUND,
                "NoSuchPartition",
                format!("partition {} was dropped", spec_string(&u.spec)),
            ));
        }
        s.store
            .create_partition(p, &meta, &u.spec)
            .map_err(internal)?;
    }
    let staged = s.store.upload_dir(p, &meta.name, &u.id).map_err(internal)?;
    if u.overwrite {
        s.store.clear_data(&dir).map_err(internal)?;
    }
    let blocks: Vec<(u32, Block)> = lock(&u.state)
        .blocks
        .iter()
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    let seq = s.seq.fetch_add(1, Ordering::SeqCst);
    let stamp = format!(
        "{:016}{:04}",
        chrono::Utc::now().timestamp_micros(),
        seq % 10_000
    );
    for (id, b) in blocks {
        let from = staged.join(format!("{id}.parquet"));
        if b.records == 0 {
            let _ = std::fs::remove_file(&from);
            continue;
        }
        let to = dir.join(format!(
            "{stamp}_{}_{id:05}.parquet",
            &u.id[u.id.len() - 8..]
        ));
        std::fs::rename(&from, &to)
            .map_err(|e| internal(format!("{} -> {}: {e}", from.display(), to.display())))?;
    }
    let _ = std::fs::remove_dir_all(&staged);
    s.store.touch(p, &meta).map_err(internal)?;
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Tunnel: downloads

fn download_json(d: &DownloadSession) -> serde_json::Value {
    json!({"DownloadID": d.id, "Status": "normal", "RecordCount": d.count,
           "Schema": schema_json(&d.meta), "QuotaName": "", "Owner": OWNER,
           "Initiated": d.initiated, "SupportReadByRawSize": true})
}

pub(crate) fn create_download(s: &Server, p: &str, t: &str, r: &Req) -> ApiResult<Response> {
    let (meta, spec) = tunnel_table(s, p, t, r)?;
    if !spec.is_empty()
        && !s
            .store
            .partition_exists(p, &meta, &spec)
            .map_err(internal)?
    {
        return Err(err(
            StatusCode::NOT_FOUND,
            "NoSuchPartition",
            format!(
                "partition {} of table {p}.{t} does not exist",
                spec_string(&spec)
            ),
        ));
    }
    let dir = s.store.partition_dir(p, &meta, &spec).map_err(internal)?;
    let files = s.store.data_files(&dir).map_err(internal)?;
    let count = files.iter().map(|f| f.rows).sum();
    let d = Arc::new(DownloadSession {
        id: new_id(),
        meta,
        files,
        count,
        initiated: http_date(),
    });
    let body = download_json(&d);
    lock(&s.downloads).insert(d.id.clone(), d);
    Ok(json_reply(StatusCode::CREATED, body))
}

fn download_session(s: &Server, r: &Req) -> ApiResult<Arc<DownloadSession>> {
    let id = r.get("downloadid").unwrap_or("");
    lock(&s.downloads).get(id).cloned().ok_or_else(|| {
        err(
            StatusCode::NOT_FOUND,
            "NoSuchDownload",
            format!("download session {id} does not exist"),
        )
    })
}

pub(crate) fn download_status(s: &Server, r: &Req) -> ApiResult<Response> {
    let d = download_session(s, r)?;
    Ok(json_reply(StatusCode::OK, download_json(&d)))
}

fn parse_rowrange(v: &str) -> Option<(u64, u64)> {
    let v = v.trim().strip_prefix('(')?.strip_suffix(')')?;
    let (a, b) = v.split_once(',')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

/// A download's columns: the requested data columns in request order, and the same set
/// in table order (what Parquet projects).
fn requested_columns(
    d: &DownloadSession,
    cols: &[(String, OdpsType)],
    list: Option<&str>,
) -> ApiResult<Vec<usize>> {
    match list.filter(|c| !c.trim().is_empty()) {
        None => Ok((0..cols.len()).collect()),
        Some(list) => {
            let mut v = Vec::new();
            for name in list.split(',').map(str::trim) {
                // partition keys are never in the stream
                if d.meta
                    .partition_keys
                    .iter()
                    .any(|k| k.name.eq_ignore_ascii_case(name))
                {
                    continue;
                }
                let i = cols
                    .iter()
                    .position(|(n, _)| n.eq_ignore_ascii_case(name))
                    .ok_or_else(|| bad(format!("column {name} is not in table {}", d.meta.name)))?;
                v.push(i);
            }
            Ok(v)
        }
    }
}

/// Where a download worker's output goes: the compressor (if any), then the body channel
/// in chunks of [`OUT_CHUNK`].
struct BodyOut {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    comp: Option<StreamCompressor>,
    pending: Vec<u8>,
}

impl BodyOut {
    /// Hand over `buf` (cleared) once it is big enough, or when `force`.
    fn flush(&mut self, buf: &mut Vec<u8>, force: bool) -> Result<(), String> {
        if !force && buf.len() < OUT_CHUNK {
            return Ok(());
        }
        let out = match self.comp.as_mut() {
            Some(c) => c.write(buf).map_err(|e| e.to_string())?,
            None => std::mem::take(buf),
        };
        buf.clear();
        self.pending.extend_from_slice(&out);
        if self.pending.len() >= OUT_CHUNK || force {
            let chunk = Bytes::from(std::mem::take(&mut self.pending));
            if !chunk.is_empty() {
                self.tx
                    .blocking_send(Ok(chunk))
                    .map_err(|_| "the client went away".to_string())?;
            }
        }
        Ok(())
    }
    fn finish(mut self, buf: &mut Vec<u8>) -> Result<(), String> {
        self.flush(buf, true)?;
        if let Some(c) = self.comp.take() {
            let tail = c.finish().map_err(|e| e.to_string())?;
            if !tail.is_empty() {
                self.tx
                    .blocking_send(Ok(Bytes::from(tail)))
                    .map_err(|_| "the client went away".to_string())?;
            }
        }
        Ok(())
    }
}

struct RangeJob {
    d: Arc<DownloadSession>,
    cols: Vec<(String, OdpsType)>,
    requested: Vec<usize>,
    start: u64,
    count: u64,
    arrow: bool,
    metrics: bool,
    started: Instant,
}

/// The blocking worker of a data GET: read the range file by file, batch by batch, encode
/// and send.
fn stream_range(job: RangeJob, mut out: BodyOut) -> Result<(), String> {
    let RangeJob {
        d,
        cols,
        requested,
        start,
        count,
        arrow,
        metrics,
        started,
    } = job;
    let mut table_order = requested.clone();
    table_order.sort_unstable();
    table_order.dedup();
    let field = |i: usize| Field::new(&cols[i].0, arrow_type(&cols[i].1), true);
    let mut buf = Vec::with_capacity(OUT_CHUNK + 64 * 1024);
    let mut storage = Duration::ZERO;
    enum Enc {
        Arrow(Box<ArrowTunnelEncoder>, SchemaRef),
        Record(RecordEncoder, SchemaRef),
    }
    let mut enc = if arrow {
        let schema: SchemaRef = Arc::new(Schema::new(
            table_order.iter().map(|&i| field(i)).collect::<Vec<_>>(),
        ));
        Enc::Arrow(
            Box::new(
                ArrowTunnelEncoder::new(&schema, DEFAULT_CHUNK_SIZE).map_err(|e| e.to_string())?,
            ),
            schema,
        )
    } else {
        let proj: Vec<(String, OdpsType)> = requested.iter().map(|&i| cols[i].clone()).collect();
        let schema: SchemaRef = Arc::new(Schema::new(
            requested.iter().map(|&i| field(i)).collect::<Vec<_>>(),
        ));
        Enc::Record(RecordEncoder::new(proj), schema)
    };
    let (mut offset, end) = (0u64, start + count);
    for f in &d.files {
        let (fs, fe) = (offset, offset + f.rows);
        offset = fe;
        if fe <= start || fs >= end {
            continue;
        }
        let skip = start.saturating_sub(fs);
        let take = end.min(fe) - fs - skip;
        let t = Instant::now();
        let mut batches = store::read_parquet_range(
            &f.path,
            &table_order,
            skip as usize,
            take as usize,
            BATCH_ROWS,
        )?;
        storage += t.elapsed();
        loop {
            let t = Instant::now();
            let next = batches.next();
            storage += t.elapsed();
            let Some(b) = next else { break };
            let b = b?;
            match &mut enc {
                Enc::Arrow(e, schema) => {
                    let b = RecordBatch::try_new(schema.clone(), b.columns().to_vec())
                        .map_err(|e| e.to_string())?;
                    // Arrow messages of at most ARROW_BATCH_ROWS rows: a client holds a
                    // whole message while it decodes it.
                    let mut off = 0;
                    while off < b.num_rows() {
                        let len = ARROW_BATCH_ROWS.min(b.num_rows() - off);
                        e.encode(&b.slice(off, len), &mut buf)
                            .map_err(|e| e.to_string())?;
                        off += len;
                    }
                }
                Enc::Record(e, schema) => {
                    let columns: Vec<ArrayRef> = requested
                        .iter()
                        .map(|i| {
                            let pos = table_order.iter().position(|x| x == i).unwrap_or(0);
                            b.column(pos).clone()
                        })
                        .collect();
                    let rb = RecordBatch::try_new_with_options(
                        schema.clone(),
                        columns,
                        &RecordBatchOptions::new().with_row_count(Some(b.num_rows())),
                    )
                    .map_err(|e| e.to_string())?;
                    e.encode_batch(&rb, &mut buf).map_err(|e| e.to_string())?;
                }
            }
            out.flush(&mut buf, false)?;
        }
    }
    match &mut enc {
        Enc::Arrow(e, _) => e.finish(&mut buf),
        Enc::Record(e, _) if metrics => {
            let m = metrics_json(started.elapsed(), Duration::ZERO, storage);
            e.finish_with_metrics(&mut buf, &m);
        }
        Enc::Record(e, _) => e.finish(&mut buf),
    }
    out.finish(&mut buf)
}

pub(crate) async fn read_data(s: &Arc<Server>, r: &Req) -> ApiResult<Response> {
    let started = Instant::now();
    let d = download_session(s, r)?;
    let (start, count) = parse_rowrange(r.get("rowrange").unwrap_or(""))
        .ok_or_else(|| bad("rowrange must look like (start,count)"))?;
    // an empty session answers any range from 0 with an empty stream (pyodps asks for
    // (0,1) on an empty table); elsewhere the range must lie inside RecordCount
    let count = if d.count == 0 && start == 0 { 0 } else { count };
    if start.checked_add(count).is_none_or(|end| end > d.count) {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "InvalidRowRange",
            format!(
                "rowrange ({start},{count}) is beyond the session's RecordCount {}",
                d.count
            ),
        ));
    }
    let cols = d.meta.typed_columns().map_err(internal)?;
    let requested = requested_columns(&d, &cols, r.get("columns"))?;
    let accept = r
        .headers
        .get("accept-encoding")
        .and_then(|v| v.to_str().ok())
        .and_then(Compression::from_accept);
    let comp = match accept {
        Some(c) => Some(StreamCompressor::new(c).map_err(|e| internal(e.to_string()))?),
        None => None,
    };
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(CHANNEL_CHUNKS);
    let job = RangeJob {
        d,
        cols,
        requested,
        start,
        count,
        arrow: r.has("arrow"),
        metrics: r.tunnel_version() >= METRICS_VERSION,
        started,
    };
    let out = BodyOut {
        tx: tx.clone(),
        comp,
        pending: Vec::new(),
    };
    tokio::task::spawn_blocking(move || {
        if let Err(e) = stream_range(job, out) {
            tracing::warn!("odps server: download stopped: {e}");
            // the body ends with an error: the client sees a broken stream, never a short one
            let _ = tx.blocking_send(Err(std::io::Error::other(e)));
        }
    });
    let body = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut resp = (
        StatusCode::OK,
        [("content-type", "application/octet-stream")],
        Body::from_stream(body),
    )
        .into_response();
    if let Some(c) = accept {
        resp.headers_mut().insert(
            "content-encoding",
            HeaderValue::from_static(c.header_value()),
        );
    }
    Ok(resp)
}

// ------------------------------------------------------------------------------------------
// Tunnel: `/preview`, behind pyodps's `head(use_legacy=False)`: an Arrow IPC stream (schema,
// batches, end marker) of the first rows; timestamps travel as struct<sec,nano>

/// The preview's Arrow type of a column: the download's, except timestamps.
fn preview_type(t: &OdpsType) -> DataType {
    match t {
        OdpsType::Timestamp | OdpsType::TimestampNtz => DataType::Struct(timestamp_fields()),
        _ => arrow_type(t),
    }
}

fn timestamp_fields() -> Fields {
    Fields::from(vec![
        Field::new("sec", DataType::Int64, true),
        Field::new("nano", DataType::Int32, true),
    ])
}

fn preview_column(a: &ArrayRef, t: &OdpsType) -> Result<ArrayRef, String> {
    use arrow::array::{Array, AsArray};
    if !matches!(t, OdpsType::Timestamp | OdpsType::TimestampNtz)
        || !matches!(a.data_type(), DataType::Timestamp(TimeUnit::Nanosecond, _))
    {
        return Ok(a.clone());
    }
    let ts = a.as_primitive::<arrow::datatypes::TimestampNanosecondType>();
    let sec: Int64Array = ts
        .iter()
        .map(|v| v.map(|v| v.div_euclid(1_000_000_000)))
        .collect();
    let nano: Int32Array = ts
        .iter()
        .map(|v| v.map(|v| v.rem_euclid(1_000_000_000) as i32))
        .collect();
    let s = StructArray::try_new(
        timestamp_fields(),
        vec![Arc::new(sec) as ArrayRef, Arc::new(nano) as ArrayRef],
        ts.nulls().cloned(),
    )
    .map_err(|e| e.to_string())?;
    Ok(Arc::new(s))
}

pub(crate) async fn preview(s: &Arc<Server>, p: &str, t: &str, r: &Req) -> ApiResult<Response> {
    let m = load_table(s, p, t)?;
    let limit = match r.get("limit").map(str::trim) {
        None | Some("") | Some("-1") => PREVIEW_MAX_ROWS,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| bad("limit must be a number"))?
            .min(PREVIEW_MAX_ROWS),
    };
    let specs = preview_specs(s, p, &m, r.get("partition"))?;
    let cols = m.typed_columns().map_err(internal)?;
    let mut idx: Vec<usize> = match r.get("columns").filter(|c| !c.trim().is_empty()) {
        None => (0..cols.len()).collect(),
        Some(list) => {
            let mut v = Vec::new();
            for name in list.split(',').map(str::trim) {
                if m.partition_keys
                    .iter()
                    .any(|k| k.name.eq_ignore_ascii_case(name))
                {
                    continue;
                }
                v.push(
                    cols.iter()
                        .position(|(n, _)| n.eq_ignore_ascii_case(name))
                        .ok_or_else(|| bad(format!("column {name} is not in table {t}")))?,
                );
            }
            v
        }
    };
    idx.sort_unstable();
    idx.dedup();
    let accept = r
        .headers
        .get("accept-encoding")
        .and_then(|v| v.to_str().ok())
        .and_then(Compression::from_accept);
    let store = s.store.clone();
    let p = p.to_string();
    let body = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
        let schema = Arc::new(Schema::new(
            idx.iter()
                .map(|&i| Field::new(&cols[i].0, preview_type(&cols[i].1), true))
                .collect::<Vec<_>>(),
        ));
        let mut out = Vec::new();
        let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut out, &schema)
            .map_err(|e| e.to_string())?;
        let mut left = limit;
        'specs: for spec in &specs {
            for f in store.data_files(&store.partition_dir(&p, &m, spec)?)? {
                if left == 0 {
                    break 'specs;
                }
                let take = left.min(f.rows as usize);
                for b in store::read_parquet_range(&f.path, &idx, 0, take, 4096)? {
                    let b = b?;
                    let columns = b
                        .columns()
                        .iter()
                        .zip(&idx)
                        .map(|(a, &i)| preview_column(a, &cols[i].1))
                        .collect::<Result<Vec<_>, _>>()?;
                    let b = RecordBatch::try_new_with_options(
                        schema.clone(),
                        columns,
                        &RecordBatchOptions::new().with_row_count(Some(b.num_rows())),
                    )
                    .map_err(|e| e.to_string())?;
                    left -= b.num_rows().min(left);
                    w.write(&b).map_err(|e| e.to_string())?;
                }
            }
        }
        w.finish().map_err(|e| e.to_string())?;
        drop(w);
        match accept {
            Some(c) => c.compress(&out).map_err(|e| e.to_string()),
            None => Ok(out),
        }
    })
    .await
    .map_err(|e| internal(format!("preview: {e}")))?
    .map_err(internal)?;
    let mut resp = (
        StatusCode::OK,
        [("content-type", "application/octet-stream")],
        body,
    )
        .into_response();
    if let Some(c) = accept {
        resp.headers_mut().insert(
            "content-encoding",
            HeaderValue::from_static(c.header_value()),
        );
    }
    Ok(resp)
}
