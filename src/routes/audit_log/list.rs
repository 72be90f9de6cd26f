use actix_web::{get, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{AuditAction, AuditLogEntry, AuditTargetType};
use crate::audit::{ACTION_KEYS, TARGET_TYPES};
use crate::auth::SuperAdmin;
use crate::db::audit_log::{self, AuditFilter};
use crate::error::{ApiError, FieldErrors};
use crate::i18n::Locale;
use crate::routes::period::period;
use crate::routes::wire::{query_integer, query_one_of, PageQuery, Paginated};
use crate::state::AppState;

/// The audit log's filters (its page is a [`PageQuery`]); every filter given must match.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct AuditLogQuery {
    /// Changes made by this user.
    #[param(value_type = Option<i64>, minimum = 1)]
    pub actor_id: Option<String>,
    /// Changes to this tenant or to what belongs to it.
    #[param(value_type = Option<i64>, minimum = 1)]
    pub tenant_id: Option<String>,
    /// Only changes of this kind (`instance.deleted`, `tenant.updated`, ...).
    #[param(value_type = Option<AuditAction>)]
    pub action: Option<String>,
    /// Only changes to this kind of record.
    #[param(value_type = Option<AuditTargetType>)]
    pub target_type: Option<String>,
    /// Only changes to the record with this id (with `target_type`, one record).
    #[param(value_type = Option<i64>, minimum = 1)]
    pub target_id: Option<String>,
    /// Changes made at or after this moment: an ISO 8601 date and time (`2025-11-17T06:30:00Z`;
    /// UTC when it has no offset) or a date (`2025-11-17`, from its first moment, UTC);
    /// years 0001 to 9999, a day that exists. Surrounding ASCII spaces are ignored.
    #[param(value_type = Option<String>, pattern = r"^[ \t\n\r\f]*((000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))|([0-9]{2}(0[48]|[2468][048]|[13579][26])|(0[48]|[2468][048]|[13579][26])00)-02-29)([Tt ]([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?)?[ \t\n\r\f]*$", example = "2025-11-17")]
    pub from: Option<String>,
    /// Changes made at or before this moment, written as `from` is; a date counts up to its
    /// last moment. Not before `from`.
    #[param(value_type = Option<String>, pattern = r"^[ \t\n\r\f]*((000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))|([0-9]{2}(0[48]|[2468][048]|[13579][26])|(0[48]|[2468][048]|[13579][26])00)-02-29)([Tt ]([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?)?[ \t\n\r\f]*$", example = "2025-11-17T23:59:59Z")]
    pub to: Option<String>,
}

impl AuditLogQuery {
    /// The filter asked for; every bad parameter goes to `errors`.
    fn parse(&self, errors: &mut FieldErrors) -> AuditFilter {
        let (from, to) = period(&self.from, &self.to, errors);
        AuditFilter {
            actor_id: query_integer(&self.actor_id, "actor_id", 1, i64::MAX, errors),
            tenant_id: query_integer(&self.tenant_id, "tenant_id", 1, i64::MAX, errors),
            action: query_one_of(&self.action, "action", ACTION_KEYS, errors),
            target_type: query_one_of(&self.target_type, "target_type", TARGET_TYPES, errors),
            target_id: query_integer(&self.target_id, "target_id", 1, i64::MAX, errors),
            from,
            to,
        }
    }
}

/// What super admins changed through the API, and logins to their accounts, newest first.
///
/// A login to a super admin's account is recorded on success, on each failure, and on the
/// first attempt the throttle refuses per client network and 15-minute window.
#[utoipa::path(
    tag = "audit-log",
    params(AuditLogQuery, PageQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "Newest first", body = Paginated<AuditLogEntry>))
)]
#[get("/audit-log")]
pub async fn list_audit_log(
    state: web::Data<AppState>,
    _admin: SuperAdmin,
    locale: Locale,
    query: web::Query<AuditLogQuery>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<Paginated<AuditLogEntry>>, ApiError> {
    let mut errors = FieldErrors::default();
    let filter = query.parse(&mut errors);
    let page = page.parse(&mut errors);
    errors.into_result(locale)?;
    let (rows, total) = state
        .db(move |conn| Ok(audit_log::list(conn, &filter, page)?))
        .await?;
    Ok(web::Json(Paginated::try_from_rows(rows, total, page)?))
}
