"""Margin reports kept while their inputs stand: an account's report is a function of its events (the
ledger's ``version`` of the account), the market object it was made on and the model, so a read of an
unchanged account on an unchanged market answers from memory.

The key is (account, model name, currency); the entry holds the version and the market it was made on, and
is used only when both are still current (the market compared by identity: a tick makes a new market
object, so every entry made before it is stale). Entries are bounded in number, the least recently used
going first. Each ``create_app`` owns its cache (no module state); a lock keeps it consistent across the
threads FastAPI runs routes on. Two threads missing the same key both compute it and the last one stays:
the answers are the same.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from xmargin.margin import MarginReport
from xmargin.market import MarketSnapshot

Key = tuple[str, str, str]
"""(account, model name, currency)"""


class ReportCache:
    """The last report of each (account, model, currency), valid for one (version, market)."""

    def __init__(self, max_entries: int = 20_000) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries: expected at least 1, found {max_entries}")
        self._max = max_entries
        self._entries: OrderedDict[Key, tuple[int, MarketSnapshot, MarginReport]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(
        self, key: Key, version: int, market: MarketSnapshot, make: Callable[[], MarginReport]
    ) -> MarginReport:
        """The report of ``key`` at ``version`` on ``market``: remembered, or made by ``make`` and kept."""
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0] == version and hit[1] is market:
                self._entries.move_to_end(key)
                self.hits += 1
                return hit[2]
            self.misses += 1
        report = make()
        with self._lock:
            self._entries[key] = (version, market, report)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return report

    def __len__(self) -> int:
        return len(self._entries)
