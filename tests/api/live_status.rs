//! The live status as the real Evolution shows it (SPEC §7, issue "True in front of the
//! real Evolution API"): a connection that loops between `connecting` and `close` is one
//! state to the tenant, claims stop at its first signal, events older than the state they
//! would replace change nothing, and the sync's stored status does not override a fresh
//! live one.

use chrono::Duration;
use relevo::domain::ConnectionStatus;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::callback_receiver::Receiver;
use crate::evolution_fake::{spawn_reachable_with_fake, FakeEvolution};
use crate::helpers::{instance_path, into_reply, Backend, Reply, TestApp};

const UNO_JID: &str = "573001234567@s.whatsapp.net";
const SETTLE: (&str, &str) = ("RELEVO_STATUS_SETTLE_MS", "10000");

async fn spawn(backend: Backend) -> Option<(TestApp, FakeEvolution, Receiver)> {
    let (app, fake) = spawn_reachable_with_fake(backend, &[SETTLE]).await?;
    let receiver = Receiver::start(app.clock.clone()).await;
    Some((app, fake, receiver))
}

/// A tenant whose callbacks go to `receiver`, with an instance `uno` paired on the fake.
async fn paired_instance(app: &TestApp, fake: &FakeEvolution, receiver: &Receiver) -> (i64, i64) {
    let reply = app
        .create_tenant(json!({"nombre": "t", "slug": "t", "callback_url": receiver.url}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let tenant = reply.body["data"]["id"].as_i64().unwrap();
    receiver.set_secret(
        tenant,
        reply.body["data"]["callback_secret"].as_str().unwrap(),
    );
    let reply = app
        .provision(tenant, &json!({"instance_name": "uno"}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let id = reply.body["data"]["id"].as_i64().unwrap();
    let opened = fake.open("uno", UNO_JID).await.expect("webhook sent");
    assert_eq!(opened.body["data"]["outcome"], "applied", "{}", opened.body);
    (tenant, id)
}

fn status_events(receiver: &Receiver) -> Vec<(String, String)> {
    receiver
        .received()
        .iter()
        .filter(|r| r.event_type == "instance.status_changed")
        .map(|r| {
            let data = &r.json["data"];
            (
                data["previous_status"].as_str().unwrap().to_string(),
                data["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn post_at(app: &TestApp, url: &str, date_time: &str, event: &str, data: Value) -> Reply {
    let body = json!({"event": event, "instance": "uno", "data": data, "destination": url,
                      "date_time": date_time, "server_url": "http://evolution", "apikey": null});
    into_reply(app.client.post(url).json(&body).send().await.unwrap()).await
}

/// A minute of a connection looping as the real server's does when WhatsApp drops:
/// `connecting` webhooks, and a live state that flickers between `connecting` and
/// `close`. Claims stop at the first signal; the tenant hears of it once it settles.
async fn a_looping_connection_is_one_state_to_the_tenant(backend: Backend) {
    let Some((app, fake, receiver)) = spawn(backend).await else {
        return;
    };
    let (tenant, id) = paired_instance(&app, &fake, &receiver).await;
    app.clock.advance(Duration::seconds(11));
    app.deliver().await;
    assert_eq!(
        status_events(&receiver),
        [("connecting".to_string(), "connected".to_string())]
    );
    let token = app.sender_token(tenant).await;
    assert_eq!(
        app.claim(tenant, &token, json!({})).await.status,
        StatusCode::OK
    );

    for second in 0..60 {
        let state = if second % 2 == 0 {
            "connecting"
        } else {
            "close"
        };
        fake.state().instances.get_mut("uno").unwrap().state = state.into();
        let looping = json!({"instance": "uno", "state": "connecting", "statusReason": 200});
        fake.emit("uno", "connection.update", looping)
            .await
            .expect("sent");
        if second == 0 {
            let refused = app.claim(tenant, &token, json!({})).await;
            assert_ne!(refused.status, StatusCode::OK, "claims stop at once");
        }
        let live = app
            .admin(
                Method::GET,
                &format!("{}/connection-state", instance_path(tenant, id)),
                None,
            )
            .await;
        assert_eq!(live.status, StatusCode::OK, "{}", live.body);
        app.clock.advance(Duration::seconds(1));
        app.deliver().await;
    }

    let told = status_events(&receiver);
    assert!(
        told.len() <= 3,
        "at most two in the looping minute: {told:?}"
    );
    assert!(told.len() >= 2, "the drop is told once it held: {told:?}");
    assert_eq!(told[1].0, "connected");
}

/// Evolution retries webhooks and delivers them concurrently: a `close` older than the
/// `open` already applied changes nothing.
async fn an_older_event_delivered_late_changes_nothing(backend: Backend) {
    let Some((app, fake, receiver)) = spawn(backend).await else {
        return;
    };
    let (tenant, id) = paired_instance(&app, &fake, &receiver).await;
    let url = fake.webhook_url("uno");
    let open = json!({"instance": "uno", "wuid": UNO_JID, "state": "open", "statusReason": 200});
    let close = json!({"instance": "uno", "state": "close", "statusReason": 401});

    let newer = post_at(
        &app,
        &url,
        "2099-01-01T10:00:02.000Z",
        "connection.update",
        open,
    )
    .await;
    let older = post_at(
        &app,
        &url,
        "2099-01-01T10:00:01.000Z",
        "connection.update",
        close.clone(),
    )
    .await;

    assert_eq!(newer.status, StatusCode::OK, "{}", newer.body);
    assert_eq!(older.body["data"]["outcome"], "unchanged", "{}", older.body);
    assert_eq!(
        app.show_instance(tenant, id).await["connection_status"],
        "connected"
    );
    let later = post_at(
        &app,
        &url,
        "2099-01-01T10:00:03.000Z",
        "connection.update",
        close,
    )
    .await;
    assert_eq!(later.body["data"]["outcome"], "applied", "{}", later.body);
    assert_eq!(
        app.show_instance(tenant, id).await["connection_status"],
        "disconnected"
    );
}

/// `fetchInstances` keeps the stored `close` while the live connection says otherwise: a
/// live status younger than the settle time is kept by the sync.
async fn the_sync_keeps_a_fresh_live_status(backend: Backend) {
    let Some((app, fake, receiver)) = spawn(backend).await else {
        return;
    };
    let (tenant, id) = paired_instance(&app, &fake, &receiver).await;
    fake.state().instances.get_mut("uno").unwrap().state = "close".into();
    let looping = json!({"instance": "uno", "state": "connecting", "statusReason": 200});
    fake.emit("uno", "connection.update", looping)
        .await
        .expect("sent");
    let sync_path = format!("/api/v1/tenants/{tenant}/whatsapp-instances/sync");

    app.clock.advance(Duration::seconds(3));
    let sync = app.admin(Method::POST, &sync_path, None).await;
    assert_eq!(sync.status, StatusCode::OK, "{}", sync.body);
    assert_eq!(sync.body["data"]["updated"], 0, "{}", sync.body);
    assert_eq!(
        app.show_instance(tenant, id).await["connection_status"],
        "connecting"
    );

    app.clock.advance(Duration::seconds(10));
    let sync = app.admin(Method::POST, &sync_path, None).await;
    assert_eq!(sync.body["data"]["updated"], 1, "{}", sync.body);
    assert_eq!(
        app.show_instance(tenant, id).await["connection_status"],
        "disconnected"
    );
}

/// The real server's looping connection: its webhook keeps saying `connecting`, its
/// stored state says `close`, its live state flickers. Live reads and the sync do not
/// swap a status a webhook keeps confirming for another that cannot send either; once the
/// webhooks stop for the settle time, they are believed again.
async fn live_reads_and_syncs_agree_with_the_webhooks_of_a_looping_instance(backend: Backend) {
    let Some((app, fake, receiver)) = spawn(backend).await else {
        return;
    };
    let (tenant, id) = paired_instance(&app, &fake, &receiver).await;
    fake.start_looping("uno");
    let looping = json!({"instance": "uno", "state": "connecting", "statusReason": 200});
    fake.emit("uno", "connection.update", looping.clone())
        .await
        .expect("sent");
    // The status is older than the settle time; the webhooks keep repeating it.
    app.clock.advance(Duration::seconds(30));
    let repeated = fake
        .emit("uno", "connection.update", looping)
        .await
        .expect("sent");
    assert_eq!(
        repeated.body["data"]["outcome"], "unchanged",
        "{}",
        repeated.body
    );
    app.clock.advance(Duration::seconds(3));
    let live_path = format!("{}/connection-state", instance_path(tenant, id));
    let sync_path = format!("/api/v1/tenants/{tenant}/whatsapp-instances/sync");

    for read in 0..4 {
        let live = app.admin(Method::GET, &live_path, None).await;
        assert_eq!(live.status, StatusCode::OK, "{}", live.body);
        assert_eq!(
            app.instance_row(id).connection_status,
            ConnectionStatus::Connecting,
            "live read {read}: {}",
            live.body
        );
        let sync = app.admin(Method::POST, &sync_path, None).await;
        assert_eq!(
            sync.body["data"]["updated"], 0,
            "sync {read}: {}",
            sync.body
        );
        assert_eq!(
            app.instance_row(id).connection_status,
            ConnectionStatus::Connecting
        );
    }
    assert_eq!(fake.calls_to("GET /instance/connectionState/"), 4);

    // No webhook for longer than the settle time: the live state is believed again.
    app.clock.advance(Duration::seconds(11));
    app.admin(Method::GET, &live_path, None).await;
    assert_eq!(
        app.instance_row(id).connection_status,
        ConnectionStatus::Connecting
    );
    app.admin(Method::GET, &live_path, None).await;
    assert_eq!(
        app.instance_row(id).connection_status,
        ConnectionStatus::Disconnected
    );
}

both_backends!(
    a_looping_connection_is_one_state_to_the_tenant,
    an_older_event_delivered_late_changes_nothing,
    the_sync_keeps_a_fresh_live_status,
    live_reads_and_syncs_agree_with_the_webhooks_of_a_looping_instance,
);
