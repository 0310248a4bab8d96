//! Property tests: date offsets agree with chrono's calendar arithmetic, text without
//! variables passes through untouched, and comments or strings full of comment-like
//! characters never change a job's values.

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use chrono::{Duration, Months, NaiveDate};
use ferry_core::job::parse_job;
use ferry_core::vars::{resolve, VarContext};
use proptest::prelude::*;

fn date(days_from_2000: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2000, 1, 1).unwrap() + Duration::days(days_from_2000)
}

fn ctx(bizdate: NaiveDate) -> VarContext {
    VarContext::new(
        Some(bizdate),
        None,
        NaiveDate::from_ymd_opt(2100, 1, 1).unwrap(),
        BTreeMap::new(),
    )
}

proptest! {
    #[test]
    fn day_offsets_match_chrono(d in 0i64..20_000, n in 0i64..1_000) {
        ferry_connectors::install();
        let b = date(d);
        let c = ctx(b);
        prop_assert_eq!(
            resolve(&format!("${{yyyymmdd-{n}}}"), &c).unwrap(),
            (b - Duration::days(n)).format("%Y%m%d").to_string()
        );
        prop_assert_eq!(
            resolve(&format!("${{yyyy-mm-dd+{n}}}"), &c).unwrap(),
            (b + Duration::days(n)).format("%Y-%m-%d").to_string()
        );
        // cyctime = bizdate + 1 day, 00:00:00
        let cyc = (b + Duration::days(1)).and_hms_opt(0, 0, 0).unwrap();
        prop_assert_eq!(
            resolve(&format!("$[yyyymmddhh24miss-{n}/24]"), &c).unwrap(),
            (cyc - Duration::hours(n)).format("%Y%m%d%H%M%S").to_string()
        );
        prop_assert_eq!(
            resolve(&format!("$[add_months(yyyymmdd,-{})]", n % 200), &c).unwrap(),
            (cyc.date() - Months::new((n % 200) as u32)).format("%Y%m%d").to_string()
        );
    }

    #[test]
    fn text_without_variables_is_unchanged(s in "[^$]{0,200}") {
        ferry_connectors::install();
        let c = ctx(date(9000));
        prop_assert_eq!(resolve(&s, &c).unwrap(), s);
    }

    #[test]
    fn comment_like_strings_survive(s in "[a-z/*\"\\\\,\\]} \n]{0,40}") {
        ferry_connectors::install();
        let lit = serde_json::to_string(&s).unwrap();
        let text = format!(
            "{{ /* c */ \"configuration\": {{ // c\n \"reader\": {{\"plugin\": \"stream\", \
             \"parameter\": {{\"x\": {lit}, // {lit}\n }},}},\n \
             \"writer\": {{\"plugin\": \"stream\"}} }} }} // {lit}"
        );
        let job = parse_job(&text, "p.json", &ctx(date(9000))).unwrap();
        prop_assert_eq!(job.reader.params["x"].as_str().unwrap(), s.as_str());
    }
}
