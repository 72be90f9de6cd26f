use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct HealthBody {
    #[schema(example = "ok")]
    pub status: String,
}

/// The process is up.
#[utoipa::path(tag = "operations", responses((status = 200, body = HealthBody)))]
#[get("/health")]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(HealthBody {
        status: "ok".into(),
    })
}

/// The database is reachable and every migration is applied.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, body = HealthBody),
        (status = 503, description = "Database unreachable or migrations pending", body = ErrorBody)
    )
)]
#[get("/ready")]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
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
    Ok(HttpResponse::Ok().json(HealthBody {
        status: "ready".into(),
    }))
}
