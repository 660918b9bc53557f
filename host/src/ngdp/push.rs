//! The push listener: NgDP's push service posts messages and receipts here.
//!
//! - `POST <base>/api/MeMoV1/memos/?system-uuid=<id>`: a MeMo, as `multipart/form-data` with
//!   a part named `file`, or as a raw XML body.
//! - `POST <base>/api/MeMoV1/<id>/receipt`: a receipt (JSON) for a message we sent.
//! - `GET /healthz`. (`/metrics` is on the API listener, never on this public one.)
//!
//! Answers: 401 without the right `Authorization` (compared in constant time by the
//! component), 404 for an unknown system, 413 over the size limit, 400 when there is no MeMo
//! at all, 408 when the body stops arriving for `[serve] body_read_timeout_seconds`, 503
//! (with `Retry-After`) when the store cannot take it (NgDP will resend), and 200 only after
//! the message is durable. An invalid MeMo is stored and answered 200; its INVALID business
//! receipt tells the sender.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures_util::StreamExt as _;
use serde_json::json;
use tokio::sync::mpsc;

use super::metrics::Metrics;
use super::multipart::{self, MultipartError};
use super::receive::{ReceiveError, Receiving, Via};
use crate::bindings::ngdp_wit;
use crate::config::ngdp::Protocol;

/// Largest receipt body accepted; receipts are a few hundred bytes of JSON.
const MAX_RECEIPT_BYTES: usize = 64 * 1024;

/// Seconds a 503 asks the sender to wait before resending.
const RETRY_AFTER_SECONDS: u64 = 60;

/// Multipart framing allowed on top of `max_message_bytes`.
const FRAMING_ALLOWANCE: u64 = 64 * 1024;

/// What the handlers share.
pub struct PushService {
    /// The receiving pipeline.
    pub receiving: Arc<Receiving>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Longest wait for the next piece of a request body; then 408.
    pub body_read_timeout: Duration,
}

/// The router for `dpost serve`.
pub fn router(service: Arc<PushService>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .fallback(dispatch)
        .with_state(service)
}

async fn healthz() -> &'static str {
    "ok\n"
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn refuse(s: &PushService, status: StatusCode, reason: &str, message: String) -> Response {
    s.metrics.rejected(reason);
    tracing::info!(status = status.as_u16(), reason, %message, "push refused");
    let mut response = answer(status, json!({ "error": reason, "message": message }));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        // Our fault and passing (a full disk, a busy store): say when to come back.
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, RETRY_AFTER_SECONDS.into());
    }
    response
}

/// The body's chunks, read by a task of their own.
///
/// The stream ends with an error when the next chunk takes longer than `timeout` (a slow or
/// stalled client), which also sets `timed_out`. When the consumer stops early (the message
/// was refused: too large, not a MeMo, too many parts), the task goes on reading and
/// discarding the body until `drain_up_to` bytes of it have been read in all: a client
/// that is still sending when the answer comes may otherwise see its connection reset and
/// never read the answer (NgDP would take a reset for a passing fault and resend the same
/// refused message again and again). Beyond that bound the connection is closed.
fn pumped_body(
    body: Body,
    timeout: Duration,
    timed_out: Arc<AtomicBool>,
    drain_up_to: u64,
) -> impl futures_util::Stream<Item = Result<Bytes, io::Error>> + Send + 'static {
    let (tx, rx) = mpsc::channel::<Result<Bytes, io::Error>>(4);
    tokio::spawn(async move {
        let mut stream = body.into_data_stream();
        let mut total = 0u64;
        let mut consumer = true;
        loop {
            let item = match tokio::time::timeout(timeout, stream.next()).await {
                Ok(Some(Ok(chunk))) => {
                    total += chunk.len() as u64;
                    Ok(chunk)
                }
                Ok(Some(Err(e))) => Err(io::Error::other(e.to_string())),
                Ok(None) => break,
                Err(_) => {
                    timed_out.store(true, Ordering::Relaxed);
                    Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no body data for {timeout:?}"),
                    ))
                }
            };
            let failed = item.is_err();
            if consumer && tx.send(item).await.is_err() {
                consumer = false;
            }
            if failed || (!consumer && total > drain_up_to) {
                break;
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move {
        let item = rx.recv().await?;
        Some((item, rx))
    })
}

