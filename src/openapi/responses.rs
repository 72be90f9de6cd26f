//! The error answers operations share, as response components. [`SharedResponses`] gives
//! each operation the ones its shape calls for (a bearer token, path or query parameters,
//! a body); handlers list the answers that are theirs (a 409, a 429, a 502) by these
//! names too, and say in their description when they give them.

use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::schema::Ref;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{OpenApi as Document, RefOr};
use utoipa::{Modify, ToResponse};

use crate::error::{ErrorBody, ValidationErrorBody};

/// The request could not be read: malformed JSON, a body that is not a JSON object, a
/// wrong `Content-Type`, or a query parameter given twice (`request.malformed`).
#[derive(ToResponse)]
pub struct BadRequest(pub ErrorBody);

/// No bearer token, or one that is invalid, expired, revoked, or whose user changed:
/// `{"message": "Unauthenticated."}`.
#[derive(ToResponse)]
pub struct Unauthorized(pub ErrorBody);

/// The token's role may not do this: `{"message": "This action is unauthorized."}`.
#[derive(ToResponse)]
pub struct Forbidden(pub ErrorBody);

/// The resource named in the path does not exist or is not this caller's to see
/// (`tenant.not_found`, `whatsapp.instance_not_found`, `route.not_found`, ...).
#[derive(ToResponse)]
pub struct NotFound(pub ErrorBody);

/// The path exists but does not take this method (`route.method_not_allowed`); `Allow`
/// lists the methods it takes.
#[derive(ToResponse)]
#[response(headers(("Allow" = String, description = "The methods the path takes, e.g. `GET, POST`")))]
pub struct MethodNotAllowed(pub ErrorBody);

/// The body did not arrive in time after the headers (`request.timeout`).
#[derive(ToResponse)]
pub struct RequestTimeout(pub ErrorBody);

/// The request conflicts with the current state of the resource: `error_key` says how,
/// and the operation's description says when. A conflict that passes by itself (a first
/// request still in flight) says in `Retry-After` when to try again.
#[derive(ToResponse)]
#[response(headers(("Retry-After" = u64, description = "Seconds to wait before trying again, when the conflict passes by itself")))]
pub struct Conflict(pub ErrorBody);

/// The body is larger than Relevo accepts (`request.too_large`).
#[derive(ToResponse)]
pub struct PayloadTooLarge(pub ErrorBody);

/// Validation failed (`validation.failed`): `errors` lists every rejected field with its
/// messages, in the request's language (`Accept-Language`).
#[derive(ToResponse)]
pub struct ValidationFailed(pub ValidationErrorBody);

/// Too many attempts, or a quota used up (the operation's description says which); try
/// again after `Retry-After` seconds.
#[derive(ToResponse)]
#[response(headers(("Retry-After" = u64, description = "Seconds to wait before trying again")))]
pub struct TooManyRequests(pub ErrorBody);

/// The Evolution API server failed, refused the call or is unreachable
/// (`evolution.unavailable`, `evolution.unauthorized`, `evolution.rejected`);
/// `error_params` names the server.
#[derive(ToResponse)]
pub struct BadGateway(pub ErrorBody);

/// An unexpected failure (`server.internal`); its cause is logged, never sent.
#[derive(ToResponse)]
pub struct InternalError(pub ErrorBody);

/// The database is busy or unreachable (`database.unavailable`); nothing was changed.
/// Try again after `Retry-After` seconds.
#[derive(ToResponse)]
#[response(headers(("Retry-After" = u64, description = "Seconds to wait before trying again")))]
pub struct ServiceUnavailable(pub ErrorBody);

/// The Evolution API server did not answer in time (`evolution.timeout`).
#[derive(ToResponse)]
pub struct GatewayTimeout(pub ErrorBody);

/// Adds to every operation the shared answers its shape calls for, unless the handler
/// documents that status itself.
pub struct SharedResponses;

impl Modify for SharedResponses {
    fn modify(&self, document: &mut Document) {
        for (path, item) in document.paths.paths.iter_mut() {
            let reads_database = !READ_NO_DATABASE.contains(&path.as_str());
            for operation in operations(item) {
                // `/health` answers whenever the process runs; only the router may refuse
                // a method it does not take.
                let shared = match path.as_str() {
                    "/health" => vec![(405, "MethodNotAllowed")],
                    _ => shared_for(operation, reads_database),
                };
                for (status, response) in shared {
                    operation
                        .responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(response)));
                }
            }
        }
    }
}

pub(crate) fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// Paths (besides `/health`) whose handlers read no database, so never answer 503
/// `database.unavailable`.
const READ_NO_DATABASE: &[&str] = &["/metrics"];

fn shared_for(operation: &Operation, reads_database: bool) -> Vec<(u16, &'static str)> {
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    let takes = |place: ParameterIn| parameters.iter().any(|p| p.parameter_in == place);
    let has_body = operation.request_body.is_some();
    let has_query = takes(ParameterIn::Query);
    // A user's or a sender's token (`bearer`), whose role may also be refused (403); other
    // schemes (`/metrics`' own token) document their answers themselves.
    let bearer = operation.security.as_ref().is_some_and(|requirements| {
        requirements.contains(&SecurityRequirement::new("bearer", Vec::<String>::new()))
    });

    let mut shared = vec![(405, "MethodNotAllowed"), (500, "InternalError")];
    if reads_database {
        shared.push((503, "ServiceUnavailable"));
    }
    if bearer {
        shared.extend([(401, "Unauthorized"), (403, "Forbidden")]);
    }
    if takes(ParameterIn::Path) {
        shared.push((404, "NotFound"));
    }
    if has_body || has_query {
        shared.extend([(400, "BadRequest"), (422, "ValidationFailed")]);
    }
    if has_body {
        shared.extend([(408, "RequestTimeout"), (413, "PayloadTooLarge")]);
    }
    shared
}
