//! What `GET /metrics` reports, in Prometheus' text format: messages received and rejected
//! (by reason), receipts waiting in the outbox, and how long the store takes to make a
//! message durable.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A label with one value.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    /// stored | duplicate | invalid (received), or the rejection reason.
    pub outcome: String,
}

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    /// Messages acknowledged, by outcome.
    pub received: Family<Outcome, Counter>,
    /// Requests refused, by reason.
    pub rejected: Family<Outcome, Counter>,
    /// Receipts received for messages we sent.
    pub receipts_received: Counter,
    /// Business receipts owed to NgDP, per system (`receipt_metrics`).
    pub receipts: super::receipt_metrics::ReceiptMetrics,
    /// Seconds from end of body to durable commit.
    pub store_seconds: Histogram,
    /// Webhook deliveries not yet delivered nor given up (set by the webhook worker).
    pub webhook_backlog: Gauge,
    /// Webhook delivery attempts that failed.
    pub webhook_failures: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("dpost");
        let received = Family::<Outcome, Counter>::default();
        registry.register(
            "messages_received",
            "MeMo messages acknowledged to NgDP, by outcome",
            received.clone(),
        );
        let rejected = Family::<Outcome, Counter>::default();
        registry.register(
            "requests_rejected",
            "Push requests refused, by reason",
            rejected.clone(),
        );
        let receipts_received = Counter::default();
        registry.register(
            "receipts_received",
            "Receipts NgDP pushed for messages we sent",
            receipts_received.clone(),
        );
        let receipts = super::receipt_metrics::ReceiptMetrics::default();
        receipts.register(&mut registry);
        let store_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register(
            "store_seconds",
            "Time to make a received message durable",
            store_seconds.clone(),
        );
        let webhook_backlog = Gauge::default();
        registry.register(
            "webhook_backlog",
            "Webhook deliveries waiting to be delivered",
            webhook_backlog.clone(),
        );
        let webhook_failures = Counter::default();
        registry.register(
            "webhook_failures",
            "Webhook delivery attempts that failed (non-2xx, timeout, network)",
            webhook_failures.clone(),
        );
        Metrics {
            registry,
            webhook_backlog,
            webhook_failures,
            received,
            rejected,
            receipts_received,
            receipts,
            store_seconds,
        }
    }
}

impl Metrics {
    /// Count a message by outcome.
    pub fn received(&self, outcome: &str) {
        self.received
            .get_or_create(&Outcome {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Count a refusal by reason.
    pub fn rejected(&self, reason: &str) {
        self.rejected
            .get_or_create(&Outcome {
                outcome: reason.to_owned(),
            })
            .inc();
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
