//! `[ngdp]` and `[serve]`: the receiving system an organisation registers with NgDP.
//!
//! ```toml
//! [serve]
//! listen = "127.0.0.1:8080"       # plain HTTP behind a TLS proxy, or give tls_cert/tls_key
//! public_url = "https://post.example.dk"
//!
//! [ngdp]
//! environment = "test"            # the one `dpost serve` uses by default
//! mailboxes = ["standard", "daycare"]
//! standard_mailbox = "standard"   # messages whose contact point is unknown
//!
//! [ngdp.receipts]
//! give_up_after_days = 7          # then a business receipt stays listed as refused
//!
//! [[ngdp.test.systems]]
//! id = "7c4c7d2e-…"               # the system id from the Administrativ Adgang portal
//! protocol = "push"               # REST_PUSH, or "pull" for REST_PULL
//! authorization = "…"             # or authorization_env / authorization_file
//! api_token_env = "NGDP_TEST_TOKEN"
//! certificate = "foces-test.p12"
//! certificate_password_env = "NGDP_TEST_CERT_PASSWORD"
//!
//! [[ngdp.test.contact_points]]
//! id = "241d39f6-…"
//! label = "Pladsanvisningen"
//! audiences = ["citizens", "companies"]
//! mailbox = "daycare"
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, ConfigFile};
use crate::keystore::PasswordSource;

/// NgDP's API in the test environment.
pub const TEST_API_BASE: &str = "https://api.test.digitalpost.dk/apis/v1";
/// NgDP's API in production.
pub const PRODUCTION_API_BASE: &str = "https://api.digitalpost.dk/apis/v1";
/// The NgDP API base for `environment`: the configured one, else the environment's own,
/// without a trailing slash.
pub fn api_base(configured: Option<&str>, environment: &str) -> String {
    configured
        .unwrap_or(if environment == "production" {
            PRODUCTION_API_BASE
        } else {
            TEST_API_BASE
        })
        .trim_end_matches('/')
        .to_owned()
}

/// Where `dpost serve` listens when the file says nothing.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The largest message body accepted when the file says nothing: ~100 MB of documents in
/// base64 plus headroom.
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = 150 * 1024 * 1024;
/// Seconds a client has to send a request's headers before its connection is closed.
pub const DEFAULT_HEADER_READ_TIMEOUT_SECONDS: u64 = 30;
/// Seconds the push listener waits for the next piece of a body before answering 408.
pub const DEFAULT_BODY_READ_TIMEOUT_SECONDS: u64 = 60;
/// Seconds between polls of a pull-mode system inside `dpost serve`.
pub const DEFAULT_PULL_INTERVAL_SECONDS: u64 = 60;
/// The shortest `[serve] claim_seconds`: a claim must outlast the store calls around one post.
pub const MIN_CLAIM_SECONDS: u64 = 2;
/// The longest `[serve] claim_seconds`: a day. Work a killed replica held waits this long
/// before another takes it over; longer than the defaults' minutes is a mistake, not a choice.
pub const MAX_CLAIM_SECONDS: u64 = 86_400;

/// `[serve]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeTable {
    /// Address and port to listen on.
    pub listen: Option<String>,
    /// The public base URL NgDP reaches this service at (for `dpost portal values`).
    pub public_url: Option<String>,
    /// The server's public IP addresses, to type into the portal.
    #[serde(default)]
    pub public_ips: Vec<String>,
    /// TLS certificate chain (PEM); with `tls_key`, serve HTTPS.
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// Largest message body accepted, bytes.
    pub max_message_bytes: Option<u64>,
    /// Where message files are kept; default: beside the store, `<store>.files`.
    pub data_dir: Option<PathBuf>,
    /// Seconds a client has to send its request headers (slow clients are cut off).
    pub header_read_timeout_seconds: Option<u64>,
    /// Seconds to wait for the next piece of a request body before answering 408.
    pub body_read_timeout_seconds: Option<u64>,
    /// Cap on the protocol component's memory per instance, bytes (default 64 MiB).
    pub guest_memory_limit_bytes: Option<u64>,
    /// Deadline for one call into the protocol component, milliseconds (default 5000).
    pub guest_call_timeout_ms: Option<u64>,
    /// Seconds a replica holds background work it claimed (receipts, sends, webhook
    /// deliveries); default: each kind's own (`docs/scale-out.md`).
    pub claim_seconds: Option<u64>,
}

