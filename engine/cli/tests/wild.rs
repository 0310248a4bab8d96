//! Jobs as people really write them (issue 18), through the `ferry` binary: each job in
//! `testdata/jobs/wild/` with its exact exit code and a fragment of what ferry says.
//! Accepted stream-to-stream jobs are run; the DataWorks v2 step without `stepType`
//! validates and runs against the test PostgreSQL (`FERRY_TEST_PG_URL`).

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn wild(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/jobs/wild")
        .join(name)
}

/// The catalog the wild jobs name (its servers do not exist).
fn catalog() -> PathBuf {
    wild("datasources.json")
}

/// Run `ferry ARGS` in a scratch folder with the wild catalog.
fn ferry(args: &[&str]) -> Output {
    ferry_with(args, &catalog())
}

fn ferry_with(args: &[&str], catalog: &Path) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .current_dir(dir.path())
        .env("FERRY_CATALOG", catalog)
        .env("NO_COLOR", "1")
        .output()
        .expect("run ferry")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `ferry CMD wild/JOB EXTRA..` must exit with `code` and print `fragment`.
fn expect(cmd: &str, job: &str, extra: &[&str], code: i32, fragment: &str) -> Output {
    let path = wild(job);
    let path = path.to_str().expect("utf-8 path");
    let mut args = vec![cmd, path];
    args.extend_from_slice(extra);
    if cmd == "run" {
        args.extend_from_slice(&["--progress-secs", "0"]);
    }
    let out = ferry(&args);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(code), "{all}");
    assert!(
        all.contains(&fragment.replace("{FILE}", path)),
        "ferry {cmd} {job}: expected {fragment:?} in\n{all}"
    );
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

// ---------------------------------------------------------------------------------------
// streamreader dateFormat and DataX's column keys

#[test]
fn stream_date_format_runs_with_java_patterns() {
    let out = expect("run", "stream-dateformat.json", &[], 0, "Status");
    let rows: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(rows.len(), 2, "{}", text(&out));
    let cells: Vec<&str> = rows[0].split('|').collect();
    assert_eq!(cells.len(), 7, "{}", rows[0]);
    assert_eq!(cells[0], "42");
    assert_eq!(cells[1], "2026-11-22T10:00:00");
    assert_eq!(cells[2], "2026-11-22");
    assert_eq!(cells[3], "2026-11-22T19:30:00");
    assert_eq!(cells[4], "2026-11-22T02:00:00.250Z");
    assert!(
        cells[5].starts_with("2026-01-") && cells[5].contains('T'),
        "{}",
        cells[5]
    );
    assert_eq!(cells[6], "no type means string");
    let v = expect("validate", "stream-dateformat.json", &[], 0, "ok");
    assert!(
        stdout(&v).contains(
            "source     : col1 Int64, col2 Timestamp(ms), col3 Date32, col4 Timestamp(ms), \
             col5 Timestamp(ms, \"UTC\"), col6 Timestamp(ms), col7 Utf8"
        ),
        "{}",
        text(&v)
    );
}

#[test]
fn an_unsupported_date_format_letter_is_refused_with_its_path() {
    expect(
        "validate",
        "stream-dateformat-unsupported.bad.json",
        &[],
        2,
        "error: job.content[0].reader.parameter.column[0].dateFormat: pattern letter 'k' \
         (hour 1-24) in \"yyyy-MM-dd kk:mm\" is not supported; ferry reads y M L d D E a H h m \
         s SSS Z X and 'quoted text'",
    );
}

// ---------------------------------------------------------------------------------------
// streamwriter with a stray column list

#[test]
fn a_streamwriter_column_list_is_ignored_with_a_warning() {
    let out = expect(
        "run",
        "streamwriter-column.json",
        &[],
        0,
        "warning: job.content[0].writer.parameter.column: accepted for DataX compatibility \
         and ignored by ferry",
    );
    // the reader's two columns are printed; the writer's third entry does not count
    assert_eq!(stdout(&out), "7\tseven\n7\tseven\n7\tseven\n");
}

