//! ferry's `stream` connector, as DataX's `streamreader` / `streamwriter`: a synthetic
//! source and a printing (or discarding) sink, so the runtime can be tested and
//! benchmarked without any database.
//!
//! Reader parameters: `column` (list of `{"type": "long|double|string|date|bool|bytes",
//! "value": ...}` or `{"type": ..., "random": "min,max"}`), `sliceRecordCount` (records
//! per channel, default 1), `batchRows` (optional).
//! Writer parameters: `print` (write rows to stdout, default false), `fieldDelimiter`
//! (default tab), `encoding` (ignored).

mod reader;
mod writer;

pub use reader::StreamReaderFactory;
pub use writer::StreamWriterFactory;
