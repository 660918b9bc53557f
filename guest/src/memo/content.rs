//! File content: base64 decoded and encoded as it streams, holding at most three bytes or
//! four characters between pieces, so a file of any size passes through in constant memory.
//!
//! The `base64` crate decodes whole slices; here a piece may end in the middle of a quantum,
//! and XML Schema's base64Binary allows white space anywhere, so the quantum is carried over.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Not a base64 character (white space, padding or garbage) in [`SEXTETS`].
const NOT_BASE64: u8 = 0xFF;

/// The value of each base64 character, [`NOT_BASE64`] for every other byte.
const SEXTETS: [u8; 256] = {
    let mut t = [NOT_BASE64; 256];
    let mut i = 0;
    while i < 64 {
        t[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
};

fn sextet(b: u8) -> Option<u8> {
    match SEXTETS.get(usize::from(b)).copied() {
        Some(NOT_BASE64) | None => None,
        v => v,
    }
}

/// Decodes base64 text given in pieces.
#[derive(Debug, Default)]
pub struct Decoder {
    quad: [u8; 4],
    filled: usize,
    /// `=` characters seen; after the first, only `=` and white space may follow.
    padding: usize,
    /// The padding completed the last group.
    done: bool,
    /// Decoded bytes so far.
    pub decoded: u64,
    error: Option<String>,
    /// Characters (not white space) seen, for error messages.
    seen: u64,
}

impl Decoder {
    /// A decoder at the start of a content.
    pub fn new() -> Self {
        Self::default()
    }

    /// The first error, once there is one; decoding stops there.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    fn fail(&mut self, message: String) {
        if self.error.is_none() {
            self.error = Some(message);
        }
    }

    /// Decodes one piece of text, appending the bytes to `out`.
    pub fn push(&mut self, text: &[u8], out: &mut Vec<u8>) {
        if self.error.is_some() {
            return;
        }
        out.reserve(text.len() / 4 * 3 + 3);
        let mut rest = text;
        loop {
            // Fast path: whole groups of four base64 characters between group boundaries,
            // which is nearly all of a content; anything else (white space, padding, garbage,
            // a group split by a line break) takes the careful path one byte at a time.
            if self.filled == 0 && self.padding == 0 && !self.done {
                let groups = self.whole_groups(rest, out);
                rest = rest.get(groups * 4..).unwrap_or_default();
            }
            let Some((&b, tail)) = rest.split_first() else {
                break;
            };
            rest = tail;
            if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                continue;
            }
            self.seen += 1;
            if self.done {
                self.fail(format!(
                    "character {} comes after the '=' padding that ends base64",
                    self.seen
                ));
                return;
            }
            if b == b'=' {
                // Padding may only complete a quantum that has two or three characters.
                if self.filled < 2 {
                    self.fail(format!(
                        "padding '=' at character {} is not at the end of a group of four",
                        self.seen
                    ));
                    return;
                }
                self.padding += 1;
                if self.filled + self.padding == 4 {
                    self.emit_final(out);
                }
                continue;
            }
            if self.padding > 0 {
                self.fail(format!(
                    "character {} comes after the '=' padding that ends base64",
                    self.seen
                ));
                return;
            }
            let Some(v) = sextet(b) else {
                let shown = if b.is_ascii_graphic() {
                    format!("{:?}", b as char)
                } else {
                    format!("byte 0x{b:02X}")
                };
                self.fail(format!(
                    "{shown} at character {} is not a base64 character",
                    self.seen
                ));
                return;
            };
            if let Some(slot) = self.quad.get_mut(self.filled) {
                *slot = v;
            }
            self.filled += 1;
            if self.filled == 4 {
                let [a, b, c, d] = self.quad;
                out.extend_from_slice(&[(a << 2) | (b >> 4), (b << 4) | (c >> 2), (c << 6) | d]);
                self.decoded += 3;
                self.filled = 0;
            }
        }
    }

    /// Decodes the leading groups of four that are all base64 characters; returns how many.
    fn whole_groups(&mut self, text: &[u8], out: &mut Vec<u8>) -> usize {
        let mut n = 0;
        for group in text.chunks_exact(4) {
            let v = |i: usize| {
                group
                    .get(i)
                    .and_then(|&b| SEXTETS.get(usize::from(b)))
                    .copied()
                    .unwrap_or(NOT_BASE64)
            };
            let (a, b, c, d) = (v(0), v(1), v(2), v(3));
            if (a | b | c | d) & 0xC0 != 0 {
                break;
            }
            out.extend_from_slice(&[(a << 2) | (b >> 4), (b << 4) | (c >> 2), (c << 6) | d]);
            n += 1;
        }
        self.decoded += 3 * n as u64;
        self.seen += 4 * n as u64;
        n
    }

    fn emit_final(&mut self, out: &mut Vec<u8>) {
        let [a, b, c, _] = self.quad;
        match self.filled {
            2 => {
                out.push((a << 2) | (b >> 4));
                self.decoded += 1;
            }
            3 => {
                out.extend_from_slice(&[(a << 2) | (b >> 4), (b << 4) | (c >> 2)]);
                self.decoded += 2;
            }
            _ => {}
        }
        self.done = true;
    }

    /// Ends the content; an incomplete last group is an error.
    pub fn finish(&mut self) -> Result<u64, String> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if self.done {
            return Ok(self.decoded);
        }
        if self.padding != 0 {
            return Err("the content ends inside its '=' padding".into());
        }
        if self.filled != 0 {
            return Err(format!(
                "the content ends with {} base64 characters left over; base64 comes in groups of four",
                self.filled
            ));
        }
        Ok(self.decoded)
    }
}

