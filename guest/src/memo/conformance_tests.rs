//! Conformance of the whole MeMo stack: the official samples, one broken message per rule,
//! chunking independence, bounded memory on a large message, refused DTDs, namespace
//! variants, and write/read round trips.

use proptest::prelude::*;

use super::constants::READER_BUFFER_CAP;
use super::model::*;
use super::problem::{Code, Problem, Severity};
use super::reader::{Event, ReadErrorKind, Reader};
use super::tokenizer::SyntaxError;
use super::writer::write_message;
use super::{parse, validate};

const V11_FULL: &[u8] = include_bytes!("../../../tests/fixtures/memo/MeMo_v1.1_Full_Example.xml");
const V11_MIN: &[u8] = include_bytes!("../../../tests/fixtures/memo/MeMo_v1.1_Minimum_Example.xml");
const V12_FULL: &[u8] = include_bytes!("../../../tests/fixtures/memo/MeMo_v1.2_Full_Example.xml");
const V12_MIN: &[u8] = include_bytes!("../../../tests/fixtures/memo/MeMo_v1.2_Minimum_Example.xml");

fn errors(problems: &[Problem]) -> Vec<&Problem> {
    problems.iter().filter(|p| p.is_error()).collect()
}

#[test]
fn official_samples_parse_and_validate_without_errors() {
    for (name, bytes) in [
        ("1.1 full", V11_FULL),
        ("1.1 min", V11_MIN),
        ("1.2 full", V12_FULL),
        ("1.2 min", V12_MIN),
    ] {
        let parsed = parse(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            errors(&parsed.problems).is_empty(),
            "{name}: {:#?}",
            parsed.problems
        );
        assert!(errors(&validate(bytes)).is_empty(), "{name}");
        let body = parsed.message.body.as_ref().unwrap();
        assert_eq!(
            body.documents[0].files[0].content, b"This is a test",
            "{name}"
        );
    }
}

#[test]
fn full_1_2_sample_fields_are_all_read() {
    let m = parse(V12_FULL).unwrap().message;
    let h = &m.header;
    assert_eq!(h.memo_version, MemoVersion::V1_2);
    assert_eq!(h.message_type, MessageType::Digitalpost);
    assert_eq!(h.message_uuid, "8C2EA15D-61FB-4BA9-9366-42F8B194C114");
    assert_eq!(h.message_id.as_deref(), Some("MSG-12345"));
    assert_eq!(h.label, "Besked fra Børneforvaltningen");
    assert_eq!(
        (h.reply, h.mandatory, h.legal_notification),
        (Some(true), Some(true), Some(false))
    );
    assert_eq!(
        h.reply_by_date_time.as_deref(),
        Some("2025-09-30T12:00:00Z")
    );
    assert_eq!(h.post_type.as_deref(), Some("MYNDIGHEDSPOST"));
    let s = &h.sender;
    assert_eq!(
        (s.sender_id.as_str(), s.id_type.as_str()),
        ("12345678", "CVR")
    );
    assert_eq!(
        s.representative.as_ref().unwrap().representative_id,
        "87654321"
    );
    let att = s.attention_data.as_ref().unwrap();
    assert_eq!(
        att.attention_person.as_ref().unwrap().label.as_deref(),
        Some("Hans Hansen")
    );
    assert_eq!(
        att.email.as_ref().unwrap().email_address,
        "info@tusindfryd.dk"
    );
    assert_eq!(
        att.generating_system.as_ref().unwrap().generating_system_id,
        "Sys-1234"
    );
    let address = att
        .extensions
        .iter()
        .position(|e| e.name == "Address")
        .unwrap();
    assert_eq!(
        att.extensions[address].namespace,
        "https://data.gov.dk/model/core/"
    );
    assert_eq!(
        (
            att.extensions[address + 1].depth,
            att.extensions[address + 1].text.as_str()
        ),
        (1, "8c2ea15d-61fb-4ba9-9366-42f8b194c852")
    );
    assert!(
        att.extensions
            .iter()
            .any(|e| e.name == "sorIdentifier" && e.text == "468031000016004")
    );
    let cp = s.contact_point.as_ref().unwrap();
    assert_eq!(cp.contact_info.len(), 2);
    assert_eq!(h.recipient.label.as_deref(), Some("Mette Hansen"));
    let cd = h.content_data.as_ref().unwrap();
    assert_eq!(cd.case_id.as_ref().unwrap().case_id, "SAG-12345");
    assert_eq!(cd.additional_content_data.len(), 2);
    assert!(cd.extensions.iter().any(|e| e.name == "subjectKey"
        && e.text == "00.00.00"
        && e.namespace == "http://kle-online.dk/"));
    let fd = h.forward_data.as_ref().unwrap();
    assert_eq!(
        fd.original_representative.as_deref(),
        Some("Repræsentant Kommune")
    );
    assert_eq!(h.reply_data.len(), 2);
    assert_eq!(h.reply_data[1].additional_reply_data.len(), 4);
    let body = m.body.unwrap();
    assert_eq!(body.created_date_time, "2018-05-03T12:00:00Z");
    let kinds: Vec<DocumentKind> = body.documents.iter().map(|d| d.info.kind).collect();
    assert_eq!(
        kinds,
        [
            DocumentKind::Main,
            DocumentKind::Additional,
            DocumentKind::Additional,
            DocumentKind::Technical
        ]
    );
    let main = &body.documents[0];
    assert_eq!(main.info.id.as_deref(), Some("456"));
    assert_eq!(main.files.len(), 2);
    assert_eq!(main.files[1].info.filename, "Pladsanvisning.txt");
    assert_eq!(main.actions.len(), 2);
    assert_eq!(
        main.actions[1]
            .reservation
            .as_ref()
            .unwrap()
            .abstract_text
            .as_deref(),
        Some("Opstart")
    );
    assert_eq!(
        body.documents[2].actions[0].entry_point_url.as_deref(),
        Some(
            "https://registration.nemhandel.dk/NemHandelRegisterWeb/public/participant/info?key=5798009811578&keytype=GLN"
        )
    );
    assert_eq!(body.documents[3].info.id.as_deref(), Some("222555"));
}

#[test]
fn sample_1_1_http_urls_are_warnings() {
    let parsed = parse(V11_FULL).unwrap();
    assert!(
        parsed
            .problems
            .iter()
            .all(|p| p.code == Code::UrlNotHttps && p.severity == Severity::Warning)
    );
    assert_eq!(
        parsed.message.header.memo_sch_version.as_deref(),
        Some("1.1.0")
    );
}

