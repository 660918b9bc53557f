//! NgDP messages received, the business receipts owed for them (the outbox), receipts
//! received for messages the organisation sent, and mailboxes.
//!
//! A message's bytes live in files (the MeMo as received and each decoded document file),
//! written and fsynced before the row that points at them is committed: a message may carry
//! ~100 MB, which must never pass through memory whole. The row is the acknowledgement: no
//! row, no 200 to NgDP, and a resend finds no row and stores the message again.

use super::sql::{OptionalExtension as _, params};

use super::events::{self, EventType, NewEvent};
use super::{Migration, Store, StoreError};

/// The NgDP tables.
pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: "
        CREATE TABLE ngdp_mailboxes (
            name       TEXT PRIMARY KEY,
            first_seen INTEGER NOT NULL
        );
        CREATE TABLE ngdp_messages (
            uuid            TEXT PRIMARY KEY,     -- messageUUID, lower-case
            environment     TEXT NOT NULL,
            system_id       TEXT NOT NULL,
            via             TEXT NOT NULL,        -- push | pull
            received_at     INTEGER NOT NULL,
            valid           INTEGER NOT NULL,
            problems        TEXT NOT NULL,        -- JSON list of validation problems
            message_id      TEXT,
            label           TEXT,
            sender_id       TEXT,
            sender_label    TEXT,
            recipient_id    TEXT,
            mailbox         TEXT NOT NULL,
            contact_point   TEXT,
            routing_reason  TEXT NOT NULL,        -- JSON: why this mailbox
            header          TEXT NOT NULL,        -- JSON
            dir             TEXT NOT NULL,        -- folder with message.xml and files/
            raw_size        INTEGER NOT NULL,
            raw_sha256      TEXT NOT NULL
        );
        CREATE INDEX ngdp_messages_mailbox ON ngdp_messages (mailbox, received_at);
        CREATE TABLE ngdp_files (
            message_uuid    TEXT NOT NULL REFERENCES ngdp_messages (uuid),
            seq             INTEGER NOT NULL,
            document_seq    INTEGER NOT NULL,
            document_kind   TEXT NOT NULL,
            document_label  TEXT,
            filename        TEXT NOT NULL,
            encoding_format TEXT NOT NULL,
            language        TEXT NOT NULL,
            path            TEXT NOT NULL,        -- relative to the message's dir
            size            INTEGER NOT NULL,
            sha256          TEXT NOT NULL,
            PRIMARY KEY (message_uuid, seq)
        );
        -- Business receipts owed to NgDP. Sent once: a row leaves `pending` only when NgDP
        -- answered 2xx (sent) or refused it for good (rejected).
        CREATE TABLE ngdp_outbox (
            message_uuid    TEXT PRIMARY KEY REFERENCES ngdp_messages (uuid),
            environment     TEXT NOT NULL,
            system_id       TEXT NOT NULL,
            receipt         TEXT NOT NULL,        -- the receipt JSON
            status          TEXT NOT NULL,        -- pending | sent | rejected
            attempts        INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER NOT NULL,
            last_error      TEXT,
            sent_at         INTEGER
        );
        CREATE INDEX ngdp_outbox_due ON ngdp_outbox (next_attempt_at) WHERE status = 'pending';
        -- Messages the organisation sent (filled by the sending side).
        CREATE TABLE ngdp_sent (
            uuid        TEXT PRIMARY KEY,
            system_id   TEXT NOT NULL,
            status      TEXT NOT NULL,
            created_at  INTEGER NOT NULL,
            updated_at  INTEGER NOT NULL
        );
        -- Receipts NgDP pushed to us, for messages we sent.
        CREATE TABLE ngdp_receipts (
            id              INTEGER PRIMARY KEY,
            system_id       TEXT NOT NULL,
            message_uuid    TEXT NOT NULL,
            receipt_status  TEXT NOT NULL,
            error_code      TEXT,
            error_message   TEXT,
            time_stamp      TEXT NOT NULL,
            transmission_id TEXT,
            json            TEXT NOT NULL,
            received_at     INTEGER NOT NULL,
            linked          INTEGER NOT NULL      -- 1 when the message is in ngdp_sent
        );
        CREATE INDEX ngdp_receipts_message ON ngdp_receipts (message_uuid);
    ",
    },
    Migration {
        version: 2,
        // The sending side: why a send failed, the receipt NgDP answered it with, and attempts.
        sql: "
        ALTER TABLE ngdp_sent ADD COLUMN environment TEXT;
        ALTER TABLE ngdp_sent ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE ngdp_sent ADD COLUMN reason TEXT;
        ALTER TABLE ngdp_sent ADD COLUMN receipt TEXT;
    ",
    },
    Migration {
        version: 3,
        // NgDP as published (issue 13). A pulled receipt is stored once, keyed by the id NgDP
        // lists it under (a receipt NgDP did not delete comes back); what the lenient receipt
        // reader found odd is kept beside it; and a pulled message whose business receipt is
        // still owed carries the DELETE memos/{id} that must follow it.
        sql: "
        ALTER TABLE ngdp_receipts ADD COLUMN ngdp_id TEXT;
        ALTER TABLE ngdp_receipts ADD COLUMN warnings TEXT;
        CREATE UNIQUE INDEX ngdp_receipts_ngdp_id ON ngdp_receipts (system_id, ngdp_id)
            WHERE ngdp_id IS NOT NULL;
        ALTER TABLE ngdp_outbox ADD COLUMN delete_memo TEXT;  -- NULL | owed | done
        -- A sender (the outbox worker or a pull run) holds the receipt until then: one POST
        -- of a receipt at a time, never two racing copies.
        ALTER TABLE ngdp_outbox ADD COLUMN claimed_until INTEGER;
    ",
    },
    Migration {
        version: 4,
        // The platform API's feed (issue 15): every message gets a place in one strictly
        // increasing sequence, taken from a counter when its row is committed (see
        // `insert_message_rows`). Messages stored before keep their insertion order (the
        // rowid: rows are never deleted), and the counter starts after them.
        sql: "
        ALTER TABLE ngdp_messages ADD COLUMN seq INTEGER;
        UPDATE ngdp_messages SET seq = rowid;
        CREATE UNIQUE INDEX ngdp_messages_seq ON ngdp_messages (seq);
        CREATE TABLE ngdp_sequence (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT INTO ngdp_sequence (name, value) SELECT 'messages', COALESCE(MAX(seq), 0) FROM ngdp_messages;
    ",
    },
    Migration {
        version: 5,
        // Failures that were silent (issue 16). A business receipt is tried from `queued_at`
        // (its message's arrival, or when an operator re-queued it) until the give-up
        // window ends, and keeps the HTTP status of NgDP's last refusal beside its reason.
        // A resent messageUUID whose content differs from the stored copy is recorded
        // (hash, size, time, and the bytes while that stays bounded) instead of vanishing.
        sql: "
        ALTER TABLE ngdp_outbox ADD COLUMN queued_at INTEGER;
        UPDATE ngdp_outbox SET queued_at = COALESCE(
            (SELECT received_at FROM ngdp_messages m WHERE m.uuid = ngdp_outbox.message_uuid),
            next_attempt_at);
        ALTER TABLE ngdp_outbox ADD COLUMN last_http_status INTEGER;
        CREATE TABLE ngdp_conflicts (
            id           INTEGER PRIMARY KEY,
            message_uuid TEXT NOT NULL REFERENCES ngdp_messages (uuid),
            received_at  INTEGER NOT NULL,
            size         INTEGER NOT NULL,
            sha256       TEXT NOT NULL,
            path         TEXT                   -- the kept copy, relative to the message's dir
        );
        CREATE INDEX ngdp_conflicts_message ON ngdp_conflicts (message_uuid);
        -- /metrics counts the receipts not sent yet on every scrape: sent ones are skipped.
        CREATE INDEX ngdp_outbox_open ON ngdp_outbox (system_id) WHERE status <> 'sent';
    ",
    },
];

