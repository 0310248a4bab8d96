//! One job over many processes, as an array-job runner (a Kubernetes Indexed Job, a Slurm
//! array, a shell loop) starts them: `ferry coordinate` plans, N `ferry run --state DIR`
//! processes (each in its own working directory, with its own `JOB_COMPLETION_INDEX`)
//! stage their splits, and the coordinator commits once. Against the test PostgreSQL
//! server, the local MaxCompute server and Parquet files: the target ends exact (as
//! `ferry verify` checks it), a shard killed and started again changes nothing, and a
//! shard that gives up aborts the run with the target as it was and nothing left behind.

// Test code: a failed unwrap / expect / panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use support::{
    pg_dst_writer, pg_exact, pg_exec, pg_i64, pg_url, prepared_of, src_dst_job, walk, OdpsServer,
};

fn ferry() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `ferry coordinate JOB --shards N --state STATE` in the background.
fn coordinator(dir: &Path, job: &Path, state: &Path, shards: usize, params: &[&str]) -> Child {
    ferry()
        .arg("coordinate")
        .arg(job)
        .args([
            "--shards",
            &shards.to_string(),
            "--timeout",
            "120",
            "--state",
        ])
        .arg(state)
        .args(params)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Shard `i` as an Indexed Job starts it: its own working directory, its index in
/// `JOB_COMPLETION_INDEX`, no `--shard` flag.
fn shard(dir: &Path, job: &Path, state: &Path, i: usize, extra: &[&str]) -> Child {
    let wd = dir.join(format!("pod-{i}"));
    std::fs::create_dir_all(&wd).unwrap();
    ferry()
        .arg("run")
        .arg(job)
        .arg("--state")
        .arg(state)
        .args(["--progress-secs", "0"])
        .args(extra)
        .env("JOB_COMPLETION_INDEX", i.to_string())
        .current_dir(&wd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn table_job(dir: &Path, schema: &str, rows: u32, writer: &str) -> PathBuf {
    table_job_with(dir, schema, rows, 4, writer)
}

fn table_job_with(dir: &Path, schema: &str, rows: u32, channels: u32, writer: &str) -> PathBuf {
    src_dst_job(dir, schema, rows, channels, "${table}", writer)
}

fn verify(job: &Path) -> String {
    let out = ferry()
        .arg("verify")
        .arg(job)
        .args(["-p", "table=src"])
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "ferry verify: {t}");
    assert!(t.contains("Verify                : ok"), "{t}");
    t
}

/// The run's id and status, from its `run.json`.
fn run_of(state: &Path) -> (String, String) {
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("run.json")).unwrap()).unwrap();
    (
        run["run_id"].as_str().unwrap().to_string(),
        run["status"].as_str().unwrap().to_string(),
    )
}

