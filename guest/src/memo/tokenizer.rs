//! An incremental XML tokenizer: fed chunks of any size, it hands on start tags, end tags and
//! text pieces with namespaces resolved.
//!
//! Why purpose-built rather than quick-xml: quick-xml reads from a `BufRead` and yields each
//! text node whole, so a 100 MB base64 `<content>` would be buffered whole, and a chunk
//! boundary cannot be suspended in the middle of an event. Here the state is a small enum, so
//! a chunk may end anywhere (inside a tag, an entity, a UTF-8 sequence, `]]>`), text leaves in
//! pieces of at most [`TEXT_PIECE`] bytes, and what is buffered is bounded by [`MAX_MARKUP`].
//!
//! It reads UTF-8 and UTF-16 (see [`super::encoding`]: UTF-16 is decoded to UTF-8 before the
//! state machine, so the machine itself reads UTF-8 only). It accepts a byte-order mark,
//! comments, processing instructions and CDATA, and refuses any `<!DOCTYPE` or `<!ENTITY`: only the five predefined entities and character
//! references are expanded, so entity expansion attacks cannot happen.

use super::constants::{MAX_DEPTH, MAX_MARKUP, TEXT_PIECE};
use super::encoding::{Detected, Input, Utf16Error, is_unicode_name};
use super::problem::Position;

/// The namespace of the `xml:` prefix, bound by definition.
const XML_NAMESPACE: &str = "http://www.w3.org/XML/1998/namespace";

/// An attribute with its namespace resolved (namespace declarations are not attributes here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Namespace URI; empty for an unprefixed attribute.
    pub namespace: String,
    /// Local name.
    pub local: String,
    /// Value with references expanded.
    pub value: String,
}

/// What the tokenizer hands on.
#[derive(Debug, PartialEq, Eq)]
pub enum Token<'a> {
    /// A start tag. An empty-element tag gives `Start` then `End`.
    Start {
        /// Namespace URI; empty when none.
        namespace: &'a str,
        /// Local name.
        local: &'a str,
        /// Attributes.
        attributes: &'a [Attribute],
        /// Where the `<` is.
        position: Position,
    },
    /// An end tag.
    End {
        /// Namespace URI.
        namespace: &'a str,
        /// Local name.
        local: &'a str,
    },
    /// A piece of character data, references expanded and line ends normalised, and where it
    /// starts (for a piece that starts with a reference or CDATA section: where that starts),
    /// so that stray text is reported where it stands. A piece may end in the middle of a
    /// UTF-8 sequence; the next piece continues it.
    Text(&'a [u8], Position),
}

/// A fatal error: the input is not XML this reader accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    /// A document type declaration.
    #[error("a document type declaration (<!DOCTYPE) is not accepted in a MeMo message")]
    Dtd,
    /// An entity or other markup declaration.
    #[error("markup declarations such as <!ENTITY are not accepted in a MeMo message")]
    Declaration,
    /// A reference to an entity other than the five predefined ones.
    #[error(
        "the entity reference &{0}; is not defined (only &lt; &gt; &amp; &apos; &quot; and character references are)"
    )]
    UndefinedEntity(String),
    /// A character reference to no XML character.
    #[error("the character reference &{0}; does not name a character allowed in XML")]
    BadCharacterReference(String),
    /// A byte that is not allowed where it appears.
    #[error("{0}")]
    Malformed(String),
    /// An end tag that does not match the open element.
    #[error("the end tag </{found}> does not match the open element <{expected}>")]
    MismatchedEndTag {
        /// The open element's name.
        expected: String,
        /// The end tag's name.
        found: String,
    },
    /// A prefix without a namespace declaration.
    #[error("the namespace prefix {0:?} is not declared")]
    UndeclaredPrefix(String),
    /// An attribute given twice.
    #[error("the attribute {0:?} appears twice")]
    DuplicateAttribute(String),
    /// Bytes that are not UTF-8 in markup.
    #[error("the markup is not valid UTF-8")]
    InvalidUtf8,
    /// An encoding other than UTF-8 or UTF-16, declared or recognised from the first bytes.
    #[error(
        "the encoding {0:?} is not supported: a MeMo message is UTF-8 (UTF-16 is read too); convert it to UTF-8"
    )]
    UnsupportedEncoding(String),
    /// An XML declaration naming another encoding than the one the bytes are in.
    #[error("the XML declaration says encoding {declared:?}, but the document is {read}")]
    EncodingMismatch {
        /// What the declaration says.
        declared: String,
        /// What the bytes are.
        read: &'static str,
    },
    /// UTF-16 input that does not decode.
    #[error("the document is not valid UTF-16: {0}")]
    InvalidUtf16(Utf16Error),
    /// A tag or declaration longer than this reader buffers.
    #[error("a tag or declaration is longer than {MAX_MARKUP} bytes")]
    MarkupTooLong,
    /// Elements nested too deep.
    #[error("elements are nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// Text outside the root element.
    #[error("text is not allowed outside the root element")]
    TextOutsideRoot,
    /// A second root element.
    #[error("there is more than one root element")]
    SecondRoot,
    /// The input ended early.
    #[error("the input ended {0}")]
    UnexpectedEnd(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before anything: a byte-order mark may come; `usize` bytes of it matched.
    Bom(usize),
    Text,
    /// After `&` in text.
    Reference,
    /// After `<`.
    MarkupOpen,
    /// Inside a start tag; the quote byte when inside an attribute value.
    StartTag(Option<u8>),
    EndTag,
    /// Inside `<? ... ?>`; true after a `?`.
    Pi(bool),
    /// After `<!`, deciding between comment, CDATA and declarations.
    Bang,
    /// Inside a comment; how many `-` just passed.
    Comment(u8),
    /// Inside CDATA; how many `]` just passed.
    CData(u8),
}

