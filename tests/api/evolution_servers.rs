//! Evolution servers (seed 004's integration credentials): CRUD with a write-only key and
//! one default, the health check, the bootstrap from seed 000's variables, and how the URL
//! an instance is registered with maps to a server.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::evolution_fake::{Failure, FakeEvolution, GLOBAL_KEY};
use crate::helpers::{assert_error, instance_path, Backend, Reply, TestApp};
use crate::{spawn_or_skip, spawn_with_fake_or_skip};

const SERVERS: &str = "/api/v1/evolution-servers";

fn server_path(id: impl std::fmt::Display) -> String {
    format!("{SERVERS}/{id}")
}

async fn create_server(app: &TestApp, body: Value) -> Reply {
    app.admin(Method::POST, SERVERS, Some(&body)).await
}

/// The servers' stored keys, decrypted, by id.
fn stored_keys(app: &TestApp) -> Vec<(i64, Option<String>)> {
    use diesel::prelude::*;
    use relevo::db::schema::evolution_servers::dsl::*;
    let rows: Vec<(i64, Option<String>)> = evolution_servers
        .order(id.asc())
        .select((id, api_key_encrypted))
        .load(&mut app.db())
        .unwrap();
    rows.into_iter()
        .map(|(server, sealed)| (server, sealed.map(|s| app.decrypt(&s))))
        .collect()
}

async fn servers_are_managed_with_a_write_only_key_and_one_default(backend: Backend) {
    let app = spawn_or_skip!(backend);

    let first = create_server(
        &app,
        json!({"name": "Principal", "base_url": "https://evo-a.example.com/", "api_key": "clave-a"}),
    )
    .await;
    let second = create_server(
        &app,
        json!({"name": "Respaldo", "base_url": "https://evo-b.example.com", "api_key": "clave-b"}),
    )
    .await;
    let first_id = first.body["data"]["id"].as_i64().unwrap();
    let second_id = second.body["data"]["id"].as_i64().unwrap();

    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(
        first.body["data"]["base_url"], "https://evo-a.example.com",
        "no trailing slash"
    );
    assert_eq!(
        first.body["data"]["is_default"], true,
        "the first is the default"
    );
    assert_eq!(first.body["data"]["has_api_key"], true);
    assert_eq!(first.body["data"]["instances_count"], 0);
    assert_eq!(second.body["data"]["is_default"], false);
    for reply in [&first, &second] {
        assert!(reply.body["data"].get("api_key").is_none());
        assert!(!reply.body.to_string().contains("clave-"));
    }
    assert_eq!(
        stored_keys(&app),
        [
            (first_id, Some("clave-a".into())),
            (second_id, Some("clave-b".into()))
        ]
    );

    let promoted = app
        .admin(
            Method::PUT,
            &server_path(second_id),
            Some(&json!({"is_default": true, "name": "Respaldo 2", "api_key": "clave-b2"})),
        )
        .await;
    let list = app.admin(Method::GET, SERVERS, None).await;
    let shown = app.admin(Method::GET, &server_path(first_id), None).await;

    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.body);
    assert_eq!(promoted.body["data"]["name"], "Respaldo 2");
    assert_eq!(list.body["meta"]["total"], 2);
    let defaults: Vec<&Value> = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|server| server["is_default"] == true)
        .collect();
    assert_eq!(defaults.len(), 1);
    assert_eq!(defaults[0]["id"], second_id);
    assert_eq!(shown.body["data"]["is_default"], false);
    assert_eq!(stored_keys(&app)[1].1.as_deref(), Some("clave-b2"));

    // A server that instances live on is kept.
    let tenant = app.seed_tenant().await;
    let instance = app
        .create_instance(
            tenant,
            &json!({"phone_number": "+573001234567", "instance_name": "principal", "evolution_api_key": "k",
                    "evolution_api_url": "https://evo-a.example.com", "daily_message_limit": 10}),
        )
        .await;
    assert_eq!(instance.body["data"]["evolution_server_id"], first_id);
    let kept = app
        .admin(Method::DELETE, &server_path(first_id), None)
        .await;
    assert_error(
        &kept,
        StatusCode::CONFLICT,
        "evolution_server.has_instances",
    );
    assert_eq!(kept.body["error_params"], json!({"instances": 1}));
    let deleted = app
        .admin(Method::DELETE, &server_path(second_id), None)
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    let missing = app.admin(Method::GET, &server_path(second_id), None).await;
    assert_error(
        &missing,
        StatusCode::NOT_FOUND,
        "evolution_server.not_found",
    );
    assert_eq!(stored_keys(&app).len(), 1);
}

