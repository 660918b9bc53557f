//! Pull mode (REST_PULL): fetch waiting messages from NgDP instead of being pushed to.
//!
//! The calls, as NgDP's OpenAPI document 1.68.0 publishes them (`docs/ngdp-wire.md`):
//! `GET memos/?page=&size=` (ListAvailableMemos, Accept `application/json`) answers a
//! `PagingResultUUID` of message ids; `GET memos/{id}` (FetchMemo, Accept `application/xml`)
//! the MeMo; `POST memos/{id}/receipt` (CreateReceipt) takes the business receipt;
//! `DELETE memos/{id}` (DeleteMemo) removes the message.
//!
//! For each message: fetched and streamed into the store (the same pipeline as a push), then
//! its business receipt, then the DELETE — and the DELETE only once NgDP has taken the
//! receipt. When the receipt cannot be sent now, the message stays at NgDP, the deletion is
//! recorded as owed, and the outbox sends it right after the receipt goes through (or the next
//! pull run does). A crash anywhere leaves the message at NgDP to list again; a message stored
//! before is not stored twice.

use std::collections::BTreeSet;
use std::io;
use std::sync::{Arc, PoisonError};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use futures_util::StreamExt as _;
use tokio::sync::mpsc;

use super::client::NgdpClient;
use super::outbox::{Deletion, send, settle_deletion};
use super::receipt_metrics::ReceiptMetrics;
use super::receive::{Receiving, Via};
use crate::store::ngdp::memo_deletion;

/// Messages asked for per page.
pub const PAGE_SIZE: u32 = 50;
/// Pages read in one run at most, so a run always ends.
pub const MAX_PAGES: u32 = 10_000;

/// How long a pull run holds its system's lease (see [`lease_name`]), renewed every third of
/// it while it runs: a process that dies mid-run holds up its system's pulls no longer than
/// this.
pub const LEASE_SECONDS: i64 = 90;

/// The lease a pull run of `system` holds ([`crate::leased`]): of several `dpost serve`
/// replicas on one store, and a `dpost ngdp pull` beside them, one pulls a system at a time.
pub fn lease_name(system: &str) -> String {
    format!("pull:{system}")
}

/// What one pull run did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct PullSummary {
    /// Ids NgDP listed.
    pub listed: u64,
    /// Messages stored now.
    pub stored: u64,
    /// Listed messages stored before.
    pub already_stored: u64,
    /// Business receipts sent.
    pub receipts_sent: u64,
    /// Messages deleted at NgDP.
    pub deleted: u64,
    /// Messages left at NgDP because their business receipt is not taken yet; each is deleted
    /// after its receipt goes through.
    pub deletion_owed: u64,
    /// Messages and receipts that failed (left at NgDP for the next run), with why.
    pub failed: Vec<(String, String)>,
    /// Receipts for messages we sent, fetched and stored now (then deleted at NgDP).
    pub receipts_stored: u64,
    /// Receipts NgDP listed again that were stored before (a DELETE that did not take).
    pub receipts_already_stored: u64,
    /// Receipts deleted at NgDP.
    pub receipts_deleted: u64,
    /// Receipts stored with warnings (a field missing or odd), with the warnings.
    pub receipt_warnings: Vec<(String, String)>,
}

/// An answer that is not a success, as a person reads it (NgDP's `ErrorMessage` when the body
/// is one).
pub(crate) async fn refused(receiving: &Receiving, response: reqwest::Response) -> String {
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    super::api_error::explain(&receiving.pool, status, &body)
}

/// One page of a list (`memos/`, `receipts/`, `receipts-bulk/`): `?page=<n>&size=50`, JSON.
pub(crate) async fn list_page(
    client: &NgdpClient,
    list: &str,
    page: u32,
) -> reqwest::Result<reqwest::Response> {
    client
        .request(
            reqwest::Method::GET,
            &format!("{list}?page={page}&size={PAGE_SIZE}"),
        )
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
}

