"""TWS API socket framing: a 4-byte big-endian length, then NUL-terminated text fields.

The client opens with ``API\\0`` followed by one framed ``v{min}..{max}`` version range; every later
message in both directions is one frame whose first field is the message id.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

API_PREFIX = b"API\0"
HEADER = struct.Struct(">I")


def frame(fields: Iterable[object]) -> bytes:
    """One outgoing message: each field as text, NUL-terminated, behind its length."""
    body = "".join(f"{_text(value)}\0" for value in fields).encode()
    return HEADER.pack(len(body)) + body


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


class FrameReader:
    """Accumulates bytes from the socket and yields complete messages as lists of fields."""

    def __init__(self) -> None:
        self._buffer = b""
        self.saw_prefix = False

    def feed(self, data: bytes) -> list[list[str]]:
        self._buffer += data
        if not self.saw_prefix:
            if len(self._buffer) < len(API_PREFIX):
                return []
            if not self._buffer.startswith(API_PREFIX):
                raise ValueError(f"not a TWS API client: {self._buffer[:16]!r}")
            self._buffer = self._buffer[len(API_PREFIX):]
            self.saw_prefix = True
        messages = []
        while len(self._buffer) >= HEADER.size:
            (length,) = HEADER.unpack_from(self._buffer)
            end = HEADER.size + length
            if len(self._buffer) < end:
                break
            text = self._buffer[HEADER.size:end].decode(errors="backslashreplace")
            self._buffer = self._buffer[end:]
            fields = text.split("\0")
            if fields and fields[-1] == "":
                fields.pop()
            messages.append(fields)
        return messages


def parse_version_range(fields: list[str]) -> tuple[int, int]:
    """``v157..178`` (optionally followed by connect options) -> (157, 178)."""
    text = fields[0].split(" ", 1)[0].removeprefix("v")
    low, _, high = text.partition("..")
    return int(low), int(high or low)
