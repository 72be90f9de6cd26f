//! Evolution's webhooks (SPEC §8, reference §3): the envelope read into a typed
//! [`Webhook`] ([`crate::evolution::webhook`]), the instance found by the webhook token,
//! and the event applied to it in one short write transaction, with no call back to
//! Evolution. One database connection serves the whole webhook. Applying an event twice
//! changes nothing the second time.

use std::sync::Arc;

use chrono::NaiveDateTime;
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::auth::sender::hash_token;
use crate::db::instances::{self, Instance};
use crate::db::remote_instances::{self, RemoteChanges};
use crate::db::{evolution_servers, outbox, webhook_tokens, write_transaction_once, DbConnection};
use crate::domain::ConnectionStatus;
use crate::error::{ApiError, FieldErrors};
use crate::events::inbound_message;
use crate::events::{self, EventType};
use crate::evolution::webhook::{self, Event, ReceivedMessage, Refused, Webhook};
use crate::evolution::{phone_of_jid, ConnectAnswer, RemoteState};
use crate::i18n::{Locale, Msg};
use crate::input::refuse_nul;
use crate::messaging::receipts;
use crate::metrics::Metrics;
use crate::secrets::Cipher;
use crate::state::AppState;

use super::status::{self, connect_changes, status_changes};

/// Evolution sends media metadata (and base64 media when asked to): more than the API's
/// usual 64 KiB.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What receiving an event did: `applied` (the instance changed), `unchanged` (it
/// already reflected the event: a replay, or an equal state) or `ignored` (not an
/// instance of this server, or an event Relevo does not act upon).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = InboundOutcome)]
pub enum Outcome {
    /// The instance changed.
    Applied,
    /// The instance already reflected it (a replay, or an equal state).
    Unchanged,
    /// Not an instance of this server, or an event Relevo does not act upon.
    Ignored,
}

/// Reads `body` as every body is read (a JSON object, no NUL anywhere: SPEC §2), then as
/// Evolution's envelope. `path_event` is the by-events URL's last segment.
pub fn parse(body: &[u8], path_event: Option<&str>) -> Result<Webhook, ApiError> {
    let envelope: Value = serde_json::from_slice(body)
        .map_err(|error| ApiError::malformed(format!("The body is not valid JSON: {error}")))?;
    let Value::Object(envelope) = envelope else {
        return Err(ApiError::malformed(
            "The body must be Evolution's webhook envelope, a JSON object.",
        ));
    };
    refuse_nul(&envelope, Locale::En)?;
    webhook::parse(&envelope, path_event).map_err(refusal)
}

/// The answer to an envelope Evolution's format does not admit: 400, or 422 for fields
/// longer than Relevo keeps.
fn refusal(refused: Refused) -> ApiError {
    match refused {
        Refused::Malformed(message) => ApiError::malformed(message),
        Refused::TooLong(fields) => {
            let mut errors = FieldErrors::default();
            for (field, max) in &fields {
                errors.add(field, Msg::MaxLength(*max));
            }
            match errors.into_result(Locale::En) {
                Err(error) => error,
                Ok(()) => ApiError::malformed("A field is longer than Relevo keeps."),
            }
        }
    }
}

/// The most events one webhook may cause: Evolution sends one message per
/// `messages.upsert` and a few receipts per `messages.update`; what is beyond is counted
/// (`relevo_inbound_excess_total`), not queued.
pub const MAX_MESSAGES_PER_WEBHOOK: usize = 20;
pub const MAX_RECEIPTS_PER_WEBHOOK: usize = 200;

/// Who a webhook token speaks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Speaker {
    /// An instance's own token: it speaks for that instance only.
    Instance(i64),
    /// A server's shared token from before each instance had its own: it speaks only for
    /// the server's instances that have none yet (the sync moves them to their own).
    LegacyServer(i64),
}

