//! `ferry run` against a real PostgreSQL that misbehaves mid-load: a reader backend and a
//! writer backend terminated (a failover, an idle-session killer), and a table lock held
//! by another session. The failed splits are retried, the target ends exact, the summary
//! says what was retried, and nothing is left behind.
//!
//! And ferry itself killed (`SIGKILL`, at a random point of the load): the run directory
//! says the run was abandoned, the next run of the job says so too, and `ferry runs abort`
//! drops what the dead run staged (staging tables, prepared transactions, temporary
//! Parquet files), leaving the target as the committed runs made it.

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::{pg_exec, pg_i64, pg_url, prepared_of, rt, src_dst_tables, walk, OdpsServer};

fn spawn_run(dir: &Path, job: &str) -> Child {
    let path = dir.join("job.json");
    std::fs::write(&path, job).unwrap();
    Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("run")
        .arg(&path)
        .args(["--progress-secs", "0", "--dirty-file"])
        .arg(dir.join("dirty.jsonl"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: Child) -> (Output, String) {
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

/// Terminate one backend of the job whose URL says `application_name=app` and that
/// matches `cond` (a `pg_stat_activity` predicate), waiting up to 60 s for one (other
/// tests' ferry sessions run at the same time: they are left alone). Returns `false` when
/// the job ended first.
fn terminate_one(app: &str, cond: &str, child: &mut Child) -> bool {
    let started = Instant::now();
    loop {
        let n = pg_i64(&format!(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = '{app}' AND {cond} AND pid <> pg_backend_pid() LIMIT 1) t"
        ));
        if n > 0 {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no backend matched {cond}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The summary's `Retries` count.
fn retries(text: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix("Retries               : "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

fn stage_tables(schema: &str) -> i64 {
    pg_i64(&format!(
        "SELECT count(*) FROM pg_tables WHERE schemaname = '{schema}' AND tablename LIKE 'ferry_stage%'"
    ))
}

#[test]
fn terminated_reader_and_writer_backends_are_retried_and_the_load_is_exact() {
    let schema = "retry_kill";
    pg_exec(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};
         CREATE TABLE {schema}.src (id bigint PRIMARY KEY, name text);
         INSERT INTO {schema}.src SELECT g, repeat('n', 200) || g FROM generate_series(1, 20000) g;
         CREATE TABLE {schema}.dst (id bigint PRIMARY KEY, name text);
         INSERT INTO {schema}.dst VALUES (-1, 'old');"
    ));
    let dir = tempfile::tempdir().unwrap();
    let ep = ferry_postgres::PgEndpoint::parse(&pg_url(), None, None).unwrap();
    // The source query sleeps a little per row, so that each split's COPY is still
    // running when its backend is terminated and the load lasts a few seconds; truncate
    // with `resumable` → the staged plan, which also retries a lost writer connection.
    let job = format!(
        r#"{{"job": {{"setting": {{"speed": {{"channel": 2}},
              "retry": {{"retryIntervalInMsec": 100, "maxWaitInMsec": 500}}}},
          "content": [{{
            "reader": {{"name": "postgresqlreader", "parameter": {{
                "connection": [{{"jdbcUrl": ["{url}"], "table": ["{schema}.src"]}}],
                "username": "{user}", "password": "{password}",
                "column": ["id", "name"], "splitPk": "id",
                "where": "pg_sleep(0.0002) IS NOT NULL"}}}},
            "writer": {{"name": "postgresqlwriter", "parameter": {{
                "connection": [{{"jdbcUrl": "{url}", "table": ["{schema}.dst"]}}],
                "column": ["id", "name"], "truncate": true, "resumable": true}}}}}}]}}}}"#,
        url = format!("{}?application_name=ferry_retry_kill", pg_url()),
        user = ep.user,
        password = ep.password().unwrap_or("")
    );
    let mut child = spawn_run(dir.path(), &job);
    // A reader's COPY first, then a writer's connection inside a split's transaction (the
    // staged plan opens one per split: `BEGIN`, then a COPY per batch). The source query
    // is slow, so both last for the whole split. The writer is killed after the reader's
    // failed attempt was rolled back, so the two cost two attempts, whichever channels.
    let app = "ferry_retry_kill";
    let killed = terminate_one(
        app,
        "state = 'active' AND query LIKE 'COPY (SELECT%'",
        &mut child,
    ) && {
        std::thread::sleep(Duration::from_millis(300));
        terminate_one(
            app,
            "state = 'idle in transaction' AND query = 'BEGIN'",
            &mut child,
        )
    };
    let (out, text) = finish(child);
    assert!(
        killed,
        "the job ended before both backends were terminated: {text}"
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    // Both terminations cost a split attempt (more only if one hit two backends' splits).
    assert!(retries(&text) >= 2, "two split attempts retried: {text}");
    assert!(text.contains("retried"), "{text}");
    assert!(text.contains("Records read          : 20000"), "{text}");
    assert!(text.contains("Records written       : 20000"), "{text}");
    assert_eq!(
        pg_i64(&format!(
            "SELECT count(*) FROM {schema}.dst WHERE id BETWEEN 1 AND 20000"
        )),
        20000
    );
    assert_eq!(
        pg_i64(&format!("SELECT count(*) FROM {schema}.dst")),
        20000,
        "truncated, then each row once"
    );
    assert_eq!(stage_tables(schema), 0, "no staging table left");
    assert!(
        !dir.path().join("dirty.jsonl").exists(),
        "a retried split leaves no dirty record"
    );
}

