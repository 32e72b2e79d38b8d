# pragma version ~=0.4.3
# pragma optimize codesize
"""
@title MarginVault
@notice A cross-margin vault: pooled ERC-20 collateral with haircuts, perpetual, future and option
        positions, prices from Chainlink-style feeds, and the health of xmargin's `cross` model.
@dev Functions: deposit, withdraw, trade, poke (oracle update), account_margin (the health view),
     admin: grant_role, revoke_role, add_feed, list_collateral, list_market, set_market_rates,
     set_option_params, import_position, seal; funding and settlement (docs/chain.md): update_funding
     (funder role), settle_funding, set_expiry (risk role), fix_settlement, settle (anyone).
     Units: every amount is 18-decimal fixed point ("wad"): token amounts (tokens of 18 decimals only),
     sizes in coin, prices and values in USD. Rounding always favours the vault (docs/chain.md):
     IM and MM round up, collateral and P&L round down (a loss's magnitude rounds up).
     The margin rules are xmargin's `cross` (src/xmargin/margin/_simple.py, _ratio.py):
       futures and perpetuals  IM = im_rate |N| B, MM = mm_rate |N| B, with B = F (linear) or
                               S, the settlement asset's index (inverse: |N| F x S / F);
       short options (Deribit) IM = max(max(im_base - OTM/F, im_floor) B + V, MM_put for puts),
                               MM = mm_base B + V (call), max(mm_base B, mm_base V) + V (put), per coin;
       long options            IM = MM = N V (paid in full), and N V in equity;
       equity = sum of collateral at index + cash + N V (options) + unrealised P&L (futures),
       margin_balance = equity - sum of collateral x haircut.
"""

from ethereum.ercs import IERC20

interface Pricer:  # Black76Pricer.vy: the Black76 module deployed on its own (EIP-170, docs/chain.md)
    def black76(f: int256, k: int256, t: int256, sigma: int256, is_call: bool) -> int256: pure

interface AggregatorV3:
    def latestRoundData() -> (uint80, int256, uint256, uint256, uint80): view
    def decimals() -> uint8: view

WAD: constant(uint256) = 10**18
IWAD: constant(int256) = 10**18
MASK32: constant(uint256) = 2**32 - 1
MASK64: constant(uint256) = 2**64 - 1
MAX_TOKENS: constant(uint256) = 8
MAX_POSITIONS: constant(uint256) = 64
MAX_UNDERLYINGS: constant(uint256) = 4
MAX_MOVES: constant(uint256) = 16
MAX_SCENARIOS: constant(uint256) = 48  # MAX_MOVES x 3 vol directions
YEAR_S: constant(uint256) = 31_536_000  # 365 days

ROLE_ADMIN: constant(uint256) = 1
ROLE_RISK: constant(uint256) = 2
ROLE_MIGRATOR: constant(uint256) = 4
ROLE_LIQUIDATOR: constant(uint256) = 8
ROLE_FUNDER: constant(uint256) = 16

FUNDING_PERIOD_S: constant(uint256) = 28_800  # dYdX v4 quotes and clamps an 8-hour funding rate
FUNDING_CLAMP: constant(uint256) = 6 * WAD  # dYdX v4's default clamp factor, 600%
SETTLED_BIT: constant(uint256) = 1 << 10     # in market_word: the settlement price is fixed

KIND_PERPETUAL: constant(uint8) = 0
KIND_FUTURE: constant(uint8) = 1
KIND_OPTION: constant(uint8) = 2

FEED_OK: constant(uint8) = 0
FEED_STALE: constant(uint8) = 1
FEED_DEVIATING: constant(uint8) = 2
FEED_BAD: constant(uint8) = 3


struct Feed:
    aggregator: address
    scale: uint256          # 10**(18 - decimals)
    heartbeat: uint256      # seconds a round stays fresh
    max_deviation: uint256  # wad fraction: a larger jump waits for a confirming round
    price: uint256          # last accepted price, wad USD
    updated_at: uint256     # the accepted round's updatedAt
    pending: uint256        # a deviating price waiting for confirmation
    pending_at: uint256
    status: uint8


struct Market:
    kind: uint8
    inverse: bool
    is_call: bool
    strike: uint256      # wad USD (options)
    mark_feed: uint256   # F: the instrument's mark/forward, wad USD per coin
    value_feed: uint256  # V: an option's mark value, wad USD per coin (options)
    settle_feed: uint256 # S: the settlement asset's index (inverse instruments)
    im_rate: uint256     # wad fractions of notional (futures and perpetuals)
    mm_rate: uint256
    active: bool


struct Collateral:
    token: address
    feed: uint256
    haircut: uint256     # wad fraction taken off the collateral's value


struct MarketPm:
    underlying: uint256  # 1-based id of the scenario group (0: not set)
    vol_feed: uint256    # the option's implied vol (wad, annualised)
    expiry: uint256      # Unix time
    vol_up: uint256      # relative vol shocks (wad): sigma x (1 + vol_up), sigma x max(1 - vol_down, 1%)
    vol_down: uint256


struct Position:
    market: uint256
    size: int256         # wad coin, signed
    entry: uint256       # wad USD per coin (futures and perpetuals; 0 for options)


struct Health:
    equity: int256
    margin_balance: int256
    initial_margin: uint256
    maintenance_margin: uint256
    prices_fresh: bool


event RoleGranted:
    who: indexed(address)
    role: uint256

event RoleRevoked:
    who: indexed(address)
    role: uint256

event FeedAdded:
    feed_id: indexed(uint256)
    aggregator: address
    heartbeat: uint256
    max_deviation: uint256

event FeedPoked:
    feed_id: indexed(uint256)
    price: uint256
    updated_at: uint256
    status: uint8

event CollateralListed:
    index: indexed(uint256)
    token: address
    feed: uint256
    haircut: uint256

event MarketListed:
    market_id: indexed(uint256)
    kind: uint8
    inverse: bool

