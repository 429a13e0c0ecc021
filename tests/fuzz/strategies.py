"""Hypothesis strategies and settings shared by the fuzz modules.

Ids and names come in every shape a client could send: any Unicode (control and format
characters included), path-like and reserved-looking strings, and strings far past every
limit. ``FUZZ`` is the suite's one settings profile: no example database (nothing written
into the tree), a generous deadline (a slow example on a loaded machine is not a hang;
the calls' own timeouts catch hangs), no health checks that complain about big inputs.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# scales every example count (FUZZ_SCALE=0.1 for a quick look while developing)
SCALE = float(os.environ.get("FUZZ_SCALE", "1"))

FUZZ = settings(
    deadline=timedelta(seconds=15),
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


def fuzz(examples: int) -> settings:
    """The suite's settings with ``examples`` generated cases."""
    return settings(FUZZ, max_examples=max(1, int(examples * SCALE)))


ODD_IDS = [
    "",
    " ",
    "digits",
    "digits-v",
    "../digits",
    "a/b/../c",
    "/etc/passwd",
    "\x00",
    "a\nb",
    "\u202eevil",
    "\ufeff",
    "日本語モデル",
    "🙂" * 40,
    "%00%2e%2e",
    "${HOME}",
    "mm/registry/x",
]

# names, ids and free text: anything a protobuf string can hold
ids = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "So"]), max_size=20),
    st.sampled_from(ODD_IDS),
    # far past the id limit and near the header limit
    st.builds(lambda c, n: c * n, st.characters(codec="utf-8"), st.integers(200, 40_000)),
)

# JSON values of any shape, small
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)

V2_TYPES = ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64"]
V2_TYPES += ["FP16", "FP32", "FP64", "BYTES", "BF16"]
datatypes = st.one_of(st.sampled_from(V2_TYPES), st.text(max_size=8))
shapes = st.lists(
    st.one_of(st.integers(-3, 80), st.sampled_from([2**31, 2**40, 2**62, -(2**62)])), max_size=4
)


def numbers(values: Any) -> Any:
    return st.lists(values, max_size=80)
