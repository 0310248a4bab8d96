//! Connecting to PostgreSQL: endpoint URLs (`jdbc:postgresql://`, `postgres://`), TLS per
//! `sslmode` (rustls), connect timeout, retry with backoff, and turning driver errors into
//! one-line ferry errors that never carry the password.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ferry_core::catalog::Datasource;
use ferry_core::{Error, Result};
use tokio_postgres::error::SqlState;

use crate::tap::Tap;

/// How hard the connection insists on TLS (libpq's `sslmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// Plain first (ferry treats it like `prefer`).
    Allow,
    /// TLS when the server offers it, else plain; the certificate is not checked.
    #[default]
    Prefer,
    /// TLS required; the certificate is not checked (libpq's meaning).
    Require,
    /// TLS required; the certificate chain must be trusted (`sslrootcert` or the web roots),
    /// the host name is not checked.
    VerifyCa,
    /// TLS required; chain and host name checked.
    VerifyFull,
}

impl SslMode {
    /// Parse libpq / pgjdbc spelling (`disable`, `require`, `verify-full`...).
    pub fn parse(s: &str) -> Result<SslMode> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" | "verify_ca" => SslMode::VerifyCa,
            "verify-full" | "verify_full" => SslMode::VerifyFull,
            other => {
                return Err(Error::config(format!(
                    "sslmode \"{other}\" is not one of disable, allow, prefer, require, verify-ca, verify-full"
                )))
            }
        })
    }
}

/// Where and how to connect to one PostgreSQL database. `Debug` never shows the password.
#[derive(Clone)]
pub struct PgEndpoint {
    /// Host name or address.
    pub host: String,
    /// TCP port (default 5432).
    pub port: u16,
    /// Database name.
    pub dbname: String,
    /// User name.
    pub user: String,
    password: Option<String>,
    /// TLS mode.
    pub sslmode: SslMode,
    /// `currentSchema` (pgjdbc): becomes the session's `search_path`.
    pub current_schema: Option<String>,
    /// Give up connecting after this long (default 15 s, like DataX's login timeout).
    pub connect_timeout: Duration,
    /// `sslrootcert`: PEM file of trusted roots for `verify-ca` / `verify-full`.
    pub ssl_root_cert: Option<String>,
    /// `ApplicationName` (pgjdbc) / `application_name` (libpq): how the sessions show in
    /// `pg_stat_activity` (default `ferry`).
    pub application_name: String,
}

impl fmt::Debug for PgEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgEndpoint")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("dbname", &self.dbname)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("sslmode", &self.sslmode)
            .field("current_schema", &self.current_schema)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

