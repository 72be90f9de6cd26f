//! The only module that talks to the database: one connection enum over SQLite and
//! PostgreSQL, the pool, the embedded migrations and one file per table.

pub mod audit_log;
pub mod claims;
pub mod evolution_servers;
pub mod instances;
pub mod leases;
pub mod login_failures;
pub mod messages;
#[cfg(test)]
mod number_health;
pub mod outbox;
pub mod remote_instances;
pub mod retired_names;
pub mod reused;
pub mod schema;
pub mod sender_tokens;
mod stored_text;
pub mod sync_runs;
pub mod tenants;
pub mod users;
pub mod webhook_tokens;

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use diesel::connection::{CacheSize, SimpleConnection};
use diesel::prelude::*;
use diesel::r2d2::{ManageConnection, Pool, R2D2Connection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::{Backend, DbPooler, Settings};

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
/// On SQLite the transaction also waits for this process's writer turn (see
/// [`WriterQueue`]) unless the thread already holds it. Called inside a transaction,
/// `work` runs in a savepoint of it.
///
/// A transaction PostgreSQL aborted as a deadlock victim or a serialization failure
/// did nothing, so it is run again, up to three times in all.
pub fn write_transaction<T, E: TransactionError>(
    conn: &mut DbConnection,
    mut work: impl FnMut(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E> {
    let mut attempts = 1;
    loop {
        match write_transaction_once(conn, &mut work) {
            Err(error) if attempts < 3 && error.is_transient() => {
                log::warn!("retrying a transaction after a deadlock or serialization failure");
                attempts += 1;
            }
            outcome => return outcome,
        }
    }
}

/// What a write transaction may fail with: diesel's error, or an error that wraps it.
pub trait TransactionError: From<diesel::result::Error> {
    /// A failure worth running the transaction again for.
    fn is_transient(&self) -> bool {
        false
    }
}

impl TransactionError for diesel::result::Error {
    fn is_transient(&self) -> bool {
        is_transient(self)
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

/// A lock was not granted within `RELEVO_DB_TIMEOUT_MS`: SQLite's write lock stayed
/// taken past its busy timeout (or this process's writer turn did not come), or a
/// PostgreSQL statement hit its `lock_timeout`. Nothing was written.
pub fn is_lock_timeout(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::DatabaseError(DatabaseErrorKind::Unknown, info) => {
            info.message().contains("database is locked") || info.message().contains("lock timeout")
        }
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

/// [`write_transaction`] without the retry, for work that can run only once.
pub fn write_transaction_once<T, E: From<diesel::result::Error>>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let depth = on_backend!(conn, |c| {
        AnsiTransactionManager::transaction_manager_status_mut(c).transaction_depth()
    })?;
    if depth.is_some() {
        return conn.transaction(work);
    }
    let _turn = match conn {
        DbConnection::Sqlite(sqlite) => {
            let queue = WriterQueue::of(sqlite)?;
            match WriterTurn::held_for(&queue) {
                true => None,
                false => Some(queue.take(WRITER_TURN_TIMEOUT)?),
            }
        }
        DbConnection::Postgres(_) => None,
    };
    match conn {
        DbConnection::Postgres(pg) => begin_postgres(pg)?,
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

/// How long a writer waits for its turn before the request gives up with a 503.
pub const WRITER_TURN_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLite admits one writer at a time and makes the others poll for the lock, sleeping
/// up to 100 ms between tries, so under load it goes to whoever wakes first and the
/// tail latency is long. This process's writers on one database file queue here
/// instead and take turns without sleeping; other processes still meet at
/// `BEGIN IMMEDIATE`.
///
/// Request handlers take the turn *before* they check a connection out of the pool
/// (`AppState::write`), so writers waiting in line hold no connection and readers
/// always find one.
#[derive(Default)]
pub struct WriterQueue {
    busy: Mutex<bool>,
    freed: Condvar,
}

impl WriterQueue {
    /// The queue of the database file `conn` has open; one per file in the process.
    pub fn of(conn: &mut SqliteConnection) -> QueryResult<Arc<WriterQueue>> {
        static QUEUES: OnceLock<Mutex<HashMap<String, Arc<WriterQueue>>>> = OnceLock::new();
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

    /// Waits up to `timeout` for the turn. Giving up is "database is locked", which
    /// the API answers with 503 `database.unavailable`.
    pub fn take(self: &Arc<Self>, timeout: Duration) -> QueryResult<WriterTurn> {
        let busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut busy, waited) = self
            .freed
            .wait_timeout_while(busy, timeout, |busy| *busy)
            .unwrap_or_else(PoisonError::into_inner);
        if waited.timed_out() && *busy {
            return Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::Unknown,
                Box::new("database is locked: no writer turn within the timeout".to_string()),
            ));
        }
        *busy = true;
        HELD_TURN.with(|held| held.set(Arc::as_ptr(self) as usize));
        Ok(WriterTurn {
            queue: self.clone(),
            _same_thread: std::marker::PhantomData,
        })
    }
}

thread_local! {
    /// The queue whose turn this thread holds (its address), or 0.
    static HELD_TURN: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// This thread's turn to write; the next writer goes when it is dropped. It stays on
/// the thread that took it, since the thread is what [`write_transaction`] asks about.
pub struct WriterTurn {
    queue: Arc<WriterQueue>,
    _same_thread: std::marker::PhantomData<*const ()>,
}

impl WriterTurn {
    fn held_for(queue: &Arc<WriterQueue>) -> bool {
        HELD_TURN.with(|held| held.get() == Arc::as_ptr(queue) as usize)
    }
}

impl Drop for WriterTurn {
    fn drop(&mut self) {
        HELD_TURN.with(|held| held.set(0));
        *self
            .queue
            .busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = false;
        self.queue.freed.notify_one();
    }
}

/// Runs one statement that commits on its own (no transaction around it) so that it
/// waits for a lock no longer than `RELEVO_DB_TIMEOUT_MS`, as every statement does on a
/// direct connection, whose session carries the timeout. Behind a transaction pooler
/// there is no session to carry it: the statement runs in a transaction of its own that
/// sets the timeout first (two more round trips, so only for statements that may wait
/// on a lock). Inside a transaction, or on SQLite, it just runs.
pub fn with_lock_timeout<T>(
    conn: &mut DbConnection,
    statement: impl FnOnce(&mut DbConnection) -> QueryResult<T>,
) -> QueryResult<T> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let needs_transaction = match conn {
        DbConnection::Postgres(pg) => {
            pg.instrumentation()
                .downcast_ref::<TransactionPooled>()
                .is_some()
                && AnsiTransactionManager::transaction_manager_status_mut(pg)
                    .transaction_depth()?
                    .is_none()
        }
        DbConnection::Sqlite(_) => false,
    };
    match needs_transaction {
        true => write_transaction_once(conn, statement),
        false => statement(conn),
    }
}

/// Begins a transaction on PostgreSQL. Behind a transaction pooler the connection
/// carries no session settings (see [`TransactionPooled`]), so the transaction sets its
/// own lock timeout in the same round trip as its `BEGIN`.
fn begin_postgres(pg: &mut PgConnection) -> QueryResult<()> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    match pg.instrumentation().downcast_ref::<TransactionPooled>() {
        Some(pooled) => {
            let begin = pooled.begin.clone();
            AnsiTransactionManager::begin_transaction_sql(pg, &begin)
        }
        None => AnsiTransactionManager::begin_transaction(pg),
    }
}

/// Marks a PostgreSQL connection that reaches the server through a transaction-pooling
/// pooler (`RELEVO_DB_POOLER=transaction`), and holds what each of its transactions
/// begins with. A server session serves whichever client's transaction comes next, so
/// a setting made outside a transaction would land on one session and miss the others:
/// here the lock timeout is `SET LOCAL` inside every transaction instead.
///
/// It rides on the connection as its diesel [`Instrumentation`] (the one per-connection
/// slot diesel offers, and downcastable), and passes every event on to the default
/// instrumentation, if one is installed, as the connection would have done.
///
/// [`Instrumentation`]: diesel::connection::Instrumentation
pub struct TransactionPooled {
    begin: String,
    forward: Option<Box<dyn diesel::connection::Instrumentation>>,
}

impl TransactionPooled {
    fn new(lock_timeout: Duration) -> Self {
        Self {
            begin: format!(
                "BEGIN; SET LOCAL lock_timeout = {}",
                lock_timeout.as_millis()
            ),
            forward: diesel::connection::get_default_instrumentation(),
        }
    }
}

impl diesel::connection::Instrumentation for TransactionPooled {
    fn on_connection_event(&mut self, event: diesel::connection::InstrumentationEvent<'_>) {
        if let Some(forward) = &mut self.forward {
            forward.on_connection_event(event);
        }
    }
}

/// Opens connections of the configured backend. Choosing by configuration, not by
/// trying each backend in turn, means a PostgreSQL outage can never create a stray SQLite file.
pub struct DbConnectionManager {
    backend: Backend,
    url: String,
    /// How long a statement waits for a lock before it fails.
    lock_timeout: Duration,
    pooler: DbPooler,
}

impl DbConnectionManager {
    pub fn new(settings: &Settings) -> Self {
        Self {
            backend: settings.backend,
            url: settings.database_url.clone(),
            lock_timeout: settings.db_timeout(),
            pooler: settings.db_pooler,
        }
    }
}

impl ManageConnection for DbConnectionManager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        use diesel::r2d2::Error;
        let lock_timeout_ms = self.lock_timeout.as_millis();
        match self.backend {
            Backend::Postgres => {
                let mut conn =
                    PgConnection::establish(&self.url).map_err(Error::ConnectionError)?;
                // A row or table held longer than this is an outage, not a queue: the
                // request fails with 503 instead of hanging (SQLite's busy_timeout twin).
                match self.pooler {
                    DbPooler::None => {
                        conn.batch_execute(&format!("SET lock_timeout = {lock_timeout_ms}"))
                            .map_err(Error::QueryError)?;
                    }
                    DbPooler::Transaction => {
                        // A statement prepared on one server session is unknown to the
                        // next (pgbouncer 1.18 does not carry them over): every statement
                        // goes unnamed, parsed and run in one round trip. diesel's own
                        // `SET TIME ZONE` and `SET CLIENT_ENCODING` at connect are
                        // parameters pgbouncer tracks and replays per client.
                        conn.set_prepared_statement_cache_size(CacheSize::Disabled);
                        conn.set_instrumentation(TransactionPooled::new(self.lock_timeout));
                    }
                }
                Ok(DbConnection::Postgres(conn))
            }
            Backend::Sqlite => {
                let mut conn =
                    SqliteConnection::establish(&self.url).map_err(Error::ConnectionError)?;
                // Per connection: waits instead of failing while another connection
                // writes, and enforced foreign keys. WAL (concurrent readers with one
                // writer) is a property of the file, set once by `build_pool`: setting it
                // here would make connections opened together fight for the lock.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {lock_timeout_ms}; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;"
                ))
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
    if settings.backend == Backend::Sqlite {
        prepare_sqlite_file(settings)?;
    }
    let manager = DbConnectionManager::new(settings);
    let pool = Pool::builder()
        .max_size(settings.db_pool_size)
        // Opened as needed rather than all at start-up: many processes on one
        // PostgreSQL should not each hold a full pool while idle.
        .min_idle(Some(2.min(settings.db_pool_size)))
        .connection_timeout(settings.db_timeout())
        .build(manager)
        .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))?;
    Ok(pool)
}

/// Before any pooled connection opens the SQLite file: creates it readable by its
/// owner only (it holds password hashes; SQLite gives its `-wal` and `-shm` files the
/// same mode), tightens one left readable by others, and switches it to WAL once.
fn prepare_sqlite_file(settings: &Settings) -> anyhow::Result<()> {
    let path = std::path::Path::new(&settings.database_url);
    if settings.database_url.is_empty() || settings.database_url.starts_with(':') {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
        for suffix in ["", "-wal", "-shm"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", settings.database_url));
            let Ok(metadata) = std::fs::metadata(&file) else {
                continue;
            };
            if metadata.permissions().mode() & 0o077 != 0 {
                log::warn!("{} was readable by others; now 0600", file.display());
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| anyhow::anyhow!("cannot restrict {}: {e}", file.display()))?;
            }
        }
    }
    let mut conn = SqliteConnection::establish(&settings.database_url)
        .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))?;
    conn.batch_execute(&format!(
        "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL;",
        settings.db_timeout().as_millis()
    ))
    .map_err(|e| anyhow::anyhow!("cannot switch the database to WAL: {e}"))?;
    Ok(())
}

