"""Bad values fail the install with a message that says what to fix: the schema for types and
unknown keys, modelmesh.validateValues for everything else (all problems at once). The
values documentation (README table, schema descriptions) is generated and must be fresh."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from hack import chart_docs
from tests.charts.conftest import CHART, DASHBOARD, helm, render, template_args

SCHEMA = json.loads((CHART / "values.schema.json").read_text())


def failure(tmp_path: Path, values: dict) -> str:
    """helm template's error for these values (the render must fail)."""
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    done = helm(*template_args((str(path),)), check=False)
    assert done.returncode != 0, "the render should have failed"
    return done.stderr


def test_defaults_satisfy_the_schema() -> None:
    jsonschema.validate(yaml.safe_load((CHART / "values.yaml").read_text()), SCHEMA)


def test_wrong_type_is_refused_by_name(tmp_path: Path) -> None:
    error = failure(tmp_path, {"mesh": {"grpcPort": "8033x"}, "etcd": {"replicaCount": 2}})
    assert "values don't meet the specifications of the schema" in error
    assert "at '/mesh/grpcPort': got string, want integer" in error
    assert "at '/etcd/replicaCount'" in error and "1, 3, 5" in error


def test_unknown_key_is_refused_by_name(tmp_path: Path) -> None:
    error = failure(tmp_path, {"mesh": {"grpcport": 8033}, "runtimes": [{"name": "a", "typo": 1}]})
    assert "at '/mesh': additional properties 'grpcport' not allowed" in error
    assert "additional properties 'typo' not allowed" in error


def test_bad_runtime_name_is_refused(tmp_path: Path) -> None:
    runtime = {"name": "My_Runtime", "supportedModelFormats": [{"name": "sklearn"}]}
    error = failure(tmp_path, {"runtimes": [runtime]})
    assert "/runtimes/0/name" in error


def test_validate_values_lists_every_problem_with_its_fix(tmp_path: Path) -> None:
    fmt = [{"name": "sklearn"}]
    values = {
        "runtimes": [
            {"name": "a", "supportedModelFormats": fmt, "resources": {}},
            {
                "name": "a",
                "supportedModelFormats": fmt,
                "resources": {"requests": {"memory": "1Gi"}},
            },
            {"name": "b", "type": "grpc", "supportedModelFormats": fmt, "server": {}},
            {
                "name": "c",
                "supportedModelFormats": fmt,
                "resources": {"requests": {"memory": "1Gi"}},
                "autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2},
            },
        ],
        "etcd": {"auth": {"enabled": True}},
        "tls": {"enabled": True},
        "storage": {"existingSecret": "s", "config": {"k": {"type": "s3"}}},
        "service": {"type": "LoadBalancer"},
        "metrics": {"enabled": False, "serviceMonitor": {"enabled": True}},
    }
    error = failure(tmp_path, values)
    assert "VALUES VALIDATION:" in error
    expected = [
        "set runtimes[0].resources.requests.memory",
        "runtimes[1] (a): the name is used twice",
        "set runtimes[2].server.image.repository",
        "set runtimes[2].adapter.enabled=true or runtimes[2].server.managementPort",
        "set --set runtimes[3].autoscaling.maxReplicas to at least 5",
        "--set etcd.auth.rootPassword=<password>",
        "--set tls.secretName=<name>",
        "storage: existingSecret and config are both set",
        "service.type=LoadBalancer cannot be headless",
        "--set metrics.enabled=true or --set metrics.serviceMonitor.enabled=false",
    ]
    for fix in expected:
        assert fix in error, fix
    assert error.count("\n  - ") == len(expected)  # one failure, every problem in it


def test_external_etcd_needs_its_secret(tmp_path: Path) -> None:
    error = failure(tmp_path, {"etcd": {"mode": "external"}})
    assert "--set etcd.external.existingSecret=<name>" in error


@pytest.mark.skipif(not DASHBOARD.exists(), reason="files/grafana-dashboard.json not written yet")
def test_dashboard_ships_in_a_config_map() -> None:
    config_map = render().one("ConfigMap", "mm-modelmesh-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["modelmesh-dashboard.json"]) == json.loads(
        DASHBOARD.read_text()
    )


def test_dashboard_config_map_carries_the_file_unchanged(tmp_path: Path) -> None:
    """On a copy of the chart with a dashboard of its own, so it runs before the real one."""
    chart = tmp_path / "modelmesh"
    shutil.copytree(CHART, chart)
    dashboard = {"title": "ModelMesh", "panels": [{"title": 'Cache misses | "per s"'}]}
    (chart / "files" / "grafana-dashboard.json").write_text(json.dumps(dashboard, indent=2))
    args = template_args(chart=chart, sets=(("metrics.dashboard.enabled", "true"),))
    text = helm(*args, "--show-only", "templates/dashboard-configmap.yaml").stdout
    config_map = yaml.safe_load(text)
    assert json.loads(config_map["data"]["modelmesh-dashboard.json"]) == dashboard
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    (chart / "files" / "grafana-dashboard.json").unlink()
    error = helm(*args, check=False).stderr
    assert "files/grafana-dashboard.json is missing from the chart" in error


def test_values_docs_are_complete_and_fresh() -> None:
    """hack/chart_docs.py --check: README table and schema descriptions match values.yaml."""
    assert chart_docs.stale(CHART) == []


def test_docs_check_catches_undocumented_and_unschemaed_keys() -> None:
    values = "## @section S\n## @param a.b Documented\na:\n  b: 1\n  c: 2\n"
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "a": {
                "type": "object",
                "properties": {"b": {"type": "integer"}, "d": {"type": "string"}},
            }
        },
    }
    found = chart_docs.problems(values, schema)
    assert "a.c: in values.yaml without a ## @param line" in found
    assert "a.d: in values.schema.json without a ## @param line" in found
    assert "a: the schema accepts unknown keys (additionalProperties)" in found
    rows = chart_docs.table(chart_docs.read_params(values), yaml.safe_load(values))
    assert "| `a.b` | Documented | `1` |" in rows
