//! Creating and changing tenants. Deleting one talks to Evolution about its instances, so
//! it is `lifecycle::tenant_removal`.

use diesel::QueryResult;
use serde_json::Value;

use crate::audit::{Action, Auditor};
use crate::db::tenants::{self, NewTenant, Tenant, TenantChanges};
use crate::db::{unique_violation, write_transaction, DbConnection, UniqueViolation};
use crate::domain::RotationStrategy;
use crate::error::{ApiError, FieldErrors};
use crate::i18n::Msg;
use crate::state::AppState;

/// A new tenant's columns, every field parsed: the slug sent or made from `nombre`; the
/// fields not sent are `None` in `fields` and take their defaults here.
pub struct ValidNewTenant {
    pub slug: String,
    pub nombre: String,
    pub fields: TenantChanges,
}

/// A body refused at the edge: its problems, and the slug it asked for if that slug was
/// well formed (a slug also taken is reported with the rest).
pub struct RefusedTenant {
    pub errors: FieldErrors,
    pub slug: Option<String>,
}

/// A callback secret made before a change in case the change needs one: the plain secret
/// (shown once) and its encrypted form.
pub struct GeneratedSecret {
    pub plain: String,
    pub sealed: String,
}

impl GeneratedSecret {
    pub fn new(cipher: &crate::secrets::Cipher) -> Self {
        let plain = crate::events::signature::generate_secret();
        let sealed = cipher.encrypt(&plain);
        Self { plain, sealed }
    }
}

/// A tenant written, with the callback secret Relevo generated for it, if it did.
pub struct Written {
    pub tenant: Tenant,
    pub callback_secret: Option<String>,
}

pub enum CreateOutcome {
    Created(Box<Written>),
    SlugTaken,
}

pub enum UpdateOutcome {
    Updated(Box<Written>),
    SlugTaken,
    NotFound,
}

/// How the audit log keeps a tenant (never its callback secret).
pub type Snapshot = fn(&Tenant) -> QueryResult<Value>;

/// The problems of a refused body, with `slug` taken among them when it is.
pub async fn refusal(
    state: &AppState,
    refused: RefusedTenant,
    except: Option<i64>,
) -> Result<FieldErrors, ApiError> {
    let RefusedTenant { mut errors, slug } = refused;
    let Some(slug) = slug else {
        return Ok(errors);
    };
    let taken = state
        .db(move |conn| Ok(tenants::slug_exists(conn, &slug, except)?))
        .await?;
    if taken {
        errors.add("slug", Msg::SlugTaken);
    }
    Ok(errors)
}

/// Creates `new` with its audit row. A callback URL without a secret gets `generated`.
pub async fn create(
    state: &AppState,
    auditor: Auditor,
    new: ValidNewTenant,
    generated: GeneratedSecret,
    snapshot: Snapshot,
) -> Result<CreateOutcome, ApiError> {
    let now = state.clock.now().naive_utc();
    let default_timezone = state.settings.default_timezone.name().to_string();
    let mut row = new_row(new, default_timezone, now);
    let callback_secret = (row.callback_url.is_some() && row.callback_secret_encrypted.is_none())
        .then(|| {
            row.callback_secret_encrypted = Some(generated.sealed);
            generated.plain
        });
    state
        .write(move |conn| {
            let written = write_transaction(conn, |conn| {
                if tenants::slug_exists(conn, &row.slug, None)? {
                    return Ok(None);
                }
                let tenant = tenants::insert(conn, &row)?;
                let after = snapshot(&tenant)?;
                auditor.record(
                    conn,
                    Action::TenantCreated,
                    tenant.id,
                    Some(tenant.id),
                    None,
                    Some(after),
                )?;
                Ok(Some(tenant))
            });
            match written {
                Ok(Some(tenant)) => Ok(CreateOutcome::Created(Box::new(Written {
                    tenant,
                    callback_secret,
                }))),
                Ok(None) => Ok(CreateOutcome::SlugTaken),
                Err(error) => slug_race(error).map(|()| CreateOutcome::SlugTaken),
            }
        })
        .await
}

/// The row to insert: what was sent, the defaults for the rest.
fn new_row(new: ValidNewTenant, default_timezone: String, now: chrono::NaiveDateTime) -> NewTenant {
    let fields = new.fields;
    NewTenant {
        slug: new.slug,
        nombre: new.nombre,
        tipo_cargo: fields.tipo_cargo.flatten(),
        identificacion: fields.identificacion.flatten(),
        timezone: fields.timezone.unwrap_or(default_timezone),
        rotation_strategy: fields
            .rotation_strategy
            .unwrap_or_else(|| RotationStrategy::RoundRobin.as_str().to_string()),
        callback_url: fields.callback_url.flatten(),
        callback_secret_encrypted: fields.callback_secret_encrypted.flatten(),
        currency: fields.currency.unwrap_or_else(|| "COP".to_string()),
        whatsapp_credits: fields.whatsapp_credits.unwrap_or(0),
        whatsapp_unit_price_micros: fields.whatsapp_unit_price_micros.unwrap_or(0),
        created_at: now,
        updated_at: now,
    }
}

/// Changes tenant `tenant_id` with its audit row. A callback URL left without a secret
/// gets `generated`.
pub async fn update(
    state: &AppState,
    auditor: Auditor,
    tenant_id: i64,
    mut changes: TenantChanges,
    generated: GeneratedSecret,
    snapshot: Snapshot,
) -> Result<UpdateOutcome, ApiError> {
    changes.updated_at = Some(state.clock.now().naive_utc());
    state
        .write(move |conn| {
            let written = write_transaction(conn, |conn| {
                if let Some(slug) = &changes.slug {
                    if tenants::slug_exists(conn, slug, Some(tenant_id))? {
                        return Ok(UpdateOutcome::SlugTaken);
                    }
                }
                let Some(before) = tenants::find_for_update(conn, tenant_id)? else {
                    return Ok(UpdateOutcome::NotFound);
                };
                let written = apply(conn, tenant_id, &changes, &generated)?;
                auditor.record(
                    conn,
                    Action::TenantUpdated,
                    tenant_id,
                    Some(tenant_id),
                    Some(snapshot(&before)?),
                    Some(snapshot(&written.tenant)?),
                )?;
                Ok(UpdateOutcome::Updated(Box::new(written)))
            });
            written.or_else(|error| slug_race(error).map(|()| UpdateOutcome::SlugTaken))
        })
        .await
}

/// Writes `changes`, then a generated secret if a callback URL is left without one.
fn apply(
    conn: &mut DbConnection,
    tenant_id: i64,
    changes: &TenantChanges,
    generated: &GeneratedSecret,
) -> QueryResult<Written> {
    let tenant = tenants::update(conn, tenant_id, changes)?;
    if tenant.callback_url.is_none() || tenant.callback_secret_encrypted.is_some() {
        return Ok(Written {
            tenant,
            callback_secret: None,
        });
    }
    let secret = TenantChanges {
        callback_secret_encrypted: Some(Some(generated.sealed.clone())),
        ..Default::default()
    };
    Ok(Written {
        tenant: tenants::update(conn, tenant_id, &secret)?,
        callback_secret: Some(generated.plain.clone()),
    })
}

/// The only unique column of a tenant is its slug: a write that lost a race for it is
/// `Ok(())` (the slug is taken); any other failure is the error.
fn slug_race(error: diesel::result::Error) -> Result<(), ApiError> {
    match unique_violation(&error) {
        Some(UniqueViolation::Slug) => Ok(()),
        _ => Err(error.into()),
    }
}
