"""Interactive Brokers through ib_async (the maintained continuation of ib_insync, same API)."""

from gateways.ib.broker import IBBroker, Reconciliation
from gateways.ib.check import check_gateway
from gateways.ib.prices import IBPriceSource
from gateways.ib.reconnect import ReconnectPolicy
from gateways.ib.token_bucket import TokenBucket
from gateways.ports import Connectivity

__all__ = ["Connectivity", "IBBroker", "IBPriceSource", "Reconciliation", "ReconnectPolicy", "TokenBucket",
           "check_gateway"]
