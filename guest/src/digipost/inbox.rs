//! An organisation's Digipost inbox: the `<inbox>` document that
//! `GET /<sender-id>/inbox` answers, read and written.
//!
//! ```xml
//! <inbox xmlns="http://api.digipost.no/schema/v8">
//!   <document>
//!     <id>1234</id> <subject>PUM</subject> <sender>Posten Norge AS</sender>
//!     <delivery-time>2017-05-23T09:30:10+02:00</delivery-time>
//!     <authentication-level>TWO_FACTOR</authentication-level>
//!     <content-uri>/1000/inbox/1234/content</content-uri>
//!     <attachment> ...same fields... </attachment>
//!     <link rel="..." uri="..." media-type="..."/>
//!   </document>
//! </inbox>
//! ```
//! Read leniently (v7, v8 or no namespace, any prefix, unknown elements skipped, the
//! documentation's `TWO FACTOR` spelling) and written strictly, so that the simulator serves
//! what the real service serves.

use super::date_time;
use super::xml::{
    self, Element, MAX_DEPTH, SchemaVersion, Trail, WriteError, XmlError, XmlProblem,
};

/// How strongly a recipient must have logged in to open a document.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum AuthenticationLevel {
    /// A password login.
    Password,
    /// Two-factor login (the documentation's example spells it `TWO FACTOR`).
    TwoFactor,
    /// ID-porten security level 3.
    Idporten3,
    /// ID-porten security level 4.
    Idporten4,
    /// A level this version does not know, as the server wrote it. Holds only values that
    /// [`AuthenticationLevel::parse`] does not recognise.
    Other(String),
}

impl AuthenticationLevel {
    /// The level named by `value`; unknown names are kept as [`AuthenticationLevel::Other`]
    /// because a new level on the server must not make the whole inbox unreadable.
    pub fn parse(value: &str) -> AuthenticationLevel {
        match value {
            "PASSWORD" => AuthenticationLevel::Password,
            "TWO_FACTOR" | "TWO FACTOR" => AuthenticationLevel::TwoFactor,
            "IDPORTEN_3" => AuthenticationLevel::Idporten3,
            "IDPORTEN_4" => AuthenticationLevel::Idporten4,
            other => AuthenticationLevel::Other(other.to_owned()),
        }
    }

    /// The name as the schema spells it.
    pub fn as_str(&self) -> &str {
        match self {
            AuthenticationLevel::Password => "PASSWORD",
            AuthenticationLevel::TwoFactor => "TWO_FACTOR",
            AuthenticationLevel::Idporten3 => "IDPORTEN_3",
            AuthenticationLevel::Idporten4 => "IDPORTEN_4",
            AuthenticationLevel::Other(s) => s,
        }
    }
}

/// A hypermedia link of the v8 schema: `<link rel="..." uri="..." media-type="..."/>`. In
/// `api_v8.xsd` (digipost-api-client-dotnet 4425582, type `link`) only `uri` is required;
/// `rel` and `media-type` are optional, so a link without `rel` is read, not refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// What the link is for, usually a URI naming the relation; absent when the server
    /// gave none.
    pub rel: Option<String>,
    /// Where it points.
    pub uri: String,
    /// The media type to ask for, when the server names one.
    pub media_type: Option<String>,
}

/// One document of the inbox, or an attachment of one (the schema uses the same type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxDocument {
    /// Digipost's id of the document (`xs:long`).
    pub id: i64,
    /// The sender's own reference, when it gave one.
    pub reference_from_sender: Option<String>,
    /// The subject line.
    pub subject: Option<String>,
    /// Who sent it, as a display name.
    pub sender: String,
    /// When it was delivered, the server's `xs:dateTime` text (checked to be one).
    pub delivery_time: String,
    /// When it was first opened, if ever (`xs:dateTime`); absent, empty or nil means never.
    pub first_accessed: Option<String>,
    /// The login strength needed to open it.
    pub authentication_level: AuthenticationLevel,
    /// The content's media type, e.g. `application/pdf`.
    pub content_type: Option<String>,
    /// Where to fetch the content (answers 307 to a one-time link); relative or absolute.
    pub content_uri: Option<String>,
    /// Where to delete the document; relative or absolute.
    pub delete_uri: Option<String>,
    /// Attachments, in document order.
    pub attachments: Vec<InboxDocument>,
    /// v8 links, in document order.
    pub links: Vec<Link>,
}

