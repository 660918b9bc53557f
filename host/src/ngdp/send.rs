//! Sending MeMo messages to NgDP: `POST memos/` (SendMemo, NgDP OpenAPI document 1.68.0;
//! `docs/ngdp-wire.md`).
//!
//! One message: `POST memos/?memo-message-uuid=<uuid>` with the XML body
//! (`Content-Type: application/xml`). Several: a tar archive of the MeMo files compressed with
//! LZMA, as the body (`application/x-lzma`) or as the part named `file` of a
//! `multipart/form-data` body (`[[…systems]] batch_upload`). The document declares
//! `Content-Length` ("Size of Memo XML or tar.lzma file") for both, so every send declares it
//! and none is chunked: a single message is streamed from its file with its size; a batch is
//! spooled to a temporary file as it is encoded (memory stays bounded) and then streamed with
//! the file's size. Both are answered 201 with ONE `Receipt` (a batch too); errors carry an
//! `ErrorMessage`, shown with its code, message and field errors.
//!
//! The messageUUID is the idempotency key. The caller records the message (`sending`) before
//! the first byte goes out and marks it `sent` or `failed` after; a message already `sent` is
//! never posted again. Network errors and 5xx (and 408/429) are retried with doubling waits,
//! a bounded number of times. What NgDP answers to a messageUUID it already has is not
//! published (no 409 is documented): on a resend (an earlier attempt may have reached NgDP), a
//! 201, a 409, or a 400 whose `ErrorMessage` speaks of a duplicate all count as sent.

use std::path::Path;
use std::time::Duration;

pub use super::batch::Member;
use super::batch::{self, write_batch};
use super::client::NgdpClient;
use crate::bindings::memo_wit as wit;
use crate::config::ngdp::BatchUpload;
use crate::memo::{MemoError, read_stream};
use crate::runtime::Instance;
use crate::runtime::pool::InstancePool;

/// How often and how patiently a send is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendRetry {
    /// POSTs at most (at least 1).
    pub attempts: u32,
    /// The wait after the first failed attempt; it doubles after each.
    pub first_delay: Duration,
}

impl Default for SendRetry {
    fn default() -> Self {
        SendRetry {
            attempts: 5,
            first_delay: Duration::from_millis(200),
        }
    }
}

/// What one POST came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// NgDP took it; the response body (the receipt JSON, when there is one).
    Taken(String),
    /// NgDP says it has this UUID already (409, or a 400 `ErrorMessage` speaking of a
    /// duplicate; neither is documented).
    Duplicate(String),
    /// Worth another attempt: a network error, 5xx, 408 or 429.
    Retry(String),
    /// NgDP refused it for good (another 4xx).
    Refused(String),
}

/// How a whole send ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Sent; the body NgDP answered with (empty when a 409 confirmed an earlier attempt).
    Sent {
        /// The response body.
        body: String,
        /// POSTs made.
        attempts: u32,
    },
    /// Not sent.
    Failed {
        /// Why, for a person.
        reason: String,
        /// POSTs made.
        attempts: u32,
    },
}

/// A message checked by the component before it is sent.
#[derive(Debug, Clone)]
pub struct Checked {
    /// Its messageUUID (as written, trimmed).
    pub uuid: String,
    /// Problems the validator found (errors and warnings).
    pub problems: Vec<wit::Problem>,
}

impl Checked {
    /// No problem is an error.
    pub fn is_valid(&self) -> bool {
        !self
            .problems
            .iter()
            .any(|p| p.severity == wit::Severity::Error)
    }
}

/// Why a message could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Open {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not a MeMo message, or the component failed.
    #[error(transparent)]
    Memo(#[from] MemoError),
    /// The message has no messageUUID to send it under.
    #[error("the message has no messageUUID")]
    NoUuid,
}

/// Read the whole message at `path` through the component's validating reader, streamed.
pub fn check(instance: &mut Instance, path: &Path) -> Result<Checked, CheckError> {
    let file = std::fs::File::open(path).map_err(|source| CheckError::Open {
        path: path.display().to_string(),
        source,
    })?;
    let mut uuid = None;
    let outcome = read_stream(
        instance,
        std::io::BufReader::new(file),
        crate::memo::stream::DEFAULT_CHUNK,
        |event| {
            if let wit::Event::Header(h) = &event {
                uuid = Some(h.message_uuid.trim().to_owned());
            }
            Ok(())
        },
    )?;
    let uuid = uuid.filter(|u| !u.is_empty()).ok_or(CheckError::NoUuid)?;
    Ok(Checked {
        uuid,
        problems: outcome.summary.problems,
    })
}

