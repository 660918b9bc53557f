//! `dpost doctor`, `dpost portal values` and `dpost contact-points import` against the real
//! binary, everything on loopback. Certificates are made here at run time (rcgen, signed by a
//! test CA; RSA keys from tests/fixtures/keys) with fixed validity dates, and the doctor judges
//! them at a fixed time (`--at 2030-06-01`), so no test starts failing as years pass.
//!
//! Every check passes once (a green test environment against the NgDP simulator with mutual
//! TLS) and fails on purpose: an expired certificate, a wrong password, a non-RSA key, a
//! certificate without TLS client authentication, one certificate shared by both environments,
//! endpoints nothing listens on, a system without a contact point.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;

use dpost::clock;
use dpost::sim::ngdp::tls::TlsFiles;
use dpost::sim::ngdp::{NgdpConfig, NgdpSimulator, RunningNgdp};
use dpost_tests::*;
use rcgen::{
    BasicConstraints, CertificateParams, CrlDistributionPoint, CustomExtension, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use serde_json::Value;

const SYSTEM: &str = "7c4c7d2e-0b1a-4c5e-9f00-123456789abc";
const PROD_SYSTEM: &str = "0b5e2f7a-3c1d-4e2f-9a8b-0c1d2e3f4a5b";
const TOKEN: &str = "doctor-token";
const CONTACT_POINT: &str = "241d39f6-998e-4929-b198-ccacbbf4b330";
const PASSWORD: &str = "access code 1";
/// "Now" for every doctor run.
const AT: &str = "2030-06-01";

fn dir(name: &str) -> PathBuf {
    let d = scratch_dir("doctor").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

async fn doctor(config: &Path, extra: &[&str]) -> (Output, Value) {
    let mut a = args(&[
        "doctor",
        "--config",
        &config.display().to_string(),
        "--at",
        AT,
        "--timeout",
        "2s",
        "--json",
    ]);
    a.extend(extra.iter().map(|s| s.to_string()));
    let out = run_dpost_async(a).await;
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {:?} stderr {:?}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, json)
}

/// The checks named `name` about `subject` (a substring).
fn find<'a>(report: &'a Value, name: &str, subject: &str) -> Vec<&'a Value> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == name && c["subject"].as_str().unwrap_or("").contains(subject))
        .collect()
}

/// The status of the one check named `name` about `subject`, with the report on failure.
fn status(report: &Value, name: &str, subject: &str) -> String {
    let found = find(report, name, subject);
    assert!(
        !found.is_empty(),
        "no check {name:?} for {subject:?} in {report:#}"
    );
    // The worst of them.
    let mut worst = "ok".to_owned();
    for c in found {
        let s = c["status"].as_str().unwrap();
        if s == "failed" || (s == "warning" && worst == "ok") {
            worst = s.to_owned();
        }
        if s != "ok" {
            assert!(
                c["fix"].as_str().is_some_and(|f| !f.is_empty()),
                "every problem says what to do: {c:#}"
            );
        }
    }
    worst
}

fn failed(report: &Value) -> Vec<&Value> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "failed")
        .collect()
}

// ---- certificates ----

struct Ca {
    params: CertificateParams,
    key: KeyPair,
    der: Vec<u8>,
    pem_file: PathBuf,
}

/// A test CA (ECDSA P-256), written as PEM into `dir`.
fn ca(dir: &Path) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "dpost doctor test CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2100, 1, 1);
    let cert = params.self_signed(&key).unwrap();
    let pem_file = dir.join("ca.pem");
    std::fs::write(&pem_file, cert.pem()).unwrap();
    Ca {
        der: cert.der().to_vec(),
        params,
        key,
        pem_file,
    }
}

/// What a test certificate looks like.
#[derive(Clone)]
struct Leaf {
    serial: u64,
    rsa: bool,
    client_auth: bool,
    function_subject: bool,
    not_before: (i32, u8, u8),
    not_after: (i32, u8, u8),
    crl: Vec<String>,
    ocsp: Vec<String>,
}

impl Default for Leaf {
    fn default() -> Self {
        Leaf {
            serial: 1,
            rsa: true,
            client_auth: true,
            function_subject: true,
            // Valid in real time too: the simulator's mutual TLS checks it against the clock.
            not_before: (2020, 1, 1),
            not_after: (2100, 1, 1),
            crl: Vec::new(),
            ocsp: Vec::new(),
        }
    }
}

