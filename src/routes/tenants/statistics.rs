use actix_web::{get, web};
use chrono::Days;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::db::claims::eligibility::is_eligible;
use crate::db::{claims, instances};
use crate::error::ApiError;
use crate::routes::visible_tenant;
use crate::routes::whatsapp_instances::{
    history, tenant_today, HistoryDay, InstanceStatistics, HISTORY_DAYS,
};
use crate::routes::wire::{DataBody, Decimal};
use crate::state::AppState;

/// The tenant's sending capacity today and its send log of the last 30 days.
#[derive(Serialize, ToSchema)]
pub struct TenantStatistics {
    #[schema(example = 5)]
    pub tenant_id: i64,
    #[schema(example = 3)]
    pub instances_count: i64,
    #[schema(example = 2)]
    pub active_instances_count: i64,
    /// Instances a claim could be granted on right now.
    #[schema(example = 2)]
    pub available_instances_count: i64,
    /// The daily limits of the active instances, added up.
    #[schema(example = 2000)]
    pub daily_limit: i64,
    #[schema(example = 245)]
    pub sent_today: i64,
    /// What claims can still be granted today.
    #[schema(example = 1755)]
    pub remaining_today: i64,
    /// `sent_today` over `daily_limit`.
    #[schema(value_type = f64, example = 12.25)]
    pub usage_percentage: Decimal,
    pub history: Vec<HistoryDay>,
    /// Each instance's statistics, without their own history.
    pub instances: Vec<InstanceStatistics>,
}

/// The tenant's sending capacity today and its send log of the last 30 days.
///
/// Tenant users may read their own tenant's; any other is a 404 for them. A sender
/// token gets 403.
#[utoipa::path(
    tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    security(("bearer" = [])),
    responses((status = 200, body = DataBody<TenantStatistics>))
)]
#[get("/tenants/{tenant}/statistics")]
pub async fn tenant_statistics(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<web::Json<DataBody<TenantStatistics>>, ApiError> {
    let tenant = visible_tenant(&state, &user, path.into_inner()).await?;
    let today = tenant_today(&state, &tenant);
    let since = today - Days::new(HISTORY_DAYS - 1);
    let tenant_id = tenant.id;
    let (rows, totals) = state
        .db(move |conn| {
            let rows = instances::list_for_tenant(conn, tenant_id)?;
            Ok((rows, claims::daily_totals(conn, tenant_id, None, since)?))
        })
        .await?;
    let mut statistics = TenantStatistics {
        tenant_id,
        instances_count: rows.len() as i64,
        active_instances_count: 0,
        available_instances_count: 0,
        daily_limit: 0,
        sent_today: 0,
        remaining_today: 0,
        usage_percentage: Decimal(0.0),
        history: history(&totals, today),
        instances: Vec::with_capacity(rows.len()),
    };
    for instance in &rows {
        let usage = instance.usage_on(today);
        statistics.sent_today += i64::from(usage.sent);
        if instance.is_active {
            statistics.active_instances_count += 1;
            statistics.daily_limit += i64::from(usage.limit);
        }
        if is_eligible(instance, today) {
            statistics.available_instances_count += 1;
            statistics.remaining_today += i64::from(usage.remaining());
        }
        statistics
            .instances
            .push(InstanceStatistics::of(instance, today));
    }
    statistics.usage_percentage =
        Decimal::percentage(statistics.sent_today as f64, statistics.daily_limit as f64);
    Ok(web::Json(DataBody::new(statistics)))
}