/// The component's reason for refusing a list, for a person.
pub(crate) fn list_error(e: &crate::bindings::ngdp_wit::ListError) -> String {
    use crate::bindings::ngdp_wit::ListError;
    match e {
        ListError::NotJson(m) => format!("not JSON: {m}"),
        ListError::NoList => "no list of ids in it (NgDP publishes {\"content\": [...]})".into(),
        ListError::BadItem(i) => format!("an item is not a usable id: {i}"),
    }
}

async fn fetch_into_store(
    client: &NgdpClient,
    receiving: &Arc<Receiving>,
    system_id: &str,
    id: &str,
) -> anyhow::Result<()> {
    let response = client
        .request(reqwest::Method::GET, &format!("memos/{id}"))
        .header(reqwest::header::ACCEPT, "application/xml")
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("GET memos/{id}: {}", refused(receiving, response).await);
    }
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(8);
    let r = receiving.clone();
    let system = system_id.to_owned();
    let work =
        tokio::task::spawn_blocking(move || r.receive(&system, Via::Pull, super::push_reader(rx)));
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        if tx.send(chunk.map_err(io::Error::other)).await.is_err() {
            break;
        }
    }
    drop(tx);
    let received = work.await??;
    if received.uuid != id.to_ascii_lowercase() {
        tracing::warn!(listed = %id, inside = %received.uuid, "the fetched message carries another messageUUID");
    }
    Ok(())
}

/// What became of one stored message's receipt and deletion.
enum Settled {
    /// Deleted at NgDP (or found gone).
    Deleted,
    /// Left at NgDP: its receipt is not taken yet, the deletion recorded as owed.
    Owed(String),
    /// Left at NgDP for another reason, shown.
    Kept(String),
}

/// The business receipt for a stored message, then its deletion: sent now when it is still
/// owed; deleted only when NgDP has taken it.
async fn settle(
    client: &NgdpClient,
    receiving: &Arc<Receiving>,
    id: &str,
    summary: &mut PullSummary,
    metrics: Option<&ReceiptMetrics>,
) -> anyhow::Result<Settled> {
    let store = receiving.store.clone();
    let lookup = id.to_owned();
    let state = tokio::task::spawn_blocking(move || {
        store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .outbox_state(&lookup)
    })
    .await??;
    if let Some(state) = state {
        match state.status.as_str() {
            "sent" => {}
            "rejected" => {
                return Ok(Settled::Kept(format!(
                    "NgDP refused its business receipt ({}); the message stays at NgDP",
                    state.last_error.as_deref().unwrap_or("no reason recorded")
                )));
            }
            // A pull run holds its system's lease; its own receipt claims keep the default.
            _ if !super::outbox::claim(
                &receiving.store,
                id,
                receiving.clock.now_unix(),
                super::outbox::CLAIM_SECONDS,
            )
            .await? =>
            {
                // The outbox is sending it right now; the deletion follows its answer.
                let store = receiving.store.clone();
                let uuid = id.to_owned();
                tokio::task::spawn_blocking(move || {
                    store
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .set_memo_deletion(&uuid, memo_deletion::OWED)
                })
                .await??;
                return Ok(Settled::Owed(
                    "its business receipt is being sent by the outbox; the message stays at NgDP and is deleted after the receipt goes through".into(),
                ));
            }
            _ => {
                let due = state.receipt;
                let result = send(client, &receiving.pool, &due).await;
                let store = receiving.store.clone();
                let now = receiving.clock.now_unix();
                let uuid = due.message_uuid.clone();
                let give_up = receiving.settings.get().receipt_give_up_after_seconds;
                let failed = super::outbox::failure(&result, &due, now, give_up);
                let outcome = failed.clone();
                tokio::task::spawn_blocking(move || {
                    let mut st = store.lock().unwrap_or_else(PoisonError::into_inner);
                    match outcome {
                        None => st.receipt_sent(&uuid, now),
                        Some(f) if !f.give_up => {
                            st.receipt_failed(&uuid, &f)?;
                            st.set_memo_deletion(&uuid, memo_deletion::OWED)
                        }
                        Some(f) => st.receipt_failed(&uuid, &f),
                    }
                })
                .await??;
                // Counted like the outbox's attempts: an alert on failures must not miss
                // the receipts a pull run sends itself.
                if let (Some(m), Some(f)) = (metrics, failed.as_ref()) {
                    m.failed(&due.system_id, f.http_status);
                }
                match failed {
                    None => {
                        // The outbox's line for the same event, so a log search finds both.
                        tracing::info!(uuid = %id, system = %due.system_id, "business receipt sent");
                        summary.receipts_sent += 1;
                    }
                    Some(f) if !f.give_up => {
                        tracing::warn!(uuid = %id, status = %f.http_status.map_or_else(|| "network".to_owned(), |s| s.to_string()), reason = %f.reason, "business receipt not sent; the message stays at NgDP until it is");
                        return Ok(Settled::Owed(format!(
                            "its business receipt was not taken yet ({}); the message stays at NgDP and is deleted after the receipt goes through",
                            f.reason
                        )));
                    }
                    Some(f) => {
                        tracing::error!(uuid = %id, reason = %f.reason, "NgDP refused the business receipt");
                        return Ok(Settled::Kept(format!(
                            "NgDP refused its business receipt ({}); the message stays at NgDP",
                            f.reason
                        )));
                    }
                }
            }
        }
    }
    Ok(
        match settle_deletion(&receiving.store, client, &receiving.pool, id).await? {
            Deletion::Gone => Settled::Deleted,
            Deletion::Failed(e) => Settled::Kept(e),
        },
    )
}

