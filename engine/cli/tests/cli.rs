//! The `ferry` binary end to end: exit codes, summaries, the catalog, validation of the
//! seed jobs, and the one-command demo (both seed jobs unchanged against a throwaway
//! PostgreSQL and the local MaxCompute endpoint).

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ferry() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_closed_stdout_ends_ferry_quietly() {
    // `ferry job template ... | head -0`: the pipe's reader is gone before ferry writes.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = ferry()
        .args(["job", "template", "--reader", "pg", "--writer", "odps"])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(141), "{stderr}");
}

#[test]
fn progress_lines_give_the_readers_estimate_and_the_time_left() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("slow.json");
    // 150,000 rows at 100,000 records/s: about 1.5 s, so a progress line each second.
    std::fs::write(
        &job,
        r#"{"job": {"setting": {"speed": {"channel": 1, "record": 100000}},
            "content": [{"reader": {"name": "streamreader", "parameter": {
                "column": [{"type": "long", "random": "1,100", "name": "id"}],
                "sliceRecordCount": 150000}},
              "writer": {"name": "streamwriter", "parameter": {"print": false}}}]}}"#,
    )
    .unwrap();
    let out = ferry()
        .arg("run")
        .arg(&job)
        .args(["--progress-secs", "1"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains("| Splits "))
        .unwrap_or_else(|| panic!("no progress line: {}", text(&out)));
    assert!(line.contains("| Estimated 150000 records, "), "{line}");
    assert!(line.ends_with("s left"), "{line}");
}

#[test]
fn stream_demo_job_runs_and_its_summary_adds_up() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let out = ferry()
        .arg("run")
        .arg(repo().join("testdata/jobs/stream-demo.json"))
        .arg("--summary-json")
        .arg(&summary)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(s["status"], "success");
    assert_eq!(s["records_read"], 1_000_000);
    let read = s["records_read"].as_u64().unwrap();
    let sum = s["records_written"].as_u64().unwrap()
        + s["records_filtered"].as_u64().unwrap()
        + s["records_dirty"].as_u64().unwrap();
    assert_eq!(read, sum);
    for key in ["bytes_read", "bytes_written", "elapsed_secs"] {
        assert!(s.get(key).is_some(), "summary lacks {key}");
    }
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Records filtered"), "{err}");
}

#[test]
fn config_errors_exit_2_with_the_json_path() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("bad.json");
    std::fs::write(
        &job,
        r#"{"job": {"setting": {"speed": {"channel": 1}}, "content": [{
            "reader": {"name": "streamreader", "parameter": {"column": [{"type": "long", "value": 1}], "sliceRecordcount": 5}},
            "writer": {"name": "streamwriter", "parameter": {}}}]}}"#,
    )
    .unwrap();
    let out = ferry().arg("run").arg(&job).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("job.content[0].reader.parameter.sliceRecordcount: unknown key, did you mean \"sliceRecordCount\"?"),
        "{err}"
    );
    std::fs::write(&job, "{\"job\": {").unwrap();
    let out = ferry().arg("validate").arg(&job).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bad.json:1:"),
        "{}",
        text(&out)
    );
}

#[test]
fn unresolved_variables_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("vars.json");
    std::fs::write(
        &job,
        r#"{"job": {"setting": {"speed": {"channel": 1}}, "content": [{
            "reader": {"name": "streamreader", "parameter": {"column": [{"type": "string", "value": "${who}-$bizdate"}], "sliceRecordCount": 3}},
            "writer": {"name": "streamwriter", "parameter": {"print": true}}}]}}"#,
    )
    .unwrap();
    let out = ferry()
        .arg("run")
        .arg(&job)
        .arg("--progress-secs")
        .arg("0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("${who}"),
        "{}",
        text(&out)
    );
    let out = ferry()
        .arg("run")
        .arg(&job)
        .args(["-p", "who=ferry", "--bizdate", "20240229"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().filter(|l| *l == "ferry-20240229").count(),
        3,
        "{stdout}"
    );
}

#[test]
fn backfill_runs_once_per_business_date() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("bf.json");
    std::fs::write(
        &job,
        r#"{"job": {"setting": {"speed": {"channel": 1}}, "content": [{
            "reader": {"name": "streamreader", "parameter": {"column": [{"type": "string", "value": "${bdp.system.bizdate}"}], "sliceRecordCount": 1}},
            "writer": {"name": "streamwriter", "parameter": {"print": true}}}]}}"#,
    )
    .unwrap();
    let summary = dir.path().join("s.json");
    let out = ferry()
        .arg("run")
        .arg(&job)
        .args(["--bizdate", "20261130..20261202", "--summary-json"])
        .arg(&summary)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        vec!["20261130", "20261201", "20261202"]
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(s.as_array().map(|a| a.len()), Some(3));
}

fn pg_url() -> String {
    std::env::var("FERRY_TEST_PG_URL").expect("set FERRY_TEST_PG_URL; run scripts/test")
}

#[test]
fn datasource_add_list_test_remove_against_the_real_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("ds.json");
    let url = pg_url();
    // postgres://ferry:ferry@127.0.0.1:PORT/postgres -> jdbc form without the password
    let hostpart = url.split('@').nth(1).unwrap();
    let out = ferry()
        .args([
            "datasource",
            "add",
            "l_PostGreSql",
            "--type",
            "postgresql",
            "--jdbc-url",
        ])
        .arg(format!("jdbc:postgresql://{hostpart}"))
        .args([
            "--username",
            "ferry",
            "--password-env",
            "FERRY_TEST_PASSWORD",
            "--catalog",
        ])
        .arg(&catalog)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&catalog).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let out = ferry()
        .args(["datasource", "list", "--catalog"])
        .arg(&catalog)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("l_PostGreSql"),
        "{}",
        text(&out)
    );
    let out = ferry()
        .args(["datasource", "test", "l_PostGreSql", "--catalog"])
        .arg(&catalog)
        .env("FERRY_TEST_PASSWORD", "ferry")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("PostgreSQL"),
        "{}",
        text(&out)
    );
    let out = ferry()
        .args(["datasource", "test", "l_PostGreSql", "--catalog"])
        .arg(&catalog)
        .env("FERRY_TEST_PASSWORD", "wrong-secret-xyz")
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    let all = text(&out);
    assert!(
        !all.contains("wrong-secret-xyz"),
        "the password leaked: {all}"
    );
    let out = ferry()
        .args([
            "datasource",
            "add",
            "bad",
            "--type",
            "postgresql",
            "--jdbc-url",
            "jdbc:mysql://h:3306/db",
            "--catalog",
        ])
        .arg(&catalog)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("expected jdbc:postgresql://"),
        "{}",
        text(&out)
    );
    let out = ferry()
        .args(["datasource", "remove", "l_PostGreSql", "--catalog"])
        .arg(&catalog)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn demo_runs_both_seed_jobs_unchanged() {
    // Needs the PostgreSQL server binaries, which scripts/test installs.
    let _ = pg_url();
    let dir = tempfile::tempdir().unwrap();
    let out = ferry()
        .args(["demo", "--rows", "500", "--bizdate", "20261122", "--dir"])
        .arg(dir.path().join("demo"))
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("All steps matched"), "{all}");
    assert!(all.contains("pt=20261123"), "{all}");
}
