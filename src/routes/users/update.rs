use actix_web::{put, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{audit_snapshot, new_password, UserResource};
use crate::audit::Auditor;
use crate::auth::SuperAdmin;
use crate::db;
use crate::domain::{Email, Role};
use crate::error::{ApiError, ErrorBody, ErrorKey, FieldErrors, Resource};
use crate::i18n::{Locale, Msg};
use crate::input::{optional, Input, JsonObject};
use crate::registry::users::{self, UpdateOutcome, ValidUserChanges};
use crate::request_id::RequestId;
use crate::routes::wire::MessageDataBody;
use crate::state::AppState;

/// What to change in a user; a field absent or `null` is left as it is.
#[derive(Deserialize, ToSchema, Default)]
pub struct UpdateUserBody {
    /// A new password: 8 to 128 characters, taken exactly as sent (not all spaces), that
    /// zxcvbn rates hard to guess (score 3 of 4, also against the user's email).
    #[schema(value_type = Option<String>, min_length = 8, max_length = 128)]
    #[serde(default)]
    pub password: Input,
    /// Demoting the last `super_admin` is a 409.
    #[schema(value_type = Option<Role>)]
    #[serde(default)]
    pub role: Input,
    /// The tenant of a `tenant_user`: required when the role becomes `tenant_user` and the
    /// user has none; not allowed for a `super_admin` (becoming one clears it).
    #[schema(value_type = Option<i64>, example = 5)]
    #[serde(default)]
    pub tenant_id: Input,
}

impl UpdateUserBody {
    /// The changes the body asks for; a new password is judged against the user's
    /// `email`.
    pub fn parse(&self, email: &str, locale: Locale) -> Result<ValidUserChanges, ApiError> {
        let mut errors = FieldErrors::default();
        let email = Email::parse(email).ok();
        let password = new_password(&self.password, email.as_ref(), &mut errors);
        let role = optional(&self.role, "role", &mut errors, Role::parse);
        let tenant_id = self.tenant_id.integer("tenant_id", &mut errors);
        errors.into_result(locale)?;
        Ok(ValidUserChanges {
            password,
            role,
            tenant_id,
        })
    }
}

/// Changes a user's password, role or tenant.
///
/// Any of them ends the user's current tokens on their very next request.
///
/// 409: The last super admin cannot be demoted (`user.last_super_admin`).
#[utoipa::path(
    tag = "users",
    params(("id" = i64, Path, description = "User id")),
    request_body = UpdateUserBody,
    security(("bearer" = [])),
    responses(
        (status = 200, body = MessageDataBody<UserResource>),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 503, description = "Every password-hashing slot is taken (`auth.busy`), or the database is busy or unreachable (`database.unavailable`); nothing was changed", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
#[put("/users/{id}")]
pub async fn update_user(
    state: web::Data<AppState>,
    admin: SuperAdmin,
    locale: Locale,
    request_id: RequestId,
    path: web::Path<i64>,
    body: JsonObject<UpdateUserBody>,
) -> Result<web::Json<MessageDataBody<UserResource>>, ApiError> {
    let id = path.into_inner();
    let auditor = Auditor::new(&admin.0, request_id, &state.clock);
    let user = state
        .db(move |conn| Ok(db::users::find(conn, id)?))
        .await?
        .ok_or_else(|| ApiError::not_found(Resource::User))?;
    let changes = body.parse(&user.email, locale)?;
    let tenant_refused = |msg| Err(FieldErrors::one("tenant_id", msg, locale));
    match users::update(&state, auditor, id, changes, audit_snapshot).await? {
        UpdateOutcome::Updated(user) => Ok(web::Json(MessageDataBody::new(
            UserResource::from(&*user),
            "User updated successfully",
        ))),
        UpdateOutcome::NotFound => Err(ApiError::not_found(Resource::User)),
        UpdateOutcome::TenantProhibited => tenant_refused(Msg::Prohibited),
        UpdateOutcome::TenantMissing => tenant_refused(Msg::TenantMissing),
        UpdateOutcome::TenantRequired => tenant_refused(Msg::Required),
        UpdateOutcome::LastSuperAdmin => Err(ApiError::conflict(
            ErrorKey::UserLastSuperAdmin,
            "Relevo needs at least one super admin; promote another user first",
        )),
    }
}