/// Pull every waiting message for one system, then the receipts waiting for it. Failed
/// business receipts are counted in `metrics` when there are any (`serve`'s, not a one-off
/// `dpost ngdp pull`, which has no `/metrics`).
pub async fn pull_once(
    client: &NgdpClient,
    receiving: &Arc<Receiving>,
    system_id: &str,
    metrics: Option<&ReceiptMetrics>,
) -> anyhow::Result<PullSummary> {
    let mut summary = PullSummary::default();
    // Ids handled in this run: a page holding only these has nothing new.
    let mut handled: BTreeSet<String> = BTreeSet::new();
    let mut page = 0u32;
    for _ in 0..MAX_PAGES {
        let response = list_page(client, "memos/", page)
            .await
            .context("listing waiting messages")?;
        if !response.status().is_success() {
            bail!(
                "listing waiting messages: {}",
                refused(receiving, response).await
            );
        }
        let body = response.text().await.context("reading the message list")?;
        // The component reads the list and vouches that every id is safe in a URL path.
        let listed = receiving
            .pool
            .with(|i| i.call(|b, s| b.dpost_protocol_ngdp().call_parse_id_page(s, &body)))??
            .map_err(|e| anyhow::anyhow!("the message list cannot be read: {}", list_error(&e)))?;
        if listed.ids.is_empty() {
            break;
        }
        summary.listed += listed.ids.len() as u64;
        let mut progressed = false;
        for id in listed.ids {
            if !handled.insert(id.to_ascii_lowercase()) {
                continue;
            }
            let store = receiving.store.clone();
            let lookup = id.clone();
            let known = tokio::task::spawn_blocking(move || {
                store
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .has_message(&lookup)
            })
            .await??;
            if known {
                summary.already_stored += 1;
            } else if let Err(e) = fetch_into_store(client, receiving, system_id, &id).await {
                summary.failed.push((id.clone(), crate::error_text::of(&e)));
                continue;
            } else {
                summary.stored += 1;
            }
            match settle(client, receiving, &id, &mut summary, metrics).await? {
                Settled::Deleted => {
                    summary.deleted += 1;
                    progressed = true;
                }
                Settled::Owed(why) => {
                    summary.deletion_owed += 1;
                    summary.failed.push((id, why));
                }
                Settled::Kept(why) => summary.failed.push((id, why)),
            }
        }
        // Deleted messages leave the list, so the same page fills up again; only when a whole
        // page was left behind does the next page hold anything new.
        if !progressed {
            page = listed.next_page.filter(|n| *n > page).unwrap_or(page + 1);
            if listed.total_pages.is_some_and(|t| page >= t) {
                break;
            }
        }
    }
    super::receipt_pull::pull_receipts(client, receiving, system_id, &mut summary).await?;
    Ok(summary)
}
