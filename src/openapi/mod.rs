//! The OpenAPI document. Its paths come from the one route table
//! ([`crate::routes::register`]), so every served route is documented and every documented
//! operation is served; [`responses`] adds the error answers every operation shares,
//! `corrections` mends what utoipa writes in a way clients read wrongly, and
//! `body_strings` states on every body string that Relevo trims it.

mod body_strings;
#[cfg(test)]
mod constraints;
mod corrections;
pub mod responses;

use std::sync::OnceLock;

use actix_web::App;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use responses::{
    BadGateway, BadRequest, Conflict, Forbidden, GatewayTimeout, InternalError, MethodNotAllowed,
    NotFound, PayloadTooLarge, RequestTimeout, ServiceUnavailable, TooManyRequests, Unauthorized,
    ValidationFailed,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Relevo",
        description = "Multi-tenant registry of WhatsApp sending instances with per-instance daily quotas.",
        license(name = "MIT", identifier = "MIT")
    ),
    servers((url = "/", description = "The Relevo serving this document")),
    components(
        schemas(crate::error::ErrorBody, crate::error::ValidationErrorBody),
        responses(
            BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed, RequestTimeout,
            Conflict, PayloadTooLarge, ValidationFailed, TooManyRequests, InternalError,
            BadGateway, ServiceUnavailable, GatewayTimeout
        )
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Login and the current user"),
        (name = "users", description = "Users, managed by super admins"),
        (name = "tenants", description = "Tenants, by id or slug"),
        (name = "whatsapp-instances", description = "Seed 001's instance registry (super admins)"),
        (name = "sender", description = "Campaign senders: claim the next instance that may send, release what was not sent"),
        (name = "messages", description = "Send a text through Relevo (it picks the instance and fails over) and the message log"),
        (name = "sender-tokens", description = "Campaign-sender tokens, issued per tenant by super admins"),
        (name = "tenant (own)", description = "A tenant user's read-only view of its own instances"),
        (name = "evolution-servers", description = "Evolution API servers (super admins); keys are write-only"),
        (name = "audit-log", description = "What super admins changed, with who, when and the request (super admins)"),
        (name = "sync", description = "Sync of instances with their Evolution servers, by hand and on a schedule (super admins)"),
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "webhooks", description = "Events Evolution API servers send to Relevo (authenticated by the server's token in the URL, no bearer token)"),
        (name = "webhook-deliveries", description = "Outbound events to a tenant's callback URL: the delivery log and replays"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "`RELEVO_METRICS_TOKEN`: when it is set, `GET /metrics` needs it; when not, `/metrics` is open",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document, built once from the route table.
pub fn document() -> &'static Document {
    static DOCUMENT: OnceLock<Document> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let (_, mut document) = App::new()
            .into_utoipa_app()
            .openapi(ApiDoc::openapi())
            .configure(crate::routes::register)
            .split_for_parts();
        responses::SharedResponses.modify(&mut document);
        corrections::NamedTypeArguments.modify(&mut document);
        corrections::OptionalBodiesAreNotNull.modify(&mut document);
        corrections::InlineTypesAreNotUnions.modify(&mut document);
        corrections::PublicOperationsSaySo.modify(&mut document);
        body_strings::TrimmedBodyStrings.modify(&mut document);
        document
    })
}

/// The document as committed in `openapi/openapi.json`.
#[allow(
    clippy::expect_used,
    reason = "the document is built from types that always serialize; not a request path"
)]
pub fn pretty_json() -> String {
    let mut json = document()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    json.push('\n');
    json
}
