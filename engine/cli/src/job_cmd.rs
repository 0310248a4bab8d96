//! `ferry job new` (the wizard) and `ferry job template` (commented job templates).

pub(crate) mod prompt;
pub mod template;
pub(crate) mod wizard;

use std::path::PathBuf;

use clap::{Args, Subcommand};
use ferry_core::Result;

/// `ferry job ...`
#[derive(Debug, Subcommand)]
pub enum JobCmd {
    /// Walk through a new job in the terminal and save it (every question has a flag).
    ///
    /// Example: ferry job new --from l_PostGreSql --table public.person --to odps_first --target-table hpg --partition 'pt=${bdp.system.bizdate}' --yes --out job.json
    New(Box<NewArgs>),
    /// Print a commented job template for a reader and a writer.
    ///
    /// Example: ferry job template --reader postgresql --writer odps
    Template(TemplateArgs),
}

/// `ferry job new` flags: one per question of the wizard.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// Source datasource (a catalog name), or `parquet` for local Parquet files.
    #[arg(long)]
    pub from: Option<String>,
    /// Source table (`schema.table`; for `--from parquet` a file, folder or glob).
    #[arg(long)]
    pub table: Option<String>,
    /// ODPS source: partitions to read (`pt=${bdp.system.bizdate}`, globs allowed).
    #[arg(long)]
    pub source_partition: Option<String>,
    /// Filter on the source (`where`); PostgreSQL SQL, or DataFusion SQL for Parquet.
    #[arg(long = "where")]
    pub where_: Option<String>,
    /// PostgreSQL source: integer column to split by (default: an integer primary key).
    #[arg(long)]
    pub split_pk: Option<String>,
    /// Target datasource (a catalog name), or `parquet` for local Parquet files.
    #[arg(long)]
    pub to: Option<String>,
    /// Target table (for `--to parquet` the folder to write).
    #[arg(long)]
    pub target_table: Option<String>,
    /// ODPS target: the partition to write (`pt=${bdp.system.bizdate}`).
    #[arg(long)]
    pub partition: Option<String>,
    /// Field mapping: `name` (default), `position` or `hand`.
    #[arg(long)]
    pub mapping: Option<String>,
    /// By hand: `TARGET=EXPRESSION` (a source column, an expression, or a constant 'abc' / 123); repeatable, implies --mapping hand.
    #[arg(long = "map", value_name = "TARGET=EXPRESSION")]
    pub map: Vec<String>,
    /// SQL run before the import (preSql); repeatable.
    #[arg(long)]
    pub pre_sql: Vec<String>,
    /// SQL run after the import (postSql); repeatable.
    #[arg(long)]
    pub post_sql: Vec<String>,
    /// PostgreSQL target, on a primary key conflict: `insert` (dirty data), `ignore` or `update`.
    #[arg(long)]
    pub conflict: Option<String>,
    /// Empty the target (table, partition or files) first: true or false (default: false for PostgreSQL, true otherwise).
    #[arg(long, value_name = "BOOL")]
    pub truncate: Option<bool>,
    /// Concurrent channels (default 2).
    #[arg(long)]
    pub concurrent: Option<u64>,
    /// Maximum rate in MiB/s (default: no cap).
    #[arg(long)]
    pub mbps: Option<f64>,
    /// Dirty records allowed before the job fails (errorLimit.record, default 0).
    #[arg(long)]
    pub error_limit: Option<u64>,
    /// Where to save the job (default: <source_table>_to_<target_table>.json).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Save in the DataX shape (`job.content[0]`) instead of DataWorks v1.
    #[arg(long)]
    pub datax: bool,
    /// Accept the default for every question not answered by a flag (no terminal needed).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Datasource catalog (default: $FERRY_CATALOG, else ~/.config/ferry/datasources.json).
    #[arg(long, env = "FERRY_CATALOG")]
    pub catalog: Option<PathBuf>,
}

/// `ferry job template` flags.
#[derive(Debug, Args)]
pub struct TemplateArgs {
    /// Reader: postgresql, odps, parquet or stream (DataX names like postgresqlreader too).
    #[arg(long, short = 'r')]
    pub reader: String,
    /// Writer: postgresql, odps, parquet or stream (DataX names like odpswriter too).
    #[arg(long, short = 'w')]
    pub writer: String,
    /// Print the DataX shape (`job.content[0]`) instead of DataWorks v1.
    #[arg(long)]
    pub datax: bool,
}

/// Run a `ferry job` subcommand.
pub async fn cmd(c: JobCmd) -> Result<i32> {
    match c {
        JobCmd::New(a) => wizard::run(*a).await,
        JobCmd::Template(a) => {
            let r = template::canonical(&a.reader, template::Role::Reader)?;
            let w = template::canonical(&a.writer, template::Role::Writer)?;
            print!("{}", template::render(r, w, a.datax));
            Ok(0)
        }
    }
}
