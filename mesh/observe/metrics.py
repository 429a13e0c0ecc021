"""Prometheus metrics under upstream's names and labels, fed by the mesh's events.

``MetricsObserver`` turns the ``MeshObserver`` hooks into histograms and counters in its
own registry; ``bind`` adds the gauges read from the live cache and registry at each
scrape; ``metrics_app`` serves them at ``/metrics`` (port 2112, ``MM_METRICS``).

Names, buckets and labels follow upstream (``Metric.java``, ``Metrics.java``):

    labels method, code      modelmesh_api_request_milliseconds (every external request),
                             modelmesh_invoke_model_milliseconds (served by a copy already
                             loaded here: a cache hit), modelmesh_request_size_bytes,
                             modelmesh_response_size_bytes
    histograms               modelmesh_cache_miss_milliseconds (requests that waited for a
                             load), modelmesh_loadmodel_milliseconds,
                             modelmesh_unloadmodel_milliseconds,
                             modelmesh_loading_queue_delay_milliseconds,
                             modelmesh_loaded_model_size_bytes,
                             modelmesh_age_at_eviction_milliseconds
    counters (+ _total)      modelmesh_loadmodel_failure, modelmesh_unloadmodel_failure,
                             modelmesh_model_evicted
    instance gauges          modelmesh_instance_lru_seconds, _lru_age_seconds,
                             _capacity_bytes, _used_bytes, _used_bps, _models_total
    cluster gauges           modelmesh_models_managed_total, _loaded_total, _with_failure_total

With ``per_model_metrics`` every histogram also carries ``modelId`` and ``vModelId`` (the
hooks know the concrete model only, so ``vModelId`` stays empty), and the gauge
``modelmesh_model_memory_bytes{modelId}`` (ours) gives each loaded copy's size. Cache hits
are ``modelmesh_invoke_model_milliseconds_count``, misses
``modelmesh_cache_miss_milliseconds_count``. Process CPU and memory come from
prometheus-client's process collector (``process_cpu_seconds_total``,
``process_resident_memory_bytes``). Upstream exported the cluster gauges from the leader
only; until leader election exists each instance exports them (aggregate with ``max``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from ..cache import LruCache
from ..events import MeshObserver
from ..registry import Registry
from ..settings import MetricsSettings

# Upstream's buckets.
MS_BUCKETS = (
    *(0.5, 1, 2, 5, 10, 20, 50, 75, 100, 200, 500),
    *(1000, 2000, 5000, 10_000, 20_000, 60_000, 120_000, 300_000),
)
_MINUTE_MS, _DAY_MS = 60_000, 86_400_000
AGE_BUCKETS = tuple(
    float(ms)
    for ms in (
        _MINUTE_MS // 2,
        5 * _MINUTE_MS,
        15 * _MINUTE_MS,
        60 * _MINUTE_MS,
        4 * 60 * _MINUTE_MS,
        12 * 60 * _MINUTE_MS,
        _DAY_MS,
        7 * _DAY_MS,
        30 * _DAY_MS,
        90 * _DAY_MS,
    )
)
MODEL_SIZE_BUCKETS = tuple(256 * 1024 * 4.0**i for i in range(8))
MESSAGE_SIZE_BUCKETS = tuple(128 * 4.0**i for i in range(8))

_PER_MODEL = ("modelId", "vModelId")


class MetricsObserver(MeshObserver):
    def __init__(self, settings: MetricsSettings) -> None:
        self.settings = settings
        self.registry = CollectorRegistry()
        per_model = settings.per_model
        self._per_model = per_model
        request_labels = ("method", "code", *(_PER_MODEL if per_model else ()))
        model_labels = _PER_MODEL if per_model else ()

        def histogram(
            name: str, doc: str, labels: Sequence[str], buckets: Sequence[float] = MS_BUCKETS
        ) -> Histogram:
            return Histogram(name, doc, labels, registry=self.registry, buckets=buckets)

        self.api_request = histogram(
            "modelmesh_api_request_milliseconds", "External request time", request_labels
        )
        self.invoke_model = histogram(
            "modelmesh_invoke_model_milliseconds",
            "Inference request time on a copy already loaded here (a cache hit)",
            request_labels,
        )
        self.request_size = histogram(
            "modelmesh_request_size_bytes",
            "Inference request size",
            request_labels,
            MESSAGE_SIZE_BUCKETS,
        )
        self.response_size = histogram(
            "modelmesh_response_size_bytes",
            "Inference response size",
            request_labels,
            MESSAGE_SIZE_BUCKETS,
        )
        self.cache_miss = histogram(
            "modelmesh_cache_miss_milliseconds",
            "Time of inference requests that waited for a load (cache misses)",
            model_labels,
        )
        self.load_time = histogram(
            "modelmesh_loadmodel_milliseconds", "Time taken to load model", model_labels
        )
        self.load_queue = histogram(
            "modelmesh_loading_queue_delay_milliseconds",
            "Time spent in model loading queue",
            model_labels,
        )
        self.unload_time = histogram(
            "modelmesh_unloadmodel_milliseconds", "Time taken to unload model", model_labels
        )
        self.eviction_age = histogram(
            "modelmesh_age_at_eviction_milliseconds",
            "Time since model was last used when evicted",
            model_labels,
            AGE_BUCKETS,
        )
        self.model_size = histogram(
            "modelmesh_loaded_model_size_bytes",
            "Reported size of loaded model",
            model_labels,
            MODEL_SIZE_BUCKETS,
        )
        self.load_failures = Counter(
            "modelmesh_loadmodel_failure", "Model load failures", registry=self.registry
        )
        self.unload_failures = Counter(
            "modelmesh_unloadmodel_failure",
            "Unload model failures (not counting multiple attempts for same copy)",
            registry=self.registry,
        )
        self.evictions = Counter(
            "modelmesh_model_evicted", "Count of model copy evictions", registry=self.registry
        )
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)

    def bind(self, *, cache: LruCache, registry: Registry, failure_expiry_ms: int) -> None:
        """Export the gauges of this instance's cache and of the model registry."""
        self.registry.register(
            _LiveGauges(cache, registry, failure_expiry_ms, per_model=self._per_model)
        )

    # -- labels -------------------------------------------------------------------

    def _method(self, method: str) -> str:
        name = method.lstrip("/")
        return name if self.settings.fq_names else name.rpartition("/")[2]

    def _request_labels(self, method: str, code: str, model_id: str) -> tuple[str, ...]:
        labels = (self._method(method), code)
        return (*labels, model_id, "") if self._per_model else labels

    def _model_labels(self, model_id: str) -> tuple[str, ...]:
        return (model_id, "") if self._per_model else ()

    @staticmethod
    def _observe(metric: Histogram, labels: tuple[str, ...], value: float) -> None:
        (metric.labels(*labels) if labels else metric).observe(value)

    # -- hooks ----------------------------------------------------------------------

    def load_started(self, model_id: str, queued_ms: float) -> None:
        self._observe(self.load_queue, self._model_labels(model_id), queued_ms)

    def loaded(self, model_id: str, size_bytes: int, load_ms: float) -> None:
        labels = self._model_labels(model_id)
        self._observe(self.load_time, labels, load_ms)
        self._observe(self.model_size, labels, size_bytes)

    def load_failed(self, model_id: str, message: str, load_ms: float) -> None:
        self.load_failures.inc()

    def evicted(self, model_id: str, age_ms: float) -> None:
        self.evictions.inc()
        self._observe(self.eviction_age, self._model_labels(model_id), age_ms)

    def unloaded(self, model_id: str, unload_ms: float, ok: bool) -> None:
        if ok:
            self._observe(self.unload_time, self._model_labels(model_id), unload_ms)
        else:
            self.unload_failures.inc()

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
        labels = self._request_labels(method, code, model_id)
        self.api_request.labels(*labels).observe(elapsed_ms)
        self.request_size.labels(*labels).observe(request_bytes)
        self.response_size.labels(*labels).observe(response_bytes)
        if hit:
            self.invoke_model.labels(*labels).observe(elapsed_ms)
        elif model_id and code != "NOT_FOUND":
            # a registered model that was not loaded here: the request waited for its load
            self._observe(self.cache_miss, self._model_labels(model_id), elapsed_ms)

    def api_called(self, method: str, code: str, elapsed_ms: float) -> None:
        self.api_request.labels(*self._request_labels(method, code, "")).observe(elapsed_ms)


