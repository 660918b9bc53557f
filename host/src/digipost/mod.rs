//! The Digipost API (Norway), host side: calls into the component's `digipost-signing`,
//! `digipost-inbox` and `content-token` interfaces with typed results, the HTTP client that
//! reads an organisation's inbox, and the sync that archives it. The component decides every
//! byte of the canonical strings and every verdict; this module supplies keys, the clock,
//! the network and the store.

pub mod client;
pub mod content_token;
pub mod explain;
pub mod inbox;
pub mod retry;
pub mod signing;
pub mod sync;

pub use signing::{DigipostError, SignedRequest};
