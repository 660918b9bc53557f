//! Digipost `<error>`: parse anything; what parses must write and read back the same, and the
//! signature echo must be extractable from its message without panicking.
#![no_main]

use dpost_guest::digipost::error_body::{parse_error_body, write_error_body};
use dpost_guest::digipost::signature_echo::server_canonical_from_error;
use dpost_guest::digipost::xml::SchemaVersion;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = parse_error_body(data) else {
        return;
    };
    if let Some(message) = &body.message {
        let _ = server_canonical_from_error(message);
    }
    let xml = write_error_body(&body, SchemaVersion::V8).expect("a parsed error must be writable");
    let again = parse_error_body(xml.as_bytes()).expect("a written error must parse");
    assert_eq!(body, again, "error body does not round-trip through {xml}");
});
