"""Does IB Gateway take orders from this client? Asked once per connection, with a what-if order.

IB Gateway's "Read-Only API" setting refuses every order with error 321 ("... The API interface is
currently in Read-Only mode."), a what-if order included, and says nothing at connect. Finding out at
15:55 meant ten orders to a phantom id. A what-if order is never placed or executed: IB only answers
with the margin it would take. ib_async treats 321 as a warning and never ends the what-if request,
so the refusal is heard on the error event.
"""

from __future__ import annotations

import asyncio
import contextlib

from ib_async import IB, MarketOrder, Stock

from gateways.ib import codes


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
