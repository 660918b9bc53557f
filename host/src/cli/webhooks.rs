//! `dpost webhooks …`: the webhook deliveries an operator looks after (as
//! `GET /api/v1/webhooks/deliveries` and its retry).

use std::path::PathBuf;

use clap::Subcommand;

use super::Exit;
use super::message::open_store;

/// Webhook commands.
#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Deliveries, newest first, with the reason of every failure.
    List {
        /// Only pending, delivered or failed (given up) ones.
        #[arg(long, value_name = "STATE", value_parser = ["pending", "delivered", "failed"])]
        state: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// The configuration file (for the store's path).
        #[arg(long, value_name = "FILE", default_value = "dpost.toml")]
        config: PathBuf,
    },
    /// Put a given-up delivery back in the queue; `dpost serve` sends it at once.
    Retry {
        /// The delivery's id (from `dpost webhooks list`).
        id: i64,
        /// The configuration file (for the store's path).
        #[arg(long, value_name = "FILE", default_value = "dpost.toml")]
        config: PathBuf,
    },
}

impl WebhooksCommand {
    pub fn run(self) -> anyhow::Result<Exit> {
        match self {
            WebhooksCommand::List {
                state,
                limit,
                json,
                config,
            } => {
                let found = open_store(&config)?.webhooks_deliveries(state.as_deref(), limit)?;
                if json {
                    let list: Vec<_> = found
                        .into_iter()
                        .map(crate::api::webhooks::DeliveryBody::from)
                        .collect();
                    outln!("{}", serde_json::to_string_pretty(&list)?)?;
                    return Ok(Exit::Ok);
                }
                if found.is_empty() {
                    outln!("no deliveries")?;
                }
                for d in found {
                    outln!(
                        "{:>6}  {:<9}  {:<26} #{} {}  attempts {}  {}",
                        d.id,
                        d.state,
                        d.event.kind,
                        d.event.seq,
                        d.event.subject,
                        d.attempts,
                        d.webhook
                    )?;
                    if let Some(e) = &d.last_error {
                        outln!("        {e}")?;
                    }
                }
                Ok(Exit::Ok)
            }
            WebhooksCommand::Retry { id, config } => {
                let now = crate::clock::system().now_unix();
                match open_store(&config)?.webhooks_retry(id, now)? {
                    Some(true) => {
                        outln!("delivery {id} is queued again")?;
                        Ok(Exit::Ok)
                    }
                    Some(false) => {
                        outln!(
                            "delivery {id} has not failed (it is pending or delivered): nothing to retry"
                        )?;
                        Ok(Exit::CheckFailed)
                    }
                    None => {
                        errln!("no webhook delivery {id} is stored");
                        Ok(Exit::Error)
                    }
                }
            }
        }
    }
}
