use actix_web::{delete, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::SuperAdmin;
use crate::db::tenants;
use crate::error::{ApiError, ErrorBody, FieldErrors};
use crate::i18n::Locale;
use crate::routes::visible_tenant;
use crate::routes::wire::{query_boolean, MessageBody};
use crate::startup::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteTenantQuery {
    /// Also delete the tenant's instances and users.
    #[param(value_type = Option<bool>)]
    pub force: Option<String>,
}

/// A tenant that still has instances is kept (409) unless `force=true`.
#[utoipa::path(
    tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant id or slug"), DeleteTenantQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = MessageBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The tenant still has instances", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
#[delete("/tenants/{tenant}")]
pub async fn delete_tenant(
    state: web::Data<AppState>,
    admin: SuperAdmin,
    locale: Locale,
    path: web::Path<String>,
    query: web::Query<DeleteTenantQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = FieldErrors::default();
    let force = query_boolean(&query.force, "force", &mut errors).unwrap_or(false);
    errors.into_result(locale)?;
    let tenant = visible_tenant(&state, &admin.0, path.into_inner()).await?;
    let tenant_id = tenant.id;
    let kept_for = state
        .write(move |conn| {
            Ok(tenants::delete_unless_has_instances(
                conn, tenant_id, force,
            )?)
        })
        .await?;
    if let Some(instances) = kept_for {
        return Err(ApiError::conflict(
            "tenant.has_instances",
            format!("The tenant still has {instances} WhatsApp instance(s); delete them first or pass force=true"),
        )
        .with_params(serde_json::json!({ "instances": instances })));
    }
    Ok(HttpResponse::Ok().json(MessageBody {
        message: "Tenant deleted successfully".into(),
    }))
}
