//! A file the store keeps as pieces (PostgreSQL, [`crate::store::files`]) as a response body:
//! the pieces that hold the asked bytes, each read in one query on the API's store
//! connection, one piece ahead of the one the connection is writing (as
//! [`super::file_stream`] reads ahead from disk). Memory: two pieces per download, whatever
//! the file's size; a slow client holds no store connection between its pieces.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};

use super::{ApiState, with_store};
use crate::store::files::CHUNK;

/// The bytes `start..start + len` of the file stored as `key`.
pub fn pieces(
    s: Arc<ApiState>,
    key: String,
    start: u64,
    len: u64,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    let chunk = CHUNK as u64;
    let end = start + len;
    let (first, count) = if len == 0 {
        (0, 0)
    } else {
        (start / chunk, (end - 1) / chunk - start / chunk + 1)
    };
    futures_util::stream::iter(first..first + count)
        .map(move |n| {
            let (s, key) = (s.clone(), key.clone());
            async move {
                let piece = with_store(&s, move |st| st.file_piece(&key, n))
                    .await
                    .map_err(|_| io::Error::other("the store could not be read"))?
                    .unwrap_or_default();
                let at = n * chunk;
                let from = start.saturating_sub(at) as usize;
                let to = (end - at).min(chunk) as usize;
                if piece.len() < to {
                    tracing::error!(piece = n, "a stored file is shorter than its pieces said");
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the stored file is shorter than when the response began",
                    ));
                }
                Ok(Bytes::from(piece).slice(from..to))
            }
        })
        // One piece read while the one before it is written.
        .buffered(2)
}
