//! Outbound events to tenants (SPEC §8, issue 11): written with the change, delivered by
//! the worker to a real receiver on a local port (`callback_receiver`), signed, retried
//! on Relevo's manual clock, logged and replayed; two applications on one database.

use diesel::RunQueryDsl;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use relevo::clock::Clock;
use relevo::domain::DeliveryStatus;
use relevo::events::EventType;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::callback_receiver::{Mode, Receiver};
use crate::evolution_fake::{spawn_reachable_with_fake, FakeEvolution};
use crate::helpers::{assert_error, spawn_app_with, Backend, TestApp};
use crate::{both_backends, through_pooler};

const UNO_JID: &str = "573001234567@s.whatsapp.net";
const DOS_JID: &str = "573001234568@s.whatsapp.net";
const STRANGER_JID: &str = "573009999999@s.whatsapp.net";
const TIMEOUT: (&str, &str) = ("RELEVO_WEBHOOK_TIMEOUT_MS", "400");

/// An app the fake Evolution can reach, and a receiver on Relevo's clock.
async fn spawn_reachable(backend: Backend) -> Option<(TestApp, FakeEvolution, Receiver)> {
    let (app, fake) = spawn_reachable_with_fake(backend, &[TIMEOUT]).await?;
    let receiver = Receiver::start(app.clock.clone()).await;
    Some((app, fake, receiver))
}

async fn spawn_plain(backend: Backend, timeout_ms: &str) -> Option<(TestApp, Receiver)> {
    let app = spawn_app_with(backend, &[("RELEVO_WEBHOOK_TIMEOUT_MS", timeout_ms)]).await?;
    let receiver = Receiver::start(app.clock.clone()).await;
    Some((app, receiver))
}

/// A tenant whose callback URL is the receiver's, with the secret Relevo generated
/// (shown once) handed to the receiver.
async fn tenant_calling(app: &TestApp, receiver: &Receiver, slug: &str) -> i64 {
    tenant_with_secret(app, receiver, slug).await.0
}

/// As [`tenant_calling`], with the secret.
async fn tenant_with_secret(app: &TestApp, receiver: &Receiver, slug: &str) -> (i64, String) {
    let data = app
        .new_tenant()
        .slug(slug)
        .name(slug)
        .calling(receiver)
        .created()
        .await;
    let secret = data["callback_secret"]
        .as_str()
        .expect("a generated secret");
    assert!(
        secret.starts_with("whsec_") && secret.len() == 70,
        "{secret}"
    );
    assert_eq!(data["has_callback_secret"], true);
    (data["id"].as_i64().unwrap(), secret.to_string())
}

/// Writes `n` events straight to the outbox, as a change would.
fn queue_events(app: &TestApp, tenant: i64, n: usize) {
    let mut conn = app.db();
    let now = app.clock.now().naive_utc();
    for i in 0..n {
        let written = relevo::events::record(
            &mut conn,
            tenant,
            EventType::MessageReceived,
            json!({"n": i}),
            None,
            now,
        )
        .expect("an event is written");
        assert!(written);
    }
}

/// The tenant's delivery log, oldest first.
async fn log(app: &TestApp, tenant: i64, query: &str) -> Vec<Value> {
    let mut rows = app.webhook_deliveries(tenant, query).await;
    rows.reverse();
    rows
}

/// Steps the workers of `apps` together until a step of all of them attempts nothing.
async fn drain(apps: &[&TestApp]) {
    for _ in 0..50 {
        let reports = futures_util::future::join_all(apps.iter().map(|app| app.deliver())).await;
        if reports.iter().all(|report| report.attempts() == 0) {
            return;
        }
    }
    panic!("the outbox did not drain in 50 steps");
}

fn at(timestamp: &Value) -> NaiveDateTime {
    DateTime::parse_from_rfc3339(timestamp.as_str().expect("a timestamp"))
        .unwrap()
        .naive_utc()
}

fn of_type<'a>(rows: &'a [Value], kind: &str) -> Vec<&'a Value> {
    rows.iter().filter(|row| row["type"] == kind).collect()
}

fn message(id: &str, from: &str, from_me: bool, text: &str) -> Value {
    json!({"key": {"remoteJid": from, "fromMe": from_me, "id": id}, "pushName": "Alice",
           "status": "DELIVERY_ACK", "message": {"conversation": text}, "messageType": "conversation",
           "messageTimestamp": 1763361000, "instanceId": "uuid", "source": "android"})
}

