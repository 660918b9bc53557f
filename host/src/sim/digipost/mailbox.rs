//! The simulator's documents: a folder per sender id under the data folder, a file per
//! document named `<document-id>.<ext>`, and an optional `<document-id>.json` beside it:
//!
//! ```json
//! { "subject": "Faktura", "sender": "Posten Norge AS", "delivery-time": "2024-05-02T10:00:00Z",
//!   "authentication-level": "PASSWORD", "reference-from-sender": "INV-1",
//!   "attachments": [ { "id": 9001, "file": "9001.pdf" } ] }
//! ```
//! Files named as attachments are not documents of their own. Deleting hides a document from
//! the listing; the files are never touched.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde::Deserialize;

/// Why the data folder could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct MailboxError {
    /// The file or folder.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
}

/// The optional metadata file of a document.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Metadata {
    subject: Option<String>,
    sender: Option<String>,
    delivery_time: Option<String>,
    authentication_level: Option<String>,
    reference_from_sender: Option<String>,
    #[serde(default)]
    attachments: Vec<AttachmentRef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachmentRef {
    id: i64,
    file: String,
}

/// A document's content on disk.
#[derive(Debug, Clone)]
pub struct ContentFile {
    /// The file.
    pub path: PathBuf,
    /// Its media type, from the extension.
    pub content_type: String,
}

/// A document as the simulator lists it.
#[derive(Debug, Clone)]
pub struct SimDocument {
    /// Its id.
    pub id: i64,
    /// The content.
    pub content: ContentFile,
    /// The subject line.
    pub subject: Option<String>,
    /// The sender's display name.
    pub sender: String,
    /// `xs:dateTime` of delivery.
    pub delivery_time: String,
    /// The authentication level, as Digipost writes it.
    pub authentication_level: String,
    /// The sender's reference.
    pub reference_from_sender: Option<String>,
    /// Attachments: id and content.
    pub attachments: Vec<(i64, ContentFile)>,
}

/// Every sender's documents, and which are deleted.
#[derive(Debug)]
pub struct Mailbox {
    /// Per sender, newest first.
    senders: BTreeMap<i64, Vec<SimDocument>>,
    /// (sender, id) of every document and attachment → (its document's id, content).
    contents: HashMap<(i64, i64), (i64, ContentFile)>,
    deleted: Mutex<HashSet<(i64, i64)>>,
}