/// The next number of the message sequence, inside the caller's write transaction.
///
/// Why a reader paging by this number never misses a message nor sees one twice: SQLite lets
/// one writer at a time hold the database's write lock, from its first write until its
/// commit, and this counter is only ever advanced by a write (the insert before it, or a
/// route). So a number is taken while that lock is held, and every number taken later
/// belongs to a transaction that began writing after this one committed (or rolled back,
/// which leaves a gap in the numbers but no message behind it). Commit order is number
/// order: a reader's snapshot always holds every committed number up to the largest it
/// sees, and a message committed after the reader looked gets a number larger than any it
/// saw. The group commit (`ngdp::group_commit`) puts many messages in one transaction;
/// they take consecutive numbers in it and become visible together.
pub(crate) fn next_message_seq(tx: &super::sql::Connection) -> super::sql::Result<i64> {
    take_message_seqs(tx, 1)
}

/// `n` consecutive numbers of the feed (the same rule as [`next_message_seq`]), the first
/// returned: one update of the counter row for a whole batch, where each update leaves a
/// row version behind on PostgreSQL for every later update to step over until it is pruned.
fn take_message_seqs(tx: &super::sql::Connection, n: usize) -> super::sql::Result<i64> {
    let last: i64 = tx
        .prepare_cached(
            "UPDATE ngdp_sequence SET value = value + ?1 WHERE name = 'messages' RETURNING value",
        )?
        .query_row([n as i64], |r| r.get(0))?;
    Ok(last - n as i64 + 1)
}

/// Where the `DELETE memos/{id}` of a pulled message stands (`ngdp_outbox.delete_memo`).
pub mod memo_deletion {
    /// The message was pulled but its business receipt was not yet taken by NgDP: delete it
    /// at NgDP only after the receipt goes through.
    pub const OWED: &str = "owed";
    /// Deleted at NgDP (or found gone).
    pub const DONE: &str = "done";
}

/// The business receipt owed for a pulled message, and whether its deletion at NgDP waits.
#[derive(Debug, Clone)]
pub struct OutboxState {
    /// pending | sent | rejected.
    pub status: String,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// [`memo_deletion`], or `None`.
    pub delete_memo: Option<String>,
    /// The receipt, to send now whatever its next attempt time.
    pub receipt: DueReceipt,
}

/// Where a message the organisation sends stands.
pub mod sent_status {
    /// Recorded, and the POST to NgDP started (or about to): the outcome is not known yet.
    pub const SENDING: &str = "sending";
    /// NgDP took it (2xx, or 409 for a UUID it already has).
    pub const SENT: &str = "sent";
    /// NgDP refused it for good (a 4xx), or every attempt failed.
    pub const FAILED: &str = "failed";
}

