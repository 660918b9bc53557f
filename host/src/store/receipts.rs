//! Receipts as an operator or a platform follows them, both ways: the business receipts
//! dpost owes NgDP for messages it received (`ngdp_outbox`: pending, sent, or refused by NgDP
//! with its reason) and the receipts NgDP sent for messages the organisation sent
//! (`ngdp_receipts`). Each table is paged by its own insertion order (rows are never
//! deleted), so a listing that goes on from a cursor neither misses nor repeats one.

use super::sql::params;

use super::{Store, StoreError};

/// A business receipt owed to NgDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwedReceipt {
    /// Its place in the outbox (the cursor).
    pub position: i64,
    /// The received message it is for.
    pub message_uuid: String,
    /// The system that received the message.
    pub system_id: String,
    /// pending | sent | rejected.
    pub status: String,
    /// Attempts so far.
    pub attempts: u32,
    /// Why the last attempt failed (NgDP's reason when it refused).
    pub last_error: Option<String>,
    /// The HTTP status of NgDP's last refusal, when it answered one.
    pub last_http_status: Option<u16>,
    /// When NgDP took it.
    pub sent_at: Option<i64>,
    /// When the message it is for was received.
    pub created_at: i64,
    /// The receipt JSON.
    pub receipt: String,
}

/// A receipt NgDP sent for a message the organisation sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedReceipt {
    /// Its id (the cursor).
    pub id: i64,
    /// The message it is for.
    pub message_uuid: String,
    /// The system it came to.
    pub system_id: String,
    /// NgDP's receiptStatus (COMPLETED, RECEIVED, INVALID, NOT_ALLOWED, ...).
    pub receipt_status: String,
    /// errorCode.
    pub error_code: Option<String>,
    /// errorMessage.
    pub error_message: Option<String>,
    /// When dpost stored it.
    pub received_at: i64,
    /// The JSON as received.
    pub json: String,
}

/// The business receipts of one system not sent yet, for `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptBacklog {
    /// The system.
    pub system_id: String,
    /// Waiting or being retried.
    pub pending: u64,
    /// Refused for good, or given up: waiting for an operator.
    pub refused: u64,
    /// Since when the oldest pending one is being tried (unix seconds).
    pub oldest_pending_since: Option<i64>,
}

impl Store {
    /// Per system: receipts pending, refused, and the oldest pending one's start.
    pub fn receipt_backlog(&mut self) -> Result<Vec<ReceiptBacklog>, StoreError> {
        let result = (|| {
            let mut q = self.conn().prepare_cached(
                "SELECT system_id, SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END),
                        SUM(CASE WHEN status = 'rejected' THEN 1 ELSE 0 END),
                        MIN(CASE WHEN status = 'pending' THEN COALESCE(queued_at, next_attempt_at) END)
                 FROM ngdp_outbox WHERE status <> 'sent' GROUP BY system_id ORDER BY system_id",
            )?;
            let rows = q.query_map([], |r| {
                Ok(ReceiptBacklog {
                    system_id: r.get(0)?,
                    pending: r.get::<_, i64>(1)? as u64,
                    refused: r.get::<_, i64>(2)? as u64,
                    oldest_pending_since: r.get(3)?,
                })
            })?;
            rows.collect::<Result<Vec<_>, _>>()
        })();
        result.map_err(|e| self.error(e))
    }

    /// Business receipts owed to NgDP after outbox position `after`, at most `limit`,
    /// optionally only those with `status` (pending, sent, rejected) and only for messages in
    /// `mailboxes`.
    pub fn receipts_owed(
        &mut self,
        after: i64,
        limit: u32,
        status: Option<&str>,
        mailboxes: Option<&[String]>,
    ) -> Result<Vec<OwedReceipt>, StoreError> {
        let mailboxes = mailboxes.map(|m| serde_json::Value::from(m.to_vec()).to_string());
        let result = (|| {
            let mut q = self.conn().prepare(
                "SELECT o.rowid, o.message_uuid, o.system_id, o.status, o.attempts, o.last_error, o.sent_at,
                        COALESCE(m.received_at, 0), o.receipt, o.last_http_status
                 FROM ngdp_outbox o LEFT JOIN ngdp_messages m ON m.uuid = o.message_uuid
                 WHERE o.rowid > ?1 AND (CAST(?2 AS TEXT) IS NULL OR o.status = ?2)
                   AND (CAST(?4 AS TEXT) IS NULL OR m.mailbox IN (SELECT value FROM json_each(?4)))
                 ORDER BY o.rowid LIMIT ?3",
            )?;
            let rows = q.query_map(params![after, status, limit, mailboxes], |r| {
                Ok(OwedReceipt {
                    position: r.get(0)?,
                    message_uuid: r.get(1)?,
                    system_id: r.get(2)?,
                    status: r.get(3)?,
                    attempts: r.get(4)?,
                    last_error: r.get(5)?,
                    sent_at: r.get(6)?,
                    created_at: r.get(7)?,
                    receipt: r.get(8)?,
                    last_http_status: r.get(9)?,
                })
            })?;
            rows.collect::<Result<Vec<_>, _>>()
        })();
        result.map_err(|e| self.error(e))
    }

