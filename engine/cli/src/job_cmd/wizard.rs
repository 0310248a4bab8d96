//! `ferry job new`: the seed's "Wizard Mode" in the terminal.
//!
//! Source datasource and table (listed from the server), a preview, `where`, `splitPk`
//! (the primary key suggested when it is an integer), target datasource, table and ODPS
//! partition, the field mapping (by name, by position or by hand, constants allowed),
//! preSql / postSql, the conflict mode, `concurrent`, `mbps` and `errorLimit`; then the
//! job JSON is shown and saved (DataWorks v1 shape, or DataX with `--datax`). Each
//! question has a flag; `--yes` takes the defaults, so it also runs without a terminal.

use std::path::PathBuf;
use std::sync::Arc;

use ferry_core::catalog::Catalog;
use ferry_core::connector::{self, Browser, Truncate, Wizard};
use ferry_core::{Error, Result};
use serde_json::{json, Map, Value};

use super::prompt::Prompter;
use super::NewArgs;

/// One end of the job: a catalog datasource (or a connector's local files) and the
/// connector's [`Browser`] on it, with what the wizard asks of the connector.
pub(crate) struct End {
    spec: Wizard,
    plugin: &'static str,
    datasource: Option<String>,
    browser: Arc<dyn Browser>,
}

impl End {
    /// The end called `name`: a connector with local files by its name (`parquet`), else
    /// a catalog datasource.
    pub(crate) fn open(catalog: &Catalog, name: &str) -> Result<End> {
        if let Some((c, spec, open)) =
            connector::all()
                .iter()
                .find_map(|c| match (c.wizard, c.browse_paths) {
                    (Some(w), Some(open)) if w.paths && c.name.eq_ignore_ascii_case(name) => {
                        Some((c, w, open))
                    }
                    _ => None,
                })
        {
            return Ok(End {
                spec,
                plugin: c.name,
                datasource: None,
                browser: open(),
            });
        }
        let ds = catalog.get(name)?;
        let c = connector::by_name(ds.kind()).ok_or_else(|| {
            Error::config(format!(
                "datasource {name}: no connector for type {}",
                ds.kind()
            ))
        })?;
        let spec = c.wizard.ok_or_else(|| {
            Error::config(format!(
                "datasource {name}: the wizard does not write {} jobs; use ferry job template",
                c.name
            ))
        })?;
        Ok(End {
            spec,
            plugin: c.name,
            datasource: Some(name.to_string()),
            browser: connector::browser(name, ds)?,
        })
    }

    fn plugin(&self) -> &'static str {
        self.plugin
    }

    fn datasource(&self) -> Option<&str> {
        self.datasource.as_deref()
    }

    /// Tables to choose from (empty when the server cannot list them).
    async fn tables(&self, p: &Prompter) -> Vec<String> {
        self.list_tables().await.unwrap_or_else(|e| {
            p.say(&format!("  (cannot list the tables: {e}; type the name)"));
            Vec::new()
        })
    }

    /// Tables on the server (none for Parquet).
    pub(crate) async fn list_tables(&self) -> Result<Vec<String>> {
        self.browser.tables().await
    }

    /// The primary key when it is one integer column (PostgreSQL): the split key to suggest.
    pub(crate) async fn split_key(&self, table: &str) -> Result<Option<String>> {
        self.browser.split_key(table).await
    }

    /// The table's columns (name, type) and, for ODPS, its partition keys.
    pub(crate) async fn columns(
        &self,
        table: &str,
    ) -> Result<(Vec<(String, String)>, Vec<String>)> {
        self.browser.columns(table).await
    }

    pub(crate) async fn preview(
        &self,
        table: &str,
        partition: Option<&str>,
        where_: Option<&str>,
    ) -> Result<arrow::record_batch::RecordBatch> {
        self.browser.preview(table, partition, where_, 5).await
    }
}

