//! dpost's configuration file (TOML, `./dpost.toml` unless `--config FILE` names another).
//!
//! This module is the generic half: reading the file, refusing unknown keys, and errors that
//! name the file, the key and the line, so a typo is found in seconds. Each service keeps its
//! own table in a module of its own ([`digipost`]); command-line flags override the file.
//!
//! ```toml
//! [digipost]
//! base_url = "https://api.digipost.no"
//! broker_id = "123456"
//! key = "broker.p12"            # relative paths are taken from this file's folder
//! password_env = "DPOST_KEY_PASSWORD"
//!
//! [store]
//! path = "dpost.db"
//! ```

pub mod api;
pub mod console;
pub mod digipost;
pub mod live;
pub mod ngdp;
pub mod preflight;
pub mod webhooks;

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The configuration file read when `--config` is not given.
pub const DEFAULT_FILE: &str = "dpost.toml";

/// The store's file when the configuration names none.
pub const DEFAULT_STORE_PATH: &str = "dpost.db";

/// Why the configuration could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}{}: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default(), key.as_ref().map(|k| format!(" ({k})")).unwrap_or_default())]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// The line (from 1) the problem is on, when it is on one.
    pub line: Option<usize>,
    /// The key involved, with its table (`digipost.broker_id`), when one is.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// The whole file. Every table is optional; a key or table no module knows is an error.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[digipost]`: the Digipost organisation inbox.
    #[serde(default)]
    pub digipost: digipost::DigipostTable,
    /// `[store]`: the embedded store shared by every service.
    #[serde(default)]
    pub store: StoreTable,
    /// `[serve]`: the NgDP push listener.
    #[serde(default)]
    pub serve: ngdp::ServeTable,
    /// `[ngdp]`: Danish Digital Post systems, contact points and mailboxes.
    #[serde(default)]
    pub ngdp: ngdp::NgdpTable,
    /// `[api]`: the platform API's listener and clients.
    #[serde(default)]
    pub api: api::ApiTable,
    /// `[console]`: the operator console's accounts.
    #[serde(default)]
    pub console: console::ConsoleTable,
}

/// `[store]`: where the embedded store lives.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreTable {
    /// The SQLite file; default `dpost.db`.
    pub path: Option<PathBuf>,
    /// A PostgreSQL server instead (`postgres://user:password@host/db`), shared by several
    /// `dpost serve` replicas; `DPOST_STORE_URL` overrides it.
    pub url: Option<String>,
    /// Days a message is kept after its acknowledgement, by mailbox; a mailbox not listed
    /// keeps its messages.
    #[serde(default)]
    pub retention_days: std::collections::BTreeMap<String, u32>,
    /// Hours between purges inside `dpost serve`; none when absent.
    pub purge_interval_hours: Option<u64>,
    /// The most connections the platform API and the console open to the store (default 8).
    pub connections: Option<usize>,
    /// Seconds a request waits for one of them before it is answered 503 (default 10).
    pub connection_wait_seconds: Option<u64>,
}

/// How long acknowledged messages are kept, and how often `serve` purges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    /// Days after acknowledgement, by mailbox.
    pub days: std::collections::BTreeMap<String, u32>,
    /// How often `dpost serve` purges; never when `None`.
    pub purge_every: Option<std::time::Duration>,
}

/// A configuration file as read, kept with its text so that later checks can point at lines.
#[derive(Debug, Clone, Default)]
pub struct ConfigFile {
    /// Where it was read from; `None` when no file was read (the defaults).
    pub path: Option<PathBuf>,
    text: String,
    /// What it says.
    pub config: Config,
}

impl ConfigFile {
    /// Read `explicit` (an error when missing), or `./dpost.toml` when it exists, or nothing.
    pub fn load(explicit: Option<&Path>) -> Result<Self, ConfigError> {
        let path = match explicit {
            Some(p) => p.to_owned(),
            None => {
                let default = PathBuf::from(DEFAULT_FILE);
                if !default.exists() {
                    return Ok(ConfigFile::default());
                }
                default
            }
        };
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError {
            file: path.clone(),
            line: None,
            key: None,
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(path, text)
    }

    /// Read configuration text that came from `path`.
    pub fn parse(path: PathBuf, text: String) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(&text).map_err(|e| {
            let (line, key) = match e.span() {
                Some(span) => {
                    let line = line_of(&text, span.start);
                    (Some(line), key_on_line(&text, line))
                }
                None => (None, None),
            };
            ConfigError {
                file: path.clone(),
                line,
                key,
                message: e.message().trim().to_owned(),
            }
        })?;
        Ok(ConfigFile {
            path: Some(path),
            text,
            config,
        })
    }

