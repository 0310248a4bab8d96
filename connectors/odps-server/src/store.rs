//! Table storage of the local server: `ROOT/<project>/<table>/_meta.json`, one folder
//! per partition (`pt=20261122/`, several levels), data as Parquet files; upload blocks
//! staged under `<table>/_uploads/<id>/<blockid>.parquet`.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use ferry_odps::wire::sign::{percent_decode, percent_encode};
use ferry_odps::wire::{arrow_type, OdpsType};

/// A column of a stored table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ColumnMeta {
    /// Column name.
    pub name: String,
    /// ODPS type string.
    #[serde(rename = "type")]
    pub ty: String,
    /// Comment.
    #[serde(default)]
    pub comment: String,
}

/// `_meta.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableMeta {
    /// Table name.
    pub name: String,
    /// Data columns.
    pub columns: Vec<ColumnMeta>,
    /// Partition keys.
    #[serde(default)]
    pub partition_keys: Vec<ColumnMeta>,
    /// Table comment.
    #[serde(default)]
    pub comment: String,
    /// Lifecycle in days (-1: none).
    #[serde(default = "minus_one")]
    pub lifecycle: i64,
    /// Epoch seconds.
    pub created: i64,
    /// Epoch seconds of the last data or DDL change.
    pub modified: i64,
}

fn minus_one() -> i64 {
    -1
}

impl TableMeta {
    /// The data columns with parsed types.
    pub fn typed_columns(&self) -> Result<Vec<(String, OdpsType)>, String> {
        self.columns
            .iter()
            .map(|c| {
                OdpsType::parse(&c.ty)
                    .map(|t| (c.name.clone(), t))
                    .map_err(|e| e.to_string())
            })
            .collect()
    }

    /// The Arrow schema of the data columns.
    pub fn arrow_schema(&self) -> Result<SchemaRef, String> {
        Ok(Arc::new(Schema::new(
            self.typed_columns()?
                .iter()
                .map(|(n, t)| Field::new(n, arrow_type(t), true))
                .collect::<Vec<_>>(),
        )))
    }

    /// Normalise a partition spec (`pt='x',dt=y` or pairs) to the table's key order.
    pub fn normalize_spec(
        &self,
        pairs: &[(String, String)],
    ) -> Result<Vec<(String, String)>, String> {
        if self.partition_keys.is_empty() {
            if pairs.is_empty() {
                return Ok(Vec::new());
            }
            return Err(format!("table {} is not partitioned", self.name));
        }
        let mut out = Vec::new();
        for k in &self.partition_keys {
            let v = pairs
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(&k.name))
                .map(|(_, v)| v.clone())
                .ok_or_else(|| {
                    format!(
                        "partition spec {} of table {} lacks key {}",
                        spec_string(pairs),
                        self.name,
                        k.name
                    )
                })?;
            out.push((k.name.clone(), v));
        }
        if pairs.len() != out.len() {
            return Err(format!(
                "partition spec {} does not match the keys of table {} ({})",
                spec_string(pairs),
                self.name,
                self.partition_keys
                    .iter()
                    .map(|k| k.name.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
        Ok(out)
    }
}

/// Parse `k1=v1,k2='v2'` (or `k1=v1/k2=v2`) into pairs, quotes stripped.
pub fn parse_spec(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for part in s.split([',', '/']) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("partition spec `{s}`: `{part}` is not key=value"))?;
        let v = v.trim();
        let v = v
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''))
            .or_else(|| v.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
            .unwrap_or(v);
        out.push((k.trim().to_string(), v.to_string()));
    }
    Ok(out)
}

/// `k1=v1,k2=v2`
pub fn spec_string(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The storage root.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// A data file of a snapshot with its row count and size.
#[derive(Debug, Clone)]
pub struct DataFile {
    /// Path.
    pub path: PathBuf,
    /// Rows.
    pub rows: u64,
    /// Bytes on disk.
    pub bytes: u64,
}

/// What a table or partition holds: the sizes MaxCompute reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Rows.
    pub rows: u64,
    /// Bytes on disk (`size`, `PhysicalSize`).
    pub bytes: u64,
    /// Data files (`FileNum`).
    pub files: u64,
}

