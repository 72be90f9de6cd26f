//! Login, tokens, roles and tenant isolation (SPEC section 3).

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{spawn_app_with, Backend, ADMIN_EMAIL, ADMIN_PASSWORD};
use crate::spawn_or_skip;

async fn login_returns_a_bearer_token_and_the_user(backend: Backend) {
    let app = spawn_or_skip!(backend);

    let reply = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;

    assert_eq!(reply.status, StatusCode::OK);
    let data = &reply.body["data"];
    assert_eq!(data["token_type"], "Bearer");
    assert_eq!(data["expires_in"], 31_536_000);
    assert_eq!(data["user"]["email"], ADMIN_EMAIL);
    assert_eq!(data["user"]["role"], "super_admin");
    assert_eq!(data["user"]["tenant_id"], serde_json::Value::Null);
    let token = data["access_token"].as_str().unwrap();
    let me = app
        .send(Method::GET, "/api/v1/auth/me", Some(token), None)
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["data"]["email"], ADMIN_EMAIL);
}

async fn unknown_email_and_wrong_password_get_the_same_401(backend: Backend) {
    let app = spawn_or_skip!(backend);

    let unknown = app.login("nobody@relevo.test", ADMIN_PASSWORD).await;
    let wrong = app.login(ADMIN_EMAIL, "not-the-password").await;

    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.body, wrong.body);
    assert_eq!(wrong.body["error_key"], "auth.invalid_credentials");
}

