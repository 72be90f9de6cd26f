//! The campaign sender: claim, rotation strategies, sticky recipients, idempotency,
//! release, and what the send log feeds (statistics history, credits).

use chrono::Duration;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use relevo::domain::ConnectionStatus;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, assert_error_in, assert_invalid, instance_path, spawn_app_with, Backend, TestApp,
};
use crate::spawn_or_skip;
use crate::{both_backends, through_pooler};

both_backends!(
    a_claim_counts_on_one_instance_and_answers_the_spec_shape,
    a_claim_takes_at_most_what_the_instance_has_left,
    a_claim_names_the_default_servers_url_for_an_instance_without_one,
    an_exhausted_tenant_gets_429_until_its_midnight,
    a_tenant_without_active_instances_gets_409,
    disconnected_and_failed_instances_are_never_claimed,
    round_robin_uses_the_least_recently_used_instance,
    strategies_follow_the_tenant_default_and_the_request,
    a_recipient_sticks_to_its_instance_while_it_is_eligible,
    an_idempotency_key_replays_its_claim_for_24_hours,
    a_release_gives_back_unsent_messages_once,
    a_release_is_refused_after_the_claims_day,
    yesterdays_exhaustion_is_forgotten_at_midnight,
    bad_claims_list_every_problem,
    the_log_feeds_history_statistics_and_credits,
    a_busy_database_refuses_and_counts_nothing,
    a_claim_whose_key_cannot_be_read_is_given_back,
    claims_behind_an_external_lock_answer_503_after_the_timeout,
);

async fn tenant_with_instances(app: &TestApp, limits: &[i64]) -> (i64, Vec<i64>) {
    let tenant = app.seed_tenant().await;
    let mut ids = Vec::new();
    for (n, limit) in limits.iter().enumerate() {
        let phone = format!("+5730012345{n:02}");
        ids.push(
            app.instance(tenant, &phone, &format!("sender_{n}"), *limit)
                .await,
        );
    }
    (tenant, ids)
}

fn claimed_instance(reply: &crate::helpers::Reply) -> i64 {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["data"]["instance"]["id"].as_i64().unwrap()
}

