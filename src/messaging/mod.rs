//! Sending a text through Relevo (SPEC §6): claim one message on an instance (sticky to
//! the recipient), call Evolution's `sendText` with the instance's own key, and record the
//! outcome. When the instance fails, its claim is released, the instance is marked as
//! Evolution showed it, and another instance is tried, at most three in all. A message
//! that was not sent never stays counted; one that may have gone out (a timeout) stays
//! counted and is `unknown`, and is never sent again.
//!
//! The text lives only in the request: it is never written to the database.

pub mod attempt;
pub mod receipts;

use std::time::Instant;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};

use crate::audit::{Action, Auditor};
use crate::auth::identity::SenderCaller;
use crate::db::claims::{self, Claim, ClaimOutcome, ClaimRequest, IDEMPOTENCY_WINDOW_HOURS};
use crate::db::instances::Instance;
use crate::db::messages::{self, Message, NewMessage, Progress};
use crate::db::remote_instances::{self, RemoteChanges};
use crate::db::tenants::Tenant;
use crate::db::{evolution_servers, is_unique_violation, write_transaction_once, DbConnection};
use crate::domain::{ConnectionStatus, MessageStatus, PhoneNumber, RotationStrategy, Timestamp};
use crate::error::{ApiError, ErrorKey};
use crate::events;
use crate::request_id::RequestId;
use crate::sender::claim::claim_next_instance;
use crate::sender::{authorize, claim_request, local_date, tenant_zone};
use crate::state::AppState;

use attempt::{Attempt, Failure, Verdict};

/// Instances a message is tried on, at most.
pub const MAX_INSTANCES: usize = 3;

/// The final `error_key` of a message that could not be sent anywhere.
pub const SEND_FAILED: ErrorKey = ErrorKey::MessageSendFailed;
/// ... of a message whose recipient is not on WhatsApp.
pub const RECIPIENT_INVALID: ErrorKey = ErrorKey::MessageRecipientInvalid;
/// ... of a message whose outcome is unknown.
pub const SEND_TIMEOUT: ErrorKey = ErrorKey::MessageSendTimeout;

/// How often a repeated request looks again at a message still being sent.
const IN_FLIGHT_POLL: std::time::Duration = std::time::Duration::from_millis(25);

/// A message to send, validated.
pub struct Outgoing {
    pub to: PhoneNumber,
    pub text: String,
    pub idempotency_key: Option<String>,
    pub strategy: Option<RotationStrategy>,
}

/// A message that went out.
pub enum Sent {
    /// By this request.
    Now(Message),
    /// By an earlier request with the same idempotency key; nothing was sent again.
    Before(Message),
}

/// Why a message was not sent (or may not have been).
pub enum SendError {
    Api(ApiError),
    /// No instance could take it; nothing was recorded.
    NoneAvailable {
        any_active: bool,
        tenant: Box<Tenant>,
    },
    /// The first request with this key is still sending it.
    InFlight(Box<Message>),
    /// The number is not on WhatsApp.
    RecipientInvalid(Box<Message>),
    /// Every instance tried failed; nothing stays counted.
    Failed(Box<Message>),
    /// It may have gone out: it stays counted, and is not sent again.
    Unknown(Box<Message>),
}

