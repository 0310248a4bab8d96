//! The Parquet writer: one `ArrowWriter` per channel and partition folder, files under
//! hidden temporary names until [`Writer::commit`] renames them into place.
//!
//! Layout of what a job writes (`path` = `staged/person`, `fileName` = `part`):
//!
//! ```text
//! staged/person/pt=20261122/.ferry-tmp-<job>-<split>-<n>.parquet   while running
//! staged/person/pt=20261122/part-<job>-<split>-<n>.parquet          after commit
//! ```
//!
//! Temporary names start with `.`, which pyarrow, Spark, DataFusion (via ferry) and
//! ferry's own reader skip, so a failed or killed job leaves nothing a reader sees.
//! Each split writes its own files: a failed attempt's files are deleted
//! ([`BatchSink::discard`]) and the split is written again under the same names.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use arrow::array::UInt32Array;
use arrow::compute::take_record_batch;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use async_trait::async_trait;
use ferry_core::dirty::DirtyCollector;
use ferry_core::params::nearest;
use ferry_core::plugin::{
    BatchSink, BuildContext, CommitReport, Durability, Receipt, Resume, Split, Writer,
    WriterFactory,
};
use ferry_core::{Error, Result};
use parquet::arrow::ArrowSchemaConverter;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::config::{
    parse_writer, Partitioning, WriteMode, DEFAULT_FILE_PREFIX, DEFAULT_ROW_GROUP_ROWS,
};
use crate::encode::{mostly_distinct, Encoders, FileEncoder};
use crate::error::io_error;
use crate::partition::{escape, needs_escape, NULL_PARTITION};
use crate::types::check_writable;

/// Files a sink keeps open at once (one per partition folder); the least recently
/// used is closed beyond this, which bounds memory to about this × row group size.
pub const MAX_OPEN_FILES_PER_CHANNEL: usize = 16;

/// Builds [`ParquetWriter`]s (plugin name `parquet`, DataX alias `parquetwriter`).
#[derive(Debug, Default, Clone, Copy)]
pub struct ParquetWriterFactory;

