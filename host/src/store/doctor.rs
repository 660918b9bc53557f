//! The last `dpost doctor` results, kept so the operator console's overview can show whether
//! the set-up checks passed without anyone at a shell. One row per run; the overview reads
//! the newest. The report itself is kept whole (its JSON, as `doctor --json` prints it), so
//! what the console shows is exactly what the command said.

use super::sql::{OptionalExtension as _, params};

use super::{Migration, Store, StoreError};

/// The doctor's tables.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    sql: "CREATE TABLE doctor_runs (
            id INTEGER PRIMARY KEY,
            environment TEXT NOT NULL,
            checked_at INTEGER NOT NULL,
            worst TEXT NOT NULL,
            failed INTEGER NOT NULL,
            warnings INTEGER NOT NULL,
            report TEXT NOT NULL
          );",
}];

/// How many runs are kept; older ones are removed when a run is recorded.
pub const KEPT_RUNS: i64 = 50;

/// One recorded run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoctorRun {
    /// The environment checked (`test`, `production`).
    pub environment: String,
    /// When it was checked (Unix seconds, the doctor's clock).
    pub checked_at: i64,
    /// The worst outcome: `ok`, `warning` or `failed`.
    pub worst: String,
    /// How many checks failed.
    pub failed: u32,
    /// How many checks warned.
    pub warnings: u32,
    /// The report as `dpost doctor --json` prints it.
    pub report: String,
}

impl Store {
    /// Record a doctor run (committed before this returns), keeping the newest
    /// [`KEPT_RUNS`].
    pub fn record_doctor_run(&mut self, run: &DoctorRun) -> Result<(), StoreError> {
        let result = (|| {
            let tx = self.conn().transaction()?;
            tx.execute(
                "INSERT INTO doctor_runs (environment, checked_at, worst, failed, warnings, report)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    run.environment,
                    run.checked_at,
                    run.worst,
                    run.failed,
                    run.warnings,
                    run.report
                ],
            )?;
            tx.execute(
                "DELETE FROM doctor_runs WHERE id <= (SELECT MAX(id) FROM doctor_runs) - ?1",
                [KEPT_RUNS],
            )?;
            tx.commit()
        })();
        result.map_err(|e| self.error(e))
    }

    /// The newest recorded doctor run, if any.
    pub fn last_doctor_run(&mut self) -> Result<Option<DoctorRun>, StoreError> {
        let result = self
            .conn()
            .query_row(
                "SELECT environment, checked_at, worst, failed, warnings, report
                 FROM doctor_runs ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    Ok(DoctorRun {
                        environment: r.get(0)?,
                        checked_at: r.get(1)?,
                        worst: r.get(2)?,
                        failed: r.get(3)?,
                        warnings: r.get(4)?,
                        report: r.get(5)?,
                    })
                },
            )
            .optional();
        result.map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(n: i64, worst: &str) -> DoctorRun {
        DoctorRun {
            environment: "test".into(),
            checked_at: 1_700_000_000 + n,
            worst: worst.into(),
            failed: u32::from(worst == "failed"),
            warnings: 0,
            report: format!("{{\"n\":{n}}}"),
        }
    }

    #[test]
    fn the_newest_run_is_read_back_and_old_ones_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("dpost.db")).unwrap();
        assert_eq!(store.last_doctor_run().unwrap(), None);
        for n in 0..KEPT_RUNS + 10 {
            store
                .record_doctor_run(&run(n, if n % 2 == 0 { "ok" } else { "failed" }))
                .unwrap();
        }
        let last = store.last_doctor_run().unwrap().unwrap();
        assert_eq!(last, run(KEPT_RUNS + 9, "failed"));
        let kept: i64 = store
            .conn()
            .query_row("SELECT COUNT(*) FROM doctor_runs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, KEPT_RUNS);
    }
}
