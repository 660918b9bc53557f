//! The PostgreSQL side of [`super::Connection`].
//!
//! Why tokio-postgres (with tokio-postgres-rustls for TLS): it is the asynchronous driver
//! the Rust PostgreSQL crates build on (sqlx aside), kept by the author of the `postgres`
//! family since 2013, speaks the binary protocol with prepared statements, and takes any
//! TLS connector, so the database connection uses the same rustls (ring provider, Mozilla's
//! roots from webpki-roots) as everything else in dpost. The store's interface is
//! synchronous (it is called on blocking threads, behind one lock per connection), so each
//! connection's protocol task runs on a small thread of its own and a call waits for its
//! answer with `futures_executor::block_on`, which, unlike a tokio runtime's `block_on`,
//! is safe from any thread.
//!
//! Types: the store binds and reads SQLite's storage classes ([`ValueRef`]); here each is
//! encoded as the type PostgreSQL inferred for the parameter, and each column is decoded
//! from the type it has, so the same query runs on both databases.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::error::Error as StdError;

use bytes::BytesMut;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, Config, NoTls, Statement};

use super::value::{FromSqlValue, ValueRef};
use super::{Error, Result, RowIndex, placeholders};

/// One connection to a PostgreSQL server.
pub struct Connection {
    config: Config,
    client: RefCell<Client>,
    statements: RefCell<HashMap<String, Statement>>,
    /// A statement failed in a way that ends the session (see [`ends_session`]): open a new
    /// one at the next use, even before the client has noticed the socket closed.
    broken: Cell<bool>,
}

/// A failure to reach the server, with where it was.
#[derive(Debug, thiserror::Error)]
#[error("the PostgreSQL store {place}: {reason}")]
pub struct ConnectError {
    /// The address, without its password.
    pub place: String,
    /// Why.
    pub reason: String,
}

/// The address of `config` as a person reads it, never with its password.
pub fn place(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{}:{port}/{}",
        config.get_user().unwrap_or(""),
        hosts.join(","),
        config.get_dbname().unwrap_or("")
    )
}

impl Connection {
    /// Connect to `url` (`postgres://user:password@host:port/db?sslmode=require`, or the
    /// `key=value` form libpq takes).
    pub fn connect(url: &str) -> std::result::Result<Self, ConnectError> {
        let config: Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| ConnectError {
                place: "URL".to_owned(),
                reason: format!("not a PostgreSQL connection string: {}", describe(&e)),
            })?;
        let client = open(&config).map_err(|e| ConnectError {
            place: place(&config),
            reason: e.to_string(),
        })?;
        Ok(Connection {
            config,
            client: RefCell::new(client),
            statements: RefCell::new(HashMap::new()),
            broken: Cell::new(false),
        })
    }

    /// Where this connection is, for messages.
    pub fn place(&self) -> String {
        place(&self.config)
    }

    /// Open a new connection when the old one was closed (the server restarted, a failover),
    /// outside a transaction only: reconnecting inside one would run its remaining
    /// statements outside it.
    pub(super) fn reconnect_if_closed(&self) -> Result<()> {
        if !self.broken.get() && !self.client.borrow().is_closed() {
            return Ok(());
        }
        tracing::warn!(store = %self.place(), "the connection to PostgreSQL was closed; reconnecting");
        let client = open(&self.config)?;
        *self.client.borrow_mut() = client;
        self.statements.borrow_mut().clear();
        self.broken.set(false);
        Ok(())
    }

    /// `r`, noting first whether its error ended the session.
    fn noting<T>(&self, r: std::result::Result<T, tokio_postgres::Error>) -> Result<T> {
        r.map_err(|e| {
            if ends_session(&e) {
                self.broken.set(true);
            }
            e.into()
        })
    }

    pub(super) fn execute_batch(&self, sql: &str) -> Result<()> {
        let client = self.client.borrow();
        self.noting(futures_executor::block_on(client.batch_execute(sql)))
    }

    pub(super) fn prepare(&self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let client = self.client.borrow();
        let s = self.noting(futures_executor::block_on(
            client.prepare(&placeholders::to_postgres(sql)),
        ))?;
        self.statements
            .borrow_mut()
            .insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    pub(super) fn execute(&self, s: &Statement, values: &[ValueRef<'_>]) -> Result<usize> {
        let binds: Vec<Bind<'_>> = values.iter().map(|v| Bind(*v)).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = binds.iter().map(|b| b as _).collect();
        let client = self.client.borrow();
        let n = self.noting(futures_executor::block_on(client.execute(s, &refs)))?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub(super) fn query(
        &self,
        s: &Statement,
        values: &[ValueRef<'_>],
    ) -> Result<Vec<tokio_postgres::Row>> {
        let binds: Vec<Bind<'_>> = values.iter().map(|v| Bind(*v)).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = binds.iter().map(|b| b as _).collect();
        let client = self.client.borrow();
        self.noting(futures_executor::block_on(client.query(s, &refs)))
    }
}

/// Whether `e` ends the session: the client saw the connection close, the socket failed, or
/// the server said so with severity FATAL or PANIC (an administrator's
/// `pg_terminate_backend`, a shutdown: SQLSTATE class 57P,
/// <https://www.postgresql.org/docs/15/errcodes-appendix.html>). The client learns that
/// the socket closed a moment after the error reaches its caller, so a use in between would
/// fail once more without this.
fn ends_session(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() || e.source().is_some_and(|s| s.is::<std::io::Error>()) {
        return true;
    }
    e.as_db_error().is_some_and(|db| {
        matches!(
            db.parsed_severity(),
            Some(tokio_postgres::error::Severity::Fatal | tokio_postgres::error::Severity::Panic)
        )
    })
}

/// Connect, and drive the connection's protocol on a thread of its own until the client is
/// dropped or the server goes away.
fn open(config: &Config) -> Result<Client> {
    let config = config.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("dpost-postgres".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "no runtime for the PostgreSQL connection");
                    return;
                }
            };
            rt.block_on(async move {
                let tls = {
                    let mut roots = rustls::RootCertStore::empty();
                    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
                    rustls::ClientConfig::builder_with_provider(provider)
                        .with_safe_default_protocol_versions()
                        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
                };
                match (config.get_ssl_mode(), tls) {
                    (tokio_postgres::config::SslMode::Disable, _) | (_, Err(_)) => {
                        drive(&config, NoTls, tx).await;
                    }
                    (_, Ok(tls)) => {
                        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
                        drive(&config, tls, tx).await;
                    }
                }
            });
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "no thread for the PostgreSQL connection");
    }
    match rx.recv() {
        Ok(r) => Ok(r?),
        // The thread ended without a word: it logged why.
        Err(_) => Err(Error::Unavailable(
            "the connection's thread could not start".to_owned(),
        )),
    }
}

