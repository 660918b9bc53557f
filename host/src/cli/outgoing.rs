//! `dpost outgoing …`: the messages platforms send through the API, as an operator follows
//! them: the same records, and the same JSON, as `/api/v1/outgoing`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;

use super::Exit;
use super::message::open_store;
use crate::api::outgoing::{detail, summary};
use crate::store::outgoing::status;

/// Outgoing message commands.
#[derive(Debug, Subcommand)]
pub enum OutgoingCommand {
    /// Messages submitted for sending, oldest first, with their status.
    List {
        /// The configuration file (for the store's path).
        #[arg(long, value_name = "FILE", default_value = "dpost.toml")]
        config: PathBuf,
        /// Only those in this status.
        #[arg(long, value_parser = [status::QUEUED, status::SENDING, status::SENT, status::FAILED])]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One message: status, every attempt with NgDP's answer, receipts (JSON, as the API).
    Show {
        /// The messageUUID.
        uuid: String,
        /// The configuration file (for the store's path).
        #[arg(long, value_name = "FILE", default_value = "dpost.toml")]
        config: PathBuf,
    },
}

impl OutgoingCommand {
    pub fn run(self) -> anyhow::Result<Exit> {
        match self {
            OutgoingCommand::List {
                config,
                status,
                limit,
                json,
            } => {
                let rows = open_store(&config)?.outgoing_list(0, limit, status.as_deref(), None)?;
                let rows: Vec<_> = rows.into_iter().map(summary).collect();
                if json {
                    outln!("{}", serde_json::to_string(&rows)?)?;
                    return Ok(Exit::Ok);
                }
                outln!(
                    "{:<36}  {:<7}  {:>8}  {:<20}  REASON",
                    "UUID",
                    "STATUS",
                    "ATTEMPTS",
                    "SUBMITTED"
                )?;
                for r in rows {
                    outln!(
                        "{:<36}  {:<7}  {:>8}  {:<20}  {}",
                        r.uuid,
                        r.status,
                        r.attempt_count,
                        r.submitted_at,
                        r.reason.unwrap_or_default()
                    )?;
                }
                Ok(Exit::Ok)
            }
            OutgoingCommand::Show { uuid, config } => {
                let mut store = open_store(&config)?;
                let Some(o) = store.outgoing(&uuid)? else {
                    anyhow::bail!("no outgoing message {uuid} is recorded");
                };
                let attempts = store.outgoing_attempts(&uuid)?;
                let receipts = store.ngdp_receipts_for(&uuid)?;
                let shown = serde_json::to_string_pretty(&detail(o, attempts, receipts))
                    .context("cannot show the message")?;
                outln!("{shown}")?;
                Ok(Exit::Ok)
            }
        }
    }
}
