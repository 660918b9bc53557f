//! `/api/v1/events`: the event log (`store::events`) for a platform that cannot receive
//! webhooks. A page after a sequence number, and a Server-Sent Events stream that resumes
//! from `Last-Event-ID`: the SSE `id` is the event's sequence number, so the browser's (or
//! any SSE client's) automatic reconnect asks for exactly what it has not seen.
//!
//! The stream polls the store (one page at a time, every [`POLL`]) rather than listening on
//! a channel the commit path feeds: the commits happen on other connections and in other
//! processes (`dpost ngdp pull`, `dpost digipost sync`), which no in-process channel hears,
//! and a poll holds at most one page in memory however far behind a client is.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Json, RawQuery, State};
use axum::http::{HeaderMap, Uri};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::problem::{Problem, ProblemDetails};
use super::{ApiState, with_store};
use crate::config::api::Scope;
use crate::store::events::Event;

/// Events in a page when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 100;
/// How often the stream looks for new events.
pub const POLL: Duration = Duration::from_millis(500);
/// How often the stream sends a comment when there is nothing to say, so proxies keep the
/// connection open and the client notices a dead one.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Events the stream reads from the store at a time.
const STREAM_PAGE: u32 = 100;

/// An event as the API, the stream and the webhooks send it: the Standard Webhooks payload
/// shape (`type`, `timestamp`, `data`) with its place in the sequence.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventBody {
    /// Its place in the sequence: strictly increasing in commit order. Also the SSE `id`
    /// and the webhook's `webhook-id` suffix.
    pub seq: i64,
    /// message.received, message.invalid, receipt.received, outgoing.status_changed or
    /// digipost.document_archived.
    #[serde(rename = "type")]
    pub kind: String,
    /// When it happened (RFC 3339, UTC).
    pub timestamp: String,
    /// The mailbox it concerns, when it concerns one.
    pub mailbox: Option<String>,
    /// Ids and links: never a document.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl From<Event> for EventBody {
    fn from(e: Event) -> EventBody {
        EventBody {
            seq: e.seq,
            kind: e.kind,
            timestamp: super::messages::time(e.at),
            mailbox: e.mailbox,
            data: e.payload,
        }
    }
}

/// One Server-Sent Event of `/api/v1/events/stream`, as its fields arrive. OpenAPI 3.1
/// describes an event stream's schema per event (3.2 calls it `itemSchema`).
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // Written by axum's Sse from `sse_event`; this is its description.
pub struct StreamEvent {
    /// The event's sequence number: send it back as `Last-Event-ID` to resume after it.
    id: String,
    /// Its type (message.received, ...).
    event: String,
    /// The event as JSON (an EventBody).
    #[schema(content_media_type = "application/json")]
    data: String,
}

/// A page of events.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventPage {
    /// The events, in sequence order.
    pub events: Vec<EventBody>,
    /// The request for what comes after this page. Present even when the page is empty:
    /// asked again later, it returns what happened since.
    pub next: String,
    /// Whether more events were already waiting when this page was made.
    pub has_more: bool,
}

/// `GET /api/v1/events`'s parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Read by hand from the query string (each error names its parameter); this is its description.
pub struct ListParams {
    /// Only events after this sequence number (default: from the oldest kept). A number
    /// older than what `[api] events_retention_days` keeps is answered 410.
    #[param(minimum = 0)]
    after: Option<i64>,
    /// At most this many events (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// `GET /api/v1/events/stream`'s parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Read by hand, as ListParams.
pub struct StreamParams {
    /// Only events after this sequence number, when no `Last-Event-ID` header is sent
    /// (default: only events from now on).
    #[param(minimum = 0)]
    after: Option<i64>,
}

fn parse_after(key: &str, value: &str) -> Result<i64, Problem> {
    value
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| {
            Problem::bad_request(format!(
                "{key} is a sequence number (0 or more), not {value:?}"
            ))
            .at(key.to_owned())
        })
}

