//! The streaming MeMo reader: fed chunks of any size, it returns the header as soon as it is
//! complete, then each document and file with its content decoded chunk by chunk, then a
//! summary with every problem found.
//!
//! ```text
//! bytes ─▶ Tokenizer ─▶ tokens ─▶ schema walk (order, cardinality, values) ─▶ problems
//!                                  │
//!                                  ├─ header / document parts ─▶ small tree ─▶ typed events
//!                                  └─ <content> text ─▶ base64 decoder ─▶ FileData events
//! ```
//!
//! Memory: the tokenizer holds at most one tag and one text piece; file content is decoded as
//! it passes and handed on in pieces of at most [`FILE_DATA_PIECE`] bytes; the header and each
//! document (without file contents) are kept as small trees, bounded by [`MAX_UNIT_ELEMENTS`]
//! and [`MAX_UNIT_TEXT`]. The result does not depend on where chunks are split.

use super::constants::{
    FILE_DATA_PIECE, MAX_LEAF_TEXT, MAX_PROBLEMS, MAX_UNIT_ELEMENTS, MAX_UNIT_TEXT, MEMO_NAMESPACE,
};
use super::content::Decoder;
use super::model::{
    Action, DocumentInfo, DocumentKind, FileInfo, Header, MemoVersion, MessageType,
};
use super::problem::{Code, Position, Problem, Severity};
use super::schema::{Kind, MAX_CHILDREN, Ns, Ty, Value};
use super::tokenizer::{Attribute, Stop, SyntaxError, Token, Tokenizer};
use super::tree::{self, Node};
use super::validate;
use crate::memo::model::ExtensionAttribute;

/// The XML Schema instance namespace: `xsi:schemaLocation` and `xsi:noNamespaceSchemaLocation`
/// are hints any schema-validated element may carry.
const XSI_NAMESPACE: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// What the reader hands on, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The complete header, as soon as `</MessageHeader>` is read.
    Header(Box<Header>),
    /// The body begins; its `createdDateTime` (empty when absent).
    BodyStart {
        /// `createdDateTime`.
        created_date_time: String,
    },
    /// A document begins (sent when its first file starts).
    DocumentStart(DocumentInfo),
    /// A file of the current document begins (sent when its content starts).
    FileStart(FileInfo),
    /// The next decoded bytes of the current file.
    FileData(Vec<u8>),
    /// The current file is complete.
    FileEnd {
        /// Decoded bytes in the file.
        size: u64,
    },
    /// The current document is complete; its actions follow its files in MeMo.
    DocumentEnd {
        /// The document's `Action` elements.
        actions: Vec<Action>,
    },
    /// The message is complete: the last event.
    End(Summary),
}

/// What the reader found, once the whole message is read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    /// Every problem, in document order (at most [`MAX_PROBLEMS`], then one saying how many
    /// more there were).
    pub problems: Vec<Problem>,
    /// Documents read.
    pub documents: u32,
    /// Files read.
    pub files: u32,
    /// Decoded content bytes in all files.
    pub content_bytes: u64,
}

impl Summary {
    /// Whether any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(Problem::is_error)
    }
}

/// Why reading stopped. After this the reader refuses further input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {}, column {}: {kind}", position.line, position.column)]
pub struct ReadError {
    /// Where.
    pub position: Position,
    /// What.
    pub kind: ReadErrorKind,
}

/// The kinds of [`ReadError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadErrorKind {
    /// Not well-formed XML, or XML this reader refuses (DTDs, entity declarations).
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
    /// The root element is not MeMo's `Message`.
    #[error(
        "the root element is {name:?} in namespace {namespace:?}, not a MeMo Message in namespace {MEMO_NAMESPACE:?}"
    )]
    NotMemo {
        /// The root's namespace URI.
        namespace: String,
        /// The root's local name.
        name: String,
    },
    /// Element text that is not UTF-8.
    #[error("the text of this element is not valid UTF-8")]
    InvalidUtf8,
    /// The header or a document (without file contents) is larger than this reader keeps.
    #[error(
        "{0} is larger than this reader accepts ({MAX_UNIT_ELEMENTS} elements or {MAX_UNIT_TEXT} bytes of text)"
    )]
    TooLarge(String),
    /// Input after `finish`.
    #[error("the reader has already finished this message")]
    Finished,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FrameKind {
    Complex(Ty),
    Simple(Value),
    Content,
    Skip,
}

