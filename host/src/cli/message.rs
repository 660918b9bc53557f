//! `dpost mailbox …` and `dpost message …`: what an operator looks at.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::json;

use super::Exit;
use crate::clock;
use crate::memo::extract::Names;
use crate::store::Store;
use crate::store::handover::{AckState, FeedQuery};

/// The store the configuration at `config` names. A missing configuration is an error that
/// says where dpost looked and how to write one: opening `dpost.db` in whatever folder the
/// command runs from would create an empty store and report nothing in it.
pub(super) fn open_store(config: &Path) -> anyhow::Result<Store> {
    let file = super::config::load_existing(config)?;
    Ok(Store::open_location(&file.store_location())?)
}

/// Mailbox commands.
#[derive(Debug, Subcommand)]
pub enum MailboxCommand {
    /// Every mailbox with its number of messages (and of invalid ones).
    List {
        /// The configuration file (for the store's path).
        #[arg(long, value_name = "FILE", default_value = "dpost.toml")]
        config: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

impl MailboxCommand {
    pub fn run(self) -> anyhow::Result<Exit> {
        let MailboxCommand::List { config, json } = self;
        let rows = open_store(&config)?.ngdp_mailboxes()?;
        if json {
            let v: Vec<_> = rows
                .iter()
                .map(|(n, c, i)| json!({ "mailbox": n, "messages": c, "invalid": i }))
                .collect();
            outln!("{}", serde_json::Value::Array(v))?;
        } else {
            outln!("{:<24} {:>9} {:>8}", "MAILBOX", "MESSAGES", "INVALID")?;
            for (n, c, i) in rows {
                outln!("{n:<24} {c:>9} {i:>8}")?;
            }
        }
        Ok(Exit::Ok)
    }
}

/// Message commands.
#[derive(Debug, Subcommand)]
pub enum MessageCommand {
    /// Received messages, newest first.
    List {
        /// The configuration file.
        #[arg(long, value_name = "FILE", default_value = "dpost.toml")]
        config: PathBuf,
        /// Only this mailbox.
        #[arg(long)]
        mailbox: Option<String>,
        /// Only messages that failed validation.
        #[arg(long)]
        invalid: bool,
        /// Only messages not acknowledged yet, oldest first (the API's pending list).
        #[arg(long)]
        pending: bool,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One message: header, routing, validation problems, files, receipts.
    Show {
        /// The messageUUID.
        uuid: String,
        /// The configuration file.
        #[arg(long, value_name = "FILE", default_value = "dpost.toml")]
        config: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A message the organisation sent: where its send stands, the receipt NgDP answered it
    /// with, and the receipts NgDP pushed for it since.
    Status {
        /// The messageUUID.
        uuid: String,
        /// The configuration file.
        #[arg(long, value_name = "FILE", default_value = "dpost.toml")]
        config: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Acknowledge a message: the platform has it (as `POST /api/v1/messages/{uuid}/ack`).
    /// A message acknowledged before keeps its first acknowledgement.
    Ack {
        /// The messageUUID.
        uuid: String,
        /// The case it now belongs to.
        #[arg(long = "case", value_name = "REF")]
        case_reference: Option<String>,
        /// The configuration file.
        #[arg(long, value_name = "FILE", default_value = "dpost.toml")]
        config: PathBuf,
    },
    /// Move a message to another configured mailbox (as `POST /api/v1/messages/{uuid}/route`).
    Route {
        /// The messageUUID.
        uuid: String,
        /// The mailbox.
        #[arg(long, value_name = "MAILBOX")]
        to: String,
        /// The configuration file.
        #[arg(long, value_name = "FILE", default_value = "dpost.toml")]
        config: PathBuf,
    },
    /// Copy a message (the MeMo as received, and each document file) into a folder.
    Export {
        /// The messageUUID.
        uuid: String,
        /// The folder (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The configuration file.
        #[arg(long, value_name = "FILE", default_value = "dpost.toml")]
        config: PathBuf,
    },
}

/// Who the audit record names for a command run by hand.
fn cli_actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned())
    )
}

fn when(unix: i64) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64),
    )
    .to_string()
}

