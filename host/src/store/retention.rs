//! Retention: received messages are deleted (their rows and their files) a configured number
//! of days after the platform acknowledged them, per mailbox (`[store] retention_days`).
//!
//! What is never purged, whatever its age: a message not acknowledged, and one whose
//! business receipt NgDP has not taken yet (pending or refused) or whose `DELETE memos/{id}`
//! is still owed to NgDP. The rows go first, in one transaction that re-checks all of this,
//! then the folders: a crash between the two leaves a folder nothing refers to (harmless:
//! `dpost store verify` and backups follow the rows), never a row whose files are gone. Each purge is written to the audit record.

use std::collections::BTreeMap;
use std::path::Path;

use super::sql::params;

use super::{Store, StoreError};

/// A message retention lets go of.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Purgeable {
    /// messageUUID.
    pub uuid: String,
    /// Its mailbox.
    pub mailbox: String,
    /// When it was acknowledged (Unix seconds).
    pub acked_at: i64,
    /// Its folder.
    pub dir: String,
    /// The bytes of its files, as recorded.
    pub bytes: u64,
}

/// What a purge did (or, dry, would do).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PurgeReport {
    /// Nothing was deleted.
    pub dry_run: bool,
    /// The messages purged (or that would be).
    pub messages: Vec<Purgeable>,
    /// Folders that could not be removed after their rows were (with why); the rows are gone.
    pub leftovers: Vec<String>,
}

const SELECT: &str = "
    SELECT m.uuid, m.mailbox, a.acked_at, m.dir,
           m.raw_size + COALESCE((SELECT SUM(f.size) FROM ngdp_files f WHERE f.message_uuid = m.uuid), 0)
    FROM ngdp_messages m
    JOIN handover_acks a ON a.message_uuid = m.uuid
    JOIN ngdp_outbox o ON o.message_uuid = m.uuid
    WHERE m.mailbox = ?1 AND a.acked_at <= ?2
      AND o.status = 'sent'
      AND (o.delete_memo IS NULL OR o.delete_memo = 'done')
    ORDER BY a.acked_at, m.uuid";

impl Store {
    /// The messages `days` (days after acknowledgement, by mailbox) lets go of at `now`.
    pub fn purgeable(
        &mut self,
        days: &BTreeMap<String, u32>,
        now: i64,
    ) -> Result<Vec<Purgeable>, StoreError> {
        let mut out = Vec::new();
        for (mailbox, d) in days {
            let cutoff = now.saturating_sub(i64::from(*d) * 86_400);
            let mut q = self.conn.prepare(SELECT).map_err(|e| self.error(e))?;
            let rows = q
                .query_map(params![mailbox, cutoff], |r| {
                    Ok(Purgeable {
                        uuid: r.get(0)?,
                        mailbox: r.get(1)?,
                        acked_at: r.get(2)?,
                        dir: r.get(3)?,
                        bytes: r.get::<_, i64>(4)?.max(0) as u64,
                    })
                })
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
            drop(q);
            out.extend(rows.map_err(|e| self.error(e))?);
        }
        Ok(out)
    }

    /// Delete the rows of every message `days` lets go of at `now`, in one transaction (so
    /// the conditions hold at the moment of deleting); the messages deleted.
    fn delete_purgeable(
        &mut self,
        days: &BTreeMap<String, u32>,
        now: i64,
    ) -> Result<Vec<Purgeable>, StoreError> {
        self.in_transaction(|s| {
            let gone = s.purgeable(days, now)?;
            for m in &gone {
                let detail =
                    serde_json::json!({ "mailbox": m.mailbox, "acked_at": m.acked_at }).to_string();
                s.conn
                    .execute_batch("SAVEPOINT purge_one")
                    .and_then(|_| {
                        for table in [
                            "ngdp_files",
                            "ngdp_conflicts",
                            "ngdp_outbox",
                            "handover_acks",
                        ] {
                            s.conn.execute(
                                &format!("DELETE FROM {table} WHERE message_uuid = ?1"),
                                [&m.uuid],
                            )?;
                        }
                        s.conn
                            .execute("DELETE FROM ngdp_messages WHERE uuid = ?1", [&m.uuid])?;
                        // On PostgreSQL the bytes go with the rows, in the same transaction;
                        // a row that names no message folder is left to `purge` to report.
                        if s.holds_file_bytes() && is_message_folder(Path::new(&m.dir)) {
                            super::files::delete_under(&s.conn, Path::new(&m.dir))?;
                        }
                        s.conn.execute(
                            "INSERT INTO handover_audit (at, actor, action, message_uuid, detail)
                             VALUES (?1, 'retention', 'purge', ?2, ?3)",
                            params![now, m.uuid, detail],
                        )?;
                        s.conn.execute_batch("RELEASE purge_one")
                    })
                    .map_err(|e| s.error(e))?;
            }
            Ok(gone)
        })
    }
}

/// Only ever a message folder (`…/messages/<name>`) is deleted, from the disk or from the
/// store's pieces: a hand-edited row must not make retention delete anything else.
fn is_message_folder(dir: &Path) -> bool {
    dir.parent()
        .and_then(Path::file_name)
        .is_some_and(|n| n == "messages")
}

