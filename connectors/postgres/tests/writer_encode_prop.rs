//! Property test of the COPY encoder: random Arrow rows, COPYed through the writer into a
//! real table, read back equal (`FERRY_TEST_PG_URL`).

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Decimal128Array, Float64Array, Int64Array, StringArray,
};
use arrow::record_batch::RecordBatch;
use ferry_core::catalog::Catalog;
use ferry_core::dirty::DirtyCollector;
use ferry_core::plugin::{BuildContext, Split, WriterFactory};
use ferry_postgres::writer::PostgresWriterFactory;
use proptest::prelude::*;
use serde_json::json;

type Row = (
    Option<i64>,
    Option<f64>,
    Option<String>,
    Option<bool>,
    Option<i64>,
);

fn pg_url() -> String {
    std::env::var("FERRY_TEST_PG_URL").expect("set FERRY_TEST_PG_URL; run scripts/test")
}

async fn round_trip(rows: Vec<Row>) -> Vec<Row> {
    let (c, conn) = tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    c.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS w_prop; DROP TABLE IF EXISTS w_prop.t;
         CREATE TABLE w_prop.t (rn serial, i int8, f float8, s text, b bool, d numeric(18,4))",
    )
    .await
    .unwrap();
    let p = json!({"connection": [{"jdbcUrl": pg_url(), "table": ["w_prop.t"]}],
                   "column": ["i", "f", "s", "b", "d"], "atomic": false});
    let ctx = BuildContext {
        catalog: Arc::new(Catalog::empty(None)),
        channels: 1,
        job_name: "prop".into(),
        source_schema: None,
        run_id: ferry_core::plugin::new_run_id(),
    };
    let w = PostgresWriterFactory
        .build(&p, "writer", &ctx)
        .await
        .unwrap();
    let batch = RecordBatch::try_new(
        w.schema(),
        vec![
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )) as ArrayRef,
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.2.clone()).collect::<Vec<_>>(),
            )),
            Arc::new(BooleanArray::from(
                rows.iter().map(|r| r.3).collect::<Vec<_>>(),
            )),
            Arc::new(
                Decimal128Array::from(rows.iter().map(|r| r.4.map(i128::from)).collect::<Vec<_>>())
                    .with_precision_and_scale(18, 4)
                    .unwrap(),
            ),
        ],
    )
    .unwrap();
    let dirty = DirtyCollector::in_memory();
    let split = Split::new(0, "rows", &()).unwrap();
    let mut sink = w.open(0, dirty.clone()).await.unwrap();
    sink.begin(&split).await.unwrap();
    sink.write(batch).await.unwrap();
    let r = sink.end().await.unwrap();
    sink.close().await.unwrap();
    assert_eq!(r.rows, rows.len() as u64);
    w.commit(vec![r]).await.unwrap();
    assert_eq!(dirty.count(), 0);
    c.query(
        "SELECT i, f, s, b, (d * 10000)::int8 FROM w_prop.t ORDER BY rn",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
    .collect()
}

fn row() -> impl Strategy<Value = Row> {
    (
        proptest::option::of(any::<i64>()),
        proptest::option::of(prop_oneof![
            any::<f64>().prop_filter("NaN != NaN", |f| !f.is_nan()),
            Just(f64::INFINITY)
        ]),
        proptest::option::of("[^\u{0}]{0,40}"),
        proptest::option::of(any::<bool>()),
        proptest::option::of(-999_999_999_999_999_999i64..=999_999_999_999_999_999i64),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]
    #[test]
    fn encoded_rows_read_back_equal(rows in proptest::collection::vec(row(), 1..200)) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let got = rt.block_on(round_trip(rows.clone()));
        prop_assert_eq!(got, rows);
    }
}
