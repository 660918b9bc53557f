//! `/api/v1/messages`: received NgDP messages as a platform takes them over. The list is a
//! feed in sequence order with an opaque cursor, so "everything after what I saw" has no
//! gaps and no repeats (see `store::ngdp::next_message_seq`); one message's metadata; its
//! MeMo and files, streamed; its acknowledgement and moves to another mailbox.
//!
//! A client restricted to mailboxes meets every other mailbox's message as 404, by list,
//! by UUID, by file, by ack: the store's queries carry the restriction.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Json;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{HeaderMap, Uri, header};
use axum::response::Response;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::files::{self, StoredFile};
use super::problem::{Problem, ProblemDetails};
use super::{ApiState, with_store};
use crate::config::api::Scope;
use crate::store::handover::{Ack, AckState, AuditEntry, FeedEntry, FeedQuery};
use crate::store::ngdp::StoredMessage;

/// Messages in a page when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest body `ack` and `route` take.
const MAX_JSON_BODY: usize = 16 * 1024;
/// The longest case reference kept.
const MAX_CASE_REFERENCE: usize = 256;

/// `GET /api/v1/messages`'s parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Read by hand from the query string (each error names its parameter); this is its description.
pub struct ListParams {
    /// Only this mailbox.
    mailbox: Option<String>,
    /// `pending` (not acknowledged), `acknowledged`, or `all` (the default).
    #[param(inline)]
    state: Option<StateParam>,
    /// `true`: only messages that failed validation; `false`: only valid ones.
    invalid: Option<bool>,
    /// Only messages received at or after this time (RFC 3339, UTC, e.g. `2026-11-27T08:00:00Z`).
    since: Option<String>,
    /// Where the previous page ended: the `cursor` of its `next` link. Absent: from the start.
    cursor: Option<String>,
    /// At most this many messages (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// Acknowledged or not.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum StateParam {
    /// Not acknowledged yet.
    Pending,
    /// Acknowledged.
    Acknowledged,
    /// Both.
    All,
}

/// A page of the feed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessagePage {
    /// The messages, in sequence order.
    pub messages: Vec<MessageSummary>,
    /// The request for what comes after this page, with the same filters. Present even when
    /// the page is empty: asked again later, it returns what arrived since.
    pub next: String,
    /// Whether more messages were already waiting when this page was made.
    pub has_more: bool,
}

/// A message as listed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageSummary {
    /// The messageUUID.
    pub uuid: String,
    /// The mailbox it is in.
    pub mailbox: String,
    /// When dpost stored it (RFC 3339, UTC).
    pub received_at: String,
    /// Whether it passed validation.
    pub valid: bool,
    /// The header's label.
    pub label: Option<String>,
    /// The sender.
    pub sender: Party,
    /// The recipient.
    pub recipient: Party,
    /// The acknowledgement, or null while it is pending.
    pub acknowledgement: Option<Acknowledgement>,
    /// Its metadata.
    pub href: String,
}

/// A sender or recipient.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Party {
    /// CPR, CVR or other id.
    pub id: Option<String>,
    /// Its label (the sender's name).
    pub label: Option<String>,
}

/// An acknowledgement.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Acknowledgement {
    /// Who: `api:<client>` or `cli:<user>`.
    pub by: String,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// The case reference given with it.
    pub case_reference: Option<String>,
}

