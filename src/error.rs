//! The one JSON error body, the closed set of its `error_key`s, and the one mapping from
//! failures to HTTP.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

pub use crate::error_key::ErrorKey;
use crate::evolution::EvolutionError;
use crate::i18n::{more_errors, Locale, Msg};

/// Every error Relevo answers with. `error_key` is the stable key to branch on; the bare
/// 401 and 403 of seed 001 carry `message` alone; `errors` is set on 422 only (Laravel style).
#[derive(Serialize, ToSchema, Debug, Clone)]
pub struct ErrorBody {
    /// What went wrong, in words for people.
    #[schema(example = "WhatsApp instance not found")]
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = ErrorKey, example = "whatsapp.instance_not_found")]
    pub error_key: Option<ErrorKey>,
    /// Values the message names (an Evolution server, a limit, ...), for clients that
    /// render their own text.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub error_params: Option<Value>,
    /// Set on 422 only, documented there ([`ValidationErrorBody`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub errors: Option<serde_json::Map<String, Value>>,
}

/// The 422 body: every rejected field with its messages, in the request's language.
#[derive(ToSchema)]
pub struct ValidationErrorBody {
    /// The first problem, and how many more there are.
    #[schema(example = "El campo phone_number es obligatorio. (y 1 error más)")]
    pub message: String,
    #[schema(example = "validation.failed")]
    pub error_key: ErrorKey,
    /// Each rejected field with its messages.
    #[schema(example = json!({"phone_number": ["El campo phone_number es obligatorio."]}))]
    pub errors: std::collections::HashMap<String, Vec<String>>,
    /// Values the message names, on the 422s that have their own `error_key` (such as
    /// `message.recipient_invalid`, with the message and its attempts).
    #[schema(value_type = Object, required = false)]
    pub error_params: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    // Boxed: errors travel through every `Result` of the request path.
    body: Box<ErrorBody>,
    retry_after_seconds: Option<u64>,
    /// Headers the status calls for, such as `Allow` on a 405.
    headers: Vec<(header::HeaderName, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, error_key: ErrorKey, message: impl Into<String>) -> Self {
        Self {
            status,
            body: Box::new(ErrorBody {
                message: message.into(),
                error_key: Some(error_key),
                error_params: None,
                errors: None,
            }),
            retry_after_seconds: None,
            headers: Vec::new(),
        }
    }

    /// The same error under another stable key (a 422 of one field with its own key).
    pub fn with_key(mut self, error_key: ErrorKey) -> Self {
        self.body.error_key = Some(error_key);
        self
    }

    pub fn with_params(mut self, params: Value) -> Self {
        self.body.error_params = Some(params);
        self
    }

    pub fn with_header(mut self, name: header::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_seconds = Some(seconds);
        self
    }

    pub fn unauthenticated() -> Self {
        Self::bare(StatusCode::UNAUTHORIZED, "Unauthenticated.")
    }

    pub fn forbidden() -> Self {
        Self::bare(StatusCode::FORBIDDEN, "This action is unauthorized.")
    }

    pub fn not_found(resource: Resource) -> Self {
        let (key, message) = resource.not_found();
        Self::new(StatusCode::NOT_FOUND, key, message)
    }

