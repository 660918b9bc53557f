//! Outgoing messages: sent and queued, with their status, why one failed, and the receipts
//! NgDP sent for each (`store::outgoing`, `store::ngdp`, as the API lists them).

use std::sync::Arc;

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::access;
use super::{ConsoleState, Page, html, query_pairs, when};

/// Rows on a page.
pub const PAGE_SIZE: u32 = 50;

/// An outgoing message as listed.
pub struct Row {
    /// messageUUID.
    pub uuid: String,
    /// queued | sending | sent | failed.
    pub status: String,
    /// The system it goes from.
    pub system: String,
    /// Attempts.
    pub attempts: u32,
    /// Why it failed, or the last error.
    pub reason: String,
    /// Receipts NgDP sent for it, in words.
    pub receipts: String,
    /// Submitted.
    pub created: String,
    /// Last changed.
    pub updated: String,
}

/// The outgoing page.
#[derive(Template)]
#[template(path = "console/outgoing.html")]
pub struct OutgoingPage {
    /// The layout.
    pub page: Page,
    /// The status filter.
    pub status: String,
    /// The rows.
    pub rows: Vec<Row>,
    /// The next page.
    pub next: Option<String>,
}

/// `GET /outgoing?status=…&after=…`.
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
    if !["", "queued", "sending", "sent", "failed"].contains(&status.as_str()) {
        return who.error(
            StatusCode::BAD_REQUEST,
            format!(
                "{}: {status:?} (queued, sending, sent, failed)",
                lang.t("status")
            ),
        );
    }
    let after = q
        .get("after")
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    let filter = (!status.is_empty()).then(|| status.clone());
    let loaded = super::store(&s, lang, move |st| {
        let list = st.outgoing_list(after, PAGE_SIZE + 1, filter.as_deref(), None)?;
        let mut out = Vec::with_capacity(list.len());
        for o in list {
            let receipts = st.ngdp_receipts_for(&o.uuid)?;
            out.push((o, receipts));
        }
        Ok(out)
    })
    .await;
    let mut list = match loaded {
        Ok(l) => l,
        Err(r) => return r,
    };
    let next = (list.len() > PAGE_SIZE as usize).then(|| {
        list.truncate(PAGE_SIZE as usize);
        let mut q = form_urlencoded::Serializer::new(String::new());
        if !status.is_empty() {
            q.append_pair("status", &status);
        }
        q.append_pair("after", &list.last().map_or(0, |(o, _)| o.seq).to_string());
        format!("/outgoing?{}", q.finish())
    });
    let rows = list
        .into_iter()
        .map(|(o, receipts)| Row {
            receipts: receipts
                .iter()
                .map(|r| {
                    let r = &r["receipt"];
                    let status = r["receiptStatus"].as_str().unwrap_or("?");
                    match r["errorMessage"].as_str() {
                        Some(m) => format!("{status}: {m}"),
                        None => status.to_owned(),
                    }
                })
                .collect::<Vec<_>>()
                .join("; "),
            uuid: o.uuid,
            status: o.status,
            system: o.system_id,
            attempts: o.attempts,
            reason: o.reason.unwrap_or_default(),
            created: when(o.created_at),
            updated: when(o.updated_at),
        })
        .collect();
    html(
        StatusCode::OK,
        &OutgoingPage {
            page: who.page(&s, "outgoing", lang.t("sent_queued")),
            status,
            rows,
            next,
        },
    )
}
