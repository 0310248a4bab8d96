//! `docs/jobs.md` stays true: every JSON job example in it parses, and every row of its
//! table of variable examples resolves to the value the table gives.

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::NaiveDate;
use ferry_core::catalog::{Catalog, Datasource};
use ferry_core::job::parse_job_with;
use ferry_core::vars::{resolve, VarContext};

fn doc() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/jobs.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The instance the docs use: scheduled 2025-11-01 00:00:00, run that day.
fn ctx(params: &[(&str, &str)]) -> VarContext {
    let p: BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    VarContext::new(None, None, NaiveDate::from_ymd_opt(2025, 11, 1).unwrap(), p)
}

/// Bodies of the ```json fenced blocks, with the line each starts on.
fn json_blocks(md: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in md.lines().enumerate() {
        match &mut current {
            None if line.trim() == "```json" => current = Some((i + 2, String::new())),
            Some(_) if line.trim() == "```" => out.extend(current.take()),
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
            None => {}
        }
    }
    assert!(current.is_none(), "unclosed ```json block");
    out
}

#[test]
fn every_json_job_example_parses() {
    ferry_connectors::install();
    let md = doc();
    let vars = ctx(&[("year", "2024"), ("region", "hz"), ("n", "2")]);
    // the datasources the examples name: DataWorks v2 steps without stepType need them
    let mut catalog = Catalog::empty(None);
    let pg =
        Datasource::new("postgresql").with("jdbcUrl", "jdbc:postgresql://127.0.0.1:5432/postgres");
    catalog.insert("l_PostGreSql", pg).unwrap();
    let odps = Datasource::new("odps")
        .with("endpoint", "http://127.0.0.1:9300/api")
        .with("project", "demo");
    catalog.insert("odps_first", odps).unwrap();
    let mut parsed = 0;
    for (line, body) in json_blocks(&md) {
        if !(body.contains("\"reader\"") || body.contains("\"steps\"")) {
            continue;
        }
        let name = format!("docs/jobs.md (block at line {line})");
        let job =
            parse_job_with(&body, &name, &vars, Some(&catalog)).unwrap_or_else(|e| panic!("{e}"));
        assert!(!job.reader.plugin.is_empty() && !job.writer.plugin.is_empty());
        parsed += 1;
    }
    // v1, v2, DataX, the errorLimit example and the incremental job
    assert!(
        parsed >= 5,
        "only {parsed} job examples found in docs/jobs.md"
    );
}

#[test]
fn the_variable_examples_table_is_right() {
    ferry_connectors::install();
    let md = doc();
    let start = md
        .find("Examples for an instance scheduled at 2025-11-01 00:00:00")
        .expect("examples table heading");
    let vars = ctx(&[]);
    let mut checked = 0;
    for line in md[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
    {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() != 2 || !cells[1].starts_with('`') {
            continue; // header and separator rows
        }
        let want = cells[1].trim_matches('`');
        for written in cells[0].split(", ") {
            let written = written.trim_matches('`');
            let got = resolve(written, &vars).unwrap_or_else(|e| panic!("{written}: {e}"));
            assert_eq!(got, want, "docs/jobs.md says {written} = {want}");
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} examples checked");
}
