//! Connect, QR, logout, restart, connection state, delete, webhook and websocket of an
//! instance, against the fake Evolution server: each happy path, and each way the server
//! fails, with what the database and the fake hold afterwards.

use relevo::domain::ConnectionStatus;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::evolution_fake::{Failure, FakeEvolution, GLOBAL_KEY, SHORT_TIMEOUT_MS};
use crate::helpers::{assert_error, assert_error_in, instance_path, Backend, Reply, TestApp};
use crate::{spawn_or_skip, spawn_with_fake_or_skip};

async fn call(
    app: &TestApp,
    method: Method,
    tenant: i64,
    id: i64,
    action: &str,
    body: Option<&Value>,
) -> Reply {
    app.admin(
        method,
        &format!("{}/{action}", instance_path(tenant, id)),
        body,
    )
    .await
}

/// The columns Evolution's answers change.
fn remote_columns(app: &TestApp, id: i64) -> Value {
    let row = app.instance_row(id);
    json!({
        "status": row.connection_status, "qr": row.qr_code, "pairing": row.pairing_code,
        "checked": row.last_checked_at.map(|t| t.to_string()),
        "connected": row.connected_at.map(|t| t.to_string()),
    })
}

async fn connect_gives_a_fresh_qr_code_or_a_pairing_code(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app.provisioned(tenant, "principal").await;

    let plain = call(&app, Method::POST, tenant, id, "connect", None).await;
    let last = call(&app, Method::GET, tenant, id, "qr", None).await;
    let paired = call(
        &app,
        Method::POST,
        tenant,
        id,
        "connect",
        Some(&json!({"phone_number": "+573001234567"})),
    )
    .await;
    let bad_phone = call(
        &app,
        Method::POST,
        tenant,
        id,
        "connect",
        Some(&json!({"phone_number": "3001234567"})),
    )
    .await;

    assert_eq!(plain.status, StatusCode::OK, "{}", plain.body);
    assert_eq!(plain.body["data"]["qr_code"]["code"], "2@principal-qr-2");
    assert_eq!(plain.body["data"]["connection_status"], "connecting");
    assert!(plain.body["data"].get("evolution_api_key").is_none());
    assert_eq!(last.status, StatusCode::OK);
    assert_eq!(last.body["data"]["qr_code"], plain.body["data"]["qr_code"]);
    assert_eq!(paired.body["data"]["qr_code"]["pairing_code"], "PAIR0003");
    assert_eq!(fake.state().last_number.as_deref(), Some("573001234567"));
    assert_eq!(bad_phone.status, StatusCode::UNPROCESSABLE_ENTITY);
    let row = app.instance_row(id);
    assert_eq!(row.qr_code.as_deref(), Some("2@principal-qr-3"));
    assert_eq!(row.pairing_code.as_deref(), Some("PAIR0003"));
    assert_eq!(fake.instance("principal").unwrap().qr_count, 3);

    // A QR code that never comes replaces the old one with nothing.
    fake.state().qr_never_arrives = true;
    let pending = call(&app, Method::POST, tenant, id, "connect", None).await;
    assert_eq!(pending.status, StatusCode::OK);
    assert_eq!(pending.body["data"]["qr_code"]["code"], Value::Null);
    assert_eq!(app.instance_row(id).qr_code, None);
    assert_eq!(
        app.instance_row(id).connection_status,
        ConnectionStatus::Connecting
    );

    // Linked on the phone: no QR code, connected since now.
    fake.link("principal", "573001234567@s.whatsapp.net");
    app.clock.advance(chrono::Duration::minutes(5));
    let linked = call(&app, Method::POST, tenant, id, "connect", None).await;
    assert_eq!(linked.body["data"]["connection_status"], "connected");
    assert_eq!(
        linked.body["data"]["connected_at"],
        "2025-11-17T06:35:00.000000Z"
    );
    assert_eq!(linked.body["data"]["qr_code"]["base64"], Value::Null);
    assert_eq!(
        app.instance_row(id).connection_status,
        ConnectionStatus::Connected
    );
}

