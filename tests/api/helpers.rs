//! `spawn_app` builds the real application on port 0 against a fresh database: a
//! temporary SQLite file, or a new PostgreSQL database dropped when the test ends,
//! reached directly or through a pgbouncer in transaction mode (`Backend::Pooler`).
//! Beside it: `builders` (a tenant, an instance, a server, a sender token, a user),
//! `errors` (the one `assert_error`, and `assert_invalid` for a 422's fields) and `skip`
//! (a leg whose prerequisite is missing says so).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use chrono::{TimeZone, Utc};
use diesel::prelude::*;
use diesel::{Connection, PgConnection};
use relevo::clock::ManualClock;
use relevo::config::Settings;
use relevo::db::{DbConnection, DbConnectionManager};
use relevo::domain::{ConnectionStatus, DeliveryStatus};
use relevo::startup::Application;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

mod builders;
mod errors;
mod skip;
pub use builders::{created_id, valid_instance};
pub use errors::{assert_error, assert_error_in, assert_invalid, assert_invalid_in};
pub use skip::skip;

pub const ADMIN_EMAIL: &str = "admin@relevo.test";
pub const ADMIN_PASSWORD: &str = "admin-password-123";
/// A password zxcvbn rates strong enough for new users.
pub const USER_PASSWORD: &str = "Tenant pass phrase 7 blue";

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Backend {
    Sqlite,
    Postgres,
    /// PostgreSQL through a transaction-pooling pgbouncer (`RELEVO_TEST_POOLER_URL`), with
    /// `RELEVO_DB_POOLER=transaction`; the database is created and dropped directly.
    Pooler,
}

/// Writes every test once and runs it on both backends.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::$name($crate::helpers::Backend::Sqlite).await
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                super::$name($crate::helpers::Backend::Postgres).await
            })*
        }
    };
}

/// Runs the named tests, already written for [`both_backends!`], a third time: on
/// PostgreSQL through the pooler. For the proofs that must hold across processes
/// (claims, leases, single runners), not for every test.
#[macro_export]
macro_rules! through_pooler {
    ($($name:ident),* $(,)?) => {
        mod pooler {
            $(#[tokio::test]
            async fn $name() {
                super::$name($crate::helpers::Backend::Pooler).await
            })*
        }
    };
}

/// Starts an app, or returns from the test when PostgreSQL (or the pooler) is asked for but
/// not reachable: the leg is reported SKIPPED ([`skip`]), or fails where it is required.
#[macro_export]
macro_rules! spawn_or_skip {
    ($backend:expr) => {
        match $crate::helpers::spawn_app($backend).await {
            Some(app) => app,
            None => return,
        }
    };
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub admin_token: String,
    database: Arc<TestDatabase>,
    /// This application's sync scheduler; `tick` runs one step of it.
    pub scheduler: relevo::lifecycle::sync_scheduler::SyncScheduler,
    /// This application's delivery worker of outbound events; `deliver` runs one step.
    pub dispatcher: relevo::events::worker::Dispatcher,
}

