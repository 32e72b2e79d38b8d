# pragma version ~=0.4.3
"""
@title ReentrantAttackerMock
@notice An account that deposits a hooked token into the vault and, from the token's callback, tries to
        withdraw the same amount before the deposit has pulled its tokens. Test use only.
@dev Functions: attack, on_token_transfer.
"""

interface Vault:
    def deposit(index: uint256, amount: uint256): nonpayable
    def withdraw(index: uint256, amount: uint256): nonpayable

interface HookToken:
    def approve(spender: address, amount: uint256) -> bool: nonpayable
    def set_hooked(who: address, on: bool): nonpayable

vault: public(address)
token: public(address)
index: public(uint256)
amount: public(uint256)
reentered: public(bool)


@deploy
def __init__(_vault: address, _token: address, _index: uint256):
    self.vault = _vault
    self.token = _token
    self.index = _index


@external
def attack(amount: uint256):
    """
    @notice Deposit `amount`; the token's callback then tries `withdraw(amount)` inside the deposit.
    """
    self.amount = amount
    extcall HookToken(self.token).approve(self.vault, amount)
    extcall HookToken(self.token).set_hooked(self, True)
    extcall Vault(self.vault).deposit(self.index, amount)


@external
def on_token_transfer():
    assert msg.sender == self.token, "attacker: not the token"
    if not self.reentered:
        self.reentered = True
        extcall Vault(self.vault).withdraw(self.index, self.amount)