impl Usage {
    /// The usage of these files.
    pub fn of(files: &[DataFile]) -> Usage {
        files.iter().fold(Usage::default(), |u, f| Usage {
            rows: u.rows + f.rows,
            bytes: u.bytes + f.bytes,
            files: u.files + 1,
        })
    }
    fn add(self, o: Usage) -> Usage {
        Usage {
            rows: self.rows + o.rows,
            bytes: self.bytes + o.bytes,
            files: self.files + o.files,
        }
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn io(ctx: impl std::fmt::Display, e: std::io::Error) -> String {
    format!("{ctx}: {e}")
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && !n.starts_with('_')
        && !n.starts_with('.')
        && n.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '$')
}

impl Store {
    /// A store under `root` (created if missing).
    pub fn new(root: PathBuf) -> Result<Store, String> {
        fs::create_dir_all(&root).map_err(|e| io(root.display(), e))?;
        Ok(Store { root })
    }

    /// The folder of a table.
    pub fn table_dir(&self, project: &str, table: &str) -> Result<PathBuf, String> {
        if !valid_name(project) {
            return Err(format!("invalid project name `{project}`"));
        }
        if !valid_name(table) {
            return Err(format!("invalid table name `{table}`"));
        }
        Ok(self.root.join(project).join(table.to_ascii_lowercase()))
    }

    /// Read a table's metadata; `Ok(None)` when it does not exist.
    pub fn table(&self, project: &str, table: &str) -> Result<Option<TableMeta>, String> {
        let p = self.table_dir(project, table)?.join("_meta.json");
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| format!("{}: {e}", p.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(p.display(), e)),
        }
    }

    /// All tables of a project, sorted by name.
    pub fn tables(&self, project: &str) -> Result<Vec<TableMeta>, String> {
        let dir = self.root.join(project);
        let mut out = Vec::new();
        let Ok(rd) = fs::read_dir(&dir) else {
            return Ok(out);
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Ok(Some(t)) = self.table(project, &name) {
                out.push(t);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Write `_meta.json` atomically.
    pub fn save_table(&self, project: &str, meta: &TableMeta) -> Result<(), String> {
        let dir = self.table_dir(project, &meta.name)?;
        fs::create_dir_all(&dir).map_err(|e| io(dir.display(), e))?;
        let tmp = dir.join("_meta.json.tmp");
        let body = serde_json::to_vec_pretty(meta).map_err(|e| e.to_string())?;
        fs::write(&tmp, body).map_err(|e| io(tmp.display(), e))?;
        fs::rename(&tmp, dir.join("_meta.json")).map_err(|e| io(dir.display(), e))
    }

    /// Create a table.
    #[allow(clippy::too_many_arguments)]
    pub fn create_table(
        &self,
        project: &str,
        table: &str,
        columns: Vec<ColumnMeta>,
        partition_keys: Vec<ColumnMeta>,
        comment: String,
        lifecycle: i64,
    ) -> Result<(), String> {
        let now = now_secs();
        self.save_table(
            project,
            &TableMeta {
                name: table.to_ascii_lowercase(),
                columns,
                partition_keys,
                comment,
                lifecycle,
                created: now,
                modified: now,
            },
        )
    }

    /// Drop a table and its data.
    pub fn drop_table(&self, project: &str, table: &str) -> Result<(), String> {
        let dir = self.table_dir(project, table)?;
        fs::remove_dir_all(&dir).map_err(|e| io(dir.display(), e))
    }

    /// Touch the modified time.
    pub fn touch(&self, project: &str, meta: &TableMeta) -> Result<(), String> {
        let mut m = meta.clone();
        m.modified = now_secs();
        self.save_table(project, &m)
    }

    /// The folder of a partition (the table folder for `[]`).
    pub fn partition_dir(
        &self,
        project: &str,
        meta: &TableMeta,
        spec: &[(String, String)],
    ) -> Result<PathBuf, String> {
        let mut d = self.table_dir(project, &meta.name)?;
        for (k, v) in spec {
            d.push(format!("{}={}", k.to_ascii_lowercase(), percent_encode(v)));
        }
        Ok(d)
    }

    /// Whether a partition exists.
    pub fn partition_exists(
        &self,
        project: &str,
        meta: &TableMeta,
        spec: &[(String, String)],
    ) -> Result<bool, String> {
        Ok(self.partition_dir(project, meta, spec)?.is_dir())
    }

    /// Create a partition folder; false if it already existed.
    pub fn create_partition(
        &self,
        project: &str,
        meta: &TableMeta,
        spec: &[(String, String)],
    ) -> Result<bool, String> {
        let d = self.partition_dir(project, meta, spec)?;
        if d.is_dir() {
            return Ok(false);
        }
        fs::create_dir_all(&d).map_err(|e| io(d.display(), e))?;
        Ok(true)
    }

    /// Remove a partition and its data.
    pub fn drop_partition(
        &self,
        project: &str,
        meta: &TableMeta,
        spec: &[(String, String)],
    ) -> Result<(), String> {
        let d = self.partition_dir(project, meta, spec)?;
        fs::remove_dir_all(&d).map_err(|e| io(d.display(), e))
    }

    /// All partitions of a table, each as pairs in key order, sorted.
    pub fn partitions(
        &self,
        project: &str,
        meta: &TableMeta,
    ) -> Result<Vec<Vec<(String, String)>>, String> {
        let mut out = Vec::new();
        let base = self.table_dir(project, &meta.name)?;
        fn walk(
            dir: &Path,
            keys: &[ColumnMeta],
            prefix: Vec<(String, String)>,
            out: &mut Vec<Vec<(String, String)>>,
        ) {
            if keys.is_empty() {
                out.push(prefix);
                return;
            }
            let Ok(rd) = fs::read_dir(dir) else { return };
            let mut names: Vec<String> = rd
                .flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            for n in names {
                if let Some((k, v)) = n.split_once('=') {
                    if k.eq_ignore_ascii_case(&keys[0].name) {
                        let mut p = prefix.clone();
                        p.push((keys[0].name.clone(), percent_decode(v)));
                        walk(&dir.join(&n), &keys[1..], p, out);
                    }
                }
            }
        }
        if !meta.partition_keys.is_empty() {
            walk(&base, &meta.partition_keys, Vec::new(), &mut out);
        }
        Ok(out)
    }

    /// The Parquet files of one partition (or of an unpartitioned table), in commit order.
    pub fn data_files(&self, dir: &Path) -> Result<Vec<DataFile>, String> {
        let mut names: Vec<PathBuf> = match fs::read_dir(dir) {
            Ok(rd) => rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "parquet"))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(dir.display(), e)),
        };
        names.sort();
        names
            .into_iter()
            .map(|path| {
                let f = fs::File::open(&path).map_err(|e| io(path.display(), e))?;
                let b = ParquetRecordBatchReaderBuilder::try_new(f)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let rows = b.metadata().file_metadata().num_rows() as u64;
                let bytes = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                Ok(DataFile { path, rows, bytes })
            })
            .collect()
    }

