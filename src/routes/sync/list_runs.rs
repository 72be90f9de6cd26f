use actix_web::{get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::SuperAdmin;
use crate::db::sync_runs::{self, SyncRun};
use crate::domain::Timestamp;
use crate::error::{ApiError, FieldErrors};
use crate::i18n::Locale;
use crate::lifecycle::sync::{SyncFailure, Trigger};
use crate::routes::wire::{PageQuery, Paginated};
use crate::state::AppState;

/// Which instances a sync run covered, by their `is_active`: `all`, `active` or
/// `inactive` (the scheduler syncs inactive instances less often).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = SyncRunScope)]
pub enum Scope {
    All,
    Active,
    Inactive,
}

/// One sync run, scheduled or manual.
#[derive(Serialize, ToSchema)]
#[schema(as = SyncRun)]
pub struct SyncRunResource {
    #[schema(example = 42)]
    pub id: i64,
    #[schema(value_type = Trigger)]
    pub trigger: String,
    #[schema(value_type = Scope)]
    pub scope: String,
    /// Set for a manual run of one tenant; `null` for a run of every tenant.
    #[schema(required = true, example = json!(null))]
    pub tenant_id: Option<i64>,
    pub started_at: Timestamp,
    /// `null` while it runs (or when its runner stopped mid-way).
    #[schema(required = true)]
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
    responses((status = 200, description = "Newest first", body = Paginated<SyncRunResource>))
)]
#[get("/sync-runs")]
pub async fn list_sync_runs(
    state: web::Data<AppState>,
    _admin: SuperAdmin,
    locale: Locale,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Paginated<SyncRunResource>>, ApiError> {
    let mut errors = FieldErrors::default();
    let page = query.parse(&mut errors);
    errors.into_result(locale)?;
    let (rows, total) = state
        .db(move |conn| Ok(sync_runs::list(conn, page)?))
        .await?;
    Ok(web::Json(Paginated::try_from_rows(rows, total, page)?))
}
