//! RFC 9457 problem details: every error the API answers, whatever produced it (a handler,
//! an unknown route, a wrong method, a missing token), is one of these, as
//! `application/problem+json`, so a platform needs one error reader.
//!
//! `type` is a URN naming the kind of problem (`urn:dpost:problem:<kind>`, listed in
//! `docs/api.md`): stable for programs, while `title` and `detail` are for people.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of a problem.
pub const CONTENT_TYPE: &str = "application/problem+json";

/// A problem, as handlers return it (boxed: errors stay small on the happy path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem(Box<ProblemDetails>);

impl std::ops::Deref for Problem {
    type Target = ProblemDetails;
    fn deref(&self) -> &ProblemDetails {
        &self.0
    }
}

/// A problem, as answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProblemDetails {
    /// What kind of problem: `urn:dpost:problem:<kind>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong with this request, for a person.
    pub detail: String,
    /// The request path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The query parameter, path parameter, header, or JSON pointer into the body at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What the request lacked to be allowed (for `forbidden`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_scope: Option<String>,
    /// Every problem the validator found (for `invalid-memo`): severity, code, path, line,
    /// column and message.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub problems: Option<Vec<serde_json::Value>>,
    /// Where to resume a feed whose position is older than what is kept (for `gone`): the
    /// `after` to ask with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume_after: Option<i64>,
}

impl Problem {
    fn new(status: StatusCode, kind: &str, title: &str, detail: impl Into<String>) -> Problem {
        Problem(Box::new(ProblemDetails {
            kind: format!("urn:dpost:problem:{kind}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            instance: None,
            field: None,
            required_scope: None,
            problems: None,
            resume_after: None,
        }))
    }

    /// The parameter, header or body member at fault.
    pub fn at(mut self, field: impl Into<String>) -> Problem {
        self.0.field = Some(field.into());
        self
    }

    /// The request path it concerns.
    pub fn on(mut self, path: impl Into<String>) -> Problem {
        self.0.instance = Some(path.into());
        self
    }

    /// 400: a parameter or body that cannot be read.
    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            detail,
        )
    }

    /// 401: no token, or not one dpost knows.
    pub fn unauthorized(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required",
            detail,
        )
        .at("Authorization")
    }

    /// 403: a known client without the scope an endpoint needs.
    pub fn forbidden(detail: impl Into<String>, scope: &str) -> Problem {
        let mut p = Problem::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed", detail);
        p.0.required_scope = Some(scope.to_owned());
        p
    }

    /// 403: a mailbox outside a restricted client's own.
    pub fn mailbox_forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed", detail)
    }

    /// 404: nothing here, or nothing this client may see.
    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// 405: the path exists, the method does not.
    pub fn method_not_allowed(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            detail,
        )
    }

    /// 416: a Range outside the file.
    pub fn range_not_satisfiable(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "range-not-satisfiable",
            "Range not satisfiable",
            detail,
        )
        .at("Range")
    }

    /// 413: a request body over its limit.
    pub fn too_large(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "Request body too large",
            detail,
        )
    }

    /// 415: a body that is not JSON.
    pub fn unsupported_media_type(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            detail,
        )
        .at("Content-Type")
    }

    /// 422: a well-formed request asking for something that cannot be.
    pub fn unprocessable(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable",
            "Cannot be done",
            detail,
        )
    }

    /// 422: a MeMo message the validator refuses, with every problem it found.
    pub fn invalid_memo(detail: impl Into<String>, problems: Vec<serde_json::Value>) -> Problem {
        let mut p = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-memo",
            "Invalid MeMo message",
            detail,
        );
        p.0.problems = Some(problems);
        p
    }

    /// 409: the messageUUID or Idempotency-Key names another message already.
    pub fn conflict(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
    }

    /// 410: a feed position older than what is kept; `resume_after` says where to go on.
    pub fn gone(detail: impl Into<String>, resume_after: i64) -> Problem {
        let mut p = Problem::new(StatusCode::GONE, "gone", "No longer kept", detail);
        p.0.resume_after = Some(resume_after);
        p
    }

    /// 503: the store or disk failed; the request may be repeated.
    pub fn unavailable(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Temporarily unavailable",
            detail,
        )
    }

    /// The status as a [`StatusCode`].
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = serde_json::to_string(&*self.0).unwrap_or_else(|_| {
            format!(
                r#"{{"type":"about:blank","title":"Error","status":{}}}"#,
                self.status
            )
        });
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        match status {
            StatusCode::UNAUTHORIZED => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer realm="dpost""#),
                );
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_is_problem_json_with_its_fields() {
        let r = Problem::bad_request("limit must be 1 to 1000")
            .at("limit")
            .on("/api/v1/messages")
            .into_response();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
        let p = Problem::unauthorized("no token").into_response();
        assert_eq!(
            p.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer realm="dpost""#
        );
    }
}
