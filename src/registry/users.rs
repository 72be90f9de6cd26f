//! Creating, changing and deleting users of the REST API. A new password is hashed
//! (argon2id) through the same bounded gate as logins, before the transaction.

use diesel::QueryResult;
use serde_json::Value;

use crate::audit::{Action, Auditor};
use crate::auth::password;
use crate::db::tenants::{self, TenantKey};
use crate::db::users::{self, NewUser, User, UserChanges};
use crate::db::{unique_violation, write_transaction_once, DbConnection, UniqueViolation};
use crate::domain::{Email, Role};
use crate::error::{ApiError, FieldErrors};
use crate::i18n::Msg;
use crate::state::AppState;

/// A new user, every field parsed; `tenant_id` is set for a `tenant_user` only.
pub struct ValidNewUser {
    pub email: Email,
    pub password: String,
    pub role: Role,
    pub tenant_id: Option<i64>,
}

/// A create body refused at the edge: its problems, and what was well formed in it that
/// the database is still asked about (a taken email, a missing tenant are reported with
/// the rest). The password, when it was acceptable, is hashed all the same, so a refused
/// body meets the hashing gate as a valid one does.
pub struct RefusedUser {
    pub errors: FieldErrors,
    pub email: Option<Email>,
    pub password: Option<String>,
    /// The tenant a `tenant_user` named.
    pub tenant_id: Option<i64>,
}

/// What an update body asks to change, before it is checked against the user and the
/// tenants.
pub struct ValidUserChanges {
    pub password: Option<String>,
    pub role: Option<Role>,
    pub tenant_id: Option<i64>,
}

/// What the database holds against a new user.
#[derive(Default)]
pub struct Conflicts {
    /// Another user has the email.
    pub email_taken: bool,
    /// The `tenant_user`'s tenant does not exist.
    pub tenant_missing: bool,
}

impl Conflicts {
    fn any(&self) -> bool {
        self.email_taken || self.tenant_missing
    }

    /// Appends them to `errors`, after the body's own problems: `email`, then `tenant_id`.
    pub fn add_to(&self, errors: &mut FieldErrors) {
        if self.email_taken {
            errors.add("email", Msg::EmailTaken);
        }
        if self.tenant_missing {
            errors.add("tenant_id", Msg::TenantMissing);
        }
    }
}

pub enum CreateOutcome {
    Created(Box<User>),
    Conflicts(Conflicts),
}

pub enum UpdateOutcome {
    Updated(Box<User>),
    NotFound,
    /// `tenant_id` sent for a user who is or becomes a `super_admin`.
    TenantProhibited,
    /// `tenant_id` names no tenant.
    TenantMissing,
    /// The user becomes a `tenant_user` and has no tenant, and none was sent.
    TenantRequired,
    /// The change would demote the last `super_admin`.
    LastSuperAdmin,
}

pub enum DeleteOutcome {
    Deleted,
    NotFound,
    /// A super admin asked to delete itself.
    OwnAccount,
}

/// How the audit log keeps a user (never its password hash).
pub type Snapshot = fn(&User) -> QueryResult<Value>;

/// The problems of a refused body, with a taken email and a missing tenant among them.
pub async fn refusal(state: &AppState, refused: RefusedUser) -> Result<FieldErrors, ApiError> {
    let RefusedUser {
        mut errors,
        email,
        password,
        tenant_id,
    } = refused;
    // Hashed and dropped: a refused body waits at the hashing gate as a valid one does,
    // so a saturated gate is a 503 (`auth.busy`) whatever the body.
    hash_new_password(state, password).await?;
    let conflicts = state
        .db(move |conn| Ok(conflicts(conn, email.as_ref(), tenant_id)?))
        .await?;
    conflicts.add_to(&mut errors);
    Ok(errors)
}

/// Creates `new` with its audit row.
pub async fn create(
    state: &AppState,
    auditor: Auditor,
    new: ValidNewUser,
    snapshot: Snapshot,
) -> Result<CreateOutcome, ApiError> {
    let ValidNewUser {
        email,
        password,
        role,
        tenant_id,
    } = new;
    let password_hash = hash_password(state, password).await?;
    let now = state.clock.now().naive_utc();
    let row = NewUser {
        email: email.as_str().to_string(),
        password_hash,
        role: role.as_str().to_string(),
        tenant_id,
        created_at: now,
        updated_at: now,
    };
    state
        .write(move |conn| {
            let written = write_transaction_once(conn, |conn| {
                let conflicts = conflicts(conn, Some(&email), tenant_id)?;
                if conflicts.any() {
                    return Ok(CreateOutcome::Conflicts(conflicts));
                }
                let user = users::insert(conn, &row)?;
                auditor.record(
                    conn,
                    Action::UserCreated,
                    user.id,
                    user.tenant_id,
                    None,
                    Some(snapshot(&user)?),
                )?;
                Ok(CreateOutcome::Created(Box::new(user)))
            });
            written.or_else(|error| match unique_violation(&error) {
                // The email was taken between the check and the insert.
                Some(UniqueViolation::Email) => Ok(CreateOutcome::Conflicts(Conflicts {
                    email_taken: true,
                    tenant_missing: false,
                })),
                _ => Err(error.into()),
            })
        })
        .await
}

