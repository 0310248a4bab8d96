//! ferry's Parquet connector.
//!
//! * [`ParquetWriterFactory`] (`parquet`, DataX alias `parquetwriter`): one file per
//!   channel and partition folder, rolled by rows or size, Hive-style folders from
//!   column values or a fixed spec, written under hidden temporary names and renamed
//!   into place at commit.
//! * [`ParquetReaderFactory`] (`parquet`, `parquetreader`): files, folders and globs,
//!   partition folders as Utf8 columns pruned by simple `where` comparisons, split by
//!   file and row group.
//! * [`preview`] and [`schema`] for `ferry preview` / `ferry schema`.
//!
//! `docs/parquet.md` is the user documentation; [`types`] the type table.

pub mod browse;
pub mod config;
mod encode;
pub mod error;
pub mod files;
pub mod inspect;
pub mod partition;
pub mod reader;
pub mod split;
pub mod types;
pub mod writer;

pub use browse::FilesBrowser;
pub use inspect::{preview, schema};
pub use reader::{ParquetReader, ParquetReaderFactory};
pub use writer::{ParquetWriter, ParquetWriterFactory};

use std::sync::Arc;

use ferry_core::connector::{as_is, Browser, Connector, Truncate, Wizard};
use ferry_core::plugin::{ReaderFactory, WriterFactory};

/// The Parquet connector, as it describes itself to the engine.
pub static CONNECTOR: Connector = Connector {
    name: "parquet",
    title: "Parquet files",
    reader_aliases: &["parquetreader"],
    writer_aliases: &["parquetwriter"],
    nicknames: &[],
    reader: Some(|| -> Arc<dyn ReaderFactory> { Arc::new(ParquetReaderFactory) }),
    writer: Some(|| -> Arc<dyn WriterFactory> { Arc::new(ParquetWriterFactory) }),
    reader_columns_listed: None,
    writer_columns_listed: true,
    reader_params: config::READER_PARAMS,
    writer_params: config::WRITER_PARAMS,
    reader_ignored: config::READER_IGNORED,
    writer_ignored: config::WRITER_IGNORED,
    browse: None,
    datasource: None,
    browse_paths: Some(|| -> Arc<dyn Browser> { Arc::new(FilesBrowser) }),
    wizard: Some(Wizard {
        paths: true,
        partitions: false,
        filter: Some(false),
        split_key: false,
        expressions: false,
        quote: as_is,
        sql_hooks: None,
        conflict: None,
        truncate: Truncate::WriteMode,
    }),
    type_for_arrow: None,
};
