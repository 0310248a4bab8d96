//! `ferry ui` over HTTP, through the binary: the token is required everywhere, secrets never
//! appear in an answer, validation errors carry their JSON path, and the seed's export job
//! (PostgreSQL `person` → the local MaxCompute `hpg`, partition `pt=${bdp.system.bizdate}`)
//! is composed by the wizard, saved, run with a live event stream and checked with pyodps;
//! a run with dirty rows lists them; a cancelled run leaves its target unchanged.

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const TOKEN: &str = "test-token-0123456789abcdef";
const ODPS_SECRET: &str = "odps-secret-never-shown-4711";
/// The console's PostgreSQL login: its own role, so its password is a string no answer
/// could contain by chance.
const PG_USER: &str = "ui_console_tester";
const PG_SECRET: &str = "pg-secret-never-shown-0815";

async fn ensure_role() {
    let ep = ferry_postgres::PgEndpoint::parse(&pg_url(), None, None).unwrap();
    let c = ep.connect().await.unwrap();
    // Tests run in parallel: one transaction-level advisory lock makes the CREATE / ALTER
    // of the shared role one at a time ("tuple concurrently updated" otherwise).
    c.batch_execute(&format!(
        "BEGIN; SELECT pg_advisory_xact_lock(815);
         DO $$ BEGIN
           IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{PG_USER}') THEN
             CREATE ROLE {PG_USER} LOGIN SUPERUSER;
           END IF;
         END $$;
         ALTER ROLE {PG_USER} LOGIN SUPERUSER PASSWORD '{PG_SECRET}';
         COMMIT;"
    ))
    .await
    .unwrap();
}

fn pg_url() -> String {
    std::env::var("FERRY_TEST_PG_URL").expect("set FERRY_TEST_PG_URL; run scripts/test")
}

/// `postgres://user:password@host:port/db` → (user, password, host:port/db).
fn url_parts(url: &str) -> (String, String, String) {
    let rest = url.split("://").nth(1).expect("a postgres:// URL");
    let (cred, hostpart) = rest.split_once('@').expect("user:password@ in the URL");
    let (user, pass) = cred.split_once(':').unwrap_or((cred, ""));
    (user.to_string(), pass.to_string(), hostpart.to_string())
}

async fn pg_exec(sql: &str) {
    let ep = ferry_postgres::PgEndpoint::parse(&pg_url(), None, None).unwrap();
    let c = ep.connect().await.unwrap();
    c.batch_execute(sql).await.unwrap();
}

async fn pg_i64(sql: &str) -> i64 {
    let ep = ferry_postgres::PgEndpoint::parse(&pg_url(), None, None).unwrap();
    let c = ep.connect().await.unwrap();
    c.query_one(sql, &[]).await.unwrap().get::<_, i64>(0)
}