#[test]
fn one_three_and_eight_shards_load_postgresql_odps_and_parquet_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let server = OdpsServer::start(&dir.path().join("odps"));
    server.sql(dir.path(), "CREATE TABLE sharded (id BIGINT, name STRING)");
    for target in ["pg", "odps", "parquet"] {
        for n in [1usize, 3, 8] {
            let wd = dir.path().join(format!("{target}-{n}"));
            std::fs::create_dir_all(&wd).unwrap();
            let schema = format!("sh_{target}_{n}");
            let writer = match target {
                "pg" => pg_dst_writer(&schema),
                "odps" => format!(
                    r#"{{"name": "odpswriter", "parameter": {{{}, "table": "sharded",
                        "truncate": true, "column": ["id", "name"]}}}}"#,
                    server.keys()
                ),
                _ => format!(
                    r#"{{"name": "parquet", "parameter": {{"path": "{}", "writeMode": "truncate"}}}}"#,
                    wd.join("out").display()
                ),
            };
            let job = table_job(&wd, &schema, 6000, &writer);
            // the job names its table through a variable: every process passes it
            let state = wd.join("state");
            let coord = coordinator(&wd, &job, &state, n, &["-p", "table=src"]);
            let shards: Vec<Child> = (0..n)
                .map(|i| shard(&wd, &job, &state, i, &["-p", "table=src"]))
                .collect();
            let mut staged = 0;
            for (i, s) in shards.into_iter().enumerate() {
                let out = s.wait_with_output().unwrap();
                let t = text(&out);
                assert_eq!(out.status.code(), Some(0), "{target} shard {i} of {n}: {t}");
                staged += t
                    .lines()
                    .find_map(|l| l.strip_prefix("Records written       : "))
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(0);
            }
            let out = coord.wait_with_output().unwrap();
            let t = text(&out);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{target} coordinator of {n}: {t}"
            );
            assert!(
                t.contains(&format!("staged by {n} shards, in one commit")),
                "{t}"
            );
            assert!(t.contains("Records read          : 6000"), "{t}");
            assert!(t.contains("Records written       : 6000"), "{t}");
            assert_eq!(
                staged, 6000,
                "{target} x{n}: the shards wrote every row once"
            );
            verify(&job);
            let (run, status) = run_of(&state);
            assert_eq!(status, "committed");
            if target == "pg" {
                pg_exact(&schema);
                assert_eq!(prepared_of(&run), 0);
            }
            // a shard the scheduler starts again after the commit has nothing to do
            let again = shard(&wd, &job, &state, 0, &["-p", "table=src"])
                .wait_with_output()
                .unwrap();
            assert_eq!(again.status.code(), Some(0), "{}", text(&again));
            assert!(text(&again).contains("is committed"), "{}", text(&again));
            if target == "parquet" {
                let left: Vec<_> = walk(&wd.join("out"))
                    .into_iter()
                    .filter(|p| p.to_string_lossy().contains(".ferry-tmp-"))
                    .collect();
                assert!(left.is_empty(), "temporary files left: {left:?}");
            }
        }
    }
}

