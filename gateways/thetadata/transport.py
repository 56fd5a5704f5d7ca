"""HTTP to the local Theta Terminal: one Session, a hard deadline per call, one call in flight per endpoint.

Why a worker thread per call: ``requests`` timeouts bound each socket operation, not the whole
call, so a Terminal that trickles bytes could hold a caller far past the timeout. The caller
waits on the worker for at most ``timeout`` seconds; a worker still running marks its endpoint
busy, and the next call to that endpoint fails at once (BUSY) instead of queueing behind it. The
worker itself ends when its read timeout fires, so abandoned workers never accumulate.

Timeouts here bound network waits, not trading decisions, so real time (not the Clock) is right.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

import requests

from domain.feed_errors import FeedErrorKind
from gateways.thetadata.errors import (
    BUSY,
    CONNECTION_ERROR,
    CONNECTION_REFUSED,
    MALFORMED_BODY,
    TIMEOUT,
    ThetaFeedError,
    error_for_status,
)
from gateways.thetadata.health_log import EpisodeLog

log = logging.getLogger(__name__)
T = TypeVar("T")


class Transport:
    def __init__(self, base_url: str, timeout: float, session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = session or requests.Session()
        # Never route the local Terminal through a proxy from the environment, and always use the
        # configured host string: the Terminal answers 476 WRONG_IP when the address changes.
        self._session.trust_env = False
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        self.episodes = EpisodeLog(log)

    def get(self, endpoint: str, path: str, params: Mapping[str, str], what: str,
            parse: Callable[[bytes], T], subscription: str = "") -> T:
        """``parse`` applied to the body of a 200 answer; otherwise a ThetaFeedError, logged once per
        episode. A parser failure counts as a failure of the request."""
        try:
            value = parse(self._get(endpoint, path, params, what, subscription))
        except ThetaFeedError as error:
            self.episodes.failure(endpoint, error)
            raise
        except Exception as error:  # a parser bug must still reach the caller as a FeedError
            wrapped = ThetaFeedError(FeedErrorKind.MALFORMED, MALFORMED_BODY,
                                     f"{what}: malformed response: {type(error).__name__}: {error}")
            self.episodes.failure(endpoint, wrapped)
            raise wrapped from error
        self.episodes.success(endpoint)
        return value

    def close(self) -> None:
        self._session.close()

    def _get(self, endpoint: str, path: str, params: Mapping[str, str], what: str, subscription: str) -> bytes:
        with self._lock:
            if endpoint in self._busy:
                raise ThetaFeedError(FeedErrorKind.OUTAGE, BUSY,
                                     f"{what}: the previous request to the Theta Terminal at {self.base_url} "
                                     "has not finished; not queueing another")
            self._busy.add(endpoint)
        result: Future[requests.Response] = Future()
        worker = threading.Thread(target=self._fetch, args=(endpoint, self.base_url + path, dict(params), result),
                                  name=f"theta-{endpoint}", daemon=True)
        try:
            worker.start()
        except RuntimeError as error:  # no thread to be had: free the endpoint, report an outage
            with self._lock:
                self._busy.discard(endpoint)
            raise ThetaFeedError(FeedErrorKind.OUTAGE, CONNECTION_ERROR, f"{what}: cannot start a request: "
                                 f"{error}") from None
        try:
            response = result.result(timeout=self.timeout)
        except (FutureTimeout, requests.exceptions.Timeout):
            raise ThetaFeedError(FeedErrorKind.OUTAGE, TIMEOUT,
                                 f"{what}: the Theta Terminal at {self.base_url} did not answer within "
                                 f"{self.timeout:g} s") from None
        except requests.exceptions.ConnectionError as error:
            if _refused(error):
                raise ThetaFeedError(FeedErrorKind.OUTAGE, CONNECTION_REFUSED,
                                     f"{what}: ThetaData Terminal not reachable at {self.base_url} "
                                     "(connection refused)") from None
            raise ThetaFeedError(FeedErrorKind.OUTAGE, CONNECTION_ERROR,
                                 f"{what}: connection to the Theta Terminal at {self.base_url} failed: "
                                 f"{_innermost(error)}") from None
        except Exception as error:  # requests' own and anything below it (urllib3, ssl, ...): never escapes
            raise ThetaFeedError(FeedErrorKind.OUTAGE, CONNECTION_ERROR,
                                 f"{what}: request to the Theta Terminal failed: {_innermost(error)}") from None
        if response.status_code != 200:
            refused = error_for_status(response.status_code, response.text, what)
            if refused.kind is FeedErrorKind.PERMISSION and subscription:
                refused = ThetaFeedError(refused.kind, refused.code, f"{refused} (needs: {subscription})",
                                         refused.status)
            raise refused
        return response.content

    def _fetch(self, endpoint: str, url: str, params: dict[str, str], result: Future) -> None:
        response: requests.Response | None = None
        failure: BaseException | None = None
        try:
            # (connect, read): each socket wait is bounded too, so this thread always ends.
            response = self._session.get(url, params=params, timeout=(self.timeout, self.timeout))
            response.content  # read the whole body inside the worker, under its timeout  # noqa: B018
        except BaseException as error:  # handed to the caller, who maps it; never lost in a thread
            failure = error
        # Free the endpoint before the caller sees the outcome, so its next call is never BUSY.
        with self._lock:
            self._busy.discard(endpoint)
        if failure is not None:
            result.set_exception(failure)
        else:
            result.set_result(response)


def _refused(error: BaseException) -> bool:
    seen: BaseException | None = error
    depth = 0
    while seen is not None and depth < 10:
        if isinstance(seen, ConnectionRefusedError) or "Connection refused" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__ or (seen.args[0] if seen.args and
                                                      isinstance(seen.args[0], BaseException) else None)
        depth += 1
    return False


def _innermost(error: BaseException) -> str:
    text = str(error)
    return text if len(text) <= 200 else text[:200] + "..."
