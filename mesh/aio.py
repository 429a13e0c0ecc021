"""Small asyncio helpers used across the mesh."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within(awaitable: Awaitable[T], seconds: float | None) -> T:
    """``asyncio.wait_for`` without its Python 3.11 flaw: wait_for can swallow a
    cancellation that arrives just as the awaited call finishes, so a stopping task
    would run on. Raises TimeoutError after ``seconds`` (None: no limit)."""
    async with asyncio.timeout(seconds):
        return await awaitable
