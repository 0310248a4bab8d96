//! The REST API (`/api`, XML replies): projects, tables, partitions, the `?data` CSV
//! preview and SQL instances (the DDL of [`crate::sql`]).

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::data_csv;
use crate::error::{bad, err, internal, no_table, ApiResult};
use crate::http::{
    cdata, http_date, lock, new_id, read_body, xml, xml_escape, InstanceRec, Req, Server, OWNER,
};
use crate::sql::{self, Ddl};
use crate::store::{parse_spec, spec_string, ColumnMeta, TableMeta, Usage};
use ferry_odps::wire::sign::percent_encode;

/// A partition spec: (key, value) in key order.
type Spec = Vec<(String, String)>;

/// Page size when a listing names no `maxitems`.
const DEFAULT_MAX_ITEMS: usize = 1000;

// ------------------------------------------------------------------------------------------
// REST: tables, partitions

pub(crate) fn load_table(s: &Server, p: &str, t: &str) -> ApiResult<TableMeta> {
    match s.store.table(p, t) {
        Ok(Some(m)) => Ok(m),
        Ok(None) => Err(no_table(p, t)),
        Err(e) if e.starts_with("invalid") => Err(bad(e)),
        Err(e) => Err(internal(e)),
    }
}

pub(crate) fn columns_json(cols: &[ColumnMeta]) -> Vec<serde_json::Value> {
    cols.iter()
        .map(|c| {
            json!({"name": c.name, "type": c.ty, "comment": c.comment, "label": "",
                   "isNullable": true, "nullable": true})
        })
        .collect()
}

/// Epoch seconds as RFC 822 (the XML time elements).
fn rfc822(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// The elements every table reply starts with (also the whole of a light listing entry).
fn table_head_xml(p: &str, m: &TableMeta) -> String {
    format!(
        "<Name>{}</Name><TableId>{:032x}</TableId><Owner>{OWNER}</Owner><Project>{}</Project><Type>MANAGED_TABLE</Type><Comment>{}</Comment><CreationTime>{}</CreationTime><LastModifiedTime>{}</LastModifiedTime>",
        xml_escape(&m.name),
        m.created as u128,
        xml_escape(p),
        xml_escape(&m.comment),
        rfc822(m.created),
        rfc822(m.modified),
    )
}

/// A table with its schema; `extended` adds what `?extended` answers (archive flag,
/// physical size, file count, `Reserved`).
fn table_xml(p: &str, m: &TableMeta, u: Usage, extended: bool) -> String {
    let mut schema = json!({
        "comment": m.comment, "owner": OWNER, "createTime": m.created,
        "lastModifiedTime": m.modified, "lastDDLTime": m.modified,
        "isVirtualView": false, "lifecycle": m.lifecycle, "size": u.bytes,
        "recordNum": u.rows, "tableLabel": "", "tableName": m.name, "projectName": p,
        "columns": columns_json(&m.columns),
        "partitionKeys": columns_json(&m.partition_keys),
        "Reserved": "{\"Transactional\":\"false\"}",
    });
    if extended {
        if let Some(o) = schema.as_object_mut() {
            o.insert("IsArchived".into(), json!(false));
            o.insert("PhysicalSize".into(), json!(u.bytes));
            o.insert("FileNum".into(), json!(u.files));
        }
    }
    format!(
        "<Table>{}<Schema format=\"json\">{}</Schema></Table>",
        table_head_xml(p, m),
        cdata(&schema.to_string())
    )
}

pub(crate) fn get_table(s: &Server, p: &str, t: &str, extended: bool) -> ApiResult<Response> {
    let m = load_table(s, p, t)?;
    let u = s.store.table_usage(p, &m).map_err(internal)?;
    Ok(xml(StatusCode::OK, table_xml(p, &m, u, extended)))
}

/// `maxitems` of a listing request.
fn max_items(r: &Req) -> ApiResult<usize> {
    match r.get("maxitems").filter(|v| !v.is_empty()) {
        None => Ok(DEFAULT_MAX_ITEMS),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| bad(format!("maxitems must be a positive number, not `{v}`"))),
    }
}

