//! A stored file as a response body: read in large pieces on tokio's blocking pool, one
//! piece ahead of the one the connection is writing, so the disk read and the socket write
//! overlap and a 100 MB document costs a hundred trips to the pool instead of four hundred.
//!
//! Why not the alternatives (measured in BENCHMARKS.md, "The platform API"):
//! - `tokio::fs::File` under a `ReaderStream` (what this replaces) reads one piece only
//!   when the previous one has been written, and copies each piece twice in user space
//!   (into the file's own buffer, then into the stream's).
//! - A thread per download, reading into a channel, holds a thread of the blocking pool
//!   for as long as the slowest client takes; that pool also runs every store call.
//!   Here a trip holds a thread for one read of at most [`CHUNK`] from the page cache.
//! - `sendfile`/`splice` (what nginx does) needs the connection's socket, which hyper owns
//!   and does not lend to a body; the only way in is intercepting hyper's writes, which
//!   depends on how hyper buffers and would send the wrong bytes if that changed.
//! - Mapping the file (`mmap`) saves a copy, but a stored file truncated behind dpost's
//!   back would kill the whole service with SIGBUS.
//!
//! Memory: at most two pieces per download are held at once, the one being written and the
//! one being read (hyper asks for the next piece only once it has written out what it holds
//! beyond its buffer limit, which a piece exceeds).

use std::fs::File;
use std::future::Future as _;
use std::io::{self, Read as _, Seek as _, SeekFrom};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use tokio::task::JoinHandle;

/// Bytes read from disk at a time.
pub const CHUNK: u64 = 1024 * 1024;

// BENCH-TEMP: the piece size from DPOST_BENCH_CHUNK, to compare sizes on one build.
fn chunk() -> u64 {
    static C: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *C.get_or_init(|| {
        std::env::var("DPOST_BENCH_CHUNK")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(CHUNK)
    })
}

/// The bytes `start..start + len` of a file.
pub struct FileStream {
    file: Arc<File>,
    /// Where the first read seeks to; then each read goes on from where the previous one
    /// ended (one read in flight at a time).
    start: Option<u64>,
    /// Bytes not yet asked of the pool.
    remaining: u64,
    /// The piece being read.
    next: Option<JoinHandle<io::Result<Bytes>>>,
}

impl FileStream {
    /// Stream `len` bytes of `file` from byte `start`; the first read starts now. Call
    /// within a tokio runtime.
    pub fn new(file: File, start: u64, len: u64) -> Self {
        let mut s = FileStream {
            file: Arc::new(file),
            start: Some(start),
            remaining: len,
            next: None,
        };
        s.read_ahead();
        s
    }

    fn read_ahead(&mut self) {
        if self.remaining == 0 {
            return;
        }
        let n = self.remaining.min(chunk());
        self.remaining -= n;
        let (file, start) = (self.file.clone(), self.start.take());
        self.next = Some(tokio::task::spawn_blocking(move || {
            if let Some(at) = start {
                (&*file).seek(SeekFrom::Start(at))?;
            }
            read_piece(&file, n)
        }));
    }
}

/// Read exactly `n` bytes at `file`'s position. `read_to_end` fills the vector's spare
/// capacity without zeroing it first (`File` reads into uninitialised memory).
fn read_piece(file: &File, n: u64) -> io::Result<Bytes> {
    let mut buf = Vec::with_capacity(n as usize);
    file.take(n).read_to_end(&mut buf)?;
    if (buf.len() as u64) < n {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the stored file is shorter than when the response began",
        ));
    }
    Ok(Bytes::from(buf))
}

impl futures_util::Stream for FileStream {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(reading) = self.next.as_mut() else {
            return Poll::Ready(None);
        };
        let done = ready!(Pin::new(reading).poll(cx));
        self.next = None;
        match done {
            Ok(Ok(piece)) => {
                self.read_ahead();
                Poll::Ready(Some(Ok(piece)))
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "a stored file could not be read while it was sent");
                self.remaining = 0;
                Poll::Ready(Some(Err(e)))
            }
            Err(e) => {
                self.remaining = 0;
                Poll::Ready(Some(Err(io::Error::other(e))))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let pieces = self.remaining.div_ceil(chunk()) as usize + usize::from(self.next.is_some());
        (pieces, Some(pieces))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    /// Everything `len` bytes from `start` of `file` stream as, or the error that ended it.
    fn stream(file: File, start: u64, len: u64) -> io::Result<Vec<u8>> {
        use futures_util::StreamExt as _;
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut s = FileStream::new(file, start, len);
            let mut out = Vec::new();
            while let Some(piece) = s.next().await {
                let piece = piece?;
                assert!(piece.len() as u64 <= CHUNK);
                out.extend_from_slice(&piece);
            }
            Ok(out)
        })
    }

    fn file_of(bytes: &[u8], name: &str) -> File {
        let path =
            std::env::temp_dir().join(format!("dpost-file-stream-{}-{name}", std::process::id()));
        let mut f = File::options()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        f.write_all(bytes).unwrap();
        std::fs::remove_file(&path).unwrap();
        f
    }

    #[test]
    fn streams_the_asked_bytes_in_order_across_pieces() {
        // Not a multiple of CHUNK, with a pattern that shows a piece out of order or twice.
        let bytes: Vec<u8> = (0..(2 * CHUNK + 12_345))
            .map(|i| (i % 251) as u8)
            .collect();
        let whole = stream(file_of(&bytes, "whole"), 0, bytes.len() as u64).unwrap();
        assert!(whole == bytes, "the whole file");
        let part = stream(file_of(&bytes, "range"), CHUNK - 7, CHUNK + 20).unwrap();
        assert!(
            part == bytes[(CHUNK - 7) as usize..(2 * CHUNK + 13) as usize],
            "a range across a piece boundary"
        );
        assert!(stream(file_of(&bytes, "empty"), 5, 0).unwrap().is_empty());
    }

    #[test]
    fn a_file_shorter_than_promised_ends_the_stream_with_an_error() {
        let e = stream(file_of(&[7; 100], "short"), 0, 200).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }
}
