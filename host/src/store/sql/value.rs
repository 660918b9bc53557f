//! The values that pass between the store's code and either database: what a parameter is
//! bound as and what a column is read into. The store writes one query for both backends, so
//! its types are the few both share (SQLite's storage classes): an integer, a real, text, a
//! blob, or NULL. PostgreSQL's stricter types (BOOLEAN, INT4, NUMERIC from `SUM`) are
//! converted at the edge, in [`super::postgres`], so the store never names them.

use super::Error;

/// A value borrowed from a parameter or a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    /// SQL NULL.
    Null,
    /// A 64-bit integer (SQLite's INTEGER; PostgreSQL's INT2/4/8, and NUMERIC without a
    /// fraction).
    Integer(i64),
    /// A double.
    Real(f64),
    /// UTF-8 text.
    Text(&'a str),
    /// Bytes.
    Blob(&'a [u8]),
    /// PostgreSQL's BOOLEAN (a comparison's result); SQLite has none and answers 0 or 1.
    Bool(bool),
}

impl ValueRef<'_> {
    fn kind(&self) -> &'static str {
        match self {
            ValueRef::Null => "NULL",
            ValueRef::Integer(_) => "an integer",
            ValueRef::Real(_) => "a real",
            ValueRef::Text(_) => "text",
            ValueRef::Blob(_) => "a blob",
            ValueRef::Bool(_) => "a boolean",
        }
    }
}

/// An owned value: a parameter built at run time (a search's filters).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A 64-bit integer.
    Integer(i64),
    /// A double.
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

/// What can be bound as a parameter.
pub trait ToSqlValue {
    /// The value to bind.
    fn to_sql_value(&self) -> ValueRef<'_>;
}

/// What a column can be read into. `column` names the column for the error.
pub trait FromSqlValue: Sized {
    /// Convert a column's value.
    fn from_sql_value(v: ValueRef<'_>, column: &str) -> Result<Self, Error>;
}

fn mismatch<T>(v: ValueRef<'_>, column: &str, wanted: &str) -> Result<T, Error> {
    Err(Error::Value {
        column: column.to_owned(),
        problem: format!("{} where {wanted} was expected", v.kind()),
    })
}

impl ToSqlValue for Value {
    fn to_sql_value(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(r) => ValueRef::Real(*r),
            Value::Text(t) => ValueRef::Text(t),
            Value::Blob(b) => ValueRef::Blob(b),
        }
    }
}

impl<T: ToSqlValue + ?Sized> ToSqlValue for &T {
    fn to_sql_value(&self) -> ValueRef<'_> {
        (**self).to_sql_value()
    }
}

impl<T: ToSqlValue> ToSqlValue for Option<T> {
    fn to_sql_value(&self) -> ValueRef<'_> {
        match self {
            Some(v) => v.to_sql_value(),
            None => ValueRef::Null,
        }
    }
}

