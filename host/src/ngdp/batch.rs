//! NgDP batches: several MeMo messages in one `POST memos/`, as a tar archive (each member
//! named `<messageUUID>.xml`) compressed with LZMA in the classic "alone" format
//! (`Content-Type: application/x-lzma`).
//!
//! Both directions stream: [`write_batch`] encodes into any [`Write`] as it reads the member
//! files, and [`for_each_member`] decodes and untars from any [`Read`], handing each member to
//! the caller as a reader, so neither ever holds the whole archive.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use xz2::stream::{LzmaOptions, Stream};

/// The media type of a batch.
pub const CONTENT_TYPE: &str = "application/x-lzma";

/// The LZMA preset: 1 keeps encoding fast (MeMo's base64 still compresses well) and the
/// encoder's memory small (a 1 MiB dictionary).
pub const PRESET: u32 = 1;

/// One message in a batch: its messageUUID (the member is `<uuid>.xml`) and its file.
#[derive(Debug, Clone)]
pub struct Member {
    /// The messageUUID.
    pub uuid: String,
    /// The MeMo XML on disk.
    pub path: PathBuf,
}

fn lzma_error(e: xz2::stream::Error) -> io::Error {
    io::Error::other(format!("LZMA: {e}"))
}

/// Write the batch of `members` into `out`, streamed; returns `out` after the LZMA stream's
/// end marker is written.
pub fn write_batch<W: Write>(members: &[Member], out: W) -> io::Result<W> {
    let options = LzmaOptions::new_preset(PRESET).map_err(lzma_error)?;
    let stream = Stream::new_lzma_encoder(&options).map_err(lzma_error)?;
    let encoder = xz2::write::XzEncoder::new_stream(out, stream);
    let mut builder = tar::Builder::new(encoder);
    for member in members {
        let file = std::fs::File::open(&member.path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot read {}: {e}", member.path.display()),
            )
        })?;
        let size = file.metadata()?.len();
        let mut header = tar::Header::new_ustar();
        header.set_size(size);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        // Exactly `size` bytes go in, even if the file changes meanwhile.
        builder.append_data(
            &mut header,
            format!("{}.xml", member.uuid),
            io::BufReader::new(file).take(size),
        )?;
    }
    builder.into_inner()?.finish()
}

/// Whether the file at `path` looks like a batch: named `*.lzma`, or starting with an LZMA
/// "alone" header (a properties byte below 225, then a power-of-two-ish dictionary size).
pub fn is_batch(path: &Path) -> bool {
    let name = path.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".lzma") {
        return true;
    }
    let mut head = [0u8; 13];
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    if file.read_exact(&mut head).is_err() {
        return false;
    }
    looks_like_lzma(&head)
}

/// An LZMA "alone" header: properties byte (lc/lp/pb) < 225, a dictionary size of at least
/// 4 KiB and at most 1.5 GiB, and an uncompressed size that is "unknown" or plausible.
pub fn looks_like_lzma(head: &[u8; 13]) -> bool {
    let dict = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
    let size = u64::from_le_bytes(head[5..13].try_into().unwrap_or([0; 8]));
    head[0] < 225 && (4096..=(3 << 29)).contains(&dict) && (size == u64::MAX || size < 1 << 48)
        // XML never starts like this; a '<' or a BOM is not a properties byte we make.
        && head[0] != b'<'
        && head[0] != 0xEF
}

/// Why a batch could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The archive is broken (LZMA or tar).
    #[error("not a readable tar.lzma batch: {0}")]
    Archive(io::Error),
    /// A member that is not a regular file named `<uuid>.xml`.
    #[error("member {member}: {reason}")]
    Member {
        /// The member's name.
        member: String,
        /// Why.
        reason: String,
    },
    /// The caller's handler failed.
    #[error(transparent)]
    Handler(#[from] anyhow::Error),
}

/// Decompress and untar `source`, streamed, calling `each(member name, reader)` for every
/// regular file in order; directories are skipped, anything else is an error.
pub fn for_each_member<R: Read>(
    source: R,
    mut each: impl FnMut(&str, &mut dyn Read) -> anyhow::Result<()>,
) -> Result<usize, BatchError> {
    let stream =
        Stream::new_lzma_decoder(u64::MAX).map_err(|e| BatchError::Archive(lzma_error(e)))?;
    let decoder = xz2::read::XzDecoder::new_stream(io::BufReader::new(source), stream);
    let mut archive = tar::Archive::new(decoder);
    let mut count = 0;
    for entry in archive.entries().map_err(BatchError::Archive)? {
        let mut entry = entry.map_err(BatchError::Archive)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        match entry.header().entry_type() {
            tar::EntryType::Directory => continue,
            tar::EntryType::Regular | tar::EntryType::Continuous => {}
            other => {
                return Err(BatchError::Member {
                    member: name,
                    reason: format!("is not a regular file ({other:?})"),
                });
            }
        }
        each(&name, &mut entry)?;
        // Whatever the handler left unread is skipped by the archive.
        count += 1;
    }
    Ok(count)
}

/// The member's stem (`<uuid>` of `<uuid>.xml`), without any folder.
pub fn member_stem(name: &str) -> &str {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.strip_suffix(".xml").unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_round_trips() {
        let dir = std::env::temp_dir().join(format!("dpost-batch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let members: Vec<Member> = (0..3)
            .map(|i| {
                let path = dir.join(format!("{i}.xml"));
                std::fs::write(&path, format!("<m>{i}</m>").repeat(100)).unwrap();
                Member {
                    uuid: format!("uuid-{i}"),
                    path,
                }
            })
            .collect();
        let bytes = write_batch(&members, Vec::new()).unwrap();
        let head: [u8; 13] = bytes[..13].try_into().unwrap();
        assert!(looks_like_lzma(&head));
        let mut seen = Vec::new();
        let n = for_each_member(&bytes[..], |name, r| {
            let mut s = String::new();
            r.read_to_string(&mut s)?;
            seen.push((name.to_owned(), s));
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 3);
        assert_eq!(seen[1].0, "uuid-1.xml");
        assert_eq!(seen[1].1, "<m>1</m>".repeat(100));
        assert_eq!(member_stem(&seen[2].0), "uuid-2");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
