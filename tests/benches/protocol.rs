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
        "host RSA-2048 PKCS#1 v1.5 SHA-256 signature (ring), 1 thread",
        None,
        nat,
    );

    let nat = rate(|| {
        let mut i = runtime.instantiate(Keystore::new()).unwrap();
        black_box(
            i.call(|b, s| {
                b.dpost_protocol_digipost_signing()
                    .call_max_clock_skew_seconds(s)
            })
            .unwrap(),
        );
    });
    row(
        "Store + instantiate + one call (pooling allocator)",
        None,
        nat,
    );
}
