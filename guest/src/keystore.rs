//! The one capability the protocol core asks of its host: signing with a private key it never
//! sees. Mirrors the `keystore` interface of the WIT contract.

/// The signature scheme to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017).
    RsaPkcs1Sha256,
}

/// Why the host could not sign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeystoreError {
    /// No key is held under this reference.
    #[error("no private key is held under the name {0:?}")]
    UnknownKey(String),
    /// The key exists but cannot make this kind of signature.
    #[error("the key cannot make {0:?} signatures")]
    UnsupportedAlgorithm(SignatureAlgorithm),
    /// The signing operation failed.
    #[error("signing failed: {0}")]
    Failed(String),
}

/// Signs bytes with a key held outside the protocol core.
pub trait Keystore {
    /// Sign the whole of `data` (not a digest) with the key named `key`.
    fn sign(
        &self,
        key: &str,
        algorithm: SignatureAlgorithm,
        data: &[u8],
    ) -> Result<Vec<u8>, KeystoreError>;
}
