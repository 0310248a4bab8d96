//! The job model: DataWorks v1 (`configuration.reader.plugin`), DataWorks v2 (`steps` +
//! `order.hops`) and DataX (`job.content[0].reader.name`) job JSON, with `//` and `/* */`
//! comments and trailing commas, parsed into one [`Job`].
//!
//! Also accepted, the way jobs are really written: whitespace look-alikes copied from web
//! pages (no-break and ideographic spaces, a stray byte-order mark; warned), DataWorks v2
//! steps without `stepType` (the plugin is the type of the step's `datasource` in the
//! catalog; noted). Refused with a precise message: full-width punctuation outside
//! strings, a file holding only part of a job, reader and writer `column` lists of
//! different lengths.

mod columns;
mod fragment;
mod relaxed;
mod settings;

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::catalog::Catalog;
use crate::connector::{self, Role};
use crate::error::{Error, Result};
use crate::params;
use crate::vars::VarContext;
use settings::{settings, RawSetting};

/// Which of the three job shapes a file used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobShape {
    /// `{"type":"job","version":"1.0","configuration":{"reader":{"plugin":..}}}`
    DataWorksV1,
    /// `{"type":"job","version":"2.0","steps":[..],"order":{"hops":[..]}}`
    DataWorksV2,
    /// `{"job":{"content":[{"reader":{"name":..}}]}}`
    DataX,
}

/// Reader or writer as the job gives it.
#[derive(Debug, Clone)]
pub struct PluginSpec {
    /// Canonical plugin name: `postgresql`, `odps`, `parquet`, `stream`.
    pub plugin: &'static str,
    /// The name as written in the job (`postgresqlreader`).
    pub written_as: String,
    /// The `parameter` object, variables resolved.
    pub params: Value,
    /// JSON path of `params` (`configuration.reader.parameter`), for messages.
    pub path: String,
}

/// One DataX `transformer` entry.
#[derive(Debug, Clone)]
pub struct TransformerSpec {
    /// `dx_substr`, `dx_pad`, `dx_replace`, `dx_filter`, `dx_sql`, ...
    pub name: String,
    /// Its `parameter` object.
    pub parameter: Value,
    /// JSON path of the entry.
    pub path: String,
}

/// `errorLimit`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorLimit {
    /// Fail when dirty records > this; wins over `percentage`.
    pub record: Option<u64>,
    /// Fail at the end when dirty / read > this.
    pub percentage: Option<f64>,
}

/// How failed splits are retried: `setting.retry`, or DataX's
/// `core.container.task.failOver` (same keys, same meaning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per split, the first included (DataX `maxRetryTimes`: a split is tried
    /// again while its attempts are fewer than this). 1 = never retry.
    pub attempts: u32,
    /// Wait before the first retry (`retryIntervalInMsec`); each later wait doubles, with
    /// random jitter.
    pub interval_ms: u64,
    /// The longest single wait (`maxWaitInMsec`).
    pub max_wait_ms: u64,
}

impl Default for RetryPolicy {
    /// 4 attempts, waits of about 1 s, 2 s, 4 s (at most 60 s each).
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            interval_ms: 1000,
            max_wait_ms: 60_000,
        }
    }
}

/// `setting`.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `concurrent` (DataWorks) / `channel` (DataX); at least 1.
    pub channels: usize,
    /// Job-wide byte cap in bytes/s, from `mbps` (MiB/s, honoured unless v2 `throttle` is
    /// false) or DataX `byte`.
    pub bytes_per_sec: Option<u64>,
    /// Job-wide record cap in rows/s (DataX `record`).
    pub records_per_sec: Option<u64>,
    /// `errorLimit`.
    pub error_limit: ErrorLimit,
    /// Split retries.
    pub retry: RetryPolicy,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            channels: 1,
            bytes_per_sec: None,
            records_per_sec: None,
            error_limit: ErrorLimit::default(),
            retry: RetryPolicy::default(),
        }
    }
}

