# pragma version ~=0.4.3
"""
@title HookTokenMock
@notice An 18-decimal ERC-20 that calls the sender back before every transferFrom (like an ERC-777
        `tokensToSend` hook): the vehicle of the vault's reentrancy test. Test use only.
@dev Functions: mint, approve, transfer, transferFrom.
"""

interface Hook:
    def on_token_transfer(): nonpayable

balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
decimals: public(uint8)
hooked: public(HashMap[address, bool])


@deploy
def __init__():
    self.decimals = 18


@external
def mint(receiver: address, amount: uint256):
    self.balanceOf[receiver] += amount


@external
def set_hooked(who: address, on: bool):
    """
    @notice Ask to be called back (on_token_transfer) before tokens move out of `who`'s balance.
    """
    assert msg.sender == who, "hooktoken: only for oneself"
    self.hooked[who] = on


@external
def approve(spender: address, amount: uint256) -> bool:
    self.allowance[msg.sender][spender] = amount
    return True


@external
def transfer(receiver: address, amount: uint256) -> bool:
    assert self.balanceOf[msg.sender] >= amount, "hooktoken: balance too low"
    self.balanceOf[msg.sender] -= amount
    self.balanceOf[receiver] += amount
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    if self.hooked[sender]:
        extcall Hook(sender).on_token_transfer()
    assert self.allowance[sender][msg.sender] >= amount, "hooktoken: allowance too low"
    assert self.balanceOf[sender] >= amount, "hooktoken: balance too low"
    self.allowance[sender][msg.sender] -= amount
    self.balanceOf[sender] -= amount
    self.balanceOf[receiver] += amount
    return True
