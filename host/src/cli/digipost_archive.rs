//! `dpost digipost archive list|export`: the Digipost archive (what `dpost digipost sync`
//! took from an organisation's inbox) as an operator reads it, with the same JSON as
//! `/api/v1/digipost/documents`.
//!
//! Export writes each file under a temporary name, hashing it on the way, and only a file
//! whose SHA-256 matches the one recorded when it was archived reaches its final name: a
//! damaged store shows up as a refused file, never as a quietly wrong copy. A final name
//! that exists is never replaced without `--overwrite` (a hard link puts the new file in
//! place only if the name is still free); a file already there with the same bytes counts
//! as exported, so an export can be repeated into the same folder.

use std::fs::File;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::Exit;
use super::input::parse_time;
use super::message::open_store;
use crate::api::digipost::{Document, document, filename};
use crate::memo::extract::safe_name;
use crate::store::Store;
use crate::store::digipost::{ArchiveQuery, ArchivedDocument, sha256_hex};
use crate::store::handover::AckState;

/// How many documents one store query reads while walking the archive.
const PAGE: u32 = 200;

/// Bytes hashed and written at a time.
const CHUNK: usize = 64 << 10;

/// Archive commands.
#[derive(Debug, Subcommand)]
pub enum ArchiveCommand {
    /// Archived documents in archiving order: id, sender, when, acknowledged or not, size,
    /// attachments, subject.
    List {
        #[command(flatten)]
        filter: Filter,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print JSON (an array of documents, as the API describes them).
        #[arg(long)]
        json: bool,
    },
    /// Copy documents and their attachments into a folder, each file with a metadata JSON
    /// beside it (`NAME.json`). Every file's SHA-256 is checked against the store while it is
    /// copied. Exits 0 when everything asked for is in the folder, 1 when something was
    /// refused (named on standard error with the reason).
    Export {
        /// The documents (Digipost ids); without any, every document the filters match.
        ids: Vec<i64>,
        #[command(flatten)]
        filter: Filter,
        /// The folder (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// At most this many documents (without ids).
        #[arg(long, conflicts_with = "ids")]
        limit: Option<u32>,
        /// Replace a file of the same name that holds other bytes (default: refuse it).
        #[arg(long)]
        overwrite: bool,
        /// Print JSON (one object per file written or refused) instead of lines.
        #[arg(long)]
        json: bool,
    },
}

/// Which documents.
#[derive(Debug, Args)]
pub struct Filter {
    /// The configuration file (for the store's path).
    #[arg(long, value_name = "FILE", default_value = "dpost.toml")]
    config: PathBuf,
    /// `pending` (not acknowledged), `acknowledged`, or `all`.
    #[arg(long, default_value = "all", value_parser = ["pending", "acknowledged", "all"])]
    state: String,
    /// Only documents archived at or after this time (RFC 3339 UTC, or Unix seconds).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only documents from this sender's inbox (Digipost's sender id).
    #[arg(long, value_name = "ID")]
    sender: Option<i64>,
}

impl Filter {
    fn query(&self) -> anyhow::Result<ArchiveQuery> {
        let since = self
            .since
            .as_deref()
            .map(parse_time)
            .transpose()
            .context("--since")?;
        Ok(ArchiveQuery {
            sender_id: self.sender,
            state: match self.state.as_str() {
                "pending" => AckState::Pending,
                "acknowledged" => AckState::Acknowledged,
                _ => AckState::All,
            },
            since,
            after: 0,
            limit: PAGE,
        })
    }
}

/// The documents `q` matches, at most `limit`, in archiving order.
fn matching(
    store: &mut Store,
    mut q: ArchiveQuery,
    limit: Option<u32>,
) -> anyhow::Result<Vec<Document>> {
    let mut found = Vec::new();
    loop {
        let left = limit.map_or(u64::MAX, |l| {
            u64::from(l).saturating_sub(found.len() as u64)
        });
        if left == 0 {
            break;
        }
        q.limit = PAGE.min(u32::try_from(left).unwrap_or(PAGE));
        let page = store.digipost_feed(&q)?;
        let Some(last) = page.last() else { break };
        q.after = last.seq;
        let full = page.len() as u32 == q.limit;
        found.extend(page.into_iter().map(document));
        if !full {
            break;
        }
    }
    Ok(found)
}

fn state_of(d: &Document) -> &'static str {
    if d.acknowledgement.is_some() {
        "acked"
    } else {
        "pending"
    }
}

