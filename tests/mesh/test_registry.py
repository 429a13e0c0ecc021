"""The registry's CAS updates and watched views, two views over one real store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from modelmesh.mesh.errors import AlreadyExists
from modelmesh.mesh.kv.embedded import EmbeddedStore
from modelmesh.mesh.kv.keys import KeyLayout
from modelmesh.mesh.records import ModelRecord, VModelRecord
from modelmesh.mesh.registry import Registry


@pytest.fixture
async def pair() -> AsyncIterator[tuple[Registry, Registry]]:
    store = await EmbeddedStore.open(None)
    layout = KeyLayout.for_service()
    one, two = Registry(store, layout), Registry(store, layout)
    await one.start()
    await two.start()
    yield one, two
    await one.stop()
    await two.stop()
    await store.close()


async def _eventually(check) -> None:
    for _ in range(100):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_writes_reach_the_other_view_through_the_watch(pair) -> None:
    one, two = pair
    await one.models.update("m", lambda _: ModelRecord("sklearn", "p"))
    await _eventually(lambda: two.models.get("m") == ModelRecord("sklearn", "p"))
    await two.vmodels.update("v", lambda _: VModelRecord("m", "m", "me"))
    await _eventually(lambda: one.vmodels.get("v") is not None)
    await one.models.update("m", lambda _: None)
    await _eventually(lambda: two.models.get("m") is None)


async def test_concurrent_cas_updates_from_two_views_lose_nothing(pair) -> None:
    one, two = pair
    await one.models.update("m", lambda _: ModelRecord("t"))

    def add(instance: str):
        return lambda r: r.with_copy_loading(instance, 1) if r else None

    await asyncio.gather(
        *(
            view.models.update("m", add(f"{name}{i}"))
            for i in range(20)
            for name, view in (("a", one), ("b", two))
        )
    )
    final = await one.models.update("m", lambda r: r)  # no change: no write
    assert final is not None and len(final.instance_ids) == 40
    await _eventually(lambda: len(two.models.get("m").instance_ids) == 40)  # type: ignore[union-attr]


async def test_update_function_errors_abort_without_writing(pair) -> None:
    one, _ = pair
    await one.models.update("m", lambda _: ModelRecord("t"))

    def refuse(current: ModelRecord | None) -> ModelRecord:
        raise AlreadyExists("no")

    with pytest.raises(AlreadyExists):
        await one.models.update("m", refuse)
    assert one.models.get("m") == ModelRecord("t")


def test_record_json_round_trip_uses_upstream_names() -> None:
    record = replace(
        ModelRecord("sklearn", "p", "k", auto_delete=True, last_used=5)
        .with_copy_loading("i1", 1)
        .with_copy_loaded("i1", 2)
        .with_copy_failed("i2", 3, "bad file")
    )
    data = record.to_json()
    for name in (
        b'"type"',
        b'"mPath"',
        b'"encKey"',
        b'"instanceIds"',
        b'"failedIn"',
        b'"autoDel"',
        b'"lu"',
    ):
        assert name in data
    assert ModelRecord.from_json(data) == record
    vm = VModelRecord("a", "b", "owner", failed=True)
    assert VModelRecord.from_json(vm.to_json()) == vm


async def test_view_resyncs_when_its_watch_is_compacted() -> None:
    store = await EmbeddedStore.open(None, history=3)
    layout = KeyLayout.for_service()
    writer, reader = Registry(store, layout), Registry(store, layout)
    await writer.start()
    await reader.start()
    await reader.models.stop()  # the reader falls behind while changes happen
    _, behind = await store.range("")
    await writer.models.update("drop", lambda _: ModelRecord("t"))
    reader_view = reader.models
    reader_view._items["drop"] = (ModelRecord("t"), behind)  # what it saw before falling behind
    await writer.models.update("drop", lambda _: None)
    for i in range(10):
        await writer.models.update(f"m{i}", lambda _: ModelRecord("t"))
    # watching from the old revision is refused (compacted): the view must re-read
    task = asyncio.create_task(reader_view._watch(behind + 1))
    try:
        await _eventually(lambda: reader_view.get("drop") is None and len(reader_view) == 10)
    finally:
        task.cancel()
        await writer.stop()
        await store.close()
