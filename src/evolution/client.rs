//! The HTTP side: the `apikey` header, timeouts, and retries with exponential backoff
//! and jitter for the calls that may be repeated.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::header::HeaderValue;
use reqwest::{Method, Url};
use serde_json::{json, Value};

use super::error::EvolutionError;
use super::wire;
use super::{
    ConnectAnswer, CreatedInstance, NewRemoteInstance, RemoteInstance, RemoteState, ServerInfo,
    WebhookConfig, WebsocketConfig,
};
use crate::metrics::Metrics;
use crate::targets::{self, NotPublic, Target, TargetPolicy};

/// Attempts after the first one, for repeatable calls on connection errors and 5xx.
const RETRIES: u32 = 2;
const BACKOFF_BASE: Duration = Duration::from_millis(100);

/// The HTTP clients shared by every call, built once from the configured timeouts. None
/// follows redirects: an answer never sends Relevo (and the `apikey` header) elsewhere.
#[derive(Clone)]
pub struct EvolutionHttp {
    /// For servers on public addresses only (see [`crate::targets`]).
    http: reqwest::Client,
    /// For the servers the policy trusts on any address.
    trusted: reqwest::Client,
    targets: TargetPolicy,
    metrics: Arc<Metrics>,
}

impl EvolutionHttp {
    pub fn new(
        connect_timeout: Duration,
        request_timeout: Duration,
        metrics: Arc<Metrics>,
        targets: TargetPolicy,
    ) -> anyhow::Result<Self> {
        let build = |builder: reqwest::ClientBuilder| {
            builder
                .connect_timeout(connect_timeout)
                .timeout(request_timeout)
                .user_agent(concat!("relevo/", env!("CARGO_PKG_VERSION")))
                .build()
        };
        Ok(Self {
            http: build(targets.client_builder())?,
            trusted: build(targets::open_client_builder())?,
            targets,
            metrics,
        })
    }

    /// A client of the server at `base_url`, authenticated with `api_key` (the server's
    /// global key or an instance's own key). `server_id` is the server's row (an
    /// instance's server), `None` for an instance registered with a URL and no server.
    pub fn server(&self, server_id: Option<i64>, base_url: &str, api_key: &str) -> EvolutionClient {
        let trusted =
            Url::parse(base_url).is_ok_and(|url| self.targets.trusts(&url, Target::Evolution));
        EvolutionClient {
            http: match trusted {
                true => self.trusted.clone(),
                false => self.http.clone(),
            },
            targets: self.targets.clone(),
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key: api_key.to_string(),
            metrics: self.metrics.clone(),
            server: server_id.map_or_else(|| OWN_URL_LABEL.to_string(), |id| id.to_string()),
        }
    }
}

/// Calls one Evolution server. Deliberately not `Debug`: it holds a key.
pub struct EvolutionClient {
    http: reqwest::Client,
    targets: TargetPolicy,
    base_url: String,
    api_key: String,
    metrics: Arc<Metrics>,
    /// The server's id, as the metrics name it: stable across renames and new URLs, and
    /// it tells whoever reads `/metrics` nothing about where the server is.
    server: String,
}

/// The metrics' name for the server of an instance registered with a URL and no server.
const OWN_URL_LABEL: &str = "instance_url";

/// Whether a call may be sent again after a failure without changing its effect.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Repeat {
    Safe,
    Never,
}

impl EvolutionClient {
    /// `GET /`: version and latency. Needs no key.
    pub async fn info(&self) -> Result<ServerInfo, EvolutionError> {
        let started = Instant::now();
        let body = self.call(Method::GET, &[], None, Repeat::Safe).await?;
        wire::server_info(&body, started.elapsed())
    }

    /// `POST /verify-creds`: whether the server takes this client's key as its global key
    /// (an instance's own key is refused here). `GET /` needs no key, so only this says a
    /// server's key is right.
    pub async fn verify_credentials(&self) -> Result<(), EvolutionError> {
        self.call(Method::POST, &["verify-creds"], None, Repeat::Safe)
            .await
            .map(drop)
    }

    /// `POST /instance/create` with Baileys, without connecting it (`qrcode: false`):
    /// `connect` starts its one connection. On the real server a create with `qrcode:
    /// true` starts a connection and a later `connect` a second one beside it, which no
    /// logout stops and which outlives a delete. Never repeated: a second create of the
    /// same name is a 403.
    pub async fn create_instance(
        &self,
        new: &NewRemoteInstance<'_>,
    ) -> Result<CreatedInstance, EvolutionError> {
        let mut body = json!({
            "instanceName": new.name,
            "integration": "WHATSAPP-BAILEYS",
            "qrcode": false,
            "token": new.token,
        });
        if let Some(number) = new.number {
            body["number"] = json!(number);
        }
        let answer = self
            .call(
                Method::POST,
                &["instance", "create"],
                Some(&body),
                Repeat::Never,
            )
            .await?;
        wire::created_instance(&answer)
    }