impl MessageCommand {
    pub fn run(self) -> anyhow::Result<Exit> {
        match self {
            MessageCommand::List {
                config,
                mailbox,
                invalid,
                pending,
                limit,
                json,
            } => {
                let mut store = open_store(&config)?;
                let messages = if pending {
                    let feed = store.handover_feed(&FeedQuery {
                        visible: mailbox.map(|m| vec![m]),
                        state: AckState::Pending,
                        invalid: invalid.then_some(true),
                        limit,
                        ..Default::default()
                    })?;
                    let mut messages = Vec::with_capacity(feed.len());
                    for e in feed {
                        messages.extend(store.ngdp_message(&e.uuid)?);
                    }
                    messages
                } else {
                    store.ngdp_messages(mailbox.as_deref(), invalid, limit)?
                };
                if json {
                    outln!("{}", serde_json::to_string(&messages)?)?;
                } else {
                    for m in messages {
                        outln!(
                            "{}  {}  {:<12} {:<7} {}",
                            m.uuid,
                            when(m.received_at),
                            m.mailbox,
                            if m.valid { "valid" } else { "INVALID" },
                            m.label.unwrap_or_default()
                        )?;
                    }
                }
                Ok(Exit::Ok)
            }
            MessageCommand::Show { uuid, config, json } => {
                let mut store = open_store(&config)?;
                let Some(m) = store.ngdp_message(&uuid)? else {
                    anyhow::bail!("no message {uuid} is stored");
                };
                let receipts = store.ngdp_receipts_for(&uuid)?;
                if json {
                    outln!("{}", json!({ "message": m, "receipts": receipts }))?;
                    return Ok(Exit::Ok);
                }
                outln!(
                    "message {}  ({}, {} via {}, {})",
                    m.uuid,
                    m.environment,
                    m.system_id,
                    m.via,
                    when(m.received_at)
                )?;
                outln!("label:     {}", m.label.as_deref().unwrap_or(""))?;
                outln!(
                    "sender:    {} {}",
                    m.sender_id.as_deref().unwrap_or(""),
                    m.sender_label.as_deref().unwrap_or("")
                )?;
                outln!("recipient: {}", m.recipient_id.as_deref().unwrap_or(""))?;
                outln!("mailbox:   {}  ({})", m.mailbox, m.routing_reason)?;
                outln!("valid:     {}", m.valid)?;
                if let Some(problems) = m.problems.as_array() {
                    for p in problems {
                        outln!(
                            "  {}:{}: {}: {}: {}",
                            p["line"],
                            p["column"],
                            p["path"].as_str().unwrap_or(""),
                            p["severity"].as_str().unwrap_or(""),
                            p["message"].as_str().unwrap_or("")
                        )?;
                    }
                }
                // The store's `rejected` is NgDP refusing it (or dpost giving up), as
                // `dpost receipts list` says.
                let receipt = match m.receipt_status.as_deref() {
                    Some("rejected") => "refused",
                    Some(s) => s,
                    None => "none",
                };
                match &m.receipt_error {
                    Some(why) => outln!("business receipt: {receipt} ({why})")?,
                    None => outln!("business receipt: {receipt}")?,
                }
                for c in &m.conflicts {
                    outln!(
                        "conflicting copy: {}  {} bytes  sha256 {}  {}",
                        when(c.received_at),
                        c.size,
                        c.sha256,
                        match &c.path {
                            Some(p) => format!(
                                "kept as {}",
                                std::path::Path::new(&m.dir).join(p).display()
                            ),
                            None => "bytes not kept".to_owned(),
                        }
                    )?;
                }
                outln!("files:")?;
                for f in &m.files {
                    outln!(
                        "  {}  {}  {} bytes  sha256 {}",
                        f.filename,
                        f.encoding_format,
                        f.size,
                        f.sha256
                    )?;
                }
                outln!("stored at: {}", m.dir)?;
                Ok(Exit::Ok)
            }
            MessageCommand::Status { uuid, config, json } => {
                let mut store = open_store(&config)?;
                let Some(sent) = store.ngdp_sent_record(&uuid)? else {
                    anyhow::bail!("no message {uuid} was sent from here");
                };
                let receipts = store.ngdp_receipts_for(&uuid)?;
                if json {
                    outln!("{}", json!({ "sent": sent, "receipts": receipts }))?;
                    return Ok(Exit::Ok);
                }
                outln!(
                    "message {}  ({} in {}, recorded {})",
                    sent.uuid,
                    sent.system_id,
                    sent.environment.as_deref().unwrap_or("?"),
                    when(sent.created_at)
                )?;
                outln!(
                    "status:   {}  ({} attempt(s), {})",
                    sent.status,
                    sent.attempts,
                    when(sent.updated_at)
                )?;
                if let Some(reason) = &sent.reason {
                    outln!("reason:   {reason}")?;
                }
                if let Some(r) = &sent.receipt {
                    outln!(
                        "receipt:  {} at {}",
                        r["receiptStatus"].as_str().unwrap_or("?"),
                        r["timeStamp"].as_str().unwrap_or("?")
                    )?;
                }
                for r in &receipts {
                    let receipt = &r["receipt"];
                    outln!(
                        "pushed:   {} at {} {}",
                        receipt["receiptStatus"].as_str().unwrap_or("?"),
                        receipt["timeStamp"].as_str().unwrap_or("?"),
                        receipt["errorMessage"].as_str().unwrap_or("")
                    )?;
                }
                Ok(Exit::Ok)
            }
            MessageCommand::Ack {
                uuid,
                case_reference,
                config,
            } => {
                let case = case_reference
                    .as_deref()
                    .map(str::trim)
                    .filter(|c| !c.is_empty());
                let acked = open_store(&config)?
                    .handover_ack(&uuid, None, &cli_actor(), case, clock::system().now_unix())?
                    .with_context(|| format!("no message {uuid} is stored"))?;
                let a = &acked.ack;
                outln!(
                    "{} {uuid} (by {} at {}{})",
                    if acked.new {
                        "acknowledged"
                    } else {
                        "already acknowledged:"
                    },
                    a.actor,
                    when(a.at),
                    a.case_reference
                        .as_deref()
                        .map(|c| format!(", case {c}"))
                        .unwrap_or_default()
                )?;
                Ok(Exit::Ok)
            }
            MessageCommand::Route { uuid, to, config } => {
                let file = super::config::load_existing(&config)?;
                let (mailboxes, _) = file.config.ngdp.mailboxes();
                if !mailboxes.contains(&to) {
                    anyhow::bail!(
                        "{to:?} is not a configured mailbox ([ngdp] mailboxes: {})",
                        mailboxes.join(", ")
                    );
                }
                let routed = Store::open_location(&file.store_location())?
                    .handover_route(&uuid, None, &to, &cli_actor(), clock::system().now_unix())?
                    .with_context(|| format!("no message {uuid} is stored"))?;
                outln!("{uuid}: {} -> {}", routed.from, routed.to)?;
                Ok(Exit::Ok)
            }
            MessageCommand::Export { uuid, out, config } => {
                let mut store = open_store(&config)?;
                let m = store
                    .ngdp_message(&uuid)?
                    .with_context(|| format!("no message {uuid} is stored"))?;
                std::fs::create_dir_all(&out)
                    .with_context(|| format!("cannot create {}", out.display()))?;
                let dir = PathBuf::from(&m.dir);
                let mut names = Names::default();
                // Through the store: from the data folder on SQLite, from its pieces on
                // PostgreSQL.
                let mut copy =
                    |from: &Path, name: &str, names: &mut Names| -> anyhow::Result<PathBuf> {
                        let (mut to, path) = names.create(&out, name).with_context(|| {
                            format!("cannot create {name:?} in {}", out.display())
                        })?;
                        store.copy_file_to(from, &mut to)?;
                        Ok(path)
                    };
                let p = copy(
                    &dir.join("message.xml"),
                    &format!("{}.xml", m.uuid),
                    &mut names,
                )?;
                outln!("{}", p.display())?;
                for f in &m.files {
                    let p = copy(&dir.join(&f.path), &f.filename, &mut names)?;
                    outln!("{}", p.display())?;
                }
                Ok(Exit::Ok)
            }
        }
    }
}
