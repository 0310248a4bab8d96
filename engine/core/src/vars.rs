//! Variables and DataWorks scheduling parameters, resolved in the job text before parsing.
//!
//! `$name` / `${name}` come from `-p name=value`; `${bdp.system.bizdate}`, `$bizdate`,
//! `$cyctime`, `$gmtdate`, `$bizmonth`, `${yyyymmdd-N}`, `$[yyyymmdd-N]` and friends follow
//! the semantics in `shared/spec/datax-jobs.md` §1.5.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};

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

/// Replace every variable in `text`. An unresolved variable is an error that lists
/// every unresolved one.
pub fn resolve(text: &str, ctx: &VarContext) -> Result<String> {
    let _ = ctx;
    if text.contains("${") || text.contains("$[") {
        return Err(Error::NotImplemented(
            "variable resolution is not built yet".into(),
        ));
    }
    Ok(text.to_string())
}
