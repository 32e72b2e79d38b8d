# pragma version ~=0.4.3
"""
@title AuctionHouse
@notice Liquidation of MarginVault accounts by Dutch auction, after MakerDAO's LIQ 2.0 (dss `clip.sol` and
        `abaci.sol`, HEAD fa4f6630): keepers `kick` an account below maintenance margin at fresh prices,
        `take` its collateral at the auction's falling price, `redo` a sale past `tail` or `cusp`; the
        penalty goes to the insurance fund; a debt left when an account has nothing more is bad debt,
        covered by the insurance fund and the remainder recorded as system debt or socialized.
@dev Functions: kick, take, redo, settle_bad_debt, status, price_at, fund_insurance, recapitalise;
     admin: grant_role, revoke_role; risk: set_params, set_curve, set_bad_debt_mode.
     The vault must grant this contract its liquidator role (8); every booking goes through the vault's one
     hook `liquidation`. Units: wad (18 decimals) for USD, coin and fractions, ray (27) for `cut`, seconds.
     The same curves and parameters as xmargin.liquidation (src/xmargin/liquidation/_auction.py), in fixed
     point; every rounding favours the vault (docs/chain.md): the start price and the curve's price round
     up, the coin a payment buys rounds down, the keeper's reward rounds down.
     A sale: lot = the account's whole balance of one collateral (held by this contract as a vault balance),
     tab = debt x chop, where debt = what the account owes (negative cash) once its positions are closed at
     the oracle. Proceeds repay the debt first (the account's cash), the rest (the penalty) goes to the
     insurance fund. Keepers pay in `stable` (an 18-decimal token taken at 1 USD).
"""

from ethereum.ercs import IERC20

WAD: constant(uint256) = 10**18
RAY: constant(uint256) = 10**27
MAX_TOKENS: constant(uint256) = 8

ROLE_ADMIN: constant(uint256) = 1
ROLE_RISK: constant(uint256) = 2

CURVE_LINEAR: constant(uint8) = 0       # abaci.sol LinearDecrease: top (tau - dur) / tau
CURVE_STAIRSTEP: constant(uint8) = 1    # StairstepExponentialDecrease: top cut^floor(dur / step)
CURVE_EXPONENTIAL: constant(uint8) = 2  # ExponentialDecrease: top cut^dur (whole seconds on chain)

BAD_DEBT_RECORD: constant(uint8) = 0     # the remainder is system debt (Maker: `sin` in the vow)
BAD_DEBT_SOCIALIZE: constant(uint8) = 1  # the remainder is a loss shared by the holders of the reserve


struct Health:
    equity: int256
    margin_balance: int256
    initial_margin: uint256
    maintenance_margin: uint256
    prices_fresh: bool


struct Collateral:
    token: address
    feed: uint256
    haircut: uint256


struct Feed:
    aggregator: address
    scale: uint256
    heartbeat: uint256
    max_deviation: uint256
    price: uint256
    updated_at: uint256
    pending: uint256
    pending_at: uint256
    status: uint8


interface Vault:
    def account_margin(account: address) -> Health: view
    def account_margin_pm(account: address) -> Health: view
    def pm_gate() -> bool: view
    def cash(account: address) -> int256: view
    def balances(account: address, index: uint256) -> uint256: view
    def collaterals(index: uint256) -> Collateral: view
    def feeds(feed_id: uint256) -> Feed: view
    def n_collaterals() -> uint256: view
    def position_count(account: address) -> uint256: view
    def liquidation(account: address, cash_delta: int256, close: bool, index: uint256, src: address, dst: address, amount: uint256): nonpayable


struct Sale:
    account: address
    index: uint256   # the collateral on sale
    tab: uint256     # wad USD still to raise (debt x chop at the kick)
    due: uint256     # wad USD of the debt itself still unpaid (tab - due: the penalty part)
    lot: uint256     # wad coin still for sale
    top: uint256     # wad USD per coin: start price of this round
    tic: uint256     # time of the kick or last redo


event RoleGranted:
    who: indexed(address)
    role: uint256

event RoleRevoked:
    who: indexed(address)
    role: uint256

event ParamsSet:
    buf: uint256
    tail: uint256
    cusp: uint256
    chip: uint256
    tip: uint256
    chost: uint256
    chop: uint256

event CurveSet:
    kind: uint8
    tau: uint256
    step: uint256
    cut: uint256

