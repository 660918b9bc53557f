//! Notifications end to end on loopback (issue 15): a push through `dpost serve` becomes an
//! event that a webhook receiver (an axum server in this test) gets signed as Standard
//! Webhooks prescribe, that the event feed lists and that the Server-Sent Events stream
//! delivers, resuming from `Last-Event-ID` without loss; a receiver that fails a few times
//! gets the event exactly once; and an event whose delivery was cut short by `kill -9` is
//! delivered after the restart.
//!
//! Every wait is bounded (a deadline, then a failure naming what did not happen) and nothing
//! asserts on how long something took.

use std::io::{BufRead as _, BufReader};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use dpost_tests::serve::{self, Server, client, uuid};
use dpost_tests::*;
use hmac::{Hmac, KeyInit as _, Mac as _};
use serde_json::Value;

const SECRET_ENV: &str = "DPOST_TEST_WEBHOOK_SECRET";
/// 32 bytes, Standard Webhooks form.
const SECRET: &str = "whsec_c2VjcmV0LWZvci10aGUtd2ViaG9vay10ZXN0cy0zMmI=";
const READER: &str = "dpost_events-reader-token-for-tests-only";
const ADMIN: &str = "dpost_events-admin-token-for-tests-only";
const DAYCARE_ONLY: &str = "dpost_events-daycare-token-for-tests-only";
/// The longest any one wait may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(60);

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: Vec<u8>,
    /// What it answered.
    status: u16,
}

/// A webhook receiver on loopback: it answers 500 while `refuse` is above zero (counting
/// down), or always 503 while `refuse` is `u32::MAX`, and records every request.
struct Receiver {
    url: String,
    refuse: Arc<AtomicU32>,
    got: Arc<Mutex<Vec<Received>>>,
    _runtime: tokio::runtime::Runtime,
}

impl Receiver {
    fn start(refuse: u32) -> Receiver {
        Receiver::start_slow(refuse, Duration::ZERO)
    }

    /// [`Receiver::start`], answering each request only after `delay` (an endpoint that takes
    /// its time, so that a post is still under way when another worker looks for due work).
    fn start_slow(refuse: u32, delay: Duration) -> Receiver {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let refuse = Arc::new(AtomicU32::new(refuse));
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let (r, g) = (refuse.clone(), got.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let (r, g) = (r.clone(), g.clone());
                    async move {
                        tokio::time::sleep(delay).await;
                        let h = |n: &str| {
                            headers
                                .get(n)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned()
                        };
                        let left = r.load(Ordering::SeqCst);
                        let status = match left {
                            0 => 204,
                            u32::MAX => 503,
                            n => {
                                r.store(n - 1, Ordering::SeqCst);
                                500
                            }
                        };
                        g.lock().unwrap().push(Received {
                            id: h("webhook-id"),
                            timestamp: h("webhook-timestamp"),
                            signature: h("webhook-signature"),
                            body: body.to_vec(),
                            status,
                        });
                        axum::http::StatusCode::from_u16(status).unwrap()
                    }
                },
            ),
        );
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        runtime.spawn(async move { axum::serve(listener, app).await });
        Receiver {
            url,
            refuse,
            got,
            _runtime: runtime,
        }
    }

    /// The requests it answered 2xx.
    fn accepted(&self) -> Vec<Received> {
        let got = self.got.lock().unwrap();
        got.iter().filter(|r| r.status < 300).cloned().collect()
    }

    fn requests(&self) -> usize {
        self.got.lock().unwrap().len()
    }
}

