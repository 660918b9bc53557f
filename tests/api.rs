//! The platform API end to end on loopback: `dpost serve` takes pushes as NgDP sends them,
//! and a platform reads them through `/api/v1`: the pending list, metadata, the MeMo and a
//! file (hashes, ranges, ETags), acknowledgement, moves, cursor paging while mail arrives,
//! what scopes and mailbox restrictions refuse, problem details for every error, and the
//! OpenAPI document against the committed one.

use std::collections::BTreeSet;
use std::path::Path;

use dpost_tests::serve::{self, Server, client, uuid};
use dpost_tests::*;
use serde_json::{Value, json};

const DAYCARE: &str = "241d39f6-998e-4929-b198-ccacbbf4b330";

/// Tokens of the clients written straight into the configuration (their SHA-256 only).
const READER: &str = "dpost_reader-token-for-tests-only";
const DAYCARE_ONLY: &str = "dpost_daycare-token-for-tests-only";

fn config(name: &str) -> ConfigFile {
    let clients = format!(
        "[[api.clients]]\nname = \"reader\"\ntoken_sha256 = \"{}\"\nscopes = [\"messages:read\"]\n\
         [[api.clients]]\nname = \"daycare-app\"\ntoken_sha256 = \"{}\"\nscopes = [\"messages:read\", \"messages:ack\"]\nmailboxes = [\"daycare\"]\n",
        sha256_hex(READER.as_bytes()),
        sha256_hex(DAYCARE_ONLY.as_bytes()),
    );
    serve::config(&format!("api-{name}"))
        .max_message_bytes(2_000_000)
        .contact_point(DAYCARE, "daycare")
        .api_extra(&clients)
}

