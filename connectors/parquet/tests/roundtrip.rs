//! Arrow → Parquet (ferry writer) → Arrow (ferry reader): types, partitions, rolling,
//! write modes, abort, and errors on bad input.

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use arrow::array::*;
use arrow::datatypes::*;
use arrow::record_batch::RecordBatch;
use common::*;
use ferry_core::dirty::DirtyCollector;
use ferry_core::plugin::ColumnSlot;
use ferry_core::plugin::ConstantValue;
use ferry_core::plugin::Split;
use serde_json::json;

/// Every type the golden test covers, with NULLs, NaN, infinities, unicode and extremes.
fn all_types() -> RecordBatch {
    let list = {
        let mut b = ListBuilder::new(Int32Builder::new());
        b.values().append_value(1);
        b.values().append_null();
        b.append(true);
        b.append(false);
        b.append(true); // empty list
        b.values().append_value(i32::MIN);
        b.append(true);
        b.finish()
    };
    let cols: Vec<(&str, ArrayRef)> = vec![
        (
            "b",
            Arc::new(BooleanArray::from(vec![
                Some(true),
                None,
                Some(false),
                Some(true),
            ])),
        ),
        (
            "i8",
            Arc::new(Int8Array::from(vec![
                Some(i8::MIN),
                None,
                Some(0),
                Some(i8::MAX),
            ])),
        ),
        (
            "i16",
            Arc::new(Int16Array::from(vec![
                Some(i16::MIN),
                None,
                Some(0),
                Some(i16::MAX),
            ])),
        ),
        (
            "i32",
            Arc::new(Int32Array::from(vec![
                Some(i32::MIN),
                None,
                Some(0),
                Some(i32::MAX),
            ])),
        ),
        (
            "i64",
            Arc::new(Int64Array::from(vec![
                Some(i64::MIN),
                None,
                Some(0),
                Some(i64::MAX),
            ])),
        ),
        (
            "u32",
            Arc::new(UInt32Array::from(vec![
                Some(0),
                None,
                Some(7),
                Some(u32::MAX),
            ])),
        ),
        (
            "f32",
            Arc::new(Float32Array::from(vec![
                Some(f32::NAN),
                None,
                Some(-0.5),
                Some(f32::INFINITY),
            ])),
        ),
        (
            "f64",
            Arc::new(Float64Array::from(vec![
                Some(f64::NAN),
                None,
                Some(f64::NEG_INFINITY),
                Some(1e300),
            ])),
        ),
        (
            "dec",
            Arc::new(
                Decimal128Array::from(vec![Some(123456789012), None, Some(-1), Some(0)])
                    .with_precision_and_scale(12, 2)
                    .unwrap(),
            ),
        ),
        (
            "dec38",
            Arc::new(
                Decimal128Array::from(vec![Some(10i128.pow(37)), None, Some(-5), Some(0)])
                    .with_precision_and_scale(38, 10)
                    .unwrap(),
            ),
        ),
        (
            "d",
            Arc::new(Date32Array::from(vec![
                Some(0),
                None,
                Some(20779),
                Some(-719162),
            ])),
        ),
        (
            "ts_us_sh",
            Arc::new(
                TimestampMicrosecondArray::from(vec![
                    Some(1_795_000_000_123_456),
                    None,
                    Some(0),
                    Some(-1),
                ])
                .with_timezone("Asia/Shanghai"),
            ),
        ),
        (
            "ts_ns_utc",
            Arc::new(
                TimestampNanosecondArray::from(vec![
                    Some(1_795_000_000_123_456_789),
                    None,
                    Some(0),
                    Some(1),
                ])
                .with_timezone("UTC"),
            ),
        ),
        (
            "ts_ms",
            Arc::new(TimestampMillisecondArray::from(vec![
                Some(1),
                None,
                Some(2),
                Some(3),
            ])),
        ),
        (
            "s",
            Arc::new(StringArray::from(vec![
                Some("héllo 世界 🚀"),
                None,
                Some(""),
                Some("a,\"b\"\n"),
            ])),
        ),
        (
            "bin",
            Arc::new(BinaryArray::from(vec![
                Some(&b"\x00\xff"[..]),
                None,
                Some(&b""[..]),
                Some(&b"x"[..]),
            ])),
        ),
        ("list", Arc::new(list)),
    ];
    RecordBatch::try_from_iter_with_nullable(cols.into_iter().map(|(n, a)| (n, a, true))).unwrap()
}