/// Applies pending migrations. On PostgreSQL they run in one transaction that first
/// takes a transaction-scoped advisory lock, so concurrent start-ups of several
/// processes take turns, directly or through a transaction pooler (a session lock would
/// stay behind on whichever server session the pooler used), and a failed migration
/// leaves none of the set applied.
pub fn run_migrations(conn: &mut DbConnection) -> anyhow::Result<()> {
    const MIGRATION_LOCK: i64 = 0x7265_6c65_766f; // "relevo"
    let applied = match conn {
        DbConnection::Postgres(pg) => {
            use diesel::connection::{AnsiTransactionManager, TransactionManager};
            begin_postgres(pg)?;
            let applied =
                diesel::sql_query(format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
                    .execute(pg)
                    .map_err(|e| anyhow::anyhow!("cannot take the migration lock: {e}"))
                    .and_then(|_| {
                        pg.run_pending_migrations(POSTGRES_MIGRATIONS)
                            .map(|v| v.len())
                            .map_err(|e| anyhow::anyhow!("migrations failed: {e}"))
                    });
            match applied {
                Ok(applied) => {
                    AnsiTransactionManager::commit_transaction(pg)?;
                    applied
                }
                Err(error) => {
                    let _ = AnsiTransactionManager::rollback_transaction(pg);
                    return Err(error);
                }
            }
        }
        DbConnection::Sqlite(sqlite) => sqlite
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|v| v.len())
            .map_err(|e| anyhow::anyhow!("migrations failed: {e}"))?,
    };
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

/// Which unique rule a write broke, as the admin resources name it. Recognised here, by
/// the constraint PostgreSQL names or the columns SQLite lists, so that no caller
/// matches database text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UniqueViolation {
    /// `tenants.slug`.
    Slug,
    /// `users.email`.
    Email,
    /// A tenant's instance phone number (`whatsapp_instances_tenant_phone_key`).
    Phone,
    /// An instance name on its Evolution server (`whatsapp_instances_server_name_key`).
    InstanceName,
    /// `evolution_servers.base_url`.
    BaseUrl,
    /// Any other unique rule (the default server flag, a token digest, ...).
    Other,
}

