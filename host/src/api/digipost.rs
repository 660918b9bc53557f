//! `/api/v1/digipost/documents`: the Digipost archive (documents `dpost digipost sync` took
//! from an organisation's inbox) as a platform takes it over, the same way as received NgDP
//! messages: a list in archiving order with an opaque cursor, one document's metadata, its
//! content (and its attachments'), and its acknowledgement.
//!
//! The archive has no mailboxes, so a client restricted to mailboxes sees none of it (403):
//! its restriction says which mail it may read, and Digipost mail is none of that.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Json;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::files::{self, Served};
use super::messages::{
    AckRequest, Acknowledgement, DEFAULT_LIMIT, StateParam, acknowledgement, case_reference,
    cursor, json_body, parse_cursor, time,
};
use super::problem::{Problem, ProblemDetails};
use super::{ApiState, with_store};
use crate::config::api::Scope;
use crate::store::digipost::{ArchiveEntry, ArchiveFile, ArchiveQuery};
use crate::store::handover::AckState;

/// `GET /api/v1/digipost/documents`'s parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Read by hand from the query string (each error names its parameter); this is its description.
pub struct ListParams {
    /// Only documents from this sender's inbox (Digipost's sender id).
    sender: Option<i64>,
    /// `pending` (not acknowledged), `acknowledged`, or `all` (the default).
    #[param(inline)]
    state: Option<StateParam>,
    /// Where the previous page ended: the `cursor` of its `next` link. Absent: from the start.
    cursor: Option<String>,
    /// At most this many documents (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// A page of the archive.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentPage {
    /// The documents, in archiving order.
    pub documents: Vec<Document>,
    /// The request for what comes after this page, with the same filters. Present even when
    /// the page is empty: asked again later, it returns what was archived since.
    pub next: String,
    /// Whether more documents were already waiting when this page was made.
    pub has_more: bool,
}

/// An archived document.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    /// Digipost's id.
    pub id: i64,
    /// The sender whose inbox it came from (Digipost's sender id).
    pub inbox_sender_id: i64,
    /// The subject.
    pub subject: Option<String>,
    /// Who sent it (the name Digipost gives).
    pub sender: Option<String>,
    /// When Digipost delivered it (as Digipost gave it).
    pub delivery_time: Option<String>,
    /// The authentication level needed to read it.
    pub authentication_level: Option<String>,
    /// The content's media type.
    pub content_type: Option<String>,
    /// Bytes.
    pub size: u64,
    /// SHA-256, hex (also its ETag).
    pub sha256: String,
    /// Whether the redirect (307) to its content was signed; null when there was none.
    pub redirect_signed: Option<bool>,
    /// When dpost archived it (RFC 3339, UTC).
    pub archived_at: String,
    /// When Digipost confirmed deleting it from the inbox, or null while it is still there.
    pub deleted_at_digipost: Option<String>,
    /// Its attachments.
    pub attachments: Vec<Attachment>,
    /// The acknowledgement, or null while it is pending.
    pub acknowledgement: Option<Acknowledgement>,
    /// Its metadata.
    pub href: String,
    /// Its content.
    pub content_href: String,
}

/// An attachment of an archived document.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// Digipost's id.
    pub id: i64,
    /// The subject.
    pub subject: Option<String>,
    /// The content's media type.
    pub content_type: Option<String>,
    /// Bytes.
    pub size: u64,
    /// SHA-256, hex (also its ETag).
    pub sha256: String,
    /// Whether the redirect (307) to its content was signed; null when there was none.
    pub redirect_signed: Option<bool>,
    /// Its content.
    pub content_href: String,
}

