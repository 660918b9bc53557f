//! The business receipts dpost owes NgDP, as `/metrics` shows them per system: how many wait
//! (including those being retried), how many NgDP refused or dpost gave up on, how long the
//! oldest waiting one has been tried, and each failed attempt by its cause. An operator's
//! alert on these is what makes a wrong API token or an expired certificate visible within
//! minutes instead of when NgDP deactivates the system.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::store::receipts::ReceiptBacklog;

/// A system's label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SystemLabel {
    /// The system id.
    pub system: String,
}

/// A failed attempt's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabel {
    /// The system id.
    pub system: String,
    /// NgDP's HTTP status (`401`, `503`, ...), or `network` when it did not answer.
    pub cause: String,
}

/// The receipt metrics.
#[derive(Default)]
pub struct ReceiptMetrics {
    /// Receipts waiting or being retried, per system (set when scraped).
    pub pending: Family<SystemLabel, Gauge>,
    /// Receipts refused or given up, per system (set when scraped).
    pub refused: Family<SystemLabel, Gauge>,
    /// Age of the oldest pending receipt in seconds, per system (set when scraped).
    pub oldest_pending_age: Family<SystemLabel, Gauge>,
    /// Failed attempts, per system and cause.
    pub failures: Family<FailureLabel, Counter>,
}

impl ReceiptMetrics {
    /// Register every metric in `registry` (prefixed `dpost_`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "receipts_pending",
            "Business receipts waiting to be sent to NgDP (including ones being retried), per system",
            self.pending.clone(),
        );
        registry.register(
            "receipts_refused",
            "Business receipts NgDP refused or dpost gave up on, waiting for an operator (dpost receipts retry), per system",
            self.refused.clone(),
        );
        registry.register(
            "receipts_oldest_pending_age_seconds",
            "Seconds the oldest pending business receipt has been tried, per system",
            self.oldest_pending_age.clone(),
        );
        registry.register(
            "receipt_send_failures",
            "Failed attempts to send a business receipt, per system and cause (HTTP status or network)",
            self.failures.clone(),
        );
    }

    /// Set the gauges from the store's counts at `now` (unix seconds). `systems` are the
    /// configured ones, shown with 0 when they owe nothing; a system the store knows but
    /// the configuration no longer names is shown too (its receipts cannot go out).
    pub fn set(&self, systems: &[String], backlog: &[ReceiptBacklog], now: i64) {
        // A system that owed something at the last scrape and neither owes nor is
        // configured now must not keep its old values.
        self.pending.clear();
        self.refused.clear();
        self.oldest_pending_age.clear();
        for s in systems {
            let label = SystemLabel { system: s.clone() };
            self.pending.get_or_create(&label).set(0);
            self.refused.get_or_create(&label).set(0);
            self.oldest_pending_age.get_or_create(&label).set(0);
        }
        for b in backlog {
            let label = SystemLabel {
                system: b.system_id.clone(),
            };
            self.pending.get_or_create(&label).set(b.pending as i64);
            self.refused.get_or_create(&label).set(b.refused as i64);
            let age = b.oldest_pending_since.map_or(0, |t| (now - t).max(0));
            self.oldest_pending_age.get_or_create(&label).set(age);
        }
    }

    /// Count a failed attempt.
    pub fn failed(&self, system: &str, status: Option<u16>) {
        self.failures
            .get_or_create(&FailureLabel {
                system: system.to_owned(),
                cause: status.map_or_else(|| "network".to_owned(), |s| s.to_string()),
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_per_system_with_age() {
        let m = ReceiptMetrics::default();
        let mut registry = Registry::with_prefix("dpost");
        m.register(&mut registry);
        let backlog = [ReceiptBacklog {
            system_id: "a".into(),
            pending: 2,
            refused: 1,
            oldest_pending_since: Some(100),
        }];
        m.set(
            &["b".into()],
            &[ReceiptBacklog {
                system_id: "gone".into(),
                pending: 5,
                refused: 0,
                oldest_pending_since: None,
            }],
            100,
        );
        m.set(&["a".into(), "b".into()], &backlog, 160);
        m.failed("a", Some(401));
        m.failed("a", None);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        assert!(
            out.contains("dpost_receipts_pending{system=\"a\"} 2"),
            "{out}"
        );
        assert!(
            out.contains("dpost_receipts_pending{system=\"b\"} 0"),
            "{out}"
        );
        assert!(
            out.contains("dpost_receipts_refused{system=\"a\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("dpost_receipts_oldest_pending_age_seconds{system=\"a\"} 60"),
            "{out}"
        );
        assert!(!out.contains("gone"), "{out}");
        assert!(
            out.contains("dpost_receipt_send_failures_total{system=\"a\",cause=\"401\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("dpost_receipt_send_failures_total{system=\"a\",cause=\"network\"} 1"),
            "{out}"
        );
    }
}