/// Wait until `f` holds, at most [`DEADLINE`].
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < DEADLINE, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The Standard Webhooks check, as a receiver writes it: HMAC-SHA256 keyed with the
/// secret's decoded bytes over `{id}.{timestamp}.{body}`, compared with each `v1,` entry.
fn signature_verifies(r: &Received) -> bool {
    let key = base64::engine::general_purpose::STANDARD
        .decode(SECRET.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<sha2_011::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.", r.id, r.timestamp).as_bytes());
    mac.update(&r.body);
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    r.signature
        .split(' ')
        .any(|s| s.strip_prefix("v1,") == Some(expected.as_str()))
}

fn config(name: &str, hook_url: &str) -> std::path::PathBuf {
    let extra = format!(
        "[[api.clients]]\nname = \"reader\"\ntoken_sha256 = \"{}\"\nscopes = [\"messages:read\"]\n\
         [[api.clients]]\nname = \"ops\"\ntoken_sha256 = \"{}\"\nscopes = [\"admin\"]\n\
         [[api.clients]]\nname = \"daycare-app\"\ntoken_sha256 = \"{}\"\nscopes = [\"messages:read\"]\nmailboxes = [\"daycare\"]\n\
         [[api.webhooks]]\nname = \"platform\"\nurl = \"{hook_url}\"\nsecret_env = \"{SECRET_ENV}\"\n\
         events = [\"message.received\"]\ntimeout_seconds = 5\n",
        sha256_hex(READER.as_bytes()),
        sha256_hex(ADMIN.as_bytes()),
        sha256_hex(DAYCARE_ONLY.as_bytes()),
    );
    serve::config(&format!("events-{name}"))
        .max_message_bytes(2_000_000)
        .contact_point("241d39f6-998e-4929-b198-ccacbbf4b330", "daycare")
        .api_extra(&extra)
        .write()
}

fn start(config: &std::path::Path) -> Server {
    Server::start_with(config, |c| {
        c.env(SECRET_ENV, SECRET);
    })
}

fn push(server: &Server, id: &str) {
    let (status, body) = server.push_raw(serve::message(id, b"event test"));
    assert_eq!(status, 200, "{body}");
}

fn get_json(server: &Server, token: &str, path: &str) -> Value {
    let r = client()
        .get(format!("{}{path}", server.api_url))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{path}");
    r.json().unwrap()
}

/// How many deliveries dpost has recorded as delivered.
fn delivered(server: &Server) -> usize {
    get_json(server, ADMIN, "/api/v1/webhooks/deliveries?state=delivered")["deliveries"]
        .as_array()
        .map_or(0, Vec::len)
}

/// Read `n` events from the SSE stream opened with `last_event_id`: (id, event, data).
fn sse(server: &Server, last_event_id: Option<&str>, n: usize) -> Vec<(String, String, Value)> {
    let mut r = client()
        .get(format!("{}/api/v1/events/stream", server.api_url))
        .bearer_auth(READER);
    if let Some(id) = last_event_id {
        r = r.header("Last-Event-ID", id);
    } else {
        r = r.query(&[("after", "0")]);
    }
    let r = r.send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut out = Vec::new();
    let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
    for line in BufReader::new(r).lines() {
        let line = line.unwrap();
        if line.is_empty() {
            if !data.is_empty() {
                out.push((
                    std::mem::take(&mut id),
                    std::mem::take(&mut event),
                    serde_json::from_str(&std::mem::take(&mut data)).unwrap(),
                ));
                if out.len() == n {
                    break;
                }
            }
            continue;
        }
        if let Some(v) = line.strip_prefix("id:") {
            id = v.trim().to_owned();
        } else if let Some(v) = line.strip_prefix("event:") {
            event = v.trim().to_owned();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.trim_start());
        }
    }
    out
}

