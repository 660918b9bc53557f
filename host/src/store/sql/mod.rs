//! One connection interface over both databases the store runs on: SQLite (embedded, the
//! default) and PostgreSQL (shared by several `dpost serve` replicas, issue 18).
//!
//! Its shape is rusqlite's (`execute`, `query_row`, `prepare_cached`, `query_map`,
//! `transaction`, `params![]`) because the store was written against rusqlite and most of its
//! queries are plain SQL both databases run alike; what differs is kept small and named:
//! - parameters are written `?1` / `?` and rewritten to `$1` for PostgreSQL
//!   ([`placeholders`]);
//! - values are SQLite's few storage classes ([`value`]); PostgreSQL's stricter types are
//!   converted at the edge ([`postgres`]);
//! - each service keeps one list of migrations per backend (DDL differs: identity columns,
//!   triggers, text search);
//! - the few queries that cannot be written once ask [`Connection::backend`].

pub mod placeholders;
pub mod postgres;
mod sqlite;
pub mod value;

use std::cell::Cell;

pub use crate::sql_params as params;
pub use value::{FromSqlValue, Params, ToSqlValue, Value, ValueRef, params_from_iter};

/// Why a statement failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite said so.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL (or the connection to it) said so. Not a `source`: [`postgres::describe`]
    /// already says all of it, and an error chain printed in full would say it twice.
    #[error("{}", postgres::describe(.0))]
    Postgres(tokio_postgres::Error),
    /// The database cannot be reached.
    #[error("{0}")]
    Unavailable(String),
    /// A query that must return a row returned none.
    #[error("no row was found")]
    NoRows,
    /// A file whose bytes go into the store (PostgreSQL keeps stored files' bytes in a table,
    /// [`crate::store::files`]) could not be read.
    #[error("{}: {source}", .path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What reading it said.
        source: std::io::Error,
    },
    /// A column's value is not of the type the code reads it as.
    #[error("column {column}: {problem}")]
    Value {
        /// Its name or position.
        column: String,
        /// What was found instead.
        problem: String,
    },
}

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        Error::Postgres(e)
    }
}

/// A statement's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `query_row(...).optional()`: no row is `None`, not an error.
pub trait OptionalExtension<T> {
    /// `Ok(None)` for [`Error::NoRows`].
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(Error::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Which database a connection is to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded file.
    Sqlite,
    /// A server.
    Postgres,
}

impl Backend {
    /// Its name in messages and in `schema_version`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

enum Inner {
    Sqlite(rusqlite::Connection),
    Postgres(Box<postgres::Connection>),
}

/// A connection to the store's database.
pub struct Connection {
    inner: Inner,
    /// Open transactions and savepoints: a savepoint outside a transaction begins one (as
    /// SQLite does by itself; PostgreSQL refuses a bare SAVEPOINT).
    depth: Cell<u32>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Wrap an open SQLite connection.
    pub fn sqlite(conn: rusqlite::Connection) -> Self {
        Connection {
            inner: Inner::Sqlite(conn),
            depth: Cell::new(0),
        }
    }

    /// Wrap an open PostgreSQL connection.
    pub fn postgres(conn: postgres::Connection) -> Self {
        Connection {
            inner: Inner::Postgres(Box::new(conn)),
            depth: Cell::new(0),
        }
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        match self.inner {
            Inner::Sqlite(_) => Backend::Sqlite,
            Inner::Postgres(_) => Backend::Postgres,
        }
    }

    /// Whether a transaction is open: one begun and never ended (its caller panicked) would
    /// hold SQLite's write lock and fail every later BEGIN, so a pool drops such a connection.
    pub fn in_transaction(&self) -> bool {
        self.depth.get() > 0
            || match &self.inner {
                Inner::Sqlite(c) => !c.is_autocommit(),
                Inner::Postgres(_) => false,
            }
    }

    /// The SQLite connection, for what only SQLite has (its online backup, PRAGMAs).
    pub fn as_sqlite(&self) -> Option<&rusqlite::Connection> {
        match &self.inner {
            Inner::Sqlite(c) => Some(c),
            Inner::Postgres(_) => None,
        }
    }

    /// Run one statement; the number of rows it changed.
    pub fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    /// Run statements separated by `;`, without parameters (migrations, test set-ups).
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.inner {
            Inner::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Inner::Postgres(c) => {
                self.reconnect(c)?;
                c.execute_batch(sql)
            }
        }
    }

    /// The first row of a query, mapped by `f`; [`Error::NoRows`] when there is none.
    pub fn query_row<T, P: Params>(
        &self,
        sql: &str,
        params: P,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        self.prepare_cached(sql)?.query_row(params, f)
    }

    /// A statement to run (possibly many times).
    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        self.prepare_cached(sql)
    }