async fn connection_state_reads_the_live_state(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app.provisioned(tenant, "principal").await;
    fake.link("principal", "573001234567@s.whatsapp.net");
    app.clock.advance(chrono::Duration::minutes(1));

    let open = call(&app, Method::GET, tenant, id, "connection-state", None).await;
    fake.state().instances.get_mut("principal").unwrap().state = "close".into();
    app.clock.advance(chrono::Duration::minutes(1));
    let closed = call(&app, Method::GET, tenant, id, "connection-state", None).await;

    assert_eq!(open.status, StatusCode::OK, "{}", open.body);
    assert_eq!(open.body["data"]["connection_status"], "connected");
    assert_eq!(
        open.body["data"]["connected_at"],
        "2025-11-17T06:31:00.000000Z"
    );
    assert_eq!(closed.body["data"]["connection_status"], "disconnected");
    assert_eq!(closed.body["data"]["can_send_messages"], false);
    let row = app.instance_row(id);
    assert_eq!(row.connection_status, ConnectionStatus::Disconnected);
    assert_eq!(
        row.last_checked_at.unwrap().to_string(),
        "2025-11-17 06:32:00"
    );
    assert_eq!(row.connected_at.unwrap().to_string(), "2025-11-17 06:31:00");
}

/// A logout is done only when Evolution did it: its 400 "not connected" (the instance may
/// be looping while it reconnects) is a 409 that changes nothing and audits nothing.
async fn logout_is_done_only_when_evolution_did_it(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app.provisioned(tenant, "principal").await;
    fake.link("principal", "573001234567@s.whatsapp.net");

    let first = call(&app, Method::POST, tenant, id, "logout", None).await;
    let again = call(&app, Method::POST, tenant, id, "logout", None).await;

    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["data"]["connection_status"], "disconnected");
    let after_first = app.instance_row(id);
    assert_error_in(
        &again,
        StatusCode::CONFLICT,
        "evolution.instance_not_connected",
        "refused",
    );
    let message = again.body["message"].as_str().unwrap();
    assert!(message.contains("did not log out `principal`"), "{message}");
    assert!(
        again.body["error_params"]["upstream"]
            .as_str()
            .unwrap()
            .contains("not connected"),
        "Evolution's words only in error_params.upstream: {}",
        again.body
    );
    assert_eq!(fake.instance("principal").unwrap().state, "close");
    let row = app.instance_row(id);
    assert_eq!(row.connection_status, ConnectionStatus::Disconnected);
    assert_eq!(row.qr_code, None, "the old QR code is gone");
    assert_eq!(
        row.updated_at, after_first.updated_at,
        "the refusal changed nothing"
    );
    assert_eq!(fake.calls_to("DELETE /instance/logout/"), 2);
    let audit = app
        .admin(
            Method::GET,
            "/api/v1/audit-log?action=instance.logout",
            None,
        )
        .await;
    assert_eq!(
        audit.body["meta"]["total"], 1,
        "only the logout that happened"
    );
}

async fn restart_answers_a_qr_code_or_refuses_an_instance_not_connected(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app.provisioned(tenant, "principal").await;

    let restarted = call(&app, Method::POST, tenant, id, "restart", None).await;
    fake.state().qr_never_arrives = true;
    let no_qr = call(&app, Method::POST, tenant, id, "restart", None).await;
    fake.state().restart_refuses = true;
    let refused = call(&app, Method::POST, tenant, id, "restart", None).await;

    assert_eq!(restarted.status, StatusCode::OK, "{}", restarted.body);
    assert_eq!(
        restarted.body["data"]["qr_code"]["code"],
        "2@principal-qr-2"
    );
    assert_eq!(restarted.body["data"]["connection_status"], "connecting");
    assert!(fake
        .calls()
        .contains(&"POST /instance/restart/principal".to_string()));
    assert_eq!(no_qr.status, StatusCode::OK);
    assert_eq!(no_qr.body["data"]["qr_code"]["code"], Value::Null);
    assert_error_in(
        &refused,
        StatusCode::CONFLICT,
        "evolution.instance_not_connected",
        "refused",
    );
    assert!(
        !refused.body.to_string().contains("[object Object]"),
        "{}",
        refused.body
    );
    let row = app.instance_row(id);
    assert_eq!(
        row.connection_status,
        ConnectionStatus::Connecting,
        "a refusal changes nothing"
    );
    assert_eq!(app.instance_rows().len(), 1);
    let audit = app
        .admin(
            Method::GET,
            "/api/v1/audit-log?action=instance.restart",
            None,
        )
        .await;
    assert_eq!(
        audit.body["meta"]["total"], 2,
        "the two restarts that happened"
    );
}

