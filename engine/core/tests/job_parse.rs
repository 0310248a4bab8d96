//! Job files: the seed jobs, the three shapes, comments, trailing commas, strict keys,
//! plugin names, syntax errors with positions, and variables in job text.

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::NaiveDate;
use ferry_core::job::{load_job, parse_job, Job, JobShape};
use ferry_core::vars::VarContext;
use ferry_core::Error;
use serde_json::json;

fn ctx_with(params: &[(&str, &str)]) -> VarContext {
    let p: BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // Instance scheduled 2025-11-01 00:00:00: bizdate 20251031.
    VarContext::new(None, None, NaiveDate::from_ymd_opt(2025, 11, 1).unwrap(), p)
}

fn ctx() -> VarContext {
    ctx_with(&[])
}

fn parse(text: &str) -> Job {
    parse_job(text, "job.json", &ctx()).unwrap_or_else(|e| panic!("{e}"))
}

fn parse_err(text: &str) -> String {
    let e = parse_job(text, "job.json", &ctx()).expect_err("expected an error");
    assert!(matches!(e, Error::Config(_)), "not a config error: {e:?}");
    assert_eq!(e.exit_code(), 2);
    e.to_string()
}

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

#[test]
fn seed_export_job_parses_unchanged() {
    ferry_connectors::install();
    let job = load_job(
        &repo_file("testdata/jobs/seed-export-postgresql-to-odps.json"),
        &ctx(),
    )
    .unwrap();
    assert_eq!(job.shape, JobShape::DataWorksV1);
    assert_eq!(job.reader.plugin, "postgresql");
    assert_eq!(job.writer.plugin, "odps");
    assert_eq!(job.reader.path, "configuration.reader.parameter");
    assert_eq!(job.writer.path, "configuration.writer.parameter");
    assert_eq!(job.reader.params["datasource"], "l_PostGreSql");
    assert_eq!(job.reader.params["table"], "public.person");
    assert_eq!(job.writer.params["datasource"], "odps_first");
    assert_eq!(job.writer.params["partition"], "pt=20251031");
    assert_eq!(job.writer.params["truncate"], true);
    assert_eq!(job.settings.channels, 5);
    assert_eq!(job.settings.bytes_per_sec, Some(5 * 1_048_576));
    assert_eq!(job.settings.records_per_sec, None);
    assert!(job.warnings.is_empty(), "{:?}", job.warnings);
}

#[test]
fn seed_import_job_parses_unchanged() {
    ferry_connectors::install();
    let job = load_job(
        &repo_file("testdata/jobs/seed-import-odps-to-postgresql.json"),
        &ctx_with(&[]),
    )
    .unwrap();
    assert_eq!(job.reader.plugin, "odps");
    assert_eq!(job.writer.plugin, "postgresql");
    assert_eq!(job.reader.params["partition"], "pt=20251031");
    assert_eq!(job.writer.params["datasource"], "l_PostGreSql");
    assert_eq!(job.writer.params["preSql"], json!([]));
    assert_eq!(job.settings.channels, 7);
    assert_eq!(job.settings.bytes_per_sec, Some(7 * 1_048_576));
    // a different business date
    let c = VarContext::new(
        NaiveDate::from_ymd_opt(2026, 11, 1),
        None,
        NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(),
        BTreeMap::new(),
    );
    let job = load_job(
        &repo_file("testdata/jobs/seed-import-odps-to-postgresql.json"),
        &c,
    )
    .unwrap();
    assert_eq!(job.reader.params["partition"], "pt=20261101");
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    ferry_connectors::install();
    let e = load_job(&repo_file("testdata/jobs/nope.json"), &ctx()).unwrap_err();
    assert!(e.to_string().contains("nope.json"), "{e}");
}

