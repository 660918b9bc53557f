//! Digipost's XML documents: reading them into a small element tree, and writing them.
//!
//! The inbox, error and entrypoint documents are small (an inbox page holds at most 1000
//! documents), so they are read whole into a tree that the concept modules then walk. The
//! tree keeps each element's byte offset so that a value refused later still names its line
//! and column. Reading refuses what a hostile or broken server could use against a client:
//! DTDs and entity declarations (no entity is ever expanded beyond XML's five predefined ones
//! and character references), non-UTF-8 text, and nesting deep enough to exhaust the stack.

use std::fmt;

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;

/// The Digipost API version a document is written for: its XML namespace and media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SchemaVersion {
    /// `http://api.digipost.no/schema/v7`, `application/vnd.digipost-v7+xml` (the seed's).
    V7,
    /// `http://api.digipost.no/schema/v8`, `application/vnd.digipost-v8+xml` (current clients').
    V8,
}

impl SchemaVersion {
    /// The XML namespace of this version's documents.
    pub fn namespace(self) -> &'static str {
        match self {
            SchemaVersion::V7 => "http://api.digipost.no/schema/v7",
            SchemaVersion::V8 => "http://api.digipost.no/schema/v8",
        }
    }

    /// The media type sent in `Accept` and `Content-Type` for this version.
    pub fn media_type(self) -> &'static str {
        match self {
            SchemaVersion::V7 => "application/vnd.digipost-v7+xml",
            SchemaVersion::V8 => "application/vnd.digipost-v8+xml",
        }
    }

    fn from_namespace(ns: &[u8]) -> Option<SchemaVersion> {
        [SchemaVersion::V7, SchemaVersion::V8]
            .into_iter()
            .find(|v| v.namespace().as_bytes() == ns)
    }
}

/// How deep elements may nest. Digipost's documents need four levels (`inbox`, `document`,
/// `attachment`, a field); the limit leaves room for attachments of attachments while keeping
/// the recursive walk and the tree's drop far from the stack's end.
pub const MAX_DEPTH: usize = 32;

/// Where in a document something went wrong, and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path} (line {line}, column {column}, byte {offset}): {problem}")]
pub struct XmlError {
    /// The element path, e.g. `/inbox/document[2]/id`; `/` before the root element.
    pub path: String,
    /// Line, counted from 1.
    pub line: u32,
    /// Column in characters, counted from 1.
    pub column: u32,
    /// Byte offset from the start of the document (after a byte order mark, if any).
    pub offset: u64,
    /// What is wrong.
    pub problem: XmlProblem,
}

/// What is wrong with a document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlProblem {
    /// The bytes are not UTF-8.
    #[error("the document is not valid UTF-8")]
    NotUtf8,
    /// The XML declaration names an encoding other than UTF-8.
    #[error("the document declares encoding {0:?}; only UTF-8 is read")]
    UnsupportedEncoding(String),
    /// Not well-formed XML.
    #[error("not well-formed XML: {0}")]
    Syntax(String),
    /// A `<!DOCTYPE>`: refused because DTDs can declare entities that expand without bound.
    #[error("a DOCTYPE (DTD) is not allowed in this document")]
    DtdRefused,
    /// A reference to an entity other than XML's five predefined ones.
    #[error(
        "the entity &{0}; is not defined (only &lt; &gt; &amp; &quot; &apos; and character references are)"
    )]
    UnknownEntity(String),
    /// Elements nest deeper than [`MAX_DEPTH`].
    #[error("elements nest deeper than {0} levels")]
    TooDeep(u32),
    /// No root element at all.
    #[error("the document has no root element")]
    NoRootElement,
    /// Text or a second element after or before the root element.
    #[error("there is content outside the root element")]
    ContentOutsideRoot,
    /// The root element is not the one expected.
    #[error("expected the root element <{expected}>, found <{found}>")]
    UnexpectedRoot {
        /// The local name expected.
        expected: String,
        /// The local name found.
        found: String,
    },
    /// The root element is in a namespace other than Digipost's v7 or v8 (or none).
    #[error("the root element is in the namespace {0:?}, not Digipost's v7 or v8 schema")]
    ForeignNamespace(String),
    /// A required child element is absent.
    #[error("the required element <{0}> is missing")]
    MissingElement(String),
    /// An element that may appear once appears again.
    #[error("the element <{0}> appears more than once")]
    DuplicateElement(String),
    /// A required attribute is absent.
    #[error("the required attribute {0:?} is missing")]
    MissingAttribute(String),
    /// A value that does not have the form its element requires.
    #[error("{value:?} {reason}")]
    InvalidValue {
        /// The text found.
        value: String,
        /// What is wrong with it, for a person.
        reason: String,
    },
}