/// A port for a server that must be told its address before it starts (an app with
/// `RELEVO_PUBLIC_URL`, chromedriver). Below the kernel's ephemeral range, where no
/// outgoing connection of another test can take it between this check and the bind, and
/// handed out once per test process.
pub fn known_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let offset = std::process::id() % SPAN;
    loop {
        let port = (FIRST + (offset + NEXT.fetch_add(1, Ordering::Relaxed)) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub fn postgres_admin_url() -> String {
    std::env::var("RELEVO_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// Why PostgreSQL cannot be used, once per test process; `None` when it can.
fn postgres_missing() -> Option<&'static str> {
    static MISSING: OnceLock<Option<String>> = OnceLock::new();
    MISSING
        .get_or_init(|| {
            PgConnection::establish(&postgres_admin_url())
                .err()
                .map(|error| {
                    format!(
                        "PostgreSQL is unreachable at {} ({error}); set RELEVO_TEST_POSTGRES_URL or start it",
                        postgres_admin_url()
                    )
                })
        })
        .as_deref()
}

/// The pgbouncer in transaction mode in front of the tests' PostgreSQL (`.ci/run` starts
/// one), without a database name: `postgres://postgres@127.0.0.1:6432`.
pub fn pooler_url() -> Option<String> {
    std::env::var("RELEVO_TEST_POOLER_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .map(|url| url.trim_end_matches('/').to_string())
}

/// Why the pooler cannot be used, once per test process; `None` when it can.
fn pooler_missing() -> Option<&'static str> {
    static MISSING: OnceLock<Option<String>> = OnceLock::new();
    MISSING
        .get_or_init(|| match pooler_url() {
            None => Some(
                "RELEVO_TEST_POOLER_URL is not set (scripts/pgbouncer.sh starts one)".to_string(),
            ),
            Some(url) => PgConnection::establish(&format!("{url}/postgres"))
                .err()
                .map(|error| format!("the pooler at {url} is unreachable ({error})")),
        })
        .as_deref()
}

/// A fresh database that disappears with the test.
pub enum TestDatabase {
    Sqlite {
        _dir: tempfile::TempDir,
        path: String,
    },
    Postgres {
        name: String,
        url: String,
        /// The same database through the pooler, when the app reaches it that way.
        pooled_url: Option<String>,
    },
}

impl TestDatabase {
    pub fn create(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("relevo.db").to_string_lossy().into_owned();
                Some(TestDatabase::Sqlite { _dir: dir, path })
            }
            Backend::Postgres | Backend::Pooler => {
                if let Some(reason) = postgres_missing() {
                    skip("RELEVO_REQUIRE_POSTGRES", reason);
                    return None;
                }
                if let Some(reason) = pooler_missing().filter(|_| backend == Backend::Pooler) {
                    skip("RELEVO_REQUIRE_POOLER", reason);
                    return None;
                }
                let name = format!("relevo_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::establish(&postgres_admin_url())
                    .expect("postgres admin connection");
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .expect("create test database");
                let base = postgres_admin_url();
                let url = format!(
                    "{}/{name}",
                    &base[..base.rfind('/').expect("url has a database")]
                );
                let pooled_url = match backend {
                    Backend::Pooler => pooler_url().map(|pooler| format!("{pooler}/{name}")),
                    _ => None,
                };
                Some(TestDatabase::Postgres {
                    name,
                    url,
                    pooled_url,
                })
            }
        }
    }

    /// Where the application connects: the pooler's address when there is one.
    pub fn url(&self) -> &str {
        match self {
            TestDatabase::Sqlite { path, .. } => path,
            TestDatabase::Postgres {
                pooled_url: Some(pooled),
                ..
            } => pooled,
            TestDatabase::Postgres { url, .. } => url,
        }
    }

    /// The database's own address, never through the pooler.
    pub fn direct_url(&self) -> &str {
        match self {
            TestDatabase::Sqlite { path, .. } => path,
            TestDatabase::Postgres { url, .. } => url,
        }
    }

    /// Settings an application on this database needs besides the URL.
    pub fn connection_vars(&self) -> &'static [(&'static str, &'static str)] {
        match self {
            TestDatabase::Postgres {
                pooled_url: Some(_),
                ..
            } => &[("RELEVO_DB_POOLER", "transaction")],
            _ => &[],
        }
    }

    /// Settings of an application on this database, with `extra` on top.
    pub fn settings(&self, extra: &[(&str, &str)]) -> Settings {
        let mut vars = self.connection_vars().to_vec();
        vars.extend_from_slice(extra);
        test_settings(self.url(), &vars)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { name, .. } = self {
            if let Ok(mut admin) = PgConnection::establish(&postgres_admin_url()) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin);
            }
        }
    }
}

