"""IB's message rate limit at the fake IB Gateway: messages over it are answered with error 100 and dropped."""

from __future__ import annotations

import pytest

from tests.fakes.ib_gateway import FakeIBGateway, GatewayScript
from tests.fakes.ib_gateway.harness import ib_client, settle

LIMIT = 20


def burst(ib, count: int) -> None:
    """``count`` requests at once, past ib_async's own throttle."""
    ib.client.MaxRequests = 0
    for _ in range(count):
        ib.client.reqIds(1)


def test_messages_over_the_limit_in_one_second_are_refused_and_dropped():
    with FakeIBGateway(GatewayScript(max_messages_per_second=LIMIT)) as gateway, ib_client(gateway) as (ib, errors):
        ib.sleep(1.1)  # the connect's own messages out of the window
        burst(ib, 30)
        assert settle(ib, lambda: len(errors) == 10)
        assert {(e.req_id, e.code) for e in errors} == {(-1, 100)}
        assert errors[0].message == f"Max rate of messages per second has been exceeded:max={LIMIT} rec={LIMIT + 1}"
        sent = gateway.received("reqIds")
        assert (len(sent), sum(r.dropped for r in sent)) == (30, 10)
        ib.sleep(1.1)
        burst(ib, 5)  # a second later the client may send again
        ib.sleep(0.3)
        assert len(errors) == 10 and ib.isConnected()


def test_a_repeat_offender_is_disconnected_when_the_script_says_so():
    script = GatewayScript(max_messages_per_second=LIMIT, rate_limit_disconnect_after=3)
    with FakeIBGateway(script) as gateway, ib_client(gateway) as (ib, errors):
        ib.sleep(1.1)
        burst(ib, LIMIT + 3)
        with pytest.raises(ConnectionError, match="Socket disconnect"):  # ib_async's word for a dropped socket
            settle(ib, lambda: False)
        assert not ib.isConnected()
        assert [e.code for e in errors].count(100) == 3 and gateway.connected_clients == 0


def test_without_a_limit_every_message_is_handled():
    with FakeIBGateway(GatewayScript()) as gateway, ib_client(gateway) as (ib, errors):
        burst(ib, 80)
        ib.sleep(0.3)
        assert errors == [] and not any(r.dropped for r in gateway.received())
