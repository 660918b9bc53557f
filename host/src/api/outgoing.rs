//! `/api/v1/outgoing`: messages a platform sends through dpost. A submission is streamed to a
//! spool file (bounded memory whatever its size; `api::submission`), validated by the
//! component, moved to its place in the data folder and fsynced, and recorded in the store;
//! only then is it answered 202, so nothing acknowledged is lost. The sender task
//! (`ngdp::sender`) sends it; its status, every attempt with NgDP's answer, and the receipts
//! NgDP sends for it are read here.
//!
//! The messageUUID is the idempotency key (an `Idempotency-Key` header may name one of the
//! client's own): the same message again answers the existing record, another message under
//! the same UUID or key is a 409. A key belongs to the client that used it; two clients may
//! use the same one.
//!
//! Each message is recorded with the client that submitted it, and a client sees its own:
//! another's answers 404, as if it did not exist (a 403 would confirm that it does). Only a
//! client with `admin` and no mailbox restriction sees every client's. Sent messages are in
//! no mailbox, so a client restricted to mailboxes stays with what it sent itself even with
//! `admin`, as it gets no received receipts in `api::receipts`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::sync::Notify;
use utoipa::ToSchema;

use super::auth::Caller;
use super::messages::{cursor, parse_cursor, time};
use super::problem::{Problem, ProblemDetails};
use super::submission::{Spool, compose, spool_body, spool_parts, spool_problem};
use super::{ApiState, with_store};
use crate::config::api::Scope;
use crate::ngdp::send::{self, CheckError};
use crate::runtime::pool::InstancePool;
use crate::store::outgoing::{NewOutgoing, Outgoing, OutgoingAttempt, Submitted, status};

/// Messages in a page when `limit` is not given.
const DEFAULT_LIMIT: u32 = 100;
/// The longest `Idempotency-Key` kept.
const MAX_KEY: usize = 200;

/// What submitting needs besides the store.
pub struct Sending {
    /// test | production.
    pub environment: String,
    /// The configured systems' ids (lower-case).
    pub systems: Vec<String>,
    /// The data folder: submissions are kept under `outgoing/` (SQLite), or spooled there
    /// on their way into the store (PostgreSQL).
    pub data_dir: PathBuf,
    /// Whether the store keeps submissions' bytes itself (PostgreSQL, `store::files`).
    pub files_in_store: bool,
    /// The largest MeMo taken (`[serve] max_message_bytes`).
    pub max_bytes: u64,
    /// Instances of the component, for validating.
    pub pool: Arc<InstancePool>,
    /// Wakes the sender task when a message is queued.
    pub wake: Arc<Notify>,
    /// How long network errors and 5xx are retried before a message is given up (seconds).
    pub give_up_seconds: i64,
}

/// A message described and its files (multipart/form-data).
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // Read part by part from the stream; this is its description.
pub struct MultipartSubmission {
    /// JSON: label, sender {id, id_type, label}, recipient {id, id_type}, and the other fields
    /// of `dpost memo new`'s spec (docs/memo.md); message_uuid makes a retry safe.
    #[schema(value_type = Object)]
    message: String,
    /// The documents, each with its file name; the first is the main document.
    #[schema(value_type = Vec<String>, format = Binary)]
    file: Vec<Vec<u8>>,
}

/// An outgoing message as listed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutgoingSummary {
    /// The messageUUID (lower-case).
    pub uuid: String,
    /// queued, sending, sent, or failed.
    pub status: String,
    /// Why it failed, or the error of the last attempt while it waits to be retried.
    pub reason: Option<String>,
    /// POSTs made.
    pub attempt_count: u32,
    /// When it was submitted (RFC 3339, UTC).
    pub submitted_at: String,
    /// When its status last changed.
    pub updated_at: String,
    /// Its status.
    pub href: String,
}

