use actix_web::{get, web};

use super::MessageRecord;
use crate::auth::AuthUser;
use crate::db::messages;
use crate::error::{ApiError, Resource};
use crate::routes::visible_tenant;
use crate::routes::wire::DataBody;
use crate::state::AppState;

/// One message sent through Relevo, with its attempts and delivery status.
///
/// Super admins read any tenant's messages; a tenant user only their own tenant's
/// (another tenant is a 404).
#[utoipa::path(
    tag = "messages",
    params(
        ("tenant" = String, Path, description = "Tenant id or slug"),
        ("message_id" = String, Path, description = "The message's `id`"),
    ),
    security(("bearer" = [])),
    responses((status = 200, body = DataBody<MessageRecord>))
)]
#[get("/tenants/{tenant}/messages/{message_id}")]
pub async fn show_message(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
) -> Result<web::Json<DataBody<MessageRecord>>, ApiError> {
    let (tenant_key, message_id) = path.into_inner();
    let tenant = visible_tenant(&state, &user, tenant_key).await?;
    let message = state
        .db(move |conn| Ok(messages::find(conn, tenant.id, &message_id)?))
        .await?
        .ok_or_else(|| ApiError::not_found(Resource::Message))?;
    Ok(web::Json(DataBody::new(MessageRecord::try_from(message)?)))
}
