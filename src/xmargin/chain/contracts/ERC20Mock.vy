# pragma version ~=0.4.3
"""
@title ERC20Mock
@notice A minimal ERC-20 token (18 decimals) for the vault's tests and gas bench: anyone may mint.
@dev Functions: transfer, transferFrom, approve, mint. Not for production: minting is open.
"""

from ethereum.ercs import IERC20

implements: IERC20

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256

name: public(String[32])
symbol: public(String[8])
decimals: public(uint8)
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])


@deploy
def __init__(_name: String[32], _symbol: String[8]):
    """
    @param _name The token's name.
    @param _symbol The token's symbol.
    """
    self.name = _name
    self.symbol = _symbol
    self.decimals = 18


@external
def mint(receiver: address, amount: uint256):
    """
    @notice Create `amount` tokens for `receiver` (test helper, open to anyone).
    """
    self.totalSupply += amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=empty(address), receiver=receiver, value=amount)


@external
def transfer(receiver: address, amount: uint256) -> bool:
    """
    @notice Move `amount` of the caller's tokens to `receiver`.
    """
    assert self.balanceOf[msg.sender] >= amount, "erc20: balance too low"
    self.balanceOf[msg.sender] -= amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=msg.sender, receiver=receiver, value=amount)
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    """
    @notice Move `amount` of `sender`'s tokens to `receiver` within the caller's allowance.
    """
    assert self.allowance[sender][msg.sender] >= amount, "erc20: allowance too low"
    assert self.balanceOf[sender] >= amount, "erc20: balance too low"
    self.allowance[sender][msg.sender] -= amount
    self.balanceOf[sender] -= amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=sender, receiver=receiver, value=amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    """
    @notice Let `spender` move up to `amount` of the caller's tokens.
    """
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True
