//! What follows a change is written in the change's transaction, and one inbound event
//! is served by one database connection (issue 23: `db` answers what changed, the
//! services write what follows).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use diesel::prelude::*;
use diesel::r2d2::{event::CheckoutEvent, HandleEvent, Pool};
use relevo::auth::jwt::JwtKeys;
use relevo::auth::password::HashingGate;
use relevo::auth::sender::hash_token;
use relevo::clock::Clock;
use relevo::db::schema::{claims, instance_webhook_tokens, webhook_events};
use relevo::db::{DbConnection, DbConnectionManager, WriterQueue};
use relevo::domain::ConnectionStatus;
use relevo::evolution::EvolutionHttp;
use relevo::lifecycle::inbound::{self, Outcome};
use relevo::metrics::Metrics;
use relevo::secrets::Cipher;
use relevo::state::AppState;
use relevo::targets::TargetPolicy;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::callback_receiver::Receiver;
use crate::helpers::{Backend, TestApp};

/// Refuses every insert into `messages`, as a failing statement late in a transaction.
fn refuse_messages(app: &TestApp, backend: Backend) {
    let statements = match backend {
        Backend::Sqlite => vec![
            "CREATE TRIGGER refuse_message BEFORE INSERT ON messages \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
        ],
        Backend::Postgres | Backend::Pooler => vec![
            "CREATE FUNCTION refuse_message() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN RAISE EXCEPTION 'refused by the test'; END $$",
            "CREATE TRIGGER refuse_message BEFORE INSERT ON messages FOR EACH ROW \
             EXECUTE FUNCTION refuse_message()",
        ],
    };
    let mut conn = app.db();
    for statement in statements {
        diesel::sql_query(statement).execute(&mut conn).unwrap();
    }
}

fn quota_events(app: &TestApp, tenant: i64) -> i64 {
    webhook_events::table
        .filter(webhook_events::tenant_id.eq(tenant))
        .filter(webhook_events::event_type.eq("quota.exhausted"))
        .count()
        .get_result(&mut app.db())
        .unwrap()
}

