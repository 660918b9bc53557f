//! Shared pieces of the end-to-end tests: fixtures, one runtime per test process, the built
//! `dpost` binary, and a native keystore that signs with the same keys as the component's.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use dpost::keystore::{Keystore, PasswordSource, PrivateKey};
use dpost::runtime::{Runtime, RuntimeOptions};

/// The recording server that replays `tests/conformance/` fixtures.
pub mod replay;

/// Filling a store with many received messages (the platform API's benchmark).
pub mod seed;

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

/// `dpost <args> --config <config>`, run to the end.
pub fn run_with_config(config: &Path, args: &[&str]) -> Output {
    dpost_command()
        .args(args)
        .args(["--config", config.to_str().unwrap()])
        .output()
        .unwrap()
}

/// A command for the `dpost` binary of this build, with the compiled-component cache under
/// target/ (`DPOST_CACHE_DIR`).
pub fn dpost_command() -> Command {
    let mut command = Command::new(dpost_bin());
    command.env("DPOST_CACHE_DIR", scratch_dir("component-cache"));
    command
}

/// Run `dpost ARGS` ([`dpost_command`]) to completion.
pub fn run_dpost<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    dpost_command().args(args).output().expect("running dpost")
}

/// [`run_dpost`] off the async runtime, so that servers on it keep serving meanwhile.
pub async fn run_dpost_async(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || run_dpost(args))
        .await
        .unwrap()
}

/// Start `command` with its stdout piped and wait, at most 60 s, for the first line it prints
/// (a service's address). Returns the child, that line (trimmed) and the rest of its output.
/// A child that exits or says nothing in time is killed and the test fails.
pub fn spawn_until_first_line(
    command: &mut Command,
    what: &str,
) -> (Child, String, BufReader<ChildStdout>) {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {what}: {e}"));
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = stdout.read_line(&mut line);
        let _ = tx.send((read.map(|_| line), stdout));
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok((Ok(line), stdout)) => (child, line.trim().to_owned(), stdout),
        Ok((Err(e), _)) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("reading the first line of {what}: {e}")
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} printed no line within 60 s")
        }
    }
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest as _, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A `dpost.toml` for `dpost serve` and the `dpost ngdp` commands: a store beside it, a
/// `[serve]` section and an `[api]` section each listening on 127.0.0.1:0, and one NgDP test system. Defaults: a `push`
/// system [`serve::SYSTEM`] with inbound authorization [`serve::AUTH`] and API token `token`,
/// NgDP's API at a closed port (never answered) marked `simulator = true` (the system has no
/// function certificate), the one mailbox `standard`, and the default message size limit.
pub struct ConfigFile {
    dir: PathBuf,
    api_base: String,
    system: String,
    protocol: String,
    authorization: Option<String>,
    api_token: String,
    max_message_bytes: Option<u64>,
    serve_extra: String,
    system_extra: String,
    api_extra: String,
    contact_points: Vec<(String, String)>,
    give_up_after_days: Option<f64>,
}

impl ConfigFile {
    /// A configuration to be written as `dir/dpost.toml`, `dir` emptied first.
    pub fn in_dir(dir: PathBuf) -> ConfigFile {
        ConfigFile {
            dir,
            api_base: "http://127.0.0.1:9/apis/v1".into(),
            system: serve::SYSTEM.into(),
            protocol: "push".into(),
            authorization: Some(serve::AUTH.into()),
            api_token: "token".into(),
            max_message_bytes: None,
            serve_extra: String::new(),
            system_extra: String::new(),
            api_extra: String::new(),
            contact_points: Vec::new(),
            give_up_after_days: None,
        }
    }

    /// Where NgDP's API is (`…/apis/v1`): receipts, pulls and sends go there.
    pub fn api_base(mut self, url: &str) -> ConfigFile {
        self.api_base = url.into();
        self
    }

    /// The system's id and its API token.
    pub fn system(mut self, id: &str, api_token: &str) -> ConfigFile {
        self.system = id.into();
        self.api_token = api_token.into();
        self
    }

