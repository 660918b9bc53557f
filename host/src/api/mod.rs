//! The platform API (issue 15): a second listener of `dpost serve`, `[api] listen` (default
//! 127.0.0.1:8081), apart from the public push listener NgDP reaches. A case-management
//! platform takes received messages over here: `/api/v1/...`, JSON in camelCase, bearer
//! tokens per client (`[[api.clients]]`), every error an RFC 9457 problem, and an OpenAPI
//! 3.1 document generated from this code. `/metrics` is here too, never on the public side.
//!
//! The API (and the console) read and write the store through a pool of connections of
//! their own (`[store] connections`, `store::pool`): SQLite in WAL mode lets their reads run
//! beside each other and beside the push listener's commits, so a busy platform never holds
//! up receiving mail, and one slow request does not hold up the others.

pub mod auth;
pub mod digipost;
pub mod events;
pub mod file_stream;
pub mod files;
pub mod messages;
pub mod openapi;
pub mod outgoing;
pub mod paging;
pub mod piece_stream;
pub mod pool_metrics;
pub mod problem;
pub mod receipts;
pub mod retention;
pub mod submission;
pub mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::http::{Method, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::clock::Clock;
use crate::config::api::ApiClient;
use crate::config::live::Live;
use crate::ngdp::metrics::Metrics;
use crate::store::pool::{ConnectionError, StorePool};
use crate::store::{Store, StoreError};
use problem::Problem;

/// What the API's handlers share.
pub struct ApiState {
    /// The API's and the console's own connections to the store.
    pub store: StorePool,
    /// The configured clients (replaced on reload).
    pub clients: Live<Vec<ApiClient>>,
    /// The configured mailboxes, where a message may be routed (replaced on reload).
    pub mailboxes: Live<Vec<String>>,
    /// The host's clock: acknowledgement and route times.
    pub clock: Arc<dyn Clock>,
    /// The service's metrics, shared with the push listener.
    pub metrics: Arc<Metrics>,
    /// What submitting messages for sending needs (`/api/v1/outgoing`).
    pub sending: Arc<outgoing::Sending>,
}

/// The documented routes, with their OpenAPI description.
pub(crate) fn routes() -> OpenApiRouter<Arc<ApiState>> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(messages::list))
        .routes(routes!(messages::show))
        .routes(routes!(messages::memo))
        .routes(routes!(messages::file))
        .routes(routes!(messages::ack))
        .routes(routes!(messages::route))
        .routes(routes!(digipost::list))
        .routes(routes!(digipost::show))
        .routes(routes!(digipost::content))
        .routes(routes!(digipost::ack))
        .routes(routes!(events::list))
        .routes(routes!(events::stream))
        .routes(routes!(webhooks::list))
        .routes(routes!(webhooks::retry))
        .routes(routes!(outgoing::submit, outgoing::list))
        .routes(routes!(outgoing::show))
        .routes(routes!(outgoing::retry))
        .routes(routes!(receipts::list))
        .routes(routes!(receipts::retry))
        .routes(routes!(openapi::serve))
}

/// The API listener's router.
pub fn router(state: Arc<ApiState>) -> Router {
    let (api, _) = routes().split_for_parts();
    api.route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn not_found(uri: Uri) -> Problem {
    Problem::not_found(format!(
        "{} is not a path of this API; see /api/v1/openapi.json",
        uri.path()
    ))
    .on(uri.path())
}

async fn method_not_allowed(method: Method, uri: Uri) -> Problem {
    Problem::method_not_allowed(format!("{} does not take {method}", uri.path())).on(uri.path())
}

async fn metrics(axum::extract::State(s): axum::extract::State<Arc<ApiState>>) -> Response {
    s.metrics.store_pool.set(s.store.status());
    if let Ok(backlog) = with_store(&s, |st| st.receipt_backlog()).await {
        s.metrics
            .receipts
            .set(&s.sending.systems, &backlog, s.clock.now_unix());
    }
    s.metrics.refresh_certificate_days(s.clock.now_unix());
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}

/// Run `f` on a connection borrowed from the API's pool, on a blocking thread (SQLite
/// blocks). The wait for a connection is asynchronous and bounded (`[store]
/// connection_wait_seconds`). A store failure, or no connection within the wait, is logged
/// in full and answered as a 503 without its details (paths, SQL).
pub(crate) async fn with_store<R: Send + 'static>(
    s: &Arc<ApiState>,
    f: impl FnOnce(&mut Store) -> Result<R, StoreError> + Send + 'static,
) -> Result<R, Problem> {
    let waiting = std::time::Instant::now();
    let borrowed = s.store.get().await;
    s.metrics
        .store_pool
        .wait_seconds
        .observe(waiting.elapsed().as_secs_f64());
    let mut conn = match borrowed {
        Ok(conn) => conn,
        Err(e) => {
            let detail = match e {
                ConnectionError::Busy { .. } => {
                    s.metrics.store_pool.wait_timeouts.inc();
                    tracing::warn!(error = %e, "an API request found no free store connection");
                    "every connection to the store is busy; repeat the request"
                }
                _ => {
                    tracing::error!(error = %e, "the API could not open a store connection");
                    "the store cannot be read or written just now; repeat the request"
                }
            };
            return Err(Problem::unavailable(detail));
        }
    };
    let done = tokio::task::spawn_blocking(move || f(&mut conn)).await;
    match done {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "the API's store request failed");
            Err(Problem::unavailable(
                "the store cannot be read or written just now; repeat the request",
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, "the API's store request did not finish");
            Err(Problem::unavailable(
                "the request could not be completed; repeat it",
            ))
        }
    }
}