/// The AuthorityInfoAccess extension with OCSP responders (rcgen has no builder for it).
fn aia(ocsp: &[String]) -> CustomExtension {
    let oid_ocsp = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01];
    let mut descs = Vec::new();
    for u in ocsp {
        assert!(u.len() < 100, "short URLs keep the DER lengths one byte");
        let mut d = oid_ocsp.to_vec();
        d.push(0x86);
        d.push(u.len() as u8);
        d.extend(u.as_bytes());
        descs.push(0x30);
        descs.push(d.len() as u8);
        descs.extend(d);
    }
    let mut der = vec![0x30, descs.len() as u8];
    der.extend(descs);
    CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], der)
}

/// A leaf certificate issued by `ca`; its key in PKCS#8 DER and the certificate in DER.
fn leaf(ca: &Ca, spec: &Leaf) -> (Vec<u8>, Vec<u8>) {
    let key = if spec.rsa {
        let pem = std::fs::read_to_string(fixture("keys/server.key.pem")).unwrap();
        KeyPair::from_pem(&pem).unwrap()
    } else {
        KeyPair::generate().unwrap()
    };
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    if spec.function_subject {
        p.distinguished_name.push(
            DnType::CommonName,
            "dpost test system (funktionscertifikat)",
        );
        p.distinguished_name
            .push(DnType::OrganizationName, "Example A/S");
        p.distinguished_name.push(
            DnType::CustomDnType(vec![2, 5, 4, 5]),
            "CVR:12345678-FID:1700000000001",
        );
    } else {
        p.distinguished_name
            .push(DnType::CommonName, "www.example.dk");
    }
    p.serial_number = Some(SerialNumber::from_slice(&spec.serial.to_be_bytes()));
    p.not_before = rcgen::date_time_ymd(spec.not_before.0, spec.not_before.1, spec.not_before.2);
    p.not_after = rcgen::date_time_ymd(spec.not_after.0, spec.not_after.1, spec.not_after.2);
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![if spec.client_auth {
        ExtendedKeyUsagePurpose::ClientAuth
    } else {
        ExtendedKeyUsagePurpose::ServerAuth
    }];
    if !spec.crl.is_empty() {
        p.crl_distribution_points = vec![CrlDistributionPoint {
            uris: spec.crl.clone(),
        }];
    }
    if !spec.ocsp.is_empty() {
        p.custom_extensions.push(aia(&spec.ocsp));
    }
    let issuer = Issuer::from_params(&ca.params, &ca.key);
    let cert = p.signed_by(&key, &issuer).unwrap();
    (key.serialize_der(), cert.der().to_vec())
}

/// A `.p12` holding the leaf's key, the leaf and the CA, encrypted with `password`.
fn p12(ca: &Ca, spec: &Leaf, path: &Path, password: &str) {
    let (key, cert) = leaf(ca, spec);
    let chain = p12_keystore::PrivateKeyChain::new(
        spec.serial.to_be_bytes().to_vec(),
        p12_keystore::PrivateKey::from_der(&key).unwrap(),
        [
            p12_keystore::Certificate::from_der(&cert).unwrap(),
            p12_keystore::Certificate::from_der(&ca.der).unwrap(),
        ],
    );
    let mut ks = p12_keystore::KeyStore::new();
    ks.add_entry(
        "function certificate",
        p12_keystore::KeyStoreEntry::PrivateKeyChain(chain),
    );
    std::fs::write(path, ks.writer(password).write().unwrap()).unwrap();
}

fn password_file(dir: &Path, name: &str, password: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("{password}\n")).unwrap();
    p
}

// ---- loopback servers ----

