use actix_web::{get, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{WebhookDelivery, EVENT_TYPES};
use crate::auth::AuthUser;
use crate::db::outbox::{self, LogFilter};
use crate::domain::DeliveryStatus;
use crate::error::{ApiError, FieldErrors};
use crate::events::EventType;
use crate::i18n::{Locale, Msg};
use crate::routes::visible_tenant;
use crate::routes::wire::{query_parsed, PageQuery, Paginated};
use crate::state::AppState;

#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct DeliveryLogQuery {
    /// Only events in this state.
    #[param(value_type = Option<DeliveryStatus>)]
    pub status: Option<String>,
    /// Only events of this type.
    #[param(rename = "type", value_type = Option<EventType>)]
    #[serde(rename = "type")]
    pub event_type: Option<String>,
}

fn one_of(
    raw: &Option<String>,
    field: &str,
    allowed: &'static [&'static str],
    errors: &mut FieldErrors,
) -> Option<String> {
    // An empty value is refused, as on every other list (the document's enum has none).
    let value = raw.as_deref()?;
    if allowed.contains(&value) {
        Some(value.to_string())
    } else {
        errors.add(field, Msg::OneOf(allowed));
        None
    }
}

/// The tenant's outbound events and their delivery, newest first.
///
/// Super admins read any tenant's log; a tenant user reads only their own tenant's
/// (another tenant is a 404).
#[utoipa::path(
    tag = "webhook-deliveries",
    params(
        ("tenant" = String, Path, description = "Tenant id or slug"),
        DeliveryLogQuery,
        PageQuery,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Newest first", body = Paginated<WebhookDelivery>),
    )
)]
#[get("/tenants/{tenant}/webhook-deliveries")]
pub async fn list_webhook_deliveries(
    state: web::Data<AppState>,
    user: AuthUser,
    locale: Locale,
    path: web::Path<String>,
    query: web::Query<DeliveryLogQuery>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<Paginated<WebhookDelivery>>, ApiError> {
    let mut errors = FieldErrors::default();
    let filter = LogFilter {
        // As sent, untrimmed, like `type` (the message log trims its filters).
        status: query_parsed(
            query.status.as_deref(),
            "status",
            DeliveryStatus::parse,
            &mut errors,
        ),
        event_type: one_of(&query.event_type, "type", EVENT_TYPES, &mut errors),
    };
    let page = page.parse(&mut errors);
    let tenant = visible_tenant(&state, &user, path.into_inner()).await?;
    errors.into_result(locale)?;
    let tenant_id = tenant.id;
    let (rows, total) = state
        .db(move |conn| Ok(outbox::list(conn, tenant_id, &filter, page)?))
        .await?;
    Ok(web::Json(Paginated::try_from_rows(rows, total, page)?))
}
