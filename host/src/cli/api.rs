//! `dpost api …`: clients of the platform API and its OpenAPI document.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;

use super::Exit;
use crate::config::ConfigFile;
use crate::config::api::{Scope, add_client, scope_names};

/// API commands.
#[derive(Debug, Subcommand)]
pub enum ApiCommand {
    /// API clients' tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Print the OpenAPI 3.1 document of the API (as served at /api/v1/openapi.json).
    Openapi,
}

/// Token commands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a client with a new token: the token is printed once, on standard output, and
    /// only its SHA-256 is written into the configuration file (comments kept).
    Create {
        /// The client's name, recorded with everything it acknowledges or moves.
        name: String,
        /// What it may do: messages:read, messages:ack, send, receipts, admin (repeat the flag).
        #[arg(long = "scope", value_name = "SCOPE", required = true)]
        scopes: Vec<String>,
        /// Only this mailbox's messages exist for it (repeat for several); default: every mailbox.
        #[arg(long = "mailbox", value_name = "MAILBOX")]
        mailboxes: Vec<String>,
        /// The configuration file.
        #[arg(long, value_name = "FILE", default_value = "dpost.toml")]
        config: PathBuf,
    },
}

impl ApiCommand {
    pub fn run(self) -> anyhow::Result<Exit> {
        match self {
            ApiCommand::Openapi => {
                out!("{}", crate::api::openapi::document_json())?;
                Ok(Exit::Ok)
            }
            ApiCommand::Token(TokenCommand::Create {
                name,
                scopes,
                mailboxes,
                config,
            }) => {
                let loaded = super::config::load_existing(&config)?;
                let mut parsed = Vec::new();
                for s in &scopes {
                    let Some(scope) = Scope::parse(s) else {
                        errln!("{s:?} is not a scope; scopes: {}", scope_names());
                        return Ok(Exit::Error);
                    };
                    if !parsed.contains(&scope) {
                        parsed.push(scope);
                    }
                }
                let (known, _) = loaded.config.ngdp.mailboxes();
                if let Some(m) = mailboxes.iter().find(|m| !known.contains(m)) {
                    errln!(
                        "{m:?} is not a configured mailbox ([ngdp] mailboxes: {})",
                        known.join(", ")
                    );
                    return Ok(Exit::Error);
                }
                if name.trim().is_empty() {
                    errln!("a client needs a name");
                    return Ok(Exit::Error);
                }
                let text = std::fs::read_to_string(&config)
                    .with_context(|| format!("cannot read {}", config.display()))?;
                let (token, hash) = crate::api::auth::new_token()?;
                let restricted = (!mailboxes.is_empty()).then_some(&mailboxes[..]);
                let after = match add_client(&text, &name, &parsed, restricted, &hash) {
                    Ok(a) => a,
                    Err(e) => {
                        errln!("{e}; nothing written");
                        return Ok(Exit::Error);
                    }
                };
                // The result must be a configuration dpost accepts, or nothing is written.
                if let Err(e) =
                    ConfigFile::parse(config.clone(), after.clone()).and_then(|f| f.api())
                {
                    errln!("the new client would leave the configuration invalid: {e}");
                    errln!("nothing written");
                    return Ok(Exit::Error);
                }
                // The token first: when it cannot be shown (standard output closed), nothing
                // is written and no client exists whose token nobody has.
                outln!("{token}")?;
                if let Err(e) = super::write_atomically(&config, after.as_bytes()) {
                    errln!(
                        "the token above is not valid: {}",
                        crate::error_text::of(&e)
                    );
                    return Ok(Exit::Error);
                }
                errln!(
                    "client {name:?} added to {} with scopes {}; the token above is shown only this once \
                     (dpost keeps its SHA-256). Restart `dpost serve` to use it.",
                    config.display(),
                    parsed
                        .iter()
                        .map(|s| s.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                Ok(Exit::Ok)
            }
        }
    }
}
