//! Evolution's JSON, read leniently: v2 shapes first, and the v1 shapes seed 000 still
//! meets (fetchInstances rows under `instance`, the QR under `qrcode`, `hash.apikey`).

use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;
use serde_json::{json, Value};

use super::error::{bounded, flatten, EvolutionError};
use super::{
    ConnectAnswer, CreatedInstance, QrCode, RemoteInstance, RemoteState, ServerInfo, WebhookConfig,
    WebsocketConfig,
};

pub(super) fn parse_json(body: &str) -> Result<Value, EvolutionError> {
    serde_json::from_str(body).map_err(|_| invalid(body))
}

fn invalid(body: &str) -> EvolutionError {
    let excerpt: String = body.chars().take(200).collect();
    EvolutionError::InvalidResponse(excerpt)
}

fn text(value: &Value, key: &str) -> Option<String> {
    value
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn flag(value: &Value, keys: &[&str]) -> bool {
    keys.iter()
        .find_map(|key| value.get(*key).and_then(Value::as_bool))
        .unwrap_or(false)
}

/// `{"error": true, "message": ...}` with HTTP 200 (connect and restart).
pub(super) fn refused(json: &Value) -> Option<EvolutionError> {
    (json.get("error") == Some(&Value::Bool(true))).then(|| {
        EvolutionError::Refused(bounded(
            &json.get("message").map(flatten).unwrap_or_default(),
        ))
    })
}

fn state_of(instance: &Value) -> Option<RemoteState> {
    ["state", "status", "connectionStatus"]
        .iter()
        .find_map(|key| instance.get(*key).and_then(Value::as_str))
        .and_then(RemoteState::parse)
}

/// A QR object: `{pairingCode, code, base64, count}`, or v1's nesting under `qrcode`.
fn qr_of(json: &Value) -> Option<QrCode> {
    let qr = json.get("qrcode").filter(|q| q.is_object()).unwrap_or(json);
    let is_qr = ["base64", "code", "pairingCode", "count"]
        .iter()
        .any(|key| qr.get(*key).is_some());
    is_qr.then(|| QrCode {
        base64: text(qr, "base64").map(|b64| {
            if b64.starts_with("data:") {
                b64
            } else {
                format!("data:image/png;base64,{b64}")
            }
        }),
        code: text(qr, "code"),
        pairing_code: text(qr, "pairingCode"),
    })
}

/// `instance/connect` and `instance/restart`.
pub(super) fn connect_answer(body: &str) -> Result<ConnectAnswer, EvolutionError> {
    let json = parse_json(body)?;
    if let Some(error) = refused(&json) {
        return Err(error);
    }
    if let Some(instance) = json.get("instance").filter(|i| i.is_object()) {
        return Ok(ConnectAnswer::State(state_of(instance)));
    }
    if let Some(qr) = qr_of(&json) {
        return Ok(ConnectAnswer::Qr(qr));
    }
    match state_of(&json) {
        Some(state) => Ok(ConnectAnswer::State(Some(state))),
        None => Err(invalid(body)),
    }
}

/// `message/sendText`'s 201: the prepared message, whose `key.id` is the message's id on
/// WhatsApp (reference §2.12).
pub(super) fn sent_message_id(body: &str) -> Result<String, EvolutionError> {
    let json = parse_json(body)?;
    json.get("key")
        .and_then(|key| text(key, "id"))
        .ok_or_else(|| invalid(body))
}

/// `instance/connectionState`: `{"instance": {"instanceName", "state"}}`, `state` missing
/// for an instance that is not loaded.
pub(super) fn connection_state(body: &str) -> Result<Option<RemoteState>, EvolutionError> {
    let json = parse_json(body)?;
    match json.get("instance").filter(|i| i.is_object()) {
        Some(instance) => Ok(state_of(instance)),
        None if json.get("state").is_some() => Ok(state_of(&json)),
        None => Err(invalid(body)),
    }
}

/// `instance/create`: v2's `hash` is the token; v1 had `{"apikey": ...}` there.
pub(super) fn created_instance(body: &str) -> Result<CreatedInstance, EvolutionError> {
    let json = parse_json(body)?;
    let instance = json.get("instance").filter(|i| i.is_object());
    if instance.is_none() && json.get("hash").is_none() {
        return Err(invalid(body));
    }
    let token = match json.get("hash") {
        Some(Value::String(hash)) if !hash.is_empty() => Some(hash.clone()),
        Some(hash @ Value::Object(_)) => text(hash, "apikey"),
        _ => None,
    };
    Ok(CreatedInstance {
        token,
        state: instance.and_then(state_of),
    })
}

/// `instance/fetchInstances?instanceName=`: v2 answers an array of flat rows; v1 nested each
/// row under `instance` and answered a single object for one name.
pub(super) fn fetched_instance(
    body: &str,
    name: &str,
) -> Result<Option<RemoteInstance>, EvolutionError> {
    Ok(fetched_instances(body)?
        .into_iter()
        .find(|row| row.name == name))
}

/// Every row of a `fetchInstances` answer (an array, or one object).
pub(super) fn fetched_instances(body: &str) -> Result<Vec<RemoteInstance>, EvolutionError> {
    let json = parse_json(body)?;
    let rows = match &json {
        Value::Array(rows) => rows.as_slice(),
        Value::Object(_) => std::slice::from_ref(&json),
        _ => return Err(invalid(body)),
    };
    Ok(rows.iter().map(remote_instance).collect())
}

fn remote_instance(row: &Value) -> RemoteInstance {
    match row.get("instance").filter(|i| i.is_object()) {
        // v1: {"instance": {instanceName, owner, profileName, status, apikey}}
        Some(v1) => RemoteInstance {
            name: text(v1, "instanceName").unwrap_or_default(),
            token: text(v1, "apikey"),
            state: state_of(v1),
            owner_jid: text(v1, "owner"),
            profile_name: text(v1, "profileName"),
        },
        None => RemoteInstance {
            name: text(row, "name").unwrap_or_default(),
            token: text(row, "token"),
            state: state_of(row),
            owner_jid: text(row, "ownerJid"),
            profile_name: text(row, "profileName"),
        },
    }
}

/// `webhook/find` and `webhook/set`: the stored row, or `null` when none is configured.
pub(super) fn webhook(body: &str) -> Result<Option<WebhookConfig>, EvolutionError> {
    if body.trim().is_empty() {
        return Ok(None);
    }
    let json = parse_json(body)?;
    if json.is_null() {
        return Ok(None);
    }
    let row = json
        .get("webhook")
        .filter(|w| w.is_object())
        .unwrap_or(&json);
    if !row.is_object() {
        return Err(invalid(body));
    }
    Ok(Some(WebhookConfig {
        enabled: flag(row, &["enabled"]),
        url: text(row, "url"),
        events: events_of(row),
        by_events: flag(row, &["webhookByEvents", "byEvents", "webhook_by_events"]),
        base64: flag(row, &["webhookBase64", "base64", "webhook_base64"]),
        headers: webhook_headers(row),
    }))
}

/// The headers of a stored webhook. Relevo sets string values only; a value of another
/// JSON type (set on Evolution by other means) is given as its JSON text, which is what
/// an HTTP header would carry of it.
fn webhook_headers(row: &Value) -> std::collections::BTreeMap<String, String> {
    let Some(headers) = row.get("headers").and_then(Value::as_object) else {
        return Default::default();
    };
    headers
        .iter()
        .map(|(name, value)| {
            let value = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            (name.clone(), value)
        })
        .collect()
}

/// v2's nested body. `events` is always sent: Evolution crashes without it.
pub(super) fn webhook_body(config: &WebhookConfig) -> Value {
    json!({"webhook": {
        "enabled": config.enabled,
        "url": config.url.clone().unwrap_or_default(),
        "events": config.events,
        "byEvents": config.by_events,
        "base64": config.base64,
        "headers": config.headers,
    }})
}

/// `websocket/find` and `websocket/set`. An empty body means websockets are disabled on
/// the server; `null` means the instance has none configured.
pub(super) fn websocket(body: &str) -> Result<Option<WebsocketConfig>, EvolutionError> {
    if body.trim().is_empty() {
        return Ok(None);
    }
    let json = parse_json(body)?;
    if json.is_null() {
        return Ok(Some(WebsocketConfig::default()));
    }
    let row = json
        .get("websocket")
        .filter(|w| w.is_object())
        .unwrap_or(&json);
    if !row.is_object() {
        return Err(invalid(body));
    }
    Ok(Some(WebsocketConfig {
        enabled: flag(row, &["enabled"]),
        events: events_of(row),
    }))
}

pub(super) fn websocket_body(config: &WebsocketConfig) -> Value {
    json!({"websocket": {"enabled": config.enabled, "events": config.events}})
}

fn events_of(row: &Value) -> Vec<String> {
    row.get("events")
        .and_then(Value::as_array)
        .map(|events| {
            events
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `GET /`: Evolution's welcome (`{"status": 200, "message": "Welcome to the Evolution
/// API…", "version": "2.3.6", "clientName", "whatsappWebVersion", …}`), read for the
/// fields that matter, whatever the version adds or drops. An answer without a version
/// that reads as one is not Evolution's; the other fields are shown only when they look
/// as Evolution writes them, so whatever else answers at a server's URL is never
/// repeated to the caller.
pub(super) fn server_info(body: &str, latency: Duration) -> Result<ServerInfo, EvolutionError> {
    #[allow(
        clippy::expect_used,
        reason = "a constant pattern, compiled by the unit tests"
    )]
    static VERSION: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^v?[0-9]{1,4}(\.[0-9]{1,6}){1,3}([-+][0-9A-Za-z.-]{1,24})?$")
            .expect("a valid pattern")
    });
    #[allow(
        clippy::expect_used,
        reason = "a constant pattern, compiled by the unit tests"
    )]
    static CLIENT_NAME: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_.-]{1,64}$").expect("a valid pattern"));
    #[allow(
        clippy::expect_used,
        reason = "a constant pattern, compiled by the unit tests"
    )]
    static WHATSAPP_WEB_VERSION: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[0-9]{1,6}(\.[0-9]{1,12}){1,3}$").expect("a valid pattern"));
    let info = match parse_json(body)? {
        Value::Object(info) => info,
        _ => return Err(invalid(body)),
    };
    let field = |key: &str, pattern: &Regex| {
        info.get(key)
            .and_then(Value::as_str)
            .filter(|value| pattern.is_match(value))
            .map(str::to_string)
    };
    let version = field("version", &VERSION).ok_or_else(|| invalid(body))?;
    Ok(ServerInfo {
        version,
        client_name: field("clientName", &CLIENT_NAME),
        whatsapp_web_version: field("whatsappWebVersion", &WHATSAPP_WEB_VERSION),
        latency,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_info_is_evolutions_welcome_or_nothing() {
        let latency = Duration::from_millis(5);
        let info = server_info(
            r#"{"status":200,"message":"Welcome to the Evolution API, it is working!","version":"2.3.6",
                "clientName":"evolution","manager":"http://host:8080/manager","whatsappWebVersion":"2.3000.1028437292"}"#,
            latency,
        )
        .unwrap();
        assert_eq!(info.version, "2.3.6");
        assert_eq!(info.client_name.as_deref(), Some("evolution"));
        assert_eq!(
            info.whatsapp_web_version.as_deref(),
            Some("2.3000.1028437292")
        );

        let odd = server_info(
            r#"{"version":"2.2.3","clientName":"<script>","whatsappWebVersion":"root:x:0:0"}"#,
            latency,
        )
        .unwrap();
        assert_eq!(odd.version, "2.2.3");
        assert_eq!((odd.client_name, odd.whatsapp_web_version), (None, None));

        for not_evolution in [
            r#"{"version":"PostgreSQL 16.2 on x86_64-pc-linux-gnu, compiled by gcc"}"#,
            r#"{"status":"ok"}"#,
            r#"{"version":12}"#,
            r#"["2.3.6"]"#,
            "ami-id\ninstance-id",
        ] {
            assert!(
                matches!(
                    server_info(not_evolution, latency),
                    Err(EvolutionError::InvalidResponse(_))
                ),
                "{not_evolution}"
            );
        }
        let long = format!(r#"{{"version":"2.3.6-{}"}}"#, "a".repeat(100));
        assert!(server_info(&long, latency).is_err());
    }

    #[test]
    fn connect_answers_in_every_shape() {
        let qr = connect_answer(
            r#"{"pairingCode":null,"code":"2@abc","base64":"data:image/png;base64,iVBOR","count":1}"#,
        )
        .unwrap();
        assert_eq!(
            qr,
            ConnectAnswer::Qr(QrCode {
                base64: Some("data:image/png;base64,iVBOR".into()),
                code: Some("2@abc".into()),
                pairing_code: None,
            })
        );
        assert_eq!(
            connect_answer(r#"{"count":0}"#).unwrap(),
            ConnectAnswer::Qr(QrCode::default())
        );
        assert_eq!(
            connect_answer(r#"{"instance":{"instanceName":"a","state":"open"}}"#).unwrap(),
            ConnectAnswer::State(Some(RemoteState::Open))
        );
        // 2.3.7's restart
        assert_eq!(
            connect_answer(r#"{"instance":{"instanceName":"a","status":"connecting"}}"#).unwrap(),
            ConnectAnswer::State(Some(RemoteState::Connecting))
        );
        assert_eq!(
            connect_answer(r#"{"error":true,"message":"[object Object]"}"#).unwrap_err(),
            EvolutionError::Refused("[object Object]".into())
        );
        // v1 nesting, and a bare base64 becomes a data URL
        let ConnectAnswer::Qr(v1) = connect_answer(
            r#"{"qrcode":{"base64":"iVBOR","code":"2@x","pairingCode":"WZYEH1YY"}}"#,
        )
        .unwrap() else {
            panic!("a QR")
        };
        assert_eq!(v1.base64.as_deref(), Some("data:image/png;base64,iVBOR"));
        assert_eq!(v1.pairing_code.as_deref(), Some("WZYEH1YY"));
        assert!(connect_answer("[]").is_err());
        assert!(connect_answer("not json").is_err());
    }

    #[test]
    fn fetch_instances_reads_v2_arrays_and_v1_objects() {
        let v2 = r#"[{"id":"u","name":"inst1","connectionStatus":"open","ownerJid":"5511999999999@s.whatsapp.net","profileName":"Foo","token":"TOKEN"}]"#;
        let found = fetched_instance(v2, "inst1").unwrap().unwrap();
        assert_eq!(
            found,
            RemoteInstance {
                name: "inst1".into(),
                token: Some("TOKEN".into()),
                state: Some(RemoteState::Open),
                owner_jid: Some("5511999999999@s.whatsapp.net".into()),
                profile_name: Some("Foo".into()),
            }
        );
        assert_eq!(fetched_instance(v2, "other").unwrap(), None);
        let v1 = r#"{"instance":{"instanceName":"inst1","owner":"5511@s.whatsapp.net","status":"close","apikey":"K"}}"#;
        let found = fetched_instance(v1, "inst1").unwrap().unwrap();
        assert_eq!(found.token.as_deref(), Some("K"));
        assert_eq!(found.state, Some(RemoteState::Close));
        let v1_array = format!("[{v1}]");
        assert!(fetched_instance(&v1_array, "inst1").unwrap().is_some());
    }

    #[test]
    fn create_reads_the_hash_as_a_string_or_v1_object() {
        let v2 = r#"{"instance":{"instanceName":"a","instanceId":"u","status":"connecting"},"hash":"5A79","qrcode":{"count":0}}"#;
        assert_eq!(
            created_instance(v2).unwrap(),
            CreatedInstance {
                token: Some("5A79".into()),
                state: Some(RemoteState::Connecting)
            }
        );
        let v1 = r#"{"instance":{"instanceName":"a","status":"created"},"hash":{"apikey":"K1"}}"#;
        assert_eq!(created_instance(v1).unwrap().token.as_deref(), Some("K1"));
        assert!(created_instance("{}").is_err());
    }

    #[test]
    fn webhook_rows_and_bodies() {
        let row = r#"{"id":"c","url":"https://r.example/h","headers":{"x":"1"},"enabled":true,"events":["CONNECTION_UPDATE"],"webhookByEvents":true,"webhookBase64":false}"#;
        let config = webhook(row).unwrap().unwrap();
        assert!(config.enabled && config.by_events && !config.base64);
        assert_eq!(config.events, vec!["CONNECTION_UPDATE".to_string()]);
        assert_eq!(webhook("null").unwrap(), None);
        assert_eq!(
            webhook_body(&config)["webhook"]["byEvents"],
            Value::Bool(true)
        );
        assert_eq!(websocket("").unwrap(), None);
        assert_eq!(websocket("null").unwrap(), Some(WebsocketConfig::default()));
    }

    #[test]
    fn webhook_headers_are_a_map_of_strings() {
        let row = r#"{"url":"https://r.example/h","enabled":true,"headers":{"x-key":"k","x-count":3,"x-on":true,"x-none":null,"x-list":["a"]}}"#;
        let config = webhook(row).unwrap().unwrap();
        let headers: Vec<(&str, &str)> = config
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        assert_eq!(
            headers,
            [
                ("x-count", "3"),
                ("x-key", "k"),
                ("x-list", r#"["a"]"#),
                ("x-none", "null"),
                ("x-on", "true"),
            ]
        );
        assert_eq!(
            webhook_body(&config)["webhook"]["headers"]["x-count"],
            Value::String("3".into())
        );
        let without = webhook(r#"{"url":"https://r.example/h","headers":"x"}"#).unwrap();
        assert!(without.unwrap().headers.is_empty());
    }
}
