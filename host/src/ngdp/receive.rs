//! Taking one MeMo message into the store, durably, without holding it in memory.
//!
//! The body is read once: every chunk goes to a spool file (the message exactly as received)
//! and through the component's streaming reader, whose decoded document bytes go straight to
//! files of their own. When the body ends, the files are fsynced, the folder is moved into
//! place, and one transaction records the message, its files, its routing and the business
//! receipt it is owed. Only then does the caller acknowledge.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::bindings::memo_wit as wit;
use crate::bindings::ngdp_wit;
use crate::clock::Clock;
use crate::config::live::Live;
use crate::config::ngdp::{NgdpSettings, is_guid};
use crate::memo::json as memo_json;
use crate::memo::{MemoError, read_stream};
use crate::ngdp::group_commit::{Arrival, Committed, GroupCommit};
use crate::ngdp::message_store::SharedStore;
use crate::runtime::GuestError;
use crate::runtime::pool::InstancePool;
use crate::store::StoreError;
use crate::store::ngdp::{NewFile, NewMessage};

/// Bytes handed to the component's reader at a time.
const CHUNK: usize = 256 * 1024;

/// How a message arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// NgDP pushed it to our endpoint.
    Push,
    /// We fetched it from NgDP.
    Pull,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Via::Push => "push",
            Via::Pull => "pull",
        }
    }
}

/// What happened to a message.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Received {
    /// messageUUID, lower-case.
    pub uuid: String,
    /// It was stored before; nothing was written this time.
    pub duplicate: bool,
    /// Validation found no error.
    pub valid: bool,
    /// The mailbox it went to.
    pub mailbox: String,
    /// A duplicate whose content differs from the stored copy (recorded on the message).
    pub conflict: bool,
}

/// Why a message was not stored.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// The body is larger than allowed.
    #[error("the message is larger than the {limit}-byte limit")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The body is not a MeMo message at all (no header could be read).
    #[error("no MeMo message: {0}")]
    NoMemo(String),
    /// The body could not be read from the sender.
    #[error("the body could not be read: {0}")]
    Body(io::Error),
    /// Writing files failed (disk full, read-only, ...).
    #[error("the message could not be written to disk: {0}")]
    Disk(io::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The component failed.
    #[error(transparent)]
    Guest(#[from] GuestError),
    /// The commit that was to make the message durable failed (with others of its batch).
    #[error("the message could not be committed to the store: {0}")]
    Commit(String),
}

impl ReceiveError {
    /// True when the fault is ours (the sender should retry later), not the message's.
    pub fn is_server_fault(&self) -> bool {
        matches!(
            self,
            ReceiveError::Disk(_)
                | ReceiveError::Store(_)
                | ReceiveError::Guest(_)
                | ReceiveError::Commit(_)
        )
    }
}

/// Everything needed to take messages in; shared by the push listener and the pull loop.
pub struct Receiving {
    /// The store.
    pub store: SharedStore,
    /// Where message folders live (`messages/<uuid>`, `spool/`).
    pub data_dir: PathBuf,
    /// Component instances.
    pub pool: Arc<InstancePool>,
    /// The environment's systems, contact points and mailboxes; contact points and
    /// mailboxes change on reload.
    pub settings: Live<NgdpSettings>,
    /// Body limit.
    pub max_message_bytes: u64,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Messages waiting for the next commit.
    pub commits: GroupCommit,
}

/// Marks the error a [`Tee`] returns past the size limit, so it can be told from I/O errors.
#[derive(Debug)]
struct OverLimit;

impl std::fmt::Display for OverLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("over the size limit")
    }
}

impl std::error::Error for OverLimit {}

/// Reads the body, copying every byte to the spool file and the hash, and counting.
struct Tee<R> {
    inner: R,
    spool: BufWriter<File>,
    hash: Sha256,
    count: u64,
    limit: u64,
    /// A write to the spool failed; reported as a disk error, not a body error.
    disk_error: Option<io::Error>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if self.count > self.limit {
            return Err(io::Error::other(OverLimit));
        }
        if let Err(e) = self.spool.write_all(&buf[..n]) {
            let shown = io::Error::new(e.kind(), e.to_string());
            self.disk_error = Some(e);
            return Err(shown);
        }
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// A document file being written.
struct OpenFile {
    out: BufWriter<File>,
    hash: Sha256,
    meta: NewFile,
}

/// Bytes (a SHA-256) as lower-case hex, as the store keeps them.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Remove the folders in `dir` last modified more than `age` ago; how many.
fn remove_stale_folders(dir: &Path, age: std::time::Duration) -> io::Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let stale = age.is_zero()
            || entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|modified| modified.elapsed().ok())
                .is_some_and(|elapsed| elapsed > age);
        if !stale {
            continue;
        }
        // Folders are messages being received; files are submissions being spooled and the
        // sender's copies out of a PostgreSQL store (`ngdp::sender`).
        match entry.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(entry.path())?,
            Ok(t) if t.is_file() => std::fs::remove_file(entry.path())?,
            _ => continue,
        }
        removed += 1;
    }
    Ok(removed)
}