event BadDebtModeSet:
    mode: uint8

event Kick:
    id: indexed(uint256)
    account: indexed(address)
    index: uint256
    top: uint256
    tab: uint256
    lot: uint256
    debt: uint256
    keeper: indexed(address)
    reward: uint256
    paid: uint256

event Closed:
    account: indexed(address)
    cash_delta: int256

event Take:
    id: indexed(uint256)
    keeper: indexed(address)
    price: uint256
    bought: uint256
    paid: uint256
    repaid: uint256
    penalty: uint256
    tab: uint256
    lot: uint256

event Redo:
    id: indexed(uint256)
    top: uint256
    keeper: indexed(address)
    reward: uint256
    paid: uint256

event SaleDone:
    id: indexed(uint256)
    account: indexed(address)
    lot_returned: uint256
    debt_left: uint256

event BadDebt:
    account: indexed(address)
    amount: uint256
    from_insurance: uint256
    remainder: uint256
    mode: uint8

event InsuranceFunded:
    by: indexed(address)
    amount: uint256

event Recapitalised:
    by: indexed(address)
    amount: uint256


vault: public(address)
stable: public(address)
roles: public(HashMap[address, uint256])

buf: public(uint256)    # wad: top = oracle price x buf
tail: public(uint256)   # seconds before a sale needs a redo
cusp: public(uint256)   # wad: a price below cusp x top needs a redo
chip: public(uint256)   # wad: keeper reward as a fraction of tab
tip: public(uint256)    # wad USD: flat keeper reward
chost: public(uint256)  # wad USD: dust x chop (no partial take may leave less)
chop: public(uint256)   # wad >= 1: tab = debt x chop (Maker's liquidation penalty)
curve: public(uint8)
tau: public(uint256)    # seconds (linear)
step: public(uint256)   # seconds per step (stairstep; 1 for exponential)
cut: public(uint256)    # ray in (0, 1]: factor kept per step
bad_debt_mode: public(uint8)

sales: public(HashMap[uint256, Sale])
kicks: public(uint256)                    # sale ids run from 1
sale_of: public(HashMap[address, uint256])  # the running sale of an account (0: none)

insurance: public(uint256)        # wad stable: penalties and contributions, pays rewards and bad debt
reserve: public(uint256)          # wad stable: debts repaid (backs the vault's positive USD cash)
bad_debt: public(uint256)         # wad USD: every bad debt written off
system_debt: public(uint256)      # wad USD: bad debt beyond the insurance fund, recorded (mode 0)
socialized_loss: public(uint256)  # wad USD: bad debt beyond the insurance fund, socialized (mode 1)


@deploy
def __init__(_vault: address, _stable: address):
    self.vault = _vault
    self.stable = _stable
    self.roles[msg.sender] = ROLE_ADMIN | ROLE_RISK
    log RoleGranted(who=msg.sender, role=ROLE_ADMIN | ROLE_RISK)


# ------------------------------------------------------------------------------------------------
# fixed point
# ------------------------------------------------------------------------------------------------

@internal
@pure
def _mul_down(a: uint256, b: uint256, d: uint256) -> uint256:
    return a * b // d


@internal
@pure
def _mul_up(a: uint256, b: uint256, d: uint256) -> uint256:
    p: uint256 = a * b
    if p == 0:
        return 0
    return (p - 1) // d + 1


@internal
@pure
def _rpow_up(x: uint256, n: uint256) -> uint256:
    """
    @dev x^n in ray by squaring, each product rounded up (so the result is >= the exact power).
    """
    z: uint256 = RAY
    b: uint256 = x
    e: uint256 = n
    for i: uint256 in range(256):
        if e == 0:
            break
        if e & 1 == 1:
            z = self._mul_up(z, b, RAY)
        e = e >> 1
        if e != 0:
            b = self._mul_up(b, b, RAY)
    return z


# ------------------------------------------------------------------------------------------------
# roles and parameters
# ------------------------------------------------------------------------------------------------

@internal
@view
def _only(role: uint256):
    assert self.roles[msg.sender] & role != 0, "auction: missing role"


@external
def grant_role(who: address, role: uint256):
    """
    @notice Give `who` the roles in the bit mask `role` (1 admin, 2 risk). Admin only.
    """
    self._only(ROLE_ADMIN)
    self.roles[who] |= role
    log RoleGranted(who=who, role=role)


