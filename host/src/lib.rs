//! The `dpost` host: everything the protocol component must not do itself.
//!
//! The component (`guest/`, exported through `wit/`) decides; this crate moves bytes. It owns
//! the WebAssembly runtime, private keys, the clock, the network and, in later parts, the
//! durable store and the simulators of both services.

pub mod api;
pub mod bindings;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod contact_points;
pub mod digipost;
pub mod doctor;
pub mod error_text;
pub mod keystore;
pub mod leased;
pub mod memo;
pub mod ngdp;
pub mod portal;
pub mod runtime;
pub mod sim;
pub mod store;
pub mod webhooks;
