//! The streaming MeMo reader fed in chunks whose sizes the input chooses, checked against the
//! one-call `parse` and `validate`: the reader promises that where chunks are split changes
//! nothing, so any difference is a bug.
//!
//! Input layout: byte 0 holds `n = byte0 % 16`; the next `n` bytes are chunk sizes (0 feeds
//! an empty chunk), used in turn until the message runs out; the rest is the message. With
//! `n == 0` (or only zero sizes) the message is fed in one chunk.
#![no_main]

use dpost_guest::memo::constants::READER_BUFFER_CAP;
use dpost_guest::memo::whole::{Collector, Parsed, unreadable};
use dpost_guest::memo::{Event, Problem, ReadError, ReadErrorKind, Reader, parse, validate};
use libfuzzer_sys::fuzz_target;

/// What a chunked read produced: the parse result and what `validate` would have said.
fn chunked(message: &[u8], sizes: &[u8]) -> (Result<Parsed, ReadError>, Vec<Problem>) {
    let mut reader = Reader::new();
    let mut collector = Collector::default();
    let mut rest = message;
    let mut i = 0;
    let progress = sizes.iter().any(|&s| s > 0);
    let result = loop {
        let n = if progress {
            let n = usize::from(sizes[i % sizes.len()]);
            i += 1;
            n.min(rest.len())
        } else {
            rest.len()
        };
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        match reader.feed(chunk) {
            Ok(events) => events.into_iter().for_each(|e| collector.push(e)),
            Err(e) => break Err(e),
        }
        assert!(
            reader.buffered() <= READER_BUFFER_CAP,
            "the reader holds {} bytes, more than READER_BUFFER_CAP ({READER_BUFFER_CAP})",
            reader.buffered()
        );
        if rest.is_empty() {
            break reader.finish().map(|events| {
                let mut problems = Vec::new();
                for e in events {
                    if let Event::End(s) = &e {
                        problems = s.problems.clone();
                    }
                    collector.push(e);
                }
                problems
            });
        }
    };
    match result {
        Ok(problems) => {
            // A finished reader refuses more input.
            let again = reader.feed(b"<").unwrap_err();
            assert_eq!(again.kind, ReadErrorKind::Finished);
            (Ok(collector.into_parsed()), problems)
        }
        Err(e) => {
            // A failed reader keeps failing the same way.
            assert_eq!(reader.feed(b"").unwrap_err(), e);
            let mut problems = reader.problems().to_vec();
            problems.push(unreadable(&e));
            (Err(e), problems)
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(first % 16).min(rest.len());
    let (sizes, message) = rest.split_at(n);

    let (parsed, problems) = chunked(message, sizes);
    let whole = parse(message);
    match (&whole, &parsed) {
        (Ok(w), Ok(c)) => {
            assert_eq!(
                w.problems.len(),
                c.problems.len(),
                "number of problems differs between whole and chunked reads"
            );
            assert_eq!(w, c, "whole and chunked reads differ");
        }
        (Err(w), Err(c)) => assert_eq!(w, c, "whole and chunked reads fail differently"),
        _ => panic!("whole read gave {whole:?} but chunked read gave {parsed:?}"),
    }
    assert_eq!(
        validate(message),
        problems,
        "validate differs from a chunked read"
    );
});
