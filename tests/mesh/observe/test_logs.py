"""Structured log lines: every model event of a real mesh as one parsable JSON line."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from modelmesh.mesh.observe.logs import (
    ACCESS_LOGGER,
    EVENTS_LOGGER,
    JsonFormatter,
    LogObserver,
    TextFormatter,
    configure_logging,
)
from modelmesh.mesh.settings import LogSettings
from modelmesh.protos import model_mesh_pb2 as pb
from modelmesh.runtimes.tensors import build_infer_request
from tests.mesh.conftest import Clients, StartMesh
from tests.support.models import digits


class Lines:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def parsed(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]


@pytest.fixture
def json_lines() -> Iterator[Lines]:
    """What the events and access loggers write, formatted as MM_LOG_FORMAT=json does."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    loggers = [logging.getLogger(name) for name in (EVENTS_LOGGER, ACCESS_LOGGER)]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    yield Lines(stream)
    for logger in loggers:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)


async def _infer(c: Clients, name: str) -> grpc.StatusCode:
    try:
        await c.v2.ModelInfer(build_infer_request(name, {"x": np.asarray(digits()[0][:1])}))
    except grpc.aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK


async def test_each_model_event_is_one_json_line(
    start: StartMesh, clients, mesh_models: Path, model_size: int, json_lines: Lines
) -> None:
    app = await start(
        CONTAINER_MEM_REQ_BYTES=str(int(model_size * 1.5)),  # room for one copy
        MM_LOG_EACH_INVOKE="true",
    )
    c = clients(app)
    (mesh_models / "broken").mkdir()
    (mesh_models / "broken" / "model.joblib").write_bytes(b"not a model")
    for model_id, path in (("a", "sklearn"), ("b", "sklearn"), ("broken", "broken")):
        await c.mesh.registerModel(
            pb.RegisterModelRequest(
                modelId=model_id, modelInfo=pb.ModelInfo(type="sklearn", path=path)
            )
        )
    codes = [await _infer(c, name) for name in ("broken", "a", "b")]  # b evicts a
    await c.mesh.unregisterModel(pb.UnregisterModelRequest(modelId="b"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # a's unload runs in the background
        if any(d.get("event") == "unloaded" and d["model_id"] == "a" for d in json_lines.parsed()):
            break
        await asyncio.sleep(0.05)

    lines = json_lines.parsed()
    assert all({"time", "level", "logger", "message", "event"} <= set(d) for d in lines)

    def events(model_id: str) -> list[str]:
        return [
            d["event"]
            for d in lines
            if d["logger"] == EVENTS_LOGGER and d.get("model_id") == model_id
        ]

    assert events("a") == ["registered", "loading", "loaded", "evicted", "unloaded"]
    assert events("b") == ["registered", "loading", "loaded", "unregistered", "unloaded"]
    assert events("broken") == ["registered", "loading", "load_failed"]
    by_event = {(d["event"], d.get("model_id")): d for d in lines}
    assert by_event[("registered", "a")]["model_type"] == "sklearn"
    loaded = by_event[("loaded", "a")]
    assert loaded["size_bytes"] == model_size and loaded["load_ms"] > 0
    assert loaded["level"] == "INFO" and loaded["message"] == "model loaded: a"
    failed = by_event[("load_failed", "broken")]
    assert failed["level"] == "WARNING" and "model.joblib" in failed["error"]
    assert failed["message"] == "model load failed: broken"
    assert isinstance(by_event[("evicted", "a")]["age_ms"], int)
    assert by_event[("unloaded", "a")]["ok"] is True

    access = [d for d in lines if d["logger"] == ACCESS_LOGGER]
    assert [(d["model_id"], d["code"], d["hit"]) for d in access] == [
        ("broken", codes[0].name, False),
        ("a", "OK", False),
        ("b", "OK", False),
    ]
    assert all(d["method"] == "/inference.GRPCInferenceService/ModelInfer" for d in access)
    assert all(d["request_bytes"] > 0 and d["elapsed_ms"] > 0 for d in access)


def _record_of(observer_call: Any, formatter: logging.Formatter, *, each_invoke: bool) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    loggers = [logging.getLogger(name) for name in (EVENTS_LOGGER, ACCESS_LOGGER)]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        observer_call(LogObserver(each_invoke=each_invoke))
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
            logger.setLevel(logging.NOTSET)
    return stream.getvalue()


def test_text_format_appends_the_fields() -> None:
    text = _record_of(
        lambda o: o.load_failed("m 1", "bad file: x=1", 12.5), TextFormatter(), each_invoke=False
    )
    assert text.rstrip().endswith(
        'WARNING modelmesh.events: model load failed: m 1 model_id="m 1" '
        'error="bad file: x=1" load_ms=12.5'
    )


def test_access_lines_only_with_each_invoke() -> None:
    def call(o: LogObserver) -> None:
        o.invoked("/inference.GRPCInferenceService/ModelInfer", "m", "OK", 1.5, 10, 20, True)

    assert _record_of(call, JsonFormatter(), each_invoke=False) == ""
    (line,) = _record_of(call, JsonFormatter(), each_invoke=True).splitlines()
    assert json.loads(line)["hit"] is True


def test_configure_logging_json_covers_every_logger() -> None:
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    stream = io.StringIO()
    try:
        configure_logging(LogSettings(json=True), stream)
        logging.getLogger("modelmesh.mesh.somewhere").warning("plain %s", "record")
    finally:
        root.handlers[:] = saved
        root.setLevel(level)
    doc = json.loads(stream.getvalue())
    assert (doc["level"], doc["logger"], doc["message"]) == (
        "WARNING",
        "modelmesh.mesh.somewhere",
        "plain record",
    )
