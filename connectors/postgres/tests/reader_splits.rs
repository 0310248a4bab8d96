//! Every split mode reads exactly the rows of a single SELECT (as a multiset), including
//! NULL keys and skewed keys; all splits share one snapshot.

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod reader_support;

use ferry_core::plugin::ReadOptions;
use reader_support::*;
use serde_json::json;

fn small() -> ReadOptions {
    ReadOptions {
        batch_rows: 100,
        batch_bytes: 1 << 20,
    }
}

async fn check_same(
    table_params: serde_json::Value,
    split_params: serde_json::Value,
    channels: usize,
) -> Vec<String> {
    let mut all = table_params.clone();
    for (k, v) in split_params.as_object().unwrap() {
        all[k] = v.clone();
    }
    let expected = reference(datax_params(table_params)).await;
    let r = build(datax_params(all)).await.unwrap();
    let (splits, batches) = read_all(&r, channels, small()).await.unwrap();
    assert!(splits.len() > 1, "expected several splits: {splits:?}");
    for b in &batches {
        assert!(b.num_rows() <= 100);
    }
    assert_eq!(rows(&batches), expected);
    splits.iter().map(|s| s.description.clone()).collect()
}

#[tokio::test]
async fn integer_split_pk_reads_null_and_skewed_keys() {
    exec(
        "DROP TABLE IF EXISTS rsp_int; CREATE TABLE rsp_int (id int8, v text);
         INSERT INTO rsp_int SELECT g, 'v' || g FROM generate_series(1, 1000) g;
         INSERT INTO rsp_int SELECT NULL, 'null' || g FROM generate_series(1, 37) g;
         INSERT INTO rsp_int VALUES (1000000000000, 'skew'), (-5, 'neg'), (1000, 'dup');",
    )
    .await;
    let descs = check_same(
        json!({"table": ["rsp_int"], "column": ["id", "v"]}),
        json!({"splitPk": "id"}),
        4,
    )
    .await;
    // 4 channels x splitFactor 5 = 20 ranges + the NULL split.
    assert_eq!(descs.len(), 21, "{descs:?}");
    assert!(
        descs[0].starts_with("rsp_int: id >= -5 AND id < "),
        "{descs:?}"
    );
    assert!(descs[19].ends_with("id <= 1000000000000"), "{descs:?}");
    assert_eq!(descs[20], "rsp_int: id IS NULL");
}

#[tokio::test]
async fn integer_split_with_where_and_split_factor() {
    exec(
        "DROP TABLE IF EXISTS rsp_where; CREATE TABLE rsp_where (k int4, v float8);
         INSERT INTO rsp_where SELECT g, g * 1.5 FROM generate_series(1, 100) g;
         INSERT INTO rsp_where VALUES (NULL, 1), (NULL, 2);",
    )
    .await;
    let descs = check_same(
        json!({"table": ["rsp_where"], "column": ["k", "v"], "where": "v > 10 OR k IS NULL;"}),
        json!({"splitPk": "k", "splitFactor": "2"}),
        2,
    )
    .await;
    assert_eq!(descs.len(), 5, "{descs:?}");
}

#[tokio::test]
async fn text_split_pk_uses_sampled_boundaries() {
    exec(
        "DROP TABLE IF EXISTS rsp_text; CREATE TABLE rsp_text (name text, n int);
         INSERT INTO rsp_text SELECT md5(g::text), g FROM generate_series(1, 2000) g;
         INSERT INTO rsp_text VALUES ('it''s', 1), ('ü', 2), ('', 3), (NULL, 4), (NULL, 5);",
    )
    .await;
    let descs = check_same(
        json!({"table": ["rsp_text"], "column": ["name", "n"]}),
        json!({"splitPk": "name"}),
        3,
    )
    .await;
    assert_eq!(descs.last().unwrap(), "rsp_text: name IS NULL");
    assert!(descs.len() > 5, "{descs:?}");
}

#[tokio::test]
async fn timestamp_and_numeric_split_pks() {
    exec(
        "DROP TABLE IF EXISTS rsp_ts; CREATE TABLE rsp_ts (t timestamp, x numeric(10,2));
         INSERT INTO rsp_ts SELECT timestamp '2024-01-01' + g * interval '1 hour', g / 7.0 FROM generate_series(1, 500) g;
         INSERT INTO rsp_ts VALUES (NULL, NULL), ('infinity', 'NaN');",
    )
    .await;
    check_same(
        json!({"table": ["rsp_ts"], "column": ["t", "x::text"]}),
        json!({"splitPk": "t"}),
        2,
    )
    .await;
    check_same(
        json!({"table": ["rsp_ts"], "column": ["t", "x::text"]}),
        json!({"splitPk": "x"}),
        2,
    )
    .await;
}

#[tokio::test]
async fn ctid_ranges_without_split_pk() {
    exec(
        "DROP TABLE IF EXISTS rsp_ctid; CREATE TABLE rsp_ctid (a int, b text);
         INSERT INTO rsp_ctid SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g;
         INSERT INTO rsp_ctid VALUES (NULL, NULL);",
    )
    .await;
    let descs = check_same(
        json!({"table": ["rsp_ctid"], "column": ["*"]}),
        json!({}),
        3,
    )
    .await;
    assert!(descs[0].contains("ctid <"), "{descs:?}");
    assert_eq!(descs.len(), 15, "{descs:?}");
}