/// Where a complex element's children stand in its sequence, so that one element out of place
/// gives one error. A child before the furthest one seen is either out of place itself, or the
/// furthest one jumped ahead; the next child decides which (see [`Machine::order`]).
#[derive(Default)]
struct Order {
    /// Highest schema index seen so far.
    furthest: usize,
    /// Where the child that set `furthest` starts.
    furthest_at: Position,
    /// `furthest` before that child arrived.
    before: usize,
    /// A child found before `furthest` but after `before`, not yet blamed.
    pending: Option<(usize, Position)>,
}

struct Frame {
    kind: FrameKind,
    path_len: usize,
    position: Position,
    /// Occurrences of each child of a complex element, by schema index.
    counts: [u32; MAX_CHILDREN],
    order: Order,
    text: Vec<u8>,
    chars: usize,
    truncated: bool,
    text_reported: bool,
    /// A node for this element is on the unit stack.
    node: bool,
}

#[derive(Default)]
struct Machine {
    version: MemoVersion,
    sch_version: Option<String>,
    frames: Vec<Frame>,
    path: String,
    /// The tree of the part being read, innermost element last.
    units: Vec<Node>,
    unit_elements: usize,
    unit_text: usize,
    problems: Vec<Problem>,
    problems_dropped: u64,
    events: Vec<Event>,
    pending: Vec<u8>,
    decoder: Option<Decoder>,
    file_size: u64,
    body_started: bool,
    document_announced: bool,
    file_announced: bool,
    nemsms: bool,
    documents: u32,
    files: u32,
    content_bytes: u64,
    error: Option<ReadError>,
}

/// The streaming reader. Feed it chunks; collect the events.
pub struct Reader {
    tokenizer: Tokenizer,
    machine: Machine,
    failed: Option<ReadError>,
    finished: bool,
}

impl Default for Reader {
    fn default() -> Self {
        Self::new()
    }
}

impl Reader {
    /// A reader at the start of a message.
    pub fn new() -> Self {
        Reader {
            tokenizer: Tokenizer::new(),
            machine: Machine::default(),
            failed: None,
            finished: false,
        }
    }

    /// Reads the next chunk (any size, split anywhere) and returns the events it completes.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Event>, ReadError> {
        self.check()?;
        let machine = &mut self.machine;
        let r = self.tokenizer.feed(chunk, &mut |t| machine.token(t));
        self.after(r)?;
        self.machine.flush_data();
        Ok(std::mem::take(&mut self.machine.events))
    }

    /// Ends the input. Returns the last events, ending with [`Event::End`].
    pub fn finish(&mut self) -> Result<Vec<Event>, ReadError> {
        self.check()?;
        let machine = &mut self.machine;
        let r = self.tokenizer.finish(&mut |t| machine.token(t));
        self.after(r)?;
        self.finished = true;
        self.machine.flush_data();
        let summary = self.machine.summary();
        self.machine.events.push(Event::End(summary));
        Ok(std::mem::take(&mut self.machine.events))
    }

    /// Problems found so far.
    pub fn problems(&self) -> &[Problem] {
        &self.machine.problems
    }

    /// Bytes the reader holds between calls outside the header/document trees: the
    /// tokenizer's buffers, element text being collected and decoded bytes not yet handed on.
    /// Stays under [`super::constants::READER_BUFFER_CAP`] whatever the input.
    pub fn buffered(&self) -> usize {
        self.tokenizer.buffered()
            + self.machine.pending.len()
            + self
                .machine
                .frames
                .iter()
                .map(|f| f.text.len())
                .sum::<usize>()
    }

    fn check(&self) -> Result<(), ReadError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.finished {
            return Err(ReadError {
                position: Position::default(),
                kind: ReadErrorKind::Finished,
            });
        }
        Ok(())
    }

    fn after(&mut self, r: Result<(), Stop>) -> Result<(), ReadError> {
        let e = match r {
            Ok(()) => return Ok(()),
            Err(Stop::Syntax(position, e)) => ReadError {
                position,
                kind: ReadErrorKind::Syntax(e),
            },
            Err(Stop::Consumer) => self.machine.error.take().unwrap_or(ReadError {
                position: Position::default(),
                kind: ReadErrorKind::Finished,
            }),
        };
        self.failed = Some(e.clone());
        Err(e)
    }
}

fn document_kind(ty: Ty) -> Option<DocumentKind> {
    match ty {
        Ty::MainDocument => Some(DocumentKind::Main),
        Ty::AdditionalDocument => Some(DocumentKind::Additional),
        Ty::TechnicalDocument => Some(DocumentKind::Technical),
        _ => None,
    }
}

