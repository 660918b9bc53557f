//! `dpost console …`: accounts of the operator console.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;

use super::Exit;
use crate::config::ConfigFile;
use crate::config::console::{Role, add_user, name_problem};

/// The shortest password taken: long enough that, with argon2id in front of it, guessing
/// it from a stolen configuration is not worth trying.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The longest: argon2 takes any length, but a password typed by a person is never this
/// long, and hashing megabytes on every sign-in would be an easy way to load the server.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Console commands.
#[derive(Debug, Subcommand)]
pub enum ConsoleCommand {
    /// The console's users.
    #[command(subcommand)]
    User(UserCommand),
}

/// User commands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user: the password is read from standard input (never from the command line,
    /// where other users of the machine could see it), hashed with argon2id, and only the
    /// hash is written into the configuration file (comments kept).
    Add {
        /// The name typed at sign-in, recorded with every action.
        name: String,
        /// viewer (sees everything, changes nothing), operator (also acknowledges, moves,
        /// retries), admin (also reads the audit log).
        #[arg(long, value_name = "ROLE")]
        role: String,
        /// Read the password from standard input (one line; required).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// The configuration file.
        #[arg(long, value_name = "FILE", default_value = "dpost.toml")]
        config: PathBuf,
    },
}

impl ConsoleCommand {
    pub fn run(self) -> anyhow::Result<Exit> {
        match self {
            ConsoleCommand::User(UserCommand::Add {
                name,
                role,
                password_stdin: _,
                config,
            }) => {
                let Some(role) = Role::parse(&role) else {
                    errln!("{role:?} is not a role; roles: viewer, operator, admin");
                    return Ok(Exit::Error);
                };
                if let Some(problem) = name_problem(&name) {
                    errln!("{problem}");
                    return Ok(Exit::Error);
                }
                super::config::load_existing(&config)?;
                let mut input = Vec::new();
                std::io::stdin()
                    .take(MAX_PASSWORD_BYTES as u64 + 3)
                    .read_to_end(&mut input)
                    .context("cannot read the password from standard input")?;
                let Ok(text) = String::from_utf8(input) else {
                    errln!("the password on standard input is not UTF-8 text; nothing written");
                    return Ok(Exit::Error);
                };
                // One line: the newline `echo` or a terminal ends it with is not part of it.
                let password = text
                    .strip_suffix('\n')
                    .map(|p| p.strip_suffix('\r').unwrap_or(p))
                    .unwrap_or(&text);
                if password.contains('\n') {
                    errln!(
                        "the password is one line; standard input held several; nothing written"
                    );
                    return Ok(Exit::Error);
                }
                if password.len() > MAX_PASSWORD_BYTES {
                    errln!("the password is at most {MAX_PASSWORD_BYTES} bytes; nothing written");
                    return Ok(Exit::Error);
                }
                if password.chars().count() < MIN_PASSWORD_CHARS {
                    errln!(
                        "the password has {} characters; the console takes at least {MIN_PASSWORD_CHARS}; nothing written",
                        password.chars().count()
                    );
                    return Ok(Exit::Error);
                }
                let hash = crate::console::users::hash_password(password)
                    .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?;
                let text = std::fs::read_to_string(&config)
                    .with_context(|| format!("cannot read {}", config.display()))?;
                let after = match add_user(&text, &name, role, &hash) {
                    Ok(a) => a,
                    Err(e) => {
                        errln!("{e}; nothing written");
                        return Ok(Exit::Error);
                    }
                };
                // The result must be a configuration dpost accepts, or nothing is written.
                if let Err(e) = ConfigFile::parse(config.clone(), after.clone())
                    .and_then(|f| f.console(|v| std::env::var(v).ok()))
                {
                    errln!("the new user would leave the configuration invalid: {e}");
                    errln!("nothing written");
                    return Ok(Exit::Error);
                }
                super::write_atomically(&config, after.as_bytes())?;
                errln!(
                    "user {name:?} added to {} with the role {}; restart `dpost serve` to use it",
                    config.display(),
                    role.name()
                );
                Ok(Exit::Ok)
            }
        }
    }
}
