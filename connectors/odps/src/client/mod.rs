//! The MaxCompute HTTP client: endpoints, request signing (through [`crate::wire::sign`]),
//! error replies, retries; the REST metadata and SQL-instance calls ([`meta`]); and the
//! table tunnel sessions ([`tunnel`]).
//!
//! Every request carries `curr_project`, a `Date`, `x-odps-user-agent` and an
//! `Authorization` header signed V2 (or V4 when the endpoint names a region, falling
//! back to V2 when the server asks for it). Messages never contain the AccessKey secret.

pub mod compress_stream;
pub mod meta;
pub mod tunnel;
mod xml;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::OdpsSource;
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use ferry_core::error::redact;
use ferry_core::{Error, Result};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Response, StatusCode, Url};
use tokio::sync::OnceCell;

use crate::config::{Connection, DEFAULT_MAX_RETRY};
use crate::wire::sign;

pub use meta::{Column, TableMeta};
pub use tunnel::{DownloadSession, UploadSession};

/// The `x-odps-user-agent` ferry sends.
pub const USER_AGENT: &str = concat!("ferry/", env!("CARGO_PKG_VERSION"));

/// Which of the two services a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// The REST API (`.../api`).
    Api,
    /// The table tunnel.
    Tunnel,
}

/// A parsed endpoint: `scheme://host[:port]` and its path prefix (`/api`).
#[derive(Debug, Clone)]
pub struct Endpoint {
    origin: String,
    prefix: String,
}

impl Endpoint {
    /// Parse `http[s]://host[:port][/prefix]`.
    pub fn parse(text: &str, what: &str) -> Result<Endpoint> {
        let url = Url::parse(text.trim())
            .map_err(|e| Error::config(format!("{what} \"{text}\" is not a URL: {e}")))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(Error::config(format!(
                "{what} \"{text}\" must start with http:// or https://"
            )));
        }
        let host = url
            .host_str()
            .ok_or_else(|| Error::config(format!("{what} \"{text}\" has no host")))?;
        let origin = match url.port() {
            Some(p) => format!("{}://{host}:{p}", url.scheme()),
            None => format!("{}://{host}", url.scheme()),
        };
        Ok(Endpoint {
            origin,
            prefix: url.path().trim_end_matches('/').to_string(),
        })
    }

    /// The host part.
    pub fn host(&self) -> &str {
        self.origin
            .split_once("://")
            .map(|(_, h)| h)
            .unwrap_or(&self.origin)
    }

    /// The scheme (`http` / `https`).
    pub fn scheme(&self) -> &str {
        self.origin
            .split_once("://")
            .map(|(s, _)| s)
            .unwrap_or("http")
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.origin, self.prefix)
    }
}

/// The region a cloud endpoint names (`service.cn-hangzhou.maxcompute.aliyun.com`), for V4.
pub fn region_of(host: &str) -> Option<String> {
    let host = host.split(':').next().unwrap_or(host);
    let parts: Vec<&str> = host.split('.').collect();
    match parts.as_slice() {
        ["service", region, _, _, "com"] => Some(region.to_string()),
        _ => None,
    }
}

/// A MaxCompute client for one project.
pub struct OdpsClient {
    http: reqwest::Client,
    api: Endpoint,
    tunnel_configured: Option<Endpoint>,
    tunnel: OnceCell<Endpoint>,
    conn: Connection,
    region: Option<String>,
    force_v2: AtomicBool,
    max_retry: u32,
}

impl std::fmt::Debug for OdpsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OdpsClient")
            .field("api", &self.api)
            .field("project", &self.conn.project)
            .finish_non_exhaustive()
    }
}

/// A non-2xx reply, parsed.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The server's error code (`NoSuchTable`), or the status reason.
    pub code: String,
    /// The server's message.
    pub message: String,
}

