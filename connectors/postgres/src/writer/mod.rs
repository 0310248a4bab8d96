//! PostgreSQL writer: Arrow batches encoded straight into binary
//! `COPY t (cols) FROM STDIN (FORMAT binary)`, one connection per channel, committed
//! all-or-nothing by default. `docs/postgresql.md` (`## Writer`) is the user-facing
//! description of the plans below; keep the two in step.
//!
//! Four commit plans, chosen once at build time:
//!
//! * **single** (atomic, the two-phase plan does not apply, not `resumable`; any number
//!   of channels): one connection, shared by every channel, runs one transaction:
//!   `preSql`, `TRUNCATE`, every COPY, and at [`Writer::commit`] `postSql` and `COMMIT`.
//!   The channels take turns on it a split at a time ([`Shared::turn`], taken at a
//!   split's first write, so the others read ahead while they wait); [`Writer::abort`]
//!   rolls it back (and a dropped connection rolls back on the server).
//! * **two-phase** (atomic, `insert` mode, no `preSql` / `postSql` / `truncate`, the
//!   server allows prepared transactions and has a free slot for every split): each split
//!   is a transaction of its own that COPYs into the target; `end` runs
//!   `PREPARE TRANSACTION 'ferry_<tag>_<process>_<split>'` (a durable receipt: a resumed
//!   run commits it); [`Writer::commit`] runs `COMMIT PREPARED` for every receipt;
//!   [`Writer::abort`] runs `ROLLBACK PREPARED`. Without enough free slots the plan falls
//!   back to single (or staged, when resumable).
//! * **staged** (atomic, the two-phase plan does not apply, and `resumable` or a sharded
//!   run, [`Writer::require_durable`]): each channel COPYs into its own UNLOGGED staging
//!   table `ferry_stage_<tag>_<channel>` next to the target (committed, invisible to
//!   readers of the target); [`Writer::commit`] runs one transaction: `preSql`,
//!   `TRUNCATE`, one `INSERT INTO target SELECT ... FROM staging` per channel (with the
//!   mode's `ON CONFLICT` clause, rejected rows isolated under savepoints), `postSql`,
//!   `COMMIT`; then drops the staging tables. [`Writer::abort`] drops them.
//! * **per-channel** (`atomic: false`): [`Writer::prepare`] runs `preSql` and `TRUNCATE`;
//!   each channel commits its own transaction at `close`; [`Writer::commit`] runs
//!   `postSql`. Abort cannot undo channels that already finished.
//!
//! Splits: in the two plans where a channel holds one transaction (single, per-channel),
//! each split runs under `SAVEPOINT ferry_split`; `end` releases it, `discard` rolls back
//! to it (the split can be written again), and a lost connection loses the channel's
//! transaction with every split it held, so `discard` then fails the job. In the staged
//! and two-phase plans each split is a transaction of its own on the channel's
//! connection (`BEGIN` ... `COMMIT` into the staging table, or `PREPARE TRANSACTION`):
//! `discard` rolls it back, or reconnects when the connection is gone, so a lost writer
//! connection is retried there.
//! Rows of a channel's splits are numbered one after the other (`ferry_rn`); dirty
//! records name the split and the row within it.
//!
//! Rejected rows: a COPY chunk that fails on a row (SQLSTATE class 22 or 23) is rolled
//! back to a savepoint and bisected until the failing rows are isolated; they go to the
//! dirty collector with the server's message, the rest is loaded.

pub mod config;
pub mod conflict;
pub mod copy_encode;

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::SinkExt;
use std::pin::Pin;
use tokio_postgres::CopyInSink;

use ferry_core::dirty::{DirtyCollector, DirtyRecord, Stage};
use ferry_core::plugin::{
    BatchSink, BuildContext, CommitReport, Durability, Receipt, Resume, Split, Writer,
    WriterFactory,
};
use ferry_core::{Error, Result};

use crate::conn::{pg_error, PgEndpoint};
use crate::types::{arrow_field, quote_ident, table_columns, PgColumn};
use config::{ConflictMode, Target, WriterConfig};
use copy_encode::{CopyEncoder, PgWire, COPY_HEADER, COPY_TRAILER};

/// COPY data is sent to the server in pieces of about this size.
const FLUSH_BYTES: usize = 1 << 20;

/// An `insert`-mode COPY stays open across batches until about this many bytes went
/// through it; its batches are kept until it completes (bounding memory per channel).
const SEGMENT_BYTES: u64 = 32 << 20;

/// Builds [`PostgresWriter`]s (`postgresql`, `postgresqlwriter`).
pub struct PostgresWriterFactory;

#[async_trait]
impl WriterFactory for PostgresWriterFactory {
    fn name(&self) -> &'static str {
        "postgresql"
    }

    fn check(
        &self,
        params: &serde_json::Value,
        path: &str,
        warnings: &mut Vec<String>,
    ) -> Result<()> {
        let cfg = WriterConfig::parse(params, path, warnings)?;
        if let Target::Url {
            url,
            user,
            password,
        } = &cfg.target
        {
            PgEndpoint::parse(url, user.as_deref(), password.as_deref())
                .map_err(|e| e.context(format!("{path}.connection[0].jdbcUrl")))?;
        }
        Ok(())
    }

    async fn build(
        &self,
        params: &serde_json::Value,
        path: &str,
        ctx: &BuildContext,
    ) -> Result<Arc<dyn Writer>> {
        let mut warnings = Vec::new();
        let cfg = WriterConfig::parse(params, path, &mut warnings)?;
        for w in warnings {
            // `check` reports these to the user; here only for FERRY_LOG=debug.
            tracing::debug!("{w}");
        }
        let endpoint = match &cfg.target {
            Target::Datasource(name) => PgEndpoint::from_datasource(name, ctx.catalog.get(name)?)
                .map_err(|e| e.context(format!("{path}.datasource")))?,
            Target::Url {
                url,
                user,
                password,
            } => PgEndpoint::parse(url, user.as_deref(), password.as_deref())?,
        };
        Ok(Arc::new(
            PostgresWriter::connect(endpoint, cfg, ctx.channels, &ctx.run_id).await?,
        ))
    }
}

/// How the job's writes become visible (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitPlan {
    /// One channel, one transaction: preSql, truncate, data, postSql, commit.
    Single,
    /// Channel transactions are prepared, then committed together.
    TwoPhase,
    /// Channels fill staging tables; one transaction moves them into the target.
    Staged,
    /// Each channel commits at finish (`atomic: false`).
    PerChannel,
}

impl CommitPlan {
    const ALL: [CommitPlan; 4] = [
        CommitPlan::Single,
        CommitPlan::TwoPhase,
        CommitPlan::Staged,
        CommitPlan::PerChannel,
    ];

    /// The atomic plan when the two-phase plan does not apply: one transaction the
    /// channels take turns on, or staging tables when finished splits must survive a
    /// crash of the process (`resumable`, a sharded run).
    fn without_prepared(resumable: bool) -> CommitPlan {
        if resumable {
            CommitPlan::Staged
        } else {
            CommitPlan::Single
        }
    }

    /// The name a run directory records (what [`Writer::prepare`] returns).
    fn name(self) -> &'static str {
        match self {
            CommitPlan::Single => "single",
            CommitPlan::TwoPhase => "two-phase",
            CommitPlan::Staged => "staged",
            CommitPlan::PerChannel => "per-channel",
        }
    }

    /// Its position in [`CommitPlan::ALL`] (how [`Shared`] keeps it).
    fn index(self) -> u8 {
        CommitPlan::ALL
            .iter()
            .position(|p| *p == self)
            .unwrap_or_default() as u8
    }

    fn from_name(name: &str) -> Option<CommitPlan> {
        CommitPlan::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// What [`Writer::prepare`] returns: the plan the run uses, so that a resumed process
/// uses the same one.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Prepared {
    plan: String,
}

/// The payload of the two-phase plan's (durable) receipts.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct PreparedSplit {
    /// The prepared transaction's global id.
    gid: String,
}

