//! Which partitions a reader reads, and how they are cut into splits.
//!
//! Partition specs are normalised the way DataX does it: trimmed, spaces around `=` and
//! `,` removed, `/` turned into `,`, quotes removed, and the levels put in the table's
//! key order. A configured entry is then either
//! * a glob over the normalised spec (`pt=2026*,ds=?z`): `*` matches any run of
//!   characters, `?` exactly one, every other character itself (unlike DataX, `.` is
//!   not a regex wildcard), matched against the whole spec; or
//! * a `/*query*/` condition over the partition values (`/*query*/ pt>=20170101 and
//!   pt<20170110`): comparisons `= == != <> < <= > >=` between a partition column and
//!   a (quoted or bare) value, combined with `and`, `or`, `not` and parentheses. Values
//!   compare as text, as in DataX (which stores every value as a string in SQLite).
//!
//! Splits follow DataX (§2.3): one split per partition when there are more partitions
//! than channels or `splitMode` is `partition`; otherwise each partition is cut into
//! `ceil(channels / partitions)` equal row ranges of its download session's row count.

use ferry_core::{Error, Result};

use crate::config::SplitMode;

/// A partition spec: `(key, value)` pairs in the table's key order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartitionSpec(pub Vec<(String, String)>);

impl PartitionSpec {
    /// Parse and normalise a spec (`pt='1' / ds = hz` → `pt=1,ds=hz`), ordering the levels
    /// after `keys` (the table's partition keys) when every level names one of them.
    pub fn parse(text: &str, keys: &[String]) -> Result<PartitionSpec> {
        let norm = normalise(text);
        let mut parts = Vec::new();
        for part in norm.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                Error::config(format!(
                    "partition \"{text}\": level \"{part}\" is not key=value"
                ))
            })?;
            parts.push((k.to_string(), v.to_string()));
        }
        if parts.is_empty() {
            return Err(Error::config(format!("partition \"{text}\" is empty")));
        }
        let pos = |k: &str| keys.iter().position(|x| x.eq_ignore_ascii_case(k));
        if parts.iter().all(|(k, _)| pos(k).is_some()) {
            parts.sort_by_key(|(k, _)| pos(k));
            for (k, _) in parts.iter_mut() {
                if let Some(i) = pos(k) {
                    *k = keys[i].clone();
                }
            }
        }
        Ok(PartitionSpec(parts))
    }

    /// Check that the spec names exactly the table's partition keys.
    pub fn check_keys(&self, keys: &[String], table: &str) -> Result<()> {
        let same = self.0.len() == keys.len()
            && self
                .0
                .iter()
                .zip(keys)
                .all(|((k, _), want)| k.eq_ignore_ascii_case(want));
        if same {
            Ok(())
        } else {
            Err(Error::config(format!(
                "partition \"{self}\" does not match the partition keys of table {table} ({}); give every level",
                keys.join(", ")
            )))
        }
    }

    /// The value of key `k`.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    }

    /// The REST form with quoted values: `pt='1',ds='hz'`.
    pub fn quoted(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}='{}'", v.replace('\'', "\\'")))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl std::fmt::Display for PartitionSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

