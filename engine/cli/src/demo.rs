//! `ferry demo`: the README's first command. Starts a throwaway PostgreSQL and a local
//! MaxCompute endpoint, writes a catalog with `l_PostGreSql` and `odps_first`, creates
//! `public.person` and `hpg`, fills `hpg` for the business date, then runs the two seed
//! jobs unchanged (import ODPS → PostgreSQL, export PostgreSQL → ODPS into the next
//! partition), previews both sides, stages the table to Parquet and queries it with SQL.
//! Exits 0 only if every step's counts matched.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;
use ferry_core::catalog::{Catalog, Datasource};
use ferry_core::dirty::DirtyCollector;
use ferry_core::job::parse_job;
use ferry_core::plugin::{BuildContext, WriterFactory};
use ferry_core::vars::VarContext;
use ferry_core::{Error, Result};
use ferry_odps::OdpsSource;
use ferry_runtime::{run_job, RunOptions, Summary};

use crate::pglocal::LocalPostgres;

/// The seed's jobs, shipped unchanged.
pub const SEED_IMPORT: &str =
    include_str!("../../../testdata/jobs/seed-import-odps-to-postgresql.json");
/// The seed's export job.
pub const SEED_EXPORT: &str =
    include_str!("../../../testdata/jobs/seed-export-postgresql-to-odps.json");

const ACCESS_ID: &str = "ferry-demo";

/// Options of `ferry demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Business date of the import (the export writes the next day's partition).
    pub bizdate: NaiveDate,
    /// Rows in `hpg`.
    pub rows: usize,
    /// Leave the servers running.
    pub keep: bool,
    /// Working directory (default: a new temp dir).
    pub dir: Option<PathBuf>,
}

fn step(n: usize, text: &str) {
    println!("\n[{n}] {text}");
}

fn sample(rows: usize) -> Result<RecordBatch> {
    let names = [
        "Alice", "Bob", "Chen", "Dana", "Eitan", "Fatima", "Gao", "Hiro",
    ];
    let interests = ["hiking", "chess", "", "music", "sailing"];
    let ids: Vec<i64> = (1..=rows as i64).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("year", DataType::Int64, true),
        Field::new(
            "birthdate",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            true,
        ),
        Field::new("ismarried", DataType::Boolean, true),
        Field::new("interest", DataType::Utf8, true),
        Field::new("salary", DataType::Float64, true),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids.clone())),
        Arc::new(StringArray::from_iter_values(
            ids.iter()
                .map(|i| format!("{}-{i}", names[*i as usize % names.len()])),
        )),
        Arc::new(Int64Array::from_iter_values(
            ids.iter().map(|i| 1950 + i % 60),
        )),
        Arc::new(TimestampMillisecondArray::from_iter_values(
            ids.iter().map(|i| -631_152_000_000 + i * 86_400_000 * 97),
        )),
        Arc::new(BooleanArray::from_iter(
            ids.iter().map(|i| Some(i % 3 == 0)),
        )),
        Arc::new(StringArray::from_iter(ids.iter().map(|i| {
            if i % 11 == 0 {
                None
            } else {
                Some(interests[*i as usize % interests.len()])
            }
        }))),
        Arc::new(Float64Array::from_iter_values(
            ids.iter().map(|i| 3000.0 + (*i as f64) * 12.5),
        )),
    ];
    Ok(RecordBatch::try_new(schema, cols)?)
}

async fn run_seed(
    title: &str,
    text: &str,
    bizdate: NaiveDate,
    catalog: &Arc<Catalog>,
    dir: &Path,
) -> Result<Summary> {
    let vars = VarContext::new(
        Some(bizdate),
        None,
        chrono::Local::now().date_naive(),
        Default::default(),
    );
    let job = parse_job(text, title, &vars)?;
    let plugins = ferry_runtime::Plugins::named(job.reader.plugin, job.writer.plugin)?;
    let ctx = BuildContext::for_job(Arc::clone(catalog), &job);
    let opts = RunOptions {
        dirty_file: Some(dir.join(format!("{title}.dirty.jsonl"))),
        progress_every: None,
        bizdate: Some(bizdate.format("%Y%m%d").to_string()),
        ..Default::default()
    };
    let (summary, err) = run_job(&job, &plugins, &ctx, &opts).await;
    print!("{summary}");
    if let Some(e) = err {
        return Err(e);
    }
    Ok(summary)
}

fn expect(what: &str, got: u64, want: u64) -> Result<()> {
    if got == want {
        println!("    ok: {what} = {got}");
        Ok(())
    } else {
        Err(Error::data(format!(
            "demo check failed: {what} = {got}, expected {want}"
        )))
    }
}

