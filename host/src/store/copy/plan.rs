//! What `dpost store copy` copies and in which order, read from the two databases' own
//! catalogs: SQLite's tables and columns, PostgreSQL's tables, columns, types and foreign
//! keys; and whether a value fits the column it goes to.

use std::collections::{BTreeMap, BTreeSet};

use crate::store::sql::{self, Value};

use super::CopyError;

/// Tables that are not copied row by row (see the module's notes).
pub(super) fn skipped(table: &str) -> bool {
    table.starts_with("sqlite_")
        || table == "console_search"
        || table.starts_with("console_search_")
        || table == "schema_version"
        || COUNTERS.contains(&table)
}

/// The counter tables, set from the copied rows instead of copied.
const COUNTERS: &[&str] = &["ngdp_sequence", "dpost_sequences"];

/// A column of a PostgreSQL table.
#[derive(Debug, Clone)]
pub(super) struct TargetColumn {
    pub(super) name: String,
    /// `format_type()`: bigint, text, bytea, ...
    pub(super) ty: String,
    pub(super) not_null: bool,
    pub(super) identity: bool,
    pub(super) has_default: bool,
}

/// How one table is copied: the SQLite expressions read, the PostgreSQL columns written.
#[derive(Debug, Clone)]
pub(super) struct TablePlan {
    pub(super) name: String,
    /// Read from SQLite, in order (`rowid` for PostgreSQL's column of that name).
    pub(super) select: Vec<String>,
    /// Written on PostgreSQL, in the same order.
    pub(super) columns: Vec<TargetColumn>,
    /// The SQLite queries' `WHERE … ORDER BY …`, one pass each, in order: rows a row refers
    /// to in the same table come first. Each pass reads in rowid order, which SQLite walks
    /// without sorting; an ORDER BY on an expression would sort whole rows, blobs and all,
    /// in memory.
    pub(super) passes: Vec<String>,
    /// Whether SQLite has a rowid for it (read after `select`, to name a row in an error).
    pub(super) rowid: bool,
}

/// `"name"`: a table or column name as an SQL identifier (both databases quote alike).
pub(super) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The SQLite tables to copy, each with whether it has a rowid.
pub(super) fn sqlite_tables(
    src: &rusqlite::Connection,
) -> rusqlite::Result<BTreeMap<String, bool>> {
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

/// A SQLite table's columns, in order.
pub(super) fn sqlite_columns(
    src: &rusqlite::Connection,
    table: &str,
) -> rusqlite::Result<Vec<String>> {
    let mut q = src.prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")?;
    let rows = q.query_map([table], |r| r.get::<_, String>(0))?;
    rows.collect()
}

/// The PostgreSQL store's tables (in the schema it writes to).
pub(super) fn target_tables(tx: &sql::Connection) -> sql::Result<BTreeSet<String>> {
    let mut q = tx.prepare(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')",
    )?;
    q.query_map([], |r| r.get::<_, String>(0))?.collect()
}

/// A PostgreSQL table's columns, in order.
pub(super) fn target_columns(tx: &sql::Connection, table: &str) -> sql::Result<Vec<TargetColumn>> {
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
pub(super) struct ForeignKey {
    pub(super) child: String,
    pub(super) parent: String,
    pub(super) columns: Vec<String>,
}

pub(super) fn foreign_keys(tx: &sql::Connection) -> sql::Result<Vec<ForeignKey>> {
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
pub(super) fn copy_order(
    tables: BTreeSet<String>,
    edges: &[ForeignKey],
) -> Result<Vec<String>, Vec<String>> {
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
pub(super) fn table(
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
/// ([`crate::store::sql::postgres`]); `Err` says why not.
pub(super) fn fits(v: &Value, column: &TargetColumn) -> Result<(), String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sql::Value;

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
        let p = table(
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
        let e = table(
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
        let e = table(
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
        let p = table(
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
}
