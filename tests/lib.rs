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
    // Written once per process, and by rename: tests run in parallel threads, and a reader
    // that caught another thread's write between truncate and write read an empty password.
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    let file = FILE.get_or_init(|| {
        let dir = scratch_dir("passwords");
        let file = dir.join("legacy.password");
        let partial = dir.join(format!("legacy.password.{}", std::process::id()));
        std::fs::write(&partial, format!("{LEGACY_P12_PASSWORD}\n"))
            .expect("writing a password file");
        std::fs::rename(&partial, &file).expect("putting the password file in place");
        file
    });
    PasswordSource::File(file.clone())
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

/// `dpost serve` as a child process on loopback, for the fault and hostile-input tests.
pub mod serve {
    use std::io::{BufRead as _, BufReader};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    use super::{dpost_bin, fixture, scratch_dir};

    /// The receiving system every configuration has.
    pub const SYSTEM: &str = "7c4c7d2e-0b1a-4c5e-9f00-123456789abc";
    /// Its inbound Authorization header.
    pub const AUTH: &str = "Bearer test-push-secret";

    /// A configuration in a fresh folder `serve-<name>` under target/, with `extra` lines
    /// added to `[serve]`. Business receipts go to a closed port (never answered).
    pub fn setup(name: &str, max_bytes: u64, extra: &str) -> PathBuf {
        let dir = scratch_dir(&format!("serve-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("dpost.toml");
        std::fs::write(
            &config,
            format!(
                r#"[store]
path = "dpost.db"
[serve]
listen = "127.0.0.1:0"
max_message_bytes = {max_bytes}
{extra}
[ngdp]
mailboxes = ["standard"]
standard_mailbox = "standard"
[ngdp.test]
api_base = "http://127.0.0.1:9/apis/v1"
[[ngdp.test.systems]]
id = "{SYSTEM}"
protocol = "push"
authorization = "{AUTH}"
api_token = "token"
"#
            ),
        )
        .unwrap();
        config
    }

    /// The folder message files are kept in for `config` (the default, beside the store).
    pub fn data_dir(config: &Path) -> PathBuf {
        config.parent().unwrap().join("dpost.db.files")
    }

    /// A running `dpost serve`; killed when dropped.
    pub struct Server {
        /// The process.
        pub child: Child,
        /// `http://127.0.0.1:PORT`.
        pub url: String,
    }

    impl Server {
        /// Start `dpost serve --config config` and wait for it to listen.
        pub fn start(config: &Path) -> Server {
            Server::start_with(config, |_| {})
        }

        /// [`Server::start`], with the command adjusted first (limits, environment).
        pub fn start_with(config: &Path, adjust: impl FnOnce(&mut Command)) -> Server {
            let mut command = Command::new(dpost_bin());
            command
                .args(["serve", "--config", config.to_str().unwrap()])
                .env("DPOST_CACHE_DIR", scratch_dir("component-cache"))
                .stdout(Stdio::piped())
                .stderr(Stdio::null());
            adjust(&mut command);
            let mut child = command.spawn().expect("starting dpost serve");
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            let url = line
                .trim()
                .strip_prefix("listening on ")
                .unwrap_or_else(|| panic!("first line: {line:?}"))
                .to_owned();
            Server { child, url }
        }

        /// The message endpoint.
        pub fn messages_url(&self) -> String {
            format!("{}/api/MeMoV1/memos/?system-uuid={SYSTEM}", self.url)
        }

        /// `host:port`.
        pub fn addr(&self) -> String {
            self.url.trim_start_matches("http://").to_owned()
        }

        /// Stop it (SIGKILL) and reap it.
        pub fn kill(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }

        /// Push `xml` as a raw body; status and body text.
        pub fn push_raw(&self, xml: Vec<u8>) -> (u16, String) {
            let r = client()
                .post(self.messages_url())
                .header("Authorization", AUTH)
                .header("Content-Type", "application/xml")
                .body(xml)
                .send()
                .unwrap();
            let status = r.status().as_u16();
            (status, r.text().unwrap_or_default())
        }

        /// Push `xml` as the `file` part of a multipart body, the part named `filename`.
        pub fn push_multipart(&self, xml: Vec<u8>, filename: &str) -> (u16, String) {
            let part = reqwest::blocking::multipart::Part::bytes(xml)
                .file_name(filename.to_owned())
                .mime_str("application/xml")
                .unwrap();
            let form = reqwest::blocking::multipart::Form::new().part("file", part);
            let r = client()
                .post(self.messages_url())
                .header("Authorization", AUTH)
                .multipart(form)
                .send()
                .unwrap();
            let status = r.status().as_u16();
            (status, r.text().unwrap_or_default())
        }

        /// A fresh good message is still taken: 200, and stored.
        pub fn still_serves(&self, config: &Path, n: u32) {
            let id = uuid(0xfeed_0000 + n);
            let (status, body) = self.push_raw(message(&id, b"still serving"));
            assert_eq!(status, 200, "a good message after the hostile one: {body}");
            assert!(show(config, &id).is_some(), "{id} is stored");
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.kill();
        }
    }

    /// A blocking client with a bounded timeout.
    pub fn client() -> reqwest::blocking::Client {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }

    /// A distinct messageUUID for `n`.
    pub fn uuid(n: u32) -> String {
        format!("{n:08x}-61fb-4ba9-9366-42f8b194c114")
    }

    /// The minimum MeMo 1.2 fixture with `uuid` and its one file's `content`.
    pub fn message(uuid: &str, content: &[u8]) -> Vec<u8> {
        use base64::Engine as _;
        let src = std::fs::read_to_string(fixture("memo/MeMo_v1.2_Minimum_Example.xml")).unwrap();
        let xml = src
            .replace("8C2EA15D-61FB-4BA9-9366-42F8B194C114", uuid)
            .replace(
                "VGhpcyBpcyBhIHRlc3Q=",
                &base64::engine::general_purpose::STANDARD.encode(content),
            );
        assert!(xml.contains(uuid), "fixture changed");
        xml.into_bytes()
    }

    /// `dpost message show UUID --json`, when the message is stored.
    pub fn show(config: &Path, uuid: &str) -> Option<serde_json::Value> {
        let out = Command::new(dpost_bin())
            .args(["message", "show", uuid, "--json", "--config"])
            .arg(config)
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).unwrap())
    }

    /// How many messages are stored.
    pub fn count(config: &Path) -> usize {
        let out = Command::new(dpost_bin())
            .args(["message", "list", "--json", "--limit", "100000", "--config"])
            .arg(config)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .len()
    }

    /// Names in `dir` (none when it does not exist).
    pub fn entries(dir: &Path) -> Vec<String> {
        match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}
