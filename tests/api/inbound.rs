//! Evolution's webhooks (SPEC §8) sent by the fake server over HTTP to the URL Relevo's
//! provisioning gave it, and the claim following what they say (SPEC §6).

use chrono::Duration;
use relevo::domain::ConnectionStatus;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::evolution_fake::{spawn_reachable_with_fake, FakeEvolution};
use crate::helpers::{assert_error, instance_path, into_reply, Backend, Reply, TestApp};

const UNO_JID: &str = "573001234567@s.whatsapp.net";
const DOS_JID: &str = "573001234568@s.whatsapp.net";

macro_rules! spawn_reachable_or_skip {
    ($backend:expr) => {
        match spawn_reachable_with_fake($backend, &[]).await {
            Some(pair) => pair,
            None => return,
        }
    };
}

/// Provisions `name` (waiting for its first QR scan); answers its id.
/// The webhook path (without the host) provisioning stored on the fake for `name`.
fn webhook_path(app: &TestApp, fake: &FakeEvolution, name: &str) -> String {
    let webhook = fake.instance(name).unwrap().webhook.expect("a webhook");
    let url = webhook["url"].as_str().unwrap();
    url.strip_prefix(&app.address).expect(url).to_string()
}

async fn post_raw(app: &TestApp, path: &str, body: impl Into<reqwest::Body>) -> Reply {
    let response = app
        .client
        .post(format!("{}{path}", app.address))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request sent");
    into_reply(response).await
}

fn envelope(event: &str, instance: &str, data: Value) -> Value {
    json!({
        "event": event, "instance": instance, "data": data,
        "destination": "http://relevo/hook", "date_time": "2025-11-17T06:30:00.000Z",
        "server_url": "http://evolution", "apikey": null,
    })
}

fn open_data(instance: &str, jid: &str) -> Value {
    json!({"instance": instance, "wuid": jid, "profileName": "Campaña", "state": "open", "statusReason": 200})
}

fn delivered(reply: Option<Reply>, outcome: &str) -> Reply {
    let reply = reply.expect("the fake sent the webhook");
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["outcome"], outcome, "{}", reply.body);
    reply
}

async fn a_link_a_drop_and_a_ban_follow_the_phone(backend: Backend) {
    let (app, fake) = spawn_reachable_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app.provisioned(tenant, "uno").await;
    let before = app.show_instance(tenant, id).await;
    assert_eq!(before["connection_status"], "connecting");
    assert_eq!(before["connected_at"], Value::Null);
    assert_eq!(before["can_send_messages"], false, "never paired yet");

    let reply = delivered(fake.open("uno", UNO_JID).await, "applied");
    assert_eq!(reply.body["data"]["event"], "CONNECTION_UPDATE");
    let linked = app.show_instance(tenant, id).await;
    assert_eq!(linked["connection_status"], "connected");
    assert_eq!(linked["owner_jid"], UNO_JID);
    assert_eq!(linked["phone_number"], "+573001234567");
    assert_eq!(linked["profile_name"], "Campaña");
    assert_eq!(linked["connected_at"], "2025-11-17T06:30:00.000000Z");
    assert_eq!(linked["status_reason"], Value::Null);
    assert_eq!(linked["can_send_messages"], true);

    delivered(fake.close("uno", 401).await, "applied");
    let logged_out = app.show_instance(tenant, id).await;
    assert_eq!(logged_out["connection_status"], "disconnected");
    assert_eq!(logged_out["status_reason"], 401);
    assert_eq!(logged_out["can_send_messages"], false);

    delivered(fake.open("uno", UNO_JID).await, "applied");
    assert_eq!(
        app.show_instance(tenant, id).await["status_reason"],
        Value::Null
    );
    delivered(fake.close("uno", 403).await, "applied");
    let banned = app.show_instance(tenant, id).await;
    assert_eq!(banned["connection_status"], "disconnected");
    assert_eq!(banned["status_reason"], 403);
}