    /// An error about `table.key`, located on the line that sets it.
    pub fn error(&self, table: &str, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self
                .path
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_FILE)),
            line: find_key(&self.text, table, key),
            key: Some(format!("{table}.{key}")),
            message: message.into(),
        }
    }

    /// An error about `key` in entry `index` (from 0) of the array of tables `[[table]]`,
    /// located on the line that sets it (or the entry's header when the key is absent).
    pub fn error_in_array(
        &self,
        table: &str,
        index: usize,
        key: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: self
                .path
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_FILE)),
            line: find_array_key(&self.text, table, index, key),
            key: Some(format!("{table}[{index}].{key}")),
            message: message.into(),
        }
    }

    /// A path the file gives, taken relative to the file's folder (as an integrator who
    /// keeps the key beside the configuration expects), not to wherever dpost runs from.
    pub fn resolve_path(&self, p: &Path) -> PathBuf {
        match self.path.as_deref().and_then(Path::parent) {
            Some(dir) if p.is_relative() && !dir.as_os_str().is_empty() => dir.join(p),
            _ => p.to_owned(),
        }
    }

    /// A listener's certificate chain and key (`tls_cert`, `tls_key` in `table`): both or
    /// neither, taken relative to this file.
    pub fn tls_files(
        &self,
        table: &str,
        cert: Option<&Path>,
        key: Option<&Path>,
    ) -> Result<Option<(PathBuf, PathBuf)>, ConfigError> {
        match (cert, key) {
            (Some(c), Some(k)) => Ok(Some((self.resolve_path(c), self.resolve_path(k)))),
            (None, None) => Ok(None),
            (Some(_), None) => Err(self.error(table, "tls_cert", "tls_cert needs tls_key")),
            (None, Some(_)) => Err(self.error(table, "tls_key", "tls_key needs tls_cert")),
        }
    }

    /// `[store] retention_days` and `purge_interval_hours`, checked: every mailbox named is
    /// one of `[ngdp] mailboxes`, every number at least 1.
    pub fn retention(&self) -> Result<Retention, ConfigError> {
        let t = &self.config.store;
        let (mailboxes, _) = self.config.ngdp.mailboxes();
        for (mailbox, days) in &t.retention_days {
            if !mailboxes.contains(mailbox) {
                return Err(self.error(
                    "store",
                    "retention_days",
                    format!(
                        "{mailbox:?} is not one of [ngdp] mailboxes ({})",
                        mailboxes.join(", ")
                    ),
                ));
            }
            if *days == 0 {
                return Err(self.error(
                    "store",
                    "retention_days",
                    format!("{mailbox}: must be at least 1 day"),
                ));
            }
        }
        if t.purge_interval_hours == Some(0) {
            return Err(self.error("store", "purge_interval_hours", "must be at least 1"));
        }
        Ok(Retention {
            days: t.retention_days.clone(),
            purge_every: t
                .purge_interval_hours
                .map(|h| std::time::Duration::from_secs(h.saturating_mul(3600))),
        })
    }

    /// `[store] connections` and `connection_wait_seconds`, checked: each at least 1.
    pub fn store_pool(&self) -> Result<crate::store::pool::PoolSettings, ConfigError> {
        let t = &self.config.store;
        let defaults = crate::store::pool::PoolSettings::default();
        let connections = t.connections.unwrap_or(defaults.connections);
        if connections == 0 {
            return Err(self.error(
                "store",
                "connections",
                "must be at least 1 (the platform API and the console need a connection to the store)",
            ));
        }
        let wait = match t.connection_wait_seconds {
            Some(0) => {
                return Err(self.error("store", "connection_wait_seconds", "must be at least 1"));
            }
            Some(s) => std::time::Duration::from_secs(s),
            None => defaults.wait,
        };
        Ok(crate::store::pool::PoolSettings { connections, wait })
    }

    /// Where the store is: `DPOST_STORE_URL`, else `[store] url`, else the SQLite file of
    /// [`Self::store_path`]. A URL that is not `postgres://` is taken as a file path.
    pub fn store_location(&self) -> crate::store::Location {
        let url = std::env::var("DPOST_STORE_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .or_else(|| self.config.store.url.clone());
        match url {
            Some(u) => match crate::store::Location::parse(&u) {
                crate::store::Location::Sqlite(p) => {
                    crate::store::Location::Sqlite(self.resolve_path(&p))
                }
                pg => pg,
            },
            None => crate::store::Location::Sqlite(self.store_path()),
        }
    }

    /// The store's file: `[store] path`, else `dpost.db` in the current folder. The folder
    /// of received files is beside it (`[serve] data_dir` by default), whichever backend
    /// holds the tables.
    pub fn store_path(&self) -> PathBuf {
        match &self.config.store.path {
            Some(p) => self.resolve_path(p),
            None => PathBuf::from(DEFAULT_STORE_PATH),
        }
    }
}

