//! `dpost config init | check`: a starting configuration, and a precise check of one.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;
use clap::Subcommand;
use ring::rand::{SecureRandom as _, SystemRandom};

use super::Exit;
use crate::config::ConfigFile;

/// Configuration commands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Write a commented starting configuration with a generated test system (a fresh system
    /// id and a random inbound authorization header), ready for `dpost serve`.
    Init {
        /// Where to write it.
        #[arg(default_value = "dpost.toml")]
        path: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Check a configuration: every problem with its key and line.
    Check {
        /// The file.
        #[arg(long, value_name = "FILE", default_value = "dpost.toml")]
        config: PathBuf,
    },
}

/// The configuration file at `path`, which commands that act on a set-up system need: a
/// missing one is an error that says how to make it, not an empty configuration.
pub(super) fn load_existing(path: &Path) -> anyhow::Result<ConfigFile> {
    if !path.exists() {
        let looked = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        anyhow::bail!(
            "no configuration: {} does not exist (looked for {}); write one with `dpost config init {}` or give --config FILE",
            path.display(),
            looked.display(),
            path.display()
        );
    }
    Ok(ConfigFile::load(Some(path))?)
}

fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 24];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("the system's random number generator failed"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The starting file.
pub fn template(system_id: &str, authorization: &str, contact_point: &str) -> String {
    format!(
        r#"# dpost configuration. Every key is explained here; `dpost config check` finds mistakes
# and names their line. Paths are relative to this file's folder.

[store]
# The embedded store (SQLite, WAL, every commit fsynced). Message files live beside it in
# "<path>.files" unless [serve] data_dir says otherwise.
path = "dpost.db"
# Or PostgreSQL, shared by several `dpost serve` replicas behind a load balancer
# (docs/scale-out.md); the environment variable DPOST_STORE_URL overrides this. TLS to the
# server follows sslmode (disable | prefer | require), with Mozilla's root certificates.
# url = "postgres://dpost:PASSWORD@db.example.internal:5432/dpost?sslmode=require"
# Days a message is kept after it was acknowledged, per mailbox (`dpost store purge`); a
# mailbox not listed keeps its messages. Nothing unacknowledged or still owed a business
# receipt is ever purged.
# retention_days = {{ standard = 3650 }}
# Hours between purges inside `dpost serve`; off unless set.
# purge_interval_hours = 24
# The platform API and the console borrow connections to the store from a pool of at most
# this many (at least 1); a request that finds them all busy for connection_wait_seconds
# is answered 503 (repeat it). On SQLite readers run in parallel and writers take turns; on
# PostgreSQL each is a server connection, so count them against max_connections for every
# replica.
# connections = 8
# connection_wait_seconds = 10

[serve]
# Where `dpost serve` listens. Plain HTTP is for a TLS-terminating reverse proxy in front;
# for HTTPS give tls_cert and tls_key (PEM).
listen = "127.0.0.1:8080"
# tls_cert = "server.crt"
# tls_key = "server.key"
# The public base URL NgDP reaches this service at; `dpost portal values` prints the
# endpoints to register from it, and `dpost doctor --public-url URL` checks it answers.
# public_url = "https://post.example.dk"
# The server's public IP addresses, which the portal asks for (`dpost portal values`).
# public_ips = ["203.0.113.10"]
# Largest message accepted (bytes). NgDP messages carry up to ~100 MB of documents.
max_message_bytes = 157286400
# Slow clients: seconds to send the request headers (the connection is then closed), and
# seconds to wait for the next piece of a body (then 408).
# header_read_timeout_seconds = 30
# body_read_timeout_seconds = 60
# The protocol component's limits: memory per instance and the deadline of one call.
# guest_memory_limit_bytes = 67108864
# guest_call_timeout_ms = 5000
# Several `dpost serve` on one PostgreSQL store (docs/scale-out.md): seconds a replica holds
# background work it claimed (a business receipt, a send, a webhook delivery). A killed
# replica's work waits this long before another replica takes it over. Default: 180 for
# receipts and sends, a webhook's timeout_seconds + 30 for its deliveries. Shorter takes
# over sooner, but keep it above the longest post (60 s to NgDP, each timeout_seconds):
# a replica still posting when its claim ends may see the same item posted again by
# another (NgDP and receivers de-duplicate by its id). 2 to 86400.
# claim_seconds = 180

[api]
# The platform API (docs/api.md): a second listener of `dpost serve`, for the case-management
# platform, never the public one NgDP reaches. /metrics is served here too. Keep it on
# loopback or a private network; for HTTPS give tls_cert and tls_key (PEM).
# tls_cert = "api.crt"
# tls_key = "api.key"
# Events (GET /api/v1/events, its stream, webhooks) are deleted after this many days, except
# those a webhook still has to deliver. A platform asking for events after an older position
# is answered 410 with where to resume, so it knows it missed some.
events_retention_days = 30
# Clients, each with a bearer token of its own. Make one with
#   dpost api token create casework --scope messages:read --scope messages:ack [--mailbox post]
# which prints the token once and adds an [[api.clients]] entry below this table (name,
# token_sha256, scopes, and mailboxes when given); only the token's SHA-256 is kept.
# Scopes: messages:read, messages:ack, send, receipts, admin. With `mailboxes`, the client
# sees only those mailboxes' messages, and any other as not found.
listen = "127.0.0.1:8081"

# Webhooks: dpost posts each event (message.received, message.invalid, receipt.received,
# outgoing.status_changed, digipost.document_archived) to the platform, signed as Standard
# Webhooks, retried with backoff until give_up_after_hours, then kept as failed for
# `dpost webhooks list` / `retry`. The secret (whsec_ and base64) comes from the environment.
# [[api.webhooks]]
# url = "https://casework.example.dk/dpost/events"   # https (http only to a loopback address)
# secret_env = "DPOST_WEBHOOK_SECRET"
# events = ["message.received", "message.invalid"]    # default: every type
# mailboxes = ["post"]                                 # default: every mailbox
# timeout_seconds = 10
# give_up_after_hours = 72

# The operator console (docs/console.md): web pages at / of the API listener for the people
# who run Digital Post. Add users with
#   echo "$PASSWORD" | dpost console user add NAME --role viewer|operator|admin --password-stdin
# which hashes the password with argon2id and appends a [[console.users]] entry (name, role,
# password_hash). Viewers see; operators also acknowledge, move and retry; admins also read
# the audit log. Sessions are signed with console-session.key in the data folder (made on
# first start, mode 0600) unless session_secret_env names a variable holding a secret.
# [console]
# session_hours = 8
# session_secret_env = "DPOST_CONSOLE_SECRET"

[ngdp]
# The environment `dpost serve` uses unless --environment says otherwise.
environment = "test"
# The platform's mailboxes. Contact points route to them; the standard mailbox takes
# messages whose contact point is missing or unknown (never nowhere).
mailboxes = ["standard", "post"]
standard_mailbox = "standard"

# Business receipts owed to NgDP are retried with backoff (network errors, 5xx, and 401/403,
# which mean the API token or certificate is wrong) for this many days, then given up: they
# stay listed as refused with NgDP's reason (`dpost receipts list --state refused`) until
# `dpost receipts retry ID`. 7 is NgDP's own window: it deactivates a system that fails for
# seven days.
# [ngdp.receipts]
# give_up_after_days = 7

# The test environment: where business receipts, pulls and sends go. This starting file
# points at the NgDP simulator (`dpost sim ngdp --listen 127.0.0.1:8090`), so nothing goes to
# NgDP without credentials: `simulator = true` lets `dpost serve` start with systems that have
# no certificate or API token (never with NgDP's own API, never in production). For NgDP's
# test environment remove api_base (it defaults to https://api.test.digitalpost.dk/apis/v1)
# and simulator, and give the system api_token_env and certificate below. api_ca_file trusts
# a simulator's own TLS CA.
[ngdp.test]
api_base = "http://127.0.0.1:8090/apis/v1"
simulator = true
# api_ca_file = "sim-ca.pem"

# A sender/receiver system, as registered in the Administrativ Adgang portal. This one is
# generated for trying dpost out; replace id and authorization with the portal's values.
# `dpost doctor` checks this whole file step by step, each problem with what to do.
[[ngdp.test.systems]]
id = "{system_id}"
# push (REST_PUSH: NgDP posts to us) or pull (REST_PULL: we fetch).
protocol = "push"
# The Authorization header NgDP sends on every push. Prefer authorization_env or
# authorization_file for real systems; the value never appears in logs.
authorization = "{authorization}"
# For calls to NgDP (business receipts, pull): the API token and the FOCES3/VOCES3
# function certificate (.p12/.pfx) with its access code. Each environment needs its own;
# `dpost serve` refuses to start without them unless [ngdp.test] simulator = true.
# api_token_env = "NGDP_TEST_API_TOKEN"
# certificate = "foces-test.p12"
# certificate_password_env = "NGDP_TEST_CERT_PASSWORD"
# Receipts for messages this system sent: "ids" reads GET receipts/ then each receipt
# (default); "bulk" reads whole pages from GET receipts-bulk/ (faster; back to "ids" if NgDP
# answers 404 there).
# receipt_listing = "ids"
# How `dpost ngdp send` posts several messages: "lzma" sends the tar.lzma archive as the body
# (application/x-lzma, default); "multipart" sends it as multipart/form-data, part "file".
# Both declare Content-Length, as NgDP's API requires.
# batch_upload = "lzma"

# A contact point (GUID from the portal) and the mailbox its messages go to. Create at least
# one per system: without it replies land in the standard mailbox. Audiences: citizens,
# companies, authorities (at least one). With several systems, `system = "<id>"` says which
# one it belongs to (default: every system). Many at once: `dpost contact-points import`.
[[ngdp.test.contact_points]]
id = "{contact_point}"
label = "Post"
audiences = ["citizens", "companies", "authorities"]
hidden = false
mailbox = "post"

# The production environment has its own systems, contact points and certificate (never the
# test one: each environment needs a unique certificate). `dpost doctor --environment
# production` checks it.
# [[ngdp.production.systems]]
# id = "<system id from the production portal>"
# protocol = "push"
# authorization_env = "NGDP_PRODUCTION_AUTHORIZATION"
# api_token_env = "NGDP_PRODUCTION_API_TOKEN"
# certificate = "foces-production.p12"
# certificate_password_env = "NGDP_PRODUCTION_CERT_PASSWORD"
#
# [[ngdp.production.contact_points]]
# id = "<GUID from the production portal>"
# audiences = ["citizens"]
# mailbox = "post"
"#
    )
}

impl ConfigCommand {
    pub fn run(self) -> anyhow::Result<Exit> {
        match self {
            ConfigCommand::Init { path, force } => init(&path, force),
            ConfigCommand::Check { config } => check(&config),
        }
    }
}

fn init(path: &Path, force: bool) -> anyhow::Result<Exit> {
    if path.exists() && !force {
        anyhow::bail!("{} exists; give --force to replace it", path.display());
    }
    let system_id = uuid::Uuid::new_v4().to_string();
    let authorization = format!("Bearer {}", random_token()?);
    let contact_point = uuid::Uuid::new_v4().to_string();
    std::fs::write(path, template(&system_id, &authorization, &contact_point))
        .with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        // It holds a secret.
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    outln!("wrote {}", path.display())?;
    outln!("test system id: {system_id}")?;
    outln!("message endpoint: http://127.0.0.1:8080/api/MeMoV1/memos/?system-uuid={system_id}")?;
    outln!("start it with: dpost serve --config {}", path.display())?;
    outln!(
        "check the set-up step by step with: dpost doctor --config {}",
        path.display()
    )?;
    Ok(Exit::Ok)
}

fn check(config: &Path) -> anyhow::Result<Exit> {
    if !config.exists() {
        // Says where it looked and how to write one.
        load_existing(config)?;
    }
    let file = match ConfigFile::load(Some(config)) {
        Ok(f) => f,
        Err(e) => {
            // Every problem that keeps the file from being read, not only the first.
            let found = match std::fs::read_to_string(config) {
                Ok(text) => crate::config::read_problems(config, &text),
                Err(_) => Vec::new(),
            };
            if found.is_empty() {
                outln!("{e}")?;
            }
            for p in &found {
                outln!("{p}")?;
            }
            return Ok(Exit::CheckFailed);
        }
    };
    let mut problems = Vec::new();
    for env in ["test", "production"] {
        let present = match env {
            "test" => file.config.ngdp.test.is_some(),
            _ => file.config.ngdp.production.is_some(),
        };
        if present || file.config.ngdp.environment.as_deref() == Some(env) {
            // What the file says, then what `dpost serve --environment {env}` would refuse.
            let (settings, found) = file.ngdp_problems(Some(env));
            problems.extend(found.iter().map(ToString::to_string));
            if let Some(settings) = settings {
                let refused = crate::config::preflight::serve_problems(&file, &settings);
                problems.extend(refused.iter().map(ToString::to_string));
            }
        }
    }
    let public = crate::config::preflight::public_problems(&file);
    match file.serve() {
        Err(e) if !public.contains(&e) => problems.push(e.to_string()),
        _ => {}
    }
    problems.extend(public.iter().map(ToString::to_string));
    if let Err(e) = file.api() {
        problems.push(e.to_string());
    }
    if let Err(e) = file.console(|name| std::env::var(name).ok()) {
        problems.push(e.to_string());
    }
    // What `serve` and `store purge` would refuse.
    if let Err(e) = file.retention() {
        problems.push(e.to_string());
    }
    if let Err(e) = file.store_pool() {
        problems.push(e.to_string());
    }
    let (_, webhooks) = file.webhooks_checked(|name| std::env::var(name).ok());
    problems.extend(webhooks.iter().map(ToString::to_string));
    if problems.is_empty() {
        outln!("{}: ok", config.display())?;
        Ok(Exit::Ok)
    } else {
        for p in &problems {
            outln!("{p}")?;
        }
        Ok(Exit::CheckFailed)
    }
}
