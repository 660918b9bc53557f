//! `dpost digipost sync`: read an organisation's inbox into the archive, then (when asked)
//! delete what is archived from Digipost.
//!
//! ```text
//! begin run ─▶ page through the inbox, newest first ─▶ per document: content + attachments
//!          ─▶ one committed transaction ─▶ (all pages done) ─▶ finish run
//!          ─▶ delete every archived-but-not-deleted document ─▶ mark it deleted
//! ```
//! Why this order survives a crash anywhere:
//! - A document is in the archive whole (with its attachments) or not at all, and a
//!   document already archived is never fetched again.
//! - Deleting happens after the whole walk, from the archive's list of documents not yet
//!   deleted, so a delete always follows a commit, and a re-run after a crash deletes what
//!   the crashed run archived without archiving it again. A document Digipost no longer has
//!   (the delete went through, the crash came before it was recorded) counts as deleted.
//! - The walk stops at the first document archived by an earlier run only when that run
//!   finished its walk: a run that crashed half-way may have archived newer documents and
//!   not older ones, so the run after it walks the whole inbox.
//! - A document that cannot be fetched (its link refused, its content host failing, even a
//!   content answer that does not verify) is reported in [`SyncReport::failures`] and
//!   retried by the next run; the rest of the inbox goes on. Only the listing and the
//!   entrypoint stop a run: without them nothing can be trusted or found.
//! - Deletes go to the `delete-uri` the listing gave (kept in the archive's metadata as
//!   `delete_target`), and a verified 404 counts as deleted whatever its error code
//!   (Digipost's published sample is `GENERAL_ERROR`, not `DOCUMENT_NOT_FOUND`).
//! - Deletes shift the positions of the documents after them, and new mail shifts them the
//!   other way; walking first and deleting after keeps offsets stable within a run, and a
//!   document seen twice (new mail pushed it onto the next page) is skipped the second time.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::client::{ClientError, Deleted, DigipostClient};
use super::inbox::{self, InboxDocument};
use crate::clock::Clock;
use crate::leased::{Leased, Leases};
use crate::store::digipost::NewDocument;
use crate::store::leases::new_holder;
use crate::store::{Store, StoreError};

/// Page size of the walk.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// What a sync does.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// The sender whose inbox is read.
    pub sender_id: String,
    /// Delete each document in Digipost once it is archived.
    pub delete_after_archive: bool,
    /// Documents fetched at the same time.
    pub concurrency: usize,
    /// Documents per page (1..=1000).
    pub page_size: u32,
    /// Fault injection, for tests of crash recovery.
    pub fault: Option<Fault>,
}

impl SyncOptions {
    /// Defaults for `sender_id`: no deletes, 4 at a time, pages of 100.
    pub fn new(sender_id: impl Into<String>) -> Self {
        SyncOptions {
            sender_id: sender_id.into(),
            delete_after_archive: false,
            concurrency: 4,
            page_size: DEFAULT_PAGE_SIZE,
            fault: None,
        }
    }
}

/// A failure to inject, as a crash would cause it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Stop (as if the process died) once this many documents are archived, before any of
    /// them is deleted in Digipost.
    CrashAfterArchiving(u64),
}

/// What happened, for people and scripts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncReport {
    /// Documents listed (attachments not counted).
    pub listed: u64,
    /// Documents archived by this run.
    pub archived: u64,
    /// Documents listed that an earlier run had archived.
    pub already_archived: u64,
    /// Documents deleted in Digipost by this run (including ones Digipost no longer had).
    pub deleted: u64,
    /// Documents that could not be archived or deleted; the next run tries them again.
    pub failed: u64,
    /// Contents (documents and attachments) whose one-time link came in a 307 without a
    /// signature; followed, and marked `"redirect_signed": false` in the archive's metadata.
    pub unsigned_redirects: u64,
    /// Seconds the run took.
    pub elapsed_seconds: f64,
    /// Each failure: the document id and why.
    pub failures: Vec<Failure>,
}