impl From<ApiError> for SendError {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

/// Sends `outgoing` for the tenant the caller names (a sender token's own tenant when
/// `tenant_key` is `None`).
pub async fn send(
    state: &AppState,
    caller: SenderCaller,
    tenant_key: Option<String>,
    outgoing: Outgoing,
    request_id: RequestId,
) -> Result<Sent, SendError> {
    let now = state.clock.now();
    // A super admin sending through a tenant's number is audited (SPEC §9).
    let auditor = match &caller {
        SenderCaller::User(token) => {
            Some(Auditor::for_user(token.user_id(), request_id, &state.clock))
        }
        SenderCaller::Token { .. } => None,
    };
    match begin(state, caller, tenant_key, &outgoing, auditor, now).await? {
        Begun::Existing(message) => settle(state, message).await,
        Begun::NoneAvailable { any_active, tenant } => Err(SendError::NoneAvailable {
            any_active,
            tenant: Box::new(tenant),
        }),
        Begun::Claimed(sending) => sending.run(state, &outgoing).await,
    }
}

enum Begun {
    /// The idempotency key's message.
    Existing(Message),
    NoneAvailable {
        any_active: bool,
        tenant: Tenant,
    },
    Claimed(Box<Sending>),
}

/// Why the first claim's transaction was rolled back.
enum BeginFailure {
    /// A concurrent request with the same key recorded its message first.
    KeyTaken,
    Api(ApiError),
}

impl From<diesel::result::Error> for BeginFailure {
    fn from(error: diesel::result::Error) -> Self {
        Self::Api(error.into())
    }
}

/// Finds the key's message, or claims the first instance and records the message as
/// `sending`, in one transaction.
async fn begin(
    state: &AppState,
    caller: SenderCaller,
    tenant_key: Option<String>,
    outgoing: &Outgoing,
    auditor: Option<Auditor>,
    now: DateTime<Utc>,
) -> Result<Begun, ApiError> {
    let to = outgoing.to.as_str().to_string();
    let key = outgoing.idempotency_key.clone();
    let strategy = outgoing.strategy;
    state
        .write(move |conn| {
            let (tenant, sender_token_id) =
                authorize(conn, &caller, tenant_key.as_deref(), now.naive_utc())?;
            if let Some(key) = &key {
                if let Some(message) = keyed_message(conn, tenant.id, key, now.naive_utc())? {
                    return Ok(Begun::Existing(message));
                }
            }
            let request = ClaimRequest {
                recipient: Some(to),
                sender_token_id,
                ..claim_request(&tenant, now, 1, strategy)
            };
            let tenant_id = tenant.id;
            match write_transaction_once(conn, |conn| {
                first_claim(conn, tenant, &request, key.as_deref(), auditor.as_ref())
            }) {
                Ok(begun) => Ok(begun),
                Err(BeginFailure::KeyTaken) => {
                    let key = key.as_deref().unwrap_or_default();
                    keyed_message(conn, tenant_id, key, now.naive_utc())?
                        .map(Begun::Existing)
                        .ok_or_else(|| ApiError::internal("an idempotency key's message vanished"))
                }
                Err(BeginFailure::Api(error)) => Err(error),
            }
        })
        .await
}

/// The tenant's message with this idempotency key, unless the key expired (then it is
/// freed for a new message; the old one stays in the log).
fn keyed_message(
    conn: &mut DbConnection,
    tenant_id: i64,
    key: &str,
    now: NaiveDateTime,
) -> diesel::QueryResult<Option<Message>> {
    let Some(message) = messages::find_by_key(conn, tenant_id, key)? else {
        return Ok(None);
    };
    if message.created_at < now - Duration::hours(IDEMPOTENCY_WINDOW_HOURS) {
        messages::forget_key(conn, message.id)?;
        return Ok(None);
    }
    Ok(Some(message))
}

fn first_claim(
    conn: &mut DbConnection,
    tenant: Tenant,
    request: &ClaimRequest,
    key: Option<&str>,
    auditor: Option<&Auditor>,
) -> Result<Begun, BeginFailure> {
    let (claim, instance) = match claim_next_instance(conn, request)? {
        ClaimOutcome::Granted(claim, instance) => (claim, instance),
        ClaimOutcome::NoneAvailable { any_active } => {
            return Ok(Begun::NoneAvailable { any_active, tenant })
        }
        ClaimOutcome::Replayed(..) => {
            return Err(BeginFailure::Api(ApiError::internal(
                "a claim without a key was replayed",
            )))
        }
    };
    let base_url = evolution_servers::default_base_url_of(conn, &instance)?;
    let public_id = uuid::Uuid::new_v4().to_string();
    let new = NewMessage {
        public_id: &public_id,
        tenant_id: tenant.id,
        recipient: request.recipient.as_deref().unwrap_or_default(),
        status: MessageStatus::Sending,
        instance_id: instance.id,
        instance_name: &instance.instance_name,
        instance_phone: &instance.phone_number,
        claim_id: &claim.public_id,
        attempts: "[]",
        strategy: &claim.strategy,
        idempotency_key: key,
        sender_token_id: request.sender_token_id,
        created_at: request.now,
        updated_at: request.now,
        sent_by_user_id: auditor.map(Auditor::actor_id),
    };
    let message =
        messages::insert(conn, &new).map_err(|error| match is_unique_violation(&error) {
            true => BeginFailure::KeyTaken,
            false => error.into(),
        })?;
    if let Some(auditor) = auditor {
        let after = serde_json::json!({
            "message_id": message.public_id,
            "to": message.recipient,
            "instance_id": message.instance_id,
            "instance_name": message.instance_name,
        });
        auditor.record(
            conn,
            Action::MessageSendRequested,
            message.id,
            Some(message.tenant_id),
            None,
            Some(after),
        )?;
    }
    Ok(Begun::Claimed(Box::new(Sending {
        tenant,
        strategy: request.strategy,
        sender_token_id: request.sender_token_id,
        message,
        claim,
        instance,
        base_url,
        attempts: Vec::new(),
    })))
}

/// A message being sent: the instance it is counted on now, and the attempts so far.
struct Sending {
    tenant: Tenant,
    strategy: RotationStrategy,
    sender_token_id: Option<i64>,
    message: Message,
    claim: Claim,
    instance: Instance,
    /// The instance's server's URL, for an instance without its own.
    base_url: Option<String>,
    attempts: Vec<Attempt>,
}

/// What the next attempt is.
enum Next {
    /// The claim on the next instance, the instance, and its server's URL.
    Try(Box<(Claim, Instance, Option<String>)>),
    GaveUp(Box<Message>),
}

impl Sending {
    async fn run(mut self, state: &AppState, outgoing: &Outgoing) -> Result<Sent, SendError> {
        loop {
            let answer = self.call_evolution(state, outgoing).await;
            let at = state.clock.now();
            match answer {
                Verdict::Sent(message_id) => {
                    self.note(at, None);
                    let message = self.finish(state, MessageStatus::Sent, Some(message_id), None);
                    return Ok(Sent::Now(message.await?));
                }
                Verdict::Unknown(failure) => {
                    self.note(at, Some(&failure));
                    let message =
                        self.finish(state, MessageStatus::Unknown, None, Some(SEND_TIMEOUT));
                    return Err(SendError::Unknown(Box::new(message.await?)));
                }
                Verdict::Recipient(failure) => {
                    self.note(at, Some(&failure));
                    let message = self.give_up(state, None, RECIPIENT_INVALID, at).await?;
                    return Err(SendError::RecipientInvalid(Box::new(message)));
                }
                Verdict::Instance(failure) => {
                    self.note(at, Some(&failure));
                    match self.fail_over(state, failure, at).await? {
                        Next::Try(next) => {
                            let (claim, instance, base_url) = *next;
                            self.claim = claim;
                            self.instance = instance;
                            self.base_url = base_url;
                        }
                        Next::GaveUp(message) => return Err(SendError::Failed(message)),
                    }
                }
            }
        }
    }

