"""Schemathesis hooks for Relevo (loaded by scripts/fuzz.sh through SCHEMATHESIS_HOOKS).

Three things, all driven by the state file seed.py wrote (RELEVO_FUZZ_STATE):

1. Auth: each operation gets the token of the role that may use it. Sender endpoints
   (`/tenant/sender/...`, `/tenants/{tenant}/sender/...`) a sender token of the `home` tenant;
   the tenant-implicit instance reads (`/tenant/whatsapp-instances...`) a tenant user of `home`;
   every other operation that declares security the first super admin. Operations without
   security (login, health, Evolution's webhook) get no token. Schemathesis' `ignored_auth`
   check still sends each secured operation without a token and with a wrong one.

2. Path parameters: three generated cases in four have their path parameters replaced with
   seeded rows (coherent pairs such as a tenant and one of its instances, plus cross-tenant
   pairs that must answer 404); the fourth keeps the generated values. A case whose path
   parameters are the negated part of a negative test keeps them. The choice is a pure function
   of the generated case (a digest of it), so a run is reproducible from its seed and Hypothesis
   can replay and shrink.
   Destructive operations (DELETE, and PUT of a user or an Evolution server) never aim at the
   rows the rest of the run relies on (the token holders, the `home`/`other` tenants and their
   instances, the main Evolution server): those are swapped for seeded spare rows. Stateful
   steps keep the values their links chose (a swap would break checks such as use_after_free)
   and are dropped when destructive and aimed at such a row.

3. Login: three generated positive login bodies in four carry the seeded tenant user's
   email and password instead of the generated ones, so the operation is seen succeeding
   (a generated email exists nowhere; after 20 failures from one address every login
   there is throttled for 15 minutes, as documented, 429).

4. Failures that are not the API's: see `filter_failure`.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import sys
import threading

import schemathesis
from schemathesis.core.failures import Failure, ServerError
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import TestPhase
from schemathesis.openapi.checks import RejectedPositiveData

# CPython 3.11: `ast.parse` (Hypothesis runs it to describe lambdas) fails at random with
# "AST constructor recursion depth mismatch" when another worker thread changes the recursion
# limit (Hypothesis does, around every test) while it runs; schemathesis then reports a runtime
# error for whatever operation it was generating. Python 3.12 no longer ties the AST's depth
# to that limit; on 3.11 the two are kept from overlapping.
if sys.version_info < (3, 12):
    _RECURSION_LIMIT_LOCK = threading.RLock()
    _ast_parse, _set_recursion_limit = ast.parse, sys.setrecursionlimit

    def _parse_alone(*args, **kwargs):
        with _RECURSION_LIMIT_LOCK:
            return _ast_parse(*args, **kwargs)

    def _set_recursion_limit_alone(limit):
        with _RECURSION_LIMIT_LOCK:
            return _set_recursion_limit(limit)

    ast.parse = _parse_alone
    sys.setrecursionlimit = _set_recursion_limit_alone

with open(os.environ["RELEVO_FUZZ_STATE"]) as _file:
    STATE = json.load(_file)

API = "/api/v1"


# --- 1. auth -------------------------------------------------------------------------------


def role_for(path: str, method: str = "GET") -> str:
    p = path.removeprefix(API)
    if p.startswith("/tenant/sender/") or p.startswith("/tenants/{tenant}/sender/"):
        return "sender"
    # Messages are sent with the sender token; the log is read by users.
    if method.upper() == "POST" and p in ("/tenant/messages", "/tenants/{tenant}/messages"):
        return "sender"
    if p.startswith("/tenant/whatsapp-instances"):
        return "tenant_user"
    return "admin"


def _secured(operation) -> bool:
    """Whether the operation declares a security requirement (its own, else the document's)."""
    raw = operation.definition.raw
    security = raw["security"] if "security" in raw else operation.schema.raw_schema.get("security")
    return any(requirement for requirement in security or [])


@schemathesis.auth(refresh_interval=None, retry_on=[])
class RelevoAuth:
    """Static tokens made by seed.py; the one sent depends on the operation."""

    def get(self, case, ctx):
        return STATE["tokens"]

    def set(self, case, data, ctx):
        if not _secured(case.operation):
            return
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data[role_for(case.operation.path, case.operation.method)]}"


