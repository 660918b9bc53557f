//! `dpost doctor`: walk through the NgDP set-up guide's four steps and check each.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::Exit;
use crate::clock::{self, Clock as _, OffsetClock};
use crate::doctor::{self, Options, Status};

/// Check an environment's set-up the way the NgDP set-up guide orders it.
#[derive(Debug, Args)]
#[command(after_help = "\
Checks, grouped by the guide's steps:
  1. Certificate: the .p12/.pfx opens with its password source, holds a private key and an RSA
     certificate that belong together, is valid (a warning within 30 days of expiry), allows
     signing and TLS client authentication, looks like a FOCES/VOCES function certificate, and
     is not also used by the other environment.
  2. Internet access: DNS, TCP and a mutual-TLS handshake with NgDP's API; the CRL, OCSP and
     CA-issuer addresses the certificate names; the listen address; the public URL's /healthz
     (with --public-url).
  3. Sender/receiver system: UUID system id, protocol, API token, authorization header.
  4. Contact points: at least one per system, well-formed unique GUIDs, existing mailboxes,
     at least one audience.

Every warning and failure says what to do.

Examples:
  dpost doctor
  dpost doctor --environment production --json
  dpost doctor --public-url https://post.example.dk
  dpost doctor --at 2026-12-01          # judge certificates as of a planned go-live

The result is recorded in the store (when it exists; the doctor never creates it), where the
operator console's overview shows the last run; a run judged at another time (--at) is not
recorded.

Exit codes: 0 no check failed (warnings allowed), 1 a check failed, 2 the configuration
cannot be read or the arguments are wrong.")]
pub struct DoctorCommand {
    /// The configuration file.
    #[arg(long, value_name = "FILE", default_value = "dpost.toml")]
    config: PathBuf,
    /// The environment to check [default: the file's `[ngdp] environment`, else test].
    #[arg(long, value_name = "ENV", value_parser = ["test", "production"])]
    environment: Option<String>,
    /// Print the checks as JSON.
    #[arg(long)]
    json: bool,
    /// Probe this public base URL with `GET <URL>/healthz`, as NgDP would reach it.
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// Time limit for each network check.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Judge certificate validity at this time (RFC 3339, or a date) instead of now.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Skip the network checks (on a machine that is not the server).
    #[arg(long)]
    offline: bool,
}

/// `2026-12-01` or `2026-12-01T08:00:00Z` as Unix seconds.
pub(crate) fn parse_time(s: &str) -> anyhow::Result<i64> {
    let text = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_owned()
    };
    let t = humantime::parse_rfc3339_weak(&text).map_err(|e| {
        anyhow::anyhow!("--at {s:?}: {e} (give 2026-12-01 or 2026-12-01T08:00:00Z)")
    })?;
    Ok(match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    })
}

impl DoctorCommand {
    pub fn run(self) -> anyhow::Result<Exit> {
        let file = super::config::load_existing(&self.config)?;
        let environment = file.ngdp_environment(self.environment.as_deref())?;
        // The doctor reads time only through the clock, so --at (and tests) can fix "now".
        let clock: Arc<dyn crate::clock::Clock> = match &self.at {
            Some(at) => {
                let at = parse_time(at)?;
                Arc::new(OffsetClock::new(at - clock::SystemClock.now_unix()))
            }
            None => clock::system(),
        };
        let options = Options {
            environment,
            timeout: self.timeout,
            public_url: self.public_url,
            offline: self.offline,
            clock,
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let report = rt.block_on(doctor::run(&file, &options));
        if self.at.is_none() {
            record(&file.store_location(), &report);
        }
        if self.json {
            outln!("{}", serde_json::to_string_pretty(&report)?)?;
        } else {
            out!("{}", report.render())?;
        }
        Ok(if report.worst() == Status::Failed {
            Exit::CheckFailed
        } else {
            Exit::Ok
        })
    }
}

/// Keep the run for the console's overview. The checks' answer stands whether or not it
/// could be kept, so a store that cannot be written is said on standard error, not fatal.
fn record(store: &crate::store::Location, report: &doctor::Report) {
    if let crate::store::Location::Sqlite(path) = store
        && !path.exists()
    {
        return;
    }
    let worst = match report.worst() {
        Status::Ok => "ok",
        Status::Warning => "warning",
        Status::Failed => "failed",
    };
    let run = |report_json: String| -> anyhow::Result<()> {
        let mut store = crate::store::Store::open_location(store)?;
        store.record_doctor_run(&crate::store::doctor::DoctorRun {
            environment: report.environment.clone(),
            checked_at: report.checked_at,
            worst: worst.to_owned(),
            failed: report.count(Status::Failed) as u32,
            warnings: report.count(Status::Warning) as u32,
            report: report_json,
        })?;
        Ok(())
    };
    let kept = serde_json::to_string(report)
        .map_err(anyhow::Error::from)
        .and_then(run);
    if let Err(e) = kept {
        errln!(
            "note: this run was not recorded for the console: {}",
            crate::error_text::of(&e)
        );
    }
}
