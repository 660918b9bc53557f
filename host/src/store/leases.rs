//! Named leases: background work that must run in one process at a time, across every
//! `dpost serve` replica sharing one store (issue 18), such as pulling one NgDP system or
//! syncing one Digipost inbox.
//!
//! A lease is a row `(name, holder, until)`. A process takes it when nobody holds it, or when
//! the holder's time ran out (that process died or hangs), and renews it while it works; it
//! releases it when done. A process killed with the lease held stops the work only until
//! `until`: then another takes over. Holders are per-process ids ([`new_holder`]).
//!
//! Queue rows (webhook deliveries, outgoing messages, business receipts) are claimed row by
//! row with a `claimed_until` column of their own instead; [`skip_locked`] is the part of
//! that claim that differs between the backends.
//!
//! Why one statement per acquisition: `INSERT .. ON CONFLICT DO UPDATE .. WHERE` decides on
//! the row as it is when the statement runs. On PostgreSQL a concurrent acquisition waits for
//! the other's row lock and then re-checks the `WHERE` against the committed row ("INSERT ...
//! ON CONFLICT DO UPDATE guarantees an atomic INSERT or UPDATE outcome",
//! <https://www.postgresql.org/docs/15/sql-insert.html#SQL-ON-CONFLICT>), and SQLite runs one
//! writer at a time, so two processes never both get `true`.

use super::sql::{Backend, OptionalExtension as _, params};
use super::{Migration, Store, StoreError};

/// The lease table on SQLite (PostgreSQL's is [`super::postgres::LEASES`]).
pub(super) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    sql: "
        CREATE TABLE dpost_leases (
            name   TEXT PRIMARY KEY,   -- the work: pull:<system>, digipost-sync:<sender>
            holder TEXT NOT NULL,      -- the process: host, pid and a random part
            until  INTEGER NOT NULL    -- Unix seconds; free for anyone from then on
        );
    ",
}];

/// Who holds a lease, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The holder's id.
    pub holder: String,
    /// Unix seconds.
    pub until: i64,
}

/// What to add to the `SELECT` that picks the rows of a claim: on PostgreSQL, rows another replica is
/// claiming at this moment are skipped rather than waited for
/// (<https://www.postgresql.org/docs/15/sql-select.html#SQL-FOR-UPDATE-SHARE>); SQLite has
/// one writer at a time and no such clause.
pub(crate) fn skip_locked(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "",
        Backend::Postgres => "FOR UPDATE SKIP LOCKED",
    }
}

/// A holder id for this process: its host name, process id and a random part (a pid is
/// reused after a restart, and containers all have pid 1). Made once per process by its
/// caller and used for every lease it takes.
pub fn new_holder() -> String {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 6];
    let random = match ring::rand::SystemRandom::new().fill(&mut bytes) {
        Ok(()) => bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        // Uniqueness, not secrecy: the time in nanoseconds tells two processes apart too.
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
            .to_string(),
    };
    format!("{}:{}:{random}", host_name(), std::process::id())
}

/// This machine's name, for people reading who holds a lease.
fn host_name() -> String {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is valid for its whole length; gethostname writes at most that
        // many bytes into it.
        let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        if r == 0 {
            let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
            let name = String::from_utf8_lossy(&buf[..end]).trim().to_owned();
            if !name.is_empty() {
                return name;
            }
        }
    }
    "unknown-host".to_owned()
}

impl Store {
    /// Take the lease `name` for `holder` until `until`: true when it was free, had run out by
    /// `now`, or was `holder`'s already (then it is renewed); false while another holds it.
    pub fn lease_acquire(
        &mut self,
        name: &str,
        holder: &str,
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError> {
        let result = self.conn().execute(
            "INSERT INTO dpost_leases (name, holder, until) VALUES (?1, ?2, ?4)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
             WHERE dpost_leases.holder = excluded.holder OR dpost_leases.until <= ?3",
            params![name, holder, now, until],
        );
        result.map(|n| n == 1).map_err(|e| self.error(e))
    }

    /// Give up the lease `name` if `holder` has it (another's is left alone).
    pub fn lease_release(&mut self, name: &str, holder: &str) -> Result<(), StoreError> {
        let result = self.conn().execute(
            "DELETE FROM dpost_leases WHERE name = ?1 AND holder = ?2",
            params![name, holder],
        );
        result.map(drop).map_err(|e| self.error(e))
    }

    /// Who holds the lease `name` (possibly run out), to say so in a message.
    pub fn lease(&mut self, name: &str) -> Result<Option<Lease>, StoreError> {
        let result = self
            .conn()
            .query_row(
                "SELECT holder, until FROM dpost_leases WHERE name = ?1",
                [name],
                |r| {
                    Ok(Lease {
                        holder: r.get(0)?,
                        until: r.get(1)?,
                    })
                },
            )
            .optional();
        result.map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use crate::store::{scratch_store, second_connection};

    #[test]
    fn a_lease_is_held_by_one_renewed_by_it_and_taken_over_when_it_runs_out() {
        let mut a = scratch_store("leases");
        let mut b = second_connection(&a);
        assert!(a.lease_acquire("pull:s", "A", 100, 130).unwrap());
        // Another process, through another connection, while it is held.
        assert!(!b.lease_acquire("pull:s", "B", 110, 140).unwrap());
        // Another name is another lease.
        assert!(b.lease_acquire("pull:t", "B", 110, 140).unwrap());
        // The holder renews its own before it runs out.
        assert!(a.lease_acquire("pull:s", "A", 125, 155).unwrap());
        assert!(!b.lease_acquire("pull:s", "B", 140, 170).unwrap());
        // A holder that died: from `until` on, another takes it, and the old one cannot
        // renew it any more.
        assert!(b.lease_acquire("pull:s", "B", 155, 185).unwrap());
        assert!(!a.lease_acquire("pull:s", "A", 156, 186).unwrap());
        let held = a.lease("pull:s").unwrap().unwrap();
        assert_eq!((held.holder.as_str(), held.until), ("B", 185));
        // Releasing another's lease does nothing; releasing one's own frees it at once.
        a.lease_release("pull:s", "A").unwrap();
        assert!(!a.lease_acquire("pull:s", "A", 157, 187).unwrap());
        b.lease_release("pull:s", "B").unwrap();
        assert!(a.lease("pull:s").unwrap().is_none());
        assert!(a.lease_acquire("pull:s", "A", 158, 188).unwrap());
    }

    #[test]
    fn two_processes_racing_for_a_free_lease_get_it_once() {
        let a = scratch_store("leases_race");
        let mut stores: Vec<_> = (0..4).map(|_| second_connection(&a)).collect();
        let winners: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = stores
                .iter_mut()
                .enumerate()
                .map(|(i, s)| {
                    scope.spawn(move || {
                        (0..20)
                            .filter(|round| {
                                s.lease_acquire(&format!("race:{round}"), &format!("p{i}"), 10, 40)
                                    .unwrap()
                            })
                            .count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(winners, 20, "each lease went to exactly one process");
    }

    #[test]
    fn a_holder_id_names_the_host_and_process_and_differs_each_time() {
        let (one, two) = (super::new_holder(), super::new_holder());
        assert_ne!(one, two);
        assert!(one.contains(&format!(":{}:", std::process::id())), "{one}");
    }
}
