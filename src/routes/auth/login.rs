use actix_web::{post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AuthUserResource;
use crate::auth::login::{log_in, Credentials};
use crate::auth::ClientAddress;
use crate::error::{ApiError, ErrorBody, FieldErrors};
use crate::i18n::{Locale, Msg};
use crate::input::{Input, JsonObject};
use crate::request_id::RequestId;
use crate::routes::wire::DataBody;
use crate::state::AppState;

/// An email and password to exchange for a bearer token.
#[derive(Deserialize, ToSchema, Default)]
pub struct LoginBody {
    /// The user's email, in any letter case (surrounding spaces are ignored).
    #[schema(value_type = String, required = true, example = "admin@relevo.local")]
    #[serde(default)]
    pub email: Input,
    /// Exactly as it was set, spaces included.
    #[schema(value_type = String, required = true, example = "Correct horse battery staple")]
    #[serde(default)]
    pub password: Input,
}

/// Always `Bearer`: send the token as `Authorization: Bearer <access_token>`.
#[derive(Serialize, ToSchema)]
pub enum TokenType {
    Bearer,
}

/// A bearer token and the user it belongs to.
#[derive(Serialize, ToSchema)]
pub struct LoginResult {
    /// A JWT (HS256) for the `Authorization: Bearer` header.
    #[schema(example = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl")]
    pub access_token: String,
    pub token_type: TokenType,
    /// Seconds until the token expires.
    #[schema(example = 3600)]
    pub expires_in: i64,
    pub user: AuthUserResource,
}

/// Exchanges email and password for a bearer token.
///
/// Unknown email and wrong password get the same 401. Failures are throttled per client
/// network (an IPv4 address, an IPv6 /64) and per email, known or not (429); while every
/// password-checking slot is taken, the answer is 503 `auth.busy` at once. Logins to a
/// super admin's account are in the audit log.
///
/// 429: Too many failed attempts from this client network or for this email
/// (`auth.too_many_attempts`, `error_params.retry_after`).
#[utoipa::path(
    tag = "auth",
    request_body = LoginBody,
    responses(
        (status = 200, body = DataBody<LoginResult>),
        (status = 401, description = "Unknown email or wrong password (`auth.invalid_credentials`)", body = ErrorBody),
        (status = 429, response = crate::openapi::responses::TooManyRequests),
        (status = 503, description = "Every password-checking slot is taken (`auth.busy`), or the database is busy or unreachable (`database.unavailable`); nothing was checked", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    locale: Locale,
    client: ClientAddress,
    request_id: RequestId,
    body: JsonObject<LoginBody>,
) -> Result<web::Json<DataBody<LoginResult>>, ApiError> {
    let credentials = parse_credentials(&body, locale)?;
    let logged_in = log_in(&state, credentials, client, request_id).await?;
    Ok(web::Json(DataBody::new(LoginResult {
        access_token: logged_in.access_token,
        token_type: TokenType::Bearer,
        expires_in: state.jwt.ttl_seconds,
        user: AuthUserResource::from(&logged_in.user),
    })))
}

/// A login's email, lowercased, and its password exactly as sent.
fn parse_credentials(body: &LoginBody, locale: Locale) -> Result<Credentials, ApiError> {
    let mut errors = FieldErrors::default();
    let email = body
        .email
        .required_string("email", &mut errors)
        .map(|e| e.to_lowercase());
    if !matches!(body.password, Input::Value(_)) {
        errors.add("password", Msg::Required);
    }
    let password = body.password.exact_string("password", &mut errors);
    errors.into_result(locale)?;
    match (email, password) {
        (Some(email), Some(password)) => Ok(Credentials { email, password }),
        _ => Err(ApiError::internal("login fields checked but missing")),
    }
}
