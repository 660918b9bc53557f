//! Where a problem in a message that `memo new` wrote comes from: a key of the spec, or one of
//! the `--file` arguments. The validator speaks of element paths and positions in XML that the
//! person never saw; they wrote a TOML file and named files, so that is what they are told.

use std::io::{self, Write};

/// What a problem in the generated message goes back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A key of the spec, e.g. `sender.id`.
    Key(&'static str),
    /// The `--file` argument with this index (0: the main document).
    File(usize),
    /// Nothing the person wrote (the writer's own structure).
    Message,
}

/// The origin of a problem at `path` (`/Message/MessageHeader/Sender/senderID`), in document
/// `document` (by index among the `--file` arguments) when it lies inside one.
pub fn origin(path: &str, document: Option<usize>) -> Origin {
    let rest = |prefix: &str| path.strip_prefix(prefix);
    if let Some(header) = rest("/Message/MessageHeader/") {
        return header_key(header).map_or(Origin::Message, Origin::Key);
    }
    if path == "/Message" {
        return Origin::Key("version");
    }
    if path == "/Message/MessageBody/createdDateTime" {
        return Origin::Key("created");
    }
    let in_document = ["MainDocument", "AdditionalDocument", "TechnicalDocument"]
        .iter()
        .find_map(|d| rest(&format!("/Message/MessageBody/{d}")));
    match (in_document, document) {
        (Some("/File/language"), _) => Origin::Key("language"),
        // The main document's label is `main_label` (or `label`); the others' are their file names.
        (Some("/label"), Some(0)) => Origin::Key("main_label"),
        (Some(_), Some(i)) => Origin::File(i),
        _ => Origin::Message,
    }
}

/// The spec key a header element comes from.
fn header_key(path: &str) -> Option<&'static str> {
    let party = |prefix: &'static str, rest: &str| -> Option<&'static str> {
        let key = match rest {
            "senderID" | "recipientID" => "id",
            "idType" => "id_type",
            "label" => "label",
            r if r.starts_with("ContactPoint") => "contact_point",
            _ => return None,
        };
        Some(match (prefix, key) {
            ("sender", "id") => "sender.id",
            ("sender", "id_type") => "sender.id_type",
            ("sender", "label") => "sender.label",
            ("sender", _) => "sender.contact_point",
            (_, "id") => "recipient.id",
            (_, "id_type") => "recipient.id_type",
            (_, "label") => "recipient.label",
            _ => "recipient.contact_point",
        })
    };
    if let Some(rest) = path.strip_prefix("Sender/") {
        return party("sender", rest);
    }
    if let Some(rest) = path.strip_prefix("Recipient/") {
        return party("recipient", rest);
    }
    Some(match path {
        "messageType" => "message_type",
        "messageUUID" => "message_uuid",
        "messageID" => "message_id",
        "label" => "label",
        "notification" => "notification",
        "mandatory" => "mandatory",
        "legalNotification" => "legal_notification",
        "postType" => "post_type",
        "Sender" => "sender",
        "Recipient" => "recipient",
        _ => return None,
    })
}

/// A writer that counts the lines and columns (in characters, as the reader counts them) of
/// what passes through, so that where each document begins in the generated XML is known.
#[derive(Debug)]
pub struct Counting<W> {
    inner: W,
    line: u32,
    column: u32,
}

impl<W> Counting<W> {
    /// Counting from line 1, column 1.
    pub fn new(inner: W) -> Self {
        Counting {
            inner,
            line: 1,
            column: 1,
        }
    }

    /// Where the next byte goes: (line, column).
    pub fn position(&self) -> (u32, u32) {
        (self.line, self.column)
    }
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        for &b in buf.get(..n).unwrap_or_default() {
            if b == b'\n' {
                self.line = self.line.saturating_add(1);
                self.column = 1;
            } else if b & 0xC0 != 0x80 {
                self.column = self.column.saturating_add(1);
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The document a position lies in, given where each document begins (in order).
pub fn document_at(starts: &[(u32, u32)], position: (u32, u32)) -> Option<usize> {
    starts.iter().rposition(|&start| start <= position)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_paths_go_back_to_spec_keys() {
        let h = "/Message/MessageHeader/";
        for (path, key) in [
            ("label", "label"),
            ("Sender/senderID", "sender.id"),
            ("Sender/label", "sender.label"),
            ("Recipient/idType", "recipient.id_type"),
            (
                "Recipient/ContactPoint/contactPointID",
                "recipient.contact_point",
            ),
            ("notification", "notification"),
        ] {
            assert_eq!(
                origin(&format!("{h}{path}"), None),
                Origin::Key(key),
                "{path}"
            );
        }
        assert_eq!(origin("/Message", None), Origin::Key("version"));
        assert_eq!(
            origin("/Message/MessageBody/createdDateTime", None),
            Origin::Key("created")
        );
    }

    #[test]
    fn document_paths_go_back_to_files() {
        let f = "/Message/MessageBody/AdditionalDocument/File/filename";
        assert_eq!(origin(f, Some(2)), Origin::File(2));
        let l = "/Message/MessageBody/MainDocument/File/language";
        assert_eq!(origin(l, Some(0)), Origin::Key("language"));
        let m = "/Message/MessageBody/MainDocument/label";
        assert_eq!(origin(m, Some(0)), Origin::Key("main_label"));
        assert_eq!(document_at(&[(1, 10), (1, 50)], (1, 49)), Some(0));
        assert_eq!(document_at(&[(1, 10), (1, 50)], (2, 1)), Some(1));
        assert_eq!(document_at(&[(1, 10)], (1, 5)), None);
    }

    #[test]
    fn counts_lines_and_characters() {
        let mut c = Counting::new(Vec::new());
        c.write_all("ab\ncæd".as_bytes()).unwrap();
        assert_eq!(c.position(), (2, 4));
    }
}
