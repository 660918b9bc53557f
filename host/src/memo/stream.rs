//! Feeding a byte source through the component's streaming reader.

use std::io::Read;

use wasmtime::component::ResourceAny;

use crate::bindings::memo_wit as wit;
use crate::runtime::{GuestError, Instance};

/// How much is read from the source and handed to the component at a time. Large enough that
/// the cost of crossing the boundary (copying the chunk) is noise, small enough that the
/// guest's memory stays far below its cap.
pub const DEFAULT_CHUNK: usize = 256 * 1024;

/// The read buffer's size for the first read of a message.
const FIRST_BUFFER: usize = 16 * 1024;

/// Why a message could not be read to the end.
#[derive(Debug, thiserror::Error)]
pub enum MemoError {
    /// The source failed.
    #[error("reading failed: {0}")]
    Io(#[from] std::io::Error),
    /// Not well-formed XML, or not a MeMo message; nothing after this point was read.
    #[error("{line}:{column}: {message}")]
    NotMemo {
        /// Line of the problem, 1-based.
        line: u32,
        /// Column of the problem, 1-based.
        column: u32,
        /// What is wrong, for a person.
        message: String,
        /// The typed reason.
        kind: wit::ReadErrorKind,
    },
    /// The component failed.
    #[error(transparent)]
    Guest(#[from] GuestError),
    /// The caller's sink refused an event (for example the store failed).
    #[error(transparent)]
    Sink(anyhow::Error),
}

impl From<wit::ReadError> for MemoError {
    fn from(e: wit::ReadError) -> Self {
        MemoError::NotMemo {
            line: e.line,
            column: e.column,
            message: e.message,
            kind: e.kind,
        }
    }
}

/// What a complete read found.
#[derive(Debug, Clone)]
pub struct ReadOutcome {
    /// The summary the reader ends with: problems, documents, files, content bytes.
    pub summary: wit::Summary,
    /// Bytes read from the source.
    pub bytes_read: u64,
}

impl ReadOutcome {
    /// True when no problem is an error (warnings allowed).
    pub fn is_valid(&self) -> bool {
        !self
            .summary
            .problems
            .iter()
            .any(|p| p.severity == wit::Severity::Error)
    }
}

/// A `memo.reader` resource in an instance, dropped with it.
struct ReaderResource<'i> {
    instance: &'i mut Instance,
    reader: Option<ResourceAny>,
}

impl<'i> ReaderResource<'i> {
    fn new(instance: &'i mut Instance) -> Result<Self, GuestError> {
        let reader = instance.call(|b, s| b.dpost_protocol_memo().reader().call_constructor(s))?;
        Ok(ReaderResource {
            instance,
            reader: Some(reader),
        })
    }

    fn handle(&self) -> ResourceAny {
        self.reader.expect("present until drop")
    }

    fn feed(&mut self, chunk: &[u8]) -> Result<Vec<wit::Event>, MemoError> {
        let r = self.handle();
        Ok(self
            .instance
            .call(|b, s| b.dpost_protocol_memo().reader().call_feed(s, r, chunk))??)
    }

    fn finish(&mut self) -> Result<Vec<wit::Event>, MemoError> {
        let r = self.handle();
        Ok(self
            .instance
            .call(|b, s| b.dpost_protocol_memo().reader().call_finish(s, r))??)
    }
}

impl Drop for ReaderResource<'_> {
    fn drop(&mut self) {
        if let Some(r) = self.reader.take()
            && !self.instance.is_retired()
        {
            // A failed drop leaves a resource in an instance that is about to go away.
            let _ = self.instance.call(|_, s| r.resource_drop(s));
        }
    }
}

/// Read a whole MeMo from `source` through the component in chunks of `chunk` bytes, handing
/// every event to `sink` as it comes. Returns the reader's summary.
pub fn read_stream(
    instance: &mut Instance,
    mut source: impl Read,
    chunk: usize,
    mut sink: impl FnMut(wit::Event) -> anyhow::Result<()>,
) -> Result<ReadOutcome, MemoError> {
    let mut reader = ReaderResource::new(instance)?;
    // Start small and grow to `chunk` while reads fill the buffer: most messages are a few
    // KB, and zeroing a 256 KiB buffer for each of them cost more than reading them.
    let mut buf = vec![0u8; chunk.clamp(1, FIRST_BUFFER)];
    let mut bytes_read = 0u64;
    let mut summary = None;
    let mut deliver =
        |events: Vec<wit::Event>, summary: &mut Option<wit::Summary>| -> Result<(), MemoError> {
            for event in events {
                if let wit::Event::End(s) = &event {
                    *summary = Some(s.clone());
                }
                sink(event).map_err(MemoError::Sink)?;
            }
            Ok(())
        };
    loop {
        let n = match source.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        bytes_read += n as u64;
        let events = reader.feed(buf.get(..n).unwrap_or_default())?;
        deliver(events, &mut summary)?;
        if n == buf.len() && buf.len() < chunk {
            buf.resize(buf.len().saturating_mul(4).min(chunk), 0);
        }
    }
    let events = reader.finish()?;
    deliver(events, &mut summary)?;
    let summary = summary.ok_or_else(|| {
        MemoError::Guest(GuestError::Trap(
            "the MeMo reader finished without a summary".into(),
        ))
    })?;
    Ok(ReadOutcome {
        summary,
        bytes_read,
    })
}
