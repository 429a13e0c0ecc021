"""What only the etcd backend promises, against real etcd processes (tests/support/etcd.py):
failover across members, watches that resume without a gap, prompt errors when etcd is down
and recovery when it is back, compaction, login (with token renewal) and TLS."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from pathlib import Path

import pytest

from modelmesh.mesh.kv.etcd import EtcdStore
from modelmesh.mesh.kv.etcd_config import EtcdConfig, parse_etcd_target
from modelmesh.mesh.kv.store import EventKind, KVError, WatchEvent
from tests.support.etcd import EtcdCluster, EtcdMember, etcd_cluster, free_ports, make_tls_files

PASSWORD = "test-root-pw-7f3a"


@pytest.fixture(scope="module")
def cluster3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    with etcd_cluster(tmp_path_factory.mktemp("etcd3"), size=3) as cluster:
        yield cluster


@pytest.fixture
def healthy3(cluster3: EtcdCluster) -> Iterator[EtcdCluster]:
    """The 3-node cluster, with every member a test killed started again afterwards."""
    yield cluster3
    for member in cluster3.members:
        if not member.running:
            member.start()
    for member in cluster3.members:
        member.wait_healthy()


def first(cluster: EtcdCluster, member: EtcdMember) -> EtcdConfig:
    """A config whose store talks to ``member`` until it fails."""
    others = [m.endpoint for m in cluster.members if m is not member]
    return EtcdConfig(endpoints=(member.endpoint, *others))


def last(cluster: EtcdCluster, member: EtcdMember) -> EtcdConfig:
    others = [m.endpoint for m in cluster.members if m is not member]
    return EtcdConfig(endpoints=(*others, member.endpoint))


async def take(events: AsyncIterator[WatchEvent], n: int, limit_s: float = 10) -> list[WatchEvent]:
    async with asyncio.timeout(limit_s):
        return [await anext(events) for _ in range(n)]


async def test_writes_go_on_while_the_leader_is_killed(healthy3: EtcdCluster) -> None:
    leader = healthy3.leader()
    # the store talks to the leader first, so the kill hits its connection
    store = await EtcdStore.connect(first(healthy3, leader))
    revisions: list[int] = []
    slowest = 0.0
    halfway = asyncio.Event()

    async def writer() -> None:
        nonlocal slowest
        for i in range(60):
            started = time.monotonic()
            revision = await store.put(f"leader-kill/{i:03d}", str(i).encode())
            slowest = max(slowest, time.monotonic() - started)
            assert revision is not None
            revisions.append(revision)
            if len(revisions) == 20:
                halfway.set()
            await asyncio.sleep(0.01)

    try:
        writing = asyncio.create_task(writer())
        await halfway.wait()
        await asyncio.to_thread(leader.kill)
        await writing
        kvs, _ = await store.range("leader-kill/")
    finally:
        await store.close()
    assert [kv.value for kv in kvs] == [str(i).encode() for i in range(60)]
    assert revisions == sorted(revisions)
    assert healthy3.leader() is not leader
    assert slowest < 5, f"a write waited {slowest:.1f} s for the new leader"


async def test_watch_moves_to_another_member_without_missing_an_event(
    healthy3: EtcdCluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="modelmesh.mesh.kv.etcd")
    victim = healthy3.leader()
    watcher = await EtcdStore.connect(first(healthy3, victim))
    writer = await EtcdStore.connect(last(healthy3, victim))
    prefix = "watch-failover/"
    expected: list[tuple[EventKind, str, bytes, int]] = []

    async def write(i: int) -> None:
        key = f"{prefix}{i % 4}"
        if i % 5 == 4:
            assert await writer.delete(key)
            _, revision = await writer.range(prefix)
            expected.append((EventKind.DELETE, key, b"", revision))
        else:
            revision = await writer.put(key, str(i).encode())
            assert revision is not None
            expected.append((EventKind.PUT, key, str(i).encode(), revision))

    try:
        _, start = await writer.range(prefix)
        events = watcher.watch(prefix, start + 1)
        assert isinstance(events, AsyncGenerator)
        for i in range(10):
            await write(i)
        before = await take(events, 10)
        # the watch stream sits on the victim; everything written from now on must still come
        await asyncio.to_thread(victim.kill)
        for i in range(10, 30):
            await write(i)
        after = await take(events, 20)
        await events.aclose()
    finally:
        await watcher.close()
        await writer.close()
    got = [(e.kind, e.key, e.value, e.revision) for e in before + after]
    assert got == expected
    assert "resuming from revision" in caplog.text


async def test_dead_etcd_gives_kverror_quickly_and_recovers(tmp_path: Path) -> None:
    with etcd_cluster(tmp_path) as server:
        member = server.members[0]
        store = await EtcdStore.connect(parse_etcd_target(server.target))
        try:
            revision = await store.put("k", b"before")
            assert revision is not None
            events = store.watch("k", revision + 1)
            watch_result: asyncio.Future[list[WatchEvent]] = asyncio.ensure_future(
                take(events, 1, limit_s=20)
            )
            member.kill()
            started = time.monotonic()
            with pytest.raises(KVError, match=r"no member of .* answered within 5 s"):
                await store.get("k")
            elapsed = time.monotonic() - started
            assert elapsed < 6, f"KVError took {elapsed:.1f} s"
            # a watch gives up too, once etcd has stayed away for the timeout
            with pytest.raises(KVError, match="took it back"):
                await watch_result

            member.start()
            member.wait_healthy()
            started = time.monotonic()
            kv = await store.get("k")
            assert kv is not None and kv.value == b"before"
            assert time.monotonic() - started < 3
            assert await store.put("k", b"after", expected_revision=revision) is not None
        finally:
            await store.close()


async def test_watch_rides_out_a_quick_etcd_restart(tmp_path: Path) -> None:
    with etcd_cluster(tmp_path) as server:
        store = await EtcdStore.connect(parse_etcd_target(server.target))
        try:
            first_revision = await store.put("r/a", b"1")
            assert first_revision is not None
            events = store.watch("r/", first_revision)
            assert (await take(events, 1))[0].value == b"1"
            server.members[0].kill()
            server.members[0].start()
            server.members[0].wait_healthy()
            await store.put("r/b", b"2")
            got = await take(events, 1)
            assert [(e.key, e.value) for e in got] == [("r/b", b"2")]
        finally:
            await store.close()


async def test_connect_to_nothing_fails_within_the_timeout() -> None:
    (port,) = free_ports(1)
    started = time.monotonic()
    with pytest.raises(KVError, match=f"127.0.0.1:{port} answered within 1 s"):
        await EtcdStore.connect(EtcdConfig(endpoints=(f"127.0.0.1:{port}",)), timeout_s=1)
    assert time.monotonic() - started < 2


async def test_watch_from_a_compacted_revision_says_compacted(etcd_server: EtcdCluster) -> None:
    store = await EtcdStore.connect(parse_etcd_target(etcd_server.target))
    try:
        old = await store.put("compacted/k", b"1")
        newer = await store.put("compacted/k", b"2")
        assert old is not None and newer is not None
        etcd_server.etcdctl("compact", str(newer))
        with pytest.raises(KVError, match=r"^compacted"):
            await take(store.watch("compacted/", old), 1)
        # from the compaction point on, the history is there
        assert (await take(store.watch("compacted/", newer), 1))[0].value == b"2"
    finally:
        await store.close()


@pytest.fixture
def auth_server(tmp_path: Path) -> Iterator[EtcdCluster]:
    """etcd with auth on (user root), tokens that expire after a second of disuse."""
    with etcd_cluster(tmp_path / "etcd", extra_args=["--auth-token-ttl=1"]) as server:
        server.etcdctl("user", "add", f"root:{PASSWORD}")
        server.etcdctl("user", "grant-role", "root", "root")
        server.etcdctl("auth", "enable")
        yield server


async def test_login_from_a_json_file_and_token_renewal(
    auth_server: EtcdCluster, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="modelmesh.mesh.kv.etcd")
    path = tmp_path / "etcd_connection"
    document = {
        "endpoints": auth_server.target,
        "userid": "root",
        "password": PASSWORD,
        "root_prefix": "team-a",
    }
    path.write_text(json.dumps(document))
    config = parse_etcd_target(str(path))
    assert config.root_prefix == "team-a"
    store = await EtcdStore.connect(config)
    try:
        revision = await store.put("team-a/k", b"1")
        assert revision is not None
        await asyncio.sleep(2.5)  # the token expires meanwhile
        assert await store.put("team-a/k", b"2", expected_revision=revision) is not None
        assert "logging in again" in caplog.text
        events = await take(store.watch("team-a/", revision), 2)
        assert [e.value for e in events] == [b"1", b"2"]
    finally:
        await store.close()


async def test_wrong_or_missing_login_is_a_clear_error(auth_server: EtcdCluster) -> None:
    endpoints = tuple(auth_server.endpoints)
    wrong = EtcdConfig(endpoints=endpoints, userid="root", password="not-the-password-9")
    with pytest.raises(KVError, match="refused the login as 'root': wrong userid or password"):
        await EtcdStore.connect(wrong)
    with pytest.raises(KVError, match="authentication on; give a userid and password"):
        await EtcdStore.connect(EtcdConfig(endpoints=endpoints))


async def test_tls_with_a_client_certificate(tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path / "pki")
    with etcd_cluster(tmp_path / "etcd", tls=tls) as server:
        assert server.target.startswith("https://")
        # file names relative to the JSON file, as in a mounted Secret
        document = {
            "endpoints": server.target,
            "certificate_file": "ca.pem",
            "client_certificate_file": "client.pem",
            "client_key_file": "client-key.pem",
        }
        (tmp_path / "pki" / "etcd_connection").write_text(json.dumps(document))
        config = parse_etcd_target(str(tmp_path / "pki" / "etcd_connection"))
        store = await EtcdStore.connect(config)
        try:
            revision = await store.put("tls/k", b"secret")
            assert revision is not None
            assert (await take(store.watch("tls/", revision), 1))[0].value == b"secret"
        finally:
            await store.close()
        # the server requires a client certificate
        without_client = EtcdConfig(endpoints=config.endpoints, tls=True, ca_cert=config.ca_cert)
        with pytest.raises(KVError):
            await EtcdStore.connect(without_client, timeout_s=1)
