//! How quickly the console answers with a million stored messages (issue 17: every page under
//! 100 ms at p99). Not part of `cargo test`: run it on a release build,
//!
//! ```sh
//! cargo build --release -p dpost
//! cargo test --release -p dpost-tests --test console_bench -- --ignored --nocapture
//! ```
//!
//! (the `dpost` it starts is the one beside the test binary, so `--release` measures the
//! release `dpost serve`; without it, the test profile's). `CONSOLE_BENCH_MESSAGES` sets the
//! count, default 1,000,000; `CONSOLE_BENCH_ROUNDS` the requests per page, default 100. The
//! filled store is kept under target/<profile>/../test-scratch/console-bench and reused while
//! it holds that many. The store is filled through `Store::ngdp_insert_messages`, the
//! receiving path's own insert, in batches: 4 mailboxes, one message in 500 invalid, one
//! business receipt in 1,000 refused, 5,000 senders, labels varied; then acknowledged through
//! `Store::handover_ack` as a platform would, all but the newest 2,000 and one in 1,000 of
//! the older ones. Then a real `dpost serve` answers each page ROUNDS times in a row, one
//! request at a time, over HTTP, and the median, the 99th percentile and the slowest are
//! printed per page, with the rows the page showed (a text search's answer is checked to be
//! a real one, not an empty page).

use std::io::Write as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use dpost::store::Store;
use dpost::store::ngdp::{NewFile, NewMessage};
use dpost_tests::serve::{self, Server};
use dpost_tests::*;

const PASSWORD: &str = "correct horse battery";
const MAILBOXES: [&str; 4] = ["standard", "daycare", "schools", "taxes"];
/// Messages left pending: the newest, and one in this many of the older ones.
const PENDING_NEWEST: u64 = 2000;
const PENDING_ONE_IN: u64 = 1000;

fn message(n: u64, start: i64) -> NewMessage {
    let uuid = format!("{:08x}-0000-4000-8000-{:012x}", n >> 16, n);
    NewMessage {
        uuid: uuid.clone(),
        environment: "test".into(),
        system_id: serve::SYSTEM.into(),
        via: "push",
        // A message a second, the newest now.
        received_at: start + n as i64,
        valid: !n.is_multiple_of(500),
        problems: if n.is_multiple_of(500) {
            serde_json::json!([{ "severity": "error", "code": "schema", "path": "/Message/MessageHeader/label", "line": 3, "column": 5, "message": "label is empty" }])
        } else {
            serde_json::json!([])
        },
        message_id: Some(format!("SAG-{n}")),
        label: Some(format!("Brev nummer {n} om sag {}", n % 9973)),
        sender_id: Some(format!("{}", 10_000_000 + n % 5000)),
        sender_label: Some(format!("Afsender {}", n % 5000)),
        recipient_id: Some("2211771212".into()),
        mailbox: MAILBOXES[(n % 4) as usize].into(),
        contact_point: None,
        routing_reason: serde_json::json!({ "reason": "no-contact-point" }),
        header: serde_json::json!({ "label": format!("Brev nummer {n}"), "memo_version": "1.2" }),
        dir: format!("/nonexistent/{uuid}"),
        raw_size: 2048,
        raw_sha256: "00".repeat(32),
        files: vec![NewFile {
            seq: 1,
            document_seq: 1,
            document_kind: "main".into(),
            document_label: None,
            filename: "brev.pdf".into(),
            encoding_format: "application/pdf".into(),
            language: "da".into(),
            path: "files/0001".into(),
            size: 1024,
            sha256: "00".repeat(32),
        }],
        receipt: serde_json::json!({ "messageUUID": uuid, "receiptStatus": "COMPLETED" })
            .to_string(),
        bytes_from: None,
    }
}

/// Acknowledge, as a platform would (oldest first, some left behind), every message but the
/// newest [`PENDING_NEWEST`] and one in [`PENDING_ONE_IN`] of the older ones; once per store.
fn acknowledge(store: &mut Store, count: u64) {
    let t = Instant::now();
    let last = count.saturating_sub(PENDING_NEWEST);
    for from in (1..=last).step_by(50_000) {
        store
            .in_transaction(|st| {
                for n in from..(from + 50_000).min(last + 1) {
                    if n % PENDING_ONE_IN != 7 {
                        let uuid = format!("{:08x}-0000-4000-8000-{:012x}", n >> 16, n);
                        st.handover_ack(&uuid, None, "api:bench", Some("SAG-1"), 0)?;
                    }
                }
                Ok(())
            })
            .unwrap();
    }
    eprintln!(
        "acknowledged {} messages in {:.1} s",
        last - last / PENDING_ONE_IN,
        t.elapsed().as_secs_f64()
    );
}