/// Settings a test app runs with: explicit secrets, a known admin, port 0.
pub fn test_settings(database_url: &str, extra: &[(&str, &str)]) -> Settings {
    let mut vars: HashMap<String, String> = [
        ("DATABASE_URL", database_url),
        ("RELEVO_BIND", "127.0.0.1:0"),
        (
            "RELEVO_JWT_SECRET",
            "test-jwt-secret-that-is-long-enough-0123456789",
        ),
        (
            "RELEVO_ENCRYPTION_KEY",
            "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
        ),
        ("RELEVO_ADMIN_EMAIL", ADMIN_EMAIL),
        ("RELEVO_ADMIN_PASSWORD", ADMIN_PASSWORD),
        // Tests move the clock by days; token expiry has its own test.
        ("RELEVO_TOKEN_TTL_SECONDS", "31536000"),
        // Outbound events are delivered by `TestApp::deliver`, step by step, not by a loop.
        ("RELEVO_WEBHOOK_POLL_MS", "0"),
        // Each step tells every status change; the settling has tests of its own.
        ("RELEVO_STATUS_SETTLE_MS", "0"),
        // The fake Evolution servers and the callback receivers listen on 127.0.0.1; the
        // refusal of such targets has its own tests (`targets`), which set it to 0.
        ("RELEVO_ALLOW_PRIVATE_TARGETS", "1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    Settings::from_vars(&vars).expect("test settings are valid")
}

/// The seed's moment: 2025-11-17 06:30 UTC.
pub fn seed_moment() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 11, 17, 6, 30, 0).unwrap()
}

pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, &[]).await
}

pub async fn spawn_app_with(backend: Backend, extra: &[(&str, &str)]) -> Option<TestApp> {
    let database = Arc::new(TestDatabase::create(backend)?);
    let clock = Arc::new(ManualClock::new(seed_moment()));
    Some(start_app(database, clock, extra).await)
}

/// `count` applications started at the same moment on one fresh database, as processes
/// of a deployment coming up together: they race for the migrations and the first super
/// admin.
pub async fn spawn_apps_at_once(
    backend: Backend,
    count: usize,
    extra: &[(&str, &str)],
) -> Option<Vec<TestApp>> {
    let database = Arc::new(TestDatabase::create(backend)?);
    let clock = Arc::new(ManualClock::new(seed_moment()));
    let starts = (0..count).map(|_| start_app(database.clone(), clock.clone(), extra));
    Some(futures_util::future::join_all(starts).await)
}

async fn start_app(
    database: Arc<TestDatabase>,
    clock: Arc<ManualClock>,
    extra: &[(&str, &str)],
) -> TestApp {
    let settings = database.settings(extra);
    let application = Application::build(settings, clock.clone())
        .await
        .expect("application builds");
    let address = format!("http://127.0.0.1:{}", application.port());
    let scheduler = application.scheduler();
    let dispatcher = application.dispatcher();
    tokio::spawn(application.run_until_stopped());
    let mut app = TestApp {
        address,
        client: reqwest::Client::new(),
        clock,
        admin_token: String::new(),
        database,
        scheduler,
        dispatcher,
    };
    app.admin_token = app.login_token(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    app
}

pub fn instances_path(tenant: i64) -> String {
    format!("/api/v1/tenants/{tenant}/whatsapp-instances")
}

pub fn instance_path(tenant: i64, id: impl std::fmt::Display) -> String {
    format!("{}/{id}", instances_path(tenant))
}

/// A response reduced to what tests assert on.
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The `X-Request-Id` the app answered with.
    pub fn request_id(&self) -> String {
        self.headers["x-request-id"]
            .to_str()
            .expect("a request id in ASCII")
            .to_string()
    }
}

/// The value of `series` (its name and labels, as written) in a `/metrics` text; 0 when
/// the series is not there yet.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

impl TestApp {
    /// A second Relevo application on the same database and clock, with its own
    /// connection pool: another process, as far as the database can tell.
    pub async fn twin(&self) -> TestApp {
        start_app(self.database.clone(), self.clock.clone(), &[]).await
    }

    /// As [`twin`](Self::twin), with more settings.
    pub async fn twin_with(&self, extra: &[(&str, &str)]) -> TestApp {
        start_app(self.database.clone(), self.clock.clone(), extra).await
    }

    /// One step of this application's sync scheduler, at the manual clock's time.
    pub async fn tick(&self) -> relevo::lifecycle::sync_scheduler::Tick {
        self.scheduler.tick().await.expect("a scheduler step")
    }

    /// One step of this application's delivery worker, at the manual clock's time.
    pub async fn deliver(&self) -> relevo::events::worker::DeliveryReport {
        self.dispatcher.tick().await.expect("a delivery step")
    }

