//! The run directory: what a run planned and what its splits staged, kept on disk while
//! the run is in progress, so that a run that dies (`kill -9`, OOM, a reboot) can be
//! found and undone by another process (`ferry runs abort ID`).
//!
//! ```text
//! ferry-runs/<run id>/run.json            the plan: splits, the writer's prepared state, status
//! ferry-runs/<run id>/receipts/<split>.json  one per finished split
//! ```
//!
//! Every file is written atomically (temp file, fsync, rename, fsync of the folder). A run
//! that commits, or fails and rolls back everything, removes its directory: what is left
//! under the root is a run in progress, a run that died, or a run whose rollback failed.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ferry_core::plugin::{Receipt, Split};
use ferry_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// The default root, relative to the working directory.
pub const DEFAULT_ROOT: &str = "ferry-runs";

/// Where a run keeps its state, and how to rebuild its job later.
#[derive(Debug, Clone)]
pub struct StateOptions {
    /// The root folder (`ferry-runs`); the run's directory is `<root>/<run id>`.
    pub root: PathBuf,
    /// How the job was started (the CLI's arguments), so that `ferry runs abort` can
    /// build the same writer. Opaque to the runtime.
    pub invocation: serde_json::Value,
}

/// What a run directory says about its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Planned, reading and writing.
    Running,
    /// Every split finished; the writer is committing.
    Committing,
    /// The run failed and rolling back what it staged failed too.
    Failed,
    /// A sharded run committed (its directory stays, so that a shard started again
    /// learns that its work is done).
    Committed,
    /// A sharded run was aborted: what it staged is gone.
    Aborted,
}

/// One split of the plan, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitEntry {
    /// Its index.
    pub index: usize,
    /// What it reads.
    pub description: String,
}

/// `run.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    /// Format version (1).
    pub version: u32,
    /// The run's id (names what writers stage).
    pub run_id: String,
    /// The job, as named in messages (its file).
    pub job: String,
    /// How it was started (see [`StateOptions::invocation`]).
    pub invocation: serde_json::Value,
    /// Reader and writer plugins.
    pub reader: String,
    /// See `reader`.
    pub writer: String,
    /// Channels.
    pub channels: usize,
    /// The machine and process that ran it.
    pub host: String,
    /// See `host`.
    pub pid: u32,
    /// The process's start time (clock ticks since boot, Linux), so that a reused pid is
    /// not taken for the run's process.
    pub pid_start: Option<u64>,
    /// When it started (UTC, RFC 3339).
    pub started: String,
    /// Where it is.
    pub status: RunStatus,
    /// The plan.
    pub splits: Vec<SplitEntry>,
    /// What [`ferry_core::plugin::Writer::prepare`] returned.
    pub prepared: serde_json::Value,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// The schema of the batches the writer takes (an Arrow IPC schema message, hex), so
    /// that `ferry runs abort` can build the writer without reaching the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writer_input: Option<String>,
    /// A sharded run's splits as planned, payloads included, when every shard must read
    /// them so (`ferry coordinate`: their payloads name the coordinator's snapshot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_splits: Option<Vec<Split>>,
    /// A sharded run's shard count (`ferry plan --shards N`); 0: not sharded.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub shards: usize,
}

impl RunRecord {
    /// A new run's record (status `running`), started by this process now.
    pub fn new(
        invocation: serde_json::Value,
        run_id: &str,
        job: &str,
        plugins: (&str, &str),
        channels: usize,
        splits: &[Split],
    ) -> RunRecord {
        RunRecord {
            version: 1,
            run_id: run_id.to_string(),
            job: job.to_string(),
            invocation,
            reader: plugins.0.to_string(),
            writer: plugins.1.to_string(),
            channels,
            host: hostname(),
            pid: std::process::id(),
            pid_start: process_start(std::process::id()),
            started: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            status: RunStatus::Running,
            splits: splits
                .iter()
                .map(|s| SplitEntry {
                    index: s.index,
                    description: s.description.clone(),
                })
                .collect(),
            prepared: serde_json::Value::Null,
            error: None,
            writer_input: None,
            planned_splits: None,
            shards: 0,
        }
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// What a shard of a sharded run says about itself (`shards/<index>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardState {
    /// Attempts so far (processes started for this shard).
    pub attempts: u32,
    /// `running`, `done`, `failed` (this attempt failed; it may be tried again) or
    /// `gave-up` (it failed as many times as it was allowed to: the run must abort).
    pub status: String,
    /// The last error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Where it ran.
    pub host: String,
}

/// A run's directory while the run goes on.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    record: Mutex<RunRecord>,
}

