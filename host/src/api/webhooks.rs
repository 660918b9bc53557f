//! `/api/v1/webhooks/deliveries`: what the webhook worker (`crate::webhooks`) delivered,
//! still tries, and gave up on, with the reason; and putting a given-up delivery back in
//! the queue. An operator's view: scope `admin`.

use std::sync::Arc;

use axum::extract::{Json, Path as UrlPath, RawQuery, State};
use axum::http::Uri;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::events::EventBody;
use super::messages::time;
use super::problem::{Problem, ProblemDetails};
use super::{ApiState, with_store};
use crate::config::api::Scope;
use crate::store::webhooks::Delivery;

/// Deliveries listed when `limit` is not given.
const DEFAULT_LIMIT: u32 = 100;

/// `GET /api/v1/webhooks/deliveries`'s parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Read by hand from the query string (each error names its parameter); this is its description.
pub struct ListParams {
    /// pending, delivered or failed (given up); all when absent.
    state: Option<String>,
    /// At most this many, newest first (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// A webhook delivery.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryBody {
    /// Its id (for retry).
    pub id: i64,
    /// The webhook: its `name`, or its url when it has none.
    pub webhook: String,
    /// pending, delivered or failed (given up).
    pub state: String,
    /// Attempts made.
    pub attempts: u32,
    /// When it was created (RFC 3339, UTC).
    pub created_at: String,
    /// When it is tried next (pending only).
    pub next_attempt_at: Option<String>,
    /// Why the last attempt failed, or why it was given up.
    pub last_error: Option<String>,
    /// When the endpoint took it.
    pub delivered_at: Option<String>,
    /// The `webhook-id` header it is sent with.
    pub webhook_id: String,
    /// The event.
    pub event: EventBody,
}

impl From<Delivery> for DeliveryBody {
    fn from(d: Delivery) -> DeliveryBody {
        DeliveryBody {
            webhook_id: crate::webhooks::worker::message_id(&d),
            id: d.id,
            webhook: d.webhook,
            next_attempt_at: (d.state == "pending").then(|| time(d.next_attempt_at)),
            state: d.state,
            attempts: d.attempts,
            created_at: time(d.created_at),
            last_error: d.last_error,
            delivered_at: d.delivered_at.map(time),
            event: EventBody::from(d.event),
        }
    }
}

/// Deliveries, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryList {
    /// The deliveries.
    pub deliveries: Vec<DeliveryBody>,
}

/// A retry's outcome.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Retried {
    /// The delivery.
    pub id: i64,
    /// Whether this request put it back in the queue (false: it was not failed; a pending
    /// one is queued already, a delivered one is done).
    pub requeued: bool,
}

fn parse_list(query: Option<&str>) -> Result<(Option<String>, u32), Problem> {
    let (mut state, mut limit) = (None, DEFAULT_LIMIT);
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let bad = |detail: String| Problem::bad_request(detail).at(key.to_string());
        match &*key {
            "state" => match &*value {
                "pending" | "delivered" | "failed" => state = Some(value.into_owned()),
                _ => {
                    return Err(bad(format!(
                        "state is pending, delivered or failed, not {value:?}"
                    )));
                }
            },
            "limit" => {
                limit = super::paging::limit(&value)?;
            }
            _ => {
                return Err(bad(format!(
                    "{key} is not a parameter here; the parameters are state and limit"
                )));
            }
        }
    }
    Ok((state, limit))
}

/// List webhook deliveries.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/deliveries",
    operation_id = "listWebhookDeliveries",
    tag = "webhooks",
    params(ListParams),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Deliveries, newest first", body = DeliveryList),
        (status = 400, description = "A parameter that cannot be read", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No token, or an unknown one", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Without admin", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(s): State<Arc<ApiState>>,
    caller: Caller,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Result<Json<DeliveryList>, Problem> {
    let on = uri.path().to_owned();
    caller.require(Scope::Admin).map_err(|p| p.on(&on))?;
    let (state, limit) = parse_list(query.as_deref()).map_err(|p| p.on(&on))?;
    let found = with_store(&s, move |st| {
        st.webhooks_deliveries(state.as_deref(), limit)
    })
    .await
    .map_err(|p| p.on(&on))?;
    Ok(Json(DeliveryList {
        deliveries: found.into_iter().map(DeliveryBody::from).collect(),
    }))
}

/// Put a given-up delivery back in the queue.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/deliveries/{id}/retry",
    operation_id = "retryWebhookDelivery",
    tag = "webhooks",
    params(("id" = i64, Path, description = "The delivery's id")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Queued again (due now, with a fresh give-up time), or why not", body = Retried),
        (status = 401, description = "No token, or an unknown one", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Without admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such delivery", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn retry(
    State(s): State<Arc<ApiState>>,
    caller: Caller,
    uri: Uri,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Retried>, Problem> {
    let on = uri.path().to_owned();
    caller.require(Scope::Admin).map_err(|p| p.on(&on))?;
    let missing = || {
        Problem::not_found(format!("no webhook delivery {id} is stored here"))
            .at("id")
            .on(&on)
    };
    let Ok(n) = id.parse::<i64>() else {
        return Err(missing());
    };
    let now = s.clock.now_unix();
    match with_store(&s, move |st| st.webhooks_retry(n, now))
        .await
        .map_err(|p| p.on(&on))?
    {
        Some(requeued) => Ok(Json(Retried { id: n, requeued })),
        None => Err(missing()),
    }
}
