//! NgDP's REST API as a receiving or sending system sees it (`/apis/v1/…`), in the shapes
//! NgDP's OpenAPI document 1.68.0 publishes (`docs/ngdp-wire.md`), and the simulator's own
//! introspection (`/_sim/status`).
//!
//! ```text
//! GET    /apis/v1/memos/?page=P&size=S   200 PagingResultUUID {"content":[uuid…],"number",
//!                                        "size","previous","next","totalElements","totalPages"}
//! GET    /apis/v1/memos/{uuid}           the MeMo XML, streamed from its file; 404
//! DELETE /apis/v1/memos/{uuid}           204; 404 when unknown or already deleted
//! POST   /apis/v1/memos/?memo-message-uuid=U  send: 201 with one RECEIVED Receipt; 400 with
//!                                        the validator's problems for an invalid message
//! POST   /apis/v1/memos/  (Content-Type: application/x-lzma, or multipart/form-data with the
//!                                        archive in the part `file`) a batch: a tar archive of
//!                                        `<uuid>.xml` members, LZMA-compressed; 201 with ONE
//!                                        Receipt; 400 naming the first bad member (none of
//!                                        the batch is stored)
//! POST   /apis/v1/memos/{uuid}/receipt   200 with no body; 400 ErrorMessage for a receipt the
//!                                        component finds incomplete
//! GET|DELETE /apis/v1/receipts/…, GET /apis/v1/receipts-bulk/   see [`super::receipts`]
//! GET    /_sim/status                    everything the simulator did (no authorization)
//! ```
//! Every `/apis/v1` request needs `Authorization: Basic …`; with credentials configured it
//! must be `Basic base64(systemId:apiToken)`, compared by the component in constant time.
//! A send (`POST memos/`) must declare `Content-Length` (the document declares it for
//! SendMemo); a chunked one is answered 411. A messageUUID sent before is stored once and
//! answered as `--resend-answer` says. Errors are NgDP's `ErrorMessage`:
//! `{"code", "message", "fieldErrors": [...]}`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::NgdpSimulator;
use super::state::ReceivedReceipt;
use crate::bindings::exports::dpost::protocol::ngdp::Authorization;
use crate::bindings::memo_wit as wit;

/// The page size when the request names none.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// The largest page size accepted.
pub const MAX_PAGE_SIZE: usize = 500;
/// The largest message a send may post; it is kept in memory.
const MAX_SEND_BYTES: usize = 256 << 20;
/// The largest receipt body accepted; real receipts are a few hundred bytes.
const MAX_RECEIPT_BYTES: usize = 1 << 20;

/// The router's single handler: routes by method and path segments.
pub async fn handle(State(sim): State<Arc<NgdpSimulator>>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let response = match segments.as_slice() {
        ["_sim", "status"] if method == Method::GET => json_response(StatusCode::OK, &sim.status()),
        ["apis", "v1", rest @ ..] => {
            // CreateReceipt documents its 401 without a body schema (NgDP OpenAPI 1.68.0);
            // the other operations answer an ErrorMessage.
            let plain = method == Method::POST && matches!(rest, ["memos", _, "receipt"]);
            if let Some(refused) = sim.refuse_unauthorized(request.headers(), plain) {
                refused
            } else {
                match (&method, rest) {
                    (&Method::GET, ["memos"]) => sim.list(&query),
                    (&Method::POST, ["memos"]) if !has_length(request.headers()) => error(
                        StatusCode::LENGTH_REQUIRED,
                        "LENGTH_REQUIRED",
                        "a send must declare Content-Length (the size of the MeMo XML or tar.lzma file); it was chunked",
                    ),
                    (&Method::POST, ["memos"]) if is_batch(request.headers()) => {
                        sim.clone().accept_batch(request).await
                    }
                    (&Method::POST, ["memos"]) => sim.accept_send(&query, request).await,
                    (&Method::GET, ["memos", uuid]) => sim.message(uuid).await,
                    (&Method::DELETE, ["memos", uuid]) => sim.delete(uuid),
                    (&Method::GET, ["receipts"]) => sim.list_receipts(&query),
                    (&Method::GET, ["receipts", id]) => sim.fetch_receipt(id, &query),
                    (&Method::DELETE, ["receipts", id]) => sim.delete_receipt(id),
                    (&Method::GET, ["receipts-bulk"]) => sim.bulk_receipts(&query),
                    (&Method::POST, ["memos", uuid, "receipt"]) => {
                        let uuid = (*uuid).to_owned();
                        sim.receipt(&uuid, request).await
                    }
                    (_, ["memos"] | ["memos", _] | ["memos", _, "receipt"]) => error(
                        StatusCode::METHOD_NOT_ALLOWED,
                        "METHOD_NOT_ALLOWED",
                        &format!("{method} is not served on {path}"),
                    ),
                    _ => not_found(&path),
                }
            }
        }
        _ => not_found(&path),
    };
    tracing::debug!(%method, %path, status = response.status().as_u16(), "ngdp simulator");
    response
}

