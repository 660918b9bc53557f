//! MeMo's structure as data: for each complex element, its children in schema order with their
//! namespace, cardinality and value type. The reader walks this table as elements stream past,
//! so order, cardinality and value rules are checked without holding the message.
//!
//! Source: the MeMo 1.1 XML Schema set (Digitaliseringsstyrelsen's `memo-lib` XSDs: the MeMo
//! namespace and the `grd`, `kle`, `form`, `dmv`, `sor`, `gln`, `udd` and `dataTypes`
//! namespaces it imports), read through the xsdata model of it in the MIT-licensed repository
//! itk-dev-rpa/python-serviceplatformen (commit a82f755, `python_serviceplatformen/memo/`).
//! That model gives every element's namespace, whether it is required, `max_occurs`,
//! `max_length`, `pattern` and `max_inclusive`; it does not give the order of a sequence, which
//! is taken from the official full examples (`tests/fixtures/memo/`). MeMo 1.2 differs in
//! three places its examples show: `Representative` under Sender, `originalRepresentative` in
//! ForwardData, and `mandatory`/`legalNotification` optional. `docs/memo-schema.md` says what
//! is checked and why. 261 element paths below `Message` in 1.1; a test checks each one's
//! namespace, cardinality and facet against `guest/schema-model/paths.txt`, which
//! `guest/schema-model/derive.py` wrote from the model.
//!
//! The table is static and small: one slice per complex type, looked up by a linear scan over
//! at most a dozen children, so the reader allocates nothing per element for it.

use super::constants::{
    MAX_ADDITIONAL_CONTENT_DATA, MAX_ADDITIONAL_REPLY_DATA, MAX_COMMENT, MAX_CONTACT_INFO,
    MAX_GLOBAL_LOCATION_NUMBER, MAX_LICENSE_NUMBER, MAX_NOTIFICATION, MAX_PRODUCTION_UNIT_NUMBER,
    MAX_STRING,
};
use super::model::MemoVersion;

/// The namespaces of MeMo's schema set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ns {
    /// `https://DigitalPost.dk/MeMo-1`.
    Memo,
    /// Grunddata: `https://data.gov.dk/model/core/`.
    Grd,
    /// KLE: `http://kle-online.dk/`.
    Kle,
    /// FORM: `http://www.form-online.dk/`.
    Form,
    /// The motor register: `https://motorregister.skat.dk/`.
    Dmv,
    /// SOR: `https://services.nsi.dk/en/Services/SOR`.
    Sor,
    /// GS1 GLN.
    Gln,
    /// Danmarks Statistik's education register.
    Udd,
}

impl Ns {
    /// Every namespace, MeMo's first (it is by far the most frequent, and is tried first).
    pub const ALL: [Ns; 8] = [
        Ns::Memo,
        Ns::Grd,
        Ns::Kle,
        Ns::Form,
        Ns::Dmv,
        Ns::Sor,
        Ns::Gln,
        Ns::Udd,
    ];

    /// The namespace URI.
    pub const fn uri(self) -> &'static str {
        match self {
            Ns::Memo => super::constants::MEMO_NAMESPACE,
            Ns::Grd => "https://data.gov.dk/model/core/",
            Ns::Kle => "http://kle-online.dk/",
            Ns::Form => "http://www.form-online.dk/",
            Ns::Dmv => "https://motorregister.skat.dk/",
            Ns::Sor => "https://services.nsi.dk/en/Services/SOR",
            Ns::Gln => {
                "https://www.gs1.dk/gs1-standarder/identifikation/gln-global-location-number/"
            }
            Ns::Udd => {
                "https://www.dst.dk/da/TilSalg/Forskningsservice/Dokumentation/hoejkvalitetsvariable/elevregister-2/udd#"
            }
        }
    }

    /// The schema namespace with this URI, if it is one.
    pub fn of(uri: &str) -> Option<Ns> {
        Ns::ALL.into_iter().find(|ns| ns.uri() == uri)
    }
}

