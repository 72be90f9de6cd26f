//! `docker-compose.yml` and the `Dockerfile` are checked without Docker: the compose file must
//! wire relevo to PostgreSQL (through pgbouncer) and to the Evolution API server using only
//! variables Relevo reads, and its relevo environment, with the `${VAR:-default}` defaults
//! filled in, must pass the same configuration parser the binary runs at start-up.

use std::collections::HashMap;
use std::path::Path;

use relevo::config::{Backend, Settings, ENV_VARS};
use serde_yaml::Value;
use url::Url;

const RELEVO: &str = "relevo";
const POSTGRES: &str = "postgres";
const POOLER: &str = "pgbouncer";

fn read_project_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn compose() -> Value {
    serde_yaml::from_str(&read_project_file("docker-compose.yml"))
        .expect("docker-compose.yml is not valid YAML")
}

fn services(compose: &Value) -> &serde_yaml::Mapping {
    compose["services"]
        .as_mapping()
        .expect("docker-compose.yml has no `services` map")
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    compose["services"]
        .get(name)
        .unwrap_or_else(|| panic!("docker-compose.yml has no `{name}` service"))
}

/// The service running the Evolution API image, whatever it is called.
fn evolution_service_name(compose: &Value) -> String {
    services(compose)
        .iter()
        .find(|(_, service)| {
            service["image"]
                .as_str()
                .is_some_and(|image| image.contains("evolution-api"))
        })
        .and_then(|(name, _)| name.as_str())
        .expect("docker-compose.yml has no service running an evolution-api image")
        .to_string()
}

/// A service's `environment`, in either the map form or the `KEY=VALUE` list form, as written
/// (interpolations unresolved). A key without a value (passed through from the host) is `None`.
fn environment(service: &Value) -> Vec<(String, Option<String>)> {
    match &service["environment"] {
        Value::Null => Vec::new(),
        Value::Mapping(map) => map
            .iter()
            .map(|(key, value)| {
                let key = key
                    .as_str()
                    .expect("environment keys are strings")
                    .to_string();
                let value = match value {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    Value::Bool(b) => Some(b.to_string()),
                    other => panic!("environment variable {key} has a non-scalar value: {other:?}"),
                };
                (key, value)
            })
            .collect(),
        Value::Sequence(items) => items
            .iter()
            .map(|item| {
                let item = item.as_str().expect("environment list items are strings");
                match item.split_once('=') {
                    Some((key, value)) => (key.to_string(), Some(value.to_string())),
                    None => (item.to_string(), None),
                }
            })
            .collect(),
        other => panic!("`environment` must be a map or a list, not {other:?}"),
    }
}

/// The value a variable gets in a service, interpolations resolved to their defaults.
fn resolved_var(service: &Value, name: &str) -> Option<String> {
    environment(service)
        .into_iter()
        .find(|(key, _)| key == name)
        .and_then(|(_, value)| value)
        .map(|value| interpolate_defaults(&value))
}

