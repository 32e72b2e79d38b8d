"""``AuctionHouse.vy`` beside a :class:`~xmargin.chain.LoadedVault`: the on-chain liquidation of xmargin's DEX.

:class:`AuctionSpec` holds the parameters of ``xmargin.liquidation.DutchAuction`` (MakerDAO's Clipper: ``buf``,
``tail``, ``cusp``, ``chip``, ``tip``, ``chost`` and one of its price curves) plus the liquidation penalty
``chop`` and what becomes of bad debt beyond the insurance fund. :meth:`AuctionSpec.dutch_auction` builds the
Python auction with the same parameters, so that a test can hold the contract's prices and fills against it.
:func:`deploy_auction_house` deploys the contract and a stable token in the vault's EVM and grants the
contract the vault's liquidator role.

Default parameters: MakerDAO's WBTC-C vault type (``xmargin.liquidation.WBTC_C``, shared with ``xmargin.sim.DexConfig``; forum "Proposed Risk
Parameters for WBTC-C Vault Type", Risk Core Unit, 2021-11): StairstepExponentialDecrease ``cut`` 0.99 every
90 s, ``buf`` 1.2, ``tail`` 90 min, ``cusp`` 0.4, ``chip`` 0.1%, ``tip`` 300 DAI, ``chop`` 13%, ``dust``
7,500 DAI (``chost = dust × chop`` = 8,475).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

from xmargin.chain._plan import to_wad
from xmargin.chain._vault import LoadedVault, _deployer
from xmargin.core import InputError
from xmargin.liquidation import (
    WBTC_C,
    DutchAuction,
    ExponentialDecrease,
    LinearDecrease,
    PriceCurve,
    StairstepExponentialDecrease,
)

RAY = 10**27
ROLE_LIQUIDATOR = 8
"""The vault's role bit for its liquidation hook (``ROLE_LIQUIDATOR`` in MarginVault.vy)."""
CURVE_LINEAR, CURVE_STAIRSTEP, CURVE_EXPONENTIAL = 0, 1, 2
BAD_DEBT_MODES = {"record": 0, "socialize": 1}


def to_ray(x: float, *, where: str) -> int:
    """``x`` as a 27-decimal integer (Maker's ray), from its shortest decimal form, rounded half-even.

    >>> to_ray(0.99, where="cut")
    990000000000000000000000000
    """
    return int((Decimal(repr(float(x))) * RAY).to_integral_value(rounding=ROUND_HALF_EVEN))


def _seconds(x: float, where: str) -> int:
    if not float(x).is_integer():
        raise InputError(where=where, expected="whole seconds (block timestamps are integers)", found=x)
    return int(x)


@dataclass(frozen=True, slots=True)
class AuctionSpec:
    """The auction house's parameters (module docstring for the defaults and their source)."""

    buf: float = WBTC_C.buf
    tail_s: float = WBTC_C.tail_s
    cusp: float = WBTC_C.cusp
    chip: float = WBTC_C.chip
    tip_usd: float = WBTC_C.tip_usd
    chost_usd: float = WBTC_C.chost_usd
    chop: float = WBTC_C.chop
    curve: PriceCurve = field(
        default_factory=lambda: StairstepExponentialDecrease(step_seconds=WBTC_C.step_s, cut=WBTC_C.cut)
    )
    bad_debt: Literal["record", "socialize"] = "record"

    def __post_init__(self) -> None:
        self.dutch_auction()  # the Python auction validates buf, tail, cusp, chip, tip, chost and the curve
        if not 1.0 <= self.chop <= 2.0:
            raise InputError(where="AuctionSpec.chop", expected="a number in [1, 2]", found=self.chop)
        if self.bad_debt not in BAD_DEBT_MODES:
            raise InputError(
                where="AuctionSpec.bad_debt", expected=" or ".join(BAD_DEBT_MODES), found=self.bad_debt
            )
        self.curve_args()

    def dutch_auction(self) -> DutchAuction:
        """``xmargin.liquidation.DutchAuction`` with the same parameters (the reference of the contract)."""
        return DutchAuction(
            buf=self.buf,
            tail=self.tail_s,
            cusp=self.cusp,
            chip=self.chip,
            tip=self.tip_usd,
            chost=self.chost_usd,
            curve=self.curve,
        )

    def params_args(self) -> tuple[int, ...]:
        """Arguments of ``set_params``: buf, tail, cusp, chip, tip, chost, chop (wad; tail in seconds)."""
        w = "AuctionSpec"
        return (
            to_wad(self.buf, where=f"{w}.buf"),
            _seconds(self.tail_s, f"{w}.tail_s"),
            to_wad(self.cusp, where=f"{w}.cusp"),
            to_wad(self.chip, where=f"{w}.chip"),
            to_wad(self.tip_usd, where=f"{w}.tip_usd"),
            to_wad(self.chost_usd, where=f"{w}.chost_usd"),
            to_wad(self.chop, where=f"{w}.chop"),
        )

    def curve_args(self) -> tuple[int, int, int, int]:
        """Arguments of ``set_curve``: kind, tau, step (seconds), cut (ray)."""
        c = self.curve
        if isinstance(c, LinearDecrease):
            return CURVE_LINEAR, _seconds(c.tau_seconds, "LinearDecrease.tau_seconds"), 0, 0
        if isinstance(c, StairstepExponentialDecrease):
            step = _seconds(c.step_seconds, "StairstepExponentialDecrease.step_seconds")
            return CURVE_STAIRSTEP, 0, step, to_ray(c.cut, where="StairstepExponentialDecrease.cut")
        if isinstance(c, ExponentialDecrease):
            return CURVE_EXPONENTIAL, 0, 1, to_ray(c.cut, where="ExponentialDecrease.cut")
        raise InputError(
            where="AuctionSpec.curve",
            expected="LinearDecrease, StairstepExponentialDecrease or ExponentialDecrease",
            found=type(c).__name__,
        )


def deploy_auction_house(v: LoadedVault, spec: AuctionSpec | None = None) -> tuple[Any, Any]:
    """Deploy a stable token (``ERC20Mock``, 18 decimals, taken at 1 USD) and ``AuctionHouse`` in ``v``'s EVM,
    set ``spec``'s parameters and grant the house the vault's liquidator role. Returns (house, stable); the
    vault's admin holds the house's admin and risk roles."""
    s = AuctionSpec() if spec is None else spec
    with v.active():
        stable = _deployer("ERC20Mock").deploy("xmargin mock USD", "mUSD")
        house = _deployer("AuctionHouse").deploy(v.vault.address, stable.address)
        house.set_params(*s.params_args())
        house.set_curve(*s.curve_args())
        house.set_bad_debt_mode(BAD_DEBT_MODES[s.bad_debt])
        v.vault.grant_role(house.address, ROLE_LIQUIDATOR)
    return house, stable
