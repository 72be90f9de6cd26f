//! The only module that talks to the database: one connection enum over SQLite and
//! PostgreSQL, the pool, the embedded migrations and one file per table.

pub mod audit_log;
pub mod claims;
pub mod evolution_servers;
pub mod instances;
pub mod login_failures;
pub mod remote_instances;
pub mod schema;
pub mod sender_tokens;
pub mod tenants;
pub mod users;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ManageConnection, Pool, R2D2Connection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::{Backend, Settings};

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

pub type DbBackend = <DbConnection as Connection>::Backend;
pub type DbPool = Pool<DbConnectionManager>;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Runs one statement written once against the concrete connection, for the few
/// statements (upserts, locks) that the multi-backend query builder does not cover.
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Postgres($c) => $body,
            $crate::db::DbConnection::Sqlite($c) => $body,
        }
    };
}

/// Runs `work` in a transaction that holds the write lock from its first statement.
/// SQLite needs `BEGIN IMMEDIATE`: a deferred transaction that reads and then writes
/// fails at once, instead of waiting, when another connection wrote in between.
/// PostgreSQL takes a plain `BEGIN`; its row locks do the rest.
///
/// A transaction PostgreSQL aborted as a deadlock victim or a serialization failure
/// did nothing, so it is run again, up to three times in all.
///
/// Called inside a transaction already (a caller's write transaction), `work` joins it
/// as a savepoint: the lock is held, and the writer queue must not be taken twice.
pub fn write_transaction<T>(
    conn: &mut DbConnection,
    mut work: impl FnMut(&mut DbConnection) -> QueryResult<T>,
) -> QueryResult<T> {
    use diesel::connection::TransactionManager;
    let depth =
        <DbConnection as Connection>::TransactionManager::transaction_manager_status_mut(conn)
            .transaction_depth()?;
    if depth.is_some() {
        return conn.transaction(|conn| work(conn));
    }
    let mut attempts = 1;
    loop {
        match transaction_once(conn, &mut work) {
            Err(error) if attempts < 3 && is_transient(&error) => {
                log::warn!("retrying a transaction after: {error}");
                attempts += 1;
            }
            outcome => return outcome,
        }
    }
}

/// A failure that says nothing about the request, only about its timing.
pub fn is_transient(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => true,
        Error::DatabaseError(_, info) => info.message().contains("deadlock detected"),
        _ => false,
    }
}

/// The connection to the database was lost or never worked: the database is down or
/// restarting, or an administrator ended the session. Whether the request's statements
/// took effect is unknown (a lost `COMMIT` may have committed), so it is not retried
/// here; the caller answers 503 and the client retries with its idempotency key.
/// The connection is left broken, and the pool discards it.
pub fn is_connection_lost(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    // libpq's own words when the server went away (diesel reports some of these as
    // `Unknown`), and the server's when it ends a session itself (SQLSTATE 57P0x).
    const LOST: [&str; 7] = [
        "server closed the connection",
        "terminating connection",
        "no connection to the server",
        "could not receive data from server",
        "could not send data to server",
        "connection to server was lost",
        "SSL connection has been closed",
    ];
    match error {
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        ) => true,
        Error::DatabaseError(_, info) => LOST.iter().any(|words| info.message().contains(words)),
        Error::RollbackErrorOnCommit { commit_error, .. } => is_connection_lost(commit_error),
        // A transaction whose connection failed mid-way (its rollback failed too).
        Error::BrokenTransactionManager => true,
        _ => false,
    }
}

fn transaction_once<T>(
    conn: &mut DbConnection,
    work: &mut impl FnMut(&mut DbConnection) -> QueryResult<T>,
) -> QueryResult<T> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let queue = match conn {
        DbConnection::Sqlite(sqlite) => Some(sqlite_writer_queue(sqlite)?),
        DbConnection::Postgres(_) => None,
    };
    let _turn = queue
        .as_ref()
        .map(|queue| queue.lock().unwrap_or_else(PoisonError::into_inner));
    match conn {
        DbConnection::Postgres(pg) => AnsiTransactionManager::begin_transaction(pg)?,
        DbConnection::Sqlite(sqlite) => {
            AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?
        }
    }
    match work(conn) {
        Ok(value) => {
            on_backend!(conn, |c| AnsiTransactionManager::commit_transaction(c))?;
            Ok(value)
        }
        Err(error) => {
            // The work's error is the one worth reporting; a failed rollback leaves the
            // connection marked broken, and the pool discards it.
            let _ = on_backend!(conn, |c| AnsiTransactionManager::rollback_transaction(c));
            Err(error)
        }
    }
}

