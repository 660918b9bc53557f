//! The character encoding of a message's bytes: told from its first bytes (XML 1.0, appendix
//! F), and UTF-16 turned into UTF-8 as it streams, so that everything after this point reads
//! UTF-8 only.
//!
//! Read: UTF-8 (with or without a byte-order mark) and UTF-16, little- or big-endian, with a
//! byte-order mark or, without one, starting with `<` (XML 1.0 requires every reader to accept
//! both). Refused by name: UTF-32/UCS-4 and EBCDIC, recognised from their first bytes, and
//! every other encoding an XML declaration names (ISO-8859-1, Windows-1252, ...): MeMo is a
//! UTF-8 format, NgDP sends UTF-8, and reading a Latin-1 message would need the declaration
//! read before the first byte is decoded; a message that was not UTF-8 or UTF-16 was not
//! written for NgDP.
//!
//! UTF-8 input is not copied or looked at here: after the first bytes decide, the tokenizer's
//! UTF-8 path runs as before.

/// How many bytes decide the encoding.
const SNIFF_BYTES: usize = 4;

/// The byte order of UTF-16 input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteOrder {
    /// Least significant byte first (`FF FE`).
    Little,
    /// Most significant byte first (`FE FF`).
    Big,
}

/// What the first bytes say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    /// UTF-8, the default.
    Utf8,
    /// UTF-16 in this byte order.
    Utf16(ByteOrder),
    /// An encoding recognised and refused; its name.
    Refused(&'static str),
}

/// Tells the encoding from the first bytes; `None` while more bytes could change the answer
/// and the input has not ended (`complete` is false).
pub fn sniff(head: &[u8], complete: bool) -> Option<Detected> {
    let b0 = head.first().copied();
    // Every start that cannot be anything but UTF-8 decides at once.
    if !matches!(b0, Some(0x00 | 0x3C | 0x4C | 0xFE | 0xFF) | None) {
        return Some(Detected::Utf8);
    }
    if head.len() < SNIFF_BYTES && !complete {
        return None;
    }
    Some(match head {
        [0x00, 0x00, 0xFE, 0xFF, ..] | [0x00, 0x00, 0x00, 0x3C, ..] => {
            Detected::Refused("UTF-32 (big-endian)")
        }
        [0xFF, 0xFE, 0x00, 0x00, ..] | [0x3C, 0x00, 0x00, 0x00, ..] => {
            Detected::Refused("UTF-32 (little-endian)")
        }
        [0x4C, 0x6F, 0xA7, 0x94, ..] => Detected::Refused("EBCDIC"),
        [0xFE, 0xFF, ..] | [0x00, 0x3C, ..] => Detected::Utf16(ByteOrder::Big),
        [0xFF, 0xFE, ..] | [0x3C, 0x00, ..] => Detected::Utf16(ByteOrder::Little),
        _ => Detected::Utf8,
    })
}

/// Why UTF-16 input cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Utf16Error {
    /// A surrogate without its other half.
    #[error("a UTF-16 surrogate (0x{0:04X}) is not part of a pair")]
    UnpairedSurrogate(u16),
    /// The input ended inside a code unit or a surrogate pair.
    #[error("the input ended in the middle of a UTF-16 character")]
    Truncated,
}

/// UTF-16 to UTF-8, fed chunks split anywhere: a code unit or a surrogate pair cut by a chunk
/// boundary is held until the next chunk.
#[derive(Debug, Clone)]
pub struct Utf16 {
    order: ByteOrder,
    /// The first byte of a code unit whose second byte has not come.
    odd: Option<u8>,
    /// A high surrogate waiting for its low half.
    high: Option<u16>,
}

impl Utf16 {
    /// A decoder at the start of the input.
    pub fn new(order: ByteOrder) -> Self {
        Utf16 {
            order,
            odd: None,
            high: None,
        }
    }

    /// The byte order.
    pub fn order(&self) -> ByteOrder {
        self.order
    }

    /// Bytes held until the next chunk.
    pub fn held(&self) -> usize {
        usize::from(self.odd.is_some()) + 2 * usize::from(self.high.is_some())
    }

