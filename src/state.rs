//! What handlers, extractors and background workers share. A leaf: it imports no route,
//! no service and not the composition root (`startup`), which builds it. The sender
//! claims' batcher is a service, so it is application data of its own
//! (`web::Data<ClaimBatcher>`), not a field here.

use std::sync::Arc;

use actix_web::web;

use crate::auth::jwt::JwtKeys;
use crate::auth::password::HashingGate;
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::db::{self, DbConnection, DbPool};
use crate::error::ApiError;
use crate::evolution::EvolutionHttp;
use crate::metrics::Metrics;
use crate::secrets::Cipher;
use crate::targets::TargetPolicy;
use crate::telemetry::on_blocking_thread;

/// What every handler can reach.
pub struct AppState {
    pub pool: DbPool,
    pub clock: SharedClock,
    pub jwt: JwtKeys,
    pub cipher: Cipher,
    pub settings: Arc<Settings>,
    /// The HTTP client for Evolution API servers.
    pub evolution: EvolutionHttp,
    /// Which callback URLs and Evolution servers Relevo calls.
    pub targets: TargetPolicy,
    /// Bounds how many password hashes run at once.
    pub hashing: HashingGate,
    /// This process's Prometheus metrics (`GET /metrics`).
    pub metrics: Arc<Metrics>,
    /// SQLite's writer queue of this process (see [`db::WriterQueue`]); `None` on PostgreSQL.
    pub writer: Option<Arc<db::WriterQueue>>,
}

impl AppState {
    /// Runs database work on the blocking thread pool with a pooled connection, in the
    /// caller's span.
    pub async fn db<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        web::block(on_blocking_thread("database work", move || {
            let mut conn = pool.get()?;
            work(&mut conn)
        }))
        .await
        .map_err(ApiError::internal)?
    }

    /// Runs database work that writes. On SQLite it first waits for this process's
    /// writer turn and only then checks a connection out of the pool, so writers waiting
    /// in line hold no connection and reads always find one. Work of more than one
    /// statement belongs in [`AppState::transaction`] or [`db::write_transaction`].
    pub async fn write<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        let writer = self.writer.clone();
        let timeout = self.settings.db_timeout();
        web::block(on_blocking_thread("database write", move || {
            // Declared first, so dropped last: the connection goes back before the turn.
            let _turn = writer.map(|queue| queue.take(timeout)).transpose()?;
            let mut conn = pool.get()?;
            work(&mut conn)
        }))
        .await
        .map_err(ApiError::internal)?
    }

    /// [`AppState::write`] in one write transaction (`BEGIN IMMEDIATE` on SQLite).
    pub async fn transaction<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.write(move |conn| db::write_transaction_once(conn, work))
            .await
    }
}
