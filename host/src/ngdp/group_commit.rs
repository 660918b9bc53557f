//! Group commit: the messages that arrive while one commit is under way are made durable
//! together by the next, with one fsync of the `messages/` folder and one SQLite commit.
//!
//! Each message's own files are written and fsynced in parallel by the tasks that receive
//! them; what must be serial is the duplicate check, the move into `messages/` and the commit.
//! Done one message at a time that serial part costs two fsyncs per message and caps the rate
//! at half the disk's fsync rate, whatever the number of connections (BENCHMARKS.md). Here a
//! task queues its message and takes the store's lock; if the task before it already
//! committed the message it returns, otherwise it commits everything queued so far. Nobody
//! waits for a timer, so a lone message is not delayed, and under load batches grow by
//! themselves to what arrived during one commit.
//!
//! Every message in a batch is answered only after the batch's commit returned: the
//! acknowledgement rule (200 only after the data is durable) holds for each of them.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use super::message_store::{MessageStore, SharedStore};
use super::receive::ReceiveError;
use crate::store::ngdp::NewMessage;

/// A message whose files are durable in its spool folder, ready to be moved and recorded.
pub struct Arrival {
    /// The spool folder, moved to `target` when the message is new.
    pub spool: PathBuf,
    /// Its folder under `messages/`.
    pub target: PathBuf,
    /// The records to insert.
    pub message: NewMessage,
}

/// What became of an arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// Moved into place and recorded.
    Stored,
    /// Its UUID was stored before (or earlier in the same batch); nothing was written and the
    /// spool folder is left for the caller to remove.
    Duplicate,
}

type Outcome = Result<Committed, ReceiveError>;

/// Where the leader of a batch leaves one arrival's outcome for the task that queued it.
type Answer = Arc<Mutex<Option<Outcome>>>;

/// The queue of arrivals waiting for a commit; one per store.
#[derive(Default)]
pub struct GroupCommit {
    queue: Mutex<Vec<(Arrival, Answer)>>,
}