    /// Appends the UTF-8 form of `input` to `out`. On an error `out` holds everything decoded
    /// before the bad code unit, so the caller can read up to it and report it there.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), Utf16Error> {
        out.reserve(input.len() / 2 * 3 + 4);
        let mut bytes = input;
        if let Some(first) = self.odd.take() {
            let Some((&second, rest)) = bytes.split_first() else {
                self.odd = Some(first);
                return Ok(());
            };
            bytes = rest;
            self.unit(self.join(first, second), out)?;
        }
        let mut pairs = bytes.chunks_exact(2);
        for pair in &mut pairs {
            if let [a, b] = *pair {
                self.unit(self.join(a, b), out)?;
            }
        }
        self.odd = pairs.remainder().first().copied();
        Ok(())
    }

    /// Ends the input: nothing may be left half read.
    pub fn finish(&self) -> Result<(), Utf16Error> {
        if self.odd.is_some() || self.high.is_some() {
            return Err(Utf16Error::Truncated);
        }
        Ok(())
    }

    fn join(&self, a: u8, b: u8) -> u16 {
        match self.order {
            ByteOrder::Little => u16::from_le_bytes([a, b]),
            ByteOrder::Big => u16::from_be_bytes([a, b]),
        }
    }

    fn unit(&mut self, unit: u16, out: &mut Vec<u8>) -> Result<(), Utf16Error> {
        let code = match (self.high.take(), unit) {
            (Some(high), 0xDC00..=0xDFFF) => {
                0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(unit) - 0xDC00)
            }
            (Some(high), _) => return Err(Utf16Error::UnpairedSurrogate(high)),
            (None, 0xD800..=0xDBFF) => {
                self.high = Some(unit);
                return Ok(());
            }
            (None, 0xDC00..=0xDFFF) => return Err(Utf16Error::UnpairedSurrogate(unit)),
            (None, _) => u32::from(unit),
        };
        // Every value built above is a scalar value; the fallback is never taken.
        let c = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        Ok(())
    }
}

/// Where a reader is in telling and decoding its input's encoding.
#[derive(Debug, Clone)]
pub enum Input {
    /// Fewer bytes than decide the encoding have come; they are held here.
    Sniffing(Vec<u8>),
    /// UTF-8: bytes go straight to the tokenizer.
    Utf8,
    /// UTF-16, decoded to UTF-8 on the way.
    Utf16(Utf16),
}

impl Default for Input {
    fn default() -> Self {
        Input::Sniffing(Vec::with_capacity(SNIFF_BYTES))
    }
}

impl Input {
    /// Bytes held between chunks.
    pub fn held(&self) -> usize {
        match self {
            Input::Sniffing(head) => head.len(),
            Input::Utf8 => 0,
            Input::Utf16(d) => d.held(),
        }
    }

    /// Takes from `chunk` what the decision needs. Returns how many bytes of `chunk` were
    /// taken, and once decided, the encoding and the held bytes (to be read before the rest
    /// of `chunk`); `Input` is then no longer `Sniffing`.
    pub fn sniff(&mut self, chunk: &[u8], complete: bool) -> (usize, Option<(Detected, Vec<u8>)>) {
        let Input::Sniffing(head) = self else {
            return (0, None);
        };
        let take = SNIFF_BYTES.saturating_sub(head.len()).min(chunk.len());
        head.extend_from_slice(chunk.get(..take).unwrap_or_default());
        let Some(detected) = sniff(head, complete) else {
            return (take, None);
        };
        let held = std::mem::take(head);
        *self = match detected {
            Detected::Utf16(order) => Input::Utf16(Utf16::new(order)),
            Detected::Utf8 | Detected::Refused(_) => Input::Utf8,
        };
        (take, Some((detected, held)))
    }

    /// Whether an XML declaration naming `declared` agrees with the input's encoding.
    pub fn agrees_with(&self, declared: &str) -> bool {
        let d = declared.to_ascii_lowercase();
        match self {
            Input::Utf16(u) => {
                d == "utf-16"
                    || (d == "utf-16le" && u.order() == ByteOrder::Little)
                    || (d == "utf-16be" && u.order() == ByteOrder::Big)
            }
            Input::Utf8 | Input::Sniffing(_) => d == "utf-8" || d == "utf8",
        }
    }

    /// The input's encoding, named for a person.
    pub fn name(&self) -> &'static str {
        match self {
            Input::Utf16(u) if u.order() == ByteOrder::Little => "UTF-16 (little-endian)",
            Input::Utf16(_) => "UTF-16 (big-endian)",
            Input::Utf8 | Input::Sniffing(_) => "UTF-8",
        }
    }
}

/// Whether `declared` names UTF-8 or UTF-16 (which this reader reads when the bytes are).
pub fn is_unicode_name(declared: &str) -> bool {
    matches!(
        declared.to_ascii_lowercase().as_str(),
        "utf-8" | "utf8" | "utf-16" | "utf-16le" | "utf-16be"
    )
}