/// A folder name for a messageUUID: the UUID itself when it is one, else a hash of it (the
/// value comes from the sender and must never become a path).
fn folder_name(uuid: &str) -> String {
    if is_guid(uuid) {
        uuid.to_owned()
    } else {
        format!("x-{}", &hex(&Sha256::digest(uuid.as_bytes()))[..32])
    }
}

impl Receiving {
    fn now_rfc3339(&self) -> String {
        let secs = self.clock.now_unix().max(0) as u64;
        humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
        )
        .to_string()
    }

    /// Remove spool folders and files older than `age` (every one when `age` is zero): what a crash
    /// (`kill -9`, power loss) left in the middle of receiving. Such a message was never
    /// acknowledged, so NgDP sends it again; its half-received copy is only in the way. The
    /// caller gives zero when it knows (`store::owner::own_spool`) that no other process
    /// receives into the spool; else an age, because another process (`dpost ngdp pull`) may
    /// be receiving right now, and no delivery takes anywhere near an hour (the body-read
    /// timeout is a minute). Returns how many were removed.
    pub fn clean_spool(&self, age: std::time::Duration) -> io::Result<usize> {
        remove_stale_folders(&self.data_dir.join("spool"), age)
    }

    /// Take one message from `body` for the receiving system `system_id`.
    pub fn receive(
        &self,
        system_id: &str,
        via: Via,
        body: impl Read,
    ) -> Result<Received, ReceiveError> {
        let spool_root = self.data_dir.join("spool");
        crate::store::permissions::create_private_dir(&spool_root).map_err(ReceiveError::Disk)?;
        let spool = spool_root.join(uuid::Uuid::new_v4().to_string());
        crate::store::permissions::create_private_dir(&spool.join("files"))
            .map_err(ReceiveError::Disk)?;
        let result = self.receive_into(&spool, system_id, via, body);
        if spool.exists() {
            // Not moved into place: a duplicate, or a failure. Nothing half-written remains.
            let _ = std::fs::remove_dir_all(&spool);
        }
        result
    }

    fn receive_into(
        &self,
        spool: &Path,
        system_id: &str,
        via: Via,
        body: impl Read,
    ) -> Result<Received, ReceiveError> {
        let raw = crate::store::permissions::create_private(&spool.join("message.xml"))
            .map_err(ReceiveError::Disk)?;
        let mut tee = Tee {
            inner: body,
            spool: BufWriter::with_capacity(CHUNK, raw),
            hash: Sha256::new(),
            count: 0,
            limit: self.max_message_bytes,
            disk_error: None,
        };
        let mut header: Option<wit::Header> = None;
        let mut files: Vec<NewFile> = Vec::new();
        let mut open: Option<OpenFile> = None;
        let mut document: (u32, String, Option<String>) = (0, String::new(), None);
        let files_dir = spool.join("files");
        let outcome = self.pool.with(|instance| {
            read_stream(instance, &mut tee, CHUNK, |event| {
                match event {
                    wit::Event::Header(h) => header = Some(h),
                    wit::Event::DocumentStart(d) => {
                        document = (document.0 + 1, memo_json::wit_name(&d.kind), d.label);
                    }
                    wit::Event::FileStart(f) => {
                        let seq = files.len() as u32 + 1;
                        let path = format!("files/{seq:04}");
                        let out = BufWriter::new(crate::store::permissions::create_private(
                            &files_dir.join(format!("{seq:04}")),
                        )?);
                        open = Some(OpenFile {
                            out,
                            hash: Sha256::new(),
                            meta: NewFile {
                                seq,
                                document_seq: document.0,
                                document_kind: document.1.clone(),
                                document_label: document.2.clone(),
                                filename: f.filename,
                                encoding_format: f.encoding_format,
                                language: f.language,
                                path,
                                size: 0,
                                sha256: String::new(),
                            },
                        });
                    }
                    wit::Event::FileData(bytes) => {
                        if let Some(f) = open.as_mut() {
                            f.out.write_all(&bytes)?;
                            f.hash.update(&bytes);
                            f.meta.size += bytes.len() as u64;
                        }
                    }
                    wit::Event::FileEnd(_) => {
                        if let Some(mut f) = open.take() {
                            f.out.flush()?;
                            f.out.get_ref().sync_all()?;
                            f.meta.sha256 = hex(&f.hash.finalize());
                            files.push(f.meta);
                        }
                    }
                    _ => {}
                }
                Ok(())
            })
        })?;
        let mut problems: Vec<wit::Problem> = match outcome {
            Ok(o) => o.summary.problems,
            Err(MemoError::Io(e)) => {
                if e.get_ref().is_some_and(|inner| inner.is::<OverLimit>()) {
                    return Err(ReceiveError::TooLarge {
                        limit: self.max_message_bytes,
                    });
                }
                return Err(match tee.disk_error.take() {
                    Some(d) => ReceiveError::Disk(d),
                    None => ReceiveError::Body(e),
                });
            }
            Err(MemoError::Sink(e)) => {
                return Err(ReceiveError::Disk(io::Error::other(format!("{e:#}"))));
            }
            Err(MemoError::Guest(e)) => return Err(ReceiveError::Guest(e)),
            Err(MemoError::NotMemo {
                line,
                column,
                message,
                ..
            }) => {
                if header.is_none() {
                    return Err(ReceiveError::NoMemo(format!(
                        "line {line}, column {column}: {message}"
                    )));
                }
                // The header was read, so this is a message, broken further on: keep all of
                // it for an operator and answer it with an INVALID receipt.
                io::copy(&mut tee, &mut io::sink()).map_err(|e| {
                    if e.get_ref().is_some_and(|inner| inner.is::<OverLimit>()) {
                        ReceiveError::TooLarge {
                            limit: self.max_message_bytes,
                        }
                    } else {
                        ReceiveError::Body(e)
                    }
                })?;
                vec![wit::Problem {
                    severity: wit::Severity::Error,
                    code: wit::ProblemCode::Unreadable,
                    path: "/".into(),
                    line,
                    column,
                    message,
                }]
            }
        };
        let header =
            header.ok_or_else(|| ReceiveError::NoMemo("the body holds no MeMo header".into()))?;
        if let Some(disk) = tee.disk_error.take() {
            return Err(ReceiveError::Disk(disk));
        }
        // Durability, innermost first: the message, the document files, their folders.
        tee.spool.flush().map_err(ReceiveError::Disk)?;
        tee.spool.get_ref().sync_all().map_err(ReceiveError::Disk)?;
        sync_dir(&files_dir).map_err(ReceiveError::Disk)?;
        sync_dir(spool).map_err(ReceiveError::Disk)?;
        let raw_size = tee.count;
        let raw_sha256 = hex(&tee.hash.finalize());

        let uuid = header.message_uuid.trim().to_ascii_lowercase();
        // One configuration for the whole decision, even if a reload lands meanwhile.
        let settings = self.settings.get();
        let routes: Vec<ngdp_wit::ContactPointRoute> = settings
            .contact_points
            .iter()
            .map(|c| ngdp_wit::ContactPointRoute {
                contact_point_id: c.id.clone(),
                mailbox: c.mailbox.clone(),
            })
            .collect();
        let now = self.now_rfc3339();
        problems.truncate(1000);
        let (decision, receipt_json) = self.pool.with(|i| -> Result<_, ReceiveError> {
            let decision = i.call(|b, s| {
                b.dpost_protocol_ngdp()
                    .call_route(s, &header, &routes, &settings.standard_mailbox)
            })?;
            let receipt = i.call(|b, s| {
                b.dpost_protocol_ngdp().call_business_receipt(
                    s,
                    &header.message_uuid,
                    header.message_id.as_deref(),
                    None,
                    &problems,
                    &now,
                )
            })?;
            let json = i
                .call(|b, s| b.dpost_protocol_memo().call_build_receipt(s, &receipt))?
                .map_err(|e| {
                    ReceiveError::NoMemo(format!(
                        "the business receipt cannot be written: {}",
                        super::api_error::receipt_error(&e)
                    ))
                })?;
            Ok((decision, json))
        })??;
        let valid = !problems.iter().any(|p| p.severity == wit::Severity::Error);
        let reason = match &decision.reason {
            ngdp_wit::RoutingReason::RecipientContactPoint => {
                serde_json::json!({ "reason": "recipient-contact-point" })
            }
            ngdp_wit::RoutingReason::ReplyContactPoint => {
                serde_json::json!({ "reason": "reply-contact-point" })
            }
            ngdp_wit::RoutingReason::UnknownContactPoint(ids) => {
                serde_json::json!({ "reason": "unknown-contact-point", "contact_points": ids })
            }
            ngdp_wit::RoutingReason::NoContactPoint => {
                serde_json::json!({ "reason": "no-contact-point" })
            }
        };
        let target = self.data_dir.join("messages").join(folder_name(&uuid));
        let message = NewMessage {
            uuid: uuid.clone(),
            environment: settings.environment.clone(),
            system_id: system_id.to_ascii_lowercase(),
            via: via.as_str(),
            received_at: self.clock.now_unix(),
            valid,
            problems: memo_json::problems(&problems),
            message_id: header.message_id.clone(),
            label: Some(header.label.clone()),
            sender_id: Some(header.sender.sender_id.clone()),
            sender_label: Some(header.sender.label.clone()),
            recipient_id: Some(header.recipient.recipient_id.clone()),
            mailbox: decision.mailbox.clone(),
            contact_point: decision.contact_point_id.clone(),
            routing_reason: reason,
            header: memo_json::header(&header),
            dir: target.display().to_string(),
            raw_size,
            raw_sha256: raw_sha256.clone(),
            files,
            receipt: receipt_json,
            bytes_from: None,
        };

        // The duplicate check, the move into `messages/` and the commit, with whatever other
        // messages are waiting for the same commit.
        let committed = self.commits.commit(
            &self.store,
            &self.data_dir.join("messages"),
            Arrival {
                spool: spool.to_owned(),
                target,
                message,
            },
        )?;
        if committed == Committed::Duplicate {
            let conflict = super::conflicts::record_if_conflicting(
                &self.store,
                &uuid,
                &spool.join("message.xml"),
                raw_size,
                &raw_sha256,
                self.clock.now_unix(),
            )?;
            return Ok(Received {
                uuid,
                duplicate: true,
                valid,
                mailbox: decision.mailbox,
                conflict,
            });
        }
        tracing::info!(uuid = %uuid, mailbox = %decision.mailbox, valid, bytes = raw_size, via = via.as_str(), "message stored");
        Ok(Received {
            uuid,
            duplicate: false,
            valid,
            mailbox: decision.mailbox,
            conflict: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_stale_spool_folders_are_removed() {
        let spool = std::env::temp_dir().join(format!("dpost-spool-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&spool);
        for name in ["crashed", "receiving"] {
            std::fs::create_dir_all(spool.join(name).join("files")).unwrap();
        }
        for name in ["sending-crashed.xml", "sending-now.xml"] {
            std::fs::write(spool.join(name), b"<m/>").unwrap();
        }
        let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        for name in ["crashed", "sending-crashed.xml"] {
            File::open(spool.join(name))
                .unwrap()
                .set_modified(two_hours_ago)
                .unwrap();
        }
        let hour = std::time::Duration::from_secs(3600);
        assert_eq!(remove_stale_folders(&spool, hour).unwrap(), 2);
        assert!(!spool.join("crashed").exists());
        assert!(!spool.join("sending-crashed.xml").exists());
        assert!(spool.join("receiving/files").exists());
        assert!(spool.join("sending-now.xml").exists());
        assert_eq!(
            remove_stale_folders(&spool.join("absent"), hour).unwrap(),
            0
        );
        let _ = std::fs::remove_dir_all(&spool);
    }

    #[test]
    fn folder_names_are_never_paths() {
        assert_eq!(
            folder_name("8c2ea15d-61fb-4ba9-9366-42f8b194c114"),
            "8c2ea15d-61fb-4ba9-9366-42f8b194c114"
        );
        let hostile = folder_name("../../etc");
        assert!(
            hostile.starts_with("x-") && !hostile.contains('/') && !hostile.contains('.'),
            "{hostile}"
        );
    }
}
