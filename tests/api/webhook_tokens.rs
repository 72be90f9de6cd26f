//! Each instance's own inbound webhook token (SPEC §8, issue "Trust boundaries"): a
//! token read from Evolution by one tenant's sender speaks for that instance only, tokens
//! rotate, and instances on a server's shared token of before move to their own.

use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::evolution_fake::{spawn_reachable_with_fake, FakeEvolution};
use crate::helpers::{
    assert_error_in, instance_path, instances_path, into_reply, metric, Backend, Reply, TestApp,
};
use relevo::db::schema::{evolution_servers, instance_webhook_tokens, webhook_events};

const UNO_JID: &str = "573001234567@s.whatsapp.net";
const DOS_JID: &str = "573001234568@s.whatsapp.net";
const ATTACKER_JID: &str = "573009999999@s.whatsapp.net";

macro_rules! spawn_reachable_or_skip {
    ($backend:expr) => {
        match spawn_reachable_with_fake($backend, &[]).await {
            Some(pair) => pair,
            None => return,
        }
    };
}

async fn tenant_with_callback(app: &TestApp, slug: &str) -> i64 {
    let reply = app
        .create_tenant(json!({
            "slug": slug, "nombre": slug, "tipo_cargo": "Alcaldía", "identificacion": "900123",
            "callback_url": "http://127.0.0.1:9/hook", "callback_secret": "s3cret-s3cret-s3cret",
        }))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["data"]["id"].as_i64().unwrap()
}

/// Provisions `name` for `tenant` and pairs it on the fake.
async fn paired(app: &TestApp, fake: &FakeEvolution, tenant: i64, name: &str, jid: &str) -> i64 {
    let reply = app.provision(tenant, &json!({"instance_name": name})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let reply = fake.open(name, jid).await.expect("webhook sent");
    assert_eq!(reply.body["data"]["outcome"], "applied", "{}", reply.body);
    reply_id(app, tenant, name).await
}

async fn reply_id(app: &TestApp, tenant: i64, name: &str) -> i64 {
    let list = app
        .admin(Method::GET, &instances_path(tenant), None)
        .await
        .body;
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["instance_name"] == name)
        .and_then(|row| row["id"].as_i64())
        .expect("the instance is listed")
}

/// Posts an event as Evolution would now (its `date_time` is Evolution's clock: the real one).
async fn post_event(app: &TestApp, url: &str, event: &str, instance: &str, data: Value) -> Reply {
    let now = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let body = json!({
        "event": event, "instance": instance, "data": data,
        "destination": url, "date_time": now,
        "server_url": "http://evolution", "apikey": null,
    });
    let response = app.client.post(url).json(&body).send().await.unwrap();
    into_reply(response).await
}

fn outbox_rows(app: &TestApp, tenant: i64) -> i64 {
    webhook_events::table
        .filter(webhook_events::tenant_id.eq(tenant))
        .count()
        .get_result(&mut app.db())
        .unwrap()
}

/// The instance's columns an event could change.
fn live_columns(app: &TestApp, id: i64) -> Value {
    let row = app.instance_row(id);
    json!([
        row.connection_status,
        row.phone_number,
        row.owner_jid,
        row.status_reason,
        row.qr_code,
        row.qr_code_base64,
        row.updated_at.to_string()
    ])
}

