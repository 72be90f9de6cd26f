//! Each instance's own inbound webhook token (SPEC §8). Anyone holding an instance's key
//! can read its webhook URL from Evolution, so the token in that URL speaks only for that
//! instance: a sender of one tenant who reads it cannot touch another tenant's instance.
//!
//! Pointing an instance's webhook at Relevo mints a new token, stages its digest (the
//! token is accepted from then on), sets the URL on Evolution, and only when Evolution
//! took it makes it the instance's token: the one before stops at that moment. Nothing
//! sent by Evolution in between is refused. Rotations of one instance take turns through
//! a lease, so the token Relevo keeps is the one Evolution has.

use std::time::Duration;

use rand::distributions::{Alphanumeric, DistString};

use super::lease::HeldLease;
use crate::auth::sender::hash_token;
use crate::db::evolution_servers::{self, EvolutionServer};
use crate::db::webhook_tokens;
use crate::error::ApiError;
use crate::evolution::{EvolutionClient, EvolutionError, WebhookConfig};
use crate::state::AppState;

/// The events Relevo's inbound webhook handles (SPEC section 8).
pub const INBOUND_EVENTS: &[&str] = &[
    "QRCODE_UPDATED",
    "CONNECTION_UPDATE",
    "MESSAGES_UPSERT",
    "MESSAGES_UPDATE",
    "LOGOUT_INSTANCE",
    "REMOVE_INSTANCE",
];

/// Where the token stands in Relevo's inbound webhook URL.
const INBOUND_PATH: &str = "/api/v1/webhooks/evolution/";

/// How a token is shown to people: never in full.
const MASK: &str = "********";

/// Relevo's inbound webhook URL without its token, when `RELEVO_PUBLIC_URL` says how
/// Evolution reaches Relevo.
pub fn inbound_prefix(state: &AppState) -> Option<String> {
    let public_url = state.settings.public_url.as_ref()?;
    Some(format!(
        "{}{INBOUND_PATH}",
        public_url.as_str().trim_end_matches('/')
    ))
}

/// The webhook Relevo sets for an instance: its inbound events, to `url`.
pub fn relevo_webhook(url: String) -> WebhookConfig {
    WebhookConfig {
        enabled: true,
        url: Some(url),
        events: INBOUND_EVENTS.iter().map(|e| e.to_string()).collect(),
        by_events: false,
        base64: false,
        headers: Default::default(),
    }
}

/// Whether `url` is Relevo's own inbound webhook (with any token, or masked).
pub fn is_relevo_inbound(state: &AppState, url: &str) -> bool {
    inbound_prefix(state).is_some_and(|prefix| url.starts_with(&prefix))
}

/// `config` as people may see it: a token of Relevo's in its URL is masked.
pub fn masked(mut config: WebhookConfig) -> WebhookConfig {
    config.url = config.url.map(|url| mask_url(&url));
    config
}

