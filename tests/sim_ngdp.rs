//! `dpost sim ngdp`: the simulated NgDP pushes messages and receipts to a toy receiving system
//! on loopback, resending until it answers 200, and serves NgDP's pull and receipt API.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use dpost::clock;
use dpost::sim::ngdp::push::RetryRule;
use dpost::sim::ngdp::{NgdpConfig, NgdpSimulator, RunningNgdp};
use dpost_tests::*;
use serde_json::{Value, json};

/// The UUID every fixture carries; tests give each copy its own.
const FIXTURE_UUID: &str = "8C2EA15D-61FB-4BA9-9366-42F8B194C114";
const AUTH: &str = "Bearer push-secret-123";

/// A fresh folder with one MeMo per UUID, named `NN-<fixture>.xml` so name order is UUID order.
fn messages_dir(name: &str, uuids: &[&str]) -> PathBuf {
    let dir = scratch_dir("sim-ngdp").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fixtures = [
        "MeMo_v1.2_Minimum_Example.xml",
        "MeMo_v1.1_Full_Example.xml",
        "MeMo_v1.2_Full_Example.xml",
    ];
    for (i, uuid) in uuids.iter().enumerate() {
        let fixture_name = fixtures[i % fixtures.len()];
        let xml = std::fs::read_to_string(fixture(&format!("memo/{fixture_name}"))).unwrap();
        std::fs::write(
            dir.join(format!("{i:02}-{fixture_name}")),
            xml.replace(FIXTURE_UUID, uuid),
        )
        .unwrap();
    }
    dir
}

fn retry(max_attempts: u32) -> RetryRule {
    RetryRule {
        max_attempts,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(40),
    }
}

async fn start(config: NgdpConfig) -> RunningNgdp {
    let sim = NgdpSimulator::new(config, shared_runtime(), clock::system()).expect("sim loads");
    sim.start("127.0.0.1:0").await.expect("sim listens")
}

/// What the toy receiving system saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    authorization: Option<String>,
    content_type: String,
    body: Vec<u8>,
    answered: u16,
}

/// A toy receiving system: fails the first `failures` requests for each file (keyed by the
/// multipart file name, or by the whole body for raw pushes) with `fail_status`, then 200.
#[derive(Default)]
struct Receiver {
    failures: u32,
    fail_status: u16,
    attempts: Mutex<HashMap<Vec<u8>, u32>>,
    seen: Mutex<Vec<Seen>>,
}

async fn receive(State(r): State<Arc<Receiver>>, request: Request) -> StatusCode {
    let headers: HeaderMap = request.headers().clone();
    let body: Bytes = axum::body::to_bytes(request.into_body(), 64 << 20)
        .await
        .unwrap();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let key = match multipart(&content_type, &body) {
        Some(part) => part.filename.into_bytes(),
        None => body.to_vec(),
    };
    let attempt = {
        let mut attempts = r.attempts.lock().unwrap();
        let n = attempts.entry(key).or_insert(0);
        *n += 1;
        *n
    };
    let status = if attempt <= r.failures {
        r.fail_status
    } else {
        200
    };
    r.seen.lock().unwrap().push(Seen {
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        content_type,
        body: body.to_vec(),
        answered: status,
    });
    StatusCode::from_u16(status).unwrap()
}

