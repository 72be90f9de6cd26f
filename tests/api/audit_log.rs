//! The audit trail (SPEC section 9): every change a super admin makes through the API is
//! recorded once, in the transaction of the change, with who, what, the target before and
//! after (never a secret), the request id and Relevo's time; a failed change leaves nothing.
//! Super admins' logins are in it too (`auth.login`, one per test app: it logs in as the
//! admin); their failures and refusals are tested with the throttle, in `auth.rs`.

use chrono::Duration;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::evolution_fake::Failure;
use crate::helpers::{
    assert_error, assert_invalid, instance_path, instances_path, into_reply, Backend, Reply,
    TestApp, ADMIN_EMAIL,
};
use crate::{spawn_or_skip, spawn_with_fake_or_skip};

both_backends!(
    a_session_of_admin_work_is_recorded_change_by_change,
    a_clients_request_id_is_kept_beside_relevos_only_when_well_formed,
    a_deleted_admins_changes_stay_traceable,
    a_force_deleted_tenant_records_what_went_with_it,
    a_counter_reset_records_the_counts_before_and_after,
    a_sender_token_revocation_is_recorded,
    evolution_lifecycle_changes_are_recorded,
    failed_changes_write_no_audit_row,
    a_change_whose_transaction_fails_leaves_neither_change_nor_row,
    audit_rows_never_contain_a_secret,
    only_super_admins_read_the_audit_log,
    filters_narrow_the_log_and_pages_run_newest_first,
    invalid_filters_are_all_listed,
    a_write_transaction_inside_another_joins_it,
);

async fn audit_log(app: &TestApp, query: &str) -> Reply {
    app.admin(Method::GET, &format!("/api/v1/audit-log{query}"), None)
        .await
}

/// Every row, newest first.
async fn entries(app: &TestApp) -> Vec<Value> {
    let reply = audit_log(app, "?per_page=100").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["data"].as_array().unwrap().clone()
}

/// The rows of `action`, newest first.
async fn entries_of(app: &TestApp, action: &str) -> Vec<Value> {
    entries(app)
        .await
        .into_iter()
        .filter(|entry| entry["action"] == action)
        .collect()
}

fn actions(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|entry| entry["action"].as_str().unwrap().to_string())
        .collect()
}

async fn my_id(app: &TestApp, token: &str) -> i64 {
    let me = app
        .send(Method::GET, "/api/v1/auth/me", Some(token), None)
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    me.body["data"]["id"].as_i64().unwrap()
}

/// A request as the admin, naming its own `X-Request-Id`.
async fn admin_with_request_id(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<&Value>,
    request_id: &str,
) -> Reply {
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.address))
        .bearer_auth(&app.admin_token)
        .header("X-Request-Id", request_id);
    if let Some(body) = body {
        request = request.json(body);
    }
    into_reply(request.send().await.expect("request sent")).await
}