/// Resolves compose interpolation as if no variable were set on the host: `${VAR:-default}` and
/// `${VAR-default}` become `default`; `${VAR}`, `$VAR` and `${VAR:+alt}` become empty; `$$` is a
/// literal `$`. `${VAR:?message}` panics, as compose would refuse to start.
fn interpolate_defaults(raw: &str) -> String {
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::new();
    let mut rest = raw;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(after) = after.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .unwrap_or_else(|| panic!("unclosed `${{` in `{raw}`"));
            let expression = &body[..end];
            let name_len = expression
                .find(|c: char| !is_name_char(c))
                .unwrap_or(expression.len());
            let (name, operator) = expression.split_at(name_len);
            assert!(
                !name.is_empty(),
                "`${{{expression}}}` in `{raw}` names no variable"
            );
            if let Some(default) = operator
                .strip_prefix(":-")
                .or_else(|| operator.strip_prefix('-'))
            {
                out.push_str(default);
            } else if operator.starts_with(":?") || operator.starts_with('?') {
                panic!("`{raw}` requires {name} to be set");
            } else {
                let unset_alternative = operator.starts_with(":+") || operator.starts_with('+');
                assert!(
                    operator.is_empty() || unset_alternative,
                    "unsupported `${{{expression}}}` in `{raw}`"
                );
            }
            rest = &body[end + 1..];
        } else {
            let name_len = after
                .find(|c: char| !is_name_char(c))
                .unwrap_or(after.len());
            assert!(name_len > 0, "a lone `$` in `{raw}` must be written `$$`");
            rest = &after[name_len..];
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn interpolation_resolves_to_defaults() {
    assert_eq!(interpolate_defaults("plain"), "plain");
    assert_eq!(interpolate_defaults("${A:-x}"), "x");
    assert_eq!(interpolate_defaults("pre-${A-y}-post"), "pre-y-post");
    assert_eq!(interpolate_defaults("${A}${B:-b}"), "b");
    assert_eq!(interpolate_defaults("$A/$$x"), "/$x");
    assert_eq!(interpolate_defaults("${A:-a=b/c-d}"), "a=b/c-d");
    assert_eq!(interpolate_defaults("${A:+set}"), "");
}

#[test]
fn compose_has_relevo_postgres_and_evolution_services() {
    let compose = compose();
    let relevo = service(&compose, RELEVO);
    service(&compose, POSTGRES);
    evolution_service_name(&compose);

    assert!(
        relevo["build"]
            .as_str()
            .is_some_and(|context| context == "."),
        "relevo must be built from this repository"
    );
    assert!(
        service(&compose, POSTGRES)["image"]
            .as_str()
            .is_some_and(|image| image.starts_with("postgres")),
        "the postgres service must run a postgres image"
    );
    assert!(
        service(&compose, POSTGRES)["healthcheck"]["test"]
            .as_sequence()
            .is_some(),
        "the postgres service needs a healthcheck for relevo to wait on"
    );
    assert_eq!(
        relevo["depends_on"][POSTGRES]["condition"].as_str(),
        Some("service_healthy"),
        "relevo must wait until postgres is healthy"
    );
}

#[test]
fn relevo_sets_only_variables_relevo_reads() {
    let compose = compose();
    let variables = environment(service(&compose, RELEVO));
    assert!(
        !variables.is_empty(),
        "the relevo service sets no environment"
    );
    let unknown: Vec<&str> = variables
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| !ENV_VARS.contains(name))
        .collect();
    assert!(
        unknown.is_empty(),
        "relevo does not read {unknown:?}; known variables: {ENV_VARS:?}"
    );
}

#[test]
fn relevo_is_wired_to_postgres_and_the_evolution_server() {
    let compose = compose();
    let relevo = service(&compose, RELEVO);

    let database_url = resolved_var(relevo, "DATABASE_URL").expect("relevo sets no DATABASE_URL");
    let database_url = Url::parse(&database_url).expect("DATABASE_URL is not a URL");
    assert!(
        matches!(database_url.scheme(), "postgres" | "postgresql"),
        "DATABASE_URL is not postgres://"
    );
    assert_eq!(
        database_url.host_str(),
        Some(POOLER),
        "DATABASE_URL must point at the pgbouncer service"
    );
    assert_eq!(database_url.port(), Some(6432), "pgbouncer listens on 6432");

    let evolution = evolution_service_name(&compose);
    let base_url = resolved_var(relevo, "EVOLUTION_API_BASE_URL")
        .expect("relevo sets no EVOLUTION_API_BASE_URL");
    let base_url = Url::parse(&base_url).expect("EVOLUTION_API_BASE_URL is not a URL");
    assert_eq!(
        base_url.host_str(),
        Some(evolution.as_str()),
        "EVOLUTION_API_BASE_URL must name the Evolution service"
    );
    // Inside the compose network the container port counts, not the port published on the host.
    assert_eq!(
        base_url.port_or_known_default(),
        Some(8080),
        "Evolution API listens on 8080 in its container"
    );

    let relevo_key = environment(relevo)
        .into_iter()
        .find(|(name, _)| name == "EVOLUTION_API_MASTER_KEY")
        .and_then(|(_, value)| value)
        .expect("relevo sets no EVOLUTION_API_MASTER_KEY");
    let evolution_key = environment(service(&compose, &evolution))
        .into_iter()
        .find(|(name, _)| name == "AUTHENTICATION_API_KEY")
        .and_then(|(_, value)| value)
        .expect("the Evolution service sets no AUTHENTICATION_API_KEY");
    assert_eq!(
        relevo_key, evolution_key,
        "EVOLUTION_API_MASTER_KEY must be the Evolution server's AUTHENTICATION_API_KEY, overridden by the same variable"
    );
    assert!(
        !interpolate_defaults(&relevo_key).is_empty(),
        "the Evolution master key is empty by default"
    );
}

