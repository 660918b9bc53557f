//! A part of the configuration that a running `dpost serve` replaces when it is told to
//! reload (SIGHUP): contact points, mailboxes, API clients.
//!
//! Handlers take an `Arc` of the current value at the start of their work and keep it to the
//! end, so a request that is being served when the configuration changes finishes with the
//! configuration it started with, and its connection is never dropped; the next request sees
//! the new one.

use std::sync::{Arc, RwLock};

/// A value swapped whole on reload.
#[derive(Debug)]
pub struct Live<T> {
    current: RwLock<Arc<T>>,
}

impl<T> Live<T> {
    /// Start with `value`.
    pub fn new(value: T) -> Self {
        Live {
            current: RwLock::new(Arc::new(value)),
        }
    }

    /// The value now.
    pub fn get(&self) -> Arc<T> {
        // A writer only ever stores a whole new Arc, so a poisoned lock still holds a
        // complete value.
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replace the value; requests already running keep the one they took.
    pub fn set(&self, value: T) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(value);
    }
}

impl<T: Default> Default for Live<T> {
    fn default() -> Self {
        Live::new(T::default())
    }
}
