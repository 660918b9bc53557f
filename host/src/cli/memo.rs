//! `dpost memo …`: validate, show, extract and write MeMo messages.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::json;

use super::Exit;
use crate::bindings::memo_wit as wit;
use crate::keystore::Keystore;
use crate::memo::extract::{Extraction, Names};
use crate::memo::json as memo_json;
use crate::memo::origin::{Counting, Origin, document_at, origin};
use crate::memo::spec::{Document, Spec};
use crate::memo::stream::DEFAULT_CHUNK;
use crate::memo::{MemoError, ReadOutcome, read_stream};
use crate::ngdp::batch;
use crate::runtime::{Runtime, RuntimeOptions};
use dpost_guest::memo::tokenizer::is_xml_char;

/// MeMo commands.
#[derive(Debug, Subcommand)]
pub enum MemoCommand {
    /// Check MeMo files against MeMo 1.1/1.2. Prints each problem as FILE:LINE:COL: PATH:
    /// message (FILE!MEMBER:LINE:COL: ... for a member of a `.tar.lzma` batch). Exits 0 when all are valid, 1 when one is invalid, 2 when one cannot be read
    /// or is not XML (a well-formed document that is not a MeMo `Message` is invalid: 1).
    Validate {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print JSON: one object per file with its problems.
        #[arg(long)]
        json: bool,
    },
    /// Show a message's header and its documents and files (name, type, size), without the
    /// content.
    Show {
        /// The file.
        file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write every file's decoded content into a folder (for a `.tar.lzma` batch, each
    /// message's into DIR/<member-stem>/). Names are made safe and unique, also against what
    /// the folder already holds (name (2).pdf, ...); nothing is written outside the folder and
    /// nothing is overwritten or written through a link. All or nothing: a message whose
    /// content does not decode is refused (exit 1), one cut off is unreadable (exit 2), and
    /// then none of its files is left behind.
    Extract {
        /// The MeMo file.
        file: PathBuf,
        /// The folder (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Build a message from a TOML description and files: the first file is the main document,
    /// the others are additional documents.
    New {
        /// The description (version, label, sender, recipient, ...); see docs/memo.md.
        #[arg(long, value_name = "FILE.toml")]
        spec: PathBuf,
        /// A file to send; repeat for attachments.
        #[arg(long = "file", value_name = "PATH", required = true)]
        files: Vec<PathBuf>,
        /// Where to write the message.
        #[arg(short, long, value_name = "OUT.xml")]
        output: PathBuf,
    },
}

fn runtime() -> anyhow::Result<Runtime> {
    Runtime::new(RuntimeOptions::default())
}

fn open(path: &Path) -> anyhow::Result<BufReader<File>> {
    Ok(BufReader::new(File::open(path).with_context(|| {
        format!("cannot read {}", path.display())
    })?))
}

impl MemoCommand {
    pub fn run(self) -> anyhow::Result<Exit> {
        match self {
            MemoCommand::Validate { files, json } => validate(&files, json),
            MemoCommand::Show { file, json } => show(&file, json),
            MemoCommand::Extract { file, out, json } => extract(&file, &out, json),
            MemoCommand::New {
                spec,
                files,
                output,
            } => new(&spec, &files, &output),
        }
    }
}

fn validate(files: &[PathBuf], json: bool) -> anyhow::Result<Exit> {
    let runtime = runtime()?;
    let mut exit = Exit::Ok;
    let mut reports = Vec::new();
    for file in files {
        let name = file.display().to_string();
        if batch::is_batch(file) {
            // A batch: every member validated, streamed, reported as FILE!MEMBER.
            let mut instance = runtime.instantiate(Keystore::new())?;
            let mut printed = Ok(());
            let result = open(file).and_then(|source| {
                batch::for_each_member(source, |member, reader| {
                    let outcome = read_stream(&mut instance, reader, DEFAULT_CHUNK, |_| Ok(()))
                        .map_err(anyhow::Error::from);
                    printed = report(
                        &format!("{name}!{member}"),
                        outcome,
                        json,
                        &mut exit,
                        &mut reports,
                    );
                    // Stop at the first report that could not be printed; `printed` says why.
                    anyhow::ensure!(printed.is_ok(), "standard output failed");
                    Ok(())
                })
                .map_err(anyhow::Error::from)
            });
            printed?;
            if let Err(e) = result {
                report(&name, Err(e), json, &mut exit, &mut reports)?;
            }
            continue;
        }
        let outcome = match open(file) {
            Ok(source) => {
                let mut instance = runtime.instantiate(Keystore::new())?;
                read_stream(&mut instance, source, DEFAULT_CHUNK, |_| Ok(()))
                    .map_err(anyhow::Error::from)
            }
            Err(e) => Err(e),
        };
        report(&name, outcome, json, &mut exit, &mut reports)?;
    }
    if json {
        outln!("{}", serde_json::Value::Array(reports))?;
    }
    Ok(exit)
}

/// One message's validation, printed (or added to the JSON reports).
fn report(
    name: &str,
    outcome: anyhow::Result<ReadOutcome>,
    json: bool,
    exit: &mut Exit,
    reports: &mut Vec<serde_json::Value>,
) -> anyhow::Result<()> {
    match outcome {
        Ok(ReadOutcome { summary, .. }) => {
            let valid = !summary
                .problems
                .iter()
                .any(|p| p.severity == wit::Severity::Error);
            if !valid && *exit == Exit::Ok {
                *exit = Exit::CheckFailed;
            }
            if json {
                reports.push(json!({ "file": name, "valid": valid, "problems": memo_json::problems(&summary.problems) }));
            } else {
                for p in &summary.problems {
                    outln!(
                        "{name}:{}:{}: {}: {}: {}",
                        p.line,
                        p.column,
                        p.path,
                        crate::memo::json::wit_name(&p.severity),
                        p.message
                    )?;
                }
            }
        }
        Err(e) => {
            let (line, column, message) = match e.downcast_ref::<MemoError>() {
                Some(MemoError::NotMemo {
                    line,
                    column,
                    message,
                    kind,
                }) => {
                    // Well-formed XML whose root is not MeMo's Message was read and judged:
                    // it is an invalid message (1), not an unreadable file (2).
                    if matches!(kind, wit::ReadErrorKind::NotMemo(_)) {
                        if *exit == Exit::Ok {
                            *exit = Exit::CheckFailed;
                        }
                    } else {
                        *exit = Exit::Error;
                    }
                    (*line, *column, message.clone())
                }
                _ => {
                    *exit = Exit::Error;
                    (0, 0, crate::error_text::of(&e))
                }
            };
            if json {
                reports.push(json!({ "file": name, "valid": false, "error": { "line": line, "column": column, "message": message } }));
            } else if line > 0 {
                outln!("{name}:{line}:{column}: error: {message}")?;
            } else {
                outln!("{name}: error: {message}")?;
            }
        }
    }
    Ok(())
}

/// A document and its files as `show` lists them.
#[derive(Debug, serde::Serialize)]
struct ShownDocument {
    #[serde(serialize_with = "as_wit_name")]
    kind: wit::DocumentKind,
    id: Option<String>,
    label: Option<String>,
    files: Vec<ShownFile>,
}

fn as_wit_name<S: serde::Serializer>(v: &wit::DocumentKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&memo_json::wit_name(v))
}

#[derive(Debug, serde::Serialize)]
struct ShownFile {
    filename: String,
    encoding_format: String,
    language: String,
    size: u64,
}

fn show(file: &Path, json: bool) -> anyhow::Result<Exit> {
    let runtime = runtime()?;
    let mut instance = runtime.instantiate(Keystore::new())?;
    let mut header = None;
    let mut created = None;
    let mut documents: Vec<ShownDocument> = Vec::new();
    let outcome = read_stream(&mut instance, open(file)?, DEFAULT_CHUNK, |event| {
        match event {
            wit::Event::Header(h) => header = Some(h),
            wit::Event::BodyStart(c) => created = Some(c),
            wit::Event::DocumentStart(d) => documents.push(ShownDocument {
                kind: d.kind,
                id: d.id,
                label: d.label,
                files: Vec::new(),
            }),
            wit::Event::FileStart(f) => {
                if let Some(d) = documents.last_mut() {
                    d.files.push(ShownFile {
                        filename: f.filename,
                        encoding_format: f.encoding_format,
                        language: f.language,
                        size: 0,
                    });
                }
            }
            wit::Event::FileEnd(size) => {
                if let Some(f) = documents.last_mut().and_then(|d| d.files.last_mut()) {
                    f.size = size;
                }
            }
            _ => {}
        }
        Ok(())
    })
    .with_context(|| file.display().to_string())?;
    let header = header.context("the message has no header")?;
    if json {
        outln!(
            "{}",
            json!({
                "file": file.display().to_string(), "header": memo_json::header(&header), "created": created,
                "documents": documents, "problems": memo_json::problems(&outcome.summary.problems),
                "valid": outcome.is_valid(),
            })
        )?;
        return Ok(Exit::Ok);
    }
    let party = |id_type: &str, id: &str, label: Option<&str>| match label {
        Some(l) => format!("{id_type} {id} ({l})"),
        None => format!("{id_type} {id}"),
    };
    let version = match header.memo_version {
        wit::MemoVersion::V11 => "1.1",
        wit::MemoVersion::V12 => "1.2",
    };
    let kind = match header.message_type {
        wit::MessageType::Digitalpost => "DIGITALPOST",
        wit::MessageType::Nemsms => "NEMSMS",
    };
    outln!("MeMo {version} {kind} {}", header.message_uuid)?;
    outln!("label:        {}", header.label)?;
    if let Some(n) = &header.notification {
        outln!("notification: {n}")?;
    }
    let s = &header.sender;
    outln!(
        "sender:       {}",
        party(&s.id_type, &s.sender_id, Some(&s.label))
    )?;
    let r = &header.recipient;
    outln!(
        "recipient:    {}",
        party(&r.id_type, &r.recipient_id, r.label.as_deref())
    )?;
    if let Some(cp) = r.contact_point.as_ref() {
        outln!("contact point: {}", cp.contact_point_id)?;
    }
    for reply in &header.reply_data {
        outln!("reply to:     {}", reply.message_uuid)?;
    }
    if let Some(c) = &created {
        outln!("created:      {c}")?;
    }
    for d in &documents {
        let kind = match d.kind {
            wit::DocumentKind::Main => "main",
            wit::DocumentKind::Additional => "additional",
            wit::DocumentKind::Technical => "technical",
        };
        outln!(
            "{kind} document{}",
            d.label
                .as_ref()
                .map(|l| format!(": {l}"))
                .unwrap_or_default()
        )?;
        for f in &d.files {
            outln!(
                "  {}  {}  {}  {} bytes",
                f.filename,
                f.encoding_format,
                f.language,
                f.size
            )?;
        }
    }
    let errors = outcome
        .summary
        .problems
        .iter()
        .filter(|p| p.severity == wit::Severity::Error)
        .count();
    let warnings = outcome.summary.problems.len() - errors;
    outln!("problems:     {errors} errors, {warnings} warnings (dpost memo validate lists them)")?;
    Ok(Exit::Ok)
}

fn extract(file: &Path, out: &Path, json: bool) -> anyhow::Result<Exit> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let runtime = runtime()?;
    let mut instance = runtime.instantiate(Keystore::new())?;
    let mut written: Vec<(PathBuf, u64)> = Vec::new();
    let mut refused: Vec<(String, Vec<wit::Problem>)> = Vec::new();
    let name = file.display().to_string();
    if batch::is_batch(file) {
        // A batch: each member's files into OUT/<member-stem>/, streamed.
        let mut stems = Names::default();
        batch::for_each_member(open(file)?, |member, reader| {
            let dir = stems
                .create_dir(out, batch::member_stem(member))
                .with_context(|| format!("cannot create a folder in {}", out.display()))?;
            let extracted = extract_from(&mut instance, reader, &dir);
            match extracted {
                Ok(Extracted::Written(files)) => written.extend(files),
                Ok(Extracted::Refused(problems)) => {
                    // Nothing of this member was written: its folder goes too.
                    let _ = std::fs::remove_dir(&dir);
                    refused.push((format!("{name}!{member}"), problems));
                }
                Err(e) => {
                    let _ = std::fs::remove_dir(&dir);
                    return Err(e.context(format!("{name}!{member}")));
                }
            }
            Ok(())
        })
        .map_err(anyhow::Error::from)
        .with_context(|| name.clone())?;
    } else {
        match extract_from(&mut instance, open(file)?, out).with_context(|| name.clone())? {
            Extracted::Written(files) => written = files,
            Extracted::Refused(problems) => refused.push((name.clone(), problems)),
        }
    }
    for (message, problems) in &refused {
        for p in problems {
            errln!(
                "{message}:{}:{}: {}: error: {}",
                p.line,
                p.column,
                p.path,
                p.message
            );
        }
        errln!(
            "error: {message}: a file's content is broken; nothing of this message was extracted"
        );
    }
    if json {
        let files: Vec<_> = written
            .iter()
            .map(|(p, s)| json!({ "path": p.display().to_string(), "size": s }))
            .collect();
        let refused: Vec<_> = refused
            .iter()
            .map(|(m, ps)| json!({ "message": m, "problems": memo_json::problems(ps) }))
            .collect();
        outln!(
            "{}",
            json!({ "file": name, "written": files, "refused": refused })
        )?;
    } else {
        for (path, size) in &written {
            outln!("{}  {size} bytes", path.display())?;
        }
    }
    Ok(if refused.is_empty() {
        Exit::Ok
    } else {
        Exit::CheckFailed
    })
}

