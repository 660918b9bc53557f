//! MeMo, the message format of Danish Digital Post (NgDP): reading, validation and writing.
//!
//! - [`Reader`] streams: feed it chunks of any size and it returns [`Event`]s: the header as
//!   soon as it is complete, each document and file with its content decoded piece by piece,
//!   then a [`Summary`] with every [`Problem`]. Memory stays bounded whatever the message size.
//! - [`parse`] and [`validate`] are one-call forms for messages small enough to hold.
//! - [`Writer`] writes MeMo 1.1 or 1.2 from the typed model, encoding file content as it
//!   streams; [`write_message`] is its one-call form.
//! - [`receipt`] builds and reads NgDP's business receipt JSON.
//! - MeMo 1.1 and 1.2 are accepted, with any namespace prefix or a default namespace, a
//!   byte-order mark, comments and processing instructions, in UTF-8 or UTF-16 ([`encoding`]).
//!   DTDs and entity declarations are refused.
//!
//! Structure and values are checked against MeMo's XML Schema set ([`schema`], every element
//! of the MeMo namespace and the namespaces it imports) and NgDP's business rules
//! (`docs/memo-schema.md`); see [`constants`] for each limit's source.

pub mod constants;
pub mod content;
pub mod encoding;
pub mod model;
pub mod problem;
pub mod reader;
pub mod receipt;
pub mod schema;
pub mod tokenizer;
pub mod tree;
pub mod validate;
pub mod values;
pub mod whole;
pub mod writer;

#[cfg(test)]
mod conformance_tests;

pub use model::*;
pub use problem::{Code, Position, Problem, Severity};
pub use reader::{Event, ReadError, ReadErrorKind, Reader, Summary};
pub use receipt::{Receipt, ReceiptError, ReceiptStatus};
pub use whole::{Parsed, parse, validate};
pub use writer::{WriteError, Writer, write_message};
