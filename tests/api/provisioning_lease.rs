//! Concurrent provisioning of one name, across two processes on one database, makes
//! exactly one `POST /instance/create` on Evolution: the find-or-create step holds the
//! name's lease. A lease left by a crashed holder ends at its expiry.

use chrono::Duration;
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

use relevo::db::leases;
use relevo::db::schema::leases::dsl as lease_dsl;

use crate::evolution_fake::Failure;
use crate::helpers::{seed_moment, Backend, TestApp};
use crate::spawn_with_fake_or_skip;
use crate::{both_backends, through_pooler};

const CREATE: &str = "POST /instance/create";

/// The provisioning leases left in the database, as `(name, holder)`.
fn provision_leases(app: &TestApp) -> Vec<(String, String)> {
    lease_dsl::leases
        .select((lease_dsl::name, lease_dsl::holder))
        .filter(lease_dsl::name.like("provision:%"))
        .load(&mut app.db())
        .unwrap()
}

async fn concurrent_provisions_through_two_processes_create_once(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let twin = app.twin().await;
    let tenant = app.seed_tenant().await;
    let body = json!({"instance_name": "simultanea"});

    let replies = futures_util::future::join_all((0..8).map(|i| {
        let process = if i % 2 == 0 { &app } else { &twin };
        process.provision(tenant, &body)
    }))
    .await;

    for reply in &replies {
        assert!(
            matches!(reply.status, StatusCode::OK | StatusCode::CREATED),
            "{} {}",
            reply.status,
            reply.body
        );
    }
    let ids: Vec<&Value> = replies.iter().map(|r| &r.body["data"]["id"]).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(fake.calls_to(CREATE), 1, "{:?}", fake.calls());
    assert_eq!(fake.state().creates, 1);
    assert_eq!(app.instance_rows().len(), 1);
    assert_eq!(fake.instance_names(), vec!["simultanea".to_string()]);
    assert_eq!(provision_leases(&app), vec![], "every lease was given back");
}

async fn a_lease_left_by_a_crashed_holder_ends_at_its_expiry(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let server = app.default_server_id().await;
    let name = format!("provision:{server}:huerfana");
    let now = seed_moment().naive_utc();
    assert!(
        leases::try_acquire(&mut app.db(), &name, "crashed", now, Duration::seconds(60)).unwrap()
    );
    app.clock.advance(Duration::seconds(61));

    let reply = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        app.provision(tenant, &json!({"instance_name": "huerfana"})),
    )
    .await
    .expect("an expired lease does not make provisioning wait");

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(fake.calls_to(CREATE), 1);
    assert_eq!(
        provision_leases(&app),
        vec![],
        "the expired lease was taken over, then given back"
    );
}

async fn a_failed_provision_gives_its_lease_back(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let body = json!({"instance_name": "fallida"});

    fake.fail(Failure::ServerError);
    let failed = app.provision(tenant, &body).await;
    assert_eq!(failed.status, StatusCode::BAD_GATEWAY, "{}", failed.body);
    assert_eq!(provision_leases(&app), vec![]);

    fake.recover();
    let repaired = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        app.provision(tenant, &body),
    )
    .await
    .expect("no lease is left to wait for");
    assert_eq!(repaired.status, StatusCode::CREATED, "{}", repaired.body);
    assert_eq!(fake.calls_to(CREATE), 1);
}

both_backends!(
    concurrent_provisions_through_two_processes_create_once,
    a_lease_left_by_a_crashed_holder_ends_at_its_expiry,
    a_failed_provision_gives_its_lease_back,
);

through_pooler!(
    concurrent_provisions_through_two_processes_create_once,
    a_lease_left_by_a_crashed_holder_ends_at_its_expiry,
    a_failed_provision_gives_its_lease_back,
);
