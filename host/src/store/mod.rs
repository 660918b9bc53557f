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
//! Migrations: each service lists its own numbered migrations, one list per backend;
//! `schema_version` records per service how far its tables are, so services add tables
//! without coordinating numbers.
//!
//! Two backends behind one interface ([`sql::Connection`]): this embedded SQLite file, or a
//! PostgreSQL server (`[store] url`) that several `dpost serve` replicas share (issue 18).

pub mod backup;
pub mod blocking;
pub mod conflicts;
pub mod console;
pub mod copy;
pub mod digipost;
pub mod doctor;
pub mod events;
pub mod events_retention;
pub mod files;
pub mod handover;
pub mod leases;
pub mod ngdp;
pub mod outgoing;
pub mod owner;
pub mod permissions;
pub mod pool;
pub mod postgres;
pub mod receipts;
pub mod retention;
pub mod sql;
pub mod webhooks;

use std::path::{Path, PathBuf};
use std::time::Duration;

use sql::{Connection, OptionalExtension as _, params};

/// Why the store could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database (SQLite or PostgreSQL) failed.
    #[error("the store {path}: {source}")]
    Database {
        /// The database file (for PostgreSQL, its address without the password).
        path: PathBuf,
        /// What the database said.
        source: sql::Error,
    },
    /// The PostgreSQL server cannot be reached.
    #[error(transparent)]
    Connect(#[from] sql::postgres::ConnectError),
    /// This build has no tables for a service on this backend.
    #[error("the store {path}: this dpost has no {backend} tables for {module}")]
    Unsupported {
        /// The database.
        path: PathBuf,
        /// The service.
        module: String,
        /// The backend.
        backend: &'static str,
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

/// One step of a service's schema; applied once, in order, in a transaction. The SQL of a
/// SQLite migration and of a PostgreSQL one differ (types, identity columns, triggers, text
/// search), so each service has a list per backend, each numbered from 1.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The version the tables are at after this step (1, 2, ...).
    pub version: u32,
    /// The SQL of the step.
    pub sql: &'static str,
}

/// Every service's migrations, by service name: (name, SQLite's, PostgreSQL's).
const MIGRATIONS: &[(&str, &[Migration], &[Migration])] = &[
    ("digipost", digipost::MIGRATIONS, postgres::DIGIPOST),
    ("ngdp", ngdp::MIGRATIONS, postgres::NGDP),
    // After ngdp: its tables refer to ngdp_messages.
    ("handover", handover::MIGRATIONS, postgres::HANDOVER),
    ("events", events::MIGRATIONS, postgres::EVENTS),
    // After events: deliveries refer to them.
    ("webhooks", webhooks::MIGRATIONS, postgres::WEBHOOKS),
    // After ngdp: sending records in ngdp_sent too.
    ("outgoing", outgoing::MIGRATIONS, postgres::OUTGOING),
    // After ngdp, outgoing and webhooks: its indexes are on their tables.
    ("console", console::MIGRATIONS, postgres::CONSOLE),
    ("doctor", doctor::MIGRATIONS, postgres::DOCTOR),
    // Background work one replica does at a time (issue 18).
    ("leases", leases::MIGRATIONS, postgres::LEASES),
    // Stored files' bytes: a table on PostgreSQL, the data folder on SQLite.
    ("files", files::MIGRATIONS, files::POSTGRES),
];

/// Where the store is: a SQLite file, or a PostgreSQL server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The embedded database file.
    Sqlite(PathBuf),
    /// A `postgres://` URL (or libpq's `key=value` form).
    Postgres(String),
}

impl Location {
    /// Whether a store here keeps stored files' bytes itself ([`files`]): PostgreSQL does,
    /// so that replicas share nothing but the database.
    pub fn holds_file_bytes(&self) -> bool {
        matches!(self, Location::Postgres(_))
    }

    /// `postgres://` and `postgresql://` URLs are PostgreSQL; anything else is a file path.
    pub fn parse(s: &str) -> Location {
        let lower = s.trim_start().to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            Location::Postgres(s.trim().to_owned())
        } else {
            Location::Sqlite(PathBuf::from(s))
        }
    }
}

/// An open store.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    /// For messages: the file, or the server's address without its password.
    path: PathBuf,
    /// To open another connection to the same store.
    location: Location,
}

