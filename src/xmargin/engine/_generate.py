"""Seeded synthetic books on a market's real instrument list (e.g. the shipped Deribit chain).

Five archetypes, drawn per account with fixed shares:

=========================  =======  ============================================================================
archetype                  share    positions
=========================  =======  ============================================================================
directional perp trader    35%      1-2 perpetuals (BTC, ETH), long or short; USDC or coin collateral
option seller              20%      2-6 short out-of-the-money options (calls above, puts below the forward)
delta-hedged market maker  10%      8-30 options of both signs, delta hedged with the perpetual
basis trader               15%      coin held as collateral, the same size short a dated future
multi-asset collateral     20%      BTC, ETH and USDC balances, 1-4 futures, perpetuals or options
=========================  =======  ============================================================================

Sizes are heavy-tailed: a Pareto draw (tail index 1.5, as the size distribution of trading accounts is
commonly modelled; e.g. Gabaix et al., "A theory of power-law distributions in financial market
fluctuations", Nature 423, 2003) times a per-underlying unit (BTC 0.1 coin, ETH 1 coin), capped at 500 units.
Collateral is sized from each account's own portfolio-margin requirement (times a lognormal multiple
around 2, plus what its short options are worth), so most accounts are solvent and about 3% start below
maintenance. Everything is vectorised over accounts; one generator (``numpy`` ``default_rng``)
makes the book reproducible from its seed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from xmargin.core import InputError
from xmargin.engine._io import book_from_frame
from xmargin.instruments import EXPIRY_HOUR_UTC, Instrument, Kind, format_name, parse_name
from xmargin.margin import PortfolioMargin
from xmargin.market import MarketSnapshot
from xmargin.risk import Book, resolve_instruments

if TYPE_CHECKING:
    pass

SHARES = {"perp": 0.35, "seller": 0.20, "maker": 0.10, "basis": 0.15, "multi": 0.20}
TAIL_INDEX = 1.5
UNIT = {"BTC": 0.1, "ETH": 1.0}
MAX_UNITS = 500.0


def _sizes(rng: np.random.Generator, n: int, unit: float) -> NDArray[np.float64]:
    return np.asarray(np.minimum(rng.pareto(TAIL_INDEX, n) + 1.0, MAX_UNITS) * unit, dtype=np.float64)


LADDER = np.round(np.arange(0.6, 1.65, 0.05), 2)
"""Strikes of a market without a chain, as multiples of the forward (60% .. 160%, every 5%)."""


def _round_strike(x: float) -> float:
    """A listed-looking strike: two significant digits above 1,000 (95,000, 3,600), three below."""
    digits = 2 if x >= 1000 else 3
    return float(f"{x:.{digits}g}")


def _third_fridays(market: MarketSnapshot, n: int = 3) -> list[datetime]:
    """The last Fridays (08:00 UTC) of the next ``n`` months: Deribit's monthly expiries."""
    out: list[datetime] = []
    y, m = market.valuation_time.year, market.valuation_time.month
    while len(out) < n:
        m += 1
        if m > 12:
            y, m = y + 1, 1
        last = datetime(y + (m == 12), m % 12 + 1, 1, EXPIRY_HOUR_UTC, tzinfo=UTC) - timedelta(days=1)
        out.append(last - timedelta(days=(last.weekday() - 4) % 7))
    return out