#[test]
fn datax_shape() {
    ferry_connectors::install();
    let job = parse(
        r#"{
  "core": {"transport": {"channel": {"speed": {"byte": 1048576}}}},
  "job": {
    "setting": {"speed": {"channel": 3, "byte": 2097152, "record": 10000},
                "errorLimit": {"record": 0, "percentage": 0.02}},
    "content": [{
      "reader": {"name": "PostgreSqlReader", "parameter": {"username": "u", "password": "p",
                 "column": ["id", "'const'"],
                 "connection": [{"table": ["t"], "jdbcUrl": ["jdbc:postgresql://h:5432/db"]}]}},
      "writer": {"name": "odpswriter", "parameter": {"table": "t", "partition": "pt=${bizdate}"}},
      "transformer": [{"name": "dx_substr", "parameter": {"columnIndex": 1, "paras": ["0", "3"]}}]
    }, {
      "reader": {"name": "streamreader", "parameter": {}},
      "writer": {"name": "streamwriter", "parameter": {}}
    }]
  }
}"#,
    );
    assert_eq!(job.shape, JobShape::DataX);
    assert_eq!(job.reader.plugin, "postgresql");
    assert_eq!(job.reader.written_as, "PostgreSqlReader");
    assert_eq!(job.reader.path, "job.content[0].reader.parameter");
    assert_eq!(job.writer.plugin, "odps");
    assert_eq!(job.writer.path, "job.content[0].writer.parameter");
    assert_eq!(job.writer.params["partition"], "pt=20251031");
    // constants in `column` are left as written
    assert_eq!(job.reader.params["column"], json!(["id", "'const'"]));
    assert_eq!(
        job.reader.params["connection"][0]["jdbcUrl"][0],
        "jdbc:postgresql://h:5432/db"
    );
    assert_eq!(job.transformers.len(), 1);
    assert_eq!(job.transformers[0].name, "dx_substr");
    assert_eq!(job.transformers[0].path, "job.content[0].transformer[0]");
    assert_eq!(job.transformers[0].parameter["columnIndex"], 1);
    assert_eq!(job.settings.channels, 3);
    assert_eq!(job.settings.bytes_per_sec, Some(2_097_152));
    assert_eq!(job.settings.records_per_sec, Some(10_000));
    // record wins over percentage
    assert_eq!(job.settings.error_limit.record, Some(0));
    assert_eq!(job.settings.error_limit.percentage, None);
    let w = job.warnings.join("\n");
    assert!(w.contains("core:"), "{w}");
    assert!(w.contains("only job.content[0] is used"), "{w}");
    assert!(w.contains("errorLimit.percentage: ignored"), "{w}");
}

#[test]
fn datax_byte_without_channel_runs_one_channel_with_a_warning() {
    ferry_connectors::install();
    let job = parse(
        r#"{"job": {"setting": {"speed": {"byte": 1048576}, "errorLimit": {"percentage": "0.1"}},
           "content": [{"reader": {"name": "streamreader"}, "writer": {"name": "streamwriter"}}]}}"#,
    );
    assert_eq!(job.settings.channels, 1);
    assert_eq!(job.settings.bytes_per_sec, Some(1_048_576));
    assert_eq!(job.settings.error_limit.percentage, Some(0.1));
    assert_eq!(job.settings.error_limit.record, None);
    assert!(job.reader.params.as_object().unwrap().is_empty());
    assert!(
        job.warnings
            .iter()
            .any(|w| w.contains("job.setting.speed") && w.contains("runs 1 channel")),
        "{:?}",
        job.warnings
    );
    // DataX's "-1" means no cap
    let job = parse(
        r#"{"job": {"setting": {"speed": {"channel": 2, "byte": -1, "record": -1}},
           "content": [{"reader": {"name": "stream"}, "writer": {"name": "parquet"}}]}}"#,
    );
    assert_eq!(job.settings.channels, 2);
    assert_eq!(job.settings.bytes_per_sec, None);
    assert_eq!(job.settings.records_per_sec, None);
    assert!(job.warnings.is_empty(), "{:?}", job.warnings);
}