impl PgEndpoint {
    /// `jdbc:postgresql://host:port/db?user=..&password=..&sslmode=..&currentSchema=..&connectTimeout=..`,
    /// `postgres://user:pass@host:port/db?sslmode=..` or `postgresql://...`; explicit
    /// user/password win over the URL's.
    pub fn parse(url: &str, user: Option<&str>, password: Option<&str>) -> Result<PgEndpoint> {
        let trimmed = url.trim();
        let lower = trimmed.to_ascii_lowercase();
        let (rest, jdbc) = if lower.starts_with("jdbc:postgresql://") {
            (&trimmed["jdbc:postgresql://".len()..], true)
        } else if lower.starts_with("postgresql://") {
            (&trimmed["postgresql://".len()..], false)
        } else if lower.starts_with("postgres://") {
            (&trimmed["postgres://".len()..], false)
        } else {
            let scheme = lower.split("//").next().unwrap_or("");
            return Err(Error::config(format!(
                "PostgreSQL URL must start with jdbc:postgresql://, postgres:// or postgresql://, found \"{scheme}//...\""
            )));
        };
        let (before_q, query) = match rest.split_once('?') {
            Some((a, b)) => (a, b),
            None => (rest, ""),
        };
        let (authority, path) = match before_q.split_once('/') {
            Some((a, p)) => (a, p),
            None => (before_q, ""),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let mut url_user = None;
        let mut url_password = None;
        if let Some(ui) = userinfo {
            match ui.split_once(':') {
                Some((u, p)) => {
                    url_user = Some(percent_decode(u));
                    url_password = Some(percent_decode(p));
                }
                None => url_user = Some(percent_decode(ui)),
            }
        }
        // Several hosts (failover lists): ferry uses the first.
        let hostport = hostport.split(',').next().unwrap_or("");
        let (host, port) = split_host_port(hostport)?;
        let mut ep = PgEndpoint {
            host,
            port,
            dbname: percent_decode(path.trim_end_matches('/')),
            user: url_user.unwrap_or_default(),
            password: url_password,
            sslmode: SslMode::Prefer,
            current_schema: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            ssl_root_cert: None,
            application_name: "ferry".into(),
        };
        for pair in query.split(['&', ';']).filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v);
            match k.to_ascii_lowercase().as_str() {
                "user" => ep.user = v,
                "password" => ep.password = Some(v),
                "sslmode" => ep.sslmode = SslMode::parse(&v)?,
                "ssl" if v.eq_ignore_ascii_case("true") && ep.sslmode == SslMode::Prefer => {
                    ep.sslmode = SslMode::VerifyFull
                }
                "currentschema" => ep.current_schema = Some(v).filter(|s| !s.is_empty()),
                "applicationname" | "application_name" if !v.is_empty() => ep.application_name = v,
                "options" => {
                    // libpq: options=-csearch_path=x
                    if let Some(sp) = v
                        .strip_prefix("-csearch_path=")
                        .or_else(|| v.strip_prefix("-c search_path="))
                    {
                        ep.current_schema = Some(sp.to_string());
                    }
                }
                "connecttimeout" | "connect_timeout" | "logintimeout" => {
                    let secs: u64 = v.trim().parse().map_err(|_| {
                        Error::config(format!(
                            "{k}={v}: expected a whole number of seconds in the PostgreSQL URL"
                        ))
                    })?;
                    if secs > 0 {
                        ep.connect_timeout = Duration::from_secs(secs);
                    }
                }
                "sslrootcert" => ep.ssl_root_cert = Some(v),
                "dbname" => ep.dbname = v,
                "host" => ep.host = v,
                "port" => {
                    ep.port = v.parse().map_err(|_| {
                        Error::config(format!("port={v}: not a port number in the PostgreSQL URL"))
                    })?
                }
                _ => {} // pgjdbc has many tuning options; they do not matter here.
            }
        }
        if jdbc && ep.dbname.is_empty() {
            return Err(Error::config(format!(
                "PostgreSQL URL {} names no database (expected jdbc:postgresql://host:port/database)",
                ep.display()
            )));
        }
        if let Some(u) = user.filter(|u| !u.is_empty()) {
            ep.user = u.to_string();
        }
        if let Some(p) = password {
            ep.password = Some(p.to_string());
        }
        if ep.user.is_empty() {
            return Err(Error::config(format!(
                "no user name for PostgreSQL at {}:{}/{}: give username (or user= in the URL)",
                ep.host, ep.port, ep.dbname
            )));
        }
        if ep.dbname.is_empty() {
            ep.dbname = ep.user.clone();
        }
        if ep.host.is_empty() {
            return Err(Error::config("PostgreSQL URL names no host"));
        }
        Ok(ep)
    }

    /// From the catalog datasource `name` (jdbcUrl or url, username, password /
    /// passwordEnv); an error when it is not a PostgreSQL datasource.
    pub fn from_datasource(name: &str, ds: &Datasource) -> Result<PgEndpoint> {
        ds.check_kind(name, crate::CONNECTOR.name)?;
        let url = ds
            .get("jdbcUrl")
            .or(ds.get("url"))
            .ok_or_else(|| Error::config(format!("datasource \"{name}\": give jdbcUrl or url")))?;
        let password = ds
            .secret("password")
            .map_err(|e| e.context(format!("datasource \"{name}\"")))?;
        PgEndpoint::parse(url, ds.get("username"), password.as_deref())
            .map_err(|e| e.context(format!("datasource \"{name}\"")))
    }

    /// `user@host:port/db` — never the password. Use it in every message.
    pub fn display(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{}@{}:{}/{}", self.user, host, self.port, self.dbname)
    }

    /// The password, if any (for connectors that must hand it to a driver).
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// Replace the password.
    pub fn set_password(&mut self, password: Option<String>) {
        self.password = password;
    }

    fn config(&self) -> tokio_postgres::Config {
        let mut cfg = tokio_postgres::Config::new();
        cfg.host(&self.host)
            .port(self.port)
            .dbname(&self.dbname)
            .user(&self.user)
            .application_name(&self.application_name)
            .connect_timeout(self.connect_timeout)
            .keepalives(true);
        if let Some(p) = &self.password {
            cfg.password(p.as_bytes());
        }
        cfg.ssl_mode(match self.sslmode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Allow | SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        });
        cfg
    }

    fn redact(&self, text: &str) -> String {
        match &self.password {
            Some(p) if p.len() >= 3 => ferry_core::error::redact(text, &[p]),
            _ => text.to_string(),
        }
    }

    /// Connect (timeout, retry with backoff on refused/reset, TLS per sslmode with rustls,
    /// spawns the connection task, sets search_path when currentSchema is given). Errors are
    /// one line, e.g. `cannot connect to ferry@127.0.0.1:5432/postgres: password
    /// authentication failed for user "ferry"`.
    pub async fn connect(&self) -> Result<tokio_postgres::Client> {
        self.retrying(|| self.connect_once()).await
    }

    /// [`connect`](Self::connect) with a [`Tap`] under the driver, for reading binary COPY
    /// streams without a `Bytes` per row (see [`crate::tap`]). This path opens the socket
    /// and negotiates TLS itself (same `sslmode` rules, same rustls configuration), so the
    /// tap sees the protocol after decryption.
    pub async fn connect_tapped(&self) -> Result<(tokio_postgres::Client, Tap)> {
        self.retrying(|| self.connect_once_tapped()).await
    }

    async fn retrying<T, F, Fut>(&self, mut once: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, (Error, bool)>>,
    {
        const ATTEMPTS: u32 = 4;
        let mut delay = Duration::from_millis(250);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match once().await {
                Ok(c) => return Ok(c),
                Err((e, retry)) if retry && attempt < ATTEMPTS => {
                    tracing::warn!(
                        "connecting to {} failed ({e}); retrying in {:?}",
                        self.display(),
                        delay
                    );
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    fn driver_failure(&self, e: &tokio_postgres::Error) -> (Error, bool) {
        let retry = is_retryable_connect(e);
        let msg = self.redact(&one_line(e));
        (
            Error::connect(format!("cannot connect to {}: {msg}", self.display())),
            retry,
        )
    }

    fn timed_out(&self) -> (Error, bool) {
        (
            Error::connect(format!(
                "cannot connect to {}: no answer within {}s",
                self.display(),
                self.connect_timeout.as_secs()
            )),
            false,
        )
    }

    async fn connect_once(&self) -> std::result::Result<tokio_postgres::Client, (Error, bool)> {
        let cfg = self.config();
        let timeout = self.connect_timeout + Duration::from_secs(1);
        let client = if self.sslmode == SslMode::Disable {
            let fut = cfg.connect(tokio_postgres::NoTls);
            let (client, connection) = tokio::time::timeout(timeout, fut)
                .await
                .map_err(|_| self.timed_out())?
                .map_err(|e| self.driver_failure(&e))?;
            spawn_connection(connection, self.display());
            client
        } else {
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(
                self.tls_config().map_err(|e| (e, false))?,
            );
            let fut = cfg.connect(tls);
            let (client, connection) = tokio::time::timeout(timeout, fut)
                .await
                .map_err(|_| self.timed_out())?
                .map_err(|e| self.driver_failure(&e))?;
            spawn_connection(connection, self.display());
            client
        };
        self.after_connect(&client).await?;
        Ok(client)
    }

    async fn connect_once_tapped(
        &self,
    ) -> std::result::Result<(tokio_postgres::Client, Tap), (Error, bool)> {
        let timeout = self.connect_timeout + Duration::from_secs(1);
        let (client, tap) = tokio::time::timeout(timeout, async {
            let transport = self.open_transport().await?;
            let (tap, stream) = crate::tap::tap(transport);
            let mut cfg = self.config();
            cfg.ssl_mode(tokio_postgres::config::SslMode::Disable);
            let (client, connection) = cfg
                .connect_raw(stream, tokio_postgres::NoTls)
                .await
                .map_err(|e| self.driver_failure(&e))?;
            spawn_connection(connection, self.display());
            Ok::<_, (Error, bool)>((client, tap))
        })
        .await
        .map_err(|_| self.timed_out())??;
        self.after_connect(&client).await?;
        Ok((client, tap))
    }

    /// The socket, TLS negotiated per `sslmode` as libpq does: `SSLRequest`, then a
    /// handshake on `S`; on `N` plain for `prefer`/`allow`, an error for `require` and up.
    async fn open_transport(&self) -> std::result::Result<Transport, (Error, bool)> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let io_failure = |e: std::io::Error| {
            let retry = is_retryable_io(&e);
            (
                Error::connect(format!(
                    "cannot connect to {}: error connecting to server: {e}",
                    self.display()
                )),
                retry,
            )
        };
        #[cfg(unix)]
        if self.host.starts_with('/') {
            let path = format!("{}/.s.PGSQL.{}", self.host, self.port);
            let sock = tokio::net::UnixStream::connect(path)
                .await
                .map_err(io_failure)?;
            return Ok(Transport::Unix(sock));
        }
        let mut tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(io_failure)?;
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY on the connection to {}: {e}", self.display());
        }
        if let Err(e) = socket2::SockRef::from(&tcp).set_keepalive(true) {
            tracing::debug!("keepalive on the connection to {}: {e}", self.display());
        }
        if self.sslmode == SslMode::Disable {
            return Ok(Transport::Plain(tcp));
        }
        // SSLRequest: length 8, code 80877103.
        tcp.write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
            .await
            .map_err(io_failure)?;
        let mut answer = [0u8; 1];
        tcp.read_exact(&mut answer).await.map_err(io_failure)?;
        let refused = |what: &str| {
            (
                Error::connect(format!("cannot connect to {}: {what}", self.display())),
                false,
            )
        };
        match answer[0] {
            b'S' => {}
            b'N' => {
                return match self.sslmode {
                    SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                        Err(refused("server does not support TLS"))
                    }
                    _ => Ok(Transport::Plain(tcp)),
                }
            }
            other => {
                return Err(refused(&format!(
                    "unexpected answer {other:#04x} to the TLS request"
                )))
            }
        }
        let config = self.tls_config().map_err(|e| (e, false))?;
        let name = rustls::pki_types::ServerName::try_from(self.host.clone())
            .map_err(|e| refused(&format!("TLS: host name {}: {e}", self.host)))?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| refused(&format!("TLS handshake: {e}")))?;
        Ok(Transport::Tls(Box::new(tls)))
    }

    async fn after_connect(
        &self,
        client: &tokio_postgres::Client,
    ) -> std::result::Result<(), (Error, bool)> {
        if let Some(schema) = &self.current_schema {
            client
                .execute("SELECT set_config('search_path', $1, false)", &[schema])
                .await
                .map_err(|e| {
                    (
                        pg_error(
                            &format!("{}: setting search_path to {schema}", self.display()),
                            &e,
                        ),
                        false,
                    )
                })?;
        }
        Ok(())
    }

    fn tls_config(&self) -> Result<rustls::ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::internal(format!("TLS setup: {e}")))?;
        let config = match self.sslmode {
            SslMode::Disable | SslMode::Allow | SslMode::Prefer | SslMode::Require => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
                .with_no_client_auth(),
            SslMode::VerifyCa | SslMode::VerifyFull => {
                let mut roots = rustls::RootCertStore::empty();
                match &self.ssl_root_cert {
                    Some(path) => {
                        let pem = std::fs::read(path)
                            .map_err(|e| Error::io(format!("reading sslrootcert {path}"), e))?;
                        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                            let cert = cert
                                .map_err(|e| Error::config(format!("sslrootcert {path}: {e}")))?;
                            roots
                                .add(cert)
                                .map_err(|e| Error::config(format!("sslrootcert {path}: {e}")))?;
                        }
                    }
                    None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
                }
                let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|e| Error::config(format!("TLS roots: {e}")))?;
                if self.sslmode == SslMode::VerifyCa {
                    builder
                        .dangerous()
                        .with_custom_certificate_verifier(Arc::new(IgnoreHostName(webpki)))
                        .with_no_client_auth()
                } else {
                    builder.with_webpki_verifier(webpki).with_no_client_auth()
                }
            }
        };
        Ok(config)
    }
}

