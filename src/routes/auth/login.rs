use actix_web::http::StatusCode;
use actix_web::{post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AuthUserResource;
use crate::auth::password;
use crate::db::{login_throttle, users};
use crate::error::{ApiError, ErrorBody, FieldErrors};
use crate::i18n::{Locale, Msg};
use crate::input::{Input, JsonObject};
use crate::routes::wire::DataBody;
use crate::startup::AppState;

#[derive(Deserialize, ToSchema, Default)]
pub struct LoginBody {
    #[schema(value_type = String, required = true, example = "admin@relevo.local")]
    #[serde(default)]
    pub email: Input,
    #[schema(value_type = String, required = true)]
    #[serde(default)]
    pub password: Input,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResult {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds until the token expires.
    #[schema(example = 3600)]
    pub expires_in: i64,
    pub user: AuthUserResource,
}

/// Exchanges email and password for a bearer token. Unknown email and wrong password
/// get the same 401; repeated failures for one email are throttled with 429.
#[utoipa::path(
    tag = "auth",
    request_body = LoginBody,
    responses(
        (status = 200, body = inline(DataBody<LoginResult>)),
        (status = 400, body = ErrorBody),
        (status = 401, description = "Invalid credentials", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, description = "Too many failed attempts; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until another attempt is allowed"))),
    )
)]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    locale: Locale,
    body: JsonObject<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = FieldErrors::default();
    let email = body
        .email
        .required_string("email", &mut errors)
        .map(|e| e.to_lowercase());
    let password = match &body.password {
        // A password is taken exactly as sent, spaces included.
        Input::Value(serde_json::Value::String(p)) => Some(p.clone()),
        Input::Value(_) => {
            errors.add("password", Msg::NotString);
            None
        }
        _ => {
            errors.add("password", Msg::Required);
            None
        }
    };
    errors.into_result(locale)?;
    let (Some(email), Some(password)) = (email, password) else {
        unreachable!("both fields were checked")
    };

    let now = state.clock.now().naive_utc();
    let lookup_email = email.clone();
    let (locked_until, user) = state
        .db(move |conn| {
            let locked = login_throttle::locked_until(conn, &lookup_email, now)?;
            let user = users::find_by_email(conn, &lookup_email)?;
            Ok((locked, user))
        })
        .await?;
    if let Some(until) = locked_until {
        let seconds = (until - now).num_seconds().max(1) as u64;
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "auth.too_many_attempts",
            "Too many failed login attempts. Try again later.",
        )
        .with_retry_after(seconds)
        .with_params(serde_json::json!({ "retry_after": seconds })));
    }

    let stored_hash = user.as_ref().map(|u| u.password_hash.clone());
    let verified = web::block(move || {
        password::verify(
            &password,
            stored_hash.as_deref().unwrap_or(password::dummy_hash()),
        )
    })
    .await
    .map_err(ApiError::internal)?;
    let user = match user {
        Some(user) if verified => user,
        _ => {
            state
                .write(move |conn| Ok(login_throttle::record_failure(conn, &email, now)?))
                .await?;
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "auth.invalid_credentials",
                "These credentials do not match our records.",
            ));
        }
    };
    state
        .write(move |conn| Ok(login_throttle::clear(conn, &email)?))
        .await?;

    let token = state
        .jwt
        .issue(user.id, &user.role, user.tenant_id, state.clock.now());
    Ok(HttpResponse::Ok().json(DataBody::new(LoginResult {
        access_token: token,
        token_type: "Bearer".into(),
        expires_in: state.jwt.ttl_seconds,
        user: AuthUserResource::from(&user),
    })))
}
