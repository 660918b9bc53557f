//! The event log (issue 15, notifications): one row per thing a platform may want to hear
//! about, numbered in one strictly increasing sequence, written by [`record`] inside the
//! very transaction that commits what it reports. So an event exists exactly when its
//! subject does: a crash before the commit leaves neither, after it both. The feed
//! (`GET /api/v1/events`), its Server-Sent Events stream and the webhooks all read this log.
//!
//! Why the sequence is gap-tolerant but never reordered: the id is SQLite's
//! `INTEGER PRIMARY KEY AUTOINCREMENT`, taken while the writer holds the database's write
//! lock (see `store::ngdp::next_message_seq` for the same argument), so commit order is id
//! order and a reader who saw id N has seen every committed id below N. AUTOINCREMENT (not a
//! plain rowid) so an id is never reused, even after the newest row would be deleted.
//!
//! The payload is small on purpose: ids and links, never a document.

use super::sql::params;

use super::handover::visible_json;
use super::{Migration, Store, StoreError};

/// The event tables.
pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: "
        CREATE TABLE events (
            seq      INTEGER PRIMARY KEY AUTOINCREMENT,
            type     TEXT NOT NULL,       -- message.received | message.invalid | ...
            at       INTEGER NOT NULL,    -- Unix seconds
            mailbox  TEXT,                -- the mailbox it concerns; NULL for none
            subject  TEXT NOT NULL,       -- the id of what it is about (messageUUID, ...)
            payload  TEXT NOT NULL        -- JSON: ids and links
        );
        CREATE INDEX events_mailbox ON events (mailbox, seq);
    ",
    },
    // Retention (`store::events_retention`): the highest sequence number ever deleted, so
    // a reader asking for events after an older one is told it missed some.
    Migration {
        version: 2,
        sql: "
        CREATE TABLE events_pruned (
            id      INTEGER PRIMARY KEY CHECK (id = 1),
            through INTEGER NOT NULL,     -- the highest seq deleted
            at      INTEGER NOT NULL      -- when the last prune deleted any
        );
    ",
    },
];

/// What an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// An NgDP message was stored (valid or not).
    MessageReceived,
    /// A stored NgDP message failed validation (recorded beside its `message.received`).
    MessageInvalid,
    /// A receipt arrived for a message the organisation sent.
    ReceiptReceived,
    /// A message the organisation sends changed status.
    OutgoingStatusChanged,
    /// A Digipost document was archived.
    DigipostDocumentArchived,
}

impl EventType {
    /// Every type, in the order documentation lists them.
    pub const ALL: [EventType; 5] = [
        EventType::MessageReceived,
        EventType::MessageInvalid,
        EventType::ReceiptReceived,
        EventType::OutgoingStatusChanged,
        EventType::DigipostDocumentArchived,
    ];

    /// Its name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            EventType::MessageReceived => "message.received",
            EventType::MessageInvalid => "message.invalid",
            EventType::ReceiptReceived => "receipt.received",
            EventType::OutgoingStatusChanged => "outgoing.status_changed",
            EventType::DigipostDocumentArchived => "digipost.document_archived",
        }
    }

    /// The type named `name`.
    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// An event to record.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    /// What kind.
    pub kind: EventType,
    /// Unix seconds.
    pub at: i64,
    /// The mailbox it concerns, if any; a client restricted to mailboxes sees only events
    /// of its mailboxes.
    pub mailbox: Option<&'a str>,
    /// The id of its subject.
    pub subject: &'a str,
    /// Ids and links (a JSON object).
    pub payload: serde_json::Value,
}

/// An event as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its place in the sequence.
    pub seq: i64,
    /// Its type's name.
    pub kind: String,
    /// Unix seconds.
    pub at: i64,
    /// The mailbox it concerns.
    pub mailbox: Option<String>,
    /// The id of its subject.
    pub subject: String,
    /// Ids and links.
    pub payload: serde_json::Value,
}

