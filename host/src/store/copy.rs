//! `dpost store copy`: move an installation from its SQLite file to a PostgreSQL store
//! (issue 18), checked before it is committed.
//!
//! What is copied is read from the two databases, not from a list kept here: every table of
//! the SQLite file is copied into the PostgreSQL table of the same name (created by
//! [`super::postgres`]'s migrations when the target is opened), column by column by name. A
//! SQLite table or column without a place on PostgreSQL stops the copy before anything is
//! written, so nothing is dropped because this module did not know of it. Not copied:
//! SQLite's own tables (`sqlite_sequence`, read for the counters below), the FTS5 search
//! index `console_search` and its shadow tables (PostgreSQL searches with pg_trgm indexes
//! over the messages themselves), `schema_version` (each backend numbers its own
//! migrations), and the counters, which are set from what was copied.
//!
//! One snapshot, one transaction: the SQLite file is read inside one read transaction (one
//! committed state, as `store backup` takes it; WAL mode lets `serve` go on writing, but
//! what it writes after the snapshot is not copied, so stop it first), and everything is
//! written to PostgreSQL in one transaction that is committed only when the checks pass.
//! Any failure, or any check that does not pass, rolls it all back: the target is either
//! untouched or a complete copy.
//!
//! Ids and sequence numbers are copied as they are. PostgreSQL's `BEFORE INSERT` triggers
//! that hand out commit-ordered numbers (`dpost_take_seq`) and keep the console's daily
//! counts are switched off for the copy (`ALTER TABLE … DISABLE TRIGGER USER`, undone in the
//! same transaction; foreign keys stay checked), so `seq` columns keep their values and
//! `console_daily` is copied, not recounted. Afterwards every counter continues after the
//! highest number the SQLite store ever gave out: identity sequences (`setval`),
//! `dpost_sequences` and `ngdp_sequence`, each from the largest copied value or SQLite's
//! AUTOINCREMENT high-water mark in `sqlite_sequence` (events pruned by retention leave
//! their numbers used; a new event must not take one again,
//! <https://sqlite.org/autoinc.html>).
//!
//! Memory stays bounded: rows are streamed from SQLite and sent in multi-row INSERTs of at
//! most [`BATCH_ROWS`] rows and [`BATCH_BYTES`] bytes (a Digipost document of many MB goes
//! alone), and the documents' SHA-256 are computed by PostgreSQL itself.
//!
//! Checks before the commit: each table's row count on both sides; every
//! `digipost_documents.content` hashed by PostgreSQL (`sha256()`, PostgreSQL 11+:
//! <https://www.postgresql.org/docs/current/functions-binarystring.html>) against its
//! `content_sha256`; and every file the store refers to (messages as received, their
//! documents, kept conflicting copies, outgoing MeMos: [`super::backup::referenced_files`])
//! present with its recorded size and SHA-256. The files stay where they are; both stores
//! refer to the same paths.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef as SqliteValue;

use super::backup::{self, FileRef};
use super::sql::{self, Value, params, params_from_iter};
use super::{Store, StoreError};

/// Rows in one INSERT at most.
pub const BATCH_ROWS: usize = 500;
/// Bytes of values in one INSERT at most (a larger row goes alone).
pub const BATCH_BYTES: usize = 4 << 20;
/// PostgreSQL's limit on the parameters of one statement (a 16-bit count in the protocol).
const MAX_PARAMS: usize = 65_535;

/// Tables that are not copied row by row (see the module's notes).
fn skipped(table: &str) -> bool {
    table.starts_with("sqlite_")
        || table == "console_search"
        || table.starts_with("console_search_")
        || table == "schema_version"
        || COUNTERS.contains(&table)
}

/// The counter tables, set from the copied rows instead of copied.
const COUNTERS: &[&str] = &["ngdp_sequence", "dpost_sequences"];

/// Why the copy could not be made. Nothing was committed to the target.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// There is no SQLite store to copy from.
    #[error("there is no store at {0}")]
    NoSource(PathBuf),
    /// The target is not a PostgreSQL address.
    #[error("the target must be a postgres:// or postgresql:// URL, not {0:?}")]
    NotPostgres(String),
    /// A store could not be opened (or its tables brought up to date).
    #[error(transparent)]
    Open(#[from] StoreError),
    /// Reading the SQLite store failed.
    #[error("reading {path}: {source}")]
    Source {
        /// The SQLite file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// Writing to or reading from PostgreSQL failed.
    #[error("{place}: {what}: {source}")]
    Target {
        /// The PostgreSQL store, without its password.
        place: String,
        /// What was being done.
        what: String,
        /// What PostgreSQL said.
        source: sql::Error,
    },
    /// The target already holds data: copying into it would mix two installations.
    #[error(
        "{place} is not empty: table {table} has {rows} row(s); copy only into a new database (nothing was written)"
    )]
    NotEmpty {
        /// The PostgreSQL store.
        place: String,
        /// The first table found with rows.
        table: String,
        /// How many.
        rows: i64,
    },
    /// A SQLite table or column has no place on PostgreSQL: its data would be lost.
    #[error("{what}; nothing was copied")]
    NoPlace {
        /// Which table or column.
        what: String,
    },
    /// A value that PostgreSQL's column cannot hold as it is.
    #[error("{path}: table {table}, {row}, column {column}: {problem}; nothing was copied")]
    BadValue {
        /// The SQLite file.
        path: PathBuf,
        /// The table.
        table: String,
        /// Which row (`rowid N`, or its position).
        row: String,
        /// The column.
        column: String,
        /// What is wrong.
        problem: String,
    },
    /// The tables' foreign keys form a cycle, so no insertion order satisfies them.
    #[error("{place}: the foreign keys among {tables} form a cycle; no copy order exists")]
    Cycle {
        /// The PostgreSQL store.
        place: String,
        /// The tables left.
        tables: String,
    },
}

