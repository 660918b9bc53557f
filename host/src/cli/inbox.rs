//! `dpost digipost inbox …` and `dpost digipost sync`: reading an organisation's inbox.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde_json::json;

use super::Exit;
use crate::clock;
use crate::config::ConfigFile;
use crate::config::digipost::{DigipostOverrides, DigipostSettings};
use crate::digipost::client::{ClientError, ClientOptions, Deleted, DigipostClient, Listed};
use crate::digipost::explain;
use crate::digipost::inbox::{self, InboxDocument};
use crate::digipost::retry::RetryPolicy;
use crate::digipost::sync::{self, Progress, SyncOptions};
use crate::keystore::{Keystore, PrivateKey};
use crate::runtime::{InstancePool, Runtime, RuntimeOptions};
use crate::store::Store;

/// The name the broker key is held under in the component's keystore.
const BROKER_KEY: &str = "broker";

/// How to reach Digipost: flags, else the configuration file.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The configuration file [default: ./dpost.toml, when it exists].
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The API's base URL [default: https://api.digipost.no].
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// The broker id (X-Digipost-UserId).
    #[arg(long, value_name = "ID")]
    broker_id: Option<String>,
    /// The broker's private key: PKCS#12 (.p12/.pfx) or PEM.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Read the key's password from this environment variable.
    #[arg(long, value_name = "VAR", conflicts_with = "password_file")]
    password_env: Option<String>,
    /// Read the key's password from this file (a trailing newline is ignored).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
}

/// The sender whose inbox is read.
#[derive(Debug, Args)]
pub struct SenderArg {
    /// The sender (organisation) id; default `sender_id` in [digipost].
    #[arg(long, value_name = "ID")]
    sender: Option<String>,
}

/// Inbox commands.
#[derive(Debug, Subcommand)]
pub enum InboxCommand {
    /// List a page of the inbox, newest first.
    List {
        #[command(flatten)]
        api: ApiArgs,
        #[command(flatten)]
        sender: SenderArg,
        /// Documents to skip.
        #[arg(long, value_name = "N")]
        offset: Option<u32>,
        /// Documents to list (1-1000) [default: 100].
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Download a document's (or attachment's) content.
    Get {
        #[command(flatten)]
        api: ApiArgs,
        #[command(flatten)]
        sender: SenderArg,
        /// The document id.
        #[arg(long, value_name = "DOC")]
        id: String,
        /// Write it to this file instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Delete a document from the inbox.
    Delete {
        #[command(flatten)]
        api: ApiArgs,
        #[command(flatten)]
        sender: SenderArg,
        /// The document id.
        #[arg(long, value_name = "DOC")]
        id: String,
    },
}

/// `dpost digipost sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    api: ApiArgs,
    #[command(flatten)]
    sender: SenderArg,
    /// Delete each document in Digipost once it is safely archived.
    #[arg(long)]
    delete_after_archive: bool,
    /// Documents fetched at the same time.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// Print a JSON summary on standard output.
    #[arg(long)]
    json: bool,
}

/// Everything a connected command needs.
struct Connected {
    client: Arc<DigipostClient>,
    settings: DigipostSettings,
    file: ConfigFile,
    tokio: tokio::runtime::Runtime,
}

impl Connected {
    fn sender(&self, arg: &SenderArg) -> anyhow::Result<String> {
        arg.sender
            .clone()
            .or_else(|| self.settings.sender_id.clone())
            .context("no sender: give --sender ID or set sender_id in [digipost]")
    }
}

