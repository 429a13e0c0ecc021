"""Generated storage-config files (upstream's ``storage-config`` Secret: one JSON document
per key) and model keys/paths, through the parser and ``locate``: every outcome is an entry
and a place, or a ``StorageError`` whose message shows none of the secrets it was given.
No mesh is needed: this is the runtime's parser, called as a load calls it. 1,500
examples in all."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelmesh.runtimes.storage.config import SECRET_FIELDS, TYPES, StorageConfig
from modelmesh.runtimes.storage.errors import StorageError
from modelmesh.runtimes.storage.locations import locate
from tests.fuzz.strategies import fuzz, json_values

pytestmark = pytest.mark.slow

# secrets long and odd enough not to turn up in a message by chance
secrets = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=12, max_size=30)
FIELDS = ["bucket", "region", "endpoint_url", "url", "name", "default_bucket", "headers"]
FIELDS += ["certificate", "client_certificate", "container", "account_name", "token_uri"]

entries = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from([*TYPES, "S3", "HTTPS", "ftp", ""]), json_values)},
    optional={
        **{f: st.one_of(st.text(max_size=30), json_values) for f in FIELDS},
        **{s: secrets for s in sorted(SECRET_FIELDS)},
    },
)
documents = st.one_of(
    entries.map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
)
schemes = st.sampled_from(
    ["s3://", "http://", "https://", "pvc://", "gs://", "wasbs://", "ftp://", ""]
)
model_paths = st.one_of(
    st.tuples(schemes, st.text(max_size=40)).map("".join),
    st.sampled_from(["s3://b/m", "pvc://claim/m", "https://u:p@host/m?sig=x", "../../etc"]),
)

_counter = itertools.count()


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("storage-config")


@fuzz(1500)
@given(
    document=documents,
    name_key=st.booleans(),
    params=st.one_of(st.none(), st.dictionaries(st.sampled_from([*FIELDS, "type"]), json_values)),
    key_doc=json_values,
    model_path=model_paths,
    opaque_key=st.booleans(),
)
def test_storage_config_and_model_keys(
    config_dir: Path,
    document: bytes,
    name_key: bool,
    params: dict[str, Any] | None,
    key_doc: Any,
    model_path: str,
    opaque_key: bool,
) -> None:
    # a new directory per example: the config caches by inode, size and mtime
    directory = config_dir / str(next(_counter))
    directory.mkdir()
    (directory / "k").write_bytes(document)
    config = StorageConfig(directory)
    if opaque_key:
        model_key = json.dumps(key_doc)
    else:
        model_key = json.dumps(
            {
                **({"storage_key": "k"} if name_key else {}),
                **({"storage_params": params} if params is not None else {}),
            }
        )
    # a secret that is also in the model's own path or key may be shown with them
    given_secrets = [
        secret
        for secret in _secrets(document) + _secrets_in(params)
        if secret not in model_path and secret not in model_key
    ]
    try:
        config.find("k")
        place = locate(model_path, model_key, config, pvc_mounts=directory / "pvc")
    except StorageError as exc:
        assert exc.message, exc
        for secret in given_secrets:
            assert secret not in exc.message, (secret, exc.message)
        return
    if place is not None:
        text = place.describe() if hasattr(place, "describe") else str(place)
        for secret in given_secrets:
            assert secret not in text, (secret, text)


def _secrets(document: bytes) -> list[str]:
    try:
        parsed = json.loads(document)
    except ValueError:
        return []
    return _secrets_in(parsed)


def _secrets_in(doc: Any) -> list[str]:
    if not isinstance(doc, dict):
        return []
    return [v for k, v in doc.items() if k in SECRET_FIELDS and isinstance(v, str) and len(v) >= 12]
