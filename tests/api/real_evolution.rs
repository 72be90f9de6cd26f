//! Relevo in front of the real Evolution API 2.3.6 (SPEC §7 "True against the real server"),
//! not the fake: server health, provisioning, the lifecycle calls, the webhooks the real server
//! posts, sync, a send and a delete, with what the real server does when WhatsApp cannot be
//! reached (`shared/evolution-real/README.md`): no QR code ever arrives, every instance
//! reconnects for ever and posts `connection.update` `connecting` to its webhook, restart and
//! logout are done or refused depending on the moment, a send answers a 500.
//!
//! The leg runs when `RELEVO_TEST_REAL_EVOLUTION_URL` and `RELEVO_TEST_REAL_EVOLUTION_KEY` name
//! a running server (`eval "$(scripts/real-evolution.sh start)"` sets both). Without them every
//! test prints a `test … SKIPPED (…)` line and passes; with
//! `RELEVO_REQUIRE_REAL_EVOLUTION=1` (as in CI) it fails instead.
//!
//! Unlike the rest of the suite these tests wait in real time (the real connect answers after
//! ~2 s, a delete is watched for 10 s, a looping instance for a minute), and Relevo's clock
//! follows the wall clock. Evolution keeps its instances in its own database, so every name
//! is new, and every instance a test made is removed from the server when the test ends.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, Utc};
use relevo::domain::ConnectionStatus;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::OnceCell;

use crate::both_backends;
use crate::callback_receiver::Receiver;
use crate::helpers::{
    assert_error, instance_path, known_port, skip, spawn_app_with, Backend, Reply, TestApp,
    ADMIN_EMAIL, ADMIN_PASSWORD,
};

const URL_VAR: &str = "RELEVO_TEST_REAL_EVOLUTION_URL";
const KEY_VAR: &str = "RELEVO_TEST_REAL_EVOLUTION_KEY";
const REQUIRE_VAR: &str = "RELEVO_REQUIRE_REAL_EVOLUTION";
/// The real server's log file, when known: it shows a deleted instance still reconnecting.
const LOG_VAR: &str = "RELEVO_TEST_REAL_EVOLUTION_LOG";

/// Relevo's Evolution request timeout here: well past the real connect's ~2 s, which grows
/// past 15 s on a busy machine (as CI is, with the whole suite running beside this leg).
const REQUEST_TIMEOUT_MS: &str = "60000";
/// How long the real server may take to post an instance's next webhook (a burst about every
/// 5 s on an idle machine, far fewer on a busy one).
const WEBHOOK_PATIENCE: Duration = Duration::from_secs(60);
/// After a delete has settled, how long no webhook may arrive.
const AFTER_DELETE_WATCH: Duration = Duration::from_secs(10);
/// Events the delete itself causes (`remove.instance`, ...) may still be on their way.
const AFTER_DELETE_GRACE: Duration = Duration::from_secs(3);
/// How long an instance is left looping, and the most `instance.status_changed` events the
/// tenant may get meanwhile (SPEC §7: at most a couple a minute, RELEVO_STATUS_SETTLE_MS).
const LOOP_WATCH: Duration = Duration::from_secs(60);
const MOST_STATUS_EVENTS: usize = 2;

/// A recipient on WhatsApp.
const TO: &str = "+573009876543";
const OBJECT_OBJECT: &str = "[object Object]";

// --- the real server ---------------------------------------------------------------------

/// The real Evolution API the leg talks to, called directly as an operator would.
#[derive(Clone)]
struct RealEvolution {
    url: String,
    key: String,
    http: reqwest::Client,
}

