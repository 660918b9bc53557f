//! The operator console end to end on loopback: users added with `dpost console user add`
//! (comments kept, the password from standard input, only an argon2id hash written), then a
//! real `dpost serve` taking pushes and a client that behaves like a browser (cookies, forms,
//! `Origin`): sign-in with a generic error and a limit, signed session cookies, security
//! headers, CSRF on every action, roles checked on the server, actions recorded in the audit
//! log, a refused business receipt (NgDP's API answering 401) retried.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::Stdio;

use dpost_tests::serve::{self, Server, uuid};
use dpost_tests::*;
use serde_json::Value;

const DAYCARE: &str = "241d39f6-998e-4929-b198-ccacbbf4b330";
const PASSWORD: &str = "correct horse battery";

/// `dpost console user add NAME --role ROLE --password-stdin` with `password` on stdin.
fn add_user(config: &Path, name: &str, role: &str, password: &str) -> std::process::Output {
    let mut child = dpost_command()
        .args([
            "console",
            "user",
            "add",
            name,
            "--role",
            role,
            "--password-stdin",
            "--config",
        ])
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// A configuration with a daycare mailbox and three users, one per role.
fn setup(name: &str, api_base: Option<&str>) -> std::path::PathBuf {
    let mut c = serve::config(&format!("console-{name}"))
        .contact_point(DAYCARE, "daycare")
        .system(serve::SYSTEM, "wrong-token");
    if let Some(b) = api_base {
        // NgDP refuses every attempt (401); a 401 is retried like a 5xx until the give-up
        // window ends, so the window is a few seconds here instead of NgDP's seven days.
        c = c.api_base(b).give_up_after_days(3.0 / 86_400.0);
    }
    let config = c.write();
    for (user, role) in [("ops", "operator"), ("eve", "viewer"), ("root", "admin")] {
        let out = add_user(&config, user, role, PASSWORD);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    config
}

/// A client that keeps cookies and sends `Origin` like a browser, following no redirects.
struct Browser {
    base: String,
    cookies: BTreeMap<String, String>,
    client: reqwest::blocking::Client,
}

struct Page {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The CSRF token of the first form on the page.
    fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a form with a CSRF token");
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

impl Browser {
    fn new(server: &Server) -> Browser {
        Browser {
            base: server.api_url.clone(),
            cookies: BTreeMap::new(),
            client: reqwest::blocking::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, r: reqwest::blocking::Response) -> Page {
        for v in r.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (pair, _) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=').unwrap();
            if v.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), val.to_owned());
            }
        }
        Page {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.text().unwrap_or_default(),
        }
    }

    fn get(&mut self, path: &str) -> Page {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("Cookie", self.cookie_header())
            .header("Accept-Language", "en")
            .send()
            .unwrap();
        self.keep(r)
    }

    fn post_from(&mut self, origin: &str, path: &str, form: &[(&str, &str)]) -> Page {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("Cookie", self.cookie_header())
            .header("Origin", origin)
            .header("Accept-Language", "en")
            .form(form)
            .send()
            .unwrap();
        self.keep(r)
    }

    fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let origin = self.base.clone();
        self.post_from(&origin, path, form)
    }

    fn sign_in(&mut self, name: &str, password: &str) -> Page {
        let csrf = self.get("/signin").csrf();
        self.post(
            "/signin",
            &[("csrf", &csrf), ("name", name), ("password", password)],
        )
    }
}

fn push(server: &Server, xml: Vec<u8>) {
    let r = server.post_xml(xml);
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap_or_default());
}

/// The stored message as `dpost message show --json` has it.
fn show(config: &Path, uuid: &str) -> Value {
    serve::show(config, uuid).expect("stored")["message"].clone()
}

