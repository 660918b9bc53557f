//! PKCS#12 (`.p12`/`.pfx`) files, modern and legacy.

use std::path::Path;

use p12_keystore::Pkcs12Archive;
use p12_keystore::error::Error as P12Error;

use super::{KeyError, PrivateKey};

/// Open a PKCS#12 file with `password` and take its (first) private key and certificates.
pub(super) fn load(path: &Path, data: &[u8], password: &str) -> Result<PrivateKey, KeyError> {
    let (key, certificates) = open(path, data, password)?;
    let key = key.ok_or_else(|| KeyError::NoPrivateKey {
        path: path.to_owned(),
    })?;
    PrivateKey::from_pkcs8(path, &key, certificates)
}

/// A PKCS#12 file's first private key (PKCS#8 DER), if any, and its certificates (DER).
pub(super) type Opened = (Option<Vec<u8>>, Vec<Vec<u8>>);

/// Open a PKCS#12 file: its first private key (PKCS#8 DER), if any, and its certificates, the
/// key's own first.
pub(super) fn open(path: &Path, data: &[u8], password: &str) -> Result<Opened, KeyError> {
    let archive = Pkcs12Archive::from_pkcs12(data, password).map_err(|e| match e {
        // The MAC is keyed by the password, so a wrong password shows as a MAC mismatch; a
        // wrong password on a MAC-less file shows as a padding error when decrypting.
        P12Error::MacError(_) | P12Error::UnpadError => KeyError::WrongPassword {
            path: path.to_owned(),
        },
        other => KeyError::Format {
            path: path.to_owned(),
            reason: format!("not a PKCS#12 file dpost can read: {other}"),
        },
    })?;
    let key = archive.keys.first();
    // The certificate bag that shares the key's local key id is the key's own; put it first.
    let mut certificates: Vec<(bool, Vec<u8>)> = archive
        .certs
        .iter()
        .map(|c| {
            let own = match (key.and_then(|k| k.local_key_id.as_ref()), &c.local_key_id) {
                (Some(k), Some(c)) => k.0 == *c,
                _ => false,
            };
            (own, c.cert.as_der().to_vec())
        })
        .collect();
    certificates.sort_by_key(|(own, _)| !*own);
    Ok((
        key.map(|k| k.key.as_der().to_vec()),
        certificates.into_iter().map(|(_, c)| c).collect(),
    ))
}
