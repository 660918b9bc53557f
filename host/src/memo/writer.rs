//! Writing a MeMo through the component's `memo.writer` resource: the host streams file
//! content in, the component base64-encodes it and hands back XML as it goes.

use std::io::{Read, Write};

use wasmtime::component::ResourceAny;

use crate::bindings::memo_wit as wit;
use crate::runtime::{GuestError, Instance};

/// Bytes of file content handed to the writer per call.
const CONTENT_CHUNK: usize = 192 * 1024;

/// Why a message could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The description breaks MeMo's structure (the component's typed reason).
    #[error("the message cannot be written: {}", describe(.0))]
    Memo(wit::WriteError),
    /// Reading a file or writing the output failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The component failed.
    #[error(transparent)]
    Guest(#[from] GuestError),
}

/// The component's reason in words.
fn describe(e: &wit::WriteError) -> String {
    use wit::WriteError as W;
    match e {
        W::OutOfOrder(o) => format!("{} cannot be called {}", o.call, o.state),
        W::RequiredInV11(f) => format!("{f} is required in MeMo 1.1"),
        W::NotInVersion(f) => format!("{f} exists only from MeMo 1.2"),
        W::EmptyFile => "the file is empty, and NgDP refuses empty files".into(),
        W::DocumentWithoutFiles => "a document needs at least one file".into(),
        W::DocumentOrder(got) => format!(
            "documents go main first (exactly one), then additional, then technical; got {got} here"
        ),
        W::TechnicalActions => "a technical document cannot carry actions".into(),
        W::ActionChoice => {
            "an action has either a reservation or an entry point URL, not both".into()
        }
        W::BodyRequired => "a DIGITALPOST message needs a body with a main document".into(),
        W::InvalidCharacter(c) => format!(
            "{} contains U+{:04X}, a character an XML message cannot carry",
            c.field, c.code
        ),
        W::BadExtension(b) => format!("extension element {:?}: {}", b.name, b.reason),
    }
}

impl From<wit::WriteError> for WriteError {
    fn from(e: wit::WriteError) -> Self {
        WriteError::Memo(e)
    }
}

/// A `memo.writer` resource whose output goes to `out`.
pub struct Writer<'i, W: Write> {
    instance: &'i mut Instance,
    writer: Option<ResourceAny>,
    /// Taken by `finish`.
    out: Option<W>,
}

impl<'i, W: Write> Writer<'i, W> {
    /// A new writer in `instance`.
    pub fn new(instance: &'i mut Instance, out: W) -> Result<Self, WriteError> {
        let writer = instance.call(|b, s| b.dpost_protocol_memo().writer().call_constructor(s))?;
        Ok(Writer {
            instance,
            writer: Some(writer),
            out: Some(out),
        })
    }

    fn step(
        &mut self,
        f: impl FnOnce(
            &crate::bindings::Protocol,
            &mut wasmtime::Store<crate::runtime::HostState>,
            ResourceAny,
        ) -> wasmtime::Result<Result<Vec<u8>, wit::WriteError>>,
    ) -> Result<(), WriteError> {
        let w = self.writer.expect("present until drop");
        let bytes = self.instance.call(|b, s| f(b, s, w))??;
        self.out
            .as_mut()
            .expect("present until finish")
            .write_all(&bytes)?;
        Ok(())
    }

    /// The header; first.
    pub fn header(&mut self, header: &wit::Header) -> Result<(), WriteError> {
        self.step(|b, s, w| b.dpost_protocol_memo().writer().call_header(s, w, header))
    }

    /// Open the body.
    pub fn begin_body(&mut self, created: &str) -> Result<(), WriteError> {
        self.step(|b, s, w| {
            b.dpost_protocol_memo()
                .writer()
                .call_begin_body(s, w, created)
        })
    }

    /// Open a document.
    pub fn begin_document(&mut self, info: &wit::DocumentInfo) -> Result<(), WriteError> {
        self.step(|b, s, w| {
            b.dpost_protocol_memo()
                .writer()
                .call_begin_document(s, w, info)
        })
    }

    /// A whole file, its content streamed from `content`.
    pub fn file(
        &mut self,
        info: &wit::FileInfo,
        mut content: impl Read,
    ) -> Result<u64, WriteError> {
        self.step(|b, s, w| b.dpost_protocol_memo().writer().call_begin_file(s, w, info))?;
        let mut buf = vec![0u8; CONTENT_CHUNK];
        let mut total = 0u64;
        loop {
            let n = match content.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            total += n as u64;
            let piece = &buf[..n];
            self.step(|b, s, w| b.dpost_protocol_memo().writer().call_file_data(s, w, piece))?;
        }
        self.step(|b, s, w| b.dpost_protocol_memo().writer().call_end_file(s, w))?;
        Ok(total)
    }

    /// Close a document.
    pub fn end_document(&mut self, actions: &[wit::Action]) -> Result<(), WriteError> {
        self.step(|b, s, w| {
            b.dpost_protocol_memo()
                .writer()
                .call_end_document(s, w, actions)
        })
    }

    /// Where the output goes (for what it has been given so far).
    pub fn output(&self) -> Option<&W> {
        self.out.as_ref()
    }

    /// Close the message and return the output.
    pub fn finish(mut self) -> Result<W, WriteError> {
        self.step(|b, s, w| b.dpost_protocol_memo().writer().call_finish(s, w))?;
        let mut out = self.out.take().expect("present until finish");
        out.flush()?;
        Ok(out)
    }

    fn release(&mut self) {
        if let Some(w) = self.writer.take()
            && !self.instance.is_retired()
        {
            let _ = self.instance.call(|_, s| w.resource_drop(s));
        }
    }
}

impl<W: Write> Drop for Writer<'_, W> {
    fn drop(&mut self) {
        self.release();
    }
}