#[test]
fn a_lock_held_by_another_session_is_waited_out_not_turned_into_dirty_rows() {
    let schema = "retry_lock";
    pg_exec(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};
         CREATE TABLE {schema}.dst (id bigint, name text);"
    ));
    let dir = tempfile::tempdir().unwrap();
    let job = format!(
        r#"{{"job": {{"setting": {{"speed": {{"channel": 1}},
              "retry": {{"maxRetryTimes": 8, "retryIntervalInMsec": 300, "maxWaitInMsec": 600}}}},
          "content": [{{
            "reader": {{"name": "streamreader", "parameter": {{
                "column": [{{"type": "long", "random": "1,100"}}, {{"type": "string", "value": "x"}}],
                "sliceRecordCount": 1000}}}},
            "writer": {{"name": "postgresqlwriter", "parameter": {{
                "connection": [{{"jdbcUrl": "{url}", "table": ["{schema}.dst"]}}],
                "column": ["id", "name"], "lockTimeoutMs": 200}}}}}}]}}}}"#,
        url = pg_url()
    );
    // Another session holds the table for about 2 s (SHARE: readers of the catalog and
    // the table go on, writers wait); the load's lock waits time out, its split is
    // retried, and it goes through once the lock is gone.
    let holder = std::thread::spawn(move || {
        rt().block_on(async {
            let ep = ferry_postgres::PgEndpoint::parse(&pg_url(), None, None).unwrap();
            let c = ep.connect().await.unwrap();
            c.batch_execute(&format!("BEGIN; LOCK TABLE {schema}.dst IN SHARE MODE"))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_secs(2)).await;
            c.batch_execute("COMMIT").await.unwrap();
        })
    });
    std::thread::sleep(Duration::from_millis(200));
    let child = spawn_run(dir.path(), &job);
    let (out, text) = finish(child);
    holder.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(retries(&text) >= 1, "the split waited out the lock: {text}");
    assert!(text.contains("lock timeout"), "{text}");
    assert!(text.contains("Records dirty         : 0"), "{text}");
    assert_eq!(pg_i64(&format!("SELECT count(*) FROM {schema}.dst")), 1000);
}

/// `ferry ARGS` to completion: (exit code, stdout, stderr).
fn ferry(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A random delay in [0, `max_ms`), different from run to run.
fn jitter(max_ms: u64) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    Duration::from_millis(u64::from(nanos) % max_ms)
}

