//! Logging in: the throttle ([`login_guard`]), the password check under the hashing
//! gate, and what each outcome leaves behind. Every outcome is counted in
//! `relevo_logins_total{outcome}`; a login to a super admin's account is also in the
//! audit trail (a success, each failure, the first refused attempt per client network
//! and window), never one of a tenant user's or of an unknown email.
//!
//! The throttle's statements commit one by one, outside any transaction: no transaction
//! holds several counter rows, so concurrent failures never deadlock; an audit row is
//! written after the counters it goes with.

use actix_web::http::StatusCode;
use serde_json::json;

use crate::audit::{Action, Auditor};
use crate::auth::client_address::ClientAddress;
use crate::auth::jwt::TokenSubject;
use crate::auth::login_guard::{LoginAttempt, Verdict};
use crate::auth::password;
use crate::db::users::{self, User};
use crate::db::DbConnection;
use crate::domain::Role;
use crate::error::{ApiError, ErrorKey};
use crate::request_id::RequestId;
use crate::state::AppState;

/// A login's email, lowercased, and its password exactly as sent.
pub struct Credentials {
    pub email: String,
    pub password: String,
}

/// How a login attempt ended, as `relevo_logins_total` labels it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginOutcome {
    Success,
    /// Unknown email or wrong password.
    Failure,
    /// Refused by the throttle; no password was checked.
    Throttled,
    /// Every password-checking slot was taken; nothing was checked.
    Busy,
}

impl LoginOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginOutcome::Success => "success",
            LoginOutcome::Failure => "failure",
            LoginOutcome::Throttled => "throttled",
            LoginOutcome::Busy => "busy",
        }
    }
}

/// A successful login: the user and a fresh token.
pub struct LoggedIn {
    pub user: User,
    pub access_token: String,
}

/// Checks `credentials` from `client`, records the outcome and, for the right
/// password, issues a token.
pub async fn log_in(
    state: &AppState,
    credentials: Credentials,
    client: ClientAddress,
    request_id: RequestId,
) -> Result<LoggedIn, ApiError> {
    let admission = match state.hashing.admit() {
        Ok(admission) => admission,
        Err(busy) => {
            state.metrics.login(LoginOutcome::Busy.as_str());
            return Err(busy);
        }
    };
    let attempt = LoginAttempt::new(&credentials.email, client);
    let now = state.clock.now().naive_utc();

    let email = credentials.email;
    let (verdict, user, attempt) = state
        .db(move |conn| {
            let verdict = attempt.check(conn, now)?;
            let user = users::find_by_email(conn, &email)?;
            Ok((verdict, user, attempt))
        })
        .await?;
    let audit = LoginAudit::of(user.as_ref(), client, request_id, state);

    if let Verdict {
        wait: Some(seconds),
        refused_before,
    } = verdict
    {
        state.metrics.login(LoginOutcome::Throttled.as_str());
        // A super admin's trail gets the first refusal per network and window; later
        // ones cost no write, so a flood of refused attempts is only read.
        if let (Some(audit), false) = (audit, refused_before) {
            record_refusal(state, attempt, audit, now, seconds).await?;
        }
        return Err(too_many_attempts(seconds));
    }

    let stored_hash = user.as_ref().map(|user| user.password_hash.clone());
    let password = credentials.password;
    let verified = admission
        .run(move || {
            password::verify(
                &password,
                stored_hash.as_deref().unwrap_or(password::dummy_hash()),
            )
        })
        .await?;
    let user = user.filter(|_| verified);
    record_outcome(state, attempt, audit, now, user.is_some()).await?;
    let Some(user) = user else {
        return Err(invalid_credentials());
    };

    let subject = TokenSubject {
        id: user.id,
        role: &user.role,
        tenant_id: user.tenant_id,
        token_version: user.token_version,
    };
    let access_token = state.jwt.issue(&subject, state.clock.now());
    Ok(LoggedIn { user, access_token })
}

/// Writes the first refusal of a throttled client in a super admin's audit trail.
async fn record_refusal(
    state: &AppState,
    attempt: LoginAttempt,
    audit: LoginAudit,
    now: chrono::NaiveDateTime,
    seconds: u64,
) -> Result<(), ApiError> {
    state
        .write(move |conn| {
            if attempt.record_refusal(conn, now)? {
                audit.record(conn, Action::AuthLoginThrottled, Some(seconds))?;
            }
            Ok(())
        })
        .await
}

/// Writes a checked password's outcome: the attempt counted against the client (or its
/// failures cleared), and the super admin's audit row.
async fn record_outcome(
    state: &AppState,
    attempt: LoginAttempt,
    audit: Option<LoginAudit>,
    now: chrono::NaiveDateTime,
    succeeded: bool,
) -> Result<(), ApiError> {
    state
        .write(move |conn| {
            let action = if succeeded {
                attempt.record_success(conn)?;
                Action::AuthLogin
            } else {
                attempt.record_failure(conn, now)?;
                Action::AuthLoginFailed
            };
            if let Some(audit) = audit {
                audit.record(conn, action, None)?;
            }
            Ok(())
        })
        .await?;
    let outcome = if succeeded {
        LoginOutcome::Success
    } else {
        LoginOutcome::Failure
    };
    state.metrics.login(outcome.as_str());
    Ok(())
}

/// The audit rows of a login to a super admin's account: its actor and target are that
/// account, whoever typed the password, and `after` holds the client's address.
struct LoginAudit {
    auditor: Auditor,
    admin_id: i64,
    client: ClientAddress,
}

impl LoginAudit {
    /// `None` unless `user`, the account the email names, is a super admin.
    fn of(
        user: Option<&User>,
        client: ClientAddress,
        request_id: RequestId,
        state: &AppState,
    ) -> Option<Self> {
        let admin = user.filter(|user| user.role == Role::SuperAdmin.as_str())?;
        Some(Self {
            auditor: Auditor::for_user(admin.id, request_id, &state.clock),
            admin_id: admin.id,
            client,
        })
    }

    fn record(
        &self,
        conn: &mut DbConnection,
        action: Action,
        retry_after: Option<u64>,
    ) -> diesel::QueryResult<()> {
        let mut attempt = json!({ "client_address": self.client.0.to_string() });
        if let Some(seconds) = retry_after {
            attempt["retry_after"] = json!(seconds);
        }
        self.auditor
            .record(conn, action, self.admin_id, None, None, Some(attempt))
    }
}

fn too_many_attempts(seconds: u64) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorKey::AuthTooManyAttempts,
        "Too many failed login attempts. Try again later.",
    )
    .with_retry_after(seconds)
    .with_params(json!({ "retry_after": seconds }))
}

fn invalid_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorKey::AuthInvalidCredentials,
        "These credentials do not match our records.",
    )
}
