//! The connectors' factories and datasource checks, from the descriptors
//! `ferry_connectors` installs (see `ferry_core::connector`).

use std::sync::Arc;

use ferry_core::catalog::Datasource;
use ferry_core::plugin::{ReaderFactory, WriterFactory};
use ferry_core::Result;
use ferry_runtime::Plugins;

/// The reader factory for a canonical plugin name.
pub fn reader(name: &str) -> Result<Arc<dyn ReaderFactory>> {
    ferry_core::connector::reader(name)
}

/// The writer factory for a canonical plugin name.
pub fn writer(name: &str) -> Result<Arc<dyn WriterFactory>> {
    ferry_core::connector::writer(name)
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
    ferry_core::connector::browser(name, ds)?.test().await
}