/// Where the text after `blank` (white space only) starts, given where `blank` starts.
fn text_position(at: Position, blank: &[u8]) -> Position {
    blank.iter().fold(at, |p, &b| match b {
        b'\n' => Position {
            line: p.line.saturating_add(1),
            column: 1,
        },
        _ => Position {
            line: p.line,
            column: p.column.saturating_add(1),
        },
    })
}

fn node_size(node: &Node) -> (usize, usize) {
    node.children
        .iter()
        .fold((1, node.text.len()), |(e, t), c| {
            let (ce, ct) = node_size(c);
            (e + ce, t + ct)
        })
}

impl Machine {
    fn fatal(&mut self, position: Position, kind: ReadErrorKind) -> Result<(), Stop> {
        self.error = Some(ReadError { position, kind });
        Err(Stop::Consumer)
    }

    fn report(
        &mut self,
        severity: Severity,
        code: Code,
        path: String,
        position: Position,
        message: String,
    ) {
        if self.problems.len() >= MAX_PROBLEMS {
            self.problems_dropped += 1;
            return;
        }
        self.problems.push(Problem {
            severity,
            code,
            path,
            position,
            message,
        });
    }

    fn report_here(&mut self, severity: Severity, code: Code, position: Position, message: String) {
        let path = self.path.clone();
        self.report(severity, code, path, position, message);
    }

    fn summary(&mut self) -> Summary {
        let mut problems = std::mem::take(&mut self.problems);
        if self.problems_dropped > 0 {
            problems.push(Problem {
                severity: Severity::Warning,
                code: Code::TooManyProblems,
                path: String::new(),
                position: Position::default(),
                message: format!(
                    "{} more problems were found but not listed",
                    self.problems_dropped
                ),
            });
        }
        Summary {
            problems,
            documents: self.documents,
            files: self.files,
            content_bytes: self.content_bytes,
        }
    }

    fn flush_data(&mut self) {
        if !self.pending.is_empty() {
            self.events
                .push(Event::FileData(std::mem::take(&mut self.pending)));
        }
    }

    fn token(&mut self, token: Token<'_>) -> Result<(), Stop> {
        match token {
            Token::Start {
                namespace,
                local,
                attributes,
                position,
            } => self.start(namespace, local, attributes, position),
            Token::End { .. } => self.end(),
            Token::Text(text, at) => self.text(text, at),
        }
    }

    fn push_frame(&mut self, kind: FrameKind, local: &str, position: Position, node: bool) {
        let path_len = self.path.len();
        self.path.push('/');
        self.path.push_str(local);
        self.frames.push(Frame {
            kind,
            path_len,
            position,
            counts: [0; MAX_CHILDREN],
            order: Order::default(),
            text: Vec::new(),
            chars: 0,
            truncated: false,
            text_reported: false,
            node,
        });
    }

    fn push_node(&mut self, node: Node) -> Result<(), Stop> {
        self.unit_elements += 1;
        if self.unit_elements > MAX_UNIT_ELEMENTS {
            let what = self
                .units
                .first()
                .map(|n| n.name.clone())
                .unwrap_or_else(|| node.name.clone());
            return self.fatal(node.position, ReadErrorKind::TooLarge(what));
        }
        self.units.push(node);
        Ok(())
    }

    fn start(
        &mut self,
        namespace: &str,
        local: &str,
        attributes: &[Attribute],
        position: Position,
    ) -> Result<(), Stop> {
        let Some(parent) = self.frames.last() else {
            return self.root(namespace, local, attributes, position);
        };
        match parent.kind {
            FrameKind::Skip => {
                self.push_frame(FrameKind::Skip, local, position, false);
                Ok(())
            }
            FrameKind::Simple(_) | FrameKind::Content => {
                self.push_frame(FrameKind::Skip, local, position, false);
                self.report_here(
                    Severity::Error,
                    Code::UnexpectedChild,
                    position,
                    format!("<{local}> is inside an element that holds a value, not elements; it is ignored"),
                );
                Ok(())
            }
            FrameKind::Complex(ty) => self.child(ty, namespace, local, attributes, position),
        }
    }

