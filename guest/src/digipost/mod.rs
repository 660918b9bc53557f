//! The Digipost API (Norway): message-level signatures now; the organisation inbox follows.
//!
//! Protocol facts come from Digipost's API documentation (`docs/seeds/digipost-inbox-api.txt`
//! in this repository) and the official clients' behaviour noted in `docs/design.md`.

pub mod certificate;
pub mod message;
pub mod signature_echo;
pub mod signing;
pub mod verification;

pub use message::{Body, Header};
