"""NOTES.txt: how to send a first request, and warnings about unsafe values.

``helm template`` does not print NOTES.txt and ``helm install --dry-run`` wants a cluster,
so the test renders a copy of the chart whose NOTES.txt is wrapped in a ConfigMap.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.charts.conftest import CHART, helm, template_args

WRAPPER = """apiVersion: v1
kind: ConfigMap
metadata:
  name: notes-under-test
data:
  notes: |-
{{ include "notes.under.test" . | indent 4 }}
"""


@pytest.fixture(scope="module")
def notes_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chart = tmp_path_factory.mktemp("notes") / "modelmesh"
    shutil.copytree(CHART, chart)
    notes = (chart / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "_notes.tpl").write_text(
        '{{- define "notes.under.test" -}}\n' + notes + "\n{{- end -}}\n"
    )
    (chart / "templates" / "notes.yaml").write_text(WRAPPER)
    return chart


def notes(chart: Path, *files: str, **sets: str) -> str:
    args = template_args(files, tuple(sets.items()), chart=chart)
    text = helm(*args, "--show-only", "templates/notes.yaml").stdout
    return str(yaml.safe_load(text)["data"]["notes"])


def test_notes_tell_how_to_send_a_first_request(notes_chart: Path) -> None:
    text = notes(notes_chart)
    assert "modelmesh-serving.modelmesh-serving:8033" in text
    assert "http://modelmesh-serving.modelmesh-serving:8008" in text
    assert "kubectl -n modelmesh-serving port-forward service/modelmesh-serving 8033 8008" in text
    assert "modelmesh predict example-sklearn-isvc --address localhost:8033" in text
    assert "curl -s localhost:8008/v2/models/example-sklearn-isvc/infer" in text
    assert "serving.kserve.io/deploymentMode: ModelMesh" in text
    assert "python: modelmesh-serving-python, formats sklearn, xgboost, lightgbm, onnx" in text


def test_notes_warn_about_unsafe_values(notes_chart: Path, tmp_path: Path) -> None:
    runtimes = yaml.safe_load((CHART / "values.yaml").read_text())["runtimes"]
    runtimes[0]["replicas"] = 1
    single = tmp_path / "single.yaml"
    single.write_text(yaml.safe_dump({"runtimes": runtimes}))
    text = notes(notes_chart, str(single), **{"etcd.persistence.enabled": "false"})
    assert "WARNING: the bundled etcd has no password" in text
    assert "WARNING: etcd.persistence.enabled=false" in text
    assert "WARNING: runtime python has one pod" in text
    safe = notes(notes_chart, "etcd-ha-values.yaml")
    assert "WARNING" not in safe
    assert "NOTE: one etcd member" not in safe


def test_notes_without_controller_point_to_the_api(notes_chart: Path) -> None:
    text = notes(notes_chart, "no-controller-values.yaml")
    assert "modelmesh register my-model" in text
    assert "kubectl -n modelmesh-serving apply" not in text