/// DataX's normalisation: trim, drop spaces around `=` and `,`, `/` → `,`, drop quotes.
pub fn normalise(text: &str) -> String {
    let t = text.trim().replace('/', ",").replace(['\'', '"'], "");
    t.split(',')
        .map(|level| {
            let level = level.trim();
            match level.split_once('=') {
                Some((k, v)) => format!("{}={}", k.trim(), v.trim()),
                None => level.to_string(),
            }
        })
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether `text` matches `pattern` entirely (`*` any run, `?` one character).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// One configured `partition` entry, compiled.
#[derive(Debug, Clone)]
pub enum PartitionFilter {
    /// A (possibly globbed) spec, normalised and in key order.
    Glob(String),
    /// A `/*query*/` condition.
    Query(Cond),
}

impl PartitionFilter {
    /// Compile an entry against the table's partition keys.
    pub fn parse(entry: &str, keys: &[String], table: &str) -> Result<PartitionFilter> {
        let t = entry.trim();
        if let Some(q) = t.strip_prefix("/*query*/") {
            let cond = parse_cond(q, keys)
                .map_err(|e| Error::config(format!("partition \"{entry}\": {e}")))?;
            return Ok(PartitionFilter::Query(cond));
        }
        let spec = PartitionSpec::parse(t, keys)?;
        if spec.0.len() != keys.len() {
            return Err(Error::config(format!(
                "partition \"{entry}\" has {} level(s) but table {table} is partitioned by ({}); give every level (use * for any value)",
                spec.0.len(),
                keys.join(", ")
            )));
        }
        Ok(PartitionFilter::Glob(spec.to_string()))
    }

    /// Whether an existing partition matches.
    pub fn matches(&self, p: &PartitionSpec) -> bool {
        match self {
            PartitionFilter::Glob(g) => glob_match(g, &p.to_string()),
            PartitionFilter::Query(c) => c.eval(p),
        }
    }
}

/// Select the partitions matching any of `entries`, in the order `existing` lists them,
/// without duplicates.
pub fn select_partitions(
    entries: &[String],
    keys: &[String],
    existing: &[PartitionSpec],
    table: &str,
) -> Result<Vec<PartitionSpec>> {
    let filters = entries
        .iter()
        .map(|e| PartitionFilter::parse(e, keys, table))
        .collect::<Result<Vec<_>>>()?;
    Ok(existing
        .iter()
        .filter(|p| filters.iter().any(|f| f.matches(p)))
        .cloned()
        .collect())
}

/// A comparison operator of a `/*query*/` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=` / `==`
    Eq,
    /// `!=` / `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A compiled `/*query*/` condition.
#[derive(Debug, Clone)]
pub enum Cond {
    /// `key op 'value'` (textual comparison).
    Cmp(String, CmpOp, String),
    /// Both hold.
    And(Box<Cond>, Box<Cond>),
    /// Either holds.
    Or(Box<Cond>, Box<Cond>),
    /// Does not hold.
    Not(Box<Cond>),
}

impl Cond {
    /// Evaluate over a partition (a missing key never matches).
    pub fn eval(&self, p: &PartitionSpec) -> bool {
        match self {
            Cond::Cmp(k, op, v) => match p.get(k) {
                None => false,
                Some(x) => {
                    let o = x.cmp(v.as_str());
                    match op {
                        CmpOp::Eq => o.is_eq(),
                        CmpOp::Ne => o.is_ne(),
                        CmpOp::Lt => o.is_lt(),
                        CmpOp::Le => o.is_le(),
                        CmpOp::Gt => o.is_gt(),
                        CmpOp::Ge => o.is_ge(),
                    }
                }
            },
            Cond::And(a, b) => a.eval(p) && b.eval(p),
            Cond::Or(a, b) => a.eval(p) || b.eval(p),
            Cond::Not(a) => !a.eval(p),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Op(CmpOp),
    LParen,
    RParen,
}

fn tokenize(s: &str) -> std::result::Result<Vec<Tok>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() || ch == ';' {
            i += 1;
        } else if ch == '(' {
            out.push(Tok::LParen);
            i += 1;
        } else if ch == ')' {
            out.push(Tok::RParen);
            i += 1;
        } else if ch == '\'' || ch == '"' {
            let mut j = i + 1;
            let mut v = String::new();
            loop {
                match c.get(j) {
                    None => return Err(format!("unterminated string at {}", i + 1)),
                    Some(&q) if q == ch => {
                        if c.get(j + 1) == Some(&ch) {
                            v.push(ch);
                            j += 2;
                        } else {
                            break;
                        }
                    }
                    Some(&x) => {
                        v.push(x);
                        j += 1;
                    }
                }
            }
            out.push(Tok::Str(v));
            i = j + 1;
        } else if matches!(ch, '=' | '!' | '<' | '>') {
            let two: String = c[i..(i + 2).min(c.len())].iter().collect();
            let (op, n) = match two.as_str() {
                "==" => (CmpOp::Eq, 2),
                "!=" | "<>" => (CmpOp::Ne, 2),
                "<=" => (CmpOp::Le, 2),
                ">=" => (CmpOp::Ge, 2),
                _ => match ch {
                    '=' => (CmpOp::Eq, 1),
                    '<' => (CmpOp::Lt, 1),
                    '>' => (CmpOp::Gt, 1),
                    _ => return Err(format!("unexpected '{ch}'")),
                },
            };
            out.push(Tok::Op(op));
            i += n;
        } else if ch.is_alphanumeric() || matches!(ch, '_' | '-' | '.' | ':' | '`') {
            let mut j = i;
            let mut v = String::new();
            while j < c.len()
                && (c[j].is_alphanumeric() || matches!(c[j], '_' | '-' | '.' | ':' | '`'))
            {
                if c[j] != '`' {
                    v.push(c[j]);
                }
                j += 1;
            }
            out.push(Tok::Word(v));
            i = j;
        } else {
            return Err(format!("unexpected '{ch}'"));
        }
    }
    Ok(out)
}

struct CondParser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    keys: &'a [String],
}