#[async_trait]
impl WriterFactory for ParquetWriterFactory {
    fn name(&self) -> &'static str {
        "parquet"
    }

    fn check(
        &self,
        params: &serde_json::Value,
        path: &str,
        warnings: &mut Vec<String>,
    ) -> Result<()> {
        parse_writer(params, path, warnings).map(|_| ())
    }

    async fn build(
        &self,
        params: &serde_json::Value,
        path: &str,
        ctx: &BuildContext,
    ) -> Result<Arc<dyn Writer>> {
        let mut warnings = Vec::new();
        let p = parse_writer(params, path, &mut warnings)?;
        let source = ctx.source_schema.clone().ok_or_else(|| {
            Error::internal(format!(
                "{path}: the parquet writer needs the reader's schema in BuildContext"
            ))
        })?;
        // Output names: `column`, or the source's names.
        let names: Vec<String> =
            if p.column.is_empty() || (p.column.len() == 1 && p.column[0].name() == "*") {
                source.fields().iter().map(|f| f.name().clone()).collect()
            } else {
                if p.column.len() != source.fields().len() {
                    return Err(Error::config(format!(
                        "{path}.column: names {} columns but the reader gives {}",
                        p.column.len(),
                        source.fields().len()
                    )));
                }
                p.column
                    .iter()
                    .map(|c| c.name().trim().to_string())
                    .collect()
            };
        for (i, n) in names.iter().enumerate() {
            if n.is_empty() {
                return Err(Error::config(format!(
                    "{path}.column[{i}]: empty column name"
                )));
            }
            if names[..i].contains(n) {
                return Err(Error::config(format!(
                    "{path}.column[{i}]: column \"{n}\" appears twice"
                )));
            }
        }
        let fields: Vec<_> = source
            .fields()
            .iter()
            .zip(&names)
            .map(|(f, n)| Arc::new(f.as_ref().clone().with_name(n.clone())))
            .collect();
        let schema: SchemaRef = Arc::new(Schema::new(fields));

        let partitioning = match &p.partition_by {
            Some(pb) => pb.resolve(&format!("{path}.partitionBy"))?,
            None => Partitioning::None,
        };
        let mut part_cols = Vec::new();
        if let Partitioning::Columns(cols) = &partitioning {
            for (i, c) in cols.iter().enumerate() {
                match names.iter().position(|n| n == c) {
                    Some(ix) => part_cols.push(ix),
                    None => {
                        let cands: Vec<&str> = names.iter().map(String::as_str).collect();
                        let hint = nearest(c, &cands)
                            .map(|s| format!(", did you mean \"{s}\"?"))
                            .unwrap_or_default();
                        return Err(Error::config(format!(
                            "{path}.partitionBy[{i}]: \"{c}\" is not an output column{hint}"
                        )));
                    }
                }
            }
        }
        let file_cols: Vec<usize> = (0..names.len())
            .filter(|i| !part_cols.contains(i))
            .collect();
        if file_cols.is_empty() {
            return Err(Error::config(format!(
                "{path}.partitionBy: every column is a partition column; at least one must stay in the files"
            )));
        }
        let file_schema: SchemaRef = Arc::new(schema.project(&file_cols)?);
        check_writable(&file_schema, path)?;
        let parquet_schema = ArrowSchemaConverter::new()
            .convert(&file_schema)
            .map_err(|e| Error::config(format!("{path}: the columns cannot be written: {e}")))?;
        let leaf_roots: Vec<usize> = (0..parquet_schema.num_columns())
            .map(|l| parquet_schema.get_column_root_idx(l))
            .collect();
        let leaf_paths: Vec<ColumnPath> = parquet_schema
            .columns()
            .iter()
            .map(|c| c.path().clone())
            .collect();

        let base = PathBuf::from(&p.path);
        let root = match &partitioning {
            Partitioning::Fixed(spec) => base.join(spec.dir()),
            _ => base.clone(),
        };
        let rows_per_group = p
            .row_group_size
            .map(|r| r as usize)
            .unwrap_or(DEFAULT_ROW_GROUP_ROWS);
        let props = WriterProperties::builder()
            .set_compression(p.compression.codec())
            .set_max_row_group_row_count(Some(rows_per_group.max(1)))
            .set_created_by(format!("ferry {}", env!("CARGO_PKG_VERSION")))
            .build();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let job_id = format!(
            "{:x}{:04x}",
            nanos % (1u128 << 64),
            std::process::id() & 0xffff
        );
        let run_tag: String = ctx
            .run_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(40)
            .collect();
        let cfg = WriterConfig {
            run_tag,
            json_path: path.to_string(),
            root,
            prefix: p
                .file_name
                .clone()
                .unwrap_or_else(|| DEFAULT_FILE_PREFIX.to_string()),
            mode: p.write_mode,
            recursive_truncate: matches!(partitioning, Partitioning::Columns(_)),
            props,
            rows_per_group: rows_per_group.max(1),
            encode_threads: p
                .encode_threads
                .map_or_else(default_encode_threads, |t| t as usize),
            leaf_roots,
            leaf_paths,
            schema,
            file_schema,
            part_cols,
            file_cols,
            max_bytes: p.max_file_size_mb.map(|m| m.saturating_mul(1 << 20)),
            max_rows: p.max_rows_per_file,
            job_id,
        };
        Ok(Arc::new(ParquetWriter {
            cfg: Arc::new(cfg),
            temps: Arc::new(Mutex::new(Vec::new())),
            created_dirs: Arc::new(Mutex::new(Vec::new())),
        }))
    }
}

