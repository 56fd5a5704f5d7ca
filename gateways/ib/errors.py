"""One-line operator messages for the ways reaching IB Gateway fails."""

from __future__ import annotations

import asyncio

from gateways.broker import BrokerError


def unreachable(host: str, port: int, error: BaseException, client_id: int, timeout: float) -> BrokerError:
    """Turn a failed connect into one line naming the address and what to check."""
    if isinstance(error, BrokerError):
        return error
    if isinstance(error, (asyncio.TimeoutError, TimeoutError)):
        return BrokerError(
            f"IB Gateway at {host}:{port} did not complete the API handshake within {timeout:g}s: "
            f"is client id {client_id} already in use, or is 127.0.0.1 missing from the trusted IPs?")
    if isinstance(error, ConnectionRefusedError) or (isinstance(error, OSError) and not isinstance(
            error, ConnectionError)):
        return BrokerError(
            f"IB Gateway not reachable at {host}:{port}: is IB Gateway running with API socket clients "
            "enabled on that port?")
    return BrokerError(
        f"IB Gateway at {host}:{port} closed the API connection ({' '.join(str(error).split()) or 'no reason'}): "
        f"is client id {client_id} already in use, or is 127.0.0.1 missing from the trusted IPs?")


def not_connected(host: str, port: int, what: str) -> BrokerError:
    return BrokerError(f"not connected to IB Gateway at {host}:{port}; {what} (reconnecting)")
