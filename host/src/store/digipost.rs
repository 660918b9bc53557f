//! The Digipost archive: documents read from an organisation's inbox, with their attachments,
//! and what has been done about each (archived; deleted in Digipost).
//!
//! A document and its attachments are written in one transaction, so the archive never holds
//! half a document. `deleted_remotely_at` is set only after Digipost confirmed the delete, so
//! a crash between the two leaves a row that the next sync deletes without archiving again.
//! Content is kept as a BLOB beside its SHA-256: documents in an inbox are letters and PDFs
//! (kilobytes to a few megabytes), well within what SQLite stores efficiently in-row.

use super::sql::{OptionalExtension as _, params};
use sha2::{Digest as _, Sha256};

use super::handover::{Ack, AckState};
use super::{Migration, Store, StoreError};

/// The archive's schema.
pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: "
        CREATE TABLE digipost_documents (
            sender_id           INTEGER NOT NULL,
            id                  INTEGER NOT NULL,
            -- The document an attachment belongs to; NULL for a document of the inbox.
            parent_id           INTEGER,
            -- Order among the parent's attachments; 0 for a document.
            position            INTEGER NOT NULL,
            -- The inbox entry as JSON (subject, sender, delivery time, ...).
            metadata            TEXT NOT NULL,
            content_type        TEXT,
            content             BLOB NOT NULL,
            -- Lowercase hex SHA-256 of content.
            content_sha256      TEXT NOT NULL,
            archived_at         INTEGER NOT NULL,
            deleted_remotely_at INTEGER,
            PRIMARY KEY (sender_id, id),
            FOREIGN KEY (sender_id, parent_id) REFERENCES digipost_documents (sender_id, id)
        );
        CREATE INDEX digipost_documents_not_deleted ON digipost_documents (sender_id)
            WHERE parent_id IS NULL AND deleted_remotely_at IS NULL;
        -- One row per sender: when its last sync started and whether it finished. A sync
        -- may stop early at a document archived before only when the previous one finished.
        CREATE TABLE digipost_sync_runs (
            sender_id   INTEGER PRIMARY KEY,
            started_at  INTEGER NOT NULL,
            finished_at INTEGER
        );
    ",
    },
    // The platform API (issue 15) pages through the archive and records who took each
    // document over. `seq` is the paging key: given as MAX(seq) + 1 inside the archiving
    // transaction, and SQLite has one writer at a time, so numbers become visible in
    // increasing order and a reader that saw N never later meets a new row below N. The
    // implicit rowid would do the same today, but VACUUM may renumber it on a table
    // without an INTEGER PRIMARY KEY; `seq` is a column and never changes. Existing rows
    // take their rowid, which is their archiving order.
    Migration {
        version: 2,
        sql: "
        ALTER TABLE digipost_documents ADD COLUMN seq INTEGER;
        UPDATE digipost_documents SET seq = rowid;
        CREATE UNIQUE INDEX digipost_documents_seq ON digipost_documents (seq);
        CREATE TABLE digipost_acks (
            sender_id      INTEGER NOT NULL,
            id             INTEGER NOT NULL,
            -- Who: `api:<client>` or `cli:<user>`.
            actor          TEXT NOT NULL,
            acked_at       INTEGER NOT NULL,
            case_reference TEXT,
            PRIMARY KEY (sender_id, id),
            FOREIGN KEY (sender_id, id) REFERENCES digipost_documents (sender_id, id)
        );
    ",
    },
];

/// A document (or attachment) about to be archived.
#[derive(Debug, Clone)]
pub struct NewDocument {
    /// Digipost's id.
    pub id: i64,
    /// The inbox entry, as JSON.
    pub metadata: serde_json::Value,
    /// The content's media type.
    pub content_type: Option<String>,
    /// The content.
    pub content: Vec<u8>,
}

