"""Turn on the bundled etcd's authentication once, with user ``root``, then stay up.

A sidecar of each etcd member (the chart's etcd-statefulset.yaml). etcd can only enable
authentication through its API, not by a flag, and its v3.5 image has no shell; this script
uses the JSON gateway etcd serves on its client port (``/v3/auth/*``), with the standard
library only, so it runs in the modelmesh image. Every step tolerates being done already, so
members racing each other, restarts and upgrades are all fine.

When authentication is already on, it checks that the password in the Secret still opens
etcd and says so loudly if not (etcd keeps the old one until ``etcdctl user passwd``).
Two members racing: the loser's ``enable`` fails, and its retry finds authentication on.

As a sidecar it never exits on a failure (the pod would go NotReady and take etcd out of
its Service): it logs and retries. ``--once`` does the work and exits, 0 on success.

    ETCD_ENDPOINT=http://127.0.0.1:2379 ETCD_ROOT_PASSWORD=... python3 etcd-auth.py [--once]
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable

RETRY_SECONDS = 5.0


class EtcdError(Exception):
    """etcd answered with an error; ``message`` is etcd's own text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def call(endpoint: str, path: str, body: dict, token: str | None = None) -> dict:
    request = urllib.request.Request(
        endpoint.rstrip("/") + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **({"Authorization": token} if token else {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.load(reply)
    except urllib.error.HTTPError as exc:
        try:
            detail = json.load(exc)
        except ValueError:
            detail = {}
        raise EtcdError(detail.get("message") or detail.get("error") or str(exc)) from None


def ignore_existing(step: str, action: Callable[[], object]) -> None:
    """Run ``action``; a "... already exists" answer means an earlier run did it."""
    try:
        action()
    except EtcdError as exc:
        if "already exists" not in exc.message:
            raise EtcdError(f"{step}: {exc.message}") from None


def enable(endpoint: str, password: str) -> None:
    ignore_existing(
        "add user root",
        lambda: call(endpoint, "/v3/auth/user/add", {"name": "root", "password": password}),
    )
    ignore_existing("add role root", lambda: call(endpoint, "/v3/auth/role/add", {"name": "root"}))
    call(endpoint, "/v3/auth/user/grant", {"user": "root", "role": "root"})
    call(endpoint, "/v3/auth/enable", {})


def ensure_auth(endpoint: str, password: str) -> str:
    """Authentication on with root's password; returns what was done. Raises on failure.

    Once authentication is on, etcd answers ``/v3/auth/status`` only to a logged-in user,
    so the probe is a login: it succeeds (on, password right), fails with "not enabled"
    (off: enable it), or fails otherwise (on, but the password is refused).
    """
    try:
        call(endpoint, "/v3/auth/authenticate", {"name": "root", "password": password})
        return "authentication already enabled; the root password works"
    except EtcdError as exc:
        if "not enabled" not in exc.message:
            raise EtcdError(
                f"authentication is on but root's login fails ({exc.message}); etcd keeps "
                "its old password until `etcdctl user passwd root` changes it"
            ) from None
    enable(endpoint, password)
    return "authentication enabled for user root"


def log(message: str) -> None:
    print(f"etcd-auth: {message}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    once = "--once" in argv
    endpoint = os.environ.get("ETCD_ENDPOINT", "http://127.0.0.1:2379")
    password = os.environ.get("ETCD_ROOT_PASSWORD", "")
    if not password:
        log("ETCD_ROOT_PASSWORD is empty; set etcd.auth.rootPassword or etcd.auth.existingSecret")
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        try:
            log(ensure_auth(endpoint, password))
            break
        except (EtcdError, OSError) as exc:
            log(f"{endpoint}: {exc}")
            if once:
                return 1
            time.sleep(RETRY_SECONDS)
    if once:
        return 0
    while True:  # a sidecar: stay until the pod stops
        signal.pause()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
