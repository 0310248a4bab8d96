//! A toy connector: a numbers table made up from a seed. The tests install it next to the
//! real connectors to show that the descriptor is all ferry needs to know of a connector.

pub mod config;
pub mod reader;
pub mod writer;

use std::sync::Arc;

use arrow::array::{Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use ferry_core::catalog::Datasource;
use ferry_core::connector::{as_is, Browser, Connector, TableShape, Truncate, Wizard};
use ferry_core::plugin::{ReaderFactory, WriterFactory};
use ferry_core::{Error, Result};

/// The toy connector, as it describes itself.
pub static CONNECTOR: Connector = Connector {
    name: "toy",
    title: "Toy numbers",
    reader_aliases: &["toyreader"],
    writer_aliases: &["toywriter"],
    nicknames: &["toys"],
    reader: Some(|| -> Arc<dyn ReaderFactory> { Arc::new(reader::ToyReaderFactory) }),
    writer: Some(|| -> Arc<dyn WriterFactory> { Arc::new(writer::ToyWriterFactory) }),
    reader_columns_listed: None,
    writer_columns_listed: true,
    reader_params: config::READER_PARAMS,
    writer_params: config::WRITER_PARAMS,
    reader_ignored: &[],
    writer_ignored: &[],
    browse: Some(open),
    datasource: Some(&config::DATASOURCE),
    browse_paths: None,
    wizard: Some(Wizard {
        paths: false,
        partitions: false,
        filter: None,
        split_key: false,
        expressions: false,
        quote: as_is,
        sql_hooks: None,
        conflict: None,
        truncate: Truncate::Flag { default: false },
    }),
    type_for_arrow: None,
};

/// The one table.
pub const TABLE: &str = "numbers";

/// The table's columns.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("word", DataType::Utf8, false),
    ]))
}

/// Rows `[from, to)` of the table for `seed`.
pub fn rows(seed: i64, from: u64, to: u64) -> Result<RecordBatch> {
    let ids: Vec<i64> = (from..to).map(|i| i as i64).collect();
    let words: Vec<String> = ids.iter().map(|i| format!("w{}", seed + i)).collect();
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(words)),
        ],
    )
    .map_err(|e| Error::internal(format!("toy rows: {e}")))
}

/// Check that `table` is the toy's table.
pub fn check_table(table: &str) -> Result<()> {
    if table == TABLE {
        Ok(())
    } else {
        Err(Error::schema(format!(
            "toy table \"{table}\" does not exist (the toy has one table, {TABLE})"
        )))
    }
}

struct ToyBrowser {
    seed: i64,
}

fn open(name: &str, ds: &Datasource) -> Result<Arc<dyn Browser>> {
    Ok(Arc::new(ToyBrowser {
        seed: config::seed(name, ds)?,
    }))
}

#[async_trait]
impl Browser for ToyBrowser {
    async fn test(&self) -> Result<String> {
        Ok(format!("toy numbers, seed {}", self.seed))
    }
    async fn tables(&self) -> Result<Vec<String>> {
        Ok(vec![TABLE.to_string()])
    }
    async fn shape(&self, table: &str) -> Result<TableShape> {
        check_table(table)?;
        Ok(TableShape {
            schema: schema(),
            native: vec!["integer".into(), "text".into()],
            partition_keys: Vec::new(),
        })
    }
    async fn preview(
        &self,
        table: &str,
        _partition: Option<&str>,
        _where: Option<&str>,
        limit: usize,
    ) -> Result<RecordBatch> {
        check_table(table)?;
        rows(self.seed, 0, limit as u64)
    }
}