/// Connect with `tls`, hand the client over `tx`, and run the connection until it ends.
async fn drive<T>(
    config: &Config,
    tls: T,
    tx: std::sync::mpsc::Sender<std::result::Result<Client, tokio_postgres::Error>>,
) where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>,
{
    match config.connect(tls).await {
        Ok((client, conn)) => {
            let _ = tx.send(Ok(client));
            if let Err(e) = conn.await {
                tracing::warn!(error = %describe(&e), "the connection to PostgreSQL ended");
            }
        }
        Err(e) => {
            let _ = tx.send(Err(e));
        }
    }
}

/// An error as an operator reads it: the server's message, code and detail, not "db error".
pub fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{} (SQLSTATE {})", db.message(), db.code().code());
        if let Some(d) = db.detail() {
            s.push_str(": ");
            s.push_str(d);
        }
        return s;
    }
    match e.source() {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// A parameter, encoded as the type PostgreSQL expects for it.
#[derive(Debug)]
struct Bind<'a>(ValueRef<'a>);

impl ToSql for Bind<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self.0 {
            ValueRef::Null => Ok(IsNull::Yes),
            ValueRef::Bool(b) if matches!(*ty, Type::BOOL) => b.to_sql(ty, out),
            ValueRef::Integer(i) if matches!(*ty, Type::BOOL) => (i != 0).to_sql(ty, out),
            ValueRef::Bool(b) => integer(i64::from(b), ty, out),
            ValueRef::Integer(i) => integer(i, ty, out),
            ValueRef::Real(r) => match *ty {
                Type::FLOAT8 => r.to_sql(ty, out),
                #[allow(clippy::cast_possible_truncation)]
                Type::FLOAT4 => (r as f32).to_sql(ty, out),
                _ => Err(
                    format!("a real number cannot be bound where PostgreSQL expects {ty}").into(),
                ),
            },
            ValueRef::Text(t) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    t.to_sql(&Type::TEXT, out)
                }
                _ => Err(format!("text cannot be bound where PostgreSQL expects {ty}").into()),
            },
            ValueRef::Blob(b) => match *ty {
                Type::BYTEA => b.to_sql(ty, out),
                _ => Err(format!("a blob cannot be bound where PostgreSQL expects {ty}").into()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn integer(
    i: i64,
    ty: &Type,
    out: &mut BytesMut,
) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
    match *ty {
        Type::INT8 => i.to_sql(ty, out),
        Type::INT4 => i32::try_from(i)?.to_sql(ty, out),
        Type::INT2 => i16::try_from(i)?.to_sql(ty, out),
        #[allow(clippy::cast_precision_loss)]
        Type::FLOAT8 => (i as f64).to_sql(ty, out),
        // A parameter PostgreSQL could only see as text (`?1 || 'x'`).
        Type::TEXT | Type::VARCHAR | Type::UNKNOWN => i.to_string().to_sql(&Type::TEXT, out),
        _ => Err(format!("an integer cannot be bound where PostgreSQL expects {ty}").into()),
    }
}

/// A column, decoded from whatever type it has into a [`ValueRef`].
struct Read<'a>(ValueRef<'a>);

