"""TLS for the mesh: its gRPC port (8033), its REST port (8008) and its calls to peers.

Configured by upstream's ``MM_TLS_*`` variables (``settings.TlsSettings``); ``app.py`` makes
one ``MeshTls`` and hands it to the gRPC server, ``frontends.py`` (REST) and ``peers.py``.

Certificates rotate without a restart. ``MeshTls.refresh`` notes the files' identity
(inode, size, modification time) and reads them again when it changes, as when Kubernetes
swaps a mounted Secret; a pair that does not load (a key that does not match its
certificate, a file caught half-written) is logged and the last good pair kept. Who asks:

- the gRPC server, on each new connection: grpc's dynamic server credentials call
  ``_fetch``, which hands over the new pair once it changed;
- the REST port, on each handshake: the SSL context's SNI callback (run for every
  ClientHello) switches the connection to a context holding the new pair;
- peer channels, at most once a second: after a change they are made anew (the old ones
  close once their calls are done).

Connections already open keep the keys they started with.

Client certificates (``MM_TLS_CLIENT_AUTH``): ``require`` refuses a connection without a
certificate signed by a CA in ``MM_TLS_TRUST_CERT_PATH`` on both ports; ``optional`` lets
clients without one in, and on REST checks one that is sent (Python's gRPC cannot ask for
an optional client certificate, so its port does not ask). Peers always present this
instance's certificate, so a cluster with ``require`` forwards among itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import grpc

from .errors import Unavailable
from .settings import TlsSettings

log = logging.getLogger(__name__)

# peers look at the files at most this often (a stat per forwarded call would be waste)
_PEER_CHECK_S = 1.0

Stamp = tuple[tuple[int, int, int], ...]


@dataclass(frozen=True)
class Material:
    """One consistent reading of the files: PEM bytes and an SSL context made from them."""

    cert: bytes
    key: bytes
    trust: bytes | None
    context: ssl.SSLContext


class MeshTls:
    """The instance's certificate, key and trusted CAs, re-read when the files change."""

    def __init__(self, settings: TlsSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()  # grpc's fetcher runs on grpc's own threads
        self._stamp = self._stamp_now()
        self.material = self._read()
        # bumped on every successful re-read; each user compares it with what it holds
        self.generation = 0
        self._checked = time.monotonic()

    # -- reading the files --------------------------------------------------------------

    def _paths(self) -> list[str]:
        s = self.settings
        return [p for p in (s.cert_path, s.key_path, s.trust_path) if p]

    def _stamp_now(self) -> Stamp:
        stamps = []
        for path in self._paths():
            try:
                st = os.stat(path)
            except OSError:
                stamps.append((0, 0, 0))
                continue
            stamps.append((st.st_ino, st.st_size, st.st_mtime_ns))
        return tuple(stamps)

    def _read(self) -> Material:
        s = self.settings
        try:
            cert = Path(s.cert_path).read_bytes()
            key = Path(s.key_path).read_bytes()
            trust = Path(s.trust_path).read_bytes() if s.trust_path else None
        except OSError as exc:
            raise Unavailable(
                f"cannot read the TLS files (MM_TLS_KEY_CERT_PATH={s.cert_path!r}, "
                f"MM_TLS_PRIVATE_KEY_PATH={s.key_path!r}, MM_TLS_TRUST_CERT_PATH="
                f"{s.trust_path!r}): {exc.strerror or exc}"
            ) from exc
        return Material(cert, key, trust, self._context(cert, key, trust))

    def _context(self, cert: bytes, key: bytes, trust: bytes | None) -> ssl.SSLContext:
        """A server context from the bytes read; loading it also checks that they match."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        # ssl loads a pair from files only: the bytes just read, not the paths, which may
        # have changed again since
        with tempfile.TemporaryDirectory(prefix="mm-tls-") as tmp:
            cert_file, key_file = Path(tmp) / "tls.crt", Path(tmp) / "tls.key"
            cert_file.write_bytes(cert)
            key_file.touch(mode=0o600)
            key_file.write_bytes(key)
            try:
                context.load_cert_chain(cert_file, key_file)
                if trust is not None:
                    context.load_verify_locations(cadata=trust.decode("ascii", "replace"))
            except (ssl.SSLError, ValueError) as exc:
                s = self.settings
                raise Unavailable(
                    f"the TLS certificate {s.cert_path!r} and key {s.key_path!r} (trusted CAs "
                    f"{s.trust_path or '-'}) cannot be used: {exc}"
                ) from exc
        auth = self.settings.client_auth
        context.verify_mode = {
            "none": ssl.CERT_NONE,
            "optional": ssl.CERT_OPTIONAL,
            "require": ssl.CERT_REQUIRED,
        }[auth]
        return context

    def refresh(self) -> bool:
        """Read the files again if they changed; True when a new pair is now in use."""
        with self._lock:
            self._checked = time.monotonic()
            stamp = self._stamp_now()
            if stamp == self._stamp:
                return False
            self._stamp = stamp  # a bad pair is tried again only when the files change again
            try:
                self.material = self._read()
            except Unavailable as exc:
                log.warning("keeping the current TLS certificate: %s", exc.message)
                return False
            self.generation += 1
            log.info("TLS certificate re-read from %s", self.settings.cert_path)
            return True

    # -- the gRPC server ----------------------------------------------------------------

    def server_credentials(self) -> grpc.ServerCredentials:
        held = self.generation

        def config() -> grpc.ServerCertificateConfiguration:
            m = self.material
            return grpc.ssl_server_certificate_configuration([(m.key, m.cert)], m.trust)

        def fetch() -> grpc.ServerCertificateConfiguration | None:
            # grpc asks before each handshake; None keeps what it has
            nonlocal held
            self.refresh()
            if self.generation == held:
                return None
            held = self.generation
            return config()

        return grpc.dynamic_ssl_server_credentials(
            config(), fetch, require_client_authentication=self.settings.client_auth == "require"
        )

    # -- the REST port ------------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext:
        """The context to serve https with; each handshake gets the newest pair."""
        outer = self._read().context

        def on_hello(conn: ssl.SSLObject, _name: str | None, _ctx: ssl.SSLContext) -> None:
            self.refresh()
            if self.generation:  # since start the files changed: hand over the new pair
                conn.context = self.material.context

        outer.sni_callback = on_hello
        return outer

    # -- peers --------------------------------------------------------------------------

    def peer_generation(self) -> int:
        """The generation, looking at the files if that was not done in the last second."""
        if time.monotonic() - self._checked >= _PEER_CHECK_S:
            self.refresh()
        return self.generation

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """How this instance calls its peers: it trusts MM_TLS_TRUST_CERT_PATH (or its own
        certificate, which then all instances share) and shows its own certificate."""
        m = self.material
        return grpc.ssl_channel_credentials(
            root_certificates=m.trust or m.cert, private_key=m.key, certificate_chain=m.cert
        )

    def channel_options(self) -> list[tuple[str, str]]:
        name = self.settings.peer_server_name
        return [("grpc.ssl_target_name_override", name)] if name else []


def secure_or_insecure_channel(
    address: str, options: list[tuple[str, object]], tls: MeshTls | None
) -> grpc.aio.Channel:
    if tls is None:
        return grpc.aio.insecure_channel(address, options=options)
    return grpc.aio.secure_channel(
        address, tls.channel_credentials(), options=[*options, *tls.channel_options()]
    )


def close_later(
    channels: list[grpc.aio.Channel], grace_s: float, keep: set[asyncio.Task[None]]
) -> None:
    """Close channels once their calls are done (up to ``grace_s``), in the background."""
    if not channels:
        return

    async def close() -> None:
        for channel in channels:
            await channel.close(grace_s)

    task = asyncio.get_running_loop().create_task(close())
    keep.add(task)
    task.add_done_callback(keep.discard)
