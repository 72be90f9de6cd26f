//! Login, tokens, roles and tenant isolation (SPEC section 3).

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{
    assert_error, assert_error_in, spawn_app_with, Backend, ADMIN_EMAIL, ADMIN_PASSWORD,
};
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

    assert_error(&wrong, StatusCode::UNAUTHORIZED, "auth.invalid_credentials");
    assert_eq!(unknown.status, wrong.status);
    assert_eq!(unknown.body, wrong.body);
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

    assert_error(
        &blocked,
        StatusCode::TOO_MANY_REQUESTS,
        "auth.too_many_attempts",
    );
    assert!((1..=900).contains(&retry_after(&blocked)));
    assert_eq!(from_owner.status, StatusCode::OK, "the owner still logs in");

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

async fn the_account_limit_holds_only_addresses_that_keep_failing(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let owner = "127.0.0.3";
    // The owner mistypes twice, then gets in: those failures are older than its success.
    for _ in 0..2 {
        app.login_from(owner, ADMIN_EMAIL, "wrong-password").await;
    }
    assert_eq!(
        app.login_from(owner, ADMIN_EMAIL, ADMIN_PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
    // Ten strangers guess once each: the account is past its own limit (12 of 10).
    for n in 10..20 {
        let reply = app
            .login_from(&format!("127.0.0.{n}"), ADMIN_EMAIL, "guess-1")
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "stranger {n}");
    }

    // A stranger that keeps guessing waits after its second failure.
    let second_guess = app.login_from("127.0.0.10", ADMIN_EMAIL, "guess-2").await;
    let held = app
        .login_from("127.0.0.10", ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    // A typo is not held: one failure from an address is allowed.
    let typo = app
        .login_from("127.0.0.30", ADMIN_EMAIL, "admin-pasword-123")
        .await;
    let after_typo = app
        .login_from("127.0.0.30", ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    // Failures on other emails do not count against this account.
    for email in ["nobody@relevo.test", "admin@relevo.tset", "ana@relevo.test"] {
        app.login_from("127.0.0.31", email, ADMIN_PASSWORD).await;
    }
    let failed_elsewhere = app
        .login_from("127.0.0.31", ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    // The owner, whose failures are older than its last success, and after a new typo.
    let owner_again = app.login_from(owner, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    app.login_from(owner, ADMIN_EMAIL, "admin-password-12")
        .await;
    let owner_after_typo = app.login_from(owner, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let clean = app
        .login_from("127.0.0.32", ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;

    assert_eq!(second_guess.status, StatusCode::UNAUTHORIZED);
    assert_eq!(held.status, StatusCode::TOO_MANY_REQUESTS);
    assert!((1..=900).contains(&retry_after(&held)));
    assert_eq!(typo.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after_typo.status, StatusCode::OK, "a typo is not held");
    assert_eq!(failed_elsewhere.status, StatusCode::OK, "other emails");
    assert_eq!(
        owner_again.status,
        StatusCode::OK,
        "failures before a success"
    );
    assert_eq!(owner_after_typo.status, StatusCode::OK, "the owner's typo");
    assert_eq!(clean.status, StatusCode::OK, "a clean address");
}

async fn an_ipv6_64_is_one_client_for_every_limit(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("RELEVO_TRUSTED_PROXIES", "127.0.0.1")]).await
    else {
        return;
    };

    // Five guesses, each from another address of one /64: the /64 waits, whole.
    for n in 1..=5 {
        let reply = app
            .login_via_proxy(&format!("2001:db8:1:2::{n}"), ADMIN_EMAIL, "guess")
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "guess {n}");
    }
    let same_64 = app
        .login_via_proxy(
            "2001:db8:1:2:ffff:ffff:ffff:fff0",
            ADMIN_EMAIL,
            ADMIN_PASSWORD,
        )
        .await;
    let next_64 = app
        .login_via_proxy("2001:db8:1:3::1", ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    assert_eq!(same_64.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(next_64.status, StatusCode::OK);

    // Spraying 20 accounts from 20 addresses of one /64: the /64 waits for every account.
    for n in 1..=20 {
        let reply = app
            .login_via_proxy(
                &format!("2001:db8:9:9::{n:x}"),
                &format!("user{n}@relevo.test"),
                "Summer2026!",
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "spray {n}");
    }
    let sprayer = app
        .login_via_proxy("2001:db8:9:9::beef", ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    assert_eq!(sprayer.status, StatusCode::TOO_MANY_REQUESTS);
    // IPv4 addresses are each their own client.
    for _ in 0..5 {
        app.login_via_proxy("198.51.100.1", ADMIN_EMAIL, "guess")
            .await;
    }
    assert_eq!(
        app.login_via_proxy("198.51.100.2", ADMIN_EMAIL, ADMIN_PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
}

async fn unknown_emails_are_throttled_like_real_ones(backend: Backend) {
    let app = spawn_or_skip!(backend);

    let mut answers = Vec::new();
    for (address, email) in [
        ("127.0.0.2", ADMIN_EMAIL),
        ("127.0.0.3", "nobody@relevo.test"),
    ] {
        for attempt in 1..=5 {
            let reply = app.login_from(address, email, "wrong-password").await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{email} {attempt}");
        }
        answers.push(app.login_from(address, email, "wrong-password").await);
    }

    let (real, unknown) = (&answers[0], &answers[1]);
    assert_eq!(real.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        (unknown.status, &unknown.body, retry_after(unknown)),
        (real.status, &real.body, retry_after(real)),
        "a 429 does not tell that an account exists"
    );

    // The account-wide limit counts unknown emails too: five addresses guess twice each,
    // and the next guess of each waits, as it would for a real account.
    for n in 10..15 {
        for _ in 0..2 {
            app.login_from(&format!("127.0.0.{n}"), "ghost@relevo.test", "guess")
                .await;
        }
    }
    assert_eq!(
        app.login_from("127.0.0.10", "ghost@relevo.test", "guess")
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS
    );
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
        rows(&app).len(),
        7,
        "unknown emails are counted as accounts: {:?}",
        rows(&app)
    );

    app.clock.advance(Duration::minutes(16));
    app.login_from("127.0.0.3", "ghost@relevo.test", "x-password-1")
        .await;
    assert_eq!(
        rows(&app),
        vec![
            "account:ghost@relevo.test",
            "account:ghost@relevo.test:from:127.0.0.3/32",
            "address:127.0.0.3/32",
        ],
        "expired rows are gone"
    );
}

async fn every_login_is_counted_and_super_admins_logins_are_audited(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    app.tenant_user_token(tenant, "ana@relevo.test").await;
    let outcomes = ["success", "failure", "throttled"];
    let mut before = Vec::new();
    for outcome in outcomes {
        before.push(
            app.metric(&format!(r#"relevo_logins_total{{outcome="{outcome}"}}"#))
                .await,
        );
    }

    // A guesser at the admin's account: five failures, then three refused attempts.
    let mut failed = Vec::new();
    for _ in 0..5 {
        failed.push(
            app.login_from("127.0.0.2", ADMIN_EMAIL, "wrong-password")
                .await,
        );
    }
    let mut refused = Vec::new();
    for _ in 0..3 {
        refused.push(
            app.login_from("127.0.0.2", ADMIN_EMAIL, ADMIN_PASSWORD)
                .await,
        );
    }
    let success = app
        .login_from("127.0.0.3", ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    // A tenant user's and an unknown email's failures, refusals and successes: metrics only.
    for _ in 0..6 {
        app.login_from("127.0.0.4", "ana@relevo.test", "wrong-password")
            .await;
        app.login_from("127.0.0.5", "nobody@relevo.test", "wrong-password")
            .await;
    }
    app.login_from(
        "127.0.0.6",
        "ana@relevo.test",
        crate::helpers::USER_PASSWORD,
    )
    .await;

    let mut after = Vec::new();
    for outcome in outcomes {
        after.push(
            app.metric(&format!(r#"relevo_logins_total{{outcome="{outcome}"}}"#))
                .await,
        );
    }
    let counted: Vec<f64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    assert_eq!(counted, [2.0, 15.0, 5.0], "{outcomes:?}");

    let admin_id = success.body["data"]["user"]["id"].as_i64().unwrap();
    let rows = |action: &'static str| {
        let app = &app;
        async move {
            let reply = app
                .admin(
                    Method::GET,
                    &format!("/api/v1/audit-log?action={action}&per_page=100"),
                    None,
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            reply.body["data"].as_array().unwrap().clone()
        }
    };
    let failures = rows("auth.login_failed").await;
    let throttled = rows("auth.login_throttled").await;
    let logins = rows("auth.login").await;
    assert_eq!(
        failures.len(),
        5,
        "one row per failure on a super admin's email"
    );
    assert_eq!(
        throttled.len(),
        1,
        "one row per network and window: {throttled:?}"
    );
    // The test app's own login, then this one.
    assert_eq!(logins.len(), 2);
    for row in failures.iter().chain(&throttled).chain(&logins) {
        assert_eq!(row["actor_id"], admin_id, "{row}");
        assert_eq!(row["actor_email"], ADMIN_EMAIL, "{row}");
        assert_eq!(row["target_type"], "user", "{row}");
        assert_eq!(row["target_id"], admin_id, "{row}");
        assert_eq!(row["tenant_id"], serde_json::Value::Null, "{row}");
    }
    assert_eq!(failures[0]["after"], json!({"client_address": "127.0.0.2"}));
    assert_eq!(failures[0]["request_id"], failed[4].request_id());
    assert_eq!(
        throttled[0]["after"],
        json!({"client_address": "127.0.0.2", "retry_after": retry_after(&refused[0])})
    );
    assert_eq!(throttled[0]["request_id"], refused[0].request_id());
    assert_eq!(logins[0]["after"], json!({"client_address": "127.0.0.3"}));
    assert_eq!(logins[0]["request_id"], success.request_id());
    let all = app
        .admin(
            Method::GET,
            "/api/v1/audit-log?target_type=user&per_page=100",
            None,
        )
        .await;
    assert_eq!(
        all.body["meta"]["total"], 9,
        "the tenant user's creation and the admin's logins, nothing else: {}",
        all.body
    );

    // The next window's first refusal is recorded again.
    app.clock.advance(Duration::minutes(15));
    for _ in 0..5 {
        app.login_from("127.0.0.2", ADMIN_EMAIL, "wrong-password")
            .await;
    }
    app.login_from("127.0.0.2", ADMIN_EMAIL, "wrong-password")
        .await;
    assert_eq!(rows("auth.login_throttled").await.len(), 2);
}

async fn forwarded_for_names_the_client_only_behind_a_trusted_proxy(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("RELEVO_TRUSTED_PROXIES", "127.0.0.1")]).await
    else {
        return;
    };
    for _ in 0..5 {
        app.login_via_proxy("203.0.113.9", ADMIN_EMAIL, "wrong-password")
            .await;
    }

    assert_eq!(
        app.login_via_proxy("203.0.113.9", ADMIN_EMAIL, ADMIN_PASSWORD)
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        app.login_via_proxy("198.51.100.1", ADMIN_EMAIL, ADMIN_PASSWORD)
            .await
            .status,
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
                assert_error(&reply, StatusCode::SERVICE_UNAVAILABLE, "auth.busy");
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

async fn tokens_issued_in_the_future_get_401(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let token = app.login_token(ADMIN_EMAIL, ADMIN_PASSWORD).await;

    // Relevo's clock goes back: a minute of skew is tolerated, not more.
    app.clock.advance(Duration::seconds(-60));
    let within_skew = app
        .send(Method::GET, "/api/v1/auth/me", Some(&token), None)
        .await;
    app.clock.advance(Duration::seconds(-1));
    let ahead = app
        .send(Method::GET, "/api/v1/auth/me", Some(&token), None)
        .await;

    assert_eq!(within_skew.status, StatusCode::OK);
    assert_eq!(
        (ahead.status, ahead.body),
        (
            StatusCode::UNAUTHORIZED,
            json!({"message": "Unauthenticated."})
        )
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
        let case = format!("{method} {path}");
        assert_error_in(
            &reply,
            StatusCode::METHOD_NOT_ALLOWED,
            "route.method_not_allowed",
            &case,
        );
        assert_eq!(reply.headers["allow"], "GET", "{case}");
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
    assert_error(&toggle, StatusCode::NOT_FOUND, "route.not_found");
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
    the_account_limit_holds_only_addresses_that_keep_failing,
    an_ipv6_64_is_one_client_for_every_limit,
    unknown_emails_are_throttled_like_real_ones,
    throttle_rows_for_unknown_emails_do_not_pile_up,
    every_login_is_counted_and_super_admins_logins_are_audited,
    forwarded_for_names_the_client_only_behind_a_trusted_proxy,
    a_login_flood_is_turned_away_fast_instead_of_queued,
    missing_bad_and_expired_tokens_get_401,
    tokens_issued_in_the_future_get_401,
    tenant_users_cannot_manage_instances,
    tenant_users_read_their_own_instances_without_keys,
    another_tenants_data_is_not_found_for_tenant_users,
    super_admins_use_the_explicit_tenant_paths,
);