#[test]
fn dataworks_v2_shape_with_string_numbers() {
    ferry_connectors::install();
    let job = parse(
        r#"{
  "type": "job", "version": "2.0",
  "steps": [
    {"stepType": "odps", "category": "writer", "name": "Writer",
     "parameter": {"datasource": "odps_first", "table": "t", "partition": "pt=$bizdate"}},
    {"stepType": "postgresql", "category": "reader", "name": "Reader",
     "parameter": {"datasource": "l_PostGreSql", "table": "public.person"}}
  ],
  "setting": {"errorLimit": {"record": "0"},
              "speed": {"throttle": true, "concurrent": "2", "mbps": "12"}},
  "order": {"hops": [{"from": "Reader", "to": "Writer"}]}
}"#,
    );
    assert_eq!(job.shape, JobShape::DataWorksV2);
    assert_eq!(job.reader.plugin, "postgresql");
    assert_eq!(job.reader.path, "steps[1].parameter");
    assert_eq!(job.writer.plugin, "odps");
    assert_eq!(job.writer.path, "steps[0].parameter");
    assert_eq!(job.writer.params["partition"], "pt=20251031");
    assert_eq!(job.settings.channels, 2);
    assert_eq!(job.settings.bytes_per_sec, Some(12 * 1_048_576));
    assert_eq!(job.settings.error_limit.record, Some(0));
}

#[test]
fn dataworks_v2_throttle_false_ignores_mbps() {
    ferry_connectors::install();
    let job = parse(
        r#"{"type": "job", "version": "2.0",
  "steps": [{"stepType": "stream", "category": "reader", "name": "Reader", "parameter": {}},
            {"stepType": "stream", "category": "writer", "name": "Writer", "parameter": {}}],
  "setting": {"errorLimit": {"record": ""}, "speed": {"throttle": "false", "concurrent": 4, "mbps": "12"}},
  "order": {"hops": [{"from": "Reader", "to": "Writer"}]}}"#,
    );
    assert_eq!(job.settings.channels, 4);
    assert_eq!(job.settings.bytes_per_sec, None);
    assert_eq!(
        job.settings.error_limit.record, None,
        "empty string = unset"
    );
    assert!(job.warnings.iter().any(|w| w.contains("throttle is false")));
}

#[test]
fn dataworks_v2_step_errors() {
    ferry_connectors::install();
    let e = parse_err(
        r#"{"steps": [{"stepType": "stream", "category": "reader", "name": "R"},
                      {"stepType": "stream", "category": "writer", "name": "W"}],
            "order": {"hops": [{"from": "R", "to": "X"}]}}"#,
    );
    assert!(e.contains("order.hops"), "{e}");
    let e = parse_err(r#"{"steps": [{"stepType": "stream", "category": "reader"}]}"#);
    assert!(e.contains("steps: expected one step"), "{e}");
    let e = parse_err(
        r#"{"steps": [{"stepType": "stream", "category": "reader"},
                      {"stepType": "stream", "category": "sink"}]}"#,
    );
    assert!(e.contains("steps[1].category"), "{e}");
    let e = parse_err(
        r#"{"steps": [{"stepType": "stream", "category": "reader"},
                      {"stepTyp": "stream", "category": "writer"}]}"#,
    );
    assert!(
        e.contains(r#"steps[1].stepTyp: unknown key, did you mean "stepType"?"#),
        "{e}"
    );
}

#[test]
fn comments_in_odd_places_and_inside_strings() {
    ferry_connectors::install();
    let job = parse(
        r#"/* leading */ { // after brace
  "type": /* between */ "job", "version": "1.0",
  "configuration": {
    "reader": {"plugin": "postgresql" /* after value */, "parameter": {
      "jdbcUrl": "jdbc:postgresql://host:5432/db", // a url, not a comment
      "where": "note = '/* not a comment */' and x = \"//\"",
      "querySql": "select 1 -- sql comment stays"
    }},
    "writer": {"plugin": "stream", "parameter": {}}, /* block
    over lines */
    "setting": {"speed": {"concurrent": 2,},}, // trailing commas
  },
} // trailing"#,
    );
    assert_eq!(
        job.reader.params["jdbcUrl"],
        "jdbc:postgresql://host:5432/db"
    );
    assert_eq!(
        job.reader.params["where"],
        "note = '/* not a comment */' and x = \"//\""
    );
    assert_eq!(
        job.reader.params["querySql"],
        "select 1 -- sql comment stays"
    );
    assert_eq!(job.settings.channels, 2);
}