fn fill(db: &std::path::Path, count: u64, start: i64) {
    let mut store = Store::open(db).unwrap();
    let have: u64 = store
        .ngdp_mailboxes()
        .unwrap()
        .iter()
        .map(|(_, n, _)| n)
        .sum();
    if have >= count {
        eprintln!("store holds {have} messages already");
        // A store filled before the benchmark acknowledged messages.
        let acked: i64 = rusqlite::Connection::open(db)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM handover_acks", [], |r| r.get(0))
            .unwrap();
        if acked == 0 {
            acknowledge(&mut store, count);
        }
        return;
    }
    let t = Instant::now();
    let mut n = have;
    while n < count {
        let batch: Vec<NewMessage> = (n..(n + 5000).min(count))
            .map(|i| message(i + 1, start))
            .collect();
        let refs: Vec<&NewMessage> = batch.iter().collect();
        store.ngdp_insert_messages(&refs).unwrap();
        n += batch.len() as u64;
    }
    acknowledge(&mut store, count);
    drop(store);
    // One receipt in 1,000 refused by NgDP, the rest sent (as the outbox would have left them).
    rusqlite::Connection::open(db)
        .unwrap()
        .execute_batch(
            "UPDATE ngdp_outbox SET status = CASE WHEN rowid % 1000 = 0 THEN 'rejected' ELSE 'sent' END,
                last_error = CASE WHEN rowid % 1000 = 0 THEN 'HTTP 401: not authorized' END;
             ANALYZE;",
        )
        .unwrap();
    eprintln!(
        "filled {} messages in {:.1} s",
        count - have,
        t.elapsed().as_secs_f64()
    );
}

