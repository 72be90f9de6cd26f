//! Typed settings read once from the environment and validated at start-up.
//! Every problem is reported at once, naming the variable.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use chrono_tz::Tz;
use ipnet::IpNet;
use url::Url;

use crate::i18n::Locale;
use crate::telemetry::LogFormat;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// What stands between Relevo and PostgreSQL (`RELEVO_DB_POOLER`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbPooler {
    /// Direct connections: each keeps its session (cached prepared statements, session
    /// settings).
    None,
    /// A transaction-pooling pooler such as pgbouncer in `pool_mode = transaction`: each
    /// transaction may run on another server session, so nothing of a session outlives a
    /// transaction (no cached prepared statements, settings with `SET LOCAL`, locks with
    /// `pg_advisory_xact_lock`).
    Transaction,
}

/// At most this many claims commit together (the bound of `RELEVO_CLAIM_BATCH_MIN`).
pub const MAX_CLAIM_BATCH: usize = 64;

#[derive(Clone, Debug)]
pub struct Settings {
    pub bind: String,
    /// A `postgres://` URL or the path of the SQLite file.
    pub database_url: String,
    pub backend: Backend,
    pub jwt_secret: Option<String>,
    pub encryption_key: Option<[u8; 32]>,
    pub admin_email: String,
    pub admin_password: Option<String>,
    pub default_timezone: Tz,
    /// Language of field messages when a request sends no Accept-Language.
    pub default_locale: Locale,
    pub public_url: Option<Url>,
    pub token_ttl_seconds: i64,
    /// Most database connections one process holds; opened as needed.
    pub db_pool_size: u32,
    /// Whether PostgreSQL is reached through a transaction-pooling pooler.
    pub db_pooler: DbPooler,
    /// How many batches of claims one process writes at once (`RELEVO_CLAIM_BATCHES`):
    /// 1 on SQLite, 2 on PostgreSQL unless set.
    pub claim_batches: usize,
    /// The fewest claims that commit as a batch (`RELEVO_CLAIM_BATCH_MIN`, default 2): a
    /// claim that arrives alone runs alone. 1 sends every claim through the batch's path,
    /// which the parity proof of the claim paths uses.
    pub claim_batch_min: usize,
    /// Whether `/metrics` is served and requests are measured (`RELEVO_METRICS`).
    pub metrics: bool,
    /// When set, `/metrics` answers only `Authorization: Bearer <this>` (`RELEVO_METRICS_TOKEN`).
    pub metrics_token: Option<String>,
    /// Proxies whose `X-Forwarded-For` names the client; every other peer is the client itself.
    pub trusted_proxies: Vec<IpNet>,
    /// How long a request waits for a pooled connection, a lock or its turn to write
    /// before it gives up with 503.
    pub db_timeout_ms: u64,
    /// How long a client may take to send a request body once its headers are in.
    pub body_timeout_ms: u64,
    /// Whether callback URLs and Evolution servers may be on loopback, private, link-local
    /// or other non-public addresses (`RELEVO_ALLOW_PRIVATE_TARGETS`; local development and
    /// tests). See [`crate::targets`].
    pub allow_private_targets: bool,
    pub evolution: EvolutionSettings,
    /// Delivery of outbound events to tenants' callback URLs.
    pub webhooks: WebhookSettings,
    /// How log lines are written (`RELEVO_LOG_FORMAT`).
    pub log_format: LogFormat,
}

/// The delivery worker of outbound events (SPEC §8).
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// How long one delivery may take in all (`RELEVO_WEBHOOK_TIMEOUT_MS`, default 10 s).
    pub timeout_ms: u64,
    /// How often the worker looks for due events (`RELEVO_WEBHOOK_POLL_MS`, default 1 s);
    /// 0 runs no worker in this process.
    pub poll_ms: u64,
    /// How many tenants one process delivers to at once (`RELEVO_WEBHOOK_CONCURRENCY`,
    /// default 4: enough to drain well over 1000 events/s while claims keep most of the
    /// CPU; see the README's benchmark).
    pub concurrency: u32,
    /// How many days delivered and failed events stay in the outbox (the delivery log)
    /// before the worker deletes them (`RELEVO_OUTBOX_RETENTION_DAYS`, default 7).
    pub retention_days: u32,
    /// How long a new status must hold before the tenant is told
    /// (`RELEVO_STATUS_SETTLE_MS`, default 10 s; 0 tells every change on the next step).
    pub status_settle_ms: u64,
}

