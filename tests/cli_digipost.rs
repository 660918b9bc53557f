//! `dpost digipost …` as a user runs it: output format, exit codes and error messages.

use std::process::Output;

use dpost_tests::*;

fn dpost(args: &[&str]) -> Output {
    dpost_command()
        .args(args)
        .env("DPOST_TEST_PW", LEGACY_P12_PASSWORD)
        .output()
        .expect("running dpost")
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

const VECTOR_DATE: &str = "Mon, 07 Jul 2014 12:00:02 GMT";

#[test]
fn sign_prints_headers_and_explains() {
    let key = fixture("digipost/DigipostTestCertWithPassword.p12");
    let body = scratch_dir("cli").join("body.txt");
    std::fs::write(&body, "This is the content to hash.").unwrap();
    let out = dpost(&[
        "digipost",
        "sign",
        "--key",
        key.to_str().unwrap(),
        "--password-env",
        "DPOST_TEST_PW",
        "--user-id",
        "1337",
        "--method",
        "POST",
        "--url",
        "https://api.digipost.no/someendpoint",
        "--date",
        VECTOR_DATE,
        "--body",
        body.to_str().unwrap(),
        "--explain",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<_> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "POST\\n/someendpoint\\ndate: Mon, 07 Jul 2014 12:00:02 GMT\\nx-content-sha256: gvXOB75lBGBY6LVTAVVpapZkBOv531VUE0EHrP2rryE=\\nx-digipost-userid: 1337\\n\\n"
    );
    assert_eq!(lines[1], "");
    assert_eq!(lines[2], format!("Date: {VECTOR_DATE}"));
    assert_eq!(lines[3], "X-Digipost-UserId: 1337");
    assert_eq!(
        lines[4],
        "X-Content-SHA256: gvXOB75lBGBY6LVTAVVpapZkBOv531VUE0EHrP2rryE="
    );
    assert!(
        lines[5].starts_with("X-Digipost-Signature: ") && lines[5].len() > 300,
        "{}",
        lines[5]
    );
    assert_eq!(lines.len(), 6);
}

#[test]
fn sign_without_body_has_no_hash_header_and_json_works() {
    let key = fixture("keys/broker.pkcs1.pem");
    let out = dpost(&[
        "digipost",
        "sign",
        "--key",
        key.to_str().unwrap(),
        "--user-id",
        "9999",
        "--method",
        "get",
        "--url",
        "/9999/inbox?offset=0&limit=100",
        "--date",
        "Wed, 29 Jun 2016 14:58:11 GMT",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["canonical"],
        "GET\n/9999/inbox\ndate: Wed, 29 Jun 2016 14:58:11 GMT\nx-digipost-userid: 9999\noffset=0&limit=100\n"
    );
    assert!(v["headers"].get("X-Content-SHA256").is_none());
    assert!(v["headers"]["X-Digipost-Signature"].is_string());
}

#[test]
fn sign_defaults_the_date_to_now() {
    let key = fixture("keys/broker.pkcs1.pem");
    let out = dpost(&[
        "digipost",
        "sign",
        "--key",
        key.to_str().unwrap(),
        "--user-id",
        "1",
        "--method",
        "GET",
        "--url",
        "/",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let date = stdout
        .lines()
        .next()
        .unwrap()
        .strip_prefix("Date: ")
        .unwrap();
    assert!(dpost_guest::http_date::parse(date).is_ok(), "{date}");
}

#[test]
fn bad_input_exits_2_with_the_problem_named() {
    let key = fixture("keys/broker.pkcs1.pem");
    let out = dpost(&[
        "digipost",
        "sign",
        "--key",
        key.to_str().unwrap(),
        "--user-id",
        "1",
        "--method",
        "GET",
        "--url",
        "/",
        "--date",
        "yesterday",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("RFC 1123"),
        "{}",
        text(&out.stderr)
    );

    let p12 = fixture("keys/broker-modern.p12");
    let out = dpost(&[
        "digipost",
        "sign",
        "--key",
        p12.to_str().unwrap(),
        "--password-env",
        "DPOST_TEST_PW",
        "--user-id",
        "1",
        "--method",
        "GET",
        "--url",
        "/",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("wrong password"),
        "{}",
        text(&out.stderr)
    );

    // The password is never a command-line value.
    let out = dpost(&[
        "digipost",
        "sign",
        "--key",
        p12.to_str().unwrap(),
        "--password",
        "x",
        "--user-id",
        "1",
        "--method",
        "GET",
        "--url",
        "/",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn verify_response_exit_codes() {
    // Make a signed response with the server key through `sign`'s machinery is not possible
    // (responses have their own canonical form), so sign it here with the library and the key.
    use base64::Engine as _;
    let date = "Wed, 29 Jun 2016 14:58:11 GMT";
    let body = b"<inbox/>";
    let hash = dpost_guest::digipost::message::content_sha256(body);
    let canonical = format!("200\n/9999/inbox\ndate: {date}\nx-content-sha256: {hash}\n");
    let sig = base64::engine::general_purpose::STANDARD.encode(
        server_key()
            .sign_pkcs1_sha256(canonical.as_bytes())
            .unwrap(),
    );
    let dir = scratch_dir("cli");
    let body_file = dir.join("inbox.xml");
    std::fs::write(&body_file, body).unwrap();
    let cert = fixture("keys/server.cert.pem");
    let run = |now: &str, body: &str| {
        dpost(&[
            "digipost",
            "verify-response",
            "--cert",
            cert.to_str().unwrap(),
            "--status",
            "200",
            "--path",
            "/9999/inbox",
            "--header",
            &format!("Date: {date}"),
            "--header",
            &format!("X-Content-SHA256: {hash}"),
            "--header",
            &format!("X-Digipost-Signature: {sig}"),
            "--body",
            body,
            "--now",
            now,
        ])
    };
    let ok = run("2016-06-29T14:59:00Z", body_file.to_str().unwrap());
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}{}",
        text(&ok.stdout),
        text(&ok.stderr)
    );
    assert!(text(&ok.stdout).contains("verified"));

    let late = run("2016-06-29T15:10:00Z", body_file.to_str().unwrap());
    assert_eq!(late.status.code(), Some(1));
    assert!(
        text(&late.stdout).contains("behind the local clock"),
        "{}",
        text(&late.stdout)
    );

    let other = dir.join("other.xml");
    std::fs::write(&other, b"<inbox><document/></inbox>").unwrap();
    let tampered = run("2016-06-29T14:59:00Z", other.to_str().unwrap());
    assert_eq!(tampered.status.code(), Some(1));
    assert!(
        text(&tampered.stdout).contains("changed in transit"),
        "{}",
        text(&tampered.stdout)
    );
}

#[test]
fn explain_403_marks_the_first_differing_line() {
    let dir = scratch_dir("cli");
    let error = dir.join("403.xml");
    std::fs::write(
        &error,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error><error-code>INVALID_SIGNATURE</error-code><error-message>Invalid signature. \
         ===START===\nGET\n/9999/inbox\ndate: Wed, 29 Jun 2016 14:58:11 GMT\nx-digipost-userid: 9999\noffset=0&amp;limit=100\n===SLUTT===</error-message>\
         <error-type>CLIENT_TECHNICAL</error-type></error>",
    )
    .unwrap();
    let args = |date: &str| -> Vec<String> {
        [
            "digipost",
            "explain-403",
            error.to_str().unwrap(),
            "--user-id",
            "9999",
            "--method",
            "GET",
            "--url",
            "/9999/inbox?offset=0&limit=100",
            "--date",
            date,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let same = dpost(
        &args("Wed, 29 Jun 2016 14:58:11 GMT")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}{}",
        text(&same.stdout),
        text(&same.stderr)
    );
    assert!(text(&same.stdout).contains("identical"));

    let differs = dpost(
        &args("Wed, 29 Jun 2016 15:08:11 GMT")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(differs.status.code(), Some(1));
    let out = text(&differs.stdout);
    assert!(
        out.contains(">  3 date: Wed, 29 Jun 2016 14:58:11 GMT\\n"),
        "{out}"
    );
    assert!(out.contains("first difference on line 3"), "{out}");

    let not_403 = dir.join("not403.xml");
    std::fs::write(&not_403, "<error/>").unwrap();
    let out = dpost(&[
        "digipost",
        "explain-403",
        not_403.to_str().unwrap(),
        "--user-id",
        "1",
        "--method",
        "GET",
        "--url",
        "/",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("===START==="),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["digipost", "--help"],
        vec!["digipost", "sign", "--help"],
        vec!["digipost", "verify-response", "--help"],
        vec!["digipost", "explain-403", "--help"],
        vec!["component", "--help"],
        vec!["component", "info", "--help"],
        vec!["component", "export", "--help"],
        vec!["serve", "--help"],
        vec!["config", "init", "--help"],
        vec!["config", "check", "--help"],
        vec!["ngdp", "pull", "--help"],
        vec!["mailbox", "list", "--help"],
        vec!["message", "list", "--help"],
        vec!["message", "show", "--help"],
        vec!["message", "export", "--help"],
        vec!["memo", "validate", "--help"],
        vec!["memo", "show", "--help"],
        vec!["memo", "extract", "--help"],
        vec!["memo", "new", "--help"],
        vec!["sim", "digipost", "--help"],
        vec!["sim", "ngdp", "--help"],
        vec!["digipost", "sync", "--help"],
        vec!["digipost", "inbox", "list", "--help"],
        vec!["digipost", "inbox", "get", "--help"],
        vec!["digipost", "inbox", "delete", "--help"],
    ] {
        let out = dpost(&args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("Usage:"), "{args:?}");
    }
}
