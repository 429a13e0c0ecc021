"""The demo model: trained once per models directory, with a sample request that fits it."""

from __future__ import annotations

import shlex
from pathlib import Path

import joblib
import numpy as np
import pytest

from modelmesh.mesh import demo as demo_module
from modelmesh.mesh.cli.inputs import load_inputs
from modelmesh.mesh.demo import prepare_demo


def test_trains_once_and_the_sample_fits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    demo = prepare_demo(tmp_path)
    assert (demo.model_id, demo.model_type, demo.path) == (
        "demo-digits",
        "sklearn",
        "demo/digits.joblib",
    )
    model_file = tmp_path / demo.path
    inputs = load_inputs(str(demo.sample_input_path))
    sample = inputs.tensors["predict"]
    assert (sample.shape, sample.dtype) == ((2, 64), np.float32)
    np.testing.assert_array_equal(joblib.load(model_file).predict(sample), [0, 1])

    def no_training(*args: object) -> None:
        raise AssertionError("the model was trained again")

    monkeypatch.setattr(demo_module, "_train", no_training)
    written = model_file.stat().st_mtime_ns
    assert prepare_demo(tmp_path) == demo
    assert model_file.stat().st_mtime_ns == written
    assert sorted(p.name for p in model_file.parent.iterdir()) == [
        "digits-request.json",
        "digits.joblib",
    ]


def test_command_runs_the_venv_cli_on_the_sample(tmp_path: Path) -> None:
    demo = prepare_demo(tmp_path)
    words = shlex.split(demo.command)
    assert Path(words[0]).name == "modelmesh"
    assert words[1:4] == ["predict", "demo-digits", "--input"]
    assert Path(words[4]).resolve() == demo.sample_input_path.resolve()


def test_command_names_a_mesh_elsewhere(tmp_path: Path) -> None:
    demo = prepare_demo(tmp_path, address="localhost:18033")
    assert shlex.split(demo.command)[-2:] == ["--address", "localhost:18033"]