    /// The system's protocol, `push` or `pull`.
    pub fn protocol(mut self, protocol: &str) -> ConfigFile {
        self.protocol = protocol.into();
        self
    }

    /// The system's inbound Authorization header; `None` writes no `authorization` line.
    pub fn authorization(mut self, header: Option<&str>) -> ConfigFile {
        self.authorization = header.map(Into::into);
        self
    }

    /// `[serve] max_message_bytes`.
    pub fn max_message_bytes(mut self, bytes: u64) -> ConfigFile {
        self.max_message_bytes = Some(bytes);
        self
    }

    /// Lines added to `[serve]` as they are.
    pub fn serve_extra(mut self, lines: &str) -> ConfigFile {
        self.serve_extra = lines.into();
        self
    }

    /// Lines added to the system's table as they are (e.g. `receipt_listing = "bulk"`).
    pub fn system_extra(mut self, lines: &str) -> ConfigFile {
        self.system_extra = lines.into();
        self
    }

    /// Lines added after `[api]` as they are (e.g. `[[api.clients]]` entries).
    pub fn api_extra(mut self, lines: &str) -> ConfigFile {
        self.api_extra = lines.into();
        self
    }

    /// `[ngdp.receipts] give_up_after_days`: how long a business receipt is retried.
    pub fn give_up_after_days(mut self, days: f64) -> ConfigFile {
        self.give_up_after_days = Some(days);
        self
    }

    /// A contact point routed to its own `mailbox` (added after `standard`).
    pub fn contact_point(mut self, id: &str, mailbox: &str) -> ConfigFile {
        self.contact_points.push((id.into(), mailbox.into()));
        self
    }

    /// Write the file; its path.
    pub fn write(self) -> PathBuf {
        use std::fmt::Write as _;
        let _ = std::fs::remove_dir_all(&self.dir);
        std::fs::create_dir_all(&self.dir).unwrap();
        let mut text = format!(
            "[store]\npath = \"dpost.db\"\n{}[serve]\nlisten = \"127.0.0.1:0\"\n",
            postgres::store_url_line(&self.dir)
        );
        if let Some(max) = self.max_message_bytes {
            writeln!(text, "max_message_bytes = {max}").unwrap();
        }
        if !self.serve_extra.is_empty() {
            writeln!(text, "{}", self.serve_extra).unwrap();
        }
        let mailboxes: Vec<String> = std::iter::once("standard")
            .chain(self.contact_points.iter().map(|(_, m)| m.as_str()))
            .map(|m| format!("\"{m}\""))
            .collect();
        writeln!(
            text,
            "[ngdp]\nmailboxes = [{}]\nstandard_mailbox = \"standard\"\n[ngdp.test]\napi_base = \"{}\"\nsimulator = true",
            mailboxes.join(", "),
            self.api_base
        )
        .unwrap();
        if let Some(days) = self.give_up_after_days {
            writeln!(text, "[ngdp.receipts]\ngive_up_after_days = {days}").unwrap();
        }
        writeln!(
            text,
            "[[ngdp.test.systems]]\nid = \"{}\"\nprotocol = \"{}\"",
            self.system, self.protocol
        )
        .unwrap();
        if let Some(authorization) = &self.authorization {
            writeln!(text, "authorization = \"{authorization}\"").unwrap();
        }
        writeln!(text, "api_token = \"{}\"", self.api_token).unwrap();
        if !self.system_extra.is_empty() {
            writeln!(text, "{}", self.system_extra).unwrap();
        }
        for (id, mailbox) in &self.contact_points {
            writeln!(
                text,
                "[[ngdp.test.contact_points]]\nid = \"{id}\"\naudiences = [\"citizens\"]\nmailbox = \"{mailbox}\""
            )
            .unwrap();
        }
        writeln!(text, "[api]\nlisten = \"127.0.0.1:0\"\n{}", self.api_extra).unwrap();
        let config = self.dir.join("dpost.toml");
        std::fs::write(&config, text).unwrap();
        config
    }
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

    pub use super::sha256_hex;

    /// The sender every generated inbox belongs to.
    pub const SENDER: i64 = 1000;
    /// The broker id the tests sign as.
    pub const BROKER: &str = "9999";

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

