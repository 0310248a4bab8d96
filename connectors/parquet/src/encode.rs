//! Parquet files whose columns are encoded on worker threads, overlapped with the read.
//!
//! A sink's [`Encoders`] are a few threads (`encodeThreads`), each owning the column
//! writers of a fixed set of columns for every file the sink has open. Writing a batch
//! queues it to every worker (bounded: [`QUEUE_BATCHES`] batches each) and returns, so
//! the caller goes back to reading while the columns encode in parallel. When a row
//! group is full its column writers are closed on the workers and the chunks appended,
//! in column order, to the file by the caller ([`FileEncoder`]); the next row group
//! starts encoding at once, so at most one closed row group waits to be appended.
//!
//! Memory per open file: the row group being encoded plus at most one finished row
//! group, plus the queued batches.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use ferry_core::{Error, Result};
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory,
};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

use crate::error::write_error;

/// Batches queued to each worker before a write waits for it.
pub const QUEUE_BATCHES: usize = 2;

/// One finished column chunk and its leaf column index.
type Chunks = Vec<(usize, ArrowColumnChunk)>;

enum Job {
    /// The column writers of a new row group of `file` (this worker's leaves, in order).
    Start {
        file: u64,
        writers: Vec<ArrowColumnWriter>,
        estimate: Arc<AtomicU64>,
    },
    /// Encode this worker's columns of `batch` into `file`'s open row group.
    Write { file: u64, batch: RecordBatch },
    /// Close `file`'s row group and send the chunks (or the first error) to `reply`.
    Finish {
        file: u64,
        reply: Sender<(usize, Result<Chunks>)>,
    },
    /// Drop `file`'s writers (its split failed).
    Forget { file: u64 },
}

struct Worker {
    jobs: SyncSender<Job>,
    _thread: JoinHandle<()>,
}

/// A worker's state for one file.
struct WorkerFile {
    writers: Vec<ArrowColumnWriter>,
    estimate: Arc<AtomicU64>,
    /// The first failure; the row group's chunks are not produced after it.
    failed: Option<Error>,
}

/// What a worker knows of the schema.
struct WorkerPlan {
    index: usize,
    schema: SchemaRef,
    /// This worker's top-level columns, ascending.
    fields: Vec<usize>,
    /// This worker's leaf column indices, ascending (the order of its writers).
    leaves: Vec<usize>,
    /// The top-level column of every leaf column.
    leaf_roots: Vec<usize>,
}

impl WorkerPlan {
    fn run(self, jobs: Receiver<Job>) {
        let mut files: HashMap<u64, WorkerFile> = HashMap::new();
        for job in jobs {
            match job {
                Job::Start {
                    file,
                    writers,
                    estimate,
                } => {
                    files.insert(
                        file,
                        WorkerFile {
                            writers,
                            estimate,
                            failed: None,
                        },
                    );
                }
                Job::Write { file, batch } => {
                    if let Some(f) = files.get_mut(&file) {
                        if f.failed.is_none() {
                            if let Err(e) = self.write(f, &batch) {
                                f.failed = Some(e);
                                f.writers.clear();
                            }
                        }
                    }
                }
                Job::Finish { file, reply } => {
                    let res = match files.remove(&file) {
                        Some(WorkerFile {
                            failed: Some(e), ..
                        }) => Err(e),
                        Some(f) => self.finish(f),
                        None => Err(Error::internal(
                            "parquet writer: finishing a row group that never started",
                        )),
                    };
                    // The file may be gone (discarded) by now: nothing to tell.
                    let _ = reply.send((self.index, res));
                }
                Job::Forget { file } => {
                    files.remove(&file);
                }
            }
        }
    }

    fn write(&self, f: &mut WorkerFile, batch: &RecordBatch) -> Result<()> {
        let mut writers = f.writers.iter_mut();
        for &c in &self.fields {
            let field = self.schema.field(c);
            let leaves = compute_leaves(field, batch.column(c)).map_err(|e| {
                Error::data(format!("parquet writer: column \"{}\": {e}", field.name()))
            })?;
            for leaf in leaves {
                let w = writers.next().ok_or_else(|| {
                    Error::internal(format!(
                        "parquet writer: column \"{}\" has more leaves than writers",
                        field.name()
                    ))
                })?;
                w.write(&leaf).map_err(|e| {
                    Error::data(format!(
                        "parquet writer: encoding column \"{}\": {e}",
                        field.name()
                    ))
                })?;
            }
        }
        let estimate: usize = f
            .writers
            .iter()
            .map(ArrowColumnWriter::get_estimated_total_bytes)
            .sum();
        f.estimate.store(estimate as u64, Ordering::Relaxed);
        Ok(())
    }