/// The instance an event is about, as its token allows.
enum Target {
    Found(Box<Instance>),
    /// The event names an instance the token does not speak for: changes nothing.
    Foreign,
    /// No such instance: ignored.
    Unknown,
}

/// Authenticates the webhook by the token in its URL (a wrong token is a 401 and changes
/// nothing), parses its `body` and applies the event to the token's own instance, all on
/// one database connection.
pub async fn receive(
    state: &AppState,
    token: String,
    body: &[u8],
    path_event: Option<&str>,
) -> Result<(Webhook, Outcome), ApiError> {
    // Read before a connection is taken; answered only once the token is known good.
    let parsed = parse(body, path_event);
    let receiver = Receiver {
        cipher: state.cipher.clone(),
        metrics: state.metrics.clone(),
        now: state.clock.now().naive_utc(),
    };
    state
        .write(move |conn| receiver.receive(conn, &token, parsed))
        .await
}

/// What receiving a webhook needs besides its connection.
struct Receiver {
    cipher: Cipher,
    metrics: Arc<Metrics>,
    now: NaiveDateTime,
}

impl Receiver {
    fn receive(
        &self,
        conn: &mut DbConnection,
        token: &str,
        parsed: Result<Webhook, ApiError>,
    ) -> Result<(Webhook, Outcome), ApiError> {
        let Some(speaker) = self.speaker_for_token(conn, token)? else {
            self.metrics.inbound_webhook("unauthorized");
            return Err(ApiError::unauthenticated());
        };
        let mut webhook = parsed?;
        if matches!(webhook.event, Event::Other(_)) {
            self.metrics.inbound_webhook("ignored");
            return Ok((webhook, Outcome::Ignored));
        }
        let excess = bound(&mut webhook.event);
        if excess > 0 {
            self.metrics.inbound_excess(excess);
        }
        let (outcome, foreign) =
            write_transaction_once(conn, |conn| apply(conn, speaker, &webhook, self.now))?;
        self.metrics.inbound_webhook(match (foreign, outcome) {
            (true, _) => "foreign",
            (false, Outcome::Applied) => "applied",
            (false, Outcome::Unchanged) => "unchanged",
            (false, Outcome::Ignored) => "ignored",
        });
        Ok((webhook, outcome))
    }

    /// Whom the token speaks for: found by its digest among the instances' tokens, then
    /// among the servers' shared tokens of before (decrypted once to get their digest
    /// when they were stored without one).
    fn speaker_for_token(
        &self,
        conn: &mut DbConnection,
        token: &str,
    ) -> Result<Option<Speaker>, ApiError> {
        if token.is_empty() || token.len() > 256 {
            return Ok(None);
        }
        let digest = hash_token(token);
        if let Some(instance) = webhook_tokens::instance_of(conn, &digest)? {
            return Ok(Some(Speaker::Instance(instance)));
        }
        let server = evolution_servers::find_by_webhook_digest(conn, &digest)?.filter(|server| {
            let stored = server.webhook_token_digest.as_deref().unwrap_or_default();
            bool::from(stored.as_bytes().ct_eq(digest.as_bytes()))
        });
        if let Some(server) = server {
            return Ok(Some(Speaker::LegacyServer(server.id)));
        }
        self.legacy_server_without_digest(conn, token)
    }

    /// A server's shared token stored before its digest was: decrypted once, given its
    /// digest, and compared in constant time.
    fn legacy_server_without_digest(
        &self,
        conn: &mut DbConnection,
        token: &str,
    ) -> Result<Option<Speaker>, ApiError> {
        let mut matched = None;
        for server in evolution_servers::without_webhook_digest(conn)? {
            let Some(sealed) = server.webhook_token_encrypted.as_deref() else {
                continue;
            };
            let plain = self.cipher.decrypt(sealed).map_err(ApiError::internal)?;
            if bool::from(plain.as_bytes().ct_eq(token.as_bytes())) {
                matched = Some(Speaker::LegacyServer(server.id));
            }
            evolution_servers::store_webhook_digest(conn, server.id, &hash_token(&plain))?;
        }
        Ok(matched)
    }
}

