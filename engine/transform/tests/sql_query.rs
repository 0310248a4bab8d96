//! `ferry sql`: DataFusion SQL over quoted Parquet paths, and result formatting.

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use ferry_transform::sql::{format_batches, format_result, query, OutputFormat};

fn write_file(path: &Path, ids: Vec<i64>, names: Vec<Option<&str>>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let b = RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from(ids)) as ArrayRef),
        ("name", Arc::new(StringArray::from(names)) as ArrayRef),
    ])
    .unwrap();
    let mut w = ArrowWriter::try_new(File::create(path).unwrap(), b.schema(), None).unwrap();
    w.write(&b).unwrap();
    w.close().unwrap();
}

fn staged() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let person = dir.path().join("staged/person");
    write_file(
        &person.join("pt=20261121/part-0.parquet"),
        vec![1, 2],
        vec![Some("ann"), None],
    );
    write_file(
        &person.join("pt=20261122/part-0.parquet"),
        vec![3, 4, 5],
        vec![Some("bo"), Some("cy"), Some("dee")],
    );
    // A running writer's temporary file: must be ignored.
    write_file(
        &person.join("pt=20261122/.ferry-tmp-x-0-0.parquet"),
        vec![99],
        vec![Some("ghost")],
    );
    dir
}

#[tokio::test]
async fn sql_over_a_staged_folder_with_a_partition_column() {
    let dir = staged();
    let base = dir.path().join("staged/person");
    let glob = format!("{}/**/*.parquet", base.display());
    let (schema, batches) = query(&format!(
        "SELECT pt, count(*) AS n, sum(id) AS s FROM '{glob}' WHERE pt >= '20261121' GROUP BY pt ORDER BY pt"
    ))
    .await
    .unwrap();
    assert_eq!(schema.field(0).name(), "pt");
    let table = format_batches(&batches, OutputFormat::Table).unwrap();
    assert!(
        table.contains("| pt (Utf8) | n (Int64) | s (Int64) |"),
        "{table}"
    );
    let csv = format_batches(&batches, OutputFormat::Csv).unwrap();
    assert_eq!(
        csv, "pt,n,s\n20261121,2,3\n20261122,3,12\n",
        "table was:\n{table}"
    );

    // A folder, a join of two quoted paths, and a filter on the partition column.
    let folder = base.display().to_string();
    let (_, batches) = query(&format!(
        "SELECT a.id, b.name FROM '{folder}' a JOIN '{folder}/pt=20261122' b ON a.id = b.id \
         WHERE a.pt = '20261122' ORDER BY a.id"
    ))
    .await
    .unwrap();
    assert_eq!(
        format_batches(&batches, OutputFormat::Csv).unwrap(),
        "id,name\n3,bo\n4,cy\n5,dee\n"
    );

    // Errors name the path.
    let err = query("SELECT * FROM '/no/such/dir'").await.unwrap_err();
    assert!(err.to_string().contains("/no/such/dir"), "{err}");
    let err = query(&format!("SELECT nope FROM '{folder}'"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

#[tokio::test]
async fn formats_table_csv_json() {
    let dir = staged();
    let file = dir.path().join("staged/person/pt=20261121/part-0.parquet");
    let (schema, batches) = query(&format!(
        "SELECT id, name FROM '{}' ORDER BY id",
        file.display()
    ))
    .await
    .unwrap();
    let table = format_batches(&batches, OutputFormat::Table).unwrap();
    assert_eq!(
        table,
        [
            "+------------+-------------+",
            "| id (Int64) | name (Utf8) |",
            "+------------+-------------+",
            "| 1          | ann         |",
            "| 2          |             |",
            "+------------+-------------+",
        ]
        .join("\n")
    );
    assert_eq!(
        format_batches(&batches, OutputFormat::Csv).unwrap(),
        "id,name\n1,ann\n2,\n"
    );
    let json: serde_json::Value =
        serde_json::from_str(&format_batches(&batches, OutputFormat::Json).unwrap()).unwrap();
    assert_eq!(
        json,
        serde_json::json!([{"id": 1, "name": "ann"}, {"id": 2, "name": null}])
    );
    // An empty result keeps its header.
    let (schema2, none) = query(&format!(
        "SELECT id, name FROM '{}' WHERE id > 100",
        file.display()
    ))
    .await
    .unwrap();
    assert_eq!(schema2, schema);
    let t = format_result(&schema2, &none, OutputFormat::Table).unwrap();
    assert!(t.contains("| id (Int64) | name (Utf8) |"), "{t}");
    assert_eq!(
        format_result(&schema2, &none, OutputFormat::Csv).unwrap(),
        "id,name\n"
    );
    assert_eq!(
        format_result(&schema2, &none, OutputFormat::Json).unwrap(),
        "[]"
    );
}
