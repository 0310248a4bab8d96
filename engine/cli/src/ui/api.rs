//! The console's JSON API. Each handler calls what the matching command calls.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use ferry_core::catalog::{Datasource, DESCRIPTION};
use ferry_core::connector::{self, FieldKind};
use ferry_core::job::{parse_job_with, NOTE};
use ferry_core::Error;
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::runs::Event;
use super::Ui;
use crate::commands::{check_job, hide_url_password, plan_job, var_contexts, JobArgs};
use crate::job_cmd::prompt::Prompter;
use crate::job_cmd::wizard::End;
use crate::job_cmd::NewArgs;

type St = State<Arc<Ui>>;

/// Rows a table answer holds at most.
const MAX_ROWS: usize = 1000;

/// `{"error": message, "path": json path}` with a status.
pub fn error_response(status: StatusCode, message: &str, path: Option<String>) -> Response {
    let mut body = json!({ "error": message });
    if let Some(p) = path {
        body["path"] = Value::String(p);
    }
    (status, ok_body(&body)).into_response()
}

fn ok_body(v: &impl Serialize) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(v).unwrap_or_else(|_| "{}".into()),
    )
}

fn ok(v: impl Serialize) -> Response {
    ok_body(&v).into_response()
}

/// A ferry error as an HTTP answer: the CLI's message, the status by fault.
pub struct ApiError(Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self.0.root() {
            Error::Config(_) => StatusCode::BAD_REQUEST,
            Error::Schema(_) | Error::Data(_) | Error::ErrorLimit(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Error::Connect(_) | Error::Remote { .. } => StatusCode::BAD_GATEWAY,
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                StatusCode::NOT_FOUND
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let msg = self.0.to_string();
        error_response(status, &msg, error_location(&msg).path)
    }
}

pub type ApiResult = Result<Response, ApiError>;

fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        ApiError(Error::config(format!(
            "request body: {}: {}",
            e.path(),
            e.inner()
        )))
    })
}

/// Blank form fields are absent.
fn nz(s: &Option<String>) -> Option<String> {
    s.as_ref()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

// ---------------------------------------------------------------- datasources

/// A datasource as the browser sees it: no secret, only whether one is set (`passwordSet`),
/// URLs with their passwords hidden, where it points (`where`) and how its secret is given
/// (`secret`: `set`, `$VAR` or `none`).
fn view(name: &str, ds: &Datasource) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("name".into(), json!(name));
    m.insert("type".into(), json!(ds.kind()));
    m.insert(DESCRIPTION.into(), json!(ds.get(DESCRIPTION)));
    let mut secret = "none".to_string();
    if let Some((_, kind)) = connector::datasource_kind(ds.kind()) {
        for f in kind.fields {
            let value = ds.get(f.key);
            match f.kind {
                FieldKind::Secret => {
                    m.insert(format!("{}Set", f.key), json!(value.is_some()));
                    if value.is_some() {
                        secret = "set".into();
                    }
                }
                FieldKind::Url => {
                    m.insert(f.key.into(), json!(value.map(hide_url_password)));
                }
                FieldKind::SecretEnv => {
                    m.insert(f.key.into(), json!(value));
                    if let (Some(v), "none") = (value, secret.as_str()) {
                        secret = format!("${v}");
                    }
                }
                FieldKind::Text => {
                    m.insert(f.key.into(), json!(value));
                }
            }
        }
        m.insert("where".into(), json!((kind.locate)(ds)));
    }
    m.insert("secret".into(), json!(secret));
    Value::Object(m)
}

pub async fn datasources(State(ui): St) -> ApiResult {
    let c = ui.catalog()?;
    let list: Vec<Value> = c.iter().map(|(n, d)| view(n, d)).collect();
    Ok(ok(
        json!({ "catalog": ui.catalog_path.display().to_string(), "datasources": list }),
    ))
}