/// One page of an organisation's inbox, newest first as the server sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inbox {
    /// The documents on this page.
    pub documents: Vec<InboxDocument>,
}

/// Read an `<inbox>` document (v7, v8 or no namespace; UTF-8, with or without BOM).
pub fn parse_inbox(xml: &[u8]) -> Result<Inbox, XmlError> {
    let doc = xml::read(xml)?;
    let root = doc.expect_root("inbox")?;
    let trail = Trail::root("inbox");
    let mut documents = Vec::new();
    for child in root
        .children
        .iter()
        .filter(|c| c.is_digipost() && c.name == "document")
    {
        let trail = trail.nth_child("document", documents.len() + 1);
        documents.push(document(&doc, child, &trail)?);
    }
    Ok(Inbox { documents })
}

fn document(
    doc: &xml::Document<'_>,
    el: &Element,
    trail: &Trail<'_>,
) -> Result<InboxDocument, XmlError> {
    let mut id = None;
    let mut reference_from_sender = None;
    let mut subject = None;
    let mut sender = None;
    let mut delivery_time = None;
    let mut first_accessed = None;
    let mut authentication_level = None;
    let mut content_type = None;
    let mut content_uri = None;
    let mut delete_uri = None;
    let mut attachments = Vec::new();
    let mut links = Vec::new();
    for child in el.children.iter().filter(|c| c.is_digipost()) {
        let name = child.name.as_str();
        let here = trail.child(name);
        let invalid = |value: &str, reason: String| {
            doc.error(
                child,
                &here,
                XmlProblem::InvalidValue {
                    value: value.to_owned(),
                    reason,
                },
            )
        };
        // Values of token-like types (numbers, dates, enumerations, URIs) may be
        // pretty-printed with surrounding whitespace, which their XSD types collapse.
        let token = child.text.trim();
        let slot: &mut Option<String> = match name {
            "id" => {
                let value = token.parse::<i64>().map_err(|_| {
                    invalid(
                        &child.text,
                        "is not a whole number that fits in 64 bits".into(),
                    )
                })?;
                set_once(doc, child, &here, &mut id, value)?;
                continue;
            }
            "authentication-level" => {
                if token.is_empty() {
                    return Err(invalid(
                        &child.text,
                        "is empty; an authentication level is required".into(),
                    ));
                }
                set_once(
                    doc,
                    child,
                    &here,
                    &mut authentication_level,
                    AuthenticationLevel::parse(token),
                )?;
                continue;
            }
            "delivery-time" => {
                date_time::validate(token).map_err(|e| invalid(&child.text, e.to_string()))?;
                set_once(doc, child, &here, &mut delivery_time, token.to_owned())?;
                continue;
            }
            "first-accessed" => {
                if first_accessed.is_some() {
                    return Err(doc.error(
                        child,
                        &here,
                        XmlProblem::DuplicateElement(name.to_owned()),
                    ));
                }
                // The schema allows the element to be nil or empty for "never opened".
                if !child.is_nil() && !token.is_empty() {
                    date_time::validate(token).map_err(|e| invalid(&child.text, e.to_string()))?;
                    first_accessed = Some(Some(token.to_owned()));
                } else {
                    first_accessed = Some(None);
                }
                continue;
            }
            "attachment" => {
                let trail = trail.nth_child("attachment", attachments.len() + 1);
                attachments.push(document(doc, child, &trail)?);
                continue;
            }
            "link" => {
                let trail = trail.nth_child("link", links.len() + 1);
                links.push(link(doc, child, &trail)?);
                continue;
            }
            "reference-from-sender" => &mut reference_from_sender,
            "subject" => &mut subject,
            "sender" => &mut sender,
            "content-type" => &mut content_type,
            "content-uri" => &mut content_uri,
            "delete-uri" => &mut delete_uri,
            _ => continue,
        };
        let value = match name {
            "content-type" | "content-uri" | "delete-uri" => token.to_owned(),
            _ => child.text.clone(),
        };
        set_once(doc, child, &here, slot, value)?;
    }
    let missing = |name: &str| doc.error(el, trail, XmlProblem::MissingElement(name.to_owned()));
    Ok(InboxDocument {
        id: id.ok_or_else(|| missing("id"))?,
        reference_from_sender,
        subject,
        sender: sender.ok_or_else(|| missing("sender"))?,
        delivery_time: delivery_time.ok_or_else(|| missing("delivery-time"))?,
        first_accessed: first_accessed.flatten(),
        authentication_level: authentication_level
            .ok_or_else(|| missing("authentication-level"))?,
        content_type,
        content_uri,
        delete_uri,
        attachments,
        links,
    })
}

