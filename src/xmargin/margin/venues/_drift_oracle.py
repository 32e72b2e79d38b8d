"""Drift v2's oracle validity guard: whether an oracle reading may be used, here for the margin calculation.

Re-implemented from reading drift-labs/protocol-v2 at commit ``0ae3e3b1db782a6765c3525b3dec38ad4d9d3a62``:
``programs/drift/src/math/oracle.rs`` (``OracleValidity``, ``oracle_validity``, ``is_oracle_valid_for_action``),
``state/state.rs`` (``OracleGuardRails::default``, ``ValidityGuardRails``), ``state/oracle.rs``
(``get_pyth_price``: scaling a Pyth feed to 1e6) and ``state/oracle_map.rs`` (the quote asset is always valid);
no code copied.

A reading (``OraclePriceData``: price 1e6, confidence 1e6, delay in slots since publication) is classified by
the first of these that holds, in Drift's order of severity:

1. ``NON_POSITIVE``: price ≤ 0;
2. ``TOO_VOLATILE``: ``max(price, twap) / max(min(price, twap), 1) > too_volatile_ratio`` (integer division;
   ``twap`` the market's last oracle TWAP, ``too_volatile_ratio`` 5 by default: 5× up or 80% down). A market
   whose TWAP was never set (0, as in Drift's test fixtures) has every positive price too volatile;
3. ``TOO_UNCERTAIN``: ``confidence · 1e6 / price > confidence_interval_max_size · multiplier`` (the maximum
   20,000 = 2% by default; the multiplier from the market's tier, ``_drift_tier``);
4. ``STALE_FOR_MARGIN``: delay > ``slots_before_stale_for_margin`` (120 slots, ~60 s; three times that for the
   Pyth stable-coin pull and Lazer stable-coin feeds);
5. ``INSUFFICIENT_DATA_POINTS``: too few publishers;
6. ``STALE_FOR_AMM``: delay > the immediate-fill limit (the market's slot-delay override; with no override the
   reading is always stale for immediate fills) or > the low-risk limit (the market's low-risk override, else
   ``slots_before_stale_for_amm``, 10 slots);
7. ``VALID``.

The margin calculation accepts ``INSUFFICIENT_DATA_POINTS``, ``STALE_FOR_AMM`` and ``VALID``
(``is_oracle_valid_for_action(.., MarginCalc)``); the other four make the reading *invalid for margin*.

One deviation: Drift divides the confidence by the price cast to an unsigned integer, which fails (an error,
not a classification) for a price ≤ 0 before ``NON_POSITIVE`` can be returned; here such a price is classified
``NON_POSITIVE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

PRICE_PRECISION = 10**6
BID_ASK_SPREAD_PRECISION = 10**6
"""confidence as a fraction of the price, 1e6 = 100% (``constants.rs``)"""


def _tdiv(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


@dataclass(frozen=True, slots=True)
class ValidityGuardRails:
    """The exchange state's oracle validity limits; the defaults are ``OracleGuardRails::default()``."""

    slots_before_stale_for_amm: int = 10
    """~5 s"""
    slots_before_stale_for_margin: int = 120
    """~60 s"""
    confidence_interval_max_size: int = 20_000
    """2% of the price (1e6 precision)"""
    too_volatile_ratio: int = 5
    """5× up or 80% down against the TWAP"""


DEFAULT_GUARD_RAILS = ValidityGuardRails()


@dataclass(frozen=True, slots=True)
class OraclePriceData:
    """One oracle reading in Drift's units (``OraclePriceData``)."""

    price: int
    """1e6"""
    confidence: int = 0
    """1e6, the same units as the price"""
    delay: int = 0
    """slots since the reading was published"""
    has_sufficient_number_of_data_points: bool = True
    stable_coin_pull: bool = False
    """read from a Pyth stable-coin pull or Lazer stable-coin feed (stale for margin only after 3× the slots)"""


