//! Digipost conformance: the client and the simulator held to fixtures written from the
//! published sources (`tests/conformance/digipost/`, each naming its source), never to each
//! other (issue 13).
//!
//! (a) The real client's sync runs against [`Replay`] servers that answer from the fixtures:
//!     one for the API, one for the content host (another origin). Signed answers are signed
//!     here, with the test server key over a canonical string built in this file from the
//!     Java client's rule, not by dpost's component, so a client that builds it wrongly
//!     fails. Every request must conform to its fixture and every fixture be used.
//! (b) Each fixture's request is sent to the simulator, whose answer must have the fixture's
//!     status and shape.
//!
//! In fixture bodies and headers, `{base}` stands for the API's origin, `{content}` for the
//! content host's, and `{date}` for the request's `Date`. A fixture response's `"signed":
//! false` means the service answers it without a signature.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};

use dpost::clock::{Clock, SystemClock};
use dpost::digipost::client::{ClientError, ClientOptions, DigipostClient};
use dpost::digipost::retry::RetryPolicy;
use dpost::digipost::signing::{self as dsign, Request};
use dpost::digipost::sync::{self, SyncOptions};
use dpost::keystore::{PasswordSource, PrivateKey};
use dpost::runtime::InstancePool;
use dpost::sim::digipost::{Simulator, SimulatorConfig, Variants};
use dpost::store::Store;
use dpost_guest::digipost::error_body::parse_error_body;
use dpost_guest::digipost::inbox::parse_inbox;
use dpost_tests::inbox_data::{self, BROKER, SENDER};
use dpost_tests::replay::{Exchange, Recorded, Replay, Responder, fixtures};
use dpost_tests::*;
use serde_json::Value;

/// The headers a Digipost signature covers, as the Java client's ResponseMessageSignatureUtil
/// lists them (compared in lower case, signed sorted by name).
const SIGNED_HEADERS: [&str; 4] = [
    "content-md5",
    "date",
    "x-content-sha256",
    "x-digipost-userid",
];

