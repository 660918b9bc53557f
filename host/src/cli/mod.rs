//! The `dpost` command line: argument parsing (clap) and one module per command group.

// First, so that its macros (`outln!`, `out!`, `errln!`) are in scope in every command.
#[macro_use]
mod output;

mod api;
mod component;
mod config;
mod console;
mod contact_points;
mod digipost;
mod digipost_archive;
mod doctor;
mod exit;
mod inbox;
mod input;
pub mod logging;
mod memo;
mod message;
mod ngdp;
mod ngdp_send;
mod outgoing;
mod portal;
mod receipts;
mod reload;
mod serve;
mod sim;
mod store;
mod webhooks;

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

pub use exit::Exit;
pub use output::is_closed as output_closed;

/// dpost: Digital Post for case and document platforms. Danish NgDP (MeMo messages, receipts,
/// contact points) and the Norwegian Digipost organisation inbox, with the protocol logic in
/// a sandboxed WebAssembly component.
#[derive(Debug, Parser)]
#[command(
    name = "dpost",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Log filter (off, error, warn, info, debug, trace, or TARGET=LEVEL directives such as
    /// `dpost=debug,warn`). Logs go to standard error. Overrides RUST_LOG; an unknown level
    /// in either is refused.
    #[arg(long, global = true, value_name = "FILTER")]
    pub log: Option<String>,

    /// How log lines are written: text for people, json (one object per line) for log
    /// shippers.
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text")]
    pub log_format: logging::LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

/// Command groups.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the receiving system: the NgDP push listener, the business-receipt outbox and
    /// pulls for pull systems, on the embedded store.
    Serve(serve::ServeCommand),
    /// Write or check the configuration file.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Check the NgDP set-up step by step (certificate, Internet access, system, contact
    /// points), each problem with what to do.
    Doctor(doctor::DoctorCommand),
    /// What to type into the Administrativ Adgang portal for this installation.
    #[command(subcommand)]
    Portal(portal::PortalCommand),
    /// Contact points: map mailboxes to contact points in bulk.
    #[command(subcommand, name = "contact-points")]
    ContactPoints(contact_points::ContactPointsCommand),
    /// NgDP (Denmark): pull waiting messages, send messages.
    #[command(subcommand)]
    Ngdp(ngdp::NgdpCommand),
    /// Mailboxes messages are routed to.
    #[command(subcommand)]
    Mailbox(message::MailboxCommand),
    /// Received messages: list, show, export.
    #[command(subcommand)]
    Message(message::MessageCommand),
    /// Digipost (Norway): read and archive an organisation's inbox; sign requests, verify
    /// responses, debug 403s.
    #[command(subcommand)]
    Digipost(digipost::DigipostCommand),
    /// MeMo messages (Danish Digital Post): validate, show, extract, write.
    #[command(subcommand)]
    Memo(memo::MemoCommand),
    /// The protocol component: what it imports and exports.
    #[command(subcommand)]
    Component(component::ComponentCommand),
    /// Simulators of the services, for offline tests and demos.
    #[command(subcommand)]
    Sim(sim::SimCommand),
    /// The platform API: clients' tokens, the OpenAPI document.
    #[command(subcommand)]
    Api(api::ApiCommand),
    /// Webhook deliveries: list them (with why they failed), retry a given-up one.
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
    /// Messages sent through the platform API: list, show.
    #[command(subcommand)]
    Outgoing(outgoing::OutgoingCommand),
    /// Receipts both ways: list; retry one NgDP refused.
    #[command(subcommand)]
    Receipts(receipts::ReceiptsCommand),
    /// The store: back up, restore, verify, purge by retention.
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// The operator console (served by `dpost serve` at / of the API listener): its users.
    #[command(subcommand)]
    Console(console::ConsoleCommand),
}

impl Cli {
    /// Run the chosen command.
    pub fn run(self) -> anyhow::Result<Exit> {
        match self.command {
            Command::Serve(cmd) => cmd.run(),
            Command::Config(cmd) => cmd.run(),
            Command::Doctor(cmd) => cmd.run(),
            Command::Portal(cmd) => cmd.run(),
            Command::ContactPoints(cmd) => cmd.run(),
            Command::Ngdp(cmd) => cmd.run(),
            Command::Mailbox(cmd) => cmd.run(),
            Command::Message(cmd) => cmd.run(),
            Command::Digipost(cmd) => cmd.run(),
            Command::Memo(cmd) => cmd.run(),
            Command::Component(cmd) => cmd.run(),
            Command::Sim(cmd) => cmd.run(),
            Command::Api(cmd) => cmd.run(),
            Command::Webhooks(cmd) => cmd.run(),
            Command::Outgoing(cmd) => cmd.run(),
            Command::Receipts(cmd) => cmd.run(),
            Command::Store(cmd) => cmd.run(),
            Command::Console(cmd) => cmd.run(),
        }
    }
}

/// Replace `path` with `bytes` through a temporary file beside it, synced, and a rename: a
/// crash leaves the old file or the new one, never half of one. A file that exists keeps its
/// permissions (a configuration may hold secrets), from before the first byte is written.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("dpost-partial");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        if let Ok(meta) = std::fs::metadata(path) {
            f.set_permissions(meta.permissions())?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().with_context(|| format!("cannot write {}", path.display()))
}
