//! Evolution API servers (seed 004's integration credentials), managed by super admins.
//! Keys are write-only: a server shows `has_api_key`, never the key.

pub mod create;
pub mod delete;
pub mod health;
pub mod list;
pub mod show;
pub mod update;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::evolution_servers::{self, EvolutionServer, ServerChanges};
use crate::db::DbConnection;
use crate::domain::{HttpUrl, Timestamp};
use crate::error::{ApiError, ErrorKey, FieldErrors, Resource, UpstreamServer};
use crate::i18n::{Locale, Msg};
use crate::input::{at_most, optional, Input};
use crate::registry::evolution_servers::{counted, CountedServer, RefusedServer, ValidNewServer};
use crate::registry::require_key_on_new_origin;
use crate::secrets::Cipher;
use crate::state::AppState;
use crate::targets::{Target, TargetPolicy};

/// An Evolution API server. The key is write-only.
#[derive(Serialize, ToSchema)]
#[schema(as = EvolutionServer)]
pub struct ServerResource {
    #[schema(example = 1)]
    pub id: i64,
    #[schema(example = "Evolution principal")]
    pub name: String,
    #[schema(example = "https://evolution.midominio.com")]
    pub base_url: String,
    /// The key itself is write-only. A server known only from a registered instance's
    /// URL has none: Relevo calls it with each instance's own key.
    pub has_api_key: bool,
    /// Relevo makes no calls to an inactive server.
    pub is_active: bool,
    /// Where `provision` creates instances when no `evolution_server_id` is given.
    pub is_default: bool,
    #[schema(example = 3)]
    pub instances_count: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl ServerResource {
    pub fn new(server: &EvolutionServer, instances_count: i64) -> Self {
        Self {
            id: server.id,
            name: server.name.clone(),
            base_url: server.base_url.clone(),
            has_api_key: server.api_key_encrypted.is_some(),
            is_active: server.is_active,
            is_default: server.is_default,
            instances_count,
            created_at: server.created_at.into(),
            updated_at: server.updated_at.into(),
        }
    }

    /// The server with how many instances live on it.
    pub fn load(conn: &mut DbConnection, server: EvolutionServer) -> Result<Self, ApiError> {
        Ok(Self::from(&counted(conn, server)?))
    }
}

impl From<&CountedServer> for ServerResource {
    fn from(counted: &CountedServer) -> Self {
        Self::new(&counted.server, counted.instances_count)
    }
}

/// A server as the audit log keeps it: its public form (`has_api_key`, never the key).
pub fn audit_snapshot(server: &CountedServer) -> diesel::QueryResult<serde_json::Value> {
    crate::audit::snapshot(&ServerResource::from(server))
}

/// A new Evolution API server. Unknown fields are ignored; strings are trimmed, and an
/// empty string counts as `null`, which no field takes.
#[derive(Deserialize, ToSchema, Default)]
pub struct CreateEvolutionServerBody {
    /// Up to 100 characters.
    #[schema(value_type = String, required = true, max_length = 100, example = "Evolution principal")]
    #[serde(default)]
    pub name: Input,
    /// The server's root URL (Evolution mounts its routes there): `http` or `https`,
    /// without a user name or password; a trailing `/` is dropped. Unique. On a public
    /// address: not loopback (`localhost`), private, link-local or otherwise reserved,
    /// neither as written nor as its name resolves (unless `RELEVO_ALLOW_PRIVATE_TARGETS=1`,
    /// or on the origin of `EVOLUTION_API_BASE_URL`).
    #[schema(value_type = crate::domain::HttpUrl, inline, required = true,
        example = "https://evolution.midominio.com")]
    #[serde(default)]
    pub base_url: Input,
    /// The server's global key (`AUTHENTICATION_API_KEY`): 1 to 255 visible ASCII
    /// characters, no spaces. Write-only, stored encrypted.
    #[schema(value_type = String, required = true, pattern = "^[!-~]{1,255}$",
        example = "B6D9F2E8-A3C4-4D5E-9F8A-1B2C3D4E5F6A")]
    #[serde(default)]
    pub api_key: Input,
    /// Default `true`. Relevo makes no calls to an inactive server.
    #[schema(value_type = bool)]
    #[serde(default)]
    pub is_active: Input,
    /// Making a server the default takes the flag from the previous one. Default: `true`
    /// when there is no default server yet.
    #[schema(value_type = bool)]
    #[serde(default)]
    pub is_default: Input,
}

/// What to change in an Evolution API server: only the fields sent change. Unknown
/// fields are ignored; strings are trimmed, and an empty string counts as `null`, which
/// no field takes.
#[derive(Deserialize, ToSchema, Default)]
pub struct UpdateEvolutionServerBody {
    /// Up to 100 characters.
    #[schema(value_type = String, max_length = 100, example = "Evolution principal")]
    #[serde(default)]
    pub name: Input,
    /// `http` or `https`, without a user name or password, on a public address (as on
    /// create); unique. Instances registered with the old URL move with it. On another
    /// origin (scheme, host or port) it needs `api_key` in the same request when the
    /// server has a key (422 on `api_key`).
    #[schema(value_type = crate::domain::HttpUrl, inline,
        example = "https://evolution.midominio.com")]
    #[serde(default)]
    pub base_url: Input,
    /// 1 to 255 visible ASCII characters, no spaces. Write-only, stored encrypted.
    #[schema(value_type = String, pattern = "^[!-~]{1,255}$",
        example = "B6D9F2E8-A3C4-4D5E-9F8A-1B2C3D4E5F6A")]
    #[serde(default)]
    pub api_key: Input,
    #[schema(value_type = bool)]
    #[serde(default)]
    pub is_active: Input,
    /// Making a server the default takes the flag from the previous one.
    #[schema(value_type = bool)]
    #[serde(default)]
    pub is_default: Input,
}