/// Purge what `days` lets go of at `now`; with `dry_run`, only say what that is.
pub fn purge(
    store: &mut Store,
    days: &BTreeMap<String, u32>,
    now: i64,
    dry_run: bool,
) -> Result<PurgeReport, StoreError> {
    if dry_run {
        return Ok(PurgeReport {
            dry_run,
            messages: store.purgeable(days, now)?,
            leftovers: Vec::new(),
        });
    }
    let messages = store.delete_purgeable(days, now)?;
    let mut leftovers = Vec::new();
    let in_store = store.holds_file_bytes();
    for m in &messages {
        let dir = Path::new(&m.dir);
        if !is_message_folder(dir) {
            leftovers.push(format!("{}: not a message folder, left alone", m.dir));
            continue;
        }
        // On PostgreSQL the bytes went with the rows; there is no folder to remove.
        if in_store {
            continue;
        }
        match std::fs::remove_dir_all(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => leftovers.push(format!("{}: {e}", m.dir)),
        }
    }
    if !messages.is_empty() {
        tracing::info!(
            messages = messages.len(),
            leftovers = leftovers.len(),
            "retention purged acknowledged messages"
        );
    }
    for l in &leftovers {
        tracing::warn!(folder = %l, "retention: a purged message's folder could not be removed");
    }
    Ok(PurgeReport {
        dry_run,
        messages,
        leftovers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ngdp::NewMessage;

    const DAY: i64 = 86_400;
    const T0: i64 = 1_700_000_000;

    fn message(n: u32, mailbox: &str, root: &Path) -> NewMessage {
        let uuid = format!("00000000-0000-4000-8000-{n:012}");
        let dir = root.join("messages").join(&uuid);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("message.xml"), b"<m/>").unwrap();
        NewMessage {
            uuid,
            environment: "test".into(),
            system_id: "sys".into(),
            via: "push",
            received_at: T0,
            valid: true,
            problems: serde_json::json!([]),
            message_id: None,
            label: None,
            sender_id: None,
            sender_label: None,
            recipient_id: None,
            mailbox: mailbox.into(),
            contact_point: None,
            routing_reason: serde_json::json!({ "reason": "recipient-contact-point" }),
            header: serde_json::json!({}),
            dir: dir.display().to_string(),
            raw_size: 4,
            raw_sha256: String::new(),
            files: Vec::new(),
            receipt: "{}".into(),
            bytes_from: None,
        }
    }

    #[test]
    fn only_acknowledged_messages_whose_receipt_went_are_purged_after_their_days() {
        let root = std::env::temp_dir().join(format!("dpost-purge-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let mut s = Store::open(&root.join("t.db")).unwrap();
        let done = message(1, "daycare", &root); // acked, receipt sent: goes after 30 days
        let unacked = message(2, "daycare", &root); // never acknowledged: stays
        let owed = message(3, "daycare", &root); // acked, receipt still pending: stays
        let other = message(4, "standard", &root); // acked, sent, mailbox kept forever
        s.ngdp_insert_messages(&[&done, &unacked, &owed, &other])
            .unwrap();
        for m in [&done, &owed, &other] {
            s.handover_ack(&m.uuid, None, "cli:test", None, T0).unwrap();
        }
        for m in [&done, &unacked, &other] {
            s.ngdp_receipt_sent(&m.uuid, T0).unwrap();
        }
        let days = BTreeMap::from([("daycare".to_owned(), 30)]);

        // One second early: nothing.
        let early = purge(&mut s, &days, T0 + 30 * DAY - 1, false).unwrap();
        assert!(early.messages.is_empty());

        let at = T0 + 30 * DAY;
        let dry = purge(&mut s, &days, at, true).unwrap();
        assert_eq!(dry.messages.len(), 1);
        assert_eq!(dry.messages[0].uuid, done.uuid);
        assert!(Path::new(&done.dir).exists(), "a dry run deletes nothing");
        assert!(s.ngdp_has_message(&done.uuid).unwrap());

        let real = purge(&mut s, &days, at, false).unwrap();
        assert_eq!(real.messages, dry.messages);
        assert!(real.leftovers.is_empty(), "{:?}", real.leftovers);
        assert!(!Path::new(&done.dir).exists());
        assert!(!s.ngdp_has_message(&done.uuid).unwrap());
        for kept in [&unacked, &owed, &other] {
            assert!(s.ngdp_has_message(&kept.uuid).unwrap(), "{}", kept.uuid);
            assert!(Path::new(&kept.dir).exists());
        }
        let audited: i64 = s
            .conn
            .query_row(
                "SELECT COUNT(*) FROM handover_audit WHERE action = 'purge' AND message_uuid = ?1",
                [&done.uuid],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(audited, 1);
        // Years later the receipt-owing message is still there.
        assert!(
            purge(&mut s, &days, at + 3650 * DAY, false)
                .unwrap()
                .messages
                .is_empty()
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
