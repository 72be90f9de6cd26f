use actix_web::{get, web};

use super::{find_instance, tenant_today, InstanceDetail, InstancePath};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::routes::managed_tenant;
use crate::routes::wire::DataBody;
use crate::state::AppState;

/// Shows one instance.
///
/// With its decrypted `evolution_api_key` and its tenant.
#[utoipa::path(
    tag = "whatsapp-instances",
    params(InstancePath),
    security(("bearer" = [])),
    responses(
        (status = 200, body = DataBody<InstanceDetail>),
    )
)]
#[get("/tenants/{tenant}/whatsapp-instances/{id}")]
pub async fn show_instance(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<InstancePath>,
) -> Result<web::Json<DataBody<InstanceDetail>>, ApiError> {
    let InstancePath { tenant, id } = path.into_inner();
    let tenant = managed_tenant(&state, &user, tenant).await?;
    let instance = find_instance(&state, tenant.id, id).await?;
    let today = tenant_today(&state, &tenant);
    let detail = InstanceDetail::build(instance, &tenant, today, &state.cipher)?;
    Ok(web::Json(DataBody::new(detail)))
}