    fn root(
        &mut self,
        namespace: &str,
        local: &str,
        attributes: &[Attribute],
        position: Position,
    ) -> Result<(), Stop> {
        if namespace != MEMO_NAMESPACE || local != "Message" {
            let kind = ReadErrorKind::NotMemo {
                namespace: namespace.to_string(),
                name: local.to_string(),
            };
            return self.fatal(position, kind);
        }
        self.push_frame(FrameKind::Complex(Ty::Message), local, position, false);
        let attr = |name: &str| {
            attributes
                .iter()
                .find(|a| a.namespace.is_empty() && a.local == name)
        };
        self.sch_version = attr("memoSchVersion").map(|a| a.value.clone());
        self.attributes(attributes, &["memoVersion", "memoSchVersion"], position);
        match attr("memoVersion").map(|a| a.value.trim()) {
            Some("1.1") => self.version = MemoVersion::V1_1,
            Some("1.2") => self.version = MemoVersion::V1_2,
            Some(other) => {
                let message = format!(
                    "memoVersion {other:?} is not supported; this reader knows 1.1 and 1.2 and reads it as 1.2"
                );
                self.report_here(Severity::Error, Code::UnsupportedVersion, position, message);
            }
            None => {
                let message =
                    "the Message has no memoVersion attribute (1.1 or 1.2); it is read as 1.2"
                        .to_string();
                self.report_here(Severity::Error, Code::MissingVersion, position, message);
            }
        }
        match &self.sch_version {
            None if self.version == MemoVersion::V1_1 => {
                let message =
                    "a MeMo 1.1 Message needs the memoSchVersion attribute (memoSchVersion=\"1.1.0\")"
                        .to_string();
                self.report_here(Severity::Error, Code::MissingAttribute, position, message);
            }
            Some(v) if v.chars().count() > super::constants::MAX_STRING => {
                let message = format!(
                    "memoSchVersion has {} characters; at most {} are allowed",
                    v.chars().count(),
                    super::constants::MAX_STRING
                );
                self.report_here(Severity::Error, Code::TooLong, position, message);
            }
            _ => {}
        }
        Ok(())
    }

    /// Reports every attribute the schema does not declare on the element at the current
    /// path. MeMo declares attributes only on `Message`; `xsi:schemaLocation` hints are
    /// allowed anywhere.
    fn attributes(&mut self, attributes: &[Attribute], declared: &[&str], position: Position) {
        for a in attributes {
            let known = if a.namespace.is_empty() {
                declared.contains(&a.local.as_str())
            } else {
                a.namespace == XSI_NAMESPACE
                    && matches!(
                        a.local.as_str(),
                        "schemaLocation" | "noNamespaceSchemaLocation"
                    )
            };
            if !known {
                let name = if a.namespace.is_empty() {
                    a.local.clone()
                } else {
                    format!("{{{}}}{}", a.namespace, a.local)
                };
                let message = format!(
                    "the attribute {name:?} is not defined on this element; the schema allows none here"
                );
                self.report_here(Severity::Error, Code::UnknownAttribute, position, message);
            }
        }
    }

    fn child(
        &mut self,
        ty: Ty,
        namespace: &str,
        local: &str,
        attributes: &[Attribute],
        position: Position,
    ) -> Result<(), Stop> {
        let ns = Ns::of(namespace);
        let Some((index, child)) = ns.and_then(|ns| ty.child(ns, local)) else {
            self.push_frame(FrameKind::Skip, local, position, false);
            let (code, message) = if ns == Some(Ns::Memo) {
                (
                    Code::UnknownElement,
                    format!("<{local}> is not a MeMo element inside this element; it is ignored"),
                )
            } else {
                (
                    Code::ForeignElement,
                    format!(
                        "<{local}> from namespace {namespace:?} is not allowed here; it is ignored"
                    ),
                )
            };
            self.report_here(Severity::Error, code, position, message);
            return Ok(());
        };
        let version = self.version;
        let Some(parent) = self.frames.last_mut() else {
            return Ok(());
        };
        let count = match parent.counts.get_mut(index) {
            Some(c) => {
                *c = c.saturating_add(1);
                *c
            }
            None => 1,
        };
        self.order(ty, index, position);
        let kind = match child.kind {
            Kind::Complex(t) => FrameKind::Complex(t),
            Kind::Simple(v) => FrameKind::Simple(v),
            Kind::Content => FrameKind::Content,
        };
        let in_unit = !self.units.is_empty() || matches!(ty, Ty::Body) || local == "MessageHeader";
        let node = in_unit && kind != FrameKind::Content;
        self.push_frame(kind, local, position, node);
        self.attributes(attributes, &[], position);
        if child.since_1_2 && version == MemoVersion::V1_1 {
            let message = format!("<{local}> exists from MeMo 1.2; this message is MeMo 1.1");
            self.report_here(Severity::Error, Code::NotInVersion, position, message);
        }
        if count > child.max {
            let message = format!(
                "<{local}> appears {count} times here; at most {} are allowed",
                child.max
            );
            self.report_here(Severity::Error, Code::TooMany, position, message);
        }
        if ty == Ty::File && kind == FrameKind::Content {
            self.content_start();
        }
        if kind == FrameKind::Complex(Ty::File) {
            self.announce_document();
        }
        if node {
            let memo = child.ns == Ns::Memo;
            self.push_node(Node {
                memo,
                namespace: if memo {
                    String::new()
                } else {
                    namespace.to_string()
                },
                name: local.to_string(),
                attributes: if memo {
                    Vec::new()
                } else {
                    attributes
                        .iter()
                        .map(|a| ExtensionAttribute {
                            namespace: a.namespace.clone(),
                            name: a.local.clone(),
                            value: a.value.clone(),
                        })
                        .collect()
                },
                position,
                ..Node::default()
            })?;
        }
        Ok(())
    }

