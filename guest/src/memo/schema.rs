//! MeMo's structure as data: for each complex element, its children in order with their
//! cardinality and value type. The reader walks this table as elements stream past, so order,
//! cardinality and value rules are checked without holding the message.

use super::constants::{
    MAX_ADDITIONAL_REPLY_DATA, MAX_COMMENT, MAX_CONTACT_INFO, MAX_NOTIFICATION, MAX_STRING,
};
use super::model::MemoVersion;

/// A complex MeMo element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Message,
    Header,
    Sender,
    Recipient,
    Representative,
    AttentionData,
    AttentionPerson,
    Email,
    Telephone,
    ContentResponsible,
    GeneratingSystem,
    ContactPoint,
    ContactInfo,
    ContentData,
    CaseId,
    AdditionalContentData,
    ForwardData,
    ReplyData,
    AdditionalReplyData,
    Body,
    MainDocument,
    AdditionalDocument,
    TechnicalDocument,
    File,
    Action,
    Reservation,
    EntryPoint,
}

/// The value type of a simple element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// A string of at most this many characters.
    Text(usize),
    /// One of these values.
    Enumeration(&'static [&'static str]),
    /// A string; values outside the list are warnings.
    Known(&'static [&'static str]),
    /// An identifier with a format given by the sibling `idType`.
    Id,
    /// A UUID of version 4.
    Uuid4,
    /// Any UUID.
    Uuid,
    /// An XML date-time in UTC.
    DateTime,
    /// An XML date.
    Date,
    /// An XML boolean.
    Boolean,
    /// Two letters.
    Language,
    /// `type/subtype`.
    MimeType,
    /// A filename.
    Filename,
    /// An https URL.
    Url,
}

/// What a child element is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A complex element.
    Complex(Ty),
    /// A simple element.
    Simple(Value),
    /// File content: base64, streamed.
    Content,
}

/// How often a child must appear at least.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Min {
    Optional,
    Required,
    /// Required in MeMo 1.1, optional from 1.2.
    RequiredIn11,
}

/// One child in a complex element's sequence.
#[derive(Debug, Clone, Copy)]
pub struct Child {
    pub name: &'static str,
    pub kind: Kind,
    pub min: Min,
    /// Most occurrences; `u32::MAX` for unbounded.
    pub max: u32,
    /// The child exists from MeMo 1.2 on.
    pub since_1_2: bool,
}

impl Child {
    pub fn min_count(&self, version: MemoVersion) -> u32 {
        match (self.min, version) {
            (Min::Required, _) | (Min::RequiredIn11, MemoVersion::V1_1) => 1,
            _ => 0,
        }
    }
}

const fn c(name: &'static str, kind: Kind, min: Min, max: u32) -> Child {
    Child {
        name,
        kind,
        min,
        max,
        since_1_2: false,
    }
}
const fn req(name: &'static str, v: Value) -> Child {
    c(name, Kind::Simple(v), Min::Required, 1)
}
const fn opt(name: &'static str, v: Value) -> Child {
    c(name, Kind::Simple(v), Min::Optional, 1)
}
const fn one(name: &'static str, ty: Ty) -> Child {
    c(name, Kind::Complex(ty), Min::Required, 1)
}
const fn maybe(name: &'static str, ty: Ty) -> Child {
    c(name, Kind::Complex(ty), Min::Optional, 1)
}
const fn many(name: &'static str, ty: Ty, max: u32) -> Child {
    c(name, Kind::Complex(ty), Min::Optional, max)
}
const fn since_1_2(mut child: Child) -> Child {
    child.since_1_2 = true;
    child
}

const S: Value = Value::Text(MAX_STRING);
const COMMENT: Value = Value::Text(MAX_COMMENT);
const MESSAGE_TYPES: Value = Value::Enumeration(super::constants::MESSAGE_TYPES);
const ID_TYPES: Value = Value::Known(super::constants::KNOWN_ID_TYPES);
const ACTION_CODES: Value = Value::Known(super::constants::KNOWN_ACTION_CODES);

