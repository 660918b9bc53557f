//! Request signatures: the canonical string Digipost computes for every request, and the
//! headers a client sends so that the server computes the same one.
//!
//! ```text
//! UPPER(method)\n
//! lower(path)\n
//! date: <Date>\n
//! x-content-sha256: <base64 SHA-256 of body>\n    only when the request has a body
//! x-digipost-userid: <broker id>\n
//! lower(raw query, as sent)\n                      an empty line when there is none
//! ```
//! Signed with RSASSA-PKCS1-v1_5/SHA-256 and sent base64 in `X-Digipost-Signature`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::message::{Body, Header, header, split_target};
use crate::http_date;
use crate::keystore::{Keystore, KeystoreError, SignatureAlgorithm};

/// A request about to be sent to Digipost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// HTTP method in any case.
    pub method: &'a str,
    /// Path and query as on the wire, or a full URL.
    pub target: &'a str,
    /// The `Date` header value, RFC 1123.
    pub date: &'a str,
    /// The broker id, sent as `X-Digipost-UserId`.
    pub user_id: &'a str,
    /// The body, when the request has one (even empty).
    pub body: Option<Body<'a>>,
}

/// Why a request could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    /// The method is not an HTTP token.
    #[error("the HTTP method {0:?} is not a method name (letters such as GET or POST)")]
    BadMethod(String),
    /// The target is neither an absolute path nor a URL.
    #[error("the request target {0:?} is not a path starting with '/' or an http(s) URL")]
    BadTarget(String),
    /// The date is not RFC 1123.
    #[error("the Date {0}")]
    BadDate(String),
    /// The user id cannot go in a header.
    #[error("the user id {0:?} must be non-empty printable ASCII without spaces")]
    BadUserId(String),
    /// The keystore could not sign.
    #[error("the keystore could not sign: {0}")]
    Keystore(#[from] KeystoreError),
}

/// Characters RFC 7230 allows in a token such as a method name.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A value that can stand in a header line without breaking the canonical string's lines.
fn is_header_safe(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic())
}

/// The canonical string of a request: the bytes that are signed.
pub fn canonical_request(req: &Request<'_>) -> Result<String, SigningError> {
    if !is_token(req.method) {
        return Err(SigningError::BadMethod(req.method.to_owned()));
    }
    let (path, query) =
        split_target(req.target).ok_or_else(|| SigningError::BadTarget(req.target.to_owned()))?;
    if path
        .bytes()
        .chain(query.bytes())
        .any(|b| b.is_ascii_control() || b == b' ')
    {
        return Err(SigningError::BadTarget(req.target.to_owned()));
    }
    http_date::parse(req.date).map_err(|e| SigningError::BadDate(e.to_string()))?;
    if !is_header_safe(req.user_id) {
        return Err(SigningError::BadUserId(req.user_id.to_owned()));
    }
    let mut s = String::with_capacity(160 + path.len() + query.len());
    s.push_str(&req.method.to_ascii_uppercase());
    s.push('\n');
    s.push_str(&path.to_lowercase());
    s.push_str("\ndate: ");
    s.push_str(req.date);
    s.push('\n');
    if let Some(body) = &req.body {
        s.push_str("x-content-sha256: ");
        s.push_str(&body.sha256_base64());
        s.push('\n');
    }
    s.push_str("x-digipost-userid: ");
    s.push_str(req.user_id);
    s.push('\n');
    s.push_str(&query.to_lowercase());
    s.push('\n');
    Ok(s)
}