/// `[ngdp]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NgdpTable {
    /// The environment used when `--environment` is not given.
    pub environment: Option<String>,
    /// The platform's mailboxes that contact points may route to.
    #[serde(default)]
    pub mailboxes: Vec<String>,
    /// The mailbox for messages whose contact point is missing or unknown.
    pub standard_mailbox: Option<String>,
    /// `[ngdp.test]`, `[ngdp.production]`.
    #[serde(default)]
    pub test: Option<EnvironmentTable>,
    /// Production.
    #[serde(default)]
    pub production: Option<EnvironmentTable>,
    /// `[ngdp.receipts]`: the business receipts dpost owes NgDP.
    #[serde(default)]
    pub receipts: ReceiptsTable,
}

/// Days a business receipt is retried before it is given up when the file says nothing:
/// NgDP deactivates a receiving system that fails every delivery for seven days
/// (`docs/design.md`, "Danish Digital Post through NgDP"), so trying longer would not help.
pub const DEFAULT_RECEIPT_GIVE_UP_DAYS: f64 = 7.0;

/// `[ngdp.receipts]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptsTable {
    /// Days a receipt is retried (network errors, 5xx, 401, 403) before it is given up; it
    /// then stays listed as refused until `dpost receipts retry`. A fraction is taken
    /// (`0.5` is twelve hours).
    pub give_up_after_days: Option<f64>,
}

impl NgdpTable {
    /// `[ngdp.production]` for `production`, else `[ngdp.test]`; empty when not written.
    pub fn environment(&self, environment: &str) -> EnvironmentTable {
        match environment {
            "production" => self.production.clone(),
            _ => self.test.clone(),
        }
        .unwrap_or_default()
    }

    /// The mailboxes (`["standard"]` when none are written) and the standard mailbox (the
    /// first when none is named; it may be missing from the list, which the caller refuses).
    pub fn mailboxes(&self) -> (Vec<String>, String) {
        let mailboxes = if self.mailboxes.is_empty() {
            vec!["standard".to_owned()]
        } else {
            self.mailboxes.clone()
        };
        let standard = self
            .standard_mailbox
            .clone()
            .unwrap_or_else(|| mailboxes[0].clone());
        (mailboxes, standard)
    }
}

/// One environment's systems and contact points.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentTable {
    /// NgDP's API base URL; defaults to the environment's official one.
    pub api_base: Option<String>,
    /// Extra CA certificates (PEM) trusted for NgDP's API besides the public roots: for a
    /// simulator or a TLS-inspecting proxy. Never needed for NgDP itself.
    pub api_ca_file: Option<PathBuf>,
    /// `api_base` is a simulator (`dpost sim ngdp`, a test double): `dpost serve` then
    /// starts with systems that have no function certificate or API token. Refused with
    /// NgDP's own API base, and in production.
    #[serde(default)]
    pub simulator: bool,
    /// Sender/receiver systems.
    #[serde(default)]
    pub systems: Vec<SystemTable>,
    /// Contact points.
    #[serde(default)]
    pub contact_points: Vec<ContactPointTable>,
}

/// Push (REST_PUSH) or pull (REST_PULL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// NgDP pushes to our endpoints.
    Push,
    /// We fetch from NgDP.
    Pull,
}

/// A sender/receiver system as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemTable {
    /// The system id (a UUID) from the portal.
    pub id: String,
    /// push or pull.
    pub protocol: Protocol,
    /// The inbound `Authorization` header NgDP sends on pushes, written inline.
    pub authorization: Option<String>,
    /// ...or read from this environment variable.
    pub authorization_env: Option<String>,
    /// ...or from this file.
    pub authorization_file: Option<PathBuf>,
    /// The API token for calls to NgDP, inline (discouraged outside tests).
    pub api_token: Option<String>,
    /// ...or from this environment variable.
    pub api_token_env: Option<String>,
    /// ...or from this file.
    pub api_token_file: Option<PathBuf>,
    /// The function certificate (FOCES3/VOCES3) for mutual TLS: `.p12`/`.pfx` or PEM.
    pub certificate: Option<PathBuf>,
    /// Its password's environment variable.
    pub certificate_password_env: Option<String>,
    /// Its password's file.
    pub certificate_password_file: Option<PathBuf>,
    /// Pull systems: seconds between polls inside `dpost serve`.
    pub pull_interval_seconds: Option<u64>,
    /// How the receipts waiting for the system are read: `ids` (default) or `bulk`.
    pub receipt_listing: Option<ReceiptListing>,
    /// How a batch is posted: `lzma` (default) or `multipart`.
    pub batch_upload: Option<BatchUpload>,
}

