//! Reloading a running `dpost serve`'s configuration on SIGHUP: contact points, mailboxes,
//! API clients, webhooks and console users change without a restart and without dropping a
//! connection.
//!
//! The new file is read and checked whole first; a file that does not check out is refused
//! and the running configuration stays (logged, and told to whoever asked). What needs a
//! restart (listeners, systems and their credentials, the store) is left as it is, with a
//! warning when it changed. Each reload's outcome is written to `serve.reload` in the data
//! folder, so that `dpost contact-points import` can say whether the service picked its
//! change up.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;

use crate::api::ApiState;
use crate::config::console::ConsoleUser;
use crate::config::live::Live;
use crate::config::ngdp::NgdpSettings;
use crate::config::webhooks::Webhook;
use crate::ngdp::Receiving;
use crate::ngdp::metrics::{CertificateLabel, Metrics};

/// The file a reload's outcome is written to, in the data folder.
const STATUS_FILE: &str = "serve.reload";

/// What a reload did, as written to `serve.reload`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReloadStatus {
    /// Counts the reloads of this process, from 1.
    pub generation: u64,
    /// The process.
    pub pid: u32,
    /// The new configuration is in force.
    pub ok: bool,
    /// What changed, or why the file was refused.
    pub message: String,
}

/// Everything a reload swaps, and where the webhook worker runs.
pub struct Reloader {
    /// The configuration file `serve` was started with.
    pub config: PathBuf,
    /// `--environment`, when given.
    pub environment: Option<String>,
    /// The data folder (for `serve.reload`).
    pub data_dir: PathBuf,
    /// The push pipeline (contact points, mailboxes).
    pub receiving: Arc<Receiving>,
    /// The platform API (clients, mailboxes).
    pub api: Arc<ApiState>,
    /// Certificates' end dates.
    pub metrics: Arc<Metrics>,
    /// The operator console's users (`[[console.users]]`).
    pub console_users: Arc<Live<Vec<ConsoleUser>>>,
    /// The running webhook worker and what it was started with.
    pub webhooks: Mutex<(Option<tokio::task::JoinHandle<()>>, String)>,
    /// `[serve] claim_seconds` for the webhook worker's claims (a restart applies a change).
    pub claim_seconds: Option<i64>,
    generation: std::sync::atomic::AtomicU64,
}

/// A comparable description of the webhooks (secrets hashed, never shown).
fn webhooks_fingerprint(hooks: &[Webhook]) -> String {
    use sha2::Digest as _;
    crate::ngdp::receive::hex(&sha2::Sha256::digest(format!("{hooks:?}").as_bytes()))
}

/// Every system's certificate end date, for the metrics; one that cannot be read is logged
/// and left out (`dpost doctor` says why in full).
pub fn certificate_end_dates(settings: &NgdpSettings) -> Vec<(CertificateLabel, i64)> {
    let mut out = Vec::new();
    for s in &settings.systems {
        let Some((path, password)) = &s.certificate else {
            continue;
        };
        match crate::doctor::certificate::not_after(path, password) {
            Ok(t) => out.push((
                CertificateLabel {
                    system: s.id.clone(),
                    certificate: path.display().to_string(),
                },
                t,
            )),
            Err(e) => {
                tracing::warn!(system = %s.id, certificate = %path.display(), error = %e, "the certificate's end date cannot be read for the metrics")
            }
        }
    }
    out
}

impl Reloader {
    /// A reloader for the running parts.
    pub fn new(
        config: PathBuf,
        environment: Option<String>,
        data_dir: PathBuf,
        receiving: Arc<Receiving>,
        api: Arc<ApiState>,
        metrics: Arc<Metrics>,
        console_users: Arc<Live<Vec<ConsoleUser>>>,
    ) -> Self {
        Reloader {
            config,
            environment,
            data_dir,
            receiving,
            api,
            metrics,
            console_users,
            webhooks: Mutex::new((None, String::new())),
            claim_seconds: None,
            generation: Default::default(),
        }
    }

