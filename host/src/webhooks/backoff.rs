//! When a failed delivery is tried again: exponential backoff with jitter.
//!
//! The delay doubles with every failed attempt from [`BASE_SECONDS`] up to [`MAX_SECONDS`],
//! and is then drawn from its upper half ("equal jitter"), so the deliveries of an endpoint
//! that came back do not all arrive in the same second. The draw is a hash of a seed, the
//! delivery and the attempt, not a global random generator: the worker takes the seed once
//! (random in `dpost serve`, fixed in tests), and the same seed gives the same schedule, so
//! a test of the schedule is deterministic, while the time itself comes from the host's
//! clock (`crate::clock`).

/// The first retry's delay, seconds (before jitter).
pub const BASE_SECONDS: i64 = 1;
/// The longest delay between two attempts, seconds.
pub const MAX_SECONDS: i64 = 3600;

/// The delay before attempt `attempt + 1` of delivery `delivery`, after `attempt` failed
/// attempts (1 or more), in seconds.
pub fn delay(seed: u64, delivery: i64, attempt: u32) -> i64 {
    let full = BASE_SECONDS
        .saturating_mul(1i64 << attempt.saturating_sub(1).min(30))
        .min(MAX_SECONDS);
    let half = full / 2;
    let draw = mix(seed ^ (delivery as u64).rotate_left(32) ^ u64::from(attempt));
    (full - half) + (draw % (half as u64 + 1)) as i64
}

/// A seed for `dpost serve`: random, so two gateways behind one endpoint spread apart too.
/// Should the system's generator fail, the process id and time still differ per start.
pub fn random_seed() -> u64 {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 8];
    match ring::rand::SystemRandom::new().fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            mix(t ^ u64::from(std::process::id()))
        }
    }
}

/// SplitMix64's finaliser: a well-spread 64-bit hash.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_within_its_upper_half_and_is_capped() {
        for attempt in 1..=20u32 {
            let full = (1i64 << (attempt - 1)).min(MAX_SECONDS);
            for delivery in 0..50 {
                let d = delay(7, delivery, attempt);
                assert!(d >= full - full / 2 && d <= full, "{attempt}: {d}");
            }
        }
        assert_eq!(
            delay(7, 3, 12),
            delay(7, 3, 12),
            "the same seed, the same schedule"
        );
        let spread: std::collections::BTreeSet<_> = (0..50).map(|d| delay(7, d, 10)).collect();
        assert!(spread.len() > 10, "jitter spreads deliveries: {spread:?}");
        assert_eq!(delay(1, 1, u32::MAX), delay(1, 1, u32::MAX));
    }
}