/// One message's metadata.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageDetail {
    /// The messageUUID.
    pub uuid: String,
    /// The header's messageID.
    pub message_id: Option<String>,
    /// NgDP environment: test or production.
    pub environment: String,
    /// The receiving system.
    pub system_id: String,
    /// push or pull.
    pub via: String,
    /// When dpost stored it (RFC 3339, UTC).
    pub received_at: String,
    /// Whether it passed validation.
    pub valid: bool,
    /// The header's label.
    pub label: Option<String>,
    /// The MeMo header as read.
    #[schema(value_type = Object)]
    pub header: serde_json::Value,
    /// The sender.
    pub sender: Party,
    /// The recipient.
    pub recipient: Party,
    /// The mailbox it is in.
    pub mailbox: String,
    /// Why it is there.
    pub routing: Routing,
    /// Validation problems (errors and warnings), each with line, column and path.
    #[schema(value_type = Vec<Object>)]
    pub problems: serde_json::Value,
    /// The MeMo as received.
    pub memo: MemoInfo,
    /// The decoded document files.
    pub files: Vec<FileInfo>,
    /// The business receipt dpost sends NgDP for it.
    pub business_receipt: BusinessReceipt,
    /// Copies NgDP delivered later under the same messageUUID with other content (answered
    /// 200; this message is the first copy). Empty normally.
    pub conflicting_copies: Vec<ConflictingCopyInfo>,
    /// The acknowledgement, or null while it is pending.
    pub acknowledgement: Option<Acknowledgement>,
    /// Acknowledgements and moves, oldest first.
    pub history: Vec<HistoryEntry>,
}

/// Why a message is in its mailbox.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Routing {
    /// The contact point that decided, when one did.
    pub contact_point: Option<String>,
    /// The decision: `reason` is recipient-contact-point, reply-contact-point,
    /// unknown-contact-point, no-contact-point or routed (moved through the API or CLI).
    #[schema(value_type = Object)]
    pub reason: serde_json::Value,
}

/// The MeMo as received.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemoInfo {
    /// Bytes.
    pub size: u64,
    /// SHA-256, hex (also its ETag).
    pub sha256: String,
    /// Where to fetch it.
    pub href: String,
}

/// One decoded document file.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileInfo {
    /// Its number, as in `files/{n}`.
    pub n: u32,
    /// Which document of the message it belongs to (from 1).
    pub document: u32,
    /// main, additional or technical.
    pub document_kind: String,
    /// The document's label.
    pub document_label: Option<String>,
    /// The name the sender gave it.
    pub filename: String,
    /// Its media type (the MeMo's encodingFormat).
    pub content_type: String,
    /// Its language.
    pub language: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256, hex (also its ETag).
    pub sha256: String,
    /// Where to fetch it.
    pub href: String,
}

/// A later copy with the same messageUUID and other content.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConflictingCopyInfo {
    /// When it arrived (RFC 3339, UTC).
    pub received_at: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
    /// Whether its bytes are kept beside the message (at most a few copies per message).
    pub kept: bool,
}

/// Where the business receipt stands.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BusinessReceipt {
    /// pending, sent or rejected.
    pub status: Option<String>,
    /// Why its last attempt failed.
    pub error: Option<String>,
}

/// An acknowledgement or a move.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Who.
    pub by: String,
    /// ack or route.
    pub action: String,
    /// What: the case reference, or the mailboxes from and to.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// `POST …/ack`'s body (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AckRequest {
    /// The platform's case the message now belongs to.
    pub case_reference: Option<String>,
}

/// `POST …/route`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteRequest {
    /// A configured mailbox.
    pub mailbox: String,
}

/// A move, done.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Routed {
    /// Where the message was.
    pub from: String,
    /// Where it is now.
    pub mailbox: String,
}

/// `unix` as RFC 3339 (UTC, seconds).
pub(crate) fn time(unix: i64) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64),
    )
    .to_string()
}

pub(crate) fn acknowledgement(a: Ack) -> Acknowledgement {
    Acknowledgement {
        by: a.actor,
        at: time(a.at),
        case_reference: a.case_reference,
    }
}

fn href(uuid: &str) -> String {
    format!("/api/v1/messages/{uuid}")
}

/// The opaque cursor for "after sequence number `seq`".
pub(crate) fn cursor(seq: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("v1:{seq}"))
}

pub(crate) fn parse_cursor(text: &str) -> Option<i64> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()?;
    let seq: i64 = std::str::from_utf8(&raw)
        .ok()?
        .strip_prefix("v1:")?
        .parse()
        .ok()?;
    (seq >= 0).then_some(seq)
}

/// The filters of a list request, as read from its query string.
#[derive(Debug, Default)]
struct ListRequest {
    mailbox: Option<String>,
    state: Option<String>,
    invalid: Option<bool>,
    since: Option<(String, i64)>,
    after: i64,
    limit: u32,
}