/// A table (or Parquet path) with its columns and partition keys. Tables are listed from
/// the server on a terminal; a name that does not resolve is asked again there, and is an
/// error otherwise.
async fn pick_table(
    p: &Prompter,
    end: &End,
    flag: &str,
    question: &str,
    given: Option<&str>,
    default: Option<&str>,
) -> Result<(String, Vec<(String, String)>, Vec<String>)> {
    let tables = if given.is_some() || !p.interactive() {
        Vec::new()
    } else {
        end.tables(p).await
    };
    loop {
        let table = match end.spec.paths {
            true => p.text(flag, question, given, default)?,
            false => p.choose(
                flag,
                question,
                &table_options(&tables),
                given,
                default,
                true,
            )?,
        };
        let what = format!("{} {table}", end.datasource().unwrap_or(end.plugin()));
        let err = match end.columns(&table).await {
            Ok((cols, keys)) if !cols.is_empty() => return Ok((table, cols, keys)),
            Ok(_) => Error::schema(format!("{what}: no columns")),
            Err(e) => e.context(&what),
        };
        if given.is_some() || !p.interactive() {
            return Err(err);
        }
        p.say(&format!("  {err}; try again"));
    }
}

/// How source columns meet target columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mapping {
    Name,
    Position,
    Hand,
}

/// A constant in a mapping: `'text'` or a number.
fn is_constant(expr: &str) -> bool {
    let e = expr.trim();
    (e.len() >= 2 && e.starts_with('\'') && e.ends_with('\'')) || e.parse::<f64>().is_ok()
}

/// The file name the job is saved under by default.
fn default_out(source_table: &str, target_table: &str) -> PathBuf {
    let short = |t: &str| {
        let last = t
            .trim_end_matches('/')
            .rsplit(['/', '.'])
            .find(|s| !s.is_empty() && *s != "parquet")
            .unwrap_or("table")
            .to_string();
        last.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
    };
    PathBuf::from(format!(
        "{}_to_{}.json",
        short(source_table),
        short(target_table)
    ))
}

/// The default partition: the first key at the business date; the other keys match
/// anything when reading (`*`) and have no default when writing.
fn bizdate_partition(keys: &[String], reading: bool) -> Option<String> {
    let (first, rest) = keys.split_first()?;
    if !reading && !rest.is_empty() {
        return None;
    }
    let mut parts = vec![format!("{first}=${{bdp.system.bizdate}}")];
    parts.extend(rest.iter().map(|k| format!("{k}=*")));
    Some(parts.join(","))
}

/// The names a list of tables is offered with.
fn table_options(tables: &[String]) -> Vec<(String, String)> {
    tables.iter().map(|t| (t.clone(), String::new())).collect()
}

/// The datasource choices: every catalog entry whose connector the wizard writes, then
/// each connector of local files (`parquet`).
pub(crate) fn datasource_options(catalog: &Catalog) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = catalog
        .iter()
        .filter(|(_, d)| connector::by_name(d.kind()).is_some_and(|c| c.wizard.is_some()))
        .map(|(n, d)| (n.to_string(), format!("({})", d.kind())))
        .collect();
    for c in connector::all() {
        if c.browse_paths.is_some() && c.wizard.is_some_and(|w| w.paths) {
            v.push((c.name.to_string(), format!("(local {})", c.title)));
        }
    }
    v
}

/// Run the wizard; returns the exit code.
pub async fn run(a: NewArgs) -> Result<i32> {
    let p = Prompter::new(a.yes);
    let (text, default_path) = compose(&a, &p).await?;
    p.heading("6/6 Preview and save");
    print!("{text}");
    let out = match &a.out {
        Some(o) => o.clone(),
        None => loop {
            let o = PathBuf::from(p.text(
                "--out",
                "Save the job to",
                None,
                Some(&default_path.to_string_lossy()),
            )?);
            if !p.interactive()
                || !o.exists()
                || p.confirm(
                    "--out",
                    &format!("{} exists; replace it?", o.display()),
                    None,
                    false,
                )?
            {
                break o;
            }
        },
    };
    std::fs::write(&out, &text).map_err(|e| Error::io(format!("writing {}", out.display()), e))?;
    p.say(&format!(
        "saved {}; check it with: ferry validate {0}; run it with: ferry run {0}",
        out.display()
    ));
    Ok(0)
}

