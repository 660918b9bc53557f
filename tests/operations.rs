//! What an operator runs dpost with (issue 16): logs, metrics, reloading the configuration
//! on SIGHUP, backup / restore / verify, retention, and the data folder's ownership.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use dpost_tests::serve::{self, AUTH, SYSTEM, Server, message, message_to, show, uuid};
use dpost_tests::{dpost_command, fixture, run_with_config};

const CP_A: &str = "0d6b9a52-1c7e-4b1e-9d1f-6f0b5f1e2a3c";
const CP_SCHOOL: &str = "5a1e4b63-2d8f-4c9a-8e0b-7f1c6a2d3e4b";

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The lines `child` writes to standard error, as they come.
fn stderr_lines(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let err = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The first line from `rx` containing `needle` (at most 30 s of waiting).
fn line_with(rx: &mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    panic!("no log line with {needle:?}");
}

#[test]
fn unknown_log_levels_are_refused_with_exit_2() {
    let out = dpost_command()
        .args(["--log", "verbose", "memo", "validate"])
        .arg(fixture("memo/MeMo_v1.2_Minimum_Example.xml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("--log: unknown log level \"verbose\""),
        "{}",
        stderr_of(&out)
    );
    let out = dpost_command()
        .env("RUST_LOG", "dpost=loud")
        .args(["memo", "validate"])
        .arg(fixture("memo/MeMo_v1.2_Minimum_Example.xml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("RUST_LOG: unknown log level \"loud\""),
        "{}",
        stderr_of(&out)
    );
    let out = dpost_command()
        .args([
            "--log",
            "dpost=debug,warn",
            "--log-format",
            "json",
            "memo",
            "validate",
        ])
        .arg(fixture("memo/MeMo_v1.2_Minimum_Example.xml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
}

#[test]
fn json_logs_say_each_message_once_without_colours() {
    let config = serve::setup("ops-logs", 1 << 20, "");
    let mut server = Server::start_with(&config, |c| {
        c.args(["--log", "info", "--log-format", "json"])
            .stderr(Stdio::piped());
    });
    let rx = stderr_lines(&mut server.child);
    let started = line_with(&rx, "dpost serve started");
    let v: serde_json::Value = serde_json::from_str(&started).expect("a JSON object per line");
    assert_eq!(v["level"], "INFO");
    let id = uuid(0x0516_0001);
    let (status, body) = server.push_raw(message(&id, b"logged"));
    assert_eq!(status, 200, "{body}");
    let stored = line_with(&rx, "message stored");
    assert!(
        !stored.contains('\u{1b}'),
        "no ANSI escapes off a terminal: {stored}"
    );
    let v: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(v["uuid"], id.to_ascii_lowercase());
    assert_eq!(v["mailbox"], "standard");
}

#[test]
fn metrics_have_the_prometheus_type_last_receipt_time_and_certificate_days() {
    let dir = dpost_tests::scratch_dir("serve-ops-metrics");
    let config = serve::config("ops-metrics")
        .system_extra("certificate = \"function.pem\"")
        .write();
    // A PEM function certificate (key and certificate in one file) valid until 2126-10-28.
    let mut pem = std::fs::read(fixture("keys/broker.pkcs1.pem")).unwrap();
    pem.extend(std::fs::read(fixture("keys/broker.cert.pem")).unwrap());
    std::fs::write(dir.join("function.pem"), pem).unwrap();
    let server = Server::start(&config);
    let (status, _) = server.push_raw(message(&uuid(0x0516_0002), b"m"));
    assert_eq!(status, 200);
    let before = now();
    let r = serve::client()
        .get(format!("{}/metrics", server.api_url))
        .send()
        .unwrap();
    let after = now();
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "text/plain; version=0.0.4"
    );
    let text = r.text().unwrap();
    let value = |prefix: &str| -> i64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let received = value(&format!(
        "dpost_last_message_received_timestamp_seconds{{system=\"{SYSTEM}\"}}"
    ));
    assert!(received <= after && received >= before - 60, "{received}");
    const NOT_AFTER: i64 = 4_948_847_634; // notAfter of tests/fixtures/keys/broker.cert.pem
    let days = value(&format!(
        "dpost_certificate_expiry_days{{system=\"{SYSTEM}\",certificate=\"{}\"}}",
        dir.join("function.pem").display()
    ));
    assert!(
        [
            (NOT_AFTER - after).div_euclid(86_400),
            (NOT_AFTER - before).div_euclid(86_400)
        ]
        .contains(&days),
        "{days}"
    );
    assert!(text.contains("dpost_webhook_backlog 0"), "{text}");
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The mailbox a stored message went to.
fn mailbox_of(config: &Path, id: &str) -> String {
    let shown = show(config, id).unwrap_or_else(|| panic!("{id} is stored"));
    shown["message"]["mailbox"]
        .as_str()
        .unwrap_or_else(|| panic!("{shown}"))
        .to_owned()
}

#[test]
fn sighup_reroutes_by_new_contact_points_while_an_upload_completes() {
    let config = serve::config("ops-reload")
        .contact_point(CP_A, "daycare")
        .contact_point(CP_SCHOOL, "school")
        .write();
    let server = Server::start(&config);

    // Before: CP_A goes to daycare.
    let first = uuid(0x0516_0010);
    assert_eq!(server.push_raw(message_to(&first, Some(CP_A), b"a")).0, 200);
    assert_eq!(mailbox_of(&config, &first), "daycare");

    // A long upload on its own connection: headers and half of the body now.
    let slow_id = uuid(0x0516_0011);
    let slow_body = message_to(&slow_id, Some(CP_A), &vec![b'x'; 200_000]);
    let mut slow = TcpStream::connect(server.addr()).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        slow,
        "POST /api/MeMoV1/memos/?system-uuid={SYSTEM} HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        slow_body.len()
    )
    .unwrap();
    let half = slow_body.len() / 2;
    slow.write_all(&slow_body[..half]).unwrap();
    slow.flush().unwrap();

    // The import rewrites dpost.toml and tells the running serve, which reloads.
    let csv = config.parent().unwrap().join("mapping.csv");
    std::fs::write(
        &csv,
        format!("mailbox,contact_point,label,audiences\nschool,{CP_A},Skole,citizens\n"),
    )
    .unwrap();
    let out = run_with_config(
        &config,
        &["contact-points", "import", csv.to_str().unwrap()],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout_of(&out),
        stderr_of(&out)
    );
    assert!(
        stdout_of(&out).contains("reloaded it"),
        "the import says the running serve took it: {}",
        stdout_of(&out)
    );

    // A push now is routed by the new contact points...
    let second = uuid(0x0516_0012);
    assert_eq!(
        server.push_raw(message_to(&second, Some(CP_A), b"b")).0,
        200
    );
    assert_eq!(mailbox_of(&config, &second), "school");

    // ...while the upload that began before the reload completes on its connection.
    slow.write_all(&slow_body[half..]).unwrap();
    let mut answer = String::new();
    slow.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(show(&config, &slow_id).is_some());

    // A configuration that does not check out is refused; the running one stays.
    let good = std::fs::read_to_string(&config).unwrap();
    // Were it taken, CP_A would route to daycare again; its standard mailbox does not exist.
    let broken = good
        .replace("mailbox = \"school\"", "mailbox = \"daycare\"")
        .replace(
            "standard_mailbox = \"standard\"",
            "standard_mailbox = \"nope\"",
        );
    assert_ne!(broken, good);
    std::fs::write(&config, broken).unwrap();
    let pid: i32 = std::fs::read_to_string(serve::data_dir(&config).join("serve.lock"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let before = std::fs::read_to_string(serve::data_dir(&config).join("serve.reload")).unwrap();
    // SAFETY: signalling the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let status = wait_for_change(&serve::data_dir(&config).join("serve.reload"), &before);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["ok"], false, "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("standard_mailbox"),
        "{status}"
    );
    let third = uuid(0x0516_0013);
    assert_eq!(server.push_raw(message_to(&third, Some(CP_A), b"c")).0, 200);
    assert_eq!(
        mailbox_of(&config, &third),
        "school",
        "the old configuration stays"
    );

    // API clients are reloaded too: a client added to the file is let in after SIGHUP.
    let token = "ops-reload-client-token";
    let list = |t: &str| {
        serve::client()
            .get(format!("{}/api/v1/messages", server.api_url))
            .bearer_auth(t)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(list(token), 401);
    let before = std::fs::read_to_string(serve::data_dir(&config).join("serve.reload")).unwrap();
    std::fs::write(
        &config,
        format!(
            "{good}\n[[api.clients]]\nname = \"casework\"\ntoken_sha256 = \"{}\"\nscopes = [\"messages:read\"]\n",
            dpost_tests::sha256_hex(token.as_bytes())
        ),
    )
    .unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let status = wait_for_change(&serve::data_dir(&config).join("serve.reload"), &before);
    assert!(status.contains("\"ok\":true"), "{status}");
    assert_eq!(list(token), 200);
}

/// The contents of `path` once they differ from `before` (at most 30 s).
fn wait_for_change(path: &Path, before: &str) -> String {
    for _ in 0..600 {
        if let Ok(now) = std::fs::read_to_string(path)
            && now != before
        {
            return now;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} did not change", path.display());
}

#[test]
fn import_says_when_no_serve_runs() {
    let config = serve::config("ops-import-alone")
        .contact_point(CP_SCHOOL, "school")
        .write();
    let csv = config.parent().unwrap().join("mapping.csv");
    std::fs::write(
        &csv,
        format!("mailbox,contact_point,label,audiences\nschool,{CP_A},Skole,citizens\n"),
    )
    .unwrap();
    let out = run_with_config(
        &config,
        &["contact-points", "import", csv.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(
        stdout_of(&out).contains("no dpost serve runs on this data folder"),
        "{}",
        stdout_of(&out)
    );
}

#[test]
fn one_serve_per_data_folder_and_spool_leftovers_go_at_start() {
    let config = serve::setup("ops-owner", 1 << 20, "");
    // A crash's leftover, seconds old (not an hour): no process owns the spool.
    let leftover = serve::data_dir(&config).join("spool").join("crashed");
    std::fs::create_dir_all(leftover.join("files")).unwrap();
    std::fs::write(leftover.join("message.xml"), b"<half").unwrap();
    let server = Server::start(&config);
    assert!(!leftover.exists(), "the dead owner's leftover is removed");
    let second = run_with_config(&config, &["serve"]);
    assert_eq!(second.status.code(), Some(2));
    let said = stderr_of(&second);
    assert!(
        said.contains(&format!(
            "another dpost serve (process {}) runs on the data folder",
            server.child.id()
        )),
        "{said}"
    );
}

/// Push `n` messages from `first` on, one after the other; how many were answered 200.
fn push_many(server_url: String, first: u32, n: u32) -> u32 {
    let client = serve::client();
    let mut ok = 0;
    for i in 0..n {
        let id = uuid(first + i);
        let r = client
            .post(format!(
                "{server_url}/api/MeMoV1/memos/?system-uuid={SYSTEM}"
            ))
            .header("Authorization", AUTH)
            .header("Content-Type", "application/xml")
            .body(message(&id, format!("document {i}").as_bytes()))
            .send()
            .unwrap();
        if r.status().as_u16() == 200 {
            ok += 1;
        }
    }
    ok
}

/// SQLite only by nature: `dpost store backup|restore|verify` copy and check the SQLite file
/// (its online backup API, `PRAGMA integrity_check`). On PostgreSQL they refuse and name the
/// server's own tools (docs/scale-out.md, "Backups"); that refusal is what is checked there.
#[test]
fn backup_under_load_restores_into_an_empty_folder_and_verifies_clean() {
    let config = serve::setup("ops-backup", 1 << 20, "");
    let backup = dpost_tests::scratch_dir("ops-backup-copy").join("b1");
    let _ = std::fs::remove_dir_all(&backup);
    if dpost_tests::postgres::enabled() {
        for args in [
            vec!["store", "backup", backup.to_str().unwrap()],
            vec!["store", "restore", backup.to_str().unwrap()],
            vec!["store", "verify"],
        ] {
            let out = run_with_config(&config, &args);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr_of(&out));
            let said = stderr_of(&out);
            assert!(
                said.contains("this configuration's store is PostgreSQL")
                    && said.contains("pg_dump"),
                "{args:?}: {said}"
            );
        }
        assert!(!backup.exists(), "nothing written");
        return;
    }
    let server = Server::start(&config);
    assert_eq!(push_many(server.url.clone(), 0x0516_1000, 10), 10);

    // Pushes keep arriving while the backup runs.
    let url = server.url.clone();
    let load = std::thread::spawn(move || push_many(url, 0x0516_2000, 40));
    let out = run_with_config(
        &config,
        &["store", "backup", backup.to_str().unwrap(), "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(load.join().unwrap(), 40);
    let in_backup = summary["files"].as_u64().unwrap();
    // Each message here is its MeMo and one document: two files.
    assert!(in_backup >= 20 && in_backup.is_multiple_of(2), "{summary}");

    // The backup refuses a folder that is not empty.
    let again = run_with_config(&config, &["store", "backup", backup.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr_of(&again).contains("is not empty"),
        "{}",
        stderr_of(&again)
    );

    // Restore into a fresh folder elsewhere: paths are rewritten, everything verifies.
    let restored = serve::setup("ops-restored", 1 << 20, "");
    let out = run_with_config(&restored, &["store", "restore", backup.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let out = run_with_config(&restored, &["store", "verify", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["checked"].as_u64(), Some(in_backup));
    assert_eq!(v["database"], "ok");
    assert_eq!(v["problems"].as_array().unwrap().len(), 0);
    assert_eq!(serve::count(&restored) as u64, in_backup / 2);
    let one = show(&restored, &uuid(0x0516_1000)).expect("restored");
    assert!(
        one.to_string()
            .contains(&serve::data_dir(&restored).display().to_string()),
        "its files are in the new data folder: {one}"
    );

    // A second restore over it is refused, and changes nothing.
    let out = run_with_config(&restored, &["store", "restore", backup.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("exists"), "{}", stderr_of(&out));

    // Damage and loss are found, named, and exit 1.
    let files = message_files(&serve::data_dir(&restored));
    std::fs::write(&files[0], b"tampered").unwrap();
    std::fs::remove_file(&files[1]).unwrap();
    let out = run_with_config(&restored, &["store", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let said = stdout_of(&out);
    assert!(
        said.contains(&format!("damaged {}", files[0].display())),
        "{said}"
    );
    assert!(
        said.contains(&format!("missing {}", files[1].display())),
        "{said}"
    );
}

/// Every file under `dir/messages`, sorted.
fn message_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.join("messages")];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn purge_never_takes_what_is_unacknowledged_or_owed_a_receipt() {
    let config = serve::setup("ops-purge", 1 << 20, "");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replacen(
            "path = \"dpost.db\"\n",
            "path = \"dpost.db\"\nretention_days = { standard = 1 }\n",
            1,
        ),
    )
    .unwrap();
    let server = Server::start(&config);
    let (acked, unacked) = (uuid(0x0516_3000), uuid(0x0516_3001));
    for id in [&acked, &unacked] {
        assert_eq!(server.push_raw(message(id, b"keep")).0, 200);
    }
    let out = run_with_config(&config, &["message", "ack", &acked]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    // Ten years on: the acknowledged one still owes its business receipt (NgDP's API is a
    // closed port here), the other is not acknowledged; neither may go.
    let later = (now() + 3650 * 86_400).to_string();
    let out = run_with_config(
        &config,
        &["store", "purge", "--dry-run", "--as-of", &later, "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["messages"].as_array().unwrap().len(), 0, "{report}");
    let out = run_with_config(&config, &["store", "purge"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(stdout_of(&out).contains("purged 0 message(s)"));
    assert!(show(&config, &acked).is_some() && show(&config, &unacked).is_some());

    // --as-of only plans; a mailbox that does not exist is refused with its key.
    let out = run_with_config(&config, &["store", "purge", "--as-of", &later]);
    assert_eq!(out.status.code(), Some(2));
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("standard = 1", "nursery = 1")).unwrap();
    let out = run_with_config(&config, &["store", "purge", "--dry-run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out)
            .contains("(store.retention_days): \"nursery\" is not one of [ngdp] mailboxes"),
        "{}",
        stderr_of(&out)
    );
}

/// `[store] connections` sizes the platform API's and the console's pool of store
/// connections: requests beyond it wait their turn and are all answered, `/metrics` shows
/// the pool, and a size of 0 is refused by `config check` and `serve`, naming the key.
#[test]
fn the_api_store_pool_is_sized_by_the_configuration_and_zero_is_refused() {
    const READER: &str = "dpost_pool-reader-token-for-tests-only";
    let extra = format!(
        "[[api.clients]]\nname = \"reader\"\ntoken_sha256 = \"{}\"\nscopes = [\"messages:read\"]\n",
        dpost_tests::sha256_hex(READER.as_bytes()),
    );
    let config = serve::config("ops-pool").api_extra(&extra).write();
    let good = std::fs::read_to_string(&config).unwrap();
    let sized = |n: &str| {
        good.replacen(
            "path = \"dpost.db\"\n",
            &format!("path = \"dpost.db\"\nconnections = {n}\n"),
            1,
        )
    };

    std::fs::write(&config, sized("0")).unwrap();
    let out = dpost_command()
        .args(["config", "check", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    let said = stdout_of(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("dpost.toml:3 (store.connections): must be at least 1"),
        "{said}"
    );
    let out = run_with_config(&config, &["serve"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("(store.connections): must be at least 1"),
        "{}",
        stderr_of(&out)
    );

    // Two connections, eight requests at once.
    std::fs::write(&config, sized("2")).unwrap();
    let server = Server::start(&config);
    for n in 0..3 {
        assert_eq!(
            server.push_raw(message(&uuid(0x0516_4000 + n), b"p")).0,
            200
        );
    }
    let api = server.api_url.clone();
    let requests: Vec<_> = (0..8)
        .map(|_| {
            let api = api.clone();
            std::thread::spawn(move || {
                let r = serve::client()
                    .get(format!("{api}/api/v1/messages?state=pending&limit=100"))
                    .bearer_auth(READER)
                    .send()
                    .unwrap();
                let status = r.status().as_u16();
                let v: serde_json::Value = r.json().unwrap();
                (status, v["messages"].as_array().map_or(0, Vec::len))
            })
        })
        .collect();
    for r in requests {
        assert_eq!(r.join().unwrap(), (200, 3));
    }
    let text = serve::client()
        .get(format!("{api}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let value = |name: &str| -> i64 {
        text.lines()
            .find(|l| l.split(' ').next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(value("dpost_store_connections_max"), 2);
    let open = value("dpost_store_connections_open");
    assert!((1..=2).contains(&open), "{open}");
    // The scrape itself borrowed none (it reads the receipt backlog after the gauges).
    assert_eq!(value("dpost_store_connections_in_use"), 0);
    assert_eq!(value("dpost_store_connection_wait_timeouts_total"), 0);
    assert!(
        value("dpost_store_connection_wait_seconds_count") >= 8,
        "every request's wait is counted"
    );
}