impl NgdpSimulator {
    /// A 401 unless the request carries the Basic credentials NgDP expects; `plain` answers
    /// it as text instead of an `ErrorMessage`.
    fn refuse_unauthorized(&self, headers: &HeaderMap, plain: bool) -> Option<Response> {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let verdict = match (&self.api_authorization, presented) {
            (_, None) => Authorization::Missing,
            (Some(expected), Some(given)) => {
                let given = given.to_owned();
                match self.pool.with(|i| {
                    i.call(|b, s| {
                        b.dpost_protocol_ngdp()
                            .call_authorize(s, expected, Some(&given))
                    })
                }) {
                    Ok(Ok(v)) => v,
                    Ok(Err(e)) | Err(e) => return Some(internal(&e.to_string())),
                }
            }
            (None, Some(given)) => {
                let scheme = given.trim_start().get(..6).unwrap_or("");
                if scheme.eq_ignore_ascii_case("basic ") {
                    Authorization::Ok
                } else {
                    Authorization::Mismatch
                }
            }
        };
        let message = match verdict {
            Authorization::Ok => return None,
            Authorization::Missing => "the request has no Authorization header",
            Authorization::Mismatch => {
                "the Authorization header is not Basic base64(systemId:apiToken) for this system"
            }
        };
        let mut response = if plain {
            Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::from(message))
                .unwrap_or_else(|_| empty(StatusCode::UNAUTHORIZED))
        } else {
            error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
        };
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"NgDP\""),
        );
        Some(response)
    }

    /// The index of the listed message with this UUID (UUIDs compare without case).
    fn find(&self, uuid: &str) -> Option<usize> {
        self.messages
            .iter()
            .enumerate()
            .find(|(i, m)| m.uuid.eq_ignore_ascii_case(uuid) && self.state.is_listed(*i))
            .map(|(i, _)| i)
    }

    /// `GET memos/`: a `PagingResultUUID` of the messages still listed.
    fn list(&self, query: &str) -> Response {
        let (page, size) = match paging(query) {
            Ok(p) => p,
            Err(r) => return *r,
        };
        let ids: Vec<String> = self
            .state
            .listed()
            .iter()
            .filter_map(|i| self.messages.get(*i).map(|m| m.uuid.clone()))
            .collect();
        json_response(StatusCode::OK, &paging_result(&ids, page, size))
    }

    async fn message(&self, uuid: &str) -> Response {
        let Some(index) = self.find(uuid) else {
            return unknown_memo(uuid);
        };
        let path = &self.messages[index].path;
        let file = match tokio::fs::File::open(path).await {
            Ok(f) => f,
            Err(e) => return internal(&format!("cannot open {}: {e}", path.display())),
        };
        let length = file.metadata().await.ok().map(|m| m.len());
        let mut builder = Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/xml");
        if let Some(length) = length {
            builder = builder.header(header::CONTENT_LENGTH, length);
        }
        // Streamed: a message may be ~100 MB.
        let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
        builder
            .body(body)
            .unwrap_or_else(|e| internal(&e.to_string()))
    }

    fn delete(&self, uuid: &str) -> Response {
        match self.find(uuid) {
            Some(index) if self.state.delete(index, &self.messages[index].uuid) => {
                tracing::info!(uuid = %self.messages[index].uuid, "deleted");
                empty(StatusCode::NO_CONTENT)
            }
            _ => unknown_memo(uuid),
        }
    }

    async fn receipt(&self, uuid: &str, request: Request) -> Response {
        if super::receipts::take_one(&self.receipt_failures) {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                "the receipt could not be taken now (--fail-business-receipts)",
            );
        }
        let bytes = match axum::body::to_bytes(request.into_body(), MAX_RECEIPT_BYTES).await {
            Ok(b) => b,
            Err(_) => {
                return error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "TOO_LARGE",
                    &format!("a receipt is at most {MAX_RECEIPT_BYTES} bytes"),
                );
            }
        };
        let Ok(text) = std::str::from_utf8(&bytes) else {
            return error(
                StatusCode::BAD_REQUEST,
                "INVALID_RECEIPT",
                "the receipt is not UTF-8",
            );
        };
        let parsed = self
            .pool
            .with(|i| i.call(|b, s| b.dpost_protocol_memo().call_parse_receipt(s, text)));
        let receipt = match parsed {
            Ok(Ok(Ok(r))) => r,
            Ok(Ok(Err(e))) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_RECEIPT",
                    &crate::ngdp::api_error::receipt_error(&e),
                );
            }
            Ok(Err(e)) | Err(e) => return internal(&e.to_string()),
        };
        // What NgDP does with an incomplete business receipt is not published; the simulator
        // refuses one, with an ErrorMessage naming each field, so a client shows the reason.
        if !receipt.warnings.is_empty() {
            let fields: Vec<Value> = receipt
                .warnings
                .iter()
                .map(|w| json!({"resource": "receipt", "field": warned_field(w), "code": "INVALID", "message": w, "rejectedValue": null}))
                .collect();
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"code": "INVALID_RECEIPT", "message": "the receipt is incomplete", "fieldErrors": fields}),
            );
        }
        if !receipt
            .message_uuid
            .as_deref()
            .is_some_and(|u| u.eq_ignore_ascii_case(uuid))
        {
            return error(
                StatusCode::BAD_REQUEST,
                "INVALID_RECEIPT",
                &format!(
                    "the receipt's messageUUID {} is not the {uuid} of the path",
                    receipt.message_uuid.as_deref().unwrap_or("")
                ),
            );
        }
        let known = self
            .messages
            .iter()
            .any(|m| m.uuid.eq_ignore_ascii_case(uuid));
        tracing::info!(%uuid, status = ?receipt.receipt_status, known, "receipt received");
        self.state.add_receipt(ReceivedReceipt {
            uuid: uuid.to_owned(),
            known,
            received_at: self.clock.now_unix(),
            receipt: serde_json::from_str(text).unwrap_or(Value::String(text.to_owned())),
        });
        empty(StatusCode::OK)
    }
}