/// One page of `items` (in listing order, each with its sort key) after `marker`; the
/// next marker is empty on the last page.
fn page<T>(
    items: Vec<(Vec<String>, T)>,
    marker: &[String],
    max: usize,
    reverse: bool,
) -> (Vec<T>, Vec<String>) {
    let start = if marker.is_empty() {
        0
    } else {
        items
            .iter()
            .position(|(k, _)| {
                if reverse {
                    k.as_slice() < marker
                } else {
                    k.as_slice() > marker
                }
            })
            .unwrap_or(items.len())
    };
    let total = items.len();
    let mut out = Vec::new();
    let mut last = Vec::new();
    for (k, v) in items.into_iter().skip(start).take(max) {
        last = k;
        out.push(v);
    }
    let next = if start + out.len() < total {
        last
    } else {
        Vec::new()
    };
    (out, next)
}

pub(crate) fn list_tables(s: &Server, p: &str, r: &Req) -> ApiResult<Response> {
    let prefix = r.get("name").unwrap_or("").to_ascii_lowercase();
    let extended = r.has("extended");
    let marker: Vec<String> = r
        .get("marker")
        .filter(|m| !m.is_empty())
        .map(|m| vec![m.to_string()])
        .unwrap_or_default();
    let tables = s.store.tables(p).map_err(internal)?;
    let items = tables
        .into_iter()
        .filter(|m| m.name.starts_with(&prefix))
        .map(|m| (vec![m.name.clone()], m))
        .collect();
    let max = max_items(r)?;
    let (tables, next) = page(items, &marker, max, false);
    let mut body = String::from("<Tables>");
    for m in &tables {
        if extended {
            let u = s.store.table_usage(p, m).map_err(internal)?;
            body.push_str(&table_xml(p, m, u, true));
        } else {
            // the light listing: names and times; the schema is `GET .../tables/T`'s
            body.push_str(&format!("<Table>{}</Table>", table_head_xml(p, m)));
        }
    }
    body.push_str(&format!(
        "<Marker>{}</Marker><MaxItems>{max}</MaxItems></Tables>",
        xml_escape(&next.concat())
    ));
    Ok(xml(StatusCode::OK, body))
}

pub(crate) fn table_spec(m: &TableMeta, raw: &str) -> ApiResult<Vec<(String, String)>> {
    let pairs = parse_spec(raw).map_err(bad)?;
    m.normalize_spec(&pairs).map_err(bad)
}

/// A partition prefix (`type='test'`, leading levels or any subset of the keys): the
/// pairs, keys checked against the table.
pub(crate) fn partition_prefix(m: &TableMeta, raw: &str) -> ApiResult<Vec<(String, String)>> {
    let pairs = parse_spec(raw).map_err(bad)?;
    for (k, _) in &pairs {
        if !m
            .partition_keys
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case(k))
        {
            return Err(bad(format!(
                "`{k}` is not a partition key of table {} ({})",
                m.name,
                m.partition_keys
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            )));
        }
    }
    Ok(pairs)
}

/// Whether a partition matches a prefix: every level the prefix names has its value.
pub(crate) fn matches_prefix(spec: &[(String, String)], prefix: &[(String, String)]) -> bool {
    prefix.iter().all(|(k, v)| {
        spec.iter()
            .any(|(sk, sv)| sk.eq_ignore_ascii_case(k) && sv == v)
    })
}

/// The marker of a partition: its folder path, one element per level.
fn partition_key(spec: &[(String, String)]) -> Vec<String> {
    spec.iter()
        .map(|(k, v)| format!("{}={}", k.to_ascii_lowercase(), percent_encode(v)))
        .collect()
}

fn partition_not_found(p: &str, t: &str, spec: &[(String, String)]) -> crate::error::ApiError {
    err(
        StatusCode::NOT_FOUND,
        "NoSuchPartition",
        format!(
            "partition {} of table {p}.{t} does not exist",
            spec_string(spec)
        ),
    )
}