/// The review's forgery sequence: tenant A's sender holds A's instance key (every claim
/// hands it out), reads that instance's webhook URL from Evolution and posts events
/// naming tenant B's instance with it. None of them changes B's instance or reaches B.
async fn one_tenants_token_cannot_speak_for_another_tenants_instance(backend: Backend) {
    let (app, fake) = spawn_reachable_or_skip!(backend);
    let tenant_a = tenant_with_callback(&app, "tenant-a").await;
    let tenant_b = tenant_with_callback(&app, "tenant-b").await;
    paired(&app, &fake, tenant_a, "uno", UNO_JID).await;
    let victim = paired(&app, &fake, tenant_b, "dos", DOS_JID).await;
    let token_a = app.sender_token(tenant_a).await;
    let claim = app.claim(tenant_a, &token_a, json!({})).await;
    assert_eq!(claim.status, StatusCode::OK, "{}", claim.body);
    assert_eq!(claim.body["data"]["instance"]["instance_name"], "uno");
    let stolen = fake.webhook_url("uno");
    assert_ne!(
        stolen,
        fake.webhook_url("dos"),
        "each instance its own token"
    );
    let before = live_columns(&app, victim);
    let events_before = outbox_rows(&app, tenant_b);

    let forgeries = [
        (
            "connection.update",
            json!({"instance": "dos", "state": "close", "statusReason": 403}),
        ),
        (
            "connection.update",
            json!({"instance": "dos", "wuid": ATTACKER_JID, "profileName": "x", "state": "open", "statusReason": 200}),
        ),
        (
            "qrcode.updated",
            json!({"qrcode": {"instance": "dos", "pairingCode": null, "code": "2@attacker", "base64": "data:image/png;base64,QQ=="}}),
        ),
        (
            "messages.upsert",
            json!({"key": {"remoteJid": ATTACKER_JID, "fromMe": false, "id": "FORGED1"},
                   "pushName": "Attacker", "message": {"conversation": "click here"},
                   "messageType": "conversation", "messageTimestamp": 1763361000}),
        ),
        ("logout.instance", Value::Null),
    ];
    for (event, data) in forgeries {
        let reply = post_event(&app, &stolen, event, "dos", data).await;
        assert_eq!(reply.status, StatusCode::OK, "{event}: {}", reply.body);
        assert_eq!(reply.body["data"]["outcome"], "ignored", "{event}");
    }

    assert_eq!(live_columns(&app, victim), before, "B's instance unchanged");
    assert_eq!(
        outbox_rows(&app, tenant_b),
        events_before,
        "nothing told to B"
    );
    let shown = app.show_instance(tenant_b, victim).await;
    assert_eq!(shown["connection_status"], "connected");
    assert_eq!(shown["phone_number"], "+573001234568");
    let metrics = app.metrics_text().await;
    assert_eq!(
        metric(
            &metrics,
            "relevo_inbound_webhooks_total{outcome=\"foreign\"}"
        ),
        5.0
    );
    // The token still speaks for its own instance.
    let own = post_event(
        &app,
        &stolen,
        "connection.update",
        "uno",
        json!({"instance": "uno", "state": "connecting", "statusReason": 200}),
    )
    .await;
    assert_eq!(own.body["data"]["outcome"], "applied", "{}", own.body);
}

/// A rotation gives the instance a new token on Evolution; the old one is refused at
/// once, the new one works, the audit log has it, and no answer shows a token.
async fn a_rotated_token_replaces_the_old_one_at_once(backend: Backend) {
    let (app, fake) = spawn_reachable_or_skip!(backend);
    let tenant = tenant_with_callback(&app, "tenant-a").await;
    let id = paired(&app, &fake, tenant, "uno", UNO_JID).await;
    let old = fake.webhook_url("uno");
    let old_token = old.rsplit('/').next().unwrap().to_string();

    let reply = app
        .admin(
            Method::POST,
            &format!("{}/rotate-webhook-token", instance_path(tenant, id)),
            None,
        )
        .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["message"], "Webhook token rotated");
    let shown_url = reply.body["data"]["url"].as_str().unwrap();
    assert!(
        shown_url.ends_with("/api/v1/webhooks/evolution/********"),
        "{shown_url}"
    );
    let new = fake.webhook_url("uno");
    assert_ne!(new, old);
    assert!(!reply.body.to_string().contains(&old_token));
    let data = json!({"instance": "uno", "state": "close", "statusReason": 401});
    let refused = post_event(&app, &old, "connection.update", "uno", data.clone()).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    assert_eq!(
        app.show_instance(tenant, id).await["connection_status"],
        "connected"
    );
    let accepted = post_event(&app, &new, "connection.update", "uno", data).await;
    assert_eq!(
        accepted.body["data"]["outcome"], "applied",
        "{}",
        accepted.body
    );

    let shown = app
        .admin(
            Method::GET,
            &format!("{}/webhook", instance_path(tenant, id)),
            None,
        )
        .await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    let new_token = new.rsplit('/').next().unwrap();
    assert!(
        !shown.body.to_string().contains(new_token),
        "{}",
        shown.body
    );
    assert!(shown.body["data"]["url"]
        .as_str()
        .unwrap()
        .ends_with("********"));
    let audit = app
        .admin(
            Method::GET,
            "/api/v1/audit-log?action=instance.webhook_token_rotated",
            None,
        )
        .await;
    assert_eq!(audit.body["meta"]["total"], 1, "{}", audit.body);
    assert!(!audit.body.to_string().contains(new_token));

    // Setting the webhook back to the masked URL it shows points it at Relevo again,
    // with a new token (never the literal mask).
    let set = app
        .admin(
            Method::PUT,
            &format!("{}/webhook", instance_path(tenant, id)),
            Some(&json!({"url": shown_url, "enabled": true,
                          "events": ["CONNECTION_UPDATE", "QRCODE_UPDATED"]})),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    let third = fake.webhook_url("uno");
    assert!(!third.contains("********") && third != new, "{third}");
    let reply = fake.open("uno", UNO_JID).await.expect("sent");
    assert_eq!(reply.body["data"]["outcome"], "applied", "{}", reply.body);
}

