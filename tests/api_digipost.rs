//! The Digipost archive through the platform API, end to end on loopback: `dpost digipost
//! sync` archives an inbox from `dpost sim digipost`, then `dpost serve` answers
//! `/api/v1/digipost/documents`: the list and its cursor, metadata, content (hash, range,
//! ETag), acknowledgement (idempotent, then out of the pending list), and what tokens,
//! scopes and unknown ids get.

use std::collections::BTreeSet;

use dpost_tests::inbox_data::{self, SENDER, start_sim, sync};
use dpost_tests::serve::{self, Server, client};
use dpost_tests::*;
use serde_json::{Value, json};

const READER: &str = "dpost_reader-token-for-tests-only";
const CASEWORK: &str = "dpost_casework-token-for-tests-only";
const DAYCARE_ONLY: &str = "dpost_daycare-token-for-tests-only";

fn get(server: &Server, token: Option<&str>, path: &str) -> reqwest::blocking::Response {
    let mut r = client().get(format!("{}{path}", server.api_url));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().unwrap()
}

fn post(
    server: &Server,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> reqwest::blocking::Response {
    let mut r = client()
        .post(format!("{}{path}", server.api_url))
        .bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().unwrap()
}

fn problem(r: reqwest::blocking::Response, status: u16) -> Value {
    assert_eq!(r.status().as_u16(), status, "status");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p: Value = r.json().unwrap();
    assert_eq!(p["status"], status, "{p}");
    assert!(
        p["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:dpost:problem:"),
        "{p}"
    );
    p
}

fn ids(page: &Value) -> Vec<i64> {
    page["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect()
}

#[test]
fn a_platform_takes_over_the_digipost_archive() {
    let clients = format!(
        "[[api.clients]]\nname = \"reader\"\ntoken_sha256 = \"{}\"\nscopes = [\"messages:read\"]\n\
         [[api.clients]]\nname = \"casework\"\ntoken_sha256 = \"{}\"\nscopes = [\"messages:read\", \"messages:ack\"]\n\
         [[api.clients]]\nname = \"daycare-app\"\ntoken_sha256 = \"{}\"\nscopes = [\"messages:read\", \"messages:ack\"]\nmailboxes = [\"daycare\"]\n",
        sha256_hex(READER.as_bytes()),
        sha256_hex(CASEWORK.as_bytes()),
        sha256_hex(DAYCARE_ONLY.as_bytes()),
    );
    let config = serve::config("api-digipost").api_extra(&clients).write();
    let data = config.with_file_name("inbox");
    let (hashes, all_ids) = inbox_data::write(&data, 4);
    let sim = start_sim(&data);
    sync(&config, &sim.url);
    let server = Server::start(&config);

    // The whole archive, two pages of a cursor: no gaps, no repeats.
    let first: Value = get(&server, Some(READER), "/api/v1/digipost/documents?limit=3")
        .json()
        .unwrap();
    assert_eq!(first["hasMore"], true, "{first}");
    let next = first["next"].as_str().unwrap();
    let second: Value = get(&server, Some(READER), next).json().unwrap();
    assert_eq!(second["hasMore"], false, "{second}");
    let mut seen = ids(&first);
    seen.extend(ids(&second));
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(
        seen.iter().copied().collect::<BTreeSet<_>>(),
        all_ids.iter().copied().collect::<BTreeSet<_>>()
    );
    // Asked again, the last `next` has nothing new.
    let again: Value = get(&server, Some(READER), second["next"].as_str().unwrap())
        .json()
        .unwrap();
    assert!(ids(&again).is_empty(), "{again}");

    // Metadata of the fourth document generated ("Brev 3"), which has two attachments.
    let id = 100_003;
    assert!(all_ids.contains(&id));
    let d: Value = get(
        &server,
        Some(READER),
        &format!("/api/v1/digipost/documents/{id}"),
    )
    .json()
    .unwrap();
    assert_eq!(d["id"], id, "{d}");
    assert_eq!(d["inboxSenderId"], SENDER);
    assert_eq!(d["subject"], "Brev 3", "{d}");
    assert_eq!(d["sha256"], hashes[&id].as_str());
    assert!(d["acknowledgement"].is_null());
    assert!(d["archivedAt"].as_str().unwrap().ends_with('Z'));
    assert!(d.get("deletedAtDigipost").is_some());
    assert!(d.get("redirectSigned").is_some());
    assert!(d.get("authenticationLevel").is_some());
    assert_eq!(d["attachments"].as_array().unwrap().len(), 2, "{d}");

    // Content: whole (hash and ETag), a range, an attachment's.
    let href = d["contentHref"].as_str().unwrap();
    let whole = get(&server, Some(READER), href);
    assert_eq!(whole.status().as_u16(), 200);
    assert_eq!(
        whole.headers()["etag"],
        format!("\"{}\"", hashes[&id]).as_str()
    );
    assert!(
        whole.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"")
    );
    let bytes = whole.bytes().unwrap();
    assert_eq!(sha256_hex(&bytes), hashes[&id]);
    let part = client()
        .get(format!("{}{href}", server.api_url))
        .bearer_auth(READER)
        .header("Range", "bytes=10-19")
        .send()
        .unwrap();
    assert_eq!(part.status().as_u16(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 10-19/{}", bytes.len()).as_str()
    );
    assert_eq!(&part.bytes().unwrap()[..], &bytes[10..20]);
    let unchanged = client()
        .get(format!("{}{href}", server.api_url))
        .bearer_auth(READER)
        .header("If-None-Match", format!("\"{}\"", hashes[&id]))
        .send()
        .unwrap();
    assert_eq!(unchanged.status().as_u16(), 304);
    let att = &d["attachments"][0];
    let att_bytes = get(&server, Some(READER), att["contentHref"].as_str().unwrap())
        .bytes()
        .unwrap();
    assert_eq!(sha256_hex(&att_bytes), att["sha256"].as_str().unwrap());

    // Acknowledge: recorded with the client and case, idempotent, out of the pending list.
    let ack_path = format!("/api/v1/digipost/documents/{id}/ack");
    problem(post(&server, READER, &ack_path, None), 403);
    let r = post(
        &server,
        CASEWORK,
        &ack_path,
        Some(json!({"caseReference": "SAG-7"})),
    );
    assert_eq!(r.status().as_u16(), 200);
    let ack: Value = r.json().unwrap();
    assert_eq!(ack["by"], "api:casework", "{ack}");
    assert_eq!(ack["caseReference"], "SAG-7");
    let repeat: Value = post(&server, CASEWORK, &ack_path, None).json().unwrap();
    assert_eq!(repeat, ack, "a repeat answers the first acknowledgement");
    let pending: Value = get(
        &server,
        Some(READER),
        "/api/v1/digipost/documents?state=pending",
    )
    .json()
    .unwrap();
    let pending_ids = ids(&pending);
    assert_eq!(pending_ids.len(), 3, "{pending}");
    assert!(!pending_ids.contains(&id));
    let acked: Value = get(
        &server,
        Some(READER),
        "/api/v1/digipost/documents?state=acknowledged",
    )
    .json()
    .unwrap();
    assert_eq!(ids(&acked), [id]);
    let d: Value = get(
        &server,
        Some(READER),
        &format!("/api/v1/digipost/documents/{id}"),
    )
    .json()
    .unwrap();
    assert_eq!(d["acknowledgement"], ack);
    let by_sender: Value = get(
        &server,
        Some(READER),
        &format!("/api/v1/digipost/documents?sender={SENDER}&state=all"),
    )
    .json()
    .unwrap();
    assert_eq!(ids(&by_sender).len(), 4);
    let other: Value = get(&server, Some(READER), "/api/v1/digipost/documents?sender=1")
        .json()
        .unwrap();
    assert!(ids(&other).is_empty());

    // What is refused.
    problem(get(&server, None, "/api/v1/digipost/documents"), 401);
    problem(
        get(&server, Some("dpost_wrong"), "/api/v1/digipost/documents"),
        401,
    );
    problem(
        get(&server, Some(DAYCARE_ONLY), "/api/v1/digipost/documents"),
        403,
    );
    problem(
        get(&server, Some(READER), "/api/v1/digipost/documents/1"),
        404,
    );
    problem(
        get(
            &server,
            Some(READER),
            "/api/v1/digipost/documents/x/content",
        ),
        404,
    );
    problem(
        post(&server, CASEWORK, "/api/v1/digipost/documents/1/ack", None),
        404,
    );
    let att_id = att["id"].as_i64().unwrap();
    problem(
        post(
            &server,
            CASEWORK,
            &format!("/api/v1/digipost/documents/{att_id}/ack"),
            None,
        ),
        404,
    );
    for bad in [
        "state=maybe",
        "limit=0",
        "cursor=zz",
        "sender=x",
        "colour=red",
    ] {
        problem(
            get(
                &server,
                Some(READER),
                &format!("/api/v1/digipost/documents?{bad}"),
            ),
            400,
        );
    }
}
