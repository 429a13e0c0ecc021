"""Fixtures shared by every test package: real model files trained once per session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.models import write_lightgbm, write_onnx, write_sklearn, write_xgboost
from tests.support.storage import S3Server, moto_s3

_WRITERS: dict[str, Callable[[Path], Path]] = {
    "sklearn": write_sklearn,
    "xgboost": write_xgboost,
    "lightgbm": write_lightgbm,
    "onnx": write_onnx,
}


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 on loopback, requiring signed requests; tests make their own buckets."""
    with moto_s3() as server:
        yield server


@pytest.fixture(scope="session")
def models_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models root holding one tiny digits model per format, alone in ``<format>/``."""
    root = tmp_path_factory.mktemp("models")
    for fmt, write in _WRITERS.items():
        write(root / fmt)
    return root


@pytest.fixture(scope="session")
def model_paths(models_root: Path) -> dict[str, str]:
    """Format name -> its model file's path relative to ``models_root``."""
    return {
        fmt: str(next((models_root / fmt).iterdir()).relative_to(models_root)) for fmt in _WRITERS
    }
