//! Where a key's password comes from. Never the command line: arguments are visible to every
//! user of the machine in the process list.

use std::path::PathBuf;

use super::KeyError;

/// The source of a password.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PasswordSource {
    /// No password (PEM keys, which dpost reads unencrypted).
    #[default]
    None,
    /// The value of an environment variable.
    Env(String),
    /// The contents of a file, without a trailing line break.
    File(PathBuf),
}

impl PasswordSource {
    /// Read the password now. `None` for [`PasswordSource::None`].
    pub fn read(&self) -> Result<Option<String>, KeyError> {
        match self {
            PasswordSource::None => Ok(None),
            PasswordSource::Env(var) => std::env::var(var).map(Some).map_err(|e| {
                KeyError::Password(match e {
                    std::env::VarError::NotPresent => {
                        format!("the password variable {var} is not set in the environment")
                    }
                    std::env::VarError::NotUnicode(_) => {
                        format!("the password variable {var} is not valid UTF-8")
                    }
                })
            }),
            PasswordSource::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    KeyError::Password(format!(
                        "cannot read the password file {}: {e}",
                        path.display()
                    ))
                })?;
                // Files written by editors and `echo` end in a line break that is no part of
                // the password.
                let text = text.strip_suffix('\n').unwrap_or(&text);
                let text = text.strip_suffix('\r').unwrap_or(text);
                Ok(Some(text.to_owned()))
            }
        }
    }
}