/// A parsed, validated job.
#[derive(Debug, Clone)]
pub struct Job {
    /// File name or `<inline>`, for messages.
    pub name: String,
    /// Shape it was written in.
    pub shape: JobShape,
    /// The reader.
    pub reader: PluginSpec,
    /// The writer.
    pub writer: PluginSpec,
    /// DataX transformers, in order.
    pub transformers: Vec<TransformerSpec>,
    /// Speed, channels and error limits.
    pub settings: Settings,
    /// Things accepted but worth saying (ignored keys, `*` columns). Entries that start
    /// with [`NOTE`] are not problems, only information (a `stepType` inferred from the
    /// catalog): show them as notes.
    pub warnings: Vec<String>,
}

/// The prefix of a [`Job::warnings`] entry that is a note, not a warning.
pub const NOTE: &str = "note: ";

/// Read, resolve variables in and parse a job file.
///
/// A DataWorks v2 step without `stepType` cannot be resolved without a catalog; use
/// [`load_job_with`] for that.
pub fn load_job(path: &Path, vars: &VarContext) -> Result<Job> {
    load_job_with(path, vars, None)
}

/// [`load_job`] with the datasource catalog, which DataWorks v2 steps without `stepType`
/// take their plugin from.
pub fn load_job_with(path: &Path, vars: &VarContext, catalog: Option<&Catalog>) -> Result<Job> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading job {}", path.display()), e))?;
    parse_job_with(&text, &path.display().to_string(), vars, catalog)
}

/// Parse a job from text. `name` is used in messages.
///
/// Steps: comments and trailing commas are blanked (lines and columns stay), whitespace
/// look-alikes outside strings become spaces (with a warning) and full-width punctuation
/// outside strings is refused, variables are resolved in the remaining text (values inside
/// JSON strings are escaped), the JSON is parsed (a syntax error reads
/// `NAME:LINE:COL: message`, pointing into the original text; a file holding only part of
/// a job says so), the shape is detected and the skeleton checked strictly, and the reader
/// and writer `column` lists, when both are given, must be as long as each other. Errors
/// are [`Error::Config`] prefixed with `name`.
pub fn parse_job(text: &str, name: &str, vars: &VarContext) -> Result<Job> {
    parse_job_with(text, name, vars, None)
}

/// [`parse_job`] with the datasource catalog, which DataWorks v2 steps without `stepType`
/// take their plugin from.
pub fn parse_job_with(
    text: &str,
    name: &str,
    vars: &VarContext,
    catalog: Option<&Catalog>,
) -> Result<Job> {
    // A byte-order mark at the very start is the UTF-8 signature some editors write:
    // not worth a warning. Anywhere else it is a copied-in blank (see `relaxed`).
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let plain = relaxed::to_plain_json(text)
        .map_err(|e| Error::config(format!("{name}:{}:{}: {}", e.line, e.column, e.message)))?;
    let mut warnings: Vec<String> = plain
        .blanks
        .iter()
        .map(|b| {
            let times = match b.count {
                1 => String::new(),
                n => format!(" ({n} of them, the first here)"),
            };
            format!(
                "{name}:{}:{}: {} outside a string{times}, read as a space; \
                 it was probably copied from a web page",
                b.line, b.column, b.what
            )
        })
        .collect();
    let resolved = crate::vars::scan(&plain.text, vars, true).map_err(|e| e.context(name))?;
    let value: Value = match serde_json::from_str(&resolved.text) {
        Ok(v) => v,
        Err(e) => {
            let (line, column) = fragment::start(&plain.text, text);
            if let Some(kind) = fragment::members(&resolved.text) {
                return Err(Error::config(fragment::message(name, line, column, &kind)));
            }
            let (line, column) = original_position(text, &resolved, e.line(), e.column());
            return Err(Error::config(format!(
                "{name}:{line}:{column}: {}",
                serde_message(&e)
            )));
        }
    };
    if let Some(kind) = fragment::kind(&value) {
        let (line, column) = fragment::start(&plain.text, text);
        return Err(Error::config(fragment::message(name, line, column, &kind)));
    }
    for p in &resolved.unused_params {
        warnings.push(format!(
            "-p {p}: the job never uses ${p} or ${{{p}}}; check the name"
        ));
    }
    let mut job = build(value, name, catalog).map_err(|e| e.context(name))?;
    warnings.append(&mut job.warnings);
    job.warnings = warnings;
    Ok(job)
}

