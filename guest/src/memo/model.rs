//! The typed MeMo message: what the reader produces and the writer consumes.
//!
//! Field names follow MeMo's element names in Rust case. Optional MeMo elements are `Option`,
//! repeated ones `Vec`. Values are kept as written (strings are not trimmed) so that writing a
//! message and reading it back gives the same value; the validator, not the type, says
//! whether a value is acceptable.

/// The MeMo version, from the root's `memoVersion` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MemoVersion {
    /// MeMo 1.1 (`memoVersion="1.1"`, `memoSchVersion="1.1.0"`).
    V1_1,
    /// MeMo 1.2.
    #[default]
    V1_2,
}

impl MemoVersion {
    /// The attribute value, `1.1` or `1.2`.
    pub fn as_str(self) -> &'static str {
        match self {
            MemoVersion::V1_1 => "1.1",
            MemoVersion::V1_2 => "1.2",
        }
    }
}

/// `messageType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageType {
    /// An ordinary Digital Post message.
    #[default]
    Digitalpost,
    /// A text message; its `notification` is the text and the body is optional.
    Nemsms,
}

impl MessageType {
    /// The element value, `DIGITALPOST` or `NEMSMS`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Digitalpost => "DIGITALPOST",
            MessageType::Nemsms => "NEMSMS",
        }
    }
}

/// A whole message, file contents included; for messages small enough to hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// `MessageHeader`, with the root's version attributes.
    pub header: Header,
    /// `MessageBody`; optional only for NEMSMS.
    pub body: Option<Body>,
}

/// `MessageHeader`, plus the version attributes of the root element.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// Root attribute `memoVersion`.
    pub memo_version: MemoVersion,
    /// Root attribute `memoSchVersion` (1.1 messages carry `1.1.0`).
    pub memo_sch_version: Option<String>,
    /// `messageType`.
    pub message_type: MessageType,
    /// `messageUUID`, a UUID v4.
    pub message_uuid: String,
    /// `messageID`, the sender's own id.
    pub message_id: Option<String>,
    /// `messageCode`.
    pub message_code: Option<String>,
    /// `label`, the message title.
    pub label: String,
    /// `notification` (at most 150 characters; required for NEMSMS).
    pub notification: Option<String>,
    /// `additionalNotification`.
    pub additional_notification: Option<String>,
    /// `reply`: whether the recipient may reply.
    pub reply: Option<bool>,
    /// `replyByDateTime`, UTC.
    pub reply_by_date_time: Option<String>,
    /// `doNotDeliverUntilDate`.
    pub do_not_deliver_until_date: Option<String>,
    /// `mandatory` (required in 1.1).
    pub mandatory: Option<bool>,
    /// `legalNotification` (required in 1.1).
    pub legal_notification: Option<bool>,
    /// `postType`.
    pub post_type: Option<String>,
    /// `Sender`.
    pub sender: Sender,
    /// `Recipient`.
    pub recipient: Recipient,
    /// `ContentData`.
    pub content_data: Option<ContentData>,
    /// `ForwardData`.
    pub forward_data: Option<ForwardData>,
    /// `ReplyData`, any number.
    pub reply_data: Vec<ReplyData>,
}

/// `Sender`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sender {
    /// `senderID`.
    pub sender_id: String,
    /// `idType`, e.g. `CVR`.
    pub id_type: String,
    /// `idTypeLabel`.
    pub id_type_label: Option<String>,
    /// `label`.
    pub label: String,
    /// `AttentionData`.
    pub attention_data: Option<AttentionData>,
    /// `ContactPoint`.
    pub contact_point: Option<ContactPoint>,
    /// `Representative` (MeMo 1.2 only).
    pub representative: Option<Representative>,
}

/// `Recipient`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recipient {
    /// `recipientID`.
    pub recipient_id: String,
    /// `idType`, e.g. `CPR`.
    pub id_type: String,
    /// `idTypeLabel`.
    pub id_type_label: Option<String>,
    /// `label`.
    pub label: Option<String>,
    /// `AttentionData`.
    pub attention_data: Option<AttentionData>,
    /// `ContactPoint`.
    pub contact_point: Option<ContactPoint>,
}

