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
