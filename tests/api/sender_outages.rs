//! The database failing under the sender (SPEC section 2): a lost connection or a
//! database that is down is 503 `database.unavailable` with `Retry-After`, never a 500,
//! and retrying with the same idempotency key counts every claim exactly once.
//! PostgreSQL only: these are its sessions being ended.

use std::collections::HashMap;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use relevo::db::DbConnectionManager;

use crate::helpers::{
    assert_error, postgres_admin_url, spawn_app_with, test_settings, Backend, Reply, TestApp,
    TestDatabase,
};
use crate::spawn_or_skip;

const CLAIMS: usize = 240;
const KILL_ROUNDS: usize = 8;

/// Ends every session on the test database but the caller's own.
fn terminate_other_sessions(conn: &mut relevo::db::DbConnection) {
    conn.batch_execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .expect("sessions terminated");
}

fn assert_unavailable(reply: &Reply) {
    assert_error(
        reply,
        StatusCode::SERVICE_UNAVAILABLE,
        "database.unavailable",
    );
    assert!(reply.body["message"].is_string());
    let retry_after = reply.headers.get("retry-after").expect("Retry-After");
    assert!(retry_after.to_str().unwrap().parse::<u64>().unwrap() >= 1);
}

/// Claim `n`: every claim path (the one-statement claim, `priority`, a sticky recipient).
fn claim_body(n: usize) -> Value {
    let mut body = json!({"count": 1 + n % 3, "idempotency_key": format!("burst-{n}")});
    match n % 4 {
        0 => body["strategy"] = json!("priority"),
        1 => body["recipient"] = json!(format!("+5731100{:05}", n % 50)),
        _ => {}
    }
    body
}

async fn claim_counted(
    app: &TestApp,
    tenant: i64,
    token: &str,
    n: usize,
    progress: &tokio::sync::watch::Sender<usize>,
) -> Reply {
    let reply = app.claim(tenant, token, claim_body(n)).await;
    progress.send_modify(|done| *done += 1);
    reply
}

/// Relevo's sessions are ended again and again while 240 claims with idempotency keys
/// are in flight. Each answer is 200 or 503; retrying each 503 with the same key until
/// it succeeds must leave exactly one claim per key, with the counters and daily totals
/// equal to the log.
#[tokio::test]
async fn ended_sessions_mid_burst_are_503_and_retries_count_each_claim_once() {
    let app = spawn_or_skip!(Backend::Postgres);
    let tenant = app.seed_tenant().await;
    let mut ids = Vec::new();
    for n in 0..4 {
        ids.push(
            app.instance(
                tenant,
                &format!("+57300777000{n}"),
                &format!("burst_{n}"),
                1000,
            )
            .await,
        );
    }
    let token = app.sender_token(tenant).await;
    let (progress, mut watch) = tokio::sync::watch::channel(0usize);
    let mut killer_conn = app.db();
    let killer = async move {
        for round in 1..=KILL_ROUNDS {
            let after = round * CLAIMS / (KILL_ROUNDS + 1);
            watch.wait_for(|done| *done >= after).await.unwrap();
            killer_conn = tokio::task::spawn_blocking(move || {
                terminate_other_sessions(&mut killer_conn);
                killer_conn
            })
            .await
            .unwrap();
        }
    };

    let burst = join_all((0..CLAIMS).map(|n| claim_counted(&app, tenant, &token, n, &progress)));
    let (first, ()) = futures_util::join!(burst, killer);

    let mut unavailable = 0;
    let mut answers: HashMap<String, Value> = HashMap::new();
    for (n, reply) in first.iter().enumerate() {
        match reply.status {
            StatusCode::OK => {
                answers.insert(format!("burst-{n}"), reply.body["data"].clone());
            }
            _ => {
                assert_unavailable(reply);
                unavailable += 1;
                let mut retried = None;
                for _attempt in 0..5 {
                    let reply = app.claim(tenant, &token, claim_body(n)).await;
                    if reply.status == StatusCode::OK {
                        retried = Some(reply.body["data"].clone());
                        break;
                    }
                    assert_unavailable(&reply);
                }
                let data = retried.unwrap_or_else(|| panic!("claim {n} never succeeded"));
                answers.insert(format!("burst-{n}"), data);
            }
        }
    }
    eprintln!("{unavailable} of {CLAIMS} claims answered 503 while sessions were ended");
    assert!(unavailable > 0, "no claim met an ended session");

    use relevo::db::schema::claims;
    let rows: Vec<(String, Option<String>, i64, i32)> = claims::table
        .select((
            claims::public_id,
            claims::idempotency_key,
            claims::instance_id,
            claims::granted,
        ))
        .load(&mut app.db())
        .unwrap();
    assert_eq!(rows.len(), CLAIMS, "claims lost or counted twice");
    for (public_id, key, _, granted) in &rows {
        let key = key.as_deref().expect("every claim has its key");
        let answer = &answers[key];
        assert_eq!(answer["claim_id"], public_id.as_str(), "{key}");
        assert_eq!(answer["granted"], *granted, "{key}");
    }
    for row in app.instance_rows() {
        let logged: i64 = rows
            .iter()
            .filter(|(_, _, instance, _)| *instance == row.id)
            .map(|(_, _, _, granted)| i64::from(*granted))
            .sum();
        assert_eq!(
            i64::from(row.messages_sent_today),
            logged,
            "instance {}",
            row.id
        );
        assert_eq!(
            granted_in_daily_totals(&app, row.id),
            logged,
            "daily totals of instance {}",
            row.id
        );
    }
}

