//! MeMo messages, host side: streaming files through the component's `memo.reader` and
//! `memo.writer` resources in bounded chunks, so neither side ever holds a whole message.
//!
//! ```text
//! file/socket ──read 256 KiB──▶ reader.feed ──▶ events: header, document, file, data…, end
//!                                                    │
//!                                      caller's sink ◀┘ (store, extract, count)
//! ```

pub mod extract;
pub mod json;
pub mod origin;
pub mod spec;
pub mod stream;
pub mod writer;

pub use stream::{MemoError, ReadOutcome, read_stream};
