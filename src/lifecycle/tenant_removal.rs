//! Deleting a tenant (SPEC §4) with what it has on Evolution: its instances' names are
//! marked retired in the transaction that deletes it, then each instance Relevo
//! provisioned is deleted on Evolution (which logs its WhatsApp out first). A name
//! Evolution deleted is released; one it kept stays retired, so another tenant cannot
//! adopt the live session by provisioning the name unless an admin confirms (`adopt`).

use serde_json::Value;

use super::instance::{delete_remotely, RemoteDeletion};
use crate::audit::{Action, Auditor};
use crate::db::instances::{self, Instance};
use crate::db::retired_names;
use crate::db::tenants::{self, Dependents, Tenant};
use crate::error::ApiError;
use crate::state::AppState;

/// How the audit log keeps the deleted tenant, with what went with it.
pub type DeletedSnapshot = fn(&Tenant, &Dependents) -> diesel::QueryResult<Value>;

pub enum TenantRemoval {
    /// Deleted; the names Evolution kept (still retired), if any.
    Deleted {
        kept_on_evolution: Vec<String>,
    },
    /// Kept: it still has this many instances and `force` was not given.
    HasInstances(i64),
    NotFound,
}

pub async fn delete_tenant(
    state: &AppState,
    tenant: Tenant,
    force: bool,
    auditor: Auditor,
    snapshot: DeletedSnapshot,
) -> Result<TenantRemoval, ApiError> {
    let tenant_id = tenant.id;
    let now = state.clock.now().naive_utc();
    let deleted = state
        .transaction(move |conn| {
            let Some(before) = tenants::find_for_update(conn, tenant_id)? else {
                return Ok(Err(TenantRemoval::NotFound));
            };
            let dependents = tenants::dependents(conn, tenant_id)?;
            let live = instances::on_servers_of_tenant(conn, tenant_id)?;
            if let Some(count) = tenants::delete_unless_has_instances(conn, tenant_id, force)? {
                return Ok(Err(TenantRemoval::HasInstances(count)));
            }
            for instance in &live {
                if let Some(server_id) = instance.evolution_server_id {
                    retired_names::retire(
                        conn,
                        server_id,
                        &instance.instance_name,
                        tenant_id,
                        now,
                    )?;
                }
            }
            auditor.record(
                conn,
                Action::TenantDeleted,
                tenant_id,
                Some(tenant_id),
                Some(snapshot(&before, &dependents)?),
                Some(serde_json::json!({ "force": force })),
            )?;
            Ok(Ok(live))
        })
        .await?;
    let live = match deleted {
        Ok(live) => live,
        Err(kept) => return Ok(kept),
    };
    let mut kept_on_evolution = Vec::new();
    for instance in live {
        if !release_on_evolution(state, &tenant, instance.clone()).await {
            kept_on_evolution.push(instance.instance_name);
        }
    }
    Ok(TenantRemoval::Deleted { kept_on_evolution })
}

/// Deletes a provisioned instance on Evolution and releases its name; `false` when the
/// name stays retired (Evolution did not delete it, may keep its connection running, or
/// Relevo did not create it).
async fn release_on_evolution(state: &AppState, tenant: &Tenant, instance: Instance) -> bool {
    let (Some(server_id), true) = (instance.evolution_server_id, instance.provisioned) else {
        return false;
    };
    let name = instance.instance_name.clone();
    match delete_remotely(state, tenant.clone(), instance).await {
        Ok(RemoteDeletion::Clean) => {}
        Ok(RemoteDeletion::MayKeepReconnecting) => return false,
        Err(error) => {
            log::warn!(
                "instance `{name}` of deleted tenant {} kept on Evolution: {error:?}",
                tenant.id
            );
            return false;
        }
    }
    let released = state
        .write(move |conn| Ok(retired_names::release(conn, server_id, &name)?))
        .await;
    released.is_ok()
}
