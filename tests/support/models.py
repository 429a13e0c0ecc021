"""Tiny real models for tests, trained on scikit-learn's offline digits data at test time.

Each ``write_*`` trains in well under two seconds, writes one model file into ``directory``
(created if missing) and returns its path. The models are deliberately small; ``kind="forest"``
gives a much bigger scikit-learn model for size comparisons.
"""

from __future__ import annotations

import functools
from pathlib import Path

import joblib
import numpy as np

SEED = 7


@functools.cache
def digits() -> tuple[np.ndarray, np.ndarray]:
    """The digits data set: 1797 rows of 64 float32 pixel features, and int64 labels 0-9.

    Cached and read-only: every caller shares the same arrays.
    """
    from sklearn.datasets import load_digits

    data = load_digits()
    features = data.data.astype(np.float32)
    labels = data.target.astype(np.int64)
    features.setflags(write=False)
    labels.setflags(write=False)
    return features, labels


def _target(directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return directory / name


@functools.cache
def _logreg() -> object:
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    # multi-threaded BLAS on a busy machine made this fit 100x slower (3 s instead of 30 ms)
    with threadpool_limits(1):
        return LogisticRegression(max_iter=100, tol=1e-2).fit(*digits())


def write_sklearn(directory: Path, name: str = "model.joblib", *, kind: str = "logreg") -> Path:
    """A scikit-learn classifier saved with joblib: ``logreg`` (small) or ``forest`` (big)."""
    from sklearn.ensemble import RandomForestClassifier

    features, labels = digits()
    if kind == "logreg":
        model = _logreg()
    elif kind == "forest":
        model = RandomForestClassifier(n_estimators=40, random_state=SEED, n_jobs=1).fit(
            features, labels
        )
    else:
        raise ValueError(f"unknown kind {kind!r}; use 'logreg' or 'forest'")
    path = _target(directory, name)
    joblib.dump(model, path)
    return path


def write_xgboost(directory: Path, name: str = "model.json") -> Path:
    """An XGBoost multi-class booster (softprob) in the format named by the file suffix."""
    import xgboost

    features, labels = digits()
    params = {"objective": "multi:softprob", "num_class": 10, "max_depth": 3, "nthread": 1}
    booster = xgboost.train(params, xgboost.DMatrix(features, label=labels), num_boost_round=8)
    path = _target(directory, name)
    booster.save_model(path)
    return path


def write_lightgbm(directory: Path, name: str = "model.txt") -> Path:
    """A LightGBM multi-class booster saved as a text model."""
    import lightgbm

    features, labels = digits()
    params = {
        "objective": "multiclass",
        "num_class": 10,
        "num_leaves": 8,
        "num_threads": 1,
        "verbose": -1,
        "seed": SEED,
    }
    booster = lightgbm.train(params, lightgbm.Dataset(features, label=labels), num_boost_round=8)
    path = _target(directory, name)
    booster.save_model(path)
    return path


def write_onnx(directory: Path, name: str = "model.onnx") -> Path:
    """A logistic regression converted by skl2onnx (no zipmap): outputs label, probabilities."""
    from skl2onnx import to_onnx

    model = _logreg()
    onnx_model = to_onnx(model, digits()[0][:1], options={id(model): {"zipmap": False}})
    path = _target(directory, name)
    path.write_bytes(onnx_model.SerializeToString())
    return path


def write_torchscript(directory: Path, name: str = "model.pt") -> Path:
    """A TorchScript linear classifier carrying the logistic regression's weights: outputs
    class probabilities. Traced at test time; needs torch."""
    import torch

    model = _logreg()
    linear = torch.nn.Linear(64, 10)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(model.coef_.astype(np.float32)))  # type: ignore[attr-defined]
        linear.bias.copy_(torch.from_numpy(model.intercept_.astype(np.float32)))  # type: ignore[attr-defined]
    traced = torch.jit.trace(
        torch.nn.Sequential(linear, torch.nn.Softmax(dim=1)), torch.zeros(1, 64)
    )
    path = _target(directory, name)
    torch.jit.save(traced, str(path))
    return path
