//! The Digipost organisation inbox's archive (`store::digipost`, paged as the API pages
//! it) and the last syncs.

use std::sync::Arc;

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::access;
use super::{ConsoleState, Page, html, query_pairs, when, when_opt};
use crate::store::digipost::ArchiveQuery;
use crate::store::handover::AckState;

/// Documents on a page.
pub const PAGE_SIZE: u32 = 50;

/// An archived document as listed.
pub struct Row {
    /// Digipost's id.
    pub id: i64,
    /// The sender whose inbox it came from.
    pub sender: i64,
    /// Its subject.
    pub subject: String,
    /// Its media type.
    pub content_type: String,
    /// Bytes.
    pub size: u64,
    /// Attachments.
    pub attachments: usize,
    /// Archived.
    pub archived: String,
    /// Deleted in Digipost.
    pub deleted: String,
    /// Who took it over.
    pub acknowledged: String,
}

/// A sync run.
pub struct Sync {
    /// The sender.
    pub sender: i64,
    /// Started.
    pub started: String,
    /// Finished, or not.
    pub finished: String,
}

/// The Digipost page.
#[derive(Template)]
#[template(path = "console/digipost.html")]
pub struct DigipostPage {
    /// The layout.
    pub page: Page,
    /// The archive.
    pub rows: Vec<Row>,
    /// The next page.
    pub next: Option<String>,
    /// The last syncs.
    pub syncs: Vec<Sync>,
}

/// `GET /digipost?after=…`.
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
    let after = query_pairs(query.as_deref())
        .get("after")
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    let loaded = super::store(&s, lang, move |st| {
        let feed = st.digipost_feed(&ArchiveQuery {
            sender_id: None,
            state: AckState::All,
            after,
            limit: PAGE_SIZE + 1,
            since: None,
        })?;
        Ok((feed, st.console_digipost_syncs(20)?))
    })
    .await;
    let (mut feed, syncs) = match loaded {
        Ok(x) => x,
        Err(r) => return r,
    };
    let next = (feed.len() > PAGE_SIZE as usize).then(|| {
        feed.truncate(PAGE_SIZE as usize);
        format!("/digipost?after={}", feed.last().map_or(0, |e| e.seq))
    });
    let rows = feed
        .into_iter()
        .map(|e| Row {
            id: e.file.id,
            sender: e.sender_id,
            subject: e.file.metadata["subject"].as_str().unwrap_or("").to_owned(),
            content_type: e.file.content_type.clone().unwrap_or_default(),
            size: e.file.size,
            attachments: e.attachments.len(),
            archived: when(e.archived_at),
            deleted: when_opt(e.deleted_remotely_at, lang),
            acknowledged: e
                .ack
                .map(|a| format!("{} ({})", a.actor, when(a.at)))
                .unwrap_or_default(),
        })
        .collect();
    html(
        StatusCode::OK,
        &DigipostPage {
            page: who.page(&s, "digipost", lang.t("digipost")),
            rows,
            next,
            syncs: syncs
                .into_iter()
                .map(|(sender, started, finished)| Sync {
                    sender,
                    started: when(started),
                    finished: finished.map_or_else(|| lang.t("not_finished").to_owned(), when),
                })
                .collect(),
        },
    )
}