/// A valid 1.2 message touching every rule's element, for the one-rule-broken cases below.
const BASE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<memo:Message xmlns:memo="https://DigitalPost.dk/MeMo-1" xmlns:grd="https://data.gov.dk/model/core/" memoVersion="1.2">
<memo:MessageHeader>
<memo:messageType>DIGITALPOST</memo:messageType>
<memo:messageUUID>8c2ea15d-61fb-4ba9-9366-42f8b194c114</memo:messageUUID>
<memo:label>Besked</memo:label>
<memo:notification>Du har post</memo:notification>
<memo:reply>true</memo:reply>
<memo:replyByDateTime>2025-09-30T12:00:00Z</memo:replyByDateTime>
<memo:doNotDeliverUntilDate>2025-09-15</memo:doNotDeliverUntilDate>
<memo:mandatory>false</memo:mandatory>
<memo:legalNotification>false</memo:legalNotification>
<memo:Sender>
<memo:senderID>12345678</memo:senderID>
<memo:idType>CVR</memo:idType>
<memo:label>Kommunen</memo:label>
<memo:ContactPoint>
<memo:contactPointID>241d39f6-998e-4929-b198-ccacbbf4b330</memo:contactPointID>
<memo:ContactInfo><memo:label>a</memo:label><memo:value>1</memo:value></memo:ContactInfo>
<memo:ContactInfo><memo:label>b</memo:label><memo:value>2</memo:value></memo:ContactInfo>
</memo:ContactPoint>
<memo:Representative><memo:representativeID>87654321</memo:representativeID><memo:idType>CVR</memo:idType></memo:Representative>
</memo:Sender>
<memo:Recipient>
<memo:recipientID>2211771212</memo:recipientID>
<memo:idType>CPR</memo:idType>
</memo:Recipient>
<memo:ContentData><grd:CPRdata><grd:cprNumber>2512169996</grd:cprNumber></grd:CPRdata></memo:ContentData>
<memo:ReplyData>
<memo:messageUUID>8c2ea15d-61fb-4ba9-9366-42f8b194c657</memo:messageUUID>
<memo:comment>tekst</memo:comment>
<memo:AdditionalReplyData><memo:label>1</memo:label><memo:value>v</memo:value></memo:AdditionalReplyData>
<memo:AdditionalReplyData><memo:label>2</memo:label><memo:value>v</memo:value></memo:AdditionalReplyData>
<memo:AdditionalReplyData><memo:label>3</memo:label><memo:value>v</memo:value></memo:AdditionalReplyData>
<memo:AdditionalReplyData><memo:label>4</memo:label><memo:value>v</memo:value></memo:AdditionalReplyData>
</memo:ReplyData>
</memo:MessageHeader>
<memo:MessageBody>
<memo:createdDateTime>2024-05-03T12:00:00Z</memo:createdDateTime>
<memo:MainDocument>
<memo:File>
<memo:encodingFormat>application/pdf</memo:encodingFormat>
<memo:filename>brev.pdf</memo:filename>
<memo:language>da</memo:language>
<memo:content>VGhpcyBpcyBhIHRlc3Q=</memo:content>
</memo:File>
<memo:Action>
<memo:label>Se mere</memo:label>
<memo:actionCode>INFORMATION</memo:actionCode>
<memo:EntryPoint><memo:url>https://example.dk/a?b=1&amp;c=2</memo:url></memo:EntryPoint>
</memo:Action>
</memo:MainDocument>
</memo:MessageBody>
</memo:Message>
"#;

fn broken(from: &str, to: &str) -> Vec<Problem> {
    assert!(BASE.contains(from), "{from}");
    validate(BASE.replacen(from, to, 1).as_bytes())
}

fn expect(problems: &[Problem], severity: Severity, code: Code, path: &str) {
    assert!(
        problems
            .iter()
            .any(|p| p.code == code && p.path == path && p.severity == severity),
        "expected {severity:?} {code} at {path}, got {problems:#?}"
    );
}

#[test]
fn base_message_is_valid() {
    assert_eq!(validate(BASE.as_bytes()), vec![]);
}

const H: &str = "/Message/MessageHeader";
const FILE: &str = "/Message/MessageBody/MainDocument/File";