    /// A statement, kept prepared for the next call with the same text.
    pub fn prepare_cached(&self, sql: &str) -> Result<Statement<'_>> {
        Ok(Statement {
            inner: match &self.inner {
                Inner::Sqlite(c) => StatementInner::Sqlite(c.prepare_cached(sql)?),
                Inner::Postgres(c) => {
                    self.reconnect(c)?;
                    StatementInner::Postgres(c.prepare(sql)?, c)
                }
            },
        })
    }

    /// A PostgreSQL connection that was closed is opened again, outside a transaction.
    fn reconnect(&self, c: &postgres::Connection) -> Result<()> {
        if self.depth.get() == 0 {
            c.reconnect_if_closed()?;
        }
        Ok(())
    }

    /// Begin a transaction: committed by [`Transaction::commit`], rolled back when dropped
    /// without it. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`): a deferred
    /// one that reads, then writes, fails with SQLITE_BUSY when another connection committed
    /// in between, without waiting (<https://sqlite.org/lang_transaction.html>).
    pub fn transaction(&mut self) -> Result<Transaction<'_>> {
        self.begin()?;
        Ok(Transaction {
            conn: self,
            done: false,
            savepoint: false,
        })
    }

    /// A transaction when none is open, a savepoint inside one: what must commit alone when
    /// called alone, and with its caller's transaction when called inside one.
    pub fn savepoint(&mut self) -> Result<Transaction<'_>> {
        if self.depth.get() == 0 {
            return self.transaction();
        }
        self.execute_batch("SAVEPOINT dpost_sp")?;
        self.depth.set(self.depth.get() + 1);
        Ok(Transaction {
            conn: self,
            done: false,
            savepoint: true,
        })
    }

    /// BEGIN, outside the [`Transaction`] guard (for [`crate::store::Store::in_transaction`],
    /// whose closure needs the whole store).
    pub(crate) fn begin(&self) -> Result<()> {
        self.execute_batch(match self.backend() {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        })?;
        self.depth.set(self.depth.get() + 1);
        Ok(())
    }

    /// COMMIT what [`Self::begin`] began.
    pub(crate) fn commit(&self) -> Result<()> {
        self.execute_batch("COMMIT")?;
        self.depth.set(self.depth.get().saturating_sub(1));
        Ok(())
    }

    /// ROLLBACK what [`Self::begin`] began.
    pub(crate) fn rollback(&self) -> Result<()> {
        self.depth.set(self.depth.get().saturating_sub(1));
        self.execute_batch("ROLLBACK")
    }
}

/// An open transaction (or savepoint); everything a [`Connection`] does, it does inside.
pub struct Transaction<'c> {
    conn: &'c mut Connection,
    done: bool,
    savepoint: bool,
}

impl Transaction<'_> {
    /// Make it durable (SQLite: fsynced; PostgreSQL: flushed to its WAL) before returning.
    pub fn commit(mut self) -> Result<()> {
        self.done = true;
        if self.savepoint {
            self.conn.depth.set(self.conn.depth.get() - 1);
            self.conn.execute_batch("RELEASE dpost_sp")
        } else {
            self.conn.commit()
        }
    }
}

impl std::ops::Deref for Transaction<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // What failed is reported by the statement that failed; a rollback that fails too
        // (the connection is gone) leaves nothing committed all the same.
        if self.savepoint {
            self.conn.depth.set(self.conn.depth.get() - 1);
            let _ = self
                .conn
                .execute_batch("ROLLBACK TO dpost_sp; RELEASE dpost_sp");
        } else {
            let _ = self.conn.rollback();
        }
    }
}

enum StatementInner<'c> {
    Sqlite(rusqlite::CachedStatement<'c>),
    Postgres(tokio_postgres::Statement, &'c postgres::Connection),
}

/// A prepared statement.
pub struct Statement<'c> {
    inner: StatementInner<'c>,
}

