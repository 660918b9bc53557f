//! The message list: newest first, filtered by mailbox, acknowledged or not, invalid,
//! sender, dates and free text on the label and the sender, paged by key ("older than the
//! last one shown": its received time and sequence number), never by OFFSET, so every page
//! costs the same however deep it is.

use std::sync::Arc;

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::access;
use super::i18n::Lang;
use super::{ConsoleState, Page, html, query_pairs, when};
use crate::store::console::{MIN_SEARCH_CHARS, MessageSearch};
use crate::store::handover::AckState;

/// Messages on a page.
pub const PAGE_SIZE: u32 = 50;

/// A row of the list.
pub struct Row {
    /// messageUUID.
    pub uuid: String,
    /// When received, in words.
    pub received: String,
    /// Mailbox.
    pub mailbox: String,
    /// Label.
    pub label: String,
    /// Sender, in words.
    pub sender: String,
    /// Valid.
    pub valid: bool,
    /// Acknowledged.
    pub acknowledged: bool,
}

/// The filters as typed, to fill the form again.
#[derive(Default)]
pub struct Filters {
    /// Mailbox.
    pub mailbox: String,
    /// pending | acknowledged | "" (any).
    pub state: String,
    /// Only invalid.
    pub invalid: bool,
    /// Sender.
    pub sender: String,
    /// From date (YYYY-MM-DD).
    pub from: String,
    /// To date (YYYY-MM-DD).
    pub to: String,
    /// Text.
    pub q: String,
}

/// The messages page.
#[derive(Template)]
#[template(path = "console/messages.html")]
pub struct MessagesPage {
    /// The layout.
    pub page: Page,
    /// The filters.
    pub filters: Filters,
    /// Configured mailboxes.
    pub mailboxes: Vec<String>,
    /// The rows.
    pub rows: Vec<Row>,
    /// The link to older messages, when there are more.
    pub older: Option<String>,
    /// Whether this is a later page (a link back to the newest).
    pub paged: bool,
    /// A text search stopped before filling the page: when the last message it read was
    /// received, in words (the older link goes on from there).
    pub stopped: Option<String>,
    /// A filter that could not be read.
    pub problem: Option<String>,
}

/// A date `YYYY-MM-DD` as the Unix seconds of its start (UTC).
fn date(text: &str) -> Option<i64> {
    let t = humantime::parse_rfc3339_weak(&format!("{text}T00:00:00Z")).ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64)
}

/// The search for a query string; an error names the filter and the value.
fn search(query: Option<&str>, lang: Lang) -> (Filters, Result<MessageSearch, String>) {
    let q = query_pairs(query);
    let get = |k: &str| q.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let f = Filters {
        mailbox: get("mailbox"),
        state: get("state"),
        invalid: get("invalid") == "true",
        sender: get("sender"),
        from: get("from"),
        to: get("to"),
        q: get("q"),
    };
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let result = (|| {
        let state = match f.state.as_str() {
            "" | "all" => AckState::All,
            "pending" => AckState::Pending,
            "acknowledged" => AckState::Acknowledged,
            other => {
                return Err(format!(
                    "{}: {other:?} (pending, acknowledged)",
                    lang.t("state")
                ));
            }
        };
        let day = |name: &str, v: &str| -> Result<Option<i64>, String> {
            if v.is_empty() {
                return Ok(None);
            }
            date(v)
                .map(Some)
                .ok_or_else(|| format!("{}: {v:?} (YYYY-MM-DD)", lang.t(name)))
        };
        let before = match q.get("before") {
            None => None,
            Some(b) => Some(page_key(b).ok_or("before: a page key this console gave out")?),
        };
        if !f.q.is_empty() && f.q.chars().count() < MIN_SEARCH_CHARS {
            return Err(format!(
                "{}: {:?} ({MIN_SEARCH_CHARS}+)",
                lang.t("text"),
                f.q
            ));
        }
        Ok(MessageSearch {
            mailbox: opt(&f.mailbox),
            state,
            invalid: f.invalid.then_some(true),
            sender: opt(&f.sender),
            from: day("from_date", &f.from)?,
            // Up to and including the day named.
            until: day("to_date", &f.to)?.map(|t| t + 86_400),
            text: opt(&f.q),
            before,
            limit: PAGE_SIZE + 1,
        })
    })();
    (f, result)
}