/// A complex element type of the schema set.
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
    // The imported namespaces.
    CprData,
    CvrData,
    MotorVehicle,
    PropertyNumber,
    KleData,
    FormData,
    ProductionUnit,
    Education,
    Address,
    AddressPoint,
    UnstructuredAddress,
    GlobalLocationNumber,
    SeNumber,
    Eid,
    SorData,
}

/// The value type of a simple element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// A string of at most this many characters.
    Text(usize),
    /// One of these values.
    Enumeration(&'static [&'static str]),
    /// A string of at most 256 characters; values outside the list are warnings.
    Known(&'static [&'static str]),
    /// A string of at most 256 characters whose format the sibling `idType` gives.
    Id,
    /// MeMo's UUID pattern: version 4 with the RFC 4122 variant.
    Uuid4,
    /// An XML date-time in UTC (MeMo's pattern `.+Z`).
    DateTime,
    /// An XML date, with or without a zone.
    Date,
    /// An XML boolean.
    Boolean,
    /// At most two characters: a language code.
    Language,
    /// A string of at most 256 characters, `type/subtype` expected.
    MimeType,
    /// A filename: at most 256 characters, without the characters NgDP refuses.
    Filename,
    /// An Action URL: at most 256 characters, https.
    Url,
    /// An XML integer of at most this value.
    Integer(u64),
    /// A CPR number: a string of at most 256 characters, and 10 digits by MeMo's rule.
    Cpr,
    /// A CVR number: a string of at most 256 characters, and 8 digits by MeMo's rule.
    Cvr,
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

/// The most children any complex type has (`MessageHeader`); the reader counts occurrences
/// in a fixed array of this size instead of allocating one per element.
pub const MAX_CHILDREN: usize = 18;