    pub fn conflict(error_key: ErrorKey, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, error_key, message)
    }

    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorKey::RequestMalformed, message)
    }

    /// An unexpected failure: its cause goes to the log, never into the body.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        log::error!("internal error: {cause}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKey::ServerInternal,
            "Internal server error.",
        )
    }

    pub fn database_unavailable(cause: impl std::fmt::Display) -> Self {
        log::error!("database unavailable: {cause}");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorKey::DatabaseUnavailable,
            "The database is busy or unreachable; try again shortly.",
        )
        .with_retry_after(1)
    }

    /// Whether this is [`ApiError::database_unavailable`]: the database was locked for
    /// the whole timeout, or could not be reached.
    pub fn is_database_unavailable(&self) -> bool {
        self.error_key() == Some(ErrorKey::DatabaseUnavailable)
    }

    /// A call to an Evolution server failed: 504 on a timeout, otherwise 502 with a key
    /// saying why. The message names the server, in Relevo's words only: what Evolution
    /// said, when it said something, is `error_params.upstream` (SPEC §2).
    pub fn evolution(server: &UpstreamServer, error: &EvolutionError) -> Self {
        log::warn!(
            "Evolution API server `{}` (id {}): {error}",
            server.name,
            server.id
        );
        let name = server.name;
        let (status, key, message) = match error {
            EvolutionError::Timeout => (
                StatusCode::GATEWAY_TIMEOUT,
                ErrorKey::EvolutionTimeout,
                format!("Evolution API server `{name}` did not answer in time."),
            ),
            EvolutionError::Status { status: 401, .. } => (
                StatusCode::BAD_GATEWAY,
                ErrorKey::EvolutionUnauthorized,
                format!("Evolution API server `{name}` rejected the API key Relevo used; check the server's api_key."),
            ),
            EvolutionError::Status { status, .. } if *status >= 500 => (
                StatusCode::BAD_GATEWAY,
                ErrorKey::EvolutionUnavailable,
                format!("Evolution API server `{name}` failed (HTTP {status})."),
            ),
            EvolutionError::Unreachable(_) | EvolutionError::Interrupted(_) => (
                StatusCode::BAD_GATEWAY,
                ErrorKey::EvolutionUnavailable,
                format!("Evolution API server `{name}` is unreachable."),
            ),
            EvolutionError::NotPublic(_) => (
                StatusCode::BAD_GATEWAY,
                ErrorKey::EvolutionUnavailable,
                format!("Evolution API server `{name}` is not on a public address, and Relevo calls none other (RELEVO_ALLOW_PRIVATE_TARGETS)."),
            ),
            EvolutionError::InvalidResponse(_) => (
                StatusCode::BAD_GATEWAY,
                ErrorKey::EvolutionUnavailable,
                format!("Evolution API server `{name}` answered something Relevo does not understand."),
            ),
            EvolutionError::NotFound(_) => (
                StatusCode::BAD_GATEWAY,
                ErrorKey::EvolutionRejected,
                format!("Evolution API server `{name}` does not have it (HTTP 404)."),
            ),
            EvolutionError::Status { status, .. } => (
                StatusCode::BAD_GATEWAY,
                ErrorKey::EvolutionRejected,
                format!("Evolution API server `{name}` refused the request (HTTP {status})."),
            ),
            EvolutionError::Refused(_) => (
                StatusCode::BAD_GATEWAY,
                ErrorKey::EvolutionRejected,
                format!("Evolution API server `{name}` refused the request."),
            ),
        };
        let mut params = serde_json::json!({
            "evolution_server_id": server.id,
            "evolution_server": name,
        });
        if let Some(words) = error.upstream() {
            params["upstream"] = Value::from(words);
        }
        Self::new(status, key, message).with_params(params)
    }

    /// 503: there is no Evolution server Relevo may use.
    pub fn no_evolution_server(reason: &str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorKey::EvolutionNoServer,
            format!("{reason} A super admin must configure one: POST /api/v1/evolution-servers (name, base_url, api_key), or set EVOLUTION_API_BASE_URL and EVOLUTION_API_MASTER_KEY."),
        )
    }

    fn bare(status: StatusCode, message: &str) -> Self {
        Self {
            status,
            body: Box::new(ErrorBody {
                message: message.to_string(),
                error_key: None,
                error_params: None,
                errors: None,
            }),
            retry_after_seconds: None,
            headers: Vec::new(),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn body(&self) -> &ErrorBody {
        &self.body
    }

    /// The stable key of the answer; `None` on the bare 401 and 403.
    pub fn error_key(&self) -> Option<ErrorKey> {
        self.body.error_key
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.body.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(seconds) = self.retry_after_seconds {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        for (name, value) in &self.headers {
            response.insert_header((name.clone(), value.as_str()));
        }
        response.json(&self.body)
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match &error {
            _ if crate::db::is_transient(&error) || crate::db::is_connection_lost(&error) => {
                Self::database_unavailable(error)
            }
            _ if crate::db::audit_log::ActorGone::is(&error) => Self::unauthenticated(),
            Error::DatabaseError(_, info)
                if info.message().contains(crate::db::users::LAST_SUPER_ADMIN) =>
            {
                Self::conflict(
                    ErrorKey::UserLastSuperAdmin,
                    "Relevo needs at least one super admin; promote another user first",
                )
            }
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => Self::conflict(
                ErrorKey::ResourceConflict,
                "The resource was changed by another request; try again.",
            ),
            _ if crate::db::is_lock_timeout(&error) => Self::database_unavailable(error),
            _ => Self::internal(error),
        }
    }
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        Self::database_unavailable(error)
    }
}

/// The Evolution server an upstream failure came from.
pub struct UpstreamServer<'a> {
    pub id: i64,
    pub name: &'a str,
}