/// A message the organisation sent, or tried to.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct SentRecord {
    /// messageUUID, lower-case.
    pub uuid: String,
    /// The sending system.
    pub system_id: String,
    /// test | production, when known.
    pub environment: Option<String>,
    /// sending | sent | failed, or the status of the last receipt NgDP pushed for it.
    pub status: String,
    /// POSTs made so far.
    pub attempts: u32,
    /// Why it failed, when it did.
    pub reason: Option<String>,
    /// The receipt NgDP answered the send with, JSON.
    pub receipt: Option<serde_json::Value>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// A message about to be recorded; its files are already durable in `dir`.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// messageUUID, lower-case.
    pub uuid: String,
    /// test | production.
    pub environment: String,
    /// The receiving system.
    pub system_id: String,
    /// push | pull.
    pub via: &'static str,
    /// Unix seconds.
    pub received_at: i64,
    /// No validation errors.
    pub valid: bool,
    /// Validation problems, JSON.
    pub problems: serde_json::Value,
    /// messageID.
    pub message_id: Option<String>,
    /// label.
    pub label: Option<String>,
    /// Sender id.
    pub sender_id: Option<String>,
    /// Sender label.
    pub sender_label: Option<String>,
    /// Recipient id.
    pub recipient_id: Option<String>,
    /// The mailbox routed to.
    pub mailbox: String,
    /// The deciding contact point.
    pub contact_point: Option<String>,
    /// Why, JSON.
    pub routing_reason: serde_json::Value,
    /// The header, JSON.
    pub header: serde_json::Value,
    /// Folder of the message's files.
    pub dir: String,
    /// Size of the MeMo as received.
    pub raw_size: u64,
    /// Its SHA-256, hex.
    pub raw_sha256: String,
    /// Its document files.
    pub files: Vec<NewFile>,
    /// The business receipt to send, JSON.
    pub receipt: String,
    /// On a store that keeps stored files' bytes itself (PostgreSQL, [`super::files`]): the
    /// local folder holding `message.xml` and the files, read into the store in the same
    /// transaction as these rows. `None` where the files are in place in `dir` already.
    pub bytes_from: Option<std::path::PathBuf>,
}

/// One decoded document file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NewFile {
    /// Order in the message.
    pub seq: u32,
    /// Which document (order).
    pub document_seq: u32,
    /// main | additional | technical.
    pub document_kind: String,
    /// The document's label.
    pub document_label: Option<String>,
    /// Filename as the sender gave it.
    pub filename: String,
    /// MIME type.
    pub encoding_format: String,
    /// Language.
    pub language: String,
    /// Path relative to the message folder.
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

/// A stored message as operators see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StoredMessage {
    /// messageUUID.
    pub uuid: String,
    /// Environment.
    pub environment: String,
    /// System.
    pub system_id: String,
    /// push | pull.
    pub via: String,
    /// Unix seconds.
    pub received_at: i64,
    /// Valid.
    pub valid: bool,
    /// Label.
    pub label: Option<String>,
    /// Sender.
    pub sender_id: Option<String>,
    /// Sender label.
    pub sender_label: Option<String>,
    /// Recipient.
    pub recipient_id: Option<String>,
    /// Mailbox.
    pub mailbox: String,
    /// Contact point.
    pub contact_point: Option<String>,
    /// Why, JSON.
    pub routing_reason: serde_json::Value,
    /// Problems, JSON.
    pub problems: serde_json::Value,
    /// Header, JSON.
    pub header: serde_json::Value,
    /// Folder.
    pub dir: String,
    /// Raw size.
    pub raw_size: u64,
    /// Raw SHA-256.
    pub raw_sha256: String,
    /// Files.
    pub files: Vec<NewFile>,
    /// Receipt status: pending | sent | rejected, and the attempts so far.
    pub receipt_status: Option<String>,
    /// Why the business receipt's last attempt failed, as NgDP answered it (its
    /// `ErrorMessage` code, message and field errors).
    pub receipt_error: Option<String>,
    /// Copies delivered later under the same messageUUID with other content.
    pub conflicts: Vec<super::conflicts::ConflictingCopy>,
}

/// What storing a receipt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptStored {
    /// Stored now; `linked` when it is about a message we sent.
    New {
        /// Linked to a sent message.
        linked: bool,
    },
    /// A pulled receipt with this NgDP id was stored before; nothing written.
    Already,
}

/// A business receipt due for sending.
#[derive(Debug, Clone)]
pub struct DueReceipt {
    /// The message.
    pub message_uuid: String,
    /// Environment.
    pub environment: String,
    /// System.
    pub system_id: String,
    /// JSON.
    pub receipt: String,
    /// Attempts so far.
    pub attempts: u32,
    /// A pulled message whose `DELETE memos/{id}` waits for this receipt to be taken.
    pub delete_memo_after: bool,
    /// Since when it is being tried (unix seconds): its message's arrival, or when it was
    /// last re-queued. The give-up window counts from here.
    pub queued_at: i64,
}

/// Why one attempt to send a business receipt failed, and what follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptFailure {
    /// NgDP's reason (or the network error), as a person reads it.
    pub reason: String,
    /// NgDP's HTTP status, when it answered.
    pub http_status: Option<u16>,
    /// When to try again.
    pub next: i64,
    /// Never again: NgDP refused it for good, or the give-up window ended. It stays listed
    /// as refused and an operator can re-queue it.
    pub give_up: bool,
}

/// A receipt NgDP pushed for a message we sent.
#[derive(Debug, Clone)]
pub struct IncomingReceipt {
    /// The receiving system addressed.
    pub system_id: String,
    /// messageUUID.
    pub message_uuid: String,
    /// COMPLETED, RECEIVED, INVALID, NOT_ALLOWED.
    pub receipt_status: String,
    /// errorCode.
    pub error_code: Option<String>,
    /// errorMessage.
    pub error_message: Option<String>,
    /// timeStamp.
    pub time_stamp: String,
    /// transmissionId.
    pub transmission_id: Option<String>,
    /// The JSON as received.
    pub json: String,
    /// The id NgDP lists a pulled receipt under (`GET receipts/`, a `BulkReceipt`'s `id`):
    /// the receipt is stored once per id. `None` for a pushed receipt.
    pub ngdp_id: Option<String>,
    /// What the component found missing or odd in it.
    pub warnings: Vec<String>,
}

fn json_text(v: &serde_json::Value) -> String {
    v.to_string()
}

fn parse_json(s: String) -> serde_json::Value {
    serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s))
}

impl Store {
    /// Record the mailboxes the configuration names (kept so operators see every mailbox,
    /// even one that has received nothing yet).
    pub fn ngdp_register_mailboxes(
        &mut self,
        names: &[String],
        now: i64,
    ) -> Result<(), StoreError> {
        let result = (|| {
            let tx = self.conn().transaction()?;
            for n in names {
                tx.execute(
                    "INSERT INTO ngdp_mailboxes (name, first_seen) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    params![n, now],
                )?;
            }
            tx.commit()
        })();
        result.map_err(|e| self.error(e))
    }

