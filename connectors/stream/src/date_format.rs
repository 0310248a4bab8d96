//! DataX's `dateFormat`: Java `SimpleDateFormat` patterns (`yyyy-MM-dd HH:mm:ss`), turned
//! into a chrono format and used to parse values.
//!
//! | letters | meaning | chrono |
//! |---|---|---|
//! | `yyyy` (`y`, `yyy`, 5+) / `yy` | year / two-digit year | `%Y` / `%y` |
//! | `M`, `MM` / `MMM` / `MMMM` (also `L`) | month number / `Nov` / `November` | `%m` / `%b` / `%B` |
//! | `d`, `dd` | day of month | `%d` |
//! | `D`..`DDD` | day of year | `%j` |
//! | `E`..`EEE` / `EEEE` | `Sun` / `Sunday` | `%a` / `%A` |
//! | `a` | `AM` / `PM` | `%p` |
//! | `H`, `HH` / `h`, `hh` | hour 0-23 / hour 1-12 | `%H` / `%I` |
//! | `m`, `mm`, `s`, `ss` | minute, second | `%M`, `%S` |
//! | `SSS` | milliseconds | `%3f` |
//! | `Z` / `X`, `XX` / `XXX` | `+0800` / `+08`, `+0800` / `+08:00` | `%z` / `%#z` / `%:z` |
//! | `'text'`, `''` | literal text, a quote | |
//!
//! Refused, with the JSON path: `G` (era), `Y` (week year), `w` `W` (weeks), `F` `u`
//! (day-of-week numbers), `k` `K` (hours 1-24 and 0-11), `z` (zone names), `S` other than
//! `SSS` (Java reads `S` as a count of milliseconds, not a fraction), and any other ASCII
//! letter, as Java does.
//!
//! Fields a pattern leaves out default as in Java: year 1970, month and day 1, time
//! 00:00:00.000, and hour `hh` without `a` is AM; a two-digit year is the one within 80
//! years before and 20 years after today, as in Java. Parsing is strict (Java's default
//! "lenient" mode would roll `2026-13-01` into 2027).

use chrono::format::{parse, Parsed, StrftimeItems};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

/// A `SimpleDateFormat` pattern, converted.
#[derive(Debug, Clone, PartialEq)]
pub struct DatePattern {
    /// The pattern as written.
    pub java: String,
    /// The chrono format string.
    pub chrono: String,
    /// The pattern has a time of day (`H`, `h`, `m`, `s`, `SSS`, `a`).
    pub has_time: bool,
    /// The pattern has a zone offset (`Z`, `X`): values are instants.
    pub has_zone: bool,
}

/// What a letter the conversion refuses means, for the message.
fn refused(letter: char) -> Option<&'static str> {
    Some(match letter {
        'G' => "era",
        'Y' => "week year",
        'w' => "week in year",
        'W' => "week in month",
        'F' => "day of week in month",
        'u' => "day number of week",
        'k' => "hour 1-24",
        'K' => "hour 0-11",
        'z' => "time zone name",
        _ => return None,
    })
}

const SUPPORTED: &str = "y M L d D E a H h m s SSS Z X and 'quoted text'";

