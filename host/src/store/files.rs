//! Where the bytes of stored files live: each received MeMo as received, its decoded
//! documents, the conflicting copies kept beside a message, and each message queued for
//! sending through the platform API.
//!
//! - **SQLite** (one machine): in the data folder, one folder per message, moved into place
//!   and fsynced before the row that names it commits (`ngdp::group_commit`).
//! - **PostgreSQL** (several replicas, issue 18): in the table `dpost_file_chunks`, in
//!   pieces of [`CHUNK`] bytes, written in the same transaction as the row that names the
//!   file. Replicas then share nothing but the database: any replica serves any download,
//!   sends any queued message, purges any message. Each replica's data folder holds only its
//!   spool, which is local and temporary.
//!
//! The rows name a file the same way on both: by a path (`dir` joined with the file's name,
//! or `outgoing.path`). On PostgreSQL that path is the key of the file's pieces, and no
//! replica reads it as a place on its own disk.
//!
//! Why pieces in a table rather than large objects (`lo_*`): a piece is an ordinary row, so
//! it commits, rolls back, replicates, is dumped by `pg_dump` and is deleted with the rest
//! of a message in one transaction; large objects need `lo_unlink` (or the `lo_manage`
//! trigger) to be freed, are left out of a `pg_dump` of single tables, and need their own
//! privileges. Why [`CHUNK`]: a piece is read or written in one round trip, and a download
//! holds at most two pieces in memory (`api::file_stream`); PostgreSQL stores a value this
//! size out of line (TOAST), so the table's own pages stay small.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::sql::{self, OptionalExtension as _, params};
use super::{Store, StoreError};

/// Bytes per piece. Every piece of a file holds exactly this many but its last, so the
/// piece holding byte `n` is `n / CHUNK` (a range request starts there).
pub const CHUNK: usize = 1024 * 1024;

/// Where one stored file's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A file in this machine's data folder (SQLite).
    Disk(PathBuf),
    /// Pieces in the store, under `key`, `size` bytes in all (PostgreSQL).
    Store {
        /// The path the rows name it by.
        key: String,
        /// Its size.
        size: u64,
    },
}

