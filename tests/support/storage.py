"""Real storage servers for tests, all on 127.0.0.1: S3 (moto in process, s3rver from
npm), Google Cloud Storage's API (gcp-storage-emulator) with a token endpoint, Azure Blob
Storage (Azurite from npm), an HTTP file server, and a server that accepts connections and
never answers (for timeouts). The npm servers install into the venv on first use.

moto runs in this process (``ThreadedMotoServer``) with IAM authentication switched on, so
requests must carry a valid Signature Version 4 from a key it issued: wrong credentials
fail as they would against real S3. Its state is process-wide; tests use their own buckets.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=REGION,
        )

    def new_bucket(self) -> str:
        name = f"models-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def upload(self, bucket: str, key: str, path: Path) -> None:
        self.client().put_object(Bucket=bucket, Key=key, Body=path.read_bytes())

    def entry(self, bucket: str | None = None, **fields: str) -> dict[str, str]:
        """A storage-config entry for this server (fields override)."""
        entry = {
            "type": "s3",
            "access_key_id": self.access_key,
            "secret_access_key": self.secret_key,
            "endpoint_url": self.endpoint,
            "region": REGION,
        }
        if bucket:
            entry["bucket"] = bucket
        return {**entry, **fields}


@contextmanager
def moto_s3() -> Iterator[S3Server]:
    """moto's S3 on a free loopback port, with an IAM user allowed everything."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
            region_name=REGION,
        )
        iam.create_user(UserName="puller")
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
        iam.put_user_policy(UserName="puller", PolicyName="all", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="puller")["AccessKey"]
        # from now on every request must be signed with a key moto knows
        from moto import settings
        from moto.core.authorization import ActionAuthenticatorMixin

        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
        ActionAuthenticatorMixin.request_count = 0
        yield S3Server(endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        server.stop()


def write_storage_config(directory: Path, key: str, entry: dict[str, Any]) -> Path:
    """Write one storage-config key as a mounted Secret holds it: a file named by the key."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / key
    path.write_text(json.dumps(entry))
    return path


@dataclass
class FileServer:
    """An HTTP server over a directory; records each request's path and headers."""

    url: str
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    # request path -> Location: answered with a 302 redirect instead of a file
    redirects: dict[str, str] = field(default_factory=dict)


@contextmanager
def file_server(directory: Path, tls: ssl.SSLContext | None = None) -> Iterator[FileServer]:
    """Serve ``directory`` over HTTP, or HTTPS with the server context ``tls``."""
    served = FileServer(url="")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            served.requests.append((self.path, dict(self.headers.items())))
            target = served.redirects.get(self.path)
            if target:
                self.send_response(302)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            super().do_GET()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(directory))
    )
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    served.url = f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def stalling_server() -> Iterator[str]:
    """``http://127.0.0.1:port`` of a socket that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


@contextmanager
def gcs_emulator() -> Iterator[str]:
    """``gcp-storage-emulator`` (Google Cloud Storage's JSON API, in memory) on loopback.

    It does not check credentials; ``token_server`` stands in for Google's token endpoint.
    """
    from gcp_storage_emulator.server import create_server

    server = create_server("127.0.0.1", 0, in_memory=True)
    server.start()
    try:
        yield f"http://127.0.0.1:{server._api._httpd.server_address[1]}"
    finally:
        server.stop()


@contextmanager
def token_server(*, accept: bool) -> Iterator[str]:
    """An OAuth2 token endpoint on loopback: grants every assertion, or refuses every one as
    Google does a wrongly signed one."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if accept:
                status, body = 200, {"access_token": "test-token", "expires_in": 3600}
            else:
                status, body = 400, {"error": "invalid_grant", "error_description": "Invalid JWT"}
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/token"
    finally:
        server.shutdown()
        server.server_close()


def private_key_pem() -> str:
    """A fresh RSA private key in PEM, as a service account's ``private_key`` holds one."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


# Azurite's development account: a fixed, published key, not a secret
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
AZURITE_VERSION = "3.37.0"


def azurite_connection_string(blob_endpoint: str, key: str = AZURITE_KEY) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={key};"
        f"BlobEndpoint={blob_endpoint}/{AZURITE_ACCOUNT};"
    )


@contextmanager
def azurite() -> Iterator[str]:
    """Microsoft's Azurite blob emulator (npm) on loopback, in memory: its blob endpoint.

    Installed on first use into the virtual environment (``<venv>/azurite``, ~1.5 min, 365 MB);
    the test is skipped when npm cannot install it. It checks Shared Key signatures.
    """
    binary = _npm_tool("azurite", AZURITE_VERSION, Path(".bin", "azurite-blob"))
    options = ["--blobHost", "127.0.0.1", "--blobPort", "0", "--inMemoryPersistence"]
    options += ["--skipApiVersionCheck", "--loose", "--extentMemoryLimit", "64"]
    process = subprocess.Popen(
        [str(binary), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "NODE_NO_WARNINGS": "1"},
    )
    try:
        yield _listening(process, "successfully listens on ")
    finally:
        process.terminate()
        process.wait(timeout=10)


S3RVER_VERSION = "3.7.1"


@contextmanager
def s3rver(directory: Path) -> Iterator[S3Server]:
    """The npm package ``s3rver`` (S3 on files in ``directory``) on loopback: a second S3
    implementation beside moto. It checks signatures against its one key pair.

    Installed on first use into the virtual environment (``<venv>/s3rver``, ~7 s, 14 MB);
    the test is skipped when npm cannot install it.
    """
    binary = _npm_tool("s3rver", S3RVER_VERSION, Path("s3rver", "bin", "s3rver.js"))
    directory.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        ["node", str(binary), "-a", "127.0.0.1", "-p", "0", "-d", str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        address = _listening(process, "S3rver listening on ")
        yield S3Server(f"http://{address}", "S3RVER", "S3RVER")
    finally:
        process.terminate()
        process.wait(timeout=10)


def _npm_tool(package: str, version: str, entry: Path) -> Path:
    """``node_modules/<entry>`` of ``package@version``, installed into ``<venv>/<package>``
    on first use; skips the calling test when npm cannot install it."""
    import pytest

    root = Path(sys.prefix) / package
    binary = root / "node_modules" / entry
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip(f"npm is not installed: {package} cannot run")
    root.mkdir(parents=True, exist_ok=True)
    command = [npm, "install", "--prefix", str(root), "--no-audit", "--no-fund", "--silent"]
    done = subprocess.run([*command, f"{package}@{version}"], capture_output=True, timeout=600)
    if done.returncode != 0 or not binary.exists():
        pytest.skip(f"npm could not install {package}: {done.stderr.decode()[-300:]}")
    return binary


def _listening(process: subprocess.Popen[bytes], marker: str) -> str:
    """What follows ``marker`` in the line a server prints once it listens; the rest of its
    output is drained in the background."""
    assert process.stdout is not None
    for line in process.stdout:
        text = line.decode(errors="replace")
        if marker in text:
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return text.split(marker, 1)[1].strip()
    raise RuntimeError(f"the server exited before printing {marker!r}")


@dataclass(frozen=True)
class Certificates:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all PEM."""

    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str

    def server_context(self, directory: Path, *, require_client: bool) -> ssl.SSLContext:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "server.pem").write_text(self.server_cert + self.server_key)
        (directory / "ca.pem").write_text(self.ca)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(directory / "server.pem")
        if require_client:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(directory / "ca.pem")
        return context


def make_certificates() -> Certificates:
    """Fresh certificates, made with ``cryptography`` for this test run."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def issue(
        name: str, key: Any, issuer: Any, issuer_key: Any, *, ca: bool, san: bool = False
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if san:
            address = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
            builder = builder.add_extension(x509.SubjectAlternativeName([address]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    def pem(item: Any) -> str:
        if isinstance(item, x509.Certificate):
            return item.public_bytes(serialization.Encoding.PEM).decode()
        return item.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = issue("test CA", ca_key, ca_name, ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = issue("127.0.0.1", server_key, ca.subject, ca_key, ca=False, san=True)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = issue("puller", client_key, ca.subject, ca_key, ca=False)
    return Certificates(pem(ca), pem(server), pem(server_key), pem(client), pem(client_key))