/// Start the job with `--state`, wait until `staged()` says the run wrote something, then
/// `SIGKILL` it at a random point after that; return the id `ferry runs` gives the
/// abandoned run.
fn kill_mid_run(dir: &Path, job: &Path, state: &Path, staged: impl Fn() -> bool) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("run")
        .arg(job)
        .args(["--progress-secs", "0", "--state"])
        .arg(state)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !staged() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the job ended before it staged anything"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "nothing staged in 60 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(jitter(800));
    let at = started.elapsed();
    assert!(
        child.try_wait().unwrap().is_none(),
        "the job ended before the kill at {at:?}: make the source slower"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let (code, out, err) = ferry(&["runs", "--state", state.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    let line = out
        .lines()
        .find(|l| l.contains("abandoned"))
        .unwrap_or_else(|| panic!("killed at {at:?}; `ferry runs` lists no abandoned run:\n{out}"));
    line.split_whitespace().next().unwrap().to_string()
}

/// PG → PG, 2 channels, a slow source (two `querySql` splits), killed at a random point.
fn pg_job(dir: &Path, schema: &str, rows: u32, writer_extra: &str) -> std::path::PathBuf {
    src_dst_tables(schema, rows);
    pg_exec(&format!("INSERT INTO {schema}.dst VALUES (-1, 'old')"));
    let q = |cond: &str| {
        // OFFSET 0 keeps the range inside: only the split's rows sleep.
        format!(
            "SELECT id, name FROM (SELECT id, name FROM {schema}.src WHERE {cond} OFFSET 0) s \
             WHERE pg_sleep(0.0002) IS NOT NULL"
        )
    };
    let job = format!(
        r#"{{"job": {{"setting": {{"speed": {{"channel": 2}}}},
          "content": [{{
            "reader": {{"name": "postgresqlreader", "parameter": {{
                "connection": [{{"jdbcUrl": ["{url}"], "querySql": ["{a}", "{b}"]}}]}}}},
            "writer": {{"name": "postgresqlwriter", "parameter": {{
                "connection": [{{"jdbcUrl": "{url}", "table": ["{schema}.dst"]}}],
                "column": ["id", "name"]{writer_extra}}}}}}}]}}}}"#,
        url = pg_url(),
        a = q(&format!("id <= {}", rows / 2)),
        b = q(&format!("id > {}", rows / 2)),
    );
    let path = dir.join(format!("{schema}.json"));
    std::fs::write(&path, job).unwrap();
    path
}