#[tokio::test]
async fn every_type_round_trips_exactly() {
    let dir = tmp();
    let batch = all_types();
    let schema = batch.schema();
    for compression in ["zstd", "snappy", "gzip", "lz4", "none"] {
        let out = dir.path().join(compression);
        write(
            json!({"path": path_str(&out), "compression": compression}),
            schema.clone(),
            vec![batch.clone()],
        )
        .await
        .unwrap();
        let back = read(json!({"path": path_str(&out), "column": ["*"]}))
            .await
            .unwrap();
        assert_eq!(back.schema(), schema, "{compression}: schema");
        assert_eq!(back, batch, "{compression}: values");
        // NaN survives as NaN (RecordBatch equality compares bits, check explicitly too).
        let f = back
            .column_by_name("f64")
            .unwrap()
            .as_primitive::<Float64Type>();
        assert!(f.value(0).is_nan());
    }
}

#[tokio::test]
async fn writer_schema_follows_column_names_and_projection_reads_only_named_columns() {
    let dir = tmp();
    let batch = all_types();
    let names: Vec<String> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| format!("c_{}", f.name()))
        .collect();
    let w = build_writer(
        json!({"path": path_str(dir.path()), "column": names}),
        batch.schema(),
    )
    .await
    .unwrap();
    assert_eq!(w.schema().field(0).name(), "c_b");
    assert_eq!(w.schema().field(10).data_type(), &DataType::Date32);
    let renamed = RecordBatch::try_new(w.schema(), batch.columns().to_vec()).unwrap();
    write_channels(&w, vec![vec![renamed]]).await.unwrap();
    let r = build_reader(
        json!({"path": path_str(dir.path()), "column": ["C_S", "c_i64", "'k'", "7", "c_s"]}),
    )
    .await
    .unwrap();
    // Case-insensitive match, duplicates share a field, constants in the layout.
    assert_eq!(r.schema().fields().len(), 2);
    assert_eq!(
        r.layout(),
        vec![
            ColumnSlot::Source(0),
            ColumnSlot::Source(1),
            ColumnSlot::Constant(ConstantValue::Text("k".into())),
            ColumnSlot::Constant(ConstantValue::Number("7".into())),
            ColumnSlot::Source(0),
        ]
    );
    let back = read_all(&r, 1).await.unwrap();
    assert_eq!(
        back.column(0).as_ref(),
        batch.column_by_name("s").unwrap().as_ref()
    );
    assert_eq!(
        back.column(1).as_ref(),
        batch.column_by_name("i64").unwrap().as_ref()
    );
}

fn people(n: usize, pts: &[&str]) -> RecordBatch {
    let ids: Vec<i64> = (0..n as i64).collect();
    let names: Vec<Option<String>> = (0..n)
        .map(|i| (i % 7 != 0).then(|| format!("name-{i}")))
        .collect();
    let pt: Vec<&str> = (0..n).map(|i| pts[i % pts.len()]).collect();
    RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from(ids)) as ArrayRef),
        ("name", Arc::new(StringArray::from(names)) as ArrayRef),
        ("pt", Arc::new(StringArray::from(pt)) as ArrayRef),
    ])
    .unwrap()
}

fn sorted_ids(b: &RecordBatch) -> Vec<i64> {
    let mut v: Vec<i64> = b
        .column_by_name("id")
        .unwrap()
        .as_primitive::<Int64Type>()
        .values()
        .to_vec();
    v.sort();
    v
}

