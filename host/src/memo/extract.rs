//! Writing a message's files to a folder without trusting the names inside the message.
//!
//! A filename in a MeMo is text from the sender. It may hold path separators, `..`, control
//! characters, a drive letter, or a name another file already has. Every name is reduced to a
//! single safe component, made unique (case-insensitively, for file systems that fold case),
//! and created with `create_new`, so nothing outside the folder is written and nothing is
//! overwritten, not even through a planted symbolic link.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io;
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
}
