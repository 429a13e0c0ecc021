"""What happens in the mesh, told to observers (metrics, logs) without the mesh knowing them.

``loading.py``, ``forwarding.py`` and the API call these hooks; ``MeshObserver`` does
nothing, so a subclass overrides only what it needs. ``Observers`` fans out to several.
Hooks run on the event loop in the request path: they must be cheap and never raise.
"""

from __future__ import annotations

from collections.abc import Sequence


class MeshObserver:
    def registered(self, model_id: str, model_type: str) -> None:
        """A model was registered."""

    def unregistered(self, model_id: str) -> None:
        """A model was unregistered."""

    def load_started(self, model_id: str, queued_ms: float) -> None:
        """A load got its slot after waiting ``queued_ms`` for one."""

    def loaded(self, model_id: str, size_bytes: int, load_ms: float) -> None:
        """A copy finished loading here."""

    def load_failed(self, model_id: str, message: str, load_ms: float) -> None:
        """A load here failed (not counted: refusals for lack of room or eligibility)."""

    def evicted(self, model_id: str, age_ms: float) -> None:
        """A copy was evicted to make room; ``age_ms`` since it was last used."""

    def unloaded(self, model_id: str, unload_ms: float, ok: bool) -> None:
        """The runtime finished (or gave up) unloading a copy."""

    def invoked(
        self,
        method: str,
        model_id: str,
        code: str,
        elapsed_ms: float,
        request_bytes: int,
        response_bytes: int,
        hit: bool,
    ) -> None:
        """An inference request ended; ``hit`` when the model was already loaded here.
        ``code`` is the gRPC status name ("OK", "NOT_FOUND", ...)."""

    def api_called(self, method: str, code: str, elapsed_ms: float) -> None:
        """A ModelMesh management call ended."""

    def cache_changed(self, capacity: int, used: int, models: int, lru_time_ms: int) -> None:
        """The local cache's totals changed."""


class Observers(MeshObserver):
    """Calls every observer in turn."""

    def __init__(self, observers: Sequence[MeshObserver]) -> None:
        self._all = tuple(observers)

    def registered(self, model_id: str, model_type: str) -> None:
        for o in self._all:
            o.registered(model_id, model_type)

    def unregistered(self, model_id: str) -> None:
        for o in self._all:
            o.unregistered(model_id)

    def load_started(self, model_id: str, queued_ms: float) -> None:
        for o in self._all:
            o.load_started(model_id, queued_ms)

    def loaded(self, model_id: str, size_bytes: int, load_ms: float) -> None:
        for o in self._all:
            o.loaded(model_id, size_bytes, load_ms)

    def load_failed(self, model_id: str, message: str, load_ms: float) -> None:
        for o in self._all:
            o.load_failed(model_id, message, load_ms)

    def evicted(self, model_id: str, age_ms: float) -> None:
        for o in self._all:
            o.evicted(model_id, age_ms)

    def unloaded(self, model_id: str, unload_ms: float, ok: bool) -> None:
        for o in self._all:
            o.unloaded(model_id, unload_ms, ok)

    def invoked(
        self,
        method: str,
        model_id: str,
        code: str,
        elapsed_ms: float,
        request_bytes: int,
        response_bytes: int,
        hit: bool,
    ) -> None:
        for o in self._all:
            o.invoked(method, model_id, code, elapsed_ms, request_bytes, response_bytes, hit)

    def api_called(self, method: str, code: str, elapsed_ms: float) -> None:
        for o in self._all:
            o.api_called(method, code, elapsed_ms)

    def cache_changed(self, capacity: int, used: int, models: int, lru_time_ms: int) -> None:
        for o in self._all:
            o.cache_changed(capacity, used, models, lru_time_ms)
