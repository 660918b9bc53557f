//! The pieces of an HTTP message that Digipost's signatures cover.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

/// Header names as Digipost spells them on the wire.
pub mod header {
    /// When the message was made, RFC 1123; signed, and checked against the clock.
    pub const DATE: &str = "Date";
    /// The broker id of the signing organisation.
    pub const USER_ID: &str = "X-Digipost-UserId";
    /// Base64 SHA-256 of the body.
    pub const CONTENT_SHA256: &str = "X-Content-SHA256";
    /// Base64 RSA signature over the canonical string.
    pub const SIGNATURE: &str = "X-Digipost-Signature";
}

/// One HTTP header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Header name, compared case-insensitively.
    pub name: String,
    /// Header value as on the wire.
    pub value: String,
}

impl Header {
    /// A header from a name and a value.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Header {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// The value of the first header called `name` (case-insensitive).
pub fn find_header<'h>(headers: &'h [Header], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

/// A body, or what a signature needs of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body<'a> {
    /// The bytes themselves; hashed here.
    Bytes(&'a [u8]),
    /// The base64 SHA-256 of the bytes, computed by the caller.
    Sha256Base64(&'a str),
}

impl Body<'_> {
    /// The base64 SHA-256 of the body, as `X-Content-SHA256` carries it.
    pub fn sha256_base64(&self) -> String {
        match self {
            Body::Bytes(bytes) => content_sha256(bytes),
            Body::Sha256Base64(hash) => (*hash).to_owned(),
        }
    }

    /// True when the body is known to be empty.
    pub fn is_empty_bytes(&self) -> bool {
        matches!(self, Body::Bytes(b) if b.is_empty())
    }
}

/// Base64 (standard alphabet, padded) of the SHA-256 of `bytes`.
pub fn content_sha256(bytes: &[u8]) -> String {
    STANDARD.encode(Sha256::digest(bytes))
}

/// The path of a request target without query or fragment, and the raw query (without `?`).
/// Accepts an origin-form target (`/a/b?x=1`) or an absolute URL, whose scheme and authority
/// are dropped (an empty path is `/`). `None` when the path does not start with `/`.
pub fn split_target(target: &str) -> Option<(&str, &str)> {
    let scheme_end = target.find("://").filter(|&i| {
        i > 0
            && target[..i]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    });
    let (rest, has_authority) = match scheme_end {
        Some(i) => {
            let after = &target[i + 3..];
            (
                &after[after.find(['/', '?', '#']).unwrap_or(after.len())..],
                true,
            )
        }
        None => (target, false),
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    match path {
        "" if has_authority => Some(("/", query)),
        p if p.starts_with('/') => Some((p, query)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_content_hash() {
        // From the Digipost .NET client's tests (tests/fixtures/digipost/README.md).
        assert_eq!(
            content_sha256(b"This is the content to hash."),
            "gvXOB75lBGBY6LVTAVVpapZkBOv531VUE0EHrP2rryE="
        );
    }

    #[test]
    fn targets() {
        assert_eq!(
            split_target("/9999/inbox?offset=0&limit=100"),
            Some(("/9999/inbox", "offset=0&limit=100"))
        );
        assert_eq!(split_target("/9999/inbox"), Some(("/9999/inbox", "")));
        assert_eq!(
            split_target("https://api.digipost.no/9999/inbox?a=1#frag"),
            Some(("/9999/inbox", "a=1"))
        );
        assert_eq!(split_target("https://api.digipost.no"), Some(("/", "")));
        assert_eq!(
            split_target("https://api.digipost.no?x=Y"),
            Some(("/", "x=Y"))
        );
        assert_eq!(split_target("/p?"), Some(("/p", "")));
        assert_eq!(split_target("https://h#x"), Some(("/", "")));
        assert_eq!(split_target("inbox"), None);
        assert_eq!(split_target(""), None);
    }
}