impl ToSqlValue for str {
    fn to_sql_value(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}

impl ToSqlValue for String {
    fn to_sql_value(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}

impl ToSqlValue for [u8] {
    fn to_sql_value(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl ToSqlValue for Vec<u8> {
    fn to_sql_value(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl ToSqlValue for bool {
    fn to_sql_value(&self) -> ValueRef<'_> {
        ValueRef::Bool(*self)
    }
}

impl ToSqlValue for f64 {
    fn to_sql_value(&self) -> ValueRef<'_> {
        ValueRef::Real(*self)
    }
}

macro_rules! integer {
    ($($t:ty),*) => {$(
        impl ToSqlValue for $t {
            fn to_sql_value(&self) -> ValueRef<'_> {
                ValueRef::Integer(i64::from(*self))
            }
        }
        impl FromSqlValue for $t {
            fn from_sql_value(v: ValueRef<'_>, column: &str) -> Result<Self, Error> {
                match v {
                    ValueRef::Integer(i) => <$t>::try_from(i).map_err(|_| Error::Value {
                        column: column.to_owned(),
                        problem: format!("{i} is out of range for {}", stringify!($t)),
                    }),
                    ValueRef::Bool(b) => Ok(<$t>::from(b)),
                    other => mismatch(other, column, "an integer"),
                }
            }
        }
    )*};
}
integer!(i64, i32, u32, u16, u8);

impl ToSqlValue for u64 {
    /// Sizes and counts: SQLite stores integers signed, and no size reaches 2^63; one that
    /// did would be stored as the largest integer rather than wrap negative.
    fn to_sql_value(&self) -> ValueRef<'_> {
        ValueRef::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl FromSqlValue for u64 {
    fn from_sql_value(v: ValueRef<'_>, column: &str) -> Result<Self, Error> {
        let i = i64::from_sql_value(v, column)?;
        u64::try_from(i).map_err(|_| Error::Value {
            column: column.to_owned(),
            problem: format!("{i} is negative where a size or count was expected"),
        })
    }
}

impl FromSqlValue for bool {
    fn from_sql_value(v: ValueRef<'_>, column: &str) -> Result<Self, Error> {
        match v {
            ValueRef::Bool(b) => Ok(b),
            ValueRef::Integer(i) => Ok(i != 0),
            other => mismatch(other, column, "a boolean"),
        }
    }
}

impl FromSqlValue for f64 {
    fn from_sql_value(v: ValueRef<'_>, column: &str) -> Result<Self, Error> {
        match v {
            ValueRef::Real(r) => Ok(r),
            #[allow(clippy::cast_precision_loss)]
            ValueRef::Integer(i) => Ok(i as f64),
            other => mismatch(other, column, "a number"),
        }
    }
}

impl FromSqlValue for String {
    fn from_sql_value(v: ValueRef<'_>, column: &str) -> Result<Self, Error> {
        match v {
            ValueRef::Text(t) => Ok(t.to_owned()),
            other => mismatch(other, column, "text"),
        }
    }
}

impl FromSqlValue for Vec<u8> {
    fn from_sql_value(v: ValueRef<'_>, column: &str) -> Result<Self, Error> {
        match v {
            ValueRef::Blob(b) => Ok(b.to_vec()),
            // SQLite keeps whatever was bound; text read as bytes is what it holds.
            ValueRef::Text(t) => Ok(t.as_bytes().to_vec()),
            other => mismatch(other, column, "a blob"),
        }
    }
}

impl<T: FromSqlValue> FromSqlValue for Option<T> {
    fn from_sql_value(v: ValueRef<'_>, column: &str) -> Result<Self, Error> {
        match v {
            ValueRef::Null => Ok(None),
            other => T::from_sql_value(other, column).map(Some),
        }
    }
}

impl FromSqlValue for Value {
    fn from_sql_value(v: ValueRef<'_>, _column: &str) -> Result<Self, Error> {
        Ok(match v {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(r) => Value::Real(r),
            ValueRef::Text(t) => Value::Text(t.to_owned()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
            ValueRef::Bool(b) => Value::Integer(i64::from(b)),
        })
    }
}

/// The parameters of one statement.
pub trait Params {
    /// Each parameter's value, in order.
    fn values(&self) -> Vec<ValueRef<'_>>;
}

impl Params for &[&dyn ToSqlValue] {
    fn values(&self) -> Vec<ValueRef<'_>> {
        self.iter().map(|p| p.to_sql_value()).collect()
    }
}

/// `[]`: a statement without parameters.
impl Params for [&dyn ToSqlValue; 0] {
    fn values(&self) -> Vec<ValueRef<'_>> {
        Vec::new()
    }
}

macro_rules! array_params {
    ($($n:literal),*) => {$(
        impl<T: ToSqlValue> Params for [T; $n] {
            fn values(&self) -> Vec<ValueRef<'_>> {
                self.iter().map(|p| p.to_sql_value()).collect()
            }
        }
    )*};
}
array_params!(1, 2, 3, 4, 5, 6, 7, 8);

/// Parameters collected at run time.
pub struct ParamsFromIter(Vec<Value>);

impl Params for ParamsFromIter {
    fn values(&self) -> Vec<ValueRef<'_>> {
        self.0.iter().map(ToSqlValue::to_sql_value).collect()
    }
}

/// Bind `values` in order.
pub fn params_from_iter(values: impl IntoIterator<Item = Value>) -> ParamsFromIter {
    ParamsFromIter(values.into_iter().collect())
}

/// A parameter list: `params![a, b, c]`.
#[macro_export]
macro_rules! sql_params {
    () => {
        &[] as &[&dyn $crate::store::sql::ToSqlValue]
    };
    ($($param:expr),+ $(,)?) => {
        &[$(&$param as &dyn $crate::store::sql::ToSqlValue),+] as &[&dyn $crate::store::sql::ToSqlValue]
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_convert_within_range_and_name_the_column_outside_it() {
        assert_eq!(u32::from_sql_value(ValueRef::Integer(7), "n").unwrap(), 7);
        let e = u32::from_sql_value(ValueRef::Integer(-1), "attempts").unwrap_err();
        assert!(e.to_string().contains("attempts"), "{e}");
        assert!(bool::from_sql_value(ValueRef::Integer(1), "b").unwrap());
        assert_eq!(
            i64::from_sql_value(ValueRef::Bool(true), "b").unwrap(),
            1,
            "a PostgreSQL comparison read as SQLite's 0/1"
        );
        let e = String::from_sql_value(ValueRef::Integer(3), "label").unwrap_err();
        assert!(e.to_string().contains("label"), "{e}");
        assert_eq!(
            Option::<String>::from_sql_value(ValueRef::Null, "x").unwrap(),
            None
        );
    }
}