# --- 2. path parameters --------------------------------------------------------------------

T = STATE["tenants"]
I = STATE["instances"]
HOME, OTHER = T["home"], T["other"]
SPARE_TENANTS = T["spare"]


def _tenant_refs(tenant: dict) -> list:
    return [str(tenant["id"]), tenant["slug"]]


def _pairs(tenant: dict, ids: list) -> list:
    return [{"tenant": str(tenant["id"]), "id": i} for i in ids]


# Per (method, path template): the seeded path parameters to choose from.
_instance_pairs = (
    _pairs(HOME, I["home"])
    + [{"tenant": HOME["slug"], "id": I["home"][0]}]
    + _pairs(OTHER, I["other"])
    + _pairs(HOME, I["other"])  # another tenant's instance: 404
)
_tenant_choices = [{"tenant": t} for t in _tenant_refs(HOME) + _tenant_refs(OTHER)]


def choices_for(method: str, path: str) -> list | None:
    p = path.removeprefix(API)
    if p.startswith("/tenants/{tenant}/whatsapp-instances/{id}"):
        if method == "DELETE":
            return _pairs(HOME, I["home_spare"]) + _pairs(HOME, I["other"])
        return _instance_pairs
    if p == "/tenants/{tenant}":
        if method == "DELETE":
            return [{"tenant": t} for spare in SPARE_TENANTS for t in _tenant_refs(spare)]
        return _tenant_choices
    if p == "/tenants/{tenant}/sender-tokens/{id}":
        spare = STATE["sender_tokens"]["spare"]
        return _pairs(HOME, spare) + _pairs(OTHER, spare)
    if p == "/tenants/{tenant}/sender/claims/{claim_id}/release":
        claims = STATE["claims"]
        return [{"tenant": str(HOME["id"]), "claim_id": c} for c in claims] + [
            {"tenant": str(OTHER["id"]), "claim_id": claims[0]}
        ]
    if p == "/tenant/sender/claims/{claim_id}/release":
        return [{"claim_id": c} for c in STATE["claims"]]
    if p == "/tenants/{tenant}/messages/{message_id}":
        return [{"tenant": str(HOME["id"]), "message_id": m} for m in STATE["messages"]] + [
            {"tenant": str(OTHER["id"]), "message_id": STATE["messages"][0]}
        ]
    if p.startswith("/tenants/{tenant}"):
        return _tenant_choices
    if p.startswith("/tenant/whatsapp-instances/{id}"):
        return [{"id": i} for i in I["home"] + I["other"]]
    if p.startswith("/users/{id}"):
        users = STATE["users"]
        ids = users["spare"] if method in ("PUT", "DELETE") else users["keep"] + users["spare"]
        return [{"id": i} for i in ids]
    if p.startswith("/evolution-servers/{id}"):
        servers = STATE["servers"]
        ids = [servers["spare"]] if method in ("PUT", "DELETE") else [servers["keep"], servers["spare"]]
        return [{"id": i} for i in ids]
    if p == "/webhooks/evolution/{server_token}":
        return [{"server_token": STATE["webhook_token"]}]
    if p == "/webhooks/evolution/{server_token}/{event}":
        events = ["connection-update", "qrcode-updated", "logout-instance", "remove-instance", "messages-upsert", "messages-update"]
        return [{"server_token": STATE["webhook_token"], "event": e} for e in events]
    return None


