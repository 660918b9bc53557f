//! One message: its header in words, where it was routed and why, its validation problems
//! with their place, its business receipt, its history, and its documents (PDFs and images
//! shown in the page, the rest downloadable, the MeMo as received downloadable); and the
//! actions on it: acknowledge and move, by the API's own store operations.

use std::path::Path as FsPath;
use std::sync::Arc;

use askama::Template;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;

use super::access::{self, Signed};
use super::i18n::Lang;
use super::{ConsoleState, Page, html, query_pairs, when};
use crate::api::files::{self, StoredFile};
use crate::api::messages::{AckRequest, case_reference};
use crate::config::console::Role;
use crate::store::ngdp::StoredMessage;

/// Media types shown in the page rather than only downloaded: what a browser displays
/// without running anything the sender wrote. SVG is an image that can carry script, and
/// HTML is never rendered: both are downloads.
pub const SHOWN_INLINE: &[&str] = &[
    "application/pdf",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
];

/// A document file as listed.
pub struct FileRow {
    /// Its number.
    pub n: u32,
    /// Its name.
    pub filename: String,
    /// Its media type.
    pub content_type: String,
    /// main, additional or technical, and the document's label.
    pub document: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256.
    pub sha256: String,
    /// pdf | image | "" (download only).
    pub preview: &'static str,
}

/// A line of the history.
pub struct HistoryRow {
    /// When.
    pub at: String,
    /// Who.
    pub by: String,
    /// What.
    pub action: String,
    /// Details.
    pub detail: String,
    at_unix: i64,
}

/// A validation problem.
pub struct ProblemRow {
    /// error | warning.
    pub severity: String,
    /// line:column and the path.
    pub place: String,
    /// The message.
    pub message: String,
}

/// The message page.
#[derive(Template)]
#[template(path = "console/message.html")]
pub struct MessagePage {
    /// The layout.
    pub page: Page,
    /// messageUUID.
    pub uuid: String,
    /// Summary lines: (label key, value).
    pub facts: Vec<(&'static str, String)>,
    /// The MeMo header, flattened: (path, value).
    pub header: Vec<(String, String)>,
    /// The routing decision, in words.
    pub routing: String,
    /// The contact point that decided.
    pub contact_point: String,
    /// Problems.
    pub problems: Vec<ProblemRow>,
    /// Files.
    pub files: Vec<FileRow>,
    /// The business receipt's status.
    pub receipt_status: String,
    /// NgDP's reason, when it refused.
    pub receipt_error: String,
    /// Whether it can be retried.
    pub receipt_refused: bool,
    /// Acknowledged already.
    pub acknowledged: bool,
    /// History, oldest first.
    pub history: Vec<HistoryRow>,
    /// Where it may be moved.
    pub mailboxes: Vec<String>,
    /// Its mailbox.
    pub mailbox: String,
    /// The MeMo's size.
    pub raw_size: u64,
}

/// `value` flattened into (path, text) pairs, scalars only.
pub fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&p, v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{}]", i + 1), v, out);
            }
        }
        Value::Null => {}
        Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

/// Why a message is in its mailbox, in words (the reasons `ngdp::receive` and
/// `store::handover` record).
pub fn routing_in_words(reason: &Value, lang: Lang) -> String {
    let (en, da) = match reason["reason"].as_str().unwrap_or("") {
        "recipient-contact-point" => (
            "the recipient's contact point is mapped to this mailbox",
            "modtagerens kontaktpunkt peger på denne postkasse",
        ),
        "reply-contact-point" => (
            "the reply's contact point (ReplyData) is mapped to this mailbox",
            "svarets kontaktpunkt (ReplyData) peger på denne postkasse",
        ),
        "unknown-contact-point" => (
            "its contact point is not configured, so it went to the standard mailbox",
            "dens kontaktpunkt er ikke konfigureret, så den kom i standardpostkassen",
        ),
        "no-contact-point" => (
            "it names no contact point, so it went to the standard mailbox",
            "den angiver intet kontaktpunkt, så den kom i standardpostkassen",
        ),
        "routed" => {
            let by = reason["by"].as_str().unwrap_or("?");
            let from = reason["from"].as_str().unwrap_or("?");
            return match lang {
                Lang::En => format!("moved here from {from} by {by}"),
                Lang::Da => format!("flyttet hertil fra {from} af {by}"),
            };
        }
        other => return other.to_owned(),
    };
    match lang {
        Lang::En => en.to_owned(),
        Lang::Da => da.to_owned(),
    }
}

