//! The push listener's multipart handling (`host/src/ngdp/multipart.rs`, included as is):
//! any Content-Type and any body, fed in chunks whose sizes the input chooses. It must never
//! panic or hang, must stop within the body limit, and what it forwards as the `file` part
//! must be a part of the body.
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../host/src/ngdp/multipart.rs"]
mod multipart;

use multipart::{MultipartError, forward_file_part, is_multipart};

/// The whole-body limit for the fuzzer: small, so that inputs reach it.
const LIMIT: u64 = 2048;

/// Drive a future whose every poll is ready (the body is in memory, the sink never waits).
fn run<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000_000 {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("the multipart reader waits on a body that is all there");
}

fuzz_target!(|data: &[u8]| {
    // Byte 0 chooses the chunk size; up to the first newline is the Content-Type (or a
    // well-formed one with boundary "B" when byte 1 is even); the rest is the body.
    let Some((&size, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(size % 64) + 1;
    let (content_type, body) = match rest.iter().position(|b| *b == b'\n') {
        Some(at) if rest.first().is_some_and(|b| b % 2 == 1) => {
            (String::from_utf8_lossy(&rest[1..at]).into_owned(), &rest[at + 1..])
        }
        _ => ("multipart/form-data; boundary=B".to_owned(), rest),
    };
    if !is_multipart(&content_type) {
        // The listener reads such a body raw and never calls the multipart reader.
        return;
    }
    let chunks: Vec<Result<Bytes, std::io::Error>> = body
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let mut forwarded: Vec<u8> = Vec::new();
    let mut errors = 0;
    let result = run(forward_file_part(
        &content_type,
        futures_util::stream::iter(chunks),
        LIMIT,
        |c| {
            match c {
                Ok(b) => forwarded.extend_from_slice(&b),
                Err(_) => errors += 1,
            }
            async { true }
        },
    ));
    assert!(errors <= 1, "at most one error is forwarded");
    match result {
        Ok(()) => {
            assert_eq!(errors, 0, "an error was forwarded but not returned");
            assert!(
                body.windows(forwarded.len().max(1)).any(|w| w == &forwarded[..])
                    || forwarded.is_empty(),
                "the file part is not a piece of the body"
            );
        }
        Err(MultipartError::TooLarge { limit }) => {
            assert_eq!(limit, LIMIT);
            assert!(body.len() as u64 > LIMIT, "too large at {} bytes", body.len());
        }
        Err(_) => {}
    }
    assert!(forwarded.len() as u64 <= LIMIT);
});
