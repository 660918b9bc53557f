//! The fixed facts of MeMo and the limits this implementation chooses, each with its source.
//!
//! Sources: "MeMo" is Digitaliseringsstyrelsen's message model as summarised in
//! `docs/design.md` (section "MeMo"); "MeMo schema" is its XML Schema set as described in
//! [`super::schema`]; "NgDP" is the Digital Post service's own acceptance rules
//! from the same section; "ours" marks a limit this implementation sets to keep memory bounded.

/// The MeMo namespace (MeMo). Elements are matched on this URI, never on a prefix.
pub const MEMO_NAMESPACE: &str = "https://DigitalPost.dk/MeMo-1";

/// The `memoSchVersion` that MeMo 1.1 messages carry (MeMo).
pub const MEMO_1_1_SCHEMA_VERSION: &str = "1.1.0";

/// Default maximum length of a MeMo string, in characters (MeMo).
pub const MAX_STRING: usize = 256;
/// Maximum length of `comment` in ForwardData and ReplyData, in characters (MeMo).
pub const MAX_COMMENT: usize = 512;
/// Maximum length of `notification`, in characters (MeMo).
pub const MAX_NOTIFICATION: usize = 150;
/// Maximum length of `licenseNumber` in `dmv:MotorVehicle`, in characters (MeMo schema).
pub const MAX_LICENSE_NUMBER: usize = 7;
/// Largest `grd:productionUnitNumber` (MeMo schema: an integer up to ten digits).
pub const MAX_PRODUCTION_UNIT_NUMBER: u64 = 9_999_999_999;
/// Largest `gln:globalLocationNumber` (MeMo schema: an integer up to thirteen digits, GS1's
/// GLN length).
pub const MAX_GLOBAL_LOCATION_NUMBER: u64 = 9_999_999_999_999;

/// At most this many `ContactInfo` in one `ContactPoint` (MeMo).
pub const MAX_CONTACT_INFO: u32 = 2;
/// At most this many `AdditionalContentData` in one `ContentData` (MeMo schema).
pub const MAX_ADDITIONAL_CONTENT_DATA: u32 = 10;
/// At most this many `AdditionalReplyData` in one `ReplyData` (MeMo).
pub const MAX_ADDITIONAL_REPLY_DATA: u32 = 4;

/// Digits in a CPR number (MeMo: idType CPR).
pub const CPR_DIGITS: usize = 10;
/// Digits in a CVR number (MeMo: idType CVR).
pub const CVR_DIGITS: usize = 8;

/// `messageType` values (MeMo).
pub const MESSAGE_TYPES: &[&str] = &["DIGITALPOST", "NEMSMS"];
/// `idType` values whose identifier format is known (MeMo). Others are reported as warnings,
/// not errors: MeMo's `idTypeLabel` exists to name identifier types outside this list.
pub const KNOWN_ID_TYPES: &[&str] = &["CPR", "CVR"];
/// `actionCode` values seen in MeMo's documentation and samples (MeMo). Others are warnings.
pub const KNOWN_ACTION_CODES: &[&str] = &[
    "AFTALE",
    "BETALING",
    "SELVBETJENING",
    "INFORMATION",
    "UNDERSKRIV",
    "BEKRAEFT",
    "FORBEREDELSE",
    "TILMELDING",
];

/// Characters a MeMo `filename` must not contain (NgDP).
pub const FORBIDDEN_FILENAME_CHARS: &[char] = &[
    '<', '>', ':', '"', '/', '\\', '|', '?', '*', '\r', '\n', '\u{00A0}', '\u{2000}', '\u{2001}',
    '\u{2002}', '\u{2003}', '\u{2004}', '\u{2005}', '\u{2006}', '\u{2007}', '\u{2008}', '\u{2009}',
    '\u{200A}', '\u{2028}', '\u{205F}', '\u{2060}', '\u{3000}',
];

/// Longest start tag, end tag, processing instruction or `<!` prefix the reader buffers (ours).
/// The widest real tag is the root with a dozen namespace declarations, about 1 KiB.
pub const MAX_MARKUP: usize = 64 * 1024;
/// Text is handed on in pieces of at most this many bytes, so a huge text node is never held
/// whole (ours).
pub const TEXT_PIECE: usize = 16 * 1024;
/// Bytes of one simple element's text kept for the model (ours). Longer values are reported
/// as too long and truncated; no MeMo string may be longer than [`MAX_COMMENT`] anyway.
pub const MAX_LEAF_TEXT: usize = 8 * 1024;
/// Deepest element nesting accepted (ours). MeMo itself nests about 8 deep.
pub const MAX_DEPTH: usize = 128;
/// Elements kept in one buffered part of the message: the header, or one document without its
/// file contents (ours). Real headers have well under 200.
pub const MAX_UNIT_ELEMENTS: usize = 20_000;
/// Text bytes kept in one buffered part of the message (ours).
pub const MAX_UNIT_TEXT: usize = 2 * 1024 * 1024;
/// Decoded file bytes gathered before they are handed on as one event (ours).
pub const FILE_DATA_PIECE: usize = 64 * 1024;
/// Problems recorded for one message before the rest are summarised as one (ours).
pub const MAX_PROBLEMS: usize = 1000;

/// An upper bound on what the reader holds between calls, excluding the events it returns and
/// the bounded header or document parts above; tests assert the reader stays under it.
pub const READER_BUFFER_CAP: usize = MAX_MARKUP + TEXT_PIECE + MAX_LEAF_TEXT + FILE_DATA_PIECE + 64;
