//! The host's `keystore` import seen through the library's [`Keystore`] trait.

use super::dpost::protocol::keystore as wit;
use crate::keystore::{Keystore, KeystoreError, SignatureAlgorithm};

/// The keystore the host provides.
pub(crate) struct HostKeystore;

impl Keystore for HostKeystore {
    fn sign(
        &self,
        key: &str,
        algorithm: SignatureAlgorithm,
        data: &[u8],
    ) -> Result<Vec<u8>, KeystoreError> {
        wit::sign(key, algorithm_out(algorithm), data).map_err(error_in)
    }
}

fn algorithm_out(a: SignatureAlgorithm) -> wit::SignatureAlgorithm {
    match a {
        SignatureAlgorithm::RsaPkcs1Sha256 => wit::SignatureAlgorithm::RsaPkcs1Sha256,
    }
}

fn algorithm_in(a: wit::SignatureAlgorithm) -> SignatureAlgorithm {
    match a {
        wit::SignatureAlgorithm::RsaPkcs1Sha256 => SignatureAlgorithm::RsaPkcs1Sha256,
    }
}

fn error_in(e: wit::KeystoreError) -> KeystoreError {
    match e {
        wit::KeystoreError::UnknownKey(k) => KeystoreError::UnknownKey(k),
        wit::KeystoreError::UnsupportedAlgorithm(a) => {
            KeystoreError::UnsupportedAlgorithm(algorithm_in(a))
        }
        wit::KeystoreError::Failed(m) => KeystoreError::Failed(m),
    }
}

/// A library keystore error as the WIT type, for interfaces that pass it on.
pub(crate) fn error_out(e: KeystoreError) -> wit::KeystoreError {
    match e {
        KeystoreError::UnknownKey(k) => wit::KeystoreError::UnknownKey(k),
        KeystoreError::UnsupportedAlgorithm(a) => {
            wit::KeystoreError::UnsupportedAlgorithm(algorithm_out(a))
        }
        KeystoreError::Failed(m) => wit::KeystoreError::Failed(m),
    }
}
