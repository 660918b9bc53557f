//! `dpost:protocol/memo`: conversions around [`crate::memo`].

use std::cell::RefCell;

use super::Component;
use super::exports::dpost::protocol::memo as wit;
use crate::memo as m;
use crate::memo::{reader, receipt, tokenizer::SyntaxError, whole, writer};

fn into<A: Into<B>, B>(a: A) -> B {
    a.into()
}

fn opt<A: Into<B>, B>(a: Option<A>) -> Option<B> {
    a.map(Into::into)
}

fn list<A: Into<B>, B>(a: Vec<A>) -> Vec<B> {
    a.into_iter().map(Into::into).collect()
}

/// Records whose library and WIT forms have the same fields convert both ways field by field.
macro_rules! both_ways {
    ($lib:ident <=> $wit:ident { $($field:ident : $how:ident),* $(,)? }) => {
        impl From<m::$lib> for wit::$wit {
            fn from(x: m::$lib) -> Self {
                wit::$wit { $($field: $how(x.$field)),* }
            }
        }
        impl From<wit::$wit> for m::$lib {
            fn from(x: wit::$wit) -> Self {
                m::$lib { $($field: $how(x.$field)),* }
            }
        }
    };
}

macro_rules! enum_both_ways {
    ($lib:ident <=> $wit:ident { $($a:ident = $b:ident),* $(,)? }) => {
        impl From<m::$lib> for wit::$wit {
            fn from(x: m::$lib) -> Self {
                match x { $(m::$lib::$a => wit::$wit::$b),* }
            }
        }
        impl From<wit::$wit> for m::$lib {
            fn from(x: wit::$wit) -> Self {
                match x { $(wit::$wit::$b => m::$lib::$a),* }
            }
        }
    };
}

enum_both_ways!(MemoVersion <=> MemoVersion { V1_1 = V11, V1_2 = V12 });
enum_both_ways!(MessageType <=> MessageType { Digitalpost = Digitalpost, Nemsms = Nemsms });
enum_both_ways!(DocumentKind <=> DocumentKind { Main = Main, Additional = Additional, Technical = Technical });
enum_both_ways!(ReceiptStatus <=> ReceiptStatus {
    Completed = Completed,
    Received = Received,
    Invalid = Invalid,
    NotAllowed = NotAllowed,
});

both_ways!(ExtensionAttribute <=> ExtensionAttribute { namespace: into, name: into, value: into });
both_ways!(ExtensionNode <=> ExtensionNode { depth: into, namespace: into, name: into, attributes: list, text: into });
both_ways!(AttentionPerson <=> AttentionPerson { person_id: into, label: into });
both_ways!(Email <=> Email { email_address: into, related_agent: into });
both_ways!(Telephone <=> Telephone { telephone_number: into, related_agent: into });
both_ways!(ContentResponsible <=> ContentResponsible { content_responsible_id: into, label: into });
both_ways!(GeneratingSystem <=> GeneratingSystem { generating_system_id: into, label: into });
both_ways!(AttentionData <=> AttentionData {
    attention_person: opt,
    email: opt,
    telephone: opt,
    content_responsible: opt,
    generating_system: opt,
    extensions: list,
});
both_ways!(ContactInfo <=> LabelValue { label: into, value: into });
both_ways!(ContactPoint <=> ContactPoint { contact_group: into, contact_point_id: into, label: into, contact_info: list });
both_ways!(Representative <=> Representative { representative_id: into, id_type: into, id_type_label: into, label: into });
both_ways!(Sender <=> Sender {
    sender_id: into,
    id_type: into,
    id_type_label: into,
    label: into,
    attention_data: opt,
    contact_point: opt,
    representative: opt,
});
both_ways!(Recipient <=> Recipient {
    recipient_id: into,
    id_type: into,
    id_type_label: into,
    label: into,
    attention_data: opt,
    contact_point: opt,
});
both_ways!(CaseId <=> CaseId { case_id: into, case_system: into });
both_ways!(AdditionalContentData <=> AdditionalContentData {
    content_data_type: into,
    content_data_name: into,
    content_data_value: into,
});
both_ways!(ContentData <=> ContentData { case_id: opt, additional_content_data: list, extensions: list });
both_ways!(ForwardData <=> ForwardData {
    message_uuid: into,
    original_message_date_time: into,
    original_sender: into,
    original_content_responsible: into,
    original_representative: into,
    contact_point_id: into,
    comment: into,
});
both_ways!(ReplyData <=> ReplyData {
    message_id: into,
    message_uuid: into,
    reply_uuid: into,
    sender_id: into,
    recipient_id: into,
    case_id: into,
    contact_point_id: into,
    generating_system_id: into,
    comment: into,
    additional_reply_data: list,
});
both_ways!(Header <=> Header {
    memo_version: into,
    memo_sch_version: into,
    message_type: into,
    message_uuid: into,
    message_id: into,
    message_code: into,
    label: into,
    notification: into,
    additional_notification: into,
    reply: into,
    reply_by_date_time: into,
    do_not_deliver_until_date: into,
    mandatory: into,
    legal_notification: into,
    post_type: into,
    sender: into,
    recipient: into,
    content_data: opt,
    forward_data: opt,
    reply_data: list,
});
both_ways!(DocumentInfo <=> DocumentInfo { kind: into, id: into, label: into });
both_ways!(FileInfo <=> FileInfo { encoding_format: into, filename: into, language: into });
both_ways!(Reservation <=> Reservation {
    description: into,
    reservation_uuid: into,
    abstract_text: into,
    location: into,
    start_date_time: into,
    end_date_time: into,
    organizer_mail: into,
    organizer_name: into,
});
both_ways!(Action <=> Action {
    label: into,
    action_code: into,
    start_date_time: into,
    end_date_time: into,
    reservation: opt,
    entry_point_url: into,
});
both_ways!(File <=> File { info: into, content: into });
both_ways!(Document <=> Document { info: into, files: list, actions: list });
both_ways!(Body <=> Body { created_date_time: into, documents: list });
both_ways!(Message <=> Message { header: into, body: opt });
both_ways!(Receipt <=> Receipt {
    transmission_id: into,
    message_uuid: into,
    message_id: into,
    error_code: into,
    error_message: into,
    time_stamp: into,
    receipt_status: into,
});