/// The datasource types and their fields, from which the console draws its form.
pub async fn kinds() -> ApiResult {
    let kinds: Vec<Value> = connector::datasource_kinds()
        .map(|(c, k)| {
            let fields: Vec<Value> = k
                .fields
                .iter()
                .map(|f| {
                    json!({
                        "key": f.key,
                        "label": f.label,
                        "help": f.help,
                        "kind": format!("{:?}", f.kind).to_ascii_lowercase(),
                        "required": f.required,
                    })
                })
                .collect();
            json!({ "type": c.name, "title": c.title, "fields": fields })
        })
        .collect();
    Ok(ok(json!({ "kinds": kinds })))
}

/// The add / edit form: `type`, `description`, the type's fields (text or null) and
/// `clearSecret`. Blank secrets keep the stored one (`clearSecret` removes it); a URL sent
/// back as shown (masked) keeps the stored URL; blank fields are absent.
#[derive(Debug, Deserialize)]
struct DatasourceForm {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, rename = "clearSecret")]
    clear_secret: bool,
    #[serde(flatten)]
    fields: std::collections::BTreeMap<String, Option<String>>,
}

fn keep_url(new: Option<String>, old: Option<&str>) -> Option<String> {
    match (new, old) {
        (Some(n), Some(o)) if n == hide_url_password(o) => Some(o.to_string()),
        (n, _) => n,
    }
}

impl DatasourceForm {
    fn to_datasource(&self, old: Option<&Datasource>) -> Result<Datasource, Error> {
        let Some((c, kind)) = connector::datasource_kind(&self.kind) else {
            // the catalog's check names the known types
            return Ok(Datasource::new(&self.kind));
        };
        let mut ds = Datasource::new(c.name);
        let old = old.filter(|o| o.kind() == c.name);
        for (key, value) in &self.fields {
            let value = value
                .as_ref()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty());
            let value = match kind.fields.iter().find(|f| f.key == key).map(|f| f.kind) {
                Some(FieldKind::Url) => keep_url(value, old.and_then(|o| o.get(key))),
                Some(FieldKind::Secret) if value.is_none() && !self.clear_secret => {
                    old.and_then(|o| o.get(key)).map(str::to_string)
                }
                _ => value,
            };
            ds.set(key, value);
        }
        // a stored secret the form does not mention stays, unless cleared
        for f in kind.fields.iter().filter(|f| f.kind == FieldKind::Secret) {
            if !self.fields.contains_key(f.key) && !self.clear_secret {
                ds.set(f.key, old.and_then(|o| o.get(f.key)).map(str::to_string));
            }
        }
        Ok(ds)
    }
}

pub async fn datasource_put(State(ui): St, Path(name): Path<String>, b: Bytes) -> ApiResult {
    let form: DatasourceForm = body(&b)?;
    let mut c = ui.catalog()?;
    let ds = form.to_datasource(c.get(&name).ok())?;
    c.insert(&name, ds)?;
    c.save()?;
    let v = view(&name, c.get(&name)?);
    Ok(ok(v))
}

pub async fn datasource_delete(State(ui): St, Path(name): Path<String>) -> ApiResult {
    let mut c = ui.catalog()?;
    if !c.remove(&name) {
        return Err(Error::config(format!(
            "datasource \"{name}\" is not in {}",
            ui.catalog_path.display()
        ))
        .into());
    }
    c.save()?;
    Ok(ok(json!({ "removed": name })))
}

/// Test Connectivity, for a saved datasource or (with a form in the body) one being edited.
pub async fn datasource_test(State(ui): St, Path(name): Path<String>, b: Bytes) -> ApiResult {
    let c = ui.catalog()?;
    let ds = if b.iter().all(u8::is_ascii_whitespace) {
        c.get(&name)?.clone()
    } else {
        let form: DatasourceForm = body(&b)?;
        form.to_datasource(c.get(&name).ok())?
    };
    let tested = match ferry_core::connector::browser(&name, &ds) {
        Ok(browser) => browser.test().await,
        Err(e) => Err(e),
    };
    Ok(ok(match tested {
        Ok(report) => json!({ "ok": true, "message": report }),
        Err(e) => json!({ "ok": false, "error": e.to_string() }),
    }))
}

