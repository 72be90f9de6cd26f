//! Sending through Relevo (SPEC §6, issue 15) against the fake Evolution server: a text
//! goes out through the next instance, fails over when an instance fails, is never
//! counted when it was not sent and counted once when it may have been, and its delivery
//! receipts move it to `delivered` and `read`.

use std::collections::HashMap;
use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use diesel::RunQueryDsl;
use futures_util::future::join_all;
use relevo::clock::Clock;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::callback_receiver::Receiver;
use crate::evolution_fake::{spawn_reachable_with_fake, FakeEvolution, SLOW_ANSWER};
use crate::helpers::{assert_error, assert_invalid, Backend, Reply, TestApp};
use crate::{both_backends, through_pooler};

/// A recipient on WhatsApp, and its digits as Evolution gets them.
const TO: &str = "+573009876543";
const TO_DIGITS: &str = "573009876543";

struct Setup {
    app: TestApp,
    fake: FakeEvolution,
    tenant: i64,
    token: String,
}

async fn setup(backend: Backend) -> Option<Setup> {
    let (app, fake) = spawn_reachable_with_fake(backend, &[]).await?;
    let tenant = app.seed_tenant().await;
    let token = app.sender_token(tenant).await;
    Some(Setup {
        app,
        fake,
        tenant,
        token,
    })
}

impl Setup {
    /// Provisions instance `name` with `limit` and links it to WhatsApp: it is
    /// `connected` and may send. Answers its id.
    async fn connected(&self, name: &str, limit: i64) -> i64 {
        connected(&self.app, &self.fake, self.tenant, name, limit).await
    }

    async fn send(&self, body: Value) -> Reply {
        let path = format!("/api/v1/tenants/{}/messages", self.tenant);
        self.app
            .send(Method::POST, &path, Some(&self.token), Some(&body))
            .await
    }