/// A running `ferry ui`, stopped on drop.
struct Console {
    child: Child,
    base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
    _stdout: BufReader<std::process::ChildStdout>,
    jobs: std::path::PathBuf,
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Console {
    fn start() -> Console {
        let dir = tempfile::tempdir().unwrap();
        let jobs = dir.path().join("jobs");
        let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["ui", "--listen", "127.0.0.1:0", "--jobs"])
            .arg(&jobs)
            .arg("--catalog")
            .arg(dir.path().join("datasources.json"))
            .env("FERRY_UI_TOKEN", TOKEN)
            .env_remove("FERRY_CATALOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("ferry ui: ")
            .unwrap_or_else(|| panic!("first line: {line}"));
        assert!(url.ends_with(&format!("/?token={TOKEN}")), "{url}");
        let base = url.split("/?").next().unwrap().to_string();
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        Console {
            child,
            base,
            http: reqwest::Client::new(),
            _dir: dir,
            _stdout: stdout,
            jobs,
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value, String) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(m, format!("{}{path}", self.base))
            .header("X-Ferry-Token", TOKEN);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let v = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, v, text)
    }

    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (s, v, text) = self.call(method, path, body).await;
        assert!((200..300).contains(&s), "{method} {path}: {s} {text}");
        v
    }

    /// Follow a run's event stream to its `end`; returns (event names seen, final state).
    async fn follow(&self, id: &str) -> (Vec<String>, Value) {
        let mut resp = self
            .http
            .get(format!("{}/api/runs/{id}/events?token={TOKEN}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let mut buf = String::new();
        let mut names = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        while let Some(chunk) = tokio::time::timeout_at(deadline.into(), resp.chunk())
            .await
            .expect("the run did not end in time")
            .unwrap()
        {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let block = buf[..end].to_string();
                buf.drain(..end + 2);
                let mut name = "message".to_string();
                let mut data = String::new();
                for l in block.lines() {
                    if let Some(n) = l.strip_prefix("event: ").or(l.strip_prefix("event:")) {
                        name = n.trim().to_string();
                    } else if let Some(d) = l.strip_prefix("data: ").or(l.strip_prefix("data:")) {
                        data.push_str(d);
                    }
                }
                if block.starts_with(':') {
                    continue;
                }
                names.push(name.clone());
                if name == "end" {
                    return (names, serde_json::from_str(&data).unwrap());
                }
            }
        }
        panic!("event stream closed before end: {names:?}");
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn every_request_needs_the_token() {
    rt().block_on(async {
        let c = Console::start();
        let http = reqwest::Client::new();
        for (path, header) in [
            ("/", None),
            ("/?token=wrong-token-0123456789", None),
            ("/api/datasources", None),
            ("/api/datasources", Some("wrong-token-0123456789")),
            ("/api/jobs?token=nope", None),
        ] {
            let mut r = http.get(format!("{}{path}", c.base));
            if let Some(h) = header {
                r = r.header("X-Ferry-Token", h);
            }
            let resp = r.send().await.unwrap();
            assert_eq!(resp.status().as_u16(), 401, "{path}");
            assert!(resp.text().await.unwrap().contains("token"));
        }
        let page = http
            .get(format!("{}/?token={TOKEN}", c.base))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status().as_u16(), 200);
        let csp = page
            .headers()
            .get("content-security-policy")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(csp.contains("default-src 'none'"), "{csp}");
        let html = page.text().await.unwrap();
        assert!(html.contains("<title>ferry</title>"), "{html}");
        for external in ["src=\"http", "href=\"http", "@import", "url(http"] {
            assert!(!html.contains(external), "an external asset: {external}");
        }
        // the page's script is there, and the token is not baked into it
        assert!(html.contains("EventSource") && !html.contains(TOKEN));
        let (s, v, _) = c.call("GET", "/api/nothing", None).await;
        assert_eq!(s, 404);
        assert!(v["error"].is_string());
        let bearer = http
            .get(format!("{}/api/jobs", c.base))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(bearer.status().as_u16(), 200);
    });
}

/// Add the test PostgreSQL (password inline, as the form sends it) and the local ODPS.
async fn add_sources(c: &Console, odps: &ferry_odps_server::RunningServer) {
    ensure_role().await;
    let (_, _, hostpart) = url_parts(&pg_url());
    let (user, pass) = (PG_USER, PG_SECRET);
    let v = c
        .ok(
            "PUT",
            "/api/datasources/l_PostGreSql",
            Some(json!({"type": "postgresql", "description": "the test server",
                "jdbcUrl": format!("jdbc:postgresql://{hostpart}"), "username": user, "password": pass})),
        )
        .await;
    assert_eq!(v["passwordSet"], true);
    let v = c
        .ok(
            "PUT",
            "/api/datasources/odps_first",
            Some(json!({"type": "odps", "endpoint": odps.endpoint(),
                "tunnelEndpoint": odps.tunnel_endpoint(), "project": "demo",
                "accessId": "ak", "accessKey": ODPS_SECRET})),
        )
        .await;
    assert_eq!(v["accessKeySet"], true);
}

#[test]
fn datasources_never_show_secrets_and_test_connectivity() {
    let runtime = rt();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let odps = ferry_odps_server::start(ferry_odps_server::ServeOptions::new(
            dir.path().join("odps"),
        ))
        .await
        .unwrap();
        let c = Console::start();
        add_sources(&c, &odps).await;
        let pass = PG_SECRET;
        let mut seen = Vec::new();
        let list = c.ok("GET", "/api/datasources", None).await;
        seen.push(list.to_string());
        assert_eq!(list["datasources"].as_array().unwrap().len(), 2);
        // Test Connectivity: version and latency
        let t = c
            .ok("POST", "/api/datasources/l_PostGreSql/test", None)
            .await;
        assert_eq!(t["ok"], true, "{t}");
        assert!(t["message"].as_str().unwrap().contains("PostgreSQL"), "{t}");
        assert!(t["message"].as_str().unwrap().contains(" ms)"), "{t}");
        seen.push(t.to_string());
        let t = c.ok("POST", "/api/datasources/odps_first/test", None).await;
        assert_eq!(t["ok"], true, "{t}");
        seen.push(t.to_string());
        // Edit with a blank password keeps the stored one; the masked URL sent back is kept.
        let pg = list["datasources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == "l_PostGreSql")
            .unwrap()
            .clone();
        let v = c
            .ok(
                "PUT",
                "/api/datasources/l_PostGreSql",
                Some(json!({"type": "postgresql", "description": "edited",
                    "jdbcUrl": pg["jdbcUrl"], "username": pg["username"], "password": ""})),
            )
            .await;
        seen.push(v.to_string());
        let t = c
            .ok("POST", "/api/datasources/l_PostGreSql/test", None)
            .await;
        assert_eq!(t["ok"], true, "{t}");
        // A form with a wrong password, tested before saving: the error as the CLI says it.
        let (_, _, hostpart) = url_parts(&pg_url());
        let user = PG_USER;
        let t = c
            .ok(
                "POST",
                "/api/datasources/l_PostGreSql/test",
                Some(
                    json!({"type": "postgresql", "jdbcUrl": format!("jdbc:postgresql://{hostpart}"),
                    "username": user, "password": "wrong-password-9876"}),
                ),
            )
            .await;
        assert_eq!(t["ok"], false, "{t}");
        assert!(!t.to_string().contains("wrong-password-9876"), "{t}");
        seen.push(t.to_string());
        // The seed's name rules.
        let (s, v, _) = c
            .call(
                "PUT",
                "/api/datasources/1bad-name",
                Some(json!({"type": "postgresql", "jdbcUrl": "jdbc:postgresql://h/db"})),
            )
            .await;
        assert_eq!(s, 400, "{v}");
        assert!(
            v["error"].as_str().unwrap().contains("letters, digits"),
            "{v}"
        );
        let list = c.ok("GET", "/api/datasources", None).await;
        seen.push(list.to_string());
        for text in &seen {
            assert!(!text.contains(pass), "password in {text}");
            assert!(!text.contains(ODPS_SECRET), "access key in {text}");
        }
        c.ok("DELETE", "/api/datasources/odps_first", None).await;
        let list = c.ok("GET", "/api/datasources", None).await;
        assert_eq!(list["datasources"].as_array().unwrap().len(), 1);
        let (s, _, _) = c.call("DELETE", "/api/datasources/odps_first", None).await;
        assert_eq!(s, 400);
        odps.shutdown().await.unwrap();
    });
}

