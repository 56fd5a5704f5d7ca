"""A fake IB Gateway speaking the real TWS API socket protocol, so the real ib_async client runs in tests.

    with FakeIBGateway(GatewayScript(positions=[...])) as gateway:
        ib.connect("127.0.0.1", gateway.port, clientId=17)
"""

from tests.fakes.ib_gateway.contracts import FakeContract
from tests.fakes.ib_gateway.script import (
    FakeOrder,
    FakePosition,
    Fill,
    GatewayScript,
    OrderBehaviour,
    QuoteStep,
    Refusal,
)
from tests.fakes.ib_gateway.server import FakeIBGateway, Received

__all__ = ["FakeContract", "FakeIBGateway", "FakeOrder", "FakePosition", "Fill", "GatewayScript",
           "OrderBehaviour", "QuoteStep", "Received", "Refusal"]