fn set_once<T>(
    doc: &xml::Document<'_>,
    el: &Element,
    trail: &Trail<'_>,
    slot: &mut Option<T>,
    value: T,
) -> Result<(), XmlError> {
    if slot.is_some() {
        return Err(doc.error(el, trail, XmlProblem::DuplicateElement(el.name.clone())));
    }
    *slot = Some(value);
    Ok(())
}

/// Read a `<link rel uri media-type/>` element.
pub(crate) fn link(
    doc: &xml::Document<'_>,
    el: &Element,
    trail: &Trail<'_>,
) -> Result<Link, XmlError> {
    let required = |name: &str| {
        el.attribute(name)
            .map(|v| v.trim().to_owned())
            .ok_or_else(|| doc.error(el, trail, XmlProblem::MissingAttribute(name.to_owned())))
    };
    Ok(Link {
        rel: el.attribute("rel").map(|v| v.trim().to_owned()),
        uri: required("uri")?,
        media_type: el.attribute("media-type").map(|v| v.trim().to_owned()),
    })
}

/// Write an `<inbox>` document in the namespace of `version`, as the service serves it
/// with the media type [`SchemaVersion::media_type`]. Refuses what a reader would refuse
/// (dates that are not `xs:dateTime`, characters XML cannot carry, nesting beyond
/// [`MAX_DEPTH`]), so whatever is written reads back as the same inbox.
pub fn write_inbox(inbox: &Inbox, version: SchemaVersion) -> Result<String, WriteError> {
    let mut w = xml::Writer::new("inbox", version);
    for d in &inbox.documents {
        write_document(&mut w, "document", d)?;
    }
    Ok(w.finish())
}

fn write_document(
    w: &mut xml::Writer,
    element: &'static str,
    d: &InboxDocument,
) -> Result<(), WriteError> {
    // The document opens one level below what is open, its fields one further.
    if w.depth() + 2 > MAX_DEPTH {
        return Err(WriteError::TooDeep(MAX_DEPTH as u32));
    }
    let check = |field: &str, value: &str| {
        date_time::validate(value).map_err(|e| WriteError::InvalidDateTime {
            field: field.to_owned(),
            reason: format!("{value:?} {e}"),
        })
    };
    check("delivery-time", &d.delivery_time)?;
    if let Some(t) = &d.first_accessed {
        check("first-accessed", t)?;
    }
    w.open(element);
    w.text_element("id", &d.id.to_string())?;
    w.optional_element("reference-from-sender", d.reference_from_sender.as_deref())?;
    w.optional_element("subject", d.subject.as_deref())?;
    w.text_element("sender", &d.sender)?;
    w.text_element("delivery-time", &d.delivery_time)?;
    w.optional_element("first-accessed", d.first_accessed.as_deref())?;
    w.text_element("authentication-level", d.authentication_level.as_str())?;
    w.optional_element("content-type", d.content_type.as_deref())?;
    w.optional_element("content-uri", d.content_uri.as_deref())?;
    w.optional_element("delete-uri", d.delete_uri.as_deref())?;
    for a in &d.attachments {
        write_document(w, "attachment", a)?;
    }
    for l in &d.links {
        write_link(w, l)?;
    }
    w.close();
    Ok(())
}

