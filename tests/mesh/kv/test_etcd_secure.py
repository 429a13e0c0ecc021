"""A mesh on a real etcd that requires both a client certificate and a login (auth enabled,
a user whose role may touch only the mesh's root_prefix), configured by one
``etcd_connection`` JSON file as upstream's ``model-serving-etcd`` Secret holds it: the
mesh registers and serves there, and a wrong password or a missing client certificate
stops the start with a message that names the cause and not the password."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from modelmesh.mesh.app import start_mesh
from modelmesh.mesh.errors import Unavailable
from modelmesh.mesh.kv.etcd import EtcdStore
from modelmesh.mesh.kv.etcd_config import parse_etcd_target
from modelmesh.mesh.settings import Settings
from modelmesh.protos import grpc_predict_v2_pb2_grpc as v2_grpc
from modelmesh.protos import model_mesh_pb2 as pb
from modelmesh.protos import model_mesh_pb2_grpc as mm_grpc
from modelmesh.runtimes.tensors import build_infer_request
from tests.support.etcd import EtcdCluster, TlsFiles, etcd_cluster, make_tls_files
from tests.support.models import digits

PASSWORD = "mesh-pw-4e1b9c"
PREFIX = "team-a"


@pytest.fixture
def secure_etcd(tmp_path: Path) -> Iterator[tuple[EtcdCluster, TlsFiles]]:
    """etcd over TLS with client certificates required, auth on, and user ``mesh`` allowed
    read/write under ``team-a`` only."""
    tls = make_tls_files(tmp_path / "pki")
    with etcd_cluster(tmp_path / "etcd", tls=tls) as server:
        server.etcdctl("user", "add", "root:root-pw-77a1")
        server.etcdctl("user", "grant-role", "root", "root")
        server.etcdctl("role", "add", "mesh-role")
        server.etcdctl(
            "role", "grant-permission", "mesh-role", "readwrite", f"{PREFIX}/", "--prefix=true"
        )
        server.etcdctl("user", "add", f"mesh:{PASSWORD}")
        server.etcdctl("user", "grant-role", "mesh", "mesh-role")
        server.etcdctl("auth", "enable")
        yield server, tls


def connection_file(server: EtcdCluster, tls: TlsFiles, **changes: object) -> Path:
    document: dict[str, object] = {
        "endpoints": server.target,
        "userid": "mesh",
        "password": PASSWORD,
        "root_prefix": PREFIX,
        # relative to this file, as in a mounted Secret
        "certificate_file": "ca.pem",
        "client_certificate_file": "client.pem",
        "client_key_file": "client-key.pem",
        **changes,
    }
    path = tls.ca.parent / "etcd_connection"
    path.write_text(json.dumps({k: v for k, v in document.items() if v is not None}))
    return path


def env(connection: Path, models: Path) -> dict[str, str]:
    return {
        "KV_STORE": f"etcd:{connection}",
        "WKUBE_POD_NAME": "mesh-secure-0",
        "MM_SVC_GRPC_PORT": "0",
        "ROOT_MODEL_DIR": str(models),
        "CONTAINER_MEM_REQ_BYTES": str(256 * 1024 * 1024),
        "MEM_BUFFER_BYTES": "0",
    }


async def test_mesh_on_etcd_with_login_and_client_certificate(
    secure_etcd: tuple[EtcdCluster, TlsFiles], mesh_models: Path
) -> None:
    server, tls = secure_etcd
    connection = connection_file(server, tls)
    app = await start_mesh(Settings.from_env(env(connection, mesh_models)))
    try:
        async with asyncio.timeout(10):  # the instance sees itself through its watch
            while True:
                if app.settings.instance_id in app.instances.alive():
                    break
                await asyncio.sleep(0.02)
        async with grpc.aio.insecure_channel(app.address) as channel:
            status = await mm_grpc.ModelMeshStub(channel).registerModel(
                pb.RegisterModelRequest(
                    modelId="digits",
                    modelInfo=pb.ModelInfo(type="sklearn", path="sklearn"),
                    loadNow=True,
                    sync=True,
                )
            )
            assert status.status == pb.ModelStatusInfo.LOADED, status
            request = build_infer_request("digits", {"x": np.asarray(digits()[0][:2])})
            reply = await v2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request)
        assert reply.model_name == "digits"
    finally:
        await app.stop(0)

    # the record is there, under root_prefix, read with the same credentials
    store = await EtcdStore.connect(parse_etcd_target(str(connection)))
    try:
        record = await store.get(f"{PREFIX}/mm/modelmesh-serving/registry/digits")
    finally:
        await store.close()
    assert record is not None and json.loads(record.value)["mPath"] == "sklearn"
    # and etcd holds nothing of the mesh's outside it (the role would refuse such a write)
    listed = server.etcdctl("--user", "root:root-pw-77a1", "get", "", "--prefix", "--keys-only")
    keys = [k for k in listed.stdout.split() if k]
    assert keys and all(k.startswith(f"{PREFIX}/") for k in keys), keys


@pytest.mark.parametrize(
    ("changes", "cause"),
    [
        ({"password": "not-the-password-1"}, "wrong userid or password"),
        # etcd refuses the TLS handshake; the store gives up after its 5 s timeout
        ({"client_certificate_file": None, "client_key_file": None}, "handshake failed"),
        ({"root_prefix": "team-b"}, "permission"),
    ],
)
async def test_bad_credentials_stop_the_start_clearly(
    secure_etcd: tuple[EtcdCluster, TlsFiles],
    mesh_models: Path,
    changes: dict[str, object],
    cause: str,
) -> None:
    server, tls = secure_etcd
    connection = connection_file(server, tls, **changes)
    with pytest.raises(Unavailable) as failed:
        await start_mesh(Settings.from_env(env(connection, mesh_models)))
    message = failed.value.message
    assert cause.lower() in message.lower(), message
    assert PASSWORD not in message and "not-the-password-1" not in message