#[test]
fn a_killed_staged_load_is_aborted_and_leaves_the_target_as_before() {
    let schema = "kill_staged";
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("runs");
    // truncate, resumable → the staged plan: a staging table per channel.
    let job = pg_job(
        dir.path(),
        schema,
        20000,
        r#", "truncate": true, "resumable": true"#,
    );
    let run = kill_mid_run(dir.path(), &job, &state, || stage_tables(schema) > 0);
    assert!(
        stage_tables(schema) > 0,
        "the dead run left its staging tables"
    );
    let s = state.to_str().unwrap();
    // The next run of the job names the dead one, and loads exactly (the dead run's
    // staging tables are its own).
    let (code, out, err) = ferry(&[
        "run",
        job.to_str().unwrap(),
        "--progress-secs",
        "0",
        "--state",
        s,
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        err.contains(&format!("warning: an earlier run of this job, {run}"))
            && err.contains(&format!("ferry runs abort {run}")),
        "{err}"
    );
    assert_eq!(pg_i64(&format!("SELECT count(*) FROM {schema}.dst")), 20000);
    pg_exec(&format!(
        "TRUNCATE {schema}.dst; INSERT INTO {schema}.dst VALUES (-1, 'old')"
    ));
    let (code, out, err) = ferry(&["runs", "abort", &run, "--state", s]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains(&format!("aborted run {run}")), "{out}");
    assert_eq!(stage_tables(schema), 0, "the staging tables are dropped");
    assert_eq!(
        pg_i64(&format!("SELECT count(*) FROM {schema}.dst WHERE id = -1")),
        1,
        "the target is as before the run (not truncated)"
    );
    assert_eq!(pg_i64(&format!("SELECT count(*) FROM {schema}.dst")), 1);
    let (_, out, _) = ferry(&["runs", "--state", s]);
    assert!(out.contains("no runs"), "{out}");
    // Aborted: the next run has nothing to warn about, and loads exactly.
    let (code, out, err) = ferry(&[
        "run",
        job.to_str().unwrap(),
        "--progress-secs",
        "0",
        "--state",
        s,
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(!err.contains("an earlier run"), "{err}");
    assert_eq!(pg_i64(&format!("SELECT count(*) FROM {schema}.dst")), 20000);
    assert_eq!(stage_tables(schema), 0);
}

#[test]
fn a_killed_two_phase_load_is_aborted_and_leaves_the_target_as_before() {
    let schema = "kill_2pc";
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("runs");
    // Plain inserts, 2 channels, max_prepared_transactions > 0 → a prepared transaction
    // per split.
    let job = pg_job(dir.path(), schema, 20000, "");
    // Any point once the run directory exists (before it, there is no run to abort).
    let run = kill_mid_run(dir.path(), &job, &state, || {
        std::fs::read_dir(&state).is_ok_and(|mut d| d.next().is_some())
    });
    let s = state.to_str().unwrap();
    let (code, out, err) = ferry(&["runs", "abort", &run, "--state", s]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(
        prepared_of(&run),
        0,
        "no prepared transaction of the dead run is left"
    );
    assert_eq!(stage_tables(schema), 0);
    assert_eq!(pg_i64(&format!("SELECT count(*) FROM {schema}.dst")), 1);
    // Aborted: the next run loads exactly, with nothing to warn about.
    let (code, out, err) = ferry(&[
        "run",
        job.to_str().unwrap(),
        "--progress-secs",
        "0",
        "--state",
        s,
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(!err.contains("an earlier run"), "{err}");
    assert_eq!(pg_i64(&format!("SELECT count(*) FROM {schema}.dst")), 20001);
    let (code, out, err) = ferry(&["runs", "abort", &run, "--state", s]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains("no run at"), "{err}");
}

#[test]
fn a_killed_parquet_load_is_aborted_and_leaves_no_temporary_file() {
    let schema = "kill_pq";
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("runs");
    let out_dir = dir.path().join("out");
    // Splits of 20,000 rows: the first batch (8,192 rows) is written well before the end.
    let pg = pg_job(dir.path(), schema, 40000, "");
    // The same slow source, into Parquet.
    let text = std::fs::read_to_string(&pg).unwrap();
    let writer_at = text.find(r#""writer""#).unwrap();
    let job = format!(
        r#"{} "writer": {{"name": "parquet", "parameter": {{"path": "{}"}}}}}}]}}}}"#,
        &text[..writer_at],
        out_dir.display()
    );
    let path = dir.path().join("pq.json");
    std::fs::write(&path, job).unwrap();
    let run = kill_mid_run(dir.path(), &path, &state, || !walk(&out_dir).is_empty());
    assert!(
        !walk(&out_dir).is_empty(),
        "the dead run left temporary files"
    );
    let s = state.to_str().unwrap();
    let (code, out, err) = ferry(&["runs", "abort", &run, "--state", s]);
    assert_eq!(code, Some(0), "{out}{err}");
    let left: Vec<_> = walk(&out_dir);
    assert!(left.is_empty(), "files left after the abort: {left:?}");
}

/// A source of `splits` × 1,000 rows, each split about 1 s (its rows sleep), read over
/// `channels` channels into `writer`; the job file's path.
fn slow_split_job(
    dir: &Path,
    schema: &str,
    splits: u32,
    channels: u32,
    writer: &str,
) -> std::path::PathBuf {
    src_dst_tables(schema, splits * 1000);
    pg_exec(&format!("INSERT INTO {schema}.dst VALUES (-1, 'old')"));
    let queries: Vec<String> = (0..splits)
        .map(|i| {
            format!(
                "\"SELECT id, name FROM (SELECT id, name FROM {schema}.src WHERE id > {} AND id <= {} OFFSET 0) s \
                 WHERE pg_sleep(0.0002) IS NOT NULL\"",
                i * 1000,
                (i + 1) * 1000
            )
        })
        .collect();
    let job = format!(
        r#"{{"job": {{"setting": {{"speed": {{"channel": {channels}}}}}, "content": [{{
            "reader": {{"name": "postgresqlreader", "parameter": {{
                "connection": [{{"jdbcUrl": ["{url}"], "querySql": [{q}]}}]}}}},
            "writer": {writer}}}]}}}}"#,
        url = pg_url(),
        q = queries.join(", "),
    );
    let path = dir.join(format!("{schema}.json"));
    std::fs::write(&path, job).unwrap();
    path
}