#[tokio::test]
async fn several_tables_and_queries() {
    exec(
        "DROP TABLE IF EXISTS rsp_m_0, rsp_m_1, rsp_m_2;
         CREATE TABLE rsp_m_0 (id int, s text); CREATE TABLE rsp_m_1 (id int, s text); CREATE TABLE rsp_m_2 (id int, s text);
         INSERT INTO rsp_m_0 SELECT g, 'a' FROM generate_series(1, 50) g;
         INSERT INTO rsp_m_1 SELECT g, 'b' FROM generate_series(1, 60) g;
         INSERT INTO rsp_m_1 VALUES (NULL, 'bn');",
    )
    .await;
    let r = build(datax_params(
        json!({"table": ["rsp_m_[0-2]"], "column": ["id", "s"], "splitPk": "id"}),
    ))
    .await
    .unwrap();
    let (splits, batches) = read_all(&r, 6, small()).await.unwrap();
    // ceil(6/3) = 2 ranges per non-empty table + its NULL split; one split for the empty one.
    assert_eq!(splits.len(), 3 + 3 + 1, "{splits:?}");
    assert_eq!(rows(&batches).len(), 111);

    let q = build(datax_params(json!({"querySql": ["SELECT id, s FROM rsp_m_0 WHERE id <= 10;", "SELECT id, s FROM rsp_m_1"]})))
        .await
        .unwrap();
    let (splits, batches) = read_all(&q, 4, small()).await.unwrap();
    assert_eq!(splits.len(), 2);
    assert_eq!(rows(&batches).len(), 71);
}

#[tokio::test]
async fn empty_table_is_one_split() {
    exec("DROP TABLE IF EXISTS rsp_empty; CREATE TABLE rsp_empty (id int8, v text);").await;
    let r = build(datax_params(
        json!({"table": ["rsp_empty"], "column": ["id", "v"], "splitPk": "id"}),
    ))
    .await
    .unwrap();
    let (splits, batches) = read_all(&r, 4, small()).await.unwrap();
    assert_eq!(splits.len(), 1);
    assert!(batches.is_empty());
}

#[tokio::test]
async fn parallel_read_sees_one_snapshot() {
    exec(
        "DROP TABLE IF EXISTS rsp_snap; CREATE TABLE rsp_snap (id int8 primary key, v int);
         INSERT INTO rsp_snap SELECT g, g FROM generate_series(1, 20000) g;",
    )
    .await;
    let params =
        datax_params(json!({"table": ["rsp_snap"], "column": ["id", "v"], "splitPk": "id"}));
    let expected = reference(params.clone()).await;
    let r = build(params).await.unwrap();
    let splits = r.plan(4).await.unwrap();
    // Change the table after planning, before any split reads.
    exec(
        "UPDATE rsp_snap SET v = -v WHERE id % 3 = 0; DELETE FROM rsp_snap WHERE id > 19000;
         INSERT INTO rsp_snap SELECT g, 0 FROM generate_series(20001, 21000) g;",
    )
    .await;
    let mut batches = Vec::new();
    for s in &splits {
        let mut st = r.read(s, small()).await.unwrap();
        use futures::StreamExt;
        while let Some(b) = st.next().await {
            batches.push(b.unwrap());
        }
    }
    r.close().await.unwrap();
    assert_eq!(rows(&batches), expected);
}

#[tokio::test]
async fn a_large_whole_table_with_split_pk_is_split_into_page_ranges() {
    // > 1024 pages (8 MiB), no `where`: page ranges even with a splitPk (each backend reads
    // its pages once instead of walking the key's index); with a `where`, key ranges.
    exec(
        "DROP TABLE IF EXISTS rsp_big; CREATE TABLE rsp_big (id int8 PRIMARY KEY, pad text);
         INSERT INTO rsp_big SELECT g, repeat('p', 120) FROM generate_series(1, 80000) g;
         ANALYZE rsp_big;",
    )
    .await;
    let pages: i64 = client()
        .await
        .query_one(
            "SELECT pg_relation_size('rsp_big') / current_setting('block_size')::int8",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(pages >= 1024, "{pages} pages");
    let descs = check_same(
        json!({"table": ["rsp_big"], "column": ["id", "pad"]}),
        json!({"splitPk": "id"}),
        2,
    )
    .await;
    // 2 channels x splitFactor 5, no NULL split (page ranges cover every row).
    assert_eq!(descs.len(), 10, "{descs:?}");
    assert!(descs[0].starts_with("rsp_big: ctid < '("), "{descs:?}");
    assert!(descs[9].starts_with("rsp_big: ctid >= '("), "{descs:?}");
    // A misspelled splitPk is still an error on a large table.
    let e = build(datax_params(
        json!({"table": ["rsp_big"], "column": ["id"], "splitPk": "idd"}),
    ))
    .await;
    let e = match e {
        Ok(r) => read_all(&r, 2, small()).await.err(),
        Err(e) => Some(e),
    }
    .expect("a misspelled splitPk must fail");
    assert!(e.to_string().contains("splitPk \"idd\""), "{e}");

    let descs = check_same(
        json!({"table": ["rsp_big"], "column": ["id", "pad"], "where": "id % 3 = 0"}),
        json!({"splitPk": "id"}),
        2,
    )
    .await;
    assert_eq!(
        descs.last().map(String::as_str),
        Some("rsp_big: id IS NULL")
    );
    assert!(
        descs[0].starts_with("rsp_big: id >= 3 AND id < "),
        "{descs:?}"
    );
}
