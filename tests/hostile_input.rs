//! Hostile input against `dpost serve` on loopback: each is answered with a clear error (the
//! status and a body that names the problem), nothing of it is stored, the process does not
//! crash, and a good message is taken right afterwards.
//!
//! Already covered elsewhere, so not repeated here: the billion-laughs document through
//! `dpost memo validate` (cli_memo.rs), path traversal in `dpost memo extract` (cli_memo.rs),
//! replayed, expired, forged and wrong-document Digipost content tokens against the
//! simulator's content links (digipost_inbox.rs), a hostile guest exhausting fuel and memory
//! (runtime_limits.rs), wrong authorization, unknown systems, an oversized declared body and
//! a multipart body without a `file` part (ngdp_serve.rs).

use std::io::{Read, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use dpost_tests::serve::*;
use dpost_tests::{postgres, stored_file};

/// The MeMo fixture with the text between `<memo:label>` and `</memo:label>` of the
/// message header replaced by `label` (raw XML, not escaped).
fn with_label(id: &str, label: &str) -> Vec<u8> {
    String::from_utf8(message(id, b"x"))
        .unwrap()
        .replacen(
            "<memo:label>Pladsanvisning</memo:label>",
            &format!("<memo:label>{label}</memo:label>"),
            1,
        )
        .into_bytes()
}

fn assert_refused(what: &str, (status, body): (u16, String), want: u16, names: &[&str]) {
    assert_eq!(status, want, "{what}: {body}");
    let lower = body.to_ascii_lowercase();
    assert!(
        names
            .iter()
            .any(|n| lower.contains(&n.to_ascii_lowercase())),
        "{what}: the answer should name the problem ({names:?}): {body}"
    );
}

#[test]
fn billion_laughs_and_external_entities_are_refused() {
    let config = setup("hostile-xml", 1_000_000, "");
    let server = Server::start(&config);

    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
"#;
    let xml = String::from_utf8(with_label(&uuid(1), "&lol9;")).unwrap();
    let xml = xml.replacen(r#"<?xml version="1.0" encoding="UTF-8"?>"#, laughs, 1);
    assert_refused(
        "billion laughs",
        server.push_raw(xml.into_bytes()),
        400,
        &["doctype", "dtd", "entity"],
    );

    let xxe = String::from_utf8(with_label(&uuid(2), "&xxe;"))
        .unwrap()
        .replacen(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<?xml version="1.0"?><!DOCTYPE m [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>"#,
            1,
        );
    assert_refused(
        "external entity",
        server.push_raw(xxe.into_bytes()),
        400,
        &["doctype", "dtd", "entity"],
    );

    // An entity reference with no DTD at all, in the header.
    assert_refused(
        "undeclared entity",
        server.push_raw(with_label(&uuid(3), "&xxe;")),
        400,
        &["entity", "&xxe;", "reference"],
    );
    assert_eq!(count(&config), 0, "nothing hostile is stored");
    server.still_serves(&config, 1);
}

#[test]
fn deeply_nested_xml_is_refused() {
    let config = setup("hostile-nesting", 4_000_000, "");
    let server = Server::start(&config);
    let depth = 100_000;
    let nested = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
    assert_refused(
        "nested in the header",
        server.push_raw(with_label(&uuid(10), &nested)),
        400,
        &["nested"],
    );
    assert_eq!(count(&config), 0);
    server.still_serves(&config, 2);
}

#[test]
fn invalid_utf8_is_refused() {
    let config = setup("hostile-utf8", 1_000_000, "");
    let server = Server::start(&config);
    let mut xml = with_label(&uuid(20), "LABEL");
    let at = xml.windows(5).position(|w| w == b"LABEL").unwrap();
    xml.splice(at..at + 5, [0xC3, 0x28, 0xFF, 0xFE, 0x80]);
    assert_refused(
        "invalid UTF-8",
        server.push_raw(xml),
        400,
        &["utf-8", "utf8"],
    );
    assert_eq!(count(&config), 0);
    server.still_serves(&config, 3);
}

#[test]
fn base64_with_garbage_is_kept_as_invalid_and_named() {
    // The header is readable, so this is a message with a broken document: NgDP's contract
    // is to take it (200), keep it for an operator, and owe an INVALID business receipt.
    let config = setup("hostile-base64", 1_000_000, "");
    let server = Server::start(&config);
    let id = uuid(30);
    let xml = String::from_utf8(message(&id, b"ok")).unwrap().replacen(
        "<memo:content>b2s=</memo:content>",
        "<memo:content>!!not*base64$$==QQ</memo:content>",
        1,
    );
    assert!(xml.contains("not*base64"), "fixture changed");
    let (status, body) = server.push_raw(xml.into_bytes());
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["valid"], false, "{body}");
    let stored = show(&config, &id).expect("kept for an operator");
    let problems = stored["message"]["problems"]
        .to_string()
        .to_ascii_lowercase();
    assert!(problems.contains("base64"), "{problems}");
    server.still_serves(&config, 4);
}

#[test]
fn path_traversal_filenames_never_become_paths() {
    let config = setup("hostile-paths", 1_000_000, "");
    let server = Server::start(&config);
    let data = data_dir(&config);
    let id = uuid(40);
    let content = b"traversal attempt".to_vec();
    let xml = String::from_utf8(message(&id, &content)).unwrap().replacen(
        "Pladsanvisning.pdf",
        "../../../../escaped.pdf",
        1,
    );
    // And the multipart part's own filename points outside too.
    let (status, body) = server.push_multipart(xml.into_bytes(), "../../../../escaped-part.xml");
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        answer["valid"], false,
        "a filename with '/' breaks a MeMo rule: {body}"
    );
    let stored = show(&config, &id).expect("kept for an operator");
    let problems = stored["message"]["problems"].to_string();
    assert!(problems.contains("filename"), "{problems}");
    // The document is kept under the message's own folder, by number, never by its name.
    let file = &stored["message"]["files"][0];
    assert_eq!(file["filename"], "../../../../escaped.pdf");
    let dir = Path::new(stored["message"]["dir"].as_str().unwrap());
    // In the data folder on SQLite; on PostgreSQL the folder is only the name of the bytes'
    // pieces in the store (`store::files`), under `messages/`.
    let home = if postgres::enabled() {
        Path::new("messages")
    } else {
        data.as_path()
    };
    assert!(dir.starts_with(home), "{}", dir.display());
    assert_eq!(stored_file(&config, &dir.join("files/0001")), content);
    let root = config.parent().unwrap();
    for escaped in ["escaped.pdf", "escaped-part.xml"] {
        for up in [
            root.to_path_buf(),
            root.join(".."),
            root.join("../.."),
            data.clone(),
        ] {
            assert!(
                !up.join(escaped).exists(),
                "{} written",
                up.join(escaped).display()
            );
        }
    }
    server.still_serves(&config, 5);
}

#[test]
fn a_multipart_body_with_thousands_of_parts_is_refused() {
    let config = setup("hostile-parts", 1_000_000, "");
    let server = Server::start(&config);
    let id = uuid(50);
    let mut form = reqwest::blocking::multipart::Form::new();
    for i in 0..5000 {
        form = form.text(format!("p{i}"), "x");
    }
    let part = reqwest::blocking::multipart::Part::bytes(message(&id, b"x"))
        .file_name(format!("{id}.xml"));
    form = form.part("file", part);
    let r = server.post_form(form);
    let status = r.status().as_u16();
    assert_refused("5000 parts", (status, r.text().unwrap()), 400, &["parts"]);
    assert!(show(&config, &id).is_none());
    server.still_serves(&config, 6);
}

const GIB: u64 = 1 << 30;

/// Send a 1 GiB body generated on the fly (never held in memory) over a plain socket:
/// `prefix`, then `A` repeated, declared by Content-Length or chunked. Stops sending as soon
/// as an answer arrives (as a careful HTTP/1.1 client does) or the server stops reading.
/// Returns the answer as text and how many body bytes went out.
fn push_endless(
    server: &Server,
    content_type: &str,
    prefix: &[u8],
    declared: bool,
) -> (String, u64) {
    let mut socket = TcpStream::connect(server.addr()).unwrap();
    let length = if declared {
        format!("Content-Length: {GIB}")
    } else {
        "Transfer-Encoding: chunked".to_owned()
    };
    socket
        .write_all(
            format!(
                "POST /api/MeMoV1/memos/?system-uuid={SYSTEM} HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH}\r\nContent-Type: {content_type}\r\n{length}\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
    socket
        .set_write_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let filler = vec![b'A'; 64 * 1024];
    let mut sent = 0u64;
    let mut peek = [0u8; 1];
    while sent < GIB {
        socket.set_nonblocking(true).unwrap();
        let answered = matches!(socket.peek(&mut peek), Ok(n) if n > 0);
        socket.set_nonblocking(false).unwrap();
        if answered {
            break;
        }
        let chunk: &[u8] = if sent == 0 { prefix } else { &filler };
        let framed = if declared {
            chunk.to_vec()
        } else {
            let mut f = format!("{:x}\r\n", chunk.len()).into_bytes();
            f.extend_from_slice(chunk);
            f.extend_from_slice(b"\r\n");
            f
        };
        if socket.write_all(&framed).is_err() {
            break;
        }
        sent += chunk.len() as u64;
    }
    let (answer, _) = read_until_closed(&mut socket, Duration::from_secs(20));
    (answer, sent)
}

fn assert_http(what: &str, answer: &str, status: u16, names: &[&str]) {
    assert!(
        answer.starts_with(&format!("HTTP/1.1 {status} ")),
        "{what}: {answer}"
    );
    let lower = answer.to_ascii_lowercase();
    assert!(
        names.iter().any(|n| lower.contains(n)),
        "{what}: the answer should name the problem ({names:?}): {answer}"
    );
}

#[test]
fn a_one_gigabyte_body_is_refused_early_without_buffering() {
    let max = 1_000_000u64;
    let config = setup("hostile-huge", max, "");
    let server = Server::start(&config);
    // A real MeMo up to its document content, then base64 without end.
    let xml = String::from_utf8(message(&uuid(60), b"x")).unwrap();
    let prefix = &xml[..xml.find("<memo:content>").unwrap() + "<memo:content>".len()];

    // Declared: refused on the header alone.
    let (answer, sent) = push_endless(&server, "application/xml", prefix.as_bytes(), true);
    assert_http("1 GiB declared", &answer, 413, &["too-large"]);
    assert!(sent < 64 << 20, "refused after {sent} bytes");

    // Streamed (chunked, no length): refused once the limit is passed.
    let (answer, sent) = push_endless(&server, "application/xml", prefix.as_bytes(), false);
    assert_http("1 GiB streamed", &answer, 413, &["too-large"]);
    assert!(sent < 64 << 20, "refused after {sent} bytes");

    // Streamed in a multipart part that is not ours: counted all the same.
    let (answer, sent) = push_endless(
        &server,
        "multipart/form-data; boundary=XyZ",
        b"--XyZ\r\nContent-Disposition: form-data; name=\"junk\"\r\n\r\n",
        false,
    );
    assert_http("1 GiB in another part", &answer, 413, &["too-large"]);
    assert!(sent < 64 << 20, "refused after {sent} bytes");

    assert_eq!(count(&config), 0);
    assert!(
        entries(&data_dir(&config).join("spool")).is_empty(),
        "no spool left"
    );
    server.still_serves(&config, 7);
}

/// Read from `stream` until it closes or `limit` passes; what was read, and whether it
/// closed.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (String::from_utf8_lossy(&got).into_owned(), true);
            }
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), false),
        }
    }
}

