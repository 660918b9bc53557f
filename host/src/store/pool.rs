//! The pool of store connections the platform API and the console share (`[store]
//! connections`): each request borrows one, so requests no longer queue behind one
//! connection's lock.
//!
//! Why deadpool's `managed` pool: a request waits for a free connection as a future, so a
//! tokio worker is never blocked while it waits (r2d2, the synchronous alternative, would
//! block a worker or need a blocking thread per waiting request); it times the wait out
//! (`[store] connection_wait_seconds`), which the API answers as a 503 problem instead of
//! hanging; and it opens connections lazily, up to the size. The store itself is blocking
//! (SQLite, and the facade's PostgreSQL calls), so a borrowed connection is used on a
//! blocking thread ([`crate::api::with_store`]).
//!
//! On SQLite the connections are WAL readers in parallel; writers take the write lock in
//! turn (`BEGIN IMMEDIATE` with a busy timeout, see [`Store::open`]). On PostgreSQL each is
//! a server connection of its own.
//!
//! A connection given back is checked before it is lent again ([`Opener::recycle`]): one
//! left inside a transaction (its request panicked) is closed, since it would hold SQLite's
//! write lock and fail every later BEGIN. A PostgreSQL connection the server closed (a
//! restart, a failover) is kept: the facade opens it again on its next use, outside a
//! transaction (`sql::postgres::Connection::reconnect_if_closed`, which a statement that
//! failed that way marks), so the pool never holds a connection that stays broken.

use std::time::Duration;

use deadpool::managed::{self, Metrics, QueueMode, RecycleError, RecycleResult, TimeoutType};

use super::{Location, Store, StoreError};

/// `[store] connections` when the file does not say.
pub const DEFAULT_CONNECTIONS: usize = 8;

/// `[store] connection_wait_seconds` when the file does not say.
pub const DEFAULT_WAIT_SECONDS: u64 = 10;

/// How many connections, and how long a request waits for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// At most this many connections are open (at least 1).
    pub connections: usize,
    /// A request that waits this long for a connection (a free one, or a new one to open)
    /// gives up.
    pub wait: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            connections: DEFAULT_CONNECTIONS,
            wait: Duration::from_secs(DEFAULT_WAIT_SECONDS),
        }
    }
}

/// Why no connection could be lent.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// Every connection stayed in use for the whole wait.
    #[error(
        "all {connections} connection(s) to the store stayed busy for {seconds} s ([store] connections, connection_wait_seconds)"
    )]
    Busy {
        /// The pool's size.
        connections: usize,
        /// How long the request waited.
        seconds: u64,
    },
    /// Opening a new connection took longer than the wait.
    #[error("opening a connection to the store took longer than {seconds} s")]
    OpenTimedOut {
        /// How long it was given.
        seconds: u64,
    },
    /// A new connection could not be opened.
    #[error(transparent)]
    Open(#[from] StoreError),
    /// Opening a new connection ended before it finished (its thread panicked or the
    /// runtime is shutting down).
    #[error("opening a connection to the store did not finish")]
    Interrupted,
    /// The pool was closed.
    #[error("the pool of store connections is closed")]
    Closed,
}

/// Opens the pool's connections: [`Store::open_location`], on a blocking thread.
#[derive(Debug)]
pub struct Opener {
    location: Location,
}

impl managed::Manager for Opener {
    type Type = Store;
    type Error = ConnectionError;

    async fn create(&self) -> Result<Store, ConnectionError> {
        let location = self.location.clone();
        match tokio::task::spawn_blocking(move || Store::open_location(&location)).await {
            Ok(opened) => Ok(opened?),
            Err(_) => Err(ConnectionError::Interrupted),
        }
    }

    async fn recycle(&self, store: &mut Store, _: &Metrics) -> RecycleResult<ConnectionError> {
        if store.conn.in_transaction() {
            tracing::warn!(
                store = %store.path().display(),
                "a store connection came back inside a transaction; it is closed (its transaction rolls back)"
            );
            return Err(RecycleError::message("left inside a transaction"));
        }
        Ok(())
    }
}

