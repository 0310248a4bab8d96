//! The connectors ferry knows, listed once.

use std::sync::Arc;

use ferry_core::catalog::Datasource;
use ferry_core::plugin::{ReaderFactory, WriterFactory};
use ferry_core::{Error, Result};
use ferry_runtime::Plugins;

/// The reader factory for a canonical plugin name.
pub fn reader(name: &str) -> Result<Arc<dyn ReaderFactory>> {
    Ok(match name {
        "stream" => Arc::new(ferry_stream::StreamReaderFactory),
        "postgresql" => Arc::new(ferry_postgres::PostgresReaderFactory),
        "odps" => Arc::new(ferry_odps::OdpsReaderFactory),
        "parquet" => Arc::new(ferry_parquet::ParquetReaderFactory),
        other => return Err(Error::config(format!("unknown reader plugin \"{other}\""))),
    })
}

/// The writer factory for a canonical plugin name.
pub fn writer(name: &str) -> Result<Arc<dyn WriterFactory>> {
    Ok(match name {
        "stream" => Arc::new(ferry_stream::StreamWriterFactory),
        "postgresql" => Arc::new(ferry_postgres::writer::PostgresWriterFactory),
        "odps" => Arc::new(ferry_odps::OdpsWriterFactory),
        "parquet" => Arc::new(ferry_parquet::ParquetWriterFactory),
        other => return Err(Error::config(format!("unknown writer plugin \"{other}\""))),
    })
}

/// Both factories for a job.
pub fn plugins(reader_name: &str, writer_name: &str) -> Result<Plugins> {
    Ok(Plugins {
        reader: reader(reader_name)?,
        writer: writer(writer_name)?,
    })
}

/// The seed's "Test Connectivity": connect and report version and latency.
pub async fn test_datasource(name: &str, ds: &Datasource) -> Result<String> {
    match ds {
        Datasource::Postgresql(p) => {
            let ep = ferry_postgres::PgEndpoint::from_datasource(name, p)?;
            let start = std::time::Instant::now();
            let client = ep.connect().await?;
            let row = client
                .query_one("SELECT version()", &[])
                .await
                .map_err(|e| ferry_postgres::pg_error(&ep.display(), &e))?;
            let version: String = row.get(0);
            Ok(format!(
                "{} — {} ({} ms)",
                ep.display(),
                version,
                start.elapsed().as_millis()
            ))
        }
        Datasource::Odps(o) => ferry_odps::test_connection(o).await,
    }
}