static MESSAGE: [Child; 2] = [
    one("MessageHeader", Ty::Header),
    maybe("MessageBody", Ty::Body),
];
static HEADER: [Child; 18] = [
    req("messageType", MESSAGE_TYPES),
    req("messageUUID", Value::Uuid4),
    opt("messageID", S),
    opt("messageCode", S),
    req("label", S),
    opt("notification", Value::Text(MAX_NOTIFICATION)),
    opt("additionalNotification", S),
    opt("reply", Value::Boolean),
    opt("replyByDateTime", Value::DateTime),
    opt("doNotDeliverUntilDate", Value::Date),
    c(
        "mandatory",
        Kind::Simple(Value::Boolean),
        Min::RequiredIn11,
        1,
    ),
    c(
        "legalNotification",
        Kind::Simple(Value::Boolean),
        Min::RequiredIn11,
        1,
    ),
    opt("postType", S),
    one("Sender", Ty::Sender),
    one("Recipient", Ty::Recipient),
    maybe("ContentData", Ty::ContentData),
    maybe("ForwardData", Ty::ForwardData),
    many("ReplyData", Ty::ReplyData, u32::MAX),
];
static SENDER: [Child; 7] = [
    req("senderID", Value::Id),
    req("idType", ID_TYPES),
    opt("idTypeLabel", S),
    req("label", S),
    maybe("AttentionData", Ty::AttentionData),
    maybe("ContactPoint", Ty::ContactPoint),
    since_1_2(maybe("Representative", Ty::Representative)),
];
static RECIPIENT: [Child; 6] = [
    req("recipientID", Value::Id),
    req("idType", ID_TYPES),
    opt("idTypeLabel", S),
    opt("label", S),
    maybe("AttentionData", Ty::AttentionData),
    maybe("ContactPoint", Ty::ContactPoint),
];
static REPRESENTATIVE: [Child; 4] = [
    req("representativeID", Value::Id),
    req("idType", ID_TYPES),
    opt("idTypeLabel", S),
    opt("label", S),
];
static ATTENTION_DATA: [Child; 5] = [
    maybe("AttentionPerson", Ty::AttentionPerson),
    maybe("EMail", Ty::Email),
    maybe("Telephone", Ty::Telephone),
    maybe("ContentResponsible", Ty::ContentResponsible),
    maybe("GeneratingSystem", Ty::GeneratingSystem),
];
static ATTENTION_PERSON: [Child; 2] = [req("personID", S), opt("label", S)];
static EMAIL: [Child; 2] = [req("emailAddress", S), opt("relatedAgent", S)];
static TELEPHONE: [Child; 2] = [req("telephoneNumber", S), opt("relatedAgent", S)];
static CONTENT_RESPONSIBLE: [Child; 2] = [req("contentResponsibleID", S), opt("label", S)];
static GENERATING_SYSTEM: [Child; 2] = [req("generatingSystemID", S), opt("label", S)];
static CONTACT_POINT: [Child; 4] = [
    opt("contactGroup", S),
    req("contactPointID", Value::Uuid),
    opt("label", S),
    many("ContactInfo", Ty::ContactInfo, MAX_CONTACT_INFO),
];
static LABEL_VALUE: [Child; 2] = [req("label", S), req("value", S)];
static CONTENT_DATA: [Child; 2] = [
    maybe("CaseID", Ty::CaseId),
    many("AdditionalContentData", Ty::AdditionalContentData, u32::MAX),
];
static CASE_ID: [Child; 2] = [req("caseID", S), opt("caseSystem", S)];
static ADDITIONAL_CONTENT_DATA: [Child; 3] = [
    opt("contentDataType", S),
    req("contentDataName", S),
    req("contentDataValue", S),
];
static FORWARD_DATA: [Child; 7] = [
    req("messageUUID", Value::Uuid4),
    req("originalMessageDateTime", Value::DateTime),
    req("originalSender", S),
    opt("originalContentResponsible", S),
    since_1_2(opt("originalRepresentative", S)),
    opt("contactPointID", Value::Uuid),
    opt("comment", COMMENT),
];
static REPLY_DATA: [Child; 10] = [
    opt("messageID", S),
    req("messageUUID", Value::Uuid4),
    opt("replyUUID", Value::Uuid),
    opt("senderID", S),
    opt("recipientID", S),
    opt("caseID", S),
    opt("contactPointID", Value::Uuid),
    opt("generatingSystemID", S),
    opt("comment", COMMENT),
    many(
        "AdditionalReplyData",
        Ty::AdditionalReplyData,
        MAX_ADDITIONAL_REPLY_DATA,
    ),
];
static BODY: [Child; 4] = [
    req("createdDateTime", Value::DateTime),
    one("MainDocument", Ty::MainDocument),
    many("AdditionalDocument", Ty::AdditionalDocument, u32::MAX),
    many("TechnicalDocument", Ty::TechnicalDocument, u32::MAX),
];
static MAIN_DOCUMENT: [Child; 4] = [
    opt("mainDocumentID", S),
    opt("label", S),
    c("File", Kind::Complex(Ty::File), Min::Required, u32::MAX),
    many("Action", Ty::Action, u32::MAX),
];
static ADDITIONAL_DOCUMENT: [Child; 4] = [
    opt("additionalDocumentID", S),
    opt("label", S),
    c("File", Kind::Complex(Ty::File), Min::Required, u32::MAX),
    many("Action", Ty::Action, u32::MAX),
];
static TECHNICAL_DOCUMENT: [Child; 3] = [
    opt("technicalDocumentID", S),
    opt("label", S),
    c("File", Kind::Complex(Ty::File), Min::Required, u32::MAX),
];
static FILE: [Child; 4] = [
    req("encodingFormat", Value::MimeType),
    req("filename", Value::Filename),
    req("language", Value::Language),
    c("content", Kind::Content, Min::Required, 1),
];
static ACTION: [Child; 6] = [
    req("label", S),
    req("actionCode", ACTION_CODES),
    opt("startDateTime", Value::DateTime),
    opt("endDateTime", Value::DateTime),
    maybe("Reservation", Ty::Reservation),
    maybe("EntryPoint", Ty::EntryPoint),
];
static RESERVATION: [Child; 8] = [
    opt("description", S),
    opt("reservationUUID", Value::Uuid),
    opt("abstract", S),
    opt("location", S),
    opt("startDateTime", Value::DateTime),
    opt("endDateTime", Value::DateTime),
    opt("organizerMail", S),
    opt("organizerName", S),
];
static ENTRY_POINT: [Child; 1] = [req("url", Value::Url)];

