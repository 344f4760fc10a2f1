"""The field schema of an extractor: field name → value type (text, date, time, money, count), single or list.

    parse_schema("date:date, people:count, name")          # name defaults to text
    parse_schema({"total": "money", "items": {"type": "text", "multiple": True}})

Saved in the module; every span label in the training data must be a field of it (checked at train time). Without
an explicit schema the fields are the labels seen in the data, typed by name (`date` → date, `total` → money, ...)
— the manifest and report show what was chosen.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from microgpt.errors import ConfigError
from microgpt.extract.normalize import FIELD_TYPES

_NAME_TYPES = (  # name pattern → type, first match wins
    (re.compile(r"date|day|dob|birth", re.I), "date"),
    (re.compile(r"time|hour", re.I), "time"),
    (re.compile(r"total|amount|price|cost|fee|tax|subtotal|balance|money", re.I), "money"),
    (re.compile(r"people|guests|party|count|quantity|qty|number_of|size", re.I), "count"),
)


@dataclass(frozen=True)
class FieldSpec:
    type: str = "text"
    multiple: bool = False  # a list of values (line items) rather than one

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "multiple": self.multiple}


Schema = dict[str, FieldSpec]


def guess_type(name: str) -> str:
    return next((kind for pattern, kind in _NAME_TYPES if pattern.search(name)), "text")


def infer_schema(labels: list[str]) -> Schema:
    return {name: FieldSpec(guess_type(name)) for name in sorted(labels)}


def parse_schema(value: str | Path | dict[str, Any] | None) -> Schema | None:
    """A schema from a dict, a JSON file, a JSON string, or ``"name:type, name:type[]"`` (``[]`` = list)."""
    if value is None:
        return None
    if isinstance(value, Path) or (isinstance(value, str) and value.endswith(".json")):
        path = Path(value)
        if not path.exists():
            raise ConfigError(f"schema file not found: {path}", hint='write e.g. {"date": "date", "total": "money"}')
        value = json.loads(path.read_text())
    if isinstance(value, str):
        value = value.strip()
        if value.startswith("{"):
            value = json.loads(value)
        else:
            value = dict(_parse_item(item) for item in value.split(",") if item.strip())
    if not isinstance(value, dict) or not value:
        raise ConfigError(
            f"a field schema must name at least one field, got {value!r}", hint="e.g. date:date,people:count"
        )
    schema: Schema = {}
    for name, spec in value.items():
        if isinstance(spec, FieldSpec):
            schema[name] = spec
            continue
        if isinstance(spec, str):
            multiple = spec.endswith("[]")
            spec = {"type": spec.removesuffix("[]"), "multiple": multiple}
        if not isinstance(spec, dict) or spec.get("type", "text") not in FIELD_TYPES:
            raise ConfigError(
                f"field {name!r} has an invalid type {spec!r}", hint=f"use one of: {', '.join(FIELD_TYPES)}"
            )
        unknown = set(spec) - {"type", "multiple"}
        if unknown:
            raise ConfigError(f"field {name!r} has unknown keys {sorted(unknown)}", hint="use 'type' and 'multiple'")
        schema[str(name)] = FieldSpec(spec.get("type", "text"), bool(spec.get("multiple", False)))
    return schema


def _parse_item(item: str) -> tuple[str, str]:
    name, _, kind = item.strip().partition(":")
    if not name.strip():
        raise ConfigError(f"empty field name in schema item {item!r}", hint="write name:type, e.g. date:date")
    return name.strip(), kind.strip() or "text"


def schema_to_json(schema: Schema) -> dict[str, Any]:
    return {name: spec.to_json() for name, spec in schema.items()}
