//! The outbox: business receipts owed to NgDP, sent by a background worker.
//!
//! A receipt is written in the same transaction as its message, so it cannot be forgotten; the
//! worker sends what is due, marks it sent only when NgDP answered 2xx (never sending it again
//! after that), and backs off exponentially on network errors and 5xx. A 4xx other than 408
//! and 429 is NgDP refusing that receipt for good: it is marked rejected with the reason, for
//! an operator. Rows survive restarts; a restarted worker carries on where it stopped.
//!
//! A pulled message whose receipt could not be sent during the pull run is left at NgDP with
//! its deletion owed (`delete_memo = 'owed'`): the worker sends `DELETE memos/{id}` right after
//! NgDP takes the receipt, so a message never leaves NgDP before its business receipt does
//! (NgDP OpenAPI document 1.68.0, CreateReceipt and DeleteMemo; `docs/ngdp-wire.md`). When
//! that DELETE fails, the next pull run finds the message listed with its receipt sent and
//! deletes it then.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use super::client::NgdpClient;
use crate::clock::Clock;
use crate::ngdp::message_store::SharedStore;
use crate::runtime::pool::InstancePool;
use crate::store::ngdp::{DueReceipt, memo_deletion};

/// Receipts sent per round.
const BATCH: u32 = 32;
/// Longest wait between attempts for one receipt.
const MAX_BACKOFF_SECONDS: i64 = 3600;
/// How often the worker looks for due receipts when nothing wakes it.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// How long a sender holds a receipt it claimed: longer than one POST can take (the client's
/// time limit), so a live sender never loses it, and short enough that a receipt a crashed
/// sender held goes out again soon.
pub const CLAIM_SECONDS: i64 = 3 * super::client::DEFAULT_TIMEOUT.as_secs() as i64;

/// Claim `uuid`'s receipt for one send (see [`CLAIM_SECONDS`]); false when another sender
/// (the worker, or a pull run in the same process) holds it.
pub async fn claim(store: &SharedStore, uuid: &str, now: i64) -> anyhow::Result<bool> {
    let s = store.clone();
    let u = uuid.to_owned();
    Ok(tokio::task::spawn_blocking(move || {
        s.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .claim_receipt(&u, now, now + CLAIM_SECONDS)
    })
    .await??)
}

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

/// Send one receipt: `POST memos/{uuid}/receipt` (CreateReceipt: JSON `Receipt` body, 200
/// with no body; 400, 404, 409, 422 `ErrorMessage`; 401, 403 plain — NgDP OpenAPI document
/// 1.68.0). A refusal is shown with NgDP's `ErrorMessage` (code, message, field errors).
pub async fn send(client: &NgdpClient, pool: &InstancePool, due: &DueReceipt) -> SendResult {
    let response = client
        .request(
            reqwest::Method::POST,
            &format!("memos/{}/receipt", due.message_uuid),
        )
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::ACCEPT, "application/json")
        .body(due.receipt.clone())
        .send()
        .await;
    match response {
        Err(e) => SendResult::Retry(format!("{e}")),
        Ok(r) if r.status().is_success() => SendResult::Sent,
        Ok(r) => {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            let reason = super::api_error::explain(pool, status.as_u16(), &body);
            if status.is_client_error() && status.as_u16() != 408 && status.as_u16() != 429 {
                SendResult::Rejected(reason)
            } else {
                SendResult::Retry(reason)
            }
        }
    }
}

/// What a `DELETE memos/{id}` came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deletion {
    /// 2xx (204 documented), or 404: the message is gone from NgDP.
    Gone,
    /// Anything else, shown for a person.
    Failed(String),
}

/// `DELETE memos/{id}` (DeleteMemo: 204; 400, 401, 403, 404, 409, 422 `ErrorMessage`, the
/// meaning of 409 and 422 not stated — NgDP OpenAPI document 1.68.0). A 404 means the message
/// is no longer there to delete, which is what was wanted.
pub async fn delete_memo(client: &NgdpClient, pool: &InstancePool, id: &str) -> Deletion {
    let response = client
        .request(reqwest::Method::DELETE, &format!("memos/{id}"))
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await;
    match response {
        Err(e) => Deletion::Failed(format!("DELETE memos/{id}: {e}")),
        Ok(r) if r.status().is_success() || r.status().as_u16() == 404 => Deletion::Gone,
        Ok(r) => {
            let status = r.status().as_u16();
            let body = r.text().await.unwrap_or_default();
            Deletion::Failed(format!(
                "DELETE memos/{id}: {}",
                super::api_error::explain(pool, status, &body)
            ))
        }
    }
}

/// One round: send every due receipt once. Returns how many were sent.
pub async fn drain_once(
    store: &SharedStore,
    clients: &BTreeMap<String, NgdpClient>,
    clock: &Arc<dyn Clock>,
    pool: &InstancePool,
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
        // A pull run may be sending this very receipt: one POST at a time.
        if !claim(store, &d.message_uuid, clock.now_unix()).await? {
            continue;
        }
        let result = match clients.get(&d.system_id) {
            Some(client) => send(client, pool, &d).await,
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
        let taken = result == SendResult::Sent;
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
        if taken
            && d.delete_memo_after
            && let Some(client) = clients.get(&d.system_id)
        {
            settle_deletion(store, client, pool, &d.message_uuid).await?;
        }
    }
    Ok(sent)
}

/// The `DELETE memos/{uuid}` owed after a pulled message's receipt went through: recorded done
/// when NgDP no longer has the message; otherwise logged, and left owed for the next pull run.
pub async fn settle_deletion(
    store: &SharedStore,
    client: &NgdpClient,
    pool: &InstancePool,
    uuid: &str,
) -> anyhow::Result<Deletion> {
    let deletion = delete_memo(client, pool, uuid).await;
    match &deletion {
        Deletion::Gone => {
            let s = store.clone();
            let u = uuid.to_owned();
            tokio::task::spawn_blocking(move || {
                s.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .set_memo_deletion(&u, memo_deletion::DONE)
            })
            .await??;
            tracing::info!(uuid = %uuid, "pulled message deleted at NgDP after its business receipt");
        }
        Deletion::Failed(e) => {
            tracing::warn!(uuid = %uuid, error = %e, "the pulled message could not be deleted at NgDP; the next pull run tries again");
        }
    }
    Ok(deletion)
}

/// Run the worker until the process ends: a round whenever `wake` fires or every second.
pub async fn run(
    store: SharedStore,
    clients: BTreeMap<String, NgdpClient>,
    clock: Arc<dyn Clock>,
    pool: Arc<InstancePool>,
    wake: Arc<Notify>,
) {
    loop {
        if let Err(e) = drain_once(&store, &clients, &clock, &pool).await {
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
