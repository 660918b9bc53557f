//! Handing received messages over to the platform: the feed of messages in sequence order,
//! acknowledgements ("this message is now on case 2024-1234"), moves to another mailbox, and
//! the audit record of both. The API (`crate::api`) and the CLI (`dpost message ack`) call
//! the same functions, so the two can never disagree on what "pending" means.
//!
//! Mailbox restrictions are part of every query (`visible`), not a check made afterwards,
//! so a message moved between a check and a write is never touched by a client that may no
//! longer see it.

use super::sql::{OptionalExtension as _, params};

use super::{Migration, Store, StoreError};

/// The handover tables.
pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: "
        -- One acknowledgement per message: the first one stands, a repeat changes nothing.
        CREATE TABLE handover_acks (
            message_uuid   TEXT PRIMARY KEY REFERENCES ngdp_messages (uuid),
            actor          TEXT NOT NULL,     -- api:<client> | cli:<user>
            acked_at       INTEGER NOT NULL,
            case_reference TEXT
        );
        -- Who did what to which message, when; never updated.
        CREATE TABLE handover_audit (
            id           INTEGER PRIMARY KEY,
            at           INTEGER NOT NULL,
            actor        TEXT NOT NULL,
            action       TEXT NOT NULL,       -- ack | route
            message_uuid TEXT NOT NULL,
            detail       TEXT NOT NULL        -- JSON
        );
        CREATE INDEX handover_audit_message ON handover_audit (message_uuid, id);
    ",
    },
    Migration {
        version: 2,
        // The pending list at scale (BENCHMARKS.md, "The platform API"): a platform
        // acknowledges its oldest mail first, so in a store of a million messages the first
        // pending page sat behind hundreds of thousands of acknowledged ones, each looked up
        // in handover_acks (11 ms for the first page, 98 ms for a small mailbox's). The flag
        // beside the message lets a partial index hold only what is pending, in feed order,
        // with the columns the list filters on; handover_acks stays the record of who
        // acknowledged and when. Existing acknowledgements are copied into the flag once.
        sql: "
        ALTER TABLE ngdp_messages ADD COLUMN acked INTEGER NOT NULL DEFAULT 0;
        UPDATE ngdp_messages SET acked = 1 WHERE uuid IN (SELECT message_uuid FROM handover_acks);
        CREATE INDEX ngdp_messages_pending ON ngdp_messages (seq, mailbox, valid, received_at)
            WHERE acked = 0;
    ",
    },
    Migration {
        version: 3,
        // The pending list of one mailbox (a `mailbox` parameter, or a client restricted to
        // one): in feed order through the pending index, a mailbox with 4.5 % of the mail
        // read ~2,200 index entries to fill a page of 100; here it reads the 100.
        sql: "
        CREATE INDEX ngdp_messages_pending_mailbox ON ngdp_messages (mailbox, seq)
            WHERE acked = 0;
    ",
    },
];

/// Which messages a list holds, by acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AckState {
    /// Not acknowledged yet.
    #[default]
    Pending,
    /// Acknowledged.
    Acknowledged,
    /// Both.
    All,
}

/// A page of the feed.
#[derive(Debug, Clone, Default)]
pub struct FeedQuery {
    /// Only these mailboxes (`None`: every one); a client's restriction and its `mailbox`
    /// parameter, intersected by the caller.
    pub visible: Option<Vec<String>>,
    /// Acknowledged or not.
    pub state: AckState,
    /// `Some(true)`: only invalid messages; `Some(false)`: only valid ones.
    pub invalid: Option<bool>,
    /// Only messages received at or after this (Unix seconds).
    pub since: Option<i64>,
    /// Only messages after this sequence number.
    pub after: i64,
    /// At most this many.
    pub limit: u32,
}

