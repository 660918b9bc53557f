//! `dpost memo new`'s description of a message, for people who do not write XML: a small TOML
//! file for the header, and the files themselves as the documents.

use std::path::Path;

use dpost_guest::memo::tokenizer::is_xml_char;
use serde::Deserialize;

use crate::bindings::memo_wit as wit;

/// The TOML a user writes. Everything the writer needs that is not given has a default that
/// NgDP accepts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// "1.1" or "1.2" (default).
    #[serde(default = "default_version")]
    pub version: String,
    /// DIGITALPOST (default) or NEMSMS.
    #[serde(default = "default_type")]
    pub message_type: String,
    /// The message's UUID (v4); a random one when absent.
    pub message_uuid: Option<String>,
    /// The sender's own id for the message.
    pub message_id: Option<String>,
    /// The message's subject line.
    pub label: String,
    /// The short notification text (required for NEMSMS; at most 150 characters).
    pub notification: Option<String>,
    /// Whether the recipient must open it (required in 1.1; default false).
    pub mandatory: Option<bool>,
    /// Whether it is a legal notification (required in 1.1; default false).
    pub legal_notification: Option<bool>,
    /// E.g. MYNDIGHEDSPOST.
    pub post_type: Option<String>,
    /// When the message was made (UTC, ends in Z); now when absent.
    pub created: Option<String>,
    /// Language of the files (two letters, default "da").
    #[serde(default = "default_language")]
    pub language: String,
    /// Label of the main document (default: the message label).
    pub main_label: Option<String>,
    /// Who sends.
    pub sender: Party,
    /// Who receives.
    pub recipient: Party,
}

/// A sender or recipient.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Party {
    /// CPR (10 digits), CVR (8 digits), or another id.
    pub id: String,
    /// CPR, CVR, ...
    pub id_type: String,
    /// A name to show (required for the sender).
    pub label: Option<String>,
    /// The contact point GUID replies should go to.
    pub contact_point: Option<String>,
}

fn default_version() -> String {
    "1.2".into()
}
fn default_type() -> String {
    "DIGITALPOST".into()
}
fn default_language() -> String {
    "da".into()
}