#[test]
#[ignore = "a benchmark: cargo test -p dpost-tests --test console_bench -- --ignored --nocapture"]
fn every_page_with_a_million_messages() {
    let count: u64 = std::env::var("CONSOLE_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rounds: usize = std::env::var("CONSOLE_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let dir = scratch_dir("console-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let db = dir.join("dpost.db");
    // Messages a second apart, the newest now (kept from the first fill when reused).
    Store::open(&db).unwrap();
    let sql = rusqlite::Connection::open(&db).unwrap();
    let first: Option<i64> = sql
        .query_row("SELECT MIN(received_at) FROM ngdp_messages", [], |r| {
            r.get(0)
        })
        .unwrap();
    let start = first.map_or(now - count as i64, |f| f - 1);
    fill(&db, count, start);
    let config = dir.join("dpost.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npath = \"dpost.db\"\n[serve]\nlisten = \"127.0.0.1:0\"\n[ngdp]\nmailboxes = [\"standard\", \"daycare\", \"schools\", \"taxes\"]\n\
             standard_mailbox = \"standard\"\n[ngdp.test]\napi_base = \"http://127.0.0.1:9/apis/v1\"\nsimulator = true\n[[ngdp.test.systems]]\nid = \"{}\"\n\
             protocol = \"push\"\nauthorization = \"{}\"\napi_token = \"token\"\n[api]\nlisten = \"127.0.0.1:0\"\n",
            serve::SYSTEM,
            serve::AUTH
        ),
    )
    .unwrap();
    let mut add = dpost_command()
        .args([
            "console",
            "user",
            "add",
            "ops",
            "--role",
            "admin",
            "--password-stdin",
            "--config",
        ])
        .arg(&config)
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(PASSWORD.as_bytes())
        .unwrap();
    assert!(add.wait().unwrap().success());
    let server = Server::start(&config);
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let base = server.api_url.clone();
    // Sign in.
    let form = client.get(format!("{base}/signin")).send().unwrap();
    let pre = form.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let body = form.text().unwrap();
    let at = body.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = &body[at..at + body[at..].find('"').unwrap()];
    let signed = client
        .post(format!("{base}/signin"))
        .header("Cookie", &pre)
        .form(&[("csrf", csrf), ("name", "ops"), ("password", PASSWORD)])
        .send()
        .unwrap();
    assert_eq!(signed.status().as_u16(), 303);
    let session = signed
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("dpost-session="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let deep = count / 2;
    let some = format!("{:08x}-0000-4000-8000-{:012x}", deep >> 16, deep);
    let refused = format!("{:08x}-0000-4000-8000-{:012x}", 1000u64 >> 16, 1000u64);
    let day: String = sql
        .query_row(
            "SELECT date(?1, 'unixepoch')",
            [start + count as i64 / 2],
            |r| r.get(0),
        )
        .unwrap();
    let day = day.as_str();
    let half = format!("{}.{deep}", start + deep as i64);
    // Each text's share of the million, from the fill's pattern: "Afsender N" is the sender
    // of n % 5000 == N, "sag M" ends the label of n % 9973 == M.
    let pages = [
        ("overview", "/".to_owned()),
        ("messages, newest", "/messages".to_owned()),
        (
            "messages, a page half-way down",
            format!("/messages?before={half}"),
        ),
        (
            "messages, one mailbox",
            "/messages?mailbox=schools".to_owned(),
        ),
        ("messages, pending", "/messages?state=pending".to_owned()),
        (
            "messages, pending, half-way down",
            format!("/messages?state=pending&before={half}"),
        ),
        (
            "messages, acknowledged",
            "/messages?state=acknowledged".to_owned(),
        ),
        (
            "messages, pending in one mailbox",
            "/messages?state=pending&mailbox=daycare".to_owned(),
        ),
        (
            "messages, invalid and pending",
            "/messages?invalid=true&state=pending".to_owned(),
        ),
        (
            "messages, one sender",
            "/messages?sender=10004321".to_owned(),
        ),
        (
            "messages, one day",
            format!("/messages?from={day}&to={day}"),
        ),
        (
            "text: 3 characters, every message (\"Afs\")",
            "/messages?q=Afs".to_owned(),
        ),
        (
            "text: common, 2.2 % (\"Afsender 12\")",
            "/messages?q=Afsender%2012".to_owned(),
        ),
        (
            "text: common, half-way down",
            format!("/messages?q=Afsender%2012&before={half}"),
        ),
        (
            "text: 0.22 %, near the threshold (\"Afsender 499\")",
            "/messages?q=Afsender%20499".to_owned(),
        ),
        (
            "text: rare, 0.01 % (\"sag 9972\")",
            "/messages?q=sag%209972".to_owned(),
        ),
        (
            "text: rare, half-way down",
            format!("/messages?q=sag%209972&before={half}"),
        ),
        (
            "text: rare, common trigrams (\"Afsender 1234\")",
            "/messages?q=Afsender%201234".to_owned(),
        ),
        (
            "text: long, one message (\"Brev nummer 123457 om sag\")",
            "/messages?q=Brev%20nummer%20123457%20om%20sag".to_owned(),
        ),
        (
            "text: none (\"nothing-matches\")",
            "/messages?q=nothing-matches".to_owned(),
        ),
        (
            "text 0.84 % and a mailbox (\"sag 99\", taxes)",
            "/messages?q=sag%2099&mailbox=taxes".to_owned(),
        ),
        (
            "text common and pending (\"Afsender 40\")",
            "/messages?q=Afsender%2040&state=pending".to_owned(),
        ),
        (
            "text common and acknowledged",
            "/messages?q=Afsender%2012&state=acknowledged".to_owned(),
        ),
        (
            "text common and invalid (none)",
            "/messages?q=Afsender%2012&invalid=true".to_owned(),
        ),
        (
            "text common and one day",
            format!("/messages?q=Afsender%2012&from={day}&to={day}"),
        ),
        (
            "text rare and one day",
            format!("/messages?q=sag%209972&from={day}&to={day}"),
        ),
        (
            "text 0.22 %, 0.16 % of a mailbox (stops on its budget)",
            "/messages?q=Afsender%20120&mailbox=schools".to_owned(),
        ),
        ("a message", format!("/messages/{some}")),
        (
            "a message with a refused receipt",
            format!("/messages/{refused}"),
        ),
        ("receipts, refused", "/receipts?status=rejected".to_owned()),
        ("receipts, all", "/receipts".to_owned()),
        ("outgoing", "/outgoing".to_owned()),
        ("webhooks", "/webhooks".to_owned()),
        ("digipost", "/digipost".to_owned()),
        ("audit", "/audit".to_owned()),
    ];
    let profile = if cfg!(debug_assertions) {
        "test profile"
    } else {
        "release"
    };
    println!(
        "{count} messages; {rounds} requests per page, one at a time; {} ({profile})",
        dpost_bin().display()
    );
    println!("| page | rows | p50 | p99 | slowest |\n|---|---|---|---|---|");
    let mut worst = Duration::ZERO;
    for (name, path) in &pages {
        let mut times = Vec::with_capacity(rounds);
        let mut shown = String::new();
        for _ in 0..rounds {
            let t = Instant::now();
            let r = client
                .get(format!("{base}{path}"))
                .header("Cookie", &session)
                .send()
                .unwrap();
            let status = r.status().as_u16();
            let body = r.text().unwrap();
            times.push(t.elapsed());
            assert_eq!(status, 200, "{path}");
            // Rows of the message list, and whether a text search stopped on its budget.
            let rows = body.matches("<td><a href=\"/messages/").count();
            shown = if body.contains("role=\"status\"") {
                format!("{rows}, stopped")
            } else if path == "/messages" || path.starts_with("/messages?") {
                rows.to_string()
            } else {
                "–".to_owned()
            };
        }
        times.sort();
        let p99 = times[(times.len() * 99).div_ceil(100) - 1];
        worst = worst.max(p99);
        println!(
            "| {name} | {shown} | {:.1} ms | {:.1} ms | {:.1} ms |",
            times[times.len() / 2].as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            times[times.len() - 1].as_secs_f64() * 1e3
        );
    }
    println!("slowest p99: {:.1} ms", worst.as_secs_f64() * 1e3);
}