#[test]
fn variables_in_comments_are_ignored_and_in_strings_escaped() {
    ferry_connectors::install();
    let job = parse_job(
        r#"{"configuration": {
  // ${undefined} in a comment is fine
  "reader": {"plugin": "stream", "parameter": {"where": "name ~ '${re}' and d = '$[yyyy-mm-dd]'"}},
  "writer": {"plugin": "stream", "parameter": {"sql": "select $1, $body$x$body$"}},
  "setting": {"speed": {"concurrent": ${n}}}
}}"#,
        "j.json",
        &ctx_with(&[("re", r#"^a"\d"#), ("n", "3")]),
    )
    .unwrap();
    assert_eq!(
        job.reader.params["where"],
        r#"name ~ '^a"\d' and d = '2025-11-01'"#
    );
    assert_eq!(job.writer.params["sql"], "select $1, $body$x$body$");
    assert_eq!(job.settings.channels, 3);
}

#[test]
fn unresolved_variables_are_listed_together() {
    ferry_connectors::install();
    let e = parse_err(
        r#"{"configuration": {
  "reader": {"plugin": "stream", "parameter": {"a": "${table}"}},
  "writer": {"plugin": "stream", "parameter": {"b": "$[yyyymmd]", "c": "$owner"}}
}}"#,
    );
    assert!(e.starts_with("job.json: unresolved variables:"), "{e}");
    assert!(e.contains("${table} (line 2)"), "{e}");
    assert!(e.contains("$[yyyymmd] (line 3)"), "{e}");
    assert!(e.contains("$owner (line 3)"), "{e}");
}

