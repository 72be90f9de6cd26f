//! A fake Evolution API v2 server on a local port, written from
//! `shared/reference/evolution-api-v2.md` (sections 1, 2 and 7), not from Relevo's client:
//! the same paths, bodies, status codes and guard order (404 → 403 → 401), the polymorphic
//! error envelope, and switches that make it fail the ways real servers do.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use crate::helpers::{serve_locally, spawn_app_with, Backend, TestApp};

/// `AUTHENTICATION_API_KEY` of the fake.
pub const GLOBAL_KEY: &str = "fake-global-key-0123";

/// Relevo's timeout in these tests, and how long a slow fake takes: well past it.
pub const REQUEST_TIMEOUT_MS: &str = "800";
pub const SLOW_ANSWER: Duration = Duration::from_millis(2000);
/// Relevo's timeout for calls that are meant to time out (and nothing else): the test
/// waits this long for each, not [`REQUEST_TIMEOUT_MS`].
pub const SHORT_TIMEOUT_MS: &str = "100";

/// Accepted by webhook/set and websocket/set (reference section 3.1). Written from the
/// reference, not taken from Relevo's `evolution::EVENTS`, on purpose: the fake speaks for
/// Evolution, so a name Relevo's own list got wrong is refused here as it would be there.
const EVENTS: &[&str] = &[
    "APPLICATION_STARTUP",
    "QRCODE_UPDATED",
    "MESSAGES_SET",
    "MESSAGES_UPSERT",
    "MESSAGES_EDITED",
    "MESSAGES_UPDATE",
    "MESSAGES_DELETE",
    "SEND_MESSAGE",
    "SEND_MESSAGE_UPDATE",
    "CONTACTS_SET",
    "CONTACTS_UPSERT",
    "CONTACTS_UPDATE",
    "PRESENCE_UPDATE",
    "CHATS_SET",
    "CHATS_UPSERT",
    "CHATS_UPDATE",
    "CHATS_DELETE",
    "GROUPS_UPSERT",
    "GROUP_UPDATE",
    "GROUP_PARTICIPANTS_UPDATE",
    "CONNECTION_UPDATE",
    "LABELS_EDIT",
    "LABELS_ASSOCIATION",
    "CALL",
    "TYPEBOT_START",
    "TYPEBOT_CHANGE_STATUS",
    "REMOVE_INSTANCE",
    "LOGOUT_INSTANCE",
    "INSTANCE_CREATE",
    "INSTANCE_DELETE",
    "STATUS_INSTANCE",
];

/// One instance as the fake keeps it.
#[derive(Clone, Debug)]
pub struct FakeInstance {
    pub id: String,
    pub token: String,
    /// `close`, `connecting` or `open`.
    pub state: String,
    pub owner_jid: Option<String>,
    pub profile_name: Option<String>,
    /// QR codes generated so far.
    pub qr_count: u32,
    pub webhook: Option<Value>,
    pub websocket: Option<Value>,
    /// How long `sendText` takes on this instance (it still sends).
    pub send_delay: Option<Duration>,
    /// `sendText` fails inside Baileys' try block: 400 `["Error: Connection Closed"]`
    /// (reference §2.12), while the instance still looks open.
    pub send_breaks: bool,
    /// It was open once. An instance that never was has no socket: the real 2.3.6
    /// answers `sendText` with 500 `Cannot read properties of undefined (reading
    /// 'onWhatsApp')`, not "Connection Closed".
    pub ever_open: bool,
    /// The connection reconnects for ever, as every instance of the real server does when
    /// WhatsApp cannot be reached (`shared/evolution-real/README.md`): the stored state
    /// (`fetchInstances`) stays `close` while the live one flickers.
    pub looping: bool,
    /// The loop's moment: `true` while it is `connecting`. Each `connectionState` read
    /// finds the loop one moment on; logout and restart act on the moment the last read
    /// saw. A delete leaves a loop no logout stopped running (a zombie).
    pub loop_connecting: bool,
}

impl FakeInstance {
    fn new(token: String) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            token,
            state: "close".into(),
            owner_jid: None,
            profile_name: None,
            qr_count: 0,
            webhook: None,
            websocket: None,
            send_delay: None,
            send_breaks: false,
            ever_open: false,
            looping: false,
            loop_connecting: false,
        }
    }
}

/// A text the fake sent to WhatsApp.
#[derive(Clone, Debug, PartialEq)]
pub struct SentText {
    pub instance: String,
    pub number: String,
    pub text: String,
    /// Its `key.id`.
    pub id: String,
}

/// A way to fail every request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Failure {
    /// 500 with Evolution's envelope, as an uncaught error gives.
    ServerError,
    /// Answers normally, after `SLOW_ANSWER`.
    Slow,
}

