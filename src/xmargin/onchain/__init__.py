"""The Python DEX replay's book and crash window run through the vault's contracts on titanoboa's EVM
(``xmargin replay --venue dex --onchain``), with the gas keepers and the vault spend. Needs the ``chain``
extra. Design and the comparison with the Python replay: docs/chain.md, "The DEX replay on the contract".
"""

from xmargin.onchain._book import BookPlan, ChainBook, GasBook, GasLine, plan_book
from xmargin.onchain._loop import OnchainConfig, replay_onchain, replay_onchain_scenario, take_size

__all__ = [
    "BookPlan",
    "ChainBook",
    "GasBook",
    "GasLine",
    "OnchainConfig",
    "plan_book",
    "replay_onchain",
    "replay_onchain_scenario",
    "take_size",
]
