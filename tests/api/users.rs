//! Users created by super admins (SPEC section 3).

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{assert_error, Backend, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD, USER_PASSWORD};
use crate::spawn_or_skip;

async fn super_admins_create_list_show_and_delete_users(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;

    let created = app
        .new_user()
        .email("Ana@Relevo.Test")
        .tenant_user(tenant)
        .send()
        .await;
    let id = created.body["data"]["id"].as_i64().unwrap();
    let listed = app.admin(Method::GET, "/api/v1/users", None).await;
    let shown = app
        .admin(Method::GET, &format!("/api/v1/users/{id}"), None)
        .await;
    let login = app.login("ana@relevo.test", USER_PASSWORD).await;
    let deleted = app
        .admin(Method::DELETE, &format!("/api/v1/users/{id}"), None)
        .await;
    let after = app
        .admin(Method::GET, &format!("/api/v1/users/{id}"), None)
        .await;
    let token = login.body["data"]["access_token"].as_str().unwrap();
    let me_after_delete = app
        .send(Method::GET, "/api/v1/auth/me", Some(token), None)
        .await;

    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(
        created.body["data"]["email"], "ana@relevo.test",
        "emails are stored lower-cased"
    );
    assert_eq!(created.body["data"]["role"], "tenant_user");
    assert_eq!(created.body["data"]["tenant_id"], tenant);
    assert!(created.body["data"].get("password_hash").is_none());
    assert_eq!(
        listed.body["meta"]["total"], 2,
        "the admin and the new user"
    );
    assert_eq!(shown.body["data"]["email"], "ana@relevo.test");
    assert_eq!(login.status, StatusCode::OK);
    assert_eq!(login.body["data"]["user"]["tenant_id"], tenant);
    assert_eq!(deleted.status, StatusCode::OK);
    assert_error(&after, StatusCode::NOT_FOUND, "user.not_found");
    assert_eq!(me_after_delete.status, StatusCode::UNAUTHORIZED);
}

async fn a_super_admin_cannot_delete_itself(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let me = app.admin(Method::GET, "/api/v1/auth/me", None).await;
    let id = me.body["data"]["id"].as_i64().unwrap();

    let reply = app
        .admin(Method::DELETE, &format!("/api/v1/users/{id}"), None)
        .await;

    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(
        app.admin(Method::GET, &format!("/api/v1/users/{id}"), None)
            .await
            .status,
        StatusCode::OK
    );
}

/// Another super admin, `bea@relevo.test`, logged in: its id and token.
async fn second_admin(app: &TestApp) -> (i64, String) {
    app.new_user()
        .email("bea@relevo.test")
        .super_admin()
        .logged_in()
        .await
}

async fn create_tenant_as(app: &TestApp, token: &str, slug: &str) -> StatusCode {
    app.send(
        Method::POST,
        "/api/v1/tenants",
        Some(token),
        Some(&json!({"slug": slug, "nombre": slug})),
    )
    .await
    .status
}

async fn a_deleted_super_admins_token_dies_on_the_next_request(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let (id, token) = second_admin(&app).await;
    assert_eq!(
        create_tenant_as(&app, &token, "before").await,
        StatusCode::CREATED
    );

    let deleted = app
        .admin(Method::DELETE, &format!("/api/v1/users/{id}"), None)
        .await;

    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(
        create_tenant_as(&app, &token, "after").await,
        StatusCode::UNAUTHORIZED
    );
    let new_admin = app
        .send(
            Method::POST,
            "/api/v1/users",
            Some(&token),
            Some(&json!({"email": "mallory@relevo.test", "password": USER_PASSWORD, "role": "super_admin"})),
        )
        .await;
    assert_eq!(new_admin.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.list_total("/api/v1/tenants").await, 1, "only `before`");
    assert_eq!(
        app.list_total("/api/v1/users").await,
        1,
        "only the first admin"
    );
}

