//! The embedded store every service shares: one SQLite file (`[store] path`, default
//! `dpost.db`), each service with tables of its own ([`digipost`]; NgDP's come beside it).
//!
//! Why SQLite through rusqlite with the `bundled` feature: the archive must survive a crash
//! at any instant, and SQLite's transactions do that with one file and no server to run. The
//! `bundled` feature compiles SQLite into `dpost` itself, so the binary does not depend on
//! whichever (possibly old, possibly absent) libsqlite3 a customer's machine has, and every
//! installation runs the SQLite version its tests ran.
//!
//! Durability: the journal is in WAL mode with `synchronous=FULL`, so a committed transaction
//! has been fsynced before `commit` returns. A service deletes or acknowledges anything
//! remotely only after its commit returned.
//!
//! Migrations: each service lists its own numbered migrations; `schema_version` records per
//! service how far its tables are, so services add tables without coordinating numbers.

pub mod backup;
pub mod conflicts;
pub mod console;
pub mod digipost;
pub mod doctor;
pub mod events;
pub mod events_retention;
pub mod handover;
pub mod ngdp;
pub mod outgoing;
pub mod owner;
pub mod permissions;
pub mod receipts;
pub mod retention;
pub mod webhooks;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension as _, params};

/// Why the store could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("the store {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The file was written by a newer dpost, whose tables this one does not know.
    #[error(
        "the store {path} holds {module} tables at version {found}, newer than this dpost knows ({known}); upgrade dpost"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The service.
        module: String,
        /// The version found.
        found: u32,
        /// The newest this build knows.
        known: u32,
    },
    /// The database file or its folder could not be created.
    #[error("the store {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// Stored data that cannot be read back as written (a damaged or hand-edited file).
    #[error("the store {path}: {what}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
}

/// One step of a service's schema; applied once, in order, in a transaction.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The version the tables are at after this step (1, 2, ...).
    pub version: u32,
    /// The SQL of the step.
    pub sql: &'static str,
}

/// Every service's migrations, by service name.
const MIGRATIONS: &[(&str, &[Migration])] = &[
    ("digipost", digipost::MIGRATIONS),
    ("ngdp", ngdp::MIGRATIONS),
    // After ngdp: its tables refer to ngdp_messages.
    ("handover", handover::MIGRATIONS),
    ("events", events::MIGRATIONS),
    // After events: deliveries refer to them.
    ("webhooks", webhooks::MIGRATIONS),
    // After ngdp: sending records in ngdp_sent too.
    ("outgoing", outgoing::MIGRATIONS),
    // After ngdp, outgoing and webhooks: its indexes are on their tables.
    ("console", console::MIGRATIONS),
    ("doctor", doctor::MIGRATIONS),
];

/// An open store.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Open (creating when absent) the store at `path`, set it up for durability, and bring
    /// every service's tables up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let err = |source| StoreError::Sqlite {
            path: path.to_owned(),
            source,
        };
        // Private from its first byte (personal data); SQLite gives its -wal and -shm files
        // the same mode.
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            permissions::create_private_dir(parent).map_err(|e| StoreError::Io {
                path: parent.to_owned(),
                source: e,
            })?;
        }
        permissions::create_private_file(path).map_err(|e| StoreError::Io {
            path: path.to_owned(),
            source: e,
        })?;
        let mut conn = Connection::open(path).map_err(err)?;
        // Another dpost (a second sync, a reader) may hold the write lock for a moment.
        conn.busy_timeout(Duration::from_secs(30)).map_err(err)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(%mode, path = %path.display(), "the store could not switch to WAL mode");
        }
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
            .map_err(err)?;
        // Every transaction takes the write lock when it begins. A deferred one that reads
        // and then writes fails at once with SQLITE_BUSY, without waiting for the busy
        // timeout, when another connection committed in between (its WAL snapshot is stale:
        // https://sqlite.org/lang_transaction.html, "Read transactions"): an acknowledgement
        // through the API failed with 503 that way while the receipt outbox wrote
        // (schemathesis found it). Beginning IMMEDIATE, it waits its turn instead.
        conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
        let mut store = Store {
            conn,
            path: path.to_owned(),
        };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        self.conn
            .execute(
                "CREATE TABLE IF NOT EXISTS schema_version (module TEXT PRIMARY KEY, version INTEGER NOT NULL)",
                [],
            )
            .map_err(err)?;
        for (module, steps) in MIGRATIONS {
            let known = steps.last().map_or(0, |m| m.version);
            let tx = self.conn.transaction().map_err(err)?;
            let found: u32 = tx
                .query_row(
                    "SELECT version FROM schema_version WHERE module = ?1",
                    [module],
                    |r| r.get(0),
                )
                .optional()
                .map_err(err)?
                .unwrap_or(0);
            if found > known {
                return Err(StoreError::TooNew {
                    path: path.clone(),
                    module: (*module).to_owned(),
                    found,
                    known,
                });
            }
            for step in steps.iter().filter(|m| m.version > found) {
                tx.execute_batch(step.sql).map_err(err)?;
                tx.execute(
                    "INSERT INTO schema_version (module, version) VALUES (?1, ?2)
                     ON CONFLICT(module) DO UPDATE SET version = excluded.version",
                    params![module, step.version],
                )
                .map_err(err)?;
            }
            tx.commit().map_err(err)?;
        }
        Ok(())
    }

    /// The version of `module`'s tables.
    pub fn schema_version(&self, module: &str) -> Result<u32, StoreError> {
        self.conn
            .query_row(
                "SELECT version FROM schema_version WHERE module = ?1",
                [module],
                |r| r.get(0),
            )
            .optional()
            .map(|v| v.unwrap_or(0))
            .map_err(|e| self.error(e))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn conn(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Run `f` in one transaction: committed (one fsync) when it returns `Ok`, rolled back
    /// when it returns `Err`. For many small writes that belong together, such as the records
    /// of a batch.
    pub fn in_transaction<R>(
        &mut self,
        f: impl FnOnce(&mut Store) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.error(e))?;
        match f(self) {
            Ok(r) => {
                self.conn
                    .execute_batch("COMMIT")
                    .map_err(|e| self.error(e))?;
                Ok(r)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    pub(crate) fn error(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }
}

/// A fresh store in the temporary folder, for unit tests (`name` tells whose).
#[cfg(test)]
pub(crate) fn scratch_store(name: &str) -> Store {
    let dir = std::env::temp_dir().join(format!("dpost-{name}-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!(
        "{}.db",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    Store::open(&path).expect("store opens")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_in_wal_with_full_sync_and_migrates_once() {
        let dir = std::env::temp_dir().join(format!("dpost-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        let _ = std::fs::remove_file(&path);
        let store = Store::open(&path).unwrap();
        let mode: String = store
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = store
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "FULL");
        let v = store.schema_version("digipost").unwrap();
        assert_eq!(v, digipost::MIGRATIONS.last().unwrap().version);
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version("digipost").unwrap(), v);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
