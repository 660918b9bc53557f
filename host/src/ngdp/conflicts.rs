//! A messageUUID delivered again with other content. The first copy is the message (it was
//! acknowledged, its business receipt is owed); NgDP is answered 200 again so that it stops
//! resending (`docs/design.md`: a repeated messageUUID is stored once and answered 200). The
//! other copy is recorded on the message, logged at warn and counted, so an operator can see
//! that a sender reused a UUID, and compare the two.
//!
//! Bounded: one record per distinct content, and the bytes of at most
//! [`MAX_KEPT_COPIES`] copies per message (each is already limited by `[serve]
//! max_message_bytes`); past that only the hash, size and time are kept.

use std::path::Path;

use super::message_store::{MessageStore, SharedStore};
use super::receive::{ReceiveError, sync_dir};
use crate::store::conflicts::ConflictingCopy;

/// Copies whose bytes are kept, per message.
pub const MAX_KEPT_COPIES: usize = 3;

/// Whether `raw` (the spooled MeMo of a delivery found to be a duplicate of `uuid`) differs
/// from the stored copy; when it does and this content is new, it is recorded, with its
/// bytes moved beside the message while the bound allows. A store failure is an error (the
/// delivery is then answered 503 and NgDP sends it again), so no conflict is lost.
pub fn record_if_conflicting(
    store: &SharedStore,
    uuid: &str,
    raw: &Path,
    size: u64,
    sha256: &str,
    now: i64,
) -> Result<bool, ReceiveError> {
    let mut st = store
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(stored) = st.stored_copy(uuid).map_err(ReceiveError::Store)? else {
        return Ok(false);
    };
    if stored.sha256 == sha256 {
        return Ok(false);
    }
    if stored.conflicts.iter().any(|c| c.sha256 == sha256) {
        tracing::warn!(%uuid, %sha256, size, "a copy with the same messageUUID and other content, seen before, arrived again; answered 200, the first copy stays the message");
        return Ok(true);
    }
    let kept = stored.conflicts.iter().filter(|c| c.path.is_some()).count();
    let path = if kept < MAX_KEPT_COPIES {
        match keep(&mut *st, raw, Path::new(&stored.dir), now, sha256) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(%uuid, error = %e, "the conflicting copy's bytes could not be kept; its hash and size are recorded");
                None
            }
        }
    } else {
        None
    };
    let copy = ConflictingCopy {
        received_at: now,
        size,
        sha256: sha256.to_owned(),
        path,
    };
    st.record_conflict(uuid, &copy)
        .map_err(ReceiveError::Store)?;
    tracing::warn!(%uuid, %sha256, size, stored_sha256 = %stored.sha256, kept = copy.path.as_deref().unwrap_or("no"),
        "a message with a stored messageUUID and other content arrived; answered 200, the first copy stays the message and this one is recorded with it");
    Ok(true)
}

/// Move the spooled copy into `<message dir>/conflicts/` (into the store, where it keeps
/// the files' bytes); its path relative to the message folder.
fn keep(
    store: &mut dyn MessageStore,
    raw: &Path,
    message_dir: &Path,
    now: i64,
    sha256: &str,
) -> Result<String, String> {
    let dir = message_dir.join("conflicts");
    let name = format!("{now}-{}.xml", &sha256[..16.min(sha256.len())]);
    if store.holds_file_bytes() {
        store
            .put_file(&dir.join(&name), raw)
            .map_err(|e| e.to_string())?;
    } else {
        (|| {
            crate::store::permissions::create_private_dir(&dir)?;
            std::fs::rename(raw, dir.join(&name))?;
            sync_dir(&dir)
        })()
        .map_err(|e: std::io::Error| e.to_string())?;
    }
    Ok(format!("conflicts/{name}"))
}