    /// Start the webhook worker for `hooks` (stopping one that runs).
    pub fn start_webhooks(&self, hooks: Vec<Webhook>) -> anyhow::Result<()> {
        let fingerprint = webhooks_fingerprint(&hooks);
        let mut running = self
            .webhooks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(old) = running.0.take() {
            // A delivery cut off here stays due and is attempted again by the new worker.
            old.abort();
        }
        if !hooks.is_empty() {
            let mut worker = crate::webhooks::worker::Worker::start(
                &self.api_store_location(),
                hooks,
                self.receiving.clock.clone(),
                self.metrics.clone(),
            )?;
            worker.claim_seconds = self.claim_seconds;
            running.0 = Some(tokio::spawn(worker.run()));
        }
        running.1 = fingerprint;
        Ok(())
    }

    fn api_store_location(&self) -> crate::store::Location {
        self.api.store.location().clone()
    }

    /// Read the file again and swap what can be swapped; what changed, for the log.
    fn apply(&self) -> anyhow::Result<String> {
        let file = super::config::load_existing(&self.config)?;
        let new = file.ngdp(self.environment.as_deref())?;
        let api = file.api()?;
        let hooks = file.webhooks(|name| std::env::var(name).ok())?;
        file.retention()?;
        let console = file.console(|name| std::env::var(name).ok())?;
        let old = self.receiving.settings.get();
        let mut notes = Vec::new();
        let ids = |s: &NgdpSettings| s.systems.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
        if ids(&new) != ids(&old) || new.environment != old.environment {
            notes.push("systems changed: restart dpost serve to apply them".to_owned());
        }
        let now = self.receiving.clock.now_unix();
        // A connection of its own for this rare write: a reload runs on a blocking thread,
        // where the API's pool (whose waits are asynchronous) is not to be waited for.
        crate::store::Store::open_location(&self.api_store_location())?
            .ngdp_register_mailboxes(&new.mailboxes, now)?;
        let mut next = (*old).clone();
        next.contact_points = new.contact_points.clone();
        next.mailboxes = new.mailboxes.clone();
        next.standard_mailbox = new.standard_mailbox.clone();
        notes.insert(
            0,
            format!(
                "{} contact point(s), {} mailbox(es), {} API client(s), {} webhook(s), {} console user(s)",
                next.contact_points.len(),
                next.mailboxes.len(),
                api.clients.len(),
                hooks.len(),
                console.users.len()
            ),
        );
        let fingerprint = webhooks_fingerprint(&hooks);
        let webhooks_changed = {
            let running = self
                .webhooks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            running.1 != fingerprint
        };
        if webhooks_changed {
            self.start_webhooks(hooks)
                .context("the webhook worker could not start")?;
            notes.push("webhooks restarted".to_owned());
        }
        self.metrics.set_certificates(certificate_end_dates(&new));
        self.api.mailboxes.set(next.mailboxes.clone());
        self.api.clients.set(api.clients);
        // A removed user's session ends with its next request (access::signed_in looks the
        // user up by name); a changed role applies from the next request.
        self.console_users.set(console.users);
        self.receiving.settings.set(next);
        Ok(notes.join("; "))
    }

    /// Reload, log the outcome and write it to `serve.reload`.
    pub fn reload(&self) -> ReloadStatus {
        let generation = self
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        let status = match self.apply() {
            Ok(message) => {
                tracing::info!(config = %self.config.display(), summary = %message, "configuration reloaded");
                ReloadStatus {
                    generation,
                    pid: std::process::id(),
                    ok: true,
                    message,
                }
            }
            Err(e) => {
                let message = crate::error_text::of(&e);
                tracing::error!(config = %self.config.display(), error = %message, "the new configuration is refused; the running one stays");
                ReloadStatus {
                    generation,
                    pid: std::process::id(),
                    ok: false,
                    message,
                }
            }
        };
        let path = self.data_dir.join(STATUS_FILE);
        let json = serde_json::to_vec(&status).unwrap_or_default();
        if let Err(e) = super::write_atomically(&path, &json) {
            tracing::warn!(error = %crate::error_text::of(&e), "the reload's outcome could not be recorded");
        }
        status
    }
}