/// `received_at.seq`, as [`older_link`] writes it.
fn page_key(text: &str) -> Option<(i64, i64)> {
    let (at, seq) = text.split_once('.')?;
    Some((at.parse().ok()?, seq.parse().ok()?))
}

fn older_link(f: &Filters, before: (i64, i64)) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("mailbox", &f.mailbox),
        ("state", &f.state),
        ("sender", &f.sender),
        ("from", &f.from),
        ("to", &f.to),
        ("q", &f.q),
    ] {
        if !v.is_empty() {
            q.append_pair(k, v);
        }
    }
    if f.invalid {
        q.append_pair("invalid", "true");
    }
    q.append_pair("before", &format!("{}.{}", before.0, before.1));
    format!("/messages?{}", q.finish())
}

/// `GET /messages`.
pub async fn page(
    State(s): State<Arc<ConsoleState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let who = match access::viewer(&s, &headers) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let lang = who.lang;
    let (filters, search) = search(query.as_deref(), lang);
    let mut view = MessagesPage {
        page: who.page(&s, "messages", lang.t("messages")),
        filters,
        mailboxes: s.api.mailboxes.get().as_ref().clone(),
        rows: Vec::new(),
        older: None,
        paged: false,
        stopped: None,
        problem: None,
    };
    let search = match search {
        Ok(q) => q,
        Err(problem) => {
            view.problem = Some(problem);
            return html(StatusCode::BAD_REQUEST, &view);
        }
    };
    view.paged = search.before.is_some();
    let found = match super::store(&s, lang, move |st| st.console_messages(&search)).await {
        Ok(e) => e,
        Err(r) => return r,
    };
    let mut entries = found.entries;
    if entries.len() > PAGE_SIZE as usize {
        entries.truncate(PAGE_SIZE as usize);
        view.older = entries
            .last()
            .map(|e| older_link(&view.filters, (e.received_at, e.seq)));
    } else if let Some(key) = found.stopped_at {
        view.older = Some(older_link(&view.filters, key));
        view.stopped = Some(when(key.0));
    }
    view.rows = entries
        .into_iter()
        .map(|e| Row {
            received: when(e.received_at),
            sender: match (e.sender_label, e.sender_id) {
                (Some(l), Some(id)) => format!("{l} ({id})"),
                (Some(l), None) => l,
                (None, Some(id)) => id,
                (None, None) => String::new(),
            },
            uuid: e.uuid,
            mailbox: e.mailbox,
            label: e.label.unwrap_or_default(),
            valid: e.valid,
            acknowledged: e.ack.is_some(),
        })
        .collect();
    html(StatusCode::OK, &view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_read_and_a_bad_one_is_named() {
        let (f, s) = search(
            Some(
                "mailbox=daycare&state=pending&invalid=true&from=2026-11-01&to=2026-11-02&q=50%25x&before=7.9",
            ),
            Lang::En,
        );
        let s = s.unwrap();
        assert_eq!(s.mailbox.as_deref(), Some("daycare"));
        assert_eq!(s.state, AckState::Pending);
        assert_eq!(
            (s.from, s.until),
            (Some(1_793_491_200), Some(1_793_491_200 + 2 * 86_400))
        );
        assert_eq!(s.text.as_deref(), Some("50%x"));
        assert_eq!(s.before, Some((7, 9)));
        assert_eq!(
            older_link(&f, (3, 4)),
            "/messages?mailbox=daycare&state=pending&from=2026-11-01&to=2026-11-02&q=50%25x&invalid=true&before=3.4"
        );
        let (_, e) = search(Some("q=ab"), Lang::En);
        assert!(e.unwrap_err().contains("3+"));
        let (_, e) = search(Some("before=12"), Lang::En);
        assert!(e.is_err());
        let (_, e) = search(Some("from=yesterday"), Lang::En);
        assert!(e.unwrap_err().contains("Received from"));
        let (_, e) = search(Some("state=new"), Lang::En);
        assert!(e.unwrap_err().contains("\"new\""));
    }
}