    /// Sends a request; `token` `None` means anonymous.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let reply = into_reply(request.send().await.expect("request sent")).await;
        if !std::env::var("RELEVO_CONFORMANCE").is_ok_and(|v| v == "0") {
            crate::conformance::assert_documented(
                &method,
                path,
                reply.status.as_u16(),
                &reply.body,
            );
        }
        reply
    }

    pub async fn admin(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        self.send(method, path, Some(&self.admin_token), body).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.send(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(&json!({"email": email, "password": password})),
        )
        .await
    }

    /// Logs in over a connection from `source`, another loopback address (127.0.0.2, …),
    /// as a client on another machine would.
    pub async fn login_from(&self, source: &str, email: &str, password: &str) -> Reply {
        let client = reqwest::Client::builder()
            .local_address(Some(source.parse().expect("an IP address")))
            .build()
            .expect("client");
        let response = client
            .post(format!("{}/api/v1/auth/login", self.address))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("request sent");
        into_reply(response).await
    }

    /// Logs in through a reverse proxy on behalf of `client` (any address, IPv6 too),
    /// named in `X-Forwarded-For`. The app must trust 127.0.0.1 as a proxy
    /// (`RELEVO_TRUSTED_PROXIES`).
    pub async fn login_via_proxy(&self, client: &str, email: &str, password: &str) -> Reply {
        let response = self
            .client
            .post(format!("{}/api/v1/auth/login", self.address))
            .header("x-forwarded-for", client)
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("request sent");
        into_reply(response).await
    }

    pub async fn login_token(&self, email: &str, password: &str) -> String {
        let reply = self.login(email, password).await;
        assert_eq!(reply.status, StatusCode::OK, "login failed: {}", reply.body);
        reply.body["data"]["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn create_tenant(&self, body: Value) -> Reply {
        self.admin(Method::POST, "/api/v1/tenants", Some(&body))
            .await
    }

    pub async fn create_instance(&self, tenant: impl std::fmt::Display, body: &Value) -> Reply {
        self.admin(
            Method::POST,
            &format!("/api/v1/tenants/{tenant}/whatsapp-instances"),
            Some(body),
        )
        .await
    }

    pub async fn create_user(&self, body: Value) -> Reply {
        self.admin(Method::POST, "/api/v1/users", Some(&body)).await
    }

    /// `meta.total` of a list endpoint.
    pub async fn list_total(&self, path: &str) -> i64 {
        let reply = self.admin(Method::GET, path, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
        reply.body["meta"]["total"].as_i64().expect("meta.total")
    }

    /// The full JSON of an instance, as a super admin sees it.
    pub async fn show_instance(&self, tenant: i64, id: i64) -> Value {
        let reply = self
            .admin(Method::GET, &instance_path(tenant, id), None)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body["data"].clone()
    }

    pub async fn claim(&self, tenant: i64, token: &str, body: Value) -> Reply {
        let path = format!("/api/v1/tenants/{tenant}/sender/claim");
        self.send(Method::POST, &path, Some(token), Some(&body))
            .await
    }

    pub async fn release(&self, tenant: i64, token: &str, claim_id: &str, body: Value) -> Reply {
        let path = format!("/api/v1/tenants/{tenant}/sender/claims/{claim_id}/release");
        self.send(Method::POST, &path, Some(token), Some(&body))
            .await
    }

    /// A claim batcher of its own on the app's database, for running batches of a chosen
    /// make-up (the app's batcher forms them from whatever arrives together).
    pub fn claim_batcher(&self) -> relevo::sender::batch::ClaimBatcher {
        let settings = self.database.settings(&[]);
        let pool = relevo::db::build_pool(&settings).expect("a pool on the test database");
        let writer = match &mut *pool.get().expect("a connection") {
            DbConnection::Sqlite(sqlite) => {
                Some(relevo::db::WriterQueue::of(sqlite).expect("the writer queue"))
            }
            DbConnection::Postgres(_) => None,
        };
        relevo::sender::batch::ClaimBatcher::new(
            pool,
            writer,
            settings.db_timeout(),
            Arc::new(relevo::metrics::Metrics::new()),
            1,
        )
    }

    /// An instance's `(messages_sent_today, daily_message_limit, granted - released in
    /// the log)`, read from the database.
    pub fn ledger(&self, instance: i64) -> (i32, i32, i64) {
        use relevo::db::schema::{claims, whatsapp_instances};
        let mut conn = self.db();
        let (sent, limit): (i32, i32) = whatsapp_instances::table
            .find(instance)
            .select((
                whatsapp_instances::messages_sent_today,
                whatsapp_instances::daily_message_limit,
            ))
            .first(&mut conn)
            .unwrap();
        let log: Vec<(i32, i32)> = claims::table
            .filter(claims::instance_id.eq(instance))
            .select((claims::granted, claims::released))
            .load(&mut conn)
            .unwrap();
        let net = log.iter().map(|(g, r)| i64::from(g - r)).sum();
        (sent, limit, net)
    }

    /// The app's `GET /metrics` as a scraper gets it, with `token` as its bearer token.
    pub async fn scrape_metrics(&self, token: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(format!("{}/metrics", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    /// The app's `GET /metrics` text.
    pub async fn metrics_text(&self) -> String {
        self.scrape_metrics(None).await.text().await.unwrap()
    }

    /// The value of `series` in the app's `GET /metrics` ([`metric`]).
    pub async fn metric(&self, series: &str) -> f64 {
        metric(&self.metrics_text().await, series)
    }

    /// The tenant's webhook deliveries (`query` appended to `?per_page=100`), newest first
    /// as the API lists them.
    pub async fn webhook_deliveries(&self, tenant: i64, query: &str) -> Vec<Value> {
        let reply = self
            .admin(
                Method::GET,
                &format!("/api/v1/tenants/{tenant}/webhook-deliveries?per_page=100{query}"),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body["data"].as_array().unwrap().clone()
    }

    /// Today's counter of an instance as its show endpoint reports it.
    pub async fn sent_today(&self, tenant: i64, instance: i64) -> i64 {
        self.show_instance(tenant, instance).await["messages_sent_today"]
            .as_i64()
            .unwrap()
    }

    /// A connection to the app's database as the app opens them (through the pooler on
    /// `Backend::Pooler`), for arranging and inspecting rows.
    pub fn db(&self) -> DbConnection {
        use diesel::r2d2::ManageConnection;
        let settings = self.database.settings(&[]);
        DbConnectionManager::new(&settings)
            .connect()
            .expect("test database connection")
    }

    pub async fn provision(&self, tenant: i64, body: &Value) -> Reply {
        self.admin(
            Method::POST,
            &format!("{}/provision", instances_path(tenant)),
            Some(body),
        )
        .await
    }

    /// Every instance row as the database holds it, by id.
    pub fn instance_rows(&self) -> Vec<relevo::db::instances::Instance> {
        use relevo::db::instances::Instance;
        use relevo::db::schema::whatsapp_instances::dsl::*;
        whatsapp_instances
            .order(id.asc())
            .select(Instance::as_select())
            .load(&mut self.db())
            .expect("instance rows")
    }

    pub fn instance_row(&self, instance_id: i64) -> relevo::db::instances::Instance {
        self.instance_rows()
            .into_iter()
            .find(|row| row.id == instance_id)
            .unwrap_or_else(|| panic!("no instance row {instance_id}"))
    }

    /// A connection to the app's database that never goes through the pooler: it sees
    /// the server's sessions, locks and migrations as they are.
    pub fn direct_db(&self) -> PgConnection {
        PgConnection::establish(self.database.direct_url()).expect("direct connection")
    }

    /// Decrypts a secret the app stored, with the tests' `RELEVO_ENCRYPTION_KEY`.
    pub fn decrypt(&self, sealed: &str) -> String {
        self.cipher().decrypt(sealed).expect("decrypts")
    }

    /// Encrypts a secret as the app stores it.
    pub fn encrypt(&self, plain: &str) -> String {
        self.cipher().encrypt(plain)
    }

    fn cipher(&self) -> relevo::secrets::Cipher {
        let key = test_settings(self.database.url(), &[])
            .encryption_key
            .expect("tests set an encryption key");
        relevo::secrets::Cipher::new(&key)
    }

    /// Writes `count` events of `tenant` straight to the outbox in `status`, created and
    /// last changed at `at`, due at `due` (pending ones): a large or an old outbox,
    /// arranged without a receiver.
    pub fn seed_outbox(
        &self,
        tenant: i64,
        status: DeliveryStatus,
        count: usize,
        at: chrono::NaiveDateTime,
        due: Option<chrono::NaiveDateTime>,
    ) {
        use relevo::db::outbox::NewWebhookEvent;
        use relevo::db::schema::webhook_events;
        let events: Vec<(String, String)> = (0..count)
            .map(|_| {
                let id = uuid::Uuid::new_v4().to_string();
                let body = json!({
                    "id": id, "type": "message.received", "tenant_id": tenant, "data": {},
                    "created_at": at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
                });
                (id, body.to_string())
            })
            .collect();
        let rows: Vec<NewWebhookEvent> = events
            .iter()
            .map(|(id, payload)| NewWebhookEvent {
                public_id: id,
                tenant_id: tenant,
                event_type: "message.received",
                payload,
                dedupe_key: None,
                status,
                attempts: i32::from(status != DeliveryStatus::Pending),
                max_attempts: 8,
                next_attempt_at: due,
                created_at: at,
                updated_at: at,
            })
            .collect();
        let mut conn = self.db();
        conn.transaction(|conn| {
            // Chunks stay under SQLite's limit of bound parameters per statement.
            for chunk in rows.chunks(500) {
                match conn {
                    DbConnection::Postgres(pg) => diesel::insert_into(webhook_events::table)
                        .values(chunk)
                        .execute(pg)?,
                    DbConnection::Sqlite(sqlite) => diesel::insert_into(webhook_events::table)
                        .values(chunk)
                        .execute(sqlite)?,
                };
            }
            diesel::QueryResult::Ok(())
        })
        .expect("outbox seeded");
    }

    /// How many outbox rows of `tenant` are in `status`, read from the database.
    pub fn outbox_count(&self, tenant: i64, status: DeliveryStatus) -> i64 {
        use relevo::db::schema::webhook_events;
        webhook_events::table
            .filter(webhook_events::tenant_id.eq(tenant))
            .filter(webhook_events::status.eq(status))
            .count()
            .get_result(&mut self.db())
            .expect("outbox counted")
    }

    /// Arranges an instance's stored `connection_status`, as if Evolution had told it.
    pub fn set_connection_status(&self, instance_id: i64, status: ConnectionStatus) {
        use relevo::db::schema::whatsapp_instances::dsl::*;
        diesel::update(whatsapp_instances.find(instance_id))
            .set(connection_status.eq(status))
            .execute(&mut self.db())
            .expect("status arranged");
    }

    /// Arranges today's counter of an instance as if messages had been sent.
    pub fn set_sent(&self, instance_id: i64, sent: i32, date: &str) {
        use relevo::db::schema::whatsapp_instances::dsl::*;
        let day: chrono::NaiveDate = date.parse().unwrap();
        diesel::update(whatsapp_instances.find(instance_id))
            .set((messages_sent_today.eq(sent), last_reset_date.eq(day)))
            .execute(&mut self.db())
            .expect("counter arranged");
    }
}

/// Serves `handler` for every request on a new port of 127.0.0.1, with `state` as its app
/// data and bodies up to 1 MiB, on one worker spawned on the test's runtime: a stand-in
/// for a server Relevo calls. Answers its `http://` address.
pub fn serve_locally<T, F, Args>(state: actix_web::web::Data<T>, handler: F) -> String
where
    T: Send + Sync + 'static,
    F: actix_web::Handler<Args> + Clone + Send + 'static,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    use actix_web::{web, App, HttpServer};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a local port");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(1 << 20))
            .default_service(web::to(handler.clone()))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("the local server listens")
    .run();
    tokio::spawn(server);
    url
}

pub async fn into_reply(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body read");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("body is not JSON ({status}): {text}"))
    };
    Reply {
        status,
        headers,
        body,
    }
}

impl TestApp {
    /// The settings the app's database is reached with (for a pool of the test's own).
    pub fn database_settings(&self) -> Settings {
        self.database.settings(&[])
    }
}