async fn set_instance(app: &TestApp, tenant: i64, id: i64, body: Value) {
    let reply = app
        .admin(Method::PUT, &instance_path(tenant, id), Some(&body))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

/// `(claims, granted, released)` in the send log of a tenant.
fn log_totals(app: &TestApp, tenant: i64) -> (i64, i64, i64) {
    use diesel::dsl::{count_star, sum};
    use relevo::db::schema::claims::dsl::*;
    let (n, g, r): (i64, Option<i64>, Option<i64>) = claims
        .filter(tenant_id.eq(tenant))
        .select((count_star(), sum(granted), sum(released)))
        .first(&mut app.db())
        .unwrap();
    (n, g.unwrap_or(0), r.unwrap_or(0))
}

async fn a_claim_counts_on_one_instance_and_answers_the_spec_shape(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let (tenant, ids) = tenant_with_instances(&app, &[3]).await;
    let token = app.sender_token(tenant).await;

    let reply = app.claim(tenant, &token, json!({})).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let data = &reply.body["data"];
    assert_eq!(data["granted"], 1);
    assert_eq!(data["requested"], 1);
    assert_eq!(data["replayed"], false);
    assert_eq!(data["messages_sent_today"], 1);
    assert_eq!(data["remaining_quota"], 2);
    assert_eq!(data["usage_date"], "2025-11-17");
    assert_eq!(data["strategy"], "round_robin");
    assert_eq!(
        data["instance"],
        json!({"id": ids[0], "instance_name": "sender_0", "phone_number": "+573001234500",
               "evolution_api_url": null, "evolution_api_key": "key-123"})
    );
    assert_eq!(data["claim_id"].as_str().unwrap().len(), 36);
    assert_eq!(app.sent_today(tenant, ids[0]).await, 1);
    assert_eq!(log_totals(&app, tenant), (1, 1, 0));
}

async fn a_claim_names_the_default_servers_url_for_an_instance_without_one(backend: Backend) {
    let app = spawn_or_skip!(backend);
    app.new_server()
        .name("principal")
        .base_url("https://evolution.example.com")
        .api_key("master-key")
        .create()
        .await;
    let (tenant, ids) = tenant_with_instances(&app, &[3]).await;
    let own_url = app
        .create_instance(
            tenant,
            &json!({"phone_number": "+573001112233", "instance_name": "propia",
                    "evolution_api_key": "key-9", "evolution_api_url": "https://otra.example.com/",
                    "daily_message_limit": 5}),
        )
        .await;
    assert_eq!(own_url.status, StatusCode::CREATED, "{}", own_url.body);
    let token = app.sender_token(tenant).await;

    let default_server = app.claim(tenant, &token, json!({})).await;
    let own_server = app.claim(tenant, &token, json!({})).await;

    assert_eq!(claimed_instance(&default_server), ids[0]);
    assert_eq!(
        default_server.body["data"]["instance"]["evolution_api_url"],
        "https://evolution.example.com"
    );
    assert_eq!(
        own_server.body["data"]["instance"]["evolution_api_url"],
        "https://otra.example.com"
    );
    assert_eq!(
        own_server.body["data"]["instance"]["evolution_api_key"],
        "key-9"
    );
}

async fn a_claim_takes_at_most_what_the_instance_has_left(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let (tenant, ids) = tenant_with_instances(&app, &[5]).await;
    let token = app.sender_token(tenant).await;

    let first = app.claim(tenant, &token, json!({"count": 3})).await;
    let second = app.claim(tenant, &token, json!({"count": 3})).await;

    assert_eq!(first.body["data"]["granted"], 3, "{}", first.body);
    assert_eq!(second.body["data"]["granted"], 2, "{}", second.body);
    assert_eq!(second.body["data"]["requested"], 3);
    assert_eq!(second.body["data"]["remaining_quota"], 0);
    assert_eq!(app.sent_today(tenant, ids[0]).await, 5);
    assert_eq!(log_totals(&app, tenant), (2, 5, 0));
}

async fn an_exhausted_tenant_gets_429_until_its_midnight(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.tenant_named("bogota", "America/Bogota").await;
    let id = app.instance(tenant, "+573001234567", "only", 1).await;
    let token = app.sender_token(tenant).await;
    assert_eq!(
        claimed_instance(&app.claim(tenant, &token, json!({})).await),
        id
    );

    let reply = app.claim(tenant, &token, json!({})).await;

    // 06:30 UTC is 01:30 in Bogotá: its next midnight is 05:00 UTC tomorrow.
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        reply.body,
        json!({"message": "No WhatsApp instances available",
               "error_key": "whatsapp.no_instance_available",
               "error_params": {"next_reset_at": "2025-11-18T05:00:00.000000Z"}})
    );
    assert_eq!(reply.headers["retry-after"], "81000");
    assert_eq!(log_totals(&app, tenant), (1, 1, 0));
}

async fn a_tenant_without_active_instances_gets_409(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let token = app.sender_token(tenant).await;
    let empty = app.claim(tenant, &token, json!({})).await;
    let id = app.instance(tenant, "+573001234567", "paused", 10).await;
    set_instance(&app, tenant, id, json!({"is_active": false})).await;

    let paused = app.claim(tenant, &token, json!({})).await;

    for reply in [empty, paused] {
        assert_error(&reply, StatusCode::CONFLICT, "whatsapp.no_active_instances");
    }
    assert_eq!(app.sent_today(tenant, id).await, 0);
}