fn fixture_named(prefix: &str) -> Exchange {
    fixtures("digipost")
        .into_iter()
        .find(|e| {
            e.file
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .unwrap_or_else(|| panic!("no fixture {prefix}*"))
}

fn is_content_host(e: &Exchange) -> bool {
    e.path().starts_with("/documents/")
}

fn signed(e: &Exchange) -> bool {
    e.response
        .get("signed")
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

/// Fill `{base}`, `{content}` and `{date}` in.
fn fill(text: &str, base: &str, content: &str, date: &str) -> String {
    text.replace("{base}", base)
        .replace("{content}", content)
        .replace("{date}", date)
}

/// Answers from the fixtures, signed as Digipost signs (digipost-docs f5b24ff security.rst §4.1
/// and the Java client's canonical response string), computed here independently of dpost.
fn responder(base: Arc<OnceLock<String>>, content: String) -> Box<Responder> {
    let key = server_key();
    Box::new(move |req: &Recorded, ex: &Exchange| {
        let base = base.get().cloned().unwrap_or_default();
        let date = req.header("date").unwrap_or_default().to_owned();
        let body = fill(
            &String::from_utf8_lossy(&ex.response_body()),
            &base,
            &content,
            &date,
        )
        .into_bytes();
        let mut headers: Vec<(String, String)> = ex
            .response_headers()
            .into_iter()
            .map(|(k, v)| (k, fill(&v, &base, &content, &date)))
            .collect();
        if signed(ex) {
            headers.push((
                "Date".into(),
                dpost_guest::http_date::format(SystemClock.now_unix()),
            ));
            if !body.is_empty() {
                headers.push((
                    "X-Content-SHA256".into(),
                    STANDARD.encode(Sha256::digest(&body)),
                ));
            }
            let mut covered: Vec<(String, String)> = headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .filter(|(k, _)| SIGNED_HEADERS.contains(&k.as_str()))
                .collect();
            covered.sort();
            let mut canonical = format!("{}\n{}\n", ex.status(), req.path.to_lowercase());
            for (k, v) in covered {
                canonical.push_str(&format!("{k}: {v}\n"));
            }
            let signature = key
                .sign_pkcs1_sha256(canonical.as_bytes())
                .expect("the test server key signs");
            headers.push(("X-Digipost-Signature".into(), STANDARD.encode(signature)));
        }
        (ex.status(), headers, body)
    })
}

fn broker_key() -> PrivateKey {
    PrivateKey::load(&fixture("keys/broker.pkcs1.pem"), &PasswordSource::None)
        .expect("broker key loads")
}

fn client(base: &str, key: PrivateKey) -> Arc<DigipostClient> {
    let pool = Arc::new(InstancePool::new(
        shared_runtime(),
        keystore_with("broker", key),
    ));
    let options = ClientOptions {
        base_url: base.into(),
        broker_id: BROKER.into(),
        key_name: "broker".into(),
        request_timeout: Duration::from_secs(20),
        // A retry would ask a fixture twice; every answer here is final.
        retry: RetryPolicy::new(
            0,
            Duration::from_millis(1),
            Duration::from_millis(1),
            Some(1),
        ),
    };
    Arc::new(DigipostClient::new(options, pool, Arc::new(SystemClock)).expect("client"))
}

fn store(name: &str) -> Arc<Mutex<Store>> {
    let path = scratch_dir("conformance-digipost").join(format!("{name}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Arc::new(Mutex::new(Store::open(&path).expect("store opens")))
}

/// (a) A whole sync with deletes, against the fixtures: the 76-column entrypoint unsigned,
/// an inbox with absolute URIs, links (one without rel) and a signed X-Digipost-UserId, a
/// signed and an unsigned 307 to another host, a 200 delete and a 404 GENERAL_ERROR delete.
#[test]
fn the_client_speaks_the_published_protocol() {
    let all = fixtures("digipost");
    let content_host = Replay::start_with(
        all.iter().filter(|e| is_content_host(e)).cloned().collect(),
        Some(responder(Arc::new(OnceLock::new()), String::new())),
    );
    let base = Arc::new(OnceLock::new());
    let api_script: Vec<Exchange> = all
        .iter()
        .filter(|e| !is_content_host(e) && e.status() != 403)
        .cloned()
        .collect();
    let api = Replay::start_with(
        api_script,
        Some(responder(base.clone(), content_host.base.clone())),
    );
    base.set(api.base.clone()).expect("set once");

    let tokio = tokio::runtime::Runtime::new().unwrap();
    let client = tokio.block_on(async { client(&api.base, broker_key()) });
    let options = SyncOptions {
        delete_after_archive: true,
        ..SyncOptions::new(SENDER.to_string())
    };
    let store = store("sync");
    let report = tokio
        .block_on(sync::sync(
            client,
            store.clone(),
            Arc::new(SystemClock),
            &options,
            &|_| {},
        ))
        .unwrap_or_else(|e| {
            panic!(
                "sync against the fixtures: {e}\n{:?}\n{:?}",
                api.mismatches(),
                content_host.mismatches()
            )
        });
    api.assert_conformed(true);
    content_host.assert_conformed(true);
    assert_eq!(
        (
            report.listed,
            report.archived,
            report.deleted,
            report.failed,
            report.unsigned_redirects
        ),
        (2, 2, 2, 0, 1),
        "{report:?}"
    );
    let archived = store.lock().unwrap().digipost_all(SENDER).unwrap();
    assert_eq!(archived.len(), 3, "two documents and an attachment");
    for doc in &archived {
        assert_eq!(
            doc.content,
            format!("%PDF-1.4 document {}\n", doc.id).into_bytes()
        );
        assert!(doc.deleted_remotely_at.is_some() || doc.parent_id.is_some());
    }
    let unsigned = store
        .lock()
        .unwrap()
        .digipost_get(SENDER, 100001)
        .unwrap()
        .unwrap();
    assert_eq!(unsigned.metadata["redirect_signed"], false);
}

/// (a) A bad signature: 403 GENERAL_ERROR with the echo, read as a rejected signature.
#[test]
fn the_client_reads_the_documented_signature_rejection() {
    let base = Arc::new(OnceLock::new());
    let api = Replay::start_with(
        vec![fixture_named("01-"), fixture_named("11-")],
        Some(responder(base.clone(), String::new())),
    );
    base.set(api.base.clone()).expect("set once");
    let tokio = tokio::runtime::Runtime::new().unwrap();
    let client = tokio.block_on(async { client(&api.base, broker_key()) });
    let err = tokio
        .block_on(client.list(&SENDER.to_string(), None, None))
        .unwrap_err();
    api.assert_conformed(true);
    match err {
        ClientError::SignatureRejected { server, ours, .. } => {
            assert_eq!(server, ours, "the echo holds the request's own string");
            assert!(server.starts_with("GET\n/1000/inbox\ndate: "), "{server:?}");
        }
        other => panic!("expected a rejected signature, got {other:?}"),
    }
}

/// A request as dpost sends it: the fixture's method, path and query, signed with `key`.
fn signed_request(
    http: &reqwest::Client,
    base: &str,
    ex: &Exchange,
    key: PrivateKey,
) -> reqwest::RequestBuilder {
    let query: Vec<String> = ex
        .request
        .get("query")
        .and_then(Value::as_object)
        .map(|q| {
            q.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let target = if query.is_empty() {
        ex.path().to_owned()
    } else {
        format!("{}?{}", ex.path(), query.join("&"))
    };
    let mut instance = runtime().instantiate(keystore_with("broker", key)).unwrap();
    let date = dsign::format_date(&mut instance, SystemClock.now_unix()).unwrap();
    let req = Request {
        method: ex.method().into(),
        target: target.clone(),
        date,
        user_id: BROKER.into(),
        body: None,
    };
    let headers = dsign::sign_request(&mut instance, &req, "broker")
        .unwrap()
        .headers;
    let method = reqwest::Method::from_bytes(ex.method().as_bytes()).unwrap();
    let mut builder = http
        .request(method, format!("{base}{target}"))
        .header("Accept", "application/vnd.digipost-v8+xml");
    for h in headers {
        builder = builder.header(h.name, h.value);
    }
    builder
}

/// The parts of an answer that make its shape.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

async fn answer(r: reqwest::RequestBuilder) -> Answer {
    let r = r.send().await.expect("the simulator answers");
    Answer {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        body: r.bytes().await.unwrap().to_vec(),
    }
}

/// The local name of an XML body's root element.
fn root_of(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let mut rest = text.as_ref();
    loop {
        let at = rest.find('<')?;
        rest = &rest[at + 1..];
        if !rest.starts_with('?') && !rest.starts_with('!') {
            break;
        }
    }
    let name: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
        .collect();
    Some(name.rsplit(':').next().unwrap_or(&name).to_owned())
}

fn longest_base64_line(body: &[u8]) -> usize {
    String::from_utf8_lossy(body)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('<') && !l.starts_with("-----"))
        .map(str::len)
        .max()
        .unwrap_or(0)
}

/// Compare the simulator's answer with the fixture's: status, and the shape of what the
/// client reads (the root element, an error's code and type, the echo, the certificate's
/// line width, absolute listing URIs, a 307 to another origin, signatures where the service
/// is known to sign or not to).
fn same_shape(ex: &Exchange, got: &Answer, api: &str) -> Vec<String> {
    let name = ex.file.display().to_string();
    let mut wrong = Vec::new();
    if got.status != ex.status() {
        wrong.push(format!(
            "{name}: status {} want {}",
            got.status,
            ex.status()
        ));
        return wrong;
    }
    let want_body = ex.response_body();
    if root_of(&want_body) != root_of(&got.body) && !want_body.is_empty() && !is_content_host(ex) {
        wrong.push(format!(
            "{name}: root {:?} want {:?}",
            root_of(&got.body),
            root_of(&want_body)
        ));
    }
    match root_of(&want_body).as_deref() {
        Some("error") => {
            let (w, g) = (
                parse_error_body(&want_body).unwrap(),
                parse_error_body(&got.body),
            );
            match g {
                Ok(g) if g.code == w.code && g.error_type == w.error_type => {}
                other => wrong.push(format!("{name}: error {other:?} want {w:?}")),
            }
            let echo = |b: &[u8]| String::from_utf8_lossy(b).contains("===START===");
            if echo(&want_body) != echo(&got.body) {
                wrong.push(format!("{name}: the ===START=== echo differs"));
            }
        }
        Some("entrypoint") => {
            let (w, g) = (
                longest_base64_line(&want_body),
                longest_base64_line(&got.body),
            );
            if w != g {
                wrong.push(format!(
                    "{name}: certificate lines of {g} columns, want {w}"
                ));
            }
        }
        Some("inbox") => match parse_inbox(&got.body) {
            Ok(inbox) => {
                for d in &inbox.documents {
                    let uri = d.content_uri.as_deref().unwrap_or_default();
                    if !uri.starts_with(api) {
                        wrong.push(format!("{name}: content-uri {uri:?} is not absolute"));
                    }
                }
            }
            Err(e) => wrong.push(format!("{name}: the inbox does not parse: {e}")),
        },
        _ => {}
    }
    if ex.status() == 307 {
        match got.headers.get("location").and_then(|l| l.to_str().ok()) {
            Some(l) if !l.starts_with(api) && l.contains("/documents/") => {}
            other => wrong.push(format!("{name}: Location {other:?} is not on another host")),
        }
    }
    let has = |h: &str| got.headers.contains_key(h);
    if is_content_host(ex) && has("x-digipost-signature") {
        wrong.push(format!("{name}: the content host signed"));
    }
    if !is_content_host(ex) && signed(ex) && !has("x-digipost-signature") {
        wrong.push(format!("{name}: not signed"));
    }
    if got.body.is_empty() && has("x-content-sha256") {
        wrong.push(format!("{name}: X-Content-SHA256 without a body"));
    }
    wrong
}

/// (b) The simulator answers each fixture's request with the fixture's status and shape.
#[test]
fn the_simulator_answers_as_the_fixtures_say() {
    let dir = scratch_dir("conformance-digipost").join("data");
    inbox_data::write(&dir, 3);
    let tokio = tokio::runtime::Runtime::new().unwrap();
    let wrong = tokio.block_on(async {
        let config = SimulatorConfig {
            data_dir: dir,
            broker_certificate: std::fs::read(fixture("keys/broker.cert.pem")).unwrap(),
            broker_id: Some(BROKER.into()),
            server_key: server_key(),
            server_certificate_pem: std::fs::read_to_string(fixture("keys/server.cert.pem"))
                .unwrap(),
            content_base: None,
            token_secret: Some("conformance".into()),
            variants: Variants::default(),
        };
        let sim = Simulator::new(config, shared_runtime(), Arc::new(SystemClock)).unwrap();
        let running = sim.start("127.0.0.1:0").await.unwrap();
        let api = running.base_url();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut wrong = Vec::new();
        for ex in fixtures("digipost") {
            let got = if is_content_host(&ex) {
                // A live link from the simulator's own 307: the fixture's token is made up.
                let id = ex.path().rsplit('/').next().unwrap_or_default();
                let content = Exchange {
                    request: serde_json::json!({
                        "method": "GET",
                        "path": format!("/{SENDER}/inbox/{id}/content"),
                    }),
                    ..ex.clone()
                };
                let redirect = answer(signed_request(&http, &api, &content, broker_key())).await;
                let link = redirect.headers["location"].to_str().unwrap().to_owned();
                answer(http.get(link)).await
            } else if ex.status() == 403 {
                // Signed with a key Digipost does not have for this broker.
                answer(signed_request(&http, &api, &ex, server_key())).await
            } else if ex.status() == 404 && ex.method() == "DELETE" {
                // Gone: deleted once before.
                let first = answer(signed_request(&http, &api, &ex, broker_key())).await;
                assert_eq!(first.status, 200, "{}", ex.file.display());
                answer(signed_request(&http, &api, &ex, broker_key())).await
            } else {
                answer(signed_request(&http, &api, &ex, broker_key())).await
            };
            wrong.extend(same_shape(&ex, &got, &api));
        }
        running.stop().await;
        wrong
    });
    assert!(
        wrong.is_empty(),
        "the simulator disagrees with the fixtures:\n{}",
        wrong.join("\n")
    );
}
