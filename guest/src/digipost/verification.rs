//! Response signatures: what a client checks before it trusts anything Digipost answered.
//!
//! ```text
//! <status code>\n
//! lower(request path, no query)\n
//! content-md5: <value>\n          each of these four headers that the response carries,
//! date: <Date>\n                  sorted by name, name in lower case
//! x-content-sha256: <hash>\n
//! x-digipost-userid: <id>\n
//! ```
//! This is the Java client's `ResponseMessageSignatureUtil.getCanonicalResponseRepresentation`
//! (digipost-api-client-java 646ebf8): status, lower-cased path, then every header of the
//! response whose lower-case name is one of `content-md5`, `date`, `x-digipost-userid`,
//! `x-content-sha256`, in the order of a `SortedMap` of the names. A server that adds
//! `X-Digipost-UserId` to a response signs it; leaving it out of the string would refuse every
//! such answer. `Date` is still required here: the Java client's `ResponseDateInterceptor`
//! refuses a response without it, and the five-minute window needs it. The signature is made
//! with the key of the certificate the entrypoint publishes. The Java client checks it; the
//! .NET client does not. An empty body needs no `X-Content-SHA256` (digipost-docs f5b24ff,
//! `security.rst`: "If there is no response body, this is not included"). See
//! docs/digipost-wire.md.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier as _;
use sha2::Sha256;

use super::certificate::{CertificateError, rsa_public_key};
use super::message::{Body, Header, content_sha256, find_header, header, split_target};
use crate::http_date;

/// How far a response's `Date` may be from the local clock, in seconds.
pub const MAX_CLOCK_SKEW_SECONDS: u32 = 300;

/// A response received from Digipost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response<'a> {
    /// HTTP status code.
    pub status: u16,
    /// Path of the request answered (a query, if given, is ignored).
    pub request_path: &'a str,
    /// Every header of the response.
    pub headers: &'a [Header],
    /// The body, if the response has one.
    pub body: Option<Body<'a>>,
}

/// Why a response was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The server certificate is unusable.
    #[error("the server certificate cannot verify signatures: {0}")]
    BadCertificate(String),
    /// No `Date` header.
    #[error("the response has no Date header")]
    MissingDate,
    /// `Date` is not RFC 1123.
    #[error("the response's Date {0}")]
    BadDate(String),
    /// `Date` too far from the local clock; seconds, positive when in the future.
    #[error(
        "the response's Date is {} seconds {} the local clock (at most {MAX_CLOCK_SKEW_SECONDS} allowed); check this machine's time",
        .0.unsigned_abs(), if *.0 > 0 { "ahead of" } else { "behind" }
    )]
    DateSkew(i64),
    /// A body without `X-Content-SHA256`.
    #[error("the response has a body but no X-Content-SHA256 header")]
    MissingBodyHash,
    /// `X-Content-SHA256` disagrees with the body.
    #[error(
        "the body's SHA-256 is {actual} but X-Content-SHA256 says {declared}: the body was changed in transit"
    )]
    BodyHashMismatch {
        /// The header's value.
        declared: String,
        /// The body's hash.
        actual: String,
    },
    /// No `X-Digipost-Signature` header.
    #[error("the response has no X-Digipost-Signature header")]
    MissingSignature,
    /// The signature does not verify.
    #[error("the response signature is not valid ({reason}); signed string was {canonical:?}")]
    BadSignature {
        /// What went wrong.
        reason: String,
        /// The canonical string checked.
        canonical: String,
    },
}

impl From<CertificateError> for VerifyError {
    fn from(e: CertificateError) -> Self {
        VerifyError::BadCertificate(e.to_string())
    }
}

/// The response headers a Digipost signature covers, lower case, in the order they are signed
/// (sorted by name; Java client `ResponseMessageSignatureUtil.HEADERS_FOR_SIGNATURE`).
pub const SIGNED_RESPONSE_HEADERS: [&str; 4] = [
    "content-md5",
    "date",
    "x-content-sha256",
    "x-digipost-userid",
];

