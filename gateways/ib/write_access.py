"""Does IB Gateway take orders from this client? Asked once per connection, with a what-if order.

IB Gateway's "Read-Only API" setting refuses every order with error 321 ("... The API interface is
currently in Read-Only mode."), a what-if order included, and says nothing at connect. Finding out at
15:55 meant ten orders to a phantom id. A what-if order is never placed or executed: IB only answers
with the margin it would take. ib_async treats 321 as a warning and never ends the what-if request,
so the refusal is heard on the error event.

``WriteAccess`` keeps the answer for the connection: said once when IB refuses orders (what-if or a real order),
asked again once a minute while refused (unticking Read-Only API drops no connection), said again when it is off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from ib_async import IB, MarketOrder, Stock

from gateways.ib import codes

log = logging.getLogger("gateways.ib.broker")  # the facade's name: the operator's log lines stay as they were

WriteAccessHandler = Callable[[bool, str], None]
WRITE_ACCESS_PROBE_SECONDS = 60.0


class WriteAccess:
    def __init__(self, address: str, symbol: str, timeout: float, account: Callable[[], str],
                 current_ib: Callable[[], IB | None]) -> None:
        self._address, self._symbol, self._timeout = address, symbol, timeout
        self._account, self._current_ib = account, current_ib
        self.writable: bool | None = None
        self.handler: WriteAccessHandler = lambda writable, message: None

    async def probe(self, ib: IB) -> None:
        was_writable = self.writable
        self.writable = await probe_write_access(ib, self._symbol, self._account(), self._timeout)
        if self.writable is False:
            self.read_only(f"IB Gateway at {self._address} refused a what-if order: its API is read-only", was_writable)
        elif self.writable and was_writable is False:
            self.handler(True, f"IB Gateway at {self._address} takes orders again")

    async def probe_until_writable(self, ib: IB) -> None:
        """Unticking Read-Only API in IB Gateway drops no connection: ask again, once a minute, until it is off."""
        while self.writable is False and self._current_ib() is ib and ib.isConnected():
            await asyncio.sleep(WRITE_ACCESS_PROBE_SECONDS)
            if self._current_ib() is ib and ib.isConnected():
                await self.probe(ib)

    def order_refused(self, message: str) -> None:
        """The OrderTracker heard IB refuse an order as read-only."""
        self.read_only(f"IB Gateway at {self._address} refused an order: its API is read-only ({message})")

    def read_only(self, message: str, was_writable: bool | None = None) -> None:
        """IB refused an order because its API is read-only: said once until write access comes back."""
        before = self.writable if was_writable is None else was_writable
        self.writable = False
        if before is not False:
            log.critical("%s", message)
            self.handler(False, message)


async def probe_write_access(ib: IB, symbol: str, account: str, timeout: float) -> bool | None:
    """True: orders are taken; False: the API is read-only; None: IB did not say within ``timeout``."""
    answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    order = MarketOrder("BUY", 1, account=account, whatIf=True)
    order_id = ib.client.getReqId()

    def on_error(req_id: int, code: int, message: str, contract: object) -> None:
        if req_id in (order_id, -1) and codes.is_read_only(code, message) and not answer.done():
            answer.set_result(False)

    def on_answer(request: asyncio.Future) -> None:
        # Any answer but the read-only refusal (margin figures, or a reject on its merits) means IB took
        # the request as one that may place orders.
        if not answer.done():
            answer.set_result(True)

    contract = Stock(symbol, "SMART", "USD")
    ib.errorEvent += on_error
    try:
        ib.wrapper.startReq(order_id, contract).add_done_callback(on_answer)
        ib.client.placeOrder(order_id, contract, order)
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(asyncio.shield(answer), timeout)
        return None
    finally:
        ib.errorEvent -= on_error
        ib.wrapper._endReq(order_id)  # a what-if IB never answered must not linger in ib_async
