//! The PostgreSQL reader: `COPY (SELECT ...) TO STDOUT (FORMAT binary)` per split, decoded
//! straight into Arrow, every split reading one exported snapshot.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use ferry_core::plugin::{BatchStream, BuildContext, ReadOptions, Reader, ReaderFactory, Split};
use ferry_core::{Error, Result};
use futures::StreamExt;
use tokio_postgres::Client;

use crate::config::{ReaderConfig, Work};
use crate::conn::{pg_error, PgEndpoint};
use crate::copy_binary::CopyDecoder;
use crate::split::{ctid_ranges, integer_ranges, select_sql, SplitSpec};
use crate::tap::Tap;
use crate::types::{arrow_field, oid, resolve_column, statement_columns, PgColumn};

/// Builds [`PostgresReader`]s (plugin `postgresql`, DataX `postgresqlreader`).
#[derive(Debug, Default, Clone, Copy)]
pub struct PostgresReaderFactory;

#[async_trait]
impl ReaderFactory for PostgresReaderFactory {
    fn name(&self) -> &'static str {
        "postgresql"
    }

    fn check(
        &self,
        params: &serde_json::Value,
        path: &str,
        warnings: &mut Vec<String>,
    ) -> Result<()> {
        ReaderConfig::parse(params, path, None, warnings).map(|_| ())
    }

    async fn build(
        &self,
        params: &serde_json::Value,
        path: &str,
        ctx: &BuildContext,
    ) -> Result<Arc<dyn Reader>> {
        let mut warnings = Vec::new();
        let cfg = ReaderConfig::parse(params, path, Some(&ctx.catalog), &mut warnings)?;
        for w in &warnings {
            // `check` reports these to the user; here only for FERRY_LOG=debug.
            tracing::debug!("{w}");
        }
        Ok(Arc::new(PostgresReader::connect(cfg).await?))
    }
}

/// One database the reader reads, with the endpoint that answered.
#[derive(Debug, Clone)]
struct Db {
    endpoint: PgEndpoint,
    work: Work,
}

/// The planning connection of one database: holds the exported snapshot open.
struct Coordinator {
    client: Client,
    snapshot: Option<String>,
}

/// A configured PostgreSQL source.
pub struct PostgresReader {
    cfg: ReaderConfig,
    dbs: Vec<Db>,
    columns: Vec<PgColumn>,
    schema: SchemaRef,
    coordinators: tokio::sync::Mutex<Vec<Option<Coordinator>>>,
}

impl std::fmt::Debug for PostgresReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresReader")
            .field("dbs", &self.dbs)
            .field("schema", &self.schema)
            .finish()
    }
}

