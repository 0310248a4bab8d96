//! `ferry bench` end to end against the test PostgreSQL (`FERRY_TEST_PG_URL`) and a local
//! `ferry odps serve`: repeated runs with min/median, the COPY baselines (out, in, pipe),
//! Parquet sources, ODPS targets and sources, scratch tables created and dropped, and the
//! option errors.

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

mod support;
use support::OdpsServer;

fn ferry() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
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

/// A catalog in `dir` with the test PostgreSQL as `pg`.
fn catalog(dir: &Path) -> PathBuf {
    let cat = dir.join("ds.json");
    let url = pg_url();
    let out = ferry()
        .args([
            "datasource",
            "add",
            "pg",
            "--type",
            "postgresql",
            "--url",
            &url,
        ])
        .env("FERRY_CATALOG", &cat)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    cat
}

fn bench(cat: &Path, args: &[&str]) -> Output {
    ferry()
        .arg("bench")
        .args(args)
        .env("FERRY_CATALOG", cat)
        .output()
        .unwrap()
}

fn bench_json(cat: &Path, args: &[&str]) -> Vec<Value> {
    let mut all = args.to_vec();
    all.push("--json");
    let out = bench(cat, &all);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("bench --json printed no JSON ({e}): {}", text(&out));
    });
    v.as_array().unwrap().clone()
}

fn generate(cat: &Path, kind: &str, table: &str, rows: u64) {
    let out = bench(
        cat,
        &[
            "--generate",
            kind,
            "--rows",
            &rows.to_string(),
            "--into",
            "pg",
            "--table",
            table,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// One query's single value, through ferry's own PostgreSQL client.
fn pg_value(sql: &str) -> Option<String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ep = ferry_postgres::PgEndpoint::parse(&pg_url(), None, None).unwrap();
        let c = ep.connect().await.unwrap();
        let row = c.query_one(sql, &[]).await.unwrap();
        row.get::<_, Option<String>>(0)
    })
}

fn legs<'a>(rows: &'a [Value], prefix: &str) -> Vec<&'a Value> {
    rows.iter()
        .filter(|r| r["leg"].as_str().unwrap().starts_with(prefix))
        .collect()
}

#[test]
fn repeat_reports_min_and_median_and_the_pipe_is_the_pg_to_pg_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let cat = catalog(dir.path());
    let t = format!("public.bt_rep_{}", std::process::id());
    generate(&cat, "person", &t, 3000);
    let rows = bench_json(
        &cat,
        &[
            "--from",
            "pg",
            "--table",
            &t,
            "--to",
            "pg",
            "--channels",
            "1,2",
            "--split-pk",
            "id",
            "--repeat",
            "3",
            "--baseline",
        ],
    );
    let names: Vec<&str> = rows.iter().map(|r| r["leg"].as_str().unwrap()).collect();
    assert_eq!(
        &names[..3],
        &[
            "postgres COPY TO STDOUT (binary), discarded",
            "postgres COPY FROM STDIN (binary), same bytes",
            "pipe: COPY TO STDOUT | COPY FROM STDIN (binary)",
        ],
        "{rows:#?}"
    );
    for r in &rows {
        assert_eq!(r["rows"], 3000, "{r}");
        assert_eq!(r["runs"], 3, "{r}");
        let (min, med) = (
            r["secs"].as_f64().unwrap(),
            r["secs_median"].as_f64().unwrap(),
        );
        assert!(min > 0.0 && min <= med, "{r}");
        assert!(r["mb"].as_f64().unwrap() > 0.0, "{r}");
    }
    let ferry_rows = legs(&rows, "ferry pg -> pg");
    assert_eq!(ferry_rows.len(), 2, "{rows:#?}");
    let pipe_rps = rows[2]["rows_per_sec"].as_f64().unwrap();
    for (r, ch) in ferry_rows.iter().zip([1, 2]) {
        assert_eq!(r["channels"], ch);
        assert_eq!(
            r["baseline"], "pipe: COPY TO STDOUT | COPY FROM STDIN (binary)",
            "{r}"
        );
        let want = r["rows_per_sec"].as_f64().unwrap() / pipe_rps;
        assert!(
            (r["vs_baseline"].as_f64().unwrap() - want).abs() < 1e-6,
            "{r}"
        );
        assert!(r["peak_rss_mb"].as_f64().unwrap() > 1.0, "{r}");
        let shares = ["read_share", "transform_share", "write_share"]
            .iter()
            .map(|k| r[k].as_f64().unwrap())
            .sum::<f64>();
        assert!((shares - 1.0).abs() < 1e-6, "{r}");
    }
    // The scratch table is gone afterwards.
    let scratch = format!("public.bt_rep_{}_ferry_bench", std::process::id());
    assert_eq!(
        pg_value(&format!("SELECT to_regclass('{scratch}')::text")),
        None
    );
}

