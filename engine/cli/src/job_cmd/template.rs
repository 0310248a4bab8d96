//! `ferry job template`: a commented job for a reader and a writer, like DataX's `-r/-w`.
//!
//! Every parameter each plugin accepts appears once, with its type, default and meaning
//! in a `//` comment. Parameters that are set are valid as printed (the template passes
//! `ferry validate`'s parsing once the datasource names exist); optional parameters and
//! the alternatives of the other job flavour are printed commented out, so removing the
//! leading `//` sets one. The parameter names are those of the connectors' config parsers
//! (`connectors/*/src/config.rs`, `connectors/postgres/src/writer/config.rs`,
//! `connectors/stream`).

use ferry_core::job::{READER_PLUGINS, WRITER_PLUGINS};
use ferry_core::{Error, Result};

/// When a parameter line is set (uncommented).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum On {
    /// Set in both shapes.
    Always,
    /// Set in the DataWorks shape (catalog datasource), commented in DataX.
    V1,
    /// Set in the DataX shape (inline connection), commented in DataWorks.
    DataX,
    /// Always commented: optional, shown with its default.
    Never,
}

/// One parameter line: key, value (JSON text), when set, and its documentation.
#[derive(Debug, Clone, Copy)]
struct Param {
    key: &'static str,
    value: &'static str,
    on: On,
    doc: &'static str,
}

const fn p(key: &'static str, value: &'static str, on: On, doc: &'static str) -> Param {
    Param {
        key,
        value,
        on,
        doc,
    }
}

/// Which side of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The reader.
    Reader,
    /// The writer.
    Writer,
}

/// The canonical plugin name for `written` (`postgresql`, `postgresqlreader`, `PostgreSQL`,
/// `pg`), or a config error listing the valid names.
pub fn canonical(written: &str, role: Role) -> Result<&'static str> {
    let (table, what) = match role {
        Role::Reader => (READER_PLUGINS, "reader"),
        Role::Writer => (WRITER_PLUGINS, "writer"),
    };
    let w = written.trim().to_ascii_lowercase();
    let w = match w.as_str() {
        "pg" | "postgres" | "hybriddb" | "adbpg" | "greenplum" => "postgresql".to_string(),
        "maxcompute" => "odps".to_string(),
        _ => w,
    };
    for (c, aliases) in table {
        if *c == w || aliases.contains(&w.as_str()) {
            return Ok(c);
        }
    }
    let names: Vec<String> = table
        .iter()
        .map(|(c, a)| format!("{c} ({})", a.join(", ")))
        .collect();
    Err(Error::config(format!(
        "--{what} {written}: unknown {what}; valid {what}s: {}",
        names.join(", ")
    )))
}

const POSTGRES_READER: &[Param] = &[
    p("datasource", "\"my_postgresql\"", On::V1, "string, required unless connection is given: a catalog datasource (`ferry datasource list`)"),
    p("table", "\"public.source_table\"", On::V1, "string or list, required unless querySql: schema.table; a list (or t_[00-09]) reads several tables"),
    p("querySql", "[\"SELECT id, name FROM public.source_table\"]", On::Never, "string or list, instead of table: statements read as they are (no column/where/splitPk)"),
    p("username", "\"postgres\"", On::DataX, "string, DataX: user name"),
    p("password", "\"\"", On::DataX, "string, DataX: password (prefer a catalog datasource: job files end up in version control)"),
    p("connection", "[{\"jdbcUrl\": [\"jdbc:postgresql://127.0.0.1:5432/postgres\"], \"table\": [\"public.source_table\"]}]", On::DataX, "list, DataX: databases, each {jdbcUrl: [URLs tried in order], table: [...] or querySql: [...]}"),
    p("column", "[\"*\"]", On::Always, "list of strings, default [\"*\"]: column names or SQL expressions (upper(name), constants 'abc' or 1); [\"*\"] = every column"),
    p("where", "\"\"", On::Always, "string, default none: filter appended as WHERE (...), e.g. gmt_create >= '${bdp.system.bizdate}'"),
    p("splitPk", "\"\"", On::Always, "string, default none (one range): integer column to cut the table into ranges, one per channel task (the primary key is a good choice)"),
    p("splitFactor", "5", On::Never, "integer, default 5: ranges per channel when splitPk is set"),
    p("fetchSize", "1024", On::Never, "integer, default ferry's batch size: rows per fetch (a batch size hint)"),
];

