//! Variables and DataWorks scheduling parameters, resolved in the job text before parsing.
//!
//! `$name` / `${name}` come from `-p name=value`; `${bdp.system.bizdate}`, `$bizdate`,
//! `$cyctime`, `$gmtdate`, `$bizmonth`, `${yyyymmdd-N}`, `$[yyyymmdd-N]` and friends follow
//! the semantics in `shared/spec/datax-jobs.md` §1.5.
//!
//! What counts as a variable:
//!
//! * `${...}` whose content starts with a letter or `_` and holds no blanks or quotes;
//! * `$[...]` whose content starts with a letter and holds no blanks or quotes (so the
//!   JSON paths `$[0]` and `$[*]` are left alone);
//! * `$name` with `name` = a letter or `_` followed by letters, digits or `_`, unless the
//!   name is directly followed by `$` (a PostgreSQL dollar-quote tag such as `$body$`).
//!
//! `$1`, a lone `$`, `$$` and `$.a` are plain text. A variable that cannot be resolved is
//! an error; all of them are reported together with their line numbers, and the custom
//! ones with the `-p` arguments to paste. `-p` values win over built-ins of the same name
//! and are inserted as given (never scanned again), so `-p min='$min'` keeps a literal
//! `$min`; the one exception is a value that is exactly one scheduling expression
//! (`-p day='$[yyyymmdd-1]'`, `-p d='${bdp.system.bizdate}'`, `-p d='$bizdate'`), which is
//! evaluated on the same baselines, as DataWorks does for a node's parameter assignments.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, Months, NaiveDate, NaiveDateTime, Timelike};

use crate::error::{Error, Result};

/// What variables resolve against.
#[derive(Debug, Clone)]
pub struct VarContext {
    /// `-p name=value` parameters.
    pub params: BTreeMap<String, String>,
    /// Business date (`${bdp.system.bizdate}`).
    pub bizdate: NaiveDate,
    /// Scheduled time (`${bdp.system.cyctime}`).
    pub cyctime: NaiveDateTime,
    /// Today, for `$gmtdate` and `$bizmonth`.
    pub today: NaiveDate,
}

impl VarContext {
    /// Baselines as for a daily job: given neither, cyctime = today 00:00:00 and
    /// bizdate = the day before; given only bizdate D, cyctime = D + 1 day 00:00:00;
    /// given only cyctime, bizdate = its date − 1 day.
    pub fn new(
        bizdate: Option<NaiveDate>,
        cyctime: Option<NaiveDateTime>,
        today: NaiveDate,
        params: BTreeMap<String, String>,
    ) -> Self {
        let day = chrono::Duration::days(1);
        // `-p '${params1}=x'` names the variable as the job writes it: take the name.
        let params = params
            .into_iter()
            .map(|(k, v)| (bare_name(&k).to_string(), v))
            .collect();
        let (bizdate, cyctime) = match (bizdate, cyctime) {
            (Some(b), Some(c)) => (b, c),
            (Some(b), None) => (b, (b + day).and_time(chrono::NaiveTime::MIN)),
            (None, Some(c)) => (c.date() - day, c),
            (None, None) => (today - day, today.and_time(chrono::NaiveTime::MIN)),
        };
        VarContext {
            params,
            bizdate,
            cyctime,
            today,
        }
    }
}

/// `${name}`, `$[name]` or `$name` as a `-p` key: `name`; anything else as given.
fn bare_name(key: &str) -> &str {
    let k = key.trim();
    if let Some(inner) = k
        .strip_prefix("${")
        .and_then(|r| r.strip_suffix('}'))
        .or_else(|| k.strip_prefix("$[").and_then(|r| r.strip_suffix(']')))
    {
        return inner;
    }
    match k.strip_prefix('$') {
        Some(r)
            if r.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            r
        }
        _ => k,
    }
}

/// Replace every variable in `text`. An unresolved variable is an error that lists
/// every unresolved one.
pub fn resolve(text: &str, ctx: &VarContext) -> Result<String> {
    scan(text, ctx, false).map(|r| r.text)
}

/// Like [`resolve`] for JSON text: a value inserted inside a JSON string is escaped
/// (`"` and `\` in a `-p` value cannot break the document); outside strings it is
/// inserted as is (`"concurrent": $n`).
pub fn resolve_json(text: &str, ctx: &VarContext) -> Result<String> {
    scan(text, ctx, true).map(|r| r.text)
}