    /// True when a message with this UUID is stored.
    pub fn ngdp_has_message(&mut self, uuid: &str) -> Result<bool, StoreError> {
        let found = self
            .conn()
            .query_row(
                "SELECT 1 FROM ngdp_messages WHERE uuid = ?1",
                [uuid.to_ascii_lowercase()],
                |_| Ok(()),
            )
            .optional();
        found.map(|f| f.is_some()).map_err(|e| self.error(e))
    }

    /// Record a message, its files and the receipt it is owed, in one transaction committed
    /// (fsynced) before this returns. Returns false, writing nothing, for a UUID stored before.
    pub fn ngdp_insert_message(&mut self, m: &NewMessage) -> Result<bool, StoreError> {
        Ok(self
            .ngdp_insert_messages(&[m])?
            .first()
            .copied()
            .unwrap_or(false))
    }

    /// [`Self::ngdp_insert_message`] for several messages in one transaction, so that one
    /// fsync of the log makes them all durable (group commit). One flag per message: false
    /// for a UUID stored already, whose rows are left as they were.
    pub fn ngdp_insert_messages(
        &mut self,
        messages: &[&NewMessage],
    ) -> Result<Vec<bool>, StoreError> {
        let result = (|| {
            let tx = self.conn().transaction()?;
            let mut inserted = Vec::with_capacity(messages.len());
            for m in messages {
                inserted.push(insert_message_rows(&tx, m)?);
            }
            // Last, what every writer shares: the feed's counter and the events' counter.
            // On PostgreSQL those rows stay locked until the commit (that is what keeps the
            // numbers in commit order), so another replica storing messages at the same time
            // waits only for this part and the commit, not for the rows and bytes above.
            let new: Vec<&&NewMessage> = messages
                .iter()
                .zip(&inserted)
                .filter(|(_, new)| **new)
                .map(|(m, _)| m)
                .collect();
            if !new.is_empty() {
                let first = take_message_seqs(&tx, new.len())?;
                for (seq, m) in (first..).zip(&new) {
                    tx.prepare_cached("UPDATE ngdp_messages SET seq = ?1 WHERE uuid = ?2")?
                        .execute(params![seq, m.uuid])?;
                    record_received_events(&tx, m)?;
                }
            }
            tx.commit()?;
            Ok(inserted)
        })();
        result.map_err(|e| self.error(e))
    }

    /// Receipts whose next attempt is due at `now`, oldest first.
    pub fn ngdp_due_receipts(
        &mut self,
        now: i64,
        limit: u32,
    ) -> Result<Vec<DueReceipt>, StoreError> {
        let result = (|| {
            let mut q = self.conn().prepare_cached(
                "SELECT message_uuid, environment, system_id, receipt, attempts, delete_memo = 'owed',
                        COALESCE(queued_at, next_attempt_at) FROM ngdp_outbox
                 WHERE status = 'pending' AND next_attempt_at <= ?1 AND (claimed_until IS NULL OR claimed_until <= ?1)
                 ORDER BY next_attempt_at LIMIT ?2",
            )?;
            let rows = q.query_map(params![now, limit], |r| {
                Ok(DueReceipt {
                    message_uuid: r.get(0)?,
                    environment: r.get(1)?,
                    system_id: r.get(2)?,
                    receipt: r.get(3)?,
                    attempts: r.get(4)?,
                    delete_memo_after: r.get::<_, Option<bool>>(5)?.unwrap_or(false),
                    queued_at: r.get(6)?,
                })
            })?;
            rows.collect::<Result<Vec<_>, _>>()
        })();
        result.map_err(|e| self.error(e))
    }