#[test]
fn every_rule_is_caught_with_its_path_and_code() {
    use Code::*;
    use Severity::{Error as E, Warning as W};
    let long = |n: usize| "æ".repeat(n);
    let cases: Vec<(String, String, Severity, Code, String)> = vec![
        ("DIGITALPOST<".into(), "POST<".into(), E, InvalidEnumeration, format!("{H}/messageType")),
        ("8c2ea15d-61fb-4ba9-9366-42f8b194c114".into(), "not-a-uuid".into(), E, InvalidUuid, format!("{H}/messageUUID")),
        ("8c2ea15d-61fb-4ba9-9366-42f8b194c114".into(), "8c2ea15d-61fb-1ba9-9366-42f8b194c114".into(), E, NotUuidV4, format!("{H}/messageUUID")),
        (">Besked<".into(), format!(">{}<", long(257)), E, TooLong, format!("{H}/label")),
        (">Du har post<".into(), format!(">{}<", long(151)), E, TooLong, format!("{H}/notification")),
        (">tekst<".into(), format!(">{}<", long(513)), E, TooLong, format!("{H}/ReplyData/comment")),
        ("2025-09-30T12:00:00Z".into(), "2025-09-30T12:00:00+02:00".into(), E, DateTimeNotUtc, format!("{H}/replyByDateTime")),
        ("2024-05-03T12:00:00Z".into(), "2024-05-03 12:00".into(), E, InvalidDateTime, "/Message/MessageBody/createdDateTime".into()),
        ("2025-09-15".into(), "15-09-2025".into(), E, InvalidDate, format!("{H}/doNotDeliverUntilDate")),
        ("<memo:reply>true".into(), "<memo:reply>ja".into(), E, InvalidBoolean, format!("{H}/reply")),
        (">2211771212<".into(), ">221177121<".into(), E, InvalidCpr, format!("{H}/Recipient/recipientID")),
        (">12345678<".into(), ">1234567<".into(), E, InvalidCvr, format!("{H}/Sender/senderID")),
        (">87654321<".into(), ">8765432A<".into(), E, InvalidCvr, format!("{H}/Sender/Representative/representativeID")),
        ("<memo:idType>CPR".into(), "<memo:idType>PNR".into(), W, UnknownValue, format!("{H}/Recipient/idType")),
        ("VGhpcyBpcyBhIHRlc3Q=".into(), "VGhpcyBpcyBhIHRlc3Q".into(), E, InvalidBase64, format!("{FILE}/content")),
        ("VGhpcyBpcyBhIHRlc3Q=".into(), "VGhp!yBpcyBhIHRlc3Q=".into(), E, InvalidBase64, format!("{FILE}/content")),
        ("VGhpcyBpcyBhIHRlc3Q=".into(), "".into(), E, EmptyFile, format!("{FILE}/content")),
        ("brev.pdf".into(), "brev:1.pdf".into(), E, InvalidFilename, format!("{FILE}/filename")),
        ("brev.pdf".into(), "brev\u{2028}.pdf".into(), E, InvalidFilename, format!("{FILE}/filename")),
        (">da<".into(), ">dan<".into(), E, InvalidLanguage, format!("{FILE}/language")),
        ("application/pdf".into(), "pdf".into(), W, InvalidMimeType, format!("{FILE}/encodingFormat")),
        ("https://example.dk".into(), "http://example.dk".into(), E, UrlNotHttps, "/Message/MessageBody/MainDocument/Action/EntryPoint/url".into()),
        ("</memo:ContactPoint>".into(), "<memo:ContactInfo><memo:label>c</memo:label><memo:value>3</memo:value></memo:ContactInfo></memo:ContactPoint>".into(), E, TooMany, format!("{H}/Sender/ContactPoint/ContactInfo")),
        ("</memo:ReplyData>".into(), "<memo:AdditionalReplyData><memo:label>5</memo:label><memo:value>v</memo:value></memo:AdditionalReplyData></memo:ReplyData>".into(), E, TooMany, format!("{H}/ReplyData/AdditionalReplyData")),
        ("<memo:label>Besked</memo:label>".into(), "".into(), E, MissingElement, format!("{H}/label")),
        ("<memo:messageUUID>8c2ea15d-61fb-4ba9-9366-42f8b194c114</memo:messageUUID>\n<memo:label>Besked</memo:label>".into(), "<memo:label>Besked</memo:label><memo:messageUUID>8c2ea15d-61fb-4ba9-9366-42f8b194c114</memo:messageUUID>".into(), E, OutOfOrder, format!("{H}/messageUUID")),
        ("<memo:reply>".into(), "<memo:colour>red</memo:colour><memo:reply>".into(), E, UnknownElement, format!("{H}/colour")),
        ("<memo:senderID>".into(), "<grd:x>1</grd:x><memo:senderID>".into(), E, ForeignElement, format!("{H}/Sender/x")),
        ("<memo:Sender>".into(), "<memo:Sender>stray".into(), E, UnexpectedText, format!("{H}/Sender")),
        ("<memo:label>Kommunen</memo:label>".into(), "<memo:label>Kom<memo:b/>munen</memo:label>".into(), E, UnexpectedChild, format!("{H}/Sender/label/b")),
        ("</memo:EntryPoint>".into(), "</memo:EntryPoint><memo:Reservation/>".into(), E, OutOfOrder, "/Message/MessageBody/MainDocument/Action/Reservation".into()),
        ("<memo:EntryPoint>".into(), "<memo:Reservation/><memo:EntryPoint>".into(), E, ChoiceConflict, "/Message/MessageBody/MainDocument/Action".into()),
        ("memoVersion=\"1.2\"".into(), "memoVersion=\"1.3\"".into(), E, UnsupportedVersion, "/Message".into()),
        ("memoVersion=\"1.2\"".into(), "".into(), E, MissingVersion, "/Message".into()),
        ("241d39f6-998e-4929-b198-ccacbbf4b330".into(), long(257), E, TooLong, format!("{H}/Sender/ContactPoint/contactPointID")),
        ("</memo:MainDocument>".into(), "</memo:MainDocument><memo:MainDocument><memo:File><memo:encodingFormat>a/b</memo:encodingFormat><memo:filename>b</memo:filename><memo:language>da</memo:language><memo:content>YQ==</memo:content></memo:File></memo:MainDocument>".into(), E, TooMany, "/Message/MessageBody/MainDocument".into()),
        ("<memo:MessageBody>".into(), "<memo:MessageBody><memo:createdDateTime>2024-05-03T12:00:00Z</memo:createdDateTime>".into(), E, TooMany, "/Message/MessageBody/createdDateTime".into()),
    ];
    for (from, to, severity, code, path) in cases {
        let problems = broken(&from, &to);
        expect(&problems, severity, code, &path);
    }
}

#[test]
fn length_limits_are_inclusive() {
    let ok = |from: &str, n: usize| broken(from, &format!(">{}<", "ø".repeat(n)));
    assert_eq!(ok(">Besked<", 256), vec![]);
    assert_eq!(ok(">Du har post<", 150), vec![]);
    assert_eq!(ok(">tekst<", 512), vec![]);
}

#[test]
fn nemsms_rules() {
    let nemsms = BASE.replacen("DIGITALPOST<", "NEMSMS<", 1);
    assert_eq!(validate(nemsms.as_bytes()), vec![]);
    let no_notification =
        nemsms.replacen("<memo:notification>Du har post</memo:notification>", "", 1);
    expect(
        &validate(no_notification.as_bytes()),
        Severity::Error,
        Code::NemsmsNotificationRequired,
        &format!("{H}/notification"),
    );
    let empty = nemsms.replacen(">Du har post<", ">  <", 1);
    expect(
        &validate(empty.as_bytes()),
        Severity::Error,
        Code::NemsmsNotificationRequired,
        &format!("{H}/notification"),
    );
    let start = nemsms.find("<memo:MessageBody>").unwrap();
    let end = nemsms.find("</memo:MessageBody>").unwrap() + "</memo:MessageBody>".len();
    let mut no_body = nemsms.clone();
    no_body.replace_range(start..end, "");
    assert_eq!(validate(no_body.as_bytes()), vec![]);
    let digitalpost_no_body = no_body.replacen("NEMSMS<", "DIGITALPOST<", 1);
    expect(
        &validate(digitalpost_no_body.as_bytes()),
        Severity::Error,
        Code::BodyRequired,
        "/Message/MessageBody",
    );
}

