"""A ledger writer for the crash test: appends commands ``start, start+1, ...`` forever and prints each
command's idempotency key on standard output *after* its commit. Usage: ``python crash_writer.py URL START``.

Command ``i`` is a pure function of ``i``, so a new writer that starts at the first unacknowledged index
re-sends the command a killed writer may or may not have committed: idempotency must apply it once.
"""

from __future__ import annotations

import sys
from decimal import Decimal

from xmargin.ledger import Ledger, Receipt

ACCOUNTS = ("w0", "w1", "w2")


def command(ledger: Ledger, i: int) -> Receipt:
    account = ACCOUNTS[i % len(ACCOUNTS)]
    key = f"w-{i}"
    kind = (i // len(ACCOUNTS)) % 4
    if kind == 3:
        return ledger.withdraw(account, "BTC", Decimal("0.000000011") * (i % 5 + 1), key=key)
    if kind == 2:
        return ledger.charge_fee(account, "BTC", "0.000000005", reason="crash-test", key=key)
    return ledger.deposit(account, "BTC", Decimal("0.0001") * (i % 7 + 1), key=key)


def run(url: str, start: int, stop: int | None = None) -> None:
    ledger = Ledger(url, migrate=False)
    i = start
    while stop is None or i < stop:
        command(ledger, i)
        sys.stdout.write(f"w-{i}\n")
        sys.stdout.flush()
        i += 1


if __name__ == "__main__":
    run(sys.argv[1], int(sys.argv[2]))
