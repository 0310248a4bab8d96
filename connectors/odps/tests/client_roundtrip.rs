//! The `odps` reader and writer against the in-process MaxCompute server: round trips of
//! every supported type, partitions, globs and `/*query*/`, truncate and abort semantics,
//! retried block PUTs, and authentication errors.

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use arrow::array::*;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use ferry_core::catalog::Catalog;
use ferry_core::dirty::DirtyCollector;
use ferry_core::plugin::{
    BuildContext, ColumnSlot, ConstantValue, ReadOptions, Reader, ReaderFactory, Writer,
    WriterFactory,
};
use ferry_odps::OdpsSource;
use ferry_odps::{OdpsReaderFactory, OdpsWriterFactory};
use ferry_odps_server::{start, Auth, FaultInjection, RunningServer, ServeOptions};
use futures::StreamExt;
use serde_json::{json, Value};

const AK: &str = "client-ak";
const SK: &str = "client-secret-key";
const PROJECT: &str = "proj";

struct Env {
    server: RunningServer,
    _root: tempfile::TempDir,
}

async fn env_with(fault: Option<FaultInjection>) -> Env {
    let root = tempfile::tempdir().unwrap();
    let mut opts = ServeOptions::new(root.path());
    opts.auth = Auth::Keys {
        access_id: AK.into(),
        access_key: SK.into(),
    };
    opts.fault = fault;
    let server = start(opts).await.unwrap();
    Env {
        server,
        _root: root,
    }
}

async fn env() -> Env {
    env_with(None).await
}

impl Env {
    fn source(&self) -> OdpsSource {
        OdpsSource {
            endpoint: self.server.endpoint(),
            tunnel_endpoint: Some(self.server.tunnel_endpoint()),
            project: PROJECT.into(),
            access_id: Some(AK.into()),
            access_key: Some(SK.into()),
            ..Default::default()
        }
    }

    /// DataX-style connection parameters merged with `extra`.
    fn params(&self, extra: Value) -> Value {
        let mut p = json!({
            "odpsServer": self.server.endpoint(),
            "tunnelServer": self.server.tunnel_endpoint(),
            "accessId": AK,
            "accessKey": SK,
            "project": PROJECT,
        });
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        p
    }

    async fn sql(&self, sql: &str) {
        ferry_odps::run_sql(&self.source(), sql).await.unwrap();
    }
}

fn ctx(channels: usize) -> BuildContext {
    BuildContext {
        catalog: Arc::new(Catalog::empty(None)),
        channels,
        job_name: "test".into(),
        source_schema: None,
        run_id: ferry_core::plugin::new_run_id(),
    }
}

async fn writer(params: Value, channels: usize) -> Arc<dyn Writer> {
    OdpsWriterFactory
        .build(&params, "writer.parameter", &ctx(channels))
        .await
        .unwrap()
}

/// Write `batches` round-robin over `channels` sinks and return the receipts (not committed).
async fn write_uncommitted(
    w: &Arc<dyn Writer>,
    channels: usize,
    batches: Vec<RecordBatch>,
) -> Vec<ferry_core::plugin::Receipt> {
    w.prepare(&[]).await.unwrap();
    let mut sinks = Vec::new();
    for c in 0..channels {
        let mut s = w.open(c, DirtyCollector::in_memory()).await.unwrap();
        s.begin(&ferry_core::plugin::Split::new(c, format!("split {c}"), &()).unwrap())
            .await
            .unwrap();
        sinks.push(s);
    }
    for (i, b) in batches.into_iter().enumerate() {
        let n = b.num_rows() as u64;
        assert_eq!(sinks[i % channels].write(b).await.unwrap(), n);
    }
    let mut receipts = Vec::new();
    for mut s in sinks {
        receipts.push(s.end().await.unwrap());
    }
    receipts
}

async fn write_all(params: Value, channels: usize, batches: Vec<RecordBatch>) -> u64 {
    let w = writer(params, channels).await;
    let receipts = write_uncommitted(&w, channels, batches).await;
    w.commit(receipts).await.unwrap().rows
}

async fn reader(params: Value, channels: usize) -> Arc<dyn Reader> {
    OdpsReaderFactory
        .build(&params, "reader.parameter", &ctx(channels))
        .await
        .unwrap()
}

