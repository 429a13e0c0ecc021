"""Reading and writing the model id inside serialized protobuf requests.

The mesh forwards inference requests as raw bytes. When a client sets no ``mm-*``
header, the id is read from the request at a field-number path (upstream's dataplane
config, e.g. ``ModelInfer.model_name`` = [1]). Before a request goes to a runtime over
gRPC, the concrete model id is written at the runtime's ``idInjectionPath`` by appending
a field: protobuf parsers keep the last value of a singular field and merge embedded
messages, so appending overrides without re-encoding the request.
"""

from __future__ import annotations

from collections.abc import Sequence

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


class MalformedRequest(ValueError):
    """The bytes are not a well-formed protobuf message."""


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise MalformedRequest("truncated or oversized varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _last_field(data: bytes, number: int) -> bytes | None:
    """The payload of the last length-delimited occurrence of field ``number``."""
    found: bytes | None = None
    pos, end = 0, len(data)
    while pos < end:
        tag, pos = _read_varint(data, pos)
        wire_type, field = tag & 7, tag >> 3
        if wire_type == _VARINT:
            _, pos = _read_varint(data, pos)
        elif wire_type == _I64:
            pos += 8
        elif wire_type == _I32:
            pos += 4
        elif wire_type == _LEN:
            length, pos = _read_varint(data, pos)
            if pos + length > end:
                raise MalformedRequest("length-delimited field runs past the end")
            if field == number:
                found = data[pos : pos + length]
            pos += length
        else:
            raise MalformedRequest(f"unsupported wire type {wire_type}")
    if pos != end:
        raise MalformedRequest("truncated fixed-width field")
    return found


def extract_id(data: bytes, path: Sequence[int]) -> str | None:
    """The string at ``path`` in the serialized message, or None when unset or empty."""
    current = data
    for number in path:
        found = _last_field(current, number)
        if found is None:
            return None
        current = found
    try:
        return current.decode("utf-8") or None
    except UnicodeDecodeError:
        raise MalformedRequest("the model id field is not valid UTF-8") from None


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _varint((number << 3) | _LEN) + _varint(len(payload)) + payload


def inject_id(data: bytes, path: Sequence[int], model_id: str) -> bytes:
    """``data`` with the string at ``path`` set to ``model_id``."""
    if not path:
        return data
    payload = model_id.encode("utf-8")
    for number in reversed(path[1:]):
        payload = _length_delimited(number, payload)
    return data + _length_delimited(path[0], payload)
