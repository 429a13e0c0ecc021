"""Addresses where nothing listens, for the CLI tests."""

from __future__ import annotations

import socket

import pytest


@pytest.fixture
def idle_port() -> int:
    """A port the kernel just handed out and took back: nothing listens there."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def idle_address(idle_port: int) -> str:
    return f"127.0.0.1:{idle_port}"