/// Record `e` inside the caller's write transaction; its sequence number.
pub(crate) fn record(tx: &super::sql::Connection, e: &NewEvent<'_>) -> super::sql::Result<i64> {
    tx.prepare_cached(
        "INSERT INTO events (type, at, mailbox, subject, payload) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING seq",
    )?
    .query_row(
        params![e.kind.name(), e.at, e.mailbox, e.subject, e.payload.to_string()],
        |r| r.get(0),
    )
}

/// The event in columns `first..first + 6` of `r`: seq, type, at, mailbox, subject, payload.
pub(super) fn read_event(r: &super::sql::Row<'_>, first: usize) -> super::sql::Result<Event> {
    let payload: String = r.get(first + 5)?;
    Ok(Event {
        seq: r.get(first)?,
        kind: r.get(first + 1)?,
        at: r.get(first + 2)?,
        mailbox: r.get(first + 3)?,
        subject: r.get(first + 4)?,
        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
    })
}

impl Store {
    /// Events after `after`, oldest first, at most `limit`. `visible`: only events of these
    /// mailboxes (a restricted client: events about no mailbox are not its to see); `None`
    /// for all. `types`: only these (`None`: all).
    pub fn events_after(
        &mut self,
        after: i64,
        limit: u32,
        visible: Option<&[String]>,
        types: Option<&[EventType]>,
    ) -> Result<Vec<Event>, StoreError> {
        self.events_after_for(after, limit, visible, None, types)
    }

    /// [`Store::events_after`] for one API client: `owner` (`api:<client>`, as
    /// `outgoing.client` holds it) sees only the `outgoing.status_changed` and
    /// `receipt.received` events of the messages it sent, whatever its mailboxes; `None` sees every client's (an admin
    /// without a mailbox restriction). A sent message belongs to the client that submitted
    /// it, so its UUID and progress are no other client's to learn.
    pub fn events_after_for(
        &mut self,
        after: i64,
        limit: u32,
        visible: Option<&[String]>,
        owner: Option<&str>,
        types: Option<&[EventType]>,
    ) -> Result<Vec<Event>, StoreError> {
        let visible = visible_json(visible);
        let types = types.map(|t| {
            serde_json::Value::from(t.iter().map(|t| t.name()).collect::<Vec<_>>()).to_string()
        });
        let result = (|| {
            let mut stmt = self.conn().prepare_cached(
                "SELECT seq, type, at, mailbox, subject, payload FROM events
                 WHERE seq > ?1
                   AND CASE WHEN type IN ('outgoing.status_changed', 'receipt.received') AND CAST(?5 AS TEXT) IS NOT NULL
                       THEN subject IN (SELECT uuid FROM outgoing WHERE client = ?5)
                       ELSE CAST(?2 AS TEXT) IS NULL OR mailbox IN (SELECT value FROM json_each(?2)) END
                   AND (CAST(?3 AS TEXT) IS NULL OR type IN (SELECT value FROM json_each(?3)))
                 ORDER BY seq LIMIT ?4",
            )?;
            let rows = stmt.query_map(params![after, visible, types, limit, owner], |r| {
                read_event(r, 0)
            })?;
            rows.collect::<Result<Vec<_>, _>>()
        })();
        result.map_err(|e| self.error(e))
    }

    /// The newest event's sequence number (0 when there is none).
    pub fn events_last_seq(&mut self) -> Result<i64, StoreError> {
        let result = self
            .conn()
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0));
        result.map_err(|e| self.error(e))
    }

    /// Record that the sent message `uuid` went from status `from` to `to`, as the event
    /// `outgoing.status_changed`, in a transaction of its own. The outgoing side calls this
    /// (or [`record_outgoing_status_changed`] inside its own transaction, which is better:
    /// then the status and its event commit together) whenever it changes a status.
    pub fn events_outgoing_status_changed(
        &mut self,
        uuid: &str,
        from: Option<&str>,
        to: &str,
        now: i64,
    ) -> Result<i64, StoreError> {
        let result = (|| {
            let tx = self.conn().transaction()?;
            let seq = record_outgoing_status_changed(&tx, uuid, from, to, now)?;
            tx.commit()?;
            Ok(seq)
        })();
        result.map_err(|e| self.error(e))
    }
}