/// What reading one message into a folder came to.
enum Extracted {
    /// Every file, moved into place: its path and size.
    Written(Vec<(PathBuf, u64)>),
    /// A file's content does not decode (these problems say where); nothing was left behind.
    Refused(Vec<wit::Problem>),
}

/// Every file of the message read from `source`, decoded into `out`, all or nothing: files
/// are moved into place only when the whole message was read and every content decoded. A
/// message cut off mid-way is an error, and what it wrote is removed.
fn extract_from(
    instance: &mut crate::runtime::Instance,
    source: impl std::io::Read,
    out: &Path,
) -> anyhow::Result<Extracted> {
    let mut extraction = Extraction::new(out);
    let outcome = read_stream(instance, source, DEFAULT_CHUNK, |event| {
        match event {
            wit::Event::FileStart(f) => extraction.begin_file(&f.filename)?,
            wit::Event::FileData(bytes) => extraction.write(&bytes)?,
            wit::Event::FileEnd(_) => extraction.end_file()?,
            _ => {}
        }
        Ok(())
    })?;
    // What validate calls an error in a content: a file that would be written cut short or
    // wrongly decoded. Other problems (a header rule) do not make the files wrong.
    let broken: Vec<wit::Problem> = outcome
        .summary
        .problems
        .into_iter()
        .filter(|p| p.code == wit::ProblemCode::InvalidBase64)
        .collect();
    if !broken.is_empty() {
        return Ok(Extracted::Refused(broken));
    }
    Ok(Extracted::Written(extraction.commit()?))
}

