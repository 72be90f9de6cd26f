//! What Relevo writes to its log while it serves: every line of a request carries the
//! request's id (also from the blocking pool, the Evolution client and the claim batch
//! lane), in text and in JSON, and no secret is ever in a line.
//!
//! The log is captured by a subscriber installed once for this test binary, built from
//! Relevo's own text and JSON layers, at debug level for every crate; it keeps lines only
//! while a [`LogCapture`] is alive.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use base64::Engine;
use relevo::telemetry::{self, LogFormat};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tracing_subscriber::filter::{filter_fn, FilterExt, LevelFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::both_backends;
use crate::callback_receiver::Receiver;
use crate::evolution_fake::{spawn_reachable_with_fake, GLOBAL_KEY};
use crate::helpers::{into_reply, test_settings, Backend, Reply, ADMIN_EMAIL, ADMIN_PASSWORD};

/// Everything the capturing subscriber wrote, text and JSON lines mixed.
static WRITTEN: Mutex<Vec<u8>> = Mutex::new(Vec::new());
/// How many captures are alive; with none, nothing is written.
static LISTENING: AtomicUsize = AtomicUsize::new(0);

struct Sink;

impl std::io::Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        WRITTEN
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The lines every crate of this process writes at debug level or above from its start
/// until it is dropped (concurrent tests' lines included).
struct LogCapture {
    from: usize,
}

impl LogCapture {
    fn start() -> Self {
        static INSTALLED: OnceLock<()> = OnceLock::new();
        INSTALLED.get_or_init(|| {
            let listening = || filter_fn(|_| LISTENING.load(Ordering::Relaxed) > 0);
            let layer = |format| {
                telemetry::lines(format, || Sink, false)
                    .with_filter(LevelFilter::DEBUG.and(listening()))
            };
            tracing_subscriber::registry()
                .with(vec![layer(LogFormat::Text), layer(LogFormat::Json)])
                .try_init()
                .expect("the capturing subscriber is this binary's only one");
        });
        LISTENING.fetch_add(1, Ordering::SeqCst);
        let from = WRITTEN.lock().unwrap().len();
        Self { from }
    }

    fn lines(&self) -> Vec<String> {
        let written = WRITTEN.lock().unwrap();
        String::from_utf8_lossy(&written[self.from..])
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for LogCapture {
    fn drop(&mut self) {
        LISTENING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A random secret of this test, with `kind` in front so a finding is easy to read.
fn secret(kind: &str) -> String {
    format!("{kind}-{}", uuid::Uuid::new_v4().simple())
}

fn request_id(reply: &Reply) -> String {
    reply.headers["x-request-id"].to_str().unwrap().to_string()
}

/// Whether a JSON line was written in a span that names request `id`: a request's own,
/// or a claim batch that serves it.
fn names_in_json(line: &Value, id: &str) -> bool {
    line["spans"].as_array().is_some_and(|spans| {
        spans.iter().any(|span| {
            span["request_id"] == id
                || span["request_ids"]
                    .as_str()
                    .is_some_and(|ids| ids.split(',').any(|one| one == id))
        })
    })
}

/// Asserts that `target` logged a line containing `words` in a span naming request `id`,
/// in text (the span before the target) and in JSON.
fn assert_logged_for(lines: &[String], id: &str, target: &str, words: &str) {
    let in_text = lines.iter().any(|line| {
        let (Some(at_id), Some(at_target)) = (line.find(id), line.find(&format!(" {target}: ")))
        else {
            return false;
        };
        !line.starts_with('{') && at_id < at_target && line[at_target..].contains(words)
    });
    let in_json = lines
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .any(|line| {
            line["target"] == target
                && line["message"]
                    .as_str()
                    .is_some_and(|message| message.contains(words))
                && names_in_json(&line, id)
        });
    let theirs: Vec<&String> = lines.iter().filter(|line| line.contains(id)).collect();
    assert!(
        in_text && in_json,
        "request {id}: `{target}` logged `{words}` in text {in_text}, in JSON {in_json}; its lines: {theirs:#?}"
    );
}

async fn no_secret_is_logged_and_each_line_names_its_request(backend: Backend) {
    let logs = LogCapture::start();
    let metrics_token = secret("metrics-token");
    let extra = [("RELEVO_METRICS_TOKEN", metrics_token.as_str())];
    let Some((app, fake)) = spawn_reachable_with_fake(backend, &extra).await else {
        return;
    };
    let receiver = Receiver::start(app.clock.clone()).await;

    // The default Evolution server gets a key of this test's own.
    let api_key = secret("evolution-api-key");
    let servers = app
        .admin(Method::GET, "/api/v1/evolution-servers", None)
        .await;
    let server = servers.body["data"][0]["id"].as_i64().unwrap();
    let rekeyed = app
        .admin(
            Method::PUT,
            &format!("/api/v1/evolution-servers/{server}"),
            Some(&json!({"api_key": api_key})),
        )
        .await;
    assert_eq!(rekeyed.status, StatusCode::OK, "{}", rekeyed.body);
    fake.state().global_key = api_key.clone();

    // A tenant with a callback secret of its own, and a tenant user who logs in.
    let callback_secret = secret("callback-secret");
    let created = app
        .create_tenant(json!({
            "nombre": "Registro", "slug": "registro",
            "callback_url": receiver.url, "callback_secret": callback_secret,
        }))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let tenant = created.body["data"]["id"].as_i64().unwrap();
    receiver.set_secret(tenant, &callback_secret);
    let password = secret("Password");
    let user = app
        .create_user(json!({"email": "registro@relevo.test", "password": password, "role": "tenant_user", "tenant_id": tenant}))
        .await;
    assert_eq!(user.status, StatusCode::CREATED, "{}", user.body);
    let login = app.login("registro@relevo.test", &password).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let user_token = login.body["data"]["access_token"].as_str().unwrap();
    let me = app
        .client
        .get(format!("{}/api/v1/auth/me", app.address))
        .bearer_auth(user_token)
        .header("X-Request-Id", "logs-test-7")
        .send()
        .await
        .unwrap();
    let me = into_reply(me).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    let wrong_password = secret("wrong-password");
    for email in ["registro@relevo.test", ADMIN_EMAIL] {
        let refused = app.login(email, &wrong_password).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    }

    // Provisioning (Evolution's key, the instance's token, the webhook's token) and
    // WhatsApp linking through the webhook.
    let provisioned = app
        .provision(
            tenant,
            &json!({"instance_name": "registro-uno", "daily_message_limit": 10}),
        )
        .await;
    assert_eq!(
        provisioned.status,
        StatusCode::CREATED,
        "{}",
        provisioned.body
    );
    let on_fake = fake.instance("registro-uno").unwrap();
    let instance_token = on_fake.token.clone();
    let webhook_url = on_fake.webhook.as_ref().unwrap()["url"].as_str().unwrap();
    let webhook_token = webhook_url
        .split("/api/v1/webhooks/evolution/")
        .nth(1)
        .expect("the webhook points at Relevo")
        .to_string();
    let opened = fake
        .open("registro-uno", "573001200001@s.whatsapp.net")
        .await
        .expect("the webhook arrives");
    assert_eq!(opened.status, StatusCode::OK, "{}", opened.body);

    // A sender token claims (through the batch lane), releases, and sends a text.
    let sender_token = app.sender_token(tenant).await;
    let claim = app.claim(tenant, &sender_token, json!({"count": 2})).await;
    assert_eq!(claim.status, StatusCode::OK, "{}", claim.body);
    assert_eq!(
        claim.body["data"]["instance"]["evolution_api_key"],
        instance_token.as_str()
    );
    let claim_id = claim.body["data"]["claim_id"].as_str().unwrap();
    let released = app
        .release(tenant, &sender_token, claim_id, json!({"count": 1}))
        .await;
    assert_eq!(released.status, StatusCode::OK, "{}", released.body);
    let sent = app
        .send(
            Method::POST,
            &format!("/api/v1/tenants/{tenant}/messages"),
            Some(&sender_token),
            Some(&json!({"to": "+573009876543", "text": "Hola"})),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);

    // Signed callbacks, and the metrics behind their token.
    app.deliver().await;
    let accepted = receiver.accepted();
    assert!(!accepted.is_empty() && accepted.iter().all(|event| event.verified));
    let metrics = app.scrape_metrics(Some(&metrics_token)).await;
    assert_eq!(metrics.status(), StatusCode::OK);

    let lines = logs.lines();
    // The request's own lines: from the blocking pool, the Evolution client and the
    // claim batch lane.
    assert_logged_for(
        &lines,
        &request_id(&me),
        "relevo::telemetry",
        "database work took",
    );
    let both_ids = format!(
        "request{{request_id={} client_request_id=logs-test-7}}: relevo::telemetry: ",
        request_id(&me)
    );
    assert!(
        lines.iter().any(|line| line.contains(&both_ids)),
        "the client's own id is beside Relevo's: {both_ids}"
    );
    assert_logged_for(
        &lines,
        &request_id(&provisioned),
        "relevo::evolution::client",
        "Evolution API POST /instance/create",
    );
    assert_logged_for(
        &lines,
        &request_id(&claim),
        "relevo::sender::batch",
        "a batch of 1 claim(s)",
    );
    assert_logged_for(
        &lines,
        &request_id(&claim),
        "relevo::sender::batch",
        "claim answered: instance",
    );
    // Nothing secret in any line.
    let settings = test_settings("unused", &[]);
    let encryption_key = base64::engine::general_purpose::STANDARD.encode(
        settings
            .encryption_key
            .expect("tests set an encryption key"),
    );
    let secrets = [
        ("admin password", ADMIN_PASSWORD.to_string()),
        ("admin's access token", app.admin_token.clone()),
        ("user password", password.clone()),
        ("wrong password", wrong_password.clone()),
        ("user's access token", user_token.to_string()),
        ("sender token", sender_token.clone()),
        ("Evolution API key", api_key.clone()),
        ("Evolution master key", GLOBAL_KEY.to_string()),
        ("instance token", instance_token.clone()),
        ("webhook token", webhook_token.clone()),
        ("callback secret", callback_secret.clone()),
        ("metrics token", metrics_token.clone()),
        (
            "JWT secret",
            settings.jwt_secret.expect("tests set a JWT secret"),
        ),
        ("encryption key", encryption_key),
    ];
    for (what, value) in &secrets {
        let leaks: Vec<&String> = lines.iter().filter(|line| line.contains(value)).collect();
        assert!(leaks.is_empty(), "the {what} is in the log: {leaks:#?}");
    }
    // The access line still names the request its own way.
    let access = format!("request_id={} client_request_id=-", request_id(&claim));
    assert!(
        lines
            .iter()
            .any(|line| line.contains(" actix_web::middleware::logger: ")
                && line.contains("\"POST /api/v1/tenants/")
                && line.contains(&access)),
        "no access line with {access}"
    );
}

both_backends!(no_secret_is_logged_and_each_line_names_its_request);