/// Parse a `--bizdate` argument: `20261101` (or `2026-11-01`) gives one date,
/// `20261101..20261107` every date from the first to the last, inclusive, in order.
pub fn parse_bizdate_arg(s: &str) -> Result<Vec<NaiveDate>> {
    let s = s.trim();
    let one = |part: &str| -> Result<NaiveDate> {
        let part = part.trim();
        NaiveDate::parse_from_str(part, "%Y%m%d")
            .ok()
            .filter(|_| part.len() == 8)
            .or_else(|| NaiveDate::parse_from_str(part, "%Y-%m-%d").ok())
            .ok_or_else(|| {
                Error::config(format!(
                    "bizdate \"{part}\": expected a date as yyyymmdd (20261101) or a range \
                     yyyymmdd..yyyymmdd (20261101..20261107)"
                ))
            })
    };
    match s.split_once("..") {
        None => Ok(vec![one(s)?]),
        Some((a, b)) => {
            let (from, to) = (one(a)?, one(b)?);
            if from > to {
                return Err(Error::config(format!(
                    "bizdate range \"{s}\": the first date is after the last"
                )));
            }
            Ok(from.iter_days().take_while(|d| *d <= to).collect())
        }
    }
}

/// One substitution made by [`scan`], in byte offsets, so positions in the resolved
/// text can be mapped back to the original.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Substitution {
    /// Start in the resolved text.
    pub out_start: usize,
    /// Length of the inserted value.
    pub out_len: usize,
    /// Start in the original text.
    pub in_start: usize,
    /// Length of the variable in the original text.
    pub in_len: usize,
}

/// Resolved text plus where it differs from the original.
#[derive(Debug)]
pub(crate) struct Resolved {
    pub text: String,
    pub subs: Vec<Substitution>,
    /// `-p` names the text never referred to (outside comments), sorted.
    pub unused_params: Vec<String>,
}

impl Resolved {
    /// Map a byte offset in the resolved text back to the original text.
    pub fn original_offset(&self, out: usize) -> usize {
        let mut delta: isize = 0;
        for s in &self.subs {
            if out < s.out_start {
                break;
            }
            if out < s.out_start + s.out_len {
                return s.in_start;
            }
            delta = (s.in_start + s.in_len) as isize - (s.out_start + s.out_len) as isize;
        }
        (out as isize + delta).max(0) as usize
    }
}