struct Shared {
    endpoint: PgEndpoint,
    cfg: WriterConfig,
    /// `schema.table`, quoted.
    target: String,
    /// Schema of the target, quoted (staging tables go there).
    schema_q: String,
    columns: Vec<String>,
    pk: Vec<String>,
    arrow: SchemaRef,
    encoder: CopyEncoder,
    /// The [`CommitPlan`] (its index in [`CommitPlan::ALL`]): chosen at connect, revised
    /// by `prepare` (too few prepared-transaction slots) or `attach` (the run's plan).
    plan: AtomicU8,
    /// `attach` took over a run that died while committing.
    recommit: AtomicBool,
    /// The run id: names prepared transactions (`ferry_<run>_<process>_<split>`) and
    /// staging tables (`ferry_stage_<run>_<process>_<channel>`).
    tag: String,
    /// Four hex digits unique to this process of the run.
    process: String,
    /// Channels of the job.
    channels: usize,
    /// Staging tables this process created (staged plan), quoted.
    staging: Mutex<Vec<String>>,
    /// The collector handed to `open`, for rows rejected at commit (staged plan).
    dirty: Mutex<Option<DirtyCollector>>,
    /// The single plan's connection: its transaction, open from the first channel's
    /// `open` to `commit` / `abort`, is shared by every channel.
    single: tokio::sync::Mutex<Option<Arc<tokio_postgres::Client>>>,
    /// The single plan's turn: a channel holds it from its split's first write to the
    /// split's end, so the splits of several channels follow one another on the one
    /// connection (each under its own savepoint) while the other channels read ahead.
    turn: Arc<tokio::sync::Mutex<()>>,
    /// Why the single plan's shared transaction is gone (every channel then fails).
    lost: Mutex<Option<String>>,
    /// The run needs durable receipts (`Writer::require_durable`, a sharded run).
    durable: AtomicBool,
}

/// A split staged in a channel's staging table: its rows are `ferry_rn` `[first_rn, end_rn)`.
/// The payload of the staged plan's (durable) receipts.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct StagedSplit {
    /// The staging table, quoted.
    table: String,
    index: usize,
    description: String,
    first_rn: i64,
    end_rn: i64,
}

/// A configured PostgreSQL target. See the module docs for what is visible when.
pub struct PostgresWriter {
    inner: Arc<Shared>,
}

impl PostgresWriter {
    /// Connect, describe the table and choose the commit plan for a job of `channels`
    /// channels. What it stages (prepared transactions, staging tables) is named after
    /// `run_id`, so that another process can find and drop it ([`Writer::abort`]).
    pub async fn connect(
        endpoint: PgEndpoint,
        cfg: WriterConfig,
        channels: usize,
        run_id: &str,
    ) -> Result<PostgresWriter> {
        let ctx = endpoint.display().to_string();
        let client = endpoint.connect().await?;
        let all = table_columns(&client, &cfg.table)
            .await
            .map_err(|e| e.context(&ctx))?;
        let chosen: Vec<PgColumn> = if cfg.column.len() == 1 && cfg.column[0] == "*" {
            all.clone()
        } else {
            let mut v = Vec::with_capacity(cfg.column.len());
            for name in &cfg.column {
                v.push(find_column(&all, name, &cfg.table)?.clone());
            }
            v
        };
        let fields = chosen
            .iter()
            .map(arrow_field)
            .collect::<Result<Vec<_>>>()
            .map_err(|e| e.context(format!("table {}", cfg.table)))?;
        let wires = chosen
            .iter()
            .map(PgWire::for_column)
            .collect::<Result<Vec<_>>>()?;
        let columns: Vec<String> = chosen.iter().map(|c| c.name.clone()).collect();
        let row = client
            .query_one(
                "SELECT c.oid, n.nspname::text, c.relname::text FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::text::regclass",
                &[&cfg.table],
            )
            .await
            .map_err(|e| pg_error(&format!("{ctx}: table {}", cfg.table), &e))?;
        let (oid, nsp, rel): (u32, String, String) = (row.get(0), row.get(1), row.get(2));
        let pk = conflict::primary_key(&client, oid).await?;
        if cfg.mode == ConflictMode::Update {
            conflict::check_update_key(&cfg.table, &pk, &columns)?;
        }
        let max_prepared: i64 = client
            .query_one(
                "SELECT current_setting('max_prepared_transactions')::int8",
                &[],
            )
            .await
            .map_err(|e| pg_error(&ctx, &e))?
            .get(0);
        // Greenplum lists prepared transactions (it uses them itself) but refuses
        // `PREPARE TRANSACTION` to users.
        let greenplum = client
            .query_one("SELECT version()", &[])
            .await
            .map_err(|e| pg_error(&ctx, &e))?
            .get::<_, String>(0)
            .contains("Greenplum");
        let plan = if !cfg.atomic {
            CommitPlan::PerChannel
        } else if cfg.mode == ConflictMode::Insert
            && cfg.pre_sql.is_empty()
            && cfg.post_sql.is_empty()
            && !cfg.truncate
            && cfg.prepared_transactions
            && max_prepared > 0
            && !greenplum
        {
            CommitPlan::TwoPhase
        } else {
            CommitPlan::without_prepared(cfg.resumable)
        };
        tracing::debug!("writer postgresql {}: commit plan {plan:?}", cfg.table);
        let tag: String = run_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .map(|c| c.to_ascii_lowercase())
            .take(40)
            .collect();
        if tag.is_empty() {
            return Err(Error::internal(format!("{ctx}: an empty run id")));
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let process = format!(
            "{:04x}",
            (nanos ^ std::process::id().rotate_left(16)) & 0xffff
        );
        Ok(PostgresWriter {
            inner: Arc::new(Shared {
                target: format!("{}.{}", quote_ident(&nsp), quote_ident(&rel)),
                schema_q: quote_ident(&nsp),
                encoder: CopyEncoder::new(columns.clone(), wires),
                arrow: Arc::new(Schema::new(fields)),
                columns,
                pk,
                plan: AtomicU8::new(plan.index()),
                recommit: AtomicBool::new(false),
                channels,
                tag,
                process,
                endpoint,
                cfg,
                staging: Mutex::new(Vec::new()),
                dirty: Mutex::new(None),
                single: tokio::sync::Mutex::new(None),
                turn: Arc::new(tokio::sync::Mutex::new(())),
                lost: Mutex::new(None),
                durable: AtomicBool::new(false),
            }),
        })
    }

    /// The commit plan chosen for this job.
    pub fn plan(&self) -> CommitPlan {
        self.inner.plan()
    }

    fn ctx(&self) -> String {
        format!(
            "writer postgresql {} table {}",
            self.inner.endpoint.display(),
            self.inner.cfg.table
        )
    }

    async fn run_sql(
        &self,
        client: &tokio_postgres::Client,
        what: &str,
        sqls: &[String],
    ) -> Result<()> {
        for sql in sqls {
            client
                .batch_execute(sql)
                .await
                .map_err(|e| pg_error(&format!("{}: {what} \"{sql}\"", self.ctx()), &e))?;
        }
        Ok(())
    }

    /// `preSql`, then `TRUNCATE` when asked: what runs before the data.
    async fn pre_load(&self, client: &tokio_postgres::Client) -> Result<()> {
        let s = &self.inner;
        self.run_sql(client, "preSql", &s.cfg.pre_sql).await?;
        if s.cfg.truncate {
            client
                .batch_execute(&format!("TRUNCATE TABLE {}", s.target))
                .await
                .map_err(|e| pg_error(&format!("{}: truncate", self.ctx()), &e))?;
        }
        Ok(())
    }

    /// The single plan's commit: `postSql` and `COMMIT` on the connection the channel
    /// loaded through (or, when no channel opened, `preSql`, truncate and `postSql` in a
    /// transaction of their own).
    async fn commit_single(&self, rows: u64) -> Result<CommitReport> {
        let s = &self.inner;
        if let Some(why) = s.lost() {
            return Err(Error::data(format!(
                "{}: the load's transaction was lost ({why})",
                self.ctx()
            )));
        }
        let held = s.single.lock().await.take();
        let (client, loaded) = match held {
            Some(client) => (client, true),
            None => {
                let client = Arc::new(s.endpoint.connect().await?);
                client
                    .batch_execute("BEGIN")
                    .await
                    .map_err(|e| pg_error(&self.ctx(), &e))?;
                self.pre_load(&client).await?;
                (client, false)
            }
        };
        self.run_sql(&client, "postSql", &s.cfg.post_sql).await?;
        client
            .batch_execute("COMMIT")
            .await
            .map_err(|e| pg_error(&format!("{}: commit", self.ctx()), &e))?;
        if !loaded {
            return Ok(CommitReport::default());
        }
        Ok(CommitReport {
            rows,
            notes: vec![format!(
                "committed one transaction (preSql, data, postSql) into {}",
                s.cfg.table
            )],
        })
    }

    /// The staged plan's commit: the rows of the receipts' splits, channel by channel.
    async fn commit_staged(
        &self,
        client: &tokio_postgres::Client,
        receipts: &[Receipt],
    ) -> Result<u64> {
        let s = &self.inner;
        let dirty = lock(&s.dirty)?
            .clone()
            .unwrap_or_else(DirtyCollector::in_memory);
        // This process's staging tables; a resumed run's receipts also name the tables an
        // earlier process of the run filled.
        let mine: std::collections::HashSet<String> = lock(&s.staging)?.iter().cloned().collect();
        let mut by_table: std::collections::BTreeMap<String, Vec<StagedSplit>> =
            std::collections::BTreeMap::new();
        for r in receipts {
            let sp: StagedSplit = r.decode()?;
            by_table.entry(sp.table.clone()).or_default().push(sp);
        }
        if s.recommit.load(Ordering::Relaxed) && !by_table.is_empty() {
            // The commit transaction drops the staging tables it moved: if none is left,
            // the earlier process's commit happened.
            let mut left = 0;
            for table in by_table.keys() {
                let row = client
                    .query_one("SELECT to_regclass($1) IS NOT NULL", &[table])
                    .await
                    .map_err(|e| pg_error(&self.ctx(), &e))?;
                if row.get::<_, bool>(0) {
                    left += 1;
                }
            }
            if left == 0 {
                return Ok(receipts.iter().map(|r| r.rows).sum());
            }
        }
        // (staging table, its splits, ferry_rn ranges to merge: adjacent splits coalesced)
        let mut staged = Vec::new();
        for (table, mut splits) in by_table {
            splits.sort_by_key(|sp| sp.first_rn);
            let mut ranges: Vec<(i64, i64)> = Vec::new();
            for sp in &splits {
                match ranges.last_mut() {
                    Some(last) if last.1 == sp.first_rn => last.1 = sp.end_rn,
                    _ => ranges.push((sp.first_rn, sp.end_rn)),
                }
            }
            if !mine.contains(&table) {
                // Staged by a process that died: an UNLOGGED table is emptied by a server
                // crash, so check that every receipted row is still there.
                let expected: i64 = ranges.iter().map(|(lo, hi)| hi - lo).sum();
                let mut held = 0i64;
                for (lo, hi) in &ranges {
                    let row = client
                        .query_one(
                            &format!(
                                "SELECT count(*) FROM {table} WHERE ferry_rn >= $1 AND ferry_rn < $2"
                            ),
                            &[lo, hi],
                        )
                        .await
                        .map_err(|e| {
                            pg_error(&format!("{}: staging table {table}", self.ctx()), &e)
                        })?;
                    held += row.get::<_, i64>(0);
                }
                if held != expected {
                    return Err(Error::config(format!(
                        "{}: staging table {table} holds {held} of the {expected} rows an earlier \
                         process staged (a server restart empties UNLOGGED tables): abort the run \
                         (`ferry runs abort`) and run the job again",
                        self.ctx()
                    )));
                }
            }
            staged.push((table, splits, ranges));
        }
        client
            .batch_execute("BEGIN")
            .await
            .map_err(|e| pg_error(&self.ctx(), &e))?;
        let body = async {
            self.pre_load(client).await?;
            let mut rows = 0u64;
            for (staging, splits, ranges) in &staged {
                let sql = conflict::merge_sql(s.cfg.mode, &s.target, staging, &s.columns, &s.pk);
                let origin = |rn: i64| {
                    splits
                        .iter()
                        .find(|sp| sp.first_rn <= rn && rn < sp.end_rn)
                        .map(|sp| (sp.description.clone(), (rn - sp.first_rn) as u64))
                        .unwrap_or_else(|| (format!("staging row {rn}"), rn as u64))
                };
                for (lo, hi) in ranges {
                    rows += conflict::merge_range(
                        client,
                        &sql,
                        staging,
                        &s.cfg.table,
                        *lo,
                        *hi,
                        &dirty,
                        &origin,
                    )
                    .await?;
                }
            }
            self.run_sql(client, "postSql", &s.cfg.post_sql).await?;
            // Dropped with the commit: a resumed run that finds them gone knows the
            // commit happened.
            for (staging, _, _) in &staged {
                client
                    .batch_execute(&format!("DROP TABLE {staging}"))
                    .await
                    .map_err(|e| pg_error(&format!("{}: dropping {staging}", self.ctx()), &e))?;
            }
            Ok::<u64, Error>(rows)
        };
        match body.await {
            Ok(rows) => {
                client
                    .batch_execute("COMMIT")
                    .await
                    .map_err(|e| pg_error(&format!("{}: commit", self.ctx()), &e))?;
                // Every staging table of the run, an earlier process's too.
                if let Err(e) = self.sweep(client).await {
                    tracing::warn!("{e}");
                }
                lock(&s.staging)?.clear();
                Ok(rows)
            }
            Err(e) => {
                let _ = client.batch_execute("ROLLBACK").await;
                Err(e)
            }
        }
    }
}

impl Shared {
    fn plan(&self) -> CommitPlan {
        let i = self.plan.load(Ordering::Relaxed) as usize;
        CommitPlan::ALL
            .get(i)
            .copied()
            .unwrap_or(CommitPlan::Staged)
    }