def _protected(method: str, path: str, params: dict) -> bool:
    """Whether a destructive case aims at a row the rest of the run relies on."""
    p = path.removeprefix(API)
    value = lambda name: str(params.get(name, "")).strip()  # noqa: E731
    if method == "DELETE" and p == "/tenants/{tenant}":
        return value("tenant") in _tenant_refs(HOME) + _tenant_refs(OTHER)
    if method == "DELETE" and p == "/tenants/{tenant}/whatsapp-instances/{id}":
        return value("id") in {str(i) for i in I["home"] + I["other"]}
    if method == "DELETE" and p == "/tenants/{tenant}/sender-tokens/{id}":
        return value("id") == str(STATE["sender_tokens"]["keep"])
    if method in ("PUT", "DELETE") and p == "/users/{id}":
        return value("id") in {str(i) for i in STATE["users"]["keep"]}
    if method in ("PUT", "DELETE") and p == "/evolution-servers/{id}":
        return value("id") == str(STATE["servers"]["keep"])
    return False


def _digest(case) -> int:
    material = repr((sorted(case.path_parameters.items()), sorted(case.query.items()), case.body))
    return int.from_bytes(hashlib.sha256(material.encode()).digest()[:8], "big")


def _stateful(case) -> bool:
    meta = case.meta
    return meta is not None and meta.phase.name == TestPhase.STATEFUL


def _foreign_to_sender(path: str, params: dict) -> bool:
    """A sender step aimed at a tenant other than the sender token's: the token reaches only
    its own tenant, so the answer is 404 whatever the tenant (a tenant a link just created
    included, which schemathesis would take for a created resource that cannot be found)."""
    if not path.removeprefix(API).startswith("/tenants/{tenant}/sender/"):
        return False
    return str(params.get("tenant", "")).strip() not in _tenant_refs(HOME)


@schemathesis.hook
def filter_case(ctx, case) -> bool:
    """Stateful steps take their path parameters from earlier responses (links), which a swap
    would break; a destructive step aimed at a row the run relies on, or a sender step aimed
    at another tenant than the sender token's, is dropped instead."""
    if not _stateful(case):
        return True
    params = case.path_parameters or {}
    if _foreign_to_sender(case.operation.path, params):
        return False
    return not _protected(case.operation.method.upper(), case.operation.path, params)


LOGIN_PATH = f"{API}/auth/login"


def _login_with_seeded_user(case):
    """A positive login body (not a negative one: that must stay refused) gets real
    credentials three times in four."""
    meta = case.meta
    if meta is not None and meta.generation.mode.is_negative:
        return case
    if not isinstance(case.body, dict) or _digest(case) % 4 == 0:
        return case
    login = STATE["login"]
    case.body = {**case.body, "email": login["email"], "password": login["password"]}
    return case