async fn a_session_of_admin_work_is_recorded_change_by_change(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let admin_id = my_id(&app, &app.admin_token).await;

    let tenant_body = json!({"slug": "campana", "nombre": "Campaña", "timezone": "UTC"});
    let created = admin_with_request_id(
        &app,
        Method::POST,
        "/api/v1/tenants",
        Some(&tenant_body),
        "req-create-tenant",
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let tenant = created.body["data"]["id"].as_i64().unwrap();
    app.clock.advance(Duration::hours(1));
    let tenant_path = format!("/api/v1/tenants/{tenant}");
    let mut replies = vec![
        app.admin(Method::PUT, &tenant_path, Some(&json!({"nombre": "Campaña 2026"})))
            .await,
        app.create_user(json!({"email": "ana@relevo.test", "password": "tenant-password-1",
                               "role": "tenant_user", "tenant_id": tenant}))
            .await,
        app.create_instance(tenant, &json!({"phone_number": "+573001234567", "instance_name": "principal",
                                            "evolution_api_key": "key-123", "daily_message_limit": 1000}))
            .await,
    ];
    let user = replies[1].body["data"]["id"].as_i64().unwrap();
    let instance = replies[2].body["data"]["id"].as_i64().unwrap();
    let instance_url = instance_path(tenant, instance);
    let tokens = format!("/api/v1/tenants/{tenant}/sender-tokens");
    replies.push(
        app.admin(
            Method::PUT,
            &instance_url,
            Some(&json!({"daily_message_limit": 1500})),
        )
        .await,
    );
    replies.push(
        app.admin(Method::POST, &format!("{instance_url}/toggle-active"), None)
            .await,
    );
    replies.push(
        app.admin(Method::POST, &format!("{instance_url}/toggle-active"), None)
            .await,
    );
    replies.push(
        app.admin(Method::POST, &format!("{instance_url}/reset-counter"), None)
            .await,
    );
    replies.push(
        app.admin(Method::POST, &tokens, Some(&json!({"name": "worker"})))
            .await,
    );
    let token_id = replies.last().unwrap().body["data"]["id"].as_i64().unwrap();
    replies.push(
        app.admin(Method::DELETE, &format!("{tokens}/{token_id}"), None)
            .await,
    );
    replies.push(
        app.admin(
            Method::POST,
            "/api/v1/evolution-servers",
            Some(&json!({"name": "evo", "base_url": "https://evo.example.com", "api_key": "server-key-1", "is_default": false})),
        )
        .await,
    );
    let server = replies.last().unwrap().body["data"]["id"].as_i64().unwrap();
    let server_path = format!("/api/v1/evolution-servers/{server}");
    replies.push(
        app.admin(Method::PUT, &server_path, Some(&json!({"name": "evo 2"})))
            .await,
    );
    replies.push(app.admin(Method::DELETE, &server_path, None).await);
    replies.push(app.admin(Method::DELETE, &instance_url, None).await);
    replies.push(
        app.admin(Method::DELETE, &format!("/api/v1/users/{user}"), None)
            .await,
    );
    replies.push(app.admin(Method::DELETE, &tenant_path, None).await);
    for reply in &replies {
        assert!(reply.status.is_success(), "{} {}", reply.status, reply.body);
    }

    let log = entries(&app).await;
    let mut oldest_first = log.clone();
    oldest_first.reverse();
    // The test app's login as the admin comes first; the changes follow.
    assert_eq!(oldest_first[0]["action"], "auth.login");
    let oldest_first = oldest_first.split_off(1);
    assert_eq!(
        actions(&oldest_first),
        [
            "tenant.created",
            "tenant.updated",
            "user.created",
            "instance.created",
            "instance.updated",
            "instance.deactivated",
            "instance.activated",
            "instance.counter_reset",
            "sender_token.created",
            "sender_token.revoked",
            "evolution_server.created",
            "evolution_server.updated",
            "evolution_server.deleted",
            "instance.deleted",
            "user.deleted",
            "tenant.deleted",
        ]
    );
    // Who, what, the request and Relevo's time.
    let first = &oldest_first[0];
    assert_eq!(first["actor_id"], admin_id);
    assert_eq!(first["actor_email"], ADMIN_EMAIL);
    assert_eq!(first["target_type"], "tenant");
    assert_eq!(first["target_id"], tenant);
    assert_eq!(first["tenant_id"], tenant);
    assert_eq!(first["before"], Value::Null);
    assert_eq!(first["after"]["slug"], "campana");
    // Relevo's request id, with the client's own beside it.
    assert_eq!(first["request_id"], created.request_id());
    assert_eq!(first["client_request_id"], "req-create-tenant");
    assert_eq!(first["created_at"], "2025-11-17T06:30:00.000000Z");
    for (entry, reply) in oldest_first[1..].iter().zip(&replies) {
        assert_eq!(entry["request_id"], reply.request_id(), "{entry}");
        assert_eq!(entry["client_request_id"], Value::Null, "{entry}");
        assert_eq!(entry["created_at"], "2025-11-17T07:30:00.000000Z");
        assert_eq!(entry["actor_email"], ADMIN_EMAIL);
    }
    let by_action = |action: &str| {
        oldest_first
            .iter()
            .find(|entry| entry["action"] == action)
            .unwrap()
            .clone()
    };
    let renamed = by_action("tenant.updated");
    assert_eq!(renamed["before"]["nombre"], "Campaña");
    assert_eq!(renamed["after"]["nombre"], "Campaña 2026");
    let user_created = by_action("user.created");
    assert_eq!(
        (&user_created["target_type"], &user_created["target_id"]),
        (&json!("user"), &json!(user))
    );
    assert_eq!(user_created["tenant_id"], tenant);
    assert_eq!(user_created["after"]["email"], "ana@relevo.test");
    let limit = by_action("instance.updated");
    assert_eq!(limit["target_type"], "instance");
    assert_eq!(limit["target_id"], instance);
    assert_eq!(limit["before"]["daily_message_limit"], 1000);
    assert_eq!(limit["after"]["daily_message_limit"], 1500);
    assert_eq!(
        by_action("instance.deactivated")["after"]["is_active"],
        false
    );
    let server_updated = by_action("evolution_server.updated");
    assert_eq!(server_updated["tenant_id"], Value::Null);
    assert_eq!(
        (
            &server_updated["before"]["name"],
            &server_updated["after"]["name"]
        ),
        (&json!("evo"), &json!("evo 2"))
    );
    let deleted = by_action("instance.deleted");
    assert_eq!(deleted["before"]["instance_name"], "principal");
    assert_eq!(deleted["after"], Value::Null);
    assert_eq!(
        by_action("tenant.deleted")["after"],
        json!({"force": false})
    );
}

async fn a_clients_request_id_is_kept_beside_relevos_only_when_well_formed(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let longest = "a".repeat(128);
    let too_long = "a".repeat(129);
    let cases = [
        ("campaign-42:step.7_B", Some("campaign-42:step.7_B")),
        (longest.as_str(), Some(longest.as_str())),
        (too_long.as_str(), None),
        ("two words", None),
        ("quote\"d", None),
        ("semi;colon", None),
        ("", None),
    ];

    for (n, (sent, kept)) in cases.iter().enumerate() {
        let body = json!({"slug": format!("t{n}"), "nombre": "T", "timezone": "UTC"});
        let reply =
            admin_with_request_id(&app, Method::POST, "/api/v1/tenants", Some(&body), sent).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{sent:?}: {}",
            reply.body
        );
        let tenant = reply.body["data"]["id"].as_i64().unwrap();
        let rows = audit_log(&app, &format!("?tenant_id={tenant}")).await;
        let row = &rows.body["data"][0];

        assert_eq!(row["request_id"], reply.request_id(), "{sent:?}");
        assert_ne!(row["request_id"], *sent, "{sent:?}");
        assert_eq!(row["client_request_id"], json!(kept), "{sent:?}");
    }
}

