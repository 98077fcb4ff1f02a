"""arq job (de)serialization with msgpack (msgspec): ids and plain values only, no pickle."""

from __future__ import annotations

from typing import Any

import msgspec

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(dict[str, Any])


def serialize(job: dict[str, Any]) -> bytes:
    return _encoder.encode(job)


def deserialize(raw: bytes) -> dict[str, Any]:
    return _decoder.decode(raw)
