use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::SuperAdmin;
use crate::db::sync_runs::{self, SyncRun};
use crate::error::{ApiError, ErrorBody, FieldErrors};
use crate::i18n::Locale;
use crate::lifecycle::sync::SyncFailure;
use crate::routes::wire::{PageQuery, Paginated, Timestamp};
use crate::state::AppState;

/// One sync run.
#[derive(Serialize, ToSchema)]
pub struct SyncRunResource {
    #[schema(example = 42)]
    pub id: i64,
    /// `schedule` or `manual`.
    #[schema(example = "schedule")]
    pub trigger: String,
    /// Which instances it covered: `all`, `active` or `inactive`.
    #[schema(example = "active")]
    pub scope: String,
    /// Set for a manual run of one tenant.
    pub tenant_id: Option<i64>,
    pub started_at: Timestamp,
    /// `null` while it runs (or when its runner stopped mid-way).
    pub finished_at: Option<Timestamp>,
    pub synced: i32,
    pub updated: i32,
    pub orphaned: i32,
    pub errors: Vec<SyncFailure>,
}

impl TryFrom<SyncRun> for SyncRunResource {
    type Error = ApiError;

    fn try_from(run: SyncRun) -> Result<Self, ApiError> {
        Ok(Self {
            errors: serde_json::from_str(&run.errors).map_err(ApiError::internal)?,
            id: run.id,
            trigger: run.trigger,
            scope: run.scope,
            tenant_id: run.tenant_id,
            started_at: Timestamp(run.started_at),
            finished_at: run.finished_at.map(Timestamp),
            synced: run.synced,
            updated: run.updated,
            orphaned: run.orphaned,
        })
    }
}

/// The sync runs, scheduled and manual, newest first.
#[utoipa::path(
    tag = "sync",
    params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Newest first", body = Paginated<SyncRunResource>),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not a super admin", body = ErrorBody),
        (status = 422, description = "Invalid page", body = ErrorBody),
    )
)]
#[get("/sync-runs")]
pub async fn list_sync_runs(
    state: web::Data<AppState>,
    _admin: SuperAdmin,
    locale: Locale,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = FieldErrors::default();
    let page = query.parse(&mut errors);
    errors.into_result(locale)?;
    let (rows, total) = state
        .db(move |conn| Ok(sync_runs::list(conn, page)?))
        .await?;
    let data = rows
        .into_iter()
        .map(SyncRunResource::try_from)
        .collect::<Result<_, _>>()?;
    Ok(HttpResponse::Ok().json(Paginated::new(data, total, page)))
}
