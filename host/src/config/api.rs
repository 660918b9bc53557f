//! `[api]`: the platform API's listener and the clients allowed to use it.
//!
//! ```toml
//! [api]
//! listen = "127.0.0.1:8081"       # never the public push listener; give tls_cert/tls_key for HTTPS
//! events_retention_days = 30      # events (GET /api/v1/events, webhooks) older than this are deleted
//!
//! [[api.clients]]
//! name = "casework"
//! token_sha256 = "…"              # written by `dpost api token create`; the token itself is never stored
//! scopes = ["messages:read", "messages:ack"]
//! mailboxes = ["daycare"]         # optional: only these mailboxes' messages exist for this client
//! ```

use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, ConfigFile};

/// How many days events are kept when the file says nothing: long enough for a platform
/// that was away over a holiday to catch up from the feed.
pub const DEFAULT_EVENTS_RETENTION_DAYS: u32 = 30;

/// Where the API listens when the file says nothing: loopback only, so that nothing is
/// reachable from outside until an operator decides so.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8081";

/// What a client may do. A request needs the one scope its endpoint names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// List and read received messages, their MeMo and files.
    MessagesRead,
    /// Acknowledge and route received messages.
    MessagesAck,
    /// Send messages and follow them (`/api/v1/outgoing`).
    Send,
    /// Read receipts both ways and retry refused business receipts (`/api/v1/receipts`).
    Receipts,
    /// Everything, and the operator's endpoints.
    Admin,
}

impl Scope {
    /// Every scope, in the order the documentation lists them.
    pub const ALL: [Scope; 5] = [
        Scope::MessagesRead,
        Scope::MessagesAck,
        Scope::Send,
        Scope::Receipts,
        Scope::Admin,
    ];

    /// The name used in `dpost.toml`, on the command line and in problems.
    pub fn name(self) -> &'static str {
        match self {
            Scope::MessagesRead => "messages:read",
            Scope::MessagesAck => "messages:ack",
            Scope::Send => "send",
            Scope::Receipts => "receipts",
            Scope::Admin => "admin",
        }
    }

    /// The scope called `name`.
    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// `[api]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiTable {
    /// Address and port of the API listener.
    pub listen: Option<String>,
    /// TLS certificate chain (PEM); with `tls_key`, serve HTTPS.
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// How many days events are kept (`store::events_retention`).
    pub events_retention_days: Option<i64>,
    /// `[[api.clients]]`.
    #[serde(default)]
    pub clients: Vec<ClientTable>,
    /// `[[api.webhooks]]` (resolved in `config::webhooks`).
    #[serde(default)]
    pub webhooks: Vec<super::webhooks::WebhookTable>,
}

/// One `[[api.clients]]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTable {
    /// Who: recorded with every acknowledgement and route it makes.
    pub name: String,
    /// SHA-256 of its bearer token, hex.
    pub token_sha256: String,
    /// What it may do.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// When present, the only mailboxes whose messages it sees.
    pub mailboxes: Option<Vec<String>>,
}

/// An API client, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiClient {
    /// Its name.
    pub name: String,
    /// SHA-256 of its token.
    pub token_sha256: [u8; 32],
    /// Its scopes.
    pub scopes: Vec<Scope>,
    /// `None`: every mailbox.
    pub mailboxes: Option<Vec<String>>,
}

impl ApiClient {
    /// Whether it holds `scope` (admin holds every scope).
    pub fn may(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope) || self.scopes.contains(&Scope::Admin)
    }

    /// Whether a message in `mailbox` exists for it.
    pub fn sees(&self, mailbox: &str) -> bool {
        self.mailboxes
            .as_ref()
            .is_none_or(|m| m.iter().any(|b| b == mailbox))
    }
}

/// `[api]`, resolved.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Address and port.
    pub listen: String,
    /// Certificate chain and key (PEM files), for HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The clients.
    pub clients: Vec<ApiClient>,
    /// How many days events are kept.
    pub events_retention_days: u32,
}

impl ConfigFile {
    /// Resolve `[api]`.
    pub fn api(&self) -> Result<ApiSettings, ConfigError> {
        let t = &self.config.api;
        let listen = t
            .listen
            .clone()
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        if listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(self.error(
                "api",
                "listen",
                format!("{listen:?} is not an address like {DEFAULT_LISTEN}"),
            ));
        }
        let tls = self.tls_files("api", t.tls_cert.as_deref(), t.tls_key.as_deref())?;
        let events_retention_days = match t.events_retention_days {
            None => DEFAULT_EVENTS_RETENTION_DAYS,
            Some(d) => u32::try_from(d)
                .ok()
                .filter(|d| (1..=36_500).contains(d))
                .ok_or_else(|| {
                    self.error(
                        "api",
                        "events_retention_days",
                        format!("{d} is not a number of days from 1 to 36500"),
                    )
                })?,
        };
        let mut clients: Vec<ApiClient> = Vec::with_capacity(t.clients.len());
        for (i, c) in t.clients.iter().enumerate() {
            let at =
                |key: &str, message: String| self.error_in_array("api.clients", i, key, message);
            if c.name.trim().is_empty() {
                return Err(at("name", "a client needs a name".into()));
            }
            if clients.iter().any(|o| o.name == c.name) {
                return Err(at("name", format!("a second client is named {:?}", c.name)));
            }
            let token_sha256 = parse_sha256(&c.token_sha256).ok_or_else(|| {
                at(
                    "token_sha256",
                    "must be 64 hexadecimal digits, as `dpost api token create` writes".into(),
                )
            })?;
            let mut scopes = Vec::with_capacity(c.scopes.len());
            for s in &c.scopes {
                let scope = Scope::parse(s).ok_or_else(|| {
                    at(
                        "scopes",
                        format!("{s:?} is not a scope; scopes: {}", scope_names()),
                    )
                })?;
                scopes.push(scope);
            }
            clients.push(ApiClient {
                name: c.name.clone(),
                token_sha256,
                scopes,
                mailboxes: c.mailboxes.clone(),
            });
        }
        Ok(ApiSettings {
            listen,
            tls,
            clients,
            events_retention_days,
        })
    }
}