async fn delete_removes_a_provisioned_instance_on_evolution_first(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let kept = app.provisioned(tenant, "a_borrar").await;
    let lost = app.provisioned(tenant, "perdida").await;
    let registered = app
        .instance(tenant, "+573009876543", "registrada", 100)
        .await;
    fake.lose_instance("perdida");

    let deleted = app
        .admin(Method::DELETE, &instance_path(tenant, kept), None)
        .await;
    let gone_remotely = app
        .admin(Method::DELETE, &instance_path(tenant, lost), None)
        .await;
    let local_only = app
        .admin(Method::DELETE, &instance_path(tenant, registered), None)
        .await;

    for reply in [&deleted, &gone_remotely, &local_only] {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(
            reply.body["message"],
            "WhatsApp instance deleted successfully"
        );
    }
    assert!(app.instance_rows().is_empty());
    assert!(fake.instance_names().is_empty());
    let remote_calls: Vec<String> = fake
        .calls()
        .into_iter()
        .filter(|c| {
            ["POST /webhook/set/", "DELETE /instance/"]
                .iter()
                .any(|prefix| c.starts_with(prefix))
        })
        .collect();
    assert_eq!(
        remote_calls,
        [
            // Nothing of it may speak to Relevo afterwards: its webhook off, its
            // WhatsApp out, then the delete.
            "POST /webhook/set/a_borrar",
            "DELETE /instance/logout/a_borrar",
            "DELETE /instance/delete/a_borrar",
            // Evolution no longer has it (404): done.
            "POST /webhook/set/perdida",
        ],
        "a registered instance is not deleted on Evolution"
    );
}

/// The real server's connection loops when WhatsApp cannot be reached; a logout is
/// refused at every `close` moment of the loop, and a delete at such a moment leaves the
/// connection reconnecting under the deleted name. A delete logs the loop out at a
/// `connecting` moment first, so nothing keeps running.
async fn deleting_a_looping_instance_leaves_nothing_reconnecting(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app.provisioned(tenant, "bucle").await;
    fake.start_looping("bucle");

    let deleted = app
        .admin(Method::DELETE, &instance_path(tenant, id), None)
        .await;

    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(
        deleted.body["message"],
        "WhatsApp instance deleted successfully"
    );
    assert!(fake.instance_names().is_empty());
    assert!(fake.zombies().is_empty(), "{:?}", fake.zombies());
    let calls: Vec<String> = fake
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("DELETE /instance/") || c.contains("connectionState"))
        .collect();
    assert_eq!(
        calls,
        [
            "DELETE /instance/logout/bucle",
            "GET /instance/connectionState/bucle",
            "DELETE /instance/logout/bucle",
            "DELETE /instance/delete/bucle",
        ],
        "refused at a `close` moment, logged out at the next `connecting` one"
    );
}

/// When Evolution refuses every logout of a looping connection, the instance is still
/// deleted, and the answer and the audit log say that its connection may go on.
async fn a_delete_whose_logouts_were_refused_says_what_may_keep_running(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app.provisioned(tenant, "bucle").await;
    fake.start_looping("bucle");
    fake.state().logout_refuses = true;

    let deleted = app
        .admin(Method::DELETE, &instance_path(tenant, id), None)
        .await;

    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    let message = deleted.body["message"].as_str().unwrap();
    assert!(
        message.contains("may go on reconnecting")
            && message.contains("restart the Evolution server"),
        "{message}"
    );
    assert!(app.instance_rows().is_empty());
    assert_eq!(
        fake.zombies().len(),
        1,
        "the fake kept it, as the real server does"
    );
    let audit = app
        .admin(
            Method::GET,
            "/api/v1/audit-log?action=instance.deleted",
            None,
        )
        .await;
    assert_eq!(audit.body["meta"]["total"], 1, "{}", audit.body);
    assert_eq!(
        audit.body["data"][0]["after"]["may_keep_reconnecting"],
        true
    );
}