    fn set_plan(&self, plan: CommitPlan) {
        self.plan.store(plan.index(), Ordering::Relaxed);
    }

    /// `CREATE <kind> TABLE <name>` with the written columns and a row number `ferry_rn`
    /// (staging and merge tables).
    fn stage_table_sql(&self, kind: &str, name: &str) -> String {
        format!(
            "CREATE {kind} TABLE {name} AS SELECT {}, NULL::int8 AS ferry_rn FROM {} WITH NO DATA",
            self.column_list(),
            self.target
        )
    }

    /// The written columns, quoted, comma-separated.
    fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|c| quote_ident(c))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Finished splits must survive a crash of this process (`resumable`, or a sharded run).
    fn resumable(&self) -> bool {
        self.cfg.resumable || self.durable.load(Ordering::Relaxed)
    }

    /// Why the single plan's shared transaction is gone, if it is.
    fn lost(&self) -> Option<String> {
        self.lost.lock().ok().and_then(|l| l.clone())
    }

    fn set_lost(&self, why: &str) {
        if let Ok(mut l) = self.lost.lock() {
            if l.is_none() {
                *l = Some(why.to_string());
            }
        }
    }

    /// The two-phase plan's name for split `index`'s prepared transaction.
    fn gid(&self, index: usize) -> String {
        format!("ferry_{}_{}_{index}", self.tag, self.process)
    }
}

fn lock<T>(m: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>> {
    m.lock()
        .map_err(|_| Error::internal("writer state lock poisoned"))
}

/// Find a job column among the table's (exact name first, then case-insensitive, as an
/// unquoted identifier would match).
fn find_column<'a>(all: &'a [PgColumn], name: &str, table: &str) -> Result<&'a PgColumn> {
    let unquoted = name
        .strip_prefix('"')
        .and_then(|n| n.strip_suffix('"'))
        .map(|n| n.replace("\"\"", "\""));
    if let Some(exact) = &unquoted {
        if let Some(c) = all.iter().find(|c| &c.name == exact) {
            return Ok(c);
        }
    } else if let Some(c) = all
        .iter()
        .find(|c| c.name == name)
        .or_else(|| all.iter().find(|c| c.name == name.to_lowercase()))
        .or_else(|| all.iter().find(|c| c.name.eq_ignore_ascii_case(name)))
    {
        return Ok(c);
    }
    let names: Vec<&str> = all.iter().map(|c| c.name.as_str()).collect();
    let hint = ferry_core::params::nearest(name, &names)
        .map(|n| format!(" (did you mean \"{n}\"?)"))
        .unwrap_or_default();
    Err(Error::schema(format!(
        "column \"{name}\" does not exist in table {table}{hint}; its columns are: {}",
        names.join(", ")
    )))
}

/// If `e` is the server rejecting a row (data exception, constraint violation), the
/// dirty-record reason: `SQLSTATE: message (detail)`.
pub(crate) fn row_error_reason(e: &tokio_postgres::Error) -> Option<String> {
    let db = e.as_db_error()?;
    let code = db.code().code();
    // 22: data exception, 23: constraint violation. Never a lock or statement time-out
    // (55P03, 57014): those fail the split, which is retried.
    if !(code.starts_with("22") || code.starts_with("23")) {
        return None;
    }
    let mut r = format!("{code}: {}", db.message());
    if let Some(d) = db.detail() {
        r.push_str(&format!(" ({d})"));
    }
    Some(r)
}