fn parse_list(query: Option<&str>) -> Result<ListRequest, Problem> {
    let mut r = ListRequest {
        limit: DEFAULT_LIMIT,
        ..Default::default()
    };
    let mut seen: Vec<String> = Vec::new();
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let bad = |detail: String| Problem::bad_request(detail).at(key.to_string());
        if seen.iter().any(|k| *k == key) {
            return Err(bad(format!("{key} is given twice")));
        }
        seen.push(key.to_string());
        match &*key {
            "mailbox" => r.mailbox = Some(value.into_owned()),
            "state" => match &*value {
                "pending" | "acknowledged" | "all" => r.state = Some(value.into_owned()),
                _ => {
                    return Err(bad(format!(
                        "state is pending, acknowledged or all, not {value:?}"
                    )));
                }
            },
            "invalid" => match &*value {
                "true" => r.invalid = Some(true),
                "false" => r.invalid = Some(false),
                _ => return Err(bad(format!("invalid is true or false, not {value:?}"))),
            },
            "since" => {
                let t = humantime::parse_rfc3339_weak(&value)
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .ok_or_else(|| {
                        bad(format!(
                            "since is a time in RFC 3339 (UTC), like 2026-11-27T08:00:00Z, not {value:?}"
                        ))
                    })?;
                r.since = Some((value.into_owned(), t.as_secs() as i64));
            }
            "cursor" => {
                r.after = parse_cursor(&value).ok_or_else(|| {
                    bad(
                        "the cursor is not one this API gave out; take it from a `next` link"
                            .into(),
                    )
                })?;
            }
            "limit" => {
                r.limit = super::paging::limit(&value)?;
            }
            _ => {
                return Err(bad(format!(
                    "{key} is not a parameter here; the parameters are mailbox, state, invalid, since, cursor and limit"
                )));
            }
        }
    }
    Ok(r)
}

fn next_link(r: &ListRequest, after: i64) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    if let Some(m) = &r.mailbox {
        q.append_pair("mailbox", m);
    }
    if let Some(s) = &r.state {
        q.append_pair("state", s);
    }
    if let Some(i) = r.invalid {
        q.append_pair("invalid", if i { "true" } else { "false" });
    }
    if let Some((s, _)) = &r.since {
        q.append_pair("since", s);
    }
    q.append_pair("cursor", &cursor(after));
    q.append_pair("limit", &r.limit.to_string());
    format!("/api/v1/messages?{}", q.finish())
}

fn summary(e: FeedEntry) -> MessageSummary {
    MessageSummary {
        href: href(&e.uuid),
        uuid: e.uuid,
        mailbox: e.mailbox,
        received_at: time(e.received_at),
        valid: e.valid,
        label: e.label,
        sender: Party {
            id: e.sender_id,
            label: e.sender_label,
        },
        recipient: Party {
            id: e.recipient_id,
            label: None,
        },
        acknowledgement: e.ack.map(acknowledgement),
    }
}