impl Ty {
    /// The children in schema order.
    pub fn children(self) -> &'static [Child] {
        match self {
            Ty::Message => &MESSAGE,
            Ty::Header => &HEADER,
            Ty::Sender => &SENDER,
            Ty::Recipient => &RECIPIENT,
            Ty::Representative => &REPRESENTATIVE,
            Ty::AttentionData => &ATTENTION_DATA,
            Ty::AttentionPerson => &ATTENTION_PERSON,
            Ty::Email => &EMAIL,
            Ty::Telephone => &TELEPHONE,
            Ty::ContentResponsible => &CONTENT_RESPONSIBLE,
            Ty::GeneratingSystem => &GENERATING_SYSTEM,
            Ty::ContactPoint => &CONTACT_POINT,
            Ty::ContactInfo | Ty::AdditionalReplyData => &LABEL_VALUE,
            Ty::ContentData => &CONTENT_DATA,
            Ty::CaseId => &CASE_ID,
            Ty::AdditionalContentData => &ADDITIONAL_CONTENT_DATA,
            Ty::ForwardData => &FORWARD_DATA,
            Ty::ReplyData => &REPLY_DATA,
            Ty::Body => &BODY,
            Ty::MainDocument => &MAIN_DOCUMENT,
            Ty::AdditionalDocument => &ADDITIONAL_DOCUMENT,
            Ty::TechnicalDocument => &TECHNICAL_DOCUMENT,
            Ty::File => &FILE,
            Ty::Action => &ACTION,
            Ty::Reservation => &RESERVATION,
            Ty::EntryPoint => &ENTRY_POINT,
        }
    }

    /// Whether elements from other namespaces may appear among the children (MeMo's extension
    /// areas: the fixtures carry `grd:`, `gln:`, `sor:`, `kle:`, `form:`, `dmv:` and `udd:` data
    /// there).
    pub fn takes_extensions(self) -> bool {
        matches!(self, Ty::AttentionData | Ty::ContentData)
    }

    /// The index of a child by name.
    pub fn child(self, name: &str) -> Option<(usize, &'static Child)> {
        self.children()
            .iter()
            .enumerate()
            .find(|(_, c)| c.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_names_are_unique_within_each_type() {
        let all = [
            Ty::Message,
            Ty::Header,
            Ty::Sender,
            Ty::Recipient,
            Ty::Representative,
            Ty::AttentionData,
            Ty::AttentionPerson,
            Ty::Email,
            Ty::Telephone,
            Ty::ContentResponsible,
            Ty::GeneratingSystem,
            Ty::ContactPoint,
            Ty::ContactInfo,
            Ty::ContentData,
            Ty::CaseId,
            Ty::AdditionalContentData,
            Ty::ForwardData,
            Ty::ReplyData,
            Ty::AdditionalReplyData,
            Ty::Body,
            Ty::MainDocument,
            Ty::AdditionalDocument,
            Ty::TechnicalDocument,
            Ty::File,
            Ty::Action,
            Ty::Reservation,
            Ty::EntryPoint,
        ];
        for ty in all {
            let mut names: Vec<&str> = ty.children().iter().map(|c| c.name).collect();
            names.sort_unstable();
            let n = names.len();
            names.dedup();
            assert_eq!(names.len(), n, "{ty:?}");
        }
    }

    #[test]
    fn version_dependent_minimums() {
        let (_, mandatory) = Ty::Header.child("mandatory").unwrap();
        assert_eq!(mandatory.min_count(MemoVersion::V1_1), 1);
        assert_eq!(mandatory.min_count(MemoVersion::V1_2), 0);
        assert!(Ty::Sender.child("Representative").unwrap().1.since_1_2);
    }
}
