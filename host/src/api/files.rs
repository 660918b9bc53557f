//! Serving a stored file (a MeMo as received, a decoded document): streamed from disk (or,
//! on PostgreSQL, from the store's pieces, [`super::piece_stream`]) in pieces read ahead of
//! the socket ([`super::file_stream`]) so a 100 MB document passes in
//! bounded memory, with its SHA-256 as a strong `ETag` (a conditional GET costs nothing),
//! one byte range at a time (a broken download resumes), and a `Content-Disposition` that
//! no sender-chosen filename can break.

use std::path::Path;
use std::sync::Arc;

use super::file_stream::FileStream;
use super::problem::Problem;
use super::{ApiState, piece_stream, with_store};
use crate::store::files::Place;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// What is known of a stored file before it is opened.
pub struct StoredFile<'a> {
    /// Where it is.
    pub path: &'a Path,
    /// Its media type.
    pub content_type: &'a str,
    /// The name to offer the user.
    pub filename: &'a str,
    /// Its SHA-256, hex: the entity tag.
    pub sha256: &'a str,
}

/// Answer a GET for `file`, honouring `If-None-Match`, `Range` and `If-Range` in `request`.
/// The store `s` says where the bytes are: the data folder (SQLite) or its own pieces
/// (PostgreSQL, [`crate::store::files`]).
pub async fn serve(
    s: &Arc<ApiState>,
    file: StoredFile<'_>,
    request: &HeaderMap,
) -> Result<Response, Problem> {
    if let Some(r) = not_modified(file.sha256, request) {
        return Ok(r);
    }
    let path = file.path.to_owned();
    let served = Served {
        content_type: file.content_type,
        filename: file.filename,
        sha256: file.sha256,
    };
    let path = match with_store(s, move |st| st.locate_file(&path)).await? {
        Some(Place::Disk(path)) => path,
        Some(Place::Store { key, size }) => {
            return respond(Content::Pieces(s.clone(), key), size, served, request);
        }
        None => {
            tracing::error!(path = %file.path.display(), "a stored file is missing from the store");
            return Err(Problem::unavailable("the stored file cannot be read"));
        }
    };
    // Opening and its size in one trip to the blocking pool.
    let opened = tokio::task::spawn_blocking(move || {
        let f = std::fs::File::open(&path)?;
        let size = f.metadata()?.len();
        Ok::<_, std::io::Error>((f, size))
    })
    .await
    .map_err(std::io::Error::other)
    .and_then(|r| r);
    let (f, size) = opened.map_err(|e| {
        tracing::error!(path = %file.path.display(), error = %e, "a stored file cannot be opened");
        Problem::unavailable("the stored file cannot be read")
    })?;
    respond(Content::File(f), size, served, request)
}

/// What is known of content held in memory (a Digipost document, kept in the store as a
/// BLOB): everything of [`StoredFile`] but a path.
pub struct Served<'a> {
    /// Its media type.
    pub content_type: &'a str,
    /// The name to offer the user.
    pub filename: &'a str,
    /// Its SHA-256, hex: the entity tag.
    pub sha256: &'a str,
}

/// Answer a GET for content already read, with the same headers, conditions and ranges as
/// [`serve`].
pub async fn serve_bytes(
    content: bytes::Bytes,
    file: Served<'_>,
    request: &HeaderMap,
) -> Result<Response, Problem> {
    if let Some(r) = not_modified(file.sha256, request) {
        return Ok(r);
    }
    let size = content.len() as u64;
    respond(Content::Memory(content), size, file, request)
}

/// Where the bytes of a response come from.
enum Content {
    /// A stored file, open.
    File(std::fs::File),
    /// Bytes held already.
    Memory(bytes::Bytes),
    /// Pieces in the store, under this key.
    Pieces(Arc<ApiState>, String),
}

/// The 304 for a client that holds these bytes already.
fn not_modified(sha256: &str, request: &HeaderMap) -> Option<Response> {
    let etag = format!("\"{sha256}\"");
    let inm = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())?;
    if !matches_etag(inm, &etag) {
        return None;
    }
    let mut r = StatusCode::NOT_MODIFIED.into_response();
    set(r.headers_mut(), header::ETAG, &etag);
    Some(r)
}

/// The 200, 206 or 416 for the `size` bytes of `content`.
fn respond(
    content: Content,
    size: u64,
    file: Served<'_>,
    request: &HeaderMap,
) -> Result<Response, Problem> {
    let etag = format!("\"{}\"", file.sha256);
    // A Range is honoured only for the same bytes the client holds a part of (If-Range).
    let range_applies = request
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.trim() == etag);
    let range = match request.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) if range_applies => match parse_range(r, size) {
            RangeRequest::Satisfiable(start, end) => Some((start, end)),
            RangeRequest::Ignored => None,
            RangeRequest::Unsatisfiable => {
                let mut r = Problem::range_not_satisfiable(format!(
                    "the file has {size} bytes; the Range asks for none of them"
                ))
                .into_response();
                set(
                    r.headers_mut(),
                    header::CONTENT_RANGE,
                    &format!("bytes */{size}"),
                );
                return Ok(r);
            }
        },
        _ => None,
    };
    let (status, start, len) = match range {
        Some((start, end)) => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        None => (StatusCode::OK, 0, size),
    };
    let body = match content {
        Content::File(f) => Body::from_stream(FileStream::new(f, start, len)),
        // Both within `size`, as the range was read against it.
        Content::Memory(b) => Body::from(b.slice(start as usize..(start + len) as usize)),
        Content::Pieces(s, key) => Body::from_stream(piece_stream::pieces(s, key, start, len)),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let h = response.headers_mut();
    set(h, header::CONTENT_TYPE, file.content_type);
    set(h, header::CONTENT_LENGTH, &len.to_string());
    set(h, header::ETAG, &etag);
    set(h, header::ACCEPT_RANGES, "bytes");
    set(
        h,
        header::CONTENT_DISPOSITION,
        &content_disposition(file.filename),
    );
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    if status == StatusCode::PARTIAL_CONTENT {
        set(
            h,
            header::CONTENT_RANGE,
            &format!("bytes {start}-{}/{size}", start + len - 1),
        );
    }
    Ok(response)
}

