//! `ferry odps serve`: a local MaxCompute-compatible endpoint (spec §4.4), in its own crate so
//! that the client connector (`ferry-odps`) does not build axum, Parquet or a DDL parser.
//!
//! One port serves the REST API under `/api` (XML replies) and the Table Tunnel at the
//! root (JSON replies). Tables live as Parquet under a folder; see [`store`].
//! Requests are dispatched on method plus the *presence* of query keys.

mod http;
pub mod sql;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ferry_core::{Error, Result};
use tokio::sync::oneshot;

/// Who may call the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Verify V2 and V4 signatures against this key pair.
    Keys {
        /// AccessKeyId.
        access_id: String,
        /// AccessKeySecret (never logged).
        access_key: String,
    },
    /// Accept every request.
    None,
}

/// Faults the server injects, for client retry tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultInjection {
    /// Drop the connection of a block PUT after this many body bytes.
    pub drop_block_put_after_bytes: Option<u64>,
    /// How many block PUTs to break that way.
    pub times: u32,
}

/// Options of [`serve`] / [`start`].
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Storage root.
    pub root: PathBuf,
    /// Address to bind (the CLI defaults to 127.0.0.1:9300).
    pub listen: SocketAddr,
    /// Authentication.
    pub auth: Auth,
    /// Project used when a request names none (informational).
    pub default_project: Option<String>,
    /// Fault injection.
    pub fault: Option<FaultInjection>,
}

impl ServeOptions {
    /// Options for a root on 127.0.0.1 with an OS-chosen port and no auth.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ServeOptions {
            root: root.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            auth: Auth::None,
            default_project: None,
            fault: None,
        }
    }
}

/// A server started by [`start`].
#[derive(Debug)]
pub struct RunningServer {
    /// The bound address.
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl RunningServer {
    /// The REST endpoint (`http://addr/api`).
    pub fn endpoint(&self) -> String {
        format!("http://{}/api", self.addr)
    }
    /// The tunnel endpoint (`http://addr`).
    pub fn tunnel_endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// Stop accepting, finish in-flight requests, and wait.
    pub async fn shutdown(mut self) -> Result<()> {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(Error::internal(format!("odps server task: {e}"))),
        }
    }
}

/// Bind and serve in the background; returns once the port is bound.
pub async fn start(opts: ServeOptions) -> Result<RunningServer> {
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| Error::io(format!("odps serve: bind {}", opts.listen), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io("odps serve: local address", e))?;
    let state = Arc::new(http::Server::new(&opts, addr)?);
    let app = http::router(state);
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
            .map_err(|e| Error::io("odps serve", e))
    });
    tracing::info!(%addr, root = %opts.root.display(), "odps server listening");
    Ok(RunningServer {
        addr,
        shutdown: Some(tx),
        task,
    })
}

/// Serve until Ctrl-C.
pub async fn serve(opts: ServeOptions) -> Result<()> {
    let s = start(opts).await?;
    eprintln!(
        "ferry odps serve: REST {}  tunnel {}",
        s.endpoint(),
        s.tunnel_endpoint()
    );
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| Error::io("odps serve: waiting for Ctrl-C", e))?;
    s.shutdown().await
}
