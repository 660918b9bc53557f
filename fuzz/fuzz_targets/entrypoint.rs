//! Digipost `<entrypoint>`: parse anything; what parses must write and read back the same.
#![no_main]

use dpost_guest::digipost::entrypoint::{parse_entrypoint, write_entrypoint};
use dpost_guest::digipost::xml::SchemaVersion;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(entrypoint) = parse_entrypoint(data) else {
        return;
    };
    let xml = write_entrypoint(&entrypoint, SchemaVersion::V8)
        .expect("a parsed entrypoint must be writable");
    let again = parse_entrypoint(xml.as_bytes()).expect("a written entrypoint must parse");
    assert_eq!(
        entrypoint, again,
        "entrypoint does not round-trip through {xml}"
    );
});
