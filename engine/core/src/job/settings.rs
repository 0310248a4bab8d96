//! `setting`: speed (`concurrent` / `channel`, `mbps`, `byte`, `record`, `throttle`),
//! `errorLimit` (`record`, `percentage`) and `retry` (`maxRetryTimes`,
//! `retryIntervalInMsec`, `maxWaitInMsec`, as DataX's `core.container.task.failOver`),
//! checked strictly and turned into [`Settings`].
//!
//! Differences from DataX, on purpose: `byte` and `record` are job-wide caps (DataX divides
//! them by a per-channel cap from `core.json` to pick the channel count, and fails when
//! that cap is unset); without `channel` ferry runs one channel and says so.

use serde::Deserialize;
use serde_json::Value;

use super::{ErrorLimit, RetryPolicy, Settings};
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
    #[serde(default)]
    retry: Option<RawRetry>,
}

/// `setting.retry`, or DataX's `core.container.task.failOver`: the same keys.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawRetry {
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    max_retry_times: Option<u64>,
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    retry_interval_in_msec: Option<u64>,
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    max_wait_in_msec: Option<u64>,
}

impl RawRetry {
    /// Keys set here win over `base`.
    fn over(self, base: RawRetry) -> RawRetry {
        RawRetry {
            max_retry_times: self.max_retry_times.or(base.max_retry_times),
            retry_interval_in_msec: self.retry_interval_in_msec.or(base.retry_interval_in_msec),
            max_wait_in_msec: self.max_wait_in_msec.or(base.max_wait_in_msec),
        }
    }

    fn policy(&self, path: &str) -> Result<RetryPolicy> {
        let d = RetryPolicy::default();
        let attempts = match self.max_retry_times {
            Some(0) => {
                return Err(Error::config(format!(
                    "{path}.maxRetryTimes: must be at least 1 (the attempts of a split, the first included; 1 = no retry)"
                )))
            }
            Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
            None => d.attempts,
        };
        let interval_ms = self.retry_interval_in_msec.unwrap_or(d.interval_ms);
        let max_wait_ms = self
            .max_wait_in_msec
            .unwrap_or(d.max_wait_ms.max(interval_ms));
        if max_wait_ms < interval_ms {
            return Err(Error::config(format!(
                "{path}.maxWaitInMsec: {max_wait_ms} is less than retryIntervalInMsec ({interval_ms})"
            )));
        }
        Ok(RetryPolicy {
            attempts,
            interval_ms,
            max_wait_ms,
        })
    }
}