pub async fn tables(State(ui): St, Path(name): Path<String>) -> ApiResult {
    let c = ui.catalog()?;
    let end = End::open(&c, &name)?;
    Ok(ok(json!({ "tables": end.list_tables().await? })))
}

pub async fn columns(
    State(ui): St,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let table = q
        .get("table")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::config("table is required"))?;
    let c = ui.catalog()?;
    let end = End::open(&c, &name)?;
    let (cols, keys) = end.columns(table).await?;
    let split = end.split_key(table).await.unwrap_or(None);
    let cols: Vec<Value> = cols
        .into_iter()
        .map(|(n, t)| json!({ "name": n, "type": t }))
        .collect();
    Ok(ok(
        json!({ "columns": cols, "partitionKeys": keys, "splitKey": split }),
    ))
}

// ---------------------------------------------------------------- preview and SQL

/// Batches as `{"columns": [{name, type}], "rows": [[text or null]]}`.
fn table_json(batches: &[arrow::record_batch::RecordBatch]) -> Result<Value, Error> {
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    let mut columns = Vec::new();
    let mut rows: Vec<Value> = Vec::new();
    let mut truncated = false;
    if let Some(b) = batches.first() {
        columns = b
            .schema()
            .fields()
            .iter()
            .map(|f| json!({ "name": f.name(), "type": f.data_type().to_string() }))
            .collect();
    }
    let opts = FormatOptions::default();
    'outer: for b in batches {
        let fmts = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::internal(format!("formatting rows: {e}")))?;
        for r in 0..b.num_rows() {
            if rows.len() >= MAX_ROWS {
                truncated = true;
                break 'outer;
            }
            let row: Vec<Value> = b
                .columns()
                .iter()
                .zip(&fmts)
                .map(|(c, f)| {
                    if c.is_null(r) {
                        Value::Null
                    } else {
                        Value::String(f.value(r).to_string())
                    }
                })
                .collect();
            rows.push(Value::Array(row));
        }
    }
    Ok(json!({ "columns": columns, "rows": rows, "truncated": truncated }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PreviewForm {
    /// A datasource name, `parquet`, or a Parquet path.
    source: String,
    table: Option<String>,
    partition: Option<String>,
    #[serde(rename = "where")]
    where_: Option<String>,
    limit: Option<usize>,
}

pub async fn preview(State(ui): St, b: Bytes) -> ApiResult {
    let f: PreviewForm = body(&b)?;
    let limit = f.limit.unwrap_or(10).min(MAX_ROWS);
    let (target, table) = if f.source.eq_ignore_ascii_case("parquet") {
        let path = nz(&f.table).ok_or_else(|| Error::config("a Parquet path is required"))?;
        (path, None)
    } else {
        (f.source.clone(), nz(&f.table))
    };
    let catalog = if crate::commands::is_path(&target) {
        None
    } else {
        Some(ui.catalog()?)
    };
    let batches = crate::commands::preview_batches(
        catalog.as_ref(),
        &target,
        table.as_deref(),
        nz(&f.partition).as_deref(),
        limit,
        nz(&f.where_).as_deref(),
    )
    .await?;
    Ok(ok(table_json(&batches)?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlForm {
    query: String,
}

/// `ferry sql`: DataFusion over quoted Parquet paths.
pub async fn sql(b: Bytes) -> ApiResult {
    let f: SqlForm = body(&b)?;
    let (_, batches) = ferry_transform::sql::query(&f.query).await?;
    Ok(ok(table_json(&batches)?))
}

// ---------------------------------------------------------------- wizard and validation

/// The wizard's answers: the flags of `ferry job new`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WizardForm {
    from: Option<String>,
    table: Option<String>,
    source_partition: Option<String>,
    #[serde(rename = "where")]
    where_: Option<String>,
    split_pk: Option<String>,
    to: Option<String>,
    target_table: Option<String>,
    partition: Option<String>,
    mapping: Option<String>,
    #[serde(default)]
    map: Vec<String>,
    #[serde(default)]
    pre_sql: Vec<String>,
    #[serde(default)]
    post_sql: Vec<String>,
    conflict: Option<String>,
    truncate: Option<bool>,
    concurrent: Option<u64>,
    mbps: Option<f64>,
    error_limit: Option<u64>,
    #[serde(default)]
    datax: bool,
}

fn lines(v: &[String]) -> Vec<String> {
    v.iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The wizard's choices of source and target: the catalog's datasources the wizard writes
/// jobs for, then the connectors of local files (`files: true`).
pub async fn wizard_ends(State(ui): St) -> ApiResult {
    let c = ui.catalog()?;
    let ends: Vec<Value> = crate::job_cmd::wizard::datasource_options(&c)
        .into_iter()
        .map(|(name, note)| {
            let files = c.get(&name).is_err();
            json!({ "name": name, "note": note, "files": files })
        })
        .collect();
    Ok(ok(json!({ "ends": ends })))
}

/// `ferry job new --yes` with the form's answers: the job JSON text and a file name.
pub async fn wizard(State(ui): St, b: Bytes) -> ApiResult {
    let f: WizardForm = body(&b)?;
    let args = NewArgs {
        from: nz(&f.from),
        table: nz(&f.table),
        source_partition: nz(&f.source_partition),
        where_: nz(&f.where_),
        split_pk: nz(&f.split_pk),
        to: nz(&f.to),
        target_table: nz(&f.target_table),
        partition: nz(&f.partition),
        mapping: nz(&f.mapping),
        map: lines(&f.map),
        pre_sql: lines(&f.pre_sql),
        post_sql: lines(&f.post_sql),
        conflict: nz(&f.conflict),
        truncate: f.truncate,
        concurrent: f.concurrent,
        mbps: f.mbps,
        error_limit: f.error_limit,
        out: None,
        datax: f.datax,
        yes: true,
        catalog: Some(ui.catalog_path.clone()),
    };
    let (text, file) = crate::job_cmd::wizard::compose(&args, &Prompter::new(true)).await?;
    Ok(ok(
        json!({ "text": text, "file": file.display().to_string() }),
    ))
}

/// Where in the job an error points: its JSON path, or the line and column of a syntax error.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Location {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u64>,
}

const PATH_ROOTS: &[&str] = &[
    "job",
    "configuration",
    "steps",
    "setting",
    "order",
    "extend",
    "reader",
    "writer",
    "content",
];

/// Find the JSON path (`configuration.reader.parameter.splitPk`) or `NAME:LINE:COL` in one
/// of ferry's messages.
pub fn error_location(msg: &str) -> Location {
    let mut loc = Location::default();
    for seg in msg.split(": ") {
        let seg = seg.trim();
        let mut nums = seg.rsplitn(3, ':');
        if let (Some(c), Some(l), Some(_)) = (nums.next(), nums.next(), nums.next()) {
            if let (Ok(l), Ok(c)) = (l.parse(), c.parse()) {
                if loc.line.is_none() {
                    loc.line = Some(l);
                    loc.column = Some(c);
                }
                continue;
            }
        }
        let is_path = seg.contains(['.', '['])
            && !seg.ends_with(".json")
            && seg
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "_.[]$".contains(ch))
            && PATH_ROOTS
                .iter()
                .any(|r| seg.split(['.', '[']).next() == Some(*r));
        if is_path && loc.path.is_none() {
            loc.path = Some(seg.to_string());
        }
    }
    loc
}

fn problem(e: &Error) -> Value {
    let msg = e.to_string();
    let mut v = serde_json::to_value(error_location(&msg)).unwrap_or_else(|_| json!({}));
    v["message"] = Value::String(msg);
    v
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ValidateForm {
    /// The job text (comments allowed).
    text: Option<String>,
    /// A job file in the jobs folder (read when `text` is absent; names messages).
    file: Option<String>,
    bizdate: Option<String>,
    #[serde(default)]
    params: Vec<String>,
    /// Connect and plan the splits, as `ferry validate` does (default true).
    connect: Option<bool>,
}

/// `ferry validate`: parse with the variables, look up datasources, check both plugins,
/// then (unless `connect` is false) connect and plan. Errors carry their JSON path.
pub async fn validate(State(ui): St, b: Bytes) -> ApiResult {
    let f: ValidateForm = body(&b)?;
    let name = match &f.file {
        Some(file) => job_file_name(file)?,
        None => "job".to_string(),
    };
    let text = match (&f.text, &f.file) {
        (Some(t), _) => t.clone(),
        (None, Some(_)) => read_job(&ui, &name)?,
        (None, None) => return Err(Error::config("give text or file").into()),
    };
    let catalog = Arc::new(ui.catalog()?);
    let args = job_args(&ui, &name, f.bizdate.clone(), f.params.clone());
    let vars = var_contexts(&args)?;
    let Some(vars) = vars.into_iter().next() else {
        return Err(Error::config("no business date to validate for").into());
    };
    let bizdate = vars.bizdate.format("%Y%m%d").to_string();
    let fail = |e: &Error, warnings: &[String]| {
        ok(json!({ "ok": false, "bizdate": bizdate, "errors": [problem(e)], "warnings": warnings }))
    };
    let job = match parse_job_with(&text, &name, &vars, Some(&catalog)) {
        Ok(j) => j,
        Err(e) => return Ok(fail(&e, &[])),
    };
    let mut warnings = job.warnings.clone();
    if let Err(e) = check_job(&job, &catalog, &mut warnings) {
        return Ok(fail(&e, &warnings));
    }
    let (notes, warnings): (Vec<String>, Vec<String>) =
        warnings.into_iter().partition(|w| w.starts_with(NOTE));
    let notes: Vec<String> = notes
        .iter()
        .map(|n| n.trim_start_matches(NOTE).to_string())
        .collect();
    let summary = json!({
        "name": job.name,
        "shape": format!("{:?}", job.shape),
        "reader": job.reader.plugin,
        "writer": job.writer.plugin,
        "channels": job.settings.channels,
        "bytesPerSec": job.settings.bytes_per_sec,
        "recordsPerSec": job.settings.records_per_sec,
        "errorLimitRecord": job.settings.error_limit.record,
    });
    let plan = if f.connect.unwrap_or(true) {
        match plan_job(&job, &catalog).await {
            Ok(p) => Some(p),
            Err(e) => {
                return Ok(ok(json!({
                    "ok": false, "bizdate": bizdate, "errors": [problem(&e)],
                    "warnings": warnings, "notes": notes, "job": summary
                })));
            }
        }
    } else {
        None
    };
    Ok(ok(json!({
        "ok": true, "bizdate": bizdate, "errors": [], "warnings": warnings,
        "notes": notes, "job": summary, "plan": plan
    })))
}

fn job_args(ui: &Ui, file: &str, bizdate: Option<String>, params: Vec<String>) -> JobArgs {
    JobArgs {
        job: ui.jobs.join(file),
        params: lines(&params),
        bizdate: nz(&bizdate),
        cyctime: None,
        catalog: Some(ui.catalog_path.clone()),
    }
}

// ---------------------------------------------------------------- job files

/// A job file name: a plain `*.json` name inside the jobs folder, nothing else.
fn job_file_name(file: &str) -> Result<String, Error> {
    let ok = file.ends_with(".json")
        && file.len() > 5
        && !file.starts_with('.')
        && file
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if ok {
        Ok(file.to_string())
    } else {
        Err(Error::config(format!(
            "job file \"{file}\": use letters, digits, _ - . and end in .json (no folders)"
        )))
    }
}

fn read_job(ui: &Ui, file: &str) -> Result<String, Error> {
    let path = ui.jobs.join(file);
    std::fs::read_to_string(&path).map_err(|e| Error::io(format!("reading job {file}"), e))
}

pub async fn jobs(State(ui): St) -> ApiResult {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(&ui.jobs)
        .map_err(|e| Error::io(format!("listing {}", ui.jobs.display()), e))?;
    for e in entries.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().to_string();
        if job_file_name(&name).is_err() || !e.path().is_file() {
            continue;
        }
        let modified = e.metadata().and_then(|m| m.modified()).ok().map(|t| {
            chrono::DateTime::<chrono::Local>::from(t)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        });
        out.push(json!({ "file": name, "modified": modified }));
    }
    out.sort_by(|a, b| a["file"].as_str().cmp(&b["file"].as_str()));
    Ok(ok(
        json!({ "folder": ui.jobs.display().to_string(), "jobs": out }),
    ))
}

pub async fn job_get(State(ui): St, Path(file): Path<String>) -> ApiResult {
    let file = job_file_name(&file)?;
    let text = read_job(&ui, &file)?;
    Ok(ok(json!({ "file": file, "text": text })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SaveForm {
    text: String,
    bizdate: Option<String>,
    #[serde(default)]
    params: Vec<String>,
}

/// Save a job (Script Mode or the wizard): it must parse as ferry reads it and pass the
/// plugins' checks (`ferry validate` without connecting); the text is written as given,
/// comments and all.
pub async fn job_put(State(ui): St, Path(file): Path<String>, b: Bytes) -> ApiResult {
    let file = job_file_name(&file)?;
    let f: SaveForm = body(&b)?;
    let catalog = ui.catalog()?;
    let args = job_args(&ui, &file, f.bizdate, f.params);
    if let Some(vars) = var_contexts(&args)?.into_iter().next() {
        let checked = parse_job_with(&f.text, &file, &vars, Some(&catalog)).and_then(|job| {
            let mut warnings = Vec::new();
            check_job(&job, &catalog, &mut warnings)
        });
        if let Err(e) = checked {
            return Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                ok_body(&json!({ "error": e.to_string(), "errors": [problem(&e)] })),
            )
                .into_response());
        }
    }
    let path = ui.jobs.join(&file);
    std::fs::write(&path, &f.text)
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    Ok(ok(json!({ "file": file, "saved": true })))
}

// ---------------------------------------------------------------- runs

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RunForm {
    job: String,
    bizdate: Option<String>,
    #[serde(default)]
    params: Vec<String>,
}

/// `ferry run <job> [--bizdate D|D1..D2] [-p ...]` in the background.
pub async fn run_start(State(ui): St, b: Bytes) -> ApiResult {
    let f: RunForm = body(&b)?;
    let file = job_file_name(&f.job)?;
    let args = job_args(&ui, &file, f.bizdate, f.params);
    if !args.job.is_file() {
        return Err(Error::config(format!("job file \"{file}\" is not in the jobs folder")).into());
    }
    var_contexts(&args)?;
    let run = ui
        .runs
        .start(&file, &args.job, args.bizdate.clone(), args.params.clone())?;
    let (info, _) = run.snapshot();
    Ok((StatusCode::CREATED, ok_body(&info)).into_response())
}

pub async fn runs_list(State(ui): St, Query(q): Query<HashMap<String, String>>) -> ApiResult {
    Ok(ok(
        json!({ "runs": ui.runs.history(q.get("job").map(String::as_str)) }),
    ))
}

fn stored_run(ui: &Ui, id: &str) -> Result<(Value, Vec<String>, PathBuf), Error> {
    let dir = ui.runs.dir_of(id)?;
    let info = std::fs::read_to_string(dir.join("run.json"))
        .map_err(|e| Error::io(format!("run {id}"), e))?;
    let info: Value = serde_json::from_str(&info)
        .map_err(|e| Error::internal(format!("run {id}: run.json: {e}")))?;
    let log = std::fs::read_to_string(dir.join("log.txt")).unwrap_or_default();
    let log = log
        .lines()
        .filter(|l| super::runs::parse_progress(l).is_none())
        .map(str::to_string)
        .collect();
    Ok((info, log, dir))
}

pub async fn run_get(State(ui): St, Path(id): Path<String>) -> ApiResult {
    if let Some(run) = ui.runs.get(&id) {
        let (info, log) = run.snapshot();
        return Ok(ok(json!({ "run": info, "log": log })));
    }
    let (info, log, _) = stored_run(&ui, &id)?;
    Ok(ok(json!({ "run": info, "log": log })))
}

fn sse(name: &str, v: &impl Serialize) -> SseEvent {
    SseEvent::default()
        .event(name)
        .data(serde_json::to_string(v).unwrap_or_else(|_| "null".into()))
}

/// Server-Sent Events: `state` (the run so far), then `progress` and `log` as they come,
/// and `end` with the final state.
pub async fn run_events(State(ui): St, Path(id): Path<String>) -> Result<Response, ApiError> {
    let Some(run) = ui.runs.get(&id) else {
        let (info, _, _) = stored_run(&ui, &id)?;
        let once = futures::stream::iter(vec![
            Ok::<_, Infallible>(sse("state", &info)),
            Ok(sse("end", &info)),
        ]);
        return Ok(Sse::new(once).into_response());
    };
    let rx = run.subscribe();
    let (info, log) = run.snapshot();
    let ended = info.status != "running";
    let mut first = vec![sse("state", &json!({ "run": info, "log": log }))];
    if ended {
        first.push(sse("end", &info));
    }
    let live = futures::stream::unfold((rx, ended), |(mut rx, done)| async move {
        if done {
            return None;
        }
        loop {
            match rx.recv().await {
                Ok(Event::Progress(p)) => return Some((sse("progress", &p), (rx, false))),
                Ok(Event::Log(l)) => return Some((sse("log", &l), (rx, false))),
                Ok(Event::End(info)) => return Some((sse("end", &*info), (rx, true))),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let stream = futures::stream::iter(first)
        .chain(live)
        .map(Ok::<_, Infallible>);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

pub async fn run_cancel(State(ui): St, Path(id): Path<String>) -> ApiResult {
    let run = ui
        .runs
        .get(&id)
        .ok_or_else(|| Error::config(format!("run {id} is not running in this console")))?;
    let sent = ui.runs.cancel(&run).await?;
    Ok(ok(
        json!({ "id": id, "cancelling": sent, "afterSecs": run.age_secs() }),
    ))
}

/// The dirty records (`--dirty-file`): reason, column, value, split, row and the record.
pub async fn run_dirty(
    State(ui): St,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(200)
        .min(MAX_ROWS);
    let dir = ui.runs.dir_of(&id)?;
    let text = match std::fs::read_to_string(dir.join("dirty.jsonl")) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io(format!("run {id}: dirty records"), e).into()),
    };
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let rows: Vec<Value> = all
        .iter()
        .take(limit)
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    Ok(ok(json!({ "total": all.len(), "records": rows })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_found_in_messages() {
        ferry_connectors::install();
        let l = error_location("job.json: job.content[0].reader.parameter.sliceRecordcount: unknown key, did you mean \"sliceRecordCount\"?");
        assert_eq!(
            l.path.as_deref(),
            Some("job.content[0].reader.parameter.sliceRecordcount")
        );
        let l = error_location("export.json:3:14: expected `,` or `}`");
        assert_eq!((l.line, l.column, l.path), (Some(3), Some(14), None));
        let l = error_location("configuration.writer.datasource: \"x\" is a odps datasource");
        assert_eq!(l.path.as_deref(), Some("configuration.writer.datasource"));
        assert_eq!(error_location("cancelled"), Location::default());
    }

    #[test]
    fn job_file_names_stay_in_the_folder() {
        ferry_connectors::install();
        assert!(job_file_name("export.json").is_ok());
        for bad in [
            "../x.json",
            "a/b.json",
            ".json",
            ".hidden.json",
            "x.txt",
            "",
        ] {
            assert!(job_file_name(bad).is_err(), "{bad}");
        }
    }
}
