//! Cutting the files into splits: whole files when there are enough of them for the
//! channels, otherwise runs of row groups of about `total rows / channels` each.

use std::fs::File;

use ferry_core::plugin::Split;
use ferry_core::Result;
use parquet::file::metadata::ParquetMetaDataReader;

use crate::error::{io_error, read_error};
use crate::files::DataFile;

/// The payload of a Parquet split: row groups of one file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileSplit {
    /// Index into the reader's file list.
    pub file: usize,
    /// Row groups to read, ascending.
    pub row_groups: Vec<usize>,
    /// Rows in those row groups.
    pub rows: u64,
}

/// Plan splits over `files` for `channels` readers.
pub fn plan_splits(files: &[DataFile], channels: usize) -> Result<Vec<Split>> {
    let mut per_file: Vec<Vec<u64>> = Vec::with_capacity(files.len());
    for f in files {
        let file = File::open(&f.path).map_err(|e| io_error("opening", &f.path, e))?;
        let md = ParquetMetaDataReader::new()
            .parse_and_finish(&file)
            .map_err(|e| read_error(&f.path, e))?;
        per_file.push(
            md.row_groups()
                .iter()
                .map(|rg| rg.num_rows().max(0) as u64)
                .collect(),
        );
    }
    let total: u64 = per_file.iter().flatten().sum();
    let channels = channels.max(1) as u64;
    // Whole files when they already give every channel work.
    let target = if files.len() as u64 >= channels {
        u64::MAX
    } else {
        total.div_ceil(channels).max(1)
    };
    let mut splits = Vec::new();
    for (fi, groups) in per_file.iter().enumerate() {
        let mut start = 0;
        while start < groups.len() {
            let mut end = start;
            let mut rows = 0;
            while end < groups.len() && (end == start || rows < target) {
                rows += groups[end];
                end += 1;
            }
            let desc = if start == 0 && end == groups.len() {
                format!("{}", files[fi].path.display())
            } else {
                format!("{} row groups [{start}, {end})", files[fi].path.display())
            };
            let mut s = Split::new(
                splits.len(),
                desc,
                &FileSplit {
                    file: fi,
                    row_groups: (start..end).collect(),
                    rows,
                },
            )?;
            s.estimated_rows = Some(rows);
            splits.push(s);
            start = end;
        }
    }
    Ok(splits)
}
