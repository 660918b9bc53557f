//! The NgDP decisions on untrusted input: pull-mode message lists (every id accepted must be
//! safe in a URL path), push-endpoint recognition, and the push authorization comparison
//! (equal exactly when the trimmed values are equal).
#![no_main]

use dpost_guest::ngdp::authorization::{Verdict, authorize};
use dpost_guest::ngdp::endpoints::target;
use dpost_guest::ngdp::memo_list::parse_memo_list;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(ids) = parse_memo_list(text) {
        for id in ids {
            assert!(!id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'), "{id:?}");
        }
    }
    let (path, query) = text.split_once('?').unwrap_or((text, ""));
    let _ = target(path, query);
    let (a, b) = text.split_once('\n').unwrap_or((text, ""));
    let verdict = authorize(a, Some(b));
    let expected = !a.trim().is_empty() && a.trim() == b.trim();
    assert_eq!(verdict == Verdict::Ok, expected, "{a:?} vs {b:?}");
});
