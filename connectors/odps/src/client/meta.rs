//! REST metadata: tables, partitions, and SQL instances (DDL and `preSql`/`postSql`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{Field, Schema, SchemaRef};
use bytes::Bytes;
use ferry_core::plugin::meta as fmeta;
use ferry_core::{Error, Result};
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use super::{xml, OdpsClient, Service};
use crate::split::PartitionSpec;
use crate::wire::sign::percent_encode;
use crate::wire::types::{arrow_type, OdpsType};

/// Field metadata key marking a partition column in [`TableMeta::arrow_schema_all`].
pub const PARTITION_KEY_META: &str = "odps.partition_key";

/// One table column.
#[derive(Debug, Clone)]
pub struct Column {
    /// Name as the table spells it.
    pub name: String,
    /// Parsed type.
    pub ty: OdpsType,
    /// Type as the server wrote it.
    pub type_text: String,
}

impl Column {
    /// The Arrow field (nullable, with `ferry.type` and `ferry.max_chars` metadata).
    pub fn arrow_field(&self) -> Field {
        let mut md = HashMap::new();
        md.insert(fmeta::SOURCE_TYPE.to_string(), self.ty.to_string());
        if let OdpsType::Varchar(n) | OdpsType::Char(n) = self.ty {
            md.insert(fmeta::MAX_CHARS.to_string(), n.to_string());
        }
        Field::new(&self.name, arrow_type(&self.ty), true).with_metadata(md)
    }
}

/// A table's description.
#[derive(Debug, Clone)]
pub struct TableMeta {
    /// Name.
    pub name: String,
    /// `MANAGED_TABLE`, `VIRTUAL_VIEW`, `EXTERNAL_TABLE`, ...
    pub table_type: String,
    /// Normal columns, in table order.
    pub columns: Vec<Column>,
    /// Partition columns, in key order.
    pub partition_keys: Vec<Column>,
}

impl TableMeta {
    /// Whether the table is partitioned.
    pub fn is_partitioned(&self) -> bool {
        !self.partition_keys.is_empty()
    }

    /// Partition key names.
    pub fn key_names(&self) -> Vec<String> {
        self.partition_keys.iter().map(|c| c.name.clone()).collect()
    }

    /// Normal column names, for messages.
    pub fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Index of a normal column (case-insensitive).
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name.trim()))
    }

    /// Index of a partition column (case-insensitive).
    pub fn key_index(&self, name: &str) -> Option<usize> {
        self.partition_keys
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name.trim()))
    }

    /// `(name, type)` pairs of every normal column (for the codec).
    pub fn codec_columns(&self) -> Vec<(String, OdpsType)> {
        self.columns
            .iter()
            .map(|c| (c.name.clone(), c.ty.clone()))
            .collect()
    }

    /// Normal then partition columns as Arrow, with their ODPS type strings.
    pub fn arrow_schema_all(&self) -> (SchemaRef, Vec<String>) {
        let mut fields = Vec::new();
        let mut types = Vec::new();
        for c in &self.columns {
            fields.push(c.arrow_field());
            types.push(c.ty.to_string());
        }
        for c in &self.partition_keys {
            let f = c.arrow_field();
            let mut md = f.metadata().clone();
            md.insert(PARTITION_KEY_META.to_string(), "true".to_string());
            fields.push(f.with_metadata(md));
            types.push(c.ty.to_string());
        }
        (Arc::new(Schema::new(fields)), types)
    }
}

#[derive(Deserialize)]
struct SchemaJson {
    #[serde(default)]
    columns: Vec<ColumnJson>,
    #[serde(default, rename = "partitionKeys")]
    partition_keys: Vec<ColumnJson>,
}

#[derive(Deserialize)]
struct ColumnJson {
    name: String,
    #[serde(rename = "type")]
    ty: String,
}

/// Parse the tunnel/REST JSON schema (`{"columns":[..],"partitionKeys":[..]}`).
pub fn parse_schema_json(table: &str, v: &serde_json::Value) -> Result<(Vec<Column>, Vec<Column>)> {
    let s: SchemaJson = serde_json::from_value(v.clone()).map_err(|e| {
        Error::remote(format!(
            "table {table}: unreadable schema from the server: {e}"
        ))
    })?;
    let conv = |cols: Vec<ColumnJson>| {
        cols.into_iter()
            .map(|c| {
                let ty = OdpsType::parse(&c.ty)
                    .map_err(|e| Error::schema(format!("table {table}, column {}: {e}", c.name)))?;
                Ok(Column {
                    name: c.name,
                    ty,
                    type_text: c.ty,
                })
            })
            .collect::<Result<Vec<_>>>()
    };
    Ok((conv(s.columns)?, conv(s.partition_keys)?))
}

