//! The webhook outbox: a cursor per webhook into the event log and one delivery row per
//! (webhook, event) it matched (`crate::webhooks` explains why a cursor). A delivery is
//! `pending` until the endpoint answers 2xx (`delivered`) or its give-up time passes
//! (`failed`, with the reason, kept and retryable); nothing here is ever deleted.

use super::sql::{OptionalExtension as _, params};

use super::events::{Event, EventType, read_event};
use super::{Migration, Store, StoreError};

/// The outbox tables.
pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
    version: 1,
    sql: "
        -- The last event each webhook has looked at (events after it are still to match).
        CREATE TABLE webhook_cursors (
            webhook TEXT PRIMARY KEY,
            after   INTEGER NOT NULL
        );
        CREATE TABLE webhook_deliveries (
            id              INTEGER PRIMARY KEY,
            webhook         TEXT NOT NULL,
            event_seq       INTEGER NOT NULL REFERENCES events (seq),
            state           TEXT NOT NULL,       -- pending | delivered | failed
            attempts        INTEGER NOT NULL DEFAULT 0,
            created_at      INTEGER NOT NULL,
            window_start    INTEGER NOT NULL,    -- the give-up time counts from here (reset by a retry)
            next_attempt_at INTEGER NOT NULL,
            last_error      TEXT,
            delivered_at    INTEGER,
            UNIQUE (webhook, event_seq)
        );
        CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
        CREATE INDEX webhook_deliveries_state ON webhook_deliveries (state, id);
    ",
    },
    // Event retention deletes events with their delivered deliveries and keeps those with
    // any other: both lookups go by event, as does SQLite's foreign-key check when an
    // event is deleted.
    Migration {
        version: 2,
        sql: "CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_seq, state);",
    },
];

/// Which events a webhook takes.
#[derive(Debug, Clone, Default)]
pub struct WebhookFilter {
    /// Only these types (`None`: all).
    pub events: Option<Vec<EventType>>,
    /// Only events of these mailboxes (`None`: all, including events of no mailbox).
    pub mailboxes: Option<Vec<String>>,
}

impl WebhookFilter {
    fn takes(&self, e: &Event) -> bool {
        let kind = self
            .events
            .as_ref()
            .is_none_or(|t| t.iter().any(|t| t.name() == e.kind));
        let mailbox = match (&self.mailboxes, &e.mailbox) {
            (None, _) => true,
            (Some(list), Some(m)) => list.contains(m),
            (Some(_), None) => false,
        };
        kind && mailbox
    }
}

/// A delivery, with its event.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Its id (`webhook-id` is `evt_<event seq>`, the same for every attempt).
    pub id: i64,
    /// The webhook's name.
    pub webhook: String,
    /// pending, delivered or failed.
    pub state: String,
    /// Attempts made.
    pub attempts: u32,
    /// Unix seconds.
    pub created_at: i64,
    /// When the give-up time started.
    pub window_start: i64,
    /// When it is tried next (pending).
    pub next_attempt_at: i64,
    /// Why the last attempt failed, or why it was given up.
    pub last_error: Option<String>,
    /// When the endpoint took it.
    pub delivered_at: Option<i64>,
    /// The event.
    pub event: Event,
}

const SELECT: &str = "SELECT d.id, d.webhook, d.state, d.attempts, d.created_at, d.window_start,
        d.next_attempt_at, d.last_error, d.delivered_at,
        e.seq, e.type, e.at, e.mailbox, e.subject, e.payload
    FROM webhook_deliveries d JOIN events e ON e.seq = d.event_seq";

fn delivery(r: &super::sql::Row<'_>) -> super::sql::Result<Delivery> {
    Ok(Delivery {
        id: r.get(0)?,
        webhook: r.get(1)?,
        state: r.get(2)?,
        attempts: r.get(3)?,
        created_at: r.get(4)?,
        window_start: r.get(5)?,
        next_attempt_at: r.get(6)?,
        last_error: r.get(7)?,
        delivered_at: r.get(8)?,
        event: read_event(r, 9)?,
    })
}

