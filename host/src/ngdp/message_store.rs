//! The storage interface the receiving side depends on. The embedded SQLite [`Store`] is one
//! implementation; a PostgreSQL one (for several `dpost serve` replicas sharing a database)
//! implements the same trait, and the pipeline, the outbox and the pull loop do not change.
//!
//! The contract every implementation keeps: [`MessageStore::insert_message`] returns only
//! after the message, its files' records, its routing and its outbox receipt are durable
//! together (all or nothing), because the caller answers NgDP 200 right after it.

use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::bindings::memo_wit;
use crate::store::conflicts::{ConflictingCopy, StoredCopy};
use crate::store::ngdp::{
    DueReceipt, IncomingReceipt, NewMessage, OutboxState, ReceiptFailure, ReceiptStored,
};
use crate::store::{Store, StoreError};

/// A store shared by the listener's tasks.
pub type SharedStore = Arc<Mutex<dyn MessageStore>>;

/// What the NgDP receiving side needs of a store.
pub trait MessageStore: Send {
    /// Whether the store keeps the files' bytes itself ([`crate::store::files`]), so a
    /// message's folder is read into it rather than moved into the data folder.
    fn holds_file_bytes(&self) -> bool;
    /// Copy the local file `source` into the store as the file rows name `path`, durably
    /// (only where [`MessageStore::holds_file_bytes`]).
    fn put_file(&mut self, path: &Path, source: &Path) -> Result<(), StoreError>;
    /// True when a message with this messageUUID (any case) is stored.
    fn has_message(&mut self, uuid: &str) -> Result<bool, StoreError>;
    /// Record a message with its files and the business receipt it is owed, durably and
    /// atomically. False, writing nothing, when the UUID is stored already.
    fn insert_message(&mut self, message: &NewMessage) -> Result<bool, StoreError> {
        Ok(self
            .insert_messages(&[message])?
            .first()
            .copied()
            .unwrap_or(false))
    }
    /// [`MessageStore::insert_message`] for several messages, durable and atomic together
    /// (one commit for all: group commit). One flag per message, false for a stored UUID.
    fn insert_messages(&mut self, messages: &[&NewMessage]) -> Result<Vec<bool>, StoreError>;
    /// Business receipts due for sending at `now`, at most `limit`, oldest first.
    fn due_receipts(&mut self, now: i64, limit: u32) -> Result<Vec<DueReceipt>, StoreError>;
    /// NgDP accepted the receipt for `uuid`: never send it again.
    fn receipt_sent(&mut self, uuid: &str, now: i64) -> Result<(), StoreError>;
    /// An attempt failed: retry at `failure.next`, or never when it gives up.
    fn receipt_failed(&mut self, uuid: &str, failure: &ReceiptFailure) -> Result<(), StoreError>;
    /// Take the pending receipt of `uuid` for sending until `until`; false when another
    /// sender holds it (or it is not pending).
    fn claim_receipt(&mut self, uuid: &str, now: i64, until: i64) -> Result<bool, StoreError>;
    /// How many receipts wait to be sent.
    fn pending_receipts(&mut self) -> Result<u64, StoreError>;
    /// The stored copy of a messageUUID and its conflicting copies, if it is stored.
    fn stored_copy(&mut self, uuid: &str) -> Result<Option<StoredCopy>, StoreError>;
    /// Record a conflicting copy of a stored messageUUID, durably.
    fn record_conflict(&mut self, uuid: &str, copy: &ConflictingCopy) -> Result<(), StoreError>;
    /// Store a receipt NgDP pushed for a message we sent; true when linked to it.
    fn insert_receipt(&mut self, receipt: &IncomingReceipt, now: i64) -> Result<bool, StoreError> {
        Ok(matches!(
            self.store_receipt(receipt, now)?,
            ReceiptStored::New { linked: true }
        ))
    }
    /// Store a receipt NgDP pushed or a system pulled; a pulled receipt whose NgDP id is
    /// stored already is not stored again.
    fn store_receipt(
        &mut self,
        receipt: &IncomingReceipt,
        now: i64,
    ) -> Result<ReceiptStored, StoreError>;
    /// The outbox row of a message: its business receipt's state and its pending deletion.
    fn outbox_state(&mut self, uuid: &str) -> Result<Option<OutboxState>, StoreError>;
    /// Record where a pulled message's `DELETE memos/{id}` stands
    /// ([`crate::store::ngdp::memo_deletion`]).
    fn set_memo_deletion(&mut self, uuid: &str, state: &str) -> Result<(), StoreError>;
}