impl RunDir {
    /// Create `<root>/<run id>` and write `run.json` (status `running`).
    pub fn create(
        opts: &StateOptions,
        run_id: &str,
        job: &str,
        plugins: (&str, &str),
        channels: usize,
        splits: &[Split],
    ) -> Result<RunDir> {
        let path = opts.root.join(run_id);
        make_run_dir(&path)?;
        let record = RunRecord::new(
            opts.invocation.clone(),
            run_id,
            job,
            plugins,
            channels,
            splits,
        );
        let dir = RunDir {
            path,
            record: Mutex::new(record),
        };
        dir.save()?;
        Ok(dir)
    }

    /// Open an existing run directory.
    pub fn open(root: &Path, run_id: &str) -> Result<RunDir> {
        RunDir::at(&root.join(run_id))
    }

    /// Open the run directory `path`.
    pub fn at(path: &Path) -> Result<RunDir> {
        let path = path.to_path_buf();
        let record = read_record(&path)?;
        Ok(RunDir {
            path,
            record: Mutex::new(record),
        })
    }

    /// Resume: this process takes the run over (its pid and host, status `running`).
    pub fn take_over(&self) -> Result<()> {
        self.update(|r| {
            r.host = hostname();
            r.pid = std::process::id();
            r.pid_start = process_start(r.pid);
            r.status = RunStatus::Running;
            r.error = None;
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A copy of the record.
    pub fn record(&self) -> Result<RunRecord> {
        Ok(self.lock()?.clone())
    }

    /// Change the record and write it.
    pub fn update(&self, f: impl FnOnce(&mut RunRecord)) -> Result<()> {
        f(&mut *self.lock()?);
        self.save()
    }

    /// Record a finished split.
    pub fn write_receipt(&self, receipt: &Receipt) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(receipt)
            .map_err(|e| Error::internal(format!("receipt json: {e}")))?;
        write_atomic(&receipt_path(&self.path, receipt.split), &bytes)
    }

    /// The receipts recorded so far, by split.
    pub fn receipts(&self) -> Result<Vec<Receipt>> {
        read_receipts(&self.path)
    }

    /// Read the record again from disk (another process may have changed it).
    pub fn reload(&self) -> Result<RunRecord> {
        let fresh = read_record(&self.path)?;
        *self.lock()? = fresh.clone();
        Ok(fresh)
    }

    /// The run is over and left nothing behind: remove its directory.
    pub fn remove(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("removing {}", self.path.display()), e)),
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, RunRecord>> {
        self.record
            .lock()
            .map_err(|_| Error::internal("run record lock poisoned"))
    }

    fn save(&self) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(&*self.lock()?)
            .map_err(|e| Error::internal(format!("run.json: {e}")))?;
        write_atomic(&self.path.join("run.json"), &bytes)
    }
}

/// Whether a recorded run's process is still at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    /// Its process runs on this machine.
    Alive,
    /// Its process is gone and it did not finish: what it staged is still there.
    Abandoned,
    /// Its rollback failed (see the record's error).
    Failed,
    /// Recorded on another machine: cannot tell from here.
    Elsewhere,
}

impl std::fmt::Display for Liveness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Liveness::Alive => "running",
            Liveness::Abandoned => "abandoned",
            Liveness::Failed => "failed",
            Liveness::Elsewhere => "elsewhere",
        })
    }
}

/// A run directory found under a root.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Its `run.json`.
    pub record: RunRecord,
    /// Splits with a receipt.
    pub done: usize,
    /// Whether its process is alive.
    pub liveness: Liveness,
}