event MarketRatesSet:
    market_id: indexed(uint256)
    im_rate: uint256
    mm_rate: uint256

event OptionParamsSet:
    im_base: uint256
    im_floor: uint256
    mm_base: uint256

event Deposit:
    account: indexed(address)
    token: indexed(address)
    amount: uint256

event Withdraw:
    account: indexed(address)
    token: indexed(address)
    amount: uint256

event Trade:
    account: indexed(address)
    market_id: indexed(uint256)
    size_delta: int256
    price: uint256
    realised: int256

event PositionImported:
    account: indexed(address)
    market_id: indexed(uint256)
    size: int256
    entry: uint256

event PricerSet:
    pricer: address

event PmParamsSet:
    mm_factor: uint256
    gate: bool

event PmGridSet:
    underlying: indexed(uint256)
    n_moves: uint256

event MarketPmSet:
    market_id: indexed(uint256)
    underlying: uint256
    vol_feed: uint256
    expiry: uint256

event CollateralUnderlyingSet:
    index: indexed(uint256)
    underlying: uint256

event Sealed:
    by: address

event FundingUpdated:
    market_id: indexed(uint256)
    rate: int256
    price: uint256
    index: int256

event FundingSettled:
    account: indexed(address)
    market_id: indexed(uint256)
    amount: int256
    index: int256

event ExpirySet:
    market_id: indexed(uint256)
    expiry: uint256

event FundingClampSet:
    clamp: uint256

event SettlementFixed:
    market_id: indexed(uint256)
    price: uint256
    updated_at: uint256

event Settled:
    account: indexed(address)
    market_id: indexed(uint256)
    size: int256
    price: uint256
    amount: int256

event Liquidation:
    account: indexed(address)
    cash_delta: int256
    closed: bool
    index: uint256
    src: address
    dst: address
    amount: uint256


roles: public(HashMap[address, uint256])
pricer: public(address)
sealed: public(bool)

feeds: public(HashMap[uint256, Feed])
n_feeds: public(uint256)
markets: public(HashMap[uint256, Market])
n_markets: public(uint256)
collaterals: public(HashMap[uint256, Collateral])
n_collaterals: public(uint256)

im_base: public(uint256)
im_floor: public(uint256)
mm_base: public(uint256)

# Hot words read by the health check, one storage slot each (a cold read costs 2,100 gas, EIP-2929):
#   price_word[feed]     = price << 64 | usable_until (updatedAt + heartbeat; 0 while the feed is not ok)
#   market_word[market]  = kind | inverse << 8 | is_call << 9 | mark_feed << 16 | value_feed << 48
#                          | settle_feed << 80 | im_rate << 112 | mm_rate << 176   (rates <= 1e18 < 2**64)
price_word: HashMap[uint256, uint256]
market_word: HashMap[uint256, uint256]

# PM mode (a scenario grid per underlying, docs/chain.md)
market_pm: public(HashMap[uint256, MarketPm])
collateral_underlying: public(HashMap[uint256, uint256])  # 0: no scenarios (a stablecoin)
pm_moves: HashMap[uint256, DynArray[int256, MAX_MOVES]]  # per underlying id: relative price moves (wad)
pm_mm_factor: public(uint256)
pm_gate: public(bool)  # True: trades, withdrawals and kicks are judged by the PM health, not cross

balances: public(HashMap[address, HashMap[uint256, uint256]])  # account -> collateral index -> wad
cash: public(HashMap[address, int256])                           # realised USD (wad), may be negative
positions: HashMap[address, DynArray[Position, MAX_POSITIONS]]
position_slot: HashMap[address, HashMap[uint256, uint256]]       # account -> market -> index + 1

# Funding (perpetuals) and settlement (futures, options), docs/chain.md "Funding and settlement"
funding_index: public(HashMap[uint256, int256])   # cumulative USD per coin, 36 decimals (wad x wad, exact)
funding_time: HashMap[uint256, uint256]   # last update of the index
funding_snap: HashMap[address, HashMap[uint256, int256]]  # the index up to which an account paid
expiry: public(HashMap[uint256, uint256])         # Unix time (futures, options; 0: none)
settle_price: public(HashMap[uint256, uint256])   # fixed once at or after expiry (0: not yet)


@deploy
def __init__():
    self.roles[msg.sender] = ROLE_ADMIN | ROLE_RISK | ROLE_MIGRATOR
    log RoleGranted(who=msg.sender, role=ROLE_ADMIN | ROLE_RISK | ROLE_MIGRATOR)


# ------------------------------------------------------------------------------------------------
# fixed point, rounding named at each call
# ------------------------------------------------------------------------------------------------

@internal
@pure
def _mul_down(a: uint256, b: uint256) -> uint256:
    return a * b // WAD


@internal
@pure
def _mul_up(a: uint256, b: uint256) -> uint256:
    p: uint256 = a * b
    if p == 0:
        return 0
    return (p - 1) // WAD + 1


@internal
@pure
def _mul_div_up(a: uint256, b: uint256, d: uint256) -> uint256:
    p: uint256 = a * b
    if p == 0:
        return 0
    return (p - 1) // d + 1


@internal
@pure
def _signed_floor(magnitude_down: uint256, magnitude_up: uint256, negative: bool) -> int256:
    """
    @dev A signed amount rounded towards minus infinity, from its magnitude rounded down and up.
    """
    if negative:
        return -convert(magnitude_up, int256)
    return convert(magnitude_down, int256)


@internal
@pure
def _within(a: uint256, b: uint256, max_dev: uint256) -> bool:
    diff: uint256 = 0
    if a > b:
        diff = a - b
    else:
        diff = b - a
    return diff * WAD <= max_dev * b


@internal
@pure
def _abs(x: int256) -> uint256:
    if x < 0:
        return convert(-x, uint256)
    return convert(x, uint256)


# ------------------------------------------------------------------------------------------------
# roles
# ------------------------------------------------------------------------------------------------

