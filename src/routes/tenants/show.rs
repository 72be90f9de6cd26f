use actix_web::{get, web};

use super::{MessagingCredits, TenantDetail, TenantResource};
use crate::auth::AuthUser;
use crate::db::{claims, instances};
use crate::domain::Timestamp;
use crate::error::ApiError;
use crate::routes::visible_tenant;
use crate::routes::whatsapp_instances::{tenant_today, InstanceListItem};
use crate::routes::wire::DataBody;
use crate::state::AppState;

/// The tenant with its instances, counts and messaging credits.
///
/// Instances in list form (no keys). Tenant users may read their own tenant; any other
/// is a 404 for them. A sender token gets 403.
#[utoipa::path(
    tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    security(("bearer" = [])),
    responses((status = 200, body = DataBody<TenantDetail>))
)]
#[get("/tenants/{tenant}")]
pub async fn show_tenant(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<web::Json<DataBody<TenantDetail>>, ApiError> {
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
    Ok(web::Json(DataBody::new(detail)))
}