const POSTGRES_WRITER: &[Param] = &[
    p("datasource", "\"my_postgresql\"", On::V1, "string, required unless connection is given: a catalog datasource"),
    p("table", "\"public.target_table\"", On::V1, "string, required: schema.table (\"MixedCase\" quoted)"),
    p("username", "\"postgres\"", On::DataX, "string, DataX: user name"),
    p("password", "\"\"", On::DataX, "string, DataX: password (prefer a catalog datasource)"),
    p("connection", "[{\"jdbcUrl\": \"jdbc:postgresql://127.0.0.1:5432/postgres\", \"table\": [\"public.target_table\"]}]", On::DataX, "list of one, DataX: {jdbcUrl: URL, table: [table]}"),
    p("column", "[\"*\"]", On::Always, "list of strings, default [\"*\"]: target columns, in the order the reader's columns arrive; [\"*\"] = every column"),
    p("preSql", "[]", On::Always, "list of strings, default []: SQL run before the load, in its transaction; @table = the table name"),
    p("postSql", "[]", On::Always, "list of strings, default []: SQL run after the load, before the commit; @table = the table name"),
    p("writeMode", "\"insert\"", On::Always, "string, default insert: on a key conflict insert (the row is dirty data; \"Insert Into\"), ignore (\"On Conflict Do Nothing\") or update (\"On Conflict Do Update\")"),
    p("conflictMode", "\"insert\"", On::Never, "string: the same values as writeMode (AnalyticDB spelling); wins when both are set"),
    p("truncate", "false", On::Always, "bool, default false: empty the table first, inside the job's transaction"),
    p("batchSize", "10000", On::Never, "integer, default the incoming batch: rows per COPY chunk (the unit of dirty-row isolation)"),
    p("batchByteSize", "1048576", On::Never, "integer: accepted for DataX compatibility; COPY data goes in ~1 MiB pieces regardless"),
    p("emptyAsNull", "true", On::Never, "bool, default true: empty strings become NULL before casting into non-string columns"),
    p("atomic", "true", On::Never, "bool, default true: all-or-nothing commit across channels; false commits each channel when it finishes"),
];

const ODPS_READER: &[Param] = &[
    p("datasource", "\"my_odps\"", On::V1, "string, required unless odpsServer/project/accessId/accessKey are given: a catalog datasource"),
    p("accessId", "\"YOUR_ACCESS_ID\"", On::DataX, "string, DataX: AccessKey id"),
    p("accessKey", "\"YOUR_ACCESS_KEY\"", On::DataX, "string, DataX: AccessKey secret (prefer a catalog datasource)"),
    p("securityToken", "\"\"", On::Never, "string, DataX: STS token"),
    p("project", "\"my_project\"", On::DataX, "string, default the datasource's: the project"),
    p("odpsServer", "\"http://service.cn-hangzhou.maxcompute.aliyun.com/api\"", On::DataX, "string, DataX: REST endpoint"),
    p("tunnelServer", "\"\"", On::Never, "string, default discovered: tunnel endpoint"),
    p("table", "\"source_table\"", On::Always, "string, required: the table"),
    p("partition", "[\"pt=${bdp.system.bizdate}\"]", On::Always, "string or list, required for a partitioned table: specs with * and ? globs (pt=2026*), or /*query*/ conditions"),
    p("column", "[\"*\"]", On::Always, "list of strings, default [\"*\"]: column names, partition columns, constants 'abc'; [\"*\"] = every normal column"),
    p("splitMode", "\"record\"", On::Never, "string, default record: record (cut partitions into row ranges) or partition (one split per partition)"),
    p("successOnNoPartition", "false", On::Never, "bool, default false: succeed reading nothing when no partition matches"),
    p("isCompress", "false", On::Never, "bool, default false: deflate-compressed downloads"),
    p("compress", "\"zstd\"", On::Never, "string, default none: ferry's compression: deflate, zstd, lz4 or snappy"),
    p("arrow", "false", On::Never, "bool, default false: download Arrow instead of the record format"),
    p("maxRetryTime", "10", On::Never, "integer 1..10, default 10: retries of one tunnel operation"),
];