fn granted_in_daily_totals(app: &TestApp, instance: i64) -> i64 {
    use relevo::db::schema::instance_daily_usage::dsl::*;
    let total: i32 = instance_daily_usage
        .filter(instance_id.eq(instance))
        .select(granted)
        .first(&mut app.db())
        .unwrap_or(0);
    i64::from(total)
}

fn current_database(app: &TestApp) -> String {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    diesel::sql_query("SELECT current_database() AS name")
        .get_result::<Name>(&mut app.db())
        .unwrap()
        .name
}

/// A database that refuses every connection: claims and admin reads are 503 JSON with
/// `Retry-After`, and once it is back the same application serves again. They are told
/// when the pool gives up, after `RELEVO_DB_TIMEOUT_MS`: short here, not the default 5 s.
#[tokio::test]
async fn a_database_that_is_down_is_503_with_retry_after_until_it_is_back() {
    let Some(app) = spawn_app_with(Backend::Postgres, &[("RELEVO_DB_TIMEOUT_MS", "1000")]).await
    else {
        return;
    };
    let tenant = app.seed_tenant().await;
    app.instance(tenant, "+573007770100", "caida", 10).await;
    let token = app.sender_token(tenant).await;
    let database = current_database(&app);
    let mut admin = PgConnection::establish(&postgres_admin_url()).unwrap();
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{database}\" ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
        ))
        .unwrap();

    let (claim, listed) = futures_util::join!(
        app.claim(tenant, &token, json!({"idempotency_key": "down-1"})),
        app.admin(Method::GET, "/api/v1/tenants", None)
    );

    assert_unavailable(&claim);
    assert_unavailable(&listed);
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{database}\" ALLOW_CONNECTIONS true"
        ))
        .unwrap();
    let back = app
        .claim(tenant, &token, json!({"idempotency_key": "down-1"}))
        .await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    assert_eq!(back.body["data"]["replayed"], false);
}

/// A connection whose session the server ended is dropped when it goes back to the
/// pool, not handed to the next request: the pool here does not even ping on checkout.
#[tokio::test]
async fn a_connection_the_server_ended_is_dropped_by_the_pool() {
    let Some(database) = TestDatabase::create(Backend::Postgres) else {
        return;
    };
    tokio::task::spawn_blocking(move || {
        let TestDatabase::Postgres { name, url, .. } = &database else {
            unreachable!("a PostgreSQL database was asked for")
        };
        let manager = DbConnectionManager::new(&test_settings(url, &[]));
        let pool = diesel::r2d2::Pool::builder()
            .max_size(1)
            .min_idle(Some(0))
            .test_on_check_out(false)
            .build(manager)
            .unwrap();
        let mut conn = pool.get().unwrap();
        let mut admin = PgConnection::establish(&postgres_admin_url()).unwrap();
        admin
            .batch_execute(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            ))
            .unwrap();

        let error = diesel::sql_query("SELECT 1")
            .execute(&mut *conn)
            .unwrap_err();
        drop(conn);

        assert!(relevo::db::is_connection_lost(&error), "{error:?}");
        assert_eq!(
            pool.state().connections,
            0,
            "the broken connection was kept"
        );
        diesel::sql_query("SELECT 1")
            .execute(&mut *pool.get().unwrap())
            .expect("a fresh connection");
    })
    .await
    .unwrap();
}
