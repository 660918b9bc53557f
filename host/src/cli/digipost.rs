//! `dpost digipost …`: Digipost request signing, response verification and 403 diagnosis.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde_json::json;

use super::Exit;
use super::input::{now_unix, parse_header, parse_time, read_file};
use crate::digipost::explain;
use crate::digipost::signing::{self as dsign, Body, DigipostError, Header, Request, Response};
use crate::keystore::{Keystore, PasswordSource, PrivateKey};
use crate::runtime::{Instance, Runtime, RuntimeOptions};

/// The name the CLI holds its one key under in the component's keystore.
const CLI_KEY: &str = "cli";

/// Bodies up to this size are handed to the component to hash; larger ones are hashed by the
/// host while streaming from disk and only the digest crosses (the guest's memory is capped).
const MAX_BODY_INTO_GUEST: u64 = 16 << 20;

/// Digipost commands.
#[derive(Debug, Subcommand)]
pub enum DigipostCommand {
    /// Read an organisation's inbox: list, download, delete.
    #[command(subcommand)]
    Inbox(super::inbox::InboxCommand),
    /// Archive the inbox into the store the configuration names (and optionally delete what
    /// is archived); the configuration file must exist.
    Sync(super::inbox::SyncArgs),
    /// The archive `sync` filled: list it, export documents to a folder.
    #[command(subcommand)]
    Archive(super::digipost_archive::ArchiveCommand),
    /// Print the headers that sign a request: Date, X-Digipost-UserId, X-Content-SHA256 (with
    /// --body) and X-Digipost-Signature, one `Name: value` per line.
    Sign {
        #[command(flatten)]
        key: KeyArgs,
        #[command(flatten)]
        request: RequestArgs,
        /// First print the canonical string that is signed, each newline shown as `\n`.
        #[arg(long)]
        explain: bool,
        /// Print JSON ({"canonical", "headers"}) instead of header lines.
        #[arg(long)]
        json: bool,
    },
    /// Verify a Digipost response's signature, body hash and date. Exits 0 when it verifies,
    /// 1 with the reason when it does not.
    VerifyResponse {
        /// The server certificate (PEM or DER), as the API entrypoint publishes it.
        #[arg(long, value_name = "FILE")]
        cert: PathBuf,
        /// The response's HTTP status.
        #[arg(long)]
        status: u16,
        /// The path of the request the response answers.
        #[arg(long)]
        path: String,
        /// A response header, `Name: value`; repeat for each (Date, X-Digipost-Signature,
        /// X-Content-SHA256).
        #[arg(long = "header", value_name = "NAME: VALUE")]
        headers: Vec<String>,
        /// The response body, if it had one.
        #[arg(long, value_name = "FILE")]
        body: Option<PathBuf>,
        /// The time to check the Date against (RFC 3339 UTC or Unix seconds); default now.
        #[arg(long, value_name = "TIME")]
        now: Option<String>,
        /// Print JSON ({"verified", "error", "canonical"}).
        #[arg(long)]
        json: bool,
    },
    /// Show the canonical string from a Digipost 403 error body beside the one dpost signs for
    /// the same request (given with the same flags as `sign`), marking the first line that
    /// differs. Exits 0 when they match, 1 when they differ.
    #[command(name = "explain-403")]
    Explain403 {
        /// The 403 response body (the XML error), saved to a file.
        file: PathBuf,
        #[command(flatten)]
        request: RequestArgs,
        /// Print JSON instead of the side-by-side view.
        #[arg(long)]
        json: bool,
    },
}

/// Where the signing key comes from.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// The private key: PKCS#12 (.p12/.pfx) or PEM (PKCS#8/PKCS#1 key, optionally with its
    /// certificate).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Read the key's password from this environment variable.
    #[arg(long, value_name = "VAR", conflicts_with = "password_file")]
    password_env: Option<String>,
    /// Read the key's password from this file (a trailing newline is ignored).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
}

impl KeyArgs {
    fn password(&self) -> PasswordSource {
        match (&self.password_env, &self.password_file) {
            (Some(var), _) => PasswordSource::Env(var.clone()),
            (None, Some(file)) => PasswordSource::File(file.clone()),
            (None, None) => PasswordSource::None,
        }
    }

