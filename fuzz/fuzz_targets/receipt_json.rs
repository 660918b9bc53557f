//! NgDP receipt JSON: parse anything; what parses must build and parse back to itself.
#![no_main]

use dpost_guest::memo::receipt::{build, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(json) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(receipt) = parse(json) else {
        return;
    };
    let built = build(&receipt).expect("a parsed receipt must build");
    let again = parse(&built).expect("a built receipt must parse");
    assert_eq!(
        receipt, again,
        "receipt does not round-trip through {built}"
    );
});
