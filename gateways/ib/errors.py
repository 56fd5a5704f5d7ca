"""One-line operator messages for the ways reaching IB Gateway fails."""

from __future__ import annotations

import asyncio

from gateways.broker import BrokerError, BrokerUnavailable, OrderNotOurs, OrderOutcomeUnknown


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
        f"IB Gateway at {host}:{port} closed the API connection ({_one_line(error) or 'no reason'}): "
        f"is client id {client_id} already in use, or is 127.0.0.1 missing from the trusted IPs?")


def not_reconciled(host: str, port: int, error: Exception, timeout: float) -> BrokerError:
    """The socket came up but the start-up sync (account, orders, executions, positions) did not finish."""
    if isinstance(error, BrokerError):
        return error
    if isinstance(error, TimeoutError):
        reason = f"did not answer the start-up sync of orders and positions within {timeout:g}s"
    elif isinstance(error, ConnectionError):
        reason = "closed the API connection during the start-up sync of orders and positions"
    else:
        reason = f"failed the start-up sync of orders and positions ({type(error).__name__}: {_one_line(error)})"
    return BrokerError(f"IB Gateway at {host}:{port} {reason}; disconnected, nothing was traded")


def not_connected(host: str, port: int, what: str) -> BrokerUnavailable:
    return BrokerUnavailable(f"not connected to IB Gateway at {host}:{port}; {what} (reconnecting)")


def outcome_unknown(host: str, port: int, what: str, timeout: float) -> OrderOutcomeUnknown:
    return OrderOutcomeUnknown(
        f"IB Gateway at {host}:{port} did not confirm within {timeout:g}s that it took the request to {what}: "
        "check working orders; it is settled at the next reconciliation")


def not_our_order(order_id: int | str) -> OrderNotOurs:
    return OrderNotOurs(
        f"order {order_id} was placed by TWS/another API client; IB only lets its own client modify it: "
        "convert it by hand or run with ib_client_id 0, see docs/ib.md")


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())
