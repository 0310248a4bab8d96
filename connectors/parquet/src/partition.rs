//! Hive-style partition folders (`pt=20261122/region=hz/`): specs, value escaping, and
//! pruning folders from a `where` clause.
//!
//! Values are escaped as Hive and pyarrow do (`%XX` for `/`, `=`, `%`, `\`, `:`, `#`,
//! `?`, control characters); NULL is `__HIVE_DEFAULT_PARTITION__`.

/// The folder name Hive, Spark and pyarrow use for a NULL partition value.
pub const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// A fixed partition, `k1=v1/k2=v2`, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartitionSpec {
    /// Keys and values, outermost folder first.
    pub parts: Vec<(String, String)>,
}

impl PartitionSpec {
    /// The relative folder, values escaped: `pt=1/region=hz`.
    pub fn dir(&self) -> String {
        self.parts
            .iter()
            .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// Parse `pt=1/region=hz`, `pt=1,region=hz`, `pt='1'` (quotes and spaces are dropped,
/// as the ODPS connectors do).
pub fn parse_spec(s: &str) -> Result<PartitionSpec, String> {
    let mut parts = Vec::new();
    for piece in s.split(['/', ',']) {
        let piece = piece.trim();
        if piece.is_empty() {
            continue;
        }
        let Some((k, v)) = piece.split_once('=') else {
            return Err(format!(
                "\"{piece}\" in partition spec \"{s}\" is not key=value"
            ));
        };
        let k = k.trim();
        let v = v.trim().trim_matches('\'').trim_matches('"');
        if k.is_empty() || v.is_empty() {
            return Err(format!(
                "\"{piece}\" in partition spec \"{s}\" needs a key and a value"
            ));
        }
        if v == "." || v == ".." || k.starts_with(['.', '_']) {
            return Err(format!(
                "\"{piece}\" in partition spec \"{s}\" is not a valid folder name"
            ));
        }
        parts.push((k.to_string(), v.to_string()));
    }
    if parts.is_empty() {
        return Err(format!("partition spec \"{s}\" is empty"));
    }
    Ok(PartitionSpec { parts })
}

/// Whether a character must be `%XX`-escaped in a folder name.
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '/' | '\\'
                | '='
                | '%'
                | ':'
                | '#'
                | '?'
                | '"'
                | '\''
                | '*'
                | '['
                | ']'
                | '{'
                | '}'
                | '^'
        )
}

/// Escape a partition key or value for a folder name.
pub fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if needs_escape(c) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Undo [`escape`] (any `%XX`); invalid sequences are kept as written.
pub fn unescape(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| v.to_string())
}

/// A folder name `k=v` as a (key, value) pair; `None` for other names. The value is
/// unescaped; NULL (`__HIVE_DEFAULT_PARTITION__`) is `None`.
pub fn parse_component(name: &str) -> Option<(String, Option<String>)> {
    let (k, v) = name.split_once('=')?;
    if k.is_empty() {
        return None;
    }
    let value = if v == NULL_PARTITION {
        None
    } else {
        Some(unescape(v))
    };
    Some((unescape(k), value))
}

/// A comparison operator of a prunable predicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn flip(self) -> Op {
        match self {
            Op::Lt => Op::Gt,
            Op::Le => Op::Ge,
            Op::Gt => Op::Lt,
            Op::Ge => Op::Le,
            o => o,
        }
    }
    fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Op::Eq => ord == Equal,
            Op::Ne => ord != Equal,
            Op::Lt => ord == Less,
            Op::Le => ord != Greater,
            Op::Gt => ord == Greater,
            Op::Ge => ord != Less,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Text(String),
    Int(String),
}

/// One `column op literal` condition that every kept row satisfies.
#[derive(Debug, Clone, PartialEq)]
pub struct Predicate {
    column: String,
    op: Op,
    literal: Literal,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    Op(Op),
    And,
    Other,
}

