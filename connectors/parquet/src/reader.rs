//! The Parquet reader: files, folders and globs; Hive partition folders as Utf8
//! columns; projection of only the named columns; splits by file and row group.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{new_null_array, ArrayRef, RecordBatchOptions, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use ferry_core::params::nearest;
use ferry_core::plugin::{
    parse_constant, BatchStream, BuildContext, ColumnSlot, ReadOptions, Reader, ReaderFactory,
    Split,
};
use ferry_core::{Error, Result};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use crate::config::{parse_reader, ReaderParams};
use crate::error::{io_error, read_error};
use crate::files::{list_files, DataFile};
use crate::partition::prunable_predicates;
use crate::split::{plan_splits, FileSplit};

/// Builds [`ParquetReader`]s (plugin name `parquet`, DataX alias `parquetreader`).
#[derive(Debug, Default, Clone, Copy)]
pub struct ParquetReaderFactory;

#[async_trait]
impl ReaderFactory for ParquetReaderFactory {
    fn name(&self) -> &'static str {
        "parquet"
    }

    fn check(
        &self,
        params: &serde_json::Value,
        path: &str,
        warnings: &mut Vec<String>,
    ) -> Result<()> {
        parse_reader(params, path, warnings).map(|_| ())
    }

    async fn build(
        &self,
        params: &serde_json::Value,
        path: &str,
        _ctx: &BuildContext,
    ) -> Result<Arc<dyn Reader>> {
        let mut warnings = Vec::new();
        let p = parse_reader(params, path, &mut warnings)?;
        let path = path.to_string();
        let reader = tokio::task::spawn_blocking(move || ParquetReader::open(&p, &path))
            .await
            .map_err(|e| Error::internal(format!("parquet reader: {e}")))??;
        Ok(Arc::new(reader))
    }
}

/// Where a field of the reader's schema comes from.
#[derive(Debug, Clone)]
enum FieldSource {
    /// A column of the files, by name.
    File(String),
    /// A partition folder key.
    Partition(String),
}

/// A configured Parquet source.
#[derive(Debug)]
pub struct ParquetReader {
    files: Arc<Vec<DataFile>>,
    schema: SchemaRef,
    sources: Arc<Vec<FieldSource>>,
    layout: Vec<ColumnSlot>,
    where_clause: Option<String>,
    pruned: usize,
}

/// The Arrow schema of one file (from its embedded Arrow schema, else derived).
pub(crate) fn file_schema(path: &Path) -> Result<SchemaRef> {
    let f = File::open(path).map_err(|e| io_error("opening", path, e))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| read_error(path, e))?;
    Ok(Arc::clone(b.schema()))
}

/// Words of a SQL expression outside quotes (identifiers it may reference).
fn words(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let cs: Vec<char> = sql.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if c == '\'' || c == '"' {
            let q = c;
            let start = i + 1;
            i += 1;
            while i < cs.len() && cs[i] != q {
                i += 1;
            }
            if q == '"' {
                out.push(cs[start..i.min(cs.len())].iter().collect());
            }
            i += 1;
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < cs.len() && (cs[i].is_alphanumeric() || cs[i] == '_') {
                i += 1;
            }
            out.push(cs[start..i].iter().collect());
        } else {
            i += 1;
        }
    }
    out
}

