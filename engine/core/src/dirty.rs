//! Dirty records: rows that could not be converted or that the target rejected.
//!
//! Every dirty record is written to a JSONL file (one object a line) with the stage,
//! the reason, the column and value at fault, and where the row came from. The
//! [`DirtyCollector`] also enforces `errorLimit.record` continuously: once the count
//! passes the limit, [`DirtyCollector::push`] returns [`Error::ErrorLimit`].

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::error::{Error, Result};

/// Where in the pipeline a record became dirty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// The reader could not decode the value.
    Reader,
    /// A cast or transformer failed.
    Transform,
    /// The target rejected the row (constraint, type, length).
    Writer,
}

/// One dirty record.
#[derive(Debug, Clone, Serialize)]
pub struct DirtyRecord {
    /// Pipeline stage.
    pub stage: Stage,
    /// Why: the cast error or the server's message.
    pub reason: String,
    /// The column at fault, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// The value at fault, rendered as text, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The split the row came from (its description).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split: Option<String>,
    /// Row number within the split (0-based), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<u64>,
    /// The whole record, column name to value, when available.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<serde_json::Map<String, serde_json::Value>>,
}

impl DirtyRecord {
    /// A record with just a stage and reason; fill the rest with the builder methods.
    pub fn new(stage: Stage, reason: impl Into<String>) -> Self {
        DirtyRecord {
            stage,
            reason: reason.into(),
            column: None,
            value: None,
            split: None,
            row: None,
            record: None,
        }
    }
    /// Set the column.
    pub fn column(mut self, c: impl Into<String>) -> Self {
        self.column = Some(c.into());
        self
    }
    /// Set the value.
    pub fn value(mut self, v: impl Into<String>) -> Self {
        self.value = Some(v.into());
        self
    }
    /// Set the split.
    pub fn split(mut self, s: impl Into<String>) -> Self {
        self.split = Some(s.into());
        self
    }
    /// Set the row.
    pub fn row(mut self, r: u64) -> Self {
        self.row = Some(r);
        self
    }
    /// Set the whole record.
    pub fn record(mut self, r: serde_json::Map<String, serde_json::Value>) -> Self {
        self.record = Some(r);
        self
    }
}

struct Inner {
    count: AtomicU64,
    limit: Option<u64>,
    file: Mutex<Option<BufWriter<File>>>,
    path: Option<PathBuf>,
    /// Append to an existing file instead of replacing it (a resumed run).
    append: bool,
}

/// Collects dirty records for a job: counts them, appends them to the dirty file and
/// enforces `errorLimit.record` (fail when count > limit, as DataX does). Cheap to clone.
///
/// A [`DirtyCollector::scoped`] clone holds its records back until [`DirtyCollector::seal`]
/// (the split finished: they go to the file) or [`DirtyCollector::withdraw`] (the split's
/// attempt failed and will be retried: they are forgotten and uncounted). They count
/// toward the limit while held.
#[derive(Clone)]
pub struct DirtyCollector {
    inner: Arc<Inner>,
    scope: Option<Arc<Mutex<Vec<DirtyRecord>>>>,
}

impl std::fmt::Debug for DirtyCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirtyCollector")
            .field("count", &self.count())
            .field("limit", &self.inner.limit)
            .field("path", &self.inner.path)
            .finish()
    }
}

impl DirtyCollector {
    /// A collector that writes to `path` (created lazily on the first record) and fails
    /// once more than `limit` records are dirty (`None` = unlimited).
    pub fn new(path: Option<&Path>, limit: Option<u64>) -> Self {
        Self::build(path, limit, 0, false)
    }

    /// A collector for a resumed run: `prior` records are already in `path` (kept, and
    /// appended to) and count toward the limit.
    pub fn resumed(path: Option<&Path>, limit: Option<u64>, prior: u64) -> Self {
        Self::build(path, limit, prior, true)
    }

    fn build(path: Option<&Path>, limit: Option<u64>, prior: u64, append: bool) -> Self {
        DirtyCollector {
            inner: Arc::new(Inner {
                count: AtomicU64::new(prior),
                limit,
                file: Mutex::new(None),
                path: path.map(Path::to_path_buf),
                append,
            }),
            scope: None,
        }
    }

    /// A collector that keeps nothing on disk and has no limit (tests, previews).
    pub fn in_memory() -> Self {
        Self::new(None, None)
    }

    /// A clone that holds its records until [`DirtyCollector::seal`] or
    /// [`DirtyCollector::withdraw`].
    pub fn scoped(&self) -> Self {
        DirtyCollector {
            inner: Arc::clone(&self.inner),
            scope: Some(Arc::new(Mutex::new(Vec::new()))),
        }
    }

    /// Number of dirty records so far (held ones included).
    pub fn count(&self) -> u64 {
        self.inner.count.load(Ordering::Relaxed)
    }

    /// The dirty file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// Record one dirty record. Errors with [`Error::ErrorLimit`] once the limit is passed.
    pub fn push(&self, rec: DirtyRecord) -> Result<()> {
        self.push_all(std::iter::once(rec))
    }

