//! The host's clock, behind a trait so that simulators and tests can run on a fake one.
//!
//! The component never reads a clock; every time it judges (a response's `Date`, a content
//! token's age) comes from here. Giving the simulator and the client an [`Arc<dyn Clock>`]
//! lets a test age a one-time link by 31 seconds without waiting, or skew a client by minutes.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Seconds since the Unix epoch.
    fn now_unix(&self) -> i64;
}

/// The machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs() as i64),
        }
    }
}

/// The system clock, shared.
pub fn system() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// A clock that follows the system clock shifted by an offset the caller can change at any
/// time; an offset of zero is the system clock. For tests and simulations.
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset: AtomicI64,
}

impl OffsetClock {
    /// A clock `offset_seconds` ahead of the system clock (behind when negative).
    pub fn new(offset_seconds: i64) -> Self {
        OffsetClock {
            offset: AtomicI64::new(offset_seconds),
        }
    }

    /// Move the clock forward by `seconds` (backward when negative).
    pub fn advance(&self, seconds: i64) {
        self.offset.fetch_add(seconds, Ordering::SeqCst);
    }

    /// The current offset from the system clock, seconds.
    pub fn offset(&self) -> i64 {
        self.offset.load(Ordering::SeqCst)
    }
}

impl Clock for OffsetClock {
    fn now_unix(&self) -> i64 {
        SystemClock.now_unix().saturating_add(self.offset())
    }
}
