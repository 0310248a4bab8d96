//! `ferry job new` (the wizard) and `ferry job template`, end to end through the binary:
//! templates for every reader × writer pair parse and pass the connectors' checks; the
//! flag path writes jobs that run (PostgreSQL → PostgreSQL, → Parquet, → the local
//! MaxCompute endpoint); the interactive path is driven for real in a pseudo-terminal.

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use ferry_core::plugin::{ReaderFactory, WriterFactory};

fn ferry() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ferry"));
    c.env_remove("FERRY_CATALOG").stdin(Stdio::null());
    c
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
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

/// Password environment variable the test catalogs name.
const PW_ENV: &str = "FERRY_WIZARD_TEST_PASSWORD";

/// A catalog with `pg` pointing at the test server (password through the environment).
fn catalog_with_pg(dir: &Path) -> PathBuf {
    let catalog = dir.join("datasources.json");
    let (user, _, hostpart) = url_parts(&pg_url());
    let out = ferry()
        .args([
            "datasource",
            "add",
            "pg",
            "--type",
            "postgresql",
            "--jdbc-url",
        ])
        .arg(format!("jdbc:postgresql://{hostpart}"))
        .args(["--username", &user, "--password-env", PW_ENV, "--catalog"])
        .arg(&catalog)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    catalog
}

fn with_pw(mut c: Command) -> Command {
    c.env(PW_ENV, url_parts(&pg_url()).1);
    c
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Run statements on the test server.
fn pg_exec(sql: &str) {
    rt().block_on(async {
        let ep = ferry_postgres::PgEndpoint::parse(&pg_url(), None, None).unwrap();
        let c = ep.connect().await.unwrap();
        c.batch_execute(sql).await.unwrap();
    })
}

/// The first column of the first row, as text.
fn pg_text(sql: &str) -> String {
    rt().block_on(async {
        let ep = ferry_postgres::PgEndpoint::parse(&pg_url(), None, None).unwrap();
        let c = ep.connect().await.unwrap();
        let row = c.query_one(sql, &[]).await.unwrap();
        row.get::<_, Option<String>>(0).unwrap_or_default()
    })
}

/// Source `s` (id, "Name", year, extra) with `rows` rows, empty target `t`
/// (id, name, year, note) in schema `schema`.
fn source_and_target(schema: &str, rows: u32) {
    pg_exec(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};
         CREATE TABLE {schema}.s (id bigint PRIMARY KEY, \"Name\" text, year integer, extra text);
         INSERT INTO {schema}.s SELECT g, 'name ' || g, 2000 + g % 25, 'x' FROM generate_series(1, {rows}) g;
         UPDATE {schema}.s SET \"Name\" = NULL WHERE id % 97 = 0;
         CREATE TABLE {schema}.t (id bigint PRIMARY KEY, name text, year integer, note text);"
    ));
}

/// A digest of (id, name, year) of a table, in id order.
fn digest(table: &str, name_col: &str) -> String {
    pg_text(&format!(
        "SELECT count(*) || ':' || coalesce(md5(string_agg(id || '|' || coalesce({name_col}, '<null>') || '|' || year, ';' ORDER BY id)), '') FROM {table}"
    ))
}

fn run_job(job: &Path, catalog: &Path, extra: &[&str]) -> Output {
    with_pw(ferry())
        .arg("run")
        .arg(job)
        .args(["--progress-secs", "0", "--catalog"])
        .arg(catalog)
        .args(extra)
        .current_dir(job.parent().unwrap())
        .output()
        .unwrap()
}

fn job_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const PLUGINS: &[&str] = &["postgresql", "odps", "parquet", "stream"];

