//! The NgDP decisions on untrusted input: pull-mode id lists and bulk receipts (every id accepted must be
//! safe in a URL path), error bodies, push-endpoint recognition, and the push authorization comparison
//! (equal exactly when the trimmed values are equal).
#![no_main]

use dpost_guest::ngdp::authorization::{Verdict, authorize};
use dpost_guest::ngdp::endpoints::target;
use dpost_guest::ngdp::{error_message, paging_result, receipt_search_result};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(page) = paging_result::parse(text) {
        for id in page.ids {
            assert!(!id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'), "{id:?}");
        }
    }
    if let Ok(page) = receipt_search_result::parse(text) {
        for id in page.receipts.into_iter().filter_map(|r| r.id) {
            assert!(!id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'), "{id:?}");
        }
    }
    let _ = error_message::explain(400, text);
    let (path, query) = text.split_once('?').unwrap_or((text, ""));
    let _ = target(path, query);
    let (a, b) = text.split_once('\n').unwrap_or((text, ""));
    let verdict = authorize(a, Some(b));
    let expected = !a.trim().is_empty() && a.trim() == b.trim();
    assert_eq!(verdict == Verdict::Ok, expected, "{a:?} vs {b:?}");
});