/// Write a `<link rel uri media-type/>` element.
pub(crate) fn write_link(w: &mut xml::Writer, l: &Link) -> Result<(), WriteError> {
    w.empty_element(
        "link",
        &[
            ("rel", l.rel.as_deref()),
            ("uri", Some(&l.uri)),
            ("media-type", l.media_type.as_deref()),
        ],
    )
}

/// A document of an inbox laid out flat, for interfaces that cannot nest a type in itself
/// (WIT records cannot be recursive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlatDocument {
    /// Position in the flat list of the document this one is attached to; `None` for a
    /// document of the inbox itself. Always smaller than this entry's own position.
    pub attached_to: Option<u32>,
    /// The document, its `attachments` left empty (they follow it in the list).
    pub document: InboxDocument,
}

/// Why a flat list does not describe an inbox.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlatError {
    /// An entry is attached to an owner that does not come before it.
    #[error("entry {index} is attached to entry {attached_to}, which does not come before it")]
    BadOwner {
        /// The entry's position.
        index: u32,
        /// The position it names.
        attached_to: u32,
    },
    /// Attachments nest deeper than a reader would accept.
    #[error("attachments nest deeper than {0} levels")]
    TooDeep(u32),
}

impl Inbox {
    /// The inbox as a flat list in document order: each document followed by its
    /// attachments (depth first), each attachment naming its owner's position.
    pub fn to_flat(&self) -> Vec<FlatDocument> {
        fn visit(d: &InboxDocument, attached_to: Option<u32>, out: &mut Vec<FlatDocument>) {
            let index = u32::try_from(out.len()).unwrap_or(u32::MAX);
            out.push(FlatDocument {
                attached_to,
                document: InboxDocument {
                    attachments: Vec::new(),
                    ..d.clone()
                },
            });
            for a in &d.attachments {
                visit(a, Some(index), out);
            }
        }
        let mut out = Vec::new();
        for d in &self.documents {
            visit(d, None, &mut out);
        }
        out
    }