#[async_trait]
impl Writer for PostgresWriter {
    fn schema(&self) -> SchemaRef {
        self.inner.arrow.clone()
    }

    fn empty_as_null(&self) -> bool {
        self.inner.cfg.empty_as_null
    }

    fn describe_plan(&self) -> Option<String> {
        if self.inner.plan() == CommitPlan::Single && self.inner.channels > 1 {
            return Some(format!(
                "one transaction, which the {} channels take turns on a split at a time (a savepoint per split), committed at the end",
                self.inner.channels
            ));
        }
        Some(
            match self.inner.plan() {
                CommitPlan::Single => {
                    "one transaction, a savepoint per split, committed at the end"
                }
                CommitPlan::TwoPhase => {
                    "a prepared transaction per split, committed together"
                }
                CommitPlan::Staged => {
                    "a staging table per channel (a transaction per split), moved into the target in one transaction"
                }
                CommitPlan::PerChannel => {
                    "atomic: false: a transaction per channel (a savepoint per split), committed as each channel finishes"
                }
            }
            .to_string(),
        )
    }

    fn require_durable(&self) {
        let s = &self.inner;
        s.durable.store(true, Ordering::Relaxed);
        if s.plan() == CommitPlan::Single {
            s.set_plan(CommitPlan::Staged);
        }
    }

    async fn prepare(&self, splits: &[Split]) -> Result<serde_json::Value> {
        let s = &self.inner;
        if s.plan() == CommitPlan::PerChannel && s.durable.load(Ordering::Relaxed) {
            return Err(Error::config(format!(
                "{}: atomic: false commits each channel as it finishes, so shards cannot \
                 stage their splits for one commit; leave atomic at true",
                self.ctx()
            )));
        }
        if s.plan() == CommitPlan::PerChannel && (!s.cfg.pre_sql.is_empty() || s.cfg.truncate) {
            let client = s.endpoint.connect().await?;
            self.pre_load(&client).await?;
        }
        if s.plan() == CommitPlan::TwoPhase {
            // Every finished split holds a slot until the commit.
            let client = s.endpoint.connect().await?;
            let free: i64 = client
                .query_one(
                    "SELECT current_setting('max_prepared_transactions')::int8 - \
                     (SELECT count(*) FROM pg_catalog.pg_prepared_xacts)",
                    &[],
                )
                .await
                .map_err(|e| pg_error(&self.ctx(), &e))?
                .get(0);
            if free < splits.len() as i64 {
                let to = CommitPlan::without_prepared(s.resumable());
                tracing::info!(
                    "{}: {} splits but {free} free prepared-transaction slots \
                     (max_prepared_transactions): using the {} plan",
                    self.ctx(),
                    splits.len(),
                    to.name()
                );
                s.set_plan(to);
            }
        }
        serde_json::to_value(Prepared {
            plan: s.plan().name().to_string(),
        })
        .map_err(|e| Error::internal(format!("writer state: {e}")))
    }

    /// Resume: the staged plan's receipts name rows in staging tables, the two-phase
    /// plan's name prepared transactions; commit takes them with this process's. What
    /// the dead process prepared for splits without a receipt is rolled back here. The
    /// single plan's transaction died with its process: every split is written again.
    /// The per-channel plan committed channels as they finished: it cannot resume.
    async fn attach(&self, resume: &Resume<'_>) -> Result<()> {
        let s = &self.inner;
        if let Ok(p) = serde_json::from_value::<Prepared>(resume.prepared.clone()) {
            match CommitPlan::from_name(&p.plan) {
                Some(plan) => s.set_plan(plan),
                None => {
                    return Err(Error::config(format!(
                        "{}: the run used a commit plan this ferry does not know (\"{}\")",
                        self.ctx(),
                        p.plan
                    )))
                }
            }
        }
        s.recommit.store(resume.committing, Ordering::Relaxed);
        match s.plan() {
            CommitPlan::Staged => Ok(()),
            CommitPlan::Single => {
                tracing::info!(
                    "{}: the single-transaction plan kept nothing of the earlier process: every split is written again",
                    self.ctx()
                );
                Ok(())
            }
            CommitPlan::TwoPhase => {
                let mut keep = std::collections::HashSet::new();
                for r in resume.receipts {
                    keep.insert(r.decode::<PreparedSplit>()?.gid);
                }
                let client = s.endpoint.connect().await?;
                // `ferry_<tag>_<process>_<split>`: a shard rolls back only its own splits'
                let owned = |gid: &str| match resume.shard {
                    None => true,
                    Some(shard) => gid
                        .rsplit('_')
                        .next()
                        .and_then(|i| i.parse::<usize>().ok())
                        .is_some_and(|i| shard.owns(i)),
                };
                for gid in self.run_gids(&client).await? {
                    if !keep.contains(&gid) && owned(&gid) {
                        self.rollback_prepared(&client, &gid).await?;
                    }
                }
                Ok(())
            }
            CommitPlan::PerChannel => Err(Error::config(format!(
                "{}: atomic: false committed each channel as it finished; resuming would load \
                 those rows twice",
                self.ctx()
            ))),
        }
    }

    async fn open(&self, channel: usize, dirty: DirtyCollector) -> Result<Box<dyn BatchSink>> {
        let s = self.inner.clone();
        {
            let mut d = lock(&s.dirty)?;
            if d.is_none() {
                *d = Some(dirty.clone());
            }
        }
        let ctx = format!("{} channel {channel}", self.ctx());
        let plan = s.plan();
        let client = if plan == CommitPlan::Single {
            self.single_connection(&ctx).await?
        } else {
            Arc::new(connect_sink(&s, &ctx).await?)
        };
        let cols = s.column_list();
        let mut staging = None;
        match plan {
            // Each split begins its own transaction; the plan takes `insert` mode only.
            CommitPlan::TwoPhase => {}
            CommitPlan::Staged => {
                // `_<process>`: a resumed run's tables beside the dead process's.
                let name = format!(
                    "{}.ferry_stage_{}_{}_{channel}",
                    s.schema_q, s.tag, s.process
                );
                client
                    .batch_execute(&s.stage_table_sql("UNLOGGED", &name))
                    .await
                    .map_err(|e| pg_error(&format!("{ctx}: creating staging table {name}"), &e))?;
                lock(&s.staging)?.push(name.clone());
                staging = Some(name);
            }
            CommitPlan::Single | CommitPlan::PerChannel => {
                // The single plan's shared connection began its transaction already.
                if plan == CommitPlan::PerChannel {
                    self.begin_load(&client, &ctx, false).await?;
                }
                if s.cfg.mode != ConflictMode::Insert {
                    staging = Some("pg_temp.ferry_stage".to_string());
                }
            }
        }
        let copy_table = staging.clone().unwrap_or_else(|| s.target.clone());
        let copy_dest = match &staging {
            Some(t) => format!("COPY {t} ({cols}, ferry_rn) FROM STDIN (FORMAT binary)"),
            None => format!("COPY {} ({cols}) FROM STDIN (FORMAT binary)", s.target),
        };
        let merge = match (&staging, plan) {
            (Some(t), CommitPlan::Single | CommitPlan::PerChannel) => Some(conflict::merge_sql(
                s.cfg.mode, &s.target, t, &s.columns, &s.pk,
            )),
            _ => None,
        };
        Ok(Box::new(PgSink {
            shared: s,
            client: Some(client),
            channel,
            ctx,
            dirty,
            copy_sql: copy_dest,
            copy_stmt: None,
            lock_sql: format!("LOCK TABLE {copy_table} IN ROW EXCLUSIVE MODE"),
            staging,
            merge,
            split: None,
            turn: None,
            next_rn: 0,
            stale_tail: false,
            stale_gid: None,
            lost: None,
            rows_seen: 0,
            segment: None,
            accepted: 0,
            bytes: 0,
            buf: BytesMut::with_capacity(FLUSH_BYTES + (FLUSH_BYTES >> 2)),
        }))
    }