/// Which namespace an element is in, as far as Digipost's documents care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Namespace {
    /// No namespace, as in the API documentation's examples.
    None,
    /// One of Digipost's schema namespaces.
    Digipost(SchemaVersion),
    /// Anything else (an extension, or an undeclared prefix); such elements are skipped.
    Other(String),
}

/// One element of a read document.
#[derive(Debug, Clone)]
pub(crate) struct Element {
    /// Local name, without prefix.
    pub name: String,
    pub namespace: Namespace,
    /// Local attribute names and their unescaped values; namespace declarations left out.
    pub attributes: Vec<(String, String)>,
    pub children: Vec<Element>,
    /// The element's own text (text, CDATA and references directly inside it), unescaped.
    pub text: String,
    /// Byte offset of the element's `<`.
    pub offset: usize,
}

impl Element {
    /// Whether the element belongs to Digipost's vocabulary: unqualified or in a Digipost
    /// namespace. Elements of other namespaces are extensions a reader may skip.
    pub fn is_digipost(&self) -> bool {
        matches!(self.namespace, Namespace::None | Namespace::Digipost(_))
    }

    /// The value of the attribute with this local name.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `xsi:nil="true"` (or any `nil` attribute saying so) marks the element empty.
    pub fn is_nil(&self) -> bool {
        matches!(self.attribute("nil").map(str::trim), Some("true" | "1"))
    }
}

/// A read document: its text (for turning offsets into lines) and its root element.
#[derive(Debug)]
pub(crate) struct Document<'s> {
    source: &'s str,
    pub root: Element,
}

/// The way down to an element, for naming it in errors; built on the stack as the walk
/// descends, rendered only when an error needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Trail<'a> {
    parent: Option<&'a Trail<'a>>,
    name: &'a str,
    /// 1-based position among like-named siblings, shown for repeated elements.
    index: Option<usize>,
}

impl<'a> Trail<'a> {
    /// The trail of a root element.
    pub fn root(name: &'a str) -> Trail<'a> {
        Trail {
            parent: None,
            name,
            index: None,
        }
    }

    /// The trail of a child element.
    pub fn child(&'a self, name: &'a str) -> Trail<'a> {
        Trail {
            parent: Some(self),
            name,
            index: None,
        }
    }

    /// The trail of the `index`-th (from 1) of several like-named children.
    pub fn nth_child(&'a self, name: &'a str, index: usize) -> Trail<'a> {
        Trail {
            parent: Some(self),
            name,
            index: Some(index),
        }
    }
}

impl fmt::Display for Trail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(parent) = self.parent {
            parent.fmt(f)?;
        }
        write!(f, "/{}", self.name)?;
        if let Some(i) = self.index {
            write!(f, "[{i}]")?;
        }
        Ok(())
    }
}

impl<'s> Document<'s> {
    /// An error about `element`, reached by `trail`.
    pub fn error(&self, element: &Element, trail: &Trail<'_>, problem: XmlProblem) -> XmlError {
        located(self.source, element.offset, trail.to_string(), problem)
    }

    /// The root element, checked to be `<name>` in no namespace or a Digipost one.
    pub fn expect_root(&self, name: &str) -> Result<&Element, XmlError> {
        let root = &self.root;
        let trail = Trail::root(&root.name);
        if let Namespace::Other(ns) = &root.namespace {
            return Err(self.error(root, &trail, XmlProblem::ForeignNamespace(ns.clone())));
        }
        if root.name != name {
            let problem = XmlProblem::UnexpectedRoot {
                expected: name.to_owned(),
                found: root.name.clone(),
            };
            return Err(self.error(root, &trail, problem));
        }
        Ok(root)
    }
}

fn located(source: &str, offset: usize, path: String, problem: XmlProblem) -> XmlError {
    let before = source.as_bytes().get(..offset).unwrap_or(source.as_bytes());
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    // Count characters, not bytes: a person's editor shows `ø` as one column.
    let column = 1 + before
        .iter()
        .skip(line_start)
        .filter(|&&b| b & 0xC0 != 0x80)
        .count();
    XmlError {
        path,
        line: u32::try_from(line).unwrap_or(u32::MAX),
        column: u32::try_from(column).unwrap_or(u32::MAX),
        offset: offset as u64,
        problem,
    }
}

