//! `dpost doctor`: the NgDP set-up guide's four steps, checked.
//!
//! The guide (docs/seeds/ngdp-setup-guide.txt) asks an organisation, for the test and the
//! production environment each, to (1) acquire and install a function certificate, (2) ensure
//! Internet access, (3) configure the sender/receiver system and (4) configure contact points.
//! A fifth step is dpost's own: (5) its store's files are private to the service's user.
//! Most failed go-lives are a wrong certificate, a blocked port or a mistyped endpoint, so each
//! step becomes a list of [`Check`]s that say what was found and, when it is not right, what to
//! do about it.
//!
//! The checks work from the configuration as written (not from [`ConfigFile::ngdp`], which
//! stops at the first problem), so that one run lists every problem. Time comes from a
//! [`Clock`] so that certificate expiry can be judged at a fixed "now" in tests, or at a planned
//! go-live date (`--at`).

pub mod certificate;
pub mod contact_points;
pub mod network;
pub mod store;
pub mod system;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::clock::Clock;
use crate::config::ConfigFile;
use crate::config::ngdp::EnvironmentTable;

/// The default time limit for each network check.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A certificate expiring sooner than this is a warning.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// As it should be.
    Ok,
    /// Works, but needs attention soon (a certificate about to expire, an odd subject).
    Warning,
    /// Will not work: NgDP will refuse, or messages will go astray.
    Failed,
}

impl Status {
    /// The mark shown in the table.
    pub fn mark(self) -> &'static str {
        match self {
            Status::Ok => "✓",
            Status::Warning => "!",
            Status::Failed => "✗",
        }
    }
}

/// The set-up guide's steps, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// 1. Acquire and install a certificate.
    Certificate,
    /// 2. Ensure Internet access.
    Network,
    /// 3. Configure the sender/receiver system.
    System,
    /// 4. Configure contact points.
    ContactPoints,
    /// 5. dpost's own store (not a step of the guide): private files.
    Store,
}

impl Step {
    /// The heading, as the guide names the step.
    pub fn title(self) -> &'static str {
        match self {
            Step::Certificate => "1. Certificate (FOCES3/VOCES3 function certificate)",
            Step::Network => "2. Internet access",
            Step::System => "3. Sender/receiver system",
            Step::ContactPoints => "4. Contact points",
            Step::Store => "5. Store (the database and message files dpost keeps)",
        }
    }

    /// Every step, in order.
    pub const ALL: [Step; 5] = [
        Step::Certificate,
        Step::Network,
        Step::System,
        Step::ContactPoints,
        Step::Store,
    ];
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// The set-up step it belongs to.
    pub step: Step,
    /// What was checked, short ("certificate opens").
    pub name: String,
    /// What it was checked for: a system id, a URL, a contact point; empty when the whole
    /// environment.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subject: String,
    /// Ok, warning or failed.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do; always given for warnings and failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Where in the configuration (`dpost.toml:12 (ngdp.test.systems[0].id)`), when it is
    /// about one place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

impl Check {
    /// A passed check.
    pub fn ok(step: Step, name: &str, subject: &str, detail: impl Into<String>) -> Self {
        Check {
            step,
            name: name.into(),
            subject: subject.into(),
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
            location: None,
        }
    }

    /// A warning, with what to do.
    pub fn warning(
        step: Step,
        name: &str,
        subject: &str,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Check {
            status: Status::Warning,
            fix: Some(fix.into()),
            ..Check::ok(step, name, subject, detail)
        }
    }

    /// A failure, with what to do.
    pub fn failed(
        step: Step,
        name: &str,
        subject: &str,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Check {
            status: Status::Failed,
            fix: Some(fix.into()),
            ..Check::ok(step, name, subject, detail)
        }
    }

    /// The same check, pointing at a place in the configuration.
    pub fn at(mut self, location: impl std::fmt::Display) -> Self {
        self.location = Some(location.to_string());
        self
    }
}

/// What the doctor needs besides the configuration.
#[derive(Debug, Clone)]
pub struct Options {
    /// `test` or `production`.
    pub environment: String,
    /// Time limit for each network check.
    pub timeout: Duration,
    /// The public base URL to probe with `GET /healthz` (push systems).
    pub public_url: Option<String>,
    /// Skip the network step (for a machine that is not the server).
    pub offline: bool,
    /// "Now".
    pub clock: Arc<dyn Clock>,
}

