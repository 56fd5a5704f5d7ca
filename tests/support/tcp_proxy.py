"""A loopback TCP proxy to a real server that can be frozen: it then accepts and never answers.

Frozen, it is what a SIGSTOPped PostgreSQL looks like from the client: connections are accepted (by
the kernel), bytes sent are acknowledged, and no answer ever comes. Nothing is dropped while frozen;
thawed, the held bytes flow again. Used as a context manager, it closes everything on exit.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading


class FreezableProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def dsn(self, dbname: str, user: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user={user} dbname={dbname} sslmode=disable"

    def freeze(self) -> None:
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    def close(self) -> None:
        self._closed.set()
        self._flowing.set()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in [self._listener, *sockets]:
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> FreezableProxy:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), name="proxy-conn", daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        # A client arriving while frozen is accepted and then hears nothing, as from a stopped server.
        self._flowing.wait()
        if self._closed.is_set():
            client.close()
            return
        server = socket.create_connection(self.target)
        with self._lock:
            self._sockets += [client, server]
        peers = {client: server, server: client}
        try:
            while not self._closed.is_set():
                readable, _, _ = select.select(list(peers), [], [], 0.1)
                for sock in readable:
                    self._flowing.wait()  # frozen: leave the bytes in the kernel's buffers
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except OSError:
            return
        finally:
            for sock in peers:
                with contextlib.suppress(OSError):
                    sock.close()