/// How the receipts waiting for a system are read (NgDP OpenAPI document 1.68.0;
/// `docs/ngdp-wire.md`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceiptListing {
    /// `GET receipts/` (ids, page by page), then `GET receipts/{id}` and `DELETE receipts/{id}`
    /// for each: every NgDP system may do this.
    #[default]
    Ids,
    /// `GET receipts-bulk/` (whole receipts, a page a call), then `DELETE receipts/{id}` by
    /// each `BulkReceipt`'s `id`. Falls back to `ids` when NgDP answers 404.
    Bulk,
}

/// How a batch (`POST memos/` of a tar.lzma) is sent (NgDP OpenAPI document 1.68.0, SendMemo;
/// `docs/ngdp-wire.md`). Both declare `Content-Length`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BatchUpload {
    /// The archive is the body, `Content-Type: application/x-lzma`.
    #[default]
    Lzma,
    /// `multipart/form-data` with the archive in the part named `file`, of type
    /// `application/x-lzma`.
    Multipart,
}

/// Who may write to a contact point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Audience {
    /// Citizens (CPR).
    Citizens,
    /// Companies (CVR).
    Companies,
    /// Public authorities.
    Authorities,
}

/// A contact point as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactPointTable {
    /// The GUID from the portal.
    pub id: String,
    /// A name for people.
    pub label: Option<String>,
    /// Who may write to it.
    #[serde(default)]
    pub audiences: Vec<Audience>,
    /// Hidden contact points only take replies.
    #[serde(default)]
    pub hidden: bool,
    /// The mailbox its messages go to.
    pub mailbox: String,
    /// The receiving system (id) it is mapped to in the portal; when absent, every system of
    /// the environment (the usual case: one system).
    pub system: Option<String>,
}

/// A secret value: never printed, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value, for the one place that must send or compare it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A system ready to use.
#[derive(Debug, Clone)]
pub struct System {
    /// The system id, lower-case.
    pub id: String,
    /// push or pull.
    pub protocol: Protocol,
    /// The inbound authorization header (push systems).
    pub authorization: Option<Secret>,
    /// The API token for outbound calls.
    pub api_token: Option<Secret>,
    /// The function certificate and its password source.
    pub certificate: Option<(PathBuf, PasswordSource)>,
    /// Seconds between polls (pull systems).
    pub pull_interval_seconds: u64,
    /// How waiting receipts are read.
    pub receipt_listing: ReceiptListing,
    /// How a batch is posted.
    pub batch_upload: BatchUpload,
}

/// A contact point ready to route by.
#[derive(Debug, Clone)]
pub struct ContactPoint {
    /// GUID.
    pub id: String,
    /// Label.
    pub label: Option<String>,
    /// Audiences.
    pub audiences: Vec<Audience>,
    /// Hidden.
    pub hidden: bool,
    /// Mailbox.
    pub mailbox: String,
    /// The system it belongs to, lower-case; `None` for every system.
    pub system: Option<String>,
}

/// Everything `dpost serve` and the NgDP commands need for one environment.
#[derive(Debug, Clone)]
pub struct NgdpSettings {
    /// `test` or `production`.
    pub environment: String,
    /// NgDP's API base, without a trailing `/`.
    pub api_base: String,
    /// Extra CA certificates trusted for the API (`api_ca_file`).
    pub api_ca: Option<PathBuf>,
    /// The systems.
    pub systems: Vec<System>,
    /// The contact points.
    pub contact_points: Vec<ContactPoint>,
    /// Every mailbox.
    pub mailboxes: Vec<String>,
    /// The standard mailbox.
    pub standard_mailbox: String,
    /// `simulator = true`: `api_base` is a simulator, credentials may be absent.
    pub simulator: bool,
    /// Seconds a business receipt is retried before it is given up.
    pub receipt_give_up_after_seconds: i64,
}