/// What step 1 settles: the source, its table (columns and partition keys), partition,
/// filter and split key.
struct SourceAnswers {
    end: End,
    table: String,
    cols: Vec<(String, String)>,
    keys: Vec<String>,
    partition: Option<String>,
    where_: Option<String>,
    split_pk: Option<String>,
}

/// What step 2 settles: the target, its table (or folder), columns and partition.
struct TargetAnswers {
    end: End,
    table: String,
    cols: Vec<(String, String)>,
    partition: Option<String>,
}

/// What step 4 settles: the target's SQL hooks, conflict mode and truncate.
struct TargetOptions {
    pre_sql: Vec<String>,
    post_sql: Vec<String>,
    conflict: Option<String>,
    truncate: bool,
}

/// What step 5 settles: channels, rate cap and dirty-record limit.
struct Channels {
    concurrent: u64,
    mbps: Option<f64>,
    error_limit: Option<u64>,
}

/// Steps 1 to 5 of the wizard: the questions (answered by `a`'s flags, defaults or the
/// terminal), then the job as DataWorks v1 (or DataX) JSON text, checked to parse, and the
/// file name it is saved under by default. `ferry ui` calls this with `yes` set.
pub async fn compose(a: &NewArgs, p: &Prompter) -> Result<(String, PathBuf)> {
    let catalog = crate::commands::load_catalog(a.catalog.as_deref())?;
    if p.interactive() {
        p.say("The job wizard: answer each question; Enter takes the [default]. Every question also has a flag (see --help).\n");
    }
    let ds_options = datasource_options(&catalog);
    let source = source_step(a, p, &catalog, &ds_options).await?;
    let target = target_step(a, p, &catalog, &ds_options, &source).await?;
    let pairs = mapping_step(a, p, &source, &target)?;
    let options = target_options_step(a, p, &target)?;
    let channels = channels_step(a, p)?;
    let text = job_text(a, &source, &target, &pairs, &options, &channels)?;
    Ok((text, default_out(&source.table, &target.table)))
}

