use actix_web::{get, web, HttpResponse};

use super::{find_instance, tenant_today, Detail, InstanceResource};
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::routes::managed_tenant;
use crate::routes::wire::DataBody;
use crate::state::AppState;

/// One instance with its decrypted `evolution_api_key` and its tenant.
#[utoipa::path(
    tag = "whatsapp-instances",
    params(("tenant" = String, Path, description = "Tenant id or slug"), ("id" = i64, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = inline(DataBody<InstanceResource>)),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "Tenant or instance not found", body = ErrorBody),
    )
)]
#[get("/tenants/{tenant}/whatsapp-instances/{id}")]
pub async fn show_instance(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant_key, id) = path.into_inner();
    let tenant = managed_tenant(&state, &user, tenant_key).await?;
    let instance = find_instance(&state, tenant.id, id).await?;
    let today = tenant_today(&state, &tenant);
    let detail = Detail::Full {
        cipher: &state.cipher,
        tenant: &tenant,
    };
    Ok(
        HttpResponse::Ok().json(DataBody::new(InstanceResource::build(
            instance, &tenant, today, detail,
        )?)),
    )
}
