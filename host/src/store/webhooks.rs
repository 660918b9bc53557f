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
    // Several `dpost serve` on one store (issue 18): a delivery taken for posting is claimed
    // until this time, so that one worker posts it; a worker that dies holds it only so long.
    Migration {
        version: 3,
        sql: "ALTER TABLE webhook_deliveries ADD COLUMN claimed_until INTEGER;",
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
            // Another replica moving the same cursor: on PostgreSQL, wait for its commit and
            // read where it left the cursor, rather than match the same events again (SQLite's
            // transactions take the write lock when they begin, which serializes the same).
            let lock = match tx.backend() {
                super::sql::Backend::Sqlite => "",
                super::sql::Backend::Postgres => " FOR UPDATE",
            };
            let cursor: Option<i64> = tx
                .query_row(
                    &format!("SELECT after FROM webhook_cursors WHERE webhook = ?1{lock}"),
                    [webhook],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(after) = cursor else {
                // Two replicas meeting a new webhook at once: the first one's start stands.
                // (`WHERE TRUE`: without a WHERE, SQLite reads ON CONFLICT as a join's ON,
                // https://sqlite.org/lang_upsert.html, "Parsing Ambiguity".)
                tx.execute(
                    "INSERT INTO webhook_cursors (webhook, after) SELECT ?1, COALESCE(MAX(seq), 0) FROM events
                     WHERE TRUE ON CONFLICT (webhook) DO NOTHING",
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
            // Forward only, whatever else ran meanwhile: a cursor moved back would match
            // events again (their deliveries are unique, but the work is not).
            tx.execute(
                "UPDATE webhook_cursors SET after = ?2 WHERE webhook = ?1 AND after < ?2",
                params![webhook, last],
            )?;
            tx.commit()?;
            Ok(created)
        })();
        result.map_err(|e| self.error(e))
    }

    /// Claim for posting, until `until`, up to `limit` of `webhook`'s pending deliveries due
    /// at `now` that nobody holds (never claimed, or the claim ran out: its worker died),
    /// oldest event first. A delivery claimed here is in no other worker's answer until
    /// `until`, nor after its outcome is recorded.
    ///
    /// One statement claims: the `SELECT` picks the rows, and the `UPDATE`'s `WHERE` repeats
    /// its conditions, because under PostgreSQL's READ COMMITTED a row another replica
    /// updated meanwhile is re-checked against the `UPDATE`'s own `WHERE` only
    /// (<https://www.postgresql.org/docs/15/transaction-iso.html#XACT-READ-COMMITTED>).
    pub fn webhooks_claim_due(
        &mut self,
        webhook: &str,
        now: i64,
        until: i64,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let skip_locked = super::leases::skip_locked(self.backend());
        // The pick is a MATERIALIZED CTE, run once: as a subquery of the UPDATE, PostgreSQL
        // may run it again for each row, skip the rows this very statement just claimed, and
        // so claim more than `limit`.
        let claim = format!(
            "WITH picked AS MATERIALIZED (
                 SELECT id FROM webhook_deliveries
                 WHERE webhook = ?1 AND state = 'pending' AND next_attempt_at <= ?2
                   AND (claimed_until IS NULL OR claimed_until <= ?2)
                 ORDER BY event_seq LIMIT ?4 {skip_locked})
             UPDATE webhook_deliveries SET claimed_until = ?3
             WHERE id IN (SELECT id FROM picked)
               AND state = 'pending' AND next_attempt_at <= ?2
               AND (claimed_until IS NULL OR claimed_until <= ?2)
             RETURNING id"
        );
        let read = format!(
            "{SELECT} WHERE d.id IN (SELECT CAST(value AS BIGINT) FROM json_each(?1)) ORDER BY d.event_seq"
        );
        let result = (|| {
            let ids = self
                .conn()
                .prepare_cached(&claim)?
                .query_map(params![webhook, now, until, limit], |r| r.get::<_, i64>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let ids = serde_json::Value::from(ids).to_string();
            self.conn()
                .prepare_cached(&read)?
                .query_map([ids], delivery)?
                .collect::<Result<Vec<_>, _>>()
        })();
        result.map_err(|e| self.error(e))
    }

    /// Keep the claim on deliveries `ids` that were claimed until `held`, now until `until`;
    /// the ids still held (one missing was taken over by another worker after `held` passed,
    /// or its outcome is recorded). A claim taken over always ends later than the one it
    /// replaced, so `held` tells a worker's own claim from another's.
    pub fn webhooks_renew_claim(
        &mut self,
        ids: &[i64],
        held: i64,
        until: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let list = serde_json::Value::from(ids.to_vec()).to_string();
        let result = (|| {
            self.conn()
                .prepare_cached(
                    "UPDATE webhook_deliveries SET claimed_until = ?3
                     WHERE id IN (SELECT CAST(value AS BIGINT) FROM json_each(?1))
                       AND state = 'pending' AND claimed_until = ?2
                     RETURNING id",
                )?
                .query_map(params![list, held, until], |r| r.get::<_, i64>(0))?
                .collect::<Result<Vec<_>, _>>()
        })();
        result.map_err(|e| self.error(e))
    }

    /// The endpoint took delivery `id` (its claim ends).
    pub fn webhooks_delivered(&mut self, id: i64, now: i64) -> Result<(), StoreError> {
        let result = self.conn().execute(
            "UPDATE webhook_deliveries SET state = 'delivered', attempts = attempts + 1, delivered_at = ?2,
                last_error = NULL, claimed_until = NULL WHERE id = ?1 AND state = 'pending'",
            params![id, now],
        );
        result.map(|_| ()).map_err(|e| self.error(e))
    }

    /// An attempt at delivery `id` failed for `reason`: tried again at `next_attempt_at`, or,
    /// when `give_up` is true, kept as failed with the reason. Its claim ends.
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
                next_attempt_at = ?4, claimed_until = NULL WHERE id = ?1 AND state = 'pending'",
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
        crate::store::scratch_store(&format!("webhooks_{name}"))
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
        let due = s.webhooks_claim_due("h", 6, 36, 10).unwrap();
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
        let d = s.webhooks_claim_due("h", 10, 40, 10).unwrap().remove(0);
        s.webhooks_attempt_failed(d.id, "HTTP 500", 12, false)
            .unwrap();
        assert!(
            s.webhooks_claim_due("h", 11, 41, 10).unwrap().is_empty(),
            "not before its time"
        );
        assert_eq!(
            s.webhooks_claim_due("h", 12, 42, 10).unwrap()[0].attempts,
            1
        );
        s.webhooks_attempt_failed(d.id, "HTTP 503", 20, true)
            .unwrap();
        assert!(s.webhooks_claim_due("h", 100, 130, 10).unwrap().is_empty());
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
        let again = s.webhooks_claim_due("h", 50, 80, 10).unwrap().remove(0);
        assert_eq!(again.window_start, 50);
        s.webhooks_delivered(again.id, 51).unwrap();
        let done = s.webhooks_deliveries(Some("delivered"), 10).unwrap();
        assert_eq!(done[0].delivered_at, Some(51));
        assert_eq!(s.webhooks_retry(d.id, 60).unwrap(), Some(false));
    }

    fn cursor(s: &mut Store, webhook: &str) -> i64 {
        s.conn()
            .query_row(
                "SELECT after FROM webhook_cursors WHERE webhook = ?1",
                [webhook],
                |r| r.get(0),
            )
            .unwrap()
    }

    /// Two replicas' workers on one store: a due delivery goes to one of them; a worker that
    /// died holds it until its claim runs out, then the other takes it over, and the first
    /// can no longer renew it.
    #[test]
    fn a_due_delivery_is_claimed_by_one_worker_and_taken_over_when_its_claim_runs_out() {
        let mut a = store("claim");
        let mut b = crate::store::second_connection(&a);
        a.webhooks_enqueue("h", &WebhookFilter::default(), 10, 0)
            .unwrap();
        let first = event(&mut a, EventType::MessageReceived, Some("a"));
        let second = event(&mut a, EventType::MessageReceived, Some("a"));
        a.webhooks_enqueue("h", &WebhookFilter::default(), 10, 10)
            .unwrap();
        // A takes one (the oldest); B, at the same moment, the other; then nothing is left.
        let took_a = a.webhooks_claim_due("h", 10, 50, 1).unwrap();
        assert_eq!(
            took_a.iter().map(|d| d.event.seq).collect::<Vec<_>>(),
            [first]
        );
        let took_b = b.webhooks_claim_due("h", 10, 50, 10).unwrap();
        assert_eq!(
            took_b.iter().map(|d| d.event.seq).collect::<Vec<_>>(),
            [second]
        );
        assert!(a.webhooks_claim_due("h", 11, 51, 10).unwrap().is_empty());
        assert!(b.webhooks_claim_due("h", 49, 89, 10).unwrap().is_empty());
        // B posts its own and records it: never claimed again.
        b.webhooks_delivered(took_b[0].id, 12).unwrap();
        // A dies holding `first`: at 50 its claim has run out and B takes it over.
        let over = b.webhooks_claim_due("h", 50, 90, 10).unwrap();
        assert_eq!(
            over.iter().map(|d| d.event.seq).collect::<Vec<_>>(),
            [first]
        );
        // A, come back, cannot renew what it held until 50; B renews its own.
        let id = over[0].id;
        assert!(a.webhooks_renew_claim(&[id], 50, 95).unwrap().is_empty());
        assert_eq!(b.webhooks_renew_claim(&[id], 90, 120).unwrap(), [id]);
        // A failed attempt ends the claim: due again at its next attempt, for anyone.
        b.webhooks_attempt_failed(id, "HTTP 500", 60, false)
            .unwrap();
        assert_eq!(a.webhooks_claim_due("h", 60, 100, 10).unwrap().len(), 1);
    }

    /// Replicas moving one webhook's cursor at the same time: every matching event gets
    /// exactly one delivery, and no worker ever sees the cursor move back.
    #[test]
    fn the_cursor_moves_forward_only_when_replicas_enqueue_at_once() {
        let mut a = store("cursor");
        a.webhooks_enqueue("h", &WebhookFilter::default(), 10, 0)
            .unwrap();
        let seqs: Vec<i64> = (0..60)
            .map(|_| event(&mut a, EventType::MessageReceived, Some("a")))
            .collect();
        let last = *seqs.last().unwrap();
        let mut replicas: Vec<Store> = (0..4)
            .map(|_| crate::store::second_connection(&a))
            .collect();
        std::thread::scope(|scope| {
            for r in &mut replicas {
                scope.spawn(move || {
                    let mut seen = 0;
                    // Pages of 7: at most 9 rounds move the cursor over 60 events.
                    for round in 0..60 {
                        r.webhooks_enqueue("h", &WebhookFilter::default(), 7, round)
                            .unwrap();
                        let now = cursor(r, "h");
                        assert!(now >= seen, "the cursor moved back from {seen} to {now}");
                        seen = now;
                        if now == last {
                            break;
                        }
                    }
                    assert_eq!(seen, last);
                });
            }
        });
        let n: i64 = a
            .conn()
            .query_row(
                "SELECT COUNT(*) FROM webhook_deliveries WHERE webhook = 'h'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 60);
        // Webhooks new to the store, met by every replica at once: each starts once, at the
        // end of the log, and no replica fails on another's start.
        std::thread::scope(|scope| {
            for r in &mut replicas {
                scope.spawn(move || {
                    for k in 0..10 {
                        r.webhooks_enqueue(&format!("new{k}"), &WebhookFilter::default(), 10, 1)
                            .unwrap();
                    }
                });
            }
        });
        for k in 0..10 {
            assert_eq!(cursor(&mut a, &format!("new{k}")), last);
        }
    }
}
