//! Event retention (`[api] events_retention_days`): the event log is a notification feed,
//! not an archive, so events older than the window are deleted, in batches so the write lock
//! is never held long. An event stays, whatever its age, while a webhook may still need it:
//! while it has a delivery that is pending, or failed (given up, kept visible for
//! `dpost webhooks retry`), or while a webhook's cursor has not reached it yet (it is still
//! to be matched). Delivered deliveries go with their event.
//!
//! The highest sequence number deleted is kept (`events_pruned`): a reader that asks for
//! events after an older one has missed some, and is told so instead of silently getting
//! the rest (`GET /api/v1/events` answers 410).

use super::sql::{OptionalExtension as _, params};

use super::{Store, StoreError};

/// Events deleted per transaction.
const BATCH: i64 = 5_000;

/// What one prune did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Events deleted.
    pub deleted: u64,
    /// The highest sequence number ever deleted (0: none yet).
    pub through: i64,
}

impl Store {
    /// Delete the events recorded before `before` (Unix seconds) that no webhook still needs
    /// (see the module documentation); `now` is recorded with the watermark.
    pub fn events_prune(&mut self, before: i64, now: i64) -> Result<Pruned, StoreError> {
        let mut total = 0u64;
        loop {
            let deleted = self.events_prune_batch(before, now)?;
            total += deleted;
            if deleted < BATCH as u64 {
                break;
            }
        }
        Ok(Pruned {
            deleted: total,
            through: self.events_pruned_through()?,
        })
    }

    fn events_prune_batch(&mut self, before: i64, now: i64) -> Result<u64, StoreError> {
        let result = (|| {
            let tx = self.conn().transaction()?;
            // Candidates in a temporary table: the deliveries and the events are deleted by
            // the same list, and the watermark is its maximum.
            tx.execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS prune_batch (seq BIGINT PRIMARY KEY);
                 DELETE FROM prune_batch;",
            )?;
            tx.execute(
                "INSERT INTO prune_batch (seq)
                 SELECT e.seq FROM events e
                 WHERE e.at < ?1
                   AND e.seq <= (SELECT COALESCE(MIN(after), 9223372036854775807) FROM webhook_cursors)
                   AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                                   WHERE d.event_seq = e.seq AND d.state <> 'delivered')
                 ORDER BY e.seq LIMIT ?2",
                params![before, BATCH],
            )?;
            let through: Option<i64> =
                tx.query_row("SELECT MAX(seq) FROM prune_batch", [], |r| r.get(0))?;
            let Some(through) = through else {
                return Ok(0);
            };
            tx.execute(
                "DELETE FROM webhook_deliveries WHERE event_seq IN (SELECT seq FROM prune_batch)",
                [],
            )?;
            let deleted = tx.execute(
                "DELETE FROM events WHERE seq IN (SELECT seq FROM prune_batch)",
                [],
            )?;
            tx.execute(
                "INSERT INTO events_pruned (id, through, at) VALUES (1, ?1, ?2)
                 ON CONFLICT(id) DO UPDATE SET at = excluded.at,
                     through = CASE WHEN events_pruned.through > excluded.through THEN events_pruned.through ELSE excluded.through END",
                params![through, now],
            )?;
            tx.commit()?;
            Ok(deleted as u64)
        })();
        result.map_err(|e| self.error(e))
    }

    /// The highest sequence number retention ever deleted; 0 when it never deleted any.
    /// Events after a reader's position `after` are all still there exactly when
    /// `after >= events_pruned_through()`.
    pub fn events_pruned_through(&mut self) -> Result<i64, StoreError> {
        let result = self
            .conn()
            .query_row("SELECT through FROM events_pruned WHERE id = 1", [], |r| {
                r.get::<_, i64>(0)
            })
            .optional();
        result.map(|t| t.unwrap_or(0)).map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::events::{EventType, NewEvent, record};

    fn event(s: &mut Store, at: i64) -> i64 {
        let tx = s.conn().transaction().unwrap();
        let seq = record(
            &tx,
            &NewEvent {
                kind: EventType::MessageReceived,
                at,
                mailbox: Some("post"),
                subject: "m",
                payload: serde_json::json!({}),
            },
        )
        .unwrap();
        tx.commit().unwrap();
        seq
    }

    fn delivery(s: &mut Store, webhook: &str, seq: i64, state: &str) {
        s.conn()
            .execute(
                "INSERT INTO webhook_deliveries (webhook, event_seq, state, created_at, window_start, next_attempt_at)
                 VALUES (?1, ?2, ?3, 0, 0, 0)",
                params![webhook, seq, state],
            )
            .unwrap();
    }

    fn seqs(s: &mut Store) -> Vec<i64> {
        s.events_after(0, 100, None, None)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect()
    }

    #[test]
    fn old_events_go_unless_a_webhook_still_needs_them() {
        let mut s = crate::store::scratch_store("events-retention");
        assert_eq!(s.events_pruned_through().unwrap(), 0);
        let delivered = event(&mut s, 10);
        let pending = event(&mut s, 11);
        let failed = event(&mut s, 12);
        let plain = event(&mut s, 13);
        let young = event(&mut s, 100);
        delivery(&mut s, "a", delivered, "delivered");
        delivery(&mut s, "a", pending, "pending");
        delivery(&mut s, "b", failed, "failed");
        let p = s.events_prune(50, 60).unwrap();
        assert_eq!(
            p,
            Pruned {
                deleted: 2,
                through: plain
            }
        );
        assert_eq!(seqs(&mut s), [pending, failed, young]);
        let left: i64 = s
            .conn()
            .query_row("SELECT COUNT(*) FROM webhook_deliveries", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 2, "the delivered delivery went with its event");
        // Once delivered, it goes at the next prune; the watermark only rises.
        s.conn()
            .execute(
                "UPDATE webhook_deliveries SET state = 'delivered' WHERE event_seq = ?1",
                [pending],
            )
            .unwrap();
        let p = s.events_prune(50, 70).unwrap();
        assert_eq!(
            p,
            Pruned {
                deleted: 1,
                through: plain
            }
        );
        // A webhook that has not matched an event yet holds it (and everything after).
        s.conn()
            .execute(
                "INSERT INTO webhook_cursors (webhook, after) VALUES ('c', ?1)",
                [failed - 1],
            )
            .unwrap();
        s.conn()
            .execute("UPDATE webhook_deliveries SET state = 'delivered'", [])
            .unwrap();
        assert_eq!(s.events_prune(500, 80).unwrap().deleted, 0);
        s.conn()
            .execute("UPDATE webhook_cursors SET after = ?1", [young])
            .unwrap();
        assert_eq!(
            s.events_prune(500, 90).unwrap(),
            Pruned {
                deleted: 2,
                through: young
            }
        );
        assert!(seqs(&mut s).is_empty());
        // Numbers are never reused after a prune.
        assert!(event(&mut s, 200) > young);
    }
}
