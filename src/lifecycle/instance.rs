//! An instance Relevo can call on its Evolution server, and the lifecycle operations
//! on it: each calls Evolution and records what it answered in the instance.

use chrono::NaiveDate;
use serde_json::Value;

use super::error::{LifecycleError, RefusedAction, ServerRef};
use super::status::{self, connect_changes, local_status, status_changes, webhook_outranks};
use super::webhook_token::{self, PointError};
use crate::audit::{Action, Auditor};
use crate::db::evolution_servers::{self, EvolutionServer};
use crate::db::instances::{self, Instance};
use crate::db::remote_instances::RemoteChanges;
use crate::db::tenants::Tenant;
use crate::domain::ConnectionStatus;
use crate::evolution::{
    EvolutionClient, EvolutionError, RemoteState, WebhookConfig, WebsocketConfig,
};
use crate::state::AppState;

/// How the audit log keeps an instance (its list form, built by the caller).
pub type Snapshot = fn(&Instance, &Tenant, NaiveDate) -> diesel::QueryResult<Value>;

/// Who asked for a change, and how to write the instance into the audit log: the row is
/// written in the transaction that records the change.
#[derive(Clone)]
pub struct Audit {
    pub auditor: Auditor,
    pub snapshot: Snapshot,
}

impl Audit {
    pub fn new(auditor: Auditor, snapshot: Snapshot) -> Self {
        Self { auditor, snapshot }
    }
}

/// The local date of a tenant, from its IANA zone.
pub fn tenant_today(state: &AppState, tenant: &Tenant) -> NaiveDate {
    state.clock.today_in(crate::sender::tenant_zone(tenant))
}

/// An instance with the server it lives on and a client for that server: authenticated
/// with the server's key, or the instance's own key when the server has none.
pub struct Reachable {
    pub tenant: Tenant,
    pub instance: Instance,
    pub server: EvolutionServer,
    pub client: EvolutionClient,
}

impl Reachable {
    pub async fn of(
        state: &AppState,
        tenant: Tenant,
        instance: Instance,
    ) -> Result<Self, LifecycleError> {
        let server = instance_server(state, &instance).await?;
        let sealed_key = server
            .api_key_encrypted
            .as_deref()
            .unwrap_or(&instance.evolution_api_key_encrypted);
        let key = state
            .cipher
            .decrypt(sealed_key)
            .map_err(crate::error::ApiError::internal)?;
        let client = state
            .evolution
            .server(Some(server.id), &server.base_url, &key);
        Ok(Self {
            tenant,
            instance,
            server,
            client,
        })
    }

    pub fn name(&self) -> &str {
        &self.instance.instance_name
    }

    pub fn server_ref(&self) -> ServerRef {
        ServerRef::from(&self.server)
    }

    /// Applies what Evolution answered to the instance.
    pub async fn record(
        &self,
        state: &AppState,
        changes: RemoteChanges,
    ) -> Result<Instance, LifecycleError> {
        let id = self.instance.id;
        state
            .transaction(move |conn| Ok(status::record(conn, id, &changes)?))
            .await?
            .ok_or(LifecycleError::NotFound)
    }

    /// As [`record`](Self::record), for a change someone asked for: the audit row is
    /// written in the transaction that applies the answer.
    pub async fn record_audited(
        &self,
        state: &AppState,
        changes: RemoteChanges,
        audit: Audit,
        action: Action,
    ) -> Result<Instance, LifecycleError> {
        let (tenant, id) = (self.tenant.clone(), self.instance.id);
        let today = tenant_today(state, &self.tenant);
        let Audit { auditor, snapshot } = audit;
        state
            .transaction(move |conn| {
                let Some(before) = instances::find_for_update(conn, tenant.id, id)? else {
                    return Ok(None);
                };
                let Some(updated) = status::record(conn, id, &changes)? else {
                    return Ok(None);
                };
                auditor.record(
                    conn,
                    action,
                    id,
                    Some(tenant.id),
                    Some(snapshot(&before, &tenant, today)?),
                    Some(snapshot(&updated, &tenant, today)?),
                )?;
                Ok(Some(updated))
            })
            .await?
            .ok_or(LifecycleError::NotFound)
    }

