//! Webhook deliveries, newest first, with why each failure failed, and a button to put a
//! given-up one back in the queue (`store::webhooks`, as `dpost webhooks retry` and the API).

use std::sync::Arc;

use askama::Template;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::access;
use super::{ConsoleState, Page, html, query_pairs, when, when_opt};
use crate::config::console::Role;

/// Deliveries shown.
pub const LIMIT: u32 = 100;

/// A delivery as listed.
pub struct Row {
    /// Its id.
    pub id: i64,
    /// The webhook's name.
    pub webhook: String,
    /// The event's type and subject.
    pub event: String,
    /// pending | delivered | failed.
    pub state: String,
    /// Attempts.
    pub attempts: u32,
    /// Why the last attempt failed.
    pub error: String,
    /// Created.
    pub created: String,
    /// Delivered.
    pub delivered: String,
}

/// The webhooks page.
#[derive(Template)]
#[template(path = "console/webhooks.html")]
pub struct WebhooksPage {
    /// The layout.
    pub page: Page,
    /// The state filter.
    pub state: String,
    /// The rows.
    pub rows: Vec<Row>,
}

/// `GET /webhooks?state=…`.
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
    let q = query_pairs(query.as_deref());
    let state = q.get("state").cloned().unwrap_or_default();
    if !["", "pending", "delivered", "failed"].contains(&state.as_str()) {
        return who.error(
            StatusCode::BAD_REQUEST,
            format!(
                "{}: {state:?} (pending, delivered, failed)",
                lang.t("state")
            ),
        );
    }
    let filter = (!state.is_empty()).then(|| state.clone());
    let list = match super::store(&s, lang, move |st| {
        st.webhooks_deliveries(filter.as_deref(), LIMIT)
    })
    .await
    {
        Ok(l) => l,
        Err(r) => return r,
    };
    let mut view = WebhooksPage {
        page: who.page(&s, "webhooks", lang.t("webhooks")),
        state,
        rows: list
            .into_iter()
            .map(|d| Row {
                id: d.id,
                webhook: d.webhook,
                event: format!("{} {}", d.event.kind, d.event.subject),
                state: d.state,
                attempts: d.attempts,
                error: d.last_error.unwrap_or_default(),
                created: when(d.created_at),
                delivered: when_opt(d.delivered_at, lang),
            })
            .collect(),
    };
    if q.contains_key("done") {
        view.page.notice = Some(format!("{}: {}", lang.t("retry"), lang.t("done")));
    }
    html(StatusCode::OK, &view)
}

/// `POST /webhooks/{id}/retry` (operator).
pub async fn retry(
    State(s): State<Arc<ConsoleState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let (who, _) = match access::act(&s, &headers, body, Role::Operator).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(n) = id.parse::<i64>() else {
        return who.error(
            StatusCode::NOT_FOUND,
            format!("{} {id}", who.lang.t("no_delivery")),
        );
    };
    let (actor, now) = (who.actor(), s.api.clock.now_unix());
    // webhooks_retry commits on its own; the audit line follows it. Should that write
    // fail, the retry stands and the page says it was not recorded.
    let done = super::store(&s, who.lang, move |st| {
        let r = st.webhooks_retry(n, now)?;
        if r == Some(true) {
            st.console_audit(
                now,
                &actor,
                "retry-webhook",
                &n.to_string(),
                &serde_json::json!({}),
            )?;
        }
        Ok(r)
    })
    .await;
    match done {
        Ok(Some(true)) => {
            tracing::info!(delivery = n, by = %who.actor(), "console: webhook delivery queued again");
            Redirect::to("/webhooks?state=pending&done=retry").into_response()
        }
        Ok(Some(false)) => who.error(
            StatusCode::CONFLICT,
            format!("{n}: only a given-up (failed) delivery is retried"),
        ),
        Ok(None) => who.error(
            StatusCode::NOT_FOUND,
            format!("{} {n}", who.lang.t("no_delivery")),
        ),
        Err(r) => r,
    }
}
