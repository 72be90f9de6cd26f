//! Sender tokens: issued once, listed without the secret, revoked at once, and good
//! for their own tenant's sender endpoints only.

use chrono::Duration;
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{assert_error, Backend, TestApp};
use crate::spawn_or_skip;

both_backends!(
    a_token_is_shown_once_and_stored_as_a_digest,
    bad_token_requests_list_every_problem,
    a_revoked_token_fails_on_its_next_claim,
    an_expired_token_is_refused,
    a_token_reaches_only_its_tenants_sender_endpoints,
    users_reach_the_sender_endpoints_by_role,
);

fn tokens_path(tenant: i64) -> String {
    format!("/api/v1/tenants/{tenant}/sender-tokens")
}

/// The seed tenant with one instance; answers `(tenant, instance)`.
async fn tenant_with_instance(app: &TestApp) -> (i64, i64) {
    let tenant = app.seed_tenant().await;
    let instance = app
        .instance(tenant, "+573001234567", "principal", 100)
        .await;
    (tenant, instance)
}

async fn a_token_is_shown_once_and_stored_as_a_digest(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;

    let created = app
        .new_sender_token(tenant)
        .name("worker-1")
        .expires_in_days(30)
        .send()
        .await;
    let listed = app.admin(Method::GET, &tokens_path(tenant), None).await;

    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let data = &created.body["data"];
    let token = data["token"].as_str().unwrap();
    assert!(
        token.starts_with("rlv_snd_") && token.len() == 48,
        "{token}"
    );
    assert_eq!(data["name"], "worker-1");
    assert_eq!(data["expires_at"], "2025-12-17T06:30:00.000000Z");
    assert_eq!(data["created_at"], "2025-11-17T06:30:00.000000Z");
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body["meta"]["total"], 1);
    let item = &listed.body["data"][0];
    assert_eq!(item["id"], data["id"]);
    assert_eq!(item["tenant_id"], tenant);
    assert!(item.get("token").is_none() && item.get("token_hash").is_none());
    use relevo::db::schema::sender_tokens::dsl::*;
    let stored: String = sender_tokens
        .select(token_hash)
        .first(&mut app.db())
        .unwrap();
    assert_eq!(stored.len(), 64);
    assert!(!stored.contains(&token[8..]));
}

async fn bad_token_requests_list_every_problem(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;

    let reply = app
        .admin(
            Method::POST,
            &tokens_path(tenant),
            Some(&json!({"expires_in_days": 0})),
        )
        .await;
    let too_long = app
        .admin(
            Method::POST,
            &tokens_path(tenant),
            Some(&json!({"name": "n".repeat(101), "expires_in_days": "forever"})),
        )
        .await;
    let missing = app
        .admin(Method::POST, &tokens_path(999), Some(&json!({"name": "x"})))
        .await;

    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation.failed",
    );
    assert_eq!(
        reply.body["errors"],
        json!({"name": ["El campo name es obligatorio."],
               "expires_in_days": ["El campo expires_in_days debe estar entre 1 y 3650."]})
    );
    assert_error(
        &too_long,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation.failed",
    );
    assert_eq!(too_long.body["errors"].as_object().unwrap().len(), 2);
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(app.list_total(&tokens_path(tenant)).await, 0);
}

async fn a_revoked_token_fails_on_its_next_claim(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let (tenant, _) = tenant_with_instance(&app).await;
    let token = app.sender_token(tenant).await;
    assert_eq!(
        app.claim(tenant, &token, json!({})).await.status,
        StatusCode::OK
    );
    let listed = app.admin(Method::GET, &tokens_path(tenant), None).await;
    let id = listed.body["data"][0]["id"].as_i64().unwrap();

    let revoked = app
        .admin(
            Method::DELETE,
            &format!("{}/{id}", tokens_path(tenant)),
            None,
        )
        .await;
    let after = app.claim(tenant, &token, json!({})).await;
    let again = app
        .admin(
            Method::DELETE,
            &format!("{}/{id}", tokens_path(tenant)),
            None,
        )
        .await;

    assert_eq!(revoked.status, StatusCode::OK);
    assert_eq!(revoked.body, json!({"message": "Sender token revoked"}));
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.body, json!({"message": "Unauthenticated."}));
    assert_error(&again, StatusCode::NOT_FOUND, "sender_token.not_found");
}