async fn delete_keeps_everything_when_evolution_fails_unless_forced(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app.provisioned(tenant, "principal").await;
    let slow = app.provisioned(tenant, "lenta").await;
    let path = instance_path(tenant, id);

    fake.fail(Failure::ServerError);
    let failing = app.admin(Method::DELETE, &path, None).await;
    fake.recover();
    fake.rotate_global_key();
    let rejected = app.admin(Method::DELETE, &path, None).await;
    let invalid = app
        .admin(Method::DELETE, &format!("{path}?force=perhaps"), None)
        .await;

    assert_error_in(
        &failing,
        StatusCode::BAD_GATEWAY,
        "evolution.unavailable",
        "500",
    );
    assert_error_in(
        &rejected,
        StatusCode::BAD_GATEWAY,
        "evolution.unauthorized",
        "401",
    );
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.instance_rows().len(), 2, "nothing was deleted");
    assert!(fake.instance("principal").is_some());

    let forced = app
        .admin(Method::DELETE, &format!("{path}?force=true"), None)
        .await;

    assert_eq!(forced.status, StatusCode::OK, "{}", forced.body);
    assert_eq!(app.instance_rows().len(), 1);
    assert!(
        fake.instance("principal").is_some(),
        "Evolution refused; it keeps it"
    );

    fake.state().global_key = crate::evolution_fake::GLOBAL_KEY.into();
    fake.fail(Failure::Slow);
    let timed_out = app
        .admin(Method::DELETE, &instance_path(tenant, slow), None)
        .await;
    assert_error_in(
        &timed_out,
        StatusCode::GATEWAY_TIMEOUT,
        "evolution.timeout",
        "slow",
    );
    assert_eq!(
        app.instance_row(slow).instance_name,
        "lenta",
        "the row is kept"
    );
}

async fn webhook_and_websocket_settings_round_trip(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app.provisioned(tenant, "principal").await;

    let unset = call(&app, Method::GET, tenant, id, "webhook", None).await;
    let webhook = json!({"url": "https://hooks.example.com/wa", "enabled": true,
        "events": ["CONNECTION_UPDATE", "MESSAGES_UPSERT"], "by_events": true,
        "headers": {"authorization": "Bearer abc"}});
    let set = call(&app, Method::PUT, tenant, id, "webhook", Some(&webhook)).await;
    let read = call(&app, Method::GET, tenant, id, "webhook", None).await;
    let websocket = json!({"enabled": true, "events": ["QRCODE_UPDATED"]});
    let ws_set = call(&app, Method::PUT, tenant, id, "websocket", Some(&websocket)).await;
    let ws_read = call(&app, Method::GET, tenant, id, "websocket", None).await;

    assert_eq!(
        unset.body["data"],
        json!({"url": null, "enabled": false, "events": [], "by_events": false, "base64": false, "headers": {}})
    );
    let expected = json!({"url": "https://hooks.example.com/wa", "enabled": true,
        "events": ["CONNECTION_UPDATE", "MESSAGES_UPSERT"], "by_events": true, "base64": false,
        "headers": {"authorization": "Bearer abc"}});
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["data"], expected);
    assert_eq!(read.body["data"], expected);
    let stored = fake.instance("principal").unwrap().webhook.unwrap();
    assert_eq!(stored["webhookByEvents"], true);
    assert_eq!(
        stored["events"],
        json!(["CONNECTION_UPDATE", "MESSAGES_UPSERT"])
    );
    assert_eq!(ws_set.status, StatusCode::OK, "{}", ws_set.body);
    assert_eq!(
        ws_set.body["data"],
        json!({"enabled": true, "events": ["QRCODE_UPDATED"]})
    );
    assert_eq!(ws_read.body["data"], ws_set.body["data"]);

    // Websockets switched off on the server: nothing can be stored.
    fake.state().websocket_enabled = false;
    let off = call(&app, Method::PUT, tenant, id, "websocket", Some(&websocket)).await;
    let off_read = call(&app, Method::GET, tenant, id, "websocket", None).await;
    assert_error_in(
        &off,
        StatusCode::CONFLICT,
        "evolution.websocket_disabled",
        "websocket off",
    );
    assert_eq!(
        off_read.body["data"],
        json!({"enabled": false, "events": []})
    );
    assert_eq!(
        app.instance_row(id).connection_status,
        ConnectionStatus::Connecting
    );
}