/// A document (or attachment) as archived.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchivedDocument {
    /// The sender whose inbox it came from.
    pub sender_id: i64,
    /// Digipost's id.
    pub id: i64,
    /// The document it is attached to, for an attachment.
    pub parent_id: Option<i64>,
    /// The inbox entry, as JSON.
    pub metadata: serde_json::Value,
    /// The content's media type.
    pub content_type: Option<String>,
    /// The content.
    pub content: Vec<u8>,
    /// Lowercase hex SHA-256 of the content, computed when it was archived.
    pub content_sha256: String,
    /// When it was archived (Unix seconds).
    pub archived_at: i64,
    /// When Digipost confirmed its deletion (Unix seconds), if it has.
    pub deleted_remotely_at: Option<i64>,
}

/// A page request on the archive for the platform API: documents (not attachments) in
/// `seq` order after `after`.
#[derive(Debug, Clone, Default)]
pub struct ArchiveQuery {
    /// Only documents from this sender's inbox.
    pub sender_id: Option<i64>,
    /// Acknowledged, pending or both.
    pub state: AckState,
    /// Only documents archived at or after this (Unix seconds).
    pub since: Option<i64>,
    /// The last `seq` the reader has seen (0: from the start).
    pub after: i64,
    /// At most this many.
    pub limit: u32,
}

/// An archived file (document or attachment) as the API describes it, without its content.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveFile {
    /// Digipost's id.
    pub id: i64,
    /// The inbox entry, as JSON.
    pub metadata: serde_json::Value,
    /// The content's media type.
    pub content_type: Option<String>,
    /// Bytes.
    pub size: u64,
    /// Lowercase hex SHA-256.
    pub sha256: String,
}

/// A document of the archive as the API lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveEntry {
    /// Its place in the archive's order (the paging key).
    pub seq: i64,
    /// The sender whose inbox it came from.
    pub sender_id: i64,
    /// The document itself.
    pub file: ArchiveFile,
    /// Its attachments, in Digipost's order.
    pub attachments: Vec<ArchiveFile>,
    /// When it was archived (Unix seconds).
    pub archived_at: i64,
    /// When Digipost confirmed its deletion (Unix seconds), if it has.
    pub deleted_remotely_at: Option<i64>,
    /// Who took it over, if anyone has.
    pub ack: Option<Ack>,
}

