//! The `keystore` import, served from the instance's [`Keystore`](super::Keystore).

use crate::bindings::keystore_wit::{Host, KeystoreError, SignatureAlgorithm};
use crate::runtime::HostState;

impl Host for HostState {
    fn sign(
        &mut self,
        key: String,
        algorithm: SignatureAlgorithm,
        data: Vec<u8>,
    ) -> Result<Vec<u8>, KeystoreError> {
        let private = self
            .keystore
            .get(&key)
            .ok_or_else(|| KeystoreError::UnknownKey(key.clone()))?;
        match algorithm {
            SignatureAlgorithm::RsaPkcs1Sha256 => private
                .sign_pkcs1_sha256(&data)
                .map_err(|e| KeystoreError::Failed(e.to_string())),
        }
    }
}