struct Open {
    /// Qualified name as written, for matching the end tag.
    qname: String,
    /// Namespace bindings in force before this element.
    bindings: usize,
}

/// The tokenizer's state between chunks.
pub struct Tokenizer {
    state: State,
    /// Markup or reference being collected.
    markup: Vec<u8>,
    /// Text piece being collected.
    text: Vec<u8>,
    /// Where the text piece being collected starts.
    text_at: Position,
    line: u32,
    column: u32,
    /// Where the current markup's `<` is.
    mark: Position,
    /// The previous byte was a CR turned into LF; a following LF is dropped.
    after_cr: bool,
    open: Vec<Open>,
    /// (prefix, namespace) bindings; `""` prefix is the default namespace.
    bindings: Vec<(String, String)>,
    root_seen: bool,
    /// Reused for the attributes of each start tag.
    attributes: Vec<Attribute>,
    /// Bytes seen before anything else, for the XML declaration check.
    first_markup: bool,
    /// The input's encoding, and the UTF-16 decoder's state.
    input: Input,
    /// Reused for UTF-16 input decoded to UTF-8; empty between calls.
    decoded: Vec<u8>,
}

impl Default for Tokenizer {
    fn default() -> Self {
        Self::new()
    }
}

/// A byte that ends a run of character data: markup, a reference, a CR to normalise, or a
/// control character XML forbids. Branch-free, so that [`crate::scan::position`] vectorises.
#[inline]
fn is_text_stop(b: u8) -> bool {
    (b == b'<') | (b == b'&') | ((b < 0x20) & (b != b'\t') & (b != b'\n'))
}

type Sink<'s> = dyn FnMut(Token<'_>) -> Result<(), Stop> + 's;

/// Why tokenizing stopped: a syntax error here, or the sink's own error.
#[derive(Debug)]
pub enum Stop {
    /// Syntax error at a position.
    Syntax(Position, SyntaxError),
    /// The consumer refused a token; its error is held by the consumer.
    Consumer,
}

impl Tokenizer {
    /// A tokenizer at the start of a document.
    pub fn new() -> Self {
        Tokenizer {
            state: State::Bom(0),
            markup: Vec::new(),
            text: Vec::new(),
            text_at: Position { line: 1, column: 1 },
            line: 1,
            column: 1,
            mark: Position { line: 1, column: 1 },
            after_cr: false,
            open: Vec::new(),
            bindings: Vec::new(),
            root_seen: false,
            attributes: Vec::new(),
            first_markup: true,
            input: Input::default(),
            decoded: Vec::new(),
        }
    }

    /// Bytes held between chunks (markup and text being collected).
    pub fn buffered(&self) -> usize {
        self.markup.len() + self.text.len() + self.input.held()
    }

    /// Current depth of open elements.
    pub fn depth(&self) -> usize {
        self.open.len()
    }

    fn here(&self) -> Position {
        Position {
            line: self.line,
            column: self.column,
        }
    }

    fn fail<T>(&self, e: SyntaxError) -> Result<T, Stop> {
        Err(Stop::Syntax(self.here(), e))
    }

    fn fail_at_mark<T>(&self, e: SyntaxError) -> Result<T, Stop> {
        Err(Stop::Syntax(self.mark, e))
    }

    fn advance(&mut self, b: u8) {
        if b == b'\n' {
            self.line = self.line.saturating_add(1);
            self.column = 1;
        } else if b & 0xC0 != 0x80 {
            self.column = self.column.saturating_add(1);
        }
    }

    /// [`Self::advance`] over a whole run of text, counted rather than stepped: a 100 MB
    /// base64 content is one long run, and counting vectorises where stepping cannot.
    fn advance_over(&mut self, run: &[u8]) {
        let chars = |bytes: &[u8]| {
            let n = crate::scan::count(bytes, |b| b & 0xC0 != 0x80);
            u32::try_from(n).unwrap_or(u32::MAX)
        };
        match run.iter().rposition(|&b| b == b'\n') {
            Some(last) => {
                let lines = crate::scan::count(run, |b| b == b'\n');
                self.line = self
                    .line
                    .saturating_add(u32::try_from(lines).unwrap_or(u32::MAX));
                self.column = chars(run.get(last + 1..).unwrap_or_default()).saturating_add(1);
            }
            None => self.column = self.column.saturating_add(chars(run)),
        }
    }

    /// Feeds one chunk.
    pub fn feed(&mut self, chunk: &[u8], sink: &mut Sink<'_>) -> Result<(), Stop> {
        // UTF-8, once the first bytes have said so, goes on as if this check were not here.
        match self.input {
            Input::Utf8 => self.feed_utf8(chunk, sink),
            Input::Utf16(_) => self.feed_utf16(chunk, sink),
            Input::Sniffing(_) => self.feed_sniffing(chunk, false, sink),
        }
    }

    /// Holds the first bytes until they tell the encoding, then reads them and the rest of
    /// `chunk` in it. With `complete`, the input has ended and what is held decides.
    fn feed_sniffing(
        &mut self,
        chunk: &[u8],
        complete: bool,
        sink: &mut Sink<'_>,
    ) -> Result<(), Stop> {
        let (taken, decided) = self.input.sniff(chunk, complete);
        let Some((detected, held)) = decided else {
            return Ok(());
        };
        if let Detected::Refused(name) = detected {
            return self.fail(SyntaxError::UnsupportedEncoding(name.to_string()));
        }
        self.feed(&held, sink)?;
        self.feed(chunk.get(taken..).unwrap_or_default(), sink)
    }