impl Store {
    /// Look at up to `limit` events after `webhook`'s cursor, create a pending delivery for
    /// each that `filter` takes, and move the cursor past them, all in one transaction.
    /// A webhook seen for the first time starts at the end of the log: it gets what happens
    /// from now on, not the whole history. Returns the deliveries created.
    pub fn webhooks_enqueue(
        &mut self,
        webhook: &str,
        filter: &WebhookFilter,
        limit: u32,
        now: i64,
    ) -> Result<usize, StoreError> {
        let result = (|| {
            let tx = self.conn().transaction()?;
            let cursor: Option<i64> = tx
                .query_row(
                    "SELECT after FROM webhook_cursors WHERE webhook = ?1",
                    [webhook],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(after) = cursor else {
                tx.execute(
                    "INSERT INTO webhook_cursors (webhook, after) SELECT ?1, COALESCE(MAX(seq), 0) FROM events",
                    [webhook],
                )?;
                tx.commit()?;
                return Ok(0);
            };
            let events = {
                let mut q = tx.prepare_cached(
                    "SELECT seq, type, at, mailbox, subject, payload FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )?;
                q.query_map(params![after, limit], |r| read_event(r, 0))?
                    .collect::<Result<Vec<_>, _>>()?
            };
            let Some(last) = events.last().map(|e| e.seq) else {
                return Ok(0);
            };
            let mut created = 0;
            for e in events.iter().filter(|e| filter.takes(e)) {
                created += tx.execute(
                    "INSERT INTO webhook_deliveries (webhook, event_seq, state, created_at, window_start, next_attempt_at)
                     VALUES (?1, ?2, 'pending', ?3, ?3, ?3) ON CONFLICT DO NOTHING",
                    params![webhook, e.seq, now],
                )?;
            }
            tx.execute(
                "UPDATE webhook_cursors SET after = ?2 WHERE webhook = ?1",
                params![webhook, last],
            )?;
            tx.commit()?;
            Ok(created)
        })();
        result.map_err(|e| self.error(e))
    }

    /// Pending deliveries of `webhook` due at `now`, oldest event first, at most `limit`.
    pub fn webhooks_due(
        &mut self,
        webhook: &str,
        now: i64,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let sql = format!(
            "{SELECT} WHERE d.webhook = ?1 AND d.state = 'pending' AND d.next_attempt_at <= ?2 ORDER BY d.event_seq LIMIT ?3"
        );
        let result = (|| {
            let mut q = self.conn().prepare_cached(&sql)?;
            q.query_map(params![webhook, now, limit], delivery)?
                .collect::<Result<Vec<_>, _>>()
        })();
        result.map_err(|e| self.error(e))
    }

    /// The endpoint took delivery `id`.
    pub fn webhooks_delivered(&mut self, id: i64, now: i64) -> Result<(), StoreError> {
        let result = self.conn().execute(
            "UPDATE webhook_deliveries SET state = 'delivered', attempts = attempts + 1, delivered_at = ?2,
                last_error = NULL WHERE id = ?1 AND state = 'pending'",
            params![id, now],
        );
        result.map(|_| ()).map_err(|e| self.error(e))
    }

    /// An attempt at delivery `id` failed for `reason`: tried again at `next_attempt_at`, or,
    /// when `give_up` is true, kept as failed with the reason.
    pub fn webhooks_attempt_failed(
        &mut self,
        id: i64,
        reason: &str,
        next_attempt_at: i64,
        give_up: bool,
    ) -> Result<(), StoreError> {
        let state = if give_up { "failed" } else { "pending" };
        let result = self.conn().execute(
            "UPDATE webhook_deliveries SET state = ?2, attempts = attempts + 1, last_error = ?3,
                next_attempt_at = ?4 WHERE id = ?1 AND state = 'pending'",
            params![id, state, reason, next_attempt_at],
        );
        result.map(|_| ()).map_err(|e| self.error(e))
    }

    /// Deliveries in `state` (`None`: all), newest first, at most `limit`.
    pub fn webhooks_deliveries(
        &mut self,
        state: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let sql = format!(
            "{SELECT} WHERE (CAST(?1 AS TEXT) IS NULL OR d.state = ?1) ORDER BY d.id DESC LIMIT ?2"
        );
        let result = (|| {
            let mut q = self.conn().prepare_cached(&sql)?;
            q.query_map(params![state, limit], delivery)?
                .collect::<Result<Vec<_>, _>>()
        })();
        result.map_err(|e| self.error(e))
    }

    /// Put failed delivery `id` back in the queue, due now, with a fresh give-up time.
    /// `None` when there is no such delivery; `Some(false)` when it is not failed (a pending
    /// one is queued already, a delivered one stays delivered).
    pub fn webhooks_retry(&mut self, id: i64, now: i64) -> Result<Option<bool>, StoreError> {
        let result = (|| {
            let tx = self.conn().transaction()?;
            let state: Option<String> = tx
                .query_row(
                    "SELECT state FROM webhook_deliveries WHERE id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(state) = state else { return Ok(None) };
            if state != "failed" {
                return Ok(Some(false));
            }
            tx.execute(
                "UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = ?2, window_start = ?2 WHERE id = ?1",
                params![id, now],
            )?;
            tx.commit()?;
            Ok(Some(true))
        })();
        result.map_err(|e| self.error(e))
    }

    /// Deliveries of `webhooks` not yet delivered nor given up.
    pub fn webhooks_backlog(&mut self, webhooks: &[String]) -> Result<u64, StoreError> {
        let names = serde_json::Value::from(webhooks.to_vec()).to_string();
        let result = self.conn().query_row(
            "SELECT COUNT(*) FROM webhook_deliveries
             WHERE state = 'pending' AND webhook IN (SELECT value FROM json_each(?1))",
            [names],
            |r| r.get::<_, i64>(0),
        );
        result.map(|n| n as u64).map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::events::{EventType, NewEvent, record};

    fn store(name: &str) -> Store {
        let dir =
            std::env::temp_dir().join(format!("dpost-webhooks-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Store::open(&dir.join("t.db")).unwrap()
    }

    fn event(s: &mut Store, kind: EventType, mailbox: Option<&str>) -> i64 {
        let tx = s.conn().transaction().unwrap();
        let seq = record(
            &tx,
            &NewEvent {
                kind,
                at: 1,
                mailbox,
                subject: "x",
                payload: serde_json::json!({}),
            },
        )
        .unwrap();
        tx.commit().unwrap();
        seq
    }

    #[test]
    fn a_cursor_starts_at_the_end_and_enqueues_what_matches_once() {
        let mut s = store("enqueue");
        event(&mut s, EventType::MessageReceived, Some("a"));
        let only_a = WebhookFilter {
            events: Some(vec![EventType::MessageReceived]),
            mailboxes: Some(vec!["a".into()]),
        };
        assert_eq!(
            s.webhooks_enqueue("h", &only_a, 10, 5).unwrap(),
            0,
            "history is not sent"
        );
        let wanted = event(&mut s, EventType::MessageReceived, Some("a"));
        event(&mut s, EventType::MessageReceived, Some("b"));
        event(&mut s, EventType::MessageInvalid, Some("a"));
        event(&mut s, EventType::ReceiptReceived, None);
        assert_eq!(s.webhooks_enqueue("h", &only_a, 10, 6).unwrap(), 1);
        assert_eq!(
            s.webhooks_enqueue("h", &only_a, 10, 7).unwrap(),
            0,
            "the cursor moved"
        );
        let due = s.webhooks_due("h", 6, 10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].event.seq, wanted);
        assert_eq!(s.webhooks_backlog(&["h".into()]).unwrap(), 1);
        assert_eq!(s.webhooks_backlog(&["gone".into()]).unwrap(), 0);
    }

    #[test]
    fn a_failing_delivery_is_retried_given_up_kept_and_retried_by_hand() {
        let mut s = store("retry");
        s.webhooks_enqueue("h", &WebhookFilter::default(), 10, 0)
            .unwrap();
        event(&mut s, EventType::MessageReceived, Some("a"));
        s.webhooks_enqueue("h", &WebhookFilter::default(), 10, 10)
            .unwrap();
        let d = s.webhooks_due("h", 10, 10).unwrap().remove(0);
        s.webhooks_attempt_failed(d.id, "HTTP 500", 12, false)
            .unwrap();
        assert!(
            s.webhooks_due("h", 11, 10).unwrap().is_empty(),
            "not before its time"
        );
        assert_eq!(s.webhooks_due("h", 12, 10).unwrap()[0].attempts, 1);
        s.webhooks_attempt_failed(d.id, "HTTP 503", 20, true)
            .unwrap();
        assert!(s.webhooks_due("h", 100, 10).unwrap().is_empty());
        let failed = s.webhooks_deliveries(Some("failed"), 10).unwrap();
        assert_eq!(failed[0].last_error.as_deref(), Some("HTTP 503"));
        assert_eq!(failed[0].attempts, 2);
        assert_eq!(s.webhooks_backlog(&["h".into()]).unwrap(), 0);
        assert_eq!(s.webhooks_retry(d.id, 50).unwrap(), Some(true));
        assert_eq!(
            s.webhooks_retry(d.id, 50).unwrap(),
            Some(false),
            "queued already"
        );
        assert_eq!(s.webhooks_retry(999, 50).unwrap(), None);
        let again = s.webhooks_due("h", 50, 10).unwrap().remove(0);
        assert_eq!(again.window_start, 50);
        s.webhooks_delivered(again.id, 51).unwrap();
        let done = s.webhooks_deliveries(Some("delivered"), 10).unwrap();
        assert_eq!(done[0].delivered_at, Some(51));
        assert_eq!(s.webhooks_retry(d.id, 60).unwrap(), Some(false));
    }
}
