//! The one place the host's WIT bindings are generated, from the same `wit/` the component is
//! built against.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "protocol",
    // JSON output for scripts (`--json`) straight from the contract's types.
    additional_derives: [serde::Serialize],
});

pub use self::dpost::protocol::keystore as keystore_wit;
pub use self::exports::dpost::protocol::content_token as content_token_wit;
pub use self::exports::dpost::protocol::digipost_inbox as digipost_inbox_wit;
pub use self::exports::dpost::protocol::digipost_signing as digipost_signing_wit;
pub use self::exports::dpost::protocol::memo as memo_wit;