    /// Decodes UTF-16 to UTF-8 and reads that; an undecodable code unit is reported where it
    /// stands, after everything before it is read.
    fn feed_utf16(&mut self, chunk: &[u8], sink: &mut Sink<'_>) -> Result<(), Stop> {
        let Input::Utf16(decoder) = &mut self.input else {
            return Ok(());
        };
        let mut decoded = std::mem::take(&mut self.decoded);
        let r = decoder.decode(chunk, &mut decoded);
        let fed = self.feed_utf8(&decoded, sink);
        decoded.clear();
        self.decoded = decoded;
        fed?;
        r.or_else(|e| self.fail(SyntaxError::InvalidUtf16(e)))
    }

    /// Feeds one chunk of UTF-8.
    fn feed_utf8(&mut self, chunk: &[u8], sink: &mut Sink<'_>) -> Result<(), Stop> {
        let r = self.bytes(chunk, sink);
        if let Err(Stop::Syntax(..)) = r {
            // Text before the error is handed on first, as a chunk boundary there would have
            // done: what the consumer sees must not depend on where chunks are split.
            self.flush_text(sink)?;
        }
        r?;
        // Hand on text gathered so far so the consumer can make progress on every chunk.
        self.flush_text(sink)
    }

    fn bytes(&mut self, chunk: &[u8], sink: &mut Sink<'_>) -> Result<(), Stop> {
        let mut i = 0;
        while i < chunk.len() {
            if self.state == State::Text {
                i += self.text_run(chunk.get(i..).unwrap_or_default(), sink)?;
                continue;
            }
            if matches!(self.state, State::StartTag(_) | State::EndTag) {
                let taken = self.markup_run(chunk.get(i..).unwrap_or_default())?;
                if taken > 0 {
                    i += taken;
                    continue;
                }
            }
            let Some(&b) = chunk.get(i) else { break };
            self.byte(b, sink)?;
            i += 1;
        }
        Ok(())
    }

    /// Ends the input: everything must be closed.
    pub fn finish(&mut self, sink: &mut Sink<'_>) -> Result<(), Stop> {
        match &self.input {
            Input::Sniffing(_) => self.feed_sniffing(&[], true, sink)?,
            Input::Utf16(decoder) => {
                if let Err(e) = decoder.finish() {
                    return self.fail(SyntaxError::InvalidUtf16(e));
                }
            }
            Input::Utf8 => {}
        }
        match self.state {
            State::Text => {}
            State::Bom(_) => {
                let pending: Vec<u8> = self.markup.drain(..).collect();
                self.state = State::Text;
                self.feed_utf8(&pending, sink)?;
                return self.finish(sink);
            }
            State::Comment(_) => return self.fail(SyntaxError::UnexpectedEnd("inside a comment")),
            State::CData(_) => {
                return self.fail(SyntaxError::UnexpectedEnd("inside a CDATA section"));
            }
            _ => return self.fail(SyntaxError::UnexpectedEnd("inside markup")),
        }
        self.flush_text(sink)?;
        if let Some(open) = self.open.last() {
            let e = SyntaxError::Malformed(format!("the input ended before </{}>", open.qname));
            return self.fail(e);
        }
        if !self.root_seen {
            return self.fail(SyntaxError::UnexpectedEnd("before any element"));
        }
        Ok(())
    }

    /// Consumes text up to the next `<`, `&` or CR; returns how many bytes it used.
    fn text_run(&mut self, rest: &[u8], sink: &mut Sink<'_>) -> Result<usize, Stop> {
        let room = TEXT_PIECE.saturating_sub(self.text.len()).max(1);
        let limit = rest.len().min(room);
        let window = rest.get(..limit).unwrap_or_default();
        let stop = crate::scan::position(window, is_text_stop);
        let run_len = stop.unwrap_or(window.len());
        let run = window.get(..run_len).unwrap_or_default();
        if self.after_cr && run.first() == Some(&b'\n') {
            // CR LF: the CR already became LF and started the new line.
            self.after_cr = false;
            return Ok(1);
        }
        if !run.is_empty() {
            self.after_cr = false;
            if self.text.is_empty() {
                self.text_at = self.here();
            }
            // Outside the root only whitespace may stand; refuse anything else where it is, not
            // when the text is handed on, so that the position does not depend on chunking.
            if self.open.is_empty() {
                for &b in run {
                    if !matches!(b, b' ' | b'\t' | b'\n') {
                        return self.fail(SyntaxError::TextOutsideRoot);
                    }
                    self.advance(b);
                }
            } else {
                self.advance_over(run);
            }
            self.text.extend_from_slice(run);
            if self.text.len() >= TEXT_PIECE {
                self.flush_text(sink)?;
            }
            return Ok(run_len);
        }
        let Some(&b) = window.first() else {
            return Ok(0);
        };
        match b {
            b'\r' => {
                self.after_cr = true;
                if self.text.is_empty() {
                    self.text_at = self.here();
                }
                self.text.push(b'\n');
                self.line = self.line.saturating_add(1);
                self.column = 1;
            }
            b'<' => {
                self.after_cr = false;
                self.flush_text(sink)?;
                self.mark = self.here();
                self.advance(b);
                self.state = State::MarkupOpen;
                self.markup.clear();
            }
            b'&' if self.open.is_empty() => return self.fail(SyntaxError::TextOutsideRoot),
            b'&' => {
                self.after_cr = false;
                self.mark = self.here();
                self.advance(b);
                self.state = State::Reference;
                self.markup.clear();
            }
            _ => {
                return self.fail(SyntaxError::Malformed(format!(
                    "the control character U+{b:04X} is not allowed in XML"
                )));
            }
        }
        Ok(1)
    }