async fn a_deleted_admins_changes_stay_traceable(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let admin_b = my_id(&app, &app.admin_token).await;
    let created = app
        .create_user(json!({"email": "admin-a@relevo.test", "password": "admin-a-password-1", "role": "super_admin"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let admin_a = created.body["data"]["id"].as_i64().unwrap();
    let token_a = app
        .login_token("admin-a@relevo.test", "admin-a-password-1")
        .await;

    let tenant = app
        .send(
            Method::POST,
            "/api/v1/tenants",
            Some(&token_a),
            Some(&json!({"slug": "de-a", "nombre": "Tenant de A"})),
        )
        .await;
    assert_eq!(tenant.status, StatusCode::CREATED, "{}", tenant.body);
    let tenant = tenant.body["data"]["id"].as_i64().unwrap();
    let instance = app
        .send(
            Method::POST,
            &instances_path(tenant),
            Some(&token_a),
            Some(
                &json!({"phone_number": "+573001234567", "instance_name": "de_a",
                         "evolution_api_key": "key-a", "daily_message_limit": 50}),
            ),
        )
        .await;
    assert_eq!(instance.status, StatusCode::CREATED, "{}", instance.body);
    let deleted = app
        .admin(Method::DELETE, &format!("/api/v1/users/{admin_a}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);

    let by_a = audit_log(&app, &format!("?actor_id={admin_a}")).await;
    assert_eq!(by_a.status, StatusCode::OK, "{}", by_a.body);
    let by_a = by_a.body["data"].as_array().unwrap().clone();
    assert_eq!(
        actions(&by_a),
        ["instance.created", "tenant.created", "auth.login"]
    );
    for entry in &by_a {
        assert_eq!(entry["actor_id"], admin_a);
        assert_eq!(entry["actor_email"], "admin-a@relevo.test");
    }
    assert_eq!(by_a[0]["tenant_id"], tenant);
    assert_eq!(by_a[1]["tenant_id"], tenant);
    let deletion = audit_log(&app, &format!("?target_type=user&target_id={admin_a}")).await;
    let deletion = deletion.body["data"].as_array().unwrap().clone();
    assert_eq!(
        actions(&deletion),
        ["user.deleted", "auth.login", "user.created"]
    );
    assert_eq!(deletion[0]["actor_id"], admin_b);
    assert_eq!(deletion[0]["actor_email"], ADMIN_EMAIL);
    assert_eq!(deletion[0]["before"]["email"], "admin-a@relevo.test");
    assert_eq!(deletion[0]["before"]["role"], "super_admin");
}

async fn a_force_deleted_tenant_records_what_went_with_it(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let first = app
        .instance(tenant, "+573001234567", "principal", 100)
        .await;
    let second = app.instance(tenant, "+573001234568", "respaldo", 100).await;
    app.tenant_user_token(tenant, "ana@relevo.test").await;
    app.sender_token(tenant).await;
    let path = format!("/api/v1/tenants/{tenant}");

    let kept = app.admin(Method::DELETE, &path, None).await;
    assert_eq!(kept.status, StatusCode::CONFLICT, "{}", kept.body);
    assert!(entries_of(&app, "tenant.deleted").await.is_empty());
    let forced = app
        .admin(Method::DELETE, &format!("{path}?force=true"), None)
        .await;
    assert_eq!(forced.status, StatusCode::OK, "{}", forced.body);

    let deletions = entries_of(&app, "tenant.deleted").await;
    assert_eq!(deletions.len(), 1);
    let deletion = &deletions[0];
    assert_eq!(deletion["target_id"], tenant);
    assert_eq!(deletion["tenant_id"], tenant);
    assert_eq!(deletion["after"], json!({"force": true}));
    let before = &deletion["before"];
    assert_eq!(before["slug"], "candidato-alcaldia");
    assert_eq!(before["whatsapp_instances_count"], 2);
    assert_eq!(
        before["whatsapp_instances"],
        json!([
            {"id": first, "instance_name": "principal", "phone_number": "+573001234567"},
            {"id": second, "instance_name": "respaldo", "phone_number": "+573001234568"},
        ])
    );
    assert_eq!(before["users_count"], 1);
    assert_eq!(before["sender_tokens_count"], 1);
    // The rows of the tenant outlive it.
    let of_tenant = audit_log(&app, &format!("?tenant_id={tenant}")).await;
    assert_eq!(of_tenant.body["meta"]["total"], 6, "{}", of_tenant.body);
}

async fn a_counter_reset_records_the_counts_before_and_after(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let instance = app.instance(tenant, "+573001234567", "principal", 10).await;
    app.set_sent(instance, 7, "2025-11-17");

    let reset = app
        .admin(
            Method::POST,
            &format!("{}/reset-counter", instance_path(tenant, instance)),
            None,
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);

    let resets = entries_of(&app, "instance.counter_reset").await;
    assert_eq!(resets.len(), 1);
    let entry = &resets[0];
    assert_eq!(
        (
            &entry["target_type"],
            &entry["target_id"],
            &entry["tenant_id"]
        ),
        (&json!("instance"), &json!(instance), &json!(tenant))
    );
    let counts = |snapshot: &Value| {
        (
            snapshot["messages_sent_today"].clone(),
            snapshot["remaining_quota"].clone(),
        )
    };
    assert_eq!(counts(&entry["before"]), (json!(7), json!(3)));
    assert_eq!(counts(&entry["after"]), (json!(0), json!(10)));
    assert_eq!(entry["request_id"], reset.request_id());
}

async fn a_sender_token_revocation_is_recorded(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    app.instance(tenant, "+573001234567", "principal", 100)
        .await;
    let tokens = format!("/api/v1/tenants/{tenant}/sender-tokens");
    let issued = app
        .admin(
            Method::POST,
            &tokens,
            Some(&json!({"name": "campaign-worker", "expires_in_days": 30})),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
    let (id, token) = (
        issued.body["data"]["id"].as_i64().unwrap(),
        issued.body["data"]["token"].as_str().unwrap().to_string(),
    );

    let revoked = app
        .admin(Method::DELETE, &format!("{tokens}/{id}"), None)
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    let again = app
        .admin(Method::DELETE, &format!("{tokens}/{id}"), None)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{}", again.body);

    let log = audit_log(&app, &format!("?target_type=sender_token&target_id={id}")).await;
    let log = log.body["data"].as_array().unwrap().clone();
    assert_eq!(
        actions(&log),
        ["sender_token.revoked", "sender_token.created"]
    );
    let revocation = &log[0];
    assert_eq!(revocation["tenant_id"], tenant);
    assert_eq!(revocation["request_id"], revoked.request_id());
    assert_eq!(revocation["after"], Value::Null);
    assert_eq!(
        revocation["before"],
        json!({"id": id, "tenant_id": tenant, "name": "campaign-worker",
               "expires_at": "2025-12-17T06:30:00.000000Z", "created_at": "2025-11-17T06:30:00.000000Z"})
    );
    assert!(!serde_json::to_string(&log).unwrap().contains(&token));
}

async fn evolution_lifecycle_changes_are_recorded(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let provisioned = app
        .provision(tenant, &json!({"instance_name": "principal"}))
        .await;
    assert_eq!(
        provisioned.status,
        StatusCode::CREATED,
        "{}",
        provisioned.body
    );
    let id = provisioned.body["data"]["id"].as_i64().unwrap();
    let instance_url = instance_path(tenant, id);
    let call = |method: Method, action: &str, body: Option<Value>| {
        let path = format!("{instance_url}/{action}");
        let app = &app;
        async move { app.admin(method, &path, body.as_ref()).await }
    };
    let webhook = json!({"url": "https://hooks.example.com/capability-path-secret?key=query-secret",
                         "enabled": true, "events": ["CONNECTION_UPDATE"],
                         "headers": {"Authorization": "Bearer header-secret"}});
    let replies = [
        call(Method::POST, "connect", None).await,
        call(Method::POST, "restart", None).await,
        call(Method::POST, "logout", None).await,
        call(Method::PUT, "webhook", Some(webhook)).await,
        call(
            Method::PUT,
            "websocket",
            Some(json!({"enabled": true, "events": ["QRCODE_UPDATED"]})),
        )
        .await,
    ];
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    fake.state().restart_refuses = true;
    let refused = call(Method::POST, "restart", None).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    let deleted = app.admin(Method::DELETE, &instance_url, None).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    fake.fail(Failure::ServerError);
    let failed = app
        .provision(tenant, &json!({"instance_name": "fallido"}))
        .await;
    assert_eq!(failed.status, StatusCode::BAD_GATEWAY, "{}", failed.body);

    let mut log = entries(&app).await;
    log.reverse();
    assert_eq!(
        actions(&log),
        [
            "auth.login",
            "tenant.created",
            "instance.provisioned",
            "instance.connect",
            "instance.restart",
            "instance.logout",
            "instance.webhook_set",
            "instance.websocket_set",
            "instance.deleted",
            "instance.created",
        ]
    );
    let log = log.split_off(1); // the changes, after the test app's login
    let provision = &log[1];
    assert_eq!(provision["target_id"], id);
    assert_eq!(provision["before"], Value::Null);
    assert_eq!(provision["after"]["instance_name"], "principal");
    assert_eq!(provision["after"]["provisioned"], true);
    assert_eq!(provision["request_id"], provisioned.request_id());
    let logout = &log[4];
    assert_eq!(logout["after"]["connection_status"], "disconnected");
    assert_eq!(logout["request_id"], replies[2].request_id());
    assert_eq!(
        log[5]["after"],
        json!({"url_origin": "https://hooks.example.com", "enabled": true,
               "events": ["CONNECTION_UPDATE"], "by_events": false, "base64": false,
               "header_names": ["Authorization"]})
    );
    assert_eq!(
        log[6]["after"],
        json!({"enabled": true, "events": ["QRCODE_UPDATED"]})
    );
    // The failed provisioning left an instance in `error`: Relevo keeps it, so the log does.
    assert_eq!(log[8]["after"]["instance_name"], "fallido");
    assert_eq!(log[8]["after"]["connection_status"], "error");
    let text = serde_json::to_string(&log).unwrap();
    for secret in ["capability-path-secret", "query-secret", "header-secret"] {
        assert!(!text.contains(secret), "{secret} is in the audit log");
    }
}

async fn failed_changes_write_no_audit_row(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let admin_id = my_id(&app, &app.admin_token).await;
    let tenant = app.seed_tenant().await;
    let instance = app
        .instance(tenant, "+573001234567", "principal", 100)
        .await;
    let before = entries(&app).await.len();

    let attempts = [
        (
            app.create_tenant(json!({"slug": "NOT A SLUG"})).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            app.create_tenant(json!({"slug": "candidato-alcaldia", "nombre": "Otro"}))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            app.admin(Method::PUT, "/api/v1/tenants/999999", Some(&json!({"nombre": "x"})))
                .await,
            StatusCode::NOT_FOUND,
        ),
        (
            app.admin(Method::DELETE, &format!("/api/v1/tenants/{tenant}"), None)
                .await,
            StatusCode::CONFLICT,
        ),
        (
            app.admin(Method::DELETE, &format!("/api/v1/users/{admin_id}"), None)
                .await,
            StatusCode::CONFLICT,
        ),
        (
            app.admin(Method::DELETE, "/api/v1/users/999999", None)
                .await,
            StatusCode::NOT_FOUND,
        ),
        (
            app.create_user(json!({"email": "not-an-email", "password": "x", "role": "boss"}))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            app.create_instance(tenant, &json!({"phone_number": "+573001234567", "instance_name": "principal",
                                                "evolution_api_key": "k", "daily_message_limit": 5}))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            app.admin(
                Method::PUT,
                &instance_path(tenant, instance),
                Some(&json!({"daily_message_limit": 0})),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            app.admin(
                Method::POST,
                &format!("{}/toggle-active", instance_path(tenant, 999999)),
                None,
            )
            .await,
            StatusCode::NOT_FOUND,
        ),
        (
            app.admin(
                Method::POST,
                &format!("{}/reset-counter", instance_path(tenant, 999999)),
                None,
            )
            .await,
            StatusCode::NOT_FOUND,
        ),
        (
            app.admin(Method::DELETE, &instance_path(tenant, 999999), None)
                .await,
            StatusCode::NOT_FOUND,
        ),
        (
            app.admin(
                Method::POST,
                &format!("/api/v1/tenants/{tenant}/sender-tokens"),
                Some(&json!({"expires_in_days": 0})),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            app.admin(
                Method::DELETE,
                &format!("/api/v1/tenants/{tenant}/sender-tokens/999999"),
                None,
            )
            .await,
            StatusCode::NOT_FOUND,
        ),
        (
            app.admin(
                Method::POST,
                "/api/v1/evolution-servers",
                Some(&json!({"name": "evo"})),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            app.admin(Method::DELETE, "/api/v1/evolution-servers/999999", None)
                .await,
            StatusCode::NOT_FOUND,
        ),
    ];
    for (i, (reply, status)) in attempts.iter().enumerate() {
        assert_eq!(reply.status, *status, "[{i}] {}", reply.body);
    }
    assert_eq!(entries(&app).await.len(), before);
}

/// Installs a trigger that makes writing an audit row of one of `actions` fail.
fn refuse_audit_rows(app: &TestApp, actions: &str) {
    use relevo::db::DbConnection;
    let mut conn = app.db();
    let installed = match &mut conn {
        DbConnection::Postgres(pg) => pg.batch_execute(&format!(
            "CREATE FUNCTION refuse_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN RAISE EXCEPTION 'refused by the test'; END; $$;
             CREATE TRIGGER refuse_audit_row AFTER INSERT ON audit_log FOR EACH ROW
             WHEN (NEW.action IN ({actions})) EXECUTE FUNCTION refuse_audit_row();"
        )),
        DbConnection::Sqlite(sqlite) => sqlite.batch_execute(&format!(
            "CREATE TRIGGER refuse_audit_row AFTER INSERT ON audit_log
             WHEN NEW.action IN ({actions})
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
        )),
    };
    installed.expect("trigger installed");
}

async fn a_change_whose_transaction_fails_leaves_neither_change_nor_row(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let instance = app
        .instance(tenant, "+573001234567", "principal", 100)
        .await;
    let token = app.sender_token(tenant).await;
    let token_id = entries_of(&app, "sender_token.created").await[0]["target_id"]
        .as_i64()
        .unwrap();
    let before = entries(&app).await.len();
    refuse_audit_rows(
        &app,
        "'tenant.updated', 'sender_token.revoked', 'instance.counter_reset', 'user.created'",
    );
    app.set_sent(instance, 7, "2025-11-17");

    let renamed = app
        .admin(
            Method::PUT,
            &format!("/api/v1/tenants/{tenant}"),
            Some(&json!({"nombre": "Nunca"})),
        )
        .await;
    let revoked = app
        .admin(
            Method::DELETE,
            &format!("/api/v1/tenants/{tenant}/sender-tokens/{token_id}"),
            None,
        )
        .await;
    let reset = app
        .admin(
            Method::POST,
            &format!("{}/reset-counter", instance_path(tenant, instance)),
            None,
        )
        .await;
    let user = app
        .create_user(
            json!({"email": "ana@relevo.test", "password": "tenant-password-1",
                            "role": "tenant_user", "tenant_id": tenant}),
        )
        .await;
    for reply in [&renamed, &revoked, &reset, &user] {
        assert!(
            reply.status.is_server_error(),
            "{} {}",
            reply.status,
            reply.body
        );
        assert!(reply.body["message"].is_string(), "{}", reply.body);
    }

    // Nothing changed, and nothing was recorded.
    let shown = app
        .admin(Method::GET, &format!("/api/v1/tenants/{tenant}"), None)
        .await;
    assert_eq!(shown.body["data"]["nombre"], "Juan Pérez - Alcaldía");
    let claim = app.claim(tenant, &token, json!({})).await;
    assert_eq!(
        claim.status,
        StatusCode::OK,
        "the token was revoked: {}",
        claim.body
    );
    assert_eq!(app.sent_today(tenant, instance).await, 8);
    assert_eq!(app.list_total("/api/v1/users").await, 1);
    assert_eq!(entries(&app).await.len(), before);
}

/// The secrets as stored that a change replaces: tenants' callback secrets, instances'
/// Evolution keys and servers' API keys.
fn replaceable_secrets(conn: &mut relevo::db::DbConnection) -> Vec<Option<String>> {
    use relevo::db::schema::{evolution_servers, tenants, whatsapp_instances};
    let mut stored: Vec<Option<String>> = tenants::table
        .select(tenants::callback_secret_encrypted)
        .load(conn)
        .unwrap();
    stored.extend(
        whatsapp_instances::table
            .select(whatsapp_instances::evolution_api_key_encrypted)
            .load::<String>(conn)
            .unwrap()
            .into_iter()
            .map(Some),
    );
    stored.extend(
        evolution_servers::table
            .select(evolution_servers::api_key_encrypted)
            .load::<Option<String>>(conn)
            .unwrap(),
    );
    stored
}

async fn audit_rows_never_contain_a_secret(backend: Backend) {
    use relevo::db::schema::{audit_log, sender_tokens, users};
    let app = spawn_or_skip!(backend);
    let tenant = app
        .create_tenant(json!({"slug": "secreta", "nombre": "Secreta",
                              "callback_url": "https://cb.example.com/hook",
                              "callback_secret": "callback-secret-first-0123"}))
        .await;
    assert_eq!(tenant.status, StatusCode::CREATED, "{}", tenant.body);
    let tenant = tenant.body["data"]["id"].as_i64().unwrap();
    let tenant_path = format!("/api/v1/tenants/{tenant}");
    let user = app
        .create_user(
            json!({"email": "ana@relevo.test", "password": "user-password-secret-1",
                            "role": "tenant_user", "tenant_id": tenant}),
        )
        .await;
    let instance = app
        .create_instance(tenant, &json!({"phone_number": "+573001234567", "instance_name": "principal",
                                        "evolution_api_key": "instance-key-secret-1", "daily_message_limit": 100}))
        .await;
    let instance = instance.body["data"]["id"].as_i64().unwrap();
    let server = app
        .admin(
            Method::POST,
            "/api/v1/evolution-servers",
            Some(
                &json!({"name": "evo", "base_url": "https://evo.example.com",
                         "api_key": "server-key-secret-1", "is_default": false}),
            ),
        )
        .await;
    let server = server.body["data"]["id"].as_i64().unwrap();
    let token = app.sender_token(tenant).await;
    let mut secrets: Vec<String> = [
        "callback-secret-first-0123",
        "callback-secret-rotated-4567",
        "user-password-secret-1",
        "instance-key-secret-1",
        "instance-key-secret-2",
        "server-key-secret-1",
        "server-key-secret-2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    secrets.push(token);
    // What the database holds for them, before the changes below replace or delete it.
    let mut conn = app.db();
    let mut stored = |more: Vec<Option<String>>| secrets.extend(more.into_iter().flatten());
    stored(
        users::table
            .select(users::password_hash)
            .load::<String>(&mut conn)
            .unwrap()
            .into_iter()
            .map(Some)
            .collect(),
    );
    stored(
        sender_tokens::table
            .select(sender_tokens::token_hash)
            .load::<String>(&mut conn)
            .unwrap()
            .into_iter()
            .map(Some)
            .collect(),
    );
    stored(replaceable_secrets(&mut conn));

    let changes = [
        app.admin(
            Method::PUT,
            &tenant_path,
            Some(&json!({"callback_secret": "callback-secret-rotated-4567"})),
        )
        .await,
        app.admin(
            Method::PUT,
            &instance_path(tenant, instance),
            Some(&json!({"evolution_api_key": "instance-key-secret-2"})),
        )
        .await,
        app.admin(
            Method::PUT,
            &format!("/api/v1/evolution-servers/{server}"),
            Some(&json!({"api_key": "server-key-secret-2"})),
        )
        .await,
    ];
    for reply in &changes {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    stored(replaceable_secrets(&mut conn));
    let token_id = entries_of(&app, "sender_token.created").await[0]["target_id"]
        .as_i64()
        .unwrap();
    let user_id = user.body["data"]["id"].as_i64().unwrap();
    for path in [
        format!("/api/v1/tenants/{tenant}/sender-tokens/{token_id}"),
        format!("/api/v1/users/{user_id}"),
        format!("/api/v1/evolution-servers/{server}"),
        format!("{tenant_path}?force=true"),
    ] {
        let reply = app.admin(Method::DELETE, &path, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
    }

    // Every row as the database holds it, and as the API answers it.
    let rows: Vec<(Option<String>, Option<String>)> = audit_log::table
        .select((audit_log::before_json, audit_log::after_json))
        .load(&mut conn)
        .unwrap();
    assert!(rows.len() >= 12, "{rows:?}");
    let mut texts: Vec<String> = rows
        .into_iter()
        .flat_map(|(before, after)| [before, after])
        .flatten()
        .collect();
    texts.push(serde_json::to_string(&entries(&app).await).unwrap());
    for secret in &secrets {
        for text in &texts {
            assert!(
                !text.contains(secret.as_str()),
                "a secret is in the audit log: {text}"
            );
        }
    }
    // The snapshots still say that a secret is set.
    let tenant_created = entries_of(&app, "tenant.created").await;
    assert_eq!(tenant_created[0]["after"]["has_callback_secret"], true);
    let server_updated = entries_of(&app, "evolution_server.updated").await;
    assert_eq!(server_updated[0]["after"]["has_api_key"], true);
}

async fn only_super_admins_read_the_audit_log(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let tenant_user = app.tenant_user_token(tenant, "ana@relevo.test").await;
    let sender = app.sender_token(tenant).await;

    let anonymous = app.send(Method::GET, "/api/v1/audit-log", None, None).await;
    let as_tenant_user = app
        .send(Method::GET, "/api/v1/audit-log", Some(&tenant_user), None)
        .await;
    let as_sender = app
        .send(Method::GET, "/api/v1/audit-log", Some(&sender), None)
        .await;
    let as_admin = audit_log(&app, "").await;

    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(as_tenant_user.status, StatusCode::FORBIDDEN);
    assert_eq!(as_sender.status, StatusCode::FORBIDDEN);
    assert_eq!(
        as_tenant_user.body,
        json!({"message": "This action is unauthorized."})
    );
    assert_eq!(as_admin.status, StatusCode::OK, "{}", as_admin.body);
    // The tenant, the user, the sender token, and the test app's login as the admin.
    assert_eq!(as_admin.body["meta"]["total"], 4);
}

async fn filters_narrow_the_log_and_pages_run_newest_first(backend: Backend) {
    let app = spawn_or_skip!(backend);
    // Day 1 (2025-11-17): the admin (logged in) creates admin B, who logs in, and the
    // first tenant.
    let created = app
        .create_user(json!({"email": "admin-b@relevo.test", "password": "admin-b-password-1", "role": "super_admin"}))
        .await;
    let admin_b = created.body["data"]["id"].as_i64().unwrap();
    let token_b = app
        .login_token("admin-b@relevo.test", "admin-b-password-1")
        .await;
    let first = app.tenant_named("primero", "UTC").await;
    // Day 2: the second tenant and its instance.
    app.clock.advance(Duration::days(1));
    let second = app.tenant_named("segundo", "UTC").await;
    let instance = app
        .instance(second, "+573001234567", "principal", 100)
        .await;
    // Day 3: admin B renames the first tenant.
    app.clock.advance(Duration::days(1));
    let renamed = app
        .send(
            Method::PUT,
            &format!("/api/v1/tenants/{first}"),
            Some(&token_b),
            Some(&json!({"nombre": "Primero"})),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);

    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            String::new(),
            vec![
                "tenant.updated",
                "instance.created",
                "tenant.created",
                "tenant.created",
                "auth.login",
                "user.created",
                "auth.login",
            ],
        ),
        (
            format!("?actor_id={admin_b}"),
            vec!["tenant.updated", "auth.login"],
        ),
        (
            "?action=auth.login".into(),
            vec!["auth.login", "auth.login"],
        ),
        (
            format!("?tenant_id={second}"),
            vec!["instance.created", "tenant.created"],
        ),
        (
            "?action=tenant.created".into(),
            vec!["tenant.created", "tenant.created"],
        ),
        ("?target_type=instance".into(), vec!["instance.created"]),
        (
            format!("?target_type=tenant&target_id={first}"),
            vec!["tenant.updated", "tenant.created"],
        ),
        (
            format!("?target_type=instance&target_id={instance}&tenant_id={second}"),
            vec!["instance.created"],
        ),
        (
            "?from=2025-11-18".into(),
            vec!["tenant.updated", "instance.created", "tenant.created"],
        ),
        (
            "?to=2025-11-17".into(),
            vec!["tenant.created", "auth.login", "user.created", "auth.login"],
        ),
        (
            "?from=2025-11-18T00:00:00Z&to=2025-11-18T23:59:59Z".into(),
            vec!["instance.created", "tenant.created"],
        ),
        (
            "?from=2025-11-18T06:30:00Z&to=2025-11-18T06:30:00Z".into(),
            vec!["instance.created", "tenant.created"],
        ),
        (
            "?from=2025-11-18T01:30:00.000001-05:00".into(),
            vec!["tenant.updated"],
        ),
        ("?action=user.deleted".into(), vec![]),
    ];
    for (query, expected) in cases {
        let reply = audit_log(&app, &query).await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.body);
        let found = actions(reply.body["data"].as_array().unwrap());
        assert_eq!(found, expected, "{query}");
        assert_eq!(reply.body["meta"]["total"], expected.len(), "{query}");
    }

    let page = audit_log(&app, "?per_page=2&page=2").await;
    assert_eq!(
        page.body["meta"],
        json!({"total": 7, "current_page": 2, "last_page": 4, "per_page": 2})
    );
    let rows = page.body["data"].as_array().unwrap();
    assert_eq!(actions(rows), ["tenant.created", "tenant.created"]);
    assert_eq!(rows[0]["target_id"], second);
    assert_eq!(rows[0]["created_at"], "2025-11-18T06:30:00.000000Z");
    assert_eq!(rows[1]["target_id"], first);
    assert_eq!(rows[1]["created_at"], "2025-11-17T06:30:00.000000Z");
    let keys: Vec<&String> = rows[0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "id",
            "actor_id",
            "actor_email",
            "action",
            "target_type",
            "target_id",
            "tenant_id",
            "before",
            "after",
            "request_id",
            "client_request_id",
            "created_at"
        ]
    );
}

async fn invalid_filters_are_all_listed(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let reply = audit_log(
        &app,
        "?actor_id=abc&tenant_id=0&action=tenant.exploded&target_type=planet&target_id=-1\
         &from=yesterday&to=2025-13-01&page=0&per_page=101",
    )
    .await;
    assert_invalid(
        &reply,
        &[
            "from",
            "to",
            "actor_id",
            "tenant_id",
            "action",
            "target_type",
            "target_id",
            "page",
            "per_page",
        ],
    );

    // Empty values are given, not absent; a day must exist.
    let empty = audit_log(
        &app,
        "?actor_id=&tenant_id=&action=&target_type=&target_id=&from=&to=2025-02-29&page=&per_page=",
    )
    .await;
    assert_invalid(
        &empty,
        &[
            "from",
            "to",
            "actor_id",
            "tenant_id",
            "action",
            "target_type",
            "target_id",
            "page",
            "per_page",
        ],
    );
    // Surrounding spaces are dropped, and a time zone may move a moment before year 1.
    let spaced = audit_log(
        &app,
        "?from=%20%090001-01-01T00:30:00%2B01:00%0A&to=2025-11-17t23:59:60z",
    )
    .await;
    assert_eq!(spaced.status, StatusCode::OK, "{}", spaced.body);

    let backwards = audit_log(&app, "?from=2025-11-18&to=2025-11-17").await;
    assert_error(
        &backwards,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation.failed",
    );
    assert_eq!(
        backwards.body["errors"],
        json!({"to": ["El campo to debe ser una fecha posterior o igual a from."]})
    );
}

/// Audited handlers wrap the table functions' own transactions in theirs: a write
/// transaction opened inside another joins it (a savepoint) instead of waiting for the
/// writer queue its caller holds.
async fn a_write_transaction_inside_another_joins_it(backend: Backend) {
    use relevo::db::write_transaction;
    let app = spawn_or_skip!(backend);
    let mut conn = app.db();
    // On a thread of its own, so that a deadlock fails the test instead of hanging it.
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let outcome = write_transaction(&mut conn, |outer| {
            write_transaction(outer, |inner| {
                diesel::sql_query("UPDATE tenants SET nombre = nombre").execute(inner)
            })
        });
        let _ = sender.send(outcome);
    });
    let outcome = receiver
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the inner transaction waited for its caller");
    assert_eq!(outcome, Ok(0));
}
