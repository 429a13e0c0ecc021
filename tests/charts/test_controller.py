"""The controller's Deployment and least-privilege RBAC, per scope."""

from __future__ import annotations

from typing import Any

from tests.charts.conftest import container, env_of, render

LEASE = "modelmesh-controller-leader-lock"  # upstream's lock name, fixed in the controller
NEVER = {"create", "update", "delete", "deletecollection", "*", "escalate", "bind", "impersonate"}


def rules_by_resource(role: dict[str, Any]) -> dict[str, set[str]]:
    """resource -> verbs, over every rule (resourceNames ignored here)."""
    found: dict[str, set[str]] = {}
    for rule in role["rules"]:
        for resource in rule["resources"]:
            found.setdefault(resource, set()).update(rule["verbs"])
    return found


def assert_no_wildcards(role: dict[str, Any]) -> None:
    for rule in role["rules"]:
        assert "*" not in rule["apiGroups"] + rule["resources"] + rule["verbs"], rule


def test_namespace_scope_needs_no_cluster_role() -> None:
    rendered = render("namespace-scope-values.yaml")
    assert not rendered.all("ClusterRole") and not rendered.all("ClusterRoleBinding")
    role = rendered.one("Role", "mm-modelmesh-controller")
    assert_no_wildcards(role)
    rules = rules_by_resource(role)
    assert rules["inferenceservices"] == {"get", "list", "watch", "patch"}
    assert rules["predictors"] == {"get", "list", "watch", "patch"}
    assert rules["inferenceservices/status"] == {"get", "patch"}
    assert rules["servingruntimes"] == {"get", "list", "watch"}
    assert "clusterservingruntimes" not in rules and "namespaces" not in rules
    assert not {"secrets", "configmaps", "pods"} & set(rules)
    for resource, verbs in rules.items():
        if resource != "leases":
            assert not verbs & NEVER, (resource, verbs)
    env = env_of(container(rendered.one("Deployment", "mm-modelmesh-controller"), "controller"))
    assert env["NAMESPACE_SCOPE"] == "true"


def test_leader_election_may_touch_only_its_own_lease() -> None:
    for scenario in ("namespace-scope-values.yaml", "cluster-scope-values.yaml"):
        role = render(scenario).one("Role", "mm-modelmesh-controller")
        lease_rules = [r for r in role["rules"] if r["resources"] == ["leases"]]
        assert {r["apiGroups"][0] for r in lease_rules} == {"coordination.k8s.io"}
        named = [r for r in lease_rules if r.get("resourceNames")]
        unnamed = [r for r in lease_rules if not r.get("resourceNames")]
        assert [r["verbs"] for r in unnamed] == [["create"]]  # create cannot be narrowed by name
        assert [(r["resourceNames"], set(r["verbs"])) for r in named] == [
            ([LEASE], {"get", "update", "patch"})
        ]
        controller = render(scenario).one("Deployment", "mm-modelmesh-controller")
        env = env_of(container(controller, "controller"))
        assert (env["LEADER_ELECT"], env["POD_NAME"]) == (
            "true",
            {"fieldRef": {"fieldPath": "metadata.name"}},
        )


def test_cluster_scope_reads_every_namespace() -> None:
    rendered = render("cluster-scope-values.yaml")
    cluster_role = rendered.one("ClusterRole", "modelmesh-serving-mm-modelmesh-controller")
    assert_no_wildcards(cluster_role)
    rules = rules_by_resource(cluster_role)
    assert rules["clusterservingruntimes"] == {"get", "list", "watch"}
    assert rules["namespaces"] == {"get", "list", "watch"}
    assert rules["inferenceservices"] == {"get", "list", "watch", "patch"}
    assert "leases" not in rules  # the Lease stays in the release namespace's Role
    assert not {"secrets", "configmaps", "pods"} & set(rules)
    for verbs in rules.values():
        assert not verbs & NEVER
    role = rendered.one("Role", "mm-modelmesh-controller")
    assert set(rules_by_resource(role)) == {"leases"}
    binding = rendered.one("ClusterRoleBinding", "modelmesh-serving-mm-modelmesh-controller")
    assert binding["roleRef"]["name"] == cluster_role["metadata"]["name"]
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": "mm-modelmesh-controller",
            "namespace": "modelmesh-serving",
        }
    ]
    env = env_of(container(rendered.one("Deployment", "mm-modelmesh-controller"), "controller"))
    assert env["NAMESPACE_SCOPE"] == "false"
    assert env["RESYNC_PERIOD_SECONDS"] == "120"


def test_controller_talks_to_the_mesh_service() -> None:
    controller = render().one("Deployment", "mm-modelmesh-controller")
    spec = controller["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == "mm-modelmesh-controller"
    main = container(controller, "controller")
    assert main["args"] == ["controller"]
    env = env_of(main)
    assert env["NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert (env["INFERENCE_SERVICE_NAME"], env["INFERENCE_SERVICE_PORT"]) == (
        "modelmesh-serving",
        "8033",
    )
    assert env["REST_PROXY_PORT"] == "8008"


def test_controller_budget_and_switches() -> None:
    assert "mm-modelmesh-controller" in render("etcd-ha-values.yaml").names("PodDisruptionBudget")
    assert "mm-modelmesh-controller" not in render().names("PodDisruptionBudget")
    rendered = render("no-controller-values.yaml")
    assert not any("controller" in o["metadata"]["name"] for o in rendered)
    assert not render(rbac__create=False).all("Role")