/// The 1-based line of byte `offset`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).unwrap_or(text).matches('\n').count() + 1
}

/// `table.key` for a `key = value` line, with the table from the nearest header above it;
/// an entry of an array of tables is numbered from 0 (`ngdp.test.systems[0].protocol`).
fn key_on_line(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let this = lines.get(line.checked_sub(1)?)?.trim();
    if this.starts_with('[') {
        return header_path(&lines[..line]);
    }
    let table = header_path(&lines[..line - 1])
        .map(|t| format!("{t}."))
        .unwrap_or_default();
    let key = this.split_once('=')?.0.trim().trim_matches('"');
    (!key.is_empty()).then(|| format!("{table}{key}"))
}

/// The table the last header of `lines` opens: `a.b`, or `a.b[n]` for the n-th `[[a.b]]`.
fn header_path(lines: &[&str]) -> Option<String> {
    let (at, last) = lines
        .iter()
        .enumerate()
        .rev()
        .find(|(_, l)| l.trim_start().starts_with('['))?;
    if let Some(t) = table_header(last) {
        return Some(t.to_owned());
    }
    let array = array_header(last)?;
    let index = lines[..at]
        .iter()
        .filter(|l| array_header(l) == Some(array))
        .count();
    Some(format!("{array}[{index}]"))
}

fn array_header(line: &str) -> Option<&str> {
    let l = line.trim().strip_prefix("[[")?;
    Some(l.split("]]").next()?.trim())
}

/// Every problem that keeps `text` (from `path`) from being read, not just the first: after
/// each error on a line, that line is set aside and the text read again (at most
/// [`MAX_PROBLEMS`] times). A "missing field" that only follows from setting a line aside is
/// not reported.
pub fn read_problems(path: &Path, text: &str) -> Vec<ConfigError> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut problems: Vec<ConfigError> = Vec::new();
    let mut set_aside: Vec<String> = Vec::new();
    for _ in 0..MAX_PROBLEMS {
        let current = lines.join("\n");
        let Err(e) = ConfigFile::parse(path.to_owned(), current) else {
            break;
        };
        let follows = set_aside.iter().any(|k| {
            k.rsplit_once('.').is_some_and(|(table, key)| {
                e.key.as_deref() == Some(table)
                    && e.message.contains(&format!("missing field `{key}`"))
            })
        });
        let line = e.line;
        if !follows && !problems.contains(&e) {
            problems.push(e.clone());
        }
        match line {
            Some(l) if l >= 1 && l <= lines.len() && !lines[l - 1].trim().is_empty() => {
                if let Some(k) = &e.key {
                    set_aside.push(k.clone());
                }
                // A header set aside would move its keys into the table above: drop the
                // whole table instead.
                if lines[l - 1].trim_start().starts_with('[') {
                    let end = (l..lines.len())
                        .find(|&i| lines[i].trim_start().starts_with('['))
                        .unwrap_or(lines.len());
                    for line in &mut lines[l - 1..end] {
                        line.clear();
                    }
                } else {
                    lines[l - 1].clear();
                }
            }
            _ => break,
        }
    }
    // Serde stops at the first problem in its own order (by table); people read by line.
    problems.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
    problems
}

/// Problems [`read_problems`] reports at most.
const MAX_PROBLEMS: usize = 50;

fn table_header(line: &str) -> Option<&str> {
    let l = line.trim();
    let inner = l.strip_prefix('[')?.split(']').next()?.trim();
    (!inner.starts_with('[')).then_some(inner)
}

