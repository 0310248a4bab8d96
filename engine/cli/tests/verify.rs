//! `ferry verify` and `ferry run --verify` against a real PostgreSQL and Parquet files:
//! a good copy passes, a changed, missing or extra row fails with the counts.

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

fn pg_url() -> String {
    std::env::var("FERRY_TEST_PG_URL").expect("set FERRY_TEST_PG_URL; run scripts/test")
}

fn pg_exec(sql: &str) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let ep = ferry_postgres::PgEndpoint::parse(&pg_url(), None, None).unwrap();
            let c = ep.connect().await.unwrap();
            c.batch_execute(sql).await.unwrap();
        })
}

/// `ferry ARGS`: (exit code, stdout + stderr).
fn ferry(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

fn source(schema: &str) {
    pg_exec(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};
         CREATE TABLE {schema}.src (id bigint PRIMARY KEY, name text, amount numeric(10,2), at timestamptz);
         INSERT INTO {schema}.src SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE 'n' || g END,
             g * 1.25, '2026-11-22 10:00:00+00'::timestamptz + g * interval '1 minute'
           FROM generate_series(1, 1000) g;
         CREATE TABLE {schema}.dst (id bigint PRIMARY KEY, name text, amount numeric(10,2), at timestamptz, tag text);
         INSERT INTO {schema}.dst VALUES (-1, 'old', 0, now(), 'x');"
    ));
}

fn reader(schema: &str) -> String {
    format!(
        r#"{{"name": "postgresqlreader", "parameter": {{
            "connection": [{{"jdbcUrl": ["{url}"], "table": ["{schema}.src"]}}],
            "column": ["id", "name", "amount", "at", "'v1'"], "splitPk": "id",
            "where": "id <= 900"}}}}"#,
        url = pg_url()
    )
}

fn write_job(dir: &Path, name: &str, schema: &str, writer: &str) -> String {
    let job = format!(
        r#"{{"job": {{"setting": {{"speed": {{"channel": 2}}}},
            "content": [{{"reader": {reader}, "writer": {writer}}}]}}}}"#,
        reader = reader(schema)
    );
    let path = dir.join(name);
    std::fs::write(&path, job).unwrap();
    path.to_str().unwrap().to_string()
}

/// The verdict's lines naming a split: `  split N (DESCRIPTION): M of its R rows ...`.
fn split_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("  split "))
        .map(str::to_string)
        .collect()
}

/// Whether a split line's `id >= A AND id < B` range holds `id`.
fn covers(line: &str, id: i64) -> bool {
    let bound = |key: &str| -> Option<i64> {
        let at = line.find(key)? + key.len();
        let digits: String = line[at..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '-')
            .collect();
        digits.parse().ok()
    };
    let lo = bound("id >= ").unwrap_or(i64::MIN);
    match (bound("id < "), bound("id <= ")) {
        (Some(hi), _) => lo <= id && id < hi,
        (None, Some(hi)) => lo <= id && id <= hi,
        (None, None) => lo <= id,
    }
}

