use actix_web::{get, web};

use super::remote::InstanceWithQr;
use super::{find_instance, tenant_today, InstancePath};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::routes::managed_tenant;
use crate::routes::wire::DataBody;
use crate::state::AppState;

/// Shows an instance's last QR code.
///
/// The last one Evolution gave (by provision, connect or restart), without calling it.
#[utoipa::path(
    tag = "whatsapp-instances",
    params(InstancePath),
    security(("bearer" = [])),
    responses(
        (status = 200, body = DataBody<InstanceWithQr>),
    )
)]
#[get("/tenants/{tenant}/whatsapp-instances/{id}/qr")]
pub async fn instance_qr(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<InstancePath>,
) -> Result<web::Json<DataBody<InstanceWithQr>>, ApiError> {
    let InstancePath { tenant, id } = path.into_inner();
    let tenant = managed_tenant(&state, &user, tenant).await?;
    let instance = find_instance(&state, tenant.id, id).await?;
    let today = tenant_today(&state, &tenant);
    Ok(web::Json(DataBody::new(InstanceWithQr::build(
        instance, &tenant, today,
    ))))
}
