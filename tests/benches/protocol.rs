//! `cargo bench -p dpost-tests --bench protocol`: the figures in BENCHMARKS.md for signing and
//! the cost of crossing into the component, each beside the same code run natively.
//!
//! A plain timing loop rather than criterion: every figure is a rate over a fixed wall-clock
//! window after a warm-up, printed as a Markdown table row, and the comparison that matters
//! (component vs native, dpost vs `openssl speed`) is between rows of one run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use dpost::digipost::signing::{self as dsign, Request};
use dpost::keystore::Keystore;
use dpost::runtime::{Runtime, RuntimeOptions};
use dpost_guest::digipost::signing as native;
use dpost_tests::*;

const WINDOW: Duration = Duration::from_secs(2);

/// Sections named on the command line (`cargo bench ... -- instantiate memo`), or all:
/// calls, verify, instantiate, inbox, memo.
fn wanted(section: &str) -> bool {
    let named: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    named.is_empty() || named.iter().any(|n| n == section)
}

/// Operations per second of `f`, measured over [`WINDOW`] after a short warm-up.
fn rate(mut f: impl FnMut()) -> f64 {
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(200) {
        f();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < WINDOW {
        for _ in 0..16 {
            f();
        }
        n += 16;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn row(what: &str, wasm: Option<f64>, native: f64) {
    let us = |r: f64| 1e6 / r;
    match wasm {
        Some(w) => println!(
            "| {what} | {:.2} µs ({:.0}/s) | {:.2} µs ({:.0}/s) | {:.2}x |",
            us(w),
            w,
            us(native),
            native,
            native / w
        ),
        None => println!(
            "| {what} | – | {:.2} µs ({:.0}/s) | – |",
            us(native),
            native
        ),
    }
}

fn main() {
    let runtime = Runtime::new(RuntimeOptions {
        cache_dir: Some(scratch_dir("bench-cache")),
        ..RuntimeOptions::default()
    })
    .expect("runtime");
    let key = legacy_key();
    let mut instance = runtime
        .instantiate(keystore_with("k", legacy_key()))
        .unwrap();

    let get = Request {
        method: "GET".into(),
        target: "/9999/inbox?offset=0&limit=100".into(),
        date: "Wed, 29 Jun 2016 14:58:11 GMT".into(),
        user_id: "9999".into(),
        body: None,
    };
    let native_get = native::Request {
        method: "GET",
        target: "/9999/inbox?offset=0&limit=100",
        date: "Wed, 29 Jun 2016 14:58:11 GMT",
        user_id: "9999",
        body: None,
    };

    println!("| operation | component (wasm) | native | ratio |");
    println!("|---|---|---|---|");

    if wanted("calls") {
        let wasm = rate(|| {
            black_box(
                instance
                    .call(|b, s| {
                        b.dpost_protocol_digipost_signing()
                            .call_max_clock_skew_seconds(s)
                    })
                    .unwrap(),
            );
        });
        let nat = rate(|| {
            black_box(black_box(
                dpost_guest::digipost::verification::MAX_CLOCK_SKEW_SECONDS,
            ));
        });
        row("empty call (`max-clock-skew-seconds`)", Some(wasm), nat);

        let wasm = rate(|| {
            black_box(dsign::format_date(&mut instance, black_box(1_467_212_291)).unwrap());
        });
        let nat = rate(|| {
            black_box(dpost_guest::http_date::format(black_box(1_467_212_291)));
        });
        row("`format-date`", Some(wasm), nat);

        let wasm = rate(|| {
            black_box(dsign::canonical_request(&mut instance, &get).unwrap());
        });
        let nat = rate(|| {
            black_box(native::canonical_request(black_box(&native_get)).unwrap());
        });
        row("canonical request string (GET with query)", Some(wasm), nat);

        let wasm = rate(|| {
            black_box(dsign::sign_request(&mut instance, &get, "k").unwrap());
        });
        let native_ks = NativeKeystore(legacy_key());
        let nat = rate(|| {
            black_box(native::sign_request(&native_get, "k", &native_ks).unwrap());
        });
        row(
            "sign request (canonical + RSA-2048 in the host)",
            Some(wasm),
            nat,
        );

        let nat = rate(|| {
            black_box(
                key.sign_pkcs1_sha256(black_box(b"POST\n/x\ndate: d\nx-digipost-userid: 1\n\n"))
                    .unwrap(),
            );
        });
        row(
            "host RSA-2048 PKCS#1 v1.5 SHA-256 signature (AWS-LC), 1 thread",
            None,
            nat,
        );
    }

    if wanted("verify") {
        // Response verification: parse the certificate, check the signature, hash and date.
        let server = server_key();
        let cert = std::fs::read(fixture("keys/server.cert.pem")).unwrap();
        let body = b"<inbox/>".to_vec();
        let hash = dpost_guest::digipost::message::content_sha256(&body);
        let date = "Wed, 29 Jun 2016 14:58:11 GMT";
        let canonical = format!("200\n/9999/inbox\ndate: {date}\nx-content-sha256: {hash}\n");
        use base64::Engine as _;
        let sig = base64::engine::general_purpose::STANDARD
            .encode(server.sign_pkcs1_sha256(canonical.as_bytes()).unwrap());
        let headers = vec![
            dsign::Header {
                name: "Date".into(),
                value: date.into(),
            },
            dsign::Header {
                name: "X-Content-SHA256".into(),
                value: hash.clone(),
            },
            dsign::Header {
                name: "X-Digipost-Signature".into(),
                value: sig.clone(),
            },
        ];
        let resp = dsign::Response {
            status: 200,
            request_path: "/9999/inbox".into(),
            headers: headers.clone(),
            body: Some(dsign::Body::Bytes(body.clone())),
        };
        let native_headers: Vec<dpost_guest::digipost::Header> = headers
            .iter()
            .map(|h| dpost_guest::digipost::Header::new(h.name.clone(), h.value.clone()))
            .collect();
        let native_resp = dpost_guest::digipost::verification::Response {
            status: 200,
            request_path: "/9999/inbox",
            headers: &native_headers,
            body: Some(dpost_guest::digipost::Body::Bytes(&body)),
        };
        let now = 1_467_212_291;
        let wasm = rate(|| {
            dsign::verify_response(&mut instance, &resp, &cert, now).unwrap();
        });
        let nat = rate(|| {
            dpost_guest::digipost::verification::verify_response(&native_resp, &cert, now).unwrap();
        });
        row(
            "verify a response (certificate, RSA-2048 signature, body hash, date)",
            Some(wasm),
            nat,
        );

        // A 1 MB body (a document's content): hashed by the component, or hashed by the host
        // with SHA-NI and handed in as `sha256-base64`, as the Digipost client does.
        let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let big_hash = dpost_guest::digipost::message::content_sha256(&big);
        let big_canonical =
            format!("200\n/9999/inbox\ndate: {date}\nx-content-sha256: {big_hash}\n");
        let big_sig = base64::engine::general_purpose::STANDARD
            .encode(server.sign_pkcs1_sha256(big_canonical.as_bytes()).unwrap());
        let mut big_headers = headers.clone();
        big_headers[1].value = big_hash.clone();
        big_headers[2].value = big_sig;
        let in_guest = dsign::Response {
            headers: big_headers.clone(),
            body: Some(dsign::Body::Bytes(big.clone())),
            ..resp.clone()
        };
        let by_host = |b: &[u8]| {
            use sha2::Digest as _;
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(b))
        };
        let big_native_headers: Vec<dpost_guest::digipost::Header> = big_headers
            .iter()
            .map(|h| dpost_guest::digipost::Header::new(h.name.clone(), h.value.clone()))
            .collect();
        let native_big = dpost_guest::digipost::verification::Response {
            headers: &big_native_headers,
            body: Some(dpost_guest::digipost::Body::Bytes(&big)),
            ..native_resp
        };
        let wasm = rate(|| {
            dsign::verify_response(&mut instance, &in_guest, &cert, now).unwrap();
        });
        let nat = rate(|| {
            dpost_guest::digipost::verification::verify_response(&native_big, &cert, now).unwrap();
        });
        row(
            "verify with a 1 MB body, SHA-256 in the component (`bytes`)",
            Some(wasm),
            nat,
        );
        let wasm = rate(|| {
            let hashed = dsign::Response {
                headers: big_headers.clone(),
                body: Some(dsign::Body::Sha256Base64(by_host(&big))),
                ..resp.clone()
            };
            dsign::verify_response(&mut instance, &hashed, &cert, now).unwrap();
        });
        row(
            "verify with a 1 MB body, SHA-256 by the host (`sha256-base64`)",
            Some(wasm),
            nat,
        );
    }

    if wanted("instantiate") {
        // The whole life of a short-lived instance, and within it the part the target
        // names (a Store and the instantiation from the pre-instantiated component), timed
        // on its own inside the same loop.
        let mut inside = Duration::ZERO;
        let mut made = 0u64;
        let whole = rate(|| {
            let t = Instant::now();
            let mut i = runtime.instantiate(Keystore::new()).unwrap();
            inside += t.elapsed();
            made += 1;
            black_box(
                i.call(|b, s| {
                    b.dpost_protocol_digipost_signing()
                        .call_max_clock_skew_seconds(s)
                })
                .unwrap(),
            );
        });
        row(
            "Store + instantiate (pooling allocator, pre-instantiated component)",
            None,
            made as f64 / inside.as_secs_f64(),
        );
        row(
            "Store + instantiate + one call + drop (the slot reset)",
            None,
            whole,
        );
    }

    if wanted("inbox") {
        inbox_row(&mut instance);
    }
    if wanted("memo") {
        memo_rows(&runtime);
    }
}

/// A page of 100 inbox documents (every field set, one attachment each), as the v8 schema
/// writes it, parsed through the component and natively.
fn inbox_row(instance: &mut dpost::runtime::Instance) {
    use dpost_guest::digipost::inbox::{
        AuthenticationLevel, Inbox, InboxDocument, Link, write_inbox,
    };
    use dpost_guest::digipost::xml::SchemaVersion;
    let doc = |id: i64, attachments: Vec<InboxDocument>| InboxDocument {
        id,
        reference_from_sender: Some(format!("case-{id}")),
        subject: Some(format!("Vedtak i sak {id}: søknad om byggetillatelse")),
        sender: "Plan- og bygningsetaten".into(),
        delivery_time: "2026-11-21T10:15:30.000+01:00".into(),
        first_accessed: None,
        authentication_level: AuthenticationLevel::Password,
        content_type: Some("application/pdf".into()),
        content_uri: Some(format!("https://api.digipost.no/9999/inbox/{id}/content")),
        delete_uri: Some(format!("https://api.digipost.no/9999/inbox/{id}")),
        attachments,
        links: vec![Link {
            rel: Some("https://api.digipost.no/relations/get_document_content".into()),
            uri: format!("https://api.digipost.no/9999/inbox/{id}/content"),
            media_type: None,
        }],
    };
    let page = Inbox {
        documents: (0..100)
            .map(|i| doc(1_000_000 + i, vec![doc(2_000_000 + i, Vec::new())]))
            .collect(),
    };
    let xml = write_inbox(&page, SchemaVersion::V8).unwrap().into_bytes();
    let wasm = rate(|| {
        black_box(dpost::digipost::inbox::parse_inbox(instance, black_box(&xml)).unwrap());
    });
    let nat = rate(|| {
        black_box(dpost_guest::digipost::inbox::parse_inbox(black_box(&xml)).unwrap());
    });
    row(
        &format!(
            "parse an inbox page (100 documents with attachments, {} KB of v8 XML)",
            xml.len() / 1000
        ),
        Some(wasm),
        nat,
    );
}

/// A MeMo whose main document carries `content_len` bytes, written by the native writer.
fn memo_of(content_len: usize) -> Vec<u8> {
    let fixture_bytes = std::fs::read(fixture("memo/MeMo_v1.2_Minimum_Example.xml")).unwrap();
    let mut message = dpost_guest::memo::parse(&fixture_bytes).unwrap().message;
    let content: Vec<u8> = (0..content_len)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    message.body.as_mut().unwrap().documents[0].files[0].content = content;
    dpost_guest::memo::write_message(&message).unwrap()
}

/// MeMo parsing throughput, streamed in 256 KiB chunks, native and through the component,
/// with the component's linear-memory high-water mark.
pub fn memo_rows(runtime: &Runtime) {
    println!();
    println!("| MeMo size | component (wasm) | native | ratio | guest linear memory, peak |");
    println!("|---|---|---|---|---|");
    for (label, len) in [
        ("10 KB", 7 * 1024),
        ("1 MB", 750 * 1024),
        ("100 MB", 75 * 1024 * 1024),
    ] {
        let bytes = memo_of(len);
        let mb = bytes.len() as f64 / 1e6;
        let rounds = if len > 10 << 20 {
            2
        } else if len > 100 << 10 {
            20
        } else {
            2000
        };
        let start = Instant::now();
        for _ in 0..rounds {
            let mut r = dpost_guest::memo::Reader::new();
            for c in bytes.chunks(256 * 1024) {
                black_box(r.feed(c).unwrap());
            }
            black_box(r.finish().unwrap());
        }
        let native = mb * rounds as f64 / start.elapsed().as_secs_f64();
        // One instance reused for every message, as `dpost serve` takes them from its pool;
        // what a fresh instance costs is the instantiation row above.
        let mut i = runtime.instantiate(Keystore::new()).unwrap();
        let start = Instant::now();
        for _ in 0..rounds {
            black_box(
                dpost::memo::read_stream(&mut i, bytes.as_slice(), 256 * 1024, |e| {
                    black_box(e);
                    Ok(())
                })
                .unwrap(),
            );
        }
        let wasm = mb * rounds as f64 / start.elapsed().as_secs_f64();
        let peak = i.peak_memory();
        println!(
            "| {label} ({:.2} MB of XML) | {wasm:.0} MB/s | {native:.0} MB/s | {:.2}x | {:.1} MiB |",
            mb,
            native / wasm,
            peak as f64 / (1024.0 * 1024.0)
        );
    }
}