#[derive(Default)]
pub struct FakeState {
    pub instances: BTreeMap<String, FakeInstance>,
    pub global_key: String,
    pub failure: Option<Failure>,
    /// `/instance/connect` answers `{"count":0}`: the QR never arrives.
    pub qr_never_arrives: bool,
    /// `/instance/restart` answers 200 `{"error":true,"message":"[object Object]"}`.
    pub restart_refuses: bool,
    /// `/instance/logout` answers 400 "not connected", as at every `close` moment of a loop.
    pub logout_refuses: bool,
    /// `instance/create` does its work at once and answers after `SLOW_ANSWER`, past
    /// Relevo's timeout (the real server answers a create after ~5 s).
    pub create_answers_late: bool,
    /// `WEBSOCKET_ENABLED`; off, the websocket routes answer an empty body.
    pub websocket_enabled: bool,
    /// Every request, as `METHOD /path?query`.
    pub calls: Vec<String>,
    /// `instance/create` calls that created an instance.
    pub creates: usize,
    /// The `number` of the last create or connect.
    pub last_number: Option<String>,
    /// Numbers (digits) that are not on WhatsApp: `sendText` answers `exists: false`.
    pub not_on_whatsapp: BTreeSet<String>,
    /// Every text sent, in order.
    pub sent: Vec<SentText>,
    /// The `key.id` the next text gets (random otherwise).
    pub next_message_id: Option<String>,
    /// Deleted names whose connection kept reconnecting: the real server's zombies, which
    /// answer 404 and run until the server restarts.
    pub zombies: BTreeSet<String>,
}

pub struct FakeEvolution {
    pub url: String,
    state: Arc<Mutex<FakeState>>,
}

impl FakeEvolution {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(FakeState {
            global_key: GLOBAL_KEY.into(),
            websocket_enabled: true,
            ..FakeState::default()
        }));
        let url = serve_locally(web::Data::from(state.clone()), handle);
        Self { url, state }
    }

    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap()
    }

    pub fn fail(&self, failure: Failure) {
        self.state().failure = Some(failure);
    }

    pub fn recover(&self) {
        self.state().failure = None;
    }

    /// Another global key: Relevo's becomes wrong (401).
    pub fn rotate_global_key(&self) {
        self.state().global_key = "rotated-global-key".into();
    }

    pub fn instance(&self, name: &str) -> Option<FakeInstance> {
        self.state().instances.get(name).cloned()
    }

    /// The webhook URL the fake holds for `name`, as anyone with the instance's key reads it
    /// (`GET /webhook/find/{name}`).
    pub fn webhook_url(&self, name: &str) -> String {
        let webhook = self.instance(name).expect("the instance").webhook;
        let webhook = webhook.expect("a webhook");
        webhook["url"].as_str().expect("a webhook URL").to_string()
    }

    pub fn instance_names(&self) -> Vec<String> {
        self.state().instances.keys().cloned().collect()
    }

    /// As if the server lost it (restarted without its store, or deleted by hand).
    pub fn lose_instance(&self, name: &str) {
        self.state().instances.remove(name);
    }

    /// An instance created on the server without Relevo.
    pub fn add_instance(&self, name: &str, token: &str, state: &str) {
        let mut instance = FakeInstance::new(token.into());
        instance.state = state.into();
        instance.ever_open = state == "open";
        self.state().instances.insert(name.into(), instance);
    }

    /// The connection of `name` starts looping between `connecting` and `close` (WhatsApp
    /// unreachable), at a `close` moment.
    pub fn start_looping(&self, name: &str) {
        let mut state = self.state();
        let instance = state.instances.get_mut(name).expect("instance on the fake");
        instance.state = "close".into();
        instance.looping = true;
        instance.loop_connecting = false;
    }

    /// Deleted names whose connection still reconnects.
    pub fn zombies(&self) -> BTreeSet<String> {
        self.state().zombies.clone()
    }

    /// WhatsApp linked on the phone.
    pub fn link(&self, name: &str, owner_jid: &str) {
        let mut state = self.state();
        let instance = state.instances.get_mut(name).expect("instance on the fake");
        instance.state = "open".into();
        instance.ever_open = true;
        instance.owner_jid = Some(owner_jid.into());
        instance.profile_name = Some("Campaña".into());
    }

    /// Texts sent so far, through any instance.
    pub fn sent(&self) -> Vec<SentText> {
        self.state().sent.clone()
    }

    /// Texts sent so far through instance `name`.
    pub fn sent_through(&self, name: &str) -> usize {
        self.state()
            .sent
            .iter()
            .filter(|sent| sent.instance == name)
            .count()
    }

    /// WhatsApp's link of `name` drops without Evolution noticing: `sendText` fails with
    /// `Connection Closed` (a 500, from the number lookup), as the reference says a send
    /// on a closed socket does.
    pub fn drop_link(&self, name: &str) {
        let mut state = self.state();
        state
            .instances
            .get_mut(name)
            .expect("instance on the fake")
            .state = "close".into();
    }

    /// `sendText` on `name` fails inside its try block (400 `["Error: Connection Closed"]`).
    pub fn break_sending(&self, name: &str) {
        let mut state = self.state();
        state
            .instances
            .get_mut(name)
            .expect("instance on the fake")
            .send_breaks = true;
    }

    /// `sendText` on `name` answers after `delay` (and sends).
    pub fn slow_sending(&self, name: &str, delay: Duration) {
        let mut state = self.state();
        state
            .instances
            .get_mut(name)
            .expect("instance on the fake")
            .send_delay = Some(delay);
    }

    /// `number` (digits) is not on WhatsApp.
    pub fn not_on_whatsapp(&self, number: &str) {
        self.state().not_on_whatsapp.insert(number.into());
    }

    pub fn calls(&self) -> Vec<String> {
        self.state().calls.clone()
    }

    pub fn calls_to(&self, prefix: &str) -> usize {
        self.calls()
            .iter()
            .filter(|call| call.starts_with(prefix))
            .count()
    }
}