impl MessageStore for Store {
    fn holds_file_bytes(&self) -> bool {
        Store::holds_file_bytes(self)
    }

    fn put_file(&mut self, path: &Path, source: &Path) -> Result<(), StoreError> {
        Store::put_file(self, path, source).map(|_| ())
    }

    fn has_message(&mut self, uuid: &str) -> Result<bool, StoreError> {
        self.ngdp_has_message(uuid)
    }

    fn insert_messages(&mut self, messages: &[&NewMessage]) -> Result<Vec<bool>, StoreError> {
        self.ngdp_insert_messages(messages)
    }

    fn due_receipts(&mut self, now: i64, limit: u32) -> Result<Vec<DueReceipt>, StoreError> {
        self.ngdp_due_receipts(now, limit)
    }

    fn receipt_sent(&mut self, uuid: &str, now: i64) -> Result<(), StoreError> {
        self.ngdp_receipt_sent(uuid, now)
    }

    fn receipt_failed(&mut self, uuid: &str, failure: &ReceiptFailure) -> Result<(), StoreError> {
        self.ngdp_receipt_failed(uuid, failure)
    }

    fn claim_receipt(&mut self, uuid: &str, now: i64, until: i64) -> Result<bool, StoreError> {
        self.ngdp_claim_receipt(uuid, now, until)
    }

    fn pending_receipts(&mut self) -> Result<u64, StoreError> {
        self.ngdp_pending_receipts()
    }

    fn stored_copy(&mut self, uuid: &str) -> Result<Option<StoredCopy>, StoreError> {
        self.ngdp_stored_copy(uuid)
    }

    fn record_conflict(&mut self, uuid: &str, copy: &ConflictingCopy) -> Result<(), StoreError> {
        self.ngdp_record_conflict(uuid, copy)
    }

    fn store_receipt(
        &mut self,
        receipt: &IncomingReceipt,
        now: i64,
    ) -> Result<ReceiptStored, StoreError> {
        self.ngdp_store_receipt(receipt, now)
    }

    fn outbox_state(&mut self, uuid: &str) -> Result<Option<OutboxState>, StoreError> {
        self.ngdp_outbox_state(uuid)
    }

    fn set_memo_deletion(&mut self, uuid: &str, state: &str) -> Result<(), StoreError> {
        self.ngdp_set_memo_deletion(uuid, state)
    }
}

/// A receipt as the component read it (`json` is the text it was read from), ready to store
/// for `system_id`. The status is kept in NgDP's spelling (`COMPLETED`, `NOT_ALLOWED`); a field
/// the receipt lacks is stored empty (its warnings say so). `ngdp_id` is the id a pulled
/// receipt is listed under.
pub fn incoming_receipt(
    system_id: &str,
    receipt: &memo_wit::ReceivedReceipt,
    json: String,
    ngdp_id: Option<&str>,
) -> IncomingReceipt {
    IncomingReceipt {
        system_id: system_id.to_owned(),
        message_uuid: receipt.message_uuid.clone().unwrap_or_default(),
        receipt_status: receipt
            .receipt_status
            .as_ref()
            .map(|s| {
                crate::memo::json::wit_name(s)
                    .to_ascii_uppercase()
                    .replace('-', "_")
            })
            .unwrap_or_default(),
        error_code: receipt.error_code.clone(),
        error_message: receipt.error_message.clone(),
        time_stamp: receipt.time_stamp.clone().unwrap_or_default(),
        transmission_id: receipt.transmission_id.clone(),
        json,
        ngdp_id: ngdp_id.map(str::to_owned),
        warnings: receipt.warnings.clone(),
    }
}
