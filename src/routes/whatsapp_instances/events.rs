//! The webhook and websocket settings of an instance on Evolution (seed 002), with their
//! events checked against Evolution's list.

use actix_web::{get, put, web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::remote::{reachable, EvolutionFailures};
use crate::audit::Auditor;
use crate::auth::AuthUser;
use crate::domain::HttpUrl;
use crate::error::{ApiError, ErrorBody, FieldErrors};
use crate::evolution::{WebhookConfig, WebsocketConfig, EVENTS};
use crate::i18n::{Locale, Msg};
use crate::input::{required, Input, JsonObject};
use crate::lifecycle::instance;
use crate::request_id::RequestId;
use crate::routes::wire::{DataBody, MessageDataBody};
use crate::state::AppState;

/// Where Evolution posts an instance's events.
#[derive(Serialize, ToSchema)]
pub struct WebhookResource {
    #[schema(example = "https://relevo.example.com/api/v1/webhooks/evolution/abc")]
    pub url: Option<String>,
    pub enabled: bool,
    /// Empty with `enabled` means every event.
    #[schema(example = json!(["CONNECTION_UPDATE", "QRCODE_UPDATED"]))]
    pub events: Vec<String>,
    /// Post each event to `<url>/<event-name>`.
    pub by_events: bool,
    /// Include media as base64.
    pub base64: bool,
    #[schema(value_type = Object)]
    pub headers: Map<String, Value>,
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

#[derive(Deserialize, ToSchema, Default)]
pub struct WebhookBody {
    #[schema(value_type = String, required = true, example = "https://example.com/hook")]
    #[serde(default)]
    pub url: Input,
    #[schema(value_type = bool, required = true)]
    #[serde(default)]
    pub enabled: Input,
    /// Names from Evolution's list (e.g. `CONNECTION_UPDATE`); empty or left out means
    /// every event.
    #[schema(value_type = Option<Vec<String>>)]
    #[serde(default)]
    pub events: Input,
    #[schema(value_type = Option<bool>, default = false)]
    #[serde(default)]
    pub by_events: Input,
    #[schema(value_type = Option<bool>, default = false)]
    #[serde(default)]
    pub base64: Input,
    /// Sent with every post; text values.
    #[schema(value_type = Option<Object>)]
    #[serde(default)]
    pub headers: Input,
}

/// Which events an instance's websocket emits.
#[derive(Serialize, ToSchema)]
pub struct WebsocketResource {
    pub enabled: bool,
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

#[derive(Deserialize, ToSchema, Default)]
pub struct WebsocketBody {
    #[schema(value_type = bool, required = true)]
    #[serde(default)]
    pub enabled: Input,
    /// Names from Evolution's list; empty or left out means every event.
    #[schema(value_type = Option<Vec<String>>)]
    #[serde(default)]
    pub events: Input,
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

fn headers(input: &Input, errors: &mut FieldErrors) -> Map<String, Value> {
    let map = match input {
        Input::Absent | Input::Null => return Map::new(),
        Input::Value(Value::Object(map)) => map,
        Input::Value(_) => {
            errors.add("headers", Msg::NotObject);
            return Map::new();
        }
    };
    for (name, value) in map {
        if !value.is_string() {
            errors.add(&format!("headers.{name}"), Msg::NotString);
        }
    }
    map.clone()
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

#[utoipa::path(
    tag = "whatsapp-instances",
    params(("tenant" = String, Path, description = "Tenant id or slug"), ("id" = i64, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The webhook; disabled with no URL when none is set", body = inline(DataBody<WebhookResource>)),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`evolution.instance_missing`", body = ErrorBody),
        EvolutionFailures,
    )
)]
#[get("/tenants/{tenant}/whatsapp-instances/{id}/webhook")]
pub async fn get_webhook(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant_key, id) = path.into_inner();
    let target = reachable(&state, &user, tenant_key, id).await?;
    let config = instance::webhook(&state, &target).await?;
    Ok(HttpResponse::Ok().json(DataBody::new(WebhookResource::from(config))))
}

#[utoipa::path(
    tag = "whatsapp-instances",
    params(("tenant" = String, Path, description = "Tenant id or slug"), ("id" = i64, Path)),
    request_body = WebhookBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The webhook as Evolution stored it", body = inline(DataBody<WebhookResource>)),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`evolution.instance_missing`", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, description = "Validation failed (an unknown event, a bad URL, ...)", body = ErrorBody),
        EvolutionFailures,
    )
)]
#[put("/tenants/{tenant}/whatsapp-instances/{id}/webhook")]
pub async fn set_webhook(
    state: web::Data<AppState>,
    user: AuthUser,
    request_id: RequestId,
    locale: Locale,
    path: web::Path<(String, i64)>,
    body: JsonObject<WebhookBody>,
) -> Result<HttpResponse, ApiError> {
    let (tenant_key, id) = path.into_inner();
    let target = reachable(&state, &user, tenant_key, id).await?;
    let auditor = Auditor::new(&user, request_id, &state.clock);
    let mut errors = FieldErrors::default();
    let url = required(&body.url, "url", &mut errors, |raw| {
        HttpUrl::parse(raw).map(HttpUrl::into_inner)
    });
    let config = WebhookConfig {
        enabled: required_boolean(&body.enabled, "enabled", &mut errors),
        url,
        events: events(&body.events, &mut errors),
        by_events: body
            .by_events
            .boolean("by_events", &mut errors)
            .unwrap_or(false),
        base64: body.base64.boolean("base64", &mut errors).unwrap_or(false),
        headers: headers(&body.headers, &mut errors),
    };
    errors.into_result(locale)?;
    let stored = instance::set_webhook(&state, &target, &config, auditor, webhook_audit).await?;
    Ok(HttpResponse::Ok().json(MessageDataBody::new(
        WebhookResource::from(stored),
        "Webhook configured",
    )))
}

