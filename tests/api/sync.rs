//! The sync (by hand and on schedule) against fake Evolution servers: what it writes,
//! what it leaves alone, and that one process at a time makes one `fetchInstances` per
//! server per interval, driven by the manual clock.

use chrono::Duration;
use relevo::clock::Clock;
use relevo::db::leases;
use relevo::db::sync_runs::SyncScope;
use relevo::domain::ConnectionStatus;
use relevo::lifecycle::sync_scheduler::Tick;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::evolution_fake::{Failure, FakeEvolution, GLOBAL_KEY};
use crate::helpers::{assert_error, instance_path, instances_path, Backend, TestApp};
use crate::spawn_with_fake_or_skip;
use crate::{both_backends, through_pooler};

/// A `fetchInstances` of the whole server (no `instanceName` filter).
const LIST_ALL: &str = "GET /instance/fetchInstances";

fn list_all_calls(fake: &FakeEvolution) -> usize {
    fake.calls().iter().filter(|call| *call == LIST_ALL).count()
}

/// The columns the sync may change.
fn synced_columns(app: &TestApp, id: i64) -> Value {
    let row = app.instance_row(id);
    json!({
        "status": row.connection_status, "owner": row.owner_jid, "profile": row.profile_name,
        "phone": row.phone_number,
        "checked": row.last_checked_at.map(|t| t.to_string()),
        "connected": row.connected_at.map(|t| t.to_string()),
        "updated_at": row.updated_at.to_string(),
    })
}

