//! Admin writes under load: every write goes through the write path (one writer at a
//! time on SQLite, taking its turn before it takes a connection), so concurrent updates
//! never meet "database is locked" and reads go on while writers wait.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use futures_util::future::{join, join_all};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{assert_error, instance_path, spawn_app_with, Backend, Reply};
use crate::spawn_or_skip;

async fn concurrent_updates_and_toggles_all_succeed(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app
        .instance(tenant, "+573001234567", "principal", 1000)
        .await;
    let path = instance_path(tenant, id);
    let toggle = format!("{path}/toggle-active");
    // The name and the number make the update read (are they taken?) before it writes.
    let bodies: Vec<Value> = (0..300)
        .map(|i| {
            json!({"instance_name": "principal", "phone_number": "+573001234567",
                   "notes": format!("note {i}"), "daily_message_limit": 1000 + i})
        })
        .collect();

    let updates = join_all(
        bodies
            .iter()
            .map(|body| app.admin(Method::PUT, &path, Some(body))),
    );
    let toggles = join_all((0..300).map(|_| app.admin(Method::POST, &toggle, None)));
    let (updates, toggles) = join(updates, toggles).await;

    let failures: Vec<String> = updates
        .iter()
        .chain(&toggles)
        .filter(|reply| reply.status != StatusCode::OK)
        .map(|reply: &Reply| format!("{} {}", reply.status, reply.body))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of 600 failed, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
    // Each toggle flipped the flag once: half of them saw it off, and 300 flips end
    // where it started.
    let deactivated = toggles
        .iter()
        .filter(|reply| reply.body["data"]["is_active"] == false)
        .count();
    assert_eq!(deactivated, 150);
    let instance = app.show_instance(tenant, id).await;
    assert_eq!(instance["is_active"], true);
    // The last update won whole: its notes and its limit together.
    let limit = instance["daily_message_limit"].as_i64().unwrap();
    assert_eq!(instance["notes"], format!("note {}", limit - 1000));
}

both_backends!(concurrent_updates_and_toggles_all_succeed);

/// Another process holds SQLite's write lock for longer than Relevo waits for anything.
/// Writers give up with 503, but they wait for their turn without a connection, so
/// reads always find one and go on (WAL lets them read while a writer holds the lock).
#[tokio::test]
async fn reads_go_on_while_another_process_holds_the_write_lock() {
    let timeout_ms = 300;
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("RELEVO_DB_POOL_SIZE", "4"),
            ("RELEVO_DB_TIMEOUT_MS", &timeout_ms.to_string()),
        ],
    )
    .await
    .expect("SQLite is always there");
    let tenant = app.seed_tenant().await;
    let id = app
        .instance(tenant, "+573001234567", "principal", 1000)
        .await;
    let path = instance_path(tenant, id);
    let toggle = format!("{path}/toggle-active");
    let mut other_process = app.db();
    other_process
        .batch_execute("BEGIN IMMEDIATE")
        .expect("the write lock is free");

    let writes = join_all((0..8).map(|_| app.admin(Method::POST, &toggle, None)));
    let reads = async {
        let started = Instant::now();
        let mut statuses = Vec::new();
        while started.elapsed() < Duration::from_millis(3 * timeout_ms) {
            let reply = app.admin(Method::GET, &path, None).await;
            statuses.push((reply.status, reply.body["message"].clone()));
        }
        statuses
    };
    let (writes, reads) = join(writes, reads).await;
    other_process.batch_execute("ROLLBACK").unwrap();

    assert!(!reads.is_empty());
    assert!(
        reads.iter().all(|(status, _)| *status == StatusCode::OK),
        "{reads:?}"
    );
    for reply in writes {
        assert_error(
            &reply,
            StatusCode::SERVICE_UNAVAILABLE,
            "database.unavailable",
        );
        assert!(reply.headers.contains_key("retry-after"));
    }
    assert_eq!(app.show_instance(tenant, id).await["is_active"], true);
}