/// One table copied.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TableCopy {
    /// Its name.
    pub table: String,
    /// Rows copied.
    pub rows: u64,
    /// Bytes of values copied (text and blobs by length, numbers as 8).
    pub bytes: u64,
}

/// A counter set to continue after the copied rows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Counter {
    /// `table.column` for an identity column, `dpost_sequences.NAME`, `ngdp_sequence.NAME`.
    pub name: String,
    /// The last number given out; the next one is larger.
    pub value: i64,
}

/// Something the checks found different on the two sides.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mismatch {
    /// The table whose row it is.
    pub table: String,
    /// Which row: a document's `sender/id`, a message's `message <uuid>`, or `rows` for a count.
    pub key: String,
    /// The file, for a file on disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// count | sha256 | missing | damaged | unreadable
    pub kind: String,
    /// What differs, for a person.
    pub detail: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.kind, self.table, self.key)?;
        if let Some(p) = &self.path {
            write!(f, " {p}")?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// What a copy did and found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CopyReport {
    /// The SQLite file.
    pub from: String,
    /// The PostgreSQL store, without its password.
    pub to: String,
    /// Each table, in the order copied (foreign keys first).
    pub tables: Vec<TableCopy>,
    /// Rows copied, all tables.
    pub rows: u64,
    /// Bytes copied, all tables.
    pub bytes: u64,
    /// Where each counter continues.
    pub counters: Vec<Counter>,
    /// Digipost documents whose content PostgreSQL hashed.
    pub documents_checked: u64,
    /// Files on disk checked against their SHA-256.
    pub files_checked: u64,
    /// Their bytes.
    pub file_bytes: u64,
    /// What did not match; empty when the copy was committed.
    pub mismatches: Vec<Mismatch>,
    /// Whether the copy was committed (false: rolled back because of `mismatches`).
    pub committed: bool,
    /// Wall-clock seconds, from opening the stores to the commit.
    pub seconds: f64,
}

/// A column of a PostgreSQL table.
#[derive(Debug, Clone)]
struct TargetColumn {
    name: String,
    /// `format_type()`: bigint, text, bytea, ...
    ty: String,
    not_null: bool,
    identity: bool,
    has_default: bool,
}

/// How one table is copied: the SQLite expressions read, the PostgreSQL columns written.
#[derive(Debug, Clone)]
struct TablePlan {
    name: String,
    /// Read from SQLite, in order (`rowid` for PostgreSQL's column of that name).
    select: Vec<String>,
    /// Written on PostgreSQL, in the same order.
    columns: Vec<TargetColumn>,
    /// The SQLite queries' `WHERE … ORDER BY …`, one pass each, in order: rows a row refers
    /// to in the same table come first. Each pass reads in rowid order, which SQLite walks
    /// without sorting; an ORDER BY on an expression would sort whole rows, blobs and all,
    /// in memory.
    passes: Vec<String>,
    /// Whether SQLite has a rowid for it (read after `select`, to name a row in an error).
    rowid: bool,
}