    async fn commit(&self, receipts: Vec<Receipt>) -> Result<CommitReport> {
        let s = &self.inner;
        let rows: u64 = receipts.iter().map(|r| r.rows).sum();
        match s.plan() {
            CommitPlan::Single => self.commit_single(rows).await,
            CommitPlan::TwoPhase => {
                let gids = receipts
                    .iter()
                    .map(|r| r.decode::<PreparedSplit>().map(|p| p.gid))
                    .collect::<Result<Vec<_>>>()?;
                let committed = self.commit_prepared(&gids).await?;
                let client = s.endpoint.connect().await?;
                self.run_sql(&client, "postSql", &s.cfg.post_sql).await?;
                let mut notes = vec![format!(
                    "committed {committed} prepared transaction(s), one per split, into {}",
                    s.cfg.table
                )];
                if committed < gids.len() {
                    notes.push(format!(
                        "{} of them had been committed by the earlier process that died while committing",
                        gids.len() - committed
                    ));
                }
                Ok(CommitReport { rows, notes })
            }
            CommitPlan::Staged => {
                let client = s.endpoint.connect().await?;
                let tables = lock(&s.staging)?.len();
                Ok(CommitReport {
                    rows: self.commit_staged(&client, &receipts).await?,
                    notes: vec![format!(
                        "moved {} split(s) from {tables} staging table(s) into {} in one transaction",
                        receipts.len(),
                        s.cfg.table
                    )],
                })
            }
            CommitPlan::PerChannel => {
                let client = s.endpoint.connect().await?;
                self.run_sql(&client, "postSql", &s.cfg.post_sql).await?;
                Ok(CommitReport {
                    rows,
                    notes: vec![format!(
                        "atomic: false: {} split(s) committed {rows} row(s) into {} as their channels finished",
                        receipts.len(),
                        s.cfg.table
                    )],
                })
            }
        }
    }

    async fn abort(&self, receipts: Vec<Receipt>) -> Result<()> {
        let s = &self.inner;
        match s.plan() {
            CommitPlan::PerChannel => {
                if !receipts.is_empty() {
                    let rows: u64 = receipts.iter().map(|r| r.rows).sum();
                    tracing::warn!(
                        "{}: atomic: false: channels that finished had already committed {rows} row(s) of {} split(s); they stay",
                        self.ctx(),
                        receipts.len()
                    );
                }
            }
            CommitPlan::Single => {
                let held = s.single.lock().await.take();
                if let Some(client) = held {
                    if let Err(e) = client.batch_execute("ROLLBACK").await {
                        // Dropping the connection rolls the transaction back on the server.
                        tracing::debug!("{}: rollback: {e}", self.ctx());
                    }
                }
            }
            CommitPlan::TwoPhase | CommitPlan::Staged => {}
        }
        // Everything prepared or staged under this run's name, by this process or by an
        // earlier one of the same run that died (`ferry runs abort`), whatever its plan.
        let client = s.endpoint.connect().await?;
        self.sweep(&client).await?;
        lock(&s.staging)?.clear();
        Ok(())
    }
}

impl PostgresWriter {
    /// The single plan's connection, shared by every channel: the first channel to open
    /// connects, begins the transaction, runs `preSql` / truncate and creates the merge
    /// table of `ignore` / `update`.
    async fn single_connection(&self, ctx: &str) -> Result<Arc<tokio_postgres::Client>> {
        let s = &self.inner;
        let mut slot = s.single.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(Arc::clone(c));
        }
        let client = connect_sink(s, ctx).await?;
        self.begin_load(&client, ctx, true).await?;
        let client = Arc::new(client);
        *slot = Some(Arc::clone(&client));
        Ok(client)
    }

    /// `BEGIN` a load's transaction on `client` (then `preSql` / truncate when `pre`) and,
    /// for `ignore` / `update`, create its merge table `pg_temp.ferry_stage`.
    async fn begin_load(
        &self,
        client: &tokio_postgres::Client,
        ctx: &str,
        pre: bool,
    ) -> Result<()> {
        let s = &self.inner;
        client
            .batch_execute("BEGIN")
            .await
            .map_err(|e| pg_error(&format!("{ctx}: starting the load"), &e))?;
        if pre {
            self.pre_load(client).await?;
        }
        if s.cfg.mode != ConflictMode::Insert {
            client
                .batch_execute(&s.stage_table_sql("TEMP", "ferry_stage ON COMMIT DROP"))
                .await
                .map_err(|e| pg_error(&format!("{ctx}: starting the load"), &e))?;
        }
        Ok(())
    }

    /// The prepared transactions of this run (of every process of it).
    async fn run_gids(&self, client: &tokio_postgres::Client) -> Result<Vec<String>> {
        let tag = self.inner.tag.replace('_', "\\_");
        let rows = client
            .query(
                "SELECT gid FROM pg_catalog.pg_prepared_xacts WHERE gid LIKE $1 AND database = current_database()",
                &[&format!("ferry\\_{tag}\\_%")],
            )
            .await
            .map_err(|e| pg_error(&format!("{}: listing prepared transactions", self.ctx()), &e))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// The two-phase commit: `COMMIT PREPARED` of every receipt's transaction, each
    /// retried on a new connection when the connection fails (a prepared transaction
    /// outlives connections and server restarts). Returns how many this call committed.
    ///
    /// Every transaction must still be prepared before the first is committed, unless an
    /// earlier process of the run died while committing: then the missing ones are the
    /// ones it committed.
    async fn commit_prepared(&self, gids: &[String]) -> Result<usize> {
        let s = &self.inner;
        let mut client = s.endpoint.connect().await?;
        let present: std::collections::HashSet<String> =
            self.run_gids(&client).await?.into_iter().collect();
        let missing: Vec<&String> = gids.iter().filter(|g| !present.contains(*g)).collect();
        if !missing.is_empty() && !s.recommit.load(Ordering::Relaxed) {
            return Err(Error::data(format!(
                "{}: {} of the run's {} prepared transactions are gone (rolled back outside \
                 ferry?), e.g. '{}'; nothing was committed",
                self.ctx(),
                missing.len(),
                gids.len(),
                missing[0]
            )));
        }
        let mut committed = 0;
        for gid in gids.iter().filter(|g| present.contains(*g)) {
            let sql = format!("COMMIT PREPARED '{gid}'");
            let mut attempt = 0;
            loop {
                attempt += 1;
                let err = match client.batch_execute(&sql).await {
                    Ok(()) => break,
                    Err(e) => e,
                };
                // 42704: no such prepared transaction — an attempt whose answer was lost
                // committed it.
                if attempt > 1
                    && err.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_OBJECT)
                {
                    break;
                }
                let e = pg_error(
                    &format!(
                        "{}: {sql} ({committed} of {} committed)",
                        self.ctx(),
                        gids.len()
                    ),
                    &err,
                );
                if !e.retry_hint() || attempt >= 5 {
                    return Err(e);
                }
                tokio::time::sleep(std::time::Duration::from_millis(200 << attempt)).await;
                if client.is_closed() {
                    if let Ok(c) = s.endpoint.connect().await {
                        client = c;
                    }
                }
            }
            committed += 1;
        }
        // Anything else of the run still prepared (a split whose PREPARE answer was lost
        // and that was written again): not part of the load.
        for gid in self.run_gids(&client).await? {
            if !gids.contains(&gid) {
                self.rollback_prepared(&client, &gid).await?;
            }
        }
        Ok(committed)
    }

    async fn rollback_prepared(&self, client: &tokio_postgres::Client, gid: &str) -> Result<()> {
        client
            .batch_execute(&format!("ROLLBACK PREPARED '{gid}'"))
            .await
            .map_err(|e| pg_error(&format!("{}: ROLLBACK PREPARED '{gid}'", self.ctx()), &e))
    }

    /// Roll back the run's prepared transactions and drop its staging tables.
    async fn sweep(&self, client: &tokio_postgres::Client) -> Result<()> {
        for gid in self.run_gids(client).await? {
            self.rollback_prepared(client, &gid).await?;
        }
        let tag = self.inner.tag.replace('_', "\\_");
        let tables = client
            .query(
                "SELECT format('%I.%I', schemaname, tablename) FROM pg_catalog.pg_tables WHERE tablename LIKE $1",
                &[&format!("ferry\\_stage\\_{tag}\\_%")],
            )
            .await
            .map_err(|e| pg_error(&format!("{}: listing staging tables", self.ctx()), &e))?;
        for r in tables {
            let t: String = r.get(0);
            client
                .batch_execute(&format!("DROP TABLE IF EXISTS {t}"))
                .await
                .map_err(|e| {
                    pg_error(&format!("{}: dropping staging table {t}", self.ctx()), &e)
                })?;
        }
        Ok(())
    }
}