fn text(metadata: &serde_json::Value, key: &str) -> Option<String> {
    metadata
        .get(key)
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

fn href(id: i64) -> String {
    format!("/api/v1/digipost/documents/{id}")
}

fn attachment(a: ArchiveFile) -> Attachment {
    Attachment {
        id: a.id,
        subject: text(&a.metadata, "subject"),
        redirect_signed: a.metadata.get("redirect_signed").and_then(|v| v.as_bool()),
        content_type: a.content_type,
        size: a.size,
        sha256: a.sha256,
        content_href: format!("{}/content", href(a.id)),
    }
}

/// A document as the API (and `dpost digipost archive`) describes it.
pub fn document(e: ArchiveEntry) -> Document {
    let m = &e.file.metadata;
    Document {
        id: e.file.id,
        inbox_sender_id: e.sender_id,
        subject: text(m, "subject"),
        sender: text(m, "sender"),
        delivery_time: text(m, "delivery_time"),
        authentication_level: text(m, "authentication_level"),
        redirect_signed: m.get("redirect_signed").and_then(|v| v.as_bool()),
        content_type: e.file.content_type,
        size: e.file.size,
        sha256: e.file.sha256,
        archived_at: time(e.archived_at),
        deleted_at_digipost: e.deleted_remotely_at.map(time),
        attachments: e.attachments.into_iter().map(attachment).collect(),
        acknowledgement: e.ack.map(acknowledgement),
        href: href(e.file.id),
        content_href: format!("{}/content", href(e.file.id)),
    }
}

/// The filters of a list request, as read from its query string.
#[derive(Debug, Default)]
struct ListRequest {
    sender: Option<i64>,
    state: Option<String>,
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
            "sender" => {
                r.sender = Some(
                    value
                        .parse::<i64>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| {
                            bad(format!(
                                "sender is a Digipost sender id (a number), not {value:?}"
                            ))
                        })?,
                );
            }
            "state" => match &*value {
                "pending" | "acknowledged" | "all" => r.state = Some(value.into_owned()),
                _ => {
                    return Err(bad(format!(
                        "state is pending, acknowledged or all, not {value:?}"
                    )));
                }
            },
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
                    "{key} is not a parameter here; the parameters are sender, state, cursor and limit"
                )));
            }
        }
    }
    Ok(r)
}

fn next_link(r: &ListRequest, after: i64) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    if let Some(s) = r.sender {
        q.append_pair("sender", &s.to_string());
    }
    if let Some(s) = &r.state {
        q.append_pair("state", s);
    }
    q.append_pair("cursor", &cursor(after));
    q.append_pair("limit", &r.limit.to_string());
    format!("/api/v1/digipost/documents?{}", q.finish())
}

/// The Digipost archive is for clients that may read every mailbox.
fn may_read(caller: &Caller, scope: Scope) -> Result<(), Problem> {
    caller.require(scope)?;
    if caller.visible().is_some() {
        return Err(Problem::mailbox_forbidden(format!(
            "the client {:?} is restricted to mailboxes; the Digipost archive belongs to none",
            caller.0.name
        )));
    }
    Ok(())
}