/// Connect to the first endpoint of the list that answers.
async fn connect_first(endpoints: &[PgEndpoint]) -> Result<(PgEndpoint, Client)> {
    let mut last = None;
    for ep in endpoints {
        match ep.connect().await {
            Ok(c) => return Ok((ep.clone(), c)),
            Err(e) => {
                if endpoints.len() > 1 {
                    tracing::warn!("{e}; trying the next jdbcUrl");
                }
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or_else(|| Error::config("no jdbcUrl to connect to")))
}

fn strip_semicolon(sql: &str) -> &str {
    let t = sql.trim();
    t.strip_suffix(';').unwrap_or(t).trim_end()
}

impl PostgresReader {
    /// Connect to every database, describe the result columns and check that every table /
    /// statement yields the same types. Unsupported types fail here.
    pub async fn connect(cfg: ReaderConfig) -> Result<PostgresReader> {
        let mut dbs = Vec::new();
        let mut columns: Option<(String, Vec<PgColumn>)> = None;
        let cols = cfg.select_list();
        for src in &cfg.sources {
            let (endpoint, client) = connect_first(&src.endpoints).await?;
            let statements: Vec<(String, String)> = match &src.work {
                Work::Tables(ts) => ts
                    .iter()
                    .map(|t| (t.clone(), format!("SELECT {cols} FROM {t}")))
                    .collect(),
                Work::Queries(qs) => qs
                    .iter()
                    .map(|q| (q.clone(), strip_semicolon(q).to_string()))
                    .collect(),
            };
            for (what, sql) in statements {
                let describe = |e: &tokio_postgres::Error| {
                    pg_error(
                        &format!("reader postgresql: {what} on {}", endpoint.display()),
                        e,
                    )
                };
                let stmt = client.prepare(&sql).await.map_err(|e| describe(&e))?;
                let found = statement_columns(&client, &stmt)
                    .await
                    .map_err(|e| e.context(format!("reader postgresql: {what}")))?;
                for c in &found {
                    arrow_field(c).map_err(|e| e.context(format!("reader postgresql: {what}")))?;
                }
                match &columns {
                    None => columns = Some((what.clone(), found)),
                    Some((first, cols0)) => {
                        let same = cols0.len() == found.len()
                            && cols0.iter().zip(&found).all(|(a, b)| {
                                arrow_field(a).ok().map(|f| f.data_type().clone())
                                    == arrow_field(b).ok().map(|f| f.data_type().clone())
                            });
                        if !same {
                            return Err(Error::schema(format!(
                                "reader postgresql: {what} does not have the same column types as {first}: [{}] vs [{}]",
                                describe_cols(&found),
                                describe_cols(cols0)
                            )));
                        }
                    }
                }
            }
            if let (Some(pk), Work::Tables(ts)) = (&cfg.split_pk, &src.work) {
                if let Some(t) = ts.first() {
                    client
                        .prepare(&format!("SELECT {pk} FROM {t} WHERE false"))
                        .await
                        .map_err(|e| {
                            pg_error(&format!("reader postgresql: splitPk \"{pk}\" on {t}"), &e)
                        })?;
                }
            }
            dbs.push(Db {
                endpoint,
                work: src.work.clone(),
            });
        }
        let columns = columns
            .map(|(_, c)| c)
            .ok_or_else(|| Error::config("reader postgresql: nothing to read"))?;
        let fields = columns
            .iter()
            .map(arrow_field)
            .collect::<Result<Vec<_>>>()?;
        let n = dbs.len();
        Ok(PostgresReader {
            cfg,
            dbs,
            columns,
            schema: Arc::new(Schema::new(fields)),
            coordinators: tokio::sync::Mutex::new((0..n).map(|_| None).collect()),
        })
    }

    /// The resolved source columns.
    pub fn columns(&self) -> &[PgColumn] {
        &self.columns
    }

    /// Open the planning connection of database `i` in a REPEATABLE READ transaction and
    /// export its snapshot (a warning, and no snapshot, where that is impossible).
    async fn coordinator(&self, i: usize) -> Result<Coordinator> {
        let ep = &self.dbs[i].endpoint;
        let client = ep.connect().await?;
        let ctx = |what: &str| format!("reader postgresql: {what} on {}", ep.display());
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(|e| pg_error(&ctx("BEGIN"), &e))?;
        let snapshot = match client.query_one("SELECT pg_export_snapshot()", &[]).await {
            Ok(row) => Some(row.get::<_, String>(0)),
            Err(e) => {
                tracing::warn!(
                    "{}; splits read without a shared snapshot, so a table that changes during the job may be read inconsistently",
                    pg_error(&ctx("exporting a snapshot"), &e)
                );
                client
                    .batch_execute("ROLLBACK; BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await
                    .map_err(|e| pg_error(&ctx("BEGIN"), &e))?;
                None
            }
        };
        Ok(Coordinator { client, snapshot })
    }

    /// Plan one table of database `db`.
    async fn plan_table(
        &self,
        client: &Client,
        db: usize,
        table: &str,
        ranges: usize,
        use_ctid: bool,
        out: &mut Vec<(String, SplitSpec, Option<u64>)>,
    ) -> Result<()> {
        let cols = self.cfg.select_list();
        let w = self.cfg.where_.as_deref();
        let ctx = |what: &str| format!("reader postgresql: {what} on {table}");
        let stats = client
            .query_opt(
                "SELECT c.relkind::text, c.reltuples::float8, \
                 pg_catalog.pg_relation_size(c.oid) / current_setting('block_size')::int8, \
                 current_setting('server_version_num')::int4 \
                 FROM pg_catalog.pg_class c WHERE c.oid = $1::text::regclass",
                &[&table],
            )
            .await
            .map_err(|e| pg_error(&ctx("table statistics"), &e))?;
        let (relkind, reltuples, pages, version) = match &stats {
            Some(r) => (
                r.get::<_, String>(0),
                r.get::<_, f64>(1),
                r.get::<_, i64>(2),
                r.get::<_, i32>(3),
            ),
            None => (String::new(), -1.0, 0, 0),
        };
        let ctid_ok = use_ctid && ranges > 1 && matches!(relkind.as_str(), "r" | "m") && pages > 1;
        // A whole table (no `where`) of some size on PostgreSQL 14+ is split into page
        // ranges even when it has a splitPk: each backend then reads its pages once, in
        // order (TID range scan), where key ranges make every backend walk the key's index
        // (2 channels over 5M rows: 2.4 against 3.0 backend CPU-seconds, bench/PROFILE.md).
        let pages_over_key =
            ctid_ok && w.is_none() && pages >= PAGES_OVER_KEY && version >= 140_000;
        let est = |parts: usize| -> Option<u64> {
            (reltuples >= 0.0 && w.is_none()).then(|| (reltuples / parts.max(1) as f64) as u64)
        };
        let spec = |sql: String, settings: Vec<(String, String)>| SplitSpec {
            db,
            sql,
            settings,
            source: table.to_string(),
        };
        let whole = |out: &mut Vec<(String, SplitSpec, Option<u64>)>| {
            let desc = match w {
                Some(w) => format!("{table}: {w}"),
                None => format!("{table}: whole table"),
            };
            out.push((
                desc,
                spec(select_sql(&cols, table, w, None), vec![]),
                est(1),
            ));
        };
        let ctid_split = |out: &mut Vec<(String, SplitSpec, Option<u64>)>| {
            let conds = ctid_ranges(pages as u64, ranges);
            let n = conds.len();
            for c in conds {
                let desc = if c.is_empty() {
                    "whole table".to_string()
                } else {
                    c.clone()
                };
                out.push((
                    format!("{table}: {desc}"),
                    spec(select_sql(&cols, table, w, Some(&c)), vec![]),
                    est(n),
                ));
            }
        };
        if let (Some(pk), true) = (&self.cfg.split_pk, ranges > 1) {
            let probe = client
                .prepare(&format!("SELECT {pk} FROM {table} WHERE false"))
                .await
                .map_err(|e| pg_error(&ctx(&format!("splitPk \"{pk}\"")), &e))?;
            let pcol = probe.columns().first().ok_or_else(|| {
                Error::config(format!(
                    "reader postgresql: splitPk \"{pk}\" is not a column"
                ))
            })?;
            let pcol =
                resolve_column(client, pk, pcol.type_().oid(), pcol.type_modifier(), false).await?;
            if pages_over_key {
                ctid_split(out);
                return Ok(());
            }
            let not_null = match w {
                Some(w) => format!("({w}) AND {pk} IS NOT NULL"),
                None => format!("{pk} IS NOT NULL"),
            };
            let null_split = |out: &mut Vec<(String, SplitSpec, Option<u64>)>| {
                let cond = format!("{pk} IS NULL");
                out.push((
                    format!("{table}: {cond}"),
                    spec(select_sql(&cols, table, w, Some(&cond)), vec![]),
                    None,
                ));
            };
            if !pcol.is_array && matches!(pcol.base_oid, oid::INT2 | oid::INT4 | oid::INT8) {
                let row = client
                    .query_one(
                        &format!(
                            "SELECT min({pk})::int8, max({pk})::int8 FROM {table} WHERE {not_null}"
                        ),
                        &[],
                    )
                    .await
                    .map_err(|e| pg_error(&ctx("min/max of splitPk"), &e))?;
                let (min, max): (Option<i64>, Option<i64>) = (row.get(0), row.get(1));
                let (Some(min), Some(max)) = (min, max) else {
                    whole(out);
                    return Ok(());
                };
                let conds = integer_ranges(pk, i128::from(min), i128::from(max), ranges);
                let n = conds.len();
                for c in conds {
                    out.push((
                        format!("{table}: {c}"),
                        spec(select_sql(&cols, table, w, Some(&c)), vec![]),
                        est(n),
                    ));
                }
                null_split(out);
                return Ok(());
            }
            // Any other orderable key: boundaries from percentile_disc over (a sample of)
            // the key, passed as bind parameters.
            let sample = if matches!(relkind.as_str(), "r" | "m") && reltuples > 200_000.0 {
                format!(
                    " TABLESAMPLE SYSTEM ({})",
                    (100.0 * 200_000.0 / reltuples).clamp(0.01, 100.0)
                )
            } else {
                String::new()
            };
            let fracs: Vec<f64> = (1..ranges).map(|i| i as f64 / ranges as f64).collect();
            let row = client
                .query_one(
                    &format!(
                        "SELECT (percentile_disc($1::float8[]) WITHIN GROUP (ORDER BY k))::text[] \
                         FROM (SELECT {pk} AS k FROM {table}{sample} WHERE {not_null}) s"
                    ),
                    &[&fracs],
                )
                .await
                .map_err(|e| pg_error(&ctx(&format!("splitPk \"{pk}\" boundaries")), &e))?;
            let mut bounds: Vec<String> = row
                .get::<_, Option<Vec<Option<String>>>>(0)
                .unwrap_or_default()
                .into_iter()
                .flatten()
                .collect();
            bounds.dedup();
            if bounds.is_empty() {
                whole(out);
                return Ok(());
            }
            let ty = &pcol.type_name;
            let lo = format!("{pk} >= current_setting('ferry.lo')::{ty}");
            let hi = format!("{pk} < current_setting('ferry.hi')::{ty}");
            let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
            let n = bounds.len() + 1;
            for i in 0..n {
                let (cond, settings, desc) = if i == 0 {
                    (
                        hi.clone(),
                        vec![("ferry.hi".to_string(), bounds[0].clone())],
                        format!("{pk} < {}", quote(&bounds[0])),
                    )
                } else if i == n - 1 {
                    (
                        lo.clone(),
                        vec![("ferry.lo".to_string(), bounds[i - 1].clone())],
                        format!("{pk} >= {}", quote(&bounds[i - 1])),
                    )
                } else {
                    (
                        format!("{lo} AND {hi}"),
                        vec![
                            ("ferry.lo".to_string(), bounds[i - 1].clone()),
                            ("ferry.hi".to_string(), bounds[i].clone()),
                        ],
                        format!(
                            "{pk} >= {} AND {pk} < {}",
                            quote(&bounds[i - 1]),
                            quote(&bounds[i])
                        ),
                    )
                };
                out.push((
                    format!("{table}: {desc}"),
                    spec(select_sql(&cols, table, w, Some(&cond)), settings),
                    est(n),
                ));
            }
            null_split(out);
            return Ok(());
        }
        if ctid_ok {
            ctid_split(out);
            return Ok(());
        }
        whole(out);
        Ok(())
    }
}

/// Tables of at least this many pages (8 MiB at the default block size) without a `where`
/// are split into page ranges even when they have a splitPk (see `plan_table`).
const PAGES_OVER_KEY: i64 = 1024;

fn describe_cols(cols: &[PgColumn]) -> String {
    cols.iter()
        .map(|c| format!("{} {}", c.name, c.type_name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A split's payload: what to read and under which snapshot (plain data, kept in the
/// run directory with the plan).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct SplitPayload {
    spec: SplitSpec,
    snapshot: Option<String>,
}

#[async_trait]
impl Reader for PostgresReader {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn plan(&self, channels: usize) -> Result<Vec<Split>> {
        let channels = channels.max(1);
        let total_tables: usize = self
            .dbs
            .iter()
            .map(|d| match &d.work {
                Work::Tables(t) => t.len(),
                Work::Queries(_) => 0,
            })
            .sum();
        let mut coords = self.coordinators.lock().await;
        let mut planned: Vec<(String, SplitSpec, Option<u64>, Option<String>)> = Vec::new();
        for (i, db) in self.dbs.iter().enumerate() {
            if coords[i].is_none() {
                coords[i] = Some(self.coordinator(i).await?);
            }
            let Some(coord) = coords[i].as_ref() else {
                return Err(Error::internal("coordinator vanished"));
            };
            let snap = coord.snapshot.clone();
            match &db.work {
                Work::Queries(qs) => {
                    for q in qs {
                        let sql = strip_semicolon(q).to_string();
                        planned.push((
                            sql.clone(),
                            SplitSpec {
                                db: i,
                                sql: sql.clone(),
                                settings: vec![],
                                source: sql,
                            },
                            None,
                            snap.clone(),
                        ));
                    }
                }
                Work::Tables(ts) => {
                    // DataX: split only when ceil(channels / tables) > 1; a single table
                    // gets splitFactor ranges per channel.
                    let (ranges, ctid) = if total_tables == 1 && channels > 1 {
                        (channels * self.cfg.split_factor, true)
                    } else if total_tables == 1 {
                        (1, false)
                    } else {
                        (channels.div_ceil(total_tables), false)
                    };
                    for t in ts {
                        let mut out = Vec::new();
                        self.plan_table(&coord.client, i, t, ranges, ctid, &mut out)
                            .await?;
                        planned.extend(out.into_iter().map(|(d, s, e)| (d, s, e, snap.clone())));
                    }
                }
            }
        }
        planned
            .into_iter()
            .enumerate()
            .map(|(index, (desc, spec, est, snapshot))| {
                let mut s = Split::new(index, desc, &SplitPayload { spec, snapshot })?;
                s.estimated_rows = est;
                Ok(s)
            })
            .collect()
    }

    async fn read(&self, split: &Split, opts: ReadOptions) -> Result<BatchStream> {
        let payload = split.decode::<SplitPayload>()?;
        let spec = &payload.spec;
        let ep = &self
            .dbs
            .get(spec.db)
            .ok_or_else(|| Error::internal("split names an unknown database"))?
            .endpoint;
        let ctx = format!(
            "reader postgresql: split {} ({})",
            split.index, split.description
        );
        let (client, tap) = ep.connect_tapped().await?;
        let mut begin = String::from("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        if let Some(snap) = &payload.snapshot {
            if !snap.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                return Err(Error::internal(format!("odd snapshot id {snap}")));
            }
            begin.push_str(&format!("; SET TRANSACTION SNAPSHOT '{snap}'"));
        }
        client
            .batch_execute(&begin)
            .await
            .map_err(|e| pg_error(&format!("{ctx}: joining the job's snapshot"), &e))?;
        for (name, value) in &spec.settings {
            client
                .execute("SELECT set_config($1, $2, true)", &[name, value])
                .await
                .map_err(|e| pg_error(&format!("{ctx}: setting {name}"), &e))?;
        }
        let copy = format!("COPY ({}) TO STDOUT (FORMAT binary)", spec.sql);
        tap.arm();
        let stream = client
            .copy_out(copy.as_str())
            .await
            .map_err(|e| pg_error(&ctx, &e))?;
        let decoder = CopyDecoder::new(
            self.schema.clone(),
            &self.columns,
            opts.batch_rows,
            opts.batch_bytes,
            ctx.clone(),
        )?;
        Ok(batch_stream(client, tap, Box::pin(stream), decoder, ctx))
    }

    async fn close(&self) -> Result<()> {
        let mut coords = self.coordinators.lock().await;
        for c in coords.iter_mut() {
            if let Some(c) = c.take() {
                if let Err(e) = c.client.batch_execute("COMMIT").await {
                    tracing::debug!("ending the snapshot transaction: {e}");
                }
            }
        }
        Ok(())
    }
}

struct ReadState {
    client: Client,
    tap: Tap,
    /// The buffer last taken from the tap (kept to reuse its allocation).
    taken: Vec<u8>,
    copy: Pin<Box<tokio_postgres::CopyOutStream>>,
    copy_ended: bool,
    decoder: Option<CopyDecoder>,
    ready: VecDeque<RecordBatch>,
    done: bool,
    ctx: String,
}

/// Turn a tapped COPY OUT into a batch stream, decoding as the consumer pulls: the rows
/// come from the tap in large chunks; the driver's COPY stream says when the COPY ended
/// and carries its errors (see [`crate::tap`]).
fn batch_stream(
    client: Client,
    tap: Tap,
    copy: Pin<Box<tokio_postgres::CopyOutStream>>,
    decoder: CopyDecoder,
    ctx: String,
) -> BatchStream {
    let state = ReadState {
        client,
        tap,
        taken: Vec::new(),
        copy,
        copy_ended: false,
        decoder: Some(decoder),
        ready: VecDeque::new(),
        done: false,
        ctx,
    };
    Box::pin(futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(b) = st.ready.pop_front() {
                return Some((Ok(b), st));
            }
            if st.done {
                return None;
            }
            st.tap.take(&mut st.taken);
            if !st.taken.is_empty() {
                if let Err(e) = decode(&mut st.decoder, &mut st.ready, &st.taken) {
                    st.done = true;
                    return Some((Err(e), st));
                }
                continue;
            }
            if st.copy_ended {
                st.done = true;
                st.tap.disarm();
                if let Some(dec) = st.decoder.take() {
                    match dec.finish() {
                        Ok(Some(b)) => st.ready.push_back(b),
                        Ok(None) => {}
                        Err(e) => return Some((Err(e), st)),
                    }
                }
                let _ = st.client.batch_execute("COMMIT").await;
                continue;
            }
            tokio::select! {
                item = st.copy.next() => match item {
                    // Rows the tap did not take (it takes all of them while armed).
                    Some(Ok(bytes)) => {
                        if let Err(e) = decode(&mut st.decoder, &mut st.ready, &bytes) {
                            st.done = true;
                            return Some((Err(e), st));
                        }
                    }
                    Some(Err(e)) => {
                        st.done = true;
                        let err = pg_error(&st.ctx, &e);
                        return Some((Err(err), st));
                    }
                    None => st.copy_ended = true,
                },
                _ = st.tap.arrived() => {}
            }
        }
    }))
}

/// Decode `bytes` of the COPY stream; full batches go to `ready`.
fn decode(
    decoder: &mut Option<CopyDecoder>,
    ready: &mut VecDeque<RecordBatch>,
    bytes: &[u8],
) -> Result<()> {
    let Some(dec) = decoder.as_mut() else {
        return Ok(());
    };
    let mut out = Vec::new();
    dec.push(bytes, &mut out)?;
    ready.extend(out);
    Ok(())
}

/// The first `limit` rows of `table` (optionally filtered), for `ferry preview`.
pub async fn preview(
    endpoint: &PgEndpoint,
    table: &str,
    limit: usize,
    where_: Option<&str>,
) -> Result<RecordBatch> {
    let client = endpoint.connect().await?;
    let sql = format!(
        "{} LIMIT {limit}",
        select_sql("*", table, where_.filter(|w| !w.trim().is_empty()), None)
    );
    let ctx = format!("preview {table} on {}", endpoint.display());
    let stmt = client.prepare(&sql).await.map_err(|e| pg_error(&ctx, &e))?;
    let cols = statement_columns(&client, &stmt).await?;
    let fields = cols.iter().map(arrow_field).collect::<Result<Vec<_>>>()?;
    let schema = Arc::new(Schema::new(fields));
    let mut dec = CopyDecoder::new(schema.clone(), &cols, limit.max(1), usize::MAX, ctx.clone())?;
    let stream = client
        .copy_out(format!("COPY ({sql}) TO STDOUT (FORMAT binary)").as_str())
        .await
        .map_err(|e| pg_error(&ctx, &e))?;
    let mut stream = Box::pin(stream);
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| pg_error(&ctx, &e))?;
        dec.push(&chunk, &mut out)?;
    }
    if let Some(b) = dec.finish()? {
        out.push(b);
    }
    Ok(arrow::compute::concat_batches(&schema, &out)?)
}
