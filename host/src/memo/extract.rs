//! Writing a message's files to a folder without trusting the names inside the message.
//!
//! A filename in a MeMo is text from the sender. It may hold path separators, `..`, control
//! characters, a drive letter, or a name another file already has. Every name is reduced to a
//! single safe component, made unique (case-insensitively, for file systems that fold case,
//! and against what the folder already holds), and created with `create_new` (`O_EXCL`, which
//! never follows a symbolic link), so nothing outside the folder is written and nothing is
//! overwritten, not even through a planted symbolic link.
//!
//! An [`Extraction`] writes each file under a temporary name beside its final one and moves
//! it into place only when the whole message has been read and its content found sound: a
//! reader that opens a file never sees a cut-off or wrongly decoded one.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write as _};
use std::path::{Path, PathBuf};

/// Longest file name written, in bytes (most file systems allow 255).
const MAX_NAME_BYTES: usize = 200;

/// Characters that are never written into a name: separators, Windows-reserved characters,
/// and the Unicode spaces and line breaks that NgDP forbids in MeMo filenames.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '/' | '\\' | '<' | '>' | ':' | '"' | '|' | '?' | '*')
        || matches!(
            c,
            '\u{00A0}' | '\u{2000}'
                ..='\u{200A}'
                    | '\u{2028}'
                    | '\u{2029}'
                    | '\u{205F}'
                    | '\u{2060}'
                    | '\u{3000}'
                    | '\u{FEFF}'
        )
}

/// One safe path component for `raw`: never empty, never `.`/`..`, no hidden leading dot.
pub fn safe_name(raw: &str) -> String {
    // Keep only what follows the last separator: "../../etc/passwd" names "passwd".
    let last = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let mut name: String = last
        .chars()
        .map(|c| if is_unsafe(c) { '_' } else { c })
        .collect();
    let trimmed = name
        .trim_matches(|c: char| c == '.' || c.is_whitespace())
        .to_owned();
    name = trimmed;
    if name.is_empty() {
        name = "file".into();
    }
    if name.len() > MAX_NAME_BYTES {
        // Keep the extension, cut the stem on a character boundary.
        let ext = name
            .rsplit_once('.')
            .map(|(_, e)| e.to_owned())
            .filter(|e| e.len() <= 16);
        let keep = MAX_NAME_BYTES - ext.as_ref().map_or(0, |e| e.len() + 1);
        let mut cut = keep;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name.truncate(cut);
        if let Some(e) = ext {
            name.push('.');
            name.push_str(&e);
        }
    }
    name
}

/// Hands out unique names in one folder.
#[derive(Debug, Default)]
pub struct Names {
    taken: BTreeSet<String>,
}

impl Names {
    /// A name for `raw` that no earlier call returned (compared without case).
    pub fn unique(&mut self, raw: &str) -> String {
        let base = safe_name(raw);
        let (stem, ext) = match base.rsplit_once('.') {
            Some((s, e)) if !s.is_empty() => (s.to_owned(), format!(".{e}")),
            _ => (base.clone(), String::new()),
        };
        let mut candidate = base;
        let mut n = 2;
        while !self.taken.insert(candidate.to_lowercase()) {
            candidate = format!("{stem} ({n}){ext}");
            n += 1;
        }
        candidate
    }
}

impl Names {
    /// Creates a new file in `dir` named after `raw`: the first of [`Names::unique`]'s names
    /// that neither this run nor the folder holds. Anything already there (a file, a folder,
    /// a symbolic link) is left alone and the next name is tried.
    pub fn create(&mut self, dir: &Path, raw: &str) -> io::Result<(File, PathBuf)> {
        // Enough for any folder a person keeps; a bound so that a folder that refuses every
        // name (EEXIST from a file system that lies) cannot make this loop for ever.
        for _ in 0..10_000 {
            let name = self.unique(raw);
            match create_in(dir, &name) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                r => return r,
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("no free name for {raw:?} in {}", dir.display()),
        ))
    }
}