impl NgdpSimulator {
    /// `POST memos/?memo-message-uuid=U`: a sending system sends one message.
    async fn accept_send(&self, query: &str, request: Request) -> Response {
        let uuid = query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| *k == "memo-message-uuid")
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        let Some(uuid) = uuid else {
            return error(
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETER",
                "memo-message-uuid is missing",
            );
        };
        let body = match axum::body::to_bytes(request.into_body(), MAX_SEND_BYTES).await {
            Ok(b) => b,
            Err(_) => {
                return error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "TOO_LARGE",
                    &format!("a message is at most {MAX_SEND_BYTES} bytes here"),
                );
            }
        };
        // The component validates it, as NgDP does before it takes a message.
        let header_uuid = match self.validate(&body) {
            Ok(h) => h,
            Err(Refusal::NotMemo(problems)) => {
                return invalid_memo("the body is not a MeMo message", problems);
            }
            Err(Refusal::Invalid(problems)) => {
                return invalid_memo("the message is not valid MeMo", problems);
            }
            Err(Refusal::Failed(e)) => return internal(&e.to_string()),
        };
        if !header_uuid.is_some_and(|h| h.eq_ignore_ascii_case(&uuid)) {
            return error(
                StatusCode::BAD_REQUEST,
                "UUID_MISMATCH",
                &format!("the message's messageUUID is not the {uuid} of memo-message-uuid"),
            );
        }
        let first = self.state.add_sent(&uuid, body);
        tracing::info!(%uuid, first, "message sent to NgDP");
        if first {
            self.push_business_receipt(&uuid);
        } else if let Some(refused) = self.resend_refusal(&uuid) {
            return refused;
        }
        if self.take_drop() {
            tracing::info!(%uuid, "dropping the connection without an answer (--drop-first-sends)");
            return dropped_connection();
        }
        let receipt = self.received_receipt(&uuid);
        json_response(StatusCode::CREATED, &receipt)
    }
}