/// An HTTP server answering 200 to everything: CRL and OCSP endpoints, and a public URL whose
/// /healthz answers.
async fn answering_server() -> SocketAddr {
    let app = axum::Router::new().fallback(|| async { "ok" });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The NgDP simulator over HTTPS, requiring client certificates issued by `client_ca`.
async fn mtls_sim(dir: &Path, client_ca: &Path) -> RunningNgdp {
    let messages = dir.join("sim-messages");
    std::fs::create_dir_all(&messages).unwrap();
    let config = NgdpConfig {
        messages_dir: messages,
        api_credentials: Some((SYSTEM.into(), TOKEN.into())),
        tls: Some(TlsFiles {
            cert: fixture("tls/server.cert.pem"),
            key: fixture("tls/server.key.pem"),
            client_ca: Some(client_ca.to_owned()),
        }),
        ..NgdpConfig::default()
    };
    NgdpSimulator::new(config, shared_runtime(), clock::system())
        .expect("sim loads")
        .start("127.0.0.1:0")
        .await
        .expect("sim listens")
}

/// A configuration: `systems` and `contact_points` are TOML for the test environment,
/// `extra` anything else.
fn write_config(
    dir: &Path,
    api_base: &str,
    systems: &str,
    contact_points: &str,
    extra: &str,
) -> PathBuf {
    let config = dir.join("dpost.toml");
    std::fs::write(
        &config,
        format!(
            r#"# written by tests/doctor.rs
[store]
path = "dpost.db"
[serve]
listen = "127.0.0.1:0"
public_ips = ["203.0.113.10", "203.0.113.11"]
[ngdp]
environment = "test"
mailboxes = ["standard", "post", "daycare"]
standard_mailbox = "standard"
[ngdp.test]
api_base = "{api_base}"
api_ca_file = "{ca}"
{systems}
{contact_points}
{extra}"#,
            ca = fixture("tls/ca.cert.pem").display()
        ),
    )
    .unwrap();
    config
}

fn system(id: &str, cert: &str, password_file: &str) -> String {
    format!(
        r#"
[[ngdp.test.systems]]
id = "{id}"
protocol = "push"
authorization = "Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0"
api_token = "{TOKEN}"
certificate = "{cert}"
certificate_password_file = "{password_file}"
"#
    )
}

fn contact_point(id: &str, mailbox: &str) -> String {
    format!(
        r#"
[[ngdp.test.contact_points]]
id = "{id}"
label = "Post"
audiences = ["citizens", "companies"]
mailbox = "{mailbox}"
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complete_test_environment_is_green() {
    let d = dir("green");
    let ca = ca(&d);
    let endpoints = answering_server().await;
    let good = Leaf {
        crl: vec![format!("http://{endpoints}/crl/test.crl")],
        ocsp: vec![format!("http://{endpoints}/ocsp")],
        ..Leaf::default()
    };
    p12(&ca, &good, &d.join("foces-test.p12"), PASSWORD);
    // Production has its own certificate (another serial): unique per environment.
    p12(
        &ca,
        &Leaf {
            serial: 2,
            ..good.clone()
        },
        &d.join("foces-production.p12"),
        PASSWORD,
    );
    password_file(&d, "cert.password", PASSWORD);
    let sim = mtls_sim(&d, &ca.pem_file).await;
    let production = format!(
        r#"
[[ngdp.production.systems]]
id = "{PROD_SYSTEM}"
protocol = "pull"
api_token = "production-token"
certificate = "foces-production.p12"
certificate_password_file = "cert.password"
"#
    );
    let config = write_config(
        &d,
        &format!("{}/apis/v1", sim.base_url()),
        &system(SYSTEM, "foces-test.p12", "cert.password"),
        &contact_point(CONTACT_POINT, "post"),
        &production,
    );
    let public = format!("http://{endpoints}");
    let (out, report) = doctor(&config, &["--public-url", &public]).await;
    assert!(failed(&report).is_empty(), "{report:#}");
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    for (name, subject) in [
        ("certificate opens", SYSTEM),
        ("RSA certificate", SYSTEM),
        ("validity", SYSTEM),
        ("key usage", SYSTEM),
        ("function certificate", SYSTEM),
        ("unique per environment", SYSTEM),
        ("DNS", "127.0.0.1"),
        ("TCP connection", "127.0.0.1"),
        ("mutual TLS", SYSTEM),
        ("CRL endpoint", "/crl/test.crl"),
        ("OCSP endpoint", "/ocsp"),
        ("listen address", "127.0.0.1:0"),
        ("system id", SYSTEM),
        ("API token", SYSTEM),
        ("authorization header", SYSTEM),
        ("receipt format", SYSTEM),
        ("contact point", CONTACT_POINT),
        ("contact points of the system", SYSTEM),
    ] {
        assert_eq!(
            status(&report, name, subject),
            "ok",
            "{name} {subject}: {report:#}"
        );
    }
    let format = &find(&report, "receipt format", SYSTEM)[0]["detail"];
    assert!(
        format.as_str().unwrap().contains("registered as MEMO"),
        "{format}"
    );
    let subject = &find(&report, "function certificate", SYSTEM)[0]["detail"];
    assert!(
        subject.as_str().unwrap().contains("CVR 12345678"),
        "{subject}"
    );
    // The public URL answers, but over plain HTTP: a warning, not a failure.
    assert_eq!(status(&report, "public URL", &public), "warning");

    // The human table: the guide's four steps, a mark per check.
    let human = run_dpost_async(args(&[
        "doctor",
        "--config",
        &config.display().to_string(),
        "--at",
        AT,
        "--timeout",
        "2s",
    ]))
    .await;
    let text = String::from_utf8_lossy(&human.stdout);
    assert_eq!(human.status.code(), Some(0), "{text}");
    for heading in [
        "1. Certificate",
        "2. Internet access",
        "3. Sender/receiver system",
        "4. Contact points",
    ] {
        assert!(text.contains(heading), "{heading}: {text}");
    }
    assert!(text.contains("✓ mutual TLS"), "{text}");

    // Production, with its own certificate, checked offline.
    let (out, report) = doctor(&config, &["--environment", "production", "--offline"]).await;
    assert_eq!(status(&report, "unique per environment", PROD_SYSTEM), "ok");
    assert_eq!(
        status(&report, "authorization header", PROD_SYSTEM),
        "ok",
        "pull systems need none"
    );
    // It has no contact point: replies would land in the standard mailbox.
    assert_eq!(
        status(&report, "contact points of the system", PROD_SYSTEM),
        "failed"
    );
    assert_eq!(out.status.code(), Some(1));
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_problems_fail_with_what_to_do() {
    let d = dir("certificates");
    let ca = ca(&d);
    let systems = [
        (
            "11111111-1111-4111-8111-111111111111",
            "expired",
            Leaf {
                serial: 11,
                not_before: (2020, 1, 1),
                not_after: (2030, 1, 1),
                ..Leaf::default()
            },
        ),
        (
            "22222222-2222-4222-8222-222222222222",
            "expiring",
            Leaf {
                serial: 12,
                not_after: (2030, 6, 20),
                ..Leaf::default()
            },
        ),
        (
            "33333333-3333-4333-8333-333333333333",
            "ec",
            Leaf {
                serial: 13,
                rsa: false,
                ..Leaf::default()
            },
        ),
        (
            "44444444-4444-4444-8444-444444444444",
            "server-only",
            Leaf {
                serial: 14,
                client_auth: false,
                ..Leaf::default()
            },
        ),
        (
            "55555555-5555-4555-8555-555555555555",
            "not-function",
            Leaf {
                serial: 15,
                function_subject: false,
                ..Leaf::default()
            },
        ),
        (
            "66666666-6666-4666-8666-666666666666",
            "wrong-password",
            Leaf {
                serial: 16,
                ..Leaf::default()
            },
        ),
    ];
    let mut toml = String::new();
    for (id, name, spec) in &systems {
        p12(&ca, spec, &d.join(format!("{name}.p12")), PASSWORD);
        let pw = if *name == "wrong-password" {
            "wrong.password"
        } else {
            "cert.password"
        };
        toml.push_str(&system(id, &format!("{name}.p12"), pw));
    }
    password_file(&d, "cert.password", PASSWORD);
    password_file(&d, "wrong.password", "not the access code");
    // A system whose password variable is unset, and one whose file is missing.
    toml.push_str(
        "\n[[ngdp.test.systems]]\nid = \"77777777-7777-4777-8777-777777777777\"\nprotocol = \"pull\"\napi_token = \"t\"\ncertificate = \"expired.p12\"\ncertificate_password_env = \"DPOST_DOCTOR_TEST_UNSET_VARIABLE\"\n\n[[ngdp.test.systems]]\nid = \"88888888-8888-4888-8888-888888888888\"\nprotocol = \"pull\"\napi_token = \"t\"\ncertificate = \"missing.p12\"\ncertificate_password_file = \"cert.password\"\n"
    );
    let config = write_config(
        &d,
        "https://127.0.0.1:9/apis/v1",
        &toml,
        &contact_point(CONTACT_POINT, "post"),
        "",
    );
    let (out, report) = doctor(&config, &["--offline"]).await;
    assert_eq!(out.status.code(), Some(1), "{report:#}");

    let (expired, expiring, ec, server_only, not_function, wrong) = (
        systems[0].0,
        systems[1].0,
        systems[2].0,
        systems[3].0,
        systems[4].0,
        systems[5].0,
    );
    assert_eq!(status(&report, "validity", expired), "failed");
    assert!(
        find(&report, "validity", expired)[0]["detail"]
            .as_str()
            .unwrap()
            .contains("expired on 2030-01-01")
    );
    assert_eq!(status(&report, "validity", expiring), "warning");
    assert!(
        find(&report, "validity", expiring)[0]["detail"]
            .as_str()
            .unwrap()
            .contains("19 days left")
    );
    assert_eq!(status(&report, "private key", ec), "failed");
    assert_eq!(status(&report, "RSA certificate", ec), "failed");
    assert_eq!(status(&report, "key usage", server_only), "failed");
    assert!(
        find(&report, "key usage", server_only)[0]["detail"]
            .as_str()
            .unwrap()
            .contains("clientAuth")
    );
    assert_eq!(
        status(&report, "function certificate", not_function),
        "warning"
    );
    assert_eq!(status(&report, "certificate opens", wrong), "failed");
    let wrong_check = find(&report, "certificate opens", wrong)[0];
    assert!(
        wrong_check["detail"]
            .as_str()
            .unwrap()
            .contains("wrong password"),
        "{wrong_check}"
    );
    assert!(
        wrong_check["location"]
            .as_str()
            .unwrap()
            .contains("dpost.toml:"),
        "{wrong_check}"
    );
    let unset = find(&report, "certificate opens", "77777777")[0];
    assert!(
        unset["detail"]
            .as_str()
            .unwrap()
            .contains("DPOST_DOCTOR_TEST_UNSET_VARIABLE"),
        "{unset}"
    );
    assert!(
        unset["fix"]
            .as_str()
            .unwrap()
            .contains("certificate_password_env"),
        "{unset}"
    );
    assert_eq!(status(&report, "certificate opens", "88888888"), "failed");
    // The good parts of the bad certificates still pass.
    assert_eq!(status(&report, "validity", ec), "ok");
    assert_eq!(status(&report, "function certificate", expired), "ok");
    // No network step offline.
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["step"] != "network")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_certificate_in_both_environments_fails() {
    let d = dir("shared");
    let ca = ca(&d);
    p12(&ca, &Leaf::default(), &d.join("foces.p12"), PASSWORD);
    // A byte-for-byte copy under another name is still the same certificate.
    std::fs::copy(d.join("foces.p12"), d.join("foces-copy.p12")).unwrap();
    password_file(&d, "cert.password", PASSWORD);
    let production = format!(
        "\n[[ngdp.production.systems]]\nid = \"{PROD_SYSTEM}\"\nprotocol = \"pull\"\napi_token = \"p\"\ncertificate = \"foces-copy.p12\"\ncertificate_password_file = \"cert.password\"\n"
    );
    let config = write_config(
        &d,
        "https://127.0.0.1:9/apis/v1",
        &system(SYSTEM, "foces.p12", "cert.password"),
        &contact_point(CONTACT_POINT, "post"),
        &production,
    );
    let (out, report) = doctor(&config, &["--offline"]).await;
    assert_eq!(
        status(&report, "unique per environment", SYSTEM),
        "failed",
        "{report:#}"
    );
    let c = find(&report, "unique per environment", SYSTEM)[0];
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("production environment uses the same certificate"),
        "{c}"
    );
    assert_eq!(out.status.code(), Some(1));
    let (_, report) = doctor(&config, &["--offline", "--environment", "production"]).await;
    assert_eq!(
        status(&report, "unique per environment", PROD_SYSTEM),
        "failed",
        "{report:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_endpoints_fail_quickly() {
    let d = dir("unreachable");
    let ca = ca(&d);
    let (api, crl, ocsp, public) = (closed_port(), closed_port(), closed_port(), closed_port());
    let spec = Leaf {
        crl: vec![format!("http://127.0.0.1:{crl}/test.crl")],
        ocsp: vec![format!("http://127.0.0.1:{ocsp}/ocsp")],
        ..Leaf::default()
    };
    p12(&ca, &spec, &d.join("foces.p12"), PASSWORD);
    password_file(&d, "cert.password", PASSWORD);
    // Something else holds the listen address.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap();
    let config = write_config(
        &d,
        &format!("https://127.0.0.1:{api}/apis/v1"),
        &system(SYSTEM, "foces.p12", "cert.password"),
        &contact_point(CONTACT_POINT, "post"),
        "",
    );
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("listen = \"127.0.0.1:0\"", &format!("listen = \"{taken}\"")),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let (out, report) = doctor(
        &config,
        &["--public-url", &format!("http://127.0.0.1:{public}")],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    assert_eq!(status(&report, "DNS", "127.0.0.1"), "ok");
    assert_eq!(
        status(&report, "TCP connection", &format!("127.0.0.1:{api}")),
        "failed"
    );
    let tcp = find(&report, "TCP connection", "127.0.0.1")[0];
    assert!(
        tcp["fix"]
            .as_str()
            .unwrap()
            .contains(&format!("outbound TCP port {api}")),
        "{tcp}"
    );
    assert!(
        find(&report, "mutual TLS", "").is_empty(),
        "no TLS attempt after a failed connection"
    );
    assert_eq!(
        status(&report, "CRL endpoint", &format!("127.0.0.1:{crl}")),
        "failed"
    );
    assert_eq!(
        status(&report, "OCSP endpoint", &format!("127.0.0.1:{ocsp}")),
        "failed"
    );
    assert_eq!(
        status(&report, "public URL", &format!("127.0.0.1:{public}")),
        "failed"
    );
    assert_eq!(
        status(&report, "listen address", &taken.to_string()),
        "failed"
    );
    // The certificate itself is fine.
    assert_eq!(status(&report, "validity", SYSTEM), "ok");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "probes run concurrently with short limits"
    );
    drop(holder);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_client_certificate_fails_mutual_tls() {
    let d = dir("refused");
    // The simulator trusts another CA than the one that issued the certificate.
    let ca = ca(&d);
    let other = ca_in(&d.join("other"));
    p12(&ca, &Leaf::default(), &d.join("foces.p12"), PASSWORD);
    password_file(&d, "cert.password", PASSWORD);
    let sim = mtls_sim(&d, &other.pem_file).await;
    let config = write_config(
        &d,
        &format!("{}/apis/v1", sim.base_url()),
        &system(SYSTEM, "foces.p12", "cert.password"),
        &contact_point(CONTACT_POINT, "post"),
        "",
    );
    let (out, report) = doctor(&config, &[]).await;
    assert_eq!(status(&report, "TCP connection", "127.0.0.1"), "ok");
    assert_eq!(
        status(&report, "mutual TLS", SYSTEM),
        "failed",
        "{report:#}"
    );
    let c = find(&report, "mutual TLS", SYSTEM)[0];
    assert!(
        c["fix"]
            .as_str()
            .unwrap()
            .contains("certificate registered for this system"),
        "{c}"
    );
    assert_eq!(out.status.code(), Some(1));
    sim.stop().await;
}

fn ca_in(dir: &Path) -> Ca {
    std::fs::create_dir_all(dir).unwrap();
    ca(dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_and_contact_point_problems_fail() {
    let d = dir("system");
    let systems = format!(
        r#"
[[ngdp.test.systems]]
id = "not-a-uuid"
protocol = "push"
authorization = "<authorization header from the portal>"

[[ngdp.test.systems]]
id = "{SYSTEM}"
protocol = "push"
authorization_env = "DPOST_DOCTOR_TEST_UNSET_AUTH"
api_token = "t0k3n-from-the-portal"
"#
    );
    let contact_points = format!(
        r#"
[[ngdp.test.contact_points]]
id = "{CONTACT_POINT}"
audiences = []
mailbox = "nursery"
system = "not-a-uuid"

[[ngdp.test.contact_points]]
id = "241d39f6-998e-4929-b198"
audiences = ["citizens"]
mailbox = "post"
system = "{PROD_SYSTEM}"
"#
    );
    let config = write_config(
        &d,
        "https://127.0.0.1:9/apis/v1",
        &systems,
        &contact_points,
        "",
    );
    let (out, report) = doctor(&config, &["--offline"]).await;
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    assert_eq!(status(&report, "system id", "not-a-uuid"), "failed");
    assert_eq!(
        status(&report, "authorization header", "not-a-uuid"),
        "failed"
    );
    assert_eq!(status(&report, "API token", "not-a-uuid"), "failed");
    assert_eq!(status(&report, "authorization header", SYSTEM), "failed");
    assert!(
        find(&report, "authorization header", SYSTEM)[0]["detail"]
            .as_str()
            .unwrap()
            .contains("DPOST_DOCTOR_TEST_UNSET_AUTH")
    );
    assert_eq!(status(&report, "API token", SYSTEM), "ok");
    assert_eq!(status(&report, "function certificate", SYSTEM), "failed");
    // The first contact point: unknown mailbox, no audience (its system is misspelt too, but it
    // names the first system's id exactly as written, so it counts for that one).
    let cp: Vec<&Value> = find(&report, "contact point", CONTACT_POINT);
    let details: Vec<&str> = cp.iter().map(|c| c["detail"].as_str().unwrap()).collect();
    assert!(
        details
            .iter()
            .any(|d| d.contains("\"nursery\" does not exist")),
        "{details:?}"
    );
    assert!(
        details.iter().any(|d| d.contains("open to no one")),
        "{details:?}"
    );
    assert!(
        cp.iter().all(|c| c["location"]
            .as_str()
            .unwrap()
            .contains("ngdp.test.contact_points[0]")),
        "{cp:?}"
    );
    // The second: a malformed GUID, and a system that is not configured.
    assert_eq!(
        status(&report, "contact point", "241d39f6-998e-4929-b198"),
        "failed"
    );
    // The second system has no contact point of its own: the missing contact point fails.
    assert_eq!(
        status(&report, "contact points of the system", SYSTEM),
        "failed"
    );
    let missing = find(&report, "contact points of the system", SYSTEM)[0];
    assert!(
        missing["detail"]
            .as_str()
            .unwrap()
            .contains("standard mailbox"),
        "{missing}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_config_init_every_failure_says_what_to_do() {
    let d = dir("init");
    let config = d.join("dpost.toml");
    let out = run_dpost_async(args(&["config", "init", &config.display().to_string()])).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("dpost doctor"));
    let (out, report) = doctor(&config, &["--offline"]).await;
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    let failures = failed(&report);
    let names: Vec<&str> = failures
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    // A fresh file lacks exactly what only the portal and MitID Erhverv can give.
    assert_eq!(names, ["function certificate", "API token"], "{report:#}");
    for f in failures {
        assert!(f["fix"].as_str().unwrap().len() > 20, "{f}");
    }
    assert_eq!(status(&report, "contact points of the system", ""), "ok");

    // A configuration that cannot be read is a usage error (2), not a failed check.
    std::fs::write(&config, "[ngdp\n").unwrap();
    let out = run_dpost_async(args(&["doctor", "--config", &config.display().to_string()])).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("dpost.toml:1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_dpost_async(args(&["doctor", "--environment", "staging"])).await;
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_values_are_what_to_type() {
    let d = dir("portal");
    let systems = format!(
        "\n[[ngdp.test.systems]]\nid = \"{}\"\nprotocol = \"push\"\nauthorization = \"Bearer x1\"\n\n[[ngdp.test.systems]]\nid = \"{PROD_SYSTEM}\"\nprotocol = \"pull\"\n",
        SYSTEM.to_uppercase()
    );
    let config = write_config(&d, "https://127.0.0.1:9/apis/v1", &systems, "", "");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(
            "[serve]\n",
            "[serve]\npublic_url = \"https://post.example.dk/\"\n",
        ),
    )
    .unwrap();
    let out = run_dpost_async(args(&[
        "portal",
        "values",
        "--config",
        &config.display().to_string(),
    ]))
    .await;
    let shown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains(&format!(
            "Message endpoint:  https://post.example.dk/api/MeMoV1/memos/?system-uuid={SYSTEM}\n"
        )),
        "{shown}"
    );
    assert!(
        shown.contains(&format!(
            "Receipt endpoint:  https://post.example.dk/api/MeMoV1/{SYSTEM}/receipt\n"
        )),
        "{shown}"
    );
    assert!(shown.contains("Protocol:          REST_PUSH"), "{shown}");
    assert!(shown.contains("Protocol:          REST_PULL"), "{shown}");
    // Receipts are JSON only with receipt format MEMO (the legacy DP/DP2 are not readable).
    assert_eq!(
        shown
            .matches("Receipt format:    MEMO (JSON receipts")
            .count(),
        2,
        "{shown}"
    );
    assert!(
        shown.contains("IP addresses:      203.0.113.10, 203.0.113.11"),
        "{shown}"
    );
    let out = run_dpost_async(args(&[
        "portal",
        "values",
        "--config",
        &config.display().to_string(),
        "--json",
        "--public-url",
        "https://other.example.dk",
    ]))
    .await;
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["systems"][0]["receipt_endpoint"],
        format!("https://other.example.dk/api/MeMoV1/{SYSTEM}/receipt")
    );
    assert_eq!(v["systems"][1]["protocol"], "REST_PULL");
    assert_eq!(v["systems"][1]["receipt_format"], "MEMO");
    assert!(v["systems"][1].get("message_endpoint").is_none());
    assert_eq!(v["public_ips"][1], "203.0.113.11");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_points_import_maps_mailboxes_with_a_dry_run() {
    let d = dir("import");
    let config = d.join("dpost.toml");
    let out = run_dpost_async(args(&["config", "init", &config.display().to_string()])).await;
    assert!(out.status.success());
    let before = std::fs::read_to_string(&config).unwrap();
    let csv = d.join("mapping.csv");
    std::fs::write(
        &csv,
        "mailbox,contact_point,label,audiences\n\
         post,0d6b9a52-1c7e-4b1e-9d1f-6f0b5f1e2a3c,Borgerservice,citizens\n\
         standard,5f2c1a9e-8b7d-4c6e-a5f4-3e2d1c0b9a8f,Virksomheder,companies;authorities\n",
    )
    .unwrap();
    let c = config.display().to_string();
    let s = csv.display().to_string();
    let out = run_dpost_async(args(&[
        "contact-points",
        "import",
        &s,
        "--config",
        &c,
        "--dry-run",
    ]))
    .await;
    let shown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{shown} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        shown.contains("+id = \"0d6b9a52-1c7e-4b1e-9d1f-6f0b5f1e2a3c\""),
        "{shown}"
    );
    assert!(shown.contains("dry run: nothing written"), "{shown}");
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        before,
        "a dry run writes nothing"
    );

    let out = run_dpost_async(args(&[
        "contact-points",
        "import",
        &s,
        "--config",
        &c,
        "--json",
    ]))
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["added"].as_u64(), v["written"].as_bool()),
        (Some(2), Some(true)),
        "{v}"
    );
    let after = std::fs::read_to_string(&config).unwrap();
    for line in before.lines().filter(|l| l.starts_with('#')) {
        assert!(after.contains(line), "comment kept: {line}");
    }
    let (_, report) = doctor(&config, &["--offline"]).await;
    assert_eq!(
        status(&report, "contact point", "0d6b9a52"),
        "ok",
        "{report:#}"
    );
    assert_eq!(
        status(&report, "contact point", "5f2c1a9e"),
        "ok",
        "{report:#}"
    );
    // Again: nothing changes.
    let out = run_dpost_async(args(&["contact-points", "import", &s, "--config", &c])).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 added, 0 updated, 2 unchanged"));

    // Mistakes are named by file, line and column, and nothing is written.
    std::fs::write(&csv, "mailbox,contact_point,audiences\nnursery,0d6b9a52-1c7e-4b1e-9d1f-6f0b5f1e2a3c,citizens\npost,12345,citizens\n").unwrap();
    let out = run_dpost_async(args(&["contact-points", "import", &s, "--config", &c])).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("mapping.csv:2: column mailbox: \"nursery\" is not an existing mailbox"),
        "{err}"
    );
    assert!(err.contains("mapping.csv:3: column contact_point"), "{err}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), after);
}
