//! The outbox: business receipts owed to NgDP, sent by a background worker.
//!
//! A receipt is written in the same transaction as its message, so it cannot be forgotten; the
//! worker sends what is due, marks it sent only when NgDP answered 2xx (never sending it again
//! after that), and backs off exponentially on network errors, 5xx, 408 and 429, and on 401
//! and 403: those say the system's API token or certificate is wrong, which an operator
//! fixes, so the receipt must still go out afterwards (each such attempt is logged at warn
//! with NgDP's reason and counted in `/metrics`). Another 4xx is NgDP refusing that receipt
//! for good. A receipt still not taken after `[ngdp.receipts] give_up_after_days` (default
//! 7: NgDP deactivates a receiving system that fails every delivery for seven days,
//! `docs/design.md`, "Danish Digital Post through NgDP") is given up. Either way it stays
//! listed as refused with NgDP's reason and HTTP status (`dpost receipts list`,
//! `GET /api/v1/receipts`) until an operator re-queues it. Rows survive restarts; a
//! restarted worker carries on where it stopped.
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
use crate::ngdp::metrics::Metrics;
use crate::runtime::pool::InstancePool;
use crate::store::ngdp::{DueReceipt, ReceiptFailure, memo_deletion};

/// Receipts sent per round.
const BATCH: u32 = 32;
/// Longest wait between attempts for one receipt.
const MAX_BACKOFF_SECONDS: i64 = 3600;
/// How often the worker looks for due receipts when nothing wakes it.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// How long a sender holds a receipt it claimed, unless `[serve] claim_seconds` says otherwise:
/// longer than one POST can take (the client's time limit), so a live sender never loses it,
/// and short enough that a receipt a crashed sender held goes out again soon.
pub const CLAIM_SECONDS: i64 = 3 * super::client::DEFAULT_TIMEOUT.as_secs() as i64;