impl WebhookSettings {
    pub fn status_settle(&self) -> chrono::Duration {
        chrono::Duration::milliseconds(i64::try_from(self.status_settle_ms).unwrap_or(i64::MAX))
    }
}

/// Seed 000's variables. They bootstrap the default Evolution API server.
#[derive(Clone, Debug)]
pub struct EvolutionSettings {
    pub base_url: Option<Url>,
    pub master_key: Option<String>,
    pub max_instances_per_tenant: u32,
    /// How often the scheduler syncs active instances (ms).
    pub sync_interval_ms: u64,
    /// How often the scheduler syncs inactive instances (ms).
    pub sync_interval_inactive_ms: u64,
    pub enable_instance_creation: bool,
    /// How long Relevo waits to open a connection to an Evolution server.
    pub connect_timeout_ms: u64,
    /// How long one request to an Evolution server may take in all.
    pub request_timeout_ms: u64,
}

pub const DEFAULT_SQLITE_PATH: &str = "./data/relevo.db";
/// Days delivered and failed events stay in the outbox unless `RELEVO_OUTBOX_RETENTION_DAYS` says.
pub const DEFAULT_RETENTION_DAYS: u32 = 7;
/// A hundred years: more is no retention at all, and would overflow the date arithmetic.
const MAX_RETENTION_DAYS: u32 = 36_500;
/// A metrics token shorter than this is too easy to guess.
const MIN_METRICS_TOKEN_LEN: usize = 16;
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@relevo.local";

