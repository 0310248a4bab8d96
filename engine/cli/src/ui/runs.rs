//! Runs started from the console: each one is `ferry run` (this binary) as a child process,
//! so a run does exactly what the command does. Its stderr progress lines become live
//! progress events, its `--summary-json` the summary, its `--dirty-file` the dirty records,
//! and SIGTERM its cancel (the same clean abort as Ctrl-C). Each run keeps a folder
//! `<jobs>/ferry-runs/ui/<id>/` with `run.json`, `summary.json`, `dirty.jsonl` and `log.txt`:
//! the run history.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ferry_core::{Error, Result};
use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::broadcast;

/// Lines of output kept per run (the rest is in `log.txt`).
const LOG_LINES: usize = 400;

/// The live numbers of a run, from `ferry run`'s progress line.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Seconds since the job started.
    pub elapsed_secs: f64,
    /// Records read so far.
    pub records: u64,
    /// Bytes read so far, as the runtime prints them (`12.3 MiB`).
    pub bytes: String,
    /// Read speed, bytes per second (`1.2 MiB/s`).
    pub speed: String,
    /// Records per second over the last interval.
    pub records_per_sec: f64,
    /// Records written.
    pub written: u64,
    /// Records filtered out.
    pub filtered: u64,
    /// Dirty records.
    pub dirty: u64,
    /// Splits finished.
    pub splits_done: u64,
    /// Splits planned.
    pub splits_total: u64,
    /// Seconds left, estimated from the splits finished so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_secs: Option<f64>,
}

/// Parse `[    3s] Total 1234 records, 1.2 MiB | Speed 10 KiB/s, 400 records/s | Written 100
/// | Filtered 0 | Dirty 0 | Splits 1/4 (25%)`; None for any other line.
pub fn parse_progress(line: &str) -> Option<Progress> {
    let rest = line.trim().strip_prefix('[')?;
    let (elapsed, rest) = rest.split_once("s]")?;
    let mut p = Progress {
        elapsed_secs: elapsed.trim().parse().ok()?,
        ..Default::default()
    };
    let mut seen_total = false;
    for part in rest.split('|').map(str::trim) {
        let (key, val) = part.split_once(' ')?;
        let val = val.trim();
        match key {
            "Total" => {
                let (n, bytes) = val.split_once(" records,")?;
                p.records = n.trim().parse().ok()?;
                p.bytes = bytes.trim().to_string();
                seen_total = true;
            }
            "Speed" => {
                let (speed, rps) = val.split_once(',')?;
                p.speed = speed.trim().to_string();
                p.records_per_sec = rps
                    .trim()
                    .trim_end_matches("records/s")
                    .trim()
                    .parse()
                    .ok()?;
            }
            "Written" => p.written = val.parse().ok()?,
            "Filtered" => p.filtered = val.parse().ok()?,
            "Dirty" => p.dirty = val.parse().ok()?,
            "Splits" => {
                let frac = val.split_whitespace().next()?;
                let (d, t) = frac.split_once('/')?;
                p.splits_done = d.parse().ok()?;
                p.splits_total = t.parse().ok()?;
            }
            _ => {}
        }
    }
    if !seen_total {
        return None;
    }
    if p.splits_done > 0 && p.splits_total >= p.splits_done {
        let left = (p.splits_total - p.splits_done) as f64;
        p.eta_secs = Some(p.elapsed_secs * left / p.splits_done as f64);
    }
    Some(p)
}

/// What a run is and how it went (`run.json`, the run history's entries).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunInfo {
    /// The run's id (its folder name).
    pub id: String,
    /// Job file name in the jobs folder.
    pub job: String,
    /// `--bizdate` as given (a date or a range).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bizdate: Option<String>,
    /// `-p` values.
    pub params: Vec<String>,
    /// `running`, `success`, `failed` or `cancelled`.
    pub status: String,
    /// Local start time.
    pub started: String,
    /// `ferry run`'s exit code once it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The last progress seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
    /// `ferry run --summary-json`: one summary, or one per business date for a range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<Value>,
    /// The error line, when the run failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the event stream sends.
