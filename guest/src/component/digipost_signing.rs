//! `dpost:protocol/digipost-signing`: conversions around [`crate::digipost`].

use super::Component;
use super::exports::dpost::protocol::digipost_signing as wit;
use super::keystore::{HostKeystore, error_out};
use crate::digipost::{Body, Header, signature_echo, signing, verification};
use crate::http_date;

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
    headers
        .into_iter()
        .map(|h| Header {
            name: h.name,
            value: h.value,
        })
        .collect()
}

fn headers_out(headers: Vec<Header>) -> Vec<wit::Header> {
    headers
        .into_iter()
        .map(|h| wit::Header {
            name: h.name,
            value: h.value,
        })
        .collect()
}

fn signing_error(e: signing::SigningError) -> wit::SigningError {
    use signing::SigningError as E;
    match e {
        E::BadMethod(m) => wit::SigningError::BadMethod(m),
        E::BadTarget(t) => wit::SigningError::BadTarget(t),
        E::BadDate(d) => wit::SigningError::BadDate(d),
        E::BadUserId(u) => wit::SigningError::BadUserId(u),
        E::Keystore(k) => wit::SigningError::Keystore(error_out(k)),
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

    fn verify_request(
        req: wit::IncomingRequest,
        client_certificate: Vec<u8>,
        now_unix_seconds: i64,
    ) -> Result<(), wit::RequestError> {
        use crate::digipost::request_verification::{
            IncomingRequest, RequestError as E, verify_request,
        };
        let headers = headers_in(req.headers);
        let r = IncomingRequest {
            method: &req.method,
            target: &req.target,
            headers: &headers,
            body: req.body.as_ref().map(body),
        };
        verify_request(&r, &client_certificate, now_unix_seconds).map_err(|e| match e {
            E::MissingHeader(h) => wit::RequestError::MissingHeader(h.to_owned()),
            E::BadDate(d) => wit::RequestError::BadDate(d),
            E::DateSkew(s) => wit::RequestError::DateSkew(s),
            E::BodyHashMismatch { declared, actual } => {
                wit::RequestError::BodyHashMismatch(wit::BodyHashMismatch { declared, actual })
            }
            E::Malformed(m) => wit::RequestError::Malformed(m),
            E::BadCertificate(m) => wit::RequestError::BadCertificate(m),
            E::BadSignature { reason, canonical } => {
                wit::RequestError::BadSignature(wit::BadSignature { reason, canonical })
            }
        })
    }

    fn format_date(unix_seconds: i64) -> String {
        http_date::format(unix_seconds)
    }

    fn server_canonical_from_error(error_body: String) -> Option<String> {
        signature_echo::server_canonical_from_error(&error_body)
    }
}
