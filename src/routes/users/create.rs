use actix_web::http::StatusCode;
use actix_web::{post, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{audit_snapshot, new_password, UserResource};
use crate::audit::Auditor;
use crate::auth::SuperAdmin;
use crate::domain::{Email, Role};
use crate::error::{ApiError, ErrorBody, FieldErrors};
use crate::i18n::{Locale, Msg};
use crate::input::{at_most_or, required, Input, JsonObject};
use crate::registry::users::{self, CreateOutcome, RefusedUser, ValidNewUser};
use crate::request_id::RequestId;
use crate::routes::wire::MessageDataBody;
use crate::state::AppState;

/// A new user.
#[derive(Deserialize, ToSchema, Default)]
#[schema(example = json!({
    "email": "ana@example.com",
    "password": "Correct horse battery staple",
    "role": "tenant_user",
    "tenant_id": 5
}))]
pub struct CreateUserBody {
    /// Unique, case-insensitively (stored lowercased). Relevo accepts any address
    /// RFC 5322 allows without a display name or an IP-literal domain, whose domain has
    /// a dot, up to 254 bytes; the pattern states the usual ASCII form of such addresses.
    #[schema(value_type = String, required = true, max_length = 254, example = "ana@example.com",
        pattern = r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,21}(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,21}){0,2}@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")]
    #[serde(default)]
    pub email: Input,
    /// 8 to 128 characters, taken exactly as sent (spaces included, not all spaces);
    /// zxcvbn must rate it hard to guess (score 3 of 4, also against the email).
    #[schema(value_type = String, required = true, min_length = 8, max_length = 128,
        example = "Correct horse battery staple")]
    #[serde(default)]
    pub password: Input,
    #[schema(value_type = Role, required = true)]
    #[serde(default)]
    pub role: Input,
    /// The user's tenant: required for `tenant_user`, not allowed for `super_admin`
    /// (`null` counts as not given).
    #[schema(value_type = Option<i64>, example = 5)]
    #[serde(default)]
    pub tenant_id: Input,
}

impl CreateUserBody {
    /// The body as a new user, or every problem found in it (in the order of the
    /// fields) with what was well formed.
    pub fn parse(&self) -> Result<ValidNewUser, RefusedUser> {
        let mut errors = FieldErrors::default();
        let email = at_most_or(&self.email, "email", 254, Msg::Email, &mut errors)
            .then(|| required(&self.email, "email", &mut errors, Email::parse))
            .flatten();
        if !matches!(self.password, Input::Value(_)) {
            errors.add("password", Msg::Required);
        }
        let password = new_password(&self.password, email.as_ref(), &mut errors);
        let role = required(&self.role, "role", &mut errors, Role::parse);
        let tenant_id = self.tenant_id.integer("tenant_id", &mut errors);
        match (role, tenant_id) {
            (Some(Role::TenantUser), None) if !errors.has("tenant_id") => {
                errors.add("tenant_id", Msg::Required)
            }
            (Some(Role::SuperAdmin), Some(_)) => errors.add("tenant_id", Msg::Prohibited),
            _ => {}
        }
        // Only a tenant user's tenant is looked up.
        let tenant_id = tenant_id.filter(|_| role == Some(Role::TenantUser));
        match (email, password, role) {
            (Some(email), Some(password), Some(role)) if errors.is_empty() => Ok(ValidNewUser {
                email,
                password,
                role,
                tenant_id,
            }),
            (email, password, _) => Err(RefusedUser {
                errors,
                email,
                password,
                tenant_id,
            }),
        }
    }
}

/// Creates a user.
///
/// The password is hashed (argon2id) through the same bounded pool as logins: while it
/// is saturated the answer is 503 `auth.busy`.
#[utoipa::path(
    tag = "users",
    request_body = CreateUserBody,
    security(("bearer" = [])),
    responses(
        (status = 201, body = MessageDataBody<UserResource>),
        (status = 503, description = "Every password-hashing slot is taken (`auth.busy`), or the database is busy or unreachable (`database.unavailable`); nothing was created", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
#[post("/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    admin: SuperAdmin,
    request_id: RequestId,
    locale: Locale,
    body: JsonObject<CreateUserBody>,
) -> Result<(web::Json<MessageDataBody<UserResource>>, StatusCode), ApiError> {
    let auditor = Auditor::new(&admin.0, request_id, &state.clock);
    let new = match body.parse() {
        Ok(new) => new,
        Err(refused) => return Err(users::refusal(&state, refused).await?.into_error(locale)),
    };
    match users::create(&state, auditor, new, audit_snapshot).await? {
        CreateOutcome::Created(user) => Ok((
            web::Json(MessageDataBody::new(
                UserResource::from(&*user),
                "User created successfully",
            )),
            StatusCode::CREATED,
        )),
        CreateOutcome::Conflicts(conflicts) => {
            let mut errors = FieldErrors::default();
            conflicts.add_to(&mut errors);
            Err(errors.into_error(locale))
        }
    }
}