enum_both_ways!(Code <=> ProblemCode {
    MissingVersion = MissingVersion,
    UnsupportedVersion = UnsupportedVersion,
    MissingElement = MissingElement,
    OutOfOrder = OutOfOrder,
    TooMany = TooMany,
    UnknownElement = UnknownElement,
    ForeignElement = ForeignElement,
    UnknownAttribute = UnknownAttribute,
    MissingAttribute = MissingAttribute,
    NotInVersion = NotInVersion,
    UnexpectedText = UnexpectedText,
    UnexpectedChild = UnexpectedChild,
    TooLong = TooLong,
    InvalidEnumeration = InvalidEnumeration,
    UnknownValue = UnknownValue,
    InvalidNumber = InvalidNumber,
    InvalidUuid = InvalidUuid,
    NotUuidV4 = NotUuidV4,
    InvalidDateTime = InvalidDateTime,
    DateTimeNotUtc = DateTimeNotUtc,
    InvalidDate = InvalidDate,
    InvalidBoolean = InvalidBoolean,
    InvalidLanguage = InvalidLanguage,
    InvalidMimeType = InvalidMimeType,
    InvalidFilename = InvalidFilename,
    UrlNotHttps = UrlNotHttps,
    InvalidBase64 = InvalidBase64,
    EmptyFile = EmptyFile,
    NemsmsNotificationRequired = NemsmsNotificationRequired,
    BodyRequired = BodyRequired,
    InvalidCpr = InvalidCpr,
    InvalidCvr = InvalidCvr,
    ChoiceConflict = ChoiceConflict,
    TooManyProblems = TooManyProblems,
    Unreadable = Unreadable,
});

enum_both_ways!(Severity <=> Severity { Error = Error, Warning = Warning });

impl From<m::Problem> for wit::Problem {
    fn from(p: m::Problem) -> Self {
        wit::Problem {
            severity: p.severity.into(),
            code: p.code.into(),
            path: p.path,
            line: p.position.line,
            column: p.position.column,
            message: p.message,
        }
    }
}

impl From<wit::Problem> for m::Problem {
    fn from(p: wit::Problem) -> Self {
        m::Problem {
            severity: p.severity.into(),
            code: p.code.into(),
            path: p.path,
            position: m::Position {
                line: p.line,
                column: p.column,
            },
            message: p.message,
        }
    }
}

impl From<m::Summary> for wit::Summary {
    fn from(s: m::Summary) -> Self {
        wit::Summary {
            problems: list(s.problems),
            documents: s.documents,
            files: s.files,
            content_bytes: s.content_bytes,
        }
    }
}

