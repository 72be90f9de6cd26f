"""Writes broken copies of an OpenAPI document, for `scripts/check-clients.sh --self-test`.

Each mutant makes the document disagree with what Relevo answers in one way that the client
checks must catch; the self-test runs both clients against each and expects both to fail.
Mutations follow $ref, so they work whether a response schema is inline or a named component.

    python3 mutants.py openapi.json OUT_DIR    # prints the names of the files it wrote
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from collections.abc import Callable
from typing import Any

Doc = dict[str, Any]


def resolve(doc: Doc, schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = doc
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        schema = node
    return schema


def operation(doc: Doc, operation_id: str) -> dict[str, Any]:
    for item in doc["paths"].values():
        for op in item.values():
            if isinstance(op, dict) and op.get("operationId") == operation_id:
                return op
    raise SystemExit(f"no operation {operation_id}")


def response_schema(doc: Doc, operation_id: str, status: str) -> dict[str, Any]:
    response = resolve(doc, operation(doc, operation_id)["responses"][status])
    return resolve(doc, response["content"]["application/json"]["schema"])


def objects(doc: Doc, schema: dict[str, Any], seen: set[int] | None = None):
    """Every object schema reachable from `schema` (through $ref, allOf, oneOf, items, …)."""
    seen = set() if seen is None else seen
    schema = resolve(doc, schema)
    if id(schema) in seen:
        return
    seen.add(id(schema))
    if "properties" in schema:
        yield schema
        for sub in schema["properties"].values():
            yield from objects(doc, sub, seen)
    for key in ("allOf", "oneOf", "anyOf"):
        for sub in schema.get(key, []):
            yield from objects(doc, sub, seen)
    if isinstance(schema.get("items"), dict):
        yield from objects(doc, schema["items"], seen)


def data_schema(doc: Doc, operation_id: str, status: str) -> dict[str, Any]:
    """The object under `data` (the list item for lists)."""
    for envelope in objects(doc, response_schema(doc, operation_id, status)):
        if "data" in envelope["properties"]:
            data = resolve(doc, envelope["properties"]["data"])
            if "items" in data:
                data = resolve(doc, data["items"])
            return next(objects(doc, data))
    raise SystemExit(f"{operation_id} {status} has no data")


def undocumented_field(doc: Doc) -> None:
    """`priority` disappears from every instance schema: the server's field is undocumented."""
    for op in ("create_instance", "list_instances", "show_instance"):
        schema = data_schema(doc, op, "200" if op != "create_instance" else "201")
        schema["properties"].pop("priority", None)
        schema["required"] = [r for r in schema.get("required", []) if r != "priority"]


def closed_undocumented_field(doc: Doc) -> None:
    """As undocumented_field, with `additionalProperties: false`: clients drop the field silently."""
    undocumented_field(doc)
    for op in ("create_instance", "list_instances", "show_instance"):
        data_schema(doc, op, "200" if op != "create_instance" else "201")["additionalProperties"] = False


def wrong_type(doc: Doc) -> None:
    """`remaining_quota` is documented as a string."""
    data_schema(doc, "create_instance", "201")["properties"]["remaining_quota"] = {"type": "string"}


def undocumented_status(doc: Doc) -> None:
    """show_instance's 403 (the scenario's tenant user gets one) is no longer documented."""
    operation(doc, "show_instance")["responses"].pop("403")


def missing_required(doc: Doc) -> None:
    """List items must carry `evolution_api_key`, which lists never send."""
    schema = data_schema(doc, "list_instances", "200")
    schema["properties"].setdefault("evolution_api_key", {"type": "string"})
    schema.setdefault("required", []).append("evolution_api_key")


def renamed_field(doc: Doc) -> None:
    """The claim's `granted` is documented as `granted_count`: parse and compile errors."""
    schema = data_schema(doc, "claim_own_instance", "200")
    schema["properties"]["granted_count"] = schema["properties"].pop("granted")
    schema["required"] = ["granted_count" if r == "granted" else r for r in schema.get("required", [])]


def wrong_nullability(doc: Doc) -> None:
    """`evolution_api_url` may not be null, but the second instance has none."""
    schema = data_schema(doc, "list_instances", "200")
    schema["properties"]["evolution_api_url"] = {"type": "string"}


MUTANTS: dict[str, Callable[[Doc], None]] = {
    "undocumented-field": undocumented_field,
    "closed-undocumented-field": closed_undocumented_field,
    "wrong-type": wrong_type,
    "undocumented-status": undocumented_status,
    "missing-required": missing_required,
    "renamed-field": renamed_field,
    "wrong-nullability": wrong_nullability,
}


def main() -> None:
    source, out = Path(sys.argv[1]), Path(sys.argv[2])
    original = json.loads(source.read_text())
    out.mkdir(parents=True, exist_ok=True)
    for name, mutate in MUTANTS.items():
        doc = copy.deepcopy(original)
        mutate(doc)
        path = out / f"{name}.json"
        path.write_text(json.dumps(doc))
        print(path)


if __name__ == "__main__":
    main()
