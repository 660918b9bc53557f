//! `[console]`: the operator console's accounts (issue 17), served at `/` of the API listener.
//!
//! ```toml
//! [console]
//! session_hours = 8                  # how long a sign-in lasts (default 8)
//! # session_secret_env = "DPOST_CONSOLE_SECRET"  # else a key file in the data folder
//!
//! [[console.users]]
//! name = "ops"
//! role = "operator"                  # viewer | operator | admin
//! password_hash = "$argon2id$v=19$…" # written by `dpost console user add`
//! ```

use serde::Deserialize;

use super::{ConfigError, ConfigFile};

/// How long a sign-in lasts when `session_hours` is not given: one working day.
pub const DEFAULT_SESSION_HOURS: u64 = 8;

/// What a console user may do. Each role holds the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Sees every page; changes nothing.
    Viewer,
    /// Also acknowledges, moves messages, retries receipts and webhooks.
    Operator,
    /// Also sees the audit log of every user.
    Admin,
}

impl Role {
    /// Every role, weakest first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    /// The name in `dpost.toml` and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// The role called `name`.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// `[console]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleTable {
    /// Hours a sign-in lasts.
    pub session_hours: Option<u64>,
    /// An environment variable holding the session-signing secret (at least 32 bytes).
    pub session_secret_env: Option<String>,
    /// `[[console.users]]`.
    #[serde(default)]
    pub users: Vec<UserTable>,
}

/// One `[[console.users]]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserTable {
    /// The name typed at sign-in, recorded with every action.
    pub name: String,
    /// viewer, operator or admin.
    pub role: String,
    /// An argon2id PHC string.
    pub password_hash: String,
}

/// A console user, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleUser {
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Its argon2id PHC string.
    pub password_hash: String,
}

/// `[console]`, resolved.
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    /// The accounts; none means the console answers only its sign-in page, which says so.
    pub users: Vec<ConsoleUser>,
    /// How long a sign-in lasts, in seconds.
    pub session_seconds: i64,
    /// The session-signing secret from `session_secret_env`, when set.
    pub secret: Option<Vec<u8>>,
}

/// The shortest session secret taken from the environment: 256 bits.
pub const MIN_SECRET_BYTES: usize = 32;

impl ConfigFile {
    /// Resolve `[console]`; `env` reads environment variables.
    pub fn console(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<ConsoleSettings, ConfigError> {
        let t = &self.config.console;
        let hours = t.session_hours.unwrap_or(DEFAULT_SESSION_HOURS);
        if hours == 0 || hours > 24 * 30 {
            return Err(self.error("console", "session_hours", "is between 1 and 720 (30 days)"));
        }
        let secret = match &t.session_secret_env {
            None => None,
            Some(var) => {
                let value = env(var).ok_or_else(|| {
                    self.error(
                        "console",
                        "session_secret_env",
                        format!("the environment variable {var} is not set"),
                    )
                })?;
                if value.len() < MIN_SECRET_BYTES {
                    return Err(self.error(
                        "console",
                        "session_secret_env",
                        format!("{var} holds {} bytes; a session secret has at least {MIN_SECRET_BYTES}", value.len()),
                    ));
                }
                Some(value.into_bytes())
            }
        };
        let mut users: Vec<ConsoleUser> = Vec::with_capacity(t.users.len());
        for (i, u) in t.users.iter().enumerate() {
            let at = |key: &str, m: String| self.error_in_array("console.users", i, key, m);
            if let Some(problem) = name_problem(&u.name) {
                return Err(at("name", problem.into()));
            }
            if users.iter().any(|o| o.name == u.name) {
                return Err(at("name", format!("a second user is named {:?}", u.name)));
            }
            let role = Role::parse(&u.role).ok_or_else(|| {
                at(
                    "role",
                    format!("{:?} is not a role; roles: viewer, operator, admin", u.role),
                )
            })?;
            if !u.password_hash.starts_with("$argon2id$")
                || argon2::PasswordHash::new(&u.password_hash).is_err()
            {
                return Err(at(
                    "password_hash",
                    "is an argon2id hash as `dpost console user add` writes ($argon2id$…)".into(),
                ));
            }
            users.push(ConsoleUser {
                name: u.name.clone(),
                role,
                password_hash: u.password_hash.clone(),
            });
        }
        Ok(ConsoleSettings {
            users,
            session_seconds: hours as i64 * 3600,
            secret,
        })
    }
}

/// What is wrong with `name` as a user name, if anything: it is typed at sign-in and shown in
/// the audit log, so it is short printable text.
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.trim().is_empty() {
        Some("a user needs a name")
    } else if name.chars().count() > 64 || name.chars().any(|c| c.is_control()) {
        Some("a user name is at most 64 characters, without control characters")
    } else if name != name.trim() {
        Some("a user name does not start or end with a space")
    } else {
        None
    }
}