/// Write `head` (a request that never completes) on a fresh connection, then
/// [`read_until_closed`] with 20 s.
fn send_stalled(server: &Server, head: &str) -> (String, bool) {
    let mut slow = TcpStream::connect(server.addr()).unwrap();
    slow.write_all(head.as_bytes()).unwrap();
    read_until_closed(&mut slow, Duration::from_secs(20))
}

#[test]
fn slow_clients_are_cut_off_by_the_configured_timeouts() {
    let config = setup(
        "hostile-slow",
        1_000_000,
        "header_read_timeout_seconds = 1\nbody_read_timeout_seconds = 1",
    );
    let server = Server::start(&config);
    let path = format!("/api/MeMoV1/memos/?system-uuid={SYSTEM}");

    // Headers that never end: the connection is closed (hyper answers 408 or just closes).
    let (_, closed) = send_stalled(
        &server,
        &format!("POST {path} HTTP/1.1\r\nHost: x\r\nX-Slow: "),
    );
    assert!(
        closed,
        "a client that never finishes its headers is cut off"
    );

    // A body that stops arriving: 408, naming the timeout.
    let (answer, _) = send_stalled(
        &server,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH}\r\nContent-Type: application/xml\r\nContent-Length: 100000\r\n\r\n<?xml version=\"1.0\"?>"
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body-timeout"), "{answer}");

    // The same through the multipart path.
    let (answer, _) = send_stalled(
        &server,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH}\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: 100000\r\n\r\n--B\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n<?xml"
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body-timeout"), "{answer}");

    // A receipt that stops arriving.
    let (answer, _) = send_stalled(
        &server,
        &format!(
            "POST /api/MeMoV1/{SYSTEM}/receipt HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH}\r\nContent-Length: 1000\r\n\r\n{{"
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    assert_eq!(count(&config), 0);
    assert!(
        entries(&data_dir(&config).join("spool")).is_empty(),
        "no spool left"
    );
    server.still_serves(&config, 8);
}

#[test]
fn hostile_receipts_are_refused() {
    let config = setup("hostile-receipts", 1_000_000, "");
    let server = Server::start(&config);
    let url = format!("{}/api/MeMoV1/{SYSTEM}/receipt", server.url);
    let post = |body: Vec<u8>| {
        let r = client()
            .post(&url)
            .header("Authorization", AUTH)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.text().unwrap_or_default())
    };
    let deep = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));
    assert_refused(
        "deeply nested JSON",
        post(deep.into_bytes()),
        400,
        &["receipt"],
    );
    let mut bad = br#"{"transmissionId":"t","messageUUID":"aaaaaaaa-61fb-4ba9-9366-42f8b194c114","timeStamp":"2025-09-30T12:00:00Z","receiptStatus":"COMPLETED","errorMessage":"X"}"#.to_vec();
    let at = bad.iter().position(|b| *b == b'X').unwrap();
    bad.splice(at..at + 1, [0xFF, 0xC3]);
    let (status, body) = post(bad);
    assert!(status == 400 || status == 200, "{status} {body}");
    assert_refused("too large", post(vec![b' '; 100_000]), 413, &["receipt"]);
    server.still_serves(&config, 9);
}