/// Copy the SQLite store at `from` into the PostgreSQL store at `to` (migrated first), check
/// it, and commit only when every check passes. `Ok` with `committed: false` when a check
/// failed (the report lists what); `Err` when the copy could not be made.
pub fn copy(from: &Path, to: &str) -> Result<CopyReport, CopyError> {
    let started = std::time::Instant::now();
    if !matches!(super::Location::parse(to), super::Location::Postgres(_)) {
        return Err(CopyError::NotPostgres(to.to_owned()));
    }
    if !from.is_file() {
        return Err(CopyError::NoSource(from.to_owned()));
    }
    // Opening brings the file's tables up to this dpost's shape, as `serve` would, so its
    // columns are the ones PostgreSQL's tables have.
    let mut source = Store::open(from)?;
    let mut target = Store::open_postgres(to)?;
    let place = target.path().display().to_string();
    let src = source
        .conn()
        .as_sqlite()
        .ok_or_else(|| CopyError::NoPlace {
            what: format!("{} is not a SQLite store", from.display()),
        })?;
    let read = |source| CopyError::Source {
        path: from.to_owned(),
        source,
    };
    // One snapshot for every read below (WAL mode: writers go on, unseen).
    src.execute_batch("BEGIN DEFERRED").map_err(read)?;
    let result = copy_in_snapshot(src, from, &mut target, &place);
    let _ = src.execute_batch("COMMIT");
    let mut report = result?;
    report.from = from.display().to_string();
    report.to = place;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

fn copy_in_snapshot(
    src: &rusqlite::Connection,
    from: &Path,
    target: &mut Store,
    place: &str,
) -> Result<CopyReport, CopyError> {
    let read = |source| CopyError::Source {
        path: from.to_owned(),
        source,
    };
    let write = |what: String| {
        let place = place.to_owned();
        move |source| CopyError::Target {
            place,
            what,
            source,
        }
    };
    let sqlite_tables = sqlite_tables(src).map_err(read)?;
    let high_water = sqlite_high_water(src, &sqlite_tables).map_err(read)?;

    let tx = target.conn().transaction().map_err(write("BEGIN".into()))?;
    let target_tables = target_tables(&tx).map_err(write("reading its tables".into()))?;
    let edges = foreign_keys(&tx).map_err(write("reading its foreign keys".into()))?;
    for t in sqlite_tables.keys() {
        if !target_tables.contains(t) {
            return Err(CopyError::NoPlace {
                what: format!("the SQLite table {t} has no table on {place}"),
            });
        }
    }
    let order = copy_order(sqlite_tables.keys().cloned().collect(), &edges).map_err(|left| {
        CopyError::Cycle {
            place: place.to_owned(),
            tables: left.join(", "),
        }
    })?;
    let mut plans = Vec::with_capacity(order.len());
    for t in &order {
        let columns =
            target_columns(&tx, t).map_err(write(format!("reading the columns of {t}")))?;
        let sqlite_columns = sqlite_columns(src, t).map_err(read)?;
        let self_fk: Vec<String> = edges
            .iter()
            .filter(|e| &e.child == t && &e.parent == t)
            .flat_map(|e| e.columns.iter().cloned())
            .collect();
        plans.push(plan(
            t,
            &sqlite_columns,
            sqlite_tables[t],
            columns,
            &self_fk,
            place,
        )?);
    }

    // Other writers (a second copy, a replica started too early) wait until the end, and a
    // second copy then finds the tables full.
    let guarded: Vec<&String> = target_tables.iter().filter(|t| !skipped(t)).collect();
    if !guarded.is_empty() {
        let all: Vec<String> = guarded.iter().map(|t| quote(t)).collect();
        tx.execute_batch(&format!("LOCK TABLE {} IN EXCLUSIVE MODE", all.join(", ")))
            .map_err(write("locking the tables".into()))?;
    }
    for t in guarded {
        let rows: i64 = tx
            .query_row(&format!("SELECT COUNT(*) FROM {}", quote(t)), [], |r| {
                r.get(0)
            })
            .map_err(write(format!("counting {t}")))?;
        if rows > 0 {
            return Err(CopyError::NotEmpty {
                place: place.to_owned(),
                table: t.clone(),
                rows,
            });
        }
    }
    let names: Vec<String> = order.iter().map(|t| quote(t)).collect();
    for t in &names {
        tx.execute_batch(&format!("ALTER TABLE {t} DISABLE TRIGGER USER"))
            .map_err(write(format!("switching off the triggers of {t}")))?;
    }

    let mut report = CopyReport::default();
    for p in &plans {
        let copied = copy_table(src, from, &tx, p, place)?;
        report.rows += copied.rows;
        report.bytes += copied.bytes;
        report.tables.push(copied);
    }
    for t in &names {
        tx.execute_batch(&format!("ALTER TABLE {t} ENABLE TRIGGER USER"))
            .map_err(write(format!("switching on the triggers of {t}")))?;
    }
    report.counters = set_counters(&tx, src, &plans, &high_water, &target_tables)
        .map_err(write("setting the counters".into()))?;

    // Checks, inside the transaction: a failure leaves the target as it was.
    for p in &plans {
        let on_sqlite: i64 = src
            .query_row(
                &format!("SELECT COUNT(*) FROM {}", quote(&p.name)),
                [],
                |r| r.get(0),
            )
            .map_err(read)?;
        let on_postgres: i64 = tx
            .query_row(
                &format!("SELECT COUNT(*) FROM {}", quote(&p.name)),
                [],
                |r| r.get(0),
            )
            .map_err(write(format!("counting {}", p.name)))?;
        if on_sqlite != on_postgres {
            report.mismatches.push(Mismatch {
                table: p.name.clone(),
                key: "rows".into(),
                path: None,
                kind: "count".into(),
                detail: format!("{on_sqlite} row(s) in SQLite, {on_postgres} on PostgreSQL"),
            });
        }
    }
    if order.iter().any(|t| t == "digipost_documents") {
        let (checked, bad) =
            check_documents(&tx).map_err(write("hashing digipost_documents".into()))?;
        report.documents_checked = checked;
        report.mismatches.extend(bad);
    }
    let files = backup::referenced_files(src).map_err(read)?;
    for f in &files {
        match backup::hash_file(&f.path) {
            Ok((size, sha256)) => {
                report.files_checked += 1;
                report.file_bytes += size;
                if let Some(p) = backup::compare(f, size, &sha256) {
                    report.mismatches.push(file_mismatch(f, p));
                }
            }
            Err(e) => report
                .mismatches
                .push(file_mismatch(f, backup::unreadable(f, &e))),
        }
    }

    if report.mismatches.is_empty() {
        tx.commit().map_err(write("COMMIT".into()))?;
        report.committed = true;
    }
    // Otherwise the transaction rolls back as it is dropped.
    Ok(report)
}

fn file_mismatch(f: &FileRef, p: backup::Problem) -> Mismatch {
    Mismatch {
        table: f.table.to_owned(),
        key: f.owner.clone(),
        path: Some(p.path),
        kind: p.kind.to_owned(),
        detail: p.detail,
    }
}

/// `"name"`: a table or column name as an SQL identifier (both databases quote alike).
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The SQLite tables to copy, each with whether it has a rowid.
fn sqlite_tables(src: &rusqlite::Connection) -> rusqlite::Result<BTreeMap<String, bool>> {
    // `type` is `virtual` for the FTS5 table and `shadow` for its storage; `wr` marks a
    // WITHOUT ROWID table (https://sqlite.org/pragma.html#pragma_table_list).
    let mut q =
        src.prepare("SELECT name, type, wr FROM pragma_table_list WHERE schema = 'main'")?;
    let rows = q.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (name, kind, without_rowid) = row?;
        if kind == "table" && !skipped(&name) {
            out.insert(name, without_rowid == 0);
        }
    }
    Ok(out)
}