async fn dispatch(
    State(s): State<Arc<PushService>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    let target = s.receiving.pool.with(|i| {
        i.call(|b, st| {
            b.dpost_protocol_ngdp()
                .call_classify_push(st, &path, &query)
        })
    });
    let target = match target {
        Ok(Ok(t)) => t,
        Ok(Err(e)) | Err(e) => {
            return refuse(
                &s,
                StatusCode::INTERNAL_SERVER_ERROR,
                "component",
                e.to_string(),
            );
        }
    };
    let (system_id, is_message) = match target {
        ngdp_wit::PushTarget::Message(id) => (id, true),
        ngdp_wit::PushTarget::Receipt(id) => (id, false),
        ngdp_wit::PushTarget::Unknown => {
            return refuse(
                &s,
                StatusCode::NOT_FOUND,
                "unknown-endpoint",
                format!("{path} is neither the message nor the receipt endpoint"),
            );
        }
    };
    if method != Method::POST {
        return refuse(
            &s,
            StatusCode::METHOD_NOT_ALLOWED,
            "method",
            format!("{method} is not accepted here; NgDP posts"),
        );
    }
    let Some(system) = s.receiving.settings.get().system(&system_id).cloned() else {
        return refuse(
            &s,
            StatusCode::NOT_FOUND,
            "unknown-system",
            format!("no receiving system {system_id} is configured"),
        );
    };
    if system.protocol != Protocol::Push {
        return refuse(
            &s,
            StatusCode::NOT_FOUND,
            "not-push",
            format!("system {system_id} is configured for pull"),
        );
    }
    let expected = system
        .authorization
        .as_ref()
        .map(|a| a.expose().to_owned())
        .unwrap_or_default();
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let verdict = s.receiving.pool.with(|i| {
        i.call(|b, st| {
            b.dpost_protocol_ngdp()
                .call_authorize(st, &expected, presented.as_deref())
        })
    });
    match verdict {
        Ok(Ok(ngdp_wit::Authorization::Ok)) => {}
        Ok(Ok(ngdp_wit::Authorization::Missing)) => {
            return refuse(
                &s,
                StatusCode::UNAUTHORIZED,
                "missing-authorization",
                "the Authorization header is missing".into(),
            );
        }
        Ok(Ok(ngdp_wit::Authorization::Mismatch)) => {
            return refuse(
                &s,
                StatusCode::UNAUTHORIZED,
                "wrong-authorization",
                "the Authorization header is not the one configured for this system".into(),
            );
        }
        Ok(Err(e)) | Err(e) => {
            return refuse(
                &s,
                StatusCode::INTERNAL_SERVER_ERROR,
                "component",
                e.to_string(),
            );
        }
    }
    if is_message {
        receive_message(s, system.id, headers, body).await
    } else {
        receive_receipt(s, system.id, body).await
    }
}