    /// The inbox a flat list describes (the inverse of [`Inbox::to_flat`]).
    pub fn from_flat(flat: Vec<FlatDocument>) -> Result<Inbox, FlatError> {
        // Depth of each entry, checked before building so that no tree deeper than a
        // reader accepts (and whose recursive drop could exhaust the stack) is made.
        let mut depth: Vec<usize> = Vec::with_capacity(flat.len());
        for (index, entry) in flat.iter().enumerate() {
            let d = match entry.attached_to {
                None => 1,
                Some(p) => {
                    let bad = FlatError::BadOwner {
                        index: index as u32,
                        attached_to: p,
                    };
                    let parent = usize::try_from(p)
                        .ok()
                        .filter(|&p| p < index)
                        .ok_or(bad.clone())?;
                    depth.get(parent).ok_or(bad)? + 1
                }
            };
            // Below `<inbox>`, a document at level `d` and its fields sit `d + 1` and `d + 2` deep.
            if d + 2 > MAX_DEPTH {
                return Err(FlatError::TooDeep(MAX_DEPTH as u32));
            }
            depth.push(d);
        }
        // Children come after their owner, so walking backwards every entry's attachments are
        // complete (in reverse) by the time the entry itself is reached.
        let mut pending: Vec<Vec<InboxDocument>> = vec![Vec::new(); flat.len()];
        let mut documents = Vec::new();
        for (index, entry) in flat.into_iter().enumerate().rev() {
            let mut document = entry.document;
            if let Some(children) = pending.get_mut(index) {
                document.attachments.extend(children.drain(..).rev());
            }
            match entry.attached_to.and_then(|p| pending.get_mut(p as usize)) {
                Some(owner) => owner.push(document),
                None => documents.push(document),
            }
        }
        documents.reverse();
        Ok(Inbox { documents })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The example of the API documentation (`docs/seeds/digipost-inbox-api.txt`), verbatim
    /// but for the comment that stood where a nil value may be.
    const SEED: &str = r#"<inbox>
<document> <!--zero or more, type: inbox-document -->
<id>1234</id>
<subject>PUM</subject>
<sender>Posten Norge As</sender>
<delivery-time>2017-05-23T09:30:10+02:00</delivery-time>
<first-accessed>2017-02-14T08:25:00+01:00</first-accessed> <!-- or null -->
<authentication-level>TWO FACTOR</authentication-level>
<content-type>application/pdf</content-type>
<content-uri>/1000/inbox/1234/content</content-uri>
<delete-uri>/1000/inbox/1234</delete-uri>
<attachment> <!--zero or more, type: inbox-document -->
<id>2345</id>
<subject>Fødselsnummer</subject>
<sender>Posten Norge As</sender>
<delivery-time>2017-05-23T09:30:10+02:00</delivery-time>
<first-accessed>2017-02-14T08:25:00+01:00</first-accessed> <!-- or null -->
<authentication-level>TWO FACTOR</authentication-level>
<content-type>application/xml</content-type>
<content-uri>/1000/inbox/2345/content</content-uri>
</attachment>
</document>
</inbox>"#;

    fn seed_inbox() -> Inbox {
        Inbox {
            documents: vec![InboxDocument {
                id: 1234,
                reference_from_sender: None,
                subject: Some("PUM".into()),
                sender: "Posten Norge As".into(),
                delivery_time: "2017-05-23T09:30:10+02:00".into(),
                first_accessed: Some("2017-02-14T08:25:00+01:00".into()),
                authentication_level: AuthenticationLevel::TwoFactor,
                content_type: Some("application/pdf".into()),
                content_uri: Some("/1000/inbox/1234/content".into()),
                delete_uri: Some("/1000/inbox/1234".into()),
                attachments: vec![InboxDocument {
                    id: 2345,
                    reference_from_sender: None,
                    subject: Some("Fødselsnummer".into()),
                    sender: "Posten Norge As".into(),
                    delivery_time: "2017-05-23T09:30:10+02:00".into(),
                    first_accessed: Some("2017-02-14T08:25:00+01:00".into()),
                    authentication_level: AuthenticationLevel::TwoFactor,
                    content_type: Some("application/xml".into()),
                    content_uri: Some("/1000/inbox/2345/content".into()),
                    delete_uri: None,
                    attachments: vec![],
                    links: vec![],
                }],
                links: vec![],
            }],
        }
    }

    #[test]
    fn the_seed_example_parses() {
        assert_eq!(parse_inbox(SEED.as_bytes()).unwrap(), seed_inbox());
    }

    #[test]
    fn v7_and_v8_namespaces_with_any_prefix() {
        for ns in [
            "http://api.digipost.no/schema/v7",
            "http://api.digipost.no/schema/v8",
        ] {
            let default = SEED.replacen("<inbox>", &format!("<inbox xmlns=\"{ns}\">"), 1);
            assert_eq!(
                parse_inbox(default.as_bytes()).unwrap(),
                seed_inbox(),
                "{ns}"
            );
            let prefixed = SEED
                .replace("<", "<dp:")
                .replace("<dp:/", "</dp:")
                .replace("<dp:!--", "<!--")
                .replacen("<dp:inbox>", &format!("<dp:inbox xmlns:dp=\"{ns}\">"), 1);
            assert_eq!(
                parse_inbox(prefixed.as_bytes()).unwrap(),
                seed_inbox(),
                "{prefixed}"
            );
        }
        let foreign = SEED.replacen("<inbox>", "<inbox xmlns=\"urn:elsewhere\">", 1);
        let e = parse_inbox(foreign.as_bytes()).unwrap_err();
        assert_eq!(
            e.problem,
            XmlProblem::ForeignNamespace("urn:elsewhere".into())
        );
    }

    #[test]
    fn v8_links_nested_attachments_and_unknown_elements() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<inbox xmlns="http://api.digipost.no/schema/v8" xmlns:x="urn:ext" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <document>
    <id> 7 </id>
    <reference-from-sender>ref-1</reference-from-sender>
    <sender>Skatteetaten</sender>
    <delivery-time>2024-01-02T03:04:05.678Z</delivery-time>
    <first-accessed xsi:nil="true"/>
    <authentication-level>IDPORTEN_4</authentication-level>
    <x:extension><id>999</id></x:extension>
    <future-field>ignored</future-field>
    <attachment>
      <id>8</id><sender>S</sender><delivery-time>2024-01-02T03:04:05Z</delivery-time>
      <authentication-level>NEW_LEVEL</authentication-level>
      <attachment>
        <id>9</id><sender>S</sender><delivery-time>2024-01-02T03:04:05Z</delivery-time>
        <first-accessed></first-accessed>
        <authentication-level>PASSWORD</authentication-level>
      </attachment>
    </attachment>
    <link rel="https://api.digipost.no/relations/get_document_content" uri="https://api.digipost.no/1000/inbox/7/content" media-type="application/pdf"/>
    <link rel="self" uri="/1000/inbox/7"/>
  </document>
</inbox>"#;
        let inbox = parse_inbox(xml.as_bytes()).unwrap();
        let d = &inbox.documents[0];
        assert_eq!(d.id, 7);
        assert_eq!(d.reference_from_sender.as_deref(), Some("ref-1"));
        assert_eq!(d.first_accessed, None);
        assert_eq!(d.authentication_level, AuthenticationLevel::Idporten4);
        assert_eq!(
            d.attachments[0].authentication_level,
            AuthenticationLevel::Other("NEW_LEVEL".into())
        );
        assert_eq!(d.attachments[0].attachments[0].id, 9);
        assert_eq!(d.attachments[0].attachments[0].first_accessed, None);
        assert_eq!(
            d.links,
            vec![
                Link {
                    rel: Some("https://api.digipost.no/relations/get_document_content".into()),
                    uri: "https://api.digipost.no/1000/inbox/7/content".into(),
                    media_type: Some("application/pdf".into()),
                },
                Link {
                    rel: Some("self".into()),
                    uri: "/1000/inbox/7".into(),
                    media_type: None
                },
            ]
        );
    }

