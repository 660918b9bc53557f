//! The WebAssembly face of the library: the one place the WIT bindings are generated, and
//! thin conversions between the WIT types and the library's own. No protocol logic lives
//! here; it is all in the modules the native tests cover.

wit_bindgen::generate!({
    path: "../wit",
    world: "protocol",
});

use exports::dpost::protocol::digipost_signing as wit;
use dpost::protocol::keystore as wit_keystore;

use crate::digipost::{Body, Header, signature_echo, signing, verification};
use crate::http_date;
use crate::keystore::{Keystore, KeystoreError, SignatureAlgorithm};

struct Component;

export!(Component);

/// The keystore the host provides, seen through the library's trait.
struct HostKeystore;

impl Keystore for HostKeystore {
    fn sign(
        &self,
        key: &str,
        algorithm: SignatureAlgorithm,
        data: &[u8],
    ) -> Result<Vec<u8>, KeystoreError> {
        let algorithm = match algorithm {
            SignatureAlgorithm::RsaPkcs1Sha256 => wit_keystore::SignatureAlgorithm::RsaPkcs1Sha256,
        };
        wit_keystore::sign(key, algorithm, data).map_err(|e| match e {
            wit_keystore::KeystoreError::UnknownKey(k) => KeystoreError::UnknownKey(k),
            wit_keystore::KeystoreError::UnsupportedAlgorithm(_) => {
                KeystoreError::UnsupportedAlgorithm(SignatureAlgorithm::RsaPkcs1Sha256)
            }
            wit_keystore::KeystoreError::Failed(m) => KeystoreError::Failed(m),
        })
    }
}

fn body(b: &wit::Body) -> Body<'_> {
    match b {
        wit::Body::Bytes(bytes) => Body::Bytes(bytes),
        wit::Body::Sha256Base64(hash) => Body::Sha256Base64(hash),
    }
}

fn request(r: &wit::Request) -> signing::Request<'_> {
    signing::Request {
        method: &r.method,
        target: &r.target,
        date: &r.date,
        user_id: &r.user_id,
        body: r.body.as_ref().map(body),
    }
}

fn headers_in(headers: Vec<wit::Header>) -> Vec<Header> {
    headers.into_iter().map(|h| Header { name: h.name, value: h.value }).collect()
}

fn headers_out(headers: Vec<Header>) -> Vec<wit::Header> {
    headers.into_iter().map(|h| wit::Header { name: h.name, value: h.value }).collect()
}

fn signing_error(e: signing::SigningError) -> wit::SigningError {
    use signing::SigningError as E;
    match e {
        E::BadMethod(m) => wit::SigningError::BadMethod(m),
        E::BadTarget(t) => wit::SigningError::BadTarget(t),
        E::BadDate(d) => wit::SigningError::BadDate(d),
        E::BadUserId(u) => wit::SigningError::BadUserId(u),
        E::Keystore(k) => wit::SigningError::Keystore(match k {
            KeystoreError::UnknownKey(k) => wit_keystore::KeystoreError::UnknownKey(k),
            KeystoreError::UnsupportedAlgorithm(_) => wit_keystore::KeystoreError::UnsupportedAlgorithm(
                wit_keystore::SignatureAlgorithm::RsaPkcs1Sha256,
            ),
            KeystoreError::Failed(m) => wit_keystore::KeystoreError::Failed(m),
        }),
    }
}

fn verify_error(e: verification::VerifyError) -> wit::VerifyError {
    use verification::VerifyError as E;
    match e {
        E::BadCertificate(m) => wit::VerifyError::BadCertificate(m),
        E::MissingDate => wit::VerifyError::MissingDate,
        E::BadDate(m) => wit::VerifyError::BadDate(m),
        E::DateSkew(s) => wit::VerifyError::DateSkew(s),
        E::MissingBodyHash => wit::VerifyError::MissingBodyHash,
        E::BodyHashMismatch { declared, actual } => {
            wit::VerifyError::BodyHashMismatch(wit::BodyHashMismatch { declared, actual })
        }
        E::MissingSignature => wit::VerifyError::MissingSignature,
        E::BadSignature { reason, canonical } => {
            wit::VerifyError::BadSignature(wit::BadSignature { reason, canonical })
        }
    }
}

impl wit::Guest for Component {
    fn max_clock_skew_seconds() -> u32 {
        verification::MAX_CLOCK_SKEW_SECONDS
    }

    fn canonical_request(req: wit::Request) -> Result<String, wit::SigningError> {
        signing::canonical_request(&request(&req)).map_err(signing_error)
    }

    fn sign_request(req: wit::Request, key: String) -> Result<Vec<wit::Header>, wit::SigningError> {
        signing::sign_request(&request(&req), &key, &HostKeystore)
            .map(headers_out)
            .map_err(signing_error)
    }

    fn canonical_response(resp: wit::Response) -> Result<String, wit::VerifyError> {
        let headers = headers_in(resp.headers);
        let r = verification::Response {
            status: resp.status,
            request_path: &resp.request_path,
            headers: &headers,
            body: resp.body.as_ref().map(body),
        };
        verification::canonical_response(&r).map_err(verify_error)
    }

    fn verify_response(
        resp: wit::Response,
        server_certificate: Vec<u8>,
        now_unix_seconds: i64,
    ) -> Result<(), wit::VerifyError> {
        let headers = headers_in(resp.headers);
        let r = verification::Response {
            status: resp.status,
            request_path: &resp.request_path,
            headers: &headers,
            body: resp.body.as_ref().map(body),
        };
        verification::verify_response(&r, &server_certificate, now_unix_seconds)
            .map_err(verify_error)
    }

    fn format_date(unix_seconds: i64) -> String {
        http_date::format(unix_seconds)
    }

    fn server_canonical_from_error(error_body: String) -> Option<String> {
        signature_echo::server_canonical_from_error(&error_body)
    }
}
