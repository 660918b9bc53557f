//! The Digipost inbox end to end: the client and the sync against the in-process simulator,
//! both driving the real component, on loopback only.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dpost::clock::{Clock, OffsetClock, SystemClock};
use dpost::digipost::client::{ClientError, ClientOptions, DigipostClient, Listed};
use dpost::digipost::explain;
use dpost::digipost::retry::RetryPolicy;
use dpost::digipost::signing::{self as dsign, Request};
use dpost::digipost::sync::{self, Fault, SyncError, SyncOptions};
use dpost::keystore::{Keystore, PasswordSource, PrivateKey};
use dpost::runtime::InstancePool;
use dpost::sim::digipost::{RunningSimulator, Simulator, SimulatorConfig, Variants};
use dpost::store::Store;
use dpost_tests::inbox_data::{self, BROKER, SENDER};
use dpost_tests::*;

fn broker_key() -> PrivateKey {
    PrivateKey::load(&fixture("keys/broker.pkcs1.pem"), &PasswordSource::None)
        .expect("broker key loads")
}

async fn simulator(
    name: &str,
    documents: u64,
    clock: Arc<dyn Clock>,
) -> (
    RunningSimulator,
    std::collections::BTreeMap<i64, String>,
    Vec<i64>,
) {
    simulator_with(name, documents, clock, Variants::default()).await
}

async fn simulator_with(
    name: &str,
    documents: u64,
    clock: Arc<dyn Clock>,
    variants: Variants,
) -> (
    RunningSimulator,
    std::collections::BTreeMap<i64, String>,
    Vec<i64>,
) {
    let dir = scratch_dir("inbox-data").join(name);
    let (hashes, ids) = inbox_data::write(&dir, documents);
    let config = SimulatorConfig {
        data_dir: dir,
        broker_certificate: std::fs::read(fixture("keys/broker.cert.pem")).unwrap(),
        broker_id: Some(BROKER.into()),
        server_key: server_key(),
        server_certificate_pem: std::fs::read_to_string(fixture("keys/server.cert.pem")).unwrap(),
        content_base: None,
        token_secret: Some("test secret".into()),
        variants,
    };
    let sim = Simulator::new(config, shared_runtime(), clock).expect("simulator starts");
    let running = sim.start("127.0.0.1:0").await.expect("simulator listens");
    (running, hashes, ids)
}

fn client_with(base: &str, key: PrivateKey, clock: Arc<dyn Clock>) -> Arc<DigipostClient> {
    let mut keystore = Keystore::new();
    keystore.insert("broker", key);
    let pool = Arc::new(InstancePool::new(shared_runtime(), keystore));
    let options = ClientOptions {
        base_url: base.into(),
        broker_id: BROKER.into(),
        key_name: "broker".into(),
        request_timeout: Duration::from_secs(20),
        retry: RetryPolicy::new(
            2,
            Duration::from_millis(10),
            Duration::from_millis(50),
            Some(7),
        ),
    };
    Arc::new(DigipostClient::new(options, pool, clock).expect("client"))
}

fn client(base: &str) -> Arc<DigipostClient> {
    client_with(base, broker_key(), Arc::new(SystemClock))
}