/// A connection's byte stream below the tap: TCP, TLS over TCP, or a Unix socket.
pub enum Transport {
    /// Plain TCP.
    Plain(tokio::net::TcpStream),
    /// TLS over TCP.
    Tls(Box<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>),
    /// A Unix-domain socket (host given as a directory).
    #[cfg(unix)]
    Unix(tokio::net::UnixStream),
}

macro_rules! each_transport {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Transport::Plain($s) => {
                let $s = Pin::new($s);
                $e
            }
            Transport::Tls($s) => {
                let $s = Pin::new($s.as_mut());
                $e
            }
            #[cfg(unix)]
            Transport::Unix($s) => {
                let $s = Pin::new($s);
                $e
            }
        }
    };
}

impl tokio::io::AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        each_transport!(self, s => s.poll_read(cx, buf))
    }
}

impl tokio::io::AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        each_transport!(self, s => s.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        each_transport!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        each_transport!(self, s => s.poll_shutdown(cx))
    }
}

fn spawn_connection<S, T>(connection: tokio_postgres::Connection<S, T>, who: String)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("connection to {who} ended: {}", one_line(&e));
        }
    });
}

fn split_host_port(hp: &str) -> Result<(String, u16)> {
    if let Some(rest) = hp.strip_prefix('[') {
        let (h, tail) = rest
            .split_once(']')
            .ok_or_else(|| Error::config(format!("bad IPv6 host \"{hp}\" in PostgreSQL URL")))?;
        let port = match tail.strip_prefix(':') {
            Some(p) if !p.is_empty() => parse_port(p)?,
            _ => 5432,
        };
        return Ok((h.to_string(), port));
    }
    match hp.rsplit_once(':') {
        Some((h, p)) => Ok((h.to_string(), parse_port(p)?)),
        None => Ok((hp.to_string(), 5432)),
    }
}