/// Each rule: PostgreSQL's constraint name, and the column SQLite's message names.
const UNIQUE_RULES: [(UniqueViolation, &str, &str); 5] = [
    (UniqueViolation::Slug, "tenants_slug_key", "tenants.slug"),
    (UniqueViolation::Email, "users_email_key", "users.email"),
    (
        UniqueViolation::Phone,
        "whatsapp_instances_tenant_phone_key",
        "whatsapp_instances.phone_number",
    ),
    (
        UniqueViolation::InstanceName,
        "whatsapp_instances_server_name_key",
        "whatsapp_instances.instance_name",
    ),
    (
        UniqueViolation::BaseUrl,
        "evolution_servers_base_url_key",
        "evolution_servers.base_url",
    ),
];

/// The unique rule `error` broke, if it is a unique violation.
pub fn unique_violation(error: &diesel::result::Error) -> Option<UniqueViolation> {
    use diesel::result::{DatabaseErrorKind, Error};
    let Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) = error else {
        return None;
    };
    let rule = match info.constraint_name() {
        Some(name) => UNIQUE_RULES
            .iter()
            .find(|(_, constraint, _)| *constraint == name),
        None => UNIQUE_RULES.iter().find(|(_, constraint, column)| {
            names_column(info.message(), column) || names_index(info.message(), constraint)
        }),
    };
    Some(rule.map_or(UniqueViolation::Other, |(violation, _, _)| *violation))
}

