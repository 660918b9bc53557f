//! `dpost digipost archive list|export` on an archive `dpost digipost sync` filled from
//! `dpost sim digipost`: the filters, the table and JSON, and an export that checks every
//! file against the store, never replaces a different file without `--overwrite`, can be
//! repeated, and refuses (exit 1) what it cannot vouch for.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use dpost_tests::inbox_data::{self, SENDER, start_sim, sync};
use dpost_tests::*;
use serde_json::Value;

/// A synced archive of four documents (ids 100000..=100003; 100000 has one attachment and
/// 100003 two). Returns the configuration to pass as `--config` and every file's SHA-256.
fn archive(name: &str) -> (PathBuf, BTreeMap<i64, String>) {
    let dir = scratch_dir(name);
    // A fresh store and folders on every run.
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("inbox");
    let (hashes, ids) = inbox_data::write(&data, 4);
    assert_eq!(ids.len(), 4);
    let sim = start_sim(&data);
    sync(&dir.join("dpost.toml"), &sim.url);
    (dir.join("sync.toml"), hashes)
}

fn archive_cmd(config: &Path, args: &[&str]) -> Output {
    let mut c = dpost_command();
    c.args(["digipost", "archive"])
        .args(args)
        .arg("--config")
        .arg(config);
    c.output().expect("running dpost")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("an exit code")
}

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect()
}

/// The files in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    n.sort();
    n
}

fn acknowledge(config: &Path, id: i64) {
    let db = rusqlite::Connection::open(config.with_file_name("dpost.db")).unwrap();
    db.execute(
        "INSERT INTO digipost_acks (sender_id, id, actor, acked_at) VALUES (?1, ?2, 'cli:test', 1)",
        rusqlite::params![SENDER, id],
    )
    .unwrap();
}

#[test]
fn list_filters_and_shows_the_archive() {
    let (config, hashes) = archive("archive-list");
    let all = archive_cmd(&config, &["list", "--json"]);
    assert_eq!(code(&all), 0, "{}", String::from_utf8_lossy(&all.stderr));
    let all = stdout_json(&all);
    let mut seen = ids(&all);
    seen.sort();
    assert_eq!(seen, [100_000, 100_001, 100_002, 100_003]);
    for d in all.as_array().unwrap() {
        let id = d["id"].as_i64().unwrap();
        assert_eq!(d["sha256"], hashes[&id].as_str(), "{d}");
        assert_eq!(d["inboxSenderId"], SENDER);
    }

    let table = archive_cmd(&config, &["list"]);
    assert_eq!(code(&table), 0);
    let text = String::from_utf8(table.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("ID "), "{text}");
    assert_eq!(lines.len(), 5, "{text}");
    let row = lines.iter().find(|l| l.starts_with("100003 ")).unwrap();
    assert!(row.contains("pending") && row.ends_with("Brev 3"), "{row}");

    acknowledge(&config, 100_001);
    let pending = stdout_json(&archive_cmd(
        &config,
        &["list", "--json", "--state", "pending"],
    ));
    assert!(!ids(&pending).contains(&100_001));
    assert_eq!(ids(&pending).len(), 3);
    let acked = stdout_json(&archive_cmd(
        &config,
        &["list", "--json", "--state", "acknowledged"],
    ));
    assert_eq!(ids(&acked), [100_001]);
    assert_eq!(acked[0]["acknowledgement"]["by"], "cli:test", "{acked}");
    let table = archive_cmd(&config, &["list", "--state", "acknowledged"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains(" acked "));

    let two = stdout_json(&archive_cmd(&config, &["list", "--json", "--limit", "2"]));
    assert_eq!(ids(&two).len(), 2);
    let future = stdout_json(&archive_cmd(
        &config,
        &["list", "--json", "--since", "2999-01-01T00:00:00Z"],
    ));
    assert!(ids(&future).is_empty(), "{future}");
    let past = stdout_json(&archive_cmd(&config, &["list", "--json", "--since", "0"]));
    assert_eq!(ids(&past).len(), 4);
    let other = stdout_json(&archive_cmd(&config, &["list", "--json", "--sender", "1"]));
    assert!(ids(&other).is_empty());

    let bad = archive_cmd(&config, &["list", "--since", "yesterday"]);
    assert_eq!(code(&bad), 2);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("--since") && err.contains("yesterday"),
        "{err}"
    );
    let bad = archive_cmd(&config, &["list", "--state", "new"]);
    assert_eq!(code(&bad), 2);
}

