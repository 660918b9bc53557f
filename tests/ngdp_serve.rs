//! `dpost serve` end to end on loopback: pushes as NgDP sends them, every refusal, routing,
//! duplicates, receipts both ways, and a crash in the middle of a burst.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dpost_tests::seeded::{Seeded, burst_content};
use dpost_tests::serve::{self, AUTH, SYSTEM, Server, client, count, show, start_sim, uuid};
use dpost_tests::*;

const DAYCARE: &str = "241d39f6-998e-4929-b198-ccacbbf4b330";

/// A configuration in a fresh folder: a 1 MB message limit and the daycare contact point
/// routed to its own mailbox; receipts go to a closed port unless the API base is changed.
fn config(name: &str) -> ConfigFile {
    serve::config(name)
        .max_message_bytes(1_000_000)
        .contact_point(DAYCARE, "daycare")
}

fn push_multipart(
    server: &Server,
    auth: Option<&str>,
    xml: Vec<u8>,
    uuid: &str,
) -> reqwest::blocking::Response {
    let part = reqwest::blocking::multipart::Part::bytes(xml)
        .file_name(format!("{uuid}.xml"))
        .mime_str("application/xml")
        .unwrap();
    let form = reqwest::blocking::multipart::Form::new().part("file", part);
    let mut r = client().post(server.messages_url()).multipart(form);
    if let Some(a) = auth {
        r = r.header("Authorization", a);
    }
    r.send().unwrap()
}

/// The minimum 1.2 fixture with a given UUID, recipient contact point and file content.
fn message(uuid: &str, contact_point: Option<&str>, content: &[u8]) -> Vec<u8> {
    serve::message_to(uuid, contact_point, content)
}

#[test]
fn stores_routes_and_answers_like_ngdp_expects() {
    let config = config("basic").write();
    let server = Server::start(&config);

    // A push to the daycare contact point, as multipart.
    let id = uuid(1);
    let content = b"%PDF-1.4 letter".to_vec();
    let r = push_multipart(
        &server,
        Some(AUTH),
        message(&id, Some(DAYCARE), &content),
        &id,
    );
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap_or_default());
    let stored = show(&config, &id).expect("stored");
    assert_eq!(stored["message"]["mailbox"], "daycare");
    assert_eq!(
        stored["message"]["routing_reason"]["reason"],
        "recipient-contact-point"
    );
    assert_eq!(
        stored["message"]["files"][0]["sha256"],
        sha256_hex(&content)
    );
    let dir = PathBuf::from(stored["message"]["dir"].as_str().unwrap());
    assert_eq!(stored_file(&config, &dir.join("files/0001")), content);

    // The same message again: 200, stored once.
    let r = push_multipart(
        &server,
        Some(AUTH),
        message(&id, Some(DAYCARE), &content),
        &id,
    );
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.json::<serde_json::Value>().unwrap()["duplicate"], true);
    assert_eq!(count(&config), 1);

    // Raw XML, unknown contact point: the standard mailbox, with the reason recorded.
    let other = uuid(2);
    let unknown_cp = "99999999-2222-4333-8444-555555555555";
    assert_eq!(
        server
            .post_xml(message(&other, Some(unknown_cp), b"x"))
            .status()
            .as_u16(),
        200
    );
    let stored = show(&config, &other).unwrap();
    assert_eq!(stored["message"]["mailbox"], "standard");
    assert_eq!(
        stored["message"]["routing_reason"]["reason"],
        "unknown-contact-point"
    );
    assert_eq!(
        stored["message"]["routing_reason"]["contact_points"][0],
        unknown_cp
    );

    // No contact point at all: standard, "no-contact-point".
    let third = uuid(3);
    assert_eq!(
        server
            .post_xml(message(&third, None, b"y"))
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        show(&config, &third).unwrap()["message"]["routing_reason"]["reason"],
        "no-contact-point"
    );

    // An invalid MeMo is stored (for an operator) and answered 200; its receipt is INVALID.
    let bad = uuid(4);
    let xml = String::from_utf8(message(&bad, None, b"z"))
        .unwrap()
        .replace("2211771212", "22117712");
    assert_eq!(server.post_xml(xml.into_bytes()).status().as_u16(), 200);
    let stored = show(&config, &bad).unwrap();
    assert_eq!(stored["message"]["valid"], false);
    assert!(
        stored["message"]["problems"]
            .to_string()
            .contains("invalid-cpr")
    );
}