async fn unknown_events_and_bad_settings_are_422_before_any_call(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app.provisioned(tenant, "principal").await;
    let calls_before = fake.calls().len();

    let webhook = call(
        &app,
        Method::PUT,
        tenant,
        id,
        "webhook",
        Some(&json!({
            "url": "ftp://hooks.example.com", "enabled": "maybe",
            "events": ["CONNECTION_UPDATE", "NOT_AN_EVENT", 5], "headers": {"x-number": 1}
        })),
    )
    .await;
    let websocket = call(
        &app,
        Method::PUT,
        tenant,
        id,
        "websocket",
        Some(&json!({"events": "all"})),
    )
    .await;

    assert_error(
        &webhook,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation.failed",
    );
    let errors = &webhook.body["errors"];
    assert_eq!(
        errors["events.1"][0],
        "El evento NOT_AN_EVENT no es un evento de Evolution API."
    );
    for field in ["url", "enabled", "events.2", "headers.x-number"] {
        assert!(errors.get(field).is_some(), "{field}: {errors}");
    }
    assert!(errors.get("events.0").is_none());
    assert_error(
        &websocket,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation.failed",
    );
    assert_eq!(
        websocket.body["errors"]["enabled"][0],
        "El campo enabled es obligatorio."
    );
    assert_eq!(
        websocket.body["errors"]["events"][0],
        "El campo events debe ser una lista."
    );
    assert_eq!(fake.calls().len(), calls_before, "Evolution was not called");
    assert!(fake.instance("principal").unwrap().webhook.is_none());
}

/// Every lifecycle call once, with a valid body where one is needed.
fn lifecycle_calls() -> Vec<(&'static str, Method, &'static str, Option<Value>)> {
    vec![
        ("connect", Method::POST, "connect", None),
        ("logout", Method::POST, "logout", None),
        ("restart", Method::POST, "restart", None),
        ("connection-state", Method::GET, "connection-state", None),
        ("webhook get", Method::GET, "webhook", None),
        (
            "webhook set",
            Method::PUT,
            "webhook",
            Some(
                json!({"url": "https://hooks.example.com", "enabled": true, "events": ["CONNECTION_UPDATE"]}),
            ),
        ),
        ("websocket get", Method::GET, "websocket", None),
        (
            "websocket set",
            Method::PUT,
            "websocket",
            Some(json!({"enabled": true, "events": []})),
        ),
    ]
}

/// Makes the fake fail with `fail`, calls every lifecycle endpoint and delete through
/// `caller` (`app`, or another process on its database), and checks each answer and that
/// the instance and the fake are unchanged.
async fn every_call_fails_and_changes_nothing(
    app: &TestApp,
    caller: &TestApp,
    fake: &FakeEvolution,
    fail: impl Fn(&FakeEvolution),
    status: StatusCode,
    key: &str,
) -> i64 {
    let tenant = app.seed_tenant().await;
    let id = app.provisioned(tenant, "principal").await;
    let before = remote_columns(app, id);
    fail(fake);
    for (case, method, action, body) in lifecycle_calls() {
        let reply = call(caller, method, tenant, id, action, body.as_ref()).await;
        assert_error_in(&reply, status, key, case);
        assert_eq!(
            remote_columns(app, id),
            before,
            "[{case}] the row is unchanged"
        );
    }
    let delete = caller
        .admin(Method::DELETE, &instance_path(tenant, id), None)
        .await;
    assert_error_in(&delete, status, key, "delete");
    assert_eq!(app.instance_rows().len(), 1, "nothing was deleted");
    id
}

/// The fake still has the instance as provisioning left it.
fn assert_fake_untouched(fake: &FakeEvolution) {
    let remote = fake.instance("principal").expect("the fake keeps it");
    assert_eq!(remote.state, "connecting");
    assert!(remote.webhook.is_none() && remote.websocket.is_none());
}

async fn every_call_answers_502_when_evolution_fails(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let fail = |fake: &FakeEvolution| fake.fail(Failure::ServerError);
    every_call_fails_and_changes_nothing(
        &app,
        &app,
        &fake,
        fail,
        StatusCode::BAD_GATEWAY,
        "evolution.unavailable",
    )
    .await;
    assert_fake_untouched(&fake);
}

