//! Signing in and out, and the language switch.

use std::sync::Arc;

use askama::Template;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::access::{self, same_origin};
use super::i18n::{self, Lang};
use super::session::{Session, cookie, cookie_name, set_cookie, signin_cookie_name};
use super::users::{self, FAILURE_DELAY};
use super::{ConsoleState, Page, html};
use crate::config::console::Role;

/// How long a sign-in form may stay open.
const FORM_SECONDS: i64 = 3600;

/// The sign-in page.
#[derive(Template)]
#[template(path = "console/signin.html")]
pub struct SigninPage {
    /// The layout.
    pub page: Page,
    /// Why the last attempt failed.
    pub failed: Option<&'static str>,
    /// The name typed last.
    pub name: String,
    /// Whether any user is configured.
    pub has_users: bool,
}

fn with_cookie(mut r: Response, value: String) -> Response {
    if let Ok(v) = HeaderValue::from_str(&value) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// A sign-in form with a fresh nonce cookie (its CSRF token's seed).
fn form_page(
    s: &ConsoleState,
    lang: Lang,
    status: StatusCode,
    failed: Option<&'static str>,
    name: String,
) -> Response {
    let now = s.api.clock.now_unix();
    let Ok(pre) = Session::new("", now + FORM_SECONDS) else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "no randomness for a sign-in form",
        )
            .into_response();
    };
    let page = SigninPage {
        page: Page {
            lang,
            user: None,
            csrf: pre.csrf_token(&s.key),
            nav: "signin",
            title: lang.t("signin").to_owned(),
            notice: None,
        },
        failed,
        name,
        has_users: !s.users.get().is_empty(),
    };
    with_cookie(
        html(status, &page),
        set_cookie(
            signin_cookie_name(s.secure),
            &pre.encode(&s.key),
            FORM_SECONDS,
            s.secure,
        ),
    )
}

/// `GET /signin`.
pub async fn form(State(s): State<Arc<ConsoleState>>, headers: HeaderMap) -> Response {
    if access::signed_in(&s, &headers).is_some() {
        return Redirect::to("/").into_response();
    }
    form_page(&s, Lang::of(&headers), StatusCode::OK, None, String::new())
}

/// `POST /signin`: name, password and the form's token.
pub async fn submit(
    State(s): State<Arc<ConsoleState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let lang = Lang::of(&headers);
    let now = s.api.clock.now_unix();
    let Some(form) = access::form(body).await else {
        return form_page(
            &s,
            lang,
            StatusCode::BAD_REQUEST,
            Some("signin_failed"),
            String::new(),
        );
    };
    let name = form
        .get("name")
        .map(|n| n.trim().to_owned())
        .unwrap_or_default();
    let password = form.get("password").cloned().unwrap_or_default();
    let pre = cookie(&headers, signin_cookie_name(s.secure))
        .and_then(|v| Session::decode(v, &s.key, now));
    let token_ok = pre
        .as_ref()
        .zip(form.get("csrf"))
        .is_some_and(|(p, t)| p.user.is_empty() && p.csrf_ok(&s.key, t));
    if !token_ok || !same_origin(&headers) {
        // An old form (or one from elsewhere): a fresh one, nothing counted.
        return form_page(
            &s,
            lang,
            StatusCode::FORBIDDEN,
            Some("signin_expired"),
            name,
        );
    }
    if !s.limiter.allowed(&name, now) {
        tokio::time::sleep(FAILURE_DELAY).await;
        return form_page(
            &s,
            lang,
            StatusCode::TOO_MANY_REQUESTS,
            Some("signin_slow"),
            name,
        );
    }
    let found = {
        let Ok(_permit) = s.password_checks.acquire().await else {
            return form_page(
                &s,
                lang,
                StatusCode::SERVICE_UNAVAILABLE,
                Some("signin_failed"),
                name,
            );
        };
        let (st, n) = (s.clone(), name.clone());
        tokio::task::spawn_blocking(move || {
            users::verify(&st.users.get(), &n, &password).map(|u| u.name.clone())
        })
        .await
        .ok()
        .flatten()
    };
    let Some(user) = found else {
        s.limiter.failed(&name, now);
        tracing::warn!(user = %name, "console: a failed sign-in");
        tokio::time::sleep(FAILURE_DELAY).await;
        return form_page(
            &s,
            lang,
            StatusCode::UNAUTHORIZED,
            Some("signin_failed"),
            name,
        );
    };
    s.limiter.succeeded(&user);
    let Ok(session) = Session::new(&user, now + s.session_seconds) else {
        return form_page(
            &s,
            lang,
            StatusCode::SERVICE_UNAVAILABLE,
            Some("signin_failed"),
            name,
        );
    };
    let actor = format!("console:{user}");
    let target = user.clone();
    if let Err(r) = super::store(&s, lang, move |st| {
        st.console_audit(now, &actor, "sign-in", &target, &serde_json::json!({}))
    })
    .await
    {
        return r;
    }
    tracing::info!(user = %user, "console: signed in");
    let r = with_cookie(
        Redirect::to("/").into_response(),
        set_cookie(
            cookie_name(s.secure),
            &session.encode(&s.key),
            s.session_seconds,
            s.secure,
        ),
    );
    with_cookie(r, set_cookie(signin_cookie_name(s.secure), "", 0, s.secure))
}

/// `POST /signout`.
pub async fn signout(
    State(s): State<Arc<ConsoleState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(r) = access::act(&s, &headers, body, Role::Viewer).await {
        return r;
    }
    with_cookie(
        Redirect::to("/signin").into_response(),
        set_cookie(cookie_name(s.secure), "", 0, s.secure),
    )
}

/// `GET /lang/{da|en}`: remember the choice, back to where the user was.
pub async fn language(
    State(s): State<Arc<ConsoleState>>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Response {
    let Some(lang) = Lang::parse(&code) else {
        return super::error_page(
            StatusCode::NOT_FOUND,
            Lang::of(&headers),
            None,
            format!("{code:?}: da, en"),
        );
    };
    // Back to the page the switch was on, when it is one of ours.
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .filter(|_| same_origin(&headers))
        .and_then(|r| r.split_once("://"))
        .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_owned()))
        .filter(|p| p.starts_with('/') && !p.starts_with("//"))
        .unwrap_or_else(|| "/".into());
    with_cookie(
        Redirect::to(&back).into_response(),
        set_cookie(i18n::COOKIE, lang.code(), 365 * 24 * 3600, s.secure),
    )
}