@internal
@view
def _only(role: uint256):
    assert self.roles[msg.sender] & role != 0, "vault: missing role"


@external
def grant_role(who: address, role: uint256):
    """
    @notice Give `who` the roles in the bit mask `role` (1 admin, 2 risk, 4 migrator). Admin only.
    """
    self._only(ROLE_ADMIN)
    self.roles[who] |= role
    log RoleGranted(who=who, role=role)


@external
def revoke_role(who: address, role: uint256):
    """
    @notice Take the roles in the bit mask `role` from `who`. Admin only.
    """
    self._only(ROLE_ADMIN)
    self.roles[who] &= ~role
    log RoleRevoked(who=who, role=role)


@external
def seal():
    """
    @notice End the migration window: `import_position` is refused from now on. Admin only.
    """
    self._only(ROLE_ADMIN)
    self.sealed = True
    log Sealed(by=msg.sender)


# ------------------------------------------------------------------------------------------------
# risk parameters (ROLE_RISK)
# ------------------------------------------------------------------------------------------------

@external
def add_feed(aggregator: address, heartbeat: uint256, max_deviation: uint256) -> uint256:
    """
    @notice Register a Chainlink-style feed; returns its id. Risk role.
    @param heartbeat Seconds after the round's updatedAt during which its price may be used.
    @param max_deviation Wad fraction: a move beyond it from the last accepted price waits for a
           second round that confirms it (the feed is `deviating` meanwhile).
    """
    self._only(ROLE_RISK)
    decimals: uint8 = staticcall AggregatorV3(aggregator).decimals()
    assert decimals <= 18, "vault: feed decimals above 18"
    assert heartbeat > 0, "vault: heartbeat must be > 0"
    fid: uint256 = self.n_feeds
    assert fid < MASK32, "vault: too many feeds"
    self.feeds[fid] = Feed(
        aggregator=aggregator,
        scale=10 ** convert(18 - decimals, uint256),
        heartbeat=heartbeat,
        max_deviation=max_deviation,
        price=0,
        updated_at=0,
        pending=0,
        pending_at=0,
        status=FEED_STALE,
    )
    self.n_feeds = fid + 1
    log FeedAdded(feed_id=fid, aggregator=aggregator, heartbeat=heartbeat, max_deviation=max_deviation)
    return fid


@external
def list_collateral(token: address, feed: uint256, haircut: uint256) -> uint256:
    """
    @notice Accept `token` (18 decimals) as collateral valued by `feed`, less `haircut` (wad). Risk role.
    """
    self._only(ROLE_RISK)
    assert feed < self.n_feeds, "vault: no such feed"
    assert haircut <= WAD, "vault: haircut above 1"
    i: uint256 = self.n_collaterals
    assert i < MAX_TOKENS, "vault: too many collaterals"
    self.collaterals[i] = Collateral(token=token, feed=feed, haircut=haircut)
    self.n_collaterals = i + 1
    log CollateralListed(index=i, token=token, feed=feed, haircut=haircut)
    return i


@external
def list_market(
    kind: uint8,
    inverse: bool,
    is_call: bool,
    strike: uint256,
    mark_feed: uint256,
    value_feed: uint256,
    settle_feed: uint256,
    im_rate: uint256,
    mm_rate: uint256,
) -> uint256:
    """
    @notice List a perpetual (kind 0), future (1) or European option (2). Risk role.
    """
    self._only(ROLE_RISK)
    n: uint256 = self.n_feeds
    assert kind <= KIND_OPTION, "vault: unknown market kind"
    assert mark_feed < n and value_feed < n and settle_feed < n, "vault: no such feed"
    assert mm_rate <= im_rate and im_rate <= WAD, "vault: need mm_rate <= im_rate <= 1"
    assert kind != KIND_OPTION or strike > 0, "vault: option strike must be > 0"
    mid: uint256 = self.n_markets
    self.markets[mid] = Market(
        kind=kind,
        inverse=inverse,
        is_call=is_call,
        strike=strike,
        mark_feed=mark_feed,
        value_feed=value_feed,
        settle_feed=settle_feed,
        im_rate=im_rate,
        mm_rate=mm_rate,
        active=True,
    )
    self._pack_market(mid)
    self.n_markets = mid + 1
    self.funding_time[mid] = block.timestamp
    log MarketListed(market_id=mid, kind=kind, inverse=inverse)
    log MarketRatesSet(market_id=mid, im_rate=im_rate, mm_rate=mm_rate)
    return mid


@internal
def _pack_market(market_id: uint256):
    m: Market = self.markets[market_id]
    w: uint256 = convert(m.kind, uint256) | m.mark_feed << 16 | m.value_feed << 48 | m.settle_feed << 80
    w |= m.im_rate << 112 | m.mm_rate << 176
    if m.inverse:
        w |= 1 << 8
    if m.is_call:
        w |= 1 << 9
    if self.settle_price[market_id] != 0:
        w |= SETTLED_BIT
    self.market_word[market_id] = w


@external
def set_market_rates(market_id: uint256, im_rate: uint256, mm_rate: uint256):
    """
    @notice Change a market's futures margin rates (wad fractions of notional). Risk role.
    """
    self._only(ROLE_RISK)
    assert market_id < self.n_markets, "vault: no such market"
    assert mm_rate <= im_rate and im_rate <= WAD, "vault: need mm_rate <= im_rate <= 1"
    self.markets[market_id].im_rate = im_rate
    self.markets[market_id].mm_rate = mm_rate
    self._pack_market(market_id)
    log MarketRatesSet(market_id=market_id, im_rate=im_rate, mm_rate=mm_rate)


@external
def set_option_params(im_base: uint256, im_floor: uint256, mm_base: uint256):
    """
    @notice Deribit's short-option parameters (wad): IM = max(im_base - OTM/F, im_floor) + mark. Risk role.
    """
    self._only(ROLE_RISK)
    assert im_floor <= im_base and im_base <= WAD and mm_base <= WAD, "vault: bad option params"
    self.im_base = im_base
    self.im_floor = im_floor
    self.mm_base = mm_base
    log OptionParamsSet(im_base=im_base, im_floor=im_floor, mm_base=mm_base)