    /// Checks a child's place in its parent's sequence (the parent is the innermost frame, the
    /// current path its path). One element out of place gives one error: a child found before
    /// the furthest one seen is held until the next child shows whether it is the one out of
    /// place (the next child continues after the furthest) or the furthest jumped ahead (the
    /// next child also comes before it).
    fn order(&mut self, ty: Ty, index: usize, position: Position) {
        let Some(parent) = self.frames.last_mut() else {
            return;
        };
        let o = &mut parent.order;
        let mut blame = None;
        if let Some((x, x_at)) = o.pending.take() {
            if index >= o.furthest {
                blame = Some((x, x_at, o.furthest, true));
            } else {
                blame = Some((o.furthest, o.furthest_at, x, false));
                o.furthest = x;
                o.furthest_at = x_at;
            }
        }
        if index >= o.furthest {
            if index > o.furthest {
                o.before = o.furthest;
                o.furthest = index;
                o.furthest_at = position;
            }
        } else if index >= o.before && blame.is_none() {
            o.pending = Some((index, position));
        } else {
            let late = (index, position, o.furthest, true);
            if let Some(b) = blame.take() {
                self.out_of_order(ty, b);
            }
            blame = Some(late);
        }
        if let Some(b) = blame {
            self.out_of_order(ty, b);
        }
    }

    /// Reports one child of `ty` out of place: `(child, where, other, early)` is a child that
    /// must come before `other` when `early`, or one that comes too early, before `other`.
    fn out_of_order(&mut self, ty: Ty, (child, at, other, early): (usize, Position, usize, bool)) {
        let name = |i: usize| ty.children().get(i).map(|c| c.name).unwrap_or("");
        let (a, b) = (name(child), name(other));
        let message = if early {
            format!("<{a}> must come before <{b}>")
        } else {
            format!("<{a}> comes too early: it must come after <{b}>")
        };
        let path = format!("{}/{a}", self.path);
        self.report(Severity::Error, Code::OutOfOrder, path, at, message);
    }

    fn announce_body(&mut self) {
        if !self.body_started {
            self.body_started = true;
            self.events.push(Event::BodyStart {
                created_date_time: String::new(),
            });
        }
    }

    /// Sends `DocumentStart` for the document being read, once.
    fn announce_document(&mut self) {
        if self.document_announced {
            return;
        }
        let Some(doc) = self.units.first() else {
            return;
        };
        let Some(kind) = self.frames.iter().find_map(|f| match f.kind {
            FrameKind::Complex(t) => document_kind(t),
            _ => None,
        }) else {
            return;
        };
        let info = tree::document_info(doc, kind);
        self.announce_body();
        self.document_announced = true;
        self.events.push(Event::DocumentStart(info));
    }

    fn content_start(&mut self) {
        self.decoder = Some(Decoder::new());
        if !self.file_announced {
            self.file_announced = true;
            let info = self.units.last().map(tree::file_info).unwrap_or_default();
            self.events.push(Event::FileStart(info));
        }
    }

