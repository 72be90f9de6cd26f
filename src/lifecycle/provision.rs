//! Seed 004's idempotent provisioning: the instance is found or inserted in the database,
//! found or created on Evolution, and asked for a fresh QR code, every call. Concurrent
//! calls for one name (in any process) take turns finding or creating it on Evolution,
//! through a lease, so exactly one `POST /instance/create` is made.

use std::time::Duration;

use chrono::NaiveDateTime;
use rand::distributions::{Alphanumeric, DistString};

use super::error::{LifecycleError, ServerRef};
use super::instance::{tenant_today, Audit};
use super::lease::HeldLease;
use super::status::{self, connect_changes};
use super::webhook_token::{self, PointError};
use crate::audit::Action;
use crate::db::evolution_servers::{self, EvolutionServer};
use crate::db::instances::{self, Instance, NewInstance};
use crate::db::remote_instances::{self, ProvisionRules, ProvisionTarget, RemoteChanges};
use crate::db::tenants::Tenant;
use crate::domain::{ConnectionStatus, InstanceName, PhoneNumber};
use crate::error::{ApiError, FieldErrors};
use crate::evolution::{
    ConnectAnswer, EvolutionClient, EvolutionError, NewRemoteInstance, RemoteInstance,
};
use crate::i18n::{Locale, Msg};
use crate::state::AppState;

pub const DEFAULT_DAILY_LIMIT: i32 = 1000;

/// A provisioning request, parsed. `errors` holds the field errors found so far: a
/// named server that cannot be used adds to them, and all are answered at once.
pub struct ProvisionRequest {
    pub name: Option<InstanceName>,
    pub phone: Option<PhoneNumber>,
    pub daily_message_limit: i32,
    pub notes: Option<String>,
    pub server_id: Option<i64>,
    /// Take over a name a deleted tenant left on Evolution (its session may be live).
    pub adopt: bool,
    pub errors: FieldErrors,
    pub locale: Locale,
}

/// The instance as provisioned; `created` when this call created it in Relevo or on
/// Evolution.
pub struct Provisioned {
    pub instance: Instance,
    pub created: bool,
}

/// Provisions the instance of `request` for `tenant` (see the module).
pub async fn provision(
    state: &AppState,
    tenant: &Tenant,
    request: ProvisionRequest,
    audit: Audit,
) -> Result<Provisioned, LifecycleError> {
    if !state.settings.evolution.enable_instance_creation {
        return Err(LifecycleError::CreationDisabled);
    }
    let ProvisionRequest {
        name,
        phone,
        daily_message_limit,
        notes,
        server_id,
        adopt,
        errors,
        locale,
    } = request;
    let server = usable_server(state, server_id, errors, locale).await?;
    let now = state.clock.now().naive_utc();
    let rules = ProvisionRules {
        match_phone: name.is_none(),
        max_instances: i64::from(state.settings.evolution.max_instances_per_tenant),
        adopt,
    };
    let row = Row {
        name,
        phone: phone.as_ref(),
        daily_message_limit,
        notes,
    };
    let new = row.new_instance(state, tenant, &server, now);
    let (instance, inserted) = claim_row(state, new, rules, locale).await?;
    let number = phone.as_ref().map(PhoneNumber::digits);
    let remote = match create_remotely(state, &server, &instance, number).await {
        Ok(remote) => remote,
        Err(error) => {
            if inserted {
                mark_error(state, tenant, instance.id, audit).await?;
            }
            return Err(error);
        }
    };
    let created = inserted || remote.created;
    let changes = remote.changes(state, &instance, now);
    let instance = record_provisioned(state, tenant, instance.id, changes, inserted, audit).await?;
    Ok(Provisioned { instance, created })
}

/// The server the instance goes to, once every field error is known (all are answered
/// at once).
async fn usable_server(
    state: &AppState,
    server_id: Option<i64>,
    mut errors: FieldErrors,
    locale: Locale,
) -> Result<EvolutionServer, LifecycleError> {
    Ok(state
        .db(move |conn| {
            let server = choose_server(conn, server_id, &mut errors)?;
            // No server is a field error.
            let Some(server) = server else {
                return Err(errors.into_error(locale));
            };
            errors.into_result(locale)?;
            Ok(server)
        })
        .await?)
}