async fn a_replayed_event_changes_nothing_twice(backend: Backend) {
    let (app, fake) = spawn_reachable_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app.provisioned(tenant, "uno").await;
    delivered(fake.open("uno", UNO_JID).await, "applied");
    let first = app.instance_row(id);

    app.clock.advance(Duration::hours(1));
    delivered(fake.open("uno", UNO_JID).await, "unchanged");
    let (qr, reply) = fake.new_qr("uno").await;
    delivered(reply, "applied");
    let data = json!({"qrcode": {"instance": "uno", "pairingCode": null, "code": qr["code"], "base64": qr["base64"]}});
    let after_qr = app.instance_row(id);
    app.clock.advance(Duration::hours(1));
    delivered(fake.emit("uno", "qrcode.updated", data).await, "unchanged");
    delivered(
        fake.emit("uno", "logout.instance", Value::Null).await,
        "applied",
    );
    delivered(
        fake.emit("uno", "logout.instance", Value::Null).await,
        "unchanged",
    );

    let last = app.instance_row(id);
    assert_eq!(first.connected_at, Some(app_start()));
    assert_eq!(after_qr.qr_updated_at, last.qr_updated_at);
    assert_eq!(last.connected_at, first.connected_at);
    assert_eq!(last.connection_status, ConnectionStatus::Disconnected);
}

fn app_start() -> chrono::NaiveDateTime {
    crate::helpers::seed_moment().naive_utc()
}

async fn a_new_qr_code_is_the_one_get_qr_answers(backend: Backend) {
    let (app, fake) = spawn_reachable_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app.provisioned(tenant, "uno").await;
    let qr_path = format!("{}/qr", instance_path(tenant, id));
    let provisioned_qr =
        app.admin(Method::GET, &qr_path, None).await.body["data"]["qr_code"].clone();
    app.clock.advance(Duration::minutes(1));

    let (qr, reply) = fake.new_qr("uno").await;
    delivered(reply, "applied");

    let reply = app.admin(Method::GET, &qr_path, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let shown = &reply.body["data"]["qr_code"];
    assert_ne!(shown["code"], provisioned_qr["code"]);
    assert_eq!(shown["code"], qr["code"]);
    assert_eq!(shown["base64"], qr["base64"]);
    assert_eq!(shown["updated_at"], "2025-11-17T06:31:00.000000Z");
    assert_eq!(reply.body["data"]["connection_status"], "connecting");
}

async fn logout_and_remove_set_the_status(backend: Backend) {
    let (app, fake) = spawn_reachable_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app.provisioned(tenant, "uno").await;
    delivered(fake.open("uno", UNO_JID).await, "applied");

    delivered(
        fake.emit("uno", "logout.instance", Value::Null).await,
        "applied",
    );
    assert_eq!(
        app.instance_row(id).connection_status,
        ConnectionStatus::Disconnected
    );

    delivered(fake.remove("uno").await, "applied");
    assert_eq!(
        app.instance_row(id).connection_status,
        ConnectionStatus::Error
    );
}

async fn other_events_are_accepted_and_change_nothing(backend: Backend) {
    let (app, fake) = spawn_reachable_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app.provisioned(tenant, "uno").await;
    let path = webhook_path(&app, &fake, "uno");
    let before = app.show_instance(tenant, id).await;

    let message = json!({"key": {"remoteJid": DOS_JID, "fromMe": false, "id": "ABCD"}, "pushName": "Alice",
        "message": {"conversation": "hola"}, "messageType": "conversation", "messageTimestamp": 1761057639});
    delivered(
        fake.emit("uno", "messages.upsert", message).await,
        "ignored",
    );
    for (event, data) in [
        (
            "messages.update",
            json!({"keyId": "ABCD", "status": "READ"}),
        ),
        ("send.message", json!({"key": {"id": "X"}})),
        (
            "status.instance",
            json!({"instance": "uno", "status": "closed"}),
        ),
        ("chats.update", json!([{"id": DOS_JID}])),
        (
            "qrcode.updated",
            json!({"message": "QR code limit reached, please login again", "statusCode": 500}),
        ),
        ("application.startup", Value::Null),
    ] {
        let reply = post_raw(&app, &path, envelope(event, "uno", data).to_string()).await;
        assert_eq!(reply.status, StatusCode::OK, "{event}: {}", reply.body);
        assert_eq!(reply.body["data"]["outcome"], "ignored", "{event}");
    }
    assert_eq!(app.show_instance(tenant, id).await, before);
}

async fn a_wrong_token_is_401_and_changes_nothing(backend: Backend) {
    let (app, fake) = spawn_reachable_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app.provisioned(tenant, "uno").await;
    let path = webhook_path(&app, &fake, "uno");
    let token = path.rsplit('/').next().unwrap().to_string();
    let mut altered = token.clone().into_bytes();
    altered[0] = if altered[0] == b'a' { b'b' } else { b'a' };
    let altered = String::from_utf8(altered).unwrap();
    let before = app.show_instance(tenant, id).await;
    let body = envelope("connection.update", "uno", open_data("uno", UNO_JID)).to_string();

    for forged in [
        format!("/api/v1/webhooks/evolution/{altered}"),
        format!("/api/v1/webhooks/evolution/{altered}/connection-update"),
        format!("/api/v1/webhooks/evolution/{}", &token[..20]),
        "/api/v1/webhooks/evolution/x".to_string(),
    ] {
        let reply = post_raw(&app, &forged, body.clone()).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{forged}");
        assert_eq!(reply.body["message"], "Unauthenticated.");
    }
    assert_eq!(app.show_instance(tenant, id).await, before);
    let reply = post_raw(&app, &path, body).await;
    assert_eq!(
        reply.body["data"]["outcome"], "applied",
        "the right token works"
    );
}

async fn bodies_up_to_a_mebibyte_are_read_and_larger_ones_are_413(backend: Backend) {
    let (app, fake) = spawn_reachable_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app.provisioned(tenant, "uno").await;
    let path = webhook_path(&app, &fake, "uno");
    let before = app.show_instance(tenant, id).await;
    let padded = |size: usize| {
        let mut body = envelope("connection.update", "uno", open_data("uno", UNO_JID));
        let base = body.to_string().len() + r#","padding":"""#.len();
        body["padding"] = json!("x".repeat(size - base));
        let text = body.to_string();
        assert_eq!(text.len(), size);
        text
    };

    let reply = post_raw(&app, &path, padded(1024 * 1024 + 1)).await;
    assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "request.too_large");
    assert_eq!(app.show_instance(tenant, id).await, before);

    let reply = post_raw(&app, &path, padded(1024 * 1024)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        app.instance_row(id).connection_status,
        ConnectionStatus::Connected
    );
}