    fn finish(&self, f: WorkerFile) -> Result<Chunks> {
        let mut out = Vec::with_capacity(f.writers.len());
        for (&leaf, w) in self.leaves.iter().zip(f.writers) {
            let chunk = w.close().map_err(|e| {
                Error::data(format!(
                    "parquet writer: closing a chunk of column \"{}\": {e}",
                    self.leaf_name(leaf)
                ))
            })?;
            out.push((leaf, chunk));
        }
        f.estimate.store(0, Ordering::Relaxed);
        Ok(out)
    }

    /// The top-level column `leaf` belongs to, for messages.
    fn leaf_name(&self, leaf: usize) -> &str {
        self.leaf_roots
            .get(leaf)
            .map_or("?", |&r| self.schema.field(r).name().as_str())
    }
}

/// A sink's column encoding threads, shared by the files it has open.
pub struct Encoders {
    workers: Vec<Worker>,
    /// Worker of each leaf column.
    leaf_worker: Vec<usize>,
    next_file: u64,
}

impl Encoders {
    /// Start `threads` workers (at least one, at most one per column) for `schema`,
    /// the columns spread over them by `weights` (one per top-level column: the
    /// expected encoding cost, e.g. its bytes in a first batch).
    pub fn start(
        schema: &SchemaRef,
        leaf_roots: &[usize],
        weights: &[usize],
        threads: usize,
    ) -> Result<Self> {
        let n = schema.fields().len();
        let threads = threads.clamp(1, n.max(1));
        // Largest column first onto the least loaded worker.
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&c| std::cmp::Reverse(weights.get(c).copied().unwrap_or(1)));
        let mut load = vec![0usize; threads];
        let mut field_worker = vec![0usize; n];
        for c in order {
            let (w, _) = load
                .iter()
                .enumerate()
                .min_by_key(|(_, l)| **l)
                .unwrap_or((0, &0));
            field_worker[c] = w;
            load[w] += weights.get(c).copied().unwrap_or(1).max(1);
        }
        let leaf_worker: Vec<usize> = leaf_roots.iter().map(|&r| field_worker[r]).collect();
        let mut workers = Vec::with_capacity(threads);
        for index in 0..threads {
            let plan = WorkerPlan {
                index,
                schema: Arc::clone(schema),
                fields: (0..n).filter(|&c| field_worker[c] == index).collect(),
                leaves: (0..leaf_worker.len())
                    .filter(|&l| leaf_worker[l] == index)
                    .collect(),
                leaf_roots: leaf_roots.to_vec(),
            };
            let (tx, rx) = mpsc::sync_channel(QUEUE_BATCHES);
            let thread = std::thread::Builder::new()
                .name(format!("ferry-parquet-enc-{index}"))
                .spawn(move || plan.run(rx))
                .map_err(|e| Error::io("parquet writer: starting an encoder thread", e))?;
            workers.push(Worker {
                jobs: tx,
                _thread: thread,
            });
        }
        Ok(Encoders {
            workers,
            leaf_worker,
            next_file: 0,
        })
    }

    fn send(&self, worker: usize, job: Job) -> Result<()> {
        self.workers
            .get(worker)
            .ok_or_else(|| Error::internal("parquet writer: no such encoder thread"))?
            .jobs
            .send(job)
            .map_err(|_| Error::internal("parquet writer: an encoder thread stopped"))
    }

    /// Start a file at `path` (created) with `props`.
    pub fn create(
        &mut self,
        path: &Path,
        schema: &SchemaRef,
        props: WriterProperties,
        rows_per_group: usize,
    ) -> Result<FileEncoder> {
        let file = File::create(path).map_err(|e| crate::error::io_error("creating", path, e))?;
        let (writer, factory) = ArrowWriter::try_new(file, Arc::clone(schema), Some(props))
            .and_then(ArrowWriter::into_serialized_writer)
            .map_err(|e| write_error(path, e))?;
        if writer.schema_descr().num_columns() != self.leaf_worker.len() {
            return Err(Error::internal(format!(
                "parquet writer: {} has {} leaf columns, the encoders {}",
                path.display(),
                writer.schema_descr().num_columns(),
                self.leaf_worker.len()
            )));
        }
        self.next_file += 1;
        Ok(FileEncoder {
            id: self.next_file,
            path: path.to_path_buf(),
            writer,
            factory,
            rows_per_group: rows_per_group.max(1),
            group_rows: 0,
            started: false,
            groups: 0,
            estimates: (0..self.workers.len())
                .map(|_| Arc::new(AtomicU64::new(0)))
                .collect(),
            pending: None,
        })
    }
}