    /// Receipts received after id `after`, at most `limit`.
    pub fn receipts_received(
        &mut self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ReceivedReceipt>, StoreError> {
        let result = (|| {
            let mut q = self.conn().prepare(
                "SELECT id, message_uuid, system_id, receipt_status, error_code, error_message, received_at, json
                 FROM ngdp_receipts WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?;
            let rows = q.query_map(params![after, limit], |r| {
                Ok(ReceivedReceipt {
                    id: r.get(0)?,
                    message_uuid: r.get(1)?,
                    system_id: r.get(2)?,
                    receipt_status: r.get(3)?,
                    error_code: r.get(4)?,
                    error_message: r.get(5)?,
                    received_at: r.get(6)?,
                    json: r.get(7)?,
                })
            })?;
            rows.collect::<Result<Vec<_>, _>>()
        })();
        result.map_err(|e| self.error(e))
    }

    /// The business receipt owed for `uuid`, if any (and if its message is in `mailboxes`).
    pub fn receipt_owed(
        &mut self,
        uuid: &str,
        mailboxes: Option<&[String]>,
    ) -> Result<Option<OwedReceipt>, StoreError> {
        let uuid = uuid.trim().to_ascii_lowercase();
        let position: Option<i64> = {
            let found = self.conn().query_row(
                "SELECT rowid FROM ngdp_outbox WHERE message_uuid = ?1",
                [&uuid],
                |r| r.get(0),
            );
            match found {
                Ok(p) => Some(p),
                Err(super::sql::Error::NoRows) => None,
                Err(e) => return Err(self.error(e)),
            }
        };
        let Some(position) = position else {
            return Ok(None);
        };
        // The first row from its position on that passes the filter: its own, or none.
        Ok(self
            .receipts_owed(position - 1, 1, None, mailboxes)?
            .pop()
            .filter(|o| o.message_uuid == uuid))
    }

    /// Queue a business receipt NgDP refused again, due now; the outbox worker sends it on
    /// its next round. Its last reason stays until that attempt. False when there is no such
    /// receipt or it was not refused.
    pub fn receipt_requeue(&mut self, uuid: &str, now: i64) -> Result<bool, StoreError> {
        // The give-up window starts again: an operator re-queues once the cause is fixed.
        let changed = self.conn().execute(
            "UPDATE ngdp_outbox SET status = 'pending', next_attempt_at = ?2, claimed_until = NULL, queued_at = ?2
             WHERE message_uuid = ?1 AND status = 'rejected'",
            params![uuid.trim().to_ascii_lowercase(), now],
        );
        changed.map(|n| n > 0).map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use crate::store::ngdp::ReceiptFailure;

    #[test]
    fn a_given_up_receipt_stays_listed_with_its_status_and_is_queued_again() {
        let mut s = crate::store::scratch_store("receipts");
        crate::store::without_foreign_keys(
            &mut s,
            "INSERT INTO ngdp_outbox (message_uuid, environment, system_id, receipt, status, next_attempt_at, queued_at)
                 VALUES ('m1', 'test', 'sys', '{}', 'pending', 100, 100),
                        ('m2', 'test', 'sys', '{}', 'pending', 150, 150);",
        );
        let retry = ReceiptFailure {
            reason: "HTTP 401: Unauthorized".into(),
            http_status: Some(401),
            next: 300,
            give_up: false,
        };
        s.ngdp_receipt_failed("m1", &retry).unwrap();
        let b = s.receipt_backlog().unwrap();
        assert_eq!((b[0].pending, b[0].refused), (2, 0));
        assert_eq!(b[0].oldest_pending_since, Some(100));
        let given_up = ReceiptFailure {
            give_up: true,
            ..retry
        };
        s.ngdp_receipt_failed("m1", &given_up).unwrap();
        let listed = s.receipts_owed(0, 10, Some("rejected"), None).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].last_http_status, Some(401));
        assert_eq!(listed[0].attempts, 2);
        assert_eq!(
            listed[0].last_error.as_deref(),
            Some("HTTP 401: Unauthorized")
        );
        let b = s.receipt_backlog().unwrap();
        assert_eq!((b[0].pending, b[0].refused), (1, 1));
        assert_eq!(b[0].oldest_pending_since, Some(150));
        // Queued again: due now, and the give-up window starts again.
        assert!(s.receipt_requeue("M1", 9_000).unwrap());
        let due = s.ngdp_due_receipts(9_000, 10).unwrap();
        let m1 = due.iter().find(|d| d.message_uuid == "m1").unwrap();
        assert_eq!(m1.queued_at, 9_000);
        assert!(
            !s.receipt_requeue("m1", 9_001).unwrap(),
            "only a refused one"
        );
    }
}