#[test]
fn refuses_what_ngdp_must_resend_or_fix() {
    let config = config("refusals").max_message_bytes(4096).write();
    let server = Server::start(&config);
    let id = uuid(10);
    let ok = message(&id, None, b"x");

    assert_eq!(
        push_multipart(&server, None, ok.clone(), &id)
            .status()
            .as_u16(),
        401
    );
    assert_eq!(
        push_multipart(&server, Some("Bearer wrong"), ok.clone(), &id)
            .status()
            .as_u16(),
        401
    );
    let unknown = client()
        .post(format!(
            "{}/api/MeMoV1/memos/?system-uuid=00000000-0000-4000-8000-000000000000",
            server.url
        ))
        .header("Authorization", AUTH)
        .body(ok.clone())
        .send()
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
    assert_eq!(
        client()
            .post(format!("{}/elsewhere", server.url))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        404
    );

    // Over the limit, declared and streamed.
    let big = message(&uuid(11), None, &vec![7u8; 10_000]);
    assert_eq!(server.post_xml(big).status().as_u16(), 413);

    // Not a MeMo at all.
    assert_eq!(
        server
            .post_xml(b"garbage, not XML".to_vec())
            .status()
            .as_u16(),
        400
    );
    assert_eq!(
        server
            .post_xml(b"<?xml version=\"1.0\"?><other/>".to_vec())
            .status()
            .as_u16(),
        400
    );
    let r = push_multipart(&server, Some(AUTH), Vec::new(), &id);
    assert_eq!(r.status().as_u16(), 400);
    // A multipart body without a `file` part.
    let form = reqwest::blocking::multipart::Form::new().text("other", "x");
    let r = server.post_form(form);
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().unwrap().contains("no part named"));

    assert_eq!(count(&config), 0, "nothing refused is stored");
    assert_eq!(server.post_xml(ok).status().as_u16(), 200);

    let health = client()
        .get(format!("{}/healthz", server.url))
        .send()
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    // Metrics are on the API listener, never on the public one NgDP reaches.
    let public = client()
        .get(format!("{}/metrics", server.url))
        .send()
        .unwrap();
    assert_eq!(public.status().as_u16(), 404);
    let metrics = client()
        .get(format!("{}/metrics", server.api_url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("dpost_requests_rejected_total{outcome=\"wrong-authorization\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("dpost_messages_received_total{outcome=\"stored\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("dpost_receipts_pending"), "{metrics}");
}

#[test]
fn receipts_for_sent_messages_are_stored() {
    let config = config("receipts").write();
    let server = Server::start(&config);
    let url = format!("{}/api/MeMoV1/{SYSTEM}/receipt", server.url);
    let receipt = r#"{"transmissionId":"t-1","messageUUID":"aaaaaaaa-61fb-4ba9-9366-42f8b194c114","messageId":null,"errorCode":null,"errorMessage":null,"timeStamp":"2025-09-30T12:00:00Z","receiptStatus":"COMPLETED"}"#;
    let r = client()
        .post(&url)
        .header("Authorization", AUTH)
        .header("Content-Type", "application/json")
        .body(receipt)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap_or_default());
    // No member of NgDP's `Receipt` is required (OpenAPI 1.68.0): a receipt without
    // timeStamp, errorCode or even messageUUID is stored with warnings, never answered 400
    // (NgDP would push it again forever).
    for incomplete in [
        r#"{"messageUUID":"bbbbbbbb-61fb-4ba9-9366-42f8b194c114","receiptStatus":"INVALID"}"#,
        r#"{"transmissionId":"t-2","receiptStatus":"RECEIVED"}"#,
        r#"{"messageUUID":"cccccccc-61fb-4ba9-9366-42f8b194c114","receiptStatus":"LOST","timeStamp":7}"#,
    ] {
        let r = client()
            .post(&url)
            .header("Authorization", AUTH)
            .header("Content-Type", "application/json")
            .body(incomplete)
            .send()
            .unwrap();
        assert_eq!(
            r.status().as_u16(),
            200,
            "{incomplete}: {}",
            r.text().unwrap_or_default()
        );
    }
    let r = client()
        .post(&url)
        .header("Authorization", AUTH)
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = client().post(&url).body(receipt).send().unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

/// A toy NgDP API that records business receipts; fails the first `fail_first` with 503.
/// Returns its address, the receipts it took, and how many attempts it saw.
#[allow(clippy::type_complexity)]
fn toy_ngdp(
    fail_first: usize,
) -> (
    SocketAddr,
    Arc<Mutex<Vec<(String, String)>>>,
    Arc<Mutex<usize>>,
    tokio::runtime::Runtime,
) {
    use axum::extract::{Path as AxPath, State};
    type Shared = (Arc<Mutex<Vec<(String, String)>>>, Arc<Mutex<usize>>);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let attempts = Arc::new(Mutex::new(0usize));
    let state: Shared = (seen.clone(), attempts.clone());
    let app = axum::Router::new()
        .route(
            "/apis/v1/memos/{uuid}/receipt",
            axum::routing::post(
                move |State((seen, attempts)): State<Shared>,
                      AxPath(uuid): AxPath<String>,
                      body: String| async move {
                    let mut n = attempts.lock().unwrap();
                    *n += 1;
                    if *n <= fail_first {
                        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                    }
                    seen.lock().unwrap().push((uuid, body));
                    axum::http::StatusCode::OK
                },
            ),
        )
        .with_state(state);
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, seen, attempts, rt)
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn business_receipts_are_sent_once_and_the_outbox_resumes_after_a_restart() {
    let (addr, seen, attempts, _rt) = toy_ngdp(1);
    let config = config("outbox")
        .api_base(&format!("http://{addr}/apis/v1"))
        .write();
    let mut server = Server::start(&config);
    let id = uuid(20);
    assert_eq!(
        server.post_xml(message(&id, None, b"x")).status().as_u16(),
        200
    );
    // The first attempt fails (503); the retry is due 2 s later. Stop the service before it,
    // once the failure is recorded: killed between NgDP's answer and the record, the receipt
    // would stay claimed by the dead process for the claim's 180 s.
    wait_until("the first attempt", || *attempts.lock().unwrap() >= 1);
    wait_until("the first attempt recorded", || {
        dpost_tests::open_store(&config)
            .receipts_owed(0, 10, None, None)
            .is_ok_and(|r| r.first().is_some_and(|o| o.attempts >= 1))
    });
    server.kill();
    assert!(seen.lock().unwrap().is_empty());

    // A new process finds the pending receipt in the store and sends it, once.
    let server = Server::start(&config);
    wait_until("the receipt after the restart", || {
        !seen.lock().unwrap().is_empty()
    });
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, id);
    assert!(
        got[0].1.contains("\"receiptStatus\":\"COMPLETED\""),
        "{}",
        got[0].1
    );

    // A second message: its receipt goes; the first is never sent again.
    let second = uuid(21);
    assert_eq!(
        server
            .post_xml(message(&second, None, b"y"))
            .status()
            .as_u16(),
        200
    );
    wait_until("the second receipt", || seen.lock().unwrap().len() >= 2);
    std::thread::sleep(Duration::from_millis(1500));
    let got = seen.lock().unwrap().clone();
    assert_eq!(
        got.iter().map(|g| g.0.as_str()).collect::<Vec<_>>(),
        [id.as_str(), second.as_str()]
    );
}

/// Messages answered 200: id and document content.
type Acknowledged = Vec<(String, Vec<u8>)>;

/// Every acknowledged message is in the store once, its recorded SHA-256 and its file both
/// match what was sent. With `no_strays`, every message folder also belongs to a stored
/// message (a crash between moving a folder into place and the commit leaves one, never
/// acknowledged, until the sender's resend replaces it).
fn check_store(config: &Path, acknowledged: &[(String, Vec<u8>)], no_strays: bool) {
    let mut store = dpost_tests::open_store(config);
    let stored = store.ngdp_messages(None, false, u32::MAX).unwrap();
    let mut uuids: Vec<&str> = stored.iter().map(|m| m.uuid.as_str()).collect();
    uuids.sort_unstable();
    let before = uuids.len();
    uuids.dedup();
    assert_eq!(before, uuids.len(), "a message is stored twice");
    for (id, content) in acknowledged {
        let m = store
            .ngdp_message(id)
            .unwrap()
            .unwrap_or_else(|| panic!("{id} was answered 200 but is not stored"));
        assert_eq!(m.files.len(), 1, "{id}");
        assert_eq!(
            m.files[0].sha256,
            sha256_hex(content),
            "{id}: recorded SHA-256"
        );
        let mut on_disk = Vec::new();
        store
            .copy_file_to(&PathBuf::from(&m.dir).join(&m.files[0].path), &mut on_disk)
            .unwrap();
        assert_eq!(sha256_hex(&on_disk), sha256_hex(content), "{id}: the file");
    }
    drop(store);
    if !no_strays {
        return;
    }
    let folders = config.parent().unwrap().join("dpost.db.files/messages");
    for entry in std::fs::read_dir(folders).into_iter().flatten() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            uuids.binary_search(&name.as_str()).is_ok(),
            "folder {name} has no stored message"
        );
    }
}