/// The component's reading of NgDP's answer to a send as a receipt; `None` for an empty body or one it refuses.
pub fn read_receipt(
    instance: &mut crate::runtime::Instance,
    body: &str,
) -> Option<crate::bindings::memo_wit::ReceivedReceipt> {
    if body.trim().is_empty() {
        return None;
    }
    match instance.call(|b, s| b.dpost_protocol_memo().call_parse_receipt(s, body)) {
        Ok(Ok(receipt)) => {
            if !receipt.warnings.is_empty() {
                // A batch's receipt may well name no messageUUID: worth a note, not an alarm.
                tracing::info!(warnings = %receipt.warnings.join("; "), "NgDP's receipt for the send is incomplete; kept as it is");
            }
            Some(receipt)
        }
        Ok(Err(e)) => {
            tracing::warn!(
                error = %crate::ngdp::api_error::receipt_error(&e),
                "NgDP's answer to the send is not a receipt"
            );
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "the component could not read NgDP's answer");
            None
        }
    }
}

/// A file's body with its length, streamed from disk (a message may be ~100 MB).
async fn file_body(path: &Path) -> std::io::Result<(reqwest::Body, u64)> {
    let file = tokio::fs::File::open(path).await?;
    let length = file.metadata().await?.len();
    Ok((
        reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file)),
        length,
    ))
}

/// One POST of the file at `path`, its body streamed from disk with its `Content-Length`.
pub async fn post_once(
    client: &NgdpClient,
    pool: &InstancePool,
    uuid: &str,
    path: &Path,
) -> Attempt {
    let (body, length) = match file_body(path).await {
        Ok(b) => b,
        Err(e) => return Attempt::Refused(format!("cannot read {}: {e}", path.display())),
    };
    let request = client
        .request(
            reqwest::Method::POST,
            &format!("memos/?memo-message-uuid={uuid}"),
        )
        .header(reqwest::header::CONTENT_TYPE, "application/xml")
        .header(reqwest::header::ACCEPT, "application/json")
        .header(reqwest::header::CONTENT_LENGTH, length)
        .body(body);
    classify(pool, request.send().await).await
}

/// What a response (or the lack of one) comes to.
async fn classify(pool: &InstancePool, sent: Result<reqwest::Response, reqwest::Error>) -> Attempt {
    let response = match sent {
        Ok(r) => r,
        Err(e) => return Attempt::Retry(crate::error_text::chain(&e)),
    };
    let status = response.status();
    // A body that breaks off is a response lost in transit: NgDP may have the message.
    let text = match response.text().await {
        Ok(t) => t,
        Err(e) => return Attempt::Retry(format!("HTTP {status}, then the body broke off: {e}")),
    };
    if status.is_success() {
        return Attempt::Taken(text);
    }
    let refusal = super::api_error::read(pool, status.as_u16(), &text);
    if status == reqwest::StatusCode::CONFLICT
        || (status == reqwest::StatusCode::BAD_REQUEST && refusal.says_duplicate())
    {
        Attempt::Duplicate(refusal.text)
    } else if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
        Attempt::Retry(refusal.text)
    } else {
        Attempt::Refused(refusal.text)
    }
}

/// Encode the batch of `members` into an anonymous temporary file in `spool_dir` (deleted when
/// closed), returning it rewound with its length. Memory stays at the encoder's dictionary
/// however large the batch.
fn spool_batch(members: &[Member], spool_dir: &Path) -> std::io::Result<(std::fs::File, u64)> {
    use std::io::{Seek as _, Write as _};
    let file = tempfile::tempfile_in(spool_dir).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "cannot make a temporary file in {}: {e}",
                spool_dir.display()
            ),
        )
    })?;
    let mut file = write_batch(members, std::io::BufWriter::new(file))?
        .into_inner()
        .map_err(|e| e.into_error())?;
    file.flush()?;
    let length = file.stream_position()?;
    file.rewind()?;
    Ok((file, length))
}