/// Why a spec cannot become a message header.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// Not valid TOML, or a key is wrong; the message names the line.
    #[error("{path}: {message}")]
    Toml {
        /// The spec file.
        path: String,
        /// What toml said, with line and column.
        message: String,
    },
    /// A value is outside what the writer can express.
    #[error("{path}: {key}: {message}")]
    Value {
        /// The spec file.
        path: String,
        /// The key.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl Spec {
    /// Parse a spec file's text.
    pub fn parse(path: &Path, text: &str) -> Result<Spec, SpecError> {
        toml::from_str(text).map_err(|e| SpecError::Toml {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// Every text the spec gives, by its key: what goes into the message as written.
    fn texts(&self) -> Vec<(&'static str, &str)> {
        let mut texts = vec![
            ("version", self.version.as_str()),
            ("message_type", &self.message_type),
            ("label", &self.label),
            ("language", &self.language),
            ("sender.id", &self.sender.id),
            ("sender.id_type", &self.sender.id_type),
            ("recipient.id", &self.recipient.id),
            ("recipient.id_type", &self.recipient.id_type),
        ];
        let optional = [
            ("message_uuid", &self.message_uuid),
            ("message_id", &self.message_id),
            ("notification", &self.notification),
            ("post_type", &self.post_type),
            ("created", &self.created),
            ("main_label", &self.main_label),
            ("sender.label", &self.sender.label),
            ("sender.contact_point", &self.sender.contact_point),
            ("recipient.label", &self.recipient.label),
            ("recipient.contact_point", &self.recipient.contact_point),
        ];
        texts.extend(
            optional
                .into_iter()
                .filter_map(|(key, value)| value.as_deref().map(|v| (key, v))),
        );
        texts
    }

    /// Refuses a character XML cannot carry (TOML's `\u0001` can write one), naming the key:
    /// found here, not as a writer error about an element the person never wrote.
    pub fn check_characters(&self, path: &Path) -> Result<(), SpecError> {
        for (key, value) in self.texts() {
            if let Some(c) = value.chars().find(|&c| !is_xml_char(c)) {
                return Err(SpecError::Value {
                    path: path.display().to_string(),
                    key,
                    message: format!(
                        "contains U+{:04X}, a character an XML message cannot carry",
                        c as u32
                    ),
                });
            }
        }
        Ok(())
    }

    /// The message header. `uuid` is used when the spec names none.
    pub fn header(&self, path: &Path, uuid: String) -> Result<wit::Header, SpecError> {
        let bad = |key, message: String| SpecError::Value {
            path: path.display().to_string(),
            key,
            message,
        };
        let memo_version = match self.version.as_str() {
            "1.1" => wit::MemoVersion::V11,
            "1.2" => wit::MemoVersion::V12,
            other => return Err(bad("version", format!("{other:?} is not 1.1 or 1.2"))),
        };
        let message_type = match self.message_type.as_str() {
            "DIGITALPOST" => wit::MessageType::Digitalpost,
            "NEMSMS" => wit::MessageType::Nemsms,
            other => {
                return Err(bad(
                    "message_type",
                    format!("{other:?} is not DIGITALPOST or NEMSMS"),
                ));
            }
        };
        let v11 = memo_version == wit::MemoVersion::V11;
        let contact = |cp: &Option<String>| {
            cp.as_ref().map(|id| wit::ContactPoint {
                contact_group: None,
                contact_point_id: id.clone(),
                label: None,
                contact_info: Vec::new(),
            })
        };
        Ok(wit::Header {
            memo_version,
            memo_sch_version: v11.then(|| "1.1.0".to_owned()),
            message_type,
            message_uuid: self.message_uuid.clone().unwrap_or(uuid),
            message_id: self.message_id.clone(),
            message_code: None,
            label: self.label.clone(),
            notification: self.notification.clone(),
            additional_notification: None,
            reply: None,
            reply_by_date_time: None,
            do_not_deliver_until_date: None,
            mandatory: self.mandatory.or(v11.then_some(false)),
            legal_notification: self.legal_notification.or(v11.then_some(false)),
            post_type: self.post_type.clone(),
            sender: wit::Sender {
                sender_id: self.sender.id.clone(),
                id_type: self.sender.id_type.clone(),
                id_type_label: None,
                label: self
                    .sender
                    .label
                    .clone()
                    .ok_or_else(|| bad("sender.label", "the sender needs a label".into()))?,
                attention_data: None,
                contact_point: contact(&self.sender.contact_point),
                representative: None,
            },
            recipient: wit::Recipient {
                recipient_id: self.recipient.id.clone(),
                id_type: self.recipient.id_type.clone(),
                id_type_label: None,
                label: self.recipient.label.clone(),
                attention_data: None,
                contact_point: contact(&self.recipient.contact_point),
            },
            content_data: None,
            forward_data: None,
            reply_data: Vec::new(),
        })
    }
}

/// One document file of a message written from a spec: the name it goes under and where its
/// bytes are.
#[derive(Debug, Clone)]
pub struct Document {
    /// The file name in the message (its MIME type follows from its extension).
    pub filename: String,
    /// The bytes.
    pub path: std::path::PathBuf,
}

impl Spec {
    /// Write the message this spec describes, with `header` (from [`Spec::header`]), created
    /// at `created`, and `documents` (the first is the main document, the others additional
    /// ones), into `out`, streamed: each file is read in chunks as it is encoded.
    /// `before_document(i, writer)` is called as document `i` begins (to note where it
    /// starts in the output, so that a problem found later can be told as its file).
    pub fn write<W: std::io::Write>(
        &self,
        instance: &mut crate::runtime::Instance,
        (header, created): (&wit::Header, &str),
        documents: &[Document],
        out: W,
        mut before_document: impl FnMut(usize, &crate::memo::writer::Writer<'_, W>),
    ) -> Result<W, crate::memo::writer::WriteError> {
        let mut writer = crate::memo::writer::Writer::new(instance, out)?;
        writer.header(header)?;
        writer.begin_body(created)?;
        for (i, d) in documents.iter().enumerate() {
            let kind = if i == 0 {
                wit::DocumentKind::Main
            } else {
                wit::DocumentKind::Additional
            };
            let label = match (i, &self.main_label) {
                (0, Some(l)) => l.clone(),
                (0, None) => self.label.clone(),
                _ => d.filename.clone(),
            };
            before_document(i, &writer);
            writer.begin_document(&wit::DocumentInfo {
                kind,
                id: None,
                label: Some(label),
            })?;
            let info = wit::FileInfo {
                encoding_format: mime_type(Path::new(&d.filename)).to_owned(),
                filename: d.filename.clone(),
                language: self.language.clone(),
            };
            let file = std::fs::File::open(&d.path).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot read {}: {e}", d.path.display()))
            })?;
            writer.file(&info, std::io::BufReader::new(file))?;
            writer.end_document(&[])?;
        }
        writer.finish()
    }
}

/// The MIME type for a file, from its extension; what NgDP's clients use for the common ones.
pub fn mime_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("pdf") => "application/pdf",
        Some("txt") => "text/plain",
        Some("html" | "htm") => "text/html",
        Some("xml") => "application/xml",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("tif" | "tiff") => "image/tiff",
        Some("docx") => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        Some("xlsx") => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        Some("doc") => "application/msword",
        Some("odt") => "application/vnd.oasis.opendocument.text",
        _ => "application/octet-stream",
    }
}
