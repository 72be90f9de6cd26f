//! The composition root: settings in, a running HTTP server out.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, Condition, Logger};
use actix_web::{error::JsonPayloadError, web, App, HttpRequest, HttpServer};
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::jwt::JwtKeys;
use crate::auth::password::{self, HashingGate};
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::db::{self, evolution_servers, users, DbConnection};
use crate::domain::{Email, HttpUrl, Role};
use crate::edge;
use crate::error::{ApiError, ErrorKey, Resource};
use crate::events::worker::Dispatcher;
use crate::evolution::EvolutionHttp;
use crate::i18n::DefaultLocale;
use crate::lifecycle::sync_scheduler::SyncScheduler;
use crate::request_id;
use crate::secrets::{self, Cipher};
use crate::sender::batch::ClaimBatcher;
use crate::state::AppState;
use crate::targets::TargetPolicy;

/// Request bodies above this size are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub struct Application {
    address: std::net::SocketAddr,
    server: Server,
    scheduler: SyncScheduler,
    dispatcher: Dispatcher,
}

impl Application {
    /// Opens the database, applies migrations, makes sure a super admin exists and
    /// binds the listener. The server runs once `run_until_stopped` is awaited.
    pub async fn build(settings: Settings, clock: SharedClock) -> anyhow::Result<Self> {
        let settings = Arc::new(settings);
        let prepared = settings.clone();
        let bootstrap_clock = clock.clone();
        let (pool, secrets, writer) =
            tokio::task::spawn_blocking(move || open_database(&prepared, bootstrap_clock))
                .await??;
        let Shared {
            state,
            claims,
            metrics,
        } = Shared::assemble(settings.clone(), clock, pool, secrets, writer)?;
        // The scheduled sync: one task per process; the lease keeps it to one process.
        let scheduler = SyncScheduler::new(state.clone());
        tokio::spawn(scheduler.clone().run());
        // Outbound events: every process delivers; leases keep a tenant to one at a time.
        let dispatcher = Dispatcher::new(state.clone())?;
        dispatcher.clone().start()?;
        let listener = TcpListener::bind(&settings.bind)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.bind))?;
        let address = listener.local_addr()?;
        let default_locale = DefaultLocale(settings.default_locale);
        let openapi = crate::openapi::document().clone();

        // The access log renders each request line when the request comes in, whatever
        // the log level: with info logging off (`RUST_LOG=warn`), it is left out.
        let access_log =
            log::log_enabled!(target: "actix_web::middleware::logger", log::Level::Info);
        let server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(edge::body_deadline))
                .wrap(from_fn(edge::screen_request))
                .wrap(from_fn(edge::json_errors))
                .wrap(Condition::new(access_log, access_logger()))
                .wrap(Condition::new(
                    settings.metrics,
                    from_fn(crate::metrics::observe),
                ))
                .wrap(from_fn(crate::browser_pages::security_headers))
                .wrap(from_fn(request_id::assign))
                .app_data(state.clone())
                .app_data(claims.clone())
                .app_data(metrics.clone())
                .app_data(default_locale)
                .configure(request_readers)
                .configure(|cfg| {
                    crate::routes::register(
                        &mut utoipa_actix_web::service_config::ServiceConfig::new(cfg),
                    )
                })
                .service(
                    SwaggerUi::new("/docs/{_:.*}").url("/api-docs/openapi.json", openapi.clone()),
                )
                .service(web::redirect("/docs", "/docs/"))
                .configure(crate::console::configure)
                .default_service(web::to(route_not_found))
        })
        .shutdown_timeout(30)
        .listen(listener)?
        .run();
        Ok(Self {
            address,
            server,
            scheduler,
            dispatcher,
        })
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    pub fn address(&self) -> std::net::SocketAddr {
        self.address
    }

    /// This process's sync scheduler, whose steps tests drive with the manual clock.
    pub fn scheduler(&self) -> SyncScheduler {
        self.scheduler.clone()
    }

    /// This process's delivery worker of outbound events, whose steps tests drive with
    /// the manual clock.
    pub fn dispatcher(&self) -> Dispatcher {
        self.dispatcher.clone()
    }

    /// Serves until SIGINT/SIGTERM, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// On an empty database, creates the first super admin. Its password is the configured
/// one, or a generated one printed once in the log.
/// What every worker of the server shares.
struct Shared {
    state: web::Data<AppState>,
    claims: web::Data<ClaimBatcher>,
    metrics: web::Data<crate::metrics::Metrics>,
}

impl Shared {
    fn assemble(
        settings: Arc<Settings>,
        clock: SharedClock,
        pool: db::DbPool,
        secrets: secrets::Secrets,
        writer: Option<Arc<db::WriterQueue>>,
    ) -> anyhow::Result<Self> {
        let metrics = std::sync::Arc::new(crate::metrics::Metrics::new());
        let targets = TargetPolicy::new(&settings);
        let evolution = EvolutionHttp::new(
            Duration::from_millis(settings.evolution.connect_timeout_ms),
            Duration::from_millis(settings.evolution.request_timeout_ms),
            metrics.clone(),
            targets.clone(),
        )?;

        let claims = web::Data::new(
            ClaimBatcher::new(
                pool.clone(),
                writer.clone(),
                settings.db_timeout(),
                metrics.clone(),
                settings.claim_batches,
            )
            .with_smallest_batch(settings.claim_batch_min),
        );
        let state = web::Data::new(AppState {
            pool,
            clock,
            jwt: JwtKeys::new(&secrets.jwt_secret, settings.token_ttl_seconds),
            cipher: Cipher::new(&secrets.encryption_key),
            settings: settings.clone(),
            evolution,
            targets,
            hashing: HashingGate::for_this_machine(),
            metrics: metrics.clone(),
            writer,
        });
        let metrics = web::Data::from(metrics);
        Ok(Self {
            state,
            claims,
            metrics,
        })
    }
}