/// One child in a complex element's sequence.
#[derive(Debug, Clone, Copy)]
pub struct Child {
    pub ns: Ns,
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
        ns: Ns::Memo,
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
/// The same child in another namespace.
const fn in_ns(ns: Ns, mut child: Child) -> Child {
    child.ns = ns;
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
static ATTENTION_DATA: [Child; 12] = [
    maybe("AttentionPerson", Ty::AttentionPerson),
    in_ns(Ns::Grd, maybe("ProductionUnit", Ty::ProductionUnit)),
    in_ns(
        Ns::Gln,
        maybe("GlobalLocationNumber", Ty::GlobalLocationNumber),
    ),
    maybe("EMail", Ty::Email),
    in_ns(Ns::Grd, maybe("SEnumber", Ty::SeNumber)),
    maybe("Telephone", Ty::Telephone),
    in_ns(Ns::Grd, maybe("EID", Ty::Eid)),
    maybe("ContentResponsible", Ty::ContentResponsible),
    maybe("GeneratingSystem", Ty::GeneratingSystem),
    in_ns(Ns::Sor, maybe("SORdata", Ty::SorData)),
    in_ns(Ns::Grd, maybe("Address", Ty::Address)),
    in_ns(
        Ns::Grd,
        maybe("UnstructuredAddress", Ty::UnstructuredAddress),
    ),
];
static ATTENTION_PERSON: [Child; 2] = [opt("personID", S), opt("label", S)];
static EMAIL: [Child; 2] = [req("emailAddress", S), opt("relatedAgent", S)];
static TELEPHONE: [Child; 2] = [req("telephoneNumber", S), opt("relatedAgent", S)];
static CONTENT_RESPONSIBLE: [Child; 2] = [opt("contentResponsibleID", S), opt("label", S)];
static GENERATING_SYSTEM: [Child; 2] = [req("generatingSystemID", S), opt("label", S)];
static CONTACT_POINT: [Child; 4] = [
    opt("contactGroup", S),
    req("contactPointID", S),
    opt("label", S),
    many("ContactInfo", Ty::ContactInfo, MAX_CONTACT_INFO),
];
static LABEL_VALUE: [Child; 2] = [req("label", S), req("value", S)];
static CONTENT_DATA: [Child; 12] = [
    in_ns(Ns::Grd, maybe("CPRdata", Ty::CprData)),
    in_ns(Ns::Grd, maybe("CVRdata", Ty::CvrData)),
    in_ns(Ns::Dmv, maybe("MotorVehicle", Ty::MotorVehicle)),
    in_ns(Ns::Grd, maybe("PropertyNumber", Ty::PropertyNumber)),
    maybe("CaseID", Ty::CaseId),
    in_ns(Ns::Kle, maybe("KLEdata", Ty::KleData)),
    in_ns(Ns::Form, maybe("FORMdata", Ty::FormData)),
    in_ns(Ns::Grd, maybe("ProductionUnit", Ty::ProductionUnit)),
    in_ns(Ns::Udd, maybe("Education", Ty::Education)),
    in_ns(Ns::Grd, maybe("Address", Ty::Address)),
    in_ns(
        Ns::Grd,
        maybe("UnstructuredAddress", Ty::UnstructuredAddress),
    ),
    many(
        "AdditionalContentData",
        Ty::AdditionalContentData,
        MAX_ADDITIONAL_CONTENT_DATA,
    ),
];
static CASE_ID: [Child; 2] = [req("caseID", S), req("caseSystem", S)];
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
    opt("contactPointID", S),
    opt("comment", COMMENT),
];
static REPLY_DATA: [Child; 10] = [
    opt("messageID", S),
    req("messageUUID", Value::Uuid4),
    opt("replyUUID", Value::Uuid4),
    opt("senderID", S),
    opt("recipientID", S),
    opt("caseID", S),
    opt("contactPointID", S),
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
    req("description", S),
    req("reservationUUID", Value::Uuid4),
    req("abstract", S),
    req("location", S),
    req("startDateTime", Value::DateTime),
    req("endDateTime", Value::DateTime),
    opt("organizerMail", S),
    opt("organizerName", S),
];
static ENTRY_POINT: [Child; 1] = [req("url", Value::Url)];

const fn grd(child: Child) -> Child {
    in_ns(Ns::Grd, child)
}

static CPR_DATA: [Child; 2] = [grd(req("cprNumber", Value::Cpr)), grd(opt("name", S))];
static CVR_DATA: [Child; 2] = [
    grd(req("cvrNumber", Value::Cvr)),
    grd(opt("companyName", S)),
];
static MOTOR_VEHICLE: [Child; 2] = [
    in_ns(
        Ns::Dmv,
        req("licenseNumber", Value::Text(MAX_LICENSE_NUMBER)),
    ),
    in_ns(Ns::Dmv, opt("chassisNumber", S)),
];
static PROPERTY_NUMBER: [Child; 1] = [grd(req("propertyNumber", S))];
static KLE_DATA: [Child; 4] = [
    in_ns(Ns::Kle, req("subjectKey", S)),
    in_ns(Ns::Kle, req("version", S)),
    in_ns(Ns::Kle, opt("activityFacet", S)),
    in_ns(Ns::Kle, req("label", S)),
];
static FORM_DATA: [Child; 4] = [
    in_ns(Ns::Form, req("taskKey", S)),
    in_ns(Ns::Form, req("version", S)),
    in_ns(Ns::Form, req("activityFacet", S)),
    in_ns(Ns::Form, req("label", S)),
];
static PRODUCTION_UNIT: [Child; 2] = [
    grd(req(
        "productionUnitNumber",
        Value::Integer(MAX_PRODUCTION_UNIT_NUMBER),
    )),
    grd(opt("productionUnitName", S)),
];
static EDUCATION: [Child; 2] = [
    in_ns(Ns::Udd, req("educationCode", S)),
    in_ns(Ns::Udd, opt("educationName", S)),
];
static ADDRESS: [Child; 10] = [
    grd(opt("id", S)),
    grd(opt("addressLabel", S)),
    grd(opt("houseNumber", S)),
    grd(opt("door", S)),
    grd(opt("floor", S)),
    grd(opt("co", S)),
    grd(opt("zipCode", S)),
    grd(opt("city", S)),
    grd(opt("country", S)),
    grd(maybe("AddressPoint", Ty::AddressPoint)),
];
static ADDRESS_POINT: [Child; 3] = [
    grd(opt("geographicEastingMeasure", S)),
    grd(opt("geographicNorthingMeasure", S)),
    grd(opt("geographicHeightMeasure", S)),
];
static UNSTRUCTURED_ADDRESS: [Child; 1] = [grd(req("unstructured", S))];
static GLOBAL_LOCATION_NUMBER: [Child; 2] = [
    in_ns(
        Ns::Gln,
        req(
            "globalLocationNumber",
            Value::Integer(MAX_GLOBAL_LOCATION_NUMBER),
        ),
    ),
    in_ns(Ns::Gln, opt("location", S)),
];
static SE_NUMBER: [Child; 2] = [grd(req("seNumber", S)), grd(opt("companyName", S))];
static EID: [Child; 2] = [grd(req("eID", S)), grd(opt("label", S))];
static SOR_DATA: [Child; 2] = [
    in_ns(Ns::Sor, req("sorIdentifier", S)),
    in_ns(Ns::Sor, opt("entryName", S)),
];

impl Ty {
    /// Every complex type, for tests and tables.
    pub const ALL: [Ty; 42] = [
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
        Ty::CprData,
        Ty::CvrData,
        Ty::MotorVehicle,
        Ty::PropertyNumber,
        Ty::KleData,
        Ty::FormData,
        Ty::ProductionUnit,
        Ty::Education,
        Ty::Address,
        Ty::AddressPoint,
        Ty::UnstructuredAddress,
        Ty::GlobalLocationNumber,
        Ty::SeNumber,
        Ty::Eid,
        Ty::SorData,
    ];

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
            Ty::CprData => &CPR_DATA,
            Ty::CvrData => &CVR_DATA,
            Ty::MotorVehicle => &MOTOR_VEHICLE,
            Ty::PropertyNumber => &PROPERTY_NUMBER,
            Ty::KleData => &KLE_DATA,
            Ty::FormData => &FORM_DATA,
            Ty::ProductionUnit => &PRODUCTION_UNIT,
            Ty::Education => &EDUCATION,
            Ty::Address => &ADDRESS,
            Ty::AddressPoint => &ADDRESS_POINT,
            Ty::UnstructuredAddress => &UNSTRUCTURED_ADDRESS,
            Ty::GlobalLocationNumber => &GLOBAL_LOCATION_NUMBER,
            Ty::SeNumber => &SE_NUMBER,
            Ty::Eid => &EID,
            Ty::SorData => &SOR_DATA,
        }
    }

    /// The index of a child by namespace and name.
    pub fn child(self, ns: Ns, name: &str) -> Option<(usize, &'static Child)> {
        self.children()
            .iter()
            .enumerate()
            .find(|(_, c)| c.ns == ns && c.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_names_are_unique_within_each_type() {
        for ty in Ty::ALL {
            let mut names: Vec<(&str, &str)> =
                ty.children().iter().map(|c| (c.ns.uri(), c.name)).collect();
            names.sort_unstable();
            let n = names.len();
            names.dedup();
            assert_eq!(names.len(), n, "{ty:?}");
        }
    }

    fn paths(ty: Ty, prefix: &str, version: MemoVersion, out: &mut Vec<String>) {
        for child in ty.children() {
            if child.since_1_2 && version == MemoVersion::V1_1 {
                continue;
            }
            let path = format!("{prefix}/{}", child.name);
            out.push(path.clone());
            if let Kind::Complex(t) = child.kind {
                paths(t, &path, version, out);
            }
        }
    }

    /// The model of the MeMo 1.1 schema has 261 element paths below `Message`; 1.2 adds
    /// `Representative` with its four children and `originalRepresentative`.
    #[test]
    fn the_table_covers_every_element_path() {
        let mut v11 = Vec::new();
        paths(Ty::Message, "/Message", MemoVersion::V1_1, &mut v11);
        assert_eq!(v11.len(), 261);
        let mut v12 = Vec::new();
        paths(Ty::Message, "/Message", MemoVersion::V1_2, &mut v12);
        assert_eq!(v12.len(), 261 + 5 + 1);
        for p in [
            "/Message/MessageHeader/ContentData/CPRdata/cprNumber",
            "/Message/MessageHeader/Sender/AttentionData/Address/AddressPoint/geographicHeightMeasure",
            "/Message/MessageHeader/Recipient/AttentionData/GlobalLocationNumber/globalLocationNumber",
            "/Message/MessageBody/AdditionalDocument/Action/Reservation/reservationUUID",
        ] {
            assert!(v11.iter().any(|x| x == p), "{p}");
        }
    }

    #[test]
    fn no_type_has_more_children_than_the_reader_counts() {
        assert!(Ty::ALL.iter().all(|t| t.children().len() <= MAX_CHILDREN));
        assert!(Ty::ALL.iter().any(|t| t.children().len() == MAX_CHILDREN));
    }

    /// The facet of a child in the vocabulary of `guest/schema-model/paths.txt`.
    fn facet(kind: Kind) -> String {
        match kind {
            Kind::Complex(_) => "complex".into(),
            Kind::Content => "base64".into(),
            Kind::Simple(v) => match v {
                Value::Text(n) => format!("string:{n}"),
                Value::Id
                | Value::Known(_)
                | Value::MimeType
                | Value::Filename
                | Value::Url
                | Value::Cpr
                | Value::Cvr => format!("string:{MAX_STRING}"),
                Value::Language => "string:2".into(),
                Value::Uuid4 => "uuid4".into(),
                Value::DateTime => "utc".into(),
                Value::Date => "date".into(),
                Value::Boolean => "boolean".into(),
                Value::Enumeration(_) => "enum".into(),
                Value::Integer(n) => format!("integer:{n}"),
            },
        }
    }

    /// The table agrees with the MeMo 1.1 schema model on every element path: the same
    /// paths, and for each its namespace, cardinality and facet.
    #[test]
    fn the_table_agrees_with_the_schema_model_on_every_path() {
        let model = include_str!("../../schema-model/paths.txt");
        let mut seen = Vec::new();
        for line in model.lines().filter(|l| !l.starts_with('#')) {
            let f: Vec<&str> = line.split(' ').collect();
            let [path, uri, min, max, want] = f.as_slice() else {
                panic!("{line}")
            };
            let names: Vec<&str> = path.split('/').skip(2).collect();
            let mut ty = Ty::Message;
            let mut found = None;
            for (i, name) in names.iter().enumerate() {
                let child = ty
                    .children()
                    .iter()
                    .find(|c| c.name == *name && !c.since_1_2)
                    .unwrap_or_else(|| panic!("{path}: no {name} in {ty:?}"));
                if i + 1 == names.len() {
                    found = Some(child);
                } else if let Kind::Complex(t) = child.kind {
                    ty = t;
                }
            }
            let child = found.unwrap_or_else(|| panic!("{line}"));
            let max = if *max == "*" {
                u32::MAX
            } else {
                max.parse().unwrap()
            };
            assert_eq!(
                (
                    child.ns.uri(),
                    child.min_count(MemoVersion::V1_1).to_string(),
                    child.max,
                    facet(child.kind)
                ),
                (*uri, min.to_string(), max, want.to_string()),
                "{path}"
            );
            seen.push(path.to_string());
        }
        let mut table = Vec::new();
        paths(Ty::Message, "/Message", MemoVersion::V1_1, &mut table);
        seen.sort();
        table.sort();
        assert_eq!(seen, table);
    }

    #[test]
    fn every_namespace_is_known_by_its_uri() {
        for ns in Ns::ALL {
            assert_eq!(Ns::of(ns.uri()), Some(ns));
        }
        assert_eq!(Ns::of("urn:other"), None);
    }

    #[test]
    fn version_dependent_minimums() {
        let (_, mandatory) = Ty::Header.child(Ns::Memo, "mandatory").unwrap();
        assert_eq!(mandatory.min_count(MemoVersion::V1_1), 1);
        assert_eq!(mandatory.min_count(MemoVersion::V1_2), 0);
        assert!(
            Ty::Sender
                .child(Ns::Memo, "Representative")
                .unwrap()
                .1
                .since_1_2
        );
    }
}