#[derive(Debug)]
struct WriterConfig {
    json_path: String,
    /// `path`, plus the fixed partition folder if any.
    root: PathBuf,
    prefix: String,
    mode: WriteMode,
    recursive_truncate: bool,
    props: WriterProperties,
    rows_per_group: usize,
    /// Column encoding threads per sink.
    encode_threads: usize,
    /// The top-level column of each Parquet leaf column.
    leaf_roots: Vec<usize>,
    /// The Parquet path of each leaf column.
    leaf_paths: Vec<ColumnPath>,
    schema: SchemaRef,
    file_schema: SchemaRef,
    part_cols: Vec<usize>,
    file_cols: Vec<usize>,
    max_bytes: Option<u64>,
    max_rows: Option<u64>,
    job_id: String,
    /// The run id: temporary files are `.ferry-tmp-<run>-...`, so that aborting the run
    /// from another process (`ferry runs abort`) finds them.
    run_tag: String,
}

/// A configured Parquet target.
#[derive(Debug)]
pub struct ParquetWriter {
    cfg: Arc<WriterConfig>,
    /// Every temporary file any sink created (for abort, even without a receipt).
    temps: Arc<Mutex<Vec<PathBuf>>>,
    /// Folders this job created, outermost first.
    created_dirs: Arc<Mutex<Vec<PathBuf>>>,
}

/// One file a sink finished, waiting for commit.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct WrittenFile {
    /// The hidden temporary file.
    pub temp: PathBuf,
    /// Where commit renames it to.
    pub target: PathBuf,
    /// Rows in it.
    pub rows: u64,
    /// Its size.
    pub bytes: u64,
}