/// Every variable Relevo reads. The docker-compose test checks against this list.
pub const ENV_VARS: &[&str] = &[
    "DATABASE_URL",
    "RELEVO_BIND",
    "RELEVO_JWT_SECRET",
    "RELEVO_ENCRYPTION_KEY",
    "RELEVO_ADMIN_EMAIL",
    "RELEVO_ADMIN_PASSWORD",
    "RELEVO_DEFAULT_TIMEZONE",
    "RELEVO_PUBLIC_URL",
    "RELEVO_TOKEN_TTL_SECONDS",
    "RELEVO_LOCALE",
    "RELEVO_DB_POOL_SIZE",
    "RELEVO_DB_POOLER",
    "RELEVO_CLAIM_BATCHES",
    "RELEVO_CLAIM_BATCH_MIN",
    "RELEVO_METRICS",
    "RELEVO_METRICS_TOKEN",
    "RELEVO_TRUSTED_PROXIES",
    "RELEVO_DB_TIMEOUT_MS",
    "RELEVO_BODY_TIMEOUT_MS",
    "EVOLUTION_API_BASE_URL",
    "EVOLUTION_API_MASTER_KEY",
    "EVOLUTION_API_MAX_INSTANCES_PER_TENANT",
    "EVOLUTION_API_SYNC_INTERVAL_ACTIVE",
    "EVOLUTION_API_SYNC_INTERVAL_INACTIVE",
    "EVOLUTION_API_ENABLE_INSTANCE_CREATION",
    "RUST_LOG",
    "RELEVO_LOG_FORMAT",
    "EVOLUTION_API_CONNECT_TIMEOUT_MS",
    "EVOLUTION_API_REQUEST_TIMEOUT_MS",
    "RELEVO_WEBHOOK_TIMEOUT_MS",
    "RELEVO_WEBHOOK_POLL_MS",
    "RELEVO_WEBHOOK_CONCURRENCY",
    "RELEVO_ALLOW_PRIVATE_TARGETS",
    "RELEVO_OUTBOX_RETENTION_DAYS",
    "RELEVO_STATUS_SETTLE_MS",
];

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let vars: HashMap<String, String> = std::env::vars()
            .filter(|(name, value)| ENV_VARS.contains(&name.as_str()) && !value.trim().is_empty())
            .collect();
        Self::from_vars(&vars)
    }

    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let mut vars = Vars {
            vars,
            problems: Vec::new(),
        };
        let (backend, database_url) = parse_database_url(
            &vars
                .get("DATABASE_URL")
                .unwrap_or_else(|| DEFAULT_SQLITE_PATH.to_string()),
        );
        let (jwt_secret, encryption_key) = vars.secrets(backend);
        let default_timezone = vars.parsed(
            "RELEVO_DEFAULT_TIMEZONE",
            Tz::UTC,
            |name| name.parse().ok(),
            "is not an IANA time zone name",
        );
        let default_locale = vars.parsed(
            "RELEVO_LOCALE",
            Locale::Es,
            Locale::parse,
            "must be es, en or pt",
        );
        let public_url = vars.http_url("RELEVO_PUBLIC_URL");
        let token_ttl_seconds = vars.number("RELEVO_TOKEN_TTL_SECONDS", 3600);
        let pool = vars.pool(backend);
        let (metrics, metrics_token) = vars.metrics();
        let trusted_proxies = vars
            .get("RELEVO_TRUSTED_PROXIES")
            .map(|raw| parse_trusted_proxies(&raw, &mut vars.problems))
            .unwrap_or_default();
        let db_timeout_ms = vars.timeout("RELEVO_DB_TIMEOUT_MS", 5_000);
        let body_timeout_ms = vars.timeout("RELEVO_BODY_TIMEOUT_MS", 10_000);
        let allow_private_targets = vars.flag("RELEVO_ALLOW_PRIVATE_TARGETS", false);
        let evolution = vars.evolution();
        let webhooks = vars.webhooks();
        let log_format = vars.parsed(
            "RELEVO_LOG_FORMAT",
            LogFormat::default(),
            LogFormat::parse,
            "must be text or json",
        );
        let settings = Settings {
            bind: vars
                .get("RELEVO_BIND")
                .unwrap_or_else(|| "127.0.0.1:8080".to_string()),
            database_url,
            backend,
            jwt_secret,
            encryption_key,
            admin_email: vars
                .get("RELEVO_ADMIN_EMAIL")
                .unwrap_or_else(|| DEFAULT_ADMIN_EMAIL.into()),
            admin_password: vars.get("RELEVO_ADMIN_PASSWORD"),
            default_timezone,
            default_locale,
            public_url,
            token_ttl_seconds,
            db_pool_size: pool.size,
            db_pooler: pool.pooler,
            claim_batches: pool.claim_batches,
            claim_batch_min: pool.claim_batch_min,
            metrics,
            metrics_token,
            trusted_proxies,
            db_timeout_ms,
            body_timeout_ms,
            allow_private_targets,
            evolution,
            webhooks,
            log_format,
        };
        if vars.problems.is_empty() {
            Ok(settings)
        } else {
            Err(ConfigError(vars.problems))
        }
    }

    /// The data directory, created when missing (readable by its owner only: it holds
    /// the database and the generated keys); `None` with PostgreSQL. An existing
    /// directory keeps its mode, since it may be shared, such as `.`.
    pub fn ensure_data_dir(&self) -> anyhow::Result<Option<PathBuf>> {
        let Some(dir) = self.data_dir() else {
            return Ok(None);
        };
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&dir)
            .map_err(|e| anyhow::anyhow!("cannot create data directory {}: {e}", dir.display()))?;
        Ok(Some(dir))
    }

    pub fn db_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.db_timeout_ms)
    }

    /// Where generated secrets live: beside the SQLite file.
    pub fn data_dir(&self) -> Option<PathBuf> {
        match self.backend {
            Backend::Postgres => None,
            Backend::Sqlite => Some(
                Path::new(&self.database_url)
                    .parent()
                    .filter(|dir| !dir.as_os_str().is_empty())
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| PathBuf::from(".")),
            ),
        }
    }
}

/// A token that fits an `Authorization` header and is long enough not to be guessed.
fn is_metrics_token(token: &str) -> bool {
    (MIN_METRICS_TOKEN_LEN..=255).contains(&token.len())
        && token.bytes().all(|byte| byte.is_ascii_graphic())
}

/// A comma-separated list of addresses (`10.0.0.7`) and networks (`10.0.0.0/8`).
fn parse_trusted_proxies(raw: &str, problems: &mut Vec<String>) -> Vec<IpNet> {
    raw.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .filter_map(|item| {
            let parsed = item
                .parse::<IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(IpNet::from));
            parsed
                .map_err(|_| {
                    problems.push(format!(
                        "RELEVO_TRUSTED_PROXIES `{item}` is not an IP address or network"
                    ))
                })
                .ok()
        })
        .collect()
}