impl ParquetReader {
    /// List the files, read the first one's schema, resolve `column`, prune partitions.
    pub fn open(p: &ReaderParams, json_path: &str) -> Result<Self> {
        let mut files = list_files(&p.path)?;
        let first = files
            .first()
            .ok_or_else(|| Error::config(format!("{json_path}.path: no file found")))?;
        let fschema = file_schema(&first.path)?;
        let first_path = first.path.clone();
        let mut part_keys: Vec<String> = Vec::new();
        for f in &files {
            for (k, _) in &f.partitions {
                if !part_keys.contains(k) && fschema.field_with_name(k).is_err() {
                    part_keys.push(k.clone());
                }
            }
        }
        let mut fields: Vec<Field> = Vec::new();
        let mut sources: Vec<FieldSource> = Vec::new();
        let add = |fields: &mut Vec<Field>,
                   sources: &mut Vec<FieldSource>,
                   name: &str,
                   is_part: bool|
         -> usize {
            if let Some(i) = fields.iter().position(|f| f.name() == name) {
                return i;
            }
            if is_part {
                fields.push(Field::new(name, DataType::Utf8, true));
                sources.push(FieldSource::Partition(name.to_string()));
            } else if let Ok(f) = fschema.field_with_name(name) {
                fields.push(f.clone());
                sources.push(FieldSource::File(name.to_string()));
            }
            fields.len() - 1
        };
        let mut layout = Vec::new();
        let columns: Vec<String> = if p.column.is_empty() {
            vec!["*".to_string()]
        } else {
            p.column.clone()
        };
        for (i, entry) in columns.iter().enumerate() {
            let e = entry.trim();
            if e == "*" {
                for f in fschema.fields() {
                    layout.push(ColumnSlot::Source(add(
                        &mut fields,
                        &mut sources,
                        f.name(),
                        false,
                    )));
                }
                for k in &part_keys {
                    layout.push(ColumnSlot::Source(add(&mut fields, &mut sources, k, true)));
                }
                continue;
            }
            if let Some(c) = parse_constant(e) {
                layout.push(ColumnSlot::Constant(c));
                continue;
            }
            let name = e.trim_matches('"');
            let file_match = fschema
                .fields()
                .iter()
                .find(|f| f.name() == name)
                .or_else(|| {
                    fschema
                        .fields()
                        .iter()
                        .find(|f| f.name().eq_ignore_ascii_case(name))
                })
                .map(|f| f.name().clone());
            let part_match = part_keys
                .iter()
                .find(|k| *k == name)
                .or_else(|| part_keys.iter().find(|k| k.eq_ignore_ascii_case(name)))
                .cloned();
            let slot = match (file_match, part_match) {
                (Some(n), _) => add(&mut fields, &mut sources, &n, false),
                (None, Some(k)) => add(&mut fields, &mut sources, &k, true),
                (None, None) => {
                    let mut cands: Vec<&str> =
                        fschema.fields().iter().map(|f| f.name().as_str()).collect();
                    cands.extend(part_keys.iter().map(String::as_str));
                    let hint = nearest(name, &cands)
                        .map(|s| format!(", did you mean \"{s}\"?"))
                        .unwrap_or_default();
                    return Err(Error::schema(format!(
                        "{json_path}.column[{i}]: \"{name}\" is neither a column of {} nor a partition folder key{hint} \
                         (columns: {})",
                        first_path.display(),
                        cands.join(", ")
                    )));
                }
            };
            layout.push(ColumnSlot::Source(slot));
        }
        // Columns the `where` mentions must be in the schema for the transform to see them.
        if let Some(w) = &p.where_clause {
            for word in words(w) {
                if let Some(f) = fschema.fields().iter().find(|f| *f.name() == word) {
                    add(&mut fields, &mut sources, &f.name().clone(), false);
                } else if part_keys.contains(&word) {
                    add(&mut fields, &mut sources, &word, true);
                }
            }
        }
        let before = files.len();
        if let Some(w) = &p.where_clause {
            let preds = prunable_predicates(w, &part_keys);
            if !preds.is_empty() {
                files.retain(|f| preds.iter().all(|pr| pr.may_match(&f.partitions)));
            }
        }
        Ok(ParquetReader {
            pruned: before - files.len(),
            files: Arc::new(files),
            schema: Arc::new(Schema::new(fields)),
            sources: Arc::new(sources),
            layout,
            where_clause: p.where_clause.clone().filter(|w| !w.trim().is_empty()),
        })
    }

    /// The files left to read after pruning.
    pub fn files(&self) -> Vec<PathBuf> {
        self.files.iter().map(|f| f.path.clone()).collect()
    }

    /// How many files the `where` pruned by their partition folders.
    pub fn pruned_files(&self) -> usize {
        self.pruned
    }

