//! Builders for the things most tests arrange first: a tenant, an instance, an Evolution
//! server, a sender token, a user. Each starts from a body the API accepts, takes named
//! changes, and either sends the request as it is (`send`, for a test about the answer) or
//! creates the thing and answers its id (`create`, which fails the test unless it is 201).
//!
//! ```ignore
//! let tenant = app.new_tenant().slug("acme").timezone("America/Bogota").create().await;
//! let id = app.new_instance(tenant).phone("+573001234567").name("uno").create().await;
//! let (admin, token) = app.new_user().email("b@relevo.test").super_admin().logged_in().await;
//! ```

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{instances_path, Reply, TestApp, USER_PASSWORD};
use crate::callback_receiver::Receiver;

impl TestApp {
    /// Seed 001's tenant "candidato-alcaldia", in UTC, to change before it is created.
    pub fn new_tenant(&self) -> TenantBuilder<'_> {
        TenantBuilder {
            app: self,
            body: json!({
                "slug": "candidato-alcaldia", "nombre": "Juan Pérez - Alcaldía",
                "tipo_cargo": "Alcalde", "identificacion": "1234567890", "timezone": "UTC",
            }),
            receiver: None,
        }
    }

    /// Seed 001's instance of `tenant` ("principal_campana", +573001234567, 1000 a day), to
    /// change before it is registered.
    pub fn new_instance(&self, tenant: i64) -> InstanceBuilder<'_> {
        InstanceBuilder {
            app: self,
            tenant,
            body: valid_instance(),
        }
    }

    /// An Evolution server "Principal" at `https://evo.example.com`, to change before it is
    /// registered.
    pub fn new_server(&self) -> ServerBuilder<'_> {
        ServerBuilder {
            app: self,
            body: json!({"name": "Principal", "base_url": "https://evo.example.com", "api_key": "k"}),
        }
    }

    /// A sender token "campaign-worker" of `tenant`, to change before it is issued.
    pub fn new_sender_token(&self, tenant: i64) -> SenderTokenBuilder<'_> {
        SenderTokenBuilder {
            app: self,
            tenant,
            body: json!({"name": "campaign-worker"}),
        }
    }

    /// A user `ana@relevo.test` with [`USER_PASSWORD`]; give it a role before it is created.
    pub fn new_user(&self) -> UserBuilder<'_> {
        UserBuilder {
            app: self,
            body: json!({"email": "ana@relevo.test", "password": USER_PASSWORD}),
        }
    }

    /// Seed 001's tenant "candidato-alcaldia"; answers its id.
    pub async fn seed_tenant(&self) -> i64 {
        self.new_tenant().create().await
    }

    /// Seed 001's tenant under another slug and time zone; answers its id.
    pub async fn tenant_named(&self, slug: &str, timezone: &str) -> i64 {
        self.new_tenant()
            .slug(slug)
            .timezone(timezone)
            .create()
            .await
    }

    /// Registers an instance that must be accepted; answers its id.
    pub async fn instance(&self, tenant: i64, phone: &str, name: &str, limit: i64) -> i64 {
        self.new_instance(tenant)
            .phone(phone)
            .name(name)
            .api_key("key-123")
            .limit(limit)
            .create()
            .await
    }

    /// Provisions `name` on the default Evolution server, which must succeed; answers its id.
    pub async fn provisioned(&self, tenant: i64, name: &str) -> i64 {
        self.provisioned_with(tenant, &json!({ "instance_name": name }))
            .await
    }

    /// Provisions an instance described by `body`, which must succeed; answers its id.
    pub async fn provisioned_with(&self, tenant: i64, body: &Value) -> i64 {
        created_id(self.provision(tenant, body).await)
    }

    /// Issues a sender token for `tenant`; answers the token.
    pub async fn sender_token(&self, tenant: i64) -> String {
        self.new_sender_token(tenant).issued().await.1
    }

    /// A tenant user of `tenant`, logged in; answers its token.
    pub async fn tenant_user_token(&self, tenant: i64, email: &str) -> String {
        self.new_user()
            .email(email)
            .tenant_user(tenant)
            .logged_in()
            .await
            .1
    }

    /// The id of the default Evolution server (the one `EVOLUTION_API_BASE_URL` names).
    pub async fn default_server_id(&self) -> i64 {
        let servers = self
            .admin(Method::GET, "/api/v1/evolution-servers", None)
            .await;
        assert_eq!(servers.status, StatusCode::OK, "{}", servers.body);
        servers.body["data"]
            .as_array()
            .expect("a list of servers")
            .iter()
            .find(|server| server["is_default"] == true)
            .expect("a default server")["id"]
            .as_i64()
            .expect("an id")
    }
}

/// A create body of an instance that passes every rule.
pub fn valid_instance() -> Value {
    json!({
        "phone_number": "+573001234567",
        "instance_name": "principal_campana",
        "evolution_api_key": "B6D9F2E8-A3C4-4D5E-9F8A-1B2C3D4E5F6A",
        "daily_message_limit": 1000
    })
}

/// The `data.id` of a reply that must be a 201.
#[track_caller]
pub fn created_id(reply: Reply) -> i64 {
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["data"]["id"].as_i64().expect("a created id")
}

pub struct TenantBuilder<'a> {
    app: &'a TestApp,
    body: Value,
    receiver: Option<&'a Receiver>,
}

