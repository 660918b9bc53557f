//! Conflicting copies: a message delivered again under a messageUUID dpost has stored, with
//! other content. NgDP is still answered 200 (it must stop resending, and the first copy is
//! the one acknowledged), but the copy does not vanish: its SHA-256, size and arrival are
//! recorded with the message, once per distinct content, and its bytes are kept beside the
//! message while that stays bounded (`ngdp::conflicts`).

use super::sql::{OptionalExtension as _, params};

use super::{Store, StoreError};

/// A conflicting copy as recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConflictingCopy {
    /// When it arrived (unix seconds).
    pub received_at: i64,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// The kept copy, relative to the message's folder; `None` when its bytes were not kept.
    pub path: Option<String>,
}

/// What the store holds for a messageUUID, to tell a resend from a conflicting copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCopy {
    /// The SHA-256 of the MeMo stored first.
    pub sha256: String,
    /// The message's folder.
    pub dir: String,
    /// Conflicting copies recorded before.
    pub conflicts: Vec<ConflictingCopy>,
}

impl Store {
    /// The stored copy of `uuid` and its conflicting copies; `None` when it is not stored.
    pub fn ngdp_stored_copy(&mut self, uuid: &str) -> Result<Option<StoredCopy>, StoreError> {
        let uuid = uuid.trim().to_ascii_lowercase();
        let found = self
            .conn()
            .query_row(
                "SELECT raw_sha256, dir FROM ngdp_messages WHERE uuid = ?1",
                [&uuid],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()
            .map_err(|e| self.error(e))?;
        let Some((sha256, dir)) = found else {
            return Ok(None);
        };
        Ok(Some(StoredCopy {
            sha256,
            dir,
            conflicts: self.ngdp_conflicts(&uuid)?,
        }))
    }

    /// The conflicting copies of `uuid`, oldest first.
    pub fn ngdp_conflicts(&mut self, uuid: &str) -> Result<Vec<ConflictingCopy>, StoreError> {
        let result = (|| {
            let mut q = self.conn().prepare_cached(
                "SELECT received_at, size, sha256, path FROM ngdp_conflicts WHERE message_uuid = ?1 ORDER BY id",
            )?;
            let rows = q.query_map([uuid.trim().to_ascii_lowercase()], |r| {
                Ok(ConflictingCopy {
                    received_at: r.get(0)?,
                    size: r.get::<_, i64>(1)? as u64,
                    sha256: r.get(2)?,
                    path: r.get(3)?,
                })
            })?;
            rows.collect::<Result<Vec<_>, _>>()
        })();
        result.map_err(|e| self.error(e))
    }

    /// Record a conflicting copy of `uuid` (committed before this returns).
    pub fn ngdp_record_conflict(
        &mut self,
        uuid: &str,
        copy: &ConflictingCopy,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO ngdp_conflicts (message_uuid, received_at, size, sha256, path) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    uuid.trim().to_ascii_lowercase(),
                    copy.received_at,
                    copy.size as i64,
                    copy.sha256,
                    copy.path
                ],
            )
            .map(|_| ())
            .map_err(|e| self.error(e))
    }
}