/// The things that can be missing, each with its stable key.
#[derive(Clone, Copy, Debug)]
pub enum Resource {
    Tenant,
    User,
    WhatsappInstance,
    Claim,
    SenderToken,
    Route,
    EvolutionServer,
    WebhookDelivery,
    Message,
}

impl Resource {
    fn not_found(self) -> (ErrorKey, &'static str) {
        match self {
            Resource::Tenant => (ErrorKey::TenantNotFound, "Tenant not found"),
            Resource::User => (ErrorKey::UserNotFound, "User not found"),
            Resource::WhatsappInstance => (
                ErrorKey::WhatsappInstanceNotFound,
                "WhatsApp instance not found",
            ),
            Resource::Claim => (ErrorKey::SenderClaimNotFound, "Claim not found"),
            Resource::SenderToken => (ErrorKey::SenderTokenNotFound, "Sender token not found"),
            Resource::Route => (
                ErrorKey::RouteNotFound,
                "The requested route does not exist",
            ),
            Resource::EvolutionServer => (
                ErrorKey::EvolutionServerNotFound,
                "Evolution server not found",
            ),
            Resource::Message => (ErrorKey::MessageNotFound, "Message not found"),
            Resource::WebhookDelivery => (
                ErrorKey::WebhookDeliveryNotFound,
                "Webhook delivery not found",
            ),
        }
    }
}

/// Field errors collected in the order fields are checked, rendered into one 422.
#[derive(Default, Debug)]
pub struct FieldErrors(Vec<(String, Msg)>);

