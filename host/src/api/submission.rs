//! How a submission's body becomes a MeMo file on disk, in bounded memory: an XML body
//! streamed to a spool file; a multipart body's description and files streamed to a spool
//! folder, then written as MeMo through the component. Both fsynced before anything is
//! recorded (`api::outgoing` validates, keeps and records what comes out of here).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use futures_util::StreamExt as _;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

use super::messages::time;
use super::outgoing::Sending;
use super::problem::Problem;
use crate::memo::spec::{Document, Spec};
use crate::memo::writer::WriteError;
use crate::ngdp::receive::hex;

/// A spool file that is removed unless it was kept.
pub(super) struct Spool {
    pub(super) path: PathBuf,
    pub(super) kept: bool,
}

impl Drop for Spool {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Why a body could not be spooled.
pub(super) enum SpoolError {
    TooLarge,
    Body(String),
    Disk(std::io::Error),
}

/// Stream `body` into a new spool file in `dir`, at most `max` bytes, fsynced; its size and
/// SHA-256 (hex).
pub(super) async fn spool_body(
    body: Body,
    dir: &Path,
    max: u64,
) -> Result<(Spool, u64, String), SpoolError> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(SpoolError::Disk)?;
    let spool = Spool {
        path: dir.join(format!(".submitted-{}.partial", uuid::Uuid::new_v4())),
        kept: false,
    };
    let mut file = tokio::fs::File::create(&spool.path)
        .await
        .map_err(SpoolError::Disk)?;
    let (mut size, mut hash) = (0u64, Sha256::new());
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| SpoolError::Body(e.to_string()))?;
        size += chunk.len() as u64;
        if size > max {
            return Err(SpoolError::TooLarge);
        }
        hash.update(&chunk);
        file.write_all(&chunk).await.map_err(SpoolError::Disk)?;
    }
    file.flush().await.map_err(SpoolError::Disk)?;
    file.sync_all().await.map_err(SpoolError::Disk)?;
    let hex = hex(&hash.finalize());
    Ok((spool, size, hex))
}

pub(super) fn spool_problem(e: SpoolError, max: u64) -> Problem {
    match e {
        SpoolError::TooLarge => {
            Problem::too_large(format!("a MeMo message is at most {max} bytes"))
        }
        SpoolError::Body(e) => Problem::bad_request(format!("the body broke off: {e}")),
        SpoolError::Disk(e) => {
            tracing::error!(error = %e, "a submitted message could not be spooled");
            Problem::unavailable("the message could not be stored; repeat the request")
        }
    }
}

/// The largest JSON description taken.
pub(super) const MAX_DESCRIPTION: usize = 64 * 1024;

/// A multipart submission's parts, spooled in a folder of their own (removed when dropped).
pub(super) struct Parts {
    folder: PathBuf,
    description: Vec<u8>,
    documents: Vec<Document>,
    pub(super) fingerprint: String,
}

impl Drop for Parts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// The file name a part gives, without any folder; `None` when there is nothing usable.
fn part_filename(given: Option<&str>) -> Option<String> {
    let name = given?.rsplit(['/', '\\']).next()?.trim();
    let usable = !name.is_empty()
        && name
            .chars()
            .all(|c| !c.is_control() && dpost_guest::memo::tokenizer::is_xml_char(c));
    usable.then(|| name.to_owned())
}

