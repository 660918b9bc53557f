//! `dpost ngdp …`: talking to NgDP directly.

use std::sync::{Arc, Mutex};

use clap::Subcommand;
use serde_json::json;

use super::Exit;
use super::serve::{ConfigArgs, service};
use crate::clock;
use crate::leased::{Leased, Leases};
use crate::ngdp::pull::{LEASE_SECONDS, lease_name, pull_once};
use crate::store::Store;
use crate::store::leases::new_holder;

/// NgDP commands.
#[derive(Debug, Subcommand)]
pub enum NgdpCommand {
    /// Fetch every waiting message for a pull system: store it durably, send its business
    /// receipt, then delete it at NgDP; then fetch the receipts for messages it sent
    /// (`GET receipts/`), store them, and delete them at NgDP.
    Pull {
        #[command(flatten)]
        config: ConfigArgs,
        /// The system id.
        #[arg(long)]
        system: String,
        /// Print a JSON summary.
        #[arg(long)]
        json: bool,
    },
    /// Send one MeMo message: validate it through the component (an invalid one is refused
    /// here, nothing sent), record it, then `POST memos/?memo-message-uuid=<uuid>`, retrying
    /// network errors and 5xx. A message whose messageUUID was sent before is not sent again.
    Send(super::ngdp_send::SendArgs),
}

impl NgdpCommand {
    pub fn run(self) -> anyhow::Result<Exit> {
        let (config, system, json) = match self {
            NgdpCommand::Pull {
                config,
                system,
                json,
            } => (config, system, json),
            NgdpCommand::Send(args) => return args.run(),
        };
        let (file, ngdp, serve) = config.load()?;
        let Some(sys) = ngdp.system(&system).cloned() else {
            anyhow::bail!(
                "no system {system} is configured in the {} environment",
                ngdp.environment
            );
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let summary = rt.block_on(async move {
            let svc = service(&file, ngdp, &serve, clock::system())?;
            let client = svc
                .clients
                .get(&sys.id)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("no client for {}", sys.id))?;
            // The same lease `serve` pulls under: never two pulls of one system at once.
            let leases = Leases::new(
                Arc::new(Mutex::new(Store::open_location(&file.store_location())?)),
                new_holder(),
                clock::system(),
            );
            let run = pull_once(&client, &svc.receiving, &sys.id, None);
            match leases.run(&lease_name(&sys.id), LEASE_SECONDS, run).await? {
                Leased::Done(summary) => summary,
                Leased::Busy(held) => anyhow::bail!(
                    "another dpost ({}) is pulling system {} now; run this again when it is done",
                    held.map_or_else(|| "a process that just finished".to_owned(), |l| l.holder),
                    sys.id
                ),
                Leased::Lost(why) => anyhow::bail!(
                    "the pull stopped half-way (what it stored is kept; run it again to go on): {why}"
                ),
            }
        })?;
        if json {
            outln!("{}", json!(summary))?;
        } else {
            outln!(
                "listed {}, stored {}, already stored {}, receipts sent {}, deleted {}, deletion after the receipt {}, receipts received {} (stored before {}, deleted at NgDP {}), failed {}",
                summary.listed,
                summary.stored,
                summary.already_stored,
                summary.receipts_sent,
                summary.deleted,
                summary.deletion_owed,
                summary.receipts_stored,
                summary.receipts_already_stored,
                summary.receipts_deleted,
                summary.failed.len()
            )?;
            for (id, why) in &summary.failed {
                outln!("  {id}: {why}")?;
            }
            for (id, warnings) in &summary.receipt_warnings {
                outln!("  receipt {id} stored with warnings: {warnings}")?;
            }
        }
        Ok(if summary.failed.is_empty() {
            Exit::Ok
        } else {
            Exit::CheckFailed
        })
    }
}