/// Every check of one environment.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The environment checked.
    pub environment: String,
    /// The configuration file.
    pub config: String,
    /// The time certificates were judged at (Unix seconds).
    pub checked_at: i64,
    /// The network step was skipped (`--offline`).
    pub offline: bool,
    /// The checks, grouped by step in the guide's order.
    pub checks: Vec<Check>,
}

impl Report {
    /// The worst status; `Ok` when there are no checks.
    pub fn worst(&self) -> Status {
        self.checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(Status::Ok)
    }

    /// How many checks came out `status`.
    pub fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// The human table: the four steps, a mark per check, what to do under each problem.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "dpost doctor: the {} environment in {}",
            self.environment, self.config
        );
        for step in Step::ALL {
            let _ = writeln!(out, "\n{}", step.title());
            let checks: Vec<&Check> = self.checks.iter().filter(|c| c.step == step).collect();
            if checks.is_empty() {
                let _ = writeln!(
                    out,
                    "  - {}",
                    if step == Step::Network && self.offline {
                        "skipped (--offline)"
                    } else {
                        "nothing to check"
                    }
                );
            }
            for c in checks {
                let subject = if c.subject.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", c.subject)
                };
                let _ = writeln!(
                    out,
                    "  {} {}{}: {}",
                    c.status.mark(),
                    c.name,
                    subject,
                    c.detail
                );
                if let Some(l) = &c.location {
                    let _ = writeln!(out, "      at {l}");
                }
                if let Some(f) = &c.fix {
                    let _ = writeln!(out, "      → {f}");
                }
            }
        }
        let _ = writeln!(
            out,
            "\n{} ok, {} warning(s), {} failed",
            self.count(Status::Ok),
            self.count(Status::Warning),
            self.count(Status::Failed)
        );
        out
    }
}

/// The environment's table as written, or an empty one.
pub(crate) fn environment_table(file: &ConfigFile, environment: &str) -> EnvironmentTable {
    file.config.ngdp.environment(environment)
}

/// Run every check for `options.environment`.
pub async fn run(file: &ConfigFile, options: &Options) -> Report {
    let now = options.clock.now_unix();
    let mut checks = Vec::new();
    let certs = certificate::check(file, &options.environment, now);
    checks.extend(certs.checks.iter().cloned());
    let systems = system::check(file, &options.environment);
    if !options.offline {
        checks.extend(network::check(file, options, &certs).await);
    }
    checks.extend(systems);
    checks.extend(contact_points::check(file, &options.environment));
    checks.extend(store::check(file));
    // Grouped by step, in the order each step found them.
    checks.sort_by_key(|c| c.step);
    Report {
        environment: options.environment.clone(),
        config: file
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| crate::config::DEFAULT_FILE.into()),
        checked_at: now,
        offline: options.offline,
        checks,
    }
}

/// `unix` as an RFC 3339 date and time (UTC).
pub(crate) fn format_time(unix: i64) -> String {
    let t = if unix >= 0 {
        std::time::UNIX_EPOCH + Duration::from_secs(unix as u64)
    } else {
        std::time::UNIX_EPOCH - Duration::from_secs(unix.unsigned_abs())
    };
    humantime::format_rfc3339_seconds(t).to_string()
}

/// True when a configured secret is obviously not the real thing: empty, an ellipsis, an
/// angle-bracket placeholder, or one of the words people leave in templates as a whole word
/// (so a random token that happens to contain "xxx" inside it is not taken for one).
pub(crate) fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    if v.is_empty() || v.contains('…') || v.contains("...") || (v.contains('<') && v.contains('>'))
    {
        return true;
    }
    let words = [
        "changeme",
        "placeholder",
        "replace",
        "todo",
        "xxx",
        "xxxx",
        "xxxxx",
        "example",
        "your",
        "dummy",
    ];
    v.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| words.contains(&w.to_ascii_lowercase().as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        assert!(is_placeholder(""));
        assert!(is_placeholder("Basic …"));
        assert!(is_placeholder("<authorization header from the portal>"));
        assert!(is_placeholder("CHANGEME"));
        assert!(is_placeholder("Bearer xxx"));
        assert!(is_placeholder("your-token-here"));
        assert!(!is_placeholder("Bearer 3q2-7Zk1mXq9bVw0a8sYpL4nR6tUe5"));
        assert!(
            !is_placeholder("Bearer aXXXb_todoit-Kq"),
            "only whole words count"
        );
    }

    #[test]
    fn times() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(1_900_000_000), "2030-03-17T17:46:40Z");
    }
}
