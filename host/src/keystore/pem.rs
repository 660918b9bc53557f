//! PEM files: a private key (PKCS#8 or PKCS#1) and any number of certificates.

use std::path::Path;

use super::{KeyError, PrivateKey};

/// True when the data is text that starts (after blank space) with a PEM boundary.
pub(super) fn looks_like_pem(data: &[u8]) -> bool {
    let start = data
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(data.len());
    data[start..].starts_with(b"-----BEGIN ")
}

pub(super) fn load(path: &Path, data: &[u8]) -> Result<PrivateKey, KeyError> {
    let blocks = ::pem::parse_many(data).map_err(|e| KeyError::Format {
        path: path.to_owned(),
        reason: format!("not valid PEM: {e}"),
    })?;
    let certificates: Vec<Vec<u8>> = blocks
        .iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(|b| b.contents().to_vec())
        .collect();
    for block in &blocks {
        match block.tag() {
            "PRIVATE KEY" => return PrivateKey::from_pkcs8(path, block.contents(), certificates),
            "RSA PRIVATE KEY" => {
                return PrivateKey::from_pkcs1(path, block.contents(), certificates);
            }
            "ENCRYPTED PRIVATE KEY" => {
                return Err(KeyError::Format {
                    path: path.to_owned(),
                    reason: "encrypted PEM keys are not supported; put the key in a PKCS#12 file \
                             (openssl pkcs12 -export) or store it unencrypted with restricted permissions"
                        .into(),
                });
            }
            _ => {}
        }
    }
    Err(KeyError::NoPrivateKey {
        path: path.to_owned(),
    })
}