#[test]
fn keep_leaves_the_scratch_table_holding_exactly_the_source_rows() {
    let dir = tempfile::tempdir().unwrap();
    let cat = catalog(dir.path());
    let t = format!("public.bt_keep_{}", std::process::id());
    generate(&cat, "wide", &t, 2500);
    let rows = bench_json(
        &cat,
        &[
            "--from",
            "pg",
            "--table",
            &t,
            "--to",
            "pg",
            "--channels",
            "2",
            "--keep",
        ],
    );
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["rows"], 2500);
    assert_eq!(rows[0]["runs"], 1);
    assert!(rows[0]["vs_baseline"].is_null());
    let scratch = format!("{t}_ferry_bench");
    let diff = pg_value(&format!(
        "SELECT ((SELECT count(*) FROM (SELECT * FROM {t} EXCEPT ALL SELECT * FROM {scratch}) a) + (SELECT count(*) FROM (SELECT * FROM {scratch} EXCEPT ALL SELECT * FROM {t}) b))::text"
    ));
    assert_eq!(diff.as_deref(), Some("0"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ep = ferry_postgres::PgEndpoint::parse(&pg_url(), None, None).unwrap();
        let c = ep.connect().await.unwrap();
        c.batch_execute(&format!("DROP TABLE {scratch}"))
            .await
            .unwrap();
    });
}

#[test]
fn parquet_source_to_postgres_with_the_copy_from_baseline_and_to_null() {
    let dir = tempfile::tempdir().unwrap();
    let cat = catalog(dir.path());
    let pid = std::process::id();
    let t = format!("public.bt_pq_{pid}");
    generate(&cat, "person", &t, 4000);
    let staged = dir.path().join(format!("staged_{pid}"));
    let to_parquet = format!("parquet:{}", staged.display());
    let rows = bench_json(
        &cat,
        &[
            "--from",
            "pg",
            "--table",
            &t,
            "--to",
            &to_parquet,
            "--channels",
            "2",
        ],
    );
    assert_eq!(rows[0]["rows"], 4000, "{rows:#?}");

    // Scratch modelled on the PostgreSQL table (LIKE), COPY FROM of the same rows as baseline.
    let rows = bench_json(
        &cat,
        &[
            "--from",
            &to_parquet,
            "--table",
            &t,
            "--to",
            "pg",
            "--channels",
            "1,2",
            "--repeat",
            "2",
            "--baseline",
        ],
    );
    assert_eq!(
        rows[0]["leg"], "postgres COPY FROM STDIN (binary), same rows",
        "{rows:#?}"
    );
    assert_eq!(rows[0]["rows"], 4000);
    assert_eq!(rows[0]["runs"], 2);
    let ferry_rows = legs(&rows, "ferry parquet:");
    assert_eq!(ferry_rows.len(), 2, "{rows:#?}");
    for r in ferry_rows {
        assert_eq!(r["rows"], 4000, "{r}");
        assert_eq!(r["runs"], 2, "{r}");
        assert!(r["vs_baseline"].as_f64().unwrap() > 0.0, "{r}");
        assert_eq!(
            r["baseline"],
            "postgres COPY FROM STDIN (binary), same rows"
        );
    }
    assert_eq!(
        pg_value(&format!("SELECT to_regclass('{t}_ferry_bench')::text")),
        None
    );

    // Without --table the scratch columns come from the Parquet schema; kept to check them.
    let rows = bench_json(
        &cat,
        &[
            "--from",
            &to_parquet,
            "--to",
            "pg",
            "--channels",
            "1",
            "--keep",
        ],
    );
    assert_eq!(rows[0]["rows"], 4000, "{rows:#?}");
    let scratch = format!("public.staged_{pid}_ferry_bench");
    let types = pg_value(&format!(
        "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = '{scratch}'::regclass AND attnum > 0"
    ));
    assert_eq!(
        types.as_deref(),
        Some("id bigint, name text, year bigint, birthdate timestamp without time zone, ismarried boolean, interest text, salary double precision")
    );
    let diff = pg_value(&format!(
        "SELECT (SELECT count(*) FROM (SELECT * FROM {t} EXCEPT ALL SELECT * FROM {scratch}) a)::text"
    ));
    assert_eq!(diff.as_deref(), Some("0"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ep = ferry_postgres::PgEndpoint::parse(&pg_url(), None, None).unwrap();
        let c = ep.connect().await.unwrap();
        c.batch_execute(&format!("DROP TABLE {scratch}"))
            .await
            .unwrap();
    });

    let rows = bench_json(
        &cat,
        &["--from", &to_parquet, "--to", "null", "--channels", "1"],
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["rows"], 4000);
}

