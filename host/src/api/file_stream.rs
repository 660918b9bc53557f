//! A stored file as a response body: read in 1 MiB pieces on tokio's blocking pool, one
//! piece ahead of the one the connection is writing, so the disk read and the socket write
//! overlap and a 100 MB document costs a hundred trips to the pool instead of four hundred.
//! Measured against the previous body in BENCHMARKS.md, "The platform API".
//!
//! Why not the alternatives:
//! - `tokio::fs::File` under a `ReaderStream` (what this replaces) reads one piece only
//!   when the previous one has been written, and copies each piece twice in user space
//!   (into the file's own buffer, then into the stream's).
//! - A thread per download, reading into a channel, holds a thread of the blocking pool
//!   for as long as the slowest client takes; that pool also runs every store call.
//!   Here a trip holds a thread for one read of at most [`CHUNK`].
//! - `sendfile`/`splice` (what nginx does) needs the connection's socket, which hyper owns
//!   and does not lend to a body; the only way in is intercepting hyper's writes, which
//!   depends on how hyper buffers and would send the wrong bytes if that changed.
//! - Mapping the file (`mmap`) saves a copy, but a stored file truncated behind dpost's
//!   back would kill the whole service with SIGBUS.
//!
//! Memory: two buffers per download, whatever its size. hyper asks for the next piece only
//! once it has written out what it holds beyond its buffer limit, which a piece exceeds, so
//! one buffer is being written while the other is being read.

use std::fs::File;
use std::future::Future as _;
use std::io::{self, Read as _, Seek as _, SeekFrom};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use tokio::task::JoinHandle;

/// Bytes read from disk at a time.
pub const CHUNK: u64 = 1024 * 1024;

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
    /// Buffers of pieces written out, for the next reads.
    spare: Spare,
}

/// Buffers back from the connection. A download allocates two and reads every piece into
/// them in turn, rather than a fresh MiB per piece (page faults for each, and freed memory
/// left in the allocator's arena of whichever blocking thread made it).
type Spare = Arc<Mutex<Vec<Vec<u8>>>>;

/// A piece read, as the body hands it to hyper; its buffer goes back to the stream's spares
/// when hyper has written it and drops it.
struct Piece {
    buf: Vec<u8>,
    spare: Spare,
}

impl AsRef<[u8]> for Piece {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Piece {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        self.spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(buf);
    }
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
            spare: Spare::default(),
        };
        s.read_ahead();
        s
    }

    fn read_ahead(&mut self) {
        if self.remaining == 0 {
            return;
        }
        let n = self.remaining.min(CHUNK);
        self.remaining -= n;
        let (file, start, spare) = (self.file.clone(), self.start.take(), self.spare.clone());
        let buf = spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(CHUNK as usize));
        self.next = Some(tokio::task::spawn_blocking(move || {
            if let Some(at) = start {
                (&*file).seek(SeekFrom::Start(at))?;
            }
            let buf = read_piece(&file, n, buf)?;
            Ok(Bytes::from_owner(Piece { buf, spare }))
        }));
    }
}

/// Read exactly `n` bytes at `file`'s position into `buf`. `read_to_end` fills the vector's
/// spare capacity without zeroing it first (`File` reads into uninitialised memory).
fn read_piece(file: &File, n: u64, mut buf: Vec<u8>) -> io::Result<Vec<u8>> {
    buf.clear();
    file.take(n).read_to_end(&mut buf)?;
    if (buf.len() as u64) < n {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the stored file is shorter than when the response began",
        ));
    }
    Ok(buf)
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
        let pieces = self.remaining.div_ceil(CHUNK) as usize + usize::from(self.next.is_some());
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
            // Each piece was dropped before the next was asked for, as hyper does with
            // pieces larger than its buffer: two buffers served every read.
            assert!(s.spare.lock().unwrap().len() <= 2, "buffers are reused");
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
        let bytes: Vec<u8> = (0..(2 * CHUNK + 12_345)).map(|i| (i % 251) as u8).collect();
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
