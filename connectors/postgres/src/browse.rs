//! Looking into a PostgreSQL datasource: connectivity, tables, columns, the split key to
//! suggest, a preview (the wizard, the console, `ferry preview` / `ferry schema`).

use std::sync::Arc;

use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use ferry_core::catalog::Datasource;
use ferry_core::connector::{Browser, TableShape};
use ferry_core::Result;

use crate::{arrow_field, pg_error, preview, table_columns, PgEndpoint};

/// A [`Browser`] on one PostgreSQL endpoint.
pub struct PgBrowser {
    ep: PgEndpoint,
}

/// The descriptor's `browse`: a catalog datasource of type `postgresql`.
pub fn open(name: &str, ds: &Datasource) -> Result<Arc<dyn Browser>> {
    Ok(Arc::new(PgBrowser {
        ep: PgEndpoint::from_datasource(name, ds)?,
    }))
}

#[async_trait]
impl Browser for PgBrowser {
    async fn test(&self) -> Result<String> {
        let start = std::time::Instant::now();
        let client = self.ep.connect().await?;
        let row = client
            .query_one("SELECT version()", &[])
            .await
            .map_err(|e| pg_error(&self.ep.display(), &e))?;
        let version: String = row.get(0);
        Ok(format!(
            "{} — {} ({} ms)",
            self.ep.display(),
            version,
            start.elapsed().as_millis()
        ))
    }

    /// `schema.table` of every table and view outside the system schemas.
    async fn tables(&self) -> Result<Vec<String>> {
        let client = self.ep.connect().await?;
        let rows = client
            .query(
                "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) \
                 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') \
                   AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                   AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' \
                 ORDER BY 1",
                &[],
            )
            .await
            .map_err(|e| pg_error(&format!("listing tables on {}", self.ep.display()), &e))?;
        Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
    }

    async fn shape(&self, table: &str) -> Result<TableShape> {
        let client = self.ep.connect().await?;
        let cols = table_columns(&client, table).await?;
        let mut fields = Vec::new();
        let mut native = Vec::new();
        for c in &cols {
            fields.push(arrow_field(c)?);
            native.push(c.type_name.clone());
        }
        Ok(TableShape {
            schema: Arc::new(Schema::new(fields)),
            native,
            partition_keys: Vec::new(),
        })
    }

    /// Names and type names only: a column of a type ferry cannot read is listed too.
    async fn columns(&self, table: &str) -> Result<(Vec<(String, String)>, Vec<String>)> {
        let client = self.ep.connect().await?;
        let cols = table_columns(&client, table).await?;
        Ok((
            cols.into_iter().map(|c| (c.name, c.type_name)).collect(),
            Vec::new(),
        ))
    }

    /// The table's primary key when it is one integer column.
    async fn split_key(&self, table: &str) -> Result<Option<String>> {
        let client = self.ep.connect().await?;
        let rows = client
            .query(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) \
                 FROM pg_catalog.pg_index i \
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                 WHERE i.indrelid = $1::text::regclass AND i.indisprimary",
                &[&table],
            )
            .await
            .map_err(|e| pg_error(&format!("primary key of {table}"), &e))?;
        let [row] = rows.as_slice() else {
            return Ok(None);
        };
        let name: String = row.get(0);
        let ty: String = row.get(1);
        Ok(matches!(ty.as_str(), "smallint" | "integer" | "bigint").then_some(name))
    }

    async fn preview(
        &self,
        table: &str,
        _partition: Option<&str>,
        where_: Option<&str>,
        limit: usize,
    ) -> Result<RecordBatch> {
        preview(&self.ep, table, limit, where_).await
    }
}
