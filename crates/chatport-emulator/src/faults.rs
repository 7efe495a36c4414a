//! Seeded fault injection. Owns the decision for the n-th API request: the fault (429,
//! 500, 503, connection dropped before or after the write, 502 after the write) and
//! added latency. The
//! decision is a pure function of the seed and n, so a failing run can be replayed with
//! the same seed and the same request sequence.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use crate::config::FaultConfig;

/// What to do to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Serve normally.
    None,
    /// Answer 429.
    TooManyRequests,
    /// Answer 500.
    Internal,
    /// Answer 503.
    Unavailable,
    /// Close the connection without processing the request.
    DropBefore,
    /// Process the request (write applied and durable), then close the connection
    /// without answering.
    DropAfter,
    /// Process the request (write applied and durable), then answer 502.
    AppliedThen502,
}

impl Fault {
    /// Counter name.
    pub fn name(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::TooManyRequests => "429",
            Fault::Internal => "500",
            Fault::Unavailable => "503",
            Fault::DropBefore => "drop_before",
            Fault::DropAfter => "drop_after",
            Fault::AppliedThen502 => "applied_then_502",
        }
    }
}

/// The fault configuration and the request counter.
#[derive(Debug)]
pub struct FaultPlan {
    config: RwLock<FaultConfig>,
    counter: AtomicU64,
}

/// SplitMix64: a small, well-mixed hash from (seed, n) to 64 bits.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

impl FaultPlan {
    /// A plan with the given configuration.
    pub fn new(config: FaultConfig) -> FaultPlan {
        FaultPlan { config: RwLock::new(config), counter: AtomicU64::new(0) }
    }

    /// The current configuration.
    pub fn config(&self) -> FaultConfig {
        match self.config.read() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Replaces the configuration and restarts the sequence at request 0.
    pub fn replace(&self, config: FaultConfig) {
        match self.config.write() {
            Ok(mut c) => *c = config,
            Err(p) => *p.into_inner() = config,
        }
        self.counter.store(0, Ordering::SeqCst);
    }

    /// Decides the fault and latency (ms) of the next request.
    pub fn next(&self) -> (Fault, u64) {
        let c = self.config();
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        decide(&c, n)
    }
}

/// The fault and latency of request `n` under `c`.
pub fn decide(c: &FaultConfig, n: u64) -> (Fault, u64) {
    let h1 = mix(c.seed ^ mix(n));
    let h2 = mix(h1);
    let r = unit(h1);
    let mut edge = 0.0;
    let mut fault = Fault::None;
    for (rate, f) in [
        (c.rate_429, Fault::TooManyRequests),
        (c.rate_500, Fault::Internal),
        (c.rate_503, Fault::Unavailable),
        (c.drop_before, Fault::DropBefore),
        (c.drop_after, Fault::DropAfter),
        (c.applied_then_502, Fault::AppliedThen502),
    ] {
        edge += rate.max(0.0);
        if r < edge {
            fault = f;
            break;
        }
    }
    let jitter = if c.latency_jitter_ms > 0 { h2 % (c.latency_jitter_ms + 1) } else { 0 };
    (fault, c.latency_ms + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_rates_hold() {
        let c = FaultConfig { seed: 7, rate_500: 0.25, ..FaultConfig::default() };
        let a: Vec<_> = (0..1000).map(|n| decide(&c, n)).collect();
        let b: Vec<_> = (0..1000).map(|n| decide(&c, n)).collect();
        assert_eq!(a, b);
        let hits = a.iter().filter(|(f, _)| *f == Fault::Internal).count();
        assert!((200..300).contains(&hits), "{hits}");
        let other = FaultConfig { seed: 8, ..c };
        let d: Vec<_> = (0..1000).map(|n| decide(&other, n)).collect();
        assert_ne!(a, d);
    }

    #[test]
    fn zero_rates_never_fault() {
        let c = FaultConfig::default();
        assert!((0..1000).all(|n| decide(&c, n) == (Fault::None, 0)));
    }
}
