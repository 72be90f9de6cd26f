//! The sync (SPEC §7, seed 000): one `fetchInstances` per Evolution server, and what it
//! says written to every Relevo instance on that server. A server that cannot be asked
//! changes none of its instances: an unreachable server is no proof they are gone.
//!
//! One run at a time, across processes: a run holds the `sync` lease (renewed before
//! each server) and is logged in `sync_runs`.

use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, NaiveDateTime};
use serde::Serialize;
use utoipa::ToSchema;

use crate::audit::{Action, Auditor};
use crate::db::evolution_servers::{self, EvolutionServer};
use crate::db::instances::Instance;
use crate::db::leases;
use crate::db::remote_instances::RemoteChanges;
use crate::db::sync_runs::{self, RunTotals, SyncScope};
use crate::domain::ConnectionStatus;
use crate::error::{ApiError, ErrorKey, UpstreamServer};
use crate::events;
use crate::evolution::{phone_of_jid, EvolutionClient, RemoteInstance};
use crate::state::AppState;

use super::status::{local_status, status_changes, webhook_outranks};
use super::webhook_token;

/// The lease every sync run holds.
pub const LEASE: &str = "sync";

/// What started a run: the scheduler, or a super admin's request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = SyncTrigger)]
pub enum Trigger {
    Schedule,
    Manual,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Manual => "manual",
        }
    }
}

/// An instance the run could not check, and why. `instance_name` is `null` when the
/// whole run failed.
#[derive(Serialize, serde::Deserialize, ToSchema, Clone, Debug, PartialEq, Eq)]
pub struct SyncFailure {
    #[schema(required = true, example = "principal_campana")]
    pub instance_name: Option<String>,
    #[schema(example = "Evolution API server `main` is unreachable.")]
    pub error: String,
    /// A stable key: `evolution.unavailable`, `evolution.timeout`, `evolution.unauthorized`,
    /// `evolution.rejected`, `evolution.server_inactive`, `evolution.no_server`,
    /// `evolution.no_global_key` or `sync.failed`.
    pub error_key: ErrorKey,
}

/// What a sync run did.
#[derive(Serialize, ToSchema, Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Instances whose server answered (found there or not).
    #[schema(example = 12)]
    pub synced: i32,
    /// Instances where something other than `last_checked_at` changed.
    #[schema(example = 3)]
    pub updated: i32,
    /// Instances the server no longer has: now `connection_status = error`.
    #[schema(example = 1)]
    pub orphaned: i32,
    /// Instances that could not be checked; none of them was changed.
    pub errors: Vec<SyncFailure>,
}

/// Who holds the lease during a run.
pub struct LeaseHolder<'a> {
    pub holder: &'a str,
    pub ttl: Duration,
}

/// How long a run holds the lease before it must renew it (before each server): long
/// enough for one `fetchInstances` with its retries, short enough that a crashed
/// runner's lease frees soon.
pub fn lease_ttl(state: &AppState) -> Duration {
    let call =
        state.settings.evolution.request_timeout_ms + state.settings.evolution.connect_timeout_ms;
    Duration::milliseconds(i64::try_from(call * 4).unwrap_or(i64::MAX / 2))
        .max(Duration::seconds(60))
}

/// A sync a super admin asked for: it runs now, or answers 409 `sync.in_progress`
/// while another run holds the lease.
pub async fn run_manual(
    state: &AppState,
    scope: SyncScope,
    auditor: Auditor,
) -> Result<SyncReport, ApiError> {
    let holder = format!("manual-{}", uuid::Uuid::new_v4());
    let lease = LeaseHolder {
        holder: &holder,
        ttl: lease_ttl(state),
    };
    if !acquire(state, &lease).await? {
        return Err(ApiError::conflict(
            ErrorKey::SyncInProgress,
            "Another sync is running; try again when it has finished (GET /api/v1/sync-runs).",
        ));
    }
    let result = run_logged(state, scope, Trigger::Manual, Some(auditor), &lease).await;
    release(state, &lease).await;
    result
}

/// Takes or renews the lease for `lease.holder`.
pub async fn acquire(state: &AppState, lease: &LeaseHolder<'_>) -> Result<bool, ApiError> {
    let (holder, ttl) = (lease.holder.to_string(), lease.ttl);
    let now = state.clock.now().naive_utc();
    state
        .write(move |conn| Ok(leases::try_acquire(conn, LEASE, &holder, now, ttl)?))
        .await
}

