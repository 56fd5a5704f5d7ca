"""A lapse instruction (contrary intention) through ib_async's ``exerciseOptions``.

IB takes ``exerciseAction=2`` (lapse) with ``override=1`` (against the exercise by exception OCC would
otherwise do) for a long option, on an exchange other than SMART, until its cut-off. It answers a
refusal with an error on the request id and a success with nothing at all: so a short wait for a
refusal, and no refusal is "unconfirmed", never "accepted". The position shows the result the next
trading day.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from domain.model import OptionContract
from gateways.broker import LapseResult, LapseStatus
from gateways.ib import mapping

if TYPE_CHECKING:
    from gateways.ib.broker import IBBroker

LAPSE = 2  # exerciseAction: 1 exercise, 2 lapse
OVERRIDE = 1  # override the exercise by exception
# IB refuses SMART for exercise instructions; the instruction goes to OCC whichever listing exchange is
# named, and every US equity option trades on CBOE.
EXERCISE_EXCHANGE = "CBOE"
REFUSAL_WAIT_SECONDS = 3.0


async def send_lapse(broker: IBBroker, contract: OptionContract, quantity: int,
                     wait: float = REFUSAL_WAIT_SECONDS) -> LapseResult:
    ib = broker.connected_ib()
    qualified = await broker.qualify_async(contract)
    option = mapping.to_ib_option(qualified, exchange=EXERCISE_EXCHANGE)
    req_id = ib.client.getReqId()
    refusal: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()

    def on_error(error_req_id: int, code: int, message: str, _contract: object) -> None:
        if error_req_id == req_id and not refusal.done():
            refusal.set_result((code, message))

    ib.errorEvent += on_error
    try:
        ib.client.exerciseOptions(req_id, option, LAPSE, quantity, broker.account(), OVERRIDE)
        try:
            code, message = await asyncio.wait_for(refusal, wait)
        except TimeoutError:
            return LapseResult(LapseStatus.UNCONFIRMED,
                               f"request {req_id} not refused within {wait:g} s (IB confirms a lapse only in the "
                               "next day's positions)")
        return LapseResult(LapseStatus.REFUSED, f"IB error {code}: {message}")
    finally:
        ib.errorEvent -= on_error
