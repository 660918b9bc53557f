//! `memo::validate` on any bytes: it must return problems, never panic.
#![no_main]

use dpost_guest::memo::{Code, validate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let problems = validate(data);
    // At most one `unreadable`, and only as the last problem.
    if let Some(i) = problems.iter().position(|p| p.code == Code::Unreadable) {
        assert_eq!(i, problems.len() - 1, "unreadable is not the last problem");
    }
});
