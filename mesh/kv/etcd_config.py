"""Where the etcd backend connects, from upstream's ``KV_STORE=etcd:...`` forms.

``parse_etcd_target`` takes what follows ``etcd:`` (settings.KvSettings.target), one of:

- endpoints: ``host:port[,host:port...]``, or URLs ``http(s)://host:port,...``
  (``https`` turns TLS on, checked against the system's CA certificates);
- the path of a JSON file holding upstream's ``etcd_connection`` document (the
  ``model-serving-etcd`` Secret, UPSTREAM.md §3.3), or that document inline (``{...}``)::

      {"endpoints": "https://etcd-0:2379,https://etcd-1:2379",  # or a list of strings
       "userid": "root", "password": "...", "root_prefix": "team-a",
       "certificate_file": "ca.pem",          # or "certificate": "<PEM>"
       "client_certificate_file": "cl.pem",   # or "client_certificate": "<PEM>"
       "client_key_file": "cl.key",           # or "client_key": "<PEM>"
       "override_authority": "etcd.internal"}

  Field names are those of the IBM etcd-java client upstream used; only ``endpoints`` is
  required, other fields are ignored. A relative ``*_file`` path is read from the JSON
  file's folder. A certificate or a client key/certificate turns TLS on.

Errors (``EtcdConfigError``) say what is wrong and never contain the password or a key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["DEFAULT_PORT", "EtcdConfig", "EtcdConfigError", "parse_etcd_target"]

DEFAULT_PORT = 2379
# host:port, host a name, an IPv4 address or a bracketed IPv6 address
_HOST_PORT = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+)(?::(\d+))?$")


class EtcdConfigError(ValueError):
    """The etcd connection settings cannot be used."""


@dataclass(frozen=True)
class EtcdConfig:
    """How to reach one etcd cluster. Secrets stay out of ``repr``."""

    # "host:port" each, without a scheme; tried in this order, failing over to the next
    endpoints: tuple[str, ...]
    tls: bool = False
    userid: str = ""
    password: str = field(default="", repr=False)
    # prefix of every key the mesh writes (KeyLayout.for_service's root_prefix)
    root_prefix: str = ""
    # PEM; None means the system's CA certificates (with tls)
    ca_cert: bytes | None = field(default=None, repr=False)
    client_cert: bytes | None = field(default=None, repr=False)
    client_key: bytes | None = field(default=None, repr=False)
    # the name to check the server certificate against, instead of each endpoint's host
    override_authority: str = ""

    def __post_init__(self) -> None:
        if not self.endpoints:
            raise EtcdConfigError("no etcd endpoints given")
        if self.password and not self.userid:
            raise EtcdConfigError("an etcd password is given without a userid")
        if (self.client_cert is None) != (self.client_key is None):
            raise EtcdConfigError(
                "a TLS client certificate and its key go together; only one is given"
            )
        if not self.tls and (self.ca_cert or self.client_cert or self.override_authority):
            raise EtcdConfigError(
                "TLS settings (certificate, client certificate, override_authority) "
                "are given but the endpoints use http://"
            )


def parse_etcd_target(
    target: str, *, read_file: Callable[[Path], bytes] = Path.read_bytes
) -> EtcdConfig:
    """The config for ``KV_STORE=etcd:<target>``; ``read_file`` reads the JSON and PEM files."""
    target = target.strip()
    if not target:
        raise EtcdConfigError(
            "etcd: needs endpoints (host:port,...) or the path of an etcd_connection JSON file"
        )
    if target.startswith("{"):
        document = _load_json(target.encode(), "the inline etcd_connection JSON")
        return _from_document(document, base=Path.cwd(), read_file=read_file)
    items = [item.strip() for item in target.split(",")]
    if all(_looks_like_endpoint(item) for item in items if item):
        return _from_endpoints(items)
    path = Path(target).expanduser()
    try:
        raw = read_file(path)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise EtcdConfigError(
            f"{target!r} is neither host:port endpoints nor a readable etcd_connection "
            f"JSON file: {reason}"
        ) from None
    document = _load_json(raw, f"the etcd_connection file {path}")
    return _from_document(document, base=path.parent, read_file=read_file)


def _looks_like_endpoint(item: str) -> bool:
    if "://" in item:
        return True
    match = _HOST_PORT.match(item)
    return match is not None and match.group(2) is not None


def _from_endpoints(items: list[str]) -> EtcdConfig:
    endpoints, scheme = _parse_endpoints(items)
    return EtcdConfig(endpoints=endpoints, tls=scheme == "https")


def _parse_endpoints(items: list[str]) -> tuple[tuple[str, ...], str]:
    """The "host:port" endpoints and their common scheme ("" when none is given)."""
    endpoints: list[str] = []
    schemes: set[str] = set()
    for item in items:
        if not item:
            raise EtcdConfigError("an etcd endpoint is empty (two commas in a row?)")
        scheme, host_port = _split_endpoint(item)
        schemes.add(scheme)
        endpoints.append(host_port)
    if len(schemes - {""}) > 1:
        raise EtcdConfigError("etcd endpoints mix http:// and https://")
    if len(schemes) > 1:
        raise EtcdConfigError("give every etcd endpoint a scheme (http:// or https://) or none")
    return tuple(endpoints), schemes.pop()


def _split_endpoint(item: str) -> tuple[str, str]:
    """("http" | "https" | "", "host:port") for one endpoint."""
    scheme = ""
    host_port = item
    if "://" in item:
        parts = urlsplit(item)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise EtcdConfigError(
                f"etcd endpoint {item!r}: the scheme must be http or https, not {parts.scheme!r}"
            )
        if parts.path not in ("", "/") or parts.query or parts.username or parts.password:
            raise EtcdConfigError(f"etcd endpoint {item!r}: expected {scheme}://host:port")
        host_port = parts.netloc
    match = _HOST_PORT.match(host_port)
    if match is None:
        raise EtcdConfigError(f"etcd endpoint {item!r} is not host:port")
    host, port_text = match.groups()
    port = int(port_text) if port_text else DEFAULT_PORT
    if not 0 < port < 65536:
        raise EtcdConfigError(f"etcd endpoint {item!r}: port {port} is out of range")
    return scheme, f"{host}:{port}"


def _load_json(raw: bytes, what: str) -> Mapping[str, object]:
    try:
        document = json.loads(raw)
    except UnicodeDecodeError:
        raise EtcdConfigError(f"{what} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        # the message names the position only, never the text (it may hold the password)
        raise EtcdConfigError(
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(document, dict):
        raise EtcdConfigError(f"{what} must hold a JSON object, not {type(document).__name__}")
    return document


def _from_document(
    doc: Mapping[str, object], *, base: Path, read_file: Callable[[Path], bytes]
) -> EtcdConfig:
    raw_endpoints = doc.get("endpoints")
    if isinstance(raw_endpoints, str):
        items = [item.strip() for item in raw_endpoints.split(",")]
    elif isinstance(raw_endpoints, list) and all(isinstance(e, str) for e in raw_endpoints):
        items = [item.strip() for item in raw_endpoints]
    else:
        raise EtcdConfigError(
            "etcd_connection: 'endpoints' is required: a comma-separated string or a list of "
            "strings"
        )
    endpoints, scheme = _parse_endpoints(items)
    ca_cert = _pem(doc, "certificate", base, read_file)
    client_cert = _pem(doc, "client_certificate", base, read_file)
    client_key = _pem(doc, "client_key", base, read_file)
    override_authority = _string(doc, "override_authority")
    tls_material = bool(ca_cert or client_cert or client_key or override_authority)
    return EtcdConfig(
        endpoints=endpoints,
        tls=scheme == "https" or (scheme == "" and tls_material),
        userid=_string(doc, "userid"),
        password=_string(doc, "password"),
        root_prefix=_string(doc, "root_prefix"),
        ca_cert=ca_cert,
        client_cert=client_cert,
        client_key=client_key,
        override_authority=override_authority,
    )


def _string(doc: Mapping[str, object], name: str) -> str:
    value = doc.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        # the value itself is left out: it may be the password
        raise EtcdConfigError(f"etcd_connection: {name!r} must be a string")
    return value


def _pem(
    doc: Mapping[str, object], name: str, base: Path, read_file: Callable[[Path], bytes]
) -> bytes | None:
    """The PEM text of ``name`` (inline) or ``name_file`` (a path), or None."""
    inline = _string(doc, name)
    file_name = _string(doc, f"{name}_file")
    if inline and file_name:
        raise EtcdConfigError(f"etcd_connection: give {name!r} or '{name}_file', not both")
    if inline:
        data, source = inline.encode(), repr(name)
    elif file_name:
        path = base / Path(file_name).expanduser()
        source = f"'{name}_file' {path}"
        try:
            data = read_file(path)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise EtcdConfigError(f"etcd_connection: cannot read {source}: {reason}") from None
    else:
        return None
    if b"-----BEGIN" not in data:
        raise EtcdConfigError(f"etcd_connection: {source} holds no PEM data")
    return data