/// List archived Digipost documents.
#[utoipa::path(
    get,
    path = "/api/v1/digipost/documents",
    operation_id = "listDigipostDocuments",
    tag = "digipost",
    params(ListParams),
    security(("bearer" = ["messages:read"])),
    responses(
        (status = 200, description = "A page, in archiving order", body = DocumentPage),
        (status = 400, description = "A parameter that cannot be read", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No token, or an unknown one", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Without messages:read, or a client restricted to mailboxes", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(s): State<Arc<ApiState>>,
    caller: Caller,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Result<Json<DocumentPage>, Problem> {
    let on = uri.path().to_owned();
    may_read(&caller, Scope::MessagesRead).map_err(|p| p.on(&on))?;
    let r = parse_list(query.as_deref()).map_err(|p| p.on(&on))?;
    let q = ArchiveQuery {
        sender_id: r.sender,
        state: match r.state.as_deref() {
            Some("pending") => AckState::Pending,
            Some("acknowledged") => AckState::Acknowledged,
            _ => AckState::All,
        },
        since: None,
        after: r.after,
        // One more than asked, to know whether more are waiting.
        limit: r.limit + 1,
    };
    let mut entries = with_store(&s, move |st| st.digipost_feed(&q))
        .await
        .map_err(|p| p.on(&on))?;
    let has_more = entries.len() > r.limit as usize;
    entries.truncate(r.limit as usize);
    let after = entries.last().map_or(r.after, |e| e.seq);
    Ok(Json(DocumentPage {
        next: next_link(&r, after),
        has_more,
        documents: entries.into_iter().map(document).collect(),
    }))
}

/// Digipost's id from the path; anything else could only be a 404.
fn document_id(id: &str, on: &str) -> Result<i64, Problem> {
    id.parse::<i64>().map_err(|_| no_document(id, on))
}

fn no_document(id: &str, on: &str) -> Problem {
    Problem::not_found(format!("no Digipost document {id} is archived here"))
        .at("id")
        .on(on)
}

/// One archived document's metadata.
#[utoipa::path(
    get,
    path = "/api/v1/digipost/documents/{id}",
    operation_id = "getDigipostDocument",
    tag = "digipost",
    params(("id" = i64, Path, description = "Digipost's id of the document")),
    security(("bearer" = ["messages:read"])),
    responses(
        (status = 200, description = "The document", body = Document),
        (status = 401, description = "No token, or an unknown one", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Without messages:read, or a client restricted to mailboxes", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such document", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn show(
    State(s): State<Arc<ApiState>>,
    caller: Caller,
    uri: Uri,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Document>, Problem> {
    let on = uri.path().to_owned();
    may_read(&caller, Scope::MessagesRead).map_err(|p| p.on(&on))?;
    let n = document_id(&id, &on)?;
    let found = with_store(&s, move |st| st.digipost_document(n))
        .await
        .map_err(|p| p.on(&on))?;
    found
        .map(|e| Json(document(e)))
        .ok_or_else(|| no_document(&id, &on))
}

/// An archived document's (or attachment's) content.
#[utoipa::path(
    get,
    path = "/api/v1/digipost/documents/{id}/content",
    operation_id = "getDigipostDocumentContent",
    tag = "digipost",
    params(
        ("id" = i64, Path, description = "Digipost's id of the document or attachment"),
        ("Range" = Option<String>, Header, description = "One byte range, e.g. bytes=0-1023"),
        ("If-None-Match" = Option<String>, Header, description = "The ETag held: 304 when it is this one"),
    ),
    security(("bearer" = ["messages:read"])),
    responses(
        (status = 200, description = "The content, with its own Content-Type; ETag is its SHA-256", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "The range asked for", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 304, description = "Unchanged (If-None-Match)"),
        (status = 401, description = "No token, or an unknown one", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Without messages:read, or a client restricted to mailboxes", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such document or attachment", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 416, description = "A range outside the content", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn content(
    State(s): State<Arc<ApiState>>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, Problem> {
    let on = uri.path().to_owned();
    may_read(&caller, Scope::MessagesRead).map_err(|p| p.on(&on))?;
    let n = document_id(&id, &on)?;
    let d = with_store(&s, move |st| st.digipost_by_id(n))
        .await
        .map_err(|p| p.on(&on))?
        .ok_or_else(|| no_document(&id, &on))?;
    let content_type = d
        .content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    let filename = filename(&d.metadata, d.id, &content_type);
    files::serve_bytes(
        bytes::Bytes::from(d.content),
        Served {
            content_type: &content_type,
            filename: &filename,
            sha256: &d.content_sha256,
        },
        &headers,
    )
    .await
    .map_err(|p| p.on(&on))
}

/// The name offered for a document: its subject (made safe by `content_disposition`) and an
/// extension for its media type, else its id.
pub fn filename(metadata: &serde_json::Value, id: i64, content_type: &str) -> String {
    let stem = text(metadata, "subject")
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| id.to_string());
    let ext = match content_type.split(';').next().unwrap_or("").trim() {
        "application/pdf" => ".pdf",
        "text/plain" => ".txt",
        "text/html" => ".html",
        "image/png" => ".png",
        "image/jpeg" => ".jpg",
        _ => "",
    };
    format!("{stem}{ext}")
}

/// Acknowledge an archived document: the platform has it (and, optionally, on which case).
#[utoipa::path(
    post,
    path = "/api/v1/digipost/documents/{id}/ack",
    operation_id = "acknowledgeDigipostDocument",
    tag = "digipost",
    params(("id" = i64, Path, description = "Digipost's id of the document")),
    request_body(content = Option<AckRequest>, content_type = "application/json", description = "Optional"),
    security(("bearer" = ["messages:ack"])),
    responses(
        (status = 200, description = "Acknowledged and committed; a repeat answers the first acknowledgement", body = Acknowledgement),
        (status = 400, description = "A body that cannot be read", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No token, or an unknown one", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Without messages:ack, or a client restricted to mailboxes", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such document (attachments are acknowledged with theirs)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "A body that is not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Not recorded (the store failed); repeat it", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn ack(
    State(s): State<Arc<ApiState>>,
    caller: Caller,
    uri: Uri,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Acknowledgement>, Problem> {
    let on = uri.path().to_owned();
    may_read(&caller, Scope::MessagesAck).map_err(|p| p.on(&on))?;
    let request: AckRequest = json_body(&headers, body)
        .await
        .map_err(|p| p.on(&on))?
        .unwrap_or_default();
    let case = case_reference(&request).map_err(|p| p.on(&on))?;
    let n = document_id(&id, &on)?;
    let (actor, now) = (caller.actor(), s.clock.now_unix());
    let acked = with_store(&s, move |st| {
        st.digipost_ack(n, &actor, case.as_deref(), now)
    })
    .await
    .map_err(|p| p.on(&on))?
    .ok_or_else(|| no_document(&id, &on))?;
    if acked.new {
        tracing::info!(id = n, by = %caller.actor(), "Digipost document acknowledged");
    }
    Ok(Json(acknowledgement(acked.ack)))
}
