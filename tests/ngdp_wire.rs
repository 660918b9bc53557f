//! NgDP as published (issue 13): the real client (`dpost ngdp pull`, `dpost ngdp send`) against
//! every variant `dpost sim ngdp` plays where NgDP's behaviour is not published — receipts
//! listed by id or in bulk (bulk present or 404), a resend answered 201, 400 or 409, a batch as
//! the body or as multipart — and the rules that must hold whatever NgDP does: a receipt is
//! stored once, a failed DELETE is reported, a message stays at NgDP until its business
//! receipt is taken, and every send declares its Content-Length (the simulator answers 411 to
//! a chunked one).

use std::path::{Path, PathBuf};
use std::process::{Child, Output};

use dpost_tests::serve::{self, SYSTEM, client, count, start_sim, uuid};
use dpost_tests::*;
use serde_json::{Value, json};

/// A pull system's configuration in a fresh folder, its API at `sim_url`.
fn pull_config(name: &str, sim_url: &str, system_extra: &str) -> PathBuf {
    serve::config(&format!("wire-{name}"))
        .api_base(&format!("{sim_url}/apis/v1"))
        .protocol("pull")
        .system_extra(system_extra)
        .write()
}

/// The simulator with the system's credentials and `extra` arguments.
fn sim(messages: &Path, extra: &[&str]) -> (Child, String) {
    let mut args = vec![
        "--messages",
        messages.to_str().unwrap(),
        "--system-id",
        SYSTEM,
        "--api-token",
        "token",
    ];
    args.extend_from_slice(extra);
    start_sim(&args)
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// `dpost ngdp pull --json`: its exit code and summary.
fn pull(config: &Path) -> (Option<i32>, Value) {
    let out = run_with_config(config, &["ngdp", "pull", "--system", SYSTEM, "--json"]);
    let summary = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), summary)
}

