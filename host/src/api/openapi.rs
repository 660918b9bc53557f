//! The OpenAPI 3.1 document, generated from the handlers' annotations and the router
//! itself (utoipa-axum registers a route and its description together, so no route can
//! exist undocumented). Served at `/api/v1/openapi.json`; committed as
//! `docs/api/openapi.json`, which `dpost api openapi > docs/api/openapi.json` rewrites and a
//! test keeps equal.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::problem::ProblemDetails;

/// The parts of the document no handler carries.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "dpost platform API",
        version = "1.0.0",
        description = "How a case-management platform takes received Digital Post out of dpost: \
            a feed of messages with a cursor, their metadata, MeMo and files, acknowledgements and \
            moves between mailboxes; and how it sends through dpost: messages submitted, their \
            status and receipts, and receipts both ways. Every error is an RFC 9457 problem (application/problem+json). \
            Walkthrough: docs/api.md.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(ProblemDetails)),
    modifiers(&Bearer),
    tags(
        (name = "messages", description = "Received NgDP messages"),
        (name = "digipost", description = "The Digipost archive: documents synced from Digipost inboxes"),
        (name = "events", description = "What happened, in order: a feed and a Server-Sent Events stream"),
        (name = "webhooks", description = "Webhook deliveries: what was delivered, what is retried, what was given up"),
        (name = "outgoing", description = "Messages sent through dpost, their status and receipts"),
        (name = "receipts", description = "Business receipts owed to NgDP, and receipts NgDP sent"),
        (name = "meta", description = "This document"),
    )
)]
pub struct ApiDoc;

/// The bearer scheme every endpoint but this document's own uses.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A client's token from `dpost api token create`; the scopes each \
                         operation needs are listed with it",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document, as JSON text (pretty, ending in a newline), exactly as committed.
pub fn document_json() -> String {
    let doc = super::routes().split_for_parts().1;
    let mut text = doc
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()));
    text.push('\n');
    text
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "getOpenApiDocument",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json", body = Object))
)]
pub async fn serve() -> impl axum::response::IntoResponse {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        DOC.get_or_init(document_json).clone(),
    )
}
