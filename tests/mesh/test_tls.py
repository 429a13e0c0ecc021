"""TLS on the mesh's gRPC and REST ports and between instances (MM_TLS_*), with certificates
made at test time (tests/support/etcd.make_tls_files): round trips, refusals, client
certificates, rotation without a restart, forwarding between two instances, the CLI."""

from __future__ import annotations

import asyncio
import shutil
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import grpc
import numpy as np
import pytest

from modelmesh.mesh.app import MeshApp, start_mesh
from modelmesh.mesh.cli.main import main as cli_main
from modelmesh.mesh.kv.embedded import EmbeddedStore
from modelmesh.mesh.settings import Settings, SettingsError
from modelmesh.protos import grpc_predict_v2_pb2 as v2
from modelmesh.protos import grpc_predict_v2_pb2_grpc as v2_grpc
from modelmesh.protos import model_mesh_pb2 as pb
from modelmesh.protos import model_mesh_pb2_grpc as mm_grpc
from modelmesh.runtimes.tensors import build_infer_request
from tests.support.etcd import TlsFiles, make_tls_files
from tests.support.models import digits

Status = pb.ModelStatusInfo.ModelStatus


@pytest.fixture
def pki(tmp_path: Path) -> TlsFiles:
    return make_tls_files(tmp_path / "pki")


def tls_env(pki: TlsFiles, client_auth: str = "none") -> dict[str, str]:
    return {
        "MM_TLS_KEY_CERT_PATH": str(pki.server_cert),
        "MM_TLS_PRIVATE_KEY_PATH": str(pki.server_key),
        "MM_TLS_TRUST_CERT_PATH": str(pki.ca),
        "MM_TLS_CLIENT_AUTH": client_auth,
    }


@pytest.fixture
async def meshes(tmp_path: Path, mesh_models: Path) -> AsyncIterator[list[MeshApp]]:
    """Instances started by ``launch`` share one store; all stopped at the end."""
    apps: list[MeshApp] = []
    yield apps
    for app in apps:
        await app.stop(0)


async def launch(
    apps: list[MeshApp], models: Path, env: dict[str, str], store: EmbeddedStore | None = None
) -> MeshApp:
    settings = Settings.from_env(
        {
            "WKUBE_POD_NAME": f"tls-mesh-{len(apps)}",
            "MM_SVC_GRPC_PORT": "0",
            "ROOT_MODEL_DIR": str(models),
            "MM_DATA_DIR": str(models.parent / f"data-{len(apps)}"),
            "CONTAINER_MEM_REQ_BYTES": str(256 * 1024 * 1024),
            "MEM_BUFFER_BYTES": "0",
            **env,
        }
    )
    app = await start_mesh(settings, store=store)
    apps.append(app)
    return app


def credentials(ca: Path, client: TlsFiles | None = None) -> grpc.ChannelCredentials:
    if client is None:
        return grpc.ssl_channel_credentials(ca.read_bytes())
    return grpc.ssl_channel_credentials(
        ca.read_bytes(), client.client_key.read_bytes(), client.client_cert.read_bytes()
    )


