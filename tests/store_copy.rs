//! `dpost store copy` (issue 18): an installation filled through the real paths (messages
//! received through the receive pipeline by the seed program, a Digipost inbox synced from
//! the simulator) moves from SQLite to a fresh PostgreSQL database: every table's rows, the
//! feed in the same order, counters that continue after the copied numbers, a second copy
//! into the full target refused, and a damaged file that stops the copy with nothing
//! written.
//!
//! Needs a PostgreSQL server: `DPOST_TEST_POSTGRES=postgres://user@127.0.0.1:port/postgres`
//! (`.ci/run` starts one); without it the test says so and passes.

use std::path::Path;

use dpost::store::Store;
use dpost::store::handover::{AckState, FeedEntry, FeedQuery};
use dpost::store::sql;
use dpost_tests::seed::{Options, seed};
use dpost_tests::*;
use serde_json::Value;

fn server() -> Option<String> {
    let url = std::env::var("DPOST_TEST_POSTGRES").ok();
    if url.is_none() {
        eprintln!("DPOST_TEST_POSTGRES is not set: skipping the PostgreSQL copy test");
    }
    url
}

/// `url` with its database replaced by `db` (the URL form; libpq's `key=value` form takes a
/// later `dbname` over an earlier one).
fn with_database(url: &str, db: &str) -> String {
    let Some(scheme) = url.find("://") else {
        return format!("{url} dbname={db}");
    };
    let rest = &url[scheme + 3..];
    let (before_query, query) = match rest.find('?') {
        Some(q) => (&rest[..q], &rest[q..]),
        None => (rest, ""),
    };
    let host = before_query.split('/').next().unwrap_or("");
    format!("{}{host}/{db}{query}", &url[..scheme + 3])
}

fn admin(url: &str) -> sql::Connection {
    sql::Connection::postgres(
        sql::postgres::Connection::connect(url).expect("the test PostgreSQL server answers"),
    )
}