#[test]
fn templates_for_every_pair_parse_and_pass_the_connector_checks() {
    ferry_connectors::install();
    let vars = ferry_core::vars::VarContext::new(
        None,
        None,
        chrono::Local::now().date_naive(),
        Default::default(),
    );
    for r in PLUGINS {
        for w in PLUGINS {
            for datax in [false, true] {
                let mut c = ferry();
                c.args(["job", "template", "--reader", r, "--writer", w]);
                if datax {
                    c.arg("--datax");
                }
                let out = c.output().unwrap();
                assert_eq!(out.status.code(), Some(0), "{}", text(&out));
                let tpl = String::from_utf8(out.stdout).unwrap();
                let name = format!("{r}->{w} datax={datax}");
                let job = ferry_core::job::parse_job(&tpl, &name, &vars)
                    .unwrap_or_else(|e| panic!("{name}: {e}\n{tpl}"));
                assert_eq!(job.reader.plugin, *r);
                assert_eq!(job.writer.plugin, *w);
                let shape = if datax {
                    ferry_core::job::JobShape::DataX
                } else {
                    ferry_core::job::JobShape::DataWorksV1
                };
                assert_eq!(job.shape, shape, "{name}");
                let mut warnings = Vec::new();
                let rf: Box<dyn ReaderFactory> = match *r {
                    "postgresql" => Box::new(ferry_postgres::PostgresReaderFactory),
                    "odps" => Box::new(ferry_odps::OdpsReaderFactory),
                    "parquet" => Box::new(ferry_parquet::ParquetReaderFactory),
                    _ => Box::new(ferry_stream::StreamReaderFactory),
                };
                let wf: Box<dyn WriterFactory> = match *w {
                    "postgresql" => Box::new(ferry_postgres::writer::PostgresWriterFactory),
                    "odps" => Box::new(ferry_odps::OdpsWriterFactory),
                    "parquet" => Box::new(ferry_parquet::ParquetWriterFactory),
                    _ => Box::new(ferry_stream::StreamWriterFactory),
                };
                rf.check(&job.reader.params, &job.reader.path, &mut warnings)
                    .unwrap_or_else(|e| panic!("{name}: reader check: {e}\n{tpl}"));
                wf.check(&job.writer.params, &job.writer.path, &mut warnings)
                    .unwrap_or_else(|e| panic!("{name}: writer check: {e}\n{tpl}"));
                // every optional line is valid too: uncomment them all (keeping the other
                // flavour's connection keys commented) and parse again
                let all: String = tpl
                    .lines()
                    .map(|l| {
                        let t = l.trim_start();
                        let conn_key = [
                            "\"connection\"",
                            "\"table\"",
                            "\"username\"",
                            "\"password\"",
                            "\"datasource\"",
                            "\"accessId\"",
                            "\"accessKey\"",
                            "\"odpsServer\"",
                            "\"project\"",
                            "\"querySql\"",
                            "\"conflictMode\"",
                            "\"channel\"",
                            "\"concurrent\"",
                            "\"securityToken\"",
                            "\"tunnelServer\"",
                            "\"isCompress\"",
                        ]
                        .iter()
                        .any(|k| t.starts_with(&format!("// {k}")));
                        if t.starts_with("// \"") && !conn_key {
                            l.replacen("// \"", "\"", 1)
                        } else {
                            l.to_string()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                let job = ferry_core::job::parse_job(&all, &name, &vars)
                    .unwrap_or_else(|e| panic!("{name} (all options): {e}\n{all}"));
                rf.check(&job.reader.params, &job.reader.path, &mut warnings)
                    .unwrap_or_else(|e| panic!("{name} (all options): reader: {e}\n{all}"));
                wf.check(&job.writer.params, &job.writer.path, &mut warnings)
                    .unwrap_or_else(|e| panic!("{name} (all options): writer: {e}\n{all}"));
            }
        }
    }
}

#[test]
fn template_names_accept_datax_spellings_and_reject_unknown_ones() {
    ferry_connectors::install();
    let out = ferry()
        .args([
            "job",
            "template",
            "-r",
            "postgresqlreader",
            "-w",
            "ODPSWriter",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("\"plugin\": \"postgresql\"") && s.contains("\"plugin\": \"odps\""));
    assert!(
        s.contains("\"splitPk\"") && s.contains("// \"blockSizeInMB\": 64"),
        "{s}"
    );

    let out = ferry()
        .args(["job", "template", "--reader", "mysql", "--writer", "odps"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    for name in PLUGINS {
        assert!(err.contains(name), "{err}");
    }
    assert!(err.contains("--reader mysql"), "{err}");
    let out = ferry()
        .args([
            "job",
            "template",
            "--reader",
            "odps",
            "--writer",
            "postgresqlreader",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn flag_path_writes_a_postgres_job_that_runs_and_copies_the_table() {
    ferry_connectors::install();
    let schema = "wizard_flags";
    source_and_target(schema, 3000);
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog_with_pg(dir.path());
    let job = dir.path().join("job.json");
    let out = with_pw(ferry())
        .args(["job", "new", "--from", "pg", "--table"])
        .arg(format!("{schema}.s"))
        .args(["--to", "pg", "--target-table"])
        .arg(format!("{schema}.t"))
        .args(["--yes", "--out"])
        .arg(&job)
        .arg("--catalog")
        .arg(&catalog)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // stdout is the job, the notes go to stderr
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let j = job_json(&job);
    assert_eq!(printed, j);
    let r = &j["configuration"]["reader"]["parameter"];
    let w = &j["configuration"]["writer"]["parameter"];
    assert_eq!(r["splitPk"], "id", "integer primary key suggested: {j}");
    assert_eq!(r["column"], serde_json::json!(["id", "\"Name\"", "year"]));
    assert_eq!(w["column"], serde_json::json!(["id", "name", "year"]));
    assert_eq!(w["writeMode"], "insert");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("note") && err.contains("extra"),
        "unmatched columns reported: {err}"
    );

    let out = with_pw(ferry())
        .arg("validate")
        .arg(&job)
        .arg("--catalog")
        .arg(&catalog)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = run_job(&job, &catalog, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let want = digest(&format!("{schema}.s"), "\"Name\"");
    assert!(want.starts_with("3000:"), "{want}");
    assert_eq!(digest(&format!("{schema}.t"), "name"), want);

    // On Conflict Do Update over the loaded rows: same contents, changed rows replaced
    pg_exec(&format!("UPDATE {schema}.s SET year = 1999 WHERE id <= 10"));
    let job2 = dir.path().join("upsert.json");
    let out = with_pw(ferry())
        .args(["job", "new", "--from", "pg", "--table"])
        .arg(format!("{schema}.s"))
        .args(["--to", "pg", "--target-table"])
        .arg(format!("{schema}.t"))
        .args([
            "--conflict",
            "On Conflict Do Update",
            "--concurrent",
            "3",
            "--mbps",
            "50",
            "--error-limit",
            "5",
            "--datax",
            "-y",
            "--out",
        ])
        .arg(&job2)
        .arg("--catalog")
        .arg(&catalog)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let j = job_json(&job2);
    assert_eq!(j["job"]["content"][0]["reader"]["name"], "postgresqlreader");
    assert_eq!(
        j["job"]["content"][0]["writer"]["parameter"]["writeMode"],
        "update"
    );
    assert_eq!(j["job"]["setting"]["speed"]["channel"], 3);
    assert_eq!(j["job"]["setting"]["speed"]["byte"], 50 * 1_048_576);
    assert_eq!(j["job"]["setting"]["errorLimit"]["record"], 5);
    let out = run_job(&job2, &catalog, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        digest(&format!("{schema}.t"), "name"),
        digest(&format!("{schema}.s"), "\"Name\"")
    );
}

#[test]
fn flag_path_by_hand_with_constants_and_position() {
    ferry_connectors::install();
    let schema = "wizard_hand";
    source_and_target(schema, 200);
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog_with_pg(dir.path());
    let job = dir.path().join("hand.json");
    let out = with_pw(ferry())
        .args(["job", "new", "--from", "pg", "--table"])
        .arg(format!("{schema}.s"))
        .args(["--to", "pg", "--target-table"])
        .arg(format!("{schema}.t"))
        .args([
            "--map",
            "id=id",
            "--map",
            "NAME=upper(\"Name\")",
            "--map",
            "year=2026",
            "--map",
            "note='from the wizard'",
            "--where",
            "id <= 50",
            "--pre-sql",
            "DELETE FROM @table",
            "--yes",
            "--out",
        ])
        .arg(&job)
        .arg("--catalog")
        .arg(&catalog)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = run_job(&job, &catalog, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        pg_text(&format!(
            "SELECT count(*) || ':' || count(*) FILTER (WHERE year = 2026 AND note = 'from the wizard') || ':' || max(name) FROM {schema}.t"
        )),
        "50:50:NAME 9"
    );

    // by position: s (id, Name, year, extra) -> t (id, name, year, note)
    let job = dir.path().join("pos.json");
    let out = with_pw(ferry())
        .args(["job", "new", "--from", "pg", "--table"])
        .arg(format!("{schema}.s"))
        .args(["--to", "pg", "--target-table"])
        .arg(format!("{schema}.t"))
        .args([
            "--mapping",
            "position",
            "--truncate",
            "true",
            "--yes",
            "--out",
        ])
        .arg(&job)
        .arg("--catalog")
        .arg(&catalog)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = run_job(&job, &catalog, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        pg_text(&format!(
            "SELECT count(*) || ':' || count(*) FILTER (WHERE note = 'x') FROM {schema}.t"
        )),
        "200:200"
    );
}

#[test]
fn missing_answers_without_a_terminal_fail_naming_the_flag() {
    ferry_connectors::install();
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog_with_pg(dir.path());
    let start = std::time::Instant::now();
    let out = with_pw(ferry())
        .args(["job", "new", "--from", "pg", "--catalog"])
        .arg(&catalog)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--table"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(30));
    // --yes cannot invent a datasource either
    let out = with_pw(ferry())
        .args(["job", "new", "--yes", "--catalog"])
        .arg(&catalog)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--from"),
        "{}",
        text(&out)
    );
    // a datasource that is not in the catalog
    let out = with_pw(ferry())
        .args(["job", "new", "--from", "nope", "--yes", "--catalog"])
        .arg(&catalog)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn flag_path_postgres_to_parquet_runs() {
    ferry_connectors::install();
    let schema = "wizard_parquet";
    source_and_target(schema, 1234);
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog_with_pg(dir.path());
    let job = dir.path().join("pq.json");
    let staged = dir.path().join("staged");
    let out = with_pw(ferry())
        .args(["job", "new", "--from", "pg", "--table"])
        .arg(format!("{schema}.s"))
        .args(["--to", "parquet", "--target-table"])
        .arg(&staged)
        .args(["--yes", "--out"])
        .arg(&job)
        .arg("--catalog")
        .arg(&catalog)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let j = job_json(&job);
    assert_eq!(j["configuration"]["writer"]["plugin"], "parquet");
    let out = run_job(&job, &catalog, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = ferry()
        .args(["sql", "--format", "csv"])
        .arg(format!(
            "SELECT count(*) AS n, sum(id) AS s, count(\"Name\") AS names FROM '{}'",
            staged.display()
        ))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let csv = String::from_utf8_lossy(&out.stdout);
    let nulls = 1234 / 97;
    assert!(
        csv.contains(&format!("1234,{},{}", 1234 * 1235 / 2, 1234 - nulls)),
        "{csv}"
    );

    // and back from the Parquet files into PostgreSQL, mapped by name
    let back = dir.path().join("back.json");
    let out = with_pw(ferry())
        .args(["job", "new", "--from", "parquet", "--table"])
        .arg(&staged)
        .args(["--to", "pg", "--target-table"])
        .arg(format!("{schema}.t"))
        .args(["--yes", "--out"])
        .arg(&back)
        .arg("--catalog")
        .arg(&catalog)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let j = job_json(&back);
    assert_eq!(j["configuration"]["reader"]["plugin"], "parquet");
    assert_eq!(
        j["configuration"]["reader"]["parameter"]["column"],
        serde_json::json!(["id", "Name", "year"])
    );
    let out = run_job(&back, &catalog, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        digest(&format!("{schema}.t"), "name"),
        digest(&format!("{schema}.s"), "\"Name\"")
    );
}

#[test]
fn flag_path_postgres_to_local_maxcompute_as_in_the_issue() {
    ferry_connectors::install();
    let schema = "wizard_odps";
    source_and_target(schema, 700);
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog_with_pg(dir.path());
    let runtime = rt();
    let server = runtime
        .block_on(ferry_odps_server::start(
            ferry_odps_server::ServeOptions::new(dir.path().join("odps")),
        ))
        .unwrap();
    let out = ferry()
        .args([
            "datasource",
            "add",
            "odps_first",
            "--type",
            "odps",
            "--endpoint",
        ])
        .arg(server.endpoint())
        .args([
            "--tunnel-endpoint",
            &server.tunnel_endpoint(),
            "--project",
            "demo",
            "--access-id",
            "ak",
            "--access-key",
            "unused-secret",
            "--catalog",
        ])
        .arg(&catalog)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = ferry()
        .args([
            "odps",
            "sql",
            "--datasource",
            "odps_first",
            "CREATE TABLE hpg (id BIGINT, name STRING, year BIGINT) PARTITIONED BY (pt STRING)",
            "--catalog",
        ])
        .arg(&catalog)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let job = dir.path().join("export.json");
    let out = with_pw(ferry())
        .args(["job", "new", "--from", "pg", "--table"])
        .arg(format!("{schema}.s"))
        .args([
            "--to",
            "odps_first",
            "--target-table",
            "hpg",
            "--partition",
            "pt=${bdp.system.bizdate}",
            "--yes",
            "--out",
        ])
        .arg(&job)
        .arg("--catalog")
        .arg(&catalog)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let j = job_json(&job);
    let w = &j["configuration"]["writer"]["parameter"];
    assert_eq!(w["partition"], "pt=${bdp.system.bizdate}");
    assert_eq!(w["truncate"], true);
    let out = run_job(&job, &catalog, &["--bizdate", "20261122"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // and back: the wizard reading the ODPS partition into the PostgreSQL target
    let back = dir.path().join("import.json");
    let out = with_pw(ferry())
        .args([
            "job",
            "new",
            "--from",
            "odps_first",
            "--table",
            "hpg",
            "--to",
            "pg",
        ])
        .arg("--target-table")
        .arg(format!("{schema}.t"))
        .args(["--yes", "--out"])
        .arg(&back)
        .arg("--catalog")
        .arg(&catalog)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let j = job_json(&back);
    assert_eq!(
        j["configuration"]["reader"]["parameter"]["partition"],
        "pt=${bdp.system.bizdate}"
    );
    let out = run_job(&back, &catalog, &["--bizdate", "20261122"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        digest(&format!("{schema}.t"), "name"),
        digest(&format!("{schema}.s"), "\"Name\"")
    );

    // the same import picked in a terminal: the tables are listed from the ODPS REST API
    let tty_job = dir.path().join("import-tty.json");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
    cmd.args(["job", "new", "--catalog"])
        .arg(&catalog)
        .args(["--to", "pg", "--target-table"])
        .arg(format!("{schema}.t"))
        .args([
            "--mapping",
            "name",
            "--conflict",
            "insert",
            "--truncate",
            "true",
            "--concurrent",
            "1",
            "--error-limit",
            "0",
            "--out",
        ])
        .arg(&tty_job)
        .env_remove("FERRY_CATALOG")
        .env(PW_ENV, url_parts(&pg_url()).1)
        .current_dir(dir.path());
    let mut s = rexpect::session::spawn_command(cmd, Some(30_000)).unwrap();
    s.exp_string("Source datasource:").unwrap();
    s.exp_string("number: ").unwrap();
    s.send_line("odps_first").unwrap();
    s.exp_string("Source table on odps_first:").unwrap();
    s.exp_string("1) hpg").unwrap();
    s.exp_string("number or name: ").unwrap();
    s.send_line("1").unwrap();
    s.exp_string("Source partition of hpg (keys pt)").unwrap();
    s.exp_string("[pt=${bdp.system.bizdate}]: ").unwrap();
    s.send_line("pt=20261122").unwrap();
    s.exp_string("Data preview of hpg").unwrap();
    // Which rows come first depends on the order of the blocks the export committed.
    s.exp_string("name (Utf8)").unwrap();
    s.exp_string("Columns: id bigint, name string").unwrap();
    s.exp_string("(preSql)").unwrap();
    s.send_line("").unwrap();
    s.exp_string("(postSql)").unwrap();
    s.send_line("").unwrap();
    s.exp_string("Maximum rate in MiB/s").unwrap();
    s.send_line("").unwrap();
    s.exp_string("saved").unwrap();
    s.exp_eof().unwrap();
    let j = job_json(&tty_job);
    assert_eq!(
        j["configuration"]["reader"]["parameter"]["partition"],
        "pt=20261122"
    );
    assert_eq!(j["configuration"]["writer"]["parameter"]["truncate"], true);
    let out = run_job(&tty_job, &catalog, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        digest(&format!("{schema}.t"), "name"),
        digest(&format!("{schema}.s"), "\"Name\"")
    );
    runtime.block_on(server.shutdown()).unwrap();
}

#[test]
fn interactive_session_in_a_pseudo_terminal() {
    ferry_connectors::install();
    let schema = "aaa_wizard_tty"; // sorts first in the (capped) table list
    source_and_target(schema, 800);
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog_with_pg(dir.path());
    let out_file = dir.path().join("tty.json");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
    cmd.args(["job", "new", "--catalog"])
        .arg(&catalog)
        .env_remove("FERRY_CATALOG")
        .env(PW_ENV, url_parts(&pg_url()).1)
        .current_dir(dir.path());
    let mut s = rexpect::session::spawn_command(cmd, Some(30_000)).unwrap();
    s.exp_string("Source datasource:").unwrap();
    s.exp_string("(local Parquet files)").unwrap();
    s.exp_string("number: ").unwrap();
    s.send_line("1").unwrap();
    s.exp_string("Source table on pg:").unwrap();
    s.exp_string(&format!("{schema}.s")).unwrap();
    s.exp_string("number or name: ").unwrap();
    s.send_line("public.no_such_table_for_the_wizard").unwrap();
    s.exp_string("does not exist; try again").unwrap();
    s.exp_string("number or name: ").unwrap();
    s.send_line(&format!("{schema}.s")).unwrap();
    s.exp_string("Data preview").unwrap();
    s.exp_string("name 1").unwrap();
    s.exp_string("Filter (where)").unwrap();
    s.send_line("id <= 500").unwrap();
    s.exp_string("integer primary key").unwrap();
    s.exp_string("[id]").unwrap();
    s.send_line("").unwrap();
    s.exp_string("Target datasource:").unwrap();
    s.exp_string("number: ").unwrap();
    s.send_line("pg").unwrap();
    s.exp_string("Target table on pg:").unwrap();
    s.exp_string("number or name: ").unwrap();
    s.send_line(&format!("{schema}.t")).unwrap();
    s.exp_string("Field mapping:").unwrap();
    s.exp_string("[name]: ").unwrap();
    s.send_line("3").unwrap();
    s.exp_string("id (bigint) <-").unwrap();
    s.send_line("").unwrap();
    s.exp_string("name (text) <-").unwrap();
    s.send_line("").unwrap();
    s.exp_string("year (integer) <-").unwrap();
    s.send_line("").unwrap();
    s.exp_string("note (text) <-").unwrap();
    s.send_line("'typed in a terminal'").unwrap();
    s.exp_string("(preSql)").unwrap();
    s.send_line("DELETE FROM @table").unwrap();
    s.exp_string("(postSql)").unwrap();
    s.send_line("").unwrap();
    s.exp_string("Primary key conflict:").unwrap();
    s.exp_string("[insert]: ").unwrap();
    s.send_line("2").unwrap();
    s.exp_string("(truncate)? [y/N]").unwrap();
    s.send_line("n").unwrap();
    s.exp_string("Concurrent channels [2]").unwrap();
    s.send_line("3").unwrap();
    s.exp_string("Maximum rate in MiB/s").unwrap();
    s.send_line("20").unwrap();
    s.exp_string("(errorLimit) [0]").unwrap();
    s.send_line("").unwrap();
    s.exp_string("== 6/6 Preview and save ==").unwrap();
    s.exp_string("Save the job to [s_to_t.json]: ").unwrap();
    s.send_line(out_file.to_str().unwrap()).unwrap();
    s.exp_string("saved").unwrap();
    s.exp_eof().unwrap();

    let j = job_json(&out_file);
    let r = &j["configuration"]["reader"]["parameter"];
    let w = &j["configuration"]["writer"]["parameter"];
    assert_eq!(r["where"], "id <= 500", "{j}");
    assert_eq!(r["splitPk"], "id");
    assert_eq!(
        r["column"],
        serde_json::json!(["id", "\"Name\"", "year", "'typed in a terminal'"])
    );
    assert_eq!(w["writeMode"], "ignore");
    assert_eq!(w["preSql"], serde_json::json!(["DELETE FROM @table"]));
    assert_eq!(j["configuration"]["setting"]["speed"]["concurrent"], 3);
    assert_eq!(j["configuration"]["setting"]["speed"]["mbps"], 20);
    let out = run_job(&out_file, &catalog, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        pg_text(&format!(
            "SELECT count(*) || ':' || count(*) FILTER (WHERE note = 'typed in a terminal') FROM {schema}.t"
        )),
        "500:500"
    );
}