/// Read every split, concatenated in split order.
async fn read_all(r: &Arc<dyn Reader>, channels: usize) -> RecordBatch {
    let splits = r.plan(channels).await.unwrap();
    let mut out = Vec::new();
    for s in &splits {
        let mut st = r
            .read(
                s,
                ReadOptions {
                    batch_rows: 3,
                    batch_bytes: 1 << 20,
                },
            )
            .await
            .unwrap();
        while let Some(b) = st.next().await {
            let b = b.unwrap();
            assert!(b.num_rows() > 0);
            assert_eq!(b.schema(), r.schema());
            out.push(b);
        }
    }
    arrow::compute::concat_batches(&r.schema(), &out).unwrap()
}

fn person_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("score", DataType::Float64, true),
    ]))
}

fn people(from: i64, n: i64) -> RecordBatch {
    let ids: Vec<i64> = (from..from + n).collect();
    RecordBatch::try_new(
        person_schema(),
        vec![
            Arc::new(Int64Array::from(ids.clone())),
            Arc::new(StringArray::from_iter(ids.iter().map(|i| {
                if i % 7 == 3 {
                    None
                } else {
                    Some(format!("person-{i}-é"))
                }
            }))),
            Arc::new(Float64Array::from_iter(
                ids.iter().map(|i| Some(*i as f64 * 0.5)),
            )),
        ],
    )
    .unwrap()
}

fn ids_of(b: &RecordBatch, col: usize) -> Vec<i64> {
    let mut v: Vec<i64> = b
        .column(col)
        .as_primitive::<arrow::datatypes::Int64Type>()
        .iter()
        .map(|x| x.unwrap())
        .collect();
    v.sort_unstable();
    v
}

fn strip_meta(b: &RecordBatch) -> RecordBatch {
    let fields: Vec<Field> = b
        .schema()
        .fields()
        .iter()
        .map(|f| Field::new(f.name(), f.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), b.columns().to_vec()).unwrap()
}

fn sort_by_id(b: &RecordBatch) -> RecordBatch {
    let idx = arrow::compute::sort_to_indices(b.column(0), None, None).unwrap();
    let cols = b
        .columns()
        .iter()
        .map(|c| arrow::compute::take(c.as_ref(), &idx, None).unwrap())
        .collect();
    RecordBatch::try_new(b.schema(), cols).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn person_round_trip_over_channels_and_formats() {
    let e = env().await;
    e.sql("CREATE TABLE person (id BIGINT, name STRING, score DOUBLE)")
        .await;
    let rows = write_all(
        e.params(json!({"table": "person", "column": ["id", "name", "score"], "truncate": "true"})),
        3,
        vec![people(0, 10), people(10, 25), people(35, 1), people(36, 14)],
    )
    .await;
    assert_eq!(rows, 50);
    let want = strip_meta(&people(0, 50));
    // record format, 4 channels, and arrow format with each compression
    for extra in [
        json!({}),
        json!({"arrow": true}),
        json!({"isCompress": true}),
        json!({"compress": "zstd", "arrow": true}),
        json!({"compress": "lz4"}),
        json!({"compress": "snappy"}),
    ] {
        let mut p = json!({"table": "person", "column": ["*"]});
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        let r = reader(e.params(p), 4).await;
        let splits = r.plan(4).await.unwrap();
        assert_eq!(splits.len(), 4, "{extra}");
        let got = sort_by_id(&strip_meta(&read_all(&r, 4).await));
        assert_eq!(got, want, "{extra}");
    }
    // compressed and arrow uploads read back equal too
    for extra in [
        json!({"arrow": true}),
        json!({"compress": "zstd"}),
        json!({"isCompress": true, "arrow": true}),
    ] {
        let mut p = json!({"table": "person", "truncate": true});
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        write_all(e.params(p), 2, vec![people(100, 20), people(120, 5)]).await;
        let r = reader(e.params(json!({"table": "person", "column": ["id"]})), 1).await;
        assert_eq!(
            ids_of(&read_all(&r, 1).await, 0),
            (100..125).collect::<Vec<_>>(),
            "{extra}"
        );
    }
}

fn all_types_ddl() -> &'static str {
    "CREATE TABLE all_types (c_bigint BIGINT, c_int INT, c_smallint SMALLINT, c_tinyint TINYINT, \
     c_double DOUBLE, c_float FLOAT, c_bool BOOLEAN, c_string STRING, c_varchar VARCHAR(10), c_char CHAR(5), \
     c_binary BINARY, c_decimal DECIMAL(10,2), c_date DATE, c_datetime DATETIME, c_timestamp TIMESTAMP, \
     c_array ARRAY<BIGINT>, c_map MAP<STRING,BIGINT>, c_struct STRUCT<a:BIGINT,b:STRING>)"
}