    /// Records a change made on Evolution that changes nothing in Relevo's database
    /// (webhook and websocket settings): `after` is what Evolution now holds.
    pub async fn audit_remote_change(
        &self,
        state: &AppState,
        auditor: Auditor,
        action: Action,
        after: Value,
    ) -> Result<(), LifecycleError> {
        let (tenant_id, id) = (self.tenant.id, self.instance.id);
        state
            .transaction(move |conn| {
                auditor.record(conn, action, id, Some(tenant_id), None, Some(after.clone()))?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// The error for a failed call. When Evolution no longer has the instance, the
    /// instance is marked `error` and the answer says to provision it again.
    pub async fn failure(&self, state: &AppState, error: EvolutionError) -> LifecycleError {
        if !error.is_not_found() {
            return self.upstream_error(error);
        }
        let changes = RemoteChanges {
            connection_status: Some(ConnectionStatus::Error),
            last_checked_at: Some(state.clock.now().naive_utc()),
            ..RemoteChanges::default()
        };
        if let Err(db_error) = self.record(state, changes).await {
            return db_error;
        }
        LifecycleError::InstanceMissing {
            server: self.server_ref(),
            instance_name: self.name().to_string(),
        }
    }

    pub fn upstream_error(&self, error: EvolutionError) -> LifecycleError {
        LifecycleError::Evolution {
            server: self.server_ref(),
            error,
        }
    }
}

/// The active server an instance lives on, or why Relevo may not call it.
pub async fn instance_server(
    state: &AppState,
    instance: &Instance,
) -> Result<EvolutionServer, LifecycleError> {
    let server = match instance.evolution_server_id {
        Some(id) => {
            state
                .db(move |conn| Ok(evolution_servers::find(conn, id)?))
                .await?
        }
        None => None,
    };
    let server = server.ok_or_else(|| {
        LifecycleError::NoServer("The instance belongs to no Evolution server.".into())
    })?;
    if !server.is_active {
        return Err(LifecycleError::ServerInactive(ServerRef::from(&server)));
    }
    Ok(server)
}

/// Asks for a new QR code (or a pairing code for `number`) and records the answer.
pub async fn connect(
    state: &AppState,
    target: &Reachable,
    number: Option<&str>,
    audit: Audit,
) -> Result<Instance, LifecycleError> {
    let answer = match target.client.connect(target.name(), number).await {
        Ok(answer) => answer,
        Err(error) => return Err(target.failure(state, error).await),
    };
    let changes = connect_changes(&target.instance, answer, state.clock.now().naive_utc());
    target
        .record_audited(state, changes, audit, Action::InstanceConnect)
        .await
}

/// Reads the live state and records it (unless a webhook outranks it: see
/// [`webhook_outranks`]).
pub async fn connection_state(
    state: &AppState,
    target: &Reachable,
) -> Result<Instance, LifecycleError> {
    let remote = match target.client.connection_state(target.name()).await {
        Ok(remote) => remote,
        Err(error) => return Err(target.failure(state, error).await),
    };
    let now = state.clock.now().naive_utc();
    let cutoff = now - state.settings.webhooks.status_settle();
    let changes = if webhook_outranks(&target.instance, local_status(remote), cutoff) {
        RemoteChanges {
            last_checked_at: Some(now),
            ..RemoteChanges::default()
        }
    } else {
        status_changes(&target.instance, remote, now)
    };
    target.record(state, changes).await
}

/// Logs WhatsApp out. Done only when Evolution did it: its 400 "not connected" (the
/// instance may be reconnecting, with its session alive) and a 200 `{"error": true}` are
/// refusals that change nothing and write no audit row.
pub async fn logout(
    state: &AppState,
    target: &Reachable,
    audit: Audit,
) -> Result<Instance, LifecycleError> {
    match target.client.logout(target.name()).await {
        Ok(()) => {}
        Err(error) if error.is_not_connected() || matches!(error, EvolutionError::Refused(_)) => {
            return Err(LifecycleError::Refused {
                server: target.server_ref(),
                instance_name: target.name().to_string(),
                action: RefusedAction::Logout,
                upstream: error.upstream().map(str::to_string),
            })
        }
        Err(error) => return Err(target.failure(state, error).await),
    }
    let now = state.clock.now().naive_utc();
    let changes = RemoteChanges {
        qr_code: Some(None),
        qr_code_base64: Some(None),
        pairing_code: Some(None),
        qr_updated_at: Some(None),
        ..status_changes(&target.instance, Some(RemoteState::Close), now)
    };
    target
        .record_audited(state, changes, audit, Action::InstanceLogout)
        .await
}

/// Restarts the instance. A refusal (Evolution's 200 `{"error": true}` while the
/// instance is not connected) changes nothing and writes no audit row.
pub async fn restart(
    state: &AppState,
    target: &Reachable,
    audit: Audit,
) -> Result<Instance, LifecycleError> {
    let now = state.clock.now().naive_utc();
    match target.client.restart(target.name()).await {
        Ok(answer) => {
            let changes = connect_changes(&target.instance, answer, now);
            target
                .record_audited(state, changes, audit, Action::InstanceRestart)
                .await
        }
        Err(error @ EvolutionError::Refused(_)) => Err(LifecycleError::Refused {
            server: target.server_ref(),
            instance_name: target.name().to_string(),
            action: RefusedAction::Restart,
            upstream: error.upstream().map(str::to_string),
        }),
        Err(error) => Err(target.failure(state, error).await),
    }
}

/// What deleting an instance on Evolution left there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteDeletion {
    /// Deleted (or Evolution did not have it), nothing of it running.
    Clean,
    /// Deleted, but Evolution refused every logout while its connection kept
    /// reconnecting: the real server can keep such a socket running under the deleted
    /// name until it restarts. Its webhook was switched off first, so it tells Relevo
    /// nothing.
    MayKeepReconnecting,
}

/// How a delete catches a looping connection at a `connecting` moment, the only one at
/// which Evolution accepts a logout (and the logout stops the loop): the live state is
/// read every `LIVE_READ_PAUSE`, at most `LIVE_READS` times in all (the real server's
/// `connecting` moments are brief, a few a second), with at most `LOGOUT_TRIES` logouts.
const LOGOUT_TRIES: usize = 8;
const LIVE_READS: usize = 60;
const LIVE_READ_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// Deletes a provisioned instance on Evolution; one Evolution does not have is done.
///
/// Nothing of it may keep running: the real server can leave a socket reconnecting under
/// a deleted name when the delete lands at a `close` moment of its loop. So its webhook is
/// switched off, its connection logged out (see [`stop_reconnecting`]), and then it is
/// deleted; its webhook token dies with its row.
pub async fn delete_remotely(
    state: &AppState,
    tenant: Tenant,
    instance: Instance,
) -> Result<RemoteDeletion, LifecycleError> {
    let target = Reachable::of(state, tenant, instance).await?;
    let silent = WebhookConfig {
        enabled: false,
        ..WebhookConfig::default()
    };
    match target.client.set_webhook(target.name(), &silent).await {
        Err(error) if error.is_not_found() => return Ok(RemoteDeletion::Clean),
        Err(error) => log::info!(
            "webhook of `{}` not switched off before its delete: {error}",
            target.name()
        ),
        Ok(_) => {}
    }
    let stopped = stop_reconnecting(&target).await;
    match target.client.delete_instance(target.name()).await {
        Err(error) if !error.is_not_found() => Err(target.upstream_error(error)),
        _ if stopped => Ok(RemoteDeletion::Clean),
        _ => Ok(RemoteDeletion::MayKeepReconnecting),
    }
}

/// How an instance was deleted, as the answer tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deletion {
    /// Gone from Relevo, and from Evolution when Relevo had created it there.
    Clean,
    /// Gone, but Evolution may keep its connection reconnecting
    /// ([`RemoteDeletion::MayKeepReconnecting`]).
    MayKeepReconnecting,
    /// Gone from Relevo although deleting it on Evolution failed (`force`).
    Forced,
}

/// Deletes an instance of `tenant`: on Evolution first when Relevo provisioned it (when
/// that fails nothing is deleted, unless `force`), then its row with its audit row in one
/// transaction. The audit row notes what may be left on Evolution.
pub async fn delete(
    state: &AppState,
    tenant: Tenant,
    instance: Instance,
    force: bool,
    audit: Audit,
) -> Result<Deletion, LifecycleError> {
    let id = instance.id;
    let today = tenant_today(state, &tenant);
    // Noted in the audit log: the instance may still exist (or run) on Evolution.
    let (deletion, left_on_evolution) = if instance.provisioned {
        match delete_remotely(state, tenant.clone(), instance).await {
            Ok(RemoteDeletion::Clean) => (Deletion::Clean, None),
            Ok(RemoteDeletion::MayKeepReconnecting) => (
                Deletion::MayKeepReconnecting,
                Some(serde_json::json!({"may_keep_reconnecting": true})),
            ),
            Err(error) if force => {
                let error = crate::error::ApiError::from(error);
                log::warn!("instance {id} deleted with force although Evolution failed: {error}");
                (
                    Deletion::Forced,
                    Some(serde_json::json!({"force": true, "deleted_on_evolution": false})),
                )
            }
            Err(error) => return Err(error),
        }
    } else {
        (Deletion::Clean, None)
    };
    let Audit { auditor, snapshot } = audit;
    state
        .transaction(move |conn| {
            // Gone already: another request deleted it meanwhile, with its own audit row.
            let Some(deleted) = instances::delete(conn, id)? else {
                return Ok(());
            };
            auditor.record(
                conn,
                Action::InstanceDeleted,
                id,
                Some(tenant.id),
                Some(snapshot(&deleted, &tenant, today)?),
                left_on_evolution,
            )?;
            Ok(())
        })
        .await?;
    Ok(deletion)
}

/// Logs the instance out so that nothing keeps reconnecting; answers `false` when its
/// connection may still be reconnecting. Evolution refuses a logout (400 "not
/// connected") at every `close` moment of a loop, so after a refusal the live state is
/// watched for the next `connecting` moment, and the logout tried again then. An instance
/// that is simply closed refuses too, and its logout stops nothing because nothing runs:
/// only one Relevo last saw `connecting`, or whose live state says so, is watched.
async fn stop_reconnecting(target: &Reachable) -> bool {
    let name = target.name();
    let mut looping = target.instance.connection_status == ConnectionStatus::Connecting;
    let mut reads = 0;
    for _ in 0..LOGOUT_TRIES {
        match target.client.logout(name).await {
            Ok(()) => return true,
            Err(error) if error.is_not_found() => return true,
            Err(error) if error.is_not_connected() => {}
            Err(error) => {
                log::info!("`{name}` not logged out before its delete: {error}");
                return !looping;
            }
        }
        match next_connecting_moment(target, &mut reads, looping).await {
            Some(true) => looping = true,
            Some(false) => return true,
            None => break,
        }
    }
    log::warn!("`{name}` refused every logout before its delete: it may keep reconnecting");
    !looping
}

/// Reads the live state until it says `connecting` (`Some(true)`); `Some(false)` when it
/// says `close` and the instance is not believed to loop; `None` when the reads ran out
/// or failed.
async fn next_connecting_moment(
    target: &Reachable,
    reads: &mut usize,
    looping: bool,
) -> Option<bool> {
    while *reads < LIVE_READS {
        *reads += 1;
        match target.client.connection_state(target.name()).await {
            Ok(Some(RemoteState::Connecting | RemoteState::Open)) => return Some(true),
            Ok(_) if !looping => return Some(false),
            Ok(_) => tokio::time::sleep(LIVE_READ_PAUSE).await,
            Err(error) => {
                log::info!(
                    "live state of `{}` unread before its delete: {error}",
                    target.name()
                );
                return None;
            }
        }
    }
    None
}

/// The instance's webhook on Evolution (disabled with no URL when none is set), with
/// Relevo's own token masked.
pub async fn webhook(
    state: &AppState,
    target: &Reachable,
) -> Result<WebhookConfig, LifecycleError> {
    match target.client.find_webhook(target.name()).await {
        Ok(config) => Ok(webhook_token::masked(config.unwrap_or_default())),
        Err(error) => Err(target.failure(state, error).await),
    }
}

/// Sets the webhook on Evolution and audits what it stored (`after` of it). A URL of
/// Relevo's own inbound webhook (as shown, masked) gets a new token of the instance's own.
pub async fn set_webhook(
    state: &AppState,
    target: &Reachable,
    config: &WebhookConfig,
    auditor: Auditor,
    after: impl FnOnce(&WebhookConfig) -> Value,
) -> Result<WebhookConfig, LifecycleError> {
    let to_relevo = config
        .url
        .as_deref()
        .is_some_and(|url| webhook_token::is_relevo_inbound(state, url));
    let stored = if to_relevo {
        point_at_relevo(state, target, config.clone()).await?
    } else {
        match target.client.set_webhook(target.name(), config).await {
            Ok(stored) => stored,
            Err(error) => return Err(target.failure(state, error).await),
        }
    };
    target
        .audit_remote_change(state, auditor, Action::InstanceWebhookSet, after(&stored))
        .await?;
    Ok(webhook_token::masked(stored))
}

/// Gives the instance a new webhook token: Evolution posts its events to Relevo with it,
/// and the token before stops working. Audited; answers the webhook, masked.
pub async fn rotate_webhook_token(
    state: &AppState,
    target: &Reachable,
    auditor: Auditor,
) -> Result<WebhookConfig, LifecycleError> {
    let prefix = webhook_token::inbound_prefix(state).ok_or(LifecycleError::NoPublicUrl)?;
    let stored = point_at_relevo(state, target, webhook_token::relevo_webhook(prefix)).await?;
    let after = serde_json::json!({"webhook_token": "rotated"});
    target
        .audit_remote_change(state, auditor, Action::InstanceWebhookTokenRotated, after)
        .await?;
    Ok(webhook_token::masked(stored))
}

async fn point_at_relevo(
    state: &AppState,
    target: &Reachable,
    template: WebhookConfig,
) -> Result<WebhookConfig, LifecycleError> {
    let pointed = webhook_token::point_at_relevo(
        state,
        &target.client,
        target.instance.id,
        target.name(),
        template,
    )
    .await;
    match pointed {
        Ok(stored) => Ok(stored),
        Err(PointError::NoPublicUrl) => Err(LifecycleError::NoPublicUrl),
        Err(PointError::Evolution(error)) => Err(target.failure(state, error).await),
        Err(PointError::Api(error)) => Err(error.into()),
    }
}

/// The instance's websocket settings on Evolution (disabled when none are set).
pub async fn websocket(
    state: &AppState,
    target: &Reachable,
) -> Result<WebsocketConfig, LifecycleError> {
    match target.client.find_websocket(target.name()).await {
        Ok(config) => Ok(config.unwrap_or_default()),
        Err(error) => Err(target.failure(state, error).await),
    }
}

/// Sets the websocket settings on Evolution and audits what it stored.
pub async fn set_websocket(
    state: &AppState,
    target: &Reachable,
    config: &WebsocketConfig,
    auditor: Auditor,
) -> Result<WebsocketConfig, LifecycleError> {
    match target.client.set_websocket(target.name(), config).await {
        Ok(Some(stored)) => {
            let after = serde_json::json!({"enabled": stored.enabled, "events": stored.events});
            target
                .audit_remote_change(state, auditor, Action::InstanceWebsocketSet, after)
                .await?;
            Ok(stored)
        }
        Ok(None) => Err(LifecycleError::WebsocketDisabled(target.server_ref())),
        Err(error) => Err(target.failure(state, error).await),
    }
}
