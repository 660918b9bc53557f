//! The audit log of the console (admins): every sign-in and action, who, when, what and on
//! which target, newest first, paged by id. Acknowledgements and moves are also in the
//! message's own history (`handover_audit`), written in the same transaction as the change.

use std::sync::Arc;

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::access;
use super::{ConsoleState, Page, html, query_pairs, when};
use crate::config::console::Role;

/// Lines on a page.
pub const PAGE_SIZE: u32 = 100;

/// A line as listed.
pub struct Row {
    /// When.
    pub at: String,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// On what.
    pub target: String,
    /// A link to the target, when it has a page.
    pub href: Option<String>,
    /// Details.
    pub detail: String,
}

/// The audit page.
#[derive(Template)]
#[template(path = "console/audit.html")]
pub struct AuditPage {
    /// The layout.
    pub page: Page,
    /// The lines.
    pub rows: Vec<Row>,
    /// Older lines.
    pub older: Option<String>,
}

/// `GET /audit?before=…` (admin).
pub async fn page(
    State(s): State<Arc<ConsoleState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let who = match access::page(&s, &headers, Role::Admin) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let lang = who.lang;
    let before = query_pairs(query.as_deref())
        .get("before")
        .and_then(|v| v.parse::<i64>().ok());
    let mut lines = match super::store(&s, lang, move |st| {
        st.console_audit_log(None, before, PAGE_SIZE + 1)
    })
    .await
    {
        Ok(l) => l,
        Err(r) => return r,
    };
    let older = (lines.len() > PAGE_SIZE as usize).then(|| {
        lines.truncate(PAGE_SIZE as usize);
        format!("/audit?before={}", lines.last().map_or(0, |l| l.id))
    });
    let rows = lines
        .into_iter()
        .map(|l| Row {
            href: match l.action.as_str() {
                "ack" | "route" | "retry-receipt" => Some(format!("/messages/{}", l.target)),
                _ => None,
            },
            at: when(l.at),
            actor: l.actor,
            action: l.action,
            target: l.target,
            detail: l.detail,
        })
        .collect();
    html(
        StatusCode::OK,
        &AuditPage {
            page: who.page(&s, "audit", lang.t("audit")),
            rows,
            older,
        },
    )
}