/// Set a header whose value came from stored data; a value a header cannot hold (never the
/// case for what dpost writes) is left out rather than failing the download.
fn set(h: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

/// Whether an `If-None-Match` list names `etag` (weak comparison, as RFC 9110 asks for it).
fn matches_etag(if_none_match: &str, etag: &str) -> bool {
    if_none_match.trim() == "*"
        || if_none_match
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == etag)
}

#[derive(Debug, PartialEq, Eq)]
enum RangeRequest {
    /// First and last byte, inclusive.
    Satisfiable(u64, u64),
    /// Not a single byte range dpost serves (several ranges, another unit, garbage): RFC
    /// 9110 lets a server answer such a request with the whole file.
    Ignored,
    /// A well-formed range outside the file.
    Unsatisfiable,
}

fn parse_range(value: &str, size: u64) -> RangeRequest {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeRequest::Ignored;
    };
    if spec.contains(',') {
        return RangeRequest::Ignored;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Ignored;
    };
    let num = |s: &str| -> Option<u64> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    match (first.trim().is_empty(), last.trim().is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match num(last) {
            Some(0) => RangeRequest::Unsatisfiable,
            Some(n) if size > 0 => RangeRequest::Satisfiable(size.saturating_sub(n), size - 1),
            Some(_) => RangeRequest::Unsatisfiable,
            None => RangeRequest::Ignored,
        },
        // bytes=A-: from A to the end.
        (false, true) => match num(first) {
            Some(a) if a < size => RangeRequest::Satisfiable(a, size - 1),
            Some(_) => RangeRequest::Unsatisfiable,
            None => RangeRequest::Ignored,
        },
        (false, false) => match (num(first), num(last)) {
            (Some(a), Some(b)) if a > b => RangeRequest::Ignored,
            (Some(a), Some(b)) if a < size => RangeRequest::Satisfiable(a, b.min(size - 1)),
            (Some(_), Some(_)) => RangeRequest::Unsatisfiable,
            _ => RangeRequest::Ignored,
        },
        (true, true) => RangeRequest::Ignored,
    }
}

/// RFC 5987 `attr-char`: what `filename*` may carry unencoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment` with the name twice (RFC 6266): `filename*` holds it exactly, in UTF-8,
/// percent-encoded (RFC 5987); `filename`, for clients that do not read `filename*`, holds
/// an ASCII stand-in. Path separators and control characters never survive either way, so
/// no name a sender chose can point outside the folder it is saved in or end the header.
pub fn content_disposition(filename: &str) -> String {
    let name: String = filename
        .chars()
        .map(|c| {
            if c.is_control() || c == '/' || c == '\\' {
                '_'
            } else {
                c
            }
        })
        .collect();
    let name = match name.trim().trim_matches('.') {
        "" => "file".to_owned(),
        n => n.to_owned(),
    };
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' && c != '%' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        utf8_percent_encode(&name, ATTR_CHAR)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_rfc_9110_reads_them() {
        use RangeRequest::*;
        assert_eq!(parse_range("bytes=0-9", 100), Satisfiable(0, 9));
        assert_eq!(parse_range("bytes=90-200", 100), Satisfiable(90, 99));
        assert_eq!(parse_range("bytes=95-", 100), Satisfiable(95, 99));
        assert_eq!(parse_range("bytes=-10", 100), Satisfiable(90, 99));
        assert_eq!(parse_range("bytes=-1000", 100), Satisfiable(0, 99));
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ignored);
        assert_eq!(parse_range("items=0-1", 100), Ignored);
        assert_eq!(parse_range("bytes=9-1", 100), Ignored);
        assert_eq!(parse_range("bytes=x-1", 100), Ignored);
        assert_eq!(parse_range("bytes=+1-2", 100), Ignored);
    }

    #[test]
    fn entity_tags_match_in_lists_and_weakly() {
        assert!(matches_etag("\"a\", \"b\"", "\"b\""));
        assert!(matches_etag("W/\"b\"", "\"b\""));
        assert!(matches_etag("*", "\"b\""));
        assert!(!matches_etag("\"c\"", "\"b\""));
    }

    #[test]
    fn a_filename_cannot_escape_or_break_the_header() {
        assert_eq!(
            content_disposition("Afgørelse 2024.pdf"),
            "attachment; filename=\"Afg_relse 2024.pdf\"; filename*=UTF-8''Afg%C3%B8relse%202024.pdf"
        );
        let evil = content_disposition("../../etc/passwd\r\nX: \"y\"");
        assert!(
            !evil.contains('/') && !evil.contains('\r') && !evil.contains('\n'),
            "{evil}"
        );
        assert!(
            evil.starts_with("attachment; filename=\"_.._etc_passwd__X: _y_\""),
            "{evil}"
        );
        assert_eq!(
            content_disposition(".."),
            "attachment; filename=\"file\"; filename*=UTF-8''file"
        );
    }
}