impl OdpsClient {
    fn table_path(&self, table: &str) -> String {
        format!(
            "/projects/{}/tables/{}",
            percent_encode(self.project()),
            percent_encode(table)
        )
    }

    /// `GET /projects/{p}/tables/{t}`.
    pub async fn get_table(&self, table: &str) -> Result<TableMeta> {
        let what = format!("table {}.{table}", self.project());
        let resp = self
            .call(
                Service::Api,
                Method::GET,
                &self.table_path(table),
                &[],
                None,
                &what,
            )
            .await
            .map_err(|e| match e {
                Error::Schema(m) => Error::schema(format!(
                    "{m} (table {table} does not exist in project {})",
                    self.project()
                )),
                other => other,
            })?;
        let body = resp.text().await.map_err(|e| self.transport(&what, e))?;
        let schema_text = xml::tag_text(&body, "Schema")
            .ok_or_else(|| Error::remote(format!("{what}: reply has no <Schema>")))?;
        let v: serde_json::Value = serde_json::from_str(&schema_text)
            .map_err(|e| Error::remote(format!("{what}: schema is not JSON: {e}")))?;
        let (columns, partition_keys) = parse_schema_json(table, &v)?;
        Ok(TableMeta {
            name: xml::tag_text(&body, "Name").unwrap_or_else(|| table.to_string()),
            table_type: xml::tag_text(&body, "Type").unwrap_or_default(),
            columns,
            partition_keys,
        })
    }

    /// The names of the project's tables, sorted, following the paging marker;
    /// `page` asks for that many a request (the server's default when `None`).
    pub async fn list_tables(&self, page: Option<usize>) -> Result<Vec<String>> {
        let what = format!("tables of project {}", self.project());
        let path = format!("/projects/{}/tables", percent_encode(self.project()));
        let mut names = Vec::new();
        let mut marker = String::new();
        loop {
            let mut q = vec![("expectmarker", "true".to_string())];
            if let Some(n) = page {
                q.push(("maxitems", n.to_string()));
            }
            if !marker.is_empty() {
                q.push(("marker", marker.clone()));
            }
            let resp = self
                .call(Service::Api, Method::GET, &path, &q, None, &what)
                .await?;
            let body = resp.text().await.map_err(|e| self.transport(&what, e))?;
            for (_, table) in xml::elements(&body, "Table") {
                if let Some(name) = xml::tag_text(table, "Name") {
                    names.push(name);
                }
            }
            let next = xml::tag_text(&body, "Marker").unwrap_or_default();
            // A server that repeats its marker would page for ever.
            if next.trim().is_empty() || next == marker {
                break;
            }
            marker = next;
        }
        names.sort();
        Ok(names)
    }

    /// Every partition of a table (following the paging marker).
    pub async fn list_partitions(&self, meta: &TableMeta) -> Result<Vec<PartitionSpec>> {
        let what = format!("partitions of {}.{}", self.project(), meta.name);
        let keys = meta.key_names();
        let mut out = Vec::new();
        let mut marker = String::new();
        loop {
            let mut q = vec![
                ("partitions", String::new()),
                ("expectmarker", "true".to_string()),
            ];
            if !marker.is_empty() {
                q.push(("marker", marker.clone()));
            }
            let resp = self
                .call(
                    Service::Api,
                    Method::GET,
                    &self.table_path(&meta.name),
                    &q,
                    None,
                    &what,
                )
                .await?;
            let body = resp.text().await.map_err(|e| self.transport(&what, e))?;
            for (_, inner) in xml::elements(&body, "Partition") {
                let mut parts = Vec::new();
                for (head, _) in xml::elements(inner, "Column") {
                    if let (Some(k), Some(v)) = (xml::attr(head, "Name"), xml::attr(head, "Value"))
                    {
                        parts.push((k, v));
                    }
                }
                if !parts.is_empty() {
                    let pos = |k: &str| keys.iter().position(|x| x.eq_ignore_ascii_case(k));
                    parts.sort_by_key(|(k, _)| pos(k));
                    out.push(PartitionSpec(parts));
                }
            }
            marker = xml::tag_text(&body, "Marker").unwrap_or_default();
            if marker.trim().is_empty() {
                break;
            }
        }
        Ok(out)
    }