/// A connection borrowed from the pool; given back when dropped.
pub type Pooled = managed::Object<Opener>;

/// What the pool holds now, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// The most it opens.
    pub max: usize,
    /// Open now.
    pub open: usize,
    /// Lent out now.
    pub in_use: usize,
    /// Requests waiting for one now.
    pub waiting: usize,
}

/// The pool of connections to one store. Cloning it shares the pool.
#[derive(Clone)]
pub struct StorePool {
    pool: managed::Pool<Opener>,
    location: Location,
    settings: PoolSettings,
}

impl std::fmt::Debug for StorePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorePool")
            .field("location", &self.location)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl StorePool {
    /// A pool of up to `settings.connections` connections to the store at `location`, opened
    /// when first needed. Must be called inside a tokio runtime (its waits are timed by it).
    pub fn new(location: Location, settings: PoolSettings) -> StorePool {
        let manager = Opener {
            location: location.clone(),
        };
        // Only fails without a runtime for the timeouts, and one is named here.
        let pool = managed::Pool::builder(manager)
            .max_size(settings.connections.max(1))
            .wait_timeout(Some(settings.wait))
            .create_timeout(Some(settings.wait))
            // The connection used last is lent first: its page cache and prepared statements
            // are warm, and under light load the others stay idle.
            .queue_mode(QueueMode::Lifo)
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .expect("a pool with a runtime and a size builds");
        StorePool {
            pool,
            location,
            settings,
        }
    }

    /// Borrow a connection, waiting (asynchronously) at most the configured time.
    pub async fn get(&self) -> Result<Pooled, ConnectionError> {
        self.get_within(&self.pool.timeouts()).await
    }

    async fn get_within(&self, timeouts: &managed::Timeouts) -> Result<Pooled, ConnectionError> {
        self.pool.timeout_get(timeouts).await.map_err(|e| match e {
            managed::PoolError::Timeout(TimeoutType::Create) => ConnectionError::OpenTimedOut {
                seconds: self.settings.wait.as_secs(),
            },
            managed::PoolError::Timeout(_) => ConnectionError::Busy {
                connections: self.settings.connections,
                seconds: self.settings.wait.as_secs(),
            },
            managed::PoolError::Backend(e) => e,
            managed::PoolError::Closed
            | managed::PoolError::NoRuntimeSpecified
            | managed::PoolError::PostCreateHook(_) => ConnectionError::Closed,
        })
    }

    /// Where the store is, to open a connection of another kind to it.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// How it was sized.
    pub fn settings(&self) -> PoolSettings {
        self.settings
    }

    /// How many connections are open, lent and waited for.
    pub fn status(&self) -> PoolStatus {
        let s = self.pool.status();
        PoolStatus {
            max: s.max_size,
            open: s.size,
            in_use: s.size.saturating_sub(s.available),
            waiting: s.waiting,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pool of `connections` over a fresh scratch store (a SQLite file, or a schema of
    /// `DPOST_TEST_POSTGRES`). Its wait is long: opening a connection on a loaded machine
    /// must not time out; the test of the timeout waits less.
    fn pool(name: &str, connections: usize) -> StorePool {
        let store = crate::store::scratch_store(name);
        StorePool::new(
            store.location().clone(),
            PoolSettings {
                connections,
                wait: Duration::from_secs(60),
            },
        )
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn connections_are_lent_in_parallel_up_to_the_size_then_a_wait_times_out() {
        runtime().block_on(async {
            let pool = pool("pool-size", 2);
            let a = pool.get().await.unwrap();
            let b = pool.get().await.unwrap();
            assert_eq!(
                pool.status(),
                PoolStatus {
                    max: 2,
                    open: 2,
                    in_use: 2,
                    waiting: 0
                }
            );
            // No connection is given back meanwhile, so this wait ends in a timeout however
            // long it is; a short one keeps the test quick.
            let short = managed::Timeouts {
                wait: Some(Duration::from_millis(50)),
                ..pool.pool.timeouts()
            };
            let e = pool.get_within(&short).await.unwrap_err();
            assert!(
                matches!(e, ConnectionError::Busy { connections: 2, .. }),
                "{e}"
            );
            assert!(e.to_string().contains("[store] connections"), "{e}");
            drop(a);
            let c = pool
                .get()
                .await
                .expect("a connection given back is lent again");
            assert_eq!(pool.status().open, 2, "reused, not a third opened");
            drop((b, c));
            assert_eq!(pool.status().in_use, 0);
        });
    }

    #[test]
    fn what_one_connection_commits_another_reads() {
        runtime().block_on(async {
            let pool = pool("pool-share", 2);
            let (w, r) = (pool.get().await.unwrap(), pool.get().await.unwrap());
            let (mut w, r) = tokio::task::spawn_blocking(move || {
                let mut w = w;
                w.conn()
                    .execute_batch("CREATE TABLE pool_t (a BIGINT)")
                    .unwrap();
                w.in_transaction(|s| {
                    s.conn()
                        .execute("INSERT INTO pool_t (a) VALUES (?1)", [7i64])
                        .map_err(|e| s.error(e))?;
                    Ok(())
                })
                .unwrap();
                (w, r)
            })
            .await
            .unwrap();
            let seen: i64 = r
                .conn
                .query_row("SELECT a FROM pool_t", [], |row| row.get(0))
                .unwrap();
            assert_eq!(seen, 7);
            w.conn().execute_batch("DROP TABLE pool_t").unwrap();
        });
    }

    #[test]
    fn a_connection_left_in_a_transaction_is_closed_not_lent_again() {
        runtime().block_on(async {
            let pool = pool("pool-recycle", 1);
            let mut c = pool.get().await.unwrap();
            // As a request that panicked between BEGIN and COMMIT leaves it.
            c.conn().begin().unwrap();
            c.conn()
                .execute_batch("CREATE TABLE pool_left (a BIGINT)")
                .unwrap();
            drop(c);
            let c = pool.get().await.expect("a fresh connection");
            assert!(!c.conn.in_transaction());
            // The abandoned transaction rolled back, and writing works (on SQLite the
            // abandoned one would hold the write lock).
            let left = c
                .conn
                .query_row("SELECT 1 FROM pool_left", [], |_| Ok(()))
                .is_ok();
            assert!(!left, "the abandoned transaction's table is gone");
            c.conn
                .execute_batch("CREATE TABLE pool_after (a BIGINT); DROP TABLE pool_after")
                .unwrap();
        });
    }

    #[test]
    fn a_postgres_connection_the_server_closed_is_opened_again_on_its_next_use() {
        if std::env::var("DPOST_TEST_POSTGRES").is_err() {
            return; // PostgreSQL only: a SQLite file has no server to close it.
        }
        runtime().block_on(async {
            let pool = pool("pool-reconnect", 1);
            let c = pool.get().await.unwrap();
            let pid: i64 = c
                .conn
                .query_row("SELECT pg_backend_pid()", [], |r| r.get(0))
                .unwrap();
            drop(c);
            // Closed from another session, as a server restart or an administrator does.
            let killer = crate::store::second_connection(&crate::store::scratch_store(
                "pool-reconnect-killer",
            ));
            let killed: bool = killer
                .conn
                .query_row(
                    // Waits (up to 5 s) until that backend has ended.
                    "SELECT pg_terminate_backend(?1::int, 5000)",
                    [pid],
                    |r| r.get(0),
                )
                .unwrap();
            assert!(killed);
            // The request that meets the closed connection may fail (it is answered 503);
            // the one after it is served on the same pooled connection, reconnected.
            let mut last = None;
            for _ in 0..2 {
                let c = pool.get().await.unwrap();
                last = Some(
                    c.conn
                        .query_row("SELECT pg_backend_pid()", [], |r| r.get::<_, i64>(0)),
                );
                if matches!(last, Some(Ok(_))) {
                    break;
                }
            }
            let new_pid = last.unwrap().expect("reconnected by the second use");
            assert_ne!(new_pid, pid);
            assert_eq!(pool.status().open, 1, "the same pooled connection");
        });
    }
}