    #[test]
    fn empty_inbox() {
        assert_eq!(parse_inbox(b"<inbox/>").unwrap(), Inbox::default());
        assert_eq!(
            parse_inbox(b"<inbox xmlns=\"http://api.digipost.no/schema/v8\">\n</inbox>").unwrap(),
            Inbox::default()
        );
        let written = write_inbox(&Inbox::default(), SchemaVersion::V8).unwrap();
        assert_eq!(parse_inbox(written.as_bytes()).unwrap(), Inbox::default());
    }

    #[test]
    fn bad_values_name_the_element_and_line() {
        let bad_id = SEED.replacen("<id>2345</id>", "<id>23x45</id>", 1);
        let e = parse_inbox(bad_id.as_bytes()).unwrap_err();
        assert_eq!(e.path, "/inbox/document[1]/attachment[1]/id");
        assert_eq!((e.line, e.column), (13, 1));
        assert!(
            e.to_string().contains("\"23x45\" is not a whole number"),
            "{e}"
        );

        let bad_date = SEED.replacen("2017-05-23T09:30:10+02:00", "23.05.2017", 1);
        let e = parse_inbox(bad_date.as_bytes()).unwrap_err();
        assert_eq!(e.path, "/inbox/document[1]/delivery-time");
        assert_eq!(e.line, 6);

        let no_sender = SEED.replacen("<sender>Posten Norge As</sender>", "", 1);
        let e = parse_inbox(no_sender.as_bytes()).unwrap_err();
        assert_eq!((e.path.as_str(), e.line), ("/inbox/document[1]", 2));
        assert_eq!(e.problem, XmlProblem::MissingElement("sender".into()));

        let twice = SEED.replacen(
            "<subject>PUM</subject>",
            "<subject>PUM</subject><subject/>",
            1,
        );
        let e = parse_inbox(twice.as_bytes()).unwrap_err();
        assert_eq!(e.problem, XmlProblem::DuplicateElement("subject".into()));

        // A link without rel is valid (api_v8.xsd: rel optional); without uri it is not.
        let ok = parse_inbox(
            b"<inbox><document><id>1</id><sender>s</sender><delivery-time>2017-05-23T09:30:10+02:00</delivery-time><authentication-level>PASSWORD</authentication-level><link uri=\"/x\"/></document></inbox>",
        )
        .unwrap();
        assert_eq!(ok.documents[0].links[0].rel, None);
        let e =
            parse_inbox(b"<inbox><document><link rel=\"self\"/></document></inbox>").unwrap_err();
        assert_eq!(e.problem, XmlProblem::MissingAttribute("uri".into()));
        assert_eq!(e.path, "/inbox/document[1]/link[1]");

        let e = parse_inbox(b"<error/>").unwrap_err();
        assert_eq!(
            e.problem,
            XmlProblem::UnexpectedRoot {
                expected: "inbox".into(),
                found: "error".into()
            }
        );
    }

