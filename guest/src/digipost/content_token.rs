//! One-time content links, the server side: the token in
//! `https://www.digipostdata.no/documents/<id>?token=<128 hex>&download=false`.
//!
//! ```text
//! token = lowercase hex( SHA-512( documentId + SECRET + random UUID ) )
//! ```
//! The token is stored with the document id and the time it was made; it opens that document
//! once, within 30 seconds. The host keeps the records and consumes one atomically (two racing
//! requests: one wins); this module only makes tokens and judges a presented one against a
//! record, so that every decision can be replayed from its inputs.

use sha2::{Digest, Sha512};

/// How long a token opens its document, in seconds after it was made.
pub const TOKEN_LIFETIME_SECONDS: u32 = 30;
/// How far a record's creation time may lie ahead of the judge's clock and still count:
/// a host whose requests are served by several machines sees small clock differences.
pub const MAX_FUTURE_SKEW_SECONDS: u32 = 2;
/// Length of a token: SHA-512 in hex.
pub const TOKEN_LENGTH: usize = 128;

/// Why a token could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The secret is empty, which would make tokens guessable from the id and UUID.
    #[error("the token secret is empty")]
    EmptySecret,
    /// The random part is not a UUID (`8-4-4-4-12` hex digits).
    #[error("{0:?} is not a UUID such as 3f2b8c1e-6a4d-4e8f-9b1a-2c3d4e5f6a7b")]
    BadUuid(String),
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Make the token for `document_id`, from the server's `secret` and a random `uuid` the host
/// drew (the component has no randomness of its own).
pub fn make_token(document_id: i64, secret: &str, uuid: &str) -> Result<String, TokenError> {
    if secret.is_empty() {
        return Err(TokenError::EmptySecret);
    }
    if !is_uuid(uuid) {
        return Err(TokenError::BadUuid(uuid.to_owned()));
    }
    let mut hash = Sha512::new();
    hash.update(document_id.to_string().as_bytes());
    hash.update(secret.as_bytes());
    hash.update(uuid.as_bytes());
    Ok(lower_hex(&hash.finalize()))
}

/// A token as the host stored it when it made the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// The document the token opens.
    pub document_id: i64,
    /// The token.
    pub token: String,
    /// When it was made, seconds since the Unix epoch.
    pub created_at: i64,
}

/// What a presented token is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It opens the document: serve it (after consuming the record).
    Ok,
    /// It matched, but outside its 30 seconds (or made implausibly far in the future).
    Expired,
    /// It matched, but was made for another document than the URI names.
    WrongDocument,
    /// It is not the stored token.
    Mismatch,
    /// It is not 128 lowercase hex digits, so cannot be any token.
    Malformed,
}

/// Whether `token` is shaped like a token: 128 lowercase hex digits.
pub fn is_well_formed(token: &str) -> bool {
    token.len() == TOKEN_LENGTH
        && token
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Compare two byte strings in time that depends only on their lengths, never on where they
/// first differ, so that a caller cannot find a stored token one byte at a time.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let len = a.len().max(b.len());
    // A length difference is folded in rather than returned early; the loop runs over the
    // longer input either way.
    let mut diff = a.len() ^ b.len();
    for i in 0..len {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

/// Judge `token`, presented in a URI that names `document_id`, against the stored `record`
/// at time `now_unix_seconds`.
///
/// The checks run in an order that tells a caller nothing it did not already know: only a
/// caller holding the right token learns whether it is for another document or out of time.
pub fn judge(
    document_id: i64,
    token: &str,
    record: &TokenRecord,
    now_unix_seconds: i64,
) -> Verdict {
    if !is_well_formed(token) {
        return Verdict::Malformed;
    }
    if !constant_time_eq(token.as_bytes(), record.token.as_bytes()) {
        return Verdict::Mismatch;
    }
    if document_id != record.document_id {
        return Verdict::WrongDocument;
    }
    let age = now_unix_seconds.saturating_sub(record.created_at);
    if age > i64::from(TOKEN_LIFETIME_SECONDS) || age < -i64::from(MAX_FUTURE_SKEW_SECONDS) {
        return Verdict::Expired;
    }
    Verdict::Ok
}

/// What a one-time link says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentLink {
    /// The document it opens.
    pub document_id: i64,
    /// The token, as given (judge it with [`judge`]).
    pub token: String,
    /// Whether the content is to be served as a download (`Content-Disposition: attachment`)
    /// rather than shown inline.
    pub download: bool,
}

/// Why a one-time link could not be read or made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The path is not `/documents/<id>` with a non-negative 64-bit id.
    #[error("{0:?} is not a link of the form /documents/<id>?token=...")]
    NotADocumentLink(String),
    /// No `token` parameter, or more than one.
    #[error("the link must carry exactly one token parameter")]
    TokenParameter,
    /// `download` is neither `true` nor `false`, or given twice.
    #[error("the download parameter {0:?} must be true or false, given once")]
    DownloadParameter(String),
    /// The base URL to build on is not `http(s)://host[:port]`.
    #[error("the base {0:?} is not an http(s) URL such as https://www.digipostdata.no")]
    BadBase(String),
    /// A link cannot be built for a negative document id.
    #[error("the document id {0} is negative")]
    NegativeDocumentId(i64),
    /// A link cannot be built with a malformed token.
    #[error("the token is not 128 lowercase hex digits")]
    MalformedToken,
}