    /// Read one file's row groups (all when `row_groups` is `None`), calling `emit`
    /// with every batch until it returns `false`.
    pub(crate) fn read_file(
        &self,
        file_index: usize,
        row_groups: Option<Vec<usize>>,
        batch_rows: usize,
        emit: &mut dyn FnMut(RecordBatch) -> bool,
    ) -> Result<()> {
        let df = self
            .files
            .get(file_index)
            .ok_or_else(|| Error::internal("parquet reader: split names an unknown file"))?;
        let path = &df.path;
        let f = File::open(path).map_err(|e| io_error("opening", path, e))?;
        let mut builder =
            ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| read_error(path, e))?;
        let fs = Arc::clone(builder.schema());
        // Root indices of the file columns we need, and each schema field's position
        // in the projected batch (projection keeps file order).
        let mut roots = Vec::new();
        for (field, src) in self.schema.fields().iter().zip(self.sources.iter()) {
            if let FieldSource::File(name) = src {
                let (ix, ff) = fs.column_with_name(name).ok_or_else(|| {
                    Error::schema(format!(
                        "parquet reader: {} has no column \"{name}\" (the first file has it)",
                        path.display()
                    ))
                })?;
                if ff.data_type() != field.data_type() {
                    return Err(Error::schema(format!(
                        "parquet reader: column \"{name}\" is {} in {} but {} in the first file",
                        ff.data_type(),
                        path.display(),
                        field.data_type()
                    )));
                }
                roots.push(ix);
            }
        }
        let mut sorted = roots.clone();
        sorted.sort_unstable();
        sorted.dedup();
        let rg_rows: Vec<usize> = {
            let md = builder.metadata();
            let all: Vec<usize> = (0..md.num_row_groups()).collect();
            row_groups
                .clone()
                .unwrap_or(all)
                .iter()
                .map(|&i| md.row_group(i).num_rows().max(0) as usize)
                .collect()
        };
        if let Some(rgs) = row_groups {
            builder = builder.with_row_groups(rgs);
        }
        let mask = ProjectionMask::roots(builder.parquet_schema(), sorted.iter().copied());
        let batch_rows = batch_rows.max(1);
        let partition_value = |key: &str| -> Option<&str> {
            df.partitions
                .iter()
                .find(|(k, _)| k == key)
                .and_then(|(_, v)| v.as_deref())
        };
        let assemble = |projected: Option<&RecordBatch>, n: usize| -> Result<RecordBatch> {
            let mut cols: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
            let mut root_iter = roots.iter();
            for src in self.sources.iter() {
                match src {
                    FieldSource::File(_) => {
                        let ix = root_iter.next().copied().unwrap_or_default();
                        let pos = sorted.binary_search(&ix).unwrap_or_default();
                        let b = projected
                            .ok_or_else(|| Error::internal("parquet reader: missing projection"))?;
                        cols.push(Arc::clone(b.column(pos)));
                    }
                    FieldSource::Partition(k) => match partition_value(k) {
                        Some(v) => cols.push(Arc::new(StringArray::from(vec![v; n]))),
                        None => cols.push(new_null_array(&DataType::Utf8, n)),
                    },
                }
            }
            let opts = RecordBatchOptions::new().with_row_count(Some(n));
            RecordBatch::try_new_with_options(Arc::clone(&self.schema), cols, &opts)
                .map_err(|e| Error::data(format!("parquet reader: {}: {e}", path.display())))
        };
        if sorted.is_empty() {
            // Only partition columns (or nothing): the row counts are in the metadata.
            for rows in rg_rows {
                let mut left = rows;
                while left > 0 {
                    let n = left.min(batch_rows);
                    left -= n;
                    if !emit(assemble(None, n)?) {
                        return Ok(());
                    }
                }
            }
            return Ok(());
        }
        let reader = builder
            .with_projection(mask)
            .with_batch_size(batch_rows)
            .build()
            .map_err(|e| read_error(path, e))?;
        for b in reader {
            let b =
                b.map_err(|e| Error::data(format!("parquet reader: {}: {e}", path.display())))?;
            if b.num_rows() == 0 {
                continue;
            }
            if !emit(assemble(Some(&b), b.num_rows())?) {
                return Ok(());
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Reader for ParquetReader {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn layout(&self) -> Vec<ColumnSlot> {
        self.layout.clone()
    }

    fn residual_filter(&self) -> Option<String> {
        self.where_clause.clone()
    }

    async fn plan(&self, channels: usize) -> Result<Vec<Split>> {
        let files = Arc::clone(&self.files);
        tokio::task::spawn_blocking(move || plan_splits(&files, channels))
            .await
            .map_err(|e| Error::internal(format!("parquet reader plan: {e}")))?
    }

    async fn read(&self, split: &Split, opts: ReadOptions) -> Result<BatchStream> {
        let fs: FileSplit = split.decode()?;
        let me = ParquetReader {
            files: Arc::clone(&self.files),
            schema: Arc::clone(&self.schema),
            sources: Arc::clone(&self.sources),
            layout: Vec::new(),
            where_clause: None,
            pruned: 0,
        };
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<RecordBatch>>(2);
        let handle = tokio::task::spawn_blocking(move || {
            let res = me.read_file(
                fs.file,
                Some(fs.row_groups.clone()),
                opts.batch_rows,
                &mut |b| tx.blocking_send(Ok(b)).is_ok(),
            );
            if let Err(e) = res {
                let _ = tx.blocking_send(Err(e));
            }
        });
        let stream = futures::stream::unfold((rx, Some(handle)), |(mut rx, handle)| async move {
            match rx.recv().await {
                Some(item) => Some((item, (rx, handle))),
                None => {
                    // The producer is done; surface a panic rather than end short.
                    let h = handle?;
                    match h.await {
                        Ok(()) => None,
                        Err(e) => Some((
                            Err(Error::internal(format!("parquet reader: {e}"))),
                            (rx, None),
                        )),
                    }
                }
            }
        });
        Ok(Box::pin(stream))
    }
}
