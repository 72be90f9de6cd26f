//! Outbound targets (issue 20, SPEC §9): callback URLs and Evolution servers on loopback,
//! link-local, private or otherwise non-public addresses are refused where they are given
//! (422) and where Relevo connects (after name resolution), unless
//! `RELEVO_ALLOW_PRIVATE_TARGETS=1`, which every other test runs with since their fake
//! Evolution servers and receivers listen on 127.0.0.1. What answers at a server's URL is
//! never repeated as if Evolution had said it.

use actix_web::{web, HttpResponse};
use chrono::Duration;
use relevo::clock::Clock;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::callback_receiver::Receiver;
use crate::evolution_fake::{Failure, FakeEvolution, GLOBAL_KEY};
use crate::helpers::{
    assert_error, instance_path, into_reply, serve_locally, spawn_app_with, Backend, Reply, TestApp,
};
use crate::spawn_with_fake_or_skip;

both_backends!(
    private_urls_are_refused_where_they_are_given,
    a_callback_that_resolves_to_loopback_is_refused_when_connecting,
    an_evolution_server_that_resolves_to_loopback_is_refused_when_connecting,
    the_operators_evolution_server_may_be_on_a_private_address,
    what_answers_at_a_server_url_is_not_repeated,
);

/// Private targets refused, as in production.
const STRICT: (&str, &str) = ("RELEVO_ALLOW_PRIVATE_TARGETS", "0");

const SERVERS: &str = "/api/v1/evolution-servers";

/// The issue's examples: a database port on loopback, the cloud metadata service, a
/// `localhost` name, IPv6 loopback and a private network.
const PRIVATE_URLS: [&str; 5] = [
    "http://127.0.0.1:5432",
    "http://169.254.169.254/",
    "http://localhost:8080",
    "http://[::1]/",
    "http://10.0.0.1",
];

fn refused(field: &str) -> Value {
    json!({ field: [format!(
        "El campo {field} no puede apuntar a una dirección local, privada o reservada (como localhost, 127.0.0.1, 10.0.0.0/8 o 169.254.169.254)."
    )] })
}

fn assert_refused(reply: &Reply, field: &str, case: &str) {
    assert_error(reply, StatusCode::UNPROCESSABLE_ENTITY, "validation.failed");
    assert_eq!(reply.body["errors"], refused(field), "[{case}]");
}

/// `url` with its host `127.0.0.1` written as `localhost`: a name that passes where a URL
/// is given only when private targets are allowed, and that resolves to loopback.
fn by_name(url: &str) -> String {
    url.replacen("127.0.0.1", "localhost", 1)
}

async fn private_urls_are_refused_where_they_are_given(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[STRICT]).await else {
        return;
    };
    let tenant = app.seed_tenant().await;
    let server = app.new_server().create().await;
    let server_path = format!("{SERVERS}/{server}");
    let instance = app
        .new_instance(tenant)
        .name("ventas")
        .api_key("k")
        .api_url("https://evo.example.com")
        .limit(10)
        .create()
        .await;
    let instance = instance_path(tenant, instance);

    for url in PRIVATE_URLS {
        let new_tenant = app
            .create_tenant(json!({"nombre": "Otro", "slug": "otro", "callback_url": url}))
            .await;
        let tenant_update = app
            .admin(
                Method::PUT,
                &format!("/api/v1/tenants/{tenant}"),
                Some(&json!({"callback_url": url})),
            )
            .await;
        let new_server = app
            .admin(
                Method::POST,
                SERVERS,
                Some(&json!({"name": "Interno", "base_url": url, "api_key": "k"})),
            )
            .await;
        let server_update = app
            .admin(
                Method::PUT,
                &server_path,
                Some(&json!({"base_url": url, "api_key": "k2"})),
            )
            .await;
        let new_instance = app
            .create_instance(
                tenant,
                &json!({"phone_number": "+573007654321", "instance_name": "interna", "evolution_api_key": "k",
                        "evolution_api_url": url, "daily_message_limit": 10}),
            )
            .await;
        let instance_update = app
            .admin(
                Method::PUT,
                &instance,
                Some(&json!({"evolution_api_url": url, "evolution_api_key": "k2"})),
            )
            .await;

        assert_refused(&new_tenant, "callback_url", url);
        assert_refused(&tenant_update, "callback_url", url);
        assert_refused(&new_server, "base_url", url);
        assert_refused(&server_update, "base_url", url);
        assert_refused(&new_instance, "evolution_api_url", url);
        assert_refused(&instance_update, "evolution_api_url", url);
    }
    assert_eq!(app.list_total("/api/v1/tenants").await, 1);
    assert_eq!(app.list_total(SERVERS).await, 1);
    let shown = app.admin(Method::GET, &instance, None).await;
    assert_eq!(
        shown.body["data"]["evolution_api_url"],
        "https://evo.example.com"
    );

    // In the request's language.
    for (language, text) in [
        ("en", "The callback_url field must not point to a loopback, private or reserved address (such as localhost, 127.0.0.1, 10.0.0.0/8 or 169.254.169.254)."),
        ("pt", "O campo callback_url não pode apontar para um endereço local, privado ou reservado (como localhost, 127.0.0.1, 10.0.0.0/8 ou 169.254.169.254)."),
    ] {
        let response = app
            .client
            .put(format!("{}/api/v1/tenants/{tenant}", app.address))
            .bearer_auth(&app.admin_token)
            .header("accept-language", language)
            .json(&json!({"callback_url": "http://169.254.169.254/latest/meta-data/"}))
            .send()
            .await
            .expect("request sent");
        let reply = into_reply(response).await;
        assert_eq!(reply.body["errors"]["callback_url"][0], text, "{language}");
    }

    // The same URLs, where private targets are allowed.
    let allowing = app
        .twin_with(&[("RELEVO_ALLOW_PRIVATE_TARGETS", "1")])
        .await;
    let allowed = allowing
        .admin(
            Method::PUT,
            &format!("/api/v1/tenants/{tenant}"),
            Some(&json!({"callback_url": "http://127.0.0.1:5432"})),
        )
        .await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.body);
}

