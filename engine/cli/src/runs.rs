//! `ferry runs`: the run directories a run keeps while it goes on (see
//! `ferry_runtime::state`), and `ferry runs abort ID` to undo what a run that died staged.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};
use ferry_core::job::load_job_with;
use ferry_core::plugin::BuildContext;
use ferry_core::{Error, Result};
use ferry_runtime::state::{self, Liveness, RunDir, RunInfo};
use ferry_runtime::{JobPlan, StateOptions};
use serde::{Deserialize, Serialize};

use crate::commands::{load_catalog, var_contexts, JobArgs};

/// `ferry runs [list | abort ID] [--state DIR]`.
#[derive(Debug, Args)]
pub(crate) struct RunsArgs {
    #[command(subcommand)]
    cmd: Option<RunsCmd>,
    /// The runs folder (as given to `ferry run --state`).
    #[arg(long, global = true, default_value = state::DEFAULT_ROOT)]
    state: PathBuf,
}

#[derive(Debug, Subcommand)]
enum RunsCmd {
    /// List run directories: runs in progress, runs that died (abandoned), runs whose
    /// rollback failed. (The default.)
    List,
    /// Undo what a run that died staged (prepared transactions, staging tables, temporary
    /// files) and remove its directory. Refused while the run's process is alive.
    ///
    /// Example: ferry runs abort r20261205_081502_3fa9c1
    Abort {
        /// The run id (first column of `ferry runs`).
        id: String,
    },
}

/// How `ferry run` was called, kept in the run directory so that `ferry runs abort` can
/// build the same job (the variables of this business date, the same catalog).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Invocation {
    /// The job file, absolute.
    pub job: PathBuf,
    /// `-p` values.
    pub params: Vec<String>,
    /// This run's business date (YYYYMMDD).
    pub bizdate: String,
    /// `--cyctime`.
    pub cyctime: Option<String>,
    /// `--catalog`.
    pub catalog: Option<PathBuf>,
}

impl Invocation {
    pub(crate) fn new(a: &JobArgs, bizdate: &str) -> Invocation {
        Invocation {
            job: std::fs::canonicalize(&a.job).unwrap_or_else(|_| a.job.clone()),
            params: a.params.clone(),
            bizdate: bizdate.to_string(),
            cyctime: a.cyctime.clone(),
            catalog: a
                .catalog
                .as_ref()
                .map(|c| std::fs::canonicalize(c).unwrap_or_else(|_| c.clone())),
        }
    }

    pub(crate) fn state(&self, root: &Path) -> Result<StateOptions> {
        Ok(StateOptions {
            root: root.to_path_buf(),
            invocation: self.to_value()?,
        })
    }

    /// As recorded in `run.json`.
    pub(crate) fn to_value(&self) -> Result<serde_json::Value> {
        serde_json::to_value(self).map_err(|e| Error::internal(format!("run invocation: {e}")))
    }

    fn job_args(&self) -> JobArgs {
        JobArgs {
            job: self.job.clone(),
            params: self.params.clone(),
            bizdate: Some(self.bizdate.clone()),
            cyctime: self.cyctime.clone(),
            catalog: self.catalog.clone(),
        }
    }
}

/// Runs of the job at `job` that died or failed to roll back, for `ferry run` to mention.
pub(crate) fn predecessors(root: &Path, job: &Path) -> Vec<RunInfo> {
    let job = std::fs::canonicalize(job).unwrap_or_else(|_| job.to_path_buf());
    state::list(root)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| matches!(r.liveness, Liveness::Abandoned | Liveness::Failed))
        .filter(|r| {
            serde_json::from_value::<Invocation>(r.record.invocation.clone())
                .is_ok_and(|i| i.job == job)
        })
        .collect()
}

/// The run `ferry run --resume` takes over: the newest abandoned run of this job file for
/// this business date and these `-p` values.
pub(crate) fn to_resume(root: &Path, a: &JobArgs, bizdate: &str) -> Result<String> {
    let me = Invocation::new(a, bizdate);
    let found = state::list(root)?.into_iter().rfind(|r| {
        r.liveness == Liveness::Abandoned
            && serde_json::from_value::<Invocation>(r.record.invocation.clone())
                .is_ok_and(|i| i.job == me.job && i.bizdate == me.bizdate && i.params == me.params)
    });
    match found {
        Some(r) => Ok(r.record.run_id),
        None => Err(Error::config(format!(
            "--resume: no abandoned run of {} for business date {bizdate} in {} (see `ferry runs --state {}`)",
            a.job.display(),
            root.display(),
            root.display()
        ))),
    }
}

