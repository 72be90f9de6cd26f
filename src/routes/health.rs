use actix_web::{get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
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
            "database.migrations_pending",
            "Database migrations are pending; run `relevo migrate`.",
        ));
    }
    Ok(web::Json(ReadinessBody {
        status: ReadinessStatus::Ready,
    }))
}
