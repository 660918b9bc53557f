//! Two `dpost serve` replicas on one PostgreSQL database behind a load balancer, one of them
//! killed (`kill -9`) in the middle of every push burst (issue 18, "Proof").
//!
//! The load balancer is a small TCP proxy in this test: it spreads connections over both
//! replicas in turn and skips one that refuses the connection. NgDP is `dpost sim ngdp`,
//! which records every business receipt posted to it; the platform is a webhook receiver in
//! this test, which records every delivery with its `webhook-id`.
//!
//! Ten rounds of: a burst of MeMo pushes from four clients through the proxy, `kill -9` of a
//! seeded replica at a seeded moment, its restart. After each round every message answered
//! 200 is stored once, and its document, downloaded through the platform API of either
//! replica, has the SHA-256 of what was sent; what got no answer is sent again and accepted.
//! At the end every stored message's business receipt reached NgDP and every event's webhook
//! reached the receiver: at least once each, exactly once after de-duplication by the id
//! NgDP and the receiver go by, and the raw repeats (a kill between a post and its record;
//! HTTP cannot prevent them) at most one per kill and kind of work, since each replica
//! posts one receipt and one delivery per webhook at a time.
//!
//! PostgreSQL only (`DPOST_TEST_POSTGRES`): each replica has a data folder of its own (its
//! spool), and they share nothing but the database, documents' bytes included.
//!
//! Claims last [`CLAIM_SECONDS`] (`[serve] claim_seconds`) so that a killed replica's work is
//! taken over within seconds. Every wait is bounded and fails naming what did not happen.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dpost_tests::seeded::{Seeded, burst_content};
use dpost_tests::serve::{self, AUTH, SYSTEM, Server, client, start_sim, uuid};
use dpost_tests::*;

const SECRET_ENV: &str = "DPOST_TEST_WEBHOOK_SECRET";
const SECRET: &str = "whsec_c2VjcmV0LWZvci10aGUtd2ViaG9vay10ZXN0cy0zMmI=";
const READER: &str = "dpost_scale-out-reader-token-for-tests-only";
/// `[serve] claim_seconds` of both replicas.
const CLAIM_SECONDS: u64 = 4;
/// The webhook's `timeout_seconds`: below the claim, so a live replica's post ends before
/// its claim does.
const WEBHOOK_TIMEOUT_SECONDS: u64 = 2;
const ROUNDS: u32 = 10;
const CLIENTS: u32 = 4;
/// Pushes each client makes per round.
const PUSHES: u32 = 25;
/// The longest any one wait may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(90);
/// Posts one replica has in flight at once for each kind of background work: the receipt
/// outbox sends one receipt at a time, the webhook worker one delivery per webhook at a time
/// (`ngdp/outbox.rs`, `webhooks/worker.rs`), and there is one webhook.
const IN_FLIGHT_PER_REPLICA: usize = 1;

/// The load balancer: a TCP proxy on loopback. Each connection goes to the next replica in
/// turn; a replica that refuses it (killed, not restarted yet) is skipped. The replicas'
/// addresses can change (a restarted replica listens on a new port).
struct Proxy {
    addr: SocketAddr,
    backends: Arc<Mutex<Vec<SocketAddr>>>,
    /// Connections passed to each replica.
    passed: Arc<Vec<AtomicUsize>>,
    _runtime: tokio::runtime::Runtime,
}

impl Proxy {
    fn start(backends: Vec<SocketAddr>) -> Proxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let passed: Arc<Vec<AtomicUsize>> =
            Arc::new(backends.iter().map(|_| AtomicUsize::new(0)).collect());
        let backends = Arc::new(Mutex::new(backends));
        let (b, p) = (backends.clone(), passed.clone());
        runtime.spawn(async move {
            let mut next = 0usize;
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                let first = next;
                next += 1;
                let (b, p) = (b.clone(), p.clone());
                tokio::spawn(async move {
                    let targets = b.lock().unwrap().clone();
                    for k in 0..targets.len() {
                        let i = (first + k) % targets.len();
                        // Refused: this replica is down; the next one takes the connection.
                        let Ok(mut outbound) = tokio::net::TcpStream::connect(targets[i]).await
                        else {
                            continue;
                        };
                        p[i].fetch_add(1, Ordering::Relaxed);
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        return;
                    }
                    // No replica took it: the client's connection is closed unanswered.
                });
            }
        });
        Proxy {
            addr,
            backends,
            passed,
            _runtime: runtime,
        }
    }

    fn set(&self, i: usize, addr: SocketAddr) {
        self.backends.lock().unwrap()[i] = addr;
    }

    fn messages_url(&self) -> String {
        format!(
            "http://{}/api/MeMoV1/memos/?system-uuid={SYSTEM}",
            self.addr
        )
    }
}