@external
def set_pricer(pricer: address):
    """
    @notice PM mode: the contract that prices options (Black76Pricer.vy). Risk role.
    """
    self._only(ROLE_RISK)
    self.pricer = pricer
    log PricerSet(pricer=pricer)


@external
def set_pm_params(mm_factor: uint256, gate: bool):
    """
    @notice PM mode: maintenance = mm_factor x the worst loss (wad); `gate`: the PM health (not the cross
            one) decides withdrawals, new risk and (in the auction house) kicks. Risk role.
    """
    self._only(ROLE_RISK)
    assert mm_factor <= WAD, "vault: mm_factor above 1"
    self.pm_mm_factor = mm_factor
    self.pm_gate = gate
    log PmParamsSet(mm_factor=mm_factor, gate=gate)


@external
def set_pm_grid(underlying: uint256, moves: DynArray[int256, MAX_MOVES]):
    """
    @notice PM mode: the relative price moves (wad, > -1) of underlying `underlying` (1..4), each taken with
            vol up, unchanged and down. Risk role.
    """
    self._only(ROLE_RISK)
    assert underlying >= 1 and underlying <= MAX_UNDERLYINGS, "vault: underlying id in 1..4"
    for m: int256 in moves:
        assert m > -IWAD, "vault: a move must be > -1"
    self.pm_moves[underlying] = moves
    log PmGridSet(underlying=underlying, n_moves=len(moves))


@external
def set_market_pm(market_id: uint256, underlying: uint256, vol_feed: uint256, expiry: uint256, vol_up: uint256, vol_down: uint256):
    """
    @notice PM mode: a market's scenario group and, for an option, its vol feed, expiry and vol shocks. Risk role.
    """
    self._only(ROLE_RISK)
    assert market_id < self.n_markets, "vault: no such market"
    assert underlying >= 1 and underlying <= MAX_UNDERLYINGS, "vault: underlying id in 1..4"
    assert vol_feed < self.n_feeds, "vault: no such feed"
    self.market_pm[market_id] = MarketPm(underlying=underlying, vol_feed=vol_feed, expiry=expiry, vol_up=vol_up, vol_down=vol_down)
    log MarketPmSet(market_id=market_id, underlying=underlying, vol_feed=vol_feed, expiry=expiry)


@external
def set_collateral_underlying(index: uint256, underlying: uint256):
    """
    @notice PM mode: the scenario group a collateral coin moves with (0: none, a stablecoin). Risk role.
    """
    self._only(ROLE_RISK)
    assert index < self.n_collaterals, "vault: no such collateral"
    assert underlying <= MAX_UNDERLYINGS, "vault: underlying id in 0..4"
    self.collateral_underlying[index] = underlying
    log CollateralUnderlyingSet(index=index, underlying=underlying)


# ------------------------------------------------------------------------------------------------
# oracle adapter
# ------------------------------------------------------------------------------------------------

@external
def poke(feed_id: uint256) -> uint8:
    """
    @notice Read the feed's latest round and accept its price if it is fresh, positive and within
            the deviation threshold of the last accepted price (or confirms a pending jump).
            Anyone may call it. Returns the feed's status (0 ok, 1 stale, 2 deviating, 3 bad).
    @dev A stale, bad or deviating round never replaces the accepted price; while a feed is not ok
         new risk is refused and no account is liquidated on it.
    """
    f: Feed = self.feeds[feed_id]
    assert f.aggregator != empty(address), "vault: no such feed"
    rid: uint80 = 0
    answer: int256 = 0
    started: uint256 = 0
    updated: uint256 = 0
    answered: uint80 = 0
    rid, answer, started, updated, answered = staticcall AggregatorV3(f.aggregator).latestRoundData()
    status: uint8 = FEED_OK
    if answer <= 0 or updated > block.timestamp or answered < rid:
        status = FEED_BAD
    elif block.timestamp > updated + f.heartbeat:
        status = FEED_STALE
    else:
        p: uint256 = convert(answer, uint256) * f.scale
        if f.price == 0 or self._within(p, f.price, f.max_deviation):
            f.price = p
            f.updated_at = updated
            f.pending = 0
        elif f.pending != 0 and updated > f.pending_at and self._within(p, f.pending, f.max_deviation):
            f.price = p
            f.updated_at = updated
            f.pending = 0
        else:
            f.pending = p
            f.pending_at = updated
            status = FEED_DEVIATING
    f.status = status
    self.feeds[feed_id] = f
    until: uint256 = 0
    if status == FEED_OK:
        until = f.updated_at + f.heartbeat
    self.price_word[feed_id] = f.price << 64 | until
    log FeedPoked(feed_id=feed_id, price=f.price, updated_at=f.updated_at, status=status)
    return status


@internal
@view
def _price(feed_id: uint256) -> (uint256, bool):
    """
    @dev The accepted price and whether it may be used now (status ok and within its heartbeat).
    """
    w: uint256 = self.price_word[feed_id]
    return w >> 64, block.timestamp <= w & MASK64


# ------------------------------------------------------------------------------------------------
# health (xmargin `cross`)
# ------------------------------------------------------------------------------------------------

