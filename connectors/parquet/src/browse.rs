//! Looking into Parquet files (a file, a folder or a glob stands for the table): columns
//! and a preview, for the wizard, the console and `ferry preview` / `ferry schema`.

use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use ferry_core::connector::{Browser, TableShape};
use ferry_core::Result;

/// A [`Browser`] on local Parquet files: the "table" is a path.
pub struct FilesBrowser;

#[async_trait]
impl Browser for FilesBrowser {
    async fn test(&self) -> Result<String> {
        Ok("local Parquet files".into())
    }

    /// Files have no listing to choose from.
    async fn tables(&self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    async fn shape(&self, path: &str) -> Result<TableShape> {
        let schema = crate::schema(path)?;
        let native = schema
            .fields()
            .iter()
            .map(|f| f.data_type().to_string())
            .collect();
        Ok(TableShape {
            schema,
            native,
            partition_keys: Vec::new(),
        })
    }

    async fn preview(
        &self,
        path: &str,
        _partition: Option<&str>,
        _where: Option<&str>,
        limit: usize,
    ) -> Result<RecordBatch> {
        crate::preview(path, limit)
    }
}