/// Keeps at most the events one webhook may cause; answers how many were dropped.
fn bound(event: &mut Event) -> usize {
    fn keep<T>(items: &mut Vec<T>, max: usize) -> usize {
        let excess = items.len().saturating_sub(max);
        items.truncate(max);
        excess
    }
    match event {
        Event::MessagesUpsert(messages) => keep(messages, MAX_MESSAGES_PER_WEBHOOK),
        Event::MessagesUpdate(receipts) => keep(receipts, MAX_RECEIPTS_PER_WEBHOOK),
        _ => 0,
    }
}

/// The instance `webhook` names, if `speaker` speaks for it; locked for the change.
fn target(
    conn: &mut DbConnection,
    speaker: Speaker,
    webhook: &Webhook,
) -> diesel::QueryResult<Target> {
    let instance = match speaker {
        Speaker::Instance(id) => match instances::find_by_id_for_update(conn, id)? {
            Some(instance) if instance.instance_name == webhook.instance => instance,
            Some(_) => return Ok(Target::Foreign),
            None => return Ok(Target::Unknown),
        },
        Speaker::LegacyServer(server_id) => {
            match remote_instances::find_on_server_for_update(conn, server_id, &webhook.instance)? {
                Some(instance) if webhook_tokens::has_own(conn, instance.id)? => {
                    return Ok(Target::Foreign)
                }
                Some(instance) => instance,
                None => return Ok(Target::Unknown),
            }
        }
    };
    Ok(Target::Found(Box::new(instance)))
}

/// Applies `webhook`; answers its outcome and whether it named an instance its token does
/// not speak for.
fn apply(
    conn: &mut DbConnection,
    speaker: Speaker,
    webhook: &Webhook,
    now: NaiveDateTime,
) -> diesel::QueryResult<(Outcome, bool)> {
    let instance = match target(conn, speaker, webhook)? {
        Target::Found(instance) => instance,
        Target::Foreign => return Ok((Outcome::Ignored, true)),
        Target::Unknown => return Ok((Outcome::Ignored, false)),
    };
    Ok((apply_to(conn, &instance, webhook, now)?, false))
}

fn apply_to(
    conn: &mut DbConnection,
    instance: &Instance,
    webhook: &Webhook,
    now: NaiveDateTime,
) -> diesel::QueryResult<Outcome> {
    match &webhook.event {
        Event::MessagesUpsert(messages) => return received(conn, instance, messages, now),
        Event::MessagesUpdate(receipts) => {
            return Ok(match receipts::apply(conn, instance, receipts, now)? {
                Some(true) => Outcome::Applied,
                Some(false) => Outcome::Unchanged,
                None => Outcome::Ignored,
            })
        }
        _ => {}
    }
    // Evolution retries webhooks and delivers them concurrently: an event older than the
    // newest one applied changes nothing.
    let stale = matches!(
        (webhook.happened_at, instance.remote_event_at),
        (Some(at), Some(newest)) if at < newest
    );
    if stale {
        return Ok(Outcome::Unchanged);
    }
    let Some(mut changes) = changes_for(instance, &webhook.event, now) else {
        return Ok(Outcome::Ignored);
    };
    if let Some(phone) = &changes.phone_number {
        if *phone == instance.phone_number
            || instances::phone_taken(conn, instance.tenant_id, phone, Some(instance.id))?
        {
            changes.phone_number = None;
        }
    }
    let newest = webhook
        .happened_at
        .filter(|at| instance.remote_event_at < Some(*at));
    // A webhook's status is live: polls do not swap it for another status that cannot
    // send while it holds (`status::webhook_outranks`).
    let confirmed = changes.connection_status.is_some().then_some(Some(now));
    if !differs(instance, &changes) {
        if newest.is_some() || confirmed.is_some() {
            // Still the newest word on the instance's connection.
            let newer = RemoteChanges {
                remote_event_at: newest.map(Some),
                status_confirmed_at: confirmed,
                ..RemoteChanges::default()
            };
            status::record(conn, instance.id, &newer)?;
        }
        return Ok(Outcome::Unchanged);
    }
    changes.last_checked_at = Some(now);
    changes.updated_at = Some(now);
    changes.remote_event_at = newest.map(Some);
    changes.status_confirmed_at = confirmed;
    status::record(conn, instance.id, &changes)?;
    Ok(Outcome::Applied)
}

