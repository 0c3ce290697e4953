"""A table of encoded values: what a store that decodes every read (RocksDB) is like."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

import orjson


class EncodedTable(MutableMapping[str, Any]):
    """Values held as the bytes a store keeps (decoded on read, encoded on write)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def __getitem__(self, key: str) -> Any:
        return orjson.loads(self.data[key])

    def __setitem__(self, key: str, value: Any) -> None:
        self.data[key] = orjson.dumps(value)

    def __delitem__(self, key: str) -> None:
        del self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __contains__(self, key: object) -> bool:
        return key in self.data

    def bytes(self) -> int:
        return sum(len(k) + len(v) for k, v in self.data.items())
