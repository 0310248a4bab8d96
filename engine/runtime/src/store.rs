//! Where a sharded run keeps its state (`--state`): a directory on a shared volume, or
//! S3-compatible object storage (`s3://bucket/prefix`, through the `object_store` crate).
//!
//! ```text
//! run.json                  the plan and the run's status   (the planner, the committer)
//! planned                   the plan is complete            (the planner)
//! receipts/<split>.json     one per staged split            (the shard that owns the split)
//! shards/<I>.json           shard I's attempts and status   (shard I; a directory)
//! shards/<I>/<attempt>.json                                 (shard I; object storage)
//! ```
//!
//! No process can clobber another's file:
//!
//! * **A directory** keeps the layout of [`crate::state`]: every file is written whole
//!   (temp file, fsync, rename) and has one writer by the protocol — a receipt is written
//!   by the shard that owns its split, a shard's file by that shard, `run.json` by the
//!   planner and the committer (or `ferry abort`).
//! * **Object storage** writes with conditional puts: `run.json` is created only where
//!   none is (`If-None-Match`) and changed only from the version that was read
//!   (`If-Match` on its ETag, read again and retried when another process changed it
//!   meanwhile), so a status change at commit or abort is never lost; a receipt is
//!   created only where none is (a second, different one for the same split is an error,
//!   not an overwrite); each attempt of a shard writes its own object, claimed with a
//!   create, so two processes started for one shard cannot overwrite each other.
//!
//! The S3 client is configured from the environment (`AmazonS3Builder::from_env`):
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
//! `AWS_ENDPOINT` (or `AWS_ENDPOINT_URL`), `AWS_ALLOW_HTTP`. Keys are never printed: an
//! error that quotes the secret or the token has it replaced by `***`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ferry_core::plugin::Receipt;
use ferry_core::{Error, Result};
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};

use crate::state::{self, RunRecord, ShardState};

/// The file that says the plan is complete: shards wait for it.
const PLANNED: &str = "planned";

