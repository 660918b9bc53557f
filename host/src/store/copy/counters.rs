//! Where the copied store's counters continue: identity columns, `dpost_sequences` and
//! `ngdp_sequence` after the highest number the SQLite store gave out, copied or pruned
//! since (SQLite's AUTOINCREMENT mark, <https://sqlite.org/autoinc.html>).

use std::collections::{BTreeMap, BTreeSet};

use crate::store::sql::{self, params};

use super::Counter;
use super::plan::{TablePlan, quote};

/// SQLite's AUTOINCREMENT high-water marks (`sqlite_sequence`), by table.
pub(super) fn sqlite_high_water(
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

/// Make every counter continue after the copied rows; what each was set to.
pub(super) fn set(
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