@internal
@view
def _health(account: address) -> Health:
    fresh: bool = True
    ok: bool = True
    equity: int256 = self.cash[account]
    haircut: uint256 = 0
    im: uint256 = 0
    mm: uint256 = 0
    for i: uint256 in range(self.n_collaterals, bound=MAX_TOKENS):
        amount: uint256 = self.balances[account][i]
        if amount == 0:
            continue
        px: uint256 = 0
        px, ok = self._price(self.collaterals[i].feed)
        fresh = fresh and ok
        value: uint256 = self._mul_down(amount, px)
        equity += convert(value, int256)
        h: uint256 = self.collaterals[i].haircut
        if h != 0:
            haircut += self._mul_up(self._mul_up(amount, px), h)
    n: uint256 = len(self.positions[account])
    for j: uint256 in range(n, bound=MAX_POSITIONS):
        p: Position = self.positions[account][j]
        mw: uint256 = self.market_word[p.market]
        if mw & SETTLED_BIT != 0:  # expired and fixed: its payoff, no margin, no price read
            equity += self._payoff(p, mw)
            continue
        inverse: bool = (mw >> 8) & 1 == 1
        is_call: bool = (mw >> 9) & 1 == 1
        f: uint256 = 0
        f, ok = self._price((mw >> 16) & MASK32)
        fresh = fresh and ok
        base: uint256 = f
        s: uint256 = 0
        if inverse:
            s, ok = self._price((mw >> 80) & MASK32)
            fresh = fresh and ok
            base = s
        size: uint256 = self._abs(p.size)
        if mw & 255 == convert(KIND_OPTION, uint256):
            v: uint256 = 0
            v, ok = self._price((mw >> 48) & MASK32)
            fresh = fresh and ok
            equity += self._signed_floor(self._mul_down(size, v), self._mul_up(size, v), p.size < 0)
            if p.size > 0:
                locked: uint256 = self._mul_up(size, v)
                im += locked
                mm += locked
            else:
                otm: uint256 = 0
                strike: uint256 = self.markets[p.market].strike
                if is_call and strike > f:
                    otm = strike - f
                elif not is_call and f > strike:
                    otm = f - strike
                otm_frac: uint256 = otm * WAD // f  # down, so that IM rounds up
                rate: uint256 = self.im_floor
                if self.im_base > otm_frac and self.im_base - otm_frac > rate:
                    rate = self.im_base - otm_frac
                im_pc: uint256 = self._mul_up(rate, base) + v
                mm_pc: uint256 = self._mul_up(self.mm_base, base) + v
                if not is_call:
                    mm_pc = max(self._mul_up(self.mm_base, base), self._mul_up(self.mm_base, v)) + v
                    im_pc = max(im_pc, mm_pc)
                im += self._mul_up(size, im_pc)
                mm += self._mul_up(size, mm_pc)
        else:
            notional: uint256 = self._mul_up(size, base)
            if mw & 255 == 0:  # a perpetual: funding not yet settled into cash
                equity += self._funding_due(account, p.market, p.size)
            im += self._mul_up(notional, (mw >> 112) & MASK64)
            mm += self._mul_up(notional, (mw >> 176) & MASK64)
            # unrealised P&L, USD: linear N (F - E); inverse N (F - E) / F x S; rounded down
            diff: uint256 = 0
            loss: bool = False
            if f >= p.entry:
                diff = f - p.entry
                loss = p.size < 0
            else:
                diff = p.entry - f
                loss = p.size > 0
            if inverse:
                equity += self._signed_floor(
                    size * diff // WAD * s // f, self._mul_div_up(self._mul_up(size, diff), s, f), loss
                )
            else:
                equity += self._signed_floor(self._mul_down(size, diff), self._mul_up(size, diff), loss)
    return Health(
        equity=equity,
        margin_balance=equity - convert(haircut, int256),
        initial_margin=im,
        maintenance_margin=mm,
        prices_fresh=fresh,
    )


@external
@view
def account_margin(account: address) -> Health:
    """
    @notice The account's equity, margin balance (equity less haircuts), initial and maintenance
            margin (wad USD) and whether every price it used is fresh.
    """
    return self._health(account)


@internal
@pure
def _sfloor(a: int256) -> int256:
    """
    @dev a / 1e18 rounded towards minus infinity (a loss's magnitude up).
    """
    q: int256 = a // IWAD
    if a < 0 and q * IWAD != a:
        q -= 1
    return q


@internal
@view
def _pm_add(pnl: int256[192], g: uint256, per_move: DynArray[int256, MAX_MOVES], vol_dir: uint256) -> int256[192]:
    out: int256[192] = pnl
    for i: uint256 in range(len(per_move), bound=MAX_MOVES):
        out[g * MAX_SCENARIOS + i * 3 + vol_dir] += per_move[i]
    return out


