//! How quickly the console answers with a million stored messages (issue 17: every page under
//! 100 ms at p99). Not part of `cargo test`: run it with
//!
//! ```sh
//! cargo test -p dpost-tests --test console_bench -- --ignored --nocapture
//! ```
//!
//! (`CONSOLE_BENCH_MESSAGES` sets the count, default 1,000,000; the filled store is kept under
//! target/test-scratch/console-bench and reused while it holds that many). The store is
//! filled through `Store::ngdp_insert_messages`, the receiving path's own insert, in batches:
//! 4 mailboxes, one message in 500 invalid, one business receipt in 1,000 refused, senders and
//! labels varied. Then a real `dpost serve` answers each page 40 times in a row, one request
//! at a time, and the slowest, the 99th percentile and the median are printed per page.

use std::io::Write as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use dpost::store::Store;
use dpost::store::ngdp::{NewFile, NewMessage};
use dpost_tests::serve::{self, Server};
use dpost_tests::*;

const PASSWORD: &str = "correct horse battery";
const MAILBOXES: [&str; 4] = ["standard", "daycare", "schools", "taxes"];
const ROUNDS: usize = 40;

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
    }
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
    let pages = [
        ("overview", "/".to_owned()),
        ("messages, newest", "/messages".to_owned()),
        (
            "messages, a page half-way down",
            format!("/messages?before={}.{deep}", start + deep as i64),
        ),
        (
            "messages, one mailbox",
            "/messages?mailbox=schools".to_owned(),
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
            "messages, text (common)",
            "/messages?q=Afsender%2012".to_owned(),
        ),
        (
            "messages, text and a mailbox",
            "/messages?q=sag%2099&mailbox=taxes".to_owned(),
        ),
        ("messages, text (rare)", "/messages?q=sag%209972".to_owned()),
        (
            "messages, text (none)",
            "/messages?q=nothing-matches".to_owned(),
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
    println!("{count} messages; {ROUNDS} requests per page, one at a time");
    println!("| page | median | p99 | slowest |\n|---|---|---|---|");
    let mut worst = Duration::ZERO;
    for (name, path) in &pages {
        let mut times = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let t = Instant::now();
            let r = client
                .get(format!("{base}{path}"))
                .header("Cookie", &session)
                .send()
                .unwrap();
            let status = r.status().as_u16();
            let _ = r.bytes().unwrap();
            times.push(t.elapsed());
            assert_eq!(status, 200, "{path}");
        }
        times.sort();
        let p99 = times[(times.len() * 99).div_ceil(100) - 1];
        worst = worst.max(p99);
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {:.1} ms |",
            times[times.len() / 2].as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            times[times.len() - 1].as_secs_f64() * 1e3
        );
    }
    println!("slowest p99: {:.1} ms", worst.as_secs_f64() * 1e3);
}
