"""Seeds a fresh Relevo through its API for the schemathesis run (scripts/fuzz.sh).

    python3 seed.py --base-url URL --email E --password P --out state.json

Everything goes through the API as a client would, except one row: the webhook token of the
Evolution server that receives inbound webhooks (Relevo only creates one while provisioning
against a live Evolution server, and never shows it), which is written as its SHA-256 digest
straight into the database (--database-url), as scripts/bench-webhooks.sh does.

The state file names every row the hooks (hooks.py) put into path parameters: `keep` rows are
the ones the rest of the run relies on (the users whose tokens the fuzzer sends, the tenant of
the sender token, ...); `spare` rows exist to be changed or deleted by the fuzzer instead.
Uses the standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request


class Api:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.token: str | None = None

    def call(self, method: str, path: str, body: object | None = None, expect: int = 200, token: str | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        request.add_header("Accept-Language", "en")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        bearer = token or self.token
        if bearer:
            request.add_header("Authorization", f"Bearer {bearer}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        if status != expect:
            raise SystemExit(f"seed: {method} {path} answered {status}, expected {expect}: {raw[:500]!r}")
        return json.loads(raw) if raw else {}


def strong_password() -> str:
    return "Fz-" + secrets.token_urlsafe(18)


def store_webhook_digest(database_url: str, server_id: int, token: str) -> None:
    digest = hashlib.sha256(token.encode()).hexdigest()
    sql = f"UPDATE evolution_servers SET webhook_token_digest = '{digest}' WHERE id = {int(server_id)}"
    if database_url.startswith(("postgres://", "postgresql://")):
        subprocess.run(["psql", "-qAtX", "-v", "ON_ERROR_STOP=1", database_url, "-c", sql], check=True)
        return
    path = database_url.removeprefix("sqlite://").removeprefix("file:")
    with sqlite3.connect(path, timeout=10) as conn:
        if conn.execute(sql).rowcount != 1:
            raise SystemExit(f"seed: no evolution server {server_id} in {path}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--evolution-url", required=True, help="where the seeded Evolution servers point")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    api = Api(args.base_url)

    login = api.call("POST", "/api/v1/auth/login", {"email": args.email, "password": args.password})["data"]
    api.token = login["access_token"]
    admin_id = login["user"]["id"]

    # Evolution servers: `main` is the default every instance uses (nothing listens at its URL,
    # so calls to it answer 502); `spare` has no instances and takes the fuzzer's PUT/DELETE.
    def server(name: str, default: bool) -> int:
        body = {"name": name, "base_url": f"{args.evolution_url.rstrip('/')}/{name}", "api_key": secrets.token_hex(16), "is_default": default}
        return api.call("POST", "/api/v1/evolution-servers", body, expect=201)["data"]["id"]

    server_main = server("fuzz-main", True)
    server_spare = server("fuzz-spare", False)

    def tenant(slug: str) -> dict:
        body = {"nombre": f"Fuzz {slug}", "slug": slug, "timezone": "America/Bogota", "identificacion": "900123456"}
        return api.call("POST", "/api/v1/tenants", body, expect=201)["data"]

    # `home` holds the sender token and the tenant user; `other` is a second tenant for
    # cross-tenant paths; the `spare-*` tenants take the fuzzer's DELETE.
    home, other = tenant("fuzz-home"), tenant("fuzz-other")
    spare_tenants = [tenant("fuzz-spare-1"), tenant("fuzz-spare-2")]

    def instance(tenant_id: int, name: str, phone: str) -> int:
        body = {
            "instance_name": name,
            "phone_number": phone,
            "evolution_api_key": secrets.token_hex(16),
            "daily_message_limit": 100000,
            "notes": "seeded for fuzzing",
        }
        return api.call("POST", f"/api/v1/tenants/{tenant_id}/whatsapp-instances", body, expect=201)["data"]["id"]

    home_instances = [instance(home["id"], f"fuzz_home_{n}", f"+57300100000{n}") for n in range(3)]
    home_spare_instances = [instance(home["id"], f"fuzz_home_spare_{n}", f"+57300200000{n}") for n in range(2)]
    other_instances = [instance(other["id"], "fuzz_other_0", "+573003000000")]

    def sender_token(tenant_id: int, name: str) -> dict:
        return api.call("POST", f"/api/v1/tenants/{tenant_id}/sender-tokens", {"name": name}, expect=201)["data"]

    sender = sender_token(home["id"], "fuzz-sender")
    spare_sender_tokens = [sender_token(home["id"], f"fuzz-spare-{n}")["id"] for n in range(2)]

    def user(role: str, tenant_id: int | None) -> dict:
        password = strong_password()
        body = {"email": f"fuzz-{secrets.token_hex(4)}@relevo.test", "password": password, "role": role}
        if tenant_id is not None:
            body["tenant_id"] = tenant_id
        created = api.call("POST", "/api/v1/users", body, expect=201)["data"]
        return {"id": created["id"], "email": body["email"], "password": password}

    tenant_user = user("tenant_user", home["id"])
    tenant_user_token = api.call(
        "POST", "/api/v1/auth/login", {"email": tenant_user["email"], "password": tenant_user["password"]}
    )["data"]["access_token"]
    spare_users = [user("tenant_user", home["id"])["id"], user("tenant_user", other["id"])["id"], user("super_admin", None)["id"]]

    # Claims to release, made with the sender token as a campaign sender would.
    claims = [
        api.call("POST", "/api/v1/tenant/sender/claim", {"count": 5}, token=sender["token"])["data"]["claim_id"]
        for _ in range(3)
    ]

    # A message, as a campaign sender sends one: no Evolution server answers here, so every
    # instance tried fails and the message is logged `failed` (502), for the log's show.
    failed = api.call("POST", "/api/v1/tenant/messages", {"to": "+573009876543", "text": "fuzz"}, expect=502, token=sender["token"])
    messages = [failed["error_params"]["message_id"]]

    webhook_token = secrets.token_urlsafe(24)
    store_webhook_digest(args.database_url, server_main, webhook_token)

    state = {
        "tokens": {"admin": api.token, "tenant_user": tenant_user_token, "sender": sender["token"]},
        "admin_id": admin_id,
        "tenants": {
            "home": {"id": home["id"], "slug": home["slug"]},
            "other": {"id": other["id"], "slug": other["slug"]},
            "spare": [{"id": t["id"], "slug": t["slug"]} for t in spare_tenants],
        },
        "instances": {"home": home_instances, "home_spare": home_spare_instances, "other": other_instances},
        "sender_tokens": {"keep": sender["id"], "spare": spare_sender_tokens},
        "users": {"keep": [admin_id, tenant_user["id"]], "spare": spare_users},
        "servers": {"keep": server_main, "spare": server_spare},
        "claims": claims,
        "messages": messages,
        "webhook_token": webhook_token,
        # hooks.py logs in with these (the tenant user's: logging in changes nothing).
        "login": {"email": tenant_user["email"], "password": tenant_user["password"]},
    }
    with open(args.out, "w") as out:
        json.dump(state, out, indent=2)
    print(
        f"seeded: tenants {home['id']}/{other['id']}, instances {home_instances + other_instances}, "
        f"sender token {sender['id']}, tenant user {tenant_user['id']}, servers {server_main}/{server_spare}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