fn new(spec_path: &Path, files: &[PathBuf], output: &Path) -> anyhow::Result<Exit> {
    Ok(match write_from_spec(spec_path, files, output)? {
        Some(uuid) => {
            outln!("{uuid}")?;
            Exit::Ok
        }
        None => Exit::CheckFailed,
    })
}

/// Build a message from a spec and files into `output` through the component's writer, and
/// check it with the validator. Returns its messageUUID, or `None` (problems on standard
/// error, nothing written) when it would be invalid. Shared by `memo new` and `ngdp send
/// --spec`.
pub(super) fn write_from_spec(
    spec_path: &Path,
    files: &[PathBuf],
    output: &Path,
) -> anyhow::Result<Option<String>> {
    let text = std::fs::read_to_string(spec_path)
        .with_context(|| format!("cannot read {}", spec_path.display()))?;
    let spec = Spec::parse(spec_path, &text)?;
    spec.check_characters(spec_path)?;
    let header = spec.header(spec_path, uuid::Uuid::new_v4().to_string())?;
    let created = match &spec.created {
        Some(c) => c.clone(),
        None => humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
    };
    let runtime = runtime()?;
    let mut instance = runtime.instantiate(Keystore::new())?;
    // Write beside the target and rename, so a failed run never leaves half a message.
    let tmp = output.with_extension("xml.partial");
    let out = Counting::new(BufWriter::new(
        File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?,
    ));
    // Where each document begins in the XML, to tell which --file a problem is about.
    let mut starts: Vec<(u32, u32)> = Vec::new();
    let write = || -> anyhow::Result<()> {
        let mut documents = Vec::with_capacity(files.len());
        for path in files {
            let filename = path
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_owned)
                .with_context(|| {
                    format!(
                        "--file {}: has no file name that can go in a message",
                        path.display()
                    )
                })?;
            if let Some(c) = filename.chars().find(|&c| !is_xml_char(c)) {
                anyhow::bail!(
                    "--file {}: the name contains U+{:04X}, a character an XML message cannot carry",
                    path.display(),
                    c as u32
                );
            }
            documents.push(Document {
                filename,
                path: path.clone(),
            });
        }
        let written = spec.write(
            &mut instance,
            (&header, &created),
            &documents,
            out,
            |_, writer| starts.push(writer.output().map_or((0, 0), Counting::position)),
        );
        // Past the header, a refusal concerns the document being written: its --file.
        if let Err(e) = written {
            return Err(
                match starts.len().checked_sub(1).and_then(|i| files.get(i)) {
                    Some(path) => {
                        anyhow::Error::new(e).context(format!("--file {}", path.display()))
                    }
                    None => e.into(),
                },
            );
        }
        Ok(())
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The writer keeps MeMo's structure; the validator checks every value rule too.
    let mut check = runtime.instantiate(Keystore::new())?;
    let outcome = read_stream(&mut check, open(&tmp)?, DEFAULT_CHUNK, |_| Ok(()))?;
    // Each problem told as what the person wrote: a spec key or a --file; once, though the
    // same key (language) goes into every file.
    let mut told: Vec<String> = Vec::new();
    for p in &outcome.summary.problems {
        let document = document_at(&starts, (p.line, p.column));
        let source = match origin(&p.path, document) {
            Origin::Key(key) => format!("{}: {key}", spec_path.display()),
            Origin::File(i) => match files.get(i) {
                Some(f) => format!("--file {}", f.display()),
                None => format!("{}: {}", spec_path.display(), p.path),
            },
            Origin::Message => format!("{}: {}", spec_path.display(), p.path),
        };
        let line = format!(
            "{source}: {}: {}",
            crate::memo::json::wit_name(&p.severity),
            p.message
        );
        if !told.contains(&line) {
            errln!("{line}");
            told.push(line);
        }
    }
    if !outcome.is_valid() {
        let _ = std::fs::remove_file(&tmp);
        errln!("error: the message would be invalid; nothing written");
        return Ok(None);
    }
    std::fs::rename(&tmp, output).with_context(|| format!("cannot write {}", output.display()))?;
    Ok(Some(header.message_uuid))
}
