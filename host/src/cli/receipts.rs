//! `dpost receipts …`: receipts both ways, as an operator follows them: the business receipts
//! owed to NgDP (and why NgDP refused one) and the receipts NgDP sent; a refused one queued
//! again. The same records, and the same JSON, as `/api/v1/receipts`.

use std::path::PathBuf;

use clap::Subcommand;

use super::Exit;
use super::message::open_store;
use crate::api::receipts::{ReceiptEntry, owed_entry, received_entry};
use crate::clock;

/// Receipt commands.
#[derive(Debug, Subcommand)]
pub enum ReceiptsCommand {
    /// Business receipts owed to NgDP and receipts received, oldest first.
    List {
        /// The configuration file (for the store's path).
        #[arg(long, value_name = "FILE", default_value = "dpost.toml")]
        config: PathBuf,
        /// Only owed ones (dpost sends them to NgDP) or received ones (NgDP sent them).
        #[arg(long, value_parser = ["owed", "received"])]
        direction: Option<String>,
        /// Only owed ones in this state.
        #[arg(long, value_parser = ["pending", "sent", "refused"])]
        state: Option<String>,
        /// At most this many of each direction.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Queue a business receipt NgDP refused again; `dpost serve`'s outbox sends it.
    Retry {
        /// The receipt's id: the messageUUID of the received message.
        id: String,
        /// The configuration file (for the store's path).
        #[arg(long, value_name = "FILE", default_value = "dpost.toml")]
        config: PathBuf,
    },
}

impl ReceiptsCommand {
    pub fn run(self) -> anyhow::Result<Exit> {
        match self {
            ReceiptsCommand::List {
                config,
                direction,
                state,
                limit,
                json,
            } => {
                let mut store = open_store(&config)?;
                // The store's word for a refused receipt is `rejected`.
                let stored_state = state.as_deref().map(|s| match s {
                    "refused" => "rejected",
                    other => other,
                });
                let mut rows: Vec<ReceiptEntry> = Vec::new();
                if direction.as_deref() != Some("received") {
                    let owed = store.receipts_owed(0, limit, stored_state, None)?;
                    rows.extend(owed.into_iter().map(owed_entry));
                }
                if direction.as_deref() != Some("owed") && state.is_none() {
                    let received = store.receipts_received(0, limit)?;
                    rows.extend(received.into_iter().map(received_entry));
                }
                if json {
                    outln!("{}", serde_json::to_string(&rows)?)?;
                    return Ok(Exit::Ok);
                }
                outln!(
                    "{:<36}  {:<8}  {:<8}  {:<11}  {:>8}  REASON",
                    "ID",
                    "WAY",
                    "STATE",
                    "STATUS",
                    "ATTEMPTS"
                )?;
                for r in rows {
                    outln!(
                        "{:<36}  {:<8}  {:<8}  {:<11}  {:>8}  {}",
                        r.id,
                        r.direction,
                        r.state,
                        r.receipt_status.unwrap_or_default(),
                        r.attempts.map(|a| a.to_string()).unwrap_or_default(),
                        r.reason.unwrap_or_default()
                    )?;
                }
                Ok(Exit::Ok)
            }
            ReceiptsCommand::Retry { id, config } => {
                let mut store = open_store(&config)?;
                let Some(owed) = store.receipt_owed(&id, None)? else {
                    anyhow::bail!("no business receipt is owed for {id}");
                };
                if !store.receipt_requeue(&id, clock::system().now_unix())? {
                    anyhow::bail!(
                        "the business receipt for {id} is {}: only a refused one is retried",
                        owed_entry(owed).state
                    );
                }
                outln!("{id}: queued again; dpost serve sends it on its next round")?;
                Ok(Exit::Ok)
            }
        }
    }
}