/// Stream a multipart body's parts to a spool folder: `message` (the JSON description, the
/// fields of `dpost memo new`'s spec) and `file` parts in order (the first is the main
/// document), at most `max` bytes of files. The fingerprint hashes every part as sent.
pub(super) async fn spool_parts(
    body: Body,
    boundary: String,
    dir: &Path,
    max: u64,
) -> Result<Parts, Problem> {
    let unavailable = |e: std::io::Error| {
        tracing::error!(error = %e, "a submitted file could not be spooled");
        Problem::unavailable("the message could not be stored; repeat the request")
    };
    let folder = dir.join(format!(".submitted-{}", uuid::Uuid::new_v4()));
    tokio::fs::create_dir_all(&folder)
        .await
        .map_err(unavailable)?;
    let mut parts = Parts {
        folder,
        description: Vec::new(),
        documents: Vec::new(),
        fingerprint: String::new(),
    };
    let (mut hash, mut total, mut described) = (Sha256::new(), 0u64, false);
    let broken =
        |e: multer::Error| Problem::bad_request(format!("the multipart body cannot be read: {e}"));
    let mut multipart = multer::Multipart::new(body.into_data_stream(), boundary);
    while let Some(mut field) = multipart.next_field().await.map_err(broken)? {
        let name = field.name().unwrap_or_default().to_owned();
        hash.update((name.len() as u64).to_be_bytes());
        hash.update(name.as_bytes());
        match name.as_str() {
            "message" if !described => {
                described = true;
                while let Some(chunk) = field.chunk().await.map_err(broken)? {
                    if parts.description.len() + chunk.len() > MAX_DESCRIPTION {
                        return Err(Problem::too_large(format!(
                            "the description is at most {MAX_DESCRIPTION} bytes"
                        ))
                        .at("message"));
                    }
                    parts.description.extend_from_slice(&chunk);
                }
                hash.update((parts.description.len() as u64).to_be_bytes());
                hash.update(&parts.description);
            }
            "file" => {
                let Some(filename) = part_filename(field.file_name()) else {
                    return Err(Problem::bad_request(
                        "each file part needs a file name (Content-Disposition filename) of characters a MeMo message can carry",
                    )
                    .at("file"));
                };
                hash.update((filename.len() as u64).to_be_bytes());
                hash.update(filename.as_bytes());
                let path = parts.folder.join(parts.documents.len().to_string());
                let mut file = tokio::fs::File::create(&path).await.map_err(unavailable)?;
                while let Some(chunk) = field.chunk().await.map_err(broken)? {
                    total += chunk.len() as u64;
                    if total > max {
                        return Err(Problem::too_large(format!(
                            "the files are at most {max} bytes together"
                        ))
                        .at("file"));
                    }
                    hash.update(&chunk);
                    file.write_all(&chunk).await.map_err(unavailable)?;
                }
                file.flush().await.map_err(unavailable)?;
                hash.update([0xff]);
                parts.documents.push(Document { filename, path });
            }
            other => {
                return Err(Problem::bad_request(format!(
                    "a part {other:?} is not taken here: one `message` (JSON) and `file` parts"
                ))
                .at(other.to_owned()));
            }
        }
    }
    if !described {
        return Err(
            Problem::bad_request("the `message` part (the JSON description) is missing")
                .at("message"),
        );
    }
    if parts.documents.is_empty() {
        return Err(
            Problem::bad_request("at least one `file` part (the main document) is needed")
                .at("file"),
        );
    }
    parts.fingerprint = hex(&hash.finalize());
    Ok(parts)
}

/// Write the MeMo the parts describe into a spool file beside them, fsynced.
pub(super) async fn compose(
    sending: &Arc<Sending>,
    parts: &Parts,
    now: i64,
) -> Result<(Spool, u64, String), Problem> {
    let spec: Spec = serde_json::from_slice(&parts.description).map_err(|e| {
        Problem::unprocessable(format!(
            "the description is not the fields of a message: {e}"
        ))
        .at("message")
    })?;
    spec.check_characters(Path::new("message"))
        .map_err(|e| Problem::unprocessable(e.to_string()).at("message"))?;
    let header = spec
        .header(Path::new("message"), uuid::Uuid::new_v4().to_string())
        .map_err(|e| Problem::unprocessable(e.to_string()).at("message"))?;
    let created = spec.created.clone().unwrap_or_else(|| time(now));
    let spool = Spool {
        path: parts.folder.join("message.xml"),
        kept: false,
    };
    let (pool, path, documents) = (
        sending.pool.clone(),
        spool.path.clone(),
        parts.documents.clone(),
    );
    let written = tokio::task::spawn_blocking(move || {
        let out = std::io::BufWriter::new(std::fs::File::create(&path)?);
        let written = pool.with(|i| spec.write(i, (&header, &created), &documents, out, |_, _| {}));
        let out = match written {
            Ok(Ok(out)) => out,
            Ok(Err(WriteError::Memo(e))) => return Ok(Err(WriteError::Memo(e).to_string())),
            Ok(Err(e)) => return Err(std::io::Error::other(e.to_string())),
            Err(e) => return Err(std::io::Error::other(e.to_string())),
        };
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        let size = file.metadata()?.len();
        let mut hash = Sha256::new();
        std::io::copy(&mut std::fs::File::open(&path)?, &mut hash)?;
        let hex = hex(&hash.finalize());
        Ok(Ok((size, hex)))
    })
    .await;
    match written {
        Ok(Ok(Ok((size, sha256)))) => Ok((spool, size, sha256)),
        Ok(Ok(Err(refusal))) => Err(Problem::unprocessable(refusal).at("message")),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "a message could not be written from its description");
            Err(Problem::unavailable(
                "the message could not be written; repeat the request",
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, "writing a message from its description did not finish");
            Err(Problem::unavailable(
                "the message could not be written; repeat the request",
            ))
        }
    }
}
