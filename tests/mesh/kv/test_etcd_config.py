"""KV_STORE=etcd:... forms (mesh/kv/etcd_config.py): endpoints, URLs, etcd_connection JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelmesh.mesh.kv.etcd_config import EtcdConfig, EtcdConfigError, parse_etcd_target

PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KEY = b"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"
PASSWORD = "pa55-w0rd-never-shown"


def files(**contents: bytes | str | dict[str, object]) -> dict[Path, bytes]:
    """In-memory files under /conf: JSON for dicts, the bytes or text otherwise."""
    out = {}
    for name, content in contents.items():
        if isinstance(content, dict):
            content = json.dumps(content)
        out[Path("/conf") / name] = content.encode() if isinstance(content, str) else content
    return out


def parse(target: str, fs: dict[Path, bytes] | None = None) -> EtcdConfig:
    def read(path: Path) -> bytes:
        try:
            return (fs or {})[path]
        except KeyError:
            raise FileNotFoundError(2, "No such file or directory", str(path)) from None

    return parse_etcd_target(target, read_file=read)


@pytest.mark.parametrize(
    ("target", "endpoints", "tls"),
    [
        ("127.0.0.1:2379", ("127.0.0.1:2379",), False),
        (" etcd-0:2379, etcd-1:2380 ", ("etcd-0:2379", "etcd-1:2380"), False),
        ("http://etcd:2379,http://etcd-1:2379/", ("etcd:2379", "etcd-1:2379"), False),
        ("https://etcd.example.com:2379", ("etcd.example.com:2379",), True),
        ("http://etcd", ("etcd:2379",), False),
        ("[::1]:2379", ("[::1]:2379",), False),
    ],
)
def test_endpoint_forms(target: str, endpoints: tuple[str, ...], tls: bool) -> None:
    config = parse(target)
    assert (config.endpoints, config.tls) == (endpoints, tls)
    assert (config.userid, config.password, config.root_prefix) == ("", "", "")


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("", "needs endpoints"),
        ("ftp://etcd:2379", "scheme must be http or https"),
        ("http://a:2379,https://b:2379", "mix http:// and https://"),
        ("http://a:2379,b:2379", "a scheme"),
        ("a:2379,,b:2379", "empty"),
        ("etcd:99999", "out of range"),
        ("http://etcd:2379/v3", "expected http://host:port"),
        ("no-such-file.json", "neither host:port endpoints nor a readable"),
    ],
)
def test_bad_targets_say_what_is_wrong(target: str, message: str) -> None:
    with pytest.raises(EtcdConfigError, match=message):
        parse(target)


def test_json_file_with_every_field() -> None:
    fs = files(
        **{
            "etcd_connection": {
                "endpoints": "https://etcd-0:2379,https://etcd-1:2379",
                "userid": "root",
                "password": PASSWORD,
                "root_prefix": "team-a",
                "certificate_file": "ca.pem",
                "client_certificate_file": "/conf/client.pem",
                "client_key": KEY.decode(),
                "override_authority": "etcd.internal",
                "some_future_field": 1,
            },
            "ca.pem": PEM,
            "client.pem": PEM,
        }
    )
    config = parse("/conf/etcd_connection", fs)
    assert config == EtcdConfig(
        endpoints=("etcd-0:2379", "etcd-1:2379"),
        tls=True,
        userid="root",
        password=PASSWORD,
        root_prefix="team-a",
        ca_cert=PEM,
        client_cert=PEM,
        client_key=KEY,
        override_authority="etcd.internal",
    )
    assert PASSWORD not in repr(config) and "PRIVATE" not in repr(config)


def test_json_endpoints_as_a_list_and_tls_from_a_certificate_alone() -> None:
    fs = files(c={"endpoints": ["etcd-0:2379", "etcd-1:2379"], "certificate": PEM.decode()})
    config = parse("/conf/c", fs)
    assert config.endpoints == ("etcd-0:2379", "etcd-1:2379")
    assert config.tls is True and config.ca_cert == PEM


def test_inline_json() -> None:
    config = parse('{"endpoints": "http://127.0.0.1:2379", "root_prefix": "x"}')
    assert config.endpoints == ("127.0.0.1:2379",) and config.root_prefix == "x"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"userid": "root"}, "'endpoints' is required"),
        ({"endpoints": ""}, "empty"),
        ({"endpoints": [1, 2]}, "'endpoints' is required"),
        ({"endpoints": "a:1", "password": PASSWORD}, "password is given without a userid"),
        ({"endpoints": "a:1", "userid": "u", "password": 1234}, "'password' must be a string"),
        (
            {"endpoints": "a:1", "certificate": PEM.decode(), "certificate_file": "ca.pem"},
            "not both",
        ),
        ({"endpoints": "a:1", "client_key": KEY.decode()}, "go together"),
        ({"endpoints": "a:1", "certificate_file": "missing.pem"}, "cannot read"),
        ({"endpoints": "a:1", "certificate": "not a pem"}, "no PEM data"),
        ({"endpoints": "http://a:1", "certificate": PEM.decode()}, "endpoints use http://"),
    ],
)
def test_bad_documents_say_what_is_wrong(document: dict[str, object], message: str) -> None:
    with pytest.raises(EtcdConfigError, match=message):
        parse("/conf/c", files(c=document))


@pytest.mark.parametrize(
    "text",
    [
        f'{{"endpoints": "a:1", "userid": "root", "password": "{PASSWORD}",',
        f'["a:1", "{PASSWORD}"]',
    ],
)
def test_unreadable_json_never_shows_the_password(text: str) -> None:
    with pytest.raises(EtcdConfigError) as caught:
        parse("/conf/c", files(c=text))
    assert "/conf/c" in str(caught.value)
    assert PASSWORD not in str(caught.value)


def test_password_never_in_errors_of_wrong_types() -> None:
    with pytest.raises(EtcdConfigError) as caught:
        parse("/conf/c", files(c={"endpoints": "a:1", "userid": "u", "password": [PASSWORD]}))
    assert PASSWORD not in str(caught.value)
