//! The Digipost API (Norway), host side: calls into the component's `digipost-signing`
//! interface with typed results. The component decides every byte of the canonical strings
//! and every verdict; this module supplies keys, the clock and the plumbing.

pub mod explain;
pub mod signing;

pub use signing::{DigipostError, SignedRequest};