#[tokio::test]
async fn partition_by_columns_writes_hive_folders_and_reads_prune_them() {
    let dir = tmp();
    let batch = people(300, &["20261121", "20261122", "20261123"]);
    let w = build_writer(
        json!({"path": path_str(dir.path()), "partitionBy": ["pt"], "fileName": "person"}),
        batch.schema(),
    )
    .await
    .unwrap();
    // Two channels, each with part of the rows.
    write_channels(
        &w,
        vec![vec![batch.slice(0, 150)], vec![batch.slice(150, 150)]],
    )
    .await
    .unwrap();
    let files = all_files(dir.path());
    assert_eq!(files.len(), 6, "{files:?}");
    assert!(
        files
            .iter()
            .all(|f| f.starts_with("pt=2026112") && f.contains("/person-")),
        "{files:?}"
    );

    // The partition column is not in the files, and comes back as Utf8 from the folders.
    let one = dir.path().join("pt=20261122");
    let s = ferry_parquet::schema(&path_str(&one)).unwrap();
    assert_eq!(s.fields().len(), 2);
    let all = read(json!({"path": path_str(dir.path())})).await.unwrap();
    assert_eq!(all.num_rows(), 300);
    assert_eq!(all.schema().field(2).name(), "pt");
    assert_eq!(all.schema().field(2).data_type(), &DataType::Utf8);
    assert_eq!(sorted_ids(&all), (0..300).collect::<Vec<_>>());

    // Pruning: only simple partition comparisons, the where is still returned.
    let r = build_reader(json!({"path": path_str(dir.path()), "column": ["id", "name"], "where": "pt >= '20261122' AND id > 5"}))
        .await
        .unwrap();
    assert_eq!(
        r.residual_filter().as_deref(),
        Some("pt >= '20261122' AND id > 5")
    );
    // pt is in the schema (for the filter) but not in the layout.
    assert_eq!(r.schema().field(2).name(), "pt");
    assert_eq!(
        r.layout(),
        vec![ColumnSlot::Source(0), ColumnSlot::Source(1)]
    );
    let got = read_all(&r, 3).await.unwrap();
    assert_eq!(got.num_rows(), 200);
    let pts = got.column(2).as_string::<i32>();
    assert!(pts.iter().all(|p| p >= Some("20261122")));
    // An OR is not pruned.
    let got = read(json!({"path": path_str(dir.path()), "where": "pt = '20261122' OR id = 1"}))
        .await
        .unwrap();
    assert_eq!(got.num_rows(), 300);
    // A glob over partition folders, with a partition-only column list.
    let got = read(json!({"path": format!("{}/pt=*/*.parquet", dir.path().display()), "column": ["pt"], "where": "pt = '20261123'"}))
        .await
        .unwrap();
    assert_eq!(got.num_rows(), 100);
}

#[tokio::test]
async fn fixed_partition_spec_and_null_partition_values() {
    let dir = tmp();
    let batch = people(10, &["x"]);
    write(
        json!({"path": path_str(dir.path()), "partitionBy": "pt=20261122,region=hz"}),
        batch.schema(),
        vec![batch.clone()],
    )
    .await
    .unwrap();
    let files = all_files(dir.path());
    assert_eq!(files.len(), 1);
    assert!(
        files[0].starts_with("pt=20261122/region=hz/part-"),
        "{files:?}"
    );
    let back = read(json!({"path": path_str(dir.path()), "column": ["id", "region", "pt"]}))
        .await
        .unwrap();
    assert_eq!(back.num_rows(), 10);
    // Fixed-spec folder keys: `pt` is also a file column here, so the file wins.
    assert_eq!(back.column(1).as_string::<i32>().value(0), "hz");

    // NULL and awkward values in a partition column.
    let dir2 = tmp();
    let b = RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef),
        (
            "k",
            Arc::new(StringArray::from(vec![Some("a/b=c"), None, Some("")])) as ArrayRef,
        ),
    ])
    .unwrap();
    write(
        json!({"path": path_str(dir2.path()), "partitionBy": ["k"]}),
        b.schema(),
        vec![b],
    )
    .await
    .unwrap();
    let files = all_files(dir2.path());
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(
        files.iter().any(|f| f.starts_with("k=a%2Fb%3Dc/")),
        "{files:?}"
    );
    assert!(
        files
            .iter()
            .any(|f| f.starts_with("k=__HIVE_DEFAULT_PARTITION__/")),
        "{files:?}"
    );
    let back = read(json!({"path": path_str(dir2.path()), "column": ["id", "k"]}))
        .await
        .unwrap();
    let mut pairs: Vec<(i64, Option<String>)> = (0..3)
        .map(|i| {
            let k = back.column(1).as_string::<i32>();
            (
                back.column(0).as_primitive::<Int64Type>().value(i),
                k.is_valid(i).then(|| k.value(i).to_string()),
            )
        })
        .collect();
    pairs.sort();
    assert_eq!(pairs, vec![(1, Some("a/b=c".into())), (2, None), (3, None)]);
}