    fn text(&mut self, text: &[u8], at: Position) -> Result<(), Stop> {
        let Some(frame) = self.frames.last_mut() else {
            return Ok(());
        };
        match frame.kind {
            FrameKind::Skip => {}
            FrameKind::Content => {
                if let Some(decoder) = self.decoder.as_mut() {
                    decoder.push(text, &mut self.pending);
                    if self.pending.len() >= FILE_DATA_PIECE {
                        self.flush_data();
                    }
                }
            }
            FrameKind::Simple(_) => {
                frame.chars += text.iter().filter(|&&b| b & 0xC0 != 0x80).count();
                let room = MAX_LEAF_TEXT.saturating_sub(frame.text.len());
                if text.len() > room {
                    frame.truncated = true;
                }
                frame
                    .text
                    .extend_from_slice(text.get(..room.min(text.len())).unwrap_or_default());
            }
            FrameKind::Complex(_) => {
                let stray = text
                    .iter()
                    .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
                if let (false, Some(offset)) = (frame.text_reported, stray) {
                    frame.text_reported = true;
                    let position = text_position(at, text.get(..offset).unwrap_or_default());
                    self.report_here(
                        Severity::Error,
                        Code::UnexpectedText,
                        position,
                        "this element holds elements, not text; the text is ignored".into(),
                    );
                }
            }
        }
        Ok(())
    }

    fn take_text(&mut self, frame: &mut Frame) -> Result<String, Stop> {
        let bytes = std::mem::take(&mut frame.text);
        match String::from_utf8(bytes) {
            Ok(s) => Ok(s),
            Err(e) if frame.truncated && e.utf8_error().error_len().is_none() => {
                let valid = e.utf8_error().valid_up_to();
                let mut bytes = e.into_bytes();
                bytes.truncate(valid);
                Ok(String::from_utf8(bytes).unwrap_or_default())
            }
            Err(_) => {
                self.fatal(frame.position, ReadErrorKind::InvalidUtf8)?;
                Ok(String::new())
            }
        }
    }

    fn end(&mut self) -> Result<(), Stop> {
        let Some(mut frame) = self.frames.pop() else {
            return Ok(());
        };
        let result = self.end_frame(&mut frame);
        self.path.truncate(frame.path_len);
        result
    }

    fn end_frame(&mut self, frame: &mut Frame) -> Result<(), Stop> {
        match frame.kind {
            FrameKind::Skip => Ok(()),
            FrameKind::Content => {
                self.content_end(frame.position);
                Ok(())
            }
            FrameKind::Simple(value) => {
                let text = self.take_text(frame)?;
                let stored = if validate::is_token(value) {
                    text.trim().to_string()
                } else {
                    text
                };
                if let Some(f) = validate::value(value, &stored, frame.chars, self.version) {
                    self.report_here(f.severity, f.code, frame.position, f.message);
                }
                if frame.node {
                    self.unit_text += stored.len();
                    if let Some(node) = self.units.last_mut() {
                        node.text = stored;
                    }
                    self.close_node(None)?;
                }
                Ok(())
            }
            FrameKind::Complex(ty) => self.complex_end(ty, frame),
        }
    }

    fn content_end(&mut self, position: Position) {
        let Some(mut decoder) = self.decoder.take() else {
            return;
        };
        match decoder.finish() {
            Err(message) => {
                self.report_here(
                    Severity::Error,
                    Code::InvalidBase64,
                    position,
                    format!("the content is not valid base64: {message}"),
                );
            }
            Ok(0) => {
                self.report_here(
                    Severity::Error,
                    Code::EmptyFile,
                    position,
                    "the file is empty; NgDP refuses empty files".into(),
                );
            }
            Ok(_) => {}
        }
        self.file_size += decoder.decoded;
        self.content_bytes += decoder.decoded;
        self.flush_data();
    }

    fn complex_end(&mut self, ty: Ty, frame: &mut Frame) -> Result<(), Stop> {
        if let Some((x, at)) = frame.order.pending.take() {
            // Nothing followed the child found early: it is the one out of place.
            self.out_of_order(ty, (x, at, frame.order.furthest, true));
        }
        for (child, count) in ty.children().iter().zip(frame.counts.iter()) {
            let min = child.min_count(self.version);
            if *count < min {
                let path = format!("{}/{}", self.path, child.name);
                let why = if child.min == super::schema::Min::RequiredIn11 {
                    " in MeMo 1.1"
                } else {
                    ""
                };
                let message = format!("<{}> is required here{why} but missing", child.name);
                self.report(
                    Severity::Error,
                    Code::MissingElement,
                    path,
                    frame.position,
                    message,
                );
            }
        }
        match ty {
            Ty::Message => {
                let has_body = frame.counts.get(1).copied().unwrap_or(0) > 0;
                if !self.nemsms && !has_body {
                    let message =
                        "a DIGITALPOST message needs a MessageBody with a MainDocument".to_string();
                    self.report(
                        Severity::Error,
                        Code::BodyRequired,
                        "/Message/MessageBody".into(),
                        frame.position,
                        message,
                    );
                }
                return Ok(());
            }
            Ty::Body => {
                self.announce_body();
                return Ok(());
            }
            Ty::File => {
                if !self.file_announced {
                    let info = self.units.last().map(tree::file_info).unwrap_or_default();
                    self.events.push(Event::FileStart(info));
                }
                self.events.push(Event::FileEnd {
                    size: std::mem::take(&mut self.file_size),
                });
                self.file_announced = false;
                self.files += 1;
            }
            _ => {}
        }
        if !frame.node {
            return Ok(());
        }
        if let Some(node) = self.units.last() {
            for f in validate::element(ty, node) {
                let (path, position) = match f.child {
                    Some((name, pos)) => (format!("{}/{name}", self.path), pos),
                    None => (self.path.clone(), frame.position),
                };
                self.report(f.severity, f.code, path, position, f.message);
            }
        }
        self.close_node(Some(ty))
    }