/// SQLite's AUTOINCREMENT high-water marks (`sqlite_sequence`), by table.
fn sqlite_high_water(
    src: &rusqlite::Connection,
    tables: &BTreeMap<String, bool>,
) -> rusqlite::Result<BTreeMap<String, i64>> {
    let exists: bool = src.query_row(
        "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'",
        [],
        |r| r.get(0),
    )?;
    let mut out = BTreeMap::new();
    if !exists {
        return Ok(out);
    }
    let mut q = src.prepare("SELECT name, seq FROM sqlite_sequence")?;
    let rows = q.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (name, seq) = row?;
        if tables.contains_key(&name) {
            out.insert(name, seq);
        }
    }
    Ok(out)
}

/// A SQLite table's columns, in order.
fn sqlite_columns(src: &rusqlite::Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut q = src.prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")?;
    let rows = q.query_map([table], |r| r.get::<_, String>(0))?;
    rows.collect()
}

/// The PostgreSQL store's tables (in the schema it writes to).
fn target_tables(tx: &sql::Connection) -> sql::Result<BTreeSet<String>> {
    let mut q = tx.prepare(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')",
    )?;
    q.query_map([], |r| r.get::<_, String>(0))?.collect()
}

/// A PostgreSQL table's columns, in order.
fn target_columns(tx: &sql::Connection, table: &str) -> sql::Result<Vec<TargetColumn>> {
    let mut q = tx.prepare(
        "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                a.attidentity <> '', a.atthasdef
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relname = ?1 AND a.attnum > 0
           AND NOT a.attisdropped
         ORDER BY a.attnum",
    )?;
    q.query_map([table], |r| {
        Ok(TargetColumn {
            name: r.get(0)?,
            ty: r.get(1)?,
            not_null: r.get(2)?,
            identity: r.get(3)?,
            has_default: r.get(4)?,
        })
    })?
    .collect()
}

/// A foreign key: `child`'s `columns` refer to `parent`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ForeignKey {
    child: String,
    parent: String,
    columns: Vec<String>,
}

fn foreign_keys(tx: &sql::Connection) -> sql::Result<Vec<ForeignKey>> {
    let mut q = tx.prepare(
        "SELECT c.relname::text, p.relname::text,
                (SELECT string_agg(a.attname::text, ',' ORDER BY a.attnum) FROM pg_attribute a
                 WHERE a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey))
         FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
         JOIN pg_class p ON p.oid = k.confrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE k.contype = 'f' AND n.nspname = current_schema()
         ORDER BY 1, 2",
    )?;
    q.query_map([], |r| {
        let columns: String = r.get(2)?;
        Ok(ForeignKey {
            child: r.get(0)?,
            parent: r.get(1)?,
            columns: columns.split(',').map(str::to_owned).collect(),
        })
    })?
    .collect()
}

/// `tables` in an order where every table comes after the tables it refers to (ties by
/// name, so the order is the same every time). `Err` with the tables left when the
/// references form a cycle.
fn copy_order(tables: BTreeSet<String>, edges: &[ForeignKey]) -> Result<Vec<String>, Vec<String>> {
    let mut left = tables;
    let mut out = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let ready: Vec<String> = left
            .iter()
            .filter(|t| {
                !edges
                    .iter()
                    .any(|e| &e.child == *t && e.parent != e.child && left.contains(&e.parent))
            })
            .cloned()
            .collect();
        if ready.is_empty() {
            return Err(left.into_iter().collect());
        }
        for t in ready {
            left.remove(&t);
            out.push(t);
        }
    }
    Ok(out)
}