/// The key of the file a row names as `path`.
pub fn key(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Copy the file at `source` into the store as `key`, in pieces, inside the caller's
/// transaction (so the file and the row naming it commit together); its size and SHA-256.
/// Memory: one piece, whatever the file's size.
pub(crate) fn put(conn: &sql::Connection, key: &str, source: &Path) -> sql::Result<(u64, String)> {
    use sha2::Digest as _;
    let failed = |e| sql::Error::File {
        path: source.to_owned(),
        source: e,
    };
    let mut file = std::fs::File::open(source).map_err(failed)?;
    // A file put again under the same key (a message resent after a crash between the put
    // and its commit never happens inside one transaction, but an outgoing message replaced
    // before it was sent does) leaves no piece of the old one behind.
    conn.prepare_cached("DELETE FROM dpost_file_chunks WHERE path = ?1")?
        .execute([key])?;
    let mut insert =
        conn.prepare_cached("INSERT INTO dpost_file_chunks (path, n, bytes) VALUES (?1, ?2, ?3)")?;
    let mut hash = sha2::Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let (mut n, mut size) = (0i64, 0u64);
    loop {
        let got = read_full(&mut file, &mut buf).map_err(failed)?;
        // An empty file still gets its one (empty) piece: its key then says it exists.
        if got == 0 && n > 0 {
            break;
        }
        insert.execute(params![key, n, &buf[..got]])?;
        hash.update(&buf[..got]);
        size += got as u64;
        n += 1;
        if got < CHUNK {
            break;
        }
    }
    Ok((size, crate::ngdp::receive::hex(&hash.finalize())))
}

/// Delete the pieces of every file under the folder `dir` (as rows name it), inside the
/// caller's transaction; how many went.
pub(crate) fn delete_under(conn: &sql::Connection, dir: &Path) -> sql::Result<u64> {
    // Every key `dir/...`: from `dir/` up to, not including, `dir0` ('0' follows '/'), a
    // range the primary key's index answers (a LIKE would need escaping and a scan).
    let dir = key(dir);
    conn.prepare_cached("DELETE FROM dpost_file_chunks WHERE path >= ?1 AND path < ?2")?
        .execute(params![format!("{dir}/"), format!("{dir}0")])
        .map(|n| n as u64)
}

/// Fill `buf` from `r` until it is full or `r` ends; how many bytes it holds.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

impl Store {
    /// Whether this store keeps stored files' bytes itself (PostgreSQL) rather than in the
    /// data folder (SQLite).
    pub fn holds_file_bytes(&self) -> bool {
        self.location.holds_file_bytes()
    }

    /// Where the file a row names as `path` is; `None` when the store should hold it and
    /// does not. On SQLite this asks nothing of the database: the file is `path`.
    pub fn locate_file(&mut self, path: &Path) -> Result<Option<Place>, StoreError> {
        if !self.holds_file_bytes() {
            return Ok(Some(Place::Disk(path.to_owned())));
        }
        let key = key(path);
        let size: Option<i64> = self
            .conn()
            .prepare_cached(
                "SELECT SUM(length(bytes)) FROM dpost_file_chunks WHERE path = ?1 HAVING COUNT(*) > 0",
            )
            .and_then(|mut q| q.query_row([&key], |r| r.get(0)).optional())
            .map_err(|e| self.error(e))?
            .flatten();
        Ok(size.map(|size| Place::Store {
            key,
            size: size as u64,
        }))
    }

    /// Piece `n` of the file stored as `key`; `None` past its last piece.
    pub fn file_piece(&mut self, key: &str, n: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn()
            .prepare_cached("SELECT bytes FROM dpost_file_chunks WHERE path = ?1 AND n = ?2")
            .and_then(|mut q| q.query_row(params![key, n as i64], |r| r.get(0)).optional())
            .map_err(|e| self.error(e))
    }

    /// Write the file a row names as `path` to `out`, piece by piece (bounded memory); the
    /// number of bytes written. For what needs the bytes as a local file or stream (the
    /// sender, `dpost message export`): on SQLite it copies the file itself.
    pub fn copy_file_to(&mut self, path: &Path, out: &mut impl Write) -> Result<u64, StoreError> {
        let io_error = |e: io::Error| StoreError::Io {
            path: path.to_owned(),
            source: e,
        };
        match self.locate_file(path)? {
            None => Err(io_error(io::Error::new(
                io::ErrorKind::NotFound,
                "the store holds no such file",
            ))),
            Some(Place::Disk(p)) => {
                let mut f = std::fs::File::open(&p).map_err(io_error)?;
                io::copy(&mut f, out).map_err(io_error)
            }
            Some(Place::Store { key, size }) => {
                let mut written = 0u64;
                for n in 0.. {
                    let Some(piece) = self.file_piece(&key, n)? else {
                        break;
                    };
                    out.write_all(&piece).map_err(io_error)?;
                    written += piece.len() as u64;
                }
                if written != size {
                    return Err(io_error(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("{written} bytes read of {size}: a piece is missing"),
                    )));
                }
                Ok(written)
            }
        }
    }

    /// Delete the bytes of every file under the folder `dir` (as rows name it) from the store;
    /// how many pieces went. Nothing on SQLite, where the folder is removed from the disk.
    pub fn remove_file_bytes_under(&mut self, dir: &Path) -> Result<u64, StoreError> {
        if !self.holds_file_bytes() {
            return Ok(0);
        }
        delete_under(self.conn(), dir).map_err(|e| self.error(e))
    }

    /// Delete the bytes of the file stored as `path`; nothing on SQLite.
    pub fn remove_file_bytes(&mut self, path: &Path) -> Result<u64, StoreError> {
        if !self.holds_file_bytes() {
            return Ok(0);
        }
        self.conn()
            .execute("DELETE FROM dpost_file_chunks WHERE path = ?1", [key(path)])
            .map(|n| n as u64)
            .map_err(|e| self.error(e))
    }

    /// Copy the local file `source` into the store as the file rows name `path`, committed
    /// on return (alone, or with the caller's transaction when one is open); its size and
    /// SHA-256. Only for a store that [`Self::holds_file_bytes`].
    pub fn put_file(&mut self, path: &Path, source: &Path) -> Result<(u64, String), StoreError> {
        let result = (|| {
            let tx = self.conn().savepoint()?;
            let done = put(&tx, &key(path), source)?;
            tx.commit()?;
            Ok(done)
        })();
        result.map_err(|e| self.error(e))
    }
}