pub(crate) fn get_partition(
    s: &Server,
    p: &str,
    t: &str,
    raw: &str,
    extended: bool,
) -> ApiResult<Response> {
    let m = load_table(s, p, t)?;
    let spec = table_spec(&m, raw)?;
    if !s.store.partition_exists(p, &m, &spec).map_err(internal)? {
        return Err(partition_not_found(p, t, &spec));
    }
    let u = s.store.usage(p, &m, &spec).map_err(internal)?;
    let meta = if extended {
        json!({"IsArchived": false, "IsExstore": false, "LifeCycle": m.lifecycle,
               "PhysicalSize": u.bytes, "FileNum": u.files, "Reserved": "{}"})
    } else {
        json!({"createTime": m.created, "lastDDLTime": m.modified,
               "lastModifiedTime": m.modified, "partitionSize": u.bytes,
               "partitionRecordNum": u.rows})
    };
    Ok(xml(
        StatusCode::OK,
        format!(
            "<Partition><Schema>{}</Schema></Partition>",
            cdata(&meta.to_string())
        ),
    ))
}

pub(crate) fn list_partitions(s: &Server, p: &str, t: &str, r: &Req) -> ApiResult<Response> {
    let m = load_table(s, p, t)?;
    let prefix = match r.get("partition").filter(|v| !v.trim().is_empty()) {
        Some(raw) => partition_prefix(&m, raw)?,
        None => Vec::new(),
    };
    let reverse = r.has("reverse");
    let marker: Vec<String> = r
        .get("marker")
        .filter(|v| !v.is_empty())
        .map(|v| v.split('/').map(str::to_string).collect())
        .unwrap_or_default();
    let mut items: Vec<(Vec<String>, Spec)> = s
        .store
        .partitions(p, &m)
        .map_err(internal)?
        .into_iter()
        .filter(|spec| matches_prefix(spec, &prefix))
        .map(|spec| (partition_key(&spec), spec))
        .collect();
    if reverse {
        items.reverse();
    }
    let max = max_items(r)?;
    let (parts, next) = page(items, &marker, max, reverse);
    let mut body = String::from("<Partitions>");
    for spec in parts {
        let u = s.store.usage(p, &m, &spec).map_err(internal)?;
        body.push_str("<Partition>");
        for (k, v) in &spec {
            body.push_str(&format!(
                "<Column Name=\"{}\" Value=\"{}\"/>",
                xml_escape(k),
                xml_escape(v)
            ));
        }
        body.push_str(&format!(
            "<CreationTime>{0}</CreationTime><LastDDLTime>{0}</LastDDLTime><LastModifiedTime>{0}</LastModifiedTime><PartitionSize>{1}</PartitionSize><PartitionRecordCount>{2}</PartitionRecordCount></Partition>",
            m.modified, u.bytes, u.rows
        ));
    }
    body.push_str(&format!(
        "<Marker>{}</Marker><MaxItems>{max}</MaxItems></Partitions>",
        xml_escape(&next.join("/"))
    ));
    Ok(xml(StatusCode::OK, body))
}

// ------------------------------------------------------------------------------------------
// REST: `?data`, the CSV preview behind pyodps's `Table.head()` / `Partition.head()`

/// Rows a preview answers at most (MaxCompute's limit).
pub(crate) const PREVIEW_MAX_ROWS: usize = 10_000;

pub(crate) async fn head_csv(s: &Arc<Server>, p: &str, t: &str, r: &Req) -> ApiResult<Response> {
    let m = load_table(s, p, t)?;
    let limit: usize = r
        .get("linenum")
        .unwrap_or("10000")
        .trim()
        .parse()
        .map_err(|_| bad("linenum must be a number"))?;
    let limit = limit.min(PREVIEW_MAX_ROWS);
    let specs = preview_specs(s, p, &m, r.get("partition"))?;
    let cols: Option<Vec<String>> = r
        .get("cols")
        .filter(|c| !c.trim().is_empty())
        .map(|c| c.split(',').map(|x| x.trim().to_string()).collect());
    let store = s.store.clone();
    let p = p.to_string();
    let text = tokio::task::spawn_blocking(move || {
        data_csv::render(&store, &p, &m, &specs, cols.as_deref(), limit)
    })
    .await
    .map_err(|e| internal(format!("preview: {e}")))??;
    Ok((
        StatusCode::OK,
        [("content-type", "text/plain; charset=utf-8")],
        text,
    )
        .into_response())
}

