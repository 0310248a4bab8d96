//! A connector is one folder and one line: `connectors/toy` plus the line in
//! `examples/ferry_toy.rs` that adds it to `ferry`. Everything below comes from the toy's
//! descriptor: `ferry job template`, `ferry datasource add --type toy` (its fields are
//! flags), the catalog check, `datasource list` / `test`, the wizard's list and its job,
//! a run, and the CLI reference check, which notices the toy's flags.

// Test code: a failed unwrap / expect / panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod support;

/// The `ferry_toy` example, built next to this test by `cargo test`.
fn toy_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("examples").join("ferry_toy");
    assert!(bin.exists(), "{} is not built", bin.display());
    bin
}

fn run(bin: &Path, args: &[&str], catalog: &Path) -> Output {
    Command::new(bin)
        .args(args)
        .env("FERRY_CATALOG", catalog)
        .env("NO_COLOR", "1")
        .env("TOY_TOKEN", "tok-secret-123")
        .output()
        .expect("run")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(bin: &Path, args: &[&str], catalog: &Path) -> String {
    let o = run(bin, args, catalog);
    assert!(o.status.success(), "ferry {args:?}: {}", text(&o));
    text(&o)
}

fn fails(bin: &Path, args: &[&str], catalog: &Path) -> String {
    let o = run(bin, args, catalog);
    assert!(
        !o.status.success(),
        "ferry {args:?} should fail: {}",
        text(&o)
    );
    text(&o)
}

#[test]
fn a_toy_connector_added_in_one_line_is_everywhere() {
    let bin = toy_bin();
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("datasources.json");

    // ferry job template: the toy's parameter table
    let t = ok(
        &bin,
        &["job", "template", "--reader", "toys", "--writer", "toy"],
        &catalog,
    );
    assert!(
        t.contains("\"plugin\": \"toy\"") && t.contains("rows"),
        "{t}"
    );

    // ferry datasource add --type toy: its fields are flags, its rules are checked
    let help = ok(&bin, &["datasource", "add", "--help"], &catalog);
    for flag in ["--seed", "--token", "--token-env", "toy (also toys)"] {
        assert!(help.contains(flag), "{flag} not in {help}");
    }
    let e = fails(
        &bin,
        &["datasource", "add", "t0", "--type", "toy"],
        &catalog,
    );
    assert!(e.contains("seed is required for a toy datasource"), "{e}");
    let e = fails(
        &bin,
        &["datasource", "add", "t0", "--type", "toy", "--seed", "x"],
        &catalog,
    );
    assert!(e.contains("seed \"x\" is not an integer"), "{e}");
    ok(
        &bin,
        &[
            "datasource",
            "add",
            "t1",
            "--type",
            "toys",
            "--seed",
            "7",
            "--token-env",
            "TOY_TOKEN",
        ],
        &catalog,
    );
    let stored = std::fs::read_to_string(&catalog).unwrap();
    assert!(
        stored.contains("\"type\": \"toy\"") && stored.contains("\"seed\": \"7\""),
        "{stored}"
    );
    let list = ok(&bin, &["datasource", "list"], &catalog);
    assert!(list.contains("t1") && list.contains("seed 7"), "{list}");
    let t = ok(&bin, &["datasource", "test", "t1"], &catalog);
    assert!(t.contains("toy numbers, seed 7"), "{t}");
    // the real ferry does not know the type
    let e = fails(
        Path::new(env!("CARGO_BIN_EXE_ferry")),
        &["datasource", "list"],
        &catalog,
    );
    assert!(
        e.contains("type \"toy\" is not a datasource type (known: postgresql, odps)"),
        "{e}"
    );

    // the wizard offers t1, reads its table, and writes a job that runs
    let e = fails(&bin, &["job", "new", "--yes", "--from", "nope"], &catalog);
    assert!(
        e.contains("t1") && e.contains("parquet"),
        "the wizard's list: {e}"
    );
    let job = dir.path().join("toy_to_parquet.json");
    let staged = dir.path().join("staged");
    ok(
        &bin,
        &[
            "job",
            "new",
            "--yes",
            "--from",
            "t1",
            "--table",
            "numbers",
            "--to",
            "parquet",
            "--target-table",
            staged.to_str().unwrap(),
            "--out",
            job.to_str().unwrap(),
        ],
        &catalog,
    );
    let j = std::fs::read_to_string(&job).unwrap();
    assert!(
        j.contains("\"plugin\": \"toy\"") && j.contains("\"datasource\": \"t1\""),
        "{j}"
    );
    let r = ok(&bin, &["run", job.to_str().unwrap()], &catalog);
    assert!(r.contains("10") && !r.contains("tok-secret-123"), "{r}");
    let p = ok(
        &bin,
        &["preview", staged.to_str().unwrap(), "--limit", "3"],
        &catalog,
    );
    assert!(
        p.contains("w7") && p.contains("w9") && !p.contains("w10"),
        "{p}"
    );

    // and as a target
    let job2 = dir.path().join("parquet_to_toy.json");
    ok(
        &bin,
        &[
            "job",
            "new",
            "--yes",
            "--from",
            "parquet",
            "--table",
            staged.to_str().unwrap(),
            "--to",
            "t1",
            "--target-table",
            "numbers",
            "--out",
            job2.to_str().unwrap(),
        ],
        &catalog,
    );
    let r = ok(&bin, &["run", job2.to_str().unwrap()], &catalog);
    assert!(r.contains("10"), "{r}");
}

#[test]
fn the_cli_reference_check_notices_the_toy_s_flags() {
    let gaps = support::cli_docs::gaps(&toy_bin());
    let joined = gaps.join("\n");
    for flag in ["--seed", "--token", "--token-env"] {
        assert!(
            gaps.iter()
                .any(|g| g.contains(&format!("ferry datasource add {flag}`"))),
            "{flag} not reported: {joined}"
        );
    }
    assert_eq!(
        gaps.len(),
        3,
        "only the toy's flags are undocumented: {joined}"
    );
}
