//! Backing up, restoring and verifying the store: the SQLite file and the message files it
//! points at.
//!
//! Consistency while `dpost serve` runs: the database is copied with SQLite's online backup
//! API in a single step (<https://www.sqlite.org/backup.html>; one `sqlite3_backup_step(-1)`
//! copies every page under one read transaction, so the copy is one committed state). In WAL
//! mode that read does not stop writers. The files copied are exactly those the copied
//! database refers to: a message's files are fsynced before its row commits and are never
//! changed afterwards, so every file the snapshot names is complete on disk. Files of
//! messages committed after the snapshot are not in the backup, as their rows are not.
//!
//! A backup folder holds `dpost.db`, `files/` (paths relative to the data folder) and
//! `manifest.json` (every file with its size and SHA-256, and the folder the paths in the
//! database were relative to, so a restore into another folder can rewrite them).

use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use sha2::{Digest as _, Sha256};

/// The manifest's format name; a restore refuses any other.
const FORMAT: &str = "dpost-backup/1";
/// The database's name inside a backup folder.
const DATABASE: &str = "dpost.db";
/// The files' folder inside a backup folder.
const FILES: &str = "files";
/// The manifest's name inside a backup folder.
const MANIFEST: &str = "manifest.json";

/// Why a backup, restore or verification could not be done.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// SQLite failed.
    #[error("{path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// The destination is not empty: nothing is overwritten.
    #[error("{0} is not empty; a backup or restore goes into an empty or new folder")]
    NotEmpty(PathBuf),
    /// The store to back up or verify does not exist.
    #[error("there is no store at {0}")]
    NoStore(PathBuf),
    /// The restore's destination store exists.
    #[error("the store {0} exists; restore only into a data folder without one")]
    StoreExists(PathBuf),
    /// The backup folder is not one (no manifest, another format, bad JSON).
    #[error("{path} is not a dpost backup: {why}")]
    NotABackup {
        /// The manifest.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A file the database refers to lies outside the data folder.
    #[error("{path} (of {owner}) is outside the data folder {data_dir}")]
    Outside {
        /// The file.
        path: PathBuf,
        /// What refers to it.
        owner: String,
        /// The data folder.
        data_dir: PathBuf,
    },
    /// Files the backup needed were missing or damaged; the backup is incomplete.
    #[error("{} file(s) missing or damaged; the backup in {dir} is incomplete", problems.len())]
    Incomplete {
        /// The backup folder.
        dir: PathBuf,
        /// What was wrong, one line each.
        problems: Vec<Problem>,
    },
}

/// A file the database refers to, with what the database says it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    /// The path as stored (absolute, or relative to where dpost runs).
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, lower-case hex.
    pub sha256: String,
    /// What it belongs to (`message <uuid>`, `outgoing <uuid>`).
    pub owner: String,
    /// The table whose row records it (`ngdp_messages`, `ngdp_files`, `ngdp_conflicts`,
    /// `outgoing`; `manifest.json` for a backup's own list).
    pub table: &'static str,
}

/// A file that is not as the database says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The file.
    pub path: String,
    /// What it belongs to.
    pub owner: String,
    /// missing | damaged | unreadable
    pub kind: &'static str,
    /// Details for a person.
    pub detail: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} ({}): {}",
            self.kind, self.path, self.owner, self.detail
        )
    }
}

/// What a backup or restore did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    /// The database's size in bytes.
    pub database_bytes: u64,
    /// Message files copied.
    pub files: u64,
    /// Their bytes.
    pub file_bytes: u64,
}

/// What `store verify` found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Verification {
    /// Files checked.
    pub checked: u64,
    /// Their bytes.
    pub bytes: u64,
    /// SQLite's `PRAGMA integrity_check`: `ok`, or what it found.
    pub database: String,
    /// Files missing or damaged.
    pub problems: Vec<Problem>,
}