// ---------------------------------------------------------------------------------------
// DataWorks v2 steps without stepType

fn pg_url() -> String {
    std::env::var("FERRY_TEST_PG_URL").expect("set FERRY_TEST_PG_URL; run scripts/test")
}

#[test]
fn a_step_without_step_type_takes_its_datasource_type() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cat = dir.path().join("datasources.json");
    std::fs::write(
        &cat,
        serde_json::json!({"datasources": {
            "hybriddb_src": {"type": "hybriddb", "url": pg_url()}
        }})
        .to_string(),
    )
    .expect("catalog");
    let job = wild("v2-no-steptype.json");
    let job = job.to_str().expect("utf-8");
    let out = ferry_with(&["validate", job], &cat);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s = stdout(&out);
    assert!(
        s.contains(
            "note       : steps[0].stepType: not given; using \"postgresql\", the type of \
             datasource \"hybriddb_src\" in the catalog"
        ),
        "{s}"
    );
    assert!(
        s.contains("reader     : postgresql (stepType inferred from datasource hybriddb_src)"),
        "{s}"
    );
    let out = ferry_with(&["run", job, "--progress-secs", "0"], &cat);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(stdout(&out), "1\tfrom hybriddb\n");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("note: steps[0].stepType: not given"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_step_type_that_cannot_be_inferred_is_refused() {
    expect(
        "validate",
        "v2-no-steptype-unknown.bad.json",
        &[],
        2,
        "error: {FILE}: steps[0] (\"Reader\"): no \"stepType\", and it cannot be inferred from \
         steps[0].parameter.datasource: datasource \"hybrid_src\" is not in the catalog",
    );
    let out = expect(
        "validate",
        "v2-no-steptype-no-datasource.bad.json",
        &[],
        2,
        "error: {FILE}: steps[1] (\"Writer\"): no \"stepType\", and no \
         steps[1].parameter.datasource to infer it from; add \"stepType\" (one of \
         \"postgresql\", \"odps\", \"parquet\", \"stream\")",
    );
    assert!(stdout(&out).is_empty(), "{}", text(&out));
}

// ---------------------------------------------------------------------------------------
// column counts

#[test]
fn a_column_count_mismatch_is_reported_before_connecting() {
    // both servers are unreachable: a connection attempt would exit 1 with a connect error
    expect(
        "validate",
        "column-count.bad.json",
        &["--bizdate", "20261122"],
        2,
        "error: {FILE}: job.content[0].reader.parameter.column: the reader lists 3 columns \
         [id, name, '20261122'] but the writer lists 2 [id, name] \
         (job.content[0].writer.parameter.column)",
    );
    expect(
        "run",
        "column-count.bad.json",
        &[],
        2,
        "(constants such as 'abc' count as reader columns)",
    );
}

// ---------------------------------------------------------------------------------------
// fragments

#[test]
fn a_file_with_part_of_a_job_says_so() {
    expect(
        "validate",
        "fragment-setting.bad.json",
        &[],
        2,
        "error: {FILE}:1:1: this looks like a job fragment (a setting, which belongs in \
         `configuration`, `job` or at the top of a DataWorks v2 job next to `steps`); a job \
         needs `job`, `configuration` or `steps` at the top",
    );
    expect(
        "validate",
        "fragment-reader.bad.json",
        &[],
        2,
        "error: {FILE}:2:1: this looks like a job fragment (a reader, which belongs in \
         DataX's `job.content[0]`)",
    );
    let out = expect(
        "run",
        "fragment-step.bad.json",
        &[],
        2,
        "error: {FILE}:1:3: this looks like a job fragment (a writer step, one entry of the \
         `steps` list of a DataWorks v2 job)",
    );
    assert!(
        !text(&out).contains("trailing characters"),
        "{}",
        text(&out)
    );
}

// ---------------------------------------------------------------------------------------
// characters from copied samples

#[test]
fn copied_blanks_are_whitespace_with_a_warning() {
    let out = expect(
        "run",
        "copied-blanks.json",
        &[],
        0,
        "warning: {FILE}:3:1: no-break space U+00A0 outside a string (8 of them, the first \
         here), read as a space",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "{FILE}:3:37: ideographic space U+3000 outside a string, read as a space"
                .replace(
                    "{FILE}",
                    wild("copied-blanks.json").to_str().unwrap_or_default()
                )
                .as_str()
        ),
        "{err}"
    );
    assert!(
        err.contains(":9:1: byte-order mark U+FEFF outside a string"),
        "{err}"
    );
    // inside the string they are data
    assert_eq!(stdout(&out), "a\u{a0}b，c\u{3000}d “e”\n");
}