/// Encodes bytes given in pieces as base64 text.
#[derive(Debug, Default)]
pub struct Encoder {
    carry: [u8; 3],
    filled: usize,
}

impl Encoder {
    /// An encoder at the start of a content.
    pub fn new() -> Self {
        Self::default()
    }

    fn quantum(bytes: [u8; 3], n: usize, out: &mut Vec<u8>) {
        let [a, b, c] = bytes;
        let s = [
            a >> 2,
            ((a & 3) << 4) | (b >> 4),
            ((b & 15) << 2) | (c >> 6),
            c & 63,
        ];
        for (i, v) in s.into_iter().enumerate() {
            let ch = if i <= n {
                ALPHABET.get(v as usize).copied().unwrap_or(b'A')
            } else {
                b'='
            };
            out.push(ch);
        }
    }

    /// Encodes a piece, appending text to `out`.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) {
        while self.filled > 0 && !bytes.is_empty() {
            if let (Some(slot), Some((&b, rest))) =
                (self.carry.get_mut(self.filled), bytes.split_first())
            {
                *slot = b;
                bytes = rest;
            }
            self.filled += 1;
            if self.filled == 3 {
                Self::quantum(self.carry, 3, out);
                self.filled = 0;
            }
        }
        let mut groups = bytes.chunks_exact(3);
        out.reserve(bytes.len() / 3 * 4 + 4);
        for g in &mut groups {
            Self::quantum(
                [
                    g.first().copied().unwrap_or(0),
                    g.get(1).copied().unwrap_or(0),
                    g.get(2).copied().unwrap_or(0),
                ],
                3,
                out,
            );
        }
        for &b in groups.remainder() {
            if let Some(slot) = self.carry.get_mut(self.filled) {
                *slot = b;
            }
            self.filled += 1;
        }
    }

    /// Writes the last, padded group.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.filled > 0 {
            let mut last = [0u8; 3];
            last.iter_mut()
                .zip(self.carry.iter())
                .take(self.filled)
                .for_each(|(d, s)| *d = *s);
            Self::quantum(last, self.filled, out);
            self.filled = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use proptest::prelude::*;

    fn decode_in(pieces: &[&[u8]]) -> Result<Vec<u8>, String> {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        for p in pieces {
            d.push(p, &mut out);
        }
        d.finish().map(|_| out)
    }

    #[test]
    fn decodes_the_fixture_content() {
        assert_eq!(
            decode_in(&[b"VGhpcyBpcyBhIHRlc3Q="]).unwrap(),
            b"This is a test"
        );
        assert_eq!(
            decode_in(&[b"VGhp\n cyBp", b"cyBhIHRl", b"c3Q", b"="]).unwrap(),
            b"This is a test"
        );
    }

    #[test]
    fn refuses_bad_base64() {
        assert!(decode_in(&[b"VGh"]).is_err());
        assert!(decode_in(&[b"VG=h"]).is_err());
        assert!(decode_in(&[b"V==="]).is_err());
        assert!(decode_in(&[b"VGg=VGg="]).is_err());
        assert!(decode_in(&[b"VGg*"]).is_err());
        assert!(decode_in(&[b"VG=="]).is_ok());
    }

    proptest! {
        #[test]
        fn round_trips_against_the_base64_crate(data in proptest::collection::vec(any::<u8>(), 0..200), cut in 0usize..300) {
            let mut e = Encoder::new();
            let mut text = Vec::new();
            let cut = cut.min(data.len());
            e.push(&data[..cut], &mut text);
            e.push(&data[cut..], &mut text);
            e.finish(&mut text);
            prop_assert_eq!(&text, &STANDARD.encode(&data).into_bytes());
            let at = cut.min(text.len());
            prop_assert_eq!(decode_in(&[&text[..at], &text[at..]]).unwrap(), data);
        }

        /// The group-at-a-time fast path decides exactly as the byte-at-a-time path does,
        /// on good and bad input alike (a one-byte piece never takes the fast path).
        #[test]
        fn fast_path_agrees_with_byte_at_a_time(
            text in proptest::collection::vec(
                prop_oneof![Just(b'A'), Just(b'z'), Just(b'+'), Just(b'='), Just(b'\n'), Just(b' '), Just(b'*'), any::<u8>()],
                0..64,
            ),
        ) {
            let bytes: Vec<&[u8]> = text.chunks(1).collect();
            prop_assert_eq!(decode_in(&[&text]), decode_in(&bytes));
        }
    }
}