/// A connection for a channel: `lock_timeout` set for the whole session, so that a lock
/// wait fails the split (and is retried) instead of stalling the job.
async fn connect_sink(s: &Shared, ctx: &str) -> Result<tokio_postgres::Client> {
    let client = s.endpoint.connect().await?;
    client
        .batch_execute(&format!("SET lock_timeout = '{}ms'", s.cfg.lock_timeout_ms))
        .await
        .map_err(|e| pg_error(&format!("{ctx}: setting lock_timeout"), &e))?;
    Ok(client)
}

/// The split a sink is writing.
struct OpenSplit {
    index: usize,
    description: String,
    /// Staged plan: the `ferry_rn` of the split's first row (rows of a channel's splits
    /// are numbered one after the other in its staging table).
    first_rn: i64,
}

/// One channel's connection and load state.
struct PgSink {
    shared: Arc<Shared>,
    /// `None` after the staged plan lost its connection and could not reconnect yet
    /// (`begin` tries again). The single plan's is shared by every channel.
    client: Option<Arc<tokio_postgres::Client>>,
    channel: usize,
    ctx: String,
    dirty: DirtyCollector,
    /// `COPY ... FROM STDIN (FORMAT binary)` into the target or the staging table.
    copy_sql: String,
    /// `copy_sql` prepared on the current connection.
    copy_stmt: Option<tokio_postgres::Statement>,
    /// Takes the lock a COPY into the destination needs, as an ordinary statement.
    lock_sql: String,
    /// Staging table, when rows go through one.
    staging: Option<String>,
    /// Per-chunk merge SQL (single / two-phase / per-channel plans with ignore / update).
    merge: Option<String>,
    /// The split being written, between `begin` and `end` / `discard`.
    split: Option<OpenSplit>,
    /// Single plan: this channel's turn on the shared connection, held from the split's
    /// first write (under `SAVEPOINT ferry_split`) to its end.
    turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    /// Staged plan: `ferry_rn` of the next split's first row.
    next_rn: i64,
    /// Staged plan: a split was discarded after its `COMMIT` may have reached the server
    /// (the answer lost with the connection); the next split first deletes rows from
    /// `next_rn` on.
    stale_tail: bool,
    /// Two-phase plan: a split's `PREPARE TRANSACTION` was sent but its answer was lost
    /// with the connection; the next split first rolls it back if it exists.
    stale_gid: Option<String>,
    /// Why the channel's transaction is gone (single / two-phase / per-channel plans).
    lost: Option<String>,
    /// Rows of the current split received so far (row numbers in dirty records).
    rows_seen: u64,
    /// The open streaming COPY (`insert` mode).
    segment: Option<Segment>,
    /// Rows of the current split loaded.
    accepted: u64,
    /// COPY bytes of the current split.
    bytes: u64,
    buf: BytesMut,
}

/// A COPY kept open across batches: rows stream to the server while the next batch is
/// encoded, so the server never waits for a round trip. The batches stay here until the
/// COPY completes; when it fails on a row, they are loaded again in bisected chunks.
struct Segment {
    sink: Pin<Box<CopyInSink<Bytes>>>,
    /// Batches sent so far, each with the number of its first row in the split.
    batches: Vec<(RecordBatch, u64)>,
    sent: u64,
}

enum CopyFailure {
    /// The encoder could not write row `row` (of the slice).
    Encode(usize, String),
    /// The server rejected the slice because of a row: the reason.
    Row(String, Option<String>),
    /// Anything else: the split fails.
    Fatal(Error),
}

impl PgSink {
    fn client(&self) -> Result<&tokio_postgres::Client> {
        self.client
            .as_deref()
            .ok_or_else(|| Error::transient(format!("{}: the connection was lost", self.ctx)))
    }

    async fn exec(&self, sql: &str) -> Result<()> {
        self.client()?
            .batch_execute(sql)
            .await
            .map_err(|e| pg_error(&self.ctx, &e))
    }

    /// The description of the split being written, for messages and dirty records.
    fn split_name(&self) -> String {
        self.split
            .as_ref()
            .map(|s| s.description.clone())
            .unwrap_or_else(|| format!("channel {}", self.channel))
    }

    /// `ferry_rn` of a row numbered `row` within the split, when rows go to a staging table.
    fn rn(&self, row: u64) -> Option<i64> {
        self.staging.as_ref()?;
        let first = match self.shared.plan() {
            CommitPlan::Staged => self.split.as_ref().map(|s| s.first_rn).unwrap_or(0),
            _ => 0,
        };
        Some(first + row as i64)
    }

    /// Forget the current split's in-memory state (counters, open COPY).
    fn reset_split(&mut self) {
        // Dropping an unfinished COPY sends CopyFail; the rollback that follows clears
        // the error the server reports.
        self.segment = None;
        self.buf.clear();
        self.rows_seen = 0;
        self.accepted = 0;
        self.bytes = 0;
    }

    /// Start `COPY ... FROM STDIN` (the caller took the destination's lock first).
    ///
    /// tokio-postgres sends `Sync` both with the COPY and with its end: when the server
    /// refuses the COPY before copy mode, the second `ReadyForQuery` puts the connection
    /// out of step (rust-postgres/rust-postgres#1337). Locks are therefore taken by an
    /// ordinary statement before (a lock wait fails there, cleanly), and a connection on
    /// which the server refused a COPY is given up: the staged plan reconnects, the
    /// others lose the channel's transaction.
    async fn start_copy(&mut self) -> Result<CopyInSink<Bytes>> {
        let stmt = match &self.copy_stmt {
            Some(st) => st.clone(),
            None => {
                let st = self
                    .client()?
                    .prepare(&self.copy_sql)
                    .await
                    .map_err(|e| pg_error(&self.ctx, &e))?;
                self.copy_stmt = Some(st.clone());
                st
            }
        };
        match self.client()?.copy_in::<_, Bytes>(&stmt).await {
            Ok(sink) => Ok(sink),
            Err(e) => {
                let err = pg_error(&self.ctx, &e);
                if e.as_db_error().is_some() {
                    self.give_up_connection(&format!("the server refused a COPY: {err}"));
                }
                Err(err)
            }
        }
    }

    /// Whether each split is a transaction of its own (staged, two-phase): a lost
    /// connection loses one split, and the sink reconnects.
    fn split_per_transaction(&self) -> bool {
        matches!(
            self.shared.plan(),
            CommitPlan::Staged | CommitPlan::TwoPhase
        )
    }

    /// The connection cannot be used any more: the staged and two-phase plans drop it
    /// (the server rolls the split's transaction back; `discard` reconnects), the others
    /// lose the channel's transaction.
    fn give_up_connection(&mut self, why: &str) {
        if self.split_per_transaction() {
            self.client = None;
            self.copy_stmt = None;
            self.stale_tail = self.shared.plan() == CommitPlan::Staged;
        } else {
            if self.lost.is_none() {
                self.lost = Some(why.to_string());
            }
            if self.shared.plan() == CommitPlan::Single {
                self.shared.set_lost(why);
            }
        }
    }

    /// Why this channel's transaction is gone (the single plan's is every channel's).
    fn lost_why(&self) -> Option<String> {
        self.lost.clone().or_else(|| match self.shared.plan() {
            CommitPlan::Single => self.shared.lost(),
            _ => None,
        })
    }

    /// Single plan: wait for this channel's turn on the shared connection and open the
    /// split's savepoint (a no-op when the turn is held or in the other plans).
    async fn take_turn(&mut self) -> Result<()> {
        if self.turn.is_some() || self.shared.plan() != CommitPlan::Single {
            return Ok(());
        }
        let turn = Arc::clone(&self.shared.turn).lock_owned().await;
        if let Some(why) = self.lost_why() {
            return Err(self.lost_error(&why));
        }
        let at = |e: Error| match &self.split {
            Some(sp) => e.context(format!("split {} ({})", sp.index, sp.description)),
            None => e,
        };
        self.exec("SAVEPOINT ferry_split").await.map_err(at)?;
        self.turn = Some(turn);
        Ok(())
    }

