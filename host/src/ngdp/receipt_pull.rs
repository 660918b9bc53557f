//! Receipts waiting for a system, for the messages it sent: read, stored once, then deleted at
//! NgDP — in that order, so a receipt is never gone from NgDP before it is stored here.
//!
//! The calls, as NgDP's OpenAPI document 1.68.0 publishes them (`docs/ngdp-wire.md`):
//! - `GET receipts/?page=&size=` (ListAvailableReceipts) answers a `PagingResultUUID` of
//!   receipt **ids**; `GET receipts/{id}` (FetchReceipt) answers one `Receipt`;
//!   `DELETE receipts/{id}` (DeleteReceipt) with the listed id answers 204, or 404 with an
//!   `ErrorMessage` when the receipt is gone already.
//! - `GET receipts-bulk/?page=&size=` (BulkFetchReceipts) answers a `ReceiptSearchResult`:
//!   whole receipts, each with its own `id` to delete it by (not its `transmissionId`). Used
//!   when the system's `receipt_listing = "bulk"`; a 404 there (or a receipt without an id)
//!   falls back to the ids.
//!
//! `GET receipts/{id}?delete=true` would let NgDP forget the receipt before it is stored, so
//! dpost never asks for it. Storing is idempotent by NgDP's id: a receipt whose DELETE did not
//! take comes back in the next list and is not stored twice. A failed DELETE is reported in
//! the run's summary and the log.

use std::collections::BTreeSet;
use std::sync::{Arc, PoisonError};

use super::client::NgdpClient;
use super::pull::{MAX_PAGES, PullSummary, list_error, list_page, refused};
use super::receive::Receiving;
use crate::config::ngdp::ReceiptListing;
use crate::store::ngdp::ReceiptStored;

/// Read, store and delete every receipt waiting for `system_id`; what goes wrong is added to
/// `summary.failed` (the messages pulled before are not lost to an error here).
pub async fn pull_receipts(
    client: &NgdpClient,
    receiving: &Arc<Receiving>,
    system_id: &str,
    summary: &mut PullSummary,
) -> anyhow::Result<()> {
    let listing = receiving
        .settings
        .get()
        .system(system_id)
        .map(|s| s.receipt_listing)
        .unwrap_or_default();
    if listing == ReceiptListing::Bulk {
        match by_bulk(client, receiving, system_id, summary).await? {
            Bulk::Done => return Ok(()),
            Bulk::FallBack(why) => {
                tracing::info!(system = %system_id, reason = %why, "reading receipts by id instead of in bulk");
            }
        }
    }
    by_ids(client, receiving, system_id, summary).await
}

/// How the bulk pass ended.
enum Bulk {
    /// Every listed receipt handled (or the failure recorded).
    Done,
    /// The ids pass must run: bulk is absent (404), or a receipt had no id to delete it by.
    FallBack(String),
}

/// What storing one receipt came to.
enum Kept {
    /// Stored now, or before: NgDP may forget it.
    Stored,
    /// Not a receipt (not a JSON object): left at NgDP, reported.
    Unreadable(String),
}

/// Store one receipt's JSON under NgDP's `id` (when it has one).
async fn store_one(
    receiving: &Arc<Receiving>,
    system_id: &str,
    id: Option<&str>,
    text: String,
    summary: &mut PullSummary,
) -> anyhow::Result<Kept> {
    let parsed = receiving
        .pool
        .with(|i| i.call(|b, s| b.dpost_protocol_memo().call_parse_receipt(s, &text)))??;
    let receipt = match parsed {
        Ok(r) => r,
        Err(e) => {
            return Ok(Kept::Unreadable(format!(
                "not a receipt ({}); left at NgDP",
                super::api_error::receipt_error(&e)
            )));
        }
    };
    let shown = id
        .map(str::to_owned)
        .or_else(|| receipt.message_uuid.clone())
        .unwrap_or_else(|| "receipt".into());
    if !receipt.warnings.is_empty() {
        let warnings = receipt.warnings.join("; ");
        tracing::warn!(receipt = %shown, %warnings, "receipt stored with warnings");
        summary.receipt_warnings.push((shown, warnings));
    }
    let incoming = super::message_store::incoming_receipt(system_id, &receipt, text, id);
    let store = receiving.store.clone();
    let now = receiving.clock.now_unix();
    let stored = tokio::task::spawn_blocking(move || {
        store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .store_receipt(&incoming, now)
    })
    .await??;
    match stored {
        ReceiptStored::New { .. } => summary.receipts_stored += 1,
        ReceiptStored::Already => summary.receipts_already_stored += 1,
    }
    Ok(Kept::Stored)
}

/// `DELETE receipts/{id}`: true when NgDP no longer has it (204, or 404 gone already); a
/// failure goes to the summary and the log.
async fn delete_receipt(
    client: &NgdpClient,
    receiving: &Arc<Receiving>,
    id: &str,
    summary: &mut PullSummary,
) -> bool {
    let response = client
        .request(reqwest::Method::DELETE, &format!("receipts/{id}"))
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await;
    let why = match response {
        Ok(r) if r.status().is_success() => {
            summary.receipts_deleted += 1;
            return true;
        }
        Ok(r) if r.status().as_u16() == 404 => {
            tracing::info!(receipt = %id, "the receipt was gone from NgDP already");
            summary.receipts_deleted += 1;
            return true;
        }
        Ok(r) => refused(receiving, r).await,
        Err(e) => e.to_string(),
    };
    let why = format!("stored, but DELETE receipts/{id} failed: {why}; NgDP lists it again");
    tracing::warn!(receipt = %id, error = %why, "receipt not deleted at NgDP");
    summary.failed.push((id.to_owned(), why));
    false
}

