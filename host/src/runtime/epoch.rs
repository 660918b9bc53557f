//! The clock behind call deadlines: one thread that advances the engine's epoch.
//!
//! Epoch interruption costs a load and compare at loop heads; fuel metering would cost an
//! add at every basic block, and the call budget is a time limit anyway.

use std::sync::mpsc;
use std::time::Duration;

use wasmtime::Engine;

/// How often the epoch advances; deadlines are whole multiples of it.
pub(super) const TICK: Duration = Duration::from_millis(10);

/// Ticks in `timeout`, at least one.
pub(super) fn ticks_for(timeout: Duration) -> u64 {
    (timeout.as_nanos() / TICK.as_nanos()).max(1) as u64
}

/// Advances the epoch every [`TICK`] until dropped. Holds the engine weakly so that the
/// ticker never keeps an engine alive on its own.
pub(super) struct Ticker {
    _stop: mpsc::Sender<()>,
}

impl Ticker {
    pub(super) fn start(engine: &Engine) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("dpost-epoch".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(TICK) {
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .expect("spawning the epoch thread");
        Ticker { _stop: stop }
    }
}
