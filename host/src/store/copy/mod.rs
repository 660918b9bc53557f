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
//! committed state, as `store backup` takes it; what is written after it would not be
//! copied, so the command refuses to run beside `serve`), and everything is written to
//! PostgreSQL in one transaction that is committed only when the checks pass. Any failure,
//! or any check that does not pass, rolls it all back: the target's tables (created by its
//! migrations, committed on their own) are either empty or a complete copy.
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
//! copied into the target's pieces ([`super::files`]) under the path its row names it by,
//! then read back, each with its recorded size and SHA-256 ([`files`]). After the copy the
//! PostgreSQL store holds everything; the SQLite data folder is no longer read.

mod checks;
mod counters;
mod files;
mod plan;

use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef as SqliteValue;

use super::sql::{self, Value, params_from_iter};
use super::{Store, StoreError};
use plan::{TablePlan, quote};

/// Rows in one INSERT at most.
pub const BATCH_ROWS: usize = 500;
/// Bytes of values in one INSERT at most (a larger row goes alone).
pub const BATCH_BYTES: usize = 4 << 20;
/// PostgreSQL's limit on the parameters of one statement (a 16-bit count in the protocol).
const MAX_PARAMS: usize = 65_535;

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
    let sqlite_tables = plan::sqlite_tables(src).map_err(read)?;
    let high_water = counters::sqlite_high_water(src, &sqlite_tables).map_err(read)?;

    let tx = target.conn().transaction().map_err(write("BEGIN".into()))?;
    // The target's tables are new and have no statistics, and what this transaction writes
    // is not analysed before it commits: the planner takes them for a few pages and reads
    // back a file's pieces by scanning the whole table, once per file, which made a copy of
    // 100,000 messages run for hours. The copy's lookups are all by key.
    tx.execute_batch("SET LOCAL enable_seqscan = off")
        .map_err(write("setting up the transaction".into()))?;
    let target_tables = plan::target_tables(&tx).map_err(write("reading its tables".into()))?;
    let edges = plan::foreign_keys(&tx).map_err(write("reading its foreign keys".into()))?;
    for t in sqlite_tables.keys() {
        if !target_tables.contains(t) {
            return Err(CopyError::NoPlace {
                what: format!("the SQLite table {t} has no table on {place}"),
            });
        }
    }
    let order =
        plan::copy_order(sqlite_tables.keys().cloned().collect(), &edges).map_err(|left| {
            CopyError::Cycle {
                place: place.to_owned(),
                tables: left.join(", "),
            }
        })?;
    let mut plans = Vec::with_capacity(order.len());
    for t in &order {
        let columns =
            plan::target_columns(&tx, t).map_err(write(format!("reading the columns of {t}")))?;
        let sqlite_columns = plan::sqlite_columns(src, t).map_err(read)?;
        let self_fk: Vec<String> = edges
            .iter()
            .filter(|e| &e.child == t && &e.parent == t)
            .flat_map(|e| e.columns.iter().cloned())
            .collect();
        plans.push(plan::table(
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
    let guarded: Vec<&String> = target_tables.iter().filter(|t| !plan::skipped(t)).collect();
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
    report.counters = counters::set(&tx, src, &plans, &high_water, &target_tables)
        .map_err(write("setting the counters".into()))?;

    // Checks, inside the transaction: what fails leaves the target's tables empty.
    checks::run(src, from, &tx, place, &plans, &mut report)?;

    if report.mismatches.is_empty() {
        tx.commit().map_err(write("COMMIT".into()))?;
        report.committed = true;
    }
    // Otherwise the transaction rolls back as it is dropped.
    Ok(report)
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
                plan::fits(&v, column).map_err(bad)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A SQLite store for a test, filled by `sql` with foreign keys off (rows in an order
    /// the receive path would not write them in).
    fn sqlite_store(name: &str, sql: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dpost-copy-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("dpost.db");
        let mut store = Store::open(&path).unwrap();
        crate::store::without_foreign_keys(&mut store, sql);
        path
    }

    fn target(name: &str) -> Option<String> {
        let url = std::env::var("DPOST_TEST_POSTGRES").ok()?;
        Some(crate::store::postgres::testing::scratch_schema(&url, name))
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
