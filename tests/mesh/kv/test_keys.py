from __future__ import annotations

import pytest

from modelmesh.mesh.kv import embedded, keys
from modelmesh.mesh.kv.keys import MAX_ID_BYTES, KeyLayout, check_id


def test_exports() -> None:
    assert keys.__all__ == ["MAX_ID_BYTES", "KeyLayout", "check_id"]
    assert embedded.__all__ == ["EmbeddedStore"]


@pytest.mark.parametrize(
    ("kwargs", "root"),
    [
        ({}, "mm/modelmesh-serving/"),
        ({"root_prefix": "tenant-a"}, "tenant-a/mm/modelmesh-serving/"),
        (
            {"root_prefix": "/tenant-a/", "kv_prefix": "tas-runtime", "service_name": "svc"},
            "tenant-a/tas-runtime/svc/",
        ),
    ],
)
def test_root_follows_upstream(kwargs: dict[str, str], root: str) -> None:
    assert KeyLayout.for_service(**kwargs).root == root


def test_keys_and_prefixes() -> None:
    layout = KeyLayout("r/")
    assert layout.registry("m1") == "r/registry/m1"
    assert layout.vmodel("v1") == "r/vmodels/v1"
    assert layout.instance("abc123def456") == "r/instances/abc123def456"
    assert layout.leader_prefix == "r/leaderLatch/"
    for key, prefix in [
        (layout.registry("m1"), layout.registry_prefix),
        (layout.vmodel("v1"), layout.vmodels_prefix),
        (layout.instance("abc123def456"), layout.instances_prefix),
    ]:
        assert key.startswith(prefix)


@pytest.mark.parametrize(
    "model_id", ["isvc__isvc-3d2daa3370", "with/slash", "ünïcödé mödel", "x" * MAX_ID_BYTES]
)
def test_ids_round_trip(model_id: str) -> None:
    layout = KeyLayout.for_service()
    key = layout.registry(model_id)
    assert layout.id_from(key, layout.registry_prefix) == model_id


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("", "empty"),
        ("x" * (MAX_ID_BYTES + 1), "bytes long"),
        ("é" * (MAX_ID_BYTES // 2 + 1), "bytes long"),
        ("line\nbreak", "control"),
        ("del\x7f", "control"),
        ("c1\x85", "control"),
        ("\ud800", "UTF-8"),
    ],
)
def test_bad_ids_are_refused(bad: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_id(bad)
    with pytest.raises(ValueError, match="model id"):
        KeyLayout.for_service().registry(bad)


def test_id_from_refuses_foreign_keys() -> None:
    layout = KeyLayout.for_service()
    with pytest.raises(ValueError, match="not an id under"):
        layout.id_from(layout.vmodel("v"), layout.registry_prefix)
    with pytest.raises(ValueError, match="not an id under"):
        layout.id_from(layout.registry_prefix, layout.registry_prefix)


def test_root_must_end_with_a_slash() -> None:
    with pytest.raises(ValueError, match="must end with"):
        KeyLayout("mm/modelmesh-serving")