/// Ten rounds of: a burst of pushes from four clients, `kill -9` at a seeded random moment,
/// a restart. After every restart, every message answered 200 so far is stored intact (its
/// recorded SHA-256 and its file match what was sent) and once; NgDP's resends of the
/// messages in flight at the kill are then taken (200), resends of acknowledged ones are
/// answered as duplicates, and no message folder is left without its message.
#[test]
fn kill_9_during_a_burst_loses_nothing_acknowledged() {
    let config = config("crash").write();
    let mut acknowledged: Acknowledged = Vec::new();
    let mut rng = Seeded(0x5EED_D905_7000_0007);
    let mut next = 100u32;
    for _round in 0..10u64 {
        let mut server = Server::start(&config);
        // After the restart: everything acknowledged so far is there, intact, once.
        check_store(&config, &acknowledged, true);
        let url = server.messages_url();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let acks: Arc<Mutex<Acknowledged>> = Arc::default();
        let unanswered: Arc<Mutex<Vec<u32>>> = Arc::default();
        // Resends of what earlier rounds acknowledged, mixed into the burst.
        let resend: Vec<(String, Vec<u8>)> = if acknowledged.is_empty() {
            Vec::new()
        } else {
            (0..4)
                .map(|_| acknowledged[rng.below(acknowledged.len() as u64) as usize].clone())
                .collect()
        };
        let mut workers = Vec::new();
        for w in 0..4u32 {
            let (url, stop, acks, unanswered) =
                (url.clone(), stop.clone(), acks.clone(), unanswered.clone());
            let base = next + w * 1000;
            let again = resend.get(w as usize).cloned();
            workers.push(std::thread::spawn(move || {
                let c = client();
                if let Some((id, content)) = again
                    && let Ok(r) = c
                        .post(&url)
                        .header("Authorization", AUTH)
                        .body(message(&id, None, &content))
                        .send()
                    && r.status().as_u16() == 200
                {
                    let answer: serde_json::Value = r.json().unwrap();
                    assert_eq!(answer["duplicate"], true, "{id} stored twice: {answer}");
                }
                for i in 0..200u32 {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let n = base + i;
                    let (id, content) = (uuid(n), burst_content(n));
                    let r = c
                        .post(&url)
                        .header("Authorization", AUTH)
                        .body(message(&id, None, &content))
                        .send();
                    match r {
                        Ok(r) if r.status().as_u16() == 200 => {
                            acks.lock().unwrap().push((id, content))
                        }
                        _ => unanswered.lock().unwrap().push(n),
                    }
                }
            }));
        }
        // Let the burst run for a seeded 100-700 ms, then kill without warning.
        std::thread::sleep(Duration::from_millis(100 + rng.below(600)));
        let _ = std::process::Command::new("kill")
            .args(["-9", &server.child.id().to_string()])
            .status();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for w in workers {
            w.join().unwrap();
        }
        server.kill();
        acknowledged.extend(acks.lock().unwrap().drain(..));

        // NgDP resends what got no 200 (in flight at the kill): a new process takes it.
        let server = Server::start(&config);
        check_store(&config, &acknowledged, false);
        let c = client();
        for n in unanswered.lock().unwrap().drain(..) {
            let (id, content) = (uuid(n), burst_content(n));
            let r = c
                .post(server.messages_url())
                .header("Authorization", AUTH)
                .body(message(&id, None, &content))
                .send()
                .unwrap();
            assert_eq!(r.status().as_u16(), 200, "{id}: {}", r.text().unwrap());
            acknowledged.push((id, content));
        }
        drop(server);
        next += 10_000;
    }
    assert!(
        acknowledged.len() > 10,
        "the bursts acknowledged next to nothing"
    );
    let _server = Server::start(&config);
    check_store(&config, &acknowledged, true);
    assert_eq!(
        count(&config),
        acknowledged.len(),
        "stored exactly what was acknowledged"
    );
}