fn tokenize(s: &str) -> Option<Vec<Tok>> {
    let cs: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let mut depth = 0i32;
    while i < cs.len() {
        let c = cs[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' || c == ')' {
            depth += if c == '(' { 1 } else { -1 };
            out.push(Tok::Other);
            i += 1;
        } else if c == '\'' {
            let mut v = String::new();
            i += 1;
            loop {
                match cs.get(i) {
                    None => return None,
                    Some('\'') if cs.get(i + 1) == Some(&'\'') => {
                        v.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        v.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(v));
        } else if c == '"' {
            let mut v = String::new();
            i += 1;
            loop {
                match cs.get(i) {
                    None => return None,
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        v.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Ident(v));
        } else if c.is_ascii_digit()
            || (c == '-' && cs.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let start = i;
            i += 1;
            while i < cs.len() && (cs[i].is_ascii_alphanumeric() || cs[i] == '.' || cs[i] == '_') {
                i += 1;
            }
            out.push(Tok::Num(cs[start..i].iter().collect()));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < cs.len() && (cs[i].is_alphanumeric() || cs[i] == '_') {
                i += 1;
            }
            let w: String = cs[start..i].iter().collect();
            match w.to_ascii_lowercase().as_str() {
                "and" => out.push(if depth == 0 { Tok::And } else { Tok::Other }),
                // OR / NOT anywhere at the top level makes splitting on AND unsafe: give up.
                "or" | "not" if depth == 0 => return None,
                _ => out.push(Tok::Ident(w)),
            }
        } else {
            let two: String = cs[i..(i + 2).min(cs.len())].iter().collect();
            let (op, n) = match (two.as_str(), c) {
                ("<=", _) => (Op::Le, 2),
                (">=", _) => (Op::Ge, 2),
                ("<>", _) | ("!=", _) => (Op::Ne, 2),
                ("==", _) => (Op::Eq, 2),
                (_, '=') => (Op::Eq, 1),
                (_, '<') => (Op::Lt, 1),
                (_, '>') => (Op::Gt, 1),
                _ => {
                    out.push(Tok::Other);
                    i += 1;
                    continue;
                }
            };
            out.push(Tok::Op(op));
            i += n;
        }
    }
    (depth == 0).then_some(out)
}

/// The conditions of `where_clause` that only test one partition column against a
/// literal, when the clause is a top-level `AND` chain. Anything else yields nothing
/// for that conjunct (conservative: pruning never drops a row the filter would keep).
pub fn prunable_predicates(where_clause: &str, partition_columns: &[String]) -> Vec<Predicate> {
    let Some(tokens) = tokenize(where_clause) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for conj in tokens.split(|t| *t == Tok::And) {
        let lit = |t: &Tok| match t {
            Tok::Str(s) => Some(Literal::Text(s.clone())),
            Tok::Num(n) => Some(Literal::Int(n.clone())),
            _ => None,
        };
        let (col, op, literal) = match conj {
            [Tok::Ident(c), Tok::Op(op), l] => match lit(l) {
                Some(l) => (c, *op, l),
                None => continue,
            },
            [l, Tok::Op(op), Tok::Ident(c)] => match lit(l) {
                Some(l) => (c, op.flip(), l),
                None => continue,
            },
            _ => continue,
        };
        if let Some(name) = partition_columns.iter().find(|p| *p == col) {
            out.push(Predicate {
                column: name.clone(),
                op,
                literal,
            });
        }
    }
    out
}

/// Whether a canonical integer literal (`0`, `-5`, `20261122`; no leading zeros).
fn canonical_int(s: &str) -> Option<i128> {
    let n: i128 = s.parse().ok()?;
    (n.to_string() == s).then_some(n)
}

impl Predicate {
    /// Whether a partition with these values may hold rows passing the predicate.
    /// `false` only when it certainly cannot.
    pub fn may_match(&self, values: &[(String, Option<String>)]) -> bool {
        let Some((_, value)) = values.iter().find(|(k, _)| *k == self.column) else {
            return true;
        };
        // NULL compared with anything is NULL: the filter drops the row.
        let Some(value) = value else {
            return false;
        };
        match &self.literal {
            Literal::Text(t) => self.op.holds(value.as_str().cmp(t.as_str())),
            Literal::Int(n) => {
                // A Utf8 column against a number: string and numeric comparison agree
                // only for canonical integers (of equal length when ordering).
                let (Some(a), Some(b)) = (canonical_int(value), canonical_int(n)) else {
                    return true;
                };
                let ordering_safe = matches!(self.op, Op::Eq | Op::Ne)
                    || (a >= 0 && b >= 0 && value.len() == n.len());
                if !ordering_safe {
                    return true;
                }
                self.op.holds(a.cmp(&b))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(pt: Option<&str>) -> Vec<(String, Option<String>)> {
        vec![("pt".into(), pt.map(str::to_string))]
    }

    #[test]
    fn escaping_round_trips() {
        for v in ["a/b", "x=y", "50%", "plain", "时间 10:00", "a\\b"] {
            assert_eq!(unescape(&escape(v)), v);
            assert!(!escape(v).contains('/'));
        }
        assert_eq!(escape("a/b"), "a%2Fb");
        assert_eq!(
            parse_component("pt=a%2Fb"),
            Some(("pt".into(), Some("a/b".into())))
        );
        assert_eq!(
            parse_component(&format!("pt={NULL_PARTITION}")),
            Some(("pt".into(), None))
        );
        assert_eq!(parse_component("data"), None);
        assert_eq!(unescape("bad%zz%"), "bad%zz%");
    }

    #[test]
    fn specs_parse() {
        let s = parse_spec(" pt = '20261122' / region=hz").unwrap();
        assert_eq!(s.dir(), "pt=20261122/region=hz");
        assert!(parse_spec("pt").is_err());
        assert!(parse_spec("pt=").is_err());
        assert!(parse_spec("pt=..").is_err());
    }

    #[test]
    fn pruning_is_conservative() {
        let cols = vec!["pt".to_string()];
        let p = prunable_predicates("pt = '20261122' AND id > 5", &cols);
        assert_eq!(p.len(), 1);
        assert!(p[0].may_match(&vals(Some("20261122"))));
        assert!(!p[0].may_match(&vals(Some("20261121"))));
        assert!(!p[0].may_match(&vals(None)));
        let p = prunable_predicates("'20261101' <= pt AND pt < '20261201'", &cols);
        assert_eq!(p.len(), 2);
        assert!(p.iter().all(|p| p.may_match(&vals(Some("20261115")))));
        assert!(!p.iter().all(|p| p.may_match(&vals(Some("20261201")))));
        // OR at the top level: nothing is pruned.
        assert!(prunable_predicates("pt = '1' AND id = 1 OR pt = '2'", &cols).is_empty());
        assert!(prunable_predicates("NOT pt = '1'", &cols).is_empty());
        // Inside parentheses, only whole conjuncts count.
        assert!(prunable_predicates("(pt = '1' OR pt = '2')", &cols).is_empty());
        // Non-partition columns are ignored.
        assert!(prunable_predicates("id = 1", &cols).is_empty());
        // Numbers: canonical integers compare, anything else keeps the folder.
        let p = prunable_predicates("pt = 20261122", &cols);
        assert!(!p[0].may_match(&vals(Some("20261121"))));
        assert!(p[0].may_match(&vals(Some("020261122"))));
        let p = prunable_predicates("pt > 9", &cols);
        assert!(p[0].may_match(&vals(Some("10"))));
        assert!(!p[0].may_match(&vals(Some("8"))));
    }
}