/// The table, for PostgreSQL; SQLite keeps the bytes in the data folder and has none.
pub const POSTGRES: &[super::Migration] = &[super::Migration {
    version: 1,
    sql: "
        CREATE TABLE dpost_file_chunks (
            path  TEXT NOT NULL,
            n     BIGINT NOT NULL,
            bytes BYTEA NOT NULL,
            PRIMARY KEY (path, n)
        );
        -- Out of line, uncompressed: documents are mostly PDFs and images, compressed
        -- already, and pglz spends CPU on every piece for what is left (the MeMo's base64).
        ALTER TABLE dpost_file_chunks ALTER COLUMN bytes SET STORAGE EXTERNAL;
    ",
}];

/// SQLite's list: one step that creates nothing, so the service's version says the same on
/// both backends.
pub const MIGRATIONS: &[super::Migration] = &[super::Migration {
    version: 1,
    sql: "-- SQLite keeps stored files' bytes in the data folder (store::files).",
}];

#[cfg(test)]
mod tests {
    use super::*;

    fn local(name: &str, bytes: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dpost-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn read_back(store: &mut Store, path: &Path) -> Vec<u8> {
        let mut out = Vec::new();
        store.copy_file_to(path, &mut out).unwrap();
        out
    }

    #[test]
    fn a_file_goes_in_by_pieces_and_comes_back_whole() {
        let mut store = crate::store::scratch_store("files-pieces");
        if !store.holds_file_bytes() {
            // SQLite: the path is the file itself.
            let p = local("sqlite.bin", b"abc");
            assert_eq!(store.locate_file(&p).unwrap(), Some(Place::Disk(p.clone())));
            assert_eq!(read_back(&mut store, &p), b"abc");
            assert_eq!(
                store.remove_file_bytes_under(p.parent().unwrap()).unwrap(),
                0
            );
            return;
        }
        // Two full pieces and a part, with a pattern that shows a piece out of order.
        let bytes: Vec<u8> = (0..(2 * CHUNK + 777)).map(|i| (i % 251) as u8).collect();
        let source = local("big.bin", &bytes);
        let path = Path::new("messages/m-1/files/0001");
        let (size, sha) = store.put_file(path, &source).unwrap();
        assert_eq!(size, bytes.len() as u64);
        use sha2::Digest as _;
        assert_eq!(sha, crate::store::digipost::sha256_hex(&bytes));
        assert_eq!(
            store.locate_file(path).unwrap(),
            Some(Place::Store {
                key: "messages/m-1/files/0001".into(),
                size: bytes.len() as u64
            })
        );
        assert_eq!(
            store.file_piece(&key(path), 1).unwrap().unwrap().len(),
            CHUNK
        );
        assert_eq!(store.file_piece(&key(path), 2).unwrap().unwrap().len(), 777);
        assert_eq!(store.file_piece(&key(path), 3).unwrap(), None);
        assert!(read_back(&mut store, path) == bytes);

        // An empty file exists, with no bytes.
        let empty = Path::new("messages/m-1/message.xml");
        store.put_file(empty, &local("empty.bin", b"")).unwrap();
        assert_eq!(
            store.locate_file(empty).unwrap(),
            Some(Place::Store {
                key: key(empty),
                size: 0
            })
        );
        // Put again: the new bytes replace every piece of the old.
        store.put_file(path, &local("small.bin", b"xyz")).unwrap();
        assert_eq!(read_back(&mut store, path), b"xyz");

        // Removing a folder takes its files and nothing of a neighbour whose name it begins.
        store
            .put_file(
                Path::new("messages/m-10/message.xml"),
                &local("n.bin", b"n"),
            )
            .unwrap();
        assert_eq!(
            store
                .remove_file_bytes_under(Path::new("messages/m-1"))
                .unwrap(),
            2
        );
        assert_eq!(store.locate_file(path).unwrap(), None);
        assert!(
            store
                .locate_file(Path::new("messages/m-10/message.xml"))
                .unwrap()
                .is_some()
        );
        let e = store
            .copy_file_to(path, &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("messages/m-1/files/0001") && e.contains("no such file"),
            "{e}"
        );
    }

    #[test]
    fn a_source_that_cannot_be_read_is_named_and_nothing_is_kept() {
        let mut store = crate::store::scratch_store("files-missing");
        if !store.holds_file_bytes() {
            return;
        }
        let e = store
            .put_file(
                Path::new("outgoing/x/message.xml"),
                Path::new("/nonexistent/dpost-file"),
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/dpost-file"), "{e}");
        assert_eq!(
            store
                .locate_file(Path::new("outgoing/x/message.xml"))
                .unwrap(),
            None
        );
    }
}