impl<'a> TenantBuilder<'a> {
    pub fn slug(mut self, slug: &str) -> Self {
        self.body["slug"] = json!(slug);
        self
    }

    pub fn name(mut self, nombre: &str) -> Self {
        self.body["nombre"] = json!(nombre);
        self
    }

    pub fn timezone(mut self, timezone: &str) -> Self {
        self.body["timezone"] = json!(timezone);
        self
    }

    pub fn callback_url(mut self, url: &str) -> Self {
        self.body["callback_url"] = json!(url);
        self
    }

    /// Its events go to `receiver`, which learns the tenant's secret when it is created.
    pub fn calling(mut self, receiver: &'a Receiver) -> Self {
        self.body["callback_url"] = json!(receiver.url);
        self.receiver = Some(receiver);
        self
    }

    pub async fn send(self) -> Reply {
        self.app.create_tenant(self.body).await
    }

    /// Creates it, which must succeed; answers its `data`.
    pub async fn created(self) -> Value {
        let receiver = self.receiver;
        let reply = self.send().await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        let data = reply.body["data"].clone();
        if let Some(receiver) = receiver {
            let secret = data["callback_secret"].as_str().expect("a callback secret");
            receiver.set_secret(data["id"].as_i64().expect("an id"), secret);
        }
        data
    }

    /// Creates it, which must succeed; answers its id.
    pub async fn create(self) -> i64 {
        self.created().await["id"].as_i64().expect("an id")
    }
}

pub struct InstanceBuilder<'a> {
    app: &'a TestApp,
    tenant: i64,
    body: Value,
}

impl InstanceBuilder<'_> {
    pub fn phone(mut self, phone: &str) -> Self {
        self.body["phone_number"] = json!(phone);
        self
    }

    pub fn name(mut self, name: &str) -> Self {
        self.body["instance_name"] = json!(name);
        self
    }

    pub fn api_key(mut self, key: &str) -> Self {
        self.body["evolution_api_key"] = json!(key);
        self
    }

    pub fn limit(mut self, limit: i64) -> Self {
        self.body["daily_message_limit"] = json!(limit);
        self
    }

    /// On the Evolution server at `url` instead of the default one.
    pub fn api_url(mut self, url: &str) -> Self {
        self.body["evolution_api_url"] = json!(url);
        self
    }

    pub async fn send(self) -> Reply {
        self.app
            .admin(Method::POST, &instances_path(self.tenant), Some(&self.body))
            .await
    }

    /// Registers it, which must succeed; answers its id.
    pub async fn create(self) -> i64 {
        created_id(self.send().await)
    }
}

pub struct ServerBuilder<'a> {
    app: &'a TestApp,
    body: Value,
}

impl ServerBuilder<'_> {
    pub fn name(mut self, name: &str) -> Self {
        self.body["name"] = json!(name);
        self
    }

    pub fn base_url(mut self, url: &str) -> Self {
        self.body["base_url"] = json!(url);
        self
    }

    pub fn api_key(mut self, key: &str) -> Self {
        self.body["api_key"] = json!(key);
        self
    }

    pub async fn send(self) -> Reply {
        self.app
            .admin(Method::POST, "/api/v1/evolution-servers", Some(&self.body))
            .await
    }

    /// Registers it, which must succeed; answers its id.
    pub async fn create(self) -> i64 {
        created_id(self.send().await)
    }
}

pub struct SenderTokenBuilder<'a> {
    app: &'a TestApp,
    tenant: i64,
    body: Value,
}

impl SenderTokenBuilder<'_> {
    pub fn name(mut self, name: &str) -> Self {
        self.body["name"] = json!(name);
        self
    }

    pub fn expires_in_days(mut self, days: i64) -> Self {
        self.body["expires_in_days"] = json!(days);
        self
    }

    pub async fn send(self) -> Reply {
        let path = format!("/api/v1/tenants/{}/sender-tokens", self.tenant);
        self.app.admin(Method::POST, &path, Some(&self.body)).await
    }

    /// Issues it, which must succeed; answers its id and the token (shown this once).
    pub async fn issued(self) -> (i64, String) {
        let reply = self.send().await;
        let token = reply.body["data"]["token"].as_str().map(str::to_string);
        let id = created_id(reply);
        (id, token.expect("the token, shown once"))
    }
}

pub struct UserBuilder<'a> {
    app: &'a TestApp,
    body: Value,
}

impl UserBuilder<'_> {
    pub fn email(mut self, email: &str) -> Self {
        self.body["email"] = json!(email);
        self
    }

    pub fn super_admin(mut self) -> Self {
        self.body["role"] = json!("super_admin");
        self
    }

    pub fn tenant_user(mut self, tenant: i64) -> Self {
        self.body["role"] = json!("tenant_user");
        self.body["tenant_id"] = json!(tenant);
        self
    }

    pub async fn send(self) -> Reply {
        self.app.create_user(self.body).await
    }

    /// Creates it, which must succeed; answers its id.
    pub async fn create(self) -> i64 {
        created_id(self.send().await)
    }

    /// Creates it and logs it in; answers its id and token.
    pub async fn logged_in(self) -> (i64, String) {
        let app = self.app;
        let email = self.body["email"].as_str().expect("an email").to_string();
        let password = self.body["password"]
            .as_str()
            .expect("a password")
            .to_string();
        let id = self.create().await;
        (id, app.login_token(&email, &password).await)
    }
}