async fn a_malformed_body_is_400(backend: Backend) {
    let (app, fake) = spawn_reachable_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app.provisioned(tenant, "uno").await;
    let path = webhook_path(&app, &fake, "uno");
    let before = app.show_instance(tenant, id).await;

    for body in [
        "".to_string(),
        "{not json".to_string(),
        "[]".to_string(),
        json!({"event": "connection.update", "data": open_data("uno", UNO_JID)}).to_string(),
        json!({"instance": "uno", "data": open_data("uno", UNO_JID)}).to_string(),
        envelope("connection.update", "uno", Value::Null).to_string(),
        envelope("connection.update", "uno", json!({"state": "sideways"})).to_string(),
    ] {
        let reply = post_raw(&app, &path, body.clone()).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "request.malformed");
    }
    // A NUL anywhere (PostgreSQL cannot store one) is a 422, never a 500.
    for body in [
        envelope("connection.update", "un\u{0}o", open_data("uno", UNO_JID)),
        envelope(
            "connection.update",
            "uno",
            open_data("uno", "573001234567\u{0}@s.whatsapp.net"),
        ),
    ] {
        let reply = post_raw(&app, &path, body.to_string()).await;
        assert_error(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation.failed",
        );
    }
    assert_eq!(app.show_instance(tenant, id).await, before);
}

