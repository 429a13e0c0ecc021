"""The mesh as an application sees it: a Kubernetes Service in front of the instances and
a client that retries UNAVAILABLE.

``MeshClient`` sends each call to the next endpoint in turn (round robin over what
``endpoints()`` returns at that moment, so instances may come and go). A call that ends
UNAVAILABLE (the instance is gone or leaving, or the mesh asks to retry) goes to the next
endpoint after a short pause, a bounded number of times; any other status is the answer.
``Traffic`` sends ModelInfer requests at a steady rate over a list of models and records
the outcome of every one.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import numpy as np

from modelmesh.protos import grpc_predict_v2_pb2 as v2
from modelmesh.protos import model_mesh_pb2 as pb
from modelmesh.runtimes.tensors import build_infer_request
from tests.e2e.processes import FAST_RECONNECT
from tests.support.models import digits

R = TypeVar("R")

INFER = "/inference.GRPCInferenceService/ModelInfer"
REGISTER = "/mmesh.ModelMesh/registerModel"
STATUS = "/mmesh.ModelMesh/getModelStatus"


@dataclass(frozen=True)
class Outcome:
    """One request as the client saw it, retries included."""

    started: float  # time.monotonic()
    model_id: str
    code: str  # "OK" or the final status code's name
    details: str
    latency_s: float
    attempts: int
    address: str  # the endpoint that gave the final answer

    @property
    def ok(self) -> bool:
        return self.code == "OK"


class CallError(Exception):
    """A call that failed after its retries; carries the final status."""

    def __init__(self, code: grpc.StatusCode, details: str, attempts: int, address: str) -> None:
        super().__init__(f"{code.name} after {attempts} attempt(s) (last on {address}): {details}")
        self.code = code
        self.details = details
        self.attempts = attempts
        self.address = address


class MeshClient:
    def __init__(
        self,
        endpoints: Callable[[], Sequence[str]],
        *,
        attempts: int = 8,
        pause_s: float = 0.1,
        timeout_s: float = 20.0,
    ) -> None:
        self._endpoints = endpoints
        self._attempts = attempts
        self._pause_s = pause_s
        self._timeout_s = timeout_s
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._turn = 0
        self._row = np.asarray(digits()[0][:1])

    def _next(self) -> str:
        endpoints = self._endpoints()
        if not endpoints:
            raise CallError(grpc.StatusCode.UNAVAILABLE, "no endpoints", 0, "")
        self._turn += 1
        return endpoints[self._turn % len(endpoints)]

    def _channel(self, address: str) -> grpc.aio.Channel:
        channel = self._channels.get(address)
        if channel is None:
            channel = grpc.aio.insecure_channel(address, options=FAST_RECONNECT)
            self._channels[address] = channel
        return channel

    async def call(
        self, method: str, request: Any, reply_type: type[R], *, only: str = ""
    ) -> tuple[R, int, str]:
        """The reply, the attempts it took and the endpoint that answered. ``only``: this
        instance's address, tried once (not through the Service)."""
        payload = request.SerializeToString()
        attempts = 1 if only else self._attempts
        for attempt in range(1, attempts + 1):
            address = only or self._next()
            call = self._channel(address).unary_unary(method)
            try:
                raw = await call(payload, timeout=self._timeout_s)
            except grpc.aio.AioRpcError as exc:
                retry = exc.code() == grpc.StatusCode.UNAVAILABLE and attempt < attempts
                if not retry:
                    raise CallError(exc.code(), exc.details() or "", attempt, address) from None
                await asyncio.sleep(self._pause_s * attempt)
                continue
            return reply_type.FromString(raw), attempt, address  # type: ignore[attr-defined]
        raise AssertionError("unreachable: the last attempt returns or raises")

    def infer_request(self, model_id: str) -> v2.ModelInferRequest:
        return build_infer_request(model_id, {"x": self._row})

    async def infer(self, model_id: str) -> v2.ModelInferResponse:
        reply, _, _ = await self.call(INFER, self.infer_request(model_id), v2.ModelInferResponse)
        return reply

    async def register(
        self,
        model_id: str,
        path: str,
        *,
        model_type: str = "sklearn",
        load_now: bool = False,
        sync: bool = False,
    ) -> pb.ModelStatusInfo:
        request = pb.RegisterModelRequest(
            modelId=model_id,
            modelInfo=pb.ModelInfo(type=model_type, path=path),
            loadNow=load_now,
            sync=sync,
        )
        reply, _, _ = await self.call(REGISTER, request, pb.ModelStatusInfo)
        return reply

    async def status(self, model_id: str, *, only: str = "") -> pb.ModelStatusInfo:
        request = pb.GetStatusRequest(modelId=model_id)
        reply, _, _ = await self.call(STATUS, request, pb.ModelStatusInfo, only=only)
        return reply

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()


class Traffic:
    """ModelInfer requests at ``rate_per_s`` over ``models`` in turn (``self.models``, a
    copy the caller may extend), at most ``max_in_flight`` at once, until ``stop``."""

    def __init__(
        self,
        client: MeshClient,
        models: Sequence[str],
        *,
        rate_per_s: float = 100.0,
        max_in_flight: int = 32,
    ) -> None:
        self.client = client
        self.models = list(models)
        self.rate_per_s = rate_per_s
        self.outcomes: list[Outcome] = []
        self._slots = asyncio.Semaphore(max_in_flight)
        self._requests: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None

    def start(self) -> Traffic:
        self._loop_task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> list[Outcome]:
        """Stop sending, wait for the requests in flight; every outcome."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        await asyncio.gather(*self._requests)
        return self.outcomes

    async def _run(self) -> None:
        interval = 1.0 / self.rate_per_s
        next_at = time.monotonic()
        turn = 0
        while True:
            await self._slots.acquire()
            model_id = self.models[turn % len(self.models)]
            turn += 1
            task = asyncio.create_task(self._one(model_id))
            self._requests.add(task)
            task.add_done_callback(self._requests.discard)
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def _one(self, model_id: str) -> None:
        started = time.monotonic()
        try:
            _, attempts, address = await self.client.call(
                INFER, self.client.infer_request(model_id), v2.ModelInferResponse
            )
            code, details = "OK", ""
        except CallError as exc:
            code, details, attempts, address = exc.code.name, exc.details, exc.attempts, exc.address
        except Exception as exc:  # a client-side bug must show up, not vanish with the task
            code, details, attempts, address = "CLIENT_ERROR", repr(exc), 0, ""
        finally:
            self._slots.release()
        self.outcomes.append(
            Outcome(started, model_id, code, details, time.monotonic() - started, attempts, address)
        )

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def served_after(self, since: float) -> set[str]:
        """Models with a successful request sent at or after ``since`` (monotonic)."""
        return {o.model_id for o in self.outcomes if o.ok and o.started >= since}


def summarize(outcomes: Sequence[Outcome], limit: int = 8) -> str:
    """The failures, grouped by status and message, for an assertion message."""
    failed = Counter((o.code, o.details[:160]) for o in outcomes if not o.ok)
    retried = sum(1 for o in outcomes if o.attempts > 1)
    lines = [f"{len(outcomes)} requests, {sum(failed.values())} failed, {retried} retried"]
    lines += [f"  {n} x {code}: {details}" for (code, details), n in failed.most_common(limit)]
    return "\n".join(lines)
