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
}

/// Collects dirty records for a job: counts them, appends them to the dirty file and
/// enforces `errorLimit.record` (fail when count > limit, as DataX does). Cheap to clone.
#[derive(Clone)]
pub struct DirtyCollector {
    inner: Arc<Inner>,
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
        DirtyCollector {
            inner: Arc::new(Inner {
                count: AtomicU64::new(0),
                limit,
                file: Mutex::new(None),
                path: path.map(Path::to_path_buf),
            }),
        }
    }

    /// A collector that keeps nothing on disk and has no limit (tests, previews).
    pub fn in_memory() -> Self {
        Self::new(None, None)
    }

    /// Number of dirty records so far.
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
        let mut n = 0u64;
        let mut first_reason = None;
        {
            let mut guard = self
                .inner
                .file
                .lock()
                .map_err(|_| Error::internal("dirty file lock poisoned"))?;
            for rec in recs {
                if first_reason.is_none() {
                    first_reason = Some(rec.reason.clone());
                }
                n += 1;
                if let Some(path) = &self.inner.path {
                    if guard.is_none() {
                        if let Some(dir) = path.parent() {
                            if !dir.as_os_str().is_empty() {
                                std::fs::create_dir_all(dir).map_err(|e| {
                                    Error::io(format!("creating {}", dir.display()), e)
                                })?;
                            }
                        }
                        let f = File::create(path).map_err(|e| {
                            Error::io(format!("creating dirty file {}", path.display()), e)
                        })?;
                        *guard = Some(BufWriter::new(f));
                    }
                    if let Some(w) = guard.as_mut() {
                        serde_json::to_writer(&mut *w, &rec)
                            .map_err(|e| Error::internal(format!("dirty record: {e}")))?;
                        w.write_all(b"\n").map_err(|e| {
                            Error::io(format!("writing dirty file {}", path.display()), e)
                        })?;
                    }
                }
            }
        }
        if n == 0 {
            return Ok(());
        }
        let total = self.inner.count.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(limit) = self.inner.limit {
            if total > limit {
                self.flush()?;
                return Err(Error::ErrorLimit(format!(
                    "dirty records exceeded errorLimit.record = {limit} ({total} dirty so far; first reason: {}){}",
                    first_reason.unwrap_or_default(),
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

    /// Flush the dirty file to disk.
    pub fn flush(&self) -> Result<()> {
        let mut guard = self
            .inner
            .file
            .lock()
            .map_err(|_| Error::internal("dirty file lock poisoned"))?;
        if let Some(w) = guard.as_mut() {
            w.flush().map_err(|e| Error::io("flushing dirty file", e))?;
        }
        Ok(())
    }
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
}