/// An app whose default Evolution server is a fresh fake (seed 000's variables), with
/// short timeouts.
pub async fn spawn_with_fake(
    backend: Backend,
    extra: &[(&str, &str)],
) -> Option<(TestApp, FakeEvolution)> {
    let fake = FakeEvolution::start().await;
    let mut vars = vec![
        ("EVOLUTION_API_BASE_URL", fake.url.as_str()),
        ("EVOLUTION_API_MASTER_KEY", GLOBAL_KEY),
        ("EVOLUTION_API_REQUEST_TIMEOUT_MS", REQUEST_TIMEOUT_MS),
        ("EVOLUTION_API_CONNECT_TIMEOUT_MS", REQUEST_TIMEOUT_MS),
    ];
    vars.extend_from_slice(extra);
    let app = spawn_app_with(backend, &vars).await?;
    Some((app, fake))
}

/// As [`spawn_with_fake`], with the app on a known port and `RELEVO_PUBLIC_URL` set, so
/// that provisioning points the instances' webhooks at it and the fake's webhooks arrive.
pub async fn spawn_reachable_with_fake(
    backend: Backend,
    extra: &[(&str, &str)],
) -> Option<(TestApp, FakeEvolution)> {
    let port = crate::helpers::known_port();
    let bind = format!("127.0.0.1:{port}");
    let public_url = format!("http://{bind}");
    let mut vars = vec![
        ("RELEVO_BIND", bind.as_str()),
        ("RELEVO_PUBLIC_URL", public_url.as_str()),
    ];
    vars.extend_from_slice(extra);
    spawn_with_fake(backend, &vars).await
}

#[macro_export]
macro_rules! spawn_with_fake_or_skip {
    ($backend:expr) => {
        $crate::spawn_with_fake_or_skip!($backend, &[])
    };
    ($backend:expr, $extra:expr) => {
        match $crate::evolution_fake::spawn_with_fake($backend, $extra).await {
            Some(pair) => pair,
            None => return,
        }
    };
}

fn envelope(status: StatusCode, message: Value) -> HttpResponse {
    HttpResponse::build(status).json(json!({
        "status": status.as_u16(),
        "error": status.canonical_reason().unwrap_or(""),
        "response": {"message": message},
    }))
}

fn unauthorized() -> HttpResponse {
    envelope(StatusCode::UNAUTHORIZED, json!("Unauthorized"))
}

fn qr_object(name: &str, instance: &mut FakeInstance, number: Option<&str>) -> Value {
    instance.qr_count += 1;
    let n = instance.qr_count;
    json!({
        "pairingCode": number.map(|_| format!("PAIR{n:04}")),
        "code": format!("2@{name}-qr-{n}"),
        "base64": format!("data:image/png;base64,{name}{n}"),
        "count": n,
    })
}

fn query_param(req: &HttpRequest, name: &str) -> Option<String> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