/// `[serve]` ready to use.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// Listen address.
    pub listen: String,
    /// Public URL.
    pub public_url: Option<String>,
    /// Public IPs.
    pub public_ips: Vec<String>,
    /// TLS certificate and key.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Body limit.
    pub max_message_bytes: u64,
    /// Message files.
    pub data_dir: PathBuf,
    /// Time a client has to send its request headers.
    pub header_read_timeout: std::time::Duration,
    /// Longest wait for the next piece of a request body.
    pub body_read_timeout: std::time::Duration,
    /// The component's memory cap per instance, bytes, when set.
    pub guest_memory_limit: Option<usize>,
    /// The deadline of one component call, when set.
    pub guest_call_timeout: Option<std::time::Duration>,
    /// `claim_seconds`: how long every claim on background work lasts, when set; `None`
    /// keeps each kind's default (receipts and sends [`crate::ngdp::outbox::CLAIM_SECONDS`],
    /// a webhook delivery its time limit and a margin).
    pub claim_seconds: Option<i64>,
}

impl NgdpSettings {
    /// The system with this id (any case).
    pub fn system(&self, id: &str) -> Option<&System> {
        self.systems
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(id.trim()))
    }
}

/// True for the canonical 8-4-4-4-12 hexadecimal GUID form.
pub fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// A secret from exactly one of `what` (inline), `what_env` or `what_file`; `None` when none is
/// given. Errors name the key and its line.
pub(crate) fn secret(
    file: &ConfigFile,
    table: &str,
    inline: &Option<String>,
    env: &Option<String>,
    path: &Option<PathBuf>,
    what: &str,
) -> Result<Option<Secret>, ConfigError> {
    let given = [inline.is_some(), env.is_some(), path.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if given > 1 {
        return Err(file.error(
            table,
            what,
            format!("give only one of {what}, {what}_env and {what}_file"),
        ));
    }
    if let Some(v) = inline {
        return Ok(Some(Secret(v.clone())));
    }
    if let Some(var) = env {
        return std::env::var(var).map(|v| Some(Secret(v))).map_err(|_| {
            file.error(
                table,
                &format!("{what}_env"),
                format!("the environment variable {var} is not set"),
            )
        });
    }
    if let Some(p) = path {
        let p = file.resolve_path(p);
        return std::fs::read_to_string(&p)
            .map(|v| Some(Secret(v.trim_end_matches(['\r', '\n']).to_owned())))
            .map_err(|e| {
                file.error(
                    table,
                    &format!("{what}_file"),
                    format!("cannot read {}: {e}", p.display()),
                )
            });
    }
    Ok(None)
}

impl ConfigFile {
    /// The environment to use: `flag`, else `[ngdp] environment`, else `test`.
    pub fn ngdp_environment(&self, flag: Option<&str>) -> Result<String, ConfigError> {
        let env = flag
            .map(str::to_owned)
            .or_else(|| self.config.ngdp.environment.clone())
            .unwrap_or_else(|| "test".into());
        match env.as_str() {
            "test" | "production" => Ok(env),
            other => Err(self.error(
                "ngdp",
                "environment",
                format!("{other:?} is not test or production"),
            )),
        }
    }

    /// Resolve `[ngdp]` for one environment, reading secrets from where the file says, and
    /// checking what would make the service misroute or refuse everything. The first
    /// problem, when there is one ([`ConfigFile::ngdp_problems`] lists them all).
    pub fn ngdp(&self, environment: Option<&str>) -> Result<NgdpSettings, ConfigError> {
        let (settings, mut problems) = self.ngdp_problems(environment);
        match settings {
            Some(s) if problems.is_empty() => Ok(s),
            _ => Err(problems.remove(0)),
        }
    }

    /// [`ConfigFile::ngdp`] with every problem found, each with its key and line; the
    /// settings when there is none that stops them being built.
    pub fn ngdp_problems(
        &self,
        environment: Option<&str>,
    ) -> (Option<NgdpSettings>, Vec<ConfigError>) {
        let mut problems = Vec::new();
        let environment = match self.ngdp_environment(environment) {
            Ok(e) => e,
            Err(e) => return (None, vec![e]),
        };
        let ngdp = &self.config.ngdp;
        let table = format!("ngdp.{environment}");
        let env_table = ngdp.environment(&environment);
        let api_base = api_base(env_table.api_base.as_deref(), &environment);
        let (mailboxes, standard_mailbox) = ngdp.mailboxes();
        if !mailboxes.contains(&standard_mailbox) {
            problems.push(self.error(
                "ngdp",
                "standard_mailbox",
                format!("{standard_mailbox:?} is not in mailboxes"),
            ));
        }
        let mut systems = Vec::new();
        for (i, s) in env_table.systems.iter().enumerate() {
            let at = format!("{table}.systems[{i}]");
            if !is_guid(s.id.trim()) {
                problems.push(self.error_in_array(&format!("{table}.systems"), i, "id", format!("{:?} is not a system id (a UUID like 7c4c7d2e-0b1a-4c5e-9f00-123456789abc)", s.id)));
                continue;
            }
            if systems
                .iter()
                .any(|x: &System| x.id.eq_ignore_ascii_case(s.id.trim()))
            {
                problems.push(self.error_in_array(
                    &format!("{table}.systems"),
                    i,
                    "id",
                    "the same system id is configured twice",
                ));
                continue;
            }
            let authorization = secret(
                self,
                &at,
                &s.authorization,
                &s.authorization_env,
                &s.authorization_file,
                "authorization",
            )
            .unwrap_or_else(|e| {
                problems.push(e);
                None
            });
            if s.protocol == Protocol::Push
                && authorization
                    .as_ref()
                    .is_none_or(|a| a.expose().trim().is_empty())
                && !problems.iter().any(|p| {
                    p.key
                        .as_deref()
                        .is_some_and(|k| k.starts_with(&format!("{at}.")))
                })
            {
                problems.push(self.error_in_array(&format!("{table}.systems"), i, "authorization", "a push system needs the authorization header NgDP sends (authorization, authorization_env or authorization_file)"));
            }
            let api_token = secret(
                self,
                &at,
                &s.api_token,
                &s.api_token_env,
                &s.api_token_file,
                "api_token",
            )
            .unwrap_or_else(|e| {
                problems.push(e);
                None
            });
            let certificate = s.certificate.as_ref().map(|c| {
                let password = match (&s.certificate_password_env, &s.certificate_password_file) {
                    (Some(v), _) => PasswordSource::Env(v.clone()),
                    (None, Some(f)) => PasswordSource::File(self.resolve_path(f)),
                    (None, None) => PasswordSource::None,
                };
                (self.resolve_path(c), password)
            });
            systems.push(System {
                id: s.id.trim().to_ascii_lowercase(),
                protocol: s.protocol,
                authorization,
                api_token,
                certificate,
                pull_interval_seconds: s
                    .pull_interval_seconds
                    .unwrap_or(DEFAULT_PULL_INTERVAL_SECONDS)
                    .max(1),
                receipt_listing: s.receipt_listing.unwrap_or_default(),
                batch_upload: s.batch_upload.unwrap_or_default(),
            });
        }
        let mut contact_points: Vec<ContactPoint> = Vec::new();
        for (i, c) in env_table.contact_points.iter().enumerate() {
            let arr = format!("{table}.contact_points");
            if !is_guid(c.id.trim()) {
                problems.push(self.error_in_array(
                    &arr,
                    i,
                    "id",
                    format!("{:?} is not a contact point GUID", c.id),
                ));
                continue;
            }
            if contact_points
                .iter()
                .any(|x| x.id.eq_ignore_ascii_case(c.id.trim()))
            {
                problems.push(self.error_in_array(
                    &arr,
                    i,
                    "id",
                    "the same contact point is configured twice",
                ));
                continue;
            }
            if !mailboxes.contains(&c.mailbox) {
                problems.push(self.error_in_array(
                    &arr,
                    i,
                    "mailbox",
                    format!(
                        "{:?} is not one of [ngdp] mailboxes {:?}",
                        c.mailbox, mailboxes
                    ),
                ));
                continue;
            }
            if c.audiences.is_empty() {
                problems.push(self.error_in_array(
                    &arr,
                    i,
                    "audiences",
                    "give at least one of citizens, companies, authorities",
                ));
                continue;
            }
            if let Some(sys) = &c.system
                && !systems
                    .iter()
                    .any(|s| s.id.eq_ignore_ascii_case(sys.trim()))
            {
                problems.push(self.error_in_array(
                    &arr,
                    i,
                    "system",
                    format!("{sys:?} is not a system of [{table}]"),
                ));
                continue;
            }
            contact_points.push(ContactPoint {
                id: c.id.trim().to_ascii_lowercase(),
                label: c.label.clone(),
                audiences: c.audiences.clone(),
                hidden: c.hidden,
                mailbox: c.mailbox.clone(),
                system: c.system.as_ref().map(|s| s.trim().to_ascii_lowercase()),
            });
        }
        let give_up_days = match ngdp.receipts.give_up_after_days {
            Some(d) if !(d > 0.0 && d <= 3650.0) => {
                problems.push(self.error(
                    "ngdp.receipts",
                    "give_up_after_days",
                    format!("{d} is not a number of days above 0 and at most 3650"),
                ));
                DEFAULT_RECEIPT_GIVE_UP_DAYS
            }
            Some(d) => d,
            None => DEFAULT_RECEIPT_GIVE_UP_DAYS,
        };
        let settings = NgdpSettings {
            simulator: env_table.simulator,
            receipt_give_up_after_seconds: ((give_up_days * 86_400.0).round() as i64).max(1),
            environment,
            api_base,
            api_ca: env_table.api_ca_file.as_ref().map(|p| self.resolve_path(p)),
            systems,
            contact_points,
            mailboxes,
            standard_mailbox,
        };
        (Some(settings), problems)
    }

    /// Resolve `[serve]`.
    pub fn serve(&self) -> Result<ServeSettings, ConfigError> {
        let t = &self.config.serve;
        let listen = t
            .listen
            .clone()
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        if listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(self.error(
                "serve",
                "listen",
                format!("{listen:?} is not an address like 127.0.0.1:8080"),
            ));
        }
        let tls = self.tls_files("serve", t.tls_cert.as_deref(), t.tls_key.as_deref())?;
        let data_dir = match &t.data_dir {
            Some(d) => self.resolve_path(d),
            None => {
                let mut p = self.store_path().into_os_string();
                p.push(".files");
                PathBuf::from(p)
            }
        };
        let seconds = |key: &str, value: Option<u64>, default: u64| match value {
            Some(0) => Err(self.error("serve", key, "must be at least 1")),
            v => Ok(std::time::Duration::from_secs(v.unwrap_or(default))),
        };
        let header_read_timeout = seconds(
            "header_read_timeout_seconds",
            t.header_read_timeout_seconds,
            DEFAULT_HEADER_READ_TIMEOUT_SECONDS,
        )?;
        let body_read_timeout = seconds(
            "body_read_timeout_seconds",
            t.body_read_timeout_seconds,
            DEFAULT_BODY_READ_TIMEOUT_SECONDS,
        )?;
        if t.guest_memory_limit_bytes.is_some_and(|b| b < 1 << 20) {
            return Err(self.error(
                "serve",
                "guest_memory_limit_bytes",
                "must be at least 1048576 (1 MiB)",
            ));
        }
        if t.guest_call_timeout_ms == Some(0) {
            return Err(self.error("serve", "guest_call_timeout_ms", "must be at least 1"));
        }
        if let Some(c) = t.claim_seconds
            && !(MIN_CLAIM_SECONDS..=MAX_CLAIM_SECONDS).contains(&c)
        {
            return Err(self.error(
                "serve",
                "claim_seconds",
                format!(
                    "{c} is not between {MIN_CLAIM_SECONDS} and {MAX_CLAIM_SECONDS} (seconds a replica holds work it claimed)"
                ),
            ));
        }
        Ok(ServeSettings {
            claim_seconds: t.claim_seconds.map(|c| c as i64),
            header_read_timeout,
            body_read_timeout,
            guest_memory_limit: t
                .guest_memory_limit_bytes
                .map(|b| usize::try_from(b).unwrap_or(usize::MAX)),
            guest_call_timeout: t
                .guest_call_timeout_ms
                .map(std::time::Duration::from_millis),
            listen,
            public_url: t.public_url.clone(),
            public_ips: t.public_ips.clone(),
            tls,
            max_message_bytes: t.max_message_bytes.unwrap_or(DEFAULT_MAX_MESSAGE_BYTES),
            data_dir,
        })
    }
}

