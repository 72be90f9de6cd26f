"""What the Python scenarios share: Relevo's address and admin, seed 001's values, and the checks.

scripts/clients/python/scenario.py (openapi-python-client) and
scripts/clients/openapi-generator/scenario.py (openapi-generator's `python`) run the same flow
through two generators' readings of the document; scripts/check-clients.sh puts this folder on
their PYTHONPATH, beside the generated package.
"""

from __future__ import annotations

import datetime
import os
import typing
from collections.abc import Callable
from typing import Any, TypeVar

BASE_URL = os.environ["RELEVO_URL"]
ADMIN_EMAIL = os.environ["RELEVO_ADMIN_EMAIL"]
ADMIN_PASSWORD = os.environ["RELEVO_ADMIN_PASSWORD"]

# Seed 001's example values (/work/shared/seeds/001_*.txt).
PRINCIPAL = {
    "phone_number": "+573001234567",
    "instance_name": "principal_campana",
    "evolution_api_key": "B6D9F2E8-A3C4-4D5E-9F8A-1B2C3D4E5F6A",
    "evolution_api_url": "https://evolution.midominio.com",
    "daily_message_limit": 1000,
    "is_active": True,
    "notes": "Instancia principal para campaña electoral",
}
SECONDARY = {
    "phone_number": "+573009876543",
    "instance_name": "secundaria_recordatorios",
    "evolution_api_key": "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0",
    "evolution_api_url": None,
    "daily_message_limit": 500,
    "notes": "Para recordatorios de reuniones y compromisos",
}
UPDATE = {
    "instance_name": "principal_actualizada",
    "daily_message_limit": 1500,
    "notes": "Límite aumentado por campaña intensiva",
}


class ScenarioFailure(Exception):
    pass


def fail(message: str) -> typing.NoReturn:
    raise ScenarioFailure(message)


def expect(actual: Any, wanted: Any, what: str) -> None:
    if actual != wanted:
        fail(f"{what}: got {actual!r}, expected {wanted!r}")


def iso(value: Any) -> str:
    """Dates and timestamps compare as text whether the client parsed them or not."""
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return str(value)


Operation = TypeVar("Operation")


def operation_named(operations: dict[str, Operation], name: str) -> Operation:
    """An operation of the generated client by its operationId; a missing one fails the run."""
    try:
        return operations[name]
    except KeyError:
        fail(f"the generated client has no operation {name!r}")


def delete_all(call: Callable[..., Any], admin: Any, tenant_key: str, instance_id: int,
               user_id: int) -> None:
    """Seed 001 section 7 through a scenario's `call`: the instance, then the tenant (409
    while it has one), once its user is gone."""
    deleted = call("delete_instance", 200, admin, tenant=tenant_key, id=instance_id)
    expect(deleted.message, "WhatsApp instance deleted successfully", "delete_instance.message")
    gone = call("show_instance", 404, admin, tenant=tenant_key, id=instance_id)
    expect(gone.error_key, "whatsapp.instance_not_found", "show_instance after delete")
    busy = call("delete_tenant", 409, admin, tenant=tenant_key)
    expect(busy.error_key, "tenant.has_instances", "delete_tenant with an instance")
    call("delete_user", 200, admin, id=user_id)
    bye = call("delete_tenant", 200, admin, tenant=tenant_key, force=True)
    expect(bye.message, "Tenant deleted successfully", "delete_tenant.message")
    missing = call("show_tenant", 404, admin, tenant=tenant_key)
    expect(missing.error_key, "tenant.not_found", "show_tenant after delete")
