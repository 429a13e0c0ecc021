"""What a registration's model type and model key say about the model, without loading it.

The mesh passes ``ModelInfo.type`` and ``ModelInfo.key`` through unchanged. Upstream's
controller writes types as ``mt:<format>[:<version>][|pv:<protocol>]`` or ``rt:<runtime>``,
and a key as JSON ``{"storage_key", "storage_params", "model_type": {"name", "version"},
"schema_path"}``, to which upstream's puller adds ``disk_size_bytes``.
"""

from __future__ import annotations

import json
from typing import Any


def parse_key(model_key: str) -> dict[str, Any]:
    """The model key's JSON object; {} for an empty key or one that is not a JSON object."""
    try:
        key = json.loads(model_key) if model_key.strip() else {}
    except ValueError:
        return {}
    return key if isinstance(key, dict) else {}


def model_type_name(model_type: str, model_key: str) -> str:
    """The format a model type names, lower case: ``sklearn`` from ``sklearn`` or
    ``mt:sklearn:1|pv:v2``; for ``rt:<runtime>`` and empty types, ``model_type.name`` in the
    model key; "" when neither says."""
    name = model_type.split("|", 1)[0].strip()
    if name.startswith("mt:"):
        name = name[3:].split(":", 1)[0]
    elif not name or name.startswith("rt:"):
        key_type = parse_key(model_key).get("model_type")
        name = str(key_type.get("name") or "") if isinstance(key_type, dict) else ""
    return name.strip().lower()
