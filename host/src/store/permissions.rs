//! The store holds personal data (CPR numbers in MeMo headers, letters): its database, the
//! database's WAL and shared-memory files, and the message files are readable by the owner
//! only (files 0600, folders 0700), whatever the umask dpost was started with. `dpost doctor`
//! reports any that are not ([`audit`]), with the `chmod` that fixes them.
//!
//! SQLite creates the `-wal` and `-shm` files with the mode of the database file (its unix
//! VFS, `findCreateFileMode`), so a database created 0600 keeps its companions 0600 too.

use std::io;
use std::path::{Path, PathBuf};

/// Files: read and write for the owner only.
pub const FILE_MODE: u32 = 0o600;
/// Folders: the owner only.
pub const DIR_MODE: u32 = 0o700;

/// Make every file and folder this process creates private from here on: a folder or file
/// made by a library (SQLite's, a temporary file) gets no group or other bits either. The
/// explicit modes below still apply when the umask was changed by someone else.
pub fn private_umask() {
    #[cfg(unix)]
    // SAFETY: umask only sets the process's file mode creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// Create `dir` and any missing parents, each made 0700 (folders that exist keep theirs).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent()
        && !parent.as_os_str().is_empty()
    {
        create_private_dir(parent)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => set_mode(dir, DIR_MODE),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Create `path` empty with mode 0600 when it does not exist.
pub fn create_private_file(path: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    match options.open(path) {
        // The umask may have taken bits away from the mode, never added: set it exactly.
        Ok(_) => set_mode(path, FILE_MODE),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Create (or truncate) `path` for writing, mode 0600 whatever the umask.
pub fn create_private(path: &Path) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
    }
    Ok(file)
}

/// Set `path`'s permission bits to `mode` (nothing on systems without them).
pub fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

/// A file or folder of the store that others can read or enter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loose {
    /// Where.
    pub path: PathBuf,
    /// Its permission bits.
    pub mode: u32,
    /// A folder.
    pub dir: bool,
}

impl Loose {
    /// The command that makes it private (a folder: with everything in it).
    pub fn fix(&self) -> String {
        if self.dir {
            format!("chmod -R go-rwx {}", self.path.display())
        } else {
            format!("chmod 600 {}", self.path.display())
        }
    }
}

/// Entries looked at below the data folder at most (the newest messages are as exposed as
/// the oldest, and a store may hold millions of files).
const AUDIT_LIMIT: usize = 10_000;

/// The store's database (with `-wal`, `-shm`) and its data folder, with what is below it up
/// to a bound: every one that group or others may read, write or enter.
pub fn audit(database: &Path, data_dir: &Path) -> Vec<Loose> {
    let mut loose = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut p = database.as_os_str().to_owned();
        p.push(suffix);
        look(Path::new(&p), &mut loose);
    }
    let mut budget = AUDIT_LIMIT;
    walk(data_dir, &mut loose, &mut budget);
    loose
}

fn look(path: &Path, loose: &mut Vec<Loose>) -> Option<bool> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    let mode = mode_of(&meta);
    if mode & 0o077 != 0 {
        loose.push(Loose {
            path: path.to_owned(),
            mode,
            dir: meta.is_dir(),
        });
    }
    Some(meta.is_dir())
}

fn walk(dir: &Path, loose: &mut Vec<Loose>, budget: &mut usize) {
    if look(dir, loose) != Some(true) {
        return;
    }
    // A loose folder is reported once, with a recursive fix.
    if loose.last().is_some_and(|l| l.path == dir) {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        walk(&e.path(), loose, budget);
    }
}

#[cfg(unix)]
fn mode_of(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    meta.permissions().mode() & 0o777
}

#[cfg(not(unix))]
fn mode_of(_: &std::fs::Metadata) -> u32 {
    0
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn created_private_whatever_the_umask_and_audited() {
        let root = std::env::temp_dir().join(format!("dpost-perm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join("a/b");
        create_private_dir(&dir).unwrap();
        let db = root.join("t.db");
        create_private_file(&db).unwrap();
        assert!(audit(&db, &root.join("a")).is_empty());
        set_mode(&db, 0o644).unwrap();
        std::fs::write(dir.join("m.xml"), b"x").unwrap();
        set_mode(&dir.join("m.xml"), 0o640).unwrap();
        let found = audit(&db, &root.join("a"));
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].fix(), format!("chmod 600 {}", db.display()));
        assert_eq!(found[1].mode, 0o640);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
