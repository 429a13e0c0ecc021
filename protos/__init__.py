"""Generated gRPC/protobuf stubs of the wire protocols; regenerate with ``make protos``.

- ``model_mesh_pb2[_grpc]``: the ``mmesh.ModelMesh`` management API,
- ``model_runtime_pb2[_grpc]``: the ``mmesh.ModelRuntime`` runtime API,
- ``grpc_predict_v2_pb2[_grpc]``: KServe V2 ``inference.GRPCInferenceService``.
"""