#[test]
fn version_rules() {
    let v11 = BASE.replacen(
        "memoVersion=\"1.2\"",
        "memoVersion=\"1.1\" memoSchVersion=\"1.1.0\"",
        1,
    );
    let problems = validate(v11.as_bytes());
    expect(
        &problems,
        Severity::Error,
        Code::NotInVersion,
        &format!("{H}/Sender/Representative"),
    );
    let v12_without = BASE.replacen("<memo:mandatory>false</memo:mandatory>", "", 1);
    assert_eq!(validate(v12_without.as_bytes()), vec![]);
    let v11_without = v11
        .replacen("<memo:mandatory>false</memo:mandatory>", "", 1)
        .replacen(
            "<memo:legalNotification>false</memo:legalNotification>",
            "",
            1,
        );
    let problems = validate(v11_without.as_bytes());
    expect(
        &problems,
        Severity::Error,
        Code::MissingElement,
        &format!("{H}/mandatory"),
    );
    expect(
        &problems,
        Severity::Error,
        Code::MissingElement,
        &format!("{H}/legalNotification"),
    );
}

#[test]
fn problems_carry_line_and_column() {
    let problems = broken("<memo:reply>true", "<memo:reply>ja");
    let p = problems
        .iter()
        .find(|p| p.code == Code::InvalidBoolean)
        .unwrap();
    let line = BASE
        .lines()
        .position(|l| l.starts_with("<memo:reply>"))
        .unwrap() as u32
        + 1;
    assert_eq!((p.position.line, p.position.column), (line, 1));
    assert!(p.message.contains("\"ja\""));
}

#[test]
fn dtd_and_entity_declarations_are_refused() {
    let with_dtd = BASE.replacen(
        "<memo:Message",
        "<!DOCTYPE memo:Message [<!ENTITY x \"y\">]>\n<memo:Message",
        1,
    );
    let e = parse(with_dtd.as_bytes()).unwrap_err();
    assert_eq!(e.kind, ReadErrorKind::Syntax(SyntaxError::Dtd));
    assert_eq!(e.position.line, 2);
    let with_entity = BASE.replacen(">Besked<", ">&x;<", 1);
    let e = parse(with_entity.as_bytes()).unwrap_err();
    assert_eq!(
        e.kind,
        ReadErrorKind::Syntax(SyntaxError::UndefinedEntity("x".into()))
    );
    let problems = validate(with_dtd.as_bytes());
    assert_eq!(problems.last().map(|p| p.code), Some(Code::Unreadable));
    assert!(problems.last().unwrap().message.contains("DOCTYPE"));
}

#[test]
fn other_roots_are_not_memo() {
    let e = parse(b"<Message xmlns='urn:other' memoVersion='1.2'/>").unwrap_err();
    assert!(matches!(e.kind, ReadErrorKind::NotMemo { .. }));
}

#[test]
fn prefixes_and_default_namespace_are_equivalent() {
    let reference = parse(BASE.as_bytes()).unwrap();
    let other_prefix = BASE
        .replace("memo:", "m:")
        .replace("xmlns:memo=", "xmlns:m=");
    let default_ns = BASE.replace("memo:", "").replace("xmlns:memo=", "xmlns=");
    let bom_comment_pi = format!(
        "\u{feff}{}",
        BASE.replacen(
            "<memo:MessageHeader>",
            "<!-- c --><?app x?><memo:MessageHeader>",
            1
        )
    );
    let redeclared = BASE
        .replacen(
            "<memo:Sender>",
            "<x:Sender xmlns:x=\"https://DigitalPost.dk/MeMo-1\">",
            1,
        )
        .replacen("</memo:Sender>", "</x:Sender>", 1);
    for (name, doc) in [
        ("m:", other_prefix),
        ("default", default_ns),
        ("bom", bom_comment_pi),
        ("redeclared", redeclared),
    ] {
        let parsed = parse(doc.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(parsed, reference, "{name}");
    }
}

fn merged(events: Vec<Event>) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    for e in events {
        match (out.last_mut(), e) {
            (Some(Event::FileData(a)), Event::FileData(b)) => a.extend(b),
            (_, e) => out.push(e),
        }
    }
    out
}

