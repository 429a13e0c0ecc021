"""One pass over one resource: fetch, plan, apply, report.

``Handler.handle`` is what ``watching.WorkQueue`` runs for a key. It reads the object
from the watch cache and turns it into what it wants (``sources.py`` parses the spec,
``runtimes.py`` checks a runtime serves it), reads the vmodel from the mesh, lets
``reconcile.plan`` decide the steps, performs them (mesh calls through ``apply.py``,
finalizer patches through ``kube.py``), and writes the status ``status.py`` renders,
only when it changed. The return value tells the queue when to look again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ..protos import model_mesh_pb2 as pb
from . import status as st
from .apply import MeshCallError, MeshClients, MeshUnreachable
from .kube import (
    CLUSTER_SERVING_RUNTIMES,
    INFERENCE_SERVICES,
    PREDICTORS,
    SERVING_RUNTIMES,
    Conflict,
    Kind,
    Kube,
)
from .reconcile import (
    AddFinalizer,
    DeleteVModel,
    Hold,
    Remove,
    Serve,
    SetVModel,
    Wanted,
    plan,
)
from .runtimes import NoRuntime, parse_runtime, select_runtime
from .sources import (
    ISVC_SOURCE,
    PREDICTOR_SOURCE,
    InvalidSpec,
    from_inference_service,
    from_predictor,
    is_modelmesh,
)
from .watching import Cache, Key, key_of

log = logging.getLogger(__name__)

# Our finalizer: a deleted resource waits until its vmodel is gone from the mesh.
FINALIZER = "modelmesh.serving.kserve.io/vmodel"

# How soon to look again (upstream: 1 s while loading, 3 s while waiting for a runtime).
POLL_LOADING_S = 1.0
POLL_UNAVAILABLE_S = 3.0
POLL_CONFLICT_S = 0.5
# how long a requested load may take to show in the status before we stop polling for it
LOAD_WATCH_S = 30.0

_SOURCE_IDS = {INFERENCE_SERVICES: ISVC_SOURCE, PREDICTORS: PREDICTOR_SOURCE}


class Handler:
    def __init__(
        self,
        *,
        kube: Kube,
        meshes: MeshClients,
        cache: Cache,
        endpoints: Callable[[str], st.Endpoints],
        serves_namespace: Callable[[str], bool],
    ) -> None:
        self.kube = kube
        self.meshes = meshes
        self.cache = cache
        self.endpoints = endpoints
        self.serves_namespace = serves_namespace
        # keys whose model we asked to load, until when we poll for the load to show
        self._loads: dict[Key, float] = {}

    async def handle(self, key: Key) -> float | None:
        kind, namespace, name = key
        if kind not in _SOURCE_IDS or not self.serves_namespace(namespace):
            return None
        obj = self.cache.get(key)
        wanted = self._wanted(kind, namespace, name, obj)
        if wanted is None:
            return None  # an InferenceService for KServe itself, never ours
        mesh = self.meshes.for_namespace(namespace)
        vmodel_id, owner = name, _SOURCE_IDS[kind]
        failure: st.Failure | None = wanted.failure if isinstance(wanted, Hold) else None
        try:
            actual = await mesh.vmodel_status(vmodel_id, owner)
            has_finalizer = obj is not None and FINALIZER in _finalizers(obj)
            for step in plan(wanted, actual, has_finalizer=has_finalizer):
                if isinstance(step, SetVModel):
                    actual = await mesh.set_vmodel(step)
                    self._loads[key] = asyncio.get_running_loop().time() + LOAD_WATCH_S
                elif isinstance(step, DeleteVModel):
                    await mesh.delete_vmodel(step)
                    actual = pb.VModelStatusInfo()
                elif obj is not None:
                    obj = await self._set_finalizer(kind, obj, add=isinstance(step, AddFinalizer))
        except Conflict as exc:
            log.info(
                "%s %s/%s changed meanwhile, looking again: %s", kind.kind, namespace, name, exc
            )
            return POLL_CONFLICT_S
        except MeshCallError as exc:
            if isinstance(wanted, Remove):
                log.warning("cannot unregister %s/%s yet: %s", namespace, name, exc)
                return POLL_UNAVAILABLE_S
            log.warning("%s %s/%s: %s", kind.kind, namespace, name, exc)
            actual = pb.VModelStatusInfo()
            reason = st.RUNTIME_UNHEALTHY if isinstance(exc, MeshUnreachable) else None
            failure = st.Failure(reason or st.INVALID_PREDICTOR_SPEC, str(exc))
        if isinstance(wanted, Remove) or obj is None:
            self._loads.pop(key, None)
            return None
        state = await self._report(kind, obj, actual, failure)
        if state.waiting_for_runtime:
            return POLL_UNAVAILABLE_S
        return POLL_LOADING_S if state.settling or self._load_pending(key, state) else None

    def _load_pending(self, key: Key, state: st.PredictorState) -> bool:
        """Did we ask for a load the status does not show yet? (Standby right after
        setVModel: the mesh may not have started it; nothing else will wake us.)"""
        deadline = self._loads.get(key)
        if deadline is None:
            return False
        if state.active == st.STANDBY and asyncio.get_running_loop().time() < deadline:
            return True
        del self._loads[key]
        return False

    def _wanted(
        self, kind: Kind, namespace: str, name: str, obj: dict[str, Any] | None
    ) -> Wanted | None:
        """What the resource asks for; None for objects this controller must not touch."""
        owner = _SOURCE_IDS[kind]
        if obj is None or (obj.get("metadata") or {}).get("deletionTimestamp"):
            return Remove(name, owner)
        if kind == INFERENCE_SERVICES and not is_modelmesh(obj):
            # left ModelMesh mode (or never in it): unregister whatever we registered
            return Remove(name, owner) if FINALIZER in _finalizers(obj) else None
        try:
            source = (
                from_inference_service(obj) if kind == INFERENCE_SERVICES else from_predictor(obj)
            )
        except InvalidSpec as exc:
            return Hold(st.Failure(st.INVALID_PREDICTOR_SPEC, str(exc)))
        choice = select_runtime(
            source,
            [
                parse_runtime(rt, cluster=False)
                for rt in self.cache.objects(SERVING_RUNTIMES, namespace)
            ],
            [
                parse_runtime(rt, cluster=True)
                for rt in self.cache.objects(CLUSTER_SERVING_RUNTIMES)
            ],
        )
        if isinstance(choice, NoRuntime):
            return Hold(st.Failure(choice.reason, choice.message, source.model_id))
        return Serve(source)

    async def _set_finalizer(self, kind: Kind, obj: dict[str, Any], *, add: bool) -> dict[str, Any]:
        current = _finalizers(obj)
        wanted = [*current, FINALIZER] if add else [f for f in current if f != FINALIZER]
        updated = await self.kube.patch_finalizers(kind, obj, wanted)
        self.cache.put(key_of(kind, obj), updated)
        return updated

    async def _report(
        self,
        kind: Kind,
        obj: dict[str, Any],
        actual: pb.VModelStatusInfo,
        failure: st.Failure | None,
    ) -> st.PredictorState:
        meta = obj.get("metadata") or {}
        namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        current = obj.get("status") or {}
        state = st.observe(actual, failure=failure, previous=st.previous_failure(current))
        endpoints = self.endpoints(namespace)
        if kind == INFERENCE_SERVICES:
            wanted = st.inference_service_status(state, endpoints, current)
        else:
            wanted = st.predictor_status(state, endpoints)
        patch = st.status_patch(wanted, current)
        if patch is not None:
            updated = await self.kube.patch_status(kind, namespace, name, patch)
            self.cache.put(key_of(kind, obj), updated)
            log.info(
                "%s %s/%s: %s, active %s%s",
                kind.kind,
                namespace,
                name,
                state.transition,
                state.active,
                f", target {state.target}" if state.target else "",
            )
        return state


def _finalizers(obj: dict[str, Any]) -> list[str]:
    return list((obj.get("metadata") or {}).get("finalizers") or [])
