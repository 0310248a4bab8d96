//! The documentation stays true to the code. No server is needed:
//!
//! * every ```json block in `README.md` and `docs/*.md`, and every `.json` file under
//!   `testdata/jobs/`, that is a job parses with ferry's job loader, and its reader and
//!   writer parameters pass the connectors' offline `check()` (files in a folder with a
//!   `datasources.json` are loaded with that catalog; a `NAME.bad.json` file is a job ferry
//!   must refuse as it stands, and the test checks that it does); a block that is a plugin
//!   (`{"name": "postgresqlreader", "parameter": ..}`) is checked by its plugin, a
//!   catalog by the catalog loader, anything else must at least be JSON. A block marked
//!   ```` ```json fragment ```` or preceded by `<!-- not-a-job -->` is skipped. Failures
//!   name `FILE:LINE` of the block;
//! * `docs/cli.md` names every command and every long flag that `ferry --help` and each
//!   subcommand's `--help` show (recursively), in that command's section, and names no
//!   command or flag that does not exist;
//! * each connector page documents every parameter key its config parser accepts, and
//!   every key its parameter tables list is accepted. The accepted keys are read from the
//!   parser itself (an unknown key with no near match gets "valid keys are: ...");
//! * the type tables of `docs/odps.md` and `docs/parquet.md` agree with
//!   `ferry_odps::wire::types::arrow_type` and with what `ferry_parquet::types` accepts
//!   (the PostgreSQL table is tested in `connectors/postgres/tests/reader_docs.rs`);
//! * every Arrow type the PostgreSQL and ODPS readers produce is in the Parquet table or
//!   named there as unwritable;
//! * `docs/jobs.md`'s Settings table and `docs/datasources.md`'s key table list exactly
//!   the keys the job and catalog parsers accept;
//! * the `error:` lines `docs/troubleshooting.md` quotes are what the binary prints for
//!   the same bad jobs (those that need no server);
//! * the `-p` forms the docs promise work;
//! * relative links between the pages resolve.
//!
//! The ignored-key lists of the ODPS, Parquet and stream plugins are kept by hand here
//! (only PostgreSQL's are `pub`); a test checks each still draws the "ignored" warning.

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use chrono::NaiveDate;
use ferry_core::catalog::Catalog;
use ferry_core::connector::{self, Role};
use ferry_core::job::{parse_job, parse_job_with};
use ferry_core::plugin::{ReaderFactory, WriterFactory};
use ferry_core::vars::{resolve_json, VarContext};
use serde_json::Value;

mod support;
use support::cli_docs::{cli_tree, long_flags, CliCommand};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    let p = repo().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `README.md` and every `docs/*.md`, as repo-relative paths, sorted.
fn doc_pages() -> Vec<String> {
    let mut out = vec!["README.md".to_string()];
    let mut docs: Vec<String> = std::fs::read_dir(repo().join("docs"))
        .expect("docs/")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    docs.sort();
    out.extend(docs);
    out
}

/// The variables the examples use, for an instance scheduled 2025-11-01 00:00:00.
fn vars() -> VarContext {
    let params: BTreeMap<String, String> = [
        ("year", "2024"),
        ("region", "hz"),
        ("n", "2"),
        ("ak", "my-access-id"),
        ("sk", "my-access-key"),
        ("PGPASSWORD", "secret"),
        ("table", "person"),
        ("pgpass", "secret"),
        ("bizdate_dash", "2025-10-31"),
        ("nextdate_dash", "2025-11-01"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let day = NaiveDate::from_ymd_opt(2025, 11, 1).expect("date");
    VarContext::new(None, None, day, params)
}

/// The datasources the examples name (for DataWorks v2 steps without `stepType`).
fn doc_catalog() -> Catalog {
    let mut c = Catalog::empty(None);
    let pg = ferry_core::catalog::Datasource::new("postgresql")
        .with("jdbcUrl", "jdbc:postgresql://127.0.0.1:5432/postgres");
    c.insert("l_PostGreSql", pg).expect("l_PostGreSql");
    let odps = ferry_core::catalog::Datasource::new("odps")
        .with("endpoint", "http://127.0.0.1:9300/api")
        .with("project", "demo");
    c.insert("odps_first", odps).expect("odps_first");
    c
}

/// One fenced code block.
struct Block {
    /// `docs/x.md:LINE` of the opening fence.
    at: String,
    /// The info string (`json`, `json fragment`, `sh`).
    info: String,
    /// Whether `<!-- not-a-job -->` precedes it.
    marked: bool,
    body: String,
}

fn fenced_blocks(file: &str, text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut current: Option<Block> = None;
    let mut prev = "";
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        match &mut current {
            None if t.starts_with("```") => {
                current = Some(Block {
                    at: format!("{file}:{}", i + 1),
                    info: t.trim_start_matches('`').trim().to_string(),
                    marked: prev.contains("<!-- not-a-job -->"),
                    body: String::new(),
                })
            }
            Some(_) if t == "```" => out.extend(current.take()),
            Some(b) => {
                b.body.push_str(line);
                b.body.push('\n');
            }
            None => {}
        }
        if !t.is_empty() {
            prev = line;
        }
    }
    assert!(current.is_none(), "{file}: unclosed code block");
    out
}

/// Whether `text` has `"key"` followed by `:` (a JSON key, not a value).
fn has_key(text: &str, key: &str) -> bool {
    let pat = format!("\"{key}\"");
    text.match_indices(&pat)
        .any(|(i, _)| text[i + pat.len()..].trim_start().starts_with(':'))
}

fn is_job(text: &str) -> bool {
    has_key(text, "steps")
        || has_key(text, "job")
        || has_key(text, "configuration")
        || text.contains("\"type\": \"job\"")
        || text.contains("\"type\":\"job\"")
}

/// Canonical plugin name for a name as written (`postgresqlreader`, `ODPS`).
fn canonical(role: Role, written: &str) -> Option<&'static str> {
    connector::find(written, role).map(|c| c.name)
}

fn reader_factory(name: &str) -> Arc<dyn ReaderFactory> {
    connector::reader(name).unwrap_or_else(|e| panic!("{e}"))
}

fn writer_factory(name: &str) -> Arc<dyn WriterFactory> {
    connector::writer(name).unwrap_or_else(|e| panic!("{e}"))
}

/// The connector's offline parameter check.
fn check(role: Role, plugin: &str, params: &Value, path: &str) -> Result<(), String> {
    let mut warnings = Vec::new();
    match role {
        Role::Reader => reader_factory(plugin).check(params, path, &mut warnings),
        Role::Writer => writer_factory(plugin).check(params, path, &mut warnings),
    }
    .map_err(|e| e.to_string())
}

