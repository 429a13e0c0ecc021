"""Every ci/*-values.yaml scenario lints, renders, and renders objects Kubernetes accepts.

Built-in kinds are checked against Kubernetes' OpenAPI schemas (kubernetes-validate, strict:
an unknown field fails), custom resources against the chart's own CRD schemas, with the
pruning a real API server would do turned into a failure. Rendering is deterministic (Argo
CD re-renders on every sync), uses no hooks, and never generates a secret.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from referencing import Registry, Resource

from tests.charts.conftest import (
    CHART,
    KUBE_VERSIONS,
    REPO,
    SCENARIOS,
    helm,
    render,
    render_text,
    template_args,
)

EXAMPLE_ISVC = REPO / "e2e" / "kind" / "manifests" / "example-isvc.yaml"
SCHEMAS = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
# kinds that are neither built in nor ours: checked structurally in their own tests
FOREIGN_KINDS = {"ServiceMonitor"}


def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the openAPIV3Schema of each CRD in crds/."""
    schemas = {}
    for path in sorted((CHART / "crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            key = (f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])
            schemas[key] = strict(version["schema"]["openAPIV3Schema"])
    return schemas


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with unknown fields refused wherever the API server would prune them."""
    schema = copy.deepcopy(schema)

    def visit(node: dict[str, Any]) -> None:
        if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            node["additionalProperties"] = False
        for child in node.get("properties", {}).values():
            visit(child)
        if isinstance(node.get("items"), dict):
            visit(node["items"])

    visit(schema)
    return schema


CRD_SCHEMAS = crd_schemas()


def validate_custom(obj: dict[str, Any]) -> None:
    schema = CRD_SCHEMAS[(obj["apiVersion"], obj["kind"])]
    jsonschema.validate(obj, schema)


@functools.cache
def _definitions(version: str) -> Registry:
    """Kubernetes' shared definitions, loaded once (kubernetes-validate reloads per call)."""
    path = SCHEMAS / f"v{version}-local-strict" / "_definitions.json"
    return Resource.from_contents(json.loads(path.read_text())) @ Registry()  # type: ignore[no-any-return]


@functools.cache
def _validator(version: str, api_version: str, kind: str) -> jsonschema.Draft202012Validator:
    # "rbac.authorization.k8s.io/v1" -> "rbac-v1", "v1" -> "v1", as kubernetes-validate names them
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = SCHEMAS / f"v{version}-local-strict" / f"{kind.lower()}-{group_version}.json"
    schema = json.loads(path.read_text())
    registry = Resource.from_contents(schema) @ _definitions(version)
    return jsonschema.Draft202012Validator(schema, registry=registry)


def validate_builtin(obj: dict[str, Any], version: str) -> None:
    """Strict: an unknown field fails, as ``kubectl apply --validate=strict`` would."""
    error = jsonschema.exceptions.best_match(
        _validator(version, obj["apiVersion"], obj["kind"]).iter_errors(obj)
    )
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path)
        raise AssertionError(f"{obj['kind']}/{obj['metadata']['name']} at {where}: {error.message}")


def validate_all(objects: Iterable[dict[str, Any]], version: str = KUBE_VERSIONS[0]) -> None:
    """Built-in kinds against Kubernetes' schemas, ours against our CRDs."""
    for obj in objects:
        assert obj["metadata"]["name"], obj
        if (obj["apiVersion"], obj["kind"]) in CRD_SCHEMAS:
            validate_custom(obj)
        elif obj["kind"] not in FOREIGN_KINDS:
            validate_builtin(obj, version)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_lints(scenario: str) -> None:
    done = helm("lint", str(CHART), "--strict", "-f", str(CHART / "ci" / scenario))
    assert "1 chart(s) linted, 0 chart(s) failed" in done.stdout


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_objects_are_valid(scenario: str) -> None:
    rendered = render(scenario)
    assert rendered.all("Deployment"), "a scenario without a runtime Deployment"
    validate_all(rendered)


def test_default_objects_are_valid_on_a_recent_kubernetes() -> None:
    validate_all(render("default-values.yaml"), KUBE_VERSIONS[1])


def test_validation_catches_a_bad_object() -> None:
    """The checks above can fail: a misspelt field and a wrong type are both caught."""
    deployment = copy.deepcopy(render().all("Deployment")[0])
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    with pytest.raises(AssertionError, match="imagePullPolcy"):
        validate_builtin(deployment, KUBE_VERSIONS[0])
    runtime = copy.deepcopy(render().all("ServingRuntime")[0])
    runtime["spec"]["multiModel"] = "yes"
    with pytest.raises(jsonschema.ValidationError, match="'yes' is not of type 'boolean'"):
        validate_custom(runtime)
    runtime["spec"]["multiModel"] = True
    runtime["spec"]["multiModels"] = True
    with pytest.raises(jsonschema.ValidationError, match="multiModels"):
        validate_custom(runtime)


def test_crds_are_valid_and_cover_the_four_kinds() -> None:
    crds = [o for o in render(crds=True) if o["kind"] == "CustomResourceDefinition"]
    for crd in crds:
        validate_builtin(crd, KUBE_VERSIONS[0])
    kinds = {(c["spec"]["names"]["kind"], c["spec"]["scope"]) for c in crds}
    assert kinds == {
        ("InferenceService", "Namespaced"),
        ("Predictor", "Namespaced"),
        ("ServingRuntime", "Namespaced"),
        ("ClusterServingRuntime", "Cluster"),
    }
    isvc = next(c for c in crds if c["spec"]["names"]["kind"] == "InferenceService")
    (version,) = isvc["spec"]["versions"]
    assert version["name"] == "v1beta1"
    assert version["subresources"] == {"status": {}}
    assert isvc["spec"]["names"]["shortNames"] == ["isvc"]


def test_crds_can_be_skipped() -> None:
    """Where KServe's CRDs exist: helm install --skip-crds (crds/ is never templated)."""
    assert not render().all("CustomResourceDefinition")
    assert len(render(crds=True).all("CustomResourceDefinition")) == 4


def test_example_inference_services_fit_the_crd() -> None:
    """The InferenceService users know from KServe's docs, as the e2e test and NOTES use it."""
    example = yaml.safe_load((EXAMPLE_ISVC).read_text())
    validate_custom(example)
    status = {
        "modelStatus": {
            "transitionStatus": "UpToDate",
            "states": {"activeModelState": "Loaded", "targetModelState": ""},
            "copies": {"failedCopies": 0, "totalCopies": 1},
        },
        "conditions": [{"type": "Ready", "status": "True"}],
        "url": "grpc://modelmesh-serving.modelmesh-serving:8033",
    }
    validate_custom({**example, "status": status})
    bad = copy.deepcopy(example)
    bad["status"] = {"modelStatus": {"states": {"activeModelState": "Ready"}}}
    with pytest.raises(jsonschema.ValidationError, match="'Ready' is not one of"):
        validate_custom(bad)


@pytest.mark.parametrize("scenario", ["default-values.yaml", "three-runtimes-values.yaml"])
def test_two_renders_are_byte_identical(scenario: str) -> None:
    first = helm(*template_args((scenario,))).stdout
    second = helm(*template_args((scenario,))).stdout
    assert first == second
    assert first == render_text((scenario,))


def test_no_hooks_and_nothing_generated() -> None:
    """Argo CD friendliness: every value comes from values, not from the render's moment."""
    comment = re.compile(r"\{\{-?\s*/\*.*?\*/\s*-?\}\}", re.S)
    action = re.compile(r"\{\{.*?\}\}", re.S)
    forbidden = re.compile(
        r"\b(randAlpha|randAlphaNum|randNumeric|randAscii|randBytes|uuidv4|now|date|lookup|"
        r"genCA|genPrivateKey|genSelfSignedCert|genSignedCert|derivePassword)\b"
    )
    for path in sorted((CHART / "templates").rglob("*")):
        code = " ".join(action.findall(comment.sub("", path.read_text())))
        assert code, f"{path.name}: no template action found"
        assert not forbidden.search(code), f"{path.name}: {forbidden.search(code)}"
    for scenario in SCENARIOS:
        for obj in render(scenario):
            annotations = obj["metadata"].get("annotations") or {}
            assert "helm.sh/hook" not in annotations, f"{obj['kind']} is a hook"


def test_scenarios_cover_the_supported_shapes() -> None:
    """Each supported shape has its scenario, linted and rendered above."""
    expected = {
        "default-values.yaml",
        "external-etcd-values.yaml",
        "etcd-ha-values.yaml",
        "three-runtimes-values.yaml",
        "namespace-scope-values.yaml",
        "cluster-scope-values.yaml",
        "tls-values.yaml",
        "no-controller-values.yaml",
        "monitoring-values.yaml",
        "existing-secrets-values.yaml",
        "storage-values.yaml",
    }
    assert expected <= set(SCENARIOS)
    assert all(Path(CHART / "ci" / s).read_text().startswith("#") for s in SCENARIOS)


def test_argocd_application_renders_the_chart(tmp_path: Path) -> None:
    app = yaml.safe_load((REPO / "docs" / "argocd" / "application.yaml").read_text())
    source = app["spec"]["source"]
    assert (REPO / source["path"]).resolve() == CHART
    assert source["helm"]["releaseName"] and app["spec"]["destination"]["namespace"]
    values = tmp_path / "argocd-values.yaml"
    values.write_text(yaml.safe_dump(source["helm"]["valuesObject"]))
    rendered = render(str(values))
    assert rendered.one("StatefulSet", "mm-modelmesh-etcd")["spec"]["replicas"] == 3
    validate_all(rendered)


def test_kind_e2e_values_and_manifests_are_valid() -> None:
    """What the kind test installs, checked here where no cluster runs."""
    validate_all(render(str(REPO / "e2e" / "kind" / "values-e2e.yaml")))
    for obj in yaml.safe_load_all((REPO / "e2e" / "kind" / "manifests" / "minio.yaml").read_text()):
        validate_builtin(obj, KUBE_VERSIONS[0])
