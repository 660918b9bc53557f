//! What the simulator has done: deliveries and their attempts, receipts received, messages
//! deleted. One lock around plain data; every handler holds it for a few assignments only.

use std::sync::{Mutex, PoisonError};

use serde::Serialize;

/// One delivery NgDP pushes: a message to the message endpoint, or a receipt file to the
/// receipt endpoint.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PushRecord {
    /// The file's name in its folder.
    pub file: String,
    /// The message's UUID (for messages; absent for receipt files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Attempts made so far.
    pub attempts: u32,
    /// The HTTP status of the last attempt; `None` before the first, or when it got no
    /// answer (see `last_error`).
    pub last_status: Option<u16>,
    /// Why the last attempt failed, when it did.
    pub last_error: Option<String>,
    /// Delivered: the last attempt was answered 200.
    pub done: bool,
    /// Given up: every attempt failed.
    pub exhausted: bool,
}

impl PushRecord {
    /// A delivery not yet attempted.
    pub fn pending(file: String, uuid: Option<String>) -> Self {
        PushRecord {
            file,
            uuid,
            attempts: 0,
            last_status: None,
            last_error: None,
            done: false,
            exhausted: false,
        }
    }

    /// Finished either way.
    pub fn is_settled(&self) -> bool {
        self.done || self.exhausted
    }
}

/// A business receipt the receiving system posted.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReceivedReceipt {
    /// The UUID in the request path.
    pub uuid: String,
    /// Whether one of the simulator's messages has that UUID.
    pub known: bool,
    /// When it arrived, seconds since the Unix epoch (the simulator's clock).
    pub received_at: i64,
    /// The receipt as posted.
    pub receipt: serde_json::Value,
}

/// A message a sending system posted (`POST /apis/v1/memos/?memo-message-uuid=…`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SentMessage {
    /// The messageUUID, as in the request.
    pub uuid: String,
    /// Size of the stored copy.
    pub bytes: u64,
    /// POSTs accepted for this UUID (a resend is counted, never stored twice).
    pub posts: u32,
}

/// Everything `GET /_sim/status` shows.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Status {
    /// Messages pushed to the receiving system, in file order (empty without a target).
    pub messages: Vec<PushRecord>,
    /// Receipts the receiving system posted, in arrival order.
    pub receipts_received: Vec<ReceivedReceipt>,
    /// Receipt files pushed to the receiving system, in file order.
    pub receipts_pushed: Vec<PushRecord>,
    /// UUIDs deleted through the pull API, in the order they were deleted.
    pub deleted: Vec<String>,
    /// Messages sending systems posted, one per UUID, in arrival order.
    pub sent: Vec<SentMessage>,
}

/// Which delivery a push task updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// `messages[i]`.
    Message(usize),
    /// `receipts_pushed[i]`.
    Receipt(usize),
}

/// The shared, mutable part of the simulator.
#[derive(Debug, Default)]
pub struct State {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    status: Status,
    /// Per message file: removed from the pull listing.
    deleted: Vec<bool>,
    /// The bytes of each sent message, by lower-case UUID.
    sent_bytes: std::collections::HashMap<String, bytes::Bytes>,
}

impl State {
    /// State for `messages` message files (all listed), with these deliveries pending.
    pub fn new(messages: usize, pushes: Vec<PushRecord>, receipt_pushes: Vec<PushRecord>) -> Self {
        State {
            inner: Mutex::new(Inner {
                status: Status {
                    messages: pushes,
                    receipts_pushed: receipt_pushes,
                    ..Status::default()
                },
                deleted: vec![false; messages],
                sent_bytes: Default::default(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The data stays consistent at every await-free step, so a panic elsewhere leaves
        // nothing half-written.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A copy of everything.
    pub fn status(&self) -> Status {
        self.lock().status.clone()
    }

    /// Change one delivery's record.
    pub fn update(&self, delivery: Delivery, f: impl FnOnce(&mut PushRecord)) {
        let mut inner = self.lock();
        let list = match delivery {
            Delivery::Message(_) => &mut inner.status.messages,
            Delivery::Receipt(_) => &mut inner.status.receipts_pushed,
        };
        let (Delivery::Message(i) | Delivery::Receipt(i)) = delivery;
        if let Some(record) = list.get_mut(i) {
            f(record);
        }
    }

    /// Whether message file `index` is still listed.
    pub fn is_listed(&self, index: usize) -> bool {
        self.lock().deleted.get(index).is_some_and(|d| !d)
    }

    /// The indexes of the message files still listed, in order.
    pub fn listed(&self) -> Vec<usize> {
        let inner = self.lock();
        (0..inner.deleted.len())
            .filter(|i| !inner.deleted[*i])
            .collect()
    }

    /// Remove message file `index` (UUID `uuid`) from the listing; false if it was not listed.
    pub fn delete(&self, index: usize, uuid: &str) -> bool {
        let mut inner = self.lock();
        match inner.deleted.get_mut(index) {
            Some(d) if !*d => {
                *d = true;
                inner.status.deleted.push(uuid.to_owned());
                true
            }
            _ => false,
        }
    }

    /// Keep a posted message once per UUID; a repeat only counts the post. Returns whether
    /// this was the first copy.
    pub fn add_sent(&self, uuid: &str, body: bytes::Bytes) -> bool {
        let mut inner = self.lock();
        let key = uuid.to_ascii_lowercase();
        if let Some(m) = inner
            .status
            .sent
            .iter_mut()
            .find(|m| m.uuid.eq_ignore_ascii_case(uuid))
        {
            m.posts += 1;
            return false;
        }
        inner.status.sent.push(SentMessage {
            uuid: uuid.to_owned(),
            bytes: body.len() as u64,
            posts: 1,
        });
        inner.sent_bytes.insert(key, body);
        true
    }

    /// The bytes of a sent message.
    pub fn sent_message(&self, uuid: &str) -> Option<bytes::Bytes> {
        self.lock()
            .sent_bytes
            .get(&uuid.to_ascii_lowercase())
            .cloned()
    }

    /// Keep a receipt the receiving system posted.
    pub fn add_receipt(&self, receipt: ReceivedReceipt) {
        self.lock().status.receipts_received.push(receipt);
    }
}
