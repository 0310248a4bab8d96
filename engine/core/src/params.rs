//! Strict parameter parsing: every mistake names its JSON path, and a misspelt key
//! gets the nearest valid one.
//!
//! Connectors declare their parameters as a `#[serde(deny_unknown_fields)]` struct
//! (never with `flatten`) and call [`parse`]. Keys DataX accepts but ferry ignores on
//! purpose are listed in `ignored`: they are removed with a warning, not rejected.
//!
//! DataWorks v2 writes numbers and booleans as strings (`"concurrent": "2"`); use the
//! `lenient_*` deserializers from this module for such fields.

use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// Parse `value` (found at JSON path `path`) into `T`.
///
/// * unknown key → `path.key: unknown key, did you mean "splitPk"?`
/// * wrong type → `path.key: invalid type: ...`
/// * keys in `ignored` → removed, and a warning pushed to `warnings`.
pub fn parse<T: DeserializeOwned>(
    value: &Value,
    path: &str,
    ignored: &[&str],
    warnings: &mut Vec<String>,
) -> Result<T> {
    let mut v = value.clone();
    if let Value::Object(map) = &mut v {
        for key in ignored {
            if map.remove(*key).is_some() {
                warnings.push(format!(
                    "{}: accepted for DataX compatibility and ignored by ferry",
                    join_path(path, key)
                ));
            }
        }
    } else if !value.is_null() {
        return Err(Error::config(format!(
            "{path}: expected an object, found {}",
            type_name(value)
        )));
    }
    let v = if v.is_null() {
        Value::Object(Default::default())
    } else {
        v
    };
    let mut track = serde_path_to_error::Track::new();
    let de = serde_path_to_error::Deserializer::new(&v, &mut track);
    match T::deserialize(de) {
        Ok(t) => Ok(t),
        Err(e) => {
            let inner = e.to_string();
            let at = track.path().to_string();
            let full = if at == "." || at.is_empty() {
                path.to_string()
            } else {
                join_path(path, &at)
            };
            Err(Error::config(describe(&full, &inner)))
        }
    }
}

/// Turn serde's message into ferry's: unknown fields get a suggestion.
fn describe(path: &str, msg: &str) -> String {
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        if let Some((field, tail)) = rest.split_once('`') {
            let expected: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
            let full = if path.ends_with(&format!(".{field}")) || path == field {
                path.to_string()
            } else {
                join_path(path, field)
            };
            return match nearest(field, &expected) {
                Some(s) => format!("{full}: unknown key, did you mean \"{s}\"?"),
                None => format!(
                    "{full}: unknown key; valid keys are: {}",
                    expected.join(", ")
                ),
            };
        }
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        if let Some((field, _)) = rest.split_once('`') {
            return format!("{}: required key is missing", join_path(path, field));
        }
    }
    format!("{path}: {msg}")
}

/// The nearest candidate to `word` (case-insensitive), if one is close enough.
pub fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let w = word.to_ascii_lowercase();
    let mut best: Option<(&str, f64)> = None;
    for c in candidates {
        let lc = c.to_ascii_lowercase();
        if lc == w {
            return Some(c);
        }
        let score = strsim::jaro_winkler(&w, &lc);
        if score > 0.8 && best.is_none_or(|(_, s)| score > s) {
            best = Some((c, score));
        }
    }
    best.map(|(c, _)| c)
}

/// `a.b` + `c` → `a.b.c`; `a` + `[0]` → `a[0]`.
pub fn join_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else if key.starts_with('[') {
        format!("{path}{key}")
    } else {
        format!("{path}.{key}")
    }
}

/// JSON type name for messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrStr {
    U(u64),
    I(i64),
    F(f64),
    S(String),
}

/// Deserialize a `u64` written as a number or a numeric string (`5`, `"5"`).
pub fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<u64, D::Error> {
    match NumOrStr::deserialize(d)? {
        NumOrStr::U(u) => Ok(u),
        NumOrStr::I(i) => u64::try_from(i)
            .map_err(|_| D::Error::custom(format!("expected a non-negative integer, found {i}"))),
        NumOrStr::F(f) if f.fract() == 0.0 && f >= 0.0 => Ok(f as u64),
        NumOrStr::F(f) => Err(D::Error::custom(format!(
            "expected a non-negative integer, found {f}"
        ))),
        NumOrStr::S(s) => s.trim().parse::<u64>().map_err(|_| {
            D::Error::custom(format!("expected a non-negative integer, found \"{s}\""))
        }),
    }
}

