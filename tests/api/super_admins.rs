//! There is always a super admin (SPEC §9), whatever two super admins do to each other at
//! once, and an actor deleted while its request runs gets a 401, never a 500.

use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Backend, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};
use crate::{both_backends, spawn_or_skip, through_pooler};
use relevo::db::schema::users;

fn super_admins(app: &TestApp) -> i64 {
    users::table
        .filter(users::role.eq("super_admin"))
        .count()
        .get_result(&mut app.db())
        .unwrap()
}

fn allowed(status: StatusCode) -> bool {
    [
        StatusCode::OK,
        StatusCode::UNAUTHORIZED,
        StatusCode::NOT_FOUND,
        StatusCode::CONFLICT,
    ]
    .contains(&status)
}

/// Two super admins delete each other at the same moment, twelve times over.
async fn two_admins_deleting_each_other_leave_one(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let admin_id = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.body["data"]["user"]["id"]
        .as_i64()
        .unwrap();
    for round in 0..12 {
        let (other_id, other_token) = app
            .new_user()
            .email(&format!("other{round}@relevo.test"))
            .super_admin()
            .logged_in()
            .await;
        let (other_path, admin_path) = (
            format!("/api/v1/users/{other_id}"),
            format!("/api/v1/users/{admin_id}"),
        );
        let (first, second) = tokio::join!(
            app.send(Method::DELETE, &other_path, Some(&app.admin_token), None),
            app.send(Method::DELETE, &admin_path, Some(&other_token), None),
        );
        assert!(
            allowed(first.status),
            "round {round}: {} {}",
            first.status,
            first.body
        );
        assert!(
            allowed(second.status),
            "round {round}: {} {}",
            second.status,
            second.body
        );
        assert_eq!(super_admins(&app), 1, "round {round}");
        if second.status == StatusCode::OK {
            // The seed admin went: nobody is left to go on with, which is the point.
            assert_ne!(first.status, StatusCode::OK, "round {round}");
            return;
        }
    }
}

/// Two super admins demote each other at the same moment.
async fn two_admins_demoting_each_other_leave_one(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let admin_id = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.body["data"]["user"]["id"]
        .as_i64()
        .unwrap();
    let demote = json!({"role": "tenant_user", "tenant_id": tenant});
    for round in 0..12 {
        let (other_id, other_token) = app
            .new_user()
            .email(&format!("other{round}@relevo.test"))
            .super_admin()
            .logged_in()
            .await;
        let (other_path, admin_path) = (
            format!("/api/v1/users/{other_id}"),
            format!("/api/v1/users/{admin_id}"),
        );
        let (first, second) = tokio::join!(
            app.send(
                Method::PUT,
                &other_path,
                Some(&app.admin_token),
                Some(&demote)
            ),
            app.send(Method::PUT, &admin_path, Some(&other_token), Some(&demote)),
        );
        assert!(
            allowed(first.status),
            "round {round}: {} {}",
            first.status,
            first.body
        );
        assert!(
            allowed(second.status),
            "round {round}: {} {}",
            second.status,
            second.body
        );
        assert_eq!(super_admins(&app), 1, "round {round}");
        if second.status == StatusCode::OK {
            return;
        }
    }
}

/// The database itself refuses to lose its last super admin, whoever asks.
async fn the_database_keeps_the_last_super_admin(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let deleted =
        diesel::delete(users::table.filter(users::role.eq("super_admin"))).execute(&mut app.db());
    let error = deleted.expect_err("the trigger refuses");
    assert!(
        error.to_string().contains("relevo_last_super_admin"),
        "{error}"
    );
    assert_eq!(super_admins(&app), 1);
}

both_backends!(
    two_admins_deleting_each_other_leave_one,
    two_admins_demoting_each_other_leave_one,
    the_database_keeps_the_last_super_admin,
);

through_pooler!(two_admins_deleting_each_other_leave_one);
