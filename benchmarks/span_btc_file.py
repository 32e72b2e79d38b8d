"""Write the synthetic BTC SPAN risk-parameter file ``examples/span/btc-synthetic.spn`` (XML, fileFormat 4.00).

    .venv/bin/python benchmarks/span_btc_file.py [--out examples/span/btc-synthetic.spn]

The contracts and their inputs come from the shipped Deribit chain (src/xmargin/data, snapshot
``20251230T173115Z``, data/SOURCES.md): BTC futures at the chain's forward for 30JAN26, 27FEB26 and 27MAR26, and
the listed calls and puts of those expiries with strikes within ±25% of the forward, each at its own mark IV.
The file is valued at 2025-12-31 00:00 UTC (its business date) with those forwards and IVs.

The SPAN parameters are xmargin's choices for a synthetic file (not an exchange's): one contract = 1 BTC
(``cvf`` 1); price scan range 15% of the index in USD; volatility scan range ±25% of each option's IV; one-day
look-ahead; extreme moves ±2 scan ranges covering 35% (CME's standard risk array: "Components of SPAN");
composite delta = the Black-76 delta after the look-ahead at today's price and vol; short option minimum 0.5% of
the index per short option; calendar spread charges of 1% of the index per spread of delta between consecutive
expiries and 1.5% between the first and last. Risk-array values are losses of one long contract in USD
(positive = loss), Black-76 on the forward (the same pricer as ``xmargin price``).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from xmargin.instruments import Instrument, Kind
from xmargin.market import load_market
from xmargin.pricing import black76, black76_price

ROOT = Path(__file__).resolve().parents[1]
CHAIN = ROOT / "src/xmargin/data/deribit_option_chains_selected.csv.gz#20251230T173115Z"
OUT = ROOT / "examples/span/btc-synthetic.spn"
VALUATION = datetime(2025, 12, 31, tzinfo=UTC)
EXPIRIES = ("2026-01-30", "2026-02-27", "2026-03-27")
STRIKE_BAND = 0.25
PRICE_SCAN = 0.15  # of the index, USD per contract
VOL_SCAN = 0.25  # relative to each option's IV
LOOK_AHEAD_YEARS = 1.0 / 365.0
EXTREME_MULTIPLE, EXTREME_COVER = 2.0, 0.35
SOM_RATE = 0.005  # of the index per short option
CALENDAR_RATE, CALENDAR_FAR_RATE = 0.01, 0.015  # of the index per spread
# CME's scenario order: (price move in scan ranges, vol direction, weight)
SCENARIOS = [
    (0.0, 1, 1.0),
    (0.0, -1, 1.0),
    (1 / 3, 1, 1.0),
    (1 / 3, -1, 1.0),
    (-1 / 3, 1, 1.0),
    (-1 / 3, -1, 1.0),
    (2 / 3, 1, 1.0),
    (2 / 3, -1, 1.0),
    (-2 / 3, 1, 1.0),
    (-2 / 3, -1, 1.0),
    (1.0, 1, 1.0),
    (1.0, -1, 1.0),
    (-1.0, 1, 1.0),
    (-1.0, -1, 1.0),
    (EXTREME_MULTIPLE, 0, EXTREME_COVER),
    (-EXTREME_MULTIPLE, 0, EXTREME_COVER),
]


def _num(x: float) -> str:
    return repr(float(x))


def _ra(values: np.ndarray, delta: float) -> str:
    a = "".join(f"<a>{_num(v)}</a>" for v in values)
    return f"<ra><r>1</r>{a}<d>{_num(delta)}</d></ra>"


def option_array(
    f: float, k: float, t: float, iv: float, call: bool, scan_usd: float
) -> tuple[float, np.ndarray, float]:
    """Today's price, the 16 losses of one long option (USD) and its composite delta."""
    price = float(black76_price(forward=f, strike=k, t_years=t, vol=iv, is_call=call))
    t1 = max(t - LOOK_AHEAD_YEARS, 1e-9)
    moves = np.array([m for m, _, _ in SCENARIOS])
    vols = np.array([iv * (1 + VOL_SCAN * d) for _, d, _ in SCENARIOS])
    weights = np.array([w for _, _, w in SCENARIOS])
    after = black76_price(forward=f + moves * scan_usd, strike=k, t_years=t1, vol=vols, is_call=call)
    delta = float(black76(forward=f, strike=k, t_years=t1, vol=iv, is_call=call).delta)
    return price, weights * (price - after), delta