/// SQLite's `UNIQUE constraint failed: whatsapp_instances.tenant_id,
/// whatsapp_instances.phone_number` names `column` in its list.
fn names_column(message: &str, column: &str) -> bool {
    message
        .split_once(':')
        .is_some_and(|(_, columns)| columns.split(',').any(|listed| listed.trim() == column))
}

/// SQLite names an index on an expression instead of its columns: `UNIQUE constraint
/// failed: index 'whatsapp_instances_server_name_key'`.
fn names_index(message: &str, index: &str) -> bool {
    message
        .split_once(':')
        .is_some_and(|(_, named)| named.trim() == format!("index '{index}'"))
}

#[cfg(test)]
mod tests {
    use diesel::migration::MigrationSource;
    use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind, Error};

    use super::{unique_violation, UniqueViolation};

    /// What each backend reports for a unique violation: PostgreSQL a constraint name,
    /// SQLite a message.
    struct Reported {
        constraint: Option<&'static str>,
        message: &'static str,
    }

    impl DatabaseErrorInformation for Reported {
        fn message(&self) -> &str {
            self.message
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            self.constraint
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn violation(constraint: Option<&'static str>, message: &'static str) -> Error {
        Error::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            Box::new(Reported {
                constraint,
                message,
            }),
        )
    }

    #[test]
    fn unique_violations_are_named_the_same_on_both_backends() {
        let cases = [
            (Some("tenants_slug_key"), "duplicate key", UniqueViolation::Slug),
            (None, "UNIQUE constraint failed: tenants.slug", UniqueViolation::Slug),
            (Some("users_email_key"), "duplicate key", UniqueViolation::Email),
            (None, "UNIQUE constraint failed: users.email", UniqueViolation::Email),
            (Some("whatsapp_instances_tenant_phone_key"), "duplicate key", UniqueViolation::Phone),
            (
                None,
                "UNIQUE constraint failed: whatsapp_instances.tenant_id, whatsapp_instances.phone_number",
                UniqueViolation::Phone,
            ),
            (Some("whatsapp_instances_server_name_key"), "duplicate key", UniqueViolation::InstanceName),
            (
                None,
                "UNIQUE constraint failed: index 'whatsapp_instances_server_name_key'",
                UniqueViolation::InstanceName,
            ),
            (Some("evolution_servers_base_url_key"), "duplicate key", UniqueViolation::BaseUrl),
            (None, "UNIQUE constraint failed: evolution_servers.base_url", UniqueViolation::BaseUrl),
            (Some("evolution_servers_default_key"), "duplicate key", UniqueViolation::Other),
            (None, "UNIQUE constraint failed: index 'evolution_servers_default_key'", UniqueViolation::Other),
        ];
        for (constraint, message, expected) in cases {
            assert_eq!(
                unique_violation(&violation(constraint, message)),
                Some(expected),
                "{constraint:?} {message}"
            );
        }
        assert_eq!(unique_violation(&Error::NotFound), None);
    }

    /// [`super::run_migrations`] runs the whole set in one transaction on PostgreSQL (its
    /// lock ends with it): a migration that cannot run inside one (`CREATE INDEX
    /// CONCURRENTLY`, `run_in_transaction = false`) would need another way in.
    #[test]
    fn every_postgres_migration_runs_in_a_transaction() {
        let migrations =
            MigrationSource::<diesel::pg::Pg>::migrations(&super::POSTGRES_MIGRATIONS).unwrap();
        assert!(!migrations.is_empty());
        for migration in migrations {
            assert!(
                migration.metadata().run_in_transaction(),
                "{} must run in a transaction",
                migration.name()
            );
        }
    }
}
