"""The etcd backend: store.KVStore over a real etcd v3 cluster, for many machines.

A thin grpc.aio client over etcd's own API (etcd_proto/, trimmed from etcd's rpc.proto), not
a library: the store needs eight RPCs (Range, Put, DeleteRange, Txn, Watch, LeaseGrant,
LeaseKeepAlive, LeaseRevoke, plus Authenticate), and owning them keeps revisions, retries,
reconnects and error translation in one readable place. The maintained async libraries
(aetcd, etcd3aio) are single-maintainer 0.x/1.0 projects whose reconnect and retry policies
would sit between the mesh and its guarantees; etcd3 0.12 does not import with protobuf 4+.

How the store maps the contract onto etcd:
- ``put``/``delete`` with ``expected_revision`` are one Txn comparing the key's mod_revision
  (``0``: its create_revision, i.e. "absent"), so a CAS is atomic on the server.
- ``range`` is one linearizable Range sorted by key; its header revision is the snapshot's.
- a read first waits for this store's writes still in flight, so that calls take effect in
  the order they were made, as in the embedded store (etcd orders only completed writes).
- ``watch`` is a Watch stream from ``start_revision``; etcd replays history from there. When the
  stream breaks (a member died, lost its leader, or restarted), it is opened again on the next
  endpoint from the revision after the last event delivered, so no event is lost or repeated.
  etcd's "compacted" cancellation becomes KVError("compacted: ...").
- leases are etcd leases; etcd rounds TTLs up to whole seconds and to its minimum (2 s by
  default).

Failover and time limits: one channel per endpoint; a call that fails with UNAVAILABLE or
runs out of time moves on to the next endpoint and is retried, with a short backoff, until
``timeout_s`` (5 s by default) has passed since it started; then it raises KVError. Every call
carries etcd's "hasleader" metadata, so a member without a leader refuses at once instead of
waiting. A retried write whose first attempt did reach etcd (the reply was lost) is applied
once; for a CAS that shows as a failed compare, which callers already handle by reading again.

Authentication: with a userid, the store gets a token from etcd at connect and again whenever
etcd rejects it (expired, or lost when a member restarted). TLS: server CA, client certificate
and an authority override, from the config.

Every grpc error is translated to KVError where it happens, with the cause chained.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from .etcd_config import EtcdConfig
from .etcd_proto import etcd_kv_pb2 as mvcc
from .etcd_proto import etcd_rpc_pb2 as rpc
from .store import EventKind, KeyValue, KVError, WatchEvent

__all__ = ["DEFAULT_TIMEOUT_S", "EtcdStore"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Metadata = tuple[tuple[str, str], ...]

DEFAULT_TIMEOUT_S = 5.0
# pauses between retries grow from the first to the last
_BACKOFF_S = (0.05, 0.1, 0.2, 0.4)
_CHANNEL_OPTIONS = [
    # a registry of 100k models is ~50 MB in one Range reply
    ("grpc.max_receive_message_length", -1),
    # etcd's default request limit is 1.5 MiB; let etcd be the one to refuse
    ("grpc.max_send_message_length", -1),
    # find a restarted member within a second, not after grpc's default of up to 2 minutes
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    # notice a member that stopped answering (not just one that closed its sockets); etcd
    # accepts pings 5 s apart by default
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
]
# etcd answers at once instead of waiting for an election (rpctypes.MetadataRequireLeaderKey)
_HAS_LEADER = ("hasleader", "true")
_PUT, _DELETE = mvcc.Event.PUT, mvcc.Event.DELETE


class _Api:
    """The etcd RPCs the store makes, over one endpoint's channel."""

    def __init__(self, endpoint: str, channel: grpc.aio.Channel) -> None:
        self.endpoint = endpoint
        self.channel = channel

        def unary(path: str, request: Any, reply: Any) -> Any:
            return channel.unary_unary(
                path,
                request_serializer=request.SerializeToString,
                response_deserializer=reply.FromString,
            )

        def stream(path: str, request: Any, reply: Any) -> Any:
            return channel.stream_stream(
                path,
                request_serializer=request.SerializeToString,
                response_deserializer=reply.FromString,
            )

        self.range = unary("/etcdserverpb.KV/Range", rpc.RangeRequest, rpc.RangeResponse)
        self.put = unary("/etcdserverpb.KV/Put", rpc.PutRequest, rpc.PutResponse)
        self.delete_range = unary(
            "/etcdserverpb.KV/DeleteRange", rpc.DeleteRangeRequest, rpc.DeleteRangeResponse
        )
        self.txn = unary("/etcdserverpb.KV/Txn", rpc.TxnRequest, rpc.TxnResponse)
        self.lease_grant = unary(
            "/etcdserverpb.Lease/LeaseGrant", rpc.LeaseGrantRequest, rpc.LeaseGrantResponse
        )
        self.lease_revoke = unary(
            "/etcdserverpb.Lease/LeaseRevoke", rpc.LeaseRevokeRequest, rpc.LeaseRevokeResponse
        )
        self.lease_keep_alive = stream(
            "/etcdserverpb.Lease/LeaseKeepAlive",
            rpc.LeaseKeepAliveRequest,
            rpc.LeaseKeepAliveResponse,
        )
        self.watch = stream("/etcdserverpb.Watch/Watch", rpc.WatchRequest, rpc.WatchResponse)
        self.authenticate = unary(
            "/etcdserverpb.Auth/Authenticate", rpc.AuthenticateRequest, rpc.AuthenticateResponse
        )