    /// NgDP took the receipt: never send it again.
    pub fn ngdp_receipt_sent(&mut self, uuid: &str, now: i64) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE ngdp_outbox SET status = 'sent', sent_at = ?2, attempts = attempts + 1, last_error = NULL,
                    claimed_until = NULL
                 WHERE message_uuid = ?1",
                params![uuid, now],
            )
            .map(|_| ())
            .map_err(|e| self.error(e))
    }

    /// Take the pending receipt of `uuid` for sending until `until`: true when it was free
    /// (not claimed, or its claim ran out by `now`). Sending it and recording the outcome
    /// releases it; a sender that dies leaves it claimed only until `until`.
    pub fn ngdp_claim_receipt(
        &mut self,
        uuid: &str,
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError> {
        self.conn()
            .execute(
                "UPDATE ngdp_outbox SET claimed_until = ?3
                 WHERE message_uuid = ?1 AND status = 'pending' AND (claimed_until IS NULL OR claimed_until <= ?2)",
                params![uuid.to_ascii_lowercase(), now, until],
            )
            .map(|n| n == 1)
            .map_err(|e| self.error(e))
    }

    /// An attempt failed: try again at `failure.next`, or stop (refused) when it gives up.
    pub fn ngdp_receipt_failed(
        &mut self,
        uuid: &str,
        failure: &ReceiptFailure,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE ngdp_outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3,
                    status = CASE WHEN ?4 THEN 'rejected' ELSE status END, claimed_until = NULL,
                    last_http_status = ?5
                 WHERE message_uuid = ?1 AND status = 'pending'",
                params![
                    uuid,
                    failure.reason,
                    failure.next,
                    failure.give_up,
                    failure.http_status
                ],
            )
            .map(|_| ())
            .map_err(|e| self.error(e))
    }

    /// How many receipts wait to be sent.
    pub fn ngdp_pending_receipts(&mut self) -> Result<u64, StoreError> {
        self.conn()
            .query_row(
                "SELECT COUNT(*) FROM ngdp_outbox WHERE status = 'pending'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(|e| self.error(e))
    }

    /// Store a receipt NgDP pushed or a system pulled, linking it to a message we sent when we
    /// know it. Returns whether it was linked. A pulled receipt whose `ngdp_id` is stored
    /// already is not stored again (and reported as [`ReceiptStored::Already`] by
    /// [`Store::ngdp_store_receipt`]).
    pub fn ngdp_insert_receipt(
        &mut self,
        r: &IncomingReceipt,
        now: i64,
    ) -> Result<bool, StoreError> {
        Ok(matches!(
            self.ngdp_store_receipt(r, now)?,
            ReceiptStored::New { linked: true }
        ))
    }

    /// [`Store::ngdp_insert_receipt`], saying whether the receipt was new.
    pub fn ngdp_store_receipt(
        &mut self,
        r: &IncomingReceipt,
        now: i64,
    ) -> Result<ReceiptStored, StoreError> {
        let result = (|| {
            let tx = self.conn().transaction()?;
            if let Some(id) = &r.ngdp_id {
                let known = tx
                    .query_row(
                        "SELECT 1 FROM ngdp_receipts WHERE system_id = ?1 AND ngdp_id = ?2",
                        params![r.system_id, id.to_ascii_lowercase()],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some();
                if known {
                    return Ok(ReceiptStored::Already);
                }
            }
            let linked = tx
                .query_row(
                    "SELECT 1 FROM ngdp_sent WHERE uuid = ?1",
                    [r.message_uuid.to_ascii_lowercase()],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            let warnings = (!r.warnings.is_empty()).then(|| r.warnings.join("; "));
            tx.execute(
                "INSERT INTO ngdp_receipts (system_id, message_uuid, receipt_status, error_code, error_message,
                    time_stamp, transmission_id, json, received_at, linked, ngdp_id, warnings)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    r.system_id, r.message_uuid.to_ascii_lowercase(), r.receipt_status, r.error_code, r.error_message,
                    r.time_stamp, r.transmission_id, r.json, now, linked,
                    r.ngdp_id.as_deref().map(str::to_ascii_lowercase), warnings
                ],
            )?;
            let uuid = r.message_uuid.to_ascii_lowercase();
            events::record(
                &tx,
                &NewEvent {
                    kind: EventType::ReceiptReceived,
                    at: now,
                    mailbox: None,
                    subject: &uuid,
                    payload: serde_json::json!({
                        "messageUuid": uuid,
                        "systemId": r.system_id,
                        "receiptStatus": r.receipt_status,
                        "linked": linked,
                        "links": { "outgoing": format!("/api/v1/outgoing/{uuid}") },
                    }),
                },
            )?;
            // A receipt without a status does not change what the sent message's record says.
            if linked && !r.receipt_status.is_empty() {
                tx.execute(
                    "UPDATE ngdp_sent SET status = ?2, updated_at = ?3 WHERE uuid = ?1",
                    params![r.message_uuid.to_ascii_lowercase(), r.receipt_status, now],
                )?;
            }
            tx.commit()?;
            Ok(ReceiptStored::New { linked })
        })();
        result.map_err(|e| self.error(e))
    }

    /// The outbox row of a pulled (or pushed) message: its receipt's state and whether a
    /// deletion at NgDP waits for it.
    pub fn ngdp_outbox_state(&mut self, uuid: &str) -> Result<Option<OutboxState>, StoreError> {
        self.conn()
            .query_row(
                "SELECT status, last_error, delete_memo, message_uuid, environment, system_id, receipt, attempts,
                        COALESCE(queued_at, next_attempt_at)
                 FROM ngdp_outbox WHERE message_uuid = ?1",
                [uuid.to_ascii_lowercase()],
                |r| {
                    let delete_memo: Option<String> = r.get(2)?;
                    Ok(OutboxState {
                        status: r.get(0)?,
                        last_error: r.get(1)?,
                        receipt: DueReceipt {
                            message_uuid: r.get(3)?,
                            environment: r.get(4)?,
                            system_id: r.get(5)?,
                            receipt: r.get(6)?,
                            attempts: r.get(7)?,
                            delete_memo_after: delete_memo.as_deref() == Some(memo_deletion::OWED),
                            queued_at: r.get(8)?,
                        },
                        delete_memo,
                    })
                },
            )
            .optional()
            .map_err(|e| self.error(e))
    }

    /// Record where the `DELETE memos/{uuid}` of a pulled message stands ([`memo_deletion`]).
    pub fn ngdp_set_memo_deletion(&mut self, uuid: &str, state: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE ngdp_outbox SET delete_memo = ?2 WHERE message_uuid = ?1",
                params![uuid.to_ascii_lowercase(), state],
            )
            .map(|_| ())
            .map_err(|e| self.error(e))
    }

    /// Mailboxes with their message counts.
    pub fn ngdp_mailboxes(&mut self) -> Result<Vec<(String, u64, u64)>, StoreError> {
        let result = (|| {
            let mut q = self.conn().prepare(
                "SELECT b.name, COUNT(m.uuid), COALESCE(SUM(CASE WHEN m.valid = 0 THEN 1 ELSE 0 END), 0)
                 FROM ngdp_mailboxes b LEFT JOIN ngdp_messages m ON m.mailbox = b.name
                 GROUP BY b.name ORDER BY b.name",
            )?;
            let rows = q.query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, i64>(2)? as u64,
                ))
            })?;
            rows.collect::<Result<Vec<_>, _>>()
        })();
        result.map_err(|e| self.error(e))
    }

    /// Messages, newest first, optionally in one mailbox or only the invalid ones.
    pub fn ngdp_messages(
        &mut self,
        mailbox: Option<&str>,
        invalid_only: bool,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let uuids: Vec<String> = {
            let result = (|| {
                let mut q = self.conn().prepare(
                    "SELECT uuid FROM ngdp_messages WHERE (CAST(?1 AS TEXT) IS NULL OR mailbox = ?1) AND (?2 = 0 OR valid = 0)
                     ORDER BY received_at DESC, uuid LIMIT ?3",
                )?;
                let rows = q.query_map(params![mailbox, invalid_only, limit], |r| r.get(0))?;
                rows.collect::<Result<Vec<String>, _>>()
            })();
            result.map_err(|e| self.error(e))?
        };
        uuids
            .iter()
            .filter_map(|u| self.ngdp_message(u).transpose())
            .collect()
    }

    /// One message with its files.
    pub fn ngdp_message(&mut self, uuid: &str) -> Result<Option<StoredMessage>, StoreError> {
        let uuid = uuid.trim().to_ascii_lowercase();
        let result = (|| {
            let conn = self.conn();
            let m = conn
                .query_row(
                    "SELECT m.uuid, m.environment, m.system_id, m.via, m.received_at, m.valid, m.label, m.sender_id,
                        m.sender_label, m.recipient_id, m.mailbox, m.contact_point, m.routing_reason, m.problems,
                        m.header, m.dir, m.raw_size, m.raw_sha256, o.status, o.last_error
                     FROM ngdp_messages m LEFT JOIN ngdp_outbox o ON o.message_uuid = m.uuid WHERE m.uuid = ?1",
                    [&uuid],
                    |r| {
                        Ok(StoredMessage {
                            uuid: r.get(0)?,
                            environment: r.get(1)?,
                            system_id: r.get(2)?,
                            via: r.get(3)?,
                            received_at: r.get(4)?,
                            valid: r.get(5)?,
                            label: r.get(6)?,
                            sender_id: r.get(7)?,
                            sender_label: r.get(8)?,
                            recipient_id: r.get(9)?,
                            mailbox: r.get(10)?,
                            contact_point: r.get(11)?,
                            routing_reason: parse_json(r.get(12)?),
                            problems: parse_json(r.get(13)?),
                            header: parse_json(r.get(14)?),
                            dir: r.get(15)?,
                            raw_size: r.get::<_, i64>(16)? as u64,
                            raw_sha256: r.get(17)?,
                            files: Vec::new(),
                            receipt_status: r.get(18)?,
                            receipt_error: r.get(19)?,
                            conflicts: Vec::new(),
                        })
                    },
                )
                .optional()?;
            let Some(mut m) = m else { return Ok(None) };
            let mut q = conn.prepare(
                "SELECT seq, document_seq, document_kind, document_label, filename, encoding_format, language, path,
                    size, sha256 FROM ngdp_files WHERE message_uuid = ?1 ORDER BY seq",
            )?;
            let files = q.query_map([&uuid], |r| {
                Ok(NewFile {
                    seq: r.get(0)?,
                    document_seq: r.get(1)?,
                    document_kind: r.get(2)?,
                    document_label: r.get(3)?,
                    filename: r.get(4)?,
                    encoding_format: r.get(5)?,
                    language: r.get(6)?,
                    path: r.get(7)?,
                    size: r.get::<_, i64>(8)? as u64,
                    sha256: r.get(9)?,
                })
            })?;
            m.files = files.collect::<Result<Vec<_>, _>>()?;
            Ok(Some(m))
        })();
        let mut m = result.map_err(|e| self.error(e))?;
        if let Some(m) = &mut m {
            m.conflicts = self.ngdp_conflicts(&uuid)?;
        }
        Ok(m)
    }

    /// Receipts received for a message.
    pub fn ngdp_receipts_for(&mut self, uuid: &str) -> Result<Vec<serde_json::Value>, StoreError> {
        let result = (|| {
            let mut q = self.conn().prepare(
                "SELECT json, received_at, linked FROM ngdp_receipts WHERE message_uuid = ?1 ORDER BY id",
            )?;
            let rows = q.query_map([uuid.trim().to_ascii_lowercase()], |r| {
                let json: String = r.get(0)?;
                Ok(serde_json::json!({ "receipt": parse_json(json), "received_at": r.get::<_, i64>(1)?, "linked": r.get::<_, bool>(2)? }))
            })?;
            rows.collect::<Result<Vec<_>, _>>()
        })();
        result.map_err(|e| self.error(e))
    }
}