#[test]
fn seed_export_job_composed_validated_saved_and_run() {
    let runtime = rt();
    runtime.block_on(async {
        pg_exec(
            "DROP SCHEMA IF EXISTS ui_seed CASCADE; CREATE SCHEMA ui_seed;
             CREATE TABLE ui_seed.person (id bigint PRIMARY KEY, name text, year bigint, birthdate timestamp, ismarried boolean, interest text, salary double precision);
             INSERT INTO ui_seed.person SELECT g, 'name' || g, 1990 + g % 30, timestamp '2000-01-01' + g * interval '1 day', g % 2 = 0, 'x', g * 1.5 FROM generate_series(1, 500) g;",
        )
        .await;
        let dir = tempfile::tempdir().unwrap();
        let odps = ferry_odps_server::start(ferry_odps_server::ServeOptions::new(
            dir.path().join("odps"),
        ))
        .await
        .unwrap();
        let c = Console::start();
        add_sources(&c, &odps).await;
        let ddl = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["odps", "sql", "--datasource", "odps_first",
                "CREATE TABLE hpg (id BIGINT, name STRING, year BIGINT, birthdate DATETIME, ismarried BOOLEAN, interest STRING, salary DOUBLE) PARTITIONED BY (pt STRING)",
                "--catalog"])
            .arg(c.jobs.parent().unwrap().join("datasources.json"))
            .output()
            .unwrap();
        assert!(ddl.status.success(), "{ddl:?}");

        // the wizard's reads: tables, columns with the split key, Data Preview
        let t = c.ok("GET", "/api/datasources/l_PostGreSql/tables", None).await;
        assert!(t["tables"].as_array().unwrap().iter().any(|x| x == "ui_seed.person"), "{t}");
        let t = c.ok("GET", "/api/datasources/odps_first/tables", None).await;
        assert!(t["tables"].as_array().unwrap().iter().any(|x| x == "hpg"), "{t}");
        let cols = c
            .ok("GET", "/api/datasources/l_PostGreSql/columns?table=ui_seed.person", None)
            .await;
        assert_eq!(cols["splitKey"], "id", "{cols}");
        assert_eq!(cols["columns"].as_array().unwrap().len(), 7);
        let cols = c.ok("GET", "/api/datasources/odps_first/columns?table=hpg", None).await;
        assert_eq!(cols["partitionKeys"], json!(["pt"]), "{cols}");
        let p = c
            .ok("POST", "/api/preview", Some(json!({"source": "l_PostGreSql",
                "table": "ui_seed.person", "where": "id <= 3", "limit": 5})))
            .await;
        assert_eq!(p["rows"].as_array().unwrap().len(), 3, "{p}");
        assert_eq!(p["columns"][0]["name"], "id");

        // compose: the wizard with the form's answers
        let w = c
            .ok("POST", "/api/wizard", Some(json!({
                "from": "l_PostGreSql", "table": "ui_seed.person", "splitPk": "id",
                "to": "odps_first", "targetTable": "hpg", "partition": "pt=${bdp.system.bizdate}",
                "mapping": "name", "concurrent": 2, "errorLimit": 0})))
            .await;
        let text = w["text"].as_str().unwrap().to_string();
        assert!(text.contains("pt=${bdp.system.bizdate}"), "{text}");

        // validation: the job's plan; a misspelt key answers with its JSON path
        let v = c
            .ok("POST", "/api/validate", Some(json!({"text": text, "bizdate": "20261122"})))
            .await;
        assert_eq!(v["ok"], true, "{v}");
        assert_eq!(v["bizdate"], "20261122");
        assert!(!v["plan"]["splits"].as_array().unwrap().is_empty(), "{v}");
        let bad = text.replacen("\"splitPk\"", "\"splitpk\"", 1);
        let v = c
            .ok("POST", "/api/validate", Some(json!({"text": bad, "connect": false})))
            .await;
        assert_eq!(v["ok"], false, "{v}");
        assert_eq!(v["errors"][0]["path"], "configuration.reader.parameter.splitpk", "{v}");
        assert!(v["errors"][0]["message"].as_str().unwrap().contains("did you mean \"splitPk\""), "{v}");
        let v = c
            .ok("POST", "/api/validate", Some(json!({"text": "{\"configuration\": {\n  \"reader\": ,", "connect": false})))
            .await;
        assert_eq!(v["errors"][0]["line"], 2, "{v}");

        // save (comments kept), refuse what does not parse, list
        let commented = text.replacen("{", "{ // made in ferry ui", 1);
        c.ok("PUT", "/api/jobs/export.json", Some(json!({"text": commented}))).await;
        let (s, v, _) = c.call("PUT", "/api/jobs/broken.json", Some(json!({"text": bad}))).await;
        assert_eq!(s, 422, "{v}");
        assert_eq!(v["errors"][0]["path"], "configuration.reader.parameter.splitpk");
        let (s, _, _) = c.call("PUT", "/api/jobs/..%2Fescape.json", Some(json!({"text": text}))).await;
        assert_eq!(s, 400);
        let l = c.ok("GET", "/api/jobs", None).await;
        assert_eq!(l["jobs"].as_array().unwrap().len(), 1, "{l}");
        let j = c.ok("GET", "/api/jobs/export.json", None).await;
        assert!(j["text"].as_str().unwrap().contains("// made in ferry ui"));

        // run for a business date and follow the monitor to the end
        let r = c
            .ok("POST", "/api/runs", Some(json!({"job": "export.json", "bizdate": "20261122"})))
            .await;
        let id = r["id"].as_str().unwrap().to_string();
        assert_eq!(r["status"], "running");
        let (names, end) = c.follow(&id).await;
        assert_eq!(names.first().map(String::as_str), Some("state"), "{names:?}");
        assert_eq!(end["status"], "success", "{end}");
        assert_eq!(end["summary"]["records_written"], 500, "{end}");
        // the rows are there, as pyodps reads them
        let py = std::env::var("FERRY_TEST_PYTHON").expect("set FERRY_TEST_PYTHON; run scripts/test");
        let out = tokio::process::Command::new(py)
            .args(["-c", r#"
import os
from odps import ODPS, options
options.enable_v4_sign = False
o = ODPS("ak", "x", "demo", endpoint=os.environ["EP"], tunnel_endpoint=os.environ["TEP"])
with o.get_table("hpg").open_reader(partition="pt=20261122") as r:
    rows = list(r)
print(len(rows), sum(x["id"] for x in rows))
"#])
            .env("EP", odps.endpoint())
            .env("TEP", odps.tunnel_endpoint())
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "500 125250");
        // history and the stored run
        let h = c.ok("GET", "/api/runs?job=export.json", None).await;
        assert_eq!(h["runs"][0]["id"], id.as_str(), "{h}");
        assert_eq!(h["runs"][0]["status"], "success");
        let g = c.ok("GET", &format!("/api/runs/{id}"), None).await;
        assert_eq!(g["run"]["status"], "success");
        let (s, _, _) = c.call("GET", "/api/runs/..%2F..%2Fetc", None).await;
        assert!(s == 400 || s == 404, "{s}");
        // staged data: SQL over Parquet files written by a job
        odps.shutdown().await.unwrap();
    });
}

