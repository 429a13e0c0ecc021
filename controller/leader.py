"""Leader election over a ``coordination.k8s.io/v1`` Lease: one replica writes at a time.

``main.run_forever`` calls ``LeaderElector.acquire`` before starting the controller and
stops it when ``hold`` returns (leadership lost), as controller-runtime does for
upstream's controller (lock ``modelmesh-controller-leader-lock``, lease 15 s, renew
deadline 10 s, retry 2 s). A candidate takes the Lease when it is missing, free, expired
(``renewTime`` + ``leaseDurationSeconds`` in the past) or its own; the holder renews
every retry period and gives up when no renewal succeeded within the renew deadline, so
it stops writing before another replica may take over. On a real API server the patch
carries the Lease's resourceVersion, so two candidates racing for an expired Lease
cannot both win (409); an emulator without resourceVersions cannot enforce that.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes.aio import client as k8s
from kubernetes.aio.client.exceptions import ApiException

log = logging.getLogger(__name__)

LEASE_NAME = "modelmesh-controller-leader-lock"


@dataclass(frozen=True)
class LeaseTiming:
    duration_s: float = 15.0
    renew_deadline_s: float = 10.0
    retry_s: float = 2.0


class LeaderElector:
    def __init__(
        self,
        api: k8s.ApiClient,
        *,
        namespace: str,
        identity: str,
        name: str = LEASE_NAME,
        timing: LeaseTiming = LeaseTiming(),
    ) -> None:
        self._api = api
        self._leases = k8s.CoordinationV1Api(api)
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.timing = timing

    async def close(self) -> None:
        await self._api.close()

    async def acquire(self) -> None:
        """Wait until this replica holds the Lease."""
        logged = False
        while not await self.try_acquire():
            if not logged:
                log.info("waiting to lead: lease %s/%s is held", self.namespace, self.name)
                logged = True
            await asyncio.sleep(self.timing.retry_s)
        log.info("leading as %s (lease %s/%s)", self.identity, self.namespace, self.name)

    async def hold(self) -> None:
        """Renew the Lease until a renewal deadline passes without success; then return."""
        loop = asyncio.get_running_loop()
        last_renewed = loop.time()
        while loop.time() - last_renewed < self.timing.renew_deadline_s:
            await asyncio.sleep(self.timing.retry_s)
            if await self.try_acquire():
                last_renewed = loop.time()
        log.warning("lost the lease %s/%s: stopping", self.namespace, self.name)

    async def release(self) -> None:
        """Give the Lease up (if still ours) so another replica need not wait for expiry."""
        lease = await self._read()
        if lease is not None and lease.spec and lease.spec.holder_identity == self.identity:
            await self._patch({"spec": {"holderIdentity": None, "leaseTransitions": None}}, lease)

    async def try_acquire(self) -> bool:
        """Take or renew the Lease once; True if this replica holds it now."""
        now = datetime.now(UTC)
        lease = await self._read()
        if lease is None:
            body = k8s.V1Lease(
                metadata=k8s.V1ObjectMeta(name=self.name),
                spec=k8s.V1LeaseSpec.from_dict(self._spec(now, acquired=True)),
            )
            try:
                await self._leases.create_namespaced_lease(self.namespace, body)
            except ApiException as exc:
                if exc.status == 409:
                    return False
                raise
            lease = await self._read()  # some servers answer a create without the object
            return bool(lease and lease.spec and lease.spec.holder_identity == self.identity)
        spec = lease.spec or k8s.V1LeaseSpec()
        holder = spec.holder_identity or ""
        if holder and holder != self.identity and not self._expired(spec, now):
            return False
        return await self._patch({"spec": self._spec(now, acquired=holder != self.identity)}, lease)

    def _expired(self, spec: k8s.V1LeaseSpec, now: datetime) -> bool:
        if spec.renew_time is None:
            return True
        duration = spec.lease_duration_seconds or self.timing.duration_s
        renewed = spec.renew_time if spec.renew_time.tzinfo else spec.renew_time.replace(tzinfo=UTC)
        return renewed + timedelta(seconds=duration) < now

    def _spec(self, now: datetime, *, acquired: bool) -> dict[str, Any]:
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        spec: dict[str, Any] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.timing.duration_s),
            "renewTime": stamp,
        }
        if acquired:
            spec["acquireTime"] = stamp
        return spec

    async def _read(self) -> k8s.V1Lease | None:
        try:
            lease: k8s.V1Lease = await self._leases.read_namespaced_lease(self.name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return lease

    async def _patch(self, patch: dict[str, Any], lease: k8s.V1Lease) -> bool:
        version = lease.metadata.resource_version if lease.metadata else None
        if version:
            patch = {**patch, "metadata": {"resourceVersion": version}}
        try:
            await self._leases.patch_namespaced_lease(self.name, self.namespace, patch)
        except ApiException as exc:
            if exc.status in (409, 422):
                return False
            raise
        return True
