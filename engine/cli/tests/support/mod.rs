//! What several test binaries of the CLI share: a local `ferry odps serve` in its own
//! process.

// Each test binary uses part of this module.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// `ferry odps serve --auth none` on a free port, killed when dropped.
pub struct OdpsServer {
    child: Child,
    /// The port it listens on.
    pub port: u16,
}

impl OdpsServer {
    /// A server storing under `root`.
    pub fn start(root: &Path) -> OdpsServer {
        OdpsServer::start_with(root, &[])
    }

    /// A server storing under `root`, with more `ferry odps serve` flags.
    pub fn start_with(root: &Path, extra: &[&str]) -> OdpsServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = OdpsServer {
            child: Command::new(env!("CARGO_BIN_EXE_ferry"))
                .args(["odps", "serve", "--auth", "none", "--listen"])
                .arg(format!("127.0.0.1:{port}"))
                .arg("--root")
                .arg(root)
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
            port,
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("ferry odps serve did not listen on {port}");
    }

    /// The REST endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/api", self.port)
    }

    /// An `odpswriter` / `odpsreader` parameter block's connection keys (project `p`).
    pub fn keys(&self) -> String {
        format!(
            r#""odpsServer": "{}", "project": "p", "accessId": "ak", "accessKey": "sk""#,
            self.endpoint()
        )
    }

    /// Run one ODPS SQL statement (DDL) against project `p`, through `ferry odps sql`.
    pub fn sql(&self, dir: &Path, sql: &str) {
        let cat = dir.join("odps-catalog.json");
        let run = |args: &[&str]| {
            let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
                .args(args)
                .env("FERRY_CATALOG", &cat)
                .output()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "ferry {args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        if !cat.exists() {
            let endpoint = self.endpoint();
            run(&[
                "datasource",
                "add",
                "od",
                "--type",
                "odps",
                "--endpoint",
                &endpoint,
                "--project",
                "p",
                "--access-id",
                "ak",
                "--access-key",
                "sk",
            ]);
        }
        run(&["odps", "sql", "--datasource", "od", sql]);
    }
}

impl Drop for OdpsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
pub mod cli_docs;

/// The test PostgreSQL server `scripts/test` starts.
pub fn pg_url() -> String {
    std::env::var("FERRY_TEST_PG_URL").expect("set FERRY_TEST_PG_URL; run scripts/test")
}

/// A runtime for one query.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// One bigint from a query.
pub fn pg_i64(sql: &str) -> i64 {
    rt().block_on(async {
        let ep = ferry_postgres::PgEndpoint::parse(&pg_url(), None, None).unwrap();
        let c = ep.connect().await.unwrap();
        c.query_one(sql, &[]).await.unwrap().get::<_, i64>(0)
    })
}

/// Run SQL statements.
pub fn pg_exec(sql: &str) {
    rt().block_on(async {
        let ep = ferry_postgres::PgEndpoint::parse(&pg_url(), None, None).unwrap();
        let c = ep.connect().await.unwrap();
        c.batch_execute(sql).await.unwrap();
    })
}

/// Prepared transactions of run `run` still in the server.
pub fn prepared_of(run: &str) -> i64 {
    pg_i64(&format!(
        "SELECT count(*) FROM pg_prepared_xacts WHERE gid LIKE 'ferry\\_{}\\_%'",
        run.replace('_', "\\_")
    ))
}

/// Every file under `dir`, recursively (none when it does not exist).
pub fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// A fresh `schema` with `src (id bigint PRIMARY KEY, name text)` holding rows 1..=`rows`
/// (`name` 'n' || id) and an empty `dst` like it.
pub fn src_dst_tables(schema: &str, rows: u32) {
    pg_exec(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};
         CREATE TABLE {schema}.src (id bigint PRIMARY KEY, name text);
         INSERT INTO {schema}.src SELECT g, 'n' || g FROM generate_series(1, {rows}) g;
         CREATE TABLE {schema}.dst (id bigint PRIMARY KEY, name text);"
    ));
}

/// `src_dst_tables`, and a job of `channels` channels that reads `schema.<table>` (a table
/// name or a `${param}`) by `splitPk` id, slowly, into `writer`: `dir/job.json`.
pub fn src_dst_job(
    dir: &Path,
    schema: &str,
    rows: u32,
    channels: u32,
    table: &str,
    writer: &str,
) -> std::path::PathBuf {
    src_dst_tables(schema, rows);
    let job = format!(
        r#"{{"job": {{"setting": {{"speed": {{"channel": {channels}}}}}, "content": [{{
            "reader": {{"name": "postgresqlreader", "parameter": {{
                "connection": [{{"jdbcUrl": ["{url}"], "table": ["{schema}.{table}"]}}],
                "column": ["id", "name"], "splitPk": "id",
                "where": "pg_sleep(0.00005) IS NOT NULL"}}}},
            "writer": {writer}}}]}}}}"#,
        url = pg_url()
    );
    let path = dir.join("job.json");
    std::fs::write(&path, job).unwrap();
    path
}

/// A PostgreSQL writer into `schema.dst` (columns id, name).
pub fn pg_dst_writer(schema: &str) -> String {
    format!(
        r#"{{"name": "postgresqlwriter", "parameter": {{
            "connection": [{{"jdbcUrl": "{}", "table": ["{schema}.dst"]}}],
            "column": ["id", "name"]}}}}"#,
        pg_url()
    )
}

/// `schema.src` and `schema.dst` hold the same rows, both ways.
pub fn pg_exact(schema: &str) {
    for (a, b) in [("src", "dst"), ("dst", "src")] {
        assert_eq!(
            pg_i64(&format!(
                "SELECT count(*) FROM (SELECT * FROM {schema}.{a} EXCEPT ALL SELECT * FROM {schema}.{b}) d"
            )),
            0,
            "{schema}.{a} has rows {schema}.{b} lacks"
        );
    }
}