/// Encoding threads per channel when `encodeThreads` is not set: the cores.
fn default_encode_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Data files under `dir`: names starting with `.` or `_` (temporary files, `_SUCCESS`)
/// are skipped, folders too.
fn visible_files(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<()> {
    let visible = |n: &str| !(n.starts_with('.') || n.starts_with('_'));
    files_under(dir, recursive, &visible, &visible, out)
}

/// Files under `dir` whose name `keep` takes, descending (when `recursive`) into the
/// folders whose name `enter` takes. A missing `dir` holds none.
fn files_under(
    dir: &Path,
    recursive: bool,
    enter: &dyn Fn(&str) -> bool,
    keep: &dyn Fn(&str) -> bool,
    out: &mut Vec<PathBuf>,
) -> Result<()> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error("listing", dir, e)),
    };
    for entry in rd {
        let entry = entry.map_err(|e| io_error("listing", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let p = entry.path();
        let ft = entry.file_type().map_err(|e| io_error("reading", &p, e))?;
        if ft.is_dir() {
            if recursive && enter(&name) {
                files_under(&p, true, enter, keep, out)?;
            }
        } else if keep(&name) {
            out.push(p);
        }
    }
    Ok(())
}

/// Remove `dir` and its empty parents up to (not including) `stop`, while empty.
fn remove_empty_dirs(dirs: &[PathBuf]) {
    for d in dirs.iter().rev() {
        // Fails (and is left alone) when not empty.
        let _ = std::fs::remove_dir(d);
    }
}

impl ParquetWriter {
    /// The folder this job writes into (`path` plus a fixed partition).
    pub fn root(&self) -> &Path {
        &self.cfg.root
    }

    fn commit_blocking(&self, receipts: Vec<Receipt>) -> Result<CommitReport> {
        let cfg = &self.cfg;
        let mut files = Vec::new();
        let mut rows = 0;
        for r in receipts {
            rows += r.rows;
            files.extend(r.decode::<Vec<WrittenFile>>()?);
        }
        let mut old = Vec::new();
        if cfg.mode == WriteMode::Truncate {
            let mut all = Vec::new();
            visible_files(&cfg.root, cfg.recursive_truncate, &mut all)?;
            // A commit resumed after a crash in the middle of it: files of this run
            // already in place are not old.
            let new: std::collections::HashSet<&PathBuf> =
                files.iter().map(|f| &f.target).collect();
            old = all
                .into_iter()
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(&cfg.prefix))
                        && !new.contains(p)
                })
                .collect();
        }
        for (renamed, f) in files.iter().enumerate() {
            if !f.temp.exists() && f.target.exists() {
                // Renamed by an earlier process of this run that died while committing.
                continue;
            }
            if let Err(e) = std::fs::rename(&f.temp, &f.target) {
                return Err(Error::io(
                    format!(
                        "parquet writer: committing {} → {} ({renamed} of {} files were already in place{})",
                        f.temp.display(),
                        f.target.display(),
                        files.len(),
                        if old.is_empty() {
                            String::new()
                        } else {
                            format!("; {} old files not yet removed", old.len())
                        }
                    ),
                    e,
                ));
            }
        }
        for p in &old {
            if let Err(e) = std::fs::remove_file(p) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    return Err(io_error("truncate: removing old file", p, e));
                }
            }
        }
        if cfg.recursive_truncate && !old.is_empty() {
            let mut parents: Vec<PathBuf> = old
                .iter()
                .filter_map(|p| p.parent().map(Path::to_path_buf))
                .collect();
            parents.sort();
            parents.dedup();
            for p in parents {
                let mut d = p.as_path();
                while d != cfg.root && d.starts_with(&cfg.root) && std::fs::remove_dir(d).is_ok() {
                    match d.parent() {
                        Some(up) => d = up,
                        None => break,
                    }
                }
            }
        }
        // Temporary files of sinks that never finished.
        let committed: Vec<&PathBuf> = files.iter().map(|f| &f.temp).collect();
        for t in lock(&self.temps).iter() {
            if !committed.contains(&t) {
                let _ = std::fs::remove_file(t);
            }
        }
        remove_empty_dirs(&lock(&self.created_dirs));
        let mut notes = vec![format!(
            "wrote {} Parquet files ({rows} rows) under {}",
            files.len(),
            cfg.root.display()
        )];
        if !old.is_empty() {
            notes.push(format!("truncate: removed {} earlier files", old.len()));
        }
        Ok(CommitReport { rows, notes })
    }

    fn abort_blocking(&self) -> Result<()> {
        let mut first_err = None;
        for t in lock(&self.temps).iter() {
            if let Err(e) = std::fs::remove_file(t) {
                if e.kind() != std::io::ErrorKind::NotFound && first_err.is_none() {
                    first_err = Some(io_error("abort: removing temporary file", t, e));
                }
            }
        }
        // Temporary files of this run that an earlier process of it left (killed).
        let mut left = Vec::new();
        let prefix = format!(".ferry-tmp-{}-", self.cfg.run_tag);
        if let Err(e) = files_under(
            &self.cfg.root,
            true,
            &|_| true,
            &|n| n.starts_with(&prefix),
            &mut left,
        ) {
            first_err.get_or_insert(e);
        }
        for t in left {
            if let Err(e) = std::fs::remove_file(&t) {
                if e.kind() != std::io::ErrorKind::NotFound && first_err.is_none() {
                    first_err = Some(io_error("abort: removing temporary file", &t, e));
                }
            }
        }
        remove_empty_dirs(&lock(&self.created_dirs));
        first_err.map_or(Ok(()), Err)
    }
}

