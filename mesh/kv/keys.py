"""Where the mesh's records live in the KV store: the one place that builds and parses keys.

The layout follows upstream ModelMesh (UPSTREAM.md §2.1), under one root::

    <root_prefix>/<kv_prefix>/<service_name>/registry/<modelId>      model records (JSON)
                                            /vmodels/<vModelId>      vmodel records (JSON)
                                            /instances/<instanceId>  instance records, lease-bound
                                            /leaderLatch/...         leader election

Keys are flat: an id is whatever follows its prefix, so ids are never split on "/".
Rules for ids (upstream has none written down; these keep keys printable and bounded):
non-empty, at most ``MAX_ID_BYTES`` bytes of UTF-8, no control characters. "/" and other
punctuation are allowed, since concrete model ids are user-chosen names.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

__all__ = ["MAX_ID_BYTES", "KeyLayout", "check_id"]

# Far above real ids (upstream concrete ids are ~60 characters) and far below etcd's
# 1.5 MiB request limit.
MAX_ID_BYTES = 1024


def check_id(id_: str, kind: str = "id") -> str:
    """``id_`` unchanged if it is a valid model, vmodel or instance id; ValueError otherwise."""
    if not id_:
        raise ValueError(f"{kind} must not be empty")
    try:
        size = len(id_.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise ValueError(f"{kind} {id_!r} is not valid UTF-8") from exc
    if size > MAX_ID_BYTES:
        raise ValueError(f"{kind} is {size} bytes long, more than the {MAX_ID_BYTES} allowed")
    if any(unicodedata.category(c) == "Cc" for c in id_):
        raise ValueError(f"{kind} {id_!r} contains control characters")
    return id_


@dataclass(frozen=True, slots=True)
class KeyLayout:
    """The keys of one mesh, all under ``root`` (which ends with "/")."""

    root: str

    def __post_init__(self) -> None:
        if not self.root.endswith("/"):
            raise ValueError(f"key root {self.root!r} must end with '/'")

    @classmethod
    def for_service(
        cls,
        *,
        root_prefix: str = "",
        kv_prefix: str = "mm",
        service_name: str = "modelmesh-serving",
    ) -> KeyLayout:
        """Upstream's root: etcd's ``root_prefix`` (may be empty), ``MM_KVSTORE_PREFIX``,
        ``MM_SERVICE_NAME``, joined by "/"."""
        parts = (p.strip("/") for p in (root_prefix, kv_prefix, service_name))
        return cls("/".join(p for p in parts if p) + "/")

    @property
    def registry_prefix(self) -> str:
        return f"{self.root}registry/"

    @property
    def vmodels_prefix(self) -> str:
        return f"{self.root}vmodels/"

    @property
    def instances_prefix(self) -> str:
        return f"{self.root}instances/"

    def config(self, name: str) -> str:
        """Mesh-wide settings kept in the store (upstream's ``config/``)."""
        return f"{self.root}config/{name}"

    @property
    def leader_prefix(self) -> str:
        return f"{self.root}leaderLatch/"

    def registry(self, model_id: str) -> str:
        return self.registry_prefix + check_id(model_id, "model id")

    def vmodel(self, vmodel_id: str) -> str:
        return self.vmodels_prefix + check_id(vmodel_id, "vmodel id")

    def instance(self, instance_id: str) -> str:
        return self.instances_prefix + check_id(instance_id, "instance id")

    @staticmethod
    def id_from(key: str, prefix: str) -> str:
        """The id in ``key``, one of the prefixes above followed by an id."""
        if not key.startswith(prefix) or len(key) == len(prefix):
            raise ValueError(f"key {key!r} is not an id under {prefix!r}")
        return key[len(prefix) :]