    /// `sendText` on the current instance, with the instance's own key.
    async fn call_evolution(&self, state: &AppState, outgoing: &Outgoing) -> Verdict {
        let instance = &self.instance;
        let Some(base_url) = instance
            .evolution_api_url
            .as_ref()
            .or(self.base_url.as_ref())
        else {
            let failure = Failure::new(
                ErrorKey::EvolutionNoServer,
                "The instance has no Evolution API URL and no server",
            );
            return Verdict::Instance(failure);
        };
        let key = match state.cipher.decrypt(&instance.evolution_api_key_encrypted) {
            Ok(key) => key,
            Err(error) => {
                log::error!("instance {}: its key cannot be read: {error}", instance.id);
                let failure = Failure::new(
                    ErrorKey::EvolutionNoServer,
                    "The instance's key cannot be read",
                );
                return Verdict::Instance(failure);
            }
        };
        let answer = state
            .evolution
            .server(instance.evolution_server_id, base_url, &key)
            .send_text(
                &instance.instance_name,
                outgoing.to.digits(),
                &outgoing.text,
            )
            .await;
        if let Err(error) = &answer {
            log::warn!(
                "message {} on instance {}: {error}",
                self.message.public_id,
                instance.id
            );
        }
        Verdict::of(answer)
    }

    /// Adds the attempt just made on the current instance.
    fn note(&mut self, at: DateTime<Utc>, failure: Option<&Failure>) {
        self.attempts.push(Attempt {
            instance_id: self.instance.id,
            instance_name: self.instance.instance_name.clone(),
            claim_id: self.claim.public_id.clone(),
            error_key: failure.map(|failure| failure.error_key),
            error: failure.map(|failure| failure.error.clone()),
            at: Timestamp(at.naive_utc()),
        });
    }

    fn attempts_json(&self) -> Result<String, ApiError> {
        serde_json::to_string(&self.attempts).map_err(ApiError::internal)
    }

    /// Records the outcome of a message that stays counted (sent, or unknown).
    async fn finish(
        &self,
        state: &AppState,
        status: MessageStatus,
        evolution_message_id: Option<String>,
        error_key: Option<ErrorKey>,
    ) -> Result<Message, ApiError> {
        let attempts = self.attempts_json()?;
        let (id, instance, claim_id) = self.current();
        let now = state.clock.now().naive_utc();
        state
            .write(move |conn| {
                let progress = Progress {
                    status,
                    instance: (instance.0, &instance.1, &instance.2),
                    claim_id: &claim_id,
                    evolution_message_id: evolution_message_id.as_deref(),
                    error_key,
                    attempts: &attempts,
                    now,
                };
                let message = recorded(messages::record_progress(conn, id, &progress)?)?;
                // A receipt may have come while Evolution's answer was being recorded.
                match &message.evolution_message_id {
                    Some(whatsapp_id)
                        if messages::has_receipts(conn, message.instance_id, whatsapp_id)? =>
                    {
                        Ok(crate::db::write_transaction(conn, |conn| {
                            receipts::apply_kept(conn, message.clone(), now)
                        })?)
                    }
                    _ => Ok(message),
                }
            })
            .await
    }