/// Contact points as the routing decision takes them, by GUID.
pub fn routes(settings: &NgdpSettings) -> BTreeMap<String, String> {
    settings
        .contact_points
        .iter()
        .map(|c| (c.id.clone(), c.mailbox.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ConfigFile {
        ConfigFile::parse(PathBuf::from("dpost.toml"), text.to_owned()).unwrap()
    }

    const GOOD: &str = r#"
[ngdp]
mailboxes = ["standard", "daycare"]

[[ngdp.test.systems]]
id = "7C4C7D2E-0B1A-4C5E-9F00-123456789ABC"
protocol = "push"
authorization = "Basic c2VjcmV0"

[[ngdp.test.contact_points]]
id = "241d39f6-998e-4929-b198-ccacbbf4b330"
audiences = ["citizens"]
mailbox = "daycare"
"#;

    #[test]
    fn resolves_a_good_file() {
        let s = parse(GOOD).ngdp(None).unwrap();
        assert_eq!(s.environment, "test");
        assert_eq!(s.api_base, TEST_API_BASE);
        assert_eq!(s.standard_mailbox, "standard");
        assert_eq!(s.systems[0].id, "7c4c7d2e-0b1a-4c5e-9f00-123456789abc");
        assert!(s.system("7C4C7D2E-0B1A-4C5E-9F00-123456789ABC").is_some());
        assert!(
            !format!("{s:?}").contains("c2VjcmV0"),
            "secrets never print"
        );
    }

    #[test]
    fn errors_name_the_key_and_line() {
        let bad = GOOD.replace("mailbox = \"daycare\"", "mailbox = \"nursery\"");
        let e = parse(&bad).ngdp(None).unwrap_err();
        assert_eq!(e.line, Some(13), "{e}");
        assert!(e.to_string().contains("nursery"), "{e}");

        let bad = GOOD.replace("authorization = \"Basic c2VjcmV0\"", "");
        let e = parse(&bad).ngdp(None).unwrap_err();
        assert!(e.to_string().contains("authorization"), "{e}");

        let bad = GOOD.replace("7C4C7D2E-0B1A-4C5E-9F00-123456789ABC", "not-a-uuid");
        let e = parse(&bad).ngdp(None).unwrap_err();
        assert_eq!(e.line, Some(6), "{e}");
    }

    #[test]
    fn serve_timeouts_and_guest_limits() {
        let s = parse("").serve().unwrap();
        assert_eq!(
            s.header_read_timeout.as_secs(),
            DEFAULT_HEADER_READ_TIMEOUT_SECONDS
        );
        assert_eq!(
            s.body_read_timeout.as_secs(),
            DEFAULT_BODY_READ_TIMEOUT_SECONDS
        );
        assert_eq!((s.guest_memory_limit, s.guest_call_timeout), (None, None));
        assert_eq!(s.claim_seconds, None);
        let s = parse(
            "[serve]\nheader_read_timeout_seconds = 2\nbody_read_timeout_seconds = 3\nguest_memory_limit_bytes = 8388608\nguest_call_timeout_ms = 250\nclaim_seconds = 5\n",
        )
        .serve()
        .unwrap();
        assert_eq!(s.header_read_timeout.as_secs(), 2);
        assert_eq!(s.body_read_timeout.as_secs(), 3);
        assert_eq!(s.guest_memory_limit, Some(8 << 20));
        assert_eq!(s.guest_call_timeout.map(|d| d.as_millis()), Some(250));
        assert_eq!(s.claim_seconds, Some(5));
        for bad in [
            "header_read_timeout_seconds = 0",
            "body_read_timeout_seconds = 0",
            "guest_memory_limit_bytes = 1000",
            "guest_call_timeout_ms = 0",
            "claim_seconds = 0",
            "claim_seconds = 1",
            "claim_seconds = 86401",
        ] {
            let e = parse(&format!("[serve]\n{bad}\n")).serve().unwrap_err();
            assert_eq!(e.line, Some(2), "{bad}: {e}");
        }
        let e = parse("[serve]\nclaim_seconds = 0\n").serve().unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("claim_seconds") && text.contains("between 2 and 86400"),
            "{text}"
        );
    }

    #[test]
    fn guids() {
        assert!(is_guid("241d39f6-998e-4929-b198-ccacbbf4b330"));
        assert!(!is_guid("241d39f6998e4929b198ccacbbf4b330"));
        assert!(!is_guid("241d39f6-998e-4929-b198-ccacbbf4b33g"));
    }
}
