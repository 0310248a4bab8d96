//! Reader and writer `column` lists: the i-th reader column goes to the i-th writer
//! column, so when the job lists both, they must be as long as each other. Checked on the
//! job text alone, before any connection is made (a writer whose server is down would
//! otherwise hide the mistake behind a connection error).
//!
//! Counted as the runtime counts them: every reader entry is one column, constants
//! (`'abc'`, `123`) included. A list is "not given" when it is absent, empty or `["*"]`,
//! when the plugin ignores it (the stream writer; the PostgreSQL reader with `querySql`),
//! or when it mixes `*` with names (the connector reports that).

use serde_json::Value;

use super::PluginSpec;
use crate::connector;
use crate::error::{Error, Result};
use crate::plugin::parse_constant;

/// Fail when both `column` lists are given and differ in length.
pub(super) fn check_counts(reader: &PluginSpec, writer: &PluginSpec) -> Result<()> {
    let (Some(r), Some(w)) = (listed(reader, true), listed(writer, false)) else {
        return Ok(());
    };
    if r.len() == w.len() {
        return Ok(());
    }
    let constants = r.iter().any(|c| parse_constant(c).is_some());
    Err(Error::config(format!(
        "{}.column: the reader lists {} columns [{}] but the writer lists {} [{}] ({}.column); \
         the i-th reader column goes to the i-th writer column, so the two lists must be \
         equally long{}",
        reader.path,
        r.len(),
        r.join(", "),
        w.len(),
        w.join(", "),
        writer.path,
        if constants {
            " (constants such as 'abc' count as reader columns)"
        } else {
            ""
        }
    )))
}

/// The `column` list as the plugin uses it, or `None` when the job does not give one.
fn listed(spec: &PluginSpec, reader: bool) -> Option<Vec<String>> {
    let entries = spec.params.get("column")?.as_array()?;
    let described = connector::by_name(spec.plugin);
    let listed = match described {
        Some(c) if reader => match (c.reader_columns_listed, spec.params.as_object()) {
            (Some(f), Some(params)) => f(params),
            _ => true,
        },
        Some(c) => c.writer_columns_listed,
        None => true,
    };
    if entries.is_empty() || !listed {
        return None;
    }
    let names: Vec<String> = entries.iter().map(label).collect();
    if names.iter().any(|n| n == "*") {
        return None;
    }
    Some(names)
}

/// An entry as shown in the message: a string as written, an object by its `name` (or,
/// for a stream reader column, its type and value), anything else as JSON.
fn label(v: &Value) -> String {
    match v {
        Value::String(s) => s.trim().to_string(),
        Value::Object(o) => {
            if let Some(n) = o.get("name").and_then(Value::as_str) {
                return n.to_string();
            }
            let kind = o.get("type").and_then(Value::as_str).unwrap_or("");
            match (o.get("value"), o.get("random")) {
                (Some(Value::String(s)), _) => format!("{kind} {s:?}").trim().to_string(),
                (Some(other), _) => format!("{kind} {other}").trim().to_string(),
                (None, Some(r)) => format!("{kind} random {r}").trim().to_string(),
                (None, None) => v.to_string(),
            }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(plugin: &'static str, params: Value, path: &str) -> PluginSpec {
        PluginSpec {
            plugin,
            written_as: plugin.into(),
            params,
            path: path.into(),
        }
    }

    fn check(r: PluginSpec, w: PluginSpec) -> std::result::Result<(), String> {
        check_counts(&r, &w).map_err(|e| e.to_string())
    }

    #[test]
    fn a_count_mismatch_shows_both_lists() {
        crate::connector::install_for_tests();
        let e = check(
            spec("postgresql", json!({"column": ["id", "name", "'x'"]}), "r"),
            spec("odps", json!({"column": ["id", "name"]}), "w"),
        )
        .unwrap_err();
        assert_eq!(
            e,
            "r.column: the reader lists 3 columns [id, name, 'x'] but the writer lists 2 \
             [id, name] (w.column); the i-th reader column goes to the i-th writer column, so \
             the two lists must be equally long (constants such as 'abc' count as reader \
             columns)"
        );
        // stream reader objects are shown by name, or by type and value
        let e = check(
            spec(
                "stream",
                json!({"column": [{"type": "long", "value": 1, "name": "id"}, {"type": "string", "value": "x"}, {"type": "long", "random": "1,9"}]}),
                "r",
            ),
            spec("parquet", json!({"column": ["id", {"name": "b", "type": "string"}]}), "w"),
        )
        .unwrap_err();
        assert!(
            e.contains("[id, string \"x\", long random \"1,9\"] but the writer lists 2 [id, b]"),
            "{e}"
        );
        assert!(!e.contains("constants"), "{e}");
    }

    #[test]
    fn lists_that_are_not_given_are_not_compared() {
        crate::connector::install_for_tests();
        let two = json!({"column": ["a", "b"]});
        for (r, w) in [
            (
                spec("postgresql", json!({"column": ["*"]}), "r"),
                spec("odps", two.clone(), "w"),
            ),
            (
                spec("postgresql", two.clone(), "r"),
                spec("odps", json!({"column": []}), "w"),
            ),
            (
                spec("postgresql", two.clone(), "r"),
                spec("odps", json!({}), "w"),
            ),
            (
                spec("odps", json!({"column": ["a"]}), "r"),
                spec("stream", two.clone(), "w"),
            ),
            (
                spec(
                    "postgresql",
                    json!({"column": ["a"], "querySql": "select 1, 2"}),
                    "r",
                ),
                spec("odps", two.clone(), "w"),
            ),
            (
                spec("postgresql", json!({"column": ["*", "a"]}), "r"),
                spec("odps", two.clone(), "w"),
            ),
            (
                spec("postgresql", two.clone(), "r"),
                spec("postgresql", json!({"column": ["b", "a"]}), "w"),
            ),
        ] {
            assert_eq!(
                check(r.clone(), w.clone()),
                Ok(()),
                "{:?} {:?}",
                r.params,
                w.params
            );
        }
        // a stream *reader* column list does count
        assert!(check(
            spec(
                "stream",
                json!({"column": [{"type": "long", "value": 1}]}),
                "r"
            ),
            spec("postgresql", two, "w"),
        )
        .is_err());
    }
}