/// `after` and `limit` from a query string; `allowed` names the parameters taken.
fn parse_query(
    query: Option<&str>,
    allowed: &[&str],
) -> Result<(Option<i64>, Option<u32>), Problem> {
    let (mut after, mut limit) = (None, None);
    let mut seen: Vec<String> = Vec::new();
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let bad = |detail: String| Problem::bad_request(detail).at(key.to_string());
        if seen.iter().any(|k| *k == key) {
            return Err(bad(format!("{key} is given twice")));
        }
        seen.push(key.to_string());
        match &*key {
            "after" if allowed.contains(&"after") => after = Some(parse_after("after", &value)?),
            "limit" if allowed.contains(&"limit") => {
                limit = Some(super::paging::limit(&value)?);
            }
            _ => {
                return Err(bad(format!(
                    "{key} is not a parameter here; the parameters are {}",
                    allowed.join(" and ")
                )));
            }
        }
    }
    Ok((after, limit))
}

/// 410 when events after `after` were deleted by retention (`store::events_retention`): a
/// platform that was away longer than the window learns that it missed events, and where
/// the feed goes on, instead of silently skipping them.
async fn still_kept(s: &Arc<ApiState>, after: i64, field: &str) -> Result<(), Problem> {
    let through = with_store(s, |st| st.events_pruned_through()).await?;
    if after >= through {
        return Ok(());
    }
    Err(Problem::gone(
        format!(
            "events after {after} up to {through} are no longer kept ([api] events_retention_days); \
             resume with after={through}, and take what was missed from the lists \
             (GET /api/v1/messages?state=pending, /api/v1/outgoing, /api/v1/receipts)"
        ),
        through,
    )
    .at(field.to_owned()))
}