/// Whether `email` is taken and whether the tenant `tenant_id` is missing.
fn conflicts(
    conn: &mut DbConnection,
    email: Option<&Email>,
    tenant_id: Option<i64>,
) -> QueryResult<Conflicts> {
    let email_taken = match email {
        Some(email) => users::find_by_email(conn, email.as_str())?.is_some(),
        None => false,
    };
    let tenant_missing = match tenant_id {
        Some(id) => tenants::find(conn, &TenantKey::Id(id))?.is_none(),
        None => false,
    };
    Ok(Conflicts {
        email_taken,
        tenant_missing,
    })
}

/// Changes user `id` as `changes` asks, checked against the user as it stands in the
/// transaction that changes it, with its audit row. A new password shows there as
/// `"password_changed": true`, never as the password or its hash. A change that changes
/// nothing writes nothing and answers the user as it is.
pub async fn update(
    state: &AppState,
    auditor: Auditor,
    id: i64,
    changes: ValidUserChanges,
    snapshot: Snapshot,
) -> Result<UpdateOutcome, ApiError> {
    let ValidUserChanges {
        password,
        role: requested_role,
        tenant_id: requested_tenant,
    } = changes;
    let password_hash = hash_new_password(state, password).await?;
    let now = state.clock.now().naive_utc();
    state
        .transaction(move |conn| {
            let Some(user) = users::find_for_update(conn, id)? else {
                return Ok(UpdateOutcome::NotFound);
            };
            let current_role =
                Role::parse(&user.role).map_err(|_| ApiError::internal("stored role"))?;
            let role = requested_role.unwrap_or(current_role);
            let tenant_id = match tenant_after(conn, &user, role, requested_tenant)? {
                Ok(tenant_id) => tenant_id,
                Err(refused) => return Ok(refused),
            };
            if current_role == Role::SuperAdmin
                && role != Role::SuperAdmin
                && users::count_super_admins(conn)? <= 1
            {
                return Ok(UpdateOutcome::LastSuperAdmin);
            }
            let columns = UserChanges {
                password_hash,
                role: (role != current_role).then(|| role.as_str().to_string()),
                tenant_id: (tenant_id != user.tenant_id).then_some(tenant_id),
            };
            if columns.is_empty() {
                return Ok(UpdateOutcome::Updated(Box::new(user)));
            }
            Ok(apply(conn, &auditor, &user, &columns, now, snapshot)?)
        })
        .await
}

/// The tenant `user` has once its role is `role`, given the `requested` one; or why the
/// request does not fit.
fn tenant_after(
    conn: &mut DbConnection,
    user: &User,
    role: Role,
    requested: Option<i64>,
) -> QueryResult<Result<Option<i64>, UpdateOutcome>> {
    Ok(match (role, requested) {
        (Role::SuperAdmin, Some(_)) => Err(UpdateOutcome::TenantProhibited),
        (Role::SuperAdmin, None) => Ok(None),
        (Role::TenantUser, Some(tenant)) => match tenants::find(conn, &TenantKey::Id(tenant))? {
            Some(_) => Ok(Some(tenant)),
            None => Err(UpdateOutcome::TenantMissing),
        },
        (Role::TenantUser, None) => match user.tenant_id {
            Some(tenant) => Ok(Some(tenant)),
            None => Err(UpdateOutcome::TenantRequired),
        },
    })
}

/// Writes `columns` over `before` and records the change.
fn apply(
    conn: &mut DbConnection,
    auditor: &Auditor,
    before: &User,
    columns: &UserChanges,
    now: chrono::NaiveDateTime,
    snapshot: Snapshot,
) -> QueryResult<UpdateOutcome> {
    let Some(updated) = users::update(conn, before.id, columns, now)? else {
        return Ok(UpdateOutcome::NotFound);
    };
    let mut after = snapshot(&updated)?;
    after["password_changed"] = columns.password_hash.is_some().into();
    auditor.record(
        conn,
        Action::UserUpdated,
        before.id,
        updated.tenant_id,
        Some(snapshot(before)?),
        Some(after),
    )?;
    Ok(UpdateOutcome::Updated(Box::new(updated)))
}

/// Deletes user `id` with its audit row. A super admin cannot delete itself; deleting
/// the last one is refused by the database (`users::LAST_SUPER_ADMIN`, a 409 through
/// [`ApiError`]'s mapping), also when two delete each other at once.
pub async fn delete(
    state: &AppState,
    auditor: Auditor,
    id: i64,
    snapshot: Snapshot,
) -> Result<DeleteOutcome, ApiError> {
    if id == auditor.actor_id() {
        return Ok(DeleteOutcome::OwnAccount);
    }
    state
        .transaction(move |conn| {
            let Some(user) = users::delete(conn, id)? else {
                return Ok(DeleteOutcome::NotFound);
            };
            auditor.record(
                conn,
                Action::UserDeleted,
                user.id,
                user.tenant_id,
                Some(snapshot(&user)?),
                None,
            )?;
            Ok(DeleteOutcome::Deleted)
        })
        .await
}

/// The argon2id hash of a new password, computed through the hashing gate.
async fn hash_password(state: &AppState, password: String) -> Result<String, ApiError> {
    state
        .hashing
        .run(move || password::hash(&password))
        .await?
        .map_err(ApiError::internal)
}

/// [`hash_password`] of a password that may not have been sent.
async fn hash_new_password(
    state: &AppState,
    password: Option<String>,
) -> Result<Option<String>, ApiError> {
    match password {
        Some(password) => Ok(Some(hash_password(state, password).await?)),
        None => Ok(None),
    }
}