#[test]
fn a_shard_killed_mid_split_and_started_again_leaves_the_load_exact() {
    let dir = tempfile::tempdir().unwrap();
    let schema = "sh_kill";
    let job = table_job(dir.path(), schema, 12000, &pg_dst_writer(schema));
    let state = dir.path().join("state");
    let p = ["-p", "table=src"];
    let coord = coordinator(dir.path(), &job, &state, 3, &p);
    let s0 = shard(dir.path(), &job, &state, 0, &p);
    let s2 = shard(dir.path(), &job, &state, 2, &p);
    let mut s1 = shard(dir.path(), &job, &state, 1, &p);
    // wait until shard 1 is at work (it said so), then kill it without warning
    let mark = state.join("shards").join("0001.json");
    for _ in 0..200 {
        if std::fs::read_to_string(&mark).is_ok_and(|t| t.contains("running")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    std::thread::sleep(Duration::from_millis(300));
    s1.kill().unwrap();
    let killed = s1.wait_with_output().unwrap();
    assert_ne!(killed.status.code(), Some(0), "killed: {}", text(&killed));
    // the scheduler starts index 1 again, with a second attempt allowed
    let again = shard(
        dir.path(),
        &job,
        &state,
        1,
        &["-p", "table=src", "--shard-attempts", "3"],
    )
    .wait_with_output()
    .unwrap();
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(text(&again).contains("earlier attempt"), "{}", text(&again));
    for s in [s0, s2] {
        let o = s.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    let out = coord.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("Records written       : 12000"),
        "{}",
        text(&out)
    );
    verify(&job);
    pg_exact(schema);
    assert_eq!(prepared_of(&run_of(&state).0), 0);
}

#[test]
fn a_shard_that_gives_up_aborts_the_run_and_the_target_stays_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let schema = "sh_give_up";
    let job = table_job(dir.path(), schema, 12000, &pg_dst_writer(schema));
    pg_exec(&format!("INSERT INTO {schema}.dst VALUES (-1, 'old')"));
    let state = dir.path().join("state");
    let p = ["-p", "table=src"];
    let coord = coordinator(dir.path(), &job, &state, 3, &p);
    let s0 = shard(dir.path(), &job, &state, 0, &p);
    let s1 = shard(dir.path(), &job, &state, 1, &p);
    // shard 2 reads a table that is not there: it fails, and with one attempt allowed
    // (the default) it gives up
    let bad = shard(dir.path(), &job, &state, 2, &["-p", "table=missing"])
        .wait_with_output()
        .unwrap();
    assert_ne!(bad.status.code(), Some(0), "{}", text(&bad));
    let out = coord.wait_with_output().unwrap();
    let t = text(&out);
    assert_ne!(out.status.code(), Some(0), "the run must fail: {t}");
    assert!(
        t.contains("shard 2 gave up") && t.contains("aborted"),
        "{t}"
    );
    for s in [s0, s1] {
        // stopped by the abort, or done before it: either way nothing of theirs stays
        let _ = s.wait_with_output().unwrap();
    }
    assert_eq!(pg_i64(&format!("SELECT count(*) FROM {schema}.dst")), 1);
    assert_eq!(
        pg_i64(&format!("SELECT count(*) FROM {schema}.dst WHERE id = -1")),
        1
    );
    let (run, status) = run_of(&state);
    assert_eq!(prepared_of(&run), 0, "no prepared transaction is left");
    assert_eq!(status, "aborted");
    // a shard started after the abort refuses to work on it
    let late = shard(dir.path(), &job, &state, 0, &p)
        .wait_with_output()
        .unwrap();
    assert_ne!(late.status.code(), Some(0));
    assert!(text(&late).contains("was aborted"), "{}", text(&late));
}

#[test]
fn without_prepared_transactions_shards_stage_and_atomic_false_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let schema = "sh_single";
    let writer = |extra: &str| {
        format!(
            r#"{{"name": "postgresqlwriter", "parameter": {{
            "connection": [{{"jdbcUrl": "{}", "table": ["{schema}.dst"]}}],
            "column": ["id", "name"]{extra}}}}}"#,
            pg_url()
        )
    };
    // One process would load in one transaction (it dies with its process); shards stage.
    let job = table_job_with(
        dir.path(),
        schema,
        2000,
        1,
        &writer(r#", "preparedTransactions": false"#),
    );
    let state = dir.path().join("state");
    let p = ["-p", "table=src"];
    let coord = coordinator(dir.path(), &job, &state, 2, &p);
    let shards: Vec<Child> = (0..2)
        .map(|i| shard(dir.path(), &job, &state, i, &p))
        .collect();
    for s in shards {
        let o = s.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    let out = coord.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("staging table"), "{}", text(&out));
    pg_exact(schema);
    assert_eq!(
        pg_i64(&format!(
            "SELECT count(*) FROM pg_tables WHERE schemaname = '{schema}' AND tablename LIKE 'ferry_stage%'"
        )),
        0
    );

    // atomic: false commits each channel as it finishes: refused when planning, before
    // its truncate runs.
    pg_exec(&format!("INSERT INTO {schema}.src VALUES (2001, 'new')"));
    let other = dir.path().join("per-channel");
    std::fs::create_dir_all(&other).unwrap();
    let job = other.join("job.json");
    std::fs::write(
        &job,
        std::fs::read_to_string(dir.path().join("job.json"))
            .unwrap()
            .replace(
                r#""preparedTransactions": false"#,
                r#""atomic": false, "truncate": true"#,
            ),
    )
    .unwrap();
    let out = ferry()
        .arg("plan")
        .arg(&job)
        .args(["--shards", "2", "--state"])
        .arg(other.join("state"))
        .args(p)
        .current_dir(&other)
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("atomic: false"), "{}", text(&out));
    assert_eq!(pg_i64(&format!("SELECT count(*) FROM {schema}.dst")), 2000);
}

