//! Scale-out (SPEC §1): many processes start together on one PostgreSQL, directly or
//! through a pgbouncer in transaction mode, and leave no session state behind them.
//! The cross-process proofs themselves run through the pooler from their own files
//! (`through_pooler!`: claims, leases, the sync scheduler, the outbox worker).

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};

use crate::helpers::{spawn_apps_at_once, Backend, ADMIN_EMAIL, ADMIN_PASSWORD};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .n
}

/// Eight processes started at the same moment on an empty database all come up: the
/// migrations run once, under a lock that ends with its transaction (a session lock
/// taken through the pooler would stay behind on whichever server session ran it, and
/// stall the next start-up), the first super admin is created once, and every process
/// then serves requests that read and write.
async fn eight_processes_start_at_once_on_a_fresh_database(backend: Backend) {
    let evolution = [
        ("EVOLUTION_API_BASE_URL", "http://127.0.0.1:9"),
        ("EVOLUTION_API_MASTER_KEY", "start-up-race-key"),
    ];
    let Some(apps) = spawn_apps_at_once(backend, 8, &evolution).await else {
        return;
    };

    for (n, app) in apps.iter().enumerate() {
        let ready = app.send(Method::GET, "/ready", None, None).await;
        assert_eq!(ready.status, StatusCode::OK, "process {n}: {}", ready.body);
        let slug = format!("arranque-{n}");
        app.tenant_named(&slug, "UTC").await;
        app.login_token(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    }
    let tenants = join_all(
        apps.iter()
            .map(|app| app.list_total("/api/v1/tenants?per_page=100")),
    )
    .await;
    assert!(tenants.iter().all(|&total| total == 8), "{tenants:?}");

    let mut direct = apps[0].direct_db();
    let migrations = relevo::db::POSTGRES_MIGRATIONS;
    let expected = diesel::migration::MigrationSource::<diesel::pg::Pg>::migrations(&migrations)
        .unwrap()
        .len() as i64;
    assert_eq!(
        count(
            &mut direct,
            "SELECT count(*) AS n FROM __diesel_schema_migrations"
        ),
        expected
    );
    assert_eq!(count(&mut direct, "SELECT count(*) AS n FROM users"), 1);
    assert_eq!(
        count(&mut direct, "SELECT count(*) AS n FROM evolution_servers"),
        1
    );
    assert_eq!(
        count(
            &mut direct,
            // This database's only: other tests start their applications meanwhile.
            "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        0,
        "an advisory lock outlived its start-up"
    );
}

/// Behind the pooler, no server session is left inside a transaction, holding a lock or
/// carrying a setting of Relevo's: after a burst of claims through two processes every
/// server session the pooler keeps for this database is out of any transaction and holds
/// no lock, and the sessions a new client is given have the server's own `lock_timeout`
/// (Relevo sets its own with `SET LOCAL`, inside each transaction).
async fn no_session_state_is_left_on_the_server(backend: Backend) {
    let Some(apps) = spawn_apps_at_once(backend, 2, &[]).await else {
        return;
    };
    let app = &apps[0];
    let tenant = app.seed_tenant().await;
    let instance = app.instance(tenant, "+573005550001", "sesiones", 50).await;
    let token = app.sender_token(tenant).await;
    let claims = join_all(
        (0..32).map(|n| apps[n % 2].claim(tenant, &token, serde_json::json!({"count": 1}))),
    )
    .await;
    assert!(claims.iter().all(|reply| reply.status == StatusCode::OK));
    assert_eq!(app.sent_today(tenant, instance).await, 32);

    let mut direct = app.direct_db();
    let server_sessions = "FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()";
    assert!(
        count(
            &mut direct,
            &format!("SELECT count(*) AS n {server_sessions}")
        ) > 0,
        "the pooler keeps server sessions open"
    );
    assert_eq!(
        count(
            &mut direct,
            &format!(
                "SELECT count(*) AS n {server_sessions} AND state LIKE 'idle in transaction%'"
            )
        ),
        0,
        "a server session was left inside a transaction"
    );
    assert_eq!(
        count(
            &mut direct,
            "SELECT count(*) AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
             WHERE d.datname = current_database() AND l.pid <> pg_backend_pid()"
        ),
        0,
        "a lock outlived its transaction"
    );
    let server_default = lock_timeout(&mut direct);
    let relevo::db::DbConnection::Postgres(mut pooled) = app.db() else {
        unreachable!("the pooler stands in front of PostgreSQL")
    };
    for _ in 0..20 {
        assert_eq!(
            lock_timeout(&mut pooled),
            server_default,
            "a server session kept a setting made outside a transaction"
        );
    }
}

fn lock_timeout(conn: &mut PgConnection) -> String {
    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        lock_timeout: String,
    }
    diesel::sql_query("SHOW lock_timeout")
        .get_result::<Setting>(conn)
        .expect("SHOW lock_timeout")
        .lock_timeout
}

mod postgres {
    #[tokio::test]
    async fn eight_processes_start_at_once_on_a_fresh_database() {
        super::eight_processes_start_at_once_on_a_fresh_database(crate::helpers::Backend::Postgres)
            .await
    }
}

crate::through_pooler!(
    eight_processes_start_at_once_on_a_fresh_database,
    no_session_state_is_left_on_the_server,
);