fn stack_path(stack: &[Element]) -> String {
    if stack.is_empty() {
        return "/".to_owned();
    }
    stack.iter().fold(String::new(), |mut p, e| {
        p.push('/');
        p.push_str(&e.name);
        p
    })
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Read a whole document into a tree.
pub(crate) fn read(xml: &[u8]) -> Result<Document<'_>, XmlError> {
    let bytes = xml.strip_prefix(UTF8_BOM).unwrap_or(xml);
    let source = match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            let valid = bytes.get(..e.valid_up_to()).unwrap_or_default();
            // The valid prefix is UTF-8 by definition; lossy conversion never replaces here.
            let prefix = String::from_utf8_lossy(valid);
            return Err(located(
                &prefix,
                valid.len(),
                "/".to_owned(),
                XmlProblem::NotUtf8,
            ));
        }
    };
    // quick-xml does not check characters; refuse what XML 1.0 cannot carry (most control
    // characters) here, so that whatever is read can be written again.
    if let Some((offset, c)) = first_non_xml_char(source) {
        return Err(located(source, offset, "/".to_owned(), not_allowed(c)));
    }
    let mut reader = NsReader::from_str(source);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let fail = |stack: &[Element], offset: u64, problem| {
        located(
            source,
            usize::try_from(offset).unwrap_or(usize::MAX),
            stack_path(stack),
            problem,
        )
    };
    loop {
        let position = reader.buffer_position();
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => {
                return Err(fail(
                    &stack,
                    reader.error_position(),
                    XmlProblem::Syntax(e.to_string()),
                ));
            }
        };
        match event {
            Event::Start(_) | Event::Empty(_) if root.is_some() && stack.is_empty() => {
                return Err(fail(&stack, position, XmlProblem::ContentOutsideRoot));
            }
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(fail(
                        &stack,
                        position,
                        XmlProblem::TooDeep(MAX_DEPTH as u32),
                    ));
                }
                let element = element(&reader, &start, position)
                    .map_err(|problem| fail(&stack, position, problem))?;
                stack.push(element);
            }
            Event::Empty(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(fail(
                        &stack,
                        position,
                        XmlProblem::TooDeep(MAX_DEPTH as u32),
                    ));
                }
                let element = element(&reader, &start, position)
                    .map_err(|problem| fail(&stack, position, problem))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => root = Some(element),
                }
            }
            Event::End(_) => {
                // quick-xml has already matched the end tag's name against the open element.
                let Some(done) = stack.pop() else {
                    return Err(fail(
                        &stack,
                        position,
                        XmlProblem::Syntax("an end tag without a start tag".into()),
                    ));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(text) => {
                let content = text
                    .xml10_content()
                    .map_err(|e| fail(&stack, position, XmlProblem::Syntax(e.to_string())))?;
                match stack.last_mut() {
                    Some(open) => open.text.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => return Err(fail(&stack, position, XmlProblem::ContentOutsideRoot)),
                }
            }
            Event::CData(data) => {
                let content = data
                    .xml10_content()
                    .map_err(|e| fail(&stack, position, XmlProblem::Syntax(e.to_string())))?;
                match stack.last_mut() {
                    Some(open) => open.text.push_str(&content),
                    None => return Err(fail(&stack, position, XmlProblem::ContentOutsideRoot)),
                }
            }
            Event::GeneralRef(reference) => {
                let name = reference
                    .decode()
                    .map_err(|e| fail(&stack, position, XmlProblem::Syntax(e.to_string())))?;
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) if !is_xml_char(c) => {
                        return Err(fail(&stack, position, not_allowed(c)));
                    }
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => match quick_xml::escape::resolve_predefined_entity(&name) {
                        Some(s) => s.to_owned(),
                        None => {
                            return Err(fail(
                                &stack,
                                position,
                                XmlProblem::UnknownEntity(name.into_owned()),
                            ));
                        }
                    },
                    Err(e) => {
                        return Err(fail(&stack, position, XmlProblem::Syntax(e.to_string())));
                    }
                };
                match stack.last_mut() {
                    Some(open) => open.text.push_str(&resolved),
                    None => return Err(fail(&stack, position, XmlProblem::ContentOutsideRoot)),
                }
            }
            Event::DocType(_) => return Err(fail(&stack, position, XmlProblem::DtdRefused)),
            Event::Decl(decl) => {
                if let Some(Ok(encoding)) = decl.encoding() {
                    let encoding = String::from_utf8_lossy(&encoding).into_owned();
                    let e = encoding.to_ascii_lowercase();
                    if !matches!(e.as_str(), "utf-8" | "utf8" | "us-ascii" | "ascii") {
                        return Err(fail(
                            &stack,
                            position,
                            XmlProblem::UnsupportedEncoding(encoding),
                        ));
                    }
                }
            }
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        let problem = XmlProblem::Syntax("the document ends inside an element".into());
        return Err(fail(&stack, source.len() as u64, problem));
    }
    match root {
        Some(root) => Ok(Document { source, root }),
        None => Err(fail(&stack, 0, XmlProblem::NoRootElement)),
    }
}