#[derive(Debug, Clone)]
pub enum Event {
    /// A progress line.
    Progress(Progress),
    /// Any other output line.
    Log(String),
    /// The run ended; its final state.
    End(Box<RunInfo>),
}

/// One run.
pub struct Run {
    /// Where its files are.
    pub dir: PathBuf,
    started: Instant,
    pid: Option<u32>,
    state: Mutex<(RunInfo, Vec<String>, bool)>,
    tx: broadcast::Sender<Event>,
}

impl Run {
    /// The current state and the output lines kept.
    pub fn snapshot(&self) -> (RunInfo, Vec<String>) {
        match self.state.lock() {
            Ok(g) => (g.0.clone(), g.1.clone()),
            Err(p) => {
                let g = p.into_inner();
                (g.0.clone(), g.1.clone())
            }
        }
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    fn update(&self, f: impl FnOnce(&mut (RunInfo, Vec<String>, bool))) {
        match self.state.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// Seconds since it started.
    pub fn age_secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

/// The runs of this console.
pub struct Runs {
    dir: PathBuf,
    exe: PathBuf,
    catalog: PathBuf,
    active: Mutex<HashMap<String, Arc<Run>>>,
}

impl Runs {
    /// Runs kept under `dir`, started as `exe run ... --catalog catalog`.
    pub fn new(dir: PathBuf, exe: PathBuf, catalog: PathBuf) -> Self {
        Runs {
            dir,
            exe,
            catalog,
            active: Mutex::new(HashMap::new()),
        }
    }

    fn active(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Run>>> {
        match self.active.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// A run started by this console (running or ended).
    pub fn get(&self, id: &str) -> Option<Arc<Run>> {
        self.active().get(id).cloned()
    }

    /// The folder of run `id` (checked to be a plain name).
    pub fn dir_of(&self, id: &str) -> Result<PathBuf> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(Error::config(format!("run id \"{id}\": no such run")));
        }
        Ok(self.dir.join(id))
    }

    /// Start `ferry run <job> [--bizdate B] [-p ...]`.
    pub fn start(
        &self,
        job_file: &str,
        job_path: &Path,
        bizdate: Option<String>,
        params: Vec<String>,
    ) -> Result<Arc<Run>> {
        let id = format!(
            "{}-{:04x}",
            chrono::Local::now().format("%Y%m%d-%H%M%S"),
            rand::random::<u16>()
        );
        let dir = self.dir.join(&id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let mut cmd = tokio::process::Command::new(&self.exe);
        cmd.arg("run")
            .arg(job_path)
            .args(["--progress-secs", "1", "--summary-json"])
            .arg(dir.join("summary.json"))
            .arg("--dirty-file")
            .arg(dir.join("dirty.jsonl"))
            .arg("--catalog")
            .arg(&self.catalog)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(false);
        if let Some(b) = &bizdate {
            cmd.args(["--bizdate", b]);
        }
        for p in &params {
            cmd.arg("-p").arg(p);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::io(format!("starting {} run", self.exe.display()), e))?;
        let info = RunInfo {
            id: id.clone(),
            job: job_file.to_string(),
            bizdate,
            params,
            status: "running".into(),
            started: chrono::Local::now().format("%Y-%m-%d %H:%M:%S").to_string(),
            exit_code: None,
            progress: None,
            summary: None,
            error: None,
        };
        write_info(&dir, &info);
        let (tx, _) = broadcast::channel(256);
        let run = Arc::new(Run {
            dir: dir.clone(),
            started: Instant::now(),
            pid: child.id(),
            state: Mutex::new((info, Vec::new(), false)),
            tx,
        });
        self.active().insert(id, Arc::clone(&run));

        let stderr = child.stderr.take();
        let stdout = child.stdout.take();
        let r = Arc::clone(&run);
        tokio::spawn(async move {
            let out = tokio::spawn(pump(Arc::clone(&r), stdout));
            pump(Arc::clone(&r), stderr).await;
            let _ = out.await;
            let status = child.wait().await;
            finish(&r, status.ok().and_then(|s| s.code()));
        });
        Ok(run)
    }

    /// Ask a run to stop (SIGTERM: `ferry run` cancels, its writer rolls back).
    pub async fn cancel(&self, run: &Run) -> Result<bool> {
        let running = run.snapshot().0.status == "running";
        let Some(pid) = run.pid.filter(|_| running) else {
            return Ok(false);
        };
        run.update(|s| s.2 = true);
        let status = tokio::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .map_err(|e| Error::io("sending SIGTERM to the run", e))?;
        Ok(status.success())
    }

    /// Cancel every run still going (the console is stopping).
    pub async fn cancel_all(&self) {
        let runs: Vec<Arc<Run>> = self.active().values().cloned().collect();
        for r in runs {
            let _ = self.cancel(&r).await;
        }
    }

    /// The run history, newest first; `job` keeps one job's runs.
    pub fn history(&self, job: Option<&str>) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return out;
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        for id in ids {
            let info = match self.get(&id) {
                Some(r) => serde_json::to_value(r.snapshot().0).ok(),
                None => std::fs::read_to_string(self.dir.join(&id).join("run.json"))
                    .ok()
                    .and_then(|t| serde_json::from_str::<Value>(&t).ok()),
            };
            if let Some(v) = info {
                if job.is_none_or(|j| v.get("job").and_then(Value::as_str) == Some(j)) {
                    out.push(v);
                }
            }
        }
        out
    }
}

async fn pump<R: tokio::io::AsyncRead + Unpin>(run: Arc<Run>, pipe: Option<R>) {
    let Some(pipe) = pipe else { return };
    let mut lines = BufReader::new(pipe).lines();
    let log_path = run.dir.join("log.txt");
    while let Ok(Some(line)) = lines.next_line().await {
        {
            use std::io::Write;
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
            {
                let _ = writeln!(f, "{line}");
            }
        }
        if let Some(p) = parse_progress(&line) {
            run.update(|s| s.0.progress = Some(p.clone()));
            let _ = run.tx.send(Event::Progress(p));
        } else {
            run.update(|s| {
                if let Some(e) = line.strip_prefix("error: ") {
                    s.0.error = Some(e.to_string());
                }
                if s.1.len() < LOG_LINES {
                    s.1.push(line.clone());
                }
            });
            let _ = run.tx.send(Event::Log(line));
        }
    }
}

fn finish(run: &Run, code: Option<i32>) {
    let summary = std::fs::read_to_string(run.dir.join("summary.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok());
    let mut info = None;
    run.update(|s| {
        s.0.exit_code = code;
        s.0.summary = summary;
        s.0.status = match (code, s.2) {
            (Some(0), _) => "success",
            (_, true) => "cancelled",
            _ => "failed",
        }
        .to_string();
        info = Some(s.0.clone());
    });
    if let Some(info) = info {
        write_info(&run.dir, &info);
        let _ = run.tx.send(Event::End(Box::new(info)));
    }
}

fn write_info(dir: &Path, info: &RunInfo) {
    if let Ok(text) = serde_json::to_string_pretty(info) {
        let _ = std::fs::write(dir.join("run.json"), text + "\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_parse() {
        ferry_connectors::install();
        let p = parse_progress("[     4s] Total 1234 records, 1.2 MiB | Speed 10.0 KiB/s, 400 records/s | Written 1200 | Filtered 30 | Dirty 4 | Splits 1/4 (25%)").unwrap();
        assert_eq!(p.records, 1234);
        assert_eq!(p.bytes, "1.2 MiB");
        assert_eq!(p.speed, "10.0 KiB/s");
        assert_eq!(p.records_per_sec, 400.0);
        assert_eq!((p.written, p.filtered, p.dirty), (1200, 30, 4));
        assert_eq!((p.splits_done, p.splits_total), (1, 4));
        assert_eq!(p.eta_secs, Some(12.0));
        assert!(parse_progress("note: something").is_none());
        assert!(parse_progress("[x] y").is_none());
    }
}