/// The `outgoing.status_changed` event of sent message `uuid`, inside the caller's write
/// transaction (the one that changes the status). Outgoing messages belong to no mailbox
/// but to the client that submitted them: [`Store::events_after_for`] shows the event to
/// that client only (and to an admin without a mailbox restriction).
pub(crate) fn record_outgoing_status_changed(
    tx: &super::sql::Connection,
    uuid: &str,
    from: Option<&str>,
    to: &str,
    now: i64,
) -> super::sql::Result<i64> {
    let uuid = uuid.to_ascii_lowercase();
    record(
        tx,
        &NewEvent {
            kind: EventType::OutgoingStatusChanged,
            at: now,
            mailbox: None,
            subject: &uuid,
            payload: serde_json::json!({
                "messageUuid": uuid,
                "from": from,
                "status": to,
                "links": { "outgoing": format!("/api/v1/outgoing/{uuid}") },
            }),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(name: &str) -> Store {
        let dir = std::env::temp_dir().join(format!("dpost-events-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Store::open(&dir.join("t.db")).unwrap()
    }

    #[test]
    fn events_page_in_order_and_filter_by_mailbox_and_type() {
        let mut s = store("page");
        for (i, (kind, mailbox)) in [
            (EventType::MessageReceived, Some("x")),
            (EventType::MessageInvalid, Some("y")),
            (EventType::ReceiptReceived, None),
        ]
        .into_iter()
        .enumerate()
        {
            let subject = format!("s{i}");
            let tx = s.conn().transaction().unwrap();
            record(
                &tx,
                &NewEvent {
                    kind,
                    at: 10,
                    mailbox,
                    subject: &subject,
                    payload: serde_json::json!({ "i": i }),
                },
            )
            .unwrap();
            tx.commit().unwrap();
        }
        let all = s.events_after(0, 10, None, None).unwrap();
        assert_eq!(all.len(), 3);
        assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
        assert_eq!(all[1].kind, "message.invalid");
        assert_eq!(all[2].payload["i"], 2);
        let page = s.events_after(all[0].seq, 1, None, None).unwrap();
        assert_eq!(page[0].subject, "s1");
        let x = s
            .events_after(0, 10, Some(&["x".to_owned()]), None)
            .unwrap();
        assert_eq!(
            x.len(),
            1,
            "a restricted reader sees no event of no mailbox"
        );
        let receipts = s
            .events_after(0, 10, None, Some(&[EventType::ReceiptReceived]))
            .unwrap();
        assert_eq!(receipts[0].subject, "s2");
        assert_eq!(s.events_last_seq().unwrap(), all[2].seq);
        let seq = s
            .events_outgoing_status_changed("ABC", Some("queued"), "sent", 11)
            .unwrap();
        let last = s.events_after(seq - 1, 10, None, None).unwrap();
        assert_eq!(last[0].kind, "outgoing.status_changed");
        assert_eq!(last[0].payload["messageUuid"], "abc");
        assert_eq!(
            EventType::parse("receipt.received"),
            Some(EventType::ReceiptReceived)
        );
    }

    #[test]
    fn what_is_stored_and_its_event_commit_together() {
        use crate::store::digipost::NewDocument;
        use crate::store::ngdp::{IncomingReceipt, NewMessage};
        let mut s = store("together");
        let message = |n: u32, valid: bool| NewMessage {
            uuid: format!("00000000-0000-4000-8000-{n:012}"),
            environment: "test".into(),
            system_id: "sys".into(),
            via: "push",
            received_at: 100,
            valid,
            problems: serde_json::json!([]),
            message_id: None,
            label: None,
            sender_id: None,
            sender_label: None,
            recipient_id: None,
            mailbox: "x".into(),
            contact_point: None,
            routing_reason: serde_json::json!({}),
            header: serde_json::json!({}),
            dir: "/nowhere".into(),
            raw_size: 0,
            raw_sha256: String::new(),
            files: Vec::new(),
            receipt: "{}".into(),
            bytes_from: None,
        };
        let (a, b) = (message(1, true), message(2, false));
        s.ngdp_insert_messages(&[&a, &b]).unwrap();
        // A resend stores nothing and reports nothing.
        s.ngdp_insert_messages(&[&a]).unwrap();
        let kinds = |s: &mut Store| -> Vec<(String, String)> {
            s.events_after(0, 100, None, None)
                .unwrap()
                .into_iter()
                .map(|e| (e.kind, e.subject))
                .collect()
        };
        assert_eq!(
            kinds(&mut s),
            [
                ("message.received".to_owned(), a.uuid.clone()),
                ("message.received".to_owned(), b.uuid.clone()),
                ("message.invalid".to_owned(), b.uuid.clone()),
            ]
        );
        let first = s.events_after(0, 1, None, None).unwrap().remove(0);
        assert_eq!(first.mailbox.as_deref(), Some("x"));
        assert_eq!(
            first.payload["links"]["message"],
            format!("/api/v1/messages/{}", a.uuid)
        );
        let receipt = IncomingReceipt {
            system_id: "sys".into(),
            message_uuid: "AB".into(),
            receipt_status: "COMPLETED".into(),
            error_code: None,
            error_message: None,
            time_stamp: "t".into(),
            transmission_id: None,
            json: "{}".into(),
            ngdp_id: Some("r1".into()),
            warnings: Vec::new(),
        };
        s.ngdp_store_receipt(&receipt, 200).unwrap();
        s.ngdp_store_receipt(&receipt, 201).unwrap();
        let doc = NewDocument {
            id: 7,
            metadata: serde_json::json!({}),
            content_type: None,
            content: b"x".to_vec(),
        };
        assert!(s.digipost_archive(3, &doc, &[], 300).unwrap());
        assert!(!s.digipost_archive(3, &doc, &[], 301).unwrap());
        let all = kinds(&mut s);
        assert_eq!(
            all[3..],
            [
                ("receipt.received".to_owned(), "ab".to_owned()),
                ("digipost.document_archived".to_owned(), "3/7".to_owned()),
            ],
            "a receipt stored once and a document archived once are reported once"
        );
    }

    #[test]
    fn a_sent_messages_events_are_its_senders_only() {
        let mut s = store("owner");
        for (uuid, client) in [("AAA", "api:a"), ("BBB", "api:b")] {
            s.outgoing_submit(&crate::store::outgoing::NewOutgoing {
                uuid: uuid.into(),
                idempotency_key: None,
                client: client.into(),
                system_id: "sys".into(),
                environment: "test".into(),
                path: "/x.xml".into(),
                size: 1,
                sha256: uuid.into(),
                fingerprint: uuid.into(),
                now: 10,
                give_up_at: 100,
                bytes_from: None,
            })
            .unwrap();
        }
        let tx = s.conn().transaction().unwrap();
        for (kind, mailbox, subject) in [
            (EventType::MessageReceived, Some("x"), "m1"),
            (EventType::ReceiptReceived, None, "bbb"),
        ] {
            let payload = serde_json::json!({});
            record(
                &tx,
                &NewEvent {
                    kind,
                    at: 11,
                    mailbox,
                    subject,
                    payload,
                },
            )
            .unwrap();
        }
        tx.commit().unwrap();
        let subjects = |s: &mut Store, visible: Option<&[String]>, owner: Option<&str>| {
            s.events_after_for(0, 10, visible, owner, None)
                .unwrap()
                .into_iter()
                .map(|e| format!("{} {}", e.kind, e.subject))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            subjects(&mut s, None, None),
            [
                "outgoing.status_changed aaa",
                "outgoing.status_changed bbb",
                "message.received m1",
                "receipt.received bbb"
            ],
            "an admin without a mailbox restriction sees every client's"
        );
        assert_eq!(
            subjects(&mut s, None, Some("api:a")),
            ["outgoing.status_changed aaa", "message.received m1"],
            "a client learns nothing of another client's sent messages"
        );
        assert_eq!(
            subjects(&mut s, None, Some("api:b")),
            [
                "outgoing.status_changed bbb",
                "message.received m1",
                "receipt.received bbb"
            ]
        );
        let y = ["y".to_owned()];
        assert_eq!(
            subjects(&mut s, Some(&y), Some("api:a")),
            ["outgoing.status_changed aaa"],
            "a client restricted to mailboxes still follows what it sent"
        );
    }
}