/// The next page to read after one that deleted nothing, or `None` when there is none.
fn next_page(page: u32, next: Option<u32>, total: Option<u32>) -> Option<u32> {
    let next = next.filter(|n| *n > page).unwrap_or(page + 1);
    (total.is_none_or(|t| next < t)).then_some(next)
}

async fn by_ids(
    client: &NgdpClient,
    receiving: &Arc<Receiving>,
    system_id: &str,
    summary: &mut PullSummary,
) -> anyhow::Result<()> {
    let mut handled: BTreeSet<String> = BTreeSet::new();
    let mut page = 0u32;
    for _ in 0..MAX_PAGES {
        let response = list_page(client, "receipts/", page).await;
        let response = match response {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => {
                let why = refused(receiving, r).await;
                summary
                    .failed
                    .push(("receipts".into(), format!("listing receipts: {why}")));
                return Ok(());
            }
            Err(e) => {
                summary
                    .failed
                    .push(("receipts".into(), format!("listing receipts: {e}")));
                return Ok(());
            }
        };
        let body = response.text().await.unwrap_or_default();
        let listed = match receiving
            .pool
            .with(|i| i.call(|b, s| b.dpost_protocol_ngdp().call_parse_id_page(s, &body)))??
        {
            Ok(p) => p,
            Err(e) => {
                summary.failed.push((
                    "receipts".into(),
                    format!("the receipt list cannot be read: {}", list_error(&e)),
                ));
                return Ok(());
            }
        };
        if listed.ids.is_empty() {
            break;
        }
        let mut progressed = false;
        for id in listed.ids {
            if !handled.insert(id.to_ascii_lowercase()) {
                continue;
            }
            let fetched = client
                .request(reqwest::Method::GET, &format!("receipts/{id}"))
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await;
            let text = match fetched {
                Ok(r) if r.status().is_success() => match r.text().await {
                    Ok(t) => t,
                    Err(e) => {
                        summary
                            .failed
                            .push((id, format!("fetching the receipt broke off: {e}")));
                        continue;
                    }
                },
                Ok(r) => {
                    let why = refused(receiving, r).await;
                    summary
                        .failed
                        .push((id, format!("fetching the receipt: {why}")));
                    continue;
                }
                Err(e) => {
                    summary
                        .failed
                        .push((id, format!("fetching the receipt: {e}")));
                    continue;
                }
            };
            match store_one(receiving, system_id, Some(&id), text, summary).await? {
                Kept::Stored => progressed |= delete_receipt(client, receiving, &id, summary).await,
                Kept::Unreadable(why) => summary.failed.push((id, why)),
            }
        }
        // Deleted receipts leave the list, so the same page fills up again.
        if !progressed {
            match next_page(page, listed.next_page, listed.total_pages) {
                Some(n) => page = n,
                None => break,
            }
        }
    }
    Ok(())
}

async fn by_bulk(
    client: &NgdpClient,
    receiving: &Arc<Receiving>,
    system_id: &str,
    summary: &mut PullSummary,
) -> anyhow::Result<Bulk> {
    let mut handled: BTreeSet<String> = BTreeSet::new();
    let mut without_id = 0u32;
    let mut page = 0u32;
    for _ in 0..MAX_PAGES {
        let response = list_page(client, "receipts-bulk/", page).await;
        let response = match response {
            Ok(r) if r.status().is_success() => r,
            Ok(r) if r.status().as_u16() == 404 && page == 0 => {
                return Ok(Bulk::FallBack(format!(
                    "GET receipts-bulk/: {}",
                    refused(receiving, r).await
                )));
            }
            Ok(r) => {
                let why = refused(receiving, r).await;
                summary
                    .failed
                    .push(("receipts".into(), format!("GET receipts-bulk/: {why}")));
                return Ok(Bulk::Done);
            }
            Err(e) => {
                summary
                    .failed
                    .push(("receipts".into(), format!("GET receipts-bulk/: {e}")));
                return Ok(Bulk::Done);
            }
        };
        let body = response.text().await.unwrap_or_default();
        let listed = match receiving
            .pool
            .with(|i| i.call(|b, s| b.dpost_protocol_ngdp().call_parse_bulk_receipts(s, &body)))??
        {
            Ok(p) => p,
            Err(e) => {
                summary.failed.push((
                    "receipts".into(),
                    format!("the bulk receipt page cannot be read: {}", list_error(&e)),
                ));
                return Ok(Bulk::Done);
            }
        };
        if listed.receipts.is_empty() {
            break;
        }
        let mut progressed = false;
        for r in listed.receipts {
            let Some(id) = r.id else {
                // Not stored here: without its id it could not be deleted, and the ids pass
                // that follows reads it under the id NgDP lists it by.
                without_id += 1;
                continue;
            };
            if !handled.insert(id.to_ascii_lowercase()) {
                continue;
            }
            match store_one(receiving, system_id, Some(&id), r.json, summary).await? {
                Kept::Stored => progressed |= delete_receipt(client, receiving, &id, summary).await,
                Kept::Unreadable(why) => summary.failed.push((id, why)),
            }
        }
        if !progressed {
            let current = listed.current_page.unwrap_or(page);
            match next_page(current, None, listed.total_pages) {
                Some(n) => page = n,
                None => break,
            }
        }
    }
    Ok(if without_id > 0 {
        Bulk::FallBack(format!(
            "{without_id} bulk receipt(s) carried no id to delete them by"
        ))
    } else {
        Bulk::Done
    })
}