/// Match SQLite's columns to PostgreSQL's by name.
fn plan(
    table: &str,
    sqlite_columns: &[String],
    rowid: bool,
    target: Vec<TargetColumn>,
    self_fk: &[String],
    place: &str,
) -> Result<TablePlan, CopyError> {
    let mut select = Vec::new();
    let mut columns = Vec::new();
    for c in sqlite_columns {
        let Some(t) = target.iter().find(|t| t.name.eq_ignore_ascii_case(c)) else {
            return Err(CopyError::NoPlace {
                what: format!("the column {table}.{c} has no column on {place}"),
            });
        };
        select.push(quote(c));
        columns.push(t.clone());
    }
    for t in &target {
        if columns.iter().any(|c| c.name == t.name) {
            continue;
        }
        // SQLite's implicit rowid, which PostgreSQL keeps as a column where the queries use it.
        if t.name == "rowid" && rowid {
            select.push("rowid".into());
            columns.push(t.clone());
        } else if t.not_null && !t.has_default && !t.identity {
            return Err(CopyError::NoPlace {
                what: format!(
                    "the column {table}.{} on {place} must have a value and the SQLite store has none",
                    t.name
                ),
            });
        }
    }
    let order = if rowid { " ORDER BY rowid" } else { "" };
    let passes = if self_fk.is_empty() {
        vec![format!("WHERE TRUE{order}")]
    } else {
        // Rows whose reference is complete after those without one (one level: an
        // attachment after its document).
        let set: Vec<String> = self_fk
            .iter()
            .map(|c| format!("{} IS NOT NULL", quote(c)))
            .collect();
        let set = set.join(" AND ");
        vec![
            format!("WHERE NOT ({set}){order}"),
            format!("WHERE ({set}){order}"),
        ]
    };
    Ok(TablePlan {
        name: table.to_owned(),
        select,
        columns,
        passes,
        rowid,
    })
}

/// Whether PostgreSQL's column of type `ty` takes `v` as the store binds it
/// ([`super::sql::postgres`]); `Err` says why not.
fn fits(v: &Value, column: &TargetColumn) -> Result<(), String> {
    let ty = column.ty.as_str();
    let text = ty == "text" || ty.starts_with("character");
    let ok = match v {
        Value::Null => {
            return if column.not_null {
                Err("NULL where PostgreSQL requires a value".into())
            } else {
                Ok(())
            };
        }
        Value::Integer(_) => {
            matches!(
                ty,
                "bigint" | "integer" | "smallint" | "boolean" | "double precision"
            ) || text
        }
        Value::Real(_) => matches!(ty, "double precision" | "real"),
        Value::Text(t) => {
            if t.contains('\0') {
                return Err(
                    "text with a NUL character, which PostgreSQL's text cannot hold".into(),
                );
            }
            text
        }
        Value::Blob(_) => ty == "bytea",
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} where PostgreSQL's column is {ty}",
            match v {
                Value::Integer(_) => "an integer",
                Value::Real(_) => "a real number",
                Value::Text(_) => "text",
                Value::Blob(_) => "a blob",
                Value::Null => "NULL",
            }
        ))
    }
}

fn size_of(v: &Value) -> usize {
    match v {
        Value::Null => 0,
        Value::Integer(_) | Value::Real(_) => 8,
        Value::Text(t) => t.len(),
        Value::Blob(b) => b.len(),
    }
}

/// Stream one table from SQLite into PostgreSQL.
fn copy_table(
    src: &rusqlite::Connection,
    from: &Path,
    tx: &sql::Connection,
    p: &TablePlan,
    place: &str,
) -> Result<TableCopy, CopyError> {
    let read = |source| CopyError::Source {
        path: from.to_owned(),
        source,
    };
    let mut out = TableCopy {
        table: p.name.clone(),
        ..TableCopy::default()
    };
    if p.columns.is_empty() {
        return Ok(out);
    }
    let per_batch = BATCH_ROWS.min(MAX_PARAMS / p.columns.len()).max(1);
    let mut batch: Vec<Value> = Vec::new();
    let mut batch_rows = 0usize;
    let mut batch_bytes = 0usize;
    let mut position = 0u64;
    for pass in &p.passes {
        let mut q = src
            .prepare(&format!(
                "SELECT {}{} FROM {} {pass}",
                p.select.join(", "),
                // The rowid last, to name a row in an error.
                if p.rowid { ", rowid" } else { "" },
                quote(&p.name),
            ))
            .map_err(read)?;
        let mut rows = q.query([]).map_err(read)?;
        while let Some(r) = rows.next().map_err(read)? {
            position += 1;
            let row_name = || match p.rowid.then(|| r.get::<_, i64>(p.select.len())) {
                Some(Ok(id)) => format!("rowid {id}"),
                _ => format!("row {position}"),
            };
            for (i, column) in p.columns.iter().enumerate() {
                let bad = |problem: String| CopyError::BadValue {
                    path: from.to_owned(),
                    table: p.name.clone(),
                    row: row_name(),
                    column: column.name.clone(),
                    problem,
                };
                let v = match r.get_ref(i).map_err(read)? {
                    SqliteValue::Null => Value::Null,
                    SqliteValue::Integer(n) => Value::Integer(n),
                    SqliteValue::Real(x) => Value::Real(x),
                    SqliteValue::Text(t) => Value::Text(
                        String::from_utf8(t.to_vec())
                            .map_err(|_| bad("text that is not UTF-8".into()))?,
                    ),
                    SqliteValue::Blob(b) => Value::Blob(b.to_vec()),
                };
                fits(&v, column).map_err(bad)?;
                batch_bytes += size_of(&v);
                batch.push(v);
            }
            batch_rows += 1;
            if batch_rows >= per_batch || batch_bytes >= BATCH_BYTES {
                insert(tx, p, &mut batch, batch_rows, place)?;
                out.rows += batch_rows as u64;
                out.bytes += batch_bytes as u64;
                batch_rows = 0;
                batch_bytes = 0;
            }
        }
    }
    if batch_rows > 0 {
        insert(tx, p, &mut batch, batch_rows, place)?;
        out.rows += batch_rows as u64;
        out.bytes += batch_bytes as u64;
    }
    tracing::info!(table = %p.name, rows = out.rows, bytes = out.bytes, "copied");
    Ok(out)
}

