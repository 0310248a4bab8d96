//! `ferry preview` and `ferry schema` over Parquet files, folders and globs.

use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use ferry_core::plugin::Reader;
use ferry_core::Result;

use crate::config::ReaderParams;
use crate::reader::ParquetReader;

fn open(path: &str) -> Result<ParquetReader> {
    let p = ReaderParams {
        path: vec![path.to_string()],
        column: vec!["*".to_string()],
        where_clause: None,
    };
    ParquetReader::open(&p, path)
}

/// The schema ferry reads from `path` (a file, folder or glob): the first file's
/// columns, then the Hive partition keys as Utf8.
pub fn schema(path: &str) -> Result<SchemaRef> {
    Ok(open(path)?.schema())
}

/// The first `limit` rows across the files of `path`, in file order.
pub fn preview(path: &str, limit: usize) -> Result<RecordBatch> {
    let reader = open(path)?;
    let schema = reader.schema();
    let mut batches = Vec::new();
    let mut left = limit;
    for i in 0..reader.files().len() {
        if left == 0 {
            break;
        }
        reader.read_file(i, None, left.min(8192), &mut |b| {
            let take = b.num_rows().min(left);
            left -= take;
            batches.push(b.slice(0, take));
            left > 0
        })?;
    }
    Ok(concat_batches(&schema, &batches)?)
}