def client_context(ca: Path, client: TlsFiles | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    if client is not None:
        context.load_cert_chain(client.client_cert, client.client_key)
    return context


async def register_and_predict(
    channel: grpc.aio.Channel, model_id: str = "digits"
) -> v2.ModelInferResponse:
    await mm_grpc.ModelMeshStub(channel).registerModel(
        pb.RegisterModelRequest(
            modelId=model_id,
            modelInfo=pb.ModelInfo(type="sklearn", path="sklearn"),
            loadNow=True,
            sync=True,
        ),
        timeout=30,
    )
    request = build_infer_request(model_id, {"x": np.asarray(digits()[0][:2])})
    reply: v2.ModelInferResponse = await v2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(
        request, timeout=30
    )
    return reply


async def refused(channel: grpc.aio.Channel) -> grpc.StatusCode:
    """The code a ServerLive call gets on ``channel``; it must not succeed."""
    async with channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await v2_grpc.GRPCInferenceServiceStub(channel).ServerLive(
                v2.ServerLiveRequest(), timeout=5
            )
    code: grpc.StatusCode = caught.value.code()
    return code


async def rest_get(url: str, context: ssl.SSLContext | bool) -> int:
    async with aiohttp.ClientSession() as session, session.get(url, ssl=context) as reply:
        return reply.status


async def test_round_trip_over_tls_and_plaintext_refused(
    meshes: list[MeshApp], mesh_models: Path, pki: TlsFiles
) -> None:
    app = await launch(meshes, mesh_models, tls_env(pki))
    async with grpc.aio.secure_channel(app.address, credentials(pki.ca)) as channel:
        reply = await register_and_predict(channel)
    assert reply.model_name == "digits" and reply.outputs
    rest = app.front.rest_port if app.front else 0
    body = {"inputs": [{"name": "x", "shape": [1, 64], "datatype": "FP32", "data": [0.0] * 64}]}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"https://127.0.0.1:{rest}/v2/models/digits/infer",
            json=body,
            ssl=client_context(pki.ca),
        ) as answer,
    ):
        assert answer.status == 200, await answer.text()
        assert (await answer.json())["outputs"][0]["name"] == "predict"

    assert await refused(grpc.aio.insecure_channel(app.address)) == grpc.StatusCode.UNAVAILABLE
    with pytest.raises(aiohttp.ClientError):
        await rest_get(f"http://127.0.0.1:{rest}/v2/health/live", False)
    # a client that does not trust the CA refuses the mesh
    other = make_tls_files(pki.ca.parent.parent / "other")
    assert await refused(grpc.aio.secure_channel(app.address, credentials(other.ca))) == (
        grpc.StatusCode.UNAVAILABLE
    )


async def test_client_certificate_required(
    meshes: list[MeshApp], mesh_models: Path, pki: TlsFiles
) -> None:
    app = await launch(meshes, mesh_models, tls_env(pki, "require"))
    rest = f"https://127.0.0.1:{app.front.rest_port if app.front else 0}/v2/health/live"
    without = grpc.aio.secure_channel(app.address, credentials(pki.ca))
    assert await refused(without) == grpc.StatusCode.UNAVAILABLE
    with pytest.raises(aiohttp.ClientError):
        await rest_get(rest, client_context(pki.ca))
    # a certificate from another CA is no better than none
    stranger = make_tls_files(pki.ca.parent.parent / "stranger")
    assert await refused(grpc.aio.secure_channel(app.address, credentials(pki.ca, stranger))) == (
        grpc.StatusCode.UNAVAILABLE
    )

    async with grpc.aio.secure_channel(app.address, credentials(pki.ca, pki)) as channel:
        assert (await register_and_predict(channel)).model_name == "digits"
    assert await rest_get(rest, client_context(pki.ca, pki)) == 200


async def test_client_certificate_optional(
    meshes: list[MeshApp], mesh_models: Path, pki: TlsFiles
) -> None:
    app = await launch(meshes, mesh_models, tls_env(pki, "optional"))
    rest = f"https://127.0.0.1:{app.front.rest_port if app.front else 0}/v2/health/live"
    for client in (None, pki):
        async with grpc.aio.secure_channel(app.address, credentials(pki.ca, client)) as channel:
            await v2_grpc.GRPCInferenceServiceStub(channel).ServerLive(
                v2.ServerLiveRequest(), timeout=5
            )
        assert await rest_get(rest, client_context(pki.ca, client)) == 200
    # on REST a certificate that is sent is checked
    stranger = make_tls_files(pki.ca.parent.parent / "stranger")
    with pytest.raises(aiohttp.ClientError):
        await rest_get(rest, client_context(pki.ca, stranger))


async def test_rotated_certificate_is_used_without_a_restart(
    meshes: list[MeshApp], mesh_models: Path, tmp_path: Path
) -> None:
    live = tmp_path / "live"  # what a mounted Secret would be
    old = make_tls_files(tmp_path / "old")
    new = make_tls_files(tmp_path / "new")
    live.mkdir()
    for name in ("server.pem", "server-key.pem"):
        shutil.copy(old.ca.parent / name, live / name)
    env = {
        "MM_TLS_KEY_CERT_PATH": str(live / "server.pem"),
        "MM_TLS_PRIVATE_KEY_PATH": str(live / "server-key.pem"),
    }
    app = await launch(meshes, mesh_models, env)
    rest = f"https://127.0.0.1:{app.front.rest_port if app.front else 0}/v2/health/live"

    async def live_call(ca: Path) -> None:
        async with grpc.aio.secure_channel(app.address, credentials(ca)) as channel:
            await v2_grpc.GRPCInferenceServiceStub(channel).ServerLive(
                v2.ServerLiveRequest(), timeout=5
            )

    await live_call(old.ca)
    assert await rest_get(rest, client_context(old.ca)) == 200
    with pytest.raises(grpc.aio.AioRpcError):
        await live_call(new.ca)

    # as Kubernetes updates a Secret: the new files replace the old ones at once
    for name in ("server.pem", "server-key.pem"):
        shutil.copy(new.ca.parent / name, live / f".{name}")
        (live / f".{name}").replace(live / name)
    await live_call(new.ca)
    assert await rest_get(rest, client_context(new.ca)) == 200
    with pytest.raises(aiohttp.ClientError):
        await rest_get(rest, client_context(old.ca))

    # a broken pair (a key that is not the certificate's) is refused; the last good one stays
    shutil.copy(old.server_key, live / ".key")
    (live / ".key").replace(live / "server-key.pem")
    await live_call(new.ca)
    assert await rest_get(rest, client_context(new.ca)) == 200


