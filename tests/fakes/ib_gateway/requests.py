"""Requests the fake gateway receives, parsed from their fields as ib_async's client.py lays them out.

Pure functions of the field list (after the frame is split). The placeOrder layout has optional
blocks whose presence depends on earlier fields (combo legs, delta-neutral, scale, hedge, algo,
PEG BENCH, conditions), so it is read with a cursor in the order ``Client.placeOrder`` writes it,
at the server version the fake announces (176: faProfile present, below 177).
"""

from __future__ import annotations

from dataclasses import dataclass

UNSET_DOUBLE = 1.7976931348623157e308

# Offsets of the 12-field contract block inside requests (after msg id, version, request id, ...).
CONTRACT_AT = {"reqMktData": 3, "reqContractDetails": 3, "placeOrder": 2}


@dataclass(frozen=True)
class ContractArgs:
    """A contract as a request describes it (text, as sent): what ``Instruments.find`` matches on."""

    symbol: str
    sec_type: str
    expiry: str
    strike: str
    right: str
    con_id: str

    @classmethod
    def at(cls, fields: list[str], offset: int) -> ContractArgs:
        con_id, symbol, sec_type, expiry, strike, right = fields[offset:offset + 6]
        return cls(symbol, sec_type, expiry, strike, right, con_id)


@dataclass(frozen=True)
class ComboLegArgs:
    """One ``ComboLeg`` of a BAG placeOrder, as ib_async's client writes it: conId, ratio, action, exchange, then
    openClose, shortSaleSlot, designatedLocation, exemptCode (not modelled)."""

    con_id: int
    ratio: int
    action: str
    exchange: str


@dataclass(frozen=True)
class PlaceOrderRequest:
    order_id: int
    contract: ContractArgs
    action: str
    quantity: int
    order_type: str
    limit_price: float | None
    aux_price: float | None  # stop price; for TRAIL / TRAIL LIMIT the trailing amount
    tif: str
    account: str
    order_ref: str
    trail_stop_price: float | None
    trailing_percent: float | None
    limit_offset: float | None  # lmtPriceOffset of TRAIL LIMIT; None when the order carries conditions
    what_if: bool
    combo_legs: tuple[ComboLegArgs, ...] = ()  # a BAG's legs, in the order sent


@dataclass(frozen=True)
class ExecutionFilterRequest:
    req_id: int
    client_id: int
    account: str
    time: str
    symbol: str
    sec_type: str
    exchange: str
    side: str


def price(text: str) -> float | None:
    """A price field: ib_async sends an unset double as empty (or, unmapped, as the max double)."""
    if text in ("", "None"):
        return None
    value = float(text)
    return None if value >= UNSET_DOUBLE else value


class _Cursor:
    def __init__(self, fields: list[str], at: int) -> None:
        self._fields = fields
        self._at = at

    def next(self) -> str:
        value = self._fields[self._at] if self._at < len(self._fields) else ""
        self._at += 1
        return value

    def skip(self, count: int) -> None:
        self._at += count


def place_order(fields: list[str]) -> PlaceOrderRequest:
    cursor = _Cursor(fields, CONTRACT_AT["placeOrder"] + 12)
    contract = ContractArgs.at(fields, CONTRACT_AT["placeOrder"])
    cursor.skip(2)  # secIdType, secId
    action, quantity, order_type, limit, aux, tif = (cursor.next() for _ in range(6))
    cursor.skip(1)  # ocaGroup
    account = cursor.next()
    cursor.skip(2)  # openClose, origin
    order_ref = cursor.next()
    cursor.skip(8)  # transmit .. hidden
    legs: list[ComboLegArgs] = []
    if contract.sec_type == "BAG":
        for _ in range(int(cursor.next() or 0)):
            con_id, ratio, leg_action, exchange = (cursor.next() for _ in range(4))
            cursor.skip(4)  # openClose, shortSaleSlot, designatedLocation, exemptCode
            legs.append(ComboLegArgs(int(con_id or 0), int(ratio or 0), leg_action, exchange))
        cursor.skip(int(cursor.next() or 0))  # order combo legs (per-leg prices: not modelled)
        cursor.skip(2 * int(cursor.next() or 0))  # smart combo routing params
    cursor.skip(8)  # "", discretionaryAmt .. faPercentage, faProfile (server < 177)
    cursor.skip(22)  # modelCode .. volatilityType
    delta_neutral_type = cursor.next()
    cursor.skip(1)  # deltaNeutralAuxPrice
    if delta_neutral_type:
        cursor.skip(8)
    cursor.skip(2)  # continuousUpdate, referencePriceType
    trail_stop, trailing_percent = cursor.next(), cursor.next()
    cursor.skip(2)  # scaleInitLevelSize, scaleSubsLevelSize
    increment = price(cursor.next())
    if increment is not None and increment > 0:
        cursor.skip(7)
    cursor.skip(3)  # scaleTable, activeStartTime, activeStopTime
    if cursor.next():  # hedgeType, then hedgeParam
        cursor.skip(1)
    cursor.skip(4)  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld
    if cursor.next() == "1":  # delta-neutral contract
        cursor.skip(3)
    if cursor.next():  # algoStrategy, then its params
        cursor.skip(2 * int(cursor.next() or 0))
    cursor.skip(1)  # algoId
    what_if = cursor.next() == "1"
    cursor.skip(4)  # orderMiscOptions, solicited, randomizeSize, randomizePrice
    if order_type in ("PEG BENCH", "PEGBENCH"):
        cursor.skip(5)
    conditions = int(cursor.next() or 0)
    limit_offset: float | None = None
    if not conditions:  # a condition's length depends on its type: the fake does not read past them
        cursor.skip(2)  # adjustedOrderType, triggerPrice
        limit_offset = price(cursor.next())
    return PlaceOrderRequest(
        int(fields[1]), contract, action, int(float(quantity)), order_type, price(limit), price(aux), tif,
        account, order_ref, price(trail_stop), price(trailing_percent), limit_offset, what_if, tuple(legs))


def execution_filter(fields: list[str]) -> ExecutionFilterRequest:
    req_id, client_id, account, time, symbol, sec_type, exchange, side = fields[2:10]
    return ExecutionFilterRequest(int(req_id), int(client_id or 0), account, time, symbol, sec_type, exchange, side)


@dataclass(frozen=True)
class ExerciseOptionsRequest:
    req_id: int
    contract: ContractArgs
    exchange: str
    action: int  # 1 exercise, 2 lapse
    quantity: int
    account: str
    override: int


def exercise_options(fields: list[str]) -> ExerciseOptionsRequest:
    """``Client.exerciseOptions``: id 21, version 2, reqId, the 11-field contract, action, quantity,
    account, override."""
    return ExerciseOptionsRequest(int(fields[2]), ContractArgs.at(fields, 3), fields[10], int(fields[14]),
                                  int(fields[15]), fields[16], int(fields[17]))
