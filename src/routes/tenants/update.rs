use actix_web::{put, web};

use super::create::slug_taken;
use super::fields::{TenantBody, UpdateTenantBody};
use super::{audit_snapshot, TenantWithCallbackSecret};
use crate::audit::Auditor;
use crate::auth::SuperAdmin;
use crate::error::{ApiError, Resource};
use crate::i18n::Locale;
use crate::input::JsonObject;
use crate::registry::tenants::{self, GeneratedSecret, UpdateOutcome};
use crate::request_id::RequestId;
use crate::routes::visible_tenant;
use crate::routes::wire::MessageDataBody;
use crate::state::AppState;

/// Changes a tenant: only the fields sent.
#[utoipa::path(
    tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    request_body = UpdateTenantBody,
    security(("bearer" = [])),
    responses((status = 200, body = MessageDataBody<TenantWithCallbackSecret>))
)]
#[put("/tenants/{tenant}")]
pub async fn update_tenant(
    state: web::Data<AppState>,
    admin: SuperAdmin,
    request_id: RequestId,
    locale: Locale,
    path: web::Path<String>,
    body: JsonObject<TenantBody>,
) -> Result<web::Json<MessageDataBody<TenantWithCallbackSecret>>, ApiError> {
    let tenant = visible_tenant(&state, &admin.0, path.into_inner()).await?;
    let auditor = Auditor::new(&admin.0, request_id, &state.clock);
    let changes = match body.parse_changes(&state.cipher, &state.targets) {
        Ok(changes) => changes,
        Err(refused) => {
            return Err(tenants::refusal(&state, refused, Some(tenant.id))
                .await?
                .into_error(locale))
        }
    };
    let generated = GeneratedSecret::new(&state.cipher);
    match tenants::update(
        &state,
        auditor,
        tenant.id,
        changes,
        generated,
        audit_snapshot,
    )
    .await?
    {
        UpdateOutcome::Updated(written) => Ok(web::Json(MessageDataBody::new(
            TenantWithCallbackSecret::from(*written),
            "Tenant updated successfully",
        ))),
        UpdateOutcome::SlugTaken => Err(slug_taken(locale)),
        UpdateOutcome::NotFound => Err(ApiError::not_found(Resource::Tenant)),
    }
}
