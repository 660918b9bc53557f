//! `dpost contact-points import`: map mailboxes to contact points in bulk from a CSV file.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::json;

use super::Exit;
use super::serve::ConfigArgs;
use crate::config::ConfigFile;
use crate::contact_points::{diff, plan};

/// Contact point commands.
#[derive(Debug, Subcommand)]
pub enum ContactPointsCommand {
    /// Map existing mailboxes to contact points from a CSV file (for organisations moving from
    /// e-Boks mailboxes), adding or updating `[[ngdp.<env>.contact_points]]` in the
    /// configuration file with its comments kept.
    #[command(after_help = "\
The CSV has a header row; columns in any order:
  mailbox         an existing mailbox ([ngdp] mailboxes)                  (required)
  contact_point   the contact point's GUID from the portal                (required)
  label           a name for people
  audiences       citizens;companies;authorities (required for a new contact point)
  hidden          true or false
  system          the system id it belongs to (default: every system)

Example:
  mailbox,contact_point,label,audiences
  daycare,0d6b9a52-1c7e-4b1e-9d1f-6f0b5f1e2a3c,Dagtilbud,citizens;companies

  dpost contact-points import mapping.csv --dry-run    # show the diff, write nothing
  dpost contact-points import mapping.csv

A `dpost serve` running on the same store is told to reload (SIGHUP), and the last line says
whether it took the change, refused it (its log says why) or runs at all.

Exit codes: 0 imported (or nothing to change), 1 written but a running serve refused it or did
not answer, 2 a problem in the CSV or the configuration (each named with file, line and column;
nothing is written).")]
    Import {
        /// The CSV file.
        file: PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
        /// Show what would change (a diff of the configuration file) and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

impl ContactPointsCommand {
    pub fn run(self) -> anyhow::Result<Exit> {
        let ContactPointsCommand::Import {
            file: csv,
            config,
            dry_run,
            json,
        } = self;
        let loaded = super::config::load_existing(&config.config)?;
        let environment = loaded.ngdp_environment(config.environment.as_deref())?;
        let text = std::fs::read_to_string(&config.config)
            .with_context(|| format!("cannot read {}", config.config.display()))?;
        let data = std::fs::read(&csv).with_context(|| format!("cannot read {}", csv.display()))?;
        let plan = match plan(&config.config, &text, &csv, &data, &environment) {
            Ok(p) => p,
            Err(errors) => {
                for e in &errors {
                    errln!("{e}");
                }
                errln!("nothing written: fix the {} problem(s) above", errors.len());
                return Ok(Exit::Error);
            }
        };
        // The result must be a configuration dpost accepts, or nothing is written.
        if let Err(e) = ConfigFile::parse(config.config.clone(), plan.after.clone())
            .and_then(|f| f.ngdp(Some(&environment)))
        {
            errln!("the import would leave the configuration invalid: {e}");
            errln!("nothing written");
            return Ok(Exit::Error);
        }
        let count = |a: &str| plan.changes.iter().filter(|c| c.action == a).count();
        let (added, updated, unchanged) = (count("add"), count("update"), count("unchanged"));
        let changed = plan.after != plan.before;
        let shown_diff = diff(
            &config.config.display().to_string(),
            &plan.before,
            &plan.after,
        );
        let written = changed && !dry_run;
        // Where a running `dpost serve` would hold its lock; read before anything is written,
        // so a problem in [serve] leaves the file as it was.
        let data_dir = loaded.serve()?.data_dir;
        if written {
            super::write_atomically(&config.config, plan.after.as_bytes())?;
        }
        // A running `dpost serve` on this store takes the change at once (SIGHUP), and says
        // whether it did.
        let serve = if written {
            Some(super::reload::notify(&data_dir, RELOAD_WAIT))
        } else {
            None
        };
        if json {
            outln!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "environment": environment,
                    "changes": plan.changes,
                    "added": added,
                    "updated": updated,
                    "unchanged": unchanged,
                    "dry_run": dry_run,
                    "written": written,
                    "reload": serve,
                    "diff": if changed { Some(&shown_diff) } else { None },
                }))?
            )?;
        } else {
            for c in &plan.changes {
                match (&c.previous_mailbox, c.action) {
                    (Some(p), _) => outln!(
                        "{:9} {} → {} (was {p})",
                        c.action,
                        c.contact_point,
                        c.mailbox
                    )?,
                    (None, _) => outln!("{:9} {} → {}", c.action, c.contact_point, c.mailbox)?,
                }
            }
            if dry_run && changed {
                outln!()?;
                out!("{shown_diff}")?;
            }
            outln!(
                "{added} added, {updated} updated, {unchanged} unchanged in [ngdp.{environment}]; {}",
                if written {
                    format!("wrote {}", config.config.display())
                } else if dry_run {
                    "dry run: nothing written".to_owned()
                } else {
                    "nothing to write".to_owned()
                }
            )?;
            if let Some(serve) = &serve {
                outln!("{serve}")?;
            }
        }
        Ok(match serve {
            // The file is written, but the running service does not use it: not a clean 0.
            Some(
                super::reload::Notified::Refused { .. } | super::reload::Notified::NoAnswer { .. },
            ) => Exit::CheckFailed,
            _ => Exit::Ok,
        })
    }
}

/// How long `import` waits for a running `dpost serve` to confirm its reload.
const RELOAD_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
