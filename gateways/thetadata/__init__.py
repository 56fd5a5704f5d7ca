"""ThetaData Terminal gateway: HTTP clients (v2 and v3), pure response parsers, and the PriceSource.

Use ``connect(url, timeout)`` for a client and ``ThetaDataPriceSource`` for the PriceFeed.
See docs/thetadata.md.
"""

from gateways.thetadata.client import TerminalClient, V2Client, V3Client, connect
from gateways.thetadata.errors import ThetaFeedError
from gateways.thetadata.source import ThetaDataPriceSource

__all__ = ["TerminalClient", "ThetaDataPriceSource", "ThetaFeedError", "V2Client", "V3Client", "connect"]