const ODPS_WRITER: &[Param] = &[
    p("datasource", "\"my_odps\"", On::V1, "string, required unless odpsServer/project/accessId/accessKey are given: a catalog datasource"),
    p("accessId", "\"YOUR_ACCESS_ID\"", On::DataX, "string, DataX: AccessKey id"),
    p("accessKey", "\"YOUR_ACCESS_KEY\"", On::DataX, "string, DataX: AccessKey secret (prefer a catalog datasource)"),
    p("securityToken", "\"\"", On::Never, "string, DataX: STS token"),
    p("project", "\"my_project\"", On::DataX, "string, default the datasource's: the project"),
    p("odpsServer", "\"http://service.cn-hangzhou.maxcompute.aliyun.com/api\"", On::DataX, "string, DataX: REST endpoint"),
    p("tunnelServer", "\"\"", On::Never, "string, default discovered: tunnel endpoint"),
    p("table", "\"target_table\"", On::Always, "string, required: the table"),
    p("partition", "\"pt=${bdp.system.bizdate}\"", On::Always, "string, required for a partitioned table: every level (pt=1,ds=hz or pt=1/ds=hz); created when missing"),
    p("column", "[\"*\"]", On::Always, "list of strings, default [\"*\"]: target columns in the reader's order; [\"*\"] = every column"),
    p("truncate", "true", On::Always, "bool, default false: replace the partition (or table) atomically at commit"),
    p("blockSizeInMB", "64", On::Never, "integer 1..512, default 64: upload block size in MiB"),
    p("isCompress", "false", On::Never, "bool, default false: deflate-compressed uploads"),
    p("compress", "\"zstd\"", On::Never, "string, default none: ferry's compression: deflate, zstd, lz4 or snappy"),
    p("arrow", "false", On::Never, "bool, default false: upload Arrow blocks instead of the record format"),
    p("emptyAsNull", "false", On::Never, "bool: empty strings become NULL before casting into non-string columns"),
    p("overLengthRule", "\"keepOn\"", On::Never, "string, default keepOn: a value over the field limit is dirty (keepOn), cut (truncate) or NULL (setNull)"),
    p("maxFieldLength", "8388608", On::Never, "integer, default and maximum 8 MiB: bytes kept by overLengthRule truncate"),
    p("consistencyCommit", "true", On::Never, "bool: accepted; ferry always commits all blocks at once"),
    p("preSql", "[]", On::Never, "list of strings, default []: ODPS SQL run before any data"),
    p("postSql", "[]", On::Never, "list of strings, default []: ODPS SQL run after the commit"),
    p("maxRetryTime", "10", On::Never, "integer 1..10, default 10: retries of one tunnel operation"),
];

const PARQUET_READER: &[Param] = &[
    p("path", "\"staged/source_table\"", On::Always, "string or list, required: a file, a folder (read recursively) or a glob (staged/t/pt=*/*.parquet)"),
    p("column", "[\"*\"]", On::Always, "list of strings, default [\"*\"]: file columns, partition columns, constants ('abc', 123); [\"*\"] = all"),
    p("where", "\"pt >= '20261101'\"", On::Never, "string, default none: a SQL (DataFusion) filter; comparisons of partition columns skip whole folders"),
];

const PARQUET_WRITER: &[Param] = &[
    p("path", "\"staged/target_table\"", On::Always, "string, required: the folder files are written into (created when missing)"),
    p("fileName", "\"part\"", On::Never, "string, default part: file name prefix (<fileName>-<job>-<channel>-<n>.parquet)"),
    p("writeMode", "\"append\"", On::Always, "string, default append: append, truncate (replace the files with this prefix at commit) or nonConflict (fail if the folder has files)"),
    p("compression", "\"zstd\"", On::Always, "string, default zstd: zstd, snappy, gzip, lz4 or none"),
    p("partitionBy", "\"pt=${bdp.system.bizdate}\"", On::Never, "string or list, default none: a fixed spec (pt=20261122) or column names ([\"pt\"]) for Hive folders"),
    p("maxFileSizeMB", "256", On::Never, "integer, default none: roll to a new file at about this many MiB"),
    p("maxRowsPerFile", "1000000", On::Never, "integer, default none: roll to a new file at this many rows"),
    p("rowGroupSize", "131072", On::Never, "integer, default 131072: rows per row group"),
    p("column", "[\"id\", \"name\"]", On::Never, "list, default the reader's names: output column names in the reader's order (strings or {name, type})"),
];