/// A row group whose chunks are being finished by the workers.
struct Pending {
    replies: Receiver<(usize, Result<Chunks>)>,
    got: Vec<Option<Chunks>>,
    missing: usize,
}

/// One Parquet file being written through the sink's [`Encoders`].
pub struct FileEncoder {
    id: u64,
    path: PathBuf,
    writer: SerializedFileWriter<File>,
    factory: ArrowRowGroupWriterFactory,
    rows_per_group: usize,
    /// Rows queued into the row group being encoded.
    group_rows: usize,
    /// Whether the workers hold writers of a row group of this file.
    started: bool,
    /// Row groups started so far.
    groups: usize,
    estimates: Vec<Arc<AtomicU64>>,
    pending: Option<Pending>,
}

impl FileEncoder {
    /// Queue `batch` (any number of rows) for encoding; waits only while the workers'
    /// queues are full, or for the previous row group when another one fills.
    pub fn write(&mut self, enc: &Encoders, batch: &RecordBatch) -> Result<()> {
        let mut offset = 0;
        let total = batch.num_rows();
        while offset < total {
            self.collect(false)?;
            if !self.started {
                self.start_group(enc)?;
            }
            let take = (self.rows_per_group - self.group_rows).min(total - offset);
            let part = batch.slice(offset, take);
            for w in 0..enc.workers.len() {
                enc.send(
                    w,
                    Job::Write {
                        file: self.id,
                        batch: part.clone(),
                    },
                )?;
            }
            self.group_rows += take;
            offset += take;
            if self.group_rows >= self.rows_per_group {
                self.finish_group(enc)?;
            }
        }
        Ok(())
    }

    fn start_group(&mut self, enc: &Encoders) -> Result<()> {
        let writers = self
            .factory
            .create_column_writers(self.groups)
            .map_err(|e| write_error(&self.path, e))?;
        let mut per_worker: Vec<Vec<ArrowColumnWriter>> =
            (0..enc.workers.len()).map(|_| Vec::new()).collect();
        for (leaf, w) in writers.into_iter().enumerate() {
            let worker = enc.leaf_worker.get(leaf).copied().unwrap_or(0);
            if let Some(v) = per_worker.get_mut(worker) {
                v.push(w);
            }
        }
        for (worker, writers) in per_worker.into_iter().enumerate() {
            enc.send(
                worker,
                Job::Start {
                    file: self.id,
                    writers,
                    estimate: Arc::clone(&self.estimates[worker]),
                },
            )?;
        }
        self.started = true;
        self.groups += 1;
        self.group_rows = 0;
        Ok(())
    }

    /// Close the row group on the workers; its chunks are appended once they are done
    /// (at most one row group waits: an earlier one is appended first).
    fn finish_group(&mut self, enc: &Encoders) -> Result<()> {
        if !self.started {
            return Ok(());
        }
        self.collect(true)?;
        let (tx, rx) = mpsc::channel();
        for w in 0..enc.workers.len() {
            enc.send(
                w,
                Job::Finish {
                    file: self.id,
                    reply: tx.clone(),
                },
            )?;
        }
        self.started = false;
        self.group_rows = 0;
        self.pending = Some(Pending {
            replies: rx,
            got: (0..enc.workers.len()).map(|_| None).collect(),
            missing: enc.workers.len(),
        });
        Ok(())
    }

    fn open_estimate(&self) -> u64 {
        self.estimates
            .iter()
            .map(|e| e.load(Ordering::Relaxed))
            .sum()
    }