/// Why a user could not be added to the configuration text.
#[derive(Debug, thiserror::Error)]
pub enum AddUserError {
    /// The text is not TOML.
    #[error("the configuration is not TOML: {0}")]
    Parse(String),
    /// `console` or `console.users` is something other than a table and an array of tables.
    #[error("{0} in the configuration is not what dpost writes there; fix it by hand")]
    Shape(&'static str),
    /// The name is taken.
    #[error(
        "a user named {0:?} exists; choose another name, or remove its [[console.users]] entry first"
    )]
    Exists(String),
}

/// `config_text` with a new `[[console.users]]` entry appended, every comment and the layout
/// of the rest kept (toml_edit, as `api token create` does).
pub fn add_user(
    config_text: &str,
    name: &str,
    role: Role,
    password_hash: &str,
) -> Result<String, AddUserError> {
    use toml_edit::{ArrayOfTables, DocumentMut, Item, Table};
    let mut doc: DocumentMut = config_text
        .parse()
        .map_err(|e: toml_edit::TomlError| AddUserError::Parse(e.message().trim().to_owned()))?;
    let console = doc
        .entry("console")
        .or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        })
        .as_table_mut()
        .ok_or(AddUserError::Shape("[console]"))?;
    let users = console
        .entry("users")
        .or_insert_with(|| Item::ArrayOfTables(ArrayOfTables::new()))
        .as_array_of_tables_mut()
        .ok_or(AddUserError::Shape("console.users"))?;
    if users
        .iter()
        .any(|u| u.get("name").and_then(|n| n.as_str()) == Some(name))
    {
        return Err(AddUserError::Exists(name.to_owned()));
    }
    let mut t = Table::new();
    t.decor_mut().set_prefix("\n");
    t.insert("name", toml_edit::value(name));
    t.insert("role", toml_edit::value(role.name()));
    t.insert("password_hash", toml_edit::value(password_hash));
    users.push(t);
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$Vk2l7V0Y5Yz3HFl3Wv1N8wY3b5d5xY0+e2kOQ3H5b8Q";

    fn console(text: &str) -> Result<ConsoleSettings, ConfigError> {
        ConfigFile::parse("dpost.toml".into(), text.into())
            .unwrap()
            .console(|_| None)
    }

    #[test]
    fn a_user_is_added_with_every_comment_kept_and_read_back() {
        let before = "# my gateway\n[serve]\nlisten = \"127.0.0.1:8080\" # behind nginx\n";
        let after = add_user(before, "ops", Role::Operator, HASH).unwrap();
        assert!(after.starts_with(before), "{after}");
        let c = console(&after).unwrap();
        assert_eq!(c.users[0].role, Role::Operator);
        assert_eq!(c.session_seconds, 8 * 3600);
        assert!(matches!(
            add_user(&after, "ops", Role::Admin, HASH),
            Err(AddUserError::Exists(_))
        ));
    }

    #[test]
    fn wrong_entries_are_named_with_their_line() {
        let e = console(&format!(
            "[console]\n[[console.users]]\nname = \"a\"\nrole = \"boss\"\npassword_hash = \"{HASH}\"\n"
        ))
        .unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(4), Some("console.users[0].role"))
        );
        let e = console(
            "[[console.users]]\nname = \"a\"\nrole = \"viewer\"\npassword_hash = \"secret\"\n",
        )
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("console.users[0].password_hash"));
        let e = console("[console]\nsession_secret_env = \"NOPE\"\n").unwrap_err();
        assert!(e.message.contains("NOPE"), "{e}");
    }
}