/// One outgoing message: status, attempts, NgDP's answer, receipts.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutgoingDetail {
    /// The messageUUID (lower-case).
    pub uuid: String,
    /// queued (waiting for the sender), sending, sent (NgDP took it), or failed (NgDP
    /// refused it, or dpost gave up retrying: `reason` says which; `retry` queues it again).
    pub status: String,
    /// Why it failed, or the error of the last attempt while it waits to be retried.
    pub reason: Option<String>,
    /// The sending system.
    pub system_id: String,
    /// test or production.
    pub environment: String,
    /// The client that submitted it (`api:<name>`).
    pub submitted_by: String,
    /// The `Idempotency-Key` it was submitted with.
    pub idempotency_key: Option<String>,
    /// When it was submitted (RFC 3339, UTC).
    pub submitted_at: String,
    /// When its status last changed.
    pub updated_at: String,
    /// While queued: when the sender takes it next.
    pub next_attempt_at: Option<String>,
    /// When retrying network errors and 5xx stops.
    pub give_up_at: String,
    /// The MeMo's size in bytes.
    pub size: u64,
    /// The MeMo's SHA-256, hex.
    pub sha256: String,
    /// POSTs made.
    pub attempt_count: u32,
    /// Every POST, oldest first.
    pub attempts: Vec<AttemptInfo>,
    /// NgDP's answer to the POST that took it: its `Receipt`.
    #[schema(value_type = Option<Object>)]
    pub ngdp_answer: Option<serde_json::Value>,
    /// Receipts NgDP sent for it since (pushed or pulled), oldest first.
    pub receipts: Vec<ReceiptInfo>,
    /// This status.
    pub href: String,
}

/// One POST to NgDP.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptInfo {
    /// When (RFC 3339, UTC).
    pub at: String,
    /// 1: sent alone; more: in a batch of that many.
    pub batch_size: u32,
    /// taken, duplicate (NgDP had it from an earlier attempt), retry, or refused.
    pub outcome: String,
    /// NgDP's answer (its ErrorMessage explained), or the network error.
    pub detail: Option<String>,
}

/// A receipt NgDP sent for the message.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptInfo {
    /// The receipt as NgDP sent it.
    #[schema(value_type = Object)]
    pub receipt: serde_json::Value,
    /// When dpost stored it (RFC 3339, UTC).
    pub received_at: String,
}

/// A page of outgoing messages.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutgoingPage {
    /// In submission order.
    pub messages: Vec<OutgoingSummary>,
    /// The request for what comes after this page, with the same filters.
    pub next: String,
    /// Whether more were already waiting when this page was made.
    pub has_more: bool,
}

fn href(uuid: &str) -> String {
    format!("/api/v1/outgoing/{uuid}")
}

pub(crate) fn summary(o: Outgoing) -> OutgoingSummary {
    OutgoingSummary {
        href: href(&o.uuid),
        uuid: o.uuid,
        status: o.status,
        reason: o.reason,
        attempt_count: o.attempts,
        submitted_at: time(o.created_at),
        updated_at: time(o.updated_at),
    }
}

pub(crate) fn detail(
    o: Outgoing,
    attempts: Vec<OutgoingAttempt>,
    receipts: Vec<serde_json::Value>,
) -> OutgoingDetail {
    OutgoingDetail {
        href: href(&o.uuid),
        next_attempt_at: (o.status == status::QUEUED).then(|| time(o.next_attempt_at)),
        give_up_at: time(o.give_up_at),
        ngdp_answer: o
            .answer
            .as_deref()
            .and_then(|a| serde_json::from_str(a).ok()),
        attempts: attempts
            .into_iter()
            .map(|a| AttemptInfo {
                at: time(a.at),
                batch_size: a.batch_size,
                outcome: a.outcome,
                detail: a.detail,
            })
            .collect(),
        receipts: receipts
            .into_iter()
            .map(|r| ReceiptInfo {
                received_at: time(r["received_at"].as_i64().unwrap_or(0)),
                receipt: r["receipt"].clone(),
            })
            .collect(),
        uuid: o.uuid,
        status: o.status,
        reason: o.reason,
        system_id: o.system_id,
        environment: o.environment,
        submitted_by: o.client,
        idempotency_key: o.idempotency_key,
        submitted_at: time(o.created_at),
        updated_at: time(o.updated_at),
        size: o.size,
        sha256: o.sha256,
        attempt_count: o.attempts,
    }
}

/// Whose messages `caller` sees: `None` for every client's, else the `api:<name>` of its
/// own (see the module documentation).
pub(super) fn owner(caller: &Caller) -> Option<String> {
    (!(caller.0.may(Scope::Admin) && caller.visible().is_none())).then(|| caller.actor())
}

/// Whether a client that sees `owner`'s messages sees `o`.
fn sees(owner: Option<&str>, o: &Outgoing) -> bool {
    owner.is_none_or(|c| c == o.client)
}