/// The chunks of the MeMo in a request: the `file` part of a multipart body, or the body.
async fn forward_body(
    headers: &HeaderMap,
    body: impl futures_util::Stream<Item = Result<Bytes, io::Error>> + Send + 'static,
    max_body_bytes: u64,
    tx: mpsc::Sender<io::Result<Bytes>>,
) -> Result<(), (StatusCode, &'static str, String)> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if multipart::is_multipart(content_type) {
        multipart::forward_file_part(content_type, body, max_body_bytes, |chunk| {
            let chunk = chunk.map_err(io::Error::other);
            let tx = &tx;
            async move { tx.send(chunk).await.is_ok() }
        })
        .await
        .map_err(|e| {
            let (status, reason) = match &e {
                MultipartError::Boundary(_) | MultipartError::Malformed(_) => {
                    (StatusCode::BAD_REQUEST, "bad-multipart")
                }
                MultipartError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too-large"),
                MultipartError::TooManyParts => (StatusCode::BAD_REQUEST, "too-many-parts"),
                MultipartError::NoFilePart => (StatusCode::BAD_REQUEST, "no-file-part"),
            };
            (status, reason, e.to_string())
        })
    } else {
        let mut stream = std::pin::pin!(body);
        while let Some(chunk) = stream.next().await {
            if tx.send(chunk).await.is_err() {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// A reader over chunks sent from the async side, for the blocking thread that runs the
/// component's reader.
pub(crate) fn reader(rx: mpsc::Receiver<io::Result<Bytes>>) -> impl Read + Send + 'static {
    ChannelReader {
        rx,
        current: Bytes::new(),
    }
}

/// Reads chunks sent from the async side, on the blocking thread that runs the reader.
struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

async fn receive_message(
    s: Arc<PushService>,
    system_id: String,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let limit = s.receiving.max_message_bytes;
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        // Multipart framing adds a little; allow for it before refusing on the header alone.
        if len > limit + FRAMING_ALLOWANCE {
            return refuse(
                &s,
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                format!("the body is {len} bytes; at most {limit} are accepted"),
            );
        }
    }
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(8);
    let receiving = s.receiving.clone();
    let started = Instant::now();
    // As the store records it, so the gauge read back at start has the same label.
    let system = system_id.to_ascii_lowercase();
    let work = tokio::task::spawn_blocking(move || {
        receiving.receive(
            &system_id,
            Via::Push,
            ChannelReader {
                rx,
                current: Bytes::new(),
            },
        )
    });
    let timed_out = Arc::new(AtomicBool::new(false));
    let body = pumped_body(
        body,
        s.body_read_timeout,
        timed_out.clone(),
        limit + FRAMING_ALLOWANCE,
    );
    let forwarded = forward_body(&headers, body, limit + FRAMING_ALLOWANCE, tx).await;
    let result = work.await;
    if timed_out.load(Ordering::Relaxed) {
        return refuse(
            &s,
            StatusCode::REQUEST_TIMEOUT,
            "body-timeout",
            format!(
                "no part of the body arrived for {} seconds",
                s.body_read_timeout.as_secs()
            ),
        );
    }
    if let Err((status, reason, message)) = forwarded {
        return refuse(&s, status, reason, message);
    }
    match result {
        Err(e) => refuse(
            &s,
            StatusCode::INTERNAL_SERVER_ERROR,
            "panic",
            format!("receiving failed: {e}"),
        ),
        Ok(Ok(r)) => {
            s.metrics
                .store_seconds
                .observe(started.elapsed().as_secs_f64());
            if !r.duplicate {
                s.metrics
                    .message_received_at(&system, s.receiving.clock.now_unix());
            }
            s.metrics.received(if r.conflict {
                // The same messageUUID with other content: recorded on the message.
                "conflicting-duplicate"
            } else if r.duplicate {
                "duplicate"
            } else if r.valid {
                "stored"
            } else {
                "invalid"
            });
            answer(
                StatusCode::OK,
                json!({ "messageUUID": r.uuid, "duplicate": r.duplicate, "valid": r.valid }),
            )
        }
        Ok(Err(e)) => {
            let (status, reason) = match &e {
                ReceiveError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too-large"),
                ReceiveError::NoMemo(_) => (StatusCode::BAD_REQUEST, "no-memo"),
                ReceiveError::Body(_) => (StatusCode::BAD_REQUEST, "body"),
                ReceiveError::Disk(_) | ReceiveError::Store(_) | ReceiveError::Commit(_) => {
                    (StatusCode::SERVICE_UNAVAILABLE, "store")
                }
                ReceiveError::Guest(_) => (StatusCode::INTERNAL_SERVER_ERROR, "component"),
            };
            if e.is_server_fault() {
                tracing::error!(error = %e, "a message could not be stored; NgDP will resend it");
            }
            refuse(&s, status, reason, e.to_string())
        }
    }
}

async fn receive_receipt(s: Arc<PushService>, system_id: String, body: Body) -> Response {
    let read = tokio::time::timeout(
        s.body_read_timeout,
        axum::body::to_bytes(body, MAX_RECEIPT_BYTES),
    )
    .await;
    let bytes = match read {
        Ok(Ok(b)) => b,
        Err(_) => {
            return refuse(
                &s,
                StatusCode::REQUEST_TIMEOUT,
                "body-timeout",
                format!(
                    "the receipt did not arrive within {} seconds",
                    s.body_read_timeout.as_secs()
                ),
            );
        }
        Ok(Err(e)) => {
            return refuse(
                &s,
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                format!("a receipt is at most {MAX_RECEIPT_BYTES} bytes: {e}"),
            );
        }
    };
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let parsed = s
        .receiving
        .pool
        .with(|i| i.call(|b, st| b.dpost_protocol_memo().call_parse_receipt(st, &text)));
    let receipt = match parsed {
        Ok(Ok(Ok(r))) => r,
        // Only a body that is not a JSON object is refused: NgDP's `Receipt` has no required
        // property (OpenAPI document 1.68.0), and a refused receipt is pushed again forever.
        Ok(Ok(Err(e))) => {
            return refuse(
                &s,
                StatusCode::BAD_REQUEST,
                "bad-receipt",
                format!(
                    "not a receipt: {}",
                    crate::ngdp::api_error::receipt_error(&e)
                ),
            );
        }
        Ok(Err(e)) | Err(e) => {
            return refuse(
                &s,
                StatusCode::INTERNAL_SERVER_ERROR,
                "component",
                e.to_string(),
            );
        }
    };
    if !receipt.warnings.is_empty() {
        tracing::warn!(
            system = %system_id,
            uuid = receipt.message_uuid.as_deref().unwrap_or(""),
            warnings = %receipt.warnings.join("; "),
            "receipt stored with warnings"
        );
    }
    let incoming = crate::ngdp::message_store::incoming_receipt(&system_id, &receipt, text, None);
    let store = s.receiving.store.clone();
    let now = s.receiving.clock.now_unix();
    let stored = tokio::task::spawn_blocking(move || {
        store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert_receipt(&incoming, now)
    })
    .await;
    match stored {
        Ok(Ok(linked)) => {
            s.metrics.receipts_received.inc();
            answer(
                StatusCode::OK,
                json!({ "messageUUID": receipt.message_uuid, "linked": linked }),
            )
        }
        Ok(Err(e)) => refuse(&s, StatusCode::SERVICE_UNAVAILABLE, "store", e.to_string()),
        Err(e) => refuse(
            &s,
            StatusCode::INTERNAL_SERVER_ERROR,
            "panic",
            e.to_string(),
        ),
    }
}
