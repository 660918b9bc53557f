//! `dpost store …`: back up, restore and verify the store with its message files, and purge
//! what retention lets go of.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::Exit;
use crate::clock;
use crate::config::ConfigFile;
use crate::store::Store;
use crate::store::backup::{self, BackupError};
use crate::store::copy::{self, CopyError};
use crate::store::retention;

/// Store commands.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Bring the store's tables up to date and say at which version each service's are.
    /// `dpost serve` does this itself at start (under a lock, so replicas that start together
    /// migrate once); this runs it alone, e.g. before starting the new version of every
    /// replica.
    Migrate {
        /// The configuration file (for `[store] path` or `url`; `DPOST_STORE_URL` overrides).
        #[arg(long, value_name = "FILE", default_value = "dpost.toml")]
        config: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Copy the database (SQLite's online backup) and every message file it refers to into
    /// DIR, a new or empty folder. Consistent while `dpost serve` runs.
    Backup {
        /// The folder to write; it must not exist or be empty.
        dir: PathBuf,
        /// The configuration file (for the store's path and data folder).
        #[arg(long, value_name = "FILE", default_value = "dpost.toml")]
        config: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Put a backup from DIR in place as this configuration's store and data folder; both
    /// must be empty (nothing is overwritten). Every file is checked against the backup's
    /// SHA-256 first.
    Restore {
        /// The backup folder (`dpost store backup DIR`).
        dir: PathBuf,
        /// The configuration file (for where the store and data folder go).
        #[arg(long, value_name = "FILE", default_value = "dpost.toml")]
        config: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check every message file against the size and SHA-256 in the database, and the
    /// database with SQLite's integrity check. Exit 1 when anything is missing or damaged.
    Verify {
        /// The configuration file (for the store's path).
        #[arg(long, value_name = "FILE", default_value = "dpost.toml")]
        config: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete acknowledged messages older than their mailbox's `[store] retention_days`
    /// (never one unacknowledged or still owed a business receipt).
    Purge {
        /// Only list what would be purged.
        #[arg(long)]
        dry_run: bool,
        /// With --dry-run: as if it were this time (Unix seconds), to see what a date will
        /// purge.
        #[arg(long, value_name = "UNIX_SECONDS", requires = "dry_run")]
        as_of: Option<i64>,
        /// The configuration file.
        #[arg(long, value_name = "FILE", default_value = "dpost.toml")]
        config: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Copy every table of the SQLite store into a new PostgreSQL store (created and
    /// migrated), in one transaction committed only when the row counts, every Digipost
    /// document's SHA-256 and every message file's SHA-256 check out. Stop `dpost serve`
    /// first. Exit 1 when a check fails or the target is not empty (nothing is written).
    Copy {
        /// The PostgreSQL store, `postgres://user:password@host:port/database` (default:
        /// `DPOST_STORE_URL`, else the configuration's `[store] url`; either keeps a password
        /// off the command line).
        #[arg(long, value_name = "URL")]
        to: Option<String>,
        /// The SQLite file to copy (default: the configuration's `[store] path`, which
        /// stays the SQLite file when `[store] url` is set).
        #[arg(long, value_name = "PATH")]
        from: Option<PathBuf>,
        /// The configuration file (for the defaults of --to and --from).
        #[arg(long, value_name = "FILE", default_value = "dpost.toml")]
        config: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The store's file and the data folder the configuration names. `what` names the command,
/// which works on a SQLite file only: a PostgreSQL store is backed up with PostgreSQL's own
/// tools.
fn locations(config: &Path, what: &str) -> anyhow::Result<(ConfigFile, PathBuf, PathBuf)> {
    let file = super::config::load_existing(config)?;
    if let crate::store::Location::Postgres(_) = file.store_location() {
        anyhow::bail!(
            "`dpost store {what}` works on the SQLite store; this configuration's store is PostgreSQL, whose own tools (pg_dump, pg_basebackup, amcheck) do this (docs/scale-out.md)"
        );
    }
    let data_dir = file.serve()?.data_dir;
    Ok((file.clone(), file.store_path(), data_dir))
}

impl StoreCommand {
    pub fn run(self) -> anyhow::Result<Exit> {
        match self {
            StoreCommand::Copy {
                to,
                from,
                config,
                json,
            } => copy_command(to, from, &config, json),
            StoreCommand::Migrate { config, json } => {
                let file = super::config::load_existing(&config)?;
                let store = Store::open_location(&file.store_location())?;
                let versions = store.schema_versions()?;
                if json {
                    let map: serde_json::Map<String, serde_json::Value> = versions
                        .iter()
                        .map(|(m, v)| (m.clone(), serde_json::json!(v)))
                        .collect();
                    outln!(
                        "{}",
                        serde_json::json!({
                            "store": store.path().display().to_string(),
                            "backend": store.backend().name(),
                            "versions": map,
                        })
                    )?;
                } else {
                    outln!(
                        "{} ({}) is up to date:",
                        store.path().display(),
                        store.backend().name()
                    )?;
                    for (module, version) in &versions {
                        outln!("  {module:<10} version {version}")?;
                    }
                }
                Ok(Exit::Ok)
            }
            StoreCommand::Backup { dir, config, json } => {
                let (_, store, data_dir) = locations(&config, "backup")?;
                let now = clock::system().now_unix();
                match backup::backup(&store, &data_dir, &dir, now) {
                    Ok(s) => {
                        if json {
                            outln!("{}", serde_json::to_string(&s)?)?;
                        } else {
                            outln!(
                                "backed up {} ({} bytes) and {} file(s) ({} bytes) to {}",
                                store.display(),
                                s.database_bytes,
                                s.files,
                                s.file_bytes,
                                dir.display()
                            )?;
                        }
                        Ok(Exit::Ok)
                    }
                    Err(BackupError::Incomplete { dir, problems }) => {
                        for p in &problems {
                            errln!("{p}");
                        }
                        anyhow::bail!(
                            "{} file(s) missing or damaged in the store; the backup in {} is incomplete (run `dpost store verify`)",
                            problems.len(),
                            dir.display()
                        )
                    }
                    Err(e) => Err(e.into()),
                }
            }
            StoreCommand::Restore { dir, config, json } => {
                let (_, store, data_dir) = locations(&config, "restore")?;
                match backup::restore(&dir, &store, &data_dir) {
                    Ok(s) => {
                        // Brings tables from an older dpost's backup up to date.
                        Store::open(&store)?;
                        if json {
                            outln!("{}", serde_json::to_string(&s)?)?;
                        } else {
                            outln!(
                                "restored {} ({} bytes) and {} file(s) ({} bytes) into {}",
                                store.display(),
                                s.database_bytes,
                                s.files,
                                s.file_bytes,
                                data_dir.display()
                            )?;
                        }
                        Ok(Exit::Ok)
                    }
                    Err(BackupError::Incomplete { dir, problems }) => {
                        for p in &problems {
                            errln!("{p}");
                        }
                        anyhow::bail!(
                            "{} file(s) of the backup in {} are missing or damaged; nothing was restored as the store (the files copied so far are in {})",
                            problems.len(),
                            dir.display(),
                            data_dir.display()
                        )
                    }
                    Err(e) => Err(e.into()),
                }
            }
            StoreCommand::Verify { config, json } => {
                let (_, store, _) = locations(&config, "verify")?;
                let v = backup::verify(&store)?;
                if json {
                    outln!("{}", serde_json::to_string(&v)?)?;
                } else {
                    for p in &v.problems {
                        outln!("{p}")?;
                    }
                    outln!(
                        "{} file(s) ({} bytes) checked, {} missing or damaged; database: {}",
                        v.checked,
                        v.bytes,
                        v.problems.len(),
                        v.database
                    )?;
                }
                Ok(if v.is_clean() {
                    Exit::Ok
                } else {
                    Exit::CheckFailed
                })
            }
            StoreCommand::Purge {
                dry_run,
                as_of,
                config,
                json,
            } => {
                let file = super::config::load_existing(&config)?;
                let policy = file.retention()?;
                if policy.days.is_empty() {
                    errln!(
                        "no [store] retention_days in {}: every message is kept",
                        config.display()
                    );
                }
                let mut store = Store::open_location(&file.store_location())?;
                let now = as_of.unwrap_or_else(|| clock::system().now_unix());
                let report = retention::purge(&mut store, &policy.days, now, dry_run)?;
                if json {
                    outln!("{}", serde_json::to_string(&report)?)?;
                } else {
                    for m in &report.messages {
                        outln!(
                            "{}  {}  acknowledged {}  {} bytes",
                            m.uuid,
                            m.mailbox,
                            m.acked_at,
                            m.bytes
                        )?;
                    }
                    let bytes: u64 = report.messages.iter().map(|m| m.bytes).sum();
                    outln!(
                        "{} {} message(s), {} bytes",
                        if dry_run { "would purge" } else { "purged" },
                        report.messages.len(),
                        bytes
                    )?;
                }
                for l in &report.leftovers {
                    errln!("not removed: {l}");
                }
                Ok(if report.leftovers.is_empty() {
                    Exit::Ok
                } else {
                    Exit::CheckFailed
                })
            }
        }
    }
}

/// `dpost store copy`: the report, and exit 1 when a check failed or the target held data.
fn copy_command(
    to: Option<String>,
    from: Option<PathBuf>,
    config: &Path,
    json: bool,
) -> anyhow::Result<Exit> {
    // The configuration is needed for a default, and read when there is one anyway (for
    // the data folder below).
    let file = if from.is_none() || to.is_none() || config.exists() {
        Some(super::config::load_existing(config)?)
    } else {
        None
    };
    let from = match (from, &file) {
        (Some(p), _) => p,
        (None, Some(f)) => f.store_path(),
        (None, None) => anyhow::bail!("no store to copy from: give --from PATH"),
    };
    let to = match (to, &file) {
        (Some(u), _) => u,
        (None, Some(f)) => match f.store_location() {
            crate::store::Location::Postgres(url) => url,
            crate::store::Location::Sqlite(_) => anyhow::bail!(
                "no PostgreSQL store to copy to: give --to postgres://... or set [store] url in {} (or DPOST_STORE_URL)",
                config.display()
            ),
        },
        (None, None) => anyhow::bail!("no PostgreSQL store to copy to: give --to postgres://..."),
    };
    // What a running `serve` accepted after the copy's snapshot would be in neither the copy
    // nor its checks: none may run on the store's data folder, nor start, until the copy
    // ends (its lock, held until this returns).
    let data_dir = match &file {
        Some(f) => f.serve()?.data_dir,
        None => {
            let mut p = from.clone().into_os_string();
            p.push(".files");
            PathBuf::from(p)
        }
    };
    let _no_serve = if data_dir.is_dir() {
        match crate::store::owner::lock_serve(&data_dir) {
            Ok(lock) => Some(lock),
            Err(crate::store::owner::OwnerError::ServeRunning { dir, pid }) => anyhow::bail!(
                "dpost serve (process {pid}) runs on {}: stop it first, so that nothing it accepts is left out of the copy",
                dir.display()
            ),
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };
    let report = match copy::copy(&from, &to) {
        Ok(r) => r,
        Err(e @ CopyError::NotEmpty { .. }) => {
            errln!("error: {e}");
            return Ok(Exit::CheckFailed);
        }
        Err(e) => return Err(e.into()),
    };
    if json {
        outln!("{}", serde_json::to_string(&report)?)?;
    } else {
        for t in &report.tables {
            outln!(
                "{:<24} {:>10} row(s) {:>14} bytes",
                t.table,
                t.rows,
                t.bytes
            )?;
        }
        let counters: Vec<String> = report
            .counters
            .iter()
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        outln!("counters continue after: {}", counters.join(", "))?;
        for m in &report.mismatches {
            outln!("{m}")?;
        }
        outln!(
            "{} {} table(s), {} row(s), {} bytes from {} to {} in {:.1} s; checked {} document hash(es) and {} file(s) ({} bytes), {} mismatch(es)",
            if report.committed {
                "copied"
            } else {
                "rolled back"
            },
            report.tables.len(),
            report.rows,
            report.bytes,
            report.from,
            report.to,
            report.seconds,
            report.documents_checked,
            report.files_checked,
            report.file_bytes,
            report.mismatches.len()
        )?;
    }
    Ok(if report.committed {
        Exit::Ok
    } else {
        Exit::CheckFailed
    })
}