/// The detail of `uuid` from the store, `None` when there is no such message or it is not
/// one `owner` sees.
async fn load(
    s: &Arc<ApiState>,
    uuid: &str,
    owner: Option<String>,
) -> Result<Option<OutgoingDetail>, Problem> {
    let id = uuid.to_owned();
    with_store(s, move |st| {
        let Some(o) = st.outgoing(&id)? else {
            return Ok(None);
        };
        if !sees(owner.as_deref(), &o) {
            return Ok(None);
        }
        let attempts = st.outgoing_attempts(&id)?;
        let receipts = st.ngdp_receipts_for(&id)?;
        Ok(Some(detail(o, attempts, receipts)))
    })
    .await
}

fn with_location(status: StatusCode, d: OutgoingDetail) -> Response {
    let location = HeaderValue::from_str(&d.href).ok();
    let mut r = (status, axum::Json(d)).into_response();
    if let Some(l) = location {
        r.headers_mut().insert(header::LOCATION, l);
    }
    r
}

/// The system to send from: `system=` in the query, else the only one configured.
fn system_of(sending: &Sending, query: Option<&str>) -> Result<String, Problem> {
    let asked = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "system")
        .map(|(_, v)| v.trim().to_ascii_lowercase());
    match asked {
        Some(id) if sending.systems.contains(&id) => Ok(id),
        Some(id) => Err(Problem::unprocessable(format!(
            "no system {id} is configured in the {} environment",
            sending.environment
        ))
        .at("system")),
        None => match sending.systems.as_slice() {
            [only] => Ok(only.clone()),
            _ => Err(Problem::unprocessable(
                "several systems are configured: name the sending one with ?system=",
            )
            .at("system")),
        },
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match v.to_str().map(str::trim) {
        Ok(k) if !k.is_empty() && k.len() <= MAX_KEY && !k.chars().any(char::is_control) => {
            Ok(Some(k.to_owned()))
        }
        _ => Err(Problem::bad_request(format!(
            "Idempotency-Key is 1 to {MAX_KEY} visible characters"
        ))
        .at("Idempotency-Key")),
    }
}

