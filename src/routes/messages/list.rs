use actix_web::{get, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::MessageRecord;
use crate::auth::AuthUser;
use crate::db::messages::{self, MessageFilter};
use crate::domain::MessageStatus;
use crate::error::{ApiError, FieldErrors};
use crate::i18n::Locale;
use crate::routes::period::period;
use crate::routes::visible_tenant;
use crate::routes::wire::{given, query_integer, query_parsed, PageQuery, Paginated};
use crate::state::AppState;

/// The message log's filters (its page is a [`PageQuery`]); every filter given must match.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct MessageLogQuery {
    /// Only messages in this state.
    #[param(value_type = Option<MessageStatus>)]
    pub status: Option<String>,
    /// Only messages sent (or last tried) through this instance.
    #[param(value_type = Option<i64>, minimum = 1)]
    pub instance_id: Option<String>,
    /// Messages created at or after this moment: an ISO 8601 date and time
    /// (`2025-11-17T06:30:00Z`; UTC when it has no offset) or a date (`2025-11-17`, from
    /// its first moment, UTC); years 0001 to 9999, a day that exists. Surrounding ASCII
    /// spaces are ignored.
    #[param(value_type = Option<String>, pattern = r"^[ \t\n\r\f]*((000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))|([0-9]{2}(0[48]|[2468][048]|[13579][26])|(0[48]|[2468][048]|[13579][26])00)-02-29)([Tt ]([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?)?[ \t\n\r\f]*$", example = "2025-11-17")]
    pub from: Option<String>,
    /// Messages created at or before this moment, written as `from` is; a date counts up
    /// to its last moment. Not before `from`.
    #[param(value_type = Option<String>, pattern = r"^[ \t\n\r\f]*((000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))|([0-9]{2}(0[48]|[2468][048]|[13579][26])|(0[48]|[2468][048]|[13579][26])00)-02-29)([Tt ]([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?)?[ \t\n\r\f]*$", example = "2025-11-17T23:59:59Z")]
    pub to: Option<String>,
}

impl MessageLogQuery {
    fn parse(&self, errors: &mut FieldErrors) -> MessageFilter {
        let (from, to) = period(&self.from, &self.to, errors);
        MessageFilter {
            status: query_parsed(given(&self.status), "status", MessageStatus::parse, errors),
            instance_id: query_integer(&self.instance_id, "instance_id", 1, i64::MAX, errors),
            from,
            to,
        }
    }
}

/// The tenant's messages sent through Relevo, newest first.
///
/// Super admins read any tenant's log; a tenant user only their own tenant's (another
/// tenant is a 404). Texts are not kept, so none is shown.
#[utoipa::path(
    tag = "messages",
    params(
        ("tenant" = String, Path, description = "Tenant id or slug"),
        MessageLogQuery,
        PageQuery,
    ),
    security(("bearer" = [])),
    responses((status = 200, description = "Newest first", body = Paginated<MessageRecord>))
)]
#[get("/tenants/{tenant}/messages")]
pub async fn list_messages(
    state: web::Data<AppState>,
    user: AuthUser,
    locale: Locale,
    path: web::Path<String>,
    query: web::Query<MessageLogQuery>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<Paginated<MessageRecord>>, ApiError> {
    let mut errors = FieldErrors::default();
    let filter = query.parse(&mut errors);
    let page = page.parse(&mut errors);
    let tenant = visible_tenant(&state, &user, path.into_inner()).await?;
    errors.into_result(locale)?;
    let (rows, total) = state
        .db(move |conn| Ok(messages::list(conn, tenant.id, &filter, page)?))
        .await?;
    Ok(web::Json(Paginated::try_from_rows(rows, total, page)?))
}
