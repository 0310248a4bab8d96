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
