//! Split retry in the PostgreSQL writer, against a real server (`FERRY_TEST_PG_URL`):
//! a split's attempt is discarded and written again, as the runtime does after a transient
//! error, in every commit plan (the single plan's channels taking turns on one
//! transaction); a terminated writer backend is retried in the staged and
//! two-phase plans and fails the job in the single-transaction plan; a lock wait is a split
//! error, never a dirty row; a second writer of the same run (a resumed process) takes over
//! the first one's prepared splits. Each test uses its own schema.

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, StringArray};
use arrow::record_batch::RecordBatch;
use ferry_core::catalog::Catalog;
use ferry_core::dirty::DirtyCollector;
use ferry_core::plugin::{BatchSink, BuildContext, Receipt, Resume, Split, Writer, WriterFactory};
use ferry_postgres::writer::PostgresWriterFactory;
use serde_json::json;

fn pg_url() -> String {
    std::env::var("FERRY_TEST_PG_URL").expect("set FERRY_TEST_PG_URL; run scripts/test")
}

async fn admin() -> tokio_postgres::Client {
    let (c, conn) = tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    c
}

/// A fresh schema with `t (id int4 PRIMARY KEY, u uuid, name text)`.
async fn setup(schema: &str) -> tokio_postgres::Client {
    let c = admin().await;
    c.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};
         CREATE TABLE {schema}.t (id int4 PRIMARY KEY, u uuid, name text);"
    ))
    .await
    .unwrap();
    c
}

/// A writer into `schema.t` for a job of `channels` channels, with extra parameters.
async fn writer(schema: &str, channels: usize, extra: serde_json::Value) -> Arc<dyn Writer> {
    writer_of_run(schema, channels, extra, &ferry_core::plugin::new_run_id()).await
}

/// The same, for the run `run_id` (a second process of a run has the same id).
async fn writer_of_run(
    schema: &str,
    channels: usize,
    extra: serde_json::Value,
    run_id: &str,
) -> Arc<dyn Writer> {
    let mut p = json!({
        "connection": [{"jdbcUrl": pg_url(), "table": [format!("{schema}.t")]}],
        "column": ["id", "u", "name"],
    });
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    let ctx = BuildContext {
        catalog: Arc::new(Catalog::empty(None)),
        channels,
        job_name: "retry".into(),
        source_schema: None,
        run_id: run_id.to_string(),
    };
    PostgresWriterFactory
        .build(&p, "writer", &ctx)
        .await
        .unwrap()
}

fn split(i: usize) -> Split {
    Split::new(i, format!("split {i}"), &()).unwrap()
}

const BAD_ROW: usize = 7;

/// Rows `ids`, named `name`; row `BAD_ROW` carries a uuid the encoder rejects (a dirty row).
fn batch(w: &Arc<dyn Writer>, ids: std::ops::Range<i32>, name: &str) -> RecordBatch {
    batch_of(w, ids, name, true)
}

fn batch_of(w: &Arc<dyn Writer>, ids: std::ops::Range<i32>, name: &str, bad: bool) -> RecordBatch {
    let n = ids.len();
    let uuids: Vec<String> = (0..n)
        .map(|i| {
            if bad && i == BAD_ROW {
                "not-a-uuid".to_string()
            } else {
                format!("00000000-0000-0000-0000-{i:012}")
            }
        })
        .collect();
    RecordBatch::try_new(
        w.schema(),
        vec![
            Arc::new(Int32Array::from(ids.collect::<Vec<_>>())) as ArrayRef,
            Arc::new(StringArray::from(uuids)) as ArrayRef,
            Arc::new(StringArray::from(vec![name; n])) as ArrayRef,
        ],
    )
    .unwrap()
}

/// The rows of split `i`: ids `[i * 1000, i * 1000 + 1000)`.
fn ids(i: usize) -> std::ops::Range<i32> {
    let lo = i as i32 * 1000;
    lo..lo + 1000
}

/// Write split `i` on `sink` in two batches and end it; the runtime then seals the scope.
async fn write_split(
    w: &Arc<dyn Writer>,
    sink: &mut Box<dyn BatchSink>,
    scope: &DirtyCollector,
    i: usize,
) -> Receipt {
    sink.begin(&split(i)).await.unwrap();
    let b = batch(w, ids(i), "final");
    sink.write(b.slice(0, 600)).await.unwrap();
    sink.write(b.slice(600, 400)).await.unwrap();
    let r = sink.end().await.unwrap();
    scope.seal().unwrap();
    r
}