    #[test]
    fn malformed_xml_and_dtds_are_refused_with_a_location() {
        let truncated = SEED.get(..SEED.len() - 30).unwrap();
        let e = parse_inbox(truncated.as_bytes()).unwrap_err();
        assert!(matches!(e.problem, XmlProblem::Syntax(_)), "{e}");
        let mismatched = SEED.replacen("</subject>", "</sender>", 1);
        let e = parse_inbox(mismatched.as_bytes()).unwrap_err();
        assert!(matches!(e.problem, XmlProblem::Syntax(_)), "{e}");
        assert_eq!(e.line, 4, "{e}");
        assert!(e.path.starts_with("/inbox/document/subject"), "{e}");

        let bomb = "<?xml version=\"1.0\"?>\n<!DOCTYPE inbox [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]>\n<inbox><document><subject>&b;</subject></document></inbox>";
        let e = parse_inbox(bomb.as_bytes()).unwrap_err();
        assert_eq!(e.problem, XmlProblem::DtdRefused);
        assert_eq!((e.line, e.column), (2, 1));
    }

    #[test]
    fn writer_output_reads_back_and_normalises_two_factor() {
        for v in [SchemaVersion::V7, SchemaVersion::V8] {
            let xml = write_inbox(&seed_inbox(), v).unwrap();
            assert!(
                xml.contains(&format!("<inbox xmlns=\"{}\">", v.namespace())),
                "{xml}"
            );
            assert!(xml.contains("<authentication-level>TWO_FACTOR</authentication-level>"));
            assert_eq!(parse_inbox(xml.as_bytes()).unwrap(), seed_inbox());
        }
        let mut bad = seed_inbox();
        if let Some(d) = bad.documents.first_mut() {
            d.first_accessed = Some("yesterday".into());
        }
        assert!(matches!(
            write_inbox(&bad, SchemaVersion::V8),
            Err(WriteError::InvalidDateTime { .. })
        ));
    }

    #[test]
    fn flat_layout_round_trips_and_refuses_forward_parents() {
        let inbox = seed_inbox();
        let flat = inbox.to_flat();
        assert_eq!(flat.len(), 2);
        assert_eq!(flat[1].attached_to, Some(0));
        assert_eq!(Inbox::from_flat(flat.clone()).unwrap(), inbox);
        let mut forward = flat;
        forward[1].attached_to = Some(1);
        assert_eq!(
            Inbox::from_flat(forward),
            Err(FlatError::BadOwner {
                index: 1,
                attached_to: 1
            })
        );
        let chain: Vec<_> = (0..100u32)
            .map(|i| FlatDocument {
                attached_to: i.checked_sub(1),
                document: InboxDocument {
                    attachments: vec![],
                    ..seed_inbox().documents[0].clone()
                },
            })
            .collect();
        assert_eq!(
            Inbox::from_flat(chain),
            Err(FlatError::TooDeep(MAX_DEPTH as u32))
        );
    }