impl Statement<'_> {
    /// Run it; the number of rows changed.
    pub fn execute<P: Params>(&mut self, params: P) -> Result<usize> {
        let values = params.values();
        match &mut self.inner {
            StatementInner::Sqlite(s) => sqlite::execute(s, &values),
            StatementInner::Postgres(s, c) => c.execute(s, &values),
        }
    }

    /// Every row, mapped by `f`.
    pub fn query_map<T, P: Params>(
        &mut self,
        params: P,
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<std::vec::IntoIter<Result<T>>> {
        let values = params.values();
        let mut out = Vec::new();
        match &mut self.inner {
            StatementInner::Sqlite(s) => sqlite::each_row(s, &values, |r| {
                out.push(f(&Row::Sqlite(r)));
                true
            })?,
            StatementInner::Postgres(s, c) => {
                for r in c.query(s, &values)? {
                    out.push(f(&Row::Postgres(&r)));
                }
            }
        }
        Ok(out.into_iter())
    }

    /// Call `f` on each row, in order, until it returns `Ok(false)` (on SQLite the rest are
    /// never read: a search that stops after a page costs a page).
    pub fn for_each<P: Params>(
        &mut self,
        params: P,
        mut f: impl FnMut(&Row<'_>) -> Result<bool>,
    ) -> Result<()> {
        let values = params.values();
        let mut failed = None;
        match &mut self.inner {
            StatementInner::Sqlite(s) => {
                sqlite::each_row(s, &values, |r| match f(&Row::Sqlite(r)) {
                    Ok(go_on) => go_on,
                    Err(e) => {
                        failed = Some(e);
                        false
                    }
                })?
            }
            StatementInner::Postgres(s, c) => {
                for r in c.query(s, &values)? {
                    if !f(&Row::Postgres(&r))? {
                        break;
                    }
                }
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// The first row, mapped by `f`; [`Error::NoRows`] when there is none.
    pub fn query_row<T, P: Params>(
        &mut self,
        params: P,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        let values = params.values();
        let mut f = Some(f);
        let mut out = None;
        match &mut self.inner {
            StatementInner::Sqlite(s) => sqlite::each_row(s, &values, |r| {
                if let Some(f) = f.take() {
                    out = Some(f(&Row::Sqlite(r)));
                }
                false
            })?,
            StatementInner::Postgres(s, c) => {
                if let (Some(r), Some(f)) = (c.query(s, &values)?.first(), f.take()) {
                    out = Some(f(&Row::Postgres(r)));
                }
            }
        }
        out.unwrap_or(Err(Error::NoRows))
    }

    /// Whether the query returns any row.
    pub fn exists<P: Params>(&mut self, params: P) -> Result<bool> {
        self.query_row(params, |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
    }
}

/// One row of a result.
pub enum Row<'r> {
    /// From SQLite.
    Sqlite(&'r rusqlite::Row<'r>),
    /// From PostgreSQL.
    Postgres(&'r tokio_postgres::Row),
}

/// A column, by position or by name.
pub trait RowIndex: Copy {
    /// Its position, when given as one.
    fn position(self) -> Option<usize>;
    /// Its position in `names`.
    fn index(self, names: &[&str]) -> Option<usize>;
    /// How to name it in an error.
    fn describe(self) -> String;
}

impl RowIndex for usize {
    fn position(self) -> Option<usize> {
        Some(self)
    }
    fn index(self, names: &[&str]) -> Option<usize> {
        (self < names.len()).then_some(self)
    }
    fn describe(self) -> String {
        self.to_string()
    }
}

impl RowIndex for &str {
    fn position(self) -> Option<usize> {
        None
    }
    fn index(self, names: &[&str]) -> Option<usize> {
        names.iter().position(|n| n.eq_ignore_ascii_case(self))
    }
    fn describe(self) -> String {
        self.to_owned()
    }
}

fn no_such_column(idx: impl RowIndex) -> Error {
    Error::Value {
        column: idx.describe(),
        problem: "no such column in the result".to_owned(),
    }
}

/// A conversion error, with the column's name (looked up only when there is an error).
fn naming(e: Error, name: impl FnOnce() -> String) -> Error {
    match e {
        Error::Value { problem, .. } => Error::Value {
            column: name(),
            problem,
        },
        other => other,
    }
}

impl Row<'_> {
    /// The column `idx`, read as `T`.
    pub fn get<I: RowIndex, T: FromSqlValue>(&self, idx: I) -> Result<T> {
        match self {
            Row::Sqlite(r) => sqlite::get(r, idx),
            Row::Postgres(r) => postgres::get(r, idx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> Connection {
        Connection::sqlite(rusqlite::Connection::open_in_memory().unwrap())
    }

    #[test]
    fn a_dropped_transaction_rolls_back_and_a_savepoint_commits_with_its_caller() {
        let mut c = memory();
        c.execute_batch("CREATE TABLE t (a INTEGER)").unwrap();
        {
            let tx = c.transaction().unwrap();
            tx.execute("INSERT INTO t VALUES (?1)", [1]).unwrap();
        }
        let n: i64 = c
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
        // Alone, a savepoint is a transaction of its own.
        let sp = c.savepoint().unwrap();
        sp.execute("INSERT INTO t VALUES (?1)", [2]).unwrap();
        sp.commit().unwrap();
        // Inside one, it commits only with it.
        c.begin().unwrap();
        let sp = c.savepoint().unwrap();
        sp.execute("INSERT INTO t VALUES (?1)", [3]).unwrap();
        sp.commit().unwrap();
        c.rollback().unwrap();
        let all: Vec<i64> = c
            .prepare("SELECT a FROM t ORDER BY a")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(all, vec![2]);
    }

    #[test]
    fn no_row_is_an_error_that_optional_turns_into_none() {
        let c = memory();
        c.execute_batch("CREATE TABLE t (a TEXT)").unwrap();
        let r = c.query_row("SELECT a FROM t", [], |r| r.get::<_, String>(0));
        assert!(matches!(r, Err(Error::NoRows)));
        let r = c
            .query_row("SELECT a FROM t", [], |r| r.get::<_, String>(0))
            .optional()
            .unwrap();
        assert_eq!(r, None);
        c.execute("INSERT INTO t VALUES (?1)", params!["x"])
            .unwrap();
        let by_name: String = c
            .query_row("SELECT a AS label FROM t", [], |r| r.get("label"))
            .unwrap();
        assert_eq!(by_name, "x");
    }
}
