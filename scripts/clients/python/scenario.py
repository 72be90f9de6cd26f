"""Seed 001 end to end through the Python client that openapi-python-client generated.

Run by scripts/check-clients.sh with the generated package `relevo_client` and scripts/clients/
(scenario_common.py: seed 001's values and the shared checks) on PYTHONPATH and
RELEVO_URL, RELEVO_ADMIN_EMAIL and RELEVO_ADMIN_PASSWORD in the environment.

Only the generated client talks to Relevo. Operations are found by their operationId (the module
name openapi-python-client gives each one), request bodies are built with the class the
operation's signature names, and answers are read by attribute, so model class names can change
without touching the scenario.

Every answer goes through `check_model`, which fails the run when
- the client could not parse it, or the status is one the document does not list (parsed is None);
- a model holds a field the document does not name (non-empty `additional_properties`), or
  the client dropped one (a key of the answer that `to_dict()` no longer has);
- a field's value does not have the type the generated class declares (e.g. null where the
  document says string, or a raw dict where a model was expected).
Optional fields (`Unset` allowed) that every answer carried are listed at the end; they are
reported, not failed, since one run cannot prove a field is always present.
"""

from __future__ import annotations

import datetime
import importlib
import json
import pkgutil
import sys
import types
import typing
from collections import defaultdict
from typing import Any

import attrs

import relevo_client
import relevo_client.api
import relevo_client.models
from relevo_client import AuthenticatedClient, Client
from relevo_client.types import UNSET, Unset
from scenario_common import ADMIN_EMAIL, ADMIN_PASSWORD, BASE_URL, PRINCIPAL, SECONDARY, UPDATE
from scenario_common import ScenarioFailure, delete_all, expect, fail, iso, operation_named


# --- operations by operationId -------------------------------------------------------------

def find_operations() -> dict[str, types.ModuleType]:
    found: dict[str, types.ModuleType] = {}
    prefix = relevo_client.api.__name__ + "."
    for info in pkgutil.walk_packages(relevo_client.api.__path__, prefix):
        if info.ispkg:
            continue
        module = importlib.import_module(info.name)
        name = info.name.rsplit(".", 1)[1]
        if name in found:
            fail(f"two generated modules for operation {name}: {found[name].__name__}, {info.name}")
        found[name] = module
    return found


OPERATIONS = find_operations()

# Every model class the client has, to resolve the annotations of any of them.
MODEL_NAMESPACE: dict[str, Any] = {
    name: getattr(relevo_client.models, name) for name in dir(relevo_client.models)
}
MODEL_NAMESPACE.update({"Unset": Unset, "datetime": datetime, "Any": Any})


def operation(name: str) -> types.ModuleType:
    return operation_named(OPERATIONS, name)


def body(operation_name: str, fields: dict[str, Any]) -> Any:
    """The request body of an operation, built with the class its signature names."""
    module = operation(operation_name)
    hints = typing.get_type_hints(module.sync_detailed, globalns={**MODEL_NAMESPACE, **vars(module)})
    if "body" not in hints:
        fail(f"{operation_name} takes no body")
    classes = [t for t in flatten_union(hints["body"]) if attrs.has(t)]
    if len(classes) != 1:
        fail(f"{operation_name}: cannot tell the body class from {hints['body']!r}")
    built = classes[0].from_dict(fields)
    extra = getattr(built, "additional_properties", {})
    if extra:
        fail(f"{operation_name}: the body class {classes[0].__name__} does not name {sorted(extra)}")
    return built


def flatten_union(tp: Any) -> list[Any]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [leaf for arg in typing.get_args(tp) for leaf in flatten_union(arg)]
    return [tp]


# --- checking every parsed answer --------------------------------------------------------

# (class name, field) -> [answers with the field, answers without it], for optional fields.
OPTIONAL_SEEN: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
PROBLEMS: list[str] = []
_HINTS: dict[type, dict[str, Any]] = {}


