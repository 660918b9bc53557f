//! Shared pieces of the end-to-end tests: fixtures, one runtime per test process, the built
//! `dpost` binary, and a native keystore that signs with the same keys as the component's.

use std::path::PathBuf;
use std::sync::OnceLock;

use dpost::keystore::{Keystore, PasswordSource, PrivateKey};
use dpost::runtime::{Runtime, RuntimeOptions};

/// The password of the Digipost .NET client's legacy test key (fixtures/digipost/README.md).
pub const LEGACY_P12_PASSWORD: &str = "qwer1234";

/// A file under `tests/fixtures/`.
pub fn fixture(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(relative)
}

/// A folder for compiled-component caches and scratch files, inside the build's target folder
/// so tests never write to the user's home.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/test-scratch")
        .join(name);
    std::fs::create_dir_all(&dir).expect("creating a scratch folder under target/");
    dir
}

/// Runtime options for tests: the embedded component, cached under target/.
pub fn test_options() -> RuntimeOptions {
    RuntimeOptions {
        cache_dir: Some(scratch_dir("component-cache")),
        ..RuntimeOptions::default()
    }
}

/// One runtime for the whole test process (compiling the component once).
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(test_options()).expect("the embedded component loads"))
}

/// The legacy Digipost test key (RC2-40/3DES PKCS#12).
pub fn legacy_key() -> PrivateKey {
    PrivateKey::load(
        &fixture("digipost/DigipostTestCertWithPassword.p12"),
        &legacy_password(),
    )
    .expect("the legacy test key loads")
}

/// A password file holding the legacy key's password.
pub fn legacy_password() -> PasswordSource {
    let file = scratch_dir("passwords").join("legacy.password");
    std::fs::write(&file, format!("{LEGACY_P12_PASSWORD}\n")).expect("writing a password file");
    PasswordSource::File(file)
}

/// The simulated server's key (PEM PKCS#8), which signs responses.
pub fn server_key() -> PrivateKey {
    PrivateKey::load(&fixture("keys/server.key.pem"), &PasswordSource::None)
        .expect("server key loads")
}

/// A keystore holding `key` under `name`.
pub fn keystore_with(name: &str, key: PrivateKey) -> Keystore {
    let mut ks = Keystore::new();
    ks.insert(name, key);
    ks
}

/// The native library's view of a host key, to compare the component with the same code
/// compiled natively.
pub struct NativeKeystore(pub PrivateKey);

impl dpost_guest::keystore::Keystore for NativeKeystore {
    fn sign(
        &self,
        _key: &str,
        _algorithm: dpost_guest::keystore::SignatureAlgorithm,
        data: &[u8],
    ) -> Result<Vec<u8>, dpost_guest::keystore::KeystoreError> {
        self.0
            .sign_pkcs1_sha256(data)
            .map_err(|e| dpost_guest::keystore::KeystoreError::Failed(e.to_string()))
    }
}

/// The `dpost` binary of this build (cargo builds it for the host package's integration tests,
/// which run in the same `cargo test --workspace`).
pub fn dpost_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> → target/<profile>/dpost
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target layout")
        .join("dpost");
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace`",
        bin.display()
    );
    bin
}

/// One runtime for the whole test process, shareable with the client and the simulator.
pub fn shared_runtime() -> std::sync::Arc<Runtime> {
    static RUNTIME: OnceLock<std::sync::Arc<Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            std::sync::Arc::new(Runtime::new(test_options()).expect("the embedded component loads"))
        })
        .clone()
}

/// Digipost inbox fixtures: a simulator data folder written by the test, and what it holds.
pub mod inbox_data {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use sha2::{Digest as _, Sha256};

    /// The sender every generated inbox belongs to.
    pub const SENDER: i64 = 1000;
    /// The broker id the tests sign as.
    pub const BROKER: &str = "9999";

    /// Lowercase hex SHA-256.
    pub fn sha256_hex(bytes: &[u8]) -> String {
        Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Deterministic bytes of a length that depends on the seed (64..4160), not text.
    pub fn content(seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let len = 64 + (seed % 4096) as usize;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// Write `n` documents (every third with one or two attachments) for [`SENDER`] into a
    /// fresh folder `dir`. Returns every document's and attachment's SHA-256 by id, and the
    /// top-level document ids newest first.
    pub fn write(dir: &Path, n: u64) -> (BTreeMap<i64, String>, Vec<i64>) {
        let _ = std::fs::remove_dir_all(dir);
        let folder: PathBuf = dir.join(SENDER.to_string());
        std::fs::create_dir_all(&folder).expect("creating the data folder");
        let mut hashes = BTreeMap::new();
        let mut ids = Vec::new();
        for i in 0..n {
            let id = 100_000 + i as i64;
            let bytes = content(i);
            std::fs::write(folder.join(format!("{id}.pdf")), &bytes).expect("writing a document");
            hashes.insert(id, sha256_hex(&bytes));
            ids.push(id);
            let mut attachments = Vec::new();
            if i % 3 == 0 {
                for a in 0..(1 + i % 2) {
                    let aid = 900_000 + (i * 2 + a) as i64;
                    let bytes = content(1_000_000 + i * 2 + a);
                    std::fs::write(folder.join(format!("{aid}.txt")), &bytes)
                        .expect("writing an attachment");
                    hashes.insert(aid, sha256_hex(&bytes));
                    attachments
                        .push(serde_json::json!({ "id": aid, "file": format!("{aid}.txt") }));
                }
            }
            let meta = serde_json::json!({
                "subject": format!("Brev {i}"),
                "sender": "Posten Norge AS",
                "delivery-time": format!("2024-05-01T{:02}:{:02}:{:02}Z", (i / 3600) % 24, (i / 60) % 60, i % 60),
                "authentication-level": "PASSWORD",
                "reference-from-sender": format!("REF-{i}"),
                "attachments": attachments,
            });
            std::fs::write(folder.join(format!("{id}.json")), meta.to_string())
                .expect("writing metadata");
        }
        ids.reverse();
        (hashes, ids)
    }
}