    /// Record several dirty records at once (one lock, one limit check).
    pub fn push_all(&self, recs: impl IntoIterator<Item = DirtyRecord>) -> Result<()> {
        let recs: Vec<DirtyRecord> = recs.into_iter().collect();
        let n = recs.len() as u64;
        if n == 0 {
            return Ok(());
        }
        let first_reason = recs[0].reason.clone();
        match &self.scope {
            Some(scope) => lock(scope)?.extend(recs),
            None => self.write_records(&recs)?,
        }
        let total = self.inner.count.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(limit) = self.inner.limit {
            if total > limit {
                self.seal()?;
                self.flush()?;
                return Err(Error::ErrorLimit(format!(
                    "dirty records exceeded errorLimit.record = {limit} ({total} dirty so far; first reason: {first_reason}){}",
                    self.inner
                        .path
                        .as_ref()
                        .map(|p| format!("; see {}", p.display()))
                        .unwrap_or_default()
                )));
            }
        }
        Ok(())
    }

    /// Records held by this scope and not yet sealed.
    pub fn held(&self) -> u64 {
        match &self.scope {
            Some(scope) => lock(scope).map(|v| v.len() as u64).unwrap_or(0),
            None => 0,
        }
    }

    /// Write the held records to the file (the split finished). Returns how many.
    pub fn seal(&self) -> Result<u64> {
        let Some(scope) = &self.scope else {
            return Ok(0);
        };
        let recs = std::mem::take(&mut *lock(scope)?);
        self.write_records(&recs)?;
        Ok(recs.len() as u64)
    }

    /// Forget the held records and take them off the count (the split's attempt failed
    /// and will run again). Returns how many.
    pub fn withdraw(&self) -> u64 {
        let Some(scope) = &self.scope else {
            return 0;
        };
        let n = match lock(scope) {
            Ok(mut v) => std::mem::take(&mut *v).len() as u64,
            Err(_) => 0,
        };
        let _ = self
            .inner
            .count
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                Some(c.saturating_sub(n))
            });
        n
    }

    fn write_records(&self, recs: &[DirtyRecord]) -> Result<()> {
        let Some(path) = &self.inner.path else {
            return Ok(());
        };
        if recs.is_empty() {
            return Ok(());
        }
        let mut guard = lock(&self.inner.file)?;
        if guard.is_none() {
            if let Some(dir) = path.parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
                }
            }
            let f = if self.inner.append {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
            } else {
                File::create(path)
            }
            .map_err(|e| Error::io(format!("creating dirty file {}", path.display()), e))?;
            *guard = Some(BufWriter::new(f));
        }
        if let Some(w) = guard.as_mut() {
            for rec in recs {
                serde_json::to_writer(&mut *w, rec)
                    .map_err(|e| Error::internal(format!("dirty record: {e}")))?;
                w.write_all(b"\n")
                    .map_err(|e| Error::io(format!("writing dirty file {}", path.display()), e))?;
            }
        }
        Ok(())
    }

    /// Flush the dirty file to disk.
    pub fn flush(&self) -> Result<()> {
        let mut guard = lock(&self.inner.file)?;
        if let Some(w) = guard.as_mut() {
            w.flush().map_err(|e| Error::io("flushing dirty file", e))?;
        }
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>> {
    m.lock()
        .map_err(|_| Error::internal("dirty collector lock poisoned"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_is_exceeded_only_past_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d/dirty.jsonl");
        let c = DirtyCollector::new(Some(&path), Some(2));
        c.push(DirtyRecord::new(Stage::Transform, "bad date").column("birthdate"))
            .unwrap();
        c.push(DirtyRecord::new(Stage::Writer, "duplicate key").row(7))
            .unwrap();
        let err = c
            .push(DirtyRecord::new(Stage::Writer, "duplicate key"))
            .unwrap_err();
        assert!(matches!(err, Error::ErrorLimit(_)), "{err}");
        assert_eq!(c.count(), 3);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(text
            .lines()
            .next()
            .unwrap()
            .contains("\"column\":\"birthdate\""));
    }

    #[test]
    fn unlimited_never_fails() {
        let c = DirtyCollector::in_memory();
        for _ in 0..1000 {
            c.push(DirtyRecord::new(Stage::Reader, "x")).unwrap();
        }
        assert_eq!(c.count(), 1000);
    }

    #[test]
    fn withdrawn_records_leave_no_trace_and_sealed_ones_reach_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dirty.jsonl");
        let job = DirtyCollector::new(Some(&path), Some(3));
        let a = job.scoped();
        a.push(DirtyRecord::new(Stage::Writer, "first attempt"))
            .unwrap();
        a.push(DirtyRecord::new(Stage::Writer, "first attempt"))
            .unwrap();
        assert_eq!((job.count(), a.held()), (2, 2));
        assert_eq!(a.withdraw(), 2);
        assert_eq!(job.count(), 0);
        a.push(DirtyRecord::new(Stage::Writer, "second attempt"))
            .unwrap();
        assert_eq!(a.seal().unwrap(), 1);
        job.flush().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1);
        assert!(text.contains("second attempt"));
        // A resumed run appends to the file and starts counting where the last stopped.
        let again = DirtyCollector::resumed(Some(&path), Some(3), job.count());
        again
            .push(DirtyRecord::new(Stage::Writer, "resumed"))
            .unwrap();
        again.flush().unwrap();
        assert_eq!(again.count(), 2);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
    }
}
