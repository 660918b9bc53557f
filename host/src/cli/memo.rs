//! `dpost memo …`: validate, show, extract and write MeMo messages.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::json;

use super::Exit;
use crate::bindings::memo_wit as wit;
use crate::keystore::Keystore;
use crate::memo::extract::{Names, create_in};
use crate::memo::json as memo_json;
use crate::memo::spec::{Document, Spec};
use crate::memo::stream::DEFAULT_CHUNK;
use crate::memo::{MemoError, ReadOutcome, read_stream};
use crate::ngdp::batch;
use crate::runtime::{Runtime, RuntimeOptions};

/// MeMo commands.
#[derive(Debug, Subcommand)]
pub enum MemoCommand {
    /// Check MeMo files against MeMo 1.1/1.2. Prints each problem as FILE:LINE:COL: PATH:
    /// message (FILE!MEMBER:LINE:COL: ... for a member of a `.tar.lzma` batch). Exits 0 when all are valid, 1 when one is invalid, 2 when one cannot be read
    /// or is not XML.
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
    /// message's into DIR/<member-stem>/). Names are made safe and unique; nothing is written
    /// outside the folder and nothing is overwritten.
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
            let result = open(file).and_then(|source| {
                batch::for_each_member(source, |member, reader| {
                    let outcome = read_stream(&mut instance, reader, DEFAULT_CHUNK, |_| Ok(()))
                        .map_err(anyhow::Error::from);
                    report(
                        &format!("{name}!{member}"),
                        outcome,
                        json,
                        &mut exit,
                        &mut reports,
                    );
                    Ok(())
                })
                .map_err(anyhow::Error::from)
            });
            if let Err(e) = result {
                report(&name, Err(e), json, &mut exit, &mut reports);
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
        report(&name, outcome, json, &mut exit, &mut reports);
    }
    if json {
        println!("{}", serde_json::Value::Array(reports));
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
) {
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
                    println!(
                        "{name}:{}:{}: {}: {}: {}",
                        p.line,
                        p.column,
                        p.path,
                        crate::memo::json::wit_name(&p.severity),
                        p.message
                    );
                }
            }
        }
        Err(e) => {
            *exit = Exit::Error;
            let (line, column, message) = match e.downcast_ref::<MemoError>() {
                Some(MemoError::NotMemo {
                    line,
                    column,
                    message,
                    ..
                }) => (*line, *column, message.clone()),
                _ => (0, 0, format!("{e:#}")),
            };
            if json {
                reports.push(json!({ "file": name, "valid": false, "error": { "line": line, "column": column, "message": message } }));
            } else if line > 0 {
                println!("{name}:{line}:{column}: error: {message}");
            } else {
                println!("{name}: error: {message}");
            }
        }
    }
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
        println!(
            "{}",
            json!({
                "file": file.display().to_string(), "header": memo_json::header(&header), "created": created,
                "documents": documents, "problems": memo_json::problems(&outcome.summary.problems),
                "valid": outcome.is_valid(),
            })
        );
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
    println!("MeMo {version} {kind} {}", header.message_uuid);
    println!("label:        {}", header.label);
    if let Some(n) = &header.notification {
        println!("notification: {n}");
    }
    let s = &header.sender;
    println!(
        "sender:       {}",
        party(&s.id_type, &s.sender_id, Some(&s.label))
    );
    let r = &header.recipient;
    println!(
        "recipient:    {}",
        party(&r.id_type, &r.recipient_id, r.label.as_deref())
    );
    if let Some(cp) = r.contact_point.as_ref() {
        println!("contact point: {}", cp.contact_point_id);
    }
    for reply in &header.reply_data {
        println!("reply to:     {}", reply.message_uuid);
    }
    if let Some(c) = &created {
        println!("created:      {c}");
    }
    for d in &documents {
        let kind = match d.kind {
            wit::DocumentKind::Main => "main",
            wit::DocumentKind::Additional => "additional",
            wit::DocumentKind::Technical => "technical",
        };
        println!(
            "{kind} document{}",
            d.label
                .as_ref()
                .map(|l| format!(": {l}"))
                .unwrap_or_default()
        );
        for f in &d.files {
            println!(
                "  {}  {}  {}  {} bytes",
                f.filename, f.encoding_format, f.language, f.size
            );
        }
    }
    let errors = outcome
        .summary
        .problems
        .iter()
        .filter(|p| p.severity == wit::Severity::Error)
        .count();
    let warnings = outcome.summary.problems.len() - errors;
    println!("problems:     {errors} errors, {warnings} warnings (dpost memo validate lists them)");
    Ok(Exit::Ok)
}