    fn flush_text(&mut self, sink: &mut Sink<'_>) -> Result<(), Stop> {
        if self.text.is_empty() {
            return Ok(());
        }
        if self.open.is_empty() {
            if self
                .text
                .iter()
                .any(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
            {
                return self.fail(SyntaxError::TextOutsideRoot);
            }
            self.text.clear();
            return Ok(());
        }
        let r = sink(Token::Text(&self.text, self.text_at));
        self.text.clear();
        r
    }

    /// Inside a tag, takes the bytes up to the next one that changes state (`>`, a quote, or
    /// `<`; inside a quoted value only its closing quote) in one step; returns how many. The
    /// same as [`Self::byte`] on each of them, whose only possible refusal for such bytes is
    /// a tag longer than [`MAX_MARKUP`], named at the tag's start either way.
    fn markup_run(&mut self, rest: &[u8]) -> Result<usize, Stop> {
        let ends = |b: u8| match self.state {
            State::StartTag(None) => matches!(b, b'>' | b'"' | b'\'' | b'<'),
            State::StartTag(Some(quote)) => b == quote,
            State::EndTag => b == b'>',
            _ => true,
        };
        let taken = rest.iter().position(|&b| ends(b)).unwrap_or(rest.len());
        let run = rest.get(..taken).unwrap_or_default();
        if run.is_empty() {
            return Ok(0);
        }
        if self.markup.len().saturating_add(run.len()) > MAX_MARKUP {
            return self.fail_at_mark(SyntaxError::MarkupTooLong);
        }
        self.advance_over(run);
        self.markup.extend_from_slice(run);
        Ok(taken)
    }

    fn push_markup(&mut self, b: u8) -> Result<(), Stop> {
        if self.markup.len() >= MAX_MARKUP {
            return self.fail_at_mark(SyntaxError::MarkupTooLong);
        }
        self.markup.push(b);
        Ok(())
    }

    fn byte(&mut self, b: u8, sink: &mut Sink<'_>) -> Result<(), Stop> {
        match self.state {
            State::Bom(n) => {
                const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];
                if BOM.get(n) == Some(&b) {
                    if n == 2 {
                        self.markup.clear();
                        self.state = State::Text;
                    } else {
                        self.markup.push(b);
                        self.state = State::Bom(n + 1);
                    }
                    return Ok(());
                }
                // Not a BOM after all: replay what was held back as ordinary input.
                let mut pending: Vec<u8> = self.markup.drain(..).collect();
                pending.push(b);
                self.state = State::Text;
                return self.feed_utf8(&pending, sink);
            }
            State::Text => {
                self.text_run(&[b], sink)?;
                return Ok(());
            }
            _ => {}
        }
        self.advance(b);
        if matches!(self.state, State::CData(_)) && self.text.is_empty() {
            // A piece that starts inside a CDATA section is placed at the section.
            self.text_at = self.mark;
        }
        match self.state {
            State::Bom(_) | State::Text => {}
            State::Reference => {
                if b == b';' {
                    self.state = State::Text;
                    let name = std::mem::take(&mut self.markup);
                    if self.text.is_empty() {
                        self.text_at = self.mark;
                    }
                    let r = expand_reference(&name, &mut self.text);
                    self.markup = name;
                    self.markup.clear();
                    if let Err(e) = r {
                        return self.fail_at_mark(e);
                    }
                    if self.text.len() >= TEXT_PIECE {
                        self.flush_text(sink)?;
                    }
                } else if self.markup.len() >= 32
                    || matches!(b, b'<' | b'&' | b' ' | b'\n' | b'\t' | b'\r')
                {
                    return self.fail_at_mark(SyntaxError::Malformed(
                        "an & must start a reference such as &amp; (write & as &amp;)".into(),
                    ));
                } else {
                    self.markup.push(b);
                }
            }
            State::MarkupOpen => match b {
                b'/' => self.state = State::EndTag,
                b'?' => self.state = State::Pi(false),
                b'!' => self.state = State::Bang,
                b' ' | b'\t' | b'\n' | b'\r' | b'>' | b'<' | b'=' | b'"' | b'\'' => {
                    return self.fail_at_mark(SyntaxError::Malformed(
                        "a < must start a tag (write < as &lt;)".into(),
                    ));
                }
                _ => {
                    self.state = State::StartTag(None);
                    self.push_markup(b)?;
                }
            },
            State::StartTag(quote) => match (quote, b) {
                (None, b'>') => {
                    self.state = State::Text;
                    self.start_tag(sink)?;
                }
                (None, b'"' | b'\'') => {
                    self.state = State::StartTag(Some(b));
                    self.push_markup(b)?;
                }
                (None, b'<') => {
                    return self
                        .fail_at_mark(SyntaxError::Malformed("a tag is not closed with >".into()));
                }
                (Some(q), _) if q == b => {
                    self.state = State::StartTag(None);
                    self.push_markup(b)?;
                }
                _ => self.push_markup(b)?,
            },
            State::EndTag => {
                if b == b'>' {
                    self.state = State::Text;
                    self.end_tag(sink)?;
                } else {
                    self.push_markup(b)?;
                }
            }
            State::Pi(question) => {
                if question && b == b'>' {
                    self.state = State::Text;
                    self.markup.pop();
                    self.processing_instruction()?;
                } else {
                    self.state = State::Pi(b == b'?');
                    self.push_markup(b)?;
                }
            }
            State::Bang => {
                self.push_markup(b)?;
                let m = self.markup.as_slice();
                if m == b"--" {
                    self.state = State::Comment(0);
                    self.markup.clear();
                } else if m == b"[CDATA[" {
                    if self.open.is_empty() {
                        return self.fail_at_mark(SyntaxError::TextOutsideRoot);
                    }
                    self.state = State::CData(0);
                    self.markup.clear();
                } else if m == b"DOCTYPE" {
                    return self.fail_at_mark(SyntaxError::Dtd);
                } else if !b"--".starts_with(m)
                    && !b"[CDATA[".starts_with(m)
                    && !b"DOCTYPE".starts_with(m)
                {
                    return self.fail_at_mark(SyntaxError::Declaration);
                }
            }
            State::Comment(dashes) => {
                self.state = match (dashes, b) {
                    (n, b'>') if n >= 2 => State::Text,
                    (n, b'-') => State::Comment(n.saturating_add(1)),
                    _ => State::Comment(0),
                };
            }
            State::CData(brackets) => match b {
                b']' => self.state = State::CData(brackets.saturating_add(1)),
                b'>' if brackets >= 2 => {
                    for _ in 2..brackets {
                        self.text.push(b']');
                    }
                    self.state = State::Text;
                }
                _ => {
                    for _ in 0..brackets {
                        self.text.push(b']');
                    }
                    self.state = State::CData(0);
                    if b == b'\r' {
                        self.after_cr = true;
                        self.text.push(b'\n');
                    } else if b == b'\n' && self.after_cr {
                        self.after_cr = false;
                    } else {
                        self.after_cr = false;
                        self.text.push(b);
                    }
                    if self.text.len() >= TEXT_PIECE {
                        self.flush_text(sink)?;
                    }
                }
            },
        }
        Ok(())
    }