/// One POST of a batch to `memos/`: spooled first (so its `Content-Length` is known), then
/// streamed from the spool file as the body or as the multipart part `file`. A retry encodes
/// again (the spool file is gone with its handle).
pub async fn post_batch_once(
    client: &NgdpClient,
    pool: &InstancePool,
    members: &[Member],
    upload: BatchUpload,
    spool_dir: &Path,
) -> Attempt {
    let owned = members.to_vec();
    let dir = spool_dir.to_owned();
    let spooled = tokio::task::spawn_blocking(move || spool_batch(&owned, &dir)).await;
    let (file, length) = match spooled {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Attempt::Refused(format!("cannot build the batch: {e}")),
        Err(e) => return Attempt::Refused(format!("cannot build the batch: {e}")),
    };
    let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file));
    let body = reqwest::Body::wrap_stream(stream);
    let request = client
        .request(reqwest::Method::POST, "memos/")
        .header(reqwest::header::ACCEPT, "application/json");
    let request = match upload {
        BatchUpload::Lzma => request
            .header(reqwest::header::CONTENT_TYPE, batch::CONTENT_TYPE)
            .header(reqwest::header::CONTENT_LENGTH, length)
            .body(body),
        BatchUpload::Multipart => {
            let part = reqwest::multipart::Part::stream_with_length(body, length)
                .file_name("batch.tar.lzma")
                .mime_str(batch::CONTENT_TYPE);
            match part {
                // With every part's length known, reqwest declares the form's Content-Length.
                Ok(part) => request.multipart(reqwest::multipart::Form::new().part("file", part)),
                Err(e) => return Attempt::Refused(format!("cannot build the form: {e}")),
            }
        }
    };
    classify(pool, request.send().await).await
}

/// POST until NgDP takes the message, refuses it, or the attempts run out. `earlier` says
/// whether an earlier run already posted this UUID (so a 409 confirms that post);
/// `on_attempt` is called before each POST (to count it in the store).
pub async fn send(
    client: &NgdpClient,
    pool: &InstancePool,
    uuid: &str,
    path: &Path,
    retry: SendRetry,
    earlier: bool,
    on_attempt: impl FnMut(),
) -> Outcome {
    retrying(uuid, retry, earlier, on_attempt, async || {
        post_once(client, pool, uuid, path).await
    })
    .await
}

/// POST a batch until NgDP takes it, refuses it, or the attempts run out; as [`send`].
pub async fn send_batch(
    client: &NgdpClient,
    pool: &InstancePool,
    members: &[Member],
    (upload, spool_dir): (BatchUpload, &Path),
    retry: SendRetry,
    earlier: bool,
    on_attempt: impl FnMut(),
) -> Outcome {
    let label = format!("batch of {}", members.len());
    retrying(&label, retry, earlier, on_attempt, async || {
        post_batch_once(client, pool, members, upload, spool_dir).await
    })
    .await
}

/// The retry loop shared by single sends and batches.
async fn retrying(
    uuid: &str,
    retry: SendRetry,
    earlier: bool,
    mut on_attempt: impl FnMut(),
    mut post: impl AsyncFnMut() -> Attempt,
) -> Outcome {
    let mut delay = retry.first_delay;
    let mut last = String::new();
    let attempts = retry.attempts.max(1);
    for n in 1..=attempts {
        on_attempt();
        match post().await {
            Attempt::Taken(body) => return Outcome::Sent { body, attempts: n },
            Attempt::Duplicate(reason) if earlier || n > 1 => {
                tracing::info!(%uuid, %reason, "NgDP has the message from an earlier attempt");
                return Outcome::Sent {
                    body: String::new(),
                    attempts: n,
                };
            }
            Attempt::Duplicate(reason) | Attempt::Refused(reason) => {
                return Outcome::Failed {
                    reason,
                    attempts: n,
                };
            }
            Attempt::Retry(reason) => {
                tracing::warn!(%uuid, attempt = n, %reason, "sending failed; will retry");
                last = reason;
            }
        }
        if n < attempts {
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2);
        }
    }
    Outcome::Failed {
        reason: format!("gave up after {attempts} attempts: {last}"),
        attempts,
    }
}