impl ArchiveCommand {
    pub fn run(self) -> anyhow::Result<Exit> {
        match self {
            ArchiveCommand::List {
                filter,
                limit,
                json,
            } => {
                let q = filter.query()?;
                let docs = matching(&mut open_store(&filter.config)?, q, Some(limit))?;
                if json {
                    outln!("{}", serde_json::to_string(&docs)?)?;
                    return Ok(Exit::Ok);
                }
                outln!(
                    "{:<10}  {:<8}  {:<20}  {:<7}  {:>9}  {:>4}  SUBJECT",
                    "ID",
                    "SENDER",
                    "ARCHIVED",
                    "STATE",
                    "BYTES",
                    "ATT"
                )?;
                for d in &docs {
                    outln!(
                        "{:<10}  {:<8}  {:<20}  {:<7}  {:>9}  {:>4}  {}",
                        d.id,
                        d.inbox_sender_id,
                        d.archived_at,
                        state_of(d),
                        d.size,
                        d.attachments.len(),
                        d.subject
                            .as_deref()
                            .unwrap_or("")
                            .replace(char::is_control, " ")
                    )?;
                }
                Ok(Exit::Ok)
            }
            ArchiveCommand::Export {
                ids,
                filter,
                out,
                limit,
                overwrite,
                json,
            } => {
                let mut store = open_store(&filter.config)?;
                let mut report = Report::default();
                let docs = if ids.is_empty() {
                    matching(&mut store, filter.query()?, limit)?
                } else {
                    let mut docs = Vec::with_capacity(ids.len());
                    for id in ids {
                        match store.digipost_document(id)? {
                            Some(e) => docs.push(document(e)),
                            None => report.refuse(
                                id,
                                None,
                                format!("no Digipost document {id} is archived here"),
                            ),
                        }
                    }
                    docs
                };
                std::fs::create_dir_all(&out)
                    .with_context(|| format!("cannot create {}", out.display()))?;
                let target = Target {
                    dir: &out,
                    overwrite,
                };
                for d in docs {
                    export_document(&mut store, &target, d, &mut report)?;
                }
                report.print(json)?;
                Ok(if report.refused == 0 {
                    Exit::Ok
                } else {
                    Exit::CheckFailed
                })
            }
        }
    }
}

/// Where export writes, and whether it may replace.
struct Target<'a> {
    dir: &'a Path,
    overwrite: bool,
}

/// What happened to one file.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Outcome {
    /// The document (or attachment) id.
    id: i64,
    /// The file, when it got as far as having a name.
    path: Option<PathBuf>,
    /// `written`, `unchanged` (the same bytes were there), `replaced` (--overwrite) or
    /// `refused`.
    outcome: &'static str,
    /// Why it was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[derive(Debug, Default)]
struct Report {
    files: Vec<Outcome>,
    refused: usize,
}

impl Report {
    fn refuse(&mut self, id: i64, path: Option<PathBuf>, reason: String) {
        self.refused += 1;
        self.files.push(Outcome {
            id,
            path,
            outcome: "refused",
            reason: Some(reason),
        });
    }

    fn print(&self, json: bool) -> anyhow::Result<()> {
        if json {
            outln!("{}", serde_json::to_string(&self.files)?)?;
        } else {
            for f in &self.files {
                let path = f
                    .path
                    .as_ref()
                    .map_or_else(|| f.id.to_string(), |p| p.display().to_string());
                match &f.reason {
                    Some(why) => errln!("refused {path}: {why}"),
                    None => outln!("{:<9}  {path}", f.outcome)?,
                }
            }
        }
        if self.refused > 0 {
            errln!(
                "{} of {} file(s) not exported",
                self.refused,
                self.files.len()
            );
        }
        Ok(())
    }
}

/// One document, then each attachment, each followed by its metadata JSON. A document whose
/// content is refused gets no metadata file, so a metadata file always describes a file
/// beside it that is complete and checked.
fn export_document(
    store: &mut Store,
    target: &Target<'_>,
    d: Document,
    report: &mut Report,
) -> anyhow::Result<()> {
    let mut files: Vec<(i64, serde_json::Value)> = vec![(d.id, serde_json::to_value(&d)?)];
    for a in &d.attachments {
        let mut meta = serde_json::to_value(a)?;
        meta["documentId"] = d.id.into();
        files.push((a.id, meta));
    }
    for (id, meta) in files {
        let Some(stored) = store.digipost_by_id(id)? else {
            report.refuse(
                id,
                None,
                format!("Digipost file {id} is no longer in the archive"),
            );
            continue;
        };
        let name = file_name(&stored);
        let content = place(target, &name, &stored.content, &stored.content_sha256);
        if !record(report, id, target.dir.join(&name), content) {
            continue;
        }
        let mut text = serde_json::to_vec_pretty(&meta)?;
        text.push(b'\n');
        let meta_name = format!("{name}.json");
        let placed = place(target, &meta_name, &text, &sha256_hex(&text));
        record(report, id, target.dir.join(&meta_name), placed);
    }
    Ok(())
}

