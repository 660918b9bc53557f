//! The server's side of request signatures: what Digipost checks before it answers, in its
//! order. dpost's Digipost simulator asks this, so a client is judged by the same rules the
//! client signs by (`signing`), and the simulator's 403 echo is the canonical string this
//! module computed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier as _;
use sha2::Sha256;

use super::certificate::rsa_public_key;
use super::message::{Body, Header, content_sha256, find_header, header};
use super::signing::{Request, canonical_request};
use super::verification::MAX_CLOCK_SKEW_SECONDS;
use crate::http_date;

/// A request as the server received it.
#[derive(Debug, Clone, Copy)]
pub struct IncomingRequest<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path and query as received.
    pub target: &'a str,
    /// Every header.
    pub headers: &'a [Header],
    /// The body, when the request has one.
    pub body: Option<Body<'a>>,
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// A header the signature needs is missing; its name.
    #[error("the request has no {0} header")]
    MissingHeader(&'static str),
    /// `Date` is not RFC 1123.
    #[error("the Date {0}")]
    BadDate(String),
    /// `Date` too far from the server's clock (seconds, positive when in the future).
    #[error("the Date header is {} seconds from the server's clock (at most {MAX_CLOCK_SKEW_SECONDS} allowed)", .0.unsigned_abs())]
    DateSkew(i64),
    /// `X-Content-SHA256` does not match the body, or is missing for a body.
    #[error("X-Content-SHA256 {declared:?} does not match the body's {actual}")]
    BodyHashMismatch {
        /// The header's value (empty when absent).
        declared: String,
        /// The body's hash.
        actual: String,
    },
    /// The request's method, target or user id cannot be put in a canonical string.
    #[error("{0}")]
    Malformed(String),
    /// The client certificate is unusable.
    #[error("the client certificate cannot verify signatures: {0}")]
    BadCertificate(String),
    /// The signature does not verify; `canonical` is the server's string, for the echo.
    #[error("the signature does not verify ({reason})")]
    BadSignature {
        /// Why.
        reason: String,
        /// The canonical string the server computed.
        canonical: String,
    },
}

/// Check a signed request against the client's certificate at `now_unix_seconds`.
pub fn verify_request(
    req: &IncomingRequest<'_>,
    client_certificate: &[u8],
    now_unix_seconds: i64,
) -> Result<(), RequestError> {
    let signature = find_header(req.headers, header::SIGNATURE)
        .ok_or(RequestError::MissingHeader(header::SIGNATURE))?;
    let date =
        find_header(req.headers, header::DATE).ok_or(RequestError::MissingHeader(header::DATE))?;
    let user_id = find_header(req.headers, header::USER_ID)
        .ok_or(RequestError::MissingHeader(header::USER_ID))?;
    let sent = http_date::parse(date).map_err(|e| RequestError::BadDate(e.to_string()))?;
    let skew = sent.saturating_sub(now_unix_seconds);
    if skew.unsigned_abs() > u64::from(MAX_CLOCK_SKEW_SECONDS) {
        return Err(RequestError::DateSkew(skew));
    }
    let declared = find_header(req.headers, header::CONTENT_SHA256);
    let has_body = req.body.is_some_and(|b| !b.is_empty_bytes());
    if declared.is_some() || has_body {
        let actual = req
            .body
            .map_or_else(|| content_sha256(b""), |b| b.sha256_base64());
        if declared != Some(actual.as_str()) {
            return Err(RequestError::BodyHashMismatch {
                declared: declared.unwrap_or_default().to_owned(),
                actual,
            });
        }
    }
    let canonical = canonical_request(&Request {
        method: req.method,
        target: req.target,
        date,
        user_id,
        body: declared.map(Body::Sha256Base64),
    })
    .map_err(|e| RequestError::Malformed(e.to_string()))?;
    let key = rsa_public_key(client_certificate)
        .map_err(|e| RequestError::BadCertificate(e.to_string()))?;
    let bad = |reason: &str| RequestError::BadSignature {
        reason: reason.to_owned(),
        canonical: canonical.clone(),
    };
    let raw = STANDARD
        .decode(signature.trim())
        .map_err(|_| bad("X-Digipost-Signature is not base64"))?;
    let signature = Signature::try_from(raw.as_slice()).map_err(|_| bad("not an RSA signature"))?;
    VerifyingKey::<Sha256>::new(key)
        .verify(canonical.as_bytes(), &signature)
        .map_err(|_| bad("not made by the certificate's key over this request"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &str = "Wed, 29 Jun 2016 14:58:11 GMT";
    const NOW: i64 = 1_467_212_291;

    fn headers(extra: &[(&str, &str)]) -> Vec<Header> {
        extra.iter().map(|(n, v)| Header::new(*n, *v)).collect()
    }

    #[test]
    fn refusals_in_order() {
        fn req<'a>(h: &'a [Header], body: Option<Body<'a>>) -> IncomingRequest<'a> {
            IncomingRequest {
                method: "GET",
                target: "/x",
                headers: h,
                body,
            }
        }
        let h = headers(&[]);
        assert_eq!(
            verify_request(&req(&h, None), b"", NOW),
            Err(RequestError::MissingHeader("X-Digipost-Signature"))
        );
        let h = headers(&[("X-Digipost-Signature", "x")]);
        assert_eq!(
            verify_request(&req(&h, None), b"", NOW),
            Err(RequestError::MissingHeader("Date"))
        );
        let h = headers(&[("X-Digipost-Signature", "x"), ("Date", DATE)]);
        assert_eq!(
            verify_request(&req(&h, None), b"", NOW),
            Err(RequestError::MissingHeader("X-Digipost-UserId"))
        );
        let h = headers(&[
            ("X-Digipost-Signature", "x"),
            ("Date", DATE),
            ("X-Digipost-UserId", "1"),
        ]);
        assert_eq!(
            verify_request(&req(&h, None), b"", NOW + 301),
            Err(RequestError::DateSkew(-301))
        );
        assert!(matches!(
            verify_request(&req(&h, Some(Body::Bytes(b"body"))), b"", NOW),
            Err(RequestError::BodyHashMismatch { .. })
        ));
        assert!(matches!(
            verify_request(&req(&h, None), b"not a cert", NOW),
            Err(RequestError::BadCertificate(_))
        ));
    }
}