def market_instruments(market: MarketSnapshot) -> list[Instrument]:
    """Derivatives the market can price: its options (by mark IV), futures (by mark), and each coin's
    perpetual. A coin with a vol but no listed option (a plain market file) gets a strike ladder of calls
    and puts (``LADDER`` × the forward, rounded) on its listed expiries, else on the next three monthly
    ones; its options are then priced at the file's flat vol."""
    names = set(market.option_iv) | {n for n in market.marks_usd if not n.endswith("PERPETUAL")}
    coins = [c for c in ("BTC", "ETH") if c in market.index_usd]
    names |= {f"{c}-PERPETUAL" for c in coins}
    listed = {parse_name(n).base for n in market.option_iv}
    for c in coins:
        if c in listed or c not in market.vol:
            continue
        expiries = [
            e for e in (parse_name(n).expiry for n in names if n.startswith(f"{c}-")) if e is not None
        ]
        for e in sorted(set(expiries)) or _third_fridays(market):
            f = market.forward(Instrument(Kind.FUTURE, c, expiry=e))
            for k in {_round_strike(f * x) for x in LADDER}:
                for cp in ("C", "P"):
                    names.add(
                        format_name(Instrument(Kind.OPTION, c, expiry=e, strike_usd=k, is_call=cp == "C"))
                    )
    out = []
    for n in sorted(names):
        inst = parse_name(n)
        if (
            inst.kind is not Kind.SPOT
            and market.has_index(inst.base)
            and (inst.expiry is None or market.t_years(inst) > 1 / 365)
        ):
            out.append(inst)
    return out