const STREAM_READER: &[Param] = &[
    p("column", "[{\"type\": \"long\", \"random\": \"1,1000\", \"name\": \"id\"}, {\"type\": \"string\", \"value\": \"hello\", \"name\": \"name\"}]", On::Always, "list, required: {type: long|double|string|date|bool|bytes, value: constant | random: \"min,max\", name}"),
    p("sliceRecordCount", "10", On::Always, "integer, default 1: rows per channel"),
    p("batchRows", "1024", On::Never, "integer, default ferry's batch size: rows per batch"),
];

const STREAM_WRITER: &[Param] = &[
    p(
        "print",
        "true",
        On::Always,
        "bool, default false: print rows to stdout (false discards them)",
    ),
    p(
        "fieldDelimiter",
        "\"\\t\"",
        On::Never,
        "string, default tab: separator between printed values",
    ),
];

/// Keys each plugin accepts and ignores (with a warning), for the template's notes.
fn ignored(plugin: &str, role: Role) -> &'static str {
    match (plugin, role) {
        ("postgresql", Role::Reader) => "mandatoryEncoding, session, encoding",
        ("postgresql", Role::Writer) => "encoding",
        ("odps", Role::Reader) => {
            "accountType, accountProvider, packageAuthorizedProject, preSql, postSql, calendarTimeZone, useDateWithCalendar"
        }
        ("odps", Role::Writer) => "accountType, accountProvider, writeTimeoutInMs",
        ("parquet", Role::Reader) => "encoding, fileType, fieldDelimiter, nullFormat",
        ("parquet", Role::Writer) => "encoding, fieldDelimiter, fileType",
        ("stream", Role::Reader) => "encoding",
        _ => "encoding, recordNumBeforeSleep, sleepTime",
    }
}

fn params_of(plugin: &str, role: Role) -> &'static [Param] {
    match (plugin, role) {
        ("postgresql", Role::Reader) => POSTGRES_READER,
        ("postgresql", Role::Writer) => POSTGRES_WRITER,
        ("odps", Role::Reader) => ODPS_READER,
        ("odps", Role::Writer) => ODPS_WRITER,
        ("parquet", Role::Reader) => PARQUET_READER,
        ("parquet", Role::Writer) => PARQUET_WRITER,
        ("stream", Role::Reader) => STREAM_READER,
        _ => STREAM_WRITER,
    }
}

const SETTING_V1: &[Param] = &[
    p(
        "concurrent",
        "2",
        On::Always,
        "integer, default 1: channels (parallel tasks)",
    ),
    p(
        "mbps",
        "10",
        On::Always,
        "number, default no cap: job-wide rate cap in MiB/s; <= 0 means no cap",
    ),
    p(
        "throttle",
        "true",
        On::Never,
        "bool, default true: false ignores mbps",
    ),
    p(
        "channel",
        "2",
        On::Never,
        "integer: DataX spelling of concurrent; wins when both are set",
    ),
    p(
        "byte",
        "10485760",
        On::Never,
        "number, default no cap: job-wide byte cap in bytes/s",
    ),
    p(
        "record",
        "100000",
        On::Never,
        "number, default no cap: job-wide record cap in rows/s",
    ),
];

const SETTING_DATAX: &[Param] = &[
    p(
        "channel",
        "2",
        On::Always,
        "integer, default 1: channels (parallel tasks)",
    ),
    p(
        "byte",
        "10485760",
        On::Never,
        "number, default no cap: job-wide byte cap in bytes/s",
    ),
    p(
        "record",
        "100000",
        On::Never,
        "number, default no cap: job-wide record cap in rows/s",
    ),
    p(
        "mbps",
        "10",
        On::Never,
        "number, default no cap: DataWorks spelling, MiB/s",
    ),
    p(
        "concurrent",
        "2",
        On::Never,
        "integer: DataWorks spelling of channel",
    ),
];

const ERROR_LIMIT: &[Param] = &[
    p("record", "0", On::Always, "integer, default unlimited: fail once more records than this are dirty (wins over percentage)"),
    p("percentage", "0.02", On::Never, "number, default none: fail at the end when dirty / read is above this"),
];

/// Column where the `//` documentation starts.
const DOC_COLUMN: usize = 48;

fn is_set(on: On, datax: bool) -> bool {
    match on {
        On::Always => true,
        On::V1 => !datax,
        On::DataX => datax,
        On::Never => false,
    }
}

