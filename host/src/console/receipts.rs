//! Receipts both ways: the business receipts dpost owes NgDP for messages it received
//! (pending, sent, or refused with NgDP's reason, and a button to retry a refused one), and
//! the receipts NgDP sent for messages the organisation sent. Paged by each table's own
//! order, as the API pages them (`store::receipts`).

use std::sync::Arc;

use askama::Template;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::access;
use super::{ConsoleState, Page, html, query_pairs, when, when_opt};
use crate::config::console::Role;

/// Rows on a page.
pub const PAGE_SIZE: u32 = 50;

/// An owed receipt as listed.
pub struct OwedRow {
    /// The received message.
    pub uuid: String,
    /// pending | sent | rejected.
    pub status: String,
    /// Attempts.
    pub attempts: u32,
    /// NgDP's reason or the last error.
    pub reason: String,
    /// When NgDP took it.
    pub sent: String,
    /// Refused: it can be retried.
    pub refused: bool,
}

/// A received receipt as listed.
pub struct ReceivedRow {
    /// The sent message.
    pub uuid: String,
    /// receiptStatus.
    pub status: String,
    /// errorCode and errorMessage.
    pub error: String,
    /// When it came.
    pub received: String,
}

/// The receipts page.
#[derive(Template)]
#[template(path = "console/receipts.html")]
pub struct ReceiptsPage {
    /// The layout.
    pub page: Page,
    /// The status filter.
    pub status: String,
    /// Owed receipts.
    pub owed: Vec<OwedRow>,
    /// The next page of owed receipts.
    pub owed_next: Option<String>,
    /// Received receipts.
    pub received: Vec<ReceivedRow>,
    /// The next page of received receipts.
    pub received_next: Option<String>,
}

/// Whether an owed receipt's status is NgDP's refusal (`rejected`; `refused` as issue 16
/// names it).
pub fn is_refused(status: &str) -> bool {
    status == "rejected" || status == "refused"
}

/// `GET /receipts?status=…&owed_after=…&received_after=…`.
pub async fn page(
    State(s): State<Arc<ConsoleState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let who = match access::viewer(&s, &headers) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let lang = who.lang;
    let q = query_pairs(query.as_deref());
    let status = q.get("status").cloned().unwrap_or_default();
    if !["", "pending", "sent", "rejected", "refused"].contains(&status.as_str()) {
        return who.error(
            StatusCode::BAD_REQUEST,
            format!("{}: {status:?} (pending, sent, rejected)", lang.t("status")),
        );
    }
    let after = |k: &str| q.get(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    let (owed_after, received_after) = (after("owed_after"), after("received_after"));
    let filter = (!status.is_empty()).then(|| status.clone());
    let loaded = super::store(&s, lang, move |st| {
        Ok((
            st.receipts_owed(owed_after, PAGE_SIZE + 1, filter.as_deref(), None)?,
            st.receipts_received(received_after, PAGE_SIZE + 1)?,
        ))
    })
    .await;
    let (mut owed, mut received) = match loaded {
        Ok(x) => x,
        Err(r) => return r,
    };
    let link = |owed: i64, received: i64| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if !status.is_empty() {
            q.append_pair("status", &status);
        }
        q.append_pair("owed_after", &owed.to_string());
        q.append_pair("received_after", &received.to_string());
        format!("/receipts?{}", q.finish())
    };
    let owed_next = (owed.len() > PAGE_SIZE as usize).then(|| {
        owed.truncate(PAGE_SIZE as usize);
        link(owed.last().map_or(0, |o| o.position), received_after)
    });
    let received_next = (received.len() > PAGE_SIZE as usize).then(|| {
        received.truncate(PAGE_SIZE as usize);
        link(owed_after, received.last().map_or(0, |r| r.id))
    });
    let view = ReceiptsPage {
        page: who.page(&s, "receipts", lang.t("receipts")),
        status: status.clone(),
        owed: owed
            .into_iter()
            .map(|o| OwedRow {
                refused: is_refused(&o.status),
                uuid: o.message_uuid,
                status: o.status,
                attempts: o.attempts,
                reason: o.last_error.unwrap_or_default(),
                sent: when_opt(o.sent_at, lang),
            })
            .collect(),
        owed_next,
        received: received
            .into_iter()
            .map(|r| ReceivedRow {
                uuid: r.message_uuid,
                status: r.receipt_status,
                error: [r.error_code, r.error_message]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(": "),
                received: when(r.received_at),
            })
            .collect(),
        received_next,
    };
    html(StatusCode::OK, &view)
}

/// `POST /receipts/{uuid}/retry` (operator): queue a refused business receipt again; the
/// outbox sends it on its next round. Recorded in the audit log in the same transaction.
pub async fn retry(
    State(s): State<Arc<ConsoleState>>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
    body: Body,
) -> Response {
    let (who, form) = match access::act(&s, &headers, body, Role::Operator).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (id, actor, now) = (uuid.clone(), who.actor(), s.api.clock.now_unix());
    let done = super::store(&s, who.lang, move |st| {
        st.in_transaction(|st| {
            let Some(owed) = st.receipt_owed(&id, None)? else {
                return Ok(None);
            };
            let requeued = st.receipt_requeue(&id, now)?;
            if requeued {
                st.console_audit(
                    now,
                    &actor,
                    "retry-receipt",
                    &owed.message_uuid,
                    &serde_json::json!({ "previousError": owed.last_error }),
                )?;
            }
            Ok(Some((requeued, owed.status)))
        })
    })
    .await;
    match done {
        Ok(Some((true, _))) => {
            tracing::info!(uuid = %uuid, by = %who.actor(), "console: refused business receipt queued again");
            let to = if form.get("back").map(String::as_str) == Some("receipts") {
                "/receipts?status=pending".to_owned()
            } else {
                format!("/messages/{uuid}?done=retry")
            };
            Redirect::to(&to).into_response()
        }
        Ok(Some((false, status))) => who.error(
            StatusCode::CONFLICT,
            format!("{uuid}: {status}; only a refused business receipt is retried"),
        ),
        Ok(None) => who.error(
            StatusCode::NOT_FOUND,
            format!("{} {uuid}", who.lang.t("no_receipt")),
        ),
        Err(r) => r,
    }
}
