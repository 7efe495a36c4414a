//! Token-bucket quotas. Owns the buckets and the arithmetic; which buckets a request draws
//! from is decided by the API modules. Buckets refill on the emulator's scaled clock, so a
//! `--time-scale` of 60 turns a per-minute quota into a per-second one.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::time::NANOS_PER_SEC;

/// One bucket a request must draw from.
#[derive(Debug, Clone)]
pub struct Draw {
    /// Bucket identity, e.g. `chat.project.message_writes:my-project`.
    pub key: String,
    /// Bucket size (burst).
    pub capacity: f64,
    /// Refill rate, tokens per (emulated) second.
    pub per_second: f64,
}

impl Draw {
    /// A bucket holding a per-minute quota.
    pub fn per_minute(key: String, limit: u32) -> Draw {
        Draw { key, capacity: f64::from(limit.max(1)), per_second: f64::from(limit.max(1)) / 60.0 }
    }

    /// A bucket holding a per-second quota (one second of burst).
    pub fn per_second(key: String, rate: f64) -> Draw {
        let rate = if rate > 0.0 { rate } else { 1.0 };
        Draw { key, capacity: rate.max(1.0), per_second: rate }
    }
}

/// A request refused by a quota.
#[derive(Debug, Clone)]
pub struct Exhausted {
    /// The bucket that was empty.
    pub key: String,
    /// Emulated nanoseconds until a token is available.
    pub wait_nanos: i64,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: i64,
}

/// All buckets, keyed by [`Draw::key`].
#[derive(Debug, Default)]
pub struct Buckets {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Buckets {
    /// Takes one token from every bucket in `draws`, or none if any is empty.
    /// `now` is the scaled monotonic clock in nanoseconds.
    pub fn take(&self, now: i64, draws: &[Draw]) -> Result<(), Exhausted> {
        let mut map = match self.buckets.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut worst: Option<Exhausted> = None;
        for d in draws {
            let b = map.entry(d.key.clone()).or_insert(Bucket { tokens: d.capacity, last: now });
            let elapsed = (now - b.last).max(0) as f64 / NANOS_PER_SEC as f64;
            b.tokens = (b.tokens + elapsed * d.per_second).min(d.capacity);
            b.last = now;
            if b.tokens < 1.0 {
                let wait = ((1.0 - b.tokens) / d.per_second * NANOS_PER_SEC as f64).ceil() as i64;
                let worse = match &worst {
                    Some(w) => wait > w.wait_nanos,
                    None => true,
                };
                if worse {
                    worst = Some(Exhausted { key: d.key.clone(), wait_nanos: wait });
                }
            }
        }
        if let Some(w) = worst {
            return Err(w);
        }
        for d in draws {
            if let Some(b) = map.get_mut(&d.key) {
                b.tokens -= 1.0;
            }
        }
        Ok(())
    }
}

/// Wall-clock seconds to put in `Retry-After` for an emulated wait (at least 1).
pub fn retry_after_secs(wait_nanos: i64, scale: f64) -> u64 {
    let wall = wait_nanos as f64 / scale / NANOS_PER_SEC as f64;
    (wall.ceil() as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_empties_and_refills() {
        let b = Buckets::default();
        let d = [Draw::per_second("x".into(), 2.0)];
        assert!(b.take(0, &d).is_ok());
        assert!(b.take(0, &d).is_ok());
        let e = b.take(0, &d).unwrap_err();
        assert_eq!(e.key, "x");
        assert_eq!(e.wait_nanos, NANOS_PER_SEC / 2);
        assert!(b.take(NANOS_PER_SEC / 2, &d).is_ok());
    }

    #[test]
    fn all_or_nothing() {
        let b = Buckets::default();
        let small = Draw::per_second("small".into(), 1.0);
        let big = Draw::per_second("big".into(), 10.0);
        assert!(b.take(0, &[small.clone(), big.clone()]).is_ok());
        assert!(b.take(0, &[small, big.clone()]).is_err());
        // The refused request did not consume from the big bucket: 9 left.
        for _ in 0..9 {
            assert!(b.take(0, std::slice::from_ref(&big)).is_ok());
        }
        assert!(b.take(0, &[big]).is_err());
    }
}