/// `dpost api token create NAME --scope …` on `config`: the token it prints.
fn create_token(config: &Path, name: &str, scopes: &[&str]) -> String {
    let mut args = vec!["api", "token", "create", name];
    for s in scopes {
        args.extend(["--scope", s]);
    }
    let out = run_with_config(config, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A MeMo with `uuid`, one file holding `content`, addressed to `contact_point` if given.
fn memo(uuid: &str, contact_point: Option<&str>, content: &[u8]) -> Vec<u8> {
    serve::message_to(uuid, contact_point, content)
}

fn push(server: &Server, xml: Vec<u8>) {
    let r = server.post_xml(xml);
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap_or_default());
}

fn get(server: &Server, token: Option<&str>, path: &str) -> reqwest::blocking::Response {
    let mut r = client().get(format!("{}{path}", server.api_url));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().unwrap()
}

fn post(
    server: &Server,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> reqwest::blocking::Response {
    let mut r = client()
        .post(format!("{}{path}", server.api_url))
        .bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().unwrap()
}

/// A problem+json answer with `status`; its body.
fn problem(r: reqwest::blocking::Response, status: u16) -> Value {
    assert_eq!(r.status().as_u16(), status, "status");
    assert_eq!(
        r.headers()["content-type"],
        "application/problem+json",
        "a problem for {status}"
    );
    let p: Value = r.json().unwrap();
    assert_eq!(p["status"], status, "{p}");
    for key in ["type", "title", "detail"] {
        assert!(
            p[key].as_str().is_some_and(|s| !s.is_empty()),
            "{key} in {p}"
        );
    }
    assert!(
        p["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:dpost:problem:"),
        "{p}"
    );
    p
}

fn uuids(page: &Value) -> Vec<String> {
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["uuid"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_platform_lists_fetches_acknowledges_and_routes() {
    let config = config("walkthrough").write();
    let token = create_token(&config, "casework", &["messages:read", "messages:ack"]);
    assert!(token.starts_with("dpost_"), "{token}");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.contains(&sha256_hex(token.as_bytes())),
        "only the hash is kept"
    );
    assert!(!text.contains(&token), "the token itself is never written");
    let server = Server::start(&config);

    let (a, b) = (uuid(0xa1), uuid(0xa2));
    let content: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let xml_a = memo(&a, None, &content);
    push(&server, xml_a.clone());
    push(&server, memo(&b, Some(DAYCARE), b"daycare letter"));

    let page: Value = get(&server, Some(&token), "/api/v1/messages?state=pending")
        .json()
        .unwrap();
    assert_eq!(uuids(&page), [a.clone(), b.clone()], "{page}");
    assert_eq!(page["hasMore"], false);
    assert_eq!(page["messages"][1]["mailbox"], "daycare");

    let detail: Value = get(&server, Some(&token), &format!("/api/v1/messages/{a}"))
        .json()
        .unwrap();
    assert_eq!(detail["uuid"], a);
    assert_eq!(detail["mailbox"], "standard");
    assert_eq!(detail["valid"], true, "{detail}");
    assert_eq!(
        detail["routing"]["reason"]["reason"], "no-contact-point",
        "{detail}"
    );
    assert_eq!(detail["businessReceipt"]["status"], "pending");
    assert!(detail["acknowledgement"].is_null());
    let file = &detail["files"][0];
    assert_eq!(file["size"], content.len());
    assert_eq!(file["sha256"], sha256_hex(&content));

    // The MeMo exactly as received.
    let memo_r = get(&server, Some(&token), &format!("/api/v1/messages/{a}/memo"));
    assert_eq!(memo_r.status().as_u16(), 200);
    assert_eq!(memo_r.headers()["content-type"], "application/xml");
    let memo_bytes = memo_r.bytes().unwrap();
    assert_eq!(sha256_hex(&memo_bytes), sha256_hex(&xml_a));
    assert_eq!(detail["memo"]["sha256"], sha256_hex(&xml_a));

    // A file, whole, by range, and conditionally.
    let href = file["href"].as_str().unwrap();
    let whole = get(&server, Some(&token), href);
    assert_eq!(whole.status().as_u16(), 200);
    let etag = whole.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", sha256_hex(&content)));
    let disposition = whole.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\""),
        "{disposition}"
    );
    assert!(disposition.contains("filename*=UTF-8''"), "{disposition}");
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    assert_eq!(sha256_hex(&whole.bytes().unwrap()), sha256_hex(&content));
    let part = client()
        .get(format!("{}{href}", server.api_url))
        .bearer_auth(&token)
        .header("Range", "bytes=1000-1999")
        .send()
        .unwrap();
    assert_eq!(part.status().as_u16(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 1000-1999/{}", content.len()).as_str()
    );
    assert_eq!(&part.bytes().unwrap()[..], &content[1000..2000]);
    let tail = client()
        .get(format!("{}{href}", server.api_url))
        .bearer_auth(&token)
        .header("Range", "bytes=-10")
        .send()
        .unwrap();
    assert_eq!(&tail.bytes().unwrap()[..], &content[content.len() - 10..]);
    let unchanged = client()
        .get(format!("{}{href}", server.api_url))
        .bearer_auth(&token)
        .header("If-None-Match", &etag)
        .send()
        .unwrap();
    assert_eq!(unchanged.status().as_u16(), 304);
    assert!(unchanged.bytes().unwrap().is_empty());
    let beyond = client()
        .get(format!("{}{href}", server.api_url))
        .bearer_auth(&token)
        .header("Range", format!("bytes={}-", content.len()))
        .send()
        .unwrap();
    assert_eq!(
        beyond.headers()["content-range"],
        format!("bytes */{}", content.len()).as_str()
    );
    problem(beyond, 416);

    // Acknowledged once; a repeat answers the first record.
    let first: Value = post(
        &server,
        &token,
        &format!("/api/v1/messages/{a}/ack"),
        Some(json!({ "caseReference": "2024-1234" })),
    )
    .json()
    .unwrap();
    assert_eq!(first["by"], "api:casework");
    assert_eq!(first["caseReference"], "2024-1234");
    let again = post(
        &server,
        &token,
        &format!("/api/v1/messages/{a}/ack"),
        Some(json!({ "caseReference": "other" })),
    );
    assert_eq!(again.status().as_u16(), 200);
    assert_eq!(again.json::<Value>().unwrap(), first);
    let pending: Value = get(&server, Some(&token), "/api/v1/messages?state=pending")
        .json()
        .unwrap();
    assert_eq!(uuids(&pending), vec![b.clone()], "a left the pending list");
    let acked: Value = get(&server, Some(&token), "/api/v1/messages?state=acknowledged")
        .json()
        .unwrap();
    assert_eq!(uuids(&acked), vec![a.clone()]);
    assert_eq!(
        acked["messages"][0]["acknowledgement"]["caseReference"],
        "2024-1234"
    );
    let detail: Value = get(&server, Some(&token), &format!("/api/v1/messages/{a}"))
        .json()
        .unwrap();
    assert_eq!(detail["history"].as_array().unwrap().len(), 1, "{detail}");
    assert_eq!(detail["history"][0]["action"], "ack");

    // The CLI sees the same pending list and acknowledges through the same store functions.
    let out = run_with_config(&config, &["message", "list", "--pending", "--json"]);
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["uuid"], b);
    let out = run_with_config(&config, &["message", "ack", &b, "--case", "K-9"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pending: Value = get(&server, Some(&token), "/api/v1/messages?state=pending")
        .json()
        .unwrap();
    assert!(uuids(&pending).is_empty(), "{pending}");
    let detail: Value = get(&server, Some(&token), &format!("/api/v1/messages/{b}"))
        .json()
        .unwrap();
    assert!(
        detail["acknowledgement"]["by"]
            .as_str()
            .unwrap()
            .starts_with("cli:")
    );

    // A move to another configured mailbox, recorded; an unknown one is refused.
    let routed = post(
        &server,
        &token,
        &format!("/api/v1/messages/{a}/route"),
        Some(json!({ "mailbox": "daycare" })),
    );
    assert_eq!(routed.status().as_u16(), 200);
    assert_eq!(
        routed.json::<Value>().unwrap(),
        json!({ "from": "standard", "mailbox": "daycare" })
    );
    let detail: Value = get(&server, Some(&token), &format!("/api/v1/messages/{a}"))
        .json()
        .unwrap();
    assert_eq!(detail["mailbox"], "daycare");
    assert_eq!(detail["routing"]["reason"]["reason"], "routed");
    assert_eq!(detail["history"][1]["detail"]["to"], "daycare");
    let p = problem(
        post(
            &server,
            &token,
            &format!("/api/v1/messages/{a}/route"),
            Some(json!({ "mailbox": "nowhere" })),
        ),
        422,
    );
    assert_eq!(p["field"], "/mailbox");
}

#[test]
fn cursor_paging_has_no_gaps_or_repeats_while_messages_arrive() {
    let config = config("paging").write();
    let server = Server::start(&config);
    let mut expected: Vec<String> = (0..5).map(|n| uuid(0xb00 + n)).collect();
    for u in &expected {
        push(&server, memo(u, None, u.as_bytes()));
    }
    let later: Vec<String> = (5..17).map(|n| uuid(0xb00 + n)).collect();
    expected.extend(later.iter().cloned());
    let messages_url = server.messages_url();
    // Pushes keep arriving while the platform pages through the feed.
    let pusher = std::thread::spawn(move || {
        for u in &later {
            let r = client()
                .post(&messages_url)
                .header("Authorization", serve::AUTH)
                .header("Content-Type", "application/xml")
                .body(memo(u, None, u.as_bytes()))
                .send()
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
        }
    });
    let mut seen: Vec<String> = Vec::new();
    let mut next = "/api/v1/messages?limit=2".to_owned();
    let mut pusher = Some(pusher);
    for _ in 0..200 {
        let page: Value = get(&server, Some(READER), &next).json().unwrap();
        seen.extend(uuids(&page));
        next = page["next"].as_str().unwrap().to_owned();
        if page["hasMore"] == false {
            match pusher.take() {
                // Everything was pushed (and committed) before this read began.
                None => {
                    let last: Value = get(&server, Some(READER), &next).json().unwrap();
                    seen.extend(uuids(&last));
                    break;
                }
                Some(p) if p.is_finished() => p.join().unwrap(),
                Some(p) => pusher = Some(p),
            }
        }
    }
    assert!(pusher.is_none(), "the pusher finished");
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no repeats: {seen:?}");
    assert_eq!(seen, expected, "no gaps, in commit order");
}

#[test]
fn scopes_and_mailbox_restrictions_refuse_what_they_must() {
    let config = config("refusals").write();
    let server = Server::start(&config);
    let (standard, daycare) = (uuid(0xc1), uuid(0xc2));
    push(&server, memo(&standard, None, b"for the standard mailbox"));
    push(&server, memo(&daycare, Some(DAYCARE), b"for daycare"));

    // No token, a malformed header, an unknown token: 401 with a Bearer challenge.
    let none = get(&server, None, "/api/v1/messages");
    assert_eq!(none.headers()["www-authenticate"], "Bearer realm=\"dpost\"");
    assert_eq!(problem(none, 401)["field"], "Authorization");
    let basic = client()
        .get(format!("{}/api/v1/messages", server.api_url))
        .header("Authorization", "Basic dXNlcjpwdw==")
        .send()
        .unwrap();
    problem(basic, 401);
    problem(get(&server, Some("dpost_wrong"), "/api/v1/messages"), 401);

    // A reader may read but not acknowledge.
    assert_eq!(
        get(&server, Some(READER), "/api/v1/messages")
            .status()
            .as_u16(),
        200
    );
    let p = problem(
        post(
            &server,
            READER,
            &format!("/api/v1/messages/{standard}/ack"),
            None,
        ),
        403,
    );
    assert_eq!(p["requiredScope"], "messages:ack");
    let unacked: Value = get(&server, Some(READER), "/api/v1/messages?state=pending")
        .json()
        .unwrap();
    assert_eq!(uuids(&unacked).len(), 2, "the refused ack changed nothing");

    // A client restricted to daycare never sees the standard mailbox's message.
    let page: Value = get(&server, Some(DAYCARE_ONLY), "/api/v1/messages")
        .json()
        .unwrap();
    assert_eq!(uuids(&page), vec![daycare.clone()]);
    for path in [
        format!("/api/v1/messages/{standard}"),
        format!("/api/v1/messages/{standard}/memo"),
        format!("/api/v1/messages/{standard}/files/1"),
    ] {
        problem(get(&server, Some(DAYCARE_ONLY), &path), 404);
    }
    problem(
        post(
            &server,
            DAYCARE_ONLY,
            &format!("/api/v1/messages/{standard}/ack"),
            None,
        ),
        404,
    );
    problem(
        post(
            &server,
            DAYCARE_ONLY,
            &format!("/api/v1/messages/{standard}/route"),
            Some(json!({ "mailbox": "daycare" })),
        ),
        404,
    );
    let p = problem(
        get(
            &server,
            Some(DAYCARE_ONLY),
            "/api/v1/messages?mailbox=standard",
        ),
        403,
    );
    assert_eq!(p["field"], "mailbox");
    // Its own mailbox's message it reads and acknowledges.
    assert_eq!(
        get(
            &server,
            Some(DAYCARE_ONLY),
            &format!("/api/v1/messages/{daycare}")
        )
        .status()
        .as_u16(),
        200
    );
    let ack = post(
        &server,
        DAYCARE_ONLY,
        &format!("/api/v1/messages/{daycare}/ack"),
        None,
    );
    assert_eq!(ack.status().as_u16(), 200);
    assert_eq!(ack.json::<Value>().unwrap()["by"], "api:daycare-app");
    // The standard message is still pending for everyone else.
    let detail: Value = get(
        &server,
        Some(READER),
        &format!("/api/v1/messages/{standard}"),
    )
    .json()
    .unwrap();
    assert!(detail["acknowledgement"].is_null());
}

#[test]
fn every_error_is_a_problem() {
    let config = config("problems").write();
    let server = Server::start(&config);
    let m = uuid(0xd1);
    push(&server, memo(&m, None, b"x"));

    let p = problem(get(&server, Some(READER), "/api/v1/nothing"), 404);
    assert_eq!(p["instance"], "/api/v1/nothing");
    // `/` is the operator console (docs/console.md); other paths outside the API are still problems.
    problem(get(&server, None, "/no-such-page"), 404);
    let wrong_method = client()
        .delete(format!("{}/api/v1/messages", server.api_url))
        .bearer_auth(READER)
        .send()
        .unwrap();
    problem(wrong_method, 405);
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("state=unread", "state"),
        ("invalid=maybe", "invalid"),
        ("since=yesterday", "since"),
        ("cursor=forged", "cursor"),
        ("colour=blue", "colour"),
    ] {
        let p = problem(
            get(&server, Some(READER), &format!("/api/v1/messages?{query}")),
            400,
        );
        assert_eq!(p["field"], field, "{query}: {p}");
    }
    problem(
        get(&server, Some(READER), "/api/v1/messages/not-a-uuid"),
        404,
    );
    problem(
        get(
            &server,
            Some(READER),
            &format!("/api/v1/messages/{}", uuid(0xdead)),
        ),
        404,
    );
    let p = problem(
        get(
            &server,
            Some(READER),
            &format!("/api/v1/messages/{m}/files/9"),
        ),
        404,
    );
    assert_eq!(p["field"], "n");
    let token = create_token(&config, "acker", &["messages:ack"]);
    // A token made after start-up is unknown to the running service until it restarts.
    problem(
        post(&server, &token, &format!("/api/v1/messages/{m}/ack"), None),
        401,
    );
    drop(server);
    let server = Server::start(&config);
    let not_json = client()
        .post(format!("{}/api/v1/messages/{m}/ack", server.api_url))
        .bearer_auth(&token)
        .header("Content-Type", "text/plain")
        .body("case 1")
        .send()
        .unwrap();
    problem(not_json, 415);
    let bad_json = client()
        .post(format!("{}/api/v1/messages/{m}/ack", server.api_url))
        .bearer_auth(&token)
        .header("Content-Type", "application/json")
        .body("{\"case\": 1}")
        .send()
        .unwrap();
    problem(bad_json, 400);
    let p = problem(
        post(
            &server,
            &token,
            &format!("/api/v1/messages/{m}/route"),
            None,
        ),
        400,
    );
    assert_eq!(p["field"], "/mailbox");
    // The push listener never serves the API.
    let r = client()
        .get(format!("{}/api/v1/messages", server.url))
        .bearer_auth(READER)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

#[test]
fn the_openapi_document_agrees_with_the_committed_one() {
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/api/openapi.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let config = config("openapi").write();
    let server = Server::start(&config);
    let served: Value = get(&server, None, "/api/v1/openapi.json").json().unwrap();
    assert!(
        served == committed,
        "docs/api/openapi.json is not the document the API serves; regenerate it with \
         `cargo run -p dpost -- api openapi > docs/api/openapi.json` and commit it"
    );
    assert_eq!(served["openapi"], "3.1.0");
    let out = run_dpost(["api", "openapi"]);
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, served, "`dpost api openapi` prints what is served");
    // Every operation but the document itself needs a token, and names its errors.
    for (path, item) in served["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if path == "/api/v1/openapi.json" {
                continue;
            }
            assert!(op["security"][0]["bearer"].is_array(), "{method} {path}");
            assert!(op["responses"]["401"].is_object(), "{method} {path}");
        }
    }
}