async fn every_event_reaches_the_receiver_once_signed_and_in_order(backend: Backend) {
    let Some((app, fake, receiver)) = spawn_reachable(backend).await else {
        return;
    };
    let twin = app.twin_with(&[TIMEOUT]).await;
    let uno_tenant = tenant_calling(&app, &receiver, "uno-tenant").await;
    let dos_tenant = tenant_calling(&app, &receiver, "dos-tenant").await;
    let uno = app.provisioned(uno_tenant, "uno").await;
    let dos = app.provisioned(dos_tenant, "dos").await;

    // What happens on the phones, told by the fake Evolution's webhooks.
    assert!(fake.open("uno", UNO_JID).await.is_some());
    assert!(fake.new_qr("dos").await.1.is_some());
    app.clock.advance(Duration::minutes(1));
    assert!(fake.open("dos", DOS_JID).await.is_some());
    let hola = message("MSG-1", STRANGER_JID, false, "hola");
    let reply = fake
        .emit("uno", "messages.upsert", hola.clone())
        .await
        .unwrap();
    assert_eq!(reply.body["data"]["outcome"], "applied", "{}", reply.body);
    let again = fake.emit("uno", "messages.upsert", hola).await.unwrap();
    assert_eq!(
        again.body["data"]["outcome"], "unchanged",
        "a repeat is one event"
    );
    let own = message("MSG-2", STRANGER_JID, true, "sent from the phone");
    let reply = fake.emit("uno", "messages.upsert", own).await.unwrap();
    assert_eq!(reply.body["data"]["outcome"], "ignored", "{}", reply.body);

    // Nothing was sent on the request path.
    assert!(receiver.received().is_empty());
    // A status is told once it held until a step of the worker (RELEVO_STATUS_SETTLE_MS
    // is 0 here): "uno" stays linked until the first step, then drops.
    drain(&[&app, &twin]).await;
    assert!(fake.close("uno", 401).await.is_some());
    drain(&[&app, &twin]).await;

    let received = receiver.received();
    assert!(!received.is_empty());
    let mut ids: Vec<&str> = received.iter().map(|r| r.event_id.as_str()).collect();
    for r in &received {
        assert!(r.verified, "a bad signature: {r:?}");
        assert_eq!(r.answered, 200);
        assert_eq!(r.json["id"], r.event_id);
        assert_eq!(r.json["type"], r.event_type);
    }
    ids.sort();
    let count = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), count, "an event was delivered twice");

    for (tenant, name, id) in [(uno_tenant, "uno", uno), (dos_tenant, "dos", dos)] {
        let rows = log(&app, tenant, "").await;
        let arrived: Vec<&Value> = received
            .iter()
            .filter(|r| r.json["tenant_id"] == tenant)
            .map(|r| &r.json["id"])
            .collect();
        let created: Vec<&Value> = rows.iter().map(|row| &row["id"]).collect();
        assert_eq!(arrived, created, "tenant {tenant}: in order of creation");
        for row in &rows {
            assert_eq!(row["status"], "delivered", "{row}");
            assert_eq!(row["attempts"], 1);
            assert_eq!(row["last_status_code"], 200);
            assert_eq!(row["last_error"], Value::Null);
            assert_eq!(row["next_attempt_at"], Value::Null);
            assert_eq!(row["event"]["tenant_id"], tenant);
            assert_eq!(row["event"]["data"]["session_id"], name);
        }
        let connected = of_type(&rows, "instance.connected");
        assert_eq!(connected.len(), 1, "{name}: {rows:#?}");
        let data = &connected[0]["event"]["data"];
        assert_eq!(data["instance_id"], id);
        assert_eq!(data["status"], "connected");
        assert_eq!(
            data["whatsapp_user_id"],
            if name == "uno" { UNO_JID } else { DOS_JID }
        );
        for key in [
            "phone_number",
            "last_seen",
            "created_at",
            "updated_at",
            "session_id",
        ] {
            assert!(data[key].is_string(), "{key} in {data}");
        }
        let qr = of_type(&rows, "instance.qr_updated");
        assert!(!qr.is_empty(), "provisioning waits for a scan");
        for row in &qr {
            assert!(row["event"]["data"]["qr_data"].is_string(), "{row}");
            assert!(row["event"]["data"]["generated_at"].is_string());
        }
        let statuses: Vec<(&Value, &Value)> = of_type(&rows, "instance.status_changed")
            .iter()
            .map(|row| {
                (
                    &row["event"]["data"]["previous_status"],
                    &row["event"]["data"]["status"],
                )
            })
            .collect();
        assert!(statuses.contains(&(&json!("connecting"), &json!("connected"))));
        for row in of_type(&rows, "instance.status_changed") {
            let data = &row["event"]["data"];
            assert_ne!(data["previous_status"], data["status"]);
            for key in ["timestamp", "last_seen"] {
                assert!(data[key].is_string());
            }
            assert!(data.get("error_message").is_some());
        }
    }

    let uno_rows = log(&app, uno_tenant, "").await;
    let last_status = of_type(&uno_rows, "instance.status_changed")
        .last()
        .map(|row| row["event"]["data"].clone())
        .unwrap();
    assert_eq!(last_status["status"], "disconnected");
    assert_eq!(last_status["previous_status"], "connected");
    assert!(last_status["error_message"].is_string());
    let messages = of_type(&uno_rows, "message.received");
    assert_eq!(messages.len(), 1, "own messages and repeats are not events");
    assert_eq!(
        messages[0]["event"]["data"],
        json!({"session_id": "uno", "sender_name": "Alice", "sender_number": "+573009999999",
               "message_content": "hola", "message_type": "text", "media_info": {},
               "received_at": "2025-11-17T06:30:00.000000Z", "phone_number_session": "+573001234567"})
    );
    assert!(of_type(&log(&app, dos_tenant, "").await, "message.received").is_empty());

    // The filters.
    let only = log(&app, uno_tenant, "&type=message.received&status=delivered").await;
    assert_eq!(only.len(), 1);
    assert!(log(&app, uno_tenant, "&status=failed").await.is_empty());
    let bad = app
        .admin(
            Method::GET,
            &format!("/api/v1/tenants/{uno_tenant}/webhook-deliveries?status=lost&type=x"),
            None,
        )
        .await;
    assert_error(&bad, StatusCode::UNPROCESSABLE_ENTITY, "validation.failed");
    assert!(bad.body["errors"]["status"].is_array());
    assert!(bad.body["errors"]["type"].is_array());
    // Empty values are not in the enums either.
    let empty = app
        .admin(
            Method::GET,
            &format!("/api/v1/tenants/{uno_tenant}/webhook-deliveries?status=&type="),
            None,
        )
        .await;
    assert_error(
        &empty,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation.failed",
    );
    assert!(empty.body["errors"]["status"].is_array());
    assert!(empty.body["errors"]["type"].is_array());
}

