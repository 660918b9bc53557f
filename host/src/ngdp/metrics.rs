//! What `GET /metrics` reports, in Prometheus' text format: messages received and rejected
//! (by reason), receipts waiting in the outbox, how long the store takes to make a message
//! durable, when each system last received a message, and how many days each system's
//! function certificate has left.
//!
//! The content type is Prometheus' text format 0.0.4 (`text/plain; version=0.0.4`,
//! <https://prometheus.io/docs/instrumenting/exposition_formats/>), set by the API handler.

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

/// A system's label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SystemLabel {
    /// The system id.
    pub system: String,
}

/// A system's certificate's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CertificateLabel {
    /// The system id.
    pub system: String,
    /// The certificate file.
    pub certificate: String,
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
    /// When each system last stored a new message (Unix seconds).
    pub last_message_received: Family<SystemLabel, Gauge>,
    /// Whole days until each system's certificate expires (negative: expired), set when
    /// scraped from the end dates in [`Metrics::certificates`].
    pub certificate_expiry_days: Family<CertificateLabel, Gauge>,
    /// The certificates' end dates (Unix seconds), read at start and on reload.
    pub certificates: std::sync::Mutex<Vec<(CertificateLabel, i64)>>,
    /// The API's and console's pool of store connections.
    pub store_pool: crate::api::pool_metrics::PoolMetrics,
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
        let last_message_received = Family::<SystemLabel, Gauge>::default();
        registry.register(
            "last_message_received_timestamp_seconds",
            "When each system last stored a new message (Unix time)",
            last_message_received.clone(),
        );
        let certificate_expiry_days = Family::<CertificateLabel, Gauge>::default();
        registry.register(
            "certificate_expiry_days",
            "Whole days until each system's function certificate expires (negative: expired)",
            certificate_expiry_days.clone(),
        );
        let store_pool = crate::api::pool_metrics::PoolMetrics::default();
        store_pool.register(&mut registry);
        Metrics {
            registry,
            store_pool,
            last_message_received,
            certificate_expiry_days,
            certificates: Default::default(),
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

    /// `system` stored a new message at `now`.
    pub fn message_received_at(&self, system: &str, now: i64) {
        self.last_message_received
            .get_or_create(&SystemLabel {
                system: system.to_owned(),
            })
            .set(now);
    }

    /// Replace the certificates whose days left are reported.
    pub fn set_certificates(&self, certificates: Vec<(CertificateLabel, i64)>) {
        self.certificate_expiry_days.clear();
        *self
            .certificates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = certificates;
    }

    /// Set the days-left gauges for `now`.
    pub fn refresh_certificate_days(&self, now: i64) {
        let certificates = self
            .certificates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (label, not_after) in certificates.iter() {
            self.certificate_expiry_days
                .get_or_create(label)
                .set((not_after - now).div_euclid(86_400));
        }
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
