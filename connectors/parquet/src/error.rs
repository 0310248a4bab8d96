//! Turning parquet and I/O failures into ferry errors that name the file.

use std::path::Path;

use ferry_core::Error;
use parquet::errors::ParquetError;

/// A parquet failure while reading `file`: corrupt or unreadable files are data errors.
pub fn read_error(file: &Path, e: ParquetError) -> Error {
    match e {
        ParquetError::External(inner) => match inner.downcast::<std::io::Error>() {
            Ok(io) => Error::io(format!("parquet reader: reading {}", file.display()), *io),
            Err(other) => Error::data(format!("parquet reader: {}: {other}", file.display())),
        },
        other => Error::data(format!(
            "parquet reader: {} is not a readable Parquet file: {other}",
            file.display()
        )),
    }
}

/// A parquet failure while writing `file`.
pub fn write_error(file: &Path, e: ParquetError) -> Error {
    Error::data(format!("parquet writer: writing {}: {e}", file.display()))
}

/// An I/O failure on `path` while doing `what`.
pub fn io_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::io(format!("parquet: {what} {}", path.display()), e)
}