/// A tenant with `callback_url`, and its generated secret handed to the receiver.
async fn tenant_calling(app: &TestApp, receiver: &Receiver, slug: &str, url: &str) -> i64 {
    let data = app
        .new_tenant()
        .slug(slug)
        .name(slug)
        .callback_url(url)
        .created()
        .await;
    let id = data["id"].as_i64().unwrap();
    receiver.set_secret(id, data["callback_secret"].as_str().unwrap());
    let written = relevo::events::record(
        &mut app.db(),
        id,
        relevo::events::EventType::MessageReceived,
        json!({"n": 1}),
        None,
        app.clock.now().naive_utc(),
    )
    .expect("an event is written");
    assert!(written);
    id
}

/// The tenant's newest delivery (`null` when there is none).
async fn delivery(app: &TestApp, tenant: i64) -> Value {
    let deliveries = app.webhook_deliveries(tenant, "").await;
    deliveries.first().cloned().unwrap_or(Value::Null)
}

/// Callback URLs stored while private targets were allowed (or before the policy
/// existed): one whose name resolves to loopback and one with the literal address. A
/// strict process never connects to either; the same URLs reach the receiver from a
/// process that allows private targets, so the name did resolve, and it was the policy
/// that refused it.
async fn a_callback_that_resolves_to_loopback_is_refused_when_connecting(backend: Backend) {
    let Some(allowing) = spawn_app_with(backend, &[]).await else {
        return;
    };
    let receiver = Receiver::start(allowing.clock.clone()).await;
    let named = tenant_calling(&allowing, &receiver, "por-nombre", &by_name(&receiver.url)).await;
    let literal = tenant_calling(&allowing, &receiver, "literal", &receiver.url).await;
    let strict = allowing.twin_with(&[STRICT]).await;

    let report = strict.deliver().await;

    assert_eq!((report.delivered, report.retried), (0, 2), "{report:?}");
    assert!(
        receiver.received().is_empty(),
        "nothing reached the listener"
    );
    for tenant in [named, literal] {
        let row = delivery(&strict, tenant).await;
        assert_eq!(row["status"], "pending", "{row}");
        assert_eq!(row["attempts"], 1);
        assert_eq!(row["last_status_code"], Value::Null);
        assert_eq!(
            row["last_error"],
            "The callback URL is not on a public address: Relevo does not deliver to loopback, private, link-local or reserved addresses"
        );
    }

    allowing.clock.advance(Duration::hours(1));
    let report = allowing.deliver().await;
    assert_eq!(report.delivered, 2, "{report:?}");
    assert_eq!(receiver.accepted().len(), 2);
}