/// The instance's columns as the request gives them.
struct Row<'a> {
    name: Option<InstanceName>,
    phone: Option<&'a PhoneNumber>,
    daily_message_limit: i32,
    notes: Option<String>,
}

impl Row<'_> {
    /// The row to find or insert, with a fresh key of its own (sealed) on `server`.
    fn new_instance(
        self,
        state: &AppState,
        tenant: &Tenant,
        server: &EvolutionServer,
        now: NaiveDateTime,
    ) -> NewInstance {
        let new_token = uuid::Uuid::new_v4().to_string().to_uppercase();
        NewInstance {
            tenant_id: tenant.id,
            phone_number: self
                .phone
                .map_or_else(String::new, |p| p.as_str().to_string()),
            instance_name: self
                .name
                .map_or_else(|| generated_name(tenant.id), |n| n.as_str().to_string()),
            evolution_api_key_encrypted: state.cipher.encrypt(&new_token),
            evolution_api_url: Some(server.base_url.clone()),
            daily_message_limit: self.daily_message_limit,
            messages_sent_today: 0,
            last_reset_date: tenant_today(state, tenant),
            is_active: true,
            notes: self.notes,
            priority: 0,
            created_at: now,
            updated_at: now,
            evolution_server_id: Some(server.id),
            provisioned: true,
            connection_status: ConnectionStatus::Connecting,
        }
    }
}

/// The row `new` describes, found or inserted (see
/// [`remote_instances::claim_for_provisioning`]), and whether this call inserted it.
async fn claim_row(
    state: &AppState,
    new: NewInstance,
    rules: ProvisionRules,
    locale: Locale,
) -> Result<(Instance, bool), LifecycleError> {
    let instance_name = new.instance_name.clone();
    let max = rules.max_instances;
    let claim = state
        .write(move |conn| {
            Ok(remote_instances::claim_for_provisioning(
                conn, &new, &rules,
            )?)
        })
        .await?;
    match claim {
        ProvisionTarget::Inserted(instance) => Ok((instance, true)),
        ProvisionTarget::Existing(instance) => Ok((instance, false)),
        ProvisionTarget::OwnedByAnotherTenant => Err(LifecycleError::NameTaken(instance_name)),
        ProvisionTarget::Retired => Err(LifecycleError::NameRetired(instance_name)),
        ProvisionTarget::MaxReached => Err(LifecycleError::MaxInstancesReached(max)),
        ProvisionTarget::PhoneTaken => {
            Err(FieldErrors::one("phone_number", Msg::PhoneTaken, locale).into())
        }
    }
}

/// Finds or creates `instance` on `server` with the row's own key, and asks for a QR
/// code.
async fn create_remotely(
    state: &AppState,
    server: &EvolutionServer,
    instance: &Instance,
    number: Option<&str>,
) -> Result<Remote, LifecycleError> {
    let master_key = server
        .api_key_encrypted
        .as_deref()
        .map(|sealed| state.cipher.decrypt(sealed))
        .transpose()
        .map_err(ApiError::internal)?
        .unwrap_or_default();
    let client = state
        .evolution
        .server(Some(server.id), &server.base_url, &master_key);
    // The row's own token is the one to create with: a concurrent call for the same row
    // sends the same one.
    let token = state
        .cipher
        .decrypt(&instance.evolution_api_key_encrypted)
        .map_err(ApiError::internal)?;
    let name = RemoteName {
        id: instance.id,
        name: &instance.instance_name,
    };
    provision_remotely(state, server, &client, name, &token, number).await
}