    /// Releases the current claim and records the message as `failed` with `error_key`,
    /// after marking the instance as `failure` showed it.
    async fn give_up(
        &self,
        state: &AppState,
        failure: Option<Failure>,
        error_key: ErrorKey,
        at: DateTime<Utc>,
    ) -> Result<Message, ApiError> {
        let undo = self.undo(failure, at)?;
        state
            .transaction(move |conn| {
                undo.apply(conn)?;
                undo.record(conn, MessageStatus::Failed, Some(error_key))
            })
            .await
    }

    /// After the instance failed: its claim is released, the instance marked, and the
    /// next eligible instance not tried yet is claimed, in one transaction. With none
    /// left (or three tried), the message is `failed`.
    async fn fail_over(
        &self,
        state: &AppState,
        failure: Failure,
        at: DateTime<Utc>,
    ) -> Result<Next, ApiError> {
        if self.attempts.len() >= MAX_INSTANCES {
            let message = self.give_up(state, Some(failure), SEND_FAILED, at).await?;
            return Ok(Next::GaveUp(Box::new(message)));
        }
        let undo = self.undo(Some(failure), at)?;
        let request = ClaimRequest {
            recipient: Some(self.message.recipient.clone()),
            sender_token_id: self.sender_token_id,
            exclude: self
                .attempts
                .iter()
                .map(|tried| tried.instance_id)
                .collect(),
            ..claim_request(&self.tenant, at, 1, Some(self.strategy))
        };
        state
            .transaction(move |conn| {
                undo.apply(conn)?;
                let (claim, instance) = match claim_next_instance(conn, &request)? {
                    ClaimOutcome::Granted(claim, instance) => (claim, instance),
                    _ => {
                        let message =
                            undo.record(conn, MessageStatus::Failed, Some(SEND_FAILED))?;
                        return Ok(Next::GaveUp(Box::new(message)));
                    }
                };
                let base_url = evolution_servers::default_base_url_of(conn, &instance)?;
                let progress = Progress {
                    status: MessageStatus::Sending,
                    instance: (instance.id, &instance.instance_name, &instance.phone_number),
                    claim_id: &claim.public_id,
                    evolution_message_id: None,
                    error_key: None,
                    attempts: &undo.attempts,
                    now: undo.now,
                };
                recorded(messages::record_progress(conn, undo.message_id, &progress)?)?;
                Ok(Next::Try(Box::new((claim, instance, base_url))))
            })
            .await
    }

    fn undo(&self, failure: Option<Failure>, at: DateTime<Utc>) -> Result<Undo, ApiError> {
        let (message_id, instance, claim_id) = self.current();
        Ok(Undo {
            tenant_id: self.tenant.id,
            message_id,
            instance,
            claim_id,
            today: local_date(at, tenant_zone(&self.tenant)),
            shows: failure.and_then(|failure| failure.shows),
            attempts: self.attempts_json()?,
            now: at.naive_utc(),
        })
    }

    /// The message's id, the current instance (id, name, phone) and its claim.
    fn current(&self) -> (i64, (i64, String, String), String) {
        let instance = &self.instance;
        (
            self.message.id,
            (
                instance.id,
                instance.instance_name.clone(),
                instance.phone_number.clone(),
            ),
            self.claim.public_id.clone(),
        )
    }
}

/// Taking back a failed attempt: the claim released, the instance marked.
struct Undo {
    tenant_id: i64,
    message_id: i64,
    instance: (i64, String, String),
    claim_id: String,
    today: chrono::NaiveDate,
    shows: Option<ConnectionStatus>,
    attempts: String,
    now: NaiveDateTime,
}

impl Undo {
    fn apply(&self, conn: &mut DbConnection) -> Result<(), ApiError> {
        // A claim of a day that is over stays in that day's count: the day is closed.
        claims::release_claim(
            conn,
            self.tenant_id,
            &self.claim_id,
            None,
            self.today,
            self.now,
        )?;
        if let Some(status) = self.shows {
            let changes = RemoteChanges {
                connection_status: Some(status),
                last_checked_at: Some(self.now),
                updated_at: Some(self.now),
                ..RemoteChanges::default()
            };
            if let Some(change) = remote_instances::record(conn, self.instance.0, &changes)? {
                events::instance_changed(conn, &change)?;
            }
        }
        Ok(())
    }