    fn processing_instruction(&mut self) -> Result<(), Stop> {
        let first = std::mem::replace(&mut self.first_markup, false);
        let Ok(text) = std::str::from_utf8(&self.markup) else {
            return self.fail_at_mark(SyntaxError::InvalidUtf8);
        };
        let target = text
            .split(|c: char| c.is_ascii_whitespace())
            .next()
            .unwrap_or("");
        if target.eq_ignore_ascii_case("xml") {
            if !first || self.root_seen {
                return self.fail_at_mark(SyntaxError::Malformed(
                    "the XML declaration must come first in the document".into(),
                ));
            }
            if let Some(encoding) = pseudo_attribute(text, "encoding")
                && !self.input.agrees_with(encoding)
            {
                // XML 1.0 (4.3.3): a document in another encoding than its declaration names
                // is a fatal error; say which of the two is the case.
                let e = if is_unicode_name(encoding) {
                    SyntaxError::EncodingMismatch {
                        declared: encoding.to_string(),
                        read: self.input.name(),
                    }
                } else {
                    SyntaxError::UnsupportedEncoding(encoding.to_string())
                };
                return self.fail_at_mark(e);
            }
        }
        self.markup.clear();
        Ok(())
    }

    fn resolve(&self, prefix: &str) -> Option<&str> {
        if prefix == "xml" {
            return Some(XML_NAMESPACE);
        }
        self.bindings
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, ns)| ns.as_str())
    }

    fn start_tag(&mut self, sink: &mut Sink<'_>) -> Result<(), Stop> {
        self.first_markup = false;
        if self.open.is_empty() && self.root_seen {
            return self.fail_at_mark(SyntaxError::SecondRoot);
        }
        if self.open.len() >= MAX_DEPTH {
            return self.fail_at_mark(SyntaxError::TooDeep);
        }
        let markup = std::mem::take(&mut self.markup);
        let r = self.start_tag_inner(&markup, sink);
        self.markup = markup;
        self.markup.clear();
        r
    }

    fn start_tag_inner(&mut self, markup: &[u8], sink: &mut Sink<'_>) -> Result<(), Stop> {
        let Ok(text) = std::str::from_utf8(markup) else {
            return self.fail_at_mark(SyntaxError::InvalidUtf8);
        };
        let (text, empty) = match text.strip_suffix('/') {
            Some(t) => (t, true),
            None => (text, false),
        };
        let name_end = text
            .find(|c: char| c.is_ascii_whitespace())
            .unwrap_or(text.len());
        let (qname, mut rest) = text.split_at(name_end);
        check_name(qname).or_else(|e| self.fail_at_mark(e))?;
        let bindings_before = self.bindings.len();
        let mut raw: Vec<(&str, String)> = Vec::new();
        loop {
            rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
            if rest.is_empty() {
                break;
            }
            let Some(eq) = rest.find('=') else {
                return self.fail_at_mark(SyntaxError::Malformed(format!(
                    "attribute in <{qname}> has no value"
                )));
            };
            let (name, after) = rest.split_at(eq);
            let name = name.trim_end_matches(|c: char| c.is_ascii_whitespace());
            check_name(name).or_else(|e| self.fail_at_mark(e))?;
            let after = after
                .get(1..)
                .unwrap_or("")
                .trim_start_matches(|c: char| c.is_ascii_whitespace());
            let quote = match after.chars().next() {
                Some(q @ ('"' | '\'')) => q,
                _ => {
                    return self.fail_at_mark(SyntaxError::Malformed(format!(
                        "the value of attribute {name} in <{qname}> is not quoted"
                    )));
                }
            };
            let body = after.get(1..).unwrap_or("");
            let Some(close) = body.find(quote) else {
                return self.fail_at_mark(SyntaxError::Malformed(format!(
                    "the value of attribute {name} is not closed"
                )));
            };
            let value_raw = body.get(..close).unwrap_or("");
            rest = body.get(close + 1..).unwrap_or("");
            if !rest.is_empty() && !rest.starts_with(|c: char| c.is_ascii_whitespace()) {
                return self.fail_at_mark(SyntaxError::Malformed(format!(
                    "attributes in <{qname}> must be separated by white space"
                )));
            }
            let value = attribute_value(value_raw).or_else(|e| self.fail_at_mark(e))?;
            if raw.iter().any(|(n, _)| *n == name) {
                return self.fail_at_mark(SyntaxError::DuplicateAttribute(name.to_string()));
            }
            raw.push((name, value));
        }
        for (name, value) in &raw {
            if *name == "xmlns" {
                self.bindings.push((String::new(), value.clone()));
            } else if let Some(prefix) = name.strip_prefix("xmlns:") {
                self.bindings.push((prefix.to_string(), value.clone()));
            }
        }
        self.attributes.clear();
        for (name, value) in raw {
            if name == "xmlns" || name.starts_with("xmlns:") {
                continue;
            }
            let (namespace, local) = match name.split_once(':') {
                Some((prefix, local)) => match self.resolve(prefix) {
                    Some(ns) => (ns.to_string(), local.to_string()),
                    None => {
                        return self
                            .fail_at_mark(SyntaxError::UndeclaredPrefix(prefix.to_string()));
                    }
                },
                None => (String::new(), name.to_string()),
            };
            if self
                .attributes
                .iter()
                .any(|a| a.namespace == namespace && a.local == local)
            {
                return self.fail_at_mark(SyntaxError::DuplicateAttribute(name.to_string()));
            }
            self.attributes.push(Attribute {
                namespace,
                local,
                value,
            });
        }
        let (prefix, local) = qname.split_once(':').unwrap_or(("", qname));
        let namespace = match self.resolve(prefix) {
            Some(ns) => ns.to_string(),
            None if prefix.is_empty() => String::new(),
            None => return self.fail_at_mark(SyntaxError::UndeclaredPrefix(prefix.to_string())),
        };
        self.root_seen = true;
        self.open.push(Open {
            qname: qname.to_string(),
            bindings: bindings_before,
        });
        let position = self.mark;
        let attributes = std::mem::take(&mut self.attributes);
        let r = sink(Token::Start {
            namespace: &namespace,
            local,
            attributes: &attributes,
            position,
        });
        self.attributes = attributes;
        r?;
        if empty {
            sink(Token::End {
                namespace: &namespace,
                local,
            })?;
            if let Some(open) = self.open.pop() {
                self.bindings.truncate(open.bindings);
            }
        }
        Ok(())
    }

    fn end_tag(&mut self, sink: &mut Sink<'_>) -> Result<(), Stop> {
        let Ok(text) = std::str::from_utf8(&self.markup) else {
            return self.fail_at_mark(SyntaxError::InvalidUtf8);
        };
        let qname = text.trim_end_matches(|c: char| c.is_ascii_whitespace());
        let Some(open) = self.open.last() else {
            return self.fail_at_mark(SyntaxError::Malformed(format!(
                "the end tag </{qname}> has no start tag"
            )));
        };
        if open.qname != qname {
            let e = SyntaxError::MismatchedEndTag {
                expected: open.qname.clone(),
                found: qname.to_string(),
            };
            return self.fail_at_mark(e);
        }
        let (prefix, local) = qname.split_once(':').unwrap_or(("", qname));
        let namespace = self.resolve(prefix).unwrap_or("").to_string();
        let local = local.to_string();
        self.markup.clear();
        let bindings = open.bindings;
        self.open.pop();
        self.bindings.truncate(bindings);
        sink(Token::End {
            namespace: &namespace,
            local: &local,
        })
    }
}

