"""Drift v2's risk tiers of spot assets and perp contracts, and the order in which liquidations take them.

Re-implemented from reading drift-labs/protocol-v2 at commit ``0ae3e3b1db782a6765c3525b3dec38ad4d9d3a62``:
``programs/drift/src/state/spot_market.rs`` (``AssetTier``, ``get_max_confidence_interval_multiplier``),
``state/perp_market.rs`` (``ContractTier``, ``is_as_safe_as``, ``get_max_confidence_interval_multiplier``) and
``math/margin.rs`` (``calculate_user_safest_position_tiers``); no code copied.

Both tiers are ranked safest first (the order of their declaration in Drift, which its comparisons use):

- spot assets: ``COLLATERAL`` (full privilege) < ``PROTECTED`` (collateral, not borrowable) < ``CROSS`` (not
  collateral, several borrows allowed) < ``ISOLATED`` (not collateral, a single borrow) < ``UNLISTED`` (Drift's
  default);
- perp contracts: ``A`` < ``B`` < ``C`` (insurance capped at that level) < ``SPECULATIVE`` (no insurance) <
  ``HIGHLY_SPECULATIVE`` (Drift's default) < ``ISOLATED`` (a single position only).

A contract is *as safe as* the user's safest perp and spot liabilities when it ranks at or above the safest
contract, and either the safest spot liability is unlisted, or that liability is at most ``CROSS`` privileged
and the contract is tier ``C`` or better (Drift's liquidator takes the least safe position first and refuses a
contract that is not as safe as the rest).
"""

from __future__ import annotations

from enum import IntEnum


class AssetTier(IntEnum):
    """A spot market's tier (``AssetTier``), safest first; the integer is the rank."""

    COLLATERAL = 0
    PROTECTED = 1
    CROSS = 2
    ISOLATED = 3
    UNLISTED = 4

    @property
    def max_confidence_interval_multiplier(self) -> int:
        """How many times the guard rail's maximum confidence (2% of the price) this tier's oracle may show:
        1 for collateral and protected assets, 5 for cross, 50 for isolated and unlisted."""
        return {0: 1, 1: 1, 2: 5, 3: 50, 4: 50}[self.value]


class ContractTier(IntEnum):
    """A perp market's tier (``ContractTier``), safest first; the integer is the rank."""

    A = 0
    B = 1
    C = 2
    SPECULATIVE = 3
    HIGHLY_SPECULATIVE = 4
    ISOLATED = 5

    @property
    def max_confidence_interval_multiplier(self) -> int:
        """Multiple of the guard rail's maximum confidence: 1 for A and B, 2 for C, 10 for speculative, 50 for
        highly speculative and isolated."""
        return {0: 1, 1: 1, 2: 2, 3: 10, 4: 50, 5: 50}[self.value]

    def is_as_safe_as_contract(self, other: ContractTier) -> bool:
        return self <= other

    def is_as_safe_as_asset(self, other: AssetTier) -> bool:
        """An unlisted spot liability ranks below every contract; otherwise only contracts A, B and C rank at or
        above a spot liability, and only one that is no more privileged than ``CROSS``."""
        if other is AssetTier.UNLISTED:
            return True
        return other >= AssetTier.CROSS and self <= ContractTier.C

    def is_as_safe_as(self, best_contract: ContractTier, best_asset: AssetTier) -> bool:
        """This contract is as safe as the safest perp (``best_contract``) and spot (``best_asset``) liability."""
        return self.is_as_safe_as_contract(best_contract) and self.is_as_safe_as_asset(best_asset)


DEFAULT_ASSET_TIER = AssetTier.UNLISTED
"""``AssetTier::default()``"""
DEFAULT_CONTRACT_TIER = ContractTier.HIGHLY_SPECULATIVE
"""``ContractTier::default()``"""