    fn load(&self) -> anyhow::Result<Keystore> {
        let key = PrivateKey::load(&self.key, &self.password())?;
        tracing::debug!(?key, "loaded signing key");
        let mut keystore = Keystore::new();
        keystore.insert(CLI_KEY, key);
        Ok(keystore)
    }
}

/// The request to sign.
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// The broker id (X-Digipost-UserId).
    #[arg(long, value_name = "ID")]
    user_id: String,
    /// The HTTP method.
    #[arg(long, value_name = "METHOD")]
    method: String,
    /// The request URL, or its path and query (`/1000/inbox?offset=0&limit=100`).
    #[arg(long, value_name = "URL")]
    url: String,
    /// The Date header to sign, RFC 1123 (`Wed, 29 Jun 2016 14:58:11 GMT`); default now.
    #[arg(long, value_name = "DATE")]
    date: Option<String>,
    /// The request body; without it the request is signed as having none.
    #[arg(long, value_name = "FILE")]
    body: Option<PathBuf>,
}

/// A body read for signing: the bytes when small, else the host-computed digest.
enum BodyInput {
    Bytes(Vec<u8>),
    Digest(String),
}

impl BodyInput {
    fn read(path: &PathBuf) -> anyhow::Result<Self> {
        let len = std::fs::metadata(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .len();
        if len <= MAX_BODY_INTO_GUEST {
            return Ok(BodyInput::Bytes(read_file(path)?));
        }
        use base64::Engine as _;
        use sha2::Digest as _;
        let mut file =
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut hasher = sha2::Sha256::new();
        std::io::copy(&mut file, &mut hasher)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Ok(BodyInput::Digest(
            base64::engine::general_purpose::STANDARD.encode(hasher.finalize()),
        ))
    }

    fn as_wit(&self) -> Body {
        match self {
            BodyInput::Bytes(b) => Body::Bytes(b.clone()),
            BodyInput::Digest(d) => Body::Sha256Base64(d.clone()),
        }
    }
}

impl RequestArgs {
    fn build(&self, instance: &mut Instance) -> anyhow::Result<Request> {
        let date = match &self.date {
            Some(d) => d.clone(),
            None => dsign::format_date(instance, now_unix())?,
        };
        let body = self.body.as_ref().map(BodyInput::read).transpose()?;
        Ok(Request {
            method: self.method.clone(),
            target: self.url.clone(),
            date,
            user_id: self.user_id.clone(),
            body: body.as_ref().map(BodyInput::as_wit),
        })
    }
}

/// Show a canonical string on one line with its newlines as `\n`.
fn visible(canonical: &str) -> String {
    canonical.replace('\r', "\\r").replace('\n', "\\n")
}

impl DigipostCommand {
    pub fn run(self) -> anyhow::Result<Exit> {
        let this = match self {
            DigipostCommand::Inbox(cmd) => return cmd.run(),
            DigipostCommand::Sync(args) => return args.run(),
            DigipostCommand::Archive(cmd) => return cmd.run(),
            other => other,
        };
        let runtime = Runtime::new(RuntimeOptions::default())?;
        match this {
            DigipostCommand::Sign {
                key,
                request,
                explain,
                json,
            } => {
                let mut instance = runtime.instantiate(key.load()?)?;
                let req = request.build(&mut instance)?;
                let signed = dsign::sign_request(&mut instance, &req, CLI_KEY)?;
                if json {
                    let headers: serde_json::Map<_, _> = signed
                        .headers
                        .iter()
                        .map(|h| (h.name.clone(), json!(h.value)))
                        .collect();
                    outln!(
                        "{}",
                        json!({ "canonical": signed.canonical, "headers": headers })
                    )?;
                } else {
                    if explain {
                        outln!("{}", visible(&signed.canonical))?;
                        outln!()?;
                    }
                    for Header { name, value } in &signed.headers {
                        outln!("{name}: {value}")?;
                    }
                }
                Ok(Exit::Ok)
            }
            DigipostCommand::VerifyResponse {
                cert,
                status,
                path,
                headers,
                body,
                now,
                json,
            } => {
                let certificate = read_file(&cert)?;
                let headers = headers
                    .iter()
                    .map(|h| parse_header(h).map(|(name, value)| Header { name, value }))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let body = body.as_ref().map(BodyInput::read).transpose()?;
                let now = now
                    .as_deref()
                    .map(parse_time)
                    .transpose()?
                    .unwrap_or_else(now_unix);
                let resp = Response {
                    status,
                    request_path: path,
                    headers,
                    body: body.as_ref().map(BodyInput::as_wit),
                };
                let mut instance = runtime.instantiate(Keystore::new())?;
                let canonical = dsign::canonical_response(&mut instance, &resp).ok();
                let verdict = dsign::verify_response(&mut instance, &resp, &certificate, now);
                let verified = verdict.is_ok();
                match verdict {
                    Err(DigipostError::Guest(e)) => return Err(e.into()),
                    Err(DigipostError::Verify(e)) if !json => outln!("response refused: {e}")?,
                    Err(e) if json => outln!(
                        "{}",
                        json!({ "verified": false, "error": e.to_string(), "canonical": canonical })
                    )?,
                    Err(e) => outln!("response refused: {e}")?,
                    Ok(()) if json => {
                        outln!("{}", json!({ "verified": true, "canonical": canonical }))?
                    }
                    Ok(()) => outln!("response verified")?,
                }
                Ok(if verified {
                    Exit::Ok
                } else {
                    Exit::CheckFailed
                })
            }
            DigipostCommand::Inbox(_) | DigipostCommand::Sync(_) | DigipostCommand::Archive(_) => {
                unreachable!("handled above")
            }
            DigipostCommand::Explain403 {
                file,
                request,
                json,
            } => {
                let body = read_file(&file)?;
                let body = String::from_utf8_lossy(&body);
                let mut instance = runtime.instantiate(Keystore::new())?;
                let server = dsign::server_canonical_from_error(&mut instance, &body)?.with_context(|| {
                    format!("{} holds no ===START=== ... ===SLUTT=== section; is it the body of a Digipost 403?", file.display())
                })?;
                let req = request.build(&mut instance)?;
                let ours = dsign::canonical_request(&mut instance, &req)?;
                let cmp = explain::compare(&server, &ours);
                if json {
                    outln!(
                        "{}",
                        json!({
                            "server": server, "dpost": ours, "identical": cmp.first_difference.is_none(),
                            "first_difference_line": cmp.first_difference.map(|i| i + 1),
                            "hint": cmp.first_difference.map(|i| explain::hint(&cmp.rows[i], i)),
                        })
                    )?;
                } else {
                    print_side_by_side(&mut std::io::stdout().lock(), &cmp);
                }
                Ok(if cmp.first_difference.is_some() {
                    Exit::CheckFailed
                } else {
                    Exit::Ok
                })
            }
        }
    }
}

/// The two canonical strings side by side, the first difference marked.
pub(super) fn print_side_by_side(out: &mut dyn std::io::Write, cmp: &explain::Comparison) {
    // Output to a closed pipe is not worth failing over.
    let shown = |l: &Option<String>| {
        l.as_ref()
            .map_or_else(|| "(missing)".to_owned(), |s| format!("{s}\\n"))
    };
    let width = cmp
        .rows
        .iter()
        .map(|r| shown(&r.server).chars().count())
        .max()
        .unwrap_or(0)
        .clamp(24, 64);
    let _ = writeln!(out, "     {:<width$}  dpost", "server (from the 403)");
    for (i, row) in cmp.rows.iter().enumerate() {
        let mark = if Some(i) == cmp.first_difference {
            ">"
        } else {
            " "
        };
        let _ = writeln!(
            out,
            "{mark}{:>3} {:<width$}  {}",
            i + 1,
            shown(&row.server),
            shown(&row.ours)
        );
    }
    let _ = match cmp.first_difference {
        Some(i) => writeln!(
            out,
            "\nfirst difference on line {}: {}",
            i + 1,
            explain::hint(&cmp.rows[i], i)
        ),
        None => writeln!(
            out,
            "\nthe strings are identical: the signature itself is wrong. Sign with the private key of the \
             certificate registered with Digipost for this broker id."
        ),
    };
}
