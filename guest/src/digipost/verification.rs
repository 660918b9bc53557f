//! Response signatures: what a client checks before it trusts anything Digipost answered.
//!
//! ```text
//! <status code>\n
//! lower(request path, no query)\n
//! date: <Date>\n
//! x-content-sha256: <hash>\n       only when the response carries the header
//! ```
//! The signature is made with the key of the certificate the entrypoint publishes. The Java
//! client checks it; the .NET client does not. dpost does, and also holds the response's
//! `Date` to the same five-minute window the server holds requests to.

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

/// The canonical string of a response, as the server signs it.
pub fn canonical_response(resp: &Response<'_>) -> Result<String, VerifyError> {
    let date = find_header(resp.headers, header::DATE).ok_or(VerifyError::MissingDate)?;
    http_date::parse(date).map_err(|e| VerifyError::BadDate(e.to_string()))?;
    let path = split_target(resp.request_path).map_or(resp.request_path, |(path, _)| path);
    let mut s = format!("{}\n{}\ndate: {date}\n", resp.status, path.to_lowercase());
    if let Some(hash) = find_header(resp.headers, header::CONTENT_SHA256) {
        s.push_str("x-content-sha256: ");
        s.push_str(hash);
        s.push('\n');
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