/// One delivery the receiver got.
struct Delivered {
    webhook_id: String,
    body: serde_json::Value,
}

/// The platform's webhook endpoint on loopback: answers 204 and records every request.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Delivered>>>,
    _runtime: tokio::runtime::Runtime,
}

impl Receiver {
    fn start() -> Receiver {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let got: Arc<Mutex<Vec<Delivered>>> = Arc::default();
        let g = got.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let g = g.clone();
                    async move {
                        let webhook_id = headers
                            .get("webhook-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        let body = serde_json::from_slice(&body).unwrap_or_default();
                        g.lock().unwrap().push(Delivered { webhook_id, body });
                        axum::http::StatusCode::NO_CONTENT
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
            got,
            _runtime: runtime,
        }
    }
}

/// A replica's configuration and, while it runs, the process.
struct Replica {
    config: PathBuf,
    server: Option<Server>,
    /// Where its log goes (kept for a failing run).
    log: PathBuf,
}

impl Replica {
    fn start(&mut self) -> &Server {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let server = Server::start_with(&self.config, |c| {
            c.env(SECRET_ENV, SECRET).stderr(log);
        });
        self.server.insert(server)
    }

    fn server(&self) -> &Server {
        self.server.as_ref().expect("the replica runs")
    }

    fn push_addr(&self) -> SocketAddr {
        self.server().addr().parse().unwrap()
    }
}

/// Wait until `f` holds, at most [`DEADLINE`].
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < DEADLINE, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `dpost sim ngdp`, killed when dropped so a failing test leaves no process behind.
struct Sim(std::process::Child);

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn configs() -> (PathBuf, PathBuf, String, Receiver, Sim) {
    let receiver = Receiver::start();
    let empty = scratch_dir("sim-messages-scale-out");
    let (sim, sim_url) = start_sim(&[
        "--messages",
        empty.to_str().unwrap(),
        "--system-id",
        SYSTEM,
        "--api-token",
        "token",
    ]);
    let extra = format!(
        "[[api.clients]]\nname = \"reader\"\ntoken_sha256 = \"{}\"\nscopes = [\"messages:read\"]\n\
         [[api.webhooks]]\nname = \"platform\"\nurl = \"{}\"\nsecret_env = \"{SECRET_ENV}\"\n\
         events = [\"message.received\"]\ntimeout_seconds = {WEBHOOK_TIMEOUT_SECONDS}\n",
        sha256_hex(READER.as_bytes()),
        receiver.url,
    );
    let first = serve::config("scale-out")
        .api_base(&format!("{sim_url}/apis/v1"))
        .max_message_bytes(1_000_000)
        .serve_extra(&format!("claim_seconds = {CLAIM_SECONDS}"))
        .api_extra(&extra)
        .write();
    let second = serve::second_replica(&first, "scale-out-second");
    (first, second, sim_url, receiver, Sim(sim))
}

/// Push message `n` through `url` with `c`: whether it was answered 200.
fn push(c: &reqwest::blocking::Client, url: &str, n: u32) -> bool {
    c.post(url)
        .header("Authorization", AUTH)
        .header("Content-Type", "application/xml")
        .body(serve::message(&uuid(n), &burst_content(n)))
        .send()
        .is_ok_and(|r| r.status().as_u16() == 200)
}

/// Every message in `ns` is there with its document intact: downloaded through the platform
/// API, alternately from each replica, its SHA-256 is that of what was sent.
fn check_documents(replicas: &[Replica], ns: &[u32]) {
    let c = client();
    for (k, &n) in ns.iter().enumerate() {
        let api = &replicas[k % replicas.len()].server().api_url;
        let id = uuid(n);
        let r = c
            .get(format!("{api}/api/v1/messages/{id}/files/1"))
            .bearer_auth(READER)
            .send()
            .unwrap_or_else(|e| panic!("downloading {id} from {api}: {e}"));
        let status = r.status().as_u16();
        let bytes = r.bytes().unwrap();
        assert_eq!(
            status,
            200,
            "{id} was answered 200 but its document is not served by {api}: {}",
            String::from_utf8_lossy(&bytes)
        );
        assert_eq!(
            sha256_hex(&bytes),
            sha256_hex(&burst_content(n)),
            "{id}: the document downloaded from {api}"
        );
    }
}

/// The messageUUIDs stored, each once.
fn stored_once(config: &Path) -> BTreeSet<String> {
    let mut store = open_store(config);
    let stored = store.ngdp_messages(None, false, u32::MAX).unwrap();
    let all: Vec<String> = stored.into_iter().map(|m| m.uuid.to_lowercase()).collect();
    let set: BTreeSet<String> = all.iter().cloned().collect();
    assert_eq!(set.len(), all.len(), "a message is stored twice");
    set
}

/// Business receipts the simulator took: (messageUUID of the path, the receipt as posted).
fn receipts_at_ngdp(sim_url: &str) -> Vec<(String, serde_json::Value)> {
    let status: serde_json::Value = client()
        .get(format!("{sim_url}/_sim/status"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    status["receipts_received"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["uuid"].as_str().unwrap().to_lowercase(),
                r["receipt"].clone(),
            )
        })
        .collect()
}

/// Nothing left to post: no receipt and no webhook delivery is pending in the store (a post
/// is recorded after it is made, so every post there will be has been made).
fn nothing_pending(config: &Path) -> bool {
    let mut store = open_store(config);
    let receipts = store
        .receipts_owed(0, 1, Some("pending"), None)
        .unwrap()
        .len();
    let deliveries = store.webhooks_backlog(&["platform".to_owned()]).unwrap();
    receipts == 0 && deliveries == 0
}

/// Raw posts per id: how many ids were seen and how many posts repeated one.
fn repeats<'a>(ids: impl Iterator<Item = &'a str>) -> (BTreeMap<&'a str, usize>, usize) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut raw = 0;
    for id in ids {
        *seen.entry(id).or_default() += 1;
        raw += 1;
    }
    let distinct = seen.len();
    (seen, raw - distinct)
}