/// DataX's `core` block: `core.container.task.failOver` is honoured (split retries);
/// everything else is engine tuning ferry accepts and ignores, with a warning.
pub(super) fn core_fail_over(core: &Value, warnings: &mut Vec<String>) -> Result<Option<RawRetry>> {
    let fail_over = core
        .pointer("/container/task/failOver")
        .filter(|v| !v.is_null());
    let mut rest = core.clone();
    if let Some(task) = rest
        .pointer_mut("/container/task")
        .and_then(Value::as_object_mut)
    {
        task.remove("failOver");
    }
    let only_fail_over = rest
        .pointer("/container/task")
        .and_then(Value::as_object)
        .is_some_and(|t| t.is_empty())
        && rest
            .get("container")
            .and_then(Value::as_object)
            .map(|c| c.len())
            == Some(1)
        && rest.as_object().map(|c| c.len()) == Some(1);
    if !only_fail_over {
        warnings.push(
            "core: DataX engine tuning, accepted and ignored by ferry except \
             core.container.task.failOver (its byte/record caps are job-wide: set them in \
             job.setting.speed)"
                .into(),
        );
    }
    match fail_over {
        Some(v) => Ok(Some(crate::params::parse::<RawRetry>(
            v,
            "core.container.task.failOver",
            &[],
            warnings,
        )?)),
        None => Ok(None),
    }
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
/// `base_retry` is DataX's `core.container.task.failOver`, if any: `setting.retry`'s
/// keys win over it.
pub(super) fn settings(
    raw: Option<RawSetting>,
    path: &str,
    base_retry: Option<RawRetry>,
    warnings: &mut Vec<String>,
) -> Result<Settings> {
    let Some(raw) = raw else {
        return Ok(Settings {
            retry: match base_retry {
                Some(b) => b.policy("core.container.task.failOver")?,
                None => RetryPolicy::default(),
            },
            ..Settings::default()
        });
    };
    let retry = match (raw.retry.clone(), base_retry) {
        (Some(r), Some(b)) => r.over(b).policy(&format!("{path}.retry"))?,
        (Some(r), None) => r.policy(&format!("{path}.retry"))?,
        (None, Some(b)) => b.policy("core.container.task.failOver")?,
        (None, None) => RetryPolicy::default(),
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
        retry,
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
            .and_then(|raw| settings(Some(raw), "setting", None, &mut w));
        (r, w)
    }

    fn ok(v: serde_json::Value) -> (Settings, Vec<String>) {
        let (r, w) = parse(v);
        (r.unwrap_or_else(|e| panic!("{e}")), w)
    }

    #[test]
    fn throttle_false_ignores_mbps_with_a_warning() {
        crate::connector::install_for_tests();
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
        crate::connector::install_for_tests();
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
        crate::connector::install_for_tests();
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
        crate::connector::install_for_tests();
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
        crate::connector::install_for_tests();
        let (s, _) = ok(json!({"errorLimit": {"record": "0"}}));
        assert_eq!(s.error_limit.record, Some(0));
        let (s, _) = ok(json!({"errorLimit": {"record": ""}}));
        assert_eq!(s.error_limit.record, None, "empty = unlimited");
    }

    #[test]
    fn retry_keys_as_datax_writes_them() {
        crate::connector::install_for_tests();
        let (s, _) = ok(json!({}));
        assert_eq!(s.retry, RetryPolicy::default());
        let (s, _) = ok(json!({"retry": {"maxRetryTimes": "2", "retryIntervalInMsec": 10}}));
        assert_eq!(
            s.retry,
            RetryPolicy {
                attempts: 2,
                interval_ms: 10,
                max_wait_ms: 60_000
            }
        );
        let (r, _) = parse(json!({"retry": {"maxRetryTimes": 0}}));
        assert!(r
            .unwrap_err()
            .to_string()
            .starts_with("setting.retry.maxRetryTimes: must be at least 1"));
        let (r, _) = parse(json!({"retry": {"retryIntervalInMsec": 5000, "maxWaitInMsec": 10}}));
        assert!(r
            .unwrap_err()
            .to_string()
            .contains("setting.retry.maxWaitInMsec: 10 is less than retryIntervalInMsec (5000)"));
        let (r, _) = parse(json!({"retry": {"maxRetries": 3}}));
        let e = r.unwrap_err().to_string();
        assert!(
            e.contains("setting.retry") && e.contains("maxRetries"),
            "{e}"
        );
    }

    #[test]
    fn datax_core_fail_over_is_honoured_and_setting_retry_wins() {
        crate::connector::install_for_tests();
        let mut w = Vec::new();
        let core = json!({"container": {"task": {"failOver": {"maxRetryTimes": 3, "retryIntervalInMsec": 20, "maxWaitInMsec": 100}}}});
        let base = core_fail_over(&core, &mut w).unwrap();
        assert!(w.is_empty(), "only failOver: nothing ignored: {w:?}");
        let s = settings(None, "job.setting", base.clone(), &mut w).unwrap();
        assert_eq!(
            s.retry,
            RetryPolicy {
                attempts: 3,
                interval_ms: 20,
                max_wait_ms: 100
            }
        );
        let raw = crate::params::parse::<RawSetting>(
            &json!({"retry": {"maxRetryTimes": 1}}),
            "job.setting",
            &[],
            &mut w,
        )
        .unwrap();
        let s = settings(Some(raw), "job.setting", base, &mut w).unwrap();
        assert_eq!((s.retry.attempts, s.retry.interval_ms), (1, 20));
        let core = json!({"transport": {"channel": {"speed": {"byte": 1}}}, "container": {"task": {"failOver": {"maxRetryTimes": 2}}}});
        let mut w = Vec::new();
        let base = core_fail_over(&core, &mut w).unwrap();
        assert_eq!(base.and_then(|b| b.max_retry_times), Some(2));
        assert!(w[0].starts_with("core: DataX engine tuning"), "{w:?}");
        let mut w = Vec::new();
        let bad = json!({"container": {"task": {"failOver": {"maxRetryTimes": "x"}}}});
        let e = core_fail_over(&bad, &mut w).unwrap_err().to_string();
        assert!(
            e.starts_with("core.container.task.failOver.maxRetryTimes"),
            "{e}"
        );
    }
}