fn parse_database_url(raw: &str) -> (Backend, String) {
    if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
        return (Backend::Postgres, raw.to_string());
    }
    let path = ["sqlite://", "sqlite:", "file:"]
        .iter()
        .find_map(|prefix| raw.strip_prefix(prefix))
        .unwrap_or(raw);
    (Backend::Sqlite, path.to_string())
}

pub fn parse_encryption_key(encoded: &str) -> Result<[u8; 32], String> {
    base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| {
            "RELEVO_ENCRYPTION_KEY must be 32 bytes encoded in base64 (openssl rand -base64 32)"
                .to_string()
        })
}

/// The environment being read, and every problem found in it so far (all are reported at
/// once).
struct Vars<'a> {
    vars: &'a HashMap<String, String>,
    problems: Vec<String>,
}

/// How the database is used: pool, pooler and claim batches.
struct Pool {
    size: u32,
    pooler: DbPooler,
    claim_batches: usize,
    claim_batch_min: usize,
}

impl Vars<'_> {
    fn get(&self, name: &str) -> Option<String> {
        self.vars.get(name).map(|value| value.trim().to_string())
    }

    fn problem(&mut self, problem: impl Into<String>) {
        self.problems.push(problem.into());
    }

    /// `name` read by `parse`, `default` when it is not set; a value `parse` refuses is
    /// reported as "`name` `value` `expected`".
    fn parsed<T>(
        &mut self,
        name: &str,
        default: T,
        parse: impl FnOnce(&str) -> Option<T>,
        expected: &str,
    ) -> T {
        let Some(raw) = self.get(name) else {
            return default;
        };
        parse(&raw).unwrap_or_else(|| {
            self.problem(format!("{name} `{raw}` {expected}"));
            default
        })
    }

    fn number<T: std::str::FromStr + Copy>(&mut self, name: &str, default: T) -> T {
        self.parsed(
            name,
            default,
            |raw| raw.parse().ok(),
            "must be a positive whole number",
        )
    }

    /// A count that must be at least 1.
    fn count<T: std::str::FromStr + Copy + PartialEq + From<u8>>(
        &mut self,
        name: &str,
        default: T,
    ) -> T {
        let value = self.number(name, default);
        if value == T::from(0) {
            self.problem(format!("{name} must be at least 1"));
        }
        value
    }

    /// A timeout in milliseconds: a whole number of at least 1.
    fn timeout(&mut self, name: &str, default: u64) -> u64 {
        let value = self.number(name, default);
        if value == 0 {
            self.problem(format!("{name} must be at least 1 (milliseconds)"));
            return default;
        }
        value
    }

    /// A yes-or-no setting: `1`, `true`, `yes`, `on` or `0`, `false`, `no`, `off`.
    fn flag(&mut self, name: &str, default: bool) -> bool {
        self.parsed(
            name,
            default,
            |raw| match raw.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Some(true),
                "0" | "false" | "no" | "off" => Some(false),
                _ => None,
            },
            "must be true or false",
        )
    }

    /// An http(s) URL without credentials (they would show in logs and answers; such a
    /// URL is not echoed in the problem either).
    fn http_url(&mut self, name: &str) -> Option<Url> {
        let raw = self.get(name)?;
        match Url::parse(&raw) {
            Ok(url) if !url.username().is_empty() || url.password().is_some() => {
                self.problem(format!("{name} must not contain a user name or password"));
                None
            }
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                Some(url)
            }
            _ => {
                self.problem(format!("{name} `{raw}` is not an http(s) URL"));
                None
            }
        }
    }

    /// The JWT secret and the encryption key: generated into the data directory with
    /// SQLite when not set, required with PostgreSQL (processes must share them).
    fn secrets(&mut self, backend: Backend) -> (Option<String>, Option<[u8; 32]>) {
        let jwt_secret = self.get("RELEVO_JWT_SECRET");
        if matches!(&jwt_secret, Some(secret) if secret.len() < 32) {
            self.problem("RELEVO_JWT_SECRET must be at least 32 characters long");
        }
        let encoded_key = self.get("RELEVO_ENCRYPTION_KEY");
        let encryption_key = encoded_key.as_deref().and_then(|encoded| {
            parse_encryption_key(encoded)
                .map_err(|p| self.problem(p))
                .ok()
        });
        if backend == Backend::Postgres {
            if jwt_secret.is_none() {
                self.problem("RELEVO_JWT_SECRET is required with PostgreSQL");
            }
            if encoded_key.is_none() {
                self.problem(
                    "RELEVO_ENCRYPTION_KEY is required with PostgreSQL (32 bytes, base64)",
                );
            }
        }
        (jwt_secret, encryption_key)
    }

    fn pool(&mut self, backend: Backend) -> Pool {
        let size = self.count("RELEVO_DB_POOL_SIZE", 16);
        let pooler = self.parsed(
            "RELEVO_DB_POOLER",
            DbPooler::None,
            |raw| match raw.to_ascii_lowercase().as_str() {
                "none" => Some(DbPooler::None),
                "transaction" => Some(DbPooler::Transaction),
                _ => None,
            },
            "must be none or transaction (pgbouncer's pool_mode = transaction)",
        );
        if pooler == DbPooler::Transaction && backend == Backend::Sqlite {
            self.problem(
                "RELEVO_DB_POOLER=transaction needs a postgres:// DATABASE_URL (a pooler stands in front of PostgreSQL)",
            );
        }
        // SQLite writes one transaction at a time anyway. On PostgreSQL two batches go side
        // by side: one is written while the other's answers travel (measured best on two
        // cores with 16 and 64 claimers; see README "Benchmarks").
        let claim_batches = match backend {
            Backend::Sqlite => 1,
            Backend::Postgres => 2,
        };
        let claim_batches = self.count("RELEVO_CLAIM_BATCHES", claim_batches);
        let claim_batch_min = self.number("RELEVO_CLAIM_BATCH_MIN", 2);
        if !(1..=MAX_CLAIM_BATCH).contains(&claim_batch_min) {
            self.problem(format!(
                "RELEVO_CLAIM_BATCH_MIN must be between 1 and {MAX_CLAIM_BATCH}"
            ));
        }
        Pool {
            size,
            pooler,
            claim_batches,
            claim_batch_min,
        }
    }

    /// Whether `/metrics` is served, and the token it asks for if any.
    fn metrics(&mut self) -> (bool, Option<String>) {
        let metrics = self.parsed(
            "RELEVO_METRICS",
            true,
            |raw| match raw.to_ascii_lowercase().as_str() {
                "on" => Some(true),
                "off" => Some(false),
                _ => None,
            },
            "must be on or off",
        );
        let metrics_token = self.get("RELEVO_METRICS_TOKEN");
        if matches!(&metrics_token, Some(token) if !is_metrics_token(token)) {
            self.problem(format!(
                "RELEVO_METRICS_TOKEN must be {MIN_METRICS_TOKEN_LEN} to 255 visible ASCII characters (it is sent as `Authorization: Bearer <token>`)"
            ));
        }
        (metrics, metrics_token)
    }

    /// Seed 000's variables.
    fn evolution(&mut self) -> EvolutionSettings {
        EvolutionSettings {
            base_url: self.http_url("EVOLUTION_API_BASE_URL"),
            master_key: self.get("EVOLUTION_API_MASTER_KEY"),
            max_instances_per_tenant: self.number("EVOLUTION_API_MAX_INSTANCES_PER_TENANT", 10),
            sync_interval_ms: self.timeout("EVOLUTION_API_SYNC_INTERVAL_ACTIVE", 300_000),
            sync_interval_inactive_ms: self
                .timeout("EVOLUTION_API_SYNC_INTERVAL_INACTIVE", 1_800_000),
            enable_instance_creation: self.flag("EVOLUTION_API_ENABLE_INSTANCE_CREATION", true),
            connect_timeout_ms: self.timeout("EVOLUTION_API_CONNECT_TIMEOUT_MS", 5_000),
            request_timeout_ms: self.timeout("EVOLUTION_API_REQUEST_TIMEOUT_MS", 15_000),
        }
    }

    fn webhooks(&mut self) -> WebhookSettings {
        let timeout_ms = self.timeout("RELEVO_WEBHOOK_TIMEOUT_MS", 10_000);
        let poll_ms = self.number("RELEVO_WEBHOOK_POLL_MS", 1_000);
        let concurrency = self.count("RELEVO_WEBHOOK_CONCURRENCY", 4);
        let status_settle_ms = self.number("RELEVO_STATUS_SETTLE_MS", 10_000);
        let retention_days = self.number("RELEVO_OUTBOX_RETENTION_DAYS", DEFAULT_RETENTION_DAYS);
        if !(1..=MAX_RETENTION_DAYS).contains(&retention_days) {
            self.problem(format!(
                "RELEVO_OUTBOX_RETENTION_DAYS must be between 1 and {MAX_RETENTION_DAYS} (days)"
            ));
        }
        WebhookSettings {
            timeout_ms,
            poll_ms,
            concurrency,
            retention_days,
            status_settle_ms,
        }
    }
}