async fn handle(
    req: HttpRequest,
    body: web::Bytes,
    fake: web::Data<Mutex<FakeState>>,
) -> HttpResponse {
    let call = match req.query_string() {
        "" => format!("{} {}", req.method(), req.path()),
        query => format!("{} {}?{query}", req.method(), req.path()),
    };
    let (failure, send_delay) = {
        let mut state = fake.lock().unwrap();
        state.calls.push(call);
        let send_delay = match req.path().strip_prefix("/message/sendText/") {
            Some(name) => state.instances.get(name).and_then(|i| i.send_delay),
            None => None,
        };
        (state.failure, send_delay)
    };
    if let Some(delay) = send_delay {
        tokio::time::sleep(delay).await;
    }
    match failure {
        Some(Failure::ServerError) => {
            return envelope(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!("Connection Closed"),
            )
        }
        Some(Failure::Slow) => tokio::time::sleep(SLOW_ANSWER).await,
        None => {}
    }
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(json) => json,
            Err(error) => return envelope(StatusCode::BAD_REQUEST, json!(error.to_string())),
        }
    };
    let (response, late) = {
        let mut state = fake.lock().unwrap();
        let late = state.create_answers_late && req.path() == "/instance/create";
        (route(&req, &body, &mut state), late)
    };
    if late {
        tokio::time::sleep(SLOW_ANSWER).await;
    }
    response
}

fn route(req: &HttpRequest, body: &Value, state: &mut FakeState) -> HttpResponse {
    let segments: Vec<&str> = req.path().split('/').filter(|s| !s.is_empty()).collect();
    let method = req.method();
    let apikey = req
        .headers()
        .get("apikey")
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let is_global = apikey.as_deref() == Some(state.global_key.as_str());

    match (method, segments.as_slice()) {
        (&Method::GET, []) => HttpResponse::Ok().json(json!({
            "status": 200,
            "message": "Welcome to the Evolution API, it is working!",
            "version": "2.3.6",
            "clientName": "evolution",
            "manager": "http://fake/manager",
            "documentation": "https://doc.evolution-api.com",
            "whatsappWebVersion": "2.3000.1028437292",
        })),
        (&Method::POST, ["instance", "create"]) => create(body, state, apikey.as_deref()),
        // Only the global key passes (the real 2.3.6).
        (&Method::POST, ["verify-creds"]) => match is_global {
            true => {
                HttpResponse::Ok().json(json!({"status": 200, "message": "Credentials are valid"}))
            }
            false => unauthorized(),
        },
        (&Method::GET, ["instance", "fetchInstances"]) => {
            if !is_global {
                return unauthorized();
            }
            let rows: Vec<Value> = match query_param(req, "instanceName") {
                Some(name) => match state.instances.get(&name) {
                    Some(instance) => vec![row(&name, instance)],
                    None => {
                        return envelope(
                            StatusCode::NOT_FOUND,
                            json!([format!("Instance \"{name}\" not found")]),
                        )
                    }
                },
                None => state
                    .instances
                    .iter()
                    .map(|(name, instance)| row(name, instance))
                    .collect(),
            };
            HttpResponse::Ok().json(rows)
        }
        (method, [group, action, name]) if is_instance_route(method, group, action) => {
            let name = name.to_string();
            // Guard order: the instance must exist (404) before the key is looked at (401).
            let Some(token) = state.instances.get(&name).map(|i| i.token.clone()) else {
                return envelope(
                    StatusCode::NOT_FOUND,
                    json!([format!("The \"{name}\" instance does not exist")]),
                );
            };
            if !is_global && apikey.as_deref() != Some(token.as_str()) {
                return unauthorized();
            }
            instance_route(req, body, state, group, action, &name)
        }
        _ => envelope(
            StatusCode::NOT_FOUND,
            json!([format!("Cannot {} {}", method, req.path())]),
        ),
    }
}

fn is_instance_route(method: &Method, group: &str, action: &str) -> bool {
    matches!(
        (method, group, action),
        (&Method::GET, "instance", "connect")
            | (&Method::GET, "instance", "connectionState")
            | (&Method::POST, "instance", "restart")
            | (&Method::DELETE, "instance", "logout")
            | (&Method::DELETE, "instance", "delete")
            | (&Method::POST, "webhook", "set")
            | (&Method::GET, "webhook", "find")
            | (&Method::POST, "websocket", "set")
            | (&Method::GET, "websocket", "find")
            | (&Method::POST, "message", "sendText")
    )
}

