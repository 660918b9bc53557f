//! The server certificate whose key signs Digipost's responses, as the entrypoint publishes it.
//!
//! The PEM is read leniently on purpose. Digipost's documented entrypoint example
//! (digipost-docs f5b24ff, `source/api/api-reference.rst`) wraps the base64 at 76 columns, and
//! the Java client reads it with BouncyCastle, which ignores line width. The strict RFC 7468
//! reader under `x509-cert` accepts only 64-column lines and failed every command with
//! `PEM Base64 error` on such a certificate (issue 13). So: take what lies between the
//! `BEGIN` and `END` lines, drop every whitespace character (any line width, CRLF, one line),
//! base64-decode and parse the DER. See docs/digipost-wire.md.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rsa::RsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};

/// Why a certificate could not be used to verify signatures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// Neither a PEM `CERTIFICATE` block nor DER X.509.
    #[error("not an X.509 certificate in PEM or DER: {0}")]
    NotACertificate(String),
    /// The certificate's key is not RSA.
    #[error("the certificate's public key is not an RSA key: {0}")]
    NotRsa(String),
}

/// The RSA public key of an X.509 certificate given as PEM (any line width) or DER.
pub fn rsa_public_key(certificate: &[u8]) -> Result<RsaPublicKey, CertificateError> {
    let der = certificate_der(certificate)?;
    let cert = Certificate::from_der(&der)
        .map_err(|e| CertificateError::NotACertificate(e.to_string()))?;
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| CertificateError::NotACertificate(e.to_string()))?;
    RsaPublicKey::from_public_key_der(&spki).map_err(|e| CertificateError::NotRsa(e.to_string()))
}

/// The DER bytes of a certificate given as PEM (any line width, CRLF or one line) or DER.
pub fn certificate_der(certificate: &[u8]) -> Result<Vec<u8>, CertificateError> {
    let trimmed = certificate.trim_ascii_start();
    if !trimmed.starts_with(b"-----BEGIN") {
        return Ok(certificate.to_vec());
    }
    let bad = |why: &str| CertificateError::NotACertificate(why.to_owned());
    let text = std::str::from_utf8(trimmed).map_err(|_| bad("the PEM is not ASCII text"))?;
    // `-----BEGIN CERTIFICATE-----`: the label ends at the second run of five dashes.
    let after_begin = &text["-----BEGIN".len()..];
    let label_end = after_begin
        .find("-----")
        .ok_or_else(|| bad("the PEM's BEGIN line does not end in -----"))?;
    let label = after_begin[..label_end].trim();
    if label != "CERTIFICATE" && label != "X509 CERTIFICATE" {
        return Err(bad(&format!(
            "the PEM holds a {label:?}, not a CERTIFICATE"
        )));
    }
    let body = &after_begin[label_end + "-----".len()..];
    let end = body
        .find("-----END")
        .ok_or_else(|| bad("the PEM has no -----END line"))?;
    let base64: String = body[..end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    STANDARD
        .decode(base64.as_bytes())
        .map_err(|e| bad(&format!("the PEM's base64 does not decode: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed RSA certificate (the project's test server certificate, `make.sh`).
    fn der() -> Vec<u8> {
        let pem = include_str!("../../../tests/fixtures/keys/server.cert.pem");
        let body: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .concat();
        STANDARD.decode(body).unwrap()
    }

    fn wrapped(width: usize, newline: &str) -> String {
        let b64 = STANDARD.encode(der());
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(width)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN CERTIFICATE-----{newline}{}{newline}-----END CERTIFICATE-----{newline}",
            lines.join(newline)
        )
    }

    #[test]
    fn any_line_width_crlf_or_one_line() {
        let want = rsa_public_key(&der()).unwrap();
        for (width, nl) in [
            (64, "\n"),
            (76, "\n"),
            (76, "\r\n"),
            (10_000, "\n"),
            (33, "\r\n"),
        ] {
            let pem = wrapped(width, nl);
            assert_eq!(
                rsa_public_key(pem.as_bytes()).unwrap(),
                want,
                "{width} {nl:?}"
            );
        }
        // BEGIN, base64 and END on one line, indented as XML pretty-printers leave it.
        let one_line = format!(
            "   -----BEGIN CERTIFICATE-----{}-----END CERTIFICATE-----",
            STANDARD.encode(der())
        );
        assert_eq!(rsa_public_key(one_line.as_bytes()).unwrap(), want);
    }

    #[test]
    fn refuses_what_is_not_a_certificate() {
        for bad in [
            "-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----",
            "-----BEGIN CERTIFICATE-----\nMIIB",
            "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----",
            "-----BEGIN CERTIFICATE",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        ] {
            assert!(
                matches!(
                    rsa_public_key(bad.as_bytes()),
                    Err(CertificateError::NotACertificate(_))
                ),
                "{bad}"
            );
        }
        assert!(rsa_public_key(b"\x30\x03\x02\x01\x00").is_err());
    }
}