impl From<m::Event> for wit::Event {
    fn from(e: m::Event) -> Self {
        match e {
            m::Event::Header(h) => wit::Event::Header((*h).into()),
            m::Event::BodyStart { created_date_time } => wit::Event::BodyStart(created_date_time),
            m::Event::DocumentStart(d) => wit::Event::DocumentStart(d.into()),
            m::Event::FileStart(f) => wit::Event::FileStart(f.into()),
            m::Event::FileData(d) => wit::Event::FileData(d),
            m::Event::FileEnd { size } => wit::Event::FileEnd(size),
            m::Event::DocumentEnd { actions } => wit::Event::DocumentEnd(list(actions)),
            m::Event::End(s) => wit::Event::End(s.into()),
        }
    }
}

fn read_error(e: reader::ReadError) -> wit::ReadError {
    use reader::ReadErrorKind as K;
    use wit::ReadErrorKind as W;
    let message = e.kind.to_string();
    let kind = match e.kind {
        K::Syntax(s) => match s {
            SyntaxError::Dtd => W::Dtd,
            SyntaxError::Declaration => W::Declaration,
            SyntaxError::UndefinedEntity(n) => W::UndefinedEntity(n),
            SyntaxError::BadCharacterReference(n) => W::BadCharacterReference(n),
            SyntaxError::Malformed(n) => W::Malformed(n),
            SyntaxError::MismatchedEndTag { expected, found } => {
                W::MismatchedEndTag(wit::MismatchedEndTag { expected, found })
            }
            SyntaxError::UndeclaredPrefix(p) => W::UndeclaredPrefix(p),
            SyntaxError::DuplicateAttribute(a) => W::DuplicateAttribute(a),
            SyntaxError::InvalidUtf8 => W::InvalidUtf8,
            SyntaxError::UnsupportedEncoding(enc) => W::UnsupportedEncoding(enc),
            // Not new cases in the WIT (that would break every embedder): the text says which.
            e @ (SyntaxError::EncodingMismatch { .. } | SyntaxError::InvalidUtf16(_)) => {
                W::Malformed(e.to_string())
            }
            SyntaxError::MarkupTooLong => W::MarkupTooLong,
            SyntaxError::TooDeep => W::TooDeep,
            SyntaxError::TextOutsideRoot => W::TextOutsideRoot,
            SyntaxError::SecondRoot => W::SecondRoot,
            SyntaxError::UnexpectedEnd(w) => W::UnexpectedEnd(w.to_string()),
        },
        K::NotMemo { namespace, name } => W::NotMemo(wit::NotMemo { namespace, name }),
        K::InvalidUtf8 => W::InvalidUtf8,
        K::TooLarge(what) => W::TooLarge(what),
        K::Finished => W::Finished,
    };
    wit::ReadError {
        line: e.position.line,
        column: e.position.column,
        kind,
        message,
    }
}

fn write_error(e: writer::WriteError) -> wit::WriteError {
    use wit::WriteError as W;
    use writer::WriteError as E;
    match e {
        E::OutOfOrder { call, state } => W::OutOfOrder(wit::OutOfOrder {
            call: call.to_string(),
            state: state.to_string(),
        }),
        E::RequiredIn11(f) => W::RequiredInV11(f.to_string()),
        E::NotInVersion(f) => W::NotInVersion(f.to_string()),
        E::EmptyFile => W::EmptyFile,
        E::DocumentWithoutFiles => W::DocumentWithoutFiles,
        E::DocumentOrder(what) => W::DocumentOrder(what.to_string()),
        E::TechnicalActions => W::TechnicalActions,
        E::ActionChoice => W::ActionChoice,
        E::BodyRequired => W::BodyRequired,
        E::InvalidCharacter { field, code } => W::InvalidCharacter(wit::InvalidCharacter {
            field: field.to_string(),
            code,
        }),
        E::BadExtension { name, reason } => W::BadExtension(wit::BadExtension {
            name,
            reason: reason.to_string(),
        }),
    }
}

fn receipt_error(e: receipt::ReceiptError) -> wit::ReceiptError {
    use receipt::ReceiptError as E;
    use wit::ReceiptError as W;
    match e {
        E::NotJson(m) => W::NotJson(m),
        E::NotObject => W::NotObject,
        E::Missing(f) => W::Missing(f.to_string()),
        E::WrongType { field, expected } => W::WrongType(wit::WrongType {
            field: field.to_string(),
            expected: expected.to_string(),
        }),
        E::Invalid {
            field,
            value,
            reason,
        } => W::Invalid(wit::InvalidField {
            field: field.to_string(),
            value,
            reason: reason.to_string(),
        }),
    }
}

