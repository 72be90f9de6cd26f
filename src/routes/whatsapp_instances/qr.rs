use actix_web::{get, web, HttpResponse};

use super::remote::{InstanceWithQr, QrCodeBody};
use super::{find_instance, tenant_today, Detail, InstanceResource};
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::routes::managed_tenant;
use crate::routes::wire::DataBody;
use crate::state::AppState;

/// The last QR code Evolution gave (by provision, connect or restart), without calling it.
#[utoipa::path(
    tag = "whatsapp-instances",
    params(("tenant" = String, Path, description = "Tenant id or slug"), ("id" = i64, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = inline(DataBody<InstanceWithQr>)),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
#[get("/tenants/{tenant}/whatsapp-instances/{id}/qr")]
pub async fn instance_qr(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant_key, id) = path.into_inner();
    let tenant = managed_tenant(&state, &user, tenant_key).await?;
    let instance = find_instance(&state, tenant.id, id).await?;
    let qr_code = QrCodeBody::from(&instance);
    let today = tenant_today(&state, &tenant);
    let instance = InstanceResource::build(instance, &tenant, today, Detail::Summary)?;
    Ok(HttpResponse::Ok().json(DataBody::new(InstanceWithQr { instance, qr_code })))
}