async fn start_receiver(failures: u32, fail_status: u16) -> (String, Arc<Receiver>) {
    let receiver = Arc::new(Receiver {
        failures,
        fail_status,
        ..Receiver::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new()
        .fallback(receive)
        .with_state(receiver.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (format!("http://{addr}"), receiver)
}

/// The single part of a `multipart/form-data` body.
#[derive(Debug)]
struct Part {
    name: String,
    filename: String,
    content_type: String,
    bytes: Vec<u8>,
}

fn multipart(content_type: &str, body: &[u8]) -> Option<Part> {
    let boundary = content_type
        .strip_prefix("multipart/form-data")?
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    let delimiter = format!("--{boundary}\r\n");
    let closing = format!("\r\n--{boundary}--");
    let start = find(body, delimiter.as_bytes())? + delimiter.len();
    let end = find(body, closing.as_bytes())?;
    let part = &body[start..end];
    let split = find(part, b"\r\n\r\n")?;
    let head = std::str::from_utf8(&part[..split]).ok()?;
    let attribute = |name: &str| {
        head.split(';')
            .find_map(|p| p.trim().strip_prefix(&format!("{name}=\"")))
            .and_then(|v| v.split('"').next())
            .map(str::to_owned)
    };
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("content-type:")
                .then(|| l[13..].trim().to_owned())
        })
        .unwrap_or_default();
    Some(Part {
        name: attribute("name")?,
        filename: attribute("filename")?,
        content_type,
        bytes: part[split + 4..].to_vec(),
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

const UUID_A: &str = "4b1b1f06-1b4e-4c9a-9f4e-0a1b2c3d4e01";
const UUID_B: &str = "4b1b1f06-1b4e-4c9a-9f4e-0a1b2c3d4e02";
const UUID_C: &str = "4b1b1f06-1b4e-4c9a-9f4e-0a1b2c3d4e03";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_resends_until_200_as_multipart_named_after_the_uuid() {
    let dir = messages_dir("push-multipart", &[UUID_A, UUID_B, UUID_C]);
    let (base, receiver) = start_receiver(2, 503).await;
    let target =
        format!("{base}/api/MeMoV1/memos/?system-uuid=11111111-2222-4333-8444-555555555555");
    let running = start(NgdpConfig {
        messages_dir: dir.clone(),
        target: Some(target),
        push_authorization: Some(AUTH.into()),
        retry: retry(5),
        concurrency: 2,
        ..NgdpConfig::default()
    })
    .await;
    let summary = running.simulator.push_all().await;
    assert!(summary.all_done(), "{summary:?}");
    assert_eq!(summary.messages.len(), 3);
    for (record, uuid) in summary.messages.iter().zip([UUID_A, UUID_B, UUID_C]) {
        assert_eq!(record.uuid.as_deref(), Some(uuid));
        assert_eq!(record.attempts, 3, "{record:?}");
        assert_eq!(record.last_status, Some(200));
        assert!(record.done && !record.exhausted);
    }

    let seen = receiver.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 9, "three attempts for each of three messages");
    let delivered: Vec<&Seen> = seen.iter().filter(|s| s.answered == 200).collect();
    assert_eq!(delivered.len(), 3);
    for (file, uuid) in files_in(&dir).iter().zip([UUID_A, UUID_B, UUID_C]) {
        let expected = std::fs::read(file).unwrap();
        let matching: Vec<Part> = delivered
            .iter()
            .filter_map(|s| multipart(&s.content_type, &s.body))
            .filter(|p| p.filename == format!("{uuid}.xml"))
            .collect();
        assert_eq!(matching.len(), 1, "{uuid} delivered exactly once");
        let part = &matching[0];
        assert_eq!(part.name, "file");
        assert_eq!(part.content_type, "application/xml");
        assert!(part.bytes == expected, "the part holds the file's bytes");
    }
    assert!(
        seen.iter()
            .all(|s| s.authorization.as_deref() == Some(AUTH))
    );

    // The status endpoint shows the same.
    let status: Value = reqwest::get(format!("{}/_sim/status", running.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["messages"][1]["uuid"], UUID_B);
    assert_eq!(status["messages"][1]["attempts"], 3);
    assert_eq!(status["messages"][1]["last_status"], 200);
    assert_eq!(status["messages"][1]["done"], true);
    assert_eq!(
        status["messages"][1]["file"],
        "01-MeMo_v1.1_Full_Example.xml"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_push_sends_the_xml_as_the_body() {
    let dir = messages_dir("push-raw", &[UUID_A]);
    // A file without a readable header keeps its stem as its id and is pushed all the same.
    std::fs::write(dir.join("zz-broken.xml"), "not a MeMo").unwrap();
    let (base, receiver) = start_receiver(0, 503).await;
    let running = start(NgdpConfig {
        messages_dir: dir.clone(),
        target: Some(format!("{base}/api/MeMoV1/memos/?system-uuid=x")),
        push_authorization: Some(AUTH.into()),
        raw: true,
        retry: retry(2),
        ..NgdpConfig::default()
    })
    .await;
    let summary = running.simulator.push_all().await;
    assert!(summary.all_done());
    assert_eq!(summary.messages[0].attempts, 1);
    assert_eq!(summary.messages[1].uuid.as_deref(), Some("zz-broken"));
    let mut seen = receiver.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    seen.sort_by_key(|s| s.body.len());
    assert_eq!(seen[0].body, b"not a MeMo");
    assert_eq!(seen[1].content_type, "application/xml");
    assert!(seen[1].body == std::fs::read(&files_in(&dir)[0]).unwrap());
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_target_exhausts_the_attempts() {
    let dir = messages_dir("push-unreachable", &[UUID_A]);
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let running = start(NgdpConfig {
        messages_dir: dir,
        target: Some(format!("http://127.0.0.1:{port}/api/MeMoV1/memos/")),
        push_authorization: Some(AUTH.into()),
        retry: retry(3),
        ..NgdpConfig::default()
    })
    .await;
    let summary = running.simulator.push_all().await;
    assert!(!summary.all_done());
    let r = &summary.messages[0];
    assert_eq!((r.attempts, r.done, r.exhausted), (3, false, true));
    assert_eq!(r.last_status, None);
    assert!(r.last_error.is_some());
    running.stop().await;
}

fn basic(system: &str, token: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{system}:{token}"))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_api_pages_serves_exact_bytes_and_deletes() {
    let dir = messages_dir("pull", &[UUID_A, UUID_B, UUID_C]);
    let running = start(NgdpConfig {
        messages_dir: dir.clone(),
        api_credentials: Some(("sys-1".into(), "token-1".into())),
        ..NgdpConfig::default()
    })
    .await;
    let api = format!("{}/apis/v1/memos", running.base_url());
    let auth = basic("sys-1", "token-1");
    let http = reqwest::Client::new();
    let get = |url: String| http.get(url).header("Authorization", &auth).send();
    // A listing page (`query` after `memos/`), as JSON.
    let page_of = async |query: &str| -> Value {
        get(format!("{api}/{query}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    };

    // NgDP's PagingResultUUID (OpenAPI 1.68.0, ListAvailableMemos).
    let page = page_of("?page=0&size=2").await;
    assert_eq!(
        page,
        json!({"content": [UUID_A, UUID_B], "number": 0, "size": 2, "previous": null,
               "next": {"page": 1, "size": 2, "ordering": []},
               "totalElements": 3, "totalPages": 2})
    );
    let page = page_of("?page=1&size=2").await;
    assert_eq!(
        page,
        json!({"content": [UUID_C], "number": 1, "size": 2,
               "previous": {"page": 0, "size": 2, "ordering": []}, "next": null,
               "totalElements": 3, "totalPages": 2})
    );
    let page = page_of("").await;
    assert_eq!(page["size"], 50);
    assert_eq!(page["totalElements"], 3);
    for bad in ["size=0", "size=501", "page=x"] {
        let r = get(format!("{api}/?{bad}")).await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "INVALID_PARAMETER");
        assert!(body["fieldErrors"].is_array(), "{body}");
    }

    // GET answers the file's exact bytes, as XML; UUIDs compare without case.
    let r = get(format!("{api}/{}", UUID_B.to_uppercase()))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/xml");
    let bytes = r.bytes().await.unwrap();
    assert!(bytes == std::fs::read(&files_in(&dir)[1]).unwrap());
    let unknown = "00000000-0000-4000-8000-000000000000";
    assert_eq!(get(format!("{api}/{unknown}")).await.unwrap().status(), 404);

    // DELETE removes from the listing; a second DELETE and a GET answer 404.
    let delete = |uuid: &str| {
        http.delete(format!("{api}/{uuid}"))
            .header("Authorization", &auth)
            .send()
    };
    assert_eq!(delete(UUID_A).await.unwrap().status(), 204);
    assert_eq!(delete(UUID_A).await.unwrap().status(), 404);
    assert_eq!(delete(unknown).await.unwrap().status(), 404);
    assert_eq!(get(format!("{api}/{UUID_A}")).await.unwrap().status(), 404);
    let page = page_of("?page=0&size=2").await;
    assert_eq!(page["content"], json!([UUID_B, UUID_C]));
    assert_eq!(page["totalElements"], 2);

    // Credentials: missing or wrong answer 401.
    let r = http.get(format!("{api}/")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .get(format!("{api}/"))
        .header("Authorization", basic("sys-1", "wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let status: Value = reqwest::get(format!("{}/_sim/status", running.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["deleted"], json!([UUID_A]));
    assert_eq!(
        status["messages"],
        json!([]),
        "nothing pushed without a target"
    );
    running.stop().await;
}

fn receipt_json(uuid: &str) -> String {
    json!({
        "transmissionId": "9f0c2a8e-5d7b-4e1a-8c3f-6b2d1e0a9c77",
        "messageUUID": uuid,
        "messageId": "MSG-1",
        "errorCode": null,
        "errorMessage": null,
        "timeStamp": "2025-09-30T12:00:00Z",
        "receiptStatus": "COMPLETED",
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_are_checked_and_kept() {
    let dir = messages_dir("receipts-in", &[UUID_A]);
    let running = start(NgdpConfig {
        messages_dir: dir,
        ..NgdpConfig::default()
    })
    .await;
    let http = reqwest::Client::new();
    let post = |uuid: &str, body: String, auth: bool| {
        let mut r = http
            .post(format!(
                "{}/apis/v1/memos/{uuid}/receipt",
                running.base_url()
            ))
            .header("Content-Type", "application/json")
            .body(body);
        if auth {
            r = r.header("Authorization", basic("any", "thing"));
        }
        r.send()
    };
    assert_eq!(
        post(UUID_A, receipt_json(UUID_A), true)
            .await
            .unwrap()
            .status(),
        200
    );
    // Not JSON: 400 with a JSON error.
    let r = post(UUID_A, "{not json".into(), true).await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "INVALID_RECEIPT");
    assert!(
        body["message"].as_str().unwrap().starts_with("not JSON"),
        "{body}"
    );
    // A receipt for another message than the path names.
    let r = post(UUID_A, receipt_json(UUID_B), true).await.unwrap();
    assert_eq!(r.status(), 400);
    // No Authorization.
    let r = post(UUID_A, receipt_json(UUID_A), false).await.unwrap();
    assert_eq!(r.status(), 401);

    let status: Value = reqwest::get(format!("{}/_sim/status", running.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let received = status["receipts_received"].as_array().unwrap();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["uuid"], UUID_A);
    assert_eq!(received[0]["known"], true);
    assert_eq!(
        received[0]["receipt"],
        serde_json::from_str::<Value>(&receipt_json(UUID_A)).unwrap()
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipt_files_are_pushed_with_retries() {
    let dir = messages_dir("receipts-out-messages", &[]);
    let receipts = scratch_dir("sim-ngdp").join("receipts-out");
    let _ = std::fs::remove_dir_all(&receipts);
    std::fs::create_dir_all(&receipts).unwrap();
    std::fs::write(receipts.join("a.json"), receipt_json(UUID_A)).unwrap();
    std::fs::write(receipts.join("ignored.txt"), "not a receipt").unwrap();
    let (base, receiver) = start_receiver(1, 500).await;
    let running = start(NgdpConfig {
        messages_dir: dir,
        receipt_target: Some(format!("{base}/api/MeMoV1/sys-1/receipt")),
        receipts_dir: Some(receipts),
        push_authorization: Some(AUTH.into()),
        retry: retry(3),
        ..NgdpConfig::default()
    })
    .await;
    let summary = running.simulator.push_all().await;
    assert!(summary.all_done(), "{summary:?}");
    assert!(summary.messages.is_empty());
    assert_eq!(summary.receipts.len(), 1);
    assert_eq!(summary.receipts[0].file, "a.json");
    assert_eq!(summary.receipts[0].attempts, 2);
    let seen = receiver.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let last = &seen[1];
    assert_eq!(last.answered, 200);
    assert_eq!(last.content_type, "application/json");
    assert_eq!(last.authorization.as_deref(), Some(AUTH));
    assert_eq!(last.body, receipt_json(UUID_A).into_bytes());
    running.stop().await;
}

fn cli_args(dir: &Path, target: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "sim",
        "ngdp",
        "--listen",
        "127.0.0.1:0",
        "--messages",
        dir.to_str().unwrap(),
        "--target",
        target,
        "--auth-header",
        AUTH,
        "--initial-backoff-ms",
        "5",
        "--exit-when-done",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_exits_1_when_a_push_exhausts_its_attempts() {
    let dir = messages_dir("cli-fail", &[UUID_A]);
    let (base, receiver) = start_receiver(u32::MAX, 500).await;
    let target = format!("{base}/api/MeMoV1/memos/?system-uuid=x");
    let out = run_dpost_async(cli_args(&dir, &target, &["--max-attempts", "3", "--json"])).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (first, rest) = stdout.split_once('\n').unwrap();
    assert!(
        first.starts_with("listening on http://127.0.0.1:"),
        "{first}"
    );
    let summary: Value = serde_json::from_str(rest).unwrap();
    assert_eq!(summary["ok"], false);
    assert_eq!(summary["messages"][0]["uuid"], UUID_A);
    assert_eq!(summary["messages"][0]["attempts"], 3);
    assert_eq!(summary["messages"][0]["last_status"], 500);
    assert_eq!(summary["messages"][0]["exhausted"], true);
    assert_eq!(receiver.seen.lock().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_exits_0_when_everything_is_delivered() {
    let dir = messages_dir("cli-ok", &[UUID_A, UUID_B]);
    let (base, _receiver) = start_receiver(1, 503).await;
    let target = format!("{base}/api/MeMoV1/memos/?system-uuid=x");
    let out = run_dpost_async(cli_args(&dir, &target, &[])).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("listening on http://127.0.0.1:"));
    assert!(
        stdout.contains(&format!(
            "message 00-MeMo_v1.2_Minimum_Example.xml {UUID_A}: delivered after 2 attempt(s), last HTTP 200"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("2/2 messages and 0/0 receipts delivered"),
        "{stdout}"
    );
}

fn tls_client(identity: Option<&str>) -> reqwest::Client {
    let ca = std::fs::read(fixture("tls/ca.cert.pem")).unwrap();
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap());
    if let Some(name) = identity {
        let mut pem = std::fs::read(fixture(&format!("tls/{name}.cert.pem"))).unwrap();
        pem.extend(std::fs::read(fixture(&format!("tls/{name}.key.pem"))).unwrap());
        builder = builder.identity(reqwest::Identity::from_pem(&pem).unwrap());
    }
    builder.build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_mutual_tls_requires_a_client_certificate_from_the_ca() {
    let dir = messages_dir("tls", &[UUID_A]);
    let tls = |client_ca: Option<PathBuf>| dpost::sim::ngdp::tls::TlsFiles {
        cert: fixture("tls/server.cert.pem"),
        key: fixture("tls/server.key.pem"),
        client_ca,
    };
    let running = start(NgdpConfig {
        messages_dir: dir.clone(),
        tls: Some(tls(Some(fixture("tls/ca.cert.pem")))),
        ..NgdpConfig::default()
    })
    .await;
    let base = running.base_url();
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let list = format!("{base}/apis/v1/memos/");
    let r = tls_client(Some("client"))
        .get(&list)
        .header("Authorization", basic("s", "t"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["content"], json!([UUID_A]));
    for refused in [None, Some("stranger")] {
        let r = tls_client(refused).get(&list).send().await;
        assert!(r.is_err(), "{refused:?} must be refused: {r:?}");
    }
    running.stop().await;

    // Without a client CA, plain HTTPS.
    let running = start(NgdpConfig {
        messages_dir: dir,
        tls: Some(tls(None)),
        ..NgdpConfig::default()
    })
    .await;
    let r = tls_client(None)
        .get(format!("{}/_sim/status", running.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    running.stop().await;
}
