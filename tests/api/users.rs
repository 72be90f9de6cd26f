//! Users created by super admins (SPEC section 3).

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::Backend;
use crate::spawn_or_skip;

async fn super_admins_create_list_show_and_delete_users(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;

    let created = app
        .create_user(json!({"email": "Ana@Relevo.Test", "password": "tenant-password-1", "role": "tenant_user", "tenant_id": tenant}))
        .await;
    let id = created.body["data"]["id"].as_i64().unwrap();
    let listed = app.admin(Method::GET, "/api/v1/users", None).await;
    let shown = app
        .admin(Method::GET, &format!("/api/v1/users/{id}"), None)
        .await;
    let login = app.login("ana@relevo.test", "tenant-password-1").await;
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
    assert_eq!(after.status, StatusCode::NOT_FOUND);
    assert_eq!(after.body["error_key"], "user.not_found");
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

both_backends!(
    super_admins_create_list_show_and_delete_users,
    a_super_admin_cannot_delete_itself
);