/// serde_json's message without its " at line L column C" tail.
fn serde_message(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    match msg.rfind(" at line ") {
        Some(p) => msg[..p].to_string(),
        None => msg,
    }
}

/// Map serde_json's (line, byte column) in the resolved text to (line, character
/// column) in the original text.
fn original_position(
    original: &str,
    resolved: &crate::vars::Resolved,
    line: usize,
    column: usize,
) -> (usize, usize) {
    let out = &resolved.text;
    let line_start = if line <= 1 {
        0
    } else {
        out.match_indices('\n')
            .nth(line - 2)
            .map_or(out.len(), |(p, _)| p + 1)
    };
    let at = (line_start + column.saturating_sub(1)).min(out.len());
    relaxed::line_col(original, resolved.original_offset(at))
}

/// Top-level keys that choose the shape.
const SHAPE_KEYS: &[&str] = &["job", "configuration", "steps"];

fn build(value: Value, name: &str, catalog: Option<&Catalog>) -> Result<Job> {
    let Value::Object(top) = &value else {
        return Err(Error::config(format!(
            "expected a JSON object with `job` (DataX), `configuration` (DataWorks v1) or \
             `steps` (DataWorks v2), found {}",
            params::type_name(&value)
        )));
    };
    let present: Vec<&str> = SHAPE_KEYS
        .iter()
        .copied()
        .filter(|k| top.contains_key(*k))
        .collect();
    let mut warnings = Vec::new();
    let job = match present.as_slice() {
        ["job"] => datax(&value, &mut warnings)?,
        ["configuration"] => dataworks_v1(&value, &mut warnings)?,
        ["steps"] => dataworks_v2(&value, catalog, &mut warnings)?,
        [] => {
            for key in top.keys() {
                if let Some(s) = params::nearest(key, SHAPE_KEYS) {
                    return Err(Error::config(format!(
                        "{key}: unknown key, did you mean \"{s}\"?"
                    )));
                }
            }
            return Err(Error::config(
                "not a job: expected a top-level `job` (DataX), `configuration` \
                 (DataWorks v1) or `steps` (DataWorks v2)",
            ));
        }
        many => {
            return Err(Error::config(format!(
                "the top level has {}; a job uses exactly one of `job` (DataX), \
                 `configuration` (DataWorks v1) and `steps` (DataWorks v2)",
                many.iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            )));
        }
    };
    let (shape, reader, writer, transformers, settings) = job;
    columns::check_counts(&reader, &writer)?;
    Ok(Job {
        name: name.to_string(),
        shape,
        reader,
        writer,
        transformers,
        settings,
        warnings,
    })
}

type Parts = (
    JobShape,
    PluginSpec,
    PluginSpec,
    Vec<TransformerSpec>,
    Settings,
);

