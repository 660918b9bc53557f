//! What `/metrics` says about the pool of store connections the platform API and the
//! console borrow from (`store::pool`): its size, how many are lent and waited for (set when
//! scraped), how long requests waited for one, and how many gave up waiting (answered 503).
//! An operator whose API answers 503 sees here whether `[store] connections` is too small.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::store::pool::PoolStatus;

/// The pool's metrics.
pub struct PoolMetrics {
    /// `[store] connections`.
    pub max: Gauge,
    /// Connections open now.
    pub open: Gauge,
    /// Connections lent to a request now.
    pub in_use: Gauge,
    /// Requests waiting for a connection now.
    pub waiting: Gauge,
    /// Seconds each request waited for its connection.
    pub wait_seconds: Histogram,
    /// Requests that gave up waiting (answered 503).
    pub wait_timeouts: Counter,
}

impl Default for PoolMetrics {
    fn default() -> Self {
        PoolMetrics {
            max: Gauge::default(),
            open: Gauge::default(),
            in_use: Gauge::default(),
            waiting: Gauge::default(),
            // 10 µs to ~20 s: a free connection is lent in microseconds; a wait that ends
            // in a 503 takes `connection_wait_seconds`.
            wait_seconds: Histogram::new(exponential_buckets(0.000_01, 4.0, 12)),
            wait_timeouts: Counter::default(),
        }
    }
}

impl PoolMetrics {
    /// Register every metric in `registry` (prefixed `dpost_`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "store_connections_max",
            "The most store connections the platform API and the console open ([store] connections)",
            self.max.clone(),
        );
        registry.register(
            "store_connections_open",
            "Store connections of the platform API and the console open now",
            self.open.clone(),
        );
        registry.register(
            "store_connections_in_use",
            "Store connections lent to an API or console request now",
            self.in_use.clone(),
        );
        registry.register(
            "store_connections_waiting",
            "API and console requests waiting for a store connection now",
            self.waiting.clone(),
        );
        registry.register(
            "store_connection_wait_seconds",
            "Time an API or console request waited for a store connection",
            self.wait_seconds.clone(),
        );
        registry.register(
            "store_connection_wait_timeouts",
            "API and console requests that found every store connection busy for [store] connection_wait_seconds (answered 503)",
            self.wait_timeouts.clone(),
        );
    }

    /// Set the gauges from the pool's `status`.
    pub fn set(&self, status: PoolStatus) {
        let gauge = |g: &Gauge, v: usize| {
            g.set(i64::try_from(v).unwrap_or(i64::MAX));
        };
        gauge(&self.max, status.max);
        gauge(&self.open, status.open);
        gauge(&self.in_use, status.in_use);
        gauge(&self.waiting, status.waiting);
    }
}