impl Names {
    /// Creates a new folder in `dir` named after `raw`, skipping names the folder holds, as
    /// [`Names::create`] does for files.
    pub fn create_dir(&mut self, dir: &Path, raw: &str) -> io::Result<PathBuf> {
        for _ in 0..10_000 {
            let path = dir.join(self.unique(raw));
            match std::fs::create_dir(&path) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
                Ok(()) => return Ok(path),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("no free name for {raw:?} in {}", dir.display()),
        ))
    }
}

/// Create `name` inside `dir`, failing if it exists (never following or replacing anything).
pub fn create_in(dir: &Path, name: &str) -> io::Result<(File, PathBuf)> {
    let path = dir.join(name);
    debug_assert_eq!(path.parent(), Some(dir), "safe_name yields one component");
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    Ok((file, path))
}

/// Why an extraction failed: which file, and what the file system said.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}: {source}", path.display())]
pub struct ExtractError {
    /// What was being done: `create`, `write`, `move into place`.
    pub action: &'static str,
    /// The file.
    pub path: PathBuf,
    /// What the file system said.
    pub source: io::Error,
}

fn failed(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ExtractError + use<> {
    let path = path.to_path_buf();
    move |source| ExtractError {
        action,
        path,
        source,
    }
}

/// A file written under a temporary name, waiting to be moved onto its reserved final name.
#[derive(Debug)]
struct Staged {
    /// The final name, reserved by an empty file created with `create_new`.
    path: PathBuf,
    /// Where the content is being written.
    temporary: PathBuf,
    size: u64,
}

/// One message's files written into a folder, all or nothing: [`Extraction::commit`] moves
/// every file into place; dropping it uncommitted (an error, a message found broken) removes
/// everything it wrote.
#[derive(Debug)]
pub struct Extraction {
    dir: PathBuf,
    names: Names,
    staged: Vec<Staged>,
    /// The file being written.
    current: Option<BufWriter<File>>,
    committed: bool,
}

impl Extraction {
    /// An extraction into `dir` (which must exist).
    pub fn new(dir: &Path) -> Self {
        Extraction {
            dir: dir.to_path_buf(),
            names: Names::default(),
            staged: Vec::new(),
            current: None,
            committed: false,
        }
    }

    /// Starts a file the message names `raw`: reserves its final name and opens its
    /// temporary one.
    pub fn begin_file(&mut self, raw: &str) -> Result<(), ExtractError> {
        self.end_current()?;
        let (placeholder, path) = self
            .names
            .create(&self.dir, raw)
            .map_err(failed("create", &self.dir.join(safe_name(raw))))?;
        drop(placeholder);
        // The temporary name starts with a dot and ends in `.partial`, and is never a name
        // `safe_name` hands out (those never start with a dot), so it cannot meet a file of
        // this message; one left by an earlier run is skipped like any taken name.
        let stem = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut n = 0u32;
        let (file, temporary) = loop {
            let name = match n {
                0 => format!(".{stem}.partial"),
                _ => format!(".{stem}.{n}.partial"),
            };
            match create_in(&self.dir, &name) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => {
                    let _ = std::fs::remove_file(&path);
                    return Err(failed("create", &self.dir.join(&name))(e));
                }
                Ok(created) => break created,
            }
        };
        self.staged.push(Staged {
            path,
            temporary,
            size: 0,
        });
        self.current = Some(BufWriter::new(file));
        Ok(())
    }

    /// The next bytes of the current file.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), ExtractError> {
        let (Some(w), Some(staged)) = (self.current.as_mut(), self.staged.last_mut()) else {
            return Ok(());
        };
        w.write_all(bytes)
            .map_err(failed("write", &staged.temporary))?;
        staged.size += bytes.len() as u64;
        Ok(())
    }

    /// The current file is complete.
    pub fn end_file(&mut self) -> Result<(), ExtractError> {
        self.end_current()
    }

    fn end_current(&mut self) -> Result<(), ExtractError> {
        let Some(mut w) = self.current.take() else {
            return Ok(());
        };
        let Some(staged) = self.staged.last() else {
            return Ok(());
        };
        w.flush().map_err(failed("write", &staged.temporary))
    }

    /// Moves every file onto its reserved name; returns each final path and size. A rename
    /// replaces the directory entry itself and never writes through a link found there.
    pub fn commit(mut self) -> Result<Vec<(PathBuf, u64)>, ExtractError> {
        self.end_current()?;
        let mut done = Vec::with_capacity(self.staged.len());
        for staged in &self.staged {
            std::fs::rename(&staged.temporary, &staged.path)
                .map_err(failed("move into place", &staged.path))?;
            done.push((staged.path.clone(), staged.size));
        }
        self.committed = true;
        Ok(done)
    }
}

