//! A job-wide token bucket for bytes/s and records/s, shared by every channel.
//!
//! Unlike DataX's per-channel limiter, the cap is global: with `mbps: 5` and ten
//! channels the job moves 5 MiB/s, not 50.

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

#[derive(Debug)]
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: f64) -> Self {
        // One tenth of a second of burst keeps rates smooth without starving big batches.
        let burst = (rate / 10.0).max(1.0);
        Bucket {
            rate,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Take `n` tokens (allowing debt); return how long to wait before going on.
    fn take(&mut self, n: f64) -> Duration {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.tokens -= n;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// Throttles bytes and records across all channels.
#[derive(Debug, Default)]
pub struct Throttle {
    bytes: Option<Mutex<Bucket>>,
    records: Option<Mutex<Bucket>>,
}

impl Throttle {
    /// A throttle with optional byte and record rates (per second, job-wide).
    pub fn new(bytes_per_sec: Option<u64>, records_per_sec: Option<u64>) -> Self {
        Throttle {
            bytes: bytes_per_sec
                .filter(|r| *r > 0)
                .map(|r| Mutex::new(Bucket::new(r as f64))),
            records: records_per_sec
                .filter(|r| *r > 0)
                .map(|r| Mutex::new(Bucket::new(r as f64))),
        }
    }

    /// Whether any limit is set.
    pub fn is_limited(&self) -> bool {
        self.bytes.is_some() || self.records.is_some()
    }

    /// Account for a batch of `bytes` and `records`, sleeping as long as the rates need.
    pub async fn acquire(&self, bytes: u64, records: u64) {
        let mut wait = Duration::ZERO;
        if let Some(b) = &self.bytes {
            wait = wait.max(b.lock().await.take(bytes as f64));
        }
        if let Some(r) = &self.records {
            wait = wait.max(r.lock().await.take(records as f64));
        }
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn record_rate_is_held_across_tasks() {
        let t = std::sync::Arc::new(Throttle::new(None, Some(20_000)));
        let start = Instant::now();
        let mut handles = vec![];
        for _ in 0..4 {
            let t = t.clone();
            handles.push(tokio::spawn(async move {
                for _ in 0..25 {
                    t.acquire(0, 100).await;
                }
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        // 10_000 records at 20_000/s = 0.5 s (minus the 0.1 s burst).
        let secs = start.elapsed().as_secs_f64();
        assert!((0.35..0.8).contains(&secs), "took {secs}s");
    }

    #[tokio::test]
    async fn unlimited_does_not_wait() {
        let t = Throttle::new(None, None);
        assert!(!t.is_limited());
        let start = Instant::now();
        t.acquire(1 << 30, 1 << 30).await;
        assert!(start.elapsed() < Duration::from_millis(50));
    }
}