/// A change to a run's record (see [`RunStore::update`]).
pub type RecordChange<'a> = dyn for<'r> Fn(&'r mut RunRecord) -> Result<()> + Send + Sync + 'a;

/// A sharded run's state store. Every read is fresh: other processes write too.
#[async_trait]
pub trait RunStore: Send + Sync + std::fmt::Debug {
    /// Where it is, as given to `--state` (for messages).
    fn location(&self) -> &str;

    /// Record a new run: an error when the store already holds one.
    async fn create(&self, record: &RunRecord) -> Result<()>;

    /// The run's record.
    async fn record(&self) -> Result<RunRecord>;

    /// Change the run's record with `change` (an error from it leaves the record as it
    /// is) and write it, unless another process changed it meanwhile: then `change` is
    /// applied again to the fresh record. Returns the record written.
    async fn update(&self, change: &RecordChange<'_>) -> Result<RunRecord>;

    /// Say that the plan is complete.
    async fn mark_planned(&self) -> Result<()>;

    /// Whether the plan is complete.
    async fn is_planned(&self) -> Result<bool>;

    /// Record a staged split.
    async fn write_receipt(&self, receipt: &Receipt) -> Result<()>;

    /// The receipts recorded so far, by split.
    async fn receipts(&self) -> Result<Vec<Receipt>>;

    /// How many receipts are recorded (cheaper than reading them).
    async fn receipt_count(&self) -> Result<usize> {
        Ok(self.receipts().await?.len())
    }

    /// What shard `index` said about itself last, if anything.
    async fn shard_state(&self, index: usize) -> Result<Option<ShardState>>;

    /// Shard `index` begins its attempt `state.attempts`: an error when another process
    /// began the same attempt (object storage; a directory records it as any state).
    async fn begin_shard(&self, index: usize, state: &ShardState) -> Result<()>;

    /// Record what shard `index` says about its current attempt.
    async fn write_shard_state(&self, index: usize, state: &ShardState) -> Result<()>;

    /// Remove everything the run stored (a plan that failed before any shard began).
    async fn remove(&self) -> Result<()>;
}

/// Open the state store `location`: `s3://bucket/prefix`, or a directory.
pub fn open(location: &str) -> Result<Arc<dyn RunStore>> {
    match location.split_once("://") {
        Some(("s3", rest)) => Ok(Arc::new(ObjectRun::s3(location, rest)?)),
        Some((scheme, _))
            if !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) =>
        {
            Err(Error::config(format!(
                "--state {location}: {scheme}:// is not a state store ferry knows; give a \
                 directory (a shared volume) or s3://bucket/prefix"
            )))
        }
        _ => Ok(Arc::new(DirRun::new(Path::new(location)))),
    }
}

/// Whether `location` names object storage rather than a directory.
pub fn is_object_store(location: &str) -> bool {
    location.contains("://")
}

fn already_planned(location: &str) -> Error {
    Error::config(format!(
        "{location} already holds a run's plan: finish it (`ferry commit --state {location}`) \
         or drop it (`ferry abort --state {location}`), or choose another --state"
    ))
}

fn json<T: serde::Serialize>(what: &str, v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(v).map_err(|e| Error::internal(format!("{what}: {e}")))
}

/// A run directory on a (shared) file system: [`crate::state`]'s files and layout.
#[derive(Debug)]
pub struct DirRun {
    path: PathBuf,
    location: String,
}

impl DirRun {
    /// The run directory `path` (it need not exist yet).
    pub fn new(path: &Path) -> DirRun {
        DirRun {
            path: path.to_path_buf(),
            location: path.display().to_string(),
        }
    }
}

#[async_trait]
impl RunStore for DirRun {
    fn location(&self) -> &str {
        &self.location
    }

    async fn create(&self, record: &RunRecord) -> Result<()> {
        if self.path.join("run.json").exists() {
            return Err(already_planned(&self.location));
        }
        state::make_run_dir(&self.path)?;
        state::write_atomic(&self.path.join("run.json"), &json("run.json", record)?)
    }

    async fn record(&self) -> Result<RunRecord> {
        state::read_record(&self.path)
    }

    async fn update(&self, change: &RecordChange<'_>) -> Result<RunRecord> {
        let mut rec = state::read_record(&self.path)?;
        change(&mut rec)?;
        state::write_atomic(&self.path.join("run.json"), &json("run.json", &rec)?)?;
        Ok(rec)
    }

    async fn mark_planned(&self) -> Result<()> {
        state::write_atomic(&self.path.join(PLANNED), b"")
    }

    async fn is_planned(&self) -> Result<bool> {
        Ok(self.path.join(PLANNED).is_file())
    }

    async fn write_receipt(&self, receipt: &Receipt) -> Result<()> {
        state::write_atomic(
            &state::receipt_path(&self.path, receipt.split),
            &json("receipt", receipt)?,
        )
    }

    async fn receipts(&self) -> Result<Vec<Receipt>> {
        state::read_receipts(&self.path)
    }

    async fn shard_state(&self, index: usize) -> Result<Option<ShardState>> {
        state::read_shard_state(&self.path, index)
    }

    async fn begin_shard(&self, index: usize, s: &ShardState) -> Result<()> {
        state::write_shard_state(&self.path, index, s)
    }

    async fn write_shard_state(&self, index: usize, s: &ShardState) -> Result<()> {
        state::write_shard_state(&self.path, index, s)
    }

    async fn remove(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("removing {}", self.location), e)),
        }
    }
}

/// A run's state under a prefix of an object store.
#[derive(Debug)]
pub struct ObjectRun {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    location: String,
    /// Receipts read so far, by object name: a receipt never changes once created.
    seen: Mutex<BTreeMap<String, Receipt>>,
    /// What an error must not show (the secret key, the session token).
    secrets: Vec<String>,
}