#[tokio::test]
async fn files_roll_by_rows_and_by_size() {
    let dir = tmp();
    let batch = people(250, &["a"]);
    write(
        json!({"path": path_str(dir.path()), "maxRowsPerFile": 100, "rowGroupSize": 30}),
        batch.schema(),
        vec![batch.slice(0, 120), batch.slice(120, 130)],
    )
    .await
    .unwrap();
    let files = all_files(dir.path());
    assert_eq!(files.len(), 3, "{files:?}");
    let mut counts = Vec::new();
    for f in &files {
        let b = read(json!({"path": path_str(&dir.path().join(f))}))
            .await
            .unwrap();
        counts.push(b.num_rows());
    }
    assert_eq!(counts, vec![100, 100, 50]);
    // Row groups of 30 rows give splits by row group when there are few files.
    let r = build_reader(json!({"path": path_str(&dir.path().join(&files[0]))}))
        .await
        .unwrap();
    let splits = r.plan(4).await.unwrap();
    assert_eq!(splits.len(), 4, "{splits:?}");
    assert_eq!(read_all(&r, 4).await.unwrap().num_rows(), 100);

    // By size: ~6 MB of incompressible text, 1 MiB files.
    let dir = tmp();
    let mut x: u64 = 42;
    let text: Vec<String> = (0..6000)
        .map(|_| {
            (0..64)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    format!("{:016x}", x)
                })
                .collect()
        })
        .collect();
    let ids: Vec<i64> = (0..6000).collect();
    let big = RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from(ids)) as ArrayRef),
        ("t", Arc::new(StringArray::from(text)) as ArrayRef),
    ])
    .unwrap();
    let batches: Vec<RecordBatch> = (0..60).map(|i| big.slice(i * 100, 100)).collect();
    write(json!({"path": path_str(dir.path()), "maxFileSizeMB": 1, "compression": "none", "rowGroupSize": 200}), big.schema(), batches)
        .await
        .unwrap();
    let files = all_files(dir.path());
    assert!(files.len() >= 5, "{files:?}");
    for f in &files[..files.len() - 1] {
        let len = std::fs::metadata(dir.path().join(f)).unwrap().len();
        assert!((1 << 20..3 << 20).contains(&len), "{f}: {len} bytes");
    }
    let back = read(json!({"path": path_str(dir.path())})).await.unwrap();
    assert_eq!(sorted_ids(&back), (0..6000).collect::<Vec<_>>());
}

#[tokio::test]
async fn write_modes() {
    let dir = tmp();
    let batch = people(20, &["a"]);
    let p = path_str(dir.path());
    // nonConflict on an empty (or missing) folder is fine, then refuses.
    write(
        json!({"path": p, "writeMode": "nonConflict"}),
        batch.schema(),
        vec![batch.clone()],
    )
    .await
    .unwrap();
    let w = build_writer(
        json!({"path": p, "writeMode": "nonConflict"}),
        batch.schema(),
    )
    .await
    .unwrap();
    let err = w.prepare(&[]).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("writer.parameter.writeMode: nonConflict"),
        "{err}"
    );
    assert!(err.to_string().contains(&p), "{err}");
    // append adds.
    write(
        json!({"path": p, "writeMode": "append"}),
        batch.schema(),
        vec![batch.clone()],
    )
    .await
    .unwrap();
    assert_eq!(read(json!({"path": p})).await.unwrap().num_rows(), 40);
    // truncate replaces files with the prefix, keeps others.
    std::fs::write(dir.path().join("README.txt"), "keep me").unwrap();
    write(
        json!({"path": p, "writeMode": "truncate"}),
        batch.schema(),
        vec![batch.slice(0, 5)],
    )
    .await
    .unwrap();
    let files = all_files(dir.path());
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files.contains(&"README.txt".to_string()));
    let back = read(json!({"path": path_str(&dir.path().join(files.iter().find(|f| f.starts_with("part-")).unwrap()))}))
        .await
        .unwrap();
    assert_eq!(back.num_rows(), 5);
}