#[derive(Debug)]
pub struct ConfigError(pub Vec<String>);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for problem in &self.0 {
            writeln!(f, "  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// `from_env` passes on only the variables listed in [`ENV_VARS`]: a setting read by
    /// name but missing from the list would be silently ignored in production.
    #[test]
    fn every_variable_read_is_listed() {
        let source = include_str!("config.rs");
        let name = regex::Regex::new(r#""((?:RELEVO|EVOLUTION_API)_[A-Z_]+)""#).unwrap();
        let unlisted: Vec<&str> = name
            .captures_iter(source)
            .map(|found| found.get(1).unwrap().as_str())
            .filter(|var| !ENV_VARS.contains(var))
            .collect();
        assert!(
            unlisted.is_empty(),
            "read but not in ENV_VARS: {unlisted:?}"
        );
    }

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_zero_config_sqlite() {
        let settings = Settings::from_vars(&HashMap::new()).unwrap();
        assert_eq!(settings.backend, Backend::Sqlite);
        assert_eq!(settings.database_url, DEFAULT_SQLITE_PATH);
        assert_eq!(settings.bind, "127.0.0.1:8080");
        assert_eq!(settings.data_dir().unwrap(), PathBuf::from("./data"));
        assert_eq!(settings.evolution.max_instances_per_tenant, 10);
        assert_eq!(settings.evolution.sync_interval_ms, 300_000);
        assert_eq!(settings.evolution.sync_interval_inactive_ms, 1_800_000);
        assert_eq!(settings.evolution.connect_timeout_ms, 5_000);
        assert_eq!(settings.evolution.request_timeout_ms, 15_000);
        assert!(!settings.allow_private_targets);
    }

    #[test]
    fn private_targets_are_allowed_only_when_asked() {
        for (raw, allowed) in [("1", true), ("true", true), ("0", false), ("off", false)] {
            let settings =
                Settings::from_vars(&vars(&[("RELEVO_ALLOW_PRIVATE_TARGETS", raw)])).unwrap();
            assert_eq!(settings.allow_private_targets, allowed, "{raw}");
        }
        let err =
            Settings::from_vars(&vars(&[("RELEVO_ALLOW_PRIVATE_TARGETS", "maybe")])).unwrap_err();
        assert!(
            err.to_string()
                .contains("RELEVO_ALLOW_PRIVATE_TARGETS `maybe`"),
            "{err}"
        );
    }

    #[test]
    fn evolution_timeouts_must_be_positive_milliseconds() {
        let err = Settings::from_vars(&vars(&[
            ("EVOLUTION_API_CONNECT_TIMEOUT_MS", "0"),
            ("EVOLUTION_API_REQUEST_TIMEOUT_MS", "soon"),
        ]))
        .unwrap_err();
        assert_eq!(err.0.len(), 2, "{err}");
        let settings =
            Settings::from_vars(&vars(&[("EVOLUTION_API_REQUEST_TIMEOUT_MS", "300")])).unwrap();
        assert_eq!(settings.evolution.request_timeout_ms, 300);
    }

    #[test]
    fn postgres_without_secrets_lists_both_problems() {
        let err = Settings::from_vars(&vars(&[("DATABASE_URL", "postgres://localhost/relevo")]))
            .unwrap_err();
        assert_eq!(err.0.len(), 2, "{err}");
        assert!(err.to_string().contains("RELEVO_JWT_SECRET"));
        assert!(err.to_string().contains("RELEVO_ENCRYPTION_KEY"));
    }

    #[test]
    fn every_bad_value_is_reported_at_once() {
        let err = Settings::from_vars(&vars(&[
            ("RELEVO_DEFAULT_TIMEZONE", "Mars/Olympus"),
            ("RELEVO_ENCRYPTION_KEY", "short"),
            ("EVOLUTION_API_BASE_URL", "ftp://x"),
            ("EVOLUTION_API_MAX_INSTANCES_PER_TENANT", "-1"),
            (
                "RELEVO_PUBLIC_URL",
                "https://user:secret@relevo.example.com",
            ),
        ]))
        .unwrap_err();
        assert_eq!(err.0.len(), 5, "{err}");
    }

    #[test]
    fn the_pooler_setting_is_none_or_transaction_on_postgres() {
        let postgres = [
            ("DATABASE_URL", "postgres://localhost/relevo"),
            (
                "RELEVO_JWT_SECRET",
                "a-jwt-secret-that-is-long-enough-0123456789",
            ),
            (
                "RELEVO_ENCRYPTION_KEY",
                "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
            ),
        ];
        let with = |value: &str| {
            let mut pairs = postgres.to_vec();
            pairs.push(("RELEVO_DB_POOLER", value));
            Settings::from_vars(&vars(&pairs))
        };
        assert_eq!(
            Settings::from_vars(&vars(&postgres)).unwrap().db_pooler,
            DbPooler::None
        );
        assert_eq!(with("none").unwrap().db_pooler, DbPooler::None);
        assert_eq!(
            with("Transaction").unwrap().db_pooler,
            DbPooler::Transaction
        );
        let err = with("session").unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert!(
            err.to_string().contains("RELEVO_DB_POOLER `session`"),
            "{err}"
        );

        let err = Settings::from_vars(&vars(&[("RELEVO_DB_POOLER", "transaction")])).unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert!(err.to_string().contains("postgres://"), "{err}");
    }

    #[test]
    fn the_metrics_token_and_the_outbox_retention_are_checked() {
        let settings = Settings::from_vars(&HashMap::new()).unwrap();
        assert_eq!(settings.metrics_token, None);
        assert_eq!(settings.webhooks.retention_days, 7);

        let settings = Settings::from_vars(&vars(&[
            ("RELEVO_METRICS_TOKEN", "scrape-me-0123456789"),
            ("RELEVO_OUTBOX_RETENTION_DAYS", "30"),
        ]))
        .unwrap();
        assert_eq!(
            settings.metrics_token.as_deref(),
            Some("scrape-me-0123456789")
        );
        assert_eq!(settings.webhooks.retention_days, 30);

        for (token, days) in [
            ("short", "0"),
            ("sixteen chars with spaces", "36501"),
            ("pa\u{f1}o-pa\u{f1}o-pa\u{f1}o-pa\u{f1}o", "-1"),
        ] {
            let err = Settings::from_vars(&vars(&[
                ("RELEVO_METRICS_TOKEN", token),
                ("RELEVO_OUTBOX_RETENTION_DAYS", days),
            ]))
            .unwrap_err();
            assert_eq!(err.0.len(), 2, "{token}, {days}: {err}");
            assert!(!err.to_string().contains(token), "the token is not echoed");
        }
    }

    #[test]
    fn the_log_format_is_text_unless_json_is_asked() {
        let format = |raw: &str| Settings::from_vars(&vars(&[("RELEVO_LOG_FORMAT", raw)]));
        assert_eq!(
            Settings::from_vars(&HashMap::new()).unwrap().log_format,
            LogFormat::Text
        );
        assert_eq!(format("json").unwrap().log_format, LogFormat::Json);
        assert_eq!(format("Text").unwrap().log_format, LogFormat::Text);
        let err = format("logfmt").unwrap_err();
        assert!(
            err.to_string()
                .contains("RELEVO_LOG_FORMAT `logfmt` must be text or json"),
            "{err}"
        );
    }

    #[test]
    fn sqlite_url_prefixes_are_accepted() {
        for raw in ["sqlite://x/y.db", "sqlite:x/y.db", "file:x/y.db", "x/y.db"] {
            assert_eq!(
                parse_database_url(raw),
                (Backend::Sqlite, "x/y.db".to_string())
            );
        }
    }
}