impl Store {
    /// The sent record of `uuid`, if any.
    pub fn ngdp_sent_record(&mut self, uuid: &str) -> Result<Option<SentRecord>, StoreError> {
        let result = self
            .conn()
            .query_row(
                "SELECT uuid, system_id, environment, status, attempts, reason, receipt, created_at, updated_at
                 FROM ngdp_sent WHERE uuid = ?1",
                [uuid.trim().to_ascii_lowercase()],
                |r| {
                    Ok(SentRecord {
                        uuid: r.get(0)?,
                        system_id: r.get(1)?,
                        environment: r.get(2)?,
                        status: r.get(3)?,
                        attempts: r.get(4)?,
                        reason: r.get(5)?,
                        receipt: r.get::<_, Option<String>>(6)?.map(parse_json),
                        created_at: r.get(7)?,
                        updated_at: r.get(8)?,
                    })
                },
            )
            .optional();
        result.map_err(|e| self.error(e))
    }

    /// The status of `uuid`'s send, if it was ever recorded.
    pub fn ngdp_sent_status(&mut self, uuid: &str) -> Result<Option<String>, StoreError> {
        Ok(self.ngdp_sent_record(uuid)?.map(|r| r.status))
    }

    /// Record that `uuid` is about to be sent (status `sending`), committed before the first
    /// byte goes out so a crash mid-send leaves a trace. A record that exists is left as it
    /// is (a retried `sending` or `failed` send keeps its history); returns the record.
    pub fn ngdp_record_sending(
        &mut self,
        uuid: &str,
        system_id: &str,
        environment: &str,
        now: i64,
    ) -> Result<SentRecord, StoreError> {
        let uuid = uuid.trim().to_ascii_lowercase();
        let inserted = self.conn().execute(
            "INSERT INTO ngdp_sent (uuid, system_id, environment, status, created_at, updated_at)
             VALUES (?1, ?2, ?3, 'sending', ?4, ?4)
             ON CONFLICT(uuid) DO UPDATE SET status = 'sending', reason = NULL, updated_at = ?4
                 WHERE ngdp_sent.status = 'failed'",
            params![uuid, system_id, environment, now],
        );
        inserted.map_err(|e| self.error(e))?;
        self.ngdp_sent_record(&uuid)?
            .ok_or_else(|| self.error(super::sql::Error::NoRows))
    }

