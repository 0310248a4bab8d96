//! The reader's COPY tap against a real server when the reading side misbehaves: a
//! consumer that stops pulling (the tap stops reading the socket) and then loses its
//! backend gets an error, not a hang; a read dropped in the middle of a COPY ends its
//! server session at once instead of letting it stream the rest of the table.

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod reader_support;

use std::time::{Duration, Instant};

use ferry_core::plugin::ReadOptions;
use futures::StreamExt;
use reader_support::*;
use serde_json::json;

/// ~25 MiB of COPY data: far more than the tap holds and the socket buffers take.
async fn big_table(name: &str) {
    exec(&format!(
        "DROP TABLE IF EXISTS {name}; CREATE TABLE {name} AS
         SELECT g AS id, repeat('x', 240) AS s FROM generate_series(1, 100000) g;"
    ))
    .await;
}

fn params(table: &str, app: &str) -> serde_json::Value {
    let mut p = datax_params(json!({"table": [table], "column": ["id", "s"]}));
    p["connection"][0]["jdbcUrl"] = json!([format!("{}?ApplicationName={app}", jdbc_url())]);
    p
}

async fn copy_sessions(app: &str) -> i64 {
    client()
        .await
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'COPY%'",
            &[&app],
        )
        .await
        .unwrap()
        .get(0)
}

fn opts() -> ReadOptions {
    ReadOptions {
        batch_rows: 1000,
        batch_bytes: 1 << 20,
    }
}

#[tokio::test]
async fn a_stalled_read_whose_backend_is_killed_fails_instead_of_hanging() {
    big_table("tap_kill").await;
    let app = "ferry_tap_kill";
    let r = build(params("tap_kill", app)).await.unwrap();
    let splits = r.plan(1).await.unwrap();
    let mut st = r.read(&splits[0], opts()).await.unwrap();
    let mut rows = st.next().await.unwrap().unwrap().num_rows();
    // Stop pulling: the tap fills up and stops reading; the server blocks on its socket.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed: i64 = client()
        .await
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE application_name = $1 AND query LIKE 'COPY%'",
            &[&app],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(killed, 1);
    let end = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match st.next().await {
                Some(Ok(b)) => rows += b.num_rows(),
                Some(Err(e)) => return Some(e),
                None => return None,
            }
        }
    })
    .await
    .expect("the read must end, not hang");
    let e = end.expect("a killed backend must fail the read");
    assert!(rows < 100_000, "{rows} rows and then {e}");
    assert!(!e.to_string().contains('\n'), "{e}");
    r.close().await.unwrap();
}

#[tokio::test]
async fn a_read_dropped_mid_copy_ends_its_session() {
    // A COPY that takes about a minute to produce (a short sleep per row): if dropping the
    // read left the server streaming, its session would outlive the 5 s allowed below.
    let app = "ferry_tap_drop";
    let mut p = datax_params(json!({"querySql": [
        "SELECT g AS id, repeat('x', 240) AS s FROM generate_series(1, 200000) g, \
         LATERAL (SELECT pg_sleep(0.0002 + g * 0)) z"
    ]}));
    p["connection"][0]["jdbcUrl"] = json!([format!("{}?ApplicationName={app}", jdbc_url())]);
    let r = build(p).await.unwrap();
    let splits = r.plan(1).await.unwrap();
    let mut st = r.read(&splits[0], opts()).await.unwrap();
    assert!(st.next().await.unwrap().unwrap().num_rows() > 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(copy_sessions(app).await, 1, "the COPY should be running");
    drop(st);
    let t = Instant::now();
    while copy_sessions(app).await > 0 {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the server session of a dropped read is still running"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    r.close().await.unwrap();
}
