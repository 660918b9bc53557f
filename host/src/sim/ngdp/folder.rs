//! The simulator's input folders: MeMo files (`*.xml`) and receipt files (`*.json`), taken in
//! name order so that a run is reproducible.
//!
//! A message's identity in NgDP is its `messageUUID`; it is read through the component's
//! streaming reader, which stops as soon as the header is complete, so a 100 MB message costs
//! a few kilobytes of reading. A file whose header cannot be read keeps its file stem as its
//! id: the simulator still pushes it, which is how an integrator tests a receiver's 400.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::bindings::memo_wit as wit;
use crate::memo::read_stream;
use crate::runtime::InstancePool;

/// Chunks for reading a header: small, since reading stops at `</MessageHeader>`.
const HEADER_CHUNK: usize = 16 * 1024;

/// Why a folder could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the folder {}: {source}", path.display())]
pub struct FolderError {
    /// The folder.
    pub path: PathBuf,
    /// Why.
    pub source: std::io::Error,
}

/// One MeMo file the simulator pushes and serves.
#[derive(Debug, Clone)]
pub struct MessageFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its name in the folder.
    pub name: String,
    /// Its `messageUUID`, or the file stem when the header is unreadable.
    pub uuid: String,
    /// Whether `uuid` came from the message (false: the file stem).
    pub uuid_from_header: bool,
}

/// The regular files in `dir` whose names end in `.<ext>` (any case), sorted by name.
pub fn files_with_extension(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, FolderError> {
    let err = |source| FolderError {
        path: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let path = entry.map_err(err)?.path();
        let matches = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case(ext));
        if matches && path.is_file() {
            files.push(path);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// The MeMo files in `dir`, in name order, each with its UUID.
pub fn load_messages(dir: &Path, pool: &InstancePool) -> Result<Vec<MessageFile>, FolderError> {
    let mut messages: Vec<MessageFile> = Vec::new();
    for path in files_with_extension(dir, "xml")? {
        let name = file_name(&path);
        let (uuid, from_header) = match message_uuid(&path, pool) {
            Some(uuid) => (uuid, true),
            None => {
                let stem = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| name.clone());
                tracing::warn!(file = %name, "no readable messageUUID; using the file stem {stem}");
                (stem, false)
            }
        };
        if messages.iter().any(|m| m.uuid.eq_ignore_ascii_case(&uuid)) {
            // NgDP never holds two messages with one UUID; the pull API answers the first.
            tracing::warn!(file = %name, %uuid, "another file has the same messageUUID");
        }
        messages.push(MessageFile {
            path,
            name,
            uuid,
            uuid_from_header: from_header,
        });
    }
    Ok(messages)
}

/// A file's name for logs and the status.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// The `messageUUID` of the MeMo at `path`, reading no further than its header.
fn message_uuid(path: &Path, pool: &InstancePool) -> Option<String> {
    let file = File::open(path).ok()?;
    let mut uuid = None;
    let read = pool.with(|instance| {
        read_stream(instance, file, HEADER_CHUNK, |event| {
            if let wit::Event::Header(h) = event {
                uuid = Some(h.message_uuid);
                // Stop here: the rest of the message is not needed.
                anyhow::bail!("header read");
            }
            Ok(())
        })
    });
    if let Ok(Err(e)) = &read
        && uuid.is_none()
    {
        tracing::debug!(file = %path.display(), error = %e, "reading the header failed");
    }
    uuid.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty())
}