async fn an_unknown_instance_is_200_and_ignored(backend: Backend) {
    let (app, fake) = spawn_reachable_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app.provisioned(tenant, "uno").await;
    let path = webhook_path(&app, &fake, "uno");
    let before = app.instance_rows();

    let body = envelope("connection.update", "nadie", open_data("nadie", DOS_JID));
    let reply = post_raw(&app, &path, body.to_string()).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["outcome"], "ignored");
    assert_eq!(reply.body["data"]["instance"], "nadie");
    assert_eq!(app.instance_rows().len(), before.len());
    assert_eq!(
        app.instance_row(id).connection_status,
        ConnectionStatus::Connecting
    );
}

async fn the_by_events_form_is_handled(backend: Backend) {
    let (app, fake) = spawn_reachable_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app.provisioned(tenant, "uno").await;
    let url = format!("{}{}", app.address, webhook_path(&app, &fake, "uno"));
    let reply = app
        .admin(
            Method::PUT,
            &format!("{}/webhook", instance_path(tenant, id)),
            Some(
                &json!({"url": url, "enabled": true, "by_events": true, "base64": false,
                "events": ["CONNECTION_UPDATE", "QRCODE_UPDATED", "LOGOUT_INSTANCE"]}),
            ),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    let reply = delivered(fake.open("uno", UNO_JID).await, "applied");
    assert_eq!(reply.body["data"]["event"], "CONNECTION_UPDATE");
    assert_eq!(
        app.instance_row(id).connection_status,
        ConnectionStatus::Connected
    );
    let calls_before = fake.calls().len();

    // Without `event` in the body, the path names it.
    let body = json!({"instance": "uno", "data": {"instance": "uno", "state": "close", "statusReason": 401}});
    let path = format!("{}/connection-update", webhook_path(&app, &fake, "uno"));
    let reply = post_raw(&app, &path, body.to_string()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["outcome"], "applied");
    let row = app.instance_row(id);
    assert_eq!(
        (row.connection_status.as_str(), row.status_reason),
        ("disconnected", Some(401))
    );
    assert_eq!(
        fake.calls().len(),
        calls_before,
        "no call back to Evolution"
    );
}

async fn the_claim_follows_the_live_status(backend: Backend) {
    let (app, fake) = spawn_reachable_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let uno = app.provisioned(tenant, "uno").await;
    let dos = app.provisioned(tenant, "dos").await;
    let token = app.sender_token(tenant).await;
    let claimed = |reply: &Reply| {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body["data"]["instance"]["id"].as_i64().unwrap()
    };

    // Waiting for their first QR scan: neither can send.
    let reply = app.claim(tenant, &token, json!({})).await;
    assert_error(&reply, StatusCode::CONFLICT, "whatsapp.no_active_instances");

    delivered(fake.open("uno", UNO_JID).await, "applied");
    assert_eq!(claimed(&app.claim(tenant, &token, json!({})).await), uno);
    delivered(fake.open("dos", DOS_JID).await, "applied");

    delivered(fake.close("uno", 401).await, "applied");
    for _ in 0..3 {
        assert_eq!(claimed(&app.claim(tenant, &token, json!({})).await), dos);
    }

    // Paired again: eligible at once (and least recently used, so first).
    delivered(fake.open("uno", UNO_JID).await, "applied");
    assert_eq!(claimed(&app.claim(tenant, &token, json!({})).await), uno);

    delivered(fake.close("uno", 403).await, "applied");
    delivered(fake.close("dos", 401).await, "applied");
    let reply = app.claim(tenant, &token, json!({})).await;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.body
    );
}

both_backends!(
    a_link_a_drop_and_a_ban_follow_the_phone,
    a_replayed_event_changes_nothing_twice,
    a_new_qr_code_is_the_one_get_qr_answers,
    logout_and_remove_set_the_status,
    other_events_are_accepted_and_change_nothing,
    a_wrong_token_is_401_and_changes_nothing,
    bodies_up_to_a_mebibyte_are_read_and_larger_ones_are_413,
    a_malformed_body_is_400,
    an_unknown_instance_is_200_and_ignored,
    the_by_events_form_is_handled,
    the_claim_follows_the_live_status,
);