#[test]
fn serves_https_when_given_a_certificate() {
    let config = config("tls").write();
    let mut text = std::fs::read_to_string(&config).unwrap();
    text = text.replace(
        "[serve]\n",
        &format!(
            "[serve]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
            fixture("keys/server.cert.pem").display(),
            fixture("keys/server.key.pem").display()
        ),
    );
    std::fs::write(&config, text).unwrap();
    let server = Server::start(&config);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    // The test certificate names no host; this test is about TLS being served, not trust.
    let tls_client = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let id = uuid(30);
    let r = tls_client
        .post(server.messages_url())
        .header("Authorization", AUTH)
        .body(message(&id, None, b"x"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(show(&config, &id).is_some());
    // Plain HTTP to the TLS port is refused.
    assert!(
        client()
            .post(server.messages_url().replace("https://", "http://"))
            .body("x")
            .send()
            .map(|r| r.status().as_u16() != 200)
            .unwrap_or(true)
    );
}

/// A folder of `n` distinct messages, some for the daycare contact point.
fn message_folder(name: &str, n: u32, first: u32) -> (PathBuf, Vec<String>) {
    let dir = scratch_dir(&format!("sim-messages-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ids: Vec<String> = (first..first + n).map(uuid).collect();
    for (i, id) in ids.iter().enumerate() {
        let cp = (i % 2 == 0).then_some(DAYCARE);
        std::fs::write(
            dir.join(format!("{i:03}.xml")),
            message(id, cp, format!("letter {id}").as_bytes()),
        )
        .unwrap();
    }
    (dir, ids)
}

#[test]
fn end_to_end_with_the_simulator_in_push_mode() {
    let config = config("e2e-push").write();
    let server = Server::start(&config);
    let (dir, ids) = message_folder("push", 12, 200);
    let target = server.messages_url();
    let mut sim = dpost_command()
        .args([
            "sim",
            "ngdp",
            "--messages",
            dir.to_str().unwrap(),
            "--target",
            &target,
            "--auth-header",
            AUTH,
        ])
        .args(["--initial-backoff-ms", "50", "--exit-when-done", "--json"])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        sim.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&sim.stdout)
    );
    let out = String::from_utf8_lossy(&std::mem::take(&mut sim.stdout)).into_owned();
    // The first line says where it listened; the JSON summary follows.
    let json_text: String = out.lines().skip(1).collect::<Vec<_>>().join("\n");
    let summary: serde_json::Value =
        serde_json::from_str(&json_text).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(count(&config), ids.len());
    for (i, id) in ids.iter().enumerate() {
        let m = show(&config, id).unwrap_or_else(|| panic!("{id} not stored"));
        assert_eq!(
            m["message"]["mailbox"],
            if i % 2 == 0 { "daycare" } else { "standard" },
            "{id}"
        );
    }
}

/// `dpost ngdp pull --system SYSTEM --json --config CONFIG`.
fn pull(config: &Path) -> Output {
    run_dpost([
        "ngdp",
        "pull",
        "--system",
        SYSTEM,
        "--json",
        "--config",
        config.to_str().unwrap(),
    ])
}

#[test]
fn end_to_end_with_the_simulator_in_pull_mode() {
    let (dir, ids) = message_folder("pull", 7, 300);
    let (mut sim, sim_url) = start_sim(&[
        "--messages",
        dir.to_str().unwrap(),
        "--system-id",
        SYSTEM,
        "--api-token",
        "token",
    ]);
    let config = config("e2e-pull")
        .api_base(&format!("{sim_url}/apis/v1"))
        .protocol("pull")
        .write();
    let out = pull(&config);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["stored"], 7, "{summary}");
    assert_eq!(summary["receipts_sent"], 7, "{summary}");
    assert_eq!(summary["deleted"], 7, "{summary}");
    assert_eq!(count(&config), 7);

    let status: serde_json::Value = client()
        .get(format!("{sim_url}/_sim/status"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(status["deleted"].as_array().unwrap().len(), 7, "{status}");
    let receipts = status["receipts_received"].as_array().unwrap();
    assert_eq!(receipts.len(), 7, "{status}");
    for id in &ids {
        assert!(
            receipts.iter().any(|r| r["receipt"]["messageUUID"]
                .as_str()
                .is_some_and(|u| u.eq_ignore_ascii_case(id))),
            "{id}"
        );
    }
    // Nothing is left; a second run does nothing and stores nothing twice.
    let again = pull(&config);
    let summary: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(summary["listed"], 0, "{summary}");
    assert_eq!(count(&config), 7);
    let _ = sim.kill();
    let _ = sim.wait();
}

#[test]
fn a_sent_message_gets_its_business_receipt_linked() {
    // dpost serve takes receipts; the simulator plays NgDP for the send and then pushes the
    // recipient system's COMPLETED receipt to serve's receipt endpoint.
    let config = config("sent-receipt").write();
    let server = Server::start(&config);
    let receipt_url = format!("{}/api/MeMoV1/{SYSTEM}/receipt", server.url);
    let empty = scratch_dir("sim-messages-none");
    let (mut sim, sim_url) = start_sim(&[
        "--messages",
        empty.to_str().unwrap(),
        "--receipt-target",
        &receipt_url,
        "--auth-header",
        AUTH,
        "--initial-backoff-ms",
        "50",
    ]);
    // The sending side's view of the same store, with NgDP's API at the simulator.
    let send_config = config.with_file_name("send.toml");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("http://127.0.0.1:9/apis/v1", &format!("{sim_url}/apis/v1"));
    std::fs::write(&send_config, text).unwrap();
    let id = uuid(400);
    let file = config.with_file_name("letter.xml");
    std::fs::write(&file, message(&id, None, b"a letter")).unwrap();
    let out = run_dpost([
        "ngdp",
        "send",
        "--system",
        SYSTEM,
        "--config",
        send_config.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = || {
        let out = run_dpost([
            "message",
            "status",
            &id,
            "--json",
            "--config",
            config.to_str().unwrap(),
        ]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or(serde_json::Value::Null)
    };
    wait_until("the business receipt", || {
        status()["receipts"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    });
    let s = status();
    assert_eq!(s["receipts"][0]["linked"], true, "{s}");
    assert_eq!(
        s["receipts"][0]["receipt"]["receiptStatus"], "COMPLETED",
        "{s}"
    );
    assert_eq!(s["sent"]["status"], "COMPLETED", "{s}");
    let _ = sim.kill();
    let _ = sim.wait();
}

#[test]
fn a_pull_system_fetches_the_receipts_for_what_it_sent() {
    let empty = scratch_dir("sim-messages-none");
    let (mut sim, sim_url) = start_sim(&[
        "--messages",
        empty.to_str().unwrap(),
        "--system-id",
        SYSTEM,
        "--api-token",
        "token",
    ]);
    let config = config("pull-receipts")
        .api_base(&format!("{sim_url}/apis/v1"))
        .protocol("pull")
        .write();
    let id = uuid(500);
    let file = config.with_file_name("letter.xml");
    std::fs::write(&file, message(&id, None, b"a letter")).unwrap();
    let run = |args: &[&str]| {
        dpost_command()
            .args(args)
            .args(["--config", config.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let out = run(&["ngdp", "send", "--system", SYSTEM, file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["ngdp", "pull", "--system", SYSTEM, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["receipts_stored"], 1, "{summary}");
    let status: serde_json::Value =
        serde_json::from_slice(&run(&["message", "status", &id, "--json"]).stdout).unwrap();
    assert_eq!(status["receipts"][0]["linked"], true, "{status}");
    assert_eq!(status["sent"]["status"], "COMPLETED", "{status}");
    // Deleted at NgDP once stored: the next pull finds none.
    let again: serde_json::Value =
        serde_json::from_slice(&run(&["ngdp", "pull", "--system", SYSTEM, "--json"]).stdout)
            .unwrap();
    assert_eq!(again["receipts_stored"], 0, "{again}");
    let _ = sim.kill();
    let _ = sim.wait();
}

/// One pull of a system at a time (issue 18): while another process holds the system's lease
/// (a `dpost serve` replica pulling it), `dpost ngdp pull` is refused, names the holder, and
/// asks NgDP nothing (its API here is a closed port: a pull that ran would fail otherwise).
#[test]
fn a_pull_is_refused_while_another_process_pulls_the_system() {
    let config = config("pull-leased").protocol("pull").write();
    // The configuration's store, on either backend.
    let text = std::fs::read_to_string(&config).unwrap();
    let location = match text.lines().find_map(|l| l.strip_prefix("url = \"")) {
        Some(url) => dpost::store::Location::parse(url.trim_end_matches('"')),
        None => dpost::store::Location::Sqlite(config.with_file_name("dpost.db")),
    };
    let mut store = dpost::store::Store::open_location(&location).unwrap();
    let now = dpost::clock::Clock::now_unix(&dpost::clock::SystemClock);
    let other = "replica-2:77:5e5e5e";
    let lease = format!("pull:{SYSTEM}");
    assert!(store.lease_acquire(&lease, other, now, now + 600).unwrap());
    let out = pull(&config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(other) && stderr.contains(SYSTEM),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    // Its lease is left alone.
    assert_eq!(store.lease(&lease).unwrap().unwrap().holder, other);
}

/// Issue 18: the same messageUUID pushed to two replicas on one store at the same moment is
/// stored once, with its bytes, and both answer 200 (one of them as a duplicate), as NgDP
/// resending through a load balancer would see it. Twenty messages, each pushed by four
/// threads at once, two at each replica.
#[test]
fn the_same_message_at_two_replicas_at_once_is_stored_once() {
    let first = config("two-at-once").write();
    let second = serve::second_replica(&first, "two-at-once-second");
    let (a, b) = (Server::start(&first), Server::start(&second));
    let urls = [a.messages_url(), b.messages_url()];
    let mut sent = Vec::new();
    for n in 0..20u32 {
        let (id, content) = (uuid(0x2a00 + n), burst_content(n));
        let start = Arc::new(std::sync::Barrier::new(4));
        let answers: Vec<serde_json::Value> = (0..4)
            .map(|t| {
                let (url, body, start) = (
                    urls[t % 2].clone(),
                    message(&id, None, &content),
                    start.clone(),
                );
                std::thread::spawn(move || {
                    let c = client();
                    start.wait();
                    let r = c
                        .post(&url)
                        .header("Authorization", AUTH)
                        .body(body)
                        .send()
                        .unwrap();
                    assert_eq!(r.status().as_u16(), 200, "{url}");
                    r.json::<serde_json::Value>().unwrap()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        let new = answers.iter().filter(|a| a["duplicate"] == false).count();
        assert_eq!(new, 1, "{id}: exactly one replica stored it: {answers:?}");
        sent.push((id, content));
    }
    drop((a, b));
    check_store(&first, &sent, false);
    assert_eq!(count(&first), sent.len(), "each stored once");
}
