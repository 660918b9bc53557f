//! Messages a platform hands dpost to send (`POST /api/v1/outgoing`), the sender task's queue.
//!
//! A row is written only after the MeMo it points at is fsynced in the data folder, and the
//! API answers 202 only after the row is committed: what dpost acknowledged survives a crash.
//! The row then carries the message through `queued` → `sending` → `sent` | `failed`; each
//! POST is one row of `outgoing_attempts`, with what NgDP answered. A failed message stays
//! listed with its reason and can be queued again.
//!
//! The send itself is also recorded in `ngdp_sent` (as `dpost ngdp send` does), so receipts
//! NgDP pushes or a pull run fetches are linked to it as to any message the organisation sent.

use super::sql::{OptionalExtension as _, params};

use super::{Migration, Store, StoreError};

/// The outgoing tables.
pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
    version: 1,
    sql: "
        CREATE TABLE outgoing (
            seq             INTEGER PRIMARY KEY AUTOINCREMENT, -- the list's order and cursor
            uuid            TEXT NOT NULL UNIQUE,  -- messageUUID, lower-case
            idempotency_key TEXT UNIQUE,           -- the client's Idempotency-Key, when given
            client          TEXT NOT NULL,         -- api:<client> that submitted it
            system_id       TEXT NOT NULL,
            environment     TEXT NOT NULL,
            path            TEXT NOT NULL,         -- the MeMo XML, fsynced before this row
            size            INTEGER NOT NULL,
            sha256          TEXT NOT NULL,         -- of the MeMo
            fingerprint     TEXT NOT NULL,         -- SHA-256 of the request as submitted: a retry or another message?
            status          TEXT NOT NULL,         -- queued | sending | sent | failed
            attempts        INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER NOT NULL,
            give_up_at      INTEGER NOT NULL,      -- network errors and 5xx stop being retried then
            reason          TEXT,                  -- why it failed, or the last retried error
            answer          TEXT,                  -- NgDP's answer to the POST that took it (Receipt JSON)
            created_at      INTEGER NOT NULL,
            updated_at      INTEGER NOT NULL
        );
        CREATE INDEX outgoing_due ON outgoing (next_attempt_at) WHERE status = 'queued';
        CREATE TABLE outgoing_attempts (
            outgoing_seq INTEGER NOT NULL REFERENCES outgoing (seq),
            at           INTEGER NOT NULL,
            batch_size   INTEGER NOT NULL,         -- 1: alone; more: in a batch of that many
            outcome      TEXT NOT NULL,            -- taken | duplicate | retry | refused
            detail       TEXT                      -- NgDP's answer, or the error, for a person
        );
        CREATE INDEX outgoing_attempts_seq ON outgoing_attempts (outgoing_seq);
    ",
    },
    // An Idempotency-Key is the client's own (issue 15): two clients may pick the same key
    // without one getting the other's message. SQLite cannot drop a column's UNIQUE
    // constraint in place, so the table is rebuilt as https://sqlite.org/lang_altertable.html
    // ("Making Other Kinds Of Table Schema Changes") describes. That procedure turns foreign
    // keys off, which cannot be done inside the migration's transaction; instead
    // `outgoing_attempts` is rebuilt too, referring to the new table, so no row is ever
    // without its message: the renames carry the reference over (SQLite >= 3.26 rewrites it),
    // and AUTOINCREMENT's counter moves with its table.
    Migration {
        version: 2,
        sql: "
        CREATE TABLE outgoing_v2 (
            seq             INTEGER PRIMARY KEY AUTOINCREMENT, -- the list's order and cursor
            uuid            TEXT NOT NULL UNIQUE,  -- messageUUID, lower-case
            idempotency_key TEXT,                  -- the client's Idempotency-Key, when given
            client          TEXT NOT NULL,         -- api:<client> that submitted it
            system_id       TEXT NOT NULL,
            environment     TEXT NOT NULL,
            path            TEXT NOT NULL,         -- the MeMo XML, fsynced before this row
            size            INTEGER NOT NULL,
            sha256          TEXT NOT NULL,         -- of the MeMo
            fingerprint     TEXT NOT NULL,         -- SHA-256 of the request as submitted: a retry or another message?
            status          TEXT NOT NULL,         -- queued | sending | sent | failed
            attempts        INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER NOT NULL,
            give_up_at      INTEGER NOT NULL,      -- network errors and 5xx stop being retried then
            reason          TEXT,                  -- why it failed, or the last retried error
            answer          TEXT,                  -- NgDP's answer to the POST that took it (Receipt JSON)
            created_at      INTEGER NOT NULL,
            updated_at      INTEGER NOT NULL,
            UNIQUE (client, idempotency_key)
        );
        INSERT INTO outgoing_v2 (seq, uuid, idempotency_key, client, system_id, environment, path,
            size, sha256, fingerprint, status, attempts, next_attempt_at, give_up_at, reason,
            answer, created_at, updated_at)
        SELECT seq, uuid, idempotency_key, client, system_id, environment, path,
            size, sha256, fingerprint, status, attempts, next_attempt_at, give_up_at, reason,
            answer, created_at, updated_at FROM outgoing;
        CREATE TABLE outgoing_attempts_v2 (
            outgoing_seq INTEGER NOT NULL REFERENCES outgoing_v2 (seq),
            at           INTEGER NOT NULL,
            batch_size   INTEGER NOT NULL,         -- 1: alone; more: in a batch of that many
            outcome      TEXT NOT NULL,            -- taken | duplicate | retry | refused
            detail       TEXT                      -- NgDP's answer, or the error, for a person
        );
        -- In rowid order, which is the order attempts are listed in.
        INSERT INTO outgoing_attempts_v2 (outgoing_seq, at, batch_size, outcome, detail)
        SELECT outgoing_seq, at, batch_size, outcome, detail FROM outgoing_attempts ORDER BY rowid;
        DROP TABLE outgoing_attempts;
        DROP TABLE outgoing;
        ALTER TABLE outgoing_v2 RENAME TO outgoing;
        ALTER TABLE outgoing_attempts_v2 RENAME TO outgoing_attempts;
        CREATE INDEX outgoing_attempts_seq ON outgoing_attempts (outgoing_seq);
        CREATE INDEX outgoing_due ON outgoing (next_attempt_at) WHERE status = 'queued';
        -- The list a client without admin reads: its own, in order.
        CREATE INDEX outgoing_client ON outgoing (client, seq);
    ",
    },
    // Several `dpost serve` on one store (issue 18): a message being sent is claimed by one
    // sender until this time; once it has passed, that sender is taken for dead and the
    // message is queued again (`sending` rows from before this version have none: theirs
    // is the one process that ran then).
    Migration {
        version: 3,
        sql: "ALTER TABLE outgoing ADD COLUMN claimed_until INTEGER;",
    },
];

