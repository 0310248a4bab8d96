//! `ferry odps serve`: a local MaxCompute-compatible endpoint (spec §4.4), in its own crate so
//! that the client connector (`ferry-odps`) does not build axum, Parquet or a DDL parser.
//!
//! One port serves the REST API under `/api` (XML replies) and the Table Tunnel at the
//! root (JSON replies). Tables live as Parquet under a folder; see [`store`].
//! Requests are dispatched on method plus the *presence* of query keys.
//!
//! Files: `config.rs` (what to serve), `http.rs` (routing, signatures),
//! `rest.rs` (metadata, SQL DDL, the `?data` CSV preview), `tunnel.rs` (uploads,
//! downloads, the Arrow `/preview`), `data_csv.rs` (values as MaxCompute prints them),
//! [`sql`] (the DDL dialect), [`store`] (tables as Parquet), `error.rs` (error replies).

mod config;
mod data_csv;
mod error;
mod http;
mod rest;
pub mod sql;
pub mod store;
mod tunnel;

pub use config::{Auth, FaultInjection, ServeOptions};

use std::net::SocketAddr;
use std::sync::Arc;

use ferry_core::{Error, Result};
use tokio::sync::oneshot;

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