/// Gives the lease up; a failure only delays the next run until the lease expires.
pub async fn release(state: &AppState, lease: &LeaseHolder<'_>) {
    let holder = lease.holder.to_string();
    let released = state
        .write(move |conn| Ok(leases::release(conn, LEASE, &holder)?))
        .await;
    if let Err(error) = released {
        log::warn!("the sync lease was not released: {error}");
    }
}

/// Runs the sync of `scope` under a lease already held, logged in `sync_runs`.
pub async fn run_logged(
    state: &AppState,
    scope: SyncScope,
    trigger: Trigger,
    auditor: Option<Auditor>,
    lease: &LeaseHolder<'_>,
) -> Result<SyncReport, ApiError> {
    let started = state.clock.now().naive_utc();
    let run_id = state
        .transaction(move |conn| {
            let run_id = sync_runs::start(conn, trigger.as_str(), scope, started)?;
            // A sync a super admin asked for is audited with the run it started.
            if let Some(auditor) = &auditor {
                let after = serde_json::json!({"tenant_id": scope.tenant_id});
                auditor.record(
                    conn,
                    Action::SyncRequested,
                    run_id,
                    scope.tenant_id,
                    None,
                    Some(after),
                )?;
            }
            Ok(run_id)
        })
        .await?;
    let result = sync(state, scope, lease).await;
    let outcome = if result.is_ok() { "finished" } else { "failed" };
    state.metrics.sync_run(trigger.as_str(), outcome);
    let logged = match &result {
        Ok(report) => report.clone(),
        Err(error) => SyncReport {
            errors: vec![SyncFailure {
                instance_name: None,
                error: error.body().message.clone(),
                error_key: ErrorKey::SyncFailed,
            }],
            ..SyncReport::default()
        },
    };
    let totals = RunTotals {
        synced: logged.synced,
        updated: logged.updated,
        orphaned: logged.orphaned,
        errors_json: serde_json::to_string(&logged.errors).map_err(ApiError::internal)?,
    };
    let finished = state.clock.now().naive_utc();
    state
        .write(move |conn| Ok(sync_runs::finish(conn, run_id, &totals, finished)?))
        .await?;
    result
}

/// The sync itself: the instances of `scope`, server by server.
async fn sync(
    state: &AppState,
    scope: SyncScope,
    lease: &LeaseHolder<'_>,
) -> Result<SyncReport, ApiError> {
    let (instances, servers) = state
        .db(move |conn| {
            let instances = sync_runs::instances_in(conn, scope)?;
            let mut servers = HashMap::new();
            for id in instances.iter().filter_map(|i| i.evolution_server_id) {
                if let std::collections::hash_map::Entry::Vacant(slot) = servers.entry(id) {
                    if let Some(server) = evolution_servers::find(conn, id)? {
                        slot.insert(server);
                    }
                }
            }
            Ok((instances, servers))
        })
        .await?;
    let mut by_server: BTreeMap<Option<i64>, Vec<Instance>> = BTreeMap::new();
    for instance in instances {
        by_server
            .entry(instance.evolution_server_id)
            .or_default()
            .push(instance);
    }
    let mut report = SyncReport::default();
    for (server_id, instances) in by_server {
        let server = server_id.and_then(|id| servers.get(&id));
        match fetch(state, server, lease).await? {
            Ok((client, remote)) => {
                sync_server(state, instances, remote, &mut report).await?;
                if let Some(server) = server {
                    webhook_token::move_off_shared_token(state, server, &client).await?;
                }
            }
            Err(error) => report
                .errors
                .extend(instances.iter().map(|instance| SyncFailure {
                    instance_name: Some(instance.instance_name.clone()),
                    error: error.body().message.clone(),
                    error_key: error.error_key().unwrap_or(ErrorKey::SyncFailed),
                })),
        }
    }
    Ok(report)
}

/// Everything `server` has, or why it cannot be asked (the outer error stops the run:
/// the lease was lost or the database failed).
async fn fetch(
    state: &AppState,
    server: Option<&EvolutionServer>,
    lease: &LeaseHolder<'_>,
) -> Result<Result<(EvolutionClient, Vec<RemoteInstance>), ApiError>, ApiError> {
    let Some(server) = server else {
        return Ok(Err(ApiError::no_evolution_server(
            "The instance belongs to no Evolution server.",
        )));
    };
    if !server.is_active {
        return Ok(Err(ApiError::new(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            ErrorKey::EvolutionServerInactive,
            format!(
                "Evolution API server `{}` is inactive; it is not synced.",
                server.name
            ),
        )));
    }
    let Some(sealed) = &server.api_key_encrypted else {
        return Ok(Err(ApiError::new(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            ErrorKey::EvolutionNoGlobalKey,
            format!(
                "Evolution API server `{}` has no global API key; the sync lists a server's instances with it.",
                server.name
            ),
        )));
    };
    if !acquire(state, lease).await? {
        return Err(ApiError::conflict(
            ErrorKey::SyncLeaseLost,
            "The sync lease expired and another runner took it; this run stopped.",
        ));
    }
    let key = state.cipher.decrypt(sealed).map_err(ApiError::internal)?;
    let client = state
        .evolution
        .server(Some(server.id), &server.base_url, &key);
    let upstream = UpstreamServer {
        id: server.id,
        name: &server.name,
    };
    Ok(match client.fetch_instances().await {
        Ok(remote) => Ok((client, remote)),
        Err(error) => Err(ApiError::evolution(&upstream, &error)),
    })
}

