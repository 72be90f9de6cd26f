use actix_web::{put, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{hash_new_password, new_password, UserResource};
use crate::audit::{self, Action, Auditor};
use crate::auth::SuperAdmin;
use crate::db::tenants::{self, TenantKey};
use crate::db::users::{self, UserChanges};
use crate::db::DbConnection;
use crate::domain::{Email, Role};
use crate::error::{ApiError, ErrorBody, ErrorKey, FieldErrors, Resource};
use crate::i18n::{Locale, Msg};
use crate::input::{Input, JsonObject};
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

/// What the body asks to change, before it is checked against the user and the tenants.
struct RequestedChanges {
    password: Option<String>,
    role: Option<Role>,
    tenant_id: Option<i64>,
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
        .db(move |conn| Ok(users::find(conn, id)?))
        .await?
        .ok_or_else(|| ApiError::not_found(Resource::User))?;
    let requested = parse(&body, &user.email, locale)?;
    let password_hash = hash_new_password(&state, requested.password.clone()).await?;
    let now = state.clock.now().naive_utc();
    let updated = state
        .transaction(move |conn| apply(conn, &auditor, id, &requested, password_hash, locale, now))
        .await?;
    Ok(web::Json(MessageDataBody::new(
        UserResource::from(&updated),
        "User updated successfully",
    )))
}

fn parse(body: &UpdateUserBody, email: &str, locale: Locale) -> Result<RequestedChanges, ApiError> {
    let mut errors = FieldErrors::default();
    let email = Email::parse(email).ok();
    let password = new_password(&body.password, email.as_ref(), &mut errors);
    let role = crate::input::optional(&body.role, "role", &mut errors, Role::parse);
    let tenant_id = body.tenant_id.integer("tenant_id", &mut errors);
    errors.into_result(locale)?;
    Ok(RequestedChanges {
        password,
        role,
        tenant_id,
    })
}

/// Checks the requested role and tenant against the user as it stands, in the
/// transaction that changes it (an error rolls it back), and records the change in the
/// audit log. A new password
/// shows there as `"password_changed": true`, never as the password or its hash.
fn apply(
    conn: &mut DbConnection,
    auditor: &Auditor,
    id: i64,
    requested: &RequestedChanges,
    password_hash: Option<String>,
    locale: Locale,
    now: chrono::NaiveDateTime,
) -> Result<users::User, ApiError> {
    let user =
        users::find_for_update(conn, id)?.ok_or_else(|| ApiError::not_found(Resource::User))?;
    let current_role = Role::parse(&user.role).map_err(|_| ApiError::internal("stored role"))?;
    let role = requested.role.unwrap_or(current_role);
    let mut errors = FieldErrors::default();
    let tenant_id = match (role, requested.tenant_id) {
        (Role::SuperAdmin, Some(_)) => {
            errors.add("tenant_id", Msg::Prohibited);
            None
        }
        (Role::SuperAdmin, None) => None,
        (Role::TenantUser, Some(tenant)) => {
            if tenants::find(conn, &TenantKey::Id(tenant))?.is_none() {
                errors.add("tenant_id", Msg::TenantMissing);
            }
            Some(tenant)
        }
        (Role::TenantUser, None) => {
            if user.tenant_id.is_none() {
                errors.add("tenant_id", Msg::Required);
            }
            user.tenant_id
        }
    };
    errors.into_result(locale)?;
    if current_role == Role::SuperAdmin
        && role != Role::SuperAdmin
        && users::count_super_admins(conn)? <= 1
    {
        return Err(ApiError::conflict(
            ErrorKey::UserLastSuperAdmin,
            "Relevo needs at least one super admin; promote another user first",
        ));
    }
    let changes = UserChanges {
        password_hash,
        role: (role != current_role).then(|| role.as_str().to_string()),
        tenant_id: (tenant_id != user.tenant_id).then_some(tenant_id),
    };
    if changes.is_empty() {
        return Ok(user);
    }
    let updated = users::update(conn, id, &changes, now)?
        .ok_or_else(|| ApiError::not_found(Resource::User))?;
    let mut after = audit::snapshot(&UserResource::from(&updated))?;
    after["password_changed"] = changes.password_hash.is_some().into();
    auditor.record(
        conn,
        Action::UserUpdated,
        id,
        updated.tenant_id,
        Some(audit::snapshot(&UserResource::from(&user))?),
        Some(after),
    )?;
    Ok(updated)
}