    async fn message(&self, id: &str) -> Value {
        let path = format!("/api/v1/tenants/{}/messages/{id}", self.tenant);
        let reply = self.app.admin(Method::GET, &path, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body["data"].clone()
    }

    async fn log(&self, query: &str) -> Vec<Value> {
        let path = format!(
            "/api/v1/tenants/{}/messages?per_page=100{query}",
            self.tenant
        );
        let reply = self.app.admin(Method::GET, &path, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body["data"].as_array().unwrap().clone()
    }

    async fn sent_today(&self, instance: i64) -> i64 {
        self.app.sent_today(self.tenant, instance).await
    }

    async fn status_of(&self, instance: i64) -> String {
        let shown = self.app.show_instance(self.tenant, instance).await;
        shown["connection_status"].as_str().unwrap().to_string()
    }

    fn send_calls(&self) -> usize {
        self.fake.calls_to("POST /message/sendText/")
    }
}

pub(crate) async fn connected(
    app: &TestApp,
    fake: &FakeEvolution,
    tenant: i64,
    name: &str,
    limit: i64,
) -> i64 {
    let reply = app
        .provision(
            tenant,
            &json!({"instance_name": name, "daily_message_limit": limit}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let id = reply.body["data"]["id"].as_i64().unwrap();
    let jid = format!("5730012{:05}@s.whatsapp.net", id);
    let opened = fake.open(name, &jid).await.expect("the webhook arrives");
    assert_eq!(opened.status, StatusCode::OK, "{}", opened.body);
    id
}

fn text(n: usize) -> String {
    format!("Hola {n}, tu pedido está en camino.")
}

async fn a_text_goes_out_through_an_instance_and_is_logged_without_its_text(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let uno = s.connected("uno", 10).await;
    let reply = s
        .send(json!({"to": "+57 300 987 6543", "text": "Hola, ¿cómo estás?"}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let message = &reply.body["data"];
    assert_eq!(message["status"], "sent");
    assert_eq!(message["to"], TO);
    assert_eq!(message["instance"]["id"], uno);
    assert_eq!(message["instance"]["instance_name"], "uno");
    let sent = s.fake.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (
            sent[0].instance.as_str(),
            sent[0].number.as_str(),
            sent[0].text.as_str()
        ),
        ("uno", TO_DIGITS, "Hola, ¿cómo estás?")
    );
    assert_eq!(message["evolution_message_id"], sent[0].id.as_str());
    assert_eq!(message["error_key"], Value::Null);
    let attempts = message["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["instance_id"], uno);
    assert!(attempts[0].get("error_key").is_none());
    assert_eq!(attempts[0]["claim_id"], message["claim_id"]);
    assert_eq!(s.sent_today(uno).await, 1, "counted once");

    // The sender token's own path, and the log.
    let own = s
        .app
        .send(
            Method::POST,
            "/api/v1/tenant/messages",
            Some(&s.token),
            Some(&json!({"to": TO, "text": "otra vez", "strategy": "least_used"})),
        )
        .await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.body);
    assert_eq!(s.sent_today(uno).await, 2);
    let log = s.log("").await;
    assert_eq!(log.len(), 2);
    assert_eq!(log[1]["id"], message["id"], "newest first");
    assert_eq!(s.message(message["id"].as_str().unwrap()).await, *message);
    assert_eq!(s.log("&status=sent").await.len(), 2);
    assert_eq!(s.log("&status=failed").await.len(), 0);
    assert_eq!(s.log(&format!("&instance_id={uno}")).await.len(), 2);
    assert_eq!(s.log("&instance_id=999999").await.len(), 0);
    let today = s.app.clock.now().date_naive();
    assert_eq!(s.log(&format!("&from={today}&to={today}")).await.len(), 2);
    assert_eq!(s.log("&to=2000-01-01").await.len(), 0);

    // The text is in no answer and in no row.
    let mut conn = s.app.db();
    let rows: Vec<MessageRow> = diesel::sql_query("SELECT * FROM messages")
        .load(&mut conn)
        .unwrap();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(row.recipient, TO);
        assert!(!row.attempts.contains("Hola") && !row.attempts.contains("otra vez"));
    }
    assert!(!serde_json::to_string(&log).unwrap().contains("Hola"));

    // A tenant user reads their own tenant's log; not another tenant's, and cannot send.
    let user = s.app.tenant_user_token(s.tenant, "lectora@uno.test").await;
    let path = format!("/api/v1/tenants/{}/messages", s.tenant);
    let read = s.app.send(Method::GET, &path, Some(&user), None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.body["meta"]["total"], 2);
    let send = s
        .app
        .send(
            Method::POST,
            &path,
            Some(&user),
            Some(&json!({"to": TO, "text": "x"})),
        )
        .await;
    assert_eq!(send.status, StatusCode::FORBIDDEN, "{}", send.body);
    let other = s.app.tenant_named("otra", "UTC").await;
    let other_path = format!("/api/v1/tenants/{other}/messages");
    let hidden = s
        .app
        .send(Method::GET, &other_path, Some(&user), None)
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    let foreign = s
        .app
        .send(
            Method::POST,
            &other_path,
            Some(&s.token),
            Some(&json!({"to": TO, "text": "x"})),
        )
        .await;
    assert_eq!(
        foreign.status,
        StatusCode::NOT_FOUND,
        "a sender token is for its tenant"
    );
    let missing = s
        .app
        .admin(Method::GET, &format!("{path}/no-such-message"), None)
        .await;
    assert_error(&missing, StatusCode::NOT_FOUND, "message.not_found");
    assert_eq!(s.send_calls(), 2, "nothing else was sent");
}

#[derive(diesel::QueryableByName)]
struct MessageRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    recipient: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    attempts: String,
}

async fn bad_input_is_a_422_listing_every_field_and_sends_nothing(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let uno = s.connected("uno", 10).await;
    let reply = s
        .send(json!({"to": "3009876543", "text": "   ", "strategy": "random", "idempotency_key": "k".repeat(129)}))
        .await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation.failed",
    );
    for field in ["to", "text", "strategy", "idempotency_key"] {
        assert!(
            reply.body["errors"][field].is_array(),
            "{field}: {}",
            reply.body
        );
    }
    let long = s.send(json!({"to": TO, "text": "x".repeat(4097)})).await;
    assert_invalid(&long, &["text"]);
    let missing = s.send(json!({})).await;
    assert_error(
        &missing,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation.failed",
    );
    assert!(missing.body["errors"]["to"].is_array() && missing.body["errors"]["text"].is_array());
    let longest = s.send(json!({"to": TO, "text": "y".repeat(4096)})).await;
    assert_eq!(longest.status, StatusCode::CREATED, "{}", longest.body);
    assert_eq!(s.send_calls(), 1);
    assert_eq!(s.sent_today(uno).await, 1);
}

async fn a_dropped_instance_fails_over_and_is_marked_disconnected(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let uno = s.connected("uno", 10).await;
    let dos = s.connected("dos", 10).await;
    // The recipient sticks to uno.
    let first = s.send(json!({"to": TO, "text": text(1)})).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["data"]["instance"]["id"], uno);

    s.fake.drop_link("uno");
    let reply = s.send(json!({"to": TO, "text": text(2)})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let message = &reply.body["data"];
    assert_eq!(message["instance"]["id"], dos, "failed over");
    let attempts = message["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["instance_id"], uno);
    assert_eq!(attempts[0]["error_key"], "evolution.connection_closed");
    assert!(attempts[0]["error"]
        .as_str()
        .unwrap()
        .contains("Connection Closed"));
    assert_ne!(attempts[0]["claim_id"], attempts[1]["claim_id"]);
    assert_eq!(attempts[1]["instance_id"], dos);
    assert!(attempts[1].get("error_key").is_none());
    assert_eq!(
        s.sent_today(uno).await,
        1,
        "the failed attempt was given back"
    );
    assert_eq!(s.sent_today(dos).await, 1);
    assert_eq!(
        s.status_of(uno).await,
        "disconnected",
        "as Evolution showed it"
    );
    assert_eq!(s.fake.sent().len(), 2);

    // The instance that broke inside its send (400 ["Error: Connection Closed"]).
    s.fake.break_sending("dos");
    let reply = s.send(json!({"to": TO, "text": text(3)})).await;
    assert_error(&reply, StatusCode::BAD_GATEWAY, "message.send_failed");
    assert_eq!(s.status_of(dos).await, "disconnected");
    assert_eq!(s.sent_today(dos).await, 1);
}

async fn a_refused_key_and_an_unreachable_server_fail_over(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let uno = s.connected("uno", 10).await;
    let dos = s.connected("dos", 10).await;
    let tres = s.connected("tres", 10).await;
    // Evolution no longer takes uno's key (401); dos's own URL is a closed port.
    s.fake.state().instances.get_mut("uno").unwrap().token = "rotated-by-hand".into();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let moved = s
        .app
        .admin(
            Method::PUT,
            &crate::helpers::instance_path(s.tenant, dos),
            Some(&json!({"evolution_api_url": closed_url, "evolution_api_key": "key-for-the-closed-port"})),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);

    let reply = s.send(json!({"to": TO, "text": text(1)})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let attempts = reply.body["data"]["attempts"].as_array().unwrap();
    let tried: Vec<(i64, Option<&str>)> = attempts
        .iter()
        .map(|attempt| {
            (
                attempt["instance_id"].as_i64().unwrap(),
                attempt["error_key"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        tried,
        [
            (uno, Some("evolution.unauthorized")),
            (dos, Some("evolution.unavailable")),
            (tres, None)
        ]
    );
    assert_eq!(s.status_of(uno).await, "error", "Evolution refused its key");
    assert_eq!(
        s.status_of(dos).await,
        "connected",
        "an unreachable server shows no state"
    );
    assert_eq!(
        (
            s.sent_today(uno).await,
            s.sent_today(dos).await,
            s.sent_today(tres).await
        ),
        (0, 0, 1)
    );
}

async fn three_failed_instances_are_a_502_and_nothing_stays_counted(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let ids: Vec<i64> = {
        let mut ids = Vec::new();
        for name in ["uno", "dos", "tres", "cuatro"] {
            ids.push(s.connected(name, 10).await);
        }
        ids
    };
    s.fake.drop_link("uno");
    s.fake.break_sending("dos");
    s.fake.lose_instance("tres");
    let reply = s
        .send(json!({"to": TO, "text": text(1), "idempotency_key": "tres-fallos"}))
        .await;
    assert_error(&reply, StatusCode::BAD_GATEWAY, "message.send_failed");
    let attempts = reply.body["error_params"]["attempts"].as_array().unwrap();
    let keys: Vec<&str> = attempts
        .iter()
        .map(|attempt| attempt["error_key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "evolution.connection_closed",
            "evolution.connection_closed",
            "evolution.instance_missing"
        ],
        "at most three instances, in rotation order"
    );
    for id in &ids {
        assert_eq!(
            s.sent_today(*id).await,
            0,
            "instance {id}: nothing stays counted"
        );
    }
    assert_eq!(
        s.fake.sent_through("cuatro"),
        0,
        "a fourth instance is never tried"
    );
    let message_id = reply.body["error_params"]["message_id"].as_str().unwrap();
    let logged = s.message(message_id).await;
    assert_eq!(logged["status"], "failed");
    assert_eq!(logged["error_key"], "message.send_failed");
    assert_eq!(logged["attempts"].as_array().unwrap().len(), 3);
    assert_eq!(
        s.status_of(ids[2]).await,
        "error",
        "Evolution no longer has it"
    );

    // The same key answers the same failure and tries nothing again.
    let calls = s.send_calls();
    let again = s
        .send(json!({"to": TO, "text": text(1), "idempotency_key": "tres-fallos"}))
        .await;
    assert_eq!(again.status, StatusCode::BAD_GATEWAY);
    assert_eq!(again.body["error_params"]["message_id"], message_id);
    assert_eq!(s.send_calls(), calls);

    // The daily totals (history and credits) hold no trace of the failed attempts.
    let stats = s
        .app
        .admin(
            Method::GET,
            &format!("/api/v1/tenants/{}/statistics", s.tenant),
            None,
        )
        .await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.body);
    assert_eq!(stats.body["data"]["sent_today"], 0, "{}", stats.body);
    let history = stats.body["data"]["history"].as_array().unwrap();
    let today = history.last().unwrap();
    assert_eq!(today["sent"], 0, "granted minus released: {today}");
    assert_eq!(
        today["released"], 3,
        "each failed attempt's claim was released: {today}"
    );

    // A new message goes out through the one instance left.
    let reply = s.send(json!({"to": TO, "text": text(2)})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["data"]["instance"]["id"], ids[3]);

    // Evolution down altogether: nothing is counted, and the answer says so.
    s.fake.fail(crate::evolution_fake::Failure::ServerError);
    let reply = s
        .send(json!({"to": "+573009876544", "text": text(3)}))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.body);
    assert_eq!(s.sent_today(ids[3]).await, 1);
}

async fn a_number_not_on_whatsapp_is_a_422_without_fail_over(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let uno = s.connected("uno", 10).await;
    let dos = s.connected("dos", 10).await;
    s.fake.not_on_whatsapp(TO_DIGITS);
    let body = json!({"to": TO, "text": text(1), "idempotency_key": "nadie"});
    let reply = s.send(body.clone()).await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "message.recipient_invalid",
    );
    assert!(reply.body["errors"]["to"][0]
        .as_str()
        .unwrap()
        .contains("WhatsApp"));
    let attempts = reply.body["error_params"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "no fail-over");
    assert_eq!(attempts[0]["error_key"], "message.recipient_invalid");
    assert_eq!(s.send_calls(), 1);
    assert_eq!(s.sent_today(uno).await + s.sent_today(dos).await, 0);
    assert_eq!(s.status_of(uno).await, "connected", "the instance is fine");
    let again = s.send(body).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        again.body["error_params"]["message_id"],
        reply.body["error_params"]["message_id"]
    );
    assert_eq!(s.send_calls(), 1, "the key sends nothing again");
}

async fn a_timeout_is_a_504_unknown_that_stays_counted_and_is_not_resent(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let uno = s.connected("uno", 10).await;
    let dos = s.connected("dos", 10).await;
    s.fake.slow_sending("uno", SLOW_ANSWER);
    let body = json!({"to": TO, "text": text(1), "idempotency_key": "lento"});
    let reply = s.send(body.clone()).await;
    assert_error(&reply, StatusCode::GATEWAY_TIMEOUT, "message.send_timeout");
    let message_id = reply.body["error_params"]["message_id"].as_str().unwrap();
    assert_eq!(s.message(message_id).await["status"], "unknown");
    assert_eq!(
        s.sent_today(uno).await,
        1,
        "it may have gone out: it stays counted"
    );
    assert_eq!(s.sent_today(dos).await, 0, "no fail-over");
    let again = s.send(body).await;
    assert_eq!(again.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(again.body["error_params"]["message_id"], message_id);
    assert_eq!(s.send_calls(), 1, "never sent twice");
    assert_eq!(s.sent_today(uno).await, 1);
}

async fn a_retry_while_the_first_send_is_in_flight_counts_it_once(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let uno = s.connected("uno", 10).await;
    s.fake.slow_sending("uno", StdDuration::from_millis(400));
    let body = json!({"to": TO, "text": text(1), "idempotency_key": "reintento"});
    let first = s.send(body.clone());
    let retry = async {
        // The client gives up on the first request and retries once the send started.
        let deadline = Instant::now() + StdDuration::from_secs(5);
        while s.send_calls() == 0 {
            assert!(Instant::now() < deadline, "the first send never started");
            tokio::task::yield_now().await;
            tokio::time::sleep(StdDuration::from_millis(5)).await;
        }
        s.send(body.clone()).await
    };
    let (first, retry) = tokio::join!(first, retry);
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.body);
    assert_eq!(retry.body["data"]["id"], first.body["data"]["id"]);
    assert_eq!(retry.body["data"]["status"], "sent");
    assert_eq!(s.fake.sent().len(), 1, "sent once");
    assert_eq!(s.sent_today(uno).await, 1, "counted once");
    assert_eq!(s.log("").await.len(), 1);

    // Eight requests with one key at once: one sends, the others answer its message.
    let body = json!({"to": TO, "text": text(2), "idempotency_key": "ocho"});
    let replies = join_all((0..8).map(|_| s.send(body.clone()))).await;
    let created: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .collect();
    assert_eq!(
        created.len(),
        1,
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for reply in &replies {
        assert!(matches!(reply.status.as_u16(), 200 | 201), "{}", reply.body);
        assert_eq!(reply.body["data"]["id"], created[0].body["data"]["id"]);
    }
    assert_eq!(s.fake.sent().len(), 2);
    assert_eq!(s.sent_today(uno).await, 2);
}

async fn a_send_whose_process_died_is_unknown_once_it_is_stale(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let uno = s.connected("uno", 10).await;
    let body = json!({"to": TO, "text": text(1), "idempotency_key": "huerfano"});
    let reply = s.send(body.clone()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    // As if the process had died between its claim and Evolution's answer.
    let mut conn = s.app.db();
    diesel::sql_query(
        "UPDATE messages SET status = 'sending', evolution_message_id = NULL, attempts = '[]'",
    )
    .execute(&mut conn)
    .unwrap();
    s.app.clock.advance(Duration::seconds(5));
    s.app.tick().await;
    let id = reply.body["data"]["id"].as_str().unwrap().to_string();
    assert_eq!(s.message(&id).await["status"], "sending", "not stale yet");
    s.app.clock.advance(Duration::minutes(1));
    let again = s.send(body).await;
    assert_error(&again, StatusCode::GATEWAY_TIMEOUT, "message.send_timeout");
    let message = s.message(reply.body["data"]["id"].as_str().unwrap()).await;
    assert_eq!(message["status"], "unknown");
    assert_eq!(s.sent_today(uno).await, 1, "still counted once");
    assert_eq!(s.send_calls(), 1, "not sent again");

    // Without a repeat, the scheduler's step marks such a message once it is stale.
    diesel::sql_query("UPDATE messages SET status = 'sending', error_key = NULL")
        .execute(&mut conn)
        .unwrap();
    s.app.tick().await;
    assert_eq!(
        s.message(&id).await["status"],
        "sending",
        "not stale yet on this clock"
    );
    s.app.clock.advance(Duration::minutes(1));
    s.app.tick().await;
    let message = s.message(&id).await;
    assert_eq!(
        (message["status"].as_str(), message["error_key"].as_str()),
        (Some("unknown"), Some("message.send_timeout"))
    );
    assert_eq!(s.sent_today(uno).await, 1);
}

async fn no_capacity_is_a_429_and_records_nothing(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let none = s.send(json!({"to": TO, "text": text(1)})).await;
    assert_error(&none, StatusCode::CONFLICT, "whatsapp.no_active_instances");
    s.connected("uno", 1).await;
    let first = s.send(json!({"to": TO, "text": text(1)})).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let full = s
        .send(json!({"to": TO, "text": text(2), "idempotency_key": "manana"}))
        .await;
    assert_error(
        &full,
        StatusCode::TOO_MANY_REQUESTS,
        "whatsapp.no_instance_available",
    );
    assert!(full.headers.get("retry-after").is_some());
    assert_eq!(
        s.log("").await.len(),
        1,
        "nothing was tried, nothing recorded"
    );
    // Tomorrow the same key sends it.
    s.app.clock.advance(Duration::days(1));
    let tomorrow = s
        .send(json!({"to": TO, "text": text(2), "idempotency_key": "manana"}))
        .await;
    assert_eq!(tomorrow.status, StatusCode::CREATED, "{}", tomorrow.body);
}

/// 64 senders at once against less capacity than they ask for, with two of the four
/// instances failing: every request is sent or refused, the counters equal what the fake
/// sent, no instance passes its limit, and capacity left is never refused.
async fn concurrent_sends_count_exactly_what_went_out(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let mut ids = HashMap::new();
    for name in ["uno", "dos", "tres", "cuatro"] {
        ids.insert(name, s.connected(name, 10).await);
    }
    s.fake.drop_link("uno");
    s.fake.break_sending("tres");
    const SENDERS: usize = 64;
    let replies = join_all((0..SENDERS).map(|n| {
        s.send(json!({"to": format!("+5731100{n:05}"), "text": text(n), "idempotency_key": format!("k-{n}")}))
    }))
    .await;
    let mut by_status: HashMap<u16, usize> = HashMap::new();
    for reply in &replies {
        *by_status.entry(reply.status.as_u16()).or_default() += 1;
        assert!(
            matches!(reply.status.as_u16(), 201 | 429 | 502),
            "{}: {}",
            reply.status,
            reply.body
        );
    }
    let sent = by_status.get(&201).copied().unwrap_or(0);
    assert_eq!(
        sent, 20,
        "all of the healthy capacity is used: {by_status:?}"
    );
    assert_eq!(by_status.values().sum::<usize>(), SENDERS);
    assert_eq!(
        s.fake.sent().len(),
        sent,
        "the fake sent what Relevo counted"
    );
    for (name, healthy) in [
        ("uno", false),
        ("dos", true),
        ("tres", false),
        ("cuatro", true),
    ] {
        let counted = s.sent_today(ids[name]).await;
        assert_eq!(counted, if healthy { 10 } else { 0 }, "{name}");
        assert_eq!(counted as usize, s.fake.sent_through(name), "{name}");
    }
    assert_eq!(s.log("&status=sent").await.len(), sent);
    let failed = by_status.get(&502).copied().unwrap_or(0);
    assert_eq!(s.log("&status=failed").await.len(), failed);
}

async fn receipts_move_a_message_to_delivered_then_read_and_tell_the_tenant(backend: Backend) {
    let Some((app, fake)) = spawn_reachable_with_fake(backend, &[]).await else {
        return;
    };
    let receiver = Receiver::start(app.clock.clone()).await;
    let created = app
        .create_tenant(
            json!({"nombre": "recibos", "slug": "recibos", "callback_url": receiver.url}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let tenant = created.body["data"]["id"].as_i64().unwrap();
    receiver.set_secret(
        tenant,
        created.body["data"]["callback_secret"].as_str().unwrap(),
    );
    let token = app.sender_token(tenant).await;
    connected(&app, &fake, tenant, "uno", 10).await;
    let path = format!("/api/v1/tenants/{tenant}/messages");
    let reply = app
        .send(
            Method::POST,
            &path,
            Some(&token),
            Some(&json!({"to": TO, "text": "hola"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let id = reply.body["data"]["id"].as_str().unwrap().to_string();
    let whatsapp_id = reply.body["data"]["evolution_message_id"]
        .as_str()
        .unwrap()
        .to_string();
    let shown = format!("{path}/{id}");

    let server_ack = fake
        .receipt("uno", &whatsapp_id, "SERVER_ACK")
        .await
        .unwrap();
    assert_eq!(server_ack.body["data"]["outcome"], "ignored");
    let delivered = fake
        .receipt("uno", &whatsapp_id, "DELIVERY_ACK")
        .await
        .unwrap();
    assert_eq!(
        delivered.body["data"]["outcome"], "applied",
        "{}",
        delivered.body
    );
    assert_eq!(
        app.admin(Method::GET, &shown, None).await.body["data"]["status"],
        "delivered"
    );
    let read = fake.receipt("uno", &whatsapp_id, "READ").await.unwrap();
    assert_eq!(read.body["data"]["outcome"], "applied");
    assert_eq!(
        app.admin(Method::GET, &shown, None).await.body["data"]["status"],
        "read"
    );
    let late = fake
        .receipt("uno", &whatsapp_id, "DELIVERY_ACK")
        .await
        .unwrap();
    assert_eq!(late.body["data"]["outcome"], "unchanged", "never back");
    let replayed = fake.receipt("uno", &whatsapp_id, "READ").await.unwrap();
    assert_eq!(replayed.body["data"]["outcome"], "unchanged");
    let unknown = fake.receipt("uno", "3EB0NOTOURS", "READ").await.unwrap();
    assert_eq!(unknown.body["data"]["outcome"], "ignored");
    assert_eq!(
        app.admin(Method::GET, &shown, None).await.body["data"]["status"],
        "read"
    );

    for _ in 0..5 {
        app.deliver().await;
    }
    let changes: Vec<Value> = receiver
        .accepted()
        .into_iter()
        .filter(|event| event.event_type == "message.status_changed")
        .map(|event| event.json)
        .collect();
    assert_eq!(changes.len(), 2, "one event per change: {changes:?}");
    for (event, (status, previous)) in changes
        .iter()
        .zip([("delivered", "sent"), ("read", "delivered")])
    {
        let data = &event["data"];
        assert_eq!(data["message_id"], id.as_str());
        assert_eq!(data["status"], status);
        assert_eq!(data["previous_status"], previous);
        assert_eq!(data["to"], TO);
        assert_eq!(data["evolution_message_id"], whatsapp_id.as_str());
    }
    assert!(receiver.accepted().iter().all(|event| event.verified));
}

/// A receipt that arrives before Relevo has recorded Evolution's answer (the same
/// instant) is kept, and applied when the message is recorded or by the scheduler's step.
async fn a_receipt_that_comes_before_the_answer_is_kept_and_applied(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let uno = s.connected("uno", 10).await;
    s.fake.state().next_message_id = Some("3EB0EARLY000001".into());
    let early = s
        .fake
        .receipt("uno", "3EB0EARLY000001", "DELIVERY_ACK")
        .await
        .unwrap();
    assert_eq!(early.status, StatusCode::OK, "{}", early.body);
    let reply = s.send(json!({"to": TO, "text": text(1)})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(
        reply.body["data"]["evolution_message_id"],
        "3EB0EARLY000001"
    );
    assert_eq!(
        reply.body["data"]["status"], "delivered",
        "the kept receipt was applied"
    );

    // The same race on PostgreSQL can leave a receipt kept after its message was recorded:
    // the scheduler's step applies it.
    let second = s.send(json!({"to": TO, "text": text(2)})).await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    let whatsapp_id = second.body["data"]["evolution_message_id"]
        .as_str()
        .unwrap();
    let mut conn = s.app.db();
    for (id, status) in [(whatsapp_id, "read"), ("3EB0NOTOURS", "read")] {
        diesel::sql_query(format!(
            "INSERT INTO message_receipts (instance_id, evolution_message_id, status, received_at) \
             VALUES ({uno}, '{id}', '{status}', '2000-01-01 00:00:00')"
        ))
        .execute(&mut conn)
        .unwrap();
    }
    s.app.tick().await;
    let shown = s.message(second.body["data"]["id"].as_str().unwrap()).await;
    assert_eq!(shown["status"], "read");
    let kept: Vec<MessageReceiptRow> =
        diesel::sql_query("SELECT evolution_message_id FROM message_receipts")
            .load(&mut conn)
            .unwrap();
    assert!(
        kept.is_empty(),
        "applied, and a day-old receipt of no message dropped"
    );
}

#[derive(diesel::QueryableByName)]
struct MessageReceiptRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    #[allow(dead_code)]
    evolution_message_id: String,
}

/// Every message says who sent it; a super admin sending through a tenant's number is in
/// the audit log, a sender token's send is not (it is no admin change).
async fn every_message_records_who_sent_it_and_admin_sends_are_audited(backend: Backend) {
    let Some(setup) = setup(backend).await else {
        return;
    };
    setup.connected("uno", 100).await;
    let admin_id = setup
        .app
        .login(crate::helpers::ADMIN_EMAIL, crate::helpers::ADMIN_PASSWORD)
        .await
        .body["data"]["user"]["id"]
        .as_i64()
        .unwrap();

    let by_token = setup.send(json!({"to": TO, "text": "hola"})).await;
    let path = format!("/api/v1/tenants/{}/messages", setup.tenant);
    let by_admin = setup
        .app
        .admin(
            Method::POST,
            &path,
            Some(&json!({"to": TO, "text": "hola"})),
        )
        .await;

    assert_eq!(by_token.status, StatusCode::CREATED, "{}", by_token.body);
    assert_eq!(by_admin.status, StatusCode::CREATED, "{}", by_admin.body);
    assert_eq!(by_token.body["data"]["sent_by"]["type"], "sender_token");
    assert_eq!(
        by_admin.body["data"]["sent_by"],
        json!({"type": "user", "id": admin_id})
    );
    let shown = setup
        .message(by_admin.body["data"]["id"].as_str().unwrap())
        .await;
    assert_eq!(shown["sent_by"]["type"], "user");
    let audit = setup
        .app
        .admin(
            Method::GET,
            "/api/v1/audit-log?action=message.send_requested",
            None,
        )
        .await;
    assert_eq!(audit.body["meta"]["total"], 1, "{}", audit.body);
    let row = &audit.body["data"][0];
    assert_eq!(row["actor_id"], admin_id);
    assert_eq!(row["target_type"], "message");
    assert_eq!(row["tenant_id"], setup.tenant);
    assert_eq!(row["after"]["message_id"], by_admin.body["data"]["id"]);
}

/// An instance Evolution has but that never connected (registered by hand, so Relevo may
/// hand it out while its status is `unknown`): the real server fails inside `sendText`
/// with a 500 "Cannot read properties of undefined". An instance failure: fail-over.
async fn an_instance_that_never_connected_fails_over(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    s.fake.add_instance("registrada", "key-123", "close");
    let registered = s
        .app
        .instance(s.tenant, "+573001119999", "registrada", 10)
        .await;
    let connected = s.connected("uno", 10).await;

    let reply = s
        .send(json!({"to": TO, "text": text(1), "strategy": "priority"}))
        .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let attempts = reply.body["data"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{}", reply.body);
    assert_eq!(attempts[0]["instance_id"], registered);
    assert_eq!(attempts[0]["error_key"], "evolution.instance_not_connected");
    assert_eq!(reply.body["data"]["instance"]["id"], connected);
    assert_eq!(s.status_of(registered).await, "disconnected");
    assert_eq!(s.sent_today(registered).await, 0, "nothing stays counted");
}

both_backends!(
    an_instance_that_never_connected_fails_over,
    every_message_records_who_sent_it_and_admin_sends_are_audited,
    a_text_goes_out_through_an_instance_and_is_logged_without_its_text,
    bad_input_is_a_422_listing_every_field_and_sends_nothing,
    a_dropped_instance_fails_over_and_is_marked_disconnected,
    a_refused_key_and_an_unreachable_server_fail_over,
    three_failed_instances_are_a_502_and_nothing_stays_counted,
    a_number_not_on_whatsapp_is_a_422_without_fail_over,
    a_timeout_is_a_504_unknown_that_stays_counted_and_is_not_resent,
    a_retry_while_the_first_send_is_in_flight_counts_it_once,
    a_send_whose_process_died_is_unknown_once_it_is_stale,
    no_capacity_is_a_429_and_records_nothing,
    concurrent_sends_count_exactly_what_went_out,
    receipts_move_a_message_to_delivered_then_read_and_tell_the_tenant,
    a_receipt_that_comes_before_the_answer_is_kept_and_applied,
);

through_pooler!(
    a_retry_while_the_first_send_is_in_flight_counts_it_once,
    concurrent_sends_count_exactly_what_went_out,
);
