"""Seed 001 end to end through the Python client that openapi-generator's `python` generator made.

Run by scripts/check-clients.sh with the generated package `relevo_og` and scripts/clients/
(scenario_common.py: seed 001's values and the shared checks) on PYTHONPATH and
RELEVO_URL, RELEVO_ADMIN_EMAIL and RELEVO_ADMIN_PASSWORD in the environment. The same flow as
scripts/clients/python/scenario.py (openapi-python-client), through another generator's reading
of the document: pydantic models that check every `pattern`, length and bound on the way out
(a request body) and on the way back (an answer).

Operations are found by their operationId (the method name the generator gives each one, on
the API class of its tag), request bodies are built with the model class the method's signature
names, and every answer, error answers included, goes through the generated deserializer:
- a status the operation does not document, or an answer its model cannot read, fails the run;
- a field of the answer that the model dropped (`to_dict()` no longer has it) fails the run.
"""

from __future__ import annotations

import json
import sys
import typing
from typing import Any

import pydantic

import relevo_og
import relevo_og.api
from relevo_og.exceptions import ApiException
from scenario_common import ADMIN_EMAIL, ADMIN_PASSWORD, BASE_URL, PRINCIPAL, SECONDARY, UPDATE
from scenario_common import ScenarioFailure, delete_all, expect, fail, iso, operation_named


# --- operations by operationId -------------------------------------------------------------

def find_operations() -> dict[str, tuple[type, str]]:
    found: dict[str, tuple[type, str]] = {}
    for name in dir(relevo_og.api):
        api = getattr(relevo_og.api, name)
        if not (isinstance(api, type) and name.endswith("Api")):
            continue
        for method in dir(api):
            if method.startswith("_") or not callable(getattr(api, method)):
                continue
            if method.endswith(("_with_http_info", "_without_preload_content")):
                continue
            if method in found:
                fail(f"two API classes have operation {method}: {found[method][0].__name__}, {name}")
            found[method] = (api, method)
    return found


OPERATIONS = find_operations()


def operation(name: str) -> tuple[type, str]:
    return operation_named(OPERATIONS, name)


def model_classes(annotation: Any) -> list[type]:
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return [annotation]
    return [c for arg in typing.get_args(annotation) for c in model_classes(arg)]