/// Whether a run under `state` wrote a split receipt.
fn has_receipt(state: &Path) -> bool {
    std::fs::read_dir(state)
        .into_iter()
        .flatten()
        .flatten()
        .any(|run| {
            std::fs::read_dir(run.path().join("receipts")).is_ok_and(|mut r| {
                r.any(|f| f.is_ok_and(|f| !f.file_name().to_string_lossy().starts_with('.')))
            })
        })
}

/// `ferry run --resume --verify` after `run` was killed: it succeeds, says it resumed,
/// reads only whole splits fewer than `total` rows, verifies exact and leaves no run.
fn resume_exactly(job: &Path, state: &Path, run: &str, total: u64, verify: bool) {
    let s = state.to_str().unwrap();
    let mut args = vec![
        "run",
        job.to_str().unwrap(),
        "--progress-secs",
        "0",
        "--state",
        s,
        "--resume",
    ];
    if verify {
        args.push("--verify");
    }
    let (code, out, err) = ferry(&args);
    let text = format!("{out}{err}");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(&format!("resumed run {run}: ")), "{text}");
    let read: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("Records read          : "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap();
    assert!(
        read < total && read.is_multiple_of(1000),
        "the resumed run read only the splits not staged before: {text}"
    );
    assert!(
        !verify || text.contains("Verify                : ok: the target holds exactly"),
        "{text}"
    );
    let (_, out, _) = ferry(&["runs", "--state", s]);
    assert!(out.contains("no runs"), "{out}");
    // Nothing left to resume.
    let (code, out, err) = ferry(&["run", job.to_str().unwrap(), "--state", s, "--resume"]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains("--resume: no abandoned run"), "{err}");
}

#[test]
fn a_killed_parquet_load_resumes_without_reading_its_finished_splits() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("runs");
    let out_dir = dir.path().join("out");
    let writer = format!(
        r#"{{"name": "parquet", "parameter": {{"path": "{}", "writeMode": "truncate"}}}}"#,
        out_dir.display()
    );
    // One channel: the four splits one after the other; killed once one is staged.
    let job = slow_split_job(dir.path(), "resume_pq", 4, 1, &writer);
    let run = kill_mid_run(dir.path(), &job, &state, || has_receipt(&state));
    resume_exactly(&job, &state, &run, 4000, true);
    let hidden: Vec<_> = walk(&out_dir)
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "temporary files left: {hidden:?}");
}