/// A `ferry odps serve` child on a free port, killed on drop.
#[test]
fn postgres_to_odps_scratch_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let cat = catalog(dir.path());
    let server = OdpsServer::start(&dir.path().join("odps"));
    let out = ferry()
        .args(["datasource", "add", "od", "--type", "odps", "--endpoint"])
        .arg(server.endpoint())
        .args([
            "--project",
            "bench",
            "--access-id",
            "ak",
            "--access-key",
            "sk",
        ])
        .env("FERRY_CATALOG", &cat)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let pid = std::process::id();
    let t = format!("public.bt_odps_{pid}");
    generate(&cat, "person", &t, 3000);
    let rows = bench_json(
        &cat,
        &[
            "--from",
            "pg",
            "--table",
            &t,
            "--to",
            "od",
            "--channels",
            "1,2",
            "--keep",
        ],
    );
    let ferry_rows = legs(&rows, "ferry pg -> od");
    assert_eq!(ferry_rows.len(), 2, "{rows:#?}");
    assert!(ferry_rows.iter().all(|r| r["rows"] == 3000), "{rows:#?}");
    let odps_table = format!("bt_odps_{pid}_ferry_bench");
    // Back from the kept ODPS table into a PostgreSQL scratch table typed from its schema.
    let rows = bench_json(
        &cat,
        &[
            "--from",
            "od",
            "--table",
            &odps_table,
            "--to",
            "pg",
            "--channels",
            "2",
            "--repeat",
            "2",
            "--keep",
        ],
    );
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["rows"], 3000);
    assert_eq!(rows[0]["runs"], 2);
    let back = format!("public.{odps_table}_ferry_bench");
    let diff = pg_value(&format!(
        "SELECT ((SELECT count(*) FROM (SELECT * FROM {t} EXCEPT ALL SELECT * FROM {back}) a) + (SELECT count(*) FROM (SELECT * FROM {back} EXCEPT ALL SELECT * FROM {t}) b))::text"
    ));
    assert_eq!(diff.as_deref(), Some("0"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ep = ferry_postgres::PgEndpoint::parse(&pg_url(), None, None).unwrap();
        let c = ep.connect().await.unwrap();
        c.batch_execute(&format!("DROP TABLE {back}"))
            .await
            .unwrap();
    });
    // Without --keep the ODPS scratch table is dropped: reading it then fails.
    bench_json(
        &cat,
        &[
            "--from",
            "pg",
            "--table",
            &t,
            "--to",
            "od",
            "--channels",
            "1",
        ],
    );
    let out = bench(
        &cat,
        &["--from", "od", "--table", &odps_table, "--to", "null"],
    );
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not exist"),
        "{}",
        text(&out)
    );
}

#[test]
fn option_errors_name_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let cat = catalog(dir.path());
    for (args, want) in [
        (
            vec!["--from", "pg", "--table", "t", "--repeat", "0"],
            "--repeat must be at least 1",
        ),
        (
            vec!["--from", "parquet:"],
            "--from parquet:PATH needs a path",
        ),
        (
            vec!["--from", "pg", "--to", "null"],
            "--table is required with --from DATASOURCE",
        ),
        (vec!["--from", "null"], "null is only a target"),
        (
            vec!["--from", "pg", "--table", "t", "--reader-param", "novalue"],
            "--reader-param novalue: expected KEY=VALUE",
        ),
        (vec!["--from", "nosuch", "--table", "t"], "--from nosuch"),
    ] {
        let out = bench(&cat, &args);
        assert_ne!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(want),
            "{args:?}: want {want:?} in {}",
            text(&out)
        );
    }
}
