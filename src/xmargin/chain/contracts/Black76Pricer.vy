# pragma version ~=0.4.3
"""
@title Black76Pricer
@notice The Black76 module deployed as a contract of its own, so that MarginVault's PM mode prices options
        through it (`set_pricer`) and the vault stays under EIP-170's 24,576 bytes (docs/chain.md).
"""

import Black76


@external
@pure
def black76(f: int256, k: int256, t: int256, sigma: int256, is_call: bool) -> int256:
    return Black76.black76(f, k, t, sigma, is_call)