    /// The usage of one partition (or of an unpartitioned table: `spec` empty).
    pub fn usage(
        &self,
        project: &str,
        meta: &TableMeta,
        spec: &[(String, String)],
    ) -> Result<Usage, String> {
        Ok(Usage::of(
            &self.data_files(&self.partition_dir(project, meta, spec)?)?,
        ))
    }

    /// The usage of a whole table (every partition of a partitioned one).
    pub fn table_usage(&self, project: &str, meta: &TableMeta) -> Result<Usage, String> {
        if meta.partition_keys.is_empty() {
            return self.usage(project, meta, &[]);
        }
        let mut u = Usage::default();
        for spec in self.partitions(project, meta)? {
            u = u.add(self.usage(project, meta, &spec)?);
        }
        Ok(u)
    }

    /// Remove the data files directly in `dir` (overwrite / truncate).
    pub fn clear_data(&self, dir: &Path) -> Result<(), String> {
        for f in self.data_files(dir)? {
            fs::remove_file(&f.path).map_err(|e| io(f.path.display(), e))?;
        }
        Ok(())
    }

    /// The staging folder of an upload session.
    pub fn upload_dir(
        &self,
        project: &str,
        table: &str,
        upload_id: &str,
    ) -> Result<PathBuf, String> {
        Ok(self
            .table_dir(project, table)?
            .join("_uploads")
            .join(upload_id))
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// A Parquet file written batch by batch under a temporary name, renamed into place by
/// [`ParquetSink::finish`]; dropped unfinished, it removes the temporary file.
pub struct ParquetSink {
    path: PathBuf,
    tmp: PathBuf,
    writer: Option<ArrowWriter<fs::File>>,
    rows: u64,
}

impl std::fmt::Debug for ParquetSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ParquetSink({})", self.path.display())
    }
}

/// Rows per Parquet row group: what a writer buffers before it writes to disk.
const ROW_GROUP_ROWS: usize = 128 * 1024;