impl DatePattern {
    /// Convert a Java pattern. The error names the letter and says what is supported.
    pub fn new(java: &str) -> Result<Self, String> {
        let mut chrono = String::new();
        let mut has_time = false;
        let mut has_zone = false;
        let chars: Vec<char> = java.chars().collect();
        let mut i = 0;
        if java.trim().is_empty() {
            return Err("empty pattern; for example \"yyyy-MM-dd HH:mm:ss\"".into());
        }
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                // '' is a quote; 'text' is literal text, where '' is a quote too
                if chars.get(i + 1) == Some(&'\'') {
                    chrono.push('\'');
                    i += 2;
                    continue;
                }
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(format!(
                                "unterminated quoted text in \"{java}\"; close it with '"
                            ))
                        }
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            chrono.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(t) => {
                            push_literal(&mut chrono, *t);
                            i += 1;
                        }
                    }
                }
                continue;
            }
            if !c.is_ascii_alphabetic() {
                push_literal(&mut chrono, c);
                i += 1;
                continue;
            }
            let n = chars[i..].iter().take_while(|x| **x == c).count();
            let spec = match (c, n) {
                ('y', 2) => "%y",
                ('y', _) => "%Y",
                ('M' | 'L', 1 | 2) => "%m",
                ('M' | 'L', 3) => "%b",
                ('M' | 'L', _) => "%B",
                ('d', 1 | 2) => "%d",
                ('D', 1..=3) => "%j",
                ('E', 1..=3) => "%a",
                ('E', _) => "%A",
                ('a', 1) => "%p",
                ('H', 1 | 2) => "%H",
                ('h', 1 | 2) => "%I",
                ('m', 1 | 2) => "%M",
                ('s', 1 | 2) => "%S",
                ('S', 3) => "%3f",
                ('Z', _) => "%z",
                ('X', 1) => "%#z",
                ('X', 2) => "%z",
                ('X', 3) => "%:z",
                ('S', _) => {
                    return Err(format!(
                        "\"{}\" in \"{java}\": write milliseconds as SSS (Java reads S and SS \
                         as a number of milliseconds, not as a fraction)",
                        "S".repeat(n)
                    ))
                }
                (c, n) => {
                    let run: String = std::iter::repeat_n(c, n).collect();
                    let what = match refused(c) {
                        Some(w) => format!("pattern letter '{c}' ({w})"),
                        None if "MLdDEaHhmsX".contains(c) => {
                            format!("\"{run}\" (too many '{c}')")
                        }
                        None => format!("pattern letter '{c}'"),
                    };
                    return Err(format!(
                        "{what} in \"{java}\" is not supported; ferry reads {SUPPORTED}"
                    ));
                }
            };
            has_time |= matches!(c, 'a' | 'H' | 'h' | 'm' | 's' | 'S');
            has_zone |= matches!(c, 'Z' | 'X');
            chrono.push_str(spec);
            i += n;
        }
        Ok(DatePattern {
            java: java.to_string(),
            chrono,
            has_time,
            has_zone,
        })
    }

    /// Parse `value`: the wall-clock date and time, already shifted to UTC when the
    /// pattern has a zone.
    pub fn parse(&self, value: &str) -> Result<NaiveDateTime, String> {
        let bad = |why: String| {
            format!(
                "\"{value}\" does not match dateFormat \"{}\" ({why})",
                self.java
            )
        };
        let mut p = Parsed::new();
        parse(&mut p, value.trim(), StrftimeItems::new(&self.chrono))
            .map_err(|e| bad(e.to_string()))?;
        let set = |r: chrono::ParseResult<()>| r.map_err(|e| bad(e.to_string()));
        match (p.year(), p.year_mod_100()) {
            (None, None) => set(p.set_year(1970))?,
            (None, Some(yy)) => set(p.set_year(i64::from(two_digit_year(yy))))?,
            _ => {}
        }
        if p.ordinal().is_none() {
            if p.month().is_none() {
                set(p.set_month(1))?;
            }
            if p.day().is_none() {
                set(p.set_day(1))?;
            }
        }
        if p.hour_mod_12().is_none() {
            set(p.set_hour(0))?;
        } else if p.hour_div_12().is_none() {
            set(p.set_ampm(false))?;
        }
        if p.minute().is_none() {
            set(p.set_minute(0))?;
        }
        if p.second().is_none() {
            set(p.set_second(0))?;
        }
        let date: NaiveDate = p.to_naive_date().map_err(|e| bad(e.to_string()))?;
        let time: NaiveTime = p.to_naive_time().map_err(|e| bad(e.to_string()))?;
        let local = date.and_time(time);
        match p.offset() {
            Some(secs) => local
                .checked_sub_signed(chrono::Duration::seconds(i64::from(secs)))
                .ok_or_else(|| bad("out of range".into())),
            None => Ok(local),
        }
    }
}

/// Java's rule for `yy`: the year within 80 years before and 20 years after now.
fn two_digit_year(yy: i32) -> i32 {
    use chrono::Datelike;
    let start = chrono::Utc::now().year() - 80;
    let y = start - start.rem_euclid(100) + yy;
    if y < start {
        y + 100
    } else {
        y
    }
}