fn parse_cond(s: &str, keys: &[String]) -> std::result::Result<Cond, String> {
    let mut p = CondParser {
        toks: tokenize(s)?,
        pos: 0,
        keys,
    };
    if p.toks.is_empty() {
        return Err("empty /*query*/ condition".into());
    }
    let c = p.or()?;
    if p.pos != p.toks.len() {
        return Err(format!("unexpected {:?} in condition", p.toks[p.pos]));
    }
    Ok(c)
}

impl CondParser<'_> {
    fn kw(&mut self, word: &str) -> bool {
        if let Some(Tok::Word(w)) = self.toks.get(self.pos) {
            if w.eq_ignore_ascii_case(word) {
                self.pos += 1;
                return true;
            }
        }
        false
    }
    fn or(&mut self) -> std::result::Result<Cond, String> {
        let mut left = self.and()?;
        while self.kw("or") {
            left = Cond::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }
    fn and(&mut self) -> std::result::Result<Cond, String> {
        let mut left = self.atom()?;
        while self.kw("and") {
            left = Cond::And(Box::new(left), Box::new(self.atom()?));
        }
        Ok(left)
    }
    fn atom(&mut self) -> std::result::Result<Cond, String> {
        if self.kw("not") {
            return Ok(Cond::Not(Box::new(self.atom()?)));
        }
        match self.toks.get(self.pos).cloned() {
            Some(Tok::LParen) => {
                self.pos += 1;
                let c = self.or()?;
                if self.toks.get(self.pos) != Some(&Tok::RParen) {
                    return Err("missing ')'".into());
                }
                self.pos += 1;
                Ok(c)
            }
            Some(Tok::Word(k)) => {
                self.pos += 1;
                let key = self
                    .keys
                    .iter()
                    .find(|x| x.eq_ignore_ascii_case(&k))
                    .cloned()
                    .ok_or_else(|| {
                        format!(
                            "\"{k}\" is not a partition column (partition columns: {})",
                            self.keys.join(", ")
                        )
                    })?;
                let Some(Tok::Op(op)) = self.toks.get(self.pos).cloned() else {
                    return Err(format!("expected a comparison after {k}"));
                };
                self.pos += 1;
                let v = match self.toks.get(self.pos).cloned() {
                    Some(Tok::Word(v)) | Some(Tok::Str(v)) => v,
                    _ => return Err(format!("expected a value after {k}")),
                };
                self.pos += 1;
                Ok(Cond::Cmp(key, op, v))
            }
            other => Err(format!("unexpected {other:?} in condition")),
        }
    }
}

/// One planned row range of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowRange {
    /// Index of the partition (download session) in the plan.
    pub part: usize,
    /// First row.
    pub start: u64,
    /// Rows.
    pub count: u64,
}