fn parse_port(p: &str) -> Result<u16> {
    p.parse().map_err(|_| {
        Error::config(format!(
            "\"{p}\" is not a port number in the PostgreSQL URL"
        ))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Connection refused, reset or cut short: worth another attempt.
fn is_retryable_io(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe
            | std::io::ErrorKind::UnexpectedEof
    )
}

fn is_retryable_connect(e: &tokio_postgres::Error) -> bool {
    if e.as_db_error().is_some() {
        return matches!(
            e.code(),
            Some(c) if *c == SqlState::CANNOT_CONNECT_NOW || *c == SqlState::TOO_MANY_CONNECTIONS
        );
    }
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return is_retryable_io(io);
        }
        src = s.source();
    }
    false
}

/// The most useful single line of a driver error: the server's message for database errors,
/// else the innermost cause.
fn one_line(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut m = db.message().to_string();
        if let Some(d) = db.detail() {
            m.push_str(&format!(" ({d})"));
        }
        if let Some(h) = db.hint() {
            m.push_str(&format!("; hint: {h}"));
        }
        return m.replace('\n', " ");
    }
    let mut msg = e.to_string();
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    msg.replace('\n', " ")
}

/// Map a tokio_postgres error to a one-line ferry Error (Remote{retryable} for connection
/// reset / serialization failure / admin shutdown; Schema for undefined table/column; Data
/// otherwise).
pub fn pg_error(context: &str, e: &tokio_postgres::Error) -> Error {
    let msg = format!("{context}: {}", one_line(e));
    if let Some(code) = e.code() {
        let c = code.code();
        if *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::ADMIN_SHUTDOWN
            || *code == SqlState::CRASH_SHUTDOWN
            || *code == SqlState::CANNOT_CONNECT_NOW
            || *code == SqlState::TOO_MANY_CONNECTIONS
            || *code == SqlState::LOCK_NOT_AVAILABLE
            || *code == SqlState::QUERY_CANCELED
            || c.starts_with("08")
        {
            return Error::transient(msg);
        }
        if *code == SqlState::UNDEFINED_TABLE
            || *code == SqlState::UNDEFINED_COLUMN
            || *code == SqlState::INVALID_SCHEMA_NAME
            || *code == SqlState::UNDEFINED_FUNCTION
            || *code == SqlState::UNDEFINED_OBJECT
            || *code == SqlState::DATATYPE_MISMATCH
            || *code == SqlState::AMBIGUOUS_COLUMN
        {
            return Error::schema(msg);
        }
        if c.starts_with("28") || *code == SqlState::INVALID_CATALOG_NAME {
            return Error::connect(msg);
        }
        if c.starts_with("42") {
            // Syntax errors and access rules: the job's SQL is wrong.
            return Error::config(msg);
        }
        return Error::data(msg);
    }
    if e.is_closed() || is_retryable_connect(e) {
        return Error::transient(msg);
    }
    Error::data(msg)
}

