//! The checks made before the copy is committed: each table's rows on both sides, every
//! Digipost document hashed by PostgreSQL, every stored file copied into the target and
//! hashed against its record ([`super::files`]).

use crate::store::backup::{self, FileRef};
use std::path::Path;

use crate::store::sql;

use super::plan::{TablePlan, quote};
use super::{CopyError, CopyReport, Mismatch};

pub(super) fn file_mismatch(f: &FileRef, p: backup::Problem) -> Mismatch {
    Mismatch {
        table: f.table.to_owned(),
        key: f.owner.clone(),
        path: Some(p.path),
        kind: p.kind.to_owned(),
        detail: p.detail,
    }
}

/// Hash every Digipost document's content on PostgreSQL and compare it with the SHA-256
/// recorded beside it: (documents checked, those that differ).
pub(super) fn check_documents(tx: &sql::Connection) -> sql::Result<(u64, Vec<Mismatch>)> {
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

/// Compare the copy with its source and add what differs to `report.mismatches`; `Err` when
/// a check could not be made.
pub(super) fn run(
    src: &rusqlite::Connection,
    from: &Path,
    tx: &sql::Connection,
    place: &str,
    plans: &[TablePlan],
    report: &mut CopyReport,
) -> Result<(), CopyError> {
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
    for p in plans {
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
    if plans.iter().any(|p| p.name == "digipost_documents") {
        let (checked, bad) =
            check_documents(tx).map_err(write("hashing digipost_documents".into()))?;
        report.documents_checked = checked;
        report.mismatches.extend(bad);
    }
    super::files::copy(src, tx, read, |what, e| write(what)(e), report)
}
