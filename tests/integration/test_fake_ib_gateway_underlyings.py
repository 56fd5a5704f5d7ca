"""Underlyings other than SPY at the fake IB Gateway: QQQ, IWM and the SPX index, and options on them."""

from __future__ import annotations

from ib_async import Contract, Index, LimitOrder, Option, Stock

from tests.fakes.ib_gateway import FakeContract, FakeIBGateway, FakePosition, GatewayScript, OrderBehaviour
from tests.fakes.ib_gateway.harness import ib_client, settle


def test_each_underlying_has_its_own_con_id_security_type_and_contract_details():
    with FakeIBGateway(GatewayScript()) as gateway, ib_client(gateway) as (ib, _):
        qqq, iwm, spy = ib.qualifyContracts(Stock("QQQ", "SMART", "USD"), Stock("IWM", "SMART", "USD"),
                                            Stock("SPY", "SMART", "USD"))
        [spx] = ib.qualifyContracts(Index("SPX", "CBOE", "USD"))
        assert [c.conId for c in (qqq, iwm, spy, spx)] == [320227571, 9579970, 756733, 416904]
        assert (spx.secType, spx.exchange) == ("IND", "CBOE")
        [details] = ib.reqContractDetails(Option("IWM", "20261127", 220, "P", "SMART"))
        assert details.underConId == iwm.conId and details.contract.symbol == "IWM"
        assert ib.qualifyContracts(Stock("XYZ", "SMART", "USD")) == [None]  # 200: IB does not know it


def test_quotes_are_per_underlying_and_an_option_is_computed_on_its_own_underlying():
    with FakeIBGateway(GatewayScript()) as gateway:
        gateway.set_quote("SPY", 600.0, 600.02, 600.01)
        gateway.set_quote("QQQ", 510.0, 510.04, 510.02)
        gateway.set_quote("SPX", 6000.0, 6001.0, 6000.5)
        gateway.set_quote("QQQ 20261127 515C", 1.20, 1.30, implied_vol=0.18)
        with ib_client(gateway) as (ib, _):
            qqq_call, qqq_stock, spx_index = ib.qualifyContracts(
                Option("QQQ", "20261127", 515, "C", "SMART"), Stock("QQQ", "SMART", "USD"), Index("SPX", "CBOE", "USD"))
            assert qqq_call.conId == gateway.con_id("QQQ 20261127 515C")
            qqq, spx, call = (ib.reqMktData(c) for c in (qqq_stock, spx_index, qqq_call))
            assert settle(ib, lambda: call.modelGreeks is not None and qqq.last == 510.02 and spx.last == 6000.5)
            assert (qqq.bid, qqq.ask, spx.bid) == (510.0, 510.04, 6000.0)
            assert (call.bid, call.ask, call.modelGreeks.impliedVol, call.modelGreeks.undPrice) == (1.20, 1.30, 0.18,
                                                                                                    510.02)


def test_positions_and_orders_on_other_underlyings():
    iwm_put = FakeContract.option("IWM 20261127 220P")
    script = GatewayScript(positions=[FakePosition(iwm_put, -3, 150.0)], default_behaviour=OrderBehaviour.fill())
    with FakeIBGateway(script) as gateway, ib_client(gateway) as (ib, _):
        [held] = ib.reqPositions()
        assert (held.contract.symbol, held.contract.conId, held.position) == ("IWM", iwm_put.con_id, -3)
        trade = ib.placeOrder(Contract(conId=iwm_put.con_id, exchange="SMART"), LimitOrder("BUY", 3, 1.50))
        assert settle(ib, lambda: trade.orderStatus.status == "Filled")
        assert gateway.position(iwm_put.key) == 0 and ib.reqPositions() == []
