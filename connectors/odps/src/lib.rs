//! ferry's MaxCompute (ODPS) connector: the tunnel wire layer (shared with the local
//! MaxCompute server, crate `ferry-odps-server`) and the `odps` / `odpsreader` /
//! `odpswriter` plugins.

pub mod client;
pub mod config;
pub mod reader;
pub mod split;
pub mod wire;
pub mod writer;
pub use client::{preview, run_sql, table_schema, test_connection};
pub use reader::OdpsReaderFactory;
pub use writer::OdpsWriterFactory;
