//! The operator console (issue 17): server-rendered pages at `/` of the API listener for
//! the people who run Digital Post: an overview that says when something needs a person,
//! the messages with filters, one message with its documents, outgoing messages, receipts,
//! webhooks, the Digipost archive and the audit log; actions (acknowledge, move, retry a
//! refused receipt, retry a webhook delivery), each recorded with who and when.
//!
//! It is built on the platform API's own store operations (`store::handover`,
//! `store::receipts`, `store::webhooks`, ...), called on the API's connection through
//! [`crate::api::with_store`]; only what the API has no query for (the overview's counts,
//! the search by sender, dates and text, the audit log) lives in `store::console`.
//!
//! Templates are askama's, compiled into the binary and checked when it is built; the
//! stylesheet and the one small script are files embedded with `include_str!`. Nothing is
//! fetched from elsewhere, and every page carries a Content-Security-Policy that allows no
//! inline script, no frame around the console and no form posted elsewhere.

// A handler's early answer (the sign-in redirect, a 403 page) is an axum `Response`, as
// axum's own extractors reject with one; it is built once per request, so its size does not
// matter.
#![allow(clippy::result_large_err)]

pub mod access;
pub mod assets;
pub mod audit;
pub mod digipost;
pub mod i18n;
pub mod message;
pub mod messages;
pub mod outgoing;
pub mod overview;
pub mod receipts;
pub mod session;
pub mod signin;
pub mod users;
pub mod webhooks;

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use crate::api::ApiState;
use crate::api::problem::Problem;
use crate::config::console::{ConsoleUser, Role};
use crate::store::{Store, StoreError};
use i18n::Lang;

/// What the console's handlers share.
pub struct ConsoleState {
    /// The platform API's state: its store connection, mailboxes, clock and metrics.
    pub api: Arc<ApiState>,
    /// `[[console.users]]`.
    pub users: Arc<crate::config::live::Live<Vec<ConsoleUser>>>,
    /// Signs session cookies and CSRF tokens.
    pub key: ring::hmac::Key,
    /// How long a sign-in lasts.
    pub session_seconds: i64,
    /// Whether the listener has TLS (cookies are `Secure` then).
    pub secure: bool,
    /// Failed sign-ins per name.
    pub limiter: users::Limiter,
    /// At most this many password checks at once: each takes 19 MiB and tens of
    /// milliseconds, and a flood of sign-ins must not take the API's memory and cores.
    pub password_checks: tokio::sync::Semaphore,
    /// The configured webhooks' names (their backlog is counted on the overview).
    pub webhooks: Vec<String>,
    /// The NgDP systems' certificates: (system, expiry in Unix seconds or why unknown).
    pub certificates: Vec<(String, Result<i64, String>)>,
}

