use actix_web::{post, web};

use crate::audit::Auditor;
use crate::auth::{AuthUser, SuperAdmin};
use crate::db::sync_runs::SyncScope;
use crate::error::ApiError;
use crate::lifecycle::sync::{self, SyncReport};
use crate::request_id::RequestId;
use crate::routes::managed_tenant;
use crate::routes::wire::DataBody;
use crate::state::AppState;

/// Syncs every instance of the tenant with its Evolution server now.
///
/// Active or not. One `fetchInstances` per server. Fills `connection_status`, `owner_jid`,
/// `profile_name`, `last_checked_at`, `connected_at`, and `phone_number` of an instance
/// that has none (from `ownerJid`). An instance its server no longer has becomes
/// `error` (`orphaned`). A server that is inactive, has no global key, or cannot be
/// reached puts each of its instances in `errors` and changes none of them.
///
/// 409: Another sync is running (`sync.in_progress`).
#[utoipa::path(
    tag = "sync",
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = DataBody<SyncReport>),
        (status = 409, response = crate::openapi::responses::Conflict),
    )
)]
#[post("/tenants/{tenant}/whatsapp-instances/sync")]
pub async fn sync_tenant_instances(
    state: web::Data<AppState>,
    user: AuthUser,
    request_id: RequestId,
    path: web::Path<String>,
) -> Result<web::Json<DataBody<SyncReport>>, ApiError> {
    let tenant = managed_tenant(&state, &user, path.into_inner()).await?;
    let scope = SyncScope {
        tenant_id: Some(tenant.id),
        active: true,
        inactive: true,
    };
    let auditor = Auditor::new(&user, request_id, &state.clock);
    let report = sync::run_manual(&state, scope, auditor).await?;
    Ok(web::Json(DataBody::new(report)))
}

/// Syncs every instance of every tenant now.
///
/// As the tenant's sync otherwise.
///
/// 409: Another sync is running (`sync.in_progress`).
#[utoipa::path(
    tag = "sync",
    security(("bearer" = [])),
    responses(
        (status = 200, body = DataBody<SyncReport>),
        (status = 409, response = crate::openapi::responses::Conflict),
    )
)]
#[post("/whatsapp-instances/sync")]
pub async fn sync_all_instances(
    state: web::Data<AppState>,
    admin: SuperAdmin,
    request_id: RequestId,
) -> Result<web::Json<DataBody<SyncReport>>, ApiError> {
    let scope = SyncScope {
        tenant_id: None,
        active: true,
        inactive: true,
    };
    let auditor = Auditor::new(&admin.0, request_id, &state.clock);
    let report = sync::run_manual(&state, scope, auditor).await?;
    Ok(web::Json(DataBody::new(report)))
}