#[test]
fn dirty_rows_are_listed_and_cancel_leaves_the_target_unchanged() {
    let runtime = rt();
    runtime.block_on(async {
        pg_exec(
            "DROP SCHEMA IF EXISTS ui_dirty CASCADE; CREATE SCHEMA ui_dirty;
             CREATE TABLE ui_dirty.t (id bigint, name varchar(3)); INSERT INTO ui_dirty.t VALUES (0, 'old');",
        )
        .await;
        let c = Console::start();
        std::fs::create_dir_all(&c.jobs).unwrap();
        let url = pg_url();
        // five values, two too long for varchar(3): dirty, within errorLimit
        std::fs::write(
            c.jobs.join("dirty.json"),
            format!(r#"{{"job": {{"setting": {{"speed": {{"channel": 1}}, "errorLimit": {{"record": 5}}}},
              "content": [{{
                "reader": {{"name": "streamreader", "parameter": {{
                    "column": [{{"type": "long", "random": "1,9"}}, {{"type": "string", "value": "toolong"}}],
                    "sliceRecordCount": 2}}}},
                "writer": {{"name": "postgresqlwriter", "parameter": {{"writeMode": "insert",
                    "connection": [{{"jdbcUrl": "{url}", "table": ["ui_dirty.t"]}}],
                    "column": ["id", "name"]}}}}}}]}}}}"#),
        )
        .unwrap();
        let r = c.ok("POST", "/api/runs", Some(json!({"job": "dirty.json"}))).await;
        let id = r["id"].as_str().unwrap().to_string();
        let (_, end) = c.follow(&id).await;
        assert_eq!(end["status"], "success", "{end}");
        assert_eq!(end["summary"]["records_dirty"], 2, "{end}");
        let d = c.ok("GET", &format!("/api/runs/{id}/dirty"), None).await;
        assert_eq!(d["total"], 2, "{d}");
        assert!(d["records"][0]["reason"].is_string(), "{d}");

        // a slow load, cancelled once progress shows: the table keeps its one row
        std::fs::write(
            c.jobs.join("slow.json"),
            format!(r#"{{"job": {{"setting": {{"speed": {{"channel": 2, "record": 20000}}}},
              "content": [{{
                "reader": {{"name": "streamreader", "parameter": {{
                    "column": [{{"type": "long", "random": "1,1000000"}}, {{"type": "string", "value": "new"}}],
                    "sliceRecordCount": 1000000}}}},
                "writer": {{"name": "postgresqlwriter", "parameter": {{
                    "connection": [{{"jdbcUrl": "{url}", "table": ["ui_dirty.t"]}}],
                    "column": ["id", "name"]}}}}}}]}}}}"#),
        )
        .unwrap();
        pg_exec("TRUNCATE ui_dirty.t; INSERT INTO ui_dirty.t VALUES (0, 'old')").await;
        let r = c.ok("POST", "/api/runs", Some(json!({"job": "slow.json"}))).await;
        let id = r["id"].as_str().unwrap().to_string();
        let started = Instant::now();
        loop {
            let g = c.ok("GET", &format!("/api/runs/{id}"), None).await;
            if g["run"]["progress"]["records"].as_u64().unwrap_or(0) > 0 {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "no progress: {g}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let k = c.ok("POST", &format!("/api/runs/{id}/cancel"), None).await;
        assert_eq!(k["cancelling"], true, "{k}");
        let (names, end) = c.follow(&id).await;
        assert_eq!(end["status"], "cancelled", "{end} {names:?}");
        assert_eq!(pg_i64("SELECT count(*) FROM ui_dirty.t").await, 1);
        let h = c.ok("GET", "/api/runs", None).await;
        assert_eq!(h["runs"].as_array().unwrap().len(), 2, "{h}");
    });
}