/// The console's routes, with its state; merged beside the API's router.
pub fn router(state: Arc<ConsoleState>) -> Router {
    Router::new()
        .route("/", get(overview::page))
        .route("/signin", get(signin::form).post(signin::submit))
        .route("/signout", post(signin::signout))
        .route("/lang/{code}", get(signin::language))
        .route("/messages", get(messages::page))
        .route("/messages/{uuid}", get(message::page))
        .route("/messages/{uuid}/memo", get(message::memo))
        .route("/messages/{uuid}/files/{n}", get(message::file))
        .route("/messages/{uuid}/ack", post(message::ack))
        .route("/messages/{uuid}/route", post(message::route))
        .route("/outgoing", get(outgoing::page))
        .route("/receipts", get(receipts::page))
        .route("/receipts/{uuid}/retry", post(receipts::retry))
        .route("/webhooks", get(webhooks::page))
        .route("/webhooks/{id}/retry", post(webhooks::retry))
        .route("/digipost", get(digipost::page))
        .route("/audit", get(audit::page))
        .route("/assets/{name}", get(assets::serve))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// The console's router for `dpost serve`: its signing key loaded (or made), each NgDP
/// system's certificate expiry read once (the overview shows the days left).
pub fn start(
    api: &Arc<ApiState>,
    settings: crate::config::console::ConsoleSettings,
    users: Arc<crate::config::live::Live<Vec<ConsoleUser>>>,
    data_dir: &std::path::Path,
    secure: bool,
    webhooks: Vec<String>,
    ngdp: &crate::config::ngdp::NgdpSettings,
) -> Result<Router, session::KeyError> {
    let key = session::load_key(settings.secret.as_deref(), data_dir)?;
    let certificates = ngdp
        .systems
        .iter()
        .filter_map(|s| {
            let (path, password) = s.certificate.as_ref()?;
            Some((s.id.clone(), overview::certificate_expiry(path, password)))
        })
        .collect();
    if users.get().is_empty() {
        tracing::info!("the console has no users; add one with `dpost console user add`");
    }
    Ok(router(Arc::new(ConsoleState {
        api: api.clone(),
        users,
        key,
        session_seconds: settings.session_seconds,
        secure,
        limiter: users::Limiter::default(),
        password_checks: tokio::sync::Semaphore::new(2),
        webhooks,
        certificates,
    })))
}

/// The policy of every page: scripts and styles only from the console itself, images and
/// frames only its own documents, forms only posted to itself, and no one may frame it.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Headers every console answer carries; a document answer sets its own CSP and framing
/// rules first (it is shown in the console's frame), which are kept.
async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    let mut set = |name: header::HeaderName, value: &'static str| {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    };
    set(header::CONTENT_SECURITY_POLICY, PAGE_CSP);
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    // Same origin only: the language switch returns to the page it was on.
    set(header::REFERRER_POLICY, "same-origin");
    set(header::CACHE_CONTROL, "no-store");
    set(
        header::HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    r
}

/// What every page's layout needs.
pub struct Page {
    /// The language.
    pub lang: Lang,
    /// Who is signed in.
    pub user: Option<Badge>,
    /// The CSRF token for this page's forms.
    pub csrf: String,
    /// Which menu entry is this page's.
    pub nav: &'static str,
    /// The page's heading.
    pub title: String,
    /// A line saying what the last action did.
    pub notice: Option<String>,
}

/// The signed-in user, as the header shows them.
pub struct Badge {
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
}

impl Page {
    /// The label `key`.
    pub fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }

    /// Whether the user may act (operator or admin): buttons are shown only then, and every
    /// action checks it again on the server.
    pub fn can_act(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.role >= Role::Operator)
    }

    /// Whether the user is an admin.
    pub fn is_admin(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.role >= Role::Admin)
    }

    /// The role's name.
    pub fn role(&self) -> &'static str {
        self.user.as_ref().map_or("", |u| u.role.name())
    }
}

/// A rendered template as an HTML answer with `status`.
pub fn html(status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a console page could not be rendered");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be made; the log has the reason",
            )
                .into_response()
        }
    }
}

/// The error page.
#[derive(Template)]
#[template(path = "console/error.html")]
pub struct ErrorPage {
    /// The layout.
    pub page: Page,
    /// What went wrong, for a person.
    pub detail: String,
}

/// An error page for `status` with `detail` (already in the user's language or a problem's
/// detail from the API's operations).
pub fn error_page(status: StatusCode, lang: Lang, user: Option<Badge>, detail: String) -> Response {
    let title = match status {
        StatusCode::FORBIDDEN => lang.t("forbidden"),
        StatusCode::NOT_FOUND => lang.t("not_found"),
        _ => lang.t("error"),
    };
    html(
        status,
        &ErrorPage {
            page: Page {
                lang,
                user,
                csrf: String::new(),
                nav: "",
                title: title.to_owned(),
                notice: None,
            },
            detail,
        },
    )
}

/// Run `f` on the API's store connection; a failure becomes the API's 503 problem, shown as
/// an error page.
pub async fn store<R: Send + 'static>(
    s: &ConsoleState,
    lang: Lang,
    f: impl FnOnce(&mut Store) -> Result<R, StoreError> + Send + 'static,
) -> Result<R, Response> {
    crate::api::with_store(&s.api, f)
        .await
        .map_err(|p| problem_page(p, lang))
}

/// An API problem as an error page.
pub fn problem_page(p: Problem, lang: Lang) -> Response {
    error_page(p.status_code(), lang, None, p.detail.clone())
}

/// Unix seconds as `2026-11-27 08:00 UTC`.
pub fn when(unix: i64) -> String {
    let t = crate::api::messages::time(unix);
    format!(
        "{} UTC",
        t.replace('T', " ")
            .trim_end_matches('Z')
            .get(..16)
            .unwrap_or(&t)
    )
}

/// An optional time, or the word for none.
pub fn when_opt(unix: Option<i64>, lang: Lang) -> String {
    unix.map_or_else(|| lang.t("never").to_owned(), when)
}

/// A query string's pairs (each key once, the last wins).
pub fn query_pairs(query: Option<&str>) -> std::collections::BTreeMap<String, String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_read_as_words() {
        assert_eq!(super::when(1_767_225_600), "2026-01-01 00:00 UTC");
    }
}