#[tokio::test]
async fn truncate_with_partition_columns_replaces_the_dataset() {
    let dir = tmp();
    let p = path_str(dir.path());
    write(
        json!({"path": p, "partitionBy": ["pt"]}),
        people(30, &["1", "2", "3"]).schema(),
        vec![people(30, &["1", "2", "3"])],
    )
    .await
    .unwrap();
    write(
        json!({"path": p, "partitionBy": ["pt"], "writeMode": "truncate"}),
        people(4, &["2"]).schema(),
        vec![people(4, &["2"])],
    )
    .await
    .unwrap();
    let files = all_files(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(
        !dir.path().join("pt=1").exists(),
        "emptied partition folders are removed"
    );
    assert_eq!(read(json!({"path": p})).await.unwrap().num_rows(), 4);
}

#[tokio::test]
async fn nothing_is_visible_before_commit_and_abort_leaves_no_trace() {
    let dir = tmp();
    let target = dir.path().join("out");
    let batch = people(50, &["a", "b"]);
    let w = build_writer(
        json!({"path": path_str(&target), "partitionBy": ["pt"]}),
        batch.schema(),
    )
    .await
    .unwrap();
    w.prepare(&[]).await.unwrap();
    let mut s0 = w.open(0, DirtyCollector::in_memory()).await.unwrap();
    s0.begin(&split(0)).await.unwrap();
    s0.write(batch.clone()).await.unwrap();
    let r0 = s0.end().await.unwrap();
    // A second sink that fails mid-way: dropped without end.
    let mut s1 = w.open(1, DirtyCollector::in_memory()).await.unwrap();
    s1.begin(&split(1)).await.unwrap();
    s1.write(batch.clone()).await.unwrap();
    drop(s1);
    let files = all_files(&target);
    assert!(!files.is_empty());
    assert!(
        files
            .iter()
            .all(|f| f.rsplit('/').next().unwrap().starts_with(".ferry-tmp-")),
        "only hidden temp files before commit: {files:?}"
    );
    // A reader (like pyarrow) sees nothing yet.
    let err = read(json!({"path": path_str(&target)})).await.unwrap_err();
    assert!(err.to_string().contains("holds no data file"), "{err}");
    w.abort(vec![r0]).await.unwrap();
    assert!(
        !target.exists(),
        "abort removes the files and the folders it created: {:?}",
        all_files(dir.path())
    );
}

#[tokio::test]
async fn commit_cleans_temp_files_of_unfinished_sinks() {
    let dir = tmp();
    let batch = people(10, &["a"]);
    let w = build_writer(json!({"path": path_str(dir.path())}), batch.schema())
        .await
        .unwrap();
    let mut s0 = w.open(0, DirtyCollector::in_memory()).await.unwrap();
    s0.begin(&split(0)).await.unwrap();
    s0.write(batch.clone()).await.unwrap();
    let r0 = s0.end().await.unwrap();
    let mut s1 = w.open(1, DirtyCollector::in_memory()).await.unwrap();
    s1.begin(&split(1)).await.unwrap();
    s1.write(batch.clone()).await.unwrap();
    drop(s1);
    let report = w.commit(vec![r0]).await.unwrap();
    assert_eq!(report.rows, 10);
    let files = all_files(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].starts_with("part-"));
}

fn split(i: usize) -> Split {
    Split::new(i, format!("split {i}"), &()).unwrap()
}

#[tokio::test]
async fn a_discarded_split_leaves_no_file_and_is_written_again() {
    let dir = tmp();
    let target = dir.path().join("out");
    let batch = people(30, &["a", "b"]);
    let w = build_writer(
        json!({"path": path_str(&target), "partitionBy": ["pt"], "maxRowsPerFile": 7}),
        batch.schema(),
    )
    .await
    .unwrap();
    w.prepare(&[split(0)]).await.unwrap();
    let mut s = w.open(0, DirtyCollector::in_memory()).await.unwrap();
    // First attempt: several files, then the split fails and is discarded.
    s.begin(&split(0)).await.unwrap();
    s.write(batch.clone()).await.unwrap();
    assert!(!all_files(&target).is_empty());
    s.discard().await.unwrap();
    assert!(
        all_files(&target).is_empty(),
        "discard deletes the attempt's files: {:?}",
        all_files(&target)
    );
    // Second attempt on the same sink.
    s.begin(&split(0)).await.unwrap();
    s.write(batch.clone()).await.unwrap();
    let r = s.end().await.unwrap();
    s.close().await.unwrap();
    assert_eq!(r.rows, 30);
    let report = w.commit(vec![r]).await.unwrap();
    assert_eq!(report.rows, 30);
    let back = read(json!({"path": path_str(&target)})).await.unwrap();
    assert_eq!(back.num_rows(), 30, "each row once");
}