/// Where an outgoing message stands.
pub mod status {
    /// Stored, waiting for the sender.
    pub const QUEUED: &str = "queued";
    /// The sender is posting it now (after a crash: posted or not, sent again).
    pub const SENDING: &str = "sending";
    /// NgDP took it.
    pub const SENT: &str = "sent";
    /// NgDP refused it, or dpost gave up retrying; the reason says which. Retryable.
    pub const FAILED: &str = "failed";
}

/// A message to record as queued.
#[derive(Debug, Clone)]
pub struct NewOutgoing {
    /// messageUUID (any case; stored lower-case).
    pub uuid: String,
    /// The client's `Idempotency-Key`.
    pub idempotency_key: Option<String>,
    /// `api:<client>`.
    pub client: String,
    /// The sending system.
    pub system_id: String,
    /// test | production.
    pub environment: String,
    /// The MeMo file, already durable.
    pub path: String,
    /// Its size.
    pub size: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// The SHA-256 of the request as submitted (the XML body, or the multipart's parts): a
    /// MeMo written from a description differs on every submission (its creation time), the
    /// request does not.
    pub fingerprint: String,
    /// When.
    pub now: i64,
    /// When retrying network errors and 5xx stops.
    pub give_up_at: i64,
    /// On a store that keeps stored files' bytes itself (PostgreSQL, [`super::files`]): the
    /// local file read into the store as `path`, in the same transaction as the row, when
    /// the message is new. `None` where `path` is the file on disk already.
    pub bytes_from: Option<std::path::PathBuf>,
}

/// An outgoing message as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// Its place in the list.
    pub seq: i64,
    /// messageUUID, lower-case.
    pub uuid: String,
    /// The `Idempotency-Key` it was submitted with.
    pub idempotency_key: Option<String>,
    /// Who submitted it.
    pub client: String,
    /// The sending system.
    pub system_id: String,
    /// test | production.
    pub environment: String,
    /// The MeMo file.
    pub path: String,
    /// Its size.
    pub size: u64,
    /// Its SHA-256.
    pub sha256: String,
    /// The SHA-256 of the request it came in.
    pub fingerprint: String,
    /// [`status`].
    pub status: String,
    /// POSTs made.
    pub attempts: u32,
    /// When the sender takes it next (while queued).
    pub next_attempt_at: i64,
    /// When retrying stops.
    pub give_up_at: i64,
    /// Why it failed, or the error of the last attempt.
    pub reason: Option<String>,
    /// NgDP's answer (its Receipt), as JSON text.
    pub answer: Option<String>,
    /// When submitted.
    pub created_at: i64,
    /// When last changed.
    pub updated_at: i64,
}