impl RealEvolution {
    fn new(url: &str, key: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("an HTTP client");
        Self {
            url: url.trim_end_matches('/').to_string(),
            key: key.to_string(),
            http,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.try_call(method, path, body)
            .await
            .unwrap_or_else(|error| panic!("the real Evolution did not answer {path}: {error}"))
    }

    async fn try_call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value), reqwest::Error> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .header("apikey", &self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// The instances called `name` as `fetchInstances` lists them (none when it answers 404).
    async fn instances_named(&self, name: &str) -> Vec<Value> {
        let path = format!("/instance/fetchInstances?instanceName={name}");
        match self.call(Method::GET, &path, None).await {
            (StatusCode::OK, Value::Array(rows)) => rows,
            (StatusCode::NOT_FOUND, _) => Vec::new(),
            (status, body) => panic!("fetchInstances answered {status}: {body}"),
        }
    }

    /// Waits until `fetchInstances` no longer lists `name` (Evolution removes a deleted
    /// instance's row after answering).
    async fn wait_until_gone(&self, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self.instances_named(name).await.is_empty() {
            assert!(
                Instant::now() < deadline,
                "`{name}` is still listed by the real server"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Creates `name` on the server without Relevo, as an operator might have; answers its
    /// Evolution id and its token.
    async fn create(&self, name: &str) -> (String, String) {
        let body =
            json!({"instanceName": name, "integration": "WHATSAPP-BAILEYS", "qrcode": false});
        let (status, answer) = self
            .call(Method::POST, "/instance/create", Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        let id = answer["instance"]["instanceId"].as_str().expect("an id");
        let token = answer["hash"].as_str().expect("a token");
        (id.to_string(), token.to_string())
    }

    /// The instance's webhook as the server holds it.
    async fn webhook(&self, name: &str) -> Value {
        let (status, body) = self
            .call(Method::GET, &format!("/webhook/find/{name}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Removes `name` whatever state it is in, and waits until the server no longer lists
    /// it; quiet, for cleaning up (the instance may be gone already). Its webhook goes off
    /// first: Evolution posts `remove.instance` before removing anything and waits for that
    /// post, retrying for minutes when the Relevo it points at has stopped. A logout, tried
    /// a few times (it is refused at every `close` moment of the loop), may stop the
    /// reconnect loop; often nothing does, and the loop goes on under a name that answers
    /// 404 until Evolution restarts (a zombie: harmless, silent, but it costs the server
    /// time, which is why scripts/real-evolution.sh gives every run a fresh server).
    async fn remove(&self, name: &str) {
        let off =
            json!({"webhook": {"enabled": false, "url": "http://127.0.0.1:9/off", "events": []}});
        let _ = self
            .try_call(Method::POST, &format!("/webhook/set/{name}"), Some(off))
            .await;
        let logout = format!("/instance/logout/{name}");
        for _ in 0..3 {
            match self.try_call(Method::DELETE, &logout, None).await {
                Ok((StatusCode::OK | StatusCode::NOT_FOUND, _)) => break,
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
        for _ in 0..5 {
            let _ = self
                .try_call(Method::DELETE, &format!("/instance/delete/{name}"), None)
                .await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            let path = format!("/instance/fetchInstances?instanceName={name}");
            if let Ok((StatusCode::NOT_FOUND, _)) = self.try_call(Method::GET, &path, None).await {
                return;
            }
        }
    }
}

/// Where the real server is, once per test process; `None` when the leg is not configured
/// (the leg is reported SKIPPED), a failure when it is required and cannot be used.
async fn real_evolution() -> Option<RealEvolution> {
    static FOUND: OnceCell<Result<(String, String), String>> = OnceCell::const_new();
    match FOUND.get_or_init(locate).await {
        Ok((url, key)) => Some(RealEvolution::new(url, key)),
        Err(problem) => {
            skip(REQUIRE_VAR, problem);
            None
        }
    }
}

async fn locate() -> Result<(String, String), String> {
    let setting = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    match (setting(URL_VAR), setting(KEY_VAR)) {
        (Some(url), Some(key)) => match check(&RealEvolution::new(&url, &key)).await {
            Ok(()) => Ok((url, key)),
            Err(problem) => Err(format!("the real Evolution API cannot be used: {problem}")),
        },
        _ => Err(format!(
            "{URL_VAR} and {KEY_VAR} are not set (`eval \"$(scripts/real-evolution.sh start)\"` sets them)"
        )),
    }
}

/// The server answers as Evolution API and takes the key as its global key.
async fn check(server: &RealEvolution) -> Result<(), String> {
    let answered = server
        .http
        .get(format!("{}/", server.url))
        .send()
        .await
        .map_err(|error| format!("{} does not answer ({error})", server.url))?;
    let info: Value = answered.json().await.unwrap_or(Value::Null);
    if info["version"].as_str().is_none() {
        return Err(format!("{} is not an Evolution API: {info}", server.url));
    }
    let (status, body) = server.call(Method::POST, "/verify-creds", None).await;
    if status != StatusCode::OK {
        return Err(format!(
            "{} refuses {KEY_VAR} as its global key: {status} {body}",
            server.url
        ));
    }
    Ok(())
}

// --- Relevo in front of it ----------------------------------------------------------------

/// An application whose default Evolution server is the real one, on a port the real
/// server's webhooks reach, with a tenant; removes from the server every instance the test
/// named when it ends, failed or not.
struct Leg {
    app: TestApp,
    evolution: RealEvolution,
    tenant: i64,
    names: Arc<Mutex<Vec<String>>>,
}

async fn leg(backend: Backend, extra: &[(&str, &str)]) -> Option<Leg> {
    let evolution = real_evolution().await?;
    let bind = format!("127.0.0.1:{}", known_port());
    let public_url = format!("http://{bind}");
    let mut vars = vec![
        ("EVOLUTION_API_BASE_URL", evolution.url.as_str()),
        ("EVOLUTION_API_MASTER_KEY", evolution.key.as_str()),
        ("EVOLUTION_API_REQUEST_TIMEOUT_MS", REQUEST_TIMEOUT_MS),
        ("RELEVO_BIND", bind.as_str()),
        ("RELEVO_PUBLIC_URL", public_url.as_str()),
        // Production's settling (the other tests tell every status at once).
        ("RELEVO_STATUS_SETTLE_MS", "10000"),
    ];
    vars.extend_from_slice(extra);
    let mut app = spawn_app_with(backend, &vars).await?;
    follow_the_wall_clock(&mut app).await;
    let tenant = app.seed_tenant().await;
    Some(Leg {
        app,
        evolution,
        tenant,
        names: Arc::default(),
    })
}

/// Relevo's clock set to the wall clock and kept on it: the real server stamps its events
/// with the real time and the waits here are real. The seed moment's admin token has
/// expired by then, so the admin logs in again.
async fn follow_the_wall_clock(app: &mut TestApp) {
    let clock = app.clock.clone();
    clock.set(Utc::now());
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            clock.set(Utc::now());
        }
    });
    app.admin_token = app.login_token(ADMIN_EMAIL, ADMIN_PASSWORD).await;
}

impl Drop for Leg {
    fn drop(&mut self) {
        let names = std::mem::take(&mut *self.names.lock().unwrap());
        let (url, key) = (self.evolution.url.clone(), self.evolution.key.clone());
        // The test's runtime may be unwinding: a thread and a runtime of its own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            let server = RealEvolution::new(&url, &key);
            runtime.block_on(async {
                for name in names {
                    server.remove(&name).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

impl Leg {
    /// A name no run used before (Evolution's database outlives the tests), removed from the
    /// server when the test ends.
    fn new_name(&self, label: &str) -> String {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("relevo-{label}-{}", &unique[..12]);
        self.names.lock().unwrap().push(name.clone());
        name
    }

    async fn provision(&self, name: &str) -> Reply {
        let body = json!({"instance_name": name, "daily_message_limit": 10});
        let reply = self.app.provision(self.tenant, &body).await;
        assert_honest(&reply);
        reply
    }

    /// Provisions `name`, which must succeed; answers its id.
    async fn provisioned(&self, name: &str) -> i64 {
        let reply = self.provision(name).await;
        assert!(reply.status.is_success(), "{}", reply.body);
        reply.body["data"]["id"].as_i64().expect("an id")
    }

    /// `METHOD /tenants/{tenant}/whatsapp-instances/{id}/{action}`.
    async fn call(&self, method: Method, id: i64, action: &str, body: Option<&Value>) -> Reply {
        let path = format!("{}/{action}", instance_path(self.tenant, id));
        let reply = self.app.admin(method, &path, body).await;
        assert_honest(&reply);
        reply
    }

    fn status_of(&self, id: i64) -> ConnectionStatus {
        self.app.instance_row(id).connection_status
    }

    /// Arranges a status (and when it was last checked) as if Relevo had seen it.
    fn arrange_status(&self, id: i64, status: ConnectionStatus, checked: NaiveDateTime) {
        use diesel::prelude::*;
        use relevo::db::schema::whatsapp_instances::dsl;
        diesel::update(dsl::whatsapp_instances.find(id))
            .set((
                dsl::connection_status.eq(status),
                dsl::last_checked_at.eq(Some(checked)),
            ))
            .execute(&mut self.app.db())
            .expect("status arranged");
    }

    /// Arranges the instance as linked to WhatsApp (`connected`, since now): the only state
    /// that sends, which WhatsApp cannot give here.
    fn arrange_linked(&self, id: i64) {
        use diesel::prelude::*;
        use relevo::db::schema::whatsapp_instances::dsl;
        let now = Utc::now().naive_utc();
        diesel::update(dsl::whatsapp_instances.find(id))
            .set((
                dsl::connection_status.eq(ConnectionStatus::Connected),
                dsl::connected_at.eq(Some(now)),
                dsl::last_checked_at.eq(Some(now)),
            ))
            .execute(&mut self.app.db())
            .expect("a link arranged");
    }

    /// Webhooks from Evolution Relevo received so far, by outcome (`applied`, `unchanged`,
    /// `ignored`, `foreign`, `unauthorized`), from its `/metrics`.
    async fn inbound_webhooks(&self) -> HashMap<String, u64> {
        let text = self.app.metrics_text().await;
        let mut counts = HashMap::new();
        for line in text.lines() {
            let Some(sample) = line.strip_prefix("relevo_inbound_webhooks_total{outcome=\"") else {
                continue;
            };
            let (outcome, value) = sample.split_once("\"} ").expect("a labelled sample");
            counts.insert(outcome.to_string(), value.parse().expect("a count"));
        }
        counts
    }

    async fn inbound_total(&self) -> u64 {
        self.inbound_webhooks().await.values().sum()
    }

    /// Waits for the next webhook from the real server to reach Relevo.
    async fn next_webhook(&self) {
        let before = self.inbound_total().await;
        let deadline = Instant::now() + WEBHOOK_PATIENCE;
        while self.inbound_total().await == before {
            assert!(
                Instant::now() < deadline,
                "no webhook from the real server reached Relevo in {WEBHOOK_PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// How many times the audit log holds `action` on instance `id`.
    async fn audited(&self, action: &str, id: i64) -> i64 {
        let path = format!("/api/v1/audit-log?action={action}&target_id={id}");
        self.app.list_total(&path).await
    }
}

/// No answer carries Evolution's stringified exception (SPEC §7).
fn assert_honest(reply: &Reply) {
    assert!(
        !reply.body.to_string().contains(OBJECT_OBJECT),
        "{OBJECT_OBJECT} in an answer: {}",
        reply.body
    );
}

/// A line in the test output, past the harness's capture.
fn report(line: String) {
    let _ = writeln!(std::io::stderr(), "[real Evolution] {line}");
}

// --- the tests ----------------------------------------------------------------------------

/// Health is an authenticated call: a key the server refuses is reported as such, never
/// `ok` (`GET /` needs no key, so it cannot tell).
async fn server_health_proves_the_key_works(backend: Backend) {
    let Some(leg) = leg(backend, &[]).await else {
        return;
    };
    // The default server (EVOLUTION_API_BASE_URL) has the global key; the same server
    // under another spelling of its address is registered with a key it refuses.
    let right = default_server(&leg.app).await;
    let same_server = leg.evolution.url.replace("127.0.0.1", "localhost");
    let wrong = register_server(
        &leg.app,
        "real-wrong-key",
        &same_server,
        "not-the-global-key",
    )
    .await;

    let healthy = health(&leg.app, right).await;
    let refused = health(&leg.app, wrong).await;

    assert_eq!(healthy.status, StatusCode::OK, "{}", healthy.body);
    assert_eq!(healthy.body["data"]["status"], "ok");
    assert_eq!(healthy.body["data"]["version"], "2.3.6");
    // Reported either in the health answer or as the 502 every refused key gives.
    match refused.status {
        StatusCode::OK => assert_eq!(
            refused.body["data"]["status"], "unauthorized",
            "a refused key is not healthy: {}",
            refused.body
        ),
        StatusCode::BAD_GATEWAY => {
            assert_error(&refused, StatusCode::BAD_GATEWAY, "evolution.unauthorized");
            let message = refused.body["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("real-wrong-key"),
                "names the server: {message}"
            );
        }
        other => panic!("a refused key answered {other}: {}", refused.body),
    }
}

async fn default_server(app: &TestApp) -> i64 {
    let reply = app
        .admin(Method::GET, "/api/v1/evolution-servers", None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let servers = reply.body["data"].as_array().expect("servers");
    let default = servers
        .iter()
        .find(|s| s["is_default"] == true)
        .expect("a default server");
    default["id"].as_i64().expect("an id")
}

async fn register_server(app: &TestApp, name: &str, base_url: &str, key: &str) -> i64 {
    let body = json!({"name": name, "base_url": base_url, "api_key": key});
    let reply = app
        .admin(Method::POST, "/api/v1/evolution-servers", Some(&body))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["data"]["id"].as_i64().expect("an id")
}

async fn health(app: &TestApp, server: i64) -> Reply {
    let path = format!("/api/v1/evolution-servers/{server}/health");
    let reply = app.admin(Method::GET, &path, None).await;
    assert_honest(&reply);
    reply
}

/// Provisioning creates the instance on the real server once (a second call finds it), and
/// a name that already exists there is adopted with its own token, not created again. The
/// time a real provisioning takes is printed.
async fn provisioning_creates_once_and_adopts_what_exists(backend: Backend) {
    let Some(leg) = leg(backend, &[]).await else {
        return;
    };
    let name = leg.new_name("prov");
    let existing = leg.new_name("adopt");
    let (existing_id, existing_token) = leg.evolution.create(&existing).await;

    let started = Instant::now();
    let first = leg.provision(&name).await;
    let took = started.elapsed();
    let again = leg.provision(&name).await;
    let adopted = leg.provision(&existing).await;

    report(format!(
        "provisioning `{name}` ({backend:?}) took {} ms (connect ~2 s on an idle real server)",
        took.as_millis()
    ));
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let id = first.body["data"]["id"].as_i64().unwrap();
    assert_eq!(first.body["data"]["instance_name"], name.as_str());
    assert_eq!(
        first.body["data"]["qr_code"]["base64"],
        Value::Null,
        "no QR code arrives here"
    );
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["data"]["id"], id);
    let listed = leg.evolution.instances_named(&name).await;
    assert_eq!(listed.len(), 1, "created once: {listed:?}");
    let stored_key = leg
        .app
        .decrypt(&leg.app.instance_row(id).evolution_api_key_encrypted);
    assert_eq!(
        listed[0]["token"],
        stored_key.as_str(),
        "Relevo keeps the instance's token"
    );

    assert!(adopted.status.is_success(), "{}", adopted.body);
    let adopted_id = adopted.body["data"]["id"].as_i64().unwrap();
    let listed = leg.evolution.instances_named(&existing).await;
    assert_eq!(listed.len(), 1, "not created twice: {listed:?}");
    assert_eq!(
        listed[0]["id"],
        existing_id.as_str(),
        "the same instance on Evolution"
    );
    let adopted_key = leg
        .app
        .decrypt(&leg.app.instance_row(adopted_id).evolution_api_key_encrypted);
    assert_eq!(adopted_key, existing_token, "its own token, not a new one");
}

/// Connect and the last QR code answer without a QR code (none ever arrives); the webhook
/// shows Relevo's URL with its token masked, and setting it back as shown keeps it pointed at
/// Relevo; websockets are off on this server, which is said, not pretended.
async fn connect_webhook_and_websocket_answer_as_the_server_does(backend: Backend) {
    let Some(leg) = leg(backend, &[]).await else {
        return;
    };
    let name = leg.new_name("conn");
    let id = leg.provisioned(&name).await;
    let token_at_provisioning = token_in(&leg.evolution.webhook(&name).await);

    let connected = leg.call(Method::POST, id, "connect", None).await;
    let last_qr = leg.call(Method::GET, id, "qr", None).await;
    let webhook = leg.call(Method::GET, id, "webhook", None).await;
    let shown = webhook.body["data"].clone();
    let set_back = leg.call(Method::PUT, id, "webhook", Some(&shown)).await;
    let websocket = leg.call(Method::GET, id, "websocket", None).await;
    let websocket_set = leg
        .call(
            Method::PUT,
            id,
            "websocket",
            Some(&json!({"enabled": true, "events": ["CONNECTION_UPDATE"]})),
        )
        .await;

    assert_eq!(connected.status, StatusCode::OK, "{}", connected.body);
    assert_eq!(connected.body["data"]["qr_code"]["base64"], Value::Null);
    assert_eq!(last_qr.status, StatusCode::OK, "{}", last_qr.body);
    assert_eq!(
        last_qr.body["data"]["qr_code"],
        connected.body["data"]["qr_code"]
    );

    assert_eq!(webhook.status, StatusCode::OK, "{}", webhook.body);
    let url = shown["url"].as_str().expect("Relevo's webhook URL");
    assert!(
        url.starts_with(&format!("{}/api/v1/webhooks/evolution/", leg.app.address)),
        "{url}"
    );
    assert!(url.ends_with("/********"), "the token is masked: {url}");
    assert!(
        !webhook.body.to_string().contains(&token_at_provisioning),
        "Relevo's token is never shown: {}",
        webhook.body
    );
    assert_eq!(shown["enabled"], true);
    assert!(shown["events"]
        .as_array()
        .unwrap()
        .contains(&json!("CONNECTION_UPDATE")));

    assert_eq!(set_back.status, StatusCode::OK, "{}", set_back.body);
    assert_eq!(set_back.body["data"]["url"], url, "answered masked too");
    let on_evolution = leg.evolution.webhook(&name).await;
    let token_now = token_in(&on_evolution);
    assert_ne!(
        token_now, "********",
        "Evolution got a real token: {on_evolution}"
    );
    assert_ne!(
        token_now, token_at_provisioning,
        "a new token of the instance's own"
    );

    assert_eq!(websocket.status, StatusCode::OK, "{}", websocket.body);
    assert_eq!(websocket.body["data"]["enabled"], false);
    assert_error(
        &websocket_set,
        StatusCode::CONFLICT,
        "evolution.websocket_disabled",
    );
}

/// The token at the end of the webhook URL Evolution holds.
fn token_in(webhook: &Value) -> String {
    let url = webhook["url"].as_str().expect("a webhook URL");
    url.rsplit('/').next().unwrap().to_string()
}

/// Restart and logout are reported done only when Evolution did them; a refusal (400 "not
/// connected", 200 `{"error": true}`) is a 409 in words that changes no status and audits
/// nothing. Restart, logout, logout, restart meets both answers: the first logout usually
/// stops the loop, after which the server refuses.
async fn restart_and_logout_are_done_or_refused_in_words(backend: Backend) {
    let Some(leg) = leg(backend, &[]).await else {
        return;
    };
    let name = leg.new_name("life");
    let id = leg.provisioned(&name).await;

    let mut outcomes = Vec::new();
    for action in ["restart", "logout", "logout", "restart"] {
        let audit_action = format!("instance.{action}");
        let status_before = leg.status_of(id);
        let audited_before = leg.audited(&audit_action, id).await;

        let reply = leg.call(Method::POST, id, action, None).await;

        outcomes.push(format!("{action} {}", reply.status.as_u16()));
        match reply.status {
            StatusCode::OK => {
                assert_eq!(reply.body["data"]["id"], id);
                assert_eq!(leg.audited(&audit_action, id).await, audited_before + 1);
                if action == "logout" {
                    assert_eq!(reply.body["data"]["connection_status"], "disconnected");
                }
            }
            StatusCode::CONFLICT => {
                assert_error(
                    &reply,
                    StatusCode::CONFLICT,
                    "evolution.instance_not_connected",
                );
                let message = reply.body["message"].as_str().unwrap_or_default();
                assert!(message.contains(&name), "says which instance: {message}");
                assert_eq!(
                    leg.status_of(id),
                    status_before,
                    "[{action}] nothing changed"
                );
                assert_eq!(
                    leg.audited(&audit_action, id).await,
                    audited_before,
                    "[{action}] nothing audited"
                );
            }
            other => panic!("{action} answered {other}: {}", reply.body),
        }
    }
    report(format!("`{name}` ({backend:?}): {}", outcomes.join(", ")));
}

/// A sync reads the real server once and agrees with it: a looping instance is not an
/// error, and an instance the server no longer has is orphaned (`error`), with no error
/// reported for a server that answered.
async fn sync_agrees_with_the_server_and_orphans_what_it_lost(backend: Backend) {
    let Some(leg) = leg(backend, &[]).await else {
        return;
    };
    let kept = leg.new_name("kept");
    let lost = leg.new_name("lost");
    let kept_id = leg.provisioned(&kept).await;
    let lost_id = leg.provisioned(&lost).await;

    let first = sync(&leg.app).await;
    leg.evolution.remove(&lost).await;
    leg.evolution.wait_until_gone(&lost).await;
    let second = sync(&leg.app).await;

    assert_eq!(first["synced"], 2, "{first}");
    assert_eq!(first["orphaned"], 0, "{first}");
    assert_eq!(first["errors"], json!([]), "{first}");
    assert_eq!(second["synced"], 2, "{second}");
    assert_eq!(second["orphaned"], 1, "{second}");
    assert_eq!(second["errors"], json!([]), "{second}");
    let kept_status = leg.status_of(kept_id);
    assert!(
        [ConnectionStatus::Connecting, ConnectionStatus::Disconnected].contains(&kept_status),
        "a looping instance: {kept_status}"
    );
    assert!(leg.app.instance_row(kept_id).last_checked_at.is_some());
    assert_eq!(leg.status_of(lost_id), ConnectionStatus::Error);
}

async fn sync(app: &TestApp) -> Value {
    let reply = app
        .admin(Method::POST, "/api/v1/whatsapp-instances/sync", None)
        .await;
    assert_honest(&reply);
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["data"].clone()
}

both_backends!(
    server_health_proves_the_key_works,
    provisioning_creates_once_and_adopts_what_exists,
    connect_webhook_and_websocket_answer_as_the_server_does,
    restart_and_logout_are_done_or_refused_in_words,
    sync_agrees_with_the_server_and_orphans_what_it_lost,
);

// The tests below wait in real time for what the server does by itself: on SQLite only.

/// The real server's webhooks reach Relevo and move the instance with no call from the
/// test: an instance Relevo last saw `disconnected` (as `fetchInstances` shows a looping
/// one) is `connecting` again after the server's next `connection.update`.
#[tokio::test]
async fn webhooks_from_the_server_move_the_instance_by_themselves() {
    let Some(leg) = leg(Backend::Sqlite, &[]).await else {
        return;
    };
    let name = leg.new_name("hook");
    let id = leg.provisioned(&name).await;
    leg.next_webhook().await;
    let seen_long_ago = (Utc::now() - chrono::Duration::hours(1)).naive_utc();
    leg.arrange_status(id, ConnectionStatus::Disconnected, seen_long_ago);

    let deadline = Instant::now() + WEBHOOK_PATIENCE;
    let row = loop {
        let row = leg.app.instance_row(id);
        if row.connection_status != ConnectionStatus::Disconnected || Instant::now() > deadline {
            break row;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    assert_eq!(
        row.connection_status,
        ConnectionStatus::Connecting,
        "as the server's webhook says"
    );
    assert!(
        row.last_checked_at.is_some_and(|at| at > seen_long_ago),
        "checked when the webhook came: {:?}",
        row.last_checked_at
    );
    let outcomes = leg.inbound_webhooks().await;
    assert!(
        outcomes.get("applied").copied().unwrap_or(0) >= 1,
        "{outcomes:?}"
    );
    for refused in ["unauthorized", "foreign"] {
        assert_eq!(
            outcomes.get(refused).copied().unwrap_or(0),
            0,
            "{outcomes:?}"
        );
    }
}

/// A send through Relevo on instances the real server cannot send with (it answers 500
/// "Connection Closed" or "Cannot read properties of undefined (reading 'onWhatsApp')") is an
/// instance failure each time: Relevo fails over to the next instance, answers 502
/// `message.send_failed`, and nothing stays counted.
#[tokio::test]
async fn a_send_no_instance_can_make_fails_over_and_counts_nothing() {
    let Some(leg) = leg(Backend::Sqlite, &[]).await else {
        return;
    };
    let uno = leg.provisioned(&leg.new_name("uno")).await;
    let dos = leg.provisioned(&leg.new_name("dos")).await;
    // WhatsApp cannot be linked here: both are arranged linked, with their webhooks off so
    // that the server's `connecting` does not undo it.
    let off = json!({"url": "https://example.com/relevo-tests/off", "enabled": false});
    for id in [uno, dos] {
        let reply = leg.call(Method::PUT, id, "webhook", Some(&off)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        leg.arrange_linked(id);
    }
    let token = leg.app.sender_token(leg.tenant).await;

    let path = format!("/api/v1/tenants/{}/messages", leg.tenant);
    let body = json!({"to": TO, "text": "Hola desde la prueba real"});
    let reply = leg
        .app
        .send(Method::POST, &path, Some(&token), Some(&body))
        .await;

    assert_honest(&reply);
    assert_error(&reply, StatusCode::BAD_GATEWAY, "message.send_failed");
    let attempts = reply.body["error_params"]["attempts"]
        .as_array()
        .expect("attempts");
    let tried: Vec<(i64, &str)> = attempts
        .iter()
        .map(|a| {
            (
                a["instance_id"].as_i64().unwrap(),
                a["error_key"].as_str().unwrap_or(""),
            )
        })
        .collect();
    let mut instances: Vec<i64> = tried.iter().map(|(id, _)| *id).collect();
    instances.sort_unstable();
    assert_eq!(
        instances,
        [uno, dos],
        "failed over to the other instance: {tried:?}"
    );
    assert!(
        tried
            .iter()
            .all(|(_, key)| *key == "evolution.connection_closed"),
        "an instance failure, like Connection Closed: {tried:?}"
    );
    for id in [uno, dos] {
        assert_eq!(
            leg.app.sent_today(leg.tenant, id).await,
            0,
            "instance {id}: nothing counted"
        );
        assert_eq!(
            leg.status_of(id),
            ConnectionStatus::Disconnected,
            "as Evolution showed it"
        );
    }
}

/// Live reads, syncs and webhooks agree on a looping instance: the webhooks keep saying
/// `connecting`, `fetchInstances` keeps its stored `close` and the live state flickers,
/// yet neither a live read nor a sync right after a webhook flips the status (SPEC §7).
#[tokio::test]
async fn live_reads_and_syncs_agree_with_the_webhooks_of_a_looping_instance() {
    let Some(leg) = leg(Backend::Sqlite, &[]).await else {
        return;
    };
    let name = leg.new_name("agree");
    let id = leg.provisioned(&name).await;
    let mut seen = Vec::new();
    let mut updated = 0;
    for _ in 0..4 {
        leg.next_webhook().await;
        let live = leg.call(Method::GET, id, "connection-state", None).await;
        assert_eq!(live.status, StatusCode::OK, "{}", live.body);
        seen.push(format!("live {}", leg.status_of(id)));
        updated += sync(&leg.app).await["updated"].as_i64().unwrap_or(-1);
        seen.push(format!("sync {}", leg.status_of(id)));
    }
    report(format!(
        "`{name}` after each webhook: {seen:?}, sync updates {updated}"
    ));
    assert!(
        seen.iter().all(|status| status.ends_with(" connecting")),
        "{seen:?}"
    );
    assert_eq!(updated, 0, "no sync changed the instance");
}

/// Deleting an instance leaves nothing running on the real server: each delete logs the
/// looping connection out at a `connecting` moment first (or says that Evolution refused
/// every logout), and once the deletes have settled no webhook for those names reaches
/// Relevo any more (each would be counted, with its revoked token, as `unauthorized`).
#[tokio::test]
async fn a_deleted_instance_sends_no_more_webhooks() {
    let Some(leg) = leg(Backend::Sqlite, &[]).await else {
        return;
    };
    let mut instances = Vec::new();
    for _ in 0..3 {
        let name = leg.new_name("gone");
        let id = leg.provisioned(&name).await;
        instances.push((name, id));
    }
    leg.next_webhook().await;

    let mut answers = Vec::new();
    let mut logged_out = Vec::new();
    for (name, id) in &instances {
        let status = leg.status_of(*id);
        let deleted = leg
            .app
            .admin(Method::DELETE, &instance_path(leg.tenant, *id), None)
            .await;
        assert_honest(&deleted);
        assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
        let message = deleted.body["message"].as_str().unwrap_or_default();
        if message == "WhatsApp instance deleted successfully" {
            logged_out.push(name.as_str());
        } else {
            assert!(message.contains("may go on reconnecting"), "{message}");
        }
        answers.push(format!("{status}: {message}"));
        leg.evolution.wait_until_gone(name).await;
    }
    tokio::time::sleep(AFTER_DELETE_GRACE).await;
    let before = leg.inbound_webhooks().await;
    let lines_before = log_lines_of(&logged_out);
    tokio::time::sleep(AFTER_DELETE_WATCH).await;
    let after = leg.inbound_webhooks().await;
    let lines_after = log_lines_of(&logged_out);

    report(format!(
        "{} of {} deletes of looping instances logged them out first: {answers:?}",
        logged_out.len(),
        answers.len()
    ));
    assert_eq!(
        after.values().sum::<u64>(),
        before.values().sum::<u64>(),
        "webhooks still arrive {AFTER_DELETE_WATCH:?} after the deletes: {before:?} → {after:?}"
    );
    // The server's own log: a connection still reconnecting under a deleted name (a
    // zombie) logs a new session start every few seconds. Only a delete that said it
    // may keep reconnecting may leave one.
    assert_eq!(
        lines_after, lines_before,
        "Evolution still runs a connection for a name Relevo said it deleted cleanly"
    );
}

/// How many lines of the real server's log (`RELEVO_TEST_REAL_EVOLUTION_LOG`, set by
/// scripts/real-evolution.sh) speak for each instance in `names`; empty without the log.
fn log_lines_of(names: &[&str]) -> Vec<(String, usize)> {
    let Ok(path) = std::env::var(LOG_VAR) else {
        return Vec::new();
    };
    let log = std::fs::read_to_string(path).unwrap_or_default();
    names
        .iter()
        .map(|name| {
            let tag = format!("[{name}]");
            (
                name.to_string(),
                log.lines().filter(|line| line.contains(&tag)).count(),
            )
        })
        .collect()
}

/// A looping instance (`connecting` ↔ `close` every few seconds, as whenever WhatsApp or the
/// phone drops) is one state to the tenant: over a minute of webhooks, scheduled syncs
/// and live reads, the tenant gets at most a couple of `instance.status_changed` events.
#[tokio::test]
async fn a_looping_instance_is_at_most_a_couple_of_status_events_a_minute() {
    // The scheduler syncs every 5 s on its own (production's default is 5 min): a sync sees
    // Evolution's stored `close` while the webhooks say `connecting`, and must agree with
    // them rather than flip the status (SPEC §7).
    let Some(leg) = leg(
        Backend::Sqlite,
        &[("EVOLUTION_API_SYNC_INTERVAL_ACTIVE", "5000")],
    )
    .await
    else {
        return;
    };
    let receiver = Receiver::start(leg.app.clock.clone()).await;
    let tenant = leg
        .app
        .new_tenant()
        .slug("bucle-real")
        .name("bucle-real")
        .calling(&receiver)
        .create()
        .await;
    let name = leg.new_name("loop");
    let body = json!({"instance_name": name});
    let provisioned = leg.app.provision(tenant, &body).await;
    assert_eq!(
        provisioned.status,
        StatusCode::CREATED,
        "{}",
        provisioned.body
    );
    let id = provisioned.body["data"]["id"].as_i64().unwrap();
    let webhooks_before = leg.inbound_total().await;

    let mut live_states = Vec::new();
    let started = Instant::now();
    while started.elapsed() < LOOP_WATCH {
        // A console polling the live state, and the delivery worker at work.
        let path = format!("{}/connection-state", instance_path(tenant, id));
        let live = leg.app.admin(Method::GET, &path, None).await;
        assert_honest(&live);
        live_states.push(
            live.body["data"]["connection_status"]
                .as_str()
                .unwrap_or("?")
                .to_string(),
        );
        leg.app.deliver().await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    while leg.app.deliver().await.attempts() > 0 {}

    let status_events: Vec<String> = receiver
        .accepted()
        .iter()
        .filter(|event| {
            event.event_type == "instance.status_changed" && event.json["data"]["instance_id"] == id
        })
        .map(|event| {
            event.json["data"]["status"]
                .as_str()
                .unwrap_or("?")
                .to_string()
        })
        .collect();
    let webhooks = leg.inbound_total().await - webhooks_before;
    report(format!(
        "`{name}` looped {LOOP_WATCH:?}: {webhooks} webhooks, live reads {live_states:?}, status events {status_events:?}"
    ));
    assert!(
        webhooks > 0,
        "the server's webhooks reached Relevo meanwhile"
    );
    assert!(
        status_events.len() <= MOST_STATUS_EVENTS,
        "{} instance.status_changed events in {LOOP_WATCH:?} (at most {MOST_STATUS_EVENTS}): {status_events:?}",
        status_events.len()
    );
}
