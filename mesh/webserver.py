"""The mesh's small HTTP servers (REST on 8008, probes on 8089, metrics on 2112) on aiohttp.

``start_http`` binds the port itself (0 picks a free one, and the bound port is reported)
and fails with ``Unavailable`` naming the port when it is taken, as the gRPC port does.
``server_ssl_context`` serves https from PEM files, or from a self-signed certificate made
at start when none are given (what upstream's metrics endpoint did).
"""

from __future__ import annotations

import importlib.util
import socket
import ssl
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web

from .errors import Unavailable


@dataclass
class HttpServer:
    runner: web.AppRunner
    port: int

    async def stop(self) -> None:
        """Close the port, let requests in flight finish (up to the runner's timeout)."""
        await self.runner.cleanup()


async def start_http(
    app: web.Application,
    host: str,
    port: int,
    *,
    what: str,
    ssl_context: ssl.SSLContext | None = None,
    shutdown_timeout_s: float = 10.0,
) -> HttpServer:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    # a restart may find its port in TIME_WAIT; SO_REUSEPORT stays off so that a second
    # process can't silently share a port that is in use
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise Unavailable(f"cannot listen on port {port} for {what}: {exc.strerror}") from exc
    bound: int = sock.getsockname()[1]
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout_s)
    await runner.setup()
    try:
        await web.SockSite(runner, sock, ssl_context=ssl_context).start()
    except BaseException:
        await runner.cleanup()
        sock.close()
        raise
    return HttpServer(runner, bound)


def server_ssl_context(cert_path: str = "", key_path: str = "") -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if cert_path:
        try:
            context.load_cert_chain(cert_path, key_path)
        except (OSError, ssl.SSLError) as exc:
            raise Unavailable(
                f"cannot use the TLS certificate {cert_path!r} and key {key_path!r}: {exc}"
            ) from exc
        return context
    if importlib.util.find_spec("cryptography") is None:
        raise Unavailable(
            "https without a certificate needs the cryptography package for a self-signed "
            "one: pip install cryptography, or set MM_TLS_KEY_CERT_PATH and "
            "MM_TLS_PRIVATE_KEY_PATH"
        )
    with tempfile.TemporaryDirectory(prefix="mm-tls-") as tmp:
        cert, key = _self_signed(Path(tmp))
        context.load_cert_chain(cert, key)
    return context


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for ``localhost``, valid a year, as two PEM files."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "modelmesh")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "tls.crt", directory / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file
