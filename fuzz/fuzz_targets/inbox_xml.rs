//! Digipost `<inbox>`: parse anything; what parses must write (v8) and read back as the same
//! inbox, and survive the flat form used by the component interface.
#![no_main]

use dpost_guest::digipost::inbox::{Inbox, parse_inbox, write_inbox};
use dpost_guest::digipost::xml::SchemaVersion;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(inbox) = parse_inbox(data) else {
        return;
    };
    let xml = write_inbox(&inbox, SchemaVersion::V8).expect("a parsed inbox must be writable");
    let again = parse_inbox(xml.as_bytes()).expect("a written inbox must parse");
    assert_eq!(inbox, again, "inbox does not round-trip through {xml}");
    let flat = Inbox::from_flat(inbox.to_flat()).expect("a parsed inbox must have a flat form");
    assert_eq!(
        inbox, flat,
        "inbox does not round-trip through its flat form"
    );
});