#[tokio::test]
async fn bad_input_gives_clear_errors() {
    let dir = tmp();
    let batch = people(5, &["a"]);
    let p = path_str(dir.path());
    // Missing path.
    let err = err_of(build_reader(json!({"path": format!("{p}/nope")})).await);
    assert!(
        err.to_string().contains("nope") && err.to_string().contains("does not exist"),
        "{err}"
    );
    // Unknown column, with a suggestion and the file named.
    write(json!({"path": p}), batch.schema(), vec![batch.clone()])
        .await
        .unwrap();
    let err = err_of(build_reader(json!({"path": p, "column": ["id", "nmae"]})).await);
    let m = err.to_string();
    assert!(
        m.contains("reader.parameter.column[1]")
            && m.contains("\"nmae\"")
            && m.contains("did you mean \"name\""),
        "{m}"
    );
    assert!(m.contains(".parquet"), "{m}");
    // Misspelt parameter.
    let err = err_of(build_reader(json!({"path": p, "colunm": ["id"]})).await);
    assert_eq!(
        err.to_string(),
        "reader.parameter.colunm: unknown key, did you mean \"column\"?"
    );
    // Corrupt file.
    let bad = dir.path().join("bad.parquet");
    std::fs::write(&bad, b"this is not parquet").unwrap();
    let err = err_of(build_reader(json!({"path": path_str(&bad)})).await);
    assert!(
        err.to_string().contains("bad.parquet")
            && err.to_string().contains("not a readable Parquet file"),
        "{err}"
    );
    // A corrupt file among good ones fails at plan, naming it.
    let r = build_reader(json!({"path": format!("{p}/*.parquet")})).await;
    let err = match r {
        Ok(r) => r.plan(1).await.unwrap_err(),
        Err(e) => e,
    };
    assert!(err.to_string().contains("bad.parquet"), "{err}");
    std::fs::remove_file(&bad).unwrap();
    // A later file without a column the first file has.
    let other = RecordBatch::try_from_iter(vec![(
        "id",
        Arc::new(Int64Array::from(vec![1])) as ArrayRef,
    )])
    .unwrap();
    let sub = dir.path().join("zz");
    write(json!({"path": path_str(&sub)}), other.schema(), vec![other])
        .await
        .unwrap();
    let err = read(json!({"path": p, "column": ["id", "name"]}))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("has no column \"name\"") && err.to_string().contains("zz"),
        "{err}"
    );
    // Writer: unknown partition column, wrong column count, file instead of folder.
    let err =
        err_of(build_writer(json!({"path": p, "partitionBy": ["ptt"]}), batch.schema()).await);
    assert!(err.to_string().contains("did you mean \"pt\""), "{err}");
    let err = err_of(build_writer(json!({"path": p, "column": ["a"]}), batch.schema()).await);
    assert!(err.to_string().contains("writer.parameter.column"), "{err}");
    let f = dir.path().join("file");
    std::fs::write(&f, b"x").unwrap();
    let w = build_writer(json!({"path": path_str(&f)}), batch.schema())
        .await
        .unwrap();
    assert!(w
        .prepare(&[])
        .await
        .unwrap_err()
        .to_string()
        .contains("is a file"));
}

#[tokio::test]
async fn preview_takes_the_first_rows_across_files() {
    let dir = tmp();
    let batch = people(30, &["1", "2", "3"]);
    write(
        json!({"path": path_str(dir.path()), "partitionBy": ["pt"]}),
        batch.schema(),
        vec![batch],
    )
    .await
    .unwrap();
    let b = ferry_parquet::preview(&path_str(dir.path()), 15).unwrap();
    assert_eq!(b.num_rows(), 15);
    assert_eq!(b.schema().field(2).name(), "pt");
    assert_eq!(
        ferry_parquet::preview(&path_str(dir.path()), 1000)
            .unwrap()
            .num_rows(),
        30
    );
    assert_eq!(
        ferry_parquet::preview(&path_str(dir.path()), 0)
            .unwrap()
            .num_rows(),
        0
    );
}
