//! The webhook and websocket settings of an instance on Evolution (seed 002), with their
//! events checked against Evolution's list.

use std::collections::BTreeMap;

use actix_web::{get, post, put, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::remote::{reachable, EvolutionFailures};
use super::InstancePath;
use crate::audit::Auditor;
use crate::auth::AuthUser;
use crate::domain::HttpUrl;
use crate::error::{ApiError, FieldErrors};
use crate::evolution::{WebhookConfig, WebsocketConfig, EVENTS};
use crate::i18n::{Locale, Msg};
use crate::input::{required, Input, JsonObject};
use crate::lifecycle::instance;
use crate::request_id::RequestId;
use crate::routes::wire::{DataBody, MessageDataBody};
use crate::state::AppState;

/// One of the events Evolution API emits (its list as of v2), in its own spelling.
pub struct EvolutionEvent;

impl utoipa::PartialSchema for EvolutionEvent {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(EVENTS.iter().copied()))
            .description(Some(
                "One of the events Evolution API emits (its list as of v2), in its own spelling.",
            ))
            .into()
    }
}

impl ToSchema for EvolutionEvent {}

/// Where Evolution posts an instance's events, as Evolution reports it.
#[derive(Serialize, ToSchema)]
#[schema(as = InstanceWebhook)]
pub struct WebhookResource {
    /// `null` when no webhook is set.
    #[schema(
        required = true,
        example = "https://relevo.example.com/api/v1/webhooks/evolution/abc"
    )]
    pub url: Option<String>,
    pub enabled: bool,
    /// As Evolution reports them; empty with `enabled` means every event.
    #[schema(example = json!(["CONNECTION_UPDATE", "QRCODE_UPDATED"]))]
    pub events: Vec<String>,
    /// Post each event to `<url>/<event-name>`.
    pub by_events: bool,
    /// Include media as base64.
    pub base64: bool,
    /// Sent with every post: header names and values.
    pub headers: BTreeMap<String, String>,
}

impl From<WebhookConfig> for WebhookResource {
    fn from(config: WebhookConfig) -> Self {
        Self {
            url: config.url,
            enabled: config.enabled,
            events: config.events,
            by_events: config.by_events,
            base64: config.base64,
            headers: config.headers,
        }
    }
}

/// An instance's webhook on Evolution, replaced as a whole.
#[derive(Deserialize, ToSchema, Default)]
pub struct WebhookBody {
    /// An http(s) URL without user name or password.
    #[schema(value_type = crate::domain::HttpUrl, inline, required = true, example = "https://example.com/hook")]
    #[serde(default)]
    pub url: Input,
    #[schema(value_type = bool, required = true)]
    #[serde(default)]
    pub enabled: Input,
    /// Empty, `null` or left out means every event.
    #[schema(value_type = Option<Vec<EvolutionEvent>>)]
    #[serde(default)]
    pub events: Input,
    /// Post each event to `<url>/<event-name>`; `null` or left out means `false`.
    #[schema(value_type = Option<bool>, default = false)]
    #[serde(default)]
    pub by_events: Input,
    /// Include media as base64; `null` or left out means `false`.
    #[schema(value_type = Option<bool>, default = false)]
    #[serde(default)]
    pub base64: Input,
    /// Sent with every post; `null` or left out means none.
    #[schema(value_type = Option<HashMap<String, String>>)]
    #[serde(default)]
    pub headers: Input,
}

impl WebhookBody {
    /// The webhook to set; every bad field is a 422 naming it.
    fn parse(&self, locale: Locale) -> Result<WebhookConfig, ApiError> {
        let mut errors = FieldErrors::default();
        let url = required(&self.url, "url", &mut errors, |raw| {
            HttpUrl::parse(raw).map(HttpUrl::into_inner)
        });
        let config = WebhookConfig {
            enabled: required_boolean(&self.enabled, "enabled", &mut errors),
            url,
            events: events(&self.events, &mut errors),
            by_events: self
                .by_events
                .boolean("by_events", &mut errors)
                .unwrap_or(false),
            base64: self.base64.boolean("base64", &mut errors).unwrap_or(false),
            headers: headers(&self.headers, &mut errors),
        };
        errors.into_result(locale)?;
        Ok(config)
    }
}

/// Which events an instance's websocket emits, as Evolution reports it.
#[derive(Serialize, ToSchema)]
#[schema(as = InstanceWebsocket)]
pub struct WebsocketResource {
    pub enabled: bool,
    /// As Evolution reports them; empty with `enabled` means every event.
    #[schema(example = json!(["MESSAGES_UPSERT", "CONNECTION_UPDATE"]))]
    pub events: Vec<String>,
}