#[test]
fn relevo_environment_passes_the_configuration_parser() {
    let compose = compose();
    // As `Settings::from_env` does, blank values count as unset.
    let vars: HashMap<String, String> = environment(service(&compose, RELEVO))
        .into_iter()
        .filter_map(|(name, value)| Some((name, interpolate_defaults(&value?))))
        .filter(|(_, value)| !value.trim().is_empty())
        .collect();

    let settings = Settings::from_vars(&vars).unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(settings.backend, Backend::Postgres);
    assert!(settings.jwt_secret.is_some() && settings.encryption_key.is_some());
    assert!(
        settings.admin_password.is_some(),
        "set RELEVO_ADMIN_PASSWORD so the first login is known"
    );
    assert!(
        settings.public_url.is_some(),
        "Evolution needs RELEVO_PUBLIC_URL to reach the webhook"
    );
    assert!(settings.evolution.base_url.is_some() && settings.evolution.master_key.is_some());
    assert!(
        settings.bind.starts_with("0.0.0.0:"),
        "inside a container relevo must listen on every interface, not {}",
        settings.bind
    );
}

/// The pgbouncer between Relevo and PostgreSQL pools by transaction, forwards Relevo's
/// database to the postgres service, and Relevo knows it stands behind it.
#[test]
fn pgbouncer_sits_between_relevo_and_postgres_in_transaction_mode() {
    let compose = compose();
    let pooler = service(&compose, POOLER);
    assert_eq!(
        pooler["depends_on"][POSTGRES]["condition"].as_str(),
        Some("service_healthy"),
        "pgbouncer must wait until postgres is healthy"
    );
    assert!(
        service(&compose, RELEVO)["depends_on"][POOLER].is_mapping(),
        "relevo must start after pgbouncer"
    );
    let context = pooler["build"]
        .as_str()
        .expect("pgbouncer is built from a directory of this repository");
    let dockerfile = read_project_file(&format!("{context}/Dockerfile"));
    assert!(dockerfile.contains("apt-get install") && dockerfile.contains("pgbouncer"));

    let ini = read_project_file(&format!("{context}/pgbouncer.ini"));
    let setting = |name: &str| {
        ini.lines()
            .map(str::trim)
            .filter(|line| !line.starts_with(';'))
            .filter_map(|line| line.split_once('='))
            .find(|(key, _)| key.trim() == name)
            .map(|(_, value)| value.trim().to_string())
    };
    assert_eq!(setting("pool_mode").as_deref(), Some("transaction"));
    assert_eq!(setting("listen_port").as_deref(), Some("6432"));
    let forward = setting("relevo").expect("pgbouncer.ini has no `relevo` database");
    assert!(
        forward
            .split_whitespace()
            .any(|part| part == "host=postgres"),
        "the relevo database must be forwarded to the postgres service: {forward}"
    );

    let vars: HashMap<String, String> = environment(service(&compose, RELEVO))
        .into_iter()
        .filter_map(|(name, value)| Some((name, interpolate_defaults(&value?))))
        .collect();
    let settings = Settings::from_vars(&vars).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        settings.db_pooler,
        relevo::config::DbPooler::Transaction,
        "behind pgbouncer in transaction mode relevo needs RELEVO_DB_POOLER=transaction"
    );
}

#[test]
fn dockerfile_final_stage_runs_relevo() {
    let dockerfile = read_project_file("Dockerfile");
    let instructions: Vec<&str> = dockerfile
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    let keyword = |line: &str| {
        line.split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase()
    };
    let final_stage_start = instructions
        .iter()
        .rposition(|line| keyword(line) == "FROM")
        .expect("the Dockerfile has no FROM");
    let final_stage = &instructions[final_stage_start..];

    let entrypoint = final_stage
        .iter()
        .rfind(|line| keyword(line) == "ENTRYPOINT")
        .expect("the Dockerfile's final stage has no ENTRYPOINT");
    assert!(
        entrypoint.contains("relevo"),
        "the final ENTRYPOINT does not run relevo: {entrypoint}"
    );

    let user = final_stage
        .iter()
        .rfind(|line| keyword(line) == "USER")
        .expect("the final stage must switch to a non-root USER");
    assert!(
        !user.contains("root") && !user.ends_with(" 0"),
        "the final stage runs as root: {user}"
    );
}