/// Submit a message for sending.
#[utoipa::path(
    post,
    path = "/api/v1/outgoing",
    operation_id = "submitOutgoing",
    tag = "outgoing",
    params(
        ("system" = Option<String>, Query, description = "The sending system's id; may be left out when one system is configured"),
        ("Idempotency-Key" = Option<String>, Header, description = "A key of the client's own for this message; the messageUUID is one anyway"),
    ),
    request_body(
        description = "The MeMo message (application/xml); or (multipart/form-data) a part `message`, JSON with the fields of `dpost memo new`'s spec (docs/memo.md), then `file` parts, the first the main document",
        content(
            (String = "application/xml"),
            (MultipartSubmission = "multipart/form-data"),
        )
    ),
    security(("bearer" = ["send"])),
    responses(
        (status = 202, description = "Validated and stored durably; queued for sending. Location: its status", body = OutgoingDetail),
        (status = 200, description = "The same message was submitted before: its record", body = OutgoingDetail),
        (status = 400, description = "A body that broke off, or a bad Idempotency-Key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No token, or an unknown one", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Without send", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Another message was submitted under this messageUUID or this client's Idempotency-Key, or another client submitted this messageUUID", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Larger than [serve] max_message_bytes", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Neither application/xml nor multipart/form-data", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Not a valid MeMo message: every problem, with path and line (`problems`); or an unknown system", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Not stored (the store or disk failed); repeat it", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn submit(
    State(s): State<Arc<ApiState>>,
    caller: Caller,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let on = uri.path().to_owned();
    caller.require(Scope::Send).map_err(|p| p.on(&on))?;
    let sending = s.sending.clone();
    let system = system_of(&sending, query.as_deref()).map_err(|p| p.on(&on))?;
    let key = idempotency_key(&headers).map_err(|p| p.on(&on))?;
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
        .unwrap_or_default();
    // Spooled beside where it is kept, so that keeping it is a rename; on PostgreSQL it is
    // kept in the store, and the replica's spool is its only local place.
    let dir = sending.data_dir.join(if sending.files_in_store {
        "spool"
    } else {
        "outgoing"
    });
    match media.as_str() {
        "application/xml" | "text/xml" => {
            let (spool, size, sha256) = spool_body(body, &dir, sending.max_bytes)
                .await
                .map_err(|e| spool_problem(e, sending.max_bytes).on(&on))?;
            let fingerprint = sha256.clone();
            let submission = Submission {
                spool,
                size,
                sha256,
                fingerprint,
                system_id: system,
                key,
            };
            store_submission(&s, &caller, &on, submission).await
        }
        "multipart/form-data" => {
            let boundary = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| multer::parse_boundary(v).ok())
                .ok_or_else(|| {
                    Problem::bad_request("the multipart body has no boundary")
                        .at("Content-Type")
                        .on(&on)
                })?;
            // Base64 makes the MeMo a third larger than its files.
            let max_files = sending.max_bytes / 4 * 3;
            let parts = spool_parts(body, boundary, &dir, max_files)
                .await
                .map_err(|p| p.on(&on))?;
            let now = s.clock.now_unix();
            let (spool, size, sha256) = compose(&sending, &parts, now)
                .await
                .map_err(|p| p.on(&on))?;
            let submission = Submission {
                spool,
                size,
                sha256,
                fingerprint: parts.fingerprint.clone(),
                system_id: system,
                key,
            };
            let answer = store_submission(&s, &caller, &on, submission).await;
            drop(parts);
            answer
        }
        _ => Err(Problem::unsupported_media_type(
            "send the MeMo message as application/xml, or its description and files as multipart/form-data",
        )
        .on(&on)),
    }
}

/// A submission spooled and written as MeMo, to be validated and recorded.
struct Submission {
    spool: Spool,
    size: u64,
    sha256: String,
    fingerprint: String,
    system_id: String,
    key: Option<String>,
}

/// Validate the spooled message, keep it, record it, and answer.
async fn store_submission(
    s: &Arc<ApiState>,
    caller: &Caller,
    on: &str,
    submission: Submission,
) -> Result<Response, Problem> {
    let Submission {
        mut spool,
        size,
        sha256,
        fingerprint,
        system_id,
        key,
    } = submission;
    let sending = s.sending.clone();
    let (pool, path) = (sending.pool.clone(), spool.path.clone());
    let checked = tokio::task::spawn_blocking(move || pool.with(|i| send::check(i, &path)))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "validating a submitted message did not finish");
            Problem::unavailable("the message could not be validated; repeat the request").on(on)
        })?;
    let checked = match checked {
        Ok(Ok(c)) => c,
        Ok(Err(CheckError::Memo(e))) => {
            return Err(
                Problem::invalid_memo(format!("not a MeMo message: {e}"), Vec::new()).on(on),
            );
        }
        Ok(Err(CheckError::NoUuid)) => {
            return Err(Problem::invalid_memo(
                "the message has no messageUUID to send it under",
                Vec::new(),
            )
            .at("/MessageHeader/messageUUID")
            .on(on));
        }
        Ok(Err(CheckError::Open { source, .. })) => {
            tracing::error!(error = %source, "a spooled submission could not be read back");
            return Err(Problem::unavailable(
                "the message could not be validated; repeat the request",
            )
            .on(on));
        }
        Err(e) => {
            tracing::error!(error = %e, "no component instance to validate a submission");
            return Err(Problem::unavailable(
                "the message could not be validated; repeat the request",
            )
            .on(on));
        }
    };
    if !checked.is_valid() {
        let problems = crate::memo::json::problems(&checked.problems);
        let list = problems.as_array().cloned().unwrap_or_default();
        return Err(Problem::invalid_memo(
            format!(
                "the validator found {} problem(s); nothing was stored",
                list.len()
            ),
            list,
        )
        .on(on));
    }
    let Ok(uuid) = uuid::Uuid::parse_str(&checked.uuid) else {
        return Err(Problem::invalid_memo(
            format!("the messageUUID {:?} is not a UUID", checked.uuid),
            Vec::new(),
        )
        .at("/MessageHeader/messageUUID")
        .on(on));
    };
    let uuid = uuid.hyphenated().to_string();
    // Named by content too: a different message under the same UUID never overwrites it.
    let name = format!("{uuid}.{sha256}.xml");
    // On PostgreSQL the bytes go into the store with the row, from the spool file (removed
    // when this returns): `kept` is then only the name the row gives them.
    let (kept, bytes_from) = if sending.files_in_store {
        (Path::new("outgoing").join(name), Some(spool.path.clone()))
    } else {
        (sending.data_dir.join("outgoing").join(name), None)
    };
    let (from, to) = (spool.path.clone(), kept.clone());
    let moved = match bytes_from {
        Some(_) => Ok(Ok(())),
        None => {
            tokio::task::spawn_blocking(move || {
                std::fs::rename(&from, &to)?;
                crate::ngdp::receive::sync_dir(to.parent().unwrap_or(Path::new(".")))
            })
            .await
        }
    };
    match moved {
        Ok(Ok(())) if bytes_from.is_some() => {}
        Ok(Ok(())) => spool.kept = true,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "a submitted message could not be kept");
            return Err(Problem::unavailable(
                "the message could not be stored; repeat the request",
            )
            .on(on));
        }
        Err(e) => {
            tracing::error!(error = %e, "keeping a submitted message did not finish");
            return Err(Problem::unavailable(
                "the message could not be stored; repeat the request",
            )
            .on(on));
        }
    }
    let now = s.clock.now_unix();
    let new = NewOutgoing {
        uuid: uuid.clone(),
        idempotency_key: key,
        client: caller.actor(),
        system_id,
        environment: sending.environment.clone(),
        path: kept.display().to_string(),
        size,
        sha256,
        fingerprint,
        now,
        give_up_at: now + sending.give_up_seconds,
        bytes_from,
    };
    let submitted = with_store(s, move |st| st.outgoing_submit(&new))
        .await
        .map_err(|p| p.on(on))?;
    let visible = owner(caller);
    if let Submitted::Existing(o) | Submitted::Conflict(o) = &submitted
        && !sees(visible.as_deref(), o)
    {
        if !sending.files_in_store && Path::new(&o.path) != kept {
            let _ = tokio::fs::remove_file(&kept).await;
        }
        // NgDP takes a messageUUID once, whoever submits it; of the other client's
        // message this says no more than that it exists.
        return Err(Problem::conflict(format!(
            "another client submitted a message as {}; a message is sent once under its UUID",
            o.uuid
        ))
        .at("/MessageHeader/messageUUID")
        .on(on));
    }
    let (status_code, record) = match submitted {
        Submitted::New(o) => {
            sending.wake.notify_one();
            tracing::info!(%uuid, client = %caller.0.name, "message queued for sending");
            (StatusCode::ACCEPTED, o)
        }
        Submitted::Existing(o) => {
            // A retry: the copy just kept is the first one's, or a needless second.
            if !sending.files_in_store && Path::new(&o.path) != kept {
                let _ = tokio::fs::remove_file(&kept).await;
            }
            (StatusCode::OK, o)
        }
        Submitted::Conflict(o) => {
            if !sending.files_in_store && Path::new(&o.path) != kept {
                let _ = tokio::fs::remove_file(&kept).await;
            }
            return Err(Problem::conflict(format!(
                "another message was submitted as {} (messageUUID or Idempotency-Key); a message is sent once under its UUID",
                o.uuid
            ))
            .on(on));
        }
    };
    let d = load(s, &record.uuid, visible).await.map_err(|p| p.on(on))?;
    let d = d.ok_or_else(|| {
        Problem::unavailable("the message could not be read back; repeat the request").on(on)
    })?;
    Ok(with_location(status_code, d))
}