/// `<id>-<subject>.<ext>`: the id keeps names unique (Digipost's ids are), the rest is what
/// the API offers as the download name, made safe for any file system.
fn file_name(d: &ArchivedDocument) -> String {
    let content_type = d
        .content_type
        .as_deref()
        .unwrap_or("application/octet-stream");
    safe_name(&format!(
        "{}-{}",
        d.id,
        filename(&d.metadata, d.id, content_type)
    ))
}

/// Add `placed` to the report; whether it is in the folder.
fn record(report: &mut Report, id: i64, path: PathBuf, placed: Result<Placed, Refusal>) -> bool {
    match placed {
        Ok(p) => {
            report.files.push(Outcome {
                id,
                path: Some(path),
                outcome: match p {
                    Placed::Written => "written",
                    Placed::Unchanged => "unchanged",
                    Placed::Replaced => "replaced",
                },
                reason: None,
            });
            true
        }
        Err(r) => {
            report.refuse(id, Some(path), r.to_string());
            false
        }
    }
}

/// A file that reached its name.
#[derive(Debug, PartialEq)]
enum Placed {
    Written,
    Unchanged,
    Replaced,
}

/// Why a file is not in the folder.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error(
        "the store's copy does not match the SHA-256 recorded when it was archived \
         ({recorded}, read {read}); the store may be damaged"
    )]
    Damaged { recorded: String, read: String },
    #[error("a file of this name holds other bytes; not replaced (--overwrite replaces it)")]
    Exists,
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

/// Removes the temporary file unless it was moved onto its name.
struct Partial(PathBuf);

impl Drop for Partial {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Write `bytes` to `dir/name` as the module documentation says, checking them against
/// `recorded` (lowercase hex SHA-256).
fn place(target: &Target<'_>, name: &str, bytes: &[u8], recorded: &str) -> Result<Placed, Refusal> {
    let path = target.dir.join(name);
    let io = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| Refusal::Io {
            action,
            path,
            source,
        }
    };
    let partial = Partial(
        target
            .dir
            .join(format!(".{name}.{}.dpost-partial", std::process::id())),
    );
    let mut file = File::options()
        .write(true)
        .create_new(true)
        .open(&partial.0)
        .map_err(io("create", &partial.0))?;
    let mut hasher = Sha256::new();
    for chunk in bytes.chunks(CHUNK) {
        hasher.update(chunk);
        file.write_all(chunk).map_err(io("write", &partial.0))?;
    }
    let read = hex(hasher);
    if !read.eq_ignore_ascii_case(recorded) {
        return Err(Refusal::Damaged {
            recorded: recorded.to_owned(),
            read,
        });
    }
    file.sync_all().map_err(io("write", &partial.0))?;
    drop(file);
    match std::fs::hard_link(&partial.0, &path) {
        Ok(()) => Ok(Placed::Written),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            if same_bytes(&path, &read) {
                Ok(Placed::Unchanged)
            } else if target.overwrite {
                std::fs::rename(&partial.0, &path).map_err(io("replace", &path))?;
                Ok(Placed::Replaced)
            } else {
                Err(Refusal::Exists)
            }
        }
        Err(e) => Err(io("create", &path)(e)),
    }
}

/// Whether the regular file at `path` has this SHA-256 (a link or folder never does).
fn same_bytes(path: &Path, sha256: &str) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    let mut hasher = Sha256::new();
    if io::copy(&mut f, &mut hasher).is_err() {
        return false;
    }
    hex(hasher) == sha256
}

fn hex(hasher: Sha256) -> String {
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dpost-export-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn places_checks_and_never_replaces_silently() {
        let dir = scratch("place");
        let keep = Target {
            dir: &dir,
            overwrite: false,
        };
        let hash = sha256_hex(b"one");
        assert_eq!(
            place(&keep, "a.txt", b"one", &hash).unwrap(),
            Placed::Written
        );
        assert_eq!(
            place(&keep, "a.txt", b"one", &hash).unwrap(),
            Placed::Unchanged
        );
        let other = sha256_hex(b"two");
        assert!(matches!(
            place(&keep, "a.txt", b"two", &other),
            Err(Refusal::Exists)
        ));
        assert_eq!(std::fs::read(dir.join("a.txt")).unwrap(), b"one");
        assert!(matches!(
            place(&keep, "b.txt", b"two", &hash),
            Err(Refusal::Damaged { .. })
        ));
        assert!(!dir.join("b.txt").exists());
        let replace = Target {
            dir: &dir,
            overwrite: true,
        };
        assert_eq!(
            place(&replace, "a.txt", b"two", &other).unwrap(),
            Placed::Replaced
        );
        assert_eq!(std::fs::read(dir.join("a.txt")).unwrap(), b"two");
        // Nothing temporary is left behind.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["a.txt"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