/// One document that failed.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// The document.
    pub id: i64,
    /// Why.
    pub error: String,
}

/// Progress, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub enum Progress {
    /// A page listed this many more documents to consider.
    Listed(u64),
    /// A document was archived, skipped as archived, or failed.
    Done,
    /// Deleting starts, this many documents.
    Deleting(u64),
    /// A document was deleted, or failed to be.
    Deleted,
}

/// Why a sync stopped before the end.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The sender id is not a number.
    #[error("the sender id {0:?} must be a number (digits only)")]
    BadSender(String),
    /// The API failed in a way that stops the walk (listing, entrypoint, a refused response).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The archive failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another process is syncing the same inbox.
    #[error(
        "another dpost ({holder}) is syncing the inbox of sender {sender} now (its lease runs to {}); run this again when it is done",
        unix_time(*until)
    )]
    Busy {
        /// The sender id.
        sender: String,
        /// The other process's lease holder id (host, pid, random part).
        holder: String,
        /// When its lease runs out unless renewed, Unix seconds.
        until: i64,
    },
    /// The sync stopped half-way because its lease could not be kept.
    #[error("the sync stopped half-way (what it archived is kept; run it again to go on): {0}")]
    LeaseLost(String),
    /// An injected fault stopped the run.
    #[error("stopped by an injected fault after archiving {archived} documents")]
    Injected {
        /// What the run had done.
        archived: u64,
    },
}

/// How long a sync holds its inbox's lease, renewed every third of it while it runs: a
/// process that dies mid-sync holds the inbox up no longer than this.
const SYNC_LEASE_SECONDS: i64 = 120;

