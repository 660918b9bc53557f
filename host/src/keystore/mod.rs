//! Private keys and certificates, held by the host and never handed to the component.
//!
//! Keys load from PKCS#12 (`.p12`/`.pfx`, modern PBES2/AES and the legacy RC2-40/3DES that
//! function certificates exported from older Windows and Java tools still use) and from PEM
//! (PKCS#8, PKCS#1, certificates). Passwords come from an environment variable or a file,
//! never from the command line, where any user on the machine could read them from the
//! process list.
//!
//! Signing uses AWS-LC (through `aws-lc-rs`), whose RSA private-key operations are
//! constant-time and blinded and use the CPU's AVX2/AVX-512 IFMA Montgomery code: 2.3x the
//! signatures per second of `ring` on the same machine (BENCHMARKS.md). The `rsa` crate's
//! private-key operations are not constant-time (RUSTSEC-2023-0071); it only checks signatures.

mod host;
mod password;
mod pem;
mod pkcs12;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair};

pub use password::PasswordSource;

/// Why a key could not be loaded or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The password source is unusable (unset variable, unreadable file).
    #[error("{0}")]
    Password(String),
    /// A PKCS#12 file needs a password and none was given.
    #[error(
        "{path} is a PKCS#12 file and needs its password: give --password-env VAR or --password-file FILE"
    )]
    PasswordRequired {
        /// The file.
        path: PathBuf,
    },
    /// The password does not open the PKCS#12 file.
    #[error("{path}: wrong password (the PKCS#12 integrity check failed)")]
    WrongPassword {
        /// The file.
        path: PathBuf,
    },
    /// The file is not in a format dpost reads, or is damaged.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file holds no private key.
    #[error(
        "{path} holds no private key (only certificates?); use the private .p12/.pfx export or a PEM key"
    )]
    NoPrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// The key is not an RSA key AWS-LC accepts (2048-8192 bits).
    #[error("{path}: the private key is not a usable RSA key: {reason}")]
    UnusableKey {
        /// The file.
        path: PathBuf,
        /// What AWS-LC said.
        reason: String,
    },
    /// Signing failed.
    #[error("RSA signing failed")]
    Signing,
}

/// An RSA private key with the certificates that came with it.
pub struct PrivateKey {
    pair: RsaKeyPair,
    /// The key in PEM, kept only to hand to the TLS stack for client authentication.
    key_pem: String,
    certificates: Vec<Vec<u8>>,
    source: PathBuf,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("PrivateKey")
            .field("bits", &(self.pair.public_modulus_len() * 8))
            .field("certificates", &self.certificates.len())
            .field("source", &self.source)
            .finish()
    }
}

impl PrivateKey {
    /// Load a key from a PKCS#12 or PEM file; the format is recognised from the content.
    pub fn load(path: &Path, password: &PasswordSource) -> Result<Self, KeyError> {
        match read_key_file(path, password)? {
            (data, None) => pem::load(path, &data),
            (data, Some(password)) => pkcs12::load(path, &data, &password),
        }
    }

    fn from_pkcs8(path: &Path, pkcs8: &[u8], certificates: Vec<Vec<u8>>) -> Result<Self, KeyError> {
        let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(|e| KeyError::UnusableKey {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let key_pem = ::pem::encode(&::pem::Pem::new("PRIVATE KEY", pkcs8.to_vec()));
        Ok(PrivateKey {
            pair,
            key_pem,
            certificates,
            source: path.to_owned(),
        })
    }

    fn from_pkcs1(path: &Path, der: &[u8], certificates: Vec<Vec<u8>>) -> Result<Self, KeyError> {
        let pair = RsaKeyPair::from_der(der).map_err(|e| KeyError::UnusableKey {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let key_pem = ::pem::encode(&::pem::Pem::new("RSA PRIVATE KEY", der.to_vec()));
        Ok(PrivateKey {
            pair,
            key_pem,
            certificates,
            source: path.to_owned(),
        })
    }

    /// The key and its certificates in PEM, leaf first, as a TLS client identity (mutual TLS
    /// with NgDP). The only way key material leaves this module.
    pub fn identity_pem(&self) -> String {
        let mut out = self.key_pem.clone();
        for c in &self.certificates {
            out.push_str(&::pem::encode(&::pem::Pem::new("CERTIFICATE", c.clone())));
        }
        out
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `data`.
    pub fn sign_pkcs1_sha256(&self, data: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                data,
                &mut signature,
            )
            .map_err(|_| KeyError::Signing)?;
        Ok(signature)
    }

    /// The certificates that came with the key, leaf first when the file said which is which.
    pub fn certificates(&self) -> &[Vec<u8>] {
        &self.certificates
    }

    /// The public key as PKCS#1 `RSAPublicKey` DER: what a certificate for this key holds in
    /// its subject public key, so the two can be compared.
    pub fn public_key_pkcs1(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// The key's size in bits.
    pub fn bits(&self) -> usize {
        self.pair.public_modulus_len() * 8
    }

    /// The file the key came from.
    pub fn source(&self) -> &Path {
        &self.source
    }
}

/// The certificates in a key file (PKCS#12 opened with `password`, or PEM), the key's own
/// first, and whether it holds a private key at all: for inspecting a file whose key dpost
/// cannot use (`dpost doctor` explains why rather than stopping at the key).
pub fn certificates(
    path: &Path,
    password: &PasswordSource,
) -> Result<(bool, Vec<Vec<u8>>), KeyError> {
    let (data, password) = read_key_file(path, password)?;
    if let Some(password) = password {
        let (key, certs) = pkcs12::open(path, &data, &password)?;
        Ok((key.is_some(), certs))
    } else {
        let blocks = ::pem::parse_many(&data).map_err(|e| KeyError::Format {
            path: path.to_owned(),
            reason: format!("not valid PEM: {e}"),
        })?;
        let has_key = blocks.iter().any(|b| b.tag().ends_with("PRIVATE KEY"));
        let certs = blocks
            .iter()
            .filter(|b| b.tag() == "CERTIFICATE")
            .map(|b| b.contents().to_vec())
            .collect();
        Ok((has_key, certs))
    }
}

/// A key file's bytes, with its password when it is PKCS#12 (the format is recognised from
/// the content; PEM needs none).
fn read_key_file(
    path: &Path,
    password: &PasswordSource,
) -> Result<(Vec<u8>, Option<String>), KeyError> {
    let data = std::fs::read(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })?;
    if pem::looks_like_pem(&data) {
        return Ok((data, None));
    }
    let password = password.read()?.ok_or_else(|| KeyError::PasswordRequired {
        path: path.to_owned(),
    })?;
    Ok((data, Some(password)))
}

/// The keys the host signs with for the component, by the names the component asks for.
#[derive(Debug, Default, Clone)]
pub struct Keystore {
    keys: BTreeMap<String, Arc<PrivateKey>>,
}

impl Keystore {
    /// An empty keystore.
    pub fn new() -> Self {
        Self::default()
    }

    /// Hold `key` under `name`, replacing any key of that name.
    pub fn insert(&mut self, name: impl Into<String>, key: PrivateKey) {
        self.keys.insert(name.into(), Arc::new(key));
    }

    /// The key held under `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<PrivateKey>> {
        self.keys.get(name)
    }
}