impl Verification {
    /// Nothing is missing or damaged.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty() && self.database == "ok"
    }
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Manifest {
    format: String,
    created_at: i64,
    /// The data folder the database's paths start with.
    data_dir: String,
    files: Vec<ManifestFile>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct ManifestFile {
    /// Relative to the data folder (and to `files/` in the backup).
    path: String,
    size: u64,
    sha256: String,
}

/// Every file the database at `conn` refers to: each received message's MeMo as received,
/// its documents and the conflicting copies kept beside it, and each message queued through
/// the platform API.
pub fn referenced_files(conn: &Connection) -> rusqlite::Result<Vec<FileRef>> {
    let mut out = Vec::new();
    let mut q = conn.prepare("SELECT uuid, dir, raw_size, raw_sha256 FROM ngdp_messages")?;
    let rows = q.query_map([], |r| {
        Ok(FileRef {
            table: "ngdp_messages",
            owner: format!("message {}", r.get::<_, String>(0)?),
            path: Path::new(&r.get::<_, String>(1)?).join("message.xml"),
            size: r.get::<_, i64>(2)? as u64,
            sha256: r.get(3)?,
        })
    })?;
    for f in rows {
        out.push(f?);
    }
    let mut q = conn.prepare(
        "SELECT f.message_uuid, m.dir, f.path, f.size, f.sha256 FROM ngdp_files f
         JOIN ngdp_messages m ON m.uuid = f.message_uuid ORDER BY f.message_uuid, f.seq",
    )?;
    let rows = q.query_map([], |r| {
        Ok(FileRef {
            table: "ngdp_files",
            owner: format!("message {}", r.get::<_, String>(0)?),
            path: Path::new(&r.get::<_, String>(1)?).join(r.get::<_, String>(2)?),
            size: r.get::<_, i64>(3)? as u64,
            sha256: r.get(4)?,
        })
    })?;
    for f in rows {
        out.push(f?);
    }
    // Conflicting copies of a stored messageUUID (kept when `path` is set).
    let mut q = conn.prepare(
        "SELECT c.message_uuid, m.dir, c.path, c.size, c.sha256 FROM ngdp_conflicts c
         JOIN ngdp_messages m ON m.uuid = c.message_uuid WHERE c.path IS NOT NULL ORDER BY c.id",
    )?;
    let rows = q.query_map([], |r| {
        Ok(FileRef {
            table: "ngdp_conflicts",
            owner: format!("conflicting copy of message {}", r.get::<_, String>(0)?),
            path: Path::new(&r.get::<_, String>(1)?).join(r.get::<_, String>(2)?),
            size: r.get::<_, i64>(3)? as u64,
            sha256: r.get(4)?,
        })
    })?;
    for f in rows {
        out.push(f?);
    }
    let mut q = conn.prepare("SELECT uuid, path, size, sha256 FROM outgoing ORDER BY seq")?;
    let rows = q.query_map([], |r| {
        Ok(FileRef {
            table: "outgoing",
            owner: format!("outgoing {}", r.get::<_, String>(0)?),
            path: PathBuf::from(r.get::<_, String>(1)?),
            size: r.get::<_, i64>(2)? as u64,
            sha256: r.get(3)?,
        })
    })?;
    for f in rows {
        out.push(f?);
    }
    Ok(out)
}

/// Copy the store at `store_path` and the files it refers to under `data_dir` into `dest`
/// (new or empty). Safe while `dpost serve` writes to the store.
pub fn backup(
    store_path: &Path,
    data_dir: &Path,
    dest: &Path,
    now: i64,
) -> Result<Summary, BackupError> {
    if !store_path.exists() {
        return Err(BackupError::NoStore(store_path.to_owned()));
    }
    require_empty(dest)?;
    create_private_dir(&dest.join(FILES))?;
    let copy_path = dest.join(DATABASE);
    let sqlite = |path: &Path| {
        let path = path.to_owned();
        move |source| BackupError::Sqlite { path, source }
    };
    let src = Connection::open_with_flags(store_path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(sqlite(store_path))?;
    src.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(sqlite(store_path))?;
    let mut dst = Connection::open(&copy_path).map_err(sqlite(&copy_path))?;
    {
        let b = rusqlite::backup::Backup::new(&src, &mut dst).map_err(sqlite(&copy_path))?;
        // All pages in one step (-1): one read transaction, so one consistent state. In WAL
        // mode that read blocks no writer; Busy/Locked (another connection mid-checkpoint)
        // are waited out, boundedly.
        let mut waits = 0;
        loop {
            match b.step(-1).map_err(sqlite(&copy_path))? {
                rusqlite::backup::StepResult::Done => break,
                _ if waits < 600 => {
                    waits += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                _ => {
                    return Err(BackupError::Sqlite {
                        path: store_path.to_owned(),
                        source: rusqlite::Error::SqliteFailure(
                            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                            Some("the store stayed busy for 30 seconds".into()),
                        ),
                    });
                }
            }
        }
    }
    drop(src);
    let refs = referenced_files(&dst).map_err(sqlite(&copy_path))?;
    drop(dst);
    owner_only(&copy_path)?;
    sync_file(&copy_path)?;

    let mut summary = Summary {
        database_bytes: size_of(&copy_path)?,
        ..Summary::default()
    };
    let mut manifest = Manifest {
        format: FORMAT.to_owned(),
        created_at: now,
        data_dir: data_dir.display().to_string(),
        files: Vec::with_capacity(refs.len()),
    };
    let mut problems = Vec::new();
    for f in refs {
        let rel = relative(&f, data_dir)?;
        let target = dest.join(FILES).join(&rel);
        if let Some(parent) = target.parent() {
            create_private_dir(parent)?;
        }
        match copy_hashing(&f.path, &target) {
            Ok((size, sha256)) => {
                if let Some(p) = compare(&f, size, &sha256) {
                    problems.push(p);
                }
                summary.files += 1;
                summary.file_bytes += size;
                manifest.files.push(ManifestFile {
                    path: rel.to_string_lossy().into_owned(),
                    size,
                    sha256,
                });
            }
            Err(CopyError::Source(e)) => problems.push(unreadable(&f, &e)),
            Err(CopyError::Target(source)) => {
                return Err(BackupError::Io {
                    path: target,
                    source,
                });
            }
        }
    }
    let json = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    write_synced(&dest.join(MANIFEST), &json)?;
    if !problems.is_empty() {
        return Err(BackupError::Incomplete {
            dir: dest.to_owned(),
            problems,
        });
    }
    Ok(summary)
}

/// Put the backup in `src` into place as the store `store_path` with its files under
/// `data_dir`. Neither may hold anything yet; each file is checked against the manifest
/// before the database is put into place, and the database's paths are rewritten when the
/// data folder is not where it was.
pub fn restore(src: &Path, store_path: &Path, data_dir: &Path) -> Result<Summary, BackupError> {
    let manifest_path = src.join(MANIFEST);
    let text = std::fs::read(&manifest_path).map_err(|e| BackupError::NotABackup {
        path: manifest_path.clone(),
        why: e.to_string(),
    })?;
    let manifest: Manifest =
        serde_json::from_slice(&text).map_err(|e| BackupError::NotABackup {
            path: manifest_path.clone(),
            why: e.to_string(),
        })?;
    if manifest.format != FORMAT {
        return Err(BackupError::NotABackup {
            path: manifest_path,
            why: format!("format {:?}, expected {FORMAT:?}", manifest.format),
        });
    }
    for p in [
        store_path.to_owned(),
        sidecar(store_path, "-wal"),
        sidecar(store_path, "-journal"),
    ] {
        if p.exists() {
            return Err(BackupError::StoreExists(p));
        }
    }
    require_empty(data_dir)?;
    let mut summary = Summary::default();
    let mut problems = Vec::new();
    for f in &manifest.files {
        let rel = Path::new(&f.path);
        if rel.is_absolute()
            || rel
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(BackupError::NotABackup {
                path: manifest_path,
                why: format!("the file path {:?} leaves the data folder", f.path),
            });
        }
        let target = data_dir.join(rel);
        if let Some(parent) = target.parent() {
            create_private_dir(parent)?;
        }
        let want = FileRef {
            path: src.join(FILES).join(rel),
            size: f.size,
            sha256: f.sha256.clone(),
            owner: "backup".to_owned(),
            table: MANIFEST,
        };
        match copy_hashing(&want.path, &target) {
            Ok((size, sha256)) => {
                if let Some(p) = compare(&want, size, &sha256) {
                    problems.push(p);
                }
                summary.files += 1;
                summary.file_bytes += size;
            }
            Err(CopyError::Source(e)) => problems.push(unreadable(&want, &e)),
            Err(CopyError::Target(source)) => {
                return Err(BackupError::Io {
                    path: target,
                    source,
                });
            }
        }
    }
    if !problems.is_empty() {
        return Err(BackupError::Incomplete {
            dir: src.to_owned(),
            problems,
        });
    }
    // The database last, through a temporary name: a store that exists is a complete one.
    let staged = sidecar(store_path, ".restoring");
    if let Some(parent) = store_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(parent)?;
    }
    copy_hashing(&src.join(DATABASE), &staged).map_err(|e| match e {
        CopyError::Source(source) => BackupError::Io {
            path: src.join(DATABASE),
            source,
        },
        CopyError::Target(source) => BackupError::Io {
            path: staged.clone(),
            source,
        },
    })?;
    let old = manifest.data_dir.as_str();
    let new = data_dir.display().to_string();
    if old != new {
        let conn = Connection::open(&staged).map_err(|source| BackupError::Sqlite {
            path: staged.clone(),
            source,
        })?;
        rewrite_prefix(&conn, old, &new).map_err(|source| BackupError::Sqlite {
            path: staged.clone(),
            source,
        })?;
    }
    sync_file(&staged)?;
    std::fs::rename(&staged, store_path).map_err(|source| BackupError::Io {
        path: store_path.to_owned(),
        source,
    })?;
    summary.database_bytes = size_of(store_path)?;
    Ok(summary)
}

/// Check every file the store refers to against its size and SHA-256, and the database with
/// SQLite's integrity check.
pub fn verify(store_path: &Path) -> Result<Verification, BackupError> {
    if !store_path.exists() {
        return Err(BackupError::NoStore(store_path.to_owned()));
    }
    let sqlite = |source| BackupError::Sqlite {
        path: store_path.to_owned(),
        source,
    };
    let conn = Connection::open_with_flags(store_path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(sqlite)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(sqlite)?;
    let database = {
        let mut q = conn.prepare("PRAGMA integrity_check").map_err(sqlite)?;
        let lines: Vec<String> = q
            .query_map([], |r| r.get(0))
            .map_err(sqlite)?
            .collect::<Result<_, _>>()
            .map_err(sqlite)?;
        lines.join("; ")
    };
    let refs = referenced_files(&conn).map_err(sqlite)?;
    let mut v = Verification {
        database,
        ..Verification::default()
    };
    for f in refs {
        match hash_file(&f.path) {
            Ok((size, sha256)) => {
                v.checked += 1;
                v.bytes += size;
                if let Some(p) = compare(&f, size, &sha256) {
                    v.problems.push(p);
                }
            }
            Err(e) => v.problems.push(unreadable(&f, &e)),
        }
    }
    Ok(v)
}

/// `path` with `suffix` appended to its file name (`dpost.db-wal`).
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Rewrite the stored paths that start with `old` to start with `new`.
fn rewrite_prefix(conn: &Connection, old: &str, new: &str) -> rusqlite::Result<()> {
    for (table, column) in [("ngdp_messages", "dir"), ("outgoing", "path")] {
        conn.execute(
            &format!(
                "UPDATE {table} SET {column} = ?2 || substr({column}, length(?1) + 1)
                 WHERE substr({column}, 1, length(?1)) = ?1"
            ),
            [old, new],
        )?;
    }
    Ok(())
}

fn relative(f: &FileRef, data_dir: &Path) -> Result<PathBuf, BackupError> {
    match f.path.strip_prefix(data_dir) {
        Ok(rel)
            if rel
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_))) =>
        {
            Ok(rel.to_owned())
        }
        _ => Err(BackupError::Outside {
            path: f.path.clone(),
            owner: f.owner.clone(),
            data_dir: data_dir.to_owned(),
        }),
    }
}

