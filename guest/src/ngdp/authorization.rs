//! The push service's credential: NgDP sends, on every push, the authorization header that was
//! noted when the receiving system was set up. A wrong value must not be guessable byte by
//! byte from response times, so the comparison takes the same time wherever they differ.

/// The verdict on a presented header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The header matches.
    Ok,
    /// No header was sent.
    Missing,
    /// A header was sent and does not match.
    Mismatch,
}

/// Compare in time that depends only on the lengths, never on where the bytes differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u64;
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= u64::from(x ^ y);
    }
    // Keep the optimiser from turning the loop into an early exit.
    std::hint::black_box(diff) == 0
}

/// Judge the `Authorization` header a push carried against the configured one. Blank space
/// around either value is not significant (proxies and copy-paste add it). An empty expected
/// value never matches: a system without a configured header accepts nothing.
pub fn authorize(expected: &str, presented: Option<&str>) -> Verdict {
    let Some(presented) = presented else {
        return Verdict::Missing;
    };
    let expected = expected.trim();
    if expected.is_empty() {
        return Verdict::Mismatch;
    }
    if constant_time_eq(expected.as_bytes(), presented.trim().as_bytes()) {
        Verdict::Ok
    } else {
        Verdict::Mismatch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        assert_eq!(authorize("Basic abc", Some("Basic abc")), Verdict::Ok);
        assert_eq!(authorize("Basic abc", Some(" Basic abc\r\n")), Verdict::Ok);
        assert_eq!(authorize("Basic abc", Some("Basic abd")), Verdict::Mismatch);
        assert_eq!(authorize("Basic abc", Some("Basic ab")), Verdict::Mismatch);
        assert_eq!(authorize("Basic abc", Some("")), Verdict::Mismatch);
        assert_eq!(authorize("Basic abc", None), Verdict::Missing);
        assert_eq!(authorize("", Some("")), Verdict::Mismatch);
        assert_eq!(authorize("  ", Some("")), Verdict::Mismatch);
    }

    #[test]
    fn equal_means_equal() {
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"a", b"a\0"));
    }
}