/// Compile DataX transformers over `columns` (the reader's column names, typed as the
/// transform.md examples are: `id` Int64, `year` Int32, anything else Utf8), as
/// `ferry validate` does once it knows the reader's schema.
fn compile_transformers(
    columns: &[String],
    transformers: Vec<ferry_core::job::TransformerSpec>,
) -> Result<(), String> {
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let fields: Vec<Field> = columns
        .iter()
        .map(|c| {
            let t = match c.as_str() {
                "id" => DataType::Int64,
                "year" => DataType::Int32,
                _ => DataType::Utf8,
            };
            Field::new(c, t, true)
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let spec = ferry_transform::TransformSpec {
        source_schema: Arc::clone(&schema),
        layout: (0..columns.len())
            .map(ferry_core::plugin::ColumnSlot::Source)
            .collect(),
        filter: None,
        transformers,
        target_schema: schema,
        empty_as_null: false,
        path: "reader.parameter".into(),
    };
    ferry_transform::Transform::compile(spec)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Parse a job (with a datasource catalog, if given) and check both plugins' parameters
/// (and its transformers).
fn check_job_with(text: &str, name: &str, catalog: Option<&Catalog>) -> Result<(), String> {
    let job = parse_job_with(text, name, &vars(), catalog).map_err(|e| e.to_string())?;
    if !job.transformers.is_empty() {
        let columns: Vec<String> = job.reader.params["column"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        compile_transformers(&columns, job.transformers.clone())?;
    }
    check(
        Role::Reader,
        job.reader.plugin,
        &job.reader.params,
        &job.reader.path,
    )?;
    check(
        Role::Writer,
        job.writer.plugin,
        &job.writer.params,
        &job.writer.path,
    )
}

/// A plugin block: `{"name": "odpswriter", "parameter": ..}`, `{"stepType": "odps",
/// "category": "reader", "parameter": ..}`, `{"plugin": ..}` or `{"reader": {..}}`.
fn check_plugin_block(v: &Value) -> Option<Result<(), String>> {
    let obj = v.as_object()?;
    for (key, role) in [("reader", Role::Reader), ("writer", Role::Writer)] {
        if obj.len() == 1 {
            if let Some(inner) = obj.get(key) {
                return Some(check_plugin_object(inner, Some(role)));
            }
        }
    }
    obj.get("parameter")?;
    Some(check_plugin_object(v, None))
}

fn check_plugin_object(v: &Value, role: Option<Role>) -> Result<(), String> {
    let name = ["name", "stepType", "plugin"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .ok_or("a plugin block needs \"name\", \"stepType\" or \"plugin\"")?;
    let lower = name.to_ascii_lowercase();
    let role = role
        .or(match v.get("category").and_then(Value::as_str) {
            Some("reader") => Some(Role::Reader),
            Some("writer") => Some(Role::Writer),
            _ => None,
        })
        .or(if lower.ends_with("reader") {
            Some(Role::Reader)
        } else if lower.ends_with("writer") {
            Some(Role::Writer)
        } else {
            None
        })
        .ok_or_else(|| {
            format!("cannot tell whether {name:?} is a reader or a writer: add \"category\"")
        })?;
    let plugin = canonical(role, name).ok_or_else(|| format!("unknown plugin {name:?}"))?;
    check(role, plugin, &v["parameter"], "parameter")
}

/// Check one ```json block; `Ok(kind)` says what it was checked as.
fn check_json_block(b: &Block) -> Result<&'static str, String> {
    if is_job(&b.body) {
        return check_job_with(&b.body, &b.at, Some(&doc_catalog())).map(|_| "job");
    }
    let resolved = resolve_json(&b.body, &vars()).map_err(|e| e.to_string())?;
    let trimmed = resolved.trim();
    // `"key": value` fragments (a few keys of a larger object) must be JSON once braced.
    let text = if trimmed.starts_with('"') {
        format!("{{{trimmed}}}")
    } else {
        trimmed.to_string()
    };
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
    if let Some(r) = check_plugin_block(&v) {
        return r.map(|_| "plugin");
    }
    if let Some(list) = v.get("transformer").and_then(Value::as_array) {
        // transform.md's fragments go into its example job: columns id, name, year.
        let specs = list
            .iter()
            .enumerate()
            .map(|(i, t)| ferry_core::job::TransformerSpec {
                name: t["name"].as_str().unwrap_or_default().to_string(),
                parameter: t["parameter"].clone(),
                path: format!("transformer[{i}]"),
            })
            .collect();
        let columns = ["id", "name", "year"].map(String::from);
        return compile_transformers(&columns, specs).map(|_| "transformer");
    }
    if v.get("datasources").is_some() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("datasources.json");
        std::fs::write(&path, &text).map_err(|e| e.to_string())?;
        let cat = Catalog::load(&path).map_err(|e| e.to_string())?;
        if cat.iter().count() == 0 {
            return Err("a catalog example with no datasources".into());
        }
        return Ok("catalog");
    }
    Ok("json")
}

#[test]
fn every_json_example_in_the_docs_is_valid() {
    ferry_connectors::install();
    let mut failures = Vec::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for page in doc_pages() {
        for b in fenced_blocks(&page, &read(&page)) {
            let mut words = b.info.split_whitespace();
            if words.next() != Some("json") {
                continue;
            }
            if b.marked || words.any(|w| w == "fragment") {
                *counts.entry("skipped").or_default() += 1;
                continue;
            }
            match check_json_block(&b) {
                Ok(kind) => *counts.entry(kind).or_default() += 1,
                Err(e) => failures.push(format!("{}: {e}", b.at)),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "invalid JSON examples:\n{}",
        failures.join("\n")
    );
    // jobs.md alone has five jobs; the connector pages have plugin blocks.
    assert!(counts.get("job").copied().unwrap_or(0) >= 8, "{counts:?}");
    assert!(
        counts.get("plugin").copied().unwrap_or(0) >= 4,
        "{counts:?}"
    );
    assert!(
        counts.get("catalog").copied().unwrap_or(0) >= 1,
        "{counts:?}"
    );
    assert!(
        counts.get("transformer").copied().unwrap_or(0) >= 4,
        "{counts:?}"
    );
}

/// Every `.json` file under `dir`, recursively, sorted.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            out.extend(json_files(&p));
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn every_job_in_testdata_is_valid() {
    ferry_connectors::install();
    let root = repo().join("testdata/jobs");
    let mut n = 0;
    let mut bad = 0;
    let mut failures = Vec::new();
    for p in json_files(&root) {
        let rel = format!(
            "testdata/jobs/{}",
            p.strip_prefix(&root).expect("under root").display()
        );
        let text = read(&rel);
        let refused_on_purpose = rel.ends_with(".bad.json");
        if !refused_on_purpose && !is_job(&text) {
            continue;
        }
        // the catalog of the job's folder, when it has one
        let cat_path = p.with_file_name("datasources.json");
        let catalog = cat_path
            .exists()
            .then(|| Catalog::load(&cat_path).unwrap_or_else(|e| panic!("{e}")));
        let result = check_job_with(&text, &rel, catalog.as_ref());
        if refused_on_purpose {
            bad += 1;
            if result.is_ok() {
                failures.push(format!(
                    "{rel}: ferry accepts it, but the .bad.json name says it must refuse it"
                ));
            }
            continue;
        }
        n += 1;
        if let Err(e) = result {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(n >= 8, "only {n} valid jobs in testdata/jobs");
    assert!(bad >= 8, "only {bad} .bad.json jobs in testdata/jobs");
}

#[test]
fn a_broken_example_is_reported_with_file_and_line() {
    ferry_connectors::install();
    let text = "intro\n\n```json\n{\"job\": {\"content\": [{\"reader\": {\"name\": \"streamreader\", \"parameter\": {\"sliceRecordCont\": 1}}, \"writer\": {\"name\": \"streamwriter\", \"parameter\": {}}}]}}\n```\n";
    let blocks = fenced_blocks("docs/x.md", text);
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].at, "docs/x.md:3");
    let e = check_json_block(&blocks[0]).unwrap_err();
    assert!(e.contains("did you mean \"sliceRecordCount\""), "{e}");
    let tf = "```json\n\"transformer\": [{\"name\": \"dx_sql\", \"parameter\": {\"columnIndex\": 1, \"expr\": \"upper(nmae)\"}}]\n```\n";
    let e = check_json_block(&fenced_blocks("t.md", tf)[0]).unwrap_err();
    assert!(e.contains("did you mean \"name\""), "{e}");
    let frag = "<!-- not-a-job -->\n```json\n{nope\n```\n";
    assert!(fenced_blocks("f.md", frag)[0].marked);
}

// ---------------------------------------------------------------------------------------
// The CLI reference and --help

/// Code in a page: inline code spans and the lines of fenced blocks (`\` continuations
/// joined), each with its line number.
fn code_snippets(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut in_fence = false;
    let mut pending = String::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            let l = line.trim_end();
            if let Some(head) = l.strip_suffix('\\') {
                pending.push_str(head);
                continue;
            }
            pending.push_str(l);
            out.push((i + 1, std::mem::take(&mut pending)));
        } else {
            for (k, span) in line.split('`').enumerate() {
                if k % 2 == 1 {
                    out.push((i + 1, span.to_string()));
                }
            }
        }
    }
    out
}

/// `ferry ...` invocations in a snippet: the words after `ferry`, up to a `#` comment or
/// a shell separator.
fn invocations(snippet: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let s = snippet.trim_start().trim_start_matches("$ ");
    // Only a snippet that starts with `ferry ` is a command line (`ferry cannot read` in a
    // quoted message is not); `ferry a | ferry b` alternatives count each.
    if !s.starts_with("ferry ") {
        return out;
    }
    for (i, _) in s.match_indices("ferry ") {
        let before = s[..i].trim_end().chars().last();
        if i > 0 && !before.is_some_and(|c| c == '|' || c == ';' || c == '&') {
            continue;
        }
        let rest = &s[i + "ferry ".len()..];
        let rest = rest.split(" #").next().unwrap_or(rest);
        // Shell separators end the command; `\|` (alternatives in a table) does not.
        let rest = [" | ", "; ", " && ", " > "]
            .iter()
            .fold(rest, |r, sep| r.split(sep).next().unwrap_or(r));
        let words: Vec<String> = rest.split_whitespace().map(|w| w.to_string()).collect();
        out.push(words);
    }
    out
}

/// Resolve the words of an invocation to a command; `Err` names what is unknown.
fn resolve_command<'a>(tree: &'a [CliCommand], words: &[String]) -> Result<&'a CliCommand, String> {
    let mut path: Vec<String> = Vec::new();
    loop {
        let cmd = tree
            .iter()
            .find(|c| c.path == path)
            .ok_or_else(|| format!("no command `ferry {}`", path.join(" ")))?;
        if cmd.subcommands.is_empty() {
            return Ok(cmd);
        }
        match words.get(path.len()) {
            Some(w) if cmd.subcommands.contains(w) => path.push(w.clone()),
            // `ferry datasource list \| remove NAME`: alternatives, `ferry odps ...`
            Some(w) if w.starts_with('-') || w.starts_with('[') || w == "..." => return Ok(cmd),
            None => return Ok(cmd),
            Some(w) => {
                return Err(format!(
                    "`ferry {} {w}`: no such command (known: {})",
                    path.join(" "),
                    cmd.subcommands.join(", ")
                ))
            }
        }
    }
}

#[test]
fn cli_reference_documents_every_command_and_flag() {
    let missing = support::cli_docs::gaps(Path::new(env!("CARGO_BIN_EXE_ferry")));
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn docs_name_no_command_or_flag_that_does_not_exist() {
    ferry_connectors::install();
    let tree = cli_tree(Path::new(env!("CARGO_BIN_EXE_ferry")));
    let all_flags: BTreeSet<String> = tree
        .iter()
        .flat_map(|c| c.flags.iter().cloned())
        .chain(["--help".to_string(), "--version".to_string()])
        .collect();
    let mut wrong = Vec::new();
    // Every flag named anywhere in the CLI reference exists somewhere.
    for f in long_flags(&read("docs/cli.md")) {
        if !all_flags.contains(&f) {
            wrong.push(format!("docs/cli.md names {f}, which no command has"));
        }
    }
    // Every `ferry ...` invocation on every page names a real command with its own flags.
    let mut checked = 0;
    for page in doc_pages() {
        for (line, snippet) in code_snippets(&read(&page)) {
            for words in invocations(&snippet) {
                checked += 1;
                match resolve_command(&tree, &words) {
                    Err(e) => wrong.push(format!("{page}:{line}: {e}")),
                    Ok(cmd) => {
                        let mut allowed: BTreeSet<String> = cmd.flags.iter().cloned().collect();
                        // A group row (`ferry odps serve ... | ferry odps sql ...`) may use its
                        // subcommands' flags.
                        for c in tree.iter().filter(|c| c.path.starts_with(&cmd.path)) {
                            allowed.extend(c.flags.iter().cloned());
                        }
                        allowed.insert("--help".into());
                        for f in long_flags(&words.join(" ")) {
                            if !allowed.contains(&f) {
                                wrong.push(format!(
                                    "{page}:{line}: `ferry {}` has no flag {f}",
                                    cmd.path.join(" ")
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(
        checked >= 30,
        "only {checked} ferry invocations found in the docs"
    );
}

// ---------------------------------------------------------------------------------------
// Connector parameters

/// A key no parser accepts and none is near to, so the error lists every valid key.
const PROBE: &str = "zz_qq_probe_9";

/// The keys a plugin's parameter parser accepts at `at` (a JSON pointer into `base`
/// where an object with the probe key is put), read from its "valid keys are" message.
fn accepted_keys(role: Role, plugin: &str, base: Value, at: &str) -> Vec<String> {
    let mut v = base;
    let mut probe = serde_json::Map::new();
    probe.insert(PROBE.into(), Value::from(1));
    *v.pointer_mut(at).unwrap_or_else(|| panic!("no {at}")) = Value::Object(probe);
    let e = check(role, plugin, &v, "p").expect_err("the probe key is rejected");
    let list = e
        .split_once("valid keys are: ")
        .unwrap_or_else(|| panic!("{plugin} {role:?} {at}: no key list in {e:?}"))
        .1;
    list.split(", ").map(|k| k.trim().to_string()).collect()
}

/// Keys a plugin accepts, warns about and ignores (DataX compatibility); the warning is
/// checked below, so a list that goes stale fails.
fn ignored_keys(role: Role, plugin: &str) -> Vec<&'static str> {
    connector::by_name(plugin).map_or_else(Vec::new, |c| c.ignored(role).to_vec())
}

/// Where each plugin's parameters are documented, and the nested objects whose keys
/// count too (`connection[0]` of the PostgreSQL plugins, `column[0]` of stream).
struct ParamPage {
    role: Role,
    plugin: &'static str,
    page: &'static str,
    headings: &'static [&'static str],
    nested: &'static [(&'static str, &'static str)],
}

const PARAM_PAGES: &[ParamPage] = &[
    ParamPage {
        role: Role::Reader,
        plugin: "postgresql",
        page: "docs/postgresql.md",
        headings: &["## Reader"],
        nested: &[(r#"{"connection": [null]}"#, "/connection/0")],
    },
    ParamPage {
        role: Role::Writer,
        plugin: "postgresql",
        page: "docs/postgresql.md",
        headings: &["## Writer"],
        nested: &[(r#"{"connection": [null]}"#, "/connection/0")],
    },
    ParamPage {
        role: Role::Reader,
        plugin: "odps",
        page: "docs/odps.md",
        headings: &["## Connection", "## Reader"],
        nested: &[],
    },
    ParamPage {
        role: Role::Writer,
        plugin: "odps",
        page: "docs/odps.md",
        headings: &["## Connection", "## Writer"],
        nested: &[],
    },
    ParamPage {
        role: Role::Reader,
        plugin: "parquet",
        page: "docs/parquet.md",
        headings: &["## Reader (`parquet`)"],
        nested: &[],
    },
    ParamPage {
        role: Role::Writer,
        plugin: "parquet",
        page: "docs/parquet.md",
        headings: &["## Writer (`parquet`)"],
        nested: &[],
    },
    ParamPage {
        role: Role::Reader,
        plugin: "stream",
        page: "docs/stream.md",
        headings: &["## Reader parameters"],
        nested: &[(r#"{"column": [null]}"#, "/column/0")],
    },
    ParamPage {
        role: Role::Writer,
        plugin: "stream",
        page: "docs/stream.md",
        headings: &["## Writer parameters"],
        nested: &[],
    },
];

/// The text under `heading` (exact line), subsections included.
fn section(text: &str, heading: &str) -> Option<String> {
    let level = heading.chars().take_while(|c| *c == '#').count();
    let mut lines = text.lines().skip_while(|l| l.trim_end() != heading);
    lines.next()?;
    let mut out = String::new();
    let mut in_fence = false;
    for l in lines {
        if l.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        let h = l.chars().take_while(|c| *c == '#').count();
        if !in_fence && h > 0 && h <= level && l[h..].starts_with(' ') {
            break;
        }
        out.push_str(l);
        out.push('\n');
    }
    Some(out)
}

/// Identifier-like words inside backtick spans.
fn code_words(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        for (k, span) in line.split('`').enumerate() {
            if k % 2 == 1 {
                for w in span.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                    if !w.is_empty() {
                        out.insert(w.to_string());
                    }
                }
            }
        }
    }
    out
}

/// Keys named in the first column of the parameter tables (header `key` or `parameter`).
fn table_keys(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut in_param_table = false;
    for line in text.lines() {
        if !line.starts_with('|') {
            in_param_table = false;
            continue;
        }
        let first = line
            .trim_matches('|')
            .split('|')
            .next()
            .unwrap_or("")
            .trim();
        if first == "key" || first == "parameter" {
            in_param_table = true;
            continue;
        }
        if !in_param_table {
            continue;
        }
        for (k, span) in first.split('`').enumerate() {
            if k % 2 == 1 && span.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                out.insert(span.to_string());
            }
        }
    }
    out
}

#[test]
fn connector_pages_document_every_parameter() {
    ferry_connectors::install();
    let mut wrong = Vec::new();
    for p in PARAM_PAGES {
        let text = read(p.page);
        let mut doc = String::new();
        for h in p.headings {
            doc.push_str(
                &section(&text, h).unwrap_or_else(|| panic!("{}: no heading {h:?}", p.page)),
            );
        }
        let mut accepted: BTreeSet<String> = accepted_keys(p.role, p.plugin, Value::Null, "")
            .into_iter()
            .collect();
        for (base, at) in p.nested {
            let base: Value = serde_json::from_str(base).expect("base JSON");
            accepted.extend(accepted_keys(p.role, p.plugin, base, at));
        }
        let ignored = ignored_keys(p.role, p.plugin);
        for key in &ignored {
            let mut warnings = Vec::new();
            let params = serde_json::json!({ *key: "x" });
            let r = match p.role {
                Role::Reader => reader_factory(p.plugin).check(&params, "p", &mut warnings),
                Role::Writer => writer_factory(p.plugin).check(&params, "p", &mut warnings),
            };
            let said = warnings.iter().any(|w| w.contains(&format!("p.{key}")));
            let rejected = r.is_err_and(|e| e.to_string().contains("unknown key"));
            if !said || rejected {
                wrong.push(format!(
                    "{:?} {}: {key} is not an ignored key any more (warnings: {warnings:?})",
                    p.role, p.plugin
                ));
            }
        }
        let words = code_words(&doc);
        for key in accepted
            .iter()
            .map(String::as_str)
            .chain(ignored.iter().copied())
        {
            if !words.contains(key) {
                wrong.push(format!(
                    "{} ({}) does not document the {:?} parameter `{key}`",
                    p.page,
                    p.headings.join(", "),
                    p.role
                ));
            }
        }
        for key in table_keys(&doc) {
            if !accepted.contains(&key) && !ignored.contains(&key.as_str()) {
                wrong.push(format!(
                    "{} documents `{key}`, which the {} {:?} does not accept",
                    p.page, p.plugin, p.role
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ---------------------------------------------------------------------------------------
// Type tables

/// Rows `| a | b | ... |` of the first table under `heading`, as cells.
fn table_rows(text: &str, heading: &str) -> Vec<Vec<String>> {
    let sec = section(text, heading).unwrap_or_else(|| panic!("no heading {heading:?}"));
    sec.lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // header and separator
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// An Arrow type in the notation of docs/odps.md: `Int64`, `Timestamp(ms)`,
/// `Decimal128(10,2)`, `List<item: Int64>`, `Struct<a: Int64, b: Utf8>`.
fn doc_arrow(t: &arrow::datatypes::DataType) -> String {
    use arrow::datatypes::{DataType, TimeUnit};
    match t {
        DataType::Timestamp(u, tz) => {
            let unit = match u {
                TimeUnit::Second => "s",
                TimeUnit::Millisecond => "ms",
                TimeUnit::Microsecond => "µs",
                TimeUnit::Nanosecond => "ns",
            };
            match tz {
                Some(z) => format!("Timestamp({unit}, {z})"),
                None => format!("Timestamp({unit})"),
            }
        }
        DataType::Decimal128(p, s) => format!("Decimal128({p},{s})"),
        DataType::Interval(u) => format!("Interval({u:?})"),
        DataType::List(f) => format!("List<{}: {}>", f.name(), doc_arrow(f.data_type())),
        DataType::Map(f, _) => format!("Map<{}: {}>", f.name(), doc_arrow(f.data_type())),
        DataType::Struct(fields) => format!(
            "Struct<{}>",
            fields
                .iter()
                .map(|f| format!("{}: {}", f.name(), doc_arrow(f.data_type())))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => format!("{other:?}"),
    }
}

/// The name of an ODPS type's variant; exhaustive, so a new variant fails to compile here
/// until it is added (and then the doc table must list it).
fn odps_variant(t: &ferry_odps::wire::OdpsType) -> &'static str {
    use ferry_odps::wire::OdpsType as T;
    match t {
        T::Bigint => "bigint",
        T::Int => "int",
        T::Smallint => "smallint",
        T::Tinyint => "tinyint",
        T::Double => "double",
        T::Float => "float",
        T::Decimal { .. } => "decimal",
        T::Boolean => "boolean",
        T::String => "string",
        T::Varchar(_) => "varchar",
        T::Char(_) => "char",
        T::Binary => "binary",
        T::Date => "date",
        T::Datetime => "datetime",
        T::Timestamp => "timestamp",
        T::TimestampNtz => "timestamp_ntz",
        T::Json => "json",
        T::IntervalDayTime => "interval_day_time",
        T::IntervalYearMonth => "interval_year_month",
        T::Array(_) => "array",
        T::Map(..) => "map",
        T::Struct(_) => "struct",
    }
}

const ALL_ODPS_VARIANTS: &[&str] = &[
    "bigint",
    "int",
    "smallint",
    "tinyint",
    "double",
    "float",
    "decimal",
    "boolean",
    "string",
    "varchar",
    "char",
    "binary",
    "date",
    "datetime",
    "timestamp",
    "timestamp_ntz",
    "json",
    "interval_day_time",
    "interval_year_month",
    "array",
    "map",
    "struct",
];

#[test]
fn odps_type_table_matches_the_code() {
    ferry_connectors::install();
    use ferry_odps::wire::{arrow_type, OdpsType};
    // Placeholders in the table, made concrete on both sides.
    let odps_subst = [
        ("(p,s)", "(10,2)"),
        ("(n)", "(10)"),
        ("<a:T,...>", "<a:bigint,b:string>"),
        ("<K,V>", "<string,bigint>"),
        ("<T>", "<bigint>"),
    ];
    let arrow_subst = [
        ("(p,s)", "(10,2)"),
        ("a: T, ...", "a: Int64, b: Utf8"),
        ("key: K, value: V", "key: Utf8, value: Int64"),
        ("item: T", "item: Int64"),
    ];
    let text = read("docs/odps.md");
    let mut seen = BTreeSet::new();
    let mut wrong = Vec::new();
    for row in table_rows(&text, "## Type mapping") {
        let mut doc = row[1].clone();
        for (a, b) in arrow_subst {
            doc = doc.replace(a, b);
        }
        let names: Vec<&str> = row[0].split('`').skip(1).step_by(2).collect();
        assert!(!names.is_empty(), "docs/odps.md: no type in {row:?}");
        for name in names {
            let mut concrete = name.to_string();
            for (a, b) in odps_subst {
                concrete = concrete.replace(a, b);
            }
            let t = match OdpsType::parse(&concrete) {
                Ok(t) => t,
                Err(e) => {
                    wrong.push(format!("docs/odps.md: `{name}` is not an ODPS type: {e}"));
                    continue;
                }
            };
            seen.insert(odps_variant(&t));
            let code = doc_arrow(&arrow_type(&t));
            if code != doc {
                wrong.push(format!(
                    "docs/odps.md: `{name}` maps to {code} in the code, the table says {}",
                    row[1]
                ));
            }
        }
    }
    for v in ALL_ODPS_VARIANTS {
        if !seen.contains(v) {
            wrong.push(format!("docs/odps.md's type table has no row for `{v}`"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Concrete Arrow types for a name in docs/parquet.md's type table.
fn parquet_doc_types(name: &str) -> Vec<arrow::datatypes::DataType> {
    use arrow::datatypes::{DataType as D, Field, Fields, TimeUnit};
    use std::sync::Arc;
    let item = Arc::new(Field::new("item", D::Int64, true));
    let entries = Arc::new(Field::new(
        "entries",
        D::Struct(Fields::from(vec![
            Field::new("key", D::Utf8, false),
            Field::new("value", D::Int64, true),
        ])),
        false,
    ));
    match name {
        "Boolean" => vec![D::Boolean],
        "Int8/16/32" => vec![D::Int8, D::Int16, D::Int32],
        "UInt8/16/32" => vec![D::UInt8, D::UInt16, D::UInt32],
        "Int64" => vec![D::Int64],
        "UInt64" => vec![D::UInt64],
        "Float32" => vec![D::Float32],
        "Float64" => vec![D::Float64],
        "Decimal128/256(p, s)" => vec![
            D::Decimal128(10, 2),
            D::Decimal128(38, 9),
            D::Decimal256(50, 2),
        ],
        "Date32" => vec![D::Date32],
        "Date64" => vec![D::Date64],
        "Time32" => vec![
            D::Time32(TimeUnit::Second),
            D::Time32(TimeUnit::Millisecond),
        ],
        "Time64" => vec![
            D::Time64(TimeUnit::Microsecond),
            D::Time64(TimeUnit::Nanosecond),
        ],
        "Timestamp(unit, tz)" => [
            TimeUnit::Second,
            TimeUnit::Millisecond,
            TimeUnit::Microsecond,
            TimeUnit::Nanosecond,
        ]
        .into_iter()
        .flat_map(|u| [D::Timestamp(u, None), D::Timestamp(u, Some("UTC".into()))])
        .collect(),
        "Utf8" => vec![D::Utf8],
        "LargeUtf8" => vec![D::LargeUtf8],
        "Binary" => vec![D::Binary],
        "LargeBinary" => vec![D::LargeBinary],
        "FixedSizeBinary" => vec![D::FixedSizeBinary(16)],
        "List" => vec![D::List(item)],
        "Struct" => vec![D::Struct(Fields::from(vec![Field::new(
            "a",
            D::Int64,
            true,
        )]))],
        "Map" => vec![D::Map(entries, false)],
        other => {
            panic!("docs/parquet.md: the test does not know Arrow type {other:?}; add it here")
        }
    }
}

#[test]
fn parquet_type_table_lists_writable_types() {
    ferry_connectors::install();
    use arrow::datatypes::{Field, Schema};
    let text = read("docs/parquet.md");
    let rows = table_rows(&text, "### Schema and types");
    assert!(rows.len() >= 10, "{rows:?}");
    let mut checked = 0;
    for row in &rows {
        for name in split_type_cell(&row[0]) {
            for t in parquet_doc_types(&name) {
                let schema = Schema::new(vec![Field::new("c", t.clone(), true)]);
                ferry_parquet::types::check_writable(&schema, "w").unwrap_or_else(|e| {
                    panic!("docs/parquet.md lists {name} but {t} is not writable: {e}")
                });
                checked += 1;
            }
        }
    }
    assert!(checked >= 25, "{checked}");
}

/// `Int8/16/32, UInt8/16/32` → [`Int8/16/32`, `UInt8/16/32`]; `Float32 / Float64` →
/// [`Float32`, `Float64`]; `List / Struct / Map` → three.
fn split_type_cell(cell: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in cell.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if depth == 0 && c == ',' {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    parts
        .iter()
        .flat_map(|part| part.split(" / "))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

// ---------------------------------------------------------------------------------------
// Links

#[test]
fn relative_links_resolve() {
    ferry_connectors::install();
    let mut broken = Vec::new();
    let mut n = 0;
    for page in doc_pages() {
        let text = read(&page);
        let dir = repo().join(&page).parent().expect("page dir").to_path_buf();
        for (i, line) in text.lines().enumerate() {
            for (at, _) in line.match_indices("](") {
                let target: String = line[at + 2..].chars().take_while(|c| *c != ')').collect();
                let file = target.split('#').next().unwrap_or("");
                if file.is_empty() || file.contains("://") || file.starts_with("mailto:") {
                    continue;
                }
                n += 1;
                if !dir.join(file).exists() {
                    broken.push(format!(
                        "{page}:{}: link to {target} does not resolve",
                        i + 1
                    ));
                }
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
    assert!(n >= 10, "only {n} relative links");
}

// ---------------------------------------------------------------------------------------
// Forms the docs promise

/// docs/cli.md and docs/jobs.md promise DataX's `-p="-Dname=value -Dother=v"` and
/// `-p name=value`; both must reach the job (a job using `${x}` and `${y}` validates).
#[test]
fn the_documented_variable_forms_work() {
    ferry_connectors::install();
    let dir = tempfile::tempdir().expect("tempdir");
    let job = dir.path().join("vars.json");
    std::fs::write(
        &job,
        r#"{"job": {"content": [{
          "reader": {"name": "streamreader", "parameter": {"column": [{"type": "string", "value": "${x}-${y}"}], "sliceRecordCount": "${n}"}},
          "writer": {"name": "streamwriter", "parameter": {}}}]}}"#,
    )
    .expect("write job");
    for args in [
        vec!["-p=-Dx=1 -Dy=2 -Dn=3"],
        vec!["-p", "-Dx=1 -Dy=2 -Dn=3"],
        vec!["--param=-Dx=1 -Dy=2 -Dn=3"],
        vec!["-p", "x=1", "-p", "y=2", "--param", "n=3"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .arg("validate")
            .arg(&job)
            .args(&args)
            .env("FERRY_CATALOG", dir.path().join("none.json"))
            .output()
            .expect("run ferry validate");
        assert!(
            out.status.success(),
            "ferry validate {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A type's kind for coverage: `Timestamp`, `Decimal128`, `List`, `Interval(YearMonth)`.
fn type_kind(t: &arrow::datatypes::DataType) -> String {
    use arrow::datatypes::DataType as D;
    match t {
        D::Timestamp(..) => "Timestamp".into(),
        D::Decimal128(..) => "Decimal128".into(),
        D::Decimal256(..) => "Decimal256".into(),
        D::List(_) => "List".into(),
        D::Struct(_) => "Struct".into(),
        D::Map(..) => "Map".into(),
        D::Time32(_) => "Time32".into(),
        D::Time64(_) => "Time64".into(),
        D::FixedSizeBinary(_) => "FixedSizeBinary".into(),
        D::Interval(u) => format!("Interval({u:?})"),
        other => format!("{other:?}"),
    }
}

/// `Int16`, `Decimal128(p,s)`, `Time64(µs)`, `Timestamp(µs, UTC)`, `List` as
/// `ferry_postgres::types::TYPE_MAPPING` writes them.
fn pg_mapping_type(s: &str) -> Option<arrow::datatypes::DataType> {
    use arrow::datatypes::{DataType as D, Field, IntervalUnit, TimeUnit};
    use std::sync::Arc;
    Some(match s {
        "Int16" => D::Int16,
        "Int32" => D::Int32,
        "Int64" => D::Int64,
        "UInt32" => D::UInt32,
        "Float32" => D::Float32,
        "Float64" => D::Float64,
        "Boolean" => D::Boolean,
        "Utf8" => D::Utf8,
        "Binary" => D::Binary,
        "Date32" => D::Date32,
        "Time64(µs)" => D::Time64(TimeUnit::Microsecond),
        "Timestamp(µs)" => D::Timestamp(TimeUnit::Microsecond, None),
        "Timestamp(µs, UTC)" => D::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        "Interval(MonthDayNano)" => D::Interval(IntervalUnit::MonthDayNano),
        "List" => D::List(Arc::new(Field::new("item", D::Int64, true))),
        "base type" => return None,
        d if d.starts_with("Decimal128(") => D::Decimal128(19, 2),
        other => panic!("the test does not know PostgreSQL's Arrow type {other:?}; add it here"),
    })
}

/// Whatever a PostgreSQL or ODPS reader can produce is either in docs/parquet.md's type
/// table (and writable) or named on that page as a type that cannot be staged.
#[test]
fn parquet_page_covers_every_type_the_readers_produce() {
    ferry_connectors::install();
    use ferry_odps::wire::{arrow_type, OdpsType};
    let text = read("docs/parquet.md");
    let documented: BTreeSet<String> = table_rows(&text, "### Schema and types")
        .iter()
        .flat_map(|row| split_type_cell(&row[0]))
        .flat_map(|name| parquet_doc_types(&name))
        .map(|t| type_kind(&t))
        .collect();
    let mut produced = Vec::new();
    for (pg, arrow) in ferry_postgres::types::TYPE_MAPPING {
        if let Some(t) = pg_mapping_type(arrow) {
            produced.push((format!("PostgreSQL {pg}"), t));
        }
    }
    for v in ALL_ODPS_VARIANTS {
        let example = match *v {
            "decimal" => "decimal(10,2)".to_string(),
            "varchar" | "char" => format!("{v}(10)"),
            "array" => "array<bigint>".into(),
            "map" => "map<string,bigint>".into(),
            "struct" => "struct<a:bigint>".into(),
            other => other.to_string(),
        };
        let t = OdpsType::parse(&example).expect("ODPS type");
        produced.push((format!("ODPS {example}"), arrow_type(&t)));
    }
    let mut wrong = Vec::new();
    for (what, t) in produced {
        let kind = type_kind(&t);
        if !documented.contains(&kind) && !text.contains(&kind) {
            wrong.push(format!(
                "{what} reads as {t}, which docs/parquet.md neither lists nor names as unwritable"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ---------------------------------------------------------------------------------------
// Troubleshooting messages

/// Jobs that fail without any server, and the command that shows each failure.
const BAD_JOBS: &[(&str, &str, &[&str])] = &[
    (
        "syn.json",
        "{\n  \"type\": \"job\",\n  \"version\": \"1.0\",\n  \"configuration\": {\n    \"reader\": {\"plugin\": \"stream\", \"parameter\": {\"column\": [{\"type\": \"long\", \"value\": \"1\"}]}},\n    \"writer\": {\"plugin\": \"stream\" \"parameter\": {}}\n  }\n}\n",
        &["validate", "syn.json"],
    ),
    (
        "base.json",
        r#"{"type": "job", "version": "1.0", "configuration": {
  "reader": {"plugin": "stream", "parameter": {"column": [{"type": "long", "value": "1"}]}},
  "writer": {"plugin": "stream", "parameter": {}},
  "setting": {"speed": {"concurent": 2}}}}
"#,
        &["validate", "base.json"],
    ),
    (
        "col.json",
        r#"{"type": "job", "version": "1.0", "configuration": {
  "reader": {"plugin": "stream", "parameter": {"column": [{"type": "long", "value": "1"}, {"type": "string", "value": "a"}, {"type": "long", "value": "1", "zz": 1}]}},
  "writer": {"plugin": "stream", "parameter": {}}}}
"#,
        &["validate", "col.json"],
    ),
    (
        "plug.json",
        r#"{"type": "job", "version": "1.0", "configuration": {
  "reader": {"plugin": "streem", "parameter": {}},
  "writer": {"plugin": "stream", "parameter": {}}}}
"#,
        &["validate", "plug.json"],
    ),
    (
        "vars.json",
        r#"{"type": "job", "version": "1.0", "x": "$[yyyymmd]", "configuration": {
  "reader": {"plugin": "postgresql", "parameter": {"datasource": "l_PostGreSql",
    "table": "public.${tbl}", "column": ["id"]}},
  "writer": {"plugin": "stream", "parameter": {}}}}
"#,
        &["validate", "vars.json"],
    ),
    (
        "date.json",
        r#"{"job": {"content": [{"reader": {"name": "streamreader", "parameter": {"column": [{"type": "long", "value": "1"}]}}, "writer": {"name": "streamwriter", "parameter": {}}}]}}"#,
        &["validate", "date.json", "--bizdate", "2026-13-01"],
    ),
    (
        "count.json",
        r#"{"job": {"content": [{"reader": {"name": "streamreader", "parameter": {"column": [{"type": "long", "value": "1", "name": "id"}, {"type": "string", "value": "x", "name": "name"}, {"type": "long", "value": "1", "name": "year"}], "sliceRecordCount": 3}},
 "writer": {"name": "parquetwriter", "parameter": {"path": "out", "column": ["id", "name"]}}}]}}"#,
        &["validate", "count.json"],
    ),
    (
        "ds.json",
        r#"{"type": "job", "version": "1.0", "configuration": {
  "reader": {"plugin": "stream", "parameter": {"column": [{"type": "long", "value": "1"}]}},
  "writer": {"plugin": "postgresql", "parameter": {"datasource": "l_PostgreSql", "table": "public.person", "column": ["id"]}}}}
"#,
        &["validate", "ds.json"],
    ),
    (
        "down.json",
        r#"{"type": "job", "version": "1.0", "configuration": {
  "reader": {"plugin": "stream", "parameter": {"column": [{"type": "long", "value": "1"}]}},
  "writer": {"plugin": "postgresql", "parameter": {"datasource": "l_PostGreSql", "table": "public.person", "column": ["id"]}}}}
"#,
        &["validate", "down.json"],
    ),
    (
        "pw-a.json",
        r#"{"job": {"content": [{"reader": {"name": "streamreader", "parameter": {"column": [{"type": "long", "value": "1", "name": "id"}], "sliceRecordCount": 3}},
 "writer": {"name": "parquetwriter", "parameter": {"path": "pq/t", "fileName": "a"}}}]}}"#,
        &["run", "pw-a.json", "--progress-secs", "0"],
    ),
    (
        "pw-b.json",
        r#"{"job": {"content": [{"reader": {"name": "streamreader", "parameter": {"column": [{"type": "string", "value": "x", "name": "id"}], "sliceRecordCount": 3}},
 "writer": {"name": "parquetwriter", "parameter": {"path": "pq/t", "fileName": "b"}}}]}}"#,
        &["run", "pw-b.json", "--progress-secs", "0"],
    ),
    (
        "pr.json",
        r#"{"job": {"content": [{"reader": {"name": "parquetreader", "parameter": {"path": "pq/t", "column": ["id"]}},
 "writer": {"name": "streamwriter", "parameter": {}}}]}}"#,
        &["run", "pr.json", "--progress-secs", "0"],
    ),
    (
        "pr2.json",
        r#"{"job": {"content": [{"reader": {"name": "parquetreader", "parameter": {"path": "pq/nothing"}},
 "writer": {"name": "streamwriter", "parameter": {}}}]}}"#,
        &["validate", "pr2.json"],
    ),
    (
        "dry.json",
        r#"{"job": {"setting": {"dryRun": true}, "content": [{"reader": {"name": "streamreader", "parameter": {"column": [{"type": "long", "value": "1"}]}}, "writer": {"name": "streamwriter", "parameter": {}}}]}}"#,
        &["validate", "dry.json"],
    ),
    (
        "frag.json",
        "// the setting of a job, copied alone\n\"setting\": {\"speed\": {\"channel\": 2}}\n",
        &["validate", "frag.json"],
    ),
    (
        "comma.json",
        "{\"job\": {\"content\": [{\"reader\": {\"name\": \"streamreader\", \"parameter\": {\"column\": [{\"type\": \"long\", \"value\": \"1\"}]}}，\n  \"writer\": {\"name\": \"streamwriter\", \"parameter\": {}}}]}}\n",
        &["validate", "comma.json"],
    ),
    (
        "step.json",
        r#"{"type": "job", "version": "2.0", "steps": [
  {"category": "reader", "name": "Reader", "parameter": {"datasource": "l_PostgreSql", "table": "public.person", "column": ["id"]}},
  {"stepType": "stream", "category": "writer", "name": "Writer", "parameter": {}}]}
"#,
        &["validate", "step.json"],
    ),
    (
        "fmt.json",
        r#"{"job": {"content": [{"reader": {"name": "streamreader", "parameter": {"column": [{"type": "date", "value": "2026-11-22 24:00", "dateFormat": "yyyy-MM-dd kk:mm"}]}}, "writer": {"name": "streamwriter", "parameter": {}}}]}}"#,
        &["validate", "fmt.json"],
    ),
    (
        "groovy.json",
        r#"{"job": {"content": [{"reader": {"name": "streamreader", "parameter": {"column": [{"type": "long", "value": "1", "name": "id"}]}}, "writer": {"name": "streamwriter", "parameter": {}},
 "transformer": [{"name": "dx_groovy", "parameter": {"code": "return record;"}}]}]}}"#,
        &["validate", "groovy.json"],
    ),
];