fn create(body: &Value, state: &mut FakeState, apikey: Option<&str>) -> HttpResponse {
    let name = body["instanceName"]
        .as_str()
        .unwrap_or("undefined")
        .to_string();
    // The name guard runs before authentication.
    if state.instances.contains_key(&name) {
        return envelope(
            StatusCode::FORBIDDEN,
            json!([format!("This name \"{name}\" is already in use.")]),
        );
    }
    if apikey != Some(state.global_key.as_str()) {
        return unauthorized();
    }
    if body["integration"] != json!("WHATSAPP-BAILEYS") {
        return envelope(StatusCode::BAD_REQUEST, json!(["Invalid integration"]));
    }
    let token = body["token"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string().to_uppercase());
    let number = body["number"].as_str().map(str::to_string);
    let mut instance = FakeInstance::new(token.clone());
    let mut answer = json!({
        "instance": {
            "instanceName": name, "instanceId": instance.id, "integration": "WHATSAPP-BAILEYS",
            "webhookWaBusiness": null, "accessTokenWaBusiness": "", "status": "close"
        },
        "hash": token,
        "webhook": {}, "websocket": {}, "rabbitmq": {}, "nats": {}, "sqs": {},
        "settings": {"rejectCall": false, "msgCall": "", "groupsIgnore": false, "alwaysOnline": false,
                     "readMessages": false, "readStatus": false, "syncFullHistory": false, "wavoipToken": ""},
    });
    if body["qrcode"] == json!(true) {
        instance.state = "connecting".into();
        answer["instance"]["status"] = json!("connecting");
        answer["qrcode"] = if state.qr_never_arrives {
            json!({"count": 0})
        } else {
            qr_object(&name, &mut instance, number.as_deref())
        };
    }
    state.last_number = number;
    state.instances.insert(name, instance);
    state.creates += 1;
    HttpResponse::Created().json(answer)
}

fn row(name: &str, instance: &FakeInstance) -> Value {
    json!({
        "id": instance.id, "name": name, "connectionStatus": instance.state,
        "ownerJid": instance.owner_jid, "profileName": instance.profile_name, "profilePicUrl": null,
        "integration": "WHATSAPP-BAILEYS", "number": null, "businessId": null,
        "token": instance.token, "clientName": "evolution",
        "disconnectionReasonCode": null, "disconnectionObject": null, "disconnectionAt": null,
        "createdAt": "2025-10-21T11:40:39.000Z", "updatedAt": "2025-10-21T11:41:02.000Z",
        "Chatwoot": null, "Proxy": null, "Rabbitmq": null, "Nats": null, "Sqs": null,
        "Websocket": null, "Setting": null,
        "_count": {"Message": 0, "Contact": 0, "Chat": 0}
    })
}

