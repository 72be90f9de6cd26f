"""Every `pattern` a client checks before it sends reads alike in every regex engine it may use.

    python3 patterns.py openapi.json    # exit 1, listing each disagreement, when engines differ

For each pattern and each probe (the pattern's own examples, bare and with whitespace, newlines,
non-ASCII and astral characters around or inside them, and a few odd strings), it compares:
- Python's `re.search` (openapi-generator's python client, many validators),
- Python's `re.match` (clients that check from the start only),
- Python's `re.fullmatch` of the pattern with its closing `$` read as the end of the string
  (what JSON Schema means, and what schemathesis and Hypothesis generate from),
- ECMA-262 `RegExp.test` without and with the `u` flag (zod and other JavaScript clients), run
  by Node.js.
Rust's `regex` crate, which the server's tests use, is checked against the parsers themselves in
src/openapi/constraints.rs. The patterns are those of request bodies and parameters: a pattern of
an answer only describes what the server writes (Python's `$` would also take a trailing newline
there, which the server never writes).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

AROUND = ["", " ", "\t", "\n", "\u00a0", "\u2028", "\u3000", "\u200b", "😀", "a", "*"]


def patterns(node: Any, found: dict[str, set[str]]) -> None:
    """Every pattern, with the example values written beside it."""
    if isinstance(node, dict):
        pattern = node.get("pattern")
        if isinstance(pattern, str):
            examples = found.setdefault(pattern, set())
            for key in ("example", "default"):
                if isinstance(node.get(key), str):
                    examples.add(node[key])
            for example in node.get("examples") or []:
                if isinstance(example, str):
                    examples.add(example)
        for value in node.values():
            patterns(value, found)
    elif isinstance(node, list):
        for value in node:
            patterns(value, found)


def probes(examples: set[str]) -> list[str]:
    out = {"", " ", "\n", "a\n", "😀", "\u0000", "x" * 300}
    for example in examples:
        for before in AROUND:
            for after in AROUND:
                out.add(f"{before}{example}{after}")
        if len(example) > 1:
            middle = len(example) // 2
            for inside in AROUND:
                out.add(example[:middle] + inside + example[middle:])
    return sorted(out)


def python_readings(pattern: str, probe: str) -> dict[str, bool]:
    end_of_string = pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith(r"\$") else pattern
    return {
        "python re.search": re.search(pattern, probe) is not None,
        "python re.match": re.match(pattern, probe) is not None,
        "python re.fullmatch, $ as \\Z": re.fullmatch(end_of_string, probe) is not None,
    }


NODE = r"""
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = cases.map(([pattern, probe]) => [new RegExp(pattern).test(probe), new RegExp(pattern, 'u').test(probe)]);
process.stdout.write(JSON.stringify(out));
"""


def resolved(document: Any, node: Any, seen: set[str]) -> Any:
    """`node` with every `$ref` under it replaced by what it points at (each followed once)."""
    if isinstance(node, dict):
        reference = node.get("$ref")
        if isinstance(reference, str) and reference not in seen:
            target = document
            for part in reference.removeprefix("#/").split("/"):
                target = target[part]
            return resolved(document, target, seen | {reference})
        return {key: resolved(document, value, seen) for key, value in node.items()}
    if isinstance(node, list):
        return [resolved(document, value, seen) for value in node]
    return node


def main() -> int:
    document = json.load(open(sys.argv[1]))
    found: dict[str, set[str]] = {}
    for item in document["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict):
                sent = [operation.get("parameters", []), operation.get("requestBody", {})]
                patterns(resolved(document, sent, set()), found)
    cases = [(pattern, probe) for pattern, examples in sorted(found.items()) for probe in probes(examples)]
    node = subprocess.run(["node", "-e", NODE], input=json.dumps(cases), capture_output=True, text=True, check=True)
    ecma = json.loads(node.stdout)
    disagreements = 0
    for (pattern, probe), (plain, unicode) in zip(cases, ecma):
        readings = python_readings(pattern, probe)
        readings["ECMA-262"] = plain
        readings["ECMA-262 with u"] = unicode
        if len(set(readings.values())) > 1:
            disagreements += 1
            if disagreements <= 20:
                print(f"patterns: {probe!r} against {pattern[:120]!r}…: {readings}", file=sys.stderr)
    print(f"patterns: {len(found)} patterns, {len(cases)} probes, {disagreements} disagreement(s)")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
