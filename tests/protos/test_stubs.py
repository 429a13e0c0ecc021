"""The checked-in stubs are what ``make protos`` generates, and the wire names match upstream."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from modelmesh.protos import grpc_predict_v2_pb2 as v2
from modelmesh.protos import model_mesh_pb2 as mm
from modelmesh.protos import model_runtime_pb2 as mr

ROOT = Path(__file__).resolve().parents[2]


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_protos", ROOT / "hack" / "gen_protos.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_checked_in_stubs_are_fresh(tmp_path: Path) -> None:
    written = _load_generator().generate(tmp_path)
    assert written, "the generator wrote nothing"
    stale = [p.name for p in written if (ROOT / "protos" / p.name).read_bytes() != p.read_bytes()]
    assert not stale, f"stubs are stale, run `make protos`: {stale}"
    extra = {p.name for p in (ROOT / "protos").glob("*_pb2*.py*")} - {p.name for p in written}
    assert not extra, f"stubs without a .proto: {sorted(extra)}"


def _fields(message) -> dict[str, int]:
    return {f.name: f.number for f in message.DESCRIPTOR.fields}


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            mm.RegisterModelRequest,
            {"modelId": 1, "modelInfo": 2, "loadNow": 3, "sync": 4, "lastUsedTime": 5},
        ),
        (mm.ModelInfo, {"type": 1, "path": 2, "key": 3}),
        (mm.ModelStatusInfo, {"status": 1, "errors": 2, "modelCopyInfos": 3}),
        (mm.ModelStatusInfo.ModelCopyInfo, {"location": 1, "copyStatus": 2, "time": 3}),
        (mm.EnsureLoadedRequest, {"modelId": 1, "lastUsedTime": 2, "sync": 4}),
        (
            mm.VModelStatusInfo,
            {
                "status": 1,
                "activeModelId": 2,
                "targetModelId": 3,
                "activeModelStatus": 4,
                "targetModelStatus": 5,
                "owner": 6,
            },
        ),
        (
            mm.SetVModelRequest,
            {
                "vModelId": 1,
                "owner": 10,
                "targetModelId": 2,
                "updateOnly": 3,
                "modelInfo": 4,
                "autoDeleteTargetModel": 5,
                "loadNow": 6,
                "force": 7,
                "sync": 8,
                "expectedTargetModelId": 9,
            },
        ),
        (mm.DeleteVModelRequest, {"vModelId": 1, "owner": 2}),
        (mm.GetVModelStatusRequest, {"vModelId": 1, "owner": 2}),
        (mr.LoadModelRequest, {"modelId": 1, "modelType": 2, "modelPath": 3, "modelKey": 4}),
        (mr.LoadModelResponse, {"sizeInBytes": 1, "maxConcurrency": 2}),
        (
            mr.RuntimeStatusResponse,
            {
                "status": 1,
                "capacityInBytes": 2,
                "maxLoadingConcurrency": 3,
                "modelLoadingTimeoutMs": 4,
                "defaultModelSizeInBytes": 5,
                "runtimeVersion": 6,
                "numericRuntimeVersion": 7,
                "methodInfos": 8,
                "limitModelConcurrency": 9,
                "allowAnyMethod": 10,
            },
        ),
        (
            v2.ModelInferRequest,
            {
                "model_name": 1,
                "model_version": 2,
                "id": 3,
                "parameters": 4,
                "inputs": 5,
                "outputs": 6,
                "raw_input_contents": 7,
            },
        ),
        (
            v2.ModelInferResponse,
            {
                "model_name": 1,
                "model_version": 2,
                "id": 3,
                "parameters": 4,
                "outputs": 5,
                "raw_output_contents": 6,
            },
        ),
        (
            v2.InferTensorContents,
            {
                "bool_contents": 1,
                "int_contents": 2,
                "int64_contents": 3,
                "uint_contents": 4,
                "uint64_contents": 5,
                "fp32_contents": 6,
                "fp64_contents": 7,
                "bytes_contents": 8,
            },
        ),
    ],
)
def test_wire_field_numbers_match_upstream(message, expected: dict[str, int]) -> None:
    assert _fields(message) == expected


def test_enum_values_match_upstream() -> None:
    assert dict(mm.ModelStatusInfo.ModelStatus.items()) == {
        "NOT_FOUND": 0,
        "NOT_LOADED": 1,
        "LOADING": 2,
        "LOADED": 3,
        "LOADING_FAILED": 4,
        "UNKNOWN": 5,
    }
    assert dict(mm.VModelStatusInfo.VModelStatus.items()) == {
        "NOT_FOUND": 0,
        "DEFINED": 1,
        "TRANSITIONING": 2,
        "TRANSITION_FAILED": 3,
        "UNKNOWN": 5,
    }
    assert dict(mr.RuntimeStatusResponse.Status.items()) == {
        "STARTING": 0,
        "READY": 1,
        "FAILING": 2,
    }


def test_service_method_paths() -> None:
    services = {
        mm.DESCRIPTOR.services_by_name["ModelMesh"],
        mr.DESCRIPTOR.services_by_name["ModelRuntime"],
        v2.DESCRIPTOR.services_by_name["GRPCInferenceService"],
    }
    paths = {f"/{s.full_name}/{m.name}" for s in services for m in s.methods}
    assert paths == {
        "/mmesh.ModelMesh/registerModel",
        "/mmesh.ModelMesh/unregisterModel",
        "/mmesh.ModelMesh/getModelStatus",
        "/mmesh.ModelMesh/ensureLoaded",
        "/mmesh.ModelMesh/setVModel",
        "/mmesh.ModelMesh/deleteVModel",
        "/mmesh.ModelMesh/getVModelStatus",
        "/mmesh.ModelRuntime/loadModel",
        "/mmesh.ModelRuntime/unloadModel",
        "/mmesh.ModelRuntime/predictModelSize",
        "/mmesh.ModelRuntime/modelSize",
        "/mmesh.ModelRuntime/runtimeStatus",
        "/inference.GRPCInferenceService/ServerLive",
        "/inference.GRPCInferenceService/ServerReady",
        "/inference.GRPCInferenceService/ModelReady",
        "/inference.GRPCInferenceService/ServerMetadata",
        "/inference.GRPCInferenceService/ModelMetadata",
        "/inference.GRPCInferenceService/ModelInfer",
    }
    assert sys.modules["modelmesh.protos.model_mesh_pb2"] is mm


def test_checked_in_etcd_stubs_are_fresh(tmp_path: Path) -> None:
    generator = _load_generator()
    written = generator.generate(tmp_path, generator.ETCD_PROTO_DIR)
    assert written, "the generator wrote nothing"
    stale = [
        p.name
        for p in written
        if (generator.ETCD_PROTO_DIR / p.name).read_bytes() != p.read_bytes()
    ]
    assert not stale, f"etcd stubs are stale, run `make protos`: {stale}"


def test_etcd_wire_names_match_etcd() -> None:
    from modelmesh.mesh.kv.etcd_proto import etcd_kv_pb2 as mvcc
    from modelmesh.mesh.kv.etcd_proto import etcd_rpc_pb2 as rpc

    services = rpc.DESCRIPTOR.services_by_name
    paths = {f"/{s.full_name}/{m.name}" for s in services.values() for m in s.methods}
    assert {
        "/etcdserverpb.KV/Range",
        "/etcdserverpb.KV/Put",
        "/etcdserverpb.KV/DeleteRange",
        "/etcdserverpb.KV/Txn",
        "/etcdserverpb.Watch/Watch",
        "/etcdserverpb.Lease/LeaseGrant",
        "/etcdserverpb.Lease/LeaseRevoke",
        "/etcdserverpb.Lease/LeaseKeepAlive",
        "/etcdserverpb.Auth/Authenticate",
    } <= paths
    assert _fields(mvcc.KeyValue) == {
        "key": 1,
        "create_revision": 2,
        "mod_revision": 3,
        "version": 4,
        "value": 5,
        "lease": 6,
    }
    assert _fields(rpc.Compare) == {
        "result": 1,
        "target": 2,
        "key": 3,
        "version": 4,
        "create_revision": 5,
        "mod_revision": 6,
        "value": 7,
        "lease": 8,
        "range_end": 64,
    }
    assert _fields(rpc.WatchCreateRequest) == {
        "key": 1,
        "range_end": 2,
        "start_revision": 3,
        "progress_notify": 4,
        "filters": 5,
        "prev_kv": 6,
    }
    assert _fields(rpc.WatchResponse) == {
        "header": 1,
        "watch_id": 2,
        "created": 3,
        "canceled": 4,
        "compact_revision": 5,
        "cancel_reason": 6,
        "events": 11,
    }