pub(crate) async fn cmd(a: RunsArgs) -> Result<i32> {
    match a.cmd.unwrap_or(RunsCmd::List) {
        RunsCmd::List => list(&a.state),
        RunsCmd::Abort { id } => abort(&a.state, &id).await,
    }
}

fn list(root: &Path) -> Result<i32> {
    let runs = state::list(root)?;
    if runs.is_empty() {
        println!("no runs in {}", root.display());
        return Ok(0);
    }
    println!(
        "{:<25} {:<10} {:<21} {:>11}  JOB",
        "ID", "STATE", "STARTED", "SPLITS DONE"
    );
    for r in &runs {
        let rec = &r.record;
        let state = match (&r.liveness, rec.status) {
            (Liveness::Alive, state::RunStatus::Committing) => "committing".to_string(),
            (Liveness::Elsewhere, _) => format!("on {}", rec.host),
            (l, _) => l.to_string(),
        };
        println!(
            "{:<25} {:<10} {:<21} {:>11}  {}",
            rec.run_id,
            state,
            rec.started,
            format!("{}/{}", r.done, rec.splits.len()),
            rec.job
        );
        if let Some(e) = &rec.error {
            println!("    {e}");
        }
    }
    if runs
        .iter()
        .any(|r| matches!(r.liveness, Liveness::Abandoned | Liveness::Failed))
    {
        println!("undo what a run staged: ferry runs abort ID");
    }
    Ok(0)
}

async fn abort(root: &Path, id: &str) -> Result<i32> {
    let dir = RunDir::open(root, id)?;
    let rec = dir.record()?;
    match state::liveness(&rec) {
        Liveness::Alive => {
            return Err(Error::config(format!(
            "run {id} is still running (pid {}): stop it first (Ctrl-C or SIGTERM rolls it back)",
            rec.pid
        )))
        }
        Liveness::Elsewhere => {
            return Err(Error::config(format!(
                "run {id} was started on {}: abort it there, where its process can be checked",
                rec.host
            )))
        }
        Liveness::Abandoned | Liveness::Failed => {}
    }
    let writer = writer_of_run(&dir.path().display().to_string(), &rec).await?;
    // From here on the run cannot be resumed: part of what it staged may be gone.
    dir.update(|r| {
        r.status = state::RunStatus::Failed;
        r.error = Some("`ferry runs abort` began rolling it back".to_string());
    })?;
    let receipts = dir.receipts()?;
    writer
        .abort(receipts)
        .await
        .map_err(|e| e.context(format!("run {id}: rolling back")))?;
    dir.remove()?;
    println!(
        "aborted run {id} of {}: what it staged in the {} writer is gone",
        rec.job, rec.writer
    );
    Ok(0)
}

/// The writer of the run recorded at `location`, built again from how the run was started (the
/// job file, its variables, the catalog), without reaching the source when the run
/// recorded what the writer takes.
pub(crate) async fn writer_of_run(
    location: &str,
    rec: &state::RunRecord,
) -> Result<Arc<dyn ferry_core::plugin::Writer>> {
    let id = &rec.run_id;
    let inv: Invocation = serde_json::from_value(rec.invocation.clone()).map_err(|e| {
        Error::config(format!(
            "{location}: cannot tell how run {id} was started: {e}"
        ))
    })?;
    let args = inv.job_args();
    let catalog = load_catalog(args.catalog.as_deref())?;
    let vars = var_contexts(&args)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::internal("no variable context"))?;
    let job = load_job_with(&args.job, &vars, Some(&*catalog)).map_err(|e| {
        e.context(format!(
            "run {id}: rebuilding its job from {}",
            args.job.display()
        ))
    })?;
    let ctx = BuildContext {
        channels: rec.channels.max(1),
        run_id: rec.run_id.clone(),
        ..BuildContext::for_job(Arc::clone(&catalog), &job)
    };
    let plugins = ferry_runtime::Plugins::named(job.reader.plugin, job.writer.plugin)?;
    // The writer alone when the run recorded what it takes (the source may be gone).
    Ok(match rec.writer_input.as_deref() {
        Some(hex) => {
            let input = state::decode_schema(hex)?;
            JobPlan::build_writer(&job, &plugins, &ctx, input).await?
        }
        None => {
            let plan = JobPlan::build(&job, &plugins, &ctx).await?;
            let _ = plan.reader.close().await;
            plan.writer
        }
    })
}