#[test]
fn unknown_setting_keys_get_suggestions() {
    ferry_connectors::install();
    let e = parse_err(
        r#"{"configuration": {"reader": {"plugin": "stream"}, "writer": {"plugin": "stream"},
           "setting": {"speed": {"concurent": 5}}}}"#,
    );
    assert_eq!(
        e,
        r#"job.json: configuration.setting.speed.concurent: unknown key, did you mean "concurrent"?"#
    );
    let e = parse_err(
        r#"{"configuration": {"reader": {"plugin": "stream"}, "writer": {"plugin": "stream"},
           "setting": {"errorlimit": {"record": 0}}}}"#,
    );
    assert!(
        e.contains(r#"configuration.setting.errorlimit: unknown key, did you mean "errorLimit"?"#),
        "{e}"
    );
    let e = parse_err(
        r#"{"job": {"setting": {"speed": {"batchSize": 5}},
           "content": [{"reader": {"name": "stream"}, "writer": {"name": "stream"}}]}}"#,
    );
    assert!(
        e.contains("job.setting.speed.batchSize: unknown key"),
        "{e}"
    );
    let e = parse_err(
        r#"{"job": {"content": [{"reader": {"name": "stream", "paramter": {}}, "writer": {"name": "stream"}}]}}"#,
    );
    assert!(
        e.contains(r#"job.content[0].reader.paramter: unknown key, did you mean "parameter"?"#),
        "{e}"
    );
    let e = parse_err(r#"{"configration": {}}"#);
    assert!(
        e.contains(r#"configration: unknown key, did you mean "configuration"?"#),
        "{e}"
    );
    let e = parse_err(
        r#"{"type": "job", "verson": "1.0", "configuration": {"reader": {"plugin": "stream"}, "writer": {"plugin": "stream"}}}"#,
    );
    assert!(
        e.contains(r#"verson: unknown key, did you mean "version"?"#),
        "{e}"
    );
}

#[test]
fn wrong_types_and_values_name_the_path() {
    ferry_connectors::install();
    let e = parse_err(
        r#"{"configuration": {"reader": {"plugin": "stream"}, "writer": {"plugin": "stream"},
           "setting": {"speed": {"concurrent": "many"}}}}"#,
    );
    assert!(e.contains("configuration.setting.speed.concurrent:"), "{e}");
    assert!(e.contains("many"), "{e}");
    let e = parse_err(
        r#"{"configuration": {"reader": {"plugin": 5}, "writer": {"plugin": "stream"}}}"#,
    );
    assert!(
        e.contains("configuration.reader.plugin: invalid type"),
        "{e}"
    );
    let e = parse_err(
        r#"{"configuration": {"reader": {"plugin": "stream", "parameter": "x"}, "writer": {"plugin": "stream"}}}"#,
    );
    assert!(
        e.contains("configuration.reader.parameter: expected an object"),
        "{e}"
    );
    let e = parse_err(
        r#"{"job": {"setting": {"speed": {"channel": 0}},
           "content": [{"reader": {"name": "stream"}, "writer": {"name": "stream"}}]}}"#,
    );
    assert!(
        e.contains("job.setting.speed.channel: must be at least 1"),
        "{e}"
    );
    let e = parse_err(
        r#"{"job": {"setting": {"errorLimit": {"percentage": 2}},
           "content": [{"reader": {"name": "stream"}, "writer": {"name": "stream"}}]}}"#,
    );
    assert!(
        e.contains("job.setting.errorLimit.percentage: must be between 0 and 1"),
        "{e}"
    );
    let e = parse_err(r#"{"job": {"content": []}}"#);
    assert!(e.contains("job.content: empty"), "{e}");
    let e = parse_err(r#"{"configuration": {"writer": {"plugin": "stream"}}}"#);
    assert!(
        e.contains("configuration.reader: required key is missing"),
        "{e}"
    );
    let e = parse_err(r#"[1]"#);
    assert!(e.contains("expected a JSON object"), "{e}");
    let e = parse_err(r#"{"job": {"content": []}, "steps": []}"#);
    assert!(e.contains("exactly one of"), "{e}");
}

#[test]
fn unknown_plugins_list_known_ones_and_suggest() {
    ferry_connectors::install();
    let e = parse_err(
        r#"{"configuration": {"reader": {"plugin": "postgres"}, "writer": {"plugin": "stream"}}}"#,
    );
    assert!(
        e.contains(r#"configuration.reader.plugin: unknown reader plugin "postgres", did you mean "postgresql"?"#),
        "{e}"
    );
    assert!(e.contains("postgresql, odps, parquet, stream"), "{e}");
    let e = parse_err(
        r#"{"job": {"content": [{"reader": {"name": "postgresqlwriter"}, "writer": {"name": "stream"}}]}}"#,
    );
    assert!(e.contains("job.content[0].reader.name"), "{e}");
    assert!(
        e.contains(r#""postgresqlwriter" is a writer plugin; did you mean "postgresqlreader"?"#),
        "{e}"
    );
    let e = parse_err(
        r#"{"job": {"content": [{"reader": {"name": "stream"}, "writer": {"name": "mysqlwriter"}}]}}"#,
    );
    assert!(e.contains(r#"unknown writer plugin "mysqlwriter""#), "{e}");
    // case-insensitive aliases
    let job = parse(
        r#"{"job": {"content": [{"reader": {"name": "ODPSREADER"}, "writer": {"name": "ParquetWriter"}}]}}"#,
    );
    assert_eq!((job.reader.plugin, job.writer.plugin), ("odps", "parquet"));
}

#[test]
fn malformed_json_points_into_the_original_file() {
    ferry_connectors::install();
    // missing comma on line 4, after a comment and a variable on earlier lines
    let text = "{ // comment\n  \"configuration\": {\n    \"reader\": {\"plugin\": \"${yy}\"},\n    \"writer\": {\"plugin\": \"stream\"} \"setting\": {}\n  }\n}";
    let e = parse_err(text);
    assert!(e.starts_with("job.json:4:36: expected `,` or `}`"), "{e}");
    assert!(e.contains("expected"), "{e}");
    assert!(!e.contains(" at line "), "{e}");
    // the column counts characters and maps back across a shorter substituted value
    let text = "{\"a\": \"$bizmonth 注\" x}";
    let e = parse_err(text);
    assert!(e.starts_with("job.json:1:21: "), "{e}");
    let e = parse_err("{\n  \"a\": 1 /* open");
    assert!(
        e.starts_with("job.json:2:10: unterminated /* comment"),
        "{e}"
    );
    let e = parse_err("{\"configuration\": {");
    assert!(e.starts_with("job.json:1:"), "{e}");
}

#[test]
fn a_bad_number_quotes_the_value() {
    ferry_connectors::install();
    let e = parse_err(
        r#"{"configuration": {"reader": {"plugin": "stream"}, "writer": {"plugin": "stream"},
           "setting": {"speed": {"concurrent": "many"}}}}"#,
    );
    assert!(
        e.contains("expected a non-negative integer, found \"many\""),
        "{e}"
    );
}