/// Records what Evolution said of the instance, with its audit row; the instance as it
/// then stands.
async fn record_provisioned(
    state: &AppState,
    tenant: &Tenant,
    id: i64,
    changes: RemoteChanges,
    inserted: bool,
    audit: Audit,
) -> Result<Instance, LifecycleError> {
    let today = tenant_today(state, tenant);
    let tenant = tenant.clone();
    let Audit { auditor, snapshot } = audit;
    state
        .transaction(move |conn| {
            let Some(before) = instances::find_for_update(conn, tenant.id, id)? else {
                return Ok(None);
            };
            let Some(updated) = status::record(conn, id, &changes)? else {
                return Ok(None);
            };
            // An instance this call inserted did not exist before the request.
            let before = if inserted {
                None
            } else {
                Some(snapshot(&before, &tenant, today)?)
            };
            auditor.record(
                conn,
                Action::InstanceProvisioned,
                id,
                Some(tenant.id),
                before,
                Some(snapshot(&updated, &tenant, today)?),
            )?;
            Ok(Some(updated))
        })
        .await?
        .ok_or(LifecycleError::NotFound)
}

/// The server named by `evolution_server_id`, or the default one. A named server that
/// is missing, inactive or has no key is a field error; no usable default is a 503.
fn choose_server(
    conn: &mut crate::db::DbConnection,
    server_id: Option<i64>,
    errors: &mut FieldErrors,
) -> Result<Option<EvolutionServer>, ApiError> {
    let usable = |server: &EvolutionServer| server.is_active && server.api_key_encrypted.is_some();
    if let Some(id) = server_id {
        return Ok(match evolution_servers::find(conn, id)? {
            Some(server) if usable(&server) => Some(server),
            Some(_) => {
                errors.add("evolution_server_id", Msg::EvolutionServerUnusable);
                None
            }
            None => {
                errors.add("evolution_server_id", Msg::EvolutionServerMissing);
                None
            }
        });
    }
    // Invalid input is a 422 before anything else.
    if !errors.is_empty() {
        return Ok(None);
    }
    let reason = match evolution_servers::default_server(conn)? {
        Some(server) if usable(&server) => return Ok(Some(server)),
        Some(server) => format!(
            "The default Evolution API server `{}` is inactive or has no API key.",
            server.name
        ),
        None => "No default Evolution API server is configured.".to_string(),
    };
    Err(LifecycleError::NoServer(reason).into())
}

fn generated_name(tenant_id: i64) -> String {
    let random = Alphanumeric
        .sample_string(&mut rand::thread_rng(), 8)
        .to_lowercase();
    format!("tenant-{tenant_id}-{random}")
}

/// Leaves the instance this call inserted in `error`. It stays in Relevo (calling again
/// repairs it), so the audit log records it as created.
async fn mark_error(
    state: &AppState,
    tenant: &Tenant,
    id: i64,
    audit: Audit,
) -> Result<(), LifecycleError> {
    let changes = RemoteChanges {
        connection_status: Some(ConnectionStatus::Error),
        last_checked_at: Some(state.clock.now().naive_utc()),
        ..RemoteChanges::default()
    };
    let today = tenant_today(state, tenant);
    let tenant = tenant.clone();
    let Audit { auditor, snapshot } = audit;
    state
        .transaction(move |conn| {
            let Some(created) = status::record(conn, id, &changes)? else {
                return Ok(());
            };
            auditor.record(
                conn,
                Action::InstanceCreated,
                id,
                Some(tenant.id),
                None,
                Some(snapshot(&created, &tenant, today)?),
            )?;
            Ok(())
        })
        .await?;
    Ok(())
}

/// What Evolution said while provisioning.
struct Remote {
    /// This call created the instance on Evolution.
    created: bool,
    /// The instance's key, when Evolution told it.
    token: Option<String>,
    /// The instance as Evolution listed it, when it existed before.
    listed: Option<RemoteInstance>,
    answer: ConnectAnswer,
}

impl Remote {
    fn changes(self, state: &AppState, before: &Instance, now: NaiveDateTime) -> RemoteChanges {
        let listed = self.listed.unwrap_or_default();
        RemoteChanges {
            evolution_api_key_encrypted: self.token.map(|token| state.cipher.encrypt(&token)),
            owner_jid: listed.owner_jid.map(Some),
            profile_name: listed.profile_name.map(Some),
            provisioned: Some(true),
            updated_at: Some(now),
            ..connect_changes(before, self.answer, now)
        }
    }
}

