//! The benchmark's seed program at test size (`benches/api.sh` runs it with a million): the
//! store it fills is one `dpost serve` reads like any other. The pending list walked to its
//! end holds exactly the unacknowledged messages, in sequence order, once each; a copied
//! message's metadata carries its own UUID in the header and receipt; its shared file
//! streams with the right hash; a mailbox-restricted client sees only its mailbox.

use std::collections::BTreeSet;

use dpost_tests::seed::{Options, seed};
use dpost_tests::serve::{self, Server, client};
use dpost_tests::*;
use serde_json::Value;

const READER: &str = "dpost_seed-reader-token-for-tests-only";
const DAYCARE_ONLY: &str = "dpost_seed-daycare-token-for-tests-only";

fn get(server: &Server, token: &str, path: &str) -> Value {
    let r = client()
        .get(format!("{}{path}", server.api_url))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{path}");
    r.json().unwrap()
}

/// Every page of `path` (a list URL with its query), following `next` while `hasMore`.
fn walk(server: &Server, token: &str, path: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut next = path.to_owned();
    for _ in 0..1_000 {
        let page = get(server, token, &next);
        all.extend(page["messages"].as_array().unwrap().iter().cloned());
        if !page["hasMore"].as_bool().unwrap() {
            return all;
        }
        next = page["next"].as_str().unwrap().to_owned();
    }
    panic!("more than 1,000 pages");
}

#[test]
fn a_seeded_store_reads_like_a_received_one() {
    let clients = format!(
        "[[api.clients]]\nname = \"reader\"\ntoken_sha256 = \"{}\"\nscopes = [\"messages:read\"]\n\
         [[api.clients]]\nname = \"daycare-app\"\ntoken_sha256 = \"{}\"\nscopes = [\"messages:read\"]\nmailboxes = [\"daycare\"]\n",
        sha256_hex(READER.as_bytes()),
        sha256_hex(DAYCARE_ONLY.as_bytes()),
    );
    let config = serve::config("api-seed")
        .contact_point("241d39f6-998e-4929-b198-ccacbbf4b330", "daycare")
        .contact_point("5a1f0c3e-3b7d-4d2a-8e9f-0123456789ab", "housing")
        .api_extra(&clients)
        .write();
    let options = Options {
        messages: 10_000,
        batch: 3_000,
        sample: 50,
        ..Options::default()
    };
    let seeded = seed(&config, &options).unwrap();
    // The five templates came through the receive path, then the copies.
    assert_eq!(seeded.messages, 10_005);
    assert_eq!(seeded.sample.len(), 50);
    assert!(seeded.invalid > 100, "about 3 % invalid: {seeded:?}");
    assert!(
        (7_000..8_000).contains(&seeded.acknowledged),
        "about 80 % acknowledged: {seeded:?}"
    );
    let per: Vec<u64> = seeded.per_mailbox.iter().map(|(_, n)| *n).collect();
    assert_eq!(per.iter().sum::<u64>(), seeded.messages);
    assert!(
        per.iter().all(|n| *n > 0),
        "every mailbox gets mail: {per:?}"
    );
    assert!(per[0] > per[2], "the first mailbox takes the most: {per:?}");

    let server = Server::start(&config);
    let pending = walk(&server, READER, "/api/v1/messages?state=pending&limit=1000");
    assert_eq!(
        pending.len() as u64,
        seeded.messages - seeded.acknowledged,
        "the pending list is every unacknowledged message"
    );
    let uuids: BTreeSet<&str> = pending
        .iter()
        .map(|m| m["uuid"].as_str().unwrap())
        .collect();
    assert_eq!(uuids.len(), pending.len(), "no message twice");
    assert!(pending.iter().all(|m| m["acknowledgement"].is_null()));
    let everything = walk(&server, READER, "/api/v1/messages?state=all&limit=1000");
    assert_eq!(everything.len() as u64, seeded.messages);

    let daycare = walk(
        &server,
        DAYCARE_ONLY,
        "/api/v1/messages?state=all&limit=1000",
    );
    assert_eq!(daycare.len() as u64, seeded.per_mailbox[1].1);
    assert!(daycare.iter().all(|m| m["mailbox"] == "daycare"));

    for uuid in seeded.sample.iter().take(10) {
        let m = get(&server, READER, &format!("/api/v1/messages/{uuid}"));
        assert_eq!(m["uuid"], uuid.as_str());
        assert_eq!(m["header"]["message_uuid"], uuid.as_str(), "{m}");
        assert_eq!(m["header"]["sender"]["sender_id"], m["sender"]["id"]);
        let file = &m["files"][0];
        let r = client()
            .get(format!(
                "{}{}",
                server.api_url,
                file["href"].as_str().unwrap()
            ))
            .bearer_auth(READER)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let body = r.bytes().unwrap();
        assert_eq!(body.len() as u64, file["size"].as_u64().unwrap());
        assert_eq!(sha256_hex(&body), file["sha256"].as_str().unwrap());
    }
}