/// One message of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEntry {
    /// Its place in the sequence.
    pub seq: i64,
    /// messageUUID.
    pub uuid: String,
    /// Its mailbox now.
    pub mailbox: String,
    /// Unix seconds.
    pub received_at: i64,
    /// No validation errors.
    pub valid: bool,
    /// The header's label.
    pub label: Option<String>,
    /// Sender id.
    pub sender_id: Option<String>,
    /// Sender label.
    pub sender_label: Option<String>,
    /// Recipient id.
    pub recipient_id: Option<String>,
    /// The acknowledgement, when there is one.
    pub ack: Option<Ack>,
}

/// An acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Ack {
    /// Who: `api:<client>` or `cli:<user>`.
    pub actor: String,
    /// Unix seconds.
    pub at: i64,
    /// The platform's case reference, when it gave one.
    pub case_reference: Option<String>,
}

/// One line of a message's audit record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    /// Unix seconds.
    pub at: i64,
    /// Who.
    pub actor: String,
    /// ack | route.
    pub action: String,
    /// What exactly, JSON.
    pub detail: serde_json::Value,
}

/// What an acknowledgement came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acked {
    /// The acknowledgement that stands (the first one).
    pub ack: Ack,
    /// Whether this call made it (false: it was acknowledged before).
    pub new: bool,
}

/// A move to another mailbox, done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    /// Where it was.
    pub from: String,
    /// Where it is.
    pub to: String,
    /// Its new place in the sequence (unchanged when it was already there).
    pub seq: i64,
}

/// A message's handover state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoverState {
    /// Its place in the sequence.
    pub seq: Option<i64>,
    /// The acknowledgement.
    pub ack: Option<Ack>,
    /// Acknowledgements and routes, oldest first.
    pub audit: Vec<AuditEntry>,
}

/// A row of the feed's columns (`m.seq` … `a.case_reference`, as `handover_feed` selects
/// them) as a [`FeedEntry`]; the console's search selects the same columns.
pub(super) fn feed_entry(r: &super::sql::Row<'_>) -> super::sql::Result<FeedEntry> {
    let actor: Option<String> = r.get(9)?;
    Ok(FeedEntry {
        seq: r.get(0)?,
        uuid: r.get(1)?,
        mailbox: r.get(2)?,
        received_at: r.get(3)?,
        valid: r.get(4)?,
        label: r.get(5)?,
        sender_id: r.get(6)?,
        sender_label: r.get(7)?,
        recipient_id: r.get(8)?,
        ack: match actor {
            Some(actor) => Some(Ack {
                actor,
                at: r.get(10)?,
                case_reference: r.get(11)?,
            }),
            None => None,
        },
    })
}

/// `visible` as the SQL takes it: JSON text of the list, or NULL for every mailbox.
pub(super) fn visible_json(visible: Option<&[String]>) -> Option<String> {
    visible.map(|v| serde_json::Value::from(v.to_vec()).to_string())
}

/// The condition "`m.mailbox` is visible" for parameter `?n`.
const VISIBLE: &str =
    "(CAST(?1 AS TEXT) IS NULL OR m.mailbox IN (SELECT value FROM json_each(?1)))";

impl Store {
    /// A page of the feed, in sequence order.
    pub fn handover_feed(&mut self, q: &FeedQuery) -> Result<Vec<FeedEntry>, StoreError> {
        let (sql, mailboxes) = feed_sql(q);
        let result = (|| {
            let mut stmt = self.conn().prepare_cached(&sql)?;
            let rows = stmt.query_map(
                params![mailboxes, q.after, q.invalid, q.since, q.limit],
                feed_entry,
            )?;
            rows.collect::<Result<Vec<_>, _>>()
        })();
        result.map_err(|e| self.error(e))
    }

    /// Whether `uuid` is stored in a mailbox in `visible` (`None`: any mailbox).
    pub fn handover_visible(
        &mut self,
        uuid: &str,
        visible: Option<&[String]>,
    ) -> Result<bool, StoreError> {
        let sql = format!("SELECT 1 FROM ngdp_messages m WHERE {VISIBLE} AND m.uuid = ?2");
        let result = self
            .conn()
            .query_row(
                &sql,
                params![visible_json(visible), uuid.trim().to_ascii_lowercase()],
                |_| Ok(()),
            )
            .optional();
        result.map(|r| r.is_some()).map_err(|e| self.error(e))
    }