fn check_name(name: &str) -> Result<(), SyntaxError> {
    let bad = name.is_empty()
        || name.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.' || c == ':')
        || name.ends_with(':')
        || name.matches(':').count() > 1
        || name.chars().any(|c| {
            matches!(c, '<' | '>' | '&' | '"' | '\'' | '=' | '/' | '?' | '!') || c.is_whitespace()
        });
    if bad {
        Err(SyntaxError::Malformed(format!(
            "{name:?} is not a valid XML name"
        )))
    } else {
        Ok(())
    }
}

/// The value of a pseudo-attribute in the XML declaration.
fn pseudo_attribute<'a>(decl: &'a str, name: &str) -> Option<&'a str> {
    let at = decl.find(name)?;
    let rest = decl.get(at + name.len()..)?.trim_start();
    let rest = rest.strip_prefix('=')?.trim_start();
    let quote = rest.chars().next()?;
    let body = rest.get(1..)?;
    let end = body.find(quote)?;
    body.get(..end)
}

/// Expands references and normalises white space in an attribute value, as XML requires.
fn attribute_value(raw: &str) -> Result<String, SyntaxError> {
    if raw.contains('<') {
        return Err(SyntaxError::Malformed(
            "a < is not allowed in an attribute value".into(),
        ));
    }
    let mut out: Vec<u8> = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        push_normalised(&mut out, rest.get(..amp).unwrap_or(""));
        let after = rest.get(amp + 1..).unwrap_or("");
        let Some(semi) = after.find(';') else {
            return Err(SyntaxError::Malformed(
                "an & in an attribute value must start a reference".into(),
            ));
        };
        expand_reference(after.get(..semi).unwrap_or("").as_bytes(), &mut out)?;
        rest = after.get(semi + 1..).unwrap_or("");
    }
    push_normalised(&mut out, rest);
    String::from_utf8(out).map_err(|_| SyntaxError::InvalidUtf8)
}

fn push_normalised(out: &mut Vec<u8>, s: &str) {
    let s = s.replace("\r\n", " ");
    out.extend(s.bytes().map(|b| {
        if matches!(b, b'\t' | b'\n' | b'\r') {
            b' '
        } else {
            b
        }
    }));
}