/// Whether the request's body is a batch: `Content-Type: application/x-lzma`, or
/// `multipart/form-data` (whose part `file` holds the archive; NgDP OpenAPI document 1.68.0,
/// SendMemo).
fn is_batch(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let media = v.split(';').next().unwrap_or("").trim();
            media.eq_ignore_ascii_case(crate::ngdp::batch::CONTENT_TYPE)
                || media.eq_ignore_ascii_case("multipart/form-data")
        })
}

/// Whether the request declares its body's length (`Content-Length`, not chunked).
fn has_length(headers: &HeaderMap) -> bool {
    headers.contains_key(header::CONTENT_LENGTH) && !headers.contains_key(header::TRANSFER_ENCODING)
}

/// A receiver as a stream.
fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// The page and size a list request asks for (`page` zero-based, default 0; `size` default
/// [`DEFAULT_PAGE_SIZE`]), or the 400 answer.
pub(crate) fn paging(query: &str) -> Result<(usize, usize), Box<Response>> {
    let (mut page, mut size) = (0usize, DEFAULT_PAGE_SIZE);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let target = match key {
            "page" => &mut page,
            "size" => &mut size,
            _ => continue,
        };
        match value.parse::<usize>() {
            Ok(n) => *target = n,
            Err(_) => {
                return Err(Box::new(error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_PARAMETER",
                    &format!("{key} must be a whole number, not {value:?}"),
                )));
            }
        }
    }
    if !(1..=MAX_PAGE_SIZE).contains(&size) {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER",
            &format!("size must be 1..={MAX_PAGE_SIZE}"),
        )));
    }
    Ok((page, size))
}

/// NgDP's `PagingResultUUID` for page `page` of `ids` (NgDP OpenAPI document 1.68.0):
/// `previous`/`next` are `PagingArguments {page, size, ordering}`, null at the ends.
pub(crate) fn paging_result(ids: &[String], page: usize, size: usize) -> Value {
    let total = ids.len();
    let pages = total.div_ceil(size);
    let content: Vec<&String> = ids
        .iter()
        .skip(page.saturating_mul(size))
        .take(size)
        .collect();
    let arguments = |p: usize| json!({"page": p, "size": size, "ordering": []});
    json!({
        "content": content,
        "number": page,
        "size": size,
        "previous": if page > 0 { arguments(page - 1) } else { Value::Null },
        "next": if page + 1 < pages { arguments(page + 1) } else { Value::Null },
        "totalElements": total,
        "totalPages": pages,
    })
}

/// Why the component refuses a message.
enum Refusal {
    /// Not a MeMo at all; the problem, as a JSON list.
    NotMemo(Value),
    /// A MeMo that fails validation; its problems.
    Invalid(Value),
    /// The component or the reading failed.
    Failed(anyhow::Error),
}

/// Why a batch member is refused.
struct BadMember {
    member: String,
    message: String,
    problems: Value,
}