/// Cut `counts` (rows per partition / session) into row ranges for `channels` (DataX §2.3).
pub fn plan_ranges(
    counts: &[u64],
    channels: usize,
    mode: SplitMode,
    partitioned: bool,
) -> Vec<RowRange> {
    let channels = channels.max(1);
    let per = if partitioned && (counts.len() > channels || mode == SplitMode::Partition) {
        1
    } else if partitioned {
        channels.div_ceil(counts.len().max(1))
    } else {
        channels
    };
    let mut out = Vec::new();
    for (part, &rows) in counts.iter().enumerate() {
        let n = (per as u64).min(rows).max(1);
        let base = rows / n;
        let rem = rows % n;
        let mut start = 0;
        for i in 0..n {
            let count = base + u64::from(i < rem);
            out.push(RowRange { part, start, count });
            start += count;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn specs_normalise_like_datax() {
        let k = keys(&["pt", "ds"]);
        let a = PartitionSpec::parse(" pt = '1' / ds= \"hz\" ", &k).unwrap();
        let b = PartitionSpec::parse("ds=hz,pt=1", &k).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "pt=1,ds=hz");
        assert_eq!(a.quoted(), "pt='1',ds='hz'");
        assert!(a.check_keys(&k, "t").is_ok());
        assert!(PartitionSpec::parse("pt=1", &k)
            .unwrap()
            .check_keys(&k, "t")
            .is_err());
        assert!(PartitionSpec::parse("pt", &k).is_err());
    }

    #[test]
    fn glob_is_a_real_glob() {
        assert!(glob_match("pt=2026*", "pt=20261122"));
        assert!(glob_match("pt=2026112?", "pt=20261122"));
        assert!(!glob_match("pt=2026112?", "pt=202611222"));
        assert!(glob_match("pt=*,ds=hz", "pt=1,ds=hz"));
        assert!(!glob_match("pt=*,ds=hz", "pt=1,ds=sh"));
        // `.` is literal, unlike DataX's regex
        assert!(!glob_match("pt=1.1", "pt=101"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
    }

    #[test]
    fn query_conditions_compare_text() {
        let k = keys(&["pt", "ds"]);
        let parts: Vec<PartitionSpec> = [
            "pt=20161231,ds=hz",
            "pt=20170101,ds=hz",
            "pt=20170105,ds=sh",
            "pt=20170110,ds=hz",
        ]
        .iter()
        .map(|s| PartitionSpec::parse(s, &k).unwrap())
        .collect();
        let sel = |e: &str| {
            select_partitions(&[e.to_string()], &k, &parts, "t")
                .unwrap()
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            sel("/*query*/ pt>=20170101 and pt<20170110"),
            vec!["pt=20170101,ds=hz", "pt=20170105,ds=sh"]
        );
        assert_eq!(sel("/*query*/ ds='sh' or pt = '20161231'").len(), 2);
        assert_eq!(sel("/*query*/ not (ds != 'hz')").len(), 3);
        assert_eq!(
            sel("pt=2017*,ds=hz"),
            vec!["pt=20170101,ds=hz", "pt=20170110,ds=hz"]
        );
        assert!(select_partitions(&["/*query*/ foo=1".into()], &k, &parts, "t").is_err());
        assert!(select_partitions(&["pt=2017*".into()], &k, &parts, "t").is_err());
        assert!(select_partitions(&["/*query*/ pt>=".into()], &k, &parts, "t").is_err());
    }

    #[test]
    fn ranges_follow_datax() {
        // fewer partitions than channels: each cut into ceil(4/2) = 2
        let r = plan_ranges(&[10, 3], 4, SplitMode::Record, true);
        assert_eq!(
            r,
            vec![
                RowRange {
                    part: 0,
                    start: 0,
                    count: 5
                },
                RowRange {
                    part: 0,
                    start: 5,
                    count: 5
                },
                RowRange {
                    part: 1,
                    start: 0,
                    count: 2
                },
                RowRange {
                    part: 1,
                    start: 2,
                    count: 1
                },
            ]
        );
        // partition mode: one per partition
        assert_eq!(
            plan_ranges(&[10, 3], 4, SplitMode::Partition, true).len(),
            2
        );
        // more partitions than channels
        assert_eq!(plan_ranges(&[1, 1, 1], 2, SplitMode::Record, true).len(), 3);
        // unpartitioned: channels ranges, never more than rows, an empty table still one split
        assert_eq!(
            plan_ranges(&[7], 3, SplitMode::Record, false)
                .iter()
                .map(|r| r.count)
                .collect::<Vec<_>>(),
            vec![3, 2, 2]
        );
        assert_eq!(plan_ranges(&[2], 5, SplitMode::Record, false).len(), 2);
        assert_eq!(
            plan_ranges(&[0], 5, SplitMode::Record, false),
            vec![RowRange {
                part: 0,
                start: 0,
                count: 0
            }]
        );
    }
}
