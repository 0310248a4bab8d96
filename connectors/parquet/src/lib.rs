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

pub mod config;
pub mod error;
pub mod files;
pub mod inspect;
pub mod partition;
pub mod reader;
pub mod split;
pub mod types;
pub mod writer;

pub use inspect::{preview, schema};
pub use reader::{ParquetReader, ParquetReaderFactory};
pub use writer::{ParquetWriter, ParquetWriterFactory};
