//! HTTP surface of the local server: routing on method + query keys, signature checks,
//! REST (XML) and tunnel (JSON) handlers, upload/download sessions, SQL instances.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures::StreamExt;
use serde_json::json;

use crate::sql::{self, Ddl};
use crate::store::{self, parse_spec, spec_string, ColumnMeta, DataFile, Store, TableMeta};
use crate::{Auth, ServeOptions};
use ferry_odps::wire::arrow_frame::{decode_arrow_body, ArrowTunnelEncoder, DEFAULT_CHUNK_SIZE};
use ferry_odps::wire::record::{decode_all, DecoderOptions, RecordEncoder, MAX_FIELD_SIZE};
use ferry_odps::wire::sign::{parse_query, percent_decode, string_to_sign, Authorization};
use ferry_odps::wire::{arrow_type, Compression};

const OWNER: &str = "ALIYUN$ferry@local";
const MAX_BLOCK_ID: u32 = 20_000;

/// An error reply (rendered as XML on REST, JSON on the tunnel).
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

fn err(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        code,
        message: message.into(),
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    err(StatusCode::BAD_REQUEST, "InvalidArgument", message)
}

fn internal(message: impl Into<String>) -> ApiError {
    err(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalServerError",
        message,
    )
}

type ApiResult<T> = Result<T, ApiError>;

#[derive(Debug, Clone)]
struct Block {
    records: u64,
    bytes: u64,
    version: i64,
}

#[derive(Debug)]
struct UploadState {
    status: &'static str,
    blocks: BTreeMap<u32, Block>,
}

#[derive(Debug)]
struct UploadSession {
    id: String,
    project: String,
    meta: TableMeta,
    spec: Vec<(String, String)>,
    overwrite: bool,
    create_partition: bool,
    initiated: String,
    state: Mutex<UploadState>,
}

#[derive(Debug)]
struct DownloadSession {
    id: String,
    meta: TableMeta,
    files: Vec<DataFile>,
    count: u64,
    initiated: String,
}

#[derive(Debug, Clone)]
struct InstanceRec {
    task: String,
    ok: bool,
    message: String,
    start: String,
    end: String,
}