async def test_two_instances_forward_over_tls_with_client_certificates(
    meshes: list[MeshApp], mesh_models: Path, pki: TlsFiles
) -> None:
    store = await EmbeddedStore.open(None)
    try:
        env = {**tls_env(pki, "require"), "MM_INSTANCE_LEASE_TTL_MS": "2000"}
        first = await launch(meshes, mesh_models, env, store)
        second = await launch(meshes, mesh_models, env, store)
        await asyncio.sleep(0.05)  # instance records reach both views
        async with grpc.aio.secure_channel(first.address, credentials(pki.ca, pki)) as channel:
            await register_and_predict(channel)
        holder = next(iter(first.registry.models.get("digits").loaded_in))  # type: ignore[union-attr]
        other = second if holder == first.settings.instance_id else first
        # the instance without a copy forwards to the one with it, over TLS
        async with grpc.aio.secure_channel(other.address, credentials(pki.ca, pki)) as channel:
            request = build_infer_request("digits", {"x": np.asarray(digits()[0][:2])})
            reply = await v2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=30)
        assert reply.model_name == "digits"
        record = other.registry.models.get("digits")
        assert record is not None and set(record.loaded_in) == {holder}
        assert other.peers.inflight.get(holder) == 0  # the call went through the peer channel
    finally:
        for app in meshes:
            await app.stop(0)
        meshes.clear()
        await store.close()


async def test_cli_talks_tls(
    meshes: list[MeshApp],
    mesh_models: Path,
    pki: TlsFiles,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = await launch(meshes, mesh_models, tls_env(pki, "require"))
    base = ["list", "--address", app.address, "--timeout", "10"]
    with_cert = [*base, "--tls-ca", str(pki.ca), "--tls-cert", str(pki.client_cert)]
    with_cert += ["--tls-key", str(pki.client_key)]
    assert await asyncio.to_thread(cli_main, with_cert) == 0
    assert await asyncio.to_thread(cli_main, [*base, "--tls-ca", str(pki.ca)]) == 1
    assert await asyncio.to_thread(cli_main, [*base, "--tls-cert", str(pki.client_cert)]) == 2
    err = capsys.readouterr().err
    assert "--tls-cert and --tls-key go together" in err


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MM_TLS_KEY_CERT_PATH": "c.pem"}, "set both MM_TLS_KEY_CERT_PATH"),
        ({"MM_TLS_CLIENT_AUTH": "maybe"}, "expected none, optional or require"),
        (
            {
                "MM_TLS_KEY_CERT_PATH": "c",
                "MM_TLS_PRIVATE_KEY_PATH": "k",
                "MM_TLS_CLIENT_AUTH": "require",
            },
            "needs TLS",
        ),
        ({"MM_TLS_PRIVATE_KEY_PASSPHRASE": "x"}, "unencrypted key"),
    ],
)
def test_bad_tls_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


async def test_unreadable_files_stop_the_start(
    meshes: list[MeshApp], mesh_models: Path, pki: TlsFiles
) -> None:
    from modelmesh.mesh.errors import Unavailable

    env = {**tls_env(pki), "MM_TLS_PRIVATE_KEY_PATH": str(pki.ca.parent / "missing.pem")}
    with pytest.raises(Unavailable, match="cannot read the TLS files"):
        await launch(meshes, mesh_models, env)
    env = {**tls_env(pki), "MM_TLS_PRIVATE_KEY_PATH": str(pki.client_key)}
    with pytest.raises(Unavailable, match="cannot be used"):
        await launch(meshes, mesh_models, env)