fn element(
    reader: &NsReader<&[u8]>,
    start: &BytesStart<'_>,
    position: u64,
) -> Result<Element, XmlProblem> {
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let (resolved, local) = reader.resolve_element(start.name());
    let namespace = match resolved {
        ResolveResult::Unbound => Namespace::None,
        ResolveResult::Bound(ns) => match SchemaVersion::from_namespace(ns.as_ref()) {
            Some(v) => Namespace::Digipost(v),
            None => Namespace::Other(lossy(ns.as_ref())),
        },
        ResolveResult::Unknown(prefix) => {
            Namespace::Other(format!("undeclared prefix {}", lossy(&prefix)))
        }
    };
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| XmlProblem::Syntax(e.to_string()))?;
        if attribute.key.as_namespace_binding().is_some() {
            continue;
        }
        let value = attribute
            .decode_and_unescape_value(reader.decoder())
            .map_err(|e| match e {
                quick_xml::Error::Escape(quick_xml::escape::EscapeError::UnrecognizedEntity(
                    _,
                    name,
                )) => XmlProblem::UnknownEntity(name),
                e => XmlProblem::Syntax(e.to_string()),
            })?;
        if let Some(c) = value.chars().find(|&c| !is_xml_char(c)) {
            return Err(not_allowed(c));
        }
        attributes.push((
            lossy(attribute.key.local_name().as_ref()),
            value.into_owned(),
        ));
    }
    Ok(Element {
        name: lossy(local.as_ref()),
        namespace,
        attributes,
        children: Vec::new(),
        text: String::new(),
        offset: usize::try_from(position).unwrap_or(usize::MAX),
    })
}

/// Why a document could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// A value holds a character XML 1.0 cannot carry (most control characters).
    #[error("{field} holds the character U+{code_point:04X}, which XML 1.0 cannot carry")]
    UnrepresentableCharacter {
        /// The element or attribute holding it.
        field: String,
        /// The character's code point.
        code_point: u32,
    },
    /// A value that must be an `xs:dateTime` is not one.
    #[error("{field}: {reason}")]
    InvalidDateTime {
        /// The element holding it.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Attachments nest deeper than a reader would accept.
    #[error("attachments nest deeper than {0} levels")]
    TooDeep(u32),
}

/// The problem of a character XML 1.0 does not allow, written or referenced.
fn not_allowed(c: char) -> XmlProblem {
    XmlProblem::Syntax(format!(
        "the character U+{:04X} is not allowed in XML",
        u32::from(c)
    ))
}

/// The first character XML 1.0 does not allow, and where it is. In UTF-8 text only two kinds
/// exist: C0 controls other than tab, LF and CR (one byte below 0x20), and U+FFFE/U+FFFF
/// (EF BF BE/BF); surrogates cannot occur in a `str`. So only those bytes are looked at,
/// found a block at a time instead of decoding every character.
fn first_non_xml_char(source: &str) -> Option<(usize, char)> {
    let bytes = source.as_bytes();
    let suspect = |b: u8| ((b < 0x20) & (b != b'\t') & (b != b'\n') & (b != b'\r')) | (b == 0xEF);
    let mut from = 0;
    while let Some(found) = crate::scan::position(bytes.get(from..)?, suspect) {
        let at = from + found;
        let c = source.get(at..)?.chars().next()?;
        if !is_xml_char(c) {
            return Some((at, c));
        }
        from = at + 1;
    }
    None
}

/// Characters XML 1.0 allows in a document (the `Char` production).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Writes a document element by element into a string, escaping as it goes.
pub(crate) struct Writer {
    out: String,
    open: Vec<&'static str>,
}