/// Every run directory under `root`, oldest first. A missing root is an empty list;
/// a directory without a readable `run.json` is skipped with a warning.
pub fn list(root: &Path) -> Result<Vec<RunInfo>> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("reading {}", root.display()), e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("reading {}", root.display()), e))?;
        let path = entry.path();
        if !path.join("run.json").is_file() {
            continue;
        }
        let record = match read_record(&path) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("skipping {}: {e}", path.display());
                continue;
            }
        };
        let done = read_receipts(&path).map(|r| r.len()).unwrap_or(0);
        let liveness = liveness(&record);
        out.push(RunInfo {
            record,
            done,
            liveness,
        });
    }
    out.sort_by(|a, b| a.record.run_id.cmp(&b.record.run_id));
    Ok(out)
}

/// `schema` as an Arrow IPC schema message in hex, for [`RunRecord::writer_input`].
pub fn encode_schema(schema: &arrow::datatypes::Schema) -> Result<String> {
    let mut buf = Vec::new();
    let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut buf, schema)
        .map_err(|e| Error::internal(format!("encoding the writer's input schema: {e}")))?;
    w.finish()
        .map_err(|e| Error::internal(format!("encoding the writer's input schema: {e}")))?;
    drop(w);
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// The schema [`encode_schema`] wrote.
pub fn decode_schema(hex: &str) -> Result<arrow::datatypes::SchemaRef> {
    let bad = || Error::config("run.json: writer_input is not a schema this ferry wrote");
    if !hex.len().is_multiple_of(2) {
        return Err(bad());
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<std::result::Result<Vec<u8>, _>>()
        .map_err(|_| bad())?;
    let r = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
        .map_err(|_| bad())?;
    Ok(r.schema())
}

/// Whether `r`'s process is still at it.
pub fn liveness(r: &RunRecord) -> Liveness {
    if r.status == RunStatus::Failed {
        return Liveness::Failed;
    }
    if r.host != hostname() {
        return Liveness::Elsewhere;
    }
    let alive = match (process_start(r.pid), r.pid_start) {
        (Some(now), Some(then)) => now == then,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if alive {
        Liveness::Alive
    } else {
        Liveness::Abandoned
    }
}

pub(crate) fn read_record(dir: &Path) -> Result<RunRecord> {
    let path = dir.join("run.json");
    let text = std::fs::read(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::config(format!("no run at {} (see `ferry runs`)", dir.display()))
        } else {
            Error::io(format!("reading {}", path.display()), e)
        }
    })?;
    serde_json::from_slice(&text)
        .map_err(|e| Error::config(format!("{}: not a ferry run record: {e}", path.display())))
}

pub(crate) fn read_receipts(dir: &Path) -> Result<Vec<Receipt>> {
    let folder = dir.join("receipts");
    let entries = match std::fs::read_dir(&folder) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("reading {}", folder.display()), e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| Error::io(format!("reading {}", folder.display()), e))?
            .path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let text = std::fs::read(&path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        out.push(
            serde_json::from_slice::<Receipt>(&text).map_err(|e| {
                Error::config(format!("{}: not a ferry receipt: {e}", path.display()))
            })?,
        );
    }
    out.sort_by_key(|r| r.split);
    Ok(out)
}

