//! What the operator console (issue 17) needs from the store beyond the API's own queries:
//! its audit log (who did what to which target, when), the overview's counts, and the
//! message search an operator types (sender, dates, free text), paged by key, never OFFSET,
//! so the millionth message is as quick to reach as the first.

use super::sql::{OptionalExtension as _, params};

use super::handover::AckState;
use super::{Migration, Store, StoreError};

/// The console's tables, and the indexes its pages need on the other services' tables.
pub(super) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    sql: "
        -- Every action taken in the console; never updated.
        CREATE TABLE console_audit (
            id      INTEGER PRIMARY KEY,
            at      INTEGER NOT NULL,
            actor   TEXT NOT NULL,       -- console:<user>
            action  TEXT NOT NULL,       -- ack | route | retry-receipt | retry-webhook | sign-in
            target  TEXT NOT NULL,       -- a messageUUID, webhook delivery id, user name
            detail  TEXT NOT NULL        -- JSON
        );
        CREATE INDEX console_audit_target ON console_audit (target, id);

        -- Messages received per day (UTC) and mailbox, kept by triggers as messages arrive and
        -- move: the overview adds up at most a week of rows instead of counting a week of
        -- messages on every view.
        CREATE TABLE console_daily (
            day      INTEGER NOT NULL,   -- received_at / 86400
            mailbox  TEXT NOT NULL,
            messages INTEGER NOT NULL,
            PRIMARY KEY (day, mailbox)
        ) WITHOUT ROWID;
        INSERT INTO console_daily (day, mailbox, messages)
            SELECT received_at / 86400, mailbox, COUNT(*) FROM ngdp_messages GROUP BY 1, 2;
        CREATE TRIGGER console_daily_received AFTER INSERT ON ngdp_messages BEGIN
            INSERT INTO console_daily (day, mailbox, messages) VALUES (NEW.received_at / 86400, NEW.mailbox, 1)
                ON CONFLICT (day, mailbox) DO UPDATE SET messages = messages + 1;
        END;
        CREATE TRIGGER console_daily_moved AFTER UPDATE OF mailbox ON ngdp_messages
            WHEN OLD.mailbox <> NEW.mailbox BEGIN
            UPDATE console_daily SET messages = messages - 1
                WHERE day = OLD.received_at / 86400 AND mailbox = OLD.mailbox;
            INSERT INTO console_daily (day, mailbox, messages) VALUES (NEW.received_at / 86400, NEW.mailbox, 1)
                ON CONFLICT (day, mailbox) DO UPDATE SET messages = messages + 1;
        END;

        -- Free text on the label and the sender's name: a trigram index answers a substring
        -- of three characters or more without reading every message (SQLite's FTS5 trigram
        -- tokenizer, case-insensitive). Keyed by uuid, not rowid: VACUUM may renumber the
        -- rowids of a table whose key is text.
        CREATE VIRTUAL TABLE console_search USING fts5(uuid UNINDEXED, label, sender_label, tokenize = 'trigram');
        INSERT INTO console_search (uuid, label, sender_label) SELECT uuid, label, sender_label FROM ngdp_messages;
        CREATE TRIGGER console_search_received AFTER INSERT ON ngdp_messages BEGIN
            INSERT INTO console_search (uuid, label, sender_label) VALUES (NEW.uuid, NEW.label, NEW.sender_label);
        END;

        -- The list, newest first by (received_at, seq), filtered by what an operator picks;
        -- each filter has an index that starts with it and ends with the page key.
        CREATE INDEX console_messages_received ON ngdp_messages (received_at, seq);
        CREATE INDEX console_messages_mailbox ON ngdp_messages (mailbox, received_at, seq);
        CREATE INDEX console_messages_invalid ON ngdp_messages (received_at, seq) WHERE valid = 0;
        CREATE INDEX console_messages_sender_id ON ngdp_messages (sender_id, received_at, seq);
        CREATE INDEX console_messages_sender_label ON ngdp_messages (sender_label, received_at, seq);
        -- Receipts and outgoing messages that still need something: counted without a scan
        -- of the millions that went through.
        CREATE INDEX console_outbox_open ON ngdp_outbox (status) WHERE status <> 'sent';
        CREATE INDEX console_outgoing_open ON outgoing (status) WHERE status <> 'sent';
    ",
}];