fn push_literal(out: &mut String, c: char) {
    if c == '%' {
        out.push_str("%%");
    } else {
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_milli_opt(h, mi, s, ms)
            .unwrap()
    }

    fn p(java: &str, value: &str) -> NaiveDateTime {
        DatePattern::new(java)
            .unwrap_or_else(|e| panic!("{java}: {e}"))
            .parse(value)
            .unwrap_or_else(|e| panic!("{java} {value}: {e}"))
    }

    fn refused(java: &str) -> String {
        DatePattern::new(java).expect_err(java)
    }

    #[test]
    fn datax_default_pattern() {
        let d = DatePattern::new("yyyy-MM-dd HH:mm:ss").unwrap();
        assert_eq!(d.chrono, "%Y-%m-%d %H:%M:%S");
        assert!(d.has_time && !d.has_zone);
        assert_eq!(
            d.parse("2026-11-22 10:00:00").unwrap(),
            at(2026, 11, 22, 10, 0, 0, 0)
        );
        let e = d.parse("2026-11-22").unwrap_err();
        assert!(
            e.starts_with("\"2026-11-22\" does not match dateFormat \"yyyy-MM-dd HH:mm:ss\""),
            "{e}"
        );
    }

    #[test]
    fn year_letters() {
        assert_eq!(p("yyyy", "2026"), at(2026, 1, 1, 0, 0, 0, 0));
        assert_eq!(p("y", "2026"), at(2026, 1, 1, 0, 0, 0, 0));
        assert_eq!(p("yy-MM", "26-03"), at(2026, 3, 1, 0, 0, 0, 0));
        // Java's window: 80 years back, 20 ahead (true until 2049)
        assert_eq!(p("yy", "69"), at(1969, 1, 1, 0, 0, 0, 0));
        assert_eq!(p("yy", "30"), at(2030, 1, 1, 0, 0, 0, 0));
        assert_eq!(p("yyyyMMdd", "20261122"), at(2026, 11, 22, 0, 0, 0, 0));
    }

    #[test]
    fn month_letters() {
        assert_eq!(p("yyyy-M-d", "2026-3-5"), at(2026, 3, 5, 0, 0, 0, 0));
        assert_eq!(p("yyyy-MM-dd", "2026-03-05"), at(2026, 3, 5, 0, 0, 0, 0));
        assert_eq!(p("dd MMM yyyy", "05 Mar 2026"), at(2026, 3, 5, 0, 0, 0, 0));
        assert_eq!(
            p("MMMM d, yyyy", "March 5, 2026"),
            at(2026, 3, 5, 0, 0, 0, 0)
        );
        assert_eq!(p("yyyy/LL/dd", "2026/12/31"), at(2026, 12, 31, 0, 0, 0, 0));
        assert!(DatePattern::new("yyyy-MM-dd")
            .unwrap()
            .parse("2026-13-01")
            .is_err());
    }

    #[test]
    fn day_letters() {
        assert_eq!(p("yyyy-DDD", "2026-032"), at(2026, 2, 1, 0, 0, 0, 0));
        assert_eq!(p("yyyy D", "2024 366"), at(2024, 12, 31, 0, 0, 0, 0));
        assert_eq!(
            p("EEE, d MMM yyyy", "Sun, 22 Nov 2026"),
            at(2026, 11, 22, 0, 0, 0, 0)
        );
        assert_eq!(
            p("EEEE yyyy-MM-dd", "Sunday 2026-11-22"),
            at(2026, 11, 22, 0, 0, 0, 0)
        );
        // the weekday must agree with the date
        assert!(DatePattern::new("EEE yyyy-MM-dd")
            .unwrap()
            .parse("Mon 2026-11-22")
            .is_err());
    }

    #[test]
    fn time_letters() {
        assert_eq!(p("HH:mm:ss", "23:59:58"), at(1970, 1, 1, 23, 59, 58, 0));
        assert_eq!(p("H:m:s", "7:5:3"), at(1970, 1, 1, 7, 5, 3, 0));
        assert_eq!(
            p("yyyy-MM-dd hh:mm a", "2026-11-22 07:30 PM"),
            at(2026, 11, 22, 19, 30, 0, 0)
        );
        assert_eq!(
            p("yyyy-MM-dd hh:mm", "2026-11-22 07:30"),
            at(2026, 11, 22, 7, 30, 0, 0)
        );
        assert_eq!(
            p("yyyy-MM-dd HH:mm:ss.SSS", "2026-11-22 10:00:00.250"),
            at(2026, 11, 22, 10, 0, 0, 250)
        );
        assert_eq!(
            p("yyyyMMddHHmmss", "20261122100001"),
            at(2026, 11, 22, 10, 0, 1, 0)
        );
        assert!(DatePattern::new("HH").unwrap().has_time);
        assert!(!DatePattern::new("yyyy-MM-dd").unwrap().has_time);
    }

    #[test]
    fn zone_letters_give_instants_in_utc() {
        let z = DatePattern::new("yyyy-MM-dd HH:mm:ssZ").unwrap();
        assert!(z.has_zone);
        assert_eq!(
            z.parse("2026-11-22 10:00:00+0800").unwrap(),
            at(2026, 11, 22, 2, 0, 0, 0)
        );
        assert_eq!(
            p("yyyy-MM-dd'T'HH:mmXXX", "2026-11-22T10:00-05:00"),
            at(2026, 11, 22, 15, 0, 0, 0)
        );
        assert_eq!(
            p("yyyy-MM-dd HHX", "2026-11-22 10+08"),
            at(2026, 11, 22, 2, 0, 0, 0)
        );
        assert_eq!(
            p("yyyy-MM-dd HHXX", "2026-11-22 10-0130"),
            at(2026, 11, 22, 11, 30, 0, 0)
        );
    }

    #[test]
    fn quoted_text_and_other_literals() {
        let d = DatePattern::new("yyyy'年'MM'月'dd'日' 'at' HH'h' '' 100%").unwrap();
        assert_eq!(d.chrono, "%Y年%m月%d日 at %Hh ' 100%%");
        assert_eq!(
            d.parse("2026年11月22日 at 10h ' 100%").unwrap(),
            at(2026, 11, 22, 10, 0, 0, 0)
        );
        assert_eq!(p("yyyy.MM.dd", "2026.11.22"), at(2026, 11, 22, 0, 0, 0, 0));
        assert_eq!(p("'It''s' yyyy", "It's 2026"), at(2026, 1, 1, 0, 0, 0, 0));
        assert!(refused("yyyy 'open").contains("unterminated quoted text"));
    }

    #[test]
    fn unsupported_letters_are_refused_by_name() {
        for (java, part) in [
            ("yyyy-MM-dd kk:mm", "pattern letter 'k' (hour 1-24)"),
            ("yyyy-MM-dd KK:mm", "pattern letter 'K' (hour 0-11)"),
            ("YYYY-MM-dd", "pattern letter 'Y' (week year)"),
            ("yyyy-ww", "pattern letter 'w' (week in year)"),
            ("yyyy-MM W", "pattern letter 'W' (week in month)"),
            ("yyyy-MM F", "pattern letter 'F' (day of week in month)"),
            ("yyyy-MM-dd u", "pattern letter 'u' (day number of week)"),
            ("G yyyy", "pattern letter 'G' (era)"),
            ("yyyy-MM-dd HH:mm z", "pattern letter 'z' (time zone name)"),
            ("yyyy-MM-dd q", "pattern letter 'q'"),
            ("yyyy-MMM-ddd", "\"ddd\" (too many 'd')"),
            ("HHH", "\"HHH\" (too many 'H')"),
            ("XXXX", "\"XXXX\" (too many 'X')"),
        ] {
            let e = refused(java);
            assert!(e.starts_with(part), "{java}: {e}");
            assert!(
                e.contains(&format!("in \"{java}\" is not supported")),
                "{e}"
            );
            assert!(
                e.contains("ferry reads y M L d D E a H h m s SSS Z X"),
                "{e}"
            );
        }
        let e = refused("HH:mm:ss.S");
        assert!(
            e.starts_with("\"S\" in \"HH:mm:ss.S\": write milliseconds as SSS"),
            "{e}"
        );
        assert!(refused("").starts_with("empty pattern"));
    }
}
