//! Looking into a MaxCompute datasource: connectivity, tables, columns and partition
//! keys, a preview (the wizard, the console, `ferry preview` / `ferry schema`).

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use ferry_core::catalog::Datasource;

use crate::OdpsSource;
use ferry_core::connector::{Browser, TableShape};
use ferry_core::Result;

use crate::client::meta::PARTITION_KEY_META;

/// A [`Browser`] on one MaxCompute project.
pub struct OdpsBrowser {
    src: OdpsSource,
}

/// The descriptor's `browse`: a catalog datasource of type `odps`.
pub fn open(name: &str, ds: &Datasource) -> Result<Arc<dyn Browser>> {
    Ok(Arc::new(OdpsBrowser {
        src: OdpsSource::from_datasource(name, ds)?,
    }))
}

#[async_trait]
impl Browser for OdpsBrowser {
    async fn test(&self) -> Result<String> {
        crate::test_connection(&self.src).await
    }

    async fn tables(&self) -> Result<Vec<String>> {
        crate::list_tables(&self.src).await
    }

    async fn shape(&self, table: &str) -> Result<TableShape> {
        let (schema, native) = crate::table_schema(&self.src, table).await?;
        let partition_keys = schema
            .fields()
            .iter()
            .filter(|f| {
                f.metadata()
                    .get(PARTITION_KEY_META)
                    .is_some_and(|v| v == "true")
            })
            .map(|f| f.name().clone())
            .collect();
        Ok(TableShape {
            schema,
            native,
            partition_keys,
        })
    }

    async fn preview(
        &self,
        table: &str,
        partition: Option<&str>,
        _where: Option<&str>,
        limit: usize,
    ) -> Result<RecordBatch> {
        crate::preview(&self.src, table, partition, limit).await
    }
}