    fn record(
        &self,
        conn: &mut DbConnection,
        status: MessageStatus,
        error_key: Option<ErrorKey>,
    ) -> Result<Message, ApiError> {
        let progress = Progress {
            status,
            instance: (self.instance.0, &self.instance.1, &self.instance.2),
            claim_id: &self.claim_id,
            evolution_message_id: None,
            error_key,
            attempts: &self.attempts,
            now: self.now,
        };
        recorded(messages::record_progress(conn, self.message_id, &progress)?)
    }
}

/// The message after recording progress on it. `None` means another request declared
/// it `unknown` while this one was still sending (it took longer than
/// [`stale_after`]): nothing this request did may be kept.
fn recorded(message: Option<Message>) -> Result<Message, ApiError> {
    message.ok_or_else(|| ApiError::internal("a message was given up on while being sent"))
}

/// How long a message may stay `sending` without progress before a repeated request
/// declares it `unknown`: one attempt's connect and request timeouts, and a margin.
/// Only a process that died while sending leaves a message that long.
pub fn stale_after(state: &AppState) -> Duration {
    let evolution = &state.settings.evolution;
    let millis = evolution.connect_timeout_ms + evolution.request_timeout_ms + 10_000;
    Duration::milliseconds(i64::try_from(millis).unwrap_or(i64::MAX / 2))
}

/// Declares the messages whose sending stopped making progress [`stale_after`] ago
/// `unknown` (their process died while sending: they may have gone out, so they stay
/// counted). The sync scheduler's step runs it, so the log never shows them `sending`
/// for long; a repeated key does the same for its own message at once.
pub async fn abandon_stale(state: &AppState) -> Result<usize, ApiError> {
    let now = state.clock.now().naive_utc();
    let before = now - stale_after(state);
    state
        .write(move |conn| Ok(messages::give_up_stale(conn, before, SEND_TIMEOUT, now)?))
        .await
}

/// Applies delivery receipts kept for messages recorded since (see [`receipts`]); the
/// sync scheduler's step runs it.
pub async fn apply_kept_receipts(state: &AppState) -> Result<usize, ApiError> {
    let now = state.clock.now().naive_utc();
    state
        .write(move |conn| Ok(receipts::apply_all_kept(conn, now)?))
        .await
}

/// The answer to a repeated key: the message as its first request left it. While that
/// request is still sending, waits for it (up to [`stale_after`]).
async fn settle(state: &AppState, mut message: Message) -> Result<Sent, SendError> {
    let waiting_since = Instant::now();
    let patience = stale_after(state);
    loop {
        if message.status != MessageStatus::Sending {
            return replay(message);
        }
        let now = state.clock.now().naive_utc();
        let (id, seen_at) = (message.id, message.updated_at);
        if now - seen_at > patience {
            let abandoned = state
                .write(move |conn| Ok(messages::give_up_on(conn, id, seen_at, SEND_TIMEOUT, now)?))
                .await?;
            if let Some(message) = abandoned {
                return replay(message);
            }
        } else if waiting_since.elapsed() >= patience.to_std().unwrap_or_default() {
            return Err(SendError::InFlight(Box::new(message)));
        } else {
            tokio::time::sleep(IN_FLIGHT_POLL).await;
        }
        message = state
            .db(move |conn| Ok(messages::find_by_id(conn, id)?))
            .await?
            .ok_or_else(|| ApiError::internal("a message being sent vanished"))?;
    }
}

fn replay(message: Message) -> Result<Sent, SendError> {
    match message.status {
        MessageStatus::Sent | MessageStatus::Delivered | MessageStatus::Read => {
            Ok(Sent::Before(message))
        }
        MessageStatus::Unknown => Err(SendError::Unknown(Box::new(message))),
        MessageStatus::Sending | MessageStatus::Failed
            if message.error_key == Some(RECIPIENT_INVALID) =>
        {
            Err(SendError::RecipientInvalid(Box::new(message)))
        }
        MessageStatus::Sending | MessageStatus::Failed => Err(SendError::Failed(Box::new(message))),
    }
}

/// The attempts a message keeps, read back.
pub fn attempts_of(message: &Message) -> Result<Vec<Attempt>, ApiError> {
    serde_json::from_str(&message.attempts).map_err(ApiError::internal)
}