fn instance_route(
    req: &HttpRequest,
    body: &Value,
    state: &mut FakeState,
    group: &str,
    action: &str,
    name: &str,
) -> HttpResponse {
    if (group, action) == ("message", "sendText") {
        return send_text(body, state, name);
    }
    let qr_never_arrives = state.qr_never_arrives;
    let restart_refuses = state.restart_refuses;
    let logout_refuses = state.logout_refuses;
    let websocket_enabled = state.websocket_enabled;
    let number = query_param(req, "number");
    if number.is_some() {
        state.last_number = number.clone();
    }
    if (group, action) == ("instance", "delete") {
        let removed = state.instances.remove(name);
        // The real 2.3.6 keeps a loop that no logout stopped running under the deleted
        // name, whatever the moment of the delete.
        if removed.is_some_and(|instance| instance.looping) {
            state.zombies.insert(name.to_string());
        }
        return HttpResponse::Ok().json(json!({"status": "SUCCESS", "error": false, "response": {"message": "Instance deleted"}}));
    }
    let instance = state.instances.get_mut(name).expect("checked by the guard");
    match (group, action) {
        ("instance", "connect") => {
            if instance.state == "open" {
                return HttpResponse::Ok()
                    .json(json!({"instance": {"instanceName": name, "state": "open"}}));
            }
            instance.state = "connecting".into();
            if qr_never_arrives {
                return HttpResponse::Ok().json(json!({"count": 0}));
            }
            HttpResponse::Ok().json(qr_object(name, instance, number.as_deref()))
        }
        ("instance", "connectionState") => {
            let live = if instance.looping {
                instance.loop_connecting = !instance.loop_connecting;
                if instance.loop_connecting {
                    "connecting"
                } else {
                    "close"
                }
            } else {
                instance.state.as_str()
            };
            HttpResponse::Ok().json(json!({"instance": {"instanceName": name, "state": live}}))
        }
        ("instance", "restart") => {
            let closed = match instance.looping {
                true => !instance.loop_connecting,
                false => instance.state == "close",
            };
            if restart_refuses || closed {
                return HttpResponse::Ok()
                    .json(json!({"error": true, "message": "[object Object]"}));
            }
            instance.state = "connecting".into();
            if qr_never_arrives {
                return HttpResponse::Ok().json(json!({"count": 0}));
            }
            HttpResponse::Ok().json(qr_object(name, instance, None))
        }
        ("instance", "logout") => {
            // A logout at a `connecting` moment stops the loop.
            let closed = match instance.looping {
                true => !instance.loop_connecting,
                false => instance.state == "close",
            };
            if closed || logout_refuses {
                return envelope(
                    StatusCode::BAD_REQUEST,
                    json!([format!("The \"{name}\" instance is not connected")]),
                );
            }
            instance.state = "close".into();
            instance.owner_jid = None;
            instance.looping = false;
            HttpResponse::Ok().json(json!({"status": "SUCCESS", "error": false, "response": {"message": "Instance logged out"}}))
        }
        ("webhook", "set") => {
            let Some(webhook) = body.get("webhook").filter(|w| w.is_object()) else {
                return envelope(
                    StatusCode::BAD_REQUEST,
                    json!([["instance requires property \"webhook\""]]),
                );
            };
            for property in ["enabled", "url"] {
                if webhook.get(property).is_none() {
                    return envelope(
                        StatusCode::BAD_REQUEST,
                        json!([[format!("webhook requires property \"{property}\"")]]),
                    );
                }
            }
            let events = match checked_events(webhook, "webhook") {
                Ok(events) => events,
                Err((status, message)) => return envelope(status, message),
            };
            let enabled = webhook["enabled"] == json!(true);
            let stored = json!({
                "id": "cwebhook", "url": webhook["url"], "headers": webhook.get("headers").cloned().unwrap_or(json!({})),
                "enabled": enabled, "events": stored_events(enabled, events),
                "webhookByEvents": webhook["byEvents"] == json!(true), "webhookBase64": webhook["base64"] == json!(true),
                "createdAt": "2025-10-21T11:40:39.000Z", "updatedAt": "2025-10-21T11:40:39.000Z", "instanceId": instance.id,
            });
            instance.webhook = Some(stored.clone());
            HttpResponse::Created().json(stored)
        }
        ("webhook", "find") => {
            HttpResponse::Ok().json(instance.webhook.clone().unwrap_or(Value::Null))
        }
        ("websocket", "set") => {
            if !websocket_enabled {
                return HttpResponse::Created()
                    .content_type("application/json")
                    .finish();
            }
            let Some(websocket) = body.get("websocket").filter(|w| w.is_object()) else {
                return envelope(
                    StatusCode::BAD_REQUEST,
                    json!([["instance requires property \"websocket\""]]),
                );
            };
            let events = match checked_events(websocket, "websocket") {
                Ok(events) => events,
                Err((status, message)) => return envelope(status, message),
            };
            let enabled = websocket["enabled"] == json!(true);
            let stored = json!({
                "id": "cwebsocket", "enabled": enabled, "events": stored_events(enabled, events),
                "createdAt": "2025-10-21T11:40:39.000Z", "updatedAt": "2025-10-21T11:40:39.000Z", "instanceId": instance.id,
            });
            instance.websocket = Some(stored.clone());
            HttpResponse::Created().json(stored)
        }
        ("websocket", "find") => {
            if !websocket_enabled {
                return HttpResponse::Ok().content_type("application/json").finish();
            }
            HttpResponse::Ok().json(instance.websocket.clone().unwrap_or(Value::Null))
        }
        _ => unreachable!("checked by is_instance_route"),
    }
}

/// `POST /message/sendText/{name}` (reference §2.12): 201 with the prepared message; a
/// closed socket fails the number lookup with a 500 `Connection Closed`; a number not on
/// WhatsApp is a 400 whose message holds `{jid, exists: false, number}`.
fn send_text(body: &Value, state: &mut FakeState, name: &str) -> HttpResponse {
    let number = body["number"].as_str().unwrap_or_default().to_string();
    let text = body["text"].as_str().unwrap_or_default().to_string();
    if body.get("number").is_none() {
        return envelope(
            StatusCode::BAD_REQUEST,
            json!([["instance requires property \"number\""]]),
        );
    }
    if text.trim().is_empty() {
        return envelope(StatusCode::BAD_REQUEST, json!(["Text is required"]));
    }
    let instance = state.instances.get(name).expect("checked by the guard");
    if !instance.ever_open {
        return envelope(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!("Cannot read properties of undefined (reading 'onWhatsApp')"),
        );
    }
    if instance.state != "open" {
        return envelope(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!("Connection Closed"),
        );
    }
    let jid = format!("{number}@s.whatsapp.net");
    if state.not_on_whatsapp.contains(&number) {
        return envelope(
            StatusCode::BAD_REQUEST,
            json!([{"jid": jid, "exists": false, "number": number}]),
        );
    }
    if instance.send_breaks {
        return envelope(StatusCode::BAD_REQUEST, json!(["Error: Connection Closed"]));
    }
    let instance_id = instance.id.clone();
    let id = state.next_message_id.take().unwrap_or_else(|| {
        format!(
            "3EB0{}",
            uuid::Uuid::new_v4().simple().to_string()[..16].to_uppercase()
        )
    });
    state.sent.push(SentText {
        instance: name.to_string(),
        number,
        text: text.clone(),
        id: id.clone(),
    });
    HttpResponse::Created().json(json!({
        "key": {"remoteJid": jid, "fromMe": true, "id": id},
        "pushName": "Você",
        "status": "PENDING",
        "message": {"conversation": text},
        "messageType": "conversation",
        "messageTimestamp": chrono::Utc::now().timestamp(),
        "instanceId": instance_id,
        "source": "web",
    }))
}