fn connect(api: &ApiArgs, sender: &SenderArg) -> anyhow::Result<Connected> {
    // A file named with --config must exist; without it, ./dpost.toml when there is one.
    let file = match api.config.as_deref() {
        Some(path) => super::config::load_existing(path)?,
        None => ConfigFile::load(None)?,
    };
    let overrides = DigipostOverrides {
        base_url: api.base_url.clone(),
        broker_id: api.broker_id.clone(),
        key: api.key.clone(),
        password_env: api.password_env.clone(),
        password_file: api.password_file.clone(),
        sender_id: sender.sender.clone(),
    };
    let settings = DigipostSettings::resolve(&file, overrides)?;
    let key = PrivateKey::load(&settings.key, &settings.password)?;
    let mut keystore = Keystore::new();
    keystore.insert(BROKER_KEY, key);
    let runtime = Arc::new(Runtime::new(RuntimeOptions::default())?);
    let pool = Arc::new(InstancePool::new(runtime, keystore));
    let options = ClientOptions {
        base_url: settings.base_url.clone(),
        broker_id: settings.broker_id.clone(),
        key_name: BROKER_KEY.into(),
        request_timeout: settings.request_timeout,
        retry: RetryPolicy::new(
            settings.retries,
            Duration::from_millis(250),
            Duration::from_secs(10),
            None,
        ),
    };
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // reqwest's client must be made inside the runtime that drives it.
    let client = tokio.block_on(async { DigipostClient::new(options, pool, clock::system()) })?;
    Ok(Connected {
        client: Arc::new(client),
        settings,
        file,
        tokio,
    })
}

/// Turn a client error into the CLI's error, showing a refused signature side by side.
fn explain_error(e: ClientError) -> anyhow::Error {
    if let ClientError::SignatureRejected { server, ours, .. } = &e {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "Digipost refused the signature; its canonical string beside dpost's:"
        );
        super::digipost::print_side_by_side(&mut err, &explain::compare(server, ours));
    }
    e.into()
}

/// `doc` as `sender`'s inbox lists it; `None`, after telling the user, when it does not: the
/// listing says where to fetch and delete it, and an unlisted id is not Digipost's to act on.
fn listed(c: &Connected, sender: &str, doc: i64) -> anyhow::Result<Option<Listed>> {
    let found = c
        .tokio
        .block_on(c.client.find(sender, doc))
        .map_err(explain_error)?;
    if found.is_none() {
        errln!("no document {doc} in sender {sender}'s inbox; nothing done");
    }
    Ok(found)
}

fn entry_json(documents: &[InboxDocument]) -> Vec<serde_json::Value> {
    let mut out: Vec<serde_json::Value> = Vec::new();
    let mut position_of = Vec::with_capacity(documents.len());
    for d in documents {
        let mut value = inbox::document_json(d);
        match d
            .attached_to
            .and_then(|p| position_of.get(p as usize).copied().flatten())
        {
            Some(owner) => {
                position_of.push(None);
                if let Some(list) = out
                    .get_mut(owner)
                    .and_then(|o: &mut serde_json::Value| o["attachments"].as_array_mut())
                {
                    list.push(value);
                }
            }
            None => {
                value["attachments"] = json!([]);
                position_of.push(Some(out.len()));
                out.push(value);
            }
        }
    }
    out
}

