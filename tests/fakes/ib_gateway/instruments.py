"""The instruments the fake gateway knows: its underlyings, and every option on them on first sight."""

from __future__ import annotations

from collections.abc import Iterable

from tests.fakes.ib_gateway.contracts import UNDERLYINGS, FakeContract
from tests.fakes.ib_gateway.requests import ContractArgs


class Instruments:
    def __init__(self, known: Iterable[FakeContract] = ()) -> None:
        self.contracts: dict[int, FakeContract] = {}
        for contract in [*(FakeContract.underlying(symbol) for symbol in UNDERLYINGS), *known]:
            self.contracts[contract.con_id] = contract

    def find(self, args: ContractArgs) -> FakeContract | None:
        """The contract a request names, or None (IB: 200, no security definition)."""
        for contract in self.contracts.values():
            if contract.matches(args.symbol, args.sec_type, args.expiry, args.strike, args.right, args.con_id):
                return contract
        complete = (args.symbol.upper() in UNDERLYINGS and args.sec_type == "OPT" and len(args.expiry) >= 8
                    and args.strike and args.right)
        if complete and args.con_id in ("", "0"):
            # Every fully specified option on a known underlying exists; it gets its conId on first sight.
            key = f"{args.symbol.upper()} {args.expiry[:8]} {float(args.strike):g}{args.right[:1].upper()}"
            return self._add(FakeContract.option(key))
        return None

    def by_key(self, key: str) -> FakeContract:
        """The contract with this key (``QQQ``, ``SPY 20261127 635C``), created on first use."""
        for contract in self.contracts.values():
            if contract.key == key:
                return contract
        return self._add(FakeContract.from_key(key))

    def _add(self, contract: FakeContract) -> FakeContract:
        self.contracts[contract.con_id] = contract
        return contract