/// An acknowledgement, and whether this request made it.
#[derive(Debug, Clone, PartialEq)]
pub struct DigipostAcked {
    /// The acknowledgement on record (the first one, for a repeat).
    pub ack: Ack,
    /// Whether it was recorded now.
    pub new: bool,
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Store {
    /// Whether the document `id` of `sender_id` is archived.
    pub fn digipost_is_archived(&mut self, sender_id: i64, id: i64) -> Result<bool, StoreError> {
        let found = self
            .conn()
            .query_row(
                "SELECT 1 FROM digipost_documents WHERE sender_id = ?1 AND id = ?2",
                params![sender_id, id],
                |_| Ok(()),
            )
            .optional();
        found.map(|f| f.is_some()).map_err(|e| self.error(e))
    }

    /// Archive a document and its attachments in one transaction, committed (and so fsynced)
    /// before this returns. Returns false, writing nothing, when the document is archived
    /// already.
    pub fn digipost_archive(
        &mut self,
        sender_id: i64,
        document: &NewDocument,
        attachments: &[NewDocument],
        now: i64,
    ) -> Result<bool, StoreError> {
        let result = (|| {
            let tx = self.conn().transaction()?;
            let exists = tx
                .query_row(
                    "SELECT 1 FROM digipost_documents WHERE sender_id = ?1 AND id = ?2",
                    params![sender_id, document.id],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if exists {
                return Ok(false);
            }
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO digipost_documents
                     (sender_id, id, parent_id, position, metadata, content_type, content, content_sha256, archived_at, seq)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,
                             (SELECT COALESCE(MAX(seq), 0) + 1 FROM digipost_documents))",
                )?;
                let mut put = |d: &NewDocument, parent: Option<i64>, position: usize| {
                    insert.execute(params![
                        sender_id,
                        d.id,
                        parent,
                        position as i64,
                        d.metadata.to_string(),
                        d.content_type,
                        d.content,
                        sha256_hex(&d.content),
                        now
                    ])
                };
                put(document, None, 0)?;
                for (i, a) in attachments.iter().enumerate() {
                    put(a, Some(document.id), i + 1)?;
                }
            }
            let subject = format!("{sender_id}/{}", document.id);
            super::events::record(
                &tx,
                &super::events::NewEvent {
                    kind: super::events::EventType::DigipostDocumentArchived,
                    at: now,
                    mailbox: None,
                    subject: &subject,
                    payload: serde_json::json!({
                        "senderId": sender_id,
                        "documentId": document.id,
                        "attachments": attachments.len(),
                    }),
                },
            )?;
            tx.commit()?;
            Ok(true)
        })();
        result.map_err(|e| self.error(e))
    }

    /// Record that Digipost confirmed the deletion of document `id`.
    pub fn digipost_mark_deleted(
        &mut self,
        sender_id: i64,
        id: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let r = self.conn().execute(
            "UPDATE digipost_documents SET deleted_remotely_at = ?3
             WHERE sender_id = ?1 AND id = ?2 AND deleted_remotely_at IS NULL",
            params![sender_id, id, now],
        );
        r.map(drop).map_err(|e| self.error(e))
    }

    /// The documents (not attachments) of `sender_id` archived but not yet deleted in
    /// Digipost, oldest archived first, each with its metadata (JSON text), which holds where
    /// to delete it.
    pub fn digipost_pending_deletes(
        &mut self,
        sender_id: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let r = (|| {
            let mut q = self.conn().prepare_cached(
                "SELECT id, metadata FROM digipost_documents
                 WHERE sender_id = ?1 AND parent_id IS NULL AND deleted_remotely_at IS NULL
                 ORDER BY archived_at, id",
            )?;
            let ids = q
                .query_map([sender_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<(i64, String)>, _>>()?;
            Ok(ids)
        })();
        r.map_err(|e| self.error(e))
    }

    /// Note that a sync of `sender_id` starts. Returns whether the previous one finished
    /// (true also when there was none): only then may this one stop at the first document it
    /// finds archived, since a sync that crashed may have archived newer documents but not
    /// older ones.
    pub fn digipost_begin_sync(&mut self, sender_id: i64, now: i64) -> Result<bool, StoreError> {
        let r = (|| {
            let tx = self.conn().transaction()?;
            let previous: Option<Option<i64>> = tx
                .query_row(
                    "SELECT finished_at FROM digipost_sync_runs WHERE sender_id = ?1",
                    [sender_id],
                    |r| r.get(0),
                )
                .optional()?;
            tx.execute(
                "INSERT INTO digipost_sync_runs (sender_id, started_at, finished_at) VALUES (?1, ?2, NULL)
                 ON CONFLICT(sender_id) DO UPDATE SET started_at = excluded.started_at, finished_at = NULL",
                params![sender_id, now],
            )?;
            tx.commit()?;
            Ok(previous.is_none_or(|finished| finished.is_some()))
        })();
        r.map_err(|e| self.error(e))
    }

    /// Note that the sync of `sender_id` walked the whole inbox (down to the end, or to a
    /// document a finished sync archived).
    pub fn digipost_finish_sync(&mut self, sender_id: i64, now: i64) -> Result<(), StoreError> {
        let r = self.conn().execute(
            "UPDATE digipost_sync_runs SET finished_at = ?2 WHERE sender_id = ?1",
            params![sender_id, now],
        );
        r.map(drop).map_err(|e| self.error(e))
    }

    /// One archived document or attachment.
    pub fn digipost_get(
        &mut self,
        sender_id: i64,
        id: i64,
    ) -> Result<Option<ArchivedDocument>, StoreError> {
        let r = self
            .conn()
            .query_row(
                &format!("{SELECT} WHERE sender_id = ?1 AND id = ?2"),
                params![sender_id, id],
                row,
            )
            .optional();
        let found = r.map_err(|e| self.error(e))?;
        found.map(|r| self.decode(r)).transpose()
    }

    /// Everything archived for `sender_id`: documents and attachments, by id.
    pub fn digipost_all(&mut self, sender_id: i64) -> Result<Vec<ArchivedDocument>, StoreError> {
        let r = (|| {
            let mut q = self
                .conn()
                .prepare(&format!("{SELECT} WHERE sender_id = ?1 ORDER BY id"))?;
            let rows = q
                .query_map([sender_id], row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })();
        let rows = r.map_err(|e| self.error(e))?;
        rows.into_iter().map(|r| self.decode(r)).collect()
    }

    /// How many documents and attachments are archived for `sender_id`.
    pub fn digipost_count(&mut self, sender_id: i64) -> Result<u64, StoreError> {
        let r = self.conn().query_row(
            "SELECT COUNT(*) FROM digipost_documents WHERE sender_id = ?1",
            [sender_id],
            |r| r.get::<_, i64>(0),
        );
        r.map(|n| n as u64).map_err(|e| self.error(e))
    }

    /// A page of archived documents (not attachments) in `seq` order, for the platform API.
    pub fn digipost_feed(&mut self, q: &ArchiveQuery) -> Result<Vec<ArchiveEntry>, StoreError> {
        let state = match q.state {
            AckState::Pending => "AND a.id IS NULL",
            AckState::Acknowledged => "AND a.id IS NOT NULL",
            AckState::All => "",
        };
        let r = (|| {
            let sql = format!(
                "{ENTRY} WHERE d.parent_id IS NULL AND d.seq > ?1 AND (CAST(?2 AS BIGINT) IS NULL OR d.sender_id = ?2)
                 AND (CAST(?4 AS BIGINT) IS NULL OR d.archived_at >= ?4) {state}
                 ORDER BY d.seq LIMIT ?3"
            );
            let mut q_ = self.conn().prepare(&sql)?;
            let rows = q_
                .query_map(params![q.after, q.sender_id, q.limit, q.since], entry_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })();
        let rows = r.map_err(|e| self.error(e))?;
        rows.into_iter().map(|r| self.complete(r)).collect()
    }

    /// One archived document (not an attachment) by Digipost's id, for the platform API.
    /// Digipost's ids are unique across its inboxes; were one archived for two senders,
    /// the first archived answers.
    pub fn digipost_document(&mut self, id: i64) -> Result<Option<ArchiveEntry>, StoreError> {
        let r = self
            .conn()
            .query_row(
                &format!("{ENTRY} WHERE d.parent_id IS NULL AND d.id = ?1 ORDER BY d.seq LIMIT 1"),
                [id],
                entry_row,
            )
            .optional();
        let found = r.map_err(|e| self.error(e))?;
        found.map(|r| self.complete(r)).transpose()
    }

    /// One archived document or attachment, with its content, by Digipost's id.
    pub fn digipost_by_id(&mut self, id: i64) -> Result<Option<ArchivedDocument>, StoreError> {
        let r = self
            .conn()
            .query_row(
                &format!("{SELECT} WHERE id = ?1 ORDER BY seq LIMIT 1"),
                [id],
                row,
            )
            .optional();
        let found = r.map_err(|e| self.error(e))?;
        found.map(|r| self.decode(r)).transpose()
    }

    /// Record that `actor` took over document `id`, committed before this returns. A repeat
    /// changes nothing and answers the first acknowledgement. `None` when no such document
    /// (attachments are acknowledged with their document) is archived.
    pub fn digipost_ack(
        &mut self,
        id: i64,
        actor: &str,
        case_reference: Option<&str>,
        now: i64,
    ) -> Result<Option<DigipostAcked>, StoreError> {
        let r = (|| {
            let tx = self.conn().transaction()?;
            let sender: Option<i64> = tx
                .query_row(
                    "SELECT sender_id FROM digipost_documents WHERE id = ?1 AND parent_id IS NULL
                     ORDER BY seq LIMIT 1",
                    [id],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(sender) = sender else {
                return Ok(None);
            };
            let new = tx.execute(
                "INSERT INTO digipost_acks (sender_id, id, actor, acked_at, case_reference)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                params![sender, id, actor, now, case_reference],
            )? == 1;
            let ack = tx.query_row(
                "SELECT actor, acked_at, case_reference FROM digipost_acks WHERE sender_id = ?1 AND id = ?2",
                params![sender, id],
                |r| {
                    Ok(Ack {
                        actor: r.get(0)?,
                        at: r.get(1)?,
                        case_reference: r.get(2)?,
                    })
                },
            )?;
            tx.commit()?;
            Ok(Some(DigipostAcked { ack, new }))
        })();
        r.map_err(|e| self.error(e))
    }

    /// `entry` with its metadata read and its attachments added.
    fn complete(
        &mut self,
        (mut e, metadata): (ArchiveEntry, String),
    ) -> Result<ArchiveEntry, StoreError> {
        e.file.metadata = self.json(e.file.id, &metadata)?;
        let r = (|| {
            let mut q = self.conn().prepare_cached(
                "SELECT id, metadata, content_type, length(content), content_sha256
                 FROM digipost_documents WHERE sender_id = ?1 AND parent_id = ?2 ORDER BY position",
            )?;
            let rows = q
                .query_map(params![e.sender_id, e.file.id], |r| {
                    Ok((
                        ArchiveFile {
                            id: r.get(0)?,
                            metadata: serde_json::Value::Null,
                            content_type: r.get(2)?,
                            size: r.get::<_, i64>(3)? as u64,
                            sha256: r.get(4)?,
                        },
                        r.get::<_, String>(1)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })();
        for (mut a, metadata) in r.map_err(|e| self.error(e))? {
            a.metadata = self.json(a.id, &metadata)?;
            e.attachments.push(a);
        }
        Ok(e)
    }

    fn json(&self, id: i64, text: &str) -> Result<serde_json::Value, StoreError> {
        serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
            path: self.path().to_owned(),
            what: format!("document {id}: metadata is not JSON: {e}"),
        })
    }

    fn decode(
        &self,
        (doc, metadata): (ArchivedDocument, String),
    ) -> Result<ArchivedDocument, StoreError> {
        let metadata = serde_json::from_str(&metadata).map_err(|e| StoreError::Corrupt {
            path: self.path().to_owned(),
            what: format!("document {}: metadata is not JSON: {e}", doc.id),
        })?;
        Ok(ArchivedDocument { metadata, ..doc })
    }
}

const SELECT: &str = "SELECT sender_id, id, parent_id, metadata, content_type, content, content_sha256, \
                      archived_at, deleted_remotely_at FROM digipost_documents";

const ENTRY: &str = "SELECT d.seq, d.sender_id, d.id, d.metadata, d.content_type, length(d.content), \
                     d.content_sha256, d.archived_at, d.deleted_remotely_at, a.actor, a.acked_at, a.case_reference \
                     FROM digipost_documents d \
                     LEFT JOIN digipost_acks a ON a.sender_id = d.sender_id AND a.id = d.id";

fn entry_row(r: &super::sql::Row<'_>) -> super::sql::Result<(ArchiveEntry, String)> {
    let actor: Option<String> = r.get(9)?;
    Ok((
        ArchiveEntry {
            seq: r.get(0)?,
            sender_id: r.get(1)?,
            file: ArchiveFile {
                id: r.get(2)?,
                metadata: serde_json::Value::Null,
                content_type: r.get(4)?,
                size: r.get::<_, i64>(5)? as u64,
                sha256: r.get(6)?,
            },
            attachments: Vec::new(),
            archived_at: r.get(7)?,
            deleted_remotely_at: r.get(8)?,
            ack: match actor {
                Some(actor) => Some(Ack {
                    actor,
                    at: r.get(10)?,
                    case_reference: r.get(11)?,
                }),
                None => None,
            },
        },
        r.get(3)?,
    ))
}

fn row(r: &super::sql::Row<'_>) -> super::sql::Result<(ArchivedDocument, String)> {
    Ok((
        ArchivedDocument {
            sender_id: r.get(0)?,
            id: r.get(1)?,
            parent_id: r.get(2)?,
            metadata: serde_json::Value::Null,
            content_type: r.get(4)?,
            content: r.get(5)?,
            content_sha256: r.get(6)?,
            archived_at: r.get(7)?,
            deleted_remotely_at: r.get(8)?,
        },
        r.get(3)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: i64, content: &[u8]) -> NewDocument {
        NewDocument {
            id,
            metadata: serde_json::json!({"id": id}),
            content_type: Some("text/plain".into()),
            content: content.to_vec(),
        }
    }

    #[test]
    fn archive_once_delete_later_and_sync_runs() {
        let dir = std::env::temp_dir().join(format!("dpost-archive-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.db");
        let _ = std::fs::remove_file(&path);
        let mut s = Store::open(&path).unwrap();
        assert!(s.digipost_begin_sync(7, 1).unwrap(), "no previous run");
        assert!(
            s.digipost_archive(7, &doc(1, b"one"), &[doc(2, b"att")], 10)
                .unwrap()
        );
        assert!(
            !s.digipost_archive(7, &doc(1, b"other"), &[], 11).unwrap(),
            "archived once"
        );
        assert!(s.digipost_is_archived(7, 2).unwrap());
        assert_eq!(
            s.digipost_pending_deletes(7).unwrap(),
            vec![(1, r#"{"id":1}"#.to_owned())]
        );
        assert!(
            !s.digipost_begin_sync(7, 2).unwrap(),
            "the previous run did not finish"
        );
        s.digipost_finish_sync(7, 3).unwrap();
        assert!(s.digipost_begin_sync(7, 4).unwrap());
        s.digipost_mark_deleted(7, 1, 20).unwrap();
        assert!(s.digipost_pending_deletes(7).unwrap().is_empty());
        let a = s.digipost_get(7, 2).unwrap().unwrap();
        assert_eq!(
            (a.parent_id, a.content.as_slice()),
            (Some(1), b"att".as_slice())
        );
        assert_eq!(a.content_sha256, sha256_hex(b"att"));
        assert_eq!(s.digipost_all(7).unwrap().len(), 2);
        // The platform's view: documents only, in archiving order, until acknowledged.
        assert!(s.digipost_archive(7, &doc(3, b"three"), &[], 30).unwrap());
        let all = ArchiveQuery {
            limit: 10,
            ..ArchiveQuery::default()
        };
        let page = s.digipost_feed(&all).unwrap();
        assert_eq!(page.iter().map(|e| e.file.id).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(page[0].attachments.len(), 1);
        assert_eq!(page[0].attachments[0].size, 3);
        assert!(page[0].seq < page[1].seq);
        let after = ArchiveQuery {
            after: page[0].seq,
            ..all.clone()
        };
        assert_eq!(s.digipost_feed(&after).unwrap()[0].file.id, 3);
        let since = ArchiveQuery {
            since: Some(30),
            ..all.clone()
        };
        let since: Vec<_> = s.digipost_feed(&since).unwrap();
        assert_eq!(since.iter().map(|e| e.file.id).collect::<Vec<_>>(), [3]);
        let first = s
            .digipost_ack(1, "api:x", Some("K-1"), 40)
            .unwrap()
            .unwrap();
        assert!(first.new);
        let again = s.digipost_ack(1, "api:y", None, 41).unwrap().unwrap();
        assert!(!again.new);
        assert_eq!(again.ack, first.ack);
        assert!(
            s.digipost_ack(2, "api:x", None, 42).unwrap().is_none(),
            "an attachment"
        );
        assert!(s.digipost_ack(99, "api:x", None, 42).unwrap().is_none());
        let pending = ArchiveQuery {
            state: AckState::Pending,
            ..all.clone()
        };
        assert_eq!(s.digipost_feed(&pending).unwrap().len(), 1);
        assert_eq!(
            s.digipost_document(1).unwrap().unwrap().ack,
            Some(first.ack)
        );
        assert!(s.digipost_document(2).unwrap().is_none());
        assert_eq!(s.digipost_by_id(2).unwrap().unwrap().content, b"att");
        assert_eq!(s.digipost_count(8).unwrap(), 0);
        drop(s);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