impl GroupCommit {
    /// Make `arrival` durable in `store` and `messages_dir` (the data folder's `messages/`),
    /// alone or with whatever else is queued; returns after the commit that holds it.
    pub fn commit(&self, store: &SharedStore, messages_dir: &Path, arrival: Arrival) -> Outcome {
        let answer: Answer = Arc::default();
        lock(&self.queue).push((arrival, Arc::clone(&answer)));
        let mut store = store.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(done) = lock(&answer).take() {
            return done;
        }
        // Not committed by an earlier holder of the lock, so still queued: lead a batch.
        let (arrivals, answers): (Vec<Arrival>, Vec<Answer>) =
            std::mem::take(&mut *lock(&self.queue)).into_iter().unzip();
        let outcomes = commit_batch(&mut *store, messages_dir, arrivals);
        // Every outcome is in place before the lock is let go: a task of this batch that
        // takes the lock next must find its answer, not lead a batch without its message.
        for (a, outcome) in answers.iter().zip(outcomes) {
            *lock(a) = Some(outcome);
        }
        drop(store);
        lock(&answer).take().unwrap_or_else(|| {
            Err(ReceiveError::Commit(
                "the message was lost from the commit queue".into(),
            ))
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One outcome per arrival, in order.
fn commit_batch(
    store: &mut dyn MessageStore,
    messages_dir: &Path,
    arrivals: Vec<Arrival>,
) -> Vec<Outcome> {
    let mut outcomes: Vec<Option<Outcome>> = arrivals.iter().map(|_| None).collect();
    // On PostgreSQL the bytes go into the store with the rows (`store::files`), from the
    // spool folder the caller removes afterwards: nothing is moved, nothing of the data
    // folder is shared between replicas.
    let in_store = store.holds_file_bytes();
    let mut arrivals = arrivals;
    if in_store {
        for a in &mut arrivals {
            let name = a.target.file_name().unwrap_or_default();
            a.message.dir = crate::store::files::key(&Path::new("messages").join(name));
            a.message.bytes_from = Some(a.spool.clone());
        }
    } else if let Err(e) = crate::store::permissions::create_private_dir(messages_dir) {
        return arrivals.iter().map(|_| Err(disk(&e))).collect();
    }
    // Duplicates (stored before, or twice in this batch) and moves into place. A UUID seen
    // earlier in the batch waits for its first arrival's outcome, below: it is a duplicate
    // only if that one is stored.
    let mut first: HashMap<&str, usize> = HashMap::new();
    let mut repeats: Vec<(usize, usize)> = Vec::new();
    let mut moved: Vec<usize> = Vec::new();
    for (i, a) in arrivals.iter().enumerate() {
        if let Some(&earlier) = first.get(a.message.uuid.as_str()) {
            repeats.push((i, earlier));
            continue;
        }
        first.insert(&a.message.uuid, i);
        outcomes[i] = match store.has_message(&a.message.uuid) {
            Err(e) => Some(Err(ReceiveError::Store(e))),
            Ok(true) => Some(Ok(Committed::Duplicate)),
            Ok(false) if in_store => {
                moved.push(i);
                None
            }
            Ok(false) => match move_into_place(&a.spool, &a.target) {
                Ok(()) => {
                    moved.push(i);
                    None
                }
                Err(e) => Some(Err(ReceiveError::Disk(e))),
            },
        };
    }
    if !moved.is_empty() {
        let synced = if in_store {
            Ok(())
        } else {
            crate::ngdp::receive::sync_dir(messages_dir)
        };
        let recorded = synced
            .map_err(|e| ReceiveError::Commit(format!("fsync of {}: {e}", messages_dir.display())))
            .and_then(|()| {
                let rows: Vec<&NewMessage> = moved.iter().map(|&i| &arrivals[i].message).collect();
                store
                    .insert_messages(&rows)
                    .map_err(|e| ReceiveError::Commit(e.to_string()))
            });
        match recorded {
            Ok(flags) => {
                for (&i, inserted) in moved.iter().zip(flags) {
                    outcomes[i] = Some(Ok(if inserted {
                        Committed::Stored
                    } else {
                        Committed::Duplicate
                    }));
                }
            }
            Err(e) => {
                // Nothing of the batch was acknowledged. A folder without its row would only
                // be replaced by the resend, but take it away now where the store says the
                // row is not there (a full disk, a read-only store), so that nothing
                // half-written is left; where the store cannot say, leave it for the resend.
                for &i in &moved {
                    let a = &arrivals[i];
                    if !in_store && matches!(store.has_message(&a.message.uuid), Ok(false)) {
                        let _ = std::fs::remove_dir_all(&a.target);
                    }
                    outcomes[i] = Some(Err(ReceiveError::Commit(e.to_string())));
                }
                if !in_store {
                    let _ = crate::ngdp::receive::sync_dir(messages_dir);
                }
            }
        }
    }
    for (i, earlier) in repeats {
        outcomes[i] = Some(match &outcomes[earlier] {
            Some(Ok(_)) => Ok(Committed::Duplicate),
            Some(Err(e)) => Err(ReceiveError::Commit(format!(
                "the same message, delivered twice at once, was not stored: {e}"
            ))),
            None => Err(ReceiveError::Commit("not committed".into())),
        });
    }
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or(Err(ReceiveError::Commit("not committed".into()))))
        .collect()
}

/// Move a spool folder to its place under `messages/`, replacing a folder a crash left
/// between a move and its commit (never acknowledged, so the resend replaces it).
fn move_into_place(spool: &Path, target: &Path) -> io::Result<()> {
    if target.exists() {
        std::fs::remove_dir_all(target)?;
    }
    std::fs::rename(spool, target)
}

fn disk(e: &io::Error) -> ReceiveError {
    ReceiveError::Disk(io::Error::new(e.kind(), e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::store::Store;

    fn message(uuid: String, dir: &Path) -> NewMessage {
        NewMessage {
            dir: dir.display().to_string(),
            uuid,
            environment: "test".into(),
            system_id: "5b0e8f7a-3c1d-4e2f-9a8b-0c1d2e3f4a5b".into(),
            via: "push",
            received_at: 1_700_000_000,
            valid: true,
            problems: serde_json::json!([]),
            message_id: None,
            label: None,
            sender_id: None,
            sender_label: None,
            recipient_id: None,
            mailbox: "standard".into(),
            contact_point: None,
            routing_reason: serde_json::json!({}),
            header: serde_json::json!({}),
            raw_size: 0,
            raw_sha256: String::new(),
            files: Vec::new(),
            receipt: "{}".into(),
            bytes_from: None,
        }
    }

    /// Many tasks committing at once: every one gets its own answer (a bug once let a task
    /// take the lock between a batch's commit and the hand-out of its answers, and answer
    /// 503 for a message that was stored), every message is stored once, and a message
    /// sent twice in one burst is a duplicate the second time.
    #[test]
    fn concurrent_commits_each_get_their_answer() {
        let root = std::env::temp_dir().join(format!("dpost-group-commit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("spool")).unwrap();
        let store: SharedStore = Arc::new(Mutex::new(Store::open(&root.join("dpost.db")).unwrap()));
        let commits = GroupCommit::default();
        let messages_dir = root.join("messages");
        const THREADS: usize = 8;
        const EACH: usize = 40;
        let outcomes: Vec<Vec<Outcome>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (store, commits, root, messages_dir) =
                        (&store, &commits, &root, &messages_dir);
                    scope.spawn(move || {
                        (0..EACH)
                            .map(|n| {
                                // Thread 0 repeats thread 1's UUIDs: duplicates within bursts.
                                let owner = if t == 0 { 1 } else { t };
                                let uuid = format!("00000000-0000-4000-8000-{owner:06}{n:06}");
                                let spool = root.join("spool").join(format!("{t}-{n}"));
                                std::fs::create_dir_all(&spool).unwrap();
                                let target = messages_dir.join(&uuid);
                                let arrival = Arrival {
                                    message: message(uuid, &target),
                                    spool,
                                    target,
                                };
                                commits.commit(store, messages_dir, arrival)
                            })
                            .collect()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut stored = 0;
        let mut duplicates = 0;
        for outcome in outcomes.into_iter().flatten() {
            match outcome {
                Ok(Committed::Stored) => stored += 1,
                Ok(Committed::Duplicate) => duplicates += 1,
                Err(e) => panic!("a commit failed: {e}"),
            }
        }
        assert_eq!(stored, (THREADS - 1) * EACH);
        assert_eq!(duplicates, EACH);
        let folders = std::fs::read_dir(&messages_dir).unwrap().count();
        assert_eq!(folders, (THREADS - 1) * EACH);
        let _ = std::fs::remove_dir_all(&root);
    }

    /// A message delivered twice in one batch is a duplicate only when its first delivery
    /// is stored: when that one fails, the second must fail too, not be acknowledged.
    #[test]
    fn a_repeat_in_a_batch_shares_the_fate_of_its_first_delivery() {
        let root = std::env::temp_dir().join(format!("dpost-group-repeat-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("spool/second")).unwrap();
        let mut store = Store::open(&root.join("dpost.db")).unwrap();
        let messages_dir = root.join("messages");
        let uuid = "00000000-0000-4000-8000-000000000001".to_owned();
        let target = messages_dir.join(&uuid);
        let arrival = |spool: &str| Arrival {
            // The first one's spool folder is missing, so moving it into place fails.
            spool: root.join("spool").join(spool),
            target: target.clone(),
            message: message(uuid.clone(), &target),
        };
        let outcomes = commit_batch(
            &mut store,
            &messages_dir,
            vec![arrival("first"), arrival("second")],
        );
        assert!(
            matches!(outcomes[0], Err(ReceiveError::Disk(_))),
            "{:?}",
            outcomes[0]
        );
        assert!(
            matches!(outcomes[1], Err(ReceiveError::Commit(_))),
            "{:?}",
            outcomes[1]
        );
        assert!(!MessageStore::has_message(&mut store, &uuid).unwrap());
        let _ = std::fs::remove_dir_all(&root);
    }
}
