//! dpost's protocol core.
//!
//! Everything here is pure: given the same inputs it returns the same outputs. It reads no
//! clock, no randomness, no file and no socket; time, random bytes and identifiers are
//! arguments, and private-key signing is delegated to a [`keystore::Keystore`] the caller
//! provides. That is what lets the same code run natively (unit tests, benchmarks, the host's
//! own fast paths) and inside a sandboxed WebAssembly component that any platform can embed.
//!
//! ```text
//!            host (dpost, or any component host)
//!   ┌──────────────────────────────────────────────────────┐
//!   │ sockets · TLS · clock · random · files · private keys │
//!   └───────┬──────────────────────────────▲───────────────┘
//!           │ requests, bytes, now          │ headers, verdicts, typed errors
//!   ┌───────▼──────────────────────────────┴───────────────┐
//!   │ dpost-guest: canonical strings, signatures, parsing, │
//!   │ validation, routing decisions         ──sign(bytes)──┼──▶ keystore (host)
//!   └──────────────────────────────────────────────────────┘
//! ```
//!
//! On `wasm32` the [`component`] module exports this library through the WIT contract in
//! `wit/` (package `dpost:protocol`).

pub mod digipost;
pub mod http_date;
pub mod keystore;
pub mod memo;
pub mod ngdp;
pub mod scan;

#[cfg(target_arch = "wasm32")]
mod component;
