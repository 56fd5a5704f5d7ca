"""A fake Telegram Bot API on 127.0.0.1 speaking the real wire format.

``/bot<TOKEN>/getUpdates`` long-polls (``timeout`` seconds) and honours ``offset`` as Telegram does:
updates below the offset are confirmed and forgotten; a negative offset returns the last -offset
updates. ``/bot<TOKEN>/sendMessage`` records the reply. Replies are ``{"ok": true, "result": ...}``
or ``{"ok": false, "error_code": ..., "description": ...}``. Tests inject messages with
``inject_message`` and read replies with ``wait_for_replies``; ``fail_next`` makes the next calls
answer with an error status to exercise the client's backoff.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


class FakeTelegramAPI:
    def __init__(self, token: str = "123456:TEST-token-abcdef") -> None:
        self.token = token
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1000
        self._next_message_id = 1
        self.sent: list[dict[str, Any]] = []
        self.requests: list[str] = []  # method names called, in order
        self._failures: list[int] = []
        self._changed = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-telegram", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> FakeTelegramAPI:
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._changed:
            self._changed.notify_all()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeTelegramAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- test controls
    def inject_message(self, chat_id: int, text: str, user_id: int | None = None, date: float | None = None,
                       chat_type: str = "private") -> int:
        user_id = chat_id if user_id is None else user_id
        with self._changed:
            update_id = self._next_update_id
            self._next_update_id += 1
            self._updates.append({
                "update_id": update_id,
                "message": {
                    "message_id": self._next_message_id,
                    "from": {"id": user_id, "is_bot": False, "first_name": "Trader", "username": f"user{user_id}"},
                    "chat": {"id": chat_id, "type": chat_type},
                    "date": int(time.time() if date is None else date),
                    "text": text,
                },
            })
            self._next_message_id += 1
            self._changed.notify_all()
            return update_id

    def fail_next(self, count: int, status: int = 502) -> None:
        with self._changed:
            self._failures.extend([status] * count)

    def pending_updates(self) -> int:
        with self._changed:
            return len(self._updates)

    def replies(self, chat_id: int | None = None) -> list[str]:
        with self._changed:
            return [m["text"] for m in self.sent if chat_id is None or m["chat_id"] == chat_id]

    def wait_for_replies(self, chat_id: int, count: int, timeout: float = 10.0) -> list[str]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [m["text"] for m in self.sent if m["chat_id"] == chat_id]
                remaining = deadline - time.monotonic()
                if len(found) >= count or remaining <= 0:
                    return found
                self._changed.wait(remaining)

    def wait_until_confirmed(self, update_id: int, timeout: float = 10.0) -> bool:
        """True once the client has acknowledged ``update_id`` (called getUpdates with a higher offset)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while any(u["update_id"] <= update_id for u in self._updates):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True

    # --- Bot API methods
    def _get_updates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset", 0) or 0)
        limit = max(1, min(int(params.get("limit", 100) or 100), 100))
        timeout = float(params.get("timeout", 0) or 0)
        deadline = time.monotonic() + timeout
        with self._changed:
            if offset > 0:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
                self._changed.notify_all()
            while True:
                if offset < 0:
                    return self._updates[offset:][:limit]
                if self._updates:
                    return self._updates[:limit]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._changed.wait(remaining)

    def _send_message(self, params: dict[str, Any]) -> Any:
        if "chat_id" not in params or not str(params.get("text", "")).strip():
            raise _ApiError(400, "Bad Request: message text is empty" if "chat_id" in params
                            else "Bad Request: chat_id is empty")
        with self._changed:
            message = {"chat_id": int(params["chat_id"]), "text": str(params["text"])}
            self.sent.append(message)
            self._changed.notify_all()
            return {"message_id": len(self.sent), "chat": {"id": message["chat_id"], "type": "private"},
                    "date": int(time.time()), "text": message["text"]}

    def _handler_class(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                self._dispatch()

            def do_POST(self) -> None:
                self._dispatch()

            def _params(self) -> dict[str, Any]:
                parts = urlsplit(self.path)
                params: dict[str, Any] = dict(parse_qsl(parts.query))
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    body = self.rfile.read(length)
                    if self.headers.get("Content-Type", "").startswith("application/json"):
                        params.update(json.loads(body))
                    else:
                        params.update(parse_qsl(body.decode()))
                return params

            def _dispatch(self) -> None:
                path = urlsplit(self.path).path
                prefix, _, method = path.rpartition("/")
                try:
                    if prefix != f"/bot{api.token}":
                        unknown = prefix.startswith("/bot")
                        raise _ApiError(401, "Unauthorized") if unknown else _ApiError(404, "Not Found")
                    params = self._params()
                    with api._changed:
                        api.requests.append(method)
                        failure = api._failures.pop(0) if api._failures else None
                    if failure:
                        raise _ApiError(failure, "Bad Gateway")
                    if method == "getUpdates":
                        result = api._get_updates(params)
                    elif method == "sendMessage":
                        result = api._send_message(params)
                    elif method == "getMe":
                        result = {"id": 123456, "is_bot": True, "first_name": "Cleanup", "username": "cleanup_bot"}
                    else:
                        raise _ApiError(404, "Not Found: method not found")
                    self._reply(200, {"ok": True, "result": result})
                except _ApiError as error:
                    self._reply(error.code, {"ok": False, "error_code": error.code, "description": error.description})

            def _reply(self, status: int, payload: dict[str, Any]) -> None:
                body = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client went away (stopped mid long-poll)

        return Handler


class _ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description
