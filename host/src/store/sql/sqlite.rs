//! The SQLite side of [`super::Connection`]: binding [`ValueRef`]s and reading rows through
//! rusqlite.

use rusqlite::types::{ToSqlOutput, ValueRef as SqliteValue};

use super::value::{FromSqlValue, ValueRef};
use super::{Error, Result, RowIndex};

/// SQLite has no boolean: a flag is stored as 0 or 1, as rusqlite stores a `bool`.
struct Bind<'a>(ValueRef<'a>);

impl rusqlite::ToSql for Bind<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0 {
            ValueRef::Null => SqliteValue::Null,
            ValueRef::Integer(i) => SqliteValue::Integer(i),
            ValueRef::Real(r) => SqliteValue::Real(r),
            ValueRef::Text(t) => SqliteValue::Text(t.as_bytes()),
            ValueRef::Blob(b) => SqliteValue::Blob(b),
            ValueRef::Bool(b) => SqliteValue::Integer(i64::from(b)),
        }))
    }
}

fn bind<'a>(values: &[ValueRef<'a>]) -> Vec<Bind<'a>> {
    values.iter().map(|v| Bind(*v)).collect()
}

pub(super) fn execute(
    s: &mut rusqlite::CachedStatement<'_>,
    values: &[ValueRef<'_>],
) -> Result<usize> {
    Ok(s.execute(rusqlite::params_from_iter(bind(values)))?)
}

/// Call `f` on each row until it returns false.
pub(super) fn each_row(
    s: &mut rusqlite::CachedStatement<'_>,
    values: &[ValueRef<'_>],
    mut f: impl FnMut(&rusqlite::Row<'_>) -> bool,
) -> Result<()> {
    let mut rows = s.query(rusqlite::params_from_iter(bind(values)))?;
    while let Some(r) = rows.next()? {
        if !f(r) {
            break;
        }
    }
    Ok(())
}

pub(super) fn get<I: RowIndex, T: FromSqlValue>(r: &rusqlite::Row<'_>, idx: I) -> Result<T> {
    let stmt = r.as_ref();
    let i = match idx.position() {
        Some(i) => i,
        None => idx
            .index(&stmt.column_names())
            .ok_or_else(|| super::no_such_column(idx))?,
    };
    let name = || stmt.column_name(i).unwrap_or("?").to_owned();
    let v = match r.get_ref(i)? {
        SqliteValue::Null => ValueRef::Null,
        SqliteValue::Integer(i) => ValueRef::Integer(i),
        SqliteValue::Real(f) => ValueRef::Real(f),
        SqliteValue::Text(t) => {
            ValueRef::Text(std::str::from_utf8(t).map_err(|_| Error::Value {
                column: name(),
                problem: "text that is not UTF-8".to_owned(),
            })?)
        }
        SqliteValue::Blob(b) => ValueRef::Blob(b),
    };
    T::from_sql_value(v, "").map_err(|e| super::naming(e, name))
}