fn sim_status(sim_url: &str) -> Value {
    client()
        .get(format!("{sim_url}/_sim/status"))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

fn empty_folder(name: &str) -> PathBuf {
    let dir = scratch_dir(&format!("wire-{name}-messages"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Receipts waiting at NgDP: one complete, one without `timeStamp` and `errorCode` (INVALID),
/// one without `messageUUID` — none of the members is required by NgDP's `Receipt` schema.
fn waiting_receipts(name: &str) -> PathBuf {
    let dir = empty_folder(&format!("{name}-receipts"));
    let receipts = [
        json!({"transmissionId": "0d6f3c2a-1111-4222-8333-944455556601", "messageUUID": uuid(901),
               "messageId": null, "errorCode": null, "errorMessage": null,
               "timeStamp": "2023-08-25T00:49:34.437Z", "receiptStatus": "COMPLETED"}),
        json!({"transmissionId": "0d6f3c2a-1111-4222-8333-944455556602", "messageUUID": uuid(902),
               "receiptStatus": "INVALID"}),
        json!({"transmissionId": "0d6f3c2a-1111-4222-8333-944455556603",
               "timeStamp": "2023-08-25T00:49:35Z", "receiptStatus": "RECEIVED"}),
    ];
    for (i, r) in receipts.iter().enumerate() {
        std::fs::write(dir.join(format!("{i}.json")), r.to_string()).unwrap();
    }
    dir
}

#[test]
fn receipts_are_pulled_in_every_listing_variant_stored_once_and_deleted() {
    // (the system's receipt_listing, the simulator's switches)
    let variants: [(&str, &[&str]); 3] = [
        ("ids", &[]),
        ("bulk", &[]),
        ("bulk", &["--no-receipts-bulk"]),
    ];
    for (n, (listing, switches)) in variants.into_iter().enumerate() {
        let name = format!("receipts-{n}");
        let receipts = waiting_receipts(&name);
        let mut args = vec!["--receipts", receipts.to_str().unwrap()];
        args.extend_from_slice(switches);
        let (child, url) = sim(&empty_folder(&name), &args);
        let config = pull_config(&name, &url, &format!("receipt_listing = \"{listing}\""));
        let (code, summary) = pull(&config);
        let case = format!("{listing} {switches:?}: {summary}");
        assert_eq!(code, Some(0), "{case}");
        assert_eq!(summary["receipts_stored"], 3, "{case}");
        assert_eq!(summary["receipts_deleted"], 3, "{case}");
        // The two incomplete receipts are kept, each with what it lacks.
        let warned = summary["receipt_warnings"].to_string();
        assert_eq!(
            summary["receipt_warnings"].as_array().unwrap().len(),
            2,
            "{case}"
        );
        assert!(warned.contains("no timeStamp"), "{case}");
        assert!(warned.contains("no messageUUID"), "{case}");
        // Nothing waits any more; a second run stores nothing.
        let (code, again) = pull(&config);
        assert_eq!(code, Some(0), "{again}");
        assert_eq!(again["receipts_stored"], 0, "{again}");
        assert_eq!(again["receipts_already_stored"], 0, "{again}");
        stop(child);
    }
}

#[test]
fn a_receipt_whose_delete_fails_is_reported_and_not_stored_twice() {
    let name = "receipt-delete-fails";
    let receipts = waiting_receipts(name);
    let (child, url) = sim(
        &empty_folder(name),
        &[
            "--receipts",
            receipts.to_str().unwrap(),
            "--fail-receipt-deletes",
            "1",
        ],
    );
    let config = pull_config(name, &url, "");
    let (code, summary) = pull(&config);
    assert_eq!(code, Some(1), "a failed DELETE is an error: {summary}");
    assert_eq!(summary["receipts_stored"], 3, "{summary}");
    assert_eq!(summary["receipts_deleted"], 2, "{summary}");
    let failed = summary["failed"].to_string();
    assert!(failed.contains("DELETE receipts/"), "{failed}");
    // NgDP's ErrorMessage, not a bare status.
    assert!(failed.contains("HTTP 500: INTERNAL_ERROR"), "{failed}");

    // Listed again: stored before, so not stored twice, and deleted now.
    let (code, again) = pull(&config);
    assert_eq!(code, Some(0), "{again}");
    assert_eq!(again["receipts_stored"], 0, "{again}");
    assert_eq!(again["receipts_already_stored"], 1, "{again}");
    assert_eq!(again["receipts_deleted"], 1, "{again}");
    stop(child);
}

/// `n` messages in a folder the simulator serves for pulling.
fn pull_messages(name: &str, n: u32) -> (PathBuf, Vec<String>) {
    let dir = empty_folder(name);
    let ids: Vec<String> = (0..n).map(|i| uuid(700 + i)).collect();
    for (i, id) in ids.iter().enumerate() {
        std::fs::write(
            dir.join(format!("{i:03}.xml")),
            serve::message(id, b"a letter"),
        )
        .unwrap();
    }
    (dir, ids)
}

#[test]
fn a_pulled_message_stays_at_ngdp_until_its_business_receipt_is_taken() {
    let name = "pull-order";
    let (dir, _ids) = pull_messages(name, 2);
    // NgDP refuses the first two business receipts for now (503).
    let (child, url) = sim(&dir, &["--fail-business-receipts", "2"]);
    let config = pull_config(name, &url, "");
    let (code, summary) = pull(&config);
    assert_eq!(code, Some(1), "{summary}");
    assert_eq!(summary["stored"], 2, "{summary}");
    assert_eq!(summary["receipts_sent"], 0, "{summary}");
    assert_eq!(summary["deleted"], 0, "{summary}");
    assert_eq!(summary["deletion_owed"], 2, "{summary}");
    assert!(
        summary["failed"]
            .to_string()
            .contains("HTTP 503: SERVICE_UNAVAILABLE"),
        "{summary}"
    );
    let status = sim_status(&url);
    assert_eq!(status["deleted"], json!([]), "nothing deleted: {status}");
    assert_eq!(count(&config), 2);

    // The next run sends the receipts, and only then deletes.
    let (code, summary) = pull(&config);
    assert_eq!(code, Some(0), "{summary}");
    assert_eq!(summary["already_stored"], 2, "{summary}");
    assert_eq!(summary["receipts_sent"], 2, "{summary}");
    assert_eq!(summary["deleted"], 2, "{summary}");
    let status = sim_status(&url);
    assert_eq!(status["deleted"].as_array().unwrap().len(), 2, "{status}");
    assert_eq!(
        status["receipts_received"].as_array().unwrap().len(),
        2,
        "{status}"
    );
    assert_eq!(count(&config), 2);
    stop(child);
}

/// Files for `n` valid messages beside `config`, each with its own messageUUID.
fn outgoing(config: &Path, first: u32, n: u32) -> Vec<PathBuf> {
    (first..first + n)
        .map(|i| {
            let path = config.with_file_name(format!("out-{i}.xml"));
            std::fs::write(&path, serve::message(&uuid(i), b"an outgoing letter")).unwrap();
            path
        })
        .collect()
}

fn send(config: &Path, files: &[PathBuf]) -> Output {
    let mut args = vec!["ngdp", "send", "--system", SYSTEM, "--retry-delay-ms", "10"];
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    run_with_config(config, &args)
}

#[test]
fn sends_declare_their_length_and_survive_every_resend_answer() {
    // A single message, then a batch as the body and as multipart, against each answer.
    let answers = ["created", "bad-request", "conflict"];
    let uploads = [None, Some("lzma"), Some("multipart")];
    let mut first = 1000;
    for answer in answers {
        for upload in uploads {
            let name = format!("send-{answer}-{}", upload.unwrap_or("single"));
            // The first send is stored and its answer lost, so the retry is a resend NgDP
            // answers as the variant says.
            let (child, url) = sim(
                &empty_folder(&name),
                &["--resend-answer", answer, "--drop-first-sends", "1"],
            );
            let extra = upload.map_or(String::new(), |u| format!("batch_upload = \"{u}\""));
            let config = pull_config(&name, &url, &extra);
            let n = if upload.is_some() { 3 } else { 1 };
            let files = outgoing(&config, first, n);
            let out = send(&config, &files);
            let case = format!("{name}: {}", String::from_utf8_lossy(&out.stderr));
            assert!(out.status.success(), "{case}");
            let status = sim_status(&url);
            let sent = status["sent"].as_array().unwrap();
            assert_eq!(sent.len(), n as usize, "{case}: {status}");
            // Each was posted twice (the first answer lost) and kept once.
            assert!(sent.iter().all(|m| m["posts"] == 2), "{case}: {status}");
            for i in first..first + n {
                let out = run_with_config(&config, &["message", "status", &uuid(i), "--json"]);
                let s: Value = serde_json::from_slice(&out.stdout).unwrap();
                assert_eq!(s["sent"]["status"], "sent", "{case}: {s}");
            }
            stop(child);
            first += 10;
        }
    }
}

#[test]
fn a_uuid_ngdp_has_already_is_refused_with_its_error_message() {
    // A second installation sends a messageUUID NgDP already has: not a resend of its own,
    // so the 400 is a refusal, shown and stored with NgDP's code and message.
    let name = "duplicate-refused";
    let (child, url) = sim(&empty_folder(name), &["--resend-answer", "bad-request"]);
    let first = pull_config(&format!("{name}-a"), &url, "");
    let files = outgoing(&first, 1100, 1);
    assert!(send(&first, &files).status.success());
    let second = pull_config(&format!("{name}-b"), &url, "");
    let files = outgoing(&second, 1100, 1);
    let out = send(&second, &files);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("HTTP 400: DUPLICATE_MESSAGE_UUID: a message with messageUUID"),
        "{stderr}"
    );
    let out = run_with_config(&second, &["message", "status", &uuid(1100), "--json"]);
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["sent"]["status"], "failed", "{s}");
    assert!(
        s["sent"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("DUPLICATE_MESSAGE_UUID"),
        "{s}"
    );
    stop(child);
}

#[test]
fn a_chunked_send_is_refused_by_the_simulator() {
    let name = "chunked";
    let (child, url) = sim(&empty_folder(name), &[]);
    let body = serve::message(&uuid(1200), b"x");
    // A reader of unknown length: the client sends it chunked.
    let stream = std::io::Cursor::new(body);
    let r = client()
        .post(format!(
            "{url}/apis/v1/memos/?memo-message-uuid={}",
            uuid(1200)
        ))
        .basic_auth(SYSTEM, Some("token"))
        .header("Content-Type", "application/xml")
        .body(reqwest::blocking::Body::new(stream))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 411);
    let body: Value = r.json().unwrap();
    assert_eq!(body["code"], "LENGTH_REQUIRED", "{body}");
    assert!(sim_status(&url)["sent"].as_array().unwrap().is_empty());
    stop(child);
}

#[test]
fn the_outbox_deletes_a_pulled_message_once_its_receipt_goes_through() {
    let name = "outbox-delete";
    let (dir, _ids) = pull_messages(name, 1);
    // The first business receipt is refused for now: the pull run leaves the message at
    // NgDP with its deletion owed; the outbox's retry sends the receipt, then deletes.
    let (child, url) = sim(&dir, &["--fail-business-receipts", "1"]);
    let config = serve::config(&format!("wire-{name}"))
        .api_base(&format!("{url}/apis/v1"))
        .protocol("pull")
        .system_extra("pull_interval_seconds = 3600")
        .write();
    let mut server = serve::Server::start(&config);
    let mut status = sim_status(&url);
    for _ in 0..120 {
        if status["deleted"].as_array().is_some_and(|d| !d.is_empty()) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
        status = sim_status(&url);
    }
    server.kill();
    assert_eq!(status["deleted"].as_array().unwrap().len(), 1, "{status}");
    // Deleted only after the receipt NgDP took.
    assert_eq!(
        status["receipts_received"].as_array().unwrap().len(),
        1,
        "{status}"
    );
    assert_eq!(count(&config), 1);
    stop(child);
}