#[async_trait]
impl Writer for ParquetWriter {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.cfg.schema)
    }

    async fn prepare(&self, _splits: &[Split]) -> Result<serde_json::Value> {
        let cfg = Arc::clone(&self.cfg);
        tokio::task::spawn_blocking(move || {
            if cfg.root.is_file() {
                return Err(Error::config(format!(
                    "{}.path: {} is a file; the parquet writer needs a folder",
                    cfg.json_path,
                    cfg.root.display()
                )));
            }
            if cfg.mode == WriteMode::NonConflict {
                let mut existing = Vec::new();
                visible_files(&cfg.root, true, &mut existing)?;
                if let Some(first) = existing.first() {
                    return Err(Error::config(format!(
                        "{}.writeMode: nonConflict, but {} already holds {} files (e.g. {}); \
                         use writeMode \"truncate\" to replace them or \"append\" to add",
                        cfg.json_path,
                        cfg.root.display(),
                        existing.len(),
                        first.display()
                    )));
                }
            }
            Ok(serde_json::Value::Null)
        })
        .await
        .map_err(|e| Error::internal(format!("parquet writer prepare: {e}")))?
    }

    /// Resume: the temporary files an earlier process of the run finished are in its
    /// receipts, and commit renames them with the new ones. Its other temporary files
    /// (splits the crash cut short) are removed here.
    async fn attach(&self, resume: &Resume<'_>) -> Result<()> {
        let mut keep = std::collections::HashSet::new();
        for r in resume.receipts {
            for f in r.decode::<Vec<WrittenFile>>()? {
                keep.insert(f.temp);
            }
        }
        let cfg = Arc::clone(&self.cfg);
        let shard = resume.shard;
        tokio::task::spawn_blocking(move || {
            let prefix = format!(".ferry-tmp-{}-", cfg.run_tag);
            // `.ferry-tmp-<run>-<job>-<split>-<n>.parquet`: a shard removes only its own
            // splits' files
            let owned = |t: &std::path::Path| match shard {
                None => true,
                Some(shard) => t
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".parquet"))
                    .and_then(|n| n.rsplit('-').nth(1))
                    .and_then(|i| i.parse::<usize>().ok())
                    .is_some_and(|i| shard.owns(i)),
            };
            let mut left = Vec::new();
            files_under(
                &cfg.root,
                true,
                &|_| true,
                &|n| n.starts_with(&prefix),
                &mut left,
            )?;
            for t in left.into_iter().filter(|t| !keep.contains(t) && owned(t)) {
                if let Err(e) = std::fs::remove_file(&t) {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        return Err(io_error(
                            "resume: removing an unfinished temporary file",
                            &t,
                            e,
                        ));
                    }
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| Error::internal(format!("parquet writer attach: {e}")))?
    }

    async fn open(&self, _channel: usize, _dirty: DirtyCollector) -> Result<Box<dyn BatchSink>> {
        Ok(Box::new(ParquetSink {
            state: Some(Box::new(SinkState {
                cfg: Arc::clone(&self.cfg),
                encoders: None,
                split: None,
                open: HashMap::new(),
                done: Vec::new(),
                broken: Vec::new(),
                next_file: 0,
                tick: 0,
                rows: 0,
                temps: Arc::clone(&self.temps),
                created_dirs: Arc::clone(&self.created_dirs),
            })),
        }))
    }

    async fn commit(&self, receipts: Vec<Receipt>) -> Result<CommitReport> {
        let me = ParquetWriter {
            cfg: Arc::clone(&self.cfg),
            temps: Arc::clone(&self.temps),
            created_dirs: Arc::clone(&self.created_dirs),
        };
        tokio::task::spawn_blocking(move || me.commit_blocking(receipts))
            .await
            .map_err(|e| Error::internal(format!("parquet writer commit: {e}")))?
    }

    async fn abort(&self, _receipts: Vec<Receipt>) -> Result<()> {
        let me = ParquetWriter {
            cfg: Arc::clone(&self.cfg),
            temps: Arc::clone(&self.temps),
            created_dirs: Arc::clone(&self.created_dirs),
        };
        tokio::task::spawn_blocking(move || me.abort_blocking())
            .await
            .map_err(|e| Error::internal(format!("parquet writer abort: {e}")))?
    }
}

struct OpenFile {
    writer: FileEncoder,
    temp: PathBuf,
    target: PathBuf,
    rows: u64,
    last_used: u64,
}

