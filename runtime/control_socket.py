"""Local control: a Unix socket where file permissions decide who may command the running service.

Wire format: one JSON object per line each way. Request ``{"command": "status", "who": "alice"}``,
reply ``{"ok": true, "text": "...", "data": {...}}``. A connection may carry several requests (the
terminal UI keeps one open). The socket file gets mode 0660 before anyone can reach it: the
service's user and group may control it, nobody else.

What is audited is what the kernel says about the peer (SO_PEERCRED: uid, gid, pid), never the
"who" a client sends, which is kept beside it labelled as claimed. Under systemd's PrivateUsers=yes
the service sees only root and its own user; every other uid reads as the overflow uid 65534, and
the audit says so ("unmapped") rather than naming a user it cannot know. The pid is the host's.

Limits, each refused in one reply line: a request longer than MAX_REQUEST_BYTES closes the
connection before anything runs (the rest of the line is never read as a new request); JSON nested
deeper than MAX_NESTING is refused before parsing; at most MAX_CLIENTS connections are served at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pwd
import re
import socket
import stat
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from domain.commands import CommandReply

log = logging.getLogger(__name__)

SOCKET_MODE = 0o660
MAX_REQUEST_BYTES = 64 * 1024
MAX_NESTING = 4  # a request is one flat object of strings
MAX_CLIENTS = 32  # the terminal UI holds one; ctl one per command
CLIENT_IDLE_SECONDS = 300.0  # a TUI connection idle longer than this is closed
REFUSAL_SEND_SECONDS = 1.0

Handle = Callable[..., CommandReply]  # CommandHandler.handle(text, who, via, identity=...)
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


class ControlSocketError(Exception):
    """One line for the person at the terminal: why the control socket cannot be used."""


@dataclass(frozen=True)
class Peer:
    """The other end of a connection as the kernel reports it, and the name the client claims."""

    uid: int | None
    gid: int | None
    pid: int | None
    user: str = ""  # the local account of uid; "" when it has none or the uid is unmapped
    unmapped: bool = False  # the uid is the overflow uid: the real one is outside our user namespace
    claimed: str = ""

    def label(self) -> str:
        """E.g. ``uid 1001 (alice) gid 1001 pid 4242`` or ``uid 65534 (unmapped) ..., claims 'alice'``."""
        if self.uid is None:
            who = "unknown peer"
        else:
            account = " (unmapped)" if self.unmapped else (f" ({self.user})" if self.user else "")
            who = f"uid {self.uid}{account} gid {self.gid} pid {self.pid}"
        if self.claimed and self.claimed != self.user:
            who += f", claims {self.claimed!r}"
        return who

    def identity(self) -> dict[str, object]:
        """For the audit record's details: the kernel's numbers, and the claim named as one."""
        return {"peer_uid": self.uid, "peer_gid": self.gid, "peer_pid": self.pid,
                "peer_uid_unmapped": self.unmapped, "claimed_name": self.claimed}


def mapped_ids(id_map: str) -> list[range]:
    """The ids a user namespace maps, from /proc/self/uid_map text ("inside outside count" lines)."""
    ranges = []
    for line in id_map.splitlines():
        fields = line.split()
        if len(fields) == 3:
            inside, _outside, count = (int(field) for field in fields)
            ranges.append(range(inside, inside + count))
    return ranges


def _read_id_map(name: str) -> list[range]:
    try:
        return mapped_ids(Path(f"/proc/self/{name}").read_text())
    except OSError:
        return [range(0, 2**32)]  # no user namespaces here: every id is real


def peer_of(conn: socket.socket, claimed: str = "", uid_map: list[range] | None = None) -> Peer:
    """The kernel's credentials of the peer (SO_PEERCRED), translated into our user namespace."""
    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, gid = struct.unpack("3i", creds)
    except OSError:
        return Peer(None, None, None, claimed=claimed)
    uid_map = _read_id_map("uid_map") if uid_map is None else uid_map
    if not any(uid in ids for ids in uid_map):
        # The kernel shows a uid from outside the namespace as the overflow uid; "nobody" would be a lie.
        return Peer(uid, gid, pid, unmapped=True, claimed=claimed)
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = ""
    return Peer(uid, gid, pid, user, claimed=claimed)


def nesting_depth(line: bytes) -> int:
    """How deep JSON brackets nest, ignoring brackets inside strings; cheap, no recursion."""
    depth = deepest = 0
    for bracket in re.findall(rb"[\[\]{}]", _JSON_STRING.sub(b'""', line)):
        depth += 1 if bracket in (b"[", b"{") else -1
        deepest = max(deepest, depth)
    return deepest