/// A Parquet file's job id (`b-18ead639a67e6c2d7fe7-000-00000.parquet`) as `<job>`.
fn mask_job_ids(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find(|c: char| c.is_ascii_hexdigit()) {
        let run: String = rest[i..]
            .chars()
            .take_while(|c| c.is_ascii_hexdigit())
            .collect();
        out.push_str(&rest[..i]);
        if run.len() >= 16 && rest[..i].ends_with('-') {
            out.push_str("<job>");
        } else {
            out.push_str(&run);
        }
        rest = &rest[i + run.len()..];
    }
    out.push_str(rest);
    out
}

/// The `error:` lines docs/troubleshooting.md quotes are the ones ferry prints (run in a
/// folder shown as `/tmp/w`, with a catalog whose servers do not exist).
#[test]
fn troubleshooting_quotes_real_messages() {
    ferry_connectors::install();
    let dir = tempfile::tempdir().expect("tempdir");
    let cat = dir.path().join("cat.json");
    std::fs::write(
        &cat,
        r#"{"datasources": {
  "l_PostGreSql": {"type": "postgresql", "jdbcUrl": "jdbc:postgresql://127.0.0.1:1/postgres", "username": "ferry", "password": "x"},
  "odps_first": {"type": "odps", "endpoint": "http://127.0.0.1:1/api", "project": "demo", "accessId": "ak", "accessKey": "sk"}}}"#,
    )
    .expect("catalog");
    let doc = mask_job_ids(&read("docs/troubleshooting.md"));
    let shown = dir.path().display().to_string();
    let mut missing = Vec::new();
    for (file, text, args) in BAD_JOBS {
        std::fs::write(dir.path().join(file), text).expect("job");
        let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(*args)
            .current_dir(dir.path())
            .env("FERRY_CATALOG", &cat)
            .env("NO_COLOR", "1")
            .output()
            .expect("run ferry");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if file.starts_with("pw-") {
            assert!(out.status.success(), "{file}: {stderr}");
            continue; // only writes the files the next job reads
        }
        assert!(!out.status.success(), "{file} should fail");
        let line = stderr
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_else(|| panic!("{file}: no error line in {stderr}"));
        let line = mask_job_ids(&line.replace(&shown, "/tmp/w"));
        if !doc.contains(&line) {
            missing.push(format!("    {line}"));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/troubleshooting.md does not quote these messages:\n{}",
        missing.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// The settings and catalog references

/// Keys listed after "valid keys are: " or "expected one of `a`, `b`" in an error.
fn listed_keys(msg: &str) -> BTreeSet<String> {
    if let Some((_, list)) = msg.split_once("valid keys are: ") {
        return list.split(", ").map(|k| k.trim().to_string()).collect();
    }
    let (_, list) = msg
        .split_once("expected one of ")
        .unwrap_or_else(|| panic!("no key list in {msg:?}"));
    list.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn jobs_md_settings_table_lists_every_setting() {
    ferry_connectors::install();
    let probe = |setting: &str| {
        let text = format!(
            r#"{{"job": {{"setting": {setting}, "content": [{{"reader": {{"name": "streamreader", "parameter": {{}}}}, "writer": {{"name": "streamwriter", "parameter": {{}}}}}}]}}}}"#
        );
        let e = parse_job(&text, "p.json", &vars()).expect_err("probe rejected");
        listed_keys(&e.to_string())
    };
    let mut code: BTreeSet<String> = BTreeSet::new();
    for k in probe(&format!(r#"{{"{PROBE}": 1}}"#)) {
        if k == "speed" || k == "errorLimit" || k == "retry" {
            let inner = probe(&format!(r#"{{"{k}": {{"{PROBE}": 1}}}}"#));
            code.extend(inner.into_iter().map(|i| format!("{k}.{i}")));
        } else {
            code.insert(k);
        }
    }
    assert!(code.len() >= 9, "{code:?}");
    let text = read("docs/jobs.md");
    let rows = table_rows(&text, "## Settings");
    let documented: BTreeSet<String> = rows
        .iter()
        .flat_map(|r| {
            r[0].split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        code, documented,
        "docs/jobs.md's Settings table (right) and the job parser (left) disagree"
    );
}

#[test]
fn datasources_md_lists_every_catalog_key() {
    ferry_connectors::install();
    let dir = tempfile::tempdir().expect("tempdir");
    let text = read("docs/datasources.md");
    let sec = section(&text, "# The datasource catalog").expect("page");
    // Rows: | type | key | meaning |; a blank type continues the previous one.
    let mut documented: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current = String::new();
    for line in sec.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() < 3 || cells[0] == "type" || cells[0].starts_with("---") {
            continue;
        }
        if !cells[0].is_empty() {
            current = cells[0].split('`').nth(1).unwrap_or(cells[0]).to_string();
        }
        for k in cells[1].split('`').skip(1).step_by(2) {
            documented
                .entry(current.clone())
                .or_default()
                .insert(k.to_string());
        }
    }
    let shared = documented.remove("all").unwrap_or_default();
    let kinds: Vec<_> = ferry_core::connector::datasource_kinds().collect();
    assert_eq!(
        documented.keys().cloned().collect::<Vec<_>>(),
        {
            let mut k: Vec<String> = kinds.iter().map(|(c, _)| c.name.to_string()).collect();
            k.sort();
            k
        },
        "docs/datasources.md documents other types than the connectors have"
    );
    for (c, kind) in kinds {
        let keys = &documented[c.name];
        // the catalog parser lists the keys it takes when it meets one it does not
        let path = dir.path().join(format!("{}.json", c.name));
        std::fs::write(
            &path,
            format!(
                r#"{{"datasources": {{"a": {{"type": "{}", "{PROBE}": "1"}}}}}}"#,
                c.name
            ),
        )
        .expect("write");
        let e = Catalog::load(&path)
            .expect_err("probe rejected")
            .to_string();
        let code = listed_keys(&e);
        let doc: BTreeSet<String> = keys.union(&shared).cloned().collect();
        assert_eq!(
            code, doc,
            "docs/datasources.md (right) and the catalog parser (left) disagree on {}",
            c.name
        );
        let table: BTreeSet<String> = kind
            .fields
            .iter()
            .map(|f| f.key.to_string())
            .chain([ferry_core::catalog::DESCRIPTION.to_string()])
            .collect();
        assert_eq!(
            code, table,
            "the catalog parser and {}'s field table",
            c.name
        );
    }
}
