//! The outbox: business receipts owed to NgDP, sent by a background worker.
//!
//! A receipt is written in the same transaction as its message, so it cannot be forgotten; the
//! worker sends what is due, marks it sent only when NgDP answered 2xx (never sending it again
//! after that), and backs off exponentially on network errors and 5xx. A 4xx other than 408
//! and 429 is NgDP refusing that receipt for good: it is marked rejected with the reason, for
//! an operator. Rows survive restarts; a restarted worker carries on where it stopped.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use super::client::NgdpClient;
use crate::clock::Clock;
use crate::ngdp::message_store::SharedStore;
use crate::store::ngdp::DueReceipt;

/// Receipts sent per round.
const BATCH: u32 = 32;
/// Longest wait between attempts for one receipt.
const MAX_BACKOFF_SECONDS: i64 = 3600;
/// How often the worker looks for due receipts when nothing wakes it.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Seconds to wait after `attempts` failed attempts: 2, 4, 8, ... up to an hour.
pub fn backoff_seconds(attempts: u32) -> i64 {
    2i64.saturating_pow(attempts.min(20))
        .min(MAX_BACKOFF_SECONDS)
}

/// What one send came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendResult {
    /// NgDP took it.
    Sent,
    /// Try again later.
    Retry(String),
    /// NgDP refused it for good.
    Rejected(String),
}

/// Send one receipt: `POST memos/{uuid}/receipt`.
pub async fn send(client: &NgdpClient, due: &DueReceipt) -> SendResult {
    let response = client
        .request(
            reqwest::Method::POST,
            &format!("memos/{}/receipt", due.message_uuid),
        )
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(due.receipt.clone())
        .send()
        .await;
    match response {
        Err(e) => SendResult::Retry(format!("{e}")),
        Ok(r) if r.status().is_success() => SendResult::Sent,
        Ok(r) => {
            let status = r.status();
            let body: String = r
                .text()
                .await
                .unwrap_or_default()
                .chars()
                .take(500)
                .collect();
            let reason = format!("HTTP {status}: {body}");
            if status.is_client_error() && status.as_u16() != 408 && status.as_u16() != 429 {
                SendResult::Rejected(reason)
            } else {
                SendResult::Retry(reason)
            }
        }
    }
}

/// One round: send every due receipt once. Returns how many were sent.
pub async fn drain_once(
    store: &SharedStore,
    clients: &BTreeMap<String, NgdpClient>,
    clock: &Arc<dyn Clock>,
) -> anyhow::Result<usize> {
    let now = clock.now_unix();
    let s = store.clone();
    let due = tokio::task::spawn_blocking(move || {
        s.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .due_receipts(now, BATCH)
    })
    .await??;
    let mut sent = 0;
    for d in due {
        let result = match clients.get(&d.system_id) {
            Some(client) => send(client, &d).await,
            None => SendResult::Retry(format!(
                "system {} is not configured in this environment",
                d.system_id
            )),
        };
        let s = store.clone();
        let now = clock.now_unix();
        let uuid = d.message_uuid.clone();
        match &result {
            SendResult::Sent => {
                sent += 1;
                tracing::info!(uuid = %uuid, "business receipt sent");
            }
            SendResult::Retry(e) => {
                tracing::warn!(uuid = %uuid, attempts = d.attempts + 1, error = %e, "business receipt not sent; will retry")
            }
            SendResult::Rejected(e) => {
                tracing::error!(uuid = %uuid, error = %e, "NgDP refused the business receipt")
            }
        }
        let attempts = d.attempts + 1;
        tokio::task::spawn_blocking(move || {
            let mut st = s.lock().unwrap_or_else(PoisonError::into_inner);
            match result {
                SendResult::Sent => st.receipt_sent(&uuid, now),
                SendResult::Retry(e) => {
                    st.receipt_failed(&uuid, &e, now + backoff_seconds(attempts), false)
                }
                SendResult::Rejected(e) => st.receipt_failed(&uuid, &e, now, true),
            }
        })
        .await??;
    }
    Ok(sent)
}

/// Run the worker until the process ends: a round whenever `wake` fires or every second.
pub async fn run(
    store: SharedStore,
    clients: BTreeMap<String, NgdpClient>,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
) {
    loop {
        if let Err(e) = drain_once(&store, &clients, &clock).await {
            tracing::error!(error = %format!("{e:#}"), "the receipt outbox could not be read");
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(IDLE_POLL) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff_seconds(1), 2);
        assert_eq!(backoff_seconds(5), 32);
        assert_eq!(backoff_seconds(40), MAX_BACKOFF_SECONDS);
    }
}