    /// One more POST was made for `uuid`.
    pub fn ngdp_sent_attempted(&mut self, uuid: &str, now: i64) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE ngdp_sent SET attempts = attempts + 1, updated_at = ?2 WHERE uuid = ?1",
                params![uuid.trim().to_ascii_lowercase(), now],
            )
            .map(|_| ())
            .map_err(|e| self.error(e))
    }

    /// NgDP took `uuid`; `receipt` is the receipt JSON it answered with, when it sent one.
    pub fn ngdp_mark_sent(
        &mut self,
        uuid: &str,
        receipt: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                // A receipt NgDP pushed may be stored before the POST's answer is: its status
                // (COMPLETED, ...) is newer than "sent" and stays (found on PostgreSQL, where
                // the receipt's transaction committed first).
                "UPDATE ngdp_sent SET reason = NULL, receipt = COALESCE(?2, receipt), updated_at = ?3,
                    status = CASE WHEN status IN ('sending', 'failed') THEN 'sent' ELSE status END
                 WHERE uuid = ?1",
                params![uuid.trim().to_ascii_lowercase(), receipt, now],
            )
            .map(|_| ())
            .map_err(|e| self.error(e))
    }

    /// Sending `uuid` failed for `reason`.
    pub fn ngdp_mark_failed(
        &mut self,
        uuid: &str,
        reason: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE ngdp_sent SET status = 'failed', reason = ?2, updated_at = ?3 WHERE uuid = ?1",
                params![uuid.trim().to_ascii_lowercase(), reason, now],
            )
            .map(|_| ())
            .map_err(|e| self.error(e))
    }
}

/// The rows of one message inside the caller's transaction; false when the UUID is stored.
/// Copy a message's MeMo and files from the local folder `from` into the store, under the
/// paths its rows name them by; a file that is not what the receiving recorded (a spool
/// damaged on disk) fails the insert, so nothing is acknowledged on bytes that were never
/// received.
fn put_message_bytes(
    tx: &super::sql::Transaction<'_>,
    m: &NewMessage,
    from: &std::path::Path,
) -> super::sql::Result<()> {
    let dir = std::path::Path::new(&m.dir);
    let files = std::iter::once(("message.xml", m.raw_size, m.raw_sha256.as_str())).chain(
        m.files
            .iter()
            .map(|f| (f.path.as_str(), f.size, f.sha256.as_str())),
    );
    for (name, size, sha256) in files {
        let got = super::files::put(tx, &super::files::key(&dir.join(name)), &from.join(name))?;
        if got != (size, sha256.to_owned()) {
            return Err(super::sql::Error::File {
                path: from.join(name),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "{} bytes with SHA-256 {} read back, {size} bytes with SHA-256 {sha256} received",
                        got.0, got.1
                    ),
                ),
            });
        }
    }
    Ok(())
}

fn insert_message_rows(
    tx: &super::sql::Transaction<'_>,
    m: &NewMessage,
) -> super::sql::Result<bool> {
    let inserted = tx.execute(
        "INSERT INTO ngdp_messages (uuid, environment, system_id, via, received_at, valid, problems,
            message_id, label, sender_id, sender_label, recipient_id, mailbox, contact_point, routing_reason,
            header, dir, raw_size, raw_sha256)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19) ON CONFLICT DO NOTHING",
        params![
            m.uuid, m.environment, m.system_id, m.via, m.received_at, m.valid, json_text(&m.problems),
            m.message_id, m.label, m.sender_id, m.sender_label, m.recipient_id, m.mailbox, m.contact_point,
            json_text(&m.routing_reason), json_text(&m.header), m.dir, m.raw_size as i64, m.raw_sha256
        ],
    )?;
    if inserted == 0 {
        return Ok(false);
    }
    if let Some(from) = &m.bytes_from {
        put_message_bytes(tx, m, from)?;
    }
    tx.execute(
        "INSERT INTO ngdp_mailboxes (name, first_seen) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        params![m.mailbox, m.received_at],
    )?;
    let mut put = tx.prepare_cached(
        "INSERT INTO ngdp_files (message_uuid, seq, document_seq, document_kind, document_label, filename,
            encoding_format, language, path, size, sha256)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    for f in &m.files {
        put.execute(params![
            m.uuid,
            f.seq,
            f.document_seq,
            f.document_kind,
            f.document_label,
            f.filename,
            f.encoding_format,
            f.language,
            f.path,
            f.size as i64,
            f.sha256
        ])?;
    }
    tx.execute(
        "INSERT INTO ngdp_outbox (message_uuid, environment, system_id, receipt, status, next_attempt_at, queued_at)
         VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5)",
        params![m.uuid, m.environment, m.system_id, m.receipt, m.received_at],
    )?;
    Ok(true)
}