async fn server_fields_are_validated_all_at_once(backend: Backend) {
    let app = spawn_or_skip!(backend);
    create_server(
        &app,
        json!({"name": "A", "base_url": "https://evo-a.example.com", "api_key": "k"}),
    )
    .await;
    let cases = [
        (
            "empty",
            json!({}),
            json!({
                "name": ["El campo name es obligatorio."],
                "base_url": ["El campo base_url es obligatorio."],
                "api_key": ["El campo api_key es obligatorio."],
            }),
        ),
        (
            "bad values",
            json!({"name": "x".repeat(101), "base_url": "ftp://evo", "api_key": "con espacio", "is_active": "quizá"}),
            json!({
                "name": ["El campo name no debe tener más de 100 caracteres."],
                "base_url": ["El campo base_url debe ser una URL http(s) válida."],
                "api_key": ["El campo api_key solo puede contener caracteres ASCII visibles, sin espacios (máximo 255)."],
                "is_active": ["El campo is_active debe ser verdadero o falso."],
            }),
        ),
        (
            "same URL",
            json!({"name": "B", "base_url": "https://evo-a.example.com/", "api_key": "k"}),
            json!({"base_url": ["Ya hay un servidor Evolution con esta URL"]}),
        ),
    ];
    for (case, body, errors) in cases {
        let reply = create_server(&app, body).await;
        assert_error(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation.failed",
        );
        assert_eq!(reply.body["errors"], errors, "[{case}]");
    }
    let cleared = app
        .admin(
            Method::PUT,
            &server_path(1),
            Some(&json!({"api_key": null})),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.list_total(SERVERS).await, 1);
    assert_eq!(stored_keys(&app)[0].1.as_deref(), Some("k"));
}

/// The stored key was given for one server: moving `base_url` to another origin needs the
/// key again in the same request, or the old key would go to the new host. A new path on
/// the same origin keeps it.
async fn a_base_url_on_another_origin_needs_the_api_key_again(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let created = create_server(
        &app,
        json!({"name": "A", "base_url": "https://evo-a.example.com", "api_key": "clave-a"}),
    )
    .await;
    let id = created.body["data"]["id"].as_i64().unwrap();
    let needs_key = json!({"api_key": ["El campo api_key es obligatorio cuando base_url cambia a otro servidor."]});

    for (case, base_url) in [
        ("another host", "https://evil.example.net"),
        ("another port", "https://evo-a.example.com:8443"),
        ("another scheme", "http://evo-a.example.com"),
    ] {
        let reply = app
            .admin(
                Method::PUT,
                &server_path(id),
                Some(&json!({"base_url": base_url})),
            )
            .await;

        assert_error(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation.failed",
        );
        assert_eq!(reply.body["errors"], needs_key, "[{case}]");
    }
    let unchanged = app.admin(Method::GET, &server_path(id), None).await;
    assert_eq!(
        unchanged.body["data"]["base_url"],
        "https://evo-a.example.com"
    );

    let same_origin = app
        .admin(
            Method::PUT,
            &server_path(id),
            Some(&json!({"base_url": "https://evo-a.example.com/evolution"})),
        )
        .await;
    assert_eq!(same_origin.status, StatusCode::OK, "{}", same_origin.body);
    assert_eq!(stored_keys(&app)[0].1.as_deref(), Some("clave-a"));

    let with_key = app
        .admin(
            Method::PUT,
            &server_path(id),
            Some(&json!({"base_url": "https://evo-b.example.com", "api_key": "clave-b"})),
        )
        .await;
    assert_eq!(with_key.status, StatusCode::OK, "{}", with_key.body);
    assert_eq!(
        with_key.body["data"]["base_url"],
        "https://evo-b.example.com"
    );
    assert_eq!(stored_keys(&app)[0].1.as_deref(), Some("clave-b"));
}