def body(operation_name: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The keyword argument of an operation's body, built with the model its signature names."""
    api, method = operation(operation_name)
    hints = typing.get_type_hints(getattr(api, method), include_extras=True)
    bodies = [(name, classes) for name, hint in hints.items()
              if not name.startswith("_") and name != "return" and (classes := model_classes(hint))]
    if len(bodies) != 1 or len(bodies[0][1]) != 1:
        fail(f"{operation_name}: cannot tell the body parameter from {sorted(hints)}")
    name, (cls,) = bodies[0]
    unknown = set(fields) - set(cls.model_fields)
    if unknown:
        fail(f"{operation_name}: the body class {cls.__name__} does not name {sorted(unknown)}")
    try:
        # Not `from_dict`: it sets every field, and sends each nullable one left out as `null`.
        return {name: cls.model_validate(fields)}
    except pydantic.ValidationError as error:
        fail(f"{operation_name}: the client refuses seed 001's body: {error}")


def client(token: str | None = None) -> relevo_og.ApiClient:
    return relevo_og.ApiClient(relevo_og.Configuration(host=BASE_URL, access_token=token))


def dropped_keys(raw: Any, rendered: Any, path: str, problems: list[str]) -> None:
    if isinstance(raw, dict) and isinstance(rendered, dict):
        for key, value in raw.items():
            if key not in rendered:
                if value is not None:
                    problems.append(f"{path}: the client dropped field {key!r}")
            else:
                dropped_keys(value, rendered[key], f"{path}.{key}", problems)
    elif isinstance(raw, list) and isinstance(rendered, list) and len(raw) == len(rendered):
        for i, (item, back) in enumerate(zip(raw, rendered)):
            dropped_keys(item, back, f"{path}[{i}]", problems)


def rendered(value: Any) -> Any:
    if isinstance(value, pydantic.BaseModel):
        return value.to_dict()
    if isinstance(value, list):
        return [rendered(item) for item in value]
    return value


CALLS = 0


def call(name: str, status: int, api_client: relevo_og.ApiClient, **kwargs: Any) -> Any:
    """Calls one operation through the generated client and checks the answer's shape."""
    global CALLS
    CALLS += 1
    api, method = operation(name)
    endpoint = getattr(api(api_client), f"{method}_with_http_info")
    try:
        response = endpoint(**kwargs)
        got, data, raw = response.status_code, response.data, response.raw_data
    except ApiException as error:
        got, data, raw = error.status, error.data, (error.body or "").encode()
    except (pydantic.ValidationError, ValueError) as error:
        fail(f"{name}: the client refused the call or could not read its answer: {error}")
    if got != status:
        fail(f"{name}: status {got}, expected {status}: {raw[:600]!r}")
    if data is None:
        fail(f"{name}: status {status} was not read (one the document does not list?): {raw[:600]!r}")
    problems: list[str] = []
    if raw:
        dropped_keys(json.loads(raw), rendered(data), name, problems)
    if problems:
        fail(f"{name}: the answer does not match the document:\n  " + "\n  ".join(problems))
    return data


def check_instance(data: Any, wanted: dict[str, Any], what: str) -> None:
    for key, value in wanted.items():
        expect(getattr(data, key, None), value, f"{what}.{key}")


# --- the scenario ---------------------------------------------------------------------------

def scenario() -> None:
    anonymous = client()

    # 1. Login and me.
    login = call("login", 200, anonymous, **body("login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
    expect(login.data.token_type, "Bearer", "login.token_type")
    expect((login.data.user.email, login.data.user.role), (ADMIN_EMAIL, "super_admin"), "login.user")
    admin = client(login.data.access_token)
    wrong = call("login", 401, anonymous, **body("login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD + "x"}))
    if not wrong.message:
        fail("login with a wrong password: no message")
    me = call("me", 200, admin)
    expect((me.data.id, me.data.email), (login.data.user.id, ADMIN_EMAIL), "me")

    # 2. Tenant.
    tenant = call("create_tenant", 201, admin, **body("create_tenant", {
        "nombre": "Juan Pérez - Alcaldía",
        "slug": "candidato-alcaldia",
        "tipo_cargo": "Alcalde",
        "identificacion": "1234567890",
    })).data
    expect((tenant.slug, tenant.nombre), ("candidato-alcaldia", "Juan Pérez - Alcaldía"), "tenant")
    tenant_key = str(tenant.id)

    # 3. Two instances, and the duplicate phone number.
    created = call("create_instance", 201, admin, tenant=tenant_key, **body("create_instance", PRINCIPAL))
    expect(created.message, "WhatsApp instance created successfully", "create_instance.message")
    principal = created.data
    check_instance(principal, {**PRINCIPAL, "tenant_id": tenant.id, "messages_sent_today": 0,
                               "remaining_quota": 1000, "can_send_messages": True}, "create_instance.data")
    expect((principal.tenant.id, principal.tenant.slug), (tenant.id, "candidato-alcaldia"), "create_instance.tenant")
    today = iso(principal.last_reset_date)
    secondary = call("create_instance", 201, admin, tenant="candidato-alcaldia",
                     **body("create_instance", SECONDARY)).data
    check_instance(secondary, {**SECONDARY, "is_active": True, "remaining_quota": 500}, "create_instance(2).data")
    duplicate = call("create_instance", 422, admin, tenant=tenant_key, **body("create_instance", PRINCIPAL))
    expect(duplicate.errors.get("phone_number"),
           ["Este número de teléfono ya está registrado para este tenant"], "duplicate phone errors")

    # 4. List, show, update.
    listed = call("list_instances", 200, admin, tenant=tenant_key, is_active=True, per_page=10)
    expect([i.id for i in listed.data], [principal.id, secondary.id], "list_instances ids")
    expect((listed.meta.total, listed.meta.per_page), (2, 10), "list_instances.meta")
    if any(getattr(i, "evolution_api_key", None) is not None for i in listed.data):
        fail("list_instances: evolution_api_key in a list")
    shown = call("show_instance", 200, admin, tenant=tenant_key, id=principal.id).data
    expect(shown.evolution_api_key, PRINCIPAL["evolution_api_key"], "show_instance.evolution_api_key")
    updated = call("update_instance", 200, admin, tenant=tenant_key, id=principal.id,
                   **body("update_instance", UPDATE))
    expect(updated.message, "WhatsApp instance updated successfully", "update_instance.message")
    check_instance(updated.data, {**UPDATE, "phone_number": PRINCIPAL["phone_number"],
                                  "remaining_quota": 1500, "is_active": True}, "update_instance.data")

    # 5. Toggle twice, reset, statistics.
    off = call("toggle_active", 200, admin, tenant=tenant_key, id=principal.id)
    expect((off.message, off.data.is_active), ("WhatsApp instance deactivated", False), "toggle_active")
    inactive = call("list_instances", 200, admin, tenant=tenant_key, is_active=False)
    expect([i.id for i in inactive.data], [principal.id], "list_instances(is_active=false) ids")
    on = call("toggle_active", 200, admin, tenant=tenant_key, id=principal.id)
    expect((on.message, on.data.is_active), ("WhatsApp instance activated", True), "toggle_active(2)")
    reset = call("reset_counter", 200, admin, tenant=tenant_key, id=principal.id)
    expect((reset.data.messages_sent_today, reset.data.remaining_quota), (0, 1500), "reset_counter.data")
    stats = call("instance_statistics", 200, admin, tenant=tenant_key, id=principal.id).data
    check_instance(stats, {"instance_id": principal.id, "phone_number": PRINCIPAL["phone_number"],
                           "daily_limit": 1500, "sent_today": 0, "remaining_today": 1500, "can_send": True},
                   "instance_statistics")
    tstats = call("tenant_statistics", 200, admin, tenant=tenant_key).data
    check_instance(tstats, {"tenant_id": tenant.id, "instances_count": 2, "daily_limit": 2000}, "tenant_statistics")
    everything = call("list_all_instances", 200, admin, per_page=50)
    expect(everything.meta.total, 2, "list_all_instances.meta.total")
    searched = call("list_all_instances", 200, admin, tenant_id=tenant.id, search="principal")
    expect([i.id for i in searched.data], [principal.id], "list_all_instances(search) ids")
    shown_tenant = call("show_tenant", 200, admin, tenant="candidato-alcaldia").data
    expect(shown_tenant.whatsapp_instances_count, 2, "show_tenant.whatsapp_instances_count")

    # 6. A tenant user reads its own tenant's instances, and nothing else.
    user_password = "Rel3vo-tenant-user-9pQ!z"
    user = call("create_user", 201, admin, **body("create_user", {
        "email": "ana@example.com", "password": user_password, "role": "tenant_user", "tenant_id": tenant.id,
    })).data
    expect((user.email, user.role, user.tenant_id), ("ana@example.com", "tenant_user", tenant.id), "create_user")
    user_login = call("login", 200, anonymous, **body("login", {"email": "ana@example.com", "password": user_password}))
    tenant_user = client(user_login.data.access_token)
    own = call("list_own_instances", 200, tenant_user, is_active=True, per_page=1)
    expect((own.meta.total, own.meta.last_page, len(own.data)), (2, 2, 1), "list_own_instances.meta")
    own_shown = call("show_own_instance", 200, tenant_user, id=secondary.id).data
    expect(own_shown.instance_name, SECONDARY["instance_name"], "show_own_instance")
    refused = call("show_instance", 403, tenant_user, tenant=tenant_key, id=principal.id)
    expect(refused.message, "This action is unauthorized.", "show_instance as tenant user")

    # 7. A sender token, a claim (replayed once) and a release.
    token = call("create_sender_token", 201, admin, tenant=tenant_key,
                 **body("create_sender_token", {"name": "campaign-worker", "expires_in_days": 90})).data
    if not token.token.startswith("rlv_snd_"):
        fail(f"create_sender_token: unexpected token {token.token[:12]!r}…")
    sender = client(token.token)
    claim_body = {"count": 1, "recipient": "+573009876543", "idempotency_key": "campaign-42-msg-1001",
                  "strategy": "most_remaining"}
    claim = call("claim_own_instance", 200, sender, **body("claim_own_instance", claim_body)).data
    check_instance(claim, {"requested": 1, "granted": 1, "replayed": False, "remaining_quota": 1499},
                   "claim_own_instance")
    expect(iso(claim.usage_date), today, "claim_own_instance.usage_date")
    check_instance(claim.instance, {"id": principal.id, "phone_number": PRINCIPAL["phone_number"],
                                    "evolution_api_key": PRINCIPAL["evolution_api_key"]},
                   "claim_own_instance.instance")
    replay = call("claim_own_instance", 200, sender, **body("claim_own_instance", claim_body)).data
    expect((replay.claim_id, replay.replayed), (claim.claim_id, True), "claim replay")
    release = call("release_own_claim", 200, sender, claim_id=str(claim.claim_id),
                   **body("release_own_claim", {"count": 1})).data
    check_instance(release, {"claim_id": claim.claim_id, "given_back": 1, "remaining_quota": 1500},
                   "release_own_claim")
    revoked = call("delete_sender_token", 200, admin, tenant=tenant_key, id=token.id)
    expect(revoked.message, "Sender token revoked", "delete_sender_token.message")
    call("claim_own_instance", 401, sender, **body("claim_own_instance", {}))

    # 8. Delete the instance, then the tenant (409 while it has one).
    delete_all(call, admin, tenant_key, principal.id, user.id)


def main() -> int:
    try:
        scenario()
    except ScenarioFailure as failure:
        print(f"openapi-generator: FAILED after {CALLS} call(s): {failure}", file=sys.stderr)
        return 1
    print(f"openapi-generator: seed 001 scenario passed ({CALLS} calls; {len(OPERATIONS)} operations generated)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
