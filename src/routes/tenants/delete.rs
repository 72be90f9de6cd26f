use actix_web::{delete, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::audit_snapshot;
use crate::audit::Auditor;
use crate::auth::SuperAdmin;
use crate::db::tenants;
use crate::error::{ApiError, ErrorKey, FieldErrors, Resource};
use crate::i18n::Locale;
use crate::lifecycle::tenant_removal::{self, TenantRemoval};
use crate::request_id::RequestId;
use crate::routes::visible_tenant;
use crate::routes::wire::{query_boolean, MessageBody};
use crate::state::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteTenantQuery {
    /// Delete the tenant even if it still has instances, and them with it (`true`/`false`;
    /// `1` and `0` are read the same). Default `false`. Its users and sender tokens are
    /// deleted with it either way.
    #[param(value_type = Option<bool>)]
    pub force: Option<String>,
}

/// Deletes a tenant.
///
/// A tenant that still has instances is kept (409) unless `force=true`. Its users and
/// sender tokens go with it. Its instances Relevo provisioned are deleted on Evolution too
/// (logging their WhatsApp out); a name Evolution keeps (it did not answer, or Relevo
/// only registered the instance) stays reserved: provisioning it for another tenant is a
/// 409 `whatsapp.instance_name_retired` until an admin sends `adopt: true`.
///
/// 409: The tenant still has instances (`tenant.has_instances`,
/// `error_params.instances`).
#[utoipa::path(
    tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant id or slug"), DeleteTenantQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = MessageBody),
        (status = 409, response = crate::openapi::responses::Conflict),
    )
)]
#[delete("/tenants/{tenant}")]
pub async fn delete_tenant(
    state: web::Data<AppState>,
    admin: SuperAdmin,
    request_id: RequestId,
    locale: Locale,
    path: web::Path<String>,
    query: web::Query<DeleteTenantQuery>,
) -> Result<web::Json<MessageBody>, ApiError> {
    let mut errors = FieldErrors::default();
    let force = query_boolean(&query.force, "force", &mut errors).unwrap_or(false);
    errors.into_result(locale)?;
    let tenant = visible_tenant(&state, &admin.0, path.into_inner()).await?;
    let auditor = Auditor::new(&admin.0, request_id, &state.clock);
    let removal =
        tenant_removal::delete_tenant(&state, tenant, force, auditor, deleted_snapshot).await?;
    let kept_on_evolution = match removal {
        TenantRemoval::Deleted { kept_on_evolution } => kept_on_evolution,
        TenantRemoval::NotFound => return Err(ApiError::not_found(Resource::Tenant)),
        TenantRemoval::HasInstances(instances) => {
            return Err(ApiError::conflict(
                ErrorKey::TenantHasInstances,
                format!("The tenant still has {instances} WhatsApp instance(s); delete them first or pass force=true"),
            )
            .with_params(serde_json::json!({ "instances": instances })))
        }
    };
    let message = if kept_on_evolution.is_empty() {
        "Tenant deleted successfully".to_string()
    } else {
        format!(
            "Tenant deleted. Evolution still has {} of its instances ({}); their names stay reserved, and provisioning one for another tenant needs \"adopt\": true.",
            kept_on_evolution.len(),
            kept_on_evolution.join(", ")
        )
    };
    Ok(web::Json(MessageBody { message }))
}

/// The tenant as it was, with what went with it: its instances, and how many users and
/// sender tokens.
fn deleted_snapshot(
    tenant: &tenants::Tenant,
    dependents: &tenants::Dependents,
) -> diesel::QueryResult<serde_json::Value> {
    let mut snapshot = audit_snapshot(tenant)?;
    let instances: Vec<_> = dependents
        .instances
        .iter()
        .map(|(id, instance_name, phone_number)| {
            serde_json::json!({"id": id, "instance_name": instance_name, "phone_number": phone_number})
        })
        .collect();
    snapshot["whatsapp_instances_count"] = instances.len().into();
    snapshot["whatsapp_instances"] = instances.into();
    snapshot["users_count"] = dependents.users.into();
    snapshot["sender_tokens_count"] = dependents.sender_tokens.into();
    Ok(snapshot)
}