/// The canonical string of a response, as the server signs it.
pub fn canonical_response(resp: &Response<'_>) -> Result<String, VerifyError> {
    let date = find_header(resp.headers, header::DATE).ok_or(VerifyError::MissingDate)?;
    http_date::parse(date).map_err(|e| VerifyError::BadDate(e.to_string()))?;
    let path = split_target(resp.request_path).map_or(resp.request_path, |(path, _)| path);
    let mut s = format!("{}\n{}\n", resp.status, path.to_lowercase());
    for name in SIGNED_RESPONSE_HEADERS {
        if let Some(value) = find_header(resp.headers, name) {
            s.push_str(name);
            s.push_str(": ");
            s.push_str(value);
            s.push('\n');
        }
    }
    Ok(s)
}

/// Verify a response's signature, body hash and date. `server_certificate` is PEM or DER.
pub fn verify_response(
    resp: &Response<'_>,
    server_certificate: &[u8],
    now_unix_seconds: i64,
) -> Result<(), VerifyError> {
    let key = rsa_public_key(server_certificate)?;
    verify_response_with_key(resp, &VerifyingKey::<Sha256>::new(key), now_unix_seconds)
}

/// [`verify_response`] with a key already taken out of its certificate, for callers that
/// verify many responses from one server.
pub fn verify_response_with_key(
    resp: &Response<'_>,
    key: &VerifyingKey<Sha256>,
    now_unix_seconds: i64,
) -> Result<(), VerifyError> {
    let canonical = canonical_response(resp)?;
    let encoded =
        find_header(resp.headers, header::SIGNATURE).ok_or(VerifyError::MissingSignature)?;
    let bad = |reason: String| VerifyError::BadSignature {
        reason,
        canonical: canonical.clone(),
    };
    let raw = STANDARD
        .decode(encoded.trim())
        .map_err(|e| bad(format!("X-Digipost-Signature is not base64: {e}")))?;
    let signature = Signature::try_from(raw.as_slice())
        .map_err(|e| bad(format!("not an RSA signature: {e}")))?;
    key.verify(canonical.as_bytes(), &signature).map_err(|_| {
        bad("it was not made by the server certificate's key over this response".into())
    })?;

    // The signature covers the date and the declared hash, so both are now the server's word.
    let date = find_header(resp.headers, header::DATE).ok_or(VerifyError::MissingDate)?;
    let sent = http_date::parse(date).map_err(|e| VerifyError::BadDate(e.to_string()))?;
    let skew = sent.saturating_sub(now_unix_seconds);
    if skew.unsigned_abs() > u64::from(MAX_CLOCK_SKEW_SECONDS) {
        return Err(VerifyError::DateSkew(skew));
    }
    match (find_header(resp.headers, header::CONTENT_SHA256), resp.body) {
        (Some(declared), body) => {
            let actual = body.map_or_else(|| content_sha256(b""), |b| b.sha256_base64());
            if actual != declared {
                return Err(VerifyError::BodyHashMismatch {
                    declared: declared.to_owned(),
                    actual,
                });
            }
        }
        (None, Some(body)) if !body.is_empty_bytes() => return Err(VerifyError::MissingBodyHash),
        (None, _) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &str = "Wed, 29 Jun 2016 14:58:11 GMT";

    fn response<'a>(headers: &'a [Header], body: Option<Body<'a>>) -> Response<'a> {
        Response {
            status: 200,
            request_path: "/1000/Inbox?offset=0",
            headers,
            body,
        }
    }

    #[test]
    fn signs_every_one_of_the_four_headers_present_sorted_by_name() {
        // Arrival order and case are the server's; the canonical string sorts and lower-cases
        // the names as the Java client's SortedMap does.
        let headers = [
            Header::new("X-Digipost-UserId", "9999"),
            Header::new("X-Content-SHA256", "abc="),
            Header::new("Content-Type", "application/vnd.digipost-v8+xml"),
            Header::new("Date", DATE),
            Header::new("Content-MD5", "md5="),
        ];
        assert_eq!(
            canonical_response(&response(&headers, None)).unwrap(),
            format!(
                "200\n/1000/inbox\ncontent-md5: md5=\ndate: {DATE}\nx-content-sha256: abc=\nx-digipost-userid: 9999\n"
            )
        );
    }

    #[test]
    fn only_the_headers_the_response_carries() {
        let headers = [Header::new("date", DATE)];
        assert_eq!(
            canonical_response(&response(&headers, None)).unwrap(),
            format!("200\n/1000/inbox\ndate: {DATE}\n")
        );
        assert_eq!(
            canonical_response(&response(&[], None)),
            Err(VerifyError::MissingDate)
        );
    }
}