/// Read a one-time link, given as a full URL (`https://host/documents/<id>?token=...`) or as
/// the request target a server receives (`/documents/<id>?token=...`). `download` is false
/// when absent; other parameters are ignored.
pub fn parse_link(uri: &str) -> Result<ContentLink, LinkError> {
    let not_a_link = || LinkError::NotADocumentLink(uri.to_owned());
    let (path, query) = super::message::split_target(uri).ok_or_else(not_a_link)?;
    let id = path.strip_prefix("/documents/").ok_or_else(not_a_link)?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(not_a_link());
    }
    let document_id = id.parse::<i64>().map_err(|_| not_a_link())?;
    let mut token = None;
    let mut download = None;
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "token" if token.is_none() => token = Some(value.to_owned()),
            "token" => return Err(LinkError::TokenParameter),
            "download" if download.is_none() => {
                download = Some(match value {
                    "true" => true,
                    "false" => false,
                    other => return Err(LinkError::DownloadParameter(other.to_owned())),
                });
            }
            "download" => return Err(LinkError::DownloadParameter(value.to_owned())),
            _ => {}
        }
    }
    Ok(ContentLink {
        document_id,
        token: token.ok_or(LinkError::TokenParameter)?,
        download: download.unwrap_or(false),
    })
}

/// Build the one-time link for `link` on `base` (e.g. `https://www.digipostdata.no`; a
/// trailing `/` is dropped).
pub fn build_link(base: &str, link: &ContentLink) -> Result<String, LinkError> {
    let bad_base = || LinkError::BadBase(base.to_owned());
    let base = base.strip_suffix('/').unwrap_or(base);
    let (scheme, authority) = base.split_once("://").ok_or_else(bad_base)?;
    if !matches!(scheme, "http" | "https")
        || authority.is_empty()
        || authority
            .bytes()
            .any(|b| matches!(b, b'/' | b'?' | b'#' | b'@') || b.is_ascii_control() || b == b' ')
    {
        return Err(bad_base());
    }
    if link.document_id < 0 {
        return Err(LinkError::NegativeDocumentId(link.document_id));
    }
    if !is_well_formed(&link.token) {
        return Err(LinkError::MalformedToken);
    }
    Ok(format!(
        "{base}/documents/{}?token={}&download={}",
        link.document_id, link.token, link.download
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const UUID: &str = "3f2b8c1e-6a4d-4e8f-9b1a-2c3d4e5f6a7b";
    const T0: i64 = 1_700_000_000;

    fn record() -> TokenRecord {
        TokenRecord {
            document_id: 109_695_014,
            token: make_token(109_695_014, "s3cret", UUID).unwrap(),
            created_at: T0,
        }
    }

    #[test]
    fn token_is_sha512_hex_of_the_concatenation() {
        let token = make_token(34303129, "SECRET", UUID).unwrap();
        assert_eq!(token.len(), 128);
        assert!(is_well_formed(&token));
        let expected = lower_hex(&Sha512::digest(format!("34303129SECRET{UUID}").as_bytes()));
        assert_eq!(token, expected);
        // SHA-512("abc"), FIPS 180-2 appendix C, through the hex encoding.
        assert!(lower_hex(&Sha512::digest(b"abc")).starts_with("ddaf35a193617aba"));
        assert_ne!(
            token,
            make_token(34303129, "SECRET", "3f2b8c1e-6a4d-4e8f-9b1a-2c3d4e5f6a7c").unwrap()
        );
        assert_eq!(make_token(1, "", UUID), Err(TokenError::EmptySecret));
        assert_eq!(
            make_token(1, "s", "not-a-uuid"),
            Err(TokenError::BadUuid("not-a-uuid".into()))
        );
    }

    #[test]
    fn valid_for_thirty_seconds() {
        let r = record();
        assert_eq!(judge(r.document_id, &r.token, &r, T0), Verdict::Ok);
        assert_eq!(judge(r.document_id, &r.token, &r, T0 + 30), Verdict::Ok);
        assert_eq!(
            judge(r.document_id, &r.token, &r, T0 + 31),
            Verdict::Expired
        );
        assert_eq!(judge(r.document_id, &r.token, &r, T0 - 2), Verdict::Ok);
        assert_eq!(judge(r.document_id, &r.token, &r, T0 - 3), Verdict::Expired);
        assert_eq!(
            judge(r.document_id, &r.token, &r, i64::MAX),
            Verdict::Expired
        );
        assert_eq!(
            judge(r.document_id, &r.token, &r, i64::MIN),
            Verdict::Expired
        );
    }

    #[test]
    fn wrong_document_tampered_and_malformed() {
        let r = record();
        assert_eq!(
            judge(r.document_id + 1, &r.token, &r, T0),
            Verdict::WrongDocument
        );
        let mut tampered = r.token.clone().into_bytes();
        tampered[127] = if tampered[127] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(judge(r.document_id, &tampered, &r, T0), Verdict::Mismatch);
        // A mismatching token learns nothing about the record's document or age.
        assert_eq!(
            judge(r.document_id + 1, &tampered, &r, T0 + 1000),
            Verdict::Mismatch
        );
        for bad in [
            "",
            "abc",
            &r.token.to_uppercase(),
            &format!("{}0", r.token),
            &r.token.replacen('a', "g", 1),
        ] {
            assert_eq!(
                judge(r.document_id, bad, &r, T0),
                Verdict::Malformed,
                "{bad}"
            );
        }
    }

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"abc\0", b"abc"));
        assert!(!constant_time_eq(b"", b"\0"));
    }

    #[test]
    fn links_parse_and_build() {
        let seed = "https://www.digipostdata.no/documents/109695014?token=f677fd84c3f3df8fa147cd2cf28bc4a76f521a67b61a28172a0b81e2363d4fe5642e5c0512cb5f75004217427d34cc8599707e61b4eedca3482572d1d2b29b69&download=false";
        let link = parse_link(seed).unwrap();
        assert_eq!(link.document_id, 109695014);
        assert!(is_well_formed(&link.token));
        assert!(!link.download);
        assert_eq!(
            build_link("https://www.digipostdata.no/", &link).unwrap(),
            seed
        );
        let target = parse_link("/documents/5?download=true&x=1&token=abc").unwrap();
        assert_eq!(
            target,
            ContentLink {
                document_id: 5,
                token: "abc".into(),
                download: true
            }
        );
        assert!(!parse_link("/documents/5?token=").unwrap().download);
        for bad in [
            "/documents/?token=a",
            "/documents/-1?token=a",
            "/documents/1/x?token=a",
            "/docs/1?token=a",
            "documents/1",
            "/documents/99999999999999999999?token=a",
        ] {
            assert_eq!(
                parse_link(bad),
                Err(LinkError::NotADocumentLink(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(parse_link("/documents/1"), Err(LinkError::TokenParameter));
        assert_eq!(
            parse_link("/documents/1?token=a&token=b"),
            Err(LinkError::TokenParameter)
        );
        assert_eq!(
            parse_link("/documents/1?token=a&download=yes"),
            Err(LinkError::DownloadParameter("yes".into()))
        );
        assert_eq!(
            build_link("ftp://h", &link),
            Err(LinkError::BadBase("ftp://h".into()))
        );
        assert_eq!(
            build_link("https://h/x", &link),
            Err(LinkError::BadBase("https://h/x".into()))
        );
        let negative = ContentLink {
            document_id: -1,
            ..link.clone()
        };
        assert_eq!(
            build_link("https://h", &negative),
            Err(LinkError::NegativeDocumentId(-1))
        );
        let short = ContentLink {
            token: "ab".into(),
            ..link
        };
        assert_eq!(
            build_link("https://h", &short),
            Err(LinkError::MalformedToken)
        );
    }

    proptest! {
        #[test]
        fn link_round_trip(id in 0i64.., secret in "[ -~]{1,20}", uuid in "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", download in any::<bool>()) {
            let link = ContentLink { document_id: id, token: make_token(id, &secret, &uuid).unwrap(), download };
            let uri = build_link("http://127.0.0.1:8080", &link).unwrap();
            prop_assert_eq!(parse_link(&uri).unwrap(), link);
        }

        #[test]
        fn never_panics(uri in "\\PC{0,60}", token in "\\PC{0,130}", now in any::<i64>(), created in any::<i64>(), id in any::<i64>()) {
            let _ = parse_link(&uri);
            let r = TokenRecord { document_id: id, token: token.clone(), created_at: created };
            let _ = judge(id, &token, &r, now);
            let _ = build_link(&uri, &ContentLink { document_id: id, token, download: false });
        }
    }
}