async fn sync_tenant(app: &TestApp, tenant: i64) -> Value {
    let reply = app
        .admin(
            Method::POST,
            &format!("{}/sync", instances_path(tenant)),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["data"].clone()
}

async fn sync_tenant_fills_statuses_and_marks_orphans(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let alpha = app.provisioned(tenant, "alpha").await;
    let beta = app.provisioned(tenant, "beta").await;
    let gamma = app.provisioned(tenant, "gamma").await;
    fake.link("alpha", "573001234567@s.whatsapp.net");
    fake.state().instances.get_mut("beta").unwrap().state = "close".into();
    fake.lose_instance("gamma");
    app.clock.advance(Duration::minutes(1));
    let before = list_all_calls(&fake);

    let report = sync_tenant(&app, tenant).await;
    assert_eq!(
        report,
        json!({"synced": 3, "updated": 3, "orphaned": 1, "errors": []}),
        "alpha connected, beta closed, gamma lost"
    );
    assert_eq!(
        list_all_calls(&fake),
        before + 1,
        "one fetchInstances for the server"
    );
    let now = app.clock.now().naive_utc().to_string();
    let row = app.instance_row(alpha);
    assert_eq!(row.connection_status, ConnectionStatus::Connected);
    assert_eq!(
        row.owner_jid.as_deref(),
        Some("573001234567@s.whatsapp.net")
    );
    assert_eq!(row.profile_name.as_deref(), Some("Campaña"));
    assert_eq!(
        row.phone_number, "+573001234567",
        "from ownerJid: it had none"
    );
    assert_eq!(row.connected_at.map(|t| t.to_string()), Some(now.clone()));
    assert_eq!(
        row.last_checked_at.map(|t| t.to_string()),
        Some(now.clone())
    );
    assert_eq!(
        app.instance_row(beta).connection_status,
        ConnectionStatus::Disconnected
    );
    assert_eq!(
        app.instance_row(gamma).connection_status,
        ConnectionStatus::Error
    );

    // Again, later: only last_checked_at moves; connected_at stays the first connection.
    app.clock.advance(Duration::minutes(1));
    let report = sync_tenant(&app, tenant).await;
    assert_eq!(
        report,
        json!({"synced": 3, "updated": 0, "orphaned": 1, "errors": []})
    );
    let row = app.instance_row(alpha);
    assert_eq!(row.connected_at.map(|t| t.to_string()), Some(now));
    assert_eq!(
        row.last_checked_at,
        Some(app.clock.now().naive_utc()),
        "checked again"
    );

    // An unreachable server: every instance in errors, none changed.
    let columns = |app: &TestApp| [alpha, beta, gamma].map(|id| synced_columns(app, id));
    let untouched = columns(&app);
    app.clock.advance(Duration::minutes(1));
    fake.fail(Failure::ServerError);
    let report = sync_tenant(&app, tenant).await;
    assert_eq!(report["synced"], 0, "{report}");
    let errors = report["errors"].as_array().unwrap();
    let names: Vec<&str> = errors
        .iter()
        .map(|e| e["instance_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "beta", "gamma"], "{report}");
    assert!(errors
        .iter()
        .all(|e| e["error_key"] == "evolution.unavailable" && e["error"].is_string()));
    assert_eq!(
        columns(&app),
        untouched,
        "an unreachable server changes nothing"
    );
    fake.recover();

    // Every run is logged, newest first.
    let runs = app.admin(Method::GET, "/api/v1/sync-runs", None).await;
    assert_eq!(runs.status, StatusCode::OK, "{}", runs.body);
    assert_eq!(runs.body["meta"]["total"], 3);
    let newest = &runs.body["data"][0];
    assert_eq!(newest["trigger"], "manual");
    assert_eq!(newest["tenant_id"], tenant);
    assert_eq!(newest["errors"].as_array().unwrap().len(), 3);
    assert!(newest["finished_at"].is_string());
    assert_eq!(runs.body["data"][2]["updated"], 3);

    // Tenant users may not sync.
    let token = app.tenant_user_token(tenant, "viewer@example.com").await;
    let reply = app
        .send(
            Method::POST,
            &format!("{}/sync", instances_path(tenant)),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = app
        .send(Method::GET, "/api/v1/sync-runs", Some(&token), None)
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}

async fn sync_all_asks_each_server_once(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let other = FakeEvolution::start().await;
    let second = app
        .new_server()
        .name("second")
        .base_url(&other.url)
        .api_key(GLOBAL_KEY)
        .create()
        .await;
    let first_tenant = app.seed_tenant().await;
    let second_tenant = app.tenant_named("otro", "UTC").await;
    for name in ["a1", "a2"] {
        app.provisioned(first_tenant, name).await;
    }
    let b1 = app
        .provisioned_with(
            second_tenant,
            &json!({"instance_name": "b1", "evolution_server_id": second}),
        )
        .await;
    other.link("b1", "573009876543@s.whatsapp.net");
    let before = (list_all_calls(&fake), list_all_calls(&other));

    let reply = app
        .admin(Method::POST, "/api/v1/whatsapp-instances/sync", None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["synced"], 3, "{}", reply.body);
    assert_eq!(reply.body["data"]["errors"], json!([]));
    assert_eq!(
        (list_all_calls(&fake), list_all_calls(&other)),
        (before.0 + 1, before.1 + 1),
        "one fetchInstances per server, not per instance"
    );
    assert_eq!(
        app.instance_row(b1).connection_status,
        ConnectionStatus::Connected
    );

    // An inactive server is not called; its instances are reported, unchanged.
    let reply = app
        .admin(
            Method::PUT,
            &format!("/api/v1/evolution-servers/{second}"),
            Some(&json!({"is_active": false})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let untouched = synced_columns(&app, b1);
    app.clock.advance(Duration::minutes(1));
    let reply = app
        .admin(Method::POST, "/api/v1/whatsapp-instances/sync", None)
        .await;
    assert_eq!(reply.body["data"]["synced"], 2, "{}", reply.body);
    assert_eq!(
        reply.body["data"]["errors"],
        json!([{"instance_name": "b1", "error_key": "evolution.server_inactive",
                "error": "Evolution API server `second` is inactive; it is not synced."}])
    );
    assert_eq!(list_all_calls(&other), before.1 + 1);
    assert_eq!(synced_columns(&app, b1), untouched);
}

const INTERVALS: &[(&str, &str)] = &[
    ("EVOLUTION_API_SYNC_INTERVAL_ACTIVE", "600000"),
    ("EVOLUTION_API_SYNC_INTERVAL_INACTIVE", "1800000"),
];

const ALL: SyncScope = SyncScope {
    tenant_id: None,
    active: true,
    inactive: true,
};
const ACTIVE: SyncScope = SyncScope {
    tenant_id: None,
    active: true,
    inactive: false,
};

/// Both applications step many times at the current manual time; answers the scopes run.
async fn tick_both(app: &TestApp, twin: &TestApp) -> Vec<SyncScope> {
    let mut ran = Vec::new();
    for _ in 0..3 {
        let (a, b) = tokio::join!(app.tick(), twin.tick());
        for tick in [a, b] {
            match tick {
                Tick::Ran { scope, report } => {
                    assert!(report.errors.is_empty(), "{report:?}");
                    ran.push(scope);
                }
                Tick::Busy | Tick::Idle => {}
            }
        }
    }
    ran
}

async fn the_scheduler_runs_once_per_interval_on_one_process(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend, INTERVALS);
    let twin = app.twin_with(INTERVALS).await;
    let tenant = app.seed_tenant().await;
    let active = app.provisioned(tenant, "act").await;
    let inactive = app.provisioned(tenant, "ina").await;
    let toggled = app
        .admin(
            Method::POST,
            &format!("{}/toggle-active", instance_path(tenant, inactive)),
            None,
        )
        .await;
    assert_eq!(toggled.status, StatusCode::OK, "{}", toggled.body);
    let checked = |id| app.instance_row(id).last_checked_at;
    app.clock.advance(Duration::seconds(1));
    let start = list_all_calls(&fake);

    assert_eq!(
        tick_both(&app, &twin).await,
        [ALL],
        "nothing synced yet: all due"
    );
    assert_eq!(list_all_calls(&fake), start + 1);
    let first = app.clock.now().naive_utc();
    assert_eq!(
        (checked(active), checked(inactive)),
        (Some(first), Some(first))
    );

    app.clock.advance(Duration::seconds(599));
    assert_eq!(tick_both(&app, &twin).await, [], "not due yet");
    app.clock.advance(Duration::seconds(1));
    assert_eq!(tick_both(&app, &twin).await, [ACTIVE]);
    assert_eq!(list_all_calls(&fake), start + 2);
    assert_eq!(checked(active), Some(app.clock.now().naive_utc()));
    assert_eq!(checked(inactive), Some(first), "inactive: its own interval");

    app.clock.advance(Duration::seconds(600));
    assert_eq!(tick_both(&app, &twin).await, [ACTIVE]);
    app.clock.advance(Duration::seconds(600));
    assert_eq!(
        tick_both(&app, &twin).await,
        [ALL],
        "30 minutes: inactive ones too"
    );
    assert_eq!(list_all_calls(&fake), start + 4);
    assert_eq!(checked(inactive), Some(app.clock.now().naive_utc()));

    // A runner that crashed holding the lease blocks the schedule until its lease expires.
    app.clock.advance(Duration::seconds(600));
    let now = app.clock.now().naive_utc();
    assert!(leases::try_acquire(
        &mut app.db(),
        "sync",
        "crashed",
        now,
        Duration::seconds(300)
    )
    .unwrap());
    assert_eq!(app.tick().await, Tick::Busy);
    let manual = app
        .admin(Method::POST, "/api/v1/whatsapp-instances/sync", None)
        .await;
    assert_error(&manual, StatusCode::CONFLICT, "sync.in_progress");
    app.clock.advance(Duration::seconds(299));
    assert_eq!(tick_both(&app, &twin).await, []);
    assert_eq!(
        list_all_calls(&fake),
        start + 4,
        "blocked by the crashed runner"
    );
    app.clock.advance(Duration::seconds(1));
    assert_eq!(tick_both(&app, &twin).await, [ACTIVE], "its lease expired");
    assert_eq!(list_all_calls(&fake), start + 5);

    // A manual run is logged beside the scheduled ones and does not move the schedule.
    let manual = sync_tenant(&app, tenant).await;
    assert_eq!(manual["synced"], 2, "{manual}");
    assert_eq!(tick_both(&app, &twin).await, []);
    let runs = app
        .admin(Method::GET, "/api/v1/sync-runs?per_page=2", None)
        .await;
    assert_eq!(runs.body["meta"]["total"], 6, "{}", runs.body);
    assert_eq!(runs.body["data"].as_array().unwrap().len(), 2);
    assert_eq!(runs.body["data"][0]["trigger"], "manual");
    // Only the runs a super admin asked for are in the audit log, each with its run.
    let audit = app
        .admin(
            Method::GET,
            "/api/v1/audit-log?action=sync_run.requested",
            None,
        )
        .await;
    assert_eq!(audit.body["meta"]["total"], 1, "{}", audit.body);
    assert_eq!(
        audit.body["data"][0]["target_id"],
        runs.body["data"][0]["id"]
    );
    assert_eq!(audit.body["data"][0]["tenant_id"], tenant);
    let scheduled = &runs.body["data"][1];
    assert_eq!(scheduled["trigger"], "schedule");
    assert_eq!(scheduled["scope"], "active");
    assert_eq!(scheduled["synced"], 1);
    assert_eq!(scheduled["tenant_id"], Value::Null);
}

both_backends!(
    sync_tenant_fills_statuses_and_marks_orphans,
    sync_all_asks_each_server_once,
    the_scheduler_runs_once_per_interval_on_one_process
);

through_pooler!(
    sync_all_asks_each_server_once,
    the_scheduler_runs_once_per_interval_on_one_process,
);