    /// Take the finished row group's chunks that arrived; append it when complete.
    /// `wait`: block until it is.
    fn collect(&mut self, wait: bool) -> Result<()> {
        let Some(p) = self.pending.as_mut() else {
            return Ok(());
        };
        while p.missing > 0 {
            let msg = if wait {
                p.replies
                    .recv()
                    .map_err(|_| Error::internal("parquet writer: an encoder thread stopped"))?
            } else {
                match p.replies.try_recv() {
                    Ok(m) => m,
                    Err(TryRecvError::Empty) => return Ok(()),
                    Err(TryRecvError::Disconnected) => {
                        return Err(Error::internal("parquet writer: an encoder thread stopped"))
                    }
                }
            };
            let (worker, res) = msg;
            let chunks = res.map_err(|e| e.context(format!("writing {}", self.path.display())))?;
            if let Some(slot) = p.got.get_mut(worker) {
                if slot.replace(chunks).is_none() {
                    p.missing -= 1;
                }
            }
        }
        let Some(p) = self.pending.take() else {
            return Ok(());
        };
        let mut chunks: Chunks = p.got.into_iter().flatten().flatten().collect();
        chunks.sort_by_key(|(leaf, _)| *leaf);
        let mut rg = self
            .writer
            .next_row_group()
            .map_err(|e| write_error(&self.path, e))?;
        for (_, chunk) in chunks {
            chunk
                .append_to_row_group(&mut rg)
                .map_err(|e| write_error(&self.path, e))?;
        }
        rg.close().map_err(|e| write_error(&self.path, e))?;
        Ok(())
    }

    /// Bytes written plus an estimate of what the workers hold (for `maxFileSizeMB`).
    /// A closing row group counts through the workers' estimates until they closed it,
    /// then not until its chunks are appended: the estimate may lag, never count twice.
    pub fn size_estimate(&self) -> u64 {
        self.writer.bytes_written() as u64 + self.open_estimate()
    }

    /// Finish the file: every row group appended, the footer written. Returns the file
    /// (not yet synced).
    pub fn finish(mut self, enc: &Encoders) -> Result<File> {
        if self.group_rows > 0 {
            self.finish_group(enc)?;
        } else if self.started {
            // Writers of an empty row group: drop them.
            for w in 0..enc.workers.len() {
                enc.send(w, Job::Forget { file: self.id })?;
            }
            self.started = false;
        }
        self.collect(true)?;
        self.writer
            .into_inner()
            .map_err(|e| write_error(&self.path, e))
    }

    /// Drop the file's state on the workers (its split failed); the file is the
    /// caller's to remove.
    pub fn forget(self, enc: &Encoders) {
        for w in 0..enc.workers.len() {
            let _ = enc.send(w, Job::Forget { file: self.id });
        }
    }
}

/// Values of a column's first batch looked at by [`mostly_distinct`].
const SAMPLE_ROWS: usize = 4096;

/// Whether most of the (first [`SAMPLE_ROWS`]) non-null values of `array` are distinct:
/// ids, timestamps, measurements, free text. A dictionary of such a column grows as
/// fast as the data, costs a hash per value and saves nothing, so the writer turns it
/// off for them; `None` when the sample cannot tell (few values, other types).
pub fn mostly_distinct(array: &dyn Array) -> Option<bool> {
    let n = array.len().min(SAMPLE_ROWS);
    let data = array.to_data();
    let mut seen: HashSet<&[u8]> = HashSet::with_capacity(n);
    let mut values = 0usize;
    match array.data_type() {
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            for i in (0..n).filter(|&i| a.is_valid(i)) {
                values += 1;
                seen.insert(a.value(i).as_bytes());
            }
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            for i in (0..n).filter(|&i| a.is_valid(i)) {
                values += 1;
                seen.insert(a.value(i).as_bytes());
            }
        }
        DataType::Utf8View => {
            let a = array.as_string_view();
            for i in (0..n).filter(|&i| a.is_valid(i)) {
                values += 1;
                seen.insert(a.value(i).as_bytes());
            }
        }
        DataType::Binary => {
            let a = array.as_binary::<i32>();
            for i in (0..n).filter(|&i| a.is_valid(i)) {
                values += 1;
                seen.insert(a.value(i));
            }
        }
        DataType::LargeBinary => {
            let a = array.as_binary::<i64>();
            for i in (0..n).filter(|&i| a.is_valid(i)) {
                values += 1;
                seen.insert(a.value(i));
            }
        }
        t if t.is_primitive() => {
            let width = t.primitive_width()?;
            let buf = data.buffers().first()?.as_slice();
            let offset = data.offset();
            for i in (0..n).filter(|&i| array.is_valid(i)) {
                let at = (offset + i) * width;
                values += 1;
                seen.insert(buf.get(at..at + width)?);
            }
        }
        _ => return None,
    }
    if values < 256 {
        return None;
    }
    Some(seen.len() * 4 > values * 3)
}
