//! HTTP surface of the local server: the server state (sessions, instances), routing on
//! method + query keys, signature checks, and the XML / JSON reply helpers. The handlers
//! live in `rest.rs` and `tunnel.rs`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::json;

use crate::error::{err, ApiError, ApiResult};
use crate::store::{DataFile, Store, TableMeta};
use crate::{rest, tunnel, Auth, ServeOptions};
use ferry_odps::wire::sign::{parse_query, percent_decode, string_to_sign, Authorization};

pub(crate) const OWNER: &str = "ALIYUN$ferry@local";
pub(crate) const MAX_BLOCK_ID: u32 = 20_000;

#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub(crate) records: u64,
    pub(crate) bytes: u64,
    pub(crate) version: i64,
}

#[derive(Debug)]
pub(crate) struct UploadState {
    pub(crate) status: &'static str,
    pub(crate) blocks: BTreeMap<u32, Block>,
}

#[derive(Debug)]
pub(crate) struct UploadSession {
    pub(crate) id: String,
    pub(crate) project: String,
    pub(crate) meta: TableMeta,
    pub(crate) spec: Vec<(String, String)>,
    pub(crate) overwrite: bool,
    pub(crate) create_partition: bool,
    pub(crate) initiated: String,
    pub(crate) state: Mutex<UploadState>,
}

#[derive(Debug)]
pub(crate) struct DownloadSession {
    pub(crate) id: String,
    pub(crate) meta: TableMeta,
    pub(crate) files: Vec<DataFile>,
    pub(crate) count: u64,
    pub(crate) initiated: String,
}

#[derive(Debug, Clone)]
pub(crate) struct InstanceRec {
    pub(crate) task: String,
    pub(crate) ok: bool,
    pub(crate) message: String,
    pub(crate) start: String,
    pub(crate) end: String,
}

/// Server state.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) store: Store,
    pub(crate) auth: Auth,
    pub(crate) addr: SocketAddr,
    pub(crate) uploads: Mutex<HashMap<String, Arc<UploadSession>>>,
    pub(crate) downloads: Mutex<HashMap<String, Arc<DownloadSession>>>,
    pub(crate) instances: Mutex<HashMap<String, InstanceRec>>,
    pub(crate) fault_after: Option<u64>,
    pub(crate) faults_left: AtomicU32,
    pub(crate) commit_lock: tokio::sync::Mutex<()>,
    pub(crate) seq: AtomicU64,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn http_date() -> String {
    chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

pub(crate) fn new_id() -> String {
    format!(
        "{}{:016x}",
        chrono::Utc::now().format("%Y%m%d%H%M%S"),
        rand::random::<u64>()
    )
}

pub(crate) fn now_ms() -> i64 {
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

pub(crate) fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(crate) fn cdata(s: &str) -> String {
    format!("<![CDATA[{}]]>", s.replace("]]>", "]]]]><![CDATA[>"))
}

pub(crate) fn xml(status: StatusCode, body: String) -> Response {
    (
        status,
        [("content-type", "application/xml")],
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"),
    )
        .into_response()
}

pub(crate) fn json_reply(status: StatusCode, v: serde_json::Value) -> Response {
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

pub(crate) struct Req {
    pub(crate) method: Method,
    pub(crate) segs: Vec<String>,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Mutex<Option<Body>>,
    pub(crate) rest: bool,
}

impl Req {
    pub(crate) fn has(&self, k: &str) -> bool {
        self.params.iter().any(|(n, _)| n == k)
    }
    pub(crate) fn get(&self, k: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
    pub(crate) fn flag(&self, k: &str) -> bool {
        self.get(k)
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
    }
    pub(crate) fn take_body(&self) -> Body {
        lock(&self.body).take().unwrap_or_else(Body::empty)
    }
    /// The `x-odps-tunnel-version` the client speaks (0 when absent).
    pub(crate) fn tunnel_version(&self) -> u32 {
        self.headers
            .get("x-odps-tunnel-version")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
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
                tunnel::create_upload(s, p, t, r)
            }
            (&Method::PUT, ["projects", p, "tables", t]) if r.has("uploadid") => {
                tunnel::put_block(s, p, t, r).await
            }
            (&Method::GET, ["projects", _, "tables", _]) if r.has("uploadid") => {
                tunnel::upload_status(s, r)
            }
            (&Method::POST, ["projects", _, "tables", _]) if r.has("uploadid") => {
                tunnel::commit_upload(s, r).await
            }
            (&Method::POST, ["projects", p, "tables", t]) if r.has("downloads") => {
                tunnel::create_download(s, p, t, r)
            }
            (&Method::GET, ["projects", _, "tables", _]) if r.has("data") => {
                tunnel::read_data(s, r).await
            }
            (&Method::GET, ["projects", _, "tables", _]) if r.has("downloadid") => {
                tunnel::download_status(s, r)
            }
            (&Method::GET, ["projects", p, "tables", t, "preview"]) => {
                tunnel::preview(s, p, t, r).await
            }
            (_, ["projects", _, "tunnel"]) if r.has("service") => {
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
        (&Method::GET, ["projects", p, "tables"]) => rest::list_tables(s, p, r),
        (&Method::GET, ["projects", p, "tables", t]) => {
            if r.has("partitions") {
                rest::list_partitions(s, p, t, r)
            } else if r.has("data") {
                rest::head_csv(s, p, t, r).await
            } else if let Some(spec) = r.get("partition") {
                let spec = spec.to_string();
                rest::get_partition(s, p, t, &spec, r.has("extended"))
            } else {
                rest::get_table(s, p, t, r.has("extended"))
            }
        }
        (&Method::POST, ["projects", p, "instances"]) => {
            rest::create_instance(s, p, r, host).await
        }
        (&Method::GET, ["projects", _, "instances", id]) => rest::get_instance(s, id, r),
        _ => Err(err(
            StatusCode::NOT_FOUND,
            "NoSuchObject",
            format!("ferry's local MaxCompute does not serve {m} /api/{}", segs.join("/")),
        )),
    }
}

/// A whole (small) request body: SQL instances, commit lists.
pub(crate) async fn read_body(body: Body, limit: usize) -> ApiResult<bytes::Bytes> {
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|e| crate::error::bad(format!("reading the request body: {e}")))
}