impl Drop for Extraction {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        self.current = None;
        for staged in &self.staged {
            let _ = std::fs::remove_file(&staged.temporary);
            let _ = std::fs::remove_file(&staged.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_become_one_safe_component() {
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name("..\\..\\windows\\system32\\cmd.exe"), "cmd.exe");
        assert_eq!(safe_name(".."), "file");
        assert_eq!(safe_name("."), "file");
        assert_eq!(safe_name(""), "file");
        assert_eq!(safe_name(".bashrc"), "bashrc");
        assert_eq!(safe_name("a\u{0}b\nc\u{2028}d.pdf"), "a_b_c_d.pdf");
        assert_eq!(safe_name("C:report?.pdf"), "C_report_.pdf");
        assert_eq!(safe_name("Brev til Mette.pdf"), "Brev til Mette.pdf");
        let long = format!("{}.pdf", "æ".repeat(300));
        let s = safe_name(&long);
        assert!(s.len() <= MAX_NAME_BYTES && s.ends_with(".pdf"), "{s}");
    }

    #[test]
    fn names_never_collide() {
        let mut names = Names::default();
        assert_eq!(names.unique("a.pdf"), "a.pdf");
        assert_eq!(names.unique("A.PDF"), "A (2).PDF");
        assert_eq!(names.unique("x/a.pdf"), "a (3).pdf");
        assert_eq!(names.unique("noext"), "noext");
        assert_eq!(names.unique("noext"), "noext (2)");
    }

    #[test]
    fn never_overwrites() {
        let dir = std::env::temp_dir().join(format!("dpost-extract-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let _ = std::fs::remove_file(dir.join("x.txt"));
        create_in(&dir, "x.txt").unwrap();
        assert!(create_in(&dir, "x.txt").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dpost-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn names_taken_in_the_folder_are_skipped() {
        let dir = scratch("extract-taken");
        std::fs::write(dir.join("a.pdf"), "old").unwrap();
        std::fs::create_dir(dir.join("a (2).pdf")).unwrap();
        let (_, path) = Names::default().create(&dir, "a.pdf").unwrap();
        assert_eq!(path, dir.join("a (3).pdf"));
        assert_eq!(std::fs::read(dir.join("a.pdf")).unwrap(), b"old");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_extraction_is_all_or_nothing() {
        let dir = scratch("extract-all-or-nothing");
        let mut x = Extraction::new(&dir);
        x.begin_file("a.txt").unwrap();
        x.write(b"hej").unwrap();
        x.end_file().unwrap();
        x.begin_file("b.txt").unwrap();
        x.write(b"cut").unwrap();
        drop(x);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "nothing left");

        let mut x = Extraction::new(&dir);
        x.begin_file("a.txt").unwrap();
        x.write(b"hej").unwrap();
        x.end_file().unwrap();
        let done = x.commit().unwrap();
        assert_eq!(done, vec![(dir.join("a.txt"), 3)]);
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary left"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