/// Every call waits out the timeout: they go through a second process whose timeout is
/// short (the slow fake answers long after either), so that nine of them take a second.
async fn every_call_answers_504_when_evolution_is_too_slow(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let impatient = app
        .twin_with(&[
            ("EVOLUTION_API_BASE_URL", fake.url.as_str()),
            ("EVOLUTION_API_MASTER_KEY", GLOBAL_KEY),
            ("EVOLUTION_API_REQUEST_TIMEOUT_MS", SHORT_TIMEOUT_MS),
            ("EVOLUTION_API_CONNECT_TIMEOUT_MS", SHORT_TIMEOUT_MS),
        ])
        .await;
    let fail = |fake: &FakeEvolution| fake.fail(Failure::Slow);
    every_call_fails_and_changes_nothing(
        &app,
        &impatient,
        &fake,
        fail,
        StatusCode::GATEWAY_TIMEOUT,
        "evolution.timeout",
    )
    .await;
    // A timeout is not repeated: each call reached the fake once (which may still act on
    // it after Relevo gave up, as a real server would).
    for prefix in [
        "GET /instance/connectionState/",
        "POST /instance/restart/",
        "DELETE /instance/delete/",
    ] {
        assert_eq!(fake.calls_to(prefix), 1, "{prefix}");
    }
}

async fn every_call_answers_502_when_evolution_rejects_the_key(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    every_call_fails_and_changes_nothing(
        &app,
        &app,
        &fake,
        FakeEvolution::rotate_global_key,
        StatusCode::BAD_GATEWAY,
        "evolution.unauthorized",
    )
    .await;
    assert_fake_untouched(&fake);
}

async fn every_call_marks_an_instance_evolution_lost_as_error(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app.provisioned(tenant, "principal").await;
    fake.lose_instance("principal");

    for (case, method, action, body) in lifecycle_calls() {
        app.set_connection_status(id, ConnectionStatus::Connecting);
        let reply = call(&app, method, tenant, id, action, body.as_ref()).await;
        assert_error_in(
            &reply,
            StatusCode::CONFLICT,
            "evolution.instance_missing",
            case,
        );
        assert!(
            reply.body["message"]
                .as_str()
                .unwrap()
                .contains("provision it again"),
            "[{case}]"
        );
        assert_eq!(
            app.instance_row(id).connection_status,
            ConnectionStatus::Error,
            "[{case}]"
        );
    }
    let show = app.show_instance(tenant, id).await;
    assert_eq!(show["can_send_messages"], false);
    assert!(
        fake.instance_names().is_empty(),
        "nothing was recreated behind Relevo's back"
    );
}