impl Mailbox {
    /// Load `dir`.
    pub fn load(dir: &Path) -> Result<Self, MailboxError> {
        let err = |path: &Path, message: String| MailboxError {
            path: path.to_owned(),
            message,
        };
        let mut senders = BTreeMap::new();
        let mut contents = HashMap::new();
        let entries = std::fs::read_dir(dir)
            .map_err(|e| err(dir, format!("cannot read the data folder: {e}")))?;
        for entry in entries {
            let entry = entry.map_err(|e| err(dir, e.to_string()))?;
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            let Some(sender) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse::<i64>().ok())
            else {
                tracing::warn!(folder = %path.display(), "skipping a folder not named after a sender id");
                continue;
            };
            let docs = load_sender(&path)?;
            for d in &docs {
                contents.insert((sender, d.id), (d.id, d.content.clone()));
                for (aid, c) in &d.attachments {
                    if contents.insert((sender, *aid), (d.id, c.clone())).is_some() {
                        return Err(err(&path, format!("the id {aid} is used twice")));
                    }
                }
            }
            senders.insert(sender, docs);
        }
        Ok(Mailbox {
            senders,
            contents,
            deleted: Mutex::new(HashSet::new()),
        })
    }

    /// Whether the sender has a folder.
    pub fn has_sender(&self, sender: i64) -> bool {
        self.senders.contains_key(&sender)
    }

    /// The sender's documents not deleted, newest first, from `offset`, at most `limit`.
    pub fn page(&self, sender: i64, offset: usize, limit: usize) -> Vec<SimDocument> {
        let deleted = self.deleted.lock().unwrap_or_else(PoisonError::into_inner);
        self.senders
            .get(&sender)
            .map(|docs| {
                docs.iter()
                    .filter(|d| !deleted.contains(&(sender, d.id)))
                    .skip(offset)
                    .take(limit)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The content of a document or attachment whose document is not deleted.
    pub fn content(&self, sender: i64, id: i64) -> Option<ContentFile> {
        let (owner, file) = self.contents.get(&(sender, id))?;
        let deleted = self.deleted.lock().unwrap_or_else(PoisonError::into_inner);
        (!deleted.contains(&(sender, *owner))).then(|| file.clone())
    }

    /// Delete document `id` (not an attachment). False when there is no such document.
    pub fn delete(&self, sender: i64, id: i64) -> bool {
        let exists = self
            .senders
            .get(&sender)
            .is_some_and(|docs| docs.iter().any(|d| d.id == id));
        exists
            && self
                .deleted
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert((sender, id))
    }
}

fn load_sender(dir: &Path) -> Result<Vec<SimDocument>, MailboxError> {
    let err = |path: &Path, message: String| MailboxError {
        path: path.to_owned(),
        message,
    };
    let mut files: BTreeMap<i64, PathBuf> = BTreeMap::new();
    let mut metadata: HashMap<i64, (PathBuf, Metadata)> = HashMap::new();
    for entry in std::fs::read_dir(dir).map_err(|e| err(dir, e.to_string()))? {
        let path = entry.map_err(|e| err(dir, e.to_string()))?.path();
        let (Some(stem), ext) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|e| e.to_str()),
        ) else {
            continue;
        };
        let Ok(id) = stem.parse::<i64>() else {
            continue;
        };
        if ext == Some("json") {
            let text = std::fs::read_to_string(&path).map_err(|e| err(&path, e.to_string()))?;
            let m: Metadata = serde_json::from_str(&text).map_err(|e| err(&path, e.to_string()))?;
            metadata.insert(id, (path, m));
        } else if path.is_file() && files.insert(id, path.clone()).is_some() {
            return Err(err(&path, format!("two files for document {id}")));
        }
    }
    let mut attachment_files = HashSet::new();
    for (_, m) in metadata.values() {
        for a in &m.attachments {
            attachment_files.insert(dir.join(&a.file));
        }
    }
    let mut docs = Vec::new();
    for (id, path) in &files {
        if attachment_files.contains(path) {
            continue;
        }
        let (meta_path, meta) = metadata.remove(id).unwrap_or_default();
        let mut attachments = Vec::new();
        for a in meta.attachments {
            let file = dir.join(&a.file);
            if !file.is_file() {
                return Err(err(
                    &meta_path,
                    format!(
                        "attachment {} names {}, which is not a file",
                        a.id,
                        file.display()
                    ),
                ));
            }
            attachments.push((a.id, content_file(file)));
        }
        let delivery_time = match meta.delivery_time {
            Some(t) => t,
            None => {
                let modified = std::fs::metadata(path)
                    .and_then(|m| m.modified())
                    .map_err(|e| err(path, e.to_string()))?;
                humantime::format_rfc3339_seconds(modified).to_string()
            }
        };
        docs.push(SimDocument {
            id: *id,
            content: content_file(path.clone()),
            subject: meta.subject,
            sender: meta
                .sender
                .unwrap_or_else(|| "Digipost simulator".to_owned()),
            delivery_time,
            authentication_level: meta
                .authentication_level
                .unwrap_or_else(|| "PASSWORD".to_owned()),
            reference_from_sender: meta.reference_from_sender,
            attachments,
        });
    }
    // Newest first, as Digipost lists; times in one offset (the usual case) compare as text.
    docs.sort_by(|a, b| b.delivery_time.cmp(&a.delivery_time).then(b.id.cmp(&a.id)));
    Ok(docs)
}

fn content_file(path: PathBuf) -> ContentFile {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let content_type = match ext.as_str() {
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "html" | "htm" => "text/html",
        "xml" => "application/xml",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        _ => "application/octet-stream",
    };
    ContentFile {
        path,
        content_type: content_type.to_owned(),
    }
}
