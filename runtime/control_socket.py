"""Local control: a Unix socket where file permissions decide who may command the running service.

Wire format: one JSON object per line each way. Request ``{"command": "status", "who": "alice"}``,
reply ``{"ok": true, "text": "...", "data": {...}}``. A connection may carry several requests (the
terminal UI keeps one open). The socket file gets mode 0660 before anyone can reach it: the
service's user and group may control it, nobody else. The peer's uid (SO_PEERCRED) is what is
audited; the "who" a client sends is only a label next to it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pwd
import socket
import stat
import struct
import threading
from collections.abc import Callable
from pathlib import Path

from runtime.commands import CommandReply

log = logging.getLogger(__name__)

SOCKET_MODE = 0o660
MAX_REQUEST_BYTES = 64 * 1024
CLIENT_IDLE_SECONDS = 300.0  # a TUI connection idle longer than this is closed

Handle = Callable[[str, str, str], CommandReply]  # CommandHandler.handle(text, who, via)


class ControlSocketError(Exception):
    """One line for the person at the terminal: why the control socket cannot be used."""


def _peer_name(conn: socket.socket) -> str:
    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
    except OSError:
        return "unknown user"
    try:
        return f"{pwd.getpwuid(uid).pw_name}(uid {uid})"
    except KeyError:
        return f"uid {uid}"


class ControlSocketServer:
    def __init__(self, path: Path | str, handle: Handle, mode: int = SOCKET_MODE) -> None:
        self.path = Path(path)
        self.handle = handle
        self.mode = mode
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._inode: int | None = None

    def start(self) -> None:
        """Bind (refusing if another instance is live), set permissions, and serve on a thread."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._remove_stale()
        # Bind under a temporary name, set the mode, then rename into place: the final path never
        # exists with looser permissions, whatever the process umask is.
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(temporary))
            os.chmod(temporary, self.mode)
            sock.listen(16)
            os.rename(temporary, self.path)
            self._inode = self.path.stat().st_ino
        except OSError as error:
            sock.close()
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
            raise ControlSocketError(f"cannot create control socket {self.path}: {error.strerror}") from None
        sock.settimeout(0.5)  # lets the accept loop notice stop()
        self._sock = sock
        self._stopping.clear()
        self._thread = threading.Thread(target=self._serve, name="control-socket", daemon=True)
        self._thread.start()
        log.info("control socket listening on %s (mode %o)", self.path, self.mode)

    def stop(self, timeout: float = 2.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        # Remove the file only if it is still ours, not a newer instance's.
        with contextlib.suppress(FileNotFoundError):
            if self._inode is not None and self.path.stat().st_ino == self._inode:
                self.path.unlink()
        self._inode = None

    def healthy(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stopping.is_set()

    def _remove_stale(self) -> None:
        try:
            info = self.path.lstat()
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(info.st_mode):
            raise ControlSocketError(f"{self.path} exists and is not a socket; refusing to replace it")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(str(self.path))
        except (ConnectionRefusedError, FileNotFoundError):
            log.info("removing stale control socket %s (nothing listens on it)", self.path)
            self.path.unlink(missing_ok=True)
            return
        except OSError as error:
            raise ControlSocketError(f"control socket {self.path} exists and cannot be checked: "
                                     f"{error.strerror}") from None
        finally:
            probe.close()
        raise ControlSocketError(f"control socket {self.path} is in use: another cleanup-manager is running")

    def _serve(self) -> None:
        while not self._stopping.is_set():
            sock = self._sock
            if sock is None:
                return
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                raise
            threading.Thread(target=self._serve_client, args=(conn,), name="control-client", daemon=True).start()

    def _serve_client(self, conn: socket.socket) -> None:
        peer = _peer_name(conn)
        conn.settimeout(CLIENT_IDLE_SECONDS)
        with conn, conn.makefile("rb") as reader:
            while not self._stopping.is_set():
                try:
                    line = reader.readline(MAX_REQUEST_BYTES + 1)
                except (TimeoutError, OSError):
                    return
                if not line:
                    return
                reply = self._answer(line, peer)
                try:
                    conn.sendall(json.dumps(reply.to_json_dict()).encode() + b"\n")
                except OSError:
                    return

    def _answer(self, line: bytes, peer: str) -> CommandReply:
        if len(line) > MAX_REQUEST_BYTES or not line.endswith(b"\n"):
            return CommandReply(False, "request too long or not newline-terminated")
        try:
            request = json.loads(line)
            text = str(request["command"])
        except (ValueError, KeyError, TypeError):
            return CommandReply(False, 'request must be JSON like {"command": "status"}')
        claimed = str(request.get("who") or "").strip()
        who = peer if not claimed or peer.startswith(f"{claimed}(") else f"{peer} as {claimed[:40]}"
        try:
            return self.handle(text, who, "socket")
        except Exception as error:  # a handler bug must not drop the connection silently
            log.exception("control command %r failed", text)
            return CommandReply(False, f"internal error: {error}")


def send_command(path: Path | str, text: str, timeout: float = 10.0, who: str | None = None) -> CommandReply:
    """Send one command to the running service and return its reply; ControlSocketError if unreachable."""
    path = Path(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise ControlSocketError(f"no cleanup-manager is listening on {path}: is the service running?") from None
        except PermissionError:
            raise ControlSocketError(f"permission denied on {path}: your user may not control the service "
                                     "(the socket's owner and group may; ask to be added to its group)") from None
        request = {"command": text, "who": who or _current_user()}
        try:
            sock.sendall(json.dumps(request).encode() + b"\n")
            with sock.makefile("rb") as reader:
                line = reader.readline(16 * 1024 * 1024)
        except TimeoutError:
            raise ControlSocketError(f"no reply from cleanup-manager on {path} within {timeout:g} s") from None
        except OSError as error:
            raise ControlSocketError(f"control socket {path}: {error.strerror or error}") from None
        if not line:
            raise ControlSocketError(f"cleanup-manager on {path} closed the connection without a reply")
        try:
            return CommandReply.from_json_dict(json.loads(line))
        except (ValueError, AttributeError):
            raise ControlSocketError(f"unreadable reply from {path}") from None
    finally:
        sock.close()


def _current_user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return f"uid {os.getuid()}"