#[test]
fn a_token_is_added_to_the_generated_configuration_with_its_comments_kept() {
    let dir = scratch_dir("api-config-init");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("dpost.toml");
    let out = run_dpost(["config", "init", config.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = std::fs::read_to_string(&config).unwrap();
    assert!(before.contains("[api]\n"), "a commented [api] section");
    let token = create_token(&config, "casework", &["messages:read", "messages:ack"]);
    let after = std::fs::read_to_string(&config).unwrap();
    let entry = format!(
        "\n[[api.clients]]\nname = \"casework\"\ntoken_sha256 = \"{}\"\nscopes = [\"messages:read\", \"messages:ack\"]\n",
        sha256_hex(token.as_bytes())
    );
    assert!(
        after.contains(&format!("listen = \"127.0.0.1:8081\"\n{entry}")),
        "{after}"
    );
    assert_eq!(
        after.replacen(&entry, "", 1),
        before,
        "only the entry was added"
    );
    let out = run_with_config(&config, &["config", "check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A second client of the same name, an unknown scope or mailbox: refused, nothing written.
    for args in [
        vec![
            "api",
            "token",
            "create",
            "casework",
            "--scope",
            "messages:read",
        ],
        vec!["api", "token", "create", "other", "--scope", "read-all"],
        vec![
            "api",
            "token",
            "create",
            "other",
            "--scope",
            "admin",
            "--mailbox",
            "nowhere",
        ],
    ] {
        let out = run_with_config(&config, &args);
        assert!(!out.status.success(), "{args:?}");
        assert!(out.stdout.is_empty(), "no token printed for {args:?}");
        assert_eq!(std::fs::read_to_string(&config).unwrap(), after, "{args:?}");
    }
}

#[test]
fn the_api_serves_https_when_given_a_certificate() {
    let config = config("tls").write();
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "[api]\n",
        &format!(
            "[api]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
            fixture("keys/server.cert.pem").display(),
            fixture("keys/server.key.pem").display()
        ),
    );
    std::fs::write(&config, text).unwrap();
    let server = Server::start(&config);
    assert!(
        server.url.starts_with("http://"),
        "the push listener stays as configured"
    );
    assert!(
        server.api_url.starts_with("https://127.0.0.1:"),
        "{}",
        server.api_url
    );
    let m = uuid(0xe1);
    push(&server, memo(&m, None, b"over TLS"));
    // The test certificate names no host; this test is about TLS being served, not trust.
    let tls_client = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let page: Value = tls_client
        .get(format!("{}/api/v1/messages", server.api_url))
        .bearer_auth(READER)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(uuids(&page), vec![m]);
    let plain = client()
        .get(format!(
            "{}/api/v1/messages",
            server.api_url.replace("https://", "http://")
        ))
        .bearer_auth(READER)
        .send();
    assert!(plain.map(|r| r.status().as_u16() != 200).unwrap_or(true));
}

/// A number (kB) from `/proc/<pid>/status`.
#[cfg(target_os = "linux")]
fn proc_status_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{key} in /proc/{pid}/status"))
}

#[test]
#[cfg(target_os = "linux")]
fn a_large_file_streams_in_bounded_memory() {
    const SIZE: usize = 32 * 1024 * 1024;
    let config = serve::config("api-large")
        .max_message_bytes(64 * 1024 * 1024)
        .api_extra(&format!(
            "[[api.clients]]\nname = \"reader\"\ntoken_sha256 = \"{}\"\nscopes = [\"messages:read\"]\n",
            sha256_hex(READER.as_bytes())
        ))
        .write();
    let server = Server::start(&config);
    let content: Vec<u8> = (0..SIZE as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let m = uuid(0xf1);
    push(&server, memo(&m, None, &content));
    let pid = server.child.id();
    let download = || {
        let mut r = get(
            &server,
            Some(READER),
            &format!("/api/v1/messages/{m}/files/1"),
        );
        assert_eq!(r.status().as_u16(), 200);
        let mut hashing = Sha256Writer::default();
        let n = std::io::copy(&mut r, &mut hashing).unwrap();
        assert_eq!(n as usize, SIZE);
        assert_eq!(hashing.hex(), sha256_hex(&content));
    };
    // Once before measuring: on PostgreSQL the first download opens the API pool's second
    // store connection (a piece is read while the one before it is written), a cost paid
    // once per connection (its thread, its buffers), not per download or per byte.
    download();
    // Reset the peak (VmHWM) to the current resident size, so that the peak read afterwards
    // is the download's own.
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
    let before = proc_status_kib(pid, "VmRSS:");
    for _ in 0..2 {
        download();
    }
    let peak = proc_status_kib(pid, "VmHWM:");
    // A range across the pieces the file is read in (1 MiB, api/file_stream.rs).
    let (first, last) = (1_048_000, 3_146_000);
    let part = client()
        .get(format!("{}/api/v1/messages/{m}/files/1", server.api_url))
        .bearer_auth(READER)
        .header("Range", format!("bytes={first}-{last}"))
        .send()
        .unwrap();
    assert_eq!(part.status().as_u16(), 206);
    assert!(
        part.bytes().unwrap()[..] == content[first..=last],
        "the range's bytes"
    );
    let grew = peak.saturating_sub(before);
    eprintln!("resident before {before} kB, peak while serving {peak} kB");
    assert!(
        grew < 8 * 1024,
        "serving a {SIZE}-byte file twice grew serve's resident memory by {grew} kB"
    );
}

/// Hashes what is written to it.
#[derive(Default)]
struct Sha256Writer(sha2::Sha256);

impl Sha256Writer {
    fn hex(self) -> String {
        use sha2::Digest as _;
        self.0
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl std::io::Write for Sha256Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use sha2::Digest as _;
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
