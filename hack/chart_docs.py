"""The chart's values documentation, from one source: the ``## @param`` lines of values.yaml.

bitnami's readme-generator-for-helm convention (``## @section Title``, ``## @param key text``;
``runtimes[].name`` for a field of every list item), with two outputs:

- the values table of charts/modelmesh/README.md, between ``<!-- values:start -->`` and
  ``<!-- values:end -->``, one table per section, defaults taken from values.yaml;
- the ``description`` of each documented key in values.schema.json. The schema's types,
  bounds and ``additionalProperties: false`` are written by hand; only descriptions come
  from here, so a key cannot be documented in one place and not the other.

``problems()`` lists what is out of line: a key in values.yaml no ``@param`` covers, an
``@param`` for a key the schema does not know, a schema key without documentation, an
object schema that accepts unknown keys. ``python hack/chart_docs.py`` rewrites both files;
``--check`` changes nothing and fails if either is stale or anything is out of line.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parent.parent / "charts" / "modelmesh"
START, END = "<!-- values:start -->", "<!-- values:end -->"
_SECTION = re.compile(r"^\s*## @section (?P<title>.+?)\s*$")
_PARAM = re.compile(r"^\s*## @param (?P<key>\S+) (?P<text>.+?)\s*$")


@dataclass(frozen=True)
class Param:
    key: str  # dotted path; "[]" after a list's name stands for each of its items
    text: str
    section: str


def read_params(values_text: str) -> list[Param]:
    params: list[Param] = []
    section = ""
    for line in values_text.splitlines():
        if match := _SECTION.match(line):
            section = match["title"]
        elif match := _PARAM.match(line):
            params.append(Param(match["key"], match["text"], section))
    return params


def split(key: str) -> list[str]:
    """``a.b[].c`` -> ``["a", "b", "[]", "c"]``."""
    parts: list[str] = []
    for piece in key.split("."):
        name = piece.replace("[]", "")
        if name:
            parts.append(name)
        parts += ["[]"] * piece.count("[]")
    return parts


def value_leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every documentable key path of values.yaml (empty maps and lists are leaves)."""
    if isinstance(value, dict) and value:
        for key, child in value.items():
            yield from value_leaves(child, (*path, str(key)))
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for item in value:
            yield from value_leaves(item, (*path, "[]"))
    else:
        yield path


def schema_node(schema: dict[str, Any], parts: list[str]) -> dict[str, Any] | None:
    node: dict[str, Any] | None = schema
    for part in parts:
        if node is None:
            return None
        node = node.get("items") if part == "[]" else node.get("properties", {}).get(part)
    return node


def schema_keys(node: dict[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every key path the schema spells out (under ``properties``, through list items)."""
    for key, child in node.get("properties", {}).items():
        yield (*path, key)
        yield from schema_keys(child, (*path, key))
    items = node.get("items")
    if isinstance(items, dict) and "properties" in items:
        yield from schema_keys(items, (*path, "[]"))


def default_of(values: Any, parts: list[str]) -> Any:
    """The default of a key; for list items, the first item's (``None``: not set)."""
    node = values
    for part in parts:
        if part == "[]":
            if not isinstance(node, list) or not node:
                return None
            node = node[0]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node


def show(value: Any) -> str:
    if value is None:
        return ""
    text = json.dumps(value, separators=(", ", ": "))
    return "see values.yaml" if len(text) > 60 else f"`{text}`"


def table(params: list[Param], values: Any) -> str:
    out: list[str] = []
    section = None
    for param in params:
        if param.section != section:
            section = param.section
            out += ["", f"### {section}", "", "| Name | Description | Default |", "|---|---|---|"]
        default = show(default_of(values, split(param.key)))
        text = param.text.replace("|", "\\|")
        out.append(f"| `{param.key}` | {text} | {default} |")
    return "\n".join(out).strip() + "\n"


def with_descriptions(schema: dict[str, Any], params: list[Param]) -> dict[str, Any]:
    updated = json.loads(json.dumps(schema))
    for param in params:
        node = schema_node(updated, split(param.key))
        if node is not None:
            node["description"] = param.text
    return updated


def with_table(readme: str, rendered: str) -> str:
    if START not in readme or END not in readme:
        raise SystemExit(f"README.md lacks the {START} ... {END} markers")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n\n{rendered}\n{END}{tail}"


def dotted(path: tuple[str, ...]) -> str:
    return ".".join(path).replace(".[]", "[]")


def problems(values_text: str, schema: dict[str, Any]) -> list[str]:
    params = read_params(values_text)
    values = yaml.safe_load(values_text)
    documented = {tuple(split(p.key)) for p in params}
    found: list[str] = []
    seen: set[str] = set()
    for param in params:
        if param.key in seen:
            found.append(f"{param.key}: documented twice")
        seen.add(param.key)
        if schema_node(schema, split(param.key)) is None:
            found.append(f"{param.key}: documented but values.schema.json does not define it")
    for leaf in value_leaves(values):
        if not any(leaf[: n + 1] in documented for n in range(len(leaf))):
            found.append(f"{dotted(leaf)}: in values.yaml without a ## @param line")
    for path in schema_keys(schema):
        covered = any(path[: n + 1] in documented for n in range(len(path)))
        node = schema_node(schema, list(path)) or {}
        intermediate = "properties" in node or "properties" in node.get("items", {})
        if not covered and not intermediate:
            found.append(f"{dotted(path)}: in values.schema.json without a ## @param line")
    for path, node in _object_nodes(schema):
        if "properties" in node and node.get("additionalProperties") is not False:
            where = dotted(path) or "(root)"
            found.append(f"{where}: the schema accepts unknown keys (additionalProperties)")
    return found


def _object_nodes(
    node: dict[str, Any], path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    yield path, node
    for key, child in node.get("properties", {}).items():
        yield from _object_nodes(child, (*path, key))
    if isinstance(node.get("items"), dict):
        yield from _object_nodes(node["items"], (*path, "[]"))


def render(chart: Path) -> tuple[str, str]:
    """The README and values.schema.json as they should be."""
    values_text = (chart / "values.yaml").read_text()
    params = read_params(values_text)
    schema = json.loads((chart / "values.schema.json").read_text())
    rendered = table(params, yaml.safe_load(values_text))
    readme = with_table((chart / "README.md").read_text(), rendered)
    return readme, json.dumps(with_descriptions(schema, params), indent=2) + "\n"


def stale(chart: Path = CHART) -> list[str]:
    """Everything ``--check`` would complain about (empty: all fresh and consistent)."""
    values_text = (chart / "values.yaml").read_text()
    found = problems(values_text, json.loads((chart / "values.schema.json").read_text()))
    readme, schema = render(chart)
    if readme != (chart / "README.md").read_text():
        found.append("README.md: the values table is stale; run python hack/chart_docs.py")
    if schema != (chart / "values.schema.json").read_text():
        found.append("values.schema.json: descriptions are stale; run python hack/chart_docs.py")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; fail if stale")
    parser.add_argument("--chart", type=Path, default=CHART)
    args = parser.parse_args()
    if not args.check:
        readme, schema = render(args.chart)
        (args.chart / "README.md").write_text(readme)
        (args.chart / "values.schema.json").write_text(schema)
    found = stale(args.chart)
    for problem in found:
        print(f"chart docs: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