/// When Evolution refuses the new webhook, the instance keeps the token it had.
async fn a_rotation_evolution_refuses_keeps_the_old_token(backend: Backend) {
    let (app, fake) = spawn_reachable_or_skip!(backend);
    let tenant = tenant_with_callback(&app, "tenant-a").await;
    let id = paired(&app, &fake, tenant, "uno", UNO_JID).await;
    fake.fail(crate::evolution_fake::Failure::ServerError);

    let reply = app
        .admin(
            Method::POST,
            &format!("{}/rotate-webhook-token", instance_path(tenant, id)),
            None,
        )
        .await;

    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.body);
    fake.recover();
    let reply = fake.close("uno", 401).await.expect("sent");
    assert_eq!(reply.body["data"]["outcome"], "applied", "{}", reply.body);
    let rows: i64 = instance_webhook_tokens::table
        .filter(instance_webhook_tokens::pending_digest.is_not_null())
        .count()
        .get_result(&mut app.db())
        .unwrap();
    assert_eq!(rows, 0, "the refused token was dropped");
}

/// Instances provisioned before per-instance tokens reach Relevo through their server's
/// shared token. It speaks for them only until the sync moves them to their own; then it
/// is forgotten.
async fn instances_on_the_shared_token_move_to_their_own_on_sync(backend: Backend) {
    let (app, fake) = spawn_reachable_or_skip!(backend);
    let tenant_a = tenant_with_callback(&app, "tenant-a").await;
    let tenant_b = tenant_with_callback(&app, "tenant-b").await;
    let uno = paired(&app, &fake, tenant_a, "uno", UNO_JID).await;
    let dos = paired(&app, &fake, tenant_b, "dos", DOS_JID).await;
    // As an upgraded Relevo finds them: a shared server token in both webhook URLs, and
    // no token of their own.
    let shared = "SharedServerToken0123456789abcdefghijklmn";
    let shared_url = format!("{}/api/v1/webhooks/evolution/{shared}", app.address);
    {
        let mut conn = app.db();
        diesel::update(evolution_servers::table)
            .set((
                evolution_servers::webhook_token_encrypted.eq(app.encrypt(shared)),
                evolution_servers::webhook_token_digest
                    .eq(relevo::auth::sender::hash_token(shared)),
            ))
            .execute(&mut conn)
            .unwrap();
        diesel::delete(instance_webhook_tokens::table)
            .execute(&mut conn)
            .unwrap();
    }
    for name in ["uno", "dos"] {
        let mut state = fake.state();
        let webhook = state
            .instances
            .get_mut(name)
            .unwrap()
            .webhook
            .as_mut()
            .unwrap();
        webhook["url"] = json!(shared_url);
    }
    let dropped = json!({"instance": "uno", "state": "connecting", "statusReason": 200});
    let reply = post_event(&app, &shared_url, "connection.update", "uno", dropped).await;
    assert_eq!(
        reply.body["data"]["outcome"], "applied",
        "no event is lost meanwhile"
    );

    let sync = app
        .admin(Method::POST, "/api/v1/whatsapp-instances/sync", None)
        .await;
    assert_eq!(sync.status, StatusCode::OK, "{}", sync.body);

    for name in ["uno", "dos"] {
        let url = fake.webhook_url(name);
        assert!(!url.contains(shared), "{name}: {url}");
    }
    assert_ne!(fake.webhook_url("uno"), fake.webhook_url("dos"));
    let forged = json!({"instance": "dos", "state": "close", "statusReason": 403});
    let reply = post_event(&app, &shared_url, "connection.update", "dos", forged).await;
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "the shared token is forgotten"
    );
    assert_eq!(
        app.show_instance(tenant_b, dos).await["connection_status"],
        "connected"
    );
    let own = fake.webhook_url("uno");
    let dropped = json!({"instance": "uno", "state": "connecting", "statusReason": 200});
    let reply = post_event(&app, &own, "connection.update", "uno", dropped).await;
    assert_eq!(reply.body["data"]["outcome"], "applied", "{}", reply.body);
    assert_eq!(
        app.show_instance(tenant_a, uno).await["connection_status"],
        "connecting"
    );
}

