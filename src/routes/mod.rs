//! One folder per resource, one file per action. `register` is the route table.

pub mod audit_log;
pub mod auth;
pub mod evolution_servers;
pub mod health;
pub mod messages;
pub mod period;
pub mod sender;
pub mod sender_tokens;
pub mod sync;
pub mod tenants;
pub mod users;
pub mod webhook_deliveries;
pub mod webhooks;
pub mod whatsapp_instances;
pub mod wire;

use utoipa_actix_web::{scope, service_config::ServiceConfig};

use crate::auth::AuthUser;
use crate::db::tenants::{Tenant, TenantKey};
use crate::error::{ApiError, Resource};
use crate::state::AppState;

/// The one route table: each handler registered here is served and, through its
/// `#[utoipa::path]`, documented; nothing is served that the document does not list.
pub fn register(cfg: &mut ServiceConfig) {
    use whatsapp_instances as wa;
    cfg.service(health::health)
        .service(health::ready)
        .service(health::metrics)
        .service(
            scope("/api/v1")
                .service(auth::login::login)
                .service(auth::me::me)
                .service(users::create::create_user)
                .service(users::list::list_users)
                .service(users::show::show_user)
                .service(users::update::update_user)
                .service(users::delete::delete_user)
                .service(tenants::create::create_tenant)
                .service(tenants::list::list_tenants)
                .service(tenants::show::show_tenant)
                .service(tenants::update::update_tenant)
                .service(tenants::delete::delete_tenant)
                .service(tenants::statistics::tenant_statistics)
                .service(sender_tokens::create::create_sender_token)
                .service(sender_tokens::list::list_sender_tokens)
                .service(sender_tokens::delete::delete_sender_token)
                .service(sender::claim::claim_instance)
                .service(sender::claim::claim_own_instance)
                .service(sender::release::release_claim)
                .service(sender::release::release_own_claim)
                .service(messages::send::send_message)
                .service(messages::send::send_own_message)
                .service(messages::list::list_messages)
                .service(messages::show::show_message)
                .service(sync::run::sync_all_instances)
                .service(sync::run::sync_tenant_instances)
                .service(sync::list_runs::list_sync_runs)
                .service(wa::list_all::list_all_instances)
                .service(wa::list::list_instances)
                .service(wa::create::create_instance)
                .service(wa::show::show_instance)
                .service(wa::update::update_instance)
                .service(wa::delete::delete_instance)
                .service(wa::toggle_active::toggle_active)
                .service(wa::reset_counter::reset_counter)
                .service(wa::statistics::instance_statistics)
                .service(wa::own_tenant::list_own_instances)
                .service(wa::own_tenant::show_own_instance)
                .service(wa::own_tenant::own_instance_statistics)
                .service(wa::provision::provision_instance)
                .service(wa::connect::connect_instance)
                .service(wa::qr::instance_qr)
                .service(wa::logout::logout_instance)
                .service(wa::restart::restart_instance)
                .service(wa::connection_state::connection_state)
                .service(wa::events::get_webhook)
                .service(wa::events::set_webhook)
                .service(wa::events::rotate_webhook_token)
                .service(wa::events::get_websocket)
                .service(wa::events::set_websocket)
                .service(evolution_servers::create::create_server)
                .service(evolution_servers::list::list_servers)
                .service(evolution_servers::show::show_server)
                .service(evolution_servers::update::update_server)
                .service(evolution_servers::delete::delete_server)
                .service(evolution_servers::health::server_health)
                .service(audit_log::list::list_audit_log)
                .service(webhook_deliveries::list::list_webhook_deliveries)
                .service(webhook_deliveries::replay::replay_webhook_delivery)
                .service(webhooks::evolution::receive_evolution_webhook)
                .service(webhooks::evolution::receive_evolution_webhook_by_event),
        );
}

/// The tenant named in the path, if this principal may see it. A tenant user asking
/// for another tenant gets the same 404 as for a tenant that does not exist.
pub async fn visible_tenant(
    state: &AppState,
    user: &AuthUser,
    key: String,
) -> Result<Tenant, ApiError> {
    let tenant = state
        .db(move |conn| Ok(crate::db::tenants::find(conn, &TenantKey::parse(&key))?))
        .await?;
    tenant
        .filter(|tenant| user.can_see_tenant(tenant.id))
        .ok_or_else(|| ApiError::not_found(Resource::Tenant))
}

/// As [`visible_tenant`], for instance management: only super admins (seed 001: 403).
pub async fn managed_tenant(
    state: &AppState,
    user: &AuthUser,
    key: String,
) -> Result<Tenant, ApiError> {
    let tenant = visible_tenant(state, user, key).await?;
    if user.is_super_admin() {
        Ok(tenant)
    } else {
        Err(ApiError::forbidden())
    }
}