fn preview(content_type: &str) -> &'static str {
    let t = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !SHOWN_INLINE.contains(&t.as_str()) {
        ""
    } else if t == "application/pdf" {
        "pdf"
    } else {
        "image"
    }
}

fn notice(query: Option<&str>, lang: Lang) -> Option<String> {
    let q = query_pairs(query);
    q.get("done").map(|d| match d.as_str() {
        "ack" => lang.t("ack").to_owned() + ": " + lang.t("done"),
        "route" => lang.t("move_button").to_owned() + ": " + lang.t("done"),
        "retry" => lang.t("retry").to_owned() + ": " + lang.t("done"),
        _ => lang.t("done").to_owned(),
    })
}

async fn load(s: &ConsoleState, who: &Signed, uuid: &str) -> Result<StoredMessage, Response> {
    let id = uuid.to_owned();
    match super::store(s, who.lang, move |st| st.ngdp_message(&id)).await? {
        Some(m) => Ok(m),
        None => Err(who.error(
            StatusCode::NOT_FOUND,
            format!("{} {uuid}", who.lang.t("no_message")),
        )),
    }
}

/// `GET /messages/{uuid}`.
pub async fn page(
    State(s): State<Arc<ConsoleState>>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let who = match access::viewer(&s, &headers) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let lang = who.lang;
    let m = match load(&s, &who, &uuid).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let id = m.uuid.clone();
    let loaded = super::store(&s, lang, move |st| {
        Ok((
            st.handover_state(&id)?,
            st.console_audit_log(Some(&id), None, 200)?,
        ))
    })
    .await;
    let (state, audit) = match loaded {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut history: Vec<HistoryRow> = Vec::new();
    let acknowledged = state.as_ref().is_some_and(|h| h.ack.is_some());
    for a in state.map(|h| h.audit).unwrap_or_default() {
        let mut d = Vec::new();
        flatten("", &a.detail, &mut d);
        history.push(HistoryRow {
            at: when(a.at),
            at_unix: a.at,
            by: a.actor,
            action: a.action,
            detail: d
                .into_iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    // The console's own actions on it that the handover record does not hold.
    for a in audit
        .into_iter()
        .rev()
        .filter(|a| a.action != "ack" && a.action != "route")
    {
        history.push(HistoryRow {
            at: when(a.at),
            at_unix: a.at,
            by: a.actor,
            action: a.action,
            detail: a.detail,
        });
    }
    history.sort_by_key(|h| h.at_unix);
    let mut header = Vec::new();
    flatten("", &m.header, &mut header);
    let problems = m
        .problems
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| ProblemRow {
                    severity: p["severity"].as_str().unwrap_or("").to_owned(),
                    place: format!(
                        "{}:{} {}",
                        p["line"],
                        p["column"],
                        p["path"].as_str().unwrap_or("")
                    ),
                    message: p["message"].as_str().unwrap_or("").to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    let sender = [m.sender_label.clone(), m.sender_id.clone()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · ");
    let facts = vec![
        ("label", m.label.clone().unwrap_or_default()),
        ("sender", sender),
        ("recipient", m.recipient_id.clone().unwrap_or_default()),
        (
            "received",
            format!("{} ({}, {})", when(m.received_at), m.via, m.environment),
        ),
        ("system", m.system_id.clone()),
        (
            "valid",
            lang.t(if m.valid { "yes" } else { "no" }).to_owned(),
        ),
        ("mailbox", m.mailbox.clone()),
    ];
    let status = m.receipt_status.clone().unwrap_or_default();
    let mut view = MessagePage {
        page: who.page(
            &s,
            "messages",
            m.label.clone().unwrap_or_else(|| m.uuid.clone()),
        ),
        facts,
        header,
        routing: routing_in_words(&m.routing_reason, lang),
        contact_point: m.contact_point.clone().unwrap_or_default(),
        problems,
        files: m
            .files
            .iter()
            .map(|f| FileRow {
                n: f.seq,
                filename: f.filename.clone(),
                content_type: f.encoding_format.clone(),
                document: format!(
                    "{} {}{}",
                    f.document_seq,
                    f.document_kind,
                    f.document_label
                        .as_deref()
                        .map(|l| format!(": {l}"))
                        .unwrap_or_default()
                ),
                size: f.size,
                sha256: f.sha256.clone(),
                preview: preview(&f.encoding_format),
            })
            .collect(),
        receipt_refused: status == "rejected" || status == "refused",
        receipt_status: status,
        receipt_error: m.receipt_error.clone().unwrap_or_default(),
        acknowledged,
        history,
        mailboxes: s
            .api
            .mailboxes
            .get()
            .iter()
            .filter(|b| **b != m.mailbox)
            .cloned()
            .collect(),
        mailbox: m.mailbox.clone(),
        raw_size: m.raw_size,
        uuid: m.uuid,
    };
    view.page.notice = notice(query.as_deref(), lang);
    html(StatusCode::OK, &view)
}

/// `GET /messages/{uuid}/memo`: the MeMo as received, always a download.
pub async fn memo(
    State(s): State<Arc<ConsoleState>>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> Response {
    let who = match access::viewer(&s, &headers) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let m = match load(&s, &who, &uuid).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let path = FsPath::new(&m.dir).join("message.xml");
    let filename = format!("{}.xml", m.uuid);
    files::serve(
        &s.api,
        StoredFile {
            path: &path,
            content_type: "application/xml",
            filename: &filename,
            sha256: &m.raw_sha256,
        },
        &headers,
    )
    .await
    .unwrap_or_else(|p| super::problem_page(p, who.lang))
}

/// `GET /messages/{uuid}/files/{n}`: a document file. PDFs and images are answered
/// `inline` for the page's frame or image, under a policy that lets them run nothing and be
/// framed only by the console; everything else is an `attachment`.
pub async fn file(
    State(s): State<Arc<ConsoleState>>,
    headers: HeaderMap,
    Path((uuid, n)): Path<(String, String)>,
) -> Response {
    let who = match access::viewer(&s, &headers) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let m = match load(&s, &who, &uuid).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let Some(f) = n
        .parse::<u32>()
        .ok()
        .and_then(|n| m.files.iter().find(|f| f.seq == n))
    else {
        return who.error(
            StatusCode::NOT_FOUND,
            format!("{} {uuid}: {n}", who.lang.t("no_file")),
        );
    };
    let path = FsPath::new(&m.dir).join(&f.path);
    let kind = preview(&f.encoding_format);
    // A type shown inline is answered as exactly that type; the rest as a download of
    // bytes, whatever type the sender declared.
    let content_type = if kind.is_empty() {
        "application/octet-stream".to_owned()
    } else {
        f.encoding_format
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    };
    let mut r = match files::serve(
        &s.api,
        StoredFile {
            path: &path,
            content_type: &content_type,
            filename: &f.filename,
            sha256: &f.sha256,
        },
        &headers,
    )
    .await
    {
        Ok(r) => r,
        Err(p) => return super::problem_page(p, who.lang),
    };
    if !kind.is_empty() {
        let h = r.headers_mut();
        if let Some(d) = h
            .get(header::CONTENT_DISPOSITION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("attachment"))
            .and_then(|rest| HeaderValue::from_str(&format!("inline{rest}")).ok())
        {
            h.insert(header::CONTENT_DISPOSITION, d);
        }
        // A PDF viewer is refused in a sandboxed document, so PDFs get everything but the
        // sandbox; images get the sandbox too.
        let csp = if kind == "pdf" {
            "default-src 'none'; frame-ancestors 'self'"
        } else {
            "default-src 'none'; sandbox; frame-ancestors 'self'"
        };
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(csp),
        );
        h.insert(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("SAMEORIGIN"),
        );
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        );
    }
    r
}

fn back(uuid: &str, done: &str) -> Response {
    Redirect::to(&format!("/messages/{uuid}?done={done}")).into_response()
}

/// `POST /messages/{uuid}/ack` (operator): acknowledge, with an optional case reference.
pub async fn ack(
    State(s): State<Arc<ConsoleState>>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
    body: Body,
) -> Response {
    let (who, form) = match access::act(&s, &headers, body, Role::Operator).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let case = match case_reference(&AckRequest {
        case_reference: form.get("case").cloned(),
    }) {
        Ok(c) => c,
        Err(p) => return who.error(StatusCode::BAD_REQUEST, p.detail.clone()),
    };
    let (id, actor, now) = (uuid.clone(), who.actor(), s.api.clock.now_unix());
    let done = super::store(&s, who.lang, move |st| {
        let acked = st.handover_ack(&id, None, &actor, case.as_deref(), now)?;
        if let Some(a) = &acked
            && a.new
        {
            st.console_audit(
                now,
                &actor,
                "ack",
                &id,
                &serde_json::json!({ "caseReference": case }),
            )?;
        }
        Ok(acked)
    })
    .await;
    match done {
        Ok(Some(_)) => {
            tracing::info!(uuid = %uuid, by = %who.actor(), "console: message acknowledged");
            back(&uuid, "ack")
        }
        Ok(None) => who.error(
            StatusCode::NOT_FOUND,
            format!("{} {uuid}", who.lang.t("no_message")),
        ),
        Err(r) => r,
    }
}

/// `POST /messages/{uuid}/route` (operator): move to another configured mailbox.
pub async fn route(
    State(s): State<Arc<ConsoleState>>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
    body: Body,
) -> Response {
    let (who, form) = match access::act(&s, &headers, body, Role::Operator).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let to = form.get("mailbox").cloned().unwrap_or_default();
    let mailboxes = s.api.mailboxes.get();
    if !mailboxes.contains(&to) {
        return who.error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "{to:?}: {} ({})",
                who.lang.t("mailbox"),
                mailboxes.join(", ")
            ),
        );
    }
    let (id, actor, now) = (uuid.clone(), who.actor(), s.api.clock.now_unix());
    let done = super::store(&s, who.lang, move |st| {
        let routed = st.handover_route(&id, None, &to, &actor, now)?;
        if let Some(r) = &routed
            && r.from != r.to
        {
            st.console_audit(
                now,
                &actor,
                "route",
                &id,
                &serde_json::json!({ "from": r.from, "to": r.to }),
            )?;
        }
        Ok(routed)
    })
    .await;
    match done {
        Ok(Some(r)) => {
            tracing::info!(uuid = %uuid, by = %who.actor(), from = %r.from, to = %r.to, "console: message moved");
            back(&uuid, "route")
        }
        Ok(None) => who.error(
            StatusCode::NOT_FOUND,
            format!("{} {uuid}", who.lang.t("no_message")),
        ),
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pdfs_and_plain_images_are_shown() {
        assert_eq!(preview("application/pdf"), "pdf");
        assert_eq!(preview("IMAGE/PNG; q=1"), "image");
        assert_eq!(preview("image/svg+xml"), "");
        assert_eq!(preview("text/html"), "");
    }

    #[test]
    fn json_is_flattened_into_words() {
        let mut out = Vec::new();
        flatten(
            "",
            &serde_json::json!({"a": {"b": 1, "c": [ "x" ]}, "n": null}),
            &mut out,
        );
        assert_eq!(
            out,
            [
                ("a.b".to_owned(), "1".to_owned()),
                ("a.c[1]".to_owned(), "x".to_owned())
            ]
        );
        assert!(
            routing_in_words(
                &serde_json::json!({"reason": "routed", "by": "console:ops", "from": "a"}),
                Lang::En
            )
            .contains("console:ops")
        );
    }
}