/// The `reader` resource: the library reader behind a `RefCell`, since resource methods
/// take `&self`.
pub(crate) struct MemoReader(RefCell<m::Reader>);

impl wit::GuestReader for MemoReader {
    fn new() -> Self {
        MemoReader(RefCell::new(m::Reader::new()))
    }

    fn feed(&self, chunk: Vec<u8>) -> Result<Vec<wit::Event>, wit::ReadError> {
        self.0
            .borrow_mut()
            .feed(&chunk)
            .map(list)
            .map_err(read_error)
    }

    fn finish(&self) -> Result<Vec<wit::Event>, wit::ReadError> {
        self.0.borrow_mut().finish().map(list).map_err(read_error)
    }

    fn problems(&self) -> Vec<wit::Problem> {
        list(self.0.borrow().problems().to_vec())
    }
}

/// The `writer` resource.
pub(crate) struct MemoWriter(RefCell<m::Writer>);

impl wit::GuestWriter for MemoWriter {
    fn new() -> Self {
        MemoWriter(RefCell::new(m::Writer::new()))
    }

    fn header(&self, header: wit::Header) -> Result<Vec<u8>, wit::WriteError> {
        self.0
            .borrow_mut()
            .header(&header.into())
            .map_err(write_error)
    }

    fn begin_body(&self, created_date_time: String) -> Result<Vec<u8>, wit::WriteError> {
        self.0
            .borrow_mut()
            .begin_body(&created_date_time)
            .map_err(write_error)
    }

    fn begin_document(&self, info: wit::DocumentInfo) -> Result<Vec<u8>, wit::WriteError> {
        self.0
            .borrow_mut()
            .begin_document(&info.into())
            .map_err(write_error)
    }

    fn begin_file(&self, info: wit::FileInfo) -> Result<Vec<u8>, wit::WriteError> {
        self.0
            .borrow_mut()
            .begin_file(&info.into())
            .map_err(write_error)
    }

    fn file_data(&self, bytes: Vec<u8>) -> Result<Vec<u8>, wit::WriteError> {
        self.0.borrow_mut().file_data(&bytes).map_err(write_error)
    }

    fn end_file(&self) -> Result<Vec<u8>, wit::WriteError> {
        self.0.borrow_mut().end_file().map_err(write_error)
    }

    fn end_document(&self, actions: Vec<wit::Action>) -> Result<Vec<u8>, wit::WriteError> {
        let actions: Vec<m::Action> = list(actions);
        self.0
            .borrow_mut()
            .end_document(&actions)
            .map_err(write_error)
    }

    fn finish(&self) -> Result<Vec<u8>, wit::WriteError> {
        self.0.borrow_mut().finish().map_err(write_error)
    }
}

impl wit::Guest for Component {
    type Reader = MemoReader;
    type Writer = MemoWriter;

    fn parse(bytes: Vec<u8>) -> Result<wit::Parsed, wit::ReadError> {
        whole::parse(&bytes)
            .map(|p| wit::Parsed {
                message: p.message.into(),
                problems: list(p.problems),
            })
            .map_err(read_error)
    }

    fn validate(bytes: Vec<u8>) -> Vec<wit::Problem> {
        list(whole::validate(&bytes))
    }

    fn write_message(message: wit::Message) -> Result<Vec<u8>, wit::WriteError> {
        writer::write_message(&message.into()).map_err(write_error)
    }

    fn build_receipt(r: wit::Receipt) -> Result<String, wit::ReceiptError> {
        receipt::build(&r.into()).map_err(receipt_error)
    }

    fn parse_receipt(json: String) -> Result<wit::ReceivedReceipt, wit::ReceiptError> {
        receipt::read(&json)
            .map(|r| wit::ReceivedReceipt {
                transmission_id: r.transmission_id,
                message_uuid: r.message_uuid,
                message_id: r.message_id,
                error_code: r.error_code,
                error_message: r.error_message,
                time_stamp: r.time_stamp,
                receipt_status: r.receipt_status.map(Into::into),
                warnings: r.warnings,
            })
            .map_err(receipt_error)
    }
}