class EtcdStore:
    """A KVStore on an etcd v3 cluster. Open with ``await EtcdStore.connect(config)``."""

    def __init__(self, config: EtcdConfig, *, timeout_s: float) -> None:
        """Use ``connect``."""
        if timeout_s <= 0:
            raise ValueError(f"the etcd timeout must be positive, not {timeout_s}")
        self._config = config
        self._timeout = timeout_s
        # one endpoint may hang rather than refuse: leave time to try another
        self._attempt_timeout = timeout_s if len(config.endpoints) == 1 else timeout_s / 2
        self._apis = [_Api(ep, _channel(ep, config)) for ep in config.endpoints]
        # the endpoint calls go to first; moves on when it fails
        self._current = 0
        self._token = ""
        self._auth_lock = asyncio.Lock()
        self._streams: set[grpc.aio.Call] = set()
        # one future per write in flight, done when it ends (see _read)
        self._writes: set[asyncio.Future[None]] = set()
        self._closed = False

    @classmethod
    async def connect(
        cls, config: EtcdConfig, *, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> EtcdStore:
        """A store on the etcd cluster of ``config``, checked by one read (and a login, with a
        userid). Raises KVError when no endpoint answers within ``timeout_s`` or etcd refuses.

        Each call of the store gives up after ``timeout_s``, retries included."""
        store = cls(config, timeout_s=timeout_s)
        try:
            if config.userid:
                await store._authenticate()
            # a key inside the mesh's own space: a role may grant only "<root_prefix>/"
            root = config.root_prefix.strip("/")
            probe = rpc.RangeRequest(key=_key(f"{root}/" if root else "/"), keys_only=True, limit=1)
            await store._call(
                "connection check", lambda api, t, md: api.range(probe, timeout=t, metadata=md)
            )
        except BaseException:
            await store.close()
            raise
        return store

    @property
    def endpoints(self) -> tuple[str, ...]:
        return self._config.endpoints

    async def get(self, key: str) -> KeyValue | None:
        request = rpc.RangeRequest(key=_key(key))
        reply = await self._read(
            f"get of {key!r}", lambda api, t, md: api.range(request, timeout=t, metadata=md)
        )
        return _key_value(reply.kvs[0]) if reply.kvs else None

    async def range(self, prefix: str) -> tuple[list[KeyValue], int]:
        start, end = _prefix_range(prefix)
        request = rpc.RangeRequest(
            key=start,
            range_end=end,
            sort_order=rpc.RangeRequest.ASCEND,
            sort_target=rpc.RangeRequest.KEY,
        )
        reply = await self._read(
            f"range of {prefix!r}", lambda api, t, md: api.range(request, timeout=t, metadata=md)
        )
        return [_key_value(kv) for kv in reply.kvs], reply.header.revision

    async def put(
        self,
        key: str,
        value: bytes,
        *,
        expected_revision: int | None = None,
        lease: int | None = None,
    ) -> int | None:
        put = rpc.PutRequest(key=_key(key), value=value, lease=lease or 0)
        what = f"put of {key!r}"
        if expected_revision is None:
            reply = await self._write(what, lambda api, t, md: api.put(put, timeout=t, metadata=md))
            return int(reply.header.revision)
        txn = rpc.TxnRequest(
            compare=[_unchanged_since(put.key, expected_revision)],
            success=[rpc.RequestOp(request_put=put)],
        )
        result = await self._write(what, lambda api, t, md: api.txn(txn, timeout=t, metadata=md))
        return int(result.header.revision) if result.succeeded else None

    async def delete(self, key: str, *, expected_revision: int | None = None) -> bool:
        what = f"delete of {key!r}"
        delete = rpc.DeleteRangeRequest(key=_key(key))
        if expected_revision is None:
            reply = await self._write(
                what, lambda api, t, md: api.delete_range(delete, timeout=t, metadata=md)
            )
            return bool(reply.deleted)
        if expected_revision == 0:
            self._check_open()
            return False  # "only if absent": there is nothing to delete then
        txn = rpc.TxnRequest(
            compare=[_unchanged_since(delete.key, expected_revision)],
            success=[rpc.RequestOp(request_delete_range=delete)],
        )
        result = await self._write(what, lambda api, t, md: api.txn(txn, timeout=t, metadata=md))
        return bool(result.succeeded and result.responses[0].response_delete_range.deleted)

    async def watch(self, prefix: str, start_revision: int) -> AsyncGenerator[WatchEvent, None]:
        self._check_open()
        if start_revision < 1:
            raise ValueError(f"start_revision must be at least 1, not {start_revision}")
        start, end = _prefix_range(prefix)
        loop = asyncio.get_running_loop()
        next_revision = start_revision
        # when the current outage began (loop time), None while connected
        outage: float | None = None
        failures = 0
        reauthenticated = False
        while not self._closed:
            index = self._current
            api = self._apis[index]
            token = self._token
            create = rpc.WatchCreateRequest(key=start, range_end=end, start_revision=next_revision)
            call = api.watch(metadata=self._metadata(token))
            self._streams.add(call)
            try:
                await call.write(rpc.WatchRequest(create_request=create))
                while not self._closed:
                    reply = await call.read()
                    if reply is grpc.aio.EOF:
                        raise _StreamEnded(f"member {api.endpoint} ended the watch stream")
                    if reply.compact_revision:
                        raise KVError(
                            f"compacted: etcd no longer keeps the changes of {prefix!r} from "
                            f"revision {next_revision} on (its history starts at "
                            f"{reply.compact_revision}); range again and watch from there"
                        )
                    if reply.canceled:
                        if self._config.userid and not reauthenticated:
                            # a token that has expired shows as a refused watch
                            reauthenticated = True
                            await self._reauthenticate(token)
                            break
                        raise KVError(
                            f"etcd refused the watch of {prefix!r}: {reply.cancel_reason}"
                        )
                    if reply.created:
                        outage, failures, reauthenticated = None, 0, False
                    for event in reply.events:
                        yield _watch_event(event)
                        next_revision = event.kv.mod_revision + 1
            except (grpc.aio.AioRpcError, _StreamEnded) as exc:
                if isinstance(exc, grpc.aio.AioRpcError) and not _is_transient(exc):
                    raise _translate(exc, f"watch of {prefix!r}") from exc
                now = loop.time()
                outage = now if outage is None else outage
                if now - outage >= self._timeout:
                    raise KVError(
                        f"etcd watch of {prefix!r}: no member of {', '.join(self.endpoints)} "
                        f"took it back within {self._timeout:g} s: {_details(exc)}"
                    ) from exc
                self._fail_over(index)
                log.info(
                    "etcd watch of %r broke (%s); resuming from revision %d",
                    prefix,
                    _details(exc),
                    next_revision,
                )
                await asyncio.sleep(_BACKOFF_S[min(failures, len(_BACKOFF_S) - 1)])
                failures += 1
            except asyncio.CancelledError:
                if self._closed and not _being_cancelled():
                    return  # close() ended the stream
                raise
            finally:
                call.cancel()
                self._streams.discard(call)

    async def grant_lease(self, ttl_seconds: float) -> int:
        if ttl_seconds <= 0:
            raise ValueError(f"a lease needs a positive TTL, not {ttl_seconds}")
        request = rpc.LeaseGrantRequest(TTL=math.ceil(ttl_seconds))
        reply = await self._call(
            "lease grant", lambda api, t, md: api.lease_grant(request, timeout=t, metadata=md)
        )
        if reply.error:
            raise KVError(f"etcd refused a lease: {reply.error}")
        return int(reply.ID)

    async def refresh_lease(self, lease: int) -> bool:
        request = rpc.LeaseKeepAliveRequest(ID=lease)

        async def keep_alive(api: _Api, budget: float, metadata: Metadata) -> Any:
            # one request on a stream of its own: etcd answers, then sees the end
            call = api.lease_keep_alive(iter([request]), timeout=budget, metadata=metadata)
            try:
                return await call.read()
            finally:
                call.cancel()

        reply = await self._call(f"refresh of lease {lease}", keep_alive)
        if reply is grpc.aio.EOF:
            raise KVError(f"etcd ended the keep-alive of lease {lease} without an answer")
        # etcd answers TTL 0 for a lease it no longer has
        return bool(reply.TTL > 0)

    async def revoke_lease(self, lease: int) -> None:
        request = rpc.LeaseRevokeRequest(ID=lease)
        try:
            await self._write(
                f"revoke of lease {lease}",
                lambda api, t, md: api.lease_revoke(request, timeout=t, metadata=md),
            )
        except KVError as exc:
            if not isinstance(exc.__cause__, grpc.aio.AioRpcError) or (
                exc.__cause__.code() is not grpc.StatusCode.NOT_FOUND
            ):
                raise

    async def close(self) -> None:
        """End every watch's iteration and close the channels. Leases live on in etcd until
        their TTL runs out (or ``revoke_lease``)."""
        if self._closed:
            return
        self._closed = True
        for call in list(self._streams):
            call.cancel()
        await asyncio.gather(*(api.channel.close() for api in self._apis))

    def _check_open(self) -> None:
        if self._closed:
            raise KVError("the etcd store is closed")

    def _metadata(self, token: str) -> Metadata:
        return (_HAS_LEADER, ("token", token)) if token else (_HAS_LEADER,)

    def _fail_over(self, index: int) -> None:
        """Send the next calls to the endpoint after ``index``, unless another call already
        moved on."""
        if self._current == index:
            self._current = (index + 1) % len(self._apis)

    async def _write(
        self, what: str, attempt: Callable[[_Api, float, Metadata], Awaitable[T]]
    ) -> T:
        """``_call`` for a write, which the reads issued after it will wait for."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writes.add(done)
        try:
            return await self._call(what, attempt)
        finally:
            self._writes.discard(done)
            done.set_result(None)

    async def _read(self, what: str, attempt: Callable[[_Api, float, Metadata], Awaitable[T]]) -> T:
        """``_call`` for a read, once the writes issued before it have ended. etcd orders
        only completed writes before a read; this orders every call of the store after the
        writes made before it, even those still in flight, as the embedded store does."""
        if self._writes:
            await asyncio.wait(list(self._writes))
        return await self._call(what, attempt)

    async def _call(self, what: str, attempt: Callable[[_Api, float, Metadata], Awaitable[T]]) -> T:
        """``attempt(api, timeout, metadata)`` on the current endpoint, failing over and
        retrying transient errors until the store's timeout; errors become KVError."""
        self._check_open()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        failures = 0
        reauthenticated = False
        while True:
            index = self._current
            token = self._token
            budget = min(deadline - loop.time(), self._attempt_timeout)
            try:
                return await attempt(self._apis[index], budget, self._metadata(token))
            except grpc.aio.AioRpcError as exc:
                if self._config.userid and _is_bad_token(exc) and not reauthenticated:
                    reauthenticated = True
                    await self._reauthenticate(token)
                    continue
                if not _is_transient(exc):
                    raise _translate(exc, what) from exc
                self._fail_over(index)
                pause = _BACKOFF_S[min(failures, len(_BACKOFF_S) - 1)]
                failures += 1
                if loop.time() + pause >= deadline:
                    raise KVError(
                        f"etcd {what}: no member of {', '.join(self.endpoints)} answered "
                        f"within {self._timeout:g} s: {_details(exc)}"
                    ) from exc
                await asyncio.sleep(pause)
            except asyncio.CancelledError:
                if self._closed and not _being_cancelled():
                    raise KVError(f"etcd {what}: the store was closed") from None
                raise

    async def _authenticate(self) -> None:
        """Log in with the config's userid and password and keep the token."""
        request = rpc.AuthenticateRequest(name=self._config.userid, password=self._config.password)
        try:
            # no token on this call: an expired one would only be refused
            reply = await self._call(
                f"login as {self._config.userid!r}",
                lambda api, t, md: api.authenticate(request, timeout=t, metadata=(_HAS_LEADER,)),
            )
        except KVError as exc:
            cause = exc.__cause__
            if isinstance(cause, grpc.aio.AioRpcError):
                if cause.code() is grpc.StatusCode.FAILED_PRECONDITION:
                    log.warning(
                        "etcd at %s has authentication disabled; going on without a login",
                        ", ".join(self.endpoints),
                    )
                    self._token = ""
                    return
                if cause.code() is grpc.StatusCode.INVALID_ARGUMENT:
                    raise KVError(
                        f"etcd refused the login as {self._config.userid!r}: wrong userid "
                        f"or password ({cause.details()})"
                    ) from cause
            raise
        self._token = reply.token

    async def _reauthenticate(self, rejected: str) -> None:
        """A new token, unless another call already replaced the ``rejected`` one."""
        async with self._auth_lock:
            if self._token == rejected:
                log.info("etcd rejected the auth token; logging in again")
                await self._authenticate()


class _StreamEnded(Exception):
    """etcd closed a watch stream without an error (a member shutting down)."""


def _channel(endpoint: str, config: EtcdConfig) -> grpc.aio.Channel:
    options: list[tuple[str, Any]] = list(_CHANNEL_OPTIONS)
    if not config.tls:
        return grpc.aio.insecure_channel(endpoint, options=options)
    if config.override_authority:
        options.append(("grpc.ssl_target_name_override", config.override_authority))
    credentials = grpc.ssl_channel_credentials(
        root_certificates=config.ca_cert,
        private_key=config.client_key,
        certificate_chain=config.client_cert,
    )
    return grpc.aio.secure_channel(endpoint, credentials, options=options)


def _key(key: str) -> bytes:
    # surrogateescape: keys written by other tools need not be UTF-8, and round-trip
    return key.encode("utf-8", "surrogateescape")


def _prefix_range(prefix: str) -> tuple[bytes, bytes]:
    """etcd's [key, range_end) for every key that starts with ``prefix``."""
    start = _key(prefix)
    stripped = start.rstrip(b"\xff")
    if not stripped:
        # "" (or only 0xff bytes): every key from ``start`` on
        return start or b"\0", b"\0"
    return start, stripped[:-1] + bytes([stripped[-1] + 1])


def _unchanged_since(key: bytes, revision: int) -> rpc.Compare:
    """The compare of a CAS: ``key`` was last written at ``revision`` (0: it is absent)."""
    if revision == 0:
        return rpc.Compare(
            key=key, result=rpc.Compare.EQUAL, target=rpc.Compare.CREATE, create_revision=0
        )
    return rpc.Compare(
        key=key, result=rpc.Compare.EQUAL, target=rpc.Compare.MOD, mod_revision=revision
    )


def _key_value(kv: mvcc.KeyValue) -> KeyValue:
    return KeyValue(kv.key.decode("utf-8", "surrogateescape"), kv.value, kv.mod_revision)


def _watch_event(event: mvcc.Event) -> WatchEvent:
    key = event.kv.key.decode("utf-8", "surrogateescape")
    if event.type == _DELETE:
        return WatchEvent(EventKind.DELETE, key, b"", event.kv.mod_revision)
    return WatchEvent(EventKind.PUT, key, event.kv.value, event.kv.mod_revision)


def _is_transient(exc: grpc.aio.AioRpcError) -> bool:
    """Another try (maybe on another member) may succeed: unreachable, no leader, timed out."""
    return exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def _is_bad_token(exc: grpc.aio.AioRpcError) -> bool:
    """etcd refused the token (expired, unknown after a restart, or issued before the
    users changed), or got none while auth is on."""
    details = exc.details() or ""
    return exc.code() is grpc.StatusCode.UNAUTHENTICATED or (
        exc.code() is grpc.StatusCode.INVALID_ARGUMENT
        and ("user name is empty" in details or "revision of auth store is old" in details)
    )


def _translate(exc: grpc.aio.AioRpcError, what: str) -> KVError:
    details = exc.details() or exc.code().name
    if "compacted" in details:
        return KVError(f"compacted: etcd {what}: {details}")
    if "user name is empty" in details:
        return KVError(
            f"etcd {what} failed: etcd has authentication on; give a userid and password "
            "(etcd_connection JSON)"
        )
    return KVError(f"etcd {what} failed ({exc.code().name}): {details}")


def _details(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return str(exc)


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