async fn disconnected_and_failed_instances_are_never_claimed(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let (tenant, ids) = tenant_with_instances(&app, &[10, 10, 10]).await;
    app.set_connection_status(ids[0], ConnectionStatus::Disconnected);
    app.set_connection_status(ids[1], ConnectionStatus::Error);
    let token = app.sender_token(tenant).await;

    let claimed: Vec<i64> = [
        app.claim(tenant, &token, json!({})).await,
        app.claim(tenant, &token, json!({})).await,
    ]
    .iter()
    .map(claimed_instance)
    .collect();
    app.set_connection_status(ids[2], ConnectionStatus::Disconnected);
    let none = app.claim(tenant, &token, json!({})).await;

    assert_eq!(claimed, vec![ids[2], ids[2]]);
    assert_eq!(none.status, StatusCode::TOO_MANY_REQUESTS);
}

async fn round_robin_uses_the_least_recently_used_instance(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let (tenant, ids) = tenant_with_instances(&app, &[10, 10, 10]).await;
    let token = app.sender_token(tenant).await;

    let mut claimed = Vec::new();
    for _ in 0..5 {
        claimed.push(claimed_instance(
            &app.claim(tenant, &token, json!({})).await,
        ));
        app.clock.advance(Duration::seconds(1));
    }

    assert_eq!(claimed, vec![ids[0], ids[1], ids[2], ids[0], ids[1]]);
}