/// Like [`lenient_u64`] for an optional field (`null` or `""` = absent).
pub fn lenient_opt_u64<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<u64>, D::Error> {
    match Option::<NumOrStr>::deserialize(d)? {
        None => Ok(None),
        Some(NumOrStr::S(s)) if s.trim().is_empty() => Ok(None),
        Some(v) => lenient_u64(into_value(v))
            .map(Some)
            .map_err(D::Error::custom),
    }
}

/// Deserialize an `f64` written as a number or a numeric string.
pub fn lenient_f64<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    match NumOrStr::deserialize(d)? {
        NumOrStr::U(u) => Ok(u as f64),
        NumOrStr::I(i) => Ok(i as f64),
        NumOrStr::F(f) => Ok(f),
        NumOrStr::S(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| D::Error::custom(format!("expected a number, found \"{s}\""))),
    }
}

/// Like [`lenient_f64`] for an optional field (`null` or `""` = absent).
pub fn lenient_opt_f64<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<f64>, D::Error> {
    match Option::<NumOrStr>::deserialize(d)? {
        None => Ok(None),
        Some(NumOrStr::S(s)) if s.trim().is_empty() => Ok(None),
        Some(v) => lenient_f64(into_value(v))
            .map(Some)
            .map_err(D::Error::custom),
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum BoolOrStr {
    B(bool),
    S(String),
}

/// Deserialize a `bool` written as `true` or `"true"` (any case).
pub fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    match BoolOrStr::deserialize(d)? {
        BoolOrStr::B(b) => Ok(b),
        BoolOrStr::S(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(D::Error::custom(format!(
                "expected true or false, found \"{s}\""
            ))),
        },
    }
}

/// Like [`lenient_bool`] for an optional field.
pub fn lenient_opt_bool<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<bool>, D::Error> {
    match Option::<BoolOrStr>::deserialize(d)? {
        None => Ok(None),
        Some(BoolOrStr::S(s)) if s.trim().is_empty() => Ok(None),
        Some(BoolOrStr::B(b)) => Ok(Some(b)),
        Some(BoolOrStr::S(s)) => lenient_bool(Value::String(s))
            .map(Some)
            .map_err(D::Error::custom),
    }
}

/// Deserialize a string or a list of strings as a list (`"a"` → `["a"]`).
pub fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
}

fn into_value(v: NumOrStr) -> Value {
    match v {
        NumOrStr::U(u) => Value::from(u),
        NumOrStr::I(i) => Value::from(i),
        NumOrStr::F(f) => Value::from(f),
        NumOrStr::S(s) => Value::String(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct P {
        table: String,
        #[serde(default)]
        split_pk: Option<String>,
        #[serde(default, deserialize_with = "lenient_opt_u64")]
        fetch_size: Option<u64>,
    }

    #[test]
    fn misspelt_key_gets_a_suggestion() {
        let mut w = vec![];
        let err = parse::<P>(
            &json!({"table": "t", "splitpk": "id"}),
            "configuration.reader.parameter",
            &[],
            &mut w,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "configuration.reader.parameter.splitpk: unknown key, did you mean \"splitPk\"?"
        );
    }

    #[test]
    fn wrong_type_names_the_path() {
        let mut w = vec![];
        let err = parse::<P>(&json!({"table": 5}), "r", &[], &mut w).unwrap_err();
        assert!(
            err.to_string().starts_with("r.table: invalid type"),
            "{err}"
        );
        let err = parse::<P>(&json!({}), "r", &[], &mut w).unwrap_err();
        assert_eq!(err.to_string(), "r.table: required key is missing");
    }

    #[test]
    fn ignored_keys_warn_and_strings_count_as_numbers() {
        let mut w = vec![];
        let p: P = parse(
            &json!({"table": "t", "encoding": "UTF-8", "fetchSize": "1024"}),
            "r",
            &["encoding"],
            &mut w,
        )
        .unwrap();
        assert_eq!(p.fetch_size, Some(1024));
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("r.encoding"));
    }
}
