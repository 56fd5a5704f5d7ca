"""The Theta Terminal's HTTP status codes, mapped to the feed's error kinds.

The codes and their meanings are the Terminal's documented ones (same table for v2 and v3):
https://docs.thetadata.us/Articles/Errors-Exchanges-Conditions/Error-Codes.html and
https://http-docs.thetadata.us/Articles/Data-And-Requests/Value-Maps.html.
v3 sends a plain-text body with the error; v2 may also name it in ``header.error_type``.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.feed_errors import FeedError, FeedErrorKind


@dataclass(frozen=True)
class TerminalCode:
    status: int
    name: str
    kind: FeedErrorKind
    advice: str


_K = FeedErrorKind
# Why each kind: NO_DATA is "nothing quoted yet" (not an outage); OS_LIMIT is retried next poll;
# request-shape errors (404/473/475) mean this client and the Terminal disagree on the API, which
# a retry will not fix, so they count as MALFORMED; everything else leaves us without prices: OUTAGE.
TERMINAL_CODES: dict[int, TerminalCode] = {code.status: code for code in (
    TerminalCode(404, "NO_IMPL", _K.MALFORMED, "request not implemented: update the Theta Terminal"),
    TerminalCode(429, "OS_LIMIT", _K.RATE_LIMITED, "the operating system throttles requests: retry later"),
    TerminalCode(470, "GENERAL", _K.OUTAGE, "general Terminal error"),
    TerminalCode(471, "PERMISSION", _K.PERMISSION, "the ThetaData account lacks the subscription for this data"),
    TerminalCode(472, "NO_DATA", _K.NO_DATA, "no data for this request yet"),
    TerminalCode(473, "INVALID_PARAMS", _K.MALFORMED, "request parameters rejected: update the Theta Terminal"),
    TerminalCode(474, "DISCONNECTED", _K.OUTAGE, "the Terminal lost its connection to ThetaData (MDDS)"),
    TerminalCode(475, "TERMINAL_PARSE", _K.MALFORMED, "the Terminal could not parse the request"),
    TerminalCode(476, "WRONG_IP", _K.OUTAGE,
                 "request came from another address than the first one: always use the same host string "
                 "(127.0.0.1 or localhost, never both) while the Terminal runs"),
    TerminalCode(477, "NO_PAGE_FOUND", _K.OUTAGE, "page does not exist or expired"),
    TerminalCode(478, "INVALID_SESSION_ID", _K.OUTAGE, "invalid session: is more than one Terminal running?"),
    TerminalCode(570, "LARGE_REQUEST", _K.MALFORMED, "request too large"),
    TerminalCode(571, "SERVER_STARTING", _K.OUTAGE, "ThetaData's server is restarting"),
    TerminalCode(572, "UNCAUGHT_ERROR", _K.OUTAGE, "unexpected Terminal error"),
)}
_BY_NAME = {code.name: code for code in TERMINAL_CODES.values()}

# Failures below HTTP: the Terminal is not there or does not answer in time.
CONNECTION_REFUSED = "CONNECTION_REFUSED"
CONNECTION_ERROR = "CONNECTION_ERROR"
TIMEOUT = "TIMEOUT"
BUSY = "BUSY"  # the previous call to this endpoint is still running (a hanging Terminal)
MALFORMED_BODY = "MALFORMED_BODY"


class ThetaFeedError(FeedError):
    """A FeedError that also says which Terminal condition caused it (``code``, e.g. DISCONNECTED)."""

    def __init__(self, kind: FeedErrorKind, code: str, message: str, status: int | None = None) -> None:
        super().__init__(kind, message)
        self.code = code
        self.status = status


def error_for_status(status: int, body: str, what: str) -> ThetaFeedError:
    """The error for a non-200 answer; ``what`` names the request in the message."""
    known = TERMINAL_CODES.get(status)
    detail = " ".join(body.split())[:200]
    if known is not None:
        message = f"{what}: {status} {known.name}: {known.advice}" + (f" ({detail})" if detail else "")
        return ThetaFeedError(known.kind, known.name, message, status)
    kind = FeedErrorKind.OUTAGE if status >= 500 else FeedErrorKind.MALFORMED
    return ThetaFeedError(kind, f"HTTP_{status}", f"{what}: unexpected HTTP {status}" +
                          (f" ({detail})" if detail else ""), status)


def error_for_name(name: str, message: str, what: str) -> ThetaFeedError:
    """The error a v2 ``header.error_type`` names inside an otherwise readable body."""
    known = _BY_NAME.get(name.upper())
    if known is None:
        return ThetaFeedError(FeedErrorKind.MALFORMED, MALFORMED_BODY, f"{what}: Terminal error {name}: {message}")
    return error_for_status(known.status, message, what)