    /// Pops the innermost node and attaches it to its parent, or completes the part.
    fn close_node(&mut self, ty: Option<Ty>) -> Result<(), Stop> {
        let Some(node) = self.units.pop() else {
            return Ok(());
        };
        if self.unit_text > MAX_UNIT_TEXT {
            let what = self
                .units
                .first()
                .map(|n| n.name.clone())
                .unwrap_or_else(|| node.name.clone());
            return self.fatal(node.position, ReadErrorKind::TooLarge(what));
        }
        if ty == Some(Ty::File) {
            // The file has been handed on; its description is not needed for the document.
            let (elements, text) = node_size(&node);
            self.unit_elements = self.unit_elements.saturating_sub(elements);
            self.unit_text = self.unit_text.saturating_sub(text);
            return Ok(());
        }
        if let Some(parent) = self.units.last_mut() {
            parent.children.push(node);
            return Ok(());
        }
        self.unit_elements = 0;
        self.unit_text = 0;
        match ty {
            Some(Ty::Header) => {
                let header = tree::header(&node, self.version, self.sch_version.clone());
                self.nemsms = header.message_type == MessageType::Nemsms;
                self.events.push(Event::Header(Box::new(header)));
            }
            Some(t) if document_kind(t).is_some() => {
                self.announce_document();
                if !self.document_announced
                    && let Some(kind) = document_kind(t)
                {
                    self.announce_body();
                    self.events
                        .push(Event::DocumentStart(tree::document_info(&node, kind)));
                }
                self.document_announced = false;
                self.documents += 1;
                self.events.push(Event::DocumentEnd {
                    actions: tree::actions(&node),
                });
            }
            _ if node.name == "createdDateTime" && !self.body_started => {
                self.body_started = true;
                self.events.push(Event::BodyStart {
                    created_date_time: node.text,
                });
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"<?xml version="1.0"?>
<m:Message xmlns:m="https://DigitalPost.dk/MeMo-1" memoVersion="1.2">
 <m:MessageHeader>
  <m:messageType>DIGITALPOST</m:messageType>
  <m:messageUUID>8c2ea15d-61fb-4ba9-9366-42f8b194c114</m:messageUUID>
  <m:label>Hej</m:label>
  <m:Sender><m:senderID>12345678</m:senderID><m:idType>CVR</m:idType><m:label>K</m:label></m:Sender>
  <m:Recipient><m:recipientID>2211771212</m:recipientID><m:idType>CPR</m:idType></m:Recipient>
 </m:MessageHeader>
 <m:MessageBody>
  <m:createdDateTime>2024-05-03T12:00:00Z</m:createdDateTime>
  <m:MainDocument><m:File><m:encodingFormat>text/plain</m:encodingFormat><m:filename>a.txt</m:filename>
   <m:language>da</m:language><m:content>aGVq</m:content></m:File></m:MainDocument>
 </m:MessageBody>
</m:Message>"#;

    fn events(doc: &[u8], chunk: usize) -> Result<Vec<Event>, ReadError> {
        let mut r = Reader::new();
        let mut out = Vec::new();
        for c in doc.chunks(chunk.max(1)) {
            out.extend(r.feed(c)?);
        }
        out.extend(r.finish()?);
        Ok(out)
    }

    #[test]
    fn events_come_in_document_order() {
        let ev = events(MINIMAL.as_bytes(), 1 << 20).unwrap();
        let names: Vec<&str> = ev
            .iter()
            .map(|e| match e {
                Event::Header(_) => "header",
                Event::BodyStart { .. } => "body",
                Event::DocumentStart(_) => "doc",
                Event::FileStart(_) => "file",
                Event::FileData(_) => "data",
                Event::FileEnd { .. } => "file-end",
                Event::DocumentEnd { .. } => "doc-end",
                Event::End(_) => "end",
            })
            .collect();
        assert_eq!(
            names,
            [
                "header", "body", "doc", "file", "data", "file-end", "doc-end", "end"
            ]
        );
        let Some(Event::End(summary)) = ev.last() else {
            panic!()
        };
        assert!(summary.problems.is_empty(), "{:?}", summary.problems);
        assert_eq!(
            (summary.documents, summary.files, summary.content_bytes),
            (1, 1, 3)
        );
    }

    #[test]
    fn header_arrives_before_the_body_is_read() {
        let mut r = Reader::new();
        let cut = MINIMAL.find("<m:MessageBody>").unwrap();
        let ev = r.feed(&MINIMAL.as_bytes()[..cut]).unwrap();
        assert!(matches!(ev.as_slice(), [Event::Header(h)] if h.label == "Hej"));
    }

    #[test]
    fn refuses_input_after_an_error_or_finish() {
        let mut r = Reader::new();
        assert!(r.feed(b"<x/>").is_err());
        assert!(r.feed(b"more").is_err());
        let mut r = Reader::new();
        r.feed(MINIMAL.as_bytes()).unwrap();
        r.finish().unwrap();
        assert_eq!(r.feed(b"").unwrap_err().kind, ReadErrorKind::Finished);
    }

    #[test]
    fn one_byte_chunks_equal_one_chunk() {
        let whole = events(MINIMAL.as_bytes(), 1 << 20).unwrap();
        let tiny = events(MINIMAL.as_bytes(), 1).unwrap();
        let merge = |ev: Vec<Event>| {
            let mut out: Vec<Event> = Vec::new();
            for e in ev {
                match (out.last_mut(), e) {
                    (Some(Event::FileData(a)), Event::FileData(b)) => a.extend(b),
                    (_, e) => out.push(e),
                }
            }
            out
        };
        assert_eq!(merge(whole), merge(tiny));
    }

    /// The error and the problems found before it, as `validate` reports them, reading in
    /// chunks of `chunk` bytes.
    fn failure(doc: &[u8], chunk: usize) -> (ReadError, Vec<Problem>) {
        let mut r = Reader::new();
        let e = doc
            .chunks(chunk.max(1))
            .try_for_each(|c| r.feed(c).map(drop))
            .and_then(|()| r.finish().map(drop))
            .unwrap_err();
        (e, r.problems().to_vec())
    }

    #[test]
    fn text_outside_the_root_fails_where_it_stands_whatever_the_chunks() {
        // Found by fuzz/memo_reader: the error was placed where the text was handed on, which
        // is at a chunk boundary when there is one.
        let after = format!("<m:Message xmlns:m=\"{MEMO_NAMESPACE}\"/>\n  &amp;\n");
        for doc in [
            &b"\n\xff\n"[..],
            b"<?xml version=\"1.0\"?>\n x \n<r/>",
            after.as_bytes(),
        ] {
            let whole = failure(doc, 1 << 20);
            assert!(
                matches!(
                    whole.0.kind,
                    ReadErrorKind::Syntax(SyntaxError::TextOutsideRoot)
                ),
                "{whole:?}"
            );
            assert_eq!(failure(doc, 1), whole, "{doc:?}");
        }
        assert_eq!(
            failure(b"\n\xff\n", 1 << 20).0.position,
            Position { line: 2, column: 1 }
        );
    }

    #[test]
    fn problems_before_a_syntax_error_do_not_depend_on_chunks() {
        // Found by fuzz/memo_reader: text in an element that holds only elements was reported
        // when a chunk boundary handed it on before the syntax error, and not otherwise.
        let doc = format!("<m:Message xmlns:m=\"{MEMO_NAMESPACE}\">text\0</m:Message>");
        let whole = failure(doc.as_bytes(), 1 << 20);
        assert!(
            whole.1.iter().any(|p| p.code == Code::UnexpectedText),
            "{whole:?}"
        );
        assert_eq!(failure(doc.as_bytes(), 1), whole);
        let doc = format!("<m:Message xmlns:m=\"{MEMO_NAMESPACE}\">text&bogus;</m:Message>");
        assert_eq!(failure(doc.as_bytes(), 1), failure(doc.as_bytes(), 1 << 20));
    }
}
