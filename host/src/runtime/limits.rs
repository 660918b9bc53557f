//! Memory caps and the typed error for a guest call that went wrong.

use wasmtime::{ResourceLimiter, Store, Trap};

use super::{HostState, RuntimeOptions};

/// Why a guest call did not return normally.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GuestError {
    /// The call ran past its deadline and was interrupted.
    #[error("the protocol component ran longer than its {0:?} limit and was stopped")]
    TimeLimit(std::time::Duration),
    /// The guest tried to grow its memory past the cap.
    #[error(
        "the protocol component tried to use more than {limit} bytes of memory and was stopped"
    )]
    MemoryLimit {
        /// The cap, bytes.
        limit: usize,
    },
    /// Any other trap: a bug in the component, or a WASI call it must never make.
    #[error("the protocol component failed: {0}")]
    Trap(String),
    /// The component does not implement the world this host expects.
    #[error("{0}")]
    WrongWorld(String),
    /// The instance trapped earlier and may not be entered again.
    #[error("this component instance stopped after an earlier failure; use a new instance")]
    Retired,
}

/// A [`ResourceLimiter`] that caps linear memory, remembers the high-water mark, and turns a
/// refused growth into a trap that [`classify`] can name (a refused `memory.grow` would
/// otherwise surface as the allocator's bare `unreachable`).
pub(super) struct StoreLimiter {
    memory_limit: usize,
    peak: usize,
    exceeded: bool,
}

impl StoreLimiter {
    pub(super) fn new(memory_limit: usize) -> Self {
        StoreLimiter {
            memory_limit,
            peak: 0,
            exceeded: false,
        }
    }

    pub(super) fn peak(&self) -> usize {
        self.peak
    }
}

impl ResourceLimiter for StoreLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            self.exceeded = true;
            return Err(wasmtime::format_err!(
                "memory limit of {} bytes exceeded",
                self.memory_limit
            ));
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; the component needs a handful.
        Ok(desired <= 100_000)
    }
}

/// Name what stopped a guest call.
pub(super) fn classify(
    error: wasmtime::Error,
    store: &Store<HostState>,
    options: &RuntimeOptions,
) -> GuestError {
    if store.data().limiter.exceeded {
        return GuestError::MemoryLimit {
            limit: options.memory_limit,
        };
    }
    if let Some(Trap::Interrupt) = error.downcast_ref::<Trap>() {
        return GuestError::TimeLimit(options.call_timeout);
    }
    GuestError::Trap(format!("{error:#}"))
}