    /// The sequence number, acknowledgement and audit record of `uuid`.
    pub fn handover_state(&mut self, uuid: &str) -> Result<Option<HandoverState>, StoreError> {
        let uuid = uuid.trim().to_ascii_lowercase();
        let result = (|| {
            let conn = self.conn();
            let Some(seq) = conn
                .query_row(
                    "SELECT seq FROM ngdp_messages WHERE uuid = ?1",
                    [&uuid],
                    |r| r.get::<_, Option<i64>>(0),
                )
                .optional()?
            else {
                return Ok(None);
            };
            let ack = ack_of(conn, &uuid)?;
            let mut q = conn.prepare_cached(
                "SELECT at, actor, action, detail FROM handover_audit WHERE message_uuid = ?1 ORDER BY id",
            )?;
            let audit = q
                .query_map([&uuid], |r| {
                    let detail: String = r.get(3)?;
                    Ok(AuditEntry {
                        at: r.get(0)?,
                        actor: r.get(1)?,
                        action: r.get(2)?,
                        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some(HandoverState { seq, ack, audit }))
        })();
        result.map_err(|e| self.error(e))
    }

    /// Acknowledge `uuid` for `actor`, committed before this returns. `None` when no such
    /// message is visible. A message acknowledged before keeps its first acknowledgement,
    /// which is returned (with `new: false`) and nothing is written.
    pub fn handover_ack(
        &mut self,
        uuid: &str,
        visible: Option<&[String]>,
        actor: &str,
        case_reference: Option<&str>,
        now: i64,
    ) -> Result<Option<Acked>, StoreError> {
        let uuid = uuid.trim().to_ascii_lowercase();
        let visible = visible_json(visible);
        let result = (|| {
            // A savepoint, not a transaction: alone it is one (committed before this
            // returns), and inside [`Store::in_transaction`] many acknowledgements share one
            // commit (the benchmark's seeding acknowledges hundreds of thousands).
            let tx = self.conn().savepoint()?;
            let sql = format!("SELECT 1 FROM ngdp_messages m WHERE {VISIBLE} AND m.uuid = ?2");
            if tx
                .query_row(&sql, params![visible, uuid], |_| Ok(()))
                .optional()?
                .is_none()
            {
                return Ok(None);
            }
            let new = tx.execute(
                "INSERT INTO handover_acks (message_uuid, actor, acked_at, case_reference)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                params![uuid, actor, now, case_reference],
            )? == 1;
            if new {
                tx.execute(
                    "UPDATE ngdp_messages SET acked = 1 WHERE uuid = ?1",
                    [&uuid],
                )?;
                audit(
                    &tx,
                    now,
                    actor,
                    "ack",
                    &uuid,
                    serde_json::json!({ "caseReference": case_reference }),
                )?;
            }
            let ack = ack_of(&tx, &uuid)?.ok_or(super::sql::Error::NoRows)?;
            tx.commit()?;
            Ok(Some(Acked { ack, new }))
        })();
        result.map_err(|e| self.error(e))
    }

    /// Move `uuid` to mailbox `to` for `actor`, committed before this returns. `None` when no
    /// such message is visible.
    ///
    /// A moved message takes a new place at the end of the sequence: a platform that reads
    /// the feed of the mailbox it moved to has already read past its old number, and would
    /// otherwise never see it. A reader of every mailbox sees it once more, in its new
    /// mailbox, which is the change it needs to know about.
    pub fn handover_route(
        &mut self,
        uuid: &str,
        visible: Option<&[String]>,
        to: &str,
        actor: &str,
        now: i64,
    ) -> Result<Option<Routed>, StoreError> {
        let uuid = uuid.trim().to_ascii_lowercase();
        let visible = visible_json(visible);
        let result = (|| {
            let tx = self.conn().transaction()?;
            let sql = format!(
                "SELECT m.mailbox, m.seq, m.routing_reason FROM ngdp_messages m WHERE {VISIBLE} AND m.uuid = ?2"
            );
            let Some((from, seq, reason)) = tx
                .query_row(&sql, params![visible, uuid], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<i64>>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })
                .optional()?
            else {
                return Ok(None);
            };
            if from == to {
                return Ok(Some(Routed {
                    from,
                    to: to.to_owned(),
                    seq: seq.unwrap_or(0),
                }));
            }
            let seq = super::ngdp::next_message_seq(&tx)?;
            let previous: serde_json::Value =
                serde_json::from_str(&reason).unwrap_or(serde_json::Value::Null);
            let reason = serde_json::json!({
                "reason": "routed",
                "by": actor,
                "at": now,
                "from": from,
                "previous": previous,
            });
            tx.execute(
                "UPDATE ngdp_messages SET mailbox = ?2, seq = ?3, routing_reason = ?4 WHERE uuid = ?1",
                params![uuid, to, seq, reason.to_string()],
            )?;
            tx.execute(
                "INSERT INTO ngdp_mailboxes (name, first_seen) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![to, now],
            )?;
            audit(
                &tx,
                now,
                actor,
                "route",
                &uuid,
                serde_json::json!({ "from": from, "to": to }),
            )?;
            tx.commit()?;
            Ok(Some(Routed {
                from,
                to: to.to_owned(),
                seq,
            }))
        })();
        result.map_err(|e| self.error(e))
    }
}

/// The query of a feed page and its first parameter (the mailboxes), chosen so that a page
/// reads little more than the rows it returns: pending messages through the partial index
/// of pending messages in feed order (handover migration 2), one mailbox's through the one
/// by mailbox (migration 3). The other states walk the feed in sequence order, filtering:
/// a mailbox condition the planner could use there would send it to `ngdp_messages_mailbox`
/// and a sort of the whole mailbox. SQLite's planner picks these indexes by itself (a unit
/// test checks the plans; so did `EXPLAIN QUERY PLAN` on the million-message store), so the
/// query names none and reads the same on PostgreSQL.
fn feed_sql(q: &FeedQuery) -> (String, Option<String>) {
    let (from, mailbox, state, mailboxes) = match (q.state, q.visible.as_deref()) {
        // `acked` is set in the acknowledgement's own transaction, so a pending message has
        // no row in handover_acks to look up; `m.acked = 0` selects the partial indexes.
        (AckState::Pending, Some([one])) => (
            "ngdp_messages m",
            "m.mailbox = ?1",
            "m.acked = 0",
            Some(one.clone()),
        ),
        (AckState::Pending, visible) => (
            "ngdp_messages m",
            VISIBLE,
            "m.acked = 0",
            visible_json(visible),
        ),
        (AckState::Acknowledged, visible) => (
            FEED_WITH_ACKS,
            VISIBLE,
            "a.message_uuid IS NOT NULL",
            visible_json(visible),
        ),
        (AckState::All, visible) => (FEED_WITH_ACKS, VISIBLE, "TRUE", visible_json(visible)),
    };
    let ack = if q.state == AckState::Pending {
        "NULL, NULL, NULL"
    } else {
        "a.actor, a.acked_at, a.case_reference"
    };
    let sql = format!(
        "SELECT m.seq, m.uuid, m.mailbox, m.received_at, m.valid, m.label, m.sender_id, m.sender_label,
            m.recipient_id, {ack}
         FROM {from}
         WHERE m.seq > ?2 AND {mailbox} AND {state}
            AND (CAST(?3 AS BIGINT) IS NULL OR m.valid = 1 - ?3)
            AND (CAST(?4 AS BIGINT) IS NULL OR m.received_at >= ?4)
         ORDER BY m.seq LIMIT ?5"
    );
    (sql, mailboxes)
}

/// Messages with their acknowledgement, when there is one.
const FEED_WITH_ACKS: &str = "ngdp_messages m LEFT JOIN handover_acks a ON a.message_uuid = m.uuid";

fn ack_of(conn: &super::sql::Connection, uuid: &str) -> super::sql::Result<Option<Ack>> {
    conn.query_row(
        "SELECT actor, acked_at, case_reference FROM handover_acks WHERE message_uuid = ?1",
        [uuid],
        |r| {
            Ok(Ack {
                actor: r.get(0)?,
                at: r.get(1)?,
                case_reference: r.get(2)?,
            })
        },
    )
    .optional()
}

fn audit(
    tx: &super::sql::Connection,
    at: i64,
    actor: &str,
    action: &str,
    uuid: &str,
    detail: serde_json::Value,
) -> super::sql::Result<()> {
    tx.execute(
        "INSERT INTO handover_audit (at, actor, action, message_uuid, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![at, actor, action, uuid, detail.to_string()],
    )
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ngdp::NewMessage;

    fn store(name: &str) -> Store {
        let dir =
            std::env::temp_dir().join(format!("dpost-handover-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Store::open(&dir.join("t.db")).unwrap()
    }

    fn message(n: u32, mailbox: &str, valid: bool) -> NewMessage {
        NewMessage {
            uuid: format!("00000000-0000-4000-8000-{n:012}"),
            environment: "test".into(),
            system_id: "sys".into(),
            via: "push",
            received_at: 1_700_000_000 + i64::from(n),
            valid,
            problems: serde_json::json!([]),
            message_id: None,
            label: Some(format!("m{n}")),
            sender_id: None,
            sender_label: None,
            recipient_id: None,
            mailbox: mailbox.into(),
            contact_point: None,
            routing_reason: serde_json::json!({ "reason": "recipient-contact-point" }),
            header: serde_json::json!({}),
            dir: "/nowhere".into(),
            raw_size: 0,
            raw_sha256: String::new(),
            files: Vec::new(),
            receipt: "{}".into(),
            bytes_from: None,
        }
    }

    fn uuids(entries: &[FeedEntry]) -> Vec<String> {
        entries.iter().map(|e| e.label.clone().unwrap()).collect()
    }

    #[test]
    fn the_feed_pages_in_commit_order_and_filters() {
        let mut s = store("feed");
        let (a, b, c) = (
            message(1, "x", true),
            message(2, "y", false),
            message(3, "x", true),
        );
        s.ngdp_insert_messages(&[&a, &b]).unwrap();
        s.ngdp_insert_messages(&[&c]).unwrap();
        let all = s
            .handover_feed(&FeedQuery {
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(uuids(&all), ["m1", "m2", "m3"]);
        assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
        let page = s
            .handover_feed(&FeedQuery {
                after: all[0].seq,
                limit: 1,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(uuids(&page), ["m2"]);
        let x = s
            .handover_feed(&FeedQuery {
                visible: Some(vec!["x".into()]),
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(uuids(&x), ["m1", "m3"]);
        let invalid = s
            .handover_feed(&FeedQuery {
                invalid: Some(true),
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(uuids(&invalid), ["m2"]);
        let since = s
            .handover_feed(&FeedQuery {
                since: Some(1_700_000_003),
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(uuids(&since), ["m3"]);
    }

    #[test]
    fn an_ack_is_recorded_once_and_leaves_the_pending_list() {
        let mut s = store("ack");
        let m = message(1, "x", true);
        s.ngdp_insert_messages(&[&m]).unwrap();
        let hidden = s
            .handover_ack(&m.uuid, Some(&["y".to_owned()]), "api:other", None, 5)
            .unwrap();
        assert_eq!(hidden, None, "a mailbox the client may not see");
        let first = s
            .handover_ack(&m.uuid.to_uppercase(), None, "api:c", Some("2024-1234"), 10)
            .unwrap()
            .unwrap();
        assert!(first.new);
        let again = s
            .handover_ack(&m.uuid, None, "api:d", Some("x"), 20)
            .unwrap()
            .unwrap();
        assert!(!again.new);
        assert_eq!(again.ack, first.ack);
        assert_eq!(again.ack.case_reference.as_deref(), Some("2024-1234"));
        let pending = s
            .handover_feed(&FeedQuery {
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert!(pending.is_empty());
        let acked = s
            .handover_feed(&FeedQuery {
                state: AckState::Acknowledged,
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(acked[0].ack.as_ref().unwrap().actor, "api:c");
        let state = s.handover_state(&m.uuid).unwrap().unwrap();
        assert_eq!(state.audit.len(), 1, "the repeat is not recorded");
        assert_eq!(state.audit[0].detail["caseReference"], "2024-1234");
        assert_eq!(
            s.handover_ack("nope", None, "api:c", None, 1).unwrap(),
            None
        );
    }

    #[test]
    fn the_pending_list_reads_only_pending_messages_through_their_index() {
        let mut s = store("plan");
        let (a, b) = (message(1, "x", true), message(2, "x", true));
        s.ngdp_insert_messages(&[&a, &b]).unwrap();
        s.handover_ack(&a.uuid, None, "api:c", None, 5).unwrap();
        let acked: Vec<bool> = [&a, &b]
            .iter()
            .map(|m| {
                s.conn()
                    .query_row(
                        "SELECT acked FROM ngdp_messages WHERE uuid = ?1",
                        [&m.uuid],
                        |r| r.get(0),
                    )
                    .unwrap()
            })
            .collect();
        assert_eq!(acked, [true, false]);
        // The plans, not timings: a million-message store depends on them (benches/api.sh).
        let plan = |s: &mut Store, visible: Option<Vec<String>>| -> String {
            let (sql, mailboxes) = feed_sql(&FeedQuery {
                visible,
                limit: 10,
                ..Default::default()
            });
            let steps: Vec<String> = s
                .conn()
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(params![mailboxes, 0, None::<bool>, None::<i64>, 10], |r| {
                    r.get::<_, String>(3)
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            steps.join("; ")
        };
        for (visible, index) in [
            (None, "ngdp_messages_pending "),
            (Some(vec!["x".into(), "y".into()]), "ngdp_messages_pending "),
            (Some(vec!["x".into()]), "ngdp_messages_pending_mailbox "),
        ] {
            let p = plan(&mut s, visible.clone());
            assert!(
                p.starts_with(&format!("SEARCH m USING INDEX {index}"))
                    && !p.contains("TEMP B-TREE"),
                "{visible:?}: {index}in feed order: {p}"
            );
        }
        let pending = s
            .handover_feed(&FeedQuery {
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(uuids(&pending), ["m2"]);
    }

    #[test]
    fn a_routed_message_moves_to_the_end_of_the_sequence_and_is_recorded() {
        let mut s = store("route");
        let (a, b) = (message(1, "x", true), message(2, "y", true));
        s.ngdp_insert_messages(&[&a, &b]).unwrap();
        let y = FeedQuery {
            visible: Some(vec!["y".into()]),
            limit: 10,
            ..Default::default()
        };
        let seen = s.handover_feed(&y).unwrap();
        let cursor = seen.last().unwrap().seq;
        let routed = s
            .handover_route(&a.uuid, None, "y", "cli:ops", 30)
            .unwrap()
            .unwrap();
        assert_eq!((routed.from.as_str(), routed.to.as_str()), ("x", "y"));
        // The reader of mailbox y, past message 2 already, still gets message 1.
        let next = s.handover_feed(&FeedQuery { after: cursor, ..y }).unwrap();
        assert_eq!(uuids(&next), ["m1"]);
        let state = s.handover_state(&a.uuid).unwrap().unwrap();
        assert_eq!(state.audit[0].action, "route");
        assert_eq!(state.audit[0].detail["from"], "x");
        let stored = s.ngdp_message(&a.uuid).unwrap().unwrap();
        assert_eq!(
            stored.routing_reason["previous"]["reason"],
            "recipient-contact-point"
        );
        assert_eq!(
            s.handover_route(&b.uuid, Some(&["x".to_owned()]), "x", "api:c", 31)
                .unwrap(),
            None
        );
    }
}
