//! ferry's `stream` connector, as DataX's `streamreader` / `streamwriter`: a synthetic
//! source and a printing (or discarding) sink, so the runtime can be tested and
//! benchmarked without any database.
//!
//! Reader parameters: `column` (list of `{"type": "long|double|string|date|bool|bytes",
//! "value": ...}` or `{"type": ..., "random": "min,max"}`, with `dateFormat` for dates and
//! an optional `name`), `sliceRecordCount` (records per channel, default 1), `batchRows`
//! (optional).
//! Writer parameters: `print` (write rows to stdout, default false), `fieldDelimiter`
//! (default tab); `encoding`, `column` and DataX's pacing keys are ignored with a warning.

pub mod date_format;
mod reader;
mod writer;

pub use reader::StreamReaderFactory;
pub use writer::StreamWriterFactory;

use std::sync::Arc;

use ferry_core::connector::Connector;
use ferry_core::plugin::{ReaderFactory, WriterFactory};

/// The stream connector, as it describes itself to the engine. Its writer takes whatever
/// columns it is given.
pub static CONNECTOR: Connector = Connector {
    name: "stream",
    title: "Stream (DataX's streamreader / streamwriter)",
    reader_aliases: &["streamreader"],
    writer_aliases: &["streamwriter"],
    nicknames: &[],
    reader: Some(|| -> Arc<dyn ReaderFactory> { Arc::new(StreamReaderFactory) }),
    writer: Some(|| -> Arc<dyn WriterFactory> { Arc::new(StreamWriterFactory) }),
    reader_columns_listed: None,
    writer_columns_listed: false,
    reader_params: reader::PARAMS,
    writer_params: writer::PARAMS,
    reader_ignored: reader::IGNORED,
    writer_ignored: writer::IGNORED,
    browse: None,
    datasource: None,
    browse_paths: None,
    wizard: None,
    type_for_arrow: None,
};
