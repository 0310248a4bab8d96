//! `setting`: speed (`concurrent` / `channel`, `mbps`, `byte`, `record`, `throttle`) and
//! `errorLimit` (`record`, `percentage`), checked strictly and turned into [`Settings`].
//!
//! Differences from DataX, on purpose: `byte` and `record` are job-wide caps (DataX divides
//! them by a per-channel cap from `core.json` to pick the channel count, and fails when
//! that cap is unset); without `channel` ferry runs one channel and says so.

use serde::Deserialize;
use serde_json::Value;

use super::{ErrorLimit, Settings};
use crate::error::{Error, Result};
use crate::params::{lenient_opt_bool, lenient_opt_f64, lenient_opt_u64};

/// `setting` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawSetting {
    #[serde(default)]
    speed: Option<RawSpeed>,
    #[serde(default)]
    error_limit: Option<RawErrorLimit>,
    #[serde(default, deserialize_with = "lenient_opt_bool")]
    dry_run: Option<bool>,
}

/// `setting.speed` as written. Numbers may be strings (DataWorks v2).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpeed {
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    concurrent: Option<u64>,
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    channel: Option<u64>,
    #[serde(default, deserialize_with = "lenient_opt_f64")]
    mbps: Option<f64>,
    #[serde(default, deserialize_with = "lenient_opt_f64")]
    byte: Option<f64>,
    #[serde(default, deserialize_with = "lenient_opt_f64")]
    record: Option<f64>,
    #[serde(default, deserialize_with = "lenient_opt_bool")]
    throttle: Option<bool>,
    #[serde(default)]
    dmu: Option<Value>,
}

/// `setting.errorLimit` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawErrorLimit {
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    record: Option<u64>,
    #[serde(default, deserialize_with = "lenient_opt_f64")]
    percentage: Option<f64>,
}

/// A positive rate, rounded to a whole number (at least 1); `<= 0` means "no cap", as in
/// DataX (`-1` is common in generated jobs).
fn positive(v: Option<f64>) -> Option<u64> {
    v.filter(|v| *v > 0.0 && v.is_finite())
        .map(|v| (v.round() as u64).max(1))
}