fn extract(file: &Path, out: &Path, json: bool) -> anyhow::Result<Exit> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let runtime = runtime()?;
    let mut instance = runtime.instantiate(Keystore::new())?;
    let mut written: Vec<(PathBuf, u64)> = Vec::new();
    if batch::is_batch(file) {
        // A batch: each member's files into OUT/<member-stem>/, streamed.
        let mut stems = Names::default();
        batch::for_each_member(open(file)?, |member, reader| {
            let stem = stems.unique(batch::member_stem(member));
            let dir = create_dir_in(out, &stem)?;
            written.extend(
                extract_from(&mut instance, reader, &dir)
                    .with_context(|| format!("{}!{member}", file.display()))?,
            );
            Ok(())
        })
        .map_err(anyhow::Error::from)
        .with_context(|| file.display().to_string())?;
    } else {
        written = extract_from(&mut instance, open(file)?, out)
            .with_context(|| file.display().to_string())?;
    }
    if json {
        let files: Vec<_> = written
            .iter()
            .map(|(p, s)| json!({ "path": p.display().to_string(), "size": s }))
            .collect();
        println!(
            "{}",
            json!({ "file": file.display().to_string(), "written": files })
        );
    } else {
        for (path, size) in &written {
            println!("{}  {size} bytes", path.display());
        }
    }
    Ok(Exit::Ok)
}

/// A fresh folder `name` (made safe by [`Names`]) inside `out`; never an existing one.
fn create_dir_in(out: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let dir = out.join(name);
    std::fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Every file of the message read from `source`, decoded into `out`.
fn extract_from(
    instance: &mut crate::runtime::Instance,
    source: impl std::io::Read,
    out: &Path,
) -> anyhow::Result<Vec<(PathBuf, u64)>> {
    let mut names = Names::default();
    let mut current: Option<(BufWriter<File>, PathBuf)> = None;
    let mut written: Vec<(PathBuf, u64)> = Vec::new();
    let result = read_stream(instance, source, DEFAULT_CHUNK, |event| {
        match event {
            wit::Event::FileStart(f) => {
                let name = names.unique(&f.filename);
                let (handle, path) = create_in(out, &name)
                    .with_context(|| format!("cannot create {}", out.join(&name).display()))?;
                current = Some((BufWriter::new(handle), path));
            }
            wit::Event::FileData(bytes) => {
                if let Some((w, path)) = current.as_mut() {
                    w.write_all(&bytes)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                }
            }
            wit::Event::FileEnd(size) => {
                if let Some((mut w, path)) = current.take() {
                    w.flush()
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    written.push((path, size));
                }
            }
            _ => {}
        }
        Ok(())
    });
    if let Err(e) = result {
        // A file cut off mid-way would look complete to whoever opens it.
        if let Some((_, path)) = current.take() {
            let _ = std::fs::remove_file(&path);
        }
        return Err(anyhow::Error::from(e));
    }
    Ok(written)
}

fn new(spec_path: &Path, files: &[PathBuf], output: &Path) -> anyhow::Result<Exit> {
    Ok(match write_from_spec(spec_path, files, output)? {
        Some(uuid) => {
            println!("{uuid}");
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
    let header = spec.header(spec_path, uuid::Uuid::new_v4().to_string())?;
    let created = match &spec.created {
        Some(c) => c.clone(),
        None => humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
    };
    let runtime = runtime()?;
    let mut instance = runtime.instantiate(Keystore::new())?;
    // Write beside the target and rename, so a failed run never leaves half a message.
    let tmp = output.with_extension("xml.partial");
    let out = BufWriter::new(
        File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?,
    );
    let write = || -> anyhow::Result<()> {
        let documents = files
            .iter()
            .map(|path| {
                let filename = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .map(str::to_owned)
                    .with_context(|| {
                        format!(
                            "{} has no file name that can go in a message",
                            path.display()
                        )
                    })?;
                Ok(Document {
                    filename,
                    path: path.clone(),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        spec.write(&mut instance, &header, &created, &documents, out)?;
        Ok(())
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The writer keeps MeMo's structure; the validator checks every value rule too.
    let mut check = runtime.instantiate(Keystore::new())?;
    let outcome = read_stream(&mut check, open(&tmp)?, DEFAULT_CHUNK, |_| Ok(()))?;
    for p in &outcome.summary.problems {
        eprintln!(
            "{}:{}:{}: {}: {}: {}",
            spec_path.display(),
            p.line,
            p.column,
            p.path,
            crate::memo::json::wit_name(&p.severity),
            p.message
        );
    }
    if !outcome.is_valid() {
        let _ = std::fs::remove_file(&tmp);
        eprintln!("error: the message would be invalid; nothing written");
        return Ok(None);
    }
    std::fs::rename(&tmp, output).with_context(|| format!("cannot write {}", output.display()))?;
    Ok(Some(header.message_uuid))
}
