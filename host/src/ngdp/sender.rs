//! The sender task of `dpost serve`: sends what the platform API queued
//! (`store::outgoing`). One message due alone goes as `POST memos/?memo-message-uuid=`;
//! several due for the same system go as one batch (`ngdp::batch`). Each round makes one POST
//! per group and records it; a network error or 5xx puts the messages back in the queue with
//! the outbox's backoff, until their give-up time, after which they are `failed` with the
//! reason and wait for someone to retry them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use super::client::NgdpClient;
use super::outbox::backoff_seconds;
use super::send::{self, Attempt, Member};
use crate::clock::Clock;
use crate::config::ngdp::NgdpSettings;
use crate::runtime::pool::InstancePool;
use crate::store::outgoing::{Outgoing, SendResult};
use crate::store::{Store, StoreError};

/// Messages taken per round (and so the largest batch).
const ROUND: u32 = 100;
/// How often the task looks for due messages when nothing wakes it.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// What the sender runs on.
pub struct Sender {
    /// Its own connection to the store.
    pub store: Arc<Mutex<Store>>,
    /// Clients for NgDP's API, by system.
    pub clients: BTreeMap<String, NgdpClient>,
    /// The systems (their batch upload form).
    pub settings: Arc<NgdpSettings>,
    /// For reading NgDP's answers.
    pub pool: Arc<InstancePool>,
    /// The host's clock.
    pub clock: Arc<dyn Clock>,
    /// Where batches are spooled while encoded.
    pub spool_dir: PathBuf,
    /// How long a claim on a message lasts: `[serve] claim_seconds`, else
    /// [`super::outbox::CLAIM_SECONDS`].
    pub claim_seconds: i64,
}

/// Why a round could not run.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A blocking store call did not finish.
    #[error("a store call did not finish: {0}")]
    Join(#[from] tokio::task::JoinError),
}

impl Sender {
    async fn with_store<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, SenderError> {
        let store = self.store.clone();
        Ok(tokio::task::spawn_blocking(move || {
            f(&mut store.lock().unwrap_or_else(PoisonError::into_inner))
        })
        .await??)
    }

    /// One round: take what is due, POST it (one message alone, several per system as a
    /// batch), record the outcome. Returns how many messages were taken.
    ///
    /// Several `dpost serve` may share the store: what is taken is claimed by this sender
    /// for `claim_seconds` (longer than one POST can take), renewed before each POST for
    /// the messages not posted yet. A message whose claim another sender took over meanwhile
    /// (this one stalled past its claim) is left to that sender, never posted twice at once.
    pub async fn round(&self) -> Result<usize, SenderError> {
        let now = self.clock.now_unix();
        let mut held = now + self.claim_seconds;
        let due = self
            .with_store(move |s| s.outgoing_take_due(now, held, ROUND))
            .await?;
        let taken = due.len();
        let mut mine: Vec<i64> = due.iter().map(|o| o.seq).collect();
        let mut by_system: BTreeMap<String, Vec<Outgoing>> = BTreeMap::new();
        for o in due {
            by_system.entry(o.system_id.clone()).or_default().push(o);
        }
        for (k, (system, group)) in by_system.into_iter().enumerate() {
            if k > 0 {
                // Every message not posted yet, so none runs out while earlier groups post;
                // one lost is never renewed again.
                let rest = std::mem::take(&mut mine);
                let until = self.clock.now_unix() + self.claim_seconds;
                mine = self
                    .with_store(move |s| s.outgoing_renew_claim(&rest, held, until))
                    .await?;
                held = until;
            }
            let (kept, lost): (Vec<Outgoing>, Vec<Outgoing>) =
                group.into_iter().partition(|o| mine.contains(&o.seq));
            for o in &lost {
                tracing::info!(uuid = %o.uuid, %system, "another sender took this message over");
            }
            mine.retain(|seq| !kept.iter().any(|o| o.seq == *seq));
            if !kept.is_empty() {
                self.send_group(&system, kept).await?;
            }
        }
        Ok(taken)
    }

    async fn send_group(&self, system: &str, group: Vec<Outgoing>) -> Result<(), SenderError> {
        let uuids: Vec<String> = group.iter().map(|o| o.uuid.clone()).collect();
        let (attempt, copies) = match self.local_copies(&group).await? {
            Ok(copies) => (self.post_group(system, &group, &copies).await, copies),
            Err(reason) => (Attempt::Retry(reason), LocalCopies::default()),
        };
        drop(copies);
        self.record(system, &group, uuids, attempt).await
    }