fn retry_after(reply: &crate::helpers::Reply) -> i64 {
    reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn a_stranger_cannot_lock_the_owner_out(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let (attacker, owner) = ("127.0.0.2", "127.0.0.3");

    for attempt in 1..=5 {
        let reply = app
            .login_from(attacker, ADMIN_EMAIL, "wrong-password")
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let blocked = app.login_from(attacker, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let from_owner = app.login_from(owner, ADMIN_EMAIL, ADMIN_PASSWORD).await;

    assert_eq!(
        blocked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the guessing address waits"
    );
    assert_eq!(blocked.body["error_key"], "auth.too_many_attempts");
    assert!((1..=900).contains(&retry_after(&blocked)));
    assert_eq!(from_owner.status, StatusCode::OK, "the owner still logs in");

    // Guessing from more addresses: past the account's own limit, every address that
    // has failed waits, and a clean one still gets in.
    for attempt in 1..=5 {
        let reply = app
            .login_from("127.0.0.4", ADMIN_EMAIL, "wrong-password")
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    app.login_from("127.0.0.5", "nobody@relevo.test", "wrong-password")
        .await;
    let failing_elsewhere = app
        .login_from("127.0.0.5", ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    let clean = app.login_from(owner, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(failing_elsewhere.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(clean.status, StatusCode::OK);

    app.clock
        .advance(Duration::seconds(retry_after(&blocked) + 1));
    assert_eq!(
        app.login_from(attacker, ADMIN_EMAIL, ADMIN_PASSWORD)
            .await
            .status,
        StatusCode::OK,
        "the window passes"
    );
}

async fn spraying_across_accounts_is_limited_per_address(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let sprayer = "127.0.0.2";

    for n in 1..=20 {
        let reply = app
            .login_from(sprayer, &format!("user{n}@relevo.test"), "Summer2026!")
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "attempt {n}");
    }
    let blocked = app.login_from(sprayer, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let elsewhere = app
        .login_from("127.0.0.3", ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;

    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(elsewhere.status, StatusCode::OK);
}

async fn throttle_rows_for_unknown_emails_do_not_pile_up(backend: Backend) {
    use diesel::prelude::*;
    use relevo::db::schema::login_failures;
    let app = spawn_or_skip!(backend);
    let rows = |app: &crate::helpers::TestApp| -> Vec<String> {
        login_failures::table
            .select(login_failures::bucket)
            .order(login_failures::bucket)
            .load(&mut app.db())
            .unwrap()
    };

    for n in 1..=3 {
        app.login_from(
            "127.0.0.2",
            &format!("ghost{n}@relevo.test"),
            "x-password-1",
        )
        .await;
    }
    assert_eq!(
        rows(&app),
        vec!["address:127.0.0.2"],
        "unknown emails get no rows of their own"
    );

    app.clock.advance(Duration::minutes(16));
    app.login_from("127.0.0.3", "ghost@relevo.test", "x-password-1")
        .await;
    assert_eq!(
        rows(&app),
        vec!["address:127.0.0.3"],
        "expired rows are gone"
    );
}

async fn forwarded_for_names_the_client_only_behind_a_trusted_proxy(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("RELEVO_TRUSTED_PROXIES", "127.0.0.1")]).await
    else {
        return;
    };
    let login = |forwarded: &'static str, password: &'static str| {
        let app = &app;
        async move {
            let response = app
                .client
                .post(format!("{}/api/v1/auth/login", app.address))
                .header("x-forwarded-for", forwarded)
                .json(&json!({"email": ADMIN_EMAIL, "password": password}))
                .send()
                .await
                .unwrap();
            crate::helpers::into_reply(response).await
        }
    };

    for _ in 0..5 {
        login("203.0.113.9", "wrong-password").await;
    }

    assert_eq!(
        login("203.0.113.9", ADMIN_PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login("198.51.100.1", ADMIN_PASSWORD).await.status,
        StatusCode::OK
    );
    // From a peer that is not a trusted proxy the header is ignored: 127.0.0.2 is the client.
    let untrusted_peer = reqwest::Client::builder()
        .local_address(Some("127.0.0.2".parse().unwrap()))
        .build()
        .unwrap();
    let response = untrusted_peer
        .post(format!("{}/api/v1/auth/login", app.address))
        .header("x-forwarded-for", "203.0.113.9")
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

async fn a_login_flood_is_turned_away_fast_instead_of_queued(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let flood: Vec<_> = (0..64)
        .map(|n| {
            let client = app.client.clone();
            let url = format!("{}/api/v1/auth/login", app.address);
            tokio::spawn(async move {
                let response = client
                    .post(url)
                    .json(&json!({"email": format!("user{n}@relevo.test"), "password": "wrong-password"}))
                    .send()
                    .await
                    .unwrap();
                crate::helpers::into_reply(response).await
            })
        })
        .collect();

    let mut busy = 0;
    for reply in flood {
        let reply = reply.await.unwrap();
        match reply.status {
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(reply.body["error_key"], "auth.busy");
                assert_eq!(retry_after(&reply), 1);
                busy += 1;
            }
            StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }

    assert!(
        busy > 0,
        "64 concurrent password checks cannot all be admitted"
    );
    assert_eq!(
        app.login_from("127.0.0.3", ADMIN_EMAIL, ADMIN_PASSWORD)
            .await
            .status,
        StatusCode::OK,
        "once the flood is over, logins work"
    );
}

async fn missing_bad_and_expired_tokens_get_401(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("RELEVO_TOKEN_TTL_SECONDS", "3600")]).await else {
        return;
    };
    let unauthenticated = json!({"message": "Unauthenticated."});

    let none = app.send(Method::GET, "/api/v1/tenants", None, None).await;
    let garbage = app
        .send(Method::GET, "/api/v1/tenants", Some("not.a.jwt"), None)
        .await;
    let fresh = app.admin(Method::GET, "/api/v1/tenants", None).await;
    app.clock.advance(Duration::seconds(3601));
    let expired = app.admin(Method::GET, "/api/v1/tenants", None).await;

    assert_eq!(
        (none.status, &none.body),
        (StatusCode::UNAUTHORIZED, &unauthenticated)
    );
    assert_eq!(
        (garbage.status, &garbage.body),
        (StatusCode::UNAUTHORIZED, &unauthenticated)
    );
    assert_eq!(fresh.status, StatusCode::OK);
    assert_eq!(
        (expired.status, &expired.body),
        (StatusCode::UNAUTHORIZED, &unauthenticated)
    );
}

async fn tenant_users_cannot_manage_instances(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app
        .instance(tenant, "+573001234567", "principal", 1000)
        .await;
    let token = app.tenant_user_token(tenant, "ana@relevo.test").await;
    let forbidden = json!({"message": "This action is unauthorized."});
    let body = json!({"phone_number": "+573009876543", "instance_name": "x", "evolution_api_key": "k", "daily_message_limit": 5});

    for (method, path) in [
        (
            Method::GET,
            format!("/api/v1/tenants/{tenant}/whatsapp-instances"),
        ),
        (
            Method::POST,
            format!("/api/v1/tenants/{tenant}/whatsapp-instances"),
        ),
        (
            Method::GET,
            format!("/api/v1/tenants/{tenant}/whatsapp-instances/{id}"),
        ),
        (
            Method::PUT,
            format!("/api/v1/tenants/{tenant}/whatsapp-instances/{id}"),
        ),
        (
            Method::DELETE,
            format!("/api/v1/tenants/{tenant}/whatsapp-instances/{id}"),
        ),
        (
            Method::POST,
            format!("/api/v1/tenants/{tenant}/whatsapp-instances/{id}/toggle-active"),
        ),
        (
            Method::POST,
            format!("/api/v1/tenants/{tenant}/whatsapp-instances/{id}/reset-counter"),
        ),
        (Method::GET, "/api/v1/whatsapp-instances".to_string()),
        (Method::GET, "/api/v1/tenants".to_string()),
        (Method::POST, "/api/v1/users".to_string()),
    ] {
        let reply = app
            .send(method.clone(), &path, Some(&token), Some(&body))
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(reply.body, forbidden, "{method} {path}");
    }
    // Seed 001's writes on its documented read-only paths: the path takes GET only.
    for (method, path) in [
        (
            Method::POST,
            "/api/v1/tenant/whatsapp-instances".to_string(),
        ),
        (
            Method::PUT,
            format!("/api/v1/tenant/whatsapp-instances/{id}"),
        ),
        (
            Method::DELETE,
            format!("/api/v1/tenant/whatsapp-instances/{id}"),
        ),
    ] {
        let reply = app
            .send(method.clone(), &path, Some(&token), Some(&body))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(reply.headers["allow"], "GET", "{method} {path}");
        assert_eq!(reply.body["error_key"], "route.method_not_allowed");
    }
    // Seed 001's management actions have no tenant-implicit form: no such route.
    let toggle = app
        .send(
            Method::POST,
            &format!("/api/v1/tenant/whatsapp-instances/{id}/toggle-active"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(toggle.status, StatusCode::NOT_FOUND);
    assert_eq!(toggle.body["error_key"], "route.not_found");
    // Nothing changed.
    let show = app
        .admin(
            Method::GET,
            &format!("/api/v1/tenants/{tenant}/whatsapp-instances/{id}"),
            None,
        )
        .await;
    assert_eq!(show.body["data"]["is_active"], true);
    let list = app
        .admin(
            Method::GET,
            &format!("/api/v1/tenants/{tenant}/whatsapp-instances"),
            None,
        )
        .await;
    assert_eq!(list.body["meta"]["total"], 1);
}

async fn tenant_users_read_their_own_instances_without_keys(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app
        .instance(tenant, "+573001234567", "principal", 1000)
        .await;
    app.instance(tenant, "+573009876543", "secundaria", 500)
        .await;
    app.set_sent(id, 245, "2025-11-17");
    let token = app.tenant_user_token(tenant, "ana@relevo.test").await;

    let list = app
        .send(
            Method::GET,
            "/api/v1/tenant/whatsapp-instances?is_active=true&per_page=10",
            Some(&token),
            None,
        )
        .await;
    let show = app
        .send(
            Method::GET,
            &format!("/api/v1/tenant/whatsapp-instances/{id}"),
            Some(&token),
            None,
        )
        .await;
    let stats = app
        .send(
            Method::GET,
            &format!("/api/v1/tenant/whatsapp-instances/{id}/statistics"),
            Some(&token),
            None,
        )
        .await;
    let own_tenant = app
        .send(
            Method::GET,
            &format!("/api/v1/tenants/{tenant}"),
            Some(&token),
            None,
        )
        .await;

    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(
        list.body["meta"],
        json!({"total": 2, "current_page": 1, "last_page": 1, "per_page": 10})
    );
    assert_eq!(show.status, StatusCode::OK);
    assert_eq!(show.body["data"]["messages_sent_today"], 245);
    assert!(
        show.body["data"].get("evolution_api_key").is_none(),
        "tenant users never see keys"
    );
    assert_eq!(stats.body["data"]["usage_percentage"], 24.5);
    assert_eq!(own_tenant.status, StatusCode::OK);
    assert!(own_tenant.body["data"]["whatsapp_instances"][0]
        .get("evolution_api_key")
        .is_none());
}

async fn another_tenants_data_is_not_found_for_tenant_users(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let mine = app.seed_tenant().await;
    let theirs = app.tenant_named("otro", "UTC").await;
    let their_instance = app.instance(theirs, "+573001234567", "ajena", 1000).await;
    let token = app.tenant_user_token(mine, "ana@relevo.test").await;

    for path in [
        format!("/api/v1/tenants/{theirs}"),
        "/api/v1/tenants/otro".to_string(),
        format!("/api/v1/tenants/{theirs}/whatsapp-instances/{their_instance}"),
        format!("/api/v1/tenant/whatsapp-instances/{their_instance}"),
        format!("/api/v1/tenant/whatsapp-instances/{their_instance}/statistics"),
        "/api/v1/tenants/does-not-exist".to_string(),
    ] {
        let reply = app.send(Method::GET, &path, Some(&token), None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
    }
}

async fn super_admins_use_the_explicit_tenant_paths(backend: Backend) {
    let app = spawn_or_skip!(backend);

    let reply = app
        .admin(Method::GET, "/api/v1/tenant/whatsapp-instances", None)
        .await;

    assert_eq!(
        reply.status,
        StatusCode::FORBIDDEN,
        "a super admin's token names no tenant"
    );
}

both_backends!(
    login_returns_a_bearer_token_and_the_user,
    unknown_email_and_wrong_password_get_the_same_401,
    a_stranger_cannot_lock_the_owner_out,
    spraying_across_accounts_is_limited_per_address,
    throttle_rows_for_unknown_emails_do_not_pile_up,
    forwarded_for_names_the_client_only_behind_a_trusted_proxy,
    a_login_flood_is_turned_away_fast_instead_of_queued,
    missing_bad_and_expired_tokens_get_401,
    tenant_users_cannot_manage_instances,
    tenant_users_read_their_own_instances_without_keys,
    another_tenants_data_is_not_found_for_tenant_users,
    super_admins_use_the_explicit_tenant_paths,
);
