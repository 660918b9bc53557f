//! The stored files' bytes (each message as received, its documents, kept conflicting copies,
//! outgoing MeMos: [`backup::referenced_files`]), copied from the SQLite installation's data
//! folder into the target's pieces ([`crate::store::files`]) under the paths the rows name
//! them by, so the copied rows find them and the data folder is no longer needed. Each file
//! is hashed as it is read, then read back from PostgreSQL and hashed again; both must match
//! the SHA-256 and size its row records.

use std::collections::HashMap;

use sha2::Digest as _;

use super::checks::file_mismatch;
use super::{CopyError, CopyReport};
use crate::store::backup;
use crate::store::files::{self, CHUNK};
use crate::store::sql::{self, OptionalExtension as _, params};

/// Copy every file `src` refers to into `tx`; what differs goes to `report.mismatches`.
pub(super) fn copy(
    src: &rusqlite::Connection,
    tx: &sql::Connection,
    read: impl Fn(rusqlite::Error) -> CopyError,
    write: impl Fn(String, sql::Error) -> CopyError,
    report: &mut CopyReport,
) -> Result<(), CopyError> {
    // A file several rows name (a test store's seeded copies share their folders) is put
    // once; each row is still checked against what was put.
    let mut done: HashMap<String, [(u64, String); 2]> = HashMap::new();
    for f in &backup::referenced_files(src).map_err(read)? {
        let key = files::key(&f.path);
        if let Some(both) = done.get(&key) {
            report.files_checked += 1;
            if let Some(p) = both
                .iter()
                .find_map(|(size, sha)| backup::compare(f, *size, sha))
            {
                report.mismatches.push(file_mismatch(f, p));
            }
            continue;
        }
        let put = match files::put(tx, &key, &f.path) {
            Ok(put) => put,
            Err(sql::Error::File { source, .. }) => {
                report
                    .mismatches
                    .push(file_mismatch(f, backup::unreadable(f, &source)));
                continue;
            }
            Err(e) => return Err(write(format!("writing {}", f.path.display()), e)),
        };
        let back = read_back(tx, &key).map_err(|e| write(format!("reading back {key}"), e))?;
        report.files_checked += 1;
        report.file_bytes += put.0;
        let both = [put, back];
        if let Some(p) = both
            .iter()
            .find_map(|(size, sha)| backup::compare(f, *size, sha))
        {
            report.mismatches.push(file_mismatch(f, p));
        }
        done.insert(key, both);
    }
    Ok(())
}

/// The size and SHA-256 of the pieces stored as `key`, as PostgreSQL returns them.
fn read_back(tx: &sql::Connection, key: &str) -> sql::Result<(u64, String)> {
    let mut q =
        tx.prepare_cached("SELECT bytes FROM dpost_file_chunks WHERE path = ?1 AND n = ?2")?;
    let (mut hash, mut size) = (sha2::Sha256::new(), 0u64);
    for n in 0i64.. {
        let Some(piece): Option<Vec<u8>> = q.query_row(params![key, n], |r| r.get(0)).optional()?
        else {
            break;
        };
        hash.update(&piece);
        size += piece.len() as u64;
        if piece.len() < CHUNK {
            break;
        }
    }
    Ok((size, crate::ngdp::receive::hex(&hash.finalize())))
}