@schemathesis.hook
def map_case(ctx, case):
    if case.operation.path == LOGIN_PATH and case.operation.method.upper() == "POST":
        return _login_with_seeded_user(case)
    if not case.path_parameters or _stateful(case):
        return case
    method, path = case.operation.method.upper(), case.operation.path
    choices = choices_for(method, path)
    if not choices:
        return case
    digest = _digest(case)
    meta = case.meta
    negated_path = meta is not None and meta.is_negative_at(ParameterLocation.PATH)
    if negated_path or digest % 4 == 0:
        if not _protected(method, path, case.path_parameters):
            return case
    chosen = choices[(digest // 4) % len(choices)]
    case.path_parameters = {**case.path_parameters, **chosen}
    return case


# --- 4. failures that are not the API's -----------------------------------------------------

# 422 messages (Accept-Language: en, set by fuzz.sh) for rules no JSON Schema can state: they
# depend on rows in the database (uniqueness, references), on another field, or on a password
# strength estimator. A positive case (valid per the document) refused only for these reasons is
# not a document error. Anything else refused with 422 is reported.
NOT_EXPRESSIBLE_422 = [
    re.compile(p)
    for p in (
        r"^This phone number is already registered for this tenant$",
        r"^This instance name is already registered on this server$",
        r"^This slug is already taken$",
        r"^This email address is already registered$",
        r"^There is already an Evolution server with this URL$",
        r"^The selected tenant does not exist$",
        r"^The selected Evolution server does not exist$",
        r"^The selected Evolution server is inactive or has no API key$",
        r"^The \S+ is too weak; use a longer, less predictable password\.$",  # zxcvbn
        r"^The \S+ field is not allowed for this role\.$",  # tenant_id with role super_admin
        r"^The \S+ field is required when (base_url|evolution_api_url) moves to another server\.$",
        # A URL's host on a private or reserved address (rule of the host's address).
        r"^The \S+ field must not point to a loopback, private or reserved address",
        r"^The \S+ field must be a date after or equal to \S+\.$",  # `to` before `from`
    )
]
RELEASE_BOUND = re.compile(r"^The count field must be between 1 and [0-9]+\.$")
SLUG_REQUIRED = "The slug field is required."
# IANA names: a closed set, but one of ~600 names that changes with every tz database release;
# stated as an `enum` it would go stale in every generated client, so the document says
# "IANA time zone name" in words.
TIMEZONE = "The timezone field must be a valid IANA time zone (e.g. America/Bogota)."
PRICE_DECIMALS = "The whatsapp_unit_price field may have at most 4 decimals."
# 400s of Evolution's webhook that depend on which event the envelope (or the URL) names.
CONNECTION_UPDATE_400 = re.compile(r"^(`connection\.update` needs a `data` object\.|`.*` is not a connection state\.)$", re.S)


# TenantSlug::from_name (src/domain/mod.rs), for "slug required": the slug made from a
# `nombre` depends on a transliteration no pattern on `nombre` can follow, and is needed only
# when no `slug` is sent (a rule across two fields).
_FOLD = {}
for _letters, _to in (("áàâãäÁÀÂÃÄ", "a"), ("éèêëÉÈÊË", "e"), ("íìîïÍÌÎÏ", "i"), ("óòôõöÓÒÔÕÖ", "o"),
                      ("úùûüÚÙÛÜ", "u"), ("ñÑ", "n"), ("çÇ", "c")):
    _FOLD.update(dict.fromkeys(_letters, _to))


def _slug_from_name(name: str) -> str | None:
    slug = ""
    for c in (_FOLD.get(c, c) for c in name):
        if c.isascii() and c.isalnum():
            slug += c.lower()
        elif slug and not slug.endswith("-"):
            slug += "-"
    slug = slug.rstrip("-")[:64].rstrip("-")
    valid = 1 <= len(slug) <= 64 and not slug.startswith("-") and not slug.isdigit()
    return slug if valid else None


def _decimals(number) -> int:
    """How many decimals a JSON number has as Python writes it (as the server reads it)."""
    text = json.dumps(number)
    mantissa, _, exponent = text.lower().partition("e")
    fraction = mantissa.partition(".")[2].rstrip("0")
    return max(0, len(fraction) - int(exponent or 0))


def _error_body(response) -> dict | None:
    try:
        body = response.json()
    except Exception:
        return None
    return body if isinstance(body, dict) else None


def _only_inexpressible_422(case, response) -> bool:
    body = _error_body(response)
    errors = (body or {}).get("errors")
    if not isinstance(errors, dict) or not errors:
        return False
    sent = case.body if isinstance(case.body, dict) else {}
    for field, messages in errors.items():
        for message in messages if isinstance(messages, list) else [messages]:
            if any(p.match(str(message)) for p in NOT_EXPRESSIBLE_422):
                continue
            # tenant_id is required for a tenant user only: a rule across two fields.
            if field == "tenant_id" and message == "The tenant_id field is required." and sent.get("role") == "tenant_user":
                continue
            if field == "timezone" and message == TIMEZONE and isinstance(sent.get(field), str):
                continue
            # `slug` is needed when none can be made from `nombre` and none is sent.
            if (
                field == "slug"
                and message == SLUG_REQUIRED
                and "slug" not in sent
                and isinstance(sent.get("nombre"), str)
                and _slug_from_name(sent["nombre"].strip()) is None
            ):
                continue
            # "At most 4 decimals" would be `multipleOf: 0.0001`, which clients that check
            # it with floating point refuse valid prices by (363812.1319 % 0.0001 != 0).
            if (
                field == "whatsapp_unit_price"
                and message == PRICE_DECIMALS
                and isinstance(sent.get(field), (int, float))
                and not isinstance(sent.get(field), bool)
                and _decimals(sent[field]) > 4
            ):
                continue
            # A release gives back at most what its claim was granted (at most 1000, ClaimBody's
            # maximum): the bound of one claim is a row's value.
            count = sent.get("count")
            if (
                case.operation.path.endswith("/claims/{claim_id}/release")
                and field == "count"
                and RELEASE_BOUND.match(str(message))
                and isinstance(count, (int, float))
                and not isinstance(count, bool)
                and float(count).is_integer()  # JSON Schema's integer: 648.0 is one
                and 1 <= count <= 1000
            ):
                continue
            return False
    return True


def _connection_update_400(case, response) -> bool:
    """A 400 of Evolution's webhook for a `connection.update` whose `data` is not an object or
    names an unknown `state`: the event comes from the body or, in the by-events form, from
    the URL, so no body schema can tie `data`'s shape to it."""
    if not case.operation.path.startswith(f"{API}/webhooks/evolution/"):
        return False
    body = _error_body(response) or {}
    if body.get("error_key") != "request.malformed" or not CONNECTION_UPDATE_400.match(str(body.get("message"))):
        return False
    sent = case.body if isinstance(case.body, dict) else {}
    event = sent.get("event")
    if event is None:
        event = (case.path_parameters or {}).get("event")
    return isinstance(event, str) and event.replace(".", "_").replace("-", "_").upper() == "CONNECTION_UPDATE"


def _documented(case, status: int) -> bool:
    responses = case.operation.definition.raw.get("responses", {})
    return str(status) in responses or f"{str(status)[0]}XX" in responses


def _record_dropped(failure: Failure, case, response, reason: str) -> None:
    """Every dropped failure is written down (fuzz.sh prints a summary), so none hides unseen."""
    path = os.environ.get("RELEVO_FUZZ_DROPPED")
    if not path:
        return
    body = _error_body(response) or {}
    line = {
        "operation": f"{case.operation.method.upper()} {case.operation.path}",
        "failure": failure.code,
        "status": response.status_code,
        "reason": reason,
        "error_key": body.get("error_key"),
        "message": body.get("message"),
        "errors": body.get("errors"),
    }
    with open(path, "a") as out:
        out.write(json.dumps(line, ensure_ascii=False) + "\n")


# A message sent through Relevo fails upstream with these keys when no Evolution server answers.
UPSTREAM_MESSAGE_KEYS = ("message.send_failed", "message.send_timeout")


@schemathesis.hook
def filter_failure(ctx, failure: Failure, case, response) -> bool:
    """Keep (True) every failure except:

    - `not_a_server_error` on a documented 502/503/504 whose `error_key` is an `evolution.*` one,
      or a message that no instance could send (`message.send_failed`, `message.send_timeout`):
      there is no Evolution API server in this run (the seeded servers point at a closed port, and
      servers the fuzzer creates point anywhere; an inactive one is a 409), so every call fails
      upstream, as documented (502 unreachable/rejected, 503 no server with a key, 504 timeout);
    - `positive_data_acceptance` on a 422 whose every field error is one of the rules above;
    - `positive_data_acceptance` on the webhook's 400 for a malformed `connection.update`.
    """
    status = response.status_code
    if isinstance(failure, ServerError) and status in (502, 503, 504) and _documented(case, status):
        key = (_error_body(response) or {}).get("error_key")
        if isinstance(key, str) and (key.startswith("evolution.") or key in UPSTREAM_MESSAGE_KEYS):
            _record_dropped(failure, case, response, "documented Evolution API failure")
            return False
    if isinstance(failure, RejectedPositiveData) and status == 422:
        if _only_inexpressible_422(case, response):
            _record_dropped(failure, case, response, "422 for a rule no schema can state")
            return False
    if isinstance(failure, RejectedPositiveData) and status == 400 and _connection_update_400(case, response):
        _record_dropped(failure, case, response, "400 for a rule no schema can state")
        return False
    return True
