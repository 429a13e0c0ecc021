"""Steady inference traffic from inside the cluster, counting failures (the kind test's
client during a rolling restart). Runs in the modelmesh image as a Job:

    python3 traffic.py <target> <model> <seconds>

``target`` is a gRPC target such as ``dns:///modelmesh-serving.modelmesh-serving:8033``: the
headless Service resolves to every runtime pod and the client balances over them
(round_robin), re-resolving as pods come and go, as upstream's clients do. A request that
fails is retried once on another connection, as a Service-backed client would; one that
fails twice is counted. Prints one JSON line: {"ok": n, "failed": m, "errors": [...]}.
"""

from __future__ import annotations

import json
import sys
import time

import grpc

from modelmesh.protos import grpc_predict_v2_pb2 as pb
from modelmesh.protos import grpc_predict_v2_pb2_grpc as pb_grpc

# scikit-learn's digits sample of a zero
ROW = [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0, 0, 4]
ROW += [12, 0, 0, 8, 8, 0, 0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0, 0, 2, 14, 5, 10]
ROW += [12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0]
RETRIED = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


def request(model: str) -> pb.ModelInferRequest:
    tensor = pb.ModelInferRequest.InferInputTensor(
        name="predict",
        datatype="FP32",
        shape=[1, len(ROW)],
        contents=pb.InferTensorContents(fp32_contents=[float(x) for x in ROW]),
    )
    return pb.ModelInferRequest(model_name=model, inputs=[tensor])


def main(target: str, model: str, seconds: float) -> int:
    options = [
        ("grpc.lb_policy_name", "round_robin"),
        ("grpc.dns_min_time_between_resolutions_ms", 1000),
    ]
    channel = grpc.insecure_channel(target, options=options)
    infer = pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer
    message = request(model)
    ok, errors = 0, []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for attempt in (1, 2):
            try:
                infer(message, timeout=30)
                ok += 1
                break
            except grpc.RpcError as exc:
                if attempt == 2 or exc.code() not in RETRIED:
                    errors.append(f"{exc.code().name}: {exc.details()}")
                    break
        time.sleep(0.05)
    print(json.dumps({"ok": ok, "failed": len(errors), "errors": errors[:20]}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