/// Turn `setting` (at JSON path `path`) into [`Settings`].
pub(super) fn settings(
    raw: Option<RawSetting>,
    path: &str,
    warnings: &mut Vec<String>,
) -> Result<Settings> {
    let Some(raw) = raw else {
        return Ok(Settings::default());
    };
    if raw.dry_run == Some(true) {
        return Err(Error::config(format!(
            "{path}.dryRun: not supported; use `ferry validate` to check a job without \
             moving data"
        )));
    }
    let speed = raw.speed.unwrap_or_default();
    let sp = format!("{path}.speed");

    let channel = match (speed.channel, speed.concurrent) {
        (Some(ch), Some(cc)) if ch != cc => {
            warnings.push(format!(
                "{sp}: both channel ({ch}) and concurrent ({cc}) are set; using channel"
            ));
            Some((ch, "channel"))
        }
        (Some(ch), _) => Some((ch, "channel")),
        (None, Some(cc)) => Some((cc, "concurrent")),
        (None, None) => None,
    };
    if let Some((0, key)) = channel {
        return Err(Error::config(format!("{sp}.{key}: must be at least 1")));
    }

    let throttle = speed.throttle.unwrap_or(true);
    let mbps = match positive(speed.mbps.map(|m| m * 1_048_576.0)) {
        Some(_) if !throttle => {
            warnings.push(format!(
                "{sp}.mbps: ignored because throttle is false (no byte cap)"
            ));
            None
        }
        m => m,
    };
    let byte = positive(speed.byte);
    let record = positive(speed.record);
    let bytes_per_sec = match (mbps, byte) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };

    if channel.is_none() && (byte.is_some() || record.is_some()) {
        warnings.push(format!(
            "{sp}: channel is not set, so ferry runs 1 channel; byte/record are job-wide caps \
             in ferry (DataX derives the channel count from them and its per-channel caps); \
             set channel for more parallelism"
        ));
    }
    if speed.dmu.is_some() {
        warnings.push(format!(
            "{sp}.dmu: a DataWorks resource setting, accepted and ignored by ferry"
        ));
    }

    let el = raw.error_limit.unwrap_or_default();
    let ep = format!("{path}.errorLimit");
    if let Some(p) = el.percentage {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::config(format!(
                "{ep}.percentage: must be between 0 and 1 (a fraction: 0.02 = 2%), found {p}"
            )));
        }
    }
    let percentage = match (el.record, el.percentage) {
        (Some(_), Some(_)) => {
            warnings.push(format!(
                "{ep}.percentage: ignored because errorLimit.record is set (as in DataX)"
            ));
            None
        }
        (_, p) => p,
    };

    Ok(Settings {
        channels: channel.map_or(1, |(n, _)| n as usize),
        bytes_per_sec,
        records_per_sec: record,
        error_limit: ErrorLimit {
            record: el.record,
            percentage,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `setting` as DataWorks v2 writes it, at JSON path `setting`.
    fn parse(v: serde_json::Value) -> (Result<Settings>, Vec<String>) {
        let mut w = Vec::new();
        let r = crate::params::parse::<RawSetting>(&v, "setting", &[], &mut w)
            .and_then(|raw| settings(Some(raw), "setting", &mut w));
        (r, w)
    }

    fn ok(v: serde_json::Value) -> (Settings, Vec<String>) {
        let (r, w) = parse(v);
        (r.unwrap_or_else(|e| panic!("{e}")), w)
    }

    #[test]
    fn throttle_false_ignores_mbps_with_a_warning() {
        for throttle in [json!(false), json!("false"), json!("FALSE")] {
            let (s, w) =
                ok(json!({"speed": {"throttle": throttle, "mbps": "12", "concurrent": 2}}));
            assert_eq!(s.bytes_per_sec, None);
            assert_eq!(s.channels, 2);
            assert_eq!(
                w,
                vec!["setting.speed.mbps: ignored because throttle is false (no byte cap)"]
            );
        }
        // nothing to warn about without mbps
        let (s, w) = ok(json!({"speed": {"throttle": false, "concurrent": 1}}));
        assert_eq!(s.bytes_per_sec, None);
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn throttle_true_or_absent_caps_at_mbps_mib() {
        let (s, _) = ok(json!({"speed": {"throttle": "true", "mbps": "1"}}));
        assert_eq!(s.bytes_per_sec, Some(1_048_576));
        let (s, _) = ok(json!({"speed": {"mbps": 2.5}}));
        assert_eq!(s.bytes_per_sec, Some(2_621_440));
        // 0 or negative = no cap; an empty string = not set
        let (s, _) = ok(json!({"speed": {"throttle": true, "mbps": "0"}}));
        assert_eq!(s.bytes_per_sec, None);
        let (s, _) = ok(json!({"speed": {"throttle": true, "mbps": ""}}));
        assert_eq!(s.bytes_per_sec, None);
        // the smaller of mbps and byte
        let (s, _) = ok(json!({"speed": {"mbps": 1, "byte": 1000, "channel": 1}}));
        assert_eq!(s.bytes_per_sec, Some(1000));
    }

    #[test]
    fn dmu_is_accepted_and_ignored_in_any_form() {
        for dmu in [json!(1), json!("2"), json!(0.5), json!(null)] {
            let (s, w) = ok(json!({"speed": {"dmu": dmu.clone(), "concurrent": "1"}}));
            assert_eq!(s, Settings::default(), "{dmu}");
            if dmu.is_null() {
                assert!(w.is_empty(), "{w:?}");
            } else {
                assert_eq!(
                    w,
                    vec![
                        "setting.speed.dmu: a DataWorks resource setting, accepted and ignored \
                         by ferry"
                    ]
                );
            }
        }
    }

    #[test]
    fn concurrent_as_a_string() {
        let (s, w) = ok(json!({"speed": {"concurrent": "3"}}));
        assert_eq!(s.channels, 3);
        assert!(w.is_empty(), "{w:?}");
        let (s, _) = ok(json!({"speed": {"concurrent": " 4 "}}));
        assert_eq!(s.channels, 4);
        let (s, _) = ok(json!({"speed": {"concurrent": 2.0}}));
        assert_eq!(s.channels, 2);
        let (s, _) = ok(json!({"speed": {"concurrent": ""}}));
        assert_eq!(s.channels, 1, "an empty string is not set");
        for (bad, msg) in [
            (
                json!("two"),
                "setting.speed.concurrent: expected a non-negative integer, found \"two\"",
            ),
            (
                json!("1.5"),
                "setting.speed.concurrent: expected a non-negative integer, found \"1.5\"",
            ),
            (
                json!(-1),
                "setting.speed.concurrent: expected a non-negative integer, found -1",
            ),
            (json!("0"), "setting.speed.concurrent: must be at least 1"),
        ] {
            let (r, _) = parse(json!({"speed": {"concurrent": bad}}));
            assert_eq!(r.unwrap_err().to_string(), msg);
        }
    }

    #[test]
    fn error_limit_record_as_a_string() {
        let (s, _) = ok(json!({"errorLimit": {"record": "0"}}));
        assert_eq!(s.error_limit.record, Some(0));
        let (s, _) = ok(json!({"errorLimit": {"record": ""}}));
        assert_eq!(s.error_limit.record, None, "empty = unlimited");
    }
}