/// Scan `text`, replacing variables. In `json` mode, values inside JSON strings are
/// escaped.
pub(crate) fn scan(text: &str, ctx: &VarContext, json: bool) -> Result<Resolved> {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut subs = Vec::new();
    let mut unresolved: Vec<(String, usize, Var<'_>)> = Vec::new();
    let mut used: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
    let (mut i, mut last, mut line, mut in_str) = (0usize, 0usize, 1usize, false);
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => line += 1,
            b'"' if json => in_str = !in_str,
            b'\\' if json && in_str => {
                if bytes.get(i + 1) == Some(&b'\n') {
                    line += 1;
                }
                i += 2;
                continue;
            }
            b'$' => {
                if let Some((var, len)) = candidate(&text[i..]) {
                    let raw = &text[i..i + len];
                    if let Some(key) = var.param_key() {
                        if ctx.params.contains_key(key) {
                            used.insert(key);
                        }
                    }
                    match evaluate(&var, ctx) {
                        Some(value) => {
                            out.push_str(&text[last..i]);
                            let value = if json && in_str {
                                json_escape(&value)
                            } else {
                                value
                            };
                            subs.push(Substitution {
                                out_start: out.len(),
                                out_len: value.len(),
                                in_start: i,
                                in_len: len,
                            });
                            out.push_str(&value);
                            last = i + len;
                        }
                        None => unresolved.push((raw.to_string(), line, var)),
                    }
                    i += len;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    if !unresolved.is_empty() {
        return Err(Error::config(unresolved_message(&unresolved)));
    }
    out.push_str(&text[last..]);
    let unused_params = ctx
        .params
        .keys()
        .filter(|k| !used.contains(k.as_str()))
        .cloned()
        .collect();
    Ok(Resolved {
        text: out,
        subs,
        unused_params,
    })
}

/// The built-in names a misspelt `${bdp.system.*}` is compared with.
const SYSTEM_PARAMS: &[&str] = &["bdp.system.bizdate", "bdp.system.cyctime"];

/// How an unresolved variable is best fixed.
enum Fix<'a> {
    /// A custom variable: give it with `-p name=VALUE`.
    Param(&'a str),
    /// A date format with a typo: check it against the tokens.
    DateFormat,
    /// A misspelt system parameter.
    System(&'static str),
}

fn fix_for<'a>(var: &Var<'a>) -> Fix<'a> {
    let content = match var {
        Var::Bare(n) => return Fix::Param(n),
        Var::Brace(c) | Var::Bracket(c) => *c,
    };
    if content.starts_with("bdp.") {
        if let Some(s) = crate::params::nearest(content, SYSTEM_PARAMS) {
            return Fix::System(s);
        }
    }
    let ident = content
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if ident && !looks_like_date_format(content) {
        Fix::Param(content)
    } else {
        Fix::DateFormat
    }
}

/// `yyyymmd`, `hh24mis`: only date-token letters (and digits or separators), with at
/// least one token-like pair. `ds` or `day` are names, not formats.
fn looks_like_date_format(content: &str) -> bool {
    let letters_ok = content
        .chars()
        .all(|c| matches!(c, 'y' | 'm' | 'd' | 'h' | 'i' | 's') || !c.is_ascii_alphabetic());
    let has_token = ["yy", "mm", "dd", "hh", "mi", "ss"]
        .iter()
        .any(|t| content.contains(t));
    letters_ok && has_token
}

/// The error for unresolved variables: all of them with their lines, then what to do,
/// with the `-p` arguments to paste for the custom ones.
fn unresolved_message(unresolved: &[(String, usize, Var<'_>)]) -> String {
    let list: Vec<String> = unresolved
        .iter()
        .map(|(v, l, _)| format!("{v} (line {l})"))
        .collect();
    let noun = if unresolved.len() == 1 {
        "variable"
    } else {
        "variables"
    };
    let mut msg = format!(
        "unresolved {noun}: {}; give custom ones with -p name=value (date formats take \
         yyyy yy mm dd, and also hh24 mi ss inside $[...])",
        list.join(", ")
    );
    let mut params: Vec<&str> = Vec::new();
    let mut hints: Vec<String> = Vec::new();
    for (raw, _, var) in unresolved {
        match fix_for(var) {
            Fix::Param(name) if !name.is_empty() => {
                if !params.contains(&name) {
                    params.push(name);
                }
            }
            Fix::Param(_) | Fix::DateFormat => {}
            Fix::System(s) => {
                let h = format!("{raw}: did you mean ${{{s}}}?");
                if !hints.contains(&h) {
                    hints.push(h);
                }
            }
        }
    }
    for h in hints {
        msg.push_str("; ");
        msg.push_str(&h);
    }
    if !params.is_empty() {
        let args: Vec<String> = params
            .iter()
            .map(|p| format!("-p {}", shell_word(&format!("{p}=VALUE"))))
            .collect();
        msg.push_str(&format!(
            "; to give them, add: {} (a value may be a scheduling expression: -p {})",
            args.join(" "),
            shell_word(&format!("{}=$[yyyymmdd-1]", params[0]))
        ));
    }
    msg
}

/// `s` quoted for a POSIX shell when it holds anything but safe characters.
fn shell_word(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '=' | '/' | ':' | ','))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// A variable as written.
#[derive(Debug, PartialEq)]
enum Var<'a> {
    /// `${content}`: a name, `bdp.system.*`, or a format on bizdate.
    Brace(&'a str),
    /// `$[content]`: a format on cyctime.
    Bracket(&'a str),
    /// `$name`.
    Bare(&'a str),
}

impl<'a> Var<'a> {
    /// The `-p` name this variable would take its value from.
    fn param_key(&self) -> Option<&'a str> {
        match self {
            Var::Bare(n) | Var::Brace(n) | Var::Bracket(n) => Some(n),
        }
    }
}

/// If `s` (starting at `$`) begins with something that looks like a variable, return it
/// and its length in bytes.
fn candidate(s: &str) -> Option<(Var<'_>, usize)> {
    let b = s.as_bytes();
    let bad = |c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | '$' | '{' | '[');
    match b.get(1)? {
        b'{' => {
            let end = s[2..].find(['}', '\n'])? + 2;
            if b[end] != b'}' {
                return None;
            }
            let content = &s[2..end];
            let first = content.chars().next();
            if content.is_empty()
                || (first.is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && !content.contains(bad))
            {
                Some((Var::Brace(content), end + 1))
            } else {
                None
            }
        }
        b'[' => {
            let end = s[2..].find([']', '\n'])? + 2;
            if b[end] != b']' {
                return None;
            }
            let content = &s[2..end];
            let first = content.chars().next()?;
            (first.is_ascii_alphabetic() && !content.contains(bad))
                .then_some((Var::Bracket(content), end + 1))
        }
        c if c.is_ascii_alphabetic() || *c == b'_' => {
            let len = b[1..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                .count();
            if b.get(1 + len) == Some(&b'$') {
                return None; // `$tag$`: a PostgreSQL dollar quote
            }
            Some((Var::Bare(&s[1..1 + len]), 1 + len))
        }
        _ => None,
    }
}

/// The value of a variable, or `None` when it cannot be resolved.
fn evaluate(var: &Var<'_>, ctx: &VarContext) -> Option<String> {
    if let Some(v) = var.param_key().and_then(|k| ctx.params.get(k)) {
        return Some(param_value(v, ctx));
    }
    scheduling(var, ctx)
}

/// A built-in or a date expression; never a `-p` name.
fn scheduling(var: &Var<'_>, ctx: &VarContext) -> Option<String> {
    match var {
        Var::Bare(name) => builtin(name, ctx),
        Var::Brace(content) => {
            match *content {
                "bdp.system.bizdate" => return builtin("bizdate", ctx),
                "bdp.system.cyctime" => return builtin("cyctime", ctx),
                _ => {}
            }
            builtin(content, ctx).or_else(|| bizdate_expr(content, ctx.bizdate))
        }
        Var::Bracket(content) => cyctime_expr(content, ctx.cyctime),
    }
}

/// A `-p` value as inserted: as given, unless the whole value is one scheduling
/// expression ferry can evaluate (`$[yyyymmdd-1]`, `${bdp.system.bizdate}`, `$bizdate`).
fn param_value(value: &str, ctx: &VarContext) -> String {
    let t = value.trim();
    if t.starts_with('$') {
        if let Some((var, len)) = candidate(t) {
            if len == t.len() {
                if let Some(v) = scheduling(&var, ctx) {
                    return v;
                }
            }
        }
    }
    value.to_string()
}

/// `bizdate`, `cyctime`, `gmtdate`, `bizmonth`.
fn builtin(name: &str, ctx: &VarContext) -> Option<String> {
    match name {
        "bizdate" => Some(ctx.bizdate.format("%Y%m%d").to_string()),
        "cyctime" => Some(ctx.cyctime.format("%Y%m%d%H%M%S").to_string()),
        "gmtdate" => Some(ctx.today.format("%Y%m%d").to_string()),
        "bizmonth" => {
            let b = ctx.bizdate;
            let month = if (b.year(), b.month()) == (ctx.today.year(), ctx.today.month()) {
                b.checked_sub_months(Months::new(1))?
            } else {
                b
            };
            Some(month.format("%Y%m").to_string())
        }
        _ => None,
    }
}

/// An offset written after a format: `-1`, `+7*2`, `-1/24`, `-30/24/60`.
#[derive(Debug, PartialEq)]
struct Offset {
    /// Sign × the product of the factors.
    amount: i64,
    /// The divisors (`/24`, `/24/60`), outermost first.
    divisors: Vec<i64>,
}

/// Split `yyyymmdd-7*2` into (`yyyymmdd`, offset). No offset → (`content`, None).
fn split_offset(content: &str) -> Option<(&str, Option<Offset>)> {
    let Some(pos) = content.rfind(['+', '-']) else {
        return Some((content, None));
    };
    let rest = &content[pos + 1..];
    let mut parts = rest.split('/');
    let product = parts.next()?;
    let is_num = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    let factors: Vec<&str> = product.split('*').collect();
    if factors.len() > 2 || !factors.iter().all(|f| is_num(f)) {
        return Some((content, None)); // the `-` is a literal separator (`yyyy-mm-dd`)
    }
    let mut amount: i64 = 1;
    for f in factors {
        amount = amount.checked_mul(f.parse().ok()?)?;
    }
    if content.as_bytes()[pos] == b'-' {
        amount = -amount;
    }
    let mut divisors = Vec::new();
    for d in parts {
        if !is_num(d) {
            return None;
        }
        let d: i64 = d.parse().ok()?;
        if d == 0 {
            return None;
        }
        divisors.push(d);
    }
    Some((&content[..pos], Some(Offset { amount, divisors })))
}

/// The format tokens one format uses.
#[derive(Debug, Default)]
struct Tokens {
    year: bool,
    month: bool,
    day: bool,
}

/// Format `at` with the DataWorks tokens in `fmt`; `None` if `fmt` is not a format
/// (no token, or letters or digits that are not tokens).
fn format_tokens(fmt: &str, at: NaiveDateTime, with_time: bool) -> Option<(String, Tokens)> {
    let mut out = String::new();
    let mut used = Tokens::default();
    let mut any = false;
    let mut rest = fmt;
    while let Some(c) = rest.chars().next() {
        let (piece, len) = if rest.starts_with("yyyy") {
            used.year = true;
            (format!("{:04}", at.year()), 4)
        } else if rest.starts_with("yy") {
            used.year = true;
            (format!("{:02}", at.year().rem_euclid(100)), 2)
        } else if rest.starts_with("mm") {
            used.month = true;
            (format!("{:02}", at.month()), 2)
        } else if rest.starts_with("dd") {
            used.day = true;
            (format!("{:02}", at.day()), 2)
        } else if with_time && rest.starts_with("hh24") {
            (format!("{:02}", at.hour()), 4)
        } else if with_time && rest.starts_with("mi") {
            (format!("{:02}", at.minute()), 2)
        } else if with_time && rest.starts_with("ss") {
            (format!("{:02}", at.second()), 2)
        } else if c.is_ascii_alphanumeric() {
            return None;
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        };
        any = true;
        out.push_str(&piece);
        rest = &rest[len..];
    }
    any.then_some((out, used))
}

/// `${...}` on bizdate: `yyyymmdd`, `yyyy-mm-dd`, `yyyymmdd-1`, `yyyymmdd-7*2`,
/// `yyyymm-1` (months), `yyyy-1` (years). The offset's unit is the finest token used.
fn bizdate_expr(content: &str, bizdate: NaiveDate) -> Option<String> {
    let (fmt, offset) = split_offset(content)?;
    let at = bizdate.and_time(chrono::NaiveTime::MIN);
    let (_, used) = format_tokens(fmt, at, false)?;
    let date = match offset {
        None => bizdate,
        Some(o) if !o.divisors.is_empty() => return None,
        Some(o) if used.day => bizdate.checked_add_signed(Duration::try_days(o.amount)?)?,
        Some(o) if used.month => add_months(bizdate, o.amount)?,
        Some(o) => add_months(bizdate, o.amount.checked_mul(12)?)?,
    };
    format_tokens(fmt, date.and_time(chrono::NaiveTime::MIN), false).map(|(s, _)| s)
}

/// `$[...]` on cyctime: `yyyymmdd-1` (days), `hh24miss-1/24` (hours),
/// `yyyymmddhh24mi-5/24/60` (minutes), `add_months(yyyymmdd,-1)`.
fn cyctime_expr(content: &str, cyctime: NaiveDateTime) -> Option<String> {
    if let Some(inner) = content
        .strip_prefix("add_months(")
        .and_then(|r| r.strip_suffix(')'))
    {
        let (fmt, n) = inner.rsplit_once(',')?;
        let (sign, n) = match n.as_bytes().first()? {
            b'-' => (-1, &n[1..]),
            b'+' => (1, &n[1..]),
            _ => (1, n),
        };
        let mut months: i64 = sign;
        for f in n.split('*') {
            if f.is_empty() || !f.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            months = months.checked_mul(f.parse().ok()?)?;
        }
        let date = add_months(cyctime.date(), months)?;
        return format_tokens(fmt, date.and_time(cyctime.time()), true).map(|(s, _)| s);
    }
    let (fmt, offset) = split_offset(content)?;
    format_tokens(fmt, cyctime, true)?;
    let at = match offset {
        None => cyctime,
        Some(o) => {
            let mut secs = o.amount.checked_mul(86_400)?;
            for d in o.divisors {
                if secs % d != 0 {
                    return None;
                }
                secs /= d;
            }
            cyctime.checked_add_signed(Duration::try_seconds(secs)?)?
        }
    };
    format_tokens(fmt, at, true).map(|(s, _)| s)
}

/// Add (or subtract) months, clamping to the month's last day (03-31 − 1 month = 02-28).
fn add_months(d: NaiveDate, n: i64) -> Option<NaiveDate> {
    let m = Months::new(u32::try_from(n.unsigned_abs()).ok()?);
    if n >= 0 {
        d.checked_add_months(m)
    } else {
        d.checked_sub_months(m)
    }
}

/// `value` escaped for the inside of a JSON string (no surrounding quotes).
fn json_escape(value: &str) -> String {
    let quoted = serde_json::Value::String(value.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// The spec's example instance: scheduled 2025-11-01 00:00:00, run on that day.
    fn spec_ctx() -> VarContext {
        VarContext::new(None, None, d(2025, 11, 1), BTreeMap::new())
    }

    fn ctx_bizdate(b: NaiveDate) -> VarContext {
        VarContext::new(Some(b), None, d(2030, 1, 1), BTreeMap::new())
    }

    fn r(text: &str, ctx: &VarContext) -> String {
        resolve(text, ctx).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn spec_table_examples() {
        let c = spec_ctx();
        assert_eq!(c.bizdate, d(2025, 10, 31));
        for (var, want) in [
            ("${bdp.system.bizdate}", "20251031"),
            ("$bizdate", "20251031"),
            ("${bdp.system.cyctime}", "20251101000000"),
            ("$cyctime", "20251101000000"),
            ("$gmtdate", "20251101"),
            ("$bizmonth", "202510"),
            ("${yyyymmdd-1}", "20251030"),
            ("$[yyyymmdd-1]", "20251031"),
            ("$[yyyymmddhh24-1/24]", "2025103123"),
            ("${yyyy-mm-dd}", "2025-10-31"),
            ("${yyyymmdd}", "20251031"),
            ("$[yyyymmdd]", "20251101"),
            ("$[hh24miss]", "000000"),
            ("$[hh24miss-1/24]", "230000"),
            ("$[yyyymmddhh24mi-5/24/60]", "202510312355"),
            ("$[yyyy-mm-dd hh24:mi:ss]", "$[yyyy-mm-dd hh24:mi:ss]"), // blanks: not a variable
            ("$[add_months(yyyymmdd,-1)]", "20251001"),
            ("$[add_months(yyyymm,-12*2)]", "202311"),
            ("${yyyymmdd+1}", "20251101"),
            ("${yyyymmdd-7*2}", "20251017"),
            ("${yyyymm-1}", "202509"),
            ("${yyyy-1}", "2024"),
            ("${yy}", "25"),
            ("${yyyy/mm/dd}", "2025/10/31"),
        ] {
            assert_eq!(r(var, &c), want, "{var}");
        }
    }

    #[test]
    fn bizmonth_uses_bizdate_month_unless_it_is_this_month() {
        // bizdate 2025-11-14, run 2025-11-15: same month -> previous month.
        let c = VarContext::new(
            Some(d(2025, 11, 14)),
            None,
            d(2025, 11, 15),
            BTreeMap::new(),
        );
        assert_eq!(r("$bizmonth", &c), "202510");
        // bizdate 2025-12-31, run 2026-01-01: different month -> bizdate's month.
        let c = VarContext::new(None, None, d(2026, 1, 1), BTreeMap::new());
        assert_eq!(r("$bizmonth", &c), "202512");
    }

    #[test]
    fn month_ends_leap_days_and_year_boundaries() {
        let c = ctx_bizdate(d(2026, 3, 31));
        assert_eq!(r("${yyyy-mm-dd}", &c), "2026-03-31");
        assert_eq!(r("${yyyymm-1}", &c), "202602");
        // cyctime = 2026-04-01 00:00; add_months from 03-31 clamps to 02-28.
        let c = VarContext::new(
            None,
            Some(d(2026, 3, 31).and_hms_opt(6, 0, 0).unwrap()),
            d(2026, 3, 31),
            BTreeMap::new(),
        );
        assert_eq!(r("$[add_months(yyyymmdd,-1)]", &c), "20260228");
        assert_eq!(r("$[add_months(yyyy-mm-dd,+1)]", &c), "2026-04-30");

        let leap = ctx_bizdate(d(2024, 2, 29));
        assert_eq!(r("${yyyy-1}", &leap), "2023");
        assert_eq!(r("${yyyymmdd+1}", &leap), "20240301");
        assert_eq!(r("${yyyymmdd-365}", &leap), "20230301");
        let c = VarContext::new(
            None,
            Some(d(2024, 2, 29).and_hms_opt(0, 0, 0).unwrap()),
            d(2024, 2, 29),
            BTreeMap::new(),
        );
        assert_eq!(r("$[add_months(yyyymmdd,-12)]", &c), "20230228");
        assert_eq!(r("$[add_months(yyyymmdd,12*4)]", &c), "20280229");

        let ny = ctx_bizdate(d(2025, 12, 31));
        assert_eq!(r("${yyyymmdd+1}", &ny), "20260101");
        assert_eq!(r("${yyyymm+1}", &ny), "202601");
        assert_eq!(r("$[yyyymmdd]", &ny), "20260101");
        assert_eq!(r("$[yyyymmddhh24miss-1/24/60/60]", &ny), "20251231235959");
        let jan = ctx_bizdate(d(2026, 1, 1));
        assert_eq!(r("${yyyymmdd-1}", &jan), "20251231");
        assert_eq!(r("${yyyymm-1}", &jan), "202512");
        assert_eq!(r("${yyyy-1}", &jan), "2025");
    }

    #[test]
    fn params_win_over_builtins_and_are_not_rescanned() {
        let mut p = BTreeMap::new();
        p.insert("bizdate".to_string(), "19990101".to_string());
        p.insert("table".to_string(), "t_$bizdate".to_string());
        p.insert("bdp.system.bizdate".to_string(), "X".to_string());
        let c = VarContext::new(None, None, d(2025, 11, 1), p);
        assert_eq!(r("$bizdate ${bizdate}", &c), "19990101 19990101");
        assert_eq!(r("${table}/$table", &c), "t_$bizdate/t_$bizdate");
        assert_eq!(r("${bdp.system.bizdate}", &c), "X");
        assert_eq!(r("$cyctime", &c), "20251101000000");
    }

    #[test]
    fn non_variables_are_left_alone() {
        let c = spec_ctx();
        for text in [
            "select $1, $2::int",
            "a lone $ sign",
            "$$ body $$",
            "$body$ select 1 $body$",
            "price in $.",
            "jsonb_path_query(doc, '$[0]') and '$[*]'",
            "${ not a var }",
            "${1abc}",
            "unclosed ${bizdate",
            "end$",
        ] {
            assert_eq!(r(text, &c), text);
        }
    }

    #[test]
    fn every_unresolved_variable_is_listed_with_its_line() {
        let c = spec_ctx();
        let err = resolve(
            "a $nope\nb ${yyyymmd-1}\nc $[yyyy-mm-dd-x] ${} ok $bizdate",
            &c,
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::Config(_)), "{msg}");
        assert!(msg.contains("$nope (line 1)"), "{msg}");
        assert!(msg.contains("${yyyymmd-1} (line 2)"), "{msg}");
        assert!(msg.contains("$[yyyy-mm-dd-x] (line 3)"), "{msg}");
        assert!(msg.contains("${} (line 3)"), "{msg}");
        assert!(!msg.contains("bizdate"), "{msg}");
        // no time tokens on the bizdate side
        assert!(resolve("${hh24}", &c).is_err());
        assert!(resolve("${yyyymmdd-1/24}", &c).is_err());
    }

    #[test]
    fn json_mode_escapes_inside_strings_only() {
        let mut p = BTreeMap::new();
        p.insert("re".to_string(), r#"a"b\d"#.to_string());
        p.insert("n".to_string(), "4".to_string());
        let c = VarContext::new(None, None, d(2025, 11, 1), p);
        let out = resolve_json(r#"{"w": "x ~ '${re}'", "c": $n, "s": "\"$n\""}"#, &c).unwrap();
        assert_eq!(out, r#"{"w": "x ~ 'a\"b\\d'", "c": 4, "s": "\"4\""}"#);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["w"], r#"x ~ 'a"b\d'"#);
    }

    #[test]
    fn offsets_map_back_to_the_original() {
        let c = spec_ctx();
        let res = scan("ab $bizdate cd", &c, false).unwrap();
        assert_eq!(res.text, "ab 20251031 cd");
        assert_eq!(res.original_offset(0), 0);
        assert_eq!(res.original_offset(5), 3);
        // "c" is at 12 in the output and at 12 in the input ("$bizdate" and the value
        // are both 8 bytes long)
        assert_eq!(res.original_offset(12), 12);
        let res = scan("$gmtdate!x", &c, false).unwrap();
        assert_eq!(&res.text[9..], "x");
        assert_eq!(res.original_offset(9), 9);
        let res = scan("${yy}!x", &c, false).unwrap();
        assert_eq!(res.text, "25!x");
        assert_eq!(res.original_offset(3), 6);
    }

    #[test]
    fn bizdate_args() {
        assert_eq!(parse_bizdate_arg("20261101").unwrap(), vec![d(2026, 11, 1)]);
        assert_eq!(
            parse_bizdate_arg("2026-11-01").unwrap(),
            vec![d(2026, 11, 1)]
        );
        let r = parse_bizdate_arg("20261230..20270102").unwrap();
        assert_eq!(
            r,
            vec![
                d(2026, 12, 30),
                d(2026, 12, 31),
                d(2027, 1, 1),
                d(2027, 1, 2)
            ]
        );
        assert_eq!(parse_bizdate_arg("20261101..20261101").unwrap().len(), 1);
        for bad in [
            "2026110",
            "20261301",
            "abc",
            "20261107..20261101",
            "20261101..",
            "",
        ] {
            let e = parse_bizdate_arg(bad).unwrap_err();
            assert!(e.to_string().contains("bizdate"), "{bad}: {e}");
        }
    }

    fn ctx_params(params: &[(&str, &str)]) -> VarContext {
        let p = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        VarContext::new(None, None, d(2025, 11, 1), p)
    }

    #[test]
    fn unresolved_custom_variables_come_with_the_p_line_to_paste() {
        let c = spec_ctx();
        let msg = resolve(
            "${params1} $region ${params1}\n$[yyyymmd] ${bdp.system.bizdat} $[my_day] ${a-b}",
            &c,
        )
        .unwrap_err()
        .to_string();
        assert!(
            msg.starts_with(
                "unresolved variables: ${params1} (line 1), $region (line 1), ${params1} (line 1), \
                 $[yyyymmd] (line 2), ${bdp.system.bizdat} (line 2), $[my_day] (line 2), ${a-b} \
                 (line 2); give custom ones with -p name=value"
            ),
            "{msg}"
        );
        assert!(
            msg.contains("; ${bdp.system.bizdat}: did you mean ${bdp.system.bizdate}?"),
            "{msg}"
        );
        assert!(
            msg.ends_with(
                "; to give them, add: -p params1=VALUE -p region=VALUE -p my_day=VALUE (a value \
                 may be a scheduling expression: -p 'params1=$[yyyymmdd-1]')"
            ),
            "{msg}"
        );
        // a date format with a typo gets no -p line
        let msg = resolve("$[yyyymmd] ${hh24mis}", &c)
            .unwrap_err()
            .to_string();
        assert!(!msg.contains("to give them"), "{msg}");
        // `ds` and `day` are names, not formats
        let msg = resolve("${ds} ${day}", &c).unwrap_err().to_string();
        assert!(msg.contains("add: -p ds=VALUE -p day=VALUE"), "{msg}");
    }

    #[test]
    fn a_p_value_that_is_one_scheduling_expression_is_evaluated() {
        let c = ctx_params(&[
            ("a", "$[yyyymmdd-1]"),
            ("b", "${bdp.system.bizdate}"),
            ("c", "$bizdate"),
            ("d", " ${yyyy-mm-dd} "),
            ("min", "$min"),
            ("e", "$[yyyymmdd-1] and more"),
            ("f", "${a}"),
            ("g", "$[yyyymmd]"),
        ]);
        for (text, want) in [
            ("$a", "20251031"),
            ("$b", "20251031"),
            ("$c", "20251031"),
            ("$d", "2025-10-31"),
            ("$min", "$min"),
            ("$e", "$[yyyymmdd-1] and more"),
            ("$f", "${a}"),
            ("$g", "$[yyyymmd]"),
        ] {
            assert_eq!(r(text, &c), want, "{text}");
        }
    }

    #[test]
    fn p_names_written_like_the_job_are_taken_bare() {
        let c = ctx_params(&[
            ("${params1}", "x"),
            ("$[p2]", "y"),
            ("$p3", "z"),
            ("$1", "w"),
        ]);
        assert_eq!(r("${params1} $p2 ${p3}", &c), "x y z");
        assert!(c.params.contains_key("$1"));
        assert_eq!(bare_name("${a}"), "a");
        assert_eq!(bare_name("$[a]"), "a");
        assert_eq!(bare_name("$a_1"), "a_1");
        assert_eq!(bare_name("a"), "a");
        assert_eq!(bare_name("$"), "$");
    }

    #[test]
    fn unused_params_are_reported() {
        let c = ctx_params(&[("used", "1"), ("also", "2"), ("unused", "3")]);
        let res = scan("\"$used\" ${also} $[also]", &c, true).unwrap();
        assert_eq!(res.unused_params, vec!["unused".to_string()]);
    }
}