impl ObjectRun {
    /// `s3://bucket/prefix`, configured from the `AWS_*` environment.
    fn s3(location: &str, rest: &str) -> Result<ObjectRun> {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::config(format!(
                "--state {location}: no bucket (s3://bucket/prefix)"
            )));
        }
        let secrets = secrets_of_env();
        let store = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| {
                Error::config(scrub(
                    &format!("--state {location}: configuring the S3 client: {e}"),
                    &secrets,
                ))
            })?;
        Ok(ObjectRun::new(Arc::new(store), prefix, location, secrets))
    }

    /// The run's state under `prefix` in `store`; `location` names it in messages.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        location: &str,
        secrets: Vec<String>,
    ) -> ObjectRun {
        ObjectRun {
            store,
            prefix: prefix.trim_matches('/').to_string(),
            location: location.to_string(),
            seen: Mutex::new(BTreeMap::new()),
            secrets,
        }
    }

    fn key(&self, name: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(name)
        } else {
            ObjectPath::from(format!("{}/{name}", self.prefix))
        }
    }

    fn err(&self, what: &str, e: object_store::Error) -> Error {
        let message = scrub(&format!("{}: {what}: {e}", self.location), &self.secrets);
        match e {
            object_store::Error::NotFound { .. }
            | object_store::Error::AlreadyExists { .. }
            | object_store::Error::Precondition { .. }
            | object_store::Error::NotImplemented { .. }
            | object_store::Error::NotSupported { .. } => Error::config(message),
            _ => Error::remote(message),
        }
    }

    async fn get(&self, name: &str) -> Result<Option<(Vec<u8>, UpdateVersion)>> {
        let got = match self.store.get(&self.key(name)).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.err(&format!("reading {name}"), e)),
        };
        let version = UpdateVersion {
            e_tag: got.meta.e_tag.clone(),
            version: got.meta.version.clone(),
        };
        let bytes = got
            .bytes()
            .await
            .map_err(|e| self.err(&format!("reading {name}"), e))?;
        Ok(Some((bytes.to_vec(), version)))
    }

    async fn put(&self, name: &str, bytes: Vec<u8>, mode: PutMode) -> Result<(), PutError> {
        let opts = PutOptions {
            mode,
            ..Default::default()
        };
        match self
            .store
            .put_opts(&self.key(name), PutPayload::from(bytes), opts)
            .await
        {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => Err(PutError::Exists),
            Err(object_store::Error::Precondition { .. }) => Err(PutError::Changed),
            Err(e) => Err(PutError::Other(self.err(&format!("writing {name}"), e))),
        }
    }

    /// The object names under `folder/`, relative to it.
    async fn list(&self, folder: &str) -> Result<Vec<String>> {
        let base = self.key(folder);
        let metas: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&base))
            .try_collect()
            .await
            .map_err(|e| self.err(&format!("listing {folder}/"), e))?;
        Ok(metas
            .into_iter()
            .filter_map(|m| {
                m.location
                    .prefix_match(&base)
                    .map(|parts| parts.map(|p| p.as_ref().to_string()).collect::<Vec<_>>())
                    .map(|parts| parts.join("/"))
            })
            .collect())
    }

    fn parse<T: serde::de::DeserializeOwned>(&self, name: &str, bytes: &[u8]) -> Result<T> {
        serde_json::from_slice(bytes)
            .map_err(|e| Error::config(format!("{}/{name}: not ferry's: {e}", self.location)))
    }

    /// The attempts shard `index` recorded, by number.
    async fn attempts(&self, index: usize) -> Result<Vec<(u32, String)>> {
        let folder = format!("shards/{index:04}");
        let mut out: Vec<(u32, String)> = self
            .list(&folder)
            .await?
            .into_iter()
            .filter_map(|n| {
                let number = n.strip_suffix(".json")?.parse().ok()?;
                Some((number, format!("{folder}/{n}")))
            })
            .collect();
        out.sort();
        Ok(out)
    }
}