fn all_types_batch(schema: SchemaRef) -> RecordBatch {
    let mut list = ListBuilder::new(Int64Builder::new());
    list.append_value([Some(1), None, Some(i64::MAX)]);
    list.append_null();
    list.append_value([]);
    let names = MapFieldNames {
        entry: "entries".into(),
        key: "key".into(),
        value: "value".into(),
    };
    let mut map = MapBuilder::new(Some(names), StringBuilder::new(), Int64Builder::new());
    map.keys().append_value("k1");
    map.values().append_value(1);
    map.keys().append_value("k2");
    map.values().append_null();
    map.append(true).unwrap();
    map.append(false).unwrap();
    map.append(true).unwrap();
    let sfields = match schema.field_with_name("c_struct").unwrap().data_type() {
        DataType::Struct(f) => f.clone(),
        _ => unreachable!(),
    };
    let st = StructArray::try_new(
        sfields,
        vec![
            Arc::new(Int64Array::from(vec![Some(5), None, Some(-5)])),
            Arc::new(StringArray::from(vec![Some("x"), None, None])),
        ],
        Some(vec![true, false, true].into()),
    )
    .unwrap();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![Some(i64::MIN), None, Some(i64::MAX)])),
        Arc::new(Int32Array::from(vec![Some(i32::MIN), None, Some(7)])),
        Arc::new(Int16Array::from(vec![Some(i16::MAX), None, Some(-1)])),
        Arc::new(Int8Array::from(vec![Some(i8::MIN), None, Some(0)])),
        Arc::new(Float64Array::from(vec![
            Some(f64::INFINITY),
            None,
            Some(-0.125),
        ])),
        Arc::new(Float32Array::from(vec![Some(1.5f32), None, Some(f32::MIN)])),
        Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
        Arc::new(StringArray::from(vec![Some(""), None, Some("日本語 ✓")])),
        Arc::new(StringArray::from(vec![
            Some("abc"),
            None,
            Some("0123456789"),
        ])),
        Arc::new(StringArray::from(vec![Some("ab   "), None, Some("abcde")])),
        Arc::new(BinaryArray::from(vec![
            Some(&b"\x00\xff"[..]),
            None,
            Some(&b""[..]),
        ])),
        Arc::new(
            Decimal128Array::from(vec![Some(1_234_567_899), None, Some(-1)])
                .with_precision_and_scale(10, 2)
                .unwrap(),
        ),
        Arc::new(Date32Array::from(vec![Some(-719162), None, Some(20000)])),
        Arc::new(TimestampMillisecondArray::from(vec![
            Some(-62135596800000),
            None,
            Some(1_790_000_000_123),
        ])),
        Arc::new(TimestampNanosecondArray::from(vec![
            Some(1_790_000_000_123_456_789),
            None,
            Some(-1),
        ])),
        Arc::new(list.finish()),
        Arc::new(map.finish()),
        Arc::new(st),
    ];
    let plain: Vec<Field> = schema
        .fields()
        .iter()
        .zip(&cols)
        .map(|(f, c)| Field::new(f.name(), c.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(plain)), cols).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_supported_type_round_trips() {
    let e = env().await;
    e.sql(all_types_ddl()).await;
    let w = writer(e.params(json!({"table": "all_types", "column": ["*"]})), 1).await;
    let ws = w.schema();
    assert_eq!(ws.fields().len(), 18);
    let vf = ws.field_with_name("c_varchar").unwrap();
    assert_eq!(
        vf.metadata().get("ferry.max_chars").map(String::as_str),
        Some("10")
    );
    assert_eq!(
        vf.metadata().get("ferry.type").map(String::as_str),
        Some("varchar(10)")
    );
    assert_eq!(
        ws.field_with_name("c_timestamp").unwrap().data_type(),
        &DataType::Timestamp(TimeUnit::Nanosecond, None)
    );
    let batch = all_types_batch(ws.clone());
    let with_ws = RecordBatch::try_new(ws.clone(), batch.columns().to_vec()).unwrap();
    let receipts = write_uncommitted(&w, 1, vec![with_ws]).await;
    w.commit(receipts).await.unwrap();
    for arrow_mode in [false, true] {
        let r = reader(
            e.params(json!({"table": "all_types", "column": ["*"], "arrow": arrow_mode})),
            1,
        )
        .await;
        let got = read_all(&r, 1).await;
        assert_eq!(strip_meta(&got), strip_meta(&batch), "arrow={arrow_mode}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_globs_queries_constants_and_partition_columns() {
    let e = env().await;
    e.sql("CREATE TABLE pt_people (id BIGINT, name STRING, score DOUBLE) PARTITIONED BY (pt STRING, ds STRING)").await;
    let specs = [
        ("pt=20170101,ds=hz", 0),
        ("pt=20170105/ds=sh", 100),
        (" pt = '20170110' , ds = 'hz' ", 200),
        ("ds=hz,pt=20161231", 300),
    ];
    for (spec, from) in specs {
        write_all(
            e.params(
                json!({"table": "pt_people", "partition": spec, "column": ["id", "name", "score"]}),
            ),
            2,
            vec![people(from, 5), people(from + 5, 5)],
        )
        .await;
    }
    let read_ids = |p: Value| {
        let params = e.params(json!({"table": "pt_people", "partition": p, "column": ["id"]}));
        async move {
            let r = reader(params, 2).await;
            ids_of(&read_all(&r, 2).await, 0)
        }
    };
    let range = |a: i64| (a..a + 10).collect::<Vec<_>>();
    assert_eq!(read_ids(json!("pt=20170101,ds=hz")).await, range(0));
    assert_eq!(read_ids(json!("pt=20170105/ds=sh")).await, range(100));
    let mut both = range(0);
    both.extend(range(200));
    assert_eq!(read_ids(json!(["pt=2017*,ds=hz"])).await, both);
    assert_eq!(
        read_ids(json!(["pt=2017010?,ds=*"])).await,
        [range(0), range(100)].concat()
    );
    assert_eq!(
        read_ids(json!(["/*query*/ pt>=20170101 and pt<20170110"])).await,
        [range(0), range(100)].concat()
    );
    assert_eq!(
        read_ids(json!([
            "/*query*/ ds='sh' or pt='20161231'",
            "pt=20170105,ds=sh"
        ]))
        .await,
        [range(100), range(300)].concat()
    );
    // no match: an error that lists the partitions, unless successOnNoPartition
    let err = OdpsReaderFactory
        .build(
            &e.params(
                json!({"table": "pt_people", "partition": "pt=1999*,ds=*", "column": ["id"]}),
            ),
            "reader.parameter",
            &ctx(1),
        )
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("pt=20170105,ds=sh") && err.contains("successOnNoPartition"),
        "{err}"
    );
    let r = reader(
        e.params(json!({"table": "pt_people", "partition": "pt=1999*,ds=*", "column": ["id"], "successOnNoPartition": true})),
        1,
    )
    .await;
    assert!(r.plan(2).await.unwrap().is_empty());
    // partition columns and constants in the column list
    let r = reader(
        e.params(
            json!({"table": "pt_people", "partition": ["pt=20170105,ds=sh"],
                         "column": ["'const'", "DS", "id", "pt", "7"]}),
        ),
        1,
    )
    .await;
    assert_eq!(
        r.layout(),
        vec![
            ColumnSlot::Constant(ConstantValue::Text("const".into())),
            ColumnSlot::Source(2),
            ColumnSlot::Source(0),
            ColumnSlot::Source(1),
            ColumnSlot::Constant(ConstantValue::Number("7".into())),
        ]
    );
    let b = read_all(&r, 1).await;
    assert_eq!(b.num_columns(), 3);
    assert_eq!(b.num_rows(), 10);
    let pt = b.column(1).as_string::<i32>();
    let ds = b.column(2).as_string::<i32>();
    assert!(pt.iter().all(|v| v == Some("20170105")));
    assert!(ds.iter().all(|v| v == Some("sh")));
    // unknown column: a schema error naming it and the table's columns
    let err = OdpsReaderFactory
        .build(
            &e.params(
                json!({"table": "pt_people", "partition": "pt=*,ds=*", "column": ["id", "nme"]}),
            ),
            "reader.parameter",
            &ctx(1),
        )
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ferry_core::Error::Schema(_)), "{err}");
    assert!(
        err.to_string().contains("\"nme\"") && err.to_string().contains("id, name, score"),
        "{err}"
    );
    // splitMode partition: one split per partition; record: ranges
    let r = reader(
        e.params(json!({"table": "pt_people", "partition": "pt=2017*,ds=*", "column": ["id"], "splitMode": "partition"})),
        8,
    )
    .await;
    assert_eq!(r.plan(8).await.unwrap().len(), 3);
    let r = reader(
        e.params(json!({"table": "pt_people", "partition": "pt=2017*,ds=*", "column": ["id"]})),
        8,
    )
    .await;
    assert_eq!(r.plan(8).await.unwrap().len(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_checks_columns_and_partitions() {
    let e = env().await;
    e.sql("CREATE TABLE wchk (id BIGINT, name STRING) PARTITIONED BY (pt STRING)")
        .await;
    let build = |p: Value| {
        let params = e.params(p);
        async move {
            OdpsWriterFactory
                .build(&params, "writer.parameter", &ctx(1))
                .await
                .err()
                .unwrap()
        }
    };
    let err = build(json!({"table": "wchk", "partition": "pt=1", "column": ["id", "nmae"]})).await;
    assert!(matches!(err, ferry_core::Error::Schema(_)));
    assert!(
        err.to_string().contains("\"nmae\"") && err.to_string().contains("id, name"),
        "{err}"
    );
    let err = build(json!({"table": "wchk", "column": ["id"]})).await;
    assert!(err.to_string().contains("partitioned by (pt)"), "{err}");
    let err = build(json!({"table": "wchk", "partition": "pt=*", "column": ["id"]})).await;
    assert!(err.to_string().contains("must name one partition"), "{err}");
    let err = build(json!({"table": "missing_table", "column": ["id"]})).await;
    assert!(err.to_string().contains("missing_table"), "{err}");
    // unlisted columns are written as NULL, the listed ones in job order
    let w = writer(
        e.params(json!({"table": "wchk", "partition": "pt=1", "column": ["name"]})),
        1,
    )
    .await;
    let b = RecordBatch::try_new(
        w.schema(),
        vec![Arc::new(StringArray::from(vec!["a", "b"]))],
    )
    .unwrap();
    let rc = write_uncommitted(&w, 1, vec![b]).await;
    w.commit(rc).await.unwrap();
    let r = reader(
        e.params(json!({"table": "wchk", "partition": "pt=1", "column": ["id", "name"]})),
        1,
    )
    .await;
    let got = read_all(&r, 1).await;
    assert_eq!(got.column(0).null_count(), 2);
    assert_eq!(got.column(1).as_string::<i32>().value(1), "b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncate_replaces_rows_only_at_commit_and_abort_leaves_the_table() {
    let e = env().await;
    e.sql("CREATE TABLE tr (id BIGINT, name STRING, score DOUBLE) PARTITIONED BY (pt STRING)")
        .await;
    let p = |truncate: bool| {
        e.params(json!({"table": "tr", "partition": "pt=x", "truncate": truncate}))
    };
    write_all(p(false), 1, vec![people(0, 5)]).await;
    let read_ids = || async {
        let r = reader(
            e.params(json!({"table": "tr", "partition": "pt=x", "column": ["id"]})),
            1,
        )
        .await;
        ids_of(&read_all(&r, 1).await, 0)
    };
    assert_eq!(read_ids().await, (0..5).collect::<Vec<_>>());
    // truncate: blocks written, not committed → old rows still there
    let w = writer(p(true), 2).await;
    let receipts = write_uncommitted(&w, 2, vec![people(50, 3), people(53, 3)]).await;
    assert_eq!(read_ids().await, (0..5).collect::<Vec<_>>());
    w.commit(receipts).await.unwrap();
    assert_eq!(read_ids().await, (50..56).collect::<Vec<_>>());
    // append without truncate
    write_all(p(false), 1, vec![people(60, 2)]).await;
    assert_eq!(read_ids().await, [50, 51, 52, 53, 54, 55, 60, 61]);
    // a failed job: abort → nothing changes, even with truncate
    let w = writer(p(true), 2).await;
    let receipts = write_uncommitted(&w, 2, vec![people(90, 4), people(94, 4)]).await;
    w.abort(receipts).await.unwrap();
    assert_eq!(read_ids().await, [50, 51, 52, 53, 54, 55, 60, 61]);
}

#[tokio::test]
async fn a_discarded_split_attempt_commits_nothing_of_its_rows() {
    let e = env().await;
    e.sql("CREATE TABLE again (id BIGINT, name STRING, score DOUBLE)")
        .await;
    let w = writer(e.params(json!({"table": "again"})), 1).await;
    let split = |i: usize| ferry_core::plugin::Split::new(i, format!("split {i}"), &()).unwrap();
    w.prepare(&[split(0), split(1)]).await.unwrap();
    let mut sink = w.open(0, DirtyCollector::in_memory()).await.unwrap();
    sink.begin(&split(0)).await.unwrap();
    sink.write(people(0, 5)).await.unwrap();
    let r0 = sink.end().await.unwrap();
    // split 1 fails after a block went up: its blocks are emptied
    sink.begin(&split(1)).await.unwrap();
    sink.write(people(100, 7)).await.unwrap();
    sink.discard().await.unwrap();
    // and its second attempt writes it again
    sink.begin(&split(1)).await.unwrap();
    sink.write(people(100, 7)).await.unwrap();
    let r1 = sink.end().await.unwrap();
    sink.close().await.unwrap();
    assert_eq!((r0.split, r0.rows, r1.split, r1.rows), (0, 5, 1, 7));
    assert_eq!(w.commit(vec![r0, r1]).await.unwrap().rows, 12);
    let r = reader(e.params(json!({"table": "again", "column": ["id"]})), 1).await;
    let want: Vec<i64> = (0..5).chain(100..107).collect();
    assert_eq!(ids_of(&sort_by_id(&read_all(&r, 1).await), 0), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_block_put_is_retried_without_duplicates() {
    let e = env_with(Some(FaultInjection {
        drop_block_put_after_bytes: Some(2000),
        times: 2,
    }))
    .await;
    e.sql("CREATE TABLE flaky (id BIGINT, name STRING, score DOUBLE)")
        .await;
    let batches: Vec<RecordBatch> = (0..10).map(|i| people(i * 500, 500)).collect();
    let rows = write_all(
        e.params(json!({"table": "flaky", "maxRetryTime": 5})),
        2,
        batches,
    )
    .await;
    assert_eq!(rows, 5000);
    let r = reader(e.params(json!({"table": "flaky", "column": ["id"]})), 3).await;
    assert_eq!(
        ids_of(&read_all(&r, 3).await, 0),
        (0..5000).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_long_values_and_bad_decimals_become_dirty_records() {
    let e = env().await;
    e.sql("CREATE TABLE big (id BIGINT, s STRING, d DECIMAL(4,1))")
        .await;
    let huge = "x".repeat(8 * 1024 * 1024 + 1);
    let mk = |w: &Arc<dyn Writer>| {
        RecordBatch::try_new(
            w.schema(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(StringArray::from(vec![
                    Some("ok"),
                    Some(huge.as_str()),
                    Some("ok"),
                ])),
                Arc::new(
                    Decimal128Array::from(vec![Some(999), Some(1), Some(123456)])
                        .with_precision_and_scale(4, 1)
                        .unwrap(),
                ),
            ],
        )
        .unwrap()
    };
    // keepOn: rows 2 (too long) and 3 (decimal overflow) are dirty
    let w = writer(e.params(json!({"table": "big", "truncate": true})), 1).await;
    w.prepare(&[]).await.unwrap();
    let dirty = DirtyCollector::in_memory();
    let mut sink = w.open(0, dirty.clone()).await.unwrap();
    sink.begin(&ferry_core::plugin::Split::new(0, "split 0", &()).unwrap())
        .await
        .unwrap();
    assert_eq!(sink.write(mk(&w)).await.unwrap(), 1);
    assert_eq!(dirty.count(), 2);
    let rc = sink.end().await.unwrap();
    assert_eq!(w.commit(vec![rc]).await.unwrap().rows, 1);
    // setNull and truncate
    for (rule, want_len) in [("setNull", None), ("truncate", Some(100))] {
        let w = writer(
            e.params(json!({"table": "big", "truncate": true, "overLengthRule": rule, "maxFieldLength": 100})),
            1,
        )
        .await;
        w.prepare(&[]).await.unwrap();
        let dirty = DirtyCollector::in_memory();
        let mut sink = w.open(0, dirty.clone()).await.unwrap();
        sink.begin(&ferry_core::plugin::Split::new(0, "split 0", &()).unwrap())
            .await
            .unwrap();
        assert_eq!(sink.write(mk(&w)).await.unwrap(), 2, "{rule}");
        let rc = sink.end().await.unwrap();
        w.commit(vec![rc]).await.unwrap();
        let r = reader(e.params(json!({"table": "big", "column": ["id", "s"]})), 1).await;
        let b = sort_by_id(&read_all(&r, 1).await);
        assert_eq!(ids_of(&b, 0), vec![1, 2], "{rule}");
        let s = b.column(1).as_string::<i32>();
        assert_eq!(s.is_valid(1).then(|| s.value(1).len()), want_len, "{rule}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_access_key_is_a_clear_error_without_the_key() {
    let e = env().await;
    let mut p = e.params(json!({"table": "person", "column": ["id"]}));
    p["accessKey"] = json!("wrong-secret-value");
    let err = OdpsReaderFactory
        .build(&p, "reader.parameter", &ctx(1))
        .await
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(matches!(err, ferry_core::Error::Connect(_)), "{msg}");
    assert!(msg.contains("accessKey"), "{msg}");
    assert!(
        !msg.contains("wrong-secret-value") && !msg.contains(SK),
        "{msg}"
    );
    let mut src = e.source();
    src.access_key = Some("wrong-secret-value".into());
    let err = ferry_odps::test_connection(&src)
        .await
        .unwrap_err()
        .to_string();
    assert!(!err.contains("wrong-secret-value"), "{err}");
    let ok = ferry_odps::test_connection(&e.source()).await.unwrap();
    assert!(ok.starts_with("project proj, "), "{ok}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_helpers_preview_schema_sql_and_tunnel_discovery() {
    let e = env().await;
    e.sql("CREATE TABLE pv (id BIGINT, name VARCHAR(8), score DOUBLE) PARTITIONED BY (pt STRING)")
        .await;
    // no tunnel endpoint configured: discovered through /tunnel?service
    let mut p = e.params(json!({"table": "pv", "partition": "pt=1"}));
    p.as_object_mut().unwrap().remove("tunnelServer");
    write_all(p, 1, vec![people(0, 30)]).await;
    let (schema, types) = ferry_odps::table_schema(&e.source(), "pv").await.unwrap();
    assert_eq!(types, vec!["bigint", "varchar(8)", "double", "string"]);
    assert_eq!(schema.field(3).name(), "pt");
    let mut src = e.source();
    src.tunnel_endpoint = None;
    let b = ferry_odps::preview(&src, "pv", Some("pt='1'"), 7)
        .await
        .unwrap();
    assert_eq!(b.num_rows(), 7);
    assert_eq!(ids_of(&b, 0), (0..7).collect::<Vec<_>>());
    assert!(ferry_odps::preview(&src, "pv", None, 7).await.is_err());
    let err = ferry_odps::run_sql(&e.source(), "SELECT * FROM nowhere")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("SQL"), "{err}");
}

fn id_batch(from: i64, n: i64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)]));
    RecordBatch::try_new(
        schema,
        vec![Arc::new(Int64Array::from_iter_values(from..from + n))],
    )
    .unwrap()
}

/// Issue 20: ferry's reader against the answers the local server now gives as MaxCompute
/// does — it never relied on the old ones (it lists every partition and matches globs
/// itself), and reads the corrected ones right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_against_maxcompute_answers() {
    let e = env().await;
    // partition values that are prefixes of each other stay apart
    e.sql("CREATE TABLE pfx (id BIGINT) PARTITIONED BY (type STRING, pt STRING)")
        .await;
    for (spec, from) in [
        ("type=test,pt=1", 0),
        ("type=test2,pt=1", 100),
        ("type=test3x,pt=2", 200),
    ] {
        write_all(
            e.params(json!({"table": "pfx", "partition": spec, "column": ["id"]})),
            1,
            vec![id_batch(from, 3)],
        )
        .await;
    }
    let read_ids = |p: Value| {
        let params = e.params(json!({"table": "pfx", "partition": p, "column": ["id"]}));
        async move {
            let r = reader(params, 2).await;
            ids_of(&read_all(&r, 2).await, 0)
        }
    };
    assert_eq!(read_ids(json!("type=test,pt=*")).await, vec![0, 1, 2]);
    assert_eq!(
        read_ids(json!("type=test2,pt=1")).await,
        vec![100, 101, 102]
    );
    assert_eq!(read_ids(json!("type=test*,pt=1")).await.len(), 6);
    // an empty partition and an empty table read as no rows (the server answers an empty
    // stream, not an error); so does a preview of the empty table
    e.sql("ALTER TABLE pfx ADD PARTITION (type='none', pt='1')")
        .await;
    assert!(read_ids(json!("type=none,pt=1")).await.is_empty());
    e.sql("CREATE TABLE empty_t (id BIGINT)").await;
    let r = reader(e.params(json!({"table": "empty_t", "column": ["id"]})), 2).await;
    assert_eq!(read_all(&r, 2).await.num_rows(), 0);
    let b = ferry_odps::preview(&e.source(), "empty_t", None, 5)
        .await
        .unwrap();
    assert_eq!(b.num_rows(), 0);
    // comments with MaxCompute's escapes; char(n) comes back blank-padded to n
    e.sql(
        r"CREATE TABLE padded (c CHAR(5) COMMENT 'Ann\'s', v VARCHAR(5), s STRING) COMMENT 'it\'s'",
    )
    .await;
    let schema = Arc::new(Schema::new(vec![
        Field::new("c", DataType::Utf8, true),
        Field::new("v", DataType::Utf8, true),
        Field::new("s", DataType::Utf8, true),
    ]));
    let col = || {
        Arc::new(StringArray::from(vec![
            Some("ab"),
            Some(""),
            None,
            Some("abcde"),
        ]))
    };
    let batch = RecordBatch::try_new(schema, vec![col(), col(), col()]).unwrap();
    write_all(
        e.params(json!({"table": "padded", "column": ["c", "v", "s"]})),
        1,
        vec![batch],
    )
    .await;
    let r = reader(
        e.params(json!({"table": "padded", "column": ["c", "v", "s"]})),
        1,
    )
    .await;
    let got = read_all(&r, 1).await;
    let text = |i: usize| -> Vec<Option<String>> {
        got.column(i)
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect()
    };
    let s = |v: &str| Some(v.to_string());
    assert_eq!(text(0), vec![s("ab   "), s("     "), None, s("abcde")]);
    assert_eq!(text(1), vec![s("ab"), s(""), None, s("abcde")]);
    assert_eq!(text(2), text(1));
    // every download above ended with the version-6 metrics block (ferry sends
    // x-odps-tunnel-version: 6); the reader took it and checked the stream checksum
}

#[tokio::test]
async fn table_listings_follow_the_paging_marker() {
    let e = env().await;
    for t in ["t_e", "t_a", "t_d", "t_b", "t_c"] {
        e.sql(&format!("CREATE TABLE {t} (id BIGINT)")).await;
    }
    let c = ferry_odps::client::OdpsClient::from_source(&e.source()).unwrap();
    // Two a page: three requests, every table once.
    let names = c.list_tables(Some(2)).await.unwrap();
    assert_eq!(names, ["t_a", "t_b", "t_c", "t_d", "t_e"]);
    assert_eq!(ferry_odps::list_tables(&e.source()).await.unwrap(), names);
}