def clear_stale_socket(path: Path) -> None:
    """Make ``path`` free for a new control socket, or raise ControlSocketError saying why it is not.

    A socket file nobody listens on (left by a crashed process) is removed; a live one means another
    instance is running; anything that is not a socket is never deleted.
    """
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise ControlSocketError(f"{path} exists and is not a socket; refusing to replace it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        log.info("removing stale control socket %s (nothing listens on it)", path)
        path.unlink(missing_ok=True)
        return
    except BlockingIOError:
        pass  # its listen queue is full: very much alive
    except OSError as error:
        raise ControlSocketError(f"control socket {path} exists and cannot be checked: {error.strerror}") from None
    finally:
        probe.close()
    raise ControlSocketError(f"control socket {path} is in use: another cleanup-manager is running")


class ControlSocketServer:
    def __init__(self, path: Path | str, handle: Handle, mode: int = SOCKET_MODE) -> None:
        self.path = Path(path)
        self.handle = handle
        self.mode = mode
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._inode: int | None = None
        self._slots = threading.BoundedSemaphore(MAX_CLIENTS)

    def start(self) -> None:
        """Bind (refusing if another instance is live), set permissions, and serve on a thread."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        clear_stale_socket(self.path)
        # Bind under a temporary name, set the mode, then rename into place: the final path never
        # exists with looser permissions, whatever the process umask is.
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(temporary))
            os.chmod(temporary, self.mode)
            sock.listen(MAX_CLIENTS * 2)
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
            if not self._slots.acquire(blocking=False):
                self._refuse_busy(conn)
                continue
            threading.Thread(target=self._serve_client, args=(conn,), name="control-client", daemon=True).start()

    def _refuse_busy(self, conn: socket.socket) -> None:
        log.warning("control socket: %d connections open, refusing one more", MAX_CLIENTS)
        with conn:
            conn.settimeout(REFUSAL_SEND_SECONDS)
            _send(conn, CommandReply(False, f"too many control connections ({MAX_CLIENTS} open): close one "
                                            "(each terminal UI holds one) or try again shortly"))

    def _serve_client(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(CLIENT_IDLE_SECONDS)
            with conn, conn.makefile("rb") as reader:
                while not self._stopping.is_set():
                    try:
                        line = reader.readline(MAX_REQUEST_BYTES + 1)
                    except (TimeoutError, OSError):
                        return
                    if not line:
                        return
                    if not line.endswith(b"\n"):
                        # Longer than the limit, or cut off by the client's end: the line was not read
                        # whole, so nothing of it (or of what follows on this connection) is a request.
                        _send(conn, CommandReply(False, f"request longer than {MAX_REQUEST_BYTES} bytes or not "
                                                        "newline-terminated: nothing done, connection closed"))
                        return
                    if not _send(conn, self._answer(line, conn)):
                        return
        finally:
            self._slots.release()

    def _answer(self, line: bytes, conn: socket.socket) -> CommandReply:
        if nesting_depth(line) > MAX_NESTING:
            return CommandReply(False, f"request nested deeper than {MAX_NESTING} levels: nothing done")
        try:
            request = json.loads(line)
        except ValueError:
            request = None
        text, claimed = (request.get("command"), request.get("who") or "") if isinstance(request, dict) else (None, "")
        if not isinstance(text, str) or not isinstance(claimed, str):
            return CommandReply(False, 'request must be JSON like {"command": "status"}')
        peer = peer_of(conn, claimed.strip()[:40])
        try:
            return self.handle(text, peer.label(), "socket", identity=peer.identity())
        except Exception as error:  # a handler bug must not drop the connection silently
            log.exception("control command %r failed", text)
            return CommandReply(False, f"internal error: {error}")


def _send(conn: socket.socket, reply: CommandReply) -> bool:
    try:
        conn.sendall(json.dumps(reply.to_json_dict()).encode() + b"\n")
        return True
    except OSError:
        return False


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
        except BlockingIOError:  # EAGAIN: the listen queue is full (a flood of connections)
            raise ControlSocketError(f"cleanup-manager on {path} has no room for another connection now; "
                                     "try again shortly") from None
        request = {"command": text, "who": who or _current_user()}
        try:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                # A server that refuses at once (too many connections) may close before reading this;
                # its one-line reason is still waiting to be read below.
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