/// Write the lines of one object's members at `indent`; the optional ones are commented
/// out. Every member ends with a comma (ferry accepts trailing commas), so removing the
/// `//` of any line keeps the job valid.
fn members(out: &mut String, indent: usize, params: &[Param], datax: bool) {
    let pad = " ".repeat(indent);
    for p in params {
        let line = if is_set(p.on, datax) {
            format!("{pad}\"{}\": {},", p.key, p.value)
        } else {
            format!("{pad}// \"{}\": {},", p.key, p.value)
        };
        let width = line.chars().count();
        let gap = if width + 2 <= DOC_COLUMN {
            " ".repeat(DOC_COLUMN - width)
        } else {
            "  ".to_string()
        };
        out.push_str(&line);
        out.push_str(&gap);
        out.push_str("// ");
        out.push_str(p.doc);
        out.push('\n');
    }
}

fn plugin_block(
    out: &mut String,
    indent: usize,
    role: Role,
    plugin: &str,
    datax: bool,
    trailing_comma: bool,
) {
    let pad = " ".repeat(indent);
    let (key, suffix) = match role {
        Role::Reader => ("reader", "reader"),
        Role::Writer => ("writer", "writer"),
    };
    out.push_str(&format!("{pad}\"{key}\": {{\n"));
    if datax {
        out.push_str(&format!("{pad}  \"name\": \"{plugin}{suffix}\",\n"));
    } else {
        out.push_str(&format!("{pad}  \"plugin\": \"{plugin}\",\n"));
    }
    out.push_str(&format!(
        "{pad}  // accepted and ignored with a warning: {}\n",
        ignored(plugin, role)
    ));
    out.push_str(&format!("{pad}  \"parameter\": {{\n"));
    members(out, indent + 4, params_of(plugin, role), datax);
    out.push_str(&format!("{pad}  }}\n"));
    out.push_str(&format!(
        "{pad}}}{}\n",
        if trailing_comma { "," } else { "" }
    ));
}

fn setting_block(out: &mut String, indent: usize, datax: bool, trailing_comma: bool) {
    let pad = " ".repeat(indent);
    out.push_str(&format!("{pad}\"setting\": {{\n"));
    out.push_str(&format!("{pad}  \"speed\": {{\n"));
    members(
        out,
        indent + 4,
        if datax { SETTING_DATAX } else { SETTING_V1 },
        datax,
    );
    out.push_str(&format!("{pad}  }},\n"));
    out.push_str(&format!("{pad}  \"errorLimit\": {{\n"));
    members(out, indent + 4, ERROR_LIMIT, datax);
    out.push_str(&format!("{pad}  }}\n"));
    out.push_str(&format!(
        "{pad}}}{}\n",
        if trailing_comma { "," } else { "" }
    ));
}

/// The commented template for `reader` → `writer` (canonical names), in the DataWorks v1
/// shape, or the DataX shape when `datax`.
pub fn render(reader: &str, writer: &str, datax: bool) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "// ferry job template: {reader} -> {writer} ({} shape).\n",
        if datax { "DataX" } else { "DataWorks v1" }
    ));
    out.push_str(
        "// Replace the placeholders, then: ferry validate job.json && ferry run job.json\n\
         // A line starting with // is an optional parameter shown with its default: remove the // to set it\n\
         // (ferry accepts comments and trailing commas in job files).\n\
         // Values may use variables: ${bdp.system.bizdate}, $bizdate, ${name} (ferry run -p name=value).\n",
    );
    if datax {
        out.push_str("{\n  \"job\": {\n");
        setting_block(&mut out, 4, true, true);
        out.push_str("    \"content\": [\n      {\n");
        plugin_block(&mut out, 8, Role::Reader, reader, true, true);
        plugin_block(&mut out, 8, Role::Writer, writer, true, false);
        out.push_str("      }\n    ]\n  }\n}\n");
    } else {
        out.push_str("{\n  \"type\": \"job\",\n  \"version\": \"1.0\",\n  \"configuration\": {\n");
        plugin_block(&mut out, 4, Role::Reader, reader, false, true);
        plugin_block(&mut out, 4, Role::Writer, writer, false, true);
        setting_block(&mut out, 4, false, false);
        out.push_str("  }\n}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_and_bad_names_list_the_valid_ones() {
        assert_eq!(
            canonical("PostgreSQLReader", Role::Reader).unwrap(),
            "postgresql"
        );
        assert_eq!(canonical("odps", Role::Writer).unwrap(), "odps");
        let e = canonical("mysql", Role::Reader).unwrap_err().to_string();
        assert!(e.contains("postgresql") && e.contains("parquet"), "{e}");
    }
}
