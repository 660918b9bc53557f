//! Failures that used to be silent (issue 16), each made visible: a business receipt NgDP
//! refuses for the system's credentials is retried, listed with NgDP's reason and status and
//! counted in `/metrics`; `serve` refuses a set-up whose receipts cannot work; commands
//! without a configuration say so and create no store; a conflicting copy of a stored
//! messageUUID is recorded; the store's files are private; `config check` lists every
//! problem; and failing commands print no Rust debug text and no cause twice.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use dpost_tests::serve::{self, SYSTEM, Server, client, start_sim, uuid};
use dpost_tests::*;
use serde_json::Value;

/// The token of the API client these tests read receipts and messages with.
const OPERATOR: &str = "dpost_operator-token-for-tests-only";

fn operator_client() -> String {
    format!(
        "[[api.clients]]\nname = \"operator\"\ntoken_sha256 = \"{}\"\nscopes = [\"messages:read\", \"receipts\"]\n",
        sha256_hex(OPERATOR.as_bytes())
    )
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn dpost_in(dir: &Path, args: &[&str]) -> Output {
    dpost_command()
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn get_json(url: &str) -> Value {
    client()
        .get(url)
        .bearer_auth(OPERATOR)
        .send()
        .unwrap()
        .json()
        .unwrap()
}

/// `dpost receipts list --direction owed --json`.
fn owed(config: &Path) -> Vec<Value> {
    let out = run_with_config(
        config,
        &["receipts", "list", "--direction", "owed", "--json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_receipt_refused_for_the_credentials_is_retried_listed_and_counted() {
    // NgDP (the simulator) takes receipts only with the system's real API token.
    let messages = scratch_dir("ops-401-messages");
    let (mut sim, sim_url) = start_sim(&[
        "--messages",
        messages.to_str().unwrap(),
        "--system-id",
        SYSTEM,
        "--api-token",
        "the-right-token",
    ]);
    let config = serve::config("ops-401")
        .api_base(&format!("{sim_url}/apis/v1"))
        .system(SYSTEM, "a-wrong-token")
        .api_extra(&operator_client())
        .write();
    let server = Server::start(&config);
    let id = uuid(1601);
    let r = server.post_xml(serve::message(&id, b"a letter"));
    assert_eq!(r.status(), 200);

    // The outbox tries at once; wait (bounded) for the first answer to be recorded.
    let mut row = Value::Null;
    for _ in 0..300 {
        row = owed(&config)
            .into_iter()
            .find(|r| r["id"] == id.to_lowercase())
            .unwrap_or_default();
        if row["attempts"].as_u64().unwrap_or(0) >= 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Not given up: still pending, with NgDP's reason and status, and retried.
    assert_eq!(row["state"], "pending", "{row}");
    assert_eq!(row["httpStatus"], 401, "{row}");
    assert!(
        row["reason"].as_str().unwrap_or("").contains("401"),
        "{row}"
    );

    // The same through the API, with the state filter.
    let page = get_json(&format!(
        "{}/api/v1/receipts?direction=owed&state=pending",
        server.api_url
    ));
    let listed = &page["receipts"][0];
    assert_eq!(listed["id"], id.to_lowercase(), "{page}");
    assert_eq!(listed["httpStatus"], 401, "{page}");

    // /metrics: pending for this system (not 0), and the 401 counted.
    let metrics = client()
        .get(format!("{}/metrics", server.api_url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains(&format!("dpost_receipts_pending{{system=\"{SYSTEM}\"}} 1")),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("dpost_receipts_refused{{system=\"{SYSTEM}\"}} 0")),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "dpost_receipt_send_failures_total{{system=\"{SYSTEM}\",cause=\"401\"}}"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "dpost_receipts_oldest_pending_age_seconds{{system=\"{SYSTEM}\"}}"
        )),
        "{metrics}"
    );

    // `message show` says why it has not gone out.
    let out = run_with_config(&config, &["message", "show", &id]);
    let shown = text(&out);
    assert!(
        shown.contains("business receipt: pending (HTTP 401"),
        "{shown}"
    );
    // A pending receipt is not one to re-queue.
    let out = run_with_config(&config, &["receipts", "retry", &id]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("only a refused one"), "{}", text(&out));
    let _ = sim.kill();
    let _ = sim.wait();
}

#[test]
fn a_receipt_given_up_stays_listed_as_refused_and_is_queued_again() {
    let messages = scratch_dir("ops-give-up-messages");
    let (mut sim, sim_url) = start_sim(&[
        "--messages",
        messages.to_str().unwrap(),
        "--system-id",
        SYSTEM,
        "--api-token",
        "the-right-token",
    ]);
    // Given up after five seconds (a fraction of a day), so the test sees the end.
    let config = serve::config("ops-give-up")
        .api_base(&format!("{sim_url}/apis/v1"))
        .system(SYSTEM, "a-wrong-token")
        .give_up_after_days(5.0 / 86_400.0)
        .api_extra(&operator_client())
        .write();
    let server = Server::start(&config);
    let id = uuid(1604);
    assert_eq!(
        server.post_xml(serve::message(&id, b"a letter")).status(),
        200
    );
    let mut row = Value::Null;
    for _ in 0..600 {
        row = owed(&config)
            .into_iter()
            .find(|r| r["id"] == id.to_lowercase())
            .unwrap_or_default();
        if row["state"] == "refused" {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(row["state"], "refused", "{row}");
    assert_eq!(row["httpStatus"], 401, "{row}");
    let reason = row["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("HTTP 401"), "{row}");
    assert!(reason.contains("given up after"), "{row}");
    assert!(row["attempts"].as_u64() >= Some(2), "retried first: {row}");

    let out = run_with_config(&config, &["receipts", "list", "--state", "refused"]);
    assert!(text(&out).contains(&id.to_lowercase()), "{}", text(&out));
    let out = run_with_config(&config, &["message", "show", &id]);
    assert!(
        text(&out).contains("business receipt: refused (HTTP 401"),
        "{}",
        text(&out)
    );
    let metrics = client()
        .get(format!("{}/metrics", server.api_url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains(&format!("dpost_receipts_refused{{system=\"{SYSTEM}\"}} 1")),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("dpost_receipts_pending{{system=\"{SYSTEM}\"}} 0")),
        "{metrics}"
    );

    // Queued again from the command line: pending, and tried again.
    let out = run_with_config(&config, &["receipts", "retry", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let attempts = row["attempts"].as_u64().unwrap();
    let mut again = Value::Null;
    for _ in 0..300 {
        again = owed(&config)
            .into_iter()
            .find(|r| r["id"] == id.to_lowercase())
            .unwrap_or_default();
        if again["attempts"].as_u64() > Some(attempts) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(again["attempts"].as_u64() > Some(attempts), "{again}");
    let _ = sim.kill();
    let _ = sim.wait();
}

/// Run `dpost serve` expecting it to refuse; bounded, so a serve that starts fails the test
/// instead of hanging it.
fn serve_refuses(config: &Path, extra: &[&str]) -> String {
    let mut child = dpost_command()
        .args(["serve", "--config", config.to_str().unwrap()])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            assert_eq!(status.code(), Some(2), "{}", text(&out));
            return text(&out);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    panic!("dpost serve started: {}", text(&out));
}

#[test]
fn serve_refuses_to_start_when_receipts_cannot_work() {
    // The helper's configuration, without `simulator = true` and without an API token: the
    // system has neither a certificate nor a token.
    let config = serve::config("ops-refuse").write();
    let written = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        written
            .replace("simulator = true\n", "")
            .replace("api_token = \"token\"\n", ""),
    )
    .unwrap();
    let said = serve_refuses(&config, &[]);
    assert!(
        said.contains("ngdp.test.systems[0].api_token_env"),
        "{said}"
    );
    assert!(said.contains("ngdp.test.systems[0].certificate"), "{said}");
    assert!(said.contains("simulator = true"), "{said}");
    assert!(
        !dpost_tests::serve::data_dir(&config)
            .join("messages")
            .exists()
    );

    // `config check` reports the same, with the lines, and exits 1.
    let out = run_with_config(&config, &["config", "check"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let checked = text(&out);
    assert!(
        checked.contains("(ngdp.test.systems[0].certificate)"),
        "{checked}"
    );

    // simulator = true with NgDP's own API is refused too.
    std::fs::write(
        &config,
        written.replace("api_base = \"http://127.0.0.1:9/apis/v1\"\n", ""),
    )
    .unwrap();
    let said = serve_refuses(&config, &[]);
    assert!(said.contains("(ngdp.test.simulator)"), "{said}");

    // Production with no system at all.
    let config = serve::config("ops-refuse-production").write();
    let said = serve_refuses(&config, &["--environment", "production"]);
    assert!(said.contains("[[ngdp.production.systems]]"), "{said}");
}

#[test]
fn without_a_configuration_commands_say_so_and_create_no_store() {
    let dir = scratch_dir("ops-no-config");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let id = uuid(1);
    let commands: Vec<Vec<&str>> = vec![
        vec!["message", "list"],
        vec!["message", "show", &id],
        vec!["mailbox", "list"],
        vec!["receipts", "list"],
        vec!["receipts", "retry", &id],
        vec!["webhooks", "list"],
        vec!["outgoing", "list"],
        vec!["serve"],
        vec!["config", "check"],
        vec!["doctor", "--offline"],
        vec!["portal", "values"],
        vec!["message", "ack", &id],
        vec!["message", "route", &id, "--to", "standard"],
        vec!["message", "export", &id, "--out", "exported"],
        vec!["message", "status", &id],
        vec!["outgoing", "show", &id],
        vec!["webhooks", "retry", "1"],
        vec!["ngdp", "pull", "--system", SYSTEM],
        vec!["contact-points", "import", "map.csv"],
        vec![
            "api",
            "token",
            "create",
            "casework",
            "--scope",
            "messages:read",
        ],
    ];
    for args in commands {
        let out = dpost_in(&dir, &args);
        let said = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {said}");
        assert!(
            said.contains("dpost.toml does not exist"),
            "{args:?}: {said}"
        );
        assert!(
            said.contains(
                &std::fs::canonicalize(&dir)
                    .unwrap()
                    .join("dpost.toml")
                    .display()
                    .to_string()
            ),
            "{args:?} says where it looked: {said}"
        );
        assert!(said.contains("dpost config init"), "{args:?}: {said}");
        assert_eq!(
            entries(&dir),
            Vec::<String>::new(),
            "{args:?} created a file"
        );
    }
}

fn entries(dir: &Path) -> Vec<String> {
    serve::entries(dir)
}

#[test]
fn a_conflicting_copy_is_answered_200_and_recorded() {
    let config = serve::config("ops-conflict")
        .api_extra(&operator_client())
        .write();
    let server = Server::start(&config);
    let id = uuid(1602);
    let first = serve::message(&id, b"the first letter");
    let second = serve::message(&id, b"another letter under the same UUID");
    assert_eq!(server.post_xml(first.clone()).status(), 200);
    // A plain resend: nothing to record.
    assert_eq!(server.post_xml(first).status(), 200);
    // Other content: still 200 (NgDP must stop resending), and recorded; twice, once.
    assert_eq!(server.post_xml(second.clone()).status(), 200);
    assert_eq!(server.post_xml(second.clone()).status(), 200);

    let shown = serve::show(&config, &id).unwrap();
    let conflicts = shown["message"]["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{shown}");
    assert_eq!(conflicts[0]["sha256"], sha256_hex(&second), "{shown}");
    assert_eq!(conflicts[0]["size"], second.len(), "{shown}");
    let dir = Path::new(shown["message"]["dir"].as_str().unwrap());
    let kept = dir.join(conflicts[0]["path"].as_str().unwrap());
    assert_eq!(stored_file(&config, &kept), second, "the bytes are kept");
    // The message itself is still the first copy.
    assert_ne!(shown["message"]["raw_sha256"], sha256_hex(&second));

    let out = run_with_config(&config, &["message", "show", &id]);
    assert!(text(&out).contains("conflicting copy: "), "{}", text(&out));
    let meta = get_json(&format!("{}/api/v1/messages/{id}", server.api_url));
    assert_eq!(
        meta["conflictingCopies"][0]["sha256"],
        sha256_hex(&second),
        "{meta}"
    );
    assert_eq!(meta["conflictingCopies"][0]["kept"], true, "{meta}");
    let metrics = client()
        .get(format!("{}/metrics", server.api_url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("dpost_messages_received_total{outcome=\"conflicting-duplicate\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("dpost_messages_received_total{outcome=\"duplicate\"} 1"),
        "{metrics}"
    );
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn the_store_is_private_whatever_the_umask_and_doctor_says_when_not() {
    use std::os::unix::process::CommandExt as _;
    let config = serve::config("ops-private").write();
    // Started with a umask that would make everything world-readable and writable.
    let server = Server::start_with(&config, |c| {
        // SAFETY: umask is async-signal-safe and touches only the child's own mask.
        unsafe {
            c.pre_exec(|| {
                libc::umask(0);
                Ok(())
            });
        }
    });
    let id = uuid(1603);
    assert_eq!(
        server
            .post_xml(serve::message(&id, b"CPR 010101-1234"))
            .status(),
        200
    );
    let root = config.parent().unwrap();
    let data = serve::data_dir(&config);
    let shown = serve::show(&config, &id).unwrap();
    let dir = Path::new(shown["message"]["dir"].as_str().unwrap()).to_owned();
    // On PostgreSQL (DPOST_TEST_POSTGRES) there is no database file; the data folder is
    // checked all the same.
    let sqlite = !postgres::enabled();
    let database_files = [
        root.join("dpost.db"),
        root.join("dpost.db-wal"),
        root.join("dpost.db-shm"),
    ];
    // On PostgreSQL the message's bytes are in the database, not in the data folder, which
    // holds only the spool; that folder is checked there.
    let message_files = [dir.join("message.xml"), dir.join("files").join("0001")];
    for f in database_files
        .iter()
        .chain(&message_files)
        .filter(|_| sqlite)
    {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    let folders = if sqlite {
        vec![
            data.clone(),
            data.join("messages"),
            dir.clone(),
            dir.join("files"),
        ]
    } else {
        assert!(
            !data.join("messages").exists(),
            "no message folder on PostgreSQL"
        );
        vec![data.clone(), data.join("spool")]
    };
    for d in folders {
        assert_eq!(mode(&d), 0o700, "{}", d.display());
    }
    // What is loosened below: the message's folder, or on PostgreSQL the data folder.
    let dir = if sqlite { dir } else { data.clone() };
    let out = run_with_config(&config, &["doctor", "--offline"]);
    assert!(text(&out).contains("5. Store"), "{}", text(&out));
    assert!(!text(&out).contains("chmod"), "{}", text(&out));

    // Loosened by hand (a restore as another user): doctor names each and the fix.
    let db = root.join("dpost.db");
    if sqlite {
        set_mode(&db, 0o644);
    }
    set_mode(&dir, 0o755);
    let out = run_with_config(&config, &["doctor", "--offline"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        !sqlite || said.contains(&format!("chmod 600 {}", db.display())),
        "{said}"
    );
    assert!(
        said.contains(&format!("chmod -R go-rwx {}", dir.display())),
        "{said}"
    );
}

#[cfg(unix)]
fn set_mode(p: &Path, m: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

#[test]
fn config_check_lists_every_problem_with_its_key_path_and_line() {
    let dir = scratch_dir("ops-config-check");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("dpost.toml");
    std::fs::write(
        &config,
        format!(
            "[serve]\nlisten = \"127.0.0.1:0\"\npublic_url = \"http://post.example.dk\"\npublic_ips = [\"post.example.dk\"]\n\
             [ngdp]\nmailboxes = [\"standard\"]\n\
             [[ngdp.test.systems]]\nid = \"{SYSTEM}\"\nprotocol = \"pigeon\"\n\
             [[ngdp.test.systems]]\nid = \"not-a-uuid\"\nprotocol = \"pull\"\n"
        ),
    )
    .unwrap();
    // A reading problem first: the protocol.
    let out = run_with_config(&config, &["config", "check"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(":9 (ngdp.test.systems[0].protocol): unknown variant `pigeon`"),
        "{}",
        text(&out)
    );
    // Fixed: now every remaining problem at once.
    let written = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, written.replace("\"pigeon\"", "\"pull\"")).unwrap();
    let out = run_with_config(&config, &["config", "check"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    for expected in [
        ":3 (serve.public_url): \"http://post.example.dk\" is not an https URL",
        ":4 (serve.public_ips): \"post.example.dk\" is not an IP address",
        ":11 (ngdp.test.systems[1].id): \"not-a-uuid\" is not a system id",
        "(ngdp.test.systems[0].api_token_env)",
        "(ngdp.test.systems[0].certificate)",
    ] {
        assert!(said.contains(expected), "{expected}: {said}");
    }
    // portal values refuses to print them.
    let out = run_with_config(&config, &["portal", "values"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("is not an https URL"), "{said}");
    assert!(!said.contains("REST_PULL"), "{said}");
}

#[test]
fn failing_commands_show_no_debug_text_and_no_cause_twice() {
    let dir = scratch_dir("ops-messages");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // A certificate file that is missing, one with a wrong password, a bad configuration.
    std::fs::write(dir.join("broken.toml"), "[serve]\nlisten = 5\n").unwrap();
    let config = serve::config("ops-messages-cert")
        .system_extra("certificate = \"missing.p12\"\n")
        .write();
    let wrong_password = serve::config("ops-messages-password")
        .system_extra(&format!(
            "certificate = \"{}\"\ncertificate_password_env = \"DPOST_OPS_WRONG_PASSWORD\"\n",
            fixture("keys/broker-modern.p12").display()
        ))
        .write();
    /// A command line and the environment variables it runs with.
    type Run<'a> = (Vec<String>, Vec<(&'a str, &'a str)>);
    let runs: Vec<Run> = vec![
        (
            vec![
                "memo".into(),
                "validate".into(),
                dir.join("nothing.xml").display().to_string(),
            ],
            vec![],
        ),
        (
            vec![
                "serve".into(),
                "--config".into(),
                config.display().to_string(),
            ],
            vec![],
        ),
        (
            vec![
                "config".into(),
                "check".into(),
                "--config".into(),
                config.display().to_string(),
            ],
            vec![],
        ),
        (
            vec![
                "serve".into(),
                "--config".into(),
                wrong_password.display().to_string(),
            ],
            vec![("DPOST_OPS_WRONG_PASSWORD", "not-the-password")],
        ),
        (
            vec![
                "config".into(),
                "check".into(),
                "--config".into(),
                dir.join("broken.toml").display().to_string(),
            ],
            vec![],
        ),
        (
            vec![
                "message".into(),
                "list".into(),
                "--config".into(),
                dir.join("broken.toml").display().to_string(),
            ],
            vec![],
        ),
    ];
    for (args, env) in runs {
        let mut c: Command = dpost_command();
        c.args(&args).stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let said = text(&out);
        assert_ne!(out.status.code(), Some(0), "{args:?}: {said}");
        for debug in ["Error {", "Os {", "kind:", "Some(", "InvalidField"] {
            assert!(!said.contains(debug), "{args:?} shows {debug:?}: {said}");
        }
        assert_no_repeated_cause(&args, &said);
    }
}

/// No `: `-separated part of a line said twice (`No such file or directory (os error 2): No
/// such file or directory (os error 2)`).
fn assert_no_repeated_cause(args: &[String], said: &str) {
    for line in said.lines() {
        let parts: Vec<&str> = line
            .split(": ")
            .map(str::trim)
            .filter(|p| p.len() > 8)
            .collect();
        for (i, p) in parts.iter().enumerate() {
            assert!(
                !parts[i + 1..].contains(p),
                "{args:?} repeats {p:?}: {line}"
            );
        }
    }
}