/// Read `options.sender_id`'s inbox into `store` with `client`.
///
/// One sync of an inbox runs at a time, whichever process or machine starts it: it holds the
/// lease `digipost-sync:<sender>` in the store while it runs (two at once would fetch the same
/// documents and, with deletes, race each other's positions in the listing).
pub async fn sync(
    client: Arc<DigipostClient>,
    store: Arc<Mutex<Store>>,
    clock: Arc<dyn Clock>,
    options: &SyncOptions,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<SyncReport, SyncError> {
    let sender: i64 = options
        .sender_id
        .parse()
        .map_err(|_| SyncError::BadSender(options.sender_id.clone()))?;
    let leases = Leases::new(store.clone(), new_holder(), clock.clone());
    let run = sync_held(client, store, clock, options, progress);
    match leases
        .run(&format!("digipost-sync:{sender}"), SYNC_LEASE_SECONDS, run)
        .await?
    {
        Leased::Done(report) => report,
        Leased::Busy(held) => Err(SyncError::Busy {
            sender: options.sender_id.clone(),
            holder: held.as_ref().map_or_else(
                || "a process that just finished".to_owned(),
                |l| l.holder.clone(),
            ),
            until: held.map_or(0, |l| l.until),
        }),
        Leased::Lost(why) => Err(SyncError::LeaseLost(why)),
    }
}

/// [`sync`], once its lease is held.
async fn sync_held(
    client: Arc<DigipostClient>,
    store: Arc<Mutex<Store>>,
    clock: Arc<dyn Clock>,
    options: &SyncOptions,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<SyncReport, SyncError> {
    let started = Instant::now();
    let sender_id = options.sender_id.clone();
    let sender: i64 = sender_id
        .parse()
        .map_err(|_| SyncError::BadSender(sender_id.clone()))?;
    let mut report = SyncReport::default();
    // Fail before touching the store when the API cannot be reached or trusted.
    client.certificate().await?;
    let now = clock.now_unix();
    let previous_finished = blocking(&store, move |s| s.digipost_begin_sync(sender, now)).await?;
    let mut seen_this_run = HashSet::new();
    let semaphore = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut offset = 0u32;
    let mut walked_all = true;
    'pages: loop {
        let page = client
            .list(&sender_id, Some(offset), Some(options.page_size))
            .await?;
        let groups = group(page.documents);
        // Offsets and limits count documents; attachments ride along with theirs.
        let documents = groups.len() as u32;
        progress(Progress::Listed(groups.len() as u64));
        let mut stop = false;
        let mut work = Vec::new();
        for (doc, attachments) in groups {
            report.listed += 1;
            if !seen_this_run.insert(doc.id) {
                progress(Progress::Done);
                continue;
            }
            let id = doc.id;
            if blocking(&store, move |s| s.digipost_is_archived(sender, id)).await? {
                report.already_archived += 1;
                progress(Progress::Done);
                if previous_finished {
                    stop = true;
                    break;
                }
                continue;
            }
            work.push((doc, attachments));
        }
        let mut tasks = JoinSet::new();
        for (doc, attachments) in work {
            let (client, store, clock, semaphore, sender_id) = (
                client.clone(),
                store.clone(),
                clock.clone(),
                semaphore.clone(),
                sender_id.clone(),
            );
            tasks.spawn(async move {
                let _permit = semaphore.acquire_owned().await;
                let id = doc.id;
                (
                    id,
                    archive_one(
                        &client,
                        &store,
                        &*clock,
                        sender,
                        &sender_id,
                        doc,
                        attachments,
                    )
                    .await,
                )
            });
        }
        while let Some(joined) = tasks.join_next().await {
            let (id, result) = match joined {
                Ok(r) => r,
                Err(e) => (
                    0,
                    Err(SyncError::Client(ClientError::Protocol(format!(
                        "a worker failed: {e}"
                    )))),
                ),
            };
            progress(Progress::Done);
            match result {
                Ok(Archived {
                    new: true,
                    unsigned,
                }) => {
                    report.archived += 1;
                    report.unsigned_redirects += unsigned;
                }
                Ok(Archived { new: false, .. }) => report.already_archived += 1,
                Err(SyncError::Store(e)) => return Err(e.into()),
                Err(e) => {
                    walked_all = false;
                    report.failed += 1;
                    report.failures.push(Failure {
                        id,
                        error: e.to_string(),
                    });
                }
            }
            if let Some(Fault::CrashAfterArchiving(n)) = options.fault
                && report.archived >= n
            {
                return Err(SyncError::Injected {
                    archived: report.archived,
                });
            }
        }
        if stop || documents < options.page_size {
            break 'pages;
        }
        offset += documents;
    }
    if walked_all {
        let now = clock.now_unix();
        blocking(&store, move |s| s.digipost_finish_sync(sender, now)).await?;
    }
    if options.delete_after_archive {
        delete_archived(
            &client,
            &store,
            &*clock,
            sender,
            &sender_id,
            options.concurrency,
            &mut report,
            progress,
        )
        .await?;
    }
    report.elapsed_seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// `at` (Unix seconds) as RFC 3339, for a person.
fn unix_time(at: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(at.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// What [`archive_one`] did.
struct Archived {
    /// Whether it was archived now (false: an earlier run had).
    new: bool,
    /// Contents among it whose 307 came unsigned.
    unsigned: u64,
}

/// The archive's metadata key for the delete request's target (path and query on the API).
const DELETE_TARGET: &str = "delete_target";

/// Fetch a document and its attachments and commit them.
async fn archive_one(
    client: &DigipostClient,
    store: &Arc<Mutex<Store>>,
    clock: &dyn Clock,
    sender: i64,
    sender_id: &str,
    doc: InboxDocument,
    attachments: Vec<InboxDocument>,
) -> Result<Archived, SyncError> {
    let unsigned = std::sync::atomic::AtomicU64::new(0);
    let fetch = |d: InboxDocument| {
        let unsigned = &unsigned;
        async move {
            let content = client.content(sender_id, &d).await?;
            if content.redirect_signed == Some(false) {
                unsigned.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            let mut metadata = inbox::document_json(&d);
            metadata["redirect_signed"] = serde_json::json!(content.redirect_signed);
            Ok::<_, SyncError>(NewDocument {
                id: d.id,
                content_type: d.content_type.clone().or(content.content_type),
                metadata,
                content: content.bytes,
            })
        }
    };
    // Where to delete it, decided now from the listing, so that the delete (perhaps in a later
    // run, after a crash) goes where Digipost said.
    let delete = client.document_request(sender_id, &doc, inbox::DocumentAction::Delete)?;
    let mut parent = fetch(doc).await?;
    parent.metadata[DELETE_TARGET] = serde_json::json!(delete.target);
    let mut children = Vec::with_capacity(attachments.len());
    for a in attachments {
        children.push(fetch(a).await?);
    }
    let now = clock.now_unix();
    let store = store.clone();
    let new = blocking(&store, move |s| {
        s.digipost_archive(sender, &parent, &children, now)
    })
    .await?;
    Ok(Archived {
        new,
        unsigned: unsigned.into_inner(),
    })
}

#[allow(clippy::too_many_arguments)]
async fn delete_archived(
    client: &Arc<DigipostClient>,
    store: &Arc<Mutex<Store>>,
    clock: &dyn Clock,
    sender: i64,
    sender_id: &str,
    concurrency: usize,
    report: &mut SyncReport,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<(), SyncError> {
    let pending = blocking(store, move |s| s.digipost_pending_deletes(sender)).await?;
    progress(Progress::Deleting(pending.len() as u64));
    let semaphore = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for (id, metadata) in pending {
        let (client, semaphore, sender_id) =
            (client.clone(), semaphore.clone(), sender_id.to_owned());
        // Archives written before the target was kept fall back to the documented path.
        let target = serde_json::from_str::<serde_json::Value>(&metadata)
            .ok()
            .and_then(|m| m[DELETE_TARGET].as_str().map(str::to_owned));
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            let req = match target {
                Some(t) => Ok(client.delete_request(t)),
                None => client.delete_request_by_id(&sender_id, id),
            };
            let result = match req {
                Ok(req) => client.delete_at(&req).await,
                Err(e) => Err(e),
            };
            (id, result)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        progress(Progress::Deleted);
        let (id, result) = match joined {
            Ok(r) => r,
            Err(e) => (
                0,
                Err(ClientError::Protocol(format!("a worker failed: {e}"))),
            ),
        };
        match result {
            Ok(Deleted::Now | Deleted::AlreadyGone) => {
                let now = clock.now_unix();
                blocking(store, move |s| s.digipost_mark_deleted(sender, id, now)).await?;
                report.deleted += 1;
            }
            Err(e) => {
                report.failed += 1;
                report.failures.push(Failure {
                    id,
                    error: e.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// The inbox's flat list as documents with their attachments (nested ones included).
fn group(flat: Vec<InboxDocument>) -> Vec<(InboxDocument, Vec<InboxDocument>)> {
    let mut roots: Vec<usize> = Vec::with_capacity(flat.len());
    let mut groups: Vec<(InboxDocument, Vec<InboxDocument>)> = Vec::new();
    let mut group_of_root = std::collections::HashMap::new();
    for (i, d) in flat.into_iter().enumerate() {
        // The component guarantees `attached-to` names an earlier entry.
        let root = match d.attached_to.and_then(|p| roots.get(p as usize).copied()) {
            Some(r) => r,
            None => i,
        };
        roots.push(root);
        if root == i {
            group_of_root.insert(i, groups.len());
            groups.push((d, Vec::new()));
        } else if let Some(&g) = group_of_root.get(&root) {
            groups[g].1.push(d);
        }
    }
    groups
}

/// Run a store operation off the async workers: a commit waits for fsync.
async fn blocking<T: Send + 'static>(
    store: &Arc<Mutex<Store>>,
    f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let store = store.clone();
    match tokio::task::spawn_blocking(move || {
        f(&mut store.lock().unwrap_or_else(PoisonError::into_inner))
    })
    .await
    {
        Ok(r) => r,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