/// Whether `uuid` is still waiting for the platform (`dpost message list --pending`).
fn pending(config: &Path, uuid: &str) -> bool {
    let out = run_with_config(config, &["message", "list", "--pending", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    list.as_array().unwrap().iter().any(|m| m["uuid"] == uuid)
}

#[test]
fn a_user_is_added_from_standard_input_and_bad_input_writes_nothing() {
    let config = serve::config("console-users").write();
    let before = std::fs::read_to_string(&config).unwrap();
    let with_comment = format!("# our gateway\n{before}");
    std::fs::write(&config, &with_comment).unwrap();
    let out = add_user(&config, "ops", "operator", PASSWORD);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = std::fs::read_to_string(&config).unwrap();
    assert!(after.starts_with(&with_comment), "comments and layout kept");
    assert!(
        after.contains("[[console.users]]") && after.contains("password_hash = \"$argon2id$"),
        "{after}"
    );
    assert!(
        !after.contains(PASSWORD),
        "the password itself is never written"
    );
    for (name, role, password, says) in [
        ("ops", "operator", PASSWORD, "exists"),
        ("new", "boss", PASSWORD, "not a role"),
        ("new", "viewer", "short", "at least 12"),
        (" ", "viewer", PASSWORD, "needs a name"),
    ] {
        let out = add_user(&config, name, role, password);
        assert_eq!(out.status.code(), Some(2), "{name} {role}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{err}");
        assert!(
            !err.contains("Error {") && !err.contains("panicked"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(&config).unwrap(),
            after,
            "nothing written"
        );
    }
    let check = run_with_config(&config, &["config", "check"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn sign_in_sessions_csrf_roles_and_the_audit_log() {
    let config = setup("roles", None);
    let server = Server::start(&config);
    let (a, b) = (uuid(0xc0_0001), uuid(0xc0_0002));
    push(
        &server,
        serve::message_to(&a, Some(DAYCARE), b"%PDF-1.4 letter"),
    );
    push(&server, serve::message(&b, b"hello"));

    // Nobody signed in: every page sends to the sign-in form, every action is refused.
    let mut anon = Browser::new(&server);
    let p = anon.get("/messages");
    assert_eq!((p.status, p.location()), (303, "/signin"));
    let p = anon.post(&format!("/messages/{a}/ack"), &[("csrf", "x")]);
    assert_eq!(p.status, 403);

    // Wrong passwords and unknown names get one generic message.
    let mut ops = Browser::new(&server);
    let wrong = ops.sign_in("ops", "not the password");
    let unknown = ops.sign_in("nobody", PASSWORD);
    assert_eq!((wrong.status, unknown.status), (401, 401));
    for p in [&wrong, &unknown] {
        assert!(
            p.body.contains("The user name or password is not right."),
            "{}",
            p.body
        );
    }
    // A sign-in form without its token is refused before the password is looked at.
    let p = ops.post("/signin", &[("name", "ops"), ("password", PASSWORD)]);
    assert_eq!(p.status, 403);
    assert!(
        p.body.contains("The sign-in form had expired"),
        "{}",
        p.body
    );

    let p = ops.sign_in("ops", PASSWORD);
    assert_eq!((p.status, p.location()), (303, "/"), "{}", p.body);
    let set: Vec<_> = p
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = set
        .iter()
        .find(|c| c.starts_with("dpost-session="))
        .expect("a session cookie");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    assert!(!session.contains("Secure"), "no TLS here: {session}");

    // The overview, with the security headers on every page.
    let home = ops.get("/");
    assert_eq!(home.status, 200);
    for (h, v) in [
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
    ] {
        assert_eq!(home.headers[h], v, "{h}");
    }
    let csp = home.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'")
            && csp.contains("frame-ancestors 'none'")
            && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(
        home.body.contains("data-count=\"today-daycare\">1<"),
        "{}",
        home.body
    );
    assert!(
        home.body.contains("data-count=\"today-standard\">1<"),
        "{}",
        home.body
    );

    // The list, filtered; the message with its document.
    let list = ops.get("/messages?mailbox=daycare");
    assert!(
        list.body.contains(&a) && !list.body.contains(&b),
        "{}",
        list.body
    );
    let found = ops.get("/messages?q=ladsanvis&mailbox=daycare");
    assert!(
        found.body.contains(&a) && !found.body.contains(&b),
        "a substring of the label: {}",
        found.body
    );
    assert!(!ops.get("/messages?q=nothing-like-it").body.contains(&a));
    let bad = ops.get("/messages?from=yesterday");
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("Received from (date)"), "{}", bad.body);
    let page = ops.get(&format!("/messages/{a}"));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Download the MeMo as received"));
    let memo = ops.get(&format!("/messages/{a}/memo"));
    assert_eq!(memo.status, 200);
    assert!(
        memo.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert!(
        memo.body.contains(&a.to_uppercase()) || memo.body.contains(&a),
        "the MeMo as received"
    );

    // Actions need this session's token, from this origin.
    let csrf = page.csrf();
    let path = format!("/messages/{a}/ack");
    assert_eq!(
        ops.post(&path, &[("case", "2026-1")]).status,
        403,
        "no token"
    );
    assert_eq!(
        ops.post(&path, &[("csrf", "AAAA"), ("case", "2026-1")])
            .status,
        403,
        "a wrong token"
    );
    assert_eq!(
        ops.post_from("http://evil.example", &path, &[("csrf", &csrf)])
            .status,
        403,
        "another origin"
    );
    assert!(
        pending(&config, &a),
        "nothing acknowledged by a refused form"
    );
    let done = ops.post(&path, &[("csrf", &csrf), ("case", "2026-1")]);
    assert_eq!(
        (done.status, done.location()),
        (303, &*format!("/messages/{a}?done=ack"))
    );
    assert!(!pending(&config, &a), "acknowledged");
    let history = ops.get(&format!("/messages/{a}"));
    assert!(
        history.body.contains("console:ops") && history.body.contains("2026-1"),
        "{}",
        history.body
    );
    let moved = ops.post(
        &format!("/messages/{b}/route"),
        &[("csrf", &csrf), ("mailbox", "daycare")],
    );
    assert_eq!(moved.status, 303, "{}", moved.body);
    assert_eq!(show(&config, &b)["mailbox"], "daycare");
    let nowhere = ops.post(
        &format!("/messages/{b}/route"),
        &[("csrf", &csrf), ("mailbox", "nowhere")],
    );
    assert_eq!(nowhere.status, 422);

    // A viewer sees, and is refused every action on the server, with a valid token.
    let mut eve = Browser::new(&server);
    assert_eq!(eve.sign_in("eve", PASSWORD).status, 303);
    let view = eve.get(&format!("/messages/{b}"));
    assert_eq!(view.status, 200);
    assert!(!view.body.contains("/route\""), "no move form for a viewer");
    let token = view.csrf();
    let refused = eve.post(
        &format!("/messages/{b}/route"),
        &[("csrf", &token), ("mailbox", "standard")],
    );
    assert_eq!(refused.status, 403);
    assert!(
        refused.body.contains("Your role does not allow this."),
        "{}",
        refused.body
    );
    assert_eq!(show(&config, &b)["mailbox"], "daycare", "unchanged");
    assert_eq!(eve.get("/audit").status, 403, "the audit log is for admins");
    // Her token is hers: it does not work in ops' session, nor hers in another.
    assert_eq!(
        ops.post(&format!("/messages/{b}/ack"), &[("csrf", &token)])
            .status,
        403
    );

    // The admin reads who did what.
    let mut root = Browser::new(&server);
    assert_eq!(root.sign_in("root", PASSWORD).status, 303);
    let audit = root.get("/audit");
    assert_eq!(audit.status, 200);
    for needle in ["console:ops", "ack", "route", &a, &b, "sign-in"] {
        assert!(audit.body.contains(needle), "{needle} in the audit log");
    }
    assert!(
        !audit.body.contains("console:eve</td><td>route"),
        "the refused move is not recorded"
    );

    // A changed cookie is no session; signing out ends this one.
    let mut forged = Browser::new(&server);
    let mut v = ops.cookies["dpost-session"].clone();
    v.replace_range(5..6, if &v[5..6] == "A" { "B" } else { "A" });
    forged.cookies.insert("dpost-session".into(), v);
    assert_eq!(forged.get("/").status, 303);
    let token = ops.get("/").csrf();
    assert_eq!(ops.post("/signout", &[("csrf", &token)]).status, 303);
    assert_eq!(ops.get("/").status, 303, "signed out");
}

#[test]
fn failed_sign_ins_are_limited_per_name() {
    let config = setup("limit", None);
    let server = Server::start(&config);
    let mut b = Browser::new(&server);
    for _ in 0..5 {
        assert_eq!(b.sign_in("ops", "wrong password!").status, 401);
    }
    let p = b.sign_in("ops", PASSWORD);
    assert_eq!(
        p.status, 429,
        "the right password too, until the window ends"
    );
    assert!(p.body.contains("Too many failed attempts"), "{}", p.body);
    assert_eq!(
        b.sign_in("eve", PASSWORD).status,
        303,
        "another name is not held up"
    );
}

#[test]
fn a_refused_business_receipt_is_shown_with_its_reason_and_retried() {
    // NgDP's API is the simulator, which answers 401: dpost's API token is not the one it
    // expects; after the (shortened) give-up window the receipt is refused.
    let empty = scratch_dir("console-refused-sim");
    std::fs::create_dir_all(&empty).unwrap();
    let (mut sim, sim_url) = serve::start_sim(&[
        "--messages",
        empty.to_str().unwrap(),
        "--system-id",
        serve::SYSTEM,
        "--api-token",
        "the-right-token",
    ]);
    let config = setup("refused", Some(&format!("{sim_url}/apis/v1")));
    let server = Server::start(&config);
    let id = uuid(0xc0_0100);
    push(&server, serve::message(&id, b"letter"));
    let mut status = Value::Null;
    for _ in 0..300 {
        status = show(&config, &id)["receipt_status"].clone();
        if status == "rejected" || status == "refused" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(status == "rejected" || status == "refused", "{status}");

    let mut ops = Browser::new(&server);
    assert_eq!(ops.sign_in("ops", PASSWORD).status, 303);
    let home = ops.get("/");
    assert!(
        home.body.contains("Needs a person") && home.body.contains("refused by NgDP: 1"),
        "{}",
        home.body
    );
    let page = ops.get(&format!("/messages/{id}"));
    assert!(
        page.body.contains("401"),
        "NgDP's reason is shown: {}",
        page.body
    );
    let receipts = ops.get("/receipts?status=rejected");
    assert!(receipts.body.contains(&id), "{}", receipts.body);
    let token = page.csrf();
    let r = ops.post(&format!("/receipts/{id}/retry"), &[("csrf", &token)]);
    assert_eq!(
        (r.status, r.location()),
        (303, &*format!("/messages/{id}?done=retry")),
        "{}",
        r.body
    );
    // The retry is recorded; the outbox tries again (and NgDP refuses again).
    let mut root = Browser::new(&server);
    assert_eq!(root.sign_in("root", PASSWORD).status, 303);
    assert!(root.get("/audit").body.contains("retry-receipt"));
    let again = ops.post(
        &format!("/receipts/{}/retry", uuid(0xdead)),
        &[("csrf", &token)],
    );
    assert_eq!(again.status, 404);
    let _ = sim.kill();
    let _ = sim.wait();
}

#[test]
fn the_overview_shows_the_last_doctor_run_and_a_failure_needs_a_person() {
    let config = setup("doctor", None);
    let server = Server::start(&config);
    let mut ops = Browser::new(&server);
    assert_eq!(ops.sign_in("ops", PASSWORD).status, 303);
    let before = ops.get("/");
    assert!(
        before.body.contains("none recorded; run dpost doctor"),
        "{}",
        before.body
    );
    assert!(!before.body.contains("Last doctor result: failed"));

    // The test system has no certificate: the doctor fails its first step, offline.
    let out = run_dpost(["doctor", "--offline", "--config", config.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let after = ops.get("/");
    assert!(
        after.body.contains("Last doctor result: failed: "),
        "the failure is a red line: {}",
        after.body
    );
    assert!(after.body.contains("href=\"#doctor\""), "{}", after.body);
    assert!(after.body.contains("failed: "), "{}", after.body);

    // A run judged at another time is not what the server is now: not recorded.
    let planned = run_dpost([
        "doctor",
        "--offline",
        "--at",
        "2020-01-01",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(planned.status.code(), Some(1));
    let runs = ops.get("/");
    assert!(
        !runs.body.contains("2020-01-01"),
        "the planned run replaced the real one: {}",
        runs.body
    );
}

#[test]
fn a_user_added_while_serve_runs_signs_in_after_a_reload() {
    let config = setup("reload", None);
    let server = Server::start(&config);
    let reload_status = serve::data_dir(&config).join("serve.reload");
    let mut late = Browser::new(&server);
    let out = add_user(&config, "late", "viewer", PASSWORD);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        late.sign_in("late", PASSWORD).status,
        401,
        "not before the running serve reads the file again"
    );

    let before = std::fs::read_to_string(&reload_status).unwrap_or_default();
    let pid: i32 = std::fs::read_to_string(serve::data_dir(&config).join("serve.lock"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: signalling the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let mut status = before.clone();
    for _ in 0..600 {
        status = std::fs::read_to_string(&reload_status).unwrap_or_default();
        if status != before {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        status.contains("\"ok\":true") && status.contains("4 console user(s)"),
        "{status}"
    );
    let mut late = Browser::new(&server);
    assert_eq!(late.sign_in("late", PASSWORD).status, 303);
}