/// List events.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    operation_id = "listEvents",
    tag = "events",
    params(ListParams),
    security(("bearer" = ["messages:read"])),
    responses(
        (status = 200, description = "A page, in sequence order; a client restricted to mailboxes gets only events of its mailboxes; outgoing.status_changed only for the messages the client sent (every client's for an admin without a mailbox restriction)", body = EventPage),
        (status = 400, description = "A parameter that cannot be read", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No token, or an unknown one", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Without messages:read", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 410, description = "Events after `after` are no longer kept (retention); `resumeAfter` says where the feed goes on", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(s): State<Arc<ApiState>>,
    caller: Caller,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Result<Json<EventPage>, Problem> {
    let on = uri.path().to_owned();
    caller.require(Scope::MessagesRead).map_err(|p| p.on(&on))?;
    let (after, limit) =
        parse_query(query.as_deref(), &["after", "limit"]).map_err(|p| p.on(&on))?;
    if let Some(after) = after {
        still_kept(&s, after, "after")
            .await
            .map_err(|p| p.on(&on))?;
    }
    let (after, limit) = (after.unwrap_or(0), limit.unwrap_or(DEFAULT_LIMIT));
    let visible = caller.visible().map(<[String]>::to_vec);
    let owner = super::outgoing::owner(&caller);
    // One more than asked, to know whether more are waiting.
    let mut events = with_store(&s, move |st| {
        st.events_after_for(after, limit + 1, visible.as_deref(), owner.as_deref(), None)
    })
    .await
    .map_err(|p| p.on(&on))?;
    let has_more = events.len() > limit as usize;
    events.truncate(limit as usize);
    let last = events.last().map_or(after, |e| e.seq);
    Ok(Json(EventPage {
        next: format!("/api/v1/events?after={last}&limit={limit}"),
        has_more,
        events: events.into_iter().map(EventBody::from).collect(),
    }))
}

/// Follow events as Server-Sent Events.
#[utoipa::path(
    get,
    path = "/api/v1/events/stream",
    operation_id = "streamEvents",
    tag = "events",
    params(
        StreamParams,
        ("Last-Event-ID" = Option<String>, Header, description = "The `id` of the last event received: the stream resumes after it (takes precedence over `after`)"),
    ),
    security(("bearer" = ["messages:read"])),
    responses(
        (status = 200, description = "A text/event-stream: each event with `id:` its sequence number, `event:` its type, and `data:` the event as JSON (EventBody); a comment line every 15 seconds while nothing happens", content_type = "text/event-stream", body = StreamEvent),
        (status = 400, description = "A parameter or Last-Event-ID that cannot be read", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No token, or an unknown one", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Without messages:read", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 410, description = "Events after Last-Event-ID (or `after`) are no longer kept (retention); `resumeAfter` says where the feed goes on", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn stream(
    State(s): State<Arc<ApiState>>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, Problem> {
    let on = uri.path().to_owned();
    caller.require(Scope::MessagesRead).map_err(|p| p.on(&on))?;
    let (after, _) = parse_query(query.as_deref(), &["after"]).map_err(|p| p.on(&on))?;
    let last_id = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .map(str::trim)
                .ok_or_else(|| {
                    Problem::bad_request("Last-Event-ID is not text").at("Last-Event-ID")
                })
                .and_then(|v| parse_after("Last-Event-ID", v))
                .map_err(|p| p.on(&on))?,
        ),
        None => None,
    };
    let from = match last_id.or(after) {
        Some(seq) => {
            let field = if last_id.is_some() {
                "Last-Event-ID"
            } else {
                "after"
            };
            still_kept(&s, seq, field).await.map_err(|p| p.on(&on))?;
            seq
        }
        // Neither: from now on, as a client that starts listening expects.
        None => with_store(&s, |st| st.events_last_seq())
            .await
            .map_err(|p| p.on(&on))?,
    };
    let visible = caller.visible().map(<[String]>::to_vec);
    let follow = Follow {
        state: s,
        visible,
        owner: super::outgoing::owner(&caller),
        after: from,
        waiting: VecDeque::new(),
    };
    let events = futures_util::stream::unfold(follow, |mut f| async move {
        let e = f.next().await;
        Some((Ok(e), f))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// One stream's place in the log and the page it is sending.
struct Follow {
    state: Arc<ApiState>,
    visible: Option<Vec<String>>,
    /// Whose `outgoing.status_changed` events it gets (`None`: everyone's).
    owner: Option<String>,
    after: i64,
    waiting: VecDeque<Event>,
}

impl Follow {
    /// The next event, waiting (polling) for one as long as it takes. A store that cannot be
    /// read is tried again at the next poll; the client sees only a quiet stream.
    async fn next(&mut self) -> SseEvent {
        loop {
            if let Some(e) = self.waiting.pop_front() {
                self.after = e.seq;
                return sse_event(e);
            }
            let (after, visible, owner) = (self.after, self.visible.clone(), self.owner.clone());
            match with_store(&self.state, move |st| {
                st.events_after_for(
                    after,
                    STREAM_PAGE,
                    visible.as_deref(),
                    owner.as_deref(),
                    None,
                )
            })
            .await
            {
                Ok(page) if !page.is_empty() => self.waiting.extend(page),
                Ok(_) | Err(_) => tokio::time::sleep(POLL).await,
            }
        }
    }
}

fn sse_event(e: Event) -> SseEvent {
    let (seq, kind) = (e.seq, e.kind.clone());
    let body = EventBody::from(e);
    let data = serde_json::to_string(&body).unwrap_or_else(|_| "{}".to_owned());
    SseEvent::default()
        .id(seq.to_string())
        .event(kind)
        .data(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_takes_after_and_limit_and_names_what_is_wrong() {
        assert_eq!(
            parse_query(Some("after=5&limit=2"), &["after", "limit"]).unwrap(),
            (Some(5), Some(2))
        );
        let p = parse_query(Some("after=-1"), &["after"]).unwrap_err();
        assert_eq!(p.field.as_deref(), Some("after"));
        let p = parse_query(Some("limit=2"), &["after"]).unwrap_err();
        assert_eq!(p.field.as_deref(), Some("limit"));
        let p = parse_query(Some("limit=0"), &["after", "limit"]).unwrap_err();
        assert_eq!(p.status, 400);
    }
}
