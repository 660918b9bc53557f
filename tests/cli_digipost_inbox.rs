//! `dpost digipost inbox …` and `dpost digipost sync` as a user runs them, against
//! `dpost sim digipost` started as a child process on 127.0.0.1:0.

use std::path::{Path, PathBuf};
use std::process::Output;

use dpost_tests::inbox_data::{self, BROKER, SENDER, Sim, start_sim, start_sim_with};
use dpost_tests::*;

fn dpost(args: &[&str], extra: &[&Path]) -> Output {
    dpost_command()
        .args(args)
        .args(extra)
        .output()
        .expect("running dpost")
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

/// The options that reach the simulator as the broker for `sender`, ending in `--key` (the
/// key's path follows).
fn connection<'a>(sim: &'a Sim, sender: &'a str) -> [&'a str; 7] {
    [
        "--base-url",
        sim.url.as_str(),
        "--broker-id",
        BROKER,
        "--sender",
        sender,
        "--key",
    ]
}

fn key() -> PathBuf {
    fixture("keys/broker.pkcs1.pem")
}

/// `dpost digipost sync --json --delete-after-archive` against `sim`, with the store
/// (`archive.db`, made fresh) and broker from a config file in `dir` and the rest from flags.
fn sync_json(sim: &Sim, dir: &Path) -> Output {
    let db = dir.join("archive.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let config = dir.join("dpost.toml");
    std::fs::write(
        &config,
        format!("[digipost]\nbroker_id = \"{BROKER}\"\nsender_id = \"{SENDER}\"\nretries = 1\n\n[store]\npath = \"archive.db\"\n"),
    )
    .unwrap();
    let args = [
        "digipost",
        "sync",
        "--json",
        "--delete-after-archive",
        "--base-url",
        sim.url.as_str(),
        "--config",
    ];
    dpost(&args, &[&config, Path::new("--key"), &key()])
}

#[test]
fn list_get_and_sync_from_the_command_line() {
    let data = scratch_dir("cli-inbox").join("data");
    let (hashes, ids) = inbox_data::write(&data, 12);
    let sim = start_sim(&data);
    let sender = SENDER.to_string();
    let common = connection(&sim, &sender);

    // list --json
    let mut args = vec!["digipost", "inbox", "list", "--json", "--limit", "5"];
    args.extend(common);
    let out = dpost(&args, &[&key()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let docs = v["documents"].as_array().unwrap();
    assert_eq!(docs.len(), 5);
    assert_eq!(docs[0]["id"], ids[0]);
    assert_eq!(docs[0]["subject"], "Brev 11");
    // Document 9 (i % 3 == 0, odd) has two attachments.
    let nine = docs.iter().find(|d| d["subject"] == "Brev 9").unwrap();
    assert_eq!(nine["attachments"].as_array().unwrap().len(), 2);

    // get -o
    let file = scratch_dir("cli-inbox").join("doc.pdf");
    let _ = std::fs::remove_file(&file);
    let id = ids[3].to_string();
    let mut args = vec![
        "digipost",
        "inbox",
        "get",
        "--id",
        id.as_str(),
        "-o",
        file.to_str().unwrap(),
    ];
    args.extend(common);
    let out = dpost(&args, &[&key()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        inbox_data::sha256_hex(&std::fs::read(&file).unwrap()),
        hashes[&ids[3]]
    );

    // sync --json, with the store and broker from a config file and the rest from flags.
    let dir = scratch_dir("cli-inbox");
    let db = dir.join("archive.db");
    let out = sync_json(&sim, &dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    assert_eq!(
        (
            v["listed"].as_u64(),
            v["archived"].as_u64(),
            v["deleted"].as_u64(),
            v["failed"].as_u64()
        ),
        (Some(12), Some(12), Some(12), Some(0)),
        "{v}"
    );
    assert!(v["elapsed_seconds"].as_f64().is_some());
    assert!(db.exists(), "the store is where the config file says");
    assert!(
        out.stderr.is_empty(),
        "no progress bar when stderr is not a terminal: {}",
        text(&out.stderr)
    );

    // Everything is gone from the inbox now.
    let mut args = vec!["digipost", "inbox", "list", "--json"];
    args.extend(common);
    let out = dpost(&args, &[&key()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["documents"].as_array().unwrap().is_empty());
}

/// `inbox delete --id` of an attachment or an id the inbox does not list says so, exits 1 and
/// never prints "deleted"; a listed document is deleted through its listed `delete-uri`, and
/// deleting it again (now unlisted) is refused the same way (issue 13).
#[test]
fn delete_refuses_attachments_and_unknown_ids() {
    let data = scratch_dir("cli-inbox-delete").join("data");
    let (_, ids) = inbox_data::write(&data, 4);
    let sim = start_sim(&data);
    let sender = SENDER.to_string();
    let delete = |id: &str| {
        let mut args = vec!["digipost", "inbox", "delete", "--id", id];
        args.extend(connection(&sim, &sender));
        dpost(&args, &[&key()])
    };
    // Document 0 (the oldest, ids[3]) has attachment 900000 (inbox_data::write).
    let out = delete("900000");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("attachment of document {}", ids[3]))
            && !err.contains("deleted document"),
        "{err}"
    );
    let out = delete("424242");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no document 424242") && !err.contains("deleted document"),
        "{err}"
    );

    let id = ids[0].to_string();
    let out = delete(&id);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&format!("deleted document {id}")));
    let out = delete(&id);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
}

/// `dpost sim digipost`'s switches for what Digipost does not publish, all at once, and
/// `dpost digipost sync` through them (issue 13).
#[test]
fn sync_from_the_command_line_through_the_simulator_switches() {
    let data = scratch_dir("cli-inbox-switches").join("data");
    inbox_data::write(&data, 4);
    let sim = start_sim_with(
        &data,
        &[
            "--certificate-pem",
            "one-line",
            "--unsigned-entrypoint",
            "--unsigned-redirect",
            "--missing-document",
            "document-not-found",
            "--document-uris",
            "links",
            "--response-user-id",
        ],
    );
    let out = sync_json(&sim, &scratch_dir("cli-inbox-switches"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    // 4 documents and 3 attachments (inbox_data::write): 7 contents, each behind an unsigned
    // 307.
    assert_eq!(
        (
            v["archived"].as_u64(),
            v["deleted"].as_u64(),
            v["failed"].as_u64(),
            v["unsigned_redirects"].as_u64()
        ),
        (Some(4), Some(4), Some(0), Some(7)),
        "{v}"
    );
}

#[test]
fn a_refused_signature_is_shown_side_by_side_and_bad_config_names_the_line() {
    let data = scratch_dir("cli-inbox-403").join("data");
    inbox_data::write(&data, 1);
    let sim = start_sim(&data);
    let sender = SENDER.to_string();
    let wrong_key = fixture("keys/server.key.pem");
    let mut args = vec!["digipost", "inbox", "list"];
    args.extend(connection(&sim, &sender));
    let out = dpost(&args, &[&wrong_key]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        // Digipost's documented answer is 403 GENERAL_ERROR; dpost keys on the echo.
        err.contains("server (from the 403)")
            && err.contains("refused the request signature (403)"),
        "{err}"
    );
    assert!(err.contains("the strings are identical"), "{err}");

    let config = scratch_dir("cli-inbox-403").join("bad.toml");
    std::fs::write(&config, "[digipost]\nbroker_id = \"1\"\nbase-url = \"x\"\n").unwrap();
    let out = dpost(&["digipost", "inbox", "list", "--config"], &[&config]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("bad.toml:3 (digipost.base-url): unknown field"),
        "{err}"
    );
}