/// The outgoing messages, in submission order.
#[utoipa::path(
    get,
    path = "/api/v1/outgoing",
    operation_id = "listOutgoing",
    tag = "outgoing",
    params(
        ("status" = Option<String>, Query, description = "Only queued, sending, sent, or failed"),
        ("cursor" = Option<String>, Query, description = "Where the previous page ended: the `cursor` of its `next` link"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "At most this many (default 100)"),
    ),
    security(("bearer" = ["send"])),
    responses(
        (status = 200, description = "A page: the client's own messages (every client's with admin, unless restricted to mailboxes)", body = OutgoingPage),
        (status = 400, description = "A parameter that cannot be read", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No token, or an unknown one", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Without send", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(s): State<Arc<ApiState>>,
    caller: Caller,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Result<axum::Json<OutgoingPage>, Problem> {
    let on = uri.path().to_owned();
    caller.require(Scope::Send).map_err(|p| p.on(&on))?;
    let (mut after, mut limit, mut wanted) = (0i64, DEFAULT_LIMIT, None::<String>);
    for (k, v) in form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()) {
        match &*k {
            "cursor" => {
                after = parse_cursor(&v).ok_or_else(|| {
                    Problem::bad_request("cursor is not one this API gave")
                        .at("cursor")
                        .on(&on)
                })?
            }
            "limit" => limit = super::paging::limit(&v).map_err(|p| p.on(&on))?,
            "status" => {
                let known = [
                    status::QUEUED,
                    status::SENDING,
                    status::SENT,
                    status::FAILED,
                ];
                if !known.contains(&&*v) {
                    return Err(
                        Problem::bad_request("status is queued, sending, sent, or failed")
                            .at("status")
                            .on(&on),
                    );
                }
                wanted = Some(v.into_owned());
            }
            other => {
                return Err(
                    Problem::bad_request(format!("{other} is not a parameter here"))
                        .at(other)
                        .on(&on),
                );
            }
        }
    }
    let (filter, client) = (wanted.clone(), owner(&caller));
    let mut rows = with_store(&s, move |st| {
        st.outgoing_list(after, limit + 1, filter.as_deref(), client.as_deref())
    })
    .await
    .map_err(|p| p.on(&on))?;
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let last = rows.last().map_or(after, |o| o.seq);
    let mut next = format!("/api/v1/outgoing?cursor={}&limit={limit}", cursor(last));
    if let Some(w) = wanted {
        next.push_str(&format!("&status={w}"));
    }
    Ok(axum::Json(OutgoingPage {
        messages: rows.into_iter().map(summary).collect(),
        next,
        has_more,
    }))
}

/// One outgoing message: its status, attempts, NgDP's answer and receipts.
#[utoipa::path(
    get,
    path = "/api/v1/outgoing/{uuid}",
    operation_id = "getOutgoing",
    tag = "outgoing",
    params(("uuid" = String, Path, description = "The messageUUID")),
    security(("bearer" = ["send"])),
    responses(
        (status = 200, description = "Its status", body = OutgoingDetail),
        (status = 401, description = "No token, or an unknown one", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Without send", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such outgoing message, or another client's", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn show(
    State(s): State<Arc<ApiState>>,
    caller: Caller,
    uri: Uri,
    UrlPath(uuid): UrlPath<String>,
) -> Result<axum::Json<OutgoingDetail>, Problem> {
    let on = uri.path().to_owned();
    caller.require(Scope::Send).map_err(|p| p.on(&on))?;
    let d = load(&s, &uuid, owner(&caller))
        .await
        .map_err(|p| p.on(&on))?;
    d.map(axum::Json).ok_or_else(|| {
        Problem::not_found(format!("no outgoing message {uuid}"))
            .at("uuid")
            .on(&on)
    })
}

/// Queue a failed message again.
#[utoipa::path(
    post,
    path = "/api/v1/outgoing/{uuid}/retry",
    operation_id = "retryOutgoing",
    tag = "outgoing",
    params(("uuid" = String, Path, description = "The messageUUID")),
    security(("bearer" = ["send"])),
    responses(
        (status = 202, description = "Queued again, with a fresh give-up time", body = OutgoingDetail),
        (status = 401, description = "No token, or an unknown one", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Without send", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such outgoing message, or another client's", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "It has not failed (queued, sending, or sent)", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn retry(
    State(s): State<Arc<ApiState>>,
    caller: Caller,
    uri: Uri,
    UrlPath(uuid): UrlPath<String>,
) -> Result<Response, Problem> {
    let on = uri.path().to_owned();
    caller.require(Scope::Send).map_err(|p| p.on(&on))?;
    let not_found = || {
        Problem::not_found(format!("no outgoing message {uuid}"))
            .at("uuid")
            .on(&on)
    };
    let visible = owner(&caller);
    if load(&s, &uuid, visible.clone())
        .await
        .map_err(|p| p.on(&on))?
        .is_none()
    {
        return Err(not_found());
    }
    let now = s.clock.now_unix();
    let give_up = now + s.sending.give_up_seconds;
    let id = uuid.clone();
    let requeued = with_store(&s, move |st| st.outgoing_retry(&id, now, give_up))
        .await
        .map_err(|p| p.on(&on))?;
    let Some(d) = load(&s, &uuid, visible).await.map_err(|p| p.on(&on))? else {
        return Err(not_found());
    };
    if !requeued {
        return Err(Problem::conflict(format!(
            "{uuid} is {}: only a failed message is retried",
            d.status
        ))
        .on(&on));
    }
    s.sending.wake.notify_one();
    Ok(with_location(StatusCode::ACCEPTED, d))
}