fn store(name: &str) -> Arc<Mutex<Store>> {
    let path = scratch_dir("inbox-stores").join(format!("{name}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Arc::new(Mutex::new(Store::open(&path).expect("store opens")))
}

fn no_progress(_: sync::Progress) {}

/// One sync run with the system clock and no progress output.
async fn run_sync(
    client: Arc<DigipostClient>,
    store: Arc<Mutex<Store>>,
    options: &SyncOptions,
) -> Result<sync::SyncReport, SyncError> {
    sync::sync(client, store, Arc::new(SystemClock), options, &no_progress).await
}

/// A report's document counts: listed, archived, already archived, deleted, failed.
fn counts(report: &sync::SyncReport) -> (u64, u64, u64, u64, u64) {
    (
        report.listed,
        report.archived,
        report.already_archived,
        report.deleted,
        report.failed,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_1000_documents_with_attachments_byte_exact_then_deletes_them() {
    let (sim, hashes, ids) = simulator("thousand", 1000, Arc::new(SystemClock)).await;
    let client = client(&sim.base_url());
    let store = store("thousand");
    let options = SyncOptions {
        delete_after_archive: true,
        concurrency: 8,
        ..SyncOptions::new(SENDER.to_string())
    };
    let report = run_sync(client.clone(), store.clone(), &options)
        .await
        .expect("sync");
    assert_eq!(counts(&report), (1000, 1000, 0, 1000, 0), "{report:?}");

    let archived = store.lock().unwrap().digipost_all(SENDER).unwrap();
    assert_eq!(
        archived.len(),
        hashes.len(),
        "every document and attachment once"
    );
    for doc in &archived {
        let expected = &hashes[&doc.id];
        assert_eq!(&doc.content_sha256, expected, "stored hash of {}", doc.id);
        assert_eq!(
            &inbox_data::sha256_hex(&doc.content),
            expected,
            "stored bytes of {}",
            doc.id
        );
        match doc.parent_id {
            None => assert!(doc.deleted_remotely_at.is_some(), "{} deleted", doc.id),
            Some(parent) => assert!(ids.contains(&parent)),
        }
    }
    let first = store
        .lock()
        .unwrap()
        .digipost_get(SENDER, ids[0])
        .unwrap()
        .unwrap();
    assert_eq!(first.metadata["subject"], "Brev 999");
    assert_eq!(first.metadata["reference_from_sender"], "REF-999");

    // Digipost's inbox is empty now, and a second run has nothing to do.
    assert!(
        client
            .list(&SENDER.to_string(), None, None)
            .await
            .unwrap()
            .documents
            .is_empty()
    );
    let again = run_sync(client, store, &options).await.unwrap();
    assert_eq!((again.listed, again.archived, again.deleted), (0, 0, 0));
    assert_eq!(
        sim.simulator
            .stats
            .links_with_signature_headers
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    sim.stop().await;
}

/// Ask for a document's content with a signed request and return the one-time link.
async fn content_link(base: &str, document: i64) -> String {
    let mut instance = runtime()
        .instantiate(keystore_with("broker", broker_key()))
        .unwrap();
    let target = format!("/{SENDER}/inbox/{document}/content");
    let date = dsign::format_date(&mut instance, SystemClock.now_unix()).unwrap();
    let req = Request {
        method: "GET".into(),
        target: target.clone(),
        date,
        user_id: BROKER.into(),
        body: None,
    };
    let signed = dsign::sign_request(&mut instance, &req, "broker").unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut request = http.get(format!("{base}{target}"));
    for h in &signed.headers {
        request = request.header(&h.name, &h.value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status().as_u16(), 307);
    response.headers()["location"].to_str().unwrap().to_owned()
}

async fn fetch(url: &str) -> (u16, Vec<u8>) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_links_open_once_within_30_seconds_for_their_document_only() {
    let clock = Arc::new(OffsetClock::new(0));
    let (sim, hashes, ids) = simulator("links", 3, clock.clone()).await;
    let base = sim.base_url();
    let content = sim.content_url();
    assert_ne!(content, base, "the content host is another origin");

    // Used twice: the second time fails.
    let link = content_link(&base, ids[0]).await;
    assert!(
        link.starts_with(&format!("{content}/documents/{}?token=", ids[0]))
            && link.ends_with("&download=false"),
        "{link}"
    );
    let (status, body) = fetch(&link).await;
    assert_eq!(status, 200);
    assert_eq!(inbox_data::sha256_hex(&body), hashes[&ids[0]]);
    assert_eq!(fetch(&link).await.0, 404, "a used link is gone");

    // Two racing requests: exactly one wins.
    let link = content_link(&base, ids[1]).await;
    let (a, b) = tokio::join!(fetch(&link), fetch(&link));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 404]);

    // For another document: refused, and the link still opens its own document.
    let link = content_link(&base, ids[2]).await;
    let other = link.replace(
        &format!("/documents/{}", ids[2]),
        &format!("/documents/{}", ids[1]),
    );
    assert_eq!(fetch(&other).await.0, 404);
    assert_eq!(fetch(&link).await.0, 200);

    // Older than 30 seconds (on the simulator's clock): refused.
    let link = content_link(&base, ids[2]).await;
    clock.advance(31);
    assert_eq!(fetch(&link).await.0, 410);
    clock.advance(-31);

    // A made-up token: refused.
    let forged = format!(
        "{content}/documents/{}?token={}&download=false",
        ids[0],
        "ab".repeat(64)
    );
    assert_eq!(fetch(&forged).await.0, 404);
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_response_signature_is_refused_and_nothing_is_stored() {
    let (sim, _, _) = simulator("tampered", 5, Arc::new(SystemClock)).await;
    let client = client(&sim.base_url());
    client
        .certificate()
        .await
        .expect("the entrypoint itself is intact");
    sim.simulator
        .faults
        .tamper_signatures
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let store = store("tampered");
    let options = SyncOptions {
        delete_after_archive: true,
        ..SyncOptions::new(SENDER.to_string())
    };
    let err = run_sync(client, store.clone(), &options).await.unwrap_err();
    match err {
        SyncError::Client(ClientError::Refused { source, .. }) => {
            assert!(source.to_string().contains("signature"), "{source}")
        }
        other => panic!("expected a refused response, got {other:?}"),
    }
    assert_eq!(store.lock().unwrap().digipost_count(SENDER).unwrap(), 0);
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_archive_and_delete_is_recovered_without_archiving_twice() {
    let (sim, hashes, _) = simulator("crash", 30, Arc::new(SystemClock)).await;
    let client = client(&sim.base_url());
    let store = store("crash");
    let crashing = SyncOptions {
        delete_after_archive: true,
        concurrency: 1,
        page_size: 7,
        fault: Some(Fault::CrashAfterArchiving(10)),
        ..SyncOptions::new(SENDER.to_string())
    };
    let err = run_sync(client.clone(), store.clone(), &crashing)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SyncError::Injected { archived: 10 }),
        "{err:?}"
    );
    let before: Vec<_> = store.lock().unwrap().digipost_all(SENDER).unwrap();
    // The run stops once it has counted 10; the next document's worker may have committed
    // its archive in between (as a process killed at that moment would have), so 10 or 11.
    let archived = before.iter().filter(|d| d.parent_id.is_none()).count() as u64;
    assert!((10..=11).contains(&archived), "{archived}");
    assert!(
        before.iter().all(|d| d.deleted_remotely_at.is_none()),
        "nothing deleted before the crash"
    );
    assert_eq!(
        client
            .list(&SENDER.to_string(), None, None)
            .await
            .unwrap()
            .documents
            .iter()
            .filter(|d| d.attached_to.is_none())
            .count(),
        30
    );

    let options = SyncOptions {
        fault: None,
        ..crashing
    };
    let report = run_sync(client.clone(), store.clone(), &options)
        .await
        .unwrap();
    assert_eq!(
        counts(&report),
        (30, 30 - archived, archived, 30, 0),
        "{report:?}"
    );
    let after = store.lock().unwrap().digipost_all(SENDER).unwrap();
    assert_eq!(after.len(), hashes.len());
    for d in &before {
        let same = after.iter().find(|a| a.id == d.id).unwrap();
        assert_eq!(
            same.archived_at, d.archived_at,
            "{} was not archived again",
            d.id
        );
    }
    assert!(
        after
            .iter()
            .all(|d| d.parent_id.is_some() || d.deleted_remotely_at.is_some())
    );
    assert!(
        client
            .list(&SENDER.to_string(), None, None)
            .await
            .unwrap()
            .documents
            .is_empty()
    );
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signature_gets_403_with_the_servers_canonical_string() {
    let (sim, _, _) = simulator("bad-signature", 1, Arc::new(SystemClock)).await;
    // Signed with a key the simulator does not know for this broker.
    let client = client_with(&sim.base_url(), server_key(), Arc::new(SystemClock));
    match client
        .list(&SENDER.to_string(), None, None)
        .await
        .unwrap_err()
    {
        ClientError::SignatureRejected {
            server, ours, path, ..
        } => {
            assert_eq!(path, "/");
            assert!(
                server.starts_with("GET\n/\ndate: ")
                    && server.ends_with(&format!("x-digipost-userid: {BROKER}\n\n")),
                "{server:?}"
            );
            let cmp = explain::compare(&server, &ours);
            assert_eq!(
                cmp.first_difference, None,
                "same string, wrong key:\n{server}\n{ours}"
            );
        }
        other => panic!("expected a 403 with the echo, got {other:?}"),
    }
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_date_more_than_five_minutes_off_gets_400() {
    let (sim, _, _) = simulator("skew", 1, Arc::new(SystemClock)).await;
    let client = client_with(
        &sim.base_url(),
        broker_key(),
        Arc::new(OffsetClock::new(-400)),
    );
    match client.certificate().await.unwrap_err() {
        ClientError::Status { status, code, .. } => {
            assert_eq!(status, 400);
            assert_eq!(
                code.as_deref(),
                Some("DATE_HEADER_OUTSIDE_ACCEPTED_INTERVAL")
            );
        }
        other => panic!("expected 400, got {other:?}"),
    }
    // Four minutes off is within Digipost's window.
    let client = client_with(
        &sim.base_url(),
        broker_key(),
        Arc::new(OffsetClock::new(-240)),
    );
    client.certificate().await.expect("within five minutes");
    sim.stop().await;
}

/// Digipost's published answer for a missing document is 404 GENERAL_ERROR/SERVER
/// (digipost-api-client-dotnet InboxDocumentNotExisting.xml); the simulator can also answer
/// DOCUMENT_NOT_FOUND. Either way a repeated delete of a listed document counts as done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_document_is_404_with_either_code_and_a_repeated_delete_is_already_gone() {
    use dpost::sim::digipost::MissingDocument;
    for (variant, want) in [
        (
            MissingDocument::GeneralError,
            ("GENERAL_ERROR", Some("SERVER")),
        ),
        (
            MissingDocument::DocumentNotFound,
            ("DOCUMENT_NOT_FOUND", Some("CLIENT_TECHNICAL")),
        ),
    ] {
        let variants = Variants {
            missing_document: variant,
            ..Variants::default()
        };
        let name = format!("not-found-{variant:?}");
        let (sim, _, ids) = simulator_with(&name, 2, Arc::new(SystemClock), variants).await;
        let client = client(&sim.base_url());
        let sender = SENDER.to_string();
        let Some(Listed::Document(listed)) = client.find(&sender, ids[0]).await.unwrap() else {
            panic!("document {} is listed", ids[0]);
        };
        assert_eq!(
            client.delete(&sender, &listed).await.unwrap(),
            dpost::digipost::client::Deleted::Now
        );
        assert_eq!(
            client.delete(&sender, &listed).await.unwrap(),
            dpost::digipost::client::Deleted::AlreadyGone,
            "{variant:?}"
        );
        assert!(client.find(&sender, ids[0]).await.unwrap().is_none());
        let req = client.content_request_by_id(&sender, 42).unwrap();
        match client.content_at(&req).await.unwrap_err() {
            ClientError::Status {
                status: 404,
                code,
                error_type,
                verified: true,
                ..
            } => assert_eq!(
                (code.as_deref(), error_type.as_deref()),
                (Some(want.0), want.1)
            ),
            other => panic!("expected 404, got {other:?}"),
        }
        sim.stop().await;
    }
}

/// The real client's sync against every switch of `dpost sim digipost` where Digipost's
/// behaviour is not published (issue 13): each switch flipped alone, and all the unusual
/// ones at once. Every run archives everything byte-exact and deletes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_passes_against_every_simulator_variant() {
    use dpost::sim::digipost::{DocumentUris, MissingDocument, PemLayout};
    let base = Variants::default();
    let mut matrix = vec![("default", base)];
    for pem in [PemLayout::Wrap64, PemLayout::Wrap76, PemLayout::OneLine] {
        matrix.push((
            "pem",
            Variants {
                certificate_pem: pem,
                ..base
            },
        ));
    }
    for uris in [
        DocumentUris::Absolute,
        DocumentUris::Relative,
        DocumentUris::Links,
    ] {
        matrix.push((
            "uris",
            Variants {
                document_uris: uris,
                ..base
            },
        ));
    }
    matrix.extend([
        (
            "unsigned entrypoint",
            Variants {
                entrypoint_signed: false,
                ..base
            },
        ),
        (
            "unsigned redirect",
            Variants {
                redirect_signed: false,
                ..base
            },
        ),
        (
            "document-not-found",
            Variants {
                missing_document: MissingDocument::DocumentNotFound,
                ..base
            },
        ),
        (
            "user id signed",
            Variants {
                response_user_id: true,
                ..base
            },
        ),
        (
            "all unusual",
            Variants {
                certificate_pem: PemLayout::OneLine,
                entrypoint_signed: false,
                redirect_signed: false,
                missing_document: MissingDocument::DocumentNotFound,
                document_uris: DocumentUris::Links,
                response_user_id: true,
            },
        ),
    ]);
    for (n, (label, variants)) in matrix.into_iter().enumerate() {
        let name = format!("variant-{n}");
        let (sim, hashes, _) = simulator_with(&name, 6, Arc::new(SystemClock), variants).await;
        let client = client(&sim.base_url());
        let store = store(&name);
        let options = SyncOptions {
            delete_after_archive: true,
            ..SyncOptions::new(SENDER.to_string())
        };
        let report = run_sync(client.clone(), store.clone(), &options)
            .await
            .unwrap_or_else(|e| panic!("{label} {variants:?}: {e}"));
        assert_eq!(counts(&report), (6, 6, 0, 6, 0), "{label} {variants:?}");
        let contents = hashes.len() as u64;
        let unsigned = if variants.redirect_signed {
            0
        } else {
            contents
        };
        assert_eq!(report.unsigned_redirects, unsigned, "{label}");
        let archived = store.lock().unwrap().digipost_all(SENDER).unwrap();
        assert_eq!(archived.len(), hashes.len(), "{label}");
        for doc in &archived {
            assert_eq!(doc.content_sha256, hashes[&doc.id], "{label} {}", doc.id);
            assert_eq!(
                doc.metadata["redirect_signed"],
                serde_json::json!(variants.redirect_signed),
                "{label}: the archive says how the link came"
            );
        }
        assert!(
            client
                .list(&SENDER.to_string(), None, None)
                .await
                .unwrap()
                .documents
                .is_empty(),
            "{label}: deleted in Digipost"
        );
        sim.stop().await;
    }
}

/// One document whose content cannot be fetched is reported and retried next run; the rest
/// of the inbox is archived and deleted (issue 13).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_unfetchable_document_does_not_stop_the_sync() {
    let dir = scratch_dir("inbox-data").join("unfetchable");
    let (sim, hashes, ids) = simulator("unfetchable", 5, Arc::new(SystemClock)).await;
    // The content host fails for this one document (its file vanished).
    let broken = ids[2];
    let file = dir.join(SENDER.to_string()).join(format!("{broken}.pdf"));
    let saved = std::fs::read(&file).unwrap();
    std::fs::remove_file(&file).unwrap();
    let client = client(&sim.base_url());
    let store = store("unfetchable");
    let options = SyncOptions {
        delete_after_archive: true,
        ..SyncOptions::new(SENDER.to_string())
    };
    let report = run_sync(client.clone(), store.clone(), &options)
        .await
        .expect("the sync goes on");
    assert_eq!(counts(&report), (5, 4, 0, 4, 1), "{report:?}");
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].id, broken);
    assert!(
        report.failures[0].error.contains("content link"),
        "{}",
        report.failures[0].error
    );

    std::fs::write(&file, saved).unwrap();
    let again = run_sync(client, store.clone(), &options).await.unwrap();
    assert_eq!(counts(&again), (1, 1, 0, 1, 0), "{again:?}");
    let archived = store
        .lock()
        .unwrap()
        .digipost_get(SENDER, broken)
        .unwrap()
        .unwrap();
    assert_eq!(archived.content_sha256, hashes[&broken]);
    sim.stop().await;
}

/// An entrypoint whose signature is there but does not verify is still used: no published
/// client ever checked it (Java client c7a1813), TLS vouches for it, and refusing it could
/// stop every command against a service that signs it some other way (issue 13).
#[test]
fn an_entrypoint_with_a_signature_that_does_not_verify_is_used() {
    use dpost_tests::replay::{Exchange, Replay};
    let entrypoint = Exchange::named("digipost/01-entrypoint.json");
    let replay = Replay::start_with(
        vec![entrypoint],
        Some(Box::new(|_, ex| {
            let mut headers = ex.response_headers();
            headers.push(("Date".into(), "Wed, 29 Jun 2016 14:58:11 GMT".into()));
            headers.push(("X-Digipost-Signature".into(), STANDARD_SIGNATURE.into()));
            (ex.status(), headers, ex.response_body())
        })),
    );
    let tokio = tokio::runtime::Runtime::new().unwrap();
    let certificate = tokio
        .block_on(async { client(&replay.base).certificate().await })
        .expect("the certificate is used");
    assert!(certificate.starts_with(b"-----BEGIN CERTIFICATE-----"));
    replay.assert_conformed(true);
}

/// Base64 of bytes that are no signature of anything.
const STANDARD_SIGNATURE: &str = "AAAA";

/// One sync of an inbox at a time, whichever process or machine starts it (issue 18): while
/// another holds the inbox's lease, a sync is refused naming the holder and archives nothing;
/// once the lease is released it runs, and it releases the lease when done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sync_of_the_same_inbox_is_refused_while_one_runs() {
    let (sim, _, _) = simulator("leased", 3, Arc::new(SystemClock)).await;
    let client = client(&sim.base_url());
    let store = store("leased");
    let lease = format!("digipost-sync:{SENDER}");
    let now = SystemClock.now_unix();
    let other = "other-host:4242:0a1b2c";
    assert!(
        store
            .lock()
            .unwrap()
            .lease_acquire(&lease, other, now, now + 600)
            .unwrap()
    );
    let options = SyncOptions::new(SENDER.to_string());
    match run_sync(client.clone(), store.clone(), &options).await {
        Err(e @ SyncError::Busy { .. }) => {
            let text = e.to_string();
            assert!(text.contains(other), "{text}");
            assert!(text.contains(&SENDER.to_string()), "{text}");
        }
        other => panic!("expected the sync to be refused, got {other:?}"),
    }
    assert!(
        store
            .lock()
            .unwrap()
            .digipost_all(SENDER)
            .unwrap()
            .is_empty()
    );
    store.lock().unwrap().lease_release(&lease, other).unwrap();
    let report = run_sync(client, store.clone(), &options)
        .await
        .expect("sync");
    assert_eq!(report.archived, 3, "{report:?}");
    assert!(
        store.lock().unwrap().lease(&lease).unwrap().is_none(),
        "released when done"
    );
}
