"""A local append-only spool of JSON lines with a committed-offset file.

Layout of the spool directory:
  spool-00000001.jsonl ...  segments; records are appended (and fsync'd) to the highest-numbered one
  committed.json            {"segment": n, "offset": bytes, "line": lines}: everything before this
                            position has reached the database. Replaced atomically (write, fsync, rename).

Crash safety: a record is acknowledged only after its line is fsync'd. The committed position moves only
after the database transaction commits, so a crash between the two replays a few records, which the
store skips (ON CONFLICT DO NOTHING). A line torn by a crash mid-append was never acknowledged: it is cut
off when the spool is opened again. Fully drained segments are replaced by a fresh one and deleted.
Every file is created 0600 and the directory 0700 (gateways.private_files), whatever the umask.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from gateways.private_files import create_private_file, open_private, private_directory

log = logging.getLogger(__name__)
SEGMENT = re.compile(r"^spool-(\d{8})\.jsonl$")
COMMITTED = "committed.json"


@dataclass(frozen=True, order=True)
class Position:
    segment: int
    offset: int = 0
    line: int = 0  # lines before offset in this segment (for 1-based line numbers in reports)


@dataclass(frozen=True)
class Entry:
    segment: int
    line_number: int  # 1-based, within its segment
    data: bytes
    end: Position  # the committed position once this entry is done

    @property
    def where(self) -> str:
        return f"{segment_name(self.segment)} line {self.line_number}"


def segment_name(number: int) -> str:
    return f"spool-{number:08d}.jsonl"


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class Spool:
    def __init__(self, directory: Path, rotate_bytes: int = 1 << 20) -> None:
        self.directory = Path(directory)
        self.rotate_bytes = rotate_bytes
        self._lock = threading.Lock()
        private_directory(self.directory)
        self._committed = self._load_committed()
        for number in self._segments():
            if number < self._committed.segment:
                (self.directory / segment_name(number)).unlink()  # drained before a crash cut the rotation short
        if not self._segments():
            self._create_segment(self._committed.segment)
        self._last = self._segments()[-1]
        self._cut_torn_tail(self._last)
        self._writer = open_private(self.directory / segment_name(self._last))  # kept open
        self._pending = sum(1 for _ in self._iter_from(self._committed, None))

    # -- writing ------------------------------------------------------------------------------------

    def append(self, line: bytes) -> None:
        """Append one line and fsync it before returning (the acknowledgement of durability)."""
        if b"\n" in line:
            raise ValueError("a spool line must not contain a newline")
        with self._lock:
            self._writer.write(line + b"\n")
            self._writer.flush()
            os.fsync(self._writer.fileno())
            self._pending += 1

    # -- reading and committing --------------------------------------------------------------------

    def read(self, max_entries: int) -> list[Entry]:
        """Up to max_entries complete lines after the committed position, in order."""
        with self._lock:
            start, last = self._committed, self._last
        return list(self._iter_from(start, max_entries, last))

    def commit(self, position: Position, consumed: int) -> None:
        """Record that everything before position reached the database."""
        with self._lock:
            self._write_committed(position)
            self._committed = position
            self._pending = max(self._pending - consumed, 0)
            self._rotate_if_drained()

    def pending(self) -> int:
        with self._lock:
            return self._pending

    def close(self) -> None:
        with self._lock:
            self._writer.close()

    # -- internals ---------------------------------------------------------------------------------

    def _segments(self) -> list[int]:
        return sorted(int(match.group(1)) for path in self.directory.iterdir() if (match := SEGMENT.match(path.name)))

    def _iter_from(self, start: Position, limit: int | None, last: int | None = None):
        segment, offset, line = start.segment, start.offset, start.line
        count = 0
        for number in self._segments():
            if number < segment or (last is not None and number > last):
                continue
            if number > segment:
                segment, offset, line = number, 0, 0
            try:
                handle = open(self.directory / segment_name(number), "rb")  # noqa: SIM115 (closed below)
            except FileNotFoundError:
                continue  # rotated away by a commit on another thread: everything in it was delivered
            with handle:
                handle.seek(offset)
                for data in handle:
                    if not data.endswith(b"\n"):
                        break  # an append in progress (or torn): not a record yet
                    if limit is not None and count >= limit:
                        return
                    offset += len(data)
                    line += 1
                    count += 1
                    yield Entry(number, line, data[:-1], Position(number, offset, line))

    def _load_committed(self) -> Position:
        path = self.directory / COMMITTED
        if not path.exists():
            segments = self._segments()
            return Position(segments[0] if segments else 1)
        try:
            data = json.loads(path.read_text())
            return Position(int(data["segment"]), int(data["offset"]), int(data["line"]))
        except (ValueError, KeyError, TypeError) as error:
            # Replaying from the oldest segment is safe: the store skips what it already holds.
            log.error("audit spool: %s is unreadable (%s); replaying the spool from its start", path, error)
            segments = self._segments()
            return Position(segments[0] if segments else 1)

    def _write_committed(self, position: Position) -> None:
        temporary = self.directory / (COMMITTED + ".tmp")
        with open_private(temporary, "w") as handle:
            json.dump({"segment": position.segment, "offset": position.offset, "line": position.line}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.directory / COMMITTED)
        _fsync_directory(self.directory)

    def _create_segment(self, number: int) -> None:
        create_private_file(self.directory / segment_name(number))
        _fsync_directory(self.directory)

    def _cut_torn_tail(self, number: int) -> None:
        path = self.directory / segment_name(number)
        data = path.read_bytes()
        keep = data.rfind(b"\n") + 1
        if keep < len(data):
            log.warning("audit spool: %s ends with %d bytes of a line torn by a crash; it was never "
                        "acknowledged and is dropped", path.name, len(data) - keep)
            with open(path, "r+b") as handle:
                handle.truncate(keep)
                os.fsync(handle.fileno())

    def _rotate_if_drained(self) -> None:
        """Once everything reached the database, start a new segment and delete the drained one."""
        committed, last = self._committed, self._last
        if committed.segment != last or committed.offset < self.rotate_bytes:
            return
        if committed.offset != (self.directory / segment_name(last)).stat().st_size:
            return  # records still pending behind the committed position
        self._create_segment(last + 1)
        self._writer.close()
        self._writer = open_private(self.directory / segment_name(last + 1))
        self._last = last + 1
        self._committed = Position(last + 1)
        self._write_committed(self._committed)
        (self.directory / segment_name(last)).unlink()