#[test]
fn a_postgresql_copy_verifies_and_a_changed_row_fails() {
    let schema = "verify_pg";
    source(schema);
    let dir = tempfile::tempdir().unwrap();
    let writer = format!(
        r#"{{"name": "postgresqlwriter", "parameter": {{
            "connection": [{{"jdbcUrl": "{url}", "table": ["{schema}.dst"]}}],
            "column": ["id", "name", "amount", "at", "tag"], "truncate": true}}}}"#,
        url = pg_url()
    );
    let job = write_job(dir.path(), "pg.json", schema, &writer);
    let (code, text) = ferry(
        dir.path(),
        &["run", &job, "--progress-secs", "0", "--verify"],
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(
            "Verify                : ok: the target holds exactly the rows the source gives"
        ),
        "{text}"
    );
    assert!(text.contains("Source                : 900 rows"), "{text}");

    // One value changed: same count, the contents differ.
    pg_exec(&format!(
        "UPDATE {schema}.dst SET amount = amount + 0.01 WHERE id = 450"
    ));
    let (code, text) = ferry(dir.path(), &["verify", &job]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("MISMATCH: 900 rows on both sides, but their contents differ"),
        "{text}"
    );
    // ... and the split that holds row 450 is named.
    let named = split_lines(&text);
    assert_eq!(named.len(), 1, "{text}");
    assert!(covers(&named[0], 450), "{text}");
    assert!(named[0].contains(": 1 of its "), "{text}");
    assert!(
        text.contains("the target holds 1 rows the source does not give"),
        "{text}"
    );
    // A NULL made a value: also seen.
    pg_exec(&format!(
        "UPDATE {schema}.dst SET amount = amount - 0.01 WHERE id = 450;
         UPDATE {schema}.dst SET name = '' WHERE id = 7"
    ));
    let (code, text) = ferry(dir.path(), &["verify", &job]);
    assert_eq!(code, Some(1), "{text}");
    // A row missing.
    pg_exec(&format!(
        "UPDATE {schema}.dst SET name = NULL WHERE id = 7; DELETE FROM {schema}.dst WHERE id = 3"
    ));
    let (code, text) = ferry(dir.path(), &["verify", &job]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("MISMATCH: the source gives 900 rows, the target holds 899"),
        "{text}"
    );
    let named = split_lines(&text);
    assert_eq!(named.len(), 1, "{text}");
    assert!(
        covers(&named[0], 3) && named[0].contains(": 1 of its "),
        "{text}"
    );
    assert!(!text.contains("rows the source does not give"), "{text}");
    // Put back: it passes again.
    pg_exec(&format!(
        "INSERT INTO {schema}.dst SELECT id, name, amount, at, 'v1' FROM {schema}.src WHERE id = 3"
    ));
    let (code, text) = ferry(dir.path(), &["verify", &job]);
    assert_eq!(code, Some(0), "{text}");
}

#[test]
fn a_job_that_does_not_own_the_target_compares_counts_only() {
    let schema = "verify_append";
    source(schema);
    let dir = tempfile::tempdir().unwrap();
    let writer = format!(
        r#"{{"name": "postgresqlwriter", "parameter": {{
            "connection": [{{"jdbcUrl": "{url}", "table": ["{schema}.dst"]}}],
            "column": ["id", "name", "amount", "at", "tag"]}}}}"#,
        url = pg_url()
    );
    let job = write_job(dir.path(), "append.json", schema, &writer);
    let (code, text) = ferry(
        dir.path(),
        &["run", &job, "--progress-secs", "0", "--verify"],
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("ok (counts only)"), "{text}");
    pg_exec(&format!(
        "DELETE FROM {schema}.dst WHERE id > 0 AND id <= 10"
    ));
    let (code, text) = ferry(dir.path(), &["verify", &job]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("MISMATCH: the source gives 900 rows, the target holds only 891"),
        "{text}"
    );
    // The ten rows are named by their split (the target's other row is not listed).
    let named = split_lines(&text);
    assert_eq!(named.len(), 1, "{text}");
    assert!(covers(&named[0], 1) && covers(&named[0], 10), "{text}");
    assert!(named[0].contains(": 10 of its "), "{text}");
}

#[test]
fn a_parquet_copy_verifies_and_a_missing_file_fails() {
    let schema = "verify_pq";
    source(schema);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let writer = format!(
        r#"{{"name": "parquet", "parameter": {{"path": "{}", "writeMode": "truncate",
            "column": ["id", "name", "amount", "at", "tag"]}}}}"#,
        out.display()
    );
    let job = write_job(dir.path(), "pq.json", schema, &writer);
    let (code, text) = ferry(dir.path(), &["run", &job, "--progress-secs", "0"]);
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = ferry(dir.path(), &["verify", &job]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("Target                : 900 rows"), "{text}");
    let mut files: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 2, "{files:?}");
    std::fs::remove_file(&files[0]).unwrap();
    let (code, text) = ferry(dir.path(), &["verify", &job]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("MISMATCH: the source gives 900 rows"),
        "{text}"
    );
}