/// Sign a request with the keystore's key `key`. Returns the headers to send: `Date`,
/// `X-Digipost-UserId`, `X-Content-SHA256` (with a body) and `X-Digipost-Signature`.
pub fn sign_request(
    req: &Request<'_>,
    key: &str,
    keystore: &dyn Keystore,
) -> Result<Vec<Header>, SigningError> {
    let canonical = canonical_request(req)?;
    let signature = keystore.sign(
        key,
        SignatureAlgorithm::RsaPkcs1Sha256,
        canonical.as_bytes(),
    )?;
    let mut headers = vec![
        Header::new(header::DATE, req.date),
        Header::new(header::USER_ID, req.user_id),
    ];
    if let Some(body) = &req.body {
        headers.push(Header::new(header::CONTENT_SHA256, body.sha256_base64()));
    }
    headers.push(Header::new(header::SIGNATURE, STANDARD.encode(signature)));
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &str = "Mon, 07 Jul 2014 12:00:02 GMT";

    #[test]
    fn vector_from_the_dotnet_client() {
        let req = Request {
            method: "POST",
            target: "/someendpoint",
            date: DATE,
            user_id: "1337",
            body: Some(Body::Sha256Base64("TheHashOfContentForHeader")),
        };
        assert_eq!(
            canonical_request(&req).unwrap(),
            "POST\n/someendpoint\ndate: Mon, 07 Jul 2014 12:00:02 GMT\nx-content-sha256: TheHashOfContentForHeader\nx-digipost-userid: 1337\n\n"
        );
    }

    #[test]
    fn bodiless_get_has_no_hash_line_and_keeps_the_query() {
        let req = Request {
            method: "get",
            target: "/9999/inbox?offset=0&limit=100",
            date: DATE,
            user_id: "9999",
            body: None,
        };
        assert_eq!(
            canonical_request(&req).unwrap(),
            format!(
                "GET\n/9999/inbox\ndate: {DATE}\nx-digipost-userid: 9999\noffset=0&limit=100\n"
            )
        );
    }

    #[test]
    fn query_is_lowercased_but_not_reencoded_or_sorted() {
        let req = Request {
            method: "GET",
            target: "https://api.test.digipost.no/1000/Inbox?Z=%2FA%20B&a=Q%c3%a6",
            date: DATE,
            user_id: "1000",
            body: None,
        };
        let c = canonical_request(&req).unwrap();
        assert!(c.starts_with("GET\n/1000/inbox\n"), "{c}");
        assert!(c.ends_with("\nz=%2fa%20b&a=q%c3%a6\n"), "{c}");
    }

    #[test]
    fn empty_body_still_has_a_hash_line() {
        let req = Request {
            method: "POST",
            target: "/x",
            date: DATE,
            user_id: "1",
            body: Some(Body::Bytes(b"")),
        };
        assert!(
            canonical_request(&req)
                .unwrap()
                .contains("x-content-sha256: 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n")
        );
    }

    #[test]
    fn refuses_bad_input_with_the_field_named() {
        let good = Request {
            method: "GET",
            target: "/x",
            date: DATE,
            user_id: "1",
            body: None,
        };
        let cases = [
            (
                Request {
                    method: "G ET",
                    ..good
                },
                "method",
            ),
            (Request { method: "", ..good }, "method"),
            (
                Request {
                    target: "x",
                    ..good
                },
                "target",
            ),
            (
                Request {
                    target: "/a b",
                    ..good
                },
                "target",
            ),
            (
                Request {
                    target: "/a\nb",
                    ..good
                },
                "target",
            ),
            (
                Request {
                    date: "yesterday",
                    ..good
                },
                "Date",
            ),
            (
                Request {
                    user_id: "",
                    ..good
                },
                "user id",
            ),
            (
                Request {
                    user_id: "1\n2",
                    ..good
                },
                "user id",
            ),
        ];
        for (req, field) in cases {
            let e = canonical_request(&req).unwrap_err().to_string();
            assert!(e.contains(field), "{req:?}: {e}");
        }
    }

    struct Fixed;
    impl Keystore for Fixed {
        fn sign(
            &self,
            key: &str,
            _: SignatureAlgorithm,
            data: &[u8],
        ) -> Result<Vec<u8>, KeystoreError> {
            if key != "k" {
                return Err(KeystoreError::UnknownKey(key.into()));
            }
            Ok(data.iter().rev().copied().collect())
        }
    }

    #[test]
    fn sign_returns_headers_in_order_and_passes_the_canonical_bytes() {
        let req = Request {
            method: "POST",
            target: "/x",
            date: DATE,
            user_id: "7",
            body: Some(Body::Bytes(b"This is the content to hash.")),
        };
        let headers = sign_request(&req, "k", &Fixed).unwrap();
        let names: Vec<_> = headers.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Date",
                "X-Digipost-UserId",
                "X-Content-SHA256",
                "X-Digipost-Signature"
            ]
        );
        assert_eq!(
            headers[2].value,
            "gvXOB75lBGBY6LVTAVVpapZkBOv531VUE0EHrP2rryE="
        );
        let signed = STANDARD.decode(&headers[3].value).unwrap();
        let mut canonical = canonical_request(&req).unwrap().into_bytes();
        canonical.reverse();
        assert_eq!(signed, canonical);
        assert_eq!(
            sign_request(&req, "other", &Fixed),
            Err(SigningError::Keystore(KeystoreError::UnknownKey(
                "other".into()
            )))
        );
    }
}
