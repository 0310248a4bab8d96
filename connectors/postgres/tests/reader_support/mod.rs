//! Shared helpers of the reader integration tests: the test server, building a reader from
//! job parameters, reading every split, rendering rows for multiset comparisons.
#![allow(dead_code)]

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use ferry_core::catalog::Catalog;
use ferry_core::plugin::{BuildContext, ReadOptions, Reader, ReaderFactory, Split};
use ferry_postgres::{PgEndpoint, PostgresReaderFactory};
use futures::StreamExt;
use serde_json::{json, Value};

/// The test server's URL.
pub fn pg_url() -> String {
    std::env::var("FERRY_TEST_PG_URL").expect("set FERRY_TEST_PG_URL; run scripts/test")
}

/// The test server as an endpoint.
pub fn endpoint() -> PgEndpoint {
    PgEndpoint::parse(&pg_url(), None, None).unwrap()
}

/// `jdbc:postgresql://host:port/db` of the test server.
pub fn jdbc_url() -> String {
    let ep = endpoint();
    format!("jdbc:postgresql://{}:{}/{}", ep.host, ep.port, ep.dbname)
}

/// A connected client.
pub async fn client() -> tokio_postgres::Client {
    endpoint().connect().await.unwrap()
}

/// Run SQL (several statements allowed).
pub async fn exec(sql: &str) {
    client().await.batch_execute(sql).await.unwrap();
}

/// DataX-style reader parameters over the test server: `extra` is merged in, and
/// `table` / `querySql` go into the connection entry.
pub fn datax_params(extra: Value) -> Value {
    let ep = endpoint();
    let mut conn = json!({"jdbcUrl": [jdbc_url()]});
    let mut p = json!({"username": ep.user, "password": ep.password().unwrap_or("")});
    for (k, v) in extra.as_object().unwrap() {
        if k == "table" || k == "querySql" {
            conn[k] = v.clone();
        } else {
            p[k] = v.clone();
        }
    }
    p["connection"] = json!([conn]);
    p
}

/// Build a reader.
pub async fn build(params: Value) -> ferry_core::Result<Arc<dyn Reader>> {
    let ctx = BuildContext {
        catalog: Arc::new(Catalog::empty(None)),
        channels: 1,
        job_name: "test".into(),
        source_schema: None,
        run_id: ferry_core::plugin::new_run_id(),
    };
    PostgresReaderFactory
        .build(&params, "job.content[0].reader.parameter", &ctx)
        .await
}

/// Plan for `channels` and read every split (in parallel), then close.
pub async fn read_all(
    reader: &Arc<dyn Reader>,
    channels: usize,
    opts: ReadOptions,
) -> ferry_core::Result<(Vec<Split>, Vec<RecordBatch>)> {
    let splits = reader.plan(channels).await?;
    let mut tasks = Vec::new();
    for s in splits.clone() {
        let r = reader.clone();
        tasks.push(tokio::spawn(async move {
            let mut st = r.read(&s, opts).await?;
            let mut out = Vec::new();
            while let Some(b) = st.next().await {
                out.push(b?);
            }
            Ok::<_, ferry_core::Error>(out)
        }));
    }
    let mut batches = Vec::new();
    for t in tasks {
        batches.extend(t.await.unwrap()?);
    }
    reader.close().await?;
    Ok((splits, batches))
}

/// Every row rendered as `a|b|c`, sorted (a multiset).
pub fn rows(batches: &[RecordBatch]) -> Vec<String> {
    let opts = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for b in batches {
        assert!(b.num_rows() > 0, "empty batch");
        let fmts: Vec<_> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap())
            .collect();
        for r in 0..b.num_rows() {
            out.push(
                fmts.iter()
                    .map(|f| f.value(r).to_string())
                    .collect::<Vec<_>>()
                    .join("|"),
            );
        }
    }
    out.sort();
    out
}

/// Read with one channel (one split) for reference.
pub async fn reference(params: Value) -> Vec<String> {
    let r = build(params).await.unwrap();
    let (splits, b) = read_all(&r, 1, ReadOptions::default()).await.unwrap();
    assert_eq!(splits.len(), 1, "{splits:?}");
    rows(&b)
}
