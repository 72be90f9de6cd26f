//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{
    audit_log, auth, evolution_servers, health, sender, sender_tokens, sync, tenants, users,
    webhooks, whatsapp_instances as wa,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Relevo",
        description = "Multi-tenant registry of WhatsApp sending instances with per-instance daily quotas.",
        license(name = "MIT")
    ),
    paths(health::health, health::ready),
    nest((path = "/api/v1", api = ApiV1)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Login and the current user"),
        (name = "users", description = "Users, managed by super admins"),
        (name = "tenants", description = "Tenants, by id or slug"),
        (name = "whatsapp-instances", description = "Seed 001's instance registry (super admins)"),
        (name = "sender", description = "Campaign senders: claim the next instance that may send, release what was not sent"),
        (name = "sender-tokens", description = "Campaign-sender tokens, issued per tenant by super admins"),
        (name = "tenant (own)", description = "A tenant user's read-only view of its own instances"),
        (name = "evolution-servers", description = "Evolution API servers (super admins); keys are write-only"),
        (name = "audit-log", description = "What super admins changed, with who, when and the request (super admins)"),
        (name = "sync", description = "Sync of instances with their Evolution servers, by hand and on a schedule (super admins)"),
        (name = "operations", description = "Health and readiness"),
        (name = "webhooks", description = "Events Evolution API servers send to Relevo (authenticated by the server's token in the URL, no bearer token)"),
    )
)]
pub struct ApiDoc;

/// Everything under `/api/v1`.
#[derive(OpenApi)]
#[openapi(paths(
    auth::login::login,
    auth::me::me,
    users::create::create_user,
    users::list::list_users,
    users::show::show_user,
    users::update::update_user,
    users::delete::delete_user,
    tenants::create::create_tenant,
    tenants::list::list_tenants,
    tenants::show::show_tenant,
    tenants::update::update_tenant,
    tenants::delete::delete_tenant,
    tenants::statistics::tenant_statistics,
    sender_tokens::create::create_sender_token,
    sender_tokens::list::list_sender_tokens,
    sender_tokens::delete::delete_sender_token,
    sender::claim::claim_instance,
    sender::claim::claim_own_instance,
    sender::release::release_claim,
    sender::release::release_own_claim,
    wa::list_all::list_all_instances,
    wa::list::list_instances,
    wa::create::create_instance,
    wa::show::show_instance,
    wa::update::update_instance,
    wa::delete::delete_instance,
    wa::toggle_active::toggle_active,
    wa::reset_counter::reset_counter,
    wa::statistics::instance_statistics,
    wa::own_tenant::list_own_instances,
    wa::own_tenant::show_own_instance,
    wa::own_tenant::own_instance_statistics,
    wa::provision::provision_instance,
    wa::connect::connect_instance,
    wa::qr::instance_qr,
    wa::logout::logout_instance,
    wa::restart::restart_instance,
    wa::connection_state::connection_state,
    wa::events::get_webhook,
    wa::events::set_webhook,
    wa::events::get_websocket,
    wa::events::set_websocket,
    evolution_servers::create::create_server,
    evolution_servers::list::list_servers,
    evolution_servers::show::show_server,
    evolution_servers::update::update_server,
    evolution_servers::delete::delete_server,
    evolution_servers::health::server_health,
    audit_log::list::list_audit_log,
    sync::run::sync_tenant_instances,
    sync::run::sync_all_instances,
    sync::list_runs::list_sync_runs,
    webhooks::evolution::receive_evolution_webhook,
    webhooks::evolution::receive_evolution_webhook_by_event,
))]
struct ApiV1;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
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
    }
}

/// The document as committed in `openapi/openapi.json`.
pub fn pretty_json() -> String {
    let mut json = ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    json.push('\n');
    json
}
