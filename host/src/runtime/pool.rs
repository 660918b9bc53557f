//! A pool of component instances for callers that work concurrently (the HTTP client, the
//! simulator). An [`Instance`] takes `&mut` for every call, so each concurrent task borrows
//! one from the pool and gives it back; creating one costs ~15 us with the pooling allocator,
//! reusing one costs nothing. A retired instance (it trapped) is dropped, never returned.

use std::sync::{Arc, Mutex, PoisonError};

use super::{GuestError, Instance, Runtime};
use crate::keystore::Keystore;

/// Instances kept idle at most; more are made on demand and dropped when given back.
const MAX_IDLE: usize = 32;

/// Instances of the protocol component that share one keystore.
pub struct InstancePool {
    runtime: Arc<Runtime>,
    keystore: Keystore,
    idle: Mutex<Vec<Instance>>,
}

impl std::fmt::Debug for InstancePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstancePool")
            .field("keystore", &self.keystore)
            .finish_non_exhaustive()
    }
}

impl InstancePool {
    /// A pool of instances of `runtime`'s component whose keystore holds `keystore`'s keys.
    pub fn new(runtime: Arc<Runtime>, keystore: Keystore) -> Self {
        InstancePool {
            runtime,
            keystore,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Run `f` with an instance. Guest calls are short (microseconds, or a millisecond for
    /// an RSA signature through the keystore), so async callers run this in place.
    pub fn with<R>(&self, f: impl FnOnce(&mut Instance) -> R) -> Result<R, GuestError> {
        let taken = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut instance = match taken {
            Some(i) => i,
            None => self.runtime.instantiate(self.keystore.clone())?,
        };
        let result = f(&mut instance);
        if !instance.is_retired() {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < MAX_IDLE {
                idle.push(instance);
            }
        }
        Ok(result)
    }

    /// The runtime the instances come from.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }
}
