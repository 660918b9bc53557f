//! When to try a request again, and how long to wait first.
//!
//! Only idempotent requests are retried (every inbox request is: GET and DELETE), and only
//! for failures a second attempt can cure: the network, a timeout, or a 5xx. The wait doubles
//! from `base` up to `max`, and each wait is drawn between half and all of that ("equal
//! jitter"), so that many clients that failed together do not come back together. The jitter
//! comes from a small generator seeded by the host's RNG, or by a fixed seed for tests.

use std::sync::Mutex;
use std::time::Duration;

/// How many times to retry and how long to wait.
#[derive(Debug)]
pub struct RetryPolicy {
    /// Extra attempts after the first.
    pub retries: u32,
    /// The wait before the first retry, before jitter.
    pub base: Duration,
    /// The longest wait, before jitter.
    pub max: Duration,
    rng: Mutex<SplitMix64>,
}

impl RetryPolicy {
    /// `retries` extra attempts, waits from `base` doubling to `max`, jitter seeded by `seed`
    /// (or by the operating system's RNG when `None`).
    pub fn new(retries: u32, base: Duration, max: Duration, seed: Option<u64>) -> Self {
        let seed = seed.unwrap_or_else(random_seed);
        RetryPolicy {
            retries,
            base,
            max,
            rng: Mutex::new(SplitMix64(seed)),
        }
    }

    /// The wait before retry number `attempt` (0 for the first retry).
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.max);
        let unit = {
            let mut rng = self
                .rng
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // 53 random bits as a fraction in [0, 1).
            (rng.next() >> 11) as f64 / (1u64 << 53) as f64
        };
        ceiling.mul_f64(0.5 + unit / 2.0)
    }
}

fn random_seed() -> u64 {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 8];
    match ring::rand::SystemRandom::new().fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        // Jitter needs spread, not secrecy; the time is spread enough if the RNG fails.
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    }
}

/// SplitMix64: tiny, fast, and good enough to spread retries.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_with_jitter_and_is_reproducible() {
        let p = RetryPolicy::new(
            5,
            Duration::from_millis(100),
            Duration::from_secs(1),
            Some(42),
        );
        let q = RetryPolicy::new(
            5,
            Duration::from_millis(100),
            Duration::from_secs(1),
            Some(42),
        );
        for attempt in 0..8 {
            let d = p.delay(attempt);
            assert_eq!(d, q.delay(attempt), "same seed, same waits");
            let ceiling = Duration::from_millis(100 * (1 << attempt)).min(Duration::from_secs(1));
            assert!(d >= ceiling / 2 && d <= ceiling, "{attempt}: {d:?}");
        }
        assert!(p.delay(u32::MAX) <= Duration::from_secs(1));
    }
}
