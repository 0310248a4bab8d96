//! `ferry ui` in a real headless Chromium, driven over WebDriver (chromedriver, spoken with
//! plain HTTP): add the test PostgreSQL and the local MaxCompute through the page and test
//! both, walk the wizard for the seed's export job (PostgreSQL `person` → ODPS `hpg`,
//! partition `pt=${bdp.system.bizdate}`), save it, run it and watch the monitor reach
//! "success", then check the rows with pyodps. Every form control has a label, and the
//! pages fit 1280×800 and 390×844. A screenshot of each step is saved under
//! `$CARGO_TARGET_TMPDIR/ui-browser/` (and copied to `$FERRY_UI_SCREENSHOTS` when set, which is
//! how `docs/img/` is made).

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

const TOKEN: &str = "browser-token-0123456789abcdef";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn pg_url() -> String {
    std::env::var("FERRY_TEST_PG_URL").expect("set FERRY_TEST_PG_URL; run scripts/test")
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A WebDriver session.
struct Browser {
    http: reqwest::Client,
    session: String,
    shots: PathBuf,
    _driver: Kill,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is not installed: scripts/test installs chromium and chromium-driver with apt");
        let driver = Kill(driver);
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let started = Instant::now();
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome",
            "goog:chromeOptions": {"args": ["--headless", "--no-sandbox", "--disable-gpu",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                format!("--user-data-dir={}", profile.path().display()),
                "--window-size=1280,800"]}}}});
        let r: Value = http
            .post(format!("{base}/session"))
            .body(caps.to_string())
            .send()
            .await
            .unwrap()
            .json_text()
            .await;
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {r}"))
            .to_string();
        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-browser");
        std::fs::create_dir_all(&shots).unwrap();
        Browser {
            http,
            session: format!("{base}/session/{session}"),
            shots,
            _driver: driver,
            _profile: profile,
        }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.session));
        if !body.is_null() {
            req = req.body(body.to_string());
        }
        let v: Value = req.send().await.unwrap().json_text().await;
        if v["value"].get("error").is_some() {
            panic!("webdriver {path}: {v}");
        }
        v["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", json!({ "url": url }))
            .await;
    }

    async fn js(&self, script: &str, args: Value) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            json!({ "script": script, "args": args }),
        )
        .await
    }

    /// Wait until `css` matches an element (pages load data asynchronously).
    async fn find(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            let v: Value = self
                .http
                .post(format!("{}/element", self.session))
                .body(json!({"using": "css selector", "value": css}).to_string())
                .send()
                .await
                .unwrap()
                .json_text()
                .await;
            if let Some(id) = v["value"][ELEMENT].as_str() {
                return id.to_string();
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no element {css}: {v}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            json!({}),
        )
        .await;
    }

    /// Set a form control's value as typing would (input and change events).
    async fn set(&self, css: &str, value: &str) {
        self.find(css).await;
        self.js(
            "const e = document.querySelector(arguments[0]); e.value = arguments[1];
             e.dispatchEvent(new Event('input', {bubbles: true}));
             e.dispatchEvent(new Event('change', {bubbles: true}));",
            json!([css, value]),
        )
        .await;
    }

    /// Wait until the page's text contains `needle`.
    async fn wait_text(&self, needle: &str, secs: u64) -> String {
        let started = Instant::now();
        loop {
            let t = self.js("return document.body.innerText", json!([])).await;
            let t = t.as_str().unwrap_or_default().to_string();
            if t.contains(needle) {
                return t;
            }
            assert!(
                started.elapsed() < Duration::from_secs(secs),
                "the page never said {needle:?}:\n{t}"
            );
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    async fn screenshot(&self, name: &str) {
        let v = self
            .cmd(reqwest::Method::GET, "/screenshot", Value::Null)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        std::fs::write(self.shots.join(format!("{name}.png")), &png).unwrap();
        if let Ok(dir) = std::env::var("FERRY_UI_SCREENSHOTS") {
            std::fs::write(PathBuf::from(dir).join(format!("ui-{name}.png")), &png).unwrap();
        }
    }

    async fn size(&self, w: u32, h: u32) {
        self.cmd(
            reqwest::Method::POST,
            "/window/rect",
            json!({"width": w, "height": h}),
        )
        .await;
    }

    /// Every visible control has a label (or aria-label), and nothing is wider than the page.
    async fn check_page(&self, what: &str) {
        let v = self
            .js(
                "const bad = [];
                 for (const e of document.querySelectorAll('input, select, textarea')) {
                   if (e.type === 'hidden' || e.offsetParent === null) continue;
                   const named = (e.labels && e.labels.length) || e.getAttribute('aria-label');
                   if (!named) bad.push(e.outerHTML.slice(0, 80));
                 }
                 const wide = document.documentElement.scrollWidth > window.innerWidth + 1;
                 return {unlabelled: bad, wide, width: document.documentElement.scrollWidth, inner: window.innerWidth};",
                json!([]),
            )
            .await;
        assert_eq!(v["unlabelled"], json!([]), "{what}: {v}");
        assert_eq!(v["wide"], false, "{what}: the page scrolls sideways: {v}");
    }
}

trait JsonText {
    async fn json_text(self) -> Value;
}

impl JsonText for reqwest::Response {
    async fn json_text(self) -> Value {
        let t = self.text().await.unwrap();
        serde_json::from_str(&t).unwrap_or_else(|_| panic!("not JSON: {t}"))
    }
}

async fn pg_exec(sql: &str) {
    let ep = ferry_postgres::PgEndpoint::parse(&pg_url(), None, None).unwrap();
    let c = ep.connect().await.unwrap();
    c.batch_execute(sql).await.unwrap();
}

#[test]
fn seed_export_job_in_the_browser() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        pg_exec(
            "DROP SCHEMA IF EXISTS ui_browser CASCADE; CREATE SCHEMA ui_browser;
             CREATE TABLE ui_browser.person (id bigint PRIMARY KEY, name text, year bigint, birthdate timestamp, ismarried boolean, interest text, salary double precision);
             INSERT INTO ui_browser.person SELECT g, 'name' || g, 1990 + g % 30, timestamp '2000-01-01' + g * interval '1 day', g % 2 = 0, 'x', g * 1.5 FROM generate_series(1, 300) g;",
        )
        .await;
        let dir = tempfile::tempdir().unwrap();
        let odps = ferry_odps_server::start(ferry_odps_server::ServeOptions::new(dir.path().join("odps")))
            .await
            .unwrap();
        let catalog = dir.path().join("datasources.json");
        let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["ui", "--listen", "127.0.0.1:0", "--jobs"])
            .arg(dir.path().join("jobs"))
            .arg("--catalog")
            .arg(&catalog)
            .env("FERRY_UI_TOKEN", TOKEN)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let _console = Kill(child);
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let url = line.trim().strip_prefix("ferry ui: ").unwrap().to_string();

        let b = Browser::start().await;
        b.go(&url).await;
        b.wait_text("Data sources", 10).await;
        b.check_page("data sources").await;

        // add the PostgreSQL source through the form, Test Connectivity, save
        let rest = pg_url();
        let rest = rest.split("://").nth(1).unwrap();
        let (cred, hostpart) = rest.split_once('@').unwrap();
        let (user, pass) = cred.split_once(':').unwrap();
        b.click("#add-source").await;
        b.set("select[name=type]", "postgresql").await;
        b.set("input[name=name]", "l_PostGreSql").await;
        b.set("input[name=jdbcUrl]", &format!("jdbc:postgresql://{hostpart}")).await;
        b.set("input[name=username]", user).await;
        b.set("input[name=password]", pass).await;
        b.check_page("add data source").await;
        b.click("#test-form").await;
        b.wait_text(" ms)", 20).await;
        b.screenshot("1-add-datasource").await;
        b.click("#save-source").await;
        b.wait_text("l_PostGreSql", 10).await;
        // and the local MaxCompute
        b.click("#add-source").await;
        b.set("select[name=type]", "odps").await;
        b.set("input[name=name]", "odps_first").await;
        b.set("input[name=endpoint]", &odps.endpoint()).await;
        b.set("input[name=tunnelEndpoint]", &odps.tunnel_endpoint()).await;
        b.set("input[name=project]", "demo").await;
        b.set("input[name=accessId]", "ak").await;
        b.set("input[name=accessKey]", "browser-secret").await;
        b.click("#save-source").await;
        b.wait_text("odps_first", 10).await;
        b.click("button[aria-label='Test Connectivity of odps_first']").await;
        b.wait_text("project demo", 20).await;
        b.screenshot("2-datasources").await;
        let ddl = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["odps", "sql", "--datasource", "odps_first",
                "CREATE TABLE hpg (id BIGINT, name STRING, year BIGINT, birthdate DATETIME, ismarried BOOLEAN, interest STRING, salary DOUBLE) PARTITIONED BY (pt STRING)",
                "--catalog"])
            .arg(&catalog)
            .output()
            .unwrap();
        assert!(ddl.status.success(), "{ddl:?}");

        // the wizard
        b.go(&format!("{url}#wizard")).await;
        b.find("select[name=from] option[value=l_PostGreSql]").await;
        b.set("select[name=from]", "l_PostGreSql").await;
        b.find("#src-tables option[value='ui_browser.person']").await;
        b.set("input[name=table]", "ui_browser.person").await;
        b.wait_text("source columns", 10).await;
        b.click("#data-preview summary").await;
        b.wait_text("name1", 10).await;
        b.screenshot("3-wizard-source").await;
        b.set("select[name=to]", "odps_first").await;
        b.find("#dst-tables option[value=hpg]").await;
        b.set("input[name=targetTable]", "hpg").await;
        b.wait_text("partition keys: pt", 10).await;
        let split = b.js("return document.querySelector('input[name=splitPk]').value", json!([])).await;
        assert_eq!(split, "id", "the split key is suggested from the primary key");
        let part = b.js("return document.querySelector('input[name=partition]').value", json!([])).await;
        assert_eq!(part, "pt=${bdp.system.bizdate}");
        b.screenshot("4-wizard-target").await;
        b.set("textarea[name=map]", "x='unclosed").await;
        b.wait_text("a constant is in single quotes", 5).await;
        b.screenshot("5-wizard-mapping").await;
        b.set("textarea[name=map]", "").await;
        b.set("input[name=concurrent]", "2").await;
        b.check_page("wizard").await;
        b.click("#generate").await;
        b.wait_text("Job composed", 20).await;
        b.set("input[name=bizdate]", "20261122").await;
        b.click("#validate").await;
        b.wait_text("Valid for business date 20261122", 20).await;
        b.screenshot("6-wizard-preview").await;
        b.set("input[name=file]", "export.json").await;
        b.click("#save-job").await;

        // Script Mode: a misspelt key is reported at its path
        b.wait_text("Run history", 10).await;
        let text = b.js("return document.querySelector('textarea[name=script]').value", json!([])).await;
        let text = text.as_str().unwrap().to_string();
        b.set("textarea[name=script]", &text.replacen("\"splitPk\"", "\"splitpk\"", 1)).await;
        b.click("#validate-job").await;
        b.wait_text("configuration.reader.parameter.splitpk", 20).await;
        b.screenshot("7-script-mode").await;
        b.set("textarea[name=script]", &text).await;

        // run it and watch the monitor
        b.set("input[name=bizdate]", "20261122").await;
        b.click("#run-job").await;
        b.wait_text("Summary", 10).await;
        b.wait_text("success", 120).await;
        b.wait_text("No dirty records", 10).await;
        b.check_page("monitor").await;
        b.screenshot("8-run-monitor").await;
        b.size(390, 844).await;
        b.check_page("monitor at 390x844").await;
        b.screenshot("9-run-monitor-phone").await;
        b.go(&format!("{url}#wizard")).await;
        b.wait_text("1. Source", 10).await;
        b.check_page("wizard at 390x844").await;
        b.size(1280, 800).await;

        // the rows, as pyodps reads them
        let py = std::env::var("FERRY_TEST_PYTHON").expect("set FERRY_TEST_PYTHON; run scripts/test");
        let out = tokio::process::Command::new(py)
            .args(["-c", r#"
import os
from odps import ODPS, options
options.enable_v4_sign = False
o = ODPS("ak", "x", "demo", endpoint=os.environ["EP"], tunnel_endpoint=os.environ["TEP"])
with o.get_table("hpg").open_reader(partition="pt=20261122") as r:
    rows = list(r)
print(len(rows))
"#])
            .env("EP", odps.endpoint())
            .env("TEP", odps.tunnel_endpoint())
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "300");
        b.cmd(reqwest::Method::DELETE, "", Value::Null).await;
        odps.shutdown().await.unwrap();
    });
}
