# pragma version ~=0.4.3
"""
@title FeedMock
@notice A price feed answering Chainlink's AggregatorV3Interface `latestRoundData` and `decimals`,
        whose rounds are set by its owner (tests, the gas bench and `xmargin chain`).
@dev Functions: latestRoundData, decimals, set_round. Chainlink USD feeds answer with 8 decimals
     (docs.chain.link, "Data Feeds API Reference": latestRoundData returns roundId, answer, startedAt,
     updatedAt, answeredInRound).
"""

event RoundSet:
    round_id: uint80
    answer: int256
    updated_at: uint256

owner: public(address)
decimals: public(uint8)
round_id: uint80
answer: int256
updated_at: uint256


@deploy
def __init__(_decimals: uint8):
    """
    @param _decimals Decimals of the answers (8 for Chainlink's USD pairs).
    """
    self.owner = msg.sender
    self.decimals = _decimals


@external
def set_round(answer: int256, updated_at: uint256):
    """
    @notice Publish a new round: `answer` in the feed's decimals, `updated_at` a Unix time.
    """
    assert msg.sender == self.owner, "feed: not owner"
    self.round_id += 1
    self.answer = answer
    self.updated_at = updated_at
    log RoundSet(round_id=self.round_id, answer=answer, updated_at=updated_at)


@view
@external
def latestRoundData() -> (uint80, int256, uint256, uint256, uint80):
    """
    @return roundId, answer, startedAt, updatedAt, answeredInRound (Chainlink's order).
    """
    return self.round_id, self.answer, self.updated_at, self.updated_at, self.round_id