#[test]
fn a_push_reaches_the_webhook_signed_the_feed_and_the_stream_which_resumes_without_loss() {
    let receiver = Receiver::start(0);
    let config = config("walk", &receiver.url);
    let server = start(&config);
    let first = uuid(0xe0e0_0001);
    push(&server, &first);

    wait_for("the webhook gets message.received", || {
        !receiver.accepted().is_empty()
    });
    let got = receiver.accepted();
    assert_eq!(got.len(), 1);
    assert!(signature_verifies(&got[0]), "{got:?}");
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["type"], "message.received");
    assert_eq!(body["data"]["messageUuid"], first);
    assert_eq!(
        body["data"]["links"]["message"],
        format!("/api/v1/messages/{first}")
    );
    assert_eq!(got[0].id, format!("evt_{}", body["seq"]));
    let mut tampered = got[0].clone();
    tampered.body.push(b' ');
    assert!(!signature_verifies(&tampered), "the check is real");

    // The feed lists it, with the same sequence number.
    let feed = get_json(&server, READER, "/api/v1/events?after=0");
    let events = feed["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{feed}");
    assert_eq!(events[0]["seq"], body["seq"]);
    assert_eq!(events[0]["type"], "message.received");
    // A client restricted to another mailbox does not see it.
    let theirs = get_json(&server, DAYCARE_ONLY, "/api/v1/events?after=0");
    assert!(theirs["events"].as_array().unwrap().is_empty(), "{theirs}");
    let next = feed["next"].as_str().unwrap().to_owned();
    assert!(
        get_json(&server, READER, &next)["events"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // The stream from the start delivers it, as id/event/data.
    let seen = sse(&server, None, 1);
    assert_eq!(seen[0].0, body["seq"].to_string());
    assert_eq!(seen[0].1, "message.received");
    assert_eq!(seen[0].2["data"]["messageUuid"], first);

    // Two more arrive while no stream is open; resuming from the last id gets both, in order.
    let (second, third) = (uuid(0xe0e0_0002), uuid(0xe0e0_0003));
    push(&server, &second);
    push(&server, &third);
    let resumed = sse(&server, Some(&seen[0].0), 2);
    let subjects: Vec<_> = resumed
        .iter()
        .map(|e| e.2["data"]["messageUuid"].clone())
        .collect();
    assert_eq!(subjects, [second.as_str(), third.as_str()]);
    let ids: Vec<i64> = resumed.iter().map(|e| e.0.parse().unwrap()).collect();
    assert!(ids[0] > seen[0].0.parse::<i64>().unwrap() && ids[1] > ids[0]);

    // A bad Last-Event-ID is a problem, not a silent restart from somewhere.
    let r = client()
        .get(format!("{}/api/v1/events/stream", server.api_url))
        .bearer_auth(READER)
        .header("Last-Event-ID", "yesterday")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    // The deliveries are an operator's: the reader may not list them.
    let r = client()
        .get(format!("{}/api/v1/webhooks/deliveries", server.api_url))
        .bearer_auth(READER)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    wait_for("all three delivered", || receiver.accepted().len() == 3);
}

#[test]
fn a_receiver_failing_twice_gets_the_event_exactly_once() {
    let receiver = Receiver::start(2);
    let config = config("retry", &receiver.url);
    let server = start(&config);
    let id = uuid(0xe0e0_0101);
    push(&server, &id);
    // The receiver has it before dpost records the 2xx: wait for the record.
    wait_for("recorded delivered after two refusals", || {
        delivered(&server) == 1
    });
    let list = get_json(
        &server,
        ADMIN,
        "/api/v1/webhooks/deliveries?state=delivered",
    );
    let d = &list["deliveries"][0];
    assert_eq!(d["attempts"], 3, "{list}");
    assert_eq!(d["event"]["data"]["messageUuid"], id);
    // The worker keeps running; what it delivered it never sends again.
    let requests = receiver.requests();
    assert_eq!(requests, 3);
    push(&server, &uuid(0xe0e0_0102));
    wait_for("the next event delivered", || {
        receiver.accepted().len() == 2
    });
    let accepted = receiver.accepted();
    let bodies: Vec<Value> = accepted
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(bodies[0]["data"]["messageUuid"], id);
    assert_ne!(
        bodies[1]["data"]["messageUuid"], id,
        "the first is not repeated"
    );
    assert!(accepted.iter().all(signature_verifies));
    let metrics = client()
        .get(format!("{}/metrics", server.api_url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("dpost_webhook_failures_total 2"),
        "{metrics}"
    );
    assert!(metrics.contains("dpost_webhook_backlog "), "{metrics}");

    // What was delivered is not retried, through the API or the command line; an unknown
    // delivery is a 404 problem.
    let delivery = d["id"].as_i64().unwrap();
    let retry = |id: i64| {
        client()
            .post(format!(
                "{}/api/v1/webhooks/deliveries/{id}/retry",
                server.api_url
            ))
            .bearer_auth(ADMIN)
            .send()
            .unwrap()
    };
    let r = retry(delivery);
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.json::<Value>().unwrap()["requeued"], false);
    let r = retry(999_999);
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    wait_for("the second recorded delivered", || delivered(&server) == 2);
    let out = run_with_config(&config, &["webhooks", "list", "--json"]);
    assert!(out.status.success());
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["state"] == "delivered")
    );
    let out = run_with_config(&config, &["webhooks", "retry", &delivery.to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("has not failed"));
    let out = run_with_config(&config, &["webhooks", "retry", "999999"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_event_whose_delivery_was_killed_is_delivered_after_restart() {
    let receiver = Receiver::start(u32::MAX);
    let config = config("kill", &receiver.url);
    let mut server = start(&config);
    let id = uuid(0xe0e0_0201);
    push(&server, &id);
    // Committed and attempted (refused), so the delivery is in the outbox, not yet delivered.
    wait_for("a first, refused attempt", || receiver.requests() >= 1);
    // A refusing endpoint does not hold up receiving mail.
    let second = uuid(0xe0e0_0202);
    push(&server, &second);
    server.kill();
    assert!(receiver.accepted().is_empty());
    receiver.refuse.store(0, Ordering::SeqCst);
    let server = start(&config);
    wait_for("the event delivered after the restart", || {
        !receiver.accepted().is_empty()
    });
    wait_for("both events delivered after the restart", || {
        receiver.accepted().len() >= 2
    });
    let got = receiver.accepted();
    let mut subjects: Vec<String> = got
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            body["data"]["messageUuid"].as_str().unwrap().to_owned()
        })
        .collect();
    subjects.sort();
    assert_eq!(subjects, [id.clone(), second]);
    assert!(got.iter().all(signature_verifies));
    wait_for("both recorded delivered", || delivered(&server) == 2);
}

#[test]
fn config_check_names_every_webhook_problem_with_its_key() {
    let config = serve::config("events-check")
        .api_extra(
            "[[api.webhooks]]\nurl = \"http://casework.example/hook\"\nsecret_env = \"DPOST_TEST_UNSET_SECRET\"\n\
             [[api.webhooks]]\nurl = \"https://casework.example/hook\"\nsecret_env = \"DPOST_TEST_BAD_SECRET\"\n",
        )
        .write();
    let out = dpost_command()
        .args(["config", "check", "--config", config.to_str().unwrap()])
        .env_remove("DPOST_TEST_UNSET_SECRET")
        .env("DPOST_TEST_BAD_SECRET", "hunter2")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for needle in [
        "api.webhooks[0].url",
        "is not https",
        "api.webhooks[0].secret_env",
        "DPOST_TEST_UNSET_SECRET is not set",
        "api.webhooks[1].secret_env",
        "whsec_",
    ] {
        assert!(text.contains(needle), "{needle:?} in {text}");
    }
    assert!(
        !text.contains("hunter2"),
        "a secret is never printed: {text}"
    );
    let ok = dpost_command()
        .args(["config", "check", "--config", config.to_str().unwrap()])
        .env("DPOST_TEST_UNSET_SECRET", SECRET)
        .env("DPOST_TEST_BAD_SECRET", SECRET)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(text.contains("is not https"), "{text}");
    assert!(!text.contains("secret_env"), "{text}");
}

#[test]
fn events_past_the_retention_window_are_deleted_and_an_old_position_is_told_so() {
    let extra = format!(
        "events_retention_days = 1\n\
         [[api.clients]]\nname = \"reader\"\ntoken_sha256 = \"{}\"\nscopes = [\"messages:read\"]\n",
        sha256_hex(READER.as_bytes()),
    );
    let config = serve::config("events-retention").api_extra(&extra).write();
    let mut server = Server::start(&config);
    for n in 1..=3 {
        push(&server, &uuid(0x7e00 + n));
    }
    let events = get_json(&server, READER, "/api/v1/events?after=0")["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect::<Vec<_>>();
    assert_eq!(events.len(), 3, "{events:?}");
    let (e1, e2, e3) = (events[0], events[1], events[2]);
    server.kill();

    // The first two events become two days old; the first still has a delivery pending.
    let db = open_sql(&config);
    db.execute(
        "UPDATE events SET at = at - 2 * 86400 WHERE seq <= ?1",
        [e2],
    )
    .unwrap();
    db.execute(
        "INSERT INTO webhook_deliveries (webhook, event_seq, state, created_at, window_start, next_attempt_at)
         VALUES ('gone-platform', ?1, 'pending', 0, 0, 0)",
        [e1],
    )
    .unwrap();
    drop(db);
    let server = Server::start(&config);

    // Everything kept, from the oldest: the event a webhook still owes stays.
    let kept: Vec<i64> = get_json(&server, READER, "/api/v1/events")["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(kept, [e1, e3]);
    // A position before the deleted event: 410, saying where to resume.
    for after in [0, e1] {
        let r = client()
            .get(format!("{}/api/v1/events?after={after}", server.api_url))
            .bearer_auth(READER)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 410);
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let p: Value = r.json().unwrap();
        assert_eq!(p["type"], "urn:dpost:problem:gone", "{p}");
        assert_eq!(p["resumeAfter"], e2, "{p}");
        assert_eq!(p["field"], "after", "{p}");
        assert!(
            p["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("after={e2}")),
            "{p}"
        );
    }
    let resumed = get_json(&server, READER, &format!("/api/v1/events?after={e2}"));
    assert_eq!(resumed["events"][0]["seq"], e3, "{resumed}");
    // The stream, resumed from before the gap, is refused the same way.
    let r = client()
        .get(format!("{}/api/v1/events/stream", server.api_url))
        .bearer_auth(READER)
        .header("Last-Event-ID", e1.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 410);
    let p: Value = r.json().unwrap();
    assert_eq!(
        (p["field"].as_str(), p["resumeAfter"].as_i64()),
        (Some("Last-Event-ID"), Some(e2))
    );
}

#[test]
fn a_retention_that_is_not_a_number_of_days_is_named() {
    let config = serve::config("events-retention-bad")
        .api_extra("events_retention_days = 0\n")
        .write();
    let out = run_dpost(["config", "check", "--config", config.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        err.contains("(api.events_retention_days)") && err.contains("1 to 36500"),
        "{err}"
    );
}

/// Two `dpost serve` replicas on one store (issue 18), each with a data folder of its own,
/// pushes spread over both: each event's webhook delivery is claimed by one replica and
/// posted once, never by both.
#[test]
fn two_replicas_on_one_store_post_each_delivery_once() {
    let receiver = Receiver::start_slow(0, Duration::from_millis(200));
    let first = config("replicas", &receiver.url);
    let second = serve::second_replica(&first, "events-replicas-second");
    let (a, b) = (start(&first), start(&second));
    let ids: Vec<String> = (0..16).map(|n| uuid(0x7100 + n)).collect();
    for (n, id) in ids.iter().enumerate() {
        push(if n % 2 == 0 { &a } else { &b }, id);
    }
    wait_for("every delivery recorded as delivered", || {
        delivered(&a) == ids.len()
    });
    // A second post of the same delivery would come from the other replica's next round
    // (every half second): wait for a few of them before counting.
    std::thread::sleep(Duration::from_secs(2));
    let mut posted: Vec<String> = receiver.accepted().into_iter().map(|r| r.id).collect();
    posted.sort_unstable();
    let before = posted.len();
    posted.dedup();
    assert_eq!(posted.len(), ids.len(), "one post per event: {posted:?}");
    assert_eq!(before, ids.len(), "a delivery was posted twice");
    assert_eq!(receiver.requests(), ids.len());
    assert_eq!(delivered(&b), ids.len(), "both replicas see the same store");
}
