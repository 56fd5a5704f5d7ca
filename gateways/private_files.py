"""Files only the service's user may read: the audit spool and database, rejected records, log files.

They hold account numbers, positions, prices and operators' commands. Files are created 0600 and
directories 0700 whatever the process umask: the mode is given to open()/mkdir() themselves, which
a umask can only tighten, never loosen. An existing file keeps its mode (a person may have widened
it on purpose, e.g. the installer's 0750 state directory for the service's group).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, Any

FILE_MODE = 0o600
DIRECTORY_MODE = 0o700


def private_directory(path: Path) -> Path:
    """Create the directory (and missing parents) 0700 if it does not exist; return it."""
    path = Path(path)
    missing = [directory for directory in (path, *path.parents) if not directory.exists()]
    for directory in reversed(missing):  # outermost first
        with contextlib.suppress(FileExistsError):  # created meanwhile by another thread or process
            directory.mkdir(mode=DIRECTORY_MODE)
    return path


def create_private_file(path: Path) -> Path:
    """Create an empty file 0600 if it does not exist (its parent directory must exist); return it."""
    path = Path(path)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, FILE_MODE))
    return path


def open_private(path: Path, mode: str = "ab") -> IO[Any]:
    """open(path, mode), the file created 0600 if it is new: for appends ("ab", "a") and writes ("w", "wb")."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_APPEND if mode.startswith("a") else os.O_TRUNC)
    return os.fdopen(os.open(path, flags, FILE_MODE), mode)
