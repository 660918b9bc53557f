//! Writes MeMo 1.1 or 1.2 from the typed model, streaming: each call returns the bytes it
//! produced, and file content is base64-encoded as it is pushed, so a large file never has to
//! be held whole, encoded or not.
//!
//! The writer guarantees well-formed XML in MeMo's element order and the structural rules it can
//! see (1.1's required fields, 1.2-only elements, no empty files, documents with files). Value
//! rules (UUID form, lengths, dates) are the validator's: run [`super::validate()`] on the
//! result when the input is not trusted.
//!
//! ```text
//! header ─▶ begin_body ─▶ (begin_document ─▶ (begin_file ─▶ file_data* ─▶ end_file)+ ─▶ end_document)+ ─▶ finish
//! ```

use super::constants::MEMO_NAMESPACE;
use super::content::Encoder;
use super::model::{
    Action, AttentionData, ContactInfo, ContactPoint, DocumentInfo, DocumentKind, ExtensionNode,
    FileInfo, Header, MemoVersion, Message, MessageType,
};
use super::schema::{Ns, Ty};
use super::tokenizer::is_xml_char;

/// Why the writer refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// A call out of sequence.
    #[error("{call} cannot be called {state}")]
    OutOfOrder {
        /// The call made.
        call: &'static str,
        /// Where the writer was.
        state: &'static str,
    },
    /// A field MeMo 1.1 requires is absent.
    #[error("{0} is required in MeMo 1.1")]
    RequiredIn11(&'static str),
    /// A field that MeMo 1.1 does not have.
    #[error("{0} exists only from MeMo 1.2")]
    NotInVersion(&'static str),
    /// A file with no bytes.
    #[error("a file must not be empty (NgDP refuses empty files)")]
    EmptyFile,
    /// A document ended without a file.
    #[error("a document needs at least one file")]
    DocumentWithoutFiles,
    /// Documents in the wrong order or a second main document.
    #[error("documents go main first (exactly one), then additional, then technical; got {0} here")]
    DocumentOrder(&'static str),
    /// A technical document with actions.
    #[error("a technical document cannot carry actions")]
    TechnicalActions,
    /// An action with both a reservation and an entry point.
    #[error("an action has either a reservation or an entry point URL, not both")]
    ActionChoice,
    /// A DIGITALPOST message ended without a body.
    #[error("a DIGITALPOST message needs a body with a main document")]
    BodyRequired,
    /// A character XML cannot carry.
    #[error("{field} contains U+{code:04X}, which XML cannot carry")]
    InvalidCharacter {
        /// Which field.
        field: &'static str,
        /// The character.
        code: u32,
    },
    /// An extension element with an unusable name, namespace or depth.
    #[error("extension element {name:?}: {reason}")]
    BadExtension {
        /// Its name.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    Header,
    Body,
    Document,
    File,
    Done,
}

impl State {
    fn describe(self) -> &'static str {
        match self {
            State::Start => "before the header",
            State::Header => "after the header",
            State::Body => "between documents",
            State::Document => "inside a document",
            State::File => "inside a file",
            State::Done => "after finish",
        }
    }
}

/// The streaming writer.
#[derive(Debug)]
pub struct Writer {
    state: State,
    version: MemoVersion,
    message_type: MessageType,
    encoder: Encoder,
    file_bytes: u64,
    document: Option<DocumentKind>,
    /// The latest document kind written, for order.
    last_kind: Option<DocumentKind>,
    files_in_document: u32,
}

impl Default for Writer {
    fn default() -> Self {
        Self::new()
    }
}

struct Out {
    bytes: Vec<u8>,
}

impl Out {
    fn raw(&mut self, s: &str) {
        self.bytes.extend_from_slice(s.as_bytes());
    }

    fn text(&mut self, field: &'static str, s: &str) -> Result<(), WriteError> {
        for c in s.chars() {
            match c {
                '&' => self.raw("&amp;"),
                '<' => self.raw("&lt;"),
                '>' => self.raw("&gt;"),
                '"' => self.raw("&quot;"),
                // Escaped so that XML's line-end normalisation does not change the value.
                '\r' => self.raw("&#13;"),
                '\n' => self.raw("&#10;"),
                '\t' => self.raw("&#9;"),
                c if is_xml_char(c) => {
                    let mut buf = [0u8; 4];
                    self.raw(c.encode_utf8(&mut buf));
                }
                c => {
                    return Err(WriteError::InvalidCharacter {
                        field,
                        code: c as u32,
                    });
                }
            }
        }
        Ok(())
    }

    fn open(&mut self, name: &str) {
        self.raw("<memo:");
        self.raw(name);
        self.raw(">");
    }

    fn close(&mut self, name: &str) {
        self.raw("</memo:");
        self.raw(name);
        self.raw(">");
    }

    fn el(&mut self, name: &'static str, value: &str) -> Result<(), WriteError> {
        self.open(name);
        self.text(name, value)?;
        self.close(name);
        Ok(())
    }

    fn opt(&mut self, name: &'static str, value: &Option<String>) -> Result<(), WriteError> {
        match value {
            Some(v) => self.el(name, v),
            None => Ok(()),
        }
    }

    fn boolean(&mut self, name: &'static str, value: Option<bool>) -> Result<(), WriteError> {
        match value {
            Some(v) => self.el(name, if v { "true" } else { "false" }),
            None => Ok(()),
        }
    }
}

fn xml_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn extensions(out: &mut Out, nodes: &[ExtensionNode]) -> Result<(), WriteError> {
    let mut open: Vec<String> = Vec::new();
    for node in nodes {
        let bad = |reason| WriteError::BadExtension {
            name: node.name.clone(),
            reason,
        };
        let depth = node.depth as usize;
        if depth > open.len() {
            return Err(bad("its depth is more than one below the previous element"));
        }
        if !xml_name(&node.name) {
            return Err(bad("the name is not an XML name without prefix"));
        }
        if depth == 0 && (node.namespace == MEMO_NAMESPACE || node.namespace.is_empty()) {
            return Err(bad(
                "an extension element directly in MeMo data needs a namespace other than MeMo's",
            ));
        }
        while open.len() > depth {
            if let Some(q) = open.pop() {
                out.raw("</");
                out.raw(&q);
                out.raw(">");
            }
        }
        let qname = if node.namespace.is_empty() {
            node.name.clone()
        } else {
            format!("x{depth}:{}", node.name)
        };
        out.raw("<");
        out.raw(&qname);
        if !node.namespace.is_empty() {
            out.raw(&format!(" xmlns:x{depth}=\""));
            out.text("extension namespace", &node.namespace)?;
            out.raw("\"");
        }
        for (i, a) in node.attributes.iter().enumerate() {
            if !xml_name(&a.name) {
                return Err(bad("an attribute name is not an XML name without prefix"));
            }
            if a.namespace.is_empty() {
                out.raw(&format!(" {}=\"", a.name));
            } else {
                out.raw(&format!(" xmlns:a{i}=\""));
                out.text("extension attribute namespace", &a.namespace)?;
                out.raw(&format!("\" a{i}:{}=\"", a.name));
            }
            out.text("extension attribute", &a.value)?;
            out.raw("\"");
        }
        out.raw(">");
        out.text("extension text", &node.text)?;
        open.push(qname);
    }
    while let Some(q) = open.pop() {
        out.raw("</");
        out.raw(&q);
        out.raw(">");
    }
    Ok(())
}

/// Foreign-namespace data placed where the schema's sequence puts it among the MeMo children
/// of `parent`: each top-level extension element (with what nests in it) is written just
/// before the first MeMo child that follows it in the schema. Elements the schema does not
/// know go last (the validator reports them).
struct Interleaved<'a> {
    parent: Ty,
    groups: Vec<(usize, &'a [ExtensionNode])>,
    next: usize,
}

impl<'a> Interleaved<'a> {
    fn new(parent: Ty, nodes: &'a [ExtensionNode]) -> Self {
        let mut groups = Vec::new();
        let mut start = 0;
        for i in 1..=nodes.len() {
            if nodes.get(i).is_none_or(|n| n.depth == 0) {
                if let Some(group) = nodes.get(start..i)
                    && let Some(first) = group.first()
                {
                    let index = Ns::of(&first.namespace)
                        .and_then(|ns| parent.child(ns, &first.name))
                        .map_or(usize::MAX, |(index, _)| index);
                    groups.push((index, group));
                }
                start = i;
            }
        }
        // Stable: groups at the same place keep their order.
        groups.sort_by_key(|(index, _)| *index);
        Interleaved {
            parent,
            groups,
            next: 0,
        }
    }

    /// Writes the groups that come before the MeMo child `name`.
    fn before(&mut self, out: &mut Out, name: &str) -> Result<(), WriteError> {
        let limit = self
            .parent
            .child(Ns::Memo, name)
            .map_or(usize::MAX, |(index, _)| index);
        while let Some((index, group)) = self.groups.get(self.next) {
            if *index >= limit {
                break;
            }
            extensions(out, group)?;
            self.next += 1;
        }
        Ok(())
    }

    /// Writes the groups still unwritten.
    fn rest(&mut self, out: &mut Out) -> Result<(), WriteError> {
        while let Some((_, group)) = self.groups.get(self.next) {
            extensions(out, group)?;
            self.next += 1;
        }
        Ok(())
    }
}

fn attention(out: &mut Out, a: &AttentionData) -> Result<(), WriteError> {
    out.open("AttentionData");
    let mut ext = Interleaved::new(Ty::AttentionData, &a.extensions);
    ext.before(out, "AttentionPerson")?;
    if let Some(p) = &a.attention_person {
        out.open("AttentionPerson");
        out.el("personID", &p.person_id)?;
        out.opt("label", &p.label)?;
        out.close("AttentionPerson");
    }
    ext.before(out, "EMail")?;
    if let Some(e) = &a.email {
        out.open("EMail");
        out.el("emailAddress", &e.email_address)?;
        out.opt("relatedAgent", &e.related_agent)?;
        out.close("EMail");
    }
    ext.before(out, "Telephone")?;
    if let Some(t) = &a.telephone {
        out.open("Telephone");
        out.el("telephoneNumber", &t.telephone_number)?;
        out.opt("relatedAgent", &t.related_agent)?;
        out.close("Telephone");
    }
    ext.before(out, "ContentResponsible")?;
    if let Some(c) = &a.content_responsible {
        out.open("ContentResponsible");
        out.el("contentResponsibleID", &c.content_responsible_id)?;
        out.opt("label", &c.label)?;
        out.close("ContentResponsible");
    }
    ext.before(out, "GeneratingSystem")?;
    if let Some(g) = &a.generating_system {
        out.open("GeneratingSystem");
        out.el("generatingSystemID", &g.generating_system_id)?;
        out.opt("label", &g.label)?;
        out.close("GeneratingSystem");
    }
    ext.rest(out)?;
    out.close("AttentionData");
    Ok(())
}

fn label_values(out: &mut Out, name: &str, items: &[ContactInfo]) -> Result<(), WriteError> {
    for i in items {
        out.open(name);
        out.el("label", &i.label)?;
        out.el("value", &i.value)?;
        out.close(name);
    }
    Ok(())
}

fn contact_point(out: &mut Out, c: &ContactPoint) -> Result<(), WriteError> {
    out.open("ContactPoint");
    out.opt("contactGroup", &c.contact_group)?;
    out.el("contactPointID", &c.contact_point_id)?;
    out.opt("label", &c.label)?;
    label_values(out, "ContactInfo", &c.contact_info)?;
    out.close("ContactPoint");
    Ok(())
}

fn header_xml(out: &mut Out, h: &Header) -> Result<(), WriteError> {
    let v11 = h.memo_version == MemoVersion::V1_1;
    if v11 && h.mandatory.is_none() {
        return Err(WriteError::RequiredIn11("mandatory"));
    }
    if v11 && h.legal_notification.is_none() {
        return Err(WriteError::RequiredIn11("legalNotification"));
    }
    if v11 && h.sender.representative.is_some() {
        return Err(WriteError::NotInVersion("Sender/Representative"));
    }
    if v11
        && h.forward_data
            .as_ref()
            .is_some_and(|f| f.original_representative.is_some())
    {
        return Err(WriteError::NotInVersion(
            "ForwardData/originalRepresentative",
        ));
    }
    out.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<memo:Message xmlns:memo=\"");
    out.raw(MEMO_NAMESPACE);
    out.raw("\" memoVersion=\"");
    out.raw(h.memo_version.as_str());
    out.raw("\"");
    if let Some(sch) = &h.memo_sch_version {
        out.raw(" memoSchVersion=\"");
        out.text("memoSchVersion", sch)?;
        out.raw("\"");
    }
    out.raw(">");
    out.open("MessageHeader");
    out.el("messageType", h.message_type.as_str())?;
    out.el("messageUUID", &h.message_uuid)?;
    out.opt("messageID", &h.message_id)?;
    out.opt("messageCode", &h.message_code)?;
    out.el("label", &h.label)?;
    out.opt("notification", &h.notification)?;
    out.opt("additionalNotification", &h.additional_notification)?;
    out.boolean("reply", h.reply)?;
    out.opt("replyByDateTime", &h.reply_by_date_time)?;
    out.opt("doNotDeliverUntilDate", &h.do_not_deliver_until_date)?;
    out.boolean("mandatory", h.mandatory)?;
    out.boolean("legalNotification", h.legal_notification)?;
    out.opt("postType", &h.post_type)?;

    let s = &h.sender;
    out.open("Sender");
    out.el("senderID", &s.sender_id)?;
    out.el("idType", &s.id_type)?;
    out.opt("idTypeLabel", &s.id_type_label)?;
    out.el("label", &s.label)?;
    if let Some(a) = &s.attention_data {
        attention(out, a)?;
    }
    if let Some(c) = &s.contact_point {
        contact_point(out, c)?;
    }
    if let Some(r) = &s.representative {
        out.open("Representative");
        out.el("representativeID", &r.representative_id)?;
        out.el("idType", &r.id_type)?;
        out.opt("idTypeLabel", &r.id_type_label)?;
        out.opt("label", &r.label)?;
        out.close("Representative");
    }
    out.close("Sender");

    let r = &h.recipient;
    out.open("Recipient");
    out.el("recipientID", &r.recipient_id)?;
    out.el("idType", &r.id_type)?;
    out.opt("idTypeLabel", &r.id_type_label)?;
    out.opt("label", &r.label)?;
    if let Some(a) = &r.attention_data {
        attention(out, a)?;
    }
    if let Some(c) = &r.contact_point {
        contact_point(out, c)?;
    }
    out.close("Recipient");

    if let Some(c) = &h.content_data {
        out.open("ContentData");
        let mut ext = Interleaved::new(Ty::ContentData, &c.extensions);
        ext.before(out, "CaseID")?;
        if let Some(case) = &c.case_id {
            out.open("CaseID");
            out.el("caseID", &case.case_id)?;
            out.opt("caseSystem", &case.case_system)?;
            out.close("CaseID");
        }
        ext.before(out, "AdditionalContentData")?;
        for a in &c.additional_content_data {
            out.open("AdditionalContentData");
            out.opt("contentDataType", &a.content_data_type)?;
            out.el("contentDataName", &a.content_data_name)?;
            out.el("contentDataValue", &a.content_data_value)?;
            out.close("AdditionalContentData");
        }
        ext.rest(out)?;
        out.close("ContentData");
    }
    if let Some(f) = &h.forward_data {
        out.open("ForwardData");
        out.el("messageUUID", &f.message_uuid)?;
        out.el("originalMessageDateTime", &f.original_message_date_time)?;
        out.el("originalSender", &f.original_sender)?;
        out.opt(
            "originalContentResponsible",
            &f.original_content_responsible,
        )?;
        out.opt("originalRepresentative", &f.original_representative)?;
        out.opt("contactPointID", &f.contact_point_id)?;
        out.opt("comment", &f.comment)?;
        out.close("ForwardData");
    }
    for r in &h.reply_data {
        out.open("ReplyData");
        out.opt("messageID", &r.message_id)?;
        out.el("messageUUID", &r.message_uuid)?;
        out.opt("replyUUID", &r.reply_uuid)?;
        out.opt("senderID", &r.sender_id)?;
        out.opt("recipientID", &r.recipient_id)?;
        out.opt("caseID", &r.case_id)?;
        out.opt("contactPointID", &r.contact_point_id)?;
        out.opt("generatingSystemID", &r.generating_system_id)?;
        out.opt("comment", &r.comment)?;
        label_values(out, "AdditionalReplyData", &r.additional_reply_data)?;
        out.close("ReplyData");
    }
    out.close("MessageHeader");
    Ok(())
}

fn actions_xml(out: &mut Out, actions: &[Action]) -> Result<(), WriteError> {
    for a in actions {
        if a.reservation.is_some() && a.entry_point_url.is_some() {
            return Err(WriteError::ActionChoice);
        }
        out.open("Action");
        out.el("label", &a.label)?;
        out.el("actionCode", &a.action_code)?;
        out.opt("startDateTime", &a.start_date_time)?;
        out.opt("endDateTime", &a.end_date_time)?;
        if let Some(r) = &a.reservation {
            out.open("Reservation");
            out.opt("description", &r.description)?;
            out.opt("reservationUUID", &r.reservation_uuid)?;
            out.opt("abstract", &r.abstract_text)?;
            out.opt("location", &r.location)?;
            out.opt("startDateTime", &r.start_date_time)?;
            out.opt("endDateTime", &r.end_date_time)?;
            out.opt("organizerMail", &r.organizer_mail)?;
            out.opt("organizerName", &r.organizer_name)?;
            out.close("Reservation");
        }
        if let Some(url) = &a.entry_point_url {
            out.open("EntryPoint");
            out.el("url", url)?;
            out.close("EntryPoint");
        }
        out.close("Action");
    }
    Ok(())
}

impl Writer {
    /// A writer for one message.
    pub fn new() -> Self {
        Writer {
            state: State::Start,
            version: MemoVersion::V1_2,
            message_type: MessageType::Digitalpost,
            encoder: Encoder::new(),
            file_bytes: 0,
            document: None,
            last_kind: None,
            files_in_document: 0,
        }
    }

    fn expect(&self, call: &'static str, states: &[State]) -> Result<(), WriteError> {
        if states.contains(&self.state) {
            Ok(())
        } else {
            Err(WriteError::OutOfOrder {
                call,
                state: self.state.describe(),
            })
        }
    }

    /// Starts the message: the XML declaration, the root and the whole header. The version
    /// comes from `header.memo_version`.
    pub fn header(&mut self, header: &Header) -> Result<Vec<u8>, WriteError> {
        self.expect("header", &[State::Start])?;
        let mut out = Out { bytes: Vec::new() };
        header_xml(&mut out, header)?;
        self.version = header.memo_version;
        self.message_type = header.message_type;
        self.state = State::Header;
        Ok(out.bytes)
    }

    /// Starts the body.
    pub fn begin_body(&mut self, created_date_time: &str) -> Result<Vec<u8>, WriteError> {
        self.expect("begin_body", &[State::Header])?;
        let mut out = Out { bytes: Vec::new() };
        out.open("MessageBody");
        out.el("createdDateTime", created_date_time)?;
        self.state = State::Body;
        Ok(out.bytes)
    }

    /// Starts a document: the main one first, then additional, then technical ones.
    pub fn begin_document(&mut self, info: &DocumentInfo) -> Result<Vec<u8>, WriteError> {
        self.expect("begin_document", &[State::Body])?;
        let rank = |k: DocumentKind| match k {
            DocumentKind::Main => 0,
            DocumentKind::Additional => 1,
            DocumentKind::Technical => 2,
        };
        let ok = match self.last_kind {
            None => info.kind == DocumentKind::Main,
            Some(last) => info.kind != DocumentKind::Main && rank(info.kind) >= rank(last),
        };
        if !ok {
            return Err(WriteError::DocumentOrder(info.kind.element()));
        }
        let mut out = Out { bytes: Vec::new() };
        out.open(info.kind.element());
        out.opt(info.kind.id_element(), &info.id)?;
        out.opt("label", &info.label)?;
        self.document = Some(info.kind);
        self.last_kind = Some(info.kind);
        self.files_in_document = 0;
        self.state = State::Document;
        Ok(out.bytes)
    }

    /// Starts a file of the current document; its content follows with [`Writer::file_data`].
    pub fn begin_file(&mut self, info: &FileInfo) -> Result<Vec<u8>, WriteError> {
        self.expect("begin_file", &[State::Document])?;
        let mut out = Out { bytes: Vec::new() };
        out.open("File");
        out.el("encodingFormat", &info.encoding_format)?;
        out.el("filename", &info.filename)?;
        out.el("language", &info.language)?;
        out.open("content");
        self.encoder = Encoder::new();
        self.file_bytes = 0;
        self.state = State::File;
        Ok(out.bytes)
    }

    /// The next bytes of the current file; returns their base64 text (a multiple of four
    /// characters; up to two bytes wait for the next call).
    pub fn file_data(&mut self, bytes: &[u8]) -> Result<Vec<u8>, WriteError> {
        self.expect("file_data", &[State::File])?;
        let mut out = Vec::with_capacity(bytes.len() / 3 * 4 + 4);
        self.encoder.push(bytes, &mut out);
        self.file_bytes += bytes.len() as u64;
        Ok(out)
    }

    /// Ends the current file.
    pub fn end_file(&mut self) -> Result<Vec<u8>, WriteError> {
        self.expect("end_file", &[State::File])?;
        if self.file_bytes == 0 {
            return Err(WriteError::EmptyFile);
        }
        let mut out = Out { bytes: Vec::new() };
        self.encoder.finish(&mut out.bytes);
        out.close("content");
        out.close("File");
        self.files_in_document += 1;
        self.state = State::Document;
        Ok(out.bytes)
    }

    /// Ends the current document with its actions (none for a technical document).
    pub fn end_document(&mut self, actions: &[Action]) -> Result<Vec<u8>, WriteError> {
        self.expect("end_document", &[State::Document])?;
        if self.files_in_document == 0 {
            return Err(WriteError::DocumentWithoutFiles);
        }
        let kind = self.document.unwrap_or_default();
        if kind == DocumentKind::Technical && !actions.is_empty() {
            return Err(WriteError::TechnicalActions);
        }
        let mut out = Out { bytes: Vec::new() };
        actions_xml(&mut out, actions)?;
        out.close(kind.element());
        self.document = None;
        self.state = State::Body;
        Ok(out.bytes)
    }

    /// Ends the message.
    pub fn finish(&mut self) -> Result<Vec<u8>, WriteError> {
        self.expect("finish", &[State::Header, State::Body])?;
        let mut out = Out { bytes: Vec::new() };
        if self.state == State::Body {
            if self.last_kind.is_none() {
                return Err(WriteError::DocumentOrder(
                    "the end of the body (no MainDocument)",
                ));
            }
            out.close("MessageBody");
        } else if self.message_type == MessageType::Digitalpost {
            return Err(WriteError::BodyRequired);
        }
        out.close("Message");
        out.raw("\n");
        self.state = State::Done;
        Ok(out.bytes)
    }
}

/// Writes a whole message.
pub fn write_message(message: &Message) -> Result<Vec<u8>, WriteError> {
    let mut w = Writer::new();
    let mut out = w.header(&message.header)?;
    if let Some(body) = &message.body {
        out.extend(w.begin_body(&body.created_date_time)?);
        for d in &body.documents {
            out.extend(w.begin_document(&d.info)?);
            for f in &d.files {
                out.extend(w.begin_file(&f.info)?);
                out.extend(w.file_data(&f.content)?);
                out.extend(w.end_file()?);
            }
            out.extend(w.end_document(&d.actions)?);
        }
    }
    out.extend(w.finish()?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memo::model::{Body, Document, File};

    fn minimal() -> Message {
        let mut m = Message::default();
        m.header.message_uuid = "8c2ea15d-61fb-4ba9-9366-42f8b194c114".into();
        m.header.label = "Hej & <farvel>".into();
        m.header.sender.sender_id = "12345678".into();
        m.header.sender.id_type = "CVR".into();
        m.header.sender.label = "K".into();
        m.header.recipient.recipient_id = "2211771212".into();
        m.header.recipient.id_type = "CPR".into();
        m.body = Some(Body {
            created_date_time: "2024-05-03T12:00:00Z".into(),
            documents: vec![Document {
                info: DocumentInfo {
                    kind: DocumentKind::Main,
                    id: None,
                    label: None,
                },
                files: vec![File {
                    info: FileInfo {
                        encoding_format: "text/plain".into(),
                        filename: "a.txt".into(),
                        language: "da".into(),
                    },
                    content: b"hej".to_vec(),
                }],
                actions: vec![],
            }],
        });
        m
    }

    #[test]
    fn writes_a_valid_message_that_reads_back() {
        let m = minimal();
        let xml = write_message(&m).unwrap();
        assert!(crate::memo::validate(&xml).is_empty());
        assert_eq!(crate::memo::parse(&xml).unwrap().message, m);
    }

    #[test]
    fn streams_file_content() {
        let mut w = Writer::new();
        w.header(&minimal().header).unwrap();
        w.begin_body("2024-05-03T12:00:00Z").unwrap();
        w.begin_document(&DocumentInfo::default()).unwrap();
        w.begin_file(&FileInfo::default()).unwrap();
        assert_eq!(w.file_data(b"he").unwrap(), b"");
        assert_eq!(w.file_data(b"j").unwrap(), b"aGVq");
        assert!(w.end_file().unwrap().starts_with(b"</memo:content>"));
    }

    #[test]
    fn refuses_structural_mistakes() {
        let mut m = minimal();
        m.header.memo_version = MemoVersion::V1_1;
        assert_eq!(
            write_message(&m),
            Err(WriteError::RequiredIn11("mandatory"))
        );
        let mut m = minimal();
        if let Some(b) = m.body.as_mut() {
            b.documents[0].files[0].content.clear();
        }
        assert_eq!(write_message(&m), Err(WriteError::EmptyFile));
        let mut m = minimal();
        m.body = None;
        assert_eq!(write_message(&m), Err(WriteError::BodyRequired));
        let mut w = Writer::new();
        assert!(matches!(
            w.begin_body("x"),
            Err(WriteError::OutOfOrder { .. })
        ));
        let mut m = minimal();
        m.header.label = "bad \u{1}".into();
        assert!(matches!(
            write_message(&m),
            Err(WriteError::InvalidCharacter { .. })
        ));
    }
}