def generate_book(market: MarketSnapshot, n_accounts: int, seed: int) -> Book:
    """A synthetic book of ``n_accounts`` accounts on ``market``'s instruments (see the module docstring)."""
    import pandas as pd

    if isinstance(n_accounts, bool) or not isinstance(n_accounts, int) or n_accounts < 1:
        raise InputError(where="accounts", expected="an integer >= 1", found=n_accounts)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(where="seed", expected="an integer >= 0", found=seed)
    rng = np.random.default_rng(seed)
    insts = market_instruments(market)
    coins = sorted({i.base for i in insts} & set(UNIT))
    if not coins:
        raise InputError(where="market", expected="BTC or ETH instruments to build a book on", found="none")
    table = resolve_instruments(tuple(insts), market)
    base = np.array([i.base for i in insts])
    kind = np.array([i.kind.value for i in insts])
    is_opt = kind == "option"
    otm = is_opt & np.where(table.is_call, table.strike >= table.forward, table.strike < table.forward)
    perp = {c: int(np.flatnonzero((kind == "perpetual") & (base == c))[0]) for c in coins}
    # a pool a market does not list (no options, no futures) falls back to the coin's perpetual
    pools = {
        c: {
            name: pool if pool.size else np.array([perp[c]], dtype=np.intp)
            for name, pool in (
                ("opt", np.flatnonzero(is_opt & (base == c))),
                ("otm", np.flatnonzero(otm & (base == c))),
                ("fut", np.flatnonzero((kind == "future") & (base == c))),
            )
        }
        for c in coins
    }
    archetype = rng.choice(list(SHARES), size=n_accounts, p=list(SHARES.values()))
    acc_coin = rng.choice(coins, size=n_accounts, p=[0.65, 0.35] if len(coins) == 2 else None)
    rows: list[NDArray[np.int64]] = []
    cols: list[NDArray[np.int64]] = []
    sizes: list[NDArray[np.float64]] = []

    def add(acc: NDArray[np.int64], col: NDArray[np.int64], size: NDArray[np.float64]) -> None:
        rows.append(acc)
        cols.append(col)
        sizes.append(size)

    for c in coins:
        mine = acc_coin == c
        unit = UNIT[c]
        # directional perpetual traders: one perp, some also the other coin's
        acc = np.flatnonzero(mine & (archetype == "perp"))
        add(acc, np.full(acc.size, perp[c]), rng.choice([-1.0, 1.0], acc.size) * _sizes(rng, acc.size, unit))
        other = [o for o in coins if o != c]
        if other:
            two = acc[rng.random(acc.size) < 0.3]
            add(
                two,
                np.full(two.size, perp[other[0]]),
                rng.choice([-1.0, 1.0], two.size) * _sizes(rng, two.size, UNIT[other[0]]),
            )
        # option sellers: 2-6 short OTM options
        acc = np.flatnonzero(mine & (archetype == "seller"))
        k = rng.integers(2, 7, acc.size)
        a = np.repeat(acc, k)
        add(a, rng.choice(pools[c]["otm"], a.size), -_sizes(rng, a.size, unit))
        # delta-hedged market makers: 8-30 options of both signs, then a perp hedge on the net delta
        acc = np.flatnonzero(mine & (archetype == "maker"))
        k = rng.integers(8, 31, acc.size)
        a = np.repeat(acc, k)
        col = rng.choice(pools[c]["opt"], a.size)
        q = rng.choice([-1.0, 1.0], a.size) * _sizes(rng, a.size, unit)
        add(a, col, q)
        net = np.bincount(a, weights=q * table.delta[col], minlength=n_accounts)[acc]
        add(acc, np.full(acc.size, perp[c]), -np.asarray(net, dtype=np.float64))
        # basis traders: short a dated future against coin collateral (collateral added below)
        acc = np.flatnonzero(mine & (archetype == "basis"))
        add(acc, rng.choice(pools[c]["fut"], acc.size), -_sizes(rng, acc.size, unit))
        # multi-asset collateral: 1-4 positions of any kind
        acc = np.flatnonzero(mine & (archetype == "multi"))
        k = rng.integers(1, 5, acc.size)
        a = np.repeat(acc, k)
        pool = np.concatenate([pools[c]["opt"], pools[c]["fut"], [perp[c]]])
        add(a, rng.choice(pool, a.size), rng.choice([-1.0, 1.0], a.size) * _sizes(rng, a.size, unit))
    acc_all = np.concatenate(rows)
    col_all = np.concatenate(cols)
    size_all = np.concatenate(sizes)
    frame = pd.DataFrame({"account": acc_all, "instrument": col_all, "size": size_all})
    frame = frame.groupby(["account", "instrument"], as_index=False, sort=True).agg(size=("size", "sum"))
    # collateral: each account's portfolio-margin requirement (and the value it owes on short options) times
    # a lognormal multiple around 2, so that about 3% of accounts start below maintenance (multiple < 0.8)
    names = np.array([i.name for i in insts], dtype=object)
    acc_names = np.array([f"acct-{i:07d}" for i in range(n_accounts)], dtype=object)
    positions = pd.DataFrame(
        {
            "account": acc_names[frame["account"]],
            "instrument": names[frame["instrument"]],
            "size": frame["size"].to_numpy(),
        }
    )
    bare = book_from_frame(positions.assign(avg_price=np.nan), source="generated positions")
    order = np.searchsorted(acc_names, np.array(bare.accounts, dtype=object))
    need = np.zeros(n_accounts)
    owed = np.zeros(n_accounts)
    res = PortfolioMargin().requirement(bare, market, detail=False)
    need[order] = res.initial_margin
    owed[order] = np.minimum(res.equity, 0.0)
    multiple = rng.lognormal(mean=np.log(2.0), sigma=0.5, size=n_accounts)
    coll_usd = np.maximum(need * multiple - owed, 500.0)
    index = np.array([market.index(c) for c in acc_coin])
    in_coin = (archetype == "basis") | (rng.random(n_accounts) < 0.4)
    coin_amt = np.where(in_coin, coll_usd / index, 0.0)
    basis = archetype == "basis"
    short_fut = -np.bincount(frame["account"], weights=frame["size"], minlength=n_accounts)
    coin_amt[basis] = np.maximum(short_fut[basis], 0.0) + coll_usd[basis] / index[basis]
    usdc = np.where(in_coin, 0.0, coll_usd)
    multi = archetype == "multi"
    usdc[multi] = coll_usd[multi] * 0.5
    parts = [positions]
    for coin in coins:
        amount = np.where(acc_coin == coin, coin_amt, 0.0)
        amount[multi] = coll_usd[multi] * 0.25 / market.index(coin)
        nz = np.flatnonzero(amount > 0)
        parts.append(pd.DataFrame({"account": acc_names[nz], "instrument": coin, "size": amount[nz]}))
    nz = np.flatnonzero(usdc > 0)
    parts.append(pd.DataFrame({"account": acc_names[nz], "instrument": "USDC", "size": usdc[nz]}))
    long = pd.concat(parts, ignore_index=True)
    long = long[long["size"] != 0].sort_values(["account"], kind="stable").reset_index(drop=True)
    long["avg_price"] = np.nan
    return book_from_frame(long, source="generated book")