/// Writes what one server said about its instances, in one transaction.
async fn sync_server(
    state: &AppState,
    instances: Vec<Instance>,
    remote: Vec<RemoteInstance>,
    report: &mut SyncReport,
) -> Result<(), ApiError> {
    let now = state.clock.now().naive_utc();
    let settled_before = now - state.settings.webhooks.status_settle();
    let remote: HashMap<String, RemoteInstance> = remote
        .into_iter()
        .map(|row| (row.name.clone(), row))
        .collect();
    let plans: Vec<Plan> = instances
        .into_iter()
        .map(|instance| {
            let found = remote.get(&instance.instance_name);
            plan(instance, found, now, settled_before)
        })
        .collect();
    let applied = state
        .transaction(move |conn| {
            let mut applied = Vec::with_capacity(plans.len());
            for plan in plans {
                let recorded =
                    sync_runs::apply(conn, &plan.instance, &plan.changes, plan.phone.as_deref())?;
                if let Some(change) = recorded {
                    events::instance_changed(conn, &change)?;
                    applied.push((plan.changed, plan.orphaned));
                }
            }
            Ok(applied)
        })
        .await?;
    for (changed, orphaned) in applied {
        report.synced += 1;
        report.updated += i32::from(changed);
        report.orphaned += i32::from(orphaned);
    }
    Ok(())
}

/// What the sync writes to one instance.
struct Plan {
    instance: Instance,
    changes: RemoteChanges,
    /// Set only when the instance has no phone number yet.
    phone: Option<String>,
    /// Something other than `last_checked_at` changes.
    changed: bool,
    orphaned: bool,
}

/// What the sync writes to `instance`. `fetchInstances` gives the status Evolution
/// stored, which lags behind the live one (webhooks, live reads): a status that changed
/// after `settled_before` (within the settle time) is kept, and so is one a webhook
/// confirmed since then that Evolution's stored state would only swap for another status
/// that cannot send.
fn plan(
    instance: Instance,
    remote: Option<&RemoteInstance>,
    now: NaiveDateTime,
    settled_before: NaiveDateTime,
) -> Plan {
    let Some(remote) = remote else {
        let changed = instance.connection_status != ConnectionStatus::Error;
        return Plan {
            changes: RemoteChanges {
                connection_status: Some(ConnectionStatus::Error),
                last_checked_at: Some(now),
                updated_at: changed.then_some(now),
                ..RemoteChanges::default()
            },
            instance,
            phone: None,
            changed,
            orphaned: true,
        };
    };
    let fresh = instance.status_since.is_some_and(|at| at > settled_before)
        || webhook_outranks(&instance, local_status(remote.state), settled_before);
    let mut changes = if fresh {
        RemoteChanges {
            last_checked_at: Some(now),
            ..RemoteChanges::default()
        }
    } else {
        status_changes(&instance, remote.state, now)
    };
    let mut changed = changes
        .connection_status
        .is_some_and(|status| status != instance.connection_status)
        || changes.connected_at.is_some();
    // What Evolution no longer says (after a logout) is kept: the last known owner.
    if remote.owner_jid.is_some() && remote.owner_jid != instance.owner_jid {
        changes.owner_jid = Some(remote.owner_jid.clone());
        changed = true;
    }
    if remote.profile_name.is_some() && remote.profile_name != instance.profile_name {
        changes.profile_name = Some(remote.profile_name.clone());
        changed = true;
    }
    let phone = if instance.phone_number.is_empty() {
        remote.owner_jid.as_deref().and_then(phone_of_jid)
    } else {
        None
    };
    changed |= phone.is_some();
    if changed {
        changes.updated_at = Some(now);
    }
    Plan {
        instance,
        changes,
        phone,
        changed,
        orphaned: false,
    }
}