/// One POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingAttempt {
    /// When.
    pub at: i64,
    /// 1 alone, else the batch's size.
    pub batch_size: u32,
    /// taken | duplicate | retry | refused.
    pub outcome: String,
    /// What NgDP answered, or the error.
    pub detail: Option<String>,
}

/// What recording a submission came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Submitted {
    /// Recorded now.
    New(Outgoing),
    /// The same UUID (or key) with the same content was recorded before: this is a retry.
    Existing(Outgoing),
    /// The same UUID (or key) is recorded with different content.
    Conflict(Outgoing),
}

/// How the sender's outcome is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendResult {
    /// NgDP took it; its answer (the Receipt JSON), when it gave one.
    Sent(Option<String>),
    /// Worth another attempt at `next`, unless the give-up time has passed.
    Retry {
        /// The error.
        reason: String,
        /// When to try again.
        next: i64,
    },
    /// Refused for good, or given up.
    Failed(String),
}

const COLUMNS: &str =
    "seq, uuid, idempotency_key, client, system_id, environment, path, size, sha256, status,
    attempts, next_attempt_at, give_up_at, reason, answer, created_at, updated_at, fingerprint";

fn row(r: &super::sql::Row<'_>) -> super::sql::Result<Outgoing> {
    Ok(Outgoing {
        seq: r.get(0)?,
        uuid: r.get(1)?,
        idempotency_key: r.get(2)?,
        client: r.get(3)?,
        system_id: r.get(4)?,
        environment: r.get(5)?,
        path: r.get(6)?,
        size: r.get::<_, i64>(7)? as u64,
        sha256: r.get(8)?,
        status: r.get(9)?,
        attempts: r.get(10)?,
        next_attempt_at: r.get(11)?,
        give_up_at: r.get(12)?,
        reason: r.get(13)?,
        answer: r.get(14)?,
        created_at: r.get(15)?,
        updated_at: r.get(16)?,
        fingerprint: r.get(17)?,
    })
}

fn by(
    conn: &super::sql::Connection,
    column: &str,
    value: &str,
) -> super::sql::Result<Option<Outgoing>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM outgoing WHERE {column} = ?1"),
        [value],
        row,
    )
    .optional()
}