async fn demoting_or_re_passwording_a_user_ends_its_tokens(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let (id, token) = second_admin(&app).await;
    let path = format!("/api/v1/users/{id}");

    let demoted = app
        .admin(
            Method::PUT,
            &path,
            Some(&json!({"role": "tenant_user", "tenant_id": tenant})),
        )
        .await;

    assert_eq!(demoted.status, StatusCode::OK, "{}", demoted.body);
    assert_eq!(demoted.body["data"]["role"], "tenant_user");
    assert_eq!(demoted.body["data"]["tenant_id"], tenant);
    assert_eq!(
        create_tenant_as(&app, &token, "x").await,
        StatusCode::UNAUTHORIZED
    );
    let me = app
        .send(Method::GET, "/api/v1/auth/me", Some(&token), None)
        .await;
    assert_eq!(
        me.status,
        StatusCode::UNAUTHORIZED,
        "even read-only use ends"
    );
    // The sender path checks users on its own connection: the old token is refused there too.
    let claim = app
        .send(
            Method::POST,
            &format!("/api/v1/tenants/{tenant}/sender/claim"),
            Some(&token),
            Some(&json!({})),
        )
        .await;
    assert_eq!(claim.status, StatusCode::UNAUTHORIZED);

    // A fresh login as a tenant user works; a new password ends that token as well.
    let tenant_token = app.login_token("bea@relevo.test", USER_PASSWORD).await;
    let own_instances = || {
        app.send(
            Method::GET,
            "/api/v1/tenant/whatsapp-instances",
            Some(&tenant_token),
            None,
        )
    };
    let own = own_instances().await;
    assert_eq!(own.status, StatusCode::OK);
    let new_password = "  Another pass phrase 9 green  ";
    let changed = app
        .admin(Method::PUT, &path, Some(&json!({"password": new_password})))
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let own = own_instances().await;
    assert_eq!(own.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.login("bea@relevo.test", USER_PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("bea@relevo.test", new_password.trim())
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "passwords are never trimmed"
    );
    assert_eq!(
        app.login("bea@relevo.test", new_password).await.status,
        StatusCode::OK
    );
}

async fn a_sender_claim_with_a_deleted_admins_token_is_refused(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    app.instance(tenant, "+573001234567", "principal", 10).await;
    let (id, token) = second_admin(&app).await;
    let path = format!("/api/v1/tenants/{tenant}/sender/claim");
    let before = app
        .send(Method::POST, &path, Some(&token), Some(&json!({})))
        .await;
    assert_eq!(before.status, StatusCode::OK, "{}", before.body);

    app.admin(Method::DELETE, &format!("/api/v1/users/{id}"), None)
        .await;
    let after = app
        .send(Method::POST, &path, Some(&token), Some(&json!({})))
        .await;

    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}

async fn updating_a_user_is_validated(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let (id, _) = second_admin(&app).await;
    let me = app.admin(Method::GET, "/api/v1/auth/me", None).await;
    let first_admin = me.body["data"]["id"].as_i64().unwrap();
    let path = format!("/api/v1/users/{id}");
    let put = |body: serde_json::Value, path: String| {
        let app = &app;
        async move { app.admin(Method::PUT, &path, Some(&body)).await }
    };

    let weak = put(
        json!({"password": "password123", "role": "boss"}),
        path.clone(),
    )
    .await;
    let tenantless = put(json!({"role": "tenant_user"}), path.clone()).await;
    let missing_tenant = put(
        json!({"role": "tenant_user", "tenant_id": 999}),
        path.clone(),
    )
    .await;
    let admin_with_tenant = put(json!({"tenant_id": tenant}), path.clone()).await;
    let unknown = put(
        json!({"password": USER_PASSWORD}),
        "/api/v1/users/999".into(),
    )
    .await;

    assert_error(&weak, StatusCode::UNPROCESSABLE_ENTITY, "validation.failed");
    assert!(weak.body["errors"]["password"].is_array(), "{}", weak.body);
    assert!(weak.body["errors"]["role"].is_array(), "{}", weak.body);
    assert_error(
        &tenantless,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation.failed",
    );
    assert!(tenantless.body["errors"]["tenant_id"].is_array());
    assert_eq!(missing_tenant.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(admin_with_tenant.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.login("bea@relevo.test", USER_PASSWORD).await.status,
        StatusCode::OK,
        "unchanged"
    );

    // The last super admin cannot be demoted; with another one left, it can.
    put(
        json!({"role": "tenant_user", "tenant_id": tenant}),
        path.clone(),
    )
    .await;
    let last = put(
        json!({"role": "tenant_user", "tenant_id": tenant}),
        format!("/api/v1/users/{first_admin}"),
    )
    .await;
    assert_error(&last, StatusCode::CONFLICT, "user.last_super_admin");
    assert_eq!(
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.body["data"]["user"]["role"],
        "super_admin"
    );
}

async fn weak_passwords_and_malformed_emails_are_refused_at_creation(backend: Backend) {
    let app = spawn_or_skip!(backend);

    let weak = app
        .create_user(
            json!({"email": "ana@relevo.test", "password": "qwertyuiop", "role": "super_admin"}),
        )
        .await;
    let bad_email = app
        .create_user(
            json!({"email": "ana@@relevo.test", "password": USER_PASSWORD, "role": "super_admin"}),
        )
        .await;
    let spaced = app
        .create_user(json!({"email": "ana@relevo.test", "password": format!(" {USER_PASSWORD} "), "role": "super_admin"}))
        .await;

    assert_error(&weak, StatusCode::UNPROCESSABLE_ENTITY, "validation.failed");
    assert_eq!(
        weak.body["errors"]["password"][0],
        "El campo password es demasiado débil; use una contraseña más larga y menos predecible."
    );
    assert_error(
        &bad_email,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation.failed",
    );
    assert!(bad_email.body["errors"]["email"].is_array());
    assert_eq!(spaced.status, StatusCode::CREATED);
    assert_eq!(
        app.login("ana@relevo.test", USER_PASSWORD).await.status,
        StatusCode::UNAUTHORIZED,
        "the spaces are part of the password"
    );
    assert_eq!(
        app.login("ana@relevo.test", &format!(" {USER_PASSWORD} "))
            .await
            .status,
        StatusCode::OK
    );
}

both_backends!(
    super_admins_create_list_show_and_delete_users,
    a_super_admin_cannot_delete_itself,
    a_deleted_super_admins_token_dies_on_the_next_request,
    demoting_or_re_passwording_a_user_ends_its_tokens,
    a_sender_claim_with_a_deleted_admins_token_is_refused,
    updating_a_user_is_validated,
    weak_passwords_and_malformed_emails_are_refused_at_creation,
);