async fn repeatable_calls_are_retried_and_an_unreachable_server_is_502(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app.provisioned(tenant, "principal").await;
    let unreachable = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = unreachable.local_addr().unwrap().port();
    drop(unreachable);
    fake.fail(Failure::ServerError);

    let failing = call(&app, Method::GET, tenant, id, "connection-state", None).await;
    let restart = call(&app, Method::POST, tenant, id, "restart", None).await;

    assert_error_in(
        &failing,
        StatusCode::BAD_GATEWAY,
        "evolution.unavailable",
        "state",
    );
    assert_error_in(
        &restart,
        StatusCode::BAD_GATEWAY,
        "evolution.unavailable",
        "restart",
    );
    assert_eq!(
        fake.calls_to("GET /instance/connectionState/"),
        3,
        "a repeatable call is tried three times"
    );
    assert_eq!(
        fake.calls_to("POST /instance/restart/"),
        1,
        "restart is never repeated"
    );

    // An unreachable server: the same 502. (Another origin needs its key again.)
    let server_id = app.instance_row(id).evolution_server_id.unwrap();
    let moved = app
        .admin(
            Method::PUT,
            &format!("/api/v1/evolution-servers/{server_id}"),
            Some(
                &json!({"base_url": format!("http://127.0.0.1:{closed_port}"),
                         "api_key": crate::evolution_fake::GLOBAL_KEY}),
            ),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    let refused = call(&app, Method::GET, tenant, id, "connection-state", None).await;
    assert_error_in(
        &refused,
        StatusCode::BAD_GATEWAY,
        "evolution.unavailable",
        "refused",
    );
    assert_eq!(
        app.instance_row(id).connection_status,
        ConnectionStatus::Connecting
    );
}

async fn a_registered_instance_is_managed_with_its_own_key(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let fake = FakeEvolution::start().await;
    fake.add_instance("registrada", "TOKEN-REGISTRADA", "close");
    fake.link("registrada", "573001234567@s.whatsapp.net");
    let tenant = app.seed_tenant().await;
    let created = app
        .create_instance(tenant, &json!({"phone_number": "+573001234567", "instance_name": "registrada",
            "evolution_api_key": "TOKEN-REGISTRADA", "evolution_api_url": fake.url, "daily_message_limit": 100}))
        .await;
    let id = created.body["data"]["id"].as_i64().unwrap();

    let state = call(&app, Method::GET, tenant, id, "connection-state", None).await;
    let servers = app
        .admin(Method::GET, "/api/v1/evolution-servers", None)
        .await;
    let deleted = app
        .admin(Method::DELETE, &instance_path(tenant, id), None)
        .await;

    assert_eq!(state.status, StatusCode::OK, "{}", state.body);
    assert_eq!(state.body["data"]["connection_status"], "connected");
    let server = &servers.body["data"][0];
    assert_eq!(server["base_url"], fake.url.as_str());
    assert_eq!(server["has_api_key"], false);
    assert_eq!(server["is_default"], false);
    assert_eq!(created.body["data"]["evolution_server_id"], server["id"]);
    assert_eq!(deleted.status, StatusCode::OK);
    assert!(
        fake.instance("registrada").is_some(),
        "registered, so not deleted on Evolution"
    );
}

async fn an_inactive_server_is_not_called(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app.provisioned(tenant, "principal").await;
    let server_id = app.instance_row(id).evolution_server_id.unwrap();
    app.admin(
        Method::PUT,
        &format!("/api/v1/evolution-servers/{server_id}"),
        Some(&json!({"is_active": false})),
    )
    .await;
    let calls_before = fake.calls().len();

    let connect = call(&app, Method::POST, tenant, id, "connect", None).await;
    let delete = app
        .admin(Method::DELETE, &instance_path(tenant, id), None)
        .await;

    assert_error_in(
        &connect,
        StatusCode::CONFLICT,
        "evolution.server_inactive",
        "connect",
    );
    assert_error_in(
        &delete,
        StatusCode::CONFLICT,
        "evolution.server_inactive",
        "delete",
    );
    assert_eq!(app.instance_rows().len(), 1);
    assert_eq!(fake.calls().len(), calls_before);
}

async fn tenant_users_may_not_manage_instances(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app.provisioned(tenant, "principal").await;
    let token = app.tenant_user_token(tenant, "user@tenant.test").await;
    let calls_before = fake.calls().len();

    for (case, method, action, body) in lifecycle_calls() {
        let path = format!("{}/{action}", instance_path(tenant, id));
        let reply = app.send(method, &path, Some(&token), body.as_ref()).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "[{case}] {}",
            reply.body
        );
    }
    assert_eq!(fake.calls().len(), calls_before);
}

both_backends!(
    connect_gives_a_fresh_qr_code_or_a_pairing_code,
    connection_state_reads_the_live_state,
    logout_is_done_only_when_evolution_did_it,
    restart_answers_a_qr_code_or_refuses_an_instance_not_connected,
    delete_removes_a_provisioned_instance_on_evolution_first,
    delete_keeps_everything_when_evolution_fails_unless_forced,
    deleting_a_looping_instance_leaves_nothing_reconnecting,
    a_delete_whose_logouts_were_refused_says_what_may_keep_running,
    webhook_and_websocket_settings_round_trip,
    unknown_events_and_bad_settings_are_422_before_any_call,
    every_call_answers_502_when_evolution_fails,
    every_call_answers_504_when_evolution_is_too_slow,
    every_call_answers_502_when_evolution_rejects_the_key,
    every_call_marks_an_instance_evolution_lost_as_error,
    repeatable_calls_are_retried_and_an_unreachable_server_is_502,
    a_registered_instance_is_managed_with_its_own_key,
    an_inactive_server_is_not_called,
    tenant_users_may_not_manage_instances,
);