/// `events` must be present (Evolution crashes without it) and every name known.
fn checked_events(config: &Value, group: &str) -> Result<Vec<String>, (StatusCode, Value)> {
    let Some(events) = config.get("events").and_then(Value::as_array) else {
        return Err((
            StatusCode::INTERNAL_SERVER_ERROR,
            json!("Cannot read properties of undefined (reading 'length')"),
        ));
    };
    let mut names = Vec::new();
    for (i, event) in events.iter().enumerate() {
        match event.as_str() {
            Some(name) if EVENTS.contains(&name) => names.push(name.to_string()),
            _ => {
                return Err((
                    StatusCode::BAD_REQUEST,
                    json!([[format!(
                        "{group}.events[{i}] is not one of enum values: {}",
                        EVENTS.join(",")
                    )]]),
                ))
            }
        }
    }
    Ok(names)
}

/// `[]` with `enabled` stores every event; disabled stores none.
fn stored_events(enabled: bool, events: Vec<String>) -> Vec<String> {
    match (enabled, events.is_empty()) {
        (false, _) => Vec::new(),
        (true, true) => EVENTS.iter().map(|e| e.to_string()).collect(),
        (true, false) => events,
    }
}

/// The fake answers as the reference says a real server does, so tests against it mean
/// something: guard order, unknown routes and methods, and the error envelope.
#[tokio::test]
async fn the_fake_follows_the_reference() {
    let fake = FakeEvolution::start().await;
    fake.add_instance("taken", "TOKEN", "open");
    let client = reqwest::Client::new();
    let send = |method: reqwest::Method, path: &str, key: &str, body: Option<Value>| {
        let mut request = client
            .request(method, format!("{}{path}", fake.url))
            .header("apikey", key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    use reqwest::Method as M;
    let create = json!({"instanceName": "taken", "integration": "WHATSAPP-BAILEYS"});

    let cases = [
        // 404 before 401: an unknown instance, even with a wrong key.
        (
            send(M::GET, "/instance/connectionState/nope", "wrong", None).await,
            404,
            json!(["The \"nope\" instance does not exist"]),
        ),
        // 403 before 401: a name in use, even with a wrong key.
        (
            send(M::POST, "/instance/create", "wrong", Some(create)).await,
            403,
            json!(["This name \"taken\" is already in use."]),
        ),
        (
            send(M::GET, "/instance/connectionState/taken", "wrong", None).await,
            401,
            json!("Unauthorized"),
        ),
        // The instance's own key works on its routes, never for create.
        (
            send(
                M::POST,
                "/instance/create",
                "TOKEN",
                Some(json!({"instanceName": "new", "integration": "WHATSAPP-BAILEYS"})),
            )
            .await,
            401,
            json!("Unauthorized"),
        ),
        (
            send(
                M::POST,
                "/instance/create",
                GLOBAL_KEY,
                Some(json!({"instanceName": "new2"})),
            )
            .await,
            400,
            json!(["Invalid integration"]),
        ),
        (
            send(M::PUT, "/instance/restart/taken", GLOBAL_KEY, None).await,
            404,
            json!(["Cannot PUT /instance/restart/taken"]),
        ),
        (
            send(
                M::POST,
                "/webhook/set/taken",
                GLOBAL_KEY,
                Some(json!({"url": "https://x", "enabled": true})),
            )
            .await,
            400,
            json!([["instance requires property \"webhook\""]]),
        ),
    ];
    for ((status, body), expected_status, message) in cases {
        assert_eq!(status, expected_status, "{body}");
        assert_eq!(body["status"], expected_status, "{body}");
        assert_eq!(body["response"]["message"], message, "{body}");
    }
    let (status, state) = send(M::GET, "/instance/connectionState/taken", "TOKEN", None).await;
    assert_eq!(
        (status, state),
        (
            200,
            json!({"instance": {"instanceName": "taken", "state": "open"}})
        )
    );
    assert!(fake.instance("new").is_none() && fake.instance("new2").is_none());
}

/// The fake as a sender of webhooks: what a real server POSTs when WhatsApp links,
/// drops or asks for a QR scan (reference section 3), over HTTP to the webhook URL the
/// instance's `webhook/set` stored, with the envelope and URL rules of section 3.2.
impl FakeEvolution {
    /// Posts `event` (dotted, as on the wire) for instance `name`. `None` when nothing
    /// was sent: no such instance, no webhook, webhook off or not taking the event.
    pub async fn emit(
        &self,
        name: &str,
        event: &str,
        data: Value,
    ) -> Option<crate::helpers::Reply> {
        let (webhook, sender) = {
            let state = self.state();
            let instance = state.instances.get(name)?;
            (instance.webhook.clone()?, instance.owner_jid.clone())
        };
        self.deliver(&webhook, name, sender, event, data).await
    }

    async fn deliver(
        &self,
        webhook: &Value,
        name: &str,
        sender: Option<String>,
        event: &str,
        data: Value,
    ) -> Option<crate::helpers::Reply> {
        let key = event.replace(['.', '-'], "_").to_uppercase();
        let takes_it = webhook["enabled"] == json!(true)
            && webhook["events"]
                .as_array()
                .is_some_and(|events| events.contains(&json!(key)));
        let url = webhook["url"].as_str().filter(|_| takes_it)?;
        let url = match webhook["webhookByEvents"] == json!(true) {
            true => format!("{url}/{}", key.replace('_', "-").to_lowercase()),
            false => url.to_string(),
        };
        let mut envelope = json!({
            "event": event, "instance": name, "data": data, "destination": url,
            "date_time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            "server_url": self.url, "apikey": null,
        });
        if let Some(sender) = sender {
            envelope["sender"] = json!(sender);
        }
        let response = reqwest::Client::new()
            .post(&url)
            .json(&envelope)
            .send()
            .await
            .expect("the webhook is delivered");
        Some(crate::helpers::into_reply(response).await)
    }

    /// WhatsApp linked on the phone: `connection.update` `open` with the account.
    pub async fn open(&self, name: &str, owner_jid: &str) -> Option<crate::helpers::Reply> {
        self.link(name, owner_jid);
        let data = json!({
            "instance": name, "wuid": owner_jid, "profileName": "Campaña",
            "profilePictureUrl": null, "state": "open", "statusReason": 200,
        });
        self.emit(name, "connection.update", data).await
    }

    /// WhatsApp dropped the link for good (401 logged out, 403 banned): as the reference
    /// says, `logout.instance` and then `connection.update` `close` with the reason.
    pub async fn close(&self, name: &str, reason: u16) -> Option<crate::helpers::Reply> {
        {
            let mut state = self.state();
            let instance = state.instances.get_mut(name).expect("instance on the fake");
            instance.state = "close".into();
            instance.owner_jid = None;
        }
        self.emit(name, "logout.instance", Value::Null).await;
        let data = json!({"instance": name, "state": "close", "statusReason": reason});
        self.emit(name, "connection.update", data).await
    }

    /// A new QR code to scan: `qrcode.updated`. Answers the code with the delivery.
    pub async fn new_qr(&self, name: &str) -> (Value, Option<crate::helpers::Reply>) {
        let qr = {
            let mut state = self.state();
            let instance = state.instances.get_mut(name).expect("instance on the fake");
            instance.state = "connecting".into();
            qr_object(name, instance, None)
        };
        let data = json!({"qrcode": {
            "instance": name, "pairingCode": qr["pairingCode"], "code": qr["code"], "base64": qr["base64"],
        }});
        (qr, self.emit(name, "qrcode.updated", data).await)
    }

    /// WhatsApp's receipt for a text the instance sent: `messages.update` with the status
    /// (`DELIVERY_ACK`, `READ`, ...) in the shape Evolution v2's Baileys channel sends.
    pub async fn receipt(
        &self,
        name: &str,
        message_id: &str,
        status: &str,
    ) -> Option<crate::helpers::Reply> {
        let (instance_id, remote_jid) = {
            let state = self.state();
            let instance = state.instances.get(name)?;
            let sent = state.sent.iter().find(|sent| sent.id == message_id);
            let jid = sent.map(|sent| format!("{}@s.whatsapp.net", sent.number));
            (instance.id.clone(), jid)
        };
        let data = json!({
            "messageId": uuid::Uuid::new_v4().simple().to_string(), "keyId": message_id,
            "remoteJid": remote_jid, "fromMe": true, "participant": null,
            "status": status, "instanceId": instance_id,
        });
        self.emit(name, "messages.update", data).await
    }

    /// Deleted on the server (by hand, or lost): `remove.instance`, sent to the webhook
    /// the instance had.
    pub async fn remove(&self, name: &str) -> Option<crate::helpers::Reply> {
        let instance = self.state().instances.remove(name)?;
        let webhook = instance.webhook?;
        self.deliver(
            &webhook,
            name,
            instance.owner_jid,
            "remove.instance",
            Value::Null,
        )
        .await
    }
}