    fn text() -> impl Strategy<Value = String> {
        // Any characters XML can carry, including markup and whitespace at the ends.
        "[ a-zA-Z0-9æøåÆØÅ<>&\"'\r\n\t;#]{0,12}"
    }

    fn token() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9/:._?=&<>-]{1,20}"
    }

    fn date() -> impl Strategy<Value = String> {
        (
            1000u32..9999,
            1u32..=12,
            1u32..=28,
            0u32..24,
            0u32..60,
            0u32..60,
            prop_oneof![
                Just(String::new()),
                Just("Z".to_owned()),
                Just("+02:00".to_owned()),
                Just(".5-14:00".to_owned()),
            ],
        )
            .prop_map(|(y, mo, d, h, mi, s, z)| {
                format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{z}")
            })
    }

    fn level() -> impl Strategy<Value = AuthenticationLevel> {
        prop_oneof![
            Just("PASSWORD".to_owned()),
            Just("TWO FACTOR".to_owned()),
            Just("IDPORTEN_3".to_owned()),
            Just("IDPORTEN_4".to_owned()),
            "[A-Z_]{1,12}",
        ]
        .prop_map(|s| AuthenticationLevel::parse(&s))
    }

    fn link_strategy() -> impl Strategy<Value = Link> {
        (
            proptest::option::of(token()),
            token(),
            proptest::option::of(token()),
        )
            .prop_map(|(rel, uri, media_type)| Link {
                rel,
                uri,
                media_type,
            })
    }

    fn leaf() -> impl Strategy<Value = InboxDocument> {
        (
            any::<i64>(),
            (
                proptest::option::of(text()),
                proptest::option::of(text()),
                text(),
            ),
            (date(), proptest::option::of(date()), level()),
            (
                proptest::option::of(token()),
                proptest::option::of(token()),
                proptest::option::of(token()),
            ),
            proptest::collection::vec(link_strategy(), 0..3),
        )
            .prop_map(
                |(
                    id,
                    (reference_from_sender, subject, sender),
                    (delivery_time, first_accessed, authentication_level),
                    (content_type, content_uri, delete_uri),
                    links,
                )| InboxDocument {
                    id,
                    reference_from_sender,
                    subject,
                    sender,
                    delivery_time,
                    first_accessed,
                    authentication_level,
                    content_type,
                    content_uri,
                    delete_uri,
                    attachments: vec![],
                    links,
                },
            )
    }

    fn document_strategy() -> impl Strategy<Value = InboxDocument> {
        leaf().prop_recursive(3, 12, 3, |inner| {
            (leaf(), proptest::collection::vec(inner, 0..3)).prop_map(|(mut d, attachments)| {
                d.attachments = attachments;
                d
            })
        })
    }

    proptest! {
        #[test]
        fn parse_of_write_is_identity(
            documents in proptest::collection::vec(document_strategy(), 0..4),
            v8 in any::<bool>(),
        ) {
            let inbox = Inbox { documents };
            let version = if v8 { SchemaVersion::V8 } else { SchemaVersion::V7 };
            let xml = write_inbox(&inbox, version).unwrap();
            prop_assert_eq!(parse_inbox(xml.as_bytes()).unwrap(), inbox.clone());
            prop_assert_eq!(Inbox::from_flat(inbox.to_flat()).unwrap(), inbox);
        }

        #[test]
        fn never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_inbox(&bytes);
        }

        #[test]
        fn never_panics_on_mangled_inboxes(cut in 0usize..900, insert in "[<>&;/a-z\"= ]{0,6}") {
            let mut s = SEED.to_owned();
            let at = (0..=cut.min(s.len())).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
            s.insert_str(at, &insert);
            let _ = parse_inbox(s.as_bytes());
            let _ = parse_inbox(s.get(..at).unwrap_or_default().as_bytes());
        }
    }
}