enum PutError {
    /// `PutMode::Create`: the object is there.
    Exists,
    /// `PutMode::Update`: the object changed since it was read.
    Changed,
    Other(Error),
}

impl PutError {
    fn or(self, exists: impl FnOnce() -> Error) -> Error {
        match self {
            PutError::Exists | PutError::Changed => exists(),
            PutError::Other(e) => e,
        }
    }
}

#[async_trait]
impl RunStore for ObjectRun {
    fn location(&self) -> &str {
        &self.location
    }

    async fn create(&self, record: &RunRecord) -> Result<()> {
        self.put("run.json", json("run.json", record)?, PutMode::Create)
            .await
            .map_err(|e| e.or(|| already_planned(&self.location)))
    }

    async fn record(&self) -> Result<RunRecord> {
        match self.get("run.json").await? {
            Some((bytes, _)) => self.parse("run.json", &bytes),
            None => Err(Error::config(format!("no run at {}", self.location))),
        }
    }

    async fn update(&self, change: &RecordChange<'_>) -> Result<RunRecord> {
        for _ in 0..50 {
            let Some((bytes, version)) = self.get("run.json").await? else {
                return Err(Error::config(format!("no run at {}", self.location)));
            };
            let mut rec: RunRecord = self.parse("run.json", &bytes)?;
            change(&mut rec)?;
            match self
                .put(
                    "run.json",
                    json("run.json", &rec)?,
                    PutMode::Update(version),
                )
                .await
            {
                Ok(()) => return Ok(rec),
                // another process changed it after it was read: read it again
                Err(PutError::Changed) => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await
                }
                Err(e) => {
                    return Err(
                        e.or(|| Error::config(format!("{}: run.json changed", self.location)))
                    )
                }
            }
        }
        Err(Error::remote(format!(
            "{}: run.json kept changing while this process tried to update it",
            self.location
        )))
    }

    async fn mark_planned(&self) -> Result<()> {
        self.put(PLANNED, Vec::new(), PutMode::Overwrite)
            .await
            .map_err(|e| e.or(|| Error::internal("an overwrite failed as a create")))
    }

    async fn is_planned(&self) -> Result<bool> {
        match self.store.head(&self.key(PLANNED)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.err("reading planned", e)),
        }
    }

    async fn write_receipt(&self, receipt: &Receipt) -> Result<()> {
        let name = format!("receipts/{:06}.json", receipt.split);
        let bytes = json("receipt", receipt)?;
        match self.put(&name, bytes.clone(), PutMode::Create).await {
            Ok(()) => Ok(()),
            Err(PutError::Exists) => match self.get(&name).await? {
                // the same receipt written twice (a retried request)
                Some((there, _)) if there == bytes => Ok(()),
                _ => Err(Error::config(format!(
                    "{}: split {} already has a receipt, from another process: two \
                     processes ran the same shard at once; this one's copy of the split is \
                     not recorded (the scheduler must run one process per shard index)",
                    self.location, receipt.split
                ))),
            },
            Err(e) => Err(e.or(|| Error::internal("a create failed as an update"))),
        }
    }

    async fn receipts(&self) -> Result<Vec<Receipt>> {
        let names: Vec<String> = self
            .list("receipts")
            .await?
            .into_iter()
            .filter(|n| n.ends_with(".json"))
            .collect();
        let known: Vec<String> = {
            let seen = self
                .seen
                .lock()
                .map_err(|_| Error::internal("receipt cache lock poisoned"))?;
            names
                .iter()
                .filter(|n| !seen.contains_key(*n))
                .cloned()
                .collect()
        };
        for n in known {
            let path = format!("receipts/{n}");
            let Some((bytes, _)) = self.get(&path).await? else {
                continue;
            };
            let r: Receipt = self.parse(&path, &bytes)?;
            self.seen
                .lock()
                .map_err(|_| Error::internal("receipt cache lock poisoned"))?
                .insert(n, r);
        }
        let seen = self
            .seen
            .lock()
            .map_err(|_| Error::internal("receipt cache lock poisoned"))?;
        let mut out: Vec<Receipt> = names.iter().filter_map(|n| seen.get(n).cloned()).collect();
        out.sort_by_key(|r| r.split);
        Ok(out)
    }

    async fn receipt_count(&self) -> Result<usize> {
        Ok(self
            .list("receipts")
            .await?
            .iter()
            .filter(|n| n.ends_with(".json"))
            .count())
    }

    async fn shard_state(&self, index: usize) -> Result<Option<ShardState>> {
        let Some((_, last)) = self.attempts(index).await?.pop() else {
            return Ok(None);
        };
        match self.get(&last).await? {
            Some((bytes, _)) => self.parse(&last, &bytes).map(Some),
            None => Ok(None),
        }
    }

    async fn begin_shard(&self, index: usize, s: &ShardState) -> Result<()> {
        let name = format!("shards/{index:04}/{:04}.json", s.attempts);
        self.put(&name, json("shard state", s)?, PutMode::Create)
            .await
            .map_err(|e| {
                e.or(|| {
                    Error::config(format!(
                        "{}: attempt {} of shard {index} was begun by another process at \
                         the same time: the scheduler must run one process per shard index",
                        self.location, s.attempts
                    ))
                })
            })
    }

    async fn write_shard_state(&self, index: usize, s: &ShardState) -> Result<()> {
        let name = format!("shards/{index:04}/{:04}.json", s.attempts);
        self.put(&name, json("shard state", s)?, PutMode::Overwrite)
            .await
            .map_err(|e| e.or(|| Error::internal("an overwrite failed as a create")))
    }

    async fn remove(&self) -> Result<()> {
        let base = if self.prefix.is_empty() {
            None
        } else {
            Some(ObjectPath::from(self.prefix.as_str()))
        };
        let metas: Vec<object_store::ObjectMeta> = self
            .store
            .list(base.as_ref())
            .try_collect()
            .await
            .map_err(|e| self.err("listing the run", e))?;
        for m in metas {
            match self.store.delete(&m.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.err(&format!("removing {}", m.location), e)),
            }
        }
        Ok(())
    }
}

