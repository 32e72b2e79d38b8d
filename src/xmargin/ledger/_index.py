"""The index-move guard: a market whose index jumped too far from the last one the ledger accepted is bad
input, so a corrupted feed (``BTC: 1e-300``, a price off by a factor of ten) can never pass a check.

For every asset in a market given to a command, the ratio ``new / last`` of its index to the one stored
for that asset (the last market a command was *accepted* with, table ``index_marks``) must lie in
``[1 / F, F]``, ``F`` = ``max_index_move`` (``--max-index-move``). Every asset outside is one
``error:`` line (CLI exit 2) naming the asset, the last accepted price, its market's valuation time and
when it was accepted, and the new price; nothing is written. An asset never seen before is accepted (its
first price is stored); an index that is not a finite positive number is always bad input.

Default ``F = 2`` (a halving or a doubling). Justification: bitcoin's worst day in recent history,
12 March 2020, went from about 7,300 to 3,900 USD within the day (−47%, ratio 0.53,
https://blog.btcmex.com/black-thursday-what-actually-happened-to-bitcoin/), inside a factor of 2 even
between that day's extremes; a decimal slip (×10, ×0.1) or a feed of zeros or 1e-300 is far outside it. The ratio is
taken between consecutive *accepted* markets, however far apart in time: after a long pause in which
the index genuinely more than doubled, the first check needs a larger ``--max-index-move``, once.

The accepted market's index prices are written in the same transaction as the command's event
(:meth:`EventStore.append_all`), under optimistic concurrency: if another command stored a different
index for an asset after this one read it, nothing is written and the command starts again, re-checking
against the newer price. An unchanged index (same price and valuation time) is not rewritten, so commands
sharing one market do not contend for the rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from xmargin.core import InputError, InputErrors
from xmargin.ledger._money import parse_decimal
from xmargin.ledger._store import IndexMark, IndexUpdate

if TYPE_CHECKING:
    from xmargin.market import MarketSnapshot

DEFAULT_MAX_INDEX_MOVE = 2.0
MAX_INDEX_MOVE_LIMIT = Decimal(1_000_000)


def check_max_index_move(value: object, *, where: str = "max_index_move") -> float:
    """The guard's factor ``F``: a number > 1 (and at most 1,000,000)."""
    if isinstance(value, float):
        if not (math.isfinite(value) and 1 < value <= MAX_INDEX_MOVE_LIMIT):
            raise InputError(
                where=where, expected="a factor > 1 such as 2 (a halving or a doubling)", found=value
            )
        return value
    factor = parse_decimal(value, where=where, max_abs=MAX_INDEX_MOVE_LIMIT, max_places=6)
    if not factor > 1:
        raise InputError(
            where=where, expected="a factor > 1 such as 2 (a halving or a doubling)", found=str(value)
        )
    return float(factor)


def index_updates(
    market: MarketSnapshot,
    stored: Mapping[str, IndexMark],
    max_move: float,
    *,
    now: datetime,
    key: str,
) -> list[IndexUpdate]:
    """Check ``market`` against the stored last accepted index prices (``InputError``, one line per asset,
    if any moved by more than ``max_move``) and return the rows to write if the command is accepted."""
    problems: list[InputError] = []
    updates: list[IndexUpdate] = []
    for asset, price in sorted(market.index_usd.items()):
        if asset in market.defaulted_index:  # a stablecoin the market took at 1.0: nothing was given
            continue
        where = f"market index.{asset}"
        if not (math.isfinite(price) and price > 0):
            problems.append(InputError(where=where, expected="a finite index price > 0 (USD)", found=price))
            continue
        last = stored.get(asset)
        if last is not None:
            ratio = price / last.price_usd
            if not (1 / max_move <= ratio <= max_move):
                problems.append(
                    InputError(
                        where=where,
                        expected=(
                            f"within a factor {max_move:g} of the last accepted index {last.price_usd!r} USD "
                            f"(market of {last.valuation_time.isoformat()}, accepted "
                            f"{last.accepted_at.isoformat()}); a larger move needs --max-index-move"
                        ),
                        found=f"{price!r} USD (market of {market.valuation_time.isoformat()})",
                    )
                )
                continue
            if last.price_usd == price and last.valuation_time == market.valuation_time:
                continue  # unchanged: nothing to write
        updates.append(
            IndexUpdate(
                asset, price, market.valuation_time, now, key, last.version if last is not None else 0
            )
        )
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise InputErrors(problems)
    return updates
