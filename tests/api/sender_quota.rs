//! The quota across admin changes (SPEC sections 5 and 6): a reset-counter starts a new
//! count that releases of older claims cannot add to, a lowered limit leaves nothing,
//! and claims on a deleted instance still reach the history and the credits.

use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{assert_error, instance_path, Backend, Reply, TestApp};
use crate::spawn_or_skip;

both_backends!(
    a_release_from_before_a_reset_gives_nothing_to_the_new_count,
    a_partial_release_before_a_reset_still_counts_in_the_old_count,
    a_lowered_limit_is_the_one_every_claim_meets,
    releasing_a_claim_of_a_deleted_instance_returns_its_credits,
    a_replayed_key_whose_instance_was_deleted_names_its_claim,
);

/// A tenant with one instance of `limit`, and a sender token.
async fn one_instance(app: &TestApp, limit: i64) -> (i64, i64, String) {
    let tenant = app.seed_tenant().await;
    let id = app.instance(tenant, "+573001112233", "cuota", limit).await;
    (tenant, id, app.sender_token(tenant).await)
}

fn claim_id(reply: &Reply) -> String {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["data"]["claim_id"].as_str().unwrap().to_string()
}

async fn reset_counter(app: &TestApp, tenant: i64, id: i64) {
    let path = format!("{}/reset-counter", instance_path(tenant, id));
    let reply = app.admin(Method::POST, &path, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

async fn statistics(app: &TestApp, tenant: i64, id: i64) -> Value {
    let path = format!("{}/statistics", instance_path(tenant, id));
    let reply = app.admin(Method::GET, &path, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["data"].clone()
}

/// `used` of the tenant's WhatsApp credits.
async fn credits_used(app: &TestApp, tenant: i64) -> Value {
    let reply = app
        .admin(Method::GET, &format!("/api/v1/tenants/{tenant}"), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["data"]["messaging_credits"]["whatsapp"]["used"].clone()
}

/// `(granted, released)` of an instance's daily totals, deleted or not.
fn daily_usage(app: &TestApp, instance: i64) -> (i32, i32) {
    use relevo::db::schema::instance_daily_usage::dsl::*;
    instance_daily_usage
        .filter(instance_id.eq(instance))
        .select((granted, released))
        .first(&mut app.db())
        .unwrap()
}

/// The review's sequence with limit 10: claim 10, reset, claim 10, release the first
/// claim, claim again. Today the release empties the new count and the last claim gets
/// 10 more: 20 granted after the reset.
async fn a_release_from_before_a_reset_gives_nothing_to_the_new_count(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let (tenant, id, token) = one_instance(&app, 10).await;
    let before = claim_id(&app.claim(tenant, &token, json!({"count": 10})).await);
    reset_counter(&app, tenant, id).await;
    let after = app.claim(tenant, &token, json!({"count": 10})).await;
    assert_eq!(after.body["data"]["granted"], 10, "{}", after.body);

    let release = app.release(tenant, &token, &before, json!({})).await;
    let again = app.claim(tenant, &token, json!({"count": 10})).await;

    assert_eq!(release.status, StatusCode::OK, "{}", release.body);
    assert_eq!(
        release.body["data"],
        json!({"claim_id": before, "granted": 10, "released": 10, "given_back": 0,
               "counted_before_reset": true, "instance_id": id,
               "messages_sent_today": 10, "remaining_quota": 0})
    );
    assert_eq!(
        again.status,
        StatusCode::TOO_MANY_REQUESTS,
        "granted past the limit after a reset: {}",
        again.body
    );
    assert_eq!(app.sent_today(tenant, id).await, 10);
    // The history keeps the day's truth: 20 claimed, 10 of them not sent.
    let stats = statistics(&app, tenant, id).await;
    assert_eq!(
        (&stats["sent_today"], &stats["history"][29]),
        (
            &json!(10),
            &json!({"date": "2025-11-17", "sent": 10, "released": 10})
        )
    );
    assert_eq!(credits_used(&app, tenant).await, 10);
}

/// A claim of the new count is released against it as usual, while the old claim's
/// repeated and larger releases never reach it.
async fn a_partial_release_before_a_reset_still_counts_in_the_old_count(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let (tenant, id, token) = one_instance(&app, 10).await;
    let old = claim_id(&app.claim(tenant, &token, json!({"count": 6})).await);
    let partly = app.release(tenant, &token, &old, json!({"count": 2})).await;
    assert_eq!(partly.body["data"]["given_back"], 2, "{}", partly.body);
    reset_counter(&app, tenant, id).await;
    let new = claim_id(&app.claim(tenant, &token, json!({"count": 4})).await);

    let old_rest = app.release(tenant, &token, &old, json!({})).await;
    let new_part = app.release(tenant, &token, &new, json!({"count": 1})).await;

    assert_eq!(old_rest.status, StatusCode::OK, "{}", old_rest.body);
    assert_eq!(
        (
            &old_rest.body["data"]["given_back"],
            &old_rest.body["data"]["released"],
            &old_rest.body["data"]["counted_before_reset"],
            &old_rest.body["data"]["messages_sent_today"],
        ),
        (&json!(0), &json!(6), &json!(true), &json!(4))
    );
    assert_eq!(
        (
            &new_part.body["data"]["given_back"],
            &new_part.body["data"]["counted_before_reset"],
            &new_part.body["data"]["messages_sent_today"],
        ),
        (&json!(1), &json!(false), &json!(3))
    );
    let rest = app.claim(tenant, &token, json!({"count": 10})).await;
    assert_eq!(rest.body["data"]["granted"], 7, "{}", rest.body);
    assert_eq!(daily_usage(&app, id), (17, 7));
}

/// Lowering the limit below today's count is allowed and leaves nothing; raising it
/// again gives exactly the difference.
async fn a_lowered_limit_is_the_one_every_claim_meets(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let (tenant, id, token) = one_instance(&app, 10).await;
    claim_id(&app.claim(tenant, &token, json!({"count": 6})).await);
    let lowered = app
        .admin(
            Method::PUT,
            &instance_path(tenant, id),
            Some(&json!({"daily_message_limit": 4})),
        )
        .await;
    assert_eq!(lowered.status, StatusCode::OK, "{}", lowered.body);
    assert_eq!(
        (
            &lowered.body["data"]["messages_sent_today"],
            &lowered.body["data"]["remaining_quota"]
        ),
        (&json!(6), &json!(0))
    );

    let refused = app.claim(tenant, &token, json!({})).await;
    let raised = app
        .admin(
            Method::PUT,
            &instance_path(tenant, id),
            Some(&json!({"daily_message_limit": 8})),
        )
        .await;
    let topped = app.claim(tenant, &token, json!({"count": 5})).await;

    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(raised.status, StatusCode::OK, "{}", raised.body);
    assert_eq!(
        (
            &topped.body["data"]["granted"],
            &topped.body["data"]["messages_sent_today"],
            &topped.body["data"]["remaining_quota"]
        ),
        (&json!(2), &json!(8), &json!(0))
    );
}

/// The instance is gone, but the messages it never sent must still leave the daily
/// totals and the credits.
async fn releasing_a_claim_of_a_deleted_instance_returns_its_credits(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let (tenant, id, token) = one_instance(&app, 10).await;
    let claim = claim_id(&app.claim(tenant, &token, json!({"count": 3})).await);
    let deleted = app
        .admin(Method::DELETE, &instance_path(tenant, id), None)
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(credits_used(&app, tenant).await, 3);

    let release = app.release(tenant, &token, &claim, json!({})).await;

    assert_eq!(release.status, StatusCode::OK, "{}", release.body);
    assert_eq!(
        release.body["data"],
        json!({"claim_id": claim, "granted": 3, "released": 3, "given_back": 3,
               "counted_before_reset": false, "instance_id": id,
               "messages_sent_today": null, "remaining_quota": null})
    );
    assert_eq!(daily_usage(&app, id), (3, 3));
    assert_eq!(credits_used(&app, tenant).await, 0);
}

/// A sender that retries a claim (its first answer was lost) after the instance was
/// deleted must still learn the claim it made, to release it.
async fn a_replayed_key_whose_instance_was_deleted_names_its_claim(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let (tenant, id, token) = one_instance(&app, 10).await;
    let body = json!({"count": 2, "idempotency_key": "campaign-7-msg-1"});
    let first = claim_id(&app.claim(tenant, &token, body.clone()).await);
    let deleted = app
        .admin(Method::DELETE, &instance_path(tenant, id), None)
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);

    let replay = app.claim(tenant, &token, body).await;

    assert_error(
        &replay,
        StatusCode::CONFLICT,
        "sender.claim_instance_deleted",
    );
    assert_eq!(
        replay.body["error_params"],
        json!({"claim_id": first, "granted": 2, "released": 0, "instance_id": id,
               "usage_date": "2025-11-17"})
    );
    let release = app.release(tenant, &token, &first, json!({})).await;
    assert_eq!(release.body["data"]["given_back"], 2, "{}", release.body);
    assert_eq!(credits_used(&app, tenant).await, 0);
}