/// Oversized fields are refused before anything is stored; a declared length above the
/// limit is refused without reading the body.
async fn oversized_webhook_fields_are_refused(backend: Backend) {
    let (app, fake) = spawn_reachable_or_skip!(backend);
    let tenant = tenant_with_callback(&app, "tenant-a").await;
    let id = paired(&app, &fake, tenant, "uno", UNO_JID).await;
    let url = fake.webhook_url("uno");
    let before = live_columns(&app, id);
    let long = "9".repeat(100_000);
    let cases = [
        (
            "connection.update",
            json!({"instance": "uno", "wuid": format!("{long}@s.whatsapp.net"), "state": "open", "statusReason": 200}),
            "data.wuid",
        ),
        (
            "connection.update",
            json!({"instance": "uno", "wuid": UNO_JID, "profileName": long, "state": "open", "statusReason": 200}),
            "data.profileName",
        ),
        (
            "qrcode.updated",
            json!({"qrcode": {"instance": "uno", "code": "2@x", "base64": format!("data:image/png;base64,{}", "A".repeat(700_000))}}),
            "data.qrcode.base64",
        ),
    ];
    for (event, data, field) in cases {
        let reply = post_event(&app, &url, event, "uno", data).await;
        assert_error_in(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation.failed",
            field,
        );
        assert!(reply.body["errors"][field].is_array(), "{}", reply.body);
    }
    assert_eq!(live_columns(&app, id), before);

    // Headers that announce 2 MiB, and no body: the answer comes without waiting for it.
    let path = url.strip_prefix(&app.address).unwrap();
    let host = app.address.strip_prefix("http://").unwrap();
    let mut socket = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{{",
        2 * 1024 * 1024
    );
    tokio::io::AsyncWriteExt::write_all(&mut socket, head.as_bytes())
        .await
        .unwrap();
    let mut answer = vec![0; 1024];
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut socket, &mut answer),
    )
    .await
    .expect("answered before the body is sent")
    .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

/// One webhook with many messages enqueues a bounded number of events; the excess is
/// counted, not queued.
async fn one_webhook_enqueues_a_bounded_number_of_events(backend: Backend) {
    let (app, fake) = spawn_reachable_or_skip!(backend);
    let tenant = tenant_with_callback(&app, "tenant-a").await;
    paired(&app, &fake, tenant, "uno", UNO_JID).await;
    let url = fake.webhook_url("uno");
    let before = outbox_rows(&app, tenant);
    let messages: Vec<Value> = (0..500)
        .map(|i| {
            json!({"key": {"remoteJid": DOS_JID, "fromMe": false, "id": format!("M{i}")},
                   "pushName": "Alice", "message": {"conversation": "hola"},
                   "messageType": "conversation", "messageTimestamp": 1763361000})
        })
        .collect();

    let reply = post_event(&app, &url, "messages.upsert", "uno", json!(messages)).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let added = outbox_rows(&app, tenant) - before;
    assert_eq!(added, 20, "at most MAX_MESSAGES_PER_WEBHOOK events");
    let metrics = app.metrics_text().await;
    assert_eq!(metric(&metrics, "relevo_inbound_excess_total"), 480.0);
}

/// A socket Evolution keeps reconnecting after the instance was deleted (a zombie of the
/// real server) cannot speak to Relevo: its webhook was switched off before the delete,
/// and its token died with the instance.
async fn a_deleted_instances_token_speaks_no_more(backend: Backend) {
    let (app, fake) = spawn_reachable_or_skip!(backend);
    let tenant = tenant_with_callback(&app, "tenant-a").await;
    let id = paired(&app, &fake, tenant, "uno", UNO_JID).await;
    let url = fake.webhook_url("uno");

    let deleted = app
        .admin(Method::DELETE, &instance_path(tenant, id), None)
        .await;

    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    let zombie = json!({"instance": "uno", "state": "connecting", "statusReason": 200});
    let reply = post_event(&app, &url, "connection.update", "uno", zombie).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
}

both_backends!(
    a_deleted_instances_token_speaks_no_more,
    one_tenants_token_cannot_speak_for_another_tenants_instance,
    a_rotated_token_replaces_the_old_one_at_once,
    a_rotation_evolution_refuses_keeps_the_old_token,
    instances_on_the_shared_token_move_to_their_own_on_sync,
    oversized_webhook_fields_are_refused,
    one_webhook_enqueues_a_bounded_number_of_events,
);