/// `s` as UTF-16 bytes in `order`, with a byte-order mark first when `bom`: test input.
#[cfg(test)]
pub(crate) fn utf16(s: &str, order: ByteOrder, bom: bool) -> Vec<u8> {
    bom.then_some(0xFEFF)
        .into_iter()
        .chain(s.encode_utf16())
        .flat_map(|u| match order {
            ByteOrder::Little => u.to_le_bytes(),
            ByteOrder::Big => u.to_be_bytes(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_bytes_tell_the_encoding() {
        use ByteOrder::*;
        use Detected::*;
        let cases: [(&[u8], Detected); 11] = [
            (b"<?xml", Utf8),
            (b"\xEF\xBB\xBF<", Utf8),
            (b"\xFF\xFE<\x00", Utf16(Little)),
            (b"\xFE\xFF\x00<", Utf16(Big)),
            (b"<\x00?\x00", Utf16(Little)),
            (b"\x00<\x00?", Utf16(Big)),
            (b"\x00\x00\xFE\xFF", Refused("UTF-32 (big-endian)")),
            (b"\xFF\xFE\x00\x00", Refused("UTF-32 (little-endian)")),
            (b"<\x00\x00\x00", Refused("UTF-32 (little-endian)")),
            (b"\x4C\x6F\xA7\x94", Refused("EBCDIC")),
            (b"<a>", Utf8),
        ];
        for (head, want) in cases {
            assert_eq!(sniff(head, true), Some(want), "{head:?}");
        }
        assert_eq!(sniff(b"\xFF\xFE", false), None);
        assert_eq!(sniff(b"\xFF\xFE", true), Some(Utf16(Little)));
        assert_eq!(sniff(b"x", false), Some(Utf8));
        assert_eq!(sniff(b"", true), Some(Utf8));
    }

    #[test]
    fn decodes_any_split_including_inside_surrogate_pairs() {
        let text = "<r>hæj 😀 ∑</r>";
        for order in [ByteOrder::Little, ByteOrder::Big] {
            let bytes = utf16(text, order, false);
            for size in 1..=bytes.len() {
                let mut d = Utf16::new(order);
                let mut out = Vec::new();
                for piece in bytes.chunks(size) {
                    d.decode(piece, &mut out).unwrap();
                }
                d.finish().unwrap();
                assert_eq!(String::from_utf8(out).unwrap(), text, "{order:?} {size}");
            }
        }
    }

    #[test]
    fn refuses_unpaired_surrogates_and_a_cut_end() {
        let mut d = Utf16::new(ByteOrder::Little);
        let mut out = Vec::new();
        let e = d.decode(&[b'a', 0, 0x00, 0xDC, b'b', 0], &mut out);
        assert_eq!(e, Err(Utf16Error::UnpairedSurrogate(0xDC00)));
        assert_eq!(out, b"a");
        let mut d = Utf16::new(ByteOrder::Little);
        let e = d.decode(&[0x3D, 0xD8, b'a', 0], &mut Vec::new());
        assert_eq!(e, Err(Utf16Error::UnpairedSurrogate(0xD83D)));
        let mut d = Utf16::new(ByteOrder::Big);
        d.decode(&[0xD8, 0x3D], &mut Vec::new()).unwrap();
        assert_eq!(d.finish(), Err(Utf16Error::Truncated));
        let mut d = Utf16::new(ByteOrder::Big);
        d.decode(&[0x00], &mut Vec::new()).unwrap();
        assert_eq!(d.finish(), Err(Utf16Error::Truncated));
    }

    /// The official examples, written as UTF-16 by a tool that also rewrites the declaration,
    /// read exactly as the UTF-8 originals: same message, same problems, same positions.
    #[test]
    fn utf16_messages_read_as_their_utf8_originals() {
        let fixtures: [&[u8]; 2] = [
            include_bytes!("../../../tests/fixtures/memo/MeMo_v1.1_Full_Example.xml"),
            include_bytes!("../../../tests/fixtures/memo/MeMo_v1.2_Full_Example.xml"),
        ];
        for utf8 in fixtures {
            let text = std::str::from_utf8(utf8).unwrap();
            let text = text.strip_prefix('\u{feff}').unwrap_or(text);
            let declared = text.replacen("encoding=\"UTF-8\"", "encoding=\"UTF-16\"", 1);
            assert_ne!(declared, text, "the fixture declares UTF-8");
            let want = crate::memo::parse(utf8).unwrap();
            for order in [ByteOrder::Little, ByteOrder::Big] {
                let bytes = utf16(&declared, order, true);
                assert_eq!(crate::memo::parse(&bytes).unwrap(), want, "{order:?}");
                let mut reader = crate::memo::Reader::new();
                let mut events = Vec::new();
                for piece in bytes.chunks(7) {
                    events.extend(reader.feed(piece).unwrap());
                }
                events.extend(reader.finish().unwrap());
                let mut collector = crate::memo::whole::Collector::default();
                events.into_iter().for_each(|e| collector.push(e));
                assert_eq!(collector.into_parsed(), want, "{order:?} in pieces of 7");
            }
        }
    }

    #[test]
    fn declarations_must_name_the_encoding_read() {
        assert!(Input::Utf8.agrees_with("UTF-8"));
        assert!(!Input::Utf8.agrees_with("UTF-16"));
        let le = Input::Utf16(Utf16::new(ByteOrder::Little));
        assert!(le.agrees_with("utf-16") && le.agrees_with("UTF-16LE"));
        assert!(!le.agrees_with("UTF-16BE") && !le.agrees_with("UTF-8"));
        assert!(is_unicode_name("UTF-16") && !is_unicode_name("ISO-8859-1"));
    }
}
