//! Pull mode (REST_PULL): fetch waiting messages from NgDP instead of being pushed to.
//!
//! For each message: `GET memos/{id}` streamed into the store (the same pipeline as a push),
//! then the business receipt (`POST memos/{id}/receipt`), then `DELETE memos/{id}`. The delete
//! comes last so a crash anywhere before it leaves the message at NgDP to fetch again, and a
//! message stored before is not stored twice.

use std::collections::BTreeSet;
use std::io;
use std::sync::{Arc, PoisonError};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use futures_util::StreamExt as _;
use tokio::sync::mpsc;

use super::client::NgdpClient;
use super::outbox::{SendResult, send};
use super::receive::{Receiving, Via};

/// Messages asked for per page.
pub const PAGE_SIZE: u32 = 50;
/// Pages read in one run at most, so a run always ends.
const MAX_PAGES: u32 = 10_000;

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
    /// Messages that failed (left at NgDP for the next run), with why.
    pub failed: Vec<(String, String)>,
    /// Receipts for messages we sent, fetched and stored (then deleted at NgDP).
    pub receipts_stored: u64,
}

async fn fetch_into_store(
    client: &NgdpClient,
    receiving: &Arc<Receiving>,
    system_id: &str,
    id: &str,
) -> anyhow::Result<()> {
    let response = client
        .request(reqwest::Method::GET, &format!("memos/{id}"))
        .send()
        .await?;
    let status = response.status();
    if !status.is_success() {
        bail!("GET memos/{id} answered HTTP {status}");
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

/// Pull every waiting message for one system.
pub async fn pull_once(
    client: &NgdpClient,
    receiving: &Arc<Receiving>,
    system_id: &str,
) -> anyhow::Result<PullSummary> {
    let mut summary = PullSummary::default();
    let mut given_up: BTreeSet<String> = BTreeSet::new();
    let mut page = 0u32;
    for _ in 0..MAX_PAGES {
        let response = client
            .request(
                reqwest::Method::GET,
                &format!("memos/?page={page}&size={PAGE_SIZE}"),
            )
            .send()
            .await
            .context("listing waiting messages")?;
        let status = response.status();
        if !status.is_success() {
            bail!("listing waiting messages answered HTTP {status}");
        }
        let body = response.text().await.context("reading the message list")?;
        // The component reads the list and vouches that every id is safe in a URL path.
        let listed = receiving
            .pool
            .with(|i| i.call(|b, s| b.dpost_protocol_ngdp().call_parse_memo_list(s, &body)))??
            .map_err(|e| anyhow::anyhow!("the message list cannot be read: {e:?}"))?;
        if listed.is_empty() {
            break;
        }
        summary.listed += listed.len() as u64;
        let mut progressed = false;
        for id in listed {
            if given_up.contains(&id) {
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
                summary.failed.push((id.clone(), format!("{e:#}")));
                given_up.insert(id);
                continue;
            } else {
                summary.stored += 1;
            }
            // The receipt the store holds for this message, sent now rather than by the
            // outbox, so that the delete below comes after it.
            let store = receiving.store.clone();
            let now = receiving.clock.now_unix();
            let due = tokio::task::spawn_blocking(move || {
                store
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .due_receipts(now, u32::MAX)
            })
            .await??;
            if let Some(d) = due
                .into_iter()
                .find(|d| d.message_uuid == id.to_ascii_lowercase())
            {
                let result = send(client, &d).await;
                let store = receiving.store.clone();
                let uuid = d.message_uuid.clone();
                let sent = result == SendResult::Sent;
                tokio::task::spawn_blocking(move || {
                    let mut st = store.lock().unwrap_or_else(PoisonError::into_inner);
                    match result {
                        SendResult::Sent => st.receipt_sent(&uuid, now),
                        SendResult::Retry(e) => st.receipt_failed(
                            &uuid,
                            &e,
                            now + super::outbox::backoff_seconds(d.attempts + 1),
                            false,
                        ),
                        SendResult::Rejected(e) => st.receipt_failed(&uuid, &e, now, true),
                    }
                })
                .await??;
                if sent {
                    summary.receipts_sent += 1;
                }
            }
            let deleted = client
                .request(reqwest::Method::DELETE, &format!("memos/{id}"))
                .send()
                .await;
            match deleted {
                Ok(r) if r.status().is_success() || r.status().as_u16() == 404 => {
                    summary.deleted += 1;
                    progressed = true;
                }
                Ok(r) => {
                    summary
                        .failed
                        .push((id.clone(), format!("DELETE answered HTTP {}", r.status())));
                    given_up.insert(id);
                }
                Err(e) => {
                    summary
                        .failed
                        .push((id.clone(), format!("DELETE failed: {e}")));
                    given_up.insert(id);
                }
            }
        }
        // Deleted messages leave the list, so the first page fills up again; only when a
        // whole page was left behind does the next page hold anything new.
        if !progressed {
            page += 1;
        }
    }
    pull_receipts(client, receiving, system_id, &mut summary).await?;
    Ok(summary)
}

/// Receipts for messages a pull-mode system sent: `GET receipts/`, each stored (linked to its
/// sent message when known), then `DELETE receipts/{transmissionId}`. The list is read as
/// `{"receipts": [...]}` or a bare array of receipt objects; each object is judged by the
/// component's receipt parser.
pub async fn pull_receipts(
    client: &NgdpClient,
    receiving: &Arc<Receiving>,
    system_id: &str,
    summary: &mut PullSummary,
) -> anyhow::Result<()> {
    let response = client
        .request(reqwest::Method::GET, "receipts/")
        .send()
        .await
        .context("listing receipts")?;
    let status = response.status();
    if status.as_u16() == 404 {
        // An NgDP without the receipts list for this system: nothing to fetch.
        return Ok(());
    }
    if !status.is_success() {
        bail!("listing receipts answered HTTP {status}");
    }
    let body: serde_json::Value = response
        .json()
        .await
        .context("the receipt list is not JSON")?;
    let items = match &body {
        serde_json::Value::Array(a) => a.clone(),
        serde_json::Value::Object(o) => match o.get("receipts") {
            Some(serde_json::Value::Array(a)) => a.clone(),
            _ => bail!("the receipt list has no receipts array"),
        },
        _ => bail!("the receipt list is neither an array nor an object"),
    };
    for item in items {
        let text = item.to_string();
        let parsed = receiving
            .pool
            .with(|i| i.call(|b, s| b.dpost_protocol_memo().call_parse_receipt(s, &text)))??;
        let receipt = match parsed {
            Ok(r) => r,
            Err(e) => {
                summary.failed.push((
                    text.chars().take(80).collect(),
                    format!("not a receipt: {e:?}"),
                ));
                continue;
            }
        };
        let id = receipt
            .transmission_id
            .clone()
            .unwrap_or_else(|| receipt.message_uuid.clone());
        if id.is_empty()
            || id.len() > 64
            || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            summary
                .failed
                .push((id, "the receipt's id cannot be put in a URL".into()));
            continue;
        }
        let incoming = crate::ngdp::message_store::incoming_receipt(system_id, &receipt, text);
        let store = receiving.store.clone();
        let now = receiving.clock.now_unix();
        tokio::task::spawn_blocking(move || {
            store
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert_receipt(&incoming, now)
        })
        .await??;
        summary.receipts_stored += 1;
        // Stored (and committed) first; only then may NgDP forget it.
        let deleted = client
            .request(reqwest::Method::DELETE, &format!("receipts/{id}"))
            .send()
            .await;
        if let Err(e) = deleted {
            summary
                .failed
                .push((id, format!("DELETE receipts failed: {e}")));
        }
    }
    Ok(())
}
