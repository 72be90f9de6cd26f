use actix_web::{get, web, HttpResponse};

use super::{MessagingCredits, TenantDetail, TenantResource};
use crate::auth::AuthUser;
use crate::db::{claims, instances};
use crate::error::{ApiError, ErrorBody};
use crate::routes::visible_tenant;
use crate::routes::whatsapp_instances::{tenant_today, InstanceListItem};
use crate::routes::wire::{DataBody, Timestamp};
use crate::state::AppState;

/// The tenant with its instances (list form, no keys), counts and messaging credits.
/// Tenant users may read their own tenant; any other is a 404 for them.
#[utoipa::path(
    tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = inline(DataBody<TenantDetail>)),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
#[get("/tenants/{tenant}")]
pub async fn show_tenant(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = visible_tenant(&state, &user, path.into_inner()).await?;
    let tenant_id = tenant.id;
    let (rows, (whatsapp_used, last_transaction_at)) = state
        .db(move |conn| {
            let rows = instances::list_for_tenant(conn, tenant_id)?;
            Ok((rows, claims::tenant_usage(conn, tenant_id)?))
        })
        .await?;
    let today = tenant_today(&state, &tenant);
    let active = rows.iter().filter(|instance| instance.is_active).count() as i64;
    let total = rows.len() as i64;
    let whatsapp_instances = rows
        .into_iter()
        .map(|instance| InstanceListItem::build(instance, &tenant, today))
        .collect();
    let detail = TenantDetail {
        tenant: TenantResource::from(&tenant),
        whatsapp_instances,
        whatsapp_instances_count: total,
        active_whatsapp_instances_count: active,
        messaging_credits: MessagingCredits::of(
            &tenant,
            whatsapp_used,
            last_transaction_at.map(Timestamp),
        ),
    };
    Ok(HttpResponse::Ok().json(DataBody::new(detail)))
}