#[utoipa::path(
    tag = "whatsapp-instances",
    params(("tenant" = String, Path, description = "Tenant id or slug"), ("id" = i64, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The websocket settings; disabled when none are set or websockets are off on the server", body = inline(DataBody<WebsocketResource>)),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`evolution.instance_missing`", body = ErrorBody),
        EvolutionFailures,
    )
)]
#[get("/tenants/{tenant}/whatsapp-instances/{id}/websocket")]
pub async fn get_websocket(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant_key, id) = path.into_inner();
    let target = reachable(&state, &user, tenant_key, id).await?;
    let config = instance::websocket(&state, &target).await?;
    Ok(HttpResponse::Ok().json(DataBody::new(WebsocketResource::from(config))))
}

#[utoipa::path(
    tag = "whatsapp-instances",
    params(("tenant" = String, Path, description = "Tenant id or slug"), ("id" = i64, Path)),
    request_body = WebsocketBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The websocket settings as Evolution stored them", body = inline(DataBody<WebsocketResource>)),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`evolution.websocket_disabled` (WEBSOCKET_ENABLED is off on the server) or `evolution.instance_missing`", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, description = "Validation failed (an unknown event, ...)", body = ErrorBody),
        EvolutionFailures,
    )
)]
#[put("/tenants/{tenant}/whatsapp-instances/{id}/websocket")]
pub async fn set_websocket(
    state: web::Data<AppState>,
    user: AuthUser,
    request_id: RequestId,
    locale: Locale,
    path: web::Path<(String, i64)>,
    body: JsonObject<WebsocketBody>,
) -> Result<HttpResponse, ApiError> {
    let (tenant_key, id) = path.into_inner();
    let target = reachable(&state, &user, tenant_key, id).await?;
    let auditor = Auditor::new(&user, request_id, &state.clock);
    let mut errors = FieldErrors::default();
    let config = WebsocketConfig {
        enabled: required_boolean(&body.enabled, "enabled", &mut errors),
        events: events(&body.events, &mut errors),
    };
    errors.into_result(locale)?;
    let stored = instance::set_websocket(&state, &target, &config, auditor).await?;
    Ok(HttpResponse::Ok().json(MessageDataBody::new(
        WebsocketResource::from(stored),
        "Websocket configured",
    )))
}