/// `Representative`: who sends on the sender's behalf (MeMo 1.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Representative {
    /// `representativeID`.
    pub representative_id: String,
    /// `idType`.
    pub id_type: String,
    /// `idTypeLabel`.
    pub id_type_label: Option<String>,
    /// `label`.
    pub label: Option<String>,
}

/// `AttentionData`: who or what within a party the message concerns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttentionData {
    /// `AttentionPerson`.
    pub attention_person: Option<AttentionPerson>,
    /// `EMail`.
    pub email: Option<Email>,
    /// `Telephone`.
    pub telephone: Option<Telephone>,
    /// `ContentResponsible`.
    pub content_responsible: Option<ContentResponsible>,
    /// `GeneratingSystem`.
    pub generating_system: Option<GeneratingSystem>,
    /// Elements from other namespaces (`grd:Address`, `sor:SORdata`, ...), in document order.
    pub extensions: Vec<ExtensionNode>,
}

/// `AttentionPerson`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttentionPerson {
    /// `personID`.
    pub person_id: String,
    /// `label`.
    pub label: Option<String>,
}

/// `EMail`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Email {
    /// `emailAddress`.
    pub email_address: String,
    /// `relatedAgent`.
    pub related_agent: Option<String>,
}

/// `Telephone`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Telephone {
    /// `telephoneNumber`.
    pub telephone_number: String,
    /// `relatedAgent`.
    pub related_agent: Option<String>,
}

/// `ContentResponsible`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContentResponsible {
    /// `contentResponsibleID`.
    pub content_responsible_id: String,
    /// `label`.
    pub label: Option<String>,
}

/// `GeneratingSystem`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GeneratingSystem {
    /// `generatingSystemID`.
    pub generating_system_id: String,
    /// `label`.
    pub label: Option<String>,
}

/// `ContactPoint`: where replies go.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContactPoint {
    /// `contactGroup`.
    pub contact_group: Option<String>,
    /// `contactPointID`, a GUID.
    pub contact_point_id: String,
    /// `label`.
    pub label: Option<String>,
    /// `ContactInfo`, at most 2.
    pub contact_info: Vec<ContactInfo>,
}

/// `ContactInfo`, also the shape of `AdditionalReplyData`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContactInfo {
    /// `label`.
    pub label: String,
    /// `value`.
    pub value: String,
}

/// `ContentData`: what the message is about.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContentData {
    /// `CaseID`.
    pub case_id: Option<CaseId>,
    /// `AdditionalContentData`, any number.
    pub additional_content_data: Vec<AdditionalContentData>,
    /// Elements from other namespaces (`grd:CPRdata`, `kle:KLEdata`, ...), in document order.
    pub extensions: Vec<ExtensionNode>,
}

/// `CaseID`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CaseId {
    /// `caseID`.
    pub case_id: String,
    /// `caseSystem`.
    pub case_system: Option<String>,
}

/// `AdditionalContentData`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AdditionalContentData {
    /// `contentDataType`.
    pub content_data_type: Option<String>,
    /// `contentDataName`.
    pub content_data_name: String,
    /// `contentDataValue`.
    pub content_data_value: String,
}

/// `ForwardData`: the message forwards another.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ForwardData {
    /// `messageUUID` of the original.
    pub message_uuid: String,
    /// `originalMessageDateTime`.
    pub original_message_date_time: String,
    /// `originalSender`.
    pub original_sender: String,
    /// `originalContentResponsible`.
    pub original_content_responsible: Option<String>,
    /// `originalRepresentative` (MeMo 1.2 only).
    pub original_representative: Option<String>,
    /// `contactPointID`.
    pub contact_point_id: Option<String>,
    /// `comment` (at most 512 characters).
    pub comment: Option<String>,
}

/// `ReplyData`: the conversation this message belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplyData {
    /// `messageID`.
    pub message_id: Option<String>,
    /// `messageUUID`.
    pub message_uuid: String,
    /// `replyUUID`.
    pub reply_uuid: Option<String>,
    /// `senderID`.
    pub sender_id: Option<String>,
    /// `recipientID`.
    pub recipient_id: Option<String>,
    /// `caseID`.
    pub case_id: Option<String>,
    /// `contactPointID`.
    pub contact_point_id: Option<String>,
    /// `generatingSystemID`.
    pub generating_system_id: Option<String>,
    /// `comment` (at most 512 characters).
    pub comment: Option<String>,
    /// `AdditionalReplyData`, at most 4.
    pub additional_reply_data: Vec<ContactInfo>,
}

