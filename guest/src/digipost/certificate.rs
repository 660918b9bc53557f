//! The server certificate whose key signs Digipost's responses, as the entrypoint publishes it.

use rsa::RsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use x509_cert::Certificate;
use x509_cert::der::{Decode, DecodePem, Encode};

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

/// The RSA public key of an X.509 certificate given as PEM or DER.
pub fn rsa_public_key(certificate: &[u8]) -> Result<RsaPublicKey, CertificateError> {
    let trimmed = trim_ascii_start(certificate);
    let cert = if trimmed.starts_with(b"-----BEGIN") {
        Certificate::from_pem(trimmed)
    } else {
        Certificate::from_der(certificate)
    }
    .map_err(|e| CertificateError::NotACertificate(e.to_string()))?;
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| CertificateError::NotACertificate(e.to_string()))?;
    RsaPublicKey::from_public_key_der(&spki).map_err(|e| CertificateError::NotRsa(e.to_string()))
}

fn trim_ascii_start(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    &b[start..]
}
