//! ferry's log lines on stderr: no colour codes when stderr is a pipe or a file (a
//! scheduler's capture), colour on a terminal unless `NO_COLOR` is set, and
//! `--log-format json` writes one JSON object per log line.

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

/// A stream job whose reader has a key ferry ignores, so building it logs a warning.
const JOB: &str = r#"{"job": {"setting": {"speed": {"channel": 1}}, "content": [{
    "reader": {"name": "streamreader", "parameter": {
        "column": [{"type": "long", "value": 1}], "sliceRecordCount": 10, "encoding": "UTF-8"}},
    "writer": {"name": "streamwriter", "parameter": {"print": false}}}]}}"#;

fn write_job(dir: &Path) -> std::path::PathBuf {
    let job = dir.join("job.json");
    std::fs::write(&job, JOB).unwrap();
    job
}

fn ferry(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
    cmd.env_remove("NO_COLOR")
        .env_remove("FERRY_LOG")
        .current_dir(dir);
    cmd
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The lines of `stderr` that the log subscriber wrote about the ignored key (the CLI's
/// own `warning:` line says the same thing in plain text and is not a log line).
fn log_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("encoding") && !l.starts_with("warning:"))
        .collect()
}

#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(dir.path());
    let out = ferry(dir.path())
        .args(["run", "--progress-secs", "0"])
        .arg(&job)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    let logs = log_lines(&err);
    assert!(
        logs.iter().any(|l| l.contains("WARN")),
        "no WARN log line: {}",
        text(&out)
    );
    assert!(!err.contains('\u{1b}'), "ESC in piped stderr: {err:?}");
}

#[test]
fn log_format_json_writes_one_object_per_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(dir.path());
    let out = ferry(dir.path())
        .env("FERRY_LOG", "debug")
        .arg("run")
        .arg(&job)
        .args(["--progress-secs", "0", "--log-format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains('\u{1b}'), "ESC in stderr: {err:?}");
    let logs = log_lines(&err);
    assert!(!logs.is_empty(), "no log line: {}", text(&out));
    for line in logs {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line:?}"));
        assert_eq!(v["level"], "WARN", "{line}");
        assert!(v["timestamp"].is_string(), "{line}");
        assert!(
            v["message"]
                .as_str()
                .is_some_and(|m| m.contains("encoding")),
            "{line}"
        );
    }
    // No text-format log line slipped through (they look like `<time>  WARN message`).
    for line in err.lines() {
        let looks_like_text_log = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]
            .iter()
            .any(|lvl| line.contains(&format!(" {lvl} ")));
        if looks_like_text_log {
            assert!(
                serde_json::from_str::<serde_json::Value>(line).is_ok(),
                "a log line in text form: {line:?}"
            );
        }
    }
}

/// On a terminal (a pty) the text format is coloured; `NO_COLOR` turns that off.
#[test]
fn logs_on_a_terminal_are_coloured_unless_no_color() {
    for (no_color, want_colour) in [(None, true), (Some("1"), false)] {
        let dir = tempfile::tempdir().unwrap();
        let job = write_job(dir.path());
        let mut cmd = ferry(dir.path());
        cmd.args(["run", "--progress-secs", "0"]).arg(&job);
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        let mut s = rexpect::session::spawn_command(cmd, Some(60_000)).unwrap();
        let shown = s.exp_eof().unwrap();
        assert!(shown.contains("encoding"), "{shown:?}");
        assert_eq!(
            shown.contains('\u{1b}'),
            want_colour,
            "NO_COLOR={no_color:?}: {shown:?}"
        );
    }
}