/// The partitions a preview reads: the one named, those under a prefix, or all of them
/// (`[[]]` for an unpartitioned table).
pub(crate) fn preview_specs(
    s: &Server,
    p: &str,
    m: &TableMeta,
    raw: Option<&str>,
) -> ApiResult<Vec<Vec<(String, String)>>> {
    if m.partition_keys.is_empty() {
        if raw.is_some_and(|v| !v.trim().is_empty()) {
            return Err(bad(format!("table {p}.{} is not partitioned", m.name)));
        }
        return Ok(vec![Vec::new()]);
    }
    let prefix = match raw.filter(|v| !v.trim().is_empty()) {
        Some(raw) => partition_prefix(m, raw)?,
        None => Vec::new(),
    };
    if prefix.len() == m.partition_keys.len() {
        let spec = m.normalize_spec(&prefix).map_err(bad)?;
        if !s.store.partition_exists(p, m, &spec).map_err(internal)? {
            return Err(partition_not_found(p, &m.name, &spec));
        }
        return Ok(vec![spec]);
    }
    Ok(s.store
        .partitions(p, m)
        .map_err(internal)?
        .into_iter()
        .filter(|spec| matches_prefix(spec, &prefix))
        .collect())
}

// ------------------------------------------------------------------------------------------
// REST: SQL instances

fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let a = s.find(open)? + open.len();
    let b = s[a..].find(close)? + a;
    Some(&s[a..b])
}

fn xml_text(s: &str) -> String {
    let s = s.trim();
    if let Some(c) = between(s, "<![CDATA[", "]]>") {
        return c.to_string();
    }
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

pub(crate) async fn create_instance(
    s: &Arc<Server>,
    p: &str,
    r: &mut Req,
    host: &str,
) -> ApiResult<Response> {
    let body = read_body(r.take_body(), 16 << 20).await?;
    let body = String::from_utf8_lossy(&body).into_owned();
    let query = between(&body, "<Query>", "</Query>")
        .map(xml_text)
        .ok_or_else(|| bad("instance without a <Query>: only SQL tasks are supported"))?;
    let task = between(&body, "<SQL>", "</SQL>")
        .and_then(|t| between(t, "<Name>", "</Name>"))
        .map(xml_text)
        .unwrap_or_else(|| "AnonymousSQLTask".into());
    let start = http_date();
    let outcome = {
        let _g = s.commit_lock.lock().await;
        run_sql(s, p, &query)
    };
    let id = new_id();
    let rec = InstanceRec {
        task,
        ok: outcome.is_ok(),
        message: match outcome {
            Ok(()) => "OK".into(),
            Err(e) => format!("ODPS-0130071:[0,0] Semantic analysis exception - {e}"),
        },
        start,
        end: http_date(),
    };
    lock(&s.instances).insert(id.clone(), rec);
    let mut resp = (StatusCode::CREATED, String::new()).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("http://{host}/api/projects/{p}/instances/{id}"))
    {
        resp.headers_mut().insert("location", v);
    }
    Ok(resp)
}

fn run_sql(s: &Server, p: &str, script: &str) -> Result<(), String> {
    for stmt in sql::split_statements(script) {
        let ddl = sql::parse(stmt)?;
        run_ddl(s, p, ddl)?;
    }
    Ok(())
}

fn col_metas(cols: Vec<(String, ferry_odps::wire::OdpsType, String)>) -> Vec<ColumnMeta> {
    cols.into_iter()
        .map(|(name, t, comment)| ColumnMeta {
            name: name.to_ascii_lowercase(),
            ty: t.to_string(),
            comment,
        })
        .collect()
}