    /// `dpost sim digipost` serving the inbox written into `data`, at `url`; killed when
    /// dropped so a failing test leaves no process behind.
    pub struct Sim {
        child: std::process::Child,
        /// Its base URL on loopback.
        pub url: String,
    }

    impl Drop for Sim {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// Start the simulator on loopback.
    pub fn start_sim(data: &Path) -> Sim {
        start_sim_with(data, &[])
    }

    /// Start the simulator on loopback with extra `switches` (its behaviour variants).
    pub fn start_sim_with(data: &Path, switches: &[&str]) -> Sim {
        let mut command = super::dpost_command();
        command
            .args([
                "sim",
                "digipost",
                "--listen",
                "127.0.0.1:0",
                "--broker-id",
                BROKER,
            ])
            .arg("--data")
            .arg(data)
            .arg("--broker-cert")
            .arg(super::fixture("keys/broker.cert.pem"))
            .arg("--server-key")
            .arg(super::fixture("keys/server.key.pem"))
            .arg("--server-cert")
            .arg(super::fixture("keys/server.cert.pem"))
            .args(switches)
            .stderr(std::process::Stdio::null());
        let (child, url, _) = super::spawn_until_first_line(&mut command, "the simulator");
        assert!(url.starts_with("http://127.0.0.1:"), "{url:?}");
        Sim { child, url }
    }