impl<'a> FromSql<'a> for Read<'a> {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(Read(match *ty {
            Type::BOOL => ValueRef::Bool(bool::from_sql(ty, raw)?),
            Type::INT2 => ValueRef::Integer(i64::from(i16::from_sql(ty, raw)?)),
            Type::INT4 => ValueRef::Integer(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT8 => ValueRef::Integer(i64::from_sql(ty, raw)?),
            Type::OID => ValueRef::Integer(i64::from(u32::from_sql(ty, raw)?)),
            Type::FLOAT4 => ValueRef::Real(f64::from(f32::from_sql(ty, raw)?)),
            Type::FLOAT8 => ValueRef::Real(f64::from_sql(ty, raw)?),
            Type::NUMERIC => numeric(raw)?,
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                ValueRef::Text(<&str>::from_sql(&Type::TEXT, raw)?)
            }
            Type::BYTEA => ValueRef::Blob(<&[u8]>::from_sql(ty, raw)?),
            _ => {
                return Err(format!("a column of type {ty}, which the store does not read").into());
            }
        }))
    }

    fn from_sql_null(_: &Type) -> std::result::Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(Read(ValueRef::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// NUMERIC, which `SUM` of an integer column returns: an integer when it has no fraction
/// (the store sums sizes and counts), a real otherwise. The binary form is a digit count, a
/// weight (the power of 10,000 of the first digit), a sign and a display scale, then base
/// 10,000 digits (PostgreSQL's `numeric_send`, src/backend/utils/adt/numeric.c).
fn numeric(raw: &[u8]) -> std::result::Result<ValueRef<'static>, Box<dyn StdError + Sync + Send>> {
    let word = |i: usize| -> std::result::Result<i16, Box<dyn StdError + Sync + Send>> {
        raw.get(i * 2..i * 2 + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "a NUMERIC value cut short".into())
    };
    let ndigits = usize::try_from(word(0)?).map_err(|_| "a NUMERIC with a negative length")?;
    let weight = i32::from(word(1)?);
    let sign = word(2)? as u16;
    if sign == 0xC000 {
        return Ok(ValueRef::Real(f64::NAN));
    }
    let mut whole: i128 = 0;
    let mut real = 0f64;
    let mut fraction = false;
    for k in 0..ndigits {
        let d = i32::from(word(4 + k)?);
        let exp = weight - i32::try_from(k).unwrap_or(i32::MAX);
        real += f64::from(d) * 10_000f64.powi(exp);
        if exp < 0 {
            fraction |= d != 0;
        } else {
            let scale = 10_000i128
                .checked_pow(u32::try_from(exp).unwrap_or(u32::MAX))
                .ok_or("a NUMERIC too large for the store")?;
            whole = whole
                .checked_add(i128::from(d) * scale)
                .ok_or("a NUMERIC too large for the store")?;
        }
    }
    let negative = sign == 0x4000;
    if !fraction && let Ok(i) = i64::try_from(if negative { -whole } else { whole }) {
        return Ok(ValueRef::Integer(i));
    }
    Ok(ValueRef::Real(if negative { -real } else { real }))
}

pub(super) fn get<I: RowIndex, T: FromSqlValue>(r: &tokio_postgres::Row, idx: I) -> Result<T> {
    let i = match idx.position() {
        Some(i) => i,
        None => {
            let names: Vec<&str> = r.columns().iter().map(|c| c.name()).collect();
            idx.index(&names)
                .ok_or_else(|| super::no_such_column(idx))?
        }
    };
    let name = || {
        r.columns()
            .get(i)
            .map_or_else(|| i.to_string(), |c| c.name().to_owned())
    };
    let v = r
        .try_get::<_, Read<'_>>(i)
        .map_err(|e| Error::Value {
            column: name(),
            problem: describe(&e),
        })?
        .0;
    T::from_sql_value(v, "").map_err(|e| super::naming(e, name))
}

#[cfg(test)]
mod tests {
    use super::ValueRef;
    use super::numeric;

    fn encode(ndigits: i16, weight: i16, sign: u16, digits: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        for w in [ndigits, weight, sign as i16, 0] {
            v.extend(w.to_be_bytes());
        }
        for d in digits {
            v.extend(d.to_be_bytes());
        }
        v
    }

    #[test]
    fn numeric_sums_read_as_integers_and_fractions_as_reals() {
        // 123456789 = 1|2345|6789 in base 10,000, weight 2.
        assert_eq!(
            numeric(&encode(3, 2, 0, &[1, 2345, 6789])).unwrap(),
            ValueRef::Integer(123_456_789)
        );
        // 20000: one digit 2 at weight 1 (trailing zero digits are not sent).
        assert_eq!(
            numeric(&encode(1, 1, 0, &[2])).unwrap(),
            ValueRef::Integer(20_000)
        );
        assert_eq!(
            numeric(&encode(1, 0, 0x4000, &[7])).unwrap(),
            ValueRef::Integer(-7)
        );
        assert_eq!(
            numeric(&encode(0, 0, 0, &[])).unwrap(),
            ValueRef::Integer(0)
        );
        assert_eq!(
            numeric(&encode(2, 0, 0, &[1, 5000])).unwrap(),
            ValueRef::Real(1.5)
        );
        assert!(numeric(&[0, 3]).is_err(), "cut short");
    }
}