impl FieldErrors {
    pub fn add(&mut self, field: &str, msg: Msg) {
        self.0.push((field.to_string(), msg));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn has(&self, field: &str) -> bool {
        self.0.iter().any(|(f, _)| f == field)
    }

    /// The 422 of a single rejected field.
    pub fn one(field: &str, msg: Msg, locale: Locale) -> ApiError {
        let mut errors = Self::default();
        errors.add(field, msg);
        errors.into_error(locale)
    }

    /// `Ok(())` when nothing was rejected, otherwise the 422 listing every problem.
    pub fn into_result(self, locale: Locale) -> Result<(), ApiError> {
        if self.is_empty() {
            return Ok(());
        }
        Err(self.into_error(locale))
    }

    /// The 422 listing every problem (the first one in its message).
    pub fn into_error(self, locale: Locale) -> ApiError {
        let mut errors = serde_json::Map::new();
        for (field, msg) in &self.0 {
            let text = Value::String(msg.render(field, locale));
            match errors.get_mut(field) {
                Some(Value::Array(list)) => list.push(text),
                _ => {
                    errors.insert(field.clone(), Value::Array(vec![text]));
                }
            }
        }
        let first = match self.0.first() {
            Some((field, msg)) => msg.render(field, locale),
            None => String::new(),
        };
        let message = match self.0.len().saturating_sub(1) {
            0 => first,
            more => format!("{first} {}", more_errors(more, locale)),
        };
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body: Box::new(ErrorBody {
                message,
                error_key: Some(ErrorKey::ValidationFailed),
                error_params: None,
                errors: Some(errors),
            }),
            retry_after_seconds: None,
            headers: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_lists_every_field_and_summarises_the_rest() {
        let mut errors = FieldErrors::default();
        errors.add("phone_number", Msg::PhoneFormat);
        errors.add("phone_number", Msg::PhoneTaken);
        errors.add("instance_name", Msg::Required);
        let error = errors.into_result(Locale::Es).unwrap_err();
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = serde_json::to_value(error.body()).unwrap();
        assert_eq!(
            body["message"],
            "El número de teléfono debe estar en formato internacional (ej: +573001234567) (y 2 errores más)"
        );
        assert_eq!(body["errors"]["phone_number"].as_array().unwrap().len(), 2);
        assert_eq!(
            body["errors"]["instance_name"][0],
            "El campo instance_name es obligatorio."
        );
    }

    #[test]
    fn evolution_failures_map_to_502_and_504_naming_the_server() {
        let server = UpstreamServer {
            id: 3,
            name: "evo-main",
        };
        let cases = [
            (EvolutionError::Timeout, 504, "evolution.timeout"),
            (
                EvolutionError::Unreachable("connection refused".into()),
                502,
                "evolution.unavailable",
            ),
            (
                EvolutionError::Status {
                    status: 500,
                    message: "Connection Closed".into(),
                    readable: true,
                },
                502,
                "evolution.unavailable",
            ),
            (
                EvolutionError::Status {
                    status: 401,
                    message: "Unauthorized".into(),
                    readable: true,
                },
                502,
                "evolution.unauthorized",
            ),
            (
                EvolutionError::Status {
                    status: 400,
                    message: "Invalid integration".into(),
                    readable: true,
                },
                502,
                "evolution.rejected",
            ),
            (
                EvolutionError::Refused("[object Object]".into()),
                502,
                "evolution.rejected",
            ),
        ];
        for (error, status, key) in cases {
            let api = ApiError::evolution(&server, &error);
            assert_eq!(api.status().as_u16(), status, "{error}");
            let body = serde_json::to_value(api.body()).unwrap();
            assert_eq!(body["error_key"], key);
            assert!(body["message"].as_str().unwrap().contains("`evo-main`"));
            assert_eq!(body["error_params"]["evolution_server_id"], 3);
        }
    }

    #[test]
    fn evolutions_words_are_upstream_params_never_the_message() {
        let server = UpstreamServer {
            id: 3,
            name: "evo-main",
        };
        for (error, upstream) in [
            (
                EvolutionError::Status {
                    status: 500,
                    message: "internal secret: db at 10.0.0.5".into(),
                    readable: true,
                },
                Some("internal secret: db at 10.0.0.5"),
            ),
            (
                EvolutionError::Status {
                    status: 400,
                    message: "Invalid integration".into(),
                    readable: true,
                },
                Some("Invalid integration"),
            ),
            (
                EvolutionError::NotFound("The \"x\" instance does not exist".into()),
                Some("The \"x\" instance does not exist"),
            ),
            (EvolutionError::Refused("[object Object]".into()), None),
            (
                EvolutionError::Unreachable("tcp connect error: Connection refused".into()),
                None,
            ),
        ] {
            let body = serde_json::to_value(ApiError::evolution(&server, &error).body()).unwrap();
            let message = body["message"].as_str().unwrap();
            for words in ["secret", "Invalid", "instance does not", "object", "tcp"] {
                assert!(!message.contains(words), "{message}");
            }
            assert_eq!(
                body["error_params"].get("upstream").and_then(Value::as_str),
                upstream,
                "{error}"
            );
        }
    }

    #[test]
    fn every_key_is_unique_and_written_area_dot_reason() {
        let shape = regex::Regex::new(r"^[a-z_]+\.[a-z_]+$").unwrap();
        let mut seen = std::collections::HashSet::new();
        for key in ErrorKey::ALL {
            assert!(shape.is_match(key.as_str()), "{key:?} is `{key}`");
            assert!(seen.insert(key.as_str()), "`{key}` twice");
            assert_eq!(
                serde_json::to_value(key).unwrap(),
                Value::from(key.as_str())
            );
            assert_eq!(ErrorKey::parse(key.as_str()), Some(*key));
        }
        assert_eq!(ErrorKey::parse("evolution.sideways"), None);
        assert!(serde_json::from_str::<ErrorKey>(r#""evolution.sideways""#).is_err());
    }

    /// Keys are values: outside this file no string literal spells one (it would be
    /// compared or stored as a string), and no key-looking literal stands beside
    /// `ApiError`, `ErrorKey` or `error_key` (a new key belongs in [`ErrorKey`]).
    #[test]
    fn no_error_key_is_spelled_as_a_string_outside_this_file() {
        let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let home = [source.join("error_key.rs"), source.join("error.rs")];
        let literal = regex::Regex::new(r#""([a-z_]+\.[a-z_]+)""#).unwrap();
        let mut spelled = Vec::new();
        for file in rust_files(&source) {
            if home.contains(&file) {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap();
            for (number, line) in text.lines().enumerate() {
                if line.trim_start().starts_with("//") {
                    continue;
                }
                let near_an_error = ["ApiError", "ErrorKey", "error_key"]
                    .iter()
                    .any(|word| line.contains(word));
                for found in literal.captures_iter(line) {
                    if near_an_error || ErrorKey::parse(&found[1]).is_some() {
                        spelled.push(format!("{}:{}: {}", file.display(), number + 1, &found[0]));
                    }
                }
            }
        }
        assert!(spelled.is_empty(), "use ErrorKey instead: {spelled:#?}");
    }

    fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files.extend(rust_files(&path));
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
        files
    }

    #[test]
    fn unauthenticated_body_is_exactly_the_spec() {
        let body = serde_json::to_value(ApiError::unauthenticated().body()).unwrap();
        assert_eq!(body, serde_json::json!({"message": "Unauthenticated."}));
    }
}
