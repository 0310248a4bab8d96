//! The job model: DataWorks v1 (`configuration.reader.plugin`), DataWorks v2 (`steps` +
//! `order.hops`) and DataX (`job.content[0].reader.name`) job JSON, with `//` and `/* */`
//! comments and trailing commas, parsed into one [`Job`].

mod relaxed;
mod settings;

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

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
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            channels: 1,
            bytes_per_sec: None,
            records_per_sec: None,
            error_limit: ErrorLimit::default(),
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
    /// Things accepted but worth saying (ignored keys, `*` columns).
    pub warnings: Vec<String>,
}

/// Plugin names ferry knows, canonical first then aliases, for readers.
pub const READER_PLUGINS: &[(&str, &[&str])] = &[
    ("postgresql", &["postgresqlreader"]),
    ("odps", &["odpsreader"]),
    ("parquet", &["parquetreader"]),
    ("stream", &["streamreader"]),
];

/// Plugin names ferry knows, canonical first then aliases, for writers.
pub const WRITER_PLUGINS: &[(&str, &[&str])] = &[
    ("postgresql", &["postgresqlwriter"]),
    ("odps", &["odpswriter"]),
    ("parquet", &["parquetwriter"]),
    ("stream", &["streamwriter"]),
];

/// Read, resolve variables in and parse a job file.
pub fn load_job(path: &Path, vars: &VarContext) -> Result<Job> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading job {}", path.display()), e))?;
    parse_job(&text, &path.display().to_string(), vars)
}

/// Parse a job from text. `name` is used in messages.
///
/// Steps: comments and trailing commas are blanked (lines and columns stay), variables
/// are resolved in the remaining text (values inside JSON strings are escaped), the
/// JSON is parsed (a syntax error reads `NAME:LINE:COL: message`, pointing into the
/// original text), the shape is detected and the skeleton checked strictly. Errors are
/// [`Error::Config`] prefixed with `name`.
pub fn parse_job(text: &str, name: &str, vars: &VarContext) -> Result<Job> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let plain = relaxed::to_plain_json(text)
        .map_err(|e| Error::config(format!("{name}:{}:{}: {}", e.line, e.column, e.message)))?;
    let resolved = crate::vars::scan(&plain, vars, true).map_err(|e| e.context(name))?;
    let value: Value = serde_json::from_str(&resolved.text).map_err(|e| {
        let (line, column) = original_position(text, &resolved, e.line(), e.column());
        Error::config(format!("{name}:{line}:{column}: {}", serde_message(&e)))
    })?;
    build(value, name).map_err(|e| e.context(name))
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

fn build(value: Value, name: &str) -> Result<Job> {
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
        ["steps"] => dataworks_v2(&value, &mut warnings)?,
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
    let settings = settings(c.setting, "configuration.setting", warnings)?;
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
    step_type: String,
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

fn dataworks_v2(value: &Value, warnings: &mut Vec<String>) -> Result<Parts> {
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
    let reader = plugin_spec(
        &r.step_type,
        r.parameter,
        Role::Reader,
        &format!("steps[{ri}].stepType"),
        &format!("steps[{ri}].parameter"),
    )?;
    let writer = plugin_spec(
        &w.step_type,
        w.parameter,
        Role::Writer,
        &format!("steps[{wi}].stepType"),
        &format!("steps[{wi}].parameter"),
    )?;
    let settings = settings(f.setting, "setting", warnings)?;
    Ok((JobShape::DataWorksV2, reader, writer, Vec::new(), settings))
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
    if f.core.is_some() {
        warnings.push(
            "core: DataX engine tuning, accepted and ignored by ferry (its byte/record caps \
             are job-wide: set them in job.setting.speed)"
                .into(),
        );
    }
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
    let settings = settings(f.job.setting, "job.setting", warnings)?;
    Ok((JobShape::DataX, reader, writer, transformers, settings))
}

#[derive(Clone, Copy)]
enum Role {
    Reader,
    Writer,
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
    let (table, what) = match role {
        Role::Reader => (READER_PLUGINS, "reader"),
        Role::Writer => (WRITER_PLUGINS, "writer"),
    };
    let w = written.trim().to_ascii_lowercase();
    for (canonical, aliases) in table {
        if *canonical == w || aliases.contains(&w.as_str()) {
            return Ok(canonical);
        }
    }
    let (other, other_what) = match role {
        Role::Reader => (WRITER_PLUGINS, "writer"),
        Role::Writer => (READER_PLUGINS, "reader"),
    };
    for ((canonical, aliases), (_, mine)) in other.iter().zip(table) {
        if aliases.contains(&w.as_str()) {
            let suggestion = mine.first().copied().unwrap_or(canonical);
            return Err(Error::config(format!(
                "{path}: \"{written}\" is a {other_what} plugin; did you mean \"{suggestion}\"?"
            )));
        }
    }
    let all: Vec<&str> = table
        .iter()
        .flat_map(|(c, a)| std::iter::once(*c).chain(a.iter().copied()))
        .collect();
    let known: Vec<&str> = table.iter().map(|(c, _)| *c).collect();
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
