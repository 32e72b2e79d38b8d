# pragma version ~=0.4.3
"""
@title Black76Mock
@notice Exposes the Black76 module's functions for tests and gas measurement.
"""

import Black76


@external
@pure
def wad_exp(x: int256) -> int256:
    return Black76.wad_exp(x)


@external
@pure
def wad_ln(x: int256) -> int256:
    return Black76.wad_ln(x)


@external
@pure
def wad_ncdf(x: int256) -> int256:
    return Black76.wad_ncdf(x)


@external
@pure
def black76(f: int256, k: int256, t: int256, sigma: int256, is_call: bool) -> int256:
    return Black76.black76(f, k, t, sigma, is_call)