impl Store {
    /// Open (creating when absent) the store at `path`, set it up for durability, and bring
    /// every service's tables up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let err = |source| StoreError::Database {
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
        let mut conn = rusqlite::Connection::open(path).map_err(|e| err(e.into()))?;
        // Another dpost (a second sync, a reader) may hold the write lock for a moment.
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(|e| err(e.into()))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(|e| err(e.into()))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(%mode, path = %path.display(), "the store could not switch to WAL mode");
        }
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
            .map_err(|e| err(e.into()))?;
        // Every transaction takes the write lock when it begins (sql::Connection begins
        // them IMMEDIATE). A deferred one that reads and then writes fails at once with
        // SQLITE_BUSY, without waiting for the busy timeout, when another connection
        // committed in between (its WAL snapshot is stale:
        // https://sqlite.org/lang_transaction.html, "Read transactions"): an acknowledgement
        // through the API failed with 503 that way while the receipt outbox wrote
        // (schemathesis found it). Beginning IMMEDIATE, it waits its turn instead.
        conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
        let mut store = Store {
            conn: Connection::sqlite(conn),
            path: path.to_owned(),
            location: Location::Sqlite(path.to_owned()),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Open the store at `location`: [`Self::open`] for a file, [`Self::open_postgres`] for
    /// a server.
    pub fn open_location(location: &Location) -> Result<Self, StoreError> {
        match location {
            Location::Sqlite(path) => Store::open(path),
            Location::Postgres(url) => Store::open_postgres(url),
        }
    }

    /// Connect to the PostgreSQL store at `url` and bring every service's tables up to date
    /// (under a lock, so replicas starting together migrate once).
    pub fn open_postgres(url: &str) -> Result<Self, StoreError> {
        let conn = sql::postgres::Connection::connect(url)?;
        let mut store = Store {
            path: PathBuf::from(conn.place()),
            conn: Connection::postgres(conn),
            location: Location::Postgres(url.to_owned()),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Which database the store is in.
    pub fn backend(&self) -> sql::Backend {
        self.conn.backend()
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Database {
            path: path.clone(),
            source,
        };
        let backend = self.conn.backend();
        self.conn
            .execute(
                "CREATE TABLE IF NOT EXISTS schema_version (module TEXT PRIMARY KEY, version BIGINT NOT NULL)",
                [],
            )
            .map_err(err)?;
        for (module, sqlite, postgres) in MIGRATIONS {
            let steps = match backend {
                sql::Backend::Sqlite => *sqlite,
                sql::Backend::Postgres => *postgres,
            };
            if steps.is_empty() {
                return Err(StoreError::Unsupported {
                    path: path.clone(),
                    module: (*module).to_owned(),
                    backend: backend.name(),
                });
            }
            let known = steps.last().map_or(0, |m| m.version);
            let tx = self.conn.transaction().map_err(err)?;
            if backend == sql::Backend::Postgres {
                // Replicas starting together: one migrates, the others wait for its commit
                // and then find nothing left to do. The lock ends with the transaction.
                tx.execute_batch("SELECT pg_advisory_xact_lock(7366485623)")
                    .map_err(err)?;
            }
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

    /// Every service's table version, in migration order.
    pub fn schema_versions(&self) -> Result<Vec<(String, u32)>, StoreError> {
        MIGRATIONS
            .iter()
            .map(|(m, _, _)| Ok(((*m).to_owned(), self.schema_version(m)?)))
            .collect()
    }

    /// Where this store is, to open another connection to it.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The database file (for PostgreSQL, the server's address without its password).
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
        self.conn.begin().map_err(|e| self.error(e))?;
        match f(self) {
            Ok(r) => {
                self.conn.commit().map_err(|e| self.error(e))?;
                Ok(r)
            }
            Err(e) => {
                let _ = self.conn.rollback();
                Err(e)
            }
        }
    }

    pub(crate) fn error(&self, source: sql::Error) -> StoreError {
        StoreError::Database {
            path: self.path.clone(),
            source,
        }
    }
}

/// A fresh store for unit tests (`name` tells whose): a file in the temporary folder, or,
/// when `DPOST_TEST_POSTGRES` names a PostgreSQL server, a schema of its own there, so the
/// same tests run on both backends (`.ci/run` runs them twice).
#[cfg(test)]
pub(crate) fn scratch_store(name: &str) -> Store {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    if let Ok(url) = std::env::var("DPOST_TEST_POSTGRES") {
        return Store::open_postgres(&postgres::testing::scratch_schema(&url, name))
            .expect("store opens");
    }
    let dir = std::env::temp_dir().join(format!("dpost-{name}-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    Store::open(&dir.join(format!("{nanos}.db"))).expect("store opens")
}

/// Another connection to the same store as `store` (the same file, or the same PostgreSQL
/// schema), as a second process or replica would have: for tests of who claims what.
#[cfg(test)]
pub(crate) fn second_connection(store: &Store) -> Store {
    Store::open_location(store.location()).expect("a second connection opens")
}

/// Run `sql` with foreign keys unchecked, for unit tests that set up rows of one table
/// without the rows they refer to.
#[cfg(test)]
pub(crate) fn without_foreign_keys(store: &mut Store, sql: &str) {
    let (off, on) = match store.backend() {
        sql::Backend::Sqlite => ("PRAGMA foreign_keys = OFF;", "PRAGMA foreign_keys = ON;"),
        // Foreign keys are triggers on PostgreSQL, which this role skips.
        sql::Backend::Postgres => (
            "SET session_replication_role = replica;",
            "SET session_replication_role = DEFAULT;",
        ),
    };
    store
        .conn()
        .execute_batch(&format!("{off}{sql};{on}"))
        .expect("test rows");
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