/// An Evolution server registered by a name that resolves to loopback (while private
/// targets were allowed): a strict process's health check and instance calls never reach
/// it; a process that allows private targets reaches it at the same URL.
async fn an_evolution_server_that_resolves_to_loopback_is_refused_when_connecting(
    backend: Backend,
) {
    let Some(allowing) = spawn_app_with(backend, &[]).await else {
        return;
    };
    let fake = FakeEvolution::start().await;
    let mut ids = Vec::new();
    for (name, base_url) in [
        ("Por nombre", by_name(&fake.url)),
        ("Literal", fake.url.clone()),
    ] {
        let server = allowing
            .new_server()
            .name(name)
            .base_url(&base_url)
            .api_key(GLOBAL_KEY)
            .create()
            .await;
        ids.push(server);
    }
    let tenant = allowing.seed_tenant().await;
    fake.add_instance("ventas", "token-ventas", "open");
    let instance = allowing
        .create_instance(
            tenant,
            &json!({"phone_number": "+573001234567", "instance_name": "ventas", "evolution_api_key": "token-ventas",
                    "evolution_api_url": by_name(&fake.url), "daily_message_limit": 10}),
        )
        .await;
    assert_eq!(instance.status, StatusCode::CREATED, "{}", instance.body);
    let state_path = format!(
        "{}/connection-state",
        instance_path(tenant, instance.body["data"]["id"].as_i64().unwrap())
    );
    let strict = allowing.twin_with(&[STRICT]).await;

    let mut replies = Vec::new();
    for id in &ids {
        replies.push(
            strict
                .admin(Method::GET, &format!("{SERVERS}/{id}/health"), None)
                .await,
        );
    }
    replies.push(strict.admin(Method::GET, &state_path, None).await);

    for reply in &replies {
        assert_error(reply, StatusCode::BAD_GATEWAY, "evolution.unavailable");
        assert!(
            reply.body["message"]
                .as_str()
                .unwrap()
                .contains("is not on a public address"),
            "{}",
            reply.body
        );
    }
    assert_eq!(
        fake.calls(),
        Vec::<String>::new(),
        "nothing reached the fake"
    );

    let reached = allowing
        .admin(Method::GET, &format!("{SERVERS}/{}/health", ids[0]), None)
        .await;
    assert_eq!(reached.status, StatusCode::OK, "{}", reached.body);
    assert_eq!(reached.body["data"]["version"], "2.3.6");
}

/// `EVOLUTION_API_BASE_URL` is the operator's choice: its origin may be private (here
/// 127.0.0.1) as an Evolution server, and only as one.
async fn the_operators_evolution_server_may_be_on_a_private_address(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend, &[STRICT]);
    let tenant = app.seed_tenant().await;

    let health = app
        .admin(Method::GET, &format!("{SERVERS}/1/health"), None)
        .await;
    let on_its_origin = app
        .create_instance(
            tenant,
            &json!({"phone_number": "+573001234567", "instance_name": "ventas", "evolution_api_key": "k",
                    "evolution_api_url": format!("{}/", fake.url), "daily_message_limit": 10}),
        )
        .await;
    let as_callback = app
        .admin(
            Method::PUT,
            &format!("/api/v1/tenants/{tenant}"),
            Some(&json!({"callback_url": fake.url})),
        )
        .await;

    assert_eq!(health.status, StatusCode::OK, "{}", health.body);
    assert_eq!(
        on_its_origin.status,
        StatusCode::CREATED,
        "{}",
        on_its_origin.body
    );
    assert_eq!(on_its_origin.body["data"]["evolution_server_id"], 1);
    assert_refused(
        &as_callback,
        "callback_url",
        "the operator's origin as a callback",
    );
}

/// A server (HTTP only) that answers every request with `status`, `content_type` and
/// `body`: something that is not Evolution, found at a server's URL.
fn something_else(status: u16, content_type: &'static str, body: &'static str) -> String {
    serve_locally(web::Data::new(()), move || async move {
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
            .content_type(content_type)
            .body(body)
    })
}

/// Only Evolution's own words reach an answer, and only in `error_params.upstream`: a
/// health check shows a version only from Evolution's welcome, and a failure's message
/// is Relevo's.
async fn what_answers_at_a_server_url_is_not_repeated(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let mut servers = Vec::new();
    for (name, url) in [
        (
            "Base de datos",
            something_else(
                200,
                "application/json",
                r#"{"version":"PostgreSQL 16.2 secret-build on x86_64","clientName":"secret"}"#,
            ),
        ),
        (
            "Proxy",
            something_else(502, "text/html", "<html>secret upstream page</html>"),
        ),
    ] {
        let server = app.new_server().name(name).base_url(&url).create().await;
        servers.push(server);
    }

    let not_evolution = app
        .admin(
            Method::GET,
            &format!("{SERVERS}/{}/health", servers[0]),
            None,
        )
        .await;
    let failing_page = app
        .admin(
            Method::GET,
            &format!("{SERVERS}/{}/health", servers[1]),
            None,
        )
        .await;
    fake.fail(Failure::ServerError);
    let evolution_failing = app
        .admin(Method::GET, &format!("{SERVERS}/1/health"), None)
        .await;

    assert_eq!(not_evolution.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        not_evolution.body["message"],
        "Evolution API server `Base de datos` answered something Relevo does not understand."
    );
    assert_eq!(failing_page.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        failing_page.body["message"],
        "Evolution API server `Proxy` failed (HTTP 502)."
    );
    for reply in [&not_evolution, &failing_page] {
        assert!(!reply.body.to_string().contains("secret"), "{}", reply.body);
    }
    assert_eq!(
        evolution_failing.status,
        StatusCode::BAD_GATEWAY,
        "{}",
        evolution_failing.body
    );
    assert_eq!(
        evolution_failing.body["message"],
        format!("Evolution API server `{}` failed (HTTP 500).", fake.url)
    );
    assert_eq!(
        evolution_failing.body["error_params"]["upstream"],
        "Connection Closed"
    );
}