async fn strategies_follow_the_tenant_default_and_the_request(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let (tenant, ids) = tenant_with_instances(&app, &[100, 50, 80]).await;
    app.set_sent(ids[0], 10, "2025-11-17");
    app.set_sent(ids[1], 40, "2025-11-17");
    app.set_sent(ids[2], 5, "2025-11-17");
    set_instance(&app, tenant, ids[0], json!({"priority": 3})).await;
    set_instance(&app, tenant, ids[1], json!({"priority": 1})).await;
    set_instance(&app, tenant, ids[2], json!({"priority": 2})).await;
    let token = app.sender_token(tenant).await;
    let with = |strategy: &str| json!({"strategy": strategy});

    // Remaining: 90, 10, 75. Sent: 10, 40, 5. Priority: 3, 1, 2.
    let least_used = app.claim(tenant, &token, with("least_used")).await;
    let most_remaining = app.claim(tenant, &token, with("most_remaining")).await;
    let priority = app.claim(tenant, &token, with("priority")).await;
    let reply = app
        .admin(
            Method::PUT,
            &format!("/api/v1/tenants/{tenant}"),
            Some(&json!({"rotation_strategy": "priority"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let tenant_default = app.claim(tenant, &token, json!({})).await;

    assert_eq!(claimed_instance(&least_used), ids[2]);
    assert_eq!(claimed_instance(&most_remaining), ids[0]);
    assert_eq!(claimed_instance(&priority), ids[1]);
    assert_eq!(claimed_instance(&tenant_default), ids[1]);
    assert_eq!(tenant_default.body["data"]["strategy"], "priority");
}

async fn a_recipient_sticks_to_its_instance_while_it_is_eligible(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let (tenant, ids) = tenant_with_instances(&app, &[3, 10]).await;
    let token = app.sender_token(tenant).await;
    let to_ana = json!({"recipient": "+57 300 987 6543"});

    let mut claimed = Vec::new();
    for _ in 0..4 {
        claimed.push(claimed_instance(
            &app.claim(tenant, &token, to_ana.clone()).await,
        ));
        // Someone else's message in between would move round robin along.
        app.claim(tenant, &token, json!({})).await;
    }

    // ids[0] served Ana twice and someone else once, then ran out: Ana moved to ids[1].
    assert_eq!(claimed, vec![ids[0], ids[0], ids[1], ids[1]]);
    use relevo::db::schema::recipient_routes::dsl::*;
    let routed: (String, i64) = recipient_routes
        .select((recipient, instance_id))
        .first(&mut app.db())
        .unwrap();
    assert_eq!(routed, ("+573009876543".to_string(), ids[1]));
}

async fn an_idempotency_key_replays_its_claim_for_24_hours(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let (tenant, ids) = tenant_with_instances(&app, &[10]).await;
    let other = app.tenant_named("otro", "UTC").await;
    app.instance(other, "+573001111111", "otro_1", 10).await;
    let (token, other_token) = (
        app.sender_token(tenant).await,
        app.sender_token(other).await,
    );
    let keyed = json!({"count": 2, "idempotency_key": "campaign-7-msg-1"});

    let first = app.claim(tenant, &token, keyed.clone()).await;
    let repeat = app.claim(tenant, &token, keyed.clone()).await;
    let elsewhere = app.claim(other, &other_token, keyed.clone()).await;
    app.clock.advance(Duration::hours(25));
    let next_day = app.claim(tenant, &token, keyed.clone()).await;

    assert_eq!(first.body["data"]["replayed"], false);
    assert_eq!(repeat.status, StatusCode::OK);
    assert_eq!(repeat.body["data"]["replayed"], true);
    assert_eq!(
        repeat.body["data"]["claim_id"],
        first.body["data"]["claim_id"]
    );
    assert_eq!(repeat.body["data"]["granted"], 2);
    assert_eq!(elsewhere.body["data"]["replayed"], false);
    assert_eq!(
        next_day.body["data"]["replayed"], false,
        "{}",
        next_day.body
    );
    assert_ne!(
        next_day.body["data"]["claim_id"],
        first.body["data"]["claim_id"]
    );
    assert_eq!(log_totals(&app, tenant), (2, 4, 0));
    assert_eq!(app.sent_today(tenant, ids[0]).await, 2);
}

async fn a_release_gives_back_unsent_messages_once(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let (tenant, ids) = tenant_with_instances(&app, &[10]).await;
    let token = app.sender_token(tenant).await;
    let claim = app.claim(tenant, &token, json!({"count": 3})).await;
    let claim_id = claim.body["data"]["claim_id"].as_str().unwrap().to_string();

    let two = app
        .release(tenant, &token, &claim_id, json!({"count": 2}))
        .await;
    let again = app
        .release(tenant, &token, &claim_id, json!({"count": 2}))
        .await;
    let too_many = app
        .release(tenant, &token, &claim_id, json!({"count": 4}))
        .await;
    let above_any_grant = app
        .release(tenant, &token, &claim_id, json!({"count": 1001}))
        .await;
    let all = app.release(tenant, &token, &claim_id, json!({})).await;
    let unknown = app
        .release(tenant, &token, "no-such-claim", json!({}))
        .await;

    assert_eq!(two.status, StatusCode::OK, "{}", two.body);
    assert_eq!(
        two.body["data"],
        json!({"claim_id": claim_id, "granted": 3, "released": 2, "given_back": 2,
               "counted_before_reset": false, "instance_id": ids[0],
               "messages_sent_today": 1, "remaining_quota": 9})
    );
    assert_eq!(again.body["data"]["given_back"], 0);
    assert_eq!(again.body["data"]["messages_sent_today"], 1);
    assert_error(
        &too_many,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation.failed",
    );
    assert_eq!(
        too_many.body["errors"]["count"][0],
        "El campo count debe estar entre 1 y 3."
    );
    assert_error(
        &above_any_grant,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation.failed",
    );
    assert_eq!(
        above_any_grant.body["errors"]["count"][0],
        "El campo count debe estar entre 1 y 1000."
    );
    assert_eq!(all.body["data"]["given_back"], 1);
    assert_eq!(all.body["data"]["released"], 3);
    assert_error(&unknown, StatusCode::NOT_FOUND, "sender.claim_not_found");
    assert_eq!(app.sent_today(tenant, ids[0]).await, 0);
    assert_eq!(log_totals(&app, tenant), (1, 3, 3));
    let given: Vec<i32> = {
        use relevo::db::schema::claim_releases::dsl::*;
        claim_releases
            .select(released)
            .order(id)
            .load(&mut app.db())
            .unwrap()
    };
    assert_eq!(given, vec![2, 1]);
}

async fn a_release_is_refused_after_the_claims_day(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let (tenant, ids) = tenant_with_instances(&app, &[10]).await;
    let token = app.sender_token(tenant).await;
    let claim = app.claim(tenant, &token, json!({"count": 4})).await;
    let claim_id = claim.body["data"]["claim_id"].as_str().unwrap().to_string();
    app.clock.advance(Duration::days(1));
    app.claim(tenant, &token, json!({"count": 1})).await;

    let late = app.release(tenant, &token, &claim_id, json!({})).await;

    assert_error(&late, StatusCode::CONFLICT, "sender.release_day_over");
    assert_eq!(app.sent_today(tenant, ids[0]).await, 1);
    assert_eq!(log_totals(&app, tenant), (2, 5, 0));
}

async fn yesterdays_exhaustion_is_forgotten_at_midnight(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let (tenant, ids) = tenant_with_instances(&app, &[2]).await;
    let token = app.sender_token(tenant).await;
    app.claim(tenant, &token, json!({"count": 2})).await;
    assert_eq!(
        app.claim(tenant, &token, json!({})).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    app.clock.advance(Duration::hours(18)); // 00:30 the next day

    let reply = app.claim(tenant, &token, json!({})).await;

    assert_eq!(claimed_instance(&reply), ids[0]);
    assert_eq!(reply.body["data"]["usage_date"], "2025-11-18");
    assert_eq!(reply.body["data"]["messages_sent_today"], 1);
    assert_eq!(app.sent_today(tenant, ids[0]).await, 1);
}

async fn bad_claims_list_every_problem(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let (tenant, ids) = tenant_with_instances(&app, &[10]).await;
    let token = app.sender_token(tenant).await;
    let cases = [
        json!({"count": 0}),
        json!({"count": 1001}),
        json!({"count": "many"}),
        json!({"count": 1.5}),
    ];
    for body in cases {
        let reply = app.claim(tenant, &token, body.clone()).await;
        assert_error_in(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation.failed",
            &format!("{body}"),
        );
        assert!(reply.body["errors"]["count"].is_array(), "{body}");
    }

    let reply = app
        .claim(
            tenant,
            &token,
            json!({"count": 0, "recipient": "3001234567", "strategy": "random",
                   "idempotency_key": "k".repeat(129)}),
        )
        .await;

    assert_invalid(
        &reply,
        &["count", "recipient", "strategy", "idempotency_key"],
    );
    assert_eq!(
        reply.body["message"],
        "El campo count debe estar entre 1 y 1000. (y 3 errores más)"
    );
    let array = app
        .send(
            Method::POST,
            &format!("/api/v1/tenants/{tenant}/sender/claim"),
            Some(&token),
            Some(&json!([1])),
        )
        .await;
    assert_eq!(array.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.sent_today(tenant, ids[0]).await, 0);
    assert_eq!(log_totals(&app, tenant), (0, 0, 0));
}

async fn the_log_feeds_history_statistics_and_credits(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let (tenant, ids) = tenant_with_instances(&app, &[10, 20]).await;
    let reply = app
        .admin(
            Method::PUT,
            &format!("/api/v1/tenants/{tenant}"),
            Some(&json!({"whatsapp_credits": 100, "whatsapp_unit_price": 50})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let token = app.sender_token(tenant).await;
    app.claim(tenant, &token, json!({"count": 4})).await; // ids[0]
    app.clock.advance(Duration::days(1));
    let claim = app.claim(tenant, &token, json!({"count": 6})).await; // ids[1]
    let claim_id = claim.body["data"]["claim_id"].as_str().unwrap();
    app.release(tenant, &token, claim_id, json!({"count": 1}))
        .await;

    let instance = app
        .admin(
            Method::GET,
            &format!("{}/statistics", instance_path(tenant, ids[1])),
            None,
        )
        .await;
    let whole = app
        .admin(
            Method::GET,
            &format!("/api/v1/tenants/{tenant}/statistics"),
            None,
        )
        .await;
    let shown = app
        .admin(Method::GET, &format!("/api/v1/tenants/{tenant}"), None)
        .await;

    let history = instance.body["data"]["history"].as_array().unwrap();
    assert_eq!(history.len(), 30);
    assert_eq!(
        history[29],
        json!({"date": "2025-11-18", "sent": 5, "released": 1})
    );
    assert_eq!(
        history[28],
        json!({"date": "2025-11-17", "sent": 0, "released": 0})
    );
    assert_eq!(instance.body["data"]["sent_today"], 5);
    let data = &whole.body["data"];
    assert_eq!(whole.status, StatusCode::OK, "{}", whole.body);
    assert_eq!(
        (
            &data["instances_count"],
            &data["daily_limit"],
            &data["sent_today"],
            &data["remaining_today"]
        ),
        (&json!(2), &json!(30), &json!(5), &json!(25))
    );
    assert_eq!(data["usage_percentage"], 16.67);
    assert_eq!(
        data["history"][28],
        json!({"date": "2025-11-17", "sent": 4, "released": 0})
    );
    assert_eq!(
        data["history"][29],
        json!({"date": "2025-11-18", "sent": 5, "released": 1})
    );
    assert_eq!(data["instances"].as_array().unwrap().len(), 2);
    assert!(data["instances"][0].get("history").is_none());
    let whatsapp = &shown.body["data"]["messaging_credits"]["whatsapp"];
    assert_eq!(
        whatsapp,
        &json!({"available": 91, "used": 9, "total_cost": 450, "unit_price": 50, "percentage_used": 9})
    );
    assert_eq!(
        shown.body["data"]["messaging_credits"]["last_transaction_at"],
        "2025-11-18T06:30:00.000000Z"
    );
}

/// How long a claim waits for a lock in the tests that hold one: short, so that no leg
/// waits out the default 5 s.
const TIMEOUT_MS: u64 = 300;

/// Another connection to `app`'s database takes its write lock (SQLite: `BEGIN IMMEDIATE`
/// on the same file; PostgreSQL: the instances' table) and holds it until it runs
/// `ROLLBACK`.
fn hold_the_write_lock(app: &TestApp, backend: Backend) -> relevo::db::DbConnection {
    let mut holder = app.db();
    let lock = match backend {
        Backend::Sqlite => "BEGIN IMMEDIATE",
        Backend::Postgres | Backend::Pooler => {
            "BEGIN; LOCK TABLE whatsapp_instances IN EXCLUSIVE MODE"
        }
    };
    holder.batch_execute(lock).expect("the lock is taken");
    holder
}

/// Another connection holds the database's write lock (SQLite) or the instance's row
/// (PostgreSQL) past the lock timeout: the claim answers 503 and counts nothing, and
/// the same claim goes through once the lock is gone.
async fn a_busy_database_refuses_and_counts_nothing(backend: Backend) {
    let timeout = TIMEOUT_MS.to_string();
    let Some(app) = spawn_app_with(backend, &[("RELEVO_DB_TIMEOUT_MS", &timeout)]).await else {
        return;
    };
    let (tenant, ids) = tenant_with_instances(&app, &[10]).await;
    let token = app.sender_token(tenant).await;
    let mut blocker = hold_the_write_lock(&app, backend);

    let started = std::time::Instant::now();
    let busy = app
        .claim(tenant, &token, json!({"idempotency_key": "k-1"}))
        .await;
    let waited = started.elapsed();
    blocker.batch_execute("ROLLBACK").unwrap();
    // The lock is gone. On a loaded machine the app's own short wait may still run out
    // once or twice: a 503 changed nothing, and is retried as its Retry-After says.
    let mut retried = app
        .claim(tenant, &token, json!({"idempotency_key": "k-1"}))
        .await;
    for _ in 0..5 {
        if retried.status != StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        retried = app
            .claim(tenant, &token, json!({"idempotency_key": "k-1"}))
            .await;
    }

    assert_error(
        &busy,
        StatusCode::SERVICE_UNAVAILABLE,
        "database.unavailable",
    );
    assert_eq!(busy.headers["retry-after"], "1");
    assert!(
        waited >= std::time::Duration::from_millis(TIMEOUT_MS),
        "refused after {waited:?}, before the lock timeout"
    );
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    assert_eq!(retried.body["data"]["replayed"], false, "{}", retried.body);
    assert_eq!(app.sent_today(tenant, ids[0]).await, 1);
    assert_eq!(log_totals(&app, tenant), (1, 1, 0));
}

/// The instance's stored key cannot be decrypted (say, the encryption key changed):
/// the sender gets a 500 without a claim, so the claim must not keep its messages.
async fn a_claim_whose_key_cannot_be_read_is_given_back(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let (tenant, ids) = tenant_with_instances(&app, &[10]).await;
    let token = app.sender_token(tenant).await;
    use relevo::db::schema::whatsapp_instances::dsl::*;
    diesel::update(whatsapp_instances.find(ids[0]))
        .set(evolution_api_key_encrypted.eq("v1:bm90LWEtdmFsaWQtY2lwaGVydGV4dA=="))
        .execute(&mut app.db())
        .unwrap();

    let reply = app.claim(tenant, &token, json!({"count": 3})).await;

    assert_error(&reply, StatusCode::INTERNAL_SERVER_ERROR, "server.internal");
    let counted: i32 = whatsapp_instances
        .find(ids[0])
        .select(messages_sent_today)
        .first(&mut app.db())
        .unwrap();
    assert_eq!(counted, 0);
    assert_eq!(log_totals(&app, tenant), (1, 3, 3));
}

through_pooler!(a_busy_database_refuses_and_counts_nothing);

/// Another process holds the database's write lock (SQLite: a `BEGIN IMMEDIATE` on the
/// same file; PostgreSQL: the instances' table) for longer than `RELEVO_DB_TIMEOUT_MS`:
/// every claim, also those that arrive together and would go in one batch, answers 503
/// once that timeout has passed, not after one timeout per claim in line.
async fn claims_behind_an_external_lock_answer_503_after_the_timeout(backend: Backend) {
    const CLAIMS: usize = 6;
    let timeout = TIMEOUT_MS.to_string();
    let Some(app) = spawn_app_with(backend, &[("RELEVO_DB_TIMEOUT_MS", &timeout)]).await else {
        return;
    };
    let (tenant, ids) = tenant_with_instances(&app, &[100]).await;
    let token = app.sender_token(tenant).await;
    let mut other_process = hold_the_write_lock(&app, backend);

    let claims = (0..CLAIMS).map(|n| {
        let app = &app;
        let token = &token;
        async move {
            let started = std::time::Instant::now();
            let reply = app
                .claim(tenant, token, json!({"idempotency_key": format!("k-{n}")}))
                .await;
            (reply, started.elapsed())
        }
    });
    let answers = futures_util::future::join_all(claims).await;
    other_process.batch_execute("ROLLBACK").unwrap();

    for (reply, took) in &answers {
        assert_error(
            reply,
            StatusCode::SERVICE_UNAVAILABLE,
            "database.unavailable",
        );
        assert_eq!(reply.headers["retry-after"], "1");
        // SQLite's lock is the whole database's: the claims queued behind the first are
        // told at once. On PostgreSQL they may wait for the batch in front of theirs.
        let most = match backend {
            Backend::Sqlite => 2 * TIMEOUT_MS,
            Backend::Postgres | Backend::Pooler => 3 * TIMEOUT_MS,
        };
        assert!(
            *took < std::time::Duration::from_millis(most),
            "answered after {took:?}"
        );
    }
    assert_eq!(app.sent_today(tenant, ids[0]).await, 0);
}
