"""Generated requests against a running mesh's KServe V2 REST port: inference bodies (JSON
of any shape, and V2-shaped bodies with odd tensors), the binary-data header, and model
names in the path. Every reply is JSON: 200 with outputs, or a 4xx/5xx the mesh means
({"error": "..."}, never a 500); nothing hangs, and afterwards the mesh serves a normal
request. 1,800 examples in all."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.conftest import CALL_TIMEOUT_S, RunningMesh
from tests.fuzz.strategies import datatypes, fuzz, ids, json_values, numbers, shapes

pytestmark = pytest.mark.slow

# statuses a refusal may have; 500 is a crash, 504 a hang
REFUSALS = {400, 403, 404, 405, 409, 413, 429, 501, 503}


@pytest.fixture(scope="module")
def rest(mesh: RunningMesh) -> Iterator[http.client.HTTPConnection]:
    port = int(mesh.rest_url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=CALL_TIMEOUT_S)
    yield connection
    connection.close()


def send(
    rest: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """The status and the JSON document of the reply; the reply must be JSON."""
    try:
        rest.request(method, path, body=body, headers=headers or {})
        reply = rest.getresponse()
        data = reply.read()
    except BaseException:
        rest.close()  # start the next example on a clean connection
        raise
    if reply.status == 200 and reply.getheader("Content-Type", "").startswith(
        "application/octet-stream"
    ):
        length = int(reply.getheader("Inference-Header-Content-Length") or 0)
        return reply.status, json.loads(data[:length])
    return reply.status, json.loads(data)


def check(status: int, doc: Any) -> None:
    if status == 200:
        assert isinstance(doc, dict)
        return
    assert status in REFUSALS, (status, doc)
    assert isinstance(doc, dict) and isinstance(doc.get("error"), str) and doc["error"], doc


# aiohttp answers a request line past 8190 bytes itself, with a plain-text 400 (see
# test_an_overlong_request_line_is_a_400): names stay below that once percent-encoded
names = st.one_of(
    st.sampled_from(["digits", "digits-v"]),
    ids.filter(lambda s: len(quote(s, safe="")) < 8000),
)


def infer_path(name: str) -> str:
    return f"/v2/models/{quote(name, safe='')}/infer"


@fuzz(600)
@given(name=names, body=json_values)
def test_any_json_body(
    mesh: RunningMesh, rest: http.client.HTTPConnection, name: str, body: Any
) -> None:
    check(*send(rest, "POST", infer_path(name), json.dumps(body).encode()))


tensor_json = st.fixed_dictionaries(
    {
        "name": st.text(max_size=8),
        "shape": shapes,
        "datatype": datatypes,
        "data": st.one_of(
            numbers(st.floats(allow_nan=False, width=32)),
            numbers(st.integers(-(2**64), 2**64)),
            st.lists(numbers(st.floats(allow_nan=False)), max_size=4),
            st.lists(st.text(max_size=5), max_size=4),
            json_values,
        ),
    },
    optional={
        "parameters": st.dictionaries(st.text(max_size=10), json_values, max_size=3),
    },
)


@fuzz(800)
@given(
    name=names,
    inputs=st.lists(tensor_json, max_size=3),
    outputs=st.lists(
        st.fixed_dictionaries(
            {"name": st.text(max_size=10)},
            optional={"parameters": st.dictionaries(st.text(max_size=12), json_values)},
        ),
        max_size=2,
    ),
    extra=st.dictionaries(st.sampled_from(["id", "parameters", "outputs"]), json_values),
)
def test_v2_shaped_bodies(
    mesh: RunningMesh,
    rest: http.client.HTTPConnection,
    name: str,
    inputs: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
    extra: dict[str, Any],
) -> None:
    body = {**extra, "inputs": inputs}
    if outputs:
        body["outputs"] = outputs
    check(*send(rest, "POST", infer_path(name), json.dumps(body).encode()))


@fuzz(400)
@given(
    name=names,
    raw=st.binary(max_size=600),
    header_length=st.one_of(
        st.none(),
        st.integers(-5, 700).map(str),
        st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=6),
    ),
    method=st.sampled_from(["POST", "GET"]),
    suffix=st.sampled_from(["/infer", "", "/ready", "/versions/1/infer"]),
)
def test_raw_bodies_and_the_binary_header(
    mesh: RunningMesh,
    rest: http.client.HTTPConnection,
    name: str,
    raw: bytes,
    header_length: str | None,
    method: str,
    suffix: str,
) -> None:
    headers = {}
    if header_length is not None:
        headers["Inference-Header-Content-Length"] = header_length
    path = f"/v2/models/{quote(name, safe='')}{suffix}"
    check(*send(rest, method, path, raw if method == "POST" else None, headers))


def test_an_overlong_request_line_is_a_400(rest: http.client.HTTPConnection) -> None:
    rest.request("GET", "/v2/models/" + "a" * 9000)
    reply = rest.getresponse()
    reply.read()
    assert reply.status == 400


def test_the_mesh_still_serves_and_logged_no_crash(
    mesh: RunningMesh, rest: http.client.HTTPConnection
) -> None:
    body = {"inputs": [{"name": "x", "shape": [1, 64], "datatype": "FP32", "data": [0.0] * 64}]}
    status, doc = send(rest, "POST", infer_path("digits-v"), json.dumps(body).encode())
    assert status == 200 and doc["model_name"] == "digits", doc
    assert mesh.errors.lines() == []