/// One multi-row INSERT of the `rows` rows in `batch`, which it empties.
fn insert(
    tx: &sql::Connection,
    p: &TablePlan,
    batch: &mut Vec<Value>,
    rows: usize,
    place: &str,
) -> Result<(), CopyError> {
    let width = p.columns.len();
    let tuples: Vec<String> = (0..rows)
        .map(|r| {
            let params: Vec<String> = (1..=width).map(|c| format!("?{}", r * width + c)).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    let names: Vec<String> = p.columns.iter().map(|c| quote(&c.name)).collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES {}",
        quote(&p.name),
        names.join(", "),
        tuples.join(", ")
    );
    let values = std::mem::take(batch);
    tx.execute(&sql, params_from_iter(values))
        .map_err(|source| CopyError::Target {
            place: place.to_owned(),
            what: format!("inserting into {}", p.name),
            source,
        })?;
    Ok(())
}

/// Make every counter continue after the copied rows; what each was set to.
fn set_counters(
    tx: &sql::Connection,
    src: &rusqlite::Connection,
    plans: &[TablePlan],
    high_water: &BTreeMap<String, i64>,
    target_tables: &BTreeSet<String>,
) -> sql::Result<Vec<Counter>> {
    let mut out = Vec::new();
    let max = |table: &str, column: &str| -> sql::Result<i64> {
        let copied: i64 = tx.query_row(
            &format!(
                "SELECT COALESCE(MAX({}), 0) FROM {}",
                quote(column),
                quote(table)
            ),
            [],
            |r| r.get(0),
        )?;
        Ok(copied.max(high_water.get(table).copied().unwrap_or(0)))
    };
    for p in plans {
        for c in p.columns.iter().filter(|c| c.identity) {
            let value = max(&p.name, &c.name)?;
            // setval(seq, 1, false): the next is 1, as in a table never written.
            tx.query_row(
                "SELECT setval(pg_get_serial_sequence(?1, ?2), ?3, ?4)",
                params![quote(&p.name), c.name, value.max(1), value > 0],
                |_| Ok(()),
            )?;
            out.push(Counter {
                name: format!("{}.{}", p.name, c.name),
                value,
            });
        }
    }
    if target_tables.contains("dpost_sequences") {
        let names: Vec<String> = tx
            .prepare("SELECT name FROM dpost_sequences ORDER BY name")?
            .query_map([], |r| r.get(0))?
            .collect::<sql::Result<_>>()?;
        for name in names {
            // Each counter hands out `seq` of the table of its name (store/postgres).
            if !plans.iter().any(|p| p.name == name) {
                continue;
            }
            let value = max(&name, "seq")?;
            tx.execute(
                "UPDATE dpost_sequences SET value = ?1 WHERE name = ?2",
                params![value, name],
            )?;
            out.push(Counter {
                name: format!("dpost_sequences.{name}"),
                value,
            });
        }
    }
    if target_tables.contains("ngdp_sequence") {
        // SQLite's own counters first (a number taken by a transaction that then rolled
        // back is not in any row, but was never given out either; the counter is what
        // SQLite would continue from).
        let mut counters: BTreeMap<String, i64> = BTreeMap::new();
        let has: bool = src
            .query_row(
                "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'ngdp_sequence'",
                [],
                |r| r.get(0),
            )
            .map_err(sql::Error::from)?;
        if has {
            let mut q = src
                .prepare("SELECT name, value FROM ngdp_sequence")
                .map_err(sql::Error::from)?;
            let rows = q
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(sql::Error::from)?;
            for row in rows {
                let (name, value) = row.map_err(sql::Error::from)?;
                counters.insert(name, value);
            }
        }
        // `messages` numbers ngdp_messages.seq (store/ngdp.rs).
        if plans.iter().any(|p| p.name == "ngdp_messages") {
            let copied = max("ngdp_messages", "seq")?;
            let v = counters.entry("messages".into()).or_insert(0);
            *v = (*v).max(copied);
        }
        for (name, value) in counters {
            tx.execute(
                "INSERT INTO ngdp_sequence (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![name, value],
            )?;
            out.push(Counter {
                name: format!("ngdp_sequence.{name}"),
                value,
            });
        }
    }
    Ok(out)
}

/// Hash every Digipost document's content on PostgreSQL and compare it with the SHA-256
/// recorded beside it: (documents checked, those that differ).
fn check_documents(tx: &sql::Connection) -> sql::Result<(u64, Vec<Mismatch>)> {
    let checked: i64 = tx.query_row("SELECT COUNT(*) FROM digipost_documents", [], |r| r.get(0))?;
    let mut q = tx.prepare(
        "SELECT sender_id, id, content_sha256, encode(sha256(content), 'hex'), length(content)
         FROM digipost_documents
         WHERE encode(sha256(content), 'hex') <> lower(content_sha256)
         ORDER BY sender_id, id",
    )?;
    let bad = q
        .query_map([], |r| {
            let (sender, id): (i64, i64) = (r.get(0)?, r.get(1)?);
            let recorded: String = r.get(2)?;
            let found: String = r.get(3)?;
            let size: i64 = r.get(4)?;
            Ok(Mismatch {
                table: "digipost_documents".into(),
                key: format!("document {sender}/{id}"),
                path: None,
                kind: "sha256".into(),
                detail: format!(
                    "{size} bytes with SHA-256 {found} on PostgreSQL; the store records {recorded}"
                ),
            })
        })?
        .collect::<sql::Result<Vec<_>>>()?;
    Ok((u64::try_from(checked).unwrap_or(0), bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fk(child: &str, parent: &str, columns: &[&str]) -> ForeignKey {
        ForeignKey {
            child: child.into(),
            parent: parent.into(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    fn column(name: &str, ty: &str, not_null: bool) -> TargetColumn {
        TargetColumn {
            name: name.into(),
            ty: ty.into(),
            not_null,
            identity: false,
            has_default: false,
        }
    }

    #[test]
    fn tables_come_after_those_they_refer_to_and_a_cycle_is_named() {
        let tables: BTreeSet<String> = ["webhook_deliveries", "events", "a", "docs"]
            .iter()
            .map(|t| (*t).to_owned())
            .collect();
        let edges = [
            fk("webhook_deliveries", "events", &["event_seq"]),
            // A table referring to itself is no reason to wait.
            fk("docs", "docs", &["sender_id", "parent_id"]),
        ];
        assert_eq!(
            copy_order(tables, &edges).unwrap(),
            ["a", "docs", "events", "webhook_deliveries"]
        );
        let cycle: BTreeSet<String> = ["x", "y", "z"].iter().map(|t| (*t).to_owned()).collect();
        let edges = [fk("x", "y", &["y"]), fk("y", "x", &["x"])];
        assert_eq!(copy_order(cycle, &edges).unwrap_err(), ["x", "y"]);
    }

    #[test]
    fn columns_match_by_name_with_sqlite_s_rowid_and_nothing_is_left_behind() {
        let mut id = column("rowid", "bigint", true);
        id.identity = true;
        let target = vec![
            id,
            column("message_uuid", "text", true),
            column("claimed_until", "bigint", false),
        ];
        let p = plan(
            "ngdp_outbox",
            &["message_uuid".to_owned()],
            true,
            target.clone(),
            &[],
            "pg",
        )
        .unwrap();
        assert_eq!(p.select, ["\"message_uuid\"", "rowid"]);
        assert_eq!(p.passes, ["WHERE TRUE ORDER BY rowid"]);
        // A SQLite column PostgreSQL has no place for stops the copy.
        let e = plan(
            "ngdp_outbox",
            &["message_uuid".to_owned(), "extra".to_owned()],
            true,
            target,
            &[],
            "pg",
        )
        .unwrap_err();
        assert!(e.to_string().contains("ngdp_outbox.extra"), "{e}");
        // So does a required PostgreSQL column SQLite cannot fill.
        let e = plan(
            "t",
            &[],
            false,
            vec![column("needed", "text", true)],
            &[],
            "pg",
        )
        .unwrap_err();
        assert!(e.to_string().contains("t.needed"), "{e}");
        // Rows referring to rows of their own table come after those without a reference.
        let p = plan(
            "docs",
            &["sender_id".into(), "parent_id".into()],
            true,
            vec![
                column("sender_id", "bigint", true),
                column("parent_id", "bigint", false),
            ],
            &["sender_id".into(), "parent_id".into()],
            "pg",
        )
        .unwrap();
        assert_eq!(
            p.passes,
            [
                "WHERE NOT (\"sender_id\" IS NOT NULL AND \"parent_id\" IS NOT NULL) ORDER BY rowid",
                "WHERE (\"sender_id\" IS NOT NULL AND \"parent_id\" IS NOT NULL) ORDER BY rowid"
            ]
        );
    }

    #[test]
    fn values_are_checked_against_the_column_before_they_are_sent() {
        let big = column("n", "bigint", true);
        let text = column("t", "text", false);
        let bytes = column("b", "bytea", true);
        assert!(fits(&Value::Integer(1), &big).is_ok());
        assert!(
            fits(&Value::Integer(1), &text).is_ok(),
            "bound as its digits"
        );
        assert!(fits(&Value::Null, &text).is_ok());
        assert!(fits(&Value::Blob(vec![1]), &bytes).is_ok());
        let e = fits(&Value::Null, &big).unwrap_err();
        assert!(e.contains("NULL"), "{e}");
        let e = fits(&Value::Real(1.5), &big).unwrap_err();
        assert_eq!(e, "a real number where PostgreSQL's column is bigint");
        let e = fits(&Value::Text("a\0b".into()), &text).unwrap_err();
        assert!(e.contains("NUL"), "{e}");
        assert!(fits(&Value::Blob(vec![1]), &text).is_err());
    }

    /// A SQLite store for a test, filled by `sql` with foreign keys off (rows in an order
    /// the receive path would not write them in).
    fn sqlite_store(name: &str, sql: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dpost-copy-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("dpost.db");
        let mut store = Store::open(&path).unwrap();
        super::super::without_foreign_keys(&mut store, sql);
        path
    }

    fn target(name: &str) -> Option<String> {
        let url = std::env::var("DPOST_TEST_POSTGRES").ok()?;
        Some(super::super::postgres::testing::scratch_schema(&url, name))
    }

    fn sha(bytes: &[u8]) -> String {
        use sha2::Digest as _;
        crate::ngdp::receive::hex(&sha2::Sha256::digest(bytes))
    }

    #[test]
    fn pruned_event_numbers_are_not_given_out_again_and_attachments_follow_documents() {
        let Some(to) = target("copy_counters") else {
            eprintln!("DPOST_TEST_POSTGRES is not set: skipping");
            return;
        };
        // The attachment is written before its document (rowid order), and the newest
        // events were pruned: SQLite's AUTOINCREMENT mark stays at 5.
        let from = sqlite_store(
            "counters",
            &format!(
                "INSERT INTO digipost_documents (sender_id, id, parent_id, position, metadata,
                    content_type, content, content_sha256, archived_at, seq)
                 VALUES (1, 11, 10, 1, '{{}}', 'text/plain', X'6869', '{}', 0, 2),
                        (1, 10, NULL, 0, '{{}}', 'application/pdf', X'', '{}', 0, 1);
                 INSERT INTO events (type, at, subject, payload) VALUES
                    ('e', 0, 's', '{{}}'), ('e', 0, 's', '{{}}'), ('e', 0, 's', '{{}}'),
                    ('e', 0, 's', '{{}}'), ('e', 0, 's', '{{}}');
                 DELETE FROM events WHERE seq > 3",
                sha(b"hi"),
                sha(b"")
            ),
        );
        let report = copy(&from, &to).unwrap();
        assert!(report.committed, "{:?}", report.mismatches);
        assert_eq!(report.documents_checked, 2);
        let counter = |name: &str| {
            report
                .counters
                .iter()
                .find(|c| c.name == name)
                .map(|c| c.value)
        };
        assert_eq!(counter("dpost_sequences.events"), Some(5));
        assert_eq!(counter("dpost_sequences.digipost_documents"), Some(2));
        let mut pg = Store::open_postgres(&to).unwrap();
        let next: i64 = pg
            .conn()
            .query_row(
                "INSERT INTO events (type, at, subject, payload) VALUES ('e', 0, 's', '{}') RETURNING seq",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(next, 6);
    }

    #[test]
    fn a_document_whose_bytes_do_not_match_its_hash_rolls_everything_back() {
        let Some(to) = target("copy_mismatch") else {
            eprintln!("DPOST_TEST_POSTGRES is not set: skipping");
            return;
        };
        let from = sqlite_store(
            "mismatch",
            &format!(
                "INSERT INTO digipost_documents (sender_id, id, parent_id, position, metadata,
                    content_type, content, content_sha256, archived_at, seq)
                 VALUES (1, 10, NULL, 0, '{{}}', NULL, X'6869', '{}', 0, 1);
                 INSERT INTO events (type, at, subject, payload) VALUES ('e', 0, 's', '{{}}')",
                sha(b"ho")
            ),
        );
        let report = copy(&from, &to).unwrap();
        assert!(!report.committed);
        assert_eq!(report.mismatches.len(), 1, "{:?}", report.mismatches);
        let m = &report.mismatches[0];
        assert_eq!(
            (m.table.as_str(), m.key.as_str(), m.kind.as_str()),
            ("digipost_documents", "document 1/10", "sha256")
        );
        assert!(m.detail.contains(&sha(b"hi")), "{m}");
        let mut pg = Store::open_postgres(&to).unwrap();
        for t in ["digipost_documents", "events"] {
            let n: i64 = pg
                .conn()
                .query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get(0))
                .unwrap();
            assert_eq!(n, 0, "{t} rolled back");
        }
        // And the rolled-back target takes a copy of a store that checks out.
        let good = sqlite_store(
            "mismatch-fixed",
            &format!(
                "INSERT INTO digipost_documents (sender_id, id, parent_id, position, metadata,
                    content_type, content, content_sha256, archived_at, seq)
                 VALUES (1, 10, NULL, 0, '{{}}', NULL, X'6869', '{}', 0, 1)",
                sha(b"hi")
            ),
        );
        assert!(copy(&good, &to).unwrap().committed);
    }
}
