//! The end-of-job summary: DataX's figures plus written, filtered and dirty.

use std::fmt;

use serde::Serialize;

/// What a job did. `records_read = records_written + records_filtered + records_dirty`
/// holds for every successful job.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// `success` or `failed`.
    pub status: String,
    /// The job file.
    pub job: String,
    /// The run's id (what staging and dirty records are named after).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub run_id: String,
    /// Business date the job ran for (yyyymmdd), when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bizdate: Option<String>,
    /// Start time, local, `yyyy-MM-dd HH:mm:ss`.
    pub start_time: String,
    /// End time, local, `yyyy-MM-dd HH:mm:ss`.
    pub end_time: String,
    /// Wall-clock seconds, whole job.
    pub elapsed_secs: f64,
    /// Records produced by the reader.
    pub records_read: u64,
    /// Records the writer accepted.
    pub records_written: u64,
    /// Records removed by `where` / `dx_filter`.
    pub records_filtered: u64,
    /// Records set aside as dirty.
    pub records_dirty: u64,
    /// Bytes read (Arrow in-memory size of the reader's batches).
    pub bytes_read: u64,
    /// Bytes written (as the writer counts them).
    pub bytes_written: u64,
    /// Splits planned.
    pub splits: usize,
    /// Channels used.
    pub channels: usize,
    /// Split attempts (and sink opens) that failed with a transient error and were
    /// tried again; their rows are not in the counts above.
    pub retries: u64,
    /// One line per retry: what failed and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retried: Vec<String>,
    /// Where dirty records were written, if any were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dirty_file: Option<String>,
    /// Lines from the writer's commit.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The error, when the job failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Where the error happened, as far as known: `connector` (`postgresql writer`),
    /// `split`, `split_description`, `column`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_at: Option<ferry_core::error::Location>,
    /// Share of time channels spent reading (incl. transform) vs waiting on the writer.
    pub read_secs: f64,
    /// Seconds spent in the transform, summed over channels.
    pub transform_secs: f64,
    /// Seconds spent in the writer, summed over channels.
    pub write_secs: f64,
}

impl Summary {
    /// Average bytes per second over the transfer.
    pub fn bytes_per_sec(&self) -> f64 {
        self.bytes_read as f64 / self.elapsed_secs.max(1e-6)
    }
    /// Average records per second over the transfer.
    pub fn records_per_sec(&self) -> f64 {
        self.records_read as f64 / self.elapsed_secs.max(1e-6)
    }
    /// Whether the counts add up.
    pub fn balanced(&self) -> bool {
        self.records_read == self.records_written + self.records_filtered + self.records_dirty
    }
}

/// `1.5 MB` style sizes.
pub fn human_bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = b;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.2} {}", UNITS[i])
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Job                   : {}", self.job)?;
        if let Some(b) = &self.bizdate {
            writeln!(f, "Business date         : {b}")?;
        }
        writeln!(f, "Status                : {}", self.status)?;
        writeln!(f, "Start time            : {}", self.start_time)?;
        writeln!(f, "End time              : {}", self.end_time)?;
        writeln!(f, "Elapsed               : {:.2}s", self.elapsed_secs)?;
        writeln!(
            f,
            "Average speed         : {}/s, {:.0} records/s",
            human_bytes(self.bytes_per_sec()),
            self.records_per_sec()
        )?;
        writeln!(f, "Records read          : {}", self.records_read)?;
        writeln!(f, "Records written       : {}", self.records_written)?;
        writeln!(f, "Records filtered      : {}", self.records_filtered)?;
        writeln!(f, "Records dirty         : {}", self.records_dirty)?;
        writeln!(
            f,
            "Splits / channels     : {} / {}",
            self.splits, self.channels
        )?;
        if self.retries > 0 {
            writeln!(f, "Retries               : {}", self.retries)?;
            for r in self.retried.iter().take(10) {
                writeln!(f, "  retried             : {r}")?;
            }
            if self.retried.len() > 10 {
                writeln!(
                    f,
                    "  ...                 : {} more",
                    self.retried.len() - 10
                )?;
            }
        }
        if let Some(d) = &self.dirty_file {
            writeln!(f, "Dirty records file    : {d}")?;
        }
        for n in &self.notes {
            writeln!(f, "Note                  : {n}")?;
        }
        if let Some(e) = &self.error {
            writeln!(f, "Error                 : {e}")?;
        }
        if let Some(c) = self.error_at.as_ref().and_then(|a| a.connector.as_ref()) {
            writeln!(f, "Error in              : {c}")?;
        }
        Ok(())
    }
}
