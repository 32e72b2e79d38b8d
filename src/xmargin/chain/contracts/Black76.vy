# pragma version ~=0.4.3
"""
@title Black76
@notice 18-decimal fixed-point maths for on-chain option pricing: exp, ln, the standard normal CDF and
        the undiscounted Black-76 price of a European call or put.
@dev Functions (internal; `Black76Mock.vy` exposes them): wad_exp, wad_ln, wad_ncdf, black76.
     Every argument and result is an integer scaled by 1e18 (a "wad").
     - wad_exp(x): x = k ln2 + r with |r| <= ln2/2, exp(r) by its Taylor series summed until a term
       vanishes (at most 16 terms), then scaled by 2^k. Defined for x in [-41.4, 130] (beyond: 0 or a
       revert). Error against float64 exp: a few units of 1e-18 relative (measured in
       tests/unit/test_chain_black76.py).
     - wad_ln(x): x = 2^k y with y in [1, 2), ln y = 2 atanh((y-1)/(y+1)) by its odd series
       (|z| <= 1/3, at most 20 terms). Error: a few units of 1e-18 absolute.
     - wad_ncdf(x): Marsaglia's series, Phi(x) = 1/2 + phi(x) (x + x^3/3 + x^5/(3 5) + ...)
       (G. Marsaglia, "Evaluating the Normal Distribution", Journal of Statistical Software 11(4), 2004),
       summed until a term vanishes; 0 below -9 and 1 above 9 (the tail beyond 9 is under 1.2e-19).
       Error: under 1e-15 absolute (measured), against math.erfc.
     - black76(F, K, T, sigma, is_call): F N(d1) - K N(d2), d1,2 = (ln(F/K) +- sigma^2 T/2)/(sigma sqrt T),
       undiscounted (the engine's markets here carry rate 0); T = 0 or sigma = 0 gives intrinsic value.
"""

WAD: constant(int256) = 10**18
LN2: constant(int256) = 693147180559945309  # ln 2 x 1e18, rounded
SQRT_2PI: constant(int256) = 2506628274631000502  # sqrt(2 pi) x 1e18, rounded
LN_SQRT_2PI: constant(int256) = 918938533204672742  # ln sqrt(2 pi) x 1e18, rounded


@internal
@pure
def wad_exp(x: int256) -> int256:
    """
    @notice e^x, x and the result in wad.
    """
    if x < -41_446_531_673_892_822_312:  # e^x < 1e-18: rounds to 0
        return 0
    assert x <= 130 * WAD, "black76: exp overflow"
    k: int256 = x // LN2
    r: int256 = x - k * LN2
    if r > LN2 // 2:
        r -= LN2
        k += 1
    term: int256 = WAD
    total: int256 = WAD
    for i: int256 in range(1, 24):
        term = term * r // (WAD * i)
        if term == 0:
            break
        total += term
    if k >= 0:
        return total << convert(k, uint256)
    return total >> convert(-k, uint256)


@internal
@pure
def _log2_floor(v: uint256) -> uint256:
    """
    @dev floor(log2 v) for v >= 1, by binary search over the bit length.
    """
    r: uint256 = 0
    u: uint256 = v
    for s: uint256 in [128, 64, 32, 16, 8, 4, 2, 1]:
        if u >= 1 << s:
            u >>= s
            r += s
    return r


@internal
@pure
def wad_ln(x: int256) -> int256:
    """
    @notice ln x for x > 0, in wad.
    """
    assert x > 0, "black76: ln of a non-positive number"
    ux: uint256 = convert(x, uint256)
    k: int256 = 0
    y: uint256 = 0
    if ux >= 10**18:
        j: uint256 = self._log2_floor(ux // 10**18)
        y = ux >> j
        k = convert(j, int256)
    else:
        j: uint256 = self._log2_floor(10**18 // ux)
        y = ux << j
        if y < 10**18:
            y <<= 1
            j += 1
        k = -convert(j, int256)
    z: int256 = (convert(y, int256) - WAD) * WAD // (convert(y, int256) + WAD)
    z2: int256 = z * z // WAD
    term: int256 = z
    total: int256 = z
    for n: int256 in range(1, 30):
        term = term * z2 // WAD
        if term == 0:
            break
        total += term // (2 * n + 1)
    return 2 * total + k * LN2


@internal
@pure
def wad_ncdf(x: int256) -> int256:
    """
    @notice The standard normal CDF Phi(x), in wad.
    """
    if x <= -9 * WAD:
        return 0
    if x >= 9 * WAD:
        return WAD
    x2: int256 = x * x // WAD
    term: int256 = x
    total: int256 = x
    for n: int256 in range(1, 400):
        term = term * x2 // ((2 * n + 1) * WAD)
        if term == 0:
            break
        total += term
    if x > -WAD and x < WAD:
        return WAD // 2 + total * (self.wad_exp(-x2 // 2) * WAD // SQRT_2PI) // WAD
    # |x| >= 1: the series grows like 1/phi(x), so take the product through logs, exact to 1e-18 relative
    tail: int256 = self.wad_exp(self.wad_ln(abs(total)) - x2 // 2 - LN_SQRT_2PI)
    if x > 0:
        return WAD // 2 + tail
    return WAD // 2 - tail


@internal
@pure
def black76(f: int256, k: int256, t: int256, sigma: int256, is_call: bool) -> int256:
    """
    @notice Undiscounted Black-76 price per unit of underlying (same unit as f and k).
    @param f Forward (wad). @param k Strike (wad). @param t Years to expiry (wad). @param sigma Vol (wad).
    """
    if t <= 0 or sigma <= 0:
        if is_call:
            return max(f - k, 0)
        return max(k - f, 0)
    var: int256 = sigma * sigma // WAD * t // WAD  # sigma^2 T
    sd: int256 = convert(isqrt(convert(var, uint256) * 10**18), int256)  # sigma sqrt T
    if sd == 0:
        if is_call:
            return max(f - k, 0)
        return max(k - f, 0)
    lfk: int256 = self.wad_ln(f * WAD // k)
    d1: int256 = (lfk + var // 2) * WAD // sd
    d2: int256 = d1 - sd
    if is_call:
        return (f * self.wad_ncdf(d1) - k * self.wad_ncdf(d2)) // WAD
    return (k * self.wad_ncdf(-d2) - f * self.wad_ncdf(-d1)) // WAD
