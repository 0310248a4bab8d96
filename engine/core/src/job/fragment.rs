//! Files that hold only part of a job: one reader copied out of a sample, a `"setting":
//! {...}` member, one step, a `content` entry. serde_json says `trailing characters` or
//! ferry says "not a job"; this module says what the file looks like instead, and where
//! the part belongs.

use serde_json::Value;

use crate::connector::{self, Role};

/// What a file that is not a whole job looks like.
#[derive(Debug, PartialEq)]
pub(super) enum Found {
    /// Part of a job: "a reader (it belongs in ...)".
    Fragment(String),
    /// A datasource catalog (`{"datasources": ...}`).
    Catalog,
    /// `"job": {...}` without the braces around the whole file.
    Unbraced(&'static str),
}

/// The message for `found` at `line:column` of file `name`.
pub(super) fn message(name: &str, line: usize, column: usize, found: &Found) -> String {
    match found {
        Found::Fragment(what) => format!(
            "{name}:{line}:{column}: this looks like a job fragment ({what}); a job needs \
             `job`, `configuration` or `steps` at the top"
        ),
        Found::Catalog => format!(
            "{name}:{line}:{column}: this is a datasource catalog, not a job; give it with \
             --catalog or $FERRY_CATALOG"
        ),
        Found::Unbraced(key) => format!(
            "{name}:{line}:{column}: the file starts with \"{key}\": but has no {{ }} around \
             it; wrap the whole file in {{ }}"
        ),
    }
}

/// 1-based line and column, in `original`, of the first character that is not blank in
/// `plain` (the comment-free text of the same length).
pub(super) fn start(plain: &str, original: &str) -> (usize, usize) {
    let at = plain
        .bytes()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    super::relaxed::line_col(original, at)
}

/// Top-level keys that choose a shape.
const SHAPE_KEYS: &[&str] = &["job", "configuration", "steps"];

/// Keys typical of a plugin's `parameter` object.
const PARAMETER_KEYS: &[&str] = &[
    "datasource",
    "table",
    "column",
    "connection",
    "jdbcUrl",
    "querySql",
    "where",
    "splitPk",
    "partition",
    "project",
    "sliceRecordCount",
    "path",
];

/// `text` is a list of object members (`"setting": {...}, ...`) rather than a value:
/// what those members are, if they parse once wrapped in braces.
pub(super) fn members(text: &str) -> Option<Found> {
    let t = text.trim();
    if !t.starts_with('"') {
        return None;
    }
    let t = t.strip_suffix(',').unwrap_or(t);
    let v: Value = serde_json::from_str(&format!("{{{t}}}")).ok()?;
    let obj = v.as_object()?;
    if let Some(key) = SHAPE_KEYS.iter().find(|k| obj.contains_key(**k)) {
        return Some(Found::Unbraced(key));
    }
    Some(kind(&v).unwrap_or_else(|| Found::Fragment("some keys of an object".into())))
}

/// What `v`, a parsed file without `job`, `configuration` or `steps` at the top, looks
/// like; `None` when it looks like nothing in particular (or is a job).
pub(super) fn kind(v: &Value) -> Option<Found> {
    match v {
        Value::Object(o) => {
            if SHAPE_KEYS.iter().any(|k| o.contains_key(*k)) {
                return None;
            }
            if o.contains_key("datasources") {
                return Some(Found::Catalog);
            }
            let has = |k: &str| o.contains_key(k);
            let what: String = if has("stepType") || (has("category") && has("parameter")) {
                let role = o.get("category").and_then(Value::as_str).unwrap_or("");
                let role = match role.to_ascii_lowercase().as_str() {
                    "reader" => "a reader step",
                    "writer" => "a writer step",
                    _ => "a step",
                };
                format!("{role}, one entry of the `steps` list of a DataWorks v2 job")
            } else if (has("name") || has("plugin")) && has("parameter") {
                plugin_object(o)
            } else if has("reader") || has("writer") {
                "a reader and a writer, which belong in `configuration` (DataWorks) or in \
                 `job.content[0]` (DataX)"
                    .into()
            } else if has("content") {
                "the inside of DataX's `job`: content / setting".into()
            } else if has("setting") {
                "a setting, which belongs in `configuration`, `job` or at the top of a \
                 DataWorks v2 job next to `steps`"
                    .into()
            } else if has("speed") || has("errorLimit") {
                "the inside of a setting: speed / errorLimit".into()
            } else if has("hops") || has("order") {
                "the `order` of a DataWorks v2 job".into()
            } else if has("parameter") {
                "a reader's or writer's parameter".into()
            } else if PARAMETER_KEYS.iter().any(|k| has(k)) {
                "the `parameter` object of a reader or writer".into()
            } else {
                return None;
            };
            Some(Found::Fragment(what))
        }
        Value::Array(items) => {
            let first = items.first()?.as_object()?;
            if first.contains_key("stepType") || first.contains_key("category") {
                Some(Found::Fragment(
                    "a list of steps, the `steps` of a DataWorks v2 job".into(),
                ))
            } else if first.contains_key("reader") || first.contains_key("writer") {
                Some(Found::Fragment(
                    "a list of reader / writer pairs, DataX's `job.content`".into(),
                ))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// `{"name": "streamreader", "parameter": ...}` or `{"plugin": "odps", ...}`.
fn plugin_object(o: &serde_json::Map<String, Value>) -> String {
    let name = o
        .get("name")
        .or_else(|| o.get("plugin"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let is =
        |role: Role| connector::playing(role).any(|c| c.aliases(role).contains(&name.as_str()));
    let role = if is(Role::Reader) {
        "a reader"
    } else if is(Role::Writer) {
        "a writer"
    } else if name.starts_with("dx_") {
        return "a transformer, one entry of `transformer` in DataX's `job.content[0]`".into();
    } else {
        "a reader or a writer"
    };
    if o.contains_key("plugin") {
        format!("{role}, which belongs in `configuration` of a DataWorks v1 job")
    } else {
        format!("{role}, which belongs in DataX's `job.content[0]`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn what(v: Value) -> String {
        match kind(&v) {
            Some(Found::Fragment(w)) => w,
            other => panic!("{v}: {other:?}"),
        }
    }

    #[test]
    fn parts_of_jobs_are_recognised() {
        crate::connector::install_for_tests();
        assert!(what(json!({"name": "streamreader", "parameter": {}})).starts_with("a reader,"));
        assert!(what(json!({"name": "odpswriter", "parameter": {}})).starts_with("a writer,"));
        assert!(what(json!({"plugin": "odps", "parameter": {}}))
            .starts_with("a reader or a writer, which belongs in `configuration`"));
        assert!(what(json!({"name": "dx_substr", "parameter": {}})).starts_with("a transformer"));
        assert!(
            what(json!({"category": "writer", "name": "W", "parameter": {}}))
                .starts_with("a writer step")
        );
        assert!(what(json!({"reader": {}, "writer": {}})).starts_with("a reader and a writer"));
        assert!(what(json!({"content": []})).contains("inside of DataX's `job`"));
        assert!(what(json!({"setting": {}})).starts_with("a setting"));
        assert!(what(json!({"speed": {}})).contains("speed / errorLimit"));
        assert!(what(json!({"hops": []})).contains("`order`"));
        assert!(what(json!({"datasource": "x", "table": "t"})).contains("`parameter`"));
        assert!(what(json!([{"stepType": "odps"}])).starts_with("a list of steps"));
        assert!(what(json!([{"reader": {}}])).contains("job.content"));
        assert_eq!(kind(&json!({"datasources": {}})), Some(Found::Catalog));
        // a job, or nothing recognisable
        assert_eq!(kind(&json!({"job": {}, "setting": {}})), None);
        assert_eq!(kind(&json!({"foo": 1})), None);
        assert_eq!(kind(&json!([1, 2])), None);
    }

    #[test]
    fn member_lists_are_recognised() {
        crate::connector::install_for_tests();
        let f = members("  \"setting\": {\"speed\": {\"channel\": 1}},\n").unwrap();
        assert!(
            matches!(&f, Found::Fragment(w) if w.starts_with("a setting")),
            "{f:?}"
        );
        assert_eq!(
            members("\"job\": {\"content\": []}"),
            Some(Found::Unbraced("job"))
        );
        assert_eq!(
            members("\"foo\": 1"),
            Some(Found::Fragment("some keys of an object".into()))
        );
        assert_eq!(members("{\"a\": 1} x"), None);
        assert_eq!(members("\"a\" \"b\""), None);
    }

    #[test]
    fn the_start_is_the_first_character_after_blanks_and_comments() {
        crate::connector::install_for_tests();
        let original = "// a reader\n  {\"name\": 1}";
        let plain = "           \n  {\"name\": 1}";
        assert_eq!(start(plain, original), (2, 3));
    }
}
