//! One-call forms for messages small enough to hold: parse to a [`Message`], or just validate.

use super::model::{Body, Document, File, Message};
use super::problem::{Code, Problem, Severity};
use super::reader::{Event, ReadError, Reader, Summary};

/// A parsed message and what validation found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    /// The message, file contents included.
    pub message: Message,
    /// Every problem; the message is acceptable to NgDP when none is an error.
    pub problems: Vec<Problem>,
}

/// Builds a [`Message`] from reader events; the inverse of streaming.
#[derive(Debug, Default)]
pub struct Collector {
    message: Message,
    summary: Option<Summary>,
}

impl Collector {
    /// Takes one event.
    pub fn push(&mut self, event: Event) {
        let m = &mut self.message;
        match event {
            Event::Header(h) => m.header = *h,
            Event::BodyStart { created_date_time } => {
                m.body.get_or_insert_with(Body::default).created_date_time = created_date_time;
            }
            Event::DocumentStart(info) => {
                m.body
                    .get_or_insert_with(Body::default)
                    .documents
                    .push(Document {
                        info,
                        ..Document::default()
                    });
            }
            Event::FileStart(info) => {
                if let Some(doc) = m.body.as_mut().and_then(|b| b.documents.last_mut()) {
                    doc.files.push(File {
                        info,
                        content: Vec::new(),
                    });
                }
            }
            Event::FileData(bytes) => {
                if let Some(file) = m
                    .body
                    .as_mut()
                    .and_then(|b| b.documents.last_mut())
                    .and_then(|d| d.files.last_mut())
                {
                    file.content.extend_from_slice(&bytes);
                }
            }
            Event::FileEnd { .. } => {}
            Event::DocumentEnd { actions } => {
                if let Some(doc) = m.body.as_mut().and_then(|b| b.documents.last_mut()) {
                    doc.actions = actions;
                }
            }
            Event::End(summary) => self.summary = Some(summary),
        }
    }

    /// The message and its problems.
    pub fn into_parsed(self) -> Parsed {
        Parsed {
            message: self.message,
            problems: self.summary.map(|s| s.problems).unwrap_or_default(),
        }
    }
}

/// Parses a whole message.
pub fn parse(bytes: &[u8]) -> Result<Parsed, ReadError> {
    let mut reader = Reader::new();
    let mut collector = Collector::default();
    for e in reader.feed(bytes)? {
        collector.push(e);
    }
    for e in reader.finish()? {
        collector.push(e);
    }
    Ok(collector.into_parsed())
}

/// Validates a whole message without keeping file contents. A message that cannot be read at
/// all gives the problems found before that point plus one `unreadable` error.
pub fn validate(bytes: &[u8]) -> Vec<Problem> {
    let mut reader = Reader::new();
    let result = reader.feed(bytes).and_then(|_| reader.finish());
    match result {
        Ok(events) => events
            .into_iter()
            .find_map(|e| match e {
                Event::End(s) => Some(s.problems),
                _ => None,
            })
            .unwrap_or_default(),
        Err(e) => {
            let mut problems = reader.problems().to_vec();
            problems.push(unreadable(&e));
            problems
        }
    }
}

/// A fatal read error as a problem.
pub fn unreadable(e: &ReadError) -> Problem {
    Problem {
        severity: Severity::Error,
        code: Code::Unreadable,
        path: String::new(),
        position: e.position,
        message: e.kind.to_string(),
    }
}
