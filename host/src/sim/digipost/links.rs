//! The simulator's one-time content links: records of the tokens it issued, each consumed
//! at most once. The component makes every token and judges every presented one; this store
//! only keeps the records and makes "judge, then consume" atomic: both happen under one
//! mutex, so of two racing requests with the same token exactly one gets `ok`.

use std::sync::{Mutex, PoisonError};

use crate::digipost::content_token::{self, ContentLink, ContentTokenError, TokenRecord, Verdict};
use crate::runtime::Instance;

/// Records kept this long past a token's lifetime still answer "expired" rather than "no
/// such token", which is kinder to a person debugging a slow client.
const KEEP_EXPIRED_SECONDS: i64 = 300;

/// Issued tokens not yet used.
#[derive(Debug, Default)]
pub struct LinkStore {
    /// (sender id, record).
    records: Mutex<Vec<(i64, TokenRecord)>>,
}

/// What a presented link is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumed {
    /// It opens the document of this sender; its record is gone.
    Open {
        /// The sender whose document it is.
        sender: i64,
    },
    /// Refused, with the component's verdict.
    Refused(Verdict),
}

impl LinkStore {
    /// Remember a token issued for `sender`'s document.
    pub fn issue(&self, sender: i64, record: TokenRecord) {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((sender, record));
    }

    /// Judge `link` against every live record at `now`, consuming the record it opens.
    /// Every record is judged (in constant time per record) rather than looked up by token,
    /// so the time taken does not depend on how much of a guessed token is right.
    pub fn consume(
        &self,
        instance: &mut Instance,
        link: &ContentLink,
        now: i64,
        lifetime: i64,
    ) -> Result<Consumed, ContentTokenError> {
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        records
            .retain(|(_, r)| now.saturating_sub(r.created_at) <= lifetime + KEEP_EXPIRED_SECONDS);
        let mut answer = Consumed::Refused(Verdict::Mismatch);
        let mut consumed = None;
        for (i, (sender, record)) in records.iter().enumerate() {
            match content_token::judge(instance, link.document_id, &link.token, record, now)? {
                Verdict::Mismatch => continue,
                Verdict::Ok => {
                    answer = Consumed::Open { sender: *sender };
                    consumed = Some(i);
                }
                Verdict::Expired => {
                    answer = Consumed::Refused(Verdict::Expired);
                    consumed = Some(i);
                }
                other => answer = Consumed::Refused(other),
            }
            break;
        }
        if let Some(i) = consumed {
            records.swap_remove(i);
        }
        Ok(answer)
    }

    /// Tokens issued and not yet used or forgotten.
    pub fn live(&self) -> usize {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}