#[test]
fn two_replicas_killed_in_turn_lose_nothing_and_post_each_receipt_and_webhook_once() {
    if !postgres::enabled() {
        eprintln!(
            "scale_out: skipped; it needs PostgreSQL (set DPOST_TEST_POSTGRES, as tests/postgres/run.sh does)"
        );
        return;
    }
    let started = Instant::now();
    let (first, second, sim_url, receiver, _sim) = configs();
    let mut replicas: Vec<Replica> = [&first, &second]
        .iter()
        .enumerate()
        .map(|(i, config)| {
            let log = config.with_file_name(format!("serve-{i}.log"));
            let _ = std::fs::remove_file(&log);
            Replica {
                config: (*config).clone(),
                server: None,
                log,
            }
        })
        .collect();
    // One after the other: the first applies the migrations.
    for r in &mut replicas {
        r.start();
    }
    let proxy = Proxy::start(replicas.iter().map(Replica::push_addr).collect());
    let url = proxy.messages_url();

    let mut rng = Seeded(0x5CA1_E007_D905_0018);
    let mut acknowledged: BTreeSet<u32> = BTreeSet::new();
    let (mut kills, mut resent) = (0usize, 0usize);
    for round in 0..ROUNDS {
        let acks: Arc<Mutex<Vec<u32>>> = Arc::default();
        let unanswered: Arc<Mutex<Vec<u32>>> = Arc::default();
        // A resend of something acknowledged earlier per client: answered 200, never stored
        // again.
        let again: Vec<u32> = acknowledged.iter().copied().collect();
        let again: Vec<Option<u32>> = (0..CLIENTS)
            .map(|_| (!again.is_empty()).then(|| again[rng.below(again.len() as u64) as usize]))
            .collect();
        let mut workers = Vec::new();
        for w in 0..CLIENTS {
            let (url, acks, unanswered) = (url.clone(), acks.clone(), unanswered.clone());
            let base = 100_000 * (round + 1) + 1000 * w;
            let again = again[w as usize];
            workers.push(std::thread::spawn(move || {
                let c = client();
                // A connection cut by the kill is no answer; NgDP would send it again.
                if let Some(n) = again
                    && let Ok(r) = c
                        .post(&url)
                        .header("Authorization", AUTH)
                        .header("Content-Type", "application/xml")
                        .body(serve::message(&uuid(n), &burst_content(n)))
                        .send()
                    && r.status().as_u16() == 200
                {
                    let answer: serde_json::Value = r.json().unwrap();
                    assert_eq!(
                        answer["duplicate"],
                        true,
                        "{} stored twice: {answer}",
                        uuid(n)
                    );
                }
                for n in base..base + PUSHES {
                    if push(&c, &url, n) {
                        acks.lock().unwrap().push(n);
                    } else {
                        unanswered.lock().unwrap().push(n);
                    }
                }
            }));
        }
        // Kill a seeded replica at a seeded moment of the burst, without warning (Child::kill
        // is SIGKILL on Unix). The other keeps taking the burst through the proxy.
        std::thread::sleep(Duration::from_millis(100 + rng.below(600)));
        let victim = rng.below(replicas.len() as u64) as usize;
        if let Some(mut s) = replicas[victim].server.take() {
            s.kill();
        }
        kills += 1;
        for w in workers {
            w.join().unwrap();
        }
        let restarted = replicas[victim].start().addr().parse().unwrap();
        proxy.set(victim, restarted);

        // NgDP sends again what got no answer: accepted now (stored, or already stored and
        // answered as a duplicate).
        let mut round_acks: Vec<u32> = acks.lock().unwrap().clone();
        let c = client();
        for n in unanswered.lock().unwrap().drain(..) {
            assert!(push(&c, &url, n), "the resend of {} was refused", uuid(n));
            round_acks.push(n);
            resent += 1;
        }
        round_acks.sort_unstable();
        check_documents(&replicas, &round_acks);
        acknowledged.extend(round_acks);
        let stored = stored_once(&first);
        let expected: BTreeSet<String> = acknowledged
            .iter()
            .map(|&n| uuid(n).to_lowercase())
            .collect();
        assert_eq!(
            stored, expected,
            "round {round}: stored is what was answered 200"
        );
    }

    // Both replicas up: every receipt and every webhook goes out, then nothing is pending.
    let expected: BTreeSet<String> = acknowledged
        .iter()
        .map(|&n| uuid(n).to_lowercase())
        .collect();
    wait_for("every business receipt at NgDP", || {
        let got: BTreeSet<String> = receipts_at_ngdp(&sim_url)
            .into_iter()
            .map(|r| r.0)
            .collect();
        expected.is_subset(&got)
    });
    wait_for("every webhook at the receiver", || {
        let got = receiver.got.lock().unwrap();
        let seen: BTreeSet<String> = got
            .iter()
            .filter_map(|d| d.body["data"]["messageUuid"].as_str())
            .map(str::to_lowercase)
            .collect();
        expected.is_subset(&seen)
    });
    wait_for("no receipt or delivery left pending", || {
        nothing_pending(&first)
    });

    // NgDP: a business receipt is the one `POST memos/{id}/receipt` for message `id`
    // (CreateReceipt, NgDP OpenAPI 1.68.0); the receipt itself has no id of its own, and its
    // messageUUID must be the path's. A repeat carries the same stored receipt.
    let receipts = receipts_at_ngdp(&sim_url);
    let (by_message, receipt_repeats) = repeats(receipts.iter().map(|r| r.0.as_str()));
    let taken: BTreeSet<String> = by_message.keys().map(|k| (*k).to_owned()).collect();
    assert_eq!(taken, expected, "one business receipt per stored message");
    for (id, receipt) in &receipts {
        let first_posted = &receipts.iter().find(|r| &r.0 == id).unwrap().1;
        assert_eq!(receipt, first_posted, "{id}: a repeat is the same receipt");
        assert_eq!(
            receipt["messageUUID"]
                .as_str()
                .map(str::to_lowercase)
                .as_deref(),
            Some(id.as_str())
        );
    }
    // The receiver: `webhook-id` is its de-duplication key (Standard Webhooks); one event per
    // stored message.
    let (events, webhook_repeats, delivered) = {
        let got = receiver.got.lock().unwrap();
        let (by_id, repeats) = repeats(got.iter().map(|d| d.webhook_id.as_str()));
        let mut per_message: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for d in got.iter() {
            let id = d.body["data"]["messageUuid"]
                .as_str()
                .unwrap()
                .to_lowercase();
            per_message
                .entry(id)
                .or_default()
                .insert(d.webhook_id.clone());
        }
        assert!(
            per_message.values().all(|ids| ids.len() == 1),
            "a message's event has one webhook-id"
        );
        let messages: BTreeSet<String> = per_message.into_keys().collect();
        assert_eq!(messages, expected, "one webhook per stored message");
        (by_id.len(), repeats, got.len())
    };
    assert_eq!(events, expected.len(), "one event per stored message");
    let bound = kills * IN_FLIGHT_PER_REPLICA;
    let passed: Vec<usize> = proxy
        .passed
        .iter()
        .map(|p| p.load(Ordering::Relaxed))
        .collect();
    eprintln!(
        "scale_out: {ROUNDS} rounds, {kills} kills, {} messages acknowledged ({resent} after a resend), \
         connections per replica {passed:?}; business receipts {} raw, {receipt_repeats} repeated; \
         webhooks {delivered} raw, {webhook_repeats} repeated (bound {bound} each); {:.1} s",
        expected.len(),
        receipts.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        receipt_repeats <= bound,
        "{receipt_repeats} business receipts posted again, more than {bound} ({kills} kills)"
    );
    assert!(
        webhook_repeats <= bound,
        "{webhook_repeats} webhooks posted again, more than {bound} ({kills} kills)"
    );
    assert!(
        passed.iter().all(|&p| p > 0),
        "the proxy spread connections over both replicas: {passed:?}"
    );
}
