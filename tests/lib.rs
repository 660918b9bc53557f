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
