use actix_web::{post, web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{hash_new_password, new_password, UserResource};
use crate::audit::{self, Action, Auditor};
use crate::auth::SuperAdmin;
use crate::db::tenants::{self, TenantKey};
use crate::db::users::{self, NewUser};
use crate::db::{is_unique_violation, write_transaction};
use crate::domain::{Email, Role};
use crate::error::{ApiError, ErrorBody, FieldErrors};
use crate::i18n::{Locale, Msg};
use crate::input::{required, Input, JsonObject};
use crate::request_id::RequestId;
use crate::routes::wire::{DataBody, MessageDataBody};
use crate::state::AppState;

#[derive(Deserialize, ToSchema, Default)]
pub struct CreateUserBody {
    #[schema(value_type = String, required = true, example = "ana@example.com")]
    #[serde(default)]
    pub email: Input,
    /// 8 to 128 characters, taken exactly as sent; zxcvbn must rate it hard to guess.
    #[schema(value_type = String, required = true, min_length = 8, max_length = 128)]
    #[serde(default)]
    pub password: Input,
    /// `super_admin` or `tenant_user`.
    #[schema(value_type = String, required = true, example = "tenant_user")]
    #[serde(default)]
    pub role: Input,
    /// Required for `tenant_user`, not allowed for `super_admin`.
    #[schema(value_type = Option<i64>, example = 5)]
    #[serde(default)]
    pub tenant_id: Input,
}

#[utoipa::path(
    tag = "users",
    request_body = CreateUserBody,
    security(("bearer" = [])),
    responses(
        (status = 201, body = inline(DataBody<UserResource>)),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, description = "Password checks are saturated (`auth.busy`)", body = ErrorBody),
    )
)]
#[post("/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    admin: SuperAdmin,
    request_id: RequestId,
    locale: Locale,
    body: JsonObject<CreateUserBody>,
) -> Result<HttpResponse, ApiError> {
    let auditor = Auditor::new(&admin.0, request_id, &state.clock);
    let mut errors = FieldErrors::default();
    let email = required(&body.email, "email", &mut errors, Email::parse);
    if !matches!(body.password, Input::Value(_)) {
        errors.add("password", Msg::Required);
    }
    let password = new_password(&body.password, email.as_ref(), &mut errors);
    let role = required(&body.role, "role", &mut errors, Role::parse);
    let tenant_id = body.tenant_id.integer("tenant_id", &mut errors);
    match (role, tenant_id) {
        (Some(Role::TenantUser), None) if !errors.has("tenant_id") => {
            errors.add("tenant_id", Msg::Required)
        }
        (Some(Role::SuperAdmin), Some(_)) => errors.add("tenant_id", Msg::Prohibited),
        _ => {}
    }

    let password_hash = hash_new_password(&state, password).await?;
    let now = state.clock.now().naive_utc();
    let created = state
        .transaction(move |conn| {
            if let Some(email) = &email {
                if users::find_by_email(conn, email.as_str())?.is_some() {
                    errors.add("email", Msg::EmailTaken);
                }
            }
            if let (Some(Role::TenantUser), Some(id)) = (role, tenant_id) {
                if tenants::find(conn, &TenantKey::Id(id))?.is_none() {
                    errors.add("tenant_id", Msg::TenantMissing);
                }
            }
            errors.into_result(locale)?;
            let (Some(email), Some(password_hash), Some(role)) = (email, password_hash, role)
            else {
                unreachable!("required fields were checked");
            };
            let new = NewUser {
                email: email.as_str().to_string(),
                password_hash,
                role: role.as_str().to_string(),
                tenant_id: tenant_id.filter(|_| role == Role::TenantUser),
                created_at: now,
                updated_at: now,
            };
            write_transaction(conn, |conn| {
                let user = users::insert(conn, &new)?;
                let after = audit::snapshot(&UserResource::from(&user))?;
                auditor.record(
                    conn,
                    Action::UserCreated,
                    user.id,
                    user.tenant_id,
                    None,
                    Some(after),
                )?;
                Ok(user)
            })
            .map_err(|error| {
                if is_unique_violation(&error) {
                    FieldErrors::one("email", Msg::EmailTaken, locale)
                } else {
                    error.into()
                }
            })
        })
        .await?;
    Ok(HttpResponse::Created().json(MessageDataBody::new(
        UserResource::from(&created),
        "User created successfully",
    )))
}