/// The last reload's outcome recorded in `data_dir`, if any.
pub fn last_status(data_dir: &Path) -> Option<ReloadStatus> {
    serde_json::from_slice(&std::fs::read(data_dir.join(STATUS_FILE)).ok()?).ok()
}

/// What became of a request to reload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "serve", rename_all = "kebab-case")]
pub enum Notified {
    /// No `dpost serve` runs on the data folder; it reads the file when it starts.
    NotRunning,
    /// It reloaded.
    Reloaded {
        /// Its process id.
        pid: u32,
        /// What it now runs with.
        message: String,
    },
    /// It refused the file and runs on with the old one.
    Refused {
        /// Its process id.
        pid: u32,
        /// Why.
        message: String,
    },
    /// Whether one runs could not be told (its lock file could not be read).
    Unknown {
        /// Why.
        message: String,
    },
    /// It was signalled but did not answer in time (or could not be signalled).
    NoAnswer {
        /// Its process id.
        pid: u32,
        /// What happened.
        message: String,
    },
}

impl std::fmt::Display for Notified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Notified::NotRunning => f.write_str(
                "no dpost serve runs on this data folder; it reads the file when it starts",
            ),
            Notified::Reloaded { pid, message } => {
                write!(f, "dpost serve (process {pid}) reloaded it: {message}")
            }
            Notified::Refused { pid, message } => write!(
                f,
                "dpost serve (process {pid}) refused it and runs on with its old configuration: {message}"
            ),
            Notified::Unknown { message } => {
                write!(f, "whether a dpost serve runs could not be told: {message}")
            }
            Notified::NoAnswer { pid, message } => {
                write!(f, "dpost serve (process {pid}): {message}")
            }
        }
    }
}

/// Ask the `dpost serve` running on `data_dir` (if one does) to reload, and wait up to
/// `wait` for its answer in `serve.reload`.
pub fn notify(data_dir: &Path, wait: Duration) -> Notified {
    let pid = match crate::store::owner::running_serve(data_dir) {
        Ok(Some(pid)) => pid,
        Ok(None) => return Notified::NotRunning,
        Err(e) => {
            return Notified::Unknown {
                message: e.to_string(),
            };
        }
    };
    let before = last_status(data_dir);
    #[cfg(unix)]
    {
        let Ok(target) = libc::pid_t::try_from(pid) else {
            return Notified::NoAnswer {
                pid,
                message: "its process id is out of range".into(),
            };
        };
        // SAFETY: kill(2) with a process id read from the lock its owner holds right now.
        if unsafe { libc::kill(target, libc::SIGHUP) } != 0 {
            return Notified::NoAnswer {
                pid,
                message: format!(
                    "could not be signalled ({}); send it SIGHUP yourself",
                    std::io::Error::last_os_error()
                ),
            };
        }
    }
    let step = Duration::from_millis(50);
    let rounds = (wait.as_millis() / step.as_millis()).max(1);
    for _ in 0..rounds {
        std::thread::sleep(step);
        match last_status(data_dir) {
            Some(s) if Some(&s) != before.as_ref() && s.pid == pid => {
                return if s.ok {
                    Notified::Reloaded {
                        pid,
                        message: s.message,
                    }
                } else {
                    Notified::Refused {
                        pid,
                        message: s.message,
                    }
                };
            }
            _ => {}
        }
    }
    Notified::NoAnswer {
        pid,
        message: format!(
            "signalled, but it did not confirm a reload within {} seconds; see its log",
            wait.as_secs()
        ),
    }
}