#[test]
fn a_killed_staged_postgresql_load_resumes_and_loads_exactly() {
    let schema = "resume_pg";
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("runs");
    // truncate, resumable → the staged plan: each split is committed into a staging table.
    let writer = format!(
        r#"{{"name": "postgresqlwriter", "parameter": {{
            "connection": [{{"jdbcUrl": "{url}", "table": ["{schema}.dst"]}}],
            "column": ["id", "name"], "truncate": true, "resumable": true}}}}"#,
        url = pg_url()
    );
    let job = slow_split_job(dir.path(), schema, 6, 2, &writer);
    let run = kill_mid_run(dir.path(), &job, &state, || has_receipt(&state));
    resume_exactly(&job, &state, &run, 6000, true);
    assert_eq!(pg_i64(&format!("SELECT count(*) FROM {schema}.dst")), 6000);
    assert_eq!(
        stage_tables(schema),
        0,
        "every staging table of the run is dropped"
    );
}

#[test]
fn a_killed_two_phase_postgresql_load_resumes_and_loads_exactly() {
    let schema = "resume_2pc";
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("runs");
    // Plain inserts → a prepared transaction per split, committed by the resumed run.
    let writer = format!(
        r#"{{"name": "postgresqlwriter", "parameter": {{
            "connection": [{{"jdbcUrl": "{url}", "table": ["{schema}.dst"]}}],
            "column": ["id", "name"]}}}}"#,
        url = pg_url()
    );
    let job = slow_split_job(dir.path(), schema, 6, 2, &writer);
    let run = kill_mid_run(dir.path(), &job, &state, || has_receipt(&state));
    assert!(prepared_of(&run) > 0, "finished splits stay prepared");
    resume_exactly(&job, &state, &run, 6000, false);
    assert_eq!(pg_i64(&format!("SELECT count(*) FROM {schema}.dst")), 6001);
    assert_eq!(
        pg_i64(&format!("SELECT count(DISTINCT id) FROM {schema}.dst")),
        6001
    );
    assert_eq!(prepared_of(&run), 0, "every prepared split is committed");
}

/// The summary's counter `name` (`Records read`, `Retries`, ...).
fn counter(text: &str, name: &str) -> Option<u64> {
    let prefix = format!("{name:<22}: ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|n| n.trim().parse().ok())
}

#[test]
fn block_uploads_the_local_odps_server_drops_are_retried_and_the_load_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    // Three block uploads cut after 2,000 bytes: every block of a 1,000-row split is bigger.
    let server = OdpsServer::start_with(
        &dir.path().join("odps"),
        &["--drop-block-put-after", "2000", "--drop-block-puts", "3"],
    );
    server.sql(dir.path(), "CREATE TABLE dropped (id BIGINT, name STRING)");
    let writer = format!(
        r#"{{"name": "odpswriter", "parameter": {{{}, "table": "dropped",
            "truncate": true, "column": ["id", "name"]}}}}"#,
        server.keys()
    );
    let job = slow_split_job(dir.path(), "odps_drop", 4, 2, &writer);
    let (code, out, err) = ferry(&[
        "run",
        job.to_str().unwrap(),
        "--progress-secs",
        "0",
        "--verify",
    ]);
    let text = format!("{out}{err}");
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(counter(&text, "Records read"), Some(4000), "{text}");
    assert_eq!(counter(&text, "Records written"), Some(4000), "{text}");
    assert!(
        text.contains("re-sending block"),
        "the server cut uploads: {text}"
    );
    assert!(
        text.contains("Verify                : ok: the target holds exactly"),
        "{text}"
    );
}