fn read_in(doc: &[u8], cuts: &[usize]) -> Vec<Event> {
    let mut r = Reader::new();
    let mut out = Vec::new();
    let mut at = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (doc.len() + 1)).collect();
    cuts.sort_unstable();
    for c in cuts {
        out.extend(r.feed(&doc[at..c]).unwrap());
        at = c;
    }
    out.extend(r.feed(&doc[at..]).unwrap());
    out.extend(r.finish().unwrap());
    merged(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn chunk_boundaries_do_not_change_the_result(cuts in proptest::collection::vec(any::<usize>(), 0..40)) {
        for doc in [V12_FULL, V11_FULL, BASE.as_bytes()] {
            let whole = read_in(doc, &[]);
            prop_assert_eq!(read_in(doc, &cuts), whole);
        }
    }

    #[test]
    fn broken_messages_read_the_same_in_any_chunks(cuts in proptest::collection::vec(any::<usize>(), 0..40)) {
        let doc = BASE.replacen("VGhpcyBpcyBhIHRlc3Q=", "VGhp cyBp\ncy!hIHRlc3Q=", 1).replacen(">Besked<", ">Bes&amp;ked<x/><", 1);
        prop_assert_eq!(read_in(doc.as_bytes(), &cuts), read_in(doc.as_bytes(), &[]));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn corrupted_input_never_panics(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in any::<usize>()) {
        let mut doc = V12_FULL.to_vec();
        for (at, b) in edits {
            let i = at % doc.len();
            doc[i] = b;
        }
        let _ = validate(&doc);
        let cut = cut % doc.len();
        let mut r = Reader::new();
        let _ = r.feed(&doc[..cut]).and_then(|_| r.feed(&doc[cut..])).and_then(|_| r.finish());
    }
}

#[test]
fn single_byte_chunks_equal_whole() {
    let every: Vec<usize> = (0..V12_FULL.len()).collect();
    assert_eq!(read_in(V12_FULL, &every), read_in(V12_FULL, &[]));
}

#[test]
fn large_message_streams_with_bounded_buffering() {
    // 6 MB of file content, written by the streaming writer and read back in 64 KiB chunks.
    let mut m = parse(V12_MIN).unwrap().message;
    let size = 6 * 1024 * 1024 + 1;
    let content: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
    if let Some(b) = m.body.as_mut() {
        b.documents[0].files[0].content = content.clone();
    }
    let xml = write_message(&m).unwrap();
    assert!(xml.len() > 8 * 1024 * 1024);
    let mut r = Reader::new();
    let mut received = Vec::with_capacity(size);
    let mut largest_event = 0;
    let mut largest_buffer = 0;
    let mut take = |events: Vec<Event>, received: &mut Vec<u8>| {
        for e in events {
            if let Event::FileData(d) = e {
                largest_event = largest_event.max(d.len());
                received.extend_from_slice(&d);
            }
        }
    };
    for chunk in xml.chunks(64 * 1024) {
        let events = r.feed(chunk).unwrap();
        largest_buffer = largest_buffer.max(r.buffered());
        take(events, &mut received);
    }
    take(r.finish().unwrap(), &mut received);
    assert!(largest_buffer <= READER_BUFFER_CAP, "{largest_buffer}");
    assert!(largest_event <= 64 * 1024, "{largest_event}");
    assert_eq!(received.len(), content.len());
    assert!(received == content);
}

#[test]
fn huge_text_nodes_are_not_accumulated() {
    let long = "x".repeat(1 << 20);
    let doc = BASE.replacen(">Besked<", &format!(">{long}<"), 1);
    let mut r = Reader::new();
    for chunk in doc.as_bytes().chunks(4096) {
        r.feed(chunk).unwrap();
        assert!(r.buffered() <= READER_BUFFER_CAP);
    }
    let events = r.finish().unwrap();
    let Some(Event::End(summary)) = events.last() else {
        panic!()
    };
    assert!(
        summary
            .problems
            .iter()
            .any(|p| p.code == Code::TooLong && p.message.starts_with("1048576 characters"))
    );
}

// ---- write/read round trips ----

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 æøåÆØÅ<>&\"'\t\r\n\u{a0}é-]{0,12}"
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

fn uuid() -> impl Strategy<Value = String> {
    "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
}

fn date_time() -> impl Strategy<Value = String> {
    (2000u32..2100, 1u32..13, 1u32..29, 0u32..24)
        .prop_map(|(y, m, d, h)| format!("{y}-{m:02}-{d:02}T{h:02}:00:00Z"))
}

/// Foreign-namespace data the schema allows in both AttentionData and ContentData: an
/// optional `grd:ProductionUnit` and an optional `grd:UnstructuredAddress`.
fn extensions() -> impl Strategy<Value = Vec<ExtensionNode>> {
    (
        proptest::option::of(("[0-9]{1,10}", opt_text())),
        proptest::option::of(text()),
    )
        .prop_map(|(unit, address)| {
            let grd = "https://data.gov.dk/model/core/";
            let node = |depth: u32, name: &str, text: String| ExtensionNode {
                depth,
                namespace: grd.to_string(),
                name: name.to_string(),
                attributes: vec![],
                text,
            };
            let mut out = Vec::new();
            if let Some((number, name)) = unit {
                out.push(node(0, "ProductionUnit", String::new()));
                out.push(node(1, "productionUnitNumber", number));
                if let Some(name) = name {
                    out.push(node(1, "productionUnitName", name));
                }
            }
            if let Some(text) = address {
                out.push(node(0, "UnstructuredAddress", String::new()));
                out.push(node(1, "unstructured", text));
            }
            out
        })
}

fn attention() -> impl Strategy<Value = Option<AttentionData>> {
    proptest::option::of((opt_text(), opt_text(), extensions()).prop_map(
        |(person, email, extensions)| AttentionData {
            attention_person: person.map(|p| AttentionPerson {
                person_id: p,
                label: Some("x".into()),
            }),
            email: email.map(|e| Email {
                email_address: e,
                related_agent: None,
            }),
            telephone: Some(Telephone {
                telephone_number: "12345678".into(),
                related_agent: None,
            }),
            content_responsible: None,
            generating_system: Some(GeneratingSystem {
                generating_system_id: "s".into(),
                label: None,
            }),
            extensions,
        },
    ))
}

fn contact_info() -> impl Strategy<Value = Vec<ContactInfo>> {
    proptest::collection::vec(
        (text(), text()).prop_map(|(label, value)| ContactInfo { label, value }),
        0..3,
    )
}

fn header() -> impl Strategy<Value = Header> {
    (
        (
            any::<bool>(),
            uuid(),
            opt_text(),
            text(),
            opt_text(),
            proptest::option::of(any::<bool>()),
            proptest::option::of(date_time()),
        ),
        (
            any::<bool>(),
            any::<bool>(),
            attention(),
            attention(),
            contact_info(),
            opt_text(),
            proptest::option::of(uuid()),
        ),
        (
            proptest::option::of(extensions()),
            proptest::collection::vec((uuid(), opt_text(), contact_info()), 0..3),
        ),
    )
        .prop_map(
            |(
                (v11, message_uuid, message_id, label, notification, reply, reply_by),
                (mandatory, legal, sender_att, recipient_att, info, comment, fwd),
                (content, replies),
            )| {
                let memo_version = if v11 {
                    MemoVersion::V1_1
                } else {
                    MemoVersion::V1_2
                };
                Header {
                    memo_version,
                    memo_sch_version: v11.then(|| "1.1.0".to_string()),
                    message_type: MessageType::Digitalpost,
                    message_uuid,
                    message_id,
                    message_code: None,
                    label,
                    notification,
                    additional_notification: Some("mere".into()),
                    reply,
                    reply_by_date_time: reply_by,
                    do_not_deliver_until_date: Some("2025-01-31".into()),
                    mandatory: Some(mandatory),
                    legal_notification: (v11 || legal).then_some(legal),
                    post_type: None,
                    sender: Sender {
                        sender_id: "12345678".into(),
                        id_type: "CVR".into(),
                        id_type_label: None,
                        label: "Kommunen".into(),
                        attention_data: sender_att,
                        contact_point: Some(ContactPoint {
                            contact_group: None,
                            contact_point_id: "241d39f6-998e-4929-b198-ccacbbf4b330".into(),
                            label: None,
                            contact_info: info,
                        }),
                        representative: (!v11).then(|| Representative {
                            representative_id: "87654321".into(),
                            id_type: "CVR".into(),
                            id_type_label: None,
                            label: Some("R".into()),
                        }),
                    },
                    recipient: Recipient {
                        recipient_id: "2211771212".into(),
                        id_type: "CPR".into(),
                        id_type_label: Some("cpr".into()),
                        label: None,
                        attention_data: recipient_att,
                        contact_point: None,
                    },
                    content_data: content.map(|extensions| ContentData {
                        case_id: Some(CaseId {
                            case_id: "SAG-1".into(),
                            case_system: Some("Sagssystem".into()),
                        }),
                        additional_content_data: vec![AdditionalContentData {
                            content_data_type: None,
                            content_data_name: "n".into(),
                            content_data_value: "v".into(),
                        }],
                        extensions,
                    }),
                    forward_data: fwd.map(|u| ForwardData {
                        message_uuid: u,
                        original_message_date_time: "2021-03-15T12:00:00Z".into(),
                        original_sender: "K".into(),
                        original_content_responsible: None,
                        original_representative: None,
                        contact_point_id: None,
                        comment: comment.clone(),
                    }),
                    reply_data: replies
                        .into_iter()
                        .map(|(u, c, extra)| ReplyData {
                            message_uuid: u,
                            comment: c,
                            additional_reply_data: extra,
                            ..ReplyData::default()
                        })
                        .collect(),
                }
            },
        )
}

fn file() -> impl Strategy<Value = File> {
    (
        proptest::collection::vec(any::<u8>(), 1..200),
        "[a-zA-Z0-9 ._-]{1,12}",
    )
        .prop_map(|(content, name)| File {
            info: FileInfo {
                encoding_format: "application/pdf".into(),
                filename: format!("{name}.pdf"),
                language: "da".into(),
            },
            content,
        })
}

fn action() -> impl Strategy<Value = Action> {
    (text(), any::<bool>(), opt_text()).prop_map(|(label, reserve, description)| Action {
        label,
        action_code: "AFTALE".into(),
        start_date_time: Some("2018-11-10T09:00:00Z".into()),
        end_date_time: None,
        reservation: reserve.then(|| Reservation {
            description: Some(description.unwrap_or_default()),
            reservation_uuid: Some("8c2ea15d-61fb-4ba9-9366-42f8b194d241".into()),
            abstract_text: Some("a".into()),
            location: Some("Rød stue".into()),
            start_date_time: Some("2018-11-10T09:00:00Z".into()),
            end_date_time: Some("2018-11-10T12:00:00Z".into()),
            ..Reservation::default()
        }),
        entry_point_url: (!reserve).then(|| "https://example.dk/x?a=1&b=2".into()),
    })
}

fn document(kind: DocumentKind) -> impl Strategy<Value = Document> {
    (
        opt_text(),
        opt_text(),
        proptest::collection::vec(file(), 1..3),
        proptest::collection::vec(action(), 0..3),
    )
        .prop_map(move |(id, label, files, actions)| Document {
            info: DocumentInfo { kind, id, label },
            files,
            actions: if kind == DocumentKind::Technical {
                vec![]
            } else {
                actions
            },
        })
}

fn message() -> impl Strategy<Value = Message> {
    (
        header(),
        date_time(),
        document(DocumentKind::Main),
        proptest::collection::vec(document(DocumentKind::Additional), 0..2),
        proptest::collection::vec(document(DocumentKind::Technical), 0..2),
    )
        .prop_map(|(header, created, main, additional, technical)| {
            let mut documents = vec![main];
            documents.extend(additional);
            documents.extend(technical);
            Message {
                header,
                body: Some(Body {
                    created_date_time: created,
                    documents,
                }),
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn parse_of_write_is_identity(m in message()) {
        let xml = write_message(&m).unwrap();
        let parsed = parse(&xml).unwrap();
        prop_assert_eq!(&parsed.message, &m);
        let errors: Vec<&Problem> = parsed.problems.iter().filter(|p| p.is_error() && p.code != Code::TooLong).collect();
        prop_assert!(errors.is_empty(), "{:#?}", errors);
    }
}

#[test]
fn fixtures_survive_a_write_read_round_trip() {
    for bytes in [V11_FULL, V11_MIN, V12_FULL, V12_MIN] {
        let m = parse(bytes).unwrap().message;
        let again = parse(&write_message(&m).unwrap()).unwrap();
        assert_eq!(again.message, m);
    }
}

/// The schema's verdicts that dpost got wrong (issue 14), one message each: valid ones must
/// give no error, invalid ones the named error at the element's path and line.
mod schema_verdicts {
    use super::*;

    const GRD: &str = "https://data.gov.dk/model/core/";

    fn errors_of(doc: &str) -> Vec<Problem> {
        validate(doc.as_bytes())
            .into_iter()
            .filter(Problem::is_error)
            .collect()
    }

    fn valid(from: &str, to: &str) {
        assert!(BASE.contains(from), "{from}");
        let doc = BASE.replacen(from, to, 1);
        assert_eq!(errors_of(&doc), vec![], "{to}");
    }

    /// The one error the change gives, at `path`, with `code`, on the line of `marker`.
    fn invalid(from: &str, to: &str, code: Code, path: &str, marker: &str) {
        assert!(BASE.contains(from), "{from}");
        let doc = BASE.replacen(from, to, 1);
        let problems = errors_of(&doc);
        let p = problems
            .iter()
            .find(|p| p.code == code && p.path == path)
            .unwrap_or_else(|| panic!("expected {code} at {path}, got {problems:#?}"));
        let line = doc
            .lines()
            .position(|l| l.contains(marker))
            .map(|n| n as u32 + 1);
        assert_eq!(Some(p.position.line), line, "{p:?}");
    }

    fn content_data(inner: &str) -> String {
        format!("<memo:ContentData>\n{inner}\n</memo:ContentData>")
    }

    const CONTENT: &str = "<memo:ContentData><grd:CPRdata><grd:cprNumber>2512169996</grd:cprNumber></grd:CPRdata></memo:ContentData>";

    #[test]
    fn attention_person_and_content_responsible_ids_are_optional() {
        valid(
            "<memo:ContactPoint>",
            "<memo:AttentionData><memo:AttentionPerson><memo:label>Hans</memo:label></memo:AttentionPerson><memo:ContentResponsible><memo:label>B</memo:label></memo:ContentResponsible></memo:AttentionData><memo:ContactPoint>",
        );
    }

    #[test]
    fn a_date_may_carry_a_zone() {
        valid("2025-09-15<", "2025-09-15+02:00<");
        valid("2025-09-15<", "2025-09-15Z<");
    }

    #[test]
    fn additional_content_data_is_at_most_ten() {
        let acd = "<memo:AdditionalContentData><memo:contentDataName>n</memo:contentDataName><memo:contentDataValue>v</memo:contentDataValue></memo:AdditionalContentData>\n";
        valid(CONTENT, &content_data(&acd.repeat(10)));
        let eleven = format!("{}<memo:AdditionalContentData x=\"\">", acd.repeat(10));
        let doc = content_data(&format!(
            "{eleven}<memo:contentDataName>n</memo:contentDataName><memo:contentDataValue>v</memo:contentDataValue></memo:AdditionalContentData>"
        ));
        invalid(
            CONTENT,
            &doc,
            Code::TooMany,
            &format!("{H}/ContentData/AdditionalContentData"),
            "x=\"\"",
        );
    }

    #[test]
    fn a_reservation_needs_its_six_children() {
        let doc = BASE.replacen(
            "<memo:EntryPoint><memo:url>https://example.dk/a?b=1&amp;c=2</memo:url></memo:EntryPoint>",
            "<memo:Reservation><memo:organizerName>J</memo:organizerName></memo:Reservation>",
            1,
        );
        let missing: Vec<String> = errors_of(&doc)
            .into_iter()
            .filter(|p| p.code == Code::MissingElement)
            .map(|p| p.path)
            .collect();
        let r = "/Message/MessageBody/MainDocument/Action/Reservation";
        assert_eq!(
            missing,
            [
                "description",
                "reservationUUID",
                "abstract",
                "location",
                "startDateTime",
                "endDateTime"
            ]
            .map(|c| format!("{r}/{c}"))
        );
    }

    #[test]
    fn a_case_id_needs_its_case_system() {
        invalid(
            CONTENT,
            &content_data("<memo:CaseID><memo:caseID>S-1</memo:caseID></memo:CaseID>"),
            Code::MissingElement,
            &format!("{H}/ContentData/CaseID/caseSystem"),
            "<memo:CaseID>",
        );
        valid(
            CONTENT,
            &content_data(
                "<memo:CaseID><memo:caseID>S-1</memo:caseID><memo:caseSystem>X</memo:caseSystem></memo:CaseID>",
            ),
        );
    }

    #[test]
    fn reply_uuid_is_a_version_4_uuid() {
        invalid(
            "<memo:comment>tekst</memo:comment>",
            "<memo:replyUUID>8c2ea15d-61fb-1ba9-9366-42f8b194c657</memo:replyUUID>\n<memo:comment>tekst</memo:comment>",
            Code::NotUuidV4,
            &format!("{H}/ReplyData/replyUUID"),
            "<memo:replyUUID>",
        );
    }

    #[test]
    fn a_bad_variant_digit_is_called_a_bad_variant() {
        let doc = BASE.replacen(
            "8c2ea15d-61fb-4ba9-9366-42f8b194c114",
            "8c2ea15d-61fb-4ba9-c366-42f8b194c114",
            1,
        );
        let problems = errors_of(&doc);
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(problems[0].message.contains("variant"), "{problems:#?}");
        assert!(!problems[0].message.contains("version 0"), "{problems:#?}");
    }

    #[test]
    fn an_entry_point_url_is_at_most_256_characters() {
        let url = format!("https://example.dk/{}", "a".repeat(256 - 19));
        valid("https://example.dk/a?b=1&amp;c=2", &url);
        invalid(
            "https://example.dk/a?b=1&amp;c=2",
            &format!("{url}b"),
            Code::TooLong,
            "/Message/MessageBody/MainDocument/Action/EntryPoint/url",
            "<memo:EntryPoint>",
        );
    }

    #[test]
    fn script_urls_are_errors_even_in_1_1() {
        let v11 = BASE
            .replacen("memoVersion=\"1.2\"", "memoVersion=\"1.1\" memoSchVersion=\"1.1.0\"", 1)
            .replacen(
                "<memo:Representative><memo:representativeID>87654321</memo:representativeID><memo:idType>CVR</memo:idType></memo:Representative>",
                "",
                1,
            );
        assert_eq!(errors_of(&v11), vec![]);
        let http = v11.replacen("https://example.dk", "http://example.dk", 1);
        assert_eq!(errors_of(&http), vec![]);
        let script = v11.replacen("https://example.dk/a?b=1&amp;c=2", "javascript:alert(1)", 1);
        let problems = errors_of(&script);
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert_eq!(problems[0].code, Code::UrlNotHttps);
    }

    #[test]
    fn memo_1_1_needs_memo_sch_version() {
        let v11 = BASE
            .replacen("memoVersion=\"1.2\"", "memoVersion=\"1.1\"", 1)
            .replacen(
                "<memo:Representative><memo:representativeID>87654321</memo:representativeID><memo:idType>CVR</memo:idType></memo:Representative>",
                "",
                1,
            );
        let problems = errors_of(&v11);
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert_eq!(
            (
                problems[0].code,
                problems[0].path.as_str(),
                problems[0].position.line
            ),
            (Code::MissingAttribute, "/Message", 2)
        );
    }

    #[test]
    fn unknown_attributes_are_errors() {
        invalid(
            "<memo:Sender>",
            "<memo:Sender colour=\"red\">",
            Code::UnknownAttribute,
            &format!("{H}/Sender"),
            "colour=",
        );
        invalid(
            "memoVersion=\"1.2\"",
            "memoVersion=\"1.2\" extra=\"1\"",
            Code::UnknownAttribute,
            "/Message",
            "extra=",
        );
        valid(
            "<memo:Sender>",
            "<memo:Sender xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"a b\">",
        );
    }

    #[test]
    fn unknown_memo_elements_are_errors() {
        invalid(
            "<memo:reply>",
            "<memo:colour>red</memo:colour>\n<memo:reply>",
            Code::UnknownElement,
            &format!("{H}/colour"),
            "<memo:colour>",
        );
    }

    #[test]
    fn foreign_namespace_content_is_checked_fully() {
        let cd = format!("{H}/ContentData");
        let ad = format!("{H}/Sender/AttentionData");
        let attention = |inner: &str| {
            format!("<memo:AttentionData>\n{inner}\n</memo:AttentionData><memo:ContactPoint>")
        };
        invalid(
            CONTENT,
            &content_data("<grd:CPRdata><grd:name>E</grd:name></grd:CPRdata>"),
            Code::MissingElement,
            &format!("{cd}/CPRdata/cprNumber"),
            "<grd:CPRdata>",
        );
        invalid(
            "2512169996<",
            &format!("{}<", "1".repeat(257)),
            Code::TooLong,
            &format!("{cd}/CPRdata/cprNumber"),
            "<grd:CPRdata>",
        );
        invalid(
            "2512169996<",
            "251216999<",
            Code::InvalidCpr,
            &format!("{cd}/CPRdata/cprNumber"),
            "<grd:CPRdata>",
        );
        invalid(
            CONTENT,
            &content_data("<grd:CVRdata><grd:cvrNumber>1234567</grd:cvrNumber></grd:CVRdata>"),
            Code::InvalidCvr,
            &format!("{cd}/CVRdata/cvrNumber"),
            "<grd:CVRdata>",
        );
        let gln = "xmlns:gln=\"https://www.gs1.dk/gs1-standarder/identifikation/gln-global-location-number/\"";
        valid(
            "<memo:ContactPoint>",
            &attention(&format!(
                "<gln:GlobalLocationNumber {gln}><gln:globalLocationNumber>5798000012345</gln:globalLocationNumber></gln:GlobalLocationNumber>"
            )),
        );
        invalid(
            "<memo:ContactPoint>",
            &attention(&format!(
                "<gln:GlobalLocationNumber {gln}><gln:globalLocationNumber>57980000123456</gln:globalLocationNumber></gln:GlobalLocationNumber>"
            )),
            Code::InvalidNumber,
            &format!("{ad}/GlobalLocationNumber/globalLocationNumber"),
            "<gln:GlobalLocationNumber",
        );
        for number in ["12345678901", "12345A7890"] {
            invalid(
                CONTENT,
                &content_data(&format!(
                    "<grd:ProductionUnit><grd:productionUnitNumber>{number}</grd:productionUnitNumber></grd:ProductionUnit>"
                )),
                Code::InvalidNumber,
                &format!("{cd}/ProductionUnit/productionUnitNumber"),
                "<grd:ProductionUnit>",
            );
        }
        let kle = "xmlns:kle=\"http://kle-online.dk/\"";
        invalid(
            CONTENT,
            &content_data(&format!(
                "<kle:KLEdata {kle}><kle:subjectKey>00.00.00</kle:subjectKey><kle:version>1</kle:version></kle:KLEdata>"
            )),
            Code::MissingElement,
            &format!("{cd}/KLEdata/label"),
            "<kle:KLEdata",
        );
        let form = "xmlns:form=\"http://www.form-online.dk/\"";
        invalid(
            CONTENT,
            &content_data(&format!(
                "<form:FORMdata {form}><form:taskKey>1</form:taskKey><form:version>1</form:version><form:label>l</form:label></form:FORMdata>"
            )),
            Code::MissingElement,
            &format!("{cd}/FORMdata/activityFacet"),
            "<form:FORMdata",
        );
        invalid(
            CONTENT,
            &content_data(&format!(
                "<grd:CPRdata><grd:cprNumber>2512169996</grd:cprNumber><grd:shoeSize xmlns:grd=\"{GRD}\">44</grd:shoeSize></grd:CPRdata>"
            )),
            Code::ForeignElement,
            &format!("{cd}/CPRdata/shoeSize"),
            "<grd:CPRdata>",
        );
        invalid(
            CONTENT,
            &content_data(
                "<grd:CPRdata a=\"1\"><grd:cprNumber>2512169996</grd:cprNumber></grd:CPRdata>",
            ),
            Code::UnknownAttribute,
            &format!("{cd}/CPRdata"),
            "<grd:CPRdata",
        );
        invalid(
            CONTENT,
            &content_data("<other:Thing xmlns:other=\"urn:other\"/>"),
            Code::ForeignElement,
            &format!("{cd}/Thing"),
            "<other:Thing",
        );
    }

    #[test]
    fn one_element_out_of_order_gives_one_error() {
        // messageUUID moved after label: the one error names messageUUID.
        let swapped = BASE.replacen(
            "<memo:messageUUID>8c2ea15d-61fb-4ba9-9366-42f8b194c114</memo:messageUUID>\n<memo:label>Besked</memo:label>",
            "<memo:label>Besked</memo:label>\n<memo:messageUUID>8c2ea15d-61fb-4ba9-9366-42f8b194c114</memo:messageUUID>",
            1,
        );
        let problems = errors_of(&swapped);
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert_eq!(problems[0].path, format!("{H}/messageUUID"));
        // legalNotification moved up to right after messageType: its neighbours that now
        // follow it are in their right order and get no error of their own.
        let early = BASE
            .replacen("<memo:legalNotification>false</memo:legalNotification>\n", "", 1)
            .replacen(
                "<memo:messageType>DIGITALPOST</memo:messageType>\n",
                "<memo:messageType>DIGITALPOST</memo:messageType>\n<memo:legalNotification>false</memo:legalNotification>\n",
                1,
            );
        let problems = errors_of(&early);
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert_eq!(
            (
                problems[0].code,
                problems[0].path.clone(),
                problems[0].position.line
            ),
            (Code::OutOfOrder, format!("{H}/legalNotification"), 5)
        );
    }

    /// Every single move of one header element to any other place gives exactly one error,
    /// out-of-order, naming the moved element or the one it jumped over.
    #[test]
    fn any_one_move_gives_one_order_error() {
        let lines: Vec<&str> = BASE.lines().collect();
        let first = lines
            .iter()
            .position(|l| l.starts_with("<memo:messageType>"))
            .unwrap();
        let last = lines
            .iter()
            .position(|l| l.starts_with("<memo:legalNotification>"))
            .unwrap();
        for from in first..=last {
            for to in first..=last {
                if from == to {
                    continue;
                }
                let mut moved = lines.clone();
                let line = moved.remove(from);
                moved.insert(to, line);
                let doc = moved.join("\n");
                let problems = errors_of(&doc);
                assert_eq!(problems.len(), 1, "{line} to {to}: {problems:#?}");
                assert_eq!(problems[0].code, Code::OutOfOrder, "{problems:#?}");
                let named = problems[0].path.rsplit('/').next().unwrap_or("");
                assert!(
                    doc.lines()
                        .nth(problems[0].position.line as usize - 1)
                        .is_some_and(|l| l.starts_with(&format!("<memo:{named}>"))),
                    "{line} to {to}: {problems:#?}"
                );
            }
        }
    }

    #[test]
    fn stray_text_is_reported_on_its_own_line() {
        let doc = BASE.replacen(
            "<memo:label>Kommunen</memo:label>",
            "<memo:label>Kommunen</memo:label>\n\n  stray",
            1,
        );
        let problems = errors_of(&doc);
        let p = problems
            .iter()
            .find(|p| p.code == Code::UnexpectedText)
            .unwrap();
        let line = doc.lines().position(|l| l.contains("stray")).unwrap() as u32 + 1;
        assert_eq!(
            (p.path.as_str(), p.position.line, p.position.column),
            (format!("{H}/Sender").as_str(), line, 3)
        );
    }

    #[test]
    fn a_well_formed_document_in_another_namespace_is_not_memo() {
        let e = parse(
            b"<?xml version=\"1.0\"?>\n<m:Message xmlns:m=\"urn:not-memo\" memoVersion=\"1.2\"/>",
        )
        .unwrap_err();
        assert!(matches!(e.kind, ReadErrorKind::NotMemo { .. }), "{e:?}");
        assert_eq!(e.position.line, 2);
    }
}
