//! Sending one MeMo message to NgDP: `POST memos/?memo-message-uuid=<uuid>` with the XML
//! body, answered 201 with a receipt.
//!
//! The messageUUID is the idempotency key. The caller records the message (`sending`) before
//! the first byte goes out and marks it `sent` or `failed` after; a message already `sent` is
//! never posted again. Network errors and 5xx (and 408/429) are retried with doubling waits,
//! a bounded number of times. A 409 on a later attempt means an earlier attempt reached NgDP
//! and only its answer was lost, so it counts as sent.

use std::path::Path;
use std::time::Duration;

pub use super::batch::Member;
use super::batch::{self, write_batch};
use super::client::NgdpClient;
use crate::bindings::memo_wit as wit;
use crate::memo::{MemoError, read_stream};
use crate::runtime::Instance;

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
    /// NgDP says it has this UUID already (409).
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

/// One POST of the file at `path`, its body streamed from disk.
pub async fn post_once(client: &NgdpClient, uuid: &str, path: &Path) -> Attempt {
    let file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) => return Attempt::Refused(format!("cannot read {}: {e}", path.display())),
    };
    let length = file.metadata().await.ok().map(|m| m.len());
    // Streamed: a message may be ~100 MB.
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
    let mut request = client
        .request(
            reqwest::Method::POST,
            &format!("memos/?memo-message-uuid={uuid}"),
        )
        .header(reqwest::header::CONTENT_TYPE, "application/xml");
    if let Some(length) = length {
        request = request.header(reqwest::header::CONTENT_LENGTH, length);
    }
    classify(request.body(body).send().await).await
}

/// What a response (or the lack of one) comes to.
async fn classify(sent: Result<reqwest::Response, reqwest::Error>) -> Attempt {
    let response = match sent {
        Ok(r) => r,
        Err(e) => return Attempt::Retry(format!("{e}")),
    };
    let status = response.status();
    // A body that breaks off is a response lost in transit: NgDP may have the message.
    let text = match response.text().await {
        Ok(t) => t,
        Err(e) => return Attempt::Retry(format!("HTTP {status}, then the body broke off: {e}")),
    };
    let short: String = text.chars().take(500).collect();
    if status.is_success() {
        Attempt::Taken(text)
    } else if status == reqwest::StatusCode::CONFLICT {
        Attempt::Duplicate(format!("HTTP {status}: {short}"))
    } else if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
        Attempt::Retry(format!("HTTP {status}: {short}"))
    } else {
        Attempt::Refused(format!("HTTP {status}: {short}"))
    }
}

/// The chunks a batch's writer thread hands to the request body at most, queued.
const BATCH_QUEUE: usize = 8;
/// The size of those chunks.
const BATCH_CHUNK: usize = 64 << 10;

/// A [`std::io::Write`] that hands full chunks to a bounded channel; blocks while the channel
/// is full (the network is slower than the encoder), fails once the receiver is gone.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn push(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = bytes::Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(BATCH_CHUNK),
        ));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "request ended"))
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = BATCH_CHUNK - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= BATCH_CHUNK {
            self.push()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.push()
    }
}

/// One POST of a batch to `memos/`.
///
/// Streamed through a pipe, not a temp file: a writer thread reads the member files and
/// encodes tar + LZMA into a [`ChannelWriter`] whose bounded channel (8 × 64 KiB) is the
/// request body's stream. Memory stays at the queue plus the encoder's dictionary however
/// large the batch, nothing is written to disk, and encoding overlaps the upload. A retry
/// encodes again (the archive is never kept).
pub async fn post_batch_once(client: &NgdpClient, members: &[Member]) -> Attempt {
    let (tx, mut rx) = tokio::sync::mpsc::channel(BATCH_QUEUE);
    let members = members.to_vec();
    let writer_tx = tx.clone();
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        let out = ChannelWriter {
            tx: writer_tx.clone(),
            buf: Vec::with_capacity(BATCH_CHUNK),
        };
        match write_batch(&members, out).and_then(|mut w| std::io::Write::flush(&mut w)) {
            Ok(()) => Ok(()),
            Err(e) => {
                // The body fails, so the request does not look complete to NgDP.
                let _ = writer_tx.blocking_send(Err(std::io::Error::new(e.kind(), e.to_string())));
                Err(e)
            }
        }
    });
    drop(tx);
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let request = client
        .request(reqwest::Method::POST, "memos/")
        .header(reqwest::header::CONTENT_TYPE, batch::CONTENT_TYPE)
        .body(reqwest::Body::wrap_stream(stream));
    let attempt = classify(request.send().await).await;
    // The request is over, so the channel's receiver is gone and the writer ends soon.
    let written = tokio::task::spawn_blocking(move || writer.join())
        .await
        .ok()
        .and_then(Result::ok);
    match written {
        Some(Err(e)) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Attempt::Refused(format!("cannot build the batch: {e}"))
        }
        _ => attempt,
    }
}

/// POST until NgDP takes the message, refuses it, or the attempts run out. `earlier` says
/// whether an earlier run already posted this UUID (so a 409 confirms that post);
/// `on_attempt` is called before each POST (to count it in the store).
pub async fn send(
    client: &NgdpClient,
    uuid: &str,
    path: &Path,
    retry: SendRetry,
    earlier: bool,
    on_attempt: impl FnMut(),
) -> Outcome {
    retrying(uuid, retry, earlier, on_attempt, async || {
        post_once(client, uuid, path).await
    })
    .await
}

/// POST a batch until NgDP takes it, refuses it, or the attempts run out; as [`send`].
pub async fn send_batch(
    client: &NgdpClient,
    members: &[Member],
    retry: SendRetry,
    earlier: bool,
    on_attempt: impl FnMut(),
) -> Outcome {
    let label = format!("batch of {}", members.len());
    retrying(&label, retry, earlier, on_attempt, async || {
        post_batch_once(client, members).await
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