impl ParquetSink {
    /// Start writing `path` (through a temporary name next to it).
    pub fn create(path: &Path, schema: SchemaRef) -> Result<ParquetSink, String> {
        let tmp = path.with_extension(format!("tmp{}", rand::random::<u32>()));
        let f = fs::File::create(&tmp).map_err(|e| io(tmp.display(), e))?;
        let props = WriterProperties::builder()
            .set_compression(parquet::basic::Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let writer = ArrowWriter::try_new(f, schema, Some(props)).map_err(|e| e.to_string())?;
        Ok(ParquetSink {
            path: path.to_path_buf(),
            tmp,
            writer: Some(writer),
            rows: 0,
        })
    }

    /// Append a batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), String> {
        let w = self
            .writer
            .as_mut()
            .ok_or_else(|| format!("{}: already finished", self.path.display()))?;
        w.write(batch)
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Close the file, leaving it under its temporary name until
    /// [`ClosedFile::commit`]; dropped uncommitted, it is removed.
    pub fn close(mut self) -> Result<ClosedFile, String> {
        if let Some(w) = self.writer.take() {
            w.close()
                .map_err(|e| format!("{}: {e}", self.path.display()))?;
        }
        Ok(ClosedFile {
            path: self.path.clone(),
            tmp: self.tmp.clone(),
            rows: self.rows,
            placed: false,
        })
    }

    /// Close the file and move it into place; returns the row count.
    pub fn finish(mut self) -> Result<u64, String> {
        if let Some(w) = self.writer.take() {
            w.close()
                .map_err(|e| format!("{}: {e}", self.path.display()))?;
        }
        fs::rename(&self.tmp, &self.path).map_err(|e| io(self.path.display(), e))?;
        Ok(self.rows)
    }
}

/// A written file under its temporary name (see [`ParquetSink::close`]).
#[derive(Debug)]
pub struct ClosedFile {
    path: PathBuf,
    tmp: PathBuf,
    rows: u64,
    placed: bool,
}

impl ClosedFile {
    /// Move it into place; returns its row count.
    pub fn commit(mut self) -> Result<u64, String> {
        fs::rename(&self.tmp, &self.path).map_err(|e| io(self.path.display(), e))?;
        self.placed = true;
        Ok(self.rows)
    }
}

impl Drop for ClosedFile {
    fn drop(&mut self) {
        if !self.placed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

impl Drop for ParquetSink {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Blank-pad the `char(n)` columns of a batch to n characters (what MaxCompute stores).
pub fn pad_chars(cols: &[(String, OdpsType)], batch: RecordBatch) -> Result<RecordBatch, String> {
    use arrow::array::{Array, StringArray};
    if !cols.iter().any(|(_, t)| matches!(t, OdpsType::Char(_))) {
        return Ok(batch);
    }
    let mut arrays = batch.columns().to_vec();
    for (i, (_, t)) in cols.iter().enumerate() {
        let OdpsType::Char(n) = t else { continue };
        let Some(a) = arrays
            .get(i)
            .and_then(|a| a.as_any().downcast_ref::<StringArray>())
        else {
            continue;
        };
        let n = *n as usize;
        let padded: StringArray = a
            .iter()
            .map(|v| {
                v.map(|v| {
                    let len = v.chars().count();
                    if len >= n {
                        v.to_string()
                    } else {
                        let mut s = String::with_capacity(v.len() + n - len);
                        s.push_str(v);
                        s.extend(std::iter::repeat_n(' ', n - len));
                        s
                    }
                })
            })
            .collect();
        arrays[i] = Arc::new(padded);
    }
    RecordBatch::try_new(batch.schema(), arrays).map_err(|e| e.to_string())
}

/// Read `count` rows from `skip` of one file, projected to `indices` (table order), batch
/// by batch.
pub fn read_parquet_range(
    path: &Path,
    indices: &[usize],
    skip: usize,
    count: usize,
    batch_rows: usize,
) -> Result<impl Iterator<Item = Result<RecordBatch, String>>, String> {
    let f = fs::File::open(path).map_err(|e| io(path.display(), e))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mask = ProjectionMask::roots(b.parquet_schema(), indices.iter().copied());
    let r = b
        .with_projection(mask)
        .with_offset(skip)
        .with_limit(count)
        .with_batch_size(batch_rows)
        .build()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let p = path.display().to_string();
    Ok(r.map(move |b| b.map_err(|e| format!("{p}: {e}"))))
}