#[test]
fn export_checks_every_file_and_never_replaces_silently() {
    let (config, hashes) = archive("archive-export");
    let out_dir = config.with_file_name("out");
    let out = out_dir.to_str().unwrap();

    // One document with its two attachments, each with its metadata beside it.
    let first = archive_cmd(&config, &["export", "100003", "--out", out, "--json"]);
    assert_eq!(
        code(&first),
        0,
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let report = stdout_json(&first);
    let files = report.as_array().unwrap();
    assert_eq!(files.len(), 6, "{report}");
    assert!(files.iter().all(|f| f["outcome"] == "written"), "{report}");
    let mut content_ids = Vec::new();
    for f in files {
        let path = PathBuf::from(f["path"].as_str().unwrap());
        assert_eq!(path.parent().unwrap(), out_dir);
        let id = f["id"].as_i64().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        if path.extension().is_some_and(|e| e == "json") {
            let meta: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(meta["id"], id);
            assert_eq!(meta["sha256"], hashes[&id].as_str());
            // Beside the file it describes.
            let described = path.with_extension("");
            assert_eq!(sha256_hex(&std::fs::read(described).unwrap()), hashes[&id]);
            if id != 100_003 {
                assert_eq!(meta["documentId"], 100_003, "{meta}");
            }
        } else {
            assert_eq!(sha256_hex(&bytes), hashes[&id], "{}", path.display());
            assert!(
                path.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with(&format!("{id}-")),
                "{}",
                path.display()
            );
            content_ids.push(id);
        }
    }
    assert_eq!(content_ids.len(), 3);
    assert_eq!(
        content_ids[0], 100_003,
        "the document first, then its attachments"
    );
    assert_eq!(names(&out_dir).len(), 6, "no temporary file is left");

    // Again into the same folder: nothing changes, nothing is refused.
    let again = archive_cmd(&config, &["export", "100003", "--out", out]);
    assert_eq!(
        code(&again),
        0,
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let text = String::from_utf8(again.stdout).unwrap();
    assert_eq!(
        text.lines().filter(|l| l.starts_with("unchanged")).count(),
        6,
        "{text}"
    );

    // A file changed by someone else is refused, and kept, unless --overwrite.
    let doc = PathBuf::from(files[0]["path"].as_str().unwrap());
    std::fs::write(&doc, b"edited by hand").unwrap();
    let refused = archive_cmd(&config, &["export", "100003", "--out", out]);
    assert_eq!(code(&refused), 1);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains(doc.to_str().unwrap()) && err.contains("--overwrite"),
        "{err}"
    );
    assert_eq!(std::fs::read(&doc).unwrap(), b"edited by hand");
    let replaced = archive_cmd(&config, &["export", "100003", "--out", out, "--overwrite"]);
    assert_eq!(code(&replaced), 0);
    assert!(String::from_utf8_lossy(&replaced.stdout).contains("replaced"));
    assert_eq!(sha256_hex(&std::fs::read(&doc).unwrap()), hashes[&100_003]);

    // An id not in the archive: named, exit 1, the others still exported.
    let missing = archive_cmd(&config, &["export", "100001", "42", "--out", out]);
    assert_eq!(code(&missing), 1);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no Digipost document 42"));
    assert!(names(&out_dir).iter().any(|n| n.starts_with("100001-")));

    // Everything a filter matches: four documents and three attachments.
    let every_dir = config.with_file_name("every");
    let every = archive_cmd(
        &config,
        &[
            "export",
            "--state",
            "all",
            "--out",
            every_dir.to_str().unwrap(),
        ],
    );
    assert_eq!(
        code(&every),
        0,
        "{}",
        String::from_utf8_lossy(&every.stderr)
    );
    assert_eq!(names(&every_dir).len(), 14, "{:?}", names(&every_dir));
    let limited_dir = config.with_file_name("limited");
    let limited = archive_cmd(
        &config,
        &[
            "export",
            "--limit",
            "1",
            "--out",
            limited_dir.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&limited), 0);
    assert!(names(&limited_dir).len() >= 2);
}

#[test]
fn export_refuses_what_the_store_no_longer_vouches_for() {
    let (config, _) = archive("archive-damaged");
    let db = rusqlite::Connection::open(config.with_file_name("dpost.db")).unwrap();
    db.execute(
        "UPDATE digipost_documents SET content = X'00' WHERE id = 100002",
        [],
    )
    .unwrap();
    drop(db);
    let out_dir = config.with_file_name("out");
    let r = archive_cmd(
        &config,
        &[
            "export",
            "100002",
            "100001",
            "--out",
            out_dir.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&r), 1);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("does not match the SHA-256"), "{err}");
    assert!(err.contains("1 of 3 file(s) not exported"), "{err}");
    // Neither the damaged file nor its metadata, nor anything temporary; the other document
    // is there.
    let n = names(&out_dir);
    assert!(!n.iter().any(|n| n.starts_with("100002")), "{n:?}");
    assert!(!n.iter().any(|n| n.contains("partial")), "{n:?}");
    assert_eq!(
        n.iter().filter(|n| n.starts_with("100001-")).count(),
        2,
        "{n:?}"
    );
}
