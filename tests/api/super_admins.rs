//! There is always a super admin (SPEC §9), whatever two super admins do to each other at
//! once, and an actor deleted while its request runs gets a 401, never a 500.

use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Backend, Reply, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};
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

/// The seed super admin's id.
async fn first_admin_id(app: &TestApp) -> i64 {
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.body["data"]["user"]["id"]
        .as_i64()
        .unwrap()
}

/// Another super admin for `round`, logged in: its path and its token.
async fn other_admin(app: &TestApp, round: usize) -> (String, String) {
    let (id, token) = app
        .new_user()
        .email(&format!("other{round}@relevo.test"))
        .super_admin()
        .logged_in()
        .await;
    (format!("/api/v1/users/{id}"), token)
}

/// Both answers of a round are ones the race allows, and one super admin is left.
#[track_caller]
fn assert_one_left(app: &TestApp, round: usize, answers: [&Reply; 2]) {
    for reply in answers {
        assert!(
            allowed(reply.status),
            "round {round}: {} {}",
            reply.status,
            reply.body
        );
    }
    assert_eq!(super_admins(app), 1, "round {round}");
}

/// Two super admins delete each other at the same moment, twelve times over.
async fn two_admins_deleting_each_other_leave_one(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let admin_path = format!("/api/v1/users/{}", first_admin_id(&app).await);
    for round in 0..12 {
        let (other_path, other_token) = other_admin(&app, round).await;
        let (first, second) = tokio::join!(
            app.send(Method::DELETE, &other_path, Some(&app.admin_token), None),
            app.send(Method::DELETE, &admin_path, Some(&other_token), None),
        );
        assert_one_left(&app, round, [&first, &second]);
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
    let admin_path = format!("/api/v1/users/{}", first_admin_id(&app).await);
    let demote = json!({"role": "tenant_user", "tenant_id": tenant});
    for round in 0..12 {
        let (other_path, other_token) = other_admin(&app, round).await;
        let (first, second) = tokio::join!(
            app.send(
                Method::PUT,
                &other_path,
                Some(&app.admin_token),
                Some(&demote)
            ),
            app.send(Method::PUT, &admin_path, Some(&other_token), Some(&demote)),
        );
        assert_one_left(&app, round, [&first, &second]);
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