/// The values of the credential variables, which no message may show.
fn secrets_of_env() -> Vec<String> {
    ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .filter(|v| v.len() >= 4)
        .collect()
}

/// `text` with every secret replaced by `***`.
fn scrub(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .fold(text.to_string(), |t, s| t.replace(s.as_str(), "***"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::plugin::{Durability, Split};
    use object_store::memory::InMemory;

    fn record() -> Result<RunRecord> {
        let splits = vec![Split::new(0, "a", &1u8)?, Split::new(1, "b", &2u8)?];
        Ok(RunRecord::new(
            serde_json::Value::Null,
            "r1",
            "j.json",
            ("s", "t"),
            2,
            &splits,
        ))
    }

    fn shard(attempts: u32, status: &str) -> ShardState {
        ShardState {
            attempts,
            status: status.into(),
            error: None,
            host: "h".into(),
        }
    }

    /// Both stores keep a run the same way.
    async fn round_trip(s: &dyn RunStore) -> Result<()> {
        s.create(&record()?).await?;
        let again = s.create(&record()?).await.err().map(|e| e.to_string());
        assert!(
            again
                .as_deref()
                .is_some_and(|e| e.contains("already holds")),
            "{again:?}"
        );
        assert!(!s.is_planned().await?);
        let r = s
            .update(&|r| {
                r.shards = 2;
                Ok(())
            })
            .await?;
        assert_eq!(r.shards, 2);
        s.mark_planned().await?;
        assert!(s.is_planned().await?);
        s.write_receipt(&Receipt::new(1, 10, 100, Durability::Durable))
            .await?;
        s.write_receipt(&Receipt::new(0, 5, 50, Durability::Durable))
            .await?;
        assert_eq!(s.receipt_count().await?, 2);
        let got = s.receipts().await?;
        assert_eq!(got.iter().map(|r| r.split).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(got[1].rows, 10);
        assert_eq!(s.shard_state(0).await?, None);
        s.begin_shard(0, &shard(1, "running")).await?;
        s.write_shard_state(0, &shard(1, "failed")).await?;
        s.begin_shard(0, &shard(2, "running")).await?;
        assert_eq!(s.shard_state(0).await?, Some(shard(2, "running")));
        // a change that refuses leaves the record as it was
        let refused = s
            .update(&|_| Err(Error::config("no")))
            .await
            .err()
            .map(|e| e.to_string());
        assert!(refused.is_some_and(|e| e.contains("no")));
        assert_eq!(s.record().await?.shards, 2);
        s.remove().await?;
        assert!(s.record().await.is_err());
        Ok(())
    }

    #[tokio::test]
    async fn a_directory_keeps_a_sharded_run_in_the_run_directory_layout() -> Result<()> {
        let tmp = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let path = tmp.path().join("run");
        let s = DirRun::new(&path);
        s.create(&record()?).await?;
        s.write_receipt(&Receipt::new(3, 1, 1, Durability::Durable))
            .await?;
        s.begin_shard(1, &shard(1, "running")).await?;
        s.mark_planned().await?;
        for f in [
            "run.json",
            "planned",
            "receipts/000003.json",
            "shards/0001.json",
        ] {
            assert!(path.join(f).is_file(), "{f}");
        }
        s.remove().await?;
        round_trip(&s).await
    }

    #[tokio::test]
    async fn an_object_store_keeps_a_sharded_run_and_lets_nothing_clobber() -> Result<()> {
        let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let s = ObjectRun::new(Arc::clone(&mem), "runs/r1/", "mem://runs/r1", Vec::new());
        round_trip(&s).await?;
        s.create(&record()?).await?;
        // a second, different receipt for the same split is refused; the same one is not
        let r = Receipt::new(4, 1, 1, Durability::Durable);
        s.write_receipt(&r).await?;
        s.write_receipt(&r).await?;
        let e = s
            .write_receipt(&Receipt::new(4, 2, 2, Durability::Durable))
            .await
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("already has a receipt")));
        assert_eq!(s.receipts().await?[0].rows, 1);
        // one attempt of a shard is begun once
        s.begin_shard(2, &shard(1, "running")).await?;
        let e = s
            .begin_shard(2, &shard(1, "running"))
            .await
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("another process")));
        // two processes updating run.json at once: neither change is lost
        let other = ObjectRun::new(Arc::clone(&mem), "runs/r1", "mem://runs/r1", Vec::new());
        let (a, b) = tokio::join!(
            s.update(&|r| {
                r.error = Some("a".into());
                Ok(())
            }),
            other.update(&|r| {
                r.channels = 7;
                Ok(())
            })
        );
        a?;
        b?;
        let rec = s.record().await?;
        assert_eq!((rec.error.as_deref(), rec.channels), (Some("a"), 7));
        Ok(())
    }

    #[test]
    fn locations_name_a_directory_or_s3() {
        assert!(is_object_store("s3://b/p"));
        assert!(!is_object_store("/shared/run"));
        let e = open("gs://b/p").err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("gs://")));
        let e = open("s3:///p").err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("no bucket")));
        assert_eq!(
            open("relative/run")
                .map(|s| s.location().to_string())
                .ok()
                .as_deref(),
            Some("relative/run")
        );
    }

    #[test]
    fn secrets_are_scrubbed() {
        assert_eq!(
            scrub(
                "bad key wJalrXUtnFEMI in the request",
                &["wJalrXUtnFEMI".into()]
            ),
            "bad key *** in the request"
        );
    }
}