impl From<WebsocketConfig> for WebsocketResource {
    fn from(config: WebsocketConfig) -> Self {
        Self {
            enabled: config.enabled,
            events: config.events,
        }
    }
}

/// An instance's websocket settings on Evolution, replaced as a whole.
#[derive(Deserialize, ToSchema, Default)]
pub struct WebsocketBody {
    #[schema(value_type = bool, required = true)]
    #[serde(default)]
    pub enabled: Input,
    /// Empty, `null` or left out means every event.
    #[schema(value_type = Option<Vec<EvolutionEvent>>)]
    #[serde(default)]
    pub events: Input,
}

impl WebsocketBody {
    /// The websocket settings to set; every bad field is a 422 naming it.
    fn parse(&self, locale: Locale) -> Result<WebsocketConfig, ApiError> {
        let mut errors = FieldErrors::default();
        let config = WebsocketConfig {
            enabled: required_boolean(&self.enabled, "enabled", &mut errors),
            events: events(&self.events, &mut errors),
        };
        errors.into_result(locale)?;
        Ok(config)
    }
}

/// Event names, each checked against Evolution's list (`events.<i>` names a bad one).
fn events(input: &Input, errors: &mut FieldErrors) -> Vec<String> {
    let items = match input {
        Input::Absent | Input::Null => return Vec::new(),
        Input::Value(Value::Array(items)) => items,
        Input::Value(_) => {
            errors.add("events", Msg::NotArray);
            return Vec::new();
        }
    };
    let mut names = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let field = format!("events.{i}");
        match item.as_str() {
            Some(name) if EVENTS.contains(&name) => names.push(name.to_string()),
            Some(name) => errors.add(&field, Msg::UnknownEvent(name.to_string())),
            None => errors.add(&field, Msg::NotString),
        }
    }
    names
}

fn headers(input: &Input, errors: &mut FieldErrors) -> BTreeMap<String, String> {
    let map = match input {
        Input::Absent | Input::Null => return BTreeMap::new(),
        Input::Value(Value::Object(map)) => map,
        Input::Value(_) => {
            errors.add("headers", Msg::NotObject);
            return BTreeMap::new();
        }
    };
    let mut headers = BTreeMap::new();
    for (name, value) in map {
        match value {
            Value::String(value) => {
                headers.insert(name.clone(), value.clone());
            }
            _ => errors.add(&format!("headers.{name}"), Msg::NotString),
        }
    }
    headers
}

/// A webhook as the audit log keeps it. Its URL may be a capability (a secret in its path
/// or query) and its headers may carry credentials, so only the URL's origin and the
/// header names are kept.
fn webhook_audit(config: &WebhookConfig) -> Value {
    let origin = config
        .url
        .as_deref()
        .and_then(|url| url::Url::parse(url).ok())
        .map(|url| url.origin().ascii_serialization());
    let header_names: Vec<&String> = config.headers.keys().collect();
    serde_json::json!({
        "url_origin": origin,
        "enabled": config.enabled,
        "events": config.events,
        "by_events": config.by_events,
        "base64": config.base64,
        "header_names": header_names,
    })
}

fn required_boolean(input: &Input, field: &str, errors: &mut FieldErrors) -> bool {
    if !matches!(input, Input::Value(_)) {
        errors.add(field, Msg::Required);
    }
    input.boolean(field, errors).unwrap_or(false)
}

/// Shows an instance's webhook on Evolution.
///
/// 409: `evolution.instance_missing`; `evolution.server_inactive`: an admin deactivated
/// the instance's Evolution server (activate it first).
#[utoipa::path(
    tag = "whatsapp-instances",
    params(InstancePath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The webhook; disabled with no URL when none is set", body = DataBody<WebhookResource>),
        (status = 409, response = crate::openapi::responses::Conflict),
        EvolutionFailures,
    )
)]
#[get("/tenants/{tenant}/whatsapp-instances/{id}/webhook")]
pub async fn get_webhook(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<InstancePath>,
) -> Result<web::Json<DataBody<WebhookResource>>, ApiError> {
    let target = reachable(&state, &user, path.into_inner()).await?;
    let config = instance::webhook(&state, &target).await?;
    Ok(web::Json(DataBody::new(WebhookResource::from(config))))
}