/// Keys every shape accepts at the top level and ignores.
fn warn_extend(extend: &Option<Value>, warnings: &mut Vec<String>) {
    if extend.is_some() {
        warnings.push("extend: DataWorks editor metadata, ignored by ferry".into());
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct V1File {
    configuration: V1Configuration,
    #[serde(rename = "type", default)]
    _kind: Option<String>,
    #[serde(rename = "version", default)]
    _version: Option<Value>,
    #[serde(rename = "traceId", default)]
    _trace_id: Option<Value>,
    #[serde(default)]
    extend: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct V1Configuration {
    reader: V1Plugin,
    writer: V1Plugin,
    #[serde(default)]
    setting: Option<RawSetting>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct V1Plugin {
    plugin: String,
    #[serde(default)]
    parameter: Value,
}

fn dataworks_v1(value: &Value, warnings: &mut Vec<String>) -> Result<Parts> {
    let f: V1File = params::parse(value, "", &[], warnings)?;
    warn_extend(&f.extend, warnings);
    let c = f.configuration;
    let reader = plugin_spec(
        &c.reader.plugin,
        c.reader.parameter,
        Role::Reader,
        "configuration.reader.plugin",
        "configuration.reader.parameter",
    )?;
    let writer = plugin_spec(
        &c.writer.plugin,
        c.writer.parameter,
        Role::Writer,
        "configuration.writer.plugin",
        "configuration.writer.parameter",
    )?;
    let settings = settings(c.setting, "configuration.setting", None, warnings)?;
    Ok((JobShape::DataWorksV1, reader, writer, Vec::new(), settings))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct V2File {
    steps: Vec<V2Step>,
    #[serde(default)]
    setting: Option<RawSetting>,
    #[serde(default)]
    order: Option<V2Order>,
    #[serde(rename = "type", default)]
    _kind: Option<String>,
    #[serde(rename = "version", default)]
    _version: Option<Value>,
    #[serde(rename = "traceId", default)]
    _trace_id: Option<Value>,
    #[serde(default)]
    extend: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct V2Step {
    #[serde(default)]
    step_type: Option<String>,
    category: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    parameter: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct V2Order {
    #[serde(default)]
    hops: Vec<V2Hop>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct V2Hop {
    from: String,
    to: String,
}

fn dataworks_v2(
    value: &Value,
    catalog: Option<&Catalog>,
    warnings: &mut Vec<String>,
) -> Result<Parts> {
    let f: V2File = params::parse(value, "", &[], warnings)?;
    warn_extend(&f.extend, warnings);
    let mut reader: Option<(usize, V2Step)> = None;
    let mut writer: Option<(usize, V2Step)> = None;
    for (i, step) in f.steps.into_iter().enumerate() {
        let slot = match step.category.to_ascii_lowercase().as_str() {
            "reader" => &mut reader,
            "writer" => &mut writer,
            other => {
                return Err(Error::config(format!(
                    "steps[{i}].category: expected \"reader\" or \"writer\", found \"{other}\""
                )))
            }
        };
        if let Some((first, _)) = slot {
            return Err(Error::config(format!(
                "steps[{i}]: a second {} step (the first is steps[{first}]); ferry runs one \
                 reader and one writer per job",
                step.category.to_ascii_lowercase()
            )));
        }
        *slot = Some((i, step));
    }
    let (Some((ri, r)), Some((wi, w))) = (reader, writer) else {
        return Err(Error::config(
            "steps: expected one step with \"category\": \"reader\" and one with \
             \"category\": \"writer\"",
        ));
    };
    if let (Some(order), Some(rn), Some(wn)) = (&f.order, &r.name, &w.name) {
        if !order.hops.iter().any(|h| &h.from == rn && &h.to == wn) {
            return Err(Error::config(format!(
                "order.hops: expected a hop {{\"from\": \"{rn}\", \"to\": \"{wn}\"}} from the \
                 reader step to the writer step"
            )));
        }
    }
    let reader = step_spec(r, ri, Role::Reader, catalog, warnings)?;
    let writer = step_spec(w, wi, Role::Writer, catalog, warnings)?;
    let settings = settings(f.setting, "setting", None, warnings)?;
    Ok((JobShape::DataWorksV2, reader, writer, Vec::new(), settings))
}

/// A v2 step's plugin: its `stepType`, or else the type of its `datasource` in the
/// catalog (the HybridDB / AnalyticDB for PostgreSQL pages show steps without
/// `stepType`).
fn step_spec(
    step: V2Step,
    index: usize,
    role: Role,
    catalog: Option<&Catalog>,
    warnings: &mut Vec<String>,
) -> Result<PluginSpec> {
    let at = format!("steps[{index}]");
    let param_path = format!("{at}.parameter");
    if let Some(t) = &step.step_type {
        return plugin_spec(
            t,
            step.parameter,
            role,
            &format!("{at}.stepType"),
            &param_path,
        );
    }
    let label = match &step.name {
        Some(n) => format!("{at} (\"{n}\")"),
        None => at.clone(),
    };
    let kinds = connector::playing(role)
        .map(|c| format!("\"{}\"", c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let Some(ds) = step.parameter.get("datasource").and_then(Value::as_str) else {
        return Err(Error::config(format!(
            "{label}: no \"stepType\", and no {param_path}.datasource to infer it from; add \
             \"stepType\" (one of {kinds})"
        )));
    };
    let Some(catalog) = catalog else {
        return Err(Error::config(format!(
            "{label}: no \"stepType\"; it can be inferred from datasource \"{ds}\" only with \
             a datasource catalog; add \"stepType\" (one of {kinds})"
        )));
    };
    let source = catalog.get(ds).map_err(|e| {
        Error::config(format!(
            "{label}: no \"stepType\", and it cannot be inferred from {param_path}.datasource: \
             {e}; or add \"stepType\" (one of {kinds})"
        ))
    })?;
    let plugin = canonical_plugin(source.kind(), role, &format!("{at}.stepType"))?;
    warnings.push(format!(
        "{NOTE}{at}.stepType: not given; using \"{plugin}\", the type of datasource \"{ds}\" \
         in the catalog"
    ));
    Ok(PluginSpec {
        plugin,
        written_as: format!("stepType inferred from datasource {ds}"),
        params: object_or_empty(step.parameter, &param_path)?,
        path: param_path,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DataXFile {
    job: DataXJob,
    #[serde(default)]
    core: Option<Value>,
    #[serde(rename = "type", default)]
    _kind: Option<String>,
    #[serde(rename = "version", default)]
    _version: Option<Value>,
    #[serde(rename = "traceId", default)]
    _trace_id: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DataXJob {
    #[serde(default)]
    setting: Option<RawSetting>,
    content: Vec<DataXContent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DataXContent {
    reader: DataXPlugin,
    writer: DataXPlugin,
    #[serde(default)]
    transformer: Option<Vec<DataXPlugin>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DataXPlugin {
    name: String,
    #[serde(default)]
    parameter: Value,
}

fn datax(value: &Value, warnings: &mut Vec<String>) -> Result<Parts> {
    let f: DataXFile = params::parse(value, "", &[], warnings)?;
    let fail_over = match &f.core {
        Some(core) => settings::core_fail_over(core, warnings)?,
        None => None,
    };
    let n = f.job.content.len();
    if n > 1 {
        warnings.push(format!(
            "job.content: {n} entries; only job.content[0] is used, like DataX"
        ));
    }
    let Some(c) = f.job.content.into_iter().next() else {
        return Err(Error::config(
            "job.content: empty; expected one entry with a reader and a writer",
        ));
    };
    let reader = plugin_spec(
        &c.reader.name,
        c.reader.parameter,
        Role::Reader,
        "job.content[0].reader.name",
        "job.content[0].reader.parameter",
    )?;
    let writer = plugin_spec(
        &c.writer.name,
        c.writer.parameter,
        Role::Writer,
        "job.content[0].writer.name",
        "job.content[0].writer.parameter",
    )?;
    let mut transformers = Vec::new();
    for (i, t) in c.transformer.unwrap_or_default().into_iter().enumerate() {
        let path = format!("job.content[0].transformer[{i}]");
        let parameter = object_or_empty(t.parameter, &format!("{path}.parameter"))?;
        transformers.push(TransformerSpec {
            name: t.name,
            parameter,
            path,
        });
    }
    let settings = settings(f.job.setting, "job.setting", fail_over, warnings)?;
    Ok((JobShape::DataX, reader, writer, transformers, settings))
}

/// Resolve a plugin name (case-insensitive, canonical or alias) and check `parameter`.
fn plugin_spec(
    written: &str,
    parameter: Value,
    role: Role,
    name_path: &str,
    param_path: &str,
) -> Result<PluginSpec> {
    let plugin = canonical_plugin(written, role, name_path)?;
    Ok(PluginSpec {
        plugin,
        written_as: written.to_string(),
        params: object_or_empty(parameter, param_path)?,
        path: param_path.to_string(),
    })
}

/// The canonical name of a reader or writer plugin written as `written`.
fn canonical_plugin(written: &str, role: Role, path: &str) -> Result<&'static str> {
    if let Some(c) = connector::find(written, role) {
        return Ok(c.name);
    }
    let what = role.as_str();
    if let Some(c) = connector::find(written, role.other()) {
        if c.plays(role) {
            let suggestion = c.aliases(role).first().copied().unwrap_or(c.name);
            return Err(Error::config(format!(
                "{path}: \"{written}\" is a {} plugin; did you mean \"{suggestion}\"?",
                role.other().as_str()
            )));
        }
    }
    let w = written.trim().to_ascii_lowercase();
    let all: Vec<&str> = connector::playing(role)
        .flat_map(|c| std::iter::once(c.name).chain(c.aliases(role).iter().copied()))
        .collect();
    let known: Vec<&str> = connector::playing(role).map(|c| c.name).collect();
    let hint = params::nearest(&w, &all)
        .map(|s| format!(", did you mean \"{s}\"?"))
        .unwrap_or_default();
    Err(Error::config(format!(
        "{path}: unknown {what} plugin \"{written}\"{hint} (known {what}s: {})",
        known.join(", ")
    )))
}

/// `parameter` must be an object; absent or `null` means `{}`.
fn object_or_empty(v: Value, path: &str) -> Result<Value> {
    match v {
        Value::Null => Ok(Value::Object(Default::default())),
        Value::Object(_) => Ok(v),
        other => Err(Error::config(format!(
            "{path}: expected an object, found {}",
            params::type_name(&other)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Datasource;
    use std::collections::BTreeMap;

    fn vars(params: &[(&str, &str)]) -> VarContext {
        let p: BTreeMap<String, String> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let day = chrono::NaiveDate::from_ymd_opt(2025, 11, 1).unwrap();
        VarContext::new(None, None, day, p)
    }

    fn catalog() -> Catalog {
        let mut c = Catalog::empty(None);
        crate::connector::install_for_tests();
        let pg = Datasource::new("postgresql").with("url", "postgres://u@127.0.0.1:1/db");
        c.insert("adb_pg", pg).unwrap();
        let odps = Datasource::new("odps")
            .with("endpoint", "http://127.0.0.1:1/api")
            .with("project", "p");
        c.insert("odps_first", odps).unwrap();
        c
    }

    const V2_NO_STEP_TYPE: &str = r#"{"type": "job", "version": "2.0", "steps": [
  {"category": "reader", "name": "Reader", "parameter": {"datasource": "adb_pg", "table": "t"}},
  {"category": "writer", "name": "Writer", "parameter": {"datasource": "odps_first", "table": "t"}}],
  "order": {"hops": [{"from": "Reader", "to": "Writer"}]}}"#;

    #[test]
    fn step_type_is_inferred_from_the_datasource() {
        crate::connector::install_for_tests();
        let job = parse_job_with(V2_NO_STEP_TYPE, "j.json", &vars(&[]), Some(&catalog())).unwrap();
        assert_eq!(job.reader.plugin, "postgresql");
        assert_eq!(job.writer.plugin, "odps");
        assert_eq!(job.reader.path, "steps[0].parameter");
        assert_eq!(
            job.reader.written_as,
            "stepType inferred from datasource adb_pg"
        );
        assert_eq!(
            job.warnings,
            vec![
                "note: steps[0].stepType: not given; using \"postgresql\", the type of \
                 datasource \"adb_pg\" in the catalog",
                "note: steps[1].stepType: not given; using \"odps\", the type of datasource \
                 \"odps_first\" in the catalog"
            ]
        );
        assert!(job.warnings.iter().all(|w| w.starts_with(NOTE)));
    }

    #[test]
    fn step_type_that_cannot_be_inferred_names_the_step() {
        crate::connector::install_for_tests();
        let e = parse_job(V2_NO_STEP_TYPE, "j.json", &vars(&[])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "j.json: steps[0] (\"Reader\"): no \"stepType\"; it can be inferred from datasource \
             \"adb_pg\" only with a datasource catalog; add \"stepType\" (one of \"postgresql\", \
             \"odps\", \"parquet\", \"stream\")"
        );
        let unknown = V2_NO_STEP_TYPE.replace("\"adb_pg\"", "\"adb_pq\"");
        let e = parse_job_with(&unknown, "j.json", &vars(&[]), Some(&catalog()))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "j.json: steps[0] (\"Reader\"): no \"stepType\", and it cannot be inferred from \
                 steps[0].parameter.datasource: datasource \"adb_pq\" is not in the catalog"
            ),
            "{e}"
        );
        assert!(e.contains("Did you mean \"adb_pg\"?"), "{e}");
        assert!(
            e.ends_with(
                "; or add \"stepType\" (one of \"postgresql\", \"odps\", \"parquet\", \"stream\")"
            ),
            "{e}"
        );
        let nameless = r#"{"steps": [{"category": "reader", "parameter": {"table": "t"}},
            {"stepType": "stream", "category": "writer"}]}"#;
        let e = parse_job_with(nameless, "j.json", &vars(&[]), Some(&catalog()))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "j.json: steps[0]: no \"stepType\", and no steps[0].parameter.datasource"
            ),
            "{e}"
        );
        // a written stepType wins; the catalog is not consulted
        let given = V2_NO_STEP_TYPE.replace(
            r#"{"category": "reader","#,
            r#"{"stepType": "stream", "category": "reader","#,
        );
        let e = parse_job(
            &given.replace("\"adb_pg\"", "\"nowhere\""),
            "j.json",
            &vars(&[]),
        )
        .unwrap_err();
        // ... but the writer still needs it
        assert!(e.to_string().contains("steps[1] (\"Writer\")"), "{e}");
    }

    #[test]
    fn fragments_are_located_past_comments() {
        crate::connector::install_for_tests();
        let e = parse_job(
            "// copied\n\n  \"setting\": {\"speed\": {\"channel\": 1}},\n",
            "s.json",
            &vars(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("s.json:3:3: this looks like a job fragment (a setting,"),
            "{e}"
        );
        let e = parse_job("\"job\": {\"content\": []}", "u.json", &vars(&[]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "u.json:1:1: the file starts with \"job\": but has no { } around it; wrap the \
             whole file in { }"
        );
        let e = parse_job("{\"datasources\": {}}", "c.json", &vars(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("c.json:1:1: this is a datasource catalog"),
            "{e}"
        );
        // a real syntax error in a job is still a syntax error
        let e = parse_job("{\"job\": {\"content\": [}", "x.json", &vars(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.json:1:"), "{e}");
        assert!(!e.contains("fragment"), "{e}");
    }

    #[test]
    fn blanks_and_unused_params_are_warned_with_positions() {
        crate::connector::install_for_tests();
        let text = "{\"job\": {\"content\": [{\n\u{a0}\u{a0}\"reader\": {\"name\": \"stream\", \"parameter\": {\"x\": \"$used\"}},\n\u{3000}\"writer\": {\"name\": \"stream\"}}]}}";
        let job = parse_job(text, "b.json", &vars(&[("used", "1"), ("unused", "2")])).unwrap();
        assert_eq!(
            job.warnings,
            vec![
                "b.json:2:1: no-break space U+00A0 outside a string (2 of them, the first \
                 here), read as a space; it was probably copied from a web page",
                "b.json:3:1: ideographic space U+3000 outside a string, read as a space; it was \
                 probably copied from a web page",
                "-p unused: the job never uses $unused or ${unused}; check the name",
            ]
        );
        // a leading byte-order mark is the file's signature: no warning
        let job = parse_job(
            "\u{feff}{\"job\": {\"content\": [{\"reader\": {\"name\": \"stream\"}, \"writer\": {\"name\": \"stream\"}}]}}",
            "b.json",
            &vars(&[]),
        )
        .unwrap();
        assert!(job.warnings.is_empty(), "{:?}", job.warnings);
    }

    #[test]
    fn column_counts_are_compared_at_parse_time() {
        crate::connector::install_for_tests();
        let text = r#"{"configuration": {
  "reader": {"plugin": "odps", "parameter": {"column": ["a", "b", "'${bizdate}'"]}},
  "writer": {"plugin": "postgresql", "parameter": {"column": ["a", "b"]}}}}"#;
        let e = parse_job(text, "c.json", &vars(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "c.json: configuration.reader.parameter.column: the reader lists 3 columns \
                 [a, b, '20251031'] but the writer lists 2 [a, b] \
                 (configuration.writer.parameter.column)"
            ),
            "{e}"
        );
    }
}