impl NgdpSimulator {
    /// `POST memos/` with a batch: decompressed and untarred as the body arrives (on a
    /// blocking thread), each member validated by the component; all stored, or none.
    async fn accept_batch(self: Arc<Self>, request: Request) -> Response {
        use futures_util::TryStreamExt as _;
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let stream = request
            .into_body()
            .into_data_stream()
            .map_err(std::io::Error::other);
        let stream: std::pin::Pin<
            Box<dyn futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send>,
        > = if crate::ngdp::multipart::is_multipart(&content_type) {
            // The archive is the part named `file`; forwarded chunk by chunk.
            let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(8);
            tokio::spawn(async move {
                let sink_tx = tx.clone();
                let forwarded = crate::ngdp::multipart::forward_file_part(
                    &content_type,
                    stream,
                    MAX_SEND_BYTES as u64,
                    move |chunk| {
                        let tx = sink_tx.clone();
                        async move {
                            tx.send(chunk.map_err(|e| std::io::Error::other(e.to_string())))
                                .await
                                .is_ok()
                        }
                    },
                )
                .await;
                if let Err(e) = forwarded {
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                }
            });
            Box::pin(tokio_stream_from(rx))
        } else {
            Box::pin(stream)
        };
        let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
        let sim = self.clone();
        let read = tokio::task::spawn_blocking(move || sim.read_batch(reader)).await;
        let members = match read {
            Ok(Ok(m)) => m,
            Ok(Err(bad)) => {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    &invalid_memo_body(
                        &format!("{}: {}", bad.member, bad.message),
                        Some(&bad.member),
                        &bad.problems,
                    ),
                );
            }
            Err(e) => return internal(&e.to_string()),
        };
        let count = members.len();
        let mut repeated = None;
        for (uuid, body) in members {
            let first = self.state.add_sent(&uuid, body);
            tracing::debug!(%uuid, first, "message sent to NgDP in a batch");
            if first {
                self.push_business_receipt(&uuid);
            } else {
                repeated.get_or_insert(uuid);
            }
        }
        tracing::info!(messages = count, "batch sent to NgDP");
        if self.take_drop() {
            tracing::info!("dropping the connection without an answer (--drop-first-sends)");
            return dropped_connection();
        }
        if let Some(refused) = repeated.and_then(|u| self.resend_refusal(&u)) {
            return refused;
        }
        // One Receipt for the whole transmission (SendMemo: 201 `Receipt`). Which messageUUID
        // a batch's receipt names is not published; this one names none.
        let mut receipt = self.received_receipt("");
        if let Some(o) = receipt.as_object_mut() {
            o.remove("messageUUID");
        }
        json_response(StatusCode::CREATED, &receipt)
    }

    /// Every member of the batch, validated; the first bad one ends the reading.
    fn read_batch(
        &self,
        source: impl std::io::Read,
    ) -> Result<Vec<(String, bytes::Bytes)>, BadMember> {
        use std::io::Read as _;
        let mut members: Vec<(String, bytes::Bytes)> = Vec::new();
        let mut bad = None;
        let result = crate::ngdp::batch::for_each_member(source, |name, reader| {
            let fail = |message: String, problems: Value| BadMember {
                member: name.to_owned(),
                message,
                problems,
            };
            let mut body = Vec::new();
            reader
                .take(MAX_SEND_BYTES as u64 + 1)
                .read_to_end(&mut body)?;
            if body.len() > MAX_SEND_BYTES {
                bad = Some(fail(
                    format!("a message is at most {MAX_SEND_BYTES} bytes here"),
                    json!([]),
                ));
                anyhow::bail!("refused");
            }
            let stem = crate::ngdp::batch::member_stem(name).to_owned();
            let header_uuid = match self.validate(&body) {
                Ok(h) => h,
                Err(Refusal::NotMemo(problems)) => {
                    bad = Some(fail("not a MeMo message".into(), problems));
                    anyhow::bail!("refused");
                }
                Err(Refusal::Invalid(problems)) => {
                    bad = Some(fail("the message is not valid MeMo".into(), problems));
                    anyhow::bail!("refused");
                }
                Err(Refusal::Failed(e)) => return Err(e),
            };
            if !header_uuid
                .as_deref()
                .is_some_and(|h| h.eq_ignore_ascii_case(&stem))
            {
                bad = Some(fail(
                    format!("the message's messageUUID is not the {stem} of the member's name"),
                    json!([]),
                ));
                anyhow::bail!("refused");
            }
            members.push((stem, bytes::Bytes::from(body)));
            Ok(())
        });
        match (result, bad) {
            (_, Some(bad)) => Err(bad),
            (Ok(0), None) => Err(BadMember {
                member: String::new(),
                message: "the batch has no messages".into(),
                problems: json!([]),
            }),
            (Ok(_), None) => Ok(members),
            (Err(e), None) => Err(BadMember {
                member: String::new(),
                message: e.to_string(),
                problems: json!([]),
            }),
        }
    }

    /// The component's reading of one message, as NgDP validates a message before it takes
    /// it: the header's messageUUID (trimmed), or why the message is refused.
    fn validate(&self, body: &[u8]) -> Result<Option<String>, Refusal> {
        let mut header_uuid = None;
        let read = self.pool.with(|i| {
            crate::memo::read_stream(i, body, crate::memo::stream::DEFAULT_CHUNK, |event| {
                if let wit::Event::Header(h) = &event {
                    header_uuid = Some(h.message_uuid.trim().to_owned());
                }
                Ok(())
            })
        });
        let outcome = match read {
            Ok(Ok(o)) => o,
            Ok(Err(crate::memo::MemoError::NotMemo {
                line,
                column,
                message,
                ..
            })) => {
                return Err(Refusal::NotMemo(
                    json!([{ "line": line, "column": column, "path": "", "severity": "error", "message": message }]),
                ));
            }
            Ok(Err(e)) => return Err(Refusal::Failed(e.into())),
            Err(e) => return Err(Refusal::Failed(e.into())),
        };
        if !outcome.is_valid() {
            return Err(Refusal::Invalid(crate::memo::json::problems(
                &outcome.summary.problems,
            )));
        }
        Ok(header_uuid)
    }

    /// Whether this answer is one of the first `--drop-first-sends` to drop.
    fn take_drop(&self) -> bool {
        super::receipts::take_one(&self.drops_left)
    }

    /// The answer to a send of a messageUUID the simulator has already, unless it is 201.
    fn resend_refusal(&self, uuid: &str) -> Option<Response> {
        let message = format!("a message with messageUUID {uuid} has been received already");
        match self.resend_answer {
            super::ResendAnswer::Created => None,
            super::ResendAnswer::BadRequest => Some(error(
                StatusCode::BAD_REQUEST,
                "DUPLICATE_MESSAGE_UUID",
                &message,
            )),
            super::ResendAnswer::Conflict => Some(error(
                StatusCode::CONFLICT,
                "DUPLICATE_MESSAGE_UUID",
                &message,
            )),
        }
    }

    /// A RECEIVED receipt for a message NgDP took.
    fn received_receipt(&self, uuid: &str) -> Value {
        json!({
            "messageUUID": uuid,
            "messageId": null,
            "errorCode": null,
            "errorMessage": null,
            "receiptStatus": "RECEIVED",
            "timeStamp": humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH
                    + std::time::Duration::from_secs(self.clock.now_unix().max(0) as u64)
            ).to_string(),
            "transmissionId": uuid::Uuid::new_v4().to_string(),
        })
    }
}