/// One leg of the fault matrix: a target and how the job writes it.
struct Leg {
    name: &'static str,
    channels: u32,
    target: Target,
    /// Whether a resumed run skips the splits staged before the kill (not the
    /// single-transaction plan, which starts again).
    skips_staged: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Target {
    /// Plain inserts after the row (-1, 'old'); `preparedTransactions` as given.
    PgInsert {
        prepared: bool,
    },
    /// `truncate`, `resumable`: the staged plan.
    PgTruncate,
    Odps,
    Parquet,
}

/// `FERRY_FAULT_TRIES` (default 2; `bench/fault-matrix.sh` runs 20) kills at random points of each leg (PG → PG with 1 and 2 channels,
/// with and without prepared transactions, PG → ODPS, PG → Parquet), each followed by
/// `--resume`: the target equals the source, nothing is left behind, and a run killed
/// after a split was staged reads fewer rows when resumed.
#[test]
fn kills_at_random_points_of_every_leg_resume_to_an_exact_target() {
    let tries: u32 = std::env::var("FERRY_FAULT_TRIES")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    let dir = tempfile::tempdir().unwrap();
    let server = OdpsServer::start(&dir.path().join("odps"));
    server.sql(dir.path(), "CREATE TABLE matrix (id BIGINT, name STRING)");
    let legs = [
        Leg {
            name: "pg1_2pc",
            channels: 1,
            target: Target::PgInsert { prepared: true },
            skips_staged: true,
        },
        Leg {
            name: "pg1_single",
            channels: 1,
            target: Target::PgInsert { prepared: false },
            skips_staged: false,
        },
        Leg {
            name: "pg2_2pc",
            channels: 2,
            target: Target::PgInsert { prepared: true },
            skips_staged: true,
        },
        Leg {
            name: "pg2_single",
            channels: 2,
            target: Target::PgInsert { prepared: false },
            skips_staged: false,
        },
        Leg {
            name: "pg2_staged",
            channels: 2,
            target: Target::PgTruncate,
            skips_staged: true,
        },
        Leg {
            name: "odps",
            channels: 2,
            target: Target::Odps,
            skips_staged: true,
        },
        Leg {
            name: "parquet",
            channels: 2,
            target: Target::Parquet,
            skips_staged: true,
        },
    ];
    let splits = 12;
    let total = u64::from(splits) * 1000;
    let mut killed = 0;
    for leg in &legs {
        for t in 0..tries {
            let schema = format!("fm_{}", leg.name);
            let out_dir = dir.path().join(format!("pq-{}-{t}", leg.name));
            let url = pg_url();
            let pg_writer = |extra: &str| {
                format!(
                    r#"{{"name": "postgresqlwriter", "parameter": {{
                        "connection": [{{"jdbcUrl": "{url}", "table": ["{schema}.dst"]}}],
                        "column": ["id", "name"]{extra}}}}}"#
                )
            };
            let writer = match leg.target {
                Target::PgInsert { prepared } => {
                    pg_writer(&format!(r#", "preparedTransactions": {prepared}"#))
                }
                Target::PgTruncate => pg_writer(r#", "truncate": true, "resumable": true"#),
                Target::Odps => format!(
                    r#"{{"name": "odpswriter", "parameter": {{{}, "table": "matrix",
                        "truncate": true, "column": ["id", "name"]}}}}"#,
                    server.keys()
                ),
                Target::Parquet => format!(
                    r#"{{"name": "parquet", "parameter": {{"path": "{}", "writeMode": "truncate"}}}}"#,
                    out_dir.display()
                ),
            };
            let verify = !matches!(leg.target, Target::PgInsert { .. });
            let state = dir.path().join(format!("runs-{}-{t}", leg.name));
            let s = state.to_str().unwrap().to_string();
            let job = slow_split_job(dir.path(), &schema, splits, leg.channels, &writer);
            let job_s = job.to_str().unwrap().to_string();
            let what = format!("leg {} try {t}", leg.name);

            // Kill at a random point once the run directory exists.
            let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
                .args(["run", &job_s, "--progress-secs", "0", "--state", &s])
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let started = Instant::now();
            while !std::fs::read_dir(&state).is_ok_and(|mut d| d.next().is_some()) {
                assert!(child.try_wait().unwrap().is_none(), "{what}: ended early");
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "{what}: no run"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            std::thread::sleep(jitter(1200));
            let at = started.elapsed();
            if let Some(status) = child.try_wait().unwrap() {
                // The job was quicker than the kill: it must simply be right.
                assert!(status.success(), "{what}: the unkilled run failed");
            } else {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                killed += 1;
                let staged = has_receipt(&state);
                let (code, out, err) = ferry(&["runs", "--state", &s]);
                assert_eq!(code, Some(0), "{what}: {out}{err}");
                let run = out
                    .lines()
                    .find(|l| l.contains("abandoned"))
                    .and_then(|l| l.split_whitespace().next())
                    .unwrap_or_else(|| panic!("{what}, killed at {at:?}: no abandoned run:\n{out}"))
                    .to_string();
                let mut args = vec![
                    "run",
                    job_s.as_str(),
                    "--progress-secs",
                    "0",
                    "--state",
                    s.as_str(),
                    "--resume",
                ];
                if verify {
                    args.push("--verify");
                }
                let (code, out, err) = ferry(&args);
                let text = format!("{out}{err}");
                if err.contains("died while committing") {
                    // Killed inside the single transaction's COMMIT: whether it happened
                    // is the target's to say; abort, then load again if it did not.
                    assert!(!leg.skips_staged, "{what}: {text}");
                    let (code, out, err) = ferry(&["runs", "abort", &run, "--state", &s]);
                    assert_eq!(code, Some(0), "{what}: {out}{err}");
                    if pg_i64(&format!("SELECT count(*) FROM {schema}.dst")) == 1 {
                        let (code, out, err) = ferry(&["run", &job_s, "--state", &s]);
                        assert_eq!(code, Some(0), "{what}: {out}{err}");
                    }
                } else {
                    assert_eq!(code, Some(0), "{what}, killed at {at:?}: {text}");
                    assert!(text.contains(&format!("resumed run {run}: ")), "{text}");
                    let read = counter(&text, "Records read").unwrap();
                    assert!(read <= total, "{what}: {text}");
                    if staged && leg.skips_staged {
                        assert!(
                            read < total,
                            "{what}: a split was staged before the kill, yet the resumed run read every row: {text}"
                        );
                    }
                    assert!(
                        !verify
                            || text
                                .contains("Verify                : ok: the target holds exactly"),
                        "{what}: {text}"
                    );
                }
                assert_eq!(prepared_of(&run), 0, "{what}: prepared transactions left");
            }
            // Exact, and nothing left behind.
            match leg.target {
                Target::PgInsert { .. } | Target::PgTruncate => {
                    let old = i64::from(leg.target != Target::PgTruncate);
                    assert_eq!(
                        pg_i64(&format!(
                            "SELECT (SELECT count(*) FROM (SELECT id, name FROM {schema}.src \
                             EXCEPT ALL SELECT id, name FROM {schema}.dst WHERE id <> -1) a) + \
                             (SELECT count(*) FROM (SELECT id, name FROM {schema}.dst WHERE id <> -1 \
                             EXCEPT ALL SELECT id, name FROM {schema}.src) b)"
                        )),
                        0,
                        "{what}: the target differs from the source"
                    );
                    assert_eq!(
                        pg_i64(&format!("SELECT count(*) FROM {schema}.dst WHERE id = -1")),
                        old,
                        "{what}"
                    );
                    assert_eq!(stage_tables(&schema), 0, "{what}: staging tables left");
                }
                Target::Parquet => {
                    let hidden: Vec<_> = walk(&out_dir)
                        .into_iter()
                        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with('.'))
                        .collect();
                    assert!(
                        hidden.is_empty(),
                        "{what}: temporary files left: {hidden:?}"
                    );
                }
                // Verified by `--verify` above (or by the unkilled run's commit).
                Target::Odps => {}
            }
            let (_, out, _) = ferry(&["runs", "--state", &s]);
            assert!(out.contains("no runs"), "{what}: {out}");
        }
    }
    assert!(
        killed * 2 >= legs.len() as u32 * tries,
        "only {killed} of {} tries were killed before the job ended: make the source slower",
        legs.len() as u32 * tries
    );
}