def build() -> str:
    market = load_market(str(CHAIN)).replace(valuation_time=VALUATION)
    index = market.index("BTC")
    scan_usd = PRICE_SCAN * index
    chain = [i for i in market.option_iv if i.startswith("BTC-")]
    futs, series, periods = [], [], []
    moves = np.array([m for m, _, _ in SCENARIOS])
    weights = np.array([w for _, _, w in SCENARIOS])
    for cid, day in enumerate(EXPIRIES, start=1):
        expiry = datetime.fromisoformat(day).replace(hour=8, tzinfo=UTC)
        fut = Instrument(Kind.FUTURE, "BTC", expiry=expiry)
        f = market.forward(fut)
        t = market.t_years(fut)
        pe = expiry.strftime("%Y%m%d")
        periods.append(pe)
        futs.append(
            f"<fut><cId>{cid}</cId><pe>{pe}</pe><p>{_num(f)}</p><d>1.0</d><v>0.0</v><cvf>1.0</cvf>"
            f"<undC><exch>SYN</exch><pfId>1</pfId><cId>0</cId><s>1</s><i>1</i></undC>"
            f"{_ra(-moves * scan_usd * weights, 1.0)}</fut>"
        )
        opts = []
        names = sorted(
            (n for n in chain if n.split("-")[1] == fut.name.split("-")[1]),
            key=lambda n: (float(n.split("-")[2]), n[-1]),
        )
        for n, name in enumerate(names, start=1):
            _, _, strike, cp = name.split("-")
            k = float(strike)
            if abs(k / f - 1) > STRIKE_BAND:
                continue
            inst = Instrument(Kind.OPTION, "BTC", None, expiry, k, cp == "C")
            iv = market.implied_vol(inst)
            price, losses, delta = option_array(f, k, t, iv, cp == "C", scan_usd)
            opts.append(
                f"<opt><cId>{100 * cid + n}</cId><o>{cp}</o><k>{_num(k)}</k><p>{_num(price)}</p>"
                f"<d>{_num(delta)}</d><v>{_num(iv)}</v><cvf>1.0</cvf>{_ra(losses, delta)}</opt>"
            )
        series.append(
            f"<series><pe>{pe}</pe><v>0.0</v><cvf>1.0</cvf><sc>1</sc>"
            f"<undC><exch>SYN</exch><pfId>2</pfId><cId>{cid}</cId><s>1</s><i>1</i></undC>\n{chr(10).join(opts)}\n</series>"
        )
    spreads = []
    pairs = [(periods[0], periods[1], CALENDAR_RATE), (periods[1], periods[2], CALENDAR_RATE)]
    pairs.append((periods[0], periods[2], CALENDAR_FAR_RATE))
    for prio, (a, b, rate) in enumerate(pairs, start=1):
        spreads.append(
            f"<dSpread><spread>{prio}</spread><chargeMeth>F</chargeMeth><rate><r>1</r><val>{_num(rate * index)}</val></rate>"
            f"<pLeg><cc>BTC</cc><pe>{a}</pe><rs>A</rs><i>1.0</i></pLeg>"
            f"<pLeg><cc>BTC</cc><pe>{b}</pe><rs>B</rs><i>1.0</i></pLeg></dSpread>"
        )
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<!-- Synthetic BTC SPAN risk-parameter file written by benchmarks/span_btc_file.py (not an exchange's). -->",
        "<spanFile><fileFormat>4.00</fileFormat><created>20251231</created>",
        "<definitions><currencyDef><currency>USD</currency><symbol>$</symbol><name>US Dollar</name>"
        "<decimalPos>2</decimalPos></currencyDef><acctTypeDef><isCust>1</isCust><acctType>S</acctType>"
        "<name>Speculator</name><isNetMargin>1</isNetMargin><priority>1</priority></acctTypeDef></definitions>",
        "<pointInTime><date>20251231</date><isSetl>1</isSetl>",
        "<clearingOrg><ec>SYN</ec><name>xmargin synthetic</name><finalizeMeth>N</finalizeMeth>",
        "<exchange><exch>SYN</exch><name>Synthetic BTC</name>",
        f"<phyPf><pfId>0</pfId><pfCode>BTC</pfCode><name>BTC index</name><currency>USD</currency><cvf>1.0</cvf>"
        f"<phy><cId>0</cId><pe>00000000</pe><p>{_num(index)}</p><d>1.0</d><v>0.0</v><cvf>1.0</cvf></phy></phyPf>",
        "<futPf><pfId>1</pfId><pfCode>BTC</pfCode><name>BTC futures</name><currency>USD</currency><cvf>1.0</cvf>"
        "\n" + "\n".join(futs) + "\n</futPf>",
        f"<oopPf><pfId>2</pfId><pfCode>BTC</pfCode><name>BTC options</name><exercise>EURO</exercise>"
        f"<currency>USD</currency><cvf>1.0</cvf>\n{chr(10).join(series)}\n</oopPf>",
        "</exchange>",
        "<ccDef><cc>BTC</cc><name>Bitcoin</name><currency>USD</currency><riskExponent>0</riskExponent>"
        "<somMeth>GROSS</somMeth><wfprMeth>NORMAL</wfprMeth>"
        f"<somTiers><tier><tn>1</tn><rate><r>1</r><val>{_num(SOM_RATE * index)}</val></rate></tier></somTiers>"
        "\n" + "\n".join(spreads) + "\n</ccDef>",
        "</clearingOrg></pointInTime></spanFile>",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(build(), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