/// Claim `uuid`'s receipt for one send, for `seconds` (see [`CLAIM_SECONDS`]); false when
/// another sender (the worker, or a pull run in the same process) holds it.
pub async fn claim(
    store: &SharedStore,
    uuid: &str,
    now: i64,
    seconds: i64,
) -> anyhow::Result<bool> {
    let s = store.clone();
    let u = uuid.to_owned();
    Ok(tokio::task::spawn_blocking(move || {
        s.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .claim_receipt(&u, now, now + seconds)
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
    /// Try again later: no answer (`status` is `None`), 5xx, 408, 429, 401 or 403.
    Retry {
        /// Why, as a person reads it.
        reason: String,
        /// NgDP's HTTP status, when it answered.
        status: Option<u16>,
    },
    /// NgDP refused it for good.
    Rejected {
        /// NgDP's reason.
        reason: String,
        /// Its HTTP status.
        status: u16,
    },
}

/// Whether NgDP refusing a receipt with `status` is for good. 401 and 403 are not: they are
/// about the credentials (API token, function certificate), not the receipt, and once an
/// operator fixes them the same receipt goes through (NgDP OpenAPI document 1.68.0,
/// CreateReceipt: 401 and 403 without a body).
pub fn is_final(status: u16) -> bool {
    (400..500).contains(&status) && !matches!(status, 401 | 403 | 408 | 429)
}

/// What to record after `result` for `due` at `now`: `None` when it was sent; given up when
/// NgDP refused it for good or it has been tried for `give_up_after_seconds`.
pub fn failure(
    result: &SendResult,
    due: &DueReceipt,
    now: i64,
    give_up_after_seconds: i64,
) -> Option<ReceiptFailure> {
    match result {
        SendResult::Sent => None,
        SendResult::Rejected { reason, status } => Some(ReceiptFailure {
            reason: reason.clone(),
            http_status: Some(*status),
            next: now,
            give_up: true,
        }),
        SendResult::Retry { reason, status } => {
            let tried = now - due.queued_at;
            if tried >= give_up_after_seconds {
                Some(ReceiptFailure {
                    reason: format!(
                        "{reason} (given up after {} of retrying; `dpost receipts retry` queues it again)",
                        days(tried)
                    ),
                    http_status: *status,
                    next: now,
                    give_up: true,
                })
            } else {
                Some(ReceiptFailure {
                    reason: reason.clone(),
                    http_status: *status,
                    next: now + backoff_seconds(due.attempts + 1),
                    give_up: false,
                })
            }
        }
    }
}

/// A span of time as the give-up reason says it: days, else hours, else seconds.
fn days(seconds: i64) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match seconds {
        s if s >= 86_400 => plural(s / 86_400, "day"),
        s if s >= 3600 => plural(s / 3600, "hour"),
        s => plural(s, "second"),
    }
}

/// Log a failed attempt at the level it deserves and count it.
pub fn report(metrics: &Metrics, due: &DueReceipt, f: &ReceiptFailure) {
    metrics.receipts.failed(&due.system_id, f.http_status);
    let (uuid, system) = (&due.message_uuid, &due.system_id);
    // `network` when NgDP did not answer, as the failure metric's `cause` label says it.
    let status = f
        .http_status
        .map_or_else(|| "network".to_owned(), |s| s.to_string());
    if f.give_up {
        tracing::error!(%uuid, %system, %status, reason = %f.reason, "business receipt given up; it stays listed as refused until `dpost receipts retry`");
    } else if matches!(f.http_status, Some(401 | 403)) {
        tracing::warn!(%uuid, %system, %status, reason = %f.reason, attempts = due.attempts + 1,
            "NgDP refused the system's credentials (API token or function certificate); the business receipt is retried");
    } else {
        tracing::warn!(%uuid, %system, %status, reason = %f.reason, attempts = due.attempts + 1, "business receipt not sent; will retry");
    }
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
        Err(e) => SendResult::Retry {
            reason: crate::error_text::chain(&e),
            status: None,
        },
        Ok(r) if r.status().is_success() => SendResult::Sent,
        Ok(r) => {
            let status = r.status().as_u16();
            let body = r.text().await.unwrap_or_default();
            let reason = super::api_error::explain(pool, status, &body);
            if is_final(status) {
                SendResult::Rejected { reason, status }
            } else {
                SendResult::Retry {
                    reason,
                    status: Some(status),
                }
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

/// What the worker works with besides the store.
pub struct Outbox {
    /// The store.
    pub store: SharedStore,
    /// NgDP clients, by system.
    pub clients: BTreeMap<String, NgdpClient>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The component.
    pub pool: Arc<InstancePool>,
    /// Where failed attempts are counted.
    pub metrics: Arc<Metrics>,
    /// `[ngdp.receipts] give_up_after_days`, in seconds.
    pub give_up_after_seconds: i64,
    /// How long a receipt claimed for one send is held: `[serve] claim_seconds`, else
    /// [`CLAIM_SECONDS`].
    pub claim_seconds: i64,
}

/// One round: send every due receipt once. Returns how many were sent.
pub async fn drain_once(o: &Outbox) -> anyhow::Result<usize> {
    let (store, clock) = (&o.store, &o.clock);
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
        if !claim(store, &d.message_uuid, clock.now_unix(), o.claim_seconds).await? {
            continue;
        }
        let result = match o.clients.get(&d.system_id) {
            Some(client) => send(client, &o.pool, &d).await,
            None => SendResult::Retry {
                reason: format!(
                    "system {} is not configured in this environment",
                    d.system_id
                ),
                status: None,
            },
        };
        let s = store.clone();
        let now = clock.now_unix();
        let uuid = d.message_uuid.clone();
        let failed = failure(&result, &d, now, o.give_up_after_seconds);
        match &failed {
            None => {
                sent += 1;
                tracing::info!(uuid = %uuid, system = %d.system_id, "business receipt sent");
            }
            Some(f) => report(&o.metrics, &d, f),
        }
        let taken = failed.is_none();
        tokio::task::spawn_blocking(move || {
            let mut st = s.lock().unwrap_or_else(PoisonError::into_inner);
            match failed {
                None => st.receipt_sent(&uuid, now),
                Some(f) => st.receipt_failed(&uuid, &f),
            }
        })
        .await??;
        if taken
            && d.delete_memo_after
            && let Some(client) = o.clients.get(&d.system_id)
        {
            settle_deletion(store, client, &o.pool, &d.message_uuid).await?;
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
pub async fn run(outbox: Outbox, wake: Arc<Notify>) {
    loop {
        if let Err(e) = drain_once(&outbox).await {
            tracing::error!(error = %crate::error_text::of(&e), "the receipt outbox could not be read");
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

    fn due(attempts: u32, queued_at: i64) -> DueReceipt {
        DueReceipt {
            message_uuid: "m".into(),
            environment: "test".into(),
            system_id: "s".into(),
            receipt: "{}".into(),
            attempts,
            delete_memo_after: false,
            queued_at,
        }
    }

    #[test]
    fn credentials_refusals_are_retried_and_others_are_final() {
        for status in [401, 403, 408, 429, 500, 503] {
            assert!(!is_final(status), "{status}");
        }
        for status in [400, 404, 409, 422] {
            assert!(is_final(status), "{status}");
        }
    }

    #[test]
    fn a_refused_credential_is_retried_until_the_give_up_window_ends() {
        const WEEK: i64 = 7 * 86_400;
        let refused = SendResult::Retry {
            reason: "HTTP 401: Unauthorized".into(),
            status: Some(401),
        };
        let f = failure(&refused, &due(3, 1_000), 1_000 + WEEK - 1, WEEK).unwrap();
        assert!(!f.give_up);
        assert_eq!(f.next, 1_000 + WEEK - 1 + backoff_seconds(4));
        assert_eq!(f.http_status, Some(401));
        let f = failure(&refused, &due(40, 1_000), 1_000 + WEEK, WEEK).unwrap();
        assert!(f.give_up);
        assert!(
            f.reason.starts_with("HTTP 401: Unauthorized"),
            "{}",
            f.reason
        );
        assert!(f.reason.contains("7 days"), "{}", f.reason);
        let rejected = SendResult::Rejected {
            reason: "HTTP 422: bad".into(),
            status: 422,
        };
        assert!(failure(&rejected, &due(0, 0), 1, WEEK).unwrap().give_up);
        assert_eq!(failure(&SendResult::Sent, &due(0, 0), 1, WEEK), None);
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff_seconds(1), 2);
        assert_eq!(backoff_seconds(5), 32);
        assert_eq!(backoff_seconds(40), MAX_BACKOFF_SECONDS);
    }
}