class _LiveGauges(Collector):
    """Gauges computed at scrape time, so they are never stale (the LRU age keeps growing
    between events, and the LRU time moves on every hit)."""

    def __init__(
        self, cache: LruCache, registry: Registry, failure_expiry_ms: int, *, per_model: bool
    ) -> None:
        self._cache = cache
        self._registry = registry
        self._failure_expiry_ms = failure_expiry_ms
        self._per_model = per_model

    def collect(self) -> Iterable[Metric]:
        cache = self._cache
        now_ms = time.time_ns() // 1_000_000
        lru = cache.oldest_last_used()
        bps = cache.used * 10_000 // cache.capacity if cache.capacity else 0

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, value=value)

        yield gauge(
            "modelmesh_instance_lru_seconds",
            "Last used time of least recently used model in pod (in secs since epoch)",
            lru // 1000 if lru else 0,
        )
        yield gauge(
            "modelmesh_instance_lru_age_seconds",
            "Last used age of least recently used model in pod (secs ago)",
            (now_ms - lru) // 1000 if lru else 0,
        )
        yield gauge(
            "modelmesh_instance_capacity_bytes",
            "Effective model capacity of pod excluding unload buffer",
            cache.capacity,
        )
        yield gauge(
            "modelmesh_instance_used_bytes",
            "Amount of capacity currently in use by loaded models",
            cache.used,
        )
        yield gauge(
            "modelmesh_instance_used_bps",
            "Amount of capacity used in basis points (100ths of percent)",
            bps,
        )
        yield gauge(
            "modelmesh_instance_models_total", "Number of model copies loaded in pod", len(cache)
        )
        yield from self._cluster(now_ms)
        if self._per_model:
            memory = GaugeMetricFamily(
                "modelmesh_model_memory_bytes",
                "Size of each model copy loaded here (what it holds in memory)",
                labels=["modelId"],
            )
            for entry in cache.entries():
                if not entry.pinned:  # pinned: still loading, its size an estimate
                    memory.add_metric([entry.model_id], entry.size)
            yield memory

    def _cluster(self, now_ms: int) -> Iterable[Metric]:
        models = self._registry.models
        managed = loaded = failing = 0
        for model_id in models.ids():
            record = models.get(model_id)
            if record is None:
                continue
            managed += 1
            loaded += bool(record.loaded_in)
            failing += bool(record.recent_failures(now_ms, self._failure_expiry_ms))
        yield GaugeMetricFamily(
            "modelmesh_models_managed_total", "Total number of models managed", value=managed
        )
        yield GaugeMetricFamily(
            "modelmesh_models_loaded_total",
            "Total number of models with at least one loaded copy",
            value=loaded,
        )
        yield GaugeMetricFamily(
            "modelmesh_models_with_failure_total",
            "Total number of models with one or more recent load failures",
            value=failing,
        )


def metrics_app(metrics: MetricsObserver) -> web.Application:
    """``/metrics`` in the Prometheus text format (or OpenMetrics, when asked for)."""

    async def scrape(request: web.Request) -> web.Response:
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encode(metrics.registry), headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    return app
