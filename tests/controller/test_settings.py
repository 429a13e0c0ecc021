"""Controller settings from the environment, and the ``modelmesh controller`` command."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelmesh.controller.settings import ControllerSettings, SettingsError
from modelmesh.mesh.cli.main import build_parser


def test_defaults_follow_upstream(tmp_path: Path) -> None:
    settings = ControllerSettings.from_env({}, account_namespace=tmp_path / "missing")
    assert settings.namespace == "modelmesh-serving" and not settings.namespace_scope
    assert settings.mesh_endpoint == "modelmesh-serving.{namespace}:8033"
    assert settings.endpoints("team-a").grpc == "grpc://modelmesh-serving.team-a:8033"
    assert settings.endpoints("team-a").rest == "http://modelmesh-serving.team-a:8008"
    assert settings.call_timeout_s == 10.0


def test_namespace_from_the_service_account_and_overrides(tmp_path: Path) -> None:
    account = tmp_path / "namespace"
    account.write_text("serving-ns\n")
    assert ControllerSettings.from_env({}, account_namespace=account).namespace == "serving-ns"
    settings = ControllerSettings.from_env(
        {
            "NAMESPACE": "mine",
            "NAMESPACE_SCOPE": "true",
            "INFERENCE_SERVICE_NAME": "mesh",
            "INFERENCE_SERVICE_PORT": "9000",
            "REST_PROXY_ENABLED": "false",
            "RESYNC_PERIOD_SECONDS": "5",
            "KUBECONFIG": "/k",
        },
        account_namespace=account,
    )
    assert (settings.namespace, settings.namespace_scope, settings.resync_s) == ("mine", True, 5.0)
    assert settings.mesh_endpoint == "mesh.{namespace}:9000"
    assert settings.endpoints("mine").rest == "" and settings.kubeconfig == "/k"


@pytest.mark.parametrize(
    ("env", "name"),
    [({"NAMESPACE_SCOPE": "maybe"}, "NAMESPACE_SCOPE"), ({"RESYNC_PERIOD_SECONDS": "0"}, "RESYNC")],
)
def test_bad_values_name_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError, match=name):
        ControllerSettings.from_env(env)


def test_cli_has_a_controller_command() -> None:
    args = build_parser().parse_args(["controller"])
    assert args.handler.__name__ == "_controller"


def test_cli_controller_with_a_bad_setting_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelmesh.mesh.cli.main import main

    monkeypatch.setenv("NAMESPACE_SCOPE", "maybe")
    assert main(["controller"]) == 2
    assert "NAMESPACE_SCOPE='maybe'" in capsys.readouterr().err