async fn what_the_sync_finds_is_told_too(backend: Backend) {
    let Some((app, fake, receiver)) = spawn_reachable(backend).await else {
        return;
    };
    let tenant = tenant_calling(&app, &receiver, "acme").await;
    let alpha = app.provisioned(tenant, "alpha").await;
    app.provisioned(tenant, "beta").await;
    drain(&[&app]).await;
    let told_before = receiver.received().len();

    // Evolution changed without telling Relevo (webhooks lost): the sync finds it.
    fake.link("alpha", UNO_JID);
    fake.lose_instance("beta");
    app.clock.advance(Duration::minutes(1));
    let reply = app
        .admin(
            Method::POST,
            &format!("/api/v1/tenants/{tenant}/whatsapp-instances/sync"),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    drain(&[&app]).await;
    let told: Vec<Value> = receiver.received()[told_before..]
        .iter()
        .map(|r| {
            json!([
                r.event_type,
                r.json["data"]["session_id"],
                r.json["data"]["status"]
            ])
        })
        .collect();
    assert_eq!(
        told,
        [
            json!(["instance.status_changed", "alpha", "connected"]),
            json!(["instance.connected", "alpha", "connected"]),
            json!(["instance.status_changed", "beta", "error"]),
        ]
    );
    let connected = &receiver.received()[told_before + 1].json["data"];
    assert_eq!(connected["instance_id"], alpha);
    assert_eq!(connected["whatsapp_user_id"], UNO_JID);
    assert_eq!(connected["phone_number"], "+573001234567");
    let lost = &receiver.received()[told_before + 2].json["data"];
    assert_eq!(lost["previous_status"], "connecting");
    assert!(lost["error_message"]
        .as_str()
        .unwrap()
        .contains("no longer exists"));

    // A second sync finds nothing new and tells nothing.
    app.clock.advance(Duration::minutes(1));
    let again = app
        .admin(
            Method::POST,
            &format!("/api/v1/tenants/{tenant}/whatsapp-instances/sync"),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
    drain(&[&app]).await;
    assert_eq!(receiver.received().len(), told_before + 3);
}

async fn a_worker_killed_mid_delivery_loses_nothing(backend: Backend) {
    let Some((app, receiver)) = spawn_plain(backend, "5000").await else {
        return;
    };
    let twin = app
        .twin_with(&[("RELEVO_WEBHOOK_TIMEOUT_MS", "5000")])
        .await;
    let tenant = tenant_calling(&app, &receiver, "acme").await;
    queue_events(&app, tenant, 3);

    receiver.set_mode(Mode::Hang);
    let dying = app.dispatcher.clone();
    let worker = tokio::spawn(async move { dying.tick().await });
    receiver.arrival().await;
    // The process dies while the receiver holds the first event.
    worker.abort();
    assert!(worker.await.unwrap_err().is_cancelled());
    receiver.set_mode(Mode::Healthy);

    let report = twin.deliver().await;
    assert_eq!(report.attempts(), 0, "the dead worker's lease still holds");
    twin.clock.advance(Duration::seconds(61));
    let report = twin.deliver().await;
    assert_eq!(report.delivered, 3, "{report:?}");

    let rows = log(&app, tenant, "").await;
    assert_eq!(rows.len(), 3);
    for row in &rows {
        assert_eq!(row["status"], "delivered");
        assert_eq!(row["attempts"], 1, "the dead worker recorded nothing");
    }
    let accepted: Vec<Value> = receiver
        .accepted()
        .iter()
        .map(|r| json!(r.event_id))
        .collect();
    let created: Vec<Value> = rows.iter().map(|row| row["id"].clone()).collect();
    assert_eq!(accepted, created, "each delivered once, in order");
    let held = &receiver.received()[0];
    assert_eq!(held.answered, 0);
    assert_eq!(json!(held.event_id), created[0]);
    assert!(receiver.received().iter().all(|r| r.verified));
}

async fn a_receiver_down_for_eight_attempts_ends_failed_and_replay_delivers_it(backend: Backend) {
    let Some((app, receiver)) = spawn_plain(backend, "400").await else {
        return;
    };
    let twin = app.twin_with(&[TIMEOUT]).await;
    let tenant = tenant_calling(&app, &receiver, "acme").await;
    queue_events(&app, tenant, 1);
    receiver.set_mode(Mode::Down(503));
    let first_attempt = app.clock.now().naive_utc();

    for attempt in 1..=8 {
        // Either process may make the attempt: they share the database.
        let worker = if attempt % 2 == 0 { &app } else { &twin };
        let report = worker.deliver().await;
        assert_eq!(report.attempts(), 1, "attempt {attempt}: {report:?}");
        let row = log(&app, tenant, "").await.remove(0);
        assert_eq!(row["attempts"], attempt);
        assert_eq!(row["last_status_code"], 503);
        assert!(row["last_error"].as_str().unwrap().contains("503"), "{row}");
        if attempt < 8 {
            assert_eq!(row["status"], "pending");
            let next = at(&row["next_attempt_at"]);
            // Not before it is due.
            app.clock
                .set(DateTime::<Utc>::from_naive_utc_and_offset(next, Utc) - Duration::seconds(1));
            assert_eq!(app.deliver().await.attempts(), 0, "early");
            app.clock.advance(Duration::seconds(1));
        } else {
            assert_eq!(row["status"], "failed");
            assert_eq!(row["next_attempt_at"], Value::Null);
            let last = at(&row["last_attempt_at"]);
            assert!(
                last - first_attempt >= Duration::hours(1),
                "8 attempts over {} minutes",
                (last - first_attempt).num_minutes()
            );
        }
    }
    app.clock.advance(Duration::days(1));
    assert_eq!(app.deliver().await.attempts(), 0, "failed is final");
    assert_eq!(receiver.received().len(), 8);

    receiver.set_mode(Mode::Healthy);
    let row = log(&app, tenant, "").await.remove(0);
    let id = row["id"].as_str().unwrap();
    let path = format!("/api/v1/tenants/{tenant}/webhook-deliveries/{id}/replay");
    let user = app.tenant_user_token(tenant, "ops@acme.test").await;
    let forbidden = app.send(Method::POST, &path, Some(&user), None).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    let readable = app
        .send(
            Method::GET,
            &format!("/api/v1/tenants/{tenant}/webhook-deliveries"),
            Some(&user),
            None,
        )
        .await;
    assert_eq!(
        readable.status,
        StatusCode::OK,
        "a tenant user reads its log"
    );
    assert_eq!(readable.body["meta"]["total"], 1);
    let missing = app
        .admin(
            Method::POST,
            &format!(
                "/api/v1/tenants/{tenant}/webhook-deliveries/{}/replay",
                uuid::Uuid::new_v4()
            ),
            None,
        )
        .await;
    assert_error(
        &missing,
        StatusCode::NOT_FOUND,
        "webhook_delivery.not_found",
    );

    let replay = app.admin(Method::POST, &path, None).await;
    assert_eq!(replay.status, StatusCode::ACCEPTED, "{}", replay.body);
    assert_eq!(replay.body["data"]["status"], "pending");
    assert_eq!(replay.body["data"]["attempts"], 8);
    assert_eq!(replay.body["data"]["max_attempts"], 16);
    let report = twin.deliver().await;
    assert_eq!(report.delivered, 1, "{report:?}");
    let row = log(&app, tenant, "").await.remove(0);
    assert_eq!(row["status"], "delivered");
    assert_eq!(row["attempts"], 9);
    assert_eq!(row["last_status_code"], 200);
    let received = receiver.received();
    let (failed, replayed) = (&received[0], received.last().unwrap());
    assert_eq!(replayed.answered, 200);
    assert!(replayed.verified);
    assert_eq!(replayed.event_id, failed.event_id, "the same event");
    assert_eq!(replayed.body, failed.body, "the same body");

    let audit = app
        .admin(
            Method::GET,
            "/api/v1/audit-log?action=webhook_delivery.replayed",
            None,
        )
        .await;
    assert_eq!(audit.body["meta"]["total"], 1, "{}", audit.body);
    assert_eq!(audit.body["data"][0]["tenant_id"], tenant);
}

async fn timeouts_and_errors_are_retried_and_410_stops(backend: Backend) {
    let Some((app, receiver)) = spawn_plain(backend, "300").await else {
        return;
    };
    let tenant = tenant_calling(&app, &receiver, "acme").await;
    queue_events(&app, tenant, 1);

    receiver.set_mode(Mode::Hang);
    let report = app.deliver().await;
    assert_eq!(report.retried, 1, "{report:?}");
    let row = log(&app, tenant, "").await.remove(0);
    assert_eq!(row["status"], "pending");
    assert_eq!(row["last_status_code"], Value::Null);
    assert_eq!(row["last_error"], "No answer within 300 ms");

    receiver.set_mode(Mode::Gone);
    app.clock.advance(Duration::hours(1));
    let report = app.deliver().await;
    assert_eq!(report.failed, 1, "{report:?}");
    let row = log(&app, tenant, "").await.remove(0);
    assert_eq!(row["status"], "failed");
    assert_eq!(row["attempts"], 2);
    assert_eq!(row["last_status_code"], 410);
    app.clock.advance(Duration::days(1));
    assert_eq!(app.deliver().await.attempts(), 0, "410 stops");

    // Fails twice, then healthy: the third attempt delivers.
    receiver.set_mode(Mode::FailTimes(2, 500));
    queue_events(&app, tenant, 1);
    for _ in 0..2 {
        assert_eq!(app.deliver().await.retried, 1);
        app.clock.advance(Duration::hours(3));
    }
    assert_eq!(app.deliver().await.delivered, 1);
    let row = log(&app, tenant, "&status=delivered").await.remove(0);
    assert_eq!(row["attempts"], 3);
    assert_eq!(row["last_error"], Value::Null);
}

async fn one_slow_tenant_does_not_hold_up_the_others(backend: Backend) {
    let Some((app, slow)) = spawn_plain(backend, "3000").await else {
        return;
    };
    let fast = Receiver::start(app.clock.clone()).await;
    let stuck = tenant_calling(&app, &slow, "stuck").await;
    let healthy = tenant_calling(&app, &fast, "healthy").await;
    queue_events(&app, stuck, 2);
    queue_events(&app, healthy, 20);
    slow.set_mode(Mode::Hang);

    let worker = app.dispatcher.clone();
    let step = tokio::spawn(async move { worker.tick().await });
    slow.arrival().await;
    tokio::time::timeout(StdDuration::from_secs(10), async {
        while fast.accepted().len() < 20 {
            fast.arrival().await;
        }
    })
    .await
    .expect("the healthy tenant's events arrive");
    assert!(
        !step.is_finished(),
        "all 20 arrived while the slow receiver still held its event"
    );
    let report = step.await.unwrap().unwrap();
    assert_eq!(report.delivered, 20);
    assert_eq!(
        report.retried, 1,
        "the slow tenant's turn ended at its failure"
    );
    assert_eq!(log(&app, stuck, "&status=pending").await.len(), 2);
}

async fn quota_exhausted_is_told_once_per_tenant_and_day(backend: Backend) {
    let Some((app, receiver)) = spawn_plain(backend, "400").await else {
        return;
    };
    let tenant = tenant_calling(&app, &receiver, "acme").await;
    app.instance(tenant, "+573001110001", "uno", 1).await;
    app.instance(tenant, "+573001110002", "dos", 1).await;
    let token = app.sender_token(tenant).await;
    let claim = |count: i64| app.claim(tenant, &token, json!({"count": count}));

    assert_eq!(claim(1).await.status, StatusCode::OK);
    app.deliver().await;
    assert!(
        receiver.received().is_empty(),
        "one instance still has quota"
    );
    assert_eq!(claim(1).await.status, StatusCode::OK);
    assert_eq!(claim(1).await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(claim(1).await.status, StatusCode::TOO_MANY_REQUESTS);
    drain(&[&app]).await;
    let received = receiver.received();
    assert_eq!(received.len(), 1, "once per day");
    assert_eq!(received[0].event_type, "quota.exhausted");
    assert_eq!(
        received[0].json["data"],
        json!({"next_reset_at": "2025-11-18T00:00:00.000000Z"})
    );
    assert!(received[0].verified);

    app.clock.advance(Duration::days(1));
    for _ in 0..2 {
        assert_eq!(claim(1).await.status, StatusCode::OK);
    }
    drain(&[&app]).await;
    let types: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.event_type.clone())
        .collect();
    assert_eq!(
        types,
        ["quota.exhausted", "quota.exhausted"],
        "again the next day"
    );

    // A process that died between PostgreSQL's one-statement claim (committed) and the
    // event's own transaction: the event is missing. The next refused claim writes it.
    app.clock.advance(Duration::days(1));
    for _ in 0..2 {
        assert_eq!(claim(1).await.status, StatusCode::OK);
    }
    let lost = diesel::sql_query(
        "DELETE FROM webhook_events WHERE event_type = 'quota.exhausted' AND status = 'pending'",
    )
    .execute(&mut app.db())
    .unwrap();
    assert_eq!(lost, 1, "the third day's event was written, then lost");
    assert_eq!(claim(1).await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(claim(1).await.status, StatusCode::TOO_MANY_REQUESTS);
    drain(&[&app]).await;
    assert_eq!(
        receiver.received().len(),
        3,
        "the refused claim wrote it again, once"
    );
}

async fn the_callback_secret_is_write_only_and_generated_once(backend: Backend) {
    let Some((app, receiver)) = spawn_plain(backend, "400").await else {
        return;
    };
    let plain = app
        .create_tenant(json!({"nombre": "Sin callback", "slug": "plain"}))
        .await;
    assert_eq!(plain.status, StatusCode::CREATED);
    assert!(plain.body["data"].get("callback_secret").is_none());
    assert_eq!(plain.body["data"]["has_callback_secret"], false);

    let given = app
        .create_tenant(
            json!({"nombre": "Dado", "slug": "given", "callback_url": receiver.url,
                               "callback_secret": "a-secret-of-my-own-123"}),
        )
        .await;
    assert_eq!(given.status, StatusCode::CREATED, "{}", given.body);
    assert!(given.body["data"].get("callback_secret").is_none());
    assert_eq!(given.body["data"]["has_callback_secret"], true);
    let given_id = given.body["data"]["id"].as_i64().unwrap();
    receiver.set_secret(given_id, "a-secret-of-my-own-123");

    let id = tenant_calling(&app, &receiver, "generated").await;
    let shown = app
        .admin(Method::GET, &format!("/api/v1/tenants/{id}"), None)
        .await;
    assert!(shown.body["data"].get("callback_secret").is_none());
    assert_eq!(shown.body["data"]["has_callback_secret"], true);

    // Cleared while the URL stays: a new one, shown once.
    let path = format!("/api/v1/tenants/{id}");
    let cleared = app
        .admin(Method::PUT, &path, Some(&json!({"callback_secret": null})))
        .await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.body);
    let rotated = cleared.body["data"]["callback_secret"].as_str().unwrap();
    receiver.set_secret(id, rotated);
    let renamed = app
        .admin(Method::PUT, &path, Some(&json!({"nombre": "Otro"})))
        .await;
    assert!(renamed.body["data"].get("callback_secret").is_none());

    // Deliveries are signed with each tenant's own secret.
    queue_events(&app, given_id, 1);
    queue_events(&app, id, 1);
    drain(&[&app]).await;
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    assert!(received.iter().all(|r| r.verified && r.answered == 200));

    // Another tenant's user does not see this log.
    let outsider = app.tenant_user_token(given_id, "ops@given.test").await;
    let hidden = app
        .send(
            Method::GET,
            &format!("/api/v1/tenants/{id}/webhook-deliveries"),
            Some(&outsider),
            None,
        )
        .await;
    assert_error(&hidden, StatusCode::NOT_FOUND, "tenant.not_found");
}

/// The README's snippet marked `marker`, from its fenced block.
fn readme_snippet(marker: &str) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("the README");
    let after = readme
        .split_once(marker)
        .unwrap_or_else(|| panic!("{marker} in the README"))
        .1;
    let block = after.split_once("```").expect("a code block").1;
    let code = block.split_once('\n').expect("a language line").1;
    code.split_once("```")
        .expect("the block ends")
        .0
        .to_string()
}

async fn the_readme_snippets_verify_a_real_delivery(backend: Backend) {
    let Some((app, receiver)) = spawn_plain(backend, "400").await else {
        return;
    };
    let (tenant, secret) = tenant_with_secret(&app, &receiver, "acme").await;
    queue_events(&app, tenant, 1);
    drain(&[&app]).await;
    let delivery = receiver.accepted().remove(0);
    assert!(delivery.verified);
    let now = app.clock.now().timestamp();
    let dir = tempfile::tempdir().unwrap();
    let body_path = dir.path().join("body.json");
    std::fs::write(&body_path, &delivery.body).unwrap();
    let tampered_path = dir.path().join("tampered.json");
    let mut tampered = delivery.body.clone();
    tampered.push(b' ');
    std::fs::write(&tampered_path, &tampered).unwrap();

    let python = format!(
        "{}\nimport sys\nbody = open(sys.argv[1], 'rb').read()\nprint(verify(sys.argv[2], body, sys.argv[3], now=int(sys.argv[4])))\n",
        readme_snippet("<!-- relevo:verify-python -->")
    );
    let node = format!(
        "{}\nconst fs = require('fs');\nconst [body, secret, signature, now] = process.argv.slice(2);\nconsole.log(verify(secret, fs.readFileSync(body), signature, 300, Number(now)) ? 'True' : 'False');\n",
        readme_snippet("<!-- relevo:verify-node -->")
    );
    let python_path = dir.path().join("verify.py");
    std::fs::write(&python_path, python).unwrap();
    let node_path = dir.path().join("verify.js");
    std::fs::write(&node_path, node).unwrap();
    let run = |program: &str,
               script: &std::path::Path,
               body: &std::path::Path,
               secret: &str,
               now: i64| {
        let output = std::process::Command::new(program)
            .arg(script)
            .arg(body)
            .arg(secret)
            .arg(&delivery.signature)
            .arg(now.to_string())
            .output()
            .unwrap_or_else(|e| panic!("{program} runs: {e}"));
        assert!(
            output.status.success(),
            "{program}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };
    let mut programs = vec!["python3"];
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok()
    {
        programs.push("node");
    } else {
        eprintln!("node is not installed: the Node snippet is not run");
    }
    for program in programs {
        let script = if program == "node" {
            &node_path
        } else {
            &python_path
        };
        assert_eq!(
            run(program, script, &body_path, &secret, now),
            "True",
            "{program}"
        );
        assert_eq!(
            run(program, script, &tampered_path, &secret, now),
            "False",
            "{program}: tampered"
        );
        assert_eq!(
            run(program, script, &body_path, "whsec_wrong", now),
            "False",
            "{program}: wrong secret"
        );
        assert_eq!(
            run(program, script, &body_path, &secret, now + 3600),
            "False",
            "{program}: too old"
        );
    }
}

/// Retention (`RELEVO_OUTBOX_RETENTION_DAYS`, here 3): the worker's steps delete delivered
/// and failed events last changed longer ago, at most 1000 a step, one worker at a time
/// (the pruning lease), and then wait a minute; pending events stay however old they are;
/// a pruned event is gone from the log, and replaying it is a 404.
async fn settled_events_are_pruned_after_the_retention_in_bounded_steps(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("RELEVO_OUTBOX_RETENTION_DAYS", "3")]).await else {
        return;
    };
    let receiver = Receiver::start(app.clock.clone()).await;
    let tenant = tenant_calling(&app, &receiver, "acme").await;
    let now = app.clock.now().naive_utc();
    queue_events(&app, tenant, 1);
    app.seed_outbox(
        tenant,
        DeliveryStatus::Delivered,
        1500,
        now - Duration::days(4),
        None,
    );
    app.seed_outbox(
        tenant,
        DeliveryStatus::Failed,
        600,
        now - Duration::days(4),
        None,
    );
    app.seed_outbox(
        tenant,
        DeliveryStatus::Delivered,
        10,
        now - Duration::days(2),
        None,
    );
    let next_month = Some(now + Duration::days(30));
    app.seed_outbox(
        tenant,
        DeliveryStatus::Pending,
        5,
        now - Duration::days(30),
        next_month,
    );
    let held = relevo::db::leases::try_acquire(
        &mut app.db(),
        relevo::events::worker::PRUNE_LEASE,
        "another-process",
        now,
        Duration::seconds(60),
    );
    assert!(held.unwrap());

    // Another worker holds the pruning lease: this one delivers, and prunes nothing.
    let report = app.deliver().await;
    assert_eq!((report.delivered, report.pruned), (1, 0), "{report:?}");
    let delivered_id = receiver.received()[0].event_id.clone();

    // A minute on, the lease has expired: 2100 old events go, 1000 per step.
    app.clock.advance(Duration::seconds(60));
    let mut steps = Vec::new();
    for _ in 0..4 {
        steps.push(app.deliver().await.pruned);
    }
    assert_eq!(steps, [1000, 1000, 100, 0], "the last step waits a minute");
    assert_eq!(app.outbox_count(tenant, DeliveryStatus::Failed), 0);
    assert_eq!(app.outbox_count(tenant, DeliveryStatus::Delivered), 11);
    assert_eq!(app.outbox_count(tenant, DeliveryStatus::Pending), 5);

    // Two days on, the events delivered two days ago are four days old.
    app.clock.advance(Duration::days(2));
    assert_eq!(app.deliver().await.pruned, 10);
    let reply = app
        .admin(
            Method::GET,
            &format!("/api/v1/tenants/{tenant}/webhook-deliveries"),
            None,
        )
        .await;
    assert_eq!(reply.body["meta"]["total"], 6, "{}", reply.body);

    // Two more, and the event delivered at the start goes too; the pending ones stay.
    app.clock.advance(Duration::days(2));
    assert_eq!(app.deliver().await.pruned, 1);
    assert_eq!(app.outbox_count(tenant, DeliveryStatus::Delivered), 0);
    assert_eq!(app.outbox_count(tenant, DeliveryStatus::Pending), 5);
    let replay = app
        .admin(
            Method::POST,
            &format!("/api/v1/tenants/{tenant}/webhook-deliveries/{delivered_id}/replay"),
            None,
        )
        .await;
    assert_error(&replay, StatusCode::NOT_FOUND, "webhook_delivery.not_found");
    let text = app.metrics_text().await;
    assert!(text.contains("relevo_outbox_pruned_total 2111\n"), "{text}");
    assert_eq!(receiver.received().len(), 1, "only the real event was sent");
}

both_backends!(
    every_event_reaches_the_receiver_once_signed_and_in_order,
    what_the_sync_finds_is_told_too,
    a_worker_killed_mid_delivery_loses_nothing,
    a_receiver_down_for_eight_attempts_ends_failed_and_replay_delivers_it,
    timeouts_and_errors_are_retried_and_410_stops,
    one_slow_tenant_does_not_hold_up_the_others,
    quota_exhausted_is_told_once_per_tenant_and_day,
    the_callback_secret_is_write_only_and_generated_once,
    the_readme_snippets_verify_a_real_delivery,
    settled_events_are_pruned_after_the_retention_in_bounded_steps,
);

through_pooler!(
    every_event_reaches_the_receiver_once_signed_and_in_order,
    a_worker_killed_mid_delivery_loses_nothing,
    a_receiver_down_for_eight_attempts_ends_failed_and_replay_delivers_it,
    settled_events_are_pruned_after_the_retention_in_bounded_steps,
);