/// Matches from which a text search walks the list in order instead of sorting its matches.
const DENSE: i64 = 2000;

/// The shortest text the search takes: the trigram index needs three characters.
pub const MIN_SEARCH_CHARS: usize = 3;

/// One line of the console's audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleAudit {
    /// Its id (the paging key).
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// `console:<user>`.
    pub actor: String,
    /// What was done.
    pub action: String,
    /// To what.
    pub target: String,
    /// The details, JSON text.
    pub detail: String,
}

/// What the console's message list shows, newest first.
#[derive(Debug, Clone, Default)]
pub struct MessageSearch {
    /// Only this mailbox.
    pub mailbox: Option<String>,
    /// Acknowledged or not.
    pub state: AckState,
    /// `Some(true)`: only invalid ones.
    pub invalid: Option<bool>,
    /// The sender's id or label, exactly.
    pub sender: Option<String>,
    /// Received at or after (Unix seconds).
    pub from: Option<i64>,
    /// Received before (Unix seconds).
    pub until: Option<i64>,
    /// Text in the label or the sender's label (at least [`MIN_SEARCH_CHARS`] characters).
    pub text: Option<String>,
    /// Only messages before this (received_at, seq) (the page key; `None`: the newest).
    pub before: Option<(i64, i64)>,
    /// At most this many.
    pub limit: u32,
}

/// Counts for the overview.
#[derive(Debug, Clone, Default)]
pub struct Overview {
    /// Per mailbox: received today (UTC) and in the last seven days including today.
    pub mailboxes: Vec<(String, u64, u64)>,
    /// Messages that failed validation, all time.
    pub invalid: u64,
    /// Invalid messages nobody has acknowledged yet.
    pub invalid_pending: u64,
    /// Business receipts by status, except those NgDP took.
    pub receipts: Vec<(String, u64)>,
    /// Outgoing messages by status, except those NgDP took.
    pub outgoing: Vec<(String, u64)>,
    /// Webhook deliveries given up.
    pub webhooks_failed: u64,
    /// When the last pushed message arrived.
    pub last_push: Option<i64>,
}

impl Store {
    /// Record a console action, committed before this returns.
    pub fn console_audit(
        &mut self,
        at: i64,
        actor: &str,
        action: &str,
        target: &str,
        detail: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let result = self.conn().execute(
            "INSERT INTO console_audit (at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![at, actor, action, target, detail.to_string()],
        );
        result.map(|_| ()).map_err(|e| self.error(e))
    }