/// The line that sets `key` in entry `index` of `[[table]]`, else that entry's header line.
fn find_array_key(text: &str, table: &str, index: usize, key: &str) -> Option<usize> {
    let header = format!("[[{table}]]");
    let mut seen = 0usize;
    let mut inside: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.starts_with('[') {
            inside = None;
            if l.replace(' ', "") == header {
                if seen == index {
                    inside = Some(i + 1);
                }
                seen += 1;
            }
            continue;
        }
        if inside.is_some()
            && line
                .split_once('=')
                .is_some_and(|(k, _)| k.trim().trim_matches('"') == key)
        {
            return Some(i + 1);
        }
    }
    // The key is absent: point at the entry.
    let mut seen = 0usize;
    for (i, line) in text.lines().enumerate() {
        if line.trim().replace(' ', "") == header {
            if seen == index {
                return Some(i + 1);
            }
            seen += 1;
        }
    }
    None
}

/// The line that sets `key` in `[table]`.
fn find_key(text: &str, table: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(t) = table_header(line) {
            current = t.to_owned();
            continue;
        }
        if current == table
            && line
                .split_once('=')
                .is_some_and(|(k, _)| k.trim().trim_matches('"') == key)
        {
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConfigFile, ConfigError> {
        ConfigFile::parse(PathBuf::from("conf/dpost.toml"), text.to_owned())
    }

    #[test]
    fn unknown_keys_are_named_with_their_line() {
        let e = parse("[digipost]\nbroker_id = \"1\"\nbrokerid = \"2\"\n").unwrap_err();
        assert_eq!(e.line, Some(3));
        assert_eq!(e.key.as_deref(), Some("digipost.brokerid"));
        let shown = e.to_string();
        assert!(
            shown.starts_with("conf/dpost.toml:3 (digipost.brokerid): unknown field"),
            "{shown}"
        );

        let e = parse("[store]\npath = \"x\"\n\n[nope]\na = 1\n").unwrap_err();
        assert_eq!(e.line, Some(4), "{e}");
    }

    #[test]
    fn wrong_types_point_at_the_value() {
        let e = parse("[digipost]\nretries = \"many\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("digipost.retries")),
            "{e}"
        );
    }

    #[test]
    fn every_reading_problem_is_reported_with_its_key_path() {
        let text = "[store]\npath = 1\n[[ngdp.test.systems]]\nid = \"a\"\nprotocol = \"push\"\n[[ngdp.test.systems]]\nid = \"b\"\nprotocol = \"carrier-pigeon\"\n[serve]\nlisten = \"x\"\nlisen = \"y\"\n";
        let p = read_problems(Path::new("dpost.toml"), text);
        let found: Vec<_> = p
            .iter()
            .map(|e| (e.line, e.key.clone().unwrap_or_default()))
            .collect();
        assert_eq!(
            found,
            [
                (Some(2), "store.path".to_owned()),
                (Some(8), "ngdp.test.systems[1].protocol".to_owned()),
                (Some(11), "serve.lisen".to_owned()),
            ],
            "{p:?}"
        );
    }

    #[test]
    fn paths_are_relative_to_the_file() {
        let f = parse("[store]\npath = \"archive.db\"\n").unwrap();
        assert_eq!(f.store_path(), PathBuf::from("conf/archive.db"));
        assert_eq!(
            ConfigFile::default().store_path(),
            PathBuf::from("dpost.db")
        );
        let e = f.error("store", "path", "bad");
        assert_eq!(e.line, Some(2));
    }

    #[test]
    fn the_pool_size_defaults_to_eight_and_zero_is_refused_on_its_line() {
        let defaults = parse("[store]\npath = \"a.db\"\n")
            .unwrap()
            .store_pool()
            .unwrap();
        assert_eq!(defaults, crate::store::pool::PoolSettings::default());
        assert_eq!(defaults.connections, 8);
        let set = parse("[store]\nconnections = 3\nconnection_wait_seconds = 2\n")
            .unwrap()
            .store_pool()
            .unwrap();
        assert_eq!(
            (set.connections, set.wait),
            (3, std::time::Duration::from_secs(2))
        );
        let e = parse("[store]\npath = \"a.db\"\nconnections = 0\n")
            .unwrap()
            .store_pool()
            .unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(3), Some("store.connections"))
        );
        assert!(e.to_string().contains("must be at least 1"), "{e}");
        let e = parse("[store]\nconnection_wait_seconds = 0\n")
            .unwrap()
            .store_pool()
            .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("store.connection_wait_seconds"));
    }
}