/// SQLite admits one writer at a time and makes the others poll for the lock, sleeping
/// up to 100 ms between tries, so under load it goes to whoever wakes first and the
/// tail latency is long. This process's write transactions on one database file queue
/// on a mutex instead and take turns without sleeping; other processes still meet at
/// `BEGIN IMMEDIATE`.
fn sqlite_writer_queue(conn: &mut SqliteConnection) -> QueryResult<Arc<Mutex<()>>> {
    static QUEUES: OnceLock<Mutex<HashMap<String, Arc<Mutex<()>>>>> = OnceLock::new();
    #[derive(QueryableByName)]
    struct MainFile {
        #[diesel(sql_type = diesel::sql_types::Text)]
        file: String,
    }
    let main = diesel::sql_query("SELECT file FROM pragma_database_list WHERE name = 'main'")
        .get_result::<MainFile>(conn)?;
    let mut queues = QUEUES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    Ok(queues.entry(main.file).or_default().clone())
}

/// Opens connections of the configured backend. Choosing by configuration, not by
/// trying each backend in turn, means a PostgreSQL outage can never create a stray SQLite file.
pub struct DbConnectionManager {
    backend: Backend,
    url: String,
}

impl DbConnectionManager {
    pub fn new(settings: &Settings) -> Self {
        Self {
            backend: settings.backend,
            url: settings.database_url.clone(),
        }
    }
}

impl ManageConnection for DbConnectionManager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        use diesel::r2d2::Error;
        match self.backend {
            Backend::Postgres => {
                let mut conn =
                    PgConnection::establish(&self.url).map_err(Error::ConnectionError)?;
                // A row or table held longer than this is an outage, not a queue: the
                // request fails with 503 instead of hanging (SQLite's busy_timeout twin).
                conn.batch_execute("SET lock_timeout = '5s'")
                    .map_err(Error::QueryError)?;
                Ok(DbConnection::Postgres(conn))
            }
            Backend::Sqlite => {
                let mut conn =
                    SqliteConnection::establish(&self.url).map_err(Error::ConnectionError)?;
                // Per connection: concurrent readers with one writer, waits instead of
                // failing while another connection writes, and enforced foreign keys.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                )
                .map_err(Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.ping()
            .map(|_| ())
            .map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

pub fn build_pool(settings: &Settings) -> anyhow::Result<DbPool> {
    settings.ensure_data_dir()?;
    let manager = DbConnectionManager::new(settings);
    let pool = Pool::builder()
        .max_size(settings.db_pool_size)
        // Opened as needed rather than all at start-up: many processes on one
        // PostgreSQL should not each hold a full pool while idle.
        .min_idle(Some(2.min(settings.db_pool_size)))
        .connection_timeout(Duration::from_secs(5))
        .build(manager)
        .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))?;
    Ok(pool)
}

/// Applies pending migrations. On PostgreSQL an advisory lock makes concurrent
/// start-ups of several processes take turns.
pub fn run_migrations(conn: &mut DbConnection) -> anyhow::Result<()> {
    const MIGRATION_LOCK: i64 = 0x7265_6c65_766f; // "relevo"
    let result = match conn {
        DbConnection::Postgres(pg) => {
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).execute(pg)?;
            let applied = pg
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.len());
            diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                .execute(pg)?;
            applied
        }
        DbConnection::Sqlite(sqlite) => sqlite
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|v| v.len()),
    };
    let applied = result.map_err(|e| anyhow::anyhow!("migrations failed: {e}"))?;
    if applied > 0 {
        log::info!("applied {applied} database migration(s)");
    }
    Ok(())
}

pub fn has_pending_migrations(conn: &mut DbConnection) -> anyhow::Result<bool> {
    let pending = match conn {
        DbConnection::Postgres(pg) => pg.has_pending_migration(POSTGRES_MIGRATIONS),
        DbConnection::Sqlite(sqlite) => sqlite.has_pending_migration(SQLITE_MIGRATIONS),
    };
    pending.map_err(|e| anyhow::anyhow!("cannot read migrations: {e}"))
}

/// Pagination as the API exposes it: `page` from 1, `per_page` up to 100.
#[derive(Clone, Copy, Debug)]
pub struct Page {
    pub number: i64,
    pub per_page: i64,
}

impl Page {
    pub fn offset(&self) -> i64 {
        (self.number - 1) * self.per_page
    }
}

pub fn is_unique_violation(error: &diesel::result::Error) -> bool {
    matches!(
        error,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// The name of the violated constraint, or SQLite's message naming the columns.
pub fn violated_constraint(error: &diesel::result::Error) -> String {
    match error {
        diesel::result::Error::DatabaseError(_, info) => info
            .constraint_name()
            .map(str::to_string)
            .unwrap_or_else(|| info.message().to_string()),
        _ => String::new(),
    }
}
