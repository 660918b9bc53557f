//! Step 5: dpost's own store. Its database (with the `-wal` and `-shm` files beside it) and
//! its message files hold personal data (CPR numbers, letters): they must be readable by the
//! service's user only. dpost creates them so (`store::permissions`); a copy restored as
//! another user, or a folder made by hand, may not be.

use super::{Check, Step};
use crate::config::ConfigFile;
use crate::store::permissions::audit;

/// Loose files reported one by one at most; the rest are counted.
const SHOWN: usize = 20;

/// Check the permissions of the store the configuration names.
pub fn check(file: &ConfigFile) -> Vec<Check> {
    let mut checks = Vec::new();
    let on_server = if let crate::store::Location::Postgres(url) = file.store_location() {
        checks.push(server(&url));
        true
    } else {
        false
    };
    checks.extend(permissions(file, on_server));
    checks
}

/// A PostgreSQL store: the tables are on a server, whose access is its own (roles,
/// pg_hba.conf); what dpost can check is that it reaches it and that the tables are current.
fn server(url: &str) -> Check {
    let step = Step::Store;
    match crate::store::Store::open_postgres(url) {
        Ok(store) => Check::ok(
            step,
            "store",
            &store.path().display().to_string(),
            "PostgreSQL answers and every service's tables are up to date",
        ),
        Err(e) => Check::failed(
            step,
            "store",
            "[store] url",
            crate::error_text::of(&anyhow::Error::from(e)),
            "check `[store] url` (or DPOST_STORE_URL), that the server runs, and that it accepts this user",
        ),
    }
}

/// The database file (SQLite) and the data folder (either backend: received files are kept
/// there) must be private.
fn permissions(file: &ConfigFile, on_server: bool) -> Vec<Check> {
    let step = Step::Store;
    let database = file.store_path();
    let data_dir = match file.serve() {
        Ok(s) => s.data_dir,
        Err(_) => {
            let mut p = database.clone().into_os_string();
            p.push(".files");
            p.into()
        }
    };
    let subject = if on_server {
        data_dir.display().to_string()
    } else {
        database.display().to_string()
    };
    if !on_server && !database.exists() {
        return vec![Check::ok(
            step,
            "store permissions",
            &subject,
            "no store yet: `dpost serve` creates it readable by its user only",
        )];
    }
    let loose = audit(&database, &data_dir);
    if loose.is_empty() {
        return vec![Check::ok(
            step,
            "store permissions",
            &subject,
            format!(
                "the database and {} are readable by their owner only",
                data_dir.display()
            ),
        )];
    }
    let mut checks: Vec<Check> = loose
        .iter()
        .take(SHOWN)
        .map(|l| {
            Check::failed(
                step,
                "store permissions",
                &l.path.display().to_string(),
                format!(
                    "mode {:03o}: others on this machine can {} personal data",
                    l.mode,
                    if l.dir { "list or enter" } else { "read" }
                ),
                format!("run `{}`", l.fix()),
            )
        })
        .collect();
    if loose.len() > SHOWN {
        checks.push(Check::failed(
            step,
            "store permissions",
            &data_dir.display().to_string(),
            format!(
                "{} more files or folders are not private",
                loose.len() - SHOWN
            ),
            format!("run `chmod -R go-rwx {}`", data_dir.display()),
        ));
    }
    checks
}