impl InboxCommand {
    pub fn run(self) -> anyhow::Result<Exit> {
        match self {
            InboxCommand::List {
                api,
                sender,
                offset,
                limit,
                json,
            } => {
                let c = connect(&api, &sender)?;
                let sender = c.sender(&sender)?;
                let page = c
                    .tokio
                    .block_on(c.client.list(&sender, offset, limit))
                    .map_err(explain_error)?;
                let docs = entry_json(&page.documents);
                if json {
                    outln!(
                        "{}",
                        json!({ "sender": sender, "offset": offset.unwrap_or(0), "documents": docs })
                    )?;
                } else {
                    outln!(
                        "{:>12}  {:<25}  {:<24}  {:>4}  subject",
                        "id",
                        "delivered",
                        "sender",
                        "att."
                    )?;
                    for d in &docs {
                        let attachments = d["attachments"].as_array().map_or(0, Vec::len);
                        let s = |k: &str| d[k].as_str().unwrap_or("").to_owned();
                        outln!(
                            "{:>12}  {:<25}  {:<24}  {:>4}  {}",
                            d["id"],
                            s("delivery_time"),
                            s("sender"),
                            attachments,
                            s("subject")
                        )?;
                    }
                }
                Ok(Exit::Ok)
            }
            InboxCommand::Get {
                api,
                sender,
                id,
                output,
            } => {
                let c = connect(&api, &sender)?;
                let sender = c.sender(&sender)?;
                let doc: i64 = id
                    .parse()
                    .with_context(|| format!("the document id {id:?} must be a number"))?;
                let entry = match listed(&c, &sender, doc)? {
                    Some(Listed::Document(d)) => d,
                    Some(Listed::Attachment { attachment, .. }) => attachment,
                    None => return Ok(Exit::CheckFailed),
                };
                let content = c
                    .tokio
                    .block_on(c.client.content(&sender, &entry))
                    .map_err(explain_error)?;
                if content.redirect_signed == Some(false) {
                    errln!("note: Digipost's 307 to the content link was not signed");
                }
                match output {
                    Some(path) => super::write_atomically(&path, &content.bytes)?,
                    None => super::output::write_bytes(&content.bytes)?,
                }
                Ok(Exit::Ok)
            }
            InboxCommand::Delete { api, sender, id } => {
                let c = connect(&api, &sender)?;
                let sender = c.sender(&sender)?;
                let doc: i64 = id
                    .parse()
                    .with_context(|| format!("the document id {id:?} must be a number"))?;
                let entry = match listed(&c, &sender, doc)? {
                    Some(Listed::Document(d)) => d,
                    Some(Listed::Attachment { owner, .. }) => {
                        errln!(
                            "{doc} is an attachment of document {owner}; attachments are deleted with their document (delete {owner}); nothing deleted"
                        );
                        return Ok(Exit::CheckFailed);
                    }
                    None => return Ok(Exit::CheckFailed),
                };
                let deleted = c
                    .tokio
                    .block_on(c.client.delete(&sender, &entry))
                    .map_err(explain_error)?;
                match deleted {
                    Deleted::Now => errln!("deleted document {doc}"),
                    Deleted::AlreadyGone => errln!(
                        "document {doc} was listed but Digipost no longer has it (404): deleted already"
                    ),
                }
                Ok(Exit::Ok)
            }
        }
    }
}

impl SyncArgs {
    pub fn run(self) -> anyhow::Result<Exit> {
        // The archive goes into the configured store: without a configuration it would be
        // a new dpost.db in whatever folder this runs from, found by nobody.
        if self.api.config.is_none() {
            super::config::load_existing(std::path::Path::new(crate::config::DEFAULT_FILE))?;
        }
        let c = connect(&self.api, &self.sender)?;
        let sender = c.sender(&self.sender)?;
        let store = Store::open_location(&c.file.store_location())?;
        let store_path = store.path().to_owned();
        let store = Arc::new(Mutex::new(store));
        let options = SyncOptions {
            delete_after_archive: self.delete_after_archive,
            concurrency: usize::from(self.concurrency),
            ..SyncOptions::new(sender)
        };
        let bar = indicatif::ProgressBar::new(0);
        if !std::io::stderr().is_terminal() {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {msg:10} [{bar:30}] {pos}/{len} {per_sec} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message("archiving");
        let progress = |p: Progress| match p {
            Progress::Listed(n) => bar.inc_length(n),
            Progress::Done | Progress::Deleted => bar.inc(1),
            Progress::Deleting(n) => {
                bar.set_message("deleting");
                bar.set_position(0);
                bar.set_length(n);
            }
        };
        let result = c.tokio.block_on(sync::sync(
            c.client.clone(),
            store,
            clock::system(),
            &options,
            &progress,
        ));
        bar.finish_and_clear();
        let report = match result {
            Ok(r) => r,
            Err(sync::SyncError::Client(e)) => return Err(explain_error(e)),
            Err(e) => return Err(e.into()),
        };
        if self.json {
            outln!("{}", serde_json::to_string(&report)?)?;
        } else {
            outln!(
                "listed {}, archived {}, already archived {}, deleted {}, failed {} in {:.1} s ({})",
                report.listed,
                report.archived,
                report.already_archived,
                report.deleted,
                report.failed,
                report.elapsed_seconds,
                store_path.display()
            )?;
            if report.unsigned_redirects > 0 {
                errln!(
                    "note: {} content link(s) came in a 307 without a signature; followed (the one-time token protects them), marked \"redirect_signed\": false in the archive",
                    report.unsigned_redirects
                );
            }
            for f in &report.failures {
                errln!("document {}: {}", f.id, f.error);
            }
        }
        Ok(if report.failed == 0 {
            Exit::Ok
        } else {
            Exit::CheckFailed
        })
    }
}
