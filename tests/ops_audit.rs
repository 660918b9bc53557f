//! Issue 16 audited as an operator runs dpost: the gaps found after it was closed, each
//! shown here. `config check` reports what `serve` and `store purge` refuse in `[store]`;
//! `digipost sync` never makes a store where no configuration says so; a SIGHUP while
//! `serve` is starting is a reload, not the end of the process; business receipts a pull
//! run sends count in the failure metric like the outbox's.
//!
//! Every wait is bounded and nothing asserts on how long something took.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dpost_tests::serve::{self, SYSTEM, client, start_sim, uuid};
use dpost_tests::{dpost_command, fixture, scratch_dir};

/// The longest any one wait may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(60);

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn config_check_reports_retention_problems_serve_would_refuse() {
    let config = serve::config("audit-retention").write();
    // `[store]` is the file's first table: put the retention lines into it.
    let good = std::fs::read_to_string(&config).unwrap();
    let bad = good.replacen(
        "path = \"dpost.db\"\n",
        "path = \"dpost.db\"\nretention_days = { nursery = 30 }\n",
        1,
    );
    assert_ne!(bad, good);
    std::fs::write(&config, &bad).unwrap();
    let out = dpost_command()
        .args(["config", "check", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{said}{}", text(&out.stderr));
    assert!(
        said.contains("(store.retention_days)")
            && said.contains("\"nursery\" is not one of [ngdp] mailboxes"),
        "{said}"
    );
    // The same as `serve` says it.
    let served = dpost_command()
        .args(["serve", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert_ne!(served.status.code(), Some(0));
    assert!(
        text(&served.stderr).contains("\"nursery\" is not one of [ngdp] mailboxes"),
        "{}",
        text(&served.stderr)
    );

    let zero = good.replacen(
        "path = \"dpost.db\"\n",
        "path = \"dpost.db\"\npurge_interval_hours = 0\n",
        1,
    );
    std::fs::write(&config, zero).unwrap();
    let out = dpost_command()
        .args(["config", "check", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("(store.purge_interval_hours)") && said.contains("must be at least 1"),
        "{said}"
    );

    std::fs::write(&config, good).unwrap();
    let out = dpost_command()
        .args(["config", "check", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn digipost_sync_makes_no_store_without_a_configuration() {
    let dir = scratch_dir("audit-no-config");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let key = fixture("keys/broker.pkcs1.pem");
    let flags = [
        "--base-url",
        "http://127.0.0.1:9",
        "--broker-id",
        "1000",
        "--sender",
        "2000",
        "--key",
        key.to_str().unwrap(),
    ];
    // No dpost.toml where it runs.
    let out = dpost_command()
        .current_dir(&dir)
        .args(["digipost", "sync"])
        .args(flags)
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no configuration: dpost.toml does not exist") && err.contains("config init"),
        "{err}"
    );
    // A --config that names no file: an error naming it, not the default configuration.
    let out = dpost_command()
        .current_dir(&dir)
        .args(["digipost", "sync", "--config", "elsewhere.toml"])
        .args(flags)
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("elsewhere.toml does not exist"), "{err}");
    let out = dpost_command()
        .current_dir(&dir)
        .args(["digipost", "inbox", "list", "--config", "elsewhere.toml"])
        .args(flags)
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("elsewhere.toml does not exist"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "nothing is created: {left:?}");
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

/// The first line from `rx` containing `needle`.
fn line_with(rx: &mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = Instant::now() + DEADLINE;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    panic!("no log line with {needle:?}");
}

#[test]
fn a_sighup_while_serve_starts_is_a_reload_not_the_end() {
    let config = serve::config("audit-early-hup").write();
    let mut command = dpost_command();
    command
        .args([
            "--log",
            "debug",
            "serve",
            "--config",
            config.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = Killed(command.spawn().unwrap());
    let child = &mut child.0;
    let rx = stderr_lines(child);
    // The first thing `serve` does; the configuration is not read yet.
    line_with(&rx, "a SIGHUP reloads the configuration from now on");
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: signalling the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let alive = child.try_wait().unwrap().is_none();
    if !alive {
        panic!("serve ended: {:?}, first line {first:?}", child.wait());
    }
    assert!(first.starts_with("listening on "), "{first:?}");
    // The signal was kept for when everything runs, and applied then.
    line_with(&rx, "configuration reloaded");
    assert!(child.try_wait().unwrap().is_none(), "still serving");
}

/// A child process killed and reaped when dropped, a failed assertion included.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sim_status(sim_url: &str) -> serde_json::Value {
    client()
        .get(format!("{sim_url}/_sim/status"))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

#[test]
fn a_receipt_a_pull_run_fails_to_send_counts_in_the_failure_metric() {
    let messages = scratch_dir("audit-pull-metric-messages");
    let _ = std::fs::remove_dir_all(&messages);
    std::fs::create_dir_all(&messages).unwrap();
    std::fs::write(
        messages.join("000.xml"),
        serve::message(&uuid(0x1616_0001), b"a letter"),
    )
    .unwrap();
    // NgDP answers the first business receipt 503: the pull run's own attempt fails, the
    // outbox's retry goes through and the message is deleted at NgDP.
    let (mut sim, url) = start_sim(&[
        "--messages",
        messages.to_str().unwrap(),
        "--system-id",
        SYSTEM,
        "--api-token",
        "token",
        "--fail-business-receipts",
        "1",
    ]);
    let config = serve::config("audit-pull-metric")
        .api_base(&format!("{url}/apis/v1"))
        .protocol("pull")
        .authorization(None)
        .system_extra("pull_interval_seconds = 3600")
        .write();
    let server = serve::Server::start(&config);
    let deadline = Instant::now() + DEADLINE;
    let mut status = sim_status(&url);
    while status["deleted"].as_array().is_none_or(Vec::is_empty) {
        assert!(Instant::now() < deadline, "never deleted: {status}");
        std::thread::sleep(Duration::from_millis(100));
        status = sim_status(&url);
    }
    let metrics = client()
        .get(format!("{}/metrics", server.api_url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let _ = sim.kill();
    let _ = sim.wait();
    let wanted =
        format!("dpost_receipt_send_failures_total{{system=\"{SYSTEM}\",cause=\"503\"}} 1");
    assert!(
        metrics.lines().any(|l| l == wanted),
        "{wanted} in\n{metrics}"
    );
}

#[test]
fn a_receipt_ngdp_never_answered_says_why_in_its_reason_and_log() {
    // The default test configuration's NgDP is a closed port on 127.0.0.1.
    let config = serve::config("audit-network-reason").write();
    let mut server = serve::Server::start_with(&config, |c| {
        c.args(["--log", "warn"]).stderr(Stdio::piped());
    });
    let rx = stderr_lines(&mut server.child);
    let id = uuid(0x1616_0002);
    assert_eq!(server.push_raw(serve::message(&id, b"a letter")).0, 200);
    let logged = line_with(&rx, "business receipt not sent");
    assert!(logged.contains("status=network"), "{logged}");
    let deadline = Instant::now() + DEADLINE;
    let row = loop {
        let out = dpost_command()
            .args([
                "receipts",
                "list",
                "--direction",
                "owed",
                "--json",
                "--config",
            ])
            .arg(&config)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let row = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id.to_ascii_lowercase())
            .cloned()
            .unwrap_or_default();
        if row["attempts"].as_u64().unwrap_or(0) >= 1 {
            break row;
        }
        assert!(Instant::now() < deadline, "never tried: {row}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let reason = row["reason"].as_str().unwrap_or_default();
    // The cause, not only reqwest's "error sending request for url (…)".
    assert!(reason.contains("Connection refused"), "{row}");
    assert_eq!(reason.matches("Connection refused").count(), 1, "{row}");
}
