//! `ferry ui`: a local web console over what the commands already do.
//!
//! The server is a thin layer: datasources go through the catalog (`ferry datasource`),
//! tables, columns and Data Preview through the wizard's readers (`ferry job new`,
//! `ferry preview`), the job through the wizard's composer, validation through the checks
//! and plan of `ferry validate`, and a run is `ferry run` itself, started as a child process
//! of this binary with `--progress-secs 1 --summary-json --dirty-file` (its progress lines
//! feed the live monitor, SIGTERM is its clean cancel). Nothing here re-implements any of it.
//!
//! Every request carries the access token printed at start (`?token=` on the page and the
//! event stream, the `X-Ferry-Token` header on the API). Passwords and AccessKey secrets
//! never leave the server: datasource lists say whether one is set, forms take new ones.
//! The page (HTML, CSS, JS) is embedded in the binary.

mod api;
mod runs;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use clap::Args;
use ferry_core::catalog::Catalog;
use ferry_core::{Error, Result};

/// `ferry ui` flags.
#[derive(Debug, Args)]
pub struct UiArgs {
    /// Address to listen on (port 0 picks a free one). Keep it on loopback unless the
    /// network in between is trusted: the token is the only protection.
    #[arg(long, default_value = "127.0.0.1:8630")]
    pub listen: SocketAddr,
    /// Folder of job files the console lists, edits and runs (and keeps run history in,
    /// under `ferry-runs/ui/`).
    #[arg(long, default_value = ".")]
    pub jobs: PathBuf,
    /// Datasource catalog (default: $FERRY_CATALOG, else ~/.config/ferry/datasources.json).
    #[arg(long, env = "FERRY_CATALOG")]
    pub catalog: Option<PathBuf>,
    /// The access token (default: a random one). Also read from $FERRY_UI_TOKEN.
    #[arg(long, env = "FERRY_UI_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// What every handler shares.
pub(crate) struct Ui {
    token: String,
    catalog_path: PathBuf,
    jobs: PathBuf,
    runs: runs::Runs,
}

impl Ui {
    fn catalog(&self) -> Result<Catalog> {
        Catalog::load(&self.catalog_path)
    }
}

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_CSS: &str = include_str!("assets/app.css");
const APP_JS: &str = include_str!("assets/app.js");

/// Run `ferry ui` until Ctrl-C.
pub async fn cmd(a: UiArgs) -> Result<i32> {
    let token = match a.token {
        Some(t) if t.len() >= 16 => t,
        Some(_) => return Err(Error::config("--token: use at least 16 characters")),
        None => random_token(),
    };
    let jobs = a.jobs;
    std::fs::create_dir_all(&jobs)
        .map_err(|e| Error::io(format!("creating {}", jobs.display()), e))?;
    let catalog_path = Catalog::default_path(a.catalog.as_deref());
    let exe = std::env::current_exe().map_err(|e| Error::io("finding the ferry binary", e))?;
    let ui = Arc::new(Ui {
        token,
        runs: runs::Runs::new(
            jobs.join("ferry-runs").join("ui"),
            exe,
            catalog_path.clone(),
        ),
        catalog_path,
        jobs,
    });
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .map_err(|e| Error::io(format!("listening on {}", a.listen), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io("reading the listening address", e))?;
    if !addr.ip().is_loopback() {
        eprintln!(
            "warning: ferry ui listens on {addr}, not loopback: anyone who can reach it and has the token can run jobs"
        );
    }
    let host = if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    };
    {
        // stdout may be a pipe its reader closes after the URL line: never fail on it
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "ferry ui: http://{host}/?token={}", ui.token);
        let _ = writeln!(
            out,
            "  jobs {}  catalog {}  (Ctrl-C to stop)",
            ui.jobs.display(),
            ui.catalog_path.display()
        );
        let _ = out.flush();
    }
    let app = router(Arc::clone(&ui));
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| Error::io("serving the console", e))?;
    ui.runs.cancel_all().await;
    Ok(0)
}

fn random_token() -> String {
    use rand::Rng;
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn router(ui: Arc<Ui>) -> Router {
    use axum::routing::put;
    Router::new()
        .route("/", get(index))
        .route("/api/datasources", get(api::datasources))
        .route("/api/kinds", get(api::kinds))
        .route(
            "/api/datasources/{name}",
            put(api::datasource_put).delete(api::datasource_delete),
        )
        .route("/api/datasources/{name}/test", post(api::datasource_test))
        .route("/api/datasources/{name}/tables", get(api::tables))
        .route("/api/datasources/{name}/columns", get(api::columns))
        .route("/api/preview", post(api::preview))
        .route("/api/sql", post(api::sql))
        .route("/api/wizard", post(api::wizard))
        .route("/api/wizard/ends", get(api::wizard_ends))
        .route("/api/validate", post(api::validate))
        .route("/api/jobs", get(api::jobs))
        .route("/api/jobs/{file}", get(api::job_get).put(api::job_put))
        .route("/api/runs", get(api::runs_list).post(api::run_start))
        .route("/api/runs/{id}", get(api::run_get))
        .route("/api/runs/{id}/events", get(api::run_events))
        .route("/api/runs/{id}/cancel", post(api::run_cancel))
        .route("/api/runs/{id}/dirty", get(api::run_dirty))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&ui),
            require_token,
        ))
        .with_state(ui)
}

async fn not_found() -> Response {
    api::error_response(StatusCode::NOT_FOUND, "no such page or endpoint", None)
}

/// Refuse any request without the token (header `X-Ferry-Token`, `Authorization: Bearer`,
/// or `?token=` for the page and the event stream, which cannot set headers).
async fn require_token(State(ui): State<Arc<Ui>>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get("x-ferry-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            req.headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::to_string)
        })
        .or_else(|| {
            req.uri().query().and_then(|q| {
                q.split('&')
                    .find_map(|kv| kv.strip_prefix("token="))
                    .map(str::to_string)
            })
        });
    let ok = given.is_some_and(|g| same(g.as_bytes(), ui.token.as_bytes()));
    let mut resp = if ok {
        next.run(req).await
    } else {
        api::error_response(
            StatusCode::UNAUTHORIZED,
            "missing or wrong token: open the URL `ferry ui` printed (it carries ?token=...)",
            None,
        )
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// Compare without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The page: HTML with the stylesheet and script inlined (one request, nothing external).
async fn index() -> Response {
    let page = INDEX_HTML
        .replace("/*APP_CSS*/", APP_CSS)
        .replace("/*APP_JS*/", APP_JS);
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
            ),
        ],
        page,
    )
        .into_response()
}
