use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::MetricsScraper;
use crate::error::{ApiError, ErrorBody, ErrorKey};
use crate::state::AppState;

/// `{"status": "ok"}`: the process is up.
#[derive(Serialize, ToSchema)]
#[schema(as = Health)]
pub struct HealthBody {
    pub status: HealthStatus,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Ok,
}

/// `{"status": "ready"}`: the database is reachable and every migration is applied.
#[derive(Serialize, ToSchema)]
#[schema(as = Readiness)]
pub struct ReadinessBody {
    pub status: ReadinessStatus,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadinessStatus {
    Ready,
}

/// The process is up.
#[utoipa::path(tag = "operations", responses((status = 200, body = HealthBody)))]
#[get("/health")]
pub async fn health() -> web::Json<HealthBody> {
    web::Json(HealthBody {
        status: HealthStatus::Ok,
    })
}

/// The database is reachable and every migration is applied.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, body = ReadinessBody),
        (status = 503, description = "The database is busy or unreachable (`database.unavailable`, with `Retry-After`), or migrations are pending (`database.migrations_pending`, run `relevo migrate`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again (`database.unavailable` only)"))),
    )
)]
#[get("/ready")]
pub async fn ready(state: web::Data<AppState>) -> Result<web::Json<ReadinessBody>, ApiError> {
    let pending = state
        .db(|conn| crate::db::has_pending_migrations(conn).map_err(ApiError::database_unavailable))
        .await?;
    if pending {
        return Err(ApiError::new(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            ErrorKey::DatabaseMigrationsPending,
            "Database migrations are pending; run `relevo migrate`.",
        ));
    }
    Ok(web::Json(ReadinessBody {
        status: ReadinessStatus::Ready,
    }))
}

/// Prometheus metrics, in the text exposition format.
///
/// Requests by route template and status, claim latency and outcomes, the sizes of claim
/// batches (group commit), messages sent through Relevo, calls to Evolution by server id,
/// operation and outcome, logins (throttled ones too), sync runs, outbound events pruned
/// after the retention, and instances by connection status and outbound events by delivery
/// status as this process's delivery worker last counted them (at most every 15 s; the
/// time is `relevo_database_counted_timestamp_seconds`). A scrape reads no database. Every
/// metric is prefixed `relevo_`. Open to anyone unless `RELEVO_METRICS_TOKEN` is set; then
/// it needs `Authorization: Bearer <RELEVO_METRICS_TOKEN>`.
#[utoipa::path(
    tag = "operations",
    security((), ("metrics_token" = [])),
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain; version=0.0.4", body = String),
        (status = 401, description = "`RELEVO_METRICS_TOKEN` is set and the request has no `Authorization: Bearer` with it: `{\"message\": \"Unauthenticated.\"}`", body = ErrorBody),
        (status = 404, description = "Metrics are turned off (`RELEVO_METRICS=off`): `route.not_found`", body = ErrorBody),
    )
)]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>, _scraper: MetricsScraper) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(prometheus::TEXT_FORMAT)
        .body(state.metrics.render())
}
