"""Generated requests against a running mesh's gRPC port: the ModelMesh API's fields, raw
bytes to every ModelMesh method, the routing headers, and V2 ModelInfer (built messages
and raw bytes). Every reply is a valid answer or a status with a client-error code and a
message; nothing hangs, nothing is logged as an unexpected error, and afterwards the mesh
serves a normal request. 7,700 examples in all."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelmesh.protos import grpc_predict_v2_pb2 as v2
from modelmesh.protos import grpc_predict_v2_pb2_grpc as v2_grpc
from modelmesh.protos import model_mesh_pb2 as pb
from modelmesh.protos import model_mesh_pb2_grpc as mm_grpc
from modelmesh.runtimes.tensors import build_infer_request
from tests.fuzz.conftest import CALL_TIMEOUT_S, RunningMesh, check_rpc_error
from tests.fuzz.strategies import datatypes, fuzz, ids, numbers, shapes
from tests.support.models import digits

pytestmark = pytest.mark.slow

PROTECTED = {"digits", "digits-v"}
MM_METHODS = [
    "registerModel",
    "unregisterModel",
    "getModelStatus",
    "ensureLoaded",
    "setVModel",
    "deleteVModel",
    "getVModelStatus",
]
MODEL_STATUSES = set(pb.ModelStatusInfo.ModelStatus.values())
VMODEL_STATUSES = set(pb.VModelStatusInfo.VModelStatus.values())
MODEL_TYPES = st.one_of(st.sampled_from(["sklearn", "mt:sklearn", "onnx", "xgboost"]), ids)


def stub(mesh: RunningMesh) -> mm_grpc.ModelMeshStub:
    return mm_grpc.ModelMeshStub(mesh.channel)


def call(method: object, request: object, **kwargs: object) -> object | None:
    """The reply, or None after checking the status the call ended with."""
    try:
        return method(request, timeout=CALL_TIMEOUT_S, **kwargs)  # type: ignore[operator]
    except grpc.RpcError as error:
        check_rpc_error(error)
        return None


@fuzz(1200)
@given(
    model_id=ids,
    model_type=MODEL_TYPES,
    path=ids,
    key=ids,
    load_now=st.booleans(),
    last_used=st.integers(0, 2**64 - 1),
)
def test_register_and_unregister(
    mesh: RunningMesh,
    model_id: str,
    model_type: str,
    path: str,
    key: str,
    load_now: bool,
    last_used: int,
) -> None:
    s = stub(mesh)
    request = pb.RegisterModelRequest(
        modelId=model_id,
        modelInfo=pb.ModelInfo(type=model_type, path=path, key=key),
        loadNow=load_now,
        lastUsedTime=last_used,
    )
    reply = call(s.registerModel, request)
    if reply is not None:
        assert reply.status in MODEL_STATUSES  # type: ignore[attr-defined]
    if model_id not in PROTECTED:
        call(s.unregisterModel, pb.UnregisterModelRequest(modelId=model_id))


@fuzz(1000)
@given(model_id=ids, last_used=st.integers(0, 2**64 - 1), sync=st.booleans())
def test_status_and_ensure_loaded(
    mesh: RunningMesh, model_id: str, last_used: int, sync: bool
) -> None:
    s = stub(mesh)
    reply = call(s.getModelStatus, pb.GetStatusRequest(modelId=model_id))
    if reply is not None:
        assert reply.status in MODEL_STATUSES  # type: ignore[attr-defined]
    request = pb.EnsureLoadedRequest(modelId=model_id, lastUsedTime=last_used, sync=sync)
    reply = call(s.ensureLoaded, request)
    if reply is not None:
        assert reply.status in MODEL_STATUSES  # type: ignore[attr-defined]


@fuzz(1000)
@given(
    vmodel_id=ids,
    owner=ids,
    target=st.one_of(st.just("digits"), ids),
    expected=st.one_of(st.just(""), ids),
    with_info=st.booleans(),
    flags=st.tuples(*[st.booleans()] * 5),
)
def test_vmodels(
    mesh: RunningMesh,
    vmodel_id: str,
    owner: str,
    target: str,
    expected: str,
    with_info: bool,
    flags: tuple[bool, bool, bool, bool, bool],
) -> None:
    s = stub(mesh)
    update_only, auto_delete, load_now, force, _ = flags
    request = pb.SetVModelRequest(
        vModelId=vmodel_id,
        owner=owner,
        targetModelId=target,
        updateOnly=update_only,
        autoDeleteTargetModel=auto_delete,
        loadNow=load_now,
        force=force,
        expectedTargetModelId=expected,
    )
    if with_info:
        request.modelInfo.CopyFrom(pb.ModelInfo(type="sklearn", path=target))
    reply = call(s.setVModel, request)
    if reply is not None:
        assert reply.status in VMODEL_STATUSES  # type: ignore[attr-defined]
    reply = call(s.getVModelStatus, pb.GetVModelStatusRequest(vModelId=vmodel_id, owner=owner))
    if reply is not None:
        assert reply.status in VMODEL_STATUSES  # type: ignore[attr-defined]
    if vmodel_id not in PROTECTED:
        call(s.deleteVModel, pb.DeleteVModelRequest(vModelId=vmodel_id, owner=owner))
    if target not in PROTECTED and with_info:
        call(s.unregisterModel, pb.UnregisterModelRequest(modelId=target))


@fuzz(1000)
@given(method=st.sampled_from(MM_METHODS), body=st.binary(max_size=300))
def test_raw_bytes_to_the_modelmesh_api(mesh: RunningMesh, method: str, body: bytes) -> None:
    rpc = mesh.channel.unary_unary(f"/mmesh.ModelMesh/{method}")
    try:
        rpc(body, timeout=CALL_TIMEOUT_S)
    except grpc.RpcError as error:
        check_rpc_error(error)


HEADER_KEYS = [
    "mm-model-id",
    "mm-vmodel-id",
    "tas-model-id",
    "mm-balanced",
    "mm-required",
    "mm-hop",
    "mm-placed-bin",
    "mm-model-id-bin",
    "mm-vmodel-id-bin",
    "x-anything",
]
ascii_values = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60),
    st.sampled_from(["digits", "digits-v", "hit_only", "load_local_only", "true", "all"]),
)
headers = st.lists(
    st.sampled_from(HEADER_KEYS).flatmap(
        lambda k: st.tuples(
            st.just(k),
            st.one_of(st.binary(max_size=60), ids.map(lambda t: t.encode("utf-8", "replace")))
            if k.endswith("-bin")
            else ascii_values,
        )
    ),
    max_size=4,
)


@fuzz(1200)
@given(metadata=headers, name=st.one_of(st.just("digits"), st.just(""), ids))
def test_routing_headers(
    mesh: RunningMesh, metadata: list[tuple[str, str | bytes]], name: str
) -> None:
    request = build_infer_request(name, {"x": np.asarray(digits()[0][:1])})
    reply = call(
        v2_grpc.GRPCInferenceServiceStub(mesh.channel).ModelInfer, request, metadata=metadata
    )
    if reply is not None:
        assert reply.outputs  # type: ignore[attr-defined]


tensor = st.builds(
    lambda name, datatype, shape, fp32, ints, blobs: v2.ModelInferRequest.InferInputTensor(
        name=name,
        datatype=datatype,
        shape=shape,
        contents=v2.InferTensorContents(
            fp32_contents=fp32, int64_contents=ints, bytes_contents=blobs
        ),
    ),
    st.text(max_size=8),
    datatypes,
    shapes,
    numbers(st.floats(width=32)),
    numbers(st.integers(-(2**63), 2**63 - 1)),
    st.lists(st.binary(max_size=10), max_size=4),
)


@fuzz(1300)
@given(
    name=st.one_of(st.sampled_from(["digits", "digits-v"]), ids),
    inputs=st.lists(tensor, max_size=3),
    raw=st.lists(st.binary(max_size=300), max_size=3),
    outputs=st.lists(st.text(max_size=12), max_size=2),
    parameters=st.dictionaries(st.text(max_size=8), st.integers(-(2**63), 2**63 - 1), max_size=2),
)
def test_v2_infer_messages(
    mesh: RunningMesh,
    name: str,
    inputs: list[v2.ModelInferRequest.InferInputTensor],
    raw: list[bytes],
    outputs: list[str],
    parameters: dict[str, int],
) -> None:
    request = v2.ModelInferRequest(model_name=name, inputs=inputs, raw_input_contents=raw)
    for out in outputs:
        request.outputs.add(name=out)
    for k, value in parameters.items():
        request.parameters[k].int64_param = value
    reply = call(v2_grpc.GRPCInferenceServiceStub(mesh.channel).ModelInfer, request)
    if reply is not None:
        assert reply.model_name  # type: ignore[attr-defined]


@fuzz(1000)
@given(
    body=st.one_of(
        st.binary(max_size=400),
        # a valid message with garbage appended or cut short
        st.tuples(st.integers(0, 2000), st.binary(max_size=40)).map(
            lambda cut: (
                build_infer_request(
                    "digits", {"x": np.asarray(digits()[0][:1])}
                ).SerializeToString()[: cut[0]]
                + cut[1]
            )
        ),
    ),
    method=st.sampled_from(["ModelInfer", "ModelMetadata", "ModelReady", "ServerReady"]),
)
def test_v2_raw_bytes(mesh: RunningMesh, body: bytes, method: str) -> None:
    rpc = mesh.channel.unary_unary(f"/inference.GRPCInferenceService/{method}")
    try:
        rpc(body, timeout=CALL_TIMEOUT_S)
    except grpc.RpcError as error:
        check_rpc_error(error)


def test_the_mesh_still_serves_and_logged_no_crash(mesh: RunningMesh) -> None:
    request = build_infer_request("digits-v", {"x": np.asarray(digits()[0][:2])})
    reply = v2_grpc.GRPCInferenceServiceStub(mesh.channel).ModelInfer(request, timeout=30)
    assert reply.model_name == "digits" and reply.outputs
    assert mesh.errors.lines() == []
