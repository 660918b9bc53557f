//! Byte scans a block at a time. Parsers here look at every byte of documents that can be
//! 100 MB long; testing a whole block with branch-free arithmetic before looking for the
//! byte lets the compiler vectorise (SSE/AVX natively, simd128 in the component), where a
//! plain `position` stops at every byte.

/// Bytes examined at a time: four SIMD registers of WebAssembly's simd128.
const BLOCK: usize = 64;

/// The position of the first byte for which `hit` is true. `hit` should be branch-free
/// (`|` and `&` on comparisons, not `||` and `&&`) for the block test to vectorise.
pub fn position(bytes: &[u8], hit: impl Fn(u8) -> bool + Copy) -> Option<usize> {
    let mut start = 0;
    for block in bytes.chunks_exact(BLOCK) {
        if block.iter().fold(false, |any, &b| any | hit(b)) {
            break;
        }
        start += BLOCK;
    }
    let rest = bytes.get(start..).unwrap_or_default();
    rest.iter().position(|&b| hit(b)).map(|p| start + p)
}

/// How many bytes satisfy `hit`, counted a block at a time in byte-wide lanes (a block of 64
/// cannot overflow a `u8`).
pub fn count(bytes: &[u8], hit: impl Fn(u8) -> bool + Copy) -> usize {
    let blocks = bytes.chunks_exact(BLOCK);
    let tail = blocks.remainder();
    let whole: usize = blocks
        .map(|block| {
            usize::from(
                block
                    .iter()
                    .fold(0u8, |n, &b| n.wrapping_add(u8::from(hit(b)))),
            )
        })
        .sum();
    whole + tail.iter().filter(|&&b| hit(b)).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The block scans find and count what byte-at-a-time scans do.
        #[test]
        fn agree_with_plain_scans(
            bytes in proptest::collection::vec(prop_oneof![Just(b'A'), Just(b'\n'), any::<u8>()], 0..300),
        ) {
            let newline = |b: u8| b == b'\n';
            prop_assert_eq!(position(&bytes, newline), bytes.iter().position(|&b| newline(b)));
            prop_assert_eq!(count(&bytes, newline), bytes.iter().filter(|&&b| newline(b)).count());
        }
    }
}