/// Expands one reference (the part between `&` and `;`) into `out`.
fn expand_reference(name: &[u8], out: &mut Vec<u8>) -> Result<(), SyntaxError> {
    let shown = || String::from_utf8_lossy(name).into_owned();
    let simple = match name {
        b"lt" => Some(b'<'),
        b"gt" => Some(b'>'),
        b"amp" => Some(b'&'),
        b"apos" => Some(b'\''),
        b"quot" => Some(b'"'),
        _ => None,
    };
    if let Some(b) = simple {
        out.push(b);
        return Ok(());
    }
    let Some(number) = name.strip_prefix(b"#") else {
        return Err(SyntaxError::UndefinedEntity(shown()));
    };
    let (digits, radix) = match number.strip_prefix(b"x") {
        Some(hex) => (hex, 16),
        None => (number, 10),
    };
    let code = std::str::from_utf8(digits)
        .ok()
        .filter(|d| !d.is_empty() && d.chars().all(|c| c.is_digit(radix)))
        .and_then(|d| u32::from_str_radix(d, radix).ok());
    let c = code
        .and_then(char::from_u32)
        .filter(|&c| is_xml_char(c))
        .ok_or_else(|| SyntaxError::BadCharacterReference(shown()))?;
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    Ok(())
}

/// XML 1.0's `Char` production.
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Eq)]
    enum T {
        S(String, String, Vec<(String, String)>, u32, u32),
        E(String, String),
        X(Vec<u8>),
    }

    fn tokens_in(chunks: &[&[u8]]) -> Result<Vec<T>, (Position, SyntaxError)> {
        let mut out: Vec<T> = Vec::new();
        let mut t = Tokenizer::new();
        let mut sink = |tok: Token<'_>| {
            match tok {
                Token::Start {
                    namespace,
                    local,
                    attributes,
                    position,
                } => out.push(T::S(
                    namespace.into(),
                    local.into(),
                    attributes
                        .iter()
                        .map(|a| (a.local.clone(), a.value.clone()))
                        .collect(),
                    position.line,
                    position.column,
                )),
                Token::End { namespace, local } => out.push(T::E(namespace.into(), local.into())),
                Token::Text(b, _) => match out.last_mut() {
                    Some(T::X(v)) => v.extend_from_slice(b),
                    _ => out.push(T::X(b.to_vec())),
                },
            }
            Ok(())
        };
        let map = |s: Stop| match s {
            Stop::Syntax(p, e) => (p, e),
            Stop::Consumer => unreachable!(),
        };
        for c in chunks {
            t.feed(c, &mut sink).map_err(map)?;
        }
        t.finish(&mut sink).map_err(map)?;
        Ok(out)
    }

    fn tokens(doc: &str) -> Result<Vec<T>, (Position, SyntaxError)> {
        tokens_in(&[doc.as_bytes()])
    }

    #[test]
    fn resolves_prefixes_and_default_namespace() {
        let t = tokens("<a:r xmlns:a='urn:x'><b xmlns='urn:y' k=\"v\"/></a:r>").unwrap();
        assert_eq!(t[0], T::S("urn:x".into(), "r".into(), vec![], 1, 1));
        assert_eq!(
            t[1],
            T::S(
                "urn:y".into(),
                "b".into(),
                vec![("k".into(), "v".into())],
                1,
                22
            )
        );
        assert_eq!(t[2], T::E("urn:y".into(), "b".into()));
        assert_eq!(t[3], T::E("urn:x".into(), "r".into()));
    }

    #[test]
    fn expands_predefined_and_numeric_references_and_cdata() {
        let t = tokens("<r>&lt;&amp;&#65;&#x42;<![CDATA[<x>]]]>\r\n</r>").unwrap();
        assert_eq!(t[1], T::X(b"<&AB<x>]\n".to_vec()));
    }

    #[test]
    fn byte_at_a_time_equals_whole() {
        let doc = "\u{feff}<?xml version=\"1.0\"?><!-- c -- > --><p:r xmlns:p='u' a='&amp;x'>h\u{e6}j &#xe6; <![CDATA[a]]b]]></p:r>";
        let whole = tokens(doc).unwrap();
        let bytes: Vec<&[u8]> = doc.as_bytes().chunks(1).collect();
        assert_eq!(tokens_in(&bytes).unwrap(), whole);
    }

    #[test]
    fn refuses_dtd_entities_and_unknown_references() {
        assert_eq!(
            tokens("<!DOCTYPE r [<!ENTITY a 'b'>]><r/>").unwrap_err().1,
            SyntaxError::Dtd
        );
        assert_eq!(
            tokens("<r><!ENTITY a 'b'></r>").unwrap_err().1,
            SyntaxError::Declaration
        );
        assert_eq!(
            tokens("<r>&a;</r>").unwrap_err().1,
            SyntaxError::UndefinedEntity("a".into())
        );
        assert!(matches!(
            tokens("<r>&#0;</r>").unwrap_err().1,
            SyntaxError::BadCharacterReference(_)
        ));
    }

    #[test]
    fn refuses_malformed_documents() {
        assert!(matches!(
            tokens("<r></s>").unwrap_err().1,
            SyntaxError::MismatchedEndTag { .. }
        ));
        assert_eq!(
            tokens("<p:r/>").unwrap_err().1,
            SyntaxError::UndeclaredPrefix("p".into())
        );
        assert_eq!(tokens("<r/><r/>").unwrap_err().1, SyntaxError::SecondRoot);
        assert_eq!(tokens("x<r/>").unwrap_err().1, SyntaxError::TextOutsideRoot);
        assert!(matches!(
            tokens("<r>").unwrap_err().1,
            SyntaxError::Malformed(_)
        ));
        assert!(matches!(
            tokens("<r a='1' a='2'/>").unwrap_err().1,
            SyntaxError::DuplicateAttribute(_)
        ));
        assert!(matches!(
            tokens("<?xml version='1.0' encoding='ISO-8859-1'?><r/>")
                .unwrap_err()
                .1,
            SyntaxError::UnsupportedEncoding(_)
        ));
        assert!(matches!(
            tokens("<r>\u{1}</r>").unwrap_err().1,
            SyntaxError::Malformed(_)
        ));
    }

    fn utf16(doc: &str, big_endian: bool, bom: bool) -> Vec<u8> {
        use crate::memo::encoding::ByteOrder;
        let order = if big_endian {
            ByteOrder::Big
        } else {
            ByteOrder::Little
        };
        crate::memo::encoding::utf16(doc, order, bom)
    }

    #[test]
    fn utf16_reads_as_its_utf8_self_split_anywhere() {
        let doc = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\r\n<p:r xmlns:p='u' a='\u{e6}'>h\u{e6}j \u{1F600} &#xe6;<![CDATA[<]]></p:r>";
        let want = tokens(&doc.replace(" encoding=\"UTF-16\"", "")).unwrap();
        for (big_endian, bom) in [(false, true), (true, true), (false, false), (true, false)] {
            let bytes = utf16(doc, big_endian, bom);
            assert_eq!(tokens_in(&[&bytes]).unwrap(), want, "{big_endian} {bom}");
            let ones: Vec<&[u8]> = bytes.chunks(1).collect();
            assert_eq!(
                tokens_in(&ones).unwrap(),
                want,
                "{big_endian} {bom} bytewise"
            );
            let threes: Vec<&[u8]> = bytes.chunks(3).collect();
            assert_eq!(tokens_in(&threes).unwrap(), want, "{big_endian} {bom} by 3");
        }
    }

    #[test]
    fn utf16_errors_are_named_and_placed() {
        let (pos, e) = tokens_in(&[&utf16("<r>\n <a>&bogus;</a></r>", false, true)]).unwrap_err();
        assert_eq!(
            (pos, e),
            (
                Position { line: 2, column: 5 },
                SyntaxError::UndefinedEntity("bogus".into())
            )
        );
        let mut lone = utf16("<r>a", false, true);
        lone.extend_from_slice(&[0x00, 0xDC]);
        lone.extend(utf16("</r>", false, false));
        let (pos, e) = tokens_in(&[&lone]).unwrap_err();
        assert_eq!(pos, Position { line: 1, column: 5 });
        assert_eq!(
            e,
            SyntaxError::InvalidUtf16(Utf16Error::UnpairedSurrogate(0xDC00))
        );
        let mut cut = utf16("<r/>", true, true);
        cut.push(0);
        assert_eq!(
            tokens_in(&[&cut]).unwrap_err().1,
            SyntaxError::InvalidUtf16(Utf16Error::Truncated)
        );
        assert_eq!(
            tokens_in(&[b"\xFF\xFE\x00\x00<\x00\x00\x00"]).unwrap_err(),
            (
                Position { line: 1, column: 1 },
                SyntaxError::UnsupportedEncoding("UTF-32 (little-endian)".into())
            )
        );
        let declared_utf8 = utf16("<?xml version='1.0' encoding='UTF-8'?><r/>", false, true);
        assert_eq!(
            tokens_in(&[&declared_utf8]).unwrap_err().1,
            SyntaxError::EncodingMismatch {
                declared: "UTF-8".into(),
                read: "UTF-16 (little-endian)"
            }
        );
        assert_eq!(
            tokens("<?xml version='1.0' encoding='UTF-16'?><r/>")
                .unwrap_err()
                .1,
            SyntaxError::EncodingMismatch {
                declared: "UTF-16".into(),
                read: "UTF-8"
            }
        );
        assert_eq!(
            tokens("<?xml version='1.0' encoding='ISO-8859-1'?><r/>")
                .unwrap_err()
                .1,
            SyntaxError::UnsupportedEncoding("ISO-8859-1".into())
        );
        // A document shorter than the bytes that decide is still read.
        assert_eq!(tokens("<r/>").unwrap().len(), 2);
        assert_eq!(tokens_in(&[b"<", b"r", b"/", b">"]).unwrap().len(), 2);
    }

    #[test]
    fn reports_line_and_column() {
        let (pos, _) = tokens("<r>\n  <a>&bogus;</a></r>").unwrap_err();
        assert_eq!(pos, Position { line: 2, column: 6 });
    }

    #[test]
    fn long_text_leaves_in_bounded_pieces() {
        let body = "A".repeat(TEXT_PIECE * 3 + 7);
        let doc = format!("<r>{body}</r>");
        let mut t = Tokenizer::new();
        let mut biggest = 0;
        let mut total = 0;
        let mut sink = |tok: Token<'_>| {
            if let Token::Text(b, _) = tok {
                biggest = biggest.max(b.len());
                total += b.len();
            }
            Ok(())
        };
        t.feed(doc.as_bytes(), &mut sink).unwrap();
        t.finish(&mut sink).unwrap();
        assert_eq!(total, body.len());
        assert!(biggest <= TEXT_PIECE);
    }

    /// The branch-free test stops where the plain description says.
    #[test]
    fn text_stops_are_markup_references_cr_and_forbidden_controls() {
        let stops = [b'<', b'&', b'\r', 0u8, 0x1F];
        for b in 0..=255u8 {
            let plain = stops.contains(&b) || (b < 0x20 && b != b'\t' && b != b'\n');
            assert_eq!(is_text_stop(b), plain, "byte 0x{b:02X}");
        }
    }

    proptest::proptest! {
        /// The block-at-a-time scan finds the stop a byte-at-a-time scan finds.
        #[test]
        fn block_scan_agrees_with_plain_scan(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![proptest::strategy::Just(b'A'), proptest::strategy::Just(b'\n'), proptest::num::u8::ANY],
                0..300,
            ),
        ) {
            proptest::prop_assert_eq!(
                crate::scan::position(&bytes, is_text_stop),
                bytes.iter().position(|&b| is_text_stop(b))
            );
        }
    }
}