struct SinkState {
    cfg: Arc<WriterConfig>,
    /// The column encoding threads, started with the first file.
    encoders: Option<Encoders>,
    /// The split being written (files are named after it).
    split: Option<usize>,
    /// Open files by partition folder (relative to root; "" = root).
    open: HashMap<String, OpenFile>,
    done: Vec<WrittenFile>,
    /// Files of the split that failed to finish.
    broken: Vec<PathBuf>,
    next_file: usize,
    tick: u64,
    rows: u64,
    temps: Arc<Mutex<Vec<PathBuf>>>,
    created_dirs: Arc<Mutex<Vec<PathBuf>>>,
}

impl SinkState {
    fn write(&mut self, batch: RecordBatch) -> Result<u64> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(0);
        }
        let file_batch = batch.project(&self.cfg.file_cols)?;
        let file_batch = RecordBatch::try_new(
            Arc::clone(&self.cfg.file_schema),
            file_batch.columns().to_vec(),
        )?;
        if self.cfg.part_cols.is_empty() {
            self.write_to(String::new(), file_batch)?;
        } else {
            for (dir, indices) in self.group_rows(&batch)? {
                let part = if indices.len() == n {
                    file_batch.clone()
                } else {
                    take_record_batch(&file_batch, &UInt32Array::from(indices))?
                };
                self.write_to(dir, part)?;
            }
        }
        self.rows += n as u64;
        Ok(n as u64)
    }

    /// Rows of `batch` grouped by their partition folder, in first-seen order.
    fn group_rows(&self, batch: &RecordBatch) -> Result<Vec<(String, Vec<u32>)>> {
        let opts = FormatOptions::default();
        let mut formatters = Vec::new();
        for &c in &self.cfg.part_cols {
            let arr = batch.column(c);
            formatters.push((
                escape(self.cfg.schema.field(c).name()),
                arr.as_ref(),
                ArrayFormatter::try_new(arr.as_ref(), &opts)?,
            ));
        }
        let mut groups: Vec<(String, Vec<u32>)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut key = String::new();
        for row in 0..batch.num_rows() {
            key.clear();
            for (i, (name, arr, fmt)) in formatters.iter().enumerate() {
                if i > 0 {
                    key.push('/');
                }
                key.push_str(name);
                key.push('=');
                if arr.is_null(row) {
                    key.push_str(NULL_PARTITION);
                } else {
                    let start = key.len();
                    write!(key, "{}", fmt.value(row))
                        .map_err(|e| Error::data(format!("partition value of \"{name}\": {e}")))?;
                    if key.len() == start {
                        key.push_str(NULL_PARTITION);
                    } else if key[start..].chars().any(needs_escape) {
                        let raw = key.split_off(start);
                        key.push_str(&escape(&raw));
                    }
                }
            }
            match index.get(&key) {
                Some(&g) => groups[g].1.push(row as u32),
                None => {
                    index.insert(key.clone(), groups.len());
                    groups.push((key.clone(), vec![row as u32]));
                }
            }
        }
        Ok(groups)
    }

    fn write_to(&mut self, dir: String, batch: RecordBatch) -> Result<()> {
        let mut offset = 0;
        let total = batch.num_rows();
        while offset < total {
            if !self.open.contains_key(&dir) {
                self.open_file(&dir, &batch)?;
            }
            self.tick += 1;
            let tick = self.tick;
            let max_rows = self.cfg.max_rows;
            let max_bytes = self.cfg.max_bytes;
            let f = self
                .open
                .get_mut(&dir)
                .ok_or_else(|| Error::internal("parquet writer: file vanished"))?;
            let enc = self
                .encoders
                .as_ref()
                .ok_or_else(|| Error::internal("parquet writer: no encoder threads"))?;
            f.last_used = tick;
            let room = max_rows
                .map_or(usize::MAX, |m| m.saturating_sub(f.rows) as usize)
                .max(1);
            let take = room.min(total - offset);
            let slice = batch.slice(offset, take);
            f.writer.write(enc, &slice)?;
            f.rows += take as u64;
            offset += take;
            let full_rows = max_rows.is_some_and(|m| f.rows >= m);
            let full_bytes = max_bytes.is_some_and(|m| f.writer.size_estimate() >= m);
            if full_rows || full_bytes {
                self.close_file(&dir)?;
            }
        }
        Ok(())
    }

    fn open_file(&mut self, dir: &str, first: &RecordBatch) -> Result<()> {
        if self.open.len() >= MAX_OPEN_FILES_PER_CHANNEL {
            if let Some(lru) = self
                .open
                .iter()
                .min_by_key(|(_, f)| f.last_used)
                .map(|(k, _)| k.clone())
            {
                self.close_file(&lru)?;
            }
        }
        let folder = if dir.is_empty() {
            self.cfg.root.clone()
        } else {
            self.cfg.root.join(dir)
        };
        if !folder.is_dir() {
            let mut missing = Vec::new();
            let mut d = folder.as_path();
            while !d.exists() {
                missing.push(d.to_path_buf());
                match d.parent() {
                    Some(p) if !p.as_os_str().is_empty() => d = p,
                    _ => break,
                }
            }
            std::fs::create_dir_all(&folder)
                .map_err(|e| io_error("creating folder", &folder, e))?;
            missing.reverse();
            lock(&self.created_dirs).extend(missing);
        }
        let n = self.next_file;
        self.next_file += 1;
        let job = &self.cfg.job_id;
        let sp = self
            .split
            .ok_or_else(|| Error::internal("parquet writer: write without begin"))?;
        let temp = folder.join(format!(
            ".ferry-tmp-{}-{job}-{sp}-{n}.parquet",
            self.cfg.run_tag
        ));
        let target = folder.join(format!("{}-{job}-{sp:03}-{n:05}.parquet", self.cfg.prefix));
        if self.encoders.is_none() {
            let weights: Vec<usize> = first
                .columns()
                .iter()
                .map(|c| c.get_buffer_memory_size())
                .collect();
            self.encoders = Some(Encoders::start(
                &self.cfg.file_schema,
                &self.cfg.leaf_roots,
                &weights,
                self.cfg.encode_threads,
            )?);
        }
        let props = self.file_props(first);
        let enc = self
            .encoders
            .as_mut()
            .ok_or_else(|| Error::internal("parquet writer: no encoder threads"))?;
        lock(&self.temps).push(temp.clone());
        let writer = enc.create(&temp, &self.cfg.file_schema, props, self.cfg.rows_per_group)?;
        self.open.insert(
            dir.to_string(),
            OpenFile {
                writer,
                temp,
                target,
                rows: 0,
                last_used: self.tick,
            },
        );
        Ok(())
    }

    /// The writer properties of a file whose first rows are `first`: no dictionary for
    /// the (unnested) columns whose values are mostly distinct there.
    fn file_props(&self, first: &RecordBatch) -> WriterProperties {
        let cfg = &self.cfg;
        let mut b = None;
        for (leaf, &root) in cfg.leaf_roots.iter().enumerate() {
            let single = cfg.leaf_roots.iter().filter(|&&r| r == root).count() == 1;
            if !single || !cfg.props.dictionary_enabled(&cfg.leaf_paths[leaf]) {
                continue;
            }
            if mostly_distinct(first.column(root).as_ref()) == Some(true) {
                b = Some(
                    b.unwrap_or_else(|| cfg.props.clone().into_builder())
                        .set_column_dictionary_enabled(cfg.leaf_paths[leaf].clone(), false),
                );
            }
        }
        b.map_or_else(|| cfg.props.clone(), |b| b.build())
    }

    fn close_file(&mut self, dir: &str) -> Result<()> {
        let Some(f) = self.open.remove(dir) else {
            return Ok(());
        };
        let OpenFile {
            writer,
            temp,
            target,
            rows,
            ..
        } = f;
        let finished = self
            .encoders
            .as_ref()
            .ok_or_else(|| Error::internal("parquet writer: no encoder threads"))
            .and_then(|enc| writer.finish(enc))
            .and_then(|file| {
                // Synced: a receipt is durable, and a resumed run commits the file.
                file.sync_all().map_err(|e| io_error("syncing", &temp, e))?;
                Ok(std::fs::metadata(&temp)
                    .map_err(|e| io_error("reading", &temp, e))?
                    .len())
            });
        match finished {
            Ok(bytes) => {
                self.done.push(WrittenFile {
                    temp,
                    target,
                    rows,
                    bytes,
                });
                Ok(())
            }
            Err(e) => {
                // Neither open nor done any more: remembered for `discard`.
                self.broken.push(temp);
                Err(e)
            }
        }
    }

    fn begin(&mut self, split: usize) {
        self.split = Some(split);
        self.rows = 0;
        self.next_file = 0;
        self.done.clear();
        self.broken.clear();
        self.forget_open();
    }

    /// Drop the open files' encoding state (their files are left as they are).
    fn forget_open(&mut self) -> Vec<PathBuf> {
        let mut temps = Vec::new();
        for (_, f) in self.open.drain() {
            temps.push(f.temp);
            if let Some(enc) = &self.encoders {
                f.writer.forget(enc);
            }
        }
        temps
    }

    /// Close the split's files and describe them.
    fn end(&mut self) -> Result<Receipt> {
        let mut dirs: Vec<String> = self.open.keys().cloned().collect();
        dirs.sort();
        for d in dirs {
            self.close_file(&d)?;
        }
        let split = self
            .split
            .take()
            .ok_or_else(|| Error::internal("parquet writer: end without begin"))?;
        let done = std::mem::take(&mut self.done);
        let bytes = done.iter().map(|f| f.bytes).sum();
        Receipt::new(split, self.rows, bytes, Durability::Durable).with_payload(&done)
    }

    /// Delete the split's files, open and closed.
    fn discard(&mut self) -> Result<()> {
        let mut gone: Vec<PathBuf> = self.done.drain(..).map(|f| f.temp).collect();
        gone.append(&mut self.broken);
        gone.extend(self.forget_open());
        self.split = None;
        self.rows = 0;
        for t in &gone {
            if let Err(e) = std::fs::remove_file(t) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    return Err(io_error("discarding a failed split's file", t, e));
                }
            }
        }
        lock(&self.temps).retain(|t| !gone.contains(t));
        Ok(())
    }
}

/// One channel's sink; the work runs on tokio's blocking pool.
pub struct ParquetSink {
    state: Option<Box<SinkState>>,
}

impl ParquetSink {
    /// Run `f` on the sink's state on tokio's blocking pool.
    async fn blocking<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut SinkState) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let mut state = self
            .state
            .take()
            .ok_or_else(|| Error::internal("parquet writer: sink used after it broke"))?;
        let (state, res) = tokio::task::spawn_blocking(move || {
            let r = f(&mut state);
            (state, r)
        })
        .await
        .map_err(|e| Error::internal(format!("parquet writer: {e}")))?;
        self.state = Some(state);
        res
    }
}

#[async_trait]
impl BatchSink for ParquetSink {
    async fn write(&mut self, batch: RecordBatch) -> Result<u64> {
        self.blocking(move |st| st.write(batch)).await
    }

    async fn begin(&mut self, split: &Split) -> Result<()> {
        let index = split.index;
        self.blocking(move |st| {
            st.begin(index);
            Ok(())
        })
        .await
    }

    async fn end(&mut self) -> Result<Receipt> {
        self.blocking(SinkState::end).await
    }

    async fn discard(&mut self) -> Result<()> {
        self.blocking(SinkState::discard).await
    }

    async fn close(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}