/// Run the demo.
pub async fn run(opts: DemoOptions) -> Result<()> {
    let tmp;
    let dir = match &opts.dir {
        Some(d) => {
            std::fs::create_dir_all(d)
                .map_err(|e| Error::io(format!("creating {}", d.display()), e))?;
            d.clone()
        }
        None => {
            tmp = tempdir()?;
            tmp.clone()
        }
    };
    let bizdate = opts.bizdate;
    let next = bizdate + chrono::Duration::days(1);
    println!("ferry demo in {}", dir.display());

    step(1, "starting a throwaway PostgreSQL");
    let mut pg = LocalPostgres::start()?;
    println!("    {}", pg.jdbc_url);

    step(
        2,
        "starting the local MaxCompute endpoint (ferry odps serve)",
    );
    let key = format!("demo-{}", std::process::id());
    let mut sopts = ferry_odps_server::ServeOptions::new(dir.join("odps"));
    sopts.auth = ferry_odps_server::Auth::Keys {
        access_id: ACCESS_ID.into(),
        access_key: key.clone(),
    };
    let server = ferry_odps_server::start(sopts).await?;
    println!(
        "    {} (tunnel {})",
        server.endpoint(),
        server.tunnel_endpoint()
    );

    step(
        3,
        "writing the datasource catalog (l_PostGreSql, odps_first)",
    );
    let catalog_path = dir.join("datasources.json");
    let mut catalog = Catalog::empty(Some(catalog_path.clone()));
    catalog.insert(
        "l_PostGreSql",
        Datasource::new(ferry_postgres::CONNECTOR.name)
            .with("description", "ferry demo PostgreSQL")
            .with("jdbcUrl", &pg.jdbc_url)
            .with("username", "ferry")
            .with("password", "ferry"),
    )?;
    let odps = OdpsSource {
        description: Some("ferry demo local MaxCompute".into()),
        endpoint: server.endpoint(),
        tunnel_endpoint: Some(server.tunnel_endpoint()),
        project: "demo".into(),
        access_id: Some(ACCESS_ID.into()),
        access_key: Some(key.clone()),
        access_key_env: None,
    };
    catalog.insert("odps_first", odps.to_datasource())?;
    catalog.save()?;
    let catalog = Arc::new(catalog);
    println!("    {}", catalog_path.display());

    step(
        4,
        "creating public.person in PostgreSQL and hpg in MaxCompute",
    );
    let ep = ferry_postgres::PgEndpoint::parse(&pg.url, None, None)?;
    let client = ep.connect().await?;
    client
        .batch_execute(
            "CREATE TABLE public.person (id bigint PRIMARY KEY, name text, year bigint, birthdate timestamp, ismarried boolean, interest text, salary double precision)",
        )
        .await
        .map_err(|e| ferry_postgres::pg_error("creating public.person", &e))?;
    ferry_odps::run_sql(
        &odps,
        "CREATE TABLE hpg (id BIGINT, name STRING, year BIGINT, birthdate DATETIME, ismarried BOOLEAN, interest STRING, salary DOUBLE) PARTITIONED BY (pt STRING)",
    )
    .await?;

    step(
        5,
        &format!(
            "filling hpg partition pt={} with {} rows",
            bizdate.format("%Y%m%d"),
            opts.rows
        ),
    );
    {
        let batch = sample(opts.rows)?;
        let params = serde_json::json!({
            "datasource": "odps_first",
            "table": "hpg",
            "partition": format!("pt={}", bizdate.format("%Y%m%d")),
            "column": ["id", "name", "year", "birthdate", "ismarried", "interest", "salary"],
            "truncate": true
        });
        let ctx = BuildContext {
            catalog: Arc::clone(&catalog),
            channels: 1,
            job_name: "demo-fill".into(),
            source_schema: Some(batch.schema()),
            run_id: ferry_core::plugin::new_run_id(),
        };
        let writer = ferry_odps::OdpsWriterFactory
            .build(&params, "demo.fill", &ctx)
            .await?;
        writer.prepare(&[]).await?;
        let target = writer.schema();
        let mut cols = Vec::new();
        for (c, f) in batch.columns().iter().zip(target.fields()) {
            cols.push(arrow::compute::cast(c, f.data_type())?);
        }
        let cast = RecordBatch::try_new(target, cols)?;
        let mut sink = writer.open(0, DirtyCollector::in_memory()).await?;
        sink.begin(&ferry_core::plugin::Split::new(0, "demo rows", &())?)
            .await?;
        sink.write(cast).await?;
        let receipt = sink.end().await?;
        sink.close().await?;
        writer.commit(vec![receipt]).await?;
    }
    let want = opts.rows as u64;

    step(
        6,
        "running the seed import job unchanged: ODPS hpg → PostgreSQL public.person",
    );
    let s = run_seed(
        "seed-import-odps-to-postgresql",
        SEED_IMPORT,
        bizdate,
        &catalog,
        &dir,
    )
    .await?;
    expect("records read", s.records_read, want)?;
    expect("records written", s.records_written, want)?;
    let row = client
        .query_one("SELECT count(*) FROM public.person", &[])
        .await
        .map_err(|e| ferry_postgres::pg_error("counting public.person", &e))?;
    let n: i64 = row.get(0);
    expect("rows in public.person", n as u64, want)?;

    step(
        7,
        &format!(
            "running the seed export job unchanged: PostgreSQL → ODPS hpg pt={}",
            next.format("%Y%m%d")
        ),
    );
    let s = run_seed(
        "seed-export-postgresql-to-odps",
        SEED_EXPORT,
        next,
        &catalog,
        &dir,
    )
    .await?;
    expect("records read", s.records_read, want)?;
    expect("records written", s.records_written, want)?;

    step(8, "previewing both sides");
    let left = ferry_postgres::preview(&ep, "public.person", 5, None).await?;
    println!(
        "{}",
        ferry_transform::sql::format_batches(&[left], ferry_transform::sql::OutputFormat::Table)?
    );
    let right = ferry_odps::preview(
        &odps,
        "hpg",
        Some(&format!("pt={}", next.format("%Y%m%d"))),
        5,
    )
    .await?;
    println!(
        "{}",
        ferry_transform::sql::format_batches(&[right], ferry_transform::sql::OutputFormat::Table)?
    );

    step(
        9,
        "staging public.person to Parquet and querying it with SQL",
    );
    let staged = dir.join("staged/person");
    let stage_job = serde_json::json!({
        "job": {
            "setting": {"speed": {"channel": 2}},
            "content": [{
                "reader": {"name": "postgresqlreader", "parameter": {
                    "datasource": "l_PostGreSql", "table": "public.person",
                    "column": ["id", "name", "year", "birthdate", "ismarried", "interest", "salary"],
                    "splitPk": "id"}},
                "writer": {"name": "parquetwriter", "parameter": {
                    "path": staged.display().to_string(), "fileName": "person",
                    "writeMode": "truncate", "partitionBy": format!("pt={}", bizdate.format("%Y%m%d"))}}
            }]
        }
    });
    let stage_path = dir.join("stage-person-to-parquet.json");
    std::fs::write(
        &stage_path,
        serde_json::to_string_pretty(&stage_job).unwrap_or_default(),
    )
    .map_err(|e| Error::io("writing the staging job", e))?;
    let text = std::fs::read_to_string(&stage_path)
        .map_err(|e| Error::io("reading the staging job", e))?;
    let s = run_seed("stage-person-to-parquet", &text, bizdate, &catalog, &dir).await?;
    expect("records staged", s.records_written, want)?;
    let q = format!(
        "SELECT pt, count(*) AS people, round(avg(salary), 2) AS avg_salary, sum(CASE WHEN ismarried THEN 1 ELSE 0 END) AS married FROM '{}/**/*.parquet' GROUP BY pt",
        staged.display()
    );
    println!("    ferry sql \"{q}\"");
    let (_, batches) = ferry_transform::sql::query(&q).await?;
    println!(
        "{}",
        ferry_transform::sql::format_batches(&batches, ferry_transform::sql::OutputFormat::Table)?
    );

    println!("\nAll steps matched. To repeat by hand:");
    println!("  export FERRY_CATALOG={}", catalog_path.display());
    println!(
        "  ferry run testdata/jobs/seed-import-odps-to-postgresql.json --bizdate {}",
        bizdate.format("%Y%m%d")
    );
    println!(
        "  ferry run testdata/jobs/seed-export-postgresql-to-odps.json --bizdate {}",
        next.format("%Y%m%d")
    );
    println!("  ferry preview l_PostGreSql --table public.person --limit 5");
    println!("  ferry run {}", stage_path.display());
    println!(
        "  ferry sql \"SELECT count(*) FROM '{}/**/*.parquet'\"",
        staged.display()
    );
    if opts.keep {
        pg.keep();
        println!(
            "\n--keep: PostgreSQL stays at {} (stop: pg_ctl -D {}/data stop).",
            pg.url,
            pg.dir().display()
        );
        println!("The local MaxCompute runs until you press Ctrl-C.");
        tokio::signal::ctrl_c()
            .await
            .map_err(|e| Error::io("waiting for Ctrl-C", e))?;
    }
    server.shutdown().await?;
    drop(pg);
    if opts.dir.is_none() && !opts.keep {
        std::fs::remove_dir_all(&dir).ok();
    }
    Ok(())
}

fn tempdir() -> Result<PathBuf> {
    let base = std::env::temp_dir().join(format!(
        "ferry-demo-{}-{}",
        std::process::id(),
        chrono::Local::now().format("%H%M%S")
    ));
    std::fs::create_dir_all(&base)
        .map_err(|e| Error::io(format!("creating {}", base.display()), e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).ok();
    }
    Ok(base)
}
