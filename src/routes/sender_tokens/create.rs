use actix_web::http::StatusCode;
use actix_web::{post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::audit_snapshot;
use crate::audit::Auditor;
use crate::auth::AuthUser;
use crate::domain::Timestamp;
use crate::error::{ApiError, FieldErrors};
use crate::i18n::{Locale, Msg};
use crate::input::{at_most, required, Input, JsonObject};
use crate::registry::sender_tokens::{self, Issued, ValidNewSenderToken};
use crate::request_id::RequestId;
use crate::routes::managed_tenant;
use crate::routes::wire::DataBody;
use crate::state::AppState;

const MAX_EXPIRY_DAYS: i64 = 3650;

/// A new campaign-sender token.
#[derive(Deserialize, ToSchema, Default)]
pub struct CreateSenderTokenBody {
    /// What the token is for, to recognise it in the list: up to 100 characters
    /// (surrounding spaces dropped).
    #[schema(value_type = String, required = true, max_length = 100, example = "campaign-worker")]
    #[serde(default)]
    pub name: Input,
    /// Days until the token stops working, 1 to 3650; absent or `null`: it lasts until
    /// revoked.
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 3650, example = 90)]
    #[serde(default)]
    pub expires_in_days: Input,
}

impl CreateSenderTokenBody {
    /// The body as a new token's settings, or the 422 listing its problems.
    pub fn parse(&self, locale: Locale) -> Result<ValidNewSenderToken, ApiError> {
        let mut errors = FieldErrors::default();
        let name = at_most(&self.name, "name", 100, &mut errors)
            .then(|| required(&self.name, "name", &mut errors, |raw| Ok(raw.to_string())))
            .flatten();
        let days = self.expires_in_days.integer("expires_in_days", &mut errors);
        if matches!(days, Some(days) if !(1..=MAX_EXPIRY_DAYS).contains(&days)) {
            errors.add("expires_in_days", Msg::Between(1, MAX_EXPIRY_DAYS));
        }
        // A missing name was reported in `errors`.
        let Some(name) = name else {
            return Err(errors.into_error(locale));
        };
        errors.into_result(locale)?;
        Ok(ValidNewSenderToken {
            name,
            expires_in_days: days,
        })
    }
}

/// The new token. `token` appears only in this response.
#[derive(Serialize, ToSchema)]
#[schema(as = NewSenderToken)]
pub struct IssuedSenderToken {
    #[schema(example = 3)]
    pub id: i64,
    #[schema(example = "campaign-worker")]
    pub name: String,
    /// Send as `Authorization: Bearer <token>` to the sender endpoints. Shown once.
    #[schema(
        example = "rlv_snd_3kP9wQ2mZ7xV1bN8cR4tY6uH0jL5aS2dF7gK9eW1",
        pattern = "^rlv_snd_[A-Za-z0-9]{40}$"
    )]
    pub token: String,
    /// `null` when the token does not expire.
    #[schema(required = true)]
    pub expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// Issues a campaign-sender token bound to the tenant.
///
/// Super admins only; a tenant user gets 403 for its own tenant, 404 for any other.
#[utoipa::path(
    tag = "sender-tokens",
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    request_body = CreateSenderTokenBody,
    security(("bearer" = [])),
    responses((status = 201, body = DataBody<IssuedSenderToken>))
)]
#[post("/tenants/{tenant}/sender-tokens")]
pub async fn create_sender_token(
    state: web::Data<AppState>,
    user: AuthUser,
    request_id: RequestId,
    locale: Locale,
    path: web::Path<String>,
    body: JsonObject<CreateSenderTokenBody>,
) -> Result<(web::Json<DataBody<IssuedSenderToken>>, StatusCode), ApiError> {
    let tenant = managed_tenant(&state, &user, path.into_inner()).await?;
    let auditor = Auditor::new(&user, request_id, &state.clock);
    let new = body.parse(locale)?;
    let Issued { row, token } =
        sender_tokens::create(&state, auditor, tenant.id, new, audit_snapshot).await?;
    Ok((
        web::Json(DataBody::new(IssuedSenderToken {
            id: row.id,
            name: row.name,
            token,
            expires_at: row.expires_at.map(Timestamp),
            created_at: row.created_at.into(),
        })),
        StatusCode::CREATED,
    ))
}
