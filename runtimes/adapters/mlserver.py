"""MLServer (Seldon) through its V2 repository API, as upstream's MLServer adapter drives it.

MLServer finds a model by the ``name`` in a ``model-settings.json`` under its repository
root (``SERVER_REPOSITORY_DIR``; start it with ``load_models_at_startup: false``). For each
load the adapter writes ``<repository>/<model id>/model-settings.json`` and calls
``POST /v2/repository/models/<id>/load``:

- a model directory holding its own ``model-settings.json``: that file, with ``name`` set to
  the model id and a relative ``parameters.uri`` made absolute inside the model directory
  (no ``uri``: the model directory, where MLServer looks for its well-known file names);
- otherwise a generated one: ``name``, the ``implementation`` for the model type
  (``IMPLEMENTATIONS``) and ``parameters.uri`` = the model's path.

Unload is ``POST .../unload`` and removes the file. Inference goes straight from the mesh
to MLServer's V2 gRPC, the model id written into ``model_name``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelmesh.runtimes.adapters.base import ModelFiles
from modelmesh.runtimes.adapters.v2_repository import V2RepositoryAdapter
from modelmesh.runtimes.python.errors import InvalidRequest

SETTINGS_FILE = "model-settings.json"

# model type -> MLServer runtime class (each from its own mlserver-<name> package)
IMPLEMENTATIONS = {
    "sklearn": "mlserver_sklearn.SKLearnModel",
    "xgboost": "mlserver_xgboost.XGBoostModel",
    "lightgbm": "mlserver_lightgbm.LightGBMModel",
    "mllib": "mlserver_mllib.MLlibModel",
}


def model_settings(model: ModelFiles) -> dict[str, Any]:
    """The ``model-settings.json`` content that makes MLServer load ``model``."""
    own = model.path / SETTINGS_FILE if model.path.is_dir() else None
    if own is not None and own.is_file():
        try:
            settings = json.loads(own.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidRequest(f"the model's {SETTINGS_FILE} is not JSON: {exc}") from None
        if not isinstance(settings, dict):
            raise InvalidRequest(f"the model's {SETTINGS_FILE} is not a JSON object")
        parameters = settings.setdefault("parameters", {})
        if not isinstance(parameters, dict):
            raise InvalidRequest(f"'parameters' in the model's {SETTINGS_FILE} is not an object")
        parameters["uri"] = str(_inside(model.path, str(parameters.get("uri") or ".")))
        settings["name"] = model.model_id
        return settings
    implementation = IMPLEMENTATIONS.get(model.model_type)
    if implementation is None:
        raise InvalidRequest(
            f"MLServer has no known implementation for model type {model.model_type!r} "
            f"(known: {', '.join(IMPLEMENTATIONS)}); put a {SETTINGS_FILE} naming one in "
            "the model's directory"
        )
    return {
        "name": model.model_id,
        "implementation": implementation,
        "parameters": {"uri": str(model.path)},
    }


def _inside(directory: Path, uri: str) -> Path:
    """``uri`` resolved against the model directory, refused if it leads out of it."""
    path = (directory / uri).resolve()
    if not path.is_relative_to(directory.resolve()):
        raise InvalidRequest(
            f"parameters.uri {uri!r} in {SETTINGS_FILE} leaves the model's directory"
        )
    return path


class MLServerAdapter(V2RepositoryAdapter):
    display_name = "MLServer"

    def write_layout(self, model: ModelFiles) -> Path:
        settings = model_settings(model)
        entry = self._repository.fresh_dir(model.model_id)
        (entry / SETTINGS_FILE).write_text(json.dumps(settings, indent=2))
        return entry