    /// One COPY of `part`; `rn` numbers its rows for the staging table.
    async fn copy_once(
        &mut self,
        part: &RecordBatch,
        rn: Option<i64>,
    ) -> std::result::Result<u64, CopyFailure> {
        let shared = self.shared.clone();
        let bound = shared.encoder.bind(part).map_err(CopyFailure::Fatal)?;
        let sink = self.start_copy().await.map_err(CopyFailure::Fatal)?;
        futures::pin_mut!(sink);
        self.buf.clear();
        self.buf.extend_from_slice(COPY_HEADER);
        let mut sent = 0u64;
        let mut failure = None;
        for row in 0..part.num_rows() {
            let at = self.buf.len();
            if let Err(e) = bound.put_row(row, rn.map(|n| n + row as i64), &mut self.buf) {
                self.buf.truncate(at);
                failure = Some(CopyFailure::Encode(e.row, e.to_string()));
                break;
            }
            if self.buf.len() >= FLUSH_BYTES {
                let chunk = self.buf.split().freeze();
                sent += chunk.len() as u64;
                if let Err(e) = sink.send(chunk).await {
                    return Err(classify(&self.ctx, e));
                }
            }
        }
        if let Some(f) = failure {
            // Returning drops the pinned sink without finish, which aborts the COPY
            // (CopyFail) on the server.
            // The server reports the abort as an error on the next command; the savepoint
            // rollback the caller issues clears it.
            return Err(f);
        }
        self.buf.extend_from_slice(COPY_TRAILER);
        let chunk = self.buf.split().freeze();
        sent += chunk.len() as u64;
        if let Err(e) = sink.send(chunk).await {
            return Err(classify(&self.ctx, e));
        }
        match sink.finish().await {
            Ok(n) => {
                self.bytes += sent;
                Ok(n)
            }
            Err(e) => Err(classify(&self.ctx, e)),
        }
    }

    /// Load `batch` (rows numbered from `base` within the split) in COPYs, bisecting
    /// around rejected rows. Returns the rows loaded.
    async fn load(&mut self, batch: &RecordBatch, base: u64) -> Result<u64> {
        let mut loaded = 0u64;
        let mut stack = vec![(0usize, batch.num_rows())];
        while let Some((off, len)) = stack.pop() {
            if len == 0 {
                continue;
            }
            let part = batch.slice(off, len);
            self.exec(&format!("SAVEPOINT ferry_chunk; {}", self.lock_sql))
                .await?;
            let rn = self.rn(base + off as u64);
            match self.copy_once(&part, rn).await {
                Ok(n) => {
                    self.exec("RELEASE SAVEPOINT ferry_chunk").await?;
                    loaded += n;
                }
                Err(CopyFailure::Fatal(e)) => return Err(e),
                Err(CopyFailure::Encode(row, reason)) => {
                    self.exec("ROLLBACK TO SAVEPOINT ferry_chunk; RELEASE SAVEPOINT ferry_chunk")
                        .await?;
                    self.reject(batch, base, off + row, reason, None)?;
                    stack.push((off + row + 1, len - row - 1));
                    stack.push((off, row));
                }
                Err(CopyFailure::Row(reason, column)) => {
                    self.exec("ROLLBACK TO SAVEPOINT ferry_chunk; RELEASE SAVEPOINT ferry_chunk")
                        .await?;
                    if len == 1 {
                        self.reject(batch, base, off, reason, column)?;
                    } else {
                        let h = len / 2;
                        stack.push((off + h, len - h));
                        stack.push((off, h));
                    }
                }
            }
        }
        Ok(loaded)
    }

    /// Start a segment: a savepoint and a COPY left open.
    async fn open_segment(&mut self) -> Result<Segment> {
        self.exec(&format!("SAVEPOINT ferry_seg; {}", self.lock_sql))
            .await?;
        let sink = self.start_copy().await?;
        self.buf.clear();
        self.buf.extend_from_slice(COPY_HEADER);
        Ok(Segment {
            sink: Box::pin(sink),
            batches: Vec::new(),
            sent: 0,
        })
    }

    /// Stream `batch` (rows numbered from `base` within the split) into the open segment,
    /// opening one if needed; completes the segment once it is large enough. Returns the
    /// rows confirmed by the server during this call.
    async fn stream(&mut self, batch: RecordBatch, base: u64) -> Result<u64> {
        let mut seg = match self.segment.take() {
            Some(seg) => seg,
            None => self.open_segment().await?,
        };
        let shared = self.shared.clone();
        let bound = shared.encoder.bind(&batch)?;
        let rn = self.rn(base);
        let mut broken = false;
        for row in 0..batch.num_rows() {
            if bound
                .put_row(row, rn.map(|n| n + row as i64), &mut self.buf)
                .is_err()
            {
                // The chunked reload finds and reports the row.
                broken = true;
                break;
            }
            if self.buf.len() >= FLUSH_BYTES {
                let chunk = self.buf.split().freeze();
                seg.sent += chunk.len() as u64;
                if seg.sink.send(chunk).await.is_err() {
                    // The server rejected something (or went away): the reload finds out.
                    broken = true;
                    break;
                }
            }
        }
        drop(bound);
        seg.batches.push((batch, base));
        if broken {
            self.reload(seg).await
        } else if seg.sent >= SEGMENT_BYTES {
            self.end_segment(seg).await
        } else {
            self.segment = Some(seg);
            Ok(0)
        }
    }

    /// Complete a segment's COPY. Returns the rows it loaded (after reloading its
    /// batches in chunks when the server rejected a row).
    async fn end_segment(&mut self, mut seg: Segment) -> Result<u64> {
        self.buf.extend_from_slice(COPY_TRAILER);
        let chunk = self.buf.split().freeze();
        seg.sent += chunk.len() as u64;
        let done = match seg.sink.send(chunk).await {
            Ok(()) => seg.sink.as_mut().finish().await,
            Err(e) => Err(e),
        };
        match done {
            Ok(n) => {
                self.exec("RELEASE SAVEPOINT ferry_seg").await?;
                self.bytes += seg.sent;
                self.accepted += n;
                Ok(n)
            }
            Err(e) => match classify(&self.ctx, e) {
                CopyFailure::Fatal(e) => Err(e),
                _ => self.reload(seg).await,
            },
        }
    }

    /// Undo a failed segment and load its batches again in chunks, isolating the rows the
    /// server or the encoder rejects.
    async fn reload(&mut self, seg: Segment) -> Result<u64> {
        let Segment { sink, batches, .. } = seg;
        // Dropping an unfinished sink sends CopyFail; the server then reports an error
        // that the savepoint rollback below clears.
        drop(sink);
        self.buf.clear();
        self.exec("ROLLBACK TO SAVEPOINT ferry_seg; RELEASE SAVEPOINT ferry_seg")
            .await?;
        let mut loaded = 0;
        for (batch, base) in batches {
            loaded += self.load_chunks(&batch, base).await?;
        }
        self.accepted += loaded;
        Ok(loaded)
    }

    /// Load `batch` in `batchSize` chunks (each bisected around rejected rows).
    async fn load_chunks(&mut self, batch: &RecordBatch, base: u64) -> Result<u64> {
        let n = batch.num_rows();
        let step = self.shared.cfg.batch_size.unwrap_or(n).max(1);
        let mut loaded = 0;
        let mut off = 0;
        while off < n {
            let len = step.min(n - off);
            loaded += self.load(&batch.slice(off, len), base + off as u64).await?;
            off += len;
        }
        Ok(loaded)
    }

    fn reject(
        &self,
        batch: &RecordBatch,
        base: u64,
        row: usize,
        reason: String,
        column: Option<String>,
    ) -> Result<()> {
        let mut d = DirtyRecord::new(Stage::Writer, reason)
            .row(base + row as u64)
            .split(self.split_name());
        if let Some(c) = column {
            d = d.column(c);
        }
        if let Some(r) = row_json(batch, row) {
            d = d.record(r);
        }
        self.dirty
            .push(d)
            .map_err(|e| e.context(format!("writing {}", self.shared.cfg.table)))
    }

    /// The error a sink whose channel transaction is gone answers with.
    fn lost_error(&self, why: &str) -> Error {
        Error::data(format!(
            "{}: the channel's transaction was lost ({why}); what it wrote for earlier splits is gone with it, so the split cannot be retried",
            self.ctx
        ))
    }
}

fn classify(ctx: &str, e: tokio_postgres::Error) -> CopyFailure {
    match row_error_reason(&e) {
        Some(reason) => CopyFailure::Row(
            reason,
            e.as_db_error().and_then(|d| d.column()).map(str::to_string),
        ),
        None => CopyFailure::Fatal(pg_error(ctx, &e)),
    }
}

/// One row of `batch` as a JSON object (column name → value), for dirty records.
fn row_json(batch: &RecordBatch, row: usize) -> Option<serde_json::Map<String, serde_json::Value>> {
    let one = batch.slice(row, 1);
    let mut w = arrow::json::ArrayWriter::new(Vec::new());
    w.write(&one).ok()?;
    w.finish().ok()?;
    let v: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_slice(&w.into_inner()).ok()?;
    v.into_iter().next()
}