#[test]
fn every_shard_reads_the_coordinator_s_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let schema = "sh_snapshot";
    let job = table_job(dir.path(), schema, 6000, &pg_dst_writer(schema));
    let state = dir.path().join("state");
    let p = ["-p", "table=src"];
    let coord = coordinator(dir.path(), &job, &state, 3, &p);
    // once the plan is complete, the source changes: none of it may reach the target
    for _ in 0..400 {
        if state.join("planned").is_file() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(state.join("planned").is_file(), "no plan");
    pg_exec(&format!(
        "DELETE FROM {schema}.src WHERE id <= 100;
         INSERT INTO {schema}.src SELECT g, 'late' || g FROM generate_series(6001, 6500) g;
         UPDATE {schema}.src SET name = 'changed' WHERE id BETWEEN 3000 AND 3099;"
    ));
    let shards: Vec<Child> = (0..3)
        .map(|i| shard(dir.path(), &job, &state, i, &p))
        .collect();
    for s in shards {
        let o = s.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    let out = coord.wait_with_output().unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains("at this process's snapshot of the source"),
        "{t}"
    );
    assert_eq!(pg_i64(&format!("SELECT count(*) FROM {schema}.dst")), 6000);
    assert_eq!(
        pg_i64(&format!(
            "SELECT count(*) FROM {schema}.dst WHERE id <= 100"
        )),
        100,
        "rows deleted after the plan are loaded"
    );
    assert_eq!(
        pg_i64(&format!(
            "SELECT count(*) FROM {schema}.dst WHERE id > 6000 OR name = 'changed'"
        )),
        0,
        "rows inserted or changed after the plan are not"
    );
}

#[test]
fn a_coordinator_stopped_by_its_scheduler_aborts_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let schema = "sh_sigterm";
    let job = table_job(dir.path(), schema, 2000, &pg_dst_writer(schema));
    let state = dir.path().join("state");
    let coord = coordinator(dir.path(), &job, &state, 2, &["-p", "table=src"]);
    for _ in 0..400 {
        if state.join("planned").is_file() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    // one shard stages its splits; the other never comes; then the scheduler stops the
    // coordinator (a deleted pod: SIGTERM)
    let s0 = shard(dir.path(), &job, &state, 0, &["-p", "table=src"])
        .wait_with_output()
        .unwrap();
    assert_eq!(s0.status.code(), Some(0), "{}", text(&s0));
    let (run, _) = run_of(&state);
    assert!(
        prepared_of(&run) > 0,
        "shard 0 staged prepared transactions"
    );
    let kill = Command::new("kill")
        .args(["-TERM", &coord.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = coord.wait_with_output().unwrap();
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("aborted"), "{}", text(&out));
    assert_eq!(run_of(&state).1, "aborted");
    assert_eq!(prepared_of(&run), 0, "what shard 0 staged is gone");
    assert_eq!(pg_i64(&format!("SELECT count(*) FROM {schema}.dst")), 0);
}

#[test]
fn ferry_k8s_writes_manifests_the_kubernetes_schema_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.json");
    std::fs::write(&job, "{\"job\": {\"content\": []}}\n").unwrap();
    let out = dir.path().join("k8s");
    let o = ferry()
        .args([
            "k8s",
            "--name",
            "person8",
            "--shards",
            "8",
            "--image",
            "reg.example/ferry:1",
            "--job",
        ])
        .arg(&job)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let read = |f: &str| std::fs::read_to_string(out.join(f)).unwrap();
    let shards = read("shards.yaml");
    let coord = read("coordinator.yaml");
    assert!(
        shards.contains("completions: 8") && shards.contains("parallelism: 8"),
        "{shards}"
    );
    assert!(
        shards.contains("name: ferry-person8-shards")
            && shards.contains("image: reg.example/ferry:1")
    );
    assert!(
        coord.contains("- \"8\"") && !coord.contains("completions: 8"),
        "{coord}"
    );
    assert!(read("configmap.yaml").contains("    {\"job\": {\"content\": []}}"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let v = Command::new("bash")
        .arg(root.join("scripts/k8s-validate.sh"))
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
    let e = ferry()
        .args(["k8s", "--name", "Person_8", "--shards", "8", "--image", "x"])
        .output()
        .unwrap();
    assert_eq!(e.status.code(), Some(2), "{}", text(&e));
}