/// The instance found on Evolution or created there by this call.
struct Found {
    created: bool,
    token: Option<String>,
    listed: Option<RemoteInstance>,
}

/// The lease that serialises finding-or-creating `name` on `server`.
pub fn provision_lease_name(server_id: i64, name: &str) -> String {
    format!("provision:{server_id}:{name}")
}

/// The instance being provisioned: its row and its name on Evolution.
struct RemoteName<'a> {
    id: i64,
    name: &'a str,
}

/// Makes sure the instance exists on the server (creating it with `token` when it does
/// not), points its webhook at Relevo with a token of its own (when `RELEVO_PUBLIC_URL`
/// says how Evolution reaches Relevo), and asks for a fresh QR code. The
/// find-or-create step holds the instance's lease (no database transaction is open
/// meanwhile); a caller that waited for it then finds the instance and creates nothing.
async fn provision_remotely(
    state: &AppState,
    server: &EvolutionServer,
    client: &EvolutionClient,
    instance: RemoteName<'_>,
    token: &str,
    number: Option<&str>,
) -> Result<Remote, LifecycleError> {
    let name = instance.name;
    let upstream = |error| LifecycleError::Evolution {
        server: ServerRef::from(server),
        error,
    };
    // The holder makes at most three calls (fetch, create, fetch); a waiter waits for
    // about that long, then goes on (a create that finds the name taken still works).
    let request_timeout = Duration::from_millis(state.settings.evolution.request_timeout_ms);
    let patience = request_timeout * 3 + Duration::from_secs(1);
    let ttl = chrono::Duration::from_std(patience).unwrap_or_else(|_| chrono::Duration::days(1))
        + chrono::Duration::seconds(30);
    let lease =
        HeldLease::wait(state, provision_lease_name(server.id, name), ttl, patience).await?;
    let found = find_or_create(client, name, token, number).await;
    if let Some(lease) = lease {
        lease.release(state).await;
    }
    let Found {
        created,
        token,
        listed,
    } = found.map_err(upstream)?;
    if let Some(prefix) = webhook_token::inbound_prefix(state) {
        let template = webhook_token::relevo_webhook(prefix);
        match webhook_token::point_at_relevo(state, client, instance.id, name, template).await {
            Ok(_) => {}
            Err(PointError::Evolution(error)) => return Err(upstream(error)),
            Err(PointError::Api(error)) => return Err(error.into()),
            Err(PointError::NoPublicUrl) => {}
        }
    }
    let answer = client.connect(name, number).await.map_err(upstream)?;
    Ok(Remote {
        created,
        token,
        listed,
        answer,
    })
}

async fn find_or_create(
    client: &EvolutionClient,
    name: &str,
    token: &str,
    number: Option<&str>,
) -> Result<Found, EvolutionError> {
    let listed = client.fetch_instance(name).await?;
    if listed.is_some() {
        let token = listed.as_ref().and_then(|row| row.token.clone());
        return Ok(Found {
            created: false,
            token,
            listed,
        });
    }
    let new = NewRemoteInstance {
        name,
        token,
        number,
    };
    match client.create_instance(&new).await {
        Ok(answer) => Ok(Found {
            created: true,
            token: answer.token.or_else(|| Some(token.to_string())),
            listed: None,
        }),
        // Created meanwhile by a caller that went on without the lease.
        Err(error) if error.is_name_in_use() => {
            let listed = client.fetch_instance(name).await?;
            let token = listed.as_ref().and_then(|row| row.token.clone());
            Ok(Found {
                created: false,
                token,
                listed,
            })
        }
        // The answer was lost (the real server answers a create after ~5 s): the create
        // may have happened. Look it up by name; never create it a second time.
        Err(error @ (EvolutionError::Timeout | EvolutionError::Interrupted(_))) => {
            match client.fetch_instance(name).await? {
                Some(listed) => Ok(Found {
                    created: true,
                    token: listed.token.clone().or_else(|| Some(token.to_string())),
                    listed: Some(listed),
                }),
                None => Err(error),
            }
        }
        Err(error) => Err(error),
    }
}
