//! Finding the MeMo in a `multipart/form-data` push: the bytes of the first part named
//! `file`, streamed as they arrive.
//!
//! Kept free of the HTTP server's types (it takes the Content-Type value and any stream of
//! byte chunks) so that the fuzz targets drive exactly this code with arbitrary bodies: the
//! fuzz crate includes this file as a module of its own (`fuzz/fuzz_targets/multipart.rs`),
//! so it may use only `multer`, `bytes` and `futures-util`.

use std::future::Future;

use bytes::Bytes;
use futures_util::Stream;

/// Parts read before the `file` part at most. NgDP sends one part; a body of thousands of
/// parts is refused by count rather than drained part by part.
pub const MAX_PARTS: usize = 64;

/// Why no MeMo could be taken from a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultipartError {
    /// The Content-Type names no usable boundary.
    Boundary(String),
    /// The framing is broken.
    Malformed(String),
    /// The whole body is larger than allowed.
    TooLarge {
        /// The limit on the whole body, bytes.
        limit: u64,
    },
    /// More than [`MAX_PARTS`] parts came before any part named `file`.
    TooManyParts,
    /// No part is named `file`.
    NoFilePart,
}

impl std::fmt::Display for MultipartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MultipartError::Boundary(e) => {
                write!(f, "the multipart body has no usable boundary: {e}")
            }
            MultipartError::Malformed(e) => write!(f, "the multipart body is malformed: {e}"),
            MultipartError::TooLarge { limit } => write!(
                f,
                "the multipart body is larger than {limit} bytes; at most that is accepted"
            ),
            MultipartError::TooManyParts => write!(
                f,
                "the multipart body has more than {MAX_PARTS} parts before a part named \"file\""
            ),
            MultipartError::NoFilePart => {
                f.write_str("the multipart body has no part named \"file\"")
            }
        }
    }
}

impl std::error::Error for MultipartError {}

/// True when `content_type` says the body is multipart.
pub fn is_multipart(content_type: &str) -> bool {
    content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("multipart/")
}

fn classify(e: multer::Error) -> MultipartError {
    match e {
        multer::Error::StreamSizeExceeded { limit } => MultipartError::TooLarge { limit },
        other => MultipartError::Malformed(other.to_string()),
    }
}

/// Stream the content of the first part named `file` of the multipart `body` (framed as
/// `content_type` says) to `sink`, chunk by chunk, reading at most `max_body_bytes` of the
/// body in all. `sink` returns false when it wants no more (the reader stopped); then this
/// returns `Ok` at once. A broken chunk is passed to `sink` as an error too (so the reader
/// stops) and returned.
pub async fn forward_file_part<S, O, E, F, Fut>(
    content_type: &str,
    body: S,
    max_body_bytes: u64,
    mut sink: F,
) -> Result<(), MultipartError>
where
    S: Stream<Item = Result<O, E>> + Send + 'static,
    O: Into<Bytes> + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    F: FnMut(Result<Bytes, MultipartError>) -> Fut,
    Fut: Future<Output = bool>,
{
    let boundary = multer::parse_boundary(content_type)
        .map_err(|e| MultipartError::Boundary(e.to_string()))?;
    let constraints = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().whole_stream(max_body_bytes));
    let mut multipart = multer::Multipart::with_constraints(body, boundary, constraints);
    let mut parts = 0usize;
    loop {
        let Some(mut field) = multipart.next_field().await.map_err(classify)? else {
            return Err(MultipartError::NoFilePart);
        };
        parts += 1;
        if field.name() != Some("file") {
            if parts >= MAX_PARTS {
                return Err(MultipartError::TooManyParts);
            }
            // Other parts are not ours; drain them as they stream past.
            continue;
        }
        // Only the part's content is used: its filename (the sender's) never names a path.
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    if !sink(Ok(chunk)).await {
                        return Ok(());
                    }
                }
                Ok(None) => return Ok(()),
                Err(e) => {
                    let e = classify(e);
                    sink(Err(e.clone())).await;
                    return Err(e);
                }
            }
        }
    }
}