/// An instance's stored key was given for its server: moving its `evolution_api_url` to
/// another origin, or back to a default server on another origin (`null`), needs
/// `evolution_api_key` in the same request, as a server's `base_url` does. A new path on
/// the same origin keeps the key.
async fn an_instance_url_on_another_origin_needs_its_key_again(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let created = app
        .create_instance(
            tenant,
            &json!({"phone_number": "+573001234567", "instance_name": "ventas", "evolution_api_key": "clave-a",
                    "evolution_api_url": "https://evo-a.example.com", "daily_message_limit": 10}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["data"]["id"].as_i64().unwrap();
    let path = instance_path(tenant, id);
    let servers = app.list_total(SERVERS).await;
    let stored_key = |app: &TestApp| app.decrypt(&app.instance_row(id).evolution_api_key_encrypted);
    let needs_key = json!({"evolution_api_key": ["El campo evolution_api_key es obligatorio cuando evolution_api_url cambia a otro servidor."]});

    for (case, url) in [
        ("another host", json!("https://evil.example.net")),
        ("another port", json!("https://evo-a.example.com:8443")),
        ("another scheme", json!("http://evo-a.example.com")),
        ("the default server elsewhere", Value::Null),
    ] {
        let reply = app
            .admin(Method::PUT, &path, Some(&json!({"evolution_api_url": url})))
            .await;

        assert_error(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation.failed",
        );
        assert_eq!(reply.body["errors"], needs_key, "[{case}]");
    }
    let unchanged = app.show_instance(tenant, id).await;
    assert_eq!(unchanged["evolution_api_url"], "https://evo-a.example.com");
    assert_eq!(stored_key(&app), "clave-a");
    assert_eq!(
        app.list_total(SERVERS).await,
        servers,
        "no server was added"
    );

    let same_origin = app
        .admin(
            Method::PUT,
            &path,
            Some(&json!({"evolution_api_url": "https://evo-a.example.com/evolution"})),
        )
        .await;
    assert_eq!(same_origin.status, StatusCode::OK, "{}", same_origin.body);
    assert_eq!(stored_key(&app), "clave-a");

    let with_key = app
        .admin(
            Method::PUT,
            &path,
            Some(&json!({"evolution_api_url": null, "evolution_api_key": "clave-b"})),
        )
        .await;
    assert_eq!(with_key.status, StatusCode::OK, "{}", with_key.body);
    assert_eq!(with_key.body["data"]["evolution_server_id"], 1);
    assert_eq!(stored_key(&app), "clave-b");

    // The default server named by its URL is where the instance already is.
    let same_server = app
        .admin(
            Method::PUT,
            &path,
            Some(&json!({"evolution_api_url": fake.url})),
        )
        .await;
    assert_eq!(same_server.status, StatusCode::OK, "{}", same_server.body);
    assert_eq!(stored_key(&app), "clave-b");
}

async fn seed_variables_bootstrap_the_default_server(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);

    let list = app.admin(Method::GET, SERVERS, None).await;

    assert_eq!(list.body["meta"]["total"], 1);
    let server = &list.body["data"][0];
    assert_eq!(server["base_url"], fake.url.as_str());
    assert_eq!(server["is_default"], true);
    assert_eq!(server["is_active"], true);
    assert_eq!(server["has_api_key"], true);
    assert_eq!(stored_keys(&app)[0].1.as_deref(), Some(GLOBAL_KEY));
}

async fn health_reports_version_and_latency_or_the_failure(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let health = server_path("1/health");

    let up = app.admin(Method::GET, &health, None).await;
    fake.fail(Failure::ServerError);
    let failing = app.admin(Method::GET, &health, None).await;
    fake.fail(Failure::Slow);
    let slow = app.admin(Method::GET, &health, None).await;
    fake.recover();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let unreachable_server = create_server(
        &app,
        json!({"name": "Apagado", "base_url": closed_url, "api_key": "k"}),
    )
    .await;
    let unreachable = app
        .admin(
            Method::GET,
            &server_path(format!("{}/health", unreachable_server.body["data"]["id"])),
            None,
        )
        .await;
    let missing = app
        .admin(Method::GET, &server_path("99/health"), None)
        .await;

    assert_eq!(up.status, StatusCode::OK, "{}", up.body);
    assert_eq!(up.body["data"]["status"], "ok");
    assert_eq!(up.body["data"]["api_key_checked"], true);
    assert_eq!(up.body["data"]["version"], "2.3.6");
    assert_eq!(up.body["data"]["client_name"], "evolution");
    assert!(up.body["data"]["latency_ms"].as_u64().unwrap() < 800);
    for (reply, status, key) in [
        (&failing, StatusCode::BAD_GATEWAY, "evolution.unavailable"),
        (&slow, StatusCode::GATEWAY_TIMEOUT, "evolution.timeout"),
        (
            &unreachable,
            StatusCode::BAD_GATEWAY,
            "evolution.unavailable",
        ),
    ] {
        assert_error(reply, status, key);
    }
    assert_eq!(failing.body["error_params"]["evolution_server_id"], 1);
    assert!(unreachable.body["message"]
        .as_str()
        .unwrap()
        .contains("`Apagado` is unreachable"));
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // `GET /` needs no key: only an authenticated call shows the key is wrong.
    fake.rotate_global_key();
    let wrong_key = app.admin(Method::GET, &health, None).await;
    assert_eq!(wrong_key.status, StatusCode::OK, "{}", wrong_key.body);
    assert_eq!(wrong_key.body["data"]["status"], "unauthorized");
    assert_eq!(wrong_key.body["data"]["version"], "2.3.6");
}

async fn registered_urls_map_to_servers(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let other = app.tenant_named("otro-candidato", "UTC").await;
    let register = |tenant: i64, phone: &str, name: &str, url: Value| {
        let body = json!({"phone_number": phone, "instance_name": name, "evolution_api_key": "k",
                          "evolution_api_url": url, "daily_message_limit": 10});
        let app = &app;
        async move { app.create_instance(tenant, &body).await }
    };

    let on_default = register(tenant, "+573001111111", "uno", Value::Null).await;
    let on_new_url = register(
        tenant,
        "+573002222222",
        "uno",
        json!("https://evo-x.example.com"),
    )
    .await;
    let same_new_url = register(
        tenant,
        "+573003333333",
        "dos",
        json!("https://evo-x.example.com/"),
    )
    .await;
    // The default server named by its URL is the same server as `null`.
    let default_by_url = register(tenant, "+573004444444", "uno", json!(fake.url)).await;
    let other_tenant = register(other, "+573001111111", "uno", json!(fake.url)).await;

    assert_eq!(
        on_default.status,
        StatusCode::CREATED,
        "{}",
        on_default.body
    );
    assert_eq!(on_default.body["data"]["evolution_server_id"], 1);
    assert_eq!(on_default.body["data"]["evolution_api_url"], Value::Null);
    assert_eq!(
        on_new_url.status,
        StatusCode::CREATED,
        "{}",
        on_new_url.body
    );
    let new_server = on_new_url.body["data"]["evolution_server_id"].clone();
    assert_eq!(new_server, 2);
    assert_eq!(same_new_url.body["data"]["evolution_server_id"], new_server);
    assert_error(
        &default_by_url,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation.failed",
    );
    assert_eq!(
        default_by_url.body["errors"]["instance_name"][0],
        "Este nombre de instancia ya está registrado en este servidor"
    );
    assert_eq!(other_tenant.status, StatusCode::CONFLICT);
    let discovered = app.admin(Method::GET, &server_path(2), None).await;
    assert_eq!(
        discovered.body["data"],
        json!({
            "id": 2, "name": "https://evo-x.example.com", "base_url": "https://evo-x.example.com",
            "has_api_key": false, "is_active": true, "is_default": false, "instances_count": 2,
            "created_at": "2025-11-17T06:30:00.000000Z", "updated_at": "2025-11-17T06:30:00.000000Z"
        })
    );

    // Moving an instance to another URL (with its key there) moves it to that server.
    let id = on_default.body["data"]["id"].as_i64().unwrap();
    let moved = app
        .admin(
            Method::PUT,
            &instance_path(tenant, id),
            Some(&json!({"evolution_api_url": "https://evo-y.example.com", "evolution_api_key": "k-y"})),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(moved.body["data"]["evolution_server_id"], 3);
    assert_eq!(app.list_total(SERVERS).await, 3);

    // A server's new URL is also the URL of the instances registered with the old one.
    let renamed = app
        .admin(
            Method::PUT,
            &server_path(2),
            Some(&json!({"base_url": "https://evo-z.example.com"})),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    let dos = same_new_url.body["data"]["id"].as_i64().unwrap();
    assert_eq!(
        app.show_instance(tenant, dos).await["evolution_api_url"],
        "https://evo-z.example.com"
    );
}

/// A URL Relevo does not know becomes a server only with the instance registered or moved
/// to it: a refused write, refused for its body or for what other instances hold, leaves
/// no server behind.
async fn a_refused_write_leaves_no_server_for_its_url(backend: Backend) {
    let (app, _fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let registered = app
        .create_instance(
            tenant,
            &json!({"phone_number": "+573001111111", "instance_name": "uno",
                    "evolution_api_key": "k", "daily_message_limit": 10}),
        )
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.body
    );
    let id = registered.body["data"]["id"].as_i64().unwrap();
    let servers = app.list_total(SERVERS).await;
    let unknown = "https://evo-r.example.com";

    let bad_limit = app
        .create_instance(
            tenant,
            &json!({"phone_number": "+573002222222", "instance_name": "dos",
                    "evolution_api_key": "k", "evolution_api_url": unknown,
                    "daily_message_limit": 0}),
        )
        .await;
    let phone_taken = app
        .create_instance(
            tenant,
            &json!({"phone_number": "+573001111111", "instance_name": "dos",
                    "evolution_api_key": "k", "evolution_api_url": unknown,
                    "daily_message_limit": 10}),
        )
        .await;
    let moved_without_key = app
        .admin(
            Method::PUT,
            &instance_path(tenant, id),
            Some(&json!({"evolution_api_url": unknown})),
        )
        .await;
    let moved_with_bad_limit = app
        .admin(
            Method::PUT,
            &instance_path(tenant, id),
            Some(
                &json!({"evolution_api_url": unknown, "evolution_api_key": "k2",
                         "daily_message_limit": 0}),
            ),
        )
        .await;

    for (case, reply, field) in [
        ("bad limit", &bad_limit, "daily_message_limit"),
        ("phone taken", &phone_taken, "phone_number"),
        (
            "moved without its key",
            &moved_without_key,
            "evolution_api_key",
        ),
        (
            "moved with a bad limit",
            &moved_with_bad_limit,
            "daily_message_limit",
        ),
    ] {
        assert_error(reply, StatusCode::UNPROCESSABLE_ENTITY, "validation.failed");
        assert_eq!(
            reply.body["errors"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            vec![field],
            "{case}: {}",
            reply.body
        );
    }
    assert_eq!(
        app.list_total(SERVERS).await,
        servers,
        "no server was left behind"
    );
}

async fn instances_registered_before_any_server_join_the_first_default(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let early = app.instance(tenant, "+573001234567", "temprana", 10).await;
    assert_eq!(app.instance_row(early).evolution_server_id, None);
    let fake = FakeEvolution::start().await;

    let server = create_server(
        &app,
        json!({"name": "Principal", "base_url": fake.url, "api_key": GLOBAL_KEY}),
    )
    .await;

    let server_id = server.body["data"]["id"].as_i64().unwrap();
    assert_eq!(app.instance_row(early).evolution_server_id, Some(server_id));
    assert_eq!(server.body["data"]["instances_count"], 1);
    assert_eq!(
        app.show_instance(tenant, early).await["evolution_api_url"],
        Value::Null
    );
}

async fn only_super_admins_see_servers(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let token = app.tenant_user_token(tenant, "user@tenant.test").await;

    for (method, path) in [
        (Method::GET, SERVERS.to_string()),
        (Method::POST, SERVERS.to_string()),
        (Method::GET, server_path(1)),
        (Method::GET, server_path("1/health")),
        (Method::DELETE, server_path(1)),
    ] {
        let reply = app
            .send(method.clone(), &path, Some(&token), Some(&json!({})))
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{method} {path}");
        let anonymous = app.send(method.clone(), &path, None, None).await;
        assert_eq!(
            anonymous.status,
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
    }
}

both_backends!(
    a_base_url_on_another_origin_needs_the_api_key_again,
    an_instance_url_on_another_origin_needs_its_key_again,
    servers_are_managed_with_a_write_only_key_and_one_default,
    server_fields_are_validated_all_at_once,
    seed_variables_bootstrap_the_default_server,
    health_reports_version_and_latency_or_the_failure,
    registered_urls_map_to_servers,
    instances_registered_before_any_server_join_the_first_default,
    a_refused_write_leaves_no_server_for_its_url,
    only_super_admins_see_servers,
);