    /// The instance as `fetchInstances` lists it; `None` when the server does not have it.
    pub async fn fetch_instance(
        &self,
        name: &str,
    ) -> Result<Option<RemoteInstance>, EvolutionError> {
        let mut url = self.url(&["instance", "fetchInstances"])?;
        url.query_pairs_mut().append_pair("instanceName", name);
        match self
            .send(
                "instance/fetchInstances",
                Method::GET,
                url,
                None,
                Repeat::Safe,
            )
            .await
        {
            Ok(body) => wire::fetched_instance(&body, name),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Every instance of the server, in one `GET /instance/fetchInstances` (with the
    /// global key; an instance's own key would list that instance only).
    pub async fn fetch_instances(&self) -> Result<Vec<RemoteInstance>, EvolutionError> {
        let body = self
            .call(
                Method::GET,
                &["instance", "fetchInstances"],
                None,
                Repeat::Safe,
            )
            .await?;
        wire::fetched_instances(&body)
    }

    /// `GET /instance/connect/{name}`: a fresh QR code (and a pairing code for `number`),
    /// or the state of an instance that needs none.
    pub async fn connect(
        &self,
        name: &str,
        number: Option<&str>,
    ) -> Result<ConnectAnswer, EvolutionError> {
        let mut url = self.url(&["instance", "connect", name])?;
        if let Some(number) = number {
            url.query_pairs_mut().append_pair("number", number);
        }
        let body = self
            .send("instance/connect", Method::GET, url, None, Repeat::Safe)
            .await?;
        wire::connect_answer(&body)
    }

    pub async fn connection_state(
        &self,
        name: &str,
    ) -> Result<Option<RemoteState>, EvolutionError> {
        let body = self
            .call(
                Method::GET,
                &["instance", "connectionState", name],
                None,
                Repeat::Safe,
            )
            .await?;
        wire::connection_state(&body)
    }

    /// `POST /message/sendText/{name}`: sends `text` to `number` (digits, with the
    /// country code) and answers the message's WhatsApp id (`key.id`). Never repeated: a
    /// message sent twice cannot be taken back.
    pub async fn send_text(
        &self,
        name: &str,
        number: &str,
        text: &str,
    ) -> Result<String, EvolutionError> {
        let body = json!({ "number": number, "text": text });
        let answer = self
            .call(
                Method::POST,
                &["message", "sendText", name],
                Some(&body),
                Repeat::Never,
            )
            .await?;
        wire::sent_message_id(&answer)
    }

    /// `POST /instance/restart/{name}` (POST in v2, not PUT). Not repeated.
    pub async fn restart(&self, name: &str) -> Result<ConnectAnswer, EvolutionError> {
        let body = self
            .call(
                Method::POST,
                &["instance", "restart", name],
                None,
                Repeat::Never,
            )
            .await?;
        wire::connect_answer(&body)
    }

    pub async fn logout(&self, name: &str) -> Result<(), EvolutionError> {
        self.call(
            Method::DELETE,
            &["instance", "logout", name],
            None,
            Repeat::Safe,
        )
        .await
        .map(drop)
    }

    pub async fn delete_instance(&self, name: &str) -> Result<(), EvolutionError> {
        self.call(
            Method::DELETE,
            &["instance", "delete", name],
            None,
            Repeat::Safe,
        )
        .await
        .map(drop)
    }

    /// `None` when the instance has no webhook.
    pub async fn find_webhook(&self, name: &str) -> Result<Option<WebhookConfig>, EvolutionError> {
        let body = self
            .call(Method::GET, &["webhook", "find", name], None, Repeat::Safe)
            .await?;
        wire::webhook(&body)
    }

    pub async fn set_webhook(
        &self,
        name: &str,
        config: &WebhookConfig,
    ) -> Result<WebhookConfig, EvolutionError> {
        let body = wire::webhook_body(config);
        let answer = self
            .call(
                Method::POST,
                &["webhook", "set", name],
                Some(&body),
                Repeat::Safe,
            )
            .await?;
        Ok(wire::webhook(&answer)?.unwrap_or_else(|| config.clone()))
    }

    /// `None` when websockets are disabled on the server (it answers an empty body).
    pub async fn find_websocket(
        &self,
        name: &str,
    ) -> Result<Option<WebsocketConfig>, EvolutionError> {
        let body = self
            .call(
                Method::GET,
                &["websocket", "find", name],
                None,
                Repeat::Safe,
            )
            .await?;
        wire::websocket(&body)
    }

    /// `None` when websockets are disabled on the server, so nothing was stored.
    pub async fn set_websocket(
        &self,
        name: &str,
        config: &WebsocketConfig,
    ) -> Result<Option<WebsocketConfig>, EvolutionError> {
        let body = wire::websocket_body(config);
        let answer = self
            .call(
                Method::POST,
                &["websocket", "set", name],
                Some(&body),
                Repeat::Safe,
            )
            .await?;
        wire::websocket(&answer)
    }

    /// The address of `segments` on this server. Base URLs are parsed on input; one that
    /// is not an http(s) URL all the same (a row edited by hand) is a server that cannot
    /// be reached, not a panic.
    fn url(&self, segments: &[&str]) -> Result<Url, EvolutionError> {
        let unusable = || {
            EvolutionError::Unreachable(format!(
                "the server's base URL `{}` is not an http(s) URL",
                self.base_url
            ))
        };
        let mut url = Url::parse(&self.base_url).map_err(|_| unusable())?;
        url.path_segments_mut()
            .map_err(|()| unusable())?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    async fn call(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&Value>,
        repeat: Repeat,
    ) -> Result<String, EvolutionError> {
        let operation = match segments {
            [] => "info".to_string(),
            [group, action, ..] => format!("{group}/{action}"),
            [group] => group.to_string(),
        };
        self.send(&operation, method, self.url(segments)?, body, repeat)
            .await
    }

    /// Sends one call, again after a backoff when it may be repeated and failed on the
    /// way (connection error or 5xx). A timeout is not repeated: it already took long.
    async fn send(
        &self,
        operation: &str,
        method: Method,
        url: Url,
        body: Option<&Value>,
        repeat: Repeat,
    ) -> Result<String, EvolutionError> {
        let attempts = if repeat == Repeat::Safe {
            1 + RETRIES
        } else {
            1
        };
        let mut attempt = 1;
        loop {
            let started = std::time::Instant::now();
            let result = self.send_once(method.clone(), url.clone(), body).await;
            let outcome = result.as_ref().err().map_or("ok", EvolutionError::kind);
            log::debug!(
                "Evolution API {method} {}: {outcome} in {:?}",
                url.path(),
                started.elapsed()
            );
            self.metrics
                .evolution_call(&self.server, operation, outcome);
            match result {
                Err(error) if error.is_transient() && attempt < attempts => {
                    log::warn!(
                        "Evolution API {method} {} failed ({error}); attempt {} of {attempts} follows",
                        url.path(),
                        attempt + 1
                    );
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn send_once(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<String, EvolutionError> {
        let mut key = HeaderValue::from_str(&self.api_key).map_err(|_| EvolutionError::Status {
            status: 401,
            message: "the API key cannot be sent in an HTTP header".into(),
            readable: false,
        })?;
        key.set_sensitive(true);
        // A literal address is never resolved, so the resolver cannot refuse it.
        self.targets
            .check_literal(&url, Target::Evolution)
            .map_err(|refused| EvolutionError::NotPublic(refused.to_string()))?;
        let mut request = self.http.request(method, url).header("apikey", key);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        let text = response.text().await.map_err(transport_error)?;
        if status.is_success() {
            Ok(text)
        } else {
            Err(EvolutionError::from_status(status.as_u16(), &text))
        }
    }
}

fn transport_error(error: reqwest::Error) -> EvolutionError {
    if NotPublic::caused(&error) {
        EvolutionError::NotPublic(causes(&error))
    } else if error.is_timeout() && !error.is_connect() {
        EvolutionError::Timeout
    } else if !error.is_connect() && (error.is_request() || error.is_body()) {
        // The request went out and the connection broke before the whole answer came:
        // the server may have carried it out.
        EvolutionError::Interrupted(causes(&error))
    } else {
        EvolutionError::Unreachable(causes(&error))
    }
}

/// The error with its cause chain, which names the refusal or DNS failure (the URL
/// carries no secret).
fn causes(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// Exponential backoff with jitter: half the step fixed, half random.
fn backoff(attempt: u32) -> Duration {
    let step = BACKOFF_BASE * 2u32.pow(attempt - 1);
    let half = step / 2;
    half + rand::thread_rng().gen_range(Duration::ZERO..=half)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client with the default settings.
    fn http() -> EvolutionHttp {
        let settings = crate::config::Settings::from_vars(&Default::default()).unwrap();
        EvolutionHttp::new(
            Duration::from_secs(1),
            Duration::from_secs(1),
            Arc::new(Metrics::new()),
            TargetPolicy::new(&settings),
        )
        .unwrap()
    }

    #[test]
    fn backoff_grows_and_jitters_within_bounds() {
        for attempt in 1..=3 {
            let step = BACKOFF_BASE * 2u32.pow(attempt - 1);
            let delay = backoff(attempt);
            assert!(delay >= step / 2 && delay <= step, "{delay:?}");
        }
    }

    #[test]
    fn paths_are_appended_to_the_base_url_and_names_escaped() {
        let http = http();
        let client = http.server(Some(1), "https://evo.example.com/api/", "key");
        assert_eq!(
            client
                .url(&["instance", "connect", "a b"])
                .unwrap()
                .as_str(),
            "https://evo.example.com/api/instance/connect/a%20b"
        );
        assert_eq!(
            http.server(None, "http://evo:8080", "k")
                .url(&[])
                .unwrap()
                .as_str(),
            "http://evo:8080/"
        );
    }

    #[test]
    fn a_stored_base_url_that_is_not_a_url_is_unreachable_not_a_panic() {
        let http = http();
        for base_url in ["not a url", "mailto:evo@example.com"] {
            let error = http
                .server(None, base_url, "k")
                .url(&["instance"])
                .unwrap_err();
            assert!(
                matches!(&error, EvolutionError::Unreachable(message) if message.contains(base_url)),
                "{error:?}"
            );
        }
    }
}