@external
def revoke_role(who: address, role: uint256):
    """
    @notice Take the roles in `role` from `who`. Admin only.
    """
    self._only(ROLE_ADMIN)
    self.roles[who] &= ~role
    log RoleRevoked(who=who, role=role)


@external
def set_params(buf: uint256, tail: uint256, cusp: uint256, chip: uint256, tip: uint256, chost: uint256, chop: uint256):
    """
    @notice Clipper's parameters (wad; `tail` in seconds) and the penalty `chop` (1 <= chop <= 2). Risk role.
    """
    self._only(ROLE_RISK)
    assert buf > 0, "auction: buf must be > 0"
    assert cusp <= WAD and chip <= WAD, "auction: cusp and chip in [0, 1]"
    assert chop >= WAD and chop <= 2 * WAD, "auction: chop in [1, 2]"
    self.buf = buf
    self.tail = tail
    self.cusp = cusp
    self.chip = chip
    self.tip = tip
    self.chost = chost
    self.chop = chop
    log ParamsSet(buf=buf, tail=tail, cusp=cusp, chip=chip, tip=tip, chost=chost, chop=chop)


@external
def set_curve(kind: uint8, tau: uint256, step: uint256, cut: uint256):
    """
    @notice The price curve: 0 linear over `tau` s; 1 stairstep, x `cut` (ray) every `step` s; 2 exponential,
            x `cut` every second (`step` is then 1). Risk role.
    """
    self._only(ROLE_RISK)
    assert kind <= CURVE_EXPONENTIAL, "auction: unknown curve"
    s: uint256 = step
    if kind == CURVE_LINEAR:
        assert tau > 0, "auction: tau must be > 0"
    else:
        assert cut > 0 and cut <= RAY, "auction: cut in (0, 1]"
        if kind == CURVE_EXPONENTIAL:
            s = 1
        assert s > 0, "auction: step must be > 0"
    self.curve = kind
    self.tau = tau
    self.step = s
    self.cut = cut
    log CurveSet(kind=kind, tau=tau, step=s, cut=cut)


@external
def set_bad_debt_mode(mode: uint8):
    """
    @notice What becomes of bad debt beyond the insurance fund: 0 recorded as system debt, 1 socialized. Risk role.
    """
    self._only(ROLE_RISK)
    assert mode <= BAD_DEBT_SOCIALIZE, "auction: unknown bad-debt mode"
    self.bad_debt_mode = mode
    log BadDebtModeSet(mode=mode)


# ------------------------------------------------------------------------------------------------
# price
# ------------------------------------------------------------------------------------------------

