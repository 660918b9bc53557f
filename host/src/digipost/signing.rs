//! Signing requests and verifying responses through the component.

use crate::bindings::digipost_signing_wit as wit;
use crate::runtime::{GuestError, Instance};
use dpost_guest::digipost::{signing as lib_signing, verification as lib_verification};
use dpost_guest::keystore::{KeystoreError, SignatureAlgorithm};

pub use wit::{Body, Header, IncomingRequest, Request, RequestError, Response};

/// Why a Digipost signing call failed.
#[derive(Debug, thiserror::Error)]
pub enum DigipostError {
    /// The request could not be signed (the caller's input, or the keystore).
    #[error(transparent)]
    Signing(#[from] lib_signing::SigningError),
    /// The response was refused.
    #[error(transparent)]
    Verify(#[from] lib_verification::VerifyError),
    /// The component itself failed.
    #[error(transparent)]
    Guest(#[from] GuestError),
}

/// A signed request: the canonical string that was signed and the headers to send.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    /// The canonical string, for `--explain` and 403 comparisons.
    pub canonical: String,
    /// `Date`, `X-Digipost-UserId`, `X-Content-SHA256` (with a body), `X-Digipost-Signature`.
    pub headers: Vec<Header>,
}

/// The canonical string of `req`.
pub fn canonical_request(instance: &mut Instance, req: &Request) -> Result<String, DigipostError> {
    instance
        .call(|b, s| {
            b.dpost_protocol_digipost_signing()
                .call_canonical_request(s, req)
        })?
        .map_err(|e| signing_error(e).into())
}

/// Sign `req` with the keystore key `key`.
pub fn sign_request(
    instance: &mut Instance,
    req: &Request,
    key: &str,
) -> Result<SignedRequest, DigipostError> {
    let canonical = canonical_request(instance, req)?;
    let headers = instance
        .call(|b, s| {
            b.dpost_protocol_digipost_signing()
                .call_sign_request(s, req, &key.to_owned())
        })?
        .map_err(signing_error)?;
    Ok(SignedRequest { canonical, headers })
}

/// The canonical string of `resp`.
pub fn canonical_response(
    instance: &mut Instance,
    resp: &Response,
) -> Result<String, DigipostError> {
    instance
        .call(|b, s| {
            b.dpost_protocol_digipost_signing()
                .call_canonical_response(s, resp)
        })?
        .map_err(|e| verify_error(e).into())
}

/// Verify `resp` against the server certificate at `now_unix_seconds`.
pub fn verify_response(
    instance: &mut Instance,
    resp: &Response,
    server_certificate: &[u8],
    now_unix_seconds: i64,
) -> Result<(), DigipostError> {
    instance
        .call(|b, s| {
            b.dpost_protocol_digipost_signing().call_verify_response(
                s,
                resp,
                server_certificate,
                now_unix_seconds,
            )
        })?
        .map_err(|e| verify_error(e).into())
}

/// The server's check of a signed request (the simulator's): `Ok(Ok(()))` when it verifies,
/// `Ok(Err(reason))` when it is refused.
pub fn verify_request(
    instance: &mut Instance,
    req: &wit::IncomingRequest,
    client_certificate: &[u8],
    now_unix_seconds: i64,
) -> Result<Result<(), wit::RequestError>, GuestError> {
    instance.call(|b, s| {
        b.dpost_protocol_digipost_signing().call_verify_request(
            s,
            req,
            client_certificate,
            now_unix_seconds,
        )
    })
}

/// An RFC 1123 `Date` value for a Unix time.
pub fn format_date(instance: &mut Instance, unix_seconds: i64) -> Result<String, DigipostError> {
    Ok(instance.call(|b, s| {
        b.dpost_protocol_digipost_signing()
            .call_format_date(s, unix_seconds)
    })?)
}

/// The server's canonical string echoed in a 403 error body.
pub fn server_canonical_from_error(
    instance: &mut Instance,
    body: &str,
) -> Result<Option<String>, DigipostError> {
    Ok(instance.call(|b, s| {
        b.dpost_protocol_digipost_signing()
            .call_server_canonical_from_error(s, body)
    })?)
}

// The WIT errors carry the same cases as the library's; converting lets one set of messages
// (the library's `Display`) serve both the native code and the component.

fn keystore_error(e: crate::bindings::keystore_wit::KeystoreError) -> KeystoreError {
    use crate::bindings::keystore_wit::KeystoreError as W;
    match e {
        W::UnknownKey(k) => KeystoreError::UnknownKey(k),
        W::UnsupportedAlgorithm(_) => {
            KeystoreError::UnsupportedAlgorithm(SignatureAlgorithm::RsaPkcs1Sha256)
        }
        W::Failed(m) => KeystoreError::Failed(m),
    }
}

fn signing_error(e: wit::SigningError) -> lib_signing::SigningError {
    use lib_signing::SigningError as L;
    match e {
        wit::SigningError::BadMethod(m) => L::BadMethod(m),
        wit::SigningError::BadTarget(t) => L::BadTarget(t),
        wit::SigningError::BadDate(d) => L::BadDate(d),
        wit::SigningError::BadUserId(u) => L::BadUserId(u),
        wit::SigningError::Keystore(k) => L::Keystore(keystore_error(k)),
    }
}

fn verify_error(e: wit::VerifyError) -> lib_verification::VerifyError {
    use lib_verification::VerifyError as L;
    match e {
        wit::VerifyError::BadCertificate(m) => L::BadCertificate(m),
        wit::VerifyError::MissingDate => L::MissingDate,
        wit::VerifyError::BadDate(m) => L::BadDate(m),
        wit::VerifyError::DateSkew(s) => L::DateSkew(s),
        wit::VerifyError::MissingBodyHash => L::MissingBodyHash,
        wit::VerifyError::BodyHashMismatch(m) => L::BodyHashMismatch {
            declared: m.declared,
            actual: m.actual,
        },
        wit::VerifyError::MissingSignature => L::MissingSignature,
        wit::VerifyError::BadSignature(b) => L::BadSignature {
            reason: b.reason,
            canonical: b.canonical,
        },
    }
}