def hints_of(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        module = sys.modules[cls.__module__]
        _HINTS[cls] = typing.get_type_hints(cls, globalns={**MODEL_NAMESPACE, **vars(module)})
    return _HINTS[cls]


def conforms(value: Any, tp: Any) -> bool:
    if tp is Any or tp is object:
        return True
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(conforms(value, arg) for arg in typing.get_args(tp))
    if origin is typing.Literal:
        return value in typing.get_args(tp)
    if tp is type(None) or tp is None:
        return value is None
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        return isinstance(value, list) and all(conforms(v, item) for v in value)
    if origin is dict:
        args = typing.get_args(tp) or (Any, Any)
        return isinstance(value, dict) and all(conforms(v, args[1]) for v in value.values())
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        # A StrEnum member is a str; a plain enum member is not.
        return isinstance(value, str)
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True  # a typing construct this check does not know: do not guess


def is_closed(cls: type) -> bool:
    """A model with named properties whose other keys the document does not describe.

    Free-form objects (no named properties) and maps (`additionalProperties` with a schema,
    typed `dict[str, X]` here) legitimately keep their keys in `additional_properties`.
    """
    names = [f.name for f in attrs.fields(cls) if f.name != "additional_properties"]
    if not names:
        return False
    extra_type = hints_of(cls).get("additional_properties")
    args = typing.get_args(extra_type) if extra_type is not None else ()
    return extra_type is None or len(args) != 2 or args[1] is Any


def check_model(value: Any, path: str) -> None:
    if isinstance(value, list):
        for i, item in enumerate(value):
            check_model(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            check_model(item, f"{path}[{key!r}]")
        return
    if not attrs.has(type(value)):
        return
    cls = type(value)
    hints = hints_of(cls)
    extra = getattr(value, "additional_properties", None) or {}
    if extra and is_closed(cls):
        PROBLEMS.append(
            f"{path}: {cls.__name__} got field(s) the document does not name: {sorted(extra)}"
        )
    for field in attrs.fields(cls):
        if field.name == "additional_properties":
            continue
        item = getattr(value, field.name)
        declared = hints.get(field.name, Any)
        if not conforms(item, declared):
            PROBLEMS.append(
                f"{path}.{field.name}: {item!r} ({type(item).__name__}) is not the declared {declared}"
            )
        if field.default is UNSET:
            OPTIONAL_SEEN[(cls.__name__, field.name)][0 if item is not UNSET else 1] += 1
        check_model(item, f"{path}.{field.name}")
    if extra and not is_closed(cls):
        check_model(extra, f"{path}.additional_properties")


def dropped_keys(raw: Any, rendered: Any, path: str) -> None:
    """Keys of the answer that the parsed model no longer has (serialised back with `to_dict`).

    `additional_properties` keeps unknown keys unless the document says
    `additionalProperties: false`; then the client drops them silently, and this finds them.
    """
    if isinstance(raw, dict) and isinstance(rendered, dict):
        for key, value in raw.items():
            if key not in rendered:
                PROBLEMS.append(f"{path}: the client dropped field {key!r}, which the document does not name")
            else:
                dropped_keys(value, rendered[key], f"{path}.{key}")
    elif isinstance(raw, list) and isinstance(rendered, list) and len(raw) == len(rendered):
        for i, (item, back) in enumerate(zip(raw, rendered)):
            dropped_keys(item, back, f"{path}[{i}]")


CALLS = 0


def call(name: str, status: int, client: Client | AuthenticatedClient, **kwargs: Any) -> Any:
    """Calls one operation through the generated client and checks the answer's shape."""
    global CALLS
    CALLS += 1
    module = operation(name)
    try:
        response = module.sync_detailed(client=client, **kwargs)
    except ScenarioFailure:
        raise
    except Exception as error:  # the generated from_dict raising is a parse failure
        fail(f"{name}: the client could not parse the answer: {error!r}")
    if int(response.status_code) != status:
        fail(f"{name}: status {int(response.status_code)}, expected {status}: {response.content[:600]!r}")
    if response.parsed is None:
        fail(
            f"{name}: status {status} was not parsed (a status the document does not list?): "
            f"{response.content[:600]!r}"
        )
    before = len(PROBLEMS)
    check_model(response.parsed, name)
    if response.content:
        dropped_keys(json.loads(response.content), response.parsed.to_dict(), name)
    if len(PROBLEMS) > before:
        fail(f"{name}: the answer does not match the document:\n  " + "\n  ".join(PROBLEMS[before:]))
    return response.parsed


def absent(model: Any, field: str) -> bool:
    """True when the answer did not carry `field` (or the model has no such attribute at all)."""
    return getattr(model, field, UNSET) is UNSET and field not in getattr(
        model, "additional_properties", {}
    )


def present(model: Any, field: str) -> Any:
    value = getattr(model, field, UNSET)
    if value is UNSET:
        fail(f"{type(model).__name__}.{field} is missing")
    return value


# --- the scenario ---------------------------------------------------------------------------

def check_instance(data: Any, wanted: dict[str, Any], what: str) -> None:
    for key, value in wanted.items():
        expect(getattr(data, key, UNSET), value, f"{what}.{key}")


def scenario() -> None:
    anonymous = Client(base_url=BASE_URL, raise_on_unexpected_status=False)

    # 1. Login and me.
    login = call("login", 200, anonymous, body=body("login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
    expect(login.data.token_type, "Bearer", "login.token_type")
    expect(login.data.user.email, ADMIN_EMAIL, "login.user.email")
    expect(login.data.user.role, "super_admin", "login.user.role")
    if not login.data.access_token or login.data.expires_in <= 0:
        fail(f"login: no usable token: {login.data!r}")
    admin = AuthenticatedClient(base_url=BASE_URL, token=login.data.access_token, raise_on_unexpected_status=False)
    wrong = call("login", 401, anonymous, body=body("login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD + "x"}))
    if not wrong.message:
        fail("login with a wrong password: no message")

    me = call("me", 200, admin)
    expect(me.data.id, login.data.user.id, "me.id")
    expect(me.data.email, ADMIN_EMAIL, "me.email")
    expect(me.data.role, "super_admin", "me.role")

    # 2. Tenant (seed 001 section 8).
    tenant = call("create_tenant", 201, admin, body=body("create_tenant", {
        "nombre": "Juan Pérez - Alcaldía",
        "slug": "candidato-alcaldia",
        "tipo_cargo": "Alcalde",
        "identificacion": "1234567890",
    })).data
    expect(tenant.slug, "candidato-alcaldia", "tenant.slug")
    expect(tenant.nombre, "Juan Pérez - Alcaldía", "tenant.nombre")
    expect(tenant.tipo_cargo, "Alcalde", "tenant.tipo_cargo")
    tenant_key = str(tenant.id)

    # 3. Create two instances (seed 001 section 1).
    created = call("create_instance", 201, admin, tenant=tenant_key, body=body("create_instance", PRINCIPAL))
    expect(created.message, "WhatsApp instance created successfully", "create_instance.message")
    principal = created.data
    check_instance(principal, {**PRINCIPAL, "tenant_id": tenant.id, "messages_sent_today": 0,
                               "remaining_quota": 1000, "can_send_messages": True}, "create_instance.data")
    expect(principal.tenant.id, tenant.id, "create_instance.data.tenant.id")
    expect(principal.tenant.slug, "candidato-alcaldia", "create_instance.data.tenant.slug")
    expect(principal.tenant.nombre, "Juan Pérez - Alcaldía", "create_instance.data.tenant.nombre")
    today = iso(principal.last_reset_date)

    secondary = call("create_instance", 201, admin, tenant="candidato-alcaldia",
                     body=body("create_instance", SECONDARY)).data
    check_instance(secondary, {**SECONDARY, "is_active": True, "remaining_quota": 500}, "create_instance(2).data")

    duplicate = call("create_instance", 422, admin, tenant=tenant_key, body=body("create_instance", PRINCIPAL))
    messages = getattr(duplicate.errors, "additional_properties", duplicate.errors) or {}
    expect(messages.get("phone_number"),
           ["Este número de teléfono ya está registrado para este tenant"], "duplicate phone errors")

    # 4. List with filters (seed 001 section 2): no evolution_api_key in lists.
    listed = call("list_instances", 200, admin, tenant=tenant_key, is_active=True, per_page=10)
    expect([i.id for i in listed.data], [principal.id, secondary.id], "list_instances ids")
    expect((listed.meta.total, listed.meta.current_page, listed.meta.last_page, listed.meta.per_page),
           (2, 1, 1, 10), "list_instances.meta")
    for item in listed.data:
        if not absent(item, "evolution_api_key"):
            fail(f"list_instances: evolution_api_key present on instance {item.id}")
    expect(listed.data[1].evolution_api_url, None, "list_instances[1].evolution_api_url")
    expect(listed.data[0].notes, PRINCIPAL["notes"], "list_instances[0].notes")

    # 5. Show: the key and the tenant.
    shown = call("show_instance", 200, admin, tenant=tenant_key, id=principal.id).data
    expect(shown.evolution_api_key, PRINCIPAL["evolution_api_key"], "show_instance.evolution_api_key")
    expect((shown.tenant.id, shown.tenant.slug), (tenant.id, "candidato-alcaldia"), "show_instance.tenant")

    # 6. Update (seed 001 section 4).
    updated = call("update_instance", 200, admin, tenant=tenant_key, id=principal.id,
                   body=body("update_instance", UPDATE))
    expect(updated.message, "WhatsApp instance updated successfully", "update_instance.message")
    check_instance(updated.data, {**UPDATE, "phone_number": PRINCIPAL["phone_number"],
                                  "remaining_quota": 1500, "is_active": True}, "update_instance.data")

    # 7. Toggle twice (seed 001 section 5).
    off = call("toggle_active", 200, admin, tenant=tenant_key, id=principal.id)
    expect(off.message, "WhatsApp instance deactivated", "toggle_active.message")
    expect((off.data.is_active, off.data.can_send_messages), (False, False), "toggle_active.data")
    inactive = call("list_instances", 200, admin, tenant=tenant_key, is_active=False)
    expect([i.id for i in inactive.data], [principal.id], "list_instances(is_active=false) ids")
    on = call("toggle_active", 200, admin, tenant=tenant_key, id=principal.id)
    expect(on.message, "WhatsApp instance activated", "toggle_active(2).message")
    expect((on.data.is_active, on.data.can_send_messages), (True, True), "toggle_active(2).data")

    # 8. Reset the counter, statistics (seed 001 section 6), tenant statistics.
    reset = call("reset_counter", 200, admin, tenant=tenant_key, id=principal.id)
    expect(reset.message, "WhatsApp instance counter reset successfully", "reset_counter.message")
    expect((reset.data.messages_sent_today, reset.data.remaining_quota), (0, 1500), "reset_counter.data")

    stats = call("instance_statistics", 200, admin, tenant=tenant_key, id=principal.id).data
    check_instance(stats, {"instance_id": principal.id, "phone_number": PRINCIPAL["phone_number"],
                           "is_active": True, "daily_limit": 1500, "sent_today": 0,
                           "remaining_today": 1500, "usage_percentage": 0, "can_send": True},
                   "instance_statistics")

    tstats = call("tenant_statistics", 200, admin, tenant=tenant_key).data
    check_instance(tstats, {"tenant_id": tenant.id, "instances_count": 2, "active_instances_count": 2,
                            "available_instances_count": 2, "daily_limit": 2000, "sent_today": 0,
                            "remaining_today": 2000}, "tenant_statistics")
    expect(sorted(s.instance_id for s in tstats.instances), sorted([principal.id, secondary.id]),
           "tenant_statistics.instances")

    # 9. Every tenant's instances, with filters.
    everything = call("list_all_instances", 200, admin, per_page=50)
    expect(everything.meta.total, 2, "list_all_instances.meta.total")
    searched = call("list_all_instances", 200, admin, tenant_id=tenant.id, search="principal")
    expect([i.id for i in searched.data], [principal.id], "list_all_instances(search) ids")
    for item in everything.data + searched.data:
        if not absent(item, "evolution_api_key"):
            fail(f"list_all_instances: evolution_api_key present on instance {item.id}")

    shown_tenant = call("show_tenant", 200, admin, tenant="candidato-alcaldia").data
    expect((shown_tenant.whatsapp_instances_count, shown_tenant.active_whatsapp_instances_count), (2, 2),
           "show_tenant counts")
    for item in shown_tenant.whatsapp_instances:
        if not absent(item, "evolution_api_key"):
            fail(f"show_tenant: evolution_api_key present on instance {item.id}")

    # 10. A tenant user reads its own tenant's instances, without keys, and nothing else.
    user_password = "Rel3vo-tenant-user-9pQ!z"
    user = call("create_user", 201, admin, body=body("create_user", {
        "email": "ana@example.com", "password": user_password, "role": "tenant_user", "tenant_id": tenant.id,
    })).data
    expect((user.email, user.role, user.tenant_id), ("ana@example.com", "tenant_user", tenant.id), "create_user")
    user_login = call("login", 200, anonymous, body=body("login", {"email": "ana@example.com", "password": user_password}))
    expect((user_login.data.user.role, user_login.data.user.tenant_id), ("tenant_user", tenant.id), "tenant user login")
    tenant_user = AuthenticatedClient(base_url=BASE_URL, token=user_login.data.access_token,
                                      raise_on_unexpected_status=False)
    own = call("list_own_instances", 200, tenant_user, is_active=True, per_page=1)
    expect((own.meta.total, own.meta.per_page, own.meta.last_page, len(own.data)), (2, 1, 2, 1), "list_own_instances.meta")
    own_shown = call("show_own_instance", 200, tenant_user, id=secondary.id).data
    expect((own_shown.id, own_shown.instance_name), (secondary.id, SECONDARY["instance_name"]), "show_own_instance")
    if not absent(own_shown, "evolution_api_key"):
        fail("show_own_instance: a tenant user sees evolution_api_key")
    own_stats = call("own_instance_statistics", 200, tenant_user, id=secondary.id).data
    expect((own_stats.instance_id, own_stats.daily_limit, own_stats.remaining_today), (secondary.id, 500, 500),
           "own_instance_statistics")
    refused = call("show_instance", 403, tenant_user, tenant=tenant_key, id=principal.id)
    expect(refused.message, "This action is unauthorized.", "show_instance as tenant user")

    # 11. A sender token, a claim (replayed once) and a release.
    token = call("create_sender_token", 201, admin, tenant=tenant_key,
                 body=body("create_sender_token", {"name": "campaign-worker", "expires_in_days": 90})).data
    expect(token.name, "campaign-worker", "create_sender_token.name")
    if not token.token.startswith("rlv_snd_"):
        fail(f"create_sender_token: unexpected token {token.token[:12]!r}…")
    tokens = call("list_sender_tokens", 200, admin, tenant=tenant_key)
    expect([t.id for t in tokens.data], [token.id], "list_sender_tokens ids")
    if not absent(tokens.data[0], "token"):
        fail("list_sender_tokens shows the token")
    sender = AuthenticatedClient(base_url=BASE_URL, token=token.token, raise_on_unexpected_status=False)

    claim_body = {"count": 1, "recipient": "+573009876543", "idempotency_key": "campaign-42-msg-1001",
                  "strategy": "most_remaining"}
    claim = call("claim_own_instance", 200, sender, body=body("claim_own_instance", claim_body)).data
    check_instance(claim, {"requested": 1, "granted": 1, "released": 0, "replayed": False,
                           "messages_sent_today": 1, "remaining_quota": 1499,
                           "strategy": "most_remaining"}, "claim_own_instance")
    expect(iso(claim.usage_date), today, "claim_own_instance.usage_date")
    check_instance(claim.instance, {"id": principal.id, "instance_name": UPDATE["instance_name"],
                                    "phone_number": PRINCIPAL["phone_number"],
                                    "evolution_api_url": PRINCIPAL["evolution_api_url"],
                                    "evolution_api_key": PRINCIPAL["evolution_api_key"]},
                   "claim_own_instance.instance")
    replay = call("claim_own_instance", 200, sender, body=body("claim_own_instance", claim_body)).data
    expect((replay.claim_id, replay.replayed, replay.granted), (claim.claim_id, True, 1), "claim replay")

    after_claim = call("instance_statistics", 200, admin, tenant=tenant_key, id=principal.id).data
    expect((after_claim.sent_today, after_claim.remaining_today), (1, 1499), "statistics after the claim")

    release = call("release_own_claim", 200, sender, claim_id=claim.claim_id,
                   body=body("release_own_claim", {"count": 1})).data
    check_instance(release, {"claim_id": claim.claim_id, "granted": 1, "released": 1, "given_back": 1,
                             "counted_before_reset": False, "instance_id": principal.id,
                             "messages_sent_today": 0, "remaining_quota": 1500}, "release_own_claim")
    again = call("release_own_claim", 200, sender, claim_id=claim.claim_id,
                 body=body("release_own_claim", {"count": 1})).data
    expect((again.given_back, again.released, again.remaining_quota), (0, 1, 1500), "second release")

    # A reset between a claim and its release: the release gives nothing back twice.
    claim3 = call("claim_own_instance", 200, sender, body=body("claim_own_instance", {
        "count": 3, "idempotency_key": "campaign-42-msg-1002", "strategy": "most_remaining"})).data
    expect((claim3.instance.id, claim3.granted, claim3.messages_sent_today, claim3.remaining_quota),
           (principal.id, 3, 3, 1497), "claim of 3")
    reset3 = call("reset_counter", 200, admin, tenant=tenant_key, id=principal.id).data
    expect((reset3.messages_sent_today, reset3.remaining_quota), (0, 1500), "reset_counter after the claim")
    late = call("release_own_claim", 200, sender, claim_id=claim3.claim_id,
                body=body("release_own_claim", {})).data
    check_instance(late, {"granted": 3, "released": 3, "given_back": 0, "counted_before_reset": True,
                          "messages_sent_today": 0, "remaining_quota": 1500}, "release after a reset")

    history = call("instance_statistics", 200, admin, tenant=tenant_key, id=principal.id).data.history
    day = [h for h in history if iso(h.date) == today]
    expect([(h.sent, h.released) for h in day], [(0, 4)], "statistics history today")

    revoked = call("delete_sender_token", 200, admin, tenant=tenant_key, id=token.id)
    expect(revoked.message, "Sender token revoked", "delete_sender_token.message")
    call("claim_own_instance", 401, sender, body=body("claim_own_instance", {}))

    # 12. Delete (seed 001 section 7): the instance, then the tenant (409 while it has one).
    delete_all(call, admin, tenant_key, principal.id, user.id)


def report_optional() -> None:
    always: dict[str, list[str]] = defaultdict(list)
    for (cls, field), (seen, missing) in sorted(OPTIONAL_SEEN.items()):
        if seen and not missing:
            always[cls].append(field)
    if always:
        count = sum(len(fields) for fields in always.values())
        print(f"python: {count} optional (Unset-able) field(s) in {len(always)} class(es) were present in "
              "every answer seen (candidates for `required`):")
        for cls, fields in always.items():
            print(f"  {cls}: {', '.join(fields)}")


def report_duplicate_shapes() -> None:
    """Generated classes with the same fields, of the same types, required alike: one shape the
    document repeats inline instead of naming it once. Reported, not failed."""
    shapes: dict[tuple[tuple[str, bool, str], ...], list[str]] = defaultdict(list)
    for name, cls in sorted(MODEL_NAMESPACE.items()):
        if not (isinstance(cls, type) and attrs.has(cls)):
            continue
        hints = hints_of(cls)
        fields = tuple(sorted((f.name, f.default is UNSET, str(hints.get(f.name))) for f in attrs.fields(cls)
                              if f.name != "additional_properties"))
        if fields:
            shapes[fields].append(name)
    repeated = [(fields, names) for fields, names in shapes.items() if len(names) > 1]
    if not repeated:
        return
    count = sum(len(names) for _, names in repeated)
    print(f"python: {count} model classes repeat {len(repeated)} shape(s) (same fields, types and required):")
    for fields, names in sorted(repeated, key=lambda item: -len(item[1])):
        sample = ", ".join(name for name, _, _ in fields[:4]) + (", …" if len(fields) > 4 else "")
        print(f"  {len(names)} × ({sample}): {', '.join(names)}")


def main() -> int:
    try:
        scenario()
    except ScenarioFailure as failure:
        print(f"python: FAILED after {CALLS} call(s): {failure}", file=sys.stderr)
        return 1
    report_optional()
    report_duplicate_shapes()
    print(f"python: seed 001 scenario passed ({CALLS} calls; {len(OPERATIONS)} operations and "
          f"{len([m for m in MODEL_NAMESPACE.values() if attrs.has(m)])} model classes generated)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
