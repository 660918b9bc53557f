//! Reading a generated message through the component (as `dpost serve`, `memo show` and
//! `memo extract` do) and judging the reader's answer against the oracle.

use dpost::bindings::memo_wit as wit;
use dpost::memo::{MemoError, read_stream};
use dpost::runtime::Instance;
use sha2::{Digest as _, Sha256};

use super::document::Node;
use super::facets::Expected;
use super::valid::ExpectedFile;

/// A file as the reader handed it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadFile {
    pub filename: String,
    pub encoding_format: String,
    pub language: String,
    pub size: u64,
    pub sha256: String,
}

/// What the reader said about one message.
#[derive(Debug, Default)]
pub struct Reading {
    pub problems: Vec<wit::Problem>,
    /// The reader gave up (not XML / not MeMo): its message.
    pub refused: Option<String>,
    pub header: Option<wit::Header>,
    /// Each document as it started: kind, id, label.
    pub documents: Vec<(wit::DocumentKind, Option<String>, Option<String>)>,
    pub files: Vec<ReadFile>,
}

impl Reading {
    pub fn errors(&self) -> impl Iterator<Item = &wit::Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == wit::Severity::Error)
    }

    pub fn describe(&self) -> String {
        // Warnings are listed by count only: they do not decide a verdict.
        let warnings = self.problems.len() - self.errors().count();
        let mut lines: Vec<String> = self
            .errors()
            .map(|p| {
                format!(
                    "      {}:{} {} {:?} {:?}: {}",
                    p.line, p.column, p.path, p.severity, p.code, p.message
                )
            })
            .collect();
        if let Some(r) = &self.refused {
            lines.push(format!("      refused: {r}"));
        }
        if lines.is_empty() {
            lines.push("      (no errors)".into());
        }
        if warnings > 0 {
            lines.push(format!("      (and {warnings} warnings)"));
        }
        lines.join("\n")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Read `xml` through the component in `chunk`-byte pieces (odd sizes cross element and base64
/// boundaries).
pub fn read(instance: &mut Instance, xml: &[u8], chunk: usize) -> Result<Reading, String> {
    let mut reading = Reading::default();
    let mut current: Option<(wit::FileInfo, Sha256, u64)> = None;
    let mut files = Vec::new();
    let mut header = None;
    let mut documents = Vec::new();
    let outcome = read_stream(instance, xml, chunk, |event| {
        match event {
            wit::Event::Header(h) => header = Some(h),
            wit::Event::DocumentStart(d) => documents.push((d.kind, d.id, d.label)),
            wit::Event::FileStart(info) => current = Some((info, Sha256::new(), 0)),
            wit::Event::FileData(d) => {
                if let Some((_, hash, size)) = current.as_mut() {
                    hash.update(&d);
                    *size += d.len() as u64;
                }
            }
            wit::Event::FileEnd(_) => {
                if let Some((info, hash, size)) = current.take() {
                    files.push(ReadFile {
                        filename: info.filename,
                        encoding_format: info.encoding_format,
                        language: info.language,
                        size,
                        sha256: hex(&hash.finalize()),
                    });
                }
            }
            _ => {}
        }
        Ok(())
    });
    match outcome {
        Ok(o) => reading.problems = o.summary.problems,
        Err(MemoError::NotMemo {
            line,
            column,
            message,
            ..
        }) => {
            reading.refused = Some(format!("{line}:{column}: {message}"));
        }
        Err(e) => return Err(format!("the component failed: {e}")),
    }
    reading.header = header;
    reading.documents = documents;
    reading.files = files;
    Ok(reading)
}

/// Why a valid message's reading is wrong, if it is.
pub fn judge_valid(root: &Node, expected: &[ExpectedFile], reading: &Reading) -> Option<String> {
    let mut wrong = Vec::new();
    if reading.errors().next().is_some() || reading.refused.is_some() {
        wrong.push("rejected".to_string());
    }
    let optional = |path: &str| {
        root.find(path)
            .and_then(|r| root.at(&r).and_then(|n| n.text.clone()))
    };
    match &reading.header {
        None => wrong.push("no header event".into()),
        Some(h) => {
            let version = match h.memo_version {
                wit::MemoVersion::V11 => "1.1",
                wit::MemoVersion::V12 => "1.2",
            };
            let message_type = match h.message_type {
                wit::MessageType::Digitalpost => "DIGITALPOST",
                wit::MessageType::Nemsms => "NEMSMS",
            };
            let version_attribute = root
                .attributes
                .iter()
                .find(|(k, _)| k == "memoVersion")
                .map(|(_, v)| v.as_str());
            let shown: [(&str, Option<&str>, Option<String>); 8] = [
                (
                    "memoVersion",
                    Some(version),
                    version_attribute.map(String::from),
                ),
                (
                    "messageType",
                    Some(message_type),
                    optional("/Message/MessageHeader/messageType"),
                ),
                (
                    "messageUUID",
                    Some(&h.message_uuid),
                    optional("/Message/MessageHeader/messageUUID"),
                ),
                (
                    "label",
                    Some(&h.label),
                    optional("/Message/MessageHeader/label"),
                ),
                (
                    "notification",
                    h.notification.as_deref(),
                    optional("/Message/MessageHeader/notification"),
                ),
                (
                    "senderID",
                    Some(&h.sender.sender_id),
                    optional("/Message/MessageHeader/Sender/senderID"),
                ),
                (
                    "Sender/label",
                    Some(&h.sender.label),
                    optional("/Message/MessageHeader/Sender/label"),
                ),
                (
                    "recipientID",
                    Some(&h.recipient.recipient_id),
                    optional("/Message/MessageHeader/Recipient/recipientID"),
                ),
            ];
            for (what, got, generated) in shown {
                if got != generated.as_deref() {
                    wrong.push(format!("show: {what} {got:?}, generated {generated:?}"));
                }
            }
        }
    }
    let mut documents = Vec::new();
    if let Some(body) = root.children.iter().find(|c| c.name == "MessageBody") {
        for d in &body.children {
            let (kind, id) = match d.name.as_str() {
                "MainDocument" => (wit::DocumentKind::Main, "mainDocumentID"),
                "AdditionalDocument" => (wit::DocumentKind::Additional, "additionalDocumentID"),
                "TechnicalDocument" => (wit::DocumentKind::Technical, "technicalDocumentID"),
                _ => continue,
            };
            let child = |name: &str| {
                d.children
                    .iter()
                    .find(|c| c.name == name)
                    .and_then(|c| c.text.clone())
            };
            documents.push((kind, child(id), child("label")));
        }
    }
    if documents != reading.documents {
        wrong.push(format!(
            "show: documents differ\n        generated: {documents:?}\n        read:      {:?}",
            reading.documents
        ));
    }

    let want: Vec<ReadFile> = expected
        .iter()
        .map(|f| ReadFile {
            filename: f.filename.clone(),
            encoding_format: f.encoding_format.clone(),
            language: f.language.clone(),
            size: f.content.len() as u64,
            sha256: hex(&Sha256::digest(&f.content)),
        })
        .collect();
    if want != reading.files {
        wrong.push(format!(
            "show/extract: files differ\n        generated: {want:?}\n        read:      {:?}",
            reading.files
        ));
    }
    if wrong.is_empty() {
        None
    } else {
        Some(wrong.join("; "))
    }
}

/// Why an invalid message's reading is wrong, if it is: accepted, or rejected without an error
/// naming one of the expected paths on the expected line.
pub fn judge_invalid(root: &Node, expected: &[Expected], reading: &Reading) -> Option<String> {
    let wanted: Vec<(Vec<String>, u32)> = expected
        .iter()
        .map(|e| {
            (
                e.paths.clone(),
                root.at(&e.route).map(|n| n.line).unwrap_or(0),
            )
        })
        .collect();
    let named = reading.errors().any(|p| {
        wanted
            .iter()
            .any(|(paths, line)| p.line == *line && paths.contains(&p.path))
    });
    if named {
        return None;
    }
    let want = wanted
        .iter()
        .map(|(paths, line)| format!("{} at line {line}", paths.join(" or ")))
        .collect::<Vec<_>>()
        .join(", or ");
    if reading.errors().next().is_none() && reading.refused.is_none() {
        Some(format!("accepted; wanted an error: {want}"))
    } else {
        Some(format!("rejected, but no error names {want}"))
    }
}