async fn an_expired_token_is_refused(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let (tenant, _) = tenant_with_instance(&app).await;
    let reply = app
        .admin(
            Method::POST,
            &tokens_path(tenant),
            Some(&json!({"name": "short", "expires_in_days": 1})),
        )
        .await;
    let token = reply.body["data"]["token"].as_str().unwrap().to_string();
    assert_eq!(
        app.claim(tenant, &token, json!({})).await.status,
        StatusCode::OK
    );

    app.clock.advance(Duration::days(1));

    assert_eq!(
        app.claim(tenant, &token, json!({})).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn a_token_reaches_only_its_tenants_sender_endpoints(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let (tenant, instance) = tenant_with_instance(&app).await;
    let other = app.tenant_named("otro", "UTC").await;
    app.instance(other, "+573001111111", "otro_1", 10).await;
    let token = app.sender_token(tenant).await;

    let own = app
        .send(
            Method::POST,
            "/api/v1/tenant/sender/claim",
            Some(&token),
            Some(&json!({"count": 2})),
        )
        .await;
    let by_slug = app
        .send(
            Method::POST,
            "/api/v1/tenants/candidato-alcaldia/sender/claim",
            Some(&token),
            Some(&json!({})),
        )
        .await;
    let claim_id = own.body["data"]["claim_id"].as_str().unwrap().to_string();
    let released = app
        .send(
            Method::POST,
            &format!("/api/v1/tenant/sender/claims/{claim_id}/release"),
            Some(&token),
            Some(&json!({"count": 1})),
        )
        .await;
    let elsewhere = app.claim(other, &token, json!({})).await;
    let foreign_release = app.release(other, &token, &claim_id, json!({})).await;
    let registry = app
        .send(Method::GET, "/api/v1/tenants", Some(&token), None)
        .await;
    let instances = app
        .send(
            Method::GET,
            &format!("/api/v1/tenants/{tenant}/whatsapp-instances"),
            Some(&token),
            None,
        )
        .await;
    let forged = app
        .send(
            Method::POST,
            "/api/v1/tenant/sender/claim",
            Some("rlv_snd_not-a-real-token"),
            Some(&json!({})),
        )
        .await;

    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    assert_eq!(by_slug.status, StatusCode::OK, "{}", by_slug.body);
    assert_eq!(released.body["data"]["given_back"], 1, "{}", released.body);
    assert_error(&elsewhere, StatusCode::NOT_FOUND, "tenant.not_found");
    assert_eq!(foreign_release.status, StatusCode::NOT_FOUND);
    assert_eq!(registry.status, StatusCode::FORBIDDEN);
    assert_eq!(instances.status, StatusCode::FORBIDDEN);
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    // Only a live sender token is a credential (403 outside the sender endpoints).
    let forged_elsewhere = app
        .send(
            Method::GET,
            "/api/v1/auth/me",
            Some("rlv_snd_not-a-real-token"),
            None,
        )
        .await;
    assert_eq!(forged_elsewhere.status, StatusCode::UNAUTHORIZED);
    let live_elsewhere = app
        .send(Method::GET, "/api/v1/auth/me", Some(&token), None)
        .await;
    assert_eq!(live_elsewhere.status, StatusCode::FORBIDDEN);
    assert_eq!(app.sent_today(tenant, instance).await, 2);
}

async fn users_reach_the_sender_endpoints_by_role(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let (tenant, instance) = tenant_with_instance(&app).await;
    let member = app.tenant_user_token(tenant, "member@example.com").await;

    let admin = app.claim(tenant, &app.admin_token, json!({})).await;
    let admin_implicit = app
        .send(
            Method::POST,
            "/api/v1/tenant/sender/claim",
            Some(&app.admin_token),
            Some(&json!({})),
        )
        .await;
    let tenant_user = app.claim(tenant, &member, json!({})).await;
    let tenant_user_issues = app
        .send(
            Method::POST,
            &tokens_path(tenant),
            Some(&member),
            Some(&json!({"name": "mine"})),
        )
        .await;
    let anonymous = app
        .send(
            Method::POST,
            &format!("/api/v1/tenants/{tenant}/sender/claim"),
            None,
            Some(&json!({})),
        )
        .await;

    assert_eq!(admin.status, StatusCode::OK, "{}", admin.body);
    assert_eq!(admin_implicit.status, StatusCode::FORBIDDEN);
    assert_eq!(tenant_user.status, StatusCode::FORBIDDEN);
    assert_eq!(tenant_user_issues.status, StatusCode::FORBIDDEN);
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.sent_today(tenant, instance).await, 1);
}
