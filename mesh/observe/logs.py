"""Structured log lines: one per model event, and an access line per request on demand.

``LogObserver`` logs each model event on the ``modelmesh.events`` logger with its fields
(``event``, ``model_id``, sizes, times, ``error``) attached to the record; with
``MM_LOG_EACH_INVOKE`` each inference request also gets a line on ``modelmesh.access``.
``configure_logging`` installs the process's handler: plain text, the fields appended as
``key=value``, or one JSON object per line when ``MM_LOG_FORMAT=json``.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

from ..events import MeshObserver
from ..settings import LogSettings

EVENTS_LOGGER = "modelmesh.events"
ACCESS_LOGGER = "modelmesh.access"

# Where a record keeps its structured fields.
_FIELDS = "mm_fields"


class LogObserver(MeshObserver):
    def __init__(self, *, each_invoke: bool = False) -> None:
        self._events = logging.getLogger(EVENTS_LOGGER)
        self._access = logging.getLogger(ACCESS_LOGGER) if each_invoke else None

    def _log(self, level: int, text: str, event: str, **fields: Any) -> None:
        if self._events.isEnabledFor(level):
            self._events.log(level, text, extra={_FIELDS: {"event": event, **fields}})

    def registered(self, model_id: str, model_type: str) -> None:
        self._log(
            logging.INFO,
            f"model registered: {model_id}",
            "registered",
            model_id=model_id,
            model_type=model_type,
        )

    def unregistered(self, model_id: str) -> None:
        self._log(
            logging.INFO, f"model unregistered: {model_id}", "unregistered", model_id=model_id
        )

    def load_started(self, model_id: str, queued_ms: float) -> None:
        self._log(
            logging.INFO,
            f"model loading: {model_id}",
            "loading",
            model_id=model_id,
            queued_ms=round(queued_ms, 3),
        )

    def loaded(self, model_id: str, size_bytes: int, load_ms: float) -> None:
        self._log(
            logging.INFO,
            f"model loaded: {model_id}",
            "loaded",
            model_id=model_id,
            size_bytes=size_bytes,
            load_ms=round(load_ms, 3),
        )

    def load_failed(self, model_id: str, message: str, load_ms: float) -> None:
        self._log(
            logging.WARNING,
            f"model load failed: {model_id}",
            "load_failed",
            model_id=model_id,
            error=message,
            load_ms=round(load_ms, 3),
        )

    def evicted(self, model_id: str, age_ms: float) -> None:
        self._log(
            logging.INFO,
            f"model evicted: {model_id}",
            "evicted",
            model_id=model_id,
            age_ms=round(age_ms),
        )

    def unloaded(self, model_id: str, unload_ms: float, ok: bool) -> None:
        self._log(
            logging.INFO if ok else logging.WARNING,
            f"model unloaded: {model_id}" if ok else f"model unload failed: {model_id}",
            "unloaded",
            model_id=model_id,
            unload_ms=round(unload_ms, 3),
            ok=ok,
        )

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
        if self._access is None or not self._access.isEnabledFor(logging.INFO):
            return
        fields = {
            "event": "invoked",
            "method": method,
            "model_id": model_id,
            "code": code,
            "elapsed_ms": round(elapsed_ms, 3),
            "request_bytes": request_bytes,
            "response_bytes": response_bytes,
            "hit": hit,
        }
        self._access.info(f"{method} {model_id or '-'} {code}", extra={_FIELDS: fields})


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message key=value ...``"""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        fields = getattr(record, _FIELDS, None)
        if not fields:
            return line
        pairs = (f"{key}={_text(value)}" for key, value in fields.items() if key != "event")
        return f"{line} {' '.join(pairs)}"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        doc.update(getattr(record, _FIELDS, None) or {})
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


def configure_logging(settings: LogSettings, stream: IO[str] | None = None) -> None:
    """The process's one log handler, at INFO, in the configured format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.json else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def _text(value: Any) -> str:
    text = str(value)
    # quoted when it would not read back as one token
    return json.dumps(text) if not text or any(c.isspace() or c in '"=' for c in text) else text