    /// The audit log, newest first: before id `before` (`None`: the newest), at most `limit`,
    /// optionally only about `target`.
    pub fn console_audit_log(
        &mut self,
        target: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ConsoleAudit>, StoreError> {
        let result = (|| {
            let mut q = self.conn().prepare_cached(
                "SELECT id, at, actor, action, target, detail FROM console_audit
                 WHERE (CAST(?1 AS TEXT) IS NULL OR target = ?1) AND (CAST(?2 AS BIGINT) IS NULL OR id < ?2)
                 ORDER BY id DESC LIMIT ?3",
            )?;
            let rows = q.query_map(params![target, before, limit], |r| {
                Ok(ConsoleAudit {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                    detail: r.get(5)?,
                })
            })?;
            rows.collect::<Result<Vec<_>, _>>()
        })();
        result.map_err(|e| self.error(e))
    }

    /// The overview's counts; `today` is the day number (Unix seconds / 86400, UTC).
    pub fn console_overview(&mut self, today: i64) -> Result<Overview, StoreError> {
        let result = (|| {
            let conn = self.conn();
            let mut o = Overview::default();
            let mut q = conn.prepare_cached(
                "SELECT mailbox, SUM(CASE WHEN day = ?1 THEN messages ELSE 0 END), SUM(messages)
                 FROM console_daily WHERE day > ?1 - 7 AND day <= ?1 GROUP BY mailbox ORDER BY mailbox",
            )?;
            o.mailboxes = q
                .query_map(params![today], |r| {
                    Ok((
                        r.get(0)?,
                        r.get::<_, i64>(1)? as u64,
                        r.get::<_, i64>(2)? as u64,
                    ))
                })?
                .collect::<Result<_, _>>()?;
            o.invalid = conn.query_row(
                "SELECT COUNT(*) FROM ngdp_messages WHERE valid = 0",
                [],
                |r| r.get::<_, i64>(0),
            )? as u64;
            o.invalid_pending = conn.query_row(
                "SELECT COUNT(*) FROM ngdp_messages m WHERE m.valid = 0
                 AND NOT EXISTS (SELECT 1 FROM handover_acks a WHERE a.message_uuid = m.uuid)",
                [],
                |r| r.get::<_, i64>(0),
            )? as u64;
            let by_status = |sql: &str| -> super::sql::Result<Vec<(String, u64)>> {
                let mut q = conn.prepare_cached(sql)?;
                q.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
                    .collect()
            };
            o.receipts = by_status(
                "SELECT status, COUNT(*) FROM ngdp_outbox WHERE status <> 'sent' GROUP BY status ORDER BY status",
            )?;
            o.outgoing = by_status(
                "SELECT status, COUNT(*) FROM outgoing WHERE status <> 'sent' GROUP BY status ORDER BY status",
            )?;
            o.webhooks_failed = conn.query_row(
                "SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'failed'",
                [],
                |r| r.get::<_, i64>(0),
            )? as u64;
            // Newest first along the index, which stops at the first push; without the hint
            // SQLite's planner sorts the whole table (measured: 3 s at a million messages).
            // PostgreSQL has no hints (and walks the index backwards by itself).
            let newest_push = match conn.backend() {
                super::sql::Backend::Sqlite => {
                    "SELECT received_at FROM ngdp_messages INDEXED BY console_messages_received
                     WHERE via = 'push' ORDER BY received_at DESC LIMIT 1"
                }
                super::sql::Backend::Postgres => {
                    "SELECT received_at FROM ngdp_messages
                     WHERE via = 'push' ORDER BY received_at DESC LIMIT 1"
                }
            };
            o.last_push = conn.query_row(newest_push, [], |r| r.get(0)).optional()?;
            Ok(o)
        })();
        result.map_err(|e: super::sql::Error| self.error(e))
    }

    /// A page of the message list, newest first (by received time, then sequence number).
    /// Each entry is the API feed's own [`FeedEntry`](super::handover::FeedEntry). Only the
    /// filters given are in the SQL, so SQLite picks the index that starts with one of them.
    pub fn console_messages(
        &mut self,
        s: &MessageSearch,
    ) -> Result<Vec<super::handover::FeedEntry>, StoreError> {
        use super::sql::Value;
        let mut clauses: Vec<&str> = Vec::new();
        let mut args: Vec<Value> = Vec::new();
        if let Some((at, seq)) = s.before {
            clauses.push("(m.received_at, m.seq) < (?, ?)");
            args.extend([Value::Integer(at), Value::Integer(seq)]);
        }
        if let Some(m) = &s.mailbox {
            clauses.push("m.mailbox = ?");
            args.push(Value::Text(m.clone()));
        }
        match s.state {
            AckState::Pending => clauses.push("a.message_uuid IS NULL"),
            AckState::Acknowledged => clauses.push("a.message_uuid IS NOT NULL"),
            AckState::All => {}
        }
        // `valid = 0` literally, so the partial index on invalid messages is used.
        match s.invalid {
            Some(true) => clauses.push("m.valid = 0"),
            Some(false) => clauses.push("m.valid = 1"),
            None => {}
        }
        if let Some(sender) = &s.sender {
            clauses.push("(m.sender_id = ? OR m.sender_label = ?)");
            args.extend([Value::Text(sender.clone()), Value::Text(sender.clone())]);
        }
        if let Some(from) = s.from {
            clauses.push("m.received_at >= ?");
            args.push(Value::Integer(from));
        }
        if let Some(until) = s.until {
            clauses.push("m.received_at < ?");
            args.push(Value::Integer(until));
        }
        if let Some(text) = &s.text
            && self.backend() == super::sql::Backend::Postgres
        {
            // pg_trgm's indexes (store/postgres) answer a case-insensitive substring.
            let pattern = format!(
                "%{}%",
                text.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            );
            clauses.push("(m.label ILIKE ? OR m.sender_label ILIKE ?)");
            args.extend([Value::Text(pattern.clone()), Value::Text(pattern)]);
        } else if let Some(text) = &s.text {
            // One phrase: the text as typed, quotes doubled (FTS5's string syntax).
            let phrase = format!("\"{}\"", text.replace('"', "\"\""));
            // A rare text is fastest from the index's matches, sorted; a common one (a
            // sender's name on thousands of letters) by walking the list's own order and
            // keeping what matches, which stops after a page. Which one this is, the
            // index says by its first DENSE matches; the unary `+` keeps SQLite from
            // driving the query by uuid.
            let probe = self.conn().query_row(
                "SELECT COUNT(*) FROM (SELECT 1 FROM console_search WHERE console_search MATCH ?1 LIMIT ?2)",
                params![phrase, DENSE],
                |r| r.get::<_, i64>(0),
            );
            let dense = probe.map_err(|e| self.error(e))? >= DENSE;
            clauses.push(if dense {
                "+m.uuid IN (SELECT uuid FROM console_search WHERE console_search MATCH ?)"
            } else {
                "m.uuid IN (SELECT uuid FROM console_search WHERE console_search MATCH ?)"
            });
            args.push(Value::Text(phrase));
        }
        args.push(Value::Integer(i64::from(s.limit)));
        let sql = format!(
            "SELECT m.seq, m.uuid, m.mailbox, m.received_at, m.valid, m.label, m.sender_id, m.sender_label,
                m.recipient_id, a.actor, a.acked_at, a.case_reference
             FROM ngdp_messages m LEFT JOIN handover_acks a ON a.message_uuid = m.uuid
             WHERE {}
             ORDER BY m.received_at DESC, m.seq DESC LIMIT ?",
            if clauses.is_empty() { "TRUE".to_owned() } else { clauses.join(" AND ") }
        );
        let result = (|| {
            let mut stmt = self.conn().prepare_cached(&sql)?;
            let rows = stmt.query_map(
                super::sql::params_from_iter(args),
                super::handover::feed_entry,
            )?;
            rows.collect::<Result<Vec<_>, _>>()
        })();
        result.map_err(|e| self.error(e))
    }

    /// The last Digipost syncs, newest first: (sender, started, finished).
    pub fn console_digipost_syncs(
        &mut self,
        limit: u32,
    ) -> Result<Vec<(i64, i64, Option<i64>)>, StoreError> {
        let result = (|| {
            let mut q = self.conn().prepare_cached(
                "SELECT sender_id, started_at, finished_at FROM digipost_sync_runs
                 ORDER BY started_at DESC LIMIT ?1",
            )?;
            let rows = q.query_map([limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect::<Result<Vec<_>, _>>()
        })();
        result.map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::scratch_store;

    #[test]
    fn the_audit_log_is_newest_first_and_by_target() {
        let mut st = scratch_store("console-audit");
        for (i, t) in ["a", "b", "a"].iter().enumerate() {
            st.console_audit(i as i64, "console:ops", "ack", t, &serde_json::json!({}))
                .unwrap();
        }
        let all = st.console_audit_log(None, None, 10).unwrap();
        assert_eq!(all.iter().map(|a| a.at).collect::<Vec<_>>(), [2, 1, 0]);
        let a = st.console_audit_log(Some("a"), None, 10).unwrap();
        assert_eq!(a.len(), 2);
        let older = st.console_audit_log(None, Some(all[0].id), 1).unwrap();
        assert_eq!(older[0].at, 1);
        let o = st.console_overview(0).unwrap();
        assert_eq!((o.invalid, o.last_push), (0, None));
        assert!(
            st.console_messages(&MessageSearch {
                limit: 5,
                state: AckState::All,
                text: Some("50%_".into()),
                ..Default::default()
            })
            .unwrap()
            .is_empty()
        );
    }
}