/// Sets an instance's webhook on Evolution.
///
/// 409: `evolution.instance_missing`; `evolution.server_inactive`: an admin deactivated
/// the instance's Evolution server (activate it first).
#[utoipa::path(
    tag = "whatsapp-instances",
    params(InstancePath),
    request_body = WebhookBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "\"Webhook configured\": the webhook as Evolution stored it", body = MessageDataBody<WebhookResource>),
        (status = 409, response = crate::openapi::responses::Conflict),
        EvolutionFailures,
    )
)]
#[put("/tenants/{tenant}/whatsapp-instances/{id}/webhook")]
pub async fn set_webhook(
    state: web::Data<AppState>,
    user: AuthUser,
    request_id: RequestId,
    locale: Locale,
    path: web::Path<InstancePath>,
    body: JsonObject<WebhookBody>,
) -> Result<web::Json<MessageDataBody<WebhookResource>>, ApiError> {
    let target = reachable(&state, &user, path.into_inner()).await?;
    let auditor = Auditor::new(&user, request_id, &state.clock);
    let config = body.parse(locale)?;
    let stored = instance::set_webhook(&state, &target, &config, auditor, webhook_audit).await?;
    Ok(web::Json(MessageDataBody::new(
        WebhookResource::from(stored),
        "Webhook configured",
    )))
}

/// Gives an instance a new inbound webhook token.
///
/// Evolution is told Relevo's inbound webhook URL with a new token of the instance's own;
/// the token before stops working as soon as Evolution took the new one. For a token that
/// may have leaked (anyone with the instance's key can read its webhook URL on Evolution;
/// a token only ever speaks for its own instance). Needs `RELEVO_PUBLIC_URL`.
///
/// 409: `webhook.no_public_url` (RELEVO_PUBLIC_URL is not set) or
/// `evolution.instance_missing`; `evolution.server_inactive`: an admin deactivated the
/// instance's Evolution server (activate it first).
#[utoipa::path(
    tag = "whatsapp-instances",
    params(InstancePath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "\"Webhook token rotated\": the webhook as Evolution stored it, the token masked", body = MessageDataBody<WebhookResource>),
        (status = 409, response = crate::openapi::responses::Conflict),
        EvolutionFailures,
    )
)]
#[post("/tenants/{tenant}/whatsapp-instances/{id}/rotate-webhook-token")]
pub async fn rotate_webhook_token(
    state: web::Data<AppState>,
    user: AuthUser,
    request_id: RequestId,
    path: web::Path<InstancePath>,
) -> Result<web::Json<MessageDataBody<WebhookResource>>, ApiError> {
    let target = reachable(&state, &user, path.into_inner()).await?;
    let auditor = Auditor::new(&user, request_id, &state.clock);
    let stored = instance::rotate_webhook_token(&state, &target, auditor).await?;
    Ok(web::Json(MessageDataBody::new(
        WebhookResource::from(stored),
        "Webhook token rotated",
    )))
}

/// Shows an instance's websocket settings on Evolution.
///
/// 409: `evolution.instance_missing`; `evolution.server_inactive`: an admin deactivated
/// the instance's Evolution server (activate it first).
#[utoipa::path(
    tag = "whatsapp-instances",
    params(InstancePath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The websocket settings; disabled when none are set or websockets are off on the server", body = DataBody<WebsocketResource>),
        (status = 409, response = crate::openapi::responses::Conflict),
        EvolutionFailures,
    )
)]
#[get("/tenants/{tenant}/whatsapp-instances/{id}/websocket")]
pub async fn get_websocket(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<InstancePath>,
) -> Result<web::Json<DataBody<WebsocketResource>>, ApiError> {
    let target = reachable(&state, &user, path.into_inner()).await?;
    let config = instance::websocket(&state, &target).await?;
    Ok(web::Json(DataBody::new(WebsocketResource::from(config))))
}

/// Sets an instance's websocket settings on Evolution.
///
/// 409: `evolution.websocket_disabled` (WEBSOCKET_ENABLED is off on the server) or
/// `evolution.instance_missing`; `evolution.server_inactive`: an admin deactivated the
/// instance's Evolution server (activate it first).
#[utoipa::path(
    tag = "whatsapp-instances",
    params(InstancePath),
    request_body = WebsocketBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "\"Websocket configured\": the settings as Evolution stored them", body = MessageDataBody<WebsocketResource>),
        (status = 409, response = crate::openapi::responses::Conflict),
        EvolutionFailures,
    )
)]
#[put("/tenants/{tenant}/whatsapp-instances/{id}/websocket")]
pub async fn set_websocket(
    state: web::Data<AppState>,
    user: AuthUser,
    request_id: RequestId,
    locale: Locale,
    path: web::Path<InstancePath>,
    body: JsonObject<WebsocketBody>,
) -> Result<web::Json<MessageDataBody<WebsocketResource>>, ApiError> {
    let target = reachable(&state, &user, path.into_inner()).await?;
    let auditor = Auditor::new(&user, request_id, &state.clock);
    let config = body.parse(locale)?;
    let stored = instance::set_websocket(&state, &target, &config, auditor).await?;
    Ok(web::Json(MessageDataBody::new(
        WebsocketResource::from(stored),
        "Websocket configured",
    )))
}
