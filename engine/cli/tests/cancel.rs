//! `ferry run` cancelled by Ctrl-C (SIGINT) or SIGTERM in the middle of a load: the job
//! fails with "cancelled", and the writer's abort leaves the target as it was — no
//! staging table, no prepared transaction, no lock left behind.

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn pg_url() -> String {
    std::env::var("FERRY_TEST_PG_URL").expect("set FERRY_TEST_PG_URL; run scripts/test")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn pg_i64(sql: &str) -> i64 {
    rt().block_on(async {
        let ep = ferry_postgres::PgEndpoint::parse(&pg_url(), None, None).unwrap();
        let c = ep.connect().await.unwrap();
        c.query_one(sql, &[]).await.unwrap().get::<_, i64>(0)
    })
}

fn pg_exec(sql: &str) {
    rt().block_on(async {
        let ep = ferry_postgres::PgEndpoint::parse(&pg_url(), None, None).unwrap();
        let c = ep.connect().await.unwrap();
        c.batch_execute(sql).await.unwrap();
    })
}

/// Start a slow 2-channel stream → PostgreSQL load into `schema.t`, wait until the
/// writer is loading, send `signal`, and check what the job and the table look like.
fn cancel_case(schema: &str, writer_extra: &str, signal: &str) {
    pg_exec(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};
         CREATE TABLE {schema}.t (id bigint, name text); INSERT INTO {schema}.t VALUES (0, 'keep');"
    ));
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.json");
    std::fs::write(
        &job,
        format!(
            r#"{{"job": {{"setting": {{"speed": {{"channel": 2, "record": 20000}}}},
              "content": [{{
                "reader": {{"name": "streamreader", "parameter": {{
                    "column": [{{"type": "long", "random": "1,1000000"}}, {{"type": "string", "value": "new"}}],
                    "sliceRecordCount": 1000000}}}},
                "writer": {{"name": "postgresqlwriter", "parameter": {{
                    "connection": [{{"jdbcUrl": "{}", "table": ["{schema}.t"]}}],
                    "column": ["id", "name"]{writer_extra}}}}}}}]}}}}"#,
            pg_url()
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("run")
        .arg(&job)
        .args(["--progress-secs", "0", "--dirty-file"])
        .arg(dir.path().join("dirty.jsonl"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Loading has begun once the writer's backends hold a lock on the table (two-phase)
    // or a staging table exists (staged).
    let started = Instant::now();
    loop {
        let busy = pg_i64(&format!(
            "SELECT (SELECT count(*) FROM pg_tables WHERE schemaname = '{schema}' AND tablename LIKE 'ferry_stage%') \
             + (SELECT count(*) FROM pg_locks WHERE relation = '{schema}.t'::regclass AND pid <> pg_backend_pid())"
        ));
        if busy > 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the load never started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let kill = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cancelling"), "{stderr}");
    assert!(stderr.contains("error: cancelled"), "{stderr}");
    // The target is as it was, and nothing of the load is left on the server.
    assert_eq!(pg_i64(&format!("SELECT count(*) FROM {schema}.t")), 1);
    assert_eq!(
        pg_i64(&format!(
            "SELECT count(*) FROM pg_tables WHERE schemaname = '{schema}' AND tablename LIKE 'ferry_stage%'"
        )),
        0
    );
    pg_exec(&format!(
        "BEGIN; SET LOCAL lock_timeout = '3s'; LOCK TABLE {schema}.t IN ACCESS EXCLUSIVE MODE; COMMIT"
    ));
}

#[test]
fn ctrl_c_during_a_two_phase_load_leaves_the_target_unchanged() {
    cancel_case("cancel_2pc", "", "-INT");
}

#[test]
fn sigterm_during_a_staged_load_drops_the_staging_tables() {
    cancel_case(
        "cancel_staged",
        r#", "truncate": true, "resumable": true"#,
        "-TERM",
    );
}

#[test]
fn sigterm_during_a_shared_single_transaction_load_leaves_the_target_unchanged() {
    // Two channels, no prepared transactions: one transaction the channels take turns on.
    cancel_case(
        "cancel_single",
        r#", "preparedTransactions": false"#,
        "-TERM",
    );
}