/// The columns `event` sets on `instance`; `None` for an event that sets nothing.
pub fn changes_for(
    instance: &Instance,
    event: &Event,
    now: NaiveDateTime,
) -> Option<RemoteChanges> {
    let status = |status: ConnectionStatus| RemoteChanges {
        connection_status: Some(status),
        ..RemoteChanges::default()
    };
    match event {
        Event::ConnectionUpdate(update) => {
            let state = update.state?;
            let dropped = matches!(state, RemoteState::Close | RemoteState::Refused);
            let linked = state == RemoteState::Open;
            Some(RemoteChanges {
                status_reason: Some(if dropped { update.status_reason } else { None }),
                owner_jid: update.owner_jid.clone().filter(|_| linked).map(Some),
                phone_number: update
                    .owner_jid
                    .as_deref()
                    .filter(|_| linked)
                    .and_then(phone_of_jid),
                profile_name: update.profile_name.clone().filter(|_| linked).map(Some),
                ..status_changes(instance, Some(state), now)
            })
        }
        Event::QrcodeUpdated(qr) => Some(connect_changes(
            instance,
            ConnectAnswer::Qr(qr.clone()),
            now,
        )),
        Event::LogoutInstance => Some(status(ConnectionStatus::Disconnected)),
        Event::RemoveInstance => Some(status(ConnectionStatus::Error)),
        Event::MessagesUpsert(_) | Event::MessagesUpdate(_) | Event::Other(_) => None,
    }
}

/// `message.received` for each message, in the transaction of the webhook; a message
/// already told about (the same webhook again) is not told twice.
fn received(
    conn: &mut DbConnection,
    instance: &Instance,
    messages: &[ReceivedMessage],
    now: NaiveDateTime,
) -> diesel::QueryResult<Outcome> {
    if !outbox::wants_events(conn, instance.tenant_id)? {
        return Ok(Outcome::Ignored);
    }
    let mut outcome = Outcome::Unchanged;
    for message in messages {
        let data = inbound_message::received_data(
            message,
            &instance.instance_name,
            &instance.phone_number,
            now,
        );
        let key = format!("message.received:{}:{}", instance.id, message.message_id);
        if events::record(
            conn,
            instance.tenant_id,
            EventType::MessageReceived,
            data,
            Some(&key),
            now,
        )? {
            outcome = Outcome::Applied;
        }
    }
    Ok(outcome)
}

/// Whether applying `changes` would change a column of `instance` (the bookkeeping
/// columns `last_checked_at` and `updated_at` aside).
fn differs(instance: &Instance, changes: &RemoteChanges) -> bool {
    fn new<T: PartialEq>(change: &Option<T>, current: &T) -> bool {
        change.as_ref().is_some_and(|value| value != current)
    }
    new(&changes.phone_number, &instance.phone_number)
        || new(&changes.connection_status, &instance.connection_status)
        || new(&changes.status_reason, &instance.status_reason)
        || new(&changes.owner_jid, &instance.owner_jid)
        || new(&changes.profile_name, &instance.profile_name)
        || new(&changes.connected_at, &instance.connected_at)
        || new(&changes.qr_code, &instance.qr_code)
        || new(&changes.qr_code_base64, &instance.qr_code_base64)
        || new(&changes.pairing_code, &instance.pairing_code)
}