impl Store {
    /// Record `m` as queued, unless its UUID, or its idempotency key from the same client, is
    /// recorded already (then the existing record, as a retry when its content is the same,
    /// else as a conflict). The existing record may be another client's (a UUID is sent once
    /// whoever submits it); the caller decides what that client may learn of it.
    pub fn outgoing_submit(&mut self, m: &NewOutgoing) -> Result<Submitted, StoreError> {
        let uuid = m.uuid.trim().to_ascii_lowercase();
        self.in_transaction(|s| {
            let result = (|| {
                let conn = s.conn();
                let earlier = match &m.idempotency_key {
                    Some(k) => conn
                        .query_row(
                            &format!(
                                "SELECT {COLUMNS} FROM outgoing WHERE client = ?1 AND idempotency_key = ?2"
                            ),
                            params![m.client, k],
                            row,
                        )
                        .optional()?,
                    None => None,
                };
                let earlier = match earlier {
                    Some(e) => Some(e),
                    None => by(conn, "uuid", &uuid)?,
                };
                if let Some(e) = earlier {
                    // The same request again is a retry, whatever UUID a description got.
                    return Ok(if e.fingerprint == m.fingerprint {
                        Submitted::Existing(e)
                    } else {
                        Submitted::Conflict(e)
                    });
                }
                conn.execute(
                    "INSERT INTO outgoing (uuid, idempotency_key, client, system_id, environment, path, size,
                        sha256, status, next_attempt_at, give_up_at, created_at, updated_at, fingerprint)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'queued', ?9, ?10, ?9, ?9, ?11)",
                    params![
                        uuid,
                        m.idempotency_key,
                        m.client,
                        m.system_id,
                        m.environment,
                        m.path,
                        m.size as i64,
                        m.sha256,
                        m.now,
                        m.give_up_at,
                        m.fingerprint
                    ],
                )?;
                if let Some(from) = &m.bytes_from {
                    super::files::put(conn, &m.path, from)?;
                }
                let new = by(conn, "uuid", &uuid)?.ok_or(super::sql::Error::NoRows)?;
                Ok(Submitted::New(new))
            })();
            let submitted = result.map_err(|e| s.error(e))?;
            if let Submitted::New(o) = &submitted {
                s.outgoing_status_changed(&o.uuid, None, status::QUEUED, m.now)?;
            }
            Ok(submitted)
        })
    }

    /// The outgoing message `uuid`.
    pub fn outgoing(&mut self, uuid: &str) -> Result<Option<Outgoing>, StoreError> {
        let uuid = uuid.trim().to_ascii_lowercase();
        let result = by(self.conn(), "uuid", &uuid);
        result.map_err(|e| self.error(e))
    }

    /// Outgoing messages after `after` in submission order, at most `limit`, optionally only
    /// those with `status`, and only those `client` submitted when it is given.
    pub fn outgoing_list(
        &mut self,
        after: i64,
        limit: u32,
        status: Option<&str>,
        client: Option<&str>,
    ) -> Result<Vec<Outgoing>, StoreError> {
        let result = (|| {
            let mut q = self.conn().prepare(&format!(
                "SELECT {COLUMNS} FROM outgoing WHERE seq > ?1 AND (CAST(?2 AS TEXT) IS NULL OR status = ?2)
                 AND (CAST(?4 AS TEXT) IS NULL OR client = ?4)
                 ORDER BY seq LIMIT ?3"
            ))?;
            let rows = q.query_map(params![after, status, limit, client], row)?;
            rows.collect::<Result<Vec<_>, _>>()
        })();
        result.map_err(|e| self.error(e))
    }

    /// The POSTs made for `uuid`, oldest first.
    pub fn outgoing_attempts(&mut self, uuid: &str) -> Result<Vec<OutgoingAttempt>, StoreError> {
        let uuid = uuid.trim().to_ascii_lowercase();
        let result = (|| {
            let mut q = self.conn().prepare(
                "SELECT a.at, a.batch_size, a.outcome, a.detail FROM outgoing_attempts a
                 JOIN outgoing o ON o.seq = a.outgoing_seq WHERE o.uuid = ?1 ORDER BY a.rowid",
            )?;
            let rows = q.query_map([uuid], |r| {
                Ok(OutgoingAttempt {
                    at: r.get(0)?,
                    batch_size: r.get(1)?,
                    outcome: r.get(2)?,
                    detail: r.get(3)?,
                })
            })?;
            rows.collect::<Result<Vec<_>, _>>()
        })();
        result.map_err(|e| self.error(e))
    }

    /// Take up to `limit` queued messages due at `now` for sending, claimed until `until`:
    /// each becomes `sending` with one more attempt counted, and is recorded in `ngdp_sent`
    /// (so receipts link to it), before any byte goes out. Messages another sender left
    /// `sending` with its claim run out (it died) are queued again first, so they are taken
    /// too.
    ///
    /// Several `dpost serve` may take at once: one statement claims, its `SELECT` picking the
    /// rows and the `UPDATE`'s `WHERE` repeating the conditions, which is what
    /// PostgreSQL's READ COMMITTED re-checks on a row another replica changed meanwhile
    /// (<https://www.postgresql.org/docs/15/transaction-iso.html#XACT-READ-COMMITTED>).
    pub fn outgoing_take_due(
        &mut self,
        now: i64,
        until: i64,
        limit: u32,
    ) -> Result<Vec<Outgoing>, StoreError> {
        let skip_locked = super::leases::skip_locked(self.backend());
        // A MATERIALIZED CTE, run once (see `webhooks_claim_due`).
        let claim = format!(
            "WITH picked AS MATERIALIZED (
                 SELECT seq FROM outgoing WHERE status = 'queued' AND next_attempt_at <= ?1
                 ORDER BY seq LIMIT ?3 {skip_locked})
             UPDATE outgoing SET status = 'sending', attempts = attempts + 1, updated_at = ?1,
                claimed_until = ?2
             WHERE seq IN (SELECT seq FROM picked)
               AND status = 'queued' AND next_attempt_at <= ?1
             RETURNING seq"
        );
        let read = format!(
            "SELECT {COLUMNS} FROM outgoing WHERE seq IN (SELECT CAST(value AS BIGINT) FROM json_each(?1))
             ORDER BY seq"
        );
        self.in_transaction(|s| {
            s.outgoing_requeue_expired(now)?;
            let taken = {
                let result = (|| {
                    let seqs = s
                        .conn()
                        .prepare_cached(&claim)?
                        .query_map(params![now, until, limit], |r| r.get::<_, i64>(0))?
                        .collect::<Result<Vec<_>, _>>()?;
                    if seqs.is_empty() {
                        return Ok(Vec::new());
                    }
                    let seqs = serde_json::Value::from(seqs).to_string();
                    s.conn()
                        .prepare_cached(&read)?
                        .query_map([seqs], row)?
                        .collect::<Result<Vec<_>, _>>()
                })();
                result.map_err(|e| s.error(e))?
            };
            for o in &taken {
                s.ngdp_record_sending(&o.uuid, &o.system_id, &o.environment, now)?;
                s.ngdp_sent_attempted(&o.uuid, now)?;
                s.outgoing_status_changed(&o.uuid, Some(status::QUEUED), status::SENDING, now)?;
            }
            Ok(taken)
        })
    }

    /// Keep the claim on messages `seqs` that were claimed until `held`, now until `until`;
    /// the seqs still held (one missing was taken over by another sender after `held` passed,
    /// or its outcome is recorded). A claim taken over always ends later than the one it
    /// replaced, so `held` tells a sender's own claim from another's.
    pub fn outgoing_renew_claim(
        &mut self,
        seqs: &[i64],
        held: i64,
        until: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let list = serde_json::Value::from(seqs.to_vec()).to_string();
        let result = (|| {
            self.conn()
                .prepare_cached(
                    "UPDATE outgoing SET claimed_until = ?3
                     WHERE seq IN (SELECT CAST(value AS BIGINT) FROM json_each(?1))
                       AND status = 'sending' AND claimed_until = ?2
                     RETURNING seq",
                )?
                .query_map(params![list, held, until], |r| r.get::<_, i64>(0))?
                .collect::<Result<Vec<_>, _>>()
        })();
        result.map_err(|e| self.error(e))
    }

    /// Record what the POST of `uuids` (one, or a batch) came to: the attempt, and each
    /// message's new status. `outcome` and `detail` describe the attempt.
    pub fn outgoing_record(
        &mut self,
        uuids: &[String],
        (outcome, detail): (&str, Option<&str>),
        result: &SendResult,
        now: i64,
    ) -> Result<(), StoreError> {
        self.in_transaction(|s| {
            for uuid in uuids {
                let Some(o) = s.outgoing(uuid)? else { continue };
                let written = s.conn().execute(
                    "INSERT INTO outgoing_attempts (outgoing_seq, at, batch_size, outcome, detail)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![o.seq, now, uuids.len() as i64, outcome, detail],
                );
                written.map_err(|e| s.error(e))?;
                match result {
                    SendResult::Sent(answer) => {
                        let done = s.conn().execute(
                            "UPDATE outgoing SET status = 'sent', reason = NULL,
                                answer = COALESCE(?2, answer), updated_at = ?3, claimed_until = NULL
                             WHERE seq = ?1",
                            params![o.seq, answer, now],
                        );
                        done.map_err(|e| s.error(e))?;
                        s.ngdp_mark_sent(uuid, answer.as_deref(), now)?;
                    }
                    SendResult::Retry { reason, next } if *next < o.give_up_at => {
                        let done = s.conn().execute(
                            "UPDATE outgoing SET status = 'queued', reason = ?2, next_attempt_at = ?3,
                                updated_at = ?4, claimed_until = NULL WHERE seq = ?1",
                            params![o.seq, reason, next, now],
                        );
                        done.map_err(|e| s.error(e))?;
                        // `ngdp_sent` keeps `sending`: the outcome is not known yet.
                    }
                    SendResult::Retry { reason, .. } => {
                        let why = format!("gave up after {} attempts: {reason}", o.attempts);
                        s.outgoing_fail(o.seq, uuid, &why, now)?;
                    }
                    SendResult::Failed(reason) => s.outgoing_fail(o.seq, uuid, reason, now)?,
                }
                let to = s.outgoing(uuid)?.map_or(o.status.clone(), |n| n.status);
                s.outgoing_status_changed(uuid, Some(&o.status), &to, now)?;
            }
            Ok(())
        })
    }

    fn outgoing_fail(
        &mut self,
        seq: i64,
        uuid: &str,
        reason: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let done = self.conn().execute(
            "UPDATE outgoing SET status = 'failed', reason = ?2, updated_at = ?3, claimed_until = NULL
             WHERE seq = ?1",
            params![seq, reason, now],
        );
        done.map_err(|e| self.error(e))?;
        self.ngdp_mark_failed(uuid, reason, now)
    }

    /// Queue a failed message again, now, with a fresh give-up time; false when there is no
    /// such message or it has not failed.
    pub fn outgoing_retry(
        &mut self,
        uuid: &str,
        now: i64,
        give_up_at: i64,
    ) -> Result<bool, StoreError> {
        let uuid = uuid.trim().to_ascii_lowercase();
        self.in_transaction(|s| {
            let changed = s.conn().execute(
                "UPDATE outgoing SET status = 'queued', next_attempt_at = ?2, give_up_at = ?3,
                    updated_at = ?2 WHERE uuid = ?1 AND status = 'failed'",
                params![uuid, now, give_up_at],
            );
            let changed = changed.map_err(|e| s.error(e))?;
            if changed > 0 {
                s.outgoing_status_changed(&uuid, Some(status::FAILED), status::QUEUED, now)?;
            }
            Ok(changed > 0)
        })
    }

    /// Messages a sender that died left `sending`: queued again once their claim has run out
    /// by `now` (NgDP may have them; a resend NgDP answers as a duplicate counts as sent, see
    /// `ngdp::send`). A message another live replica is sending keeps its claim and is left
    /// alone. Returns how many.
    pub fn outgoing_requeue_interrupted(&mut self, now: i64) -> Result<usize, StoreError> {
        self.in_transaction(|s| s.outgoing_requeue_expired(now))
    }

    /// [`Self::outgoing_requeue_interrupted`], inside the caller's transaction.
    fn outgoing_requeue_expired(&mut self, now: i64) -> Result<usize, StoreError> {
        let result = (|| {
            self.conn()
                .prepare_cached(
                    "UPDATE outgoing SET status = 'queued', next_attempt_at = ?1, updated_at = ?1,
                        claimed_until = NULL
                     WHERE status = 'sending' AND (claimed_until IS NULL OR claimed_until <= ?1)
                     RETURNING uuid",
                )?
                .query_map([now], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        })();
        let interrupted = result.map_err(|e| self.error(e))?;
        for uuid in &interrupted {
            tracing::info!(%uuid, "an outgoing message left mid-send by a sender that stopped is queued again");
            self.outgoing_status_changed(uuid, Some(status::SENDING), status::QUEUED, now)?;
        }
        Ok(interrupted.len())
    }

    /// Record the event `outgoing.status_changed` (`from` → `to`). Called inside the
    /// transaction that changes the status, so that the status and its event commit together
    /// (the event feed and the webhooks never report a change that did not happen, nor miss
    /// one that did).
    fn outgoing_status_changed(
        &mut self,
        uuid: &str,
        from: Option<&str>,
        to: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let recorded =
            super::events::record_outgoing_status_changed(self.conn(), uuid, from, to, now);
        recorded.map(|_| ()).map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        crate::store::scratch_store("outgoing")
    }

    fn new(uuid: &str, sha: &str, key: Option<&str>) -> NewOutgoing {
        NewOutgoing {
            uuid: uuid.into(),
            idempotency_key: key.map(str::to_owned),
            client: "api:t".into(),
            system_id: "sys".into(),
            environment: "test".into(),
            path: "/x.xml".into(),
            size: 1,
            sha256: sha.into(),
            fingerprint: sha.into(),
            now: 10,
            give_up_at: 100,
            bytes_from: None,
        }
    }

    #[test]
    fn a_submission_is_new_once_then_a_retry_or_a_conflict() {
        let mut s = store();
        assert!(
            matches!(s.outgoing_submit(&new("A", "h1", None)).unwrap(), Submitted::New(o) if o.uuid == "a")
        );
        assert!(matches!(
            s.outgoing_submit(&new("a", "h1", None)).unwrap(),
            Submitted::Existing(_)
        ));
        assert!(matches!(
            s.outgoing_submit(&new("a", "h2", None)).unwrap(),
            Submitted::Conflict(_)
        ));
        assert!(matches!(
            s.outgoing_submit(&new("b", "h3", Some("k"))).unwrap(),
            Submitted::New(_)
        ));
        // The same key for another message is a conflict.
        assert!(matches!(
            s.outgoing_submit(&new("c", "h4", Some("k"))).unwrap(),
            Submitted::Conflict(_)
        ));
        // ... but another client's key of the same spelling is its own.
        let other = NewOutgoing {
            client: "api:u".into(),
            ..new("c", "h4", Some("k"))
        };
        assert!(
            matches!(s.outgoing_submit(&other).unwrap(), Submitted::New(o) if o.client == "api:u")
        );
        let mine = s.outgoing_list(0, 10, None, Some("api:t")).unwrap();
        assert_eq!(
            mine.iter().map(|o| o.uuid.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        let theirs = s.outgoing_list(0, 10, None, Some("api:u")).unwrap();
        assert_eq!(
            theirs.iter().map(|o| o.uuid.as_str()).collect::<Vec<_>>(),
            ["c"]
        );
        assert_eq!(s.outgoing_list(0, 10, None, None).unwrap().len(), 3);
    }

    #[test]
    fn version_2_keeps_every_message_and_attempt() {
        let mut s = store();
        if s.backend() != crate::store::sql::Backend::Sqlite {
            // SQLite's history of this table; PostgreSQL's starts at today's shape.
            return;
        }
        let path = s.path().to_owned();
        // Back to version 1's table, with a message, an attempt and a key.
        s.conn()
            .execute_batch(&format!(
                "DROP TABLE outgoing_attempts; DROP TABLE outgoing; {}
                 UPDATE schema_version SET version = 1 WHERE module = 'outgoing';",
                MIGRATIONS[0].sql
            ))
            .unwrap();
        s.conn()
            .execute_batch(
                "INSERT INTO outgoing (uuid, idempotency_key, client, system_id, environment, path, size,
                     sha256, status, next_attempt_at, give_up_at, created_at, updated_at, fingerprint)
                 VALUES ('a', 'k', 'api:t', 's', 'test', '/a', 1, 'h', 'sent', 0, 9, 1, 2, 'f');
                 INSERT INTO outgoing_attempts (outgoing_seq, at, batch_size, outcome) VALUES (1, 2, 1, 'retry');
                 INSERT INTO outgoing_attempts (outgoing_seq, at, batch_size, outcome) VALUES (1, 2, 1, 'taken');",
            )
            .unwrap();
        drop(s);
        let mut s = Store::open(&path).unwrap();
        assert_eq!(
            s.schema_version("outgoing").unwrap(),
            MIGRATIONS.last().unwrap().version
        );
        let a = s.outgoing("a").unwrap().unwrap();
        assert_eq!(
            (a.seq, a.idempotency_key.as_deref(), a.status.as_str()),
            (1, Some("k"), "sent")
        );
        let attempts = s.outgoing_attempts("a").unwrap();
        let outcomes: Vec<_> = attempts.iter().map(|a| a.outcome.as_str()).collect();
        assert_eq!(outcomes, ["retry", "taken"]);
        // Numbering goes on after the old rows, and attempts still need their message.
        assert!(matches!(
            s.outgoing_submit(&new("b", "h", Some("k"))).unwrap(),
            Submitted::Conflict(_)
        ));
        let b = NewOutgoing {
            client: "api:u".into(),
            ..new("b", "h", Some("k"))
        };
        assert!(matches!(s.outgoing_submit(&b).unwrap(), Submitted::New(o) if o.seq == 2));
        assert!(
            s.conn()
                .execute(
                    "INSERT INTO outgoing_attempts (outgoing_seq, at, batch_size, outcome) VALUES (99, 1, 1, 'x')",
                    [],
                )
                .is_err()
        );
    }

    #[test]
    fn a_message_is_taken_retried_given_up_and_queued_again() {
        let mut s = store();
        s.outgoing_submit(&new("a", "h", None)).unwrap();
        let taken = s.outgoing_take_due(10, 190, 10).unwrap();
        assert_eq!(taken.len(), 1);
        assert!(s.outgoing_take_due(10, 190, 10).unwrap().is_empty());
        let uuids = vec!["a".to_owned()];
        let retry = SendResult::Retry {
            reason: "HTTP 503".into(),
            next: 20,
        };
        s.outgoing_record(&uuids, ("retry", Some("HTTP 503")), &retry, 11)
            .unwrap();
        assert_eq!(s.outgoing("a").unwrap().unwrap().status, status::QUEUED);
        assert!(s.outgoing_take_due(19, 199, 10).unwrap().is_empty());
        assert_eq!(s.outgoing_take_due(20, 200, 10).unwrap().len(), 1);
        let late = SendResult::Retry {
            reason: "HTTP 503".into(),
            next: 200,
        };
        s.outgoing_record(&uuids, ("retry", Some("HTTP 503")), &late, 21)
            .unwrap();
        let o = s.outgoing("a").unwrap().unwrap();
        assert_eq!(o.status, status::FAILED);
        assert!(o.reason.unwrap().starts_with("gave up after 2 attempts"));
        assert_eq!(s.outgoing_attempts("a").unwrap().len(), 2);
        assert!(s.outgoing_retry("a", 30, 300).unwrap());
        assert!(!s.outgoing_retry("a", 30, 300).unwrap());
        s.outgoing_take_due(30, 210, 10).unwrap();
        s.outgoing_record(
            &uuids,
            ("taken", None),
            &SendResult::Sent(Some("{}".into())),
            31,
        )
        .unwrap();
        assert_eq!(s.outgoing("a").unwrap().unwrap().status, status::SENT);
        assert_eq!(s.ngdp_sent_status("a").unwrap().as_deref(), Some("sent"));
    }

    fn uuids(taken: &[Outgoing]) -> Vec<&str> {
        taken.iter().map(|o| o.uuid.as_str()).collect()
    }

    /// Two replicas' senders on one store: a due message is taken by one; the other's start
    /// leaves it alone while its claim lasts; once the claim has run out (its sender died)
    /// it is queued again and taken over, and the first sender can no longer renew it.
    #[test]
    fn a_due_message_is_taken_by_one_sender_and_taken_over_when_its_claim_runs_out() {
        let mut a = store();
        let mut b = crate::store::second_connection(&a);
        for u in ["a", "b"] {
            a.outgoing_submit(&new(u, u, None)).unwrap();
        }
        let took_a = a.outgoing_take_due(10, 100, 1).unwrap();
        assert_eq!(uuids(&took_a), ["a"]);
        let took_b = b.outgoing_take_due(10, 100, 10).unwrap();
        assert_eq!(uuids(&took_b), ["b"]);
        assert!(a.outgoing_take_due(11, 111, 10).unwrap().is_empty());
        // B restarts: A is alive and sending, so A's message stays A's.
        assert_eq!(b.outgoing_requeue_interrupted(50).unwrap(), 0);
        assert_eq!(b.outgoing("a").unwrap().unwrap().status, status::SENDING);
        assert_eq!(
            a.outgoing_renew_claim(&[took_a[0].seq], 100, 150).unwrap(),
            [took_a[0].seq]
        );
        // B finishes its own.
        b.outgoing_record(
            &["b".to_owned()],
            ("taken", None),
            &SendResult::Sent(None),
            20,
        )
        .unwrap();
        // A dies. B's next round after A's claim (renewed to 150) has run out takes it over:
        // queued again (the event feed says so) and taken, as a second attempt.
        assert!(b.outgoing_take_due(149, 249, 10).unwrap().is_empty());
        let over = b.outgoing_take_due(150, 250, 10).unwrap();
        assert_eq!(uuids(&over), ["a"]);
        assert_eq!(over[0].attempts, 2);
        assert!(
            a.outgoing_renew_claim(&[over[0].seq], 150, 300)
                .unwrap()
                .is_empty()
        );
        let changes: Vec<String> = b
            .conn()
            .prepare("SELECT payload FROM events WHERE subject = 'a' AND type = ?1 ORDER BY seq")
            .unwrap()
            .query_map(
                [crate::store::events::EventType::OutgoingStatusChanged.name()],
                |r| r.get::<_, String>(0),
            )
            .unwrap()
            .map(|p| p.unwrap())
            .collect();
        let steps: Vec<(String, String)> = changes
            .iter()
            .map(|p| serde_json::from_str::<serde_json::Value>(p).unwrap())
            .map(|v| {
                (
                    v["from"].as_str().unwrap_or("").to_owned(),
                    v["status"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        let steps: Vec<(&str, &str)> = steps
            .iter()
            .map(|(f, t)| (f.as_str(), t.as_str()))
            .collect();
        assert_eq!(
            steps,
            [
                ("", "queued"),
                ("queued", "sending"),
                ("sending", "queued"),
                ("queued", "sending")
            ]
        );
        b.outgoing_record(
            &["a".to_owned()],
            ("duplicate", None),
            &SendResult::Sent(None),
            151,
        )
        .unwrap();
        assert_eq!(b.outgoing("a").unwrap().unwrap().status, status::SENT);
    }

    /// A message left `sending` by a sender that died is queued again at the next start,
    /// once its claim has run out; one from before claims existed (none recorded) at once.
    #[test]
    fn requeue_at_start_takes_only_messages_whose_claim_ran_out() {
        let mut s = store();
        for u in ["a", "b"] {
            s.outgoing_submit(&new(u, u, None)).unwrap();
        }
        s.outgoing_take_due(10, 100, 10).unwrap();
        assert_eq!(s.outgoing_requeue_interrupted(99).unwrap(), 0);
        s.conn()
            .execute(
                "UPDATE outgoing SET claimed_until = NULL WHERE uuid = 'b'",
                [],
            )
            .unwrap();
        assert_eq!(s.outgoing_requeue_interrupted(99).unwrap(), 1);
        assert_eq!(s.outgoing("b").unwrap().unwrap().status, status::QUEUED);
        assert_eq!(s.outgoing("a").unwrap().unwrap().status, status::SENDING);
        assert_eq!(s.outgoing_requeue_interrupted(100).unwrap(), 1);
        assert_eq!(s.outgoing("a").unwrap().unwrap().status, status::QUEUED);
    }
}