/// Resolves the keys, opens the pool, migrates, and makes sure the first super admin and
/// the default Evolution server exist. On SQLite it also answers the writer queue.
fn open_database(
    settings: &Settings,
    clock: SharedClock,
) -> anyhow::Result<(db::DbPool, secrets::Secrets, Option<Arc<db::WriterQueue>>)> {
    let secrets = secrets::resolve(settings)?;
    let pool = db::build_pool(settings)?;
    let mut conn = pool.get()?;
    db::run_migrations(&mut conn)?;
    ensure_super_admin(&mut conn, settings)?;
    bootstrap_evolution_server(&mut conn, settings, &secrets, clock)?;
    let writer = match &mut *conn {
        DbConnection::Sqlite(sqlite) => Some(db::WriterQueue::of(sqlite)?),
        DbConnection::Postgres(_) => None,
    };
    Ok((pool, secrets, writer))
}

/// One line per request, its secrets redacted, with the request ids.
fn access_logger() -> Logger {
    Logger::new(
        r#"%a "%{request_line}xi" %s %b %Dms request_id=%{request_id}xi client_request_id=%{client_request_id}xi"#,
    )
    .custom_request_replace("request_line", edge::redacted_request_line)
    .custom_request_replace("request_id", request_id::logged_id)
    .custom_request_replace("client_request_id", request_id::logged_client_id)
}

/// How bodies, paths and query strings are read, and the JSON errors they answer.
fn request_readers(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(MAX_BODY_BYTES)
            .error_handler(json_error),
    )
    .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
    .app_data(
        web::PathConfig::default()
            .error_handler(|_, _| ApiError::not_found(Resource::Route).into()),
    )
    .app_data(web::QueryConfig::default().error_handler(|error, _| {
        ApiError::malformed(format!("Invalid query string: {error}")).into()
    }));
}

fn ensure_super_admin(conn: &mut DbConnection, settings: &Settings) -> anyhow::Result<()> {
    if users::count(conn)? > 0 {
        return Ok(());
    }
    let email = Email::parse(&settings.admin_email).map_err(|_| {
        anyhow::anyhow!(
            "RELEVO_ADMIN_EMAIL `{}` is not an email address",
            settings.admin_email
        )
    })?;
    let (password, generated) = match &settings.admin_password {
        Some(password) => (password.clone(), false),
        None => (generate_password(), true),
    };
    let created = users::create_first(
        conn,
        email.as_str(),
        &password::hash(&password)?,
        Role::SuperAdmin,
    )?;
    if created && generated {
        log::warn!(
            "created the first super admin: email `{}`, one-time password `{password}` (shown only now; store it safely)",
            email.as_str()
        );
    } else if created {
        log::info!(
            "created the first super admin `{}` with RELEVO_ADMIN_PASSWORD",
            email.as_str()
        );
    }
    Ok(())
}

/// Seed 000's `EVOLUTION_API_BASE_URL` + `EVOLUTION_API_MASTER_KEY` name the default
/// Evolution server: it is created when missing and its key follows the environment.
fn bootstrap_evolution_server(
    conn: &mut DbConnection,
    settings: &Settings,
    secrets: &secrets::Secrets,
    clock: SharedClock,
) -> anyhow::Result<()> {
    let Some(base_url) = &settings.evolution.base_url else {
        return Ok(());
    };
    let base_url = HttpUrl::parse(base_url.as_str())
        .map_err(|_| anyhow::anyhow!("EVOLUTION_API_BASE_URL `{base_url}` is not an http(s) URL"))?
        .into_inner();
    let cipher = Cipher::new(&secrets.encryption_key);
    let api_key = settings
        .evolution
        .master_key
        .as_deref()
        .map(|key| cipher.encrypt(key));
    let server = evolution_servers::bootstrap(conn, &base_url, api_key, clock.now().naive_utc())?;
    log::info!(
        "Evolution API server `{}` (id {}) from EVOLUTION_API_BASE_URL{}",
        server.base_url,
        server.id,
        if server.is_default {
            ", the default"
        } else {
            ""
        }
    );
    Ok(())
}

pub fn generate_password() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), 20)
}

fn json_error(error: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    match error {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::new(
                actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                ErrorKey::RequestTooLarge,
                format!(
                    "The request body is larger than {} KiB.",
                    MAX_BODY_BYTES / 1024
                ),
            )
        }
        JsonPayloadError::ContentType => ApiError::malformed(
            "The request body must be JSON sent with Content-Type: application/json.",
        ),
        JsonPayloadError::Deserialize(error) if error.is_data() => {
            ApiError::malformed("The request body must be a JSON object.")
        }
        JsonPayloadError::Deserialize(error) => {
            ApiError::malformed(format!("The request body is not valid JSON: {error}"))
        }
        other => ApiError::malformed(format!("The request body could not be read: {other}")),
    }
    .into()
}

async fn route_not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found(Resource::Route))
}