impl Writer {
    /// A document starting with the XML declaration and the root element `<name>` in the
    /// namespace of `version`.
    pub fn new(root: &'static str, version: SchemaVersion) -> Writer {
        let mut out = String::with_capacity(512);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<");
        out.push_str(root);
        out.push_str(" xmlns=\"");
        out.push_str(version.namespace());
        out.push_str("\">");
        Writer {
            out,
            open: vec![root],
        }
    }

    /// How many elements are open, the root included.
    pub fn depth(&self) -> usize {
        self.open.len()
    }

    /// Open a child element.
    pub fn open(&mut self, name: &'static str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self.open.push(name);
    }

    /// Close the innermost open element.
    pub fn close(&mut self) {
        if let Some(name) = self.open.pop() {
            self.out.push_str("</");
            self.out.push_str(name);
            self.out.push('>');
        }
    }

    /// `<name>value</name>`.
    pub fn text_element(&mut self, name: &'static str, value: &str) -> Result<(), WriteError> {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self.escaped(name, value, false)?;
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        Ok(())
    }

    /// `<name>value</name>` when there is a value.
    pub fn optional_element(
        &mut self,
        name: &'static str,
        value: Option<&str>,
    ) -> Result<(), WriteError> {
        value.map_or(Ok(()), |v| self.text_element(name, v))
    }