    /// Whether a partition exists.
    pub async fn partition_exists(&self, table: &str, spec: &PartitionSpec) -> Result<bool> {
        let what = format!("partition {spec} of {}.{table}", self.project());
        let q = [("partition", spec.quoted())];
        let mut attempt = 0;
        loop {
            attempt += 1;
            let resp = self
                .send(
                    Service::Api,
                    Method::GET,
                    &self.table_path(table),
                    &q,
                    &[],
                    None,
                )
                .await;
            let err = match resp {
                Ok(r) if r.status().is_success() => return Ok(true),
                Ok(r) if r.status() == StatusCode::NOT_FOUND => return Ok(false),
                Ok(r) => {
                    let e = self.api_error(r).await;
                    self.classify(&what, &e)
                }
                Err(e) => e,
            };
            if !err.retry_hint() || attempt >= self.max_retry() {
                return Err(err);
            }
            super::backoff(attempt).await;
        }
    }

    /// Create a partition if it does not exist (`ALTER TABLE .. ADD IF NOT EXISTS PARTITION`).
    pub async fn ensure_partition(&self, table: &str, spec: &PartitionSpec) -> Result<bool> {
        if self.partition_exists(table, spec).await? {
            return Ok(false);
        }
        let sql = format!(
            "ALTER TABLE {}.`{}` ADD IF NOT EXISTS PARTITION ({});",
            self.project(),
            table,
            spec.quoted()
        );
        self.run_sql(&sql).await?;
        Ok(true)
    }

    /// Submit one SQL statement as an instance, wait for it and return its result text.
    pub async fn run_sql(&self, sql: &str) -> Result<String> {
        let short: String = sql.chars().take(120).collect();
        let what = format!("SQL in project {} ({short})", self.project());
        let mut stmt = sql.trim().to_string();
        if !stmt.ends_with(';') {
            stmt.push(';');
        }
        let cdata = stmt.replace("]]>", "]]]]><![CDATA[>");
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Instance><Job><Priority>9</Priority><Tasks><SQL><Name>AnonymousSQLTask</Name>\
             <Config><Property><Name>settings</Name><Value>{{\"odps.sql.submit.mode\":\"script\"}}</Value></Property></Config>\
             <Query><![CDATA[{cdata}]]></Query></SQL></Tasks><DAG><RunMode>Sequence</RunMode></DAG></Job></Instance>"
        );
        let path = format!("/projects/{}/instances", percent_encode(self.project()));
        let resp = self
            .call(
                Service::Api,
                Method::POST,
                &path,
                &[],
                Some(("application/xml", Bytes::from(body))),
                &what,
            )
            .await?;
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| Error::remote(format!("{what}: the server returned no Location")))?;
        let id = location
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let ipath = format!("{path}/{}", percent_encode(&id));
        let mut delay = Duration::from_millis(50);
        loop {
            let resp = self
                .call(Service::Api, Method::GET, &ipath, &[], None, &what)
                .await?;
            let body = resp.text().await.map_err(|e| self.transport(&what, e))?;
            let status = xml::tag_text(&body, "Status").unwrap_or_default();
            if status.eq_ignore_ascii_case("Terminated") {
                break;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
        let resp = self
            .call(
                Service::Api,
                Method::GET,
                &ipath,
                &[("taskstatus", String::new())],
                None,
                &what,
            )
            .await?;
        let tasks = resp.text().await.map_err(|e| self.transport(&what, e))?;
        let failed = xml::elements(&tasks, "Task").iter().any(|(_, inner)| {
            xml::tag_text(inner, "Status").is_some_and(|s| !s.eq_ignore_ascii_case("Success"))
        });
        let resp = self
            .call(
                Service::Api,
                Method::GET,
                &ipath,
                &[("result", String::new())],
                None,
                &what,
            )
            .await?;
        let res = resp.text().await.map_err(|e| self.transport(&what, e))?;
        let text = xml::tag_text(&res, "Result").unwrap_or_default();
        if failed {
            return Err(Error::remote(format!(
                "{what} failed: {}",
                self.redact(text.trim())
            )));
        }
        Ok(text)
    }
}
