use actix_web::http::StatusCode;
use actix_web::{post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AuthUserResource;
use crate::auth::jwt::TokenSubject;
use crate::auth::login_guard::LoginAttempt;
use crate::auth::{password, ClientAddress};
use crate::db::users;
use crate::error::{ApiError, ErrorBody, FieldErrors};
use crate::i18n::{Locale, Msg};
use crate::input::{Input, JsonObject};
use crate::routes::wire::DataBody;
use crate::state::AppState;

/// An email and password to exchange for a bearer token.
#[derive(Deserialize, ToSchema, Default)]
pub struct LoginBody {
    /// The user's email, in any letter case (surrounding spaces are ignored).
    #[schema(value_type = String, required = true, pattern = r"\S", example = "admin@relevo.local")]
    #[serde(default)]
    pub email: Input,
    /// Exactly as it was set, spaces included.
    #[schema(value_type = String, required = true, pattern = r"\S", example = "Correct horse battery staple")]
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
/// address and per account (429); while every password-checking slot is taken, the
/// answer is 503 `auth.busy` at once.
#[utoipa::path(
    tag = "auth",
    request_body = LoginBody,
    responses(
        (status = 200, body = DataBody<LoginResult>),
        (status = 401, description = "Unknown email or wrong password (`auth.invalid_credentials`)", body = ErrorBody),
        (status = 429, description = "Too many failed attempts from this address or for this account (`auth.too_many_attempts`, `error_params.retry_after`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until another attempt is allowed"))),
        (status = 503, description = "Every password-checking slot is taken (`auth.busy`), or the database is busy or unreachable (`database.unavailable`); nothing was checked", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    locale: Locale,
    client: ClientAddress,
    body: JsonObject<LoginBody>,
) -> Result<web::Json<DataBody<LoginResult>>, ApiError> {
    let credentials = Credentials::parse(&body, locale)?;
    let admission = state.hashing.admit()?;
    let attempt = LoginAttempt::new(&credentials.email, client.0);
    let now = state.clock.now().naive_utc();

    let email = credentials.email.clone();
    let (wait, user, attempt) = state
        .db(move |conn| {
            let wait = attempt.wait(conn, now)?;
            let user = users::find_by_email(conn, &email)?;
            Ok((wait, user, attempt))
        })
        .await?;
    if let Some(seconds) = wait {
        state.metrics.login("throttled");
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "auth.too_many_attempts",
            "Too many failed login attempts. Try again later.",
        )
        .with_retry_after(seconds)
        .with_params(serde_json::json!({ "retry_after": seconds })));
    }

    let stored_hash = user.as_ref().map(|u| u.password_hash.clone());
    let password = credentials.password;
    let verified = admission
        .run(move || {
            password::verify(
                &password,
                stored_hash.as_deref().unwrap_or(password::dummy_hash()),
            )
        })
        .await?;
    let user = match user {
        Some(user) if verified => user,
        user => {
            let account_exists = user.is_some();
            state
                .write(move |conn| Ok(attempt.record_failure(conn, account_exists, now)?))
                .await?;
            state.metrics.login("failure");
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "auth.invalid_credentials",
                "These credentials do not match our records.",
            ));
        }
    };
    state
        .write(move |conn| Ok(attempt.record_success(conn)?))
        .await?;
    state.metrics.login("success");

    let subject = TokenSubject {
        id: user.id,
        role: &user.role,
        tenant_id: user.tenant_id,
        token_version: user.token_version,
    };
    let token = state.jwt.issue(&subject, state.clock.now());
    Ok(web::Json(DataBody::new(LoginResult {
        access_token: token,
        token_type: TokenType::Bearer,
        expires_in: state.jwt.ttl_seconds,
        user: AuthUserResource::from(&user),
    })))
}

/// A login's email, lowercased, and its password exactly as sent.
struct Credentials {
    email: String,
    password: String,
}

impl Credentials {
    fn parse(body: &LoginBody, locale: Locale) -> Result<Self, ApiError> {
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
            (Some(email), Some(password)) => Ok(Self { email, password }),
            _ => Err(ApiError::internal("login fields checked but missing")),
        }
    }
}
