//! The WebAssembly face of the library: the one place the WIT bindings are generated, and
//! thin conversions between the WIT types and the library's own, one file per exported
//! interface. No protocol logic lives here; it is all in the modules the native tests cover.

wit_bindgen::generate!({
    path: "../wit",
    world: "protocol",
});

mod content_token;
mod digipost_inbox;
mod digipost_signing;
mod keystore;
mod memo;
mod ngdp;

/// The type that implements every exported interface.
pub(crate) struct Component;

export!(Component);