/// The fields of a server body as sent, whichever operation it came with.
#[derive(Default)]
pub struct ServerBody {
    pub name: Input,
    pub base_url: Input,
    pub api_key: Input,
    pub is_active: Input,
    pub is_default: Input,
}

impl From<CreateEvolutionServerBody> for ServerBody {
    fn from(body: CreateEvolutionServerBody) -> Self {
        Self {
            name: body.name,
            base_url: body.base_url,
            api_key: body.api_key,
            is_active: body.is_active,
            is_default: body.is_default,
        }
    }
}

impl From<UpdateEvolutionServerBody> for ServerBody {
    fn from(body: UpdateEvolutionServerBody) -> Self {
        Self {
            name: body.name,
            base_url: body.base_url,
            api_key: body.api_key,
            is_active: body.is_active,
            is_default: body.is_default,
        }
    }
}

pub const NAME_MAX_CHARS: usize = 100;

/// A key Evolution can read from an HTTP header: visible ASCII, no spaces.
pub fn api_key(raw: &str) -> Result<String, Msg> {
    let valid = (1..=255).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
    if valid {
        Ok(raw.to_string())
    } else {
        Err(Msg::ApiKeyFormat)
    }
}

impl ServerBody {
    /// A create body as the new server's columns: `name`, `base_url` and `api_key` are
    /// required.
    pub fn parse_new(
        &self,
        cipher: &Cipher,
        targets: &TargetPolicy,
    ) -> Result<ValidNewServer, RefusedServer> {
        let mut errors = FieldErrors::default();
        for (field, input) in [
            ("name", &self.name),
            ("base_url", &self.base_url),
            ("api_key", &self.api_key),
        ] {
            if input.is_absent() {
                errors.add(field, Msg::Required);
            }
        }
        let fields = self.parse(cipher, targets, &mut errors);
        match (fields.name, fields.base_url) {
            (Some(name), Some(base_url)) if errors.is_empty() => Ok(ValidNewServer {
                name,
                base_url,
                api_key_encrypted: fields.api_key_encrypted.flatten(),
                is_active: fields.is_active,
                is_default: fields.is_default,
            }),
            (_, base_url) => Err(RefusedServer { errors, base_url }),
        }
    }

    /// An update body as the columns it changes. A `base_url` on another origin than
    /// `current`'s needs `api_key` sent with it when `current` has a key.
    pub fn parse_changes(
        &self,
        cipher: &Cipher,
        targets: &TargetPolicy,
        current: &EvolutionServer,
    ) -> Result<ServerChanges, RefusedServer> {
        let mut errors = FieldErrors::default();
        let changes = self.parse(cipher, targets, &mut errors);
        if let (Some(to), Some(_)) = (changes.base_url.as_deref(), &current.api_key_encrypted) {
            require_key_on_new_origin(
                &mut errors,
                ("base_url", Some(&current.base_url), Some(to)),
                ("api_key", !self.api_key.is_absent()),
            );
        }
        if errors.is_empty() {
            Ok(changes)
        } else {
            Err(RefusedServer {
                errors,
                base_url: changes.base_url,
            })
        }
    }

    /// The columns this body sets. `errors` receives every problem found.
    fn parse(
        &self,
        cipher: &Cipher,
        targets: &TargetPolicy,
        errors: &mut FieldErrors,
    ) -> ServerChanges {
        for (field, input) in [
            ("name", &self.name),
            ("base_url", &self.base_url),
            ("api_key", &self.api_key),
            ("is_active", &self.is_active),
            ("is_default", &self.is_default),
        ] {
            if matches!(input, Input::Null) {
                errors.add(field, Msg::Required);
            }
        }
        ServerChanges {
            name: at_most(&self.name, "name", NAME_MAX_CHARS, errors)
                .then(|| optional(&self.name, "name", errors, |raw| Ok(raw.to_string())))
                .flatten(),
            base_url: optional(&self.base_url, "base_url", errors, |raw| {
                targets
                    .parse(raw, Target::Evolution)
                    .map(HttpUrl::into_inner)
            }),
            api_key_encrypted: optional(&self.api_key, "api_key", errors, api_key)
                .map(|key| Some(cipher.encrypt(&key))),
            is_active: self.is_active.boolean("is_active", errors),
            is_default: self.is_default.boolean("is_default", errors),
            updated_at: None,
        }
    }
}

pub async fn find_server(state: &AppState, id: i64) -> Result<EvolutionServer, ApiError> {
    state
        .db(move |conn| Ok(evolution_servers::find(conn, id)?))
        .await?
        .ok_or_else(|| ApiError::not_found(Resource::EvolutionServer))
}

pub fn upstream(server: &EvolutionServer) -> UpstreamServer<'_> {
    UpstreamServer {
        id: server.id,
        name: &server.name,
    }
}

/// A base URL another server has is a 422 on `base_url`.
pub fn base_url_taken(locale: Locale) -> ApiError {
    FieldErrors::one("base_url", Msg::BaseUrlTaken, locale)
}

/// What a 409 for a server that still has instances looks like.
pub fn has_instances(count: i64) -> ApiError {
    ApiError::conflict(
        ErrorKey::EvolutionServerHasInstances,
        format!("The Evolution server still has {count} WhatsApp instance(s); delete or move them first"),
    )
    .with_params(serde_json::json!({ "instances": count }))
}
