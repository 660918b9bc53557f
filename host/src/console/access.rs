//! Who may see and do what, checked on the server for every page and every action (the
//! buttons a viewer does not see are a courtesy, not the check).
//!
//! - A page needs a signed-in user ([`viewer`] and up); without one it redirects to the
//!   sign-in form.
//! - An action is a POST of a form that carries the session's CSRF token, from this
//!   origin, by a user whose role allows it ([`act`]); anything else is a 403 page and
//!   changes nothing. The session cookie is `SameSite=Strict` besides, so a browser does
//!   not even send it with a request another site starts.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::i18n::Lang;
use super::session::{Session, cookie, cookie_name};
use super::{Badge, ConsoleState, Page, error_page};
use crate::config::console::{ConsoleUser, Role};

/// The largest form the console takes.
const MAX_FORM: usize = 16 * 1024;

/// A signed-in user, with their session.
pub struct Signed {
    /// The user as configured now.
    pub user: ConsoleUser,
    /// The session.
    pub session: Session,
    /// Their language.
    pub lang: Lang,
}

impl Signed {
    /// The layout of a page for this user.
    pub fn page(&self, s: &ConsoleState, nav: &'static str, title: impl Into<String>) -> Page {
        Page {
            lang: self.lang,
            user: Some(self.badge()),
            csrf: self.session.csrf_token(&s.key),
            nav,
            title: title.into(),
            notice: None,
        }
    }

    /// As the header shows them.
    pub fn badge(&self) -> Badge {
        Badge {
            name: self.user.name.clone(),
            role: self.user.role,
        }
    }

    /// Who, as the audit log and the API's records write it.
    pub fn actor(&self) -> String {
        format!("console:{}", self.user.name)
    }

    /// An error page for this user.
    pub fn error(&self, status: StatusCode, detail: impl Into<String>) -> Response {
        error_page(status, self.lang, Some(self.badge()), detail.into())
    }
}

/// The signed-in user of a request, if its session cookie is good and its user still
/// exists.
pub fn signed_in(s: &ConsoleState, headers: &HeaderMap) -> Option<Signed> {
    let value = cookie(headers, cookie_name(s.secure))?;
    let session = Session::decode(value, &s.key, s.api.clock.now_unix())?;
    let user = s
        .users
        .get()
        .iter()
        .find(|u| u.name == session.user)?
        .clone();
    Some(Signed {
        user,
        session,
        lang: Lang::of(headers),
    })
}

/// Go on with a page for a user holding `role`: else the sign-in form (nobody signed in)
/// or a 403 page.
pub fn page(s: &ConsoleState, headers: &HeaderMap, role: Role) -> Result<Signed, Response> {
    let Some(who) = signed_in(s, headers) else {
        return Err(Redirect::to("/signin").into_response());
    };
    if who.user.role < role {
        return Err(refused(&who, role));
    }
    Ok(who)
}

/// The 403 page for a user whose role is below `needed`; the page's heading says it is
/// refused, the text says which role they have and which it takes.
fn refused(who: &Signed, needed: Role) -> Response {
    who.error(
        StatusCode::FORBIDDEN,
        format!(
            "{}: {} ({}: {})",
            who.lang.t("role"),
            who.user.role.name(),
            who.lang.t("needed"),
            needed.name()
        ),
    )
}

/// A viewer's (anyone signed in) page.
pub fn viewer(s: &ConsoleState, headers: &HeaderMap) -> Result<Signed, Response> {
    page(s, headers, Role::Viewer)
}

/// Whether a POST comes from this origin: `Origin` (or, without it, `Referer`) names the
/// host the request was sent to. Browsers send `Origin` with every POST; a request with
/// neither (a script, not a browser) has no cookie to abuse and passes on its token.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let from = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    match from {
        None => true,
        Some(url) => url
            .split_once("://")
            .map(|(_, rest)| rest.split('/').next() == Some(host))
            .unwrap_or(false),
    }
}

/// A form's fields.
pub type Form = std::collections::BTreeMap<String, String>;

/// Read a posted form (`application/x-www-form-urlencoded`, at most 16 KiB).
pub async fn form(body: Body) -> Option<Form> {
    let bytes = axum::body::to_bytes(body, MAX_FORM).await.ok()?;
    Some(
        form_urlencoded::parse(&bytes)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    )
}

/// Go on with an action for a user holding `role`, its form read and its CSRF token and
/// origin checked; else the page that says why (nothing is changed).
pub async fn act(
    s: &ConsoleState,
    headers: &HeaderMap,
    body: Body,
    role: Role,
) -> Result<(Signed, Form), Response> {
    let lang = Lang::of(headers);
    let Some(who) = signed_in(s, headers) else {
        return Err(error_page(
            StatusCode::FORBIDDEN,
            lang,
            None,
            lang.t("signin_first").to_owned(),
        ));
    };
    if who.user.role < role {
        tracing::warn!(user = %who.user.name, role = who.user.role.name(), "console: an action refused for the user's role");
        return Err(refused(&who, role));
    }
    let Some(form) = form(body).await else {
        return Err(who.error(
            StatusCode::BAD_REQUEST,
            "the form could not be read (at most 16 KiB)",
        ));
    };
    let token_ok = form
        .get("csrf")
        .is_some_and(|t| who.session.csrf_ok(&s.key, t));
    if !token_ok || !same_origin(headers) {
        tracing::warn!(user = %who.user.name, "console: a form without this session's CSRF token, or from another origin, refused");
        return Err(who.error(
            StatusCode::FORBIDDEN,
            "the form is not from this session (it may be from before a sign-in, or from another site); reload the page and try again",
        ));
    }
    Ok((who, form))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        m
    }

    #[test]
    fn only_this_origin_posts() {
        assert!(same_origin(&h(&[
            ("host", "a:1"),
            ("origin", "http://a:1")
        ])));
        assert!(!same_origin(&h(&[
            ("host", "a:1"),
            ("origin", "http://evil")
        ])));
        assert!(!same_origin(&h(&[("host", "a:1"), ("origin", "null")])));
        assert!(same_origin(&h(&[
            ("host", "a:1"),
            ("referer", "https://a:1/messages")
        ])));
        assert!(same_origin(&h(&[("host", "a:1")])));
        assert!(!same_origin(&h(&[])));
    }
}