#[test]
fn a_full_width_comma_is_named_with_its_position() {
    expect(
        "validate",
        "fullwidth-comma.bad.json",
        &[],
        2,
        "error: {FILE}:4:112: full-width comma U+FF0C outside a string; use ,",
    );
}

// ---------------------------------------------------------------------------------------
// custom parameters

#[test]
fn unresolved_custom_parameters_come_with_the_line_to_paste() {
    let out = expect(
        "validate",
        "custom-params.bad.json",
        &[],
        2,
        "unresolved variables: ${params1} (line 14), $region (line 15); give custom ones with \
         -p name=value",
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let paste = "-p params1=VALUE -p region=VALUE";
    assert!(
        err.contains(&format!("to give them, add: {paste} ")),
        "{err}"
    );
    // the line works as pasted, and a value may be a DataWorks scheduling expression
    let out = expect(
        "run",
        "custom-params.bad.json",
        &[
            "-p",
            "params1=$[yyyymmdd-1]",
            "-p",
            "region=hz",
            "--bizdate",
            "20261121",
        ],
        0,
        "Status",
    );
    assert_eq!(
        stdout(&out),
        "day 20261121\tregion hz\tbuilt-in 20261121\n",
        "{}",
        text(&out)
    );
    // a name written the way the job writes it, and one the job does not use
    let out = expect(
        "validate",
        "custom-params.bad.json",
        &["-p", "${params1}=x", "-p", "region=hz", "-p", "regoin=hz"],
        0,
        "warning    : -p regoin: the job never uses $regoin or ${regoin}; check the name",
    );
    assert!(!text(&out).contains("-p params1:"), "{}", text(&out));
}

// ---------------------------------------------------------------------------------------
// DataWorks speed settings

#[test]
fn dataworks_speed_settings_follow_the_spec() {
    // throttle false: mbps is ignored (no cap); dmu is ignored; "3" channels
    let out = expect(
        "validate",
        "dw-speed.json",
        &[],
        0,
        "warning    : setting.speed.mbps: ignored because throttle is false (no byte cap)",
    );
    let s = stdout(&out);
    assert!(s.contains("channels   : 3\n"), "{s}");
    assert!(!s.contains("byte limit"), "{s}");
    assert!(s.contains("errorLimit : record=unlimited"), "{s}");
    assert!(
        s.contains("warning    : setting.speed.dmu: a DataWorks resource setting"),
        "{s}"
    );
    expect("run", "dw-speed.json", &[], 0, "Status");
    // throttle "true" with mbps "1": a 1 MiB/s cap over 2 channels
    let out = expect("validate", "dw-speed-throttled.json", &[], 0, "ok");
    let s = stdout(&out);
    assert!(s.contains("channels   : 2\n"), "{s}");
    assert!(s.contains("byte limit : 1048576 bytes/s"), "{s}");
    assert!(s.contains("errorLimit : record=0"), "{s}");
    expect("run", "dw-speed-throttled.json", &[], 0, "Status");
    expect(
        "validate",
        "dw-speed-concurrent.bad.json",
        &[],
        2,
        "error: {FILE}: setting.speed.concurrent: expected a non-negative integer, found \"two\"",
    );
}