/// Step 1: the source.
async fn source_step(
    a: &NewArgs,
    p: &Prompter,
    catalog: &Catalog,
    ds_options: &[(String, String)],
) -> Result<SourceAnswers> {
    p.heading("1/6 Source");
    let from = p.choose(
        "--from",
        "Source datasource",
        ds_options,
        a.from.as_deref(),
        None,
        false,
    )?;
    let source = End::open(catalog, &from)?;
    let (source_table, source_cols, source_keys) = pick_table(
        p,
        &source,
        "--table",
        &match source.spec.paths {
            true => format!("Source {} path (file, folder or glob)", source.plugin()),
            false => format!("Source table on {from}"),
        },
        a.table.as_deref(),
        None,
    )
    .await?;
    let source_partition = match source.spec.partitions {
        true if !source_keys.is_empty() => p.optional(
            "--source-partition",
            &format!(
                "Source partition of {source_table} (keys {})",
                source_keys.join(", ")
            ),
            a.source_partition.as_deref(),
            bizdate_partition(&source_keys, true).as_deref(),
        )?,
        _ => None,
    };
    if p.interactive() {
        // preview the partition of the default business date (yesterday)
        let vars = ferry_core::vars::VarContext::new(
            None,
            None,
            chrono::Local::now().date_naive(),
            Default::default(),
        );
        let part = source_partition
            .as_deref()
            .filter(|s| !s.contains('*') && !s.contains('?'))
            .and_then(|s| ferry_core::vars::resolve(s, &vars).ok());
        match source.preview(&source_table, part.as_deref(), None).await {
            Ok(batch) => {
                p.say(&format!("\nData preview of {source_table}:"));
                let t = ferry_transform::sql::format_batches(
                    &[batch],
                    ferry_transform::sql::OutputFormat::Table,
                )?;
                p.say(&t);
            }
            Err(e) => p.say(&format!("(no preview: {e})")),
        }
        p.say(&format!(
            "Columns: {}\n",
            source_cols
                .iter()
                .map(|(n, t)| format!("{n} {t}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let where_ = match source.spec.filter {
        Some(_) => p.optional("--where", "Filter (where)", a.where_.as_deref(), None)?,
        None => None,
    };
    let split_pk = match source.spec.split_key {
        true => {
            let pk = source.split_key(&source_table).await.unwrap_or(None);
            if let (Some(k), true) = (&pk, p.interactive()) {
                p.say(&format!(
                    "  {k} is an integer primary key: a good split key"
                ));
            }
            p.optional(
                "--split-pk",
                "Split key (splitPk, an integer column)",
                a.split_pk.as_deref(),
                pk.as_deref(),
            )?
        }
        _ => None,
    };
    Ok(SourceAnswers {
        end: source,
        table: source_table,
        cols: source_cols,
        keys: source_keys,
        partition: source_partition,
        where_,
        split_pk,
    })
}

/// Step 2: the target.
async fn target_step(
    a: &NewArgs,
    p: &Prompter,
    catalog: &Catalog,
    ds_options: &[(String, String)],
    src: &SourceAnswers,
) -> Result<TargetAnswers> {
    let (source_table, source_cols) = (&src.table, &src.cols);
    p.heading("2/6 Target");
    let to = p.choose(
        "--to",
        "Target datasource",
        ds_options,
        a.to.as_deref(),
        None,
        false,
    )?;
    let target = End::open(catalog, &to)?;
    let (target_table, target_cols, target_keys) = match target.spec.paths {
        true => {
            let d = format!(
                "staged/{}",
                default_out(source_table, "x")
                    .to_string_lossy()
                    .trim_end_matches("_to_x.json")
            );
            let folder = p.text(
                "--target-table",
                &format!("Target folder for the {}", target.plugin()),
                a.target_table.as_deref(),
                Some(&d),
            )?;
            // files take the source's columns and names
            (folder, source_cols.clone(), Vec::new())
        }
        false => {
            pick_table(
                p,
                &target,
                "--target-table",
                &format!("Target table on {to}"),
                a.target_table.as_deref(),
                None,
            )
            .await?
        }
    };
    let partition = match target.spec.partitions {
        true if !target_keys.is_empty() => Some(p.text(
            "--partition",
            &format!(
                "Target partition of {target_table} (keys {})",
                target_keys.join(", ")
            ),
            a.partition.as_deref(),
            bizdate_partition(&target_keys, false).as_deref(),
        )?),
        true => {
            if let Some(part) = &a.partition {
                return Err(Error::config(format!(
                    "--partition {part}: {target_table} is not partitioned"
                )));
            }
            None
        }
        false => None,
    };
    Ok(TargetAnswers {
        end: target,
        table: target_table,
        cols: target_cols,
        partition,
    })
}

/// Step 3: the field mapping, as (target column, source expression) pairs.
fn mapping_step(
    a: &NewArgs,
    p: &Prompter,
    src: &SourceAnswers,
    dst: &TargetAnswers,
) -> Result<Vec<(String, String)>> {
    let (source, source_table, source_cols, source_keys) =
        (&src.end, &src.table, &src.cols, &src.keys);
    let (target_table, target_cols) = (&dst.table, &dst.cols);
    p.heading("3/6 Field mapping");
    let mapping_given = match (a.mapping.as_deref(), a.map.is_empty()) {
        (Some(m), _) => Some(m.to_string()),
        (None, false) => Some("hand".to_string()),
        (None, true) => None,
    };
    let mapping_options = vec![
        (
            "name".to_string(),
            "same name, case-insensitive".to_string(),
        ),
        (
            "position".to_string(),
            "first to first, second to second".to_string(),
        ),
        (
            "hand".to_string(),
            "a source column, expression or constant per target column".to_string(),
        ),
    ];
    let mapping = match p
        .choose(
            "--mapping",
            "Field mapping",
            &mapping_options,
            mapping_given.as_deref(),
            Some("name"),
            false,
        )?
        .as_str()
    {
        "position" => Mapping::Position,
        "hand" => Mapping::Hand,
        _ => Mapping::Name,
    };
    let quote_source = |name: &str| (source.spec.quote)(name);
    let find_source = |name: &str| {
        source_cols
            .iter()
            .map(|(n, _)| n)
            .chain(source_keys.iter())
            .find(|n| n.eq_ignore_ascii_case(name))
            .cloned()
    };
    let mut pairs: Vec<(String, String)> = Vec::new(); // (target column, source expression)
    match mapping {
        Mapping::Name => {
            for (t, _) in target_cols {
                if let Some(s) = find_source(t) {
                    pairs.push((t.clone(), quote_source(&s)));
                }
            }
            let unmatched_t: Vec<&str> = target_cols
                .iter()
                .map(|(t, _)| t.as_str())
                .filter(|t| !pairs.iter().any(|(pt, _)| pt == t))
                .collect();
            let unmatched_s: Vec<&str> = source_cols
                .iter()
                .map(|(s, _)| s.as_str())
                .filter(|s| !target_cols.iter().any(|(t, _)| t.eq_ignore_ascii_case(s)))
                .collect();
            if !unmatched_t.is_empty() {
                p.say(&format!(
                    "  target columns with no source column of the same name (left out): {}",
                    unmatched_t.join(", ")
                ));
            }
            if !unmatched_s.is_empty() {
                p.say(&format!(
                    "  source columns with no target column of the same name (not read): {}",
                    unmatched_s.join(", ")
                ));
            }
        }
        Mapping::Position => {
            for ((t, _), (s, _)) in target_cols.iter().zip(source_cols) {
                pairs.push((t.clone(), quote_source(s)));
            }
            if target_cols.len() != source_cols.len() {
                p.say(&format!(
                    "  {} source and {} target columns: the first {} are mapped",
                    source_cols.len(),
                    target_cols.len(),
                    pairs.len()
                ));
            }
        }
        Mapping::Hand => {
            let mut given: Vec<(String, String)> = Vec::new();
            for m in &a.map {
                let (t, e) = m.split_once('=').ok_or_else(|| {
                    Error::config(format!("--map {m}: expected TARGET=EXPRESSION"))
                })?;
                let t = t.trim();
                let Some((tn, _)) = target_cols.iter().find(|(c, _)| c.eq_ignore_ascii_case(t))
                else {
                    return Err(Error::config(format!(
                        "--map {m}: {target_table} has no column {t} (columns: {})",
                        target_cols
                            .iter()
                            .map(|(c, _)| c.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                };
                given.push((tn.clone(), e.trim().to_string()));
            }
            if !a.map.is_empty() {
                pairs = given;
            } else {
                if p.interactive() {
                    p.say("For each target column give a source column, an expression, a constant ('abc', 123) or - to leave it out.");
                }
                for (t, ty) in target_cols {
                    let d = find_source(t).map(|s| quote_source(&s));
                    let answer =
                        p.optional("--map", &format!("  {t} ({ty}) <-"), None, d.as_deref())?;
                    if let Some(e) = answer {
                        pairs.push((t.clone(), e));
                    }
                }
            }
            if !source.spec.expressions {
                for (t, e) in &pairs {
                    if !is_constant(e) && find_source(e).is_none() {
                        return Err(Error::config(format!(
                            "--map {t}={e}: with a {} source a mapping is a source column or a constant ('abc', 123); functions are not supported",
                            source.plugin()
                        )));
                    }
                }
            }
        }
    }
    if pairs.is_empty() {
        return Err(Error::config(format!(
            "no column of {source_table} maps to a column of {target_table}; use --mapping position or --map TARGET=EXPRESSION"
        )));
    }
    if p.interactive() {
        p.say("Mapping:");
        for (t, e) in &pairs {
            p.say(&format!("  {e:<24} -> {t}"));
        }
    }
    Ok(pairs)
}

/// Step 4: the writer's options.
fn target_options_step(a: &NewArgs, p: &Prompter, dst: &TargetAnswers) -> Result<TargetOptions> {
    let (target, partition) = (&dst.end, &dst.partition);
    p.heading("4/6 Target options");
    let (pre_sql, post_sql) = match target.spec.sql_hooks {
        None => (Vec::new(), Vec::new()),
        Some((what, _)) => {
            let pre = if a.pre_sql.is_empty() {
                p.optional(
                    "--pre-sql",
                    &format!("{what} before the import (preSql)"),
                    None,
                    None,
                )?
                .into_iter()
                .collect()
            } else {
                a.pre_sql.clone()
            };
            let post = if a.post_sql.is_empty() {
                p.optional(
                    "--post-sql",
                    &format!("{what} after the import (postSql)"),
                    None,
                    None,
                )?
                .into_iter()
                .collect()
            } else {
                a.post_sql.clone()
            };
            (pre, post)
        }
    };
    let conflict = match target.spec.conflict {
        Some(modes) => {
            let options: Vec<(String, String)> = modes
                .modes
                .iter()
                .map(|(m, text)| (m.to_string(), text.to_string()))
                .collect();
            let given = a.conflict.as_deref().map(|c| (modes.parse)(c).unwrap_or(c));
            Some(p.choose(
                "--conflict",
                "Primary key conflict",
                &options,
                given,
                modes.modes.first().map(|(m, _)| *m),
                false,
            )?)
        }
        None => {
            if let Some(c) = &a.conflict {
                return Err(Error::config(format!(
                    "--conflict {c}: a {} target has no conflict mode",
                    target.plugin()
                )));
            }
            None
        }
    };
    let truncate = p.confirm(
        "--truncate",
        match target.spec.truncate {
            Truncate::WriteMode => "Replace the files written before (writeMode truncate)?",
            Truncate::Flag { .. } if partition.is_some() => {
                "Empty the target partition first (truncate)?"
            }
            Truncate::Flag { .. } => "Empty the target table first (truncate)?",
        },
        a.truncate,
        match target.spec.truncate {
            Truncate::WriteMode => true,
            Truncate::Flag { default } => default,
        },
    )?;
    Ok(TargetOptions {
        pre_sql,
        post_sql,
        conflict,
        truncate,
    })
}

/// Step 5: channel control.
fn channels_step(a: &NewArgs, p: &Prompter) -> Result<Channels> {
    p.heading("5/6 Channel control");
    let concurrent = p
        .number(
            "--concurrent",
            "Concurrent channels",
            a.concurrent,
            Some(2u64),
            None,
        )?
        .unwrap_or(1)
        .max(1);
    let mbps = p.number::<f64>(
        "--mbps",
        "Maximum rate in MiB/s",
        a.mbps,
        None,
        Some("no cap"),
    )?;
    let error_limit = p.number::<u64>(
        "--error-limit",
        "Dirty records allowed before the job fails (errorLimit)",
        a.error_limit,
        Some(0),
        Some("no limit"),
    )?;
    Ok(Channels {
        concurrent,
        mbps,
        error_limit,
    })
}

/// The job the answers make, as JSON text that ferry reads back (checked).
fn job_text(
    a: &NewArgs,
    src: &SourceAnswers,
    dst: &TargetAnswers,
    pairs: &[(String, String)],
    options: &TargetOptions,
    channels: &Channels,
) -> Result<String> {
    let (source, source_table, source_partition, where_, split_pk) = (
        &src.end,
        &src.table,
        &src.partition,
        &src.where_,
        &src.split_pk,
    );
    let (target, target_table, partition) = (&dst.end, &dst.table, &dst.partition);
    let TargetOptions {
        pre_sql,
        post_sql,
        conflict,
        truncate,
    } = options;
    let truncate = *truncate;
    let Channels {
        concurrent,
        mbps,
        error_limit,
    } = *channels;
    let mut reader = Map::new();
    if let Some(ds) = source.datasource() {
        reader.insert("datasource".into(), json!(ds));
    }
    let table_key = if source.spec.paths { "path" } else { "table" };
    reader.insert(table_key.into(), json!(source_table));
    if let Some(part) = &source_partition {
        reader.insert("partition".into(), json!(part));
    }
    reader.insert(
        "column".into(),
        json!(pairs.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>()),
    );
    match (&where_, source.spec.filter) {
        (Some(w), Some(_)) => {
            reader.insert("where".into(), json!(w));
        }
        (None, Some(true)) => {
            reader.insert("where".into(), json!(""));
        }
        _ => {}
    }
    if source.spec.split_key {
        reader.insert(
            "splitPk".into(),
            json!(split_pk.clone().unwrap_or_default()),
        );
    }

    let mut writer = Map::new();
    if let Some(ds) = target.datasource() {
        writer.insert("datasource".into(), json!(ds));
    }
    let target_names: Vec<String> = pairs.iter().map(|(t, _)| t.clone()).collect();
    let table_key = if target.spec.paths { "path" } else { "table" };
    writer.insert(table_key.into(), json!(target_table));
    if let Some(part) = &partition {
        writer.insert("partition".into(), json!(part));
    }
    writer.insert("column".into(), json!(target_names));
    if let Some((_, always)) = target.spec.sql_hooks {
        if always || !pre_sql.is_empty() {
            writer.insert("preSql".into(), json!(pre_sql));
        }
        if always || !post_sql.is_empty() {
            writer.insert("postSql".into(), json!(post_sql));
        }
    }
    if let Some(mode) = &conflict {
        writer.insert("writeMode".into(), json!(mode));
    }
    match target.spec.truncate {
        Truncate::WriteMode => {
            writer.insert(
                "writeMode".into(),
                json!(if truncate { "truncate" } else { "append" }),
            );
        }
        Truncate::Flag { .. } => {
            writer.insert("truncate".into(), json!(truncate));
        }
    }

    let mut speed = Map::new();
    let mut error = Map::new();
    if let Some(r) = error_limit {
        error.insert("record".into(), json!(r));
    }
    let job = if a.datax {
        speed.insert("channel".into(), json!(concurrent));
        if let Some(m) = mbps.filter(|m| *m > 0.0) {
            speed.insert("byte".into(), json!((m * 1_048_576.0).round() as u64));
        }
        let mut setting = Map::new();
        setting.insert("speed".into(), Value::Object(speed));
        if !error.is_empty() {
            setting.insert("errorLimit".into(), Value::Object(error));
        }
        json!({
            "job": {
                "setting": setting,
                "content": [{
                    "reader": {"name": format!("{}reader", source.plugin()), "parameter": reader},
                    "writer": {"name": format!("{}writer", target.plugin()), "parameter": writer}
                }]
            }
        })
    } else {
        if let Some(m) = mbps.filter(|m| *m > 0.0) {
            let v = if m.fract() == 0.0 && m < 1e15 {
                json!(m as u64)
            } else {
                json!(m)
            };
            speed.insert("mbps".into(), v);
        }
        speed.insert("concurrent".into(), json!(concurrent));
        let mut setting = Map::new();
        setting.insert("speed".into(), Value::Object(speed));
        if !error.is_empty() {
            setting.insert("errorLimit".into(), Value::Object(error));
        }
        json!({
            "type": "job",
            "version": "1.0",
            "configuration": {
                "reader": {"plugin": source.plugin(), "parameter": reader},
                "writer": {"plugin": target.plugin(), "parameter": writer},
                "setting": setting
            }
        })
    };
    let text = serde_json::to_string_pretty(&job)
        .map_err(|e| Error::internal(format!("job json: {e}")))?
        + "\n";
    // the wizard must write what ferry reads
    ferry_core::job::parse_job(
        &text,
        "the new job",
        &ferry_core::vars::VarContext::new(
            None,
            None,
            chrono::Local::now().date_naive(),
            Default::default(),
        ),
    )
    .map_err(|e| Error::internal(format!("the wizard wrote a job ferry cannot read: {e}")))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_only_when_needed() {
        ferry_connectors::install();
        assert!(is_constant("'abc'") && is_constant("123") && !is_constant("name"));
        assert_eq!(
            default_out("public.person", "hpg"),
            PathBuf::from("person_to_hpg.json")
        );
        assert_eq!(
            bizdate_partition(&["pt".into(), "ds".into()], true).unwrap(),
            "pt=${bdp.system.bizdate},ds=*"
        );
    }
}