    /// `<name a="v" .../>`; attributes whose value is `None` are left out.
    pub fn empty_element(
        &mut self,
        name: &'static str,
        attributes: &[(&'static str, Option<&str>)],
    ) -> Result<(), WriteError> {
        self.out.push('<');
        self.out.push_str(name);
        for (attribute, value) in attributes {
            if let Some(value) = value {
                self.out.push(' ');
                self.out.push_str(attribute);
                self.out.push_str("=\"");
                self.escaped(attribute, value, true)?;
                self.out.push('"');
            }
        }
        self.out.push_str("/>");
        Ok(())
    }

    fn escaped(&mut self, field: &str, value: &str, attribute: bool) -> Result<(), WriteError> {
        for c in value.chars() {
            match c {
                '<' => self.out.push_str("&lt;"),
                '>' => self.out.push_str("&gt;"),
                '&' => self.out.push_str("&amp;"),
                '"' if attribute => self.out.push_str("&quot;"),
                // A reader normalises a literal CR to LF, and whitespace in attributes to
                // spaces; references keep them as they are.
                '\r' => self.out.push_str("&#13;"),
                '\n' if attribute => self.out.push_str("&#10;"),
                '\t' if attribute => self.out.push_str("&#9;"),
                c if is_xml_char(c) => self.out.push(c),
                c => {
                    return Err(WriteError::UnrepresentableCharacter {
                        field: field.to_owned(),
                        code_point: u32::from(c),
                    });
                }
            }
        }
        Ok(())
    }

    /// The finished document, every open element closed.
    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.close();
        }
        self.out.push('\n');
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_namespaces_attributes_text_and_references() {
        let xml = "\u{FEFF}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- c --><p:a xmlns:p=\"http://api.digipost.no/schema/v8\" x=\"1&amp;2\">\
            t&lt;<![CDATA[<raw>]]>&#65;<b xmlns=\"urn:other\"/><c/></p:a>";
        let doc = read(xml.as_bytes()).unwrap();
        assert_eq!(doc.root.name, "a");
        assert_eq!(doc.root.namespace, Namespace::Digipost(SchemaVersion::V8));
        assert_eq!(doc.root.attribute("x"), Some("1&2"));
        assert_eq!(doc.root.text, "t<<raw>A");
        assert_eq!(
            doc.root.children[0].namespace,
            Namespace::Other("urn:other".into())
        );
        assert_eq!(doc.root.children[1].namespace, Namespace::None);
    }

    #[test]
    fn refuses_dtd_unknown_entities_and_depth() {
        let dtd = "<?xml version=\"1.0\"?>\n<!DOCTYPE a [<!ENTITY x \"yyyy\">]>\n<a>&x;</a>";
        let e = read(dtd.as_bytes()).unwrap_err();
        assert_eq!(e.problem, XmlProblem::DtdRefused);
        assert_eq!((e.line, e.column), (2, 1));

        let e = read(b"<a>\n  <b>&x;</b></a>").unwrap_err();
        assert_eq!(e.problem, XmlProblem::UnknownEntity("x".into()));
        assert_eq!(e.path, "/a/b");
        assert_eq!(e.line, 2);

        let e = read(b"<a b=\"&x;\"/>").unwrap_err();
        assert_eq!(e.problem, XmlProblem::UnknownEntity("x".into()));

        let deep = "<a>".repeat(MAX_DEPTH + 1);
        assert_eq!(
            read(deep.as_bytes()).unwrap_err().problem,
            XmlProblem::TooDeep(MAX_DEPTH as u32)
        );
    }

    #[test]
    fn malformed_documents_are_located() {
        let e = read(b"<a>\n<b></c></a>").unwrap_err();
        assert!(matches!(e.problem, XmlProblem::Syntax(_)), "{e}");
        assert_eq!(e.line, 2, "{e}");
        assert_eq!(read(b"").unwrap_err().problem, XmlProblem::NoRootElement);
        assert!(matches!(
            read(b"<a>").unwrap_err().problem,
            XmlProblem::Syntax(_)
        ));
        assert_eq!(
            read(b"<a/><b/>").unwrap_err().problem,
            XmlProblem::ContentOutsideRoot
        );
        assert_eq!(
            read(b"<a/>x").unwrap_err().problem,
            XmlProblem::ContentOutsideRoot
        );
        let e = read(b"<a>\n\xC3\xB8\xFF</a>").unwrap_err();
        assert_eq!(
            (e.problem, e.line, e.column, e.offset),
            (XmlProblem::NotUtf8, 2, 2, 6)
        );
        let e = read(b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>").unwrap_err();
        assert_eq!(
            e.problem,
            XmlProblem::UnsupportedEncoding("ISO-8859-1".into())
        );
    }

    #[test]
    fn writer_escapes_and_refuses_control_characters() {
        let mut w = Writer::new("r", SchemaVersion::V7);
        w.text_element("t", "a<b>&\r\n\"").unwrap();
        w.empty_element("l", &[("k", Some("\"\t\n")), ("m", None)])
            .unwrap();
        let xml = w.finish();
        let doc = read(xml.as_bytes()).unwrap();
        assert_eq!(doc.root.namespace, Namespace::Digipost(SchemaVersion::V7));
        assert_eq!(doc.root.children[0].text, "a<b>&\r\n\"");
        assert_eq!(doc.root.children[1].attribute("k"), Some("\"\t\n"));
        assert_eq!(doc.root.children[1].attribute("m"), None);
        let mut w = Writer::new("r", SchemaVersion::V8);
        assert_eq!(
            w.text_element("t", "\u{1}"),
            Err(WriteError::UnrepresentableCharacter {
                field: "t".into(),
                code_point: 1
            })
        );
    }
    #[test]
    fn reader_refuses_characters_the_writer_cannot_write() {
        // Found by fuzz/inbox_xml, fuzz/digipost_error_body and fuzz/entrypoint: documents with
        // control characters were read, and then could not be written again.
        let refused = |xml: &str| match read(xml.as_bytes()) {
            Err(XmlError {
                problem: XmlProblem::Syntax(reason),
                ..
            }) => reason,
            other => panic!("{xml:?} gave {other:?}"),
        };
        assert_eq!(
            refused("<a>\n x\u{0}</a>"),
            "the character U+0000 is not allowed in XML"
        );
        let e = read(b"<a>\n x\x12</a>").unwrap_err();
        assert_eq!((e.line, e.column), (2, 3));
        refused("<a b=\"\u{1}\"/>");
        refused("<a>&#1;</a>");
        refused("<a>&#xFFFE;</a>");
        refused("<a b=\"&#x1F;\"/>");
        refused("<a><!-- \u{7} --></a>");
        // What XML allows is still read, references to CR and TAB included.
        let doc = read("<a b=\"&#9;\">&#13;&#x10FFFF;\u{FFFD}</a>".as_bytes()).unwrap();
        assert_eq!(doc.root.text, "\r\u{10FFFF}\u{FFFD}");
        assert_eq!(doc.root.attribute("b"), Some("\t"));
    }

    proptest::proptest! {
        /// The byte-level check finds what decoding every character finds.
        #[test]
        fn non_xml_characters_found_as_by_decoding(
            text in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just('a'),
                    proptest::strategy::Just('\u{1}'),
                    proptest::strategy::Just('\u{FFFE}'),
                    proptest::strategy::Just('\u{FFFF}'),
                    proptest::strategy::Just('\u{FFFD}'),
                    proptest::strategy::Just('\u{EFFF}'),
                    proptest::char::any(),
                ],
                0..200,
            ),
        ) {
            let text: String = text.into_iter().collect();
            proptest::prop_assert_eq!(
                first_non_xml_char(&text),
                text.char_indices().find(|&(_, c)| !is_xml_char(c))
            );
        }
    }
}
