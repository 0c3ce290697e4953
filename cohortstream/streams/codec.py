"""The ``orjson`` Faust codec: internal topics decoded once per message, for every agent.

Two agents read ``events_enriched``; with a raw value each decoded the same
bytes again. Values already encoded (bytes) pass through unchanged, so
publishers can hand over the bytes they built.
"""

from __future__ import annotations

from typing import Any

import orjson
from faust.serializers import codecs


class OrjsonCodec(codecs.Codec):
    def _dumps(self, obj: Any) -> bytes:
        return obj if isinstance(obj, bytes) else orjson.dumps(obj)

    def _loads(self, s: bytes) -> Any:
        return orjson.loads(s)


codecs.register("orjson", OrjsonCodec())


class TextCodec(codecs.Codec):
    """UTF-8 text keys that come back as ``str`` (``raw`` would return bytes after a
    changelog recovery, and a str lookup would then miss every recovered key)."""

    def _dumps(self, obj: Any) -> bytes:
        return obj if isinstance(obj, bytes) else str(obj).encode()

    def _loads(self, s: bytes) -> Any:
        return s.decode()


codecs.register("text", TextCodec())