@internal
@view
def _curve_price(top: uint256, dur: uint256) -> uint256:
    """
    @dev The abacus: price `dur` seconds after the start at `top`, rounded up.
    """
    if self.curve == CURVE_LINEAR:
        if dur >= self.tau:
            return 0
        return self._mul_up(top, self.tau - dur, self.tau)
    return self._mul_up(top, self._rpow_up(self.cut, dur // self.step), RAY)


@internal
@view
def _status(s: Sale) -> (bool, uint256):
    dur: uint256 = block.timestamp - s.tic
    price: uint256 = self._curve_price(s.top, dur)
    running: bool = s.tab > 0 and s.lot > 0
    return running and (dur > self.tail or price * WAD < self.cusp * s.top), price


@external
@view
def status(id: uint256) -> (bool, uint256):
    """
    @notice Clipper's getStatus: whether sale `id` needs a redo, and its price now (wad USD per coin).
    """
    s: Sale = self.sales[id]
    assert s.top != 0, "auction: no such sale"
    return self._status(s)


@external
@view
def price_at(top: uint256, dur: uint256) -> uint256:
    """
    @notice The curve's price `dur` seconds after a start at `top` (wad), as a take would pay it.
    """
    return self._curve_price(top, dur)


@internal
@view
def _fresh_price(index: uint256) -> uint256:
    f: Feed = staticcall Vault(self.vault).feeds((staticcall Vault(self.vault).collaterals(index)).feed)
    assert f.status == 0 and block.timestamp <= f.updated_at + f.heartbeat, "auction: oracle not fresh"
    return f.price


# ------------------------------------------------------------------------------------------------
# pots
# ------------------------------------------------------------------------------------------------

@internal
def _reward(keeper: address, amount: uint256) -> uint256:
    """
    @dev Pay a keeper's incentive out of the insurance fund, as far as it goes.
    """
    paid: uint256 = min(amount, self.insurance)
    if paid > 0:
        self.insurance -= paid
        assert extcall IERC20(self.stable).transfer(keeper, paid, default_return_value=True), "auction: transfer failed"
    return paid


@external
@nonreentrant
def fund_insurance(amount: uint256):
    """
    @notice Add `amount` of the stable token to the insurance fund (anyone).
    """
    self.insurance += amount
    assert extcall IERC20(self.stable).transferFrom(msg.sender, self, amount, default_return_value=True), "auction: transfer failed"
    log InsuranceFunded(by=msg.sender, amount=amount)


@external
@nonreentrant
def recapitalise(amount: uint256):
    """
    @notice Pay down recorded system debt with the stable token, into the reserve (anyone).
    """
    pay: uint256 = min(amount, self.system_debt)
    self.system_debt -= pay
    self.reserve += pay
    assert extcall IERC20(self.stable).transferFrom(msg.sender, self, pay, default_return_value=True), "auction: transfer failed"
    log Recapitalised(by=msg.sender, amount=pay)


# ------------------------------------------------------------------------------------------------
# the auction (clip.sol)
# ------------------------------------------------------------------------------------------------

@external
@nonreentrant
def kick(account: address, index: uint256, keeper: address) -> uint256:
    """
    @notice Liquidate `account` (anyone may call): refused unless it is below maintenance margin at fresh
            prices (the vault's PM health when its `pm_gate` is set, else its cross health). Its positions are closed at the oracle; if it then owes USD, its whole balance of
            collateral `index` goes on sale for tab = debt x chop, starting at oracle x buf, and `keeper`
            gets tip + chip x tab from the insurance fund. Returns the sale id (0: positions closed, no debt).
    """
    assert self.sale_of[account] == 0, "auction: account already on sale"
    v: Vault = Vault(self.vault)
    h: Health = empty(Health)
    if staticcall v.pm_gate():
        h = staticcall v.account_margin_pm(account)
    else:
        h = staticcall v.account_margin(account)
    assert h.prices_fresh, "auction: oracle not fresh"
    assert h.margin_balance < convert(h.maintenance_margin, int256), "auction: account is healthy"
    n: uint256 = staticcall v.n_collaterals()
    assert index < n, "auction: no such collateral"
    # the positions' value = equity less the collateral's, each term rounded as the vault's health does
    cash: int256 = h.equity
    price: uint256 = 0
    for i: uint256 in range(n, bound=MAX_TOKENS):
        px: uint256 = (staticcall v.feeds((staticcall v.collaterals(i)).feed)).price
        cash -= convert(self._mul_down(staticcall v.balances(account, i), px, WAD), int256)
        if i == index:
            price = px
    delta: int256 = cash - staticcall v.cash(account)
    lot: uint256 = staticcall v.balances(account, index)
    if cash >= 0 or lot == 0:
        extcall v.liquidation(account, delta, True, index, account, account, 0)
        log Closed(account=account, cash_delta=delta)
        return 0
    extcall v.liquidation(account, delta, True, index, account, self, lot)
    debt: uint256 = convert(-cash, uint256)
    tab: uint256 = self._mul_up(debt, self.chop, WAD)
    top: uint256 = self._mul_up(price, self.buf, WAD)
    assert top > 0, "auction: zero top price"
    id: uint256 = self.kicks + 1
    self.kicks = id
    self.sales[id] = Sale(account=account, index=index, tab=tab, due=debt, lot=lot, top=top, tic=block.timestamp)
    self.sale_of[account] = id
    coin: uint256 = self.tip + self._mul_down(tab, self.chip, WAD)
    paid: uint256 = self._reward(keeper, coin)
    log Kick(id=id, account=account, index=index, top=top, tab=tab, lot=lot, debt=debt, keeper=keeper, reward=coin, paid=paid)
    return id


@external
@nonreentrant
def redo(id: uint256, keeper: address):
    """
    @notice Restart a sale past `tail` or below `cusp` at oracle x buf (fresh price); `keeper` gets
            tip + chip x tab if tab and lot x price are both >= chost.
    """
    s: Sale = self.sales[id]
    assert s.tab > 0 and s.lot > 0, "auction: not running"
    needs_redo: bool = False
    price: uint256 = 0
    needs_redo, price = self._status(s)
    assert needs_redo, "auction: cannot reset"
    feed: uint256 = self._fresh_price(s.index)
    top: uint256 = self._mul_up(feed, self.buf, WAD)
    assert top > 0, "auction: zero top price"
    self.sales[id].top = top
    self.sales[id].tic = block.timestamp
    coin: uint256 = 0
    if s.tab >= self.chost and self._mul_down(s.lot, feed, WAD) >= self.chost:
        coin = self.tip + self._mul_down(s.tab, self.chip, WAD)
    paid: uint256 = self._reward(keeper, coin)
    log Redo(id=id, top=top, keeper=keeper, reward=coin, paid=paid)


@external
@nonreentrant
def take(id: uint256, amt: uint256, max_price: uint256, who: address) -> (uint256, uint256):
    """
    @notice Buy up to `amt` coin of sale `id` at its current price if that is <= `max_price`, paying in the
            stable token; the coin is credited to `who`'s balance in the vault. Returns (coin bought, USD
            paid). Maker's rules: pay at most the tab; a partial take may not leave less than chost.
    """
    s: Sale = self.sales[id]
    assert s.tab > 0 and s.lot > 0, "auction: not running"
    assert amt > 0, "auction: amt must be > 0"
    needs_redo: bool = False
    price: uint256 = 0
    needs_redo, price = self._status(s)
    assert not needs_redo, "auction: needs redo"
    assert price > 0, "auction: price is 0"
    assert max_price >= price, "auction: too expensive"
    bought: uint256 = min(s.lot, amt)
    owe: uint256 = self._mul_up(bought, price, WAD)
    if owe > s.tab:
        owe = s.tab
        bought = min(self._mul_down(owe, WAD, price), s.lot)
    elif owe < s.tab and bought < s.lot and s.tab - owe < self.chost:
        assert s.tab > self.chost, "auction: no partial purchase"
        owe = s.tab - self.chost
        bought = min(self._mul_down(owe, WAD, price), s.lot)
    s.tab -= owe
    s.lot -= bought
    repaid: uint256 = min(owe, s.due)
    s.due -= repaid
    self.reserve += repaid
    self.insurance += owe - repaid
    assert extcall IERC20(self.stable).transferFrom(msg.sender, self, owe, default_return_value=True), "auction: transfer failed"
    v: Vault = Vault(self.vault)
    extcall v.liquidation(s.account, convert(repaid, int256), False, s.index, self, who, bought)
    log Take(id=id, keeper=who, price=price, bought=bought, paid=owe, repaid=repaid, penalty=owe - repaid, tab=s.tab, lot=s.lot)
    if s.tab == 0 or s.lot == 0:
        if s.lot > 0:  # the debt is covered: what is left goes back to the account
            extcall v.liquidation(s.account, 0, False, s.index, self, s.account, s.lot)
        self.sale_of[s.account] = 0
        log SaleDone(id=id, account=s.account, lot_returned=s.lot, debt_left=s.due)
        s.lot = 0
    self.sales[id] = s
    return bought, owe


@external
@nonreentrant
def settle_bad_debt(account: address):
    """
    @notice Write off the debt of an account left with no positions and no collateral (anyone): the
            insurance fund covers what it can; the remainder is recorded as system debt (mode 0) or
            socialized (mode 1).
    """
    v: Vault = Vault(self.vault)
    assert self.sale_of[account] == 0, "auction: account still on sale"
    assert staticcall v.position_count(account) == 0, "auction: account has positions"
    for i: uint256 in range(staticcall v.n_collaterals(), bound=MAX_TOKENS):
        assert staticcall v.balances(account, i) == 0, "auction: account has collateral"
    cash: int256 = staticcall v.cash(account)
    assert cash < 0, "auction: no debt"
    bad: uint256 = convert(-cash, uint256)
    extcall v.liquidation(account, cash * -1, False, 0, account, account, 0)
    covered: uint256 = min(bad, self.insurance)
    self.insurance -= covered
    self.reserve += covered
    rest: uint256 = bad - covered
    if self.bad_debt_mode == BAD_DEBT_RECORD:
        self.system_debt += rest
    else:
        self.socialized_loss += rest
    self.bad_debt += bad
    log BadDebt(account=account, amount=bad, from_insurance=covered, remainder=rest, mode=self.bad_debt_mode)