def pyth_price_data(
    price: int,
    exponent: int,
    *,
    confidence: int = 0,
    clock_slot: int = 0,
    published_slot: int = 0,
    multiple: int = 1,
) -> OraclePriceData:
    """A Pyth feed's raw integer price and confidence at precision ``10^|exponent|`` (divided by ``multiple``:
    1, 1e3 or 1e6 for the 1K and 1M feeds), rescaled to 1e6; delay = clock slot − published slot."""
    precision = 10 ** abs(exponent)
    if precision <= multiple:
        raise ValueError(f"pyth_price_data: precision 10^{abs(exponent)} not above the multiple {multiple}")
    precision //= multiple
    mult, div = (
        (1, precision // PRICE_PRECISION)
        if precision > PRICE_PRECISION
        else (PRICE_PRECISION // precision, 1)
    )
    return OraclePriceData(
        price=_tdiv(price * mult, div),
        confidence=confidence * mult // div,
        delay=clock_slot - published_slot,
    )


QUOTE_ASSET_PRICE_DATA = OraclePriceData(price=PRICE_PRECISION, confidence=1)
"""the quote asset's own "oracle" (``OracleSource::QuoteAsset``): 1 USD, always valid"""


class OracleValidity(Enum):
    """``OracleValidity``, most severe first."""

    NON_POSITIVE = "non_positive"
    TOO_VOLATILE = "too_volatile"
    TOO_UNCERTAIN = "too_uncertain"
    STALE_FOR_MARGIN = "stale_for_margin"
    INSUFFICIENT_DATA_POINTS = "insufficient_data_points"
    STALE_FOR_AMM = "stale_for_amm"
    VALID = "valid"

    @property
    def valid_for_margin(self) -> bool:
        """``is_oracle_valid_for_action(self, MarginCalc)``."""
        return self not in _INVALID_FOR_MARGIN


_INVALID_FOR_MARGIN = frozenset(
    {
        OracleValidity.NON_POSITIVE,
        OracleValidity.TOO_VOLATILE,
        OracleValidity.TOO_UNCERTAIN,
        OracleValidity.STALE_FOR_MARGIN,
    }
)


@dataclass(frozen=True, slots=True)
class OracleStatus:
    """A reading's classification, with the two staleness flags Drift keeps for AMM fills."""

    validity: OracleValidity
    stale_for_amm_immediate: bool = False
    stale_for_amm_low_risk: bool = False

    @property
    def valid_for_margin(self) -> bool:
        return self.validity.valid_for_margin


def oracle_validity(
    data: OraclePriceData,
    last_oracle_twap: int,
    max_confidence_interval_multiplier: int,
    guard_rails: ValidityGuardRails = DEFAULT_GUARD_RAILS,
    *,
    slot_delay_override: int = 0,
    low_risk_slot_delay_override: int = 0,
) -> OracleStatus:
    """Classify ``data`` against the market's last oracle TWAP (1e6) and the guard rails (module docstring).

    ``slot_delay_override`` / ``low_risk_slot_delay_override``: a perp market's AMM overrides (0: none; a
    negative override counts as 0 slots)."""
    price, rails = data.price, guard_rails
    if price <= 0:
        return OracleStatus(OracleValidity.NON_POSITIVE)
    too_volatile = (
        _tdiv(max(price, last_oracle_twap), max(min(last_oracle_twap, price), 1)) > rails.too_volatile_ratio
    )
    conf_pct = data.confidence * BID_ASK_SPREAD_PRECISION // price
    too_uncertain = conf_pct > rails.confidence_interval_max_size * max_confidence_interval_multiplier
    immediate = data.delay > max(slot_delay_override, 0) if slot_delay_override != 0 else True
    low_limit = (
        max(low_risk_slot_delay_override, 0)
        if low_risk_slot_delay_override != 0
        else rails.slots_before_stale_for_amm
    )
    low_risk = data.delay > low_limit
    margin_limit = rails.slots_before_stale_for_margin * (3 if data.stable_coin_pull else 1)
    if too_volatile:
        return OracleStatus(OracleValidity.TOO_VOLATILE)
    if too_uncertain:
        return OracleStatus(OracleValidity.TOO_UNCERTAIN)
    if data.delay > margin_limit:
        return OracleStatus(OracleValidity.STALE_FOR_MARGIN)
    if not data.has_sufficient_number_of_data_points:
        return OracleStatus(OracleValidity.INSUFFICIENT_DATA_POINTS)
    if immediate or low_risk:
        return OracleStatus(OracleValidity.STALE_FOR_AMM, immediate, low_risk)
    return OracleStatus(OracleValidity.VALID)
