//! ferry's MaxCompute (ODPS) connector: the tunnel wire layer (shared with the local
//! MaxCompute server, crate `ferry-odps-server`) and the `odps` / `odpsreader` /
//! `odpswriter` plugins.

pub mod browse;
pub mod client;
pub mod config;
pub mod reader;
pub mod split;
pub mod wire;
pub mod writer;
pub use client::{list_tables, preview, run_sql, table_schema, test_connection};
pub use config::OdpsSource;
pub use reader::OdpsReaderFactory;
pub use writer::OdpsWriterFactory;

use std::sync::Arc;

use ferry_core::connector::{as_is, Connector, Truncate, Wizard};
use ferry_core::plugin::{ReaderFactory, WriterFactory};

/// The MaxCompute (ODPS) connector, as it describes itself to the engine.
pub static CONNECTOR: Connector = Connector {
    name: "odps",
    title: "MaxCompute (ODPS)",
    reader_aliases: &["odpsreader"],
    writer_aliases: &["odpswriter"],
    nicknames: &["maxcompute"],
    reader: Some(|| -> Arc<dyn ReaderFactory> { Arc::new(OdpsReaderFactory) }),
    writer: Some(|| -> Arc<dyn WriterFactory> { Arc::new(OdpsWriterFactory) }),
    reader_columns_listed: None,
    writer_columns_listed: true,
    reader_params: config::READER_PARAMS,
    writer_params: config::WRITER_PARAMS,
    reader_ignored: config::READER_IGNORED,
    writer_ignored: config::WRITER_IGNORED,
    browse: Some(browse::open),
    datasource: Some(&config::DATASOURCE),
    browse_paths: None,
    wizard: Some(Wizard {
        paths: false,
        partitions: true,
        filter: None,
        split_key: false,
        expressions: false,
        quote: as_is,
        sql_hooks: Some(("ODPS SQL", false)),
        conflict: None,
        truncate: Truncate::Flag { default: true },
    }),
    type_for_arrow: Some(|t| match wire::types::odps_type_for_arrow(t) {
        Ok(t) => t.to_string(),
        Err(e) => format!("({e})"),
    }),
};
