//! `/api/v1/receipts`: receipts both ways. `owed`: the business receipts dpost owes NgDP for
//! messages it received (pending, sent, or refused by NgDP with its reason; a refused one can
//! be queued again). `received`: the receipts NgDP sent for messages the organisation sent.
//!
//! The list pages both kinds with one opaque cursor holding a place in each (their tables
//! are paged by insertion order), so going on from a cursor neither misses nor repeats one.
//! A client restricted to mailboxes sees the owed receipts of its mailboxes' messages only,
//! and no received ones (they belong to sent messages, which are in no mailbox).

use std::sync::Arc;

use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Caller;
use super::messages::time;
use super::problem::{Problem, ProblemDetails};
use super::{ApiState, with_store};
use crate::config::api::Scope;
use crate::store::receipts::{OwedReceipt, ReceivedReceipt};

/// Receipts in a page when `limit` is not given.
const DEFAULT_LIMIT: u32 = 100;

/// A receipt, either way.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptEntry {
    /// `owed`: the messageUUID of the received message it is for (what `retry` takes);
    /// `received`: a number.
    pub id: String,
    /// owed (dpost sends it to NgDP) or received (NgDP sent it to dpost).
    pub direction: String,
    /// owed: pending, sent, or refused; received: received.
    pub state: String,
    /// The message it is for.
    pub message_uuid: String,
    /// The system.
    pub system_id: String,
    /// Its receiptStatus (COMPLETED, RECEIVED, INVALID, NOT_ALLOWED, ...).
    pub receipt_status: Option<String>,
    /// owed: why the last attempt failed (NgDP's reason when it refused); received: its
    /// errorCode and errorMessage.
    pub reason: Option<String>,
    /// owed: attempts so far.
    pub attempts: Option<u32>,
    /// owed: the HTTP status of NgDP's last refusal (401, 403: the system's API token or
    /// certificate; 5xx: NgDP's trouble), when NgDP answered one.
    pub http_status: Option<u16>,
    /// owed: when the message was received; received: when the receipt was stored
    /// (RFC 3339, UTC).
    pub at: String,
    /// owed: when NgDP took it.
    pub sent_at: Option<String>,
    /// The receipt.
    #[schema(value_type = Object)]
    pub receipt: serde_json::Value,
    /// The message: a received one under /messages, a sent one under /outgoing.
    pub message: String,
}

/// A page of receipts.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptPage {
    /// Oldest first.
    pub receipts: Vec<ReceiptEntry>,
    /// The request for what comes after this page, with the same filters.
    pub next: String,
    /// Whether more were already waiting when this page was made.
    pub has_more: bool,
}

/// The state an owed receipt is shown in: the store's `rejected` is NgDP refusing it.
fn owed_state(status: &str) -> &str {
    match status {
        "rejected" => "refused",
        other => other,
    }
}

pub(crate) fn owed_entry(o: OwedReceipt) -> ReceiptEntry {
    let receipt: serde_json::Value =
        serde_json::from_str(&o.receipt).unwrap_or(serde_json::Value::String(o.receipt));
    ReceiptEntry {
        id: o.message_uuid.clone(),
        direction: "owed".into(),
        state: owed_state(&o.status).to_owned(),
        receipt_status: receipt["receiptStatus"].as_str().map(str::to_owned),
        message: format!("/api/v1/messages/{}", o.message_uuid),
        message_uuid: o.message_uuid,
        system_id: o.system_id,
        reason: o.last_error,
        attempts: Some(o.attempts),
        http_status: o.last_http_status,
        at: time(o.created_at),
        sent_at: o.sent_at.map(time),
        receipt,
    }
}

pub(crate) fn received_entry(r: ReceivedReceipt) -> ReceiptEntry {
    let reason = match (r.error_code, r.error_message) {
        (None, None) => None,
        (Some(c), None) => Some(c),
        (None, Some(m)) => Some(m),
        (Some(c), Some(m)) => Some(format!("{c}: {m}")),
    };
    ReceiptEntry {
        id: r.id.to_string(),
        direction: "received".into(),
        state: "received".into(),
        receipt_status: Some(r.receipt_status),
        message: format!("/api/v1/outgoing/{}", r.message_uuid),
        message_uuid: r.message_uuid,
        system_id: r.system_id,
        reason,
        attempts: None,
        http_status: None,
        at: time(r.received_at),
        sent_at: None,
        receipt: serde_json::from_str(&r.json).unwrap_or(serde_json::Value::String(r.json)),
    }
}

/// The cursor for "after outbox position `owed` and received id `received`".
fn cursor(owed: i64, received: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("r1:{owed}:{received}"))
}

fn parse_cursor(text: &str) -> Option<(i64, i64)> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()?;
    let (owed, received) = std::str::from_utf8(&raw)
        .ok()?
        .strip_prefix("r1:")?
        .split_once(':')?;
    let (owed, received) = (owed.parse().ok()?, received.parse().ok()?);
    (owed >= 0 && received >= 0).then_some((owed, received))
}

/// A list request, as read from its query string.
struct ListRequest {
    owed: bool,
    received: bool,
    state: Option<&'static str>,
    after: (i64, i64),
    limit: u32,
    query: Vec<(String, String)>,
}

