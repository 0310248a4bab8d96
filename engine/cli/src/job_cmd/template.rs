//! `ferry job template`: a commented job for a reader and a writer, like DataX's `-r/-w`.
//!
//! Every parameter each plugin accepts appears once, with its type, default and meaning
//! in a `//` comment. Parameters that are set are valid as printed (the template passes
//! `ferry validate`'s parsing once the datasource names exist); optional parameters and
//! the alternatives of the other job flavour are printed commented out, so removing the
//! leading `//` sets one. The parameter names are those of the connectors' config parsers
//! (`connectors/*/src/config.rs`, `connectors/postgres/src/writer/config.rs`,
//! `connectors/stream`).

use ferry_core::connector;
use ferry_core::{Error, Result};

pub use ferry_core::connector::Role;
use ferry_core::connector::{param as p, Param, Set as On};

/// The canonical plugin name for `written` (`postgresql`, `postgresqlreader`, `PostgreSQL`,
/// `pg`), or a config error listing the valid names.
pub fn canonical(written: &str, role: Role) -> Result<&'static str> {
    if let Some(c) = connector::find_nickname(written, role) {
        return Ok(c.name);
    }
    let what = role.as_str();
    let names: Vec<String> = connector::playing(role)
        .map(|c| format!("{} ({})", c.name, c.aliases(role).join(", ")))
        .collect();
    Err(Error::config(format!(
        "--{what} {written}: unknown {what}; valid {what}s: {}",
        names.join(", ")
    )))
}

/// Keys each plugin accepts and ignores (with a warning), for the template's notes.
fn ignored(plugin: &str, role: Role) -> String {
    connector::by_name(plugin)
        .map(|c| c.ignored(role).join(", "))
        .unwrap_or_default()
}

fn params_of(plugin: &str, role: Role) -> &'static [Param] {
    connector::by_name(plugin).map_or(&[], |c| c.params(role))
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
        ferry_connectors::install();
        assert_eq!(
            canonical("PostgreSQLReader", Role::Reader).unwrap(),
            "postgresql"
        );
        assert_eq!(canonical("odps", Role::Writer).unwrap(), "odps");
        let e = canonical("mysql", Role::Reader).unwrap_err().to_string();
        assert!(e.contains("postgresql") && e.contains("parquet"), "{e}");
    }
}