/// Server state.
#[derive(Debug)]
pub(crate) struct Server {
    store: Store,
    auth: Auth,
    addr: SocketAddr,
    uploads: Mutex<HashMap<String, Arc<UploadSession>>>,
    downloads: Mutex<HashMap<String, Arc<DownloadSession>>>,
    instances: Mutex<HashMap<String, InstanceRec>>,
    fault_after: Option<u64>,
    faults_left: AtomicU32,
    commit_lock: tokio::sync::Mutex<()>,
    seq: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn http_date() -> String {
    chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

fn new_id() -> String {
    format!(
        "{}{:016x}",
        chrono::Utc::now().format("%Y%m%d%H%M%S"),
        rand::random::<u64>()
    )
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Server {
    pub(crate) fn new(opts: &ServeOptions, addr: SocketAddr) -> ferry_core::Result<Server> {
        Ok(Server {
            store: Store::new(opts.root.clone()).map_err(ferry_core::Error::config)?,
            auth: opts.auth.clone(),
            addr,
            uploads: Mutex::default(),
            downloads: Mutex::default(),
            instances: Mutex::default(),
            fault_after: opts
                .fault
                .as_ref()
                .and_then(|f| f.drop_block_put_after_bytes),
            faults_left: AtomicU32::new(opts.fault.as_ref().map(|f| f.times).unwrap_or(0)),
            commit_lock: tokio::sync::Mutex::new(()),
            seq: AtomicU64::new(0),
        })
    }

    fn check_auth(
        &self,
        method: &Method,
        headers: &HeaderMap,
        resource: &str,
        params: &[(String, String)],
    ) -> ApiResult<()> {
        let Auth::Keys {
            access_id,
            access_key,
        } = &self.auth
        else {
            return Ok(());
        };
        let Some(h) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
            return Err(err(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "missing Authorization header",
            ));
        };
        let Some(a) = Authorization::parse(h) else {
            return Err(err(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "Authorization header is not an ODPS signature",
            ));
        };
        if a.access_id() != access_id {
            return Err(err(
                StatusCode::FORBIDDEN,
                "InvalidAccessKeyId",
                format!("unknown AccessKeyId {}", a.access_id()),
            ));
        }
        let hs: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let sts = string_to_sign(method.as_str(), resource, params, &hs);
        if !a.verify(access_key, &sts) {
            tracing::debug!(string_to_sign = %sts, "signature mismatch");
            return Err(err(
                StatusCode::FORBIDDEN,
                "SignatureNotMatch",
                "the request signature does not match (check the AccessKeySecret)",
            ));
        }
        Ok(())
    }
}

pub(crate) fn router(state: Arc<Server>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn cdata(s: &str) -> String {
    format!("<![CDATA[{}]]>", s.replace("]]>", "]]]]><![CDATA[>"))
}

fn xml(status: StatusCode, body: String) -> Response {
    (
        status,
        [("content-type", "application/xml")],
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"),
    )
        .into_response()
}

fn json_reply(status: StatusCode, v: serde_json::Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn render_error(e: &ApiError, rest: bool, rid: &str) -> Response {
    if rest {
        xml(
            e.status,
            format!(
                "<Error><Code>{}</Code><Message>{}</Message><RequestId>{rid}</RequestId><HostId>localhost</HostId></Error>",
                e.code,
                xml_escape(&e.message)
            ),
        )
    } else {
        json_reply(
            e.status,
            json!({"Code": e.code, "Message": e.message, "RequestId": rid}),
        )
    }
}

struct Req {
    method: Method,
    segs: Vec<String>,
    params: Vec<(String, String)>,
    headers: HeaderMap,
    body: Mutex<Option<Body>>,
    rest: bool,
}

impl Req {
    fn has(&self, k: &str) -> bool {
        self.params.iter().any(|(n, _)| n == k)
    }
    fn get(&self, k: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
    fn flag(&self, k: &str) -> bool {
        self.get(k)
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
    }
    fn take_body(&self) -> Body {
        lock(&self.body).take().unwrap_or_else(Body::empty)
    }
    fn is_tunnel(&self) -> bool {
        ["uploads", "uploadid", "downloads", "downloadid"]
            .iter()
            .any(|k| self.has(k))
    }
}

async fn handle(State(s): State<Arc<Server>>, req: Request) -> Response {
    let rid = new_id();
    let (parts, body) = req.into_parts();
    let raw_path = parts.uri.path().to_string();
    let (rest, path) = match raw_path.strip_prefix("/api") {
        Some(p) if p.is_empty() || p.starts_with('/') => (true, p.to_string()),
        _ => (false, raw_path.clone()),
    };
    let params = parse_query(parts.uri.query().unwrap_or(""));
    let resource = percent_decode(&path);
    let segs: Vec<String> = path
        .split('/')
        .filter(|x| !x.is_empty())
        .map(percent_decode)
        .collect();
    let mut r = Req {
        method: parts.method.clone(),
        segs,
        params,
        headers: parts.headers.clone(),
        body: Mutex::new(Some(body)),
        rest,
    };
    r.rest = rest && !r.is_tunnel();
    let host = parts
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| s.addr.to_string());
    let result = match s.check_auth(&r.method, &r.headers, &resource, &r.params) {
        Ok(()) => dispatch(&s, r.rest, &mut r, &host).await,
        Err(e) => Err(e),
    };
    let rest = r.rest;
    let mut resp = match result {
        Ok(resp) => resp,
        Err(e) => {
            if e.status.is_server_error() {
                tracing::warn!(path = %raw_path, "odps server error: {}", e.message);
            }
            render_error(&e, rest, &rid)
        }
    };
    if let Ok(v) = HeaderValue::from_str(&rid) {
        resp.headers_mut().insert("x-odps-request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&http_date()) {
        resp.headers_mut().insert("date", v);
    }
    resp
}

async fn dispatch(s: &Arc<Server>, rest: bool, r: &mut Req, host: &str) -> ApiResult<Response> {
    // drop the schema level of 3-tier paths: /projects/p/schemas/s/tables/t
    let mut segs = r.segs.clone();
    if segs.len() >= 5 && segs[0] == "projects" && segs[2] == "schemas" {
        segs.drain(2..4);
    }
    let seg: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = r.method.clone();
    if !rest {
        // the tunnel
        return match (&m, seg.as_slice()) {
            (&Method::POST, ["projects", p, "tables", t]) if r.has("uploads") => {
                create_upload(s, p, t, r)
            }
            (&Method::PUT, ["projects", p, "tables", t]) if r.has("uploadid") => {
                put_block(s, p, t, r).await
            }
            (&Method::GET, ["projects", _, "tables", _]) if r.has("uploadid") => {
                upload_status(s, r)
            }
            (&Method::POST, ["projects", _, "tables", _]) if r.has("uploadid") => {
                commit_upload(s, r).await
            }
            (&Method::POST, ["projects", p, "tables", t]) if r.has("downloads") => {
                create_download(s, p, t, r)
            }
            (&Method::GET, ["projects", _, "tables", _]) if r.has("data") => read_data(s, r).await,
            (&Method::GET, ["projects", _, "tables", _]) if r.has("downloadid") => {
                download_status(s, r)
            }
            (_, ["projects", p, "tunnel"]) if r.has("service") => {
                let _ = p;
                Ok(host.to_string().into_response())
            }
            _ => Err(err(
                StatusCode::NOT_FOUND,
                "NoSuchObject",
                format!("no tunnel operation {} /{}", m, segs.join("/")),
            )),
        };
    }
    match (&m, seg.as_slice()) {
        (&Method::GET, ["logview", "host"]) => Ok(format!("http://{host}").into_response()),
        (&Method::GET, ["webconsole", "host"]) => Ok(String::new().into_response()),
        (_, ["tenants", ..]) => Err(err(StatusCode::NOT_FOUND, "NoSuchObject", "no tenants")),
        (&Method::GET, ["projects", p]) => Ok(xml(
            StatusCode::OK,
            format!(
                "<Project><Name>{0}</Name><Type>managed</Type><Comment></Comment><Owner>{OWNER}</Owner><State>AVAILABLE</State><CreationTime>{1}</CreationTime><LastModifiedTime>{1}</LastModifiedTime><ProjectGroupName></ProjectGroupName><Properties></Properties></Project>",
                xml_escape(p),
                http_date()
            ),
        )),
        (&Method::GET, ["projects", _, "tunnel"]) => Ok(host.to_string().into_response()),
        (&Method::PUT, ["projects", _, "logs"]) => Ok(StatusCode::OK.into_response()),
        (&Method::GET, ["projects", p, "tables"]) => list_tables(s, p, r),
        (&Method::GET, ["projects", p, "tables", t]) => {
            if r.has("partitions") {
                list_partitions(s, p, t)
            } else if let Some(spec) = r.get("partition") {
                let spec = spec.to_string();
                get_partition(s, p, t, &spec)
            } else {
                get_table(s, p, t)
            }
        }
        (&Method::POST, ["projects", p, "instances"]) => {
            create_instance(s, p, r, host).await
        }
        (&Method::GET, ["projects", _, "instances", id]) => get_instance(s, id, r),
        _ => Err(err(
            StatusCode::NOT_FOUND,
            "NoSuchObject",
            format!("ferry's local MaxCompute does not serve {m} /api/{}", segs.join("/")),
        )),
    }
}

// ------------------------------------------------------------------------------------------
// REST: tables, partitions

fn load_table(s: &Server, p: &str, t: &str) -> ApiResult<TableMeta> {
    match s.store.table(p, t) {
        Ok(Some(m)) => Ok(m),
        Ok(None) => Err(err(
            StatusCode::NOT_FOUND,
            "NoSuchTable",
            format!("table {p}.{t} does not exist"),
        )),
        Err(e) if e.starts_with("invalid") => Err(bad(e)),
        Err(e) => Err(internal(e)),
    }
}

fn columns_json(cols: &[ColumnMeta]) -> Vec<serde_json::Value> {
    cols.iter()
        .map(|c| {
            json!({"name": c.name, "type": c.ty, "comment": c.comment, "label": "",
                   "isNullable": true, "nullable": true})
        })
        .collect()
}

fn table_xml(p: &str, m: &TableMeta) -> String {
    let schema = json!({
        "comment": m.comment, "owner": OWNER, "createTime": m.created,
        "lastModifiedTime": m.modified, "lastDDLTime": m.modified,
        "isVirtualView": false, "lifecycle": m.lifecycle, "size": 0, "recordNum": -1,
        "tableLabel": "", "tableName": m.name, "projectName": p,
        "columns": columns_json(&m.columns),
        "partitionKeys": columns_json(&m.partition_keys),
        "Reserved": "{\"Transactional\":\"false\"}",
    });
    format!(
        "<Table><Name>{}</Name><TableId>{:032x}</TableId><Owner>{OWNER}</Owner><Project>{}</Project><Type>MANAGED_TABLE</Type><Schema format=\"json\">{}</Schema></Table>",
        xml_escape(&m.name),
        m.created as u128,
        xml_escape(p),
        cdata(&schema.to_string())
    )
}

fn get_table(s: &Server, p: &str, t: &str) -> ApiResult<Response> {
    let m = load_table(s, p, t)?;
    Ok(xml(StatusCode::OK, table_xml(p, &m)))
}

fn list_tables(s: &Server, p: &str, r: &Req) -> ApiResult<Response> {
    let prefix = r.get("name").unwrap_or("").to_ascii_lowercase();
    let tables = s.store.tables(p).map_err(internal)?;
    let mut body = String::from("<Tables>");
    for m in tables.iter().filter(|m| m.name.starts_with(&prefix)) {
        body.push_str(&table_xml(p, m));
    }
    body.push_str("<Marker></Marker><MaxItems>1000</MaxItems></Tables>");
    Ok(xml(StatusCode::OK, body))
}

fn table_spec(m: &TableMeta, raw: &str) -> ApiResult<Vec<(String, String)>> {
    let pairs = parse_spec(raw).map_err(bad)?;
    m.normalize_spec(&pairs).map_err(bad)
}

fn get_partition(s: &Server, p: &str, t: &str, raw: &str) -> ApiResult<Response> {
    let m = load_table(s, p, t)?;
    let spec = table_spec(&m, raw)?;
    if !s.store.partition_exists(p, &m, &spec).map_err(internal)? {
        return Err(err(
            StatusCode::NOT_FOUND,
            "NoSuchPartition",
            format!(
                "partition {} of table {p}.{t} does not exist",
                spec_string(&spec)
            ),
        ));
    }
    let rows: u64 = s
        .store
        .data_files(&s.store.partition_dir(p, &m, &spec).map_err(internal)?)
        .map_err(internal)?
        .iter()
        .map(|f| f.rows)
        .sum();
    Ok(xml(
        StatusCode::OK,
        format!(
            "<Partition><Schema>{}</Schema></Partition>",
            cdata(
                &json!({"createTime": m.created, "lastDDLTime": m.modified,
                        "lastModifiedTime": m.modified, "partitionSize": 0,
                        "partitionRecordNum": rows})
                .to_string()
            )
        ),
    ))
}

fn list_partitions(s: &Server, p: &str, t: &str) -> ApiResult<Response> {
    let m = load_table(s, p, t)?;
    let parts = s.store.partitions(p, &m).map_err(internal)?;
    let mut body = String::from("<Partitions>");
    for spec in parts {
        body.push_str("<Partition>");
        for (k, v) in &spec {
            body.push_str(&format!(
                "<Column Name=\"{}\" Value=\"{}\"/>",
                xml_escape(k),
                xml_escape(v)
            ));
        }
        body.push_str(&format!(
            "<CreationTime>{0}</CreationTime><LastDDLTime>{0}</LastDDLTime><LastModifiedTime>{0}</LastModifiedTime><PartitionSize>0</PartitionSize><PartitionRecordCount>0</PartitionRecordCount></Partition>",
            m.modified
        ));
    }
    body.push_str("<Marker></Marker><MaxItems>1000</MaxItems></Partitions>");
    Ok(xml(StatusCode::OK, body))
}

// ------------------------------------------------------------------------------------------
// REST: SQL instances

fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let a = s.find(open)? + open.len();
    let b = s[a..].find(close)? + a;
    Some(&s[a..b])
}

fn xml_text(s: &str) -> String {
    let s = s.trim();
    if let Some(c) = between(s, "<![CDATA[", "]]>") {
        return c.to_string();
    }
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

async fn read_body(body: Body, limit: usize) -> ApiResult<bytes::Bytes> {
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|e| bad(format!("reading the request body: {e}")))
}

async fn create_instance(s: &Arc<Server>, p: &str, r: &mut Req, host: &str) -> ApiResult<Response> {
    let body = read_body(r.take_body(), 16 << 20).await?;
    let body = String::from_utf8_lossy(&body).into_owned();
    let query = between(&body, "<Query>", "</Query>")
        .map(xml_text)
        .ok_or_else(|| bad("instance without a <Query>: only SQL tasks are supported"))?;
    let task = between(&body, "<SQL>", "</SQL>")
        .and_then(|t| between(t, "<Name>", "</Name>"))
        .map(xml_text)
        .unwrap_or_else(|| "AnonymousSQLTask".into());
    let start = http_date();
    let outcome = {
        let _g = s.commit_lock.lock().await;
        run_sql(s, p, &query)
    };
    let id = new_id();
    let rec = InstanceRec {
        task,
        ok: outcome.is_ok(),
        message: match outcome {
            Ok(()) => "OK".into(),
            Err(e) => format!("ODPS-0130071:[0,0] Semantic analysis exception - {e}"),
        },
        start,
        end: http_date(),
    };
    lock(&s.instances).insert(id.clone(), rec);
    let mut resp = (StatusCode::CREATED, String::new()).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("http://{host}/api/projects/{p}/instances/{id}"))
    {
        resp.headers_mut().insert("location", v);
    }
    Ok(resp)
}

fn run_sql(s: &Server, p: &str, script: &str) -> Result<(), String> {
    for stmt in sql::split_statements(script) {
        let ddl = sql::parse(stmt)?;
        run_ddl(s, p, ddl)?;
    }
    Ok(())
}

fn col_metas(cols: Vec<(String, ferry_odps::wire::OdpsType, String)>) -> Vec<ColumnMeta> {
    cols.into_iter()
        .map(|(name, t, comment)| ColumnMeta {
            name: name.to_ascii_lowercase(),
            ty: t.to_string(),
            comment,
        })
        .collect()
}

fn need_table(s: &Server, p: &str, t: &str) -> Result<TableMeta, String> {
    s.store
        .table(p, t)?
        .ok_or_else(|| format!("Table not found - table {p}.{t} cannot be resolved"))
}

fn run_ddl(s: &Server, p: &str, ddl: Ddl) -> Result<(), String> {
    match ddl {
        Ddl::Set => Ok(()),
        Ddl::CreateTable {
            table,
            if_not_exists,
            columns,
            partition_keys,
            comment,
            lifecycle,
        } => {
            if s.store.table(p, &table)?.is_some() {
                return if if_not_exists {
                    Ok(())
                } else {
                    Err(format!("Table or view already exists - {p}.{table}"))
                };
            }
            s.store.create_table(
                p,
                &table,
                col_metas(columns),
                col_metas(partition_keys),
                comment,
                lifecycle,
            )
        }
        Ddl::DropTable { table, if_exists } => {
            if s.store.table(p, &table)?.is_none() {
                return if if_exists {
                    Ok(())
                } else {
                    Err(format!(
                        "Table not found - table {p}.{table} cannot be resolved"
                    ))
                };
            }
            s.store.drop_table(p, &table)
        }
        Ddl::AddPartition {
            table,
            if_not_exists,
            partitions,
        } => {
            let m = need_table(s, p, &table)?;
            for spec in partitions {
                let spec = m.normalize_spec(&spec)?;
                if !s.store.create_partition(p, &m, &spec)? && !if_not_exists {
                    return Err(format!(
                        "Partition already exists - {} of {p}.{table}",
                        spec_string(&spec)
                    ));
                }
            }
            s.store.touch(p, &m)
        }
        Ddl::DropPartition {
            table,
            if_exists,
            partitions,
        } => {
            let m = need_table(s, p, &table)?;
            for spec in partitions {
                let spec = m.normalize_spec(&spec)?;
                if s.store.partition_exists(p, &m, &spec)? {
                    s.store.drop_partition(p, &m, &spec)?;
                } else if !if_exists {
                    return Err(format!(
                        "Partition not found - {} of {p}.{table}",
                        spec_string(&spec)
                    ));
                }
            }
            s.store.touch(p, &m)
        }
        Ddl::Truncate { table, partition } => {
            let m = need_table(s, p, &table)?;
            let specs = match partition {
                Some(spec) => vec![m.normalize_spec(&spec)?],
                None if m.partition_keys.is_empty() => vec![Vec::new()],
                None => s.store.partitions(p, &m)?,
            };
            for spec in specs {
                let d = s.store.partition_dir(p, &m, &spec)?;
                s.store.clear_data(&d)?;
            }
            s.store.touch(p, &m)
        }
    }
}

fn get_instance(s: &Server, id: &str, r: &Req) -> ApiResult<Response> {
    let rec = lock(&s.instances).get(id).cloned().ok_or_else(|| {
        err(
            StatusCode::NOT_FOUND,
            "NoSuchObject",
            format!("instance {id} does not exist"),
        )
    })?;
    let task_status = if rec.ok { "Success" } else { "Failed" };
    let body = if r.has("taskstatus") {
        format!(
            "<Instance><Status>Terminated</Status><Tasks><Task Type=\"SQL\"><Name>{}</Name><StartTime>{}</StartTime><EndTime>{}</EndTime><Status>{task_status}</Status></Task></Tasks></Instance>",
            xml_escape(&rec.task), rec.start, rec.end
        )
    } else if r.has("result") {
        format!(
            "<Instance><Tasks><Task Type=\"SQL\"><Name>{}</Name><Result Format=\"text\">{}</Result></Task></Tasks></Instance>",
            xml_escape(&rec.task),
            cdata(&rec.message)
        )
    } else {
        "<Instance><Status>Terminated</Status></Instance>".to_string()
    };
    let mut resp = xml(StatusCode::OK, body);
    let h = resp.headers_mut();
    for (k, v) in [
        ("x-odps-owner", OWNER.to_string()),
        ("x-odps-start-time", rec.start.clone()),
        ("x-odps-end-time", rec.end.clone()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    Ok(resp)
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

fn create_upload(s: &Server, p: &str, t: &str, r: &Req) -> ApiResult<Response> {
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

fn upload_status(s: &Server, r: &Req) -> ApiResult<Response> {
    let u = upload_session(s, r)?;
    Ok(json_reply(StatusCode::OK, upload_json(&u)))
}

fn decode_body<'a>(data: &'a [u8], headers: &HeaderMap) -> ApiResult<std::borrow::Cow<'a, [u8]>> {
    match headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && !v.eq_ignore_ascii_case("identity"))
    {
        None => Ok(std::borrow::Cow::Borrowed(data)),
        Some(enc) => {
            let c = Compression::from_header(enc)
                .ok_or_else(|| bad(format!("unsupported Content-Encoding `{enc}`")))?;
            Ok(std::borrow::Cow::Owned(
                c.decompress(data).map_err(|e| bad(e.to_string()))?,
            ))
        }
    }
}

async fn put_block(s: &Arc<Server>, p: &str, t: &str, r: &mut Req) -> ApiResult<Response> {
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
    // read the (chunked) body, with the optional injected connection drop
    let mut data = Vec::new();
    let mut stream = r.take_body().into_data_stream();
    let drop_after = s
        .fault_after
        .filter(|_| s.faults_left.load(Ordering::SeqCst) > 0);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| bad(format!("reading block {block}: {e}")))?;
        data.extend_from_slice(&chunk);
        if let Some(n) = drop_after {
            if data.len() as u64 >= n
                && s.faults_left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
                    .is_ok()
            {
                tracing::info!(block, "fault injection: dropping the block PUT connection");
                // unwinding the connection task closes the socket without a reply
                std::panic::resume_unwind(Box::new("ferry fault injection"));
            }
        }
    }
    let raw_len = data.len() as u64;
    let headers = r.headers.clone();
    let arrow = r.has("arrow");
    let meta = u.meta.clone();
    let path = s
        .store
        .upload_dir(p, t, &u.id)
        .map_err(internal)?
        .join(format!("{block}.parquet"));
    let records = tokio::task::spawn_blocking(move || -> ApiResult<u64> {
        let body = decode_body(&data, &headers)?;
        let cols = meta.typed_columns().map_err(internal)?;
        let schema = meta.arrow_schema().map_err(internal)?;
        let batches: Vec<RecordBatch> = if arrow {
            decode_arrow_body(schema.clone(), &body)
                .map_err(|e| bad(format!("block {block}: {e}")))?
        } else {
            decode_all(
                &cols,
                &body,
                DecoderOptions {
                    batch_rows: 65536,
                    require_footer: false,
                    max_field_size: MAX_FIELD_SIZE,
                },
            )
            .map_err(|e| bad(format!("block {block}: {e}")))?
        };
        store::write_parquet(&path, schema, &batches).map_err(internal)
    })
    .await
    .map_err(|e| internal(format!("block writer: {e}")))??;
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
    Ok(StatusCode::OK.into_response())
}

fn requested_blocks(body: &[u8]) -> Vec<u32> {
    let text = String::from_utf8_lossy(body);
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|x| !x.is_empty())
        .filter_map(|x| x.parse().ok())
        .collect()
}

async fn commit_upload(s: &Arc<Server>, r: &mut Req) -> ApiResult<Response> {
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

fn create_download(s: &Server, p: &str, t: &str, r: &Req) -> ApiResult<Response> {
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

fn download_status(s: &Server, r: &Req) -> ApiResult<Response> {
    let d = download_session(s, r)?;
    Ok(json_reply(StatusCode::OK, download_json(&d)))
}

fn parse_rowrange(v: &str) -> Option<(u64, u64)> {
    let v = v.trim().strip_prefix('(')?.strip_suffix(')')?;
    let (a, b) = v.split_once(',')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

async fn read_data(s: &Arc<Server>, r: &Req) -> ApiResult<Response> {
    let d = download_session(s, r)?;
    let (start, count) = parse_rowrange(r.get("rowrange").unwrap_or(""))
        .ok_or_else(|| bad("rowrange must look like (start,count)"))?;
    if start.checked_add(count).is_none_or(|end| end > d.count) {
        return Err(bad(format!(
            "rowrange ({start},{count}) is beyond the session's RecordCount {}",
            d.count
        )));
    }
    let cols = d.meta.typed_columns().map_err(internal)?;
    // requested columns, in request order; partition keys are never in the stream
    let requested: Vec<usize> = match r.get("columns").filter(|c| !c.trim().is_empty()) {
        None => (0..cols.len()).collect(),
        Some(list) => {
            let mut v = Vec::new();
            for name in list.split(',').map(str::trim) {
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
            v
        }
    };
    let arrow = r.has("arrow");
    let accept = r
        .headers
        .get("accept-encoding")
        .and_then(|v| v.to_str().ok())
        .and_then(Compression::from_accept);
    let d2 = d.clone();
    let body = tokio::task::spawn_blocking(move || -> ApiResult<Vec<u8>> {
        let mut table_order = requested.clone();
        table_order.sort_unstable();
        table_order.dedup();
        // read the range across files
        let mut batches = Vec::new();
        let (mut offset, end) = (0u64, start + count);
        for f in &d2.files {
            let (fs, fe) = (offset, offset + f.rows);
            offset = fe;
            if fe <= start || fs >= end {
                continue;
            }
            let skip = start.saturating_sub(fs);
            let take = end.min(fe) - fs - skip;
            batches.extend(
                store::read_parquet_range(
                    &f.path,
                    &table_order,
                    skip as usize,
                    take as usize,
                    65536,
                )
                .map_err(internal)?,
            );
        }
        let mut out = Vec::new();
        if arrow {
            let schema = Arc::new(arrow::datatypes::Schema::new(
                table_order
                    .iter()
                    .map(|&i| {
                        arrow::datatypes::Field::new(&cols[i].0, arrow_type(&cols[i].1), true)
                    })
                    .collect::<Vec<_>>(),
            ));
            let mut e = ArrowTunnelEncoder::new(&schema, DEFAULT_CHUNK_SIZE)
                .map_err(|e| internal(e.to_string()))?;
            for b in &batches {
                let b = RecordBatch::try_new(schema.clone(), b.columns().to_vec())
                    .map_err(|e| internal(e.to_string()))?;
                e.encode(&b, &mut out)
                    .map_err(|e| internal(e.to_string()))?;
            }
            e.finish(&mut out);
        } else {
            let proj: Vec<(String, ferry_odps::wire::OdpsType)> =
                requested.iter().map(|&i| cols[i].clone()).collect();
            let mut e = RecordEncoder::new(proj);
            for b in &batches {
                let columns: Vec<arrow::array::ArrayRef> = requested
                    .iter()
                    .map(|i| {
                        let pos = table_order.iter().position(|x| x == i).unwrap_or(0);
                        b.column(pos).clone()
                    })
                    .collect();
                let schema = Arc::new(arrow::datatypes::Schema::new(
                    requested
                        .iter()
                        .map(|&i| {
                            arrow::datatypes::Field::new(&cols[i].0, arrow_type(&cols[i].1), true)
                        })
                        .collect::<Vec<_>>(),
                ));
                let rb = RecordBatch::try_new_with_options(
                    schema,
                    columns,
                    &arrow::array::RecordBatchOptions::new().with_row_count(Some(b.num_rows())),
                )
                .map_err(|e| internal(e.to_string()))?;
                e.encode_batch(&rb, &mut out)
                    .map_err(|e| internal(e.to_string()))?;
            }
            e.finish(&mut out);
        }
        match accept {
            Some(c) => c.compress(&out).map_err(|e| internal(e.to_string())),
            None => Ok(out),
        }
    })
    .await
    .map_err(|e| internal(format!("download reader: {e}")))??;
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