/// `message.received` for every stored message, and `message.invalid` beside it for one
/// that failed validation, in the transaction that stores it.
fn record_received_events(tx: &super::sql::Connection, m: &NewMessage) -> super::sql::Result<()> {
    let href = format!("/api/v1/messages/{}", m.uuid);
    let payload = serde_json::json!({
        "messageUuid": m.uuid,
        "mailbox": m.mailbox,
        "valid": m.valid,
        "links": { "message": href },
    });
    let mut kinds = vec![EventType::MessageReceived];
    if !m.valid {
        kinds.push(EventType::MessageInvalid);
    }
    for kind in kinds {
        events::record(
            tx,
            &NewEvent {
                kind,
                at: m.received_at,
                mailbox: Some(&m.mailbox),
                subject: &m.uuid,
                payload: payload.clone(),
            },
        )?;
    }
    Ok(())
}

impl Store {
    /// When each system last stored a message (Unix seconds): where the metric of the same
    /// name starts after a restart.
    pub fn ngdp_last_received(&mut self) -> Result<Vec<(String, i64)>, StoreError> {
        let mut q = self
            .conn
            .prepare("SELECT system_id, MAX(received_at) FROM ngdp_messages GROUP BY system_id")
            .map_err(|e| self.error(e))?;
        let rows = q
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        drop(q);
        rows.map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod sent_tests {
    use super::*;

    fn store() -> Store {
        crate::store::scratch_store("sent")
    }

    #[test]
    fn a_receipt_is_claimed_by_one_sender_at_a_time() {
        let mut s = store();
        crate::store::without_foreign_keys(
            &mut s,
            "INSERT INTO ngdp_outbox (message_uuid, environment, system_id, receipt, status, next_attempt_at)
                 VALUES ('m1', 'test', 'sys', '{}', 'pending', 0);",
        );
        assert!(s.ngdp_claim_receipt("M1", 10, 130).unwrap());
        // Claimed: neither a second sender nor the outbox's due list takes it.
        assert!(!s.ngdp_claim_receipt("m1", 11, 131).unwrap());
        assert!(s.ngdp_due_receipts(11, 10).unwrap().is_empty());
        // A claim that ran out (its sender died) is free again.
        assert!(s.ngdp_claim_receipt("m1", 130, 250).unwrap());
        // Recording the outcome releases it.
        let failure = ReceiptFailure {
            reason: "HTTP 503".into(),
            http_status: Some(503),
            next: 140,
            give_up: false,
        };
        s.ngdp_receipt_failed("m1", &failure).unwrap();
        assert_eq!(s.ngdp_due_receipts(140, 10).unwrap().len(), 1);
        assert!(s.ngdp_claim_receipt("m1", 141, 260).unwrap());
        s.ngdp_receipt_sent("m1", 142).unwrap();
        assert!(!s.ngdp_claim_receipt("m1", 300, 400).unwrap());
    }

    /// Replicas racing for the same receipts, each through its own connection: every receipt
    /// is claimed by exactly one (the claim's `WHERE` is what PostgreSQL's READ COMMITTED
    /// re-checks on a row another replica claimed meanwhile).
    #[test]
    fn replicas_racing_claim_each_receipt_once() {
        let mut s = store();
        let rows: String = (0..20)
            .map(|i| {
                format!(
                    "INSERT INTO ngdp_outbox (message_uuid, environment, system_id, receipt, status, next_attempt_at)
                     VALUES ('m{i}', 'test', 'sys', '{{}}', 'pending', 0);"
                )
            })
            .collect();
        crate::store::without_foreign_keys(&mut s, &rows);
        let mut replicas: Vec<Store> = (0..4)
            .map(|_| crate::store::second_connection(&s))
            .collect();
        let claimed: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = replicas
                .iter_mut()
                .map(|r| {
                    scope.spawn(move || {
                        (0..20)
                            .filter(|i| r.ngdp_claim_receipt(&format!("m{i}"), 10, 130).unwrap())
                            .count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(claimed, 20);
        assert!(s.ngdp_due_receipts(11, 100).unwrap().is_empty());
    }

    #[test]
    fn a_receipt_stored_before_the_posts_answer_keeps_its_status() {
        let mut s = store();
        s.ngdp_record_sending("u2", "sys", "test", 10).unwrap();
        // What storing NgDP's pushed receipt does to the sent record.
        s.conn()
            .execute(
                "UPDATE ngdp_sent SET status = 'COMPLETED' WHERE uuid = ?1",
                ["u2"],
            )
            .unwrap();
        s.ngdp_mark_sent("u2", Some(r#"{"receiptStatus":"RECEIVED"}"#), 11)
            .unwrap();
        let r = s.ngdp_sent_record("u2").unwrap().unwrap();
        assert_eq!(r.status, "COMPLETED");
        assert_eq!(r.receipt.unwrap()["receiptStatus"], "RECEIVED");
    }

    #[test]
    fn a_send_goes_sending_then_sent_and_stays_sent() {
        let mut s = store();
        let r = s.ngdp_record_sending("ABC", "sys", "test", 10).unwrap();
        assert_eq!(r.status, sent_status::SENDING);
        s.ngdp_sent_attempted("abc", 11).unwrap();
        s.ngdp_mark_sent("abc", Some(r#"{"receiptStatus":"RECEIVED"}"#), 12)
            .unwrap();
        // Recording again does not reopen a sent message.
        let again = s.ngdp_record_sending("abc", "sys", "test", 13).unwrap();
        assert_eq!(again.status, sent_status::SENT);
        assert_eq!(again.attempts, 1);
        assert_eq!(again.receipt.unwrap()["receiptStatus"], "RECEIVED");
    }

    #[test]
    fn a_failed_send_can_be_tried_again() {
        let mut s = store();
        s.ngdp_record_sending("u1", "sys", "test", 10).unwrap();
        s.ngdp_mark_failed("u1", "HTTP 400", 11).unwrap();
        assert_eq!(s.ngdp_sent_status("u1").unwrap().as_deref(), Some("failed"));
        let r = s.ngdp_record_sending("u1", "sys", "test", 12).unwrap();
        assert_eq!(r.status, sent_status::SENDING);
        assert_eq!(r.reason, None);
    }
}