    /// Where each message of `group` can be read from this machine's disk: its own file on
    /// SQLite; on PostgreSQL, a copy in this replica's spool, written from the store's pieces
    /// (bounded memory) and removed when the copies are dropped. `Err` with the reason when a
    /// message's bytes cannot be read from the store (the attempt is then retried).
    async fn local_copies(
        &self,
        group: &[Outgoing],
    ) -> Result<Result<LocalCopies, String>, SenderError> {
        let stored: Vec<(String, PathBuf)> = group
            .iter()
            .map(|o| (o.uuid.clone(), PathBuf::from(&o.path)))
            .collect();
        let spool = self.spool_dir.clone();
        self.with_store(move |s| {
            let mut copies = LocalCopies::default();
            if !s.holds_file_bytes() {
                copies.paths = stored.into_iter().map(|(_, p)| p).collect();
                return Ok(Ok(copies));
            }
            for (uuid, path) in stored {
                let local = spool.join(format!("sending-{}.xml", uuid::Uuid::new_v4()));
                copies.temporary.push(local.clone());
                let written = crate::store::permissions::create_private(&local)
                    .map_err(|e| format!("{}: {e}", local.display()))
                    .and_then(|f| {
                        let mut out = std::io::BufWriter::new(f);
                        s.copy_file_to(&path, &mut out)
                            .map_err(|e| e.to_string())
                            .and_then(|_| {
                                std::io::Write::flush(&mut out)
                                    .map_err(|e| format!("{}: {e}", local.display()))
                            })
                    });
                if let Err(e) = written {
                    return Ok(Err(format!(
                        "message {uuid} cannot be read from the store: {e}"
                    )));
                }
                copies.paths.push(local);
            }
            Ok(Ok(copies))
        })
        .await
    }

    /// POST `group` (one message alone, several as a batch), each read from `copies`.
    async fn post_group(&self, system: &str, group: &[Outgoing], copies: &LocalCopies) -> Attempt {
        match (
            self.clients.get(system),
            self.settings.systems.iter().find(|s| s.id == system),
        ) {
            (Some(client), Some(settings)) if group.len() > 1 => {
                let members: Vec<Member> = group
                    .iter()
                    .zip(&copies.paths)
                    .map(|(o, path)| Member {
                        uuid: o.uuid.clone(),
                        path: path.clone(),
                    })
                    .collect();
                send::post_batch_once(
                    client,
                    &self.pool,
                    &members,
                    settings.batch_upload,
                    &self.spool_dir,
                )
                .await
            }
            (Some(client), Some(_)) => {
                send::post_once(client, &self.pool, &group[0].uuid, &copies.paths[0]).await
            }
            _ => Attempt::Retry(format!(
                "system {system} is not configured in the {} environment",
                self.settings.environment
            )),
        }
    }

    /// Record what became of `group`'s attempt.
    async fn record(
        &self,
        system: &str,
        group: &[Outgoing],
        uuids: Vec<String>,
        attempt: Attempt,
    ) -> Result<(), SenderError> {
        let now = self.clock.now_unix();
        // Every member of a group has had the same number of attempts only by chance; the
        // backoff follows the most-tried one.
        let tried = group.iter().map(|o| o.attempts).max().unwrap_or(1);
        let (outcome, detail, result) = match attempt {
            Attempt::Taken(body) => {
                let receipt = self
                    .pool
                    .with(|i| send::read_receipt(i, &body))
                    .ok()
                    .flatten()
                    .map(|_| body.clone());
                // One line per message: an operator greps a messageUUID, not a batch.
                for uuid in &uuids {
                    tracing::info!(%uuid, %system, batch = uuids.len(), "message sent to NgDP");
                }
                ("taken", Some(body), SendResult::Sent(receipt))
            }
            // An earlier attempt may have reached NgDP: its "already have it" confirms it.
            Attempt::Duplicate(reason) if tried > 1 => {
                ("duplicate", Some(reason), SendResult::Sent(None))
            }
            Attempt::Duplicate(reason) | Attempt::Refused(reason) => {
                tracing::warn!(count = uuids.len(), %system, %reason, "NgDP refused the send");
                ("refused", Some(reason.clone()), SendResult::Failed(reason))
            }
            Attempt::Retry(reason) => {
                tracing::warn!(count = uuids.len(), %system, %reason, "sending failed; will retry");
                let next = now + backoff_seconds(tried);
                (
                    "retry",
                    Some(reason.clone()),
                    SendResult::Retry { reason, next },
                )
            }
        };
        self.with_store(move |s| {
            s.outgoing_record(&uuids, (outcome, detail.as_deref()), &result, now)
        })
        .await
    }
}

/// The files a group is posted from; the temporary ones (copies out of a PostgreSQL store)
/// are removed when it is dropped, whatever the attempt's outcome.
#[derive(Default)]
struct LocalCopies {
    /// One per message, in the group's order.
    paths: Vec<PathBuf>,
    /// Those to remove.
    temporary: Vec<PathBuf>,
}

impl Drop for LocalCopies {
    fn drop(&mut self) {
        for p in &self.temporary {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Run the sender until the process ends: what a sender that died left `sending` (its claim
/// run out) is queued again first, then a round whenever `wake` fires (a submission) or every
/// second; each round also takes over what a sender of another replica left when it died.
pub async fn run(sender: Sender, wake: Arc<Notify>) {
    let now = sender.clock.now_unix();
    match sender
        .with_store(move |s| s.outgoing_requeue_interrupted(now))
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            count = n,
            "outgoing messages interrupted mid-send are queued again"
        ),
        Err(e) => tracing::error!(error = %e, "the outgoing queue could not be read"),
    }
    loop {
        match sender.round().await {
            // More may be due at once: go on without waiting.
            Ok(n) if n as u32 == ROUND => continue,
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "the outgoing queue could not be read"),
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(IDLE_POLL) => {}
        }
    }
}