fn parse_list(query: Option<&str>) -> Result<ListRequest, Problem> {
    let mut r = ListRequest {
        owed: true,
        received: true,
        state: None,
        after: (0, 0),
        limit: DEFAULT_LIMIT,
        query: Vec::new(),
    };
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match &*k {
            "direction" => match &*v {
                "owed" => r.received = false,
                "received" => r.owed = false,
                _ => {
                    return Err(
                        Problem::bad_request("direction is owed or received").at("direction")
                    );
                }
            },
            "state" => {
                // The store's word for a refused receipt is `rejected`.
                r.state = Some(match &*v {
                    "pending" => "pending",
                    "sent" => "sent",
                    "refused" => "rejected",
                    _ => {
                        return Err(
                            Problem::bad_request("state is pending, sent, or refused").at("state")
                        );
                    }
                });
                // A state is one of an owed receipt's.
                r.received = false;
            }
            "cursor" => {
                r.after = parse_cursor(&v).ok_or_else(|| {
                    Problem::bad_request("cursor is not one this API gave").at("cursor")
                })?;
                continue;
            }
            "limit" => {
                r.limit = super::paging::limit(&v)?;
                continue;
            }
            other => {
                return Err(
                    Problem::bad_request(format!("{other} is not a parameter here")).at(other),
                );
            }
        }
        r.query.push((k.into_owned(), v.into_owned()));
    }
    if !r.owed && !r.received {
        return Err(Problem::bad_request(
            "state concerns receipts owed to NgDP: it cannot go with direction=received",
        )
        .at("state"));
    }
    Ok(r)
}

/// Receipts both ways, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/receipts",
    operation_id = "listReceipts",
    tag = "receipts",
    params(
        ("direction" = Option<String>, Query, description = "owed (business receipts dpost sends NgDP) or received (receipts NgDP sent for sent messages); both when absent"),
        ("state" = Option<String>, Query, description = "Owed receipts only, in this state: pending, sent, or refused"),
        ("cursor" = Option<String>, Query, description = "Where the previous page ended: the `cursor` of its `next` link"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "At most this many (default 100)"),
    ),
    security(("bearer" = ["receipts"])),
    responses(
        (status = 200, description = "A page", body = ReceiptPage),
        (status = 400, description = "A parameter that cannot be read", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No token, or an unknown one", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Without receipts", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(s): State<Arc<ApiState>>,
    caller: Caller,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Result<axum::Json<ReceiptPage>, Problem> {
    let on = uri.path().to_owned();
    caller.require(Scope::Receipts).map_err(|p| p.on(&on))?;
    let r = parse_list(query.as_deref()).map_err(|p| p.on(&on))?;
    let visible = caller.visible().map(<[String]>::to_vec);
    let received_too = r.received && visible.is_none();
    let (owed_wanted, state, after, limit) = (r.owed, r.state, r.after, r.limit);
    let (owed, received) = with_store(&s, move |st| {
        let owed = if owed_wanted {
            st.receipts_owed(after.0, limit + 1, state, visible.as_deref())?
        } else {
            Vec::new()
        };
        let received = if received_too {
            st.receipts_received(after.1, limit + 1)?
        } else {
            Vec::new()
        };
        Ok((owed, received))
    })
    .await
    .map_err(|p| p.on(&on))?;
    // Merged by time; each side's place moves past what this page takes of it.
    let (mut owed, mut received) = (owed.into_iter().peekable(), received.into_iter().peekable());
    let (mut at_owed, mut at_received) = after;
    let mut page = Vec::new();
    while page.len() < limit as usize {
        let take_owed = match (owed.peek(), received.peek()) {
            (Some(o), Some(r)) => o.created_at <= r.received_at,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        if take_owed {
            if let Some(o) = owed.next() {
                at_owed = o.position;
                page.push(owed_entry(o));
            }
        } else if let Some(x) = received.next() {
            at_received = x.id;
            page.push(received_entry(x));
        }
    }
    let has_more = owed.peek().is_some() || received.peek().is_some();
    let mut next = format!(
        "/api/v1/receipts?cursor={}&limit={limit}",
        cursor(at_owed, at_received)
    );
    for (k, v) in &r.query {
        next.push_str(&format!("&{k}={v}"));
    }
    Ok(axum::Json(ReceiptPage {
        receipts: page,
        next,
        has_more,
    }))
}

/// Queue a business receipt NgDP refused again.
#[utoipa::path(
    post,
    path = "/api/v1/receipts/{id}/retry",
    operation_id = "retryReceipt",
    tag = "receipts",
    params(("id" = String, Path, description = "An owed receipt's id: the messageUUID of the received message")),
    security(("bearer" = ["receipts"])),
    responses(
        (status = 202, description = "Queued again; the outbox sends it on its next round", body = ReceiptEntry),
        (status = 401, description = "No token, or an unknown one", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Without receipts", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such owed receipt", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "It was not refused (pending or sent)", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn retry(
    State(s): State<Arc<ApiState>>,
    caller: Caller,
    uri: Uri,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, Problem> {
    let on = uri.path().to_owned();
    caller.require(Scope::Receipts).map_err(|p| p.on(&on))?;
    let visible = caller.visible().map(<[String]>::to_vec);
    let (uuid, now) = (id.clone(), s.clock.now_unix());
    let outcome = with_store(&s, move |st| {
        let Some(owed) = st.receipt_owed(&uuid, visible.as_deref())? else {
            return Ok(None);
        };
        let requeued = st.receipt_requeue(&uuid, now)?;
        Ok(Some((
            requeued,
            st.receipt_owed(&uuid, visible.as_deref())?.unwrap_or(owed),
        )))
    })
    .await
    .map_err(|p| p.on(&on))?;
    match outcome {
        None => Err(
            Problem::not_found(format!("no business receipt is owed for {id}"))
                .at("id")
                .on(&on),
        ),
        Some((false, o)) => Err(Problem::conflict(format!(
            "the business receipt for {id} is {}: only a refused one is retried",
            owed_state(&o.status)
        ))
        .on(&on)),
        Some((true, o)) => {
            tracing::info!(uuid = %id, client = %caller.0.name, "refused business receipt queued again");
            Ok((StatusCode::ACCEPTED, axum::Json(owed_entry(o))).into_response())
        }
    }
}