/// A new, empty database on the server; its URL.
fn fresh_database(url: &str, name: &str) -> String {
    let db = format!("dpost_{name}_{}", std::process::id());
    // One statement per call: PostgreSQL runs a batch as one transaction, which neither
    // statement may be in.
    let admin = admin(url);
    admin
        .execute_batch(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .expect("dropping an old test database");
    admin
        .execute_batch(&format!("CREATE DATABASE {db}"))
        .expect("a fresh database");
    with_database(url, &db)
}

fn drop_database(url: &str, target: &str) {
    let db = target.rsplit('/').next().unwrap_or("").to_owned();
    let _ = admin(url).execute_batch(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
}

/// `dpost store copy --json` from `config`'s SQLite store to `to`, given as `--to` or, when
/// `by_env`, as `DPOST_STORE_URL` (what an operator sets to keep the password off the
/// command line).
fn copy(config: &Path, to: &str, by_env: bool) -> (i32, Value, String) {
    let mut command = dpost_command();
    command
        .args(["store", "copy", "--json", "--config"])
        .arg(config);
    if by_env {
        command.env("DPOST_STORE_URL", to);
    } else {
        command.args(["--to", to]).env_remove("DPOST_STORE_URL");
    }
    let out = command.output().expect("running dpost store copy");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        report,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A configuration whose store is the SQLite file only: with `DPOST_TEST_POSTGRES` set, the
/// test configurations name a PostgreSQL store too (`[store] url`), and this test fills the
/// SQLite file to copy from.
fn sqlite_only(config: std::path::PathBuf) -> std::path::PathBuf {
    let text = std::fs::read_to_string(&config).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("url = \"postgres"))
        .collect();
    std::fs::write(&config, kept.join("\n") + "\n").unwrap();
    config
}

fn count(conn: &sql::Connection, table: &str) -> i64 {
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

/// The whole feed, in sequence order.
fn feed(store: &mut Store) -> Vec<FeedEntry> {
    let mut all = Vec::new();
    let mut after = 0;
    for _ in 0..1_000 {
        let page = store
            .handover_feed(&FeedQuery {
                state: AckState::All,
                after,
                limit: 500,
                ..FeedQuery::default()
            })
            .unwrap();
        let Some(last) = page.last() else {
            return all;
        };
        after = last.seq;
        all.extend(page);
    }
    panic!("more than 1,000 pages");
}

#[test]
fn a_received_store_moves_to_postgres_with_its_order_and_counters() {
    let Some(url) = server() else { return };
    let config = sqlite_only(
        serve::config("store-copy")
            .contact_point("241d39f6-998e-4929-b198-ccacbbf4b330", "daycare")
            .write(),
    );
    let dir = config.parent().unwrap().to_owned();
    let seeded = seed(
        &config,
        &Options {
            messages: 300,
            batch: 300,
            sample: 5,
            ..Options::default()
        },
    )
    .unwrap();
    let inbox = dir.join("inbox");
    inbox_data::write(&inbox, 7);
    let sim = inbox_data::start_sim(&inbox);
    inbox_data::sync(&config, &sim.url);
    drop(sim);

    let sqlite_path = dir.join("dpost.db");
    let sqlite = rusqlite::Connection::open(&sqlite_path).unwrap();
    let sqlite_count = |table: &str| -> i64 {
        sqlite
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(sqlite_count("ngdp_messages") as u64, seeded.messages);
    assert!(sqlite_count("digipost_documents") >= 7);
    assert!(sqlite_count("events") > 0 && sqlite_count("ngdp_outbox") > 0);

    let target = fresh_database(&url, "store_copy");
    let (code, report, stderr) = copy(&config, &target, true);
    assert_eq!(code, 0, "{stderr}\n{report}");
    assert_eq!(report["committed"], true, "{report}");
    assert_eq!(report["mismatches"], serde_json::json!([]));
    assert!(
        report["files_checked"].as_u64().unwrap() >= seeded.messages,
        "every message as received, at least: {report}"
    );
    assert_eq!(
        report["documents_checked"].as_i64().unwrap(),
        sqlite_count("digipost_documents")
    );

    // Every table: the rows SQLite has, PostgreSQL has, and the report says so.
    let pg = admin(&target);
    let tables = report["tables"].as_array().unwrap();
    assert!(tables.len() >= 20, "{report}");
    for t in tables {
        let name = t["table"].as_str().unwrap();
        let rows = sqlite_count(name);
        assert_eq!(t["rows"].as_i64().unwrap(), rows, "{name}");
        assert_eq!(count(&pg, name), rows, "{name}");
    }
    assert!(
        !tables.iter().any(|t| {
            let n = t["table"].as_str().unwrap();
            n.starts_with("console_search") || n.starts_with("sqlite_")
        }),
        "SQLite's own tables and its FTS5 index stay behind"
    );
    // The daily counts are copied as they are, not counted twice by the trigger.
    let daily_sqlite: i64 = sqlite
        .query_row("SELECT SUM(messages) FROM console_daily", [], |r| r.get(0))
        .unwrap();
    let daily_pg: i64 = pg
        .query_row("SELECT SUM(messages) FROM console_daily", [], |r| r.get(0))
        .unwrap();
    assert_eq!(daily_pg, daily_sqlite);

    // The feed reads the same, in the same order, through the store's own code.
    let mut from = Store::open(&sqlite_path).unwrap();
    let mut to = Store::open_postgres(&target).unwrap();
    let before = feed(&mut from);
    assert_eq!(before.len() as u64, seeded.messages);
    assert_eq!(feed(&mut to), before);

    // Every stored file's bytes are in PostgreSQL now: with the SQLite data folder out of
    // the way, each message as received and each of its files reads back from the pieces
    // with the SHA-256 recorded when it was received.
    std::fs::rename(dir.join("dpost.db.files"), dir.join("moved-away")).unwrap();
    let mut files = 0;
    for entry in &before {
        let m = to.ngdp_message(&entry.uuid).unwrap().unwrap();
        let folder = Path::new(&m.dir);
        let wanted = std::iter::once(("message.xml".to_owned(), m.raw_sha256.clone()))
            .chain(m.files.iter().map(|f| (f.path.clone(), f.sha256.clone())));
        for (name, sha256) in wanted {
            let mut bytes = Vec::new();
            to.copy_file_to(&folder.join(&name), &mut bytes)
                .unwrap_or_else(|e| panic!("{}: {e}", entry.uuid));
            assert_eq!(sha256_hex(&bytes), sha256, "{} {name}", entry.uuid);
            files += 1;
        }
    }
    assert!(
        files as u64 >= 2 * seeded.messages,
        "{files} files read back"
    );
    std::fs::rename(dir.join("moved-away"), dir.join("dpost.db.files")).unwrap();

    // Counters continue after the copied numbers: a message moved to another mailbox takes
    // the next place in the feed, its audit entry the next id, and its event (if any) the
    // next sequence number.
    let max_seq: i64 = sqlite
        .query_row(
            "SELECT value FROM ngdp_sequence WHERE name = 'messages'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let max_audit: i64 = sqlite
        .query_row("SELECT COALESCE(MAX(id), 0) FROM handover_audit", [], |r| {
            r.get(0)
        })
        .unwrap();
    let events_high: i64 = sqlite
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'events'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let moved = to
        .handover_route(&before[0].uuid, None, "housing", "cli:test", 1_800_000_000)
        .unwrap()
        .unwrap();
    assert_eq!(moved.seq, max_seq + 1);
    let audit: i64 = pg
        .query_row(
            "SELECT MAX(id) FROM handover_audit WHERE message_uuid = ?1",
            [&before[0].uuid],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(audit, max_audit + 1);
    let new_event: i64 = pg
        .query_row(
            "INSERT INTO events (type, at, mailbox, subject, payload)
             VALUES ('test.after_copy', 0, NULL, 'x', '{}') RETURNING seq",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(new_event, events_high + 1);
    drop(to);

    // A second copy into the full target is refused, naming a table, and changes nothing.
    let (code, _, stderr) = copy(&config, &target, false);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("is not empty: table "), "{stderr}");
    assert_eq!(count(&pg, "ngdp_messages") as u64, seeded.messages);
    drop(pg);
    drop_database(&url, &target);
}

#[test]
fn a_damaged_file_stops_the_copy_and_nothing_is_written() {
    let Some(url) = server() else { return };
    let config = sqlite_only(serve::config("store-copy-damaged").write());
    let dir = config.parent().unwrap().to_owned();
    seed(
        &config,
        &Options {
            messages: 20,
            batch: 20,
            sample: 1,
            ..Options::default()
        },
    )
    .unwrap();
    // No copy while `serve` runs on the store: what it accepted after the snapshot would be
    // left out.
    {
        let _server = serve::Server::start(&config);
        let target = fresh_database(&url, "store_copy_running");
        let (code, _, stderr) = copy(&config, &target, false);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("stop it first"), "{stderr}");
        drop_database(&url, &target);
    }

    // A message's MeMo as received, changed after it was stored.
    let sqlite = rusqlite::Connection::open(dir.join("dpost.db")).unwrap();
    let (uuid, folder): (String, String) = sqlite
        .query_row(
            "SELECT uuid, dir FROM ngdp_messages ORDER BY seq LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let damaged = Path::new(&folder).join("message.xml");
    let mut bytes = std::fs::read(&damaged).unwrap();
    bytes.push(b'\n');
    std::fs::write(&damaged, &bytes).unwrap();

    let target = fresh_database(&url, "store_copy_damaged");
    let (code, report, stderr) = copy(&config, &target, false);
    assert_eq!(code, 1, "{stderr}\n{report}");
    assert_eq!(report["committed"], false);
    let mismatches = report["mismatches"].as_array().unwrap();
    assert!(
        mismatches.iter().any(|m| m["table"] == "ngdp_messages"
            && m["kind"] == "damaged"
            && m["key"] == format!("message {uuid}").as_str()
            && m["path"] == damaged.display().to_string().as_str()),
        "{report}"
    );
    // Rolled back: the tables exist (migrated) and are empty.
    let pg = admin(&target);
    assert_eq!(count(&pg, "ngdp_messages"), 0);
    assert_eq!(count(&pg, "events"), 0);
    drop(pg);
    drop_database(&url, &target);
}