impl OdpsClient {
    /// A client for `conn`, retrying transient failures `max_retry` times.
    pub fn new(conn: Connection, max_retry: u32) -> Result<OdpsClient> {
        let api = Endpoint::parse(&conn.endpoint, "odps endpoint (odpsServer)")?;
        let tunnel_configured = match &conn.tunnel_endpoint {
            Some(t) => Some(Endpoint::parse(t, "tunnel endpoint (tunnelServer)")?),
            None => None,
        };
        if conn.access_id.is_empty() || conn.access_key.is_empty() {
            return Err(Error::config(format!(
                "odps project {}: accessId and accessKey are required",
                conn.project
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::internal(format!("http client: {e}")))?;
        let region = std::env::var("ODPS_REGION_NAME")
            .ok()
            .filter(|s| !s.is_empty())
            .or_else(|| region_of(api.host()));
        Ok(OdpsClient {
            http,
            api,
            tunnel_configured,
            tunnel: OnceCell::new(),
            region,
            force_v2: AtomicBool::new(false),
            conn,
            max_retry: max_retry.max(1),
        })
    }

    /// A client for a catalog datasource.
    pub fn from_source(src: &OdpsSource) -> Result<OdpsClient> {
        OdpsClient::new(Connection::from_source(src)?, DEFAULT_MAX_RETRY)
    }

    /// The project.
    pub fn project(&self) -> &str {
        &self.conn.project
    }

    /// The REST endpoint.
    pub fn api_endpoint(&self) -> &Endpoint {
        &self.api
    }

    /// Retries allowed per operation.
    pub fn max_retry(&self) -> u32 {
        self.max_retry
    }

    /// Remove secrets from a message.
    pub fn redact(&self, text: &str) -> String {
        let secrets = self.conn.secrets();
        let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        redact(text, &refs)
    }

    /// The tunnel endpoint: configured, or discovered once through `GET {api}/projects/{p}/tunnel?service`.
    pub async fn tunnel_endpoint(&self) -> Result<&Endpoint> {
        if let Some(t) = &self.tunnel_configured {
            return Ok(t);
        }
        self.tunnel
            .get_or_try_init(|| async {
                let path = format!(
                    "/projects/{}/tunnel",
                    sign::percent_encode(&self.conn.project)
                );
                // boxed: `call` → `send` → `tunnel_endpoint` would otherwise be a recursive future type
                let resp = Box::pin(self.call(
                    Service::Api,
                    Method::GET,
                    &path,
                    &[("service", String::new())],
                    None,
                    "tunnel endpoint discovery",
                ))
                .await?;
                let text = resp
                    .text()
                    .await
                    .map_err(|e| self.transport("tunnel endpoint discovery", e))?;
                let host = text.trim();
                if host.is_empty() {
                    return Err(Error::remote(format!(
                        "tunnel endpoint discovery at {}: empty reply",
                        self.api
                    )));
                }
                let url = if host.contains("://") {
                    host.to_string()
                } else {
                    format!("{}://{host}", self.api.scheme())
                };
                Endpoint::parse(&url, "discovered tunnel endpoint")
            })
            .await
    }

    /// Build, sign and send one request; any status is returned as is.
    pub async fn send(
        &self,
        service: Service,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        extra_headers: &[(&str, String)],
        body: Option<reqwest::Body>,
    ) -> Result<Response> {
        let ep = match service {
            Service::Api => &self.api,
            Service::Tunnel => self.tunnel_endpoint().await?,
        };
        let mut params: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        params.push(("curr_project".into(), self.conn.project.clone()));
        let mut url = format!("{}{}{}", ep.origin, ep.prefix, path);
        for (i, (k, v)) in params.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&sign::percent_encode(k));
            if !v.is_empty() {
                url.push('=');
                url.push_str(&sign::percent_encode(v));
            }
        }
        let now = chrono::Utc::now();
        let mut headers: Vec<(String, String)> = vec![
            (
                "Date".into(),
                now.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
            ),
            ("x-odps-user-agent".into(), USER_AGENT.into()),
        ];
        if service == Service::Tunnel {
            headers.push(("x-odps-tunnel-version".into(), "6".into()));
            headers.push(("odps-tunnel-date-transform".into(), "v1".into()));
        }
        for (k, v) in extra_headers {
            headers.push((k.to_string(), v.clone()));
        }
        let resource = sign::percent_decode(path);
        let to_sign = sign::string_to_sign(method.as_str(), &resource, &params, &headers);
        let auth = match (&self.region, self.force_v2.load(Ordering::Relaxed)) {
            (Some(region), false) => sign::authorization_v4(
                &self.conn.access_id,
                &self.conn.access_key,
                &now.format("%Y%m%d").to_string(),
                region,
                &to_sign,
            ),
            _ => sign::authorization_v2(&self.conn.access_id, &self.conn.access_key, &to_sign),
        };
        headers.push(("Authorization".into(), auth));
        if let Some(t) = &self.conn.security_token {
            headers.push(("authorization-sts-token".into(), t.clone()));
        }
        headers.push(("User-Agent".into(), USER_AGENT.into()));
        let mut map = HeaderMap::with_capacity(headers.len());
        for (k, v) in &headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| Error::internal(format!("header {k}: {e}")))?;
            let value = HeaderValue::from_str(v)
                .map_err(|e| Error::config(format!("header {k}: invalid value: {e}")))?;
            map.insert(name, value);
        }
        let mut req = self.http.request(method.clone(), &url).headers(map);
        req = match body {
            Some(b) => req.body(b),
            None if method == Method::POST || method == Method::PUT => {
                req.header(reqwest::header::CONTENT_LENGTH, "0")
            }
            None => req,
        };
        let what = format!("{method} {}{}", ep, path);
        req.send().await.map_err(|e| self.transport(&what, e))
    }

    /// A transport failure as a (retryable) error, without secrets.
    pub fn transport(&self, what: &str, e: reqwest::Error) -> Error {
        let mut msg = format!("{what}: {e}");
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(&format!(": {s}"));
            src = s.source();
        }
        if e.is_builder() {
            Error::config(self.redact(&msg))
        } else {
            Error::transient(self.redact(&msg))
        }
    }

    /// Read a non-2xx reply into an [`ApiError`].
    pub async fn api_error(&self, resp: Response) -> ApiError {
        let status = resp.status();
        let request_id = resp
            .headers()
            .get("x-odps-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp.text().await.unwrap_or_default();
        let (mut code, mut message) = parse_error_body(&body);
        if code.is_empty() {
            code = status
                .canonical_reason()
                .unwrap_or("error")
                .replace(' ', "");
        }
        if message.is_empty() {
            message = body.trim().chars().take(300).collect();
        }
        if let Some(id) = request_id {
            message = format!("{message} (request id {id})");
        }
        ApiError {
            status,
            code,
            message: self.redact(&message),
        }
    }

    /// Turn an [`ApiError`] into ferry's error class.
    pub fn classify(&self, what: &str, e: &ApiError) -> Error {
        let msg = format!("{what}: {} {}: {}", e.status.as_u16(), e.code, e.message);
        let auth_codes = [
            "Unauthorized",
            "InvalidAccessKeyId",
            "SignatureNotMatch",
            "AccessDenied",
            "NoPermission",
            "InvalidSignature",
        ];
        if e.status == StatusCode::UNAUTHORIZED
            || e.status == StatusCode::FORBIDDEN
            || auth_codes.iter().any(|c| e.code.eq_ignore_ascii_case(c))
        {
            Error::connect(format!(
                "{msg} (check accessId / accessKey for project {} at {})",
                self.conn.project, self.api
            ))
        } else if e.status == StatusCode::NOT_FOUND {
            Error::schema(msg)
        } else if e.status.is_server_error()
            || e.status == StatusCode::TOO_MANY_REQUESTS
            || e.status == StatusCode::REQUEST_TIMEOUT
        {
            Error::transient(msg)
        } else {
            Error::remote(msg)
        }
    }

    /// Whether a V4 rejection asks to fall back to V2 (pyodps' rule).
    fn wants_v2(&self, e: &ApiError) -> bool {
        if self.region.is_none() || self.force_v2.load(Ordering::Relaxed) {
            return false;
        }
        let m = format!("{} {}", e.code, e.message).to_ascii_lowercase();
        [
            "need ak v3 support",
            "accesskey acl denied",
            "odps-0410051",
            "invalid or missing",
        ]
        .iter()
        .any(|s| m.contains(s))
    }

    /// Send a request with a small (re-sendable) body, retrying transient failures, and
    /// fail on a non-2xx status.
    pub async fn call(
        &self,
        service: Service,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<(&str, Bytes)>,
        what: &str,
    ) -> Result<Response> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let (headers, b) = match &body {
                Some((ct, bytes)) => (
                    vec![("Content-Type", ct.to_string())],
                    Some(reqwest::Body::from(bytes.clone())),
                ),
                None => (vec![], None),
            };
            let r = self
                .send(service, method.clone(), path, query, &headers, b)
                .await;
            let err = match r {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => {
                    let e = self.api_error(resp).await;
                    if self.wants_v2(&e) {
                        self.force_v2.store(true, Ordering::Relaxed);
                        continue;
                    }
                    self.classify(what, &e)
                }
                Err(e) => e,
            };
            if !err.retry_hint() || attempt >= self.max_retry {
                return Err(err);
            }
            tracing::warn!("{err}; retrying ({attempt}/{})", self.max_retry);
            backoff(attempt).await;
        }
    }

    /// `GET {api}/projects/{p}`: check the connection; returns the elapsed time.
    pub async fn ping(&self) -> Result<Duration> {
        let t0 = Instant::now();
        let path = format!("/projects/{}", sign::percent_encode(&self.conn.project));
        self.call(
            Service::Api,
            Method::GET,
            &path,
            &[],
            None,
            &format!("project {}", self.conn.project),
        )
        .await?;
        Ok(t0.elapsed())
    }
}

