//! The Digipost API (Norway): message-level signatures, the organisation inbox (its XML
//! documents and requests) and the server side of one-time content links.
//!
//! Protocol facts come from Digipost's API documentation (`docs/seeds/digipost-inbox-api.txt`
//! in this repository) and the official clients' behaviour noted in `docs/design.md`.

pub mod certificate;
pub mod content_token;
pub mod date_time;
pub mod entrypoint;
pub mod error_body;
pub mod inbox;
pub mod message;
pub mod request_verification;
pub mod requests;
pub mod signature_echo;
pub mod signing;
pub mod verification;
pub mod xml;

pub use message::{Body, Header};