    /// `dpost digipost sync` from the simulator at `url` into the store `dpost.db` beside
    /// `config` (a `sync.toml` is written there).
    pub fn sync(config: &Path, url: &str) {
        let sync_config = config.with_file_name("sync.toml");
        // The same store as `config`'s, PostgreSQL included.
        let text = std::fs::read_to_string(config).unwrap_or_default();
        let store_url = text
            .lines()
            .find(|l| l.starts_with("url = \"postgres"))
            .map(|l| format!("{l}\n"))
            .unwrap_or_default();
        std::fs::write(
            &sync_config,
            format!("[digipost]\nbroker_id = \"{BROKER}\"\nsender_id = \"{SENDER}\"\nretries = 1\n\n[store]\npath = \"dpost.db\"\n{store_url}"),
        )
        .expect("writing sync.toml");
        let out = super::dpost_command()
            .args(["digipost", "sync", "--json", "--base-url", url, "--config"])
            .arg(&sync_config)
            .arg("--key")
            .arg(super::fixture("keys/broker.pkcs1.pem"))
            .output()
            .expect("running dpost digipost sync");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `dpost serve` as a child process on loopback, for the serve, fault and hostile-input tests.
pub mod serve {
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    use super::{ConfigFile, dpost_command, fixture, scratch_dir, spawn_until_first_line};

    /// The receiving system every configuration has.
    pub const SYSTEM: &str = "7c4c7d2e-0b1a-4c5e-9f00-123456789abc";
    /// Its inbound Authorization header.
    pub const AUTH: &str = "Bearer test-push-secret";

    /// A [`ConfigFile`] in the folder `serve-<name>` under target/.
    pub fn config(name: &str) -> ConfigFile {
        ConfigFile::in_dir(scratch_dir(&format!("serve-{name}")))
    }

    /// A configuration in a fresh folder `serve-<name>` under target/, with `extra` lines
    /// added to `[serve]`. Business receipts go to a closed port (never answered).
    pub fn setup(name: &str, max_bytes: u64, extra: &str) -> PathBuf {
        config(name)
            .max_message_bytes(max_bytes)
            .serve_extra(extra)
            .write()
    }

    /// A second replica of `config` (issue 18): the same configuration and store (the same
    /// PostgreSQL database when the tests run on one), with a data folder of its own, in the
    /// folder `serve-<name>`. Its path.
    pub fn second_replica(config: &Path, name: &str) -> PathBuf {
        let dir = scratch_dir(&format!("serve-{name}"));
        let text = std::fs::read_to_string(config).expect("the first replica's configuration");
        let store = config.with_file_name("dpost.db");
        let text = text
            .replacen(
                "path = \"dpost.db\"",
                &format!("path = \"{}\"", store.display()),
                1,
            )
            .replacen(
                "[serve]\n",
                &format!("[serve]\ndata_dir = \"{}\"\n", dir.join("files").display()),
                1,
            );
        let second = dir.join("dpost.toml");
        std::fs::write(&second, text).expect("writing the second replica's configuration");
        second
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
        /// The platform API's `http://127.0.0.1:PORT`.
        pub api_url: String,
    }

    impl Server {
        /// Start `dpost serve --config config` and wait for it to listen.
        pub fn start(config: &Path) -> Server {
            Server::start_with(config, |_| {})
        }

        /// [`Server::start`], with the command adjusted first (limits, environment).
        pub fn start_with(config: &Path, adjust: impl FnOnce(&mut Command)) -> Server {
            let mut command = dpost_command();
            command
                .args(["serve", "--config", config.to_str().unwrap()])
                .stderr(Stdio::null());
            adjust(&mut command);
            let (child, line, mut out) = spawn_until_first_line(&mut command, "dpost serve");
            let url = line
                .strip_prefix("listening on ")
                .unwrap_or_else(|| panic!("first line: {line:?}"))
                .to_owned();
            // The second line: where the platform API listens.
            let mut second = String::new();
            use std::io::BufRead as _;
            let _ = out.read_line(&mut second);
            let api_url = second
                .trim()
                .strip_prefix("api listening on ")
                .unwrap_or_else(|| panic!("second line: {second:?}"))
                .to_owned();
            Server {
                child,
                url,
                api_url,
            }
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

        /// Post `xml` as a raw body (`application/xml`) to the message endpoint, authorized.
        pub fn post_xml(&self, xml: Vec<u8>) -> reqwest::blocking::Response {
            client()
                .post(self.messages_url())
                .header("Authorization", AUTH)
                .header("Content-Type", "application/xml")
                .body(xml)
                .send()
                .unwrap()
        }

        /// Post `form` as a multipart body to the message endpoint, authorized.
        pub fn post_form(
            &self,
            form: reqwest::blocking::multipart::Form,
        ) -> reqwest::blocking::Response {
            client()
                .post(self.messages_url())
                .header("Authorization", AUTH)
                .multipart(form)
                .send()
                .unwrap()
        }

        /// Push `xml` as a raw body; status and body text.
        pub fn push_raw(&self, xml: Vec<u8>) -> (u16, String) {
            status_and_text(self.post_xml(xml))
        }

        /// Push `xml` as the `file` part of a multipart body, the part named `filename`.
        pub fn push_multipart(&self, xml: Vec<u8>, filename: &str) -> (u16, String) {
            let part = reqwest::blocking::multipart::Part::bytes(xml)
                .file_name(filename.to_owned())
                .mime_str("application/xml")
                .unwrap();
            let form = reqwest::blocking::multipart::Form::new().part("file", part);
            status_and_text(self.post_form(form))
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

    /// A response's status and body text (empty when it has none).
    fn status_and_text(r: reqwest::blocking::Response) -> (u16, String) {
        let status = r.status().as_u16();
        (status, r.text().unwrap_or_default())
    }

    /// `dpost sim ngdp` started as NgDP would run, with the arguments given; returns the child
    /// and its base URL.
    pub fn start_sim(args: &[&str]) -> (Child, String) {
        let mut command = dpost_command();
        command
            .args(["sim", "ngdp"])
            .args(args)
            .stderr(Stdio::null());
        let (child, line, mut out) = spawn_until_first_line(&mut command, "dpost sim ngdp");
        let url = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line: {line:?}"))
            .to_owned();
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        (child, url)
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

    /// [`message`], addressed to `contact_point` when one is given.
    pub fn message_to(uuid: &str, contact_point: Option<&str>, content: &[u8]) -> Vec<u8> {
        let xml = message(uuid, content);
        let Some(cp) = contact_point else {
            return xml;
        };
        String::from_utf8(xml)
            .unwrap()
            .replacen(
                "</memo:Recipient>",
                &format!("<memo:ContactPoint><memo:contactPointID>{cp}</memo:contactPointID></memo:ContactPoint></memo:Recipient>"),
                1,
            )
            .into_bytes()
    }

    /// `dpost message show UUID --json`, when the message is stored.
    pub fn show(config: &Path, uuid: &str) -> Option<serde_json::Value> {
        let out = dpost_command()
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
        let out = dpost_command()
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

/// Seeded randomness for the crash tests: the same kills at the same moments on every run.
pub mod seeded {
    /// A small deterministic generator (xorshift64*).
    pub struct Seeded(pub u64);

    impl Seeded {
        /// The next number.
        #[allow(clippy::should_implement_trait)]
        pub fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        /// A number in `0..n`.
        pub fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Document content for message `n`: 1-24 KiB of bytes that differ per message.
    pub fn burst_content(n: u32) -> Vec<u8> {
        let mut g = Seeded(0x9E37_79B9_7F4A_7C15 ^ u64::from(n));
        let len = 1024 + g.below(23 * 1024) as usize;
        (0..len).map(|_| g.next() as u8).collect()
    }
}

/// The store `config` names (SQLite or PostgreSQL), opened as `dpost` opens it.
pub fn open_store(config: &Path) -> dpost::store::Store {
    let file = dpost::config::ConfigFile::load(Some(config)).expect("the test's configuration");
    dpost::store::Store::open_location(&file.store_location()).expect("the test's store opens")
}

/// The bytes of the stored file a row names as `path` (a message's `dir` joined with a file's
/// name), read through the store: from the data folder on SQLite, from the store's own
/// pieces on PostgreSQL.
pub fn stored_file(config: &Path, path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    open_store(config)
        .copy_file_to(path, &mut out)
        .unwrap_or_else(|e| panic!("the stored file {}: {e}", path.display()));
    out
}

/// A plain connection to the store `config` names (SQLite or PostgreSQL), for a test that
/// sets up rows no command writes (a backdated event): statements are written once, with
/// `?1` parameters, and run on both backends.
pub fn open_sql(config: &Path) -> dpost::store::sql::Connection {
    use dpost::store::{Location, sql};
    let file = dpost::config::ConfigFile::load(Some(config)).expect("the test's configuration");
    match file.store_location() {
        Location::Sqlite(path) => sql::Connection::sqlite(
            rusqlite::Connection::open(&path).expect("the test's SQLite store opens"),
        ),
        Location::Postgres(url) => sql::Connection::postgres(
            sql::postgres::Connection::connect(&url).expect("the test's PostgreSQL store answers"),
        ),
    }
}

/// The end-to-end tests on PostgreSQL: with `DPOST_TEST_POSTGRES` set (`.ci/run` starts a
/// throwaway cluster), each test's configuration gets a fresh database on that server as its
/// store (`[store] url`), so the same tests run on both backends.
pub mod postgres {
    use std::path::Path;
    use std::process::Command;

    /// Whether the tests run on PostgreSQL.
    pub fn enabled() -> bool {
        std::env::var("DPOST_TEST_POSTGRES").is_ok_and(|v| !v.is_empty())
    }

    /// The `url = ...` line for a test whose files are in `dir`: empty without a server.
    pub fn store_url_line(dir: &Path) -> String {
        match std::env::var("DPOST_TEST_POSTGRES") {
            Ok(base) if !base.is_empty() => format!("url = \"{}\"\n", fresh_database(&base, dir)),
            _ => String::new(),
        }
    }

    /// Create an empty database named after `dir` on the server at `base` (a URL ending in a
    /// database name); its URL.
    pub fn fresh_database(base: &str, dir: &Path) -> String {
        let digest = crate::sha256_hex(dir.to_string_lossy().as_bytes());
        let name = format!("t_{}", &digest[..16]);
        for sql in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ] {
            let out = Command::new("psql")
                .args(["-q", "-v", "ON_ERROR_STOP=1", "-d", base, "-c", &sql])
                .output()
                .expect("psql runs");
            assert!(
                out.status.success(),
                "{sql}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let (server, _db) = base.rsplit_once('/').expect("a URL ending in /DATABASE");
        format!("{server}/{name}")
    }
}