fn mask_url(url: &str) -> String {
    let Some(start) = url.find(INBOUND_PATH).map(|at| at + INBOUND_PATH.len()) else {
        return url.to_string();
    };
    let rest = &url[start..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    format!("{}{MASK}{}", &url[..start], &rest[end..])
}

/// Why pointing an instance's webhook at Relevo did not happen.
#[derive(Debug)]
pub enum PointError {
    /// `RELEVO_PUBLIC_URL` is not set: Evolution has no way to reach Relevo.
    NoPublicUrl,
    /// Evolution did not take the webhook; the instance's token is unchanged.
    Evolution(EvolutionError),
    Api(ApiError),
}

impl From<ApiError> for PointError {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

/// Sets `template` on Evolution for the instance, its URL Relevo's inbound webhook with a
/// new token of the instance's own, and answers what Evolution stored (its URL holds the
/// token: show it [`masked`]).
pub async fn point_at_relevo(
    state: &AppState,
    client: &EvolutionClient,
    instance_id: i64,
    instance_name: &str,
    template: WebhookConfig,
) -> Result<WebhookConfig, PointError> {
    let prefix = inbound_prefix(state).ok_or(PointError::NoPublicUrl)?;
    let request_timeout = Duration::from_millis(state.settings.evolution.request_timeout_ms);
    let patience = request_timeout * 2 + Duration::from_secs(1);
    let ttl = chrono::Duration::from_std(patience).unwrap_or_else(|_| chrono::Duration::days(1))
        + chrono::Duration::seconds(30);
    let lease =
        HeldLease::wait(state, format!("webhook-token:{instance_id}"), ttl, patience).await?;
    let result = rotate(state, client, instance_id, instance_name, &prefix, template).await;
    if let Some(lease) = lease {
        lease.release(state).await;
    }
    result
}

async fn rotate(
    state: &AppState,
    client: &EvolutionClient,
    instance_id: i64,
    instance_name: &str,
    prefix: &str,
    template: WebhookConfig,
) -> Result<WebhookConfig, PointError> {
    let token = Alphanumeric.sample_string(&mut rand::thread_rng(), 40);
    let digest = hash_token(&token);
    let now = state.clock.now().naive_utc();
    let staged = digest.clone();
    state
        .write(move |conn| Ok(webhook_tokens::stage(conn, instance_id, &staged, now)?))
        .await?;
    let config = WebhookConfig {
        url: Some(format!("{prefix}{token}")),
        ..template
    };
    match client.set_webhook(instance_name, &config).await {
        Ok(stored) => {
            let now = state.clock.now().naive_utc();
            state
                .write(move |conn| Ok(webhook_tokens::promote(conn, instance_id, &digest, now)?))
                .await?;
            Ok(stored)
        }
        Err(error) => {
            state
                .write(move |conn| Ok(webhook_tokens::discard(conn, instance_id, &digest)?))
                .await?;
            Err(PointError::Evolution(error))
        }
    }
}

/// Moves the server's instances still reached through its shared token (from before each
/// instance had its own) to tokens of their own, then forgets the shared token. An
/// instance whose webhook on Evolution does not use the shared token is left as it is.
/// Runs in the sync, under its lease; what fails now is tried again on the next run, and
/// until then the shared token keeps speaking for those instances only.
pub async fn move_off_shared_token(
    state: &AppState,
    server: &EvolutionServer,
    client: &EvolutionClient,
) -> Result<(), ApiError> {
    let Some(sealed) = &server.webhook_token_encrypted else {
        return Ok(());
    };
    if inbound_prefix(state).is_none() {
        return Ok(());
    }
    let shared = state.cipher.decrypt(sealed).map_err(ApiError::internal)?;
    let server_id = server.id;
    let waiting = state
        .db(move |conn| Ok(webhook_tokens::without_own_on_server(conn, server_id)?))
        .await?;
    let mut all_moved = true;
    for (id, name) in waiting {
        let uses_shared = match client.find_webhook(&name).await {
            Ok(config) => config.filter(|config| {
                config
                    .url
                    .as_deref()
                    .is_some_and(|url| url.contains(shared.as_str()))
            }),
            Err(error) if error.is_not_found() => None,
            Err(error) => {
                log::warn!("webhook of `{name}` not checked for its shared token: {error}");
                all_moved = false;
                None
            }
        };
        let Some(config) = uses_shared else { continue };
        match point_at_relevo(state, client, id, &name, config).await {
            Ok(_) => {}
            Err(PointError::Api(error)) => return Err(error),
            Err(error) => {
                log::warn!("webhook of `{name}` still on its server's shared token: {error:?}");
                all_moved = false;
            }
        }
    }
    if all_moved {
        state
            .write(move |conn| Ok(evolution_servers::retire_webhook_token(conn, server_id)?))
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_in_relevos_url_is_masked_and_nothing_else() {
        assert_eq!(
            mask_url("https://relevo.example/api/v1/webhooks/evolution/AbC123"),
            "https://relevo.example/api/v1/webhooks/evolution/********"
        );
        assert_eq!(
            mask_url("https://relevo.example/api/v1/webhooks/evolution/AbC123/connection-update"),
            "https://relevo.example/api/v1/webhooks/evolution/********/connection-update"
        );
        assert_eq!(
            mask_url("https://hooks.example/receive?x=1"),
            "https://hooks.example/receive?x=1"
        );
    }
}