pub(crate) fn compare(f: &FileRef, size: u64, sha256: &str) -> Option<Problem> {
    (size != f.size || sha256 != f.sha256).then(|| Problem {
        path: f.path.display().to_string(),
        owner: f.owner.clone(),
        kind: "damaged",
        detail: format!(
            "{size} bytes with SHA-256 {sha256}; the store has {} bytes with SHA-256 {}",
            f.size, f.sha256
        ),
    })
}

pub(crate) fn unreadable(f: &FileRef, e: &io::Error) -> Problem {
    Problem {
        path: f.path.display().to_string(),
        owner: f.owner.clone(),
        kind: if e.kind() == io::ErrorKind::NotFound {
            "missing"
        } else {
            "unreadable"
        },
        detail: e.to_string(),
    }
}

fn require_empty(dir: &Path) -> Result<(), BackupError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err(BackupError::NotEmpty(dir.to_owned())),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(BackupError::Io {
            path: dir.to_owned(),
            source,
        }),
    }
}

/// Create `dir` and its parents, readable by the owner only (the files hold CPR numbers).
fn create_private_dir(dir: &Path) -> Result<(), BackupError> {
    super::permissions::create_private_dir(dir).map_err(|source| BackupError::Io {
        path: dir.to_owned(),
        source,
    })
}