fn need_table(s: &Server, p: &str, t: &str) -> Result<TableMeta, String> {
    s.store
        .table(p, t)?
        .ok_or_else(|| format!("Table not found - table {p}.{t} cannot be resolved"))
}

fn run_ddl(s: &Server, p: &str, ddl: Ddl) -> Result<(), String> {
    match ddl {
        Ddl::Set => Ok(()),
        Ddl::CreateTable {
            table,
            if_not_exists,
            columns,
            partition_keys,
            comment,
            lifecycle,
        } => {
            if s.store.table(p, &table)?.is_some() {
                return if if_not_exists {
                    Ok(())
                } else {
                    Err(format!("Table or view already exists - {p}.{table}"))
                };
            }
            s.store.create_table(
                p,
                &table,
                col_metas(columns),
                col_metas(partition_keys),
                comment,
                lifecycle,
            )
        }
        Ddl::DropTable { table, if_exists } => {
            if s.store.table(p, &table)?.is_none() {
                return if if_exists {
                    Ok(())
                } else {
                    Err(format!(
                        "Table not found - table {p}.{table} cannot be resolved"
                    ))
                };
            }
            s.store.drop_table(p, &table)
        }
        Ddl::AddPartition {
            table,
            if_not_exists,
            partitions,
        } => {
            let m = need_table(s, p, &table)?;
            for spec in partitions {
                let spec = m.normalize_spec(&spec)?;
                if !s.store.create_partition(p, &m, &spec)? && !if_not_exists {
                    return Err(format!(
                        "Partition already exists - {} of {p}.{table}",
                        spec_string(&spec)
                    ));
                }
            }
            s.store.touch(p, &m)
        }
        Ddl::DropPartition {
            table,
            if_exists,
            partitions,
        } => {
            let m = need_table(s, p, &table)?;
            for spec in partitions {
                let spec = m.normalize_spec(&spec)?;
                if s.store.partition_exists(p, &m, &spec)? {
                    s.store.drop_partition(p, &m, &spec)?;
                } else if !if_exists {
                    return Err(format!(
                        "Partition not found - {} of {p}.{table}",
                        spec_string(&spec)
                    ));
                }
            }
            s.store.touch(p, &m)
        }
        Ddl::Truncate { table, partition } => {
            let m = need_table(s, p, &table)?;
            let specs = match partition {
                Some(spec) => vec![m.normalize_spec(&spec)?],
                None if m.partition_keys.is_empty() => vec![Vec::new()],
                None => s.store.partitions(p, &m)?,
            };
            for spec in specs {
                let d = s.store.partition_dir(p, &m, &spec)?;
                s.store.clear_data(&d)?;
            }
            s.store.touch(p, &m)
        }
    }
}

pub(crate) fn get_instance(s: &Server, id: &str, r: &Req) -> ApiResult<Response> {
    let rec = lock(&s.instances).get(id).cloned().ok_or_else(|| {
        err(
            StatusCode::NOT_FOUND,
            "NoSuchObject",
            format!("instance {id} does not exist"),
        )
    })?;
    let task_status = if rec.ok { "Success" } else { "Failed" };
    let body = if r.has("taskstatus") {
        format!(
            "<Instance><Status>Terminated</Status><Tasks><Task Type=\"SQL\"><Name>{}</Name><StartTime>{}</StartTime><EndTime>{}</EndTime><Status>{task_status}</Status></Task></Tasks></Instance>",
            xml_escape(&rec.task), rec.start, rec.end
        )
    } else if r.has("result") {
        format!(
            "<Instance><Tasks><Task Type=\"SQL\"><Name>{}</Name><Result Format=\"text\">{}</Result></Task></Tasks></Instance>",
            xml_escape(&rec.task),
            cdata(&rec.message)
        )
    } else {
        "<Instance><Status>Terminated</Status></Instance>".to_string()
    };
    let mut resp = xml(StatusCode::OK, body);
    let h = resp.headers_mut();
    for (k, v) in [
        ("x-odps-owner", OWNER.to_string()),
        ("x-odps-start-time", rec.start.clone()),
        ("x-odps-end-time", rec.end.clone()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    Ok(resp)
}