#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must be trusted, the host name may differ.
#[derive(Debug)]
struct IgnoreHostName(Arc<rustls::client::WebPkiServerVerifier>);

impl rustls::client::danger::ServerCertVerifier for IgnoreHostName {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_jdbc_urls() {
        let ep = PgEndpoint::parse(
            "jdbc:postgresql://db.example.com:6543/sales?currentSchema=app&sslmode=require&connectTimeout=3&ApplicationName=nightly",
            Some("ferry"),
            Some("s3cret"),
        )
        .unwrap();
        assert_eq!(ep.host, "db.example.com");
        assert_eq!(ep.port, 6543);
        assert_eq!(ep.dbname, "sales");
        assert_eq!(ep.user, "ferry");
        assert_eq!(ep.password(), Some("s3cret"));
        assert_eq!(ep.sslmode, SslMode::Require);
        assert_eq!(ep.current_schema.as_deref(), Some("app"));
        assert_eq!(ep.connect_timeout, Duration::from_secs(3));
        assert_eq!(ep.application_name, "nightly");
        assert_eq!(ep.display(), "ferry@db.example.com:6543/sales");
        assert!(!format!("{ep:?}").contains("s3cret"));
    }

    #[test]
    fn parses_postgres_urls_and_explicit_credentials_win() {
        let ep = PgEndpoint::parse("postgres://u:p%40ss@127.0.0.1/db", None, None).unwrap();
        assert_eq!((ep.user.as_str(), ep.password()), ("u", Some("p@ss")));
        assert_eq!(ep.port, 5432);
        let ep = PgEndpoint::parse(
            "postgresql://u:p@[::1]:5433/db?sslmode=disable",
            Some("v"),
            Some("q"),
        )
        .unwrap();
        assert_eq!((ep.user.as_str(), ep.password()), ("v", Some("q")));
        assert_eq!(ep.host, "::1");
        assert_eq!(ep.port, 5433);
        assert_eq!(ep.sslmode, SslMode::Disable);
        assert_eq!(ep.display(), "v@[::1]:5433/db");
    }

    #[test]
    fn rejects_bad_urls() {
        let e = PgEndpoint::parse("mysql://h/db", Some("u"), None).unwrap_err();
        assert!(e.to_string().contains("jdbc:postgresql://"), "{e}");
        let e = PgEndpoint::parse("jdbc:postgresql://h:54x/db", Some("u"), None).unwrap_err();
        assert!(e.to_string().contains("54x"), "{e}");
        let e =
            PgEndpoint::parse("jdbc:postgresql://h/db?sslmode=maybe", Some("u"), None).unwrap_err();
        assert!(e.to_string().contains("maybe"), "{e}");
        let e = PgEndpoint::parse("jdbc:postgresql://h/db", None, None).unwrap_err();
        assert!(e.to_string().contains("user"), "{e}");
    }
}