enum CopyError {
    Source(io::Error),
    Target(io::Error),
}

/// Copy `from` to a new file `to` (owner-only), fsynced; its size and SHA-256.
fn copy_hashing(from: &Path, to: &Path) -> Result<(u64, String), CopyError> {
    let mut input = File::open(from).map_err(CopyError::Source)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut output = options.open(to).map_err(CopyError::Target)?;
    let mut hash = Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Source(e)),
        };
        hash.update(&buf[..n]);
        size += n as u64;
        output.write_all(&buf[..n]).map_err(CopyError::Target)?;
    }
    output.sync_all().map_err(CopyError::Target)?;
    Ok((size, crate::ngdp::receive::hex(&hash.finalize())))
}

/// A file's size and SHA-256, read in chunks.
pub fn hash_file(path: &Path) -> io::Result<(u64, String)> {
    let mut input = File::open(path)?;
    let mut hash = Sha256::new();
    let size = io::copy(&mut input, &mut hash)?;
    Ok((size, crate::ngdp::receive::hex(&hash.finalize())))
}

/// Make `path` readable and writable by its owner only (the store holds CPR numbers).
fn owner_only(path: &Path) -> Result<(), BackupError> {
    super::permissions::set_mode(path, 0o600).map_err(|source| BackupError::Io {
        path: path.to_owned(),
        source,
    })
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    let io = |source| BackupError::Io {
        path: path.to_owned(),
        source,
    };
    let mut f = super::permissions::create_private(path).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

fn sync_file(path: &Path) -> Result<(), BackupError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|source| BackupError::Io {
            path: path.to_owned(),
            source,
        })
}

fn size_of(path: &Path) -> Result<u64, BackupError> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|source| BackupError::Io {
            path: path.to_owned(),
            source,
        })
}