/// (rows, distinct ids, rows not named "final")
async fn summary(c: &tokio_postgres::Client, schema: &str) -> (i64, i64, i64) {
    let r = c
        .query_one(
            &format!(
                "SELECT count(*), count(DISTINCT id), count(*) FILTER (WHERE name <> 'final') FROM {schema}.t"
            ),
            &[],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2))
}

async fn staging_tables(c: &tokio_postgres::Client, schema: &str) -> i64 {
    c.query_one(
        "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename LIKE 'ferry\\_stage%'",
        &[&schema],
    )
    .await
    .unwrap()
    .get(0)
}

/// Channel 0 writes split 0, then a first attempt of split 1 that is discarded (its
/// dirty record withdrawn, as the runtime does), then split 1 again; with two channels,
/// channel 1 writes split 2. After commit every row is there once, from the final attempt,
/// and the dirty file holds one record per split.
async fn discard_and_retry(schema: &str, channels: usize, extra: serde_json::Value) {
    let c = setup(schema).await;
    let w = writer(schema, channels, extra).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dirty.jsonl");
    let job = DirtyCollector::new(Some(&path), None);
    let splits: Vec<Split> = (0..channels + 1).map(split).collect();
    w.prepare(&splits).await.unwrap();
    let scope0 = job.scoped();
    let mut sink = w.open(0, scope0.clone()).await.unwrap();
    let mut receipts = vec![write_split(&w, &mut sink, &scope0, 0).await];

    // The failed attempt: part of split 1 written (one dirty row among it), then dropped.
    sink.begin(&split(1)).await.unwrap();
    // Keys no split writes: rows of this attempt left behind would show.
    let first = batch(&w, 6000..7000, "first attempt");
    sink.write(first.slice(0, 600)).await.unwrap();
    sink.write(first.slice(600, 200)).await.unwrap();
    assert_eq!(scope0.held(), 1, "the attempt's dirty row is held");
    sink.discard().await.unwrap();
    assert_eq!(scope0.withdraw(), 1);
    assert_eq!(job.count(), 1, "only split 0's dirty row counts");

    receipts.push(write_split(&w, &mut sink, &scope0, 1).await);
    sink.close().await.unwrap();
    if channels > 1 {
        let scope1 = job.scoped();
        let mut other = w.open(1, scope1.clone()).await.unwrap();
        receipts.push(write_split(&w, &mut other, &scope1, 2).await);
        other.close().await.unwrap();
    }
    let expected = (channels as i64 + 1) * 999;
    assert_eq!(
        receipts.iter().map(|r| r.rows).sum::<u64>(),
        expected as u64
    );
    assert_eq!(
        receipts.iter().map(|r| r.split).collect::<Vec<_>>(),
        (0..=channels).collect::<Vec<_>>()
    );
    let rep = w.commit(receipts).await.unwrap();
    assert_eq!(rep.rows, expected as u64);
    assert_eq!(summary(&c, schema).await, (expected, expected, 0));
    assert_eq!(staging_tables(&c, schema).await, 0);

    job.flush().unwrap();
    let recs: Vec<serde_json::Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut seen: Vec<(String, u64, String)> = recs
        .iter()
        .map(|r| {
            (
                r["split"].as_str().unwrap().to_string(),
                r["row"].as_u64().unwrap(),
                r["record"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    let want: Vec<(String, u64, String)> = (0..=channels)
        .map(|i| (format!("split {i}"), BAD_ROW as u64, "final".to_string()))
        .collect();
    assert_eq!(seen, want);
}

#[tokio::test]
async fn discarded_split_is_written_once_single_transaction() {
    discard_and_retry("wr_single", 1, json!({"preparedTransactions": false})).await;
}

#[tokio::test]
async fn discarded_split_is_written_once_two_phase_one_channel() {
    discard_and_retry("wr_2pc_one", 1, json!({})).await;
}

#[tokio::test]
async fn discarded_split_is_written_once_single_transaction_update() {
    discard_and_retry("wr_single_upd", 1, json!({"writeMode": "update"})).await;
}

#[tokio::test]
async fn discarded_split_is_written_once_two_phase() {
    discard_and_retry("wr_2pc", 2, json!({})).await;
}

#[tokio::test]
async fn discarded_split_is_written_once_staged() {
    discard_and_retry("wr_staged", 2, json!({"truncate": true, "resumable": true})).await;
}

#[tokio::test]
async fn discarded_split_is_written_once_staged_update() {
    discard_and_retry(
        "wr_staged_upd",
        2,
        json!({"writeMode": "update", "resumable": true}),
    )
    .await;
}

#[tokio::test]
async fn discarded_split_is_written_once_single_transaction_two_channels() {
    discard_and_retry("wr_shared", 2, json!({"truncate": true})).await;
}

#[tokio::test]
async fn discarded_split_is_written_once_single_transaction_two_channels_update() {
    discard_and_retry("wr_shared_upd", 2, json!({"writeMode": "update"})).await;
}

#[tokio::test]
async fn discarded_split_is_written_once_per_channel() {
    discard_and_retry("wr_perch", 2, json!({"atomic": false, "batchSize": 100})).await;
}

/// The single plan with two channels: the channels' splits take turns on the one
/// transaction. Channel 1's first write waits while channel 0 holds the turn, goes on once
/// channel 0's split ends, and its discarded attempt drops only its own rows; nothing is
/// visible before the commit, every row once after it, and one connection did it all.
#[tokio::test]
async fn two_channels_take_turns_on_one_transaction() {
    let schema = "wr_turns";
    let c = setup(schema).await;
    let w = writer(schema, 2, json!({"preparedTransactions": false})).await;
    let job = DirtyCollector::in_memory();
    w.prepare(&[split(0), split(1), split(2)]).await.unwrap();
    let scope0 = job.scoped();
    let mut zero = w.open(0, scope0.clone()).await.unwrap();
    let scope1 = job.scoped();
    let mut one = w.open(1, scope1.clone()).await.unwrap();
    let backends = format!(
        "SELECT count(DISTINCT pid) FROM pg_locks WHERE relation = '{schema}.t'::regclass \
         AND pid <> pg_backend_pid()"
    );

    zero.begin(&split(0)).await.unwrap();
    one.begin(&split(1)).await.unwrap();
    let b0 = batch_of(&w, ids(0), "final", false);
    zero.write(b0.slice(0, 500)).await.unwrap();
    // Channel 1's attempt waits for the turn.
    let first = batch_of(&w, 6000..7000, "first attempt", false);
    let waiting = tokio::spawn(async move {
        let r = one.write(first).await;
        (one, r)
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "channel 1 wrote while channel 0 held the turn"
    );
    zero.write(b0.slice(500, 500)).await.unwrap();
    let mut receipts = vec![zero.end().await.unwrap()];
    let (mut one, r) = waiting.await.unwrap();
    r.unwrap();
    // Channel 1 holds the turn: channel 0's next split waits until channel 1 discards.
    one.discard().await.unwrap();
    receipts.push(write_split_clean(&w, &mut zero, 2).await);
    receipts.push(write_split_clean(&w, &mut one, 1).await);
    let loading: i64 = c.query_one(&backends, &[]).await.unwrap().get(0);
    assert_eq!(loading, 1, "one connection loads for both channels");
    zero.close().await.unwrap();
    one.close().await.unwrap();
    assert_eq!(
        summary(&c, schema).await,
        (0, 0, 0),
        "nothing visible before the commit"
    );
    let rep = w.commit(receipts).await.unwrap();
    assert_eq!(rep.rows, 3000);
    assert_eq!(summary(&c, schema).await, (3000, 3000, 0));
    assert_eq!(job.count(), 0);
}

/// Write split `i` (without a bad row) on `sink` and end it.
async fn write_split_clean(
    w: &Arc<dyn Writer>,
    sink: &mut Box<dyn BatchSink>,
    i: usize,
) -> Receipt {
    sink.begin(&split(i)).await.unwrap();
    sink.write(batch_of(w, ids(i), "final", false))
        .await
        .unwrap();
    sink.end().await.unwrap()
}

/// Terminate the backend that holds a lock on a relation of `schema` named like `rel`.
async fn kill_writer(c: &tokio_postgres::Client, schema: &str, rel: &str) {
    let killed: i64 = c
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM (SELECT DISTINCT l.pid FROM pg_locks l \
             JOIN pg_class r ON r.oid = l.relation JOIN pg_namespace n ON n.oid = r.relnamespace \
             WHERE n.nspname = $1 AND r.relname LIKE $2 AND l.pid <> pg_backend_pid()) p",
            &[&schema, &rel],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(killed, 1, "one writer backend holds {schema}.{rel}");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
}

#[tokio::test]
async fn staged_plan_retries_a_split_after_its_backend_is_terminated() {
    let schema = "wr_staged_kill";
    let c = setup(schema).await;
    let w = writer(schema, 2, json!({"truncate": true, "resumable": true})).await;
    let job = DirtyCollector::in_memory();
    w.prepare(&[split(0), split(1)]).await.unwrap();
    let scope0 = job.scoped();
    let mut sink = w.open(0, scope0.clone()).await.unwrap();
    let scope1 = job.scoped();
    let mut other = w.open(1, scope1.clone()).await.unwrap();
    let r1 = write_split(&w, &mut other, &scope1, 1).await;

    sink.begin(&split(0)).await.unwrap();
    let b = batch(&w, ids(0), "first attempt");
    sink.write(b.slice(0, 600)).await.unwrap();
    // Channel 0's split transaction holds its staging table (`ferry_stage_<tag>_0`).
    kill_writer(&c, schema, "ferry\\_stage\\_%\\_0").await;
    let err = match sink.write(b.slice(600, 400)).await {
        Err(e) => e,
        Ok(_) => sink.end().await.map(|_| ()).unwrap_err(),
    };
    assert!(err.retry_hint(), "a terminated backend is retried: {err}");
    sink.discard().await.unwrap();
    scope0.withdraw();
    let r0 = write_split(&w, &mut sink, &scope0, 0).await;
    sink.close().await.unwrap();
    other.close().await.unwrap();
    assert_eq!(summary(&c, schema).await, (0, 0, 0), "nothing visible yet");
    let rep = w.commit(vec![r0, r1]).await.unwrap();
    assert_eq!(rep.rows, 2 * 999);
    assert_eq!(summary(&c, schema).await, (2 * 999, 2 * 999, 0));
    assert_eq!(job.count(), 2);
    assert_eq!(staging_tables(&c, schema).await, 0);
}

#[tokio::test]
async fn single_transaction_cannot_retry_after_its_backend_is_terminated() {
    let schema = "wr_single_kill";
    let c = setup(schema).await;
    c.batch_execute(&format!(
        "INSERT INTO {schema}.t VALUES (-1, NULL, 'before')"
    ))
    .await
    .unwrap();
    let w = writer(schema, 1, json!({"preparedTransactions": false})).await;
    let job = DirtyCollector::in_memory();
    w.prepare(&[split(0), split(1)]).await.unwrap();
    let scope = job.scoped();
    let mut sink = w.open(0, scope.clone()).await.unwrap();
    let r0 = write_split(&w, &mut sink, &scope, 0).await;
    sink.begin(&split(1)).await.unwrap();
    let b = batch(&w, ids(1), "final");
    sink.write(b.slice(0, 600)).await.unwrap();
    kill_writer(&c, schema, "t").await;
    let err = match sink.write(b.slice(600, 400)).await {
        Err(e) => e,
        Ok(_) => sink.end().await.map(|_| ()).unwrap_err(),
    };
    assert!(err.retry_hint(), "the error itself is transient: {err}");
    let err = sink.discard().await.unwrap_err();
    assert!(!err.retry_hint(), "{err}");
    assert!(
        err.to_string().contains("transaction was lost")
            && err.to_string().contains("cannot be retried"),
        "{err}"
    );
    // The sink stays unusable.
    assert!(sink.begin(&split(1)).await.is_err());
    scope.withdraw();
    w.abort(vec![r0]).await.unwrap();
    assert_eq!(summary(&c, schema).await, (1, 1, 1));
}

#[tokio::test]
async fn two_phase_plan_retries_a_split_after_its_backend_is_terminated() {
    let schema = "wr_2pc_kill";
    let c = setup(schema).await;
    let w = writer(schema, 2, json!({})).await;
    let job = DirtyCollector::in_memory();
    w.prepare(&[split(0), split(1)]).await.unwrap();
    let scope0 = job.scoped();
    let mut sink = w.open(0, scope0.clone()).await.unwrap();
    let scope1 = job.scoped();
    let mut other = w.open(1, scope1.clone()).await.unwrap();
    // Split 1 is prepared: its locks belong to no backend any more.
    let r1 = write_split(&w, &mut other, &scope1, 1).await;

    sink.begin(&split(0)).await.unwrap();
    let b = batch(&w, ids(0), "first attempt");
    sink.write(b.slice(0, 600)).await.unwrap();
    kill_writer(&c, schema, "t").await;
    let err = match sink.write(b.slice(600, 400)).await {
        Err(e) => e,
        Ok(_) => sink.end().await.map(|_| ()).unwrap_err(),
    };
    assert!(err.retry_hint(), "a terminated backend is retried: {err}");
    sink.discard().await.unwrap();
    scope0.withdraw();
    let r0 = write_split(&w, &mut sink, &scope0, 0).await;
    sink.close().await.unwrap();
    other.close().await.unwrap();
    assert_eq!(summary(&c, schema).await, (0, 0, 0), "nothing visible yet");
    let rep = w.commit(vec![r0, r1]).await.unwrap();
    assert_eq!(rep.rows, 2 * 999);
    assert_eq!(summary(&c, schema).await, (2 * 999, 2 * 999, 0));
    assert_eq!(job.count(), 2);
    assert_eq!(prepared(&c, schema).await, 0);
}

/// Prepared transactions left on the server by writers of `schema`'s tests.
async fn prepared(c: &tokio_postgres::Client, schema: &str) -> i64 {
    // A prepared transaction holds its transaction id's lock and its tables' locks under
    // one virtual transaction.
    c.query_one(
        "SELECT count(DISTINCT p.gid) FROM pg_prepared_xacts p \
         JOIN pg_locks x ON x.locktype = 'transactionid' AND x.transactionid = p.transaction \
         JOIN pg_locks l ON l.virtualtransaction = x.virtualtransaction AND l.locktype = 'relation' \
         JOIN pg_class r ON r.oid = l.relation JOIN pg_namespace n ON n.oid = r.relnamespace \
         WHERE n.nspname = $1",
        &[&schema],
    )
    .await
    .unwrap()
    .get(0)
}

/// A process of a two-phase run prepares split 0 (its receipt recorded), prepares split
/// 1 (the receipt lost with the process) and dies in the middle of split 2. A second
/// process of the run attaches with split 0's receipt: split 1's prepared transaction is
/// rolled back, splits 1 and 2 are written again, and the commit is exact.
#[tokio::test]
async fn a_second_process_of_a_two_phase_run_takes_over_its_prepared_splits() {
    let schema = "wr_2pc_resume";
    let c = setup(schema).await;
    let run = ferry_core::plugin::new_run_id();
    let splits: Vec<Split> = (0..3).map(split).collect();
    let first = writer_of_run(schema, 1, json!({}), &run).await;
    let prepared_state = first.prepare(&splits).await.unwrap();
    let job = DirtyCollector::in_memory();
    let scope = job.scoped();
    let mut sink = first.open(0, scope.clone()).await.unwrap();
    let r0 = write_split(&first, &mut sink, &scope, 0).await;
    let _lost = write_split(&first, &mut sink, &scope, 1).await;
    sink.begin(&split(2)).await.unwrap();
    sink.write(batch(&first, ids(2), "cut short"))
        .await
        .unwrap();
    // The process dies: its connection goes, its open transaction with it.
    drop(sink);
    drop(first);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(summary(&c, schema).await, (0, 0, 0));

    let second = writer_of_run(schema, 1, json!({}), &run).await;
    let receipts = vec![r0];
    second
        .attach(&Resume {
            prepared: &prepared_state,
            receipts: &receipts,
            committing: false,
            shard: None,
        })
        .await
        .unwrap();
    let scope = job.scoped();
    let mut sink = second.open(0, scope.clone()).await.unwrap();
    let mut all = receipts.clone();
    all.push(write_split(&second, &mut sink, &scope, 1).await);
    all.push(write_split(&second, &mut sink, &scope, 2).await);
    sink.close().await.unwrap();
    let rep = second.commit(all).await.unwrap();
    assert_eq!(rep.rows, 3 * 999);
    assert_eq!(summary(&c, schema).await, (3 * 999, 3 * 999, 0));
    assert_eq!(prepared(&c, schema).await, 0);
}

/// A two-phase run died after committing some of its prepared transactions: a resumed
/// process (attached as `committing`) commits the rest; without that flag a missing
/// prepared transaction fails the commit before anything is committed.
#[tokio::test]
async fn a_two_phase_commit_cut_short_is_finished_by_the_next_process() {
    let schema = "wr_2pc_recommit";
    let c = setup(schema).await;
    let run = ferry_core::plugin::new_run_id();
    let splits: Vec<Split> = (0..2).map(split).collect();
    let first = writer_of_run(schema, 1, json!({}), &run).await;
    let prepared_state = first.prepare(&splits).await.unwrap();
    let job = DirtyCollector::in_memory();
    let scope = job.scoped();
    let mut sink = first.open(0, scope.clone()).await.unwrap();
    let r0 = write_split(&first, &mut sink, &scope, 0).await;
    let r1 = write_split(&first, &mut sink, &scope, 1).await;
    sink.close().await.unwrap();
    drop(first);
    // The first COMMIT PREPARED happened, then the process died.
    let gid = r0.payload["gid"].as_str().unwrap().to_string();
    c.batch_execute(&format!("COMMIT PREPARED '{gid}'"))
        .await
        .unwrap();
    assert_eq!(summary(&c, schema).await, (999, 999, 0));
    let receipts = vec![r0, r1];

    let wrong = writer_of_run(schema, 1, json!({}), &run).await;
    let resume = Resume {
        prepared: &prepared_state,
        receipts: &receipts,
        committing: false,
        shard: None,
    };
    wrong.attach(&resume).await.unwrap();
    let err = wrong
        .commit(receipts.clone())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("prepared transactions are gone"), "{err}");
    assert_eq!(
        summary(&c, schema).await,
        (999, 999, 0),
        "nothing more committed"
    );

    let second = writer_of_run(schema, 1, json!({}), &run).await;
    second
        .attach(&Resume {
            committing: true,
            ..resume
        })
        .await
        .unwrap();
    let rep = second.commit(receipts.clone()).await.unwrap();
    assert_eq!(rep.rows, 2 * 999);
    assert!(
        rep.notes
            .iter()
            .any(|n| n.contains("1 of them had been committed")),
        "{:?}",
        rep.notes
    );
    assert_eq!(summary(&c, schema).await, (2 * 999, 2 * 999, 0));
    assert_eq!(prepared(&c, schema).await, 0);
}

/// Another session holds a lock the split needs: the write fails after `lockTimeoutMs`
/// with a retryable error and no dirty row; once the lock is gone the split is written
/// again and the load is exact.
async fn lock_wait(schema: &str, extra: serde_json::Value, hold: &str, release: &str) {
    let c = setup(schema).await;
    let mut extra = extra;
    extra["lockTimeoutMs"] = json!(300);
    let w = writer(schema, 1, extra).await;
    let job = DirtyCollector::in_memory();
    w.prepare(&[split(0)]).await.unwrap();
    let scope = job.scoped();
    let mut sink = w.open(0, scope.clone()).await.unwrap();
    sink.begin(&split(0)).await.unwrap();
    let holder = admin().await;
    holder
        .batch_execute(&hold.replace("@t", &format!("{schema}.t")))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let b = batch_of(&w, 0..1000, "final", false);
    let err = match sink.write(b.clone()).await {
        Err(e) => e,
        Ok(_) => sink.end().await.map(|_| ()).unwrap_err(),
    };
    assert!(err.retry_hint(), "a lock time-out is retried: {err}");
    assert!(err.to_string().contains("lock"), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "lockTimeoutMs applies"
    );
    assert_eq!(
        (job.count(), scope.held()),
        (0, 0),
        "a lock wait is not a dirty row"
    );
    sink.discard().await.unwrap();
    scope.withdraw();
    holder.batch_execute(release).await.unwrap();
    sink.begin(&split(0)).await.unwrap();
    sink.write(b).await.unwrap();
    let r = sink.end().await.unwrap();
    scope.seal().unwrap();
    sink.close().await.unwrap();
    assert_eq!(r.rows, 1000);
    w.commit(vec![r]).await.unwrap();
    assert_eq!(summary(&c, schema).await, (1000, 1000, 0));
    assert_eq!(job.count(), 0);
}

#[tokio::test]
async fn table_lock_wait_fails_the_split_not_rows() {
    lock_wait(
        "wr_lock_table",
        json!({}),
        "BEGIN; LOCK TABLE @t IN ACCESS EXCLUSIVE MODE",
        "COMMIT",
    )
    .await;
}

#[tokio::test]
async fn row_lock_wait_fails_the_split_not_rows() {
    // An uncommitted insert of a key the load writes: the COPY waits on it.
    lock_wait(
        "wr_lock_row",
        json!({}),
        "BEGIN; INSERT INTO @t VALUES (5, NULL, 'other')",
        "ROLLBACK",
    )
    .await;
}

#[tokio::test]
async fn row_lock_wait_in_update_mode_fails_the_split_not_rows() {
    // The per-chunk merge (`INSERT ... ON CONFLICT DO UPDATE`) waits on the row.
    lock_wait(
        "wr_lock_upd",
        json!({"writeMode": "update", "batchSize": 100}),
        "BEGIN; INSERT INTO @t VALUES (5, NULL, 'other')",
        "ROLLBACK",
    )
    .await;
}