@internal
@view
def _health_pm(account: address) -> Health:
    h: Health = self._health(account)
    fresh: bool = h.prices_fresh
    ok: bool = True
    pnl: int256[192] = empty(int256[192])  # [underlying - 1][move][vol direction], USD wad
    long_value: uint256[4] = empty(uint256[4])
    used: bool[4] = empty(bool[4])
    for i: uint256 in range(self.n_collaterals, bound=MAX_TOKENS):
        und: uint256 = self.collateral_underlying[i]
        amount: uint256 = self.balances[account][i]
        if und == 0 or amount == 0:
            continue
        px: uint256 = 0
        px, ok = self._price(self.collaterals[i].feed)
        value: int256 = convert(self._mul_down(amount, px), int256)
        used[und - 1] = True
        moves: DynArray[int256, MAX_MOVES] = self.pm_moves[und]
        per: DynArray[int256, MAX_MOVES] = []
        for m: int256 in moves:
            per.append(self._sfloor(value * m))
        for v: uint256 in range(3):
            pnl = self._pm_add(pnl, und - 1, per, v)
    for j: uint256 in range(len(self.positions[account]), bound=MAX_POSITIONS):
        p: Position = self.positions[account][j]
        mw: uint256 = self.market_word[p.market]
        if mw & SETTLED_BIT != 0:
            continue  # its payoff is in the equity of `_health`; no scenario moves it
        mp: MarketPm = self.market_pm[p.market]
        assert mp.underlying != 0, "vault: market has no PM scenario group"
        g: uint256 = mp.underlying - 1
        used[g] = True
        f: uint256 = 0
        f, ok = self._price((mw >> 16) & MASK32)
        fresh = fresh and ok
        s: uint256 = 0
        s, ok = self._price((mw >> 80) & MASK32)  # the settlement asset's (inverse: the underlying's) index
        inverse: bool = (mw >> 8) & 1 == 1
        fi: int256 = convert(f, int256)
        si: int256 = convert(s, int256)
        moves: DynArray[int256, MAX_MOVES] = self.pm_moves[mp.underlying]
        if mw & 255 != convert(KIND_OPTION, uint256):
            per: DynArray[int256, MAX_MOVES] = []
            for m: int256 in moves:
                fn: int256 = fi + fi * m // IWAD
                unit: int256 = fn - fi  # linear: F' - F per coin
                if inverse:  # (1 - F/F') S' per coin
                    unit = (IWAD - fi * IWAD // fn) * (si + si * m // IWAD) // IWAD
                per.append(self._sfloor(p.size * unit))
            for v: uint256 in range(3):
                pnl = self._pm_add(pnl, g, per, v)
            continue
        if p.size > 0:
            vv: uint256 = 0
            vv, ok = self._price((mw >> 48) & MASK32)
            long_value[g] += self._mul_up(convert(p.size, uint256), vv)
        sigma: uint256 = 0
        sigma, ok = self._price(mp.vol_feed)
        fresh = fresh and ok
        t: int256 = 0
        if mp.expiry > block.timestamp:
            t = convert((mp.expiry - block.timestamp) * 10**18 // YEAR_S, int256)
        k: int256 = convert(self.markets[p.market].strike, int256)
        is_call: bool = (mw >> 9) & 1 == 1
        sg: int256 = convert(sigma, int256)
        p0: int256 = staticcall Pricer(self.pricer).black76(fi, k, t, sg, is_call)
        v0: int256 = p0
        if inverse:
            v0 = p0 * si // fi
        for v: uint256 in range(3):
            sv: int256 = sg
            if v == 0:
                sv = sg + sg * convert(mp.vol_up, int256) // IWAD
            elif v == 2:
                sv = sg * max(IWAD - convert(mp.vol_down, int256), IWAD // 100) // IWAD
            per: DynArray[int256, MAX_MOVES] = []
            for m: int256 in moves:
                fn: int256 = fi + fi * m // IWAD
                pn: int256 = staticcall Pricer(self.pricer).black76(fn, k, t, sv, is_call)
                if inverse:
                    pn = pn * (si + si * m // IWAD) // fn
                per.append(self._sfloor(p.size * (pn - v0)))
            pnl = self._pm_add(pnl, g, per, v)
    im: uint256 = 0
    worst_total: uint256 = 0
    for g: uint256 in range(MAX_UNDERLYINGS):
        if not used[g]:
            continue
        worst: int256 = 0
        for i: uint256 in range(len(self.pm_moves[g + 1]) * 3, bound=MAX_SCENARIOS):
            worst = max(worst, -pnl[g * MAX_SCENARIOS + i])
        w: uint256 = convert(worst, uint256)
        worst_total += w
        im += max(w, long_value[g])
    h.initial_margin = im
    h.maintenance_margin = self._mul_up(worst_total, self.pm_mm_factor)
    h.prices_fresh = fresh
    return h


@external
@view
def account_margin_pm(account: address) -> Health:
    """
    @notice The account's health under the PM mode: per underlying, the worst loss over its grid of price
            moves x (vol up, unchanged, down), with options repriced by Black-76 on chain; initial margin
            = sum over underlyings of max(worst loss, long options' value), maintenance = mm_factor x the
            worst losses. Equity and margin balance as in `account_margin`.
    """
    return self._health_pm(account)


@internal
@view
def _require_im_covered(account: address):
    h: Health = empty(Health)
    if self.pm_gate:
        h = self._health_pm(account)
    else:
        h = self._health(account)
    assert h.prices_fresh, "vault: oracle not fresh, new risk paused"
    assert h.margin_balance >= convert(h.initial_margin, int256), "vault: initial margin not covered"


# ------------------------------------------------------------------------------------------------
# collateral
# ------------------------------------------------------------------------------------------------

@external
@nonreentrant
def deposit(index: uint256, amount: uint256):
    """
    @notice Deposit `amount` (wad) of collateral `index` from the caller (who approved the vault).
    """
    assert index < self.n_collaterals, "vault: no such collateral"
    assert amount > 0, "vault: amount must be > 0"
    token: address = self.collaterals[index].token
    self.balances[msg.sender][index] += amount
    assert extcall IERC20(token).transferFrom(msg.sender, self, amount, default_return_value=True), "vault: transfer failed"
    log Deposit(account=msg.sender, token=token, amount=amount)


@external
@nonreentrant
def withdraw(index: uint256, amount: uint256):
    """
    @notice Withdraw `amount` (wad) of collateral `index`; refused unless initial margin stays covered
            at fresh prices.
    """
    assert index < self.n_collaterals, "vault: no such collateral"
    assert self.balances[msg.sender][index] >= amount, "vault: balance too low"
    self.balances[msg.sender][index] -= amount
    self._require_im_covered(msg.sender)
    token: address = self.collaterals[index].token
    assert extcall IERC20(token).transfer(msg.sender, amount, default_return_value=True), "vault: transfer failed"
    log Withdraw(account=msg.sender, token=token, amount=amount)


# ------------------------------------------------------------------------------------------------
# positions
# ------------------------------------------------------------------------------------------------

@internal
def _set_position(account: address, market_id: uint256, size: int256, entry: uint256):
    slot: uint256 = self.position_slot[account][market_id]
    if slot == 0:
        if size == 0:
            return
        assert len(self.positions[account]) < MAX_POSITIONS, "vault: too many positions"
        self.positions[account].append(Position(market=market_id, size=size, entry=entry))
        self.position_slot[account][market_id] = len(self.positions[account])
        return
    if size != 0:
        self.positions[account][slot - 1] = Position(market=market_id, size=size, entry=entry)
        return
    last: Position = self.positions[account].pop()
    if last.market != market_id:
        self.positions[account][slot - 1] = last
        self.position_slot[account][last.market] = slot
    self.position_slot[account][market_id] = 0


@external
def import_position(account: address, market_id: uint256, size: int256, entry: uint256):
    """
    @notice Migration of a book kept elsewhere: set `account`'s position as is (no margin check).
            Migrator role, and only until `seal()`.
    """
    self._only(ROLE_MIGRATOR)
    assert not self.sealed, "vault: sealed, imports closed"
    assert market_id < self.n_markets, "vault: no such market"
    m: Market = self.markets[market_id]
    e: uint256 = entry
    if m.kind == KIND_OPTION:
        e = 0
    self._set_position(account, market_id, size, e)
    self.funding_snap[account][market_id] = self.funding_index[market_id]
    log PositionImported(account=account, market_id=market_id, size=size, entry=e)


@external
def import_collateral(account: address, index: uint256, amount: uint256):
    """
    @notice Migration: credit `amount` of collateral `index` to `account`, paid by the caller's tokens.
            Migrator role, and only until `seal()`.
    """
    self._only(ROLE_MIGRATOR)
    assert not self.sealed, "vault: sealed, imports closed"
    assert index < self.n_collaterals, "vault: no such collateral"
    token: address = self.collaterals[index].token
    self.balances[account][index] += amount
    assert extcall IERC20(token).transferFrom(msg.sender, self, amount, default_return_value=True), "vault: transfer failed"
    log Deposit(account=account, token=token, amount=amount)


@external
@nonreentrant
def trade(market_id: uint256, size_delta: int256):
    """
    @notice Trade `size_delta` (wad coin, signed) of a market with the vault at the oracle's price:
            futures at the mark F, options at their mark value V (premium paid from cash).
            A trade that does not only reduce a position needs the initial margin covered after it;
            every trade needs fresh prices.
    """
    assert market_id < self.n_markets, "vault: no such market"
    assert size_delta != 0, "vault: size_delta must be non-zero"
    m: Market = self.markets[market_id]
    assert m.active, "vault: market inactive"
    assert self.expiry[market_id] == 0 or block.timestamp < self.expiry[market_id], "vault: market expired"
    slot: uint256 = self.position_slot[msg.sender][market_id]
    old: Position = Position(market=market_id, size=0, entry=0)
    if slot != 0:
        old = self.positions[msg.sender][slot - 1]
    if m.kind == KIND_PERPETUAL:
        self._accrue(msg.sender, market_id, old.size)
    new_size: int256 = old.size + size_delta
    reducing: bool = old.size != 0 and (old.size > 0) != (size_delta > 0) and self._abs(size_delta) <= self._abs(old.size)
    ok: bool = False
    price: uint256 = 0
    realised: int256 = 0
    entry: uint256 = old.entry
    d: uint256 = self._abs(size_delta)
    if m.kind == KIND_OPTION:
        price, ok = self._price(m.value_feed)
        # buying pays the premium rounded up, selling receives it rounded down
        realised = self._signed_floor(self._mul_down(d, price), self._mul_up(d, price), size_delta > 0)
        entry = 0
    else:
        price, ok = self._price(m.mark_feed)
        s: uint256 = price
        if m.inverse:
            fresh: bool = ok
            s, ok = self._price(m.settle_feed)
            ok = ok and fresh
        if old.size == 0 or (old.size > 0) == (size_delta > 0):
            # adding: entry is the size-weighted average, rounded against the holder
            total: uint256 = self._abs(new_size)
            num: uint256 = self._abs(old.size) * old.entry + d * price
            if new_size > 0:
                entry = (num + total - 1) // total
            else:
                entry = num // total
        else:
            closed: uint256 = min(d, self._abs(old.size))
            diff: uint256 = 0
            loss: bool = False
            if price >= old.entry:
                diff = price - old.entry
                loss = old.size < 0
            else:
                diff = old.entry - price
                loss = old.size > 0
            if m.inverse:
                realised = self._signed_floor(
                    closed * diff // WAD * s // price, self._mul_div_up(self._mul_up(closed, diff), s, price), loss
                )
            else:
                realised = self._signed_floor(self._mul_down(closed, diff), self._mul_up(closed, diff), loss)
            if new_size == 0:
                entry = 0
            elif (new_size > 0) != (old.size > 0):
                entry = price
    assert ok, "vault: oracle not fresh, new risk paused"  # every price the trade read
    self.cash[msg.sender] += realised
    self._set_position(msg.sender, market_id, new_size, entry)
    if not reducing:
        self._require_im_covered(msg.sender)
    log Trade(account=msg.sender, market_id=market_id, size_delta=size_delta, price=price, realised=realised)


@external
@view
def position_count(account: address) -> uint256:
    """
    @notice How many positions `account` holds.
    """
    return len(self.positions[account])


@external
@view
def position(account: address, i: uint256) -> Position:
    """
    @notice The `i`-th position of `account`.
    """
    return self.positions[account][i]


@external
def liquidation(account: address, cash_delta: int256, close: bool, index: uint256, src: address, dst: address, amount: uint256):
    """
    @notice The liquidator role's one hook (AuctionHouse.vy decides, this books it): add `cash_delta` USD to
            `account`, close all of its positions if `close` (their value in equity is the caller's
            `cash_delta`), and move `amount` of collateral `index` from `src`'s balance to `dst`'s.
    """
    self._only(ROLE_LIQUIDATOR)
    if close:
        for j: uint256 in range(len(self.positions[account]), bound=MAX_POSITIONS):
            self.position_slot[account][self.positions[account][j].market] = 0
        self.positions[account] = []
    self.cash[account] += cash_delta
    self.balances[src][index] -= amount
    self.balances[dst][index] += amount
    log Liquidation(account=account, cash_delta=cash_delta, closed=close, index=index, src=src, dst=dst, amount=amount)


# ------------------------------------------------------------------------------------------------
# funding (perpetuals) and settlement (futures and options at expiry)
# ------------------------------------------------------------------------------------------------

@internal
@pure
def _floor_div(a: int256, d: int256) -> int256:
    """
    @dev a / d (d > 0) rounded towards minus infinity: a gain down, a loss's magnitude up.
    """
    q: int256 = a // d
    if a < 0 and q * d != a:
        q -= 1
    return q


@internal
@view
def _funding_due(account: address, market_id: uint256, size: int256) -> int256:
    """
    @dev What the account receives (< 0: pays) for funding since its snapshot: -size x (index - snap),
         the index in 36 decimals, rounded towards minus infinity.
    """
    d: int256 = self.funding_index[market_id] - self.funding_snap[account][market_id]
    return self._floor_div(-size * d, IWAD * IWAD)


@internal
def _accrue(account: address, market_id: uint256, size: int256):
    i: int256 = self.funding_index[market_id]
    owed: int256 = self._funding_due(account, market_id, size)
    self.funding_snap[account][market_id] = i
    if owed != 0:
        self.cash[account] += owed
        log FundingSettled(account=account, market_id=market_id, amount=owed, index=i)


@internal
@view
def _payoff(p: Position, mw: uint256) -> int256:
    """
    @dev A position's value at its settlement price P, USD, rounded towards minus infinity: a future
         N (P - E) (inverse too: its coin P&L N (1 - E/P) is worth N (P - E) at P), an option N x intrinsic.
    """
    px: int256 = convert(self.settle_price[p.market], int256)
    unit: int256 = px - convert(p.entry, int256)
    if mw & 255 == convert(KIND_OPTION, uint256):
        unit = convert(self.markets[p.market].strike, int256) - px  # a put: K - P
        if (mw >> 9) & 1 == 1:
            unit = -unit
        unit = max(unit, 0)
    return self._floor_div(p.size * unit, IWAD)


@external
def update_funding(market_id: uint256, rate: int256):
    """
    @notice Funder role: add the funding of a perpetual for the time since its last update, `rate` (wad,
            > 0: longs pay) x the oracle price (linear: the mark F; inverse: the index S) to its cumulative
            index. |rate| may not exceed clamp x (im_rate - mm_rate) per 8 hours elapsed (dYdX v4).
    """
    self._only(ROLE_FUNDER)
    mw: uint256 = self.market_word[market_id]
    assert market_id < self.n_markets and mw & 255 == 0, "vault: not a perpetual"
    dt: uint256 = block.timestamp - self.funding_time[market_id]
    spread: uint256 = ((mw >> 112) & MASK64) - ((mw >> 176) & MASK64)
    assert self._abs(rate) * FUNDING_PERIOD_S * WAD <= FUNDING_CLAMP * spread * dt, "vault: funding rate above clamp"
    feed: uint256 = (mw >> 16) & MASK32
    if (mw >> 8) & 1 == 1:
        feed = (mw >> 80) & MASK32
    px: uint256 = 0
    ok: bool = False
    px, ok = self._price(feed)
    assert ok, "vault: oracle not fresh, new risk paused"
    i: int256 = self.funding_index[market_id] + rate * convert(px, int256)
    self.funding_index[market_id] = i
    self.funding_time[market_id] = block.timestamp
    log FundingUpdated(market_id=market_id, rate=rate, price=px, index=i)


@external
def settle_funding(account: address, market_id: uint256):
    """
    @notice Anyone: book `account`'s funding on a perpetual into its cash (trades do it on their own).
    """
    slot: uint256 = self.position_slot[account][market_id]
    size: int256 = 0
    if slot != 0:
        size = self.positions[account][slot - 1].size
    self._accrue(account, market_id, size)


@external
def set_expiry(market_id: uint256, expiry: uint256):
    """
    @notice A future's or option's expiry (Unix time): no trade from then on; it settles at the first
            accepted mark price at or after it. Risk role, until the settlement price is fixed.
    """
    self._only(ROLE_RISK)
    assert market_id < self.n_markets and self.market_word[market_id] & 255 != 0, "vault: not a future or option"
    assert self.settle_price[market_id] == 0, "vault: settlement fixed"
    self.expiry[market_id] = expiry
    log ExpirySet(market_id=market_id, expiry=expiry)


@external
def fix_settlement(market_id: uint256):
    """
    @notice Anyone, once: fix an expired market's settlement price, the mark feed's accepted price, fresh
            and from a round at or after expiry. Its positions then count at their payoff, without margin.
    """
    e: uint256 = self.expiry[market_id]
    assert e != 0 and block.timestamp >= e, "vault: not expired"
    assert self.settle_price[market_id] == 0, "vault: settlement fixed"
    mw: uint256 = self.market_word[market_id]
    feed: uint256 = (mw >> 16) & MASK32
    px: uint256 = 0
    ok: bool = False
    px, ok = self._price(feed)
    at: uint256 = self.feeds[feed].updated_at
    assert ok and at >= e, "vault: no fresh price at or after expiry"
    self.settle_price[market_id] = px
    self.market_word[market_id] = mw | SETTLED_BIT
    log SettlementFixed(market_id=market_id, price=px, updated_at=at)


@external
def settle(account: address, market_id: uint256):
    """
    @notice Anyone: close `account`'s position in a market whose settlement price is fixed, its payoff
            (futures: N (P - E); options: N x intrinsic, USD) into the account's cash.
    """
    px: uint256 = self.settle_price[market_id]
    assert px != 0, "vault: settlement not fixed"
    slot: uint256 = self.position_slot[account][market_id]
    assert slot != 0, "vault: no position"
    p: Position = self.positions[account][slot - 1]
    v: int256 = self._payoff(p, self.market_word[market_id])
    self.cash[account] += v
    self._set_position(account, market_id, 0, 0)
    log Settled(account=account, market_id=market_id, size=p.size, price=px, amount=v)