/// An element from a namespace other than MeMo's, flattened: the elements of one extension
/// area in document order, each with its depth below that area. Flat rather than nested so
/// that every host language can bind it (WIT has no recursive types).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExtensionNode {
    /// 0 for an element directly inside `AttentionData`/`ContentData`, 1 for its children...
    pub depth: u32,
    /// Namespace URI (empty when none).
    pub namespace: String,
    /// Local name.
    pub name: String,
    /// Attributes other than namespace declarations.
    pub attributes: Vec<ExtensionAttribute>,
    /// The element's own text; empty for an element whose text is only whitespace around
    /// child elements.
    pub text: String,
}

/// An attribute of an [`ExtensionNode`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExtensionAttribute {
    /// Namespace URI (empty when none, the usual case).
    pub namespace: String,
    /// Local name.
    pub name: String,
    /// Value.
    pub value: String,
}

/// `MessageBody`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Body {
    /// `createdDateTime`, UTC.
    pub created_date_time: String,
    /// The main document first, then additional and technical documents in order.
    pub documents: Vec<Document>,
}

/// Which kind of document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DocumentKind {
    /// `MainDocument`, exactly one.
    #[default]
    Main,
    /// `AdditionalDocument`.
    Additional,
    /// `TechnicalDocument` (no actions).
    Technical,
}

impl DocumentKind {
    /// The element name.
    pub fn element(self) -> &'static str {
        match self {
            DocumentKind::Main => "MainDocument",
            DocumentKind::Additional => "AdditionalDocument",
            DocumentKind::Technical => "TechnicalDocument",
        }
    }

    /// The id element's name.
    pub fn id_element(self) -> &'static str {
        match self {
            DocumentKind::Main => "mainDocumentID",
            DocumentKind::Additional => "additionalDocumentID",
            DocumentKind::Technical => "technicalDocumentID",
        }
    }
}

/// A document without its files and actions: what is known when its first file starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DocumentInfo {
    /// Main, additional or technical.
    pub kind: DocumentKind,
    /// `mainDocumentID` / `additionalDocumentID` / `technicalDocumentID`.
    pub id: Option<String>,
    /// `label`.
    pub label: Option<String>,
}

/// A document with everything in it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Document {
    /// Kind, id and label.
    pub info: DocumentInfo,
    /// `File`, one or more.
    pub files: Vec<File>,
    /// `Action`, any number (none for technical documents).
    pub actions: Vec<Action>,
}

/// A file's description: what is known when its content starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileInfo {
    /// `encodingFormat`, a MIME type.
    pub encoding_format: String,
    /// `filename`.
    pub filename: String,
    /// `language`, two letters.
    pub language: String,
}

/// A file with its decoded content.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct File {
    /// Format, name and language.
    pub info: FileInfo,
    /// The decoded bytes of `content`.
    pub content: Vec<u8>,
}

/// `Action`: something the recipient can do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Action {
    /// `label`.
    pub label: String,
    /// `actionCode`, e.g. `SELVBETJENING`.
    pub action_code: String,
    /// `startDateTime`.
    pub start_date_time: Option<String>,
    /// `endDateTime`.
    pub end_date_time: Option<String>,
    /// `Reservation` (a calendar entry).
    pub reservation: Option<Reservation>,
    /// `EntryPoint/url`, https.
    pub entry_point_url: Option<String>,
}

/// `Reservation`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reservation {
    /// `description`.
    pub description: Option<String>,
    /// `reservationUUID`.
    pub reservation_uuid: Option<String>,
    /// `abstract`.
    pub abstract_text: Option<String>,
    /// `location`.
    pub location: Option<String>,
    /// `startDateTime`.
    pub start_date_time: Option<String>,
    /// `endDateTime`.
    pub end_date_time: Option<String>,
    /// `organizerMail`.
    pub organizer_mail: Option<String>,
    /// `organizerName`.
    pub organizer_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_memo() {
        assert_eq!(MemoVersion::V1_1.as_str(), "1.1");
        assert_eq!(MessageType::Nemsms.as_str(), "NEMSMS");
        assert_eq!(DocumentKind::Technical.id_element(), "technicalDocumentID");
        assert_eq!(DocumentKind::Additional.element(), "AdditionalDocument");
    }
}