/// Sleep before retry `attempt` (1-based): 100 ms doubling, at most 2 s.
pub async fn backoff(attempt: u32) {
    let ms = (100u64 << attempt.saturating_sub(1).min(5)).min(2000);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// `(code, message)` from an XML or JSON error body.
fn parse_error_body(body: &str) -> (String, String) {
    let t = body.trim();
    if t.starts_with('{') {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(t) {
            let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
            return (s("Code"), s("Message"));
        }
    }
    if t.starts_with('<') {
        return (
            xml::tag_text(t, "Code").unwrap_or_default(),
            xml::tag_text(t, "Message").unwrap_or_default(),
        );
    }
    (String::new(), String::new())
}

/// Run one ODPS SQL statement through the instance API, wait for it, and return its
/// result text.
pub async fn run_sql(source: &OdpsSource, sql: &str) -> Result<String> {
    OdpsClient::from_source(source)?.run_sql(sql).await
}

/// Check a datasource: fetch its project. Returns e.g. `project demo, 12 ms`.
pub async fn test_connection(source: &OdpsSource) -> Result<String> {
    let c = OdpsClient::from_source(source)?;
    let d = c.ping().await?;
    Ok(format!("project {}, {} ms", c.project(), d.as_millis()))
}

/// The first `limit` rows of a table (or of one partition of it), all normal columns.
pub async fn preview(
    source: &OdpsSource,
    table: &str,
    partition: Option<&str>,
    limit: usize,
) -> Result<RecordBatch> {
    let c = Arc::new(OdpsClient::from_source(source)?);
    tunnel::preview(&c, table, partition, limit).await
}

/// The names of the project's tables, sorted (every page of the listing).
pub async fn list_tables(source: &OdpsSource) -> Result<Vec<String>> {
    OdpsClient::from_source(source)?.list_tables(None).await
}

/// A table's columns as Arrow (normal columns, then partition columns, which carry the
/// field metadata `odps.partition_key = true`) and their ODPS type strings.
pub async fn table_schema(source: &OdpsSource, table: &str) -> Result<(SchemaRef, Vec<String>)> {
    let c = OdpsClient::from_source(source)?;
    let meta = c.get_table(table).await?;
    Ok(meta.arrow_schema_all())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_keep_their_prefix() {
        let e = Endpoint::parse("http://127.0.0.1:8080/api/", "e").unwrap();
        assert_eq!(e.to_string(), "http://127.0.0.1:8080/api");
        assert_eq!(e.host(), "127.0.0.1:8080");
        assert!(Endpoint::parse("ftp://x", "e").is_err());
        assert!(Endpoint::parse("nonsense", "e").is_err());
    }

    #[test]
    fn regions_come_from_cloud_hosts_only() {
        assert_eq!(
            region_of("service.cn-hangzhou.maxcompute.aliyun.com").as_deref(),
            Some("cn-hangzhou")
        );
        assert_eq!(region_of("127.0.0.1:5000"), None);
        assert_eq!(region_of("localhost"), None);
    }

    #[test]
    fn error_bodies_parse_in_both_formats() {
        assert_eq!(
            parse_error_body("<Error><Code>NoSuchTable</Code><Message>no t</Message></Error>"),
            ("NoSuchTable".into(), "no t".into())
        );
        assert_eq!(
            parse_error_body(r#"{"Code":"InvalidArgument","Message":"bad"}"#),
            ("InvalidArgument".into(), "bad".into())
        );
        assert_eq!(parse_error_body("oops"), (String::new(), String::new()));
    }
}