/// A response whose body fails at once: hyper closes the connection without a complete
/// answer, which the client sees as a network error (the answer lost in transit).
fn dropped_connection() -> Response {
    let failing = futures_util::stream::once(async {
        Err::<bytes::Bytes, std::io::Error>(std::io::Error::other("dropped on purpose"))
    });
    Response::builder()
        .status(StatusCode::CREATED)
        .body(Body::from_stream(failing))
        .unwrap_or_else(|_| empty(StatusCode::INTERNAL_SERVER_ERROR))
}

/// An `ErrorMessage` for a message the validator refuses: one field error per problem. The
/// codes NgDP uses are not published; the simulator's are its own.
fn invalid_memo(message: &str, problems: Value) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        &invalid_memo_body(message, None, &problems),
    )
}

fn invalid_memo_body(message: &str, member: Option<&str>, problems: &Value) -> Value {
    let fields: Vec<Value> = problems
        .as_array()
        .map(|list| {
            list.iter()
                .map(|p| {
                    json!({"resource": member.unwrap_or("memo"), "field": p["path"],
                           "code": p.get("code").cloned().unwrap_or(p["severity"].clone()),
                           "message": p["message"], "rejectedValue": null})
                })
                .collect()
        })
        .unwrap_or_default();
    let mut body = json!({"code": "INVALID_MEMO", "message": message, "fieldErrors": fields});
    if let Some(m) = member {
        body["member"] = json!(m);
    }
    body
}

/// The `Receipt` member a warning of the component's receipt reader names.
fn warned_field(warning: &str) -> &'static str {
    [
        "transmissionId",
        "messageUUID",
        "messageId",
        "errorCode",
        "errorMessage",
        "timeStamp",
        "receiptStatus",
    ]
    .into_iter()
    .find(|f| warning.contains(f))
    .unwrap_or("")
}

pub(crate) fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap_or_else(|_| empty(StatusCode::INTERNAL_SERVER_ERROR))
}

pub(crate) fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

/// NgDP's error body, `ErrorMessage {code, message, fieldErrors}` (NgDP OpenAPI document
/// 1.68.0; `docs/ngdp-wire.md`).
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(
        status,
        &json!({"code": code, "message": message, "fieldErrors": []}),
    )
}

fn internal(message: &str) -> Response {
    tracing::error!(%message, "ngdp simulator");
    error(StatusCode::INTERNAL_SERVER_ERROR, "SERVER", message)
}

fn not_found(path: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        &format!("no such resource: {path}"),
    )
}

fn unknown_memo(uuid: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "MEMO_NOT_FOUND",
        &format!("no message {uuid} (unknown, or deleted)"),
    )
}