/// List received messages.
#[utoipa::path(
    get,
    path = "/api/v1/messages",
    operation_id = "listMessages",
    tag = "messages",
    params(ListParams),
    security(("bearer" = ["messages:read"])),
    responses(
        (status = 200, description = "A page, in sequence order", body = MessagePage),
        (status = 400, description = "A parameter that cannot be read", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No token, or an unknown one", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Without messages:read, or a mailbox the client may not see", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(s): State<Arc<ApiState>>,
    caller: Caller,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Result<Json<MessagePage>, Problem> {
    let on = uri.path().to_owned();
    caller.require(Scope::MessagesRead).map_err(|p| p.on(&on))?;
    let r = parse_list(query.as_deref()).map_err(|p| p.on(&on))?;
    let visible = match (&r.mailbox, caller.visible()) {
        (Some(m), Some(allowed)) if !allowed.contains(m) => {
            return Err(Problem::mailbox_forbidden(format!(
                "the client {:?} may not see the mailbox {m:?}",
                caller.0.name
            ))
            .at("mailbox")
            .on(&on));
        }
        (Some(m), _) => Some(vec![m.clone()]),
        (None, allowed) => allowed.map(<[String]>::to_vec),
    };
    let query = FeedQuery {
        visible,
        state: match r.state.as_deref() {
            Some("pending") => AckState::Pending,
            Some("acknowledged") => AckState::Acknowledged,
            _ => AckState::All,
        },
        invalid: r.invalid,
        since: r.since.as_ref().map(|(_, t)| *t),
        after: r.after,
        // One more than asked, to know whether more are waiting.
        limit: r.limit + 1,
    };
    let mut entries = with_store(&s, move |st| st.handover_feed(&query)).await?;
    let has_more = entries.len() > r.limit as usize;
    entries.truncate(r.limit as usize);
    let after = entries.last().map_or(r.after, |e| e.seq);
    Ok(Json(MessagePage {
        next: next_link(&r, after),
        has_more,
        messages: entries.into_iter().map(summary).collect(),
    }))
}

/// The 404 for a message that is not there, or not for this client: the same answer for
/// both, so a restricted client learns nothing about other mailboxes.
fn no_message(uuid: &str, on: &str) -> Problem {
    Problem::not_found(format!("no message {uuid} is stored here"))
        .at("uuid")
        .on(on)
}

/// `uuid` when it is a UUID at all; else the 404 it could only get.
fn message_uuid(uuid: &str, on: &str) -> Result<(), Problem> {
    uuid::Uuid::parse_str(uuid)
        .map(|_| ())
        .map_err(|_| no_message(uuid, on))
}

/// The stored message `uuid`, if `caller` may see it; else the 404 problem.
async fn visible_message(
    s: &Arc<ApiState>,
    caller: &Caller,
    uuid: &str,
    on: &str,
) -> Result<StoredMessage, Problem> {
    message_uuid(uuid, on)?;
    let visible = caller.visible().map(<[String]>::to_vec);
    let id = uuid.to_owned();
    let found = with_store(s, move |st| {
        if !st.handover_visible(&id, visible.as_deref())? {
            return Ok(None);
        }
        st.ngdp_message(&id)
    })
    .await
    .map_err(|p| p.on(on))?;
    // Checked again on the row itself: a move between the two queries above must not show
    // a client a message that has just left its mailboxes.
    found
        .filter(|m| caller.0.sees(&m.mailbox))
        .ok_or_else(|| no_message(uuid, on))
}

/// One message's metadata.
#[utoipa::path(
    get,
    path = "/api/v1/messages/{uuid}",
    operation_id = "getMessage",
    tag = "messages",
    params(("uuid" = String, Path, description = "The messageUUID")),
    security(("bearer" = ["messages:read"])),
    responses(
        (status = 200, description = "The message", body = MessageDetail),
        (status = 401, description = "No token, or an unknown one", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Without messages:read", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such message, or one in a mailbox the client may not see", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn show(
    State(s): State<Arc<ApiState>>,
    caller: Caller,
    uri: Uri,
    UrlPath(uuid): UrlPath<String>,
) -> Result<Json<MessageDetail>, Problem> {
    let on = uri.path().to_owned();
    caller.require(Scope::MessagesRead).map_err(|p| p.on(&on))?;
    let m = visible_message(&s, &caller, &uuid, &on).await?;
    let id = m.uuid.clone();
    let state = with_store(&s, move |st| st.handover_state(&id))
        .await
        .map_err(|p| p.on(&on))?
        .unwrap_or_else(|| crate::store::handover::HandoverState {
            seq: None,
            ack: None,
            audit: Vec::new(),
        });
    let base = href(&m.uuid);
    Ok(Json(MessageDetail {
        message_id: m
            .header
            .get("messageID")
            .or_else(|| m.header.get("message_id"))
            .and_then(|v| v.as_str())
            .map(str::to_owned),
        environment: m.environment,
        system_id: m.system_id,
        via: m.via,
        received_at: time(m.received_at),
        valid: m.valid,
        label: m.label,
        header: m.header,
        sender: Party {
            id: m.sender_id,
            label: m.sender_label,
        },
        recipient: Party {
            id: m.recipient_id,
            label: None,
        },
        mailbox: m.mailbox,
        routing: Routing {
            contact_point: m.contact_point,
            reason: m.routing_reason,
        },
        problems: m.problems,
        memo: MemoInfo {
            size: m.raw_size,
            sha256: m.raw_sha256,
            href: format!("{base}/memo"),
        },
        files: m
            .files
            .into_iter()
            .map(|f| FileInfo {
                href: format!("{base}/files/{}", f.seq),
                n: f.seq,
                document: f.document_seq,
                document_kind: f.document_kind,
                document_label: f.document_label,
                filename: f.filename,
                content_type: f.encoding_format,
                language: f.language,
                size: f.size,
                sha256: f.sha256,
            })
            .collect(),
        business_receipt: BusinessReceipt {
            status: m.receipt_status,
            error: m.receipt_error,
        },
        conflicting_copies: m
            .conflicts
            .into_iter()
            .map(|c| ConflictingCopyInfo {
                received_at: time(c.received_at),
                size: c.size,
                sha256: c.sha256,
                kept: c.path.is_some(),
            })
            .collect(),
        acknowledgement: state.ack.map(acknowledgement),
        history: state.audit.into_iter().map(history).collect(),
        uuid: m.uuid,
    }))
}

fn history(a: AuditEntry) -> HistoryEntry {
    HistoryEntry {
        at: time(a.at),
        by: a.actor,
        action: a.action,
        detail: a.detail,
    }
}

/// The MeMo exactly as received.
#[utoipa::path(
    get,
    path = "/api/v1/messages/{uuid}/memo",
    operation_id = "getMessageMemo",
    tag = "messages",
    params(
        ("uuid" = String, Path, description = "The messageUUID"),
        ("Range" = Option<String>, Header, description = "One byte range, e.g. bytes=0-1023"),
        ("If-None-Match" = Option<String>, Header, description = "The ETag held: 304 when it is this one"),
    ),
    security(("bearer" = ["messages:read"])),
    responses(
        (status = 200, description = "The MeMo XML; ETag is its SHA-256", content_type = "application/xml", body = Vec<u8>),
        (status = 206, description = "The range asked for", content_type = "application/xml", body = Vec<u8>),
        (status = 304, description = "Unchanged (If-None-Match)"),
        (status = 401, description = "No token, or an unknown one", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Without messages:read", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such message", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 416, description = "A range outside the file", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn memo(
    State(s): State<Arc<ApiState>>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    UrlPath(uuid): UrlPath<String>,
) -> Result<Response, Problem> {
    let on = uri.path().to_owned();
    caller.require(Scope::MessagesRead).map_err(|p| p.on(&on))?;
    let m = visible_message(&s, &caller, &uuid, &on).await?;
    let path = Path::new(&m.dir).join("message.xml");
    let filename = format!("{}.xml", m.uuid);
    files::serve(
        &s,
        StoredFile {
            path: &path,
            content_type: "application/xml",
            filename: &filename,
            sha256: &m.raw_sha256,
        },
        &headers,
    )
    .await
    .map_err(|p| p.on(&on))
}

/// One decoded document file.
#[utoipa::path(
    get,
    path = "/api/v1/messages/{uuid}/files/{n}",
    operation_id = "getMessageFile",
    tag = "messages",
    params(
        ("uuid" = String, Path, description = "The messageUUID"),
        ("n" = u32, Path, description = "The file's number (`n` in the message's files)"),
        ("Range" = Option<String>, Header, description = "One byte range, e.g. bytes=0-1023"),
        ("If-None-Match" = Option<String>, Header, description = "The ETag held: 304 when it is this one"),
    ),
    security(("bearer" = ["messages:read"])),
    responses(
        (status = 200, description = "The file, with its own Content-Type; ETag is its SHA-256", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "The range asked for", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 304, description = "Unchanged (If-None-Match)"),
        (status = 401, description = "No token, or an unknown one", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Without messages:read", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such message or file", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 416, description = "A range outside the file", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn file(
    State(s): State<Arc<ApiState>>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    UrlPath((uuid, n)): UrlPath<(String, String)>,
) -> Result<Response, Problem> {
    let on = uri.path().to_owned();
    caller.require(Scope::MessagesRead).map_err(|p| p.on(&on))?;
    let m = visible_message(&s, &caller, &uuid, &on).await?;
    let Some(f) = n
        .parse::<u32>()
        .ok()
        .and_then(|n| m.files.iter().find(|f| f.seq == n))
    else {
        return Err(Problem::not_found(format!(
            "message {} has no file {n}; its files are numbered as `n` in its metadata",
            m.uuid
        ))
        .at("n")
        .on(&on));
    };
    let path = Path::new(&m.dir).join(&f.path);
    files::serve(
        &s,
        StoredFile {
            path: &path,
            content_type: &f.encoding_format,
            filename: &f.filename,
            sha256: &f.sha256,
        },
        &headers,
    )
    .await
    .map_err(|p| p.on(&on))
}

/// A JSON body of at most [`MAX_JSON_BODY`] bytes; `None` when the body is empty.
pub(crate) async fn json_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
) -> Result<Option<T>, Problem> {
    let bytes = axum::body::to_bytes(body, MAX_JSON_BODY)
        .await
        .map_err(|_| Problem::too_large(format!("the body is at most {MAX_JSON_BODY} bytes")))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| {
            let t = t.trim();
            t.eq_ignore_ascii_case("application/json") || t.to_ascii_lowercase().ends_with("+json")
        });
    if !json {
        return Err(Problem::unsupported_media_type(
            "the body is JSON: send Content-Type: application/json",
        ));
    }
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        Problem::bad_request(format!("the body is not the JSON expected here: {e}")).at("/")
    })
}

/// The case reference of an acknowledgement, trimmed; `None` when none (or an empty one) is
/// given. Shared with the Digipost archive's acknowledgement.
pub(crate) fn case_reference(request: &AckRequest) -> Result<Option<String>, Problem> {
    match request.case_reference.as_deref().map(str::trim) {
        Some("") | None => Ok(None),
        Some(c) if c.chars().count() > MAX_CASE_REFERENCE || c.chars().any(char::is_control) => {
            Err(Problem::bad_request(format!(
                "caseReference is at most {MAX_CASE_REFERENCE} characters, without control characters"
            ))
            .at("/caseReference"))
        }
        Some(c) => Ok(Some(c.to_owned())),
    }
}

/// Acknowledge a message: the platform has it (and, optionally, on which case).
#[utoipa::path(
    post,
    path = "/api/v1/messages/{uuid}/ack",
    operation_id = "acknowledgeMessage",
    tag = "messages",
    params(("uuid" = String, Path, description = "The messageUUID")),
    request_body(content = Option<AckRequest>, content_type = "application/json", description = "Optional"),
    security(("bearer" = ["messages:ack"])),
    responses(
        (status = 200, description = "Acknowledged and committed; a repeat answers the first acknowledgement", body = Acknowledgement),
        (status = 400, description = "A body that cannot be read", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No token, or an unknown one", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Without messages:ack", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such message", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "A body that is not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Not recorded (the store failed); repeat it", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn ack(
    State(s): State<Arc<ApiState>>,
    caller: Caller,
    uri: Uri,
    UrlPath(uuid): UrlPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Acknowledgement>, Problem> {
    let on = uri.path().to_owned();
    caller.require(Scope::MessagesAck).map_err(|p| p.on(&on))?;
    let request: AckRequest = json_body(&headers, body)
        .await
        .map_err(|p| p.on(&on))?
        .unwrap_or_default();
    let case = case_reference(&request).map_err(|p| p.on(&on))?;
    message_uuid(&uuid, &on)?;
    let visible = caller.visible().map(<[String]>::to_vec);
    let (id, actor, now) = (uuid.clone(), caller.actor(), s.clock.now_unix());
    let acked = with_store(&s, move |st| {
        st.handover_ack(&id, visible.as_deref(), &actor, case.as_deref(), now)
    })
    .await
    .map_err(|p| p.on(&on))?;
    let acked = acked.ok_or_else(|| no_message(&uuid, &on))?;
    if acked.new {
        tracing::info!(uuid = %uuid, by = %caller.actor(), "message acknowledged");
    }
    Ok(Json(acknowledgement(acked.ack)))
}

/// Move a message to another configured mailbox.
#[utoipa::path(
    post,
    path = "/api/v1/messages/{uuid}/route",
    operation_id = "routeMessage",
    tag = "messages",
    params(("uuid" = String, Path, description = "The messageUUID")),
    request_body(content = RouteRequest, content_type = "application/json"),
    security(("bearer" = ["messages:ack"])),
    responses(
        (status = 200, description = "Moved and committed; it takes a new place at the end of the feed", body = Routed),
        (status = 400, description = "A body that cannot be read", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No token, or an unknown one", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Without messages:ack", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such message", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "A body that is not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A mailbox that is not configured", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Not recorded (the store failed); repeat it", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn route(
    State(s): State<Arc<ApiState>>,
    caller: Caller,
    uri: Uri,
    UrlPath(uuid): UrlPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Routed>, Problem> {
    let on = uri.path().to_owned();
    caller.require(Scope::MessagesAck).map_err(|p| p.on(&on))?;
    let request: RouteRequest = json_body(&headers, body)
        .await
        .map_err(|p| p.on(&on))?
        .ok_or_else(|| {
            Problem::bad_request("the body names the mailbox: {\"mailbox\": \"…\"}")
                .at("/mailbox")
                .on(&on)
        })?;
    let mailboxes = s.mailboxes.get();
    if !mailboxes.contains(&request.mailbox) {
        return Err(Problem::unprocessable(format!(
            "{:?} is not a configured mailbox; the mailboxes are {}",
            request.mailbox,
            mailboxes.join(", ")
        ))
        .at("/mailbox")
        .on(&on));
    }
    message_uuid(&uuid, &on)?;
    let visible = caller.visible().map(<[String]>::to_vec);
    let (id, actor, now, to) = (
        uuid.clone(),
        caller.actor(),
        s.clock.now_unix(),
        request.mailbox.clone(),
    );
    let routed = with_store(&s, move |st| {
        st.handover_route(&id, visible.as_deref(), &to, &actor, now)
    })
    .await
    .map_err(|p| p.on(&on))?
    .ok_or_else(|| no_message(&uuid, &on))?;
    tracing::info!(uuid = %uuid, by = %caller.actor(), from = %routed.from, to = %routed.to, "message routed");
    Ok(Json(Routed {
        from: routed.from,
        mailbox: routed.to,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_nothing_else_is_one() {
        assert_eq!(parse_cursor(&cursor(42)), Some(42));
        assert_eq!(parse_cursor("42"), None);
        assert_eq!(parse_cursor(""), None);
        assert_eq!(
            parse_cursor(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("v1:-1")),
            None
        );
    }

    #[test]
    fn every_bad_parameter_names_itself() {
        for (q, field) in [
            ("limit=0", "limit"),
            ("limit=x", "limit"),
            ("state=new", "state"),
            ("invalid=yes", "invalid"),
            ("since=yesterday", "since"),
            ("cursor=abc", "cursor"),
            ("colour=red", "colour"),
            ("limit=1&limit=2", "limit"),
        ] {
            let p = parse_list(Some(q)).unwrap_err();
            assert_eq!(p.field.as_deref(), Some(field), "{q}");
            assert_eq!(p.status, 400);
        }
        let r = parse_list(Some(
            "mailbox=a%20b&state=pending&since=2026-01-01T00:00:00Z&limit=5",
        ))
        .unwrap();
        assert_eq!(r.mailbox.as_deref(), Some("a b"));
        assert_eq!(r.since.as_ref().unwrap().1, 1_767_225_600);
        let next = next_link(&r, 7);
        assert!(
            next.starts_with(
                "/api/v1/messages?mailbox=a+b&state=pending&since=2026-01-01T00%3A00%3A00Z&cursor="
            ),
            "{next}"
        );
        assert_eq!(
            parse_list(Some(next.split_once('?').unwrap().1))
                .unwrap()
                .after,
            7
        );
    }
}