/// Why a client could not be added to the configuration text.
#[derive(Debug, thiserror::Error)]
pub enum AddClientError {
    /// The text is not TOML.
    #[error("the configuration is not TOML: {0}")]
    Parse(String),
    /// `api` or `api.clients` is something other than a table and an array of tables.
    #[error("{0} in the configuration is not what dpost writes there; fix it by hand")]
    Shape(&'static str),
    /// The name is taken.
    #[error(
        "a client named {0:?} exists; choose another name, or remove its [[api.clients]] entry first"
    )]
    Exists(String),
}

/// `config_text` with a new `[[api.clients]]` entry appended, every comment and the layout
/// of the rest kept (toml_edit, as `contact-points import` does).
pub fn add_client(
    config_text: &str,
    name: &str,
    scopes: &[Scope],
    mailboxes: Option<&[String]>,
    token_sha256: &str,
) -> Result<String, AddClientError> {
    use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, Value};
    let mut doc: DocumentMut = config_text
        .parse()
        .map_err(|e: toml_edit::TomlError| AddClientError::Parse(e.message().trim().to_owned()))?;
    let api = doc
        .entry("api")
        .or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        })
        .as_table_mut()
        .ok_or(AddClientError::Shape("[api]"))?;
    let clients = api
        .entry("clients")
        .or_insert_with(|| Item::ArrayOfTables(ArrayOfTables::new()))
        .as_array_of_tables_mut()
        .ok_or(AddClientError::Shape("api.clients"))?;
    if clients
        .iter()
        .any(|c| c.get("name").and_then(|n| n.as_str()) == Some(name))
    {
        return Err(AddClientError::Exists(name.to_owned()));
    }
    let mut t = Table::new();
    t.decor_mut().set_prefix("\n");
    t.insert("name", toml_edit::value(name));
    t.insert("token_sha256", toml_edit::value(token_sha256));
    t.insert(
        "scopes",
        Item::Value(Value::Array(scopes.iter().map(|s| s.name()).collect())),
    );
    if let Some(m) = mailboxes {
        t.insert(
            "mailboxes",
            Item::Value(Value::Array(m.iter().map(String::as_str).collect())),
        );
    }
    clients.push(t);
    Ok(doc.to_string())
}

/// The scope names, comma-separated, for messages.
pub fn scope_names() -> String {
    Scope::ALL.map(Scope::name).join(", ")
}

fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim().as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        let digit = |b: u8| (b as char).to_digit(16);
        out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(text: &str) -> Result<ApiSettings, ConfigError> {
        ConfigFile::parse("dpost.toml".into(), text.into())
            .unwrap()
            .api()
    }

    #[test]
    fn defaults_to_loopback_without_clients() {
        let a = api("").unwrap();
        assert_eq!(a.listen, DEFAULT_LISTEN);
        assert!(a.clients.is_empty() && a.tls.is_none());
    }

    #[test]
    fn reads_clients_and_refuses_what_is_wrong_with_the_line() {
        let hash = "ab".repeat(32);
        let a = api(&format!(
            "[api]\n[[api.clients]]\nname = \"c\"\ntoken_sha256 = \"{hash}\"\nscopes = [\"messages:read\"]\nmailboxes = [\"m\"]\n"
        ))
        .unwrap();
        let c = &a.clients[0];
        assert!(c.may(Scope::MessagesRead) && !c.may(Scope::MessagesAck));
        assert!(c.sees("m") && !c.sees("other"));
        let e = api(&format!(
            "[api]\n[[api.clients]]\nname = \"c\"\ntoken_sha256 = \"{hash}\"\nscopes = [\"read\"]\n"
        ))
        .unwrap_err();
        assert_eq!(e.line, Some(5));
        assert!(e.message.contains("messages:read"), "{}", e.message);
        let e = api("[api]\n[[api.clients]]\nname = \"c\"\ntoken_sha256 = \"xyz\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("api.clients[0].token_sha256"));
    }

    #[test]
    fn a_client_is_added_with_every_comment_kept() {
        let before = "# my gateway\n[serve]\nlisten = \"127.0.0.1:8080\" # behind nginx\n";
        let hash = "cd".repeat(32);
        let after = add_client(
            before,
            "casework",
            &[Scope::MessagesRead],
            Some(&["a".into()]),
            &hash,
        )
        .unwrap();
        assert!(after.starts_with(before), "{after}");
        let file = ConfigFile::parse("dpost.toml".into(), after.clone()).unwrap();
        let c = &file.api().unwrap().clients[0];
        assert_eq!(c.name, "casework");
        assert_eq!(c.mailboxes.as_deref(), Some(&["a".to_owned()][..]));
        let e = add_client(&after, "casework", &[], None, &hash).unwrap_err();
        assert!(matches!(e, AddClientError::Exists(_)));
        let two = add_client(&after, "ops", &[Scope::Admin], None, &hash).unwrap();
        assert_eq!(
            ConfigFile::parse("dpost.toml".into(), two)
                .unwrap()
                .api()
                .unwrap()
                .clients
                .len(),
            2
        );
    }

    #[test]
    fn admin_holds_every_scope() {
        let c = ApiClient {
            name: "ops".into(),
            token_sha256: [0; 32],
            scopes: vec![Scope::Admin],
            mailboxes: None,
        };
        assert!(Scope::ALL.into_iter().all(|s| c.may(s)));
    }
}