/// Create the run directory `path` (and its `receipts` folder), the user's alone.
pub(crate) fn make_run_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path.join("receipts")).map_err(|e| {
        Error::io(
            format!(
                "creating the run directory {} (choose another with --state DIR)",
                path.display()
            ),
            e,
        )
    })?;
    #[cfg(unix)]
    {
        // `invocation` may carry `-p` values: the directory is the user's alone.
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

/// Where split `split`'s receipt goes in the run directory `dir`.
pub(crate) fn receipt_path(dir: &Path, split: usize) -> PathBuf {
    dir.join("receipts").join(format!("{split:06}.json"))
}

/// What shard `index` of the sharded run in `dir` said about itself, if anything yet
/// (`shards/<index>.json`).
pub(crate) fn read_shard_state(dir: &Path, index: usize) -> Result<Option<ShardState>> {
    let path = dir.join("shards").join(format!("{index:04}.json"));
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::config(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}

/// Record what shard `index` says about itself (only that shard's process writes its
/// file).
pub(crate) fn write_shard_state(dir: &Path, index: usize, state: &ShardState) -> Result<()> {
    let folder = dir.join("shards");
    std::fs::create_dir_all(&folder)
        .map_err(|e| Error::io(format!("creating {}", folder.display()), e))?;
    let bytes = serde_json::to_vec_pretty(state)
        .map_err(|e| Error::internal(format!("shard state: {e}")))?;
    write_atomic(&folder.join(format!("{index:04}.json")), &bytes)
}

/// Write `bytes` to `path` so that a reader sees the old file or the new one, whole,
/// even after a crash: a temp file, fsync, rename, fsync of the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .ok_or_else(|| Error::internal(format!("{} has no folder", path.display())))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let io = |what: &str, p: &Path, e| Error::io(format!("{what} {}", p.display()), e);
    let mut f = std::fs::File::create(&tmp).map_err(|e| io("creating", &tmp, e))?;
    f.write_all(bytes).map_err(|e| io("writing", &tmp, e))?;
    f.sync_all().map_err(|e| io("syncing", &tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| io("renaming into", path, e))?;
    if let Ok(d) = std::fs::File::open(dir) {
        // Not every platform can sync a folder; the rename itself is atomic.
        let _ = d.sync_all();
    }
    Ok(())
}

/// This machine's name.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// A process's start time (field 22 of `/proc/<pid>/stat`); `None` when there is no
/// such process (or no `/proc`).
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::plugin::Durability;

    fn opts(root: &Path) -> StateOptions {
        StateOptions {
            root: root.to_path_buf(),
            invocation: serde_json::json!({"job": "j.json"}),
        }
    }

    #[test]
    fn a_run_directory_round_trips_and_is_listed_as_alive() -> Result<()> {
        let tmp = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let splits = vec![Split::new(0, "a", &1u8)?, Split::new(1, "b", &2u8)?];
        let dir = RunDir::create(&opts(tmp.path()), "r1", "j.json", ("s", "t"), 2, &splits)?;
        dir.update(|r| r.prepared = serde_json::json!({"tables": ["x"]}))?;
        dir.write_receipt(&Receipt::new(1, 10, 100, Durability::Durable))?;
        let again = RunDir::open(tmp.path(), "r1")?;
        let rec = again.record()?;
        assert_eq!(rec.splits.len(), 2);
        assert_eq!(rec.prepared["tables"][0], "x");
        assert_eq!(again.receipts()?[0].rows, 10);
        let runs = list(tmp.path())?;
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].done, 1);
        assert_eq!(runs[0].liveness, Liveness::Alive);
        dir.remove()?;
        assert!(list(tmp.path())?.is_empty());
        Ok(())
    }

    #[test]
    fn a_run_whose_process_is_gone_is_abandoned() -> Result<()> {
        let tmp = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let dir = RunDir::create(&opts(tmp.path()), "r2", "j.json", ("s", "t"), 1, &[])?;
        // A pid that cannot be running (above pid_max on Linux).
        dir.update(|r| r.pid = u32::MAX - 1)?;
        assert_eq!(list(tmp.path())?[0].liveness, Liveness::Abandoned);
        dir.update(|r| r.status = RunStatus::Failed)?;
        assert_eq!(list(tmp.path())?[0].liveness, Liveness::Failed);
        Ok(())
    }

    #[test]
    fn the_writer_input_schema_round_trips() -> Result<()> {
        use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("amount", DataType::Decimal128(12, 2), true),
        ]);
        let back = decode_schema(&encode_schema(&schema)?)?;
        assert_eq!(back.as_ref(), &schema);
        assert!(decode_schema("zz").is_err());
        assert!(decode_schema("abc").is_err());
        Ok(())
    }

    #[test]
    fn a_missing_run_says_where_it_looked() {
        let e = RunDir::open(Path::new("/nonexistent-root"), "r9")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("/nonexistent-root/r9"), "{e}");
        assert!(e.contains("ferry runs"), "{e}");
    }
}