/// A message's claim takes the tenant's last quota, and recording the message then
/// fails: the transaction rolls back the claim and its `quota.exhausted` together. The
/// same claim, once the message can be recorded, writes the event.
async fn an_event_rolls_back_with_the_claim_that_caused_it(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    let receiver = Receiver::start(app.clock.clone()).await;
    let reply = app
        .create_tenant(json!({"nombre": "acme", "slug": "acme", "callback_url": receiver.url}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let tenant = reply.body["data"]["id"].as_i64().unwrap();
    let instance = app.instance(tenant, "+573001110001", "uno", 1).await;
    let token = app.sender_token(tenant).await;
    refuse_messages(&app, backend);

    let path = format!("/api/v1/tenants/{tenant}/messages");
    let message = json!({"to": "+573005550001", "text": "hola"});
    let refused = app
        .send(Method::POST, &path, Some(&token), Some(&message))
        .await;
    assert!(refused.status.is_server_error(), "{}", refused.body);
    let logged: i64 = claims::table.count().get_result(&mut app.db()).unwrap();
    assert_eq!((app.ledger(instance).0, logged), (0, 0), "nothing counted");
    assert_eq!(quota_events(&app, tenant), 0, "no event without its claim");

    let allow = match backend {
        Backend::Sqlite => "DROP TRIGGER refuse_message",
        Backend::Postgres | Backend::Pooler => "DROP TRIGGER refuse_message ON messages",
    };
    diesel::sql_query(allow).execute(&mut app.db()).unwrap();
    let claimed = app.claim(tenant, &token, json!({"count": 1})).await;
    assert_eq!(claimed.status, StatusCode::OK, "{}", claimed.body);
    assert_eq!(
        quota_events(&app, tenant),
        1,
        "the claim of the last quota tells it"
    );
}

/// Counts the connections a pool hands out.
#[derive(Debug)]
struct Checkouts(Arc<AtomicUsize>);

impl HandleEvent for Checkouts {
    fn handle_checkout(&self, _: CheckoutEvent) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// An application state on the app's database whose pool counts its checkouts.
fn counting_state(app: &TestApp) -> (AppState, Arc<AtomicUsize>) {
    let settings = Arc::new(app.database_settings());
    let checkouts = Arc::new(AtomicUsize::new(0));
    let pool = Pool::builder()
        .max_size(4)
        .event_handler(Box::new(Checkouts(checkouts.clone())))
        .build(DbConnectionManager::new(&settings))
        .expect("a pool on the test database");
    let writer = match &mut *pool.get().expect("a connection") {
        DbConnection::Sqlite(sqlite) => Some(WriterQueue::of(sqlite).expect("the writer queue")),
        DbConnection::Postgres(_) => None,
    };
    let metrics = Arc::new(Metrics::new());
    let targets = TargetPolicy::new(&settings);
    let timeout = StdDuration::from_millis(500);
    let state = AppState {
        pool,
        clock: app.clock.clone(),
        jwt: JwtKeys::new("a secret the test never signs with", 60),
        cipher: Cipher::new(&[7; 32]),
        settings: settings.clone(),
        evolution: EvolutionHttp::new(timeout, timeout, metrics.clone(), targets.clone())
            .expect("an HTTP client"),
        targets,
        hashing: HashingGate::for_this_machine(),
        metrics,
        writer,
    };
    checkouts.store(0, Ordering::SeqCst);
    (state, checkouts)
}

/// The token lookup, the change and its events take one connection, whatever the
/// webhook comes to; so does a webhook with a wrong token.
async fn an_inbound_event_takes_one_connection(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    let tenant = app.seed_tenant().await;
    let instance = app.instance(tenant, "+573001110001", "uno", 10).await;
    diesel::insert_into(instance_webhook_tokens::table)
        .values((
            instance_webhook_tokens::instance_id.eq(instance),
            instance_webhook_tokens::token_digest.eq(Some(hash_token("the-instances-own-token"))),
            instance_webhook_tokens::rotated_at.eq(app.clock.now().naive_utc()),
        ))
        .execute(&mut app.db())
        .unwrap();
    let (state, checkouts) = counting_state(&app);
    let receive = |token: &str, body: serde_json::Value| {
        let body = body.to_string().into_bytes();
        let token = token.to_string();
        let state = &state;
        async move { inbound::receive(state, token, &body, None).await }
    };

    let open = json!({"event": "connection.update", "instance": "uno",
                      "data": {"state": "open", "wuid": "573001110001@s.whatsapp.net", "statusReason": 200}});
    let (webhook, outcome) = receive("the-instances-own-token", open).await.unwrap();
    assert_eq!(
        (webhook.key.as_str(), outcome),
        ("CONNECTION_UPDATE", Outcome::Applied)
    );
    assert_eq!(
        checkouts.swap(0, Ordering::SeqCst),
        1,
        "one connection for a change"
    );
    assert_eq!(
        app.instance_row(instance).connection_status,
        ConnectionStatus::Connected
    );

    let qr = json!({"event": "qrcode.updated", "instance": "uno",
                    "data": {"qrcode": {"code": "2@abc", "base64": "data:image/png;base64,AAA"}}});
    let (_, outcome) = receive("the-instances-own-token", qr).await.unwrap();
    assert_eq!(outcome, Outcome::Applied);
    assert_eq!(
        checkouts.swap(0, Ordering::SeqCst),
        1,
        "one connection for a QR code"
    );

    let wrong = receive(
        "another-token",
        json!({"event": "logout.instance", "instance": "uno"}),
    )
    .await;
    assert_eq!(wrong.unwrap_err().status().as_u16(), 401);
    assert_eq!(
        checkouts.swap(0, Ordering::SeqCst),
        1,
        "one connection for a refusal"
    );
}

both_backends!(
    an_event_rolls_back_with_the_claim_that_caused_it,
    an_inbound_event_takes_one_connection,
);