#[async_trait]
impl BatchSink for PgSink {
    async fn begin(&mut self, split: &Split) -> Result<()> {
        if let Some(open) = &self.split {
            return Err(Error::internal(format!(
                "{}: split {} began while split {} is still open",
                self.ctx, split.index, open.index
            )));
        }
        if let Some(why) = self.lost_why() {
            return Err(self.lost_error(&why));
        }
        self.reset_split();
        if self.split_per_transaction() && self.client.as_ref().is_none_or(|c| c.is_closed()) {
            // Earlier splits survive a lost connection (committed into the staging table,
            // or prepared): start over on a new one.
            self.client = None;
            self.copy_stmt = None;
            self.client = Some(Arc::new(connect_sink(&self.shared, &self.ctx).await?));
        }
        if let Some(gid) = self.stale_gid.clone() {
            // ROLLBACK PREPARED cannot run inside a transaction block: check, then act.
            let present = self
                .client()?
                .query_opt(
                    "SELECT 1 FROM pg_catalog.pg_prepared_xacts WHERE gid = $1",
                    &[&gid],
                )
                .await
                .map_err(|e| pg_error(&self.ctx, &e))?
                .is_some();
            if present {
                self.exec(&format!("ROLLBACK PREPARED '{gid}'")).await?;
            }
            self.stale_gid = None;
        }
        self.split = Some(OpenSplit {
            index: split.index,
            description: split.description.clone(),
            first_rn: self.next_rn,
        });
        let at = |e: Error| e.context(format!("split {} ({})", split.index, split.description));
        match self.shared.plan() {
            CommitPlan::Staged => {}
            CommitPlan::TwoPhase => return self.exec("BEGIN").await.map_err(at),
            // The savepoint waits for the channel's turn, at the split's first write.
            CommitPlan::Single => return Ok(()),
            CommitPlan::PerChannel => return self.exec("SAVEPOINT ferry_split").await.map_err(at),
        }
        if self.stale_tail {
            // Committed on its own, before the split's transaction.
            let sql = format!(
                "DELETE FROM {} WHERE ferry_rn >= {}",
                self.staging.as_deref().unwrap_or_default(),
                self.next_rn
            );
            self.exec(&sql).await.map_err(at)?;
            self.stale_tail = false;
        }
        self.exec("BEGIN").await.map_err(at)
    }

    async fn write(&mut self, batch: RecordBatch) -> Result<u64> {
        if self.split.is_none() {
            return Err(Error::internal(format!(
                "{}: write outside a split",
                self.ctx
            )));
        }
        self.take_turn().await?;
        let n = batch.num_rows();
        if self.merge.is_none() {
            let base = self.rows_seen;
            self.rows_seen += n as u64;
            return self.stream(batch, base).await;
        }
        let step = self.shared.cfg.batch_size.unwrap_or(n).max(1);
        let split = self.split_name();
        let mut accepted = 0u64;
        let mut off = 0;
        while off < n {
            let len = step.min(n - off);
            let chunk = batch.slice(off, len);
            let base = self.rows_seen;
            let loaded = self.load(&chunk, base).await?;
            if let Some(merge) = self.merge.clone() {
                // Staging table of this transaction: merge the chunk, then empty it.
                let staging = self.staging.clone().unwrap_or_default();
                let origin = |rn: i64| (split.clone(), rn as u64);
                let ok = conflict::merge_range(
                    self.client()?,
                    &merge,
                    &staging,
                    &self.shared.cfg.table,
                    base as i64,
                    (base + len as u64) as i64,
                    &self.dirty,
                    &origin,
                )
                .await?;
                self.exec(&format!("TRUNCATE {staging}")).await?;
                accepted += ok;
            } else {
                accepted += loaded;
            }
            self.rows_seen += len as u64;
            off += len;
        }
        self.accepted += accepted;
        Ok(accepted)
    }

    async fn end(&mut self) -> Result<Receipt> {
        let Some((index, description)) = self
            .split
            .as_ref()
            .map(|s| (s.index, s.description.clone()))
        else {
            return Err(Error::internal(format!(
                "{}: end without a split",
                self.ctx
            )));
        };
        if let Some(seg) = self.segment.take() {
            self.end_segment(seg).await?;
        }
        match self.shared.plan() {
            CommitPlan::TwoPhase => {
                let gid = self.shared.gid(index);
                if let Err(e) = self.exec(&format!("PREPARE TRANSACTION '{gid}'")).await {
                    // Its answer may be lost after the server prepared it.
                    self.stale_gid = Some(gid);
                    return Err(e);
                }
                self.split = None;
                // Prepared: a later process of the run (resume) commits it from this receipt.
                return Receipt::new(index, self.accepted, self.bytes, Durability::Durable)
                    .with_payload(&PreparedSplit { gid });
            }
            CommitPlan::Staged => {
                self.exec("COMMIT").await?;
                let first = self.split.as_ref().map(|s| s.first_rn).unwrap_or(0);
                let end = first + self.rows_seen as i64;
                self.next_rn = end;
                self.split = None;
                // Committed into the staging table: a later process of the run (resume)
                // commits it from this receipt.
                let staged = StagedSplit {
                    table: self.staging.clone().unwrap_or_default(),
                    index,
                    description,
                    first_rn: first,
                    end_rn: end,
                };
                return Receipt::new(index, self.accepted, self.bytes, Durability::Durable)
                    .with_payload(&staged);
            }
            CommitPlan::Single => {
                // A split that wrote nothing never took its turn.
                if self.turn.is_some() {
                    self.exec("RELEASE SAVEPOINT ferry_split").await?;
                    self.turn = None;
                }
            }
            CommitPlan::PerChannel => self.exec("RELEASE SAVEPOINT ferry_split").await?,
        }
        self.split = None;
        Ok(Receipt::new(
            index,
            self.accepted,
            self.bytes,
            Durability::Process,
        ))
    }

    async fn discard(&mut self) -> Result<()> {
        let had_split = self.split.take().is_some();
        self.reset_split();
        if self.split_per_transaction() {
            // Each split is a transaction of its own: rolling it back (or losing the
            // connection, which rolls it back on the server) drops exactly this split.
            let rolled_back = match &self.client {
                Some(c) if !c.is_closed() => c.batch_execute("ROLLBACK").await.is_ok(),
                _ => false,
            };
            if !rolled_back {
                self.stale_tail = self.shared.plan() == CommitPlan::Staged;
                self.client = None;
                self.copy_stmt = None;
                match connect_sink(&self.shared, &self.ctx).await {
                    Ok(c) => self.client = Some(Arc::new(c)),
                    // `begin` tries again; its error is the one the runtime sees.
                    Err(e) => tracing::debug!("{}: reconnecting: {e}", self.ctx),
                }
            }
            return Ok(());
        }
        if let Some(why) = self.lost_why() {
            self.turn = None;
            return Err(self.lost_error(&why));
        }
        if !had_split {
            return Ok(());
        }
        if self.shared.plan() == CommitPlan::Single && self.turn.is_none() {
            // Nothing of the split reached the connection.
            return Ok(());
        }
        let why = match &self.client {
            Some(c) if !c.is_closed() => {
                match c
                    .batch_execute(
                        "ROLLBACK TO SAVEPOINT ferry_split; RELEASE SAVEPOINT ferry_split",
                    )
                    .await
                {
                    Ok(()) => {
                        self.turn = None;
                        return Ok(());
                    }
                    Err(e) => format!(
                        "rolling back to the split's savepoint: {}",
                        pg_error("", &e)
                    ),
                }
            }
            _ => "the connection was closed".to_string(),
        };
        let err = self.lost_error(&why);
        self.give_up_connection(&why);
        self.turn = None;
        Err(err)
    }

    async fn close(mut self: Box<Self>) -> Result<()> {
        if let Some(open) = &self.split {
            return Err(Error::internal(format!(
                "{}: closed while split {} is still open",
                self.ctx, open.index
            )));
        }
        if let Some(why) = self.lost_why() {
            return Err(self.lost_error(&why));
        }
        match self.shared.plan() {
            // Every split was prepared at its end.
            CommitPlan::TwoPhase => {}
            CommitPlan::PerChannel => self.exec("COMMIT").await?,
            // The shared transaction waits for `commit`.
            CommitPlan::Single => {}
            // Every split committed into the staging table already.
            CommitPlan::Staged => {}
        }
        Ok(())
    }
}
